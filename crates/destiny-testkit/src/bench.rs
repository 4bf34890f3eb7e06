//! What the repository's benches read from their environment.

use std::str::FromStr;

/// The PostgreSQL server to measure on as well as SQLite: `DESTINY_BENCH_POSTGRES`, else
/// `DESTINY_TEST_POSTGRES`; without either (or with it empty) none, said on stderr.
pub fn postgres() -> Option<String> {
    let url = std::env::var("DESTINY_BENCH_POSTGRES")
        .or_else(|_| std::env::var("DESTINY_TEST_POSTGRES"))
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("no DESTINY_BENCH_POSTGRES / DESTINY_TEST_POSTGRES: SQLite only");
    }
    url
}

/// The comma-separated values of environment variable `name`, or of `default` when it is
/// unset.
///
/// # Errors
/// When a value does not parse.
pub fn list<T: FromStr>(name: &str, default: &str) -> Result<Vec<T>, T::Err> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect()
}
