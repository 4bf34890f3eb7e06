//! A TCP proxy the test can cut, restore, or make swallow answers:
//! - in front of the test PostgreSQL server, to make the database unreachable without
//!   touching the shared cluster: while down it accepts connections and closes them at
//!   once, and cuts every connection it carries;
//! - in front of a `destiny serve`, to lose an answer the server has already sent: while
//!   holding, requests go through and what the server sends back is counted, not passed
//!   on (an answer lost with its server, at a moment the test chooses).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// The proxy; stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// `true` while the upstream is reachable through the proxy; each change to `false`
    /// cuts the connections carried so far.
    up: watch::Sender<bool>,
    /// Answers held back rather than passed on.
    held: Arc<Held>,
    task: tokio::task::JoinHandle<()>,
}

/// The answers a holding proxy kept from its clients.
#[derive(Default)]
struct Held {
    /// Whether answers are held now.
    on: AtomicBool,
    /// Bytes held so far.
    bytes: AtomicU64,
    /// Woken on every held chunk.
    more: Notify,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1:0 forwarding to `upstream`, up.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (up, watch_up) = watch::channel(true);
        let held = Arc::new(Held::default());
        let holding = held.clone();
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
                let held = holding.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (from_client, to_client) = client.into_split();
                    let (from_server, to_server) = server.into_split();
                    tokio::select! {
                        _ = pass(from_client, to_server, None) => {}
                        _ = pass(from_server, to_client, Some(&held)) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            held,
            task,
        }
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

    /// From now on, keeps what the upstream sends from the clients (requests still go
    /// through).
    pub fn hold_answers(&self) {
        self.held.on.store(true, Ordering::SeqCst);
    }

    /// Waits until the upstream has sent something while answers are held: an answer
    /// its client will never see.
    pub async fn answer_held(&self) {
        loop {
            let more = self.held.more.notified();
            if self.held.bytes.load(Ordering::SeqCst) > 0 {
                return;
            }
            more.await;
        }
    }
}

/// Copies `from` to `to` until either side closes; with `held` on, counts the bytes
/// instead of writing them.
async fn pass(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    held: Option<&Held>,
) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(held) = held.filter(|h| h.on.load(Ordering::SeqCst)) {
            held.bytes.fetch_add(n as u64, Ordering::SeqCst);
            held.more.notify_waiters();
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
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
