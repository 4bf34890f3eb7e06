//! Waiting for something asynchronous, with a deadline rather than a sleep.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How long anything asynchronous may take before a test fails (a deadline, not a sleep).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How often [`eventually`] checks again.
const EVERY: Duration = Duration::from_millis(20);

/// Waits until `check` is true, checking every 20 ms; fails the test after `within`,
/// naming `what`.
///
/// # Panics
/// When `within` runs out first.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, within, || {
        let answer = check();
        async move { answer.await.then_some(()) }
    })
    .await;
}

/// Waits until `check` answers `Some`, checking every 20 ms, and answers its value;
/// fails the test after `within`, naming `what`.
///
/// # Panics
/// When `within` runs out first.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(EVERY).await;
    }
}

/// Waits until `check` is true, checking again each time `changes` moves (a server's count
/// of committed changes: [`AppState::changes`](destiny_repository::api::AppState::changes)),
/// never on a timer; fails the test after `within`, naming `what`.
///
/// # Panics
/// When `within` runs out first, or the server stops.
pub async fn on_change<F, Fut>(
    what: &str,
    within: Duration,
    mut changes: watch::Receiver<u64>,
    mut check: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Marked seen before the check: a change during it wakes the next wait.
        changes.borrow_and_update();
        if check().await {
            return;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the server stopped while waiting for {what}"),
            Err(_) => panic!("timed out after {within:?} waiting for {what}"),
        }
    }
}
