//! Stopping a run early: a [`StopHandle`], the Ctrl-C / SIGTERM handlers that use it, and
//! each run's own view of stopping (`RunStop`).
//!
//! A stop request, at any moment, ends the run within about a second: the timing loop stops
//! sending at once and gives up its backlog (counted as abandoned), calls in flight get up to
//! [`STOP_GRACE`] to finish, then whatever is still queued or running is abandoned (counted as
//! timeouts) and the report is assembled, marked interrupted. A second request abandons at
//! once. `abort_on_fail` abandons at once too, but only the run it belongs to: a
//! [`StopHandle`] may be shared by several runs in turn (`openpace capacity` runs one per step),
//! and one run's abort must not stop the next.
//!
//! Signal handlers do the one thing that is async-signal-safe and quick: they write a byte to
//! a pipe. A thread reads the pipe and calls [`StopHandle::stop`] on the handle signals are
//! routed to, which [`install_signal_handlers`] may change at any time.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long calls in flight may still finish after a stop request before they are abandoned.
pub const STOP_GRACE: Duration = Duration::from_millis(500);

/// The requests made through a [`StopHandle`], and the waker of the run that should hear them.
#[derive(Default)]
pub(crate) struct StopState {
    requests: AtomicU32,
    waker: Mutex<Option<Arc<mio::Waker>>>,
}

impl StopState {
    /// How many times a stop was requested (0: keep running).
    #[inline]
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests a stop: the first ends sending, the second abandons what is in flight.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the run that listens, if any, out of its sleep.
    fn wake(&self) {
        if let Ok(slot) = self.waker.lock() {
            if let Some(waker) = slot.as_ref() {
                // A failed wake only delays the stop until the loop's next wake-up.
                let _ = waker.wake();
            }
        }
    }

    /// Lets a stop request wake the current run's timing loop out of `poll`.
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        if let Ok(mut slot) = self.waker.lock() {
            *slot = Some(waker);
        }
    }
}

/// Asks a running [`LoadTestRunner`](crate::LoadTestRunner) to stop. Cheap to clone; one handle
/// may serve several runs in turn.
#[derive(Clone, Default)]
pub struct StopHandle {
    pub(crate) state: Arc<StopState>,
}

impl StopHandle {
    /// Requests a stop: the first ends sending and gives calls in flight [`STOP_GRACE`] to
    /// finish, the second abandons them at once.
    pub fn stop(&self) {
        self.state.request();
    }

    /// How many stops have been requested.
    pub fn requests(&self) -> u32 {
        self.state.requests()
    }
}

/// One run's view of stopping: the user's requests, and the run's own abort and abandon.
pub(crate) struct RunStop {
    user: Arc<StopState>,
    aborted: AtomicBool,
    abandon: AtomicBool,
}

impl RunStop {
    /// A run that hears the requests of `user`.
    pub fn new(user: &StopHandle) -> RunStop {
        RunStop {
            user: user.state.clone(),
            aborted: AtomicBool::new(false),
            abandon: AtomicBool::new(false),
        }
    }

    /// Whether sending should end.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.user.requests() > 0 || self.aborted.load(Ordering::Relaxed)
    }

    /// Whether queued and running requests are given up: workers take no more and leave.
    /// One load, since workers ask before every request; the collector turns a second stop
    /// request into this ([`second_request`](Self::second_request)).
    #[inline]
    pub fn abandoning(&self) -> bool {
        self.abandon.load(Ordering::Relaxed)
    }

    /// Whether the user asked twice: give up what is in flight at once.
    pub fn second_request(&self) -> bool {
        self.user.requests() >= 2
    }

    /// Stops this run at once and abandons what is queued and in flight (`abort_on_fail`).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.abandon.store(true, Ordering::SeqCst);
        self.user.wake();
    }

    /// Gives up what is queued and in flight: the grace after a stop is over.
    pub fn abandon(&self) {
        self.abandon.store(true, Ordering::SeqCst);
    }

    /// The run's timing loop sleeps on `waker`'s poll; stop requests wake it.
    pub fn set_waker(&self, waker: Arc<mio::Waker>) {
        self.user.set_waker(waker);
    }
}

/// The handle signals are routed to.
static SIGNAL_TARGET: Mutex<Option<StopHandle>> = Mutex::new(None);

/// Routes SIGINT and SIGTERM to `handle.stop()` from now on; a later call routes them to
/// another handle. The handlers are installed once per process.
pub fn install_signal_handlers(handle: &StopHandle) -> std::io::Result<()> {
    if let Ok(mut target) = SIGNAL_TARGET.lock() {
        *target = Some(handle.clone());
    }
    crate::base::sys::on_stop_signals(|| {
        let target = SIGNAL_TARGET.lock().ok().and_then(|t| t.clone());
        if let Some(handle) = target {
            handle.stop();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_stops_its_own_run_and_not_the_next() {
        let handle = StopHandle::default();
        let first = RunStop::new(&handle);
        first.abort();
        assert!(first.stopping() && first.abandoning());
        let second = RunStop::new(&handle);
        assert!(!second.stopping() && !second.abandoning());
        handle.stop();
        assert!(second.stopping() && !second.second_request());
        handle.stop();
        assert!(second.second_request() && !second.abandoning());
        second.abandon();
        assert!(second.abandoning());
    }
}
