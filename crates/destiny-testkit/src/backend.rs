//! The two database engines and a database of a test's own on either.

use std::path::Path;

use crate::scratch_db;

/// Runs each named scenario `async fn name(backend: Backend)` as two tests,
/// `sqlite::name` and `postgres::name`.
///
/// ```ignore
/// use destiny_testkit::{on_both_backends, Backend};
/// on_both_backends!(robots_register);
/// async fn robots_register(backend: Backend) { /* ... */ }
/// ```
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::skip_postgres() {
                        return;
                    }
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// The database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the `DESTINY_TEST_POSTGRES` server.
    Postgres,
}

/// Whether PostgreSQL tests are to be skipped: only when `DESTINY_SKIP_POSTGRES=1`.
///
/// # Panics
/// When `DESTINY_TEST_POSTGRES` is unset and skipping was not asked for, so a missing
/// database can never pass silently.
pub fn skip_postgres() -> bool {
    if std::env::var("DESTINY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        eprintln!("DESTINY_SKIP_POSTGRES=1: PostgreSQL test skipped");
        return true;
    }
    postgres_admin_url();
    false
}

/// The URL of the test PostgreSQL server (a user that may `CREATE DATABASE`).
///
/// # Panics
/// When `DESTINY_TEST_POSTGRES` is unset.
pub fn postgres_admin_url() -> String {
    match std::env::var("DESTINY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DESTINY_TEST_POSTGRES is not set: the PostgreSQL tests need a server whose user may \
             CREATE DATABASE, e.g. DESTINY_TEST_POSTGRES=$(scripts/pg start) (scripts/test does \
             this), or set DESTINY_SKIP_POSTGRES=1 to skip them"
        ),
    }
}

/// A database of the test's own, dropped (on PostgreSQL) when the guard goes.
pub struct TestDb {
    /// What to give `--database`.
    pub url: String,
    /// The engine.
    pub backend: Backend,
    /// The PostgreSQL database's name, to drop.
    pg_name: Option<String>,
}

impl TestDb {
    /// A fresh database: a SQLite file in `dir`, or `CREATE DATABASE test_<uuid>`.
    pub async fn create(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.join("destiny.db").display()),
                backend,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let (url, name) = scratch_db::create_database(&admin, "test")
                    .await
                    .unwrap_or_else(|e| panic!("cannot create a database on {admin}: {e}"));
                Self {
                    url,
                    backend,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A direct connection pool to the database, for assertions in SQL.
    pub async fn pool(&self) -> sqlx::AnyPool {
        crate::sql::connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop it from a thread of its own: this may run inside (or outside) a runtime.
        let dropping = name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(scratch_db::drop_database(&admin, &dropping))
                .ok()
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {name}");
        }
    }
}
