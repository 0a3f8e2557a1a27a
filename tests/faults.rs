//! Truth under injected network faults (issue 12, part 3): the test server runs in a network
//! namespace of the test's own, joined to this one by a veth pair, and the kernel makes the
//! path worse. A fixed 10 ms delay (`tc qdisc ... netem delay 10ms`) must move openpace's
//! response p50 by 10 ms, within 1 ms; 1% packet loss shows as retransmission latency,
//! retries or timeouts and never as a hang; reordering costs no request.
//!
//! Needs root (namespaces, veth, qdiscs) and iproute2; delay and reordering need the kernel's
//! netem (`sch_netem`), loss uses netem where it exists and an nftables rule (`numgen random`)
//! where it does not. Whatever the machine lacks is skipped with a message saying so.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openpace::RunResult;

/// A namespace holding the test server, reached at `addr` over a veth pair; removed (with
/// the pair and the server in it) when dropped.
struct Namespace {
    name: String,
    host_link: String,
    server: Option<std::process::Child>,
    addr: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command in the namespace `ns` (or here, for `None`); true if it succeeded.
fn sh(ns: Option<&str>, args: &[&str]) -> bool {
    let mut command = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]);
            c.args(args);
            c
        }
        None => {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        }
    };
    command
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Namespace {
    /// `None` (with a message) where the machine cannot make one.
    fn new(tag: &str) -> Option<Namespace> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: network namespaces need root");
            return None;
        }
        let id = std::process::id() % 200 + 20;
        let name = format!("openpace-{tag}-{id}");
        let host_link = format!("op{tag}{id}h");
        let peer = format!("op{tag}{id}p");
        let subnet = match tag {
            "d" => 211,
            "l" => 212,
            _ => 213,
        };
        let (host_ip, ns_ip) = (format!("10.{subnet}.{id}.1"), format!("10.{subnet}.{id}.2"));
        let _ = ip(&["netns", "del", &name]);
        if !ip(&["netns", "add", &name]) {
            eprintln!("SKIPPED: `ip netns add` failed (iproute2 missing, or no namespaces)");
            return None;
        }
        let mut ns = Namespace {
            name,
            host_link,
            server: None,
            addr: String::new(),
        };
        let n = ns.name.clone();
        let ok = ip(&[
            "link",
            "add",
            &ns.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]) && ip(&["link", "set", &peer, "netns", &n])
            && ip(&[
                "addr",
                "add",
                &format!("{host_ip}/24"),
                "dev",
                &ns.host_link,
            ])
            && ip(&["link", "set", &ns.host_link, "up"])
            && sh(
                Some(&n),
                &["ip", "addr", "add", &format!("{ns_ip}/24"), "dev", &peer],
            )
            && sh(Some(&n), &["ip", "link", "set", &peer, "up"])
            && sh(Some(&n), &["ip", "link", "set", "lo", "up"]);
        assert!(ok, "setting up the veth pair of {n} failed");
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &n,
                env!("CARGO_BIN_EXE_openpace-testserver"),
            ])
            .args(["--bind", &format!("{ns_ip}:0"), "--exit-after", "120s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test server starts in the namespace");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        ns.addr = line.trim().trim_start_matches("listening on ").to_string();
        ns.server = Some(child);
        Some(ns)
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `tc qdisc replace dev HOST_LINK root netem ARGS` (on what the host sends to the
    /// server); false where the kernel has no netem.
    fn netem(&self, args: &[&str]) -> bool {
        let mut all = vec![
            "tc",
            "qdisc",
            "replace",
            "dev",
            &self.host_link,
            "root",
            "netem",
        ];
        all.extend_from_slice(args);
        sh(None, &all)
    }

    /// Drops `percent` of the packets that reach the server, with netem or nftables.
    fn lose(&self, percent: u32) -> Option<&'static str> {
        if self.netem(&["loss", &format!("{percent}%")]) {
            return Some("netem loss");
        }
        let port = self.addr.rsplit(':').next().unwrap();
        let ns = Some(self.name.as_str());
        let ok = sh(ns, &["nft", "add", "table", "inet", "faults"])
            && sh(
                ns,
                &[
                    "nft",
                    "add chain inet faults in { type filter hook input priority 0; }",
                ],
            )
            && sh(
                ns,
                &[
                    "nft",
                    &format!(
                        "add rule inet faults in tcp dport {port} numgen random mod 100 < {percent} drop"
                    ),
                ],
            );
        ok.then_some("nftables numgen")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// `openpace run ARGS --out PATH`, which must end within `limit` (a hang fails the test).
fn bounded_run(args: &[&str], path: &Path, limit: Duration) -> RunResult {
    let mut child = Command::new(env!("CARGO_BIN_EXE_openpace"))
        .arg("run")
        .args(args)
        .args(["--quiet", "--out"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(matches!(status.code(), Some(0 | 1)), "{args:?}: {status}");
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    openpace::report::load_result(path, openpace::base::input::MAX_INPUT_BYTES).unwrap()
}

fn accounted(r: &RunResult) {
    let q = &r.scenarios[0].requests;
    assert_eq!(
        q.intended,
        q.ok + q.errors + q.timeouts + q.dropped,
        "every intended request ends somewhere: {q:?}"
    );
}

#[test]
fn a_fixed_delay_moves_the_median_by_itself() {
    let _turn = common::serial();
    let Some(ns) = Namespace::new("d") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = ns.url();
    let args = ["--target", &url, "--rate", "200", "--duration", "3s"];
    let limit = Duration::from_secs(30);
    let before = bounded_run(&args, &dir.path().join("before.json"), limit);
    if !ns.netem(&["delay", "10ms"]) {
        eprintln!("SKIPPED: this kernel has no netem (tc qdisc ... netem); delay not injected");
        return;
    }
    let after = bounded_run(&args, &dir.path().join("after.json"), limit);
    accounted(&after);
    let p50 = |r: &RunResult| r.scenarios[0].response_time_ms.at(0.5);
    let moved = p50(&after) - p50(&before);
    println!(
        "p50 {:.3} ms -> {:.3} ms: moved {moved:.3} ms",
        p50(&before),
        p50(&after)
    );
    assert!(
        (moved - 10.0).abs() <= 1.0,
        "p50 moved {moved:.3} ms, not 10 +- 1"
    );

    // Reordering on top of the delay costs no request: TCP puts the bytes back in order.
    assert!(ns.netem(&["delay", "10ms", "reorder", "25%", "50%"]));
    let reordered = bounded_run(&args, &dir.path().join("reorder.json"), limit);
    accounted(&reordered);
    let q = &reordered.scenarios[0].requests;
    assert_eq!((q.errors, q.timeouts), (0, 0), "{q:?}");
}

#[test]
fn one_percent_loss_costs_latency_or_retries_never_a_hang() {
    let _turn = common::serial();
    let Some(ns) = Namespace::new("l") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(how) = ns.lose(1) else {
        eprintln!("SKIPPED: neither netem nor nftables can drop packets here");
        return;
    };
    let url = ns.url();
    // 1,000 requests with a 2 s timeout: the run is over by 5 s + 2 s whatever is lost.
    let result = bounded_run(
        &[
            "--target",
            &url,
            "--rate",
            "200",
            "--duration",
            "5s",
            "--timeout",
            "2s",
        ],
        &dir.path().join("loss.json"),
        Duration::from_secs(20),
    );
    accounted(&result);
    let s = &result.scenarios[0];
    let q = &s.requests;
    println!(
        "{how}: {q:?}; response p50 {:.3} p99 {:.3} max {:.3} ms",
        s.response_time_ms.at(0.5),
        s.response_time_ms.at(0.99),
        s.response_time_ms.max
    );
    // A lost segment waits for TCP's retransmission timeout (200 ms at least), or fails.
    let retransmitted = s.response_time_ms.max >= 150.0;
    assert!(
        retransmitted || q.retries + q.errors + q.timeouts > 0,
        "1% loss left no trace: {q:?}, max {} ms",
        s.response_time_ms.max
    );
    assert!(q.ok * 100 >= q.intended * 95, "{q:?}");
}
