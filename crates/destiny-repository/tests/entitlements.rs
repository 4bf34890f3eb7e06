//! Robot entitlements (SDK 0.17.6 `RobotEntitlement`), on both backends: granted, kept and
//! revoked through the admin API; enforced on results (`raw_enhancement_writer`,
//! `enhancement_supersession_writer`, read when the result is imported) and on reference
//! files (`full_text`, read when the batch is leased); supersession chains read as their
//! heads.

mod common;

use destiny_testkit::on_both_backends;

use common::{lease_and_submit, poll_batch, put_result, start, submit, Backend, Server};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_backends!(
    entitlements_are_granted_kept_and_revoked,
    raw_results_need_raw_enhancement_writer,
    full_texts_are_redacted_without_full_text,
    supersession_needs_its_entitlement_and_a_chain_head,
);

const ABSTRACT: &str = "abstract";

fn abstract_content(text: &str) -> Value {
    json!({"enhancement_type": "abstract", "process": "other", "abstract": text})
}

/// A result line: `content` for `reference`, superseding `supersedes` when given.
fn result_line(reference: Uuid, content: Value, supersedes: Option<&str>) -> String {
    let mut line = json!({
        "reference_id": reference, "source": "entitled-robot", "visibility": "public",
        "content": content,
    });
    if let Some(target) = supersedes {
        line["supersedes"] = target.into();
    }
    line.to_string()
}

/// Imports one reference carrying `enhancements` (contents) and answers its id.
async fn import_with(s: &Server, enhancements: &[Value]) -> Uuid {
    let enhancements: Vec<Value> = enhancements
        .iter()
        .map(|content| json!({"source": "import", "visibility": "public", "content": content}))
        .collect();
    let line = json!({"visibility": "public", "enhancements": enhancements}).to_string();
    let (status, ids) = s.admin(Method::POST, "/v1/references/", Some(line)).await;
    assert_eq!(status, 201, "{ids}");
    ids[0].as_str().unwrap().parse().unwrap()
}

/// The enhancements a reference is read with.
async fn enhancements(s: &Server, reference: Uuid) -> Vec<Value> {
    s.reference(reference).await["enhancements"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Requests `reference` for `robot`, leases it, returns `line` for it and waits for the
/// import; answers the validation line's error (`None`: accepted).
async fn enhance_once(
    s: &Server,
    robot: &destiny_sdk::models::ProvisionedRobot,
    reference: Uuid,
    line: String,
) -> Option<String> {
    let request = s.request(robot.id, &[reference]).await;
    let batch = lease_and_submit(
        &reqwest::Client::new(),
        &s.client(robot),
        robot.id,
        10,
        |_| line.clone(),
    )
    .await;
    common::wait_for("the import", common::DEADLINE, || async {
        let status = s.request_status(request).await;
        matches!(status.as_str(), "completed" | "failed" | "partial_failed").then_some(())
    })
    .await;
    let validation = s.batch_validation(batch.id).await;
    assert_eq!(validation.len(), 1, "{validation:?}");
    assert_eq!(validation[0]["reference_id"], json!(reference));
    validation[0]["error"].as_str().map(str::to_owned)
}

async fn entitlements_are_granted_kept_and_revoked(backend: Backend) {
    let s = start(backend).await;
    let robot = s
        .register_entitled("granted", &["raw_enhancement_writer", "full_text"])
        .await;
    let declared_order = json!(["full_text", "raw_enhancement_writer"]);
    let path = format!("/v1/robots/{}/", robot.id);
    async fn read(s: &Server, path: &str) -> Value {
        let (status, body) = s.admin(Method::GET, path, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }
    assert_eq!(read(&s, &path).await["entitlements"], declared_order);
    let (_, list) = s.admin(Method::GET, "/v1/robots/", None).await;
    assert_eq!(list[0]["entitlements"], declared_order, "{list}");

    // Renames the robot, with `entitlements` in the body when given.
    let put = |entitlements: Option<Value>| {
        let mut body = json!({"name": "renamed", "description": "d", "owner": "o"});
        if let Some(e) = entitlements {
            body["entitlements"] = e;
        }
        s.admin(Method::PUT, &path, Some(body.to_string()))
    };
    // A body without the field (an SDK 0.7.4 client's) keeps them.
    let (status, kept) = put(None).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(
        (&kept["name"], &kept["entitlements"]),
        (&json!("renamed"), &declared_order)
    );
    // A list replaces them.
    let (_, replaced) = put(Some(json!(["enhancement_supersession_writer"]))).await;
    assert_eq!(
        replaced["entitlements"],
        json!(["enhancement_supersession_writer"])
    );
    assert_eq!(
        read(&s, &path).await["entitlements"],
        replaced["entitlements"]
    );
    // An empty list revokes them all; the robot is then written without the field.
    let (_, revoked) = put(Some(json!([]))).await;
    assert!(revoked.get("entitlements").is_none(), "{revoked}");
    assert!(read(&s, &path).await.get("entitlements").is_none());
    // A new secret keeps them.
    let (_, regranted) = put(Some(json!(["full_text"]))).await;
    assert_eq!(regranted["entitlements"], json!(["full_text"]));
    let (status, cycled) = s.admin(Method::POST, &format!("{path}secret/"), None).await;
    assert_eq!(status, 201, "{cycled}");
    assert_eq!(cycled["entitlements"], json!(["full_text"]));
    // An unknown entitlement is the model's refusal, at the item's path.
    let (status, answer) = s
        .admin(
            Method::POST,
            "/v1/robots/",
            Some(
                json!({"name": "odd", "description": "d", "owner": "o", "entitlements": ["root"]})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["detail"][0]["loc"],
        json!(["body", "entitlements[0]"])
    );
}

async fn raw_results_need_raw_enhancement_writer(backend: Backend) {
    let s = start(backend).await;
    let raw = json!({"enhancement_type": "raw", "source_export_date": "2024-01-01T00:00:00Z",
        "description": "d", "metadata": {}, "data": {"x": 1}});
    let plain = s.register("plain").await;
    let writer = s
        .register_entitled("writer", &["raw_enhancement_writer"])
        .await;
    let reference = import_with(&s, &[]).await;
    let refused = enhance_once(
        &s,
        &plain,
        reference,
        result_line(reference, raw.clone(), None),
    );
    assert_eq!(
        refused.await.as_deref(),
        Some("Robot is not entitled to return raw enhancements.")
    );
    assert!(
        enhancements(&s, reference).await.is_empty(),
        "nothing stored"
    );
    let accepted = enhance_once(&s, &writer, reference, result_line(reference, raw, None)).await;
    assert_eq!(accepted, None);
    let stored = enhancements(&s, reference).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["content"]["enhancement_type"], "raw");

    // Entitlements are read when the result is imported: one revoked after the lease no
    // longer counts.
    let other = import_with(&s, &[]).await;
    let request = s.request(writer.id, &[other]).await;
    let batch = poll_batch(&s.client(&writer), writer.id, 10).await;
    let (status, _) = s
        .admin(
            Method::PUT,
            &format!("/v1/robots/{}/", writer.id),
            Some(
                json!({"name": "writer", "description": "d", "owner": "o", "entitlements": []})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 200);
    let line = result_line(
        other,
        json!({"enhancement_type": "raw", "source_export_date": "2024-01-01T00:00:00Z",
            "description": "d", "metadata": {}, "data": {"y": 2}}),
        None,
    );
    let put = put_result(
        &reqwest::Client::new(),
        batch.result_storage_url.as_str(),
        line,
    )
    .await;
    assert_eq!(put.status(), 201);
    submit(&s.client(&writer), batch.id, None).await.unwrap();
    s.wait_status(request, "failed").await;
    assert_eq!(
        s.batch_validation(batch.id).await[0]["error"],
        "Robot is not entitled to return raw enhancements."
    );
}

async fn full_texts_are_redacted_without_full_text(backend: Backend) {
    let s = start(backend).await;
    let full_text =
        json!({"enhancement_type": "full_text", "file_url": "https://example.org/paper.pdf"});
    let reference = import_with(&s, &[abstract_content("A."), full_text]).await;
    let reader = s.register_entitled("reader", &["full_text"]).await;
    let plain = s.register("plain").await;
    let types_in_file = |robot: destiny_sdk::models::ProvisionedRobot| {
        let s = &s;
        async move {
            s.request(robot.id, &[reference]).await;
            let batch = poll_batch(&s.client(&robot), robot.id, 10).await;
            let lines = s.json_lines(batch.reference_storage_url.as_str()).await;
            assert_eq!(lines.len(), 1);
            lines[0]["enhancements"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    e["content"]["enhancement_type"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<std::collections::BTreeSet<_>>()
        }
    };
    assert_eq!(types_in_file(plain).await, [ABSTRACT.to_owned()].into());
    assert_eq!(
        types_in_file(reader).await,
        [ABSTRACT.to_owned(), "full_text".to_owned()].into()
    );
    // The admin reads the whole reference.
    assert_eq!(enhancements(&s, reference).await.len(), 2);
}

async fn supersession_needs_its_entitlement_and_a_chain_head(backend: Backend) {
    let s = start(backend).await;
    let reference = import_with(&s, &[abstract_content("First.")]).await;
    let first = enhancements(&s, reference).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        enhancements(&s, reference).await[0]["created_at"].is_string(),
        "stored enhancements say when"
    );
    let plain = s.register("plain").await;
    let writer = s
        .register_entitled("writer", &["enhancement_supersession_writer"])
        .await;

    let line = |content: Value, target: &str| result_line(reference, content, Some(target));
    // The writer's result for `reference`: `content`, superseding `target`.
    let by_writer =
        |content: Value, target: &str| enhance_once(&s, &writer, reference, line(content, target));
    let refused = enhance_once(
        &s,
        &plain,
        reference,
        line(abstract_content("Second."), &first),
    );
    assert_eq!(
        refused.await.as_deref(),
        Some("Robot is not entitled to supersede enhancements.")
    );
    let accepted = by_writer(abstract_content("Second."), &first);
    assert_eq!(accepted.await, None);
    let heads = enhancements(&s, reference).await;
    assert_eq!(heads.len(), 1, "only the chain's head is read: {heads:?}");
    assert_eq!(heads[0]["content"]["abstract"], "Second.");
    assert_eq!(heads[0]["supersedes"], json!(first));
    let second = heads[0]["id"].as_str().unwrap().to_owned();

    // The superseded one is no longer the chain's head.
    let why = by_writer(abstract_content("Third."), &first).await.unwrap();
    assert_eq!(
        why,
        format!("Superseded enhancement {first} is not the latest in its chain: {second} supersedes it.")
    );
    // Another type cannot supersede it; nor can an enhancement of another reference.
    let annotation = serde_json::from_str::<Value>(&destiny_testkit::annotation(reference))
        .unwrap()["content"]
        .clone();
    let why = by_writer(annotation, &second).await.unwrap();
    assert!(
        why.ends_with(
            "is of type abstract; an enhancement of type annotation cannot supersede it."
        ),
        "{why}"
    );
    let elsewhere = import_with(&s, &[]).await;
    let why = enhance_once(
        &s,
        &writer,
        elsewhere,
        result_line(elsewhere, abstract_content("Stray."), Some(&second)),
    )
    .await
    .unwrap();
    assert_eq!(
        why,
        format!("Superseded enhancement {second} does not exist on this reference.")
    );

    // A tombstone withdraws the chain; only its type may supersede the tombstone.
    let tombstone = json!({"enhancement_type": "tombstone", "reason": "retracted"});
    let accepted = by_writer(tombstone, &second).await;
    assert_eq!(accepted, None);
    let heads = enhancements(&s, reference).await;
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0]["content"]["enhancement_type"], "tombstone");
    let grave = heads[0]["id"].as_str().unwrap().to_owned();
    let bibliographic = json!({"enhancement_type": "bibliographic", "title": "T"});
    let why = by_writer(bibliographic, &grave).await.unwrap();
    assert!(
        why.ends_with("only an enhancement of type abstract may supersede it."),
        "{why}"
    );
    let accepted = by_writer(abstract_content("Back."), &grave);
    assert_eq!(accepted.await, None);
    let heads = enhancements(&s, reference).await;
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0]["content"]["abstract"], "Back.");

    // An import cannot supersede (there is nothing stored to supersede).
    let line = json!({"enhancements": [{"source": "s", "visibility": "public",
        "supersedes": grave, "content": abstract_content("Imported.")}]});
    let (status, answer) = s
        .admin(Method::POST, "/v1/references/", Some(line.to_string()))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("enhancements[0].supersedes: an import cannot supersede"),
        "{answer}"
    );
}
