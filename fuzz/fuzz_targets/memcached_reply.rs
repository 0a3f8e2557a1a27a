//! Fuzz target: see `openpace_fuzz::memcached_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::memcached_reply(data));
