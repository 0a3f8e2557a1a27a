//! Figures derived from counts and histograms, in one place: a scenario's rates, shares,
//! latency summaries and overhead ([`derive_figures`]), an interval row's ([`derive_row`]),
//! and the checked sums of counts a merge adds. The collector (after a run) and
//! `openpace merge` (after adding shards) both call these, so a merged report's figures are
//! computed exactly as a single run's.

use hdrhistogram::Histogram;

use super::encoding::{decode, encode};
use super::result::{
    EncodedHistograms, IntervalStats, KernelHistograms, KernelSplit, LatencySummary, NamedResult,
    NetworkIo, Overhead, RequestCounts, ScenarioResult, TlsFigures, WaitFigures,
};

/// Nanoseconds per millisecond.
pub const NS_PER_MS: f64 = 1e6;
/// Nanoseconds per microsecond.
pub const NS_PER_US: f64 = 1e3;

/// A scenario's four histograms in ns: response, service, dispatch delay, timer lateness.
pub type Histograms = [Histogram<u64>; 4];

/// Figures of shards that each carry `N` histograms (one by default), added one part at a
/// time: the first part taken as the sum, each later part's counts folded into it, the
/// histograms added; `finish` remakes the sum's summaries from their totals (`None` when no
/// part came). A merge holds one of these per scenario, not the parts.
pub struct Summed<T, const N: usize = 1> {
    sum: Option<(T, [Histogram<u64>; N])>,
}

impl<T: Clone, const N: usize> Default for Summed<T, N> {
    fn default() -> Summed<T, N> {
        Summed { sum: None }
    }
}

impl<T: Clone, const N: usize> Summed<T, N> {
    /// Adds `part`: `histograms` are its encoded histograms, `add` folds its counts into the
    /// sum; `what` names the histograms in an error.
    fn add_with(
        &mut self,
        part: &T,
        histograms: fn(&T) -> [&str; N],
        what: &str,
        add: impl Fn(&mut T, &T) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut values = Vec::with_capacity(N);
        for encoded in histograms(part) {
            values.push(decode(encoded)?);
        }
        let values: [Histogram<u64>; N] = values.try_into().expect("N histograms");
        let Some((sum, all)) = self.sum.as_mut() else {
            self.sum = Some((part.clone(), values));
            return Ok(());
        };
        add(sum, part)?;
        for (all, values) in all.iter_mut().zip(&values) {
            all.add(values)
                .map_err(|e| format!("{what} histograms cannot be added: {e:?}"))?;
        }
        Ok(())
    }
}

impl Summed<TlsFigures> {
    /// Adds one shard's TLS handshake figures: counts summed, histograms added.
    pub fn add(&mut self, part: &TlsFigures) -> Result<(), String> {
        self.add_with(
            part,
            |t| [&t.histogram],
            "TLS handshake",
            |sum, part| {
                add_counts([
                    (&mut sum.handshakes, part.handshakes),
                    (&mut sum.resumed, part.resumed),
                    (
                        &mut sum.requests_with_handshake,
                        part.requests_with_handshake,
                    ),
                ])
            },
        )
    }

    /// The sum, its summary recomputed; `None` when no shard shook hands.
    pub fn finish(self) -> Option<TlsFigures> {
        self.sum.map(|(sum, [all])| TlsFigures {
            handshake_ms: LatencySummary::from_histogram(&all, NS_PER_MS),
            histogram: encode(&all),
            ..sum
        })
    }
}

impl Summed<WaitFigures> {
    /// Adds how one shard's workers waited: wake-ups summed, lateness histograms added, the
    /// windows' range widened, the largest lead kept.
    pub fn add(&mut self, part: &WaitFigures) -> Result<(), String> {
        self.add_with(
            part,
            |w| [&w.histogram],
            "wake-up lateness",
            |sum, part| {
                sum.handoff_lead_us = sum.handoff_lead_us.max(part.handoff_lead_us);
                sum.spin_window_us = match (sum.spin_window_us, part.spin_window_us) {
                    (Some([a, b]), Some([c, d])) => Some([a.min(c), b.max(d)]),
                    (one, other) => one.or(other),
                };
                add_counts([(&mut sum.wake_ups, part.wake_ups)])
            },
        )
    }

    /// The sum, its lateness summary recomputed; `None` when no shard has it.
    pub fn finish(self) -> Option<WaitFigures> {
        self.sum.map(|(sum, [all])| WaitFigures {
            wake_lateness_us: LatencySummary::without_intervals(&all, NS_PER_US),
            histogram: encode(&all),
            ..sum
        })
    }
}

/// The kernel split's summaries (µs) and encoded histograms, from its three histograms in ns
/// (`client_send`, `wire_and_server`, `client_receive`); counts left at 0. No intervals: only
/// order statistics could be had here, which assume independent requests and are far too
/// narrow for a real server (the response, service and dispatch figures have the
/// dependence-aware ones).
pub fn kernel_figures(h: &[Histogram<u64>; 3]) -> KernelSplit {
    let summary = |h: &Histogram<u64>| LatencySummary::without_intervals(h, NS_PER_US);
    KernelSplit {
        client_send_us: summary(&h[0]),
        wire_and_server_us: summary(&h[1]),
        client_receive_us: summary(&h[2]),
        histograms: KernelHistograms {
            client_send: encode(&h[0]),
            wire_and_server: encode(&h[1]),
            client_receive: encode(&h[2]),
        },
        ..KernelSplit::default()
    }
}

impl Summed<KernelSplit, 3> {
    /// Adds one shard's (or repetition's) kernel split: counts summed, each of the three
    /// histograms added.
    pub fn add(&mut self, part: &KernelSplit) -> Result<(), String> {
        self.add_with(
            part,
            |k| {
                let h = &k.histograms;
                [&h.client_send, &h.wire_and_server, &h.client_receive]
            },
            "kernel timestamp",
            |sum, part| {
                add_counts([
                    (&mut sum.stamped, part.stamped),
                    (&mut sum.missing_tx, part.missing_tx),
                    (&mut sum.missing_rx, part.missing_rx),
                    (&mut sum.disordered, part.disordered),
                ])
            },
        )
    }

    /// The sum, its summaries recomputed; `None` when no part had one.
    pub fn finish(self) -> Option<KernelSplit> {
        self.sum.map(|(sum, all)| KernelSplit {
            stamped: sum.stamped,
            missing_tx: sum.missing_tx,
            missing_rx: sum.missing_rx,
            disordered: sum.disordered,
            ..kernel_figures(&all)
        })
    }
}

/// A request set's per-name results of shards added one shard at a time, name by name (in
/// the order of the first shard that has each): counts summed, histograms added; `finish`
/// recomputes the summaries.
#[derive(Default)]
pub struct NamedSums(Vec<(NamedResult, [Histogram<u64>; 3])>);

impl NamedSums {
    /// Adds one shard's per-name results.
    pub fn add(&mut self, part: &[NamedResult]) -> Result<(), String> {
        for n in part {
            let h = &n.histograms;
            let decoded = [
                decode(&h.response_time)?,
                decode(&h.service_time)?,
                decode(&h.dispatch_delay)?,
            ];
            let Some((sum, all)) = self.0.iter_mut().find(|(m, _)| m.name == n.name) else {
                self.0.push((n.clone(), decoded));
                continue;
            };
            add_counts([
                (&mut sum.completed, n.completed),
                (&mut sum.ok, n.ok),
                (&mut sum.errors, n.errors),
                (&mut sum.timeouts, n.timeouts),
            ])?;
            for (into, from) in all.iter_mut().zip(&decoded) {
                into.add(from)
                    .map_err(|e| format!("histograms of `{}` cannot be added: {e:?}", n.name))?;
            }
        }
        Ok(())
    }

    /// The sums, their summaries recomputed.
    pub fn finish(self) -> Vec<NamedResult> {
        self.0
            .into_iter()
            .map(|(sum, [response, service, dispatch])| NamedResult {
                response_time_ms: LatencySummary::from_histogram(&response, NS_PER_MS),
                service_time_ms: LatencySummary::from_histogram(&service, NS_PER_MS),
                dispatch_delay_us: LatencySummary::from_histogram(&dispatch, NS_PER_US),
                histograms: EncodedHistograms {
                    response_time: encode(&response),
                    service_time: encode(&service),
                    dispatch_delay: encode(&dispatch),
                    timer_lateness: String::new(),
                },
                ..sum
            })
            .collect()
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Fills every figure of `s` that follows from its counts (`requests`), its windows
/// (`send_window_s`, `drain_s`), its overhead sums (`overhead.framework_ns`, `.response_ns`)
/// and its run-total histograms `totals`.
pub fn derive_figures(s: &mut ScenarioResult, totals: &Histograms) {
    let r = &s.requests;
    let intended = r.intended as f64;
    let completed = r.completed as f64;
    s.scheduled_rps = ratio(intended, s.send_window_s);
    s.achieved_rps = ratio(completed, s.send_window_s);
    s.sustained_rps = ratio(completed, s.send_window_s + s.drain_s);
    s.success_rate = ratio(r.ok as f64, intended);
    s.error_rate = ratio((r.errors + r.timeouts + r.dropped) as f64, intended);
    s.cache_hit_rate = ratio(r.cache_hits as f64, completed);
    s.fallback_rate = ratio(r.fallbacks as f64, completed);
    let [response, service, dispatch, lateness] = totals;
    s.response_time_ms = LatencySummary::from_histogram(response, NS_PER_MS);
    s.service_time_ms = LatencySummary::from_histogram(service, NS_PER_MS);
    s.dispatch_delay_us = LatencySummary::from_histogram(dispatch, NS_PER_US);
    s.timer_lateness_us = LatencySummary::from_histogram(lateness, NS_PER_US);
    s.histograms = encode_all(totals);
    let (framework_ns, response_ns) = (s.overhead.framework_ns, s.overhead.response_ns);
    s.overhead_pct = 100.0 * ratio(framework_ns as f64, response_ns as f64);
    s.overhead = Overhead {
        per_request_us: ratio(framework_ns as f64, completed) / NS_PER_US,
        response_us: ratio(response_ns as f64, completed) / NS_PER_US,
        framework_ns,
        response_ns,
    };
}

/// Fills an interval row's rate (completions over `seconds`) and latency summaries from its
/// response, service and dispatch histograms.
pub fn derive_row(
    row: &mut IntervalStats,
    seconds: f64,
    [response, service, dispatch]: [&Histogram<u64>; 3],
) {
    row.achieved_rps = ratio(row.completed as f64, seconds);
    row.response_time_ms = LatencySummary::from_histogram(response, NS_PER_MS);
    row.service_time_ms = LatencySummary::from_histogram(service, NS_PER_MS);
    row.dispatch_delay_us = LatencySummary::from_histogram(dispatch, NS_PER_US);
}

/// The four histograms encoded for the report.
pub fn encode_all(h: &Histograms) -> EncodedHistograms {
    EncodedHistograms {
        response_time: encode(&h[0]),
        service_time: encode(&h[1]),
        dispatch_delay: encode(&h[2]),
        timer_lateness: encode(&h[3]),
    }
}

/// Adds each count to its total, refusing a sum past 2^64 instead of wrapping it.
pub fn add_counts<'a>(pairs: impl IntoIterator<Item = (&'a mut u64, u64)>) -> Result<(), String> {
    for (total, n) in pairs {
        *total = total
            .checked_add(n)
            .ok_or("counts that add up without passing 2^64")?;
    }
    Ok(())
}

impl RequestCounts {
    /// Adds `other`'s counts to these, field by field; an error instead of a sum past 2^64.
    pub fn checked_add_assign(&mut self, other: &RequestCounts) -> Result<(), String> {
        let o = other;
        add_counts([
            (&mut self.intended, o.intended),
            (&mut self.sent, o.sent),
            (&mut self.completed, o.completed),
            (&mut self.ok, o.ok),
            (&mut self.errors, o.errors),
            (&mut self.timeouts, o.timeouts),
            (&mut self.retries, o.retries),
            (&mut self.dropped, o.dropped),
            (&mut self.backlogged, o.backlogged),
            (&mut self.late, o.late),
            (&mut self.queued, o.queued),
            (&mut self.queued_ns, o.queued_ns),
            (&mut self.abandoned, o.abandoned),
            (&mut self.expired, o.expired),
            (&mut self.warmup, o.warmup),
            (&mut self.cache_hits, o.cache_hits),
            (&mut self.fallbacks, o.fallbacks),
        ])
    }
}

impl NetworkIo {
    /// Adds `other`'s counts to these (not `connections_auto`, which is not a count).
    pub fn checked_add_assign(&mut self, other: &NetworkIo) -> Result<(), String> {
        add_counts([
            (&mut self.bytes_sent, other.bytes_sent),
            (&mut self.bytes_received, other.bytes_received),
            (&mut self.connections_opened, other.connections_opened),
            (&mut self.peak_in_flight, other.peak_in_flight),
            (&mut self.connections_limit, other.connections_limit),
            (&mut self.connections_used, other.connections_used),
            (&mut self.busy_polled, other.busy_polled),
        ])
    }
}

impl IntervalStats {
    /// Adds `other`'s counts to this row's (`scheduled` too); flags, times and figures are
    /// left alone.
    pub fn checked_add_counts(&mut self, other: &IntervalStats) -> Result<(), String> {
        self.scheduled += other.scheduled;
        add_counts([
            (&mut self.sent, other.sent),
            (&mut self.completed, other.completed),
            (&mut self.ok, other.ok),
            (&mut self.errors, other.errors),
            (&mut self.timeouts, other.timeouts),
            (&mut self.expired, other.expired),
            (&mut self.dropped, other.dropped),
            (&mut self.late, other.late),
            (&mut self.queued, other.queued),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::result::NoteKind;

    #[test]
    fn every_note_kind_is_read_back_from_its_label() {
        for kind in NoteKind::ALL {
            let note = format!("{}: 3 of 4 intervals", kind.label());
            assert_eq!(NoteKind::of(&note), Some(kind));
        }
        assert_eq!(NoteKind::of("shard 1: a warning"), None);
        assert_eq!(NoteKind::of("no colon"), None);
        assert!(!NoteKind::Partial.from_figures() && NoteKind::ClientQueueing.from_figures());
    }

    #[test]
    fn kernel_splits_add_counts_and_histograms_and_remake_their_summaries() {
        let part = |values: &[u64], stamped: u64| {
            let h: [Histogram<u64>; 3] = std::array::from_fn(|i| {
                let mut h = crate::metrics::atomic_hist::new_histogram();
                for v in values {
                    h.record(v * (i as u64 + 1)).unwrap();
                }
                h
            });
            KernelSplit {
                stamped,
                missing_tx: 1,
                ..kernel_figures(&h)
            }
        };
        let mut sum = Summed::<KernelSplit, 3>::default();
        sum.add(&part(&[1_000, 2_000], 2)).unwrap();
        sum.add(&part(&[3_000, 4_000, 5_000], 3)).unwrap();
        let all = sum.finish().unwrap();
        assert_eq!((all.stamped, all.missing_tx), (5, 2));
        let whole = part(&[1_000, 2_000, 3_000, 4_000, 5_000], 5);
        assert_eq!(all.wire_and_server_us, whole.wire_and_server_us);
        assert_eq!(all.wire_and_server_us.count, 5);
        assert_eq!(all.client_receive_us.max, whole.client_receive_us.max);
        assert!(Summed::<KernelSplit, 3>::default().finish().is_none());
    }

    #[test]
    fn counts_add_field_by_field_and_refuse_to_wrap() {
        let mut a = RequestCounts {
            intended: 3,
            queued_ns: 5,
            fallbacks: 1,
            ..RequestCounts::default()
        };
        let b = RequestCounts {
            intended: 4,
            queued_ns: 6,
            fallbacks: 2,
            ..RequestCounts::default()
        };
        a.checked_add_assign(&b).unwrap();
        assert_eq!((a.intended, a.queued_ns, a.fallbacks), (7, 11, 3));
        let huge = RequestCounts {
            sent: u64::MAX,
            ..RequestCounts::default()
        };
        a.sent = 1;
        assert!(a.checked_add_assign(&huge).is_err());
    }

    #[test]
    fn rates_and_shares_follow_from_the_counts_and_windows() {
        let mut s = ScenarioResult {
            requests: RequestCounts {
                intended: 100,
                completed: 90,
                ok: 80,
                errors: 5,
                timeouts: 5,
                dropped: 10,
                cache_hits: 45,
                ..RequestCounts::default()
            },
            send_window_s: 10.0,
            drain_s: 0.5,
            overhead: Overhead {
                framework_ns: 1_000,
                response_ns: 100_000,
                ..Overhead::default()
            },
            ..ScenarioResult::default()
        };
        let totals: Histograms = std::array::from_fn(|_| Histogram::new(3).unwrap());
        derive_figures(&mut s, &totals);
        assert_eq!(s.scheduled_rps, 10.0);
        assert_eq!(s.achieved_rps, 9.0);
        assert_eq!(s.sustained_rps, 90.0 / 10.5);
        assert_eq!(
            (s.success_rate, s.error_rate, s.cache_hit_rate),
            (0.8, 0.2, 0.5)
        );
        assert_eq!(s.overhead_pct, 1.0);
        assert_eq!(s.overhead.per_request_us, 1_000.0 / 90.0 / 1e3);
    }

    #[test]
    fn shards_figures_with_a_histogram_add_up() {
        let part = |values: &[u64], lead: f64, window: Option<[f64; 2]>| {
            let mut h = crate::metrics::atomic_hist::new_histogram();
            for &v in values {
                h.record(v).unwrap();
            }
            WaitFigures {
                handoff_lead_us: lead,
                spin_window_us: window,
                wake_ups: values.len() as u64,
                wake_lateness_us: LatencySummary::default(),
                histogram: encode(&h),
            }
        };
        let a = part(&[50_000, 60_000], 5_000.0, Some([40.0, 120.0]));
        let b = part(&[2_000_000], 1_000.0, Some([20.0, 90.0]));
        let c = part(&[70_000], 5_000.0, None);
        let merge_wait = |parts: &[&WaitFigures]| -> Result<Option<WaitFigures>, String> {
            let mut sum = Summed::<WaitFigures>::default();
            for part in parts {
                sum.add(part)?;
            }
            Ok(sum.finish())
        };
        let m = merge_wait(&[&a, &b, &c]).unwrap().unwrap();
        assert_eq!(m.wake_ups, 4);
        assert_eq!(m.wake_lateness_us.count, 4);
        assert_eq!(m.handoff_lead_us, 5_000.0);
        assert_eq!(m.spin_window_us, Some([20.0, 120.0]));
        assert!(
            (m.wake_lateness_us.max - 2_000.0).abs() < 2.0,
            "{:?}",
            m.wake_lateness_us
        );
        assert!(m.wake_lateness_us.ci95.is_none());
        assert_eq!(merge_wait(&[]).unwrap(), None);
        let mut broken = a.clone();
        broken.histogram = "not base64".into();
        assert!(merge_wait(&[&a, &broken]).is_err());
        let tls = TlsFigures {
            handshakes: 2,
            histogram: a.histogram.clone(),
            ..TlsFigures::default()
        };
        let mut sum = Summed::<TlsFigures>::default();
        sum.add(&tls).unwrap();
        sum.add(&tls).unwrap();
        let t = sum.finish().unwrap();
        assert_eq!((t.handshakes, t.handshake_ms.count), (4, 4));
    }
}
