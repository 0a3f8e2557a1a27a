//! One HTTP exchange on a connection: the prepared request sent, then the response parsed as
//! it streams in (head with `httparse`, the body counted by Content-Length, chunk by chunk or
//! until close, 1xx skipped), its body checked, faults mapped to their error kinds.

use super::checks::{BodyChecks, CheckState};
use super::request::{HttpSet, HttpSpec, HttpTemplate};
use super::url::contains_word;
use super::{FAST_HEADERS, MAX_HEAD, kinds};
use crate::targets::ErrorKind;
use crate::targets::net::kinds::{PROTOCOL, TOO_LARGE};
use crate::targets::net::template::{Vars, push_decimal};
use crate::targets::net::{Exchange, Parse, StreamExchange};

/// Where the parser is in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailer,
    UntilClose,
}

/// What every connection of an HTTP target shares: the request's bytes, rendered once, and
/// what a response must be to count as a success.
#[derive(Debug)]
pub struct HttpShared {
    request: Vec<u8>,
    template: Option<HttpTemplate>,
    set: Option<HttpSet>,
    checks: BodyChecks,
    expect_status: Vec<u16>,
    head_request: bool,
    max_response_bytes: u64,
}

impl HttpShared {
    /// Renders `spec`'s request.
    pub fn new(spec: &HttpSpec) -> std::sync::Arc<HttpShared> {
        std::sync::Arc::new(HttpShared {
            request: spec.request_bytes(),
            template: spec.template.as_deref().cloned(),
            set: spec.set.as_deref().cloned(),
            checks: spec.checks.clone(),
            expect_status: spec.expect_status.clone(),
            head_request: spec.method == "HEAD",
            max_response_bytes: spec.max_response_bytes,
        })
    }

    /// Whether `status` counts as success.
    fn accepts(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }
}

/// One HTTP exchange at a time on a connection; see the module doc.
pub struct HttpExchange {
    shared: std::sync::Arc<HttpShared>,
    /// A templated request's rendering (reused: it stops growing at the longest).
    rendered: Vec<u8>,
    /// A templated body's rendering.
    body: Vec<u8>,
    state: State,
    status: u16,
    close: bool,
    /// Whether the body is checked (`shared.checks.any()`, looked up once).
    checking: bool,
    /// The current request is a HEAD (its response has no body).
    head_request: bool,
    /// A request set: the line the current request sends, and its name slot.
    line: usize,
    name: Option<u16>,
    check: CheckState,
    /// Bytes of the current response consumed so far (interim responses included).
    seen: u64,
}

impl HttpExchange {
    /// An exchange sending the shared request.
    pub fn new(shared: std::sync::Arc<HttpShared>) -> HttpExchange {
        HttpExchange {
            checking: shared.checks.any(),
            head_request: shared.head_request,
            line: 0,
            name: None,
            rendered: Vec::new(),
            body: Vec::new(),
            state: State::Head,
            status: 0,
            close: false,
            check: CheckState::default(),
            seen: 0,
            shared,
        }
    }

    /// Whether `n` more bytes would take the response past `max_response_bytes`, counting
    /// `pending` bytes taken but not yet counted.
    fn over_budget(&self, pending: usize, n: u64) -> bool {
        let budget = self
            .shared
            .max_response_bytes
            .saturating_sub(self.seen + pending as u64);
        n > budget
    }

    /// Hands a piece of the body to the checks, if any.
    #[inline]
    fn body_piece(&mut self, bytes: &[u8]) {
        if self.checking {
            self.check.feed(&self.shared.checks, bytes);
        }
    }

    fn status_kind(&self) -> ErrorKind {
        match self.status {
            100..=199 => ErrorKind::new("status_1xx"),
            200..=299 => ErrorKind::new("status_2xx"),
            300..=399 => ErrorKind::new("status_3xx"),
            400..=499 => ErrorKind::new("status_4xx"),
            500..=599 => ErrorKind::new("status_5xx"),
            _ => ErrorKind::new("status_other"),
        }
    }

    fn done(&mut self) -> Parse {
        // Checked whatever the status, so that the state starts afresh for the next one.
        let checked = !self.checking || self.check.passed(&self.shared.checks);
        let error = if !self.shared.accepts(self.status) {
            Some(self.status_kind())
        } else if !checked {
            Some(kinds::CHECK)
        } else {
            None
        };
        Parse::Done {
            error,
            close: self.close,
        }
    }

    /// Takes the line a chunked body has at the start of `buf` (a chunk's size, the CRLF after
    /// its data, a trailer); returns the bytes it took, or what to do.
    fn chunk_line(&mut self, buf: &mut Vec<u8>) -> Result<usize, Parse> {
        let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
            if buf.len() > MAX_HEAD {
                return Err(Parse::Failed(kinds::MALFORMED_BODY));
            }
            return Err(Parse::NeedMore);
        };
        let line = &buf[..eol];
        match self.state {
            State::ChunkSize => {
                let digits = line.split(|&b| b == b';').next().unwrap_or(b"");
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                self.state = match size {
                    Some(0) => State::Trailer,
                    Some(n) if self.over_budget(eol + 2, n) => {
                        return Err(Parse::Failed(TOO_LARGE));
                    }
                    Some(n) => State::ChunkData(n),
                    None => return Err(Parse::Failed(kinds::MALFORMED_BODY)),
                };
            }
            State::ChunkEnd if !line.is_empty() => {
                return Err(Parse::Failed(kinds::MALFORMED_BODY));
            }
            State::ChunkEnd => self.state = State::ChunkSize,
            // The empty line after the trailers ends the response.
            _ if line.is_empty() => {
                buf.drain(..eol + 2);
                self.state = State::Head;
                self.seen = 0;
                return Err(self.done());
            }
            _ => {}
        }
        Ok(eol + 2)
    }

    /// Parses the head at the start of `buf`; returns the bytes it took, or what to do.
    fn head(&mut self, buf: &[u8]) -> Result<usize, Parse> {
        let mut headers = [httparse::EMPTY_HEADER; FAST_HEADERS];
        if let Some(outcome) = self.read_head(buf, &mut headers) {
            return outcome;
        }
        // More than FAST_HEADERS lines: parse again with room for every line that MAX_HEAD
        // bytes can hold ("a:" and CRLF is 4 bytes).
        let mut many = vec![httparse::EMPTY_HEADER; MAX_HEAD / 4];
        self.read_head(buf, &mut many)
            .unwrap_or(Err(Parse::Failed(kinds::HEADERS_TOO_LARGE)))
    }

    /// Parses the head with `headers` as room for its lines; `None` when they are too few.
    fn read_head<'b>(
        &mut self,
        buf: &'b [u8],
        headers: &mut [httparse::Header<'b>],
    ) -> Option<Result<usize, Parse>> {
        let mut response = httparse::Response::new(headers);
        let used = match response.parse(buf) {
            Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
                return Some(Err(Parse::Failed(kinds::HEADERS_TOO_LARGE)));
            }
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Some(Err(Parse::Failed(kinds::HEADERS_TOO_LARGE)));
            }
            Ok(httparse::Status::Partial) => return Some(Err(Parse::NeedMore)),
            Err(httparse::Error::TooManyHeaders) => return None,
            Err(httparse::Error::Status | httparse::Error::Version) => {
                return Some(Err(Parse::Failed(kinds::MALFORMED_STATUS)));
            }
            Err(_) => return Some(Err(Parse::Failed(kinds::MALFORMED_HEADERS))),
        };
        self.status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        let (mut length, mut chunked, mut encoded) = (None, false, false);
        self.close = http10;
        for h in response.headers.iter() {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                match value.parse::<u64>() {
                    // Two different lengths: which one frames the body is the question
                    // request smuggling exploits. Nothing after it can be trusted.
                    Ok(n) if length.is_some_and(|l| l != n) => {
                        return Some(Err(Parse::Failed(PROTOCOL)));
                    }
                    Ok(n) => length = Some(n),
                    Err(_) => return Some(Err(Parse::Failed(kinds::MALFORMED_HEADERS))),
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                encoded = true;
                chunked = contains_word(value, "chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if contains_word(value, "close") {
                    self.close = true;
                } else if contains_word(value, "keep-alive") {
                    self.close = false;
                }
            }
        }
        // A server must not send both (RFC 9112, 6.1): the same ambiguity.
        if encoded && length.is_some() {
            return Some(Err(Parse::Failed(PROTOCOL)));
        }
        self.state = if (100..200).contains(&self.status) && self.status != 101 {
            State::Head
        } else if self.head_request || self.status == 204 || self.status == 304 {
            State::Length(0)
        } else if chunked {
            State::ChunkSize
        } else if let Some(n) = length {
            if self.over_budget(used, n) {
                return Some(Err(Parse::Failed(TOO_LARGE)));
            }
            State::Length(n)
        } else {
            self.close = true;
            State::UntilClose
        };
        Some(Ok(used))
    }
}

impl StreamExchange for HttpExchange {
    fn prepare(&mut self, vars: &Vars) {
        Exchange::prepare(self, vars);
    }

    fn name(&self) -> Option<u16> {
        self.name
    }

    fn request(&self) -> &[u8] {
        Exchange::request(self)
    }

    fn begin(&mut self) {
        Exchange::reset(self);
    }

    fn head(&mut self, status: u16) {
        self.status = status;
    }

    fn field(&mut self, _name: &[u8], _value: &[u8]) {}

    fn data(&mut self, bytes: &[u8]) -> Result<(), ErrorKind> {
        if self.over_budget(0, bytes.len() as u64) {
            return Err(TOO_LARGE);
        }
        self.seen += bytes.len() as u64;
        self.body_piece(bytes);
        Ok(())
    }

    fn end(&mut self) -> Option<ErrorKind> {
        match self.done() {
            Parse::Done { error, .. } => error,
            _ => None,
        }
    }
}

impl Exchange for HttpExchange {
    fn request(&self) -> &[u8] {
        if let Some(set) = &self.shared.set {
            let p = &set.requests[self.line];
            return match p.template {
                Some(_) => &self.rendered,
                None => &p.bytes,
            };
        }
        match self.shared.template {
            Some(_) => &self.rendered,
            None => &self.shared.request,
        }
    }

    fn name(&self) -> Option<u16> {
        self.name
    }

    fn prepare(&mut self, vars: &Vars) {
        let shared = &self.shared;
        let t = if let Some(set) = &shared.set {
            self.line = set.picker.pick(vars.seq, vars.seed);
            self.name = set.picker.slot(self.line);
            let p = &set.requests[self.line];
            self.head_request = p.head_request;
            p.template.as_ref()
        } else {
            shared.template.as_ref()
        };
        let Some(t) = t else {
            return;
        };
        self.body.clear();
        t.body.render(&mut self.body, vars);
        self.rendered.clear();
        t.head.render(&mut self.rendered, vars);
        if t.sends_body {
            self.rendered.extend_from_slice(b"Content-Length: ");
            push_decimal(&mut self.rendered, self.body.len() as i128);
            self.rendered.extend_from_slice(b"\r\n");
        }
        self.rendered.extend_from_slice(b"\r\n");
        self.rendered.extend_from_slice(&self.body);
    }

    fn reset(&mut self) {
        self.check.clear();
        self.state = State::Head;
        self.status = 0;
        self.close = false;
        self.seen = 0;
    }

    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse {
        loop {
            let consumed = match self.state {
                // An interim (1xx) head leaves the state at Head: the next head follows.
                State::Head => match self.head(buf) {
                    Ok(n) => n,
                    Err(outcome) => return outcome,
                },
                State::Length(0) => {
                    self.state = State::Head;
                    self.seen = 0;
                    return self.done();
                }
                State::Length(n) => {
                    let take = (buf.len() as u64).min(n);
                    if take == 0 {
                        return Parse::NeedMore;
                    }
                    self.state = State::Length(n - take);
                    self.body_piece(&buf[..take as usize]);
                    take as usize
                }
                State::ChunkSize | State::ChunkEnd | State::Trailer => match self.chunk_line(buf) {
                    Ok(n) => n,
                    Err(outcome) => return outcome,
                },
                State::ChunkData(n) => {
                    let take = (buf.len() as u64).min(n);
                    if take == 0 {
                        return Parse::NeedMore;
                    }
                    self.state = if take == n {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(n - take)
                    };
                    self.body_piece(&buf[..take as usize]);
                    take as usize
                }
                State::UntilClose => {
                    if self.over_budget(0, buf.len() as u64) {
                        return Parse::Failed(TOO_LARGE);
                    }
                    self.seen += buf.len() as u64;
                    self.body_piece(&buf[..]);
                    buf.clear();
                    return Parse::NeedMore;
                }
            };
            self.seen += consumed as u64;
            buf.drain(..consumed);
        }
    }

    fn at_close(&mut self) -> Parse {
        if self.state == State::UntilClose {
            self.state = State::Head;
            self.seen = 0;
            self.done()
        } else {
            Parse::Failed(super::super::kinds::CLOSED)
        }
    }
}
