//! One worker's HTTP/2 connections, driven by one `mio::Poll`: the [`Pool`](super::super::Pool)
//! of HTTP/2, where a connection carries many requests at once.
//!
//! A connection is a link with `streams` slots; each slot has its own exchange (the HTTP
//! target's, or gRPC's) and carries one request at a time as one stream. [`H2Pool::start`]
//! puts a request on the first open link with a free slot (the link free longest with
//! `connections: N`, spreading the requests as h2load does), else on a link still connecting,
//! else opens one; links are made as they are first needed, up to `connections`. The server's
//! SETTINGS_MAX_CONCURRENT_STREAMS caps a link below its slots.
//!
//! # Faults
//!
//! A stream fails on its own: RST_STREAM is an error of kind `rst_CODE` (`rst_cancel`,
//! `rst_internal_error`, ...); a stream the server refused without processing it
//! (REFUSED_STREAM, or above a GOAWAY's last stream) is sent again on another link and
//! counted as a retry; a response that breaks HTTP/2's rules (no `:status`, data before the
//! head) is `malformed_status`; a response past `max_response_bytes` is cancelled
//! (RST_STREAM CANCEL) as `response_too_large`. At a request's deadline its stream is
//! cancelled and the request ends as `timeout`: the link and its other streams go on. A link
//! fails whole on a socket error, a connection error (GOAWAY sent with its code: kind
//! `protocol`), or the server closing it: each request on it ends with that kind, or, if
//! nothing of its response had come on a link that had served others, is sent again once on a
//! new link, as HTTP/1.1's stale connections are. After a GOAWAY a link takes no new stream;
//! it closes when its last one ends, and a later request opens it again. Failed connection
//! attempts back off as in the HTTP/1.1 pool. A panic in an exchange's code ends its request
//! as `internal`, kept as a [`Fault`].

use std::collections::VecDeque;
use std::io::{ErrorKind as IoErrorKind, Read};
use std::sync::Arc;

use mio::{Events, Poll, Token, Waker};

use super::conn::{H2Conn, Sink, StreamEnd};
use super::frame::code;
use crate::base::clock::{RunClock, monotonic_ns};
use crate::base::fault::guarded;
use crate::base::timerfd::TimerFd;
use crate::targets::net::http::kinds::{HEADERS_TOO_LARGE, MALFORMED_STATUS};
use crate::targets::net::kinds;
use crate::targets::net::peer::Stream;
use crate::targets::net::pool::{
    Backoff, Done, Fault, Io, MAX_FAULTS, PoolConfig, READ_CHUNK, TIMER, WAKER, Waits,
    connect_outcome, io_kind, open_socket, tune, write_plain,
};
use crate::targets::net::template::Vars;
use crate::targets::net::tls::{self, TlsClient};
use crate::targets::net::{StreamExchange, StreamExchangeFactory};
use crate::targets::{CallResult, ErrorKind, Request};

/// The server agreed to another protocol than HTTP/2 in its TLS handshake (ALPN).
pub const NOT_H2: ErrorKind = ErrorKind::new("alpn_not_h2");

/// A request on a stream slot.
struct Call {
    exchange: Box<dyn StreamExchange>,
    busy: bool,
    /// Its stream is open on the link (false while the link connects).
    sent: bool,
    request: Request,
    start_ns: u64,
    deadline_ns: u64,
    retries: u32,
    /// Sent again once after its link failed before any of its response came.
    resent: bool,
    idle_since_ns: u64,
    queued_ns: u64,
    io: CallResult,
    first_byte_ns: u64,
    /// Its stream, once opened.
    stream: u32,
    /// The first fault its response showed (a body past the limit, a panic).
    error: Option<ErrorKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Connecting,
    Handshaking,
    Open,
}

/// One connection and its slots.
struct Link {
    stream: Option<Stream>,
    tls: Option<tls::Session>,
    state: State,
    conn: H2Conn,
    /// Of `conn.out()`, the bytes already written.
    written: usize,
    inbuf: Vec<u8>,
    calls: Vec<Call>,
    serial: u32,
    connect_deadline_ns: u64,
    handshake_from_ns: u64,
    /// Opened ahead of the run, with no request on it.
    opening: bool,
    /// It answered a request since it was opened: a close may be a stale one.
    served: bool,
    carried: bool,
    /// Its slots with a request, kept as they change: `free` asks every link per request.
    busy: usize,
    /// What the connection cost (connects, handshake, bytes) not yet put on a request.
    costs: CallResult,
}

impl Link {
    /// Requests it can take now: its free slots, within the server's limit and none after a
    /// GOAWAY once it is open; all its free slots while it is closed or opening (a new
    /// connection starts afresh).
    fn room(&self) -> usize {
        let busy = self.busy();
        match self.state {
            State::Open => self.conn.capacity().saturating_sub(busy),
            _ => self.calls.len() - busy,
        }
    }

    fn busy(&self) -> usize {
        self.busy
    }
}

/// A request taken off its slot to be sent again, with what it keeps.
#[derive(Clone, Copy)]
struct Waiting {
    request: Request,
    start_ns: u64,
    deadline_ns: u64,
    retries: u32,
    resent: bool,
    queued_ns: u64,
}

/// How a stream ended, noted while the connection's frames are read and handled after.
#[derive(Clone, Debug)]
enum Ended {
    Complete,
    /// Cancelled by this side: the response broke a limit.
    Cancel,
    Failed(StreamEnd),
    Fault(String),
}

/// Passes what a connection decoded to its slots' exchanges.
struct Slots<'a> {
    calls: &'a mut [Call],
    ended: &'a mut Vec<(usize, Ended)>,
    now: u64,
}

impl Slots<'_> {
    /// Runs an exchange callback, noting a panic as the request's end.
    fn guard(&mut self, slot: usize, f: impl FnOnce(&mut dyn StreamExchange)) {
        let call = &mut self.calls[slot];
        if call.error.is_some() {
            return;
        }
        let exchange = &mut *call.exchange;
        if let Err(what) = guarded(|| f(exchange)) {
            call.error = Some(ErrorKind::INTERNAL);
            self.ended.push((slot, Ended::Fault(what)));
        }
    }
}

impl Sink for Slots<'_> {
    fn head(&mut self, slot: usize, status: u16) {
        self.calls[slot].first_byte_ns = self.now;
        self.guard(slot, |e| e.head(status));
    }

    fn field(&mut self, slot: usize, name: &[u8], value: &[u8]) {
        self.guard(slot, |e| e.field(name, value));
    }

    fn data(&mut self, slot: usize, data: &[u8]) {
        let call = &mut self.calls[slot];
        if call.error.is_some() {
            return;
        }
        let exchange = &mut *call.exchange;
        match guarded(|| exchange.data(data)) {
            Ok(Ok(())) => {}
            Ok(Err(kind)) => {
                call.error = Some(kind);
                self.ended.push((slot, Ended::Cancel));
            }
            Err(what) => {
                call.error = Some(ErrorKind::INTERNAL);
                self.ended.push((slot, Ended::Fault(what)));
            }
        }
    }

    fn end(&mut self, slot: usize) {
        self.ended.push((slot, Ended::Complete));
    }

    fn failed(&mut self, slot: usize, why: StreamEnd) {
        self.ended.push((slot, Ended::Failed(why)));
    }
}

/// A worker's HTTP/2 connections; see the module doc.
pub struct H2Pool {
    config: PoolConfig,
    streams: usize,
    exchange: StreamExchangeFactory,
    tls: Option<Arc<TlsClient>>,
    clock: RunClock,
    poll: Poll,
    events: Events,
    timer: TimerFd,
    links: Vec<Link>,
    /// Requests to send again (refused by the server, or their link failed before any of
    /// their response came): they go before new ones.
    again: VecDeque<Waiting>,
    /// Streams ended while a link's frames were read.
    ended: Vec<(usize, Ended)>,
    opened: Vec<CallResult>,
    done: Vec<Done>,
    scratch: Box<[u8]>,
    backoff: Backoff,
    faults: Vec<Fault>,
    next_expiry_ns: u64,
    in_flight: usize,
    peak_in_flight: usize,
    busy_polled: usize,
    opened_count: u32,
    /// The link the last request went to (`connections: N` takes the next one).
    cursor: usize,
}

impl H2Pool {
    /// A pool of up to `config.connections` links of `streams` slots each; nothing connects
    /// until the first request.
    pub fn new(
        config: PoolConfig,
        streams: usize,
        exchange: StreamExchangeFactory,
        clock: RunClock,
    ) -> std::io::Result<H2Pool> {
        let poll = Poll::new()?;
        let timer = TimerFd::new()?;
        timer.register(&poll, TIMER)?;
        let n = config.connections.max(1);
        Ok(H2Pool {
            config: PoolConfig {
                connections: n,
                ..config
            },
            streams: streams.max(1),
            exchange,
            tls: None,
            clock,
            poll,
            events: Events::with_capacity(n.min(1024) + 2),
            timer,
            links: Vec::new(),
            again: VecDeque::new(),
            ended: Vec::new(),
            opened: Vec::new(),
            done: Vec::with_capacity(n * streams.max(1)),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            backoff: Backoff::default(),
            faults: Vec::new(),
            next_expiry_ns: u64::MAX,
            in_flight: 0,
            peak_in_flight: 0,
            busy_polled: 0,
            opened_count: 0,
            cursor: 0,
        })
    }

    /// The same pool speaking TLS (ALPN `h2`) through `tls`.
    pub fn with_tls(mut self, tls: Option<Arc<TlsClient>>) -> H2Pool {
        self.tls = tls;
        self
    }

    /// A waker that interrupts a blocked [`wait`](Self::wait).
    pub fn waker(&self) -> std::io::Result<Waker> {
        Waker::new(self.poll.registry(), WAKER)
    }

    /// Requests that can start now: free slots of the links made, and those of the links
    /// not made yet, less the requests waiting to be sent again.
    pub fn free(&self) -> usize {
        let made: usize = self.links.iter().map(Link::room).sum();
        let unmade = (self.config.connections - self.links.len()) * self.streams;
        (made + unmade).saturating_sub(self.again.len())
    }

    /// Requests in progress.
    pub fn in_flight(&self) -> usize {
        self.in_flight + self.again.len()
    }

    /// Most requests in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight
    }

    /// Requests that ended since the last look; the caller drains it.
    pub fn done(&mut self) -> &mut Vec<Done> {
        &mut self.done
    }

    /// The faults of openpace's own code since the last look.
    pub fn take_faults(&mut self) -> Vec<Fault> {
        std::mem::take(&mut self.faults)
    }

    /// Sockets that took SO_BUSY_POLL.
    pub fn busy_polled(&self) -> usize {
        self.busy_polled
    }

    /// Connections that carried at least one request.
    pub fn used(&self) -> usize {
        self.links.iter().filter(|l| l.carried).count()
    }

    /// Whether the pool opens all its connections before the run (`connections: N`).
    pub fn opens_all(&self) -> bool {
        self.config.open_all
    }

    /// What opening connections ahead cost, one result per connection opened; taken once.
    pub fn take_opened(&mut self) -> Vec<CallResult> {
        std::mem::take(&mut self.opened)
    }

    /// When the slot the next [`start`](Self::start) takes finished its last request.
    pub fn next_idle_since_ns(&self) -> Option<u64> {
        let (l, slot) = self.pick()?;
        Some(
            self.links
                .get(l)
                .map_or(0, |link| link.calls[slot].idle_since_ns),
        )
    }

    /// The link and slot the next request takes: an open link with room (the next one
    /// after the last used with `connections: N`, the first otherwise), else one connecting,
    /// else a closed one, else a link not made yet (`links.len()`, slot 0).
    fn pick(&self) -> Option<(usize, usize)> {
        let n = self.links.len();
        let order = |k: usize| match self.config.open_all {
            true => (self.cursor + 1 + k) % n.max(1),
            false => k,
        };
        for want in [
            State::Open,
            State::Connecting,
            State::Handshaking,
            State::Closed,
        ] {
            for k in 0..n {
                let l = order(k);
                let link = &self.links[l];
                if link.state == want && link.room() > 0 {
                    let slot = link.calls.iter().position(|c| !c.busy)?;
                    return Some((l, slot));
                }
            }
        }
        (n < self.config.connections).then_some((n, 0))
    }

    /// When the slot free longest came free: 0 while a link is still to be made.
    fn free_since_ns(&self) -> u64 {
        if self.links.len() < self.config.connections {
            return 0;
        }
        let free = self
            .links
            .iter()
            .filter(|l| l.room() > 0)
            .flat_map(|l| l.calls.iter().filter(|c| !c.busy).map(|c| c.idle_since_ns));
        free.min().unwrap_or(0)
    }

    /// A new link: its slots' exchanges made, nothing connected.
    fn make_link(&mut self) {
        let tls = self.tls.is_some();
        let calls = (0..self.streams)
            .map(|_| Call {
                exchange: (self.exchange)(),
                busy: false,
                sent: false,
                request: Request {
                    seq: 0,
                    intended_ns: 0,
                    sent_ns: 0,
                },
                start_ns: 0,
                deadline_ns: 0,
                retries: 0,
                resent: false,
                idle_since_ns: 0,
                queued_ns: 0,
                io: CallResult::ok(),
                first_byte_ns: 0,
                stream: 0,
                error: None,
            })
            .collect();
        self.links.push(Link {
            stream: None,
            tls: None,
            state: State::Closed,
            conn: H2Conn::new(self.streams, tls),
            written: 0,
            inbuf: Vec::new(),
            calls,
            serial: 0,
            connect_deadline_ns: 0,
            handshake_from_ns: 0,
            opening: false,
            served: false,
            carried: false,
            busy: 0,
            costs: CallResult::ok(),
        });
    }

    /// Starts `request` on a free slot and returns its start instant. The caller checks
    /// [`free`](Self::free) first.
    pub fn start(&mut self, request: Request) -> u64 {
        let now = self.clock.now_ns();
        let (l, slot) = self.pick().expect("start() needs a free slot");
        if l == self.links.len() {
            self.make_link();
        }
        self.cursor = l;
        // If even the slot free longest came free after the request was due, every slot was
        // busy then and the request waited that long for one.
        let free_since = self.free_since_ns();
        let call = &mut self.links[l].calls[slot];
        let due = request.intended_ns.max(request.sent_ns);
        call.queued_ns = free_since.saturating_sub(due);
        call.request = request;
        call.start_ns = now;
        call.deadline_ns = request
            .intended_ns
            .saturating_add(self.config.request_timeout_ns);
        call.retries = 0;
        call.resent = false;
        call.io = CallResult::ok();
        self.place(l, slot, now);
        now
    }

    /// Puts the request of `slot` of link `l` (filled in) on its stream: renders it, and
    /// sends it if the link is open, or opens the link.
    fn place(&mut self, l: usize, slot: usize, now: u64) {
        let vars = Vars {
            seq: self.links[l].calls[slot].request.seq,
            seed: self.config.seed,
            shard: self.config.shard,
        };
        let link = &mut self.links[l];
        link.carried = true;
        link.busy += 1;
        let call = &mut link.calls[slot];
        call.busy = true;
        call.sent = false;
        call.error = None;
        call.first_byte_ns = 0;
        self.in_flight += 1;
        self.peak_in_flight = self.peak_in_flight.max(self.in_flight);
        self.next_expiry_ns = self.next_expiry_ns.min(call.deadline_ns);
        let exchange = &mut call.exchange;
        let prepared = guarded(|| {
            exchange.begin();
            exchange.prepare(&vars);
            exchange.name()
        });
        match prepared {
            Ok(name) => call.io.name = name,
            Err(what) => return self.fault(l, slot, what),
        }
        match self.links[l].state {
            // Beyond the server's limit it waits for a stream to end (`send_waiting`).
            State::Open if self.links[l].conn.can_open() => {
                self.send(l, slot);
                self.flush(l);
            }
            State::Open => {}
            State::Closed => self.connect(l, now),
            State::Connecting | State::Handshaking => {}
        }
    }

    /// Opens the stream of `slot` on open link `l`.
    fn send(&mut self, l: usize, slot: usize) {
        let link = &mut self.links[l];
        let call = &mut link.calls[slot];
        match link.conn.start(slot, call.exchange.request()) {
            Ok(id) => {
                call.sent = true;
                call.stream = id;
            }
            Err(why) => self.fault(l, slot, why.to_string()),
        }
    }

    /// openpace's own code failed on `slot`'s request: noted, the request ended `internal`.
    fn fault(&mut self, l: usize, slot: usize, what: String) {
        if self.faults.len() < MAX_FAULTS {
            let seq = self.links[l].calls[slot].request.seq;
            self.faults.push(Fault { seq, what });
        }
        self.links[l].conn.cancel(slot);
        self.finish(l, slot, Some(ErrorKind::INTERNAL));
    }

    fn connect(&mut self, l: usize, now: u64) {
        let opened = open_socket(
            &self.poll,
            &mut self.backoff,
            &self.config.peer,
            Token(l),
            now,
        );
        let stream = match opened {
            Ok(stream) => stream,
            Err(kind) => return self.fail_link(l, kind),
        };
        self.opened_count = self.opened_count.wrapping_add(1);
        let deadline = now + self.config.connect_timeout_ns;
        let link = &mut self.links[l];
        link.serial = self.opened_count;
        link.stream = Some(stream);
        link.state = State::Connecting;
        link.served = false;
        link.connect_deadline_ns = deadline;
        link.conn = H2Conn::new(self.streams, self.tls.is_some());
        link.written = 0;
        link.inbuf.clear();
        self.next_expiry_ns = self.next_expiry_ns.min(deadline);
    }

    /// Polls once and advances the links that are ready (see [`Pool::wait`]).
    ///
    /// [`Pool::wait`]: crate::targets::net::Pool::wait
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
                Token(l) if l < self.links.len() => self.ready(l, event.is_read_closed()),
                Token(_) => {}
            }
        }
        self.events = events;
        self.expire();
        self.send_again();
        (now, woke)
    }

    /// Sleeps on the poll until `sleep_ns` from now and returns how late the timer woke it.
    pub fn time_a_wake_up(&mut self, sleep_ns: u64) -> Option<u64> {
        self.timer
            .time_a_sleep(&mut self.poll, &mut self.events, TIMER, sleep_ns)
    }

    fn ready(&mut self, l: usize, closed: bool) {
        match self.links[l].state {
            State::Closed => {}
            State::Connecting => self.finish_connect(l),
            State::Handshaking => self.handshake(l),
            State::Open => {
                self.flush(l);
                self.read(l, closed);
            }
        }
    }

    fn finish_connect(&mut self, l: usize) {
        let Some(stream) = self.links[l].stream.as_ref() else {
            return;
        };
        match connect_outcome(stream) {
            Ok(true) => {}
            Ok(false) => return,
            Err(kind) => {
                self.backoff.fail(kind, self.clock.now_ns());
                return self.fail_link(l, kind);
            }
        }
        self.busy_polled += usize::from(tune(stream, self.config.busy_poll_us));
        let link = &mut self.links[l];
        link.costs.connections += 1;
        if let Some(client) = &self.tls {
            match client.connect() {
                Ok(session) => link.tls = Some(session),
                Err(e) => return self.fail_link(l, tls::error_kind(&e)),
            }
            link.state = State::Handshaking;
            link.handshake_from_ns = monotonic_ns();
            return self.handshake(l);
        }
        self.opened(l);
    }

    fn handshake(&mut self, l: usize) {
        let link = &mut self.links[l];
        let (Some(stream), Some(session)) = (link.stream.as_mut(), link.tls.as_mut()) else {
            return self.fail_link(l, kinds::IO);
        };
        match session.handshake(&mut Io::plain(stream)) {
            Ok(false) => {}
            Ok(true) if session.alpn() != Some(b"h2") => self.fail_link(l, NOT_H2),
            Ok(true) => {
                let took = monotonic_ns().saturating_sub(link.handshake_from_ns);
                link.costs.handshake_ns = took.max(1);
                if session.resumed() {
                    link.costs.tags = link.costs.tags.union(crate::targets::Tags::TLS_RESUMED);
                }
                self.opened(l);
            }
            Err(e) => {
                let kind = io_kind(&e);
                self.backoff.fail(kind, self.clock.now_ns());
                self.fail_link(l, kind)
            }
        }
    }

    /// Link `l` is connected (and its TLS handshake done): the streams waiting on it open.
    fn opened(&mut self, l: usize) {
        self.backoff = Backoff::default();
        let link = &mut self.links[l];
        link.state = State::Open;
        if link.opening {
            link.opening = false;
            self.opened
                .push(std::mem::replace(&mut link.costs, CallResult::ok()));
        }
        self.send_waiting(l);
        self.flush(l);
        self.read(l, false);
    }

    /// Opens the streams of link `l`'s requests that wait for one, as far as the server's
    /// limit allows (the rest go as streams end).
    fn send_waiting(&mut self, l: usize) {
        for slot in 0..self.links[l].calls.len() {
            let call = &self.links[l].calls[slot];
            if call.busy && !call.sent && self.links[l].conn.can_open() {
                self.send(l, slot);
            }
        }
    }

    /// Writes what link `l`'s connection has queued, as far as the socket takes it.
    fn flush(&mut self, l: usize) {
        let link = &mut self.links[l];
        let Some(stream) = link.stream.as_mut() else {
            return;
        };
        let before = link.written;
        let out = link.conn.out();
        if out.is_empty() {
            return;
        }
        let mut io = Io::plain(stream);
        let sent = match link.tls.as_mut() {
            Some(session) => session.write(&mut io, out, &mut link.written),
            None => write_plain(&mut io, out, &mut link.written),
        };
        link.costs.bytes_sent += (link.written - before) as u64;
        match sent {
            Ok(true) => {
                out.clear();
                link.written = 0;
            }
            Ok(false) => {}
            Err(e) => self.fail_link(l, io_kind(&e)),
        }
    }

    /// Reads what link `l` received and hands it to its connection. `closed`: the peer shut
    /// its end, so the socket is read to its end-of-file.
    fn read(&mut self, l: usize, closed: bool) {
        loop {
            let link = &mut self.links[l];
            let Some(stream) = link.stream.as_mut() else {
                return;
            };
            let mut io = Io::plain(stream);
            let got = match link.tls.as_mut() {
                Some(session) => session.read(&mut io, &mut self.scratch),
                None => io.read(&mut self.scratch),
            };
            let n = match got {
                Ok(0) => return self.fail_link(l, kinds::CLOSED),
                Ok(n) => n,
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return,
                Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                Err(e) => return self.fail_link(l, io_kind(&e)),
            };
            link.costs.bytes_received += n as u64;
            if link.inbuf.len() + n > super::conn::MAX_HEADER_BLOCK + (1 << 24) + 9 {
                // More than the largest frame waiting whole: the peer broke its own limits.
                return self.broken(l, code::FRAME_SIZE_ERROR);
            }
            link.inbuf.extend_from_slice(&self.scratch[..n]);
            let mut slots = Slots {
                calls: &mut link.calls,
                ended: &mut self.ended,
                now: self.clock.now_ns(),
            };
            let taken = link.conn.receive(&link.inbuf, &mut slots);
            match taken {
                Ok(used) => {
                    link.inbuf.drain(..used);
                }
                Err(e) => return self.broken(l, e.code),
            }
            self.settle(l);
            if self.links[l].state != State::Open {
                return;
            }
            self.flush(l);
            let plain = self.links[l].tls.is_none();
            if n < READ_CHUNK && !closed && plain {
                return;
            }
        }
    }

    /// Handles the streams of link `l` that ended while its frames were read.
    fn settle(&mut self, l: usize) {
        let mut ended = std::mem::take(&mut self.ended);
        for (slot, how) in ended.drain(..) {
            if !self.links[l].calls[slot].busy {
                continue;
            }
            match how {
                Ended::Complete => {
                    let call = &mut self.links[l].calls[slot];
                    let exchange = &mut call.exchange;
                    let error = match call.error {
                        Some(kind) => Some(kind),
                        None => match guarded(|| exchange.end()) {
                            Ok(error) => error,
                            Err(what) => {
                                self.fault(l, slot, what);
                                continue;
                            }
                        },
                    };
                    self.links[l].served = true;
                    self.finish(l, slot, error);
                }
                Ended::Cancel => {
                    self.links[l].conn.cancel(slot);
                    let error = self.links[l].calls[slot].error;
                    self.finish(l, slot, error);
                }
                Ended::Fault(what) => self.fault(l, slot, what),
                Ended::Failed(StreamEnd::Refused) => self.again(l, slot, true),
                Ended::Failed(why) => self.finish(l, slot, Some(stream_kind(why))),
            }
        }
        self.ended = ended;
        let link = &self.links[l];
        if link.conn.goaway().is_some() && link.conn.open() == 0 {
            // What still waited for a stream goes to another connection.
            for slot in 0..self.links[l].calls.len() {
                if self.links[l].calls[slot].busy {
                    self.again(l, slot, false);
                }
            }
            self.close(l);
        } else if link.calls.iter().any(|c| c.busy && !c.sent) {
            self.send_waiting(l);
        }
    }

    /// Takes `slot`'s request off link `l` to send it again first on another stream
    /// (`counted`: as a retry).
    fn again(&mut self, l: usize, slot: usize, counted: bool) {
        let now = self.clock.now_ns();
        if now >= self.links[l].calls[slot].deadline_ns {
            return self.finish(l, slot, Some(kinds::TIMEOUT));
        }
        let link = &mut self.links[l];
        link.busy -= 1;
        let call = &mut link.calls[slot];
        call.busy = false;
        self.in_flight -= 1;
        self.again.push_back(Waiting {
            request: call.request,
            start_ns: call.start_ns,
            deadline_ns: call.deadline_ns,
            retries: call.retries + u32::from(counted),
            resent: call.resent || !counted,
            queued_ns: call.queued_ns,
        });
        call.idle_since_ns = now;
    }

    /// Sends the requests waiting to go again, while slots are free.
    fn send_again(&mut self) {
        let now = self.clock.now_ns();
        while !self.again.is_empty() {
            let Some((l, slot)) = self.pick() else {
                return;
            };
            if l == self.links.len() {
                self.make_link();
            }
            let waiting = self.again.pop_front().expect("a request waits");
            let call = &mut self.links[l].calls[slot];
            call.request = waiting.request;
            call.start_ns = waiting.start_ns;
            call.deadline_ns = waiting.deadline_ns;
            call.retries = waiting.retries;
            call.resent = waiting.resent;
            call.queued_ns = waiting.queued_ns;
            call.io = CallResult::ok();
            self.place(l, slot, now);
        }
    }

    /// Ends `slot`'s request on link `l`: retries a failure while attempts and time remain,
    /// otherwise records it as done and frees the slot.
    fn finish(&mut self, l: usize, slot: usize, error: Option<ErrorKind>) {
        let now = self.clock.now_ns();
        let link = &mut self.links[l];
        let call = &mut link.calls[slot];
        if !call.busy {
            return;
        }
        let retry = error.is_some_and(|e| e != ErrorKind::INTERNAL && e != NOT_H2);
        if retry && call.retries < self.config.max_retries && now < call.deadline_ns {
            return self.again(l, slot, true);
        }
        let costs = std::mem::replace(&mut link.costs, CallResult::ok());
        call.busy = false;
        link.busy -= 1;
        self.in_flight -= 1;
        self.done.push(Done {
            request: call.request,
            start_ns: call.start_ns,
            end_ns: now,
            idle_since_ns: call.idle_since_ns,
            retries: call.retries,
            queued_ns: call.queued_ns,
            // The link's traffic and costs since its last request ended: a request's share
            // of a multiplexed connection cannot be told apart, the sums can.
            result: CallResult {
                error,
                name: call.io.name,
                ..costs
            },
            first_byte_ns: call.first_byte_ns,
            connection: link.serial,
            stream: call.stream,
            kernel: None,
        });
        call.idle_since_ns = now;
    }

    /// Link `l` broke HTTP/2 (a connection error, `code`): GOAWAY, and the link fails.
    fn broken(&mut self, l: usize, code: u32) {
        self.links[l].conn.go_away(code);
        self.flush(l);
        self.fail_link(l, kinds::PROTOCOL);
    }

    /// Link `l` failed with `kind`: closed, and each request on it ends with that kind, or
    /// goes again once if the link had served others and nothing of its response came.
    fn fail_link(&mut self, l: usize, kind: ErrorKind) {
        let stale = self.links[l].served && matches!(kind, kinds::CLOSED | kinds::RESET);
        self.close(l);
        let link = &mut self.links[l];
        if link.opening {
            link.opening = false;
            return;
        }
        for slot in 0..self.links[l].calls.len() {
            let call = &self.links[l].calls[slot];
            if !call.busy {
                continue;
            }
            if stale && call.first_byte_ns == 0 && !call.resent {
                self.again(l, slot, false);
            } else {
                self.finish(l, slot, Some(kind));
            }
        }
    }

    fn close(&mut self, l: usize) {
        let link = &mut self.links[l];
        if let Some(mut stream) = link.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        link.tls = None;
        link.state = State::Closed;
        link.inbuf.clear();
        link.written = 0;
        for call in link.calls.iter_mut() {
            call.sent = false;
        }
    }

    /// Cancels the streams past their deadlines and fails the links past their connect
    /// deadlines, at most once per earliest deadline.
    fn expire(&mut self) {
        let now = self.clock.now_ns();
        if now < self.next_expiry_ns {
            return;
        }
        for l in 0..self.links.len() {
            let connecting = matches!(self.links[l].state, State::Connecting | State::Handshaking);
            if connecting && now >= self.links[l].connect_deadline_ns {
                self.backoff.fail(kinds::CONNECT_TIMEOUT, now);
                self.fail_link(l, kinds::CONNECT_TIMEOUT);
                continue;
            }
            for slot in 0..self.links[l].calls.len() {
                let call = &self.links[l].calls[slot];
                if call.busy && now >= call.deadline_ns {
                    self.links[l].conn.cancel(slot);
                    self.finish(l, slot, Some(kinds::TIMEOUT));
                }
            }
            self.flush(l);
        }
        let calls = self.links.iter().flat_map(|link| {
            let connect = match link.state {
                State::Connecting | State::Handshaking => link.connect_deadline_ns,
                _ => u64::MAX,
            };
            let busy = link.calls.iter().filter(|c| c.busy);
            busy.map(|c| c.deadline_ns).chain([connect])
        });
        self.next_expiry_ns = calls.min().unwrap_or(u64::MAX);
    }

    /// Opens every connection (`connections: N`) and waits until each is open or has failed,
    /// at most the connect timeout; nothing is measured (see [`take_opened`](Self::take_opened)).
    pub fn open_all(&mut self) {
        let now = self.clock.now_ns();
        let until_ns = now + self.config.connect_timeout_ns;
        while self.links.len() < self.config.connections {
            self.make_link();
        }
        for l in 0..self.links.len() {
            if self.links[l].state == State::Closed {
                self.links[l].opening = true;
                self.connect(l, now);
            }
        }
        while self.links.iter().any(|l| l.opening) && self.clock.now_ns() < until_ns {
            self.wait(Some(until_ns), true);
        }
        for l in 0..self.links.len() {
            if self.links[l].opening {
                self.links[l].opening = false;
                self.close(l);
            }
        }
    }

    /// Closes every link and forgets the requests on them: the run gave them up.
    pub fn close_all(&mut self) {
        for l in 0..self.links.len() {
            self.close(l);
            for call in self.links[l].calls.iter_mut() {
                call.busy = false;
            }
            self.links[l].busy = 0;
        }
        self.again.clear();
        self.in_flight = 0;
        self.done.clear();
    }
}

/// The error kind of a stream that ended without its response.
fn stream_kind(why: StreamEnd) -> ErrorKind {
    match why {
        StreamEnd::Reset(code) => reset_kind(code),
        StreamEnd::Refused => reset_kind(code::REFUSED_STREAM),
        StreamEnd::Malformed => MALFORMED_STATUS,
        StreamEnd::HeadersTooLarge => HEADERS_TOO_LARGE,
    }
}

/// The error kind of an RST_STREAM code: `rst_` and the code's name in RFC 9113.
pub fn reset_kind(code: u32) -> ErrorKind {
    ErrorKind::new(match code {
        0x0 => "rst_no_error",
        0x1 => "rst_protocol_error",
        0x2 => "rst_internal_error",
        0x3 => "rst_flow_control_error",
        0x4 => "rst_settings_timeout",
        0x5 => "rst_stream_closed",
        0x6 => "rst_frame_size_error",
        0x7 => "rst_refused_stream",
        0x8 => "rst_cancel",
        0x9 => "rst_compression_error",
        0xa => "rst_connect_error",
        0xb => "rst_enhance_your_calm",
        0xc => "rst_inadequate_security",
        0xd => "rst_http_1_1_required",
        _ => "rst_other",
    })
}
