//! Fuzz target: see `openpace_fuzz::duration`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::duration(data));
