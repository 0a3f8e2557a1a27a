//! https:// targets against Debian's nginx with certificates made in the test by `openssl`
//! (a CA, a server certificate for localhost and 127.0.0.1, one for another name, one that
//! expired yesterday): a verified run counts every request and times its handshakes; an
//! untrusted certificate, a wrong name and an expired certificate stop the run at the start
//! (exit 3) with the reason and what to do; `--insecure` runs against all three; mid-run, certificate faults are errors of kinds of their own.

mod common;

use common::{Nginx, openpace, stderr};
use openpace::targets::TargetSpec;
use openpace::{RunResult, ScenarioResult};

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
    let url = format!(
        "https://localhost:{}/",
        tls.addr.rsplit_once(':').unwrap().1
    );
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
            "--connections",
            "4",
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
        err.contains("UnknownIssuer") && err.contains("--cacert"),
        "{err}"
    );

    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &wrong, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("not valid for name") && err.contains("--insecure"),
        "{err}"
    );

    let expired = format!("https://{}/", tls.expired_addr);
    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &expired, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("Expired") && err.contains("clock"), "{err}");

    let ca_as_server = format!("https://{}/", tls.ca_as_server_addr);
    let (code, err, _) = run(
        dir.path(),
        &[&["--target", &ca_as_server, "--cacert", &ca][..], &short].concat(),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("is a CA certificate"), "{err}");

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
    // Issue 27: known by the verifier's error type, not by the words of its message.
    let ca_as_server = object(&tls.ca_as_server_addr);
    assert_eq!(
        call(ca_as_server).error.map(|k| k.name()),
        Some("tls_ca_as_server")
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
