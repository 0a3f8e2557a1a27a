//! Floors: what the machine itself costs for each step the engine takes.
//!
//! Each probe measures one primitive the way the engine uses it (a clock read, a histogram
//! record, a hand-off between two pinned threads, a spin loop chasing deadlines) and returns
//! a histogram in nanoseconds or a cost per operation. `openpace calibrate` and the engine
//! bench print openpace's figures beside these.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::base::WaitMode;
use crate::base::clock::RunClock;
use crate::metrics::atomic_hist::{AtomicHistogram, new_histogram};

/// Pins the calling thread if a core is given.
fn pin(core: Option<usize>) {
    if let Some(core) = core {
        core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
}

/// Nanoseconds per `Instant::now()`.
pub fn clock_read_ns() -> f64 {
    let n = 2_000_000;
    let start = Instant::now();
    for _ in 0..n {
        black_box(Instant::now());
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per record into an `hdrhistogram::Histogram` and into openpace's own
/// recorder.
pub fn record_ns() -> (f64, f64) {
    let n = 5_000_000u64;
    let value = |i: u64| 1_000 + (i * 7919) % 1_000_000;
    let mut hdr = new_histogram();
    let start = Instant::now();
    for i in 0..n {
        hdr.record(black_box(value(i))).expect("in range");
    }
    let hdr_ns = start.elapsed().as_nanos() as f64 / n as f64;
    let atomic = AtomicHistogram::new();
    let start = Instant::now();
    for i in 0..n {
        atomic.record(black_box(value(i)));
    }
    (hdr_ns, start.elapsed().as_nanos() as f64 / n as f64)
}

/// One-way latency of a crossbeam hand-off from `from` to `to`, with the receiver waiting as
/// a worker does in `mode` (spin: polling; hybrid: polling for 50 µs, then blocked; sleep:
/// blocked). Messages go out every `gap` for `duration`.
pub fn hand_off(
    from: Option<usize>,
    to: Option<usize>,
    mode: WaitMode,
    gap: Duration,
    duration: Duration,
) -> Histogram<u64> {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    let clock = RunClock::starting_in(Duration::ZERO);
    let n = (duration.as_nanos() / gap.as_nanos().max(1)).max(1) as usize;
    let gap_ns = gap.as_nanos() as u64;
    std::thread::scope(|s| {
        let receiver = s.spawn(move || {
            pin(to);
            let mut h = new_histogram();
            loop {
                let spin_until = clock.now_ns()
                    + match mode {
                        WaitMode::Spin => u64::MAX / 2,
                        WaitMode::Hybrid => 50_000,
                        WaitMode::Sleep => 0,
                    };
                let sent = loop {
                    match rx.try_recv() {
                        Ok(v) => break Some(v),
                        Err(crossbeam_channel::TryRecvError::Disconnected) => break None,
                        Err(crossbeam_channel::TryRecvError::Empty) => {}
                    }
                    if clock.now_ns() >= spin_until {
                        break rx.recv().ok();
                    }
                    std::hint::spin_loop();
                };
                let Some(sent) = sent else { break h };
                let _ = h.record(clock.now_ns().saturating_sub(sent).max(1));
            }
        });
        s.spawn(move || {
            pin(from);
            let mut next = clock.now_ns();
            for _ in 0..n {
                next += gap_ns;
                while clock.now_ns() < next {
                    std::hint::spin_loop();
                }
                let _ = tx.send(clock.now_ns());
            }
        });
        receiver.join().expect("the receiver does not panic")
    })
}

/// Messages per second through one bounded channel from `from` to `to`.
pub fn channel_throughput(from: Option<usize>, to: Option<usize>, messages: u64) -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(4096);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            pin(to);
            let mut sum = 0;
            while let Ok(v) = rx.recv() {
                sum += v;
            }
            black_box(sum);
        });
        s.spawn(move || {
            pin(from);
            for i in 0..messages {
                let _ = tx.send(i);
            }
        });
    });
    messages as f64 / start.elapsed().as_secs_f64()
}

/// How long `mio::Poll::poll` with a 100 µs timeout really waits, `n` times.
pub fn poll_100us(n: usize) -> Histogram<u64> {
    let mut h = new_histogram();
    let Ok(mut poll) = mio::Poll::new() else {
        return h;
    };
    let mut events = mio::Events::with_capacity(4);
    for _ in 0..n {
        let start = Instant::now();
        let _ = poll.poll(&mut events, Some(Duration::from_micros(100)));
        let _ = h.record(start.elapsed().as_nanos() as u64);
    }
    h
}

/// How late the host wakes a thread on `core` that sleeps on a `mio::Poll` to an instant
/// `sleep_ns` ahead with a `timerfd`, as a network worker does before its spin window: `n`
/// lateness samples in ns, in the order measured (empty if no timer could be made).
pub fn wake_ups(core: Option<usize>, n: usize, sleep_ns: u64) -> Vec<u64> {
    std::thread::spawn(move || {
        pin(core);
        let mut late = Vec::with_capacity(n);
        let (Ok(mut poll), Ok(timer)) = (mio::Poll::new(), crate::base::timerfd::TimerFd::new())
        else {
            return late;
        };
        if timer.register(&poll, mio::Token(0)).is_err() {
            return late;
        }
        let mut events = mio::Events::with_capacity(4);
        for _ in 0..n {
            if let Some(l) = timer.time_a_sleep(&mut poll, &mut events, mio::Token(0), sleep_ns) {
                late.push(l);
            }
        }
        late
    })
    .join()
    .unwrap_or_default()
}

/// How far `thread::sleep(100 µs)` overshoots, `n` times.
pub fn sleep_overshoot(n: usize) -> Histogram<u64> {
    let mut h = new_histogram();
    for _ in 0..n {
        let start = Instant::now();
        std::thread::sleep(Duration::from_micros(100));
        let _ = h.record(
            (start.elapsed().as_nanos() as u64)
                .saturating_sub(100_000)
                .max(1),
        );
    }
    h
}

/// Lateness of a bare spin loop chasing a deadline every 10 µs on `core` for `duration`,
/// while another thread spins on `neighbour` (as the timing loop and a worker do in spin
/// mode): the floor of what a spinning thread on this core can do.
pub fn bare_spin(
    core: Option<usize>,
    neighbour: Option<usize>,
    duration: Duration,
) -> Histogram<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let spinner = {
            let stop = stop.clone();
            s.spawn(move || {
                pin(neighbour);
                let clock = RunClock::starting_in(Duration::ZERO);
                while !stop.load(Ordering::Relaxed) {
                    black_box(clock.now_ns());
                }
            })
        };
        let h = s
            .spawn(move || {
                pin(core);
                let clock = RunClock::starting_in(Duration::ZERO);
                let mut h = new_histogram();
                let mut deadline = clock.now_ns();
                let end = deadline + duration.as_nanos() as u64;
                while deadline < end {
                    deadline += 10_000;
                    let mut now = clock.now_ns();
                    while now < deadline {
                        std::hint::spin_loop();
                        now = clock.now_ns();
                    }
                    let _ = h.record((now - deadline).max(1));
                }
                h
            })
            .join()
            .expect("the spinner does not panic");
        stop.store(true, Ordering::Relaxed);
        let _ = spinner.join();
        h
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_return_plausible_figures() {
        assert!((1.0..10_000.0).contains(&clock_read_ns()));
        let (hdr, atomic) = record_ns();
        assert!(hdr > 0.0 && atomic > 0.0);
        let h = hand_off(
            None,
            None,
            WaitMode::Sleep,
            Duration::from_micros(500),
            Duration::from_millis(50),
        );
        assert!(h.len() >= 50, "{}", h.len());
        assert!(poll_100us(3).min() >= 100_000);
        assert_eq!(sleep_overshoot(3).len(), 3);
        assert!(channel_throughput(None, None, 10_000) > 0.0);
        assert!(bare_spin(None, None, Duration::from_millis(20)).len() >= 1_000);
    }
}
