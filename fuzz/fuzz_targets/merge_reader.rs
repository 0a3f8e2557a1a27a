//! Fuzz target: see `openpace_fuzz::merge_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::merge_reader(data));
