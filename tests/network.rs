//! HTTP and TCP targets against `openpace-testserver` on loopback: counts, status handling,
//! chunked bodies, keep-alive reuse, reconnects, every fault kind, IPv6, the coordinated-
//! omission stall, and what the command line rejects before any load is sent.

mod common;

use common::openpace;

use std::time::Duration;

use common::Server;
use openpace::config::Model;
use openpace::target::net::Connections;
use openpace::{LoadTestConfig, LoadTestRunner, ScenarioResult, TargetSpec};

/// A short open-model scenario against `target`, without retries.
fn scenario(target: &str, rate: f64, seconds: f64) -> LoadTestConfig {
    LoadTestConfig {
        target: TargetSpec::parse(target).expect("a valid target"),
        max_retries: 0,
        request_timeout_seconds: 1.0,
        ..common::config("network", rate, seconds)
    }
}

/// Runs a scenario with its own (network) target, the way the command line does.
fn run(config: LoadTestConfig) -> ScenarioResult {
    let _turn = common::serial();
    run_in_turn(config)
}

/// [`run`] for a caller that already holds its turn.
fn run_in_turn(config: LoadTestConfig) -> ScenarioResult {
    let result = LoadTestRunner::new(config)
        .expect("valid config")
        .run()
        .expect("the run starts");
    result.scenarios[0].clone()
}

fn with_connections(mut config: LoadTestConfig, n: usize) -> LoadTestConfig {
    match &mut config.target {
        TargetSpec::Http(spec) => spec.connections = Connections::Exactly(n),
        TargetSpec::Tcp(spec) => spec.connections = Connections::Exactly(n),
        other => panic!("{other} is no network target"),
    }
    config
}

fn kind(s: &ScenarioResult, name: &str) -> u64 {
    s.errors_by_kind.get(name).copied().unwrap_or(0)
}

#[test]
fn http_requests_are_counted_with_their_bytes_on_reused_connections() {
    let server = Server::start(&[]);
    let config = with_connections(scenario(&server.url("/count"), 500.0, 1.0), 4);
    let s = run(config);
    assert_eq!(s.requests.intended, 500);
    assert_eq!((s.requests.completed, s.requests.ok), (500, 500));
    // Keep-alive: never more connections than configured.
    assert!(
        (1..=4).contains(&s.network.connections_opened),
        "{:?}",
        s.network
    );
    // "GET /count HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n" and a 2-byte body under a fixed
    // head: every request and every response has the same length.
    assert_eq!(s.network.bytes_sent % 500, 0);
    assert_eq!(s.network.bytes_received % 500, 0);
    let per_response = s.network.bytes_received / 500;
    assert!((60..200).contains(&per_response), "{per_response} bytes");
    let (connections, requests) = server.stats();
    assert_eq!(requests, 500, "the server answered what openpace counted");
    // The run's connections, the pre-flight check and this stats connection.
    assert!(connections <= 4 + 2, "{connections} connections accepted");
}

#[test]
fn statuses_succeed_or_fail_by_class_unless_expected() {
    let server = Server::start(&["--status", "404"]);
    let s = run(scenario(&server.url("/"), 200.0, 0.5));
    assert_eq!(s.requests.completed, 100);
    assert_eq!(kind(&s, "status_4xx"), 100);

    let mut config = scenario(&server.url("/"), 200.0, 0.5);
    if let TargetSpec::Http(spec) = &mut config.target {
        spec.expect_status = vec![404];
    }
    let s = run(config);
    assert_eq!((s.requests.completed, s.requests.ok), (100, 100));

    let redirect = Server::start(&["--status", "301"]);
    let s = run(scenario(&redirect.url("/"), 200.0, 0.5));
    assert_eq!(s.requests.ok, 100, "3xx succeeds by default");
}

#[test]
fn chunked_bodies_are_read_to_their_end() {
    let server = Server::start(&["--chunked", "--body-size", "1000"]);
    let s = run(with_connections(scenario(&server.url("/"), 300.0, 1.0), 2));
    assert_eq!((s.requests.completed, s.requests.ok), (300, 300));
    // 1000 bytes in 143 chunks with their size lines, per response.
    assert!(s.network.bytes_received > 300 * 1000 + 300 * 143 * 5);
    assert!(s.network.connections_opened <= 2);
}

#[test]
fn closed_connections_are_reopened_transparently_and_counted() {
    // Connection: close on every 3rd response of a connection.
    let server = Server::start(&["--close-after", "3"]);
    let s = run(with_connections(scenario(&server.url("/"), 300.0, 1.0), 2));
    assert_eq!((s.requests.completed, s.requests.ok), (300, 300));
    assert!(
        (100..=102).contains(&s.network.connections_opened),
        "{:?}",
        s.network
    );

    // Closed silently after the 3rd response: noticed while idle, or on the next request.
    let server = Server::start(&["--drop-after", "3"]);
    let s = run(with_connections(scenario(&server.url("/"), 300.0, 1.0), 2));
    assert_eq!((s.requests.completed, s.requests.ok), (300, 300));
    assert!(
        (100..=104).contains(&s.network.connections_opened),
        "{:?}",
        s.network
    );
}

#[test]
fn every_fault_has_its_own_kind_and_the_run_goes_on() {
    let faults: [(&str, &str); 5] = [
        ("--reset-every", "reset"),
        ("--garbage-every", "malformed_status"),
        ("--bad-header-every", "malformed_headers"),
        ("--huge-header-every", "headers_too_large"),
        ("--cut-every", "closed"),
    ];
    for (flag, name) in faults {
        let server = Server::start(&[flag, "10"]);
        let s = run(with_connections(scenario(&server.url("/"), 400.0, 0.5), 4));
        assert_eq!(s.requests.completed, 200, "{flag}");
        // The server faults on every 10th request it sees: 20 of 200.
        assert_eq!(kind(&s, name), 20, "{flag}: {:?}", s.errors_by_kind);
        assert_eq!(s.requests.ok, 180, "{flag}: the rest succeed");
    }
    // A request that is never answered times out (timeout 1 s) and the run goes on.
    let server = Server::start(&["--hang-every", "25"]);
    let s = run(with_connections(scenario(&server.url("/"), 200.0, 0.5), 8));
    assert_eq!(s.requests.completed, 100);
    assert_eq!((s.requests.timeouts, s.requests.ok), (4, 96));
}

#[test]
fn a_server_that_goes_away_mid_run_gives_errors_not_a_crash() {
    let mut server = Server::start(&[]);
    let config = scenario(&server.url("/"), 200.0, 2.0);
    let _turn = common::serial();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        server.kill();
        server
    });
    let s = run_in_turn(config);
    drop(killer.join());
    assert_eq!(s.requests.completed, 400);
    assert!(s.requests.ok >= 150, "{} ok before the kill", s.requests.ok);
    let refused = kind(&s, "refused");
    assert!(
        refused > 150 && refused + kind(&s, "closed") + kind(&s, "reset") + s.requests.ok == 400,
        "{:?}",
        s.errors_by_kind
    );
}

#[test]
fn a_connect_timeout_is_its_own_kind() {
    // A listener with a backlog of 0 that never accepts: once its queue holds one
    // connection, further handshakes go unanswered.
    // SAFETY: plain socket calls on a descriptor this test owns; results are checked.
    let (fd, port) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut blen = len;
        libc::getsockname(fd, (&mut bound as *mut libc::sockaddr_in).cast(), &mut blen);
        (fd, u16::from_be(bound.sin_port))
    };
    let mut config = with_connections(scenario(&format!("http://127.0.0.1:{port}/"), 20.0, 1.0), 3);
    if let TargetSpec::Http(spec) = &mut config.target {
        spec.connect_timeout = Duration::from_millis(100);
    }
    let s = run(config);
    // SAFETY: the descriptor is ours and closed once.
    unsafe { libc::close(fd) };
    assert_eq!(s.requests.completed, 20);
    assert!(kind(&s, "connect_timeout") >= 1, "{:?}", s.errors_by_kind);
    assert_eq!(s.requests.ok, 0);
}

#[test]
fn ipv6_loopback_works() {
    let server = Server::start_on("[::1]:0", &[]);
    assert!(server.addr.starts_with("[::1]:"), "{}", server.addr);
    let s = run(scenario(&server.url("/v6"), 200.0, 0.5));
    assert_eq!((s.requests.completed, s.requests.ok), (100, 100));
}

#[test]
fn tcp_target_sends_its_payload_and_reads_to_the_delimiter() {
    let server = Server::start(&["--tcp-echo"]);
    // A tcp:// target needs a payload, so it is built whole (the string form is refused).
    let mut config = scenario(&server.url("/"), 300.0, 1.0);
    config.target = TargetSpec::Tcp(openpace::target::net::tcp::TcpSpec {
        address: server.addr.clone(),
        payload: b"ping 0123456789\n".to_vec(),
        until: openpace::target::net::tcp::Until::Delimiter(b"\n".to_vec()),
        connections: Connections::Exactly(3),
        connect_timeout: Duration::from_secs(2),
        max_response_bytes: openpace::target::net::DEFAULT_MAX_RESPONSE_BYTES,
    });
    let s = run(config);
    assert_eq!((s.requests.completed, s.requests.ok), (300, 300));
    assert_eq!(s.network.bytes_sent, 300 * 16);
    assert_eq!(s.network.bytes_received, 300 * 16);
    assert!(s.network.connections_opened <= 3);
}

#[test]
fn the_closed_model_keeps_one_request_per_connection() {
    let server = Server::start(&["--service", "1ms"]);
    let config = LoadTestConfig {
        model: Model::Closed,
        concurrency: Some(4),
        ..scenario(&server.url("/"), 1.0, 1.0)
    };
    let s = run(config);
    // Four callers, each about 1 ms per call: hundreds to a few thousand in 1 s.
    assert!(s.requests.completed > 400, "{}", s.requests.completed);
    assert_eq!(s.requests.ok, s.requests.completed);
    assert!(s.network.connections_opened <= 4);
}

/// The stall test of issue 6. openpace sends 1000 RPS (uniform) for 8 s; the server answers
/// at once, except that from 3 s after its first request until 4 s it answers nothing
/// (every connection is stuck; requests due meanwhile wait in openpace's queue).
///
/// Truth from the schedule: requests are intended at t = k/1000 s, k = 0..8000. One intended
/// at t in [3, 4) is answered when the stall ends, at about 4 s, so its response time is
/// about 4 - t; every other request's is well under a millisecond. Sorting the 8000 response
/// times, the slowest 1000 are the stalled ones, spread evenly over (0, 1 s]:
///
/// - p95 is exceeded by 5% = 400 requests: those intended in [3.0, 3.4), so p95 = 4 - 3.4 =
///   600 ms;
/// - p99 is exceeded by 1% = 80 requests: those intended in [3.0, 3.08), so p99 = 920 ms.
///
/// Service time (end - start, start being when the request was written to a connection)
/// is long only for the requests that were on a connection when the stall began, one per
/// connection: 8 of 8000, fewer than the 80 above p99, so service-time p99 stays low.
#[test]
fn a_server_stall_shows_in_response_time_as_the_schedule_implies() {
    let server = Server::start(&["--stall-at", "3s", "--stall-for", "1s"]);
    let config = with_connections(scenario(&server.url("/"), 1000.0, 8.0), 8);
    let config = LoadTestConfig {
        request_timeout_seconds: 5.0,
        ..config
    };
    let s = run(config);
    assert_eq!(s.requests.intended, 8000);
    assert_eq!((s.requests.completed, s.requests.ok), (8000, 8000));
    assert_eq!(s.requests.dropped, 0);
    let r = &s.response_time_ms;
    assert!(
        (540.0..=660.0).contains(&r.at(0.95)),
        "response p95 {} ms, truth 600 ms",
        r.at(0.95)
    );
    assert!(
        (828.0..=1012.0).contains(&r.at(0.99)),
        "response p99 {} ms, truth 920 ms",
        r.at(0.99)
    );
    assert!(
        s.service_time_ms.at(0.99) < 50.0,
        "service p99 {} ms",
        s.service_time_ms.at(0.99)
    );
}

#[test]
fn bad_urls_and_unknown_hosts_are_rejected_before_any_load() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let out = out.to_str().unwrap();
    let base = [
        "run",
        "--duration",
        "1s",
        "--warmup",
        "0",
        "--rate",
        "100",
        "--out",
        out,
    ];
    let good = server.url("/");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--target", "http://no-such-host.invalid/"],
            "cannot resolve",
        ),
        (&["--target", &good, "--insecure"], "https:// URLs only"),
        (&["--target", "http://127.0.0.1:99999/"], "not a port"),
        (&["--target", "http//127.0.0.1/"], "target"),
        (&["--target", &good, "-H", "no colon"], "header"),
        (&["--target", &good, "--connections", "0"], "connections"),
        (&["--target", "noop", "--connections", "4"], "--connections"),
    ];
    for (flags, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(flags);
        let result = openpace(&args);
        let message = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{flags:?}: {message}");
        assert!(
            message.contains(needle),
            "{flags:?}: {needle:?} not in {message}"
        );
        assert!(
            !std::path::Path::new(out).exists(),
            "{flags:?} wrote a report"
        );
    }
    assert_eq!(
        server.stats(),
        (1, 0),
        "only the stats connection reached the server"
    );
}

#[test]
fn a_target_refusing_at_start_fails_fast_with_exit_3() {
    // Bind then drop: the port is free, so connecting is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let result = openpace(&[
        "run",
        "--target",
        &format!("http://127.0.0.1:{port}/"),
        "--duration",
        "5s",
        "--out",
        "none",
    ]);
    let message = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(3), "{message}");
    assert!(message.contains("refused"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3), "failed fast");
}

#[test]
fn a_run_against_a_faulty_server_still_writes_its_report() {
    let server = Server::start(&["--garbage-every", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let result = {
        let _turn = common::serial();
        openpace(&[
            "run",
            "--target",
            &server.url("/"),
            "--rate",
            "200",
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--retries",
            "0",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    // 20% errors fail the error-rate threshold: exit 1, with the report written.
    assert_eq!(
        result.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let s = &report["scenarios"][0];
    assert_eq!(s["requests"]["completed"], 200);
    assert_eq!(s["errors_by_kind"]["malformed_status"], 40);
    assert!(s["network"]["connections_opened"].as_u64().unwrap() >= 40);
}

/// Issue 15: a response whose status is expected but whose body fails a check is an error of
/// kind `check`, counted, never a success; checks that hold leave every request ok.
#[test]
fn body_checks_fail_responses_as_kind_check() {
    let _turn = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let out_path = out.display().to_string();
    let json_url = format!("http://{}/json", nginx.addr);
    let run = |checks: &[&str]| {
        let base = [
            "run",
            "--quiet",
            "--out",
            &out_path,
            "--target",
            &json_url,
            "--rate",
            "500",
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--retries",
            "0",
        ];
        openpace(&[&base[..], checks].concat());
        let text = std::fs::read_to_string(&out).unwrap();
        let r: openpace::RunResult = serde_json::from_str(&text).unwrap();
        let s = r.scenarios[0].clone();
        (
            s.requests.ok,
            s.errors_by_kind.get("check").copied().unwrap_or(0),
        )
    };
    let body = r#"{"status": "ok", "n": 3}"#;
    let size = body.len().to_string();
    assert_eq!(
        run(&[
            "--expect-body-contains",
            "\"ok\"",
            "--expect-body-size",
            &size,
            "--expect-json",
            "/status=ok",
            "--expect-json",
            "/n=3"
        ]),
        (500, 0)
    );
    assert_eq!(run(&["--expect-body-contains", "nope"]), (0, 500));
    assert_eq!(run(&["--expect-body-size", "3"]), (0, 500));
    assert_eq!(run(&["--expect-json", "/status=down"]), (0, 500));
    assert_eq!(run(&["--expect-json", "/missing=1"]), (0, 500));
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            &json_url,
            "--expect-json",
            "status=ok",
        ],
        &["status=ok", "POINTER=VALUE"],
    );
}

#[test]
fn sleeping_workers_say_how_late_the_host_woke_them_and_the_window_they_used() {
    let server = Server::start(&[]);
    let s = run(scenario(&server.url("/"), 200.0, 1.0));
    let wait = s
        .wait
        .as_ref()
        .expect("a network run in hybrid mode says how its workers waited");
    // Network lanes get the longest lead: their workers sleep until the spin window.
    assert_eq!(wait.handoff_lead_us, 5_000.0);
    // Instants 5 ms apart: a timed sleep before nearly every one (a response may wake the
    // worker first; then it sleeps again), besides the probes before the origin.
    assert!(wait.wake_ups >= 100, "{wait:?}");
    assert_eq!(wait.wake_lateness_us.count, wait.wake_ups);
    let [low, high] = wait.spin_window_us.expect("hybrid adapts a spin window");
    assert!(
        (20.0..=500.0).contains(&low) && low <= high && high <= 500.0,
        "{wait:?}"
    );
    assert!(!wait.histogram.is_empty());

    // Call workers keep the instant themselves: nothing to say.
    let _turn = common::serial();
    let noop = run_in_turn(LoadTestConfig {
        target: TargetSpec::parse("noop").unwrap(),
        ..common::config("noop", 200.0, 0.5)
    });
    assert!(noop.wait.is_none());
}

/// Issue 29 point 5: `-c N` opens exactly N connections before the run and spreads the
/// requests over all of them, as wrk's `-c` does; `auto:N` keeps "as many as the rate needs,
/// up to N". The summary says how many were opened and used.
#[test]
fn connections_n_opens_and_uses_exactly_n_and_auto_n_only_what_the_rate_needs() {
    let _turn = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}/", nginx.addr);
    let run = |connections: &str| {
        let result = openpace(&[
            "run",
            "--target",
            &url,
            "-R",
            "400",
            "-d",
            "1s",
            "-c",
            connections,
            // What is checked is the connections: a VM stall past the design's default
            // latency limits must not fail the run (it did once in eight runs here).
            "--set",
            "latency_p95_threshold_ms=60000",
            "--set",
            "latency_p99_threshold_ms=60000",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(result.status.code(), Some(0), "{}", common::stderr(&result));
        let report = common::read_json(&out);
        let network = report["scenarios"][0]["network"].clone();
        (
            String::from_utf8_lossy(&result.stdout).into_owned(),
            network,
        )
    };
    // 400 requests over 10 connections: each carries about 40, none is reopened.
    let (summary, network) = run("10");
    assert_eq!(network["connections_opened"], 10, "{network}");
    assert_eq!(network["connections_used"], 10, "{network}");
    assert_eq!(network["connections_auto"], false, "{network}");
    assert!(
        summary.contains("Connections: 10 open from the start, 10 used;"),
        "{summary}"
    );
    // At 400 RPS against nginx a request rarely overlaps another: a few connections do.
    let (summary, network) = run("auto:10");
    let opened = network["connections_opened"].as_u64().unwrap();
    assert!((1..10).contains(&opened), "{network}");
    assert_eq!(network["connections_used"], opened, "{network}");
    assert!(
        summary.contains("opened as requests needed them, up to 10 (--connections auto:10)"),
        "{summary}"
    );
}

/// Issue 31, part 5: `--busy-poll USECS` sets SO_BUSY_POLL on every socket the run opens
/// (counted as the kernel took it, not assumed) and says so in the report and the summary;
/// a value out of range is refused naming the flag.
#[test]
fn busy_poll_is_set_on_every_socket_and_counted() {
    let _turn = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let url = format!("http://{}/", nginx.addr);
    let result = openpace(&[
        "run",
        "--target",
        &url,
        "-R",
        "300",
        "-d",
        "1s",
        "-c",
        "4",
        "--busy-poll",
        "50",
        "--set",
        "latency_p95_threshold_ms=60000",
        "--set",
        "latency_p99_threshold_ms=60000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(result.status.code(), Some(0), "{}", common::stderr(&result));
    let report = common::read_json(&out);
    let s = &report["scenarios"][0];
    assert_eq!(s["network"]["busy_poll_us"], 50, "{}", s["network"]);
    assert_eq!(
        s["network"]["busy_polled"],
        s["network"]["connections_opened"]
    );
    assert_eq!(s["network"]["busy_polled"], 4, "{}", s["network"]);
    assert_eq!(s["requests"]["errors"], 0);
    let summary = String::from_utf8_lossy(&result.stdout);
    assert!(
        summary.contains("Busy polling: 50 us (--busy-poll) on 4 of 4 sockets opened"),
        "{summary}"
    );
    let refused = openpace(&["run", "--target", &url, "--busy-poll", "200000"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        common::stderr(&refused).contains("--busy-poll"),
        "{}",
        common::stderr(&refused)
    );
}

/// Issue 30, part 3: every stream protocol over a Unix domain socket: HTTP to nginx listening
/// on a socket path (`http+unix://`, and `--unix-socket` with the URL's host in the Host
/// header, as curl and oha take it), a raw TCP payload over the same socket (`tcp+unix://`),
/// Redis over redis-server's `unixsocket` (`redis+unix://`) and memcached on `-s` alone
/// (`memcached+unix://`); a socket nobody listens on
/// stops the run before it starts, naming it.
#[test]
fn every_stream_protocol_runs_over_a_unix_socket() {
    let _turn = common::serial();
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let Some(redis) = common::Daemon::redis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let run = |args: &[&str]| {
        let mut all = vec![
            "run",
            "-R",
            "200",
            "-d",
            "1s",
            "--out",
            out.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let result = openpace(&all);
        assert_eq!(
            result.status.code(),
            Some(0),
            "{args:?}: {}",
            common::stderr(&result)
        );
        let report = common::read_json(&out);
        let s = report["scenarios"][0].clone();
        assert_eq!(s["requests"]["ok"], 200, "{args:?}: {}", s["requests"]);
        assert!(s["network"]["connections_opened"].as_u64().unwrap() >= 1);
        (
            s["target"].as_str().unwrap().to_string(),
            String::from_utf8_lossy(&result.stdout).into_owned(),
        )
    };
    let socket = &nginx.unix_socket;
    let url = format!("http+unix://{socket}:/host");
    let (target, _) = run(&["--target", &url, "--expect-body-contains", "localhost"]);
    assert_eq!(target, format!("GET {url}"));
    let (target, _) = run(&[
        "--target",
        "http://app.test/host",
        "--unix-socket",
        socket,
        "--expect-body-contains",
        "app.test",
    ]);
    assert!(target.contains(socket.as_str()), "{target}");
    let tcp = format!("tcp+unix://{socket}");
    run(&[
        "--target",
        &tcp,
        "--payload",
        "GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n",
        "--until",
        "ok\\n",
    ]);
    let redis_url = format!("redis+unix://{}", redis.redis_unix_socket());
    let (target, _) = run(&["--target", &redis_url]);
    assert_eq!(target, format!("{redis_url} PING"));
    let Some(memcached) = common::Daemon::memcached_unix() else {
        return;
    };
    let memcached_url = format!("memcached+unix://{}", memcached.memcached_unix_socket());
    let (target, _) = run(&["--target", &memcached_url, "--command", "set k{{seq}} v"]);
    assert_eq!(target, format!("{memcached_url} set k{{{{seq}}}} v"));
    let nobody = dir.path().join("nobody.sock");
    let missing = openpace(&[
        "run",
        "--target",
        &format!("http+unix://{}:/", nobody.display()),
        "-d",
        "1s",
    ]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        common::stderr(&missing)
    );
    assert!(
        common::stderr(&missing).contains("nobody.sock"),
        "{}",
        common::stderr(&missing)
    );
    let _ = std::fs::remove_file(redis.redis_unix_socket());
    let _ = std::fs::remove_file(memcached.memcached_unix_socket());
}
