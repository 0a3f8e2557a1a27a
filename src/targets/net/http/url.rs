//! An `http://` or `https://` URL: parsed, resolved, and its path and query made safe for a
//! request line (percent-encoded, control characters refused).

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
    /// The Unix domain socket the connections go to instead of `host:port`
    /// (`http+unix:///run/app.sock:/path`, `unix_socket`, `--unix-socket`); the host still
    /// names the server in the Host header (`localhost` in the `+unix` form).
    pub unix_socket: Option<String>,
}

impl HttpUrl {
    /// Parses `http[s]://host[:port][/path][?query][#fragment]` (IPv6 hosts in brackets).
    /// Control characters anywhere are refused, and so are credentials (`user@`) and
    /// hosts that are not names or addresses. The path and query are percent-encoded where
    /// they hold bytes a request line may not (spaces, quotes, non-ASCII); the fragment is
    /// dropped, as browsers do.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        if let Some((scheme, rest)) = text.split_once("+unix://") {
            // `/run/app.sock:/path?query`: the socket's path up to the first `:/`.
            let (socket, path) = rest
                .find(":/")
                .map_or((rest, "/"), |i| (&rest[..i], &rest[i + 1..]));
            let mut url = HttpUrl::parse(&format!("{scheme}://localhost{path}"))?;
            url.unix_socket = Some(crate::targets::net::peer::unix_path(socket)?);
            return Ok(url);
        }
        // Checked here, before percent-encoding turns a lone `{{` into text sent as is.
        if let Some(open) = text.find("{{").filter(|&i| !text[i..].contains("}}")) {
            return Err(format!(
                "`{}` opens {{{{ without closing }}}}: a template expression is {}",
                &text[open..],
                super::super::template::EXPRESSIONS
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
            unix_socket: None,
        })
    }

    /// Where the connections go: the Unix socket's path, else `host:port`.
    pub fn endpoint(&self) -> String {
        self.unix_socket.clone().unwrap_or_else(|| self.authority())
    }

    /// The URL as written back: `http://host:port/path`; over a Unix socket
    /// `http+unix:///socket:/path` (host `localhost`) or `http://host/path over unix:/socket`.
    pub fn display(&self) -> String {
        let plain = format!("{}://{}{}", self.scheme(), self.host_header(), self.path);
        match &self.unix_socket {
            Some(socket) if self.host_header() == "localhost" => {
                format!("{}+unix://{socket}:{}", self.scheme(), self.path)
            }
            Some(socket) => format!("{plain} over unix:{socket}"),
            None => format!("{}://{}{}", self.scheme(), self.authority(), self.path),
        }
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
        let mut parsed = HttpUrl::parse(&full)?;
        parsed.unix_socket = self.unix_socket.clone();
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
pub(super) fn contains_word(value: &str, word: &str) -> bool {
    value
        .as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Whether `b` may appear in a header name or method (RFC 9110 `tchar`).
pub(super) fn is_token(b: u8) -> bool {
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
