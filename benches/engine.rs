//! The engine against its floors, measured in one run on this machine.
//!
//! `cargo bench --bench engine` (or `tools/bench-engine.sh`) prints, for each figure the
//! engine reaches, the floor it sits on: what the machine itself costs for the same step,
//! measured with the same cores a moment earlier. Timer on core 0, worker on core 1.
//! Set `OPENPACE_BENCH_QUICK=1` for shorter runs.

use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use openpace::calibrate::probes;
use openpace::config::{DEFAULT_SCENARIO, Override, load_json};
use openpace::{
    LoadTestConfig, LoadTestRunner, RunConfig, RunResult, RunSettings, TargetSpec, WaitMode,
};

const TIMER_CORE: usize = 0;
const WORKER_CORE: usize = 1;

fn quick() -> bool {
    std::env::var_os("OPENPACE_BENCH_QUICK").is_some()
}

fn seconds(full: f64) -> f64 {
    if quick() { full / 3.0 } else { full }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn quantiles_us(h: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999))
    )
}

fn row(figure: &str, value: String, floor: &str) {
    println!("{figure:<44} {value:<46} {floor}");
    let _ = std::io::stdout().flush();
}

const SPIN: WaitMode = WaitMode::Spin;

/// The floor of a core: a bare spin loop on it while the other core spins.
fn bare_spin_on(core: usize, other: usize) -> Histogram<u64> {
    probes::bare_spin(
        Some(core),
        Some(other),
        Duration::from_secs_f64(seconds(5.0)),
    )
}

/// The floor of the worker core.
fn bare_spin() -> Histogram<u64> {
    bare_spin_on(WORKER_CORE, TIMER_CORE)
}

/// One-way hand-off from the timer core to the worker core, messages 50 µs apart.
fn hand_off(mode: WaitMode) -> Histogram<u64> {
    probes::hand_off(
        Some(TIMER_CORE),
        Some(WORKER_CORE),
        mode,
        Duration::from_micros(50),
        Duration::from_secs_f64(seconds(3.0)),
    )
}

fn channel_throughput() -> f64 {
    probes::channel_throughput(Some(TIMER_CORE), Some(WORKER_CORE), 20_000_000)
}

fn engine(target: TargetSpec, rate: f64, secs: f64, wait: WaitMode) -> RunResult {
    let config = LoadTestConfig {
        name: format!("{target} at {rate} RPS"),
        target,
        target_rps: rate,
        duration_seconds: secs,
        warmup_seconds: 1.0,
        num_workers: 1,
        max_retries: 0,
        worker_cores: Some(vec![WORKER_CORE]),
        metrics_collection_interval: 1.0,
        ..LoadTestConfig::default()
    };
    let settings = RunSettings {
        wait,
        timer_core: Some(TIMER_CORE),
        ..RunSettings::default()
    };
    let run = RunConfig::single(config).with_settings(settings);
    LoadTestRunner::from_run_config(run).unwrap().run().unwrap()
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let cores = openpace::config::machine_cores();
    println!(
        "openpace engine bench: {cores} cores ({}), timer on core {TIMER_CORE}, worker on \
         core {WORKER_CORE}{}",
        cpu_model(),
        if quick() { ", quick" } else { "" }
    );
    if cores < 2 {
        println!("needs 2 cores");
        return;
    }
    println!("\n{:<44} {:<46} floor", "figure", "value");

    let clock_ns = probes::clock_read_ns();
    row("clock read (Instant::now)", format!("{clock_ns:.1} ns"), "");
    let (hdr_ns, atomic_ns) = probes::record_ns();
    row(
        "HdrHistogram record",
        format!("{hdr_ns:.1} ns"),
        &format!("openpace's recorder: {atomic_ns:.1} ns"),
    );
    let spin_hand_off = hand_off(SPIN);
    row(
        "hand-off core 0 -> 1, spinning receiver",
        quantiles_us(&spin_hand_off),
        "",
    );
    let blocked_hand_off = hand_off(WaitMode::Sleep);
    row(
        "hand-off core 0 -> 1, blocked receiver",
        quantiles_us(&blocked_hand_off),
        "",
    );
    row(
        "one bounded channel, core 0 -> 1",
        format!("{:.1} M messages/s", channel_throughput() / 1e6),
        "",
    );
    let poll = probes::poll_100us(500);
    row("mio poll(100 us) returns after", quantiles_us(&poll), "");
    row(
        "thread::sleep(100 us) overshoots by",
        quantiles_us(&probes::sleep_overshoot(2000)),
        "",
    );
    let spin = bare_spin();
    row(
        "bare spin lateness, 10 us deadlines, core 1",
        quantiles_us(&spin),
        "",
    );
    let spin0 = bare_spin_on(TIMER_CORE, WORKER_CORE);
    row(
        "bare spin lateness, 10 us deadlines, core 0",
        quantiles_us(&spin0),
        "",
    );

    println!();
    // Highest rate a single worker holds against noop in spin mode.
    let mut held = 0.0;
    for rate in [1e6, 2e6, 4e6, 6e6, 8e6, 10e6, 12e6] {
        let r = engine(TargetSpec::Noop, rate, seconds(3.0), WaitMode::Spin);
        let s = &r.scenarios[0];
        // Sustained (completed over window + drain): a loop that falls behind still
        // completes everything, later.
        let ratio = s.sustained_rps / rate;
        let ok = ratio >= 0.999 && s.requests.dropped == 0;
        row(
            &format!("noop, 1 worker, spin: {:.0}M RPS", rate / 1e6),
            format!(
                "sustained/target {ratio:.4}, dropped {}, backlogged {}",
                s.requests.dropped, s.requests.backlogged
            ),
            if ok { "held" } else { "not held" },
        );
        if !ok {
            break;
        }
        held = rate;
    }
    row(
        "highest noop rate held (1 worker)",
        format!("{:.0}M RPS", held / 1e6),
        &format!("channel: {:.1}M msg/s", channel_throughput() / 1e6),
    );

    // This VM's tails come and go within seconds, so the floor and the engine are measured
    // in alternation, three times, and each pair is compared on its own.
    let mut ratios = Vec::new();
    for round in 1..=3 {
        let spin_floor = bare_spin();
        let r = engine(TargetSpec::Noop, 10_000.0, seconds(5.0), WaitMode::Spin);
        let s = &r.scenarios[0];
        let floor_p99 = us(spin_floor.value_at_quantile(0.99));
        let ratio = s.dispatch_delay_us.at(0.99) / floor_p99.max(0.001);
        ratios.push(ratio);
        row(
            &format!("10k RPS spin: dispatch delay (round {round})"),
            format!(
                "p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
                s.dispatch_delay_us.at(0.5),
                s.dispatch_delay_us.at(0.99),
                s.dispatch_delay_us.at(0.999)
            ),
            &format!(
                "bare spin: p50 {:.2} us, p99 {floor_p99:.2} us ({ratio:.2}x)",
                us(spin_floor.value_at_quantile(0.5)),
            ),
        );
    }
    ratios.sort_by(f64::total_cmp);
    row(
        "10k RPS spin: dispatch p99 / bare spin p99",
        format!("median of 3 rounds: {:.2}x", ratios[1]),
        "bar: 1.5x",
    );

    let r = engine(
        TargetSpec::Spin(Duration::from_micros(50)),
        10_000.0,
        seconds(5.0),
        WaitMode::Hybrid,
    );
    let s = &r.scenarios[0];
    row(
        "10k RPS hybrid, spin:50us: service time",
        format!(
            "p50 {:.1} us, p99 {:.1} us; dispatch p50 {:.2} us",
            s.service_time_ms.at(0.5) * 1e3,
            s.service_time_ms.at(0.99) * 1e3,
            s.dispatch_delay_us.at(0.5)
        ),
        "target: 50 us",
    );

    // The default scenario with the design's mock model (a 20 ms sleep), where framework
    // overhead is the bar, and as shipped, against the feature extractor.
    for target in ["sleep:20ms", "features"] {
        let overrides = [Override::new("--target", "target", target)];
        let mut default = load_json(DEFAULT_SCENARIO, "default", &overrides).unwrap();
        default.run.output = None;
        if quick() {
            default.scenarios[0].duration_seconds = 4.0;
        }
        let r = LoadTestRunner::from_run_config(default)
            .unwrap()
            .run()
            .unwrap();
        let s = &r.scenarios[0];
        row(
            &format!("default scenario, 50 RPS x {target}"),
            format!(
                "achieved {:.2} RPS, overhead {:.4}%, dispatch p50 {:.2} us",
                s.achieved_rps,
                s.overhead_pct,
                s.dispatch_delay_us.at(0.5)
            ),
            &format!(
                "blocked hand-off p50 {:.1} us",
                us(blocked_hand_off.value_at_quantile(0.5))
            ),
        );
        row(
            &format!("... {target}: framework CPU, p95"),
            format!(
                "timing thread {:.2}%, collector {:.2}% of a core",
                r.framework_cpu.timer_cpu_pct, r.framework_cpu.collector_cpu_pct
            ),
            &format!("response p95 {:.2} ms", s.response_time_ms.at(0.95)),
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
