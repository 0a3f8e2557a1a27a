//! The request an HTTP target sends: built once from the spec (method, path, Host, headers,
//! Content-Length, body), checked so that nothing unframed reaches the wire, or made per
//! request from a template or a request set.

use std::time::Duration;

use super::checks::BodyChecks;
use super::url::{HttpUrl, is_token};
use crate::targets::net::set::Picker;
use crate::targets::net::template::{Context, Template};
use crate::targets::net::tls::{TlsClient, TlsSettings};

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
    /// What the body of a response with such a status must be.
    pub checks: BodyChecks,
    /// Connections, spread over the workers.
    pub connections: crate::targets::net::Connections,
    /// How long a connection attempt may take (the TLS handshake included).
    pub connect_timeout: Duration,
    /// The largest response read (head and body); a larger one is `response_too_large`.
    pub max_response_bytes: u64,
    /// For https: the TLS client every connection shares (see [`HttpSpec::secure`]).
    pub tls: Option<std::sync::Arc<TlsClient>>,
    /// The request as a template, when its path, a header or its body holds a `{{...}}`
    /// expression (see [`HttpSpec::templated`]).
    pub template: Option<Box<HttpTemplate>>,
    /// A request set: the requests sent instead of this one (see [`HttpSpec::with_requests`]).
    pub set: Option<Box<HttpSet>>,
    /// Spoken over HTTP/2 (`http_version: "2"`): h2 by ALPN over TLS, h2c with prior
    /// knowledge over http://.
    pub http2: bool,
    /// Over HTTP/2, the streams each connection carries at once (the server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS permitting).
    pub streams: usize,
}

/// Streams per HTTP/2 connection unless `streams` says (nginx's default limit is 128).
pub const DEFAULT_STREAMS: usize = 100;

/// The requests of a request set, ready to send, and which one each request sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSet {
    /// Picks a line per request and knows the names.
    pub picker: Picker,
    pub(super) requests: Vec<Prepared>,
}

/// One line of a request set, rendered once (or a template).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Prepared {
    pub(super) bytes: Vec<u8>,
    pub(super) template: Option<HttpTemplate>,
    pub(super) head_request: bool,
}

/// An HTTP request rendered per request: the head up to its `Content-Length`, and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTemplate {
    pub(super) head: Template,
    pub(super) body: Template,
    pub(super) sends_body: bool,
}

impl HttpSpec {
    /// Sets up TLS for an https URL with `settings` (nothing for http, where `settings` must
    /// be the defaults).
    pub fn secure(mut self, settings: &TlsSettings) -> Result<HttpSpec, String> {
        if !self.url.tls {
            if *settings != TlsSettings::default() {
                return Err("`cacert` and `insecure` apply to https:// URLs only".into());
            }
            return Ok(self);
        }
        // Over HTTP/2, `h2` first and `http/1.1` to fall back to, as curl offers them.
        let alpn: &[&[u8]] = match self.http2 {
            true => &[b"h2", b"http/1.1"],
            false => &[b"http/1.1"],
        };
        let client = TlsClient::new(&self.url.host, settings, alpn)?;
        self.tls = Some(std::sync::Arc::new(client));
        Ok(self)
    }

    /// A GET of `url` with no extra headers.
    pub fn get(url: HttpUrl) -> HttpSpec {
        HttpSpec {
            url,
            method: "GET".into(),
            headers: Vec::new(),
            body: Vec::new(),
            expect_status: Vec::new(),
            checks: BodyChecks::default(),
            connections: crate::targets::net::Connections::Auto,
            connect_timeout: Duration::from_secs(2),
            max_response_bytes: super::super::DEFAULT_MAX_RESPONSE_BYTES,
            tls: None,
            template: None,
            set: None,
            http2: false,
            streams: DEFAULT_STREAMS,
        }
    }

    /// Checks everything that will be sent (see the module doc) and that the host resolves.
    pub fn validate(&self) -> Result<(), String> {
        self.check()?;
        super::super::Peer::resolve(&self.url.endpoint()).map(|_| ())
    }

    /// Checks everything that will be sent.
    fn check(&self) -> Result<(), String> {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`{}` is not an HTTP method (capital letters, e.g. GET, POST)",
                self.method
            ));
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token) {
                return Err(format!(
                    "`{}` is not a header name (letters, digits and !#$%&'*+-.^_`|~)",
                    name.escape_debug()
                ));
            }
            if let Some(b) = value
                .bytes()
                .find(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
            {
                return Err(format!(
                    "the value of header `{name}` holds the control character {:?}; header \
                     values cannot hold CR, LF or other control characters",
                    b as char
                ));
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(
                    "a Transfer-Encoding header: openpace sends the body as is, framed \
                            by Content-Length"
                        .into(),
                );
            }
            if name.eq_ignore_ascii_case("content-length")
                && value.trim().parse::<usize>().ok() != Some(self.body.len())
            {
                return Err(format!(
                    "Content-Length: {value} does not match the body ({} bytes); leave it out \
                     and openpace sends the right one",
                    self.body.len()
                ));
            }
        }
        if self.body.len() > super::super::MAX_BODY {
            return Err(format!(
                "a body of {} bytes; the largest is {} MiB",
                self.body.len(),
                super::super::MAX_BODY >> 20
            ));
        }
        Ok(())
    }

    /// Makes the spec send a request set's lines (see [`set`](crate::targets::net::set)), each already read
    /// into a spec of its own with its line number (`spec::from_object` reads them): rendered
    /// once or, with expressions, per request, and checked.
    pub fn with_requests(
        mut self,
        lines: Vec<(usize, HttpSpec)>,
        picker: Picker,
    ) -> Result<HttpSpec, String> {
        let mut requests = Vec::with_capacity(lines.len());
        for (number, mut spec) in lines {
            let at = |e: String| format!("line {number}: {e}");
            spec.template = None;
            let spec = spec.templated().map_err(at)?;
            spec.check().map_err(at)?;
            requests.push(Prepared {
                bytes: spec.request_bytes(),
                head_request: spec.method == "HEAD",
                template: spec.template.map(|t| *t),
            });
        }
        self.set = Some(Box::new(HttpSet { picker, requests }));
        Ok(self)
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn sends_body(&self) -> bool {
        !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")
    }

    /// The head's pieces up to its Content-Length: the request line (with the path), Host,
    /// the headers, User-Agent.
    fn head_pieces(&self) -> Vec<(String, Context)> {
        let mut pieces = vec![
            (format!("{} ", self.method), Context::Line),
            (self.url.path.clone(), Context::Url),
            (" HTTP/1.1\r\n".to_string(), Context::Line),
        ];
        if !self.has_header("host") {
            pieces.push((
                format!("Host: {}\r\n", self.url.host_header()),
                Context::Line,
            ));
        }
        for (name, value) in &self.headers {
            pieces.push((format!("{name}: "), Context::Line));
            pieces.push((value.clone(), Context::Line));
            pieces.push(("\r\n".to_string(), Context::Line));
        }
        if !self.has_header("user-agent") {
            let agent = concat!("User-Agent: openpace/", env!("CARGO_PKG_VERSION"), "\r\n");
            pieces.push((agent.to_string(), Context::Line));
        }
        pieces
    }

    /// Makes the request a template when its path, a header value or its body holds a
    /// `{{...}}` expression; checks the expressions (and reads the files they name).
    pub fn templated(mut self) -> Result<HttpSpec, String> {
        let body = String::from_utf8_lossy(&self.body);
        let pieces = self.head_pieces();
        if !body.contains("{{") && !pieces.iter().any(|(text, _)| text.contains("{{")) {
            return Ok(self);
        }
        let head = pieces
            .iter()
            .map(|(text, context)| Template::parse(text, *context))
            .collect::<Result<Vec<_>, _>>()?;
        let body = Template::parse(&body, Context::Body)?;
        if !body.is_static() && self.has_header("content-length") {
            return Err(
                "a Content-Length header with a templated body: leave it out and \
                        openpace sends each rendering's own"
                    .into(),
            );
        }
        self.template = Some(Box::new(HttpTemplate {
            head: Template::join(head),
            body,
            sends_body: self.sends_body() && !self.has_header("content-length"),
        }));
        Ok(self)
    }

    /// The bytes of the request, built once (a templated request: its text as written).
    pub fn request_bytes(&self) -> Vec<u8> {
        let mut head: String = self.head_pieces().into_iter().map(|(t, _)| t).collect();
        if self.sends_body() && !self.has_header("content-length") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
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
