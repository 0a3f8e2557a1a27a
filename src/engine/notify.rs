//! `--notify-cmd`: run a command for each alert and once at the end, with JSON on its stdin.
//!
//! Notifications go through a bounded queue to a thread of their own, which runs the command
//! with `sh -c` one message at a time and gives each at most [`COMMAND_TIMEOUT`]. The command
//! runs in a process group of its own, so that a kill reaches whatever it started, not only
//! the shell. Its stdin is written by the same thread, without blocking, while the clock
//! already runs: a command that never reads a large message is killed on time instead of
//! holding the writer. A command that fails, hangs or cannot start is reported (in the run's
//! warnings) and never blocks or breaks the run: a full queue drops the notification and says
//! so. At the end of a run, what is still running after the grace period is killed (its whole
//! group), what is still queued is dropped, and both are reported.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError, bounded};

use crate::base::sys::{group_alive, kill_group, set_nonblocking};

/// How long one run of the command may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of a run waits for notifications still queued or running.
pub const END_GRACE: Duration = Duration::from_secs(2);
/// Notifications waiting at most; more are dropped, with a warning.
const QUEUE: usize = 64;
/// How often a running command is looked at (and its stdin fed).
const POLL: Duration = Duration::from_millis(5);

/// What the notifier thread and its owner share.
#[derive(Default)]
struct Shared {
    /// Process group of the command running now (0: none).
    running: AtomicI32,
    /// Set at the end of the grace: kill what runs, start nothing more.
    stop: AtomicBool,
    /// Notifications given up at the end, still queued.
    skipped: AtomicU64,
}

/// Runs the notify command in the background; see the module doc.
pub struct Notifier {
    queue: Option<Sender<String>>,
    worker: Option<JoinHandle<Vec<String>>>,
    shared: Arc<Shared>,
    dropped: u64,
}

impl Notifier {
    /// Starts the thread that runs `command` for each notification.
    pub fn start(command: String) -> std::io::Result<Notifier> {
        Notifier::with_timeout(command, COMMAND_TIMEOUT)
    }

    /// As [`start`](Self::start), with another limit per command (tests).
    fn with_timeout(command: String, timeout: Duration) -> std::io::Result<Notifier> {
        let (queue, messages) = bounded::<String>(QUEUE);
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let worker = std::thread::Builder::new()
            .name("openpace-notify".to_string())
            .spawn(move || {
                let mut problems = Vec::new();
                for message in messages {
                    if theirs.stop.load(Ordering::SeqCst) {
                        theirs.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Err(problem) = run_once(&command, &message, timeout, &theirs) {
                        problems.push(problem);
                    }
                }
                problems
            })?;
        Ok(Notifier {
            queue: Some(queue),
            worker: Some(worker),
            shared,
            dropped: 0,
        })
    }

    /// Queues one notification without waiting.
    pub fn send(&mut self, json: String) {
        if let Some(queue) = &self.queue {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(json)
            {
                self.dropped += 1;
            }
        }
    }

    /// Lets queued notifications run for up to `grace`; then kills the command still running
    /// (its whole process group), drops what is still queued, and returns what went wrong.
    pub fn finish(mut self, grace: Duration) -> Vec<String> {
        self.queue = None;
        let mut problems = Vec::new();
        if self.dropped > 0 {
            problems.push(format!(
                "notify command: {} notification(s) dropped because {QUEUE} were already waiting",
                self.dropped
            ));
        }
        let Some(worker) = self.worker.take() else {
            return problems;
        };
        let deadline = Instant::now() + grace;
        while !worker.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !worker.is_finished() {
            self.shared.stop.store(true, Ordering::SeqCst);
            kill_group(self.shared.running.load(Ordering::SeqCst));
            // The thread notices the kill within a poll and skips what is still queued.
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        problems.extend(worker.join().unwrap_or_default());
        let skipped = self.shared.skipped.load(Ordering::Relaxed);
        if skipped > 0 {
            problems.push(format!(
                "notify command: {skipped} notification(s) still queued at the end were dropped"
            ));
        }
        problems
    }
}

/// Runs the command once with `message` on stdin, in a process group of its own.
fn run_once(
    command: &str,
    message: &str,
    timeout: Duration,
    shared: &Shared,
) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("notify command could not start: {e}"))?;
    let group = child.id() as i32;
    shared.running.store(group, Ordering::SeqCst);
    let outcome = supervise(&mut child, message, timeout, shared);
    shared.running.store(0, Ordering::SeqCst);
    outcome
}

/// Feeds the command's stdin and waits for it, killing its group at the limit.
fn supervise(
    child: &mut Child,
    message: &str,
    timeout: Duration,
    shared: &Shared,
) -> Result<(), String> {
    let started = Instant::now();
    let mut input = format!("{message}\n").into_bytes();
    let mut stdin = child.stdin.take();
    if let Some(pipe) = &stdin {
        // Best effort: a blocking pipe only makes a stuck command slower to kill.
        let _ = set_nonblocking(pipe.as_raw_fd(), true);
    }
    loop {
        if let Some(pipe) = stdin.as_mut() {
            // Whatever the pipe takes now; a command that does not read is not an error.
            match pipe.write(&input) {
                Ok(n) => {
                    input.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => input.clear(),
            }
            if input.is_empty() {
                stdin = None;
            }
        }
        let killed_at_end = || {
            format!(
                "notify command: still running at the end of the run; killed (with what it \
                 started) after the {} s grace",
                END_GRACE.as_secs()
            )
        };
        match child.try_wait() {
            // The shell is gone but what it started in the background is not (`x &
            // disown`): the command is its whole group, held to the same limits.
            Ok(Some(_)) if group_alive(child.id() as i32) => {
                if shared.stop.load(Ordering::SeqCst) || started.elapsed() > timeout {
                    kill_group(child.id() as i32);
                    return Err(format!(
                        "notify command: the shell ended but left processes running (in the \
                         background); killed them {}",
                        match shared.stop.load(Ordering::SeqCst) {
                            true => "at the end of the run",
                            false => "at the time limit",
                        }
                    ));
                }
                std::thread::sleep(POLL);
            }
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(_)) if shared.stop.load(Ordering::SeqCst) => return Err(killed_at_end()),
            Ok(Some(status)) => return Err(format!("notify command failed: {status}")),
            Ok(None) if shared.stop.load(Ordering::SeqCst) => {
                kill_group(child.id() as i32);
                let _ = child.wait();
                return Err(killed_at_end());
            }
            Ok(None) if started.elapsed() > timeout => {
                kill_group(child.id() as i32);
                let _ = child.wait();
                return Err(format!(
                    "notify command took longer than {:.0}s and was killed (with what it \
                     started)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(format!("notify command: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_command_and_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut n = Notifier::start(format!("cat >> {}", log.display())).unwrap();
        n.send("{\"a\":1}".into());
        n.send("{\"b\":2}".into());
        assert!(n.finish(Duration::from_secs(5)).is_empty());
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        let mut failing = Notifier::start("exit 3".into()).unwrap();
        failing.send("{}".into());
        let problems = failing.finish(Duration::from_secs(5));
        assert!(problems[0].contains("failed"), "{problems:?}");
    }

    #[test]
    fn a_hanging_command_does_not_hold_the_caller_and_is_killed_at_the_end() {
        let mut n = Notifier::start("sleep 30".into()).unwrap();
        let started = Instant::now();
        for _ in 0..100 {
            n.send("{}".into());
        }
        let problems = n.finish(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            problems.iter().any(|p| p.contains("dropped because")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("killed")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("still queued")),
            "{problems:?}"
        );
    }

    /// Whether a process with `pid` still runs (a zombie waiting for its parent does not).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    }

    #[test]
    fn the_limit_holds_for_a_large_unread_message_and_kills_the_whole_group() {
        // Issue 11: a message over 64 KiB blocked the write before the timer started, so
        // nothing was killed; the kill took sh and orphaned its child.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let mut n = Notifier::with_timeout(command, Duration::from_millis(500)).unwrap();
        n.send("x".repeat(1 << 20));
        let started = Instant::now();
        let problems = n.finish(Duration::from_secs(10));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(problems[0].contains("took longer"), "{problems:?}");
        let child: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !alive(child),
            "the command's child {child} outlived the kill"
        );
    }
}
