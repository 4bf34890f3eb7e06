//! Signature creation and verification throughput, as a plain `harness = false` bench
//! (std `Instant`, warm-up, then as many iterations as fit in a time budget).
//!
//! Run: `cargo bench -p destiny-sdk --bench signature` (or `scripts/bench-signature`, which
//! also measures the Python SDK and `openssl speed` for comparison).
//! Each result is printed as a line `BENCH <case> <bytes> <ns/op> <MB/s>` and as a table.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use destiny_sdk::auth::{
    create_signature, pyfloat, signature_headers, HmacAuth, HmacAuthorizationHeaders,
    SignedRequest, SigningKey, TimestampPolicy,
};
use http::HeaderMap;
use uuid::Uuid;

const SECRET: &str = "9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c9f2c";
const TIMESTAMP: f64 = 1_764_547_200.123_456_7;

/// Runs `op` for about `budget` after a warm-up and returns nanoseconds per call.
fn measure(budget: Duration, mut op: impl FnMut()) -> f64 {
    // Warm-up and calibration: find a batch size that takes ~10 ms.
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            op();
        }
        if start.elapsed() >= Duration::from_millis(10) || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    common::ns_per_op(budget, batch, || {
        for _ in 0..batch {
            op();
        }
    })
}

fn main() {
    let budget = common::budget();
    let client_id = Uuid::from_u128(0x8b1e3f36_8c3e_4a8c_9d2a_0f0f6a8e1c11);
    let auth = HmacAuth::new(SECRET);
    let key = SigningKey::new(SECRET);
    let policy = TimestampPolicy::default();
    let mut rows = Vec::new();

    let ns = measure(budget, || {
        black_box(pyfloat::Repr::new(black_box(TIMESTAMP)));
    });
    rows.push(("pyfloat::Repr::new", 0usize, ns));

    for size in [0usize, 1024, 1024 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let signature = create_signature(SECRET, &body, &client_id, TIMESTAMP);
        let parsed = HmacAuthorizationHeaders {
            signature,
            client_id,
            timestamp: TIMESTAMP,
        };
        let mut headers = HeaderMap::new();
        headers.extend(signature_headers(SECRET, &body, &client_id, TIMESTAMP));

        let ns = measure(budget, || {
            black_box(create_signature(
                black_box(SECRET),
                black_box(&body),
                &client_id,
                black_box(TIMESTAMP),
            ));
        });
        rows.push(("create_signature", size, ns));

        let ns = measure(budget, || {
            black_box(key.sign(black_box(&body), &client_id, black_box(TIMESTAMP)));
        });
        rows.push(("SigningKey::sign (pre-keyed)", size, ns));

        let ns = measure(budget, || {
            let ok = auth
                .verify_parsed(black_box(&parsed), black_box(&body))
                .is_ok();
            assert!(black_box(ok));
        });
        rows.push(("HmacAuth::verify_parsed", size, ns));

        let ns = measure(budget, || {
            let request = SignedRequest {
                headers: black_box(&headers),
                body: black_box(&body),
                now: TIMESTAMP,
                policy,
            };
            assert!(black_box(auth.verify(&request).is_ok()));
        });
        rows.push(("HmacAuth::verify (parse headers + verify)", size, ns));
    }

    println!("| case | body | ns/op | MB/s |");
    println!("|---|---:|---:|---:|");
    for (case, size, ns) in &rows {
        let mbps = *size as f64 / ns * 1e3;
        println!("| {case} | {} | {ns:.1} | {mbps:.1} |", human(*size));
    }
    for (case, size, ns) in &rows {
        let mbps = *size as f64 / ns * 1e3;
        println!("BENCH {} {size} {ns:.1} {mbps:.1}", case.replace(' ', "_"));
    }
}

fn human(size: usize) -> String {
    match size {
        0 => "0 B".to_owned(),
        s if s % (1024 * 1024) == 0 => format!("{} MiB", s / (1024 * 1024)),
        s if s % 1024 == 0 => format!("{} KiB", s / 1024),
        s => format!("{s} B"),
    }
}
