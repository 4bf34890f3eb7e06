//! `destiny serve --blob-store az://…` on Azurite and `s3://…` on moto's S3 server: the
//! robot flow through the URLs the server hands out (on the storage service itself), and
//! the service enforcing what those URLs allow, on both databases. Needs
//! `DESTINY_TEST_AZURITE` and `DESTINY_TEST_S3` (see `destiny_testkit::stores`).

mod common;

use common::{partial_result, poll_batch, put_result, reference_ids, start_with, submit, Backend};
use destiny_testkit::on_both_backends;
use destiny_testkit::stores::{azurite_container, s3_bucket};
use serde_json::json;

on_both_backends!(
    robot_flow_on_azurite,
    robot_flow_on_s3,
    a_result_never_uploaded_fails_every_reference_on_azurite,
    a_result_never_uploaded_fails_every_reference_on_s3,
    azurite_enforces_blob_type_and_read_only_sas,
);

/// Registers a robot, imports three references, requests them, polls, downloads the
/// reference file and uploads a result through the handed-out URLs, submits, and checks
/// the import and the validation file. `put_status` is the service's answer to an upload:
/// 201 on Azure, 200 on S3.
async fn robot_flow(backend: Backend, store: String, url_host: &str, put_status: u16) {
    let s = start_with(backend, move |c| {
        c.blob_store = Some(store.parse().expect("a blob store URL"));
    })
    .await;
    let (status, health) = s
        .admin(reqwest::Method::GET, "/v1/system/healthcheck/", None)
        .await;
    assert_eq!(
        (status, &health["blob_store"]),
        (200, &json!("object")),
        "{health}"
    );
    let (robot, client) = s.robot("cloud").await;
    let (ids, request) = s.seed(robot.id, 3).await;

    let batch = poll_batch(&client, robot.id, 10).await;
    for url in [&batch.reference_storage_url, &batch.result_storage_url] {
        assert!(
            url.as_str().starts_with(url_host),
            "robots get URLs on the storage service: {}",
            url.as_str()
        );
    }
    let refs = destiny_testkit::fetch_text(&s.http, batch.reference_storage_url.as_str()).await;
    assert_eq!(reference_ids(&refs), ids);

    let put = put_result(
        &s.http,
        batch.result_storage_url.as_str(),
        partial_result(&ids),
    )
    .await;
    assert_eq!(put.status(), put_status, "{:?}", put.text().await);
    submit(&client, batch.id, None).await.expect("submit");
    s.wait_status(request, "partial_failed").await;

    s.assert_partial_import(batch.id, &ids).await;
}

async fn robot_flow_on_azurite(backend: Backend) {
    let Some(container) = azurite_container().await else {
        return;
    };
    let host = std::env::var("DESTINY_TEST_AZURITE").unwrap();
    robot_flow(backend, format!("az://{container}/destiny"), &host, 201).await;
}

async fn robot_flow_on_s3(backend: Backend) {
    let Some(bucket) = s3_bucket().await else {
        return;
    };
    let host = std::env::var("DESTINY_TEST_S3").unwrap();
    robot_flow(backend, format!("s3://{bucket}"), &host, 200).await;
}

/// A result never uploaded is imported as on `file://`: every reference fails as
/// missing from the result.
async fn a_result_never_uploaded_fails_every_reference(backend: Backend, store: String) {
    let s = start_with(backend, move |c| {
        c.blob_store = Some(store.parse().unwrap());
    })
    .await;
    let (robot, client) = s.robot("silent").await;
    let (ids, request) = s.seed(robot.id, 2).await;
    let batch = poll_batch(&client, robot.id, 10).await;
    submit(&client, batch.id, None).await.expect("submit");
    s.wait_status(request, "failed").await;
    let lines = s.batch_validation(batch.id).await;
    assert_eq!(lines.len(), ids.len());
    for (line, id) in lines.iter().zip(&ids) {
        assert_eq!(
            line,
            &json!({"reference_id": id, "error": "Requested reference not in enhancement result."})
        );
    }
}

async fn a_result_never_uploaded_fails_every_reference_on_azurite(backend: Backend) {
    if let Some(container) = azurite_container().await {
        a_result_never_uploaded_fails_every_reference(backend, format!("az://{container}")).await;
    }
}

async fn a_result_never_uploaded_fails_every_reference_on_s3(backend: Backend) {
    if let Some(bucket) = s3_bucket().await {
        a_result_never_uploaded_fails_every_reference(backend, format!("s3://{bucket}/p")).await;
    }
}

/// Azure itself checks what our SAS URLs allow: a PUT without `x-ms-blob-type` is
/// refused, and a read URL cannot write.
async fn azurite_enforces_blob_type_and_read_only_sas(backend: Backend) {
    let Some(container) = azurite_container().await else {
        return;
    };
    let s = start_with(backend, move |c| {
        c.blob_store = Some(format!("az://{container}").parse().unwrap());
    })
    .await;
    let (robot, client) = s.robot("strict").await;
    s.seed(robot.id, 1).await;
    let batch = poll_batch(&client, robot.id, 10).await;

    let no_type = s
        .http
        .put(batch.result_storage_url.as_str())
        .body("{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 400, "{:?}", no_type.text().await);

    let with_read_sas = put_result(&s.http, batch.reference_storage_url.as_str(), "{}\n").await;
    assert_eq!(with_read_sas.status(), 403);

    // The same PUT with the write URL is accepted: the refusals above are the SAS's.
    let put = put_result(&s.http, batch.result_storage_url.as_str(), "{}\n").await;
    assert_eq!(put.status(), 201);
}

/// A file larger than one part goes up as a block (multipart) upload and reads back
/// whole, streamed; a write never committed leaves nothing.
async fn large_files_go_up_in_parts_and_uncommitted_writes_leave_nothing(store: String) {
    use destiny_repository::blob::{object::PART_SIZE, BlobKey, ObjectBlobs, Store};
    use tokio::io::AsyncReadExt;

    let store = Store::Object(ObjectBlobs::from_env(&store.parse().unwrap()).unwrap());
    let key = BlobKey::new("batches/big/results.jsonl").unwrap();
    let line = [b"x".repeat(1023), b"\n".to_vec()].concat();
    let lines = PART_SIZE * 2 / line.len() + 7;
    let mut writer = store.create(&key).await.unwrap();
    for _ in 0..lines {
        writer.write(&line).await.unwrap();
    }
    let size = (lines * line.len()) as u64;
    assert_eq!(writer.commit().await.unwrap(), size);
    assert_eq!(store.len(&key).await.unwrap(), size);
    let mut reader = store.open(&key).await.unwrap();
    let (mut read, mut buf) = (0u64, vec![0; 64 * 1024]);
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n].iter().all(|b| *b == b'x' || *b == b'\n'));
        read += n as u64;
    }
    assert_eq!(read, size);

    let never = BlobKey::new("batches/never/results.jsonl").unwrap();
    let mut writer = store.create(&never).await.unwrap();
    writer.write(&line).await.unwrap();
    drop(writer);
    assert!(!store.exists(&never).await.unwrap());
    assert!(store.delete(&key).await.unwrap());
    assert!(!store.exists(&key).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_files_go_up_in_parts_on_azurite() {
    if let Some(container) = azurite_container().await {
        large_files_go_up_in_parts_and_uncommitted_writes_leave_nothing(format!(
            "az://{container}/p"
        ))
        .await;
    }
}

/// A writer dropped past its first part (a failure on the way) aborts its multipart
/// upload: S3 keeps no parts. Awaited `abort` does the same at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_multipart_upload_is_aborted_on_s3() {
    use destiny_repository::blob::{object::PART_SIZE, BlobKey, ObjectBlobs, Store};
    use destiny_testkit::stores::s3_open_uploads;

    let Some(bucket) = s3_bucket().await else {
        return;
    };
    let store =
        Store::Object(ObjectBlobs::from_env(&format!("s3://{bucket}").parse().unwrap()).unwrap());
    let part = vec![b'x'; PART_SIZE + 1];
    for dropped in [true, false] {
        let key = BlobKey::new(format!("batches/{dropped}/results.jsonl")).unwrap();
        let mut writer = store.create(&key).await.unwrap();
        writer.write(&part).await.unwrap();
        assert_eq!(
            s3_open_uploads(&bucket).await,
            1,
            "a multipart upload started"
        );
        if dropped {
            drop(writer);
        } else {
            writer.abort().await.unwrap();
        }
        destiny_testkit::wait_for("the upload aborted", destiny_testkit::DEADLINE, || async {
            (s3_open_uploads(&bucket).await == 0).then_some(())
        })
        .await;
        assert!(!store.exists(&key).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_files_go_up_in_parts_on_s3() {
    if let Some(bucket) = s3_bucket().await {
        large_files_go_up_in_parts_and_uncommitted_writes_leave_nothing(format!("s3://{bucket}"))
            .await;
    }
}
