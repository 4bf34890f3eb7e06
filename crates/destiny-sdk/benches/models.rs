//! Reading and writing reference lines, per reference, as a plain `harness = false` bench.
//!
//! Run: `cargo bench -p destiny-sdk --bench models`. The lines are 2,000 references from
//! `ReferenceGenerator::new(1)` (the references `destiny references generate` writes),
//! read in a loop. Beside the model's own figures, two floors for the same bytes:
//! scanning the JSON without keeping anything (`IgnoredAny`) and building a
//! `serde_json::Value` tree.

mod common;

use std::hint::black_box;
use std::time::Duration;

use destiny_sdk::jsonl;
use destiny_sdk::models::{from_json_str, Reference};
use destiny_sdk::samples::ReferenceGenerator;

/// Runs `op` over every line for about `budget` and returns nanoseconds per line.
fn per_line(budget: Duration, lines: &[String], mut op: impl FnMut(&str)) -> f64 {
    for line in lines {
        op(line); // warm-up
    }
    common::ns_per_op(budget, lines.len() as u64, || {
        for line in lines {
            op(line);
        }
    })
}

fn main() {
    let budget = common::budget();
    let mut gen = ReferenceGenerator::new(1);
    let refs: Vec<Reference> = (0..2000).map(|_| gen.generate()).collect();
    let lines: Vec<String> = refs
        .iter()
        .map(|r| jsonl::to_line(r).expect("a generated reference serialises"))
        .collect();
    let bytes = lines.iter().map(String::len).sum::<usize>() as f64 / lines.len() as f64;

    let cases: [(&str, f64); 4] = [
        (
            "scan only (serde_json IgnoredAny)",
            per_line(budget, &lines, |l| {
                black_box(serde_json::from_str::<serde::de::IgnoredAny>(l).unwrap());
            }),
        ),
        (
            "serde_json::Value",
            per_line(budget, &lines, |l| {
                black_box(serde_json::from_str::<serde_json::Value>(l).unwrap());
            }),
        ),
        (
            "Reference (from_json_str, validated)",
            per_line(budget, &lines, |l| {
                black_box(from_json_str::<Reference>(l).unwrap());
            }),
        ),
        ("Reference to JSONL (jsonl::to_line)", {
            let mut i = 0;
            per_line(budget, &lines, |_| {
                black_box(jsonl::to_line(&refs[i % refs.len()]).unwrap());
                i += 1;
            })
        }),
    ];
    println!(
        "Lines: {} references, {bytes:.0} bytes each on average",
        lines.len()
    );
    println!();
    println!("| case | ns per reference | MB/s |");
    println!("|---|---:|---:|");
    for (name, ns) in cases {
        println!("| {name} | {ns:.0} | {:.0} |", bytes / ns * 1e3);
        println!("BENCH {name} {ns:.1}");
    }
}
