//! Limits and shutdown of the HTTP server: connections over `max_connections` wait in the
//! accept queue until one closes; on shutdown nothing new is accepted, a request in
//! flight that finishes within `shutdown_grace` is answered, and one that does not is cut
//! off when the grace period ends (rather than holding the server until its own
//! timeouts).

mod common;

use common::{Backend, Options, Server};
use destiny_repository::clock::SystemClock;
use destiny_repository::config::Config;
use destiny_repository::server::{prepare, Jobs};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /v1/system/healthcheck/ HTTP/1.1\r\nHost: t\r\n\r\n";

/// The first bytes of an answer on `stream`, or `None` if none comes within `within`.
async fn answer_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(_) => Some(String::new()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let s = Server::start(
        Backend::Sqlite,
        Options {
            tweak: Box::new(|c| c.max_connections = 2),
            ..Options::default()
        },
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Two connections hold both slots, sending nothing.
    let first = TcpStream::connect(&addr).await.expect("connect");
    let second = TcpStream::connect(&addr).await.expect("connect");
    // A third is queued by the system: its request gets no answer while they stay open.
    let mut third = TcpStream::connect(&addr).await.expect("connect");
    third.write_all(HEALTH).await.expect("write");
    assert_eq!(
        answer_within(&mut third, Duration::from_millis(300)).await,
        None,
        "answered over the cap"
    );
    // One closes: the third is accepted and answered.
    drop(first);
    let answer = answer_within(&mut third, common::DEADLINE)
        .await
        .expect("an answer once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_what_finishes_in_the_grace_period_and_cuts_off_the_rest() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = Config::new(
        format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        dir.path().join("blobs"),
    );
    config.listen = "127.0.0.1:0".parse().expect("address");
    config.admin_token = Some(destiny_sdk::secret::Secret::new("admin"));
    let grace = Duration::from_millis(500);
    config.shutdown_grace = grace;
    // A stalled body would hold its request for an hour: only the grace period ends it.
    config.body_idle_timeout = Duration::from_secs(3600);
    let prepared = prepare(config, Arc::new(SystemClock)).await.expect("start");
    let addr = prepared.addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(prepared.serve_with(Jobs::ALL, async move {
        let _ = stopped.await;
    }));

    // Two requests in flight, each with half its body sent.
    let body = br#"[{"identifiers":[{"identifier_type":"doi","identifier":"10.1/x"}]}]"#;
    let head = format!(
        "POST /v1/references/ HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer admin\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (half, rest) = body.split_at(body.len() / 2);
    let mut finishing = TcpStream::connect(addr).await.expect("connect");
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    for stream in [&mut finishing, &mut stalled] {
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(half).await.expect("half a body");
    }
    // Both are in the server's hands before it is told to stop: the gauge counts them
    // and the scrape asking for it.
    common::eventually("both requests in flight", common::DEADLINE, || async {
        let text = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.contains("destiny_http_requests_in_flight 3\n")
    })
    .await;
    for stream in [&mut finishing, &mut stalled] {
        assert_eq!(
            answer_within(stream, Duration::from_millis(100)).await,
            None,
            "nothing answered before the body is complete"
        );
    }

    let asked = Instant::now();
    stop.send(()).expect("the server runs");
    // Nothing new is accepted once it stops (the listener closes).
    common::eventually("the listener closed", common::DEADLINE, || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    // One request finishes within the grace period and is answered.
    finishing
        .write_all(rest)
        .await
        .expect("the rest of the body");
    let answer = answer_within(&mut finishing, common::DEADLINE)
        .await
        .expect("answered while draining");
    assert!(answer.starts_with("HTTP/1.1 "), "{answer:?}");
    // The other never finishes: the server stops once the grace period ends, not when
    // its 60 s body timeout would.
    served.await.expect("joined").expect("served");
    let took = asked.elapsed();
    assert!(
        took >= grace,
        "stopped before the grace period ended: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(
        answer_within(&mut stalled, common::DEADLINE).await,
        Some(String::new()),
        "the stalled request's connection is closed without an answer"
    );
}
