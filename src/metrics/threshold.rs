//! Thresholds beyond the design's four, written as text: `response p99.9 < 5ms`,
//! `dispatch_delay p99 < 50us`, `error_rate <= 2%`, `achieved_rate >= 0.99 * target`.
//!
//! Grammar: `METRIC [STAT] OP LIMIT`. Latency metrics (`response`, `service`, `dispatch`,
//! `timer_lateness`, also with `_time`/`_delay` suffixes) take a STAT (`min`, `avg`, `p50`,
//! `p90`, `p95`, `p99`, `p99.9`, `p99.99`, `max`) and a limit with a unit (`ns`, `us`, `ms`,
//! `s`; ms when none). Shares (`error_rate`, `success_rate`, `cache_hit_rate`,
//! `fallback_rate`) take a fraction or a percentage; `overhead_pct` a percentage; rates
//! (`achieved_rate`, `sustained_rate`) requests per second or `FACTOR * target` (the
//! scheduled rate); counts (`errors`, `timeouts`, `dropped`) a number. OP is `<`, `<=`, `>`
//! or `>=`.
//!
//! A threshold is evaluated on the whole run (the verdict), on each interval (alerts), and
//! during the run on what has been measured so far, to tell when it can no longer pass
//! (`abort_on_fail`).

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::confidence;
use super::encoding::decode;
use super::honest;
use super::percentile::{parse_percent, percent_text};
use super::repeated;
use super::result::{IntervalStats, LatencySummary, ScenarioResult, ThresholdResult};

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Metric {
    Response,
    Service,
    Dispatch,
    TimerLateness,
    ErrorRate,
    SuccessRate,
    CacheHitRate,
    FallbackRate,
    OverheadPct,
    AchievedRate,
    SustainedRate,
    Errors,
    Timeouts,
    Dropped,
}

/// A statistic of a latency metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Stat {
    Min,
    Avg,
    Max,
    /// A percentile in parts per million of the distribution (p99.9 is 999,000), so that the
    /// statistic a threshold names is exactly the one checked and shown.
    Quantile(u32),
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// One threshold; see the module doc.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The text it was parsed from.
    pub text: String,
    metric: Metric,
    stat: Option<Stat>,
    op: Op,
    /// The limit in display units (or the factor of the target rate).
    limit: f64,
    times_target: bool,
    /// Display unit: ns, us, ms, s, ratio, %, rps or count.
    unit: String,
    /// `METRIC{name=NAME}`: judged on that name of a request set only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// What `parse` accepts, for error messages.
pub const GRAMMAR: &str = "METRIC [STAT] OP LIMIT, e.g. \"response p99.9 < 5ms\", \
    \"dispatch_delay p99 < 50us\", \"error_rate <= 2%\", \"achieved_rate >= 0.99 * target\"; \
    METRIC: response, service, dispatch, timer_lateness (with STAT min|avg|max|median|pN, \
    e.g. p50, p75, p99.9, p99.95), error_rate, success_rate, cache_hit_rate, fallback_rate, overhead_pct, \
    achieved_rate, sustained_rate, errors, timeouts, dropped; OP: < <= > >=; \
    METRIC{name=NAME} for one name of a request set (response, service, dispatch, error_rate, \
    success_rate, errors, timeouts), e.g. \"response{name=login} p99 < 20ms\"";

impl Threshold {
    /// Parses a threshold; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (name, rest) = words.split_first().ok_or("an empty threshold")?;
        let (name, selected) = match name.split_once('{') {
            None => (*name, None),
            Some((metric, selector)) => {
                let request = selector
                    .strip_suffix('}')
                    .and_then(|s| s.strip_prefix("name="))
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        format!(
                            "`{name}`: a selector is {{name=NAME}}, e.g. response{{name=login}}"
                        )
                    })?;
                (metric, Some(request.to_string()))
            }
        };
        let metric = match name {
            "response" | "response_time" => Metric::Response,
            "service" | "service_time" => Metric::Service,
            "dispatch" | "dispatch_delay" => Metric::Dispatch,
            "timer_lateness" | "lateness" => Metric::TimerLateness,
            "error_rate" => Metric::ErrorRate,
            "success_rate" => Metric::SuccessRate,
            "cache_hit_rate" => Metric::CacheHitRate,
            "fallback_rate" => Metric::FallbackRate,
            "overhead_pct" | "overhead" => Metric::OverheadPct,
            "achieved_rate" | "achieved_rps" => Metric::AchievedRate,
            "sustained_rate" | "sustained_rps" => Metric::SustainedRate,
            "errors" => Metric::Errors,
            "timeouts" => Metric::Timeouts,
            "dropped" => Metric::Dropped,
            other => return Err(format!("unknown metric `{other}`")),
        };
        let latency = matches!(
            metric,
            Metric::Response | Metric::Service | Metric::Dispatch | Metric::TimerLateness
        );
        let (stat, rest) = if latency {
            let (s, rest) = rest
                .split_first()
                .ok_or("a latency metric needs a statistic")?;
            (Some(parse_stat(s)?), rest)
        } else {
            (None, rest)
        };
        let (op, rest) = rest.split_first().ok_or("a comparison is missing")?;
        let op = match *op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            other => return Err(format!("`{other}` is not one of < <= > >=")),
        };
        let limit_text = rest.join(" ");
        let (limit, times_target, unit) = parse_limit(metric, &limit_text)?;
        Ok(Threshold {
            text: text.trim().to_string(),
            metric,
            stat,
            op,
            limit,
            times_target,
            unit,
            name: selected,
        })
        .and_then(|t| t.check_selector())
    }

    /// A threshold on one name of a request set takes that name's latencies and counts.
    fn check_selector(self) -> Result<Threshold, String> {
        let per_name = matches!(
            self.metric,
            Metric::Response
                | Metric::Service
                | Metric::Dispatch
                | Metric::ErrorRate
                | Metric::SuccessRate
                | Metric::Errors
                | Metric::Timeouts
        );
        if self.name.is_some() && !per_name {
            return Err(format!(
                "`{}` has no figure per name; {{name=...}} takes response, service, dispatch, \
                 error_rate, success_rate, errors or timeouts",
                self.metric_name()
            ));
        }
        Ok(self)
    }

    /// The request-set name this threshold is judged on, if it names one.
    pub fn request_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn stat_name(&self) -> String {
        match self.stat {
            Some(Stat::Min) => " min".into(),
            Some(Stat::Avg) => " avg".into(),
            Some(Stat::Max) => " max".into(),
            Some(Stat::Quantile(ppm)) => format!(" p{}", percent_text(ppm)),
            None => String::new(),
        }
    }

    /// The metric as the verdict names it, e.g. `response_time p99.9`.
    pub fn metric_name(&self) -> String {
        let base = match self.metric {
            Metric::Response => "response_time",
            Metric::Service => "service_time",
            Metric::Dispatch => "dispatch_delay",
            Metric::TimerLateness => "timer_lateness",
            Metric::ErrorRate => "error_rate",
            Metric::SuccessRate => "success_rate",
            Metric::CacheHitRate => "cache_hit_rate",
            Metric::FallbackRate => "fallback_rate",
            Metric::OverheadPct => "overhead_pct",
            Metric::AchievedRate => "achieved_rate",
            Metric::SustainedRate => "sustained_rate",
            Metric::Errors => "errors",
            Metric::Timeouts => "timeouts",
            Metric::Dropped => "dropped",
        };
        match &self.name {
            Some(name) => format!("{base}{{name={name}}}{}", self.stat_name()),
            None => format!("{base}{}", self.stat_name()),
        }
    }

    /// Nanoseconds per display unit, for latency metrics.
    fn ns_per_unit(&self) -> f64 {
        match self.unit.as_str() {
            "ns" => 1.0,
            "us" => 1e3,
            "s" => 1e9,
            _ => 1e6,
        }
    }

    /// A latency statistic in display units, from a summary kept in `summary_unit_ns`, or
    /// for a percentile the summary does not hold, from the encoded histogram (ns) beside
    /// it; `None` when neither has it (a live interval keeps no histogram).
    fn latency(&self, l: &LatencySummary, summary_unit_ns: f64, encoded: &str) -> Option<f64> {
        let v = match self.stat {
            Some(Stat::Min) => l.min,
            Some(Stat::Avg) => l.avg,
            Some(Stat::Max) => l.max,
            Some(Stat::Quantile(ppm)) => match l.percentiles.at_ppm(ppm) {
                Some(v) => v,
                None if l.count == 0 => 0.0,
                None => {
                    let h = decode(encoded).ok().filter(|h| !h.is_empty())?;
                    let ns = h.value_at_quantile(f64::from(ppm) / 1e6) as f64;
                    return Some(ns / self.ns_per_unit());
                }
            },
            None => 0.0,
        };
        Some(v * summary_unit_ns / self.ns_per_unit())
    }

    /// The limit in display units for a run whose scheduled rate is `scheduled_rps`.
    fn limit_for(&self, scheduled_rps: f64) -> f64 {
        if self.times_target {
            self.limit * scheduled_rps
        } else {
            self.limit
        }
    }

    fn result(&self, value: f64, scheduled_rps: f64) -> ThresholdResult {
        let limit = self.limit_for(scheduled_rps);
        ThresholdResult {
            metric: self.metric_name(),
            comparison: self.op.symbol().to_string(),
            limit,
            value,
            unit: self.unit.clone(),
            passed: self.op.holds(value, limit),
            text: self.text.clone(),
            ci95: None,
            inconclusive: false,
            default: false,
        }
    }

    /// For a percentile of a latency metric, the verdict of its 95% interval `[lower,
    /// upper]`: pass when the whole interval meets the limit, fail when the whole interval
    /// misses it (one known end on the wrong side is enough), inconclusive otherwise,
    /// including when the run has no samples at all. For a scenario with its time series the
    /// interval is the dependence-aware one ([`honest`]); where the run is too short for that,
    /// the order-statistic bounds decide a failure but never a pass (inconclusive). Elsewhere
    /// (a request set's names, timer lateness) the order-statistic bounds of the encoded
    /// histogram (ns) decide, one end at a time.
    fn judged_by_interval(
        &self,
        mut r: ThresholdResult,
        s: &ScenarioResult,
        encoded: &str,
        metric: Option<honest::Metric>,
    ) -> ThresholdResult {
        let Some(Stat::Quantile(ppm)) = self.stat else {
            return r;
        };
        let q = f64::from(ppm) / 1e6;
        // Repeated: the interval across the runs, around the pooled value.
        if let (Some(rep), Some(m)) = (&s.repeated, metric) {
            let pooled = decode(encoded).map_or(f64::NAN, |h| {
                h.value_at_quantile(q) as f64 / self.ns_per_unit()
            });
            let ci = repeated::interval(rep, m, q, self.ns_per_unit(), pooled);
            let [lo, hi] = ci.map_or([None, None], |[lo, hi]| [Some(lo), Some(hi)]);
            return self.decide(r, [lo, hi], false);
        }
        let honest = metric.filter(|_| !s.intervals.is_empty()).map(|m| {
            honest::Evidence::of(&s.histograms, &s.intervals, m, honest::lag_factor(s))
                .interval(q, self.ns_per_unit())
        });
        if let Some(found) = honest {
            let [lo, hi] = found
                .interval
                .map_or([None, None], |[lo, hi]| [Some(lo), Some(hi)]);
            if lo.is_some() {
                return self.decide(r, [lo, hi], false);
            }
            // Too short to bound honestly: a failure the order statistics show stands, a
            // pass cannot be claimed.
            let [lo, hi] = decode(encoded).map_or([None, None], |h| {
                confidence::bounds(&h, q, self.ns_per_unit())
            });
            return self.decide(r, [lo, hi], true);
        }
        let [lo, hi] = decode(encoded).map_or([None, None], |h| {
            confidence::bounds(&h, q, self.ns_per_unit())
        });
        r.ci95 = Some([lo, hi]);
        self.decide(r, [lo, hi], false)
    }

    /// Pass, fail or inconclusive by the interval `[lo, hi]`; `no_pass`: never a plain pass.
    fn decide(
        &self,
        mut r: ThresholdResult,
        [lo, hi]: [Option<f64>; 2],
        no_pass: bool,
    ) -> ThresholdResult {
        let meets = |v: Option<f64>| v.is_some_and(|v| self.op.holds(v, r.limit));
        let misses = |v: Option<f64>| v.is_some_and(|v| !self.op.holds(v, r.limit));
        // For an upper limit the upper end decides a pass and the lower a failure; for a
        // lower limit the other way round.
        let (deciding_pass, deciding_fail) = match self.op {
            Op::Lt | Op::Le => (hi, lo),
            Op::Gt | Op::Ge => (lo, hi),
        };
        r.ci95 = Some([lo, hi]);
        r.passed = !misses(deciding_fail);
        r.inconclusive = r.passed && (no_pass || !meets(deciding_pass));
        r
    }

    /// Checks the threshold on a whole scenario (on one name's results when it names one; a
    /// name the scenario does not have fails).
    pub fn evaluate(&self, s: &ScenarioResult) -> ThresholdResult {
        let Some(name) = &self.name else {
            return self.evaluate_all(s);
        };
        let Some(n) = s.by_name.iter().find(|n| n.name == *name) else {
            let mut r = self.result(f64::NAN, s.scheduled_rps);
            r.passed = false;
            return r;
        };
        // The name's figures in a scenario of their own.
        let finished = n.completed.max(1) as f64;
        let view = ScenarioResult {
            response_time_ms: n.response_time_ms,
            service_time_ms: n.service_time_ms,
            dispatch_delay_us: n.dispatch_delay_us,
            histograms: n.histograms.clone(),
            error_rate: (n.errors + n.timeouts) as f64 / finished,
            success_rate: n.ok as f64 / finished,
            requests: super::result::RequestCounts {
                errors: n.errors,
                timeouts: n.timeouts,
                ..Default::default()
            },
            scheduled_rps: s.scheduled_rps,
            ..ScenarioResult::default()
        };
        self.evaluate_all(&view)
    }

    fn evaluate_all(&self, s: &ScenarioResult) -> ThresholdResult {
        let share = |x: f64| if self.unit == "%" { 100.0 * x } else { x };
        let value = match self.metric {
            Metric::Response => self
                .latency(&s.response_time_ms, 1e6, &s.histograms.response_time)
                .unwrap_or(0.0),
            Metric::Service => self
                .latency(&s.service_time_ms, 1e6, &s.histograms.service_time)
                .unwrap_or(0.0),
            Metric::Dispatch => self
                .latency(&s.dispatch_delay_us, 1e3, &s.histograms.dispatch_delay)
                .unwrap_or(0.0),
            Metric::TimerLateness => self
                .latency(&s.timer_lateness_us, 1e3, &s.histograms.timer_lateness)
                .unwrap_or(0.0),
            Metric::ErrorRate => share(s.error_rate),
            Metric::SuccessRate => share(s.success_rate),
            Metric::CacheHitRate => share(s.cache_hit_rate),
            Metric::FallbackRate => share(s.fallback_rate),
            Metric::OverheadPct => s.overhead_pct,
            Metric::AchievedRate => s.achieved_rps,
            Metric::SustainedRate => s.sustained_rps,
            Metric::Errors => s.requests.errors as f64,
            Metric::Timeouts => s.requests.timeouts as f64,
            Metric::Dropped => s.requests.dropped as f64,
        };
        let r = self.result(value, s.scheduled_rps);
        let h = &s.histograms;
        use honest::Metric as M;
        match self.metric {
            Metric::Response => self.judged_by_interval(r, s, &h.response_time, Some(M::Response)),
            Metric::Service => self.judged_by_interval(r, s, &h.service_time, Some(M::Service)),
            Metric::Dispatch => self.judged_by_interval(r, s, &h.dispatch_delay, Some(M::Dispatch)),
            Metric::TimerLateness => self.judged_by_interval(r, s, &h.timer_lateness, None),
            _ => r,
        }
    }

    /// Checks the threshold on one interval, when the interval holds what it needs (not the
    /// cache, fallback or overhead figures, which are kept for the run only).
    pub fn evaluate_interval(&self, i: &IntervalStats) -> Option<ThresholdResult> {
        // Names keep no time series.
        if self.name.is_some() {
            return None;
        }
        let seconds = (i.end_s - i.start_s).max(1e-9);
        let scheduled_rps = i.scheduled / seconds;
        // Every request that ended in the interval, however it ended.
        let finished = (i.ok + i.errors + i.timeouts + i.dropped) as f64;
        let share = |part: u64| {
            let x = part as f64 / finished;
            if self.unit == "%" { 100.0 * x } else { x }
        };
        let value = match self.metric {
            // A percentile beyond the summary's needs the row's histogram, which a live
            // interval does not keep: such a threshold is judged on the whole run only.
            Metric::Response => {
                self.latency(&i.response_time_ms, 1e6, &i.histograms.response_time)?
            }
            Metric::Service => self.latency(&i.service_time_ms, 1e6, &i.histograms.service_time)?,
            Metric::Dispatch => {
                self.latency(&i.dispatch_delay_us, 1e3, &i.histograms.dispatch_delay)?
            }
            Metric::ErrorRate => share(i.errors + i.timeouts + i.dropped),
            Metric::SuccessRate => share(i.ok),
            Metric::AchievedRate => i.achieved_rps,
            Metric::Errors => i.errors as f64,
            Metric::Timeouts => i.timeouts as f64,
            Metric::Dropped => i.dropped as f64,
            _ => return None,
        };
        let empty_latency = matches!(
            self.metric,
            Metric::Response | Metric::Service | Metric::Dispatch
        ) && i.response_time_ms.count == 0;
        // A share of nothing is no share: an interval in which no request ended says nothing
        // about the error or success rate (it used to alert with success_rate 0).
        let empty_share =
            matches!(self.metric, Metric::ErrorRate | Metric::SuccessRate) && finished == 0.0;
        if empty_latency || empty_share || (scheduled_rps == 0.0 && self.times_target) {
            return None;
        }
        Some(self.result(value, scheduled_rps))
    }

    /// Whether the threshold can no longer pass, given what was measured so far and the
    /// number of requests the whole schedule intends (`planned`).
    pub fn doomed(&self, so_far: &Progress<'_>) -> bool {
        if self.name.is_some() {
            return false;
        }
        let planned = so_far.planned.max(1) as f64;
        let limit = self.limit;
        match (self.metric, self.op) {
            // A share of the whole run that is already too large (or can no longer grow
            // enough) stays so whatever the remaining requests do.
            (Metric::ErrorRate, Op::Lt | Op::Le) => {
                let bad = (so_far.errors + so_far.timeouts + so_far.dropped) as f64 / planned;
                !self.op.holds(as_share(bad, &self.unit), limit)
            }
            (Metric::SuccessRate, Op::Gt | Op::Ge) => {
                let best =
                    (planned - (so_far.errors + so_far.timeouts + so_far.dropped) as f64) / planned;
                !self.op.holds(as_share(best, &self.unit), limit)
            }
            (Metric::Errors, Op::Lt | Op::Le) => !self.op.holds(so_far.errors as f64, limit),
            (Metric::Timeouts, Op::Lt | Op::Le) => !self.op.holds(so_far.timeouts as f64, limit),
            (Metric::Dropped, Op::Lt | Op::Le) => !self.op.holds(so_far.dropped as f64, limit),
            // An upper limit on a latency statistic: once more values lie above it than the
            // statistic allows over the whole run, it cannot come back under.
            (
                Metric::Response | Metric::Service | Metric::Dispatch | Metric::TimerLateness,
                Op::Lt | Op::Le,
            ) => {
                let h = match self.metric {
                    Metric::Response => so_far.response,
                    Metric::Service => so_far.service,
                    Metric::Dispatch => so_far.dispatch,
                    _ => so_far.lateness,
                };
                let limit_ns = (limit * self.ns_per_unit()) as u64;
                let above = h.len() - h.count_between(0, limit_ns.saturating_sub(1)).min(h.len());
                match self.stat {
                    Some(Stat::Max) => above > 0,
                    Some(Stat::Quantile(ppm)) => {
                        above as f64 > (1.0 - f64::from(ppm) / 1e6) * planned
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

fn as_share(x: f64, unit: &str) -> f64 {
    if unit == "%" { 100.0 * x } else { x }
}

/// What has been measured so far in a scenario, for [`Threshold::doomed`].
pub struct Progress<'a> {
    /// Requests the whole measured window intends.
    pub planned: u64,
    /// Errors so far.
    pub errors: u64,
    /// Timeouts so far.
    pub timeouts: u64,
    /// Dropped so far.
    pub dropped: u64,
    /// Response times so far (ns).
    pub response: &'a Histogram<u64>,
    /// Service times so far (ns).
    pub service: &'a Histogram<u64>,
    /// Dispatch delays so far (ns).
    pub dispatch: &'a Histogram<u64>,
    /// Timer lateness so far (ns).
    pub lateness: &'a Histogram<u64>,
}

fn parse_stat(text: &str) -> Result<Stat, String> {
    match text {
        "min" => Ok(Stat::Min),
        "avg" | "mean" => Ok(Stat::Avg),
        "max" => Ok(Stat::Max),
        "median" => Ok(Stat::Quantile(500_000)),
        _ => text
            .strip_prefix('p')
            .and_then(parse_percent)
            .map(Stat::Quantile)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a statistic: min, avg, max, median, or pN with N above 0 \
                     and below 100 and at most four decimals (p50, p75, p99.9, p99.95)"
                )
            }),
    }
}

/// The limit, whether it is a factor of the target, and the display unit. A limit outside
/// what its metric can measure is refused: `error_rate <= 200%` would pass whatever happened.
fn parse_limit(metric: Metric, text: &str) -> Result<(f64, bool, String), String> {
    let compact: String = text.split_whitespace().collect();
    let number = |s: &str, max: f64, what: &str| -> Result<f64, String> {
        let value = s
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("`{text}` is not a limit"))?;
        if value > max {
            return Err(format!(
                "`{text}` is beyond what the metric can measure: {what}"
            ));
        }
        Ok(value)
    };
    match metric {
        Metric::Response | Metric::Service | Metric::Dispatch | Metric::TimerLateness => {
            let split = compact
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(compact.len());
            let (value, unit) = compact.split_at(split);
            let (unit, per_hour) = match unit {
                "" | "ms" => ("ms", 3.6e6),
                "ns" => ("ns", 3.6e12),
                "us" | "µs" => ("us", 3.6e9),
                "s" => ("s", 3600.0),
                other => return Err(format!("`{other}` is not a unit: ns, us, ms, s")),
            };
            let what = "a latency of at most 1 hour (the histograms' ceiling)";
            Ok((number(value, per_hour, what)?, false, unit.to_string()))
        }
        Metric::ErrorRate | Metric::SuccessRate | Metric::CacheHitRate | Metric::FallbackRate => {
            match compact.strip_suffix('%') {
                Some(pct) => Ok((
                    number(pct, 100.0, "a share of 0% to 100%")?,
                    false,
                    "%".into(),
                )),
                None => {
                    let v = number(&compact, f64::INFINITY, "")?;
                    if v > 1.0 {
                        return Err(format!(
                            "`{text}`: a share is 0 to 1, or a percentage like 2%"
                        ));
                    }
                    Ok((v, false, "ratio".into()))
                }
            }
        }
        Metric::OverheadPct => {
            let pct = compact.trim_end_matches('%');
            let what = "a share of the response time, 0% to 100%";
            Ok((number(pct, 100.0, what)?, false, "%".into()))
        }
        Metric::AchievedRate | Metric::SustainedRate => match compact.split_once('*') {
            Some((factor, "target")) => {
                let what = "a factor of the target of at most 10";
                Ok((number(factor, 10.0, what)?, true, "rps".into()))
            }
            Some(_) => Err(format!("`{text}`: write FACTOR * target")),
            None => {
                let what = "a rate of at most 100000000 RPS";
                Ok((
                    number(&compact, crate::schedule::MAX_RPS, what)?,
                    false,
                    "rps".into(),
                ))
            }
        },
        Metric::Errors | Metric::Timeouts | Metric::Dropped => {
            let what = "a count below 2^53";
            Ok((number(&compact, 9.0e15, what)?, false, "count".into()))
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of 100,000 response times: 99,850 of 1 ms, 100 of 5 ms, 50 of 50 ms, so
    /// p99.9 is 5 ms and p99.99 is 50 ms, each with a tight 95% interval.
    fn two_tails() -> ScenarioResult {
        let mut h = new_histogram();
        h.record_n(1_000_000, 99_850).unwrap();
        h.record_n(5_000_000, 100).unwrap();
        h.record_n(50_000_000, 50).unwrap();
        let mut s = ScenarioResult {
            response_time_ms: LatencySummary::from_histogram(&h, 1e6),
            ..ScenarioResult::default()
        };
        s.histograms.response_time = crate::metrics::encoding::encode(&h);
        s
    }

    /// Issue 14: `p99.9` was looked up as the float 99.9 / 100, which is not 0.999, so the
    /// lookup fell through to p99.99 and checked and showed that instead.
    #[test]
    fn the_percentile_named_is_the_percentile_checked_and_shown() {
        let s = two_tails();
        let r = Threshold::parse("response p99.9 < 10ms")
            .unwrap()
            .evaluate(&s);
        assert!(r.passed && (r.value - 5.0).abs() < 0.01, "{r:?}");
        assert_eq!(r.metric, "response_time p99.9");
        let r = Threshold::parse("response p99.99 < 10ms")
            .unwrap()
            .evaluate(&s);
        assert!(!r.passed && (r.value - 50.0).abs() < 0.1, "{r:?}");
    }

    /// Issue 14: a threshold on a percentile is judged on its 95% interval.
    #[test]
    fn a_percentile_passes_or_fails_only_when_its_whole_interval_does() {
        let s = two_tails();
        let judge = |text: &str| Threshold::parse(text).unwrap().evaluate(&s).outcome();
        assert_eq!(judge("response p99.9 < 10ms"), "pass");
        assert_eq!(judge("response p99.9 > 10ms"), "fail");
        assert_eq!(judge("response p99.9 >= 1ms"), "pass");
        // p99.95 sits where 5 ms turns into 50 ms: its interval holds both.
        let r = Threshold::parse("response p99.95 < 10ms")
            .unwrap()
            .evaluate(&s);
        let [lo, hi] = r.ci95.unwrap();
        assert!(lo.unwrap() < 10.0 && hi.unwrap() > 10.0, "{r:?}");
        assert_eq!(r.outcome(), "inconclusive");
        assert!(r.passed, "inconclusive is not a failure");
        // 100 samples bound a p99 from below only: a p99 above its limit still fails, one
        // below it cannot pass yet.
        let mut h = new_histogram();
        h.record_n(2_000_000, 100).unwrap();
        let few = ScenarioResult {
            response_time_ms: LatencySummary::from_histogram(&h, 1e6),
            histograms: crate::metrics::result::EncodedHistograms {
                response_time: crate::metrics::encoding::encode(&h),
                ..Default::default()
            },
            ..ScenarioResult::default()
        };
        let judge = |text: &str| Threshold::parse(text).unwrap().evaluate(&few);
        let r = judge("response p99 < 1ms");
        assert_eq!((r.outcome(), r.ci95.unwrap()[1]), ("fail", None), "{r:?}");
        assert_eq!(judge("response p99 < 3ms").outcome(), "inconclusive");
        // No samples at all: nothing to judge a percentile by.
        let none = ScenarioResult::default();
        let r = Threshold::parse("response p99 < 3ms")
            .unwrap()
            .evaluate(&none);
        assert_eq!(r.outcome(), "inconclusive");
        // Statistics without an interval keep their plain verdict.
        assert_eq!(judge("response max < 3ms").outcome(), "pass");
    }

    #[test]
    fn any_percentile_parses_exactly_and_reads_the_histogram() {
        let mut h = crate::metrics::atomic_hist::new_histogram();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000).unwrap();
        }
        let mut s = ScenarioResult {
            response_time_ms: LatencySummary::from_histogram(&h, 1e6),
            ..ScenarioResult::default()
        };
        s.histograms.response_time = crate::metrics::encoding::encode(&h);
        let r = Threshold::parse("response p75 < 800ms")
            .unwrap()
            .evaluate(&s);
        assert!(r.passed && (r.value - 750.0).abs() <= 1.0, "{r:?}");
        assert_eq!(r.metric, "response_time p75");
    }
    use crate::metrics::atomic_hist::new_histogram;

    #[test]
    fn the_issues_examples_parse() {
        let t = Threshold::parse("response p99.9 < 5ms").unwrap();
        assert_eq!(t.metric_name(), "response_time p99.9");
        assert_eq!((t.limit, t.unit.as_str()), (5.0, "ms"));
        let t = Threshold::parse("dispatch_delay p99 < 50us").unwrap();
        assert_eq!((t.limit, t.unit.as_str()), (50.0, "us"));
        let t = Threshold::parse("achieved_rate >= 0.99 * target").unwrap();
        assert!(t.times_target);
        assert_eq!(t.limit_for(200.0), 198.0);
        assert_eq!(Threshold::parse("error_rate <= 2%").unwrap().unit, "%");
        assert_eq!(Threshold::parse("errors < 10").unwrap().unit, "count");
    }

    #[test]
    fn nonsense_is_rejected_with_a_reason() {
        for (text, why) in [
            ("latency p99 < 5ms", "unknown metric"),
            // Any percentile is a statistic (p42 too, since issue 14), but not p100 (that is
            // max) or one finer than four decimals.
            ("response p100 < 5ms", "not a statistic"),
            ("response p99.99999 < 5ms", "not a statistic"),
            ("response p99 ~ 5ms", "not one of"),
            ("response p99 < 5 parsecs", "not a unit"),
            ("error_rate < 3", "a share is 0 to 1"),
            ("achieved_rate >= 0.9 * budget", "FACTOR * target"),
            ("response < 5ms", "not a statistic"),
            ("", "empty"),
            // Issue 11: limits beyond what a metric can measure passed whatever happened.
            ("error_rate <= 200%", "beyond what the metric can measure"),
            ("success_rate >= 101%", "beyond what the metric can measure"),
            ("overhead_pct < 150", "beyond what the metric can measure"),
            ("response p99 < 2h", "not a unit"),
            ("response p99 < 3601s", "beyond what the metric can measure"),
            (
                "achieved_rate >= 11 * target",
                "beyond what the metric can measure",
            ),
            ("achieved_rate >= 1e9", "beyond what the metric can measure"),
        ] {
            let err = Threshold::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn interval_checks_use_the_intervals_figures() {
        let t = Threshold::parse("response p95 < 10ms").unwrap();
        let mut i = IntervalStats {
            start_s: 0.0,
            end_s: 1.0,
            completed: 10,
            ..IntervalStats::default()
        };
        i.response_time_ms.count = 10;
        *i.response_time_ms.percentiles.at_mut(0.95) = 12.0;
        let r = t.evaluate_interval(&i).unwrap();
        assert!(!r.passed && r.value == 12.0);
        assert!(
            Threshold::parse("cache_hit_rate > 0.5")
                .unwrap()
                .evaluate_interval(&i)
                .is_none()
        );
    }

    #[test]
    fn a_threshold_is_doomed_only_when_it_can_no_longer_pass() {
        let empty = new_histogram();
        let mut response = new_histogram();
        for _ in 0..5 {
            response.record(50_000_000).unwrap();
        }
        let progress = |errors, response: &'static Histogram<u64>| Progress {
            planned: 1000,
            errors,
            timeouts: 0,
            dropped: 0,
            response,
            service: response,
            dispatch: response,
            lateness: response,
        };
        let leaked_empty: &'static Histogram<u64> = Box::leak(Box::new(empty));
        let leaked: &'static Histogram<u64> = Box::leak(Box::new(response));
        let errors = Threshold::parse("error_rate <= 1%").unwrap();
        assert!(!errors.doomed(&progress(10, leaked_empty)));
        assert!(errors.doomed(&progress(11, leaked_empty)));
        // Five values above 10 ms of 1000 planned: p99 can still pass, p99.9 cannot.
        assert!(
            !Threshold::parse("response p99 < 10ms")
                .unwrap()
                .doomed(&progress(0, leaked))
        );
        assert!(
            Threshold::parse("response p99.9 < 10ms")
                .unwrap()
                .doomed(&progress(0, leaked))
        );
        assert!(
            Threshold::parse("response max < 10ms")
                .unwrap()
                .doomed(&progress(0, leaked))
        );
        assert!(
            !Threshold::parse("achieved_rate >= 0.99 * target")
                .unwrap()
                .doomed(&progress(0, leaked))
        );
    }
}
