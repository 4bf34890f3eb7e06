//! Fuzz target `hmac_headers`: see [`destiny_fuzz::props::hmac_headers`] for the input layout and the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| destiny_fuzz::props::hmac_headers(data));
