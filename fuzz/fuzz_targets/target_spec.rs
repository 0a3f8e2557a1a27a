//! Fuzz target: see `openpace_fuzz::target_spec`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::target_spec(data));
