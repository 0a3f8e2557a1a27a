//! The CI version of the soak (`tools/soak.sh`): 60 seconds of the no-op target at 100,000
//! RPS. Memory must stay flat and the rate must be kept; the hour-long run and the nginx
//! soak are figures for the docs, not tests.

use std::process::Command;

/// The figure after `key` in `text` (e.g. "rate error 0.0012%" -> 0.0012).
fn figure(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} not in {text}"))
        + key.len();
    text[at..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {text}"))
}

#[test]
fn a_minute_at_100k_rps_keeps_its_rate_and_its_memory() {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/soak.sh"))
        .arg(env!("CARGO_BIN_EXE_openpace"))
        .env("NOOP_SECS", "60")
        .env("HTTP_SECS", "0")
        .output()
        .expect("bash runs the script");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    // Five samples, 10 s apart, from 15 s on (mid-interval, once the run is under way).
    assert!(figure(&text, "over") >= 5.0, "{text}");
    let ratio = figure(&text, "last/first");
    assert!(ratio <= 1.05, "RSS grew by more than 5%: {text}");
    // Every intended request completed, and the rate held to 0.1% even on a busy machine.
    assert!(figure(&text, "rate error") < 0.1, "{text}");
    assert!(text.contains(" 0 dropped, 0 timeouts"), "{text}");
}
