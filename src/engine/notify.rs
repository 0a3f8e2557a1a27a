//! `--notify-cmd`: run a command for each alert and once at the end, with JSON on its stdin.
//!
//! Notifications go through a bounded queue to a thread of their own, which runs the command
//! with `sh -c` one message at a time and gives each at most [`COMMAND_TIMEOUT`]. A command
//! that fails, hangs or cannot start is reported (in the run's warnings) and never blocks or
//! breaks the run: a full queue drops the notification and says so.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError, bounded};

/// How long one run of the command may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of a run waits for notifications still queued or running.
pub const END_GRACE: Duration = Duration::from_secs(2);
/// Notifications waiting at most; more are dropped, with a warning.
const QUEUE: usize = 64;

/// Runs the notify command in the background; see the module doc.
pub struct Notifier {
    queue: Option<Sender<String>>,
    worker: Option<JoinHandle<Vec<String>>>,
    dropped: u64,
}

impl Notifier {
    /// Starts the thread that runs `command` for each notification.
    pub fn start(command: String) -> std::io::Result<Notifier> {
        let (queue, messages) = bounded::<String>(QUEUE);
        let worker = std::thread::Builder::new()
            .name("openpace-notify".to_string())
            .spawn(move || {
                let mut problems = Vec::new();
                for message in messages {
                    if let Err(problem) = run_once(&command, &message) {
                        problems.push(problem);
                    }
                }
                problems
            })?;
        Ok(Notifier {
            queue: Some(queue),
            worker: Some(worker),
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

    /// Lets queued notifications run for up to `grace`, then returns what went wrong. A
    /// notification still running after that is left to finish (or time out) on its own.
    pub fn finish(mut self, grace: Duration) -> Vec<String> {
        self.queue = None;
        let mut problems = Vec::new();
        if self.dropped > 0 {
            problems.push(format!(
                "notify command: {} notification(s) dropped because {QUEUE} were already waiting",
                self.dropped
            ));
        }
        let deadline = Instant::now() + grace;
        if let Some(worker) = self.worker.take() {
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if worker.is_finished() {
                problems.extend(worker.join().unwrap_or_default());
            } else {
                problems.push("notify command: still running at the end; not waited for".into());
            }
        }
        problems
    }
}

/// Runs the command once with `message` on stdin.
fn run_once(command: &str, message: &str) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("notify command could not start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not an error.
        let _ = stdin.write_all(message.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("notify command failed: {status}")),
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "notify command took longer than {}s and was killed",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
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
    fn a_hanging_command_does_not_hold_the_caller() {
        let mut n = Notifier::start("sleep 3".into()).unwrap();
        let started = Instant::now();
        for _ in 0..100 {
            n.send("{}".into());
        }
        let problems = n.finish(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            problems.iter().any(|p| p.contains("dropped")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("still running")),
            "{problems:?}"
        );
    }
}
