//! Fuzz target: see `openpace_fuzz::config_json`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::config_json(data));
