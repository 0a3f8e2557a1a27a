//! A single-writer HdrHistogram recorder that other threads can read at any time.
//!
//! Each worker records into its own `AtomicHistogram`: the bucket layout of an HdrHistogram
//! with 3 significant digits, 1 ns resolution and a 1 hour ceiling, stored as `AtomicU64`
//! counts. Only the owning thread writes, so a record is a relaxed load and store (the same
//! machine code as a plain increment on x86), with no lock and no read-modify-write. The
//! collector sums the counts whenever it likes and subtracts what it saw last time to get an
//! interval. A worker never has to hand anything over, so a worker stuck in a call cannot hold
//! back or lose what it had already measured.
//!
//! Counts are converted into `hdrhistogram::Histogram`s for percentiles, merging and
//! serialization; [`value_for`] gives each index's lowest value, which lands in the same bucket
//! of a histogram built with [`new_histogram`] (a unit test checks the two layouts agree).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hdrhistogram::Histogram;

/// Significant decimal digits kept by every openpace histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// The largest value recorded, in nanoseconds (one hour); larger values are clamped to it.
pub const HIGHEST_NS: u64 = 3_600_000_000_000;

/// Sub-buckets per bucket: the smallest power of two >= 2 * 10^3.
const SUB_BUCKET_BITS: u32 = 11;
const SUB_BUCKET_HALF_BITS: u32 = SUB_BUCKET_BITS - 1;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_BITS;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_BITS) - 1;
/// Leading zeros of the largest value that fits in bucket 0, plus one.
const LEADING_ZERO_BASE: u32 = 64 - SUB_BUCKET_BITS;
/// Number of count slots needed to reach [`HIGHEST_NS`].
pub const COUNTS_LEN: usize = index_for(HIGHEST_NS) + 1;

/// Adds `n` to a counter that only the calling thread writes: a relaxed load and store, as
/// every single-writer recorder does.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// The count slot of a value (clamped to [`HIGHEST_NS`]).
#[inline]
pub const fn index_for(value: u64) -> usize {
    let value = if value > HIGHEST_NS {
        HIGHEST_NS
    } else {
        value
    };
    let bucket = LEADING_ZERO_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = (value >> bucket) as usize;
    // Bucket 0 uses all its sub-buckets; later buckets only their upper half.
    ((bucket as usize + 1) << SUB_BUCKET_HALF_BITS) + sub_bucket - SUB_BUCKET_HALF
}

/// The lowest value that lands in count slot `index`.
pub const fn value_for(index: usize) -> u64 {
    let bucket = (index >> SUB_BUCKET_HALF_BITS) as i64 - 1;
    let sub_bucket = (index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if bucket < 0 {
        (sub_bucket - SUB_BUCKET_HALF) as u64
    } else {
        (sub_bucket as u64) << bucket
    }
}

/// An empty histogram with the same layout as every [`AtomicHistogram`].
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// Lock-free histogram with one writer and any number of readers; see the module doc.
pub struct AtomicHistogram {
    counts: Box<[AtomicU64]>,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram::new()
    }
}

/// Histogram memory made resident when allocated, over the whole process: up to this much,
/// a histogram's pages are touched at once (see `prefault`); past it, lazily.
pub const PREFAULT_BUDGET: usize = 512 << 20;

/// Touches every page of `counts` now, while the process-wide [`PREFAULT_BUDGET`] lasts.
///
/// Zero-filled memory comes from the kernel untouched: its first write to each page faults
/// (about a microsecond, plus zeroing 4 KiB). Left lazy, a histogram's pages become
/// resident one at a time as values reach new ranges, so a worker's record of a rare tail
/// value pays a page fault on the hot path, and the process grows all run long: in a 40-s
/// run at 100,000 RPS, from 13.3 to 15.2 MB at ~50 KB per interval. Touched up front,
/// resident memory is set at the start and stays flat.
fn prefault<T>(counts: &mut [T]) {
    static USED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let bytes = std::mem::size_of_val(counts);
    if USED.fetch_add(bytes, Relaxed) + bytes > PREFAULT_BUDGET {
        return;
    }
    let per_page = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    let base = counts.as_mut_ptr();
    for index in (0..counts.len()).step_by(per_page) {
        // SAFETY: `index` is in bounds of the exclusively borrowed slice; writing back the
        // byte just read changes nothing but makes the page resident (volatile, so that it
        // is not optimised away).
        unsafe {
            let p = base.add(index).cast::<u8>();
            std::ptr::write_volatile(p, std::ptr::read_volatile(p));
        }
    }
}

impl AtomicHistogram {
    /// A zeroed histogram, resident at once (within [`PREFAULT_BUDGET`]).
    pub fn new() -> AtomicHistogram {
        let zeros = std::mem::ManuallyDrop::new(vec![0u64; COUNTS_LEN]);
        // SAFETY: AtomicU64 has the same size, alignment and bit validity as u64, and the
        // buffer's ownership moves from the forgotten Vec<u64> to the new one.
        let counts = unsafe {
            let mut zeros = zeros;
            Vec::from_raw_parts(
                zeros.as_mut_ptr().cast::<AtomicU64>(),
                zeros.len(),
                zeros.capacity(),
            )
        };
        let mut counts = counts.into_boxed_slice();
        prefault(&mut counts);
        AtomicHistogram { counts }
    }

    /// Records one value. Only the owning thread may call this.
    #[inline]
    pub fn record(&self, value: u64) {
        let slot = &self.counts[index_for(value)];
        slot.store(slot.load(Relaxed) + 1, Relaxed);
    }

    /// The count in slot `index` so far.
    #[inline]
    fn count(&self, index: usize) -> u64 {
        self.counts[index].load(Relaxed)
    }
}

/// Turns successive readings of cumulative counts into interval histograms.
pub struct DeltaReader {
    /// Counts seen at the last reading (resident at once, like the histograms').
    previous: Vec<u64>,
}

impl Default for DeltaReader {
    fn default() -> Self {
        DeltaReader::new()
    }
}

impl DeltaReader {
    /// A reader that has seen nothing yet.
    pub fn new() -> DeltaReader {
        let mut previous = vec![0; COUNTS_LEN];
        prefault(&mut previous);
        DeltaReader { previous }
    }

    /// Reads `sources` (all recorders of one metric), records everything they gained since
    /// the last call into `interval`, and returns how many values that was.
    pub fn read<'a>(
        &mut self,
        sources: impl IntoIterator<Item = &'a AtomicHistogram>,
        interval: &mut Histogram<u64>,
    ) -> u64 {
        let sources: Vec<&AtomicHistogram> = sources.into_iter().collect();
        let mut gained = 0;
        for (index, before) in self.previous.iter_mut().enumerate() {
            let now: u64 = sources.iter().map(|s| s.count(index)).sum();
            if now != *before {
                let delta = now - *before;
                interval
                    .record_n(value_for(index), delta)
                    .expect("values within the shared layout always fit");
                *before = now;
                gained += delta;
            }
        }
        gained
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdrhistogram() {
        let reference = new_histogram();
        let mut value = 0u64;
        while value <= HIGHEST_NS {
            let index = index_for(value);
            assert_eq!(
                value_for(index),
                reference.lowest_equivalent(value),
                "{value}"
            );
            assert!(index < COUNTS_LEN);
            // Walk every bucket densely at first, then geometrically with odd offsets.
            value = if value < 10_000 {
                value + 1
            } else {
                value + value / 997 + 1
            };
        }
        assert_eq!(index_for(u64::MAX), index_for(HIGHEST_NS));
    }

    #[test]
    fn intervals_add_up_to_the_total() {
        let recorders = [AtomicHistogram::new(), AtomicHistogram::new()];
        let mut reader = DeltaReader::new();
        let mut first = new_histogram();
        for v in [5, 1_000, 20_000_000] {
            recorders[0].record(v);
        }
        recorders[1].record(7_000);
        assert_eq!(reader.read(&recorders, &mut first), 4);
        let mut second = new_histogram();
        recorders[1].record(20_000_000);
        assert_eq!(reader.read(&recorders, &mut second), 1);
        assert_eq!(second.len(), 1);
        assert_eq!(second.max(), second.highest_equivalent(20_000_000));
        let mut total = first.clone();
        total.add(&second).unwrap();
        assert_eq!(total.len(), 5);
        assert_eq!(total.count_at(20_000_000), 2);
        assert_eq!(total.min(), 5);
    }

    #[test]
    fn concurrent_reads_lose_nothing() {
        let recorder = std::sync::Arc::new(AtomicHistogram::new());
        let writer = {
            let recorder = recorder.clone();
            std::thread::spawn(move || {
                for i in 0..200_000u64 {
                    recorder.record(i % 5_000 * 1_000);
                }
            })
        };
        let mut reader = DeltaReader::new();
        let mut total = new_histogram();
        while !writer.is_finished() {
            reader.read([&*recorder], &mut total);
        }
        writer.join().unwrap();
        reader.read([&*recorder], &mut total);
        assert_eq!(total.len(), 200_000);
    }
}
