//! Issue 12: the obvious command gets the fast run, and flags mean what they say.
//!
//! A run whose target comes from the flags is a scenario of its own; connections open as the
//! rate needs them; requests that wait for a connection are said to have waited; a worker
//! spinning towards its instant is not saturated; a stopped openpace flags the intervals its
//! stall covered; healthy runs are not called suspect.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Nginx, Server, openpace, stderr};
use openpace::RunResult;
use openpace::metrics::saturation::{CLIENT_QUEUEING, STALLED, WORKER_SATURATED};

fn report(path: &Path) -> RunResult {
    openpace::report::load_result(path, openpace::base::input::MAX_INPUT_BYTES)
        .expect("a JSON report")
}

/// `openpace run ARGS --out DIR/NAME.json`, returning the output and the report.
fn run_to(dir: &Path, name: &str, args: &[&str]) -> (std::process::Output, RunResult) {
    let path = dir.join(format!("{name}.json"));
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", path.to_str().unwrap()]);
    let out = openpace(&all);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{all:?}: {}",
        stderr(&out)
    );
    let result = report(&path);
    (out, result)
}

/// Cores this test process may use, less the timing loop's, at least one.
fn spare_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .saturating_sub(1)
        .max(1)
}

#[test]
fn a_target_from_the_flags_is_a_scenario_of_its_own() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[]);
    let url = server.url("/");
    let (out, result) = run_to(
        dir.path(),
        "flags",
        &["--target", &url, "--rate", "200", "--duration", "1s"],
    );
    let s = &result.scenarios[0];
    assert_eq!(s.name, format!("GET {url}"));
    assert_eq!(s.warmup_s, 0.0);
    assert_eq!(s.requests.warmup, 0);
    assert_eq!(s.workers, spare_cores());
    assert!(s.network.connections_auto);
    assert_eq!(s.network.connections_limit, 1024);
    assert!(s.network.peak_in_flight >= 1);
    assert_eq!(s.intervals.len(), 1, "1-second intervals");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(!summary.contains("Cache Hit Rate"), "{summary}");
    assert!(
        summary.contains("up to 1024 (--connections auto)"),
        "{summary}"
    );

    // Method and in-process targets name the scenario too; --name still wins.
    let (_, result) = run_to(
        dir.path(),
        "post",
        &[
            "--target",
            &url,
            "--method",
            "POST",
            "--body",
            "x",
            "--rate",
            "50",
            "--duration",
            "0.2s",
        ],
    );
    assert_eq!(result.scenarios[0].name, format!("POST {url}"));
    let (_, result) = run_to(
        dir.path(),
        "noop",
        &[
            "--target",
            "noop",
            "--rate",
            "100",
            "--duration",
            "0.2s",
            "--name",
            "mine",
        ],
    );
    assert_eq!(result.scenarios[0].name, "mine");
    assert_eq!(result.scenarios[0].warmup_s, 0.0);
}

#[test]
fn waiting_for_a_connection_is_client_side_queueing_in_words() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // One connection to a 2 ms server carries 500 requests a second; 800 are asked for.
    let server = Server::start(&["--service", "2ms"]);
    let url = server.url("/");
    let flags = ["--target", &url, "--rate", "800", "--duration", "1.5s"];
    let mut one = flags.to_vec();
    one.extend_from_slice(&["--connections", "1"]);
    let (out, result) = run_to(dir.path(), "one", &one);
    let s = &result.scenarios[0];
    assert!(
        s.requests.queued * 4 > s.requests.completed,
        "{:?}",
        s.requests
    );
    assert!(s.requests.queued_ns > 0);
    let note = s
        .verdict
        .notes
        .iter()
        .find(|n| n.starts_with("CLIENT-SIDE QUEUEING"))
        .unwrap_or_else(|| panic!("{:?}", s.verdict.notes));
    assert!(note.contains("raise --connections"), "{note}");
    assert!(
        s.suspect_reasons.contains_key(CLIENT_QUEUEING),
        "{:?}",
        s.suspect_reasons
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CLIENT-SIDE QUEUEING"));

    // With connections opened as needed, nothing waits for one.
    let (_, result) = run_to(dir.path(), "auto", &flags);
    let s = &result.scenarios[0];
    assert_eq!(s.requests.queued, 0, "{:?}", s.requests);
    assert!(s.network.peak_in_flight >= 2, "{:?}", s.network);
    assert!(!s.verdict.notes.iter().any(|n| n.starts_with("CLIENT-SIDE")));
}

#[test]
fn spinning_towards_an_instant_is_not_saturation_and_a_full_worker_is() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // 100 us calls at 1,000 RPS: the worker is busy 10% of the time, whatever it spins.
    for wait in ["hybrid", "spin"] {
        let (_, result) = run_to(
            dir.path(),
            wait,
            &[
                "--target",
                "spin:100us",
                "--workers",
                "1",
                "--rate",
                "1000",
                "--duration",
                "2s",
                "--wait",
                wait,
            ],
        );
        let s = &result.scenarios[0];
        assert!(
            !s.suspect_reasons.contains_key(WORKER_SATURATED),
            "{wait}: {:?}",
            s.suspect_reasons
        );
        // The rows of the measured window: a drain row after it holds a sliver of calls.
        for row in s
            .intervals
            .iter()
            .filter(|r| r.end_s <= s.duration_s + 1e-9)
        {
            assert!(
                (3.0..50.0).contains(&row.worker_busy_pct),
                "{wait}: busy {}% in {}..{} s",
                row.worker_busy_pct,
                row.start_s,
                row.end_s
            );
        }
    }
    // 2 ms calls at 1,000 RPS: one worker cannot keep up, and says so.
    let (_, result) = run_to(
        dir.path(),
        "full",
        &[
            "--target",
            "spin:2ms",
            "--workers",
            "1",
            "--rate",
            "1000",
            "--duration",
            "2s",
            "--timeout",
            "1s",
        ],
    );
    let s = &result.scenarios[0];
    assert!(
        s.intervals.iter().any(|r| r.worker_busy_pct >= 95.0),
        "{:?}",
        s.intervals
    );
    assert!(
        s.suspect_reasons.contains_key(WORKER_SATURATED),
        "{:?}",
        s.suspect_reasons
    );
}

#[test]
fn a_stopped_openpace_flags_the_intervals_its_stall_covered() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stopped.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args([
            "run",
            "--target",
            "noop",
            "--rate",
            "1000",
            "--duration",
            "5s",
            "--out",
        ])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(1200));
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code().is_some());
    // Issue 29 point 1: the note says where, how much of the run, what was seen and what to
    // do about it.
    let summary = String::from_utf8_lossy(&out.stdout);
    let note = summary
        .lines()
        .find(|l| l.trim_start().starts_with("FIGURES SUSPECT:"))
        .unwrap_or_else(|| panic!("no suspect note: {summary}"));
    for part in [
        " intervals (at ",
        "% of the measured requests)",
        "openpace stalled in ",
        "openpace could not run for 50 ms or more",
        "run again",
    ] {
        assert!(note.contains(part), "{part}: {note}");
    }
    let result = report(&path);
    let stall = result
        .stalls
        .iter()
        .find(|x| x.duration_s >= 1.0)
        .unwrap_or_else(|| panic!("no stall of a second: {:?}", result.stalls));
    let s = &result.scenarios[0];
    // Every interval the stall overlapped is flagged as the stall.
    let covered: Vec<_> = s
        .intervals
        .iter()
        .filter(|r| r.start_s < stall.at_s + stall.duration_s && r.end_s > stall.at_s)
        .collect();
    assert!(covered.len() >= 2, "{:?}", s.intervals);
    for row in covered {
        assert!(row.flags.iter().any(|f| f == STALLED), "{row:?}");
    }
    assert!(
        result.warnings.iter().any(|w| w.contains("stalled")),
        "{:?}",
        result.warnings
    );
    assert!(s.suspect_intervals <= s.intervals.len() as u64);
    assert!(
        s.suspect_reasons
            .values()
            .all(|&n| n <= s.suspect_intervals)
    );
}

/// The flag a healthy run must never carry, whatever the machine is doing: it called workers
/// that spun towards their instants saturated (issue 12). A rate shortfall and client-side
/// queueing are true of a run the VM stalled for long enough (50 ms piles up 1,024 requests
/// at 20,000 RPS), so they are printed with the rest, not asserted.
const NEVER_HEALTHY: [&str; 1] = [WORKER_SATURATED];

/// Runs `args` three times: none may carry a flag of [`NEVER_HEALTHY`]. The machine's own
/// flags (timer lateness, steal) are true statements about a busy VM and are printed, not
/// asserted: on this 2-vCPU VM the nginx run met 2-3 such intervals in each of three 4-s runs
/// at one hour and none at another (the closing notes and docs/benchmarks.md give the figures).
fn healthy(dir: &Path, name: &str, args: &[&str]) {
    for attempt in 0..3 {
        let (_, result) = run_to(dir, &format!("{name}-{attempt}"), args);
        let s = &result.scenarios[0];
        for flag in NEVER_HEALTHY {
            assert!(
                !s.suspect_reasons.contains_key(flag),
                "{name}: {:?}",
                s.suspect_reasons
            );
        }
        assert!(s.suspect_intervals <= s.intervals.len() as u64);
        println!(
            "{name}: {} of {} intervals suspect {:?}",
            s.suspect_intervals,
            s.intervals.len(),
            s.suspect_reasons
        );
    }
}

#[test]
fn healthy_runs_are_not_called_suspect() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    healthy(dir.path(), "default", &[]);
    healthy(
        dir.path(),
        "noop",
        &["--target", "noop", "--rate", "100000", "--duration", "4s"],
    );
    healthy(
        dir.path(),
        "spin",
        &[
            "--target",
            "spin:100us",
            "--rate",
            "1000",
            "--duration",
            "4s",
        ],
    );
    let Some(nginx) = Nginx::start() else { return };
    let url = format!("http://{}/", nginx.addr);
    healthy(
        dir.path(),
        "nginx",
        &["--target", &url, "--rate", "20000", "--duration", "4s"],
    );
}

/// Issue 12: with 20,000 connections in the closed model no completion was recorded for 7 s,
/// then all arrived in the last interval: the worker started every caller (a connect each)
/// before it looked at its poll. Callers now start in batches between looks, and all start.
#[test]
fn many_closed_loop_callers_all_start_and_complete_from_the_first_interval() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--service", "1ms"]);
    let url = server.url("/");
    let (_, result) = run_to(
        dir.path(),
        "closed",
        &[
            "--target",
            &url,
            "--model",
            "closed",
            "--connections",
            "600",
            "--duration",
            "2s",
            "--interval",
            "0.5s",
        ],
    );
    let s = &result.scenarios[0];
    assert_eq!(s.network.connections_opened, 600, "{:?}", s.network);
    assert!(s.intervals[0].completed > 0, "{:?}", s.intervals[0]);
    assert!(
        s.intervals.iter().all(|r| r.completed > 0),
        "{:?}",
        s.intervals
    );
}

/// Issue 29 point 2: when a percentile is mostly openpace's own queue (here one connection
/// for 1,500 RPS of 1-ms calls: requests wait for it), the summary marks it and names the
/// flag that shortens the queue, beside the dispatch and service figures.
#[test]
fn a_percentile_held_by_the_client_queue_is_marked_with_its_remedy() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--service", "1ms"]);
    let url = server.url("/");
    let (out, result) = run_to(
        dir.path(),
        "queued",
        &["--target", &url, "-R", "1500", "-d", "1s", "-c", "1"],
    );
    let s = &result.scenarios[0];
    assert!(s.requests.queued > 100, "{:?}", s.requests);
    let summary = String::from_utf8_lossy(&out.stdout);
    let p99 = summary
        .lines()
        .find(|l| l.starts_with("  P99: "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(p99.ends_with("  *"), "{p99}");
    assert!(
        summary.contains("* mostly openpace's own hand-off, not the target: at p"),
        "{summary}"
    );
    assert!(
        summary.contains("requests waited for a free connection: raise --connections"),
        "{summary}"
    );
    assert!(
        summary.contains("Connections: 1 open from the start, 1 used;"),
        "{summary}"
    );
}
