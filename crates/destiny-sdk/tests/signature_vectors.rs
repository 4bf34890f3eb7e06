//! Every vector of `../shared/fixtures/signature-vectors.json` (computed with the Python
//! destiny_sdk 0.7.4): the signature, the signed timestamp text, and verification through
//! the real layer with the clock pinned at the vector's timestamp.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use destiny_sdk::auth::{
    create_signature, pyfloat, HmacAuth, HmacAuthLayer, HmacAuthMethod, MultiClientHmacAuth,
    StaticSecrets, VerifiedClient,
};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Fixture {
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
struct Vector {
    secret: String,
    body_utf8: String,
    client_id: Uuid,
    timestamp_header: String,
    signed_timestamp_text: String,
    signature: String,
}

fn fixture() -> Fixture {
    let path = destiny_testkit::fixture("signature-vectors.json");
    let text = destiny_testkit::fixture_text("signature-vectors.json");
    let fixture: Fixture = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not the expected JSON: {err}", path.display()));
    assert!(
        !fixture.vectors.is_empty(),
        "{} has no vectors",
        path.display()
    );
    fixture
}

/// Answers `<verified client id>` so the test sees who got through.
async fn who(request: Request<Body>) -> Result<Response, Infallible> {
    let client = request.extensions().get::<VerifiedClient>().copied();
    Ok(client
        .map(|c| c.client_id().to_string())
        .unwrap_or_default()
        .into_response())
}

async fn verify<A: HmacAuthMethod>(
    auth: A,
    vector: &Vector,
    signature: &str,
    body: &str,
) -> (StatusCode, String) {
    let timestamp = pyfloat::parse(&vector.timestamp_header).unwrap_or(f64::NAN);
    let request = Request::post("/v1/robot-enhancement-batches/")
        .header("authorization", format!("Signature {signature}"))
        .header("x-client-id", vector.client_id.to_string())
        .header("x-request-timestamp", &vector.timestamp_header)
        .body(Body::from(body.to_owned()))
        .unwrap_or_default();
    let service = ServiceBuilder::new()
        .layer(HmacAuthLayer::new(auth).with_clock(move || timestamp))
        .service_fn(who);
    let response = match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = response.into_body().collect().await.map(|c| c.to_bytes());
    let text = String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
    (status, text)
}

#[test]
fn signatures_and_signed_timestamp_text_match_python() {
    for vector in fixture().vectors {
        let timestamp = pyfloat::parse(&vector.timestamp_header)
            .unwrap_or_else(|err| panic!("{vector:?}: {err}"));
        assert_eq!(
            pyfloat::repr(timestamp),
            vector.signed_timestamp_text,
            "{vector:?}"
        );
        let signature = create_signature(
            &vector.secret,
            vector.body_utf8.as_bytes(),
            &vector.client_id,
            timestamp,
        );
        assert_eq!(signature, vector.signature, "{vector:?}");
    }
}

#[tokio::test]
async fn vectors_verify_through_the_layer() {
    for vector in fixture().vectors {
        let ok = (StatusCode::OK, vector.client_id.to_string());
        let single = HmacAuth::new(vector.secret.as_str());
        let got = verify(single, &vector, &vector.signature, &vector.body_utf8).await;
        assert_eq!(got, ok, "{vector:?}");

        let secrets = StaticSecrets::from_iter([(vector.client_id, vector.secret.as_str())]);
        let multi = MultiClientHmacAuth::new(secrets);
        let got = verify(multi, &vector, &vector.signature, &vector.body_utf8).await;
        assert_eq!(got, ok, "{vector:?}");

        // The same vector with one body byte changed must fail.
        let tampered = format!("{} ", vector.body_utf8);
        let single = HmacAuth::new(vector.secret.as_str());
        let got = verify(single, &vector, &vector.signature, &tampered).await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{vector:?}");
    }
}
