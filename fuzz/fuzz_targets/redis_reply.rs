//! Fuzz target: see `openpace_fuzz::redis_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::redis_reply(data));
