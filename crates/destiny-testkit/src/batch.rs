//! A robot's side of a batch, played by hand over HTTP: poll, read the reference file,
//! upload a result file, submit. For tests that need a step of their own between two of
//! these (a kill, a fault, a check) rather than a whole runner.

use destiny_sdk::client::{ClientError, RobotClient};
use destiny_sdk::models::{
    RobotEnhancementBatch, RobotEnhancementBatchRead, RobotEnhancementBatchResult, RobotError,
};
use serde_json::Value;
use uuid::Uuid;

/// Polls `robot`'s next batch of at most `limit` references on the server's default
/// lease.
///
/// # Panics
/// When the poll fails or finds no work.
pub async fn poll_batch(client: &RobotClient, robot: Uuid, limit: u32) -> RobotEnhancementBatch {
    client
        .poll_robot_enhancement_batch(robot, limit, None)
        .await
        .expect("poll")
        .expect("a batch")
}

/// GETs `url` (a signed blob URL, say) and answers its body.
///
/// # Panics
/// When the request fails or answers an error status.
pub async fn fetch_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url)
        .send()
        .await
        .expect("GET")
        .error_for_status()
        .expect("a success status")
        .text()
        .await
        .expect("the body")
}

/// The reference ids of a reference file (one JSON reference a line), in order.
///
/// # Panics
/// When a line is not a reference with an `id`.
pub fn reference_ids(file: &str) -> Vec<Uuid> {
    file.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid")
        })
        .collect()
}

/// PUTs `body` to a result URL as a block blob (the header Azure clients send) and
/// answers the response, whatever its status.
///
/// # Panics
/// When the request cannot be sent.
pub async fn put_result(
    http: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    http.put(url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(body)
        .send()
        .await
        .expect("PUT result")
}

/// Submits batch `id`: done (its result file uploaded) without `error`, failed with it;
/// answers what the server answered.
///
/// # Errors
/// What the client reports (a refused transition, another robot's batch, …).
pub async fn submit(
    client: &RobotClient,
    id: Uuid,
    error: Option<&str>,
) -> Result<RobotEnhancementBatchRead, ClientError> {
    client
        .send_robot_enhancement_batch_result(&RobotEnhancementBatchResult {
            request_id: id,
            error: error.map(|message| RobotError {
                message: message.to_owned(),
            }),
        })
        .await
}

/// Leases a batch of at most `limit`, uploads a result file of `line(reference)` per
/// reference and submits it; answers the batch as polled.
///
/// # Panics
/// When any step fails (the upload must answer 201).
pub async fn lease_and_submit(
    http: &reqwest::Client,
    client: &RobotClient,
    robot: Uuid,
    limit: u32,
    line: impl Fn(Uuid) -> String,
) -> RobotEnhancementBatch {
    let batch = poll_batch(client, robot, limit).await;
    let references = fetch_text(http, batch.reference_storage_url.as_str()).await;
    let mut result = String::new();
    for id in reference_ids(&references) {
        result.push_str(&line(id));
        result.push('\n');
    }
    let put = put_result(http, batch.result_storage_url.as_str(), result).await;
    assert_eq!(put.status(), 201);
    submit(client, batch.id, None).await.expect("submit");
    batch
}

/// [`lease_and_submit`] `n` times, one batch after the other; answers their ids in order.
///
/// # Panics
/// As [`lease_and_submit`].
pub async fn lease_and_submit_each(
    http: &reqwest::Client,
    client: &RobotClient,
    robot: Uuid,
    limit: u32,
    n: usize,
    line: impl Fn(Uuid) -> String,
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(lease_and_submit(http, client, robot, limit, &line).await.id);
    }
    ids
}
