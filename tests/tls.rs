//! https:// targets against Debian's nginx with certificates made in the test by `openssl`
//! (a CA, a server certificate for localhost and 127.0.0.1, one for another name, one that
//! expired yesterday): a verified run counts every request and times its handshakes; an
//! untrusted certificate, a wrong name and an expired certificate stop the run at the start
//! (exit 3) with the reason and what to do; `--insecure` runs against all three; mid-run, certificate faults are errors of kinds of their own.
//!
//! The record layer openpace runs after rustls's handshake (src/targets/net/tls/records.rs)
//! is checked against OpenSSL under each protocol and cipher a server may pick, with
//! multi-record requests and responses and resumed reconnects, and against rustls's own
//! server updating its keys after every response.

mod common;

use common::{Nginx, openpace, stderr};
use openpace::targets::TargetSpec;
use openpace::{RunResult, ScenarioResult};

/// 200 requests in 1 s over two connections, nothing retried: the record-layer tests' run.
const TWO_CONNECTIONS: [&str; 12] = [
    "--rate",
    "200",
    "--duration",
    "1s",
    "--warmup",
    "0",
    "--connections",
    "2",
    "--timeout",
    "5s",
    "--retries",
    "0",
];

/// The port of `HOST:PORT`.
fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').unwrap().1
}

/// Runs `openpace run ARGS --out FILE` and reads the report back (with the exit code).
fn run(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, Option<ScenarioResult>) {
    let out_file = dir.join("report.json");
    let _ = std::fs::remove_file(&out_file);
    let out_path = out_file.display().to_string();
    let args = [&["run", "--quiet", "--out", &out_path], args].concat();
    let out = openpace(&args);
    let report = std::fs::read_to_string(&out_file)
        .ok()
        .map(|text| serde_json::from_str::<RunResult>(&text).unwrap().scenarios[0].clone());
    (out.status.code(), stderr(&out), report)
}

#[test]
fn a_verified_https_run_counts_every_request_and_times_its_handshakes() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start_tls() else {
        return;
    };
    let tls = nginx.tls.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://localhost:{}/", port_of(&tls.addr));
    let ca = tls.ca.display().to_string();
    let (code, err, s) = run(
        dir.path(),
        &[
            "--target",
            &url,
            "--cacert",
            &ca,
            "--rate",
            "500",
            "--duration",
            "2s",
            "--warmup",
            "0",
            // Opened as requests need them, so that the requests that open one hold its
            // handshake (`-c 4` would open all four before the run).
            "--connections",
            "auto:4",
            "--timeout",
            "5s",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(s.requests.intended, 1000, "{:?}", s.requests);
    assert_eq!(
        s.requests.ok, 1000,
        "{:?} {:?}",
        s.requests, s.errors_by_kind
    );
    let t = s.tls.as_ref().expect("an https run reports its handshakes");
    assert!(
        t.handshakes >= 1 && t.handshakes == s.network.connections_opened,
        "{t:?}"
    );
    assert!(t.resumed <= t.handshakes, "{t:?}");
    assert_eq!(t.requests_with_handshake, t.handshakes, "{t:?}");
    assert_eq!(t.handshake_ms.count, t.handshakes, "{t:?}");
    assert!(
        t.handshake_ms.min > 0.0 && t.handshake_ms.max < 5_000.0,
        "{t:?}"
    );
    // Every response is "ok\n" in a 200: the bytes received are at least those.
    assert!(s.network.bytes_received >= 1000 * 3, "{:?}", s.network);
}

#[test]
fn untrusted_and_wrong_name_certificates_stop_the_run_with_the_reason() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start_tls() else {
        return;
    };
    let tls = nginx.tls.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = tls.ca.display().to_string();
    let good = format!("https://{}/", tls.addr);
    let wrong = format!("https://{}/", tls.wrong_name_addr);
    let short = ["--rate", "200", "--duration", "1s", "--warmup", "0"];

    let (code, err, _) = run(dir.path(), &[&["--target", &good][..], &short].concat());
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("chains to no root") && err.contains("--cacert"),
        "{err}"
    );

    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &wrong, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("not valid for 127.0.0.1") && err.contains("--insecure"),
        "{err}"
    );

    let expired = format!("https://{}/", tls.expired_addr);
    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &expired, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("has expired") && err.contains("clock"),
        "{err}"
    );

    // Issue 29, point 6: a self-signed certificate (`openssl req -x509`, a CA certificate)
    // given with --cacert is trusted as it is, as curl does; without it, the message says so.
    let self_signed = format!("https://localhost:{}/", port_of(&tls.self_signed_addr));
    let pinned = tls.self_signed.display().to_string();
    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &self_signed][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("is a CA certificate") && err.contains("--cacert"),
        "{err}"
    );
    let (code, err, s) = run(
        dir.path(),
        &[&["--target", &self_signed, "--cacert", &pinned][..], &short].concat(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(s.unwrap().requests.ok, 200);
    // Pinned, but still for its names only: the CA's own certificate names no host.
    let ca_as_server = format!("https://{}/", tls.ca_as_server_addr);
    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &ca_as_server, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("is not valid for 127.0.0.1"), "{err}");

    for url in [&good, &wrong, &expired] {
        let (code, err, s) = run(
            dir.path(),
            &[&["--target", url.as_str(), "--insecure"][..], &short].concat(),
        );
        assert_eq!(code, Some(0), "{url}: {err}");
        let s = s.unwrap();
        assert_eq!((s.requests.intended, s.requests.ok), (200, 200), "{url}");
    }
}

#[test]
fn certificate_faults_are_errors_of_their_own_kinds() {
    let Some(nginx) = Nginx::start_tls() else {
        return;
    };
    let tls = nginx.tls.as_ref().unwrap();
    let ca = tls.ca.display().to_string();
    let call = |spec: TargetSpec| common::worker_target(&spec, 1).call(&common::request(0));
    let untrusted = TargetSpec::parse(&format!("https://{}/", tls.addr)).unwrap();
    assert_eq!(
        call(untrusted).error.map(|k| k.name()),
        Some("tls_untrusted")
    );
    let object = |addr: &str| {
        common::net_target(&format!(
            r#"{{"http": {{"url": "https://{addr}/", "cacert": "{ca}"}}}}"#
        ))
    };
    let wrong = object(&tls.wrong_name_addr);
    assert_eq!(call(wrong).error.map(|k| k.name()), Some("tls_wrong_host"));
    let expired = object(&tls.expired_addr);
    assert_eq!(call(expired).error.map(|k| k.name()), Some("tls_expired"));
    // Issue 27: known by the verifier's error type, not by the words of its message (the
    // self-signed certificate without --cacert; given there, it is pinned).
    let self_signed = TargetSpec::parse(&format!("https://{}/", tls.self_signed_addr)).unwrap();
    assert_eq!(
        call(self_signed).error.map(|k| k.name()),
        Some("tls_ca_as_server")
    );
    let ca_as_server = object(&tls.ca_as_server_addr);
    assert_eq!(
        call(ca_as_server).error.map(|k| k.name()),
        Some("tls_wrong_host")
    );
    let result = call(object(&tls.addr));
    assert!(result.is_ok(), "{result:?}");
    assert!(
        result.handshake_ns > 0 && result.connections == 1,
        "{result:?}"
    );
}

#[test]
fn tls_flags_are_checked() {
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            "http://127.0.0.1:1/",
            "--insecure",
        ],
        &["https:// URLs only"],
    );
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            "https://127.0.0.1:1/",
            "--cacert",
            "/no/such.pem",
        ],
        &["--cacert /no/such.pem", "cannot read"],
    );
}

/// Issue 28: the record layer against OpenSSL (nginx) under TLS 1.2 and 1.3, AES-GCM and
/// ChaCha20: a 40,000-byte request body (three records) and 200,000-byte responses (thirteen
/// or more records), and a reconnect every 20 requests that resumes the session (under TLS
/// 1.3 from the tickets the record layer hands back to rustls after the handshake).
#[test]
fn every_protocol_and_cipher_carries_requests_and_resumes_sessions() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start_tls() else {
        return;
    };
    let tls = nginx.tls.as_ref().unwrap();
    let ca = tls.ca.display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, vec![b'q'; 40_000]).unwrap();
    let body = body.display().to_string();
    for (suite, addr) in &tls.suites {
        let port = port_of(addr);
        let post = ["--method", "POST", "--body-file", &body];
        for (path, extra, least_bytes) in
            [("/", &post[..], 200 * 3), ("/big", &[][..], 200 * 200_000)]
        {
            let url = format!("https://localhost:{port}{path}");
            let common = [&["--target", &url, "--cacert", &ca][..], &TWO_CONNECTIONS].concat();
            let (code, err, s) = run(dir.path(), &[&common[..], extra].concat());
            let what = format!("{suite} {path}");
            assert_eq!(code, Some(0), "{what}: {err}");
            let s = s.unwrap();
            assert_eq!(
                s.requests.ok, 200,
                "{what}: {:?} {:?}",
                s.requests, s.errors_by_kind
            );
            assert!(
                s.network.bytes_received >= least_bytes,
                "{what}: {:?}",
                s.network
            );
            let t = s.tls.as_ref().unwrap();
            println!("{what}: {} handshakes, {} resumed", t.handshakes, t.resumed);
            // nginx closes a connection after 20 requests: at least 10 handshakes, and every
            // one after a connection's first can resume.
            assert!(t.handshakes >= 10, "{what}: {t:?}");
            assert!(t.resumed >= t.handshakes / 2, "{what}: {t:?}");
        }
    }
}

/// rustls's server on loopback answering `ok` and then updating its keys after every
/// response, asking for the client's in return (TLS 1.3 KeyUpdate, update_requested). Serves
/// connections until `until`; returns its address and how many key updates it sent.
fn key_updating_server(
    dir: &std::path::Path,
    until: std::time::Instant,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("good.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("good.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let updates = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = updates.clone();
    std::thread::spawn(move || {
        while std::time::Instant::now() < until {
            let Ok((mut socket, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            };
            let (config, counted) = (config.clone(), counted.clone());
            std::thread::spawn(move || {
                socket.set_nonblocking(false).unwrap();
                let left = until.saturating_duration_since(std::time::Instant::now());
                socket
                    .set_read_timeout(Some(left.max(std::time::Duration::from_millis(1))))
                    .unwrap();
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::Stream::new(&mut conn, &mut socket);
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    request.extend_from_slice(&buf[..n]);
                    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        request.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
                        if tls.write_all(reply).is_err() || tls.conn.refresh_traffic_keys().is_err()
                        {
                            return;
                        }
                        if tls.flush().is_err() {
                            return;
                        }
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (addr, updates)
}

/// Issue 28: a server that updates its keys after every response, and asks openpace to update
/// its own: every request still succeeds on the same connections (a wrong key on either side
/// would fail the next record), and the server saw every update through.
#[test]
fn key_updates_from_the_server_are_followed_both_ways() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    if !common::make_certificates(dir.path(), &[("good", "DNS:localhost,IP:127.0.0.1", "2")]) {
        let _: Option<()> = common::missing("openssl (the test certificates could not be made)");
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (addr, updates) = key_updating_server(dir.path(), until);
    let url = format!("https://localhost:{}/", port_of(&addr));
    let ca = dir.path().join("ca.pem").display().to_string();
    let out = tempfile::tempdir().unwrap();
    let (code, err, s) = run(
        out.path(),
        &[&["--target", &url, "--cacert", &ca][..], &TWO_CONNECTIONS].concat(),
    );
    assert_eq!(code, Some(0), "{err}");
    let s = s.unwrap();
    assert_eq!(
        s.requests.ok, 200,
        "{:?} {:?}",
        s.requests, s.errors_by_kind
    );
    let t = s.tls.as_ref().unwrap();
    assert!(t.handshakes <= 3, "the connections lasted: {t:?}");
    assert!(updates.load(std::sync::atomic::Ordering::Relaxed) >= 200);
}
