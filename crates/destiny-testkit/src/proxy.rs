//! A TCP proxy in front of the test PostgreSQL server that the test can cut and restore,
//! to make the database unreachable without touching the shared cluster: while down it
//! accepts connections and closes them at once, and cuts every connection it carries.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// `true` while the upstream is reachable through the proxy; each change to `false`
    /// cuts the connections carried so far.
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 forwarding to `upstream`, up.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, watch_up) = watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if !*watch_up.borrow() {
                    drop(client);
                    continue;
                }
                let mut cut = watch_up.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up, task }
    }

    /// A proxy in front of the database server of `url` (`postgres://user@host:port/db`),
    /// and `url` through it.
    pub async fn in_front_of(url: &str) -> (Self, String) {
        let upstream = tokio::net::lookup_host(host_port(url))
            .await
            .expect("resolve the database server")
            .next()
            .expect("an address");
        let proxy = Self::start(upstream).await;
        let proxied = with_host_port(url, &proxy.addr.to_string());
        (proxy, proxied)
    }

    /// Makes the upstream unreachable (and cuts live connections).
    pub fn down(&self) {
        let _ = self.up.send(false);
    }

    /// Makes the upstream reachable again.
    pub fn up(&self) {
        let _ = self.up.send(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.up.send(false);
    }
}

/// The host:port of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority)
        .to_owned()
}

/// `url` with its host:port replaced.
fn with_host_port(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!(
        "{scheme}://{}{host_port}{}",
        user.unwrap_or_default(),
        &rest[end..]
    )
}
