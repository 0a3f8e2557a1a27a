//! HTTP/2 frames (RFC 9113, sections 4 and 6): the 9-byte frame header, each type's payload
//! read in place (no copy, no allocation), and the frames a client writes.
//!
//! [`parse`] takes one whole frame from the front of a buffer, or says it needs more bytes; a
//! frame that breaks the rules of its type (a length the type cannot have, padding longer than
//! the payload, a stream id where none may be) is a connection error, with the error code the
//! RFC names. PRIORITY frames and unknown types are skipped, as section 5.5 asks.

/// What a client sends first on a connection (RFC 9113, 3.4), before its SETTINGS.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Bytes of a frame header.
pub const HEADER_LEN: usize = 9;
/// The largest frame payload until the peer's SETTINGS_MAX_FRAME_SIZE says otherwise.
pub const DEFAULT_MAX_FRAME: u32 = 16_384;
/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;
/// Every window's size until SETTINGS say otherwise.
pub const DEFAULT_WINDOW: i64 = 65_535;

/// Frame types.
pub mod kind {
    /// A stream's body bytes.
    pub const DATA: u8 = 0;
    /// A header block's first fragment.
    pub const HEADERS: u8 = 1;
    /// Stream priority (ignored).
    pub const PRIORITY: u8 = 2;
    /// A stream ended by one side.
    pub const RST_STREAM: u8 = 3;
    /// Connection settings, or their acknowledgement.
    pub const SETTINGS: u8 = 4;
    /// A server push (refused: the client disables push).
    pub const PUSH_PROMISE: u8 = 5;
    /// A round trip, answered at once.
    pub const PING: u8 = 6;
    /// The connection ends after the streams up to an id.
    pub const GOAWAY: u8 = 7;
    /// More room in a flow-control window.
    pub const WINDOW_UPDATE: u8 = 8;
    /// A header block's further fragments.
    pub const CONTINUATION: u8 = 9;
}

/// Frame flags.
pub mod flag {
    /// DATA, HEADERS: the sender's last frame on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the header block is complete.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte leads, and that much padding ends the payload.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: 5 bytes of priority follow the pad length.
    pub const PRIORITY: u8 = 0x20;
}

/// Error codes (RFC 9113, section 7).
pub mod code {
    /// A graceful end.
    pub const NO_ERROR: u32 = 0;
    /// The protocol was broken.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// The peer failed inside.
    pub const INTERNAL_ERROR: u32 = 2;
    /// A window was overrun or overflowed.
    pub const FLOW_CONTROL_ERROR: u32 = 3;
    /// A frame for a stream already closed.
    pub const STREAM_CLOSED: u32 = 5;
    /// A frame of a size its type cannot have.
    pub const FRAME_SIZE_ERROR: u32 = 6;
    /// The stream was refused before any processing: safe to retry.
    pub const REFUSED_STREAM: u32 = 7;
    /// The stream is no longer needed.
    pub const CANCEL: u32 = 8;
    /// The header compression context broke.
    pub const COMPRESSION_ERROR: u32 = 9;
    /// The peer is overloaded by this client's behaviour.
    pub const ENHANCE_YOUR_CALM: u32 = 11;
}

/// Settings identifiers (RFC 9113, 6.5.2).
pub mod setting {
    /// The decoder's HPACK table size.
    pub const HEADER_TABLE_SIZE: u16 = 1;
    /// Whether the server may push (the client sends 0).
    pub const ENABLE_PUSH: u16 = 2;
    /// Streams the sender lets its peer open at once.
    pub const MAX_CONCURRENT_STREAMS: u16 = 3;
    /// Each new stream's flow-control window.
    pub const INITIAL_WINDOW_SIZE: u16 = 4;
    /// The largest frame payload the sender takes.
    pub const MAX_FRAME_SIZE: u16 = 5;
    /// The largest header list the sender takes.
    pub const MAX_HEADER_LIST_SIZE: u16 = 6;
}

/// One frame, its payload borrowed from the buffer it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Body bytes of `stream`, padding removed; `flow` is the whole payload's length, which
    /// flow control counts.
    Data {
        /// The stream.
        stream: u32,
        /// The body bytes.
        data: &'a [u8],
        /// Bytes the frame takes from the windows.
        flow: u32,
        /// The peer's last frame on the stream.
        end_stream: bool,
    },
    /// The first fragment of a header block (padding and priority removed).
    Headers {
        /// The stream.
        stream: u32,
        /// The fragment.
        block: &'a [u8],
        /// The peer's last frame on the stream.
        end_stream: bool,
        /// The block is complete.
        end_headers: bool,
    },
    /// A further fragment of a header block.
    Continuation {
        /// The stream.
        stream: u32,
        /// The fragment.
        block: &'a [u8],
        /// The block is complete.
        end_headers: bool,
    },
    /// The peer ended `stream`.
    RstStream {
        /// The stream.
        stream: u32,
        /// Why.
        code: u32,
    },
    /// Settings (pairs of a 16-bit id and a 32-bit value: [`settings`] reads them), or an
    /// acknowledgement of the client's.
    Settings {
        /// An acknowledgement (no settings).
        ack: bool,
        /// The settings' bytes.
        params: &'a [u8],
    },
    /// A server push promise (the client disabled push: a protocol error).
    PushPromise,
    /// A ping, or the answer to one.
    Ping {
        /// The answer to the client's.
        ack: bool,
        /// Its 8 opaque bytes.
        data: [u8; 8],
    },
    /// The peer ends the connection: streams above `last_stream` were not processed.
    GoAway {
        /// The highest stream the peer processed or may still.
        last_stream: u32,
        /// Why.
        code: u32,
        /// Its diagnostic bytes.
        debug: &'a [u8],
    },
    /// More room in the connection's window (`stream` 0) or a stream's.
    WindowUpdate {
        /// 0 for the connection.
        stream: u32,
        /// Bytes added (1 to 2^31 - 1).
        increment: u32,
    },
    /// PRIORITY, or a type this client does not know: skipped.
    Ignored,
}

/// A connection error: the connection cannot go on; `code` goes into the GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnError {
    /// The RFC's error code.
    pub code: u32,
    /// What was wrong, in words.
    pub why: &'static str,
}

fn error(code: u32, why: &'static str) -> ConnError {
    ConnError { code, why }
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Takes one frame from the front of `buf`: `Ok(None)` until it is all there, then the frame
/// and the bytes it took. `max_frame` is the largest payload this client announced it takes.
pub fn parse(buf: &[u8], max_frame: u32) -> Result<Option<(Frame<'_>, usize)>, ConnError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let (typ, flags) = (head[3], head[4]);
    let stream = u32_at(&head[5..9]) & 0x7fff_ffff;
    if length > max_frame {
        return Err(error(
            code::FRAME_SIZE_ERROR,
            "a frame longer than SETTINGS_MAX_FRAME_SIZE",
        ));
    }
    let total = HEADER_LEN + length as usize;
    let Some(payload) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    let frame = payload_of(typ, flags, stream, payload)?;
    Ok(Some((frame, total)))
}

/// The frame of type `typ` with this header and payload.
fn payload_of(typ: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame<'_>, ConnError> {
    match typ {
        kind::DATA | kind::HEADERS | kind::CONTINUATION | kind::RST_STREAM => {
            if stream == 0 {
                return Err(error(code::PROTOCOL_ERROR, "a stream frame on stream 0"));
            }
            stream_frame(typ, flags, stream, payload)
        }
        kind::SETTINGS | kind::PING | kind::GOAWAY => {
            if stream != 0 {
                return Err(error(
                    code::PROTOCOL_ERROR,
                    "a connection frame on a stream",
                ));
            }
            connection_frame(typ, flags, payload)
        }
        kind::PUSH_PROMISE => Ok(Frame::PushPromise),
        kind::WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(error(code::FRAME_SIZE_ERROR, "WINDOW_UPDATE not 4 bytes"));
            }
            let increment = u32_at(payload) & 0x7fff_ffff;
            if increment == 0 {
                return Err(error(code::PROTOCOL_ERROR, "a WINDOW_UPDATE of 0"));
            }
            Ok(Frame::WindowUpdate { stream, increment })
        }
        _ => Ok(Frame::Ignored),
    }
}

/// A frame of a stream: DATA, HEADERS, CONTINUATION or RST_STREAM.
fn stream_frame(typ: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame<'_>, ConnError> {
    let end_stream = flags & flag::END_STREAM != 0;
    let end_headers = flags & flag::END_HEADERS != 0;
    Ok(match typ {
        kind::DATA => Frame::Data {
            stream,
            data: unpad(flags, payload)?,
            flow: payload.len() as u32,
            end_stream,
        },
        kind::HEADERS => {
            let mut block = unpad(flags, payload)?;
            if flags & flag::PRIORITY != 0 {
                block = block.get(5..).ok_or(error(
                    code::FRAME_SIZE_ERROR,
                    "HEADERS too short for its priority",
                ))?;
            }
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
            }
        }
        kind::CONTINUATION => Frame::Continuation {
            stream,
            block: payload,
            end_headers,
        },
        _ => {
            if payload.len() != 4 {
                return Err(error(code::FRAME_SIZE_ERROR, "RST_STREAM not 4 bytes"));
            }
            Frame::RstStream {
                stream,
                code: u32_at(payload),
            }
        }
    })
}

/// A frame of the connection: SETTINGS, PING or GOAWAY.
fn connection_frame(typ: u8, flags: u8, payload: &[u8]) -> Result<Frame<'_>, ConnError> {
    let ack = flags & flag::ACK != 0;
    Ok(match typ {
        kind::SETTINGS => {
            if (ack && !payload.is_empty()) || payload.len() % 6 != 0 {
                return Err(error(code::FRAME_SIZE_ERROR, "SETTINGS of a wrong length"));
            }
            Frame::Settings {
                ack,
                params: payload,
            }
        }
        kind::PING => Frame::Ping {
            ack,
            data: payload
                .try_into()
                .map_err(|_| error(code::FRAME_SIZE_ERROR, "PING not 8 bytes"))?,
        },
        _ => {
            if payload.len() < 8 {
                return Err(error(code::FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes"));
            }
            Frame::GoAway {
                last_stream: u32_at(payload) & 0x7fff_ffff,
                code: u32_at(&payload[4..]),
                debug: &payload[8..],
            }
        }
    })
}

/// A DATA or HEADERS payload without its padding.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], ConnError> {
    if flags & flag::PADDED == 0 {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or(error(
        code::FRAME_SIZE_ERROR,
        "a padded frame without its pad length",
    ))?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
        .ok_or(error(
            code::PROTOCOL_ERROR,
            "padding longer than the payload",
        ))
}

/// The (id, value) pairs of a SETTINGS payload.
pub fn settings(params: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    params
        .chunks_exact(6)
        .map(|s| (u16::from_be_bytes([s[0], s[1]]), u32_at(&s[2..])))
}

/// Appends a frame header.
pub fn header(out: &mut Vec<u8>, length: usize, typ: u8, flags: u8, stream: u32) {
    let l = (length as u32).to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], typ, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a SETTINGS frame with `params`.
pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    header(out, params.len() * 6, kind::SETTINGS, 0, 0);
    for (id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends the acknowledgement of the peer's SETTINGS.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    header(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a WINDOW_UPDATE of `increment` for `stream` (0: the connection).
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    header(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends the answer to a PING.
pub fn write_ping_ack(out: &mut Vec<u8>, data: [u8; 8]) {
    header(out, 8, kind::PING, flag::ACK, 0);
    out.extend_from_slice(&data);
}

/// Appends an RST_STREAM ending `stream` with `code`.
pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: u32) {
    header(out, 4, kind::RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a GOAWAY with `last_stream` and `code`.
pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: u32) {
    header(out, 8, kind::GOAWAY, 0, 0);
    out.extend_from_slice(&last_stream.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a header block for `stream` as one HEADERS frame and as many CONTINUATION frames
/// as `max_frame` needs.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: u32,
) {
    let mut pieces = block.chunks(max_frame as usize).peekable();
    let first = pieces.next().unwrap_or(&[]);
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if pieces.peek().is_none() {
        flags |= flag::END_HEADERS;
    }
    header(out, first.len(), kind::HEADERS, flags, stream);
    out.extend_from_slice(first);
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let flags = if last { flag::END_HEADERS } else { 0 };
        header(out, piece.len(), kind::CONTINUATION, flags, stream);
        out.extend_from_slice(piece);
    }
}

/// Appends one DATA frame (the caller keeps it within the windows and the frame size).
pub fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    header(out, data.len(), kind::DATA, flags, stream);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ConnError> {
        parse(bytes, DEFAULT_MAX_FRAME)
    }

    #[test]
    fn written_frames_read_back() {
        let mut out = Vec::new();
        write_settings(
            &mut out,
            &[(setting::ENABLE_PUSH, 0), (setting::INITIAL_WINDOW_SIZE, 1)],
        );
        write_window_update(&mut out, 3, 1000);
        write_ping_ack(&mut out, *b"12345678");
        write_rst_stream(&mut out, 5, code::CANCEL);
        write_goaway(&mut out, 7, code::NO_ERROR);
        write_data(&mut out, 9, b"body", true);
        let mut at = 0;
        let mut frames = Vec::new();
        while let Some((frame, used)) = one(&out[at..]).unwrap() {
            frames.push(frame);
            at += used;
        }
        assert_eq!(at, out.len());
        let Frame::Settings { ack: false, params } = frames[0] else {
            panic!("{:?}", frames[0])
        };
        assert_eq!(settings(params).collect::<Vec<_>>(), [(2, 0), (4, 1)]);
        assert_eq!(
            frames[1],
            Frame::WindowUpdate {
                stream: 3,
                increment: 1000
            }
        );
        assert_eq!(
            frames[2],
            Frame::Ping {
                ack: true,
                data: *b"12345678"
            }
        );
        assert_eq!(
            frames[3],
            Frame::RstStream {
                stream: 5,
                code: code::CANCEL
            }
        );
        assert_eq!(
            frames[4],
            Frame::GoAway {
                last_stream: 7,
                code: 0,
                debug: &[]
            }
        );
        assert_eq!(
            frames[5],
            Frame::Data {
                stream: 9,
                data: b"body",
                flow: 4,
                end_stream: true
            }
        );
    }

    #[test]
    fn a_frame_waits_for_all_its_bytes() {
        let mut out = Vec::new();
        write_data(&mut out, 1, b"abcdef", false);
        for cut in 0..out.len() {
            assert_eq!(one(&out[..cut]), Ok(None), "{cut}");
        }
        assert!(one(&out).unwrap().is_some());
    }

    #[test]
    fn long_header_blocks_continue() {
        let block: Vec<u8> = (0..40u8).collect();
        let mut out = Vec::new();
        write_headers(&mut out, 1, &block, true, 16);
        let mut at = 0;
        let mut joined = Vec::new();
        let mut ends = Vec::new();
        while let Some((frame, used)) = parse(&out[at..], 16).unwrap() {
            match frame {
                Frame::Headers {
                    block,
                    end_stream,
                    end_headers,
                    ..
                } => {
                    assert!(end_stream);
                    joined.extend_from_slice(block);
                    ends.push(end_headers);
                }
                Frame::Continuation {
                    block, end_headers, ..
                } => {
                    joined.extend_from_slice(block);
                    ends.push(end_headers);
                }
                other => panic!("{other:?}"),
            }
            at += used;
        }
        assert_eq!(joined, block);
        assert_eq!(ends, [false, false, true]);
    }

    #[test]
    fn padding_and_priority_are_removed_and_checked() {
        // DATA, padded: pad length 2, "hi", 2 bytes of padding.
        let mut out = Vec::new();
        header(&mut out, 5, kind::DATA, flag::PADDED, 1);
        out.extend_from_slice(&[2, b'h', b'i', 0, 0]);
        assert_eq!(
            one(&out).unwrap().unwrap().0,
            Frame::Data {
                stream: 1,
                data: b"hi",
                flow: 5,
                end_stream: false
            }
        );
        // HEADERS with priority: 5 bytes before the block.
        let mut out = Vec::new();
        header(
            &mut out,
            6,
            kind::HEADERS,
            flag::PRIORITY | flag::END_HEADERS,
            3,
        );
        out.extend_from_slice(&[0, 0, 0, 1, 16, 0x88]);
        assert_eq!(
            one(&out).unwrap().unwrap().0,
            Frame::Headers {
                stream: 3,
                block: &[0x88],
                end_stream: false,
                end_headers: true
            }
        );
        // Padding longer than the payload.
        let mut out = Vec::new();
        header(&mut out, 2, kind::DATA, flag::PADDED, 1);
        out.extend_from_slice(&[9, 0]);
        assert_eq!(one(&out).unwrap_err().code, code::PROTOCOL_ERROR);
    }

    #[test]
    fn frames_that_cannot_be_are_connection_errors() {
        let bad: [(usize, u8, u8, u32, u32); 8] = [
            (4, kind::DATA, 0, 0, code::PROTOCOL_ERROR),
            (3, kind::RST_STREAM, 0, 1, code::FRAME_SIZE_ERROR),
            (5, kind::SETTINGS, 0, 0, code::FRAME_SIZE_ERROR),
            (6, kind::SETTINGS, flag::ACK, 0, code::FRAME_SIZE_ERROR),
            (6, kind::SETTINGS, 0, 1, code::PROTOCOL_ERROR),
            (7, kind::PING, 0, 0, code::FRAME_SIZE_ERROR),
            (4, kind::GOAWAY, 0, 0, code::FRAME_SIZE_ERROR),
            (4, kind::WINDOW_UPDATE, 0, 0, code::PROTOCOL_ERROR),
        ];
        for (length, typ, flags, stream, expected) in bad {
            let mut out = Vec::new();
            header(&mut out, length, typ, flags, stream);
            out.resize(HEADER_LEN + length, 0);
            assert_eq!(one(&out).unwrap_err().code, expected, "type {typ}");
        }
        let mut out = Vec::new();
        header(&mut out, 20_000, kind::DATA, 0, 1);
        assert_eq!(one(&out).unwrap_err().code, code::FRAME_SIZE_ERROR);
        // PRIORITY and unknown types are skipped whole.
        let mut out = Vec::new();
        header(&mut out, 3, 0xfa, 0, 1);
        out.extend_from_slice(b"xyz");
        assert_eq!(one(&out), Ok(Some((Frame::Ignored, 12))));
    }
}
