//! Numbers that hold when the run is repeated: a config run several times (`--repeat N`), and
//! two configs run in randomized interleaved rounds (`openpace ab`, Abedi and Brecht's RMIT).
//!
//! Each run is a fresh start: a new runner, new workers and connections, its own warmup, and a
//! pause of [`PAUSE`] before it, so that one run's sockets and threads are gone before the
//! next. A stop request ends the series after the run in progress (which ends as any run
//! does, with what it measured); what ran is pooled and reported. The statistics across runs
//! are [`crate::metrics::repeated`]'s; this module only runs things, in order.

use std::time::{Duration, Instant};

use crate::cluster::merge::pool;
use crate::config::RunConfig;
use crate::engine::stop::StopHandle;
use crate::engine::{LoadTestRunner, ProgressMode};
use crate::error::Error;
use crate::metrics::RunResult;

/// The pause before each run after the first.
pub const PAUSE: Duration = Duration::from_millis(500);

/// What every run of a series shares.
pub struct Series<'a> {
    /// How progress is shown.
    pub progress: ProgressMode,
    /// Stop requests (signals are routed to it).
    pub stop: &'a StopHandle,
}

impl Series<'_> {
    /// Runs `run` once, after the pause when `pause`; `None` when a stop came first.
    fn one(&self, run: &RunConfig, pause: bool) -> Result<Option<RunResult>, Error> {
        if pause && !self.wait(PAUSE) {
            return Ok(None);
        }
        if self.stop.requests() > 0 {
            return Ok(None);
        }
        let runner = LoadTestRunner::from_run_config(run.clone())?
            .with_progress(self.progress)
            .with_stop_handle(self.stop.clone());
        runner.run().map(Some)
    }

    /// Sleeps `d` unless a stop request comes; returns whether it slept it all.
    fn wait(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stop.requests() > 0 {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        true
    }

    /// Runs `run` `times` times, one after another (`announce` is told each run's number
    /// before it starts), and pools what ran; a single run is returned as it is.
    pub fn repeat(
        &self,
        run: &RunConfig,
        times: u32,
        mut announce: impl FnMut(u32),
    ) -> Result<RunResult, Error> {
        let mut runs = Vec::new();
        for i in 1..=times {
            announce(i);
            match self.one(run, i > 1)? {
                Some(result) => {
                    let interrupted = result.interrupted;
                    runs.push(result);
                    if interrupted {
                        break;
                    }
                }
                None => break,
            }
        }
        match runs.len() {
            0 => Err(Error::Interrupted("before the first run".into())),
            1 => Ok(runs.remove(0)),
            _ => Ok(pool(&runs)?),
        }
    }

    /// Runs `a` and `b` in `rounds` rounds, each round both, in an order drawn from `seed`
    /// (`announce` is told the round and the side, `A` or `B`, before each run, and `ran`
    /// gets each run's result as soon as it ends). Returns each side's runs in round order
    /// and each round's order (`true`: A first). Rounds a stop cut short are left out whole.
    pub fn interleave(
        &self,
        (a, b): (&RunConfig, &RunConfig),
        rounds: u32,
        seed: u64,
        mut announce: impl FnMut(u32, char),
        mut ran: impl FnMut(u32, char, &RunResult),
    ) -> Result<Interleaved, Error> {
        let mut done = Interleaved::default();
        for round in 1..=rounds {
            let a_first = a_first(seed, round);
            let order = if a_first { ['A', 'B'] } else { ['B', 'A'] };
            let mut pair: [Option<RunResult>; 2] = [None, None];
            for (k, side) in order.into_iter().enumerate() {
                announce(round, side);
                let config = if side == 'A' { a } else { b };
                let result = self.one(config, round > 1 || k > 0)?;
                if let Some(result) = &result {
                    ran(round, side, result);
                }
                let Some(result) = result.filter(|r| !r.interrupted) else {
                    return Ok(done);
                };
                pair[usize::from(side == 'B')] = Some(result);
            }
            if let [Some(ra), Some(rb)] = pair {
                done.a.push(ra);
                done.b.push(rb);
                done.a_first.push(a_first);
            }
        }
        Ok(done)
    }
}

/// Whether A runs first in `round` (from 1): balanced, as an ABBA design is, so that running
/// second (a warmer cache, a busier host) weighs on both sides alike: each pair of rounds has
/// one A-first and one B-first round, which of them comes first drawn from `seed`. An odd
/// last round is drawn alone.
pub fn a_first(seed: u64, round: u32) -> bool {
    let pair = u64::from((round.max(1) - 1) / 2);
    let first_of_pair = crate::base::mix64(seed.wrapping_add(pair)) & 1 == 0;
    if round % 2 == 1 {
        first_of_pair
    } else {
        !first_of_pair
    }
}

/// What interleaved rounds ran: each side's runs in round order, and each round's order.
#[derive(Default)]
pub struct Interleaved {
    /// A's runs.
    pub a: Vec<RunResult>,
    /// B's runs.
    pub b: Vec<RunResult>,
    /// Whether A ran first in each round.
    pub a_first: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::a_first;

    /// The order is drawn from the seed, and balanced: each pair of rounds runs AB once and
    /// BA once, so that neither side is second more often (on this VM, running second made
    /// one side of an A/A comparison look slower in 3 of 4 unbalanced rounds).
    #[test]
    fn the_order_of_rounds_is_drawn_from_the_seed_and_balanced() {
        let order = |seed: u64| -> Vec<bool> { (1..=20).map(|r| a_first(seed, r)).collect() };
        assert_eq!(order(7), order(7));
        assert!((0..20).any(|seed| order(seed) != order(7)));
        for seed in 0..50 {
            let o = order(seed);
            assert_eq!(o.iter().filter(|&&x| x).count(), 10, "seed {seed}: {o:?}");
            assert!(
                o.chunks(2).all(|pair| pair[0] != pair[1]),
                "seed {seed}: {o:?}"
            );
        }
        // Which order opens a pair varies with the seed.
        assert!((0..50).any(|seed| a_first(seed, 1)) && (0..50).any(|seed| !a_first(seed, 1)));
    }
}
