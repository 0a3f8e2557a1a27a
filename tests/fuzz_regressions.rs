//! Replays every input the fuzzers of `fuzz/` start from (`fuzz/corpus/`) or ever failed on
//! (`fuzz/regressions/`, with the hostile inputs issue 11 found by hand) through the same
//! harness the fuzz targets run (`fuzz/src/lib.rs`), so a fixed crash stays fixed in
//! `cargo test` without a fuzzer. `tools/fuzz.sh` runs the fuzzers themselves.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

/// What a fuzz target does with one input.
type Harness = fn(&[u8]);

/// Every target with its harness function.
const TARGETS: [(&str, Harness); 14] = [
    ("http_response", harness::http_response),
    ("tcp_framing", harness::tcp_framing),
    ("redis_reply", harness::redis_reply),
    ("memcached_reply", harness::memcached_reply),
    ("config_json", harness::config_json),
    ("config_flags", harness::config_flags),
    ("core_list", harness::core_list),
    ("threshold", harness::threshold),
    ("duration", harness::duration),
    ("target_spec", harness::target_spec),
    ("merge_reader", harness::merge_reader),
    ("histogram", harness::histogram),
    ("h2_frames", harness::h2_frames),
    ("hpack_block", harness::hpack_block),
];

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            eprintln!("{target}: {}", path.display());
            run(&data);
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn every_seed_passes_its_harness() {
    assert!(replay("corpus") >= 40);
}

#[test]
fn every_input_that_ever_failed_passes_now() {
    assert!(replay("regressions") >= 10);
}
