//! The request log's writer (`--log-requests FILE`): one thread, off the hot path, that drains
//! every worker's [`LogTap`](crate::metrics::request_log::LogTap) into the file.
//!
//! The thread runs at a lower priority (nice 10) than the run's own threads and sleeps 2 ms
//! whenever every channel is empty, so it takes the CPU only when there are lines to write. A
//! write that fails (a full disk) stops the writing, never the run: the lines that follow are
//! counted as lost and the report says why (exit 3). At the end the run gives the writer a few
//! seconds to drain what is left and write the end frame; what it has not written by then (a
//! slow pipe) is counted as lost, the file has no end frame, and the report says the log was
//! cut short. A writer blocked in a write is left behind.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::metrics::request_log::{Encoder, Entry, Header, TapCounts, Trailer};
use crate::metrics::result::RequestLogFigures;
use crate::metrics::stats::WorkerStats;

/// How long the run waits, once it is over, for the writer to finish the file.
const FINISH_GRACE: Duration = Duration::from_secs(5);
/// The writer's sleep when it found nothing to write.
const IDLE_SLEEP: Duration = Duration::from_millis(2);
/// Lines taken from one channel before looking at the next.
const BATCH: usize = 8192;
/// Bytes encoded before they are written to the file.
const CHUNK_BYTES: usize = 256 << 10;

/// What the writer thread did.
#[derive(Clone, Debug, Default)]
struct Written {
    lines: u64,
    unwritten: u64,
    error: Option<String>,
    /// The run's grace ran out before every line was written.
    cut_short: bool,
}

/// The running writer; see the module doc.
pub(crate) struct LogWriter {
    path: String,
    /// Lines in the file so far, kept by the writer as it writes.
    lines: Arc<AtomicU64>,
    finish: Sender<(TapCounts, Instant)>,
    done: Receiver<Written>,
}

impl LogWriter {
    /// Starts the writer on `file` (opened at `path` before the run), draining `taps`.
    pub fn start(
        path: &Path,
        file: File,
        header: Header,
        taps: Vec<Receiver<Entry>>,
    ) -> std::io::Result<LogWriter> {
        let (finish, finish_rx) = bounded(1);
        let (done_tx, done) = bounded(1);
        let lines = Arc::new(AtomicU64::new(0));
        let counter = lines.clone();
        std::thread::Builder::new()
            .name("openpace-log".to_string())
            .spawn(move || {
                crate::base::sys::lower_priority(10);
                let written = write(file, &header, &taps, &finish_rx, &counter);
                let _ = done_tx.send(written);
            })?;
        Ok(LogWriter {
            path: path.display().to_string(),
            lines,
            finish,
            done,
        })
    }

    /// Tells the writer the run is over (with what the `workers`' taps did), waits up to
    /// [`FINISH_GRACE`] for it to write the rest, and says what the log holds.
    pub fn finish(self, workers: &[Arc<WorkerStats>]) -> RequestLogFigures {
        let grace = FINISH_GRACE;
        let mut total = TapCounts::default();
        for t in workers.iter().filter_map(|w| w.log_counts()) {
            total.offered += t.offered;
            total.sampled_out += t.sampled_out;
            total.lost += t.lost;
            total.worst_shift = total.worst_shift.max(t.worst_shift);
        }
        let _ = self.finish.send((total, Instant::now() + grace));
        // A writer still blocked after the grace (a pipe nobody reads) is left behind: the
        // lines it had not written are lost, and the file has no end frame.
        let written = self
            .done
            .recv_timeout(grace + Duration::from_millis(500))
            .unwrap_or(Written {
                lines: self.lines.load(Ordering::Acquire),
                cut_short: true,
                ..Written::default()
            });
        let requests = total.offered;
        let lines = written.lines;
        RequestLogFigures {
            path: self.path,
            requests,
            written: lines,
            sampled_out: total.sampled_out,
            // What was neither written nor sampled out: full channels, failed writes, and
            // what a blocked writer never got to.
            lost: requests.saturating_sub(lines + total.sampled_out),
            kept_share: if requests == 0 {
                1.0
            } else {
                lines as f64 / requests as f64
            },
            worst_keep_one_in: 1 << total.worst_shift,
            cut_short: written.cut_short,
            error: written.error,
        }
    }
}

/// The file and the lines not yet in it: frames are encoded into a buffer and written out a
/// chunk at a time, so that the count of lines in the file is exact even when a write fails
/// part of the way (a full disk).
struct Sink<'a> {
    file: File,
    encoder: Encoder<Vec<u8>>,
    /// Where each buffered line ends in the buffer.
    ends: Vec<usize>,
    w: Written,
    /// `w.lines`, for the run to read if the writer is still blocked when the run ends.
    lines: &'a AtomicU64,
}

impl Sink<'_> {
    fn put(&mut self, entry: &Entry) {
        if self.w.error.is_some() {
            self.w.unwritten += 1;
            return;
        }
        // Into memory: cannot fail.
        let _ = self.encoder.entry(entry);
        self.ends.push(self.encoder.output().len());
        if self.encoder.output().len() >= CHUNK_BYTES {
            self.write_out();
        }
    }

    /// Writes the buffer to the file; on a failure, counts the lines that made it whole.
    fn write_out(&mut self) {
        if self.w.error.is_some() {
            return;
        }
        let data = std::mem::take(self.encoder.output());
        let mut at = 0;
        while at < data.len() {
            match self.file.write(&data[at..]) {
                Ok(0) => {
                    self.w.error = Some("the file took no more bytes".to_string());
                    break;
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.w.error = Some(e.to_string());
                    break;
                }
            }
        }
        let whole = self.ends.iter().filter(|&&end| end <= at).count();
        self.w.lines += whole as u64;
        self.lines.store(self.w.lines, Ordering::Release);
        self.w.unwritten += (self.ends.len() - whole) as u64;
        self.ends.clear();
        let mut data = data;
        data.clear();
        *self.encoder.output() = data;
    }
}

/// The thread's body: drains the taps into the file until the run says it is over, then
/// drains what is left and writes the end frame.
fn write(
    file: File,
    header: &Header,
    taps: &[Receiver<Entry>],
    finish: &Receiver<(TapCounts, Instant)>,
    lines: &AtomicU64,
) -> Written {
    let encoder = Encoder::start(Vec::with_capacity(CHUNK_BYTES + 1024), header)
        .expect("a header encodes into memory");
    let mut sink = Sink {
        file,
        encoder,
        ends: Vec::new(),
        w: Written::default(),
        lines,
    };
    let totals = loop {
        let over = finish.try_recv().ok();
        let mut got = 0;
        for rx in taps {
            for entry in rx.try_iter().take(BATCH) {
                got += 1;
                sink.put(&entry);
            }
        }
        match over {
            // Whatever the workers offered before they ended is in the channels now: written
            // until the deadline, then counted as not written.
            Some((totals, deadline)) => {
                for rx in taps {
                    for entry in rx.try_iter() {
                        if sink.w.error.is_none() && Instant::now() > deadline {
                            sink.write_out();
                            sink.w.cut_short = true;
                        }
                        if sink.w.cut_short {
                            sink.w.unwritten += 1;
                        } else {
                            sink.put(&entry);
                        }
                    }
                }
                break totals;
            }
            None if got == 0 => {
                // Nothing waiting: what is buffered goes to the file now, not at the end.
                if !sink.ends.is_empty() {
                    sink.write_out();
                }
                std::thread::sleep(IDLE_SLEEP);
            }
            None => {}
        }
    };
    sink.write_out();
    let lines = sink.w.lines;
    let trailer = Trailer {
        offered: totals.offered,
        written: lines,
        sampled_out: totals.sampled_out,
        lost: totals.offered.saturating_sub(lines + totals.sampled_out),
    };
    if sink.w.error.is_none() && !sink.w.cut_short {
        let _ = sink.encoder.finish(&trailer);
        sink.write_out();
    }
    sink.w
}
