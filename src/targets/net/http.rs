//! HTTP/1.1: the request a target sends, and a streaming parser for the response.
//!
//! The request is built once (method, path, Host, headers, Content-Length, body), shared by
//! every connection of the run ([`HttpShared`]: a 10 MB body costs 10 MB, not 10 MB per
//! connection) and sent as the same bytes every time. Nothing reaches the wire unchecked: the
//! URL's path and query are percent-encoded where they hold bytes a request line may not, and
//! refused when they hold control characters (a CR LF in a URL would start a header or a second
//! request); header names must be tokens and values free of control characters; a
//! `Content-Length` given by hand must match the body, `Transfer-Encoding` is refused (the body
//! is sent as is), and a `Host` given by hand replaces the default one.
//!
//! The response parser reads the head with `httparse`, then counts the body without keeping
//! it: by Content-Length, chunk by chunk, or until the server closes. Interim 1xx responses are
//! skipped. Faults map to error kinds of their own.

use std::time::Duration;

use super::kinds::{PROTOCOL, TOO_LARGE};
use super::set::Picker;
use super::template::{Context, Template, Vars, push_decimal};
use super::tls::{TlsClient, TlsSettings};
use super::{Exchange, Parse, resolve};
use crate::targets::ErrorKind;

/// The largest response head accepted, in bytes, however many header lines it holds.
pub const MAX_HEAD: usize = 64 * 1024;
/// Header lines parsed without allocating; a head with more is parsed again with room for as
/// many as [`MAX_HEAD`] bytes can hold (a rare, slow path).
const FAST_HEADERS: usize = 64;

/// Error kinds of HTTP faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The status line is not HTTP/1.x.
    pub const MALFORMED_STATUS: ErrorKind = ErrorKind::new("malformed_status");
    /// A header line is not a header.
    pub const MALFORMED_HEADERS: ErrorKind = ErrorKind::new("malformed_headers");
    /// The head is larger than 64 KiB.
    pub const HEADERS_TOO_LARGE: ErrorKind = ErrorKind::new("headers_too_large");
    /// A chunk-size line is not hexadecimal, or a chunk is not followed by CRLF.
    pub const MALFORMED_BODY: ErrorKind = ErrorKind::new("malformed_body");
    /// The response's status was expected but its body failed a check (`--expect-body-...`,
    /// `--expect-json`).
    pub const CHECK: ErrorKind = ErrorKind::new("check");
}

/// The largest body `--expect-json` reads; a longer one fails the check.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// What a response's body must be for the response to count as a success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BodyChecks {
    /// `--expect-body-contains`: these bytes somewhere in the body.
    pub contains: Option<Vec<u8>>,
    /// `--expect-body-size`: exactly this many bytes.
    pub size: Option<u64>,
    /// `--expect-json /pointer=value` (repeatable): the body is JSON with these values.
    pub json: Vec<JsonCheck>,
}

/// One `--expect-json POINTER=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonCheck {
    /// An RFC 6901 JSON pointer, e.g. `/status` or `/items/0/id`.
    pub pointer: String,
    /// The value: a string's text, or any other value's JSON (`true`, `3`, `null`).
    pub expected: String,
}

impl JsonCheck {
    /// Parses `/pointer=value`.
    pub fn parse(text: &str) -> Result<JsonCheck, String> {
        match text.split_once('=') {
            Some((pointer, _)) if pointer.starts_with('/') && bad_escape(pointer) => Err(format!(
                "`{text}`: in a JSON pointer `~` is written ~0 and `/` inside a key ~1 (RFC \
                 6901); `~` followed by anything else points nowhere"
            )),
            Some((pointer, expected)) if pointer.starts_with('/') => Ok(JsonCheck {
                pointer: pointer.to_string(),
                expected: expected.to_string(),
            }),
            _ => Err(format!(
                "`{text}` is not POINTER=VALUE with a JSON pointer starting with / (e.g. \
                 /status=ok, /items/0/id=7)"
            )),
        }
    }

    fn holds(&self, body: &serde_json::Value) -> bool {
        match body.pointer(&self.pointer) {
            Some(serde_json::Value::String(s)) => *s == self.expected,
            Some(other) => {
                serde_json::from_str::<serde_json::Value>(&self.expected).is_ok_and(|v| v == *other)
            }
            None => false,
        }
    }
}

/// Whether a JSON pointer holds a `~` not followed by `0` or `1`.
fn bad_escape(pointer: &str) -> bool {
    let b = pointer.as_bytes();
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')))
}

impl BodyChecks {
    /// Whether any check is asked for.
    pub fn any(&self) -> bool {
        self.contains.is_some() || self.size.is_some() || !self.json.is_empty()
    }
}

/// A response's progress through the checks, kept across its body's pieces.
#[derive(Default)]
struct CheckState {
    seen: u64,
    found: bool,
    /// The end of the body so far that could still begin the searched bytes.
    window: Vec<u8>,
    /// The body, for the JSON checks (up to [`MAX_JSON_BODY`]).
    kept: Vec<u8>,
    too_large: bool,
}

impl CheckState {
    fn feed(&mut self, checks: &BodyChecks, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if let Some(needle) = checks.contains.as_deref() {
            if !self.found && !needle.is_empty() {
                self.window.extend_from_slice(bytes);
                if self.window.windows(needle.len()).any(|w| w == needle) {
                    self.found = true;
                    self.window.clear();
                } else {
                    let keep = (needle.len() - 1).min(self.window.len());
                    self.window.drain(..self.window.len() - keep);
                }
            }
        }
        if !checks.json.is_empty() && !self.too_large {
            if self.kept.len() + bytes.len() > MAX_JSON_BODY {
                self.too_large = true;
            } else {
                self.kept.extend_from_slice(bytes);
            }
        }
    }

    /// Whether the whole body passed; forgets it for the next response.
    fn passed(&mut self, checks: &BodyChecks) -> bool {
        let contains = checks
            .contains
            .as_ref()
            .is_none_or(|n| self.found || n.is_empty());
        let size = checks.size.is_none_or(|n| n == self.seen);
        let json = checks.json.is_empty()
            || (!self.too_large
                && serde_json::from_slice::<serde_json::Value>(&self.kept)
                    .is_ok_and(|body| checks.json.iter().all(|c| c.holds(&body))));
        self.clear();
        contains && size && json
    }

    fn clear(&mut self) {
        self.seen = 0;
        self.found = false;
        self.too_large = false;
        self.window.clear();
        self.kept.clear();
    }
}

/// An `http://` or `https://` URL, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: the connection speaks TLS.
    pub tls: bool,
    /// Host as written (for the Host header).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses `http[s]://host[:port][/path][?query][#fragment]` (IPv6 hosts in brackets).
    /// Control characters anywhere are refused, and so are credentials (`user@`) and
    /// hosts that are not names or addresses. The path and query are percent-encoded where
    /// they hold bytes a request line may not (spaces, quotes, non-ASCII); the fragment is
    /// dropped, as browsers do.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        // Checked here, before percent-encoding turns a lone `{{` into text sent as is.
        if let Some(open) = text.find("{{").filter(|&i| !text[i..].contains("}}")) {
            return Err(format!(
                "`{}` opens {{{{ without closing }}}}: a template expression is {}",
                &text[open..],
                super::template::EXPRESSIONS
            ));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(format!(
                "the URL holds the control character {c:?}; control characters (CR, LF, tab, \
                 ...) cannot be sent in a request line"
            ));
        }
        let (tls, rest) = match text.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            _ => return Err("the URL must start with http:// or https://".to_string()),
        };
        let default_port = if tls { 443 } else { 80 };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err("credentials in the URL (user@host) are not sent; give an \
                        Authorization header instead"
                .into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("an IPv6 host needs a closing ]")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("`{p}` is not a port"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("`{after}` after the IPv6 host")),
            };
            (format!("[{host}]"), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("`{p}` is not a port"))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err("the URL has no host".into());
        }
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let v6_char = |c: char| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '[' | ']');
        let valid = if host.starts_with('[') {
            host.chars().all(v6_char)
        } else {
            host.chars().all(name_char)
        };
        if !valid {
            return Err(format!(
                "`{host}` is not a host: a name (letters, digits, . - _) or an address"
            ));
        }
        Ok(HttpUrl {
            tls,
            host,
            port,
            path: percent_encode(&path),
        })
    }

    /// The value of the Host header: the host, with the port unless it is the scheme's
    /// (80, or 443 for https).
    pub fn host_header(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// A request set's `url`: a path (and query) on this URL's server, or a full URL that must
    /// name the same scheme, host and port.
    pub fn resolve(&self, url: &str) -> Result<HttpUrl, String> {
        let full = match url.starts_with('/') {
            true => format!("{}://{}{url}", self.scheme(), self.authority()),
            false => url.to_string(),
        };
        let parsed = HttpUrl::parse(&full)?;
        if (parsed.tls, &parsed.host, parsed.port) != (self.tls, &self.host, self.port) {
            return Err(format!(
                "`{url}` is on another server than the target {}://{}: a set's requests share \
                 the target's connections",
                self.scheme(),
                self.authority()
            ));
        }
        Ok(parsed)
    }

    /// host:port, for resolving.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Whether `value` holds `word`, ignoring ASCII case (without allocating: this runs per
/// response).
fn contains_word(value: &str, word: &str) -> bool {
    value
        .as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Whether `b` may appear in a header name or method (RFC 9110 `tchar`).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `path` with every byte a request target may not hold raw written as `%XX`: spaces, quotes,
/// `<>\\^`{|}`, non-ASCII bytes, and `%` not followed by two hex digits. Bytes already
/// escaped are kept as they are, and so are template expressions (`{{seq}}`,
/// [`template`](super::template)), which are rendered per request.
pub fn percent_encode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut skip_to = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i < skip_to {
            continue;
        }
        if bytes[i..].starts_with(b"{{") {
            if let Some(end) = bytes[i..].windows(2).position(|w| w == b"}}") {
                // Both ends are ASCII, so char boundaries.
                out.push_str(&path[i..i + end + 2]);
                skip_to = i + end + 2;
                continue;
            }
        }
        let escaped = b == b'%'
            && bytes.len() > i + 2
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        let raw = b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b) && (b != b'%' || escaped);
        if raw {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    /// What the body of a response with such a status must be.
    pub checks: BodyChecks,
    /// Connections, spread over the workers (0: one per worker).
    pub connections: usize,
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
}

/// The requests of a request set, ready to send, and which one each request sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSet {
    /// Picks a line per request and knows the names.
    pub picker: Picker,
    requests: Vec<Prepared>,
}

/// One line of a request set, rendered once (or a template).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Prepared {
    bytes: Vec<u8>,
    template: Option<HttpTemplate>,
    head_request: bool,
}

/// An HTTP request rendered per request: the head up to its `Content-Length`, and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTemplate {
    head: Template,
    body: Template,
    sends_body: bool,
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
        let client = TlsClient::new(&self.url.host, settings, &[b"http/1.1"])?;
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
            connections: 0,
            connect_timeout: Duration::from_secs(2),
            max_response_bytes: super::DEFAULT_MAX_RESPONSE_BYTES,
            tls: None,
            template: None,
            set: None,
        }
    }

    /// Checks everything that will be sent (see the module doc) and that the host resolves.
    pub fn validate(&self) -> Result<(), String> {
        self.check()?;
        resolve(&self.url.authority()).map(|_| ())
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
        if self.body.len() > super::MAX_BODY {
            return Err(format!(
                "a body of {} bytes; the largest is {} MiB",
                self.body.len(),
                super::MAX_BODY >> 20
            ));
        }
        Ok(())
    }

    /// Makes the spec send a request set's lines (see [`set`](super::set)), each already read
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
            Parse::Failed(super::kinds::CLOSED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> HttpExchange {
        HttpExchange::new(HttpShared::new(&HttpSpec::get(
            HttpUrl::parse("http://127.0.0.1:8080/x").unwrap(),
        )))
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

    fn checked(checks: BodyChecks) -> HttpExchange {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://127.0.0.1:8080/x").unwrap());
        spec.checks = checks;
        HttpExchange::new(HttpShared::new(&spec))
    }

    #[test]
    fn body_checks_see_the_whole_body_across_pieces_and_chunks() {
        let contains = |t: &str| BodyChecks {
            contains: Some(t.as_bytes().to_vec()),
            ..BodyChecks::default()
        };
        let ok = Parse::Done {
            error: None,
            close: false,
        };
        let check = Parse::Done {
            error: Some(kinds::CHECK),
            close: false,
        };
        // The text straddles two reads and, chunked, two chunks.
        let mut e = checked(contains("needle"));
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(feed(&mut e, &[head, b"hay ne", b"edle!"]), Parse::NeedMore);
        let mut e = checked(contains("needle"));
        assert_eq!(feed(&mut e, &[head, b"hay ne", b"edle!!"]), ok);
        let chunked: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4\r\nxnee\r\n",
            b"3\r\ndle\r\n0\r\n\r\n",
        ];
        assert_eq!(feed(&mut checked(contains("needle")), chunked), ok);
        assert_eq!(feed(&mut checked(contains("needles")), chunked), check);
        // A status not expected stays a status error, whatever the body.
        let mut e = checked(contains("x"));
        let r = feed(&mut e, &[b"HTTP/1.1 500 No\r\nContent-Length: 1\r\n\r\nx"]);
        assert_eq!(
            r,
            Parse::Done {
                error: Some(ErrorKind::new("status_5xx")),
                close: false
            }
        );
        // Sizes and JSON.
        let sized = |n| BodyChecks {
            size: Some(n),
            ..BodyChecks::default()
        };
        let body: &[&[u8]] =
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{\"a\":{\"b\":[1,\"x\"]}}"];
        assert_eq!(feed(&mut checked(sized(19)), body), ok);
        assert_eq!(feed(&mut checked(sized(18)), body), check);
        let json = |t: &str| BodyChecks {
            json: vec![JsonCheck::parse(t).unwrap()],
            ..BodyChecks::default()
        };
        assert_eq!(feed(&mut checked(json("/a/b/1=x")), body), ok);
        assert_eq!(feed(&mut checked(json("/a/b/0=1")), body), ok);
        assert_eq!(feed(&mut checked(json("/a/b/0=2")), body), check);
        assert_eq!(feed(&mut checked(json("/a/c=1")), body), check);
        assert!(JsonCheck::parse("a=1").is_err());
        // The state starts afresh: a passing response after a failing one passes.
        let mut e = checked(sized(1));
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab".to_vec();
        assert_eq!(e.parse(&mut buf), check);
        buf.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
        assert_eq!(e.parse(&mut buf), ok);
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
        let u = HttpUrl::parse("https://example.com/a").unwrap();
        assert_eq!(
            (u.tls, u.port, u.host_header().as_str()),
            (true, 443, "example.com")
        );
        assert_eq!(
            HttpUrl::parse("https://h:80/").unwrap().host_header(),
            "h:80"
        );
        assert!(HttpUrl::parse("ftp://x/").is_err());
        assert!(HttpUrl::parse("http://x:port/").is_err());
        assert!(HttpUrl::parse("http:///").is_err());
    }

    #[test]
    fn urls_never_carry_raw_bytes_to_the_request_line() {
        // Issue 11: this URL put a header and a second request on the wire.
        let smuggling = "http://127.0.0.1:18083/a\r\nX-Injected: 1\r\n\r\nGET /smuggled";
        assert!(
            HttpUrl::parse(smuggling)
                .unwrap_err()
                .contains("control character")
        );
        assert!(HttpUrl::parse("http://h/\u{7f}").is_err());
        let u = HttpUrl::parse("http://h/a b/\u{e9}?x=<1>&y=%zz&z=%2F#top").unwrap();
        assert_eq!(u.path, "/a%20b/%C3%A9?x=%3C1%3E&y=%25zz&z=%2F");
        assert_eq!(HttpUrl::parse("http://h?q=1").unwrap().path, "/?q=1");
        assert!(HttpUrl::parse("http://u@h/").is_err());
        assert!(HttpUrl::parse("http://h%0d/").is_err());
        assert!(HttpUrl::parse("http://a b/").is_err());
    }

    #[test]
    fn headers_and_framing_are_checked() {
        let mut spec = HttpSpec::get(HttpUrl::parse("http://127.0.0.1:81/p").unwrap());
        for (name, value) in [
            ("X-A", "1\r\nX-B: 2"),
            ("X-A", "a\u{0}b"),
            ("X A", "1"),
            ("X:A", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"),
        ] {
            spec.headers = vec![(name.into(), value.into())];
            assert!(spec.validate().is_err(), "{name}: {value:?}");
        }
        spec.headers = vec![("Content-Length".into(), "0".into())];
        spec.validate().unwrap();
        spec.headers = vec![
            ("Host".into(), "other:1".into()),
            ("X-T".into(), "a\tb".into()),
        ];
        spec.validate().unwrap();
        let text = String::from_utf8(spec.request_bytes()).unwrap();
        assert_eq!(text.matches("Host:").count(), 1, "{text}");
        assert!(text.contains("Host: other:1\r\n"), "{text}");
    }

    #[test]
    fn a_head_is_limited_by_bytes_not_by_lines() {
        // Issue 11: more than 64 header lines (about 11 KB) was `headers_too_large`.
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..300 {
            head.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let mut e = exchange();
        assert_eq!(
            feed(&mut e, &[&head]),
            Parse::Done {
                error: None,
                close: false
            }
        );
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
