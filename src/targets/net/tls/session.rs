//! One TLS connection on a pool's non-blocking socket: rustls shakes hands, then the
//! connection seals and opens its own records in buffers it keeps for its life.
//!
//! The handshake runs through rustls's unbuffered API (certificates, session resumption and
//! every check as before). When it completes, rustls hands the traffic keys over
//! (`dangerous_into_kernel_connection`, the kTLS entry point) and keeps what only it can do:
//! store the session tickets the server sends later, so that reconnects resume, and derive
//! the next keys when either side updates them. From then on a request is sealed into
//! `outgoing` and a response opened inside `incoming` by [`records::Direction`], so a
//! connection that is open allocates nothing per request (tests/allocation.rs).
//!
//! Bounds: `incoming` holds at most one record beyond what was read (16 KiB plus its
//! expansion), the handshake at most [`MAX_HANDSHAKE`]; `outgoing` seals at most
//! [`OUTGOING_LIMIT`] ahead of the socket. Post-handshake messages are session tickets and key
//! updates (TLS 1.3) or a renegotiation request (TLS 1.2, ignored); a message split over
//! records, or any other, ends the connection as a protocol error. A key update the server
//! asks for is answered before the next request. AES-GCM's sequence limit (rustls's
//! confidentiality limit) is met by updating the keys under TLS 1.3 and by a new connection
//! under TLS 1.2.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::ops::Range;

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::kernel::KernelConnection;
use rustls::unbuffered::{ConnectionState, EncodeError};
use rustls::{AlertDescription, ProtocolVersion, SupportedCipherSuite};

use super::io_error;
use super::records::{self, Direction, HEADER, MAX_BODY, MAX_FRAGMENT, RecordError, content};

/// The incoming buffer a connection starts with; it grows to the largest record it meets.
const INITIAL_INCOMING: usize = 4096;
/// The most bytes the handshake may hold unprocessed (a certificate chain past it is refused).
pub const MAX_HANDSHAKE: usize = 256 * 1024;
/// The most ciphertext sealed ahead of the socket.
pub const OUTGOING_LIMIT: usize = 64 * 1024;

/// Handshake message types after the handshake.
const HELLO_REQUEST: u8 = 0;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;

/// A TLS connection; see the module doc.
pub struct Session {
    phase: Phase,
    /// Bytes read from the socket: `incoming[..filled]`, of which `incoming[start..filled]`
    /// are not opened yet.
    incoming: Vec<u8>,
    filled: usize,
    start: usize,
    /// Plaintext opened and not yet handed out, inside `incoming`.
    plain: Range<usize>,
    /// Records to write: `outgoing[sent..]` are not on the wire yet.
    outgoing: Vec<u8>,
    sent: usize,
    resumed: bool,
    /// The application protocol ALPN agreed on, once the handshake is complete.
    alpn: Option<Vec<u8>>,
    /// Plaintext rustls opened before it handed the keys over: what the server sent at once
    /// after its handshake (an HTTP/2 server's SETTINGS), read before anything else.
    early: Vec<u8>,
    /// The server's close_notify came.
    peer_closed: bool,
}

enum Phase {
    Handshake(Box<UnbufferedClientConnection>),
    Open(Box<Keys>),
    /// After a failed hand-over; every call fails.
    Broken,
}

/// The keys of an open connection, and rustls's part that derives their successors.
struct Keys {
    kernel: KernelConnection<ClientConnectionData>,
    tx: Direction,
    rx: Direction,
    tls13: bool,
    /// Records one key may seal (rustls's confidentiality limit of the suite).
    limit: u64,
}

/// What one step of the handshake asks for next.
enum Step {
    Again,
    NeedInput,
    Complete,
}

impl Session {
    /// A session about to send its first flight through `conn`.
    pub fn new(conn: UnbufferedClientConnection) -> Session {
        Session {
            phase: Phase::Handshake(Box::new(conn)),
            incoming: vec![0; INITIAL_INCOMING],
            filled: 0,
            start: 0,
            plain: 0..0,
            outgoing: Vec::new(),
            sent: 0,
            resumed: false,
            alpn: None,
            early: Vec::new(),
            peer_closed: false,
        }
    }

    /// Whether the completed handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The application protocol ALPN agreed on (`h2`, `http/1.1`), once the handshake is
    /// complete; `None` when the server chose none.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Advances the handshake: writes what is due, reads what came. `Ok(true)` when it is
    /// complete (and its last flight written), `Ok(false)` when it waits for the socket.
    pub fn handshake(&mut self, socket: &mut (impl Read + Write)) -> std::io::Result<bool> {
        loop {
            match self.flush(socket) {
                Ok(()) => {}
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            let conn = match &mut self.phase {
                Phase::Handshake(conn) => conn,
                Phase::Open(_) => return Ok(true),
                Phase::Broken => return Err(io_error(rustls::Error::HandshakeNotComplete)),
            };
            let incoming = &mut self.incoming[..self.filled];
            let (discard, step) =
                advance(conn, incoming, &mut self.outgoing, &mut self.early).map_err(io_error)?;
            self.incoming.copy_within(discard..self.filled, 0);
            self.filled -= discard;
            match step {
                Step::Again => {}
                Step::NeedInput => {
                    if self.filled == self.incoming.len() {
                        let grown = (self.incoming.len() * 2).min(MAX_HANDSHAKE);
                        if grown == self.incoming.len() {
                            return Err(io_error(rustls::Error::General(format!(
                                "the server's handshake exceeds {} KiB",
                                MAX_HANDSHAKE / 1024
                            ))));
                        }
                        self.incoming.resize(grown, 0);
                    }
                    match socket.read(&mut self.incoming[self.filled..]) {
                        Ok(0) => return Err(IoErrorKind::UnexpectedEof.into()),
                        Ok(n) => self.filled += n,
                        Err(e) if e.kind() == IoErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Step::Complete => self.take_keys().map_err(io_error)?,
            }
        }
    }

    /// Takes the keys over from rustls once its handshake is complete; what the server sent
    /// after its last handshake record stays in `incoming`, to be opened here.
    fn take_keys(&mut self) -> Result<(), rustls::Error> {
        let Phase::Handshake(conn) = std::mem::replace(&mut self.phase, Phase::Broken) else {
            return Err(rustls::Error::HandshakeNotComplete);
        };
        self.resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        self.alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let (secrets, kernel) = conn.dangerous_into_kernel_connection()?;
        let tls13 = kernel.protocol_version() == ProtocolVersion::TLSv1_3;
        let limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(suite) => suite.common.confidentiality_limit,
        };
        let direction = |(seq, secrets)| {
            Direction::new(tls13, seq, &secrets).ok_or_else(|| {
                rustls::Error::General("the negotiated cipher has no AEAD here".into())
            })
        };
        self.phase = Phase::Open(Box::new(Keys {
            tx: direction(secrets.tx)?,
            rx: direction(secrets.rx)?,
            kernel,
            tls13,
            limit,
        }));
        self.start = 0;
        Ok(())
    }

    /// Seals what is left of `request` (from `*written`) and writes it: `Ok(true)` when all of
    /// it is on the wire, `Ok(false)` when the socket is full.
    pub fn write(
        &mut self,
        socket: &mut impl Write,
        request: &[u8],
        written: &mut usize,
    ) -> std::io::Result<bool> {
        loop {
            let Phase::Open(keys) = &mut self.phase else {
                return Err(io_error(rustls::Error::HandshakeNotComplete));
            };
            while *written < request.len() && self.outgoing.len() - self.sent < OUTGOING_LIMIT {
                keys.before_seal(&mut self.outgoing)?;
                let chunk = (request.len() - *written).min(MAX_FRAGMENT);
                self.outgoing.reserve(chunk + records::OVERHEAD);
                let plain = &request[*written..*written + chunk];
                (keys
                    .tx
                    .seal(content::APPLICATION_DATA, plain, &mut self.outgoing))
                .map_err(record_error)?;
                *written += chunk;
            }
            match self.flush(socket) {
                Ok(()) if *written < request.len() => {}
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads plaintext into `buf`: opens what the socket holds until some plaintext is there.
    /// `Ok(0)` is the end of the stream (the server's close_notify, or its socket closed
    /// without one, as many servers do); `WouldBlock` when the socket is empty.
    pub fn read(
        &mut self,
        socket: &mut (impl Read + Write),
        buf: &mut [u8],
    ) -> std::io::Result<usize> {
        if !self.early.is_empty() {
            let n = self.early.len().min(buf.len());
            buf[..n].copy_from_slice(&self.early[..n]);
            self.early.drain(..n);
            return Ok(n);
        }
        loop {
            if !self.plain.is_empty() {
                let n = self.plain.len().min(buf.len());
                let from = self.plain.start;
                buf[..n].copy_from_slice(&self.incoming[from..from + n]);
                self.plain.start += n;
                return Ok(n);
            }
            if self.peer_closed {
                return Ok(0);
            }
            if self.open_next()? {
                continue;
            }
            // The answer to a key update the server asked for goes out at once.
            match self.flush(socket) {
                Err(e) if e.kind() != IoErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
            self.make_room();
            match socket.read(&mut self.incoming[self.filled..]) {
                Ok(0) => return Ok(0),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the record not read in full to the front of `incoming` and makes it long enough
    /// to hold the whole record.
    fn make_room(&mut self) {
        self.incoming.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        self.plain = 0..0;
        let need = match self.incoming[..self.filled] {
            [_, _, _, a, b, ..] => HEADER + u16::from_be_bytes([a, b]) as usize,
            _ => HEADER,
        };
        if self.incoming.len() < need.max(INITIAL_INCOMING) {
            self.incoming.resize(need.max(INITIAL_INCOMING), 0);
        }
    }

    /// Opens the next record if all of it is in: `Ok(false)` when more must be read.
    fn open_next(&mut self) -> std::io::Result<bool> {
        let available = &self.incoming[self.start..self.filled];
        let [t, v0, v1, a, b, ..] = *available else {
            return Ok(false);
        };
        let len = u16::from_be_bytes([a, b]) as usize;
        if len > MAX_BODY {
            return Err(io_error(rustls::Error::PeerSentOversizedRecord));
        }
        if available.len() < HEADER + len {
            return Ok(false);
        }
        let Phase::Open(keys) = &mut self.phase else {
            return Err(io_error(rustls::Error::HandshakeNotComplete));
        };
        let from = self.start + HEADER;
        self.start = from + len;
        let body = &mut self.incoming[from..from + len];
        let (typ, plain) = keys
            .rx
            .open([t, v0, v1, a, b], body)
            .map_err(record_error)?;
        match typ {
            content::APPLICATION_DATA => self.plain = from + plain.start..from + plain.end,
            content::ALERT => self.peer_closed = alert(&body[plain], keys.tls13)?,
            content::HANDSHAKE => keys
                .after_handshake(&body[plain], &mut self.outgoing)
                .map_err(io_error)?,
            _ => {
                return Err(io_error(rustls::Error::General(format!(
                    "a record of content type {typ} after the handshake"
                ))));
            }
        }
        Ok(true)
    }

    /// Writes the records sealed so far.
    fn flush(&mut self, socket: &mut impl Write) -> std::io::Result<()> {
        while self.sent < self.outgoing.len() {
            match socket.write(&self.outgoing[self.sent..]) {
                Ok(0) => return Err(IoErrorKind::UnexpectedEof.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.outgoing.clear();
        self.sent = 0;
        Ok(())
    }
}

/// One step of rustls's handshake over what `incoming` holds: the bytes it consumed and
/// what it needs next. Its records are encoded at the end of `outgoing`; application data it
/// opened (sent by the server with its last flight) goes to `early`.
fn advance(
    conn: &mut UnbufferedClientConnection,
    incoming: &mut [u8],
    outgoing: &mut Vec<u8>,
    early: &mut Vec<u8>,
) -> Result<(usize, Step), rustls::Error> {
    let status = conn.process_tls_records(incoming);
    let discard = status.discard;
    let step = match status.state? {
        ConnectionState::EncodeTlsData(mut data) => {
            let at = outgoing.len();
            let mut room = 4096;
            loop {
                outgoing.resize(at + room, 0);
                match data.encode(&mut outgoing[at..]) {
                    Ok(n) => break outgoing.truncate(at + n),
                    Err(EncodeError::InsufficientSize(e)) => room = e.required_size,
                    Err(EncodeError::AlreadyEncoded) => break outgoing.truncate(at),
                }
            }
            Step::Again
        }
        // What was encoded is in `outgoing`, written before the next step.
        ConnectionState::TransmitTlsData(data) => {
            data.done();
            Step::Again
        }
        ConnectionState::BlockedHandshake => Step::NeedInput,
        // Application data that came with the server's last flight, opened by rustls.
        ConnectionState::ReadTraffic(mut traffic) => {
            while let Some(record) = traffic.next_record() {
                early.extend_from_slice(record?.payload);
            }
            Step::Again
        }
        ConnectionState::WriteTraffic(_) => Step::Complete,
        ConnectionState::PeerClosed | ConnectionState::Closed => {
            return Err(rustls::Error::General(
                "the server closed the connection during the handshake".into(),
            ));
        }
        other => {
            return Err(rustls::Error::General(format!(
                "unexpected state during the handshake: {other:?}"
            )));
        }
    };
    Ok((discard, step))
}

impl Keys {
    /// Keeps the sending key within its limit: a TLS 1.3 key update, or (TLS 1.2 has none)
    /// an error the pool answers with a new connection, as for a server's stale close.
    fn before_seal(&mut self, outgoing: &mut Vec<u8>) -> std::io::Result<()> {
        if self.tx.seq() < self.limit.saturating_sub(1) {
            return Ok(());
        }
        if !self.tls13 {
            return Err(std::io::Error::new(
                IoErrorKind::BrokenPipe,
                "the TLS 1.2 key reached its record limit",
            ));
        }
        self.update_tx(outgoing).map_err(io_error)
    }

    /// Handles handshake messages that came after the handshake.
    fn after_handshake(
        &mut self,
        mut messages: &[u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<(), rustls::Error> {
        while let [typ, a, b, c, rest @ ..] = messages {
            let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
            if rest.len() < len {
                return Err(rustls::Error::General(
                    "a handshake message split over records after the handshake".into(),
                ));
            }
            let (payload, next) = rest.split_at(len);
            messages = next;
            match *typ {
                NEW_SESSION_TICKET if self.tls13 => {
                    self.kernel.handle_new_session_ticket(payload)?
                }
                KEY_UPDATE if self.tls13 => {
                    let (seq, secrets) = self.kernel.update_rx_secret()?;
                    self.rx =
                        Direction::new(true, seq, &secrets).ok_or(rustls::Error::DecryptError)?;
                    if payload == [1] {
                        self.update_tx(outgoing)?;
                    }
                }
                // Renegotiation is not offered; the request is ignored (RFC 5246 7.4.1.1).
                HELLO_REQUEST if !self.tls13 => {}
                other => {
                    return Err(rustls::Error::General(format!(
                        "handshake message {other} after the handshake"
                    )));
                }
            }
        }
        if messages.is_empty() {
            Ok(())
        } else {
            Err(rustls::Error::General(
                "a handshake message split over records after the handshake".into(),
            ))
        }
    }

    /// Tells the server the sending key changes (with the old key), then changes it.
    fn update_tx(&mut self, outgoing: &mut Vec<u8>) -> Result<(), rustls::Error> {
        let update_not_requested = [KEY_UPDATE, 0, 0, 1, 0];
        (self
            .tx
            .seal(content::HANDSHAKE, &update_not_requested, outgoing))
        .map_err(|_| rustls::Error::EncryptError)?;
        let (seq, secrets) = self.kernel.update_tx_secret()?;
        self.tx = Direction::new(true, seq, &secrets).ok_or(rustls::Error::EncryptError)?;
        Ok(())
    }
}

/// An alert from the server: `Ok(true)` for its close_notify, `Ok(false)` for a warning
/// to ignore; a fatal one is an error.
fn alert(body: &[u8], tls13: bool) -> std::io::Result<bool> {
    const CLOSE_NOTIFY: u8 = 0;
    const USER_CANCELED: u8 = 90;
    const WARNING: u8 = 1;
    match *body {
        [_, CLOSE_NOTIFY] => Ok(true),
        [_, USER_CANCELED] => Ok(false),
        [WARNING, _] if !tls13 => Ok(false),
        [_, description] => Err(io_error(rustls::Error::AlertReceived(
            AlertDescription::from(description),
        ))),
        _ => Err(io_error(rustls::Error::General(
            "an alert of the wrong length".into(),
        ))),
    }
}

/// A record fault as the error rustls would have raised.
fn record_error(e: RecordError) -> std::io::Error {
    io_error(match e {
        RecordError::Decrypt => rustls::Error::DecryptError,
        RecordError::Oversized => rustls::Error::PeerSentOversizedRecord,
        RecordError::Malformed => {
            rustls::Error::General("a record the server framed wrongly".into())
        }
        RecordError::Seal => rustls::Error::EncryptError,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_close_warn_or_fail() {
        assert!(alert(&[1, 0], true).unwrap());
        assert!(!alert(&[1, 90], true).unwrap());
        assert!(!alert(&[1, 100], false).unwrap());
        let fatal = alert(&[2, 40], true).unwrap_err();
        assert_eq!(
            super::super::io_error_kind(&fatal),
            Some(super::super::kinds::ALERT)
        );
        assert!(alert(&[2], true).is_err());
    }

    #[test]
    fn record_faults_are_tls_faults() {
        for e in [
            RecordError::Decrypt,
            RecordError::Oversized,
            RecordError::Malformed,
            RecordError::Seal,
        ] {
            assert_eq!(
                super::super::io_error_kind(&record_error(e)),
                Some(super::super::kinds::PROTOCOL)
            );
        }
    }
}
