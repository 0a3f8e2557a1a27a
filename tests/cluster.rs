//! Shards, synchronized start and merge: a run split into shards and merged again is the run
//! one generator would have made, and what cannot be merged is refused.

mod common;

use common::{openpace, stderr};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hdrhistogram::Histogram;
use openpace::RunResult;
use openpace::cluster::{MergeOptions, merge, merge_with};
use openpace::metrics::atomic_hist::new_histogram;
use openpace::metrics::encoding::{decode, encode};
use serde_json::{Value, json};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("openpace-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn load(path: &Path) -> RunResult {
    openpace::report::load_result(path, openpace::base::input::MAX_INPUT_BYTES)
        .expect("a JSON report")
}

fn unix_now() -> f64 {
    openpace::cluster::unix_now()
}

// ---------------------------------------------------------------------------------------
// Merging is exact: one run's histograms and counts split in two and merged are the run.

/// Splits every whole-number field of `object` between `a` and `b`.
fn split_counts(value: &Value, a: &mut Value, b: &mut Value) {
    let Value::Object(fields) = value else { return };
    for (key, field) in fields {
        if let Some(n) = field.as_u64() {
            a[key] = json!(n / 2);
            b[key] = json!(n - n / 2);
        }
    }
}

/// Adds the histograms of `row` into `into` (four, keyed by name).
fn add_histograms(into: &mut BTreeMap<String, Histogram<u64>>, row: &Value) {
    for (key, text) in row.as_object().unwrap() {
        let text = text.as_str().unwrap();
        let total = into.entry(key.clone()).or_insert_with(new_histogram);
        if !text.is_empty() {
            total.add(decode(text).unwrap()).unwrap();
        }
    }
}

/// The run as two shards' reports that each hold together, as a real shard's do (`openpace
/// merge` checks): shard a has the even intervals, shard b the odd ones (the other's copy of
/// a row is empty), each shard's totals are the sums of its rows, and the counts no row holds
/// are divided between them. The run must have no errors (their kinds would need dividing).
fn split_run(result: &RunResult) -> (RunResult, RunResult) {
    let whole = serde_json::to_value(result).unwrap();
    let (mut a, mut b) = (whole.clone(), whole.clone());
    for (half, index) in [(&mut a, 0), (&mut b, 1)] {
        half["shard"] = json!({
            "index": index, "count": 2, "launcher": "flag", "host": "test",
            "start_at_unix_s": null, "start_offset_ms": 0.0
        });
    }
    for (j, s) in whole["scenarios"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            s["requests"]["errors"], 0,
            "split_run divides runs without errors"
        );
        let mut halves = [a["scenarios"][j].take(), b["scenarios"][j].take()];
        for key in ["network", "overhead"] {
            let [ha, hb] = &mut halves;
            split_counts(&s[key], &mut ha[key], &mut hb[key]);
        }
        for (h, half) in halves.iter_mut().enumerate() {
            let mut totals = BTreeMap::new();
            let mut counts = BTreeMap::<&str, u64>::new();
            for (i, row) in s["intervals"].as_array().unwrap().iter().enumerate() {
                let mine = i % 2 == h;
                let r = &mut half["intervals"][i];
                r["scheduled"] = json!(row["scheduled"].as_f64().unwrap() / 2.0);
                for key in [
                    "sent",
                    "completed",
                    "ok",
                    "errors",
                    "timeouts",
                    "dropped",
                    "late",
                ] {
                    let n = if mine { row[key].as_u64().unwrap() } else { 0 };
                    r[key] = json!(n);
                    *counts.entry(key).or_default() += n;
                }
                if mine {
                    add_histograms(&mut totals, &row["histograms"]);
                } else {
                    for key in [
                        "response_time",
                        "service_time",
                        "dispatch_delay",
                        "timer_lateness",
                    ] {
                        r["histograms"][key] = json!("");
                    }
                }
            }
            for (key, h) in totals {
                half["histograms"][key] = json!(encode(&h));
            }
            let requests = &mut half["requests"];
            for key in [
                "retries",
                "backlogged",
                "abandoned",
                "expired",
                "warmup",
                "cache_hits",
                "fallbacks",
            ] {
                let n = s["requests"][key].as_u64().unwrap();
                requests[key] = json!(if h == 0 { n / 2 } else { n - n / 2 });
            }
            for (key, n) in &counts {
                requests[*key] = json!(n);
            }
            // A request sent in one row may end in the next: the shard sent what it completed.
            requests["sent"] = json!(counts["completed"]);
            requests["intended"] = json!(counts["ok"] + counts["timeouts"] + counts["dropped"]);
        }
        let [ha, hb] = halves;
        a["scenarios"][j] = ha;
        b["scenarios"][j] = hb;
    }
    (
        serde_json::from_value(a).unwrap(),
        serde_json::from_value(b).unwrap(),
    )
}

/// Every percentile from 0 to 100 in steps of 0.1, the count, min and max.
fn assert_same_histogram(merged: &str, original: &str, what: &str) {
    if original.is_empty() {
        return;
    }
    let (m, o) = (decode(merged).unwrap(), decode(original).unwrap());
    assert_eq!(m.len(), o.len(), "{what}: count");
    assert_eq!((m.min(), m.max()), (o.min(), o.max()), "{what}: min, max");
    for q in 0..=1000 {
        let q = f64::from(q) / 1000.0;
        assert_eq!(
            m.value_at_quantile(q),
            o.value_at_quantile(q),
            "{what}: percentile {}",
            q * 100.0
        );
    }
}

#[test]
fn one_run_split_in_two_merges_back_exactly() {
    let config = openpace::LoadTestConfig {
        target: openpace::target::TargetSpec::Sleep(std::time::Duration::from_millis(1)),
        metrics_collection_interval: 0.5,
        ..common::config("split", 400.0, 2.0)
    };
    let (result, original) = common::run(config);
    assert!(original.requests.completed > 700, "{:?}", original.requests);
    let (a, b) = split_run(&result);
    // Order does not matter: the merge sorts by shard.
    let inputs = [("b.json".into(), b), ("a.json".into(), a)];
    let merged =
        merge(&inputs, &MergeOptions::default()).expect("two halves of one campaign merge");
    // What `openpace merge` drops from each report as it loads it changes nothing merged.
    let mut light = inputs.clone();
    for (_, report) in &mut light {
        openpace::cluster::lighten(report);
    }
    assert!(
        light[0].1.resources.monitor.samples.is_empty()
            && light[0].1.scenarios[0].validity.is_none()
    );
    assert_eq!(
        as_json(&merge(&light, &MergeOptions::default()).unwrap()),
        as_json(&merged)
    );
    let m = &merged.scenarios[0];
    let (mj, oj) = (as_json(m), as_json(&original));
    for block in [
        "requests",
        "errors_by_kind",
        "response_time_ms",
        "service_time_ms",
        "dispatch_delay_us",
        "timer_lateness_us",
    ] {
        assert_eq!(mj[block], oj[block], "{block}");
    }
    for (name, histogram) in oj["histograms"].as_object().unwrap() {
        let merged = mj["histograms"][name].as_str().unwrap();
        assert_same_histogram(merged, histogram.as_str().unwrap(), name);
    }
    assert!((m.achieved_rps - original.achieved_rps).abs() < 1e-9);
    assert!((m.overhead_pct - original.overhead_pct).abs() < 1e-9);
    assert_eq!(m.intervals.len(), original.intervals.len());
    for (mi, oi) in m.intervals.iter().zip(&original.intervals) {
        assert_eq!(
            (mi.completed, mi.ok, mi.sent),
            (oi.completed, oi.ok, oi.sent)
        );
        assert!(
            (mi.start_s - oi.start_s).abs() < 1e-6,
            "{} {}",
            mi.start_s,
            oi.start_s
        );
        assert_eq!(as_json(&mi.response_time_ms), as_json(&oi.response_time_ms));
        assert_same_histogram(
            &mi.histograms.response_time,
            &oi.histograms.response_time,
            "interval response",
        );
    }
    // Thresholds are checked again on the merged figures and agree with the original.
    let verdicts = |s: &openpace::ScenarioResult| -> Vec<(String, bool)> {
        s.verdict
            .thresholds
            .iter()
            .map(|t| (t.text.clone(), t.passed))
            .collect()
    };
    assert_eq!(verdicts(m), verdicts(&original));
    let info = merged.merged.as_ref().unwrap();
    assert_eq!(
        (info.shard_count, info.shards.len(), info.partial),
        (2, 2, false)
    );
    assert_eq!(info.shards[0].report, "a.json");
    // Every report format renders from a merged result.
    for (name, format) in openpace::ReportFormat::ALL {
        let files = openpace::report::render_files(&merged, format).expect(name);
        assert!(files.iter().all(|(_, text)| !text.is_empty()), "{name}");
    }
}

/// A 1-s run of 1-ms sleeps at 200 RPS, split into the reports of two shards.
fn two_halves(name: &str) -> (RunResult, RunResult) {
    let config = openpace::LoadTestConfig {
        target: openpace::target::TargetSpec::Sleep(std::time::Duration::from_millis(1)),
        metrics_collection_interval: 0.5,
        ..common::config(name, 200.0, 1.0)
    };
    split_run(&common::run(config).0)
}

/// Issue 28: `openpace merge` reads each report when it needs it: twice (checked in the
/// order given, then added in shard order), one at a time, never all at once; the result is
/// the one an in-memory merge gives, whatever order the files come in; a report that changes
/// between the two readings is refused.
#[test]
fn a_streamed_merge_reads_each_report_twice_one_at_a_time_and_matches() {
    let (a, b) = two_halves("stream");
    let inputs = [("b.json".to_string(), b), ("a.json".to_string(), a)];
    let whole = merge(&inputs, &MergeOptions::default()).unwrap();
    let names: Vec<String> = inputs.iter().map(|(n, _)| n.clone()).collect();
    let mut reads = Vec::new();
    let streamed = merge_with(&names, &MergeOptions::default(), |i| {
        reads.push(i);
        Ok(inputs[i].1.clone())
    })
    .unwrap();
    assert_eq!(as_json(&streamed), as_json(&whole));
    // First pass in the order given, second in shard order (a.json is shard 0).
    assert_eq!(reads, [0, 1, 1, 0]);
    let reversed = [inputs[1].clone(), inputs[0].clone()];
    assert_eq!(
        as_json(&merge(&reversed, &MergeOptions::default()).unwrap()),
        as_json(&whole)
    );
    // A report rewritten by another run between the two readings.
    let mut read = 0;
    let e = merge_with(&names, &MergeOptions::default(), |i| {
        read += 1;
        let mut report = inputs[i].1.clone();
        if read > 2 {
            report.origin_unix_s += 1.0;
        }
        Ok(report)
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("changed while the merge read it"), "{e}");
}

/// Issue 11, part 5: 15 of 149 mutated shard reports were merged with exit 0 (an empty
/// histogram string dropped a shard's latencies, counts of 2^64 - 1 wrapped, ok > intended
/// gave a success rate of 2.0). Each report is now checked before it is added.
#[test]
fn merge_verifies_each_report_before_it_adds_it() {
    let (a, b) = two_halves("verify");
    let broken = |change: &dyn Fn(&mut Value)| -> RunResult {
        let mut v = serde_json::to_value(&b).unwrap();
        change(&mut v);
        serde_json::from_value(v).unwrap()
    };
    let merge_with = |b: RunResult, allow_partial: bool| {
        merge(
            &[("a.json".into(), a.clone()), ("b.json".into(), b)],
            &MergeOptions {
                allow_partial,
                ..MergeOptions::default()
            },
        )
    };
    let cases: Vec<(&str, RunResult)> = vec![
        (
            "scenarios[0].histograms.response_time",
            broken(&|v| v["scenarios"][0]["histograms"]["response_time"] = json!("")),
        ),
        (
            "scenarios[0].histograms.service_time",
            broken(&|v| {
                let h = v["scenarios"][0]["histograms"]["service_time"]
                    .as_str()
                    .unwrap();
                let cut = h[..h.len() / 2].to_string();
                v["scenarios"][0]["histograms"]["service_time"] = json!(cut);
            }),
        ),
        (
            "scenarios[0].requests",
            broken(&|v| v["scenarios"][0]["requests"]["ok"] = json!(u64::MAX)),
        ),
        (
            "scenarios[0].requests.intended",
            broken(&|v| {
                let ok = v["scenarios"][0]["requests"]["ok"].as_u64().unwrap();
                v["scenarios"][0]["requests"]["ok"] = json!(ok * 2);
            }),
        ),
        (
            "scenarios[0].errors_by_kind",
            broken(&|v| v["scenarios"][0]["errors_by_kind"]["reset"] = json!(3)),
        ),
        (
            "schema_version",
            broken(&|v| v["schema_version"] = json!(99)),
        ),
    ];
    for (field, report) in cases {
        let err = merge_with(report.clone(), false).unwrap_err().to_string();
        assert!(
            err.contains("b.json") && err.contains(field),
            "{field}: {err}"
        );
        // With --allow-partial the report is left out and the result says so.
        let merged = merge_with(report, true).unwrap();
        let info = merged.merged.as_ref().unwrap();
        assert!(info.partial && info.left_out.len() == 1, "{info:?}");
        assert!(info.left_out[0].starts_with("b.json"), "{info:?}");
        let s = &merged.scenarios[0];
        assert_eq!(s.requests, a.scenarios[0].requests, "{field}");
        assert!(
            s.verdict.notes.iter().any(|n| n.contains("left out")),
            "{field}"
        );
    }
}

/// Mutated reports either merge into a result that holds together or are refused; never
/// anything in between.
#[test]
fn a_mutated_report_merges_consistently_or_not_at_all() {
    let config = openpace::LoadTestConfig {
        target: openpace::target::TargetSpec::Noop,
        metrics_collection_interval: 0.5,
        ..common::config("mutations", 200.0, 1.0)
    };
    let (result, _) = common::run(config);
    let (a, b) = split_run(&result);
    let whole = serde_json::to_value(&b).unwrap();
    let mut paths = Vec::new();
    collect_numbers(&whole, String::new(), &mut paths);
    assert!(paths.len() > 50, "{}", paths.len());
    let mut merged_ok = 0;
    for (i, path) in paths.iter().enumerate() {
        for value in [json!(0), json!(1), json!(u64::MAX), json!(i as u64 * 7919)] {
            let mut v = whole.clone();
            *v.pointer_mut(path).unwrap() = value.clone();
            let Ok(report) = serde_json::from_value::<RunResult>(v) else {
                continue;
            };
            let inputs = [("a.json".into(), a.clone()), ("b.json".into(), report)];
            if let Ok(merged) = merge(&inputs, &MergeOptions::default()) {
                merged_ok += 1;
                let r = &merged.scenarios[0].requests;
                assert_eq!(
                    r.intended,
                    r.ok + r.errors + r.timeouts + r.dropped,
                    "{path}"
                );
                let h = decode(&merged.scenarios[0].histograms.response_time).unwrap();
                assert_eq!(h.len(), r.completed, "{path} = {value}");
                assert!(merged.scenarios[0].success_rate <= 1.0, "{path} = {value}");
            }
        }
    }
    assert!(
        merged_ok > 0,
        "harmless mutations (rates, times) still merge"
    );
}

/// JSON pointers to every number in `v` that a report's reader takes as an integer.
fn collect_numbers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Number(n) if n.is_u64() => out.push(at),
        Value::Object(o) => {
            for (k, x) in o {
                collect_numbers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_numbers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Any block of the report as JSON, to compare whole blocks at once.
fn as_json<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap()
}

#[test]
fn a_threshold_is_evaluated_on_the_merged_data_not_on_each_shard() {
    // Each shard sends 150 RPS; the campaign's 300 RPS meets "achieved_rate >= 250", which no
    // shard meets alone.
    let _turn = common::serial();
    let dir = temp_dir("threshold");
    let start = format!("{:.3}", unix_now() + 2.0);
    let flags = [
        "--rate",
        "300",
        "--duration",
        "1",
        "--threshold",
        "achieved_rate >= 250",
    ];
    for out in run_shards(&dir, "t", &[start.clone(), start], &flags) {
        assert_eq!(
            out.status.code(),
            Some(1),
            "a shard alone fails: {}",
            stderr(&out)
        );
    }
    let (out, merged) = merge_shards(&dir, "t", 2);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = load(&merged);
    assert_eq!(m.scenarios[0].requests.intended, 300);
    let throughput = m.scenarios[0]
        .verdict
        .thresholds
        .iter()
        .find(|t| t.text.contains("achieved_rate"))
        .expect("the threshold is kept");
    assert!(throughput.passed, "{throughput:?}");
}

/// Runs shard i of `starts.len()` with `--start-at starts[i]` at once, each a noop target
/// with one worker and no warmup plus `flags`, writing `dir/NAME-{shard}.json`.
fn run_shards(dir: &Path, name: &str, starts: &[String], flags: &[&str]) -> Vec<Output> {
    let n = starts.len();
    let children: Vec<_> = starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            Command::new(env!("CARGO_BIN_EXE_openpace"))
                .args(["run", "--target", "noop", "--workers", "1", "--warmup", "0"])
                .args([
                    "--quiet",
                    "--shard",
                    &format!("{i}/{n}"),
                    "--start-at",
                    start,
                ])
                .args(flags)
                .arg("--out")
                .arg(dir.join(format!("{name}-{{shard}}.json")))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the binary starts")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// `openpace merge` of `dir/NAME-0.json` ... into `dir/NAME-merged.json`.
fn merge_shards(dir: &Path, name: &str, n: usize) -> (Output, PathBuf) {
    let merged = dir.join(format!("{name}-merged.json"));
    let mut args = vec!["merge".to_string()];
    args.extend((0..n).map(|i| dir.join(format!("{name}-{i}.json")).display().to_string()));
    args.extend(["--out".to_string(), merged.display().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(&args)
        .output()
        .expect("the binary runs");
    (out, merged)
}

// ---------------------------------------------------------------------------------------
// What cannot be merged is refused, with exit code 2 and a message naming why.

/// A short run to merge, at 100 RPS for `seconds` with `extra` flags.
fn shard_report(dir: &Path, label: &str, seconds: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(format!("{label}.json"));
    let mut args = vec![
        "run",
        "--target",
        "noop",
        "--rate",
        "100",
        "--duration",
        seconds,
        "--warmup",
        "0",
        "--workers",
        "1",
        "--quiet",
        "--out",
    ];
    let p = path.to_string_lossy().into_owned();
    args.push(&p);
    args.extend_from_slice(extra);
    let out = openpace(&args);
    assert_eq!(out.status.code(), Some(0), "{label}: {}", stderr(&out));
    // A sharded run's path without {shard} gets .shard-I, so shards never share a file.
    let sharded = dir.join(format!("{label}.shard-{}.json", shard_index(extra)));
    if sharded.exists() { sharded } else { path }
}

/// I of `--shard I/N` among `flags`.
fn shard_index<'a>(flags: &[&'a str]) -> &'a str {
    flags
        .iter()
        .position(|f| *f == "--shard")
        .and_then(|i| flags[i + 1].split('/').next())
        .unwrap_or("")
}

#[test]
fn reports_that_do_not_belong_together_are_refused() {
    let _turn = common::serial();
    let dir = temp_dir("refuse");
    let s0 = shard_report(&dir, "s0", "0.3", &["--shard", "0/2"]);
    let s1 = shard_report(&dir, "s1", "0.3", &["--shard", "1/2"]);
    let other_rate = shard_report(&dir, "rate", "0.4", &["--shard", "1/2"]);
    let other_name = shard_report(&dir, "name", "0.3", &["--shard", "1/2", "--name", "other"]);
    let of_three = shard_report(&dir, "three", "0.3", &["--shard", "1/3"]);
    let unsharded = shard_report(&dir, "plain", "0.3", &[]);
    let merged = dir.join("m.json");
    let m = merged.to_str().unwrap();
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let cases: [(&[String], &str); 6] = [
        (&[s(&s0), s(&other_rate)], "schedule"),
        (&[s(&s0), s(&other_name)], "scenario"),
        (&[s(&s0), s(&of_three)], "same campaign"),
        (&[s(&s0), s(&s0)], "shard 0 too"),
        (&[s(&s0)], "missing: 1"),
        (
            &[s(&unsharded), s(&unsharded)],
            "neither report was sharded",
        ),
    ];
    for (reports, needle) in cases {
        let mut args = vec!["merge"];
        args.extend(reports.iter().map(String::as_str));
        args.extend(["--out", m]);
        let out = openpace(&args);
        assert_eq!(out.status.code(), Some(2), "{reports:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
        assert!(
            !merged.exists(),
            "nothing is written when the merge is refused"
        );
    }
    // A missing shard is merged with --allow-partial, and the result says so.
    let out = openpace(&["merge", &s(&s0), "--out", m, "--allow-partial"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let partial = load(&merged);
    let info = partial.merged.unwrap();
    assert!(info.partial);
    assert_eq!(info.missing, vec![1]);
    assert!(partial.scenarios[0].verdict.notes[0].starts_with("PARTIAL"));
    // The complete campaign merges: 30 of 30 requests.
    let out = openpace(&["merge", &s(&s1), &s(&s0), "--out", m, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(load(&merged).scenarios[0].requests.intended, 30);
}

#[test]
fn inconsistent_shard_flags_are_config_errors() {
    let cases: [(&[&str], &str); 7] = [
        (&["--shard", "2/2"], "--shard"),
        (&["--shard", "0/0"], "--shard"),
        (&["--shard", "auto"], "auto only under a launcher"),
        (&["--shards", "0"], "--shards"),
        (&["--start-at", "soon"], "--start-at"),
        (&["--start-tolerance", "a while"], "--start-tolerance"),
        (&["--shard", "0/2", "--arrival", "poisson"], "seed"),
    ];
    for (flags, needle) in cases {
        let out = short_run(flags, None);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{flags:?}: {}", stderr(&out));
    }
    // A launcher's variable that is not a number names the variable.
    let out = short_run(&[], Some(("SLURM_PROCID", "first")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SLURM_PROCID"), "{}", stderr(&out));
}

/// A 0.2 s noop run writing nothing, with `flags`, outside any launcher but for `var` (with
/// `SLURM_NTASKS=2`).
fn short_run(flags: &[&str], var: Option<(&str, &str)>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openpace"));
    command
        .args([
            "run",
            "--target",
            "noop",
            "--duration",
            "0.2",
            "--out",
            "none",
        ])
        .args(flags);
    for name in [
        "SLURM_PROCID",
        "OMPI_COMM_WORLD_RANK",
        "PMI_RANK",
        "JOB_COMPLETION_INDEX",
    ] {
        command.env_remove(name);
    }
    if let Some((name, value)) = var {
        command.env(name, value).env("SLURM_NTASKS", "2");
    }
    command.output().expect("the binary runs")
}

// ---------------------------------------------------------------------------------------
// Start instants.

#[test]
fn a_start_instant_long_past_is_refused_and_one_just_past_is_recorded() {
    let _turn = common::serial();
    let dir = temp_dir("late");
    let out = short_run(&["--start-at", "2026-01-01T00:00:00Z"], None);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--start-at"), "{}", stderr(&out));
    assert!(stderr(&out).contains("tolerance"), "{}", stderr(&out));
    // now+0s has passed by the time threads are up, by less than the 250 ms tolerance.
    let path = dir.join("late.json");
    let out = openpace(&[
        "run",
        "--target",
        "noop",
        "--duration",
        "0.2",
        "--quiet",
        "--shard",
        "0/1",
        "--start-at",
        "now+0s",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = load(&path);
    let shard = result.shard.expect("the shard is recorded");
    assert!(
        shard.start_offset_ms > 0.0 && shard.start_offset_ms < 250.0,
        "{}",
        shard.start_offset_ms
    );
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("after --start-at"))
    );
}

#[test]
fn ctrl_c_while_waiting_for_the_start_ends_at_once_with_a_report() {
    let _turn = common::serial();
    let dir = temp_dir("wait");
    let report = dir.join("wait.json");
    // Closed-loop workers would otherwise sleep until the instant, 60 s away.
    let args = [
        "--target",
        "sleep:1ms",
        "--model",
        "closed",
        "--concurrency",
        "2",
    ];
    let args = [&args[..], &["--duration", "1", "--start-at", "now+60s"]].concat();
    let started = std::time::Instant::now();
    let code = common::interrupt_run(&args, &report, libc::SIGINT);
    assert_eq!(code, Some(130));
    assert!(started.elapsed().as_secs() < 15, "{:?}", started.elapsed());
    let result = load(&report);
    assert!(result.interrupted);
    assert_eq!(result.scenarios[0].requests.completed, 0);
}

#[test]
fn shards_started_50_ms_apart_merge_and_show_the_offset() {
    let _turn = common::serial();
    let dir = temp_dir("skew");
    let t = unix_now() + 2.0;
    let starts = [format!("{t:.3}"), format!("{:.3}", t + 0.05)];
    let flags = ["--rate", "200", "--duration", "2", "--interval", "0.5"];
    for out in run_shards(&dir, "skew", &starts, &flags) {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (out, merged) = merge_shards(&dir, "skew", 2);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let m = load(&merged);
    let info = m.merged.as_ref().unwrap();
    let offset = info.shards[1].origin_offset_ms;
    assert!(
        (offset - 50.0).abs() < 5.0,
        "shard 1's origin offset {offset} ms"
    );
    assert!(text.contains("origin +50."), "{text}");
    assert_eq!(m.scenarios[0].requests.intended, 400);
    // Shard 1's rows moved 50 ms later join the nearest boundaries: no extra rows.
    assert_eq!(
        m.scenarios[0].intervals.len(),
        4,
        "{:?}",
        m.scenarios[0].intervals
    );
}

// ---------------------------------------------------------------------------------------
// Under a real launcher.

#[test]
fn mpirun_runs_two_shards_that_merge_into_the_whole_schedule() {
    let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(mpirun) = mpirun else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs openmpi-bin: mpirun must be there"
        );
        eprintln!("SKIPPED: mpirun not found (apt-get install -y openmpi-bin to run this test)");
        return;
    };
    let _turn = common::serial();
    let dir = temp_dir("mpirun");
    let (rate, seconds) = (1000u64, 3u64);
    let start = format!("{:.3}", unix_now() + 2.0);
    let out = Command::new(mpirun)
        // Unbound, both shards may use both cores: each must take its own.
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
            "-n",
            "2",
        ])
        .arg(env!("CARGO_BIN_EXE_openpace"))
        .args([
            "run",
            "--target",
            "noop",
            "--workers",
            "1",
            "--warmup",
            "0",
            "--quiet",
        ])
        .args([
            "--rate",
            &rate.to_string(),
            "--duration",
            &seconds.to_string(),
        ])
        .args(["--shard", "auto", "--start-at", &start, "--out"])
        .arg(dir.join("mpi-{shard}.json"))
        .output()
        .expect("mpirun runs");
    assert!(out.status.success(), "mpirun: {}", stderr(&out));
    let reports: Vec<String> = (0..2)
        .map(|i| {
            dir.join(format!("mpi-{i}.json"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for (i, r) in reports.iter().enumerate() {
        let report = load(Path::new(r));
        let shard = report.shard.expect("each report names its shard");
        assert_eq!(shard.launcher, openpace::cluster::Launcher::OpenMpi);
        assert_eq!((shard.index, shard.count), (i as u32, 2));
        assert_eq!(report.host.cores_allowed, 1, "{:?}", report.warnings);
        let mine = format!("runs on core(s) {i} of the 2");
        assert!(
            report.warnings.iter().any(|w| w.contains(&mine)),
            "{:?}",
            report.warnings
        );
    }
    let merged = dir.join("merged.json");
    let out = openpace(&[
        "merge",
        &reports[0],
        &reports[1],
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m = load(&merged);
    let s = &m.scenarios[0];
    assert_eq!(s.requests.intended, rate * seconds);
    let achieved = s.achieved_rps / rate as f64;
    assert!(
        (0.99..=1.01).contains(&achieved),
        "achieved {} of {rate} RPS",
        s.achieved_rps
    );
}

/// Issue 12: merging two pinned shards printed "16 worker(s) unpinned", and flag counts summed
/// over shards ("3 of 5 intervals ... (timing loop fell behind: 4)"). Flags are counted on the
/// merged rows and the shards' cores are kept.
#[test]
fn merged_flags_are_counted_per_interval_and_pinning_is_kept() {
    let config = openpace::LoadTestConfig {
        metrics_collection_interval: 0.5,
        ..common::config("flags", 200.0, 2.0)
    };
    let (result, _) = common::run(config);
    let (mut a, mut b) = split_run(&result);
    let a_had_validity = a.scenarios[0].validity.is_some();
    for shard in [&mut a, &mut b] {
        let s = &mut shard.scenarios[0];
        s.worker_cores = vec![1];
        // Only the flags set here: a busy test machine may have flagged the run itself.
        for row in &mut s.intervals {
            row.flags.clear();
        }
        for row in s.intervals.iter_mut().take(2) {
            row.flags = vec!["timing loop fell behind".into()];
        }
        s.suspect_intervals = 2;
        s.suspect_reasons = [("timing loop fell behind".to_string(), 2)].into();
    }
    b.scenarios[0].intervals[3].flags = vec!["host steal time".into()];
    let merged = merge(
        &[("a.json".into(), a), ("b.json".into(), b)],
        &MergeOptions::default(),
    )
    .expect("the halves merge");
    let m = &merged.scenarios[0];
    // Issue 14: the merged percentiles' intervals come from the merged histogram.
    let ci = m.response_time_ms.ci95.expect("merged intervals");
    let [lo, hi] = ci
        .intervals
        .at(0.5)
        .expect("400 samples hold a p50 interval");
    assert!(lo <= m.response_time_ms.at(0.5) && m.response_time_ms.at(0.5) <= hi);
    // Issue 26: allowing for the shards' lag correlations, a p99.9 needs more than the
    // 3,688 independent samples would.
    assert!(
        ci.needs.at(0.999).is_some_and(|n| n >= 3688),
        "{:?}",
        ci.needs
    );
    // The shards' send-order samples stay with them: no validity checks on merged data.
    assert!(a_had_validity && m.validity.is_none());
    assert_eq!(m.suspect_intervals, 3, "{:?}", m.suspect_reasons);
    assert_eq!(m.suspect_reasons["timing loop fell behind"], 2);
    assert_eq!(m.suspect_reasons["host steal time"], 1);
    assert!(
        m.suspect_reasons
            .values()
            .all(|&n| n <= m.suspect_intervals)
    );
    assert!(m.suspect_intervals <= m.intervals.len() as u64);
    assert_eq!(m.worker_cores, [1]);
    let text = openpace::report::render_files(&merged, openpace::ReportFormat::Text).unwrap();
    assert!(!text[0].1.contains("unpinned"), "{}", text[0].1);
    assert!(text[0].1.contains("3 of 4 intervals"), "{}", text[0].1);
}
