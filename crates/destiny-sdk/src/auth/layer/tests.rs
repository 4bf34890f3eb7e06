//! The layer driven as a tower service (`ServiceBuilder::new().layer(..).service_fn(echo)`)
//! and inside an axum `Router`, with real signatures and an injected clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use http::{HeaderName, HeaderValue, StatusCode};
use tower::{ServiceBuilder, ServiceExt};
use uuid::Uuid;

use super::*;
use crate::auth::{
    signature_headers, AuthErrorKind, BypassHmacAuth, HmacAuth, MultiClientHmacAuth, SecretLookup,
    StaticSecrets,
};
use crate::secret::Secret;

const SECRET: &str = "9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c";
const NOW: f64 = 1_764_547_200.5;

fn client_id() -> Uuid {
    Uuid::from_u128(0x8b1e3f36_8c3e_4a8c_9d2a_0f0f6a8e1c11)
}

/// The inner service: answers `<client id>|<body>` so tests see what got through.
async fn echo(request: Request<Body>) -> Result<Response, Infallible> {
    let client = request.extensions().get::<VerifiedClient>().copied();
    let body = request.into_body().collect().await.map(|c| c.to_bytes());
    let text = format!(
        "{}|{}",
        client
            .map(|c| c.client_id().to_string())
            .unwrap_or_default(),
        String::from_utf8_lossy(&body.unwrap_or_default())
    );
    Ok(text.into_response())
}

fn signed(secret: &str, body: &'static [u8], timestamp: f64) -> Request<Body> {
    let mut request = Request::post("/echo")
        .body(Body::from(body))
        .unwrap_or_default();
    request
        .headers_mut()
        .extend(signature_headers(secret, body, &client_id(), timestamp));
    request
}

fn layer<A: HmacAuthMethod>(auth: A) -> HmacAuthLayer<A> {
    HmacAuthLayer::new(auth).with_clock(|| NOW)
}

async fn send<A: HmacAuthMethod>(
    layer: HmacAuthLayer<A>,
    request: Request<Body>,
) -> (StatusCode, String) {
    let service = ServiceBuilder::new().layer(layer).service_fn(echo);
    let response = match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = response.into_body().collect().await.map(|c| c.to_bytes());
    (
        status,
        String::from_utf8_lossy(&body.unwrap_or_default()).into_owned(),
    )
}

fn detail_json(detail: &str) -> String {
    serde_json::json!({ "detail": detail }).to_string()
}

#[tokio::test]
async fn valid_request_reaches_inner_service_with_body_and_client() {
    let body = br#"{"request_id":"5b0e6a1e-2d8c-4a4e-9b51-0c7f0c0a6f11","error":null}"#;
    let (status, text) = send(
        layer(HmacAuth::new(SECRET)),
        signed(SECRET, body, NOW - 1.0),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        text,
        format!("{}|{}", client_id(), String::from_utf8_lossy(body))
    );
}

#[tokio::test]
async fn spec_table_details() {
    let ok = signed(SECRET, b"{}", NOW);
    let header = |name: &str| ok.headers().get(name).cloned();
    let auth = header("authorization");
    let id = header("x-client-id");
    let ts = header("x-request-timestamp");
    let v = |s: &'static str| Some(HeaderValue::from_static(s));
    let rows: Vec<([Option<HeaderValue>; 3], &str)> = vec![
        (
            [None, id.clone(), ts.clone()],
            "Authorization header missing.",
        ),
        (
            [v("Bearer abc"), id.clone(), ts.clone()],
            "Authorization type not supported.",
        ),
        (
            [auth.clone(), None, ts.clone()],
            "X-Client-Id header missing",
        ),
        (
            [auth.clone(), v("42"), ts.clone()],
            "Invalid format for client id, expected UUIDv4 or UUIDv7.",
        ),
        (
            [auth.clone(), id.clone(), None],
            "X-Request-Timestamp header missing",
        ),
        (
            [auth.clone(), id.clone(), v("1764546900.4")],
            "Token is expired.",
        ),
        (
            [v("Signature 00"), id.clone(), ts.clone()],
            "Signature is invalid.",
        ),
    ];
    for (headers, want) in rows {
        let mut request = Request::post("/echo")
            .body(Body::from("{}"))
            .unwrap_or_default();
        let names = ["authorization", "x-client-id", "x-request-timestamp"];
        for (name, value) in names.into_iter().zip(headers) {
            if let Some(value) = value {
                request
                    .headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
        }
        let (status, text) = send(layer(HmacAuth::new(SECRET)), request).await;
        assert_eq!(
            (status, text),
            (StatusCode::UNAUTHORIZED, detail_json(want))
        );
    }
}

#[tokio::test]
async fn tampering_and_wrong_secret_are_rejected() {
    let invalid = (
        StatusCode::UNAUTHORIZED,
        detail_json("Signature is invalid."),
    );

    let mut request = signed(SECRET, b"{\"a\":1}", NOW);
    *request.body_mut() = Body::from("{\"a\":2}");
    assert_eq!(send(layer(HmacAuth::new(SECRET)), request).await, invalid);

    let mut request = signed(SECRET, b"{}", NOW);
    let tampered = request.headers()["authorization"]
        .to_str()
        .map(|s| {
            let mut s = s.to_owned();
            let last = if s.ends_with('0') { "1" } else { "0" };
            s.pop();
            s + last
        })
        .unwrap_or_default();
    request.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&tampered).unwrap_or(HeaderValue::from_static("x")),
    );
    assert_eq!(send(layer(HmacAuth::new(SECRET)), request).await, invalid);

    // Same digits with an extra character: different length fails like compare_digest.
    let mut request = signed(SECRET, b"{}", NOW);
    let longer = format!(
        "{}0",
        request.headers()["authorization"].to_str().unwrap_or("")
    );
    request.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&longer).unwrap_or(HeaderValue::from_static("x")),
    );
    assert_eq!(send(layer(HmacAuth::new(SECRET)), request).await, invalid);

    // Signed timestamp altered after signing.
    let mut request = signed(SECRET, b"{}", NOW);
    request.headers_mut().insert(
        "x-request-timestamp",
        HeaderValue::from_static("1764547200.6"),
    );
    assert_eq!(send(layer(HmacAuth::new(SECRET)), request).await, invalid);

    let request = signed("another-secret", b"{}", NOW);
    assert_eq!(send(layer(HmacAuth::new(SECRET)), request).await, invalid);
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    static BIG: [u8; 2048] = [b'x'; 2048];
    let small = layer(HmacAuth::new(SECRET)).with_body_limit(1024);
    // Refused from the declared Content-Length, before reading.
    let mut request = signed(SECRET, &BIG, NOW);
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("2048"));
    let (status, text) = send(small.clone(), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        text,
        detail_json("Request body too large (limit 1024 bytes).")
    );

    // Without Content-Length (a stream), the limit applies while reading.
    let mut request = signed(SECRET, &BIG, NOW);
    assert!(request.headers().get(header::CONTENT_LENGTH).is_none());
    let stream = futures_util::stream::iter(
        BIG.chunks(100)
            .map(|c| Ok::<_, Infallible>(Bytes::from_static(c)))
            .collect::<Vec<_>>(),
    );
    *request.body_mut() = Body::from_stream(stream);
    let (status, _) = send(small.clone(), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Exactly at the limit passes.
    let (status, _) = send(small, signed(SECRET, &BIG[..1024], NOW)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn timestamp_window_uses_the_injected_clock() {
    let now = Arc::new(AtomicU64::new(NOW.to_bits()));
    let clock = {
        let now = Arc::clone(&now);
        move || f64::from_bits(now.load(Ordering::SeqCst))
    };
    let layer = HmacAuthLayer::new(HmacAuth::new(SECRET)).with_clock(clock);
    let at = |t: f64| now.store(t.to_bits(), Ordering::SeqCst);

    at(NOW + 300.0);
    assert_eq!(
        send(layer.clone(), signed(SECRET, b"", NOW)).await.0,
        StatusCode::OK
    );
    at(NOW + 300.5);
    assert_eq!(
        send(layer.clone(), signed(SECRET, b"", NOW)).await,
        (StatusCode::UNAUTHORIZED, detail_json("Token is expired."))
    );
    at(NOW - 300.0);
    assert_eq!(
        send(layer.clone(), signed(SECRET, b"", NOW)).await.0,
        StatusCode::OK
    );
    at(NOW - 300.5);
    assert_eq!(
        send(layer.clone(), signed(SECRET, b"", NOW)).await,
        (
            StatusCode::UNAUTHORIZED,
            detail_json("Request timestamp is too far in the future.")
        )
    );

    // A tighter policy.
    at(NOW + 11.0);
    let tight = layer.with_policy(TimestampPolicy {
        max_age: Duration::from_secs(10),
        max_future: Duration::from_secs(10),
    });
    assert_eq!(
        send(tight, signed(SECRET, b"", NOW)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn integral_header_is_verified_against_python_repr() {
    // signature-vectors.json: header `1733380000` is signed as `1733380000.0`.
    let id = "3a533776-c9ad-4aac-a089-d654d509490c";
    let mut request = Request::post("/echo")
        .body(Body::empty())
        .unwrap_or_default();
    let headers = request.headers_mut();
    for (name, value) in [
        (
            "authorization",
            "Signature 3a5f23286f1bd0177cc72b65a9ca60686a45b9e6b0b3847c541ab007aeb6bc23",
        ),
        ("x-client-id", id),
        ("x-request-timestamp", "1733380000"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let layer = HmacAuthLayer::new(HmacAuth::new("secret-secret")).with_clock(|| 1_733_380_000.0);
    assert_eq!(
        send(layer, request).await,
        (StatusCode::OK, format!("{id}|"))
    );
}

#[tokio::test]
async fn multi_client_secrets_unknown_clients_and_cycling() {
    let secrets = StaticSecrets::new();
    secrets.insert(client_id(), SECRET);
    let layer = layer(MultiClientHmacAuth::new(secrets.clone()));

    assert_eq!(
        send(layer.clone(), signed(SECRET, b"{}", NOW)).await.0,
        StatusCode::OK
    );

    // Cycle the secret: the old one stops working at once, the new one works.
    secrets.insert(client_id(), "rotated");
    assert_eq!(
        send(layer.clone(), signed(SECRET, b"{}", NOW)).await,
        (
            StatusCode::UNAUTHORIZED,
            detail_json("Signature is invalid.")
        )
    );
    assert_eq!(
        send(layer.clone(), signed("rotated", b"{}", NOW)).await.0,
        StatusCode::OK
    );

    secrets.remove(&client_id());
    let want = format!("robot client {} does not exist.", client_id());
    assert_eq!(
        send(layer, signed("rotated", b"{}", NOW)).await,
        (StatusCode::UNAUTHORIZED, detail_json(&want))
    );
}

/// A lookup whose backend is down.
struct DownStore;

impl SecretLookup for DownStore {
    async fn secret_for(&self, _client_id: Uuid) -> Result<Option<Secret>, AuthError> {
        Err(AuthError::unavailable("Secret store unavailable.")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")))
    }
}

#[tokio::test]
async fn lookup_failure_becomes_its_own_error() {
    let service = ServiceBuilder::new()
        .layer(layer(MultiClientHmacAuth::new(DownStore)))
        .service_fn(echo);
    let response = match service.oneshot(signed(SECRET, b"", NOW)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn bypass_accepts_anything() {
    let mut request = Request::post("/echo")
        .body(Body::from("hi"))
        .unwrap_or_default();
    assert_eq!(
        send(layer(BypassHmacAuth::new()), request).await,
        (StatusCode::OK, format!("{}|hi", Uuid::nil()))
    );
    request = signed("whatever", b"hi", 0.0);
    assert_eq!(
        send(layer(BypassHmacAuth::new()), request).await,
        (StatusCode::OK, format!("{}|hi", client_id()))
    );
}

#[tokio::test]
async fn works_in_an_axum_router_with_the_extractor() {
    async fn whoami(client: VerifiedClient, body: String) -> String {
        format!("{}:{body}", client.client_id())
    }
    async fn open(client: Option<VerifiedClient>) -> String {
        format!("{client:?}")
    }
    async fn misconfigured(client: VerifiedClient) -> String {
        client.client_id().to_string()
    }
    let app = Router::new()
        .route("/who", post(whoami))
        .route_layer(layer(HmacAuth::new(SECRET)))
        .route("/open", post(open))
        .route("/misconfigured", post(misconfigured));

    let mut request = signed(SECRET, b"payload", NOW);
    *request.uri_mut() = http::Uri::from_static("/who");
    let response = app.clone().oneshot(request).await;
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.map(|c| c.to_bytes());
    assert_eq!(
        body.ok().as_deref(),
        Some(format!("{}:payload", client_id()).as_bytes())
    );

    let unsigned = Request::post("/who")
        .body(Body::empty())
        .unwrap_or_default();
    let response = app.clone().oneshot(unsigned).await.map(|r| r.status());
    assert_eq!(response.ok(), Some(StatusCode::UNAUTHORIZED));

    let open_request = Request::post("/open")
        .body(Body::empty())
        .unwrap_or_default();
    let response = app.clone().oneshot(open_request).await;
    let body = match response {
        Ok(r) => r.into_body().collect().await.map(|c| c.to_bytes()).ok(),
        Err(never) => match never {},
    };
    assert_eq!(body.as_deref(), Some(&b"None"[..]));

    let bad = Request::post("/misconfigured")
        .body(Body::empty())
        .unwrap_or_default();
    let response = app.oneshot(bad).await.map(|r| r.status());
    assert_eq!(response.ok(), Some(StatusCode::UNAUTHORIZED));
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let id = client_id();
    let secrets = StaticSecrets::from_iter([(id, SECRET)]);
    let outputs = [
        format!("{:?}", HmacAuth::new(SECRET)),
        format!("{:?}", layer(HmacAuth::new(SECRET))),
        format!("{:?}", MultiClientHmacAuth::new(secrets.clone())),
        format!("{secrets:?}"),
        format!("{:?}", crate::auth::SigningKey::new(SECRET)),
        format!(
            "{:?}",
            HmacAuthLayer::new(HmacAuth::new(SECRET)).layer(tower::service_fn(echo))
        ),
        format!("{:?}", AuthError::invalid_signature()),
    ];
    for text in outputs {
        assert!(!text.contains(SECRET) && !text.contains("9f2c"), "{text}");
    }
    assert!(format!("{secrets:?}").contains(&id.to_string()));
    assert_eq!(
        AuthError::invalid_signature().kind(),
        AuthErrorKind::InvalidSignature
    );
}

#[tokio::test]
async fn a_hybrid_layer_lets_what_another_authentication_accepted_through_unsigned() {
    #[derive(Clone)]
    struct Admin;
    let hybrid =
        || layer(HmacAuth::new(SECRET)).accepting(|p| p.extensions.get::<Admin>().is_some());
    let mut marked = Request::post("/echo")
        .body(Body::from(&b"hi"[..]))
        .unwrap_or_default();
    marked.extensions_mut().insert(Admin);
    assert_eq!(
        send(hybrid(), marked).await,
        (StatusCode::OK, "|hi".to_owned()),
        "through, with the body and no verified client"
    );
    let unmarked = Request::post("/echo")
        .body(Body::from(&b"hi"[..]))
        .unwrap_or_default();
    assert_eq!(send(hybrid(), unmarked).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(hybrid(), signed(SECRET, b"hi", NOW)).await,
        (StatusCode::OK, format!("{}|hi", client_id())),
        "signed requests are verified as before"
    );
}
