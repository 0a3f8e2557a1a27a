//! Fuzz target: see `openpace_fuzz::threshold`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::threshold(data));
