//! Request sets (`--requests FILE`) against Debian's nginx and redis-server: three named
//! requests are counted exactly per name, in every report; weights hold in random order; a
//! threshold on one name is judged on that name alone; shards merge name by name.

mod common;

use common::{Daemon, Nginx, openpace, stderr};
use openpace::{RunResult, ScenarioResult};

const SET: &str = r#"{"name": "login", "method": "POST", "url": "/login", "body": "{\"user\": \"u{{seq}}\"}"}
{"name": "item", "url": "/item/{{rand_int 1 1000}}", "headers": {"Accept": "application/json"}}
{"name": "health", "url": "/health", "method": "HEAD"}
"#;

/// Runs `openpace run ARGS --out DIR/NAME.json` and reads the report (and the exit code).
fn run(dir: &std::path::Path, name: &str, args: &[&str]) -> (Option<i32>, RunResult) {
    let out = dir.join(format!("{name}.json"));
    let out_path = out.display().to_string();
    let base = [
        "run",
        "--quiet",
        "--out",
        &out_path,
        "--warmup",
        "0",
        "--retries",
        "0",
    ];
    let output = openpace(&[&base[..], args].concat());
    let text =
        std::fs::read_to_string(&out).unwrap_or_else(|_| panic!("no report: {}", stderr(&output)));
    (output.status.code(), serde_json::from_str(&text).unwrap())
}

fn counts(s: &ScenarioResult) -> Vec<(String, u64, u64)> {
    s.by_name
        .iter()
        .map(|n| (n.name.clone(), n.completed, n.ok))
        .collect()
}

#[test]
fn three_named_requests_are_counted_exactly_per_name() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    std::fs::write(&set, SET).unwrap();
    let set = set.display().to_string();
    let url = format!("http://{}/", nginx.addr);
    let text_out = dir.path().join("summary.txt").display().to_string();
    let html_out = dir.path().join("report.html").display().to_string();
    let (code, r) = run(
        dir.path(),
        "set",
        &[
            "--target",
            &url,
            "--requests",
            &set,
            "--rate",
            "3000",
            "--duration",
            "1s",
            "--threshold",
            "response{name=login} p99 < 5s",
            "--threshold",
            "error_rate{name=health} < 1%",
            "--html",
            &html_out,
        ],
    );
    assert_eq!(code, Some(0));
    let s = &r.scenarios[0];
    assert_eq!(s.requests.ok, 3000);
    let want = |n: &str| (n.to_string(), 1000, 1000);
    assert_eq!(counts(s), [want("login"), want("item"), want("health")]);
    for n in &s.by_name {
        assert_eq!(n.response_time_ms.count, 1000, "{}", n.name);
        assert_eq!(n.service_time_ms.count, 1000, "{}", n.name);
        assert!(
            n.response_time_ms.at(0.5) >= n.service_time_ms.at(0.5) * 0.99,
            "{}",
            n.name
        );
    }
    let named: Vec<&str> = s
        .verdict
        .thresholds
        .iter()
        .map(|t| t.metric.as_str())
        .collect();
    assert!(
        named.contains(&"response_time{name=login} p99"),
        "{named:?}"
    );
    // The text summary and the HTML report carry the names too.
    openpace(&[
        "run",
        "--quiet",
        "--warmup",
        "0",
        "--target",
        &url,
        "--requests",
        &set,
        "--rate",
        "300",
        "--duration",
        "1s",
        "--format",
        "text",
        "--out",
        &text_out,
    ]);
    let text = std::fs::read_to_string(&text_out).unwrap();
    assert!(
        text.contains("BY NAME") && text.contains("login: 100 completed, 100 ok"),
        "{text}"
    );
    // So do the CSV (a row per name over the window) and the interval log (tagged).
    let csv_out = dir.path().join("series.csv").display().to_string();
    let hlog_out = dir.path().join("run.hlog").display().to_string();
    let hgrm_out = dir.path().join("d.hgrm").display().to_string();
    openpace(&[
        "run",
        "--quiet",
        "--warmup",
        "0",
        "--target",
        &url,
        "--requests",
        &set,
        "--rate",
        "300",
        "--duration",
        "1s",
        "--out",
        "none",
        "--csv",
        &csv_out,
        "--hlog",
        &hlog_out,
        "--hgrm",
        &hgrm_out,
    ]);
    // And a percentile distribution per name and metric beside the scenario's.
    let login = std::fs::read_to_string(dir.path().join("d.name-login.response.hgrm")).unwrap();
    assert!(login.contains("Total count    =          100"), "{login}");
    let csv = std::fs::read_to_string(&csv_out).unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains("/item,"))
        .unwrap_or_else(|| panic!("{csv}"));
    let fields: Vec<&str> = row.split(',').collect();
    assert_eq!((fields[5], fields[6]), ("100", "100"), "{row}");
    let hlog = std::fs::read_to_string(&hlog_out).unwrap();
    for tag in ["Tag=name.login.response,", "Tag=name.health.dispatch,"] {
        assert!(hlog.contains(tag), "{tag} not in the log");
    }
    let html = std::fs::read_to_string(&html_out).unwrap();
    assert!(html.contains("request set: name") && html.contains("<td>health</td><td>1000</td>"));
}

#[test]
fn weights_hold_in_random_order_and_thresholds_judge_one_name() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    std::fs::write(
        &set,
        "{\"name\": \"a\", \"url\": \"/a\", \"weight\": 1}\n{\"name\": \"b\", \"url\": \"/b\", \"weight\": 3}\n",
    )
    .unwrap();
    let set = set.display().to_string();
    let url = format!("http://{}/", nginx.addr);
    // A limit only `b`'s requests could break: p0.01 below 1 ns fails for `b`, not for the run.
    let (code, r) = run(
        dir.path(),
        "random",
        &[
            "--target",
            &url,
            "--requests",
            &set,
            "--requests-order",
            "random",
            "--rate",
            "4000",
            "--duration",
            "1s",
            "--threshold",
            "service{name=b} min < 1ns",
            "--threshold",
            "errors{name=a} < 1",
        ],
    );
    assert_eq!(code, Some(1), "the impossible limit on b fails the run");
    let s = &r.scenarios[0];
    let (a, b) = (s.by_name[0].completed, s.by_name[1].completed);
    assert_eq!(a + b, 4000);
    assert!((800..1200).contains(&a), "a {a} of 4000 at weight 1/4");
    let verdicts: Vec<(&str, bool)> = s
        .verdict
        .thresholds
        .iter()
        .filter(|t| t.metric.contains("name="))
        .map(|t| (t.metric.as_str(), t.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("service_time{name=b} min", false),
            ("errors{name=a}", true)
        ]
    );

    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            &url,
            "--requests",
            &set,
            "--threshold",
            "response{name=c} p99 < 1s",
        ],
        &["response{name=c}", "one of the request set's names: a, b"],
    );
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"url\": \"http://elsewhere:1/\"}\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.jsonl").display().to_string();
    common::assert_rejected(
        &["run", "--out", "none", "--target", &url, "--requests", &bad],
        &["line 1", "another server"],
    );
}

#[test]
fn shards_merge_name_by_name() {
    let _turn = common::serial();
    let Some(nginx) = Nginx::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    std::fs::write(&set, SET).unwrap();
    let set = set.display().to_string();
    let url = format!("http://{}/", nginx.addr);
    let mut reports = Vec::new();
    for shard in ["0/2", "1/2"] {
        let name = format!("shard{}", &shard[..1]);
        let args = [
            "--target",
            &url,
            "--requests",
            &set,
            "--rate",
            "600",
            "--duration",
            "1s",
            "--seed",
            "5",
            "--shard",
            shard,
        ];
        let out = dir
            .path()
            .join(format!("{name}.json"))
            .display()
            .to_string();
        let base = ["run", "--quiet", "--warmup", "0", "--out", &out];
        let output = openpace(&[&base[..], &args].concat());
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        // A shard's report is named after it.
        let written = dir
            .path()
            .join(format!("{name}.shard-{}.json", &shard[..1]));
        reports.push(written.display().to_string());
    }
    let merged = dir.path().join("merged.json").display().to_string();
    let out = openpace(&["merge", "--out", &merged, &reports[0], &reports[1]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r: RunResult = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let want = |n: &str| (n.to_string(), 200, 200);
    assert_eq!(
        counts(&r.scenarios[0]),
        [want("login"), want("item"), want("health")]
    );
}

#[test]
fn redis_request_sets_send_each_named_command() {
    let _turn = common::serial();
    let Some(redis) = Daemon::redis() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("kv.jsonl");
    std::fs::write(
        &set,
        "{\"name\": \"set\", \"command\": \"SET key:{{seq}} v\", \"weight\": 2}\n\
         {\"name\": \"get\", \"command\": \"GET key:{{rand_int 0 99}}\"}\n\
         {\"name\": \"ping\", \"command\": \"PING\"}\n",
    )
    .unwrap();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let set = set.display().to_string();
    let (_, r) = run(
        dir.path(),
        "kv",
        &[
            "--target",
            &url,
            "--requests",
            &set,
            "--rate",
            "2000",
            "--duration",
            "1s",
        ],
    );
    let s = &r.scenarios[0];
    assert_eq!(
        counts(s),
        [
            ("set".into(), 1000, 1000),
            ("get".into(), 500, 500),
            ("ping".into(), 500, 500)
        ]
    );
    assert_eq!(redis.ask("DBSIZE\r\n", |_| true), [":1000"]);
}
