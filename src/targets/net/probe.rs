//! The check before a run: one connection to the target, and for TLS one whole handshake, so
//! that a target no one can reach stops the run at once with the reason (exit 3) instead of
//! ending it with thousands of failed requests. Over HTTP/2, the server must also agree to it
//! (ALPN `h2` over TLS) and answer the client's preface with its SETTINGS, so that a server
//! speaking only HTTP/1.1 is named at the start, not counted as protocol errors.
//!
//! Nothing here blocks for long: the socket is non-blocking and waited on in slices of
//! [`SLICE`], so a stop signal during the check (a server that accepts and never answers, a
//! connect timeout of an hour) ends it within a slice ([`Probe::Interrupted`], exit 130). The
//! handshake must complete within the connect timeout: a server that takes the connection and
//! never answers the ClientHello fails the check ("did not complete in 2s").

use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::peer::{Peer, Stream};
use super::tls::{self, TlsClient};
use crate::base::units::format_duration;

/// How long one wait on the socket lasts before a stop request is looked at again.
pub const SLICE: Duration = Duration::from_millis(50);

/// The protocol a server agreed to, when the check passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agreed {
    /// The one asked for.
    AsAsked,
    /// HTTP/2 was asked for over TLS, and the server chose HTTP/1.1 in ALPN (or chose
    /// nothing): what it chose, in words.
    Http11(String),
}

/// Why the check did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A stop request came first.
    Interrupted,
    /// The target cannot be reached, or its TLS handshake failed: the reason, in words.
    Failed(String),
}

/// Connects to `authority` within `timeout` and, with `tls`, completes a handshake within
/// the same time; with `http2`, checks that the server answers HTTP/2 (over TLS, a server
/// that chose HTTP/1.1 in ALPN is [`Agreed::Http11`]: the run falls back). `stopped` is asked
/// between slices.
pub fn check(
    authority: &str,
    timeout: Duration,
    tls: Option<&TlsClient>,
    http2: bool,
    stopped: &dyn Fn() -> bool,
) -> Result<Agreed, Probe> {
    let peer = Peer::resolve(authority).map_err(Probe::Failed)?;
    let failed = |e: std::io::Error| Probe::Failed(format!("cannot connect to {peer}: {e}"));
    let poll = Poll::new().map_err(failed)?;
    let mut stream = Stream::connect(&peer).map_err(failed)?;
    poll.registry()
        .register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(failed)?;
    let mut wait = Wait {
        poll,
        events: Events::with_capacity(4),
        deadline: Instant::now() + timeout,
        stopped,
    };
    loop {
        if connected(&stream, &peer)? {
            break;
        }
        if !wait.slice()? {
            return Err(Probe::Failed(format!(
                "cannot connect to {peer}: no answer within the connect timeout ({})",
                format_duration(timeout)
            )));
        }
    }
    let Some(client) = tls else {
        return match http2 {
            true => speaks_h2(&mut stream, None, &peer, &mut wait).map(|()| Agreed::AsAsked),
            false => Ok(Agreed::AsAsked),
        };
    };
    let mut session = client
        .connect()
        .map_err(|e| Probe::Failed(format!("TLS setup for {peer}: {e}")))?;
    loop {
        match session.handshake(&mut stream) {
            Ok(true) if !http2 => return Ok(Agreed::AsAsked),
            Ok(true) if session.alpn() == Some(b"h2") => {
                return speaks_h2(&mut stream, Some(&mut session), &peer, &mut wait)
                    .map(|()| Agreed::AsAsked);
            }
            Ok(true) => {
                let chose = session.alpn().map_or("none".into(), |p| {
                    format!("`{}`", String::from_utf8_lossy(p).escape_debug())
                });
                return Ok(Agreed::Http11(format!(
                    "{} did not offer HTTP/2 in its TLS handshake (ALPN: offered `h2` and \
                     `http/1.1`, it chose {chose})",
                    peer_name(&client.host(), &peer)
                )));
            }
            Ok(false) => {}
            Err(e) => return Err(Probe::Failed(tls::describe(&e, client, &peer))),
        }
        if !wait.slice()? {
            return Err(Probe::Failed(format!(
                "TLS handshake with {} did not complete in {} (the server took the connection \
                 and did not answer; is it a TLS port?)",
                peer_name(&client.host(), &peer),
                format_duration(timeout)
            )));
        }
    }
}

/// Sends HTTP/2's preface and SETTINGS and checks that the server's first frame is its
/// SETTINGS, within the connect timeout.
fn speaks_h2(
    stream: &mut Stream,
    mut session: Option<&mut tls::Session>,
    peer: &Peer,
    wait: &mut Wait<'_>,
) -> Result<(), Probe> {
    use std::io::{ErrorKind, Read};
    let mut hello = super::h2::frame::PREFACE.to_vec();
    super::h2::frame::write_settings(&mut hello, &[]);
    let mut written = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let failed = |e: std::io::Error| Probe::Failed(format!("HTTP/2 with {peer}: {e}"));
    loop {
        let mut io = super::pool::Io::plain(stream);
        if written < hello.len() {
            match session.as_deref_mut() {
                Some(s) => s.write(&mut io, &hello, &mut written),
                None => super::pool::write_plain(&mut io, &hello, &mut written),
            }
            .map_err(failed)?;
        }
        let read = match session.as_deref_mut() {
            Some(s) => s.read(&mut io, &mut buf),
            None => io.read(&mut buf),
        };
        match read {
            Ok(0) => got.extend_from_slice(b"(closed)"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(failed(e)),
        }
        if got.len() >= super::h2::frame::HEADER_LEN || got.ends_with(b"(closed)") {
            break;
        }
        if !wait.slice()? {
            break;
        }
    }
    if got.get(3) == Some(&super::h2::frame::kind::SETTINGS) {
        return Ok(());
    }
    let first: String = String::from_utf8_lossy(&got[..got.len().min(40)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Err(Probe::Failed(format!(
        "{peer} did not answer HTTP/2 (its first bytes: `{}`); leave out --http2 \
         (http_version \"2\") to speak HTTP/1.1",
        first.trim()
    )))
}

/// Whether the non-blocking connect has completed; its error if it failed.
fn connected(stream: &Stream, peer: &Peer) -> Result<bool, Probe> {
    let failed = |e: std::io::Error| Probe::Failed(format!("cannot connect to {peer}: {e}"));
    if let Some(e) = stream.take_error().map_err(failed)? {
        return Err(failed(e));
    }
    stream.connected().map_err(failed)
}

/// `host:port` for a TCP peer as the user wrote the host; a Unix socket's name otherwise.
pub(crate) fn peer_name(host: &str, peer: &Peer) -> String {
    match peer {
        Peer::Inet(addr) => super::authority_of(host, *addr),
        Peer::Unix(_) => format!("{host} over {peer}"),
    }
}

/// Waits on the socket a slice at a time until the deadline.
struct Wait<'a> {
    poll: Poll,
    events: Events,
    deadline: Instant,
    stopped: &'a dyn Fn() -> bool,
}

impl Wait<'_> {
    /// Waits one slice (or less, until the deadline). `Ok(false)` once the deadline has
    /// passed; `Interrupted` when a stop was requested.
    fn slice(&mut self) -> Result<bool, Probe> {
        if (self.stopped)() {
            return Err(Probe::Interrupted);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // An interrupted poll (a signal) only ends the slice early.
        let _ = self.poll.poll(&mut self.events, Some(left.min(SLICE)));
        if (self.stopped)() {
            return Err(Probe::Interrupted);
        }
        Ok(true)
    }
}
