//! Inputs that crashed or exhausted openpace, input that reached the wire raw, and the
//! smaller findings of issue 11 (parts 3, 4 and 7), each reproduced as the issue found it.

mod common;

use common::{assert_rejected, openpace, stderr};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use common::Server;

/// `openpace validate` on a config file holding `text`.
fn validate(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    std::fs::write(&path, text).unwrap();
    openpace(&["validate", path.to_str().unwrap()])
}

rejects! {
    // Part 3: sizes a config can ask for. Each used to panic, abort or exhaust memory.
    a_core_range_is_checked_before_it_is_expanded: ["--worker-cores", "0-18446744073709551615"]
        => ["flag --worker-cores", "worker_cores", "from 0 to 1023"];
    a_core_range_of_four_billion_is_refused: ["--worker-cores", "0-4294967296"]
        => ["worker_cores", "from 0 to 1023"];
    a_spike_pattern_has_at_most_100000_spikes: ["--pattern", "spike", "--rate", "10", "--spike-rps", "20", "--duration", "60", "--spike-duration", "1e-7"]
        => ["spike_duration", "at most 100000 spikes"];
    a_cache_of_a_hundred_million_entries_is_refused: ["--target", "features:cache_size=100000000"]
        => ["target", "cache_size 100000000 is outside 1-100000"];
    a_cache_of_u64_max_entries_is_refused: ["--target", "features:cache_size=18446744073709551615"]
        => ["cache_size", "outside 1-100000"];
    a_time_series_has_at_most_100000_intervals: ["--duration", "720h", "--interval", "10ms"]
        => ["metrics_collection_interval", "at most 100000 intervals"];
    a_backlog_has_a_ceiling: ["--set", "max_backlog=100000000"]
        => ["max_backlog = 100000000", "0 to 10000000"];
    a_timeout_of_a_fraction_of_a_nanosecond_is_refused: ["--timeout", "500ns"]
        => ["request_timeout_seconds", "1us to 3600 seconds"];
    // Part 4: input that reached the wire raw.
    a_tcp_target_without_a_payload_is_refused: ["--target", "tcp://127.0.0.1:9"]
        => ["target", "needs a payload"];
    header_values_may_not_hold_control_characters: ["--target", "http://127.0.0.1:9/", "-H", "X-A: 1\u{1}2"]
        => ["header `X-A`", "control character"];
    header_names_must_be_tokens: ["--target", "http://127.0.0.1:9/", "-H", "X A: 1"]
        => ["not a header name"];
    a_content_length_must_match_the_body: ["--target", "http://127.0.0.1:9/", "--body", "abc", "-H", "Content-Length: 10"]
        => ["Content-Length: 10 does not match the body (3 bytes)"];
    transfer_encoding_is_refused: ["--target", "http://127.0.0.1:9/", "-H", "Transfer-Encoding: chunked"]
        => ["Transfer-Encoding"];
    credentials_in_a_url_are_refused: ["--target", "http://user:pw@127.0.0.1:9/"]
        => ["credentials in the URL"];
    a_connect_timeout_of_5e_324_is_refused: ["--target", "http://127.0.0.1:9/", "--connect-timeout", "5e-324"]
        => ["connect_timeout", "1ms to 3600 seconds"];
    // Part 7: limits beyond what a metric can measure passed whatever happened.
    a_share_above_100_percent_is_refused: ["--threshold", "error_rate <= 200%"]
        => ["thresholds[0]", "beyond what the metric can measure"];
}

#[test]
fn a_url_with_cr_lf_is_refused_before_it_reaches_the_wire() {
    // The issue's config: the server received GET /a, a header X-Injected: 1, and a second
    // request GET /smuggled.
    let out =
        validate(r#"{"target": "http://127.0.0.1:18083/a\r\nX-Injected: 1\r\n\r\nGET /smuggled"}"#);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains("target") && message.contains("control character"),
        "{message}"
    );
    let out = validate(r#"{"target": {"http": {"url": "http://127.0.0.1:1/\u0000"}}}"#);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_key_given_twice_is_refused_naming_it() {
    let out = validate("{\n  \"target_rps\": 5,\n  \"target_rps\": 500\n}");
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("`target_rps` appears twice") && message.contains("line 3"),
        "{message}"
    );
}

#[test]
fn at_most_64_scenarios_in_a_run() {
    let scenarios: Vec<String> = (0..65).map(|i| format!("{{\"name\": \"s{i}\"}}")).collect();
    let out = validate(&format!("{{\"scenarios\": [{}]}}", scenarios.join(",")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("1 to 64 scenarios"),
        "{}",
        stderr(&out)
    );
    // 10,000 scenarios: refused, and quickly (validation is linear in the config's size).
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("{{\"name\": \"s{i}\"}}"))
        .collect();
    let started = std::time::Instant::now();
    let out = validate(&format!("{{\"scenarios\": [{}]}}", many.join(",")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_body_file_larger_than_64_mib_is_refused_without_reading_it_all() {
    // A sparse file one byte past the limit: refused by its size, never read.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let big = big.to_str().unwrap();
    let args = [
        "run",
        "--out",
        "none",
        "--target",
        "http://127.0.0.1:9/",
        "--body-file",
    ];
    assert_rejected(
        &[&args[..], &[big]].concat(),
        &[&format!("body_file {big} is larger than 64 MiB")],
    );
    // /dev/zero never ends: reading it whole would exhaust memory. It is not even opened.
    assert_rejected(
        &[&args[..], &["/dev/zero"]].concat(),
        &["body_file /dev/zero", "a device, not a regular file"],
    );
}

/// A server that answers every request with an empty 200 and hands back the request heads it
/// received, as sent.
fn capture_server() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn paths_are_percent_encoded_and_fragments_dropped_on_the_wire() {
    let _turn = common::serial();
    let (addr, heads) = capture_server();
    let url = format!("http://{addr}/a b/é?q=x y&r=%41#frag");
    let out = openpace(&[
        "run",
        "--target",
        &url,
        "--rate",
        "20",
        "--duration",
        "0.1s",
        "--warmup",
        "0",
        "--quiet",
        "--out",
        "none",
        "-H",
        "Host: example.test",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    let line = head.lines().next().unwrap();
    assert_eq!(line, "GET /a%20b/%C3%A9?q=x%20y&r=%41 HTTP/1.1", "{head}");
    // A Host given by hand replaces the default one: one Host header, the user's.
    let hosts: Vec<&str> = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("host:"))
        .collect();
    assert_eq!(hosts, ["Host: example.test"], "{head}");
}

#[test]
fn a_10_mb_body_costs_10_mb_not_10_mb_per_connection() {
    let _turn = common::serial();
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.bin");
    std::fs::write(&body, vec![b'x'; 10 * 1024 * 1024]).unwrap();
    let report = dir.path().join("r.json");
    let url = server.url("/");
    let out = openpace(&[
        "run",
        "--target",
        &url,
        "--method",
        "POST",
        "--body-file",
        body.to_str().unwrap(),
        "--connections",
        "64",
        "--workers",
        "2",
        "--rate",
        "64",
        "--duration",
        "1s",
        "--warmup",
        "0",
        "--quiet",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let rss = json["resources"]["max_rss_mb"].as_f64().unwrap();
    // Before: 1.36 GB at 64 connections (two copies per connection).
    assert!(rss < 200.0, "peak RSS {rss} MB");
    let ok = json["scenarios"][0]["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 0, "{json}");
}
