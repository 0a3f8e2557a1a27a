//! Every request on record (`--log-requests FILE`): what a worker hands over per request,
//! the file's format, and what the report says of the log.
//!
//! A worker offers each measured request to its [`LogTap`]: a bounded channel (crossbeam's
//! array flavour: no allocation, no lock, no system call per request) that the log's writer
//! thread drains off the hot path (`engine/log_writer.rs`). The tap never waits. When the
//! writer falls behind (a slow disk, a slow pipe) and the channel fills past a quarter, the tap
//! keeps one request in 2, then 1 in 4, ... of its offers (looking every 256 offers), and goes
//! back towards every one as the channel empties below an eighth; each kept line carries its
//! weight (how many offers it stands for), and the report says what share was kept. A request
//! that met a full channel is lost, and counted.
//!
//! # The file
//!
//! A text line `openpace-request-log 1`, a line of JSON ([`Header`]: the run's origin, the
//! scenarios and their request-set names), then frames, each a tag byte and a body:
//!
//! - `K` defines an outcome: its id (u16) and its name (u8 length, UTF-8). Ids 0 (`ok`),
//!   1 (`timeout`) and 2 (`expired`) are fixed; an error kind gets the next id the first time
//!   it appears, before the first line that uses it.
//! - `R` one request, [`RECORD_BYTES`] bytes little-endian: its u64s, u32s and u16s, each group
//!   in the order of [`Entry`]'s fields.
//! - `E` the end: requests offered, lines written, lines sampled out, lines lost (4 x u64).
//!   A file without it was cut short (the run was killed, the disk filled).
//!
//! Lines are in the order the writer received them: each worker's in the order its requests
//! ended, workers interleaved. `openpace log FILE` turns the file into CSV; the percentiles of a
//! complete log equal the report's (same histogram, same values).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crossbeam_channel::{Receiver, Sender, bounded};
use serde::{Deserialize, Serialize};

use super::LatencySummary;
use super::atomic_hist::bump;
use super::figures::NS_PER_MS;
use crate::targets::ErrorKind;

/// The file's first line.
pub const MAGIC: &str = "openpace-request-log 1";
/// Bytes of a request line's body (after its tag).
pub const RECORD_BYTES: usize = 100;
/// Lines one worker's channel holds before the tap starts sampling.
pub const CHANNEL_CAPACITY: usize = 32_768;
/// The tap keeps at least one request in `2^MAX_SHIFT` while the channel is full.
const MAX_SHIFT: u32 = 16;
/// Offers between two looks at how full the channel is.
const ADJUST_EVERY: u64 = 256;

/// How a logged request ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Completed without error.
    #[default]
    Ok,
    /// Ended at or after its deadline.
    Timeout,
    /// Given up before it was sent: its deadline had passed.
    Expired,
    /// Failed with an error of this kind.
    Error(ErrorKind),
}

/// Fixed outcome ids in the file.
const OK_ID: u16 = 0;
const TIMEOUT_ID: u16 = 1;
const EXPIRED_ID: u16 = 2;
/// The first id given to an error kind.
const FIRST_KIND_ID: u16 = 3;

/// One request as a worker saw it; times in ns on the run clock (0 at the run's origin). Its
/// default is an ok request with every time, count and number 0 (a time of 0: never came).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Its index in the schedule.
    pub seq: u64,
    /// When the schedule meant it to be sent.
    pub intended_ns: u64,
    /// When the timing loop handed it to the workers.
    pub handed_ns: u64,
    /// When the worker began it (its first write, or the connect before it); 0: never sent.
    pub sent_ns: u64,
    /// When the first byte of its response arrived; 0: none did (or not a network target).
    pub first_byte_ns: u64,
    /// When it ended (completed, failed, or was given up).
    pub end_ns: u64,
    /// Bytes sent, saturated at u32.
    pub bytes_sent: u32,
    /// Bytes received, saturated at u32.
    pub bytes_received: u32,
    /// The worker's connection that carried it, numbered from 1 as the worker opened them
    /// (a reconnect is a new number); 0: none.
    pub connection: u32,
    /// With `timestamps: kernel`: when its last byte left the stack for the driver (0: no
    /// stamp).
    pub kernel_tx_ns: u64,
    /// With `timestamps: kernel`: the RX stamp of the first read of its response (0: no
    /// stamp).
    pub kernel_rx_first_ns: u64,
    /// With `timestamps: kernel`: when the last segment of its response entered the receive
    /// path (0: no stamp).
    pub kernel_rx_ns: u64,
    /// Its stream on the connection (0: a connection carries one request at a time).
    pub stream: u32,
    /// How many of the worker's requests this line stands for (1 unless sampled).
    pub weight: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// Its name's slot in its scenario's request set, if it has one.
    pub name: Option<u16>,
    /// Its scenario's index.
    pub scenario: u16,
    /// The worker's index in its scenario.
    pub worker: u16,
}

impl Entry {
    /// Response time (end − intended), as the report records it.
    pub fn response_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.intended_ns)
    }
}

/// One worker's end of the log: it offers each request and never waits (see the module doc).
/// Only the owning worker calls [`offer`](Self::offer); the counters are read at the end.
pub struct LogTap {
    tx: Sender<Entry>,
    scenario: u16,
    worker: u16,
    offered: AtomicU64,
    sampled_out: AtomicU64,
    lost: AtomicU64,
    /// Keeps one offer in `2^shift`.
    shift: AtomicU32,
    /// The largest `shift` used.
    worst_shift: AtomicU32,
    /// The channel's length at the last adjustment.
    last_len: AtomicU64,
}

/// What one tap did, read after its worker ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounts {
    /// Requests offered.
    pub offered: u64,
    /// Requests not kept because the tap was sampling.
    pub sampled_out: u64,
    /// Requests kept but lost: the channel was full.
    pub lost: u64,
    /// The tap kept one request in `2^worst_shift` at worst.
    pub worst_shift: u32,
}

impl LogTap {
    /// A tap for worker `worker` of scenario `scenario`, and the receiver the writer drains.
    pub fn new(scenario: u16, worker: u16) -> (LogTap, Receiver<Entry>) {
        let (tx, rx) = bounded(CHANNEL_CAPACITY);
        let tap = LogTap {
            tx,
            scenario,
            worker,
            offered: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            shift: AtomicU32::new(0),
            worst_shift: AtomicU32::new(0),
            last_len: AtomicU64::new(0),
        };
        (tap, rx)
    }

    /// Offers one request: `entry` is built only if the request is kept (its `weight`,
    /// `scenario` and `worker` are filled in here).
    #[inline]
    pub fn offer(&self, entry: impl FnOnce() -> Entry) {
        let n = self.offered.load(Relaxed);
        self.offered.store(n + 1, Relaxed);
        let mut shift = self.shift.load(Relaxed);
        if n % ADJUST_EVERY == 0 {
            shift = self.adjust(shift);
        }
        if n & ((1u64 << shift) - 1) != 0 {
            bump(&self.sampled_out, 1);
            return;
        }
        let line = Entry {
            weight: 1 << shift,
            scenario: self.scenario,
            worker: self.worker,
            ..entry()
        };
        if self.tx.try_send(line).is_err() {
            bump(&self.lost, 1);
        }
    }

    /// Keeps the channel between an eighth and a quarter full while the writer lags: keeps
    /// half as many requests when it is fuller and still filling, twice as many when it is
    /// emptier.
    #[cold]
    fn adjust(&self, shift: u32) -> u32 {
        let len = self.tx.len();
        let last = self.last_len.load(Relaxed) as usize;
        self.last_len.store(len as u64, Relaxed);
        let next = if len > CHANNEL_CAPACITY / 4 && len > last {
            (shift + 1).min(MAX_SHIFT)
        } else if len < CHANNEL_CAPACITY / 8 {
            shift.saturating_sub(1)
        } else {
            shift
        };
        self.shift.store(next, Relaxed);
        if next > self.worst_shift.load(Relaxed) {
            self.worst_shift.store(next, Relaxed);
        }
        next
    }

    /// What the tap did so far.
    pub fn counts(&self) -> TapCounts {
        TapCounts {
            offered: self.offered.load(Relaxed),
            sampled_out: self.sampled_out.load(Relaxed),
            lost: self.lost.load(Relaxed),
            worst_shift: self.worst_shift.load(Relaxed),
        }
    }
}

/// The file's second line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// The run's origin (its clock's 0), Unix seconds.
    pub origin_unix_s: f64,
    /// Each scenario: its name and its request set's names.
    pub scenarios: Vec<HeaderScenario>,
}

/// A scenario as the header names it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderScenario {
    /// The scenario's name.
    pub name: String,
    /// Its request set's names, by slot (empty without a set).
    #[serde(default)]
    pub names: Vec<String>,
}

/// The end frame's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Requests the workers offered to the log.
    pub offered: u64,
    /// Lines written.
    pub written: u64,
    /// Requests left out by sampling (each counted in a kept line's weight).
    pub sampled_out: u64,
    /// Requests lost: a full channel, or a write that failed.
    pub lost: u64,
}

/// Writes frames to the log file; the writer thread's half of the format. Error kinds get
/// their ids as they first appear.
pub struct Encoder<W: Write> {
    out: W,
    kinds: Vec<&'static str>,
    buf: [u8; 1 + RECORD_BYTES],
}

impl<W: Write> Encoder<W> {
    /// Writes the two header lines to `out`.
    pub fn start(mut out: W, header: &Header) -> std::io::Result<Encoder<W>> {
        let json = serde_json::to_string(header).map_err(std::io::Error::other)?;
        writeln!(out, "{MAGIC}\n{json}")?;
        Ok(Encoder {
            out,
            kinds: Vec::new(),
            buf: [0; 1 + RECORD_BYTES],
        })
    }

    fn outcome_id(&mut self, outcome: Outcome) -> std::io::Result<u16> {
        let kind = match outcome {
            Outcome::Ok => return Ok(OK_ID),
            Outcome::Timeout => return Ok(TIMEOUT_ID),
            Outcome::Expired => return Ok(EXPIRED_ID),
            Outcome::Error(kind) => kind.name(),
        };
        if let Some(k) = self.kinds.iter().position(|k| *k == kind) {
            return Ok(FIRST_KIND_ID + k as u16);
        }
        let id = FIRST_KIND_ID + self.kinds.len() as u16;
        let name = &kind.as_bytes()[..kind.len().min(255)];
        self.out.write_all(b"K")?;
        self.out.write_all(&id.to_le_bytes())?;
        self.out.write_all(&[name.len() as u8])?;
        self.out.write_all(name)?;
        self.kinds.push(kind);
        Ok(id)
    }

    /// Writes one request line.
    pub fn entry(&mut self, e: &Entry) -> std::io::Result<()> {
        let outcome = self.outcome_id(e.outcome)?;
        let b = &mut self.buf;
        b[0] = b'R';
        let mut at = 1;
        let mut put = |bytes: &[u8]| {
            b[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        for t in [
            e.seq,
            e.intended_ns,
            e.handed_ns,
            e.sent_ns,
            e.first_byte_ns,
            e.end_ns,
            e.kernel_tx_ns,
            e.kernel_rx_first_ns,
            e.kernel_rx_ns,
        ] {
            put(&t.to_le_bytes());
        }
        for n in [
            e.bytes_sent,
            e.bytes_received,
            e.connection,
            e.stream,
            e.weight,
        ] {
            put(&n.to_le_bytes());
        }
        for n in [outcome, e.name.unwrap_or(u16::MAX), e.scenario, e.worker] {
            put(&n.to_le_bytes());
        }
        self.out.write_all(b)
    }

    /// Writes the end frame and flushes.
    pub fn finish(&mut self, t: &Trailer) -> std::io::Result<()> {
        self.out.write_all(b"E")?;
        for n in [t.offered, t.written, t.sampled_out, t.lost] {
            self.out.write_all(&n.to_le_bytes())?;
        }
        self.out.flush()
    }

    /// Where the frames go.
    pub fn output(&mut self) -> &mut W {
        &mut self.out
    }
}

/// A line read back, its outcome named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The request; its `outcome` is [`Outcome::Ok`], `Timeout` or `Expired`, or
    /// `Error(ErrorKind::FAILED)` with the kind's name in `kind`.
    pub entry: Entry,
    /// The outcome's name: `ok`, `timeout`, `expired` or the error kind.
    pub kind: String,
}

/// Reads a log file frame by frame; the reader's half of the format.
pub struct Decoder<R: Read> {
    input: R,
    /// The header.
    pub header: Header,
    kinds: Vec<String>,
    /// The end frame, once read.
    pub trailer: Option<Trailer>,
    /// The file ended inside a frame.
    pub cut: bool,
}

impl<R: std::io::BufRead> Decoder<R> {
    /// Reads the header lines; fails on a file that is not a request log.
    pub fn new(mut input: R) -> Result<Decoder<R>, String> {
        let mut magic = String::new();
        input
            .read_line(&mut magic)
            .map_err(|e| format!("reading it: {e}"))?;
        if magic.trim_end() != MAGIC {
            return Err(format!(
                "it does not start with `{MAGIC}`: not a request log of this version \
                 (`--log-requests FILE` writes one)"
            ));
        }
        let mut json = String::new();
        input
            .read_line(&mut json)
            .map_err(|e| format!("reading its header: {e}"))?;
        let header: Header =
            serde_json::from_str(&json).map_err(|e| format!("its header line: {e}"))?;
        Ok(Decoder {
            input,
            header,
            kinds: ["ok", "timeout", "expired"].map(String::from).to_vec(),
            trailer: None,
            cut: false,
        })
    }

    /// Reads `buf.len()` bytes; `false` at the end of the file (then `cut` says whether it
    /// ended inside a frame).
    fn fill(&mut self, buf: &mut [u8], inside: bool) -> Result<bool, String> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => {
                    self.cut |= inside || got > 0;
                    return Ok(false);
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading it: {e}")),
            }
        }
        Ok(true)
    }

    /// The next request line; `None` at the end of the file or after the end frame.
    pub fn next_line(&mut self) -> Result<Option<Line>, String> {
        loop {
            if self.trailer.is_some() {
                return Ok(None);
            }
            let mut tag = [0u8; 1];
            if !self.fill(&mut tag, false)? {
                return Ok(None);
            }
            match tag[0] {
                b'K' => {
                    let mut head = [0u8; 3];
                    if !self.fill(&mut head, true)? {
                        return Ok(None);
                    }
                    let mut name = vec![0u8; usize::from(head[2])];
                    if !self.fill(&mut name, true)? {
                        return Ok(None);
                    }
                    let id = usize::from(u16::from_le_bytes([head[0], head[1]]));
                    if id != self.kinds.len() {
                        return Err(format!("outcome id {id} defined out of order"));
                    }
                    self.kinds.push(String::from_utf8_lossy(&name).into_owned());
                }
                b'R' => {
                    let mut body = [0u8; RECORD_BYTES];
                    if !self.fill(&mut body, true)? {
                        return Ok(None);
                    }
                    return self.line(&body).map(Some);
                }
                b'E' => {
                    let mut body = [0u8; 32];
                    if !self.fill(&mut body, true)? {
                        return Ok(None);
                    }
                    let n =
                        |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap());
                    self.trailer = Some(Trailer {
                        offered: n(0),
                        written: n(1),
                        sampled_out: n(2),
                        lost: n(3),
                    });
                }
                other => return Err(format!("a frame of unknown type 0x{other:02x}")),
            }
        }
    }

    fn line(&self, b: &[u8; RECORD_BYTES]) -> Result<Line, String> {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
        let id = u16_at(92);
        let kind = self
            .kinds
            .get(usize::from(id))
            .ok_or_else(|| format!("a line with outcome id {id}, never defined"))?;
        let outcome = match id {
            OK_ID => Outcome::Ok,
            TIMEOUT_ID => Outcome::Timeout,
            EXPIRED_ID => Outcome::Expired,
            _ => Outcome::Error(ErrorKind::FAILED),
        };
        let name = u16_at(94);
        Ok(Line {
            entry: Entry {
                seq: u64_at(0),
                intended_ns: u64_at(8),
                handed_ns: u64_at(16),
                sent_ns: u64_at(24),
                first_byte_ns: u64_at(32),
                end_ns: u64_at(40),
                kernel_tx_ns: u64_at(48),
                kernel_rx_first_ns: u64_at(56),
                kernel_rx_ns: u64_at(64),
                bytes_sent: u32_at(72),
                bytes_received: u32_at(76),
                connection: u32_at(80),
                stream: u32_at(84),
                weight: u32_at(88),
                outcome,
                name: (name != u16::MAX).then_some(name),
                scenario: u16_at(96),
                worker: u16_at(98),
            },
            kind: kind.clone(),
        })
    }
}

/// A scenario's requests as its log lines tell them (each line counted `weight` times).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScenarioLog {
    /// The scenario's name.
    pub name: String,
    /// Lines in the file.
    pub lines: u64,
    /// Requests they stand for (their weights summed).
    pub requests: u64,
    /// Requests by outcome: `ok`, `timeout`, `expired`, each error kind.
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// Response time (end − intended) of the requests that were sent, as the report's.
    pub response_time_ms: LatencySummary,
    /// Service time (end − sent), as the report's.
    pub service_time_ms: LatencySummary,
}

/// What a whole log says, per scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LogSummary {
    /// The run's origin, Unix seconds.
    pub origin_unix_s: f64,
    /// Each scenario of the header, in order.
    pub scenarios: Vec<ScenarioLog>,
    /// The end frame's counts; absent when the file was cut short.
    pub trailer: Option<Trailer>,
    /// The file ended inside a frame.
    pub cut: bool,
    /// Every request the workers measured is a line of weight 1: the percentiles are the
    /// report's, exactly.
    pub complete: bool,
}

/// Reads every line of `decoder` into per-scenario histograms (the layout of every openpace
/// histogram, each value recorded in the bucket the workers' recorders put it in).
pub fn summarize<R: std::io::BufRead>(decoder: &mut Decoder<R>) -> Result<LogSummary, String> {
    use super::atomic_hist::{index_for, new_histogram, value_for};
    let count = decoder.header.scenarios.len();
    let mut response: Vec<_> = (0..count).map(|_| new_histogram()).collect();
    let mut service: Vec<_> = (0..count).map(|_| new_histogram()).collect();
    let mut scenarios: Vec<ScenarioLog> = decoder
        .header
        .scenarios
        .iter()
        .map(|s| ScenarioLog {
            name: s.name.clone(),
            ..ScenarioLog::default()
        })
        .collect();
    let mut weighted = false;
    while let Some(line) = decoder.next_line()? {
        let e = &line.entry;
        let k = usize::from(e.scenario);
        let Some(s) = scenarios.get_mut(k) else {
            return Err(format!(
                "a line of scenario {k}, which the header does not name"
            ));
        };
        let weight = u64::from(e.weight.max(1));
        weighted |= weight > 1;
        s.lines += 1;
        s.requests += weight;
        *s.outcomes.entry(line.kind).or_default() += weight;
        if e.outcome != Outcome::Expired {
            let bucket = |v: u64| value_for(index_for(v));
            let _ = response[k].record_n(bucket(e.response_ns()), weight);
            let _ = service[k].record_n(bucket(e.end_ns.saturating_sub(e.sent_ns)), weight);
        }
    }
    for (k, s) in scenarios.iter_mut().enumerate() {
        s.response_time_ms = LatencySummary::without_intervals(&response[k], NS_PER_MS);
        s.service_time_ms = LatencySummary::without_intervals(&service[k], NS_PER_MS);
    }
    let trailer = decoder.trailer;
    Ok(LogSummary {
        origin_unix_s: decoder.header.origin_unix_s,
        scenarios,
        trailer,
        cut: decoder.cut,
        complete: !weighted
            && trailer.is_some_and(|t| t.lost == 0 && t.sampled_out == 0 && t.written == t.offered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, outcome: Outcome) -> Entry {
        Entry {
            seq,
            intended_ns: 1_000 * seq,
            handed_ns: 1_000 * seq + 5,
            sent_ns: 1_000 * seq + 9,
            first_byte_ns: 1_000 * seq + 700,
            end_ns: 1_000 * seq + 900,
            bytes_sent: 80,
            bytes_received: 200,
            connection: 3,
            kernel_tx_ns: 1_000 * seq + 20,
            kernel_rx_first_ns: 1_000 * seq + 680,
            kernel_rx_ns: 1_000 * seq + 690,
            stream: 0,
            weight: 1,
            outcome,
            name: (seq % 2 == 0).then_some(1),
            scenario: 0,
            worker: 1,
        }
    }

    fn header() -> Header {
        Header {
            origin_unix_s: 1.5e9,
            scenarios: vec![HeaderScenario {
                name: "s".into(),
                names: vec!["a".into(), "b".into()],
            }],
        }
    }

    #[test]
    fn lines_come_back_as_written_with_their_outcomes_named() {
        let mut file = Vec::new();
        let mut enc = Encoder::start(&mut file, &header()).unwrap();
        let outcomes = [
            Outcome::Ok,
            Outcome::Error(ErrorKind::new("http_5xx")),
            Outcome::Timeout,
            Outcome::Error(ErrorKind::new("reset")),
            Outcome::Error(ErrorKind::new("http_5xx")),
            Outcome::Expired,
        ];
        for (i, o) in outcomes.iter().enumerate() {
            enc.entry(&entry(i as u64, *o)).unwrap();
        }
        let trailer = Trailer {
            offered: 6,
            written: 6,
            sampled_out: 0,
            lost: 0,
        };
        enc.finish(&trailer).unwrap();
        let mut dec = Decoder::new(&file[..]).unwrap();
        assert_eq!(dec.header, header());
        let mut kinds = Vec::new();
        while let Some(line) = dec.next_line().unwrap() {
            let mut want = entry(line.entry.seq, line.entry.outcome);
            want.outcome = line.entry.outcome;
            assert_eq!(line.entry, want);
            kinds.push(line.kind);
        }
        assert_eq!(
            kinds,
            ["ok", "http_5xx", "timeout", "reset", "http_5xx", "expired"]
        );
        assert_eq!(dec.trailer, Some(trailer));
        assert!(!dec.cut);
    }

    #[test]
    fn a_file_cut_inside_a_line_is_read_up_to_it_and_said_to_be_cut() {
        let mut file = Vec::new();
        let mut enc = Encoder::start(&mut file, &header()).unwrap();
        for i in 0..3 {
            enc.entry(&entry(i, Outcome::Ok)).unwrap();
        }
        file.truncate(file.len() - 10);
        let mut dec = Decoder::new(&file[..]).unwrap();
        let mut n = 0;
        while dec.next_line().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 2);
        assert!(dec.cut);
        assert_eq!(dec.trailer, None);
    }

    #[test]
    fn something_else_is_refused_by_its_first_line() {
        let err = Decoder::new(&b"seq,intended\n1,2\n"[..]).err().unwrap();
        assert!(err.contains("openpace-request-log 1"), "{err}");
    }

    #[test]
    fn a_full_channel_makes_the_tap_sample_and_an_empty_one_relax_it() {
        let (tap, rx) = LogTap::new(0, 0);
        // A writer that takes one line for every four requests.
        let mut weights = 0u64;
        for i in 0..CHANNEL_CAPACITY as u64 * 8 {
            tap.offer(|| entry(i, Outcome::Ok));
            if i % 4 == 0 {
                weights += rx.try_recv().map_or(0, |e| u64::from(e.weight));
            }
        }
        let c = tap.counts();
        assert!((2..=3).contains(&c.worst_shift), "{c:?}");
        assert!(
            rx.len() < CHANNEL_CAPACITY / 2,
            "sampling kept the channel from filling"
        );
        assert_eq!(c.lost, 0, "{c:?}");
        let kept: Vec<Entry> = rx.try_iter().collect();
        // Each kept line stands for the offers its weight says.
        weights += kept.iter().map(|e| u64::from(e.weight)).sum::<u64>();
        assert!(
            weights.abs_diff(c.offered) <= c.offered / 10,
            "weights {weights} for {} offers",
            c.offered
        );
        // Drained as fast as it fills: the tap goes back to keeping every request.
        for i in 0..ADJUST_EVERY * u64::from(MAX_SHIFT + 1) {
            tap.offer(|| entry(i, Outcome::Ok));
            let _ = rx.try_recv();
        }
        let before = tap.counts().sampled_out;
        for i in 0..100 {
            tap.offer(|| entry(i, Outcome::Ok));
            let _ = rx.try_recv();
        }
        assert_eq!(tap.counts().sampled_out, before);
    }
}
