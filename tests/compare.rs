//! `openpace compare`, through the binary: a target 10% slower is found slower, a run
//! compared with itself is not, `--fail-if-slower` sets the exit code, bad limits are
//! refused, and JSON and HTML come out.

mod common;

use common::{assert_rejected, openpace, stderr};

/// 10,000 requests of `spin:exp:MEAN` at 2,000 RPS, saved to `out`.
fn run(target: &str, seed: &str, out: &std::path::Path) {
    let _turn = common::serial();
    let done = openpace(&[
        "run",
        "--target",
        target,
        "--rate",
        "2000",
        "--duration",
        "5",
        "--warmup",
        "0.5",
        "--seed",
        seed,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
}

fn verdicts(json: &serde_json::Value, metric: &str) -> Vec<(String, String)> {
    let metrics = json["scenarios"][0]["metrics"].as_array().unwrap();
    let m = metrics.iter().find(|m| m["metric"] == metric).unwrap();
    m["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["percentile"].as_str().unwrap().to_string(),
                p["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn ten_percent_slower_is_slower_and_a_run_is_not_different_from_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    run("spin:exp:200us", "1", &a);
    run("spin:exp:220us", "2", &b);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let json = dir.path().join("c.json");
    let out = openpace(&[
        "compare",
        a,
        b,
        "--fail-if-slower",
        "service p50 > 3%",
        "--format",
        "json",
        "--out",
        json.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("[FAIL] fail-if-slower service p50 > 3%"),
        "{text}"
    );
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The busy time of the service is 10% longer at every quantile: p50 and p90 (the
    // tightest intervals with 10,000 samples) are found slower.
    let service = verdicts(&c, "service_time");
    for p in ["p50", "p90"] {
        assert!(
            service.contains(&(p.to_string(), "slower".to_string())),
            "{p}: {service:?}"
        );
    }
    assert!(service.contains(&("p99.99".to_string(), "too few samples".to_string())));
    assert_eq!(c["limits"][0]["failed"], true, "{c}");

    // A run against itself: no percentile differs, no limit is broken.
    let same = openpace(&["compare", a, a, "--fail-if-slower", "p99 > 5%"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let text = String::from_utf8_lossy(&same.stdout);
    assert!(
        !text.contains(" slower\n") && !text.contains(" faster\n"),
        "{text}"
    );
    assert!(text.contains("no significant difference"), "{text}");
    // Issue 29 point 4: a percentile no run can bound is named, not printed as `[n/a]`, and
    // figures carry their unit.
    assert!(
        text.contains("  not shown: p99.99: too few samples"),
        "{text}"
    );
    assert!(
        !text.contains("[n/a]\n") && !text.contains("(ms),"),
        "{text}"
    );

    // Both spectra on one chart per metric, with their bands.
    let html = dir.path().join("c.html");
    let out = openpace(&[
        "compare",
        a,
        b,
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches("percentile spectrum, A against B").count(),
        6,
        "three metrics"
    );
    assert!(page.matches("<polygon").count() >= 4, "bands");

    assert_rejected(
        &["compare", a, b, "--fail-if-slower", "p99 < 5%"],
        &["--fail-if-slower", "p99 < 5%", "[METRIC] pN > X%"],
    );
    assert_rejected(
        &["compare", a, b, "--format", "pdf"],
        &["--format", "pdf", "text, json or html"],
    );
    assert_rejected(&["compare", a, "missing.json"], &["missing.json"]);
}
