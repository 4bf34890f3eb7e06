//! Differential wire test against the REAL Python destiny-sdk 0.17.6
//! (`crates/destiny-testkit/python/peer_client_0176.py`): the Python SDK and the Rust `RobotClient` make
//! the same enhancement-request, automation and search-request calls to the recording
//! server, which answers both the same way. Both must send the same method, path, query
//! and body bytes (each signed so that it verifies), and read the answers to the same
//! JSON (Python's `model_dump_json` against Rust's serialisation).
//!
//! SDK 0.17.6 sends the search requests through its `OAuthClient` (given its
//! `HMACSigningAuth` here); it has no method for the other calls, which the peer sends
//! through its `RobotClient` session with the SDK's input models dumped as the SDK's own
//! methods dump theirs.

mod client_support;

use client_support::*;
use destiny_sdk::client::{ClientError, RobotClient};
use destiny_sdk::models::{EnhancementRequestIn, RobotAutomationIn, SearchEnhancementRequestIn};
use destiny_testkit::python::{run_script_on, Peer};
use serde_json::{json, Value};

/// One call, made by both clients.
struct Call {
    /// What the peer script is asked to do (its `op` and arguments).
    job: Value,
    /// The server's answer to it.
    reply: Reply,
}

/// A [`Call`]: the job, then the reply.
fn call(job: Value, reply: Reply) -> Call {
    Call { job, reply }
}

/// The calls, in order.
fn calls() -> Vec<Call> {
    let request =
        json!({"robot_id": ROBOT_ID, "reference_ids": REFERENCE_IDS, "source": "cli « test »"});
    let unsourced =
        json!({"robot_id": ROBOT_ID, "reference_ids": [REFERENCE_IDS[1]], "source": null});
    let automation = json!({"robot_id": ROBOT_ID, "query": automation_query()});
    let search = json!({"robot_id": ROBOT_ID, "search_query": "title:(malaria OR paludisme) AND année:2024", "source": "cli"});
    let unsourced_search =
        json!({"robot_id": ROBOT_ID, "search_query": "\"quoted \\\\ text\"", "source": null});
    let total = json!({"count": 40, "is_lower_bound": false});
    let public = json!({"term": {"reference.visibility": "public"}});
    // One call a line: the job, then the server's reply.
    #[rustfmt::skip]
    let calls = vec![
        call(json!({"op": "create_enhancement_request", "body": request}), Reply::json(202, enhancement_request_json())),
        call(json!({"op": "create_enhancement_request", "body": unsourced}), Reply::json(202, enhancement_request_json())),
        call(json!({"op": "get_enhancement_request", "id": REQUEST_ID}), Reply::json(200, enhancement_request_json())),
        call(json!({"op": "create_robot_automation", "body": automation}), Reply::json(201, automation_json(automation_query()))),
        call(json!({"op": "update_robot_automation", "id": AUTOMATION_ID, "body": automation}), Reply::json(201, automation_json(public))),
        call(json!({"op": "list_robot_automations"}), Reply::json(200, json!([automation_json(automation_query()), automation_json(json!({}))]))),
        call(json!({"op": "request_search_enhancement", "body": search, "dry_run": true}), Reply::json(200, total)),
        call(json!({"op": "request_search_enhancement", "body": unsourced_search, "dry_run": false}), Reply::json(202, search_request_json())),
        call(json!({"op": "get_search_enhancement_request", "id": REQUEST_ID}), Reply::json(200, search_request_json())),
        call(json!({"op": "create_enhancement_request", "body": request}), Reply::detail(422, "Robot with id x does not exist.")),
    ];
    calls
}

/// What the Rust client made of an answer: the model as JSON text, or the status.
async fn rust_call(client: &RobotClient, job: &Value) -> Result<String, u16> {
    fn text<T: serde::Serialize>(r: Result<T, ClientError>) -> Result<String, u16> {
        r.map(|v| serde_json::to_string(&v).unwrap()).map_err(|e| {
            e.status()
                .unwrap_or_else(|| panic!("not an API error: {e}"))
        })
    }
    fn body<T: serde::de::DeserializeOwned>(job: &Value) -> T {
        serde_json::from_value(job["body"].clone()).unwrap()
    }
    let id = || job["id"].as_str().unwrap().parse().unwrap();
    match job["op"].as_str().unwrap() {
        "create_enhancement_request" => text(
            client
                .create_enhancement_request(&body::<EnhancementRequestIn>(job))
                .await,
        ),
        "get_enhancement_request" => text(client.get_enhancement_request(id()).await),
        "create_robot_automation" => text(
            client
                .create_robot_automation(&body::<RobotAutomationIn>(job))
                .await,
        ),
        "update_robot_automation" => text(
            client
                .update_robot_automation(id(), &body::<RobotAutomationIn>(job))
                .await,
        ),
        "list_robot_automations" => text(client.list_robot_automations().await),
        "request_search_enhancement" => {
            let request = body::<SearchEnhancementRequestIn>(job);
            if job["dry_run"] == json!(true) {
                text(client.request_search_enhancement_dry_run(&request).await)
            } else {
                text(client.request_search_enhancement(&request).await)
            }
        }
        "get_search_enhancement_request" => text(client.get_search_enhancement_request(id()).await),
        op => panic!("unknown op {op}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_0176_and_rust_send_the_same_requests_and_read_the_same_answers() {
    let calls = calls();
    let python_server = TestServer::start(calls.iter().map(|c| c.reply.clone())).await;
    let rust_server = TestServer::start(calls.iter().map(|c| c.reply.clone())).await;

    // The peer runs every call against its server (a blocking subprocess).
    let jobs: Vec<Value> = calls
        .iter()
        .map(|c| {
            let mut job = c.job.clone();
            job["base_url"] = json!(format!("{}/v1/", python_server.url()));
            job["secret"] = json!(SECRET);
            job["client_id"] = json!(ROBOT_ID);
            job
        })
        .collect();
    let python_answers = tokio::task::spawn_blocking(move || {
        run_script_on(Peer::Sdk0176, "peer_client_0176.py", &[], &jobs)
    })
    .await
    .unwrap();
    assert_eq!(python_answers.len(), calls.len(), "{python_answers:#?}");

    let client = rust_server
        .builder()
        .retry_policy(fast_retries(1))
        .build()
        .unwrap();
    for (i, (call, python)) in calls.iter().zip(&python_answers).enumerate() {
        let op = &call.job["op"];
        let rust = rust_call(&client, &call.job).await;
        match rust {
            Ok(text) => assert_eq!(
                Some(text.as_str()),
                python["answer"].as_str(),
                "{i} {op}: answer"
            ),
            Err(status) => assert_eq!(json!(status), python["status"], "{i} {op}: error {python}"),
        }
    }

    let (py, rs) = (python_server.requests(), rust_server.requests());
    assert_eq!(py.len(), calls.len());
    assert_eq!(rs.len(), calls.len());
    for (i, (p, r)) in py.iter().zip(&rs).enumerate() {
        let op = &calls[i].job["op"];
        assert_eq!(
            (&p.method, &p.path, &p.query),
            (&r.method, &r.path, &r.query),
            "{i} {op}"
        );
        assert_eq!(
            String::from_utf8_lossy(&p.body),
            String::from_utf8_lossy(&r.body),
            "{i} {op}: body"
        );
        assert_eq!(p.body, r.body, "{i} {op}: body bytes");
        p.assert_signed(SECRET, ROBOT_ID);
        r.assert_signed(SECRET, ROBOT_ID);
    }
    // The comparison covered what matters: bodies with non-ASCII text and escapes, both
    // dry-run spellings, and every route.
    assert!(py
        .iter()
        .any(|p| p.query.as_deref() == Some("dry_run=true")));
    assert!(py
        .iter()
        .any(|p| p.query.as_deref() == Some("dry_run=false")));
    assert!(py
        .iter()
        .any(|p| String::from_utf8_lossy(&p.body).contains("« test »")));
    assert!(py.iter().any(|p| p.body.windows(2).any(|w| w == b"\\\\")));
}
