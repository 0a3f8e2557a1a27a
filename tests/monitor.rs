//! The resource sampler against known activity, and saturation flags on a real overload.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use openpace::engine::clock::RunClock;
use openpace::metrics::saturation::{RATE_SHORT, WORKER_SATURATED};
use openpace::monitor::{MonitorConfig, ResourceMonitor, ResourceReport};
use openpace::{LoadTestConfig, TargetSpec};

fn config() -> MonitorConfig {
    MonitorConfig {
        cpu: true,
        memory: true,
        network: true,
        target_pid: None,
        interval_ns: 250_000_000,
        start_ns: 0,
    }
}

/// Samples while `activity` runs on this thread (the caller holds `common::serial()`).
fn monitor_during(config: MonitorConfig, activity: impl FnOnce()) -> ResourceReport {
    let mut monitor = ResourceMonitor::new(config, RunClock::starting_in(Duration::ZERO), None);
    monitor.start_monitoring().unwrap();
    activity();
    std::thread::sleep(Duration::from_millis(300));
    let report = monitor.stop_monitoring();
    assert!(monitor.get_current_metrics().is_some());
    report
}

#[test]
fn a_thread_burning_a_core_reads_as_about_100_percent() {
    let _turn = common::serial();
    let report = monitor_during(config(), || {
        std::thread::Builder::new()
            .name("burner".into())
            .spawn(|| {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(1500) {
                    std::hint::spin_loop();
                }
            })
            .unwrap()
            .join()
            .unwrap();
    });
    let burner: Vec<f64> = report
        .samples
        .iter()
        .flat_map(|s| {
            s.threads
                .iter()
                .filter(|t| t.name == "burner")
                .map(|t| t.cpu_pct)
        })
        .collect();
    // Whole intervals while it ran: about 100% of a core (procfs counts in 10 ms ticks).
    let best = burner.iter().copied().fold(0.0, f64::max);
    assert!((70.0..=110.0).contains(&best), "{burner:?}");
    assert!(report.summary.max_cpu_percent.unwrap() >= 70.0);
    assert!(report.sampler_cpu_pct < 5.0, "{}", report.sampler_cpu_pct);
}

#[test]
fn allocating_200_mb_shows_in_rss() {
    let _turn = common::serial();
    let mut held = Vec::new();
    let report = monitor_during(config(), || {
        std::thread::sleep(Duration::from_millis(300));
        let mut block = vec![0u8; 200 << 20];
        // Touch every page so that it becomes resident.
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        held.push(block);
        std::thread::sleep(Duration::from_millis(600));
    });
    let rss: Vec<f64> = report
        .samples
        .iter()
        .filter_map(|s| s.process.rss_mb)
        .collect();
    let (low, high) = (rss[0], rss.iter().copied().fold(0.0, f64::max));
    assert!(high - low >= 190.0, "{rss:?}");
    assert_eq!(held.len(), 1);
}

#[test]
fn bytes_over_loopback_show_in_network_counters() {
    let _turn = common::serial();
    let report = monitor_during(config(), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut sink = Vec::new();
            stream.read_to_end(&mut sink).unwrap();
            sink.len()
        });
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(&vec![7u8; 10 << 20]).unwrap();
        drop(stream);
        assert_eq!(reader.join().unwrap(), 10 << 20);
    });
    let network = report.samples.last().unwrap().network.as_ref().unwrap();
    let lo = network.interfaces["lo"];
    assert!(lo.rx_bytes >= 10 << 20 && lo.tx_bytes >= 10 << 20, "{lo:?}");
    assert!(report.summary.total_network_bytes_sent.unwrap() >= 10 << 20);
}

#[test]
fn a_monitored_process_that_exits_ends_its_sampling_with_a_note() {
    let _turn = common::serial();
    let mut child = std::process::Command::new("sleep")
        .arg("1")
        .spawn()
        .unwrap();
    let config = MonitorConfig {
        target_pid: Some(child.id()),
        ..config()
    };
    let report = monitor_during(config, || {
        child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(600));
    });
    assert!(report.samples.iter().any(|s| s.target_process.is_some()));
    assert!(report.samples.last().unwrap().target_process.is_none());
    assert!(
        report.notes.iter().any(|n| n.contains("exited")),
        "{:?}",
        report.notes
    );
}

#[test]
fn an_overloaded_worker_flags_its_intervals_and_the_shortfall() {
    // One worker, 3 ms of CPU per call, 500 calls a second: it needs 1.5 cores.
    let config = LoadTestConfig {
        target: TargetSpec::Spin(Duration::from_millis(3)),
        num_workers: 1,
        max_backlog: 100_000,
        metrics_collection_interval: 0.5,
        ..common::config("overload", 500.0, 2.0)
    };
    let (_, s) = common::run(config);
    assert!(s.rate_shortfall_pct > 20.0, "{}", s.rate_shortfall_pct);
    assert!(
        s.suspect_intervals >= 2,
        "{:?}",
        s.intervals.iter().map(|i| &i.flags).collect::<Vec<_>>()
    );
    assert!(
        s.suspect_reasons.contains_key(WORKER_SATURATED),
        "{:?}",
        s.suspect_reasons
    );
    assert!(
        s.suspect_reasons.contains_key(RATE_SHORT),
        "{:?}",
        s.suspect_reasons
    );
    assert!(s.verdict.suspect);
    assert!(
        s.verdict
            .notes
            .iter()
            .any(|n| n.starts_with("TARGET RATE NOT REACHED"))
    );
}

/// Issue 13: a second scenario with its own metrics_collection_interval got no resource
/// samples of its own (the sampler took the first scenario's interval). It now samples at the
/// shortest interval, so every row of every scenario shares time with samples.
#[test]
fn scenarios_with_different_intervals_are_each_sampled() {
    let a = LoadTestConfig {
        metrics_collection_interval: 1.0,
        ..common::config("one-second rows", 100.0, 2.0)
    };
    let b = LoadTestConfig {
        metrics_collection_interval: 0.5,
        ..common::config("half-second rows", 100.0, 2.0)
    };
    let run = openpace::RunConfig {
        run: openpace::RunSettings::default(),
        scenarios: vec![a, b],
        origins: Vec::new(),
    };
    let _turn = common::serial();
    let result = openpace::LoadTestRunner::from_run_config(run)
        .unwrap()
        .run()
        .unwrap();
    let samples = &result.resources.monitor.samples;
    assert!(samples.len() >= 4, "{} samples", samples.len());
    // Every sample but the first (from when the sampler got going) and the last (cut at the
    // end of the run) is half a second long: the shorter interval of the two.
    for x in &samples[1..samples.len() - 1] {
        assert!(((x.end_s - x.start_s) - 0.5).abs() < 1e-6, "{x:?}");
    }
    // The first runs from the sampler's first reading, taken while the run was set up: how
    // long that took depends on the host's load (over 0.5 s once, on a busy CI box).
    assert!(
        samples[1..]
            .iter()
            .all(|x| x.end_s - x.start_s <= 0.5 + 1e-6)
    );
    for row in &result.scenarios[1].intervals {
        assert!(
            samples
                .iter()
                .any(|x| x.start_s < row.end_s && x.end_s > row.start_s),
            "no sample shares time with the row {}..{}",
            row.start_s,
            row.end_s
        );
    }
}
