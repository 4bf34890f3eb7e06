//! Looking references up by identifier (`GET /v1/references/?identifier=`), on both
//! backends: lookups repeated or comma-separated, matched as written, each reference once;
//! the SDK's parse errors as 400s; the Python SDK 0.17.6's `OAuthClient.lookup` as the
//! client; references stored before the lookup table existed are found after migrating.

mod common;

use destiny_sdk::models::Reference;
use destiny_testkit::on_both_backends;
use destiny_testkit::python::answer;

use common::{ids_in, sql, start, Backend, Options, Server};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_backends!(
    references_are_found_by_their_identifiers,
    bad_lookups_are_refused_naming_the_problem,
    references_stored_before_the_migration_are_found,
);

fn reference(identifiers: Value) -> Reference {
    destiny_sdk::models::from_json_value(json!({"id": Uuid::new_v4(), "identifiers": identifiers}))
        .expect("a reference")
}

/// Four references: a DOI and a PubMed id; an ISBN and an OpenAlex id; a URL; none.
async fn shelf(s: &Server) -> Vec<Uuid> {
    s.import(&[
        reference(
            json!([{"identifier_type": "doi", "identifier": "10.1000/abc"},
                         {"identifier_type": "pm_id", "identifier": 123}]),
        ),
        reference(
            json!([{"identifier_type": "other", "other_identifier_name": "isbn",
                          "identifier": "978-1"},
                         {"identifier_type": "open_alex", "identifier": "W42"}]),
        ),
        reference(json!([{"identifier_type": "url", "identifier": "https://a.org/x"}])),
        reference(json!(null)),
    ])
    .await
}

async fn lookup(s: &Server, query: &str) -> (u16, Value) {
    s.admin(Method::GET, &format!("/v1/references/?{query}"), None)
        .await
}

async fn references_are_found_by_their_identifiers(backend: Backend) {
    let s = start(backend).await;
    let ids = shelf(&s).await;
    let unknown = Uuid::new_v4();
    let cases: Vec<(String, Vec<Uuid>)> = vec![
        ("identifier=doi:10.1000/abc".into(), vec![ids[0]]),
        (
            "identifier=pm_id:123,open_alex:W42".into(),
            vec![ids[0], ids[1]],
        ),
        (
            "identifier=other:isbn:978-1&identifier=other:issn:978-1".into(),
            vec![ids[1]],
        ),
        ("identifier=url:https://a.org/x".into(), vec![ids[2]]),
        (format!("identifier={}", ids[3]), vec![ids[3]]),
        (
            format!("identifier={},doi:10.1000/abc", ids[0]),
            vec![ids[0]],
        ),
        (format!("identifier={unknown}"), vec![]),
        ("identifier=doi:".into(), vec![]),
        ("identifier=pm_id:0123".into(), vec![]),
        (
            "identifier=open_alex:https://openalex.org/W42".into(),
            vec![],
        ),
        ("identifier=other:isbn:978-2".into(), vec![]),
    ];
    for (query, want) in cases {
        let (status, found) = lookup(&s, &query).await;
        assert_eq!(status, 200, "{query}: {found}");
        assert_eq!(ids_in(&found), want, "{query}");
    }
    let (_, found) = lookup(&s, "identifier=doi:10.1000/abc").await;
    assert_eq!(
        found[0]["identifiers"][1],
        json!({"identifier_type": "pm_id", "identifier": 123})
    );

    // The Python SDK 0.17.6's user client, with the admin's token.
    let robot = s.register("peer").await;
    let lines = s
        .python_0176(
            &robot,
            vec![json!({"op": "lookup", "token": s.token,
                "identifiers": ["open_alex:W42", ids[2].to_string(), "pm_id:123"]})],
        )
        .await;
    let read = answer(&lines[0]);
    assert_eq!(ids_in(&read), vec![ids[1], ids[2], ids[0]], "{read}");
    let anonymous = s
        .http
        .get(format!(
            "{}/v1/references/?identifier=doi:10.1000/abc",
            s.base
        ))
        .send()
        .await
        .expect("an answer");
    assert_eq!(anonymous.status(), 401, "the admin's route");
}

async fn bad_lookups_are_refused_naming_the_problem(backend: Backend) {
    let s = start(backend).await;
    let many = (0..101)
        .map(|i| format!("pm_id:{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let cases: Vec<(String, u16, &str)> = vec![
        ("identifier=W42".into(), 400,
         "Invalid identifier lookup string: W42. Must be UUID if no identifier type is specified."),
        ("identifier=doi:10.1000/abc,isbn:1".into(), 400,
         "Invalid identifier lookup string: isbn:1. Unknown identifier type: isbn."),
        ("identifier=DOI:10.1000/abc".into(), 400,
         "Invalid identifier lookup string: DOI:10.1000/abc. Unknown identifier type: DOI."),
        ("identifier=other:isbn".into(), 400,
         "Invalid identifier lookup string: other:isbn. Other identifier type must include other identifier name."),
        ("".into(), 422, "Field required"),
        (format!("identifier={many}"), 422,
         "List should have at most 100 items after validation, not 101"),
    ];
    for (query, want_status, want) in cases {
        let (status, body) = lookup(&s, &query).await;
        assert_eq!(status, want_status, "{query}: {body}");
        let text = match &body["detail"] {
            Value::String(t) => t.clone(),
            detail => detail[0]["msg"].as_str().unwrap_or_default().to_owned(),
        };
        assert_eq!(text, want, "{query}: {body}");
    }
}

async fn references_stored_before_the_migration_are_found(backend: Backend) {
    let s = start(backend).await;
    let ids = shelf(&s).await;
    // Back to the schema before the lookup table, with the references in place.
    let pool = s.db.pool().await;
    for statement in [
        "DROP TABLE reference_identifiers",
        "DELETE FROM _sqlx_migrations WHERE version = 8",
    ] {
        sql::rows(&pool, statement, &[]).await;
    }
    pool.close().await;
    let (db, dir, clock) = s.stop().await;
    let s = Server::start_on(db, dir, clock, Options::default()).await;
    let (status, found) = lookup(
        &s,
        "identifier=pm_id:123,other:isbn:978-1,url:https://a.org/x",
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(ids_in(&found), vec![ids[0], ids[1], ids[2]]);
}
