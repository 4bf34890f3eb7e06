//! Test harness of the `client_*` tests: an in-process axum server on 127.0.0.1:0 that
//! records every request and answers from a script, and a raw TCP server that hangs up.

#![allow(dead_code)] // Each test file uses its own part of the harness.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use destiny_sdk::auth::{create_signature, pyfloat};
use destiny_sdk::client::{ClientError, RetryPolicy, RobotClient, RobotClientBuilder};
use destiny_sdk::models::{HttpUrl, RobotEnhancementBatchResult};
use uuid::Uuid;

/// The robot's secret in these tests.
pub const SECRET: &str = "9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c";
/// The robot (client) id in these tests.
pub const ROBOT_ID: Uuid = Uuid::from_u128(0x8b1e3f36_8c3e_4a8c_9d2a_0f0f6a8e1c11);
/// A batch id.
pub const BATCH_ID: Uuid = Uuid::from_u128(0x5b0e6a1e_2d8c_4a4e_9b51_0c7f0c0a6f11);

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the HMAC headers: the signature verifies over the body received, the
    /// client id and the timestamp header read as Python reads it.
    pub fn assert_signed(&self, secret: &str, client_id: Uuid) {
        assert_eq!(
            self.header("x-client-id"),
            Some(client_id.to_string().as_str())
        );
        let stamp = self
            .header("x-request-timestamp")
            .expect("X-Request-Timestamp");
        let ts = pyfloat::parse(stamp).expect("a float timestamp");
        assert_eq!(
            pyfloat::repr(ts),
            stamp,
            "the header is Python's repr of the time"
        );
        let want = create_signature(secret, &self.body, &client_id, ts);
        assert_eq!(
            self.header("authorization"),
            Some(format!("Signature {want}").as_str()),
            "signature over the received body"
        );
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status with a body and a content type.
    Body {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// 503 `{"detail": "busy"}` with this `Retry-After`.
    Busy(&'static str),
    /// Never answer (the client must time out).
    Hang,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::Body {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// FastAPI's error shape `{"detail": ...}`.
    pub fn detail(status: u16, detail: &str) -> Self {
        Self::json(status, serde_json::json!({ "detail": detail }))
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: &str) -> Self {
        Self::Body {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_owned(),
        }
    }

    /// 204 with no body.
    pub fn no_content() -> Self {
        Self::Body {
            status: 204,
            content_type: "",
            body: String::new(),
        }
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<Reply>>,
}

/// A recording axum server with scripted replies (500 once the script runs out).
pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Starts the server on 127.0.0.1 with an OS-chosen port.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The only request received.
    pub fn single_request(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request: {all:#?}");
        all.into_iter().next().unwrap()
    }

    /// The only request received, checked to be `method` on `path`.
    pub fn single_request_to(&self, method: &str, path: &str) -> Recorded {
        let req = self.single_request();
        assert_eq!((req.method.as_str(), req.path.as_str()), (method, path));
        req
    }

    /// A client builder for this server with the test credentials, fast retries and
    /// short timeouts.
    pub fn builder(&self) -> RobotClientBuilder {
        RobotClient::builder(&self.url(), SECRET, ROBOT_ID).retry_policy(fast_retries(3))
    }

    /// A client for this server.
    pub fn client(&self) -> RobotClient {
        self.builder().build().unwrap()
    }

    /// [`start`](Self::start), and a client for the server with default settings.
    pub async fn with_client(replies: impl IntoIterator<Item = Reply>) -> (Self, RobotClient) {
        let server = Self::start(replies).await;
        let client = server.client();
        (server, client)
    }

    /// A client for this server that makes at most `attempts` attempts per call.
    pub fn client_retrying(&self, attempts: u32) -> RobotClient {
        self.builder()
            .retry_policy(fast_retries(attempts))
            .build()
            .unwrap()
    }

    /// A storage URL on this server (`path` with its query).
    pub fn storage_url(&self, path: &str) -> HttpUrl {
        format!("{}{path}", self.url()).parse().unwrap()
    }
}

/// Checks every request carries a signature of the test robot that verifies.
pub fn assert_all_signed(requests: &[Recorded]) {
    for r in requests {
        r.assert_signed(SECRET, ROBOT_ID);
    }
}

/// Checks `err` is the server's refusal with this status and `detail`.
#[track_caller]
pub fn assert_refused(err: &ClientError, status: u16, detail: &str) {
    assert_eq!(
        (err.status(), err.detail()),
        (Some(status), Some(detail)),
        "{err:?}"
    );
}

/// A poll for 10 that must fail: its error.
pub async fn poll_error(client: &RobotClient) -> ClientError {
    client
        .poll_robot_enhancement_batch(ROBOT_ID, 10, None)
        .await
        .unwrap_err()
}

/// The success result of [`BATCH_ID`] (no error).
pub fn batch_ok() -> RobotEnhancementBatchResult {
    RobotEnhancementBatchResult {
        request_id: BATCH_ID,
        error: None,
    }
}

/// `attempts` attempts with 1 ms delays (the delay schedule is unit-tested).
pub fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(2),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 16 << 20).await.unwrap_or_default();
    shared.recorded.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    });
    let reply = shared.replies.lock().unwrap().pop_front();
    match reply {
        Some(Reply::Body {
            status,
            content_type,
            body,
        }) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            if !content_type.is_empty() {
                response
                    .headers_mut()
                    .insert("content-type", content_type.parse().unwrap());
            }
            response
        }
        Some(Reply::Busy(retry_after)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", retry_after)],
            axum::Json(serde_json::json!({"detail": "busy"})),
        )
            .into_response(),
        Some(Reply::Hang) => std::future::pending().await,
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no reply scripted").into_response(),
    }
}

/// A TCP server that reads a request and closes the connection without answering;
/// counts the connections it accepted.
pub struct HangUpServer {
    pub addr: SocketAddr,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl HangUpServer {
    pub async fn start() -> Self {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Read until the end of the headers, then hang up.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                drop(socket);
            }
        });
        Self { addr, accepted }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An address nothing listens on (bound, then released).
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A batch as the repository sends it.
pub fn batch_json(id: Uuid) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "reference_storage_url": format!("https://storage.example.org/references/{id}.jsonl?sig=abc"),
        "result_storage_url": format!("https://storage.example.org/results/{id}.jsonl?sig=def"),
        "extra_fields": null,
    })
}

/// An enhancement request id.
pub const REQUEST_ID: Uuid = Uuid::from_u128(0x0193_84a2_7c1e_7b3a_9f00_1a2b_3c4d_5e6f);
/// An automation id.
pub const AUTOMATION_ID: Uuid = Uuid::from_u128(0x6f1e_3d2c_1b0a_4f9e_8d7c_6b5a_4938_2716);
/// Reference ids.
pub const REFERENCE_IDS: [Uuid; 2] = [
    Uuid::from_u128(0x3a53_3776_c9ad_4aac_a089_d654_d509_490c),
    Uuid::from_u128(0x7d1f_0c2e_9b8a_4c3d_8e7f_6a5b_4c3d_2e1f),
];

/// An `EnhancementRequestRead` as the repository sends it (written as Python dumps it).
pub fn enhancement_request_json() -> serde_json::Value {
    serde_json::json!({
        "robot_id": ROBOT_ID, "reference_ids": REFERENCE_IDS, "source": "cli",
        "id": REQUEST_ID, "request_status": "received",
        "reference_data_url": null, "result_storage_url": null,
        "validation_result_url": null, "error": null,
    })
}

/// A `RobotAutomation` as the repository sends it.
pub fn automation_json(query: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"robot_id": ROBOT_ID, "query": query, "id": AUTOMATION_ID})
}

/// A percolator query with nesting, booleans, a float and non-ASCII text.
pub fn automation_query() -> serde_json::Value {
    serde_json::json!({"bool": {
        "must": [
            {"term": {"changeset.enhancements.content.annotations.scheme": "classifier:flag"}},
            {"term": {"changeset.enhancements.content.annotations.value": true}},
            {"match": {"changeset.enhancements.content.text": {"query": "paludisme à Dakar", "boost": 1.5}}},
        ],
        "must_not": [{"exists": {"field": "reference.identifiers"}}],
    }})
}

/// A `SearchEnhancementRequestRead` as the repository sends it.
pub fn search_request_json() -> serde_json::Value {
    serde_json::json!({
        "id": REQUEST_ID, "robot_id": ROBOT_ID, "source": null,
        "search_status": "searching", "request_status": "processing",
        "n_matched": 40, "n_enhancements_requested": 25,
        "enhancement_status_counts": {"pending": 20, "completed": 5}, "error": null,
    })
}
