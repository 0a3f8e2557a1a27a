//! A hierarchical timer wheel over coarse ticks, driven by the caller's notion of "now".
//!
//! The timing loop keeps each scenario's next send instant here while it is more than a tick
//! away. The wheel only answers "which keys are due by tick `now`" and "when is the next one
//! due"; it holds no clock, so tests drive it tick by tick.
//!
//! Six levels of 64 slots each: level 0 slots are one tick wide, level 1 slots 64 ticks, and
//! so on, covering 2^36 ticks (about 795 days at 1 ms). A key lives at the level where its
//! deadline first differs from the wheel's current tick, so everything at level `l` is due
//! before anything at level `l + 1`; when time reaches a slot above level 0, its keys move down
//! to finer slots. Insertion and expiry are O(1); finding the next deadline is a scan of at
//! most six 64-bit masks. Slot vectors keep their capacity, so after the first few rotations
//! nothing allocates.

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
const LEVELS: usize = 6;
/// Low bits of a tick covered by the top level; deadlines beyond `elapsed | MAX_SPAN` are
/// filed at that tick and come out early (the caller re-files what is not yet due).
const MAX_SPAN: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u32,
    deadline: u64,
}

struct Level {
    /// Bit `s` is set when slot `s` holds at least one entry.
    occupied: u64,
    slots: Vec<Vec<Entry>>,
}

/// Keys with deadlines in ticks; see the module doc.
pub struct TimerWheel {
    levels: Vec<Level>,
    /// The tick the wheel has advanced to: everything due at or before it has been handed out.
    elapsed: u64,
    /// Reused while a slot's entries are redistributed, so that expiry never allocates.
    scratch: Vec<Entry>,
}

impl TimerWheel {
    /// An empty wheel at tick 0 whose slots have room for `keys` entries each up front.
    pub fn new(keys: usize) -> TimerWheel {
        let level = || Level {
            occupied: 0,
            slots: (0..SLOTS).map(|_| Vec::with_capacity(keys)).collect(),
        };
        TimerWheel {
            levels: (0..LEVELS).map(|_| level()).collect(),
            elapsed: 0,
            scratch: Vec::with_capacity(keys),
        }
    }

    /// The tick the wheel has advanced to.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Files `key` to be handed out once the wheel reaches `deadline`. Returns `false`, filing
    /// nothing, when the deadline is not after the current tick: the key is due already.
    pub fn insert(&mut self, key: u32, deadline: u64) -> bool {
        if deadline <= self.elapsed {
            return false;
        }
        let deadline = deadline.min(self.elapsed | MAX_SPAN);
        self.file(Entry { key, deadline });
        true
    }

    fn file(&mut self, entry: Entry) {
        let level = level_for(self.elapsed, entry.deadline);
        let slot = slot_for(entry.deadline, level);
        let lvl = &mut self.levels[level];
        lvl.slots[slot].push(entry);
        lvl.occupied |= 1 << slot;
    }

    /// The first tick at which some key may fall due, or `None` when the wheel is empty.
    /// For keys above level 0 this is the start of their slot, which is at or before their
    /// deadline: waking there lets `advance` move them to a finer level.
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    /// The lowest occupied slot: (level, slot, first tick of the slot).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        self.levels.iter().enumerate().find_map(|(level, lvl)| {
            if lvl.occupied == 0 {
                return None;
            }
            let shift = SLOT_BITS * level as u32;
            // Occupied slots all lie at or after the current position at this level.
            let current = slot_for(self.elapsed, level);
            let ahead = lvl.occupied & (u64::MAX << current);
            let slot = ahead.trailing_zeros() as usize;
            let level_base = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
            Some((level, slot, level_base + ((slot as u64) << shift)))
        })
    }

    /// Advances to tick `now`, appending every key whose deadline is at or before it to `due`.
    pub fn advance(&mut self, now: u64, due: &mut Vec<u32>) {
        if now <= self.elapsed {
            return;
        }
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            let lvl = &mut self.levels[level];
            std::mem::swap(&mut self.scratch, &mut lvl.slots[slot]);
            lvl.occupied &= !(1 << slot);
            self.elapsed = self.elapsed.max(start);
            let mut entries = std::mem::take(&mut self.scratch);
            for entry in entries.drain(..) {
                if entry.deadline <= now {
                    due.push(entry.key);
                } else {
                    self.file(entry);
                }
            }
            self.scratch = entries;
        }
        self.elapsed = now;
    }
}

/// The level at which a deadline is filed: the 6-bit group of its highest bit that differs
/// from the current tick.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let differing = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let highest_bit = 63 - differing.leading_zeros();
    ((highest_bit / SLOT_BITS) as usize).min(LEVELS - 1)
}

fn slot_for(tick: u64, level: usize) -> usize {
    ((tick >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_at_their_tick_and_not_before() {
        let mut wheel = TimerWheel::new(4);
        assert!(wheel.insert(1, 5));
        assert!(wheel.insert(2, 70));
        assert!(wheel.insert(3, 5000));
        let mut due = Vec::new();
        wheel.advance(4, &mut due);
        assert!(due.is_empty());
        wheel.advance(5, &mut due);
        assert_eq!(due, vec![1]);
        wheel.advance(69, &mut due);
        assert_eq!(due, vec![1]);
        wheel.advance(70, &mut due);
        assert_eq!(due, vec![1, 2]);
        wheel.advance(4999, &mut due);
        assert_eq!(due.len(), 2);
        wheel.advance(5000, &mut due);
        assert_eq!(due, vec![1, 2, 3]);
        assert_eq!(wheel.next_expiration(), None);
    }

    #[test]
    fn a_deadline_not_in_the_future_is_refused() {
        let mut wheel = TimerWheel::new(1);
        let mut due = Vec::new();
        wheel.advance(10, &mut due);
        assert!(!wheel.insert(7, 10));
        assert!(!wheel.insert(7, 3));
        assert!(wheel.insert(7, 11));
    }

    #[test]
    fn next_expiration_never_passes_a_deadline() {
        let mut wheel = TimerWheel::new(2);
        wheel.insert(0, 200_000);
        let mut due = Vec::new();
        // Walk the wheel the way the timing loop does: jump to each reported expiration.
        let mut wakeups = 0;
        while let Some(at) = wheel.next_expiration() {
            assert!(at <= 200_000);
            wheel.advance(at, &mut due);
            wakeups += 1;
        }
        assert_eq!(due, vec![0]);
        // One wake-up per level the key cascades through, not one per tick.
        assert!(wakeups <= LEVELS, "{wakeups}");
    }

    #[test]
    fn matches_a_sorted_reference_under_random_use() {
        // A small deterministic generator keeps the test self-contained.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut wheel = TimerWheel::new(8);
        let mut pending: Vec<(u64, u32)> = Vec::new();
        let mut now = 0u64;
        let mut due = Vec::new();
        for key in 0..20_000u32 {
            let deadline = now + 1 + rand() % [3, 70, 5000, 300_000][key as usize % 4];
            assert!(wheel.insert(key, deadline));
            pending.push((deadline, key));
            if key % 3 == 0 {
                now += rand() % 400;
                due.clear();
                wheel.advance(now, &mut due);
                let mut expected: Vec<u32> = pending
                    .iter()
                    .filter(|(d, _)| *d <= now)
                    .map(|&(_, k)| k)
                    .collect();
                pending.retain(|(d, _)| *d > now);
                expected.sort_unstable();
                due.sort_unstable();
                assert_eq!(due, expected, "at tick {now}");
                if let Some(first) = pending.iter().map(|&(d, _)| d).min() {
                    assert!(wheel.next_expiration().unwrap() <= first);
                }
            }
        }
    }
}
