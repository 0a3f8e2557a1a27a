//! openpace: open-model load testing with latencies you can trust.
//!
//! A load pattern is a pure function from request index to intended send instant. One pinned
//! timing loop sends each request at that instant to a fixed pool of pinned workers, which
//! call the target and record, per request, the response time from the *intended* instant
//! (so queueing caused by a slow target is never hidden: no coordinated omission), the service
//! time and the dispatch delay, into HdrHistograms. See `docs/DESIGN.md` for the map.
//!
//! # Load-testing your own function
//!
//! ```
//! use openpace::{CallResult, LoadTestConfig, LoadTestRunner, Request, target};
//!
//! let config = LoadTestConfig {
//!     name: "lookup".into(),
//!     target_rps: 200.0,
//!     duration_seconds: 0.5,
//!     num_workers: 2,
//!     ..LoadTestConfig::default()
//! };
//! // One instance per worker: state needs no locks.
//! let lookup = target::factory(|_ctx| {
//!     let table: Vec<u64> = (0..1024).collect();
//!     move |req: &Request| {
//!         let hit = table[(req.seq % 1024) as usize];
//!         std::hint::black_box(hit);
//!         CallResult::ok()
//!     }
//! });
//! let result = LoadTestRunner::new(config)?.with_target(lookup).run()?;
//! let s = &result.scenarios[0];
//! assert_eq!(s.requests.intended, 100);
//! println!("p99 {:.3} ms, {:.1} RPS", s.response_time_ms.at(0.99), s.achieved_rps);
//! # Ok::<(), openpace::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]

// In dependency order, layer by layer: each module names only modules of the layers above
// it (`tests/module_order.rs` checks this). `unsafe` is denied everywhere but in `base`
// (system calls) and the atomic histogram.

// Shared by all, owned by none; errors; the pure schedule; a sharded campaign's vocabulary;
// the reference workload.
#[allow(unsafe_code)]
pub mod base;
pub mod error;
pub mod schedule;
pub mod shard;
pub mod workload;

// What is called, and what is measured of it.
pub mod targets;

pub mod metrics;

// Rendering results: a run's, a calibration's, a capacity search's, a comparison's.
pub mod report;

// What a run is asked to do.
pub mod config;

// Measuring the host, then running.
pub mod monitor;

pub mod engine;

// What is built on a run: calibration, capacity search, campaigns of shards, runs repeated
// and interleaved.
pub mod calibrate;
pub mod capacity;
pub mod cluster;

// Runs repeated and interleaved, built on runs and on pooling them (cluster).
pub mod ab;

/// The targets under their first name: `openpace::target` is [`targets`]. (The folder is
/// `src/targets/` because many global gitignores hide every path named `target`.)
pub use targets as target;

/// The README's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The reference in `docs/`: its code blocks are doc tests too.
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../docs/cli.md")]
    struct Cli;
    #[doc = include_str!("../docs/config.md")]
    struct Config;
    #[doc = include_str!("../docs/measurement.md")]
    struct Measurement;
    #[doc = include_str!("../docs/servers.md")]
    struct Servers;
    #[doc = include_str!("../docs/formats.md")]
    struct Formats;
    #[doc = include_str!("../docs/clusters.md")]
    struct Clusters;
    #[doc = include_str!("../docs/workload.md")]
    struct Workload;
    #[doc = include_str!("../docs/library.md")]
    struct Library;
    #[doc = include_str!("../docs/benchmarks.md")]
    struct Benchmarks;
    #[doc = include_str!("../docs/DESIGN.md")]
    struct Design;
}

pub use config::{
    LoadTestConfig, Model, ReportFormat, RunConfig, RunSettings, ScenarioConfig, Stage, WaitMode,
};
pub use engine::LoadTestRunner;
pub use engine::stop::StopHandle;
pub use error::{ConfigError, Error, RunError};
pub use metrics::{PerformanceMetrics, RunResult, ScenarioResult};
pub use schedule::{Arrival, LoadPattern, RateProfile, Schedule};
pub use targets::{
    CallResult, ErrorKind, Request, Tags, Target, TargetContext, TargetFactory, TargetSpec,
};
