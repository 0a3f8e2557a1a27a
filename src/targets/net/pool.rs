//! One worker's connections to a network target, driven by one `mio::Poll`.
//!
//! A [`Pool`] holds up to `connections` keep-alive connections and runs one request at a time
//! on each. [`Pool::start`] puts a request on a free connection (opening it first if it is
//! closed) and writes as much of it as the socket takes; [`Pool::wait`] polls, advances every
//! connection whose socket is ready, enforces the connect and request timeouts, and leaves the
//! requests that ended in [`Pool::done`]. Nothing here allocates per request: buffers are per
//! connection and reused, finished requests go to a vector sized for the pool.
//!
//! Free connections are a queue, the one free longest at its front. A pool that opens
//! connections as requests need them (`connections: auto` or `auto:N`) takes from the back:
//! a request takes a warm connection when there is one, and a closed one (which it opens)
//! only when every open one is busy, so it opens what the rate needs and no more. A pool of
//! exactly N (`connections: N`) opens them all before the run ([`Pool::open_all`]) and takes
//! from the front, so the requests are spread over all of them, as wrk's are. Either way, a
//! request due before even the front one came free waited for a connection, and
//! [`Done::queued_ns`] says how long.
//!
//! # Faults
//!
//! A connection the server closed while it was idle is noticed (a readable edge that reads 0)
//! and reopened on its next request. If the close races with the next request (the write
//! fails, or the read ends before any byte), the request is sent again once on a new
//! connection, transparently; the reconnect is counted. Every other fault closes the
//! connection and ends the request with its own kind: `refused`, `connect_timeout`, `reset`,
//! `closed` (mid-response), `timeout`, `io`, or the protocol's (`malformed_status`, ...).
//! A failed connection attempt puts the whole pool in back-off, 10 ms doubling to 1 s; requests
//! that need a new connection during a back-off fail at once with the last attempt's kind, so
//! a dead server costs no connection storm. Failures are retried on the same connection up to
//! `max_retries` times while the request's deadline allows.
//!
//! A response larger than `max_response_bytes` ends its request as `response_too_large`
//! (the parsers say so as soon as a length announces it; the pool counts what arrives for
//! those that announce nothing). A panic in the protocol's code (a parser meeting bytes it did
//! not foresee) ends the request as `internal`, closes the connection and is kept as a
//! [`Fault`] for the report: the worker lives on.
//!
//! A request's deadline is its intended instant plus the request timeout (not its start plus
//! the timeout): a request that started late, behind others, has only what is left of its
//! time. At the deadline the request ends as a `timeout` and its connection is closed.

use std::collections::VecDeque;
use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use super::peer::{Peer, Stream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::stamp::TxMatcher;
use super::template::Vars;
use super::tls::{self, TlsClient};
use super::{Exchange, Parse, kinds};
use crate::base::clock::{RunClock, monotonic_ns};
use crate::base::fault::guarded;
use crate::base::timerfd::TimerFd;
use crate::base::tstamp;
use crate::targets::{CallResult, ErrorKind, Request};

pub(crate) const WAKER: Token = Token(usize::MAX - 1);
pub(crate) const TIMER: Token = Token(usize::MAX - 2);
pub(crate) const READ_CHUNK: usize = 16 * 1024;
/// A blocked [`Pool::wait`] returns after this long even without an event: a backstop against
/// a lost wake-up, cheap at 20 wake-ups a second.
const MAX_BLOCK_NS: u64 = 50_000_000;

/// Settings shared by the connections of a pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The server: a TCP address or a Unix socket's path.
    pub peer: Peer,
    /// Connections in this pool.
    pub connections: usize,
    /// Open them all before the run ([`Pool::open_all`]) and spread the requests over them:
    /// each request takes the connection free longest, not the one freed last.
    pub open_all: bool,
    /// How long a connection attempt may take.
    pub connect_timeout_ns: u64,
    /// How long a request may take from its intended instant, reconnects and retries
    /// included.
    pub request_timeout_ns: u64,
    /// Extra attempts after a failure, while the request timeout allows.
    pub max_retries: u32,
    /// The run's seed, for the templates' random values.
    pub seed: u64,
    /// The run's shard index (0 without shards), for `{{shard}}`.
    pub shard: u32,
    /// The largest response read: a request whose response grows past it fails with
    /// `response_too_large` and its connection is closed.
    pub max_response_bytes: u64,
    /// Busy-poll each socket, and the poll itself, this many µs (`busy_poll_us`; 0: off).
    pub busy_poll_us: u32,
    /// Kernel timestamps on each TCP socket (`timestamps: kernel`; see [`super::stamp`]).
    pub timestamps: bool,
}

/// Builds the protocol state of one connection.
pub type ExchangeFactory = Arc<dyn Fn() -> Box<dyn Exchange> + Send + Sync>;

/// A panic of openpace's own code (a parser, a template) caught while a request was handled:
/// the request ended as an error of kind `internal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The request it happened on.
    pub seq: u64,
    /// The panic's message and place.
    pub what: String,
}

/// Faults kept per pool until taken; more are counted (as `internal` errors) but not kept.
pub(crate) const MAX_FAULTS: usize = 8;

/// A request that ended, with its times on the run clock.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    /// The request as the pool got it.
    pub request: Request,
    /// When the pool started it.
    pub start_ns: u64,
    /// When its response was complete (or it failed).
    pub end_ns: u64,
    /// When the connection that served it finished its previous request (0 if none).
    pub idle_since_ns: u64,
    /// Extra attempts made.
    pub retries: u32,
    /// How long it waited for a free connection: it was due (and handed over) while every
    /// connection of the pool was busy, and started when one came free. 0 if it did not.
    pub queued_ns: u64,
    /// How it went, with the bytes and connections it cost.
    pub result: CallResult,
    /// When the first byte of its response arrived (0: none did).
    pub first_byte_ns: u64,
    /// The connection that carried it last, numbered from 1 in the order the pool opened
    /// them (a reconnect is a new number; 0: none was opened).
    pub connection: u32,
    /// Its HTTP/2 stream on that connection (0: a connection of one request at a time).
    pub stream: u32,
    /// With kernel timestamps, its stamps; `None` without.
    pub kernel: Option<KernelStamps>,
}

/// A request's kernel timestamps, on the run clock (0: that stamp did not come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStamps {
    /// Its last byte left the stack for the driver (`TX_SOFTWARE`).
    pub tx_ns: u64,
    /// The RX stamp of the first read of its response: the last segment that read took, which
    /// for a response read at once is its only or last one.
    pub rx_first_ns: u64,
    /// The RX stamp of the read that completed its response: its last segment.
    pub rx_last_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No socket; free.
    Closed,
    /// Open and free.
    Idle,
    /// Waiting for the connection to be established.
    Connecting,
    /// Shaking hands (TLS), after the TCP connect.
    Handshaking,
    /// Writing the request.
    Writing,
    /// Reading the response.
    Reading,
}

struct Conn {
    stream: Option<Stream>,
    /// The TLS state of the open connection, for a TLS target.
    tls: Option<tls::Session>,
    /// When the TLS handshake began (`CLOCK_MONOTONIC`).
    handshake_from_ns: u64,
    state: State,
    exchange: Box<dyn Exchange>,
    buf: Vec<u8>,
    written: usize,
    /// Bytes of the current response received so far.
    received: u64,
    /// The open socket already carried a response, so the server may close it under us.
    reused: bool,
    received_any: bool,
    /// The current request was already sent again after a stale close.
    resent: bool,
    request: Request,
    start_ns: u64,
    /// The request ends as a timeout at this instant.
    deadline_ns: u64,
    connect_deadline_ns: u64,
    retries: u32,
    idle_since_ns: u64,
    queued_ns: u64,
    io: CallResult,
    /// Being opened ahead of the run, with no request on it.
    opening: bool,
    /// It carried a request.
    carried: bool,
    /// When the current response's first byte arrived (0: not yet).
    first_byte_ns: u64,
    /// The open socket's number in the order the pool opened them (see [`Done::connection`]).
    serial: u32,
    /// The kernel stamps this socket (`timestamps`, enabled when it connected).
    stamping: bool,
    /// Its TX stamps' offsets, and the requests waiting for one.
    matcher: TxMatcher,
    /// The RX stamps (`CLOCK_REALTIME`) of the first and the latest read of the current
    /// response that came with one; 0: none.
    rx_stamp: [u64; 2],
}

/// Failed connection attempts hold off the next ones.
#[derive(Default)]
pub(crate) struct Backoff {
    until_ns: u64,
    failures: u32,
    last: Option<ErrorKind>,
}

impl Backoff {
    pub(crate) fn fail(&mut self, kind: ErrorKind, now: u64) {
        let wait_ms = (10u64 << self.failures.min(7)).min(1000);
        self.failures += 1;
        self.until_ns = now + wait_ms * 1_000_000;
        self.last = Some(kind);
    }

    pub(crate) fn blocked(&self, now: u64) -> Option<ErrorKind> {
        self.last.filter(|_| now < self.until_ns)
    }
}

/// A worker's connections; see the module doc.
pub struct Pool {
    config: PoolConfig,
    /// Set for a TLS target.
    tls: Option<Arc<TlsClient>>,
    clock: RunClock,
    poll: Poll,
    events: Events,
    timer: TimerFd,
    conns: Vec<Conn>,
    /// Connections without a request, most recently used last.
    free: VecDeque<usize>,
    /// What opening connections ahead of the run cost ([`Pool::open_all`]), not yet taken.
    opened: Vec<CallResult>,
    done: Vec<Done>,
    scratch: Box<[u8]>,
    backoff: Backoff,
    /// Panics caught in the exchange's code, not yet taken.
    faults: Vec<Fault>,
    /// No connection times out before this instant.
    next_expiry_ns: u64,
    /// Most requests in flight at once.
    peak_in_flight: usize,
    /// Sockets that took SO_BUSY_POLL.
    busy_polled: usize,
    /// Sockets opened so far.
    opened_count: u32,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC` for kernel stamps, and when (run clock) it was read:
    /// read again once a second, to follow a step of the realtime clock.
    realtime_offset: Option<(i64, u64)>,
}

impl Pool {
    /// A pool of closed connections; nothing connects until the first request.
    pub fn new(
        config: PoolConfig,
        exchange: &ExchangeFactory,
        clock: RunClock,
    ) -> std::io::Result<Pool> {
        let poll = Poll::new()?;
        if config.busy_poll_us > 0 {
            // Linux 6.9 or later; before it, only the sockets busy-poll (the run warned).
            let fd = std::os::fd::AsRawFd::as_raw_fd(&poll);
            let _ = crate::base::sys::set_epoll_busy_poll(fd, config.busy_poll_us);
        }
        let timer = TimerFd::new()?;
        timer.register(&poll, TIMER)?;
        let n = config.connections.max(1);
        let conns = (0..n)
            .map(|_| Conn {
                stream: None,
                tls: None,
                handshake_from_ns: 0,
                state: State::Closed,
                exchange: exchange(),
                buf: Vec::new(),
                written: 0,
                received: 0,
                reused: false,
                received_any: false,
                resent: false,
                request: Request {
                    seq: 0,
                    intended_ns: 0,
                    sent_ns: 0,
                },
                start_ns: 0,
                deadline_ns: 0,
                connect_deadline_ns: 0,
                retries: 0,
                idle_since_ns: 0,
                queued_ns: 0,
                io: CallResult::ok(),
                opening: false,
                carried: false,
                first_byte_ns: 0,
                serial: 0,
                stamping: false,
                matcher: TxMatcher::default(),
                rx_stamp: [0; 2],
            })
            .collect();
        Ok(Pool {
            config: PoolConfig {
                connections: n,
                ..config
            },
            tls: None,
            clock,
            poll,
            events: Events::with_capacity(n.min(1024) + 2),
            timer,
            conns,
            free: (0..n).rev().collect(),
            opened: Vec::new(),
            done: Vec::with_capacity(n),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            backoff: Backoff::default(),
            faults: Vec::new(),
            next_expiry_ns: u64::MAX,
            peak_in_flight: 0,
            busy_polled: 0,
            opened_count: 0,
            realtime_offset: None,
        })
    }

    /// The same pool speaking TLS to its server through `tls`.
    pub fn with_tls(mut self, tls: Option<Arc<TlsClient>>) -> Pool {
        self.tls = tls;
        self
    }

    /// A waker that interrupts a blocked [`wait`](Self::wait); make one per pool.
    pub fn waker(&self) -> std::io::Result<Waker> {
        Waker::new(self.poll.registry(), WAKER)
    }

    /// Connections without a request.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// Requests in progress.
    pub fn in_flight(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// When the connection the next [`start`](Self::start) uses finished its last request.
    pub fn next_idle_since_ns(&self) -> Option<u64> {
        self.next_free()
            .map(|k| self.conns[self.free[k]].idle_since_ns)
    }

    /// Where in `free` the connection the next request takes is: the front (free longest)
    /// in a pool of exactly N, spreading the requests; the back (freed last, warm) otherwise.
    fn next_free(&self) -> Option<usize> {
        let last = self.free.len().checked_sub(1)?;
        Some(if self.config.open_all { 0 } else { last })
    }

    /// Most requests that were in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight
    }

    /// Requests that ended since the last look; the caller drains it.
    pub fn done(&mut self) -> &mut Vec<Done> {
        &mut self.done
    }

    /// Starts `request` on a free connection and returns its start instant. The caller checks
    /// [`free`](Self::free) first.
    pub fn start(&mut self, request: Request) -> u64 {
        // Connections go on the free stack as they come free, so the bottom one has been
        // free longest: if even it came free after the request was due (and handed over),
        // every connection was busy then and the request waited that long for one.
        let first_free_ns =
            self.conns[*self.free.front().expect("a free connection")].idle_since_ns;
        let due = request.intended_ns.max(request.sent_ns);
        let queued_ns = first_free_ns.saturating_sub(due);
        // At either end of the queue: O(1).
        let next = self.next_free().and_then(|k| self.free.remove(k));
        let i = next.expect("start() needs a free connection");
        let now = self.clock.now_ns();
        self.peak_in_flight = self.peak_in_flight.max(self.conns.len() - self.free.len());
        let c = &mut self.conns[i];
        let deadline = request
            .intended_ns
            .saturating_add(self.config.request_timeout_ns);
        c.queued_ns = queued_ns;
        c.carried = true;
        c.request = request;
        c.start_ns = now;
        c.deadline_ns = deadline;
        c.retries = 0;
        c.resent = false;
        c.io = CallResult::ok();
        let vars = Vars {
            seq: request.seq,
            seed: self.config.seed,
            shard: self.config.shard,
        };
        let exchange = &mut c.exchange;
        if let Err(what) = guarded(|| exchange.prepare(&vars)) {
            self.note_fault(i, what);
            self.end(i, Some(ErrorKind::INTERNAL), true);
            return now;
        }
        c.io.name = c.exchange.name();
        self.note_deadline(deadline);
        self.begin(i, now);
        now
    }

    /// openpace's own code panicked on connection `i`'s request: noted for the report, the
    /// connection closed (whatever state the exchange is in is not trusted again).
    fn note_fault(&mut self, i: usize, what: String) {
        self.close(i);
        if self.faults.len() < MAX_FAULTS {
            self.faults.push(Fault {
                seq: self.conns[i].request.seq,
                what,
            });
        }
    }

    /// The faults of openpace's own code since the last look (at most 8 kept).
    pub fn take_faults(&mut self) -> Vec<Fault> {
        std::mem::take(&mut self.faults)
    }

    /// Polls once and advances the connections that are ready. Without `block` it only
    /// looks; with it, it sleeps until an event, a timeout, a wake-up or `until_ns` (run
    /// clock, kept to the nanosecond by a `timerfd`). Returns when the poll began and when
    /// it returned: the time the caller spent waiting rather than working.
    pub fn wait(&mut self, until_ns: Option<u64>, block: bool) -> (u64, u64) {
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let waits = Waits {
            clock: &self.clock,
            timer: &self.timer,
            until_ns,
            block,
            next_expiry_ns: self.next_expiry_ns,
        };
        let (now, woke) = waits.poll(&mut self.poll, &mut events);
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                TIMER => self.timer.clear(),
                Token(i) => self.ready(i, event.is_readable(), event.is_read_closed()),
            }
        }
        self.events = events;
        self.expire();
        (now, woke)
    }

    /// Sleeps on the poll until `sleep_ns` from now and returns how late the timer woke it
    /// (ns), for timing the host's wake-ups before a run; `None` when the timer cannot be
    /// armed or something else woke the poll first.
    pub fn time_a_wake_up(&mut self, sleep_ns: u64) -> Option<u64> {
        self.timer
            .time_a_sleep(&mut self.poll, &mut self.events, TIMER, sleep_ns)
    }

    fn note_deadline(&mut self, at_ns: u64) {
        self.next_expiry_ns = self.next_expiry_ns.min(at_ns);
    }

    /// Sends the current request of connection `i`, connecting first if needed.
    fn begin(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        c.exchange.reset();
        c.buf.clear();
        c.written = 0;
        c.received = 0;
        c.received_any = false;
        c.first_byte_ns = 0;
        c.rx_stamp = [0; 2];
        if c.stream.is_some() {
            c.state = State::Writing;
            self.write(i);
        } else {
            self.connect(i, now);
        }
    }

    fn connect(&mut self, i: usize, now: u64) {
        let opened = open_socket(
            &self.poll,
            &mut self.backoff,
            &self.config.peer,
            Token(i),
            now,
        );
        let stream = match opened {
            Ok(stream) => stream,
            Err(kind) => return self.fail(i, kind),
        };
        let deadline = now + self.config.connect_timeout_ns;
        self.opened_count = self.opened_count.wrapping_add(1);
        let c = &mut self.conns[i];
        c.serial = self.opened_count;
        c.stream = Some(stream);
        c.state = State::Connecting;
        c.reused = false;
        c.connect_deadline_ns = deadline;
        self.note_deadline(deadline);
    }

    /// Connection `i`'s socket is ready; `closed` when the peer's end is shut too.
    fn ready(&mut self, i: usize, readable: bool, closed: bool) {
        if i >= self.conns.len() {
            return;
        }
        match self.conns[i].state {
            State::Closed => {}
            State::Connecting => self.finish_connect(i, readable || closed, closed),
            State::Handshaking => self.handshake(i, readable || closed, closed),
            State::Writing => {
                self.write(i);
                if (readable || closed) && self.conns[i].state == State::Reading {
                    self.read(i, closed);
                }
            }
            State::Reading | State::Idle => self.read(i, closed),
        }
    }

    fn finish_connect(&mut self, i: usize, readable: bool, closed: bool) {
        let Some(stream) = self.conns[i].stream.as_ref() else {
            return;
        };
        match connect_outcome(stream) {
            Ok(true) => {}
            Ok(false) => return,
            Err(kind) => {
                self.backoff.fail(kind, self.clock.now_ns());
                return self.fail(i, kind);
            }
        }
        self.busy_polled += usize::from(tune(stream, self.config.busy_poll_us));
        // A socket the kernel will not stamp counts its requests as missing their stamps.
        let stamping = self.config.timestamps
            && matches!(stream, Stream::Tcp(_))
            && tstamp::enable(std::os::fd::AsRawFd::as_raw_fd(stream)).is_ok();
        let c = &mut self.conns[i];
        c.stamping = stamping;
        c.matcher.reset();
        c.io.connections += 1;
        if let Some(client) = &self.tls {
            match client.connect() {
                Ok(tls) => c.tls = Some(tls),
                Err(e) => return self.fail(i, tls::error_kind(&e)),
            }
            c.state = State::Handshaking;
            // On the monotonic clock: a connection opened ahead shakes hands before the
            // run's origin, where the run clock reads 0.
            c.handshake_from_ns = monotonic_ns();
            return self.handshake(i, readable, closed);
        }
        self.backoff = Backoff::default();
        if c.opening {
            return self.opened(i);
        }
        c.state = State::Writing;
        self.write(i);
        if readable && self.conns[i].state == State::Reading {
            self.read(i, closed);
        }
    }

    /// Connection `i`, opened ahead of the run, is ready: what it cost is kept for the
    /// worker's counts, and it waits for its first request.
    fn opened(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.opening = false;
        c.state = State::Idle;
        c.idle_since_ns = self.clock.now_ns();
        self.opened.push(c.io);
        c.io = CallResult::ok();
    }

    /// Opens every closed connection and waits until each is open (TLS handshake included)
    /// or has failed, at most until `until_ns`; one still opening then is
    /// closed again, for its first request to open. `until_ns` is the connect timeout from
    /// now. Nothing is measured: what the opening
    /// cost is in [`take_opened`](Self::take_opened). Call it before the first request.
    pub fn open_all(&mut self) {
        let now = self.clock.now_ns();
        let until_ns = now + self.config.connect_timeout_ns;
        for i in 0..self.conns.len() {
            if self.conns[i].state == State::Closed {
                let c = &mut self.conns[i];
                c.opening = true;
                c.io = CallResult::ok();
                c.deadline_ns = u64::MAX;
                self.connect(i, now);
            }
        }
        while self.conns.iter().any(|c| c.opening) && self.clock.now_ns() < until_ns {
            self.wait(Some(until_ns), true);
        }
        for i in 0..self.conns.len() {
            if self.conns[i].opening {
                self.conns[i].opening = false;
                self.close(i);
            }
        }
    }

    /// What opening connections ahead cost, one result per connection opened (its
    /// connection count and TLS handshake); taken once.
    pub fn take_opened(&mut self) -> Vec<CallResult> {
        std::mem::take(&mut self.opened)
    }

    /// Whether the pool opens all its connections before the run (`connections: N`).
    pub fn opens_all(&self) -> bool {
        self.config.open_all
    }

    /// Sockets that took SO_BUSY_POLL (`busy_poll_us`).
    pub fn busy_polled(&self) -> usize {
        self.busy_polled
    }

    /// Connections that carried at least one request.
    pub fn used(&self) -> usize {
        self.conns.iter().filter(|c| c.carried).count()
    }

    /// Advances connection `i`'s TLS handshake; once it is done, times it and sends the
    /// request. A failed handshake counts as a failed connection attempt (back-off).
    fn handshake(&mut self, i: usize, readable: bool, closed: bool) {
        let c = &mut self.conns[i];
        let (Some(stream), Some(tls)) = (c.stream.as_mut(), c.tls.as_mut()) else {
            return self.fail(i, kinds::IO);
        };
        let mut io = Io::of(stream, c.stamping, &mut c.matcher, &mut c.rx_stamp);
        match tls.handshake(&mut io) {
            Ok(false) => {}
            Ok(true) => {
                let took = monotonic_ns().saturating_sub(c.handshake_from_ns);
                c.io.handshake_ns = took.max(1);
                if tls.resumed() {
                    c.io.tags = c.io.tags.union(crate::targets::Tags::TLS_RESUMED);
                }
                self.backoff = Backoff::default();
                if c.opening {
                    return self.opened(i);
                }
                c.state = State::Writing;
                self.write(i);
                if readable && self.conns[i].state == State::Reading {
                    self.read(i, closed);
                }
            }
            Err(e) => {
                let kind = io_kind(&e);
                self.backoff.fail(kind, self.clock.now_ns());
                self.fail(i, kind)
            }
        }
    }

    fn write(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let Some(stream) = c.stream.as_mut() else {
            return self.fail(i, kinds::IO);
        };
        let request = c.exchange.request();
        let mut io = Io::of(stream, c.stamping, &mut c.matcher, &mut c.rx_stamp);
        let sent = match c.tls.as_mut() {
            Some(tls) => tls.write(&mut io, request, &mut c.written),
            None => write_plain(&mut io, request, &mut c.written),
        };
        match sent {
            Ok(false) => {}
            Ok(true) => {
                c.io.bytes_sent += request.len() as u64;
                c.state = State::Reading;
                if c.stamping {
                    // On most paths the stamp is queued before the send returns: taken now,
                    // it wakes no one later.
                    c.matcher.request_written(c.request.seq);
                    take_tx_stamps(c);
                    // What was read before (a TLS handshake) is not the response.
                    c.rx_stamp = [0; 2];
                }
            }
            Err(e) => {
                let stale = matches!(
                    e.kind(),
                    IoErrorKind::BrokenPipe | IoErrorKind::ConnectionReset
                );
                self.failed_io(i, stale, io_kind(&e))
            }
        }
    }

    /// Reads and parses what connection `i` received. `closed`: the event said the peer shut
    /// its end, so the socket must be read to its end-of-file.
    fn read(&mut self, i: usize, closed: bool) {
        loop {
            let c = &mut self.conns[i];
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            let mut io = Io::of(stream, c.stamping, &mut c.matcher, &mut c.rx_stamp);
            let got = match c.tls.as_mut() {
                Some(tls) => tls.read(&mut io, &mut self.scratch),
                None => io.read(&mut self.scratch),
            };
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return,
                Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                Err(e) if c.state == State::Idle => {
                    let _ = e;
                    return self.close(i);
                }
                Err(e) => return self.failed_io(i, true, io_kind(&e)),
            };
            if c.state == State::Idle {
                // The server closed the idle connection (0) or sent bytes nobody asked for.
                return self.close(i);
            }
            let (exchange, buf) = (&mut c.exchange, &mut c.buf);
            let outcome = if n == 0 {
                if !c.received_any && c.reused && !c.resent {
                    return self.failed_io(i, true, kinds::CLOSED);
                }
                guarded(|| exchange.at_close())
            } else {
                if !c.received_any {
                    c.first_byte_ns = self.clock.now_ns();
                }
                c.received_any = true;
                c.io.bytes_received += n as u64;
                c.received += n as u64;
                buf.extend_from_slice(&self.scratch[..n]);
                guarded(|| exchange.parse(buf))
            };
            let outcome = match outcome {
                // Past the limit with no end in sight: the rest is not read.
                Ok(Parse::NeedMore) if c.received > self.config.max_response_bytes => {
                    Parse::Failed(kinds::TOO_LARGE)
                }
                Ok(outcome) => outcome,
                Err(what) => {
                    self.note_fault(i, what);
                    return self.end(i, Some(ErrorKind::INTERNAL), true);
                }
            };
            match outcome {
                Parse::NeedMore if n == 0 => return self.fail(i, kinds::CLOSED),
                // A short read emptied the socket, and Linux signals every later arrival to an
                // edge-triggered epoll, so reading on until EWOULDBLOCK would only cost a
                // system call per response. Not so for an end-of-file that came with this
                // event: it must be read now.
                // TLS hands out one record's plaintext at a time: more may wait in its
                // buffer, so it is read until WouldBlock.
                Parse::NeedMore if n < READ_CHUNK && !closed && c.tls.is_none() => return,
                Parse::NeedMore => {}
                Parse::Done { error, close } => {
                    // Bytes past the response would corrupt the next one.
                    let close = close || n == 0 || !c.buf.is_empty();
                    return self.end(i, error, close);
                }
                Parse::Failed(kind) => return self.fail(i, kind),
            }
        }
    }

    /// A socket error: before any byte of the response on a reused connection the server
    /// most likely closed it while the request was on its way, so it is sent again once on a
    /// new connection; otherwise the request fails with `kind`.
    fn failed_io(&mut self, i: usize, maybe_stale: bool, kind: ErrorKind) {
        let c = &mut self.conns[i];
        if maybe_stale && c.reused && !c.received_any && !c.resent {
            c.resent = true;
            self.close(i);
            let now = self.clock.now_ns();
            return self.begin(i, now);
        }
        self.fail(i, kind)
    }

    /// Ends the current request of `i` with a fault: closes the connection, retries or
    /// reports.
    fn fail(&mut self, i: usize, kind: ErrorKind) {
        self.close(i);
        if self.conns[i].opening {
            // Opened ahead, no request on it: it stays closed, and a request opens it.
            self.conns[i].opening = false;
            return;
        }
        self.end(i, Some(kind), true);
    }

    /// Ends the current request of `i`: retries a failure while attempts and time remain,
    /// otherwise records it as done and frees the connection.
    fn end(&mut self, i: usize, error: Option<ErrorKind>, close: bool) {
        let now = self.clock.now_ns();
        let kernel = self.config.timestamps.then(|| self.kernel_stamps(i, now));
        if close {
            self.close(i);
        }
        let c = &mut self.conns[i];
        // A fault of openpace's own would only repeat.
        let retry = error.is_some_and(|e| e != ErrorKind::INTERNAL);
        if retry && c.retries < self.config.max_retries && now < c.deadline_ns {
            c.retries += 1;
            c.resent = false;
            return self.begin(i, now);
        }
        if !close {
            c.state = State::Idle;
            c.reused = true;
        }
        self.done.push(Done {
            request: c.request,
            start_ns: c.start_ns,
            end_ns: now,
            idle_since_ns: c.idle_since_ns,
            retries: c.retries,
            queued_ns: c.queued_ns,
            result: CallResult { error, ..c.io },
            first_byte_ns: c.first_byte_ns,
            connection: c.serial,
            stream: 0,
            kernel,
        });
        c.idle_since_ns = now;
        self.free.push_back(i);
    }

    /// Connection `i`'s kernel stamps of its current request, on the run clock (0: missing):
    /// its TX stamp from the error queue (if it was not taken as the request went out), the RX
    /// stamps of the first read of its response and of the read that ended it. `now` is the
    /// request's end (run clock): the realtime offset is read again when a second has passed.
    fn kernel_stamps(&mut self, i: usize, now: u64) -> KernelStamps {
        let c = &mut self.conns[i];
        if !c.stamping || c.stream.is_none() {
            return KernelStamps::default();
        }
        take_tx_stamps(c);
        let tx = c.matcher.take(c.request.seq).unwrap_or(0);
        let [rx_first, rx_last] = std::mem::take(&mut c.rx_stamp);
        let offset = match self.realtime_offset {
            Some((offset, at)) if now.saturating_sub(at) < 1_000_000_000 => offset,
            _ => {
                let offset = tstamp::realtime_offset_ns();
                self.realtime_offset = Some((offset, now));
                offset
            }
        };
        let origin = self.clock.absolute_ns(0);
        let on_run_clock = |realtime: u64| match realtime {
            0 => 0,
            t => tstamp::to_monotonic(t, offset).saturating_sub(origin),
        };
        KernelStamps {
            tx_ns: on_run_clock(tx),
            rx_first_ns: on_run_clock(rx_first),
            rx_last_ns: on_run_clock(rx_last),
        }
    }

    /// Closes every connection and forgets the requests on them: the run gave them up.
    pub fn close_all(&mut self) {
        for i in 0..self.conns.len() {
            self.close(i);
        }
        self.free = (0..self.conns.len()).rev().collect();
        self.done.clear();
    }

    fn close(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if let Some(mut stream) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        c.tls = None;
        c.state = State::Closed;
        c.reused = false;
        c.buf.clear();
    }

    /// Times out connections past their deadlines, at most once per earliest deadline.
    fn expire(&mut self) {
        let now = self.clock.now_ns();
        if now < self.next_expiry_ns {
            return;
        }
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let busy = matches!(
                c.state,
                State::Connecting | State::Handshaking | State::Writing | State::Reading
            );
            let connecting = matches!(c.state, State::Connecting | State::Handshaking);
            if !busy {
                continue;
            }
            if now >= c.deadline_ns {
                self.fail(i, kinds::TIMEOUT);
            } else if connecting && now >= c.connect_deadline_ns {
                self.backoff.fail(kinds::CONNECT_TIMEOUT, now);
                self.fail(i, kinds::CONNECT_TIMEOUT);
            }
        }
        self.next_expiry_ns = self
            .conns
            .iter()
            .filter(|c| c.state != State::Closed && c.state != State::Idle)
            .map(|c| {
                if matches!(c.state, State::Connecting | State::Handshaking) {
                    c.deadline_ns.min(c.connect_deadline_ns)
                } else {
                    c.deadline_ns
                }
            })
            .min()
            .unwrap_or(u64::MAX);
    }
}

/// Starts a non-blocking connection to `peer`, registered with `poll` under `token`; the kind
/// of its failure otherwise (a back-off in force included). A failed attempt backs off the
/// next ones.
pub(crate) fn open_socket(
    poll: &Poll,
    backoff: &mut Backoff,
    peer: &Peer,
    token: Token,
    now: u64,
) -> Result<Stream, ErrorKind> {
    if let Some(kind) = backoff.blocked(now) {
        return Err(kind);
    }
    let mut stream = Stream::connect(peer).map_err(|e| {
        backoff.fail(io_kind(&e), now);
        io_kind(&e)
    })?;
    let interest = Interest::READABLE | Interest::WRITABLE;
    poll.registry()
        .register(&mut stream, token, interest)
        .map_err(|e| io_kind(&e))?;
    Ok(stream)
}

/// Whether a non-blocking connect has finished: `Ok(true)` connected, `Ok(false)` not yet,
/// or the kind of its failure.
pub(crate) fn connect_outcome(stream: &Stream) -> Result<bool, ErrorKind> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => Err(io_kind(&e)),
        Ok(None) => stream.connected().map_err(|e| io_kind(&e)),
    }
}

/// Readies a connected socket: Nagle off and, with `busy_poll_us`, busy polling; returns
/// whether the socket took SO_BUSY_POLL.
pub(crate) fn tune(stream: &Stream, busy_poll_us: u32) -> bool {
    stream.set_nodelay();
    if busy_poll_us == 0 {
        return false;
    }
    // Permitted: the run checked it before it started; counted, not assumed.
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
    crate::base::sys::set_busy_poll(fd, busy_poll_us).is_ok()
}

/// One poll of a pool ([`Pool::wait`]): without `block` it only looks; with it, it sleeps
/// until an event, the earliest deadline, a wake-up, [`MAX_BLOCK_NS`] or `until_ns` (run
/// clock, kept to the nanosecond by the `timerfd`).
pub(crate) struct Waits<'a> {
    pub clock: &'a RunClock,
    pub timer: &'a TimerFd,
    pub until_ns: Option<u64>,
    pub block: bool,
    /// No request or connection times out before this instant.
    pub next_expiry_ns: u64,
}

impl Waits<'_> {
    /// Polls `poll` once into `events`; returns when the poll began and when it returned.
    pub fn poll(&self, poll: &mut Poll, events: &mut Events) -> (u64, u64) {
        let now = self.clock.now_ns();
        let timeout = if self.block {
            let until = self
                .until_ns
                .unwrap_or(u64::MAX)
                .min(self.next_expiry_ns)
                .min(now + MAX_BLOCK_NS);
            if until <= now {
                Duration::ZERO
            } else if self.until_ns == Some(until)
                && self.timer.arm_at(self.clock.absolute_ns(until)).is_ok()
            {
                // The timerfd wakes the poll on time; the timeout is a backstop.
                Duration::from_nanos(until - now) + Duration::from_millis(2)
            } else {
                Duration::from_nanos(until - now)
            }
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(events, Some(timeout)) {
            debug_assert_eq!(e.kind(), IoErrorKind::Interrupted);
        }
        (now, self.clock.now_ns())
    }
}

/// Takes the TX stamps waiting on connection `c`'s error queue until its current request has
/// one (or none is left).
fn take_tx_stamps(c: &mut Conn) {
    let (Some(stream), seq) = (c.stream.as_ref(), c.request.seq) else {
        return;
    };
    if c.matcher.has(seq) {
        return;
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
    let matcher = &mut c.matcher;
    let _ = tstamp::tx_stamps(fd, |stamp| {
        matcher.stamp(stamp);
        !matcher.has(seq)
    });
}

/// A connection's socket as its protocol reads and writes it: with kernel timestamps, reads go
/// through `recvmsg` (keeping the RX stamp) and the bytes written are counted for the TX
/// stamps' offsets.
pub(crate) struct Io<'a> {
    stream: &'a mut Stream,
    stamps: Option<(&'a mut TxMatcher, &'a mut [u64; 2])>,
}

impl<'a> Io<'a> {
    /// `stream` as is, without kernel stamps.
    pub(crate) fn plain(stream: &'a mut Stream) -> Io<'a> {
        Io {
            stream,
            stamps: None,
        }
    }

    fn of(
        stream: &'a mut Stream,
        stamping: bool,
        matcher: &'a mut TxMatcher,
        rx_stamp: &'a mut [u64; 2],
    ) -> Io<'a> {
        Io {
            stream,
            stamps: stamping.then_some((matcher, rx_stamp)),
        }
    }
}

impl Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((_, rx_stamp)) = self.stamps.as_mut() else {
            return self.stream.read(buf);
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&*self.stream);
        let (n, stamp) = tstamp::recv(fd, buf)?;
        if stamp > 0 {
            if rx_stamp[0] == 0 {
                rx_stamp[0] = stamp;
            }
            rx_stamp[1] = stamp;
        }
        Ok(n)
    }
}

impl Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.stream.write(buf)?;
        if let Some((matcher, _)) = self.stamps.as_mut() {
            matcher.sent(n);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Writes what is left of `request` (from `*written`) to a plain socket: `Ok(true)` when all
/// of it is out, `Ok(false)` when the socket is full. A write of 0 bytes is the peer's close.
pub(crate) fn write_plain(
    stream: &mut impl Write,
    request: &[u8],
    written: &mut usize,
) -> std::io::Result<bool> {
    while *written < request.len() {
        match stream.write(&request[*written..]) {
            Ok(0) => return Err(IoErrorKind::UnexpectedEof.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == IoErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == IoErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The error kind of a socket error.
pub(crate) fn io_kind(e: &std::io::Error) -> ErrorKind {
    if let Some(kind) = tls::io_error_kind(e) {
        return kind;
    }
    match e.kind() {
        IoErrorKind::ConnectionRefused => kinds::REFUSED,
        IoErrorKind::ConnectionReset | IoErrorKind::ConnectionAborted => kinds::RESET,
        IoErrorKind::BrokenPipe | IoErrorKind::UnexpectedEof => kinds::CLOSED,
        IoErrorKind::TimedOut => kinds::TIMEOUT,
        _ => kinds::IO,
    }
}
