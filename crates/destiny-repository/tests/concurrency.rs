//! Concurrent polls never lease a pending enhancement twice, and never put two pending
//! enhancements of one reference in one batch: 32 robots' clients polling at once over
//! 5,000 pending enhancements, checked in the database and in the reference files, on
//! SQLite and PostgreSQL.

#[macro_use]
mod common;

use common::{start, Backend, Server, DEADLINE};
use destiny_sdk::client::RobotClient;
use destiny_sdk::models::{ProvisionedRobot, RobotEnhancementBatch};
use serde_json::Value;
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

on_both_backends!(
    thirty_two_pollers_lease_each_pending_enhancement_once,
    two_pending_enhancements_of_a_reference_never_share_a_batch,
);

/// Concurrent clients of one robot.
const POLLERS: usize = 32;
/// Pending enhancements per poll.
const LIMIT: u32 = 50;

/// Runs `POLLERS` clients of `robot`, each polling until it gets 204; answers every
/// batch handed out.
async fn poll_concurrently(s: &Server, robot: &ProvisionedRobot) -> Vec<RobotEnhancementBatch> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..POLLERS {
        let client =
            RobotClient::new(&s.base, robot.client_secret.as_str(), robot.id).expect("a client");
        let robot_id = robot.id;
        tasks.spawn(async move {
            let mut got = Vec::new();
            while let Some(batch) = client
                .poll_robot_enhancement_batch(robot_id, LIMIT, None)
                .await
                .expect("a poll succeeds")
            {
                got.push(batch);
            }
            got
        });
    }
    let mut batches = Vec::new();
    let all = tokio::time::timeout(DEADLINE, async {
        while let Some(done) = tasks.join_next().await {
            batches.extend(done.expect("poller task"));
        }
    });
    all.await.expect("the pollers finish in time");
    batches
}

/// The reference ids listed in a batch's reference file, in order.
async fn reference_file(s: &Server, batch: &RobotEnhancementBatch) -> Vec<Uuid> {
    let text = s
        .http
        .get(batch.reference_storage_url.as_str())
        .send()
        .await
        .expect("GET reference file")
        .error_for_status()
        .expect("reference file 200")
        .text()
        .await
        .expect("reference file body");
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON line")["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid")
        })
        .collect()
}

/// Checks, in the database and the reference files, that every pending enhancement of
/// `robot` was leased exactly once, no batch holds a reference twice, and each batch's
/// file lists exactly the references the database says it leased.
async fn check_leased_once(s: &Server, batches: &[RobotEnhancementBatch], expected: usize) {
    let pool = s.db.pool().await;
    let counts = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM pending_enhancements WHERE status = 'processing') AS processing, \
           (SELECT COUNT(*) FROM pending_enhancements WHERE status <> 'processing') AS other, \
           (SELECT COUNT(*) FROM pending_enhancements WHERE batch_id IS NULL) AS unbatched, \
           (SELECT COUNT(*) FROM batches) AS batches",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    let get = |name: &str| counts.try_get::<i64, _>(name).expect(name);
    assert_eq!(get("processing"), expected as i64, "every one is leased");
    assert_eq!(get("other"), 0, "none is left in another status");
    assert_eq!(get("unbatched"), 0, "every one is in a batch");
    assert_eq!(
        get("batches"),
        batches.len() as i64,
        "every stored batch was handed out (no empty or lost batch)"
    );
    let doubled = sqlx::query(
        "SELECT batch_id, reference_id, COUNT(*) AS n FROM pending_enhancements \
         GROUP BY batch_id, reference_id HAVING COUNT(*) > 1",
    )
    .fetch_all(&pool)
    .await
    .expect("doubles query");
    assert!(
        doubled.is_empty(),
        "{} batch(es) hold a reference twice",
        doubled.len()
    );

    // The database's view of each batch.
    let rows = sqlx::query("SELECT batch_id, reference_id FROM pending_enhancements")
        .fetch_all(&pool)
        .await
        .expect("leases");
    let mut in_db: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
    for row in &rows {
        let batch: String = row.try_get("batch_id").expect("batch_id");
        let reference: String = row.try_get("reference_id").expect("reference_id");
        in_db
            .entry(batch.parse().expect("uuid"))
            .or_default()
            .insert(reference.parse().expect("uuid"));
    }
    // What the robots were told: a pending enhancement leased twice would show in two
    // files while the database names one batch.
    let mut handed_out = 0usize;
    let mut ids = HashSet::new();
    for batch in batches {
        assert!(ids.insert(batch.id), "batch {} handed out twice", batch.id);
        let listed = reference_file(s, batch).await;
        assert!(!listed.is_empty() && listed.len() <= LIMIT as usize);
        let unique: HashSet<Uuid> = listed.iter().copied().collect();
        assert_eq!(unique.len(), listed.len(), "a reference twice in one file");
        assert_eq!(
            Some(&unique),
            in_db.get(&batch.id),
            "batch {}: the file and the database disagree",
            batch.id
        );
        handed_out += listed.len();
    }
    assert_eq!(handed_out, expected, "leases handed out in all");
    pool.close().await;
}

async fn thirty_two_pollers_lease_each_pending_enhancement_once(backend: Backend) {
    let s = start(backend).await;
    let (robot, _) = s.robot("busy").await;
    s.seed(robot.id, 5_000).await;
    let batches = poll_concurrently(&s, &robot).await;
    check_leased_once(&s, &batches, 5_000).await;
}

async fn two_pending_enhancements_of_a_reference_never_share_a_batch(backend: Backend) {
    let s = start(backend).await;
    let (robot, client) = s.robot("twice").await;
    let ids = s.references(600).await;
    s.request(robot.id, &ids).await;
    s.request(robot.id, &ids).await;
    let mut batches = poll_concurrently(&s, &robot).await;
    // A poll may answer 204 while another holds the older enhancements of the remaining
    // references (their newer ones wait their turn); what is left is handed out now.
    while let Some(batch) = client
        .poll_robot_enhancement_batch(robot.id, LIMIT, None)
        .await
        .expect("a poll")
    {
        batches.push(batch);
    }
    check_leased_once(&s, &batches, 1_200).await;
}
