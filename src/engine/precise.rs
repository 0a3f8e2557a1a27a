//! Run until precise (config field `precision`): the collector checks each scenario's
//! targets as each interval closes, once `duration_seconds` is over, and when every one is
//! met and the run is stationary, ends the scenario's schedule with the interval in
//! progress (the timing loop sends nothing intended at or after that instant). Up to
//! `max_duration`, the schedule the run was planned with.
//!
//! A target is met by the interval a rerun respects ([`honest`]): the order-statistic
//! interval joined with batch means over the intervals so far, batched as they close. So a
//! run is never precise before it has 5 batches of the percentile, however many requests it
//! holds: requests that are not independent are worth less than their number.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::seconds_to_ns;
use crate::config::LoadTestConfig;
use hdrhistogram::Histogram;

use crate::metrics::honest::Batcher;
use crate::metrics::precision::{Precision, PrecisionMetric, PrecisionOutcome};
use crate::metrics::stats::WorkerStats;
use crate::metrics::threshold::Progress;
use crate::metrics::validity;

/// One scenario's precision targets as the collector follows them.
#[derive(Clone)]
pub(crate) struct PreciseRun {
    pub targets: Vec<Precision>,
    /// End of `duration_seconds` on the run clock: no decision before.
    pub min_end_ns: u64,
    /// Where the schedule ends; the timing loop reads it before each instant.
    pub end_limit: Arc<AtomicU64>,
    pub workers: Vec<Arc<WorkerStats>>,
    /// When the targets were met (the end of the interval that met them).
    pub reached_ns: Option<u64>,
    /// Their half-widths then.
    pub at_reach: Vec<Option<f64>>,
    /// Each target's batches of the intervals closed so far.
    pub batches: Vec<Batcher>,
}

/// The config a scenario is planned with: a run until precise for its longest duration
/// (it may end sooner), any other as it is.
pub(crate) fn planned(config: &LoadTestConfig) -> Cow<'_, LoadTestConfig> {
    if config.precision.is_empty() {
        Cow::Borrowed(config)
    } else {
        Cow::Owned(LoadTestConfig {
            duration_seconds: config.longest_duration(),
            ..config.clone()
        })
    }
}

impl PreciseRun {
    /// The targets of `config` (as given, not [`planned`]) to follow, if it has any; its
    /// window starts at `warmup_ns`, and `end_limit` is the lane's.
    pub fn of(
        config: &LoadTestConfig,
        warmup_ns: u64,
        end_limit: Arc<AtomicU64>,
    ) -> Option<PreciseRun> {
        (!config.precision.is_empty()).then(|| PreciseRun {
            targets: config.precision.clone(),
            min_end_ns: warmup_ns + seconds_to_ns(config.duration_seconds),
            end_limit,
            workers: Vec::new(),
            reached_ns: None,
            at_reach: Vec::new(),
            batches: config
                .precision
                .iter()
                .map(|t| Batcher::new(t.quantile()))
                .collect(),
        })
    }

    /// The half-width of target `i`'s dependence-aware interval on what was measured so far,
    /// percent of its value; `None` while there is none.
    fn half_width(&self, i: usize, so_far: &Progress<'_>) -> Option<f64> {
        let t = &self.targets[i];
        let h = histogram(t, so_far);
        let [lo, hi] = t.interval_of(h)?;
        let ([b_lo, b_hi], _) = self.batches[i].interval(h, 1.0)?;
        let value = h.value_at_quantile(t.quantile()) as f64;
        let (lo, hi) = (lo.min(b_lo), hi.max(b_hi));
        (value > 0.0).then(|| 100.0 * (value - lo).max(hi - value) / value)
    }

    fn met(&self, so_far: &Progress<'_>) -> bool {
        (0..self.targets.len()).all(|i| {
            self.half_width(i, so_far)
                .is_some_and(|w| w <= self.targets[i].half_width_pct)
        })
    }

    /// After the interval ending at `closed_ns` closed, with `next_ns` the end of the one in
    /// progress: if every target is met on what was measured so far and the run is
    /// stationary, ends the schedule at `next_ns`.
    pub fn after_interval(
        &mut self,
        (closed_ns, next_ns): (u64, u64),
        so_far: &Progress<'_>,
        closed: Option<&[Histogram<u64>; 4]>,
    ) {
        if self.reached_ns.is_some() {
            return;
        }
        if let Some([response, service, dispatch, _]) = closed {
            for (t, batches) in self.targets.iter().zip(&mut self.batches) {
                batches.add(match t.metric {
                    PrecisionMetric::Response => response,
                    PrecisionMetric::Service => service,
                    PrecisionMetric::Dispatch => dispatch,
                });
            }
        }
        if closed_ns < self.min_end_ns || !self.met(so_far) {
            return;
        }
        let entries = self.workers.iter().flat_map(|w| w.sampled().0).collect();
        if validity::stationarity_of(entries).is_some_and(|s| !s.passed) {
            return;
        }
        self.reached_ns = Some(closed_ns);
        self.at_reach = (0..self.targets.len())
            .map(|i| self.half_width(i, so_far))
            .collect();
        self.end_limit.store(next_ns, Ordering::Relaxed);
    }

    /// The outcome for the report, from the final histograms; `warmup_ns` starts the
    /// window and `max_duration_s` is the schedule's length.
    pub fn outcome(
        &self,
        warmup_ns: u64,
        max_duration_s: f64,
        so_far: &Progress<'_>,
    ) -> PrecisionOutcome {
        PrecisionOutcome {
            targets: self.targets.clone(),
            reached: self.reached_ns.is_some(),
            reached_at_s: self
                .reached_ns
                .map(|n| n.saturating_sub(warmup_ns) as f64 / 1e9),
            min_duration_s: self.min_end_ns.saturating_sub(warmup_ns) as f64 / 1e9,
            max_duration_s,
            half_widths_pct: (0..self.targets.len())
                .map(|i| self.half_width(i, so_far))
                .collect(),
            half_widths_at_reach_pct: self.at_reach.clone(),
        }
    }
}

fn histogram<'a>(t: &Precision, so_far: &Progress<'a>) -> &'a hdrhistogram::Histogram<u64> {
    match t.metric {
        PrecisionMetric::Response => so_far.response,
        PrecisionMetric::Service => so_far.service,
        PrecisionMetric::Dispatch => so_far.dispatch,
    }
}
