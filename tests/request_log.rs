//! `--log-requests FILE` and `openpace log`: one line per measured request, whose counts and
//! percentiles equal the report's when the log is complete; a disk that fills or a sink that
//! cannot keep up never stalls the run, and the report says what the log holds.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// A run of `target` at `rate` for `secs` s, logging to `files.0`, its report in `files.1`.
fn logged_run(
    target: &str,
    rate: &str,
    secs: &str,
    (log, report): (&Path, &Path),
    extra: &[&str],
) -> Output {
    let mut flags = vec!["--log-requests", log.to_str().unwrap()];
    flags.extend_from_slice(extra);
    common::run_at(target, rate, secs, report, &flags)
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(out));
}

/// `openpace log FILE --summary --json`.
fn summary(log: &Path) -> Value {
    let out = common::openpace(&["log", log.to_str().unwrap(), "--summary", "--json"]);
    ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every percentile, the count, min and max of the log's response time are the report's.
fn same_response_times(report: &Value, log: &Value) {
    let (r, l) = (
        &report["scenarios"][0]["response_time_ms"],
        &log["scenarios"][0]["response_time_ms"],
    );
    for key in [
        "count", "min", "max", "p50", "p90", "p95", "p99", "p99_9", "p99_99",
    ] {
        assert_eq!(r[key], l[key], "{key}: report {} log {}", r[key], l[key]);
    }
    assert_eq!(
        report["scenarios"][0]["service_time_ms"]["p99"],
        log["scenarios"][0]["service_time_ms"]["p99"]
    );
}

#[test]
fn a_complete_log_of_nginx_has_the_reports_counts_and_percentiles() {
    let _serial = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, report) = (dir.path().join("requests.log"), dir.path().join("r.json"));
    let url = format!("http://{}/", nginx.addr);
    let out = logged_run(&url, "2000", "2", (&log, &report), &[]);
    ok(&out);
    let report = common::read_json(&report);
    let figures = &report["request_log"];
    let requests = &report["scenarios"][0]["requests"];
    let measured = requests["completed"].as_u64().unwrap() + requests["expired"].as_u64().unwrap();
    assert_eq!(figures["requests"].as_u64(), Some(measured), "{figures}");
    assert_eq!(figures["written"].as_u64(), Some(measured), "{figures}");
    assert_eq!(figures["kept_share"].as_f64(), Some(1.0));
    let log_summary = summary(&log);
    assert_eq!(log_summary["complete"], true, "{log_summary}");
    same_response_times(&report, &log_summary);
    let rows = common::log_rows(&log);
    assert_eq!(rows.len() as u64, measured);
    let num = |row: &std::collections::HashMap<String, String>, k: &str| -> u64 {
        row[k]
            .parse()
            .unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
    };
    let mut seqs: Vec<u64> = rows.iter().map(|r| num(r, "seq")).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), rows.len(), "one line per request");
    for row in rows.iter().filter(|r| r["outcome"] == "ok") {
        let (intended, sent, first, end) = (
            num(row, "intended_ns"),
            num(row, "sent_ns"),
            num(row, "first_byte_ns"),
            num(row, "end_ns"),
        );
        assert!(
            intended <= sent.max(intended) && sent <= first && first <= end,
            "{row:?}"
        );
        assert_eq!(num(row, "response_ns"), end - intended);
        assert!(
            num(row, "connection") >= 1 && num(row, "bytes_received") > 0,
            "{row:?}"
        );
    }
}

#[test]
fn errors_in_the_log_are_the_reports_errors_by_kind_and_an_in_process_target_is_logged_too() {
    let _serial = common::serial();
    let server = common::Server::start(&["--service", "1ms", "--reset-every", "10"]);
    let dir = tempfile::tempdir().unwrap();
    let (log, report) = (dir.path().join("requests.log"), dir.path().join("r.json"));
    let out = logged_run(
        &server.url("/"),
        "500",
        "2",
        (&log, &report),
        &["--retries", "0"],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        common::stderr(&out)
    );
    let report = common::read_json(&report);
    let log_summary = summary(&log);
    let outcomes = &log_summary["scenarios"][0]["outcomes"];
    let kinds = report["scenarios"][0]["errors_by_kind"]
        .as_object()
        .unwrap();
    assert!(!kinds.is_empty(), "the server reset some requests");
    for (kind, n) in kinds {
        assert_eq!(&outcomes[kind], n, "{kind}: {outcomes}");
    }
    assert_eq!(
        outcomes["ok"].as_u64(),
        report["scenarios"][0]["requests"]["ok"].as_u64()
    );
    same_response_times(&report, &log_summary);
    // The server's 1 ms is between the request going out and the first byte coming back.
    let rows = common::log_rows(&log);
    let first: Vec<u64> = rows
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .map(|r| r["first_byte_ns"].parse::<u64>().unwrap() - r["sent_ns"].parse::<u64>().unwrap())
        .collect();
    assert!(
        first.iter().all(|&t| t >= 1_000_000),
        "no first byte before the server's 1 ms was up"
    );

    // An in-process target: no connection, no first byte, the same percentiles.
    let spin = dir.path().join("spin.json");
    ok(&logged_run("spin:20us", "2000", "1", (&log, &spin), &[]));
    same_response_times(&common::read_json(&spin), &summary(&log));
}

#[test]
fn a_full_disk_stops_the_log_not_the_run_and_is_reported_with_exit_3() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=128k",
            "tmpfs",
            tiny.to_str().unwrap(),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        common::missing::<()>("a tmpfs this test may mount (root)");
        return;
    }
    let log = tiny.join("requests.log");
    let report = dir.path().join("r.json");
    let out = logged_run("noop", "5000", "2", (&log, &report), &[]);
    let _ = std::process::Command::new("umount").arg(&tiny).status();
    let message = common::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{message}");
    assert!(message.contains("No space left"), "{message}");
    let report = common::read_json(&report);
    let requests = &report["scenarios"][0]["requests"];
    assert_eq!(
        requests["completed"], requests["intended"],
        "the run went on"
    );
    let figures = &report["request_log"];
    let written = figures["written"].as_u64().unwrap();
    assert!(written > 0 && written < 10_000, "{figures}");
    assert!(figures["error"].as_str().unwrap().contains("No space"));
    assert_eq!(
        figures["written"].as_u64().unwrap() + figures["lost"].as_u64().unwrap(),
        10_000,
        "{figures}"
    );
}

#[test]
fn a_sink_that_cannot_keep_up_makes_the_log_sample_and_never_stalls_the_run() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("slow");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string and mode.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // A reader that takes 4 KiB every 10 ms (about 5,000 lines a second, half the rate).
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(reader_path).unwrap();
        let (mut buf, mut all) = (vec![0u8; 4096], Vec::new());
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    let report = dir.path().join("r.json");
    let began = std::time::Instant::now();
    let out = logged_run("noop", "10000", "3", (&fifo, &report), &[]);
    let took = began.elapsed();
    ok(&out);
    // 3 s of load, the start, and at most the writer's 5 s grace at the end.
    assert!(took.as_secs_f64() < 12.0, "took {took:?}");
    let report = common::read_json(&report);
    let requests = &report["scenarios"][0]["requests"];
    assert_eq!(
        requests["completed"], requests["intended"],
        "the run kept its schedule"
    );
    let figures = &report["request_log"];
    assert!(figures["sampled_out"].as_u64().unwrap() > 0, "{figures}");
    assert!(figures["kept_share"].as_f64().unwrap() < 0.9, "{figures}");
    let bytes = reader.join().unwrap();
    let saved = dir.path().join("saved.log");
    std::fs::write(&saved, &bytes).unwrap();
    let rows = common::log_rows(&saved);
    let written = figures["written"].as_u64().unwrap();
    if figures["cut_short"] == true {
        // The writer was still writing when the report was made: the file holds at least
        // what the report counted.
        assert!(
            rows.len() as u64 >= written,
            "{} rows, {figures}",
            rows.len()
        );
    } else {
        assert_eq!(rows.len() as u64, written, "{figures}");
    }
    assert!(
        rows.iter().any(|r| r["weight"] != "1"),
        "sampled lines carry their weight"
    );
}

rejects! {
    standard_output_takes_no_request_log: ["--target", "noop", "--log-requests", "-"]
        => ["log_requests", "a file path"];
    a_repeated_run_takes_no_request_log:
        ["--target", "noop", "--log-requests", "/tmp/x.log", "--repeat", "2"]
        => ["log_requests", "repeat 2"];
}

#[test]
fn capacity_and_the_reader_refuse_what_is_not_theirs() {
    let capacity = [
        "capacity",
        "--target",
        "noop",
        "--log-requests",
        "/tmp/x.log",
    ];
    common::assert_rejected(&capacity, &["--log-requests", "each step would replace"]);
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "seq,intended\n1,2\n").unwrap();
    let out = common::openpace(&["log", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(common::stderr(&out).contains("openpace-request-log 1"));
}
