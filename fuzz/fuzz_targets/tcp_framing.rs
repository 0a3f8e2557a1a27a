//! Fuzz target: see `openpace_fuzz::tcp_framing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::tcp_framing(data));
