//! HTTP/2 against real servers (issue 30 part 1): nginx over h2c (prior knowledge) and over
//! TLS (ALPN `h2`), nginx in front of the test server for a slow upstream, and nghttpd
//! (Debian's nghttp2-server) for a 1-byte window. Counts agree with nginx's access log,
//! streams multiplex on one connection, a GOAWAY every 200 requests is survived, a reset
//! stream is an error of its own kind, a server that speaks only HTTP/1.1 is named before the
//! run (over TLS, one that does not offer h2 is spoken to in HTTP/1.1), a server's stream limit
//! is kept, and the flags that cannot apply are refused.

mod common;

use std::path::Path;

use serde_json::Value;

/// nginx with three HTTP/2 listeners: h2c (`/` answers "ok\n", `/slow` passes to `upstream`,
/// `/reset` resets the stream, every request logged to `access.log`), h2c sending GOAWAY
/// after 200 requests, h2 over TLS; and two HTTP/1.1 ones, plain and over TLS.
struct Servers {
    nginx: common::Nginx,
    h2c: String,
    goaway: String,
    tls: String,
    http1: String,
    tls_http1: String,
}

fn servers(upstream: &str) -> Option<Servers> {
    let ports: Vec<String> = (0..5)
        .map(|_| format!("127.0.0.1:{}", common::free_port()))
        .collect();
    let (h2c, goaway, tls, http1, tls_http1) =
        (&ports[0], &ports[1], &ports[2], &ports[3], &ports[4]);
    let blocks = |d: &str| {
        format!(
            "upstream slow {{ server {upstream}; keepalive 64; }}\n\
             server {{ listen {h2c} http2; access_log {d}/access.log; \
               location / {{ return 200 \"ok\\n\"; }} \
               location /slow {{ proxy_pass http://slow; proxy_http_version 1.1; \
                 proxy_set_header Connection \"\"; }} \
               location /reset {{ return 444; }} }}\n\
             server {{ listen {goaway} http2; keepalive_requests 200; \
               location / {{ return 200 \"ok\\n\"; }} }}\n\
             server {{ listen {tls} ssl http2; ssl_certificate {d}/good.pem; \
               ssl_certificate_key {d}/good.key; location / {{ return 200 \"ok\\n\"; }} }}\n\
             server {{ listen {http1}; location / {{ return 200 \"ok\\n\"; }} }}\n\
             server {{ listen {tls_http1} ssl; ssl_certificate {d}/good.pem; \
               ssl_certificate_key {d}/good.key; location / {{ return 200 \"ok\\n\"; }} }}\n"
        )
    };
    let nginx = common::Nginx::with_servers(blocks, &ports)?;
    Some(Servers {
        h2c: h2c.clone(),
        goaway: goaway.clone(),
        tls: tls.clone(),
        http1: http1.clone(),
        tls_http1: tls_http1.clone(),
        nginx,
    })
}

/// A run of `url` over HTTP/2 at `rate` for `secs`, plus `flags`; its report.
fn run(url: &str, rate: &str, secs: &str, dir: &Path, flags: &[&str]) -> (Value, String) {
    let report = dir.join("r.json");
    let mut all = vec!["--http2", "--warmup", "0"];
    all.extend_from_slice(flags);
    let out = common::run_at(url, rate, secs, &report, &all);
    let stderr = common::stderr(&out);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stderr}"
    );
    (common::read_json(&report)["scenarios"][0].clone(), stderr)
}

fn n(v: &Value, path: &[&str]) -> u64 {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_u64().unwrap_or_else(|| panic!("{path:?} in {v}"))
}

#[test]
fn h2c_counts_agree_with_nginx_and_a_goaway_is_survived() {
    let _serial = common::serial();
    let Some(s) = servers("127.0.0.1:9") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", s.h2c);
    let requests = dir.path().join("requests.log");
    let flags = [
        "--connections",
        "1",
        "--log-requests",
        requests.to_str().unwrap(),
    ];
    let (r, _) = run(&url, "1000", "2", dir.path(), &flags);
    let completed = n(&r, &["requests", "completed"]);
    assert_eq!(completed, 2000, "{}", r["requests"]);
    assert_eq!(n(&r, &["requests", "ok"]), completed);
    assert_eq!(n(&r, &["network", "connections_opened"]), 1);
    assert!(
        r["target"].as_str().unwrap().ends_with("over HTTP/2"),
        "{}",
        r["target"]
    );
    // nginx logged each request, as HTTP/2.0 (the probe's connection sends none).
    let log = std::fs::read_to_string(s.nginx_dir().join("access.log")).unwrap();
    assert_eq!(log.lines().count() as u64, completed);
    assert!(
        log.lines().all(|l| l.contains("\"GET / HTTP/2.0\" 200")),
        "{log}"
    );
    // The request log numbers each request's stream: odd, each once on the connection.
    let mut streams: Vec<u64> = common::log_rows(&requests)
        .iter()
        .map(|row| row["stream"].parse().unwrap())
        .collect();
    streams.sort_unstable();
    streams.dedup();
    assert_eq!(streams.len() as u64, completed);
    assert!(streams.iter().all(|s| s % 2 == 1), "{:?}", &streams[..10]);

    // GOAWAY after every 200 requests: the connection is replaced, nothing is lost, with one
    // connection allowed at a time too.
    let url = format!("http://{}/", s.goaway);
    let (r, _) = run(&url, "1000", "2", dir.path(), &["--connections", "1"]);
    assert_eq!(n(&r, &["requests", "ok"]), 2000, "{}", r["requests"]);
    assert_eq!(n(&r, &["requests", "errors"]), 0, "{}", r["errors_by_kind"]);
    let opened = n(&r, &["network", "connections_opened"]);
    assert!(opened >= 10, "2,000 requests at 200 a connection: {opened}");
}

/// Templates, request sets with their names, and body checks work over HTTP/2 as over 1.1.
#[test]
fn request_sets_templates_and_checks_work_over_http2() {
    let _serial = common::serial();
    let Some(s) = servers("127.0.0.1:9") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    std::fs::write(
        &set,
        "{\"name\": \"item\", \"url\": \"/item/{{seq}}\", \"headers\": {\"X-N\": \"{{rand_hex 8}}\"}}\n\
         {\"name\": \"post\", \"method\": \"POST\", \"url\": \"/p\", \"body\": \"n={{seq}}\", \"weight\": 2}\n",
    )
    .unwrap();
    let url = format!("http://{}/", s.h2c);
    let flags = [
        "--requests",
        set.to_str().unwrap(),
        "--expect-body-contains",
        "ok",
    ];
    let (r, _) = run(&url, "300", "1", dir.path(), &flags);
    assert_eq!(n(&r, &["requests", "ok"]), 300, "{}", r["errors_by_kind"]);
    let names: Vec<(String, u64)> = r["by_name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_string(), n(x, &["ok"])))
        .collect();
    assert_eq!(names, [("item".into(), 100), ("post".into(), 200)]);
    let log = std::fs::read_to_string(s.nginx_dir().join("access.log")).unwrap();
    assert!(log.contains("\"GET /item/3 HTTP/2.0\""), "{log}");
    assert!(log.contains("\"POST /p HTTP/2.0\""), "{log}");
    // The closed model's callers are connections of one stream each.
    let report = dir.path().join("closed.json");
    let flags = [
        "--http2",
        "--model",
        "closed",
        "--concurrency",
        "5",
        "--warmup",
        "0",
    ];
    let out = common::run_at(&url, "10", "1", &report, &flags);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let r = &common::read_json(&report)["scenarios"][0];
    assert!(n(r, &["requests", "ok"]) > 100, "{}", r["requests"]);
    assert_eq!(n(r, &["network", "peak_in_flight"]), 5);
    // A check that fails is counted as `check`, over HTTP/2 too.
    let (r, _) = run(
        &url,
        "100",
        "1",
        dir.path(),
        &["--expect-body-contains", "nope"],
    );
    assert_eq!(
        r["errors_by_kind"]["check"].as_u64(),
        Some(100),
        "{}",
        r["errors_by_kind"]
    );
}

#[test]
fn streams_multiplex_a_slow_upstream_on_one_connection() {
    let _serial = common::serial();
    let upstream = common::Server::start(&["--service", "10ms"]);
    let Some(s) = servers(&upstream.addr) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 10 ms a request, 1,000 a second: 10 at once on the one connection.
    let url = format!("http://{}/slow", s.h2c);
    let flags = ["--connections", "1", "--streams", "16"];
    let (r, _) = run(&url, "1000", "2", dir.path(), &flags);
    assert_eq!(n(&r, &["requests", "ok"]), 2000, "{}", r["errors_by_kind"]);
    assert_eq!(n(&r, &["network", "connections_opened"]), 1);
    let peak = n(&r, &["network", "peak_in_flight"]);
    assert!(peak >= 8, "about 10 streams at once: {peak}");
    let p50 = r["response_time_ms"]["p50"].as_f64().unwrap();
    assert!((10.0..40.0).contains(&p50), "p50 {p50} ms");
    // One stream a connection cannot hold the rate: requests queue for it.
    let (r, _) = run(
        &url,
        "1000",
        "1",
        dir.path(),
        &["--connections", "1", "--streams", "1"],
    );
    let p50 = r["response_time_ms"]["p50"].as_f64().unwrap();
    assert!(p50 > 100.0, "one stream queues: p50 {p50} ms");
}

#[test]
fn h2_over_tls_a_reset_stream_and_refusals() {
    let _serial = common::serial();
    let Some(s) = servers("127.0.0.1:9") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://{}/", s.tls);
    let (r, _) = run(&url, "500", "1", dir.path(), &["--insecure"]);
    assert_eq!(n(&r, &["requests", "ok"]), 500, "{}", r["errors_by_kind"]);
    assert_eq!(r["tls"]["handshakes"].as_u64(), Some(1), "{}", r["tls"]);

    // `return 444` resets the stream: an error of its own kind, the connection kept.
    let url = format!("http://{}/reset", s.h2c);
    let (r, _) = run(&url, "200", "1", dir.path(), &["--connections", "1"]);
    let kinds = r["errors_by_kind"].as_object().unwrap();
    assert_eq!(kinds.len(), 1, "{kinds:?}");
    let (kind, count) = kinds.iter().next().unwrap();
    assert!(kind.starts_with("rst_"), "{kind}");
    assert_eq!(count.as_u64(), Some(200));
    assert_eq!(n(&r, &["network", "connections_opened"]), 1);

    // Over TLS, a server that does not offer h2 in ALPN is spoken to in HTTP/1.1, and the
    // report says so.
    let url = format!("https://{}/", s.tls_http1);
    let (r, _) = run(&url, "100", "1", dir.path(), &["--insecure"]);
    assert_eq!(n(&r, &["requests", "ok"]), 100, "{}", r["errors_by_kind"]);
    assert!(
        !r["target"].as_str().unwrap().contains("HTTP/2"),
        "{}",
        r["target"]
    );
    let report = common::read_json(&dir.path().join("r.json"));
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("did not offer HTTP/2") && warnings.contains("speaks HTTP/1.1"));

    // Without TLS, a server that speaks only HTTP/1.1 is named before the run (exit 3).
    let report = dir.path().join("x.json");
    let url = format!("http://{}/", s.http1);
    let out = common::run_at(&url, "10", "1", &report, &["--http2"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        common::stderr(&out).contains("did not answer HTTP/2"),
        "{}",
        common::stderr(&out)
    );
    // Flags that cannot apply are refused by name (exit 2).
    for (flags, needle) in [
        (&["--streams", "4"][..], "streams"),
        (&["--http2", "--streams", "0"][..], "streams"),
        (&["--http2", "--timestamps", "kernel"][..], "timestamps"),
    ] {
        let out = common::run_at(&url, "10", "1", &report, flags);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flags:?}: {}",
            common::stderr(&out)
        );
        assert!(
            common::stderr(&out).contains(needle),
            "{}",
            common::stderr(&out)
        );
    }
}

#[test]
fn a_one_byte_window_and_a_two_stream_limit_are_kept() {
    let _serial = common::serial();
    let Some(nghttpd) = ["/usr/sbin/nghttpd", "/usr/bin/nghttpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        common::missing::<()>("nghttpd (nghttp2-server)");
        return;
    };
    let htdocs = tempfile::tempdir().unwrap();
    std::fs::write(htdocs.path().join("index.html"), "ok\n").unwrap();
    let start = |flags: &[&str]| {
        let port = common::free_port();
        let server = std::process::Command::new(nghttpd)
            .arg("--no-tls")
            .args(flags)
            .arg("-d")
            .arg(htdocs.path())
            .args(["-a", "127.0.0.1", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        (server, format!("http://127.0.0.1:{port}/"))
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = start(&["-w", "1", "-W", "1", "--echo-upload"]);
    let body = "b".repeat(64);
    let flags = [
        "--method",
        "POST",
        "--body",
        &body,
        "--expect-body-size",
        "64",
    ];
    let (r, _) = run(&url, "20", "1", dir.path(), &flags);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(n(&r, &["requests", "ok"]), 20, "{}", r["errors_by_kind"]);
    let sent = n(&r, &["network", "bytes_sent"]);
    assert!(sent > 20 * 64 * 10, "a DATA frame per byte: {sent} bytes");
    // A server that takes 2 streams at a time gets no more, whatever --streams says.
    let (mut server, url) = start(&["-m", "2"]);
    let (r, _) = run(
        &url,
        "1000",
        "1",
        dir.path(),
        &["--connections", "1", "--streams", "10"],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(n(&r, &["requests", "ok"]), 1000, "{}", r["errors_by_kind"]);
    assert!(
        n(&r, &["network", "peak_in_flight"]) <= 2,
        "{}",
        r["network"]
    );
}

impl Servers {
    fn nginx_dir(&self) -> std::path::PathBuf {
        self.nginx.dir.clone()
    }
}
