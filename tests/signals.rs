//! Issue 25, signals and the metrics listener: a hang-up (the terminal closed, an ssh
//! connection dropped) ends a run like Ctrl-C does, wherever the run is, with the report
//! written (exit 129, as a shell reports a SIGHUP); and no client of `--metrics-listen` can
//! hold a run open or keep a scraper out.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{read_json, signal, spawn, wait_for};

/// Waits until `child` has printed `needle` on stderr (reading it as it comes), at most
/// `limit`; returns what it printed so far. Its stderr is read to the end on a thread of its
/// own (a closed pipe would be a fault of the test, not of openpace).
fn await_stderr(child: &mut std::process::Child, needle: &str, limit: Duration) -> String {
    let mut err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                return;
            }
            let _ = tx.send(buf[..n].to_vec());
        }
    });
    let mut seen = String::new();
    let until = Instant::now() + limit;
    while !seen.contains(needle) {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => panic!("{needle:?} not printed within {limit:?}: {seen}"),
        }
    }
    seen
}

/// Runs `args`, sends SIGHUP `after` the run said it started, and checks the exit code and
/// the report it wrote.
fn hang_up(args: &[&str], report: &Path, after: Duration) -> serde_json::Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--out", report.to_str().unwrap()]);
    let mut child = spawn(&all);
    await_stderr(&mut child, "openpace: running", Duration::from_secs(10));
    std::thread::sleep(after);
    signal(&child, libc::SIGHUP);
    let signalled = Instant::now();
    let (code, message) = wait_for(child, Duration::from_secs(20));
    assert_eq!(code, Some(129), "{args:?}: {message}");
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "{args:?}: {:?}",
        signalled.elapsed()
    );
    read_json(report)
}

#[test]
fn a_hang_up_ends_a_run_with_its_report_wherever_the_run_is() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // In the send window.
    let v = hang_up(
        &["run", "--target", "noop", "-R", "200", "-d", "30s"],
        &d.join("window.json"),
        Duration::from_millis(1200),
    );
    assert_eq!(v["interrupted"], true);
    assert!(v["scenarios"][0]["requests"]["completed"].as_u64().unwrap() > 100);
    // In the drain: every call hangs, the timeout is long.
    let server = common::Server::start(&["--hang-every", "1"]);
    let v = hang_up(
        &[
            "run",
            "--target",
            &server.url("/"),
            "-R",
            "20",
            "-d",
            "1s",
            "--timeout",
            "30s",
        ],
        &d.join("drain.json"),
        Duration::from_millis(1800),
    );
    assert_eq!(v["scenarios"][0]["requests"]["intended"], 20);
    // Running on until precise.
    let v = hang_up(
        &[
            "run",
            "--target",
            "noop",
            "-R",
            "100",
            "-d",
            "1s",
            "--until-precise",
            "response p99 +-0.001%",
            "--max-duration",
            "60s",
        ],
        &d.join("precise.json"),
        Duration::from_millis(2500),
    );
    assert_eq!(v["interrupted"], true);
}

#[test]
fn a_hang_up_ends_a_capacity_search_with_its_report() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("capacity.json");
    let mut child = spawn(&[
        "capacity",
        "--target",
        "noop",
        "--low",
        "100",
        "--high",
        "200",
        "--step",
        "5s",
        "--warmup",
        "0s",
        "--out",
        report.to_str().unwrap(),
    ]);
    await_stderr(&mut child, "RPS passed", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGHUP);
    let (code, message) = wait_for(child, Duration::from_secs(20));
    assert_eq!(code, Some(129), "{message}");
    let v = read_json(&report);
    assert_eq!(v["interrupted"], true, "{v}");
}

/// Scrapes `/metrics` once; the status line.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines().next().unwrap_or("").to_string()
}

/// Starts a noop run of `duration` serving live metrics on a port the system picks; returns
/// it with the address it printed.
fn listening_run(duration: &str, report: &Path) -> (std::process::Child, String) {
    let mut child = spawn(&[
        "run",
        "--target",
        "noop",
        "-R",
        "100",
        "-d",
        duration,
        "--metrics-listen",
        "127.0.0.1:0",
        "--out",
        report.to_str().unwrap(),
    ]);
    let printed = await_stderr(&mut child, "/metrics", Duration::from_secs(10));
    let addr = printed
        .split("live metrics at http://")
        .nth(1)
        .and_then(|rest| rest.split("/metrics").next())
        .unwrap_or_else(|| panic!("no address printed: {printed}"))
        .to_string();
    (child, addr)
}

#[test]
fn a_signal_in_the_wait_for_a_last_scrape_is_an_interruption() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGHUP, 129)] {
        let report = dir.path().join("r.json");
        let (child, addr) = listening_run("2s", &report);
        // Two scrapes 1.5 s apart: the end waits for another, up to twice that gap.
        assert!(scrape(&addr).contains("200"));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(scrape(&addr).contains("200"));
        // The run ends at about 2 s; the wait for a last scrape then lasts about 3 s.
        std::thread::sleep(Duration::from_millis(1800));
        signal(&child, sig);
        let (status, message) = wait_for(child, Duration::from_secs(10));
        assert_eq!(status, Some(code), "{message}");
        assert!(read_json(&report)["scenarios"][0]["requests"]["completed"].as_u64() > Some(0));
    }
}

#[test]
fn no_client_of_the_metrics_listener_holds_the_run_or_keeps_a_scraper_out() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let started = Instant::now();
    let (child, addr) = listening_run("3s", &report);
    // A client that sends its request head one byte a second.
    let slow_addr = addr.clone();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(&slow_addr).unwrap();
        let mut cut_off = false;
        for byte in b"GET /metrics HTTP/1.1\r\nHost: slowloris\r\n\r\n" {
            if stream.write_all(&[*byte]).is_err() {
                cut_off = true;
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        cut_off
    });
    // 500 connections that never say anything.
    let idle: Vec<TcpStream> = (0..500)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A real scraper still gets the page.
    let status = scrape(&addr);
    assert!(status.contains("200"), "{status:?}");
    // The run ends on time: its 3 s, the last scrape's wait (bounded), the report.
    let (code, message) = wait_for(child, Duration::from_secs(20));
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{message}");
    eprintln!("a slowloris and 500 idle clients: the 3-s run ended after {took:?}");
    assert!(took < Duration::from_secs(9), "{took:?}");
    drop(idle);
    assert!(slow.join().unwrap(), "the slow client was never cut off");
}

#[test]
fn a_run_whose_terminal_is_gone_still_writes_its_report() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    // Standard error closed from the start, as after a hang-up: every progress line fails.
    let mut child = spawn(&[
        "run",
        "--target",
        "noop",
        "-R",
        "100",
        "-d",
        "30s",
        "--interval",
        "0.2s",
        "--out",
        report.to_str().unwrap(),
    ]);
    drop(child.stderr.take());
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGHUP);
    let (code, _) = wait_for(child, Duration::from_secs(10));
    assert_eq!(code, Some(129));
    assert_eq!(read_json(&report)["interrupted"], true);
}
