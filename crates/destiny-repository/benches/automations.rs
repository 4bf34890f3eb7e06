//! What matching robot automations costs per reference, in process (not run by
//! `scripts/test`):
//!
//! ```sh
//! BENCH_SECONDS=3 cargo bench -p destiny-repository --bench automations
//! ```
//!
//! The references are 2,000 from `ReferenceGenerator::new(1)` (what `destiny references
//! generate N --seed 1` writes); the automations are the 100 queries of
//! `benches/data/automations-100.jsonl` (written by `scripts/bench-today queries`: term,
//! terms, exists, nested, bool and simple_query_string clauses over both halves of the
//! percolation mapping). Measured per reference, each for about `BENCH_SECONDS` (default
//! 2): building the import document (`percolate::documents::imported`), matching it
//! against the 100 parsed queries (`percolate::eval::matches`), and the same two for a
//! stored result (`documents::enhanced`, the reference's last enhancement as the one
//! just stored). Parsing the 100 queries, which the import worker does once per queued
//! match, is timed on its own. Prints a Markdown table.

use std::hint::black_box;
use std::time::{Duration, Instant};

use destiny_repository::percolate::{documents, eval, query, Query};
use destiny_sdk::models::Reference;
use destiny_sdk::samples::ReferenceGenerator;
use serde_json::Value;

/// The automations' queries, one JSON object a line.
const QUERIES: &str = include_str!("data/automations-100.jsonl");

/// How long each case runs (`BENCH_SECONDS`, default 2).
fn budget() -> Duration {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(seconds)
}

/// Runs `round` (which handles `per_round` items) until `budget` has passed; answers
/// nanoseconds per item.
fn ns_per_item(budget: Duration, per_round: usize, mut round: impl FnMut()) -> f64 {
    round(); // warm-up
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds == 0 || start.elapsed() < budget {
        round();
        rounds += 1;
    }
    start.elapsed().as_nanos() as f64 / (f64::from(rounds) * per_round as f64)
}

/// Every query matched against every document; answers how many matches in all.
fn match_all(queries: &[Query], docs: &[Value]) -> usize {
    let mut matched = 0;
    for doc in docs {
        for q in queries {
            matched += usize::from(eval::matches(q, doc));
        }
    }
    matched
}

fn parse_all() -> Vec<Query> {
    QUERIES
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("a query line is JSON");
            let object = value.as_object().expect("a query is an object");
            query::parse(object).expect("every bench query is supported")
        })
        .collect()
}

fn main() {
    let budget = budget();
    let mut gen = ReferenceGenerator::new(1);
    let refs: Vec<Reference> = (0..2000).map(|_| gen.generate()).collect();
    let queries = parse_all();
    assert_eq!(queries.len(), 100, "the query file holds 100 automations");

    let parse_ns = ns_per_item(budget, 1, || {
        black_box(parse_all());
    });

    let imported: Vec<Value> = refs.iter().map(documents::imported).collect();
    let enhanced: Vec<Value> = refs
        .iter()
        .map(|r| documents::enhanced(r, r.enhancements().last().expect("enhanced")))
        .collect();
    let n = refs.len();

    let build_import = ns_per_item(budget, n, || {
        for r in &refs {
            black_box(documents::imported(r));
        }
    });
    let match_import = ns_per_item(budget, n, || {
        black_box(match_all(&queries, &imported));
    });
    let build_result = ns_per_item(budget, n, || {
        for r in &refs {
            black_box(documents::enhanced(
                r,
                r.enhancements().last().expect("enhanced"),
            ));
        }
    });
    let match_result = ns_per_item(budget, n, || {
        black_box(match_all(&queries, &enhanced));
    });
    let per_import = match_all(&queries, &imported) as f64 / n as f64;
    let per_result = match_all(&queries, &enhanced) as f64 / n as f64;

    println!(
        "{n} references (`ReferenceGenerator::new(1)`), {} automations; parsing the \
         automations: {:.1} µs\n",
        queries.len(),
        parse_ns / 1000.0
    );
    println!(
        "| document | build µs/ref | match 100 automations µs/ref | total µs/ref | \
         ns per query × document | automations matched per ref |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, build, matching, matched) in [
        ("import", build_import, match_import, per_import),
        ("stored result", build_result, match_result, per_result),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.0} | {matched:.1} |",
            build / 1000.0,
            matching / 1000.0,
            (build + matching) / 1000.0,
            matching / queries.len() as f64,
        );
    }
}
