//! Thin, safe wrappers over the system calls openpace needs beyond `std`: signals through a
//! self-pipe, descriptor flags, process groups, resource usage and limits. Each `unsafe`
//! block of the crate outside the clock, the host and the atomic histogram is here, with
//! its SAFETY note.

use std::ffi::CStr;
use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};

/// The write end of the pipe the signal handlers write to (-1 before installation).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
/// The last stop signal received (0: none yet).
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signals that stop a run: Ctrl-C, `kill`, and a hang-up (the terminal closed, or the ssh
/// connection dropped).
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    // An atomic store is async-signal-safe.
    LAST_SIGNAL.store(signal, Ordering::Relaxed);
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe
        // (hundreds of unread signals) drops this one instead of blocking the handler.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// The last stop signal received, if any.
pub fn last_stop_signal() -> Option<libc::c_int> {
    match LAST_SIGNAL.load(Ordering::Relaxed) {
        0 => None,
        s => Some(s),
    }
}

/// The width in columns of the terminal on standard error; `None` when standard error is not
/// a terminal or the terminal does not say.
pub fn terminal_columns() -> Option<usize> {
    // SAFETY: winsize is plain integers; all zeros is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which outlives the call; on a
    // descriptor that is not a terminal it fails and writes nothing.
    let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// The exit code of a command a stop signal ended: 129 after a hang-up (128 + SIGHUP, as a
/// shell reports it), else 130 (Ctrl-C and SIGTERM alike).
pub fn interrupted_exit_code() -> u8 {
    if last_stop_signal() == Some(libc::SIGHUP) {
        129
    } else {
        130
    }
}

/// Calls `on_stop` on a thread of its own (never in a signal handler) for every SIGINT,
/// SIGTERM and SIGHUP. Installed once per process: later calls do nothing and return `Ok`.
pub fn on_stop_signals(on_stop: fn()) -> io::Result<()> {
    static INSTALL: Once = Once::new();
    let mut result = Ok(());
    INSTALL.call_once(|| result = install(on_stop));
    result
}

fn install(on_stop: fn()) -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: a two-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    set_nonblocking(write_end, true)?;
    std::thread::Builder::new()
        .name("openpace-signals".to_string())
        .spawn(move || {
            let mut byte = 0u8;
            loop {
                // SAFETY: reading one byte into a one-byte buffer from our own pipe.
                let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    on_stop();
                } else if n == 0 {
                    return;
                }
            }
        })?;
    SIGNAL_PIPE.store(write_end, Ordering::SeqCst);
    for signal in STOP_SIGNALS {
        // SAFETY: the action is fully initialised; the handler only makes a write(2) call,
        // which is async-signal-safe.
        let result = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sets or clears `O_NONBLOCK` on `fd`, a descriptor the caller owns.
pub fn set_nonblocking(fd: i32, nonblocking: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns; flags are read, then set.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Kills process group `group` with SIGKILL (0 or less: does nothing).
pub fn kill_group(group: i32) {
    if group > 0 {
        // SAFETY: kill(2) with a negative pid signals that group; no memory is involved.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Whether process group `group` still has a member (0 or less: no).
pub fn group_alive(group: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the group exists; nothing is sent.
    group > 0 && unsafe { libc::kill(-group, 0) } == 0
}

/// Whether this process may write to `path` (access(2) with `W_OK`), without opening it.
pub fn may_write(path: &CStr) -> io::Result<()> {
    // SAFETY: a valid C string; access(2) only reads the file system.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The SCHED_FIFO priority `--realtime` gives the timing loop: above every normal thread and
/// the default of most tools (cyclictest's 80 and the kernel's own 50 for threaded IRQs are
/// left above or level), so that an interrupt's thread is not starved by it.
pub const REALTIME_PRIORITY: i32 = 49;

/// Lowers the calling thread's priority to `nice` (0 to 19), so that it takes the CPU only
/// when the run's own threads leave it; best effort.
pub fn lower_priority(nice: i32) {
    // SAFETY: gettid and setpriority take plain integers; PRIO_PROCESS with a thread id
    // applies to that thread alone on Linux.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

/// Puts the calling thread under SCHED_FIFO at `priority`: no normal thread preempts it.
pub fn realtime_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; the parameter is valid for the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this process may put a thread under SCHED_FIFO at `priority`: tried on a
/// short-lived thread, which then ends.
pub fn may_realtime(priority: i32) -> io::Result<()> {
    std::thread::spawn(move || realtime_fifo(priority))
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the probing thread panicked")))
}

/// Every page of the process locked in RAM, now and later (mlockall(2)) until dropped, so
/// that no page fault or swap-in stalls the timing loop or a worker.
pub struct MemoryLock(());

impl MemoryLock {
    /// Locks the process's memory; fails without CAP_IPC_LOCK or a large enough
    /// RLIMIT_MEMLOCK.
    pub fn lock() -> io::Result<MemoryLock> {
        // SAFETY: mlockall takes flags only.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0 {
            Ok(MemoryLock(()))
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        // SAFETY: munlockall takes no arguments.
        unsafe { libc::munlockall() };
    }
}

/// Busy-polls socket `fd` for `usecs` microseconds on a blocking read or poll with no data
/// (SO_BUSY_POLL): the device queue is polled instead of waiting for its interrupt.
pub fn set_busy_poll(fd: i32, usecs: u32) -> io::Result<()> {
    let value = usecs as libc::c_int;
    // SAFETY: the option value is a valid c_int for the length given.
    let done = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BUSY_POLL,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether this process may set SO_BUSY_POLL to `usecs` (above `net.core.busy_read` it needs
/// CAP_NET_ADMIN): tried on a fresh TCP socket.
pub fn may_busy_poll(usecs: u32) -> io::Result<()> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    set_busy_poll(std::os::fd::AsRawFd::as_raw_fd(&socket), usecs)
}

/// `struct epoll_params` of linux/eventpoll.h (Linux 6.9).
#[repr(C)]
struct EpollParams {
    busy_poll_usecs: u32,
    busy_poll_budget: u16,
    prefer_busy_poll: u8,
    pad: u8,
}

/// `EPIOCSPARAMS`: `_IOW(0x8A, 0x01, struct epoll_params)`.
const EPIOCSPARAMS: libc::c_ulong = 0x4008_8A01;

/// Makes epoll instance `epfd` busy-poll its sockets' device queues for `usecs` microseconds
/// before it sleeps (EPIOCSPARAMS, Linux 6.9 or later; a budget of 8 packets, which needs no
/// privilege). Fails with ENOTTY or EINVAL on older kernels.
pub fn set_epoll_busy_poll(epfd: i32, usecs: u32) -> io::Result<()> {
    let params = EpollParams {
        busy_poll_usecs: usecs,
        busy_poll_budget: 8,
        prefer_busy_poll: 0,
        pad: 0,
    };
    // SAFETY: the argument points at a valid epoll_params for the duration of the call.
    if unsafe { libc::ioctl(epfd, EPIOCSPARAMS as _, &params as *const EpollParams) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the whole process (dead threads included) has used so far: getrusage(2).
#[derive(Clone, Copy, Debug, Default)]
pub struct SelfUsage {
    /// User CPU time, ns.
    pub user_ns: u64,
    /// System CPU time, ns.
    pub system_ns: u64,
    /// Peak resident set, KiB.
    pub max_rss_kb: u64,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches (preemptions).
    pub involuntary_switches: u64,
}

/// Reads [`SelfUsage`].
pub fn self_usage() -> SelfUsage {
    // SAFETY: rusage is plain data, fully written by a successful getrusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; RUSAGE_SELF always exists.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000;
    SelfUsage {
        user_ns: ns(usage.ru_utime),
        system_ns: ns(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss as u64,
        voluntary_switches: usage.ru_nvcsw as u64,
        involuntary_switches: usage.ru_nivcsw as u64,
    }
}

/// Raises the soft limit on open files to `needed`, up to the hard limit. Returns the hard
/// limit when even it is below `needed`; `None` when the limit is enough (or unreadable).
pub fn raise_open_files(needed: u64) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid, writable rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 || limit.rlim_cur >= needed
    {
        return None;
    }
    let raised = libc::rlimit {
        rlim_cur: needed.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above; raising the soft limit up to the hard one needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    (raised.rlim_cur < needed).then_some(limit.rlim_max)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// The size of a memory page in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// Lets freed large blocks go back to the heap for reuse instead of to the kernel: glibc hands
/// out and returns a block of 128 KiB or more with mmap and munmap, so code that decodes a
/// histogram (a ~300 KB buffer) thousands of times spends most of its time in page faults and
/// zeroing fresh pages (`tools/bench-merge.sh 1000`: 6.8-7.9 s, 0.9-1.0 s with this).
/// For the commands that read many saved reports; a run's hot path allocates nothing.
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
