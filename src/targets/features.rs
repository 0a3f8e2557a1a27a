//! The `features` target: the reference feature extractor under load.
//!
//! Each worker owns a [`FeatureExtractor`] and a data generator. The model's weights are built
//! once and shared read-only (`Arc`); each worker's cache is its own. A shared cache would
//! need a lock on every call, and that contention would be measured as the model's latency;
//! per-worker caches need none, and they see every repeat because repeated windows come from
//! the worker's own recent inputs.
//!
//! Each call extracts features from one window: with probability `edge` an edge case of the
//! design (small, large and NaN in turn: the first two fall back, the NaN one is repaired by
//! forward filling), with probability `repeat` one of the worker's last 64 windows (a cache
//! hit), otherwise a fresh market window. Cache hits and fallbacks are tagged, so the run
//! reports their rates.

use std::fmt;
use std::sync::Arc;

use ndarray::Array2;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::{CallResult, ErrorKind, Request, Tags, Target, TargetContext, TargetFactory, factory};
use crate::workload::extractor::MAX_TIMESTEPS;
use crate::workload::market::FEATURES;
use crate::workload::{
    DataKind, FallbackCause, FeatureExtractionConfig, FeatureExtractionDataGenerator,
    FeatureExtractor, FeatureModel, Source,
};

/// Windows each worker remembers for repeats.
const RECENT: usize = 64;
const EDGE_CASES: [DataKind; 3] = [
    DataKind::EdgeCaseSmall,
    DataKind::EdgeCaseLarge,
    DataKind::EdgeCaseNan,
];

/// Options of the `features` target: `features:window=60,repeat=0.2,...`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeaturesOptions {
    /// Timesteps per window (columns are always the design's 15).
    pub window: usize,
    /// Average the ensemble of three (off: one member).
    pub ensemble: bool,
    /// Cache results per worker.
    pub cache: bool,
    /// Cache entries per worker.
    pub cache_size: usize,
    /// Fall back to statistics when the model cannot answer (off: an error).
    pub fallback: bool,
    /// Share of calls that repeat a recent window (0..=1).
    pub repeat: f64,
    /// Share of calls that send an edge case (0..=1).
    pub edge: f64,
    /// Seed of weights and data.
    pub seed: u64,
}

impl Default for FeaturesOptions {
    fn default() -> Self {
        FeaturesOptions {
            window: 60,
            ensemble: true,
            cache: true,
            cache_size: 1000,
            fallback: true,
            repeat: 0.2,
            edge: 0.02,
            seed: 42,
        }
    }
}

impl FeaturesOptions {
    /// What `parse` accepts, for error messages.
    pub const ALLOWED: &'static str = "features or features:OPTION=VALUE,... with options \
        window (14-1024), ensemble, cache, fallback (true/false), cache_size (1-100000), repeat \
        and edge (0-1, summing to at most 1), seed";

    /// The largest cache per worker: each entry is about 256 bytes, allocated up front.
    pub const MAX_CACHE_SIZE: usize = 100_000;

    /// Parses the part after `features:` (empty for the defaults).
    pub fn parse(options: &str) -> Result<FeaturesOptions, String> {
        let mut o = FeaturesOptions::default();
        for pair in options.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not OPTION=VALUE"))?;
            let bad = || format!("`{value}` is not a valid value for `{key}`");
            let flag = || match value {
                "true" | "on" => Ok(true),
                "false" | "off" => Ok(false),
                _ => Err(bad()),
            };
            match key {
                "window" => o.window = value.parse().map_err(|_| bad())?,
                "ensemble" => o.ensemble = flag()?,
                "cache" => o.cache = flag()?,
                "cache_size" => o.cache_size = value.parse().map_err(|_| bad())?,
                "fallback" => o.fallback = flag()?,
                "repeat" => o.repeat = value.parse().map_err(|_| bad())?,
                "edge" => o.edge = value.parse().map_err(|_| bad())?,
                "seed" => o.seed = value.parse().map_err(|_| bad())?,
                _ => return Err(format!("unknown option `{key}`")),
            }
        }
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if !(14..=MAX_TIMESTEPS).contains(&o.window) {
            return Err(format!("window {} is outside 14-{MAX_TIMESTEPS}", o.window));
        }
        if !(1..=FeaturesOptions::MAX_CACHE_SIZE).contains(&o.cache_size) {
            return Err(format!(
                "cache_size {} is outside 1-{} (entries per worker, allocated up front)",
                o.cache_size,
                FeaturesOptions::MAX_CACHE_SIZE
            ));
        }
        if !share(o.repeat) || !share(o.edge) || o.repeat + o.edge > 1.0 {
            return Err(format!(
                "repeat {} and edge {} must be shares from 0 to 1 that sum to at most 1",
                o.repeat, o.edge
            ));
        }
        Ok(o)
    }

    fn extractor_config(&self) -> FeatureExtractionConfig {
        FeatureExtractionConfig {
            enable_caching: self.cache,
            cache_size: self.cache_size,
            enable_fallback: self.fallback,
            use_ensemble: self.ensemble,
            seed: self.seed,
            ..FeatureExtractionConfig::default()
        }
    }

    /// A factory: the model is built here, once, and shared by every worker's extractor.
    pub fn factory(&self) -> TargetFactory {
        let options = *self;
        let config = options.extractor_config();
        let model = Arc::new(FeatureModel::new(
            config.seed,
            config.ensemble_members,
            config.fused_feature_dim,
        ));
        factory(move |ctx: &TargetContext| FeaturesTarget::new(options, model.clone(), ctx))
    }
}

impl fmt::Display for FeaturesOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = FeaturesOptions::default();
        let mut parts = Vec::new();
        if self.window != d.window {
            parts.push(format!("window={}", self.window));
        }
        for (name, value, default) in [
            ("ensemble", self.ensemble, d.ensemble),
            ("cache", self.cache, d.cache),
            ("fallback", self.fallback, d.fallback),
        ] {
            if value != default {
                parts.push(format!("{name}={value}"));
            }
        }
        if self.cache_size != d.cache_size {
            parts.push(format!("cache_size={}", self.cache_size));
        }
        if self.repeat != d.repeat {
            parts.push(format!("repeat={}", self.repeat));
        }
        if self.edge != d.edge {
            parts.push(format!("edge={}", self.edge));
        }
        if self.seed != d.seed {
            parts.push(format!("seed={}", self.seed));
        }
        if parts.is_empty() {
            f.write_str("features")
        } else {
            write!(f, "features:{}", parts.join(","))
        }
    }
}

/// One worker's extractor and inputs.
struct FeaturesTarget {
    options: FeaturesOptions,
    extractor: FeatureExtractor,
    data: FeatureExtractionDataGenerator,
    recent: Vec<Array2<f64>>,
    next_recent: usize,
    next_edge: usize,
    rng: Xoshiro256PlusPlus,
}

impl FeaturesTarget {
    fn new(options: FeaturesOptions, model: Arc<FeatureModel>, ctx: &TargetContext) -> Self {
        // Each worker of each scenario draws its own data stream.
        let stream =
            options.seed ^ ((ctx.scenario as u64) << 32 | ctx.worker as u64).wrapping_add(1);
        FeaturesTarget {
            options,
            extractor: FeatureExtractor::with_model(model, options.extractor_config()),
            data: FeatureExtractionDataGenerator::new(stream),
            recent: Vec::with_capacity(RECENT),
            next_recent: 0,
            next_edge: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(stream.rotate_left(17)),
        }
    }

    /// A fresh market window, remembered for later repeats; returns its index in `recent`.
    fn fresh(&mut self) -> usize {
        let window = self
            .data
            .window(DataKind::Single, self.options.window, FEATURES);
        if self.recent.len() < RECENT {
            self.recent.push(window);
            self.recent.len() - 1
        } else {
            let slot = self.next_recent;
            self.recent[slot] = window;
            self.next_recent = (slot + 1) % RECENT;
            slot
        }
    }
}

impl Target for FeaturesTarget {
    fn call(&mut self, _request: &Request) -> CallResult {
        let draw: f64 = self.rng.random();
        let outcome = if draw < self.options.edge {
            let kind = EDGE_CASES[self.next_edge % EDGE_CASES.len()];
            self.next_edge += 1;
            let window = self.data.window(kind, self.options.window, FEATURES);
            self.extractor.extract_features(window.view())
        } else {
            let slot = if draw < self.options.edge + self.options.repeat && !self.recent.is_empty()
            {
                self.rng.random_range(0..self.recent.len())
            } else {
                self.fresh()
            };
            self.extractor.extract_features(self.recent[slot].view())
        };
        match outcome {
            Ok(extraction) => match extraction.source {
                Source::Model => CallResult::ok(),
                Source::Cache => CallResult::ok().with_tags(Tags::CACHE_HIT),
                Source::Fallback(_) => CallResult::ok().with_tags(Tags::FALLBACK),
            },
            Err(e) => CallResult::error(match e.0 {
                FallbackCause::UnsupportedShape { .. } => ErrorKind::new("unsupported_shape"),
                FallbackCause::NonFinite => ErrorKind::new("non_finite_input"),
                FallbackCause::ModelError => ErrorKind::new("model_error"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::clock::RunClock;

    fn context(worker: usize) -> TargetContext {
        TargetContext {
            scenario: 0,
            worker,
            workers: 1,
            clock: RunClock::starting_in(std::time::Duration::ZERO),
            request_timeout: std::time::Duration::from_secs(1),
            seed: 1,
        }
    }

    fn request(seq: u64) -> Request {
        Request {
            seq,
            intended_ns: 0,
            sent_ns: 0,
        }
    }

    #[test]
    fn options_parse_validate_and_print_back() {
        assert_eq!(
            FeaturesOptions::parse("").unwrap(),
            FeaturesOptions::default()
        );
        let o = FeaturesOptions::parse("window=30,repeat=0.5,edge=0.1,cache=off").unwrap();
        assert_eq!((o.window, o.repeat, o.edge, o.cache), (30, 0.5, 0.1, false));
        assert_eq!(
            o.to_string(),
            "features:window=30,cache=false,repeat=0.5,edge=0.1"
        );
        assert_eq!(FeaturesOptions::parse(&o.to_string()[9..]).unwrap(), o);
        for bad in [
            "window=5",
            "repeat=0.9,edge=0.2",
            "edge=-1",
            "cache=maybe",
            "speed=3",
            "window",
        ] {
            assert!(FeaturesOptions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeats_hit_the_cache_and_edge_cases_fall_back_at_their_shares() {
        let options = FeaturesOptions {
            repeat: 0.3,
            edge: 0.1,
            ..FeaturesOptions::default()
        };
        let factory = options.factory();
        let mut target = factory(&context(0));
        let (mut hits, mut fallbacks) = (0, 0);
        let n = 600;
        for seq in 0..n {
            let r = target.call(&request(seq));
            assert!(r.is_ok());
            hits += usize::from(r.tags.contains(Tags::CACHE_HIT));
            fallbacks += usize::from(r.tags.contains(Tags::FALLBACK));
        }
        // Repeats (30%) hit the cache once the first window exists; two edge cases in three
        // (small, large) fall back: 10% x 2/3.
        let share = |k: usize| k as f64 / n as f64;
        assert!((share(hits) - 0.3).abs() < 0.06, "{hits}");
        assert!(
            (share(fallbacks) - 0.1 * 2.0 / 3.0).abs() < 0.03,
            "{fallbacks}"
        );
    }

    #[test]
    fn without_fallback_edge_cases_are_errors_of_their_kind() {
        let options = FeaturesOptions {
            edge: 1.0,
            repeat: 0.0,
            fallback: false,
            ..FeaturesOptions::default()
        };
        let mut target = options.factory()(&context(0));
        let kinds: Vec<Option<ErrorKind>> =
            (0..3).map(|s| target.call(&request(s)).error).collect();
        assert_eq!(
            kinds,
            vec![
                Some(ErrorKind::new("unsupported_shape")),
                Some(ErrorKind::new("unsupported_shape")),
                None
            ]
        );
    }
}
