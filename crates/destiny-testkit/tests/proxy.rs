//! The proxy's modes against a one-answer HTTP server.

use std::time::Duration;

use destiny_testkit::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server answering every connection's first request with `200 ok`.
async fn http_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn answers_pass_until_held_then_are_kept_from_the_client() {
    let proxy = Proxy::start(http_server().await).await;
    let url = format!("http://{}/", proxy.addr);
    let http = reqwest::Client::new();
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(text, "ok");

    proxy.hold_answers();
    let http = reqwest::Client::new();
    let get = tokio::spawn(async move { http.get(&url).send().await });
    tokio::time::timeout(Duration::from_secs(10), proxy.answer_held())
        .await
        .expect("the answer held");
    assert!(!get.is_finished(), "the client saw something: {get:?}");
    drop(proxy);
    let got = get.await.unwrap();
    assert!(got.is_err(), "{got:?}");
}
