//! Fuzz target `duration`: see [`destiny_fuzz::props::duration`] for the input layout and the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| destiny_fuzz::props::duration(data));
