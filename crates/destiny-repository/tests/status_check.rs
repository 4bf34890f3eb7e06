//! The database itself refuses a pending-enhancement status outside the state machine
//! (migration 0004: a CHECK constraint on PostgreSQL, triggers on SQLite), so a statement
//! that bypassed `lifecycle::Transition` could not store one either.

mod common;

use destiny_testkit::on_both_backends;

use common::Backend;

on_both_backends!(a_status_outside_the_state_machine_is_refused);

/// Checks that the database refused a statement through the `pending_status_known` check.
fn assert_refused<T>(result: Result<T, sqlx::Error>) {
    let Err(err) = result else {
        panic!("an unknown status is refused");
    };
    let err = err.to_string();
    assert!(err.contains("pending_status_known"), "{err}");
}

async fn a_status_outside_the_state_machine_is_refused(backend: Backend) {
    let s = common::start(backend).await;
    let (robot, _) = s.robot("checked").await;
    let (_, request) = s.seed(robot.id, 1).await;
    let pool = s.db.pool().await;
    let refused =
        sqlx::query("UPDATE pending_enhancements SET status = 'bogus' WHERE request_id = $1")
            .bind(request.to_string())
            .execute(&pool)
            .await;
    assert_refused(refused);
    let inserted = sqlx::query(
        "INSERT INTO pending_enhancements (id, reference_id, robot_id, request_id, status, \
         created_at, updated_at) SELECT 'x', reference_id, robot_id, request_id, 'done', 0, 0 \
         FROM pending_enhancements WHERE request_id = $1",
    )
    .bind(request.to_string())
    .execute(&pool)
    .await;
    assert_refused(inserted);
    // Every status of the state machine is still accepted.
    for status in destiny_repository::lifecycle::PendingStatus::ALL {
        sqlx::query("UPDATE pending_enhancements SET status = $1 WHERE request_id = $2")
            .bind(status.as_str())
            .bind(request.to_string())
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{status:?}: {e}"));
    }
    pool.close().await;
}
