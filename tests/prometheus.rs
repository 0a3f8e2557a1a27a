//! Live metrics (`--metrics-listen`): OpenMetrics at `/metrics` while the run lasts, ending
//! with the run's totals; and a real Prometheus (Debian's `prometheus`, which `.ci/run`
//! installs) scraping a run on 127.0.0.1 and answering a query for its request count.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` over HTTP/1.0 (a whole body, no chunks): (status line, headers and body), or
/// `None` when nothing listens.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The value of the sample `name{labels}` on an OpenMetrics page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `openpace` on noop at `rate` for `seconds`, serving live metrics on `port` and writing
/// its JSON report to `report`.
fn start_run(port: u16, rate: &str, seconds: &str, report: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(["--target", "noop", "-R", rate, "-d", seconds, "--quiet"])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .arg("--out")
        .arg(report)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn live_metrics_are_served_during_the_run_and_end_with_its_totals() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let port = free_port();
    let mut run = start_run(port, "1000", "3s", &json);
    let mut pages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.try_wait().unwrap().is_none() && Instant::now() < deadline {
        pages.extend(get(port, "/metrics"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(run.wait().unwrap().code(), Some(0));
    let during = pages
        .iter()
        .find(|p| sample(p, "openpace_requests_completed_total{scenario=\"noop\"}") > Some(0.0))
        .expect("a page with requests counted during the run");
    assert!(during.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(during.contains("Content-Type: application/openmetrics-text; version=1.0.0"));
    assert!(during.ends_with("# EOF\n"));
    assert_eq!(
        sample(during, "openpace_run_finished{scenario=\"noop\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(during, "openpace_scheduled_rps{scenario=\"noop\"}"),
        Some(1000.0)
    );
    assert!(
        sample(
            during,
            "openpace_response_latest_seconds{scenario=\"noop\",stat=\"p99\"}"
        )
        .is_some()
    );
    // The run waited for a scrape of its final figures, which are the report's.
    let last = pages.last().unwrap();
    assert_eq!(
        sample(last, "openpace_run_finished{scenario=\"noop\"}"),
        Some(1.0),
        "{last}"
    );
    let requests = &common::read_json(&json)["scenarios"][0]["requests"];
    for (counter, field) in [
        ("completed", "completed"),
        ("ok", "ok"),
        ("intended", "intended"),
    ] {
        let series = format!("openpace_requests_{counter}_total{{scenario=\"noop\"}}");
        assert_eq!(sample(last, &series), requests[field].as_f64(), "{series}");
    }
    // The histogram's buckets are cumulative and its count is every response.
    let buckets: Vec<f64> = last
        .lines()
        .filter(|l| l.starts_with("openpace_response_seconds_bucket{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 17);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    let count = sample(last, "openpace_response_seconds_count{scenario=\"noop\"}").unwrap();
    assert_eq!(Some(count), buckets.last().copied());
    assert!(count >= 3000.0, "{count}");
}

#[test]
fn an_address_in_use_stops_the_run_before_it_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = common::openpace(&[
        "--target",
        "noop",
        "-d",
        "30s",
        "--out",
        "none",
        "--metrics-listen",
        &address,
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(common::stderr(&out).contains(&format!("--metrics-listen {address}")));
    common::assert_rejected(
        &["--target", "noop", "--metrics-listen", "9464"],
        &["metrics_listen", "IP:PORT"],
    );
}

/// A Prometheus server on 127.0.0.1 with its own storage, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    /// Starts Debian's prometheus scraping `target_port` every second; `None` (with a
    /// message) where it is not installed.
    fn start(dir: &Path, target_port: u16) -> Option<Prometheus> {
        let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            return common::missing("prometheus");
        };
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: openpace\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !get(port, "/-/ready")
            .is_some_and(|r| r.split("\r\n").next().unwrap_or("").contains(" 200 "))
        {
            assert!(
                Instant::now() < deadline,
                "prometheus was not ready in 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(prometheus)
    }

    /// The value of an instant query's first result, if any.
    fn query(&self, query: &str) -> Option<f64> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let text = get(self.port, &format!("/api/v1/query?query={encoded}"))?;
        let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_a_run_and_finds_its_request_count() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(prometheus) = Prometheus::start(dir.path(), port) else {
        return;
    };
    let json = dir.path().join("run.json");
    let status = {
        let _turn = common::serial();
        start_run(port, "500", "4s", &json).wait().unwrap()
    };
    assert_eq!(status.code(), Some(0));
    let completed = common::read_json(&json)["scenarios"][0]["requests"]["completed"]
        .as_f64()
        .unwrap();
    let query = "openpace_requests_completed_total{job=\"openpace\",scenario=\"noop\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = None;
    while found != Some(completed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        found = prometheus.query(query);
    }
    assert_eq!(
        found,
        Some(completed),
        "Prometheus's {query} against the report's"
    );
    // A dashboard's query over what it scraped: every request intended was ok.
    let share = prometheus.query("openpace_requests_ok_total / openpace_requests_intended_total");
    assert_eq!(share, Some(1.0));
}
