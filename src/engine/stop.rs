//! Stopping a run early: a [`StopHandle`] and the Ctrl-C / SIGTERM handlers that use it.
//!
//! The first stop request ends sending: the timing loop stops dispatching, in-flight calls get
//! up to their timeout, the report is written and marked interrupted. A second request stops
//! waiting for in-flight calls (they are counted as timeouts). Requesting a stop is
//! async-signal-safe: an atomic increment and a write to the timing loop's eventfd waker.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// Shared between the handle, the timing loop and the collector.
#[derive(Default)]
pub(crate) struct StopState {
    requests: AtomicU32,
    waker: OnceLock<mio::Waker>,
}

impl StopState {
    /// How many times a stop was requested (0: keep running).
    #[inline]
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether the run should stop sending.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.requests() > 0
    }

    /// Requests a stop: the first ends sending, the second ends waiting for in-flight calls.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(waker) = self.waker.get() {
            // A failed wake only delays the stop until the loop's next wake-up.
            let _ = waker.wake();
        }
    }

    /// Lets a stop request wake the timing loop out of `poll`.
    pub fn set_waker(&self, waker: mio::Waker) {
        let _ = self.waker.set(waker);
    }
}

/// Asks a running [`LoadTestRunner`](crate::LoadTestRunner) to stop. Cheap to clone; safe to
/// use from a signal handler.
#[derive(Clone, Default)]
pub struct StopHandle {
    pub(crate) state: Arc<StopState>,
}

impl StopHandle {
    /// Requests a stop: the first ends sending, the second ends waiting for in-flight calls.
    pub fn stop(&self) {
        self.state.request();
    }

    /// How many stops have been requested.
    pub fn requests(&self) -> u32 {
        self.state.requests()
    }
}

static SIGNAL_TARGET: OnceLock<StopHandle> = OnceLock::new();

extern "C" fn on_signal(_signal: libc::c_int) {
    if let Some(handle) = SIGNAL_TARGET.get() {
        handle.stop();
    }
}

/// Routes SIGINT and SIGTERM to `handle.stop()` for the rest of the process's life. Only the
/// first handle passed in is used.
pub fn install_signal_handlers(handle: &StopHandle) -> std::io::Result<()> {
    let _ = SIGNAL_TARGET.set(handle.clone());
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the action is fully initialised; the handler only touches atomics and makes
        // a write(2) call, both async-signal-safe.
        let result = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if result != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
