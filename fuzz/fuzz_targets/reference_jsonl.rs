//! Fuzz target `reference_jsonl`: see [`destiny_fuzz::props::reference_jsonl`] for the input layout and the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| destiny_fuzz::props::reference_jsonl(data));
