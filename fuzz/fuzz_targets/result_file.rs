//! Fuzz target `result_file`: see [`destiny_fuzz::props::result_file`] for the input layout and the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| destiny_fuzz::props::result_file(data));
