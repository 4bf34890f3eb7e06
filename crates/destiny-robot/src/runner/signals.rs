//! SIGINT and SIGTERM: the first stops polling and drains; a second abandons in-flight
//! batches at once.

use tokio_util::sync::CancellationToken;

/// Cancels `shutdown` on the first signal and `abandon` on the second.
pub(super) async fn watch(shutdown: CancellationToken, abandon: CancellationToken) {
    let mut signals = Signals::new();
    let name = signals.next().await;
    tracing::info!(
        signal = name,
        "stopping: no more polls; finishing in-flight batches"
    );
    shutdown.cancel();
    let name = signals.next().await;
    tracing::warn!(signal = name, "second signal: abandoning in-flight batches");
    abandon.cancel();
}

/// The process's SIGINT and SIGTERM.
struct Signals {
    /// SIGTERM's stream (`None` if it could not be installed, or not on Unix).
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = match signal(SignalKind::terminate()) {
                Ok(s) => Some(s),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM");
                    None
                }
            };
            Self { term }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        let term = async {
            match self.term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if let Err(error) = r {
                    tracing::warn!(%error, "cannot listen for SIGINT");
                    std::future::pending::<()>().await;
                }
                "SIGINT"
            }
            () = term => "SIGTERM",
        }
    }
}
