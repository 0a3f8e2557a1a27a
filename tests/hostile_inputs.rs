//! Issue 25, what a user (or a file) hands openpace: nothing written by hand reaches a wire
//! unframed, no input file decides memory or blocks forever, no output replaces an input, and
//! saved reports are checked before they are compared or merged.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_rejected, openpace, stderr};

/// A saved report of a short real run (shared by the tests that read one).
fn saved_report(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = openpace(&[
        "run",
        "--target",
        "noop",
        "-R",
        "200",
        "-d",
        "0.5s",
        "--quiet",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    path
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn memcached_commands_are_checked_before_anything_is_sent() {
    let Some(memcached) = common::Daemon::memcached() else {
        return;
    };
    let url = format!("memcached://127.0.0.1:{}", memcached.port);
    let stored = memcached.ask("set canary 0 0 5\r\nalive\r\n", |l| l == "STORED");
    assert_eq!(stored, ["STORED"]);
    // (command, what the message must show)
    let cases = [
        ("get \"a\r\nflush_all\"", "'\\r' (0x0d)"),
        ("get \"a\nflush_all\"", "'\\n' (0x0a)"),
        ("get \"a\r\n\"", "0x0d"),
        ("delete \"k\r\nflush_all\"", "0x0d"),
        ("get \"a b\"", "' ' (0x20)"),
        ("get \"a\tb\"", "0x09"),
        ("get \"k\u{1b}[2J\"", "0x1b"),
        ("get \"k\u{7f}\"", "0x7f"),
        ("touch \"k\r\nflush_all\" 10", "0x0d"),
        ("incr k \"1\r\nflush_all\"", "digits"),
        ("gat \"0\r\nflush_all\" k", "digits"),
        ("cas k v \"1\r\nflush_all\"", "digits"),
        ("quit", "not a command openpace sends"),
        ("shutdown", "not a command openpace sends"),
        ("lru_crawler metadump all", "not a command openpace sends"),
        ("mg k v", "not a command openpace sends"),
        ("set k v noreply", "noreply"),
        ("delete k noreply", "noreply"),
        ("get", "get is written"),
        ("set k", "set is written"),
        ("stats detail dump", "stats is written"),
        ("stats cachedump 1 1", "stats is written"),
        ("verbosity 1 noreply", "verbosity is written"),
    ];
    let mut refused = 0;
    for (command, shown) in cases {
        let out = openpace(&[
            "run",
            "--target",
            &url,
            "--command",
            command,
            "-R",
            "10",
            "-d",
            "0.2s",
            "--out",
            "none",
        ]);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {message}");
        assert!(message.contains(shown), "{command:?}: {message}");
        assert!(
            message.contains("target"),
            "{command:?} names the field: {message}"
        );
        refused += 1;
    }
    eprintln!("{refused} hostile memcached commands refused");
    // A key with every byte a template can render checked: `{{line FILE}}` with a CR LF line.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, b"good\nbad\rflush_all\n").unwrap();
    assert_rejected(
        &[
            "run",
            "--target",
            &url,
            "--command",
            &format!("get {{{{line {}}}}}", keys.display()),
            "--out",
            "none",
        ],
        &["0x0d", "key"],
    );
    // The cache survived every attempt.
    let got = memcached.ask("get canary\r\n", |l| l == "END");
    assert_eq!(
        got,
        ["VALUE canary 0 5", "alive", "END"],
        "the cache was emptied"
    );
    assert_eq!(memcached.stat("cmd_flush"), 0);
}

#[test]
fn input_files_are_read_only_from_regular_files_and_only_up_to_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let report = saved_report(d, "a.json");
    let report = report.to_str().unwrap();
    let fifo = d.join("fifo");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    // A sparse file one byte past 64 MiB: refused by its size, never read.
    let big = d.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let big = big.to_str().unwrap();
    let line = |p: &str| format!("/{{{{line {p}}}}}");
    let url = |p: &str| format!("http://127.0.0.1:9{}", line(p));
    let mut cases: Vec<(Vec<String>, &str)> = Vec::new();
    for (path, shows) in [
        ("/dev/zero", "a device"),
        ("/dev/urandom", "a device"),
        (fifo, "FIFO"),
        (big, "64 MiB"),
        ("/proc", "a directory"),
    ] {
        let run = |args: &[&str]| -> Vec<String> {
            ["run", "--out", "none"]
                .iter()
                .chain(args)
                .map(|s| s.to_string())
                .collect()
        };
        cases.push((run(&[path]), shows));
        cases.push((
            run(&["--target", "http://127.0.0.1:9/", "--requests", path]),
            shows,
        ));
        cases.push((
            run(&["--target", "http://127.0.0.1:9/", "--body-file", path]),
            shows,
        ));
        cases.push((
            run(&["--target", "https://127.0.0.1:9/", "--cacert", path]),
            shows,
        ));
        cases.push((run(&["--target", &url(path)]), shows));
        cases.push((run(&["--target", "noop", "--calibration", path]), shows));
        cases.push((vec!["validate".into(), path.into()], shows));
        cases.push((vec!["report".into(), path.into()], shows));
        cases.push((vec!["compare".into(), report.into(), path.into()], shows));
        cases.push((vec!["compare".into(), path.into(), report.into()], shows));
        let out = d.join("m.json").display().to_string();
        cases.push((
            vec!["merge".into(), path.into(), "--out".into(), out],
            shows,
        ));
    }
    let total = cases.len();
    for (args, shows) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let out = openpace(&args);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
        let shows = if args.contains(&"--body-file") && shows == "64 MiB" {
            "larger than 64 MiB"
        } else {
            shows
        };
        assert!(message.contains(shows), "{args:?}: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} took long"
        );
    }
    eprintln!("{total} hostile input files refused");
    // The limit of saved reports can be raised, and lowered.
    assert_rejected(
        &["report", report, "--max-input-bytes", "1KiB"],
        &["more than 1 KiB", "--max-input-bytes raises"],
    );
    assert_rejected(
        &["report", report, "--max-input-bytes", "0"],
        &["flag --max-input-bytes", "a size above 0"],
    );
    let out = openpace(&["report", report, "--max-input-bytes", "1GiB"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A report that is missing is a usage error like any other input.
    assert_rejected(
        &["report", &d.join("missing.json").display().to_string()],
        &["cannot read"],
    );
}

#[test]
fn an_output_never_replaces_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = saved_report(d, "a.json");
    let b = saved_report(d, "b.json");
    let config = d.join("config.json");
    std::fs::write(
        &config,
        r#"{"name": "c", "target": "noop", "target_rps": 10, "duration_seconds": 0.2}"#,
    )
    .unwrap();
    let set = d.join("set.jsonl");
    std::fs::write(&set, "{\"url\": \"/a\"}\n").unwrap();
    let body = d.join("body.bin");
    std::fs::write(&body, "hello").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let calibration = d.join("calibration.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/calibration/report.json"),
        &calibration,
    )
    .unwrap();
    let s = |p: &Path| p.display().to_string();
    let (a, b, config, set, body, link) = (s(&a), s(&b), s(&config), s(&set), s(&body), s(&link));
    let calibration = s(&calibration);
    let before: Vec<Vec<u8>> = [&a, &b, &config, &set, &body]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let cases: Vec<Vec<&str>> = vec![
        vec!["report", &a, "--out", &a],
        vec!["report", &a, "--out", &link],
        vec!["report", &link, "--out", &a],
        vec!["report", &a, "--format", "html", "--out", &a],
        vec!["compare", &a, &b, "--out", &b],
        vec!["compare", &a, &b, "--out", &a],
        vec!["merge", &a, "--out", &a],
        vec!["merge", &a, "--allow-partial", "--out", &link],
        vec!["run", &config, "--out", &config],
        vec!["run", &config, "--out", "none", "--html", &config],
        vec!["run", &config, "--out", "none", "--csv", &config],
        vec![
            "run",
            "--target",
            "http://127.0.0.1:9/",
            "--requests",
            &set,
            "--out",
            &set,
        ],
        vec![
            "run",
            "--target",
            "http://127.0.0.1:9/",
            "--body-file",
            &body,
            "--out",
            &body,
        ],
        vec![
            "run",
            "--target",
            "noop",
            "--calibration",
            &calibration,
            "--out",
            &calibration,
        ],
    ];
    for args in &cases {
        let out = openpace(args);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {message}");
        assert!(
            message.contains("an output never replaces an input"),
            "{args:?}: {message}"
        );
    }
    let after: Vec<Vec<u8>> = [&a, &b, &config, &set, &body]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "an input changed");
    eprintln!("{} outputs naming an input refused", cases.len());
}

#[test]
fn compare_and_merge_check_what_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = saved_report(d, "a.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
    // A histogram that does not hold the requests its counts say.
    let mut corrupt = v.clone();
    corrupt["scenarios"][0]["histograms"]["response_time"] = serde_json::json!("");
    let corrupt_path = d.join("corrupt.json");
    std::fs::write(&corrupt_path, corrupt.to_string()).unwrap();
    // No intervals at all.
    let mut bare = v.clone();
    bare["scenarios"][0]["intervals"] = serde_json::json!([]);
    let bare_path = d.join("bare.json");
    std::fs::write(&bare_path, bare.to_string()).unwrap();
    // Another target.
    v["scenarios"][0]["target"] = serde_json::json!("spin:1ms");
    let other = d.join("other.json");
    std::fs::write(&other, v.to_string()).unwrap();
    let s = |p: &Path| p.display().to_string();
    let (a, corrupt, bare, other) = (s(&a), s(&corrupt_path), s(&bare_path), s(&other));
    assert_rejected(&["compare", &a, &corrupt], &[&corrupt, "response_time"]);
    assert_rejected(&["compare", &corrupt, &a], &[&corrupt, "response_time"]);
    assert_rejected(&["compare", &a, &bare], &[&bare, "intervals"]);
    assert_rejected(&["merge", &bare, "--out", "none"], &[&bare, "intervals"]);
    assert_rejected(
        &["compare", &a, &other],
        &["target", "spin:1ms", "--allow-mixed"],
    );
    let out = openpace(&["compare", &a, &other, "--allow-mixed"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("differs in target"), "{text}");
    // Two shards of one campaign that measured different targets.
    let shards: Vec<String> = (0..2)
        .map(|i| {
            let path = d.join("s{shard}.json");
            let target = if i == 0 { "noop" } else { "spin:1us" };
            let out = openpace(&[
                "run",
                "--target",
                target,
                "--name",
                "both",
                "-R",
                "100",
                "-d",
                "0.3s",
                "--shard",
                &format!("{i}/2"),
                "--quiet",
                "--out",
                path.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            d.join(format!("s{i}.json")).display().to_string()
        })
        .collect();
    let merged = d.join("merged.json").display().to_string();
    assert_rejected(
        &["merge", &shards[0], &shards[1], "--out", &merged],
        &["target", "--allow-mixed"],
    );
    let out = openpace(&[
        "merge",
        &shards[0],
        &shards[1],
        "--allow-mixed",
        "--out",
        &merged,
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warnings = common::read_json(Path::new(&merged))["warnings"].to_string();
    assert!(warnings.contains("different targets"), "{warnings}");
}

#[test]
fn smaller_inputs_that_were_taken_as_they_came() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An unterminated expression in a URL was sent literally.
    assert_rejected(
        &[
            "run",
            "--target",
            "http://127.0.0.1:9/x/{{seq",
            "--out",
            "none",
        ],
        &["{{seq", "without closing"],
    );
    // An instant 10^30 seconds away would be waited for.
    assert_rejected(
        &[
            "run",
            "--target",
            "noop",
            "--start-at",
            "1e30",
            "--out",
            "none",
        ],
        &["flag --start-at", "at most 30 days ahead"],
    );
    // `~2` in a JSON pointer points nowhere.
    assert_rejected(
        &[
            "run",
            "--target",
            "http://127.0.0.1:9/",
            "--expect-json",
            "/a~2b=1",
            "--out",
            "none",
        ],
        &["~0", "~1"],
    );
    // A request-set line that names a key twice: the first was dropped without a word.
    let set = d.join("set.jsonl");
    std::fs::write(&set, "{\"url\": \"/a\", \"url\": \"/b\"}\n").unwrap();
    assert_rejected(
        &[
            "run",
            "--target",
            "http://127.0.0.1:9/",
            "--requests",
            set.to_str().unwrap(),
            "--out",
            "none",
        ],
        &["line 1", "`url` appears twice"],
    );
    // Weights near 2^63 panicked the random order.
    std::fs::write(
        &set,
        "{\"url\": \"/a\", \"weight\": 9223372036854775807}\n{\"url\": \"/b\", \"weight\": 9223372036854775807}\n",
    )
    .unwrap();
    assert_rejected(
        &[
            "run",
            "--target",
            "http://127.0.0.1:9/",
            "--requests",
            set.to_str().unwrap(),
            "--requests-order",
            "random",
            "--out",
            "none",
        ],
        &["`weight` must be a whole number from 1 to 4294967296"],
    );
    // Names with an escape sequence or a line end went raw to terminals.
    assert_rejected(
        &[
            "run",
            "--target",
            "noop",
            "--name",
            "evil\u{1b}[2Jname",
            "--out",
            "none",
        ],
        &["name", "\\u{1b}", "without control characters"],
    );
    // ... and a saved report that holds one is shown escaped.
    let report = saved_report(d, "r.json");
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    v["scenarios"][0]["name"] = serde_json::json!("evil\u{1b}[2J\nname");
    std::fs::write(&report, v.to_string()).unwrap();
    let out = openpace(&["report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("Test Name: evil\\u{1b}[2J\\nname"), "{text}");
}

#[test]
fn a_notify_command_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let command = format!("sleep 300 & echo $! > {} ; disown", pid_file.display());
    let out = openpace(&[
        "run",
        "--target",
        "noop",
        "-R",
        "10",
        "-d",
        "0.3s",
        "--notify-cmd",
        &command,
        "--quiet",
        "--out",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The background `sleep` was killed with the command's group by the end of the run.
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "));
    assert!(
        !alive,
        "the notify command's background process {pid} outlived the run"
    );
}
