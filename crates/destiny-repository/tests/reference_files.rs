//! Reference files joined from the JSON pieces stored with each row
//! (`Db::reference_lines`) are byte for byte the files the models write: for the Python
//! SDK's references (read from `../shared/fixtures`, which must be beside the checkout)
//! and generated ones (2025's and today's shapes), with and without full texts, with a superseded enhancement left
//! out, and for rows stored before the pieces were (written from the models then).

mod common;

use common::{fixture_text, start, Backend, Server};
use destiny_repository::reference_file::{self, Reader};
use destiny_sdk::jsonl;
use destiny_sdk::models::{EnhancementContent, Reference};
use destiny_sdk::samples::ReferenceGenerator;
use destiny_testkit::on_both_backends;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

on_both_backends!(
    joined_lines_are_the_lines_the_models_write,
    rows_stored_before_the_pieces_are_written_from_the_models,
);

/// The fixture `name` with its references' and enhancements' ids taken out (the two
/// fixtures share references), so the import assigns them.
fn without_ids(name: &str) -> String {
    let mut body = String::new();
    for line in fixture_text(name).lines().filter(|l| !l.trim().is_empty()) {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let reference = value.as_object_mut().expect("an object");
        reference.remove("id");
        for e in reference
            .get_mut("enhancements")
            .and_then(|e| e.as_array_mut())
            .into_iter()
            .flatten()
        {
            let e = e.as_object_mut().expect("an object");
            e.remove("id");
            e.remove("reference_id");
        }
        body.push_str(&value.to_string());
        body.push('\n');
    }
    body
}

/// Imports the fixtures and 400 generated references (200 of today's shapes); answers their ids in input order.
async fn import_all(s: &Server) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for name in ["references.jsonl", "references-sdk-0.17.jsonl"] {
        let (status, got) = s
            .admin(
                reqwest::Method::POST,
                "/v1/references/",
                Some(without_ids(name)),
            )
            .await;
        assert_eq!(status, 201, "{name}: {got}");
        ids.extend(serde_json::from_value::<Vec<Uuid>>(got).expect("reference ids"));
    }
    let mut generated: Vec<Reference> = ReferenceGenerator::new(7).take(200).collect();
    // Today's shapes too (full texts, linked data), less what an import cannot carry.
    generated.extend(ReferenceGenerator::new(8).today().take(200).map(|mut r| {
        if let Some(list) = r.enhancements.as_mut() {
            list.retain(|e| !matches!(e.content, EnhancementContent::Tombstone(_)));
            for e in list.iter_mut() {
                e.supersedes = None;
            }
        }
        r
    }));
    // And references without enhancements.
    for (k, list) in [None, Some(Vec::new())].into_iter().enumerate() {
        let mut r = generated[k].clone();
        r.id = Uuid::new_v4();
        r.enhancements = list;
        generated.push(r);
    }
    ids.extend(s.import(&generated).await);
    ids
}

/// The lines of `ids` as the models write them (the path every file took before the
/// pieces were stored).
async fn model_lines(s: &Server, ids: &[Uuid], reader: Reader) -> Vec<u8> {
    let mut buf = Vec::new();
    for chunk in ids.chunks(500) {
        for mut r in s
            .state
            .db
            .references_by_id(chunk)
            .await
            .expect("references")
        {
            if !reader.full_text {
                if let Some(list) = r.enhancements.as_mut() {
                    list.retain(|e| !matches!(e.content, EnhancementContent::FullText(_)));
                }
            }
            jsonl::append_line(&mut buf, &r).expect("a line");
        }
    }
    buf
}

/// The file `reference_file::write` writes for `ids`.
async fn written_file(s: &Server, ids: &[Uuid], reader: Reader) -> Vec<u8> {
    let key = format!("test/{}.jsonl", Uuid::new_v4());
    let store = s.state.blobs.store();
    reference_file::write(store, &key, &s.state.db, ids, reader, None)
        .await
        .expect("file written");
    let key = destiny_repository::blob::BlobKey::new(&key).expect("a key");
    let mut file = store.open(&key).await.expect("file opened");
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.expect("file read");
    bytes
}

async fn joined_lines_are_the_lines_the_models_write(backend: Backend) {
    let s = start(backend).await;
    let mut ids = import_all(&s).await;
    // Out of import order, with an unknown id (left out) and a reference twice.
    ids.reverse();
    ids.insert(3, Uuid::new_v4());
    ids.push(ids[10]);
    // A superseded enhancement is left out of both.
    let superseded = sqlx::query(
        "UPDATE enhancements SET superseded_by = id WHERE id = \
         (SELECT MIN(id) FROM enhancements WHERE reference_id = $1)",
    )
    .bind(ids[20].to_string())
    .execute(s.state.db.writer())
    .await
    .expect("an enhancement superseded");
    assert_eq!(superseded.rows_affected(), 1);

    let mut full_texts = 0;
    for reader in [Reader { full_text: true }, Reader { full_text: false }] {
        let mut joined = Vec::new();
        let all_joined = s
            .state
            .db
            .reference_lines(&ids, reader.full_text, &mut joined)
            .await
            .expect("lines joined");
        assert!(all_joined, "every row was stored with its pieces");
        let models = model_lines(&s, &ids, reader).await;
        assert_eq!(
            String::from_utf8_lossy(&joined),
            String::from_utf8_lossy(&models),
            "full_text: {}",
            reader.full_text
        );
        assert_eq!(written_file(&s, &ids, reader).await, models);
        let count = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .matches("\"full_text\"")
                .count()
        };
        if reader.full_text {
            full_texts = count(&joined);
        } else {
            assert_eq!(count(&joined), 0);
        }
    }
    assert!(full_texts > 0, "the generated references hold full texts");
}

async fn rows_stored_before_the_pieces_are_written_from_the_models(backend: Backend) {
    let s = start(backend).await;
    let ids = import_all(&s).await;
    let reader = Reader { full_text: false };
    let models = model_lines(&s, &ids, reader).await;
    // As a reference, then an enhancement, stored before migration 13 were.
    for sql in [
        "UPDATE refs SET wire = NULL WHERE id = $1",
        "UPDATE enhancements SET wire_head = NULL, wire_tail = NULL, enhancement_type = NULL \
         WHERE id = (SELECT MIN(id) FROM enhancements WHERE reference_id = $1)",
    ] {
        let target = if sql.starts_with("UPDATE refs") {
            ids[0]
        } else {
            ids[15]
        };
        sqlx::query(sql)
            .bind(target.to_string())
            .execute(s.state.db.writer())
            .await
            .expect("pieces removed");
        let mut joined = Vec::new();
        let all_joined = s
            .state
            .db
            .reference_lines(&ids[..20], reader.full_text, &mut joined)
            .await
            .expect("lines read");
        assert!(!all_joined, "{sql}");
        assert!(joined.is_empty());
        assert_eq!(written_file(&s, &ids, reader).await, models, "{sql}");
    }
}
