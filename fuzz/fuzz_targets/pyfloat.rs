//! Fuzz target `pyfloat`: see [`destiny_fuzz::props::pyfloat`] for the input layout and the
//! properties checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| destiny_fuzz::props::pyfloat(data));
