//! Fuzz target: see `openpace_fuzz::http_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::http_response(data));
