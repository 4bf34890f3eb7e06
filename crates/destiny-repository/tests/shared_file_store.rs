//! Several `destiny serve` on one `file://` directory: with `--url-signing-key` each
//! accepts the blob URLs the others hand out (and no per-directory key file is made);
//! another key refuses them.

mod common;

use common::{poll_batch, start_with, Backend};
use destiny_sdk::secret::Secret;

#[tokio::test(flavor = "multi_thread")]
async fn instances_with_one_signing_key_accept_each_others_urls() {
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().join("blobs");
    let with_key = |key: &'static str| {
        let dir = dir.clone();
        move |c: &mut destiny_repository::config::Config| {
            c.blob_dir = dir;
            c.url_signing_key = Some(Secret::new(key));
        }
    };
    let a = start_with(Backend::Sqlite, with_key("one key for every instance")).await;
    let b = start_with(Backend::Sqlite, with_key("one key for every instance")).await;
    let other = start_with(Backend::Sqlite, with_key("another key")).await;

    let (robot, client) = a.robot("shared").await;
    a.seed(robot.id, 2).await;
    let batch = poll_batch(&client, robot.id, 10).await;
    let url = batch.reference_storage_url.as_str();
    assert!(url.starts_with(&a.base), "{url}");
    let at = |server: &common::Server| url.replacen(&a.base, &server.base, 1);

    let from_b = b.http.get(at(&b)).send().await.unwrap();
    assert_eq!(from_b.status(), 200, "{:?}", from_b.text().await);
    let from_other = other.http.get(at(&other)).send().await.unwrap();
    assert_eq!(from_other.status(), 403);
    assert!(
        !dir.join(".signing-key").exists(),
        "a configured key leaves no key file"
    );
}
