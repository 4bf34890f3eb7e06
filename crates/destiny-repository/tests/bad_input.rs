//! Bad input gets the documented answer and changes nothing: an invalid JSONL line on
//! import (422 naming the line, nothing of that import kept), invalid `limit` and
//! `lease` (422 in FastAPI's shape), unknown batches (404 with the real text), conflicts
//! (409) and invalid references to other records (422), on both backends; a client
//! stalling in its request headers is disconnected.

mod common;

use destiny_testkit::on_both_backends;

use common::{start, Backend, Options, Server};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

on_both_backends!(
    an_invalid_jsonl_line_is_named_and_nothing_is_kept,
    an_import_failing_in_its_last_chunk_keeps_nothing,
    bad_limit_and_lease_are_422,
    unknown_batches_are_404,
    constraint_violations_are_409_or_422,
);

/// Rows of a table.
async fn count(s: &Server, table: &str) -> i64 {
    let pool = s.db.pool().await;
    let n = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .expect("count")
        .try_get(0)
        .expect("count");
    pool.close().await;
    n
}

fn reference_line(i: usize) -> String {
    json!({"identifiers": [{"identifier": format!("W{i}"), "identifier_type": "open_alex"}]})
        .to_string()
}

async fn an_invalid_jsonl_line_is_named_and_nothing_is_kept(backend: Backend) {
    let s = start(backend).await;
    let cases = [
        (
            format!(
                "{}\n{}\n{{\"identifiers\": [\n",
                reference_line(1),
                reference_line(2)
            ),
            "Line 3: ",
        ),
        (
            format!(
                "{}\n\n{}\n",
                reference_line(1),
                json!({"identifiers": [{"identifier": "not-a-doi", "identifier_type": "doi"}]})
            ),
            "Line 3: ",
        ),
        (
            format!(
                "{}\n{}\n",
                reference_line(1),
                json!({"visibility": "secret"})
            ),
            "Line 2: ",
        ),
    ];
    // Bodies over a megabyte are read a half per thread: a line is still named by its
    // place in the whole body (blank lines counted), and the first bad line is named.
    let big = |bad: &[usize]| {
        (1..=30_000)
            .map(|i| match i {
                10 => String::new(),
                i if bad.contains(&i) => json!({"visibility": "secret"}).to_string(),
                i => reference_line(i),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(big(&[]).len() > 2 << 20, "the body is split");
    let cases = cases.into_iter().chain([
        (big(&[29_000]), "Line 29000: "),
        (big(&[5, 29_000]), "Line 5: "),
    ]);
    for (body, prefix) in cases {
        let (status, answer) = s.admin(Method::POST, "/v1/references/", Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        let detail = answer["detail"].as_str().expect("a text detail");
        assert!(detail.starts_with(prefix), "{detail}");
        assert_eq!(count(&s, "refs").await, 0, "nothing of that import is kept");
    }

    // A conflict in the middle of an import (the second line's id exists) keeps nothing
    // of it either: the first line is rolled back with it.
    let existing = s.references(1).await[0];
    let fresh = Uuid::new_v4();
    let body = format!(
        "{}\n{}\n",
        json!({"id": fresh, "identifiers": []}),
        json!({"id": existing, "identifiers": []})
    );
    let (status, answer) = s.admin(Method::POST, "/v1/references/", Some(body)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["detail"],
        format!("Reference {existing} already exists.")
    );
    assert_eq!(count(&s, "refs").await, 1);
    let (status, _) = s
        .admin(Method::GET, &format!("/v1/references/{fresh}/"), None)
        .await;
    assert_eq!(status, 404);
    let (status, answer) = s
        .admin(Method::POST, "/v1/references/", Some("\n\n".into()))
        .await;
    assert_eq!(status, 422, "{answer}");

    // Both halves of a large body are kept, in order.
    let (status, answer) = s
        .admin(Method::POST, "/v1/references/", Some(big(&[])))
        .await;
    assert_eq!(status, 201);
    let ids: Vec<Uuid> = serde_json::from_value(answer).expect("ids");
    assert_eq!(ids.len(), 29_999);
    for (at, want) in [(0, "W1"), (9, "W11"), (29_998, "W30000")] {
        let r = s.reference(ids[at]).await;
        assert_eq!(r["identifiers"][0]["identifier"], want);
    }
    assert_eq!(count(&s, "refs").await, 1 + 29_999);
}

/// A field given twice in an import line: the model refuses the line, which is then read
/// as JSON, where the last value counts (README, "models: a field given twice"), both
/// with every id written and without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_line_with_a_field_twice_keeps_the_last_value() {
    let s = start(Backend::Sqlite).await;
    let id = Uuid::new_v4();
    let body = format!(
        "{{\"id\": \"{id}\", \"visibility\": \"public\", \"visibility\": \"hidden\"}}\n\
         {{\"visibility\": \"hidden\", \"visibility\": \"restricted\"}}\n"
    );
    let (status, answer) = s.admin(Method::POST, "/v1/references/", Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    let ids: Vec<Uuid> = serde_json::from_value(answer).expect("ids");
    assert_eq!(ids[0], id);
    assert_eq!(s.reference(ids[0]).await["visibility"], "hidden");
    assert_eq!(s.reference(ids[1]).await["visibility"], "restricted");
}

/// A write failing after earlier chunks of the import committed (here a trigger refuses
/// its last reference, as a full disk might) takes those chunks back: the import keeps
/// nothing, on PostgreSQL where two transactions write it at once too. Until a chunk is
/// seen committed, the test counts as waiting for the writer, as a robot's claim would, which ends
/// the import's turn (SQLite's would otherwise hold all 4,000 references).
async fn an_import_failing_in_its_last_chunk_keeps_nothing(backend: Backend) {
    let s = start(backend).await;
    let refs: Vec<destiny_sdk::models::Reference> =
        destiny_sdk::samples::ReferenceGenerator::new(3)
            .take(4_000)
            .collect();
    let last = refs[3_999].id;
    let pool = s.db.pool().await;
    let trigger = match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_last BEFORE INSERT ON refs WHEN NEW.id = '{last}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_last() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.id = '{last}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER refuse_last BEFORE INSERT ON refs \
             FOR EACH ROW EXECUTE FUNCTION refuse_last()"
        ),
    };
    sqlx::raw_sql(&trigger)
        .execute(&pool)
        .await
        .expect("trigger");
    pool.close().await;
    let mut body = Vec::new();
    for r in &refs {
        destiny_sdk::jsonl::append_line(&mut body, r).expect("a line");
    }
    let body = String::from_utf8(body).expect("UTF-8");
    let answered = std::sync::atomic::AtomicBool::new(false);
    let import = async {
        let answer = s.admin(Method::POST, "/v1/references/", Some(body)).await;
        answered.store(true, std::sync::atomic::Ordering::Release);
        answer
    };
    // Waiting for the writer until a commit is seen, the import commits at each step.
    let watch = async {
        let mut wanting = Some(s.want_the_writer());
        let mut most = 0;
        while !answered.load(std::sync::atomic::Ordering::Acquire) {
            most = most.max(count(&s, "refs").await);
            if most > 0 {
                wanting = None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(wanting);
        most
    };
    let ((status, answer), most) = tokio::join!(import, watch);
    assert!(status >= 400, "{status}: {answer}");
    assert!(
        most > 0,
        "no chunk of the import was seen committed before it failed"
    );
    for table in ["refs", "enhancements", "reference_identifiers"] {
        assert_eq!(
            count(&s, table).await,
            0,
            "{table}: nothing of that import is kept"
        );
    }
}

/// Asserts a FastAPI-shaped 422 for the query parameter `name`.
fn assert_query_422(status: u16, answer: &Value, name: &str, input: &str) {
    assert_eq!(status, 422, "{name}={input}: {answer}");
    let first = &answer["detail"][0];
    assert_eq!(first["loc"], json!(["query", name]), "{answer}");
    assert_eq!(first["input"], input, "{answer}");
    assert!(first["msg"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn bad_limit_and_lease_are_422(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("picky").await;
    s.seed(robot.id, 3).await;
    let poll = |query: String| {
        let s = &s;
        let robot = &robot;
        async move {
            s.robot_request(
                robot,
                Method::POST,
                &format!(
                    "/v1/robot-enhancement-batches/?robot_id={}&{query}",
                    robot.id
                ),
                b"",
            )
            .await
        }
    };
    for limit in ["0", "-1", "abc", "1.5", ""] {
        let (status, answer) = poll(format!("limit={limit}")).await;
        assert_query_422(status, &answer, "limit", limit);
    }
    for lease in ["600", "10m", "PT10m", "PT0S", "-PT1M", "P0D", "soon"] {
        let (status, answer) = poll(format!("lease={lease}")).await;
        assert_query_422(status, &answer, "lease", lease);
    }
    let (status, answer) = poll("robot_id=nope&limit=1".into()).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        count(&s, "batches").await,
        0,
        "no refused poll leased anything"
    );

    // What pydantic accepts is accepted; a limit above the cap is capped.
    let (status, answer) = poll("limit=20000&lease=1%20day,%2000:10:00".into()).await;
    assert_eq!(status, 200, "{answer}");
    let batch: Uuid = answer["id"].as_str().expect("id").parse().expect("uuid");
    for lease in ["600", "PT0S"] {
        let (status, answer) = s
            .robot_request(
                &robot,
                Method::PATCH,
                &format!("/v1/robot-enhancement-batches/{batch}/renew-lease/?lease={lease}"),
                b"",
            )
            .await;
        assert_query_422(status, &answer, "lease", lease);
    }
    let renewed = client
        .renew_robot_enhancement_batch_lease(batch, Some("PT1H".parse().expect("lease")))
        .await
        .expect("a valid renewal");
    assert_eq!(renewed.as_second(), s.clock_now_s() + 3600);
}

async fn unknown_batches_are_404(backend: Backend) {
    let s = start(backend).await;
    let (robot, _) = s.robot("lost").await;
    let missing = Uuid::new_v4();
    let text = format!("RobotEnhancementBatch with id {missing} does not exist.");
    let body = json!({"request_id": missing}).to_string();
    for (method, path, body) in [
        (
            Method::GET,
            format!("/v1/robot-enhancement-batches/{missing}/"),
            "",
        ),
        (
            Method::PATCH,
            format!("/v1/robot-enhancement-batches/{missing}/renew-lease/"),
            "",
        ),
        (
            Method::POST,
            format!("/v1/robot-enhancement-batches/{missing}/renew-lease/"),
            "",
        ),
        (
            Method::POST,
            format!("/v1/robot-enhancement-batches/{missing}/results/"),
            body.as_str(),
        ),
    ] {
        let (status, answer) = s
            .robot_request(&robot, method.clone(), &path, body.as_bytes())
            .await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["detail"], text.as_str());
    }
    let (status, answer) = s
        .robot_request(
            &robot,
            Method::GET,
            "/v1/robot-enhancement-batches/not-a-uuid/",
            b"",
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["path", "id"]));
    let (status, answer) = s
        .robot_request(
            &robot,
            Method::POST,
            &format!("/v1/enhancement-requests/{missing}/results/"),
            json!({"request_id": missing}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        answer["detail"],
        format!("EnhancementRequest with id {missing} does not exist.")
    );
    // A result naming another batch than its path.
    let (status, answer) = s
        .robot_request(
            &robot,
            Method::POST,
            &format!("/v1/robot-enhancement-batches/{missing}/results/"),
            json!({"request_id": Uuid::new_v4()}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["detail"], "Request ID mismatch");
}

async fn constraint_violations_are_409_or_422(backend: Backend) {
    let s = start(backend).await;
    let (robot, _) = s.robot("unique").await;
    let (status, answer) = s
        .admin(
            Method::POST,
            "/v1/robots/",
            Some(json!({"name": "unique", "description": "d", "owner": "o"}).to_string()),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["detail"], "A robot named \"unique\" already exists.");
    let (other, _) = s.robot("other").await;
    let (status, answer) = s
        .admin(
            Method::PUT,
            &format!("/v1/robots/{}/", other.id),
            Some(json!({"name": "unique", "description": "d", "owner": "o"}).to_string()),
        )
        .await;
    assert_eq!(status, 409, "{answer}");

    let ids = s.references(2).await;
    let requests_before = count(&s, "enhancement_requests").await;
    for (what, body) in [
        (
            "an unknown reference",
            json!({"robot_id": robot.id, "reference_ids": [ids[0], Uuid::new_v4()]}),
        ),
        (
            "a reference twice",
            json!({"robot_id": robot.id, "reference_ids": [ids[0], ids[1], ids[0]]}),
        ),
        (
            "no reference",
            json!({"robot_id": robot.id, "reference_ids": []}),
        ),
        (
            "a malformed id",
            json!({"robot_id": robot.id, "reference_ids": ["nope"]}),
        ),
    ] {
        let (status, answer) = s
            .admin(
                Method::POST,
                "/v1/enhancement-requests/",
                Some(body.to_string()),
            )
            .await;
        assert_eq!(status, 422, "{what}: {answer}");
        if what == "a reference twice" {
            // The SDK model's refusal (0.17.6's text), in FastAPI's shape.
            assert_eq!(answer["detail"][0]["loc"], json!(["body", "reference_ids"]));
            assert_eq!(
                answer["detail"][0]["msg"],
                "reference_ids must not contain duplicate ids."
            );
        }
    }
    let (status, answer) = s
        .admin(
            Method::POST,
            "/v1/enhancement-requests/",
            Some(json!({"robot_id": Uuid::new_v4(), "reference_ids": [ids[0]]}).to_string()),
        )
        .await;
    assert_eq!(status, 404, "an unknown robot: {answer}");
    assert_eq!(
        count(&s, "enhancement_requests").await,
        requests_before,
        "no refused request was stored"
    );
    assert_eq!(count(&s, "pending_enhancements").await, 0);
}

/// A connection whose request headers stop arriving is closed once `header_read_timeout`
/// has passed, while other clients are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_in_its_headers_is_disconnected() {
    let s = Server::start(
        Backend::Sqlite,
        Options {
            tweak: Box::new(|c| c.header_read_timeout = Duration::from_secs(1)),
            ..Options::default()
        },
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"GET /v1/system/healthcheck/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (status, answer) = s.admin(Method::GET, "/v1/system/healthcheck/", None).await;
    assert_eq!(status, 200, "another client is served: {answer}");
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
        .await
        .expect("the server closes a connection stalled in its headers");
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!(
            "an answer instead of a close: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
}
