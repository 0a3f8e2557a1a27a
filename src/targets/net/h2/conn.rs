//! One HTTP/2 connection's protocol, without I/O: what the client writes (the preface, its
//! SETTINGS, each request's HEADERS and DATA, the answers the protocol owes) and what it makes
//! of the bytes that come back, stream by stream.
//!
//! A connection has a fixed number of slots, one per stream it may carry at once (`--streams`,
//! and never more than the server's SETTINGS_MAX_CONCURRENT_STREAMS). A request is the bytes
//! the HTTP/1.1 exchange rendered (the one source of what is sent: templates, request sets,
//! headers and bodies, all checked there); [`H2Conn::start`] reads them back with `httparse`
//! into the pseudo-header fields and lower-case fields, drops the fields HTTP/2 forbids
//! (`connection`, `keep-alive`, `transfer-encoding`, `upgrade`; `host` becomes `:authority`),
//! HPACK-encodes them and queues the frames. What comes back goes to a [`Sink`], slot by slot:
//! the status, each field (trailers too), body bytes, and how the stream ended.
//!
//! Flow control both ways: request bodies go out only as far as the connection's and the
//! stream's send windows allow, and go on when WINDOW_UPDATE or SETTINGS give room (a window of
//! 1 byte is slow, not stuck); the receive windows are 2^30 - 1 bytes, as h2load's, since a
//! response is counted, never kept, and are returned with WINDOW_UPDATE when half is used.
//! Requests' header blocks are encoded by `loona-hpack`, responses' decoded by
//! [`HeaderDecoder`] (without allocating). PING is answered, SETTINGS acknowledged, PUSH_PROMISE refused (push is disabled), a GOAWAY
//! ends the streams it did not take as refused (safe to send again elsewhere) and lets the
//! others finish. Memory is bounded: a header block longer than [`MAX_HEADER_BLOCK`] fails the
//! stream, and nothing else is buffered but a request body waiting for its window.

use loona_hpack::Encoder;

use super::frame::{self, ConnError, Frame, code, setting};
use super::hpack::HeaderDecoder;

/// The receive windows this client announces (connection and each stream).
pub const RECV_WINDOW: i64 = (1 << 30) - 1;
/// The longest header block taken, compressed or decoded: a longer one fails its stream.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Fields of a request read back without allocating.
const FIELDS: usize = 128;
/// The HPACK table size both sides start with.
const TABLE_SIZE: u32 = 4096;

/// How a stream ended without a complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server reset it (RST_STREAM) with this code.
    Reset(u32),
    /// The server never processed it (REFUSED_STREAM, or above a GOAWAY's last stream): it
    /// may be sent again, on another connection.
    Refused,
    /// Its response broke the rules: no valid `:status`, a pseudo-header in a trailer, data
    /// before the head.
    Malformed,
    /// Its response's header block was longer than [`MAX_HEADER_BLOCK`].
    HeadersTooLarge,
}

/// Where a connection's responses go, slot by slot.
pub trait Sink {
    /// The final head of `slot`'s response came, with `status` (interim 1xx heads are not
    /// passed on).
    fn head(&mut self, slot: usize, status: u16);
    /// A field of the response's head, or of its trailers.
    fn field(&mut self, slot: usize, name: &[u8], value: &[u8]);
    /// Body bytes of the response.
    fn data(&mut self, slot: usize, data: &[u8]);
    /// The response is complete.
    fn end(&mut self, slot: usize);
    /// The stream ended without a complete response.
    fn failed(&mut self, slot: usize, why: StreamEnd);
}

/// One stream slot.
#[derive(Default)]
struct Slot {
    /// The stream it carries; 0 when free.
    id: u32,
    send_window: i64,
    recv_window: i64,
    /// The request body, and how much of it is out.
    body: Vec<u8>,
    body_sent: usize,
    /// The final response head came.
    head: bool,
}

/// What a request's head gives HTTP/2.
struct Head<'r> {
    method: &'r [u8],
    path: &'r [u8],
    authority: &'r [u8],
    body: &'r [u8],
}

/// One connection's protocol state; see the module doc.
pub struct H2Conn {
    encoder: Encoder<'static>,
    decoder: HeaderDecoder,
    /// Frames to write, in order; the pool writes them and empties it.
    out: Vec<u8>,
    /// The header block being received, and its stream and END_STREAM while CONTINUATION
    /// frames are due.
    recv_block: Vec<u8>,
    continuing: Option<(u32, bool)>,
    /// A request's header block being built.
    send_block: Vec<u8>,
    /// A field name made lower case.
    name: Vec<u8>,
    slots: Vec<Slot>,
    open: usize,
    next_id: u32,
    scheme: &'static [u8],
    peer_max_streams: u32,
    peer_window: i64,
    peer_max_frame: u32,
    send_window: i64,
    recv_window: i64,
    /// The HPACK table size to announce at the start of the next request's block.
    table_update: Option<u32>,
    /// The server's GOAWAY: its last stream and code.
    goaway: Option<(u32, u32)>,
}

impl H2Conn {
    /// A connection of `slots` streams (`tls`: its scheme is https), its preface, SETTINGS
    /// and connection window queued.
    pub fn new(slots: usize, tls: bool) -> H2Conn {
        let mut conn = H2Conn {
            encoder: Encoder::new(),
            decoder: HeaderDecoder::new(TABLE_SIZE as usize),
            out: Vec::new(),
            recv_block: Vec::new(),
            continuing: None,
            send_block: Vec::new(),
            name: Vec::new(),
            slots: (0..slots.max(1)).map(|_| Slot::default()).collect(),
            open: 0,
            next_id: 1,
            scheme: if tls { b"https" } else { b"http" },
            peer_max_streams: u32::MAX,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            send_window: frame::DEFAULT_WINDOW,
            recv_window: RECV_WINDOW,
            table_update: None,
            goaway: None,
        };
        conn.out.extend_from_slice(frame::PREFACE);
        frame::write_settings(
            &mut conn.out,
            &[
                (setting::ENABLE_PUSH, 0),
                (setting::INITIAL_WINDOW_SIZE, RECV_WINDOW as u32),
                (setting::MAX_HEADER_LIST_SIZE, MAX_HEADER_BLOCK as u32),
            ],
        );
        let more = RECV_WINDOW - frame::DEFAULT_WINDOW;
        frame::write_window_update(&mut conn.out, 0, more as u32);
        conn
    }

    /// The bytes due on the wire; the caller writes them and removes what it wrote.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Whether a new stream may open: a free slot within the server's limit, no GOAWAY, and
    /// stream ids left.
    pub fn can_open(&self) -> bool {
        self.goaway.is_none()
            && self.open < self.slots.len()
            && (self.open as u64) < u64::from(self.peer_max_streams)
            && self.next_id < (1 << 31)
    }

    /// Streams it may carry at once: its slots, within the server's limit; none after a
    /// GOAWAY.
    pub fn capacity(&self) -> usize {
        match self.goaway {
            Some(_) => 0,
            None => self.slots.len().min(self.peer_max_streams as usize),
        }
    }

    /// Streams open.
    pub fn open(&self) -> usize {
        self.open
    }

    /// The slot count.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Whether `slot` carries a stream.
    pub fn busy(&self, slot: usize) -> bool {
        self.slots[slot].id != 0
    }

    /// The server's GOAWAY, if one came: its last stream and error code.
    pub fn goaway(&self) -> Option<(u32, u32)> {
        self.goaway
    }

    /// The stream `slot` carries (0: none).
    pub fn stream_id(&self, slot: usize) -> u32 {
        self.slots[slot].id
    }

    /// Opens a stream on free `slot` for `request` (an HTTP/1.1 request's bytes) and queues
    /// its HEADERS and as much of its body as the windows take. The caller checked
    /// [`can_open`](Self::can_open) and that the slot is free. An `Err` says why the bytes are
    /// not a request (nothing was queued).
    pub fn start(&mut self, slot: usize, request: &[u8]) -> Result<u32, &'static str> {
        let mut fields = [httparse::EMPTY_HEADER; FIELDS];
        let mut parsed = httparse::Request::new(&mut fields);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(request) else {
            return Err("the request's head does not parse");
        };
        let host = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"));
        let head = Head {
            method: parsed.method.unwrap_or("GET").as_bytes(),
            path: parsed.path.unwrap_or("/").as_bytes(),
            authority: host.map_or(&b""[..], |h| h.value),
            body: &request[head_len..],
        };
        self.send_block.clear();
        if let Some(size) = self.table_update.take() {
            // A dynamic table size update leads the block (RFC 7541, 6.3).
            let _ = loona_hpack::encoder::encode_integer_into(
                size as usize,
                5,
                0x20,
                &mut self.send_block,
            );
        }
        let block = &mut self.send_block;
        let pseudo: [(&[u8], &[u8]); 4] = [
            (b":method", head.method),
            (b":scheme", self.scheme),
            (b":authority", head.authority),
            (b":path", head.path),
        ];
        for field in pseudo {
            let _ = self.encoder.encode_header_into(field, block);
        }
        for field in parsed.headers.iter() {
            if !carried(field.name, field.value) {
                continue;
            }
            self.name.clear();
            self.name
                .extend(field.name.bytes().map(|b| b.to_ascii_lowercase()));
            let _ = self
                .encoder
                .encode_header_into((&self.name, field.value), block);
        }
        let id = self.next_id;
        self.next_id += 2;
        self.open += 1;
        let s = &mut self.slots[slot];
        s.id = id;
        s.send_window = self.peer_window;
        s.recv_window = RECV_WINDOW;
        s.head = false;
        s.body.clear();
        s.body.extend_from_slice(head.body);
        s.body_sent = 0;
        let empty = head.body.is_empty();
        frame::write_headers(&mut self.out, id, block, empty, self.peer_max_frame);
        self.send_body(slot);
        Ok(id)
    }

    /// Gives up `slot`'s stream (a timeout): RST_STREAM with CANCEL, the slot free. What the
    /// server still sends for it is dropped (its DATA still counted for the connection).
    pub fn cancel(&mut self, slot: usize) {
        let id = self.slots[slot].id;
        if id != 0 {
            frame::write_rst_stream(&mut self.out, id, code::CANCEL);
            self.close(slot);
        }
    }

    /// Ends the connection from this side (a connection error): GOAWAY with `code`. The
    /// caller closes the socket once it is written and fails the open streams.
    pub fn go_away(&mut self, code: u32) {
        frame::write_goaway(&mut self.out, 0, code);
    }

    fn close(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if s.id != 0 {
            s.id = 0;
            s.body.clear();
            self.open -= 1;
        }
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id)
    }

    /// Queues as much of `slot`'s body as the windows and the frame size take.
    fn send_body(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        while s.id != 0 && s.body_sent < s.body.len() {
            let room = self
                .send_window
                .min(s.send_window)
                .min(i64::from(self.peer_max_frame));
            if room <= 0 {
                return;
            }
            let n = (room as usize).min(s.body.len() - s.body_sent);
            let end = s.body_sent + n;
            let last = end == s.body.len();
            frame::write_data(&mut self.out, s.id, &s.body[s.body_sent..end], last);
            s.body_sent = end;
            s.send_window -= n as i64;
            self.send_window -= n as i64;
        }
    }

    fn send_bodies(&mut self) {
        for slot in 0..self.slots.len() {
            self.send_body(slot);
        }
    }

    /// Takes every whole frame at the front of `buf`, passing what they say to `sink`;
    /// returns the bytes taken (the rest is an incomplete frame). A connection error stops
    /// it: the caller sends [`go_away`](Self::go_away) and closes the connection.
    pub fn receive(&mut self, buf: &[u8], sink: &mut impl Sink) -> Result<usize, ConnError> {
        let mut at = 0;
        while let Some((frame, used)) = frame::parse(&buf[at..], frame::DEFAULT_MAX_FRAME)? {
            at += used;
            self.on_frame(frame, sink)?;
        }
        Ok(at)
    }

    fn on_frame(&mut self, f: Frame<'_>, sink: &mut impl Sink) -> Result<(), ConnError> {
        if let Some((stream, end_stream)) = self.continuing {
            let Frame::Continuation {
                stream: s,
                block,
                end_headers,
            } = f
            else {
                return Err(protocol("a frame inside a header block"));
            };
            if s != stream {
                return Err(protocol("a CONTINUATION of another stream"));
            }
            self.take_block(block)?;
            if end_headers {
                self.continuing = None;
                self.header_block(stream, end_stream, sink)?;
            }
            return Ok(());
        }
        match f {
            Frame::Data {
                stream,
                data,
                flow,
                end_stream,
            } => self.on_data(stream, data, flow, end_stream, sink)?,
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
            } => {
                self.recv_block.clear();
                self.take_block(block)?;
                if end_headers {
                    self.header_block(stream, end_stream, sink)?;
                } else {
                    self.continuing = Some((stream, end_stream));
                }
            }
            Frame::Continuation { .. } => return Err(protocol("a CONTINUATION out of place")),
            Frame::RstStream { stream, code } => {
                if let Some(slot) = self.find(stream) {
                    self.close(slot);
                    let why = match code {
                        code::REFUSED_STREAM => StreamEnd::Refused,
                        other => StreamEnd::Reset(other),
                    };
                    sink.failed(slot, why);
                }
            }
            Frame::Settings { ack: false, params } => self.on_settings(params)?,
            Frame::Settings { ack: true, .. } | Frame::Ignored => {}
            Frame::PushPromise => return Err(protocol("a PUSH_PROMISE with push disabled")),
            Frame::Ping { ack, data } => {
                if !ack {
                    frame::write_ping_ack(&mut self.out, data);
                }
            }
            Frame::GoAway {
                last_stream, code, ..
            } => self.on_goaway(last_stream, code, sink),
            Frame::WindowUpdate { stream, increment } => {
                self.on_window_update(stream, increment, sink)?
            }
        }
        Ok(())
    }

    /// Adds a fragment to the header block being received.
    fn take_block(&mut self, block: &[u8]) -> Result<(), ConnError> {
        if self.recv_block.len() + block.len() > MAX_HEADER_BLOCK {
            // The HPACK context would be lost with the block: the connection cannot go on.
            return Err(ConnError {
                code: code::ENHANCE_YOUR_CALM,
                why: "a header block longer than 64 KiB",
            });
        }
        self.recv_block.extend_from_slice(block);
        Ok(())
    }

    fn on_data(
        &mut self,
        stream: u32,
        data: &[u8],
        flow: u32,
        end_stream: bool,
        sink: &mut impl Sink,
    ) -> Result<(), ConnError> {
        self.recv_window -= i64::from(flow);
        if self.recv_window < 0 {
            return Err(ConnError {
                code: code::FLOW_CONTROL_ERROR,
                why: "DATA past the connection's window",
            });
        }
        if self.recv_window < RECV_WINDOW / 2 {
            let more = RECV_WINDOW - self.recv_window;
            frame::write_window_update(&mut self.out, 0, more as u32);
            self.recv_window = RECV_WINDOW;
        }
        // A stream this side gave up: its bytes counted for the connection, then dropped.
        let Some(slot) = self.find(stream) else {
            return Ok(());
        };
        let s = &mut self.slots[slot];
        s.recv_window -= i64::from(flow);
        if !s.head || s.recv_window < 0 {
            frame::write_rst_stream(&mut self.out, stream, code::PROTOCOL_ERROR);
            self.close(slot);
            sink.failed(slot, StreamEnd::Malformed);
            return Ok(());
        }
        sink.data(slot, data);
        if end_stream {
            self.close(slot);
            sink.end(slot);
        } else if s.recv_window < RECV_WINDOW / 2 {
            let more = RECV_WINDOW - s.recv_window;
            frame::write_window_update(&mut self.out, stream, more as u32);
            s.recv_window = RECV_WINDOW;
        }
        Ok(())
    }

    /// A complete header block for `stream`: a response head (interim ones skipped) or
    /// trailers. Decoded whatever the stream: the HPACK context must see every block.
    fn header_block(
        &mut self,
        stream: u32,
        end_stream: bool,
        sink: &mut impl Sink,
    ) -> Result<(), ConnError> {
        let slot = self.find(stream);
        let trailers = slot.is_some_and(|i| self.slots[i].head);
        let mut status: Option<u16> = None;
        let mut malformed = false;
        let mut decoded = 0usize;
        let mut fields = |name: &[u8], value: &[u8]| {
            decoded += name.len() + value.len() + 32;
            let Some(slot) = slot else {
                return;
            };
            if name == b":status" && status.is_none() && !trailers {
                status = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| v.len() == 3)
                    .and_then(|v| v.parse().ok());
                malformed |= status.is_none();
                if let Some(s) = status.filter(|s| *s >= 200) {
                    sink.head(slot, s);
                }
            } else if name.starts_with(b":") || (status.is_none() && !trailers) {
                malformed = true;
            } else if status.is_none_or(|s| s >= 200) && decoded <= MAX_HEADER_BLOCK {
                sink.field(slot, name, value);
            }
        };
        let block = std::mem::take(&mut self.recv_block);
        let result = self.decoder.decode(&block, &mut fields);
        self.recv_block = block;
        if result.is_err() {
            return Err(ConnError {
                code: code::COMPRESSION_ERROR,
                why: "a header block HPACK cannot decode",
            });
        }
        let Some(slot) = slot else {
            return Ok(());
        };
        let interim = status.is_some_and(|s| s < 200);
        let failed = match () {
            _ if malformed || (trailers && !end_stream) || (interim && end_stream) => {
                Some(StreamEnd::Malformed)
            }
            _ if decoded > MAX_HEADER_BLOCK => Some(StreamEnd::HeadersTooLarge),
            _ => None,
        };
        if let Some(why) = failed {
            frame::write_rst_stream(&mut self.out, stream, code::PROTOCOL_ERROR);
            self.close(slot);
            sink.failed(slot, why);
            return Ok(());
        }
        if !interim {
            self.slots[slot].head = true;
        }
        if end_stream {
            self.close(slot);
            sink.end(slot);
        }
        Ok(())
    }

    fn on_settings(&mut self, params: &[u8]) -> Result<(), ConnError> {
        for (id, value) in frame::settings(params) {
            match id {
                setting::HEADER_TABLE_SIZE => {
                    let size = value.min(TABLE_SIZE);
                    self.encoder.set_max_table_size(size as usize);
                    self.table_update = Some(size);
                }
                setting::MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
                setting::INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > frame::MAX_WINDOW {
                        return Err(ConnError {
                            code: code::FLOW_CONTROL_ERROR,
                            why: "SETTINGS_INITIAL_WINDOW_SIZE above 2^31 - 1",
                        });
                    }
                    let delta = value - self.peer_window;
                    self.peer_window = value;
                    for s in self.slots.iter_mut().filter(|s| s.id != 0) {
                        s.send_window += delta;
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=(1 << 24) - 1).contains(&value) {
                        return Err(protocol("SETTINGS_MAX_FRAME_SIZE out of range"));
                    }
                    self.peer_max_frame = value;
                }
                setting::ENABLE_PUSH if value > 1 => {
                    return Err(protocol("SETTINGS_ENABLE_PUSH above 1"));
                }
                _ => {}
            }
        }
        frame::write_settings_ack(&mut self.out);
        self.send_bodies();
        Ok(())
    }

    fn on_goaway(&mut self, last_stream: u32, code: u32, sink: &mut impl Sink) {
        self.goaway = Some((last_stream, code));
        for slot in 0..self.slots.len() {
            if self.slots[slot].id > last_stream {
                self.close(slot);
                sink.failed(slot, StreamEnd::Refused);
            }
        }
    }

    fn on_window_update(
        &mut self,
        stream: u32,
        increment: u32,
        sink: &mut impl Sink,
    ) -> Result<(), ConnError> {
        let increment = i64::from(increment);
        if stream == 0 {
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(ConnError {
                    code: code::FLOW_CONTROL_ERROR,
                    why: "the connection's window above 2^31 - 1",
                });
            }
            self.send_bodies();
        } else if let Some(slot) = self.find(stream) {
            let s = &mut self.slots[slot];
            s.send_window += increment;
            if s.send_window > frame::MAX_WINDOW {
                frame::write_rst_stream(&mut self.out, stream, code::FLOW_CONTROL_ERROR);
                self.close(slot);
                sink.failed(slot, StreamEnd::Malformed);
                return Ok(());
            }
            self.send_body(slot);
        }
        Ok(())
    }
}

/// Whether a request field goes into HTTP/2 as a field: not the connection-specific ones
/// (RFC 9113, 8.2.2), not `host` (it is `:authority`), and `te` only as `trailers`.
fn carried(name: &str, value: &[u8]) -> bool {
    const DROPPED: [&str; 6] = [
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ];
    if name.eq_ignore_ascii_case("te") {
        return value.eq_ignore_ascii_case(b"trailers");
    }
    !DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d))
}

fn protocol(why: &'static str) -> ConnError {
    ConnError {
        code: code::PROTOCOL_ERROR,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loona_hpack::Decoder;

    /// What a sink was told, in words.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Sink for Recorder {
        fn head(&mut self, slot: usize, status: u16) {
            self.0.push(format!("{slot} head {status}"));
        }
        fn field(&mut self, slot: usize, name: &[u8], value: &[u8]) {
            let (n, v) = (
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value),
            );
            self.0.push(format!("{slot} {n}: {v}"));
        }
        fn data(&mut self, slot: usize, data: &[u8]) {
            self.0
                .push(format!("{slot} data {}", String::from_utf8_lossy(data)));
        }
        fn end(&mut self, slot: usize) {
            self.0.push(format!("{slot} end"));
        }
        fn failed(&mut self, slot: usize, why: StreamEnd) {
            self.0.push(format!("{slot} failed {why:?}"));
        }
    }

    /// The server's side: its HPACK encoder, and the frames it sends.
    struct Server {
        encoder: Encoder<'static>,
        bytes: Vec<u8>,
    }

    impl Server {
        fn new() -> Server {
            Server {
                encoder: Encoder::new(),
                bytes: Vec::new(),
            }
        }

        fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end: bool, max: u32) {
            let block = self
                .encoder
                .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            frame::write_headers(&mut self.bytes, stream, &block, end, max);
        }

        /// Feeds everything sent so far to `conn`.
        fn send(&mut self, conn: &mut H2Conn, sink: &mut Recorder) -> Result<(), ConnError> {
            let used = conn.receive(&self.bytes, sink)?;
            assert_eq!(used, self.bytes.len(), "whole frames");
            self.bytes.clear();
            Ok(())
        }
    }

    const GET: &[u8] = b"GET /a?b=1 HTTP/1.1\r\nHost: h:81\r\nConnection: keep-alive\r\nX-Key: V\r\nTE: gzip\r\n\r\n";

    /// The frames `conn` queued, taken; each HEADERS block decoded to its fields.
    fn sent(conn: &mut H2Conn, decoder: &mut Decoder<'static>) -> Vec<String> {
        let out = std::mem::take(conn.out());
        let mut at = out
            .strip_prefix(frame::PREFACE)
            .map_or(0, |_| frame::PREFACE.len());
        let mut seen = Vec::new();
        while let Some((f, used)) = frame::parse(&out[at..], 1 << 20).unwrap() {
            at += used;
            seen.push(match f {
                Frame::Headers {
                    stream,
                    block,
                    end_stream,
                    ..
                } => {
                    let fields: Vec<String> = decoder
                        .decode(block)
                        .unwrap()
                        .into_iter()
                        .map(|(n, v)| {
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(&n),
                                String::from_utf8_lossy(&v)
                            )
                        })
                        .collect();
                    format!("HEADERS {stream} {end_stream} {}", fields.join(" "))
                }
                Frame::Data {
                    stream,
                    data,
                    end_stream,
                    ..
                } => {
                    format!(
                        "DATA {stream} {end_stream} {}",
                        String::from_utf8_lossy(data)
                    )
                }
                other => format!("{other:?}"),
            });
        }
        seen
    }

    #[test]
    fn a_request_goes_out_as_pseudo_headers_and_lower_case_fields() {
        let mut conn = H2Conn::new(2, false);
        let mut decoder = Decoder::new();
        assert!(conn.can_open());
        assert_eq!(conn.start(0, GET), Ok(1));
        let frames = sent(&mut conn, &mut decoder);
        assert!(frames[0].starts_with("Settings"), "{frames:?}");
        assert_eq!(
            frames[1],
            "WindowUpdate { stream: 0, increment: 1073676288 }"
        );
        assert_eq!(
            frames[2],
            "HEADERS 1 true :method=GET :scheme=http :authority=h:81 :path=/a?b=1 x-key=V"
        );
        // A body goes in DATA, END_STREAM on its last frame.
        let post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(conn.start(1, post), Ok(3));
        let frames = sent(&mut conn, &mut decoder);
        assert_eq!(
            frames,
            [
                "HEADERS 3 false :method=POST :scheme=http :authority=h :path=/p content-length=5",
                "DATA 3 true hello"
            ]
        );
        assert!(!conn.can_open(), "both slots busy");
        assert!(conn.start(0, b"not http").is_err());
    }

    #[test]
    fn responses_reach_their_slots_with_trailers_interim_heads_and_continuations() {
        let mut conn = H2Conn::new(3, true);
        let (mut server, mut sink) = (Server::new(), Recorder::default());
        for slot in 0..3 {
            conn.start(slot, GET).unwrap();
        }
        server.headers(3, &[(":status", "100")], false, 16_384);
        server.headers(
            3,
            &[(":status", "200"), ("content-type", "text/plain")],
            false,
            16_384,
        );
        server.headers(1, &[(":status", "404")], true, 16_384);
        frame::write_data(&mut server.bytes, 3, b"body", false);
        server.headers(3, &[("grpc-status", "0")], true, 16_384);
        // Stream 5's head in pieces of 8 bytes: HEADERS and CONTINUATIONs.
        let long = "x".repeat(40);
        server.headers(5, &[(":status", "200"), ("x-long", &long)], false, 8);
        frame::write_data(&mut server.bytes, 5, b"", true);
        server.send(&mut conn, &mut sink).unwrap();
        assert_eq!(
            sink.0,
            [
                "1 head 200",
                "1 content-type: text/plain",
                "0 head 404",
                "0 end",
                "1 data body",
                "1 grpc-status: 0",
                "1 end",
                "2 head 200",
                &format!("2 x-long: {long}"),
                "2 data ",
                "2 end"
            ]
        );
        assert_eq!(conn.open(), 0);
    }

    #[test]
    fn a_one_byte_window_lets_the_body_out_a_byte_at_a_time() {
        let mut conn = H2Conn::new(1, false);
        let (mut server, mut sink) = (Server::new(), Recorder::default());
        let mut decoder = Decoder::new();
        frame::write_settings(&mut server.bytes, &[(setting::INITIAL_WINDOW_SIZE, 1)]);
        server.send(&mut conn, &mut sink).unwrap();
        let post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        conn.start(0, post).unwrap();
        let frames = sent(&mut conn, &mut decoder);
        assert!(
            frames
                .iter()
                .any(|f| f == "Settings { ack: true, params: [] }"),
            "{frames:?}"
        );
        assert_eq!(frames.last().unwrap(), "DATA 1 false a");
        for expected in ["DATA 1 false b", "DATA 1 true c"] {
            frame::write_window_update(&mut server.bytes, 1, 1);
            server.send(&mut conn, &mut sink).unwrap();
            assert_eq!(sent(&mut conn, &mut decoder), [expected]);
        }
        // The connection's window binds too: 65,535 bytes, then a WINDOW_UPDATE of 0.
        let mut conn = H2Conn::new(1, false);
        let big = vec![b'z'; 70_000];
        let mut post = format!(
            "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            big.len()
        )
        .into_bytes();
        post.extend_from_slice(&big);
        frame::write_settings(
            &mut server.bytes,
            &[(setting::INITIAL_WINDOW_SIZE, 1 << 20)],
        );
        server.send(&mut conn, &mut sink).unwrap();
        conn.start(0, &post).unwrap();
        let data: usize = sent(&mut conn, &mut decoder)
            .iter()
            .filter_map(|f| f.strip_prefix("DATA 1 false "))
            .map(str::len)
            .sum();
        assert_eq!(data, 65_535);
        frame::write_window_update(&mut server.bytes, 0, 10_000);
        server.send(&mut conn, &mut sink).unwrap();
        let rest = sent(&mut conn, &mut decoder);
        assert_eq!(rest.len(), 1);
        assert!(rest[0].starts_with("DATA 1 true zzz"), "{rest:?}");
    }

    #[test]
    fn goaway_refuses_the_streams_it_did_not_take_and_lets_the_others_end() {
        let mut conn = H2Conn::new(3, false);
        let (mut server, mut sink) = (Server::new(), Recorder::default());
        for slot in 0..3 {
            conn.start(slot, GET).unwrap();
        }
        frame::write_goaway(&mut server.bytes, 3, code::NO_ERROR);
        frame::write_rst_stream(&mut server.bytes, 1, code::CANCEL);
        server.headers(3, &[(":status", "200")], true, 16_384);
        frame::header(&mut server.bytes, 8, frame::kind::PING, 0, 0);
        server.bytes.extend_from_slice(b"pingpong");
        server.send(&mut conn, &mut sink).unwrap();
        assert_eq!(
            sink.0,
            [
                "2 failed Refused",
                "0 failed Reset(8)",
                "1 head 200",
                "1 end"
            ]
        );
        assert!(!conn.can_open());
        assert_eq!(conn.goaway(), Some((3, 0)));
        let frames = sent(&mut conn, &mut Decoder::new());
        assert!(
            frames.last().unwrap().starts_with("Ping { ack: true"),
            "{frames:?}"
        );
    }

    #[test]
    fn broken_responses_fail_their_stream_or_the_connection() {
        let mut conn = H2Conn::new(2, false);
        let (mut server, mut sink) = (Server::new(), Recorder::default());
        conn.start(0, GET).unwrap();
        conn.start(1, GET).unwrap();
        // Data before any head; a head without :status.
        frame::write_data(&mut server.bytes, 1, b"x", false);
        server.headers(3, &[("content-type", "x")], true, 16_384);
        server.send(&mut conn, &mut sink).unwrap();
        assert_eq!(sink.0, ["0 failed Malformed", "1 failed Malformed"]);
        // A frame between a HEADERS and its CONTINUATION.
        let mut conn = H2Conn::new(1, false);
        conn.start(0, GET).unwrap();
        frame::header(&mut server.bytes, 1, frame::kind::HEADERS, 0, 1);
        server.bytes.push(0x88);
        frame::header(&mut server.bytes, 8, frame::kind::PING, 0, 0);
        server.bytes.extend_from_slice(b"pingpong");
        let e = server
            .send(&mut conn, &mut Recorder::default())
            .unwrap_err();
        assert_eq!(e.code, code::PROTOCOL_ERROR);
        server.bytes.clear();
        // A push promise, with push disabled.
        let mut conn = H2Conn::new(1, false);
        frame::header(&mut server.bytes, 4, frame::kind::PUSH_PROMISE, 0, 1);
        server.bytes.extend_from_slice(&[0, 0, 0, 2]);
        let e = server
            .send(&mut conn, &mut Recorder::default())
            .unwrap_err();
        assert_eq!(e.code, code::PROTOCOL_ERROR);
    }

    #[test]
    fn a_cancelled_stream_is_reset_and_its_late_frames_dropped() {
        let mut conn = H2Conn::new(1, false);
        let (mut server, mut sink) = (Server::new(), Recorder::default());
        conn.start(0, GET).unwrap();
        conn.cancel(0);
        assert!(conn.can_open() && !conn.busy(0));
        let frames = sent(&mut conn, &mut Decoder::new());
        assert_eq!(frames.last().unwrap(), "RstStream { stream: 1, code: 8 }");
        server.headers(1, &[(":status", "200")], false, 16_384);
        frame::write_data(&mut server.bytes, 1, b"late", true);
        server.send(&mut conn, &mut sink).unwrap();
        assert!(sink.0.is_empty(), "{:?}", sink.0);
        // The late head was decoded all the same: the next one, indexed, reads right.
        conn.start(0, GET).unwrap();
        server.headers(3, &[(":status", "200")], true, 16_384);
        server.send(&mut conn, &mut sink).unwrap();
        assert_eq!(sink.0, ["0 head 200", "0 end"]);
    }
}
