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
