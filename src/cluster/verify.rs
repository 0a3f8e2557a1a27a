//! Checks a shard's report before `openpace merge` adds it.
//!
//! A merge adds whatever it reads, so a report that was edited, truncated or written by a
//! broken tool would corrupt the campaign's figures without a word: an empty histogram
//! string dropped a shard's latencies (merged count 200 while `completed` said 400), counts of
//! 2^64 - 1 wrapped around, `ok` above `intended` gave a success rate of 2.0. Every report is
//! checked first: its schema version is one this build knows; its shard identity is
//! possible; in each scenario the counts are consistent (`intended = ok + errors + timeouts +
//! dropped`, `completed <= sent <= intended`, `expired + abandoned <= timeouts`, the error
//! kinds sum to `errors`), with checked arithmetic; every histogram decodes, and the response,
//! service and dispatch histograms hold `completed` values, in total and summed over the
//! intervals; a scenario that completed requests has its intervals. `openpace compare`
//! checks both its reports the same way.

use hdrhistogram::Histogram;

use crate::metrics::atomic_hist::HIGHEST_NS;
use crate::metrics::encoding::decode;
use crate::metrics::result::{EncodedHistograms, RunResult, SCHEMA_VERSION, ScenarioResult};

/// Why a report cannot be merged: the field at fault, its value and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field, e.g. `scenarios[0].requests.ok`.
    pub field: String,
    /// Its value as read.
    pub value: String,
    /// What a consistent report holds there.
    pub expected: String,
}

fn problem(field: String, value: impl ToString, expected: impl Into<String>) -> Problem {
    Problem {
        field,
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// Checks `report`; see the module doc.
pub fn verify(report: &RunResult) -> Result<(), Problem> {
    if report.schema_version != SCHEMA_VERSION {
        return Err(problem(
            "schema_version".into(),
            report.schema_version,
            format!("{SCHEMA_VERSION}, the report layout this openpace reads"),
        ));
    }
    if let Some(shard) = &report.shard {
        if shard.count == 0 || shard.index >= shard.count {
            return Err(problem(
                "shard".into(),
                format!("{}/{}", shard.index, shard.count),
                "an index below a count of at least 1",
            ));
        }
    }
    for (j, scenario) in report.scenarios.iter().enumerate() {
        verify_scenario(&format!("scenarios[{j}]"), scenario)?;
    }
    Ok(())
}

/// `a + b + ...` without wrapping, or the problem it would be.
fn sum(field: &str, parts: &[u64]) -> Result<u64, Problem> {
    parts
        .iter()
        .try_fold(0u64, |total, &n| total.checked_add(n))
        .ok_or_else(|| problem(field.into(), "a sum beyond 2^64", "counts that add up"))
}

fn verify_scenario(at: &str, s: &ScenarioResult) -> Result<(), Problem> {
    let r = &s.requests;
    let field = |name: &str| format!("{at}.requests.{name}");
    let outcomes = sum(&field("intended"), &[r.ok, r.errors, r.timeouts, r.dropped])?;
    if outcomes != r.intended {
        return Err(problem(
            field("intended"),
            r.intended,
            format!(
                "ok + errors + timeouts + dropped = {} + {} + {} + {} = {outcomes}",
                r.ok, r.errors, r.timeouts, r.dropped
            ),
        ));
    }
    if r.completed > r.sent || r.sent > r.intended {
        return Err(problem(
            field("completed"),
            format!("{} (sent {}, intended {})", r.completed, r.sent, r.intended),
            "completed <= sent <= intended",
        ));
    }
    let given_up = sum(&field("timeouts"), &[r.expired, r.abandoned])?;
    if given_up > r.timeouts {
        return Err(problem(
            field("timeouts"),
            r.timeouts,
            format!("at least expired + abandoned = {given_up}"),
        ));
    }
    let kinds: Vec<u64> = s.errors_by_kind.values().copied().collect();
    let by_kind = sum(&format!("{at}.errors_by_kind"), &kinds)?;
    if by_kind != r.errors {
        return Err(problem(
            format!("{at}.errors_by_kind"),
            format!("kinds summing to {by_kind}"),
            format!("kinds summing to errors ({})", r.errors),
        ));
    }
    if s.intervals.is_empty() && r.completed > 0 {
        return Err(problem(
            format!("{at}.intervals"),
            "[] (no interval)",
            format!(
                "the time series of a scenario that completed {} requests (every run writes \
                 at least one interval)",
                r.completed
            ),
        ));
    }
    let totals = decode_all(&format!("{at}.histograms"), &s.histograms)?;
    check_counts(&format!("{at}.histograms"), &totals, r.completed)?;
    let mut completed = 0u64;
    let mut in_intervals = [0u64; 3];
    for (i, interval) in s.intervals.iter().enumerate() {
        let at = format!("{at}.intervals[{i}]");
        completed = sum(&format!("{at}.completed"), &[completed, interval.completed])?;
        let h = decode_all(&format!("{at}.histograms"), &interval.histograms)?;
        for (total, h) in in_intervals.iter_mut().zip(&h) {
            *total = sum(&format!("{at}.histograms"), &[*total, h.len()])?;
        }
    }
    if !s.intervals.is_empty() {
        if completed != r.completed {
            return Err(problem(
                format!("{at}.intervals"),
                format!("intervals completing {completed} requests"),
                format!("the scenario's completed ({})", r.completed),
            ));
        }
        if let Some(n) = in_intervals.iter().find(|&&n| n != r.completed) {
            return Err(problem(
                format!("{at}.intervals"),
                format!("interval histograms holding {n} values"),
                format!("the scenario's completed ({})", r.completed),
            ));
        }
    }
    Ok(())
}

/// The response, service and dispatch histograms, decoded; the timer's lateness must decode
/// too. An empty string is an empty histogram.
fn decode_all(at: &str, h: &EncodedHistograms) -> Result<[Histogram<u64>; 3], Problem> {
    let one = |name: &str, text: &str| -> Result<Histogram<u64>, Problem> {
        if text.is_empty() {
            return Ok(crate::metrics::atomic_hist::new_histogram());
        }
        let h = decode(text).map_err(|why| {
            problem(
                format!("{at}.{name}"),
                short(text),
                format!("a histogram ({why})"),
            )
        })?;
        if !h.is_empty() && h.max() > h.highest_equivalent(HIGHEST_NS) {
            return Err(problem(
                format!("{at}.{name}"),
                format!("values up to {} ns", h.max()),
                "values up to an hour, the histograms' ceiling",
            ));
        }
        Ok(h)
    };
    one("timer_lateness", &h.timer_lateness)?;
    Ok([
        one("response_time", &h.response_time)?,
        one("service_time", &h.service_time)?,
        one("dispatch_delay", &h.dispatch_delay)?,
    ])
}

/// Each histogram holds `completed` values.
fn check_counts(at: &str, h: &[Histogram<u64>; 3], completed: u64) -> Result<(), Problem> {
    for (name, h) in ["response_time", "service_time", "dispatch_delay"]
        .iter()
        .zip(h)
    {
        if h.len() != completed {
            return Err(problem(
                format!("{at}.{name}"),
                format!("a histogram of {} values", h.len()),
                format!("one value per completed request ({completed})"),
            ));
        }
    }
    Ok(())
}

/// The start of a long value, for messages.
fn short(text: &str) -> String {
    let cut: String = text.chars().take(24).collect();
    if cut.len() < text.len() {
        format!("\"{cut}...\"")
    } else {
        format!("\"{cut}\"")
    }
}
