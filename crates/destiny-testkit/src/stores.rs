//! The object stores of the `--blob-store az://` and `s3://` tests: Azurite and moto's
//! S3 server, named by `DESTINY_TEST_AZURITE` and `DESTINY_TEST_S3` (base URLs, such as
//! `http://127.0.0.1:10000`; `scripts/stores start` starts both and prints them, and
//! `scripts/test` does this). Without them these tests FAIL, unless
//! `DESTINY_SKIP_STORES=1` says to skip them.
//!
//! The server reads the store's credentials from the environment, as the `object_store`
//! crate does; [`azurite_container`] and [`s3_bucket`] set them for this process (nextest
//! runs each test in a process of its own).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Azurite's account, and its well-known key (published with the emulator).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The Blob service version the container is created with.
const AZURE_VERSION: &str = "2021-08-06";

/// The base URL in `var`, or `None` when `DESTINY_SKIP_STORES=1` says to skip.
///
/// # Panics
/// When `var` is unset and skipping was not asked for, so a missing emulator can never
/// pass silently.
fn store_url(var: &str, what: &str) -> Option<String> {
    if std::env::var("DESTINY_SKIP_STORES").is_ok_and(|v| v == "1") {
        eprintln!("DESTINY_SKIP_STORES=1: {what} test skipped");
        return None;
    }
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => panic!(
            "{var} is not set: the {what} tests need it, e.g. eval \"$(scripts/stores start)\" \
             (scripts/test does this), or set DESTINY_SKIP_STORES=1 to skip them"
        ),
    }
}

/// A fresh container on the Azurite of `DESTINY_TEST_AZURITE`, with this process's
/// environment pointed at the emulator; answers its name (give the server
/// `az://NAME`), or `None` when skipping.
///
/// # Panics
/// When Azurite does not create the container.
pub async fn azurite_container() -> Option<String> {
    let base = store_url("DESTINY_TEST_AZURITE", "Azurite")?;
    std::env::set_var("AZURE_STORAGE_USE_EMULATOR", "true");
    std::env::set_var("AZURITE_BLOB_STORAGE_URL", &base);
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let response = reqwest::Client::new()
        .put(format!("{base}/{AZURITE_ACCOUNT}/{name}?restype=container"))
        .header("x-ms-date", &date)
        .header("x-ms-version", AZURE_VERSION)
        .header("content-length", "0")
        .header("authorization", shared_key("PUT", &date, &name))
        .send()
        .await
        .expect("Azurite answers");
    assert_eq!(response.status(), 201, "create container: {response:?}");
    Some(name)
}

/// The Shared Key authorization of a Create Container request (the emulator's path has
/// the account twice: once as the host part, once as the path's).
fn shared_key(verb: &str, date: &str, container: &str) -> String {
    let to_sign = format!(
        "{verb}\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{AZURE_VERSION}\n\
         /{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(AZURITE_KEY).expect("the emulator key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(to_sign.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("SharedKey {AZURITE_ACCOUNT}:{signature}")
}

/// A fresh bucket on the S3 server of `DESTINY_TEST_S3` (moto), with this process's
/// environment pointed at it; answers its name (give the server `s3://NAME`), or `None`
/// when skipping.
///
/// # Panics
/// When the server does not create the bucket.
pub async fn s3_bucket() -> Option<String> {
    let base = store_url("DESTINY_TEST_S3", "S3")?;
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", base.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ] {
        std::env::set_var(k, v);
    }
    let name = format!("test-{}", uuid::Uuid::new_v4().simple());
    // moto takes an unsigned Create Bucket.
    let response = reqwest::Client::new()
        .put(format!("{base}/{name}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        response.status().is_success(),
        "create bucket: {response:?}"
    );
    Some(name)
}

/// The multipart uploads started and neither completed nor aborted in `bucket` on the S3
/// server of `DESTINY_TEST_S3` (moto answers an unsigned List Multipart Uploads).
///
/// # Panics
/// When the server does not answer.
pub async fn s3_open_uploads(bucket: &str) -> usize {
    let base = std::env::var("DESTINY_TEST_S3").expect("DESTINY_TEST_S3");
    let base = base.trim_end_matches('/');
    let listing = reqwest::Client::new()
        .get(format!("{base}/{bucket}?uploads"))
        .send()
        .await
        .expect("the S3 server answers")
        .text()
        .await
        .expect("a listing");
    assert!(
        listing.contains("ListMultipartUploadsResult"),
        "not a listing: {listing}"
    );
    listing.matches("<Upload>").count()
}
