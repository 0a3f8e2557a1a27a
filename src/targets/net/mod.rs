//! Network targets: HTTP/1.1 and plain TCP over non-blocking mio sockets.
//!
//! Each worker of a network scenario runs its own `mio::Poll` over a [`Pool`] of keep-alive
//! connections: `--connections N` spreads N connections over the workers (as evenly as they
//! go, at most one worker per connection), opens them all before the run begins and spreads
//! the requests over them; `auto` (the default) and `auto:N` open them as the rate needs
//! them, up to 1,024 or N ([`Connections`]). A request from the timing loop goes to a worker
//! with a free connection; when none is free it waits in the channel, and its response time
//! still runs from its intended instant. Responses are parsed as they arrive and their bodies
//! counted, not kept. The pool's module doc lists how faults are handled and counted.
//!
//! Which bytes to send and when a response is complete is an [`Exchange`]: HTTP
//! ([`http`]) or TCP ([`tcp`]).

pub mod h2;
pub mod http;
pub mod kv;
pub mod peer;
pub mod pool;
pub mod probe;
pub mod set;
pub mod spec;
pub mod stamp;
pub mod tcp;
pub mod template;
pub mod tls;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::{CallResult, ErrorKind, Request, Target};
use crate::base::clock::RunClock;
pub use peer::{Peer, Stream};
pub use pool::{Done, ExchangeFactory, KernelStamps, Pool, PoolConfig};

/// Most connections `connections: auto` (the default) opens to a network target, over all
/// its workers: a new one whenever a request's instant comes and none is free.
pub const AUTO_CONNECTIONS: usize = 1024;

/// How many connections a network target uses, and when it opens them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connections {
    /// `auto`: as many as the rate needs, opened as requests need them, up to
    /// [`AUTO_CONNECTIONS`].
    #[default]
    Auto,
    /// `auto:N`: as many as the rate needs, up to N.
    UpTo(usize),
    /// `N`: exactly N, all opened before the run begins, the requests spread over them (as
    /// wrk, oha and hey do).
    Exactly(usize),
}

impl Connections {
    /// The most it opens, when it says.
    pub fn limit(self) -> Option<usize> {
        match self {
            Connections::Auto => None,
            Connections::UpTo(n) | Connections::Exactly(n) => Some(n),
        }
    }

    /// Whether all are opened before the run begins.
    pub fn opens_all(self) -> bool {
        matches!(self, Connections::Exactly(_))
    }

    /// Reads `N`, `auto` or `auto:N` as a config's text or the command line writes them;
    /// `None` for anything else (0 included).
    pub fn parse(text: &str) -> Option<Connections> {
        let count = |n: &str| n.parse::<usize>().ok().filter(|&n| n > 0);
        match text.strip_prefix("auto") {
            Some("") => Some(Connections::Auto),
            Some(rest) => rest
                .strip_prefix(':')
                .and_then(count)
                .map(Connections::UpTo),
            None => count(text).map(Connections::Exactly),
        }
    }
}

/// Error kinds of connection faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The connection was refused.
    pub const REFUSED: ErrorKind = ErrorKind::new("refused");
    /// Connecting took longer than the connect timeout.
    pub const CONNECT_TIMEOUT: ErrorKind = ErrorKind::new("connect_timeout");
    /// The peer reset the connection.
    pub const RESET: ErrorKind = ErrorKind::new("reset");
    /// The peer closed the connection in the middle of a response.
    pub const CLOSED: ErrorKind = ErrorKind::new("closed");
    /// No complete response within the request timeout.
    pub const TIMEOUT: ErrorKind = ErrorKind::new("timeout");
    /// Another socket error.
    pub const IO: ErrorKind = ErrorKind::new("io");
    /// The peer broke its protocol (a length that cannot be, a reply of the wrong shape, two
    /// different Content-Lengths): nothing after it on the connection can be trusted, so the
    /// connection is closed.
    pub const PROTOCOL: ErrorKind = ErrorKind::new("protocol");
    /// The response is (or announces it will be) larger than `max_response_bytes`; the
    /// connection is closed without reading the rest.
    pub const TOO_LARGE: ErrorKind = ErrorKind::new("response_too_large");
}

/// The largest request body (or TCP payload): a body is read once and shared by every
/// connection.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The largest response read by default (`max_response_bytes`, `--max-response-bytes`):
/// 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// What the parser made of the bytes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// The response is not complete yet.
    NeedMore,
    /// The response is complete; `error` when it is a failure (a status not expected);
    /// `close` when the connection must not be reused.
    Done {
        /// A failure kind, or `None` for success.
        error: Option<ErrorKind>,
        /// The server will close the connection.
        close: bool,
    },
    /// The response is malformed.
    Failed(ErrorKind),
}

/// One request/response protocol over a connection.
pub trait Exchange: Send {
    /// The bytes of one request.
    fn request(&self) -> &[u8];
    /// Forgets any half-parsed response (a new connection, a new request).
    fn reset(&mut self);
    /// Renders the bytes of the request `vars` describe, before it is sent (its retries send
    /// the same bytes). Nothing to do for a protocol without templates.
    fn prepare(&mut self, vars: &template::Vars) {
        let _ = vars;
    }
    /// The name slot of the request [`prepare`](Self::prepare) rendered, for a request set's
    /// named lines.
    fn name(&self) -> Option<u16> {
        None
    }
    /// Parses what `buf` holds, removing what it used.
    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse;
    /// The server closed the connection: a response that runs until close is complete.
    fn at_close(&mut self) -> Parse;
}

/// One request/response over an HTTP/2 stream ([`h2`]): the request as its HTTP/1.1 exchange
/// renders it (read back into HTTP/2's fields by the connection), the response as the
/// connection decoded it from its frames.
pub trait StreamExchange: Send {
    /// Renders the request `vars` describe (see [`Exchange::prepare`]).
    fn prepare(&mut self, vars: &template::Vars);
    /// The name slot of the request [`prepare`](Self::prepare) rendered.
    fn name(&self) -> Option<u16>;
    /// The request's bytes, as HTTP/1.1 would send them.
    fn request(&self) -> &[u8];
    /// Forgets the last response: a new one begins.
    fn begin(&mut self);
    /// The response's final status.
    fn head(&mut self, status: u16);
    /// A field of the response's head or trailers.
    fn field(&mut self, name: &[u8], value: &[u8]);
    /// A piece of the body; an error ends the request at once (`response_too_large`).
    fn data(&mut self, bytes: &[u8]) -> Result<(), ErrorKind>;
    /// The response is complete: `None` when it counts as a success, else its error kind.
    fn end(&mut self) -> Option<ErrorKind>;
}

/// Builds the protocol state of one HTTP/2 stream slot.
pub type StreamExchangeFactory = Arc<dyn Fn() -> Box<dyn StreamExchange> + Send + Sync>;

/// What a network worker drives: a [`Pool`] (one request at a time per connection: HTTP/1.1,
/// TCP, Redis, memcached) or an [`h2::H2Pool`] (many streams per connection). Each method is
/// the pool's own of the same name.
pub trait Driver: Send {
    /// See [`Pool::waker`].
    fn waker(&self) -> std::io::Result<mio::Waker>;
    /// See [`Pool::free`].
    fn free(&self) -> usize;
    /// See [`Pool::in_flight`].
    fn in_flight(&self) -> usize;
    /// See [`Pool::next_idle_since_ns`].
    fn next_idle_since_ns(&self) -> Option<u64>;
    /// See [`Pool::peak_in_flight`].
    fn peak_in_flight(&self) -> usize;
    /// See [`Pool::done`].
    fn done(&mut self) -> &mut Vec<Done>;
    /// See [`Pool::start`].
    fn start(&mut self, request: Request) -> u64;
    /// See [`Pool::take_faults`].
    fn take_faults(&mut self) -> Vec<pool::Fault>;
    /// See [`Pool::wait`].
    fn wait(&mut self, until_ns: Option<u64>, block: bool) -> (u64, u64);
    /// See [`Pool::time_a_wake_up`].
    fn time_a_wake_up(&mut self, sleep_ns: u64) -> Option<u64>;
    /// See [`Pool::open_all`].
    fn open_all(&mut self);
    /// See [`Pool::take_opened`].
    fn take_opened(&mut self) -> Vec<CallResult>;
    /// See [`Pool::opens_all`].
    fn opens_all(&self) -> bool;
    /// See [`Pool::busy_polled`].
    fn busy_polled(&self) -> usize;
    /// See [`Pool::used`].
    fn used(&self) -> usize;
    /// See [`Pool::close_all`].
    fn close_all(&mut self);
}

/// Implements [`Driver`] for a pool type by its own methods of the same names.
macro_rules! driver {
    ($pool:ty) => {
        impl Driver for $pool {
            fn waker(&self) -> std::io::Result<mio::Waker> {
                <$pool>::waker(self)
            }
            fn free(&self) -> usize {
                <$pool>::free(self)
            }
            fn in_flight(&self) -> usize {
                <$pool>::in_flight(self)
            }
            fn next_idle_since_ns(&self) -> Option<u64> {
                <$pool>::next_idle_since_ns(self)
            }
            fn peak_in_flight(&self) -> usize {
                <$pool>::peak_in_flight(self)
            }
            fn done(&mut self) -> &mut Vec<Done> {
                <$pool>::done(self)
            }
            fn start(&mut self, request: Request) -> u64 {
                <$pool>::start(self, request)
            }
            fn take_faults(&mut self) -> Vec<pool::Fault> {
                <$pool>::take_faults(self)
            }
            fn wait(&mut self, until_ns: Option<u64>, block: bool) -> (u64, u64) {
                <$pool>::wait(self, until_ns, block)
            }
            fn time_a_wake_up(&mut self, sleep_ns: u64) -> Option<u64> {
                <$pool>::time_a_wake_up(self, sleep_ns)
            }
            fn open_all(&mut self) {
                <$pool>::open_all(self)
            }
            fn take_opened(&mut self) -> Vec<CallResult> {
                <$pool>::take_opened(self)
            }
            fn opens_all(&self) -> bool {
                <$pool>::opens_all(self)
            }
            fn busy_polled(&self) -> usize {
                <$pool>::busy_polled(self)
            }
            fn used(&self) -> usize {
                <$pool>::used(self)
            }
            fn close_all(&mut self) {
                <$pool>::close_all(self)
            }
        }
    };
}

driver!(Pool);
driver!(h2::H2Pool);

/// Resolves `host:port` to its first address.
pub fn resolve(authority: &str) -> Result<SocketAddr, String> {
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    // A fuzzer's hosts would each cost a DNS query: only literal addresses are resolved.
    #[cfg(fuzzing)]
    if host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_err()
    {
        return Err(format!("`{host}` is not resolved while fuzzing"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = authority.rsplit_once(':').map_or("80", |(_, p)| p);
    (
        host,
        port.parse::<u16>()
            .map_err(|_| format!("`{port}` is not a port"))?,
    )
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

/// A stream target's address as a URL: `SCHEME://host:port`, or `SCHEME+unix:///path` for
/// a Unix socket's path.
pub fn url_of(scheme: &str, address: &str) -> String {
    match peer::is_unix_path(address) {
        true => format!("{scheme}+unix://{address}"),
        false => format!("{scheme}://{address}"),
    }
}

/// `host:port` as a user wrote the host, with the port `addr` resolved to.
pub(crate) fn authority_of(host: &str, addr: SocketAddr) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{}", addr.port())
    } else {
        format!("{host}:{}", addr.port())
    }
}

/// A network target as one synchronous [`Target`]: a [`Pool`] of one connection, each call
/// waiting for its response. The engine drives network targets through pools directly, many
/// connections per worker; this is for library users who call one from their own code.
pub struct NetTarget {
    pool: Pool,
}

impl NetTarget {
    /// A target talking the factory's exchange to `peer`; nothing connects until the first
    /// call.
    pub fn new(
        peer: Peer,
        exchange: &ExchangeFactory,
        (connect_timeout, request_timeout): (Duration, Duration),
        max_response_bytes: u64,
        clock: RunClock,
    ) -> std::io::Result<NetTarget> {
        let config = PoolConfig {
            peer,
            connections: 1,
            open_all: false,
            connect_timeout_ns: connect_timeout.as_nanos() as u64,
            request_timeout_ns: request_timeout.as_nanos() as u64,
            max_retries: 0,
            seed: 0,
            shard: 0,
            max_response_bytes,
            busy_poll_us: 0,
            timestamps: false,
        };
        Ok(NetTarget {
            pool: Pool::new(config, exchange, clock)?,
        })
    }
}

impl NetTarget {
    /// The same target speaking TLS through `tls`.
    pub fn with_tls(self, tls: Option<Arc<tls::TlsClient>>) -> NetTarget {
        NetTarget {
            pool: self.pool.with_tls(tls),
        }
    }
}

impl Target for NetTarget {
    fn call(&mut self, request: &Request) -> CallResult {
        self.pool.start(*request);
        loop {
            if let Some(done) = self.pool.done().pop() {
                return done.result;
            }
            self.pool.wait(None, true);
        }
    }
}
