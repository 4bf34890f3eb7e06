//! Scratch PostgreSQL databases for the tests and benches: created on the server of an
//! admin URL under a fresh name, dropped afterwards.

use sqlx::Connection;
use uuid::Uuid;

/// `url` with its database name replaced by `name` (the query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let rest = base
        .split_once("://")
        .map(|(_, r)| r)
        .expect("a postgres:// URL");
    let prefix_len = base.len() - rest.len();
    let host_part = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{}{host_part}/{name}", &base[..prefix_len]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `CREATE DATABASE <prefix>_<uuid>` on the server of `admin`; returns its URL and name.
///
/// # Errors
/// The server is unreachable or refuses.
pub async fn create_database(admin: &str, prefix: &str) -> Result<(String, String), sqlx::Error> {
    let name = format!("{prefix}_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok((with_database(admin, &name), name))
}

/// `DROP DATABASE IF EXISTS <name> WITH (FORCE)` on the server of `admin`.
///
/// # Errors
/// The server is unreachable or refuses.
pub async fn drop_database(admin: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::postgres::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}
