//! Logs: to stderr when `TEST_LOG` asks, or into a buffer a test reads.

use std::sync::{Arc, Mutex, OnceLock};

/// Logs to stderr when `TEST_LOG` is set (e.g. `TEST_LOG=debug`), else stays quiet.
pub fn init_logging() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A `tracing` writer that appends to a shared buffer, for tests that read the logs.
pub struct LogSink(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged in this process at `level` and above, without colours, in one
/// buffer. The first call sets the process's global subscriber (its `level` holds from
/// then on); every call answers that buffer, and whether the subscriber is the global one
/// (not when another was set first, say by [`init_logging`] under `TEST_LOG`).
pub fn capture_logs(level: tracing::Level) -> (Arc<Mutex<Vec<u8>>>, bool) {
    static LOGS: OnceLock<(Arc<Mutex<Vec<u8>>>, bool)> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(level)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        let installed = tracing::subscriber::set_global_default(subscriber).is_ok();
        (logs, installed)
    })
    .clone()
}
