//! The RobotClient's enhancement-request, automation and search-request calls (the robot
//! routes of today's repository, SDK 0.17.6) against the in-process recording server:
//! method, path, query, exact body bytes, a signature that verifies, answers read, typed
//! errors, and which failures each call retries.

mod client_support;

use client_support::*;
use destiny_sdk::client::{ClientError, RobotClient};
use destiny_sdk::models::{
    EnhancementRequestIn, EnhancementRequestSearchStatus, EnhancementRequestStatus,
    RobotAutomationIn, SearchEnhancementRequestIn,
};
use serde_json::json;

fn request_in() -> EnhancementRequestIn {
    EnhancementRequestIn {
        robot_id: ROBOT_ID,
        reference_ids: REFERENCE_IDS.to_vec(),
        source: Some("cli".to_owned()),
    }
}

fn automation_in() -> RobotAutomationIn {
    let serde_json::Value::Object(query) = automation_query() else {
        unreachable!("the query is an object")
    };
    RobotAutomationIn {
        robot_id: ROBOT_ID,
        query,
    }
}

fn search_in(source: Option<&str>) -> SearchEnhancementRequestIn {
    SearchEnhancementRequestIn {
        robot_id: ROBOT_ID,
        search_query: "title:malaria AND année:2024".to_owned(),
        source: source.map(str::to_owned),
    }
}

/// A creation of [`request_in`] that must fail: its error.
async fn create_error(client: &RobotClient) -> ClientError {
    client
        .create_enhancement_request(&request_in())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn create_and_get_enhancement_requests() {
    let (server, client) = TestServer::with_client([
        Reply::json(202, enhancement_request_json()),
        Reply::json(200, enhancement_request_json()),
    ])
    .await;
    let created = client
        .create_enhancement_request(&request_in())
        .await
        .unwrap();
    assert_eq!(
        (
            created.id,
            created.request_status,
            created.reference_ids.len()
        ),
        (REQUEST_ID, EnhancementRequestStatus::Received, 2)
    );
    let again = client.get_enhancement_request(REQUEST_ID).await.unwrap();
    assert_eq!(again, created);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let (post, get) = (&reqs[0], &reqs[1]);
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/v1/enhancement-requests/")
    );
    assert_eq!(post.query, None);
    assert_eq!(
        std::str::from_utf8(&post.body).unwrap(),
        format!(
            r#"{{"robot_id":"{ROBOT_ID}","reference_ids":["{}","{}"],"source":"cli"}}"#,
            REFERENCE_IDS[0], REFERENCE_IDS[1]
        )
    );
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(
        (get.method.as_str(), get.path.clone()),
        ("GET", format!("/v1/enhancement-requests/{REQUEST_ID}/"))
    );
    assert!(get.body.is_empty());
    for r in &reqs {
        r.assert_signed(SECRET, ROBOT_ID);
    }
}

#[tokio::test]
async fn automations_are_created_updated_and_listed() {
    let answer = automation_json(automation_query());
    let (server, client) = TestServer::with_client([
        Reply::json(201, answer.clone()),
        Reply::json(201, answer.clone()),
        Reply::json(200, json!([answer.clone(), answer])),
    ])
    .await;
    let created = client
        .create_robot_automation(&automation_in())
        .await
        .unwrap();
    assert_eq!((created.id, created.robot_id), (AUTOMATION_ID, ROBOT_ID));
    assert_eq!(
        serde_json::Value::Object(created.query.clone()),
        automation_query()
    );
    let updated = client
        .update_robot_automation(AUTOMATION_ID, &automation_in())
        .await
        .unwrap();
    assert_eq!(updated, created);
    let all = client.list_robot_automations().await.unwrap();
    assert_eq!(all, [created.clone(), created]);

    let reqs = server.requests();
    let seen: Vec<_> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.clone(), r.query.clone()))
        .collect();
    let automations = "/v1/enhancement-requests/automations/";
    assert_eq!(
        seen,
        [
            ("POST", automations.to_owned(), None),
            ("PUT", format!("{automations}{AUTOMATION_ID}/"), None),
            ("GET", automations.to_owned(), None),
        ]
    );
    // The query goes out in its own key order, compact, non-ASCII as UTF-8.
    let body = format!(
        r#"{{"robot_id":"{ROBOT_ID}","query":{}}}"#,
        automation_query()
    );
    assert_eq!(std::str::from_utf8(&reqs[0].body).unwrap(), body);
    assert!(body.contains(r#""must":[{"term""#) && body.contains("à Dakar"));
    assert_eq!(reqs[1].body, reqs[0].body);
    assert!(reqs[2].body.is_empty());
    for r in &reqs {
        r.assert_signed(SECRET, ROBOT_ID);
    }
}

#[tokio::test]
async fn search_requests_dry_run_and_status() {
    let (server, client) = TestServer::with_client([
        Reply::json(200, json!({"count": 40, "is_lower_bound": false})),
        Reply::json(202, search_request_json()),
        Reply::json(200, search_request_json()),
    ])
    .await;
    let total = client
        .request_search_enhancement_dry_run(&search_in(None))
        .await
        .unwrap();
    assert_eq!((total.count, total.is_lower_bound), (40, false));
    let read = client
        .request_search_enhancement(&search_in(Some("cli")))
        .await
        .unwrap();
    assert_eq!(
        (
            read.id,
            read.search_status,
            read.n_matched,
            read.n_enhancements_requested
        ),
        (
            REQUEST_ID,
            EnhancementRequestSearchStatus::Searching,
            Some(40),
            25
        )
    );
    assert_eq!(read.enhancement_status_counts.get("completed"), Some(5));
    let status = client
        .get_search_enhancement_request(REQUEST_ID)
        .await
        .unwrap();
    assert_eq!(status, read);

    let reqs = server.requests();
    assert_eq!(reqs[0].query.as_deref(), Some("dry_run=true"));
    assert_eq!(reqs[1].query.as_deref(), Some("dry_run=false"));
    for r in &reqs[..2] {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/v1/enhancement-requests/search/")
        );
    }
    assert_eq!(
        std::str::from_utf8(&reqs[0].body).unwrap(),
        format!(
            r#"{{"robot_id":"{ROBOT_ID}","search_query":"title:malaria AND année:2024","source":null}}"#
        )
    );
    assert_eq!(
        std::str::from_utf8(&reqs[1].body).unwrap(),
        format!(
            r#"{{"robot_id":"{ROBOT_ID}","search_query":"title:malaria AND année:2024","source":"cli"}}"#
        )
    );
    assert_eq!(
        (
            reqs[2].method.as_str(),
            reqs[2].path.clone(),
            reqs[2].query.clone()
        ),
        (
            "GET",
            format!("/v1/enhancement-requests/search/{REQUEST_ID}/"),
            None
        )
    );
    for r in &reqs {
        r.assert_signed(SECRET, ROBOT_ID);
    }
}

#[tokio::test]
async fn refusals_are_typed_errors_and_bad_answers_decode_errors() {
    let (server, client) = TestServer::with_client([
        Reply::detail(404, "Robot with id x does not exist."),
        Reply::json(
            422,
            json!({"detail": [{"type": "value_error", "loc": ["body", "reference_ids"],
                               "msg": "Value error, reference_ids must not contain duplicate ids."}]}),
        ),
        Reply::detail(403, "Not entitled."),
        Reply::json(200, json!({"count": "many"})),
        Reply::json(200, json!([{"robot_id": ROBOT_ID, "query": [], "id": AUTOMATION_ID}])),
    ]).await;
    assert_refused(
        &create_error(&client).await,
        404,
        "Robot with id x does not exist.",
    );
    let err = create_error(&client).await;
    assert_eq!(err.status(), Some(422));
    assert!(
        err.detail()
            .unwrap()
            .contains("reference_ids must not contain duplicate ids."),
        "{err}"
    );
    let err = client
        .create_robot_automation(&automation_in())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Api { .. }) && err.status() == Some(403),
        "{err:?}"
    );
    let err = client
        .request_search_enhancement_dry_run(&search_in(None))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("count"), "{err}");
    let err = client.list_robot_automations().await.unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("[0].query"), "{err}");
    assert_eq!(
        server.requests().len(),
        5,
        "4xx and decode errors are not retried"
    );
}

#[tokio::test]
async fn reads_retry_5xx_and_creations_do_not() {
    // GETs, the PUT and the dry run retry a 5xx; the creating POSTs never repeat once sent.
    let (server, client) = TestServer::with_client([
        Reply::detail(502, "bad gateway"),
        Reply::json(200, enhancement_request_json()),
        Reply::detail(500, "boom"),
        Reply::json(201, automation_json(automation_query())),
        Reply::detail(503, "down"),
        Reply::json(200, json!({"count": 1})),
        Reply::detail(500, "boom"),
        Reply::detail(500, "boom"),
        Reply::detail(500, "boom"),
    ])
    .await;
    client.get_enhancement_request(REQUEST_ID).await.unwrap();
    client
        .update_robot_automation(AUTOMATION_ID, &automation_in())
        .await
        .unwrap();
    client
        .request_search_enhancement_dry_run(&search_in(None))
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 6);
    for create in 0..3 {
        let err = match create {
            0 => client
                .create_enhancement_request(&request_in())
                .await
                .map(drop),
            1 => client
                .create_robot_automation(&automation_in())
                .await
                .map(drop),
            _ => client
                .request_search_enhancement(&search_in(None))
                .await
                .map(drop),
        }
        .unwrap_err();
        assert_eq!(err.status(), Some(500), "{create}: {err}");
    }
    assert_eq!(
        server.requests().len(),
        9,
        "each creating call was sent once"
    );
}

#[tokio::test]
async fn a_hang_up_ends_a_creation_but_not_a_read() {
    let closed = closed_port_url().await;
    let client = destiny_sdk::client::RobotClient::builder(&closed, SECRET, ROBOT_ID)
        .retry_policy(fast_retries(2))
        .build()
        .unwrap();
    let err = create_error(&client).await;
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(err.is_unsent(), "nothing listens: {err:?}");

    // A server that read the request and hung up may have created it: no second try.
    let hangup = HangUpServer::start().await;
    let client = destiny_sdk::client::RobotClient::builder(&hangup.url(), SECRET, ROBOT_ID)
        .retry_policy(fast_retries(3))
        .build()
        .unwrap();
    assert!(client
        .request_search_enhancement(&search_in(None))
        .await
        .is_err());
    assert_eq!(hangup.accepted(), 1);
    assert!(client
        .get_search_enhancement_request(REQUEST_ID)
        .await
        .is_err());
    assert_eq!(hangup.accepted(), 4, "a GET is retried after a hang-up");
}

#[test]
fn the_blocking_client_makes_the_same_calls() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start([
        Reply::json(202, enhancement_request_json()),
        Reply::json(200, json!([])),
        Reply::json(200, json!({"count": 0})),
    ]));
    let client =
        destiny_sdk::client::blocking::RobotClient::from_builder(server.builder()).unwrap();
    assert_eq!(
        client.create_enhancement_request(&request_in()).unwrap().id,
        REQUEST_ID
    );
    assert!(client.list_robot_automations().unwrap().is_empty());
    assert_eq!(
        client
            .request_search_enhancement_dry_run(&search_in(None))
            .unwrap()
            .count,
        0
    );
    let reqs = server.requests();
    let seen: Vec<_> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/enhancement-requests/", None),
            ("GET", "/v1/enhancement-requests/automations/", None),
            (
                "POST",
                "/v1/enhancement-requests/search/",
                Some("dry_run=true")
            ),
        ]
    );
}
