//! redis:// and memcached:// targets against Debian's redis-server and memcached, started by
//! the tests on 127.0.0.1 (`.ci/run` installs them): every request is counted exactly, and the
//! server's own counters agree; templated commands write one key per request; server errors
//! are errors of kind `server`; a worker allocates nothing per request.

mod common;

use common::{Daemon, openpace, stderr};
use openpace::{RunResult, ScenarioResult};

/// `openpace run` with `args` at 1,000 RPS for 1 s, no warmup; the scenario's result.
fn run(args: &[&str]) -> ScenarioResult {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let out_path = out.display().to_string();
    let base = [
        "run",
        "--quiet",
        "--out",
        &out_path,
        "--rate",
        "1000",
        "--duration",
        "1s",
        "--warmup",
        "0",
        "--retries",
        "0",
    ];
    let output = openpace(&[&base[..], args].concat());
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        stderr(&output)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    serde_json::from_str::<RunResult>(&text).unwrap().scenarios[0].clone()
}

#[test]
fn redis_commands_are_counted_exactly_and_agree_with_the_server() {
    let _turn = common::serial();
    let Some(redis) = Daemon::redis() else { return };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let s = run(&["--target", &url]);
    assert_eq!(
        (s.requests.intended, s.requests.ok),
        (1000, 1000),
        "{:?}",
        s.errors_by_kind
    );

    // One key per request: {{seq}} is unique, so the server holds exactly as many keys.
    let s = run(&[
        "--target",
        &url,
        "--command",
        "SET key:{{seq}} {{rand_hex 16}}",
    ]);
    assert_eq!((s.requests.intended, s.requests.ok), (1000, 1000));
    // Issue 29: a run from flags is named by its target and command, not "openpace".
    assert_eq!(
        s.name,
        format!("{url} SET key:{{{{seq}}}} {{{{rand_hex 16}}}}")
    );
    let size = redis.ask("DBSIZE\r\n", |_| true);
    assert_eq!(size, [":1000"]);
    let value = redis.ask("GET key:999\r\n", |l| !l.starts_with('$'));
    assert!(
        value[1].len() == 16 && value[1].bytes().all(|b| b.is_ascii_hexdigit()),
        "{value:?}"
    );

    // A reply with an error is an error of kind `server`, counted, never a success.
    let s = run(&["--target", &url, "--command", "NOSUCHCOMMAND x"]);
    assert_eq!(s.requests.ok, 0);
    assert_eq!(
        s.errors_by_kind.get("server"),
        Some(&1000),
        "{:?}",
        s.errors_by_kind
    );
}

#[test]
fn memcached_sets_and_gets_are_counted_exactly() {
    let _turn = common::serial();
    let Some(memcached) = Daemon::memcached() else {
        return;
    };
    let url = format!("memcached://127.0.0.1:{}", memcached.port);
    let s = run(&[
        "--target",
        &url,
        "--command",
        "set k:{{seq}} {{rand_hex 8}}",
    ]);
    assert_eq!(
        (s.requests.intended, s.requests.ok),
        (1000, 1000),
        "{:?}",
        s.errors_by_kind
    );
    assert_eq!(memcached.stat("curr_items"), 1000);
    // Two keys per get, half of them present: hits and misses both succeed.
    let s = run(&[
        "--target",
        &url,
        "--command",
        "get k:{{rand_int 0 1999}} k:{{seq}}",
    ]);
    assert_eq!(
        (s.requests.intended, s.requests.ok),
        (1000, 1000),
        "{:?}",
        s.errors_by_kind
    );
    assert_eq!(memcached.stat("cmd_get"), 2000);
    assert_eq!(
        memcached.stat("get_hits") + memcached.stat("get_misses"),
        2000
    );
    assert!(
        memcached.stat("get_hits") >= 1000,
        "k:{{seq}} is always there"
    );
    // memcached refuses to increment text: CLIENT_ERROR, an error of kind `server`.
    memcached.ask("set word 0 0 4\r\ntext\r\n", |l| l == "STORED");
    let s = run(&["--target", &url, "--command", "incr word 1"]);
    assert_eq!(
        s.errors_by_kind.get("server"),
        Some(&1000),
        "{:?}",
        s.errors_by_kind
    );
}

#[test]
fn bad_commands_are_refused_with_the_rule() {
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            "memcached://127.0.0.1:1",
            "--command",
            "set k",
        ],
        &["set is written"],
    );
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            "redis://127.0.0.1:1",
            "--command",
            "GET {{x}}",
        ],
        &["{{x}}", "is not a template expression"],
    );
    common::assert_rejected(
        &[
            "run",
            "--out",
            "none",
            "--target",
            "redis://127.0.0.1:1",
            "--payload",
            "x",
        ],
        &["unknown key `payload`"],
    );
}
