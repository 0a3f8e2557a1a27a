//! Fuzz target: see `openpace_fuzz::histogram`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::histogram(data));
