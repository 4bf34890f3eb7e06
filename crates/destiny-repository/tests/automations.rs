//! Robot automations on both backends: registered by the admin, by a robot with the Rust
//! client and with the Python SDK 0.17.6; queries checked at registration (an unsupported
//! clause is named); a chain of three robots: an import triggers a flagging robot, whose
//! flags trigger a prefilter (never the flagger itself, never twice while one is under
//! way), whose labels trigger a classifier; and queued matches surviving a restart.

mod common;

use destiny_sdk::models::{ExternalIdentifier, Reference, RobotAutomationIn};
use destiny_testkit::python::answer;
use destiny_testkit::{on_both_backends, on_change, DEADLINE};

use common::{lease_and_submit, sql, start, Backend, Options, Server};
use destiny_repository::server::Jobs;
use reqwest::Method;
use serde_json::{json, Map, Value};
use sqlx::Row;
use uuid::Uuid;

on_both_backends!(
    automations_are_registered_changed_and_listed,
    queries_are_checked_when_registered,
    an_import_and_robots_results_trigger_a_chain_of_three,
    a_queued_match_survives_a_restart,
);

const AUTOMATIONS: &str = "/v1/enhancement-requests/automations/";

/// The admin registers `body` as an automation: (status, answer).
async fn register(s: &Server, body: &Value) -> (u16, Value) {
    s.admin(Method::POST, AUTOMATIONS, Some(body.to_string()))
        .await
}

fn object(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

/// Any annotation of the changeset with `scheme` and `label` set to `value`.
fn flagged(scheme: &str, label: &str) -> Value {
    json!({"nested": {"path": "changeset.enhancements", "query": {"nested": {
        "path": "changeset.enhancements.content.annotations",
        "query": {"bool": {"must": [
            {"term": {"changeset.enhancements.content.annotations.scheme": scheme}},
            {"term": {"changeset.enhancements.content.annotations.label": label}},
            {"term": {"changeset.enhancements.content.annotations.value": true}}]}}}}}})
}

/// References with a DOI.
fn with_doi() -> Value {
    json!({"nested": {"path": "reference.identifiers",
        "query": {"term": {"reference.identifiers.identifier_type": "doi"}}}})
}

async fn automations_are_registered_changed_and_listed(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("flagger").await;
    let other = s.register("other").await;

    // The admin, for any robot.
    let body = json!({"robot_id": other.id, "query": with_doi()});
    let (status, created) = register(&s, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["query"], with_doi());
    let (status, again) = register(&s, &body).await;
    assert_eq!(status, 409, "the same query twice: {again}");

    // A robot, for itself (Rust client), and not for another.
    let own = RobotAutomationIn {
        robot_id: robot.id,
        query: object(flagged("classifier:flag", "include")),
    };
    let mine = client
        .create_robot_automation(&own)
        .await
        .expect("own automation");
    let theirs = RobotAutomationIn {
        robot_id: other.id,
        query: own.query.clone(),
    };
    let err = client.create_robot_automation(&theirs).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let changed = RobotAutomationIn {
        robot_id: robot.id,
        query: object(flagged("classifier:flag", "exclude")),
    };
    let updated = client
        .update_robot_automation(mine.id, &changed)
        .await
        .expect("update");
    assert_eq!((updated.id, &updated.query), (mine.id, &changed.query));

    // The Python SDK 0.17.6, for itself; a robot lists its own, the admin every one.
    let lines = s
        .python_0176(
            &robot,
            vec![
                json!({"op": "create_robot_automation",
                       "body": {"robot_id": robot.id, "query": {"match_all": {}}}}),
                json!({"op": "list_robot_automations"}),
                json!({"op": "update_robot_automation", "id": created["id"], "body": body}),
            ],
        )
        .await;
    assert_eq!(answer(&lines[0])["query"], json!({"match_all": {}}));
    let listed: Vec<Value> = answer(&lines[1]).as_array().expect("a list").clone();
    assert_eq!(listed.len(), 2, "the robot's own two: {listed:?}");
    assert_eq!(
        lines[2]["status"], 403,
        "another robot's automation: {}",
        lines[2]
    );
    let (status, all) = s.admin(Method::GET, AUTOMATIONS, None).await;
    assert_eq!(
        (status, all.as_array().map(Vec::len)),
        (200, Some(3)),
        "{all}"
    );

    let unknown = Uuid::new_v4();
    let (status, detail) = s
        .admin(
            Method::PUT,
            &format!("/v1/enhancement-requests/automations/{unknown}/"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, 404, "{detail}");
    let nobody = json!({"robot_id": unknown, "query": {"match_all": {}}});
    let (status, detail) = register(&s, &nobody).await;
    assert_eq!(
        (status, detail),
        (
            422,
            json!({"detail": format!("Robot with id {unknown} does not exist.")})
        )
    );
}

async fn queries_are_checked_when_registered(backend: Backend) {
    let s = start(backend).await;
    let robot = s.register("picky").await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"bool": {"must": [{"range": {"reference.visibility": {"gte": "a"}}}]}}),
            422,
            "Unsupported query at query.bool.must[0].range: the `range` clause is not supported here.",
        ),
        (json!({"invalid": {}}), 400, "DSL class `invalid` does not exist in query."),
        (
            json!({"term": {"reference.title": "x"}}),
            400,
            "No field mapping can be found for the field with name [reference.title]",
        ),
        (
            json!({"term": {"changeset.enhancements.content.annotations.value": "yes"}}),
            400,
            "as only [true] or [false] are allowed",
        ),
        (
            json!({"nested": {"path": "reference.visibility", "query": {"match_all": {}}}}),
            400,
            "failed to find nested object under path [reference.visibility]",
        ),
        (
            json!({"simple_query_string": {"query": "colour~1",
                   "fields": ["changeset.enhancements.content.annotations.label"]}}),
            422,
            "fuzziness",
        ),
        (json!({"term": {}}), 400, "no field is named"),
        (json!({}), 400, "this one is empty"),
    ];
    for (query, want, text) in cases {
        let body = json!({"robot_id": robot.id, "query": query});
        let (status, detail) = register(&s, &body).await;
        assert_eq!(status, want, "{query}: {detail}");
        let detail = detail["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(text), "{query}: {detail}");
    }
    let (_, all) = s.admin(Method::GET, AUTOMATIONS, None).await;
    assert_eq!(all, json!([]), "nothing refused is stored");
}

/// The requests made of `robot`: (source, reference ids), oldest first.
async fn requests_of(s: &Server, robot: Uuid) -> Vec<(String, Vec<Uuid>)> {
    let pool = s.db.pool().await;
    let rows = sql::rows(
        &pool,
        "SELECT source, reference_ids FROM enhancement_requests WHERE robot_id = $1 \
         ORDER BY created_at, id",
        &[&robot.to_string()],
    )
    .await;
    pool.close().await;
    rows.iter()
        .map(|r| {
            let ids: String = r.get(1);
            (r.get(0), serde_json::from_str(&ids).expect("ids"))
        })
        .collect()
}

/// Waits until `robot` has `n` requests; answers them.
async fn wait_requests(s: &Server, robot: Uuid, n: usize) -> Vec<(String, Vec<Uuid>)> {
    on_change(
        &format!("{n} requests of {robot}"),
        DEADLINE,
        s.state.changes.subscribe(),
        || async { requests_of(s, robot).await.len() >= n },
    )
    .await;
    requests_of(s, robot).await
}

/// A result line: a boolean annotation `scheme`/`include` of `reference`.
fn label_line(reference: Uuid, scheme: &str, value: bool, version: &str) -> String {
    json!({"reference_id": reference, "source": scheme, "visibility": "public",
        "robot_version": version, "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "boolean", "scheme": scheme, "label": "include",
             "value": value}]}})
    .to_string()
}

fn flag_line(reference: Uuid, value: bool, version: &str) -> String {
    label_line(reference, "classifier:flag", value, version)
}

async fn an_import_and_robots_results_trigger_a_chain_of_three(backend: Backend) {
    let s = start(backend).await;
    let (flagger, flagger_client) = s.robot("flagger").await;
    let (prefilter, prefilter_client) = s.robot("prefilter").await;
    let (auditor, _) = s.robot("auditor").await;
    let (classifier, _) = s.robot("classifier").await;
    let version_2 = json!({"nested": {"path": "changeset.enhancements",
        "query": {"term": {"changeset.enhancements.robot_version": "2.0"}}}});
    for (robot, query) in [
        (flagger.id, with_doi()),
        (prefilter.id, flagged("classifier:flag", "include")),
        (auditor.id, version_2),
        (classifier.id, flagged("prefilter:relevant", "include")),
    ] {
        // Registered one after the other: matches are requested in this order.
        s.clock.advance(std::time::Duration::from_secs(1));
        let body = json!({"robot_id": robot, "query": query});
        let (status, detail) = register(&s, &body).await;
        assert_eq!(status, 201, "{detail}");
    }

    // Three references, two with a DOI: the flagger is asked for those two.
    let doi = |n: u32| -> Reference {
        let mut r: Reference = destiny_sdk::models::from_json_value(json!({
            "id": Uuid::new_v4(),
            "identifiers": [{"identifier_type": "doi", "identifier": format!("10.1234/chain.{n}")}]
        }))
        .expect("a reference");
        if n == 3 {
            r.identifiers = Some(vec![serde_json::from_value::<ExternalIdentifier>(
                json!({"identifier_type": "open_alex", "identifier": "W42"}),
            )
            .expect("an identifier")]);
        }
        r
    };
    let ids = s.import(&[doi(1), doi(2), doi(3)]).await;
    let asked = wait_requests(&s, flagger.id, 1).await;
    assert_eq!(
        asked,
        vec![("ReferenceImport".to_owned(), ids[..2].to_vec())]
    );
    assert!(requests_of(&s, prefilter.id).await.is_empty());

    // The flagger flags the first, not the second: the prefilter is asked for the first;
    // the flagger's own automation (its references have a DOI) does not fire on its own
    // results.
    let batch = lease_and_submit(&s.http, &flagger_client, flagger.id, 10, |r| {
        flag_line(r, r == ids[0], "1.0")
    })
    .await;
    let chained = wait_requests(&s, prefilter.id, 1).await;
    assert_eq!(
        chained,
        vec![(format!("RobotEnhancementBatch:{}", batch.id), vec![ids[0]])]
    );
    assert_eq!(
        requests_of(&s, flagger.id).await.len(),
        1,
        "not triggered by itself"
    );

    // The first reference flagged again by version 2.0 (stored: not a duplicate): the
    // prefilter still has it under way, so no second request; the auditor, registered
    // after the prefilter, is asked for it (so the prefilter's turn has passed).
    s.request(flagger.id, &[ids[0]]).await;
    lease_and_submit(&s.http, &flagger_client, flagger.id, 10, |r| {
        flag_line(r, true, "2.0")
    })
    .await;
    let audited = wait_requests(&s, auditor.id, 1).await;
    assert_eq!(audited[0].1, vec![ids[0]]);
    assert_eq!(
        requests_of(&s, prefilter.id).await.len(),
        1,
        "one under way already"
    );

    // The prefilter finds the first relevant: the classifier, third in the chain, is asked.
    lease_and_submit(&s.http, &prefilter_client, prefilter.id, 10, |r| {
        label_line(r, "prefilter:relevant", true, "1.0")
    })
    .await;
    let classified = wait_requests(&s, classifier.id, 1).await;
    assert_eq!(classified[0].1, vec![ids[0]]);
}

/// Matches are queued with the import and made by the import worker: a server without
/// one leaves them queued, and the next server with one makes them.
async fn a_queued_match_survives_a_restart(backend: Backend) {
    let idle = Options {
        jobs: Jobs::NONE,
        ..Options::default()
    };
    let s = Server::start(backend, idle).await;
    let robot = s.register("flagger").await;
    let body = json!({"robot_id": robot.id, "query": with_doi()});
    let (status, detail) = register(&s, &body).await;
    assert_eq!(status, 201, "{detail}");
    let r: Reference = destiny_sdk::models::from_json_value(json!({"id": Uuid::new_v4(),
        "identifiers": [{"identifier_type": "doi", "identifier": "10.1234/restart"}]}))
    .expect("a reference");
    let ids = s.import(&[r]).await;
    let pool = s.db.pool().await;
    let queued: i64 = sql::scalar(&pool, "SELECT COUNT(*) FROM percolation_queue", &[]).await;
    pool.close().await;
    assert_eq!(queued, 1);
    assert!(
        requests_of(&s, robot.id).await.is_empty(),
        "no worker, no match yet"
    );

    let (db, dir, clock) = s.stop().await;
    let s = Server::start_on(db, dir, clock, Options::default()).await;
    s.state.import_wake.notify_one();
    let asked = wait_requests(&s, robot.id, 1).await;
    assert_eq!(asked, vec![("ReferenceImport".to_owned(), ids)]);
    // The request is made before the match leaves the queue: wait for the dequeue.
    let pool = s.db.pool().await;
    on_change(
        "the match dequeued",
        DEADLINE,
        s.state.changes.subscribe(),
        || async {
            let queued: i64 =
                sql::scalar(&pool, "SELECT COUNT(*) FROM percolation_queue", &[]).await;
            queued == 0
        },
    )
    .await;
    pool.close().await;
    assert_eq!(requests_of(&s, robot.id).await.len(), 1, "matched once");
}
