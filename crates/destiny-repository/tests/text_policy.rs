//! One text policy on both backends (issue 16): what one stores, the other stores
//! identically; NUL in a text column and an over-long robot name are refused with a 422
//! naming the field (never PostgreSQL's 500); NUL inside JSON content is kept exactly. And
//! the `Host` header: required on HTTP/1.1 (400), optional on HTTP/1.0.

mod common;

use destiny_testkit::on_both_backends;

use common::{start, Backend, Server};
use destiny_repository::text::MAX_ROBOT_NAME_CHARS;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    a_megabyte_robot_name_is_422_and_the_longest_allowed_is_kept_exactly,
    nul_is_refused_in_text_columns_and_kept_in_json,
    host_is_required_on_http_1_1_only,
);

/// (status, first detail entry's loc and msg) of a robot registration.
async fn register(s: &Server, body: Value) -> (u16, Value) {
    s.admin(Method::POST, "/v1/robots/", Some(body.to_string()))
        .await
}

async fn a_megabyte_robot_name_is_422_and_the_longest_allowed_is_kept_exactly(backend: Backend) {
    let s = start(backend).await;
    // 1 MB that does not compress: PostgreSQL's index would refuse it (500 before).
    let mut state = 0x9e37_79b9_u32;
    let megabyte: String = (0..1_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let (status, body) = register(
        &s,
        json!({"name": megabyte, "description": "d", "owner": "o"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));
    assert_eq!(
        body["detail"][0]["msg"],
        "String should have at most 256 characters"
    );
    // The longest name allowed, in four-byte characters (1,024 bytes), is stored and read
    // back exactly; one more character is refused.
    let longest = "𝄞".repeat(MAX_ROBOT_NAME_CHARS);
    let (status, created) = register(
        &s,
        json!({"name": longest, "description": "d\u{1}\u{7f}", "owner": "ö"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, read) = s
        .admin(
            Method::GET,
            &format!("/v1/robots/{}/", created["id"].as_str().expect("id")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["name"], longest.as_str());
    assert_eq!(read["description"], "d\u{1}\u{7f}");
    let (status, body) = register(
        &s,
        json!({"name": format!("{longest}a"), "description": "d", "owner": "o"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (_, robots) = s.admin(Method::GET, "/v1/robots/", None).await;
    assert_eq!(robots.as_array().map(Vec::len), Some(1), "{robots}");
}

async fn nul_is_refused_in_text_columns_and_kept_in_json(backend: Backend) {
    let s = start(backend).await;
    for (field, body) in [
        (
            "name",
            json!({"name": "a\u{0}", "description": "d", "owner": "o"}),
        ),
        (
            "description",
            json!({"name": "a", "description": "\u{0}", "owner": "o"}),
        ),
        (
            "owner",
            json!({"name": "a", "description": "d", "owner": "\u{0}o"}),
        ),
    ] {
        let (status, answer) = register(&s, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]));
        assert_eq!(
            answer["detail"][0]["msg"],
            "String should not contain the NUL character (U+0000)"
        );
    }
    let (robot, _) = s.robot("nul").await;
    // NUL inside the JSON of a reference (identifiers, enhancement content) is kept.
    let line = json!({"identifiers": [{"identifier": "W1", "identifier_type": "open_alex"}],
        "enhancements": [{"source": "s", "visibility": "public",
            "content": {"enhancement_type": "abstract", "process": "other", "abstract": "A\u{0}B"}}]});
    let (status, ids) = s
        .admin(Method::POST, "/v1/references/", Some(line.to_string()))
        .await;
    assert_eq!(status, 201, "{ids}");
    let id = ids[0].as_str().expect("id");
    let reference = s.reference(id).await;
    assert_eq!(
        reference["enhancements"][0]["content"]["abstract"],
        "A\u{0}B"
    );
    // A request's source is a text column.
    let (status, answer) = s
        .admin(
            Method::POST,
            "/v1/enhancement-requests/",
            Some(
                json!({"robot_id": robot.id, "reference_ids": [id], "source": "\u{0}"}).to_string(),
            ),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["detail"][0]["loc"], json!(["body", "source"]));
}

/// The status line of a raw request.
async fn raw_status(s: &Server, request: &[u8]) -> String {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(common::DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

async fn host_is_required_on_http_1_1_only(backend: Backend) {
    let s = start(backend).await;
    let path = "/v1/system/healthcheck/";
    assert_eq!(
        raw_status(
            &s,
            format!("GET {path} HTTP/1.1\r\nconnection: close\r\n\r\n").as_bytes()
        )
        .await,
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(
        raw_status(
            &s,
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()
        )
        .await,
        "HTTP/1.1 200 OK"
    );
    // RFC 9112 §3.2 requires it of HTTP/1.1 only.
    assert_eq!(
        raw_status(&s, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).await,
        "HTTP/1.0 200 OK"
    );
}
