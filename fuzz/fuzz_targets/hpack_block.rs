//! Fuzz target: see `openpace_fuzz::hpack_block`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::hpack_block(data));
