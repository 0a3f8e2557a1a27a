//! HTTP/1.1: the request a target sends, and a streaming parser for the response.
//!
//! The request is built once (method, path, Host, headers, Content-Length, body) and sent as
//! the same bytes every time. The response parser reads the head with `httparse`, then counts
//! the body without keeping it: by Content-Length, chunk by chunk, or until the server closes.
//! Interim 1xx responses are skipped. Faults map to error kinds of their own.

use std::time::Duration;

use super::{Exchange, Parse, resolve};
use crate::target::ErrorKind;

/// The largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// Error kinds of HTTP faults.
pub mod kinds {
    use crate::target::ErrorKind;
    /// The status line is not HTTP/1.x.
    pub const MALFORMED_STATUS: ErrorKind = ErrorKind::new("malformed_status");
    /// A header line is not a header.
    pub const MALFORMED_HEADERS: ErrorKind = ErrorKind::new("malformed_headers");
    /// The head is larger than 64 KiB.
    pub const HEADERS_TOO_LARGE: ErrorKind = ErrorKind::new("headers_too_large");
    /// A chunk-size line is not hexadecimal, or a chunk is not followed by CRLF.
    pub const MALFORMED_BODY: ErrorKind = ErrorKind::new("malformed_body");
}

/// An `http://` URL, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host as written (for the Host header).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses `http://host[:port][/path]` (IPv6 hosts in brackets). `https` is refused.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| match text.split_once("://") {
                Some(("https", _)) => "https is not supported (plain HTTP/1.1 only)".to_string(),
                _ => "the URL must start with http://".to_string(),
            })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("an IPv6 host needs a closing ]")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("`{p}` is not a port"))?,
                None if after.is_empty() => 80,
                None => return Err(format!("`{after}` after the IPv6 host")),
            };
            (format!("[{host}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("`{p}` is not a port"))?,
                ),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err("the URL has no host".into());
        }
        Ok(HttpUrl {
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The value of the Host header: the host, with the port unless it is 80.
    pub fn host_header(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// host:port, for resolving.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Everything an HTTP target sends and expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSpec {
    /// Where.
    pub url: HttpUrl,
    /// GET, POST, ...
    pub method: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body (sent with Content-Length when not empty, or for POST/PUT/PATCH).
    pub body: Vec<u8>,
    /// Statuses that count as success; empty: 2xx and 3xx.
    pub expect_status: Vec<u16>,
    /// Connections, spread over the workers (0: one per worker).
    pub connections: usize,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

impl HttpSpec {
    /// A GET of `url` with no extra headers.
    pub fn get(url: HttpUrl) -> HttpSpec {
        HttpSpec {
            url,
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            expect_status: Vec::new(),
            connections: 0,
            connect_timeout: Duration::from_secs(2),
        }
    }

    /// Checks the spec and that its host resolves.
    pub fn validate(&self) -> Result<(), String> {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("`{}` is not an HTTP method", self.method));
        }
        for (name, value) in &self.headers {
            let bad = name.is_empty()
                || name.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f)
                || value.bytes().any(|b| b == b'\r' || b == b'\n');
            if bad {
                return Err(format!("`{name}: {value}` is not a header"));
            }
        }
        resolve(&self.url.authority()).map(|_| ())
    }

    /// The bytes of the request, built once.
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method,
            self.url.path,
            self.url.host_header()
        );
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let sends_body =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if sends_body && !has("content-length") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if !has("user-agent") {
            head.push_str(concat!(
                "User-Agent: openpace/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Whether `status` counts as success.
    pub fn accepts(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }
}

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

/// One HTTP exchange at a time on a connection; see the module doc.
pub struct HttpExchange {
    spec: HttpSpec,
    request: Vec<u8>,
    state: State,
    status: u16,
    close: bool,
    head_request: bool,
}

impl HttpExchange {
    /// An exchange sending `spec`'s request.
    pub fn new(spec: HttpSpec) -> HttpExchange {
        let request = spec.request_bytes();
        let head_request = spec.method == "HEAD";
        HttpExchange {
            spec,
            request,
            state: State::Head,
            status: 0,
            close: false,
            head_request,
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

    fn done(&self) -> Parse {
        Parse::Done {
            error: (!self.spec.accepts(self.status)).then(|| self.status_kind()),
            close: self.close,
        }
    }

    /// Parses the head at the start of `buf`; returns the bytes it took, or what to do.
    fn head(&mut self, buf: &[u8]) -> Result<usize, Parse> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(Parse::Failed(kinds::HEADERS_TOO_LARGE));
            }
            Ok(httparse::Status::Partial) => return Err(Parse::NeedMore),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Parse::Failed(kinds::HEADERS_TOO_LARGE));
            }
            Err(httparse::Error::Status | httparse::Error::Version) => {
                return Err(Parse::Failed(kinds::MALFORMED_STATUS));
            }
            Err(_) => return Err(Parse::Failed(kinds::MALFORMED_HEADERS)),
        };
        self.status = response.code.unwrap_or(0);
        let http10 = response.version == Some(0);
        let (mut length, mut chunked) = (None, false);
        self.close = http10;
        for h in response.headers.iter() {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| Parse::Failed(kinds::MALFORMED_HEADERS))?,
                );
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    self.close = true;
                } else if v.contains("keep-alive") {
                    self.close = false;
                }
            }
        }
        self.state = if (100..200).contains(&self.status) && self.status != 101 {
            State::Head
        } else if self.head_request || self.status == 204 || self.status == 304 {
            State::Length(0)
        } else if chunked {
            State::ChunkSize
        } else if let Some(n) = length {
            State::Length(n)
        } else {
            self.close = true;
            State::UntilClose
        };
        Ok(used)
    }
}

impl Exchange for HttpExchange {
    fn request(&self) -> &[u8] {
        &self.request
    }

    fn reset(&mut self) {
        self.state = State::Head;
        self.status = 0;
        self.close = false;
    }

    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse {
        loop {
            let consumed = match self.state {
                State::Head => {
                    let interim = |s: &Self| (100..200).contains(&s.status) && s.status != 101;
                    match self.head(buf) {
                        Ok(n) if interim(self) => n,
                        Ok(n) => n,
                        Err(outcome) => return outcome,
                    }
                }
                State::Length(0) => {
                    self.state = State::Head;
                    return self.done();
                }
                State::Length(n) => {
                    let take = (buf.len() as u64).min(n);
                    if take == 0 {
                        return Parse::NeedMore;
                    }
                    self.state = State::Length(n - take);
                    take as usize
                }
                State::ChunkSize | State::ChunkEnd | State::Trailer => {
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if buf.len() > MAX_HEAD {
                            return Parse::Failed(kinds::MALFORMED_BODY);
                        }
                        return Parse::NeedMore;
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
                                Some(n) => State::ChunkData(n),
                                None => return Parse::Failed(kinds::MALFORMED_BODY),
                            };
                        }
                        State::ChunkEnd if !line.is_empty() => {
                            return Parse::Failed(kinds::MALFORMED_BODY);
                        }
                        State::ChunkEnd => self.state = State::ChunkSize,
                        _ if line.is_empty() => {
                            buf.drain(..eol + 2);
                            self.state = State::Head;
                            return self.done();
                        }
                        _ => {}
                    }
                    eol + 2
                }
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
                    take as usize
                }
                State::UntilClose => {
                    buf.clear();
                    return Parse::NeedMore;
                }
            };
            buf.drain(..consumed);
        }
    }

    fn at_close(&mut self) -> Parse {
        if self.state == State::UntilClose {
            self.state = State::Head;
            self.done()
        } else {
            Parse::Failed(super::kinds::CLOSED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> HttpExchange {
        HttpExchange::new(HttpSpec::get(
            HttpUrl::parse("http://127.0.0.1:8080/x").unwrap(),
        ))
    }

    fn feed(e: &mut HttpExchange, parts: &[&[u8]]) -> Parse {
        let mut buf = Vec::new();
        let mut last = Parse::NeedMore;
        for part in parts {
            buf.extend_from_slice(part);
            last = e.parse(&mut buf);
        }
        last
    }

    #[test]
    fn urls_parse_with_ports_paths_and_ipv6() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/a/b?c=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/a/b?c=1")
        );
        let u = HttpUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("[::1]", 9000, "/")
        );
        assert_eq!(u.host_header(), "[::1]:9000");
        assert_eq!(HttpUrl::parse("http://example.com").unwrap().port, 80);
        assert!(HttpUrl::parse("https://x/").unwrap_err().contains("https"));
        assert!(HttpUrl::parse("ftp://x/").is_err());
        assert!(HttpUrl::parse("http://x:port/").is_err());
        assert!(HttpUrl::parse("http:///").is_err());
    }

    #[test]
    fn the_request_is_built_once_with_host_and_length() {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://h:81/p").unwrap());
        spec.method = "POST".into();
        spec.body = b"{}".to_vec();
        spec.headers.push(("X-A".into(), "1".into()));
        let text = String::from_utf8(spec.request_bytes()).unwrap();
        assert!(text.starts_with("POST /p HTTP/1.1\r\nHost: h:81\r\nX-A: 1\r\n"));
        assert!(text.contains("Content-Length: 2\r\n") && text.ends_with("\r\n\r\n{}"));
    }

    #[test]
    fn content_length_bodies_split_anywhere() {
        let mut e = exchange();
        let r = feed(
            &mut e,
            &[
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"lo",
            ],
        );
        assert_eq!(
            r,
            Parse::Done {
                error: None,
                close: false
            }
        );
    }

    #[test]
    fn chunked_bodies_and_trailers() {
        let mut e = exchange();
        let body: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n",
            b"0\r\nX-Trailer: 1\r\n\r\n",
        ];
        assert_eq!(
            feed(&mut e, body),
            Parse::Done {
                error: None,
                close: false
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
            ),
            Parse::Failed(kinds::MALFORMED_BODY)
        );
    }

    #[test]
    fn status_close_interim_and_faults() {
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"]
            ),
            Parse::Done {
                error: Some(ErrorKind::new("status_5xx")),
                close: true
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(
                &mut e,
                &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"]
            ),
            Parse::Done {
                error: None,
                close: false
            }
        );
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"garbage\r\n\r\n"]),
            Parse::Failed(kinds::MALFORMED_STATUS)
        );
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"]),
            Parse::Failed(kinds::MALFORMED_HEADERS)
        );
        let mut e = exchange();
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(
            feed(&mut e, &[&huge]),
            Parse::Failed(kinds::HEADERS_TOO_LARGE)
        );
        // No length: the body runs until the server closes.
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[b"HTTP/1.0 200 OK\r\n\r\nabc"]),
            Parse::NeedMore
        );
        assert_eq!(
            e.at_close(),
            Parse::Done {
                error: None,
                close: true
            }
        );
    }
}
