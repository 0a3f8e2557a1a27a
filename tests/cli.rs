//! The `openpace` binary: validation rules (exit 2 naming the field), reports, exit codes,
//! Ctrl-C.

mod common;

use common::{assert_rejected, openpace, openpace_with, stderr};

use std::process::Output;

/// Runs `openpace run --warmup 0` with the flags in `flags` (split on spaces) and `more`.
fn short_run(flags: &str, more: &[&str]) -> Output {
    let mut args = vec!["run", "--warmup", "0"];
    args.extend(flags.split_whitespace());
    args.extend(more);
    openpace(&args)
}

/// Writes `text` to a file in a fresh temporary directory and returns both.
fn config_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, text).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

rejects! {
    duration_must_be_positive: ["--duration", "0"]
        => ["flag --duration", "duration_seconds = 0", "more than 0 seconds"];
    target_rps_must_be_positive: ["--rate", "0"]
        => ["flag --rate", "target_rps = 0", "more than 0 requests per second"];
    ramp_up_may_not_exceed_duration: ["--pattern", "ramp_up", "--ramp-up", "20", "--duration", "10"]
        => ["ramp_up_duration = 20", "at most duration_seconds (10)"];
    min_rps_may_not_exceed_max_rps: ["--min-rps", "50", "--max-rps", "10"]
        => ["min_rps = 50", "at most max_rps (10)"];
    spike_rps_may_not_be_below_target: ["--pattern", "spike", "--rate", "100", "--spike-rps", "50", "--duration", "60"]
        => ["spike_rps = 50", "at least target_rps (100)"];
    a_spike_must_fit_in_the_test: ["--pattern", "spike", "--spike-duration", "30", "--duration", "40", "--spike-rps", "100"]
        => ["spike_duration = 30", "less than duration_seconds / 2"];
    durations_may_not_be_negative: ["--warmup=-1s"]
        => ["flag --warmup", "warmup_seconds", "cannot be negative"];
    rates_may_not_be_negative: ["--min-rps=-1"]
        => ["min_rps = -1", "0 or more requests per second"];
    intervals_must_be_positive: ["--interval", "0"]
        => ["metrics_collection_interval = 0"];
    timeouts_must_be_positive: ["--timeout", "0s"]
        => ["request_timeout_seconds = 0"];
    num_workers_may_not_be_zero: ["--workers", "0"]
        => ["num_workers = 0", "1 to max_workers (32)"];
    num_workers_may_not_exceed_max_workers: ["--workers", "33"]
        => ["num_workers = 33", "1 to max_workers (32)"];
    error_rate_threshold_is_a_fraction: ["--set", "error_rate_threshold=1.5"]
        => ["flag --set", "error_rate_threshold = 1.5", "a fraction from 0 to 1"];
    success_rate_threshold_is_a_fraction: ["--set", "success_rate_threshold=-0.1"]
        => ["success_rate_threshold = -0.1"];
    latency_thresholds_must_be_positive: ["--set", "latency_p95_threshold_ms=0"]
        => ["latency_p95_threshold_ms = 0", "milliseconds greater than 0"];
    unknown_pattern_names_are_rejected: ["--pattern", "wave"]
        => ["load_pattern = \"wave\"", "one of constant, ramp_up, spike, step, stages"];
    unknown_wait_modes_are_rejected: ["--wait", "busy"]
        => ["wait = \"busy\"", "one of spin, hybrid, sleep"];
    unknown_arrivals_are_rejected: ["--arrival", "bursty"]
        => ["arrival = \"bursty\"", "uniform, poisson"];
    unknown_models_are_rejected: ["--model", "half-open"]
        => ["model = \"half-open\"", "open, closed"];
    unknown_targets_are_rejected: ["--target", "ftp://x"]
        => ["target = \"ftp://x\"", "noop, spin:DURATION, spin:exp:MEAN", "sleep:DURATION"];
    a_timer_core_that_does_not_exist_is_rejected: ["--timer-core", "999"]
        => ["timer_core = 999", "a core this machine has"];
    a_worker_core_that_does_not_exist_is_rejected: ["--worker-cores", "0,999"]
        => ["worker_cores = 999", "a core this machine has"];
    concurrency_needs_the_closed_model: ["--concurrency", "4"]
        => ["concurrency = 4", "only with \"model\": \"closed\""];
    stages_need_stages: ["--pattern", "stages"]
        => ["stages = []", "a non-empty list"];
    set_needs_field_and_value: ["--set", "target_rps"]
        => ["--set", "FIELD=VALUE"];
    set_rejects_unknown_fields: ["--set", "target_rsp=5"]
        => ["unknown field `target_rsp`", "did you mean `target_rps`?"];
    a_monitored_pid_must_exist: ["--monitor-pid", "999999999"]
        => ["monitor_pid = 999999999", "the pid of a running process"];
    thresholds_must_parse: ["--threshold", "latency p99 < 5ms"]
        => ["flag --threshold", "thresholds[0]", "unknown metric `latency`"];
    numbers_must_be_numbers: ["--rate", "fast"]
        => ["target_rps = \"fast\"", "a number"];
}

#[test]
fn unknown_fields_in_a_file_are_rejected_with_a_suggestion() {
    let (_dir, path) = config_file(r#"{"name": "x", "target_rsp": 5}"#);
    assert_rejected(
        &["validate", &path],
        &[
            "config.json",
            "unknown field `target_rsp`",
            "did you mean `target_rps`?",
        ],
    );
}

#[test]
fn malformed_json_names_line_and_column() {
    let (_dir, path) = config_file("{\n  \"target_rps\": 5,\n  \"name\" \"x\"\n}\n");
    assert_rejected(
        &["validate", &path],
        &["not valid JSON at line 3, column 10"],
    );
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    assert_rejected(
        &["run", "/no/such/config.json"],
        &["/no/such/config.json", "cannot read"],
    );
}

#[test]
fn errors_in_a_scenario_name_the_scenario() {
    let (_dir, path) = config_file(
        r#"{"duration_seconds": 10, "scenarios": [{"name": "a"}, {"name": "b", "target_rps": -1}]}"#,
    );
    assert_rejected(&["validate", &path], &["scenarios[1]: target_rps = -1"]);
}

#[test]
fn an_empty_scenario_list_is_rejected() {
    let (_dir, path) = config_file(r#"{"scenarios": []}"#);
    assert_rejected(&["validate", &path], &["scenarios", "a non-empty list"]);
}

#[test]
fn the_example_config_is_valid() {
    let out = openpace(&["example-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for field in openpace::config::FIELDS.iter() {
        assert!(
            text.contains(&format!("\"{}\":", field.name)),
            "{}",
            field.name
        );
    }
    let (_dir, path) = config_file(&text);
    let out = openpace(&["validate", &path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid, 1 scenario(s)"));
    // Issue 16: the example is one coherent scenario a user adapts: its name and description
    // say what its target and figures are.
    let example: serde_json::Value = serde_json::from_str(&text).unwrap();
    let target = example["target"].as_str().unwrap();
    assert!(target.starts_with("http://127.0.0.1:"), "{target}");
    assert!(example["name"].as_str().unwrap().contains(target));
    let description = example["description"].as_str().unwrap();
    let rate = example["target_rps"].to_string();
    assert!(
        description.contains(&format!("{rate} RPS")),
        "{description}"
    );
    // Issue 29, point 9: the example can pass its own thresholds: each percentile in them has
    // the samples its 95% interval needs in the example's own window (p99.9 needs 3,688;
    // 50 RPS for 60 s is 3,000, so p99.9 was always inconclusive).
    let samples =
        example["duration_seconds"].as_f64().unwrap() * example["target_rps"].as_f64().unwrap();
    for threshold in example["thresholds"].as_array().unwrap() {
        let threshold = threshold.as_str().unwrap();
        for word in threshold.split_whitespace() {
            let Some(q) = word.strip_prefix('p').and_then(|n| n.parse::<f64>().ok()) else {
                continue;
            };
            let needed = openpace::metrics::confidence::samples_needed(q / 100.0);
            assert!(
                needed as f64 <= samples,
                "{threshold}: needs {needed} samples, the example has {samples}"
            );
        }
    }
}

#[test]
fn the_designs_concurrent_example_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/concurrent-example.json");
    let out = openpace(&["validate", example]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid, 3 scenario(s)"));
}

/// Issue 29, points 8 and 9: a mistyped flag gets one short line that names it, the reason
/// first; `-d -1s` is the duration's own error, not clap's `-- -1` tip; a target object given
/// to `--target` as text is read as the object; help shows the completions path whole.
#[test]
fn first_use_mistakes_get_one_line_naming_the_flag() {
    let one_line = |args: &[&str], starts: &str, holds: &str| {
        let out = openpace(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with(starts), "{args:?}: {err}");
        assert!(err.contains(holds), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.len() < 240, "{args:?}: {} chars: {err}", err.len());
    };
    one_line(
        &["run", "--target", "http://127.0.0.1:1/", "-c", "0"],
        "openpace: config error: flag --connections: connections = 0",
        "a whole number above 0",
    );
    one_line(
        &["run", "--target", "noop", "-d", "-1s"],
        "openpace: config error: flag --duration:",
        "cannot be negative",
    );
    one_line(
        &[
            "run",
            "--target",
            r#"{"http": {"url": "http://127.0.0.1:1/", "connections": 0}}"#,
        ],
        "openpace: config error: flag --target:",
        "`connections` 0 is not a whole number above 0, \"auto\" or \"auto:N\"",
    );
    let help = String::from_utf8(openpace(&["--help"]).stdout).unwrap();
    assert!(help.contains("/etc/bash_completion.d/openpace"), "{help}");
}

/// Issue 29, point 8: a URL alone is the target (`openpace http://host/ -R 100`, as wrk, oha
/// and hey take one), with flags before or after it; with --target too it is refused; the
/// top-level help shows the flags a first run needs.
#[test]
fn a_url_alone_is_the_target_and_the_top_level_help_shows_the_main_flags() {
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json").display().to_string();
    let url = format!("http://{}/", nginx.addr);
    let short = [
        "-R", "100", "-d", "1", "--warmup", "0", "--quiet", "--out", &out,
    ];
    for args in [
        [&[url.as_str()][..], &short].concat(),
        [&short[..], &[url.as_str()]].concat(),
        [&["run", url.as_str()][..], &short].concat(),
    ] {
        let run = openpace(&args);
        assert_eq!(run.status.code(), Some(0), "{args:?}: {}", stderr(&run));
        let report: openpace::RunResult =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let s = &report.scenarios[0];
        assert_eq!((s.requests.intended, s.requests.ok), (100, 100), "{args:?}");
        assert_eq!(s.name, format!("GET {url}"));
    }
    let both = openpace(&["run", &url, "--target", "noop"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("not both"), "{}", stderr(&both));
    let help = String::from_utf8(openpace(&["--help"]).stdout).unwrap();
    for flag in [
        "--target",
        "-R/--rate",
        "-d/--duration",
        "-c/--connections",
        "run --help",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

/// Issue 29, point 8: `openpace man` is one page with every subcommand and every flag their
/// `--help` lists, and refers to no page that does not exist.
#[test]
fn the_manual_page_holds_every_flag_of_every_command() {
    let man = String::from_utf8(openpace(&["man"]).stdout).unwrap();
    assert!(
        !man.contains("openpace\\-run(1)"),
        "refers to a page no one installs"
    );
    for command in [
        "run",
        "capacity",
        "ab",
        "merge",
        "compare",
        "report",
        "calibrate",
    ] {
        assert!(
            man.contains(&format!(".SH \"OPENPACE {}\"", command.to_uppercase())),
            "{command}"
        );
        let help = String::from_utf8(openpace(&[command, "--help"]).stdout).unwrap();
        let flags: Vec<&str> = help
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("--"))
            .map(|w| w.trim_end_matches([',', '.', ')', '`', '\'']))
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            .collect();
        assert!(flags.len() > 3, "{command}: {help}");
        for flag in flags {
            // roff escapes every hyphen.
            let roff = format!("\\-\\-{}", flag.replace('-', "\\-"));
            assert!(
                man.contains(&roff),
                "{command} --{flag} is not in the manual page"
            );
        }
    }
}

#[test]
fn run_help_lists_the_flags() {
    let out = openpace(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--target",
        "--pattern",
        "--rate",
        "--duration",
        "--warmup",
        "--workers",
        "--wait",
        "--out",
        "--quiet",
        "--set",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // Issue 16: a help text lists every value its flag accepts (--format said "json or
    // text" while seven worked).
    assert!(
        help.contains("json, text, hgrm, hlog, csv, html or junit"),
        "{help}"
    );
    for format in ["json", "text", "hgrm", "hlog", "csv", "html", "junit"] {
        let out = openpace(&[
            "--target", "noop", "-d", "0.2s", "--out", "-", "--format", format,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--format {format}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_run_writes_the_json_report_and_passes() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = short_run(
        "--target noop --rate 200 --duration 1 --name cli --out",
        &[report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    for line in [
        "LOAD TEST SUMMARY",
        "Test Name: cli",
        "Throughput:",
        "P99:",
        "VERDICT: PASSED",
    ] {
        assert!(summary.contains(line), "{line} missing from:\n{summary}");
    }
    let json = common::read_json(&report);
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["interrupted"], false);
    let s = &json["scenarios"][0];
    for key in [
        "name",
        "pattern",
        "target_rps",
        "achieved_rps",
        "requests",
        "response_time_ms",
        "service_time_ms",
        "dispatch_delay_us",
        "cache_hit_rate",
        "fallback_rate",
        "overhead_pct",
        "verdict",
    ] {
        assert!(!s[key].is_null(), "{key} missing");
    }
    for key in [
        "intended",
        "completed",
        "ok",
        "errors",
        "timeouts",
        "retries",
        "dropped",
    ] {
        assert!(s["requests"][key].is_u64(), "requests.{key}");
    }
    for key in [
        "min", "avg", "p50", "p90", "p95", "p99", "p99_9", "p99_99", "max",
    ] {
        assert!(
            s["response_time_ms"][key].is_number(),
            "response_time_ms.{key}"
        );
    }
    assert_eq!(s["requests"]["intended"], 200);
    assert_eq!(s["verdict"]["passed"], true);
    // The report is a RunResult: it reads back and renders the same summary.
    let back = openpace::report::read_json(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        openpace::report::summary(&back).trim(),
        summary
            .lines()
            .filter(|l| !l.starts_with("report:"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
    );
}

#[test]
fn a_failed_threshold_exits_1() {
    let _turn = common::serial();
    let out = short_run(
        "--target sleep:5ms --rate 50 --duration 1 --out none --set latency_p95_threshold_ms=1",
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("[FAIL] response_time p95"), "{summary}");
    assert!(summary.contains("VERDICT: FAILED"));
}

#[test]
fn the_text_format_writes_the_summary() {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let out = short_run(
        "--target noop --rate 100 --duration 0.5 --format text --quiet --out",
        &[report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--quiet prints nothing");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("LOAD TEST SUMMARY"));
}

#[test]
fn an_unwritable_report_path_exits_3_before_the_run_starts() {
    let out = short_run(
        "--target noop --rate 100 --duration 30 --out /no/such/dir/report.json",
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "nothing ran");
    assert!(stderr(&out).contains("/no/such/dir/report.json"));
}

/// Starts a long run, sends `signal` once it is under way, and returns the exit code and
/// the report.
fn interrupt_with(signal: libc::c_int) -> (Option<i32>, serde_json::Value) {
    let _turn = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let args = [
        "--target",
        "sleep:2ms",
        "--rate",
        "100",
        "--duration",
        "60",
        "--warmup",
        "0",
    ];
    let code = common::interrupt_run(&args, &report, signal);
    (code, common::read_json(&report))
}

#[test]
fn ctrl_c_writes_an_interrupted_report() {
    let (code, json) = interrupt_with(libc::SIGINT);
    assert_eq!(code, Some(130));
    assert_eq!(json["interrupted"], true);
    let requests = &json["scenarios"][0]["requests"];
    let intended = requests["intended"].as_u64().unwrap();
    assert!((100..1000).contains(&intended), "{intended}");
    assert_eq!(requests["completed"], requests["intended"]);
}

#[test]
fn sigterm_writes_an_interrupted_report() {
    let (code, json) = interrupt_with(libc::SIGTERM);
    assert_eq!(code, Some(130));
    assert_eq!(json["interrupted"], true);
}

/// Issue 16: `run` is the default subcommand for flags and config files too, and a negative
/// number reaches openpace's own check whatever its spelling.
#[test]
fn run_is_the_default_subcommand_and_negative_numbers_reach_the_check() {
    let bare = openpace(&[
        "--target",
        "noop",
        "--rate",
        "100",
        "--duration",
        "0.2",
        "--warmup",
        "0",
        "--quiet",
        "--out",
        "none",
    ]);
    assert_eq!(bare.status.code(), Some(0), "{}", stderr(&bare));
    let (_dir, path) = config_file(
        r#"{"target": "noop", "duration_seconds": 0.2, "target_rps": 50, "output": null}"#,
    );
    let file = openpace(&[&path, "--quiet"]);
    assert_eq!(file.status.code(), Some(0), "{}", stderr(&file));
    for args in [
        &["--rate", "-100", "--out", "none"][..],
        &["run", "--rate", "-100", "--out", "none"],
    ] {
        assert_rejected(args, &["flag --rate", "target_rps = -100", "more than 0"]);
    }
    assert_rejected(
        &["capacity", "--target", "noop", "--low", "-5"],
        &["flag --low", "low = -5", "greater than 0"],
    );
    // A misspelt subcommand is still clap's to answer, with its suggestion.
    let typo = openpace(&["mrege"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("'merge'"), "{}", stderr(&typo));
}

/// Issue 16: `--version` names the commit and the build profile.
#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let out = openpace(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.starts_with("openpace 0.1.0 (commit "), "{text}");
    assert!(text.trim_end().ends_with(" build)"), "{text}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Some(head) = head.ok().filter(|h| h.status.success()) {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(text.contains(&head), "{text} (HEAD {head})");
    }
}

/// Issue 16: the short flags wrk2 (-R, -d), oha and hey (-q, -z) users type, and -c for
/// connections, set what their long flags set.
#[test]
fn short_flags_set_what_the_long_ones_set() {
    let dir = tempfile::tempdir().unwrap();
    for (short, name) in [
        (&["-R", "300", "-d", "0.5s"], "wrk2"),
        (&["-q", "300", "-z", "0.5s"], "oha"),
    ] {
        let out = dir.path().join(format!("{name}.json"));
        let out = out.display().to_string();
        let args = [
            &[
                "--target", "noop", "--warmup", "0", "--quiet", "--out", &out,
            ][..],
            short,
        ]
        .concat();
        let run = openpace(&args);
        assert_eq!(run.status.code(), Some(0), "{name}: {}", stderr(&run));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let s = &json["scenarios"][0];
        assert_eq!(s["requests"]["intended"], 150, "{name}");
        assert_eq!(s["target_rps"], 300.0, "{name}");
    }
    // -c is --connections: a network flag, refused by name for an in-process target.
    assert_rejected(
        &["--target", "noop", "-c", "4", "--out", "none"],
        &["flag --target", "--connections"],
    );
    // A bad value given to a short flag is named by its long flag.
    assert_rejected(
        &["-R", "-5", "--out", "none"],
        &["flag --rate", "target_rps = -5"],
    );
}

/// Issue 16: `openpace completions SHELL` and `openpace man` print what shells and man read.
#[test]
fn completions_and_the_manual_page_are_printed() {
    for (shell, needle) in [
        ("bash", "_openpace()"),
        ("zsh", "#compdef openpace"),
        ("fish", "complete -c openpace"),
    ] {
        let out = openpace(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text.contains(needle), "{shell}: {needle} not in the script");
        assert!(
            text.contains("until-precise") && text.contains("requests-order"),
            "{shell}"
        );
    }
    let man = openpace(&["man"]);
    let text = String::from_utf8_lossy(&man.stdout);
    assert_eq!(man.status.code(), Some(0));
    assert!(
        text.contains(".TH openpace 1") && text.contains("completions"),
        "{text}"
    );
    assert_rejected(&["completions", "tcsh"], &["tcsh", "bash"]);
}

/// Issue 16: a ramp shows what it schedules, in the summary and in the progress, not the
/// unused target_rps.
#[test]
fn a_ramp_says_what_it_schedules() {
    let out = openpace(&[
        "--target",
        "noop",
        "--pattern",
        "ramp_up",
        "--min-rps",
        "100",
        "--max-rps",
        "2000",
        "--ramp-up",
        "1s",
        "-d",
        "2s",
        "--warmup",
        "0",
        "--out",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("Rate: 100 -> 2000 RPS over 1s, then 2000 RPS"),
        "{summary}"
    );
    assert!(!summary.contains("Target RPS"), "{summary}");
    let progress: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('[') && !l.starts_with("[warmup]"))
        .map(String::from)
        .collect();
    // The first second ramps from 100 to 2000 (1,050 scheduled), the second holds 2000.
    assert!(progress[0].contains("of 1050 RPS"), "{progress:?}");
    assert!(progress[1].contains("of 2000 RPS"), "{progress:?}");
}

/// A name long enough to wrap any progress line that printed it whole.
const LONG_NAME: &str = "a scenario whose name is long enough to push any progress line past 80";

/// The lines of `text` as a terminal shows them: ANSI escapes removed, split at carriage
/// returns (each a redraw) and newlines.
fn screen_lines(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // A CSI sequence ends at its first letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\r', '\n'])
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Issue 16: without a terminal, one line per interval and one for the warmup, each within
/// 80 columns and naming the scenario once.
#[test]
fn progress_lines_fit_80_columns_and_say_warming_up() {
    let out = openpace(&[
        "--target", "noop", "-R", "200", "-d", "2s", "--warmup", "1s", "--out", "none", "--name",
        LONG_NAME,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let progress: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('['))
        .map(String::from)
        .collect();
    assert!(progress[0].starts_with("[warmup] ") && progress[0].contains("warming up for 1.0s"));
    assert_eq!(progress.len(), 3, "{progress:?}");
    for line in &progress {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
        assert_eq!(line.matches("a scenario").count(), 1, "{line}");
    }
    assert!(progress[1].starts_with("[1.0/2.0s] a scenario") && progress[1].contains("of 200 RPS"));
}

/// Issue 29 point 7: a line drops the maximum, then the median, then the p99 and shortens
/// the name to fit `$COLUMNS` (or the terminal), never the counts; at 80 columns the p99
/// stays; the drain after the window counts the calls that ended in it instead of a rate of
/// "0.0 RPS".
#[test]
fn progress_fits_the_width_dropping_latencies_before_counts() {
    for (columns, kept) in [(50, ""), (64, "p99 "), (80, "p99 "), (140, "max ")] {
        let out = openpace_with(
            &[("COLUMNS", &columns.to_string())],
            &["--target", "noop", "-R", "200", "-d", "2s", "--out", "none"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let lines: Vec<String> = stderr(&out)
            .lines()
            .filter(|l| l.starts_with("[1.0/2.0s]") || l.starts_with("[2.0/2.0s]"))
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), 2, "{}", stderr(&out));
        for line in &lines {
            assert!(line.chars().count() <= columns, "{columns}: {line}");
            assert!(line.contains("of 200 RPS, 0 errors"), "{columns}: {line}");
            assert!(line.contains(kept), "{columns}: {line}");
        }
    }
    let out = openpace(&[
        "--target",
        "sleep:1500ms",
        "-R",
        "2",
        "-d",
        "1s",
        "--out",
        "none",
    ]);
    // The default thresholds fail (exit 1); the progress is what is checked.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(!text.contains("of 0.0 RPS"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("[1.0s + drain]") && l.contains("1 ended after the window")),
        "{text}"
    );
}

/// Issue 16: on a terminal (a pseudo-terminal of 80 columns, made by util-linux's `script`),
/// the bar names the scenario once, fits the width, says "warming up" during the warmup,
/// moves a few times a second between the 1-second intervals and never counts past the
/// schedule.
#[test]
fn the_progress_bar_fits_80_columns_and_moves_between_intervals() {
    let command = format!(
        "stty cols 80; {} --target noop -R 200 -d 2s --warmup 1s --out none --name '{LONG_NAME}'",
        env!("CARGO_BIN_EXE_openpace")
    );
    let Ok(out) = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
    else {
        eprintln!("skipped: util-linux's `script` is not installed");
        return;
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let screen = screen_lines(&String::from_utf8_lossy(&out.stdout));
    let bar: Vec<&String> = screen
        .iter()
        .filter(|l| l.starts_with("a scenario"))
        .collect();
    assert!(bar.iter().any(|l| l.contains("warming up")), "{bar:#?}");
    let mut clocks = Vec::new();
    for line in &bar {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
        assert_eq!(line.matches("a scenario").count(), 1, "{line}");
        if let Some(at) = line
            .split_whitespace()
            .find_map(|w| w.strip_suffix("/2.0s"))
        {
            let at: f64 = at.parse().unwrap();
            assert!((0.0..=2.0).contains(&at), "{line}");
            if !clocks.contains(&at) {
                clocks.push(at);
            }
        }
    }
    // Two intervals closed; a bar that only moved with them would show two clocks.
    assert!(clocks.len() >= 4, "{clocks:?}");
    // The width drops latencies, never the error count before them ...
    let figures: Vec<&&String> = bar.iter().filter(|l| l.contains(" RPS")).collect();
    assert!(
        !figures.is_empty() && figures.iter().all(|l| l.contains(" errors")),
        "{figures:#?}"
    );
    // ... and at 80 columns the p99 stays (issue 29 point 7).
    assert!(figures.iter().all(|l| l.contains(" p99 ")), "{figures:#?}");
}

/// Issue 29 point 9: a rate and limits nobody set are said to be defaults; set ones are not.
#[test]
fn defaults_nobody_set_are_labelled_as_defaults() {
    let out = openpace(&["--target", "noop", "-d", "1s", "--out", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("Target RPS: 10 (the default; -R/--rate sets it)"),
        "{summary}"
    );
    // Issue 29 point 4: each latency in the unit that reads best, three significant digits.
    // (10 samples bound no percentile: the average is printed whatever the count.)
    let p50 = summary
        .lines()
        .find(|l| l.starts_with("  Average: "))
        .unwrap();
    let figure = p50["  Average: ".len()..].split(' ').next().unwrap();
    let digits = figure.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &figure[digits.len()..];
    assert!(["ns", "us", "ms", "s"].contains(&unit), "{p50}");
    assert_eq!(
        digits.chars().filter(char::is_ascii_digit).count(),
        3,
        "{p50}"
    );
    assert!(
        !summary.contains("(ms)") && !summary.contains("(us)"),
        "{summary}"
    );
    let marked = summary
        .lines()
        .filter(|l| l.ends_with(" (default)"))
        .count();
    assert_eq!(marked, 4, "{summary}");
    assert!(
        summary.contains("  (default): the design's limit"),
        "{summary}"
    );
    let out = openpace(&[
        "--target",
        "noop",
        "-d",
        "1s",
        "-R",
        "50",
        "--set",
        "latency_p99_threshold_ms=50",
        "--out",
        "none",
    ]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("Target RPS: 50\n"), "{summary}");
    let p99 = summary
        .lines()
        .find(|l| l.contains("response_time p99 "))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(p99.ends_with("< 50 ms"), "{p99}");
    assert_eq!(
        summary
            .lines()
            .filter(|l| l.ends_with(" (default)"))
            .count(),
        3,
        "{summary}"
    );
}

/// `openpace host` on this machine: every check is listed with its outcome, exit 0 whatever
/// it finds; the JSON carries each with the files it read; a run's report carries the line.
#[test]
fn the_host_check_lists_every_check_in_text_and_json() {
    let names = [
        "governor",
        "turbo",
        "smt",
        "isolation",
        "irq",
        "thp",
        "timer_slack",
        "cstates",
        "clocksource",
        "virtualization",
    ];
    let out = common::openpace(&["host"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HOST CHECK ("), "{text}");
    for name in names {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("\nhost check: "), "{text}");

    let out = common::openpace(&["host", "--json", "--timer-core", "0", "--worker-cores", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["cores"]["timer"], 0);
    let checks = doc["checks"].as_array().unwrap();
    let listed: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(listed, names);
    for c in checks {
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warn", "unknown"].contains(&status), "{c}");
        assert!(!c["files"].as_array().unwrap().is_empty(), "{c}");
        assert!(c["found"].is_string() && c["advice"].is_string(), "{c}");
        if status == "warn" {
            assert!(!c["advice"].as_str().unwrap().is_empty(), "{c}");
        }
    }
    assert!(doc["summary"].as_str().unwrap().contains(" ok"));

    let out = common::openpace(&["host", "--worker-cores", "99999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("--worker-cores"),
        "{}",
        common::stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let out = common::openpace(&[
        "run",
        "--target",
        "noop",
        "--rate",
        "200",
        "-d",
        "1s",
        "--quiet",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(
        r["host"]["check"].as_str().unwrap().contains(" ok"),
        "{}",
        r["host"]
    );
}

/// Issue 31, part 4: `--realtime` puts the timing loop under SCHED_FIFO and `--mlock` locks
/// the process in RAM, both said in the report; where the process may not (here: as `nobody`,
/// through util-linux's setpriv, with neither CAP_SYS_NICE nor `ulimit -r`), each is refused
/// with exit 2, naming its flag and what would permit it.
#[test]
fn realtime_and_mlock_are_taken_where_permitted_and_refused_with_the_reason_where_not() {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let dir = tempfile::tempdir().unwrap();
    if root {
        let report = dir.path().join("r.json");
        let out = openpace(&[
            "run",
            "--target",
            "noop",
            "--rate",
            "500",
            "-d",
            "1s",
            "--realtime",
            "--mlock",
            "--out",
            report.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(
                "Privileges: timing loop under SCHED_FIFO (--realtime); memory locked (--mlock)"
            ),
            "{text}"
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["framework_cpu"]["timer_realtime"], true);
        assert_eq!(r["framework_cpu"]["memory_locked"], true);
    }
    // A copy of the binary that `nobody` may run.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("openpace");
    std::fs::copy(env!("CARGO_BIN_EXE_openpace"), &binary).unwrap();
    let unprivileged = |flag: &str| -> Output {
        let mut command = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&binary);
            c
        } else {
            std::process::Command::new(&binary)
        };
        command
            .args([
                "run", "--target", "noop", "--rate", "100", "-d", "1s", "--out", "none", flag,
            ])
            .current_dir(dir.path())
            .output()
            .expect("setpriv (util-linux) runs")
    };
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let rtprio = limits
        .lines()
        .find(|l| l.starts_with("Max realtime priority"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse::<u32>().ok())
        .unwrap_or(0);
    if root || rtprio == 0 {
        let out = unprivileged("--realtime");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("flag --realtime:"), "{err}");
        assert!(err.contains("CAP_SYS_NICE"), "{err}");
    }
    if root {
        let out = unprivileged("--mlock");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("flag --mlock:") && err.contains("CAP_IPC_LOCK"),
            "{err}"
        );
    }
}
