//! Reads of a test's own database, on either backend: the rows, the one row or the one
//! value a query answers, with text bound to `$1`, `$2`, … in order, and the reads many
//! tests make ([`batch_import`]). A failed query fails the test, naming its SQL.

use sqlx::any::AnyRow;
use sqlx::AnyPool;
use uuid::Uuid;

/// A small pool (two connections) on the database at `url`, for assertions in SQL.
pub async fn connect(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
}

/// `sql` with `binds` bound in order.
fn query<'q>(
    sql: &'q str,
    binds: &[&str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    binds
        .iter()
        .fold(sqlx::query(sql), |q, b| q.bind((*b).to_owned()))
}

/// Every row `sql` answers.
pub async fn rows(pool: &AnyPool, sql: &str, binds: &[&str]) -> Vec<AnyRow> {
    query(sql, binds).fetch_all(pool).await.expect(sql)
}

/// The one row `sql` answers.
pub async fn row(pool: &AnyPool, sql: &str, binds: &[&str]) -> AnyRow {
    query(sql, binds).fetch_one(pool).await.expect(sql)
}

/// The first column of every row `sql` answers.
pub async fn column<T>(pool: &AnyPool, sql: &str, binds: &[&str]) -> Vec<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    rows(pool, sql, binds)
        .await
        .iter()
        .map(|r| r.try_get(0).expect("a value of the type asked for"))
        .collect()
}

/// The first column of the one row `sql` answers (a `COUNT(*)`, say).
pub async fn scalar<T>(pool: &AnyPool, sql: &str, binds: &[&str]) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row(pool, sql, binds)
        .await
        .try_get(0)
        .expect("a value of the type asked for")
}

/// Where the import of `batch` stands: its `import_state` and `import_attempts`.
pub async fn batch_import(pool: &AnyPool, batch: Uuid) -> (String, i64) {
    use sqlx::Row;
    let import = "SELECT import_state, CAST(import_attempts AS BIGINT) FROM batches WHERE id = $1";
    let row = row(pool, import, &[&batch.to_string()]).await;
    (row.get(0), row.get(1))
}

/// The pending enhancements of `request` by status, in status order.
pub async fn statuses(pool: &AnyPool, request: uuid::Uuid) -> Vec<(String, i64)> {
    use sqlx::Row;
    let by_status = "SELECT status, COUNT(*) AS n FROM pending_enhancements \
                     WHERE request_id = $1 GROUP BY status ORDER BY status";
    rows(pool, by_status, &[&request.to_string()])
        .await
        .iter()
        .map(|r| (r.get("status"), r.get("n")))
        .collect()
}
