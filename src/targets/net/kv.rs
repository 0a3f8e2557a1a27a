//! Key-value servers: Redis (RESP) and memcached (the text protocol), on the same pool.
//!
//! A command is written as words, `SET key:{{seq}} {{rand_hex 16}}`, each word a
//! [`template`](super::template) (double quotes keep spaces in a word: `SET k "a b"`). For
//! Redis the words go out as a RESP array of bulk strings, so a value may hold any byte; the
//! reply is parsed whole, whatever its type (simple string, error, integer, bulk string, array,
//! nested, and RESP3's null, boolean, double, big number, verbatim string, map, set, push and
//! attribute), and a top-level error (`-ERR ...`, `!...`) is an error of kind `server`. For
//! memcached a command is sent as a line, except that the storage commands (`set`, `add`,
//! `replace`, `append`, `prepend`) take their value as the last word and are sent as `set KEY
//! 0 0 LENGTH` with the value on the next line; `cas` likewise with its unique last. A
//! response ends at its line, or for `get`/`gets`/`gat`/`gats` at `END` after every `VALUE`
//! block (whose data is skipped by its length). `ERROR`, `CLIENT_ERROR` and `SERVER_ERROR` are
//! errors of kind `server`; a miss (`END` alone, `NOT_FOUND`, `NOT_STORED`) is a success, as it
//! is a correct answer.
//!
//! A command without templates is rendered once for every connection; one with templates is
//! rendered per request into the connection's own buffers, which stop growing at the longest
//! rendering.

use std::time::Duration;

use super::set::{Line, Picker};
use super::template::{Context, Template, Vars, push_decimal};
use super::{Exchange, Parse, resolve};
use crate::targets::ErrorKind;

/// Error kinds of key-value faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The server answered with an error (`-ERR ...`, `SERVER_ERROR ...`, `ERROR`).
    pub const SERVER: ErrorKind = ErrorKind::new("server");
    /// The reply is not the protocol.
    pub const MALFORMED: ErrorKind = ErrorKind::new("malformed_reply");
}

/// The longest reply line (memcached) or RESP header accepted.
const MAX_LINE: usize = 64 * 1024;
/// The deepest RESP nesting accepted.
const MAX_DEPTH: usize = 64;

/// Which protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Redis, RESP2/RESP3.
    Redis,
    /// memcached, the text protocol.
    Memcached,
}

impl Protocol {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Redis => "redis",
            Protocol::Memcached => "memcached",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Protocol::Redis => 6379,
            Protocol::Memcached => 11211,
        }
    }

    fn default_command(self) -> &'static str {
        match self {
            Protocol::Redis => "PING",
            Protocol::Memcached => "version",
        }
    }
}

/// A Redis or memcached target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvSpec {
    /// The protocol.
    pub protocol: Protocol,
    /// host:port.
    pub address: String,
    /// The command as written.
    pub command: String,
    /// Connections, spread over the workers (0: as the rate needs).
    pub connections: usize,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// The commands: `command` alone, or a request set's lines.
    commands: Vec<KvCommand>,
    /// A request set: which command each request sends, and the names.
    pub picker: Option<Picker>,
}

/// One command, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KvCommand {
    words: Vec<Template>,
    /// memcached: where a storage command's value is among the words.
    value_at: Option<usize>,
    /// memcached: the reply is VALUE blocks ending in END.
    multi: bool,
}

impl KvCommand {
    fn parse(protocol: Protocol, command: &str) -> Result<KvCommand, String> {
        let words = split_words(command)?
            .iter()
            .map(|w| Template::parse(w, Context::Body))
            .collect::<Result<Vec<_>, _>>()?;
        if words.is_empty() {
            return Err("the command is empty".into());
        }
        let mut parsed = KvCommand {
            words,
            value_at: None,
            multi: false,
        };
        if protocol == Protocol::Memcached {
            let (verb, value_at) = parsed.memcached_shape(command)?;
            parsed.value_at = value_at;
            parsed.multi = matches!(verb.as_str(), "get" | "gets" | "gat" | "gats");
        }
        Ok(parsed)
    }

    fn is_static(&self) -> bool {
        self.words.iter().all(Template::is_static)
    }
}

impl KvSpec {
    /// Parses `redis://HOST[:PORT]` or `memcached://HOST[:PORT]` and the command (`None`:
    /// `PING` or `version`), checking both and that the host resolves.
    pub fn parse(url: &str, command: Option<&str>) -> Result<KvSpec, String> {
        let (protocol, rest) = match url.split_once("://") {
            Some(("redis", rest)) => (Protocol::Redis, rest),
            Some(("memcached", rest)) => (Protocol::Memcached, rest),
            _ => {
                return Err(format!(
                    "`{url}` is not redis://HOST[:PORT] or memcached://..."
                ));
            }
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '@', '?']) {
            return Err(format!(
                "`{url}`: give only HOST[:PORT] (no user, database or path)"
            ));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, _)) => {
                !host.ends_with(':') && (!host.starts_with('[') || host.ends_with(']'))
            }
            None => false,
        };
        let address = match has_port {
            true => authority.to_string(),
            false => format!("{authority}:{}", protocol.default_port()),
        };
        resolve(&address)?;
        let command = command.unwrap_or(protocol.default_command()).to_string();
        Ok(KvSpec {
            protocol,
            address,
            commands: vec![KvCommand::parse(protocol, &command)?],
            command,
            connections: 0,
            connect_timeout: Duration::from_secs(2),
            picker: None,
        })
    }

    /// Makes the spec send the lines of a request set (see [`set`](super::set)), each with its
    /// own `command`.
    pub fn with_requests(mut self, lines: &[Line], picker: Picker) -> Result<KvSpec, String> {
        self.commands = lines
            .iter()
            .map(|line| {
                let at = |e: String| format!("line {}: {e}", line.number);
                if let Some(k) = line.fields.keys().find(|k| *k != "command") {
                    return Err(at(format!(
                        "unknown key `{k}`; a {} request takes name, weight, command",
                        self.protocol.scheme()
                    )));
                }
                match line.fields.get("command") {
                    Some(serde_json::Value::String(c)) => {
                        KvCommand::parse(self.protocol, c).map_err(at)
                    }
                    _ => Err(at("`command` (a string) is missing".into())),
                }
            })
            .collect::<Result<_, _>>()?;
        self.command = format!("(a set of {} commands)", lines.len());
        self.picker = Some(picker);
        Ok(self)
    }
}

impl KvCommand {
    /// The memcached command's verb and whether it carries a value (and where).
    fn memcached_shape(&self, command: &str) -> Result<(String, Option<usize>), String> {
        if !self.words[0].is_static() {
            return Err(format!(
                "memcached `{command}`: the verb cannot be a template"
            ));
        }
        let verb = String::from_utf8_lossy(&self.words[0].text()).to_ascii_lowercase();
        let (needs, value_at) = match verb.as_str() {
            "set" | "add" | "replace" | "append" | "prepend" => (3, Some(2)),
            "cas" => (4, Some(2)),
            _ => (1, None),
        };
        if self.words.len() < needs || (value_at.is_some() && self.words.len() != needs) {
            let form = match verb.as_str() {
                "cas" => "cas KEY VALUE UNIQUE",
                _ => "VERB KEY VALUE (e.g. set key:{{seq}} {{rand_hex 16}})",
            };
            return Err(format!("memcached `{command}`: {verb} is written {form}"));
        }
        Ok((verb, value_at))
    }
}

impl KvSpec {
    /// Builds an exchange for one connection.
    pub fn exchange(self: &std::sync::Arc<KvSpec>) -> KvExchange {
        let mut e = KvExchange {
            spec: self.clone(),
            templated: self.picker.is_some() || self.commands.iter().any(|c| !c.is_static()),
            current: 0,
            name: None,
            request: Vec::new(),
            word: Vec::new(),
            depth_stack: Vec::with_capacity(MAX_DEPTH),
        };
        e.render(&Vars::default());
        e
    }
}

/// Splits a command into words at spaces; double quotes, and a template expression's
/// braces, keep spaces in a word.
fn split_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started, mut braces) = (false, false, false);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        if (c == '{' || c == '}') && chars.peek() == Some(&c) {
            braces = c == '{';
            chars.next();
            word.push(c);
            word.push(c);
            started = true;
            continue;
        }
        match c {
            c if braces => word.push(c),
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err(format!("`{command}` opens a \" it does not close"));
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// One key-value exchange at a time on a connection; see the module doc.
pub struct KvExchange {
    spec: std::sync::Arc<KvSpec>,
    /// Rendered per request (templates, or a set).
    templated: bool,
    /// The command the current request sends, and its name slot.
    current: usize,
    name: Option<u16>,
    request: Vec<u8>,
    /// One word's rendering.
    word: Vec<u8>,
    /// RESP: elements still to come at each open aggregate.
    depth_stack: Vec<u64>,
}

impl KvExchange {
    fn render(&mut self, vars: &Vars) {
        if let Some(picker) = &self.spec.picker {
            self.current = picker.pick(vars.seq, vars.seed);
            self.name = picker.slot(self.current);
        }
        self.request.clear();
        let command = &self.spec.commands[self.current];
        match self.spec.protocol {
            Protocol::Redis => {
                self.request.push(b'*');
                push_decimal(&mut self.request, command.words.len() as i128);
                self.request.extend_from_slice(b"\r\n");
                for w in &command.words {
                    self.word.clear();
                    w.render(&mut self.word, vars);
                    self.request.push(b'$');
                    push_decimal(&mut self.request, self.word.len() as i128);
                    self.request.extend_from_slice(b"\r\n");
                    self.request.extend_from_slice(&self.word);
                    self.request.extend_from_slice(b"\r\n");
                }
            }
            Protocol::Memcached => self.render_memcached(vars),
        }
    }

    fn render_memcached(&mut self, vars: &Vars) {
        let command = &self.spec.commands[self.current];
        let words = &command.words;
        match command.value_at {
            None => {
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        self.request.push(b' ');
                    }
                    w.render(&mut self.request, vars);
                }
            }
            Some(at) => {
                self.word.clear();
                words[at].render(&mut self.word, vars);
                for w in &words[..at] {
                    w.render(&mut self.request, vars);
                    self.request.push(b' ');
                }
                self.request.extend_from_slice(b"0 0 ");
                push_decimal(&mut self.request, self.word.len() as i128);
                for w in &words[at + 1..] {
                    self.request.push(b' ');
                    w.render(&mut self.request, vars);
                }
                self.request.extend_from_slice(b"\r\n");
                self.request.extend_from_slice(&self.word);
            }
        }
        self.request.extend_from_slice(b"\r\n");
    }

    fn parse_memcached(&mut self, buf: &mut Vec<u8>) -> Parse {
        loop {
            let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                return if buf.len() > MAX_LINE {
                    Parse::Failed(kinds::MALFORMED)
                } else {
                    Parse::NeedMore
                };
            };
            let line = &buf[..eol];
            let error = line.starts_with(b"ERROR")
                || line.starts_with(b"CLIENT_ERROR")
                || line.starts_with(b"SERVER_ERROR");
            if error || !self.spec.commands[self.current].multi || line == b"END" {
                buf.drain(..eol + 2);
                return Parse::Done {
                    error: error.then_some(kinds::SERVER),
                    close: false,
                };
            }
            // VALUE <key> <flags> <bytes> [<cas>]: the data and its CRLF follow.
            let Some(rest) = line.strip_prefix(b"VALUE ") else {
                return Parse::Failed(kinds::MALFORMED);
            };
            let size = rest
                .split(|&b| b == b' ')
                .nth(2)
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<usize>().ok());
            let Some(size) = size else {
                return Parse::Failed(kinds::MALFORMED);
            };
            let block = eol + 2 + size + 2;
            if buf.len() < block {
                return Parse::NeedMore;
            }
            if &buf[block - 2..block] != b"\r\n" {
                return Parse::Failed(kinds::MALFORMED);
            }
            buf.drain(..block);
        }
    }

    /// Parses one whole RESP reply at the start of `buf`: its length and whether it is an
    /// error, or `None` when more bytes are needed.
    fn resp(&mut self, buf: &[u8]) -> Result<Option<(usize, bool)>, ErrorKind> {
        let mut pos = 0;
        let mut top_error = false;
        self.depth_stack.clear();
        loop {
            let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                return if buf.len() - pos > MAX_LINE {
                    Err(kinds::MALFORMED)
                } else {
                    Ok(None)
                };
            };
            let line = &buf[pos..pos + eol];
            let (&kind, arg) = line.split_first().ok_or(kinds::MALFORMED)?;
            let number = || -> Result<i64, ErrorKind> {
                std::str::from_utf8(arg)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or(kinds::MALFORMED)
            };
            if self.depth_stack.is_empty() {
                top_error = matches!(kind, b'-' | b'!');
            }
            pos += eol + 2;
            let mut children = 0u64;
            match kind {
                b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
                b'$' | b'!' | b'=' => {
                    let n = number()?;
                    if n >= 0 {
                        let end = pos + n as usize + 2;
                        if buf.len() < end {
                            return Ok(None);
                        }
                        if &buf[end - 2..end] != b"\r\n" {
                            return Err(kinds::MALFORMED);
                        }
                        pos = end;
                    }
                }
                b'*' | b'~' | b'>' => children = number()?.max(0) as u64,
                b'%' | b'|' => children = 2 * number()?.max(0) as u64,
                _ => return Err(kinds::MALFORMED),
            }
            if kind == b'|' {
                // An attribute precedes the reply it describes: one more value follows.
                children += 1;
            }
            if children > 0 {
                if self.depth_stack.len() == MAX_DEPTH {
                    return Err(kinds::MALFORMED);
                }
                self.depth_stack.push(children);
                continue;
            }
            // A value ended: close every aggregate it completes.
            loop {
                match self.depth_stack.last_mut() {
                    None => return Ok(Some((pos, top_error))),
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.depth_stack.pop();
                    }
                }
            }
        }
    }
}

impl Exchange for KvExchange {
    fn request(&self) -> &[u8] {
        &self.request
    }

    fn reset(&mut self) {}

    fn name(&self) -> Option<u16> {
        self.name
    }

    fn prepare(&mut self, vars: &Vars) {
        if self.templated {
            self.render(vars);
        }
    }

    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse {
        match self.spec.protocol {
            Protocol::Memcached => self.parse_memcached(buf),
            Protocol::Redis => match self.resp(buf) {
                Ok(None) => Parse::NeedMore,
                Ok(Some((len, error))) => {
                    buf.drain(..len);
                    Parse::Done {
                        error: error.then_some(kinds::SERVER),
                        close: false,
                    }
                }
                Err(kind) => Parse::Failed(kind),
            },
        }
    }

    fn at_close(&mut self) -> Parse {
        Parse::Failed(super::kinds::CLOSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn exchange(url: &str, command: &str) -> KvExchange {
        Arc::new(KvSpec::parse(url, Some(command)).unwrap()).exchange()
    }

    fn feed(e: &mut KvExchange, parts: &[&[u8]]) -> (Parse, usize) {
        let mut buf = Vec::new();
        let mut last = Parse::NeedMore;
        for part in parts {
            buf.extend_from_slice(part);
            last = e.parse(&mut buf);
        }
        (last, buf.len())
    }

    const OK: Parse = Parse::Done {
        error: None,
        close: false,
    };
    const SERVER: Parse = Parse::Done {
        error: Some(kinds::SERVER),
        close: false,
    };

    #[test]
    fn redis_commands_are_resp_arrays_rendered_per_request() {
        let mut e = exchange("redis://127.0.0.1", r#"SET key:{{ seq }} "a b""#);
        e.prepare(&Vars {
            seq: 42,
            seed: 1,
            shard: 0,
        });
        assert_eq!(
            e.request(),
            b"*3\r\n$3\r\nSET\r\n$6\r\nkey:42\r\n$3\r\na b\r\n"
        );
        assert_eq!(e.spec.address, "127.0.0.1:6379");
        let e = exchange("redis://127.0.0.1:7000", "PING");
        assert_eq!(e.request(), b"*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn resp_replies_of_every_type_end_where_they_end() {
        let mut e = exchange("redis://127.0.0.1", "PING");
        for reply in [
            &b"+PONG\r\n"[..],
            b":1000\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n$0\r\n\r\n",
            b"%1\r\n+k\r\n*1\r\n:2\r\n",
            b"_\r\n",
            b"#t\r\n",
            b",3.14\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"|1\r\n+ttl\r\n:3\r\n+v\r\n",
        ] {
            let mut buf = reply.to_vec();
            buf.extend_from_slice(b"+next\r\n");
            assert_eq!(e.parse(&mut buf), OK, "{}", String::from_utf8_lossy(reply));
            assert_eq!(buf, b"+next\r\n", "{}", String::from_utf8_lossy(reply));
            // Byte by byte, the reply is complete only at its last byte.
            let mut e2 = exchange("redis://127.0.0.1", "PING");
            let mut buf = Vec::new();
            for (i, b) in reply.iter().enumerate() {
                buf.push(*b);
                let got = e2.parse(&mut buf);
                let want = if i + 1 == reply.len() {
                    OK
                } else {
                    Parse::NeedMore
                };
                assert_eq!(got, want, "{} at {i}", String::from_utf8_lossy(reply));
            }
        }
        assert_eq!(feed(&mut e, &[b"-ERR unknown command\r\n"]).0, SERVER);
        assert_eq!(feed(&mut e, &[b"!5\r\noops!\r\n"]).0, SERVER);
        // An error inside an array is data, not a failed command (EXEC's replies).
        assert_eq!(feed(&mut e, &[b"*1\r\n-ERR x\r\n"]).0, OK);
        assert_eq!(
            feed(&mut e, &[b"?what\r\n"]).0,
            Parse::Failed(kinds::MALFORMED)
        );
        assert_eq!(
            feed(&mut e, &[b"$3\r\nabcXY"]).0,
            Parse::Failed(kinds::MALFORMED)
        );
    }

    #[test]
    fn memcached_storage_commands_carry_their_value() {
        let mut e = exchange("memcached://127.0.0.1", "set k:{{seq}} {{rand_hex 4}}");
        e.prepare(&Vars {
            seq: 3,
            seed: 9,
            shard: 0,
        });
        let text = String::from_utf8(e.request().to_vec()).unwrap();
        assert!(text.starts_with("set k:3 0 0 4\r\n"), "{text:?}");
        assert!(text.ends_with("\r\n") && text.len() == "set k:3 0 0 4\r\n".len() + 6);
        let e = exchange("memcached://127.0.0.1:11212", "get a b");
        assert_eq!(e.request(), b"get a b\r\n");
        assert!(KvSpec::parse("memcached://127.0.0.1", Some("set k")).is_err());
        assert!(KvSpec::parse("memcached://127.0.0.1", Some("set k v extra")).is_err());
        assert!(KvSpec::parse("redis://127.0.0.1", Some("SET \"k")).is_err());
        assert!(KvSpec::parse("redis://127.0.0.1/0", None).is_err());
    }

    #[test]
    fn memcached_replies_end_at_end_or_their_line() {
        let mut e = exchange("memcached://127.0.0.1", "get a b");
        let (r, left) = feed(
            &mut e,
            &[
                b"VALUE a 0 5\r\nhel",
                b"lo\r\nVALUE b 3 2 99\r\nEN\r\n",
                b"END\r\n",
            ],
        );
        assert_eq!((r, left), (OK, 0));
        assert_eq!(feed(&mut e, &[b"END\r\n"]).0, OK);
        assert_eq!(feed(&mut e, &[b"SERVER_ERROR out of memory\r\n"]).0, SERVER);
        assert_eq!(
            feed(&mut e, &[b"VALUE a 0 2\r\nabcd\r\n"]).0,
            Parse::Failed(kinds::MALFORMED)
        );
        let mut e = exchange("memcached://127.0.0.1", "set k v");
        assert_eq!(feed(&mut e, &[b"STORED\r\n"]).0, OK);
        assert_eq!(
            feed(&mut e, &[b"CLIENT_ERROR bad data chunk\r\n"]).0,
            SERVER
        );
        assert_eq!(feed(&mut e, &[b"ERROR\r\n"]).0, SERVER);
    }
}
