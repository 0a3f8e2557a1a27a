//! Fuzz target: see `openpace_fuzz::h2_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| openpace_fuzz::h2_frames(data));
