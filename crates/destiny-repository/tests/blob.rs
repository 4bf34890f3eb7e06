//! The blob routes as a robot sees them: real HTTP on a free port, real files, an
//! injected clock.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use destiny_repository::blob::{
    self, signing::SIGNING_KEY_FILE, BlobConfig, BlobKey, BlobState, BlobStore, Permission,
    UrlSigner,
};
use destiny_repository::clock::ManualClock;
use futures_util::StreamExt;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any step may take before the test fails (a deadline, never a sleep).
const DEADLINE: Duration = Duration::from_secs(20);

struct TestServer {
    /// `http://127.0.0.1:<port>`.
    base: String,
    addr: SocketAddr,
    state: BlobState,
    clock: ManualClock,
    client: reqwest::Client,
    /// Holds the blob root (`<dir>/blobs`) and a file outside it.
    dir: tempfile::TempDir,
}

impl TestServer {
    async fn start(config: BlobConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, config).await
    }

    async fn start_in(dir: tempfile::TempDir, config: BlobConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let root = dir.path().join("blobs");
        let store = BlobStore::open_root(&root).await.unwrap();
        let signer = UrlSigner::load_or_create(&root)
            .unwrap()
            .with_public_base(&base);
        let clock = ManualClock::new(jiff::Timestamp::from_second(1_733_380_000).unwrap());
        let state = BlobState::new(store, signer, config, Arc::new(clock.clone()));
        let app = blob::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            addr,
            state,
            clock,
            client: reqwest::Client::new(),
            dir,
        }
    }

    fn root(&self) -> PathBuf {
        self.state
            .store()
            .root()
            .expect("a file:// store")
            .to_path_buf()
    }

    fn url(&self, key: &str, permission: Permission) -> String {
        let url = self
            .state
            .signed_url(&BlobKey::new(key).unwrap(), permission);
        assert!(url.starts_with(&self.base));
        url
    }

    async fn put(&self, url: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", "application/jsonl")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Every file and directory under the blob root other than the signing key.
    fn blob_files(&self) -> Vec<String> {
        let root = self.root();
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path.clone());
                }
                let rel = path.strip_prefix(&root).unwrap().display().to_string();
                if rel != SIGNING_KEY_FILE {
                    out.push(rel);
                }
            }
        }
        out.sort();
        out
    }

    /// Regular files only (directories made by a refused upload may remain).
    fn regular_files(&self) -> Vec<String> {
        let root = self.root();
        self.blob_files()
            .into_iter()
            .filter(|rel| root.join(rel).is_file())
            .collect()
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Sends `request` on a fresh connection and reads the whole response.
async fn raw_request(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("server answered in time")
        .unwrap();
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

/// Polls `condition` until it holds or [`DEADLINE`] passes.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn put_then_get_round_trip() {
    let server = TestServer::start(BlobConfig::default()).await;
    let key = "batches/6f1c5c7e/results.jsonl";
    let content = "{\"a\":1}\n{\"b\":2}\n";
    let response = server
        .put(&server.url(key, Permission::Write), content)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.bytes().await.unwrap().len(), 0);

    let read = server.url(key, Permission::Read);
    let response = server.client.get(&read).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/jsonl");
    assert_eq!(
        response.headers()["content-length"],
        content.len().to_string()
    );
    assert_eq!(response.text().await.unwrap(), content);

    let head = server.client.head(&read).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], content.len().to_string());
    assert!(head.bytes().await.unwrap().is_empty());

    // A second PUT replaces the blob.
    let response = server
        .put(&server.url(key, Permission::Write), "new\n")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let text = destiny_testkit::fetch_text(&server.client, &read).await;
    assert_eq!(text, "new\n");
    assert_eq!(server.regular_files(), [key]);
}

/// Line `i` of the large file: about 2 KB of JSON.
fn line(i: usize) -> Bytes {
    let pad = "x".repeat(1_900 + i % 97);
    Bytes::from(format!(
        "{{\"reference_id\":\"ref-{i:08}\",\"n\":{i},\"pad\":\"{pad}\"}}\n"
    ))
}

#[tokio::test]
async fn a_ten_thousand_line_file_streams_both_ways() {
    let server = TestServer::start(BlobConfig::default()).await;
    let lines = 10_000;
    let mut expected = Sha256::new();
    let mut expected_len = 0;
    for i in 0..lines {
        let l = line(i);
        expected_len += l.len();
        expected.update(&l);
    }
    assert!(expected_len > 19_000_000, "{expected_len}");

    // Generated on the fly: the whole file never exists in memory on either side.
    let body = futures_util::stream::iter((0..lines).map(|i| Ok::<_, std::io::Error>(line(i))));
    let key = "batches/big/references.jsonl";
    let response = server
        .put(
            &server.url(key, Permission::Write),
            reqwest::Body::wrap_stream(body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let response = server
        .client
        .get(server.url(key, Permission::Read))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(expected_len as u64));
    let mut stream = response.bytes_stream();
    let (mut actual, mut len, mut newlines) = (Sha256::new(), 0, 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len();
        newlines += chunk.iter().filter(|&&b| b == b'\n').count();
        actual.update(&chunk);
    }
    assert_eq!((len, newlines), (expected_len, lines));
    assert_eq!(actual.finalize(), expected.finalize());
}

#[tokio::test]
async fn put_requires_block_blob_type() {
    let server = TestServer::start(BlobConfig::default()).await;
    let url = server.url("k.jsonl", Permission::Write);
    for blob_type in [None, Some("AppendBlob"), Some("blockblob")] {
        let mut request = server.client.put(&url).body("x\n");
        if let Some(t) = blob_type {
            request = request.header("x-ms-blob-type", t);
        }
        let (status, detail) = error_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{blob_type:?}");
        assert_eq!(detail, "x-ms-blob-type header must be BlockBlob.");
    }
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn bad_signatures_are_refused_with_the_reason() {
    let server = TestServer::start(BlobConfig::default()).await;
    let key = "a/k.jsonl";
    assert_eq!(
        server
            .put(&server.url(key, Permission::Write), "x\n")
            .await
            .status(),
        StatusCode::CREATED
    );
    let read = server.url(key, Permission::Read);
    let write = server.url(key, Permission::Write);
    let tampered = {
        let (head, last) = read.split_at(read.len() - 1);
        format!("{head}{}", if last == "0" { "1" } else { "0" })
    };
    let other_key = read.replace("/a/k.jsonl?", "/a/other.jsonl?");
    let no_sig = read.split("&sig=").next().unwrap().to_owned();
    let cases = [
        (tampered, "Signature is invalid."),
        (other_key, "Signature is invalid."),
        (read.replace("sp=r", "sp=w"), "Signature is invalid."),
        (write.clone(), "URL does not grant read permission."),
        (
            no_sig,
            "URL is missing the 'sig' parameter; use the signed URL as given.",
        ),
    ];
    for (url, expected) in cases {
        let (status, detail) = error_of(server.client.get(&url).send().await.unwrap()).await;
        assert_eq!(
            (status, detail.as_str()),
            (StatusCode::FORBIDDEN, expected),
            "{url}"
        );
    }
    // A read URL cannot write.
    let (status, detail) = error_of(server.put(&read, "evil\n").await).await;
    assert_eq!(
        (status, detail.as_str()),
        (
            StatusCode::FORBIDDEN,
            "URL does not grant write permission."
        )
    );

    // Valid through the last second, expired after it.
    server.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        server.client.get(&read).send().await.unwrap().status(),
        StatusCode::OK
    );
    server.clock.advance(Duration::from_secs(1));
    let (status, detail) = error_of(server.client.get(&read).send().await.unwrap()).await;
    assert_eq!(
        (status, detail.as_str()),
        (StatusCode::FORBIDDEN, "URL has expired.")
    );
    let (status, detail) = error_of(server.put(&write, "late\n").await).await;
    assert_eq!(
        (status, detail.as_str()),
        (StatusCode::FORBIDDEN, "URL has expired.")
    );
    assert_eq!(
        std::fs::read_to_string(server.root().join("a/k.jsonl")).unwrap(),
        "x\n"
    );
}

#[tokio::test]
async fn missing_blob_is_404() {
    let server = TestServer::start(BlobConfig::default()).await;
    let url = server.url("batches/none/references.jsonl", Permission::Read);
    let (status, detail) = error_of(server.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(detail, "Blob batches/none/references.jsonl does not exist.");
}

#[tokio::test]
async fn traversal_never_reads_outside_the_root() {
    let server = TestServer::start(BlobConfig::default()).await;
    let secret = "TOP-SECRET-OUTSIDE-THE-ROOT";
    std::fs::write(server.dir.path().join("secret.txt"), secret).unwrap();
    // A genuine signature, for a key whose name the attacker then dresses up.
    let url = server.url("secret.txt", Permission::Read);
    let query = url.split_once('?').unwrap().1;
    let paths = [
        "/blobs/../secret.txt",
        "/blobs/a/../../secret.txt",
        "/blobs/%2e%2e/secret.txt",
        "/blobs/%2E%2E%2Fsecret.txt",
        "/blobs/a/%2e%2e/%2e%2e/secret.txt",
        "/blobs//secret.txt",
        "/blobs/%2F..%2Fsecret.txt",
        "/blobs/..%5Csecret.txt",
        "/blobs/.signing-key",
    ];
    for path in paths {
        for method in ["GET", "PUT"] {
            let request = format!(
                "{method} {path}?{query} HTTP/1.1\r\nhost: x\r\nx-ms-blob-type: BlockBlob\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let (status, body) = raw_request(server.addr, request.as_bytes()).await;
            assert!(
                matches!(status, 400 | 404),
                "{method} {path}: {status} {body}"
            );
            assert!(!body.contains(secret), "{method} {path}: {body}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(server.dir.path().join("secret.txt")).unwrap(),
        secret
    );
    assert!(server.blob_files().is_empty());
}

#[tokio::test]
async fn the_signing_key_is_not_servable() {
    let server = TestServer::start(BlobConfig::default()).await;
    let key = std::fs::read(server.root().join(SIGNING_KEY_FILE)).unwrap();
    assert_eq!(key.len(), 32);
    let url = format!(
        "{}/blobs/{SIGNING_KEY_FILE}?sp=r&se=9999999999&sig=00",
        server.base
    );
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.bytes().await.unwrap();
    assert!(!body.windows(key.len()).any(|w| w == key));
    assert!(String::from_utf8_lossy(&body).contains("may not start with '.'"));
}

#[tokio::test]
async fn oversize_uploads_are_413_and_leave_nothing() {
    let config = BlobConfig {
        max_upload_bytes: 1024,
        ..BlobConfig::default()
    };
    let server = TestServer::start(config).await;
    let url = server.url("big/file.jsonl", Permission::Write);
    // Declared too large: refused before reading.
    let (status, detail) = error_of(server.put(&url, vec![b'x'; 4096]).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(detail, "Blob is larger than the limit of 1024 bytes.");
    // Chunked, no length: refused when the count passes the limit.
    let chunks =
        futures_util::stream::iter((0..3).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 600])));
    let response = server.put(&url, reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        server.regular_files().is_empty(),
        "{:?}",
        server.blob_files()
    );
    // Exactly the limit is fine.
    assert_eq!(
        server.put(&url, vec![b'z'; 1024]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(server.regular_files(), ["big/file.jsonl"]);
}

fn partial_put(path_and_query: &str, declared: usize, sent: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "PUT {path_and_query} HTTP/1.1\r\nhost: x\r\nx-ms-blob-type: BlockBlob\r\n\
         content-length: {declared}\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(sent);
    request
}

#[tokio::test]
async fn a_stalled_upload_times_out_and_leaves_nothing() {
    let config = BlobConfig {
        body_idle_timeout: Duration::from_millis(300),
        ..BlobConfig::default()
    };
    let server = TestServer::start(config).await;
    let url = server.url("slow.jsonl", Permission::Write);
    let path = url.strip_prefix(&server.base).unwrap();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(&partial_put(path, 100, b"0123456789"))
        .await
        .unwrap();
    // Keep the connection open, sending nothing more: the server gives up.
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .expect("server answered in time")
        .unwrap();
    let (status, body) = parse_response(&response);
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("Upload stalled"), "{body}");
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test]
async fn a_client_that_disconnects_leaves_no_partial_file() {
    let server = TestServer::start(BlobConfig::default()).await;
    let url = server.url("batches/b/results.jsonl", Permission::Write);
    let path = url.strip_prefix(&server.base).unwrap();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(&partial_put(path, 1_000_000, &[b'x'; 10_000]))
        .await
        .unwrap();
    eventually("the upload's temporary file exists", || {
        server
            .regular_files()
            .iter()
            .any(|f| f.contains("/.results.jsonl."))
    })
    .await;
    drop(stream);
    eventually("the temporary file is removed", || {
        server.regular_files().is_empty()
    })
    .await;
    assert!(!server.root().join("batches/b/results.jsonl").exists());
}

#[tokio::test]
async fn urls_survive_a_restart() {
    let first = TestServer::start(BlobConfig::default()).await;
    let write = first.url("k.jsonl", Permission::Write);
    let path = write.strip_prefix(&first.base).unwrap().to_owned();
    let dir = first.dir;
    let second = TestServer::start_in(dir, BlobConfig::default()).await;
    let url = format!("{}{path}", second.base);
    assert_eq!(
        second.put(&url, "again\n").await.status(),
        StatusCode::CREATED
    );
    assert!(Path::new(&second.root().join("k.jsonl")).exists());
}

/// Several instances share a `file://` directory and each sweeps it at start-up: a
/// temporary file whose writer lives (in any process) is kept whatever its age, one whose
/// writer is gone is removed.
#[tokio::test]
async fn a_sweep_keeps_a_live_writers_temporary_file_and_removes_a_dead_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ours = BlobStore::open_root(dir.path()).await.unwrap();
    let theirs = BlobStore::open_root(dir.path()).await.unwrap();
    let key = BlobKey::new("batches/b1/results.jsonl").unwrap();
    let mut live = ours.create(&key).await.unwrap();
    live.write(b"{}\n").await.unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(theirs.remove_stale_temporary_files(later).await.unwrap(), 0);
    assert_eq!(blob::store::temporary_files(dir.path()).unwrap().len(), 1);
    live.commit().await.unwrap();
    assert_eq!(ours.len(&key).await.unwrap(), 3);

    // A writer that died: its temporary file is no longer locked.
    let dead = dir.path().join("batches/b1/.results.jsonl.0123.tmp");
    std::fs::write(&dead, b"half").unwrap();
    assert_eq!(theirs.remove_stale_temporary_files(later).await.unwrap(), 1);
    assert!(!dead.exists());
}
