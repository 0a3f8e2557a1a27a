//! Fuzz target: see `openpace_fuzz::core_list`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::core_list(data));
