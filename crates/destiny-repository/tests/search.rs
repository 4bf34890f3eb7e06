//! Reference search and search-based enhancement requests, on both backends: Lucene query
//! strings over titles and abstracts (fields by name), year and annotation filters, pages
//! of 20; an index that catches up with enhancements stored after it was built; dry runs
//! and requests from the Python SDK 0.17.6 and the admin.

mod common;

use destiny_sdk::models::Reference;
use destiny_testkit::on_both_backends;
use destiny_testkit::python::answer;

use common::{lease_and_submit, start, Backend, Options, Server};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_backends!(
    references_are_found_by_query_string_and_filters,
    enhancements_stored_later_are_searchable,
    search_based_requests_from_python_and_the_admin,
    a_restarted_server_rebuilds_its_index,
    a_write_committed_after_a_search_is_found_by_the_next,
    a_large_search_request_counts_its_unwritten_rows_as_pending,
);

/// A reference with a bibliographic title, a year and an abstract.
fn paper(title: &str, year: i64, text: &str) -> Reference {
    let id = Uuid::new_v4();
    destiny_sdk::models::from_json_value(json!({"id": id, "enhancements": [
        {"reference_id": id, "source": "import", "visibility": "public", "content": {
            "enhancement_type": "bibliographic", "title": title, "publication_year": year,
            "authorship": [{"display_name": "Ada Lovelace", "position": "first"}]}},
        {"reference_id": id, "source": "import", "visibility": "public", "content": {
            "enhancement_type": "abstract", "process": "other", "abstract": text}}]}))
    .expect("a reference")
}

/// The library: three papers about malaria or vaccines, and 25 fillers.
async fn library(s: &Server) -> Vec<Uuid> {
    let mut refs = vec![
        paper("Malaria in children", 2019, "Bed nets reduce malaria."),
        paper(
            "Vaccines for adults",
            2021,
            "A trial of malaria vaccines in adults.",
        ),
        paper("Measles vaccines", 2023, "Coverage of MEASLES vaccination."),
    ];
    refs.extend((0..25).map(|i| paper(&format!("Filler {i}"), 2000, "Nothing to see here.")));
    s.import(&refs).await
}

/// The admin asks for a search-based request (`query`: the URL's query part).
async fn post_search(s: &Server, query: &str, body: Value) -> (u16, Value) {
    let path = format!("/v1/enhancement-requests/search/{query}");
    s.admin(Method::POST, &path, Some(body.to_string())).await
}

async fn search(s: &Server, query: &str) -> (u16, Value) {
    s.admin(
        Method::GET,
        &format!("/v1/references/search/?{query}"),
        None,
    )
    .await
}

fn ids_of(found: &Value) -> Vec<Uuid> {
    common::ids_in(&found["references"])
}

async fn references_are_found_by_query_string_and_filters(backend: Backend) {
    let s = start(backend).await;
    let ids = library(&s).await;
    let cases: Vec<(&str, Vec<Uuid>)> = vec![
        ("q=bednets", vec![]),
        ("q=nets", vec![ids[0]]),
        ("q=MEASLES", vec![ids[2]]),
        ("q=title:vaccines%20AND%20abstract:malaria", vec![ids[1]]),
        ("q=%22malaria%20vaccines%22", vec![ids[1]]),
        (
            "q=authors:lovelace%20AND%20publication_year:2023",
            vec![ids[2]],
        ),
        ("q=malaria&start_year=2020", vec![ids[1]]),
        ("q=malaria&end_year=2019", vec![ids[0]]),
        ("q=vaccines%20-measles", vec![ids[1]]),
    ];
    for (query, want) in cases {
        let (status, found) = search(&s, query).await;
        assert_eq!(status, 200, "{query}: {found}");
        let mut got = ids_of(&found);
        got.sort();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "{query}");
        assert_eq!(
            found["total"],
            json!({"count": want.len(), "is_lower_bound": false})
        );
    }
    // The best hit first: the title and the abstract both say malaria.
    let (_, found) = search(&s, "q=malaria").await;
    assert_eq!(ids_of(&found)[0], ids[0], "{found}");
    let first: Reference =
        serde_json::from_value(found["references"][0].clone()).expect("a reference");
    assert_eq!(first.title(), Some("Malaria in children"));

    // Pages of 20.
    let (_, first) = search(&s, "q=filler").await;
    let (_, second) = search(&s, "q=filler&page=2").await;
    assert_eq!(first["total"]["count"], 25);
    assert_eq!(
        (first["page"].clone(), second["page"].clone()),
        (
            json!({"count": 20, "number": 1}),
            json!({"count": 5, "number": 2})
        )
    );

    let refused: Vec<(&str, u16, &str)> = vec![
        ("", 422, "Field required"),
        ("q=title:(unclosed", 400, "cannot be parsed"),
        ("q=x&page=0", 422, "greater than 0"),
        ("q=x&page=501", 422, "less than or equal to 500"),
        ("q=x&start_year=2020&end_year=2019", 400, "end_year"),
        ("q=x&sort=publication_year", 422, "Only `relevance`"),
        ("q=x&annotation=inclusion:destiny@0.8", 422, "score"),
    ];
    for (query, want, text) in refused {
        let (status, detail) = search(&s, query).await;
        assert_eq!(status, want, "{query}: {detail}");
        assert!(detail.to_string().contains(text), "{query}: {detail}");
    }
}

fn flag(reference: Uuid) -> String {
    json!({"reference_id": reference, "source": "flagger", "visibility": "public",
        "robot_version": "1.0", "content": {"enhancement_type": "annotation", "annotations": [
            {"annotation_type": "boolean", "scheme": "classifier:flag", "label": "include",
             "value": true}]}})
    .to_string()
}

async fn enhancements_stored_later_are_searchable(backend: Backend) {
    let s = start(backend).await;
    let ids = library(&s).await;
    let (status, none) = search(&s, "q=malaria&annotation=classifier:flag/include").await;
    assert_eq!(status, 200, "{none}");
    assert!(ids_of(&none).is_empty(), "{none}");

    // After the index was built: a robot flags the first paper.
    let (robot, client) = s.robot("flagger").await;
    let request = s.request(robot.id, &ids[..1]).await;
    lease_and_submit(&s.http, &client, robot.id, 10, flag).await;
    s.wait_status(request, "completed").await;
    for filter in ["classifier:flag/include", "classifier:flag"] {
        let (_, found) = search(&s, &format!("q=malaria&annotation={filter}")).await;
        assert_eq!(ids_of(&found), vec![ids[0]], "{filter}: {found}");
    }
    let (_, other) = search(&s, "q=malaria&annotation=classifier:flag/exclude").await;
    assert!(ids_of(&other).is_empty(), "{other}");
}

async fn search_based_requests_from_python_and_the_admin(backend: Backend) {
    let s = start(backend).await;
    let ids = library(&s).await;
    let (robot, client) = s.robot("searcher").await;
    let other = s.register("other").await;
    let body =
        |robot: Uuid| json!({"robot_id": robot, "search_query": "malaria", "source": "bulk"});
    let lines = s
        .python_0176(
            &robot,
            vec![
                json!({"op": "request_search_enhancement", "body": body(robot.id), "dry_run": true}),
                json!({"op": "request_search_enhancement", "body": body(robot.id), "dry_run": false}),
                json!({"op": "request_search_enhancement", "body": body(other.id), "dry_run": false}),
            ],
        )
        .await;
    assert_eq!(
        answer(&lines[0]),
        json!({"count": 2, "is_lower_bound": false})
    );
    let created = answer(&lines[1]);
    assert_eq!(created["search_status"], "completed", "{created}");
    assert_eq!(created["request_status"], "received");
    assert_eq!(created["n_matched"], 2);
    assert_eq!(created["n_enhancements_requested"], 2);
    assert_eq!(created["enhancement_status_counts"], json!({"pending": 2}));
    assert_eq!(created["source"], "bulk");
    assert!(lines[2].to_string().contains("403"), "{}", lines[2]);

    // The robot gets the matches to enhance; the request follows them.
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let batch = lease_and_submit(&s.http, &client, robot.id, 10, common::annotation).await;
    let file = common::fetch_text(&s.http, batch.reference_storage_url.as_str()).await;
    let leased = common::reference_ids(&file);
    let mut want = ids[..2].to_vec();
    want.sort();
    let mut leased = leased;
    leased.sort();
    assert_eq!(leased, want);
    s.wait_status(id, "completed").await;
    let read = s
        .python_0176(
            &robot,
            vec![json!({"op": "get_search_enhancement_request", "id": id})],
        )
        .await;
    assert_eq!(
        answer(&read[0])["enhancement_status_counts"],
        json!({"completed": 2})
    );

    // The admin: a query that does not parse, an unknown robot, an ordinary request.
    let (status, detail) = post_search(
        &s,
        "",
        json!({"robot_id": robot.id, "search_query": "title:("}),
    )
    .await;
    assert_eq!(status, 400, "{detail}");
    let unknown = Uuid::new_v4();
    let (status, detail) = post_search(&s, "?dry_run=true", body(unknown)).await;
    assert_eq!(
        (status, detail),
        (
            422,
            json!({"detail": format!("Robot with id {unknown} does not exist.")})
        )
    );
    let (status, none) = post_search(
        &s,
        "",
        json!({"robot_id": robot.id, "search_query": "nothingmatches"}),
    )
    .await;
    assert_eq!(
        (
            status,
            none["n_matched"].clone(),
            none["search_status"].clone()
        ),
        (202, json!(0), json!("completed")),
        "{none}"
    );
    let ordinary = s.request(robot.id, &ids[5..6]).await;
    let (status, detail) = s
        .admin(
            Method::GET,
            &format!("/v1/enhancement-requests/search/{ordinary}/"),
            None,
        )
        .await;
    assert_eq!(status, 404, "{detail}");
}

/// The index lives in memory: a new server builds it from the database at its first
/// search.
async fn a_restarted_server_rebuilds_its_index(backend: Backend) {
    let s = start(backend).await;
    let ids = library(&s).await;
    let (_, before) = search(&s, "q=measles").await;
    assert_eq!(ids_of(&before), vec![ids[2]]);
    let (db, dir, clock) = s.stop().await;
    let s = Server::start_on(db, dir, clock, Options::default()).await;
    let (status, after) = search(&s, "q=measles").await;
    assert_eq!((status, ids_of(&after)), (200, vec![ids[2]]), "{after}");
}

/// A write stamped before a search but committed after it (a long import takes its
/// stamp when it starts) is indexed by the next search; so is one stamped later.
async fn a_write_committed_after_a_search_is_found_by_the_next(backend: Backend) {
    let s = start(backend).await;
    let ids = library(&s).await;
    let (_, found) = search(&s, "q=measles").await;
    assert_eq!(ids_of(&found), vec![ids[2]]);
    let now = destiny_repository::clock::Clock::now(&s.clock);
    // Stamped a minute before that search.
    s.clock.set(now - jiff::SignedDuration::from_secs(60));
    let late = s
        .import(&[paper("Late measles", 2024, "Committed late.")])
        .await;
    s.clock.set(now + jiff::SignedDuration::from_secs(1));
    let (_, found) = search(&s, "q=measles").await;
    assert_eq!(ids_of(&found).len(), 2, "{found}");
    assert!(ids_of(&found).contains(&late[0]), "{found}");
    // Much later: a new write is found, and nothing is indexed twice.
    s.clock.advance(std::time::Duration::from_secs(3_600));
    let later = s.import(&[paper("Measles again", 2025, "Later.")]).await;
    let (_, found) = search(&s, "q=measles").await;
    assert_eq!(found["total"]["count"], 3, "{found}");
    assert!(ids_of(&found).contains(&later[0]), "{found}");
}

/// A search request matching more than `request_rows::INLINE` references is answered
/// with only the first `request_rows::FIRST` pending enhancements written (the import
/// worker writes the others; here there is none, and the test runs its step by hand):
/// its counts say every match is pending all the same.
async fn a_large_search_request_counts_its_unwritten_rows_as_pending(backend: Backend) {
    use destiny_repository::request_rows::{self, FIRST, INLINE};
    let idle = Options {
        jobs: destiny_repository::server::Jobs::NONE,
        ..Options::default()
    };
    let s = Server::start(backend, idle).await;
    let n = INLINE + 1;
    let refs: Vec<Reference> = (0..n)
        .map(|i| paper(&format!("Cohort {i}"), 2020, "A cohort study."))
        .collect();
    s.import(&refs).await;
    let robot = s.register("searcher").await;
    let body = json!({"robot_id": robot.id, "search_query": "cohort"});
    let (status, created) = post_search(&s, "", body).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["n_matched"], n);
    assert_eq!(created["n_enhancements_requested"], n);
    assert_eq!(created["enhancement_status_counts"], json!({"pending": n}));

    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let pool = s.db.pool().await;
    let pending = |rows: usize| vec![("pending".to_owned(), rows as i64)];
    assert_eq!(common::sql::statuses(&pool, id).await, pending(FIRST));
    request_rows::drain(&s.state).await.unwrap();
    assert_eq!(common::sql::statuses(&pool, id).await, pending(n));
    let path = format!("/v1/enhancement-requests/search/{id}/");
    let (status, read) = s.admin(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["enhancement_status_counts"], json!({"pending": n}));
}
