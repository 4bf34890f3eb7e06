//! HMAC signing against the REAL Python `destiny_sdk` 0.7.4 (`crates/destiny-testkit/python/peer_sign.py`).
//!
//! - Requests signed by the Python SDK's own `HMACSigningAuth` flow (the three headers,
//!   stamped with `time.time()`) pass the Rust verification layer served by axum on
//!   127.0.0.1; the same requests with the body, signature, client id or timestamp
//!   tampered with get 401 `Signature is invalid.`.
//! - Signatures made by Rust's `create_signature` for random secrets, bodies, client ids
//!   and timestamps (the whole `f64` range, `nan`, `inf`, `-0.0`) equal the Python SDK's,
//!   and Rust's float `repr` is the text Python signs.
//!
//! Each test starts Python once for all its cases.

mod common;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::routing::any;
use axum::{Extension, Router};
use common::{run_jobs, SplitMix64};
use destiny_sdk::auth::{create_signature, pyfloat, HmacAuth, HmacAuthLayer, VerifiedClient};
use hex::encode as hex;
use serde_json::{json, Value};
use uuid::Uuid;

const SECRET: &str = "9f2c4e1a7b3d5f60812a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d";

/// An echo service behind the Rust layer: answers `<client id> <body>`.
async fn spawn_verifier() -> SocketAddr {
    async fn echo(Extension(client): Extension<VerifiedClient>, body: Bytes) -> String {
        format!("{} {}", client.client_id(), hex(&body))
    }
    let app = Router::new()
        .route("/v1/{*rest}", any(echo))
        .layer(HmacAuthLayer::new(HmacAuth::new(SECRET)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A request as Python signed it.
#[derive(Debug, Clone)]
struct Signed {
    label: String,
    method: reqwest::Method,
    url: String,
    body: Vec<u8>,
    authorization: String,
    client_id: String,
    timestamp: String,
}

async fn send(http: &reqwest::Client, r: &Signed) -> (u16, String) {
    let resp = http
        .request(r.method.clone(), &r.url)
        .header("Authorization", &r.authorization)
        .header("X-Client-Id", &r.client_id)
        .header("X-Request-Timestamp", &r.timestamp)
        .body(r.body.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: cannot send: {e}", r.label));
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("response text"))
}

/// Flips the last hex digit of a signature.
fn flip_last_hex(signature: &str) -> String {
    let mut chars: Vec<char> = signature.chars().collect();
    let last = chars.last_mut().expect("non-empty signature");
    *last = if *last == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn peer_python_signed_requests_pass_the_rust_layer_and_tampering_fails() {
    let addr = spawn_verifier().await;
    let client_id = Uuid::new_v4();
    let mut rng = SplitMix64::new(SplitMix64::seed_from_clock());
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/v1/robot-enhancement-batches/?robot_id=x&limit=10&lease=PT10M", Vec::new()),
        ("GET", "/v1/robot-enhancement-batches/0f7e5d1c-3b2a-4c9d-8e7f-6a5b4c3d2e1f/", Vec::new()),
        ("PATCH", "/v1/robot-enhancement-batches/x/renew-lease/?lease=PT5M", Vec::new()),
        (
            "POST",
            "/v1/robot-enhancement-batches/x/results/",
            br#"{"request_id":"5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11","error":null}"#.to_vec(),
        ),
        (
            "POST",
            "/v1/enhancement-requests/x/results/",
            "{\"request_id\":\"5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11\",\"error\":{\"message\":\"Échec: réseau \u{2028} 😀\"}}"
                .as_bytes()
                .to_vec(),
        ),
        ("POST", "/v1/binary", rng.bytes(4096)),
        ("PUT", "/v1/large", rng.bytes(300_000)),
    ];
    let jobs: Vec<Value> = bodies
        .iter()
        .map(|(method, path, body)| {
            json!({
                "op": "flow",
                "secret": SECRET,
                "client_id": client_id.to_string(),
                "method": method,
                "url": format!("http://{addr}{path}"),
                "body_hex": hex(body),
            })
        })
        .collect();
    let answers = run_jobs("peer_sign.py", &[], &jobs);

    let mut requests = Vec::new();
    for ((method, path, body), answer) in bodies.iter().zip(&answers) {
        assert!(answer["error"].is_null(), "peer_sign.py failed: {answer}");
        let headers = &answer["headers"];
        let header = |name: &str| {
            headers[name]
                .as_str()
                .unwrap_or_else(|| panic!("Python set no {name}: {answer}"))
                .to_owned()
        };
        assert_eq!(
            hex::decode(answer["body_hex"].as_str().expect("body_hex")).expect("hex"),
            *body,
            "Python signed a different body than given"
        );
        requests.push(Signed {
            label: format!(
                "{method} {} ({} body bytes)",
                path.split('?').next().unwrap_or(path),
                body.len()
            ),
            method: method.parse().expect("method"),
            url: format!("http://{addr}{path}"),
            body: body.clone(),
            authorization: header("Authorization"),
            client_id: header("X-Client-Id"),
            timestamp: header("X-Request-Timestamp"),
        });
    }

    let http = reqwest::Client::new();
    let invalid = json!({"detail": "Signature is invalid."});
    for r in &requests {
        assert!(
            r.authorization.starts_with("Signature "),
            "{}: {}",
            r.label,
            r.authorization
        );
        assert_eq!(r.client_id, client_id.to_string(), "{}", r.label);
        // Python's header is repr(time.time()): Rust reads and re-prints it identically.
        let stamp = pyfloat::parse(&r.timestamp).expect("Python timestamp parses");
        assert_eq!(pyfloat::repr(stamp), r.timestamp, "{}", r.label);

        let (status, text) = send(&http, r).await;
        assert_eq!(
            status, 200,
            "{}: Python-signed request rejected: {text}",
            r.label
        );
        assert_eq!(text, format!("{client_id} {}", hex(&r.body)), "{}", r.label);

        let mut body_changed = r.clone();
        body_changed.body.push(b' ');
        let mut signature_changed = r.clone();
        signature_changed.authorization = flip_last_hex(&r.authorization);
        let mut signature_uppercase = r.clone();
        signature_uppercase.authorization = format!(
            "Signature {}",
            r.authorization["Signature ".len()..].to_uppercase()
        );
        let mut client_changed = r.clone();
        client_changed.client_id = Uuid::new_v4().to_string();
        let mut timestamp_changed = r.clone();
        timestamp_changed.timestamp = pyfloat::repr(stamp + 0.001);
        let mut timestamp_respelled = r.clone();
        // Same float, different text: still valid, since the verifier signs repr(float(header)).
        timestamp_respelled.timestamp = format!("{}0", r.timestamp);
        let (status, text) = send(&http, &timestamp_respelled).await;
        assert_eq!(
            status, 200,
            "{}: re-spelled timestamp {}: {text}",
            r.label, timestamp_respelled.timestamp
        );

        for (what, tampered) in [
            ("body changed", body_changed),
            ("signature changed", signature_changed),
            ("signature upper-cased", signature_uppercase),
            ("client id changed", client_changed),
            ("timestamp changed", timestamp_changed),
        ] {
            let (status, text) = send(&http, &tampered).await;
            assert_eq!(
                status, 401,
                "{}: {what}: expected 401, got {status} {text}",
                r.label
            );
            let detail: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{}: {what}: 401 body is not JSON ({e}): {text}", r.label)
            });
            assert_eq!(detail, invalid, "{}: {what}", r.label);
        }
    }
}

/// A timestamp for a random case, as sent to Python (a JSON number, or a string Python's
/// `float()` reads for the values JSON cannot carry).
fn random_timestamp(rng: &mut SplitMix64) -> (f64, Value) {
    let x = match rng.below(8) {
        // Around now, with a random fraction: what clients send.
        0 | 1 => {
            1.7e9 + rng.below(1 << 30) as f64 + (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
        2 => rng.below(4_000_000_000) as f64,
        3 => [
            0.0,
            -0.0,
            1e16,
            1e-4,
            1e-5,
            9_999_999_999_999_998.0,
            5e-324,
            f64::MAX,
            0.1 + 0.2,
        ][rng.below(9) as usize],
        4 => {
            return [
                (f64::NAN, json!("nan")),
                (f64::INFINITY, json!("inf")),
                (f64::NEG_INFINITY, json!("-inf")),
            ][rng.below(3) as usize]
                .clone()
        }
        _ => loop {
            let x = f64::from_bits(rng.next_u64());
            if x.is_finite() {
                break x;
            }
        },
    };
    (x, json!(x))
}

#[test]
fn peer_rust_signatures_equal_python_signatures() {
    let seed = SplitMix64::seed_from_clock();
    println!("seed {seed}");
    let mut rng = SplitMix64::new(seed);
    let mut cases = Vec::new();
    for i in 0..400 {
        let secret = match i % 4 {
            0 => hex(rng.bytes(32)),
            1 => "s".repeat(rng.below(200) as usize),
            2 => "clé secrète 🔑 ".repeat(1 + rng.below(5) as usize),
            _ => {
                let len = rng.below(100) as usize;
                hex(rng.bytes(len))
            }
        };
        let body = match i % 3 {
            0 => Vec::new(),
            1 => format!("{{\"request_id\":\"{}\",\"error\":null}}", Uuid::new_v4()).into_bytes(),
            _ => {
                let len = rng.below(1024) as usize;
                rng.bytes(len)
            }
        };
        let client_id = match i % 5 {
            0 => Uuid::nil(),
            1 => Uuid::now_v7(),
            _ => Uuid::from_u128(u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())),
        };
        let (timestamp, sent) = random_timestamp(&mut rng);
        cases.push((secret, body, client_id, timestamp, sent));
    }
    let jobs: Vec<Value> = cases
        .iter()
        .map(|(secret, body, client_id, _, sent)| {
            json!({
                "op": "sign",
                "secret": secret,
                "client_id": client_id.to_string(),
                "body_hex": hex(body),
                "timestamp": sent,
            })
        })
        .collect();
    let answers = run_jobs("peer_sign.py", &[], &jobs);
    let mut failures = Vec::new();
    for ((secret, body, client_id, timestamp, sent), answer) in cases.iter().zip(&answers) {
        let ours = create_signature(secret, body, client_id, *timestamp);
        let theirs = answer["signature"].as_str().unwrap_or_default();
        let repr = pyfloat::repr(*timestamp);
        if ours != theirs || Some(repr.as_str()) != answer["timestamp_text"].as_str() {
            failures.push(format!(
                "timestamp {sent} (repr rust {repr:?}, python {}), client {client_id}, \
                 {} body bytes, secret of {} bytes: rust {ours} python {theirs} {}",
                answer["timestamp_text"],
                body.len(),
                secret.len(),
                answer["error"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} signatures differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
