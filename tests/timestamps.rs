//! `--timestamps kernel`: the kernel's software stamps split each request's service time into
//! the client's send path, the wire and server, and the client's receive path. Against the test
//! server's `--service 1ms`, nginx (plain and TLS) and Redis: every ok request is split or
//! counted as missing a stamp, the three parts are in order and add up to the service time, the
//! server's millisecond is inside `wire_and_server`, and a hog on the worker's core grows
//! `client_receive`, not `wire_and_server`.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

/// A run of `target` at `rate` for `secs` s with `--timestamps kernel`, its report in `report`.
fn stamped_run(target: &str, rate: &str, secs: &str, report: &Path, extra: &[&str]) -> Output {
    let mut flags = vec!["--timestamps", "kernel"];
    flags.extend_from_slice(extra);
    common::run_at(target, rate, secs, report, &flags)
}

/// The scenario's `kernel_timestamps`, after checking that every ok request is split or
/// counted as missing a stamp, and that at most `missing_share` of them are missing one.
fn split(report: &Path, missing_share: f64) -> Value {
    let r = common::read_json(report);
    let s = &r["scenarios"][0];
    let k = s["kernel_timestamps"].clone();
    let n = |key: &str| k[key].as_u64().unwrap_or_else(|| panic!("{key} in {k}"));
    let ok = s["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 0, "{}", s["requests"]);
    assert_eq!(
        n("stamped") + n("missing_tx") + n("missing_rx") + n("disordered"),
        ok,
        "{k}"
    );
    assert_eq!(n("disordered"), 0, "{k}");
    let missing = (n("missing_tx") + n("missing_rx")) as f64;
    assert!(missing <= missing_share * ok as f64, "{k}");
    assert_eq!(k["client_send_us"]["count"].as_u64(), Some(n("stamped")));
    k
}

/// The split requests of a request log: for each line with both kernel stamps, `columns`'
/// values (in ns).
fn split_rows(log: &Path, columns: &[&str]) -> Vec<Vec<u64>> {
    common::log_rows(log)
        .into_iter()
        .filter(|r| !r["kernel_tx_ns"].is_empty() && !r["kernel_rx_ns"].is_empty())
        .map(|r| columns.iter().map(|c| r[*c].parse().unwrap()).collect())
        .collect()
}

fn p(k: &Value, part: &str, q: &str) -> f64 {
    k[part][q].as_f64().unwrap()
}

#[test]
fn the_servers_millisecond_is_in_wire_and_server_and_the_parts_add_up_request_by_request() {
    let _serial = common::serial();
    let server = common::Server::start(&["--service", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let (report, log) = (dir.path().join("r.json"), dir.path().join("requests.log"));
    let logged = ["--log-requests", log.to_str().unwrap()];
    let out = stamped_run(&server.url("/"), "500", "2", &report, &logged);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let k = split(&report, 0.05);
    let wire = p(&k, "wire_and_server_us", "p50");
    assert!(
        (1_000.0..1_500.0).contains(&wire),
        "wire_and_server p50 {wire} us"
    );
    assert!(p(&k, "client_send_us", "p50") < 500.0, "{k}");
    assert!(p(&k, "client_receive_us", "p50") < 500.0, "{k}");
    // Request by request, from the log: in order, the three parts make the service time, and
    // the server's 1 ms lies between the two stamps.
    let columns = [
        "sent_ns",
        "kernel_tx_ns",
        "kernel_rx_first_ns",
        "kernel_rx_ns",
        "end_ns",
        "service_ns",
    ];
    let rows = split_rows(&log, &columns);
    for row in &rows {
        let &[sent, tx, rx_first, rx, end, service] = row.as_slice() else {
            unreachable!()
        };
        assert!(sent <= tx && tx <= rx && rx <= end, "{row:?}");
        assert!(tx <= rx_first && rx_first <= rx, "{row:?}");
        assert_eq!((tx - sent) + (rx - tx) + (end - rx), service, "{row:?}");
        assert!(rx - tx >= 1_000_000, "the server's 1 ms inside: {row:?}");
    }
    assert_eq!(rows.len() as u64, k["stamped"].as_u64().unwrap());
}

#[test]
fn a_response_over_several_reads_has_the_stamps_of_its_first_read_and_its_last() {
    let _serial = common::serial();
    let server = common::Server::start(&["--body-size", "2000000"]);
    let dir = tempfile::tempdir().unwrap();
    let (report, log) = (dir.path().join("r.json"), dir.path().join("requests.log"));
    let logged = ["--log-requests", log.to_str().unwrap()];
    let out = stamped_run(&server.url("/"), "20", "1", &report, &logged);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    split(&report, 0.1);
    let pairs: Vec<(u64, u64)> = split_rows(&log, &["kernel_rx_first_ns", "kernel_rx_ns"])
        .into_iter()
        .map(|r| (r[0], r[1]))
        .collect();
    assert!(pairs.len() >= 15, "{} split requests", pairs.len());
    assert!(pairs.iter().all(|(a, b)| a <= b));
    // 2 MB arrive in many segments, read in 16 KiB reads: the first read's stamp is earlier.
    let spread = pairs.iter().filter(|(a, b)| a < b).count();
    assert!(
        spread * 2 >= pairs.len(),
        "{spread} of {} spread",
        pairs.len()
    );
}

#[test]
fn nginx_plain_and_over_tls_and_redis_are_split() {
    let _serial = common::serial();
    let Some(nginx) = common::Nginx::start_tls() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let tls = nginx.tls.as_ref().unwrap();
    let https = format!("https://{}/", tls.addr);
    let ca = tls.ca.to_str().unwrap().to_string();
    for (target, extra) in [
        (format!("http://{}/", nginx.addr), vec![]),
        // Opened as the rate needs them: a handshake's bytes before the first request.
        (https.clone(), vec!["--cacert", ca.as_str()]),
        // Opened before the run.
        (https, vec!["--cacert", ca.as_str(), "-c", "4"]),
    ] {
        let out = stamped_run(&target, "1000", "1", &report, &extra);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{target}: {}",
            common::stderr(&out)
        );
        let k = split(&report, 0.05);
        assert!(k["stamped"].as_u64().unwrap() > 900, "{target}: {k}");
    }
    drop(nginx);
    let Some(redis) = common::Daemon::redis() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let out = stamped_run(&url, "1000", "1", &report, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    split(&report, 0.05);
}

/// A real-time thread pinned to `core` that runs 2 ms in every 3 until `stop`.
fn hog(core: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: the calling thread, a valid parameter. Refused without privilege: the hog
        // then competes as a normal thread.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        while !stop.load(Ordering::Relaxed) {
            let until = std::time::Instant::now() + std::time::Duration::from_millis(2);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    })
}

#[test]
fn a_hog_on_the_workers_core_grows_client_receive_and_not_wire_and_server() {
    let _serial = common::serial();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("SKIPPED: needs two cores");
        return;
    }
    let server = common::Server::start(&["--service", "1ms"]);
    server.pin(0);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let cores = ["--timer-core", "0", "--worker-cores", "1"];
    let run = |report: &Path| {
        let out = stamped_run(&server.url("/"), "300", "2", report, &cores);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            common::stderr(&out)
        );
        split(report, 0.05)
    };
    let quiet = run(&report);
    let stop = Arc::new(AtomicBool::new(false));
    let hogging = hog(1, stop.clone());
    let busy = run(&dir.path().join("hog.json"));
    stop.store(true, Ordering::Relaxed);
    hogging.join().unwrap();
    let (receive_quiet, receive_busy) = (
        p(&quiet, "client_receive_us", "p90"),
        p(&busy, "client_receive_us", "p90"),
    );
    let (wire_quiet, wire_busy) = (
        p(&quiet, "wire_and_server_us", "p50"),
        p(&busy, "wire_and_server_us", "p50"),
    );
    eprintln!(
        "client_receive p90 {receive_quiet:.0} -> {receive_busy:.0} us, wire_and_server p50 \
         {wire_quiet:.0} -> {wire_busy:.0} us"
    );
    assert!(
        receive_busy > receive_quiet + 300.0,
        "client_receive p90 {receive_quiet} us quiet, {receive_busy} us with the hog"
    );
    assert!(
        wire_busy < wire_quiet + 300.0,
        "wire_and_server p50 {wire_quiet} us quiet, {wire_busy} us with the hog"
    );
}

rejects! {
        an_in_process_target_has_no_socket_to_stamp:
            ["--target", "noop", "--timestamps", "kernel"] => ["timestamps", "in-process"];
        a_unix_socket_is_not_stamped:
            ["--target", "http+unix:///tmp/none.sock:/", "--timestamps", "kernel"]
            => ["timestamps", "Unix socket"];
        only_off_kernel_or_hardware:
            ["--target", "http://127.0.0.1:1/", "--timestamps", "nic"]
            => ["timestamps", "off", "kernel", "hardware"];
        hardware_on_a_device_that_cannot:
            ["--target", "http://127.0.0.1:1/", "--timestamps", "hardware"]
            => ["timestamps", "lo, the device that reaches", "cannot stamp in hardware"];
}

/// The counts of the `tag` histograms of an `.hlog` interval log, in order.
fn hlog_counts(hlog: &str, tag: &str) -> Vec<u64> {
    use base64::Engine;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut counts = Vec::new();
    for entry in IntervalLogIterator::new(hlog.as_bytes()) {
        let Ok(LogEntry::Interval(h)) = entry else {
            continue;
        };
        if h.tag().map(|t| t.as_str()) == Some(tag) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let histogram: hdrhistogram::Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            counts.push(histogram.len());
        }
    }
    counts
}

/// Each interval's `kernel_timestamps`, checked to add up to the scenario's: the stamped
/// counts, and each part's histogram count equal to them.
fn interval_splits(s: &Value) -> Vec<u64> {
    let rows = s["intervals"].as_array().unwrap();
    let stamped: Vec<u64> = rows
        .iter()
        .map(|i| {
            let k = &i["kernel_timestamps"];
            let n = k["stamped"].as_u64().unwrap_or_else(|| panic!("{i}"));
            for part in ["client_send_us", "wire_and_server_us", "client_receive_us"] {
                assert_eq!(k[part]["count"].as_u64(), Some(n), "{part} in {k}");
            }
            n
        })
        .collect();
    let total = s["kernel_timestamps"]["stamped"].as_u64().unwrap();
    assert_eq!(stamped.iter().sum::<u64>(), total, "{stamped:?}");
    assert!(total > 0);
    stamped
}

/// Issue 31 part 1: the split has its time series in every format, and merges: two shards'
/// interval rows carry their own split, each format shows it (CSV columns, `.hlog` tags,
/// `.hgrm` files, an HTML chart), and the merge sums the rows' splits as it sums the totals.
#[test]
fn the_split_has_a_time_series_in_every_format_and_merges() {
    let _serial = common::serial();
    let server = common::Server::start(&["--service", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let start = format!("{:.3}", now.unwrap().as_secs_f64() + 1.5);
    let url = server.url("/");
    let shards: Vec<_> = (0..2)
        .map(|i| {
            let out = dir.path().join(format!("s{i}.json"));
            let shard = format!("{i}/2");
            let args = [
                "run",
                "--target",
                &url,
                "--rate",
                "400",
                "--duration",
                "3",
                "--interval",
                "1s",
                "--timestamps",
                "kernel",
                "--shard",
                &shard,
                "--start-at",
                &start,
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ]
            .map(String::from);
            std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut totals = 0;
    for (i, child) in shards.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
        let r = common::read_json(&dir.path().join(format!("s{i}.shard-{i}.json")));
        let rows = interval_splits(&r["scenarios"][0]);
        assert!(rows.len() >= 3, "{rows:?}");
        totals += rows.iter().sum::<u64>();
    }
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let shards = [path("s0.shard-0.json"), path("s1.shard-1.json")];
    let out = common::openpace(&["merge", &shards[0], &shards[1], "--out", &path("m.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    for format in ["csv", "hlog", "hgrm", "html"] {
        let to = path(&format!("m.{format}"));
        let out = common::openpace(&["report", &path("m.json"), "--format", format, "--out", &to]);
        assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    }
    let merged = common::read_json(&dir.path().join("m.json"));
    let s = &merged["scenarios"][0];
    let rows = interval_splits(s);
    assert_eq!(
        rows.iter().sum::<u64>(),
        totals,
        "the merge loses no split request"
    );
    // Each merged row's wire_and_server holds the server's millisecond.
    for i in s["intervals"].as_array().unwrap() {
        let k = &i["kernel_timestamps"];
        if k["stamped"].as_u64() > Some(20) {
            let wire = p(k, "wire_and_server_us", "p50");
            assert!((1_000.0..2_000.0).contains(&wire), "{k}");
        }
    }

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let csv = read("m.csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "kernel_stamped").unwrap();
    let from_csv: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(column).unwrap().parse().unwrap())
        .collect();
    assert_eq!(from_csv, rows);
    let hlog = read("m.hlog");
    for tag in ["client_send", "wire_and_server", "client_receive"] {
        assert_eq!(hlog_counts(&hlog, tag), rows, "{tag}");
        let stamped = s["kernel_timestamps"]["stamped"].as_u64().unwrap();
        let hgrm = read(&format!("m.{tag}.hgrm"));
        assert!(
            hgrm.contains(&format!("Total count    = {stamped:>12}")),
            "{hgrm}"
        );
    }
    assert!(read("m.html").contains("Service time split by kernel timestamps"));
}

/// Issue 31 part 1: `--timestamps hardware` asks the device that reaches the target what it can
/// stamp, and refuses with its answer (loopback: software only).
#[test]
fn hardware_stamps_are_refused_with_what_the_device_can_do() {
    let server = common::Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_at(
        &server.url("/"),
        "10",
        "1",
        &dir.path().join("r.json"),
        &["--timestamps", "hardware"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("--timestamps") && err.contains("lo, the device that reaches"),
        "{err}"
    );
    assert!(
        err.contains("cannot stamp in hardware") && err.contains("software-transmit"),
        "{err}"
    );
}
