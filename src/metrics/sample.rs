//! A bounded sample of requests in send order, for the validity checks (`validity`): the
//! histograms say how long requests took, not in which order, and independence, stationarity
//! and the arrival process need the order.
//!
//! The sample is made of whole blocks of [`BLOCK`] consecutive requests of the schedule (by
//! `seq`), one block in every `2^k`, with `k` chosen before the run so that the whole
//! schedule yields about [`TARGET`] requests: consecutive requests stay consecutive (lags and
//! inter-arrival gaps are exact within a block), and the blocks spread over the whole
//! window. Each worker writes its own preallocated buffer of atomics (one writer; the
//! collector reads it after the workers are done), and stops writing when it is full, which
//! takes more than twice its share. On the hot path: a shift, a mask and a branch per
//! request, and four stores for one request in `2^k`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Consecutive requests per sampled block (a power of two).
pub const BLOCK: u64 = 128;
const BLOCK_SHIFT: u32 = BLOCK.trailing_zeros();
/// About how many requests a whole run samples.
pub const TARGET: u64 = 65_536;
/// The most one worker keeps (4 x 8 bytes each).
pub const MAX_PER_WORKER: usize = 100_000;

/// One sampled request, in ns from the run's origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Index in the schedule.
    pub seq: u64,
    /// When the schedule meant it to be sent.
    pub intended_ns: u64,
    /// When the timing loop handed it over.
    pub sent_ns: u64,
    /// When it ended.
    pub end_ns: u64,
}

/// Which requests are sampled, and how many one worker may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSpec {
    /// A block is kept when `(seq / BLOCK) & mask == 0`.
    pub mask: u64,
    /// Entries one worker keeps at most.
    pub capacity: usize,
}

impl SampleSpec {
    /// No sample.
    pub const NONE: SampleSpec = SampleSpec {
        mask: 0,
        capacity: 0,
    };

    /// For a schedule of about `planned` requests shared by `workers`: one block in every
    /// `2^k` so that about [`TARGET`] are kept, with room for twice a worker's share.
    pub fn for_schedule(planned: u64, workers: usize) -> SampleSpec {
        let every = planned.div_ceil(TARGET).max(1).next_power_of_two();
        let kept = planned.div_ceil(every) + BLOCK;
        let share = kept.div_ceil(workers.max(1) as u64);
        SampleSpec {
            mask: every - 1,
            capacity: (2 * share + BLOCK).min(MAX_PER_WORKER as u64) as usize,
        }
    }

    /// One request in how many is sampled (in whole blocks).
    pub fn every(&self) -> u64 {
        self.mask + 1
    }
}

/// One worker's sample; see the module doc.
pub struct SendOrderSample {
    mask: u64,
    values: Box<[AtomicU64]>,
    len: AtomicUsize,
    /// Sampled requests that found the buffer full.
    overflow: AtomicU64,
}

impl SendOrderSample {
    /// An empty sample as `spec` says.
    pub fn new(spec: SampleSpec) -> SendOrderSample {
        SendOrderSample {
            mask: spec.mask,
            values: (0..4 * spec.capacity).map(|_| AtomicU64::new(0)).collect(),
            len: AtomicUsize::new(0),
            overflow: AtomicU64::new(0),
        }
    }

    /// Keeps `entry` if its block is sampled and there is room. Only the owning worker
    /// calls this.
    #[inline]
    pub fn offer(&self, seq: u64, intended_ns: u64, sent_ns: u64, end_ns: u64) {
        if (seq >> BLOCK_SHIFT) & self.mask != 0 {
            return;
        }
        let i = self.len.load(Ordering::Relaxed);
        let Some(slot) = self.values.get(4 * i..4 * i + 4) else {
            if !self.values.is_empty() {
                // One writer: a load and a store, no locked instruction.
                let lost = self.overflow.load(Ordering::Relaxed);
                self.overflow.store(lost + 1, Ordering::Relaxed);
            }
            return;
        };
        for (cell, v) in slot.iter().zip([seq, intended_ns, sent_ns, end_ns]) {
            cell.store(v, Ordering::Relaxed);
        }
        self.len.store(i + 1, Ordering::Release);
    }

    /// What was kept, and how many sampled requests did not fit.
    pub fn entries(&self) -> (Vec<Entry>, u64) {
        let len = self.len.load(Ordering::Acquire);
        let v = |i: usize| self.values[i].load(Ordering::Relaxed);
        let entries = (0..len)
            .map(|i| Entry {
                seq: v(4 * i),
                intended_ns: v(4 * i + 1),
                sent_ns: v(4 * i + 2),
                end_ns: v(4 * i + 3),
            })
            .collect();
        (entries, self.overflow.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_blocks_are_kept_one_in_every_so_many_up_to_the_capacity() {
        let spec = SampleSpec::for_schedule(1_000_000, 2);
        assert_eq!(spec.every(), 16);
        let s = SendOrderSample::new(spec);
        for seq in 0..1_000_000 {
            if seq % 2 == 0 {
                s.offer(seq, seq, seq, seq + 1);
            }
        }
        let (entries, overflow) = s.entries();
        assert_eq!(overflow, 0);
        // 489 blocks of 128, every other request of them (the other worker has the rest).
        assert_eq!(entries.len() as u64, 1_000_000_u64.div_ceil(128 * 16) * 64);
        assert!(entries.iter().all(|e| (e.seq / BLOCK) % 16 == 0));
        let small = SendOrderSample::new(SampleSpec {
            mask: 0,
            capacity: 3,
        });
        for seq in 0..5 {
            small.offer(seq, 0, 0, 0);
        }
        assert_eq!((small.entries().0.len(), small.entries().1), (3, 2));
        let none = SendOrderSample::new(SampleSpec::NONE);
        none.offer(0, 0, 0, 0);
        assert_eq!(none.entries(), (Vec::new(), 0));
    }
}
