//! Key-value servers: Redis (RESP) and memcached (the text protocol), on the same pool.
//!
//! A command is written as words, `SET key:{{seq}} {{rand_hex 16}}`, each word a
//! [`template`](super::template) (double quotes keep spaces in a word: `SET k "a b"`). For
//! Redis the words go out as a RESP array of bulk strings, so a value may hold any byte. For
//! memcached a command is sent as a line, except that the storage commands (`set`, `add`,
//! `replace`, `append`, `prepend`) take their value as the last word and are sent as `set KEY
//! 0 0 LENGTH` with the value on the next line; `cas` likewise with its unique last.
//!
//! # Nothing unframed reaches a memcached server
//!
//! memcached's text protocol is framed by spaces and line ends, so a key holding `\r\n`
//! would end the command and start another (`get "a\r\nflush_all"` would empty the cache).
//! Every memcached command is checked before the run, word by word, against what its verb
//! takes: the verb is one of [`MEMCACHED_VERBS`]; a key is 1 to 250 bytes with no space and
//! no control byte; a number (an expiry, a delta, a cas unique) is digits. A templated word is
//! checked for every byte its expressions can produce and for its longest rendering (a
//! `{{line FILE}}` key: every line of the file). Only a storage command's value may hold any
//! byte, as it is sent by length. A refused command names the word and the byte, escaped.
//!
//! # Replies, streamed
//!
//! A reply is parsed as it arrives and its data skipped by length, never kept: a connection
//! holds at most a line (64 KiB) of it, whatever the server announces. A reply larger than the
//! target's `max_response_bytes` (announced, or received) is an error of kind
//! `response_too_large` and closes the connection. A reply that breaks the protocol is an
//! error of kind `protocol` and closes the connection too: for Redis a length below -1 (or -1
//! where RESP has no null), an integer that is not a 64-bit integer, a boolean other than `t`
//! or `f`, a double that is not a number, a verbatim string without its `xxx:` format; for
//! memcached any line the command cannot be answered with (`VALUE` for a `set`, a `get`
//! answered `STORED`). A top-level Redis error (`-ERR ...`, `!...`) and memcached's `ERROR`,
//! `CLIENT_ERROR`, `SERVER_ERROR` are errors of kind `server`; a miss (`END` alone,
//! `NOT_FOUND`, `NOT_STORED`, `$-1`) is a success, as it is a correct answer.
//!
//! A command without templates is rendered once for every connection; one with templates is
//! rendered per request into the connection's own buffers, which stop growing at the longest
//! rendering.

use std::time::Duration;

use super::set::{Line, Picker};
use super::template::{Context, Template, Vars, push_decimal};
use super::{DEFAULT_MAX_RESPONSE_BYTES, Exchange, Parse, resolve};
use crate::targets::ErrorKind;

/// Error kinds of key-value faults.
pub mod kinds {
    use crate::targets::ErrorKind;
    /// The server answered with an error (`-ERR ...`, `SERVER_ERROR ...`, `ERROR`).
    pub const SERVER: ErrorKind = ErrorKind::new("server");
}

use super::kinds::{PROTOCOL, TOO_LARGE};

/// The longest reply line (memcached) or RESP header accepted.
const MAX_LINE: usize = 64 * 1024;
/// The deepest RESP nesting accepted.
const MAX_DEPTH: usize = 64;
/// The longest memcached key.
pub const MAX_KEY: usize = 250;

/// The memcached verbs a command may use, and how each is written.
pub const MEMCACHED_VERBS: &str = "get KEY..., gets KEY..., gat EXPTIME KEY..., gats EXPTIME \
    KEY..., set|add|replace|append|prepend KEY VALUE, cas KEY VALUE UNIQUE, delete KEY, \
    incr|decr KEY DELTA, touch KEY EXPTIME, version, stats [items|slabs|settings|sizes|conns], \
    flush_all [DELAY], verbosity LEVEL";

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
    /// Connections, spread over the workers.
    pub connections: super::Connections,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// The largest reply read; a larger one is `response_too_large`.
    pub max_response_bytes: u64,
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
    /// memcached: what the reply may be.
    reply: Reply,
}

/// What a memcached command may be answered with (an error line aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reply {
    /// `VALUE` blocks, then `END` (get, gets, gat, gats).
    Values,
    /// `STAT` lines, then `END`.
    Stats,
    /// One line, one of these words.
    Words(&'static [&'static str]),
    /// One line: a number, or `NOT_FOUND` (incr, decr).
    Number,
    /// One line starting `VERSION `.
    Version,
    /// Redis: any RESP value.
    Resp,
}

/// What a word of a memcached command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Key,
    /// Digits (with a leading `-` when `signed`: an expiry may be negative).
    Number {
        signed: bool,
    },
    /// A storage command's data: sent by length, any byte.
    Value,
    /// An argument from a fixed list (`stats items`).
    Choice(&'static [&'static str]),
}

const STORED: &[&str] = &["STORED", "NOT_STORED", "EXISTS", "NOT_FOUND"];

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
            reply: Reply::Resp,
        };
        if protocol == Protocol::Memcached {
            parsed.memcached(command)?;
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
            Some((unix @ ("redis+unix" | "memcached+unix"), path)) => {
                let protocol = match unix {
                    "redis+unix" => Protocol::Redis,
                    _ => Protocol::Memcached,
                };
                let address = super::peer::unix_path(path)?;
                return KvSpec::over(protocol, address, command);
            }
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
        KvSpec::over(protocol, address, command)
    }

    /// A spec for `command` (the protocol's default without one) to `address`, with the
    /// default settings.
    fn over(protocol: Protocol, address: String, command: Option<&str>) -> Result<KvSpec, String> {
        let command = command.unwrap_or(protocol.default_command()).to_string();
        Ok(KvSpec {
            protocol,
            address,
            commands: vec![KvCommand::parse(protocol, &command)?],
            command,
            connections: super::Connections::Auto,
            connect_timeout: Duration::from_secs(2),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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
    /// Checks a memcached command word by word (see the module doc) and notes where its value
    /// goes and what its reply may be.
    fn memcached(&mut self, command: &str) -> Result<(), String> {
        let shown = command.escape_debug().to_string();
        if !self.words[0].is_static() {
            return Err(format!(
                "memcached `{shown}`: the verb cannot be a template"
            ));
        }
        let verb = String::from_utf8_lossy(&self.words[0].text()).to_ascii_lowercase();
        let refuse = || {
            format!(
                "memcached `{shown}`: `{}` is not a command openpace sends; the commands are \
                 {MEMCACHED_VERBS}",
                verb.escape_debug()
            )
        };
        use Role::{Key, Number, Value};
        const SIGNED: Role = Number { signed: true };
        const UNSIGNED: Role = Number { signed: false };
        const STATS: Role = Role::Choice(&["items", "slabs", "settings", "sizes", "conns"]);
        // The roles of the words after the verb; `rest` repeats for the remaining words.
        let (roles, rest, reply): (&[Role], Option<Role>, Reply) = match verb.as_str() {
            "get" | "gets" => (&[Key], Some(Key), Reply::Values),
            "gat" | "gats" => (&[SIGNED, Key], Some(Key), Reply::Values),
            "set" | "add" | "replace" | "append" | "prepend" => {
                (&[Key, Value], None, Reply::Words(STORED))
            }
            "cas" => (&[Key, Value, UNSIGNED], None, Reply::Words(STORED)),
            "delete" => (&[Key], None, Reply::Words(&["DELETED", "NOT_FOUND"])),
            "incr" | "decr" => (&[Key, UNSIGNED], None, Reply::Number),
            "touch" => (
                &[Key, SIGNED],
                None,
                Reply::Words(&["TOUCHED", "NOT_FOUND"]),
            ),
            "version" => (&[], None, Reply::Version),
            "stats" if self.words.len() == 1 => (&[], None, Reply::Stats),
            "stats" => (&[STATS], None, Reply::Stats),
            "flush_all" if self.words.len() == 1 => (&[], None, Reply::Words(&["OK"])),
            "flush_all" => (&[UNSIGNED], None, Reply::Words(&["OK"])),
            "verbosity" => (&[UNSIGNED], None, Reply::Words(&["OK"])),
            _ => return Err(refuse()),
        };
        let args = &self.words[1..];
        let fits = match rest {
            Some(_) => args.len() >= roles.len(),
            None => args.len() == roles.len(),
        };
        if !fits {
            let form = MEMCACHED_VERBS
                .split(", ")
                .find(|f| f.split([' ', '|']).any(|w| w == verb))
                .unwrap_or(MEMCACHED_VERBS);
            return Err(format!(
                "memcached `{shown}`: {verb} is written {form} (e.g. set key:{{{{seq}}}} \
                 {{{{rand_hex 16}}}}); openpace adds a storage command's flags, expiry and \
                 length itself, and sends no `noreply` (every request needs its reply)"
            ));
        }
        for (i, word) in args.iter().enumerate() {
            let role = roles.get(i).copied().or(rest).unwrap_or(Value);
            check_word(word, role)
                .map_err(|why| format!("memcached `{shown}`: word {} {why}", i + 2))?;
            if role == Value {
                self.value_at = Some(i + 1);
            }
        }
        self.reply = reply;
        Ok(())
    }
}

/// A byte as a message shows it: `'\r' (0x0d)`.
fn byte(b: u8) -> String {
    format!("'{}' (0x{b:02x})", (b as char).escape_default())
}

/// Checks one word of a memcached command against its role.
fn check_word(word: &Template, role: Role) -> Result<(), String> {
    let graphic = |b: u8| b > b' ' && b != 0x7f;
    match role {
        Role::Value => Ok(()),
        Role::Key => {
            if let Some(b) = word.find_refused(graphic) {
                return Err(format!(
                    "is a key and can hold the byte {}; a memcached key holds no space and no \
                     control byte (CR and LF would end the command)",
                    byte(b)
                ));
            }
            let longest = word.max_len();
            if longest > MAX_KEY || longest == 0 {
                return Err(format!(
                    "is a key of up to {longest} bytes; memcached keys are 1 to {MAX_KEY} bytes"
                ));
            }
            Ok(())
        }
        Role::Number { signed } => {
            let digit = |b: u8| b.is_ascii_digit() || (signed && b == b'-');
            match word.find_refused(digit) {
                Some(b) => Err(format!(
                    "is a number and can hold the byte {}; it takes digits{}",
                    byte(b),
                    if signed { " (and a leading -)" } else { "" }
                )),
                None if word.max_len() == 0 || word.max_len() > 20 => {
                    Err("is a number of 1 to 20 digits".into())
                }
                None => Ok(()),
            }
        }
        Role::Choice(choices) => {
            let text = word.text();
            if word.is_static() && choices.iter().any(|c| c.as_bytes() == text) {
                Ok(())
            } else {
                Err(format!("is one of {}", choices.join(", ")))
            }
        }
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
            reply: ReplyState::default(),
            stack: Vec::with_capacity(MAX_DEPTH),
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
    /// Where the parser is in the current reply.
    reply: ReplyState,
    /// RESP: elements still to come at each open aggregate.
    stack: Vec<u64>,
}

/// How far the current reply has been parsed: it is read as it comes and its data skipped,
/// so this is all that is kept of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ReplyState {
    /// Bytes of the reply consumed so far.
    seen: u64,
    /// Data bytes still to skip before the CRLF that ends them (a bulk string, a VALUE
    /// block).
    data_left: u64,
    /// The CRLF after the data is still to come.
    crlf_due: bool,
    /// A verbatim string's format (`txt:`) is still to be checked: the offset of its `:`
    /// from the data still to skip.
    colon_at: Option<u64>,
    /// Redis: the first value has begun, and whether it is an error.
    started: bool,
    top_error: bool,
}

/// What one step of a parse found.
enum Step {
    /// The reply is complete.
    Done(Option<ErrorKind>),
    /// Go on with the next line.
    Next,
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

    /// Parses what `buf` holds of the reply, streaming: consumed bytes are removed.
    fn parse_reply(&mut self, buf: &mut Vec<u8>) -> Parse {
        let mut pos = 0;
        let outcome = loop {
            match self.skip_data(buf, &mut pos) {
                Ok(Some(true)) if self.spec.protocol == Protocol::Redis => {
                    // A bulk value just ended.
                    if let Some(done) = self.close_aggregates() {
                        break done;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break Parse::NeedMore,
                Err(kind) => break Parse::Failed(kind),
            }
            let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                break if buf.len() - pos > MAX_LINE {
                    Parse::Failed(PROTOCOL)
                } else {
                    Parse::NeedMore
                };
            };
            let line = pos..pos + eol;
            pos += eol + 2;
            let step = match self.spec.protocol {
                Protocol::Redis => self.resp_line(&buf[line]),
                Protocol::Memcached => self.memcached_line(&buf[line]),
            };
            match step {
                Ok(Step::Next) => {}
                Ok(Step::Done(error)) => {
                    break Parse::Done {
                        error,
                        close: false,
                    };
                }
                Err(kind) => break Parse::Failed(kind),
            }
        };
        self.reply.seen += pos as u64;
        buf.drain(..pos);
        if matches!(outcome, Parse::Done { .. }) {
            self.clear();
        } else if outcome == Parse::NeedMore && self.reply.seen > self.spec.max_response_bytes {
            return Parse::Failed(TOO_LARGE);
        }
        outcome
    }

    /// Skips what is left of a value's data and its CRLF: `Some(true)` when a value's data
    /// ended here, `Some(false)` when none was pending, `None` when `buf` ran out first.
    fn skip_data(&mut self, buf: &[u8], pos: &mut usize) -> Result<Option<bool>, ErrorKind> {
        let r = &mut self.reply;
        if !r.crlf_due {
            return Ok(Some(false));
        }
        if r.data_left > 0 {
            let take = (r.data_left).min((buf.len() - *pos) as u64);
            if let Some(at) = r.colon_at {
                if at < take {
                    if buf[*pos + at as usize] != b':' {
                        return Err(PROTOCOL);
                    }
                    r.colon_at = None;
                } else {
                    r.colon_at = Some(at - take);
                }
            }
            *pos += take as usize;
            r.data_left -= take;
            if r.data_left > 0 {
                return Ok(None);
            }
        }
        if buf.len() - *pos < 2 {
            return Ok(None);
        }
        if &buf[*pos..*pos + 2] != b"\r\n" {
            return Err(PROTOCOL);
        }
        *pos += 2;
        r.crlf_due = false;
        Ok(Some(true))
    }

    /// Starts skipping `n` bytes of data (and their CRLF), unless the reply would then be
    /// larger than allowed.
    fn expect_data(&mut self, n: u64, consumed: u64) -> Result<(), ErrorKind> {
        let budget = self
            .spec
            .max_response_bytes
            .saturating_sub(self.reply.seen + consumed);
        if n > budget {
            return Err(TOO_LARGE);
        }
        self.reply.data_left = n;
        self.reply.crlf_due = true;
        Ok(())
    }

    /// One line of a memcached reply.
    fn memcached_line(&mut self, line: &[u8]) -> Result<Step, ErrorKind> {
        if line == b"ERROR"
            || line.starts_with(b"CLIENT_ERROR ")
            || line.starts_with(b"SERVER_ERROR ")
        {
            return Ok(Step::Done(Some(kinds::SERVER)));
        }
        let ok = Ok(Step::Done(None));
        match self.spec.commands[self.current].reply {
            Reply::Values | Reply::Stats if line == b"END" => ok,
            Reply::Values => {
                // VALUE <key> <flags> <bytes> [<cas>]: the data and its CRLF follow.
                let mut fields = line.split(|&b| b == b' ');
                let shape = fields.next() == Some(b"VALUE")
                    && fields
                        .next()
                        .is_some_and(|k| !k.is_empty() && k.len() <= MAX_KEY)
                    && fields.next().and_then(number::<u32>).is_some();
                let size = fields.next().and_then(number::<u64>);
                let cas = fields.next().is_none_or(|c| number::<u64>(c).is_some());
                match size {
                    Some(size) if shape && cas && fields.next().is_none() => {
                        // The line's own bytes count too: they were consumed.
                        self.expect_data(size, line.len() as u64 + 2)?;
                        Ok(Step::Next)
                    }
                    _ => Err(PROTOCOL),
                }
            }
            Reply::Stats if line.starts_with(b"STAT ") => Ok(Step::Next),
            Reply::Words(words) if words.iter().any(|w| w.as_bytes() == line) => ok,
            Reply::Number if line == b"NOT_FOUND" || number::<u64>(line).is_some() => ok,
            Reply::Version if line.starts_with(b"VERSION ") => ok,
            _ => Err(PROTOCOL),
        }
    }

    /// One line of a RESP reply: a value's header (and, for a simple value, the value).
    fn resp_line(&mut self, line: &[u8]) -> Result<Step, ErrorKind> {
        let (&kind, arg) = line.split_first().ok_or(PROTOCOL)?;
        if !self.reply.started {
            self.reply.started = true;
            self.reply.top_error = matches!(kind, b'-' | b'!');
        }
        let length = || number::<i64>(arg).ok_or(PROTOCOL);
        let consumed = line.len() as u64 + 2;
        let mut children = 0u64;
        match kind {
            b'+' | b'-' => {}
            b':' => {
                length()?;
            }
            b'_' if arg.is_empty() => {}
            b'#' if arg == b"t" || arg == b"f" => {}
            b',' if double(arg) => {}
            b'(' if big_number(arg) => {}
            b'$' | b'!' | b'=' => match length()? {
                // RESP2's null bulk string; errors and verbatim strings have no null.
                -1 if kind == b'$' => {}
                n if n < 0 => return Err(PROTOCOL),
                n if kind == b'=' && n < 4 => return Err(PROTOCOL),
                n => {
                    self.expect_data(n as u64, consumed)?;
                    if kind == b'=' {
                        self.reply.colon_at = Some(3);
                    }
                    return Ok(Step::Next);
                }
            },
            b'*' | b'~' | b'>' => match length()? {
                -1 if kind == b'*' => {}
                n if n < 0 => return Err(PROTOCOL),
                n => children = n as u64,
            },
            b'%' | b'|' => match length()? {
                n if n < 0 => return Err(PROTOCOL),
                // An attribute precedes the reply it describes: one more value follows.
                n => children = 2 * n as u64 + u64::from(kind == b'|'),
            },
            _ => return Err(PROTOCOL),
        }
        if children > 0 {
            if self.stack.len() == MAX_DEPTH {
                return Err(PROTOCOL);
            }
            self.stack.push(children);
            return Ok(Step::Next);
        }
        Ok(self.close_aggregates().map_or(Step::Next, |_| {
            Step::Done(self.reply.top_error.then_some(kinds::SERVER))
        }))
    }

    /// A value ended: closes every aggregate it completes. The whole reply when none is left
    /// open.
    fn close_aggregates(&mut self) -> Option<Parse> {
        loop {
            match self.stack.last_mut() {
                None => {
                    return Some(Parse::Done {
                        error: self.reply.top_error.then_some(kinds::SERVER),
                        close: false,
                    });
                }
                Some(left) => {
                    *left -= 1;
                    if *left > 0 {
                        return None;
                    }
                    self.stack.pop();
                }
            }
        }
    }

    /// Forgets the reply parsed so far.
    fn clear(&mut self) {
        self.reply = ReplyState::default();
        self.stack.clear();
    }
}

/// `text` as a number of type `T`, digits only (and a leading `-` where `T` is signed).
fn number<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A RESP3 double: a decimal number, `inf`, `-inf` or `nan`.
fn double(text: &[u8]) -> bool {
    matches!(text, b"inf" | b"-inf" | b"nan")
        || (text
            .iter()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
            && std::str::from_utf8(text).is_ok_and(|t| t.parse::<f64>().is_ok()))
}

/// A RESP3 big number: digits with an optional sign.
fn big_number(text: &[u8]) -> bool {
    let digits = text
        .strip_prefix(b"-")
        .or(text.strip_prefix(b"+"))
        .unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

impl Exchange for KvExchange {
    fn request(&self) -> &[u8] {
        &self.request
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn name(&self) -> Option<u16> {
        self.name
    }

    fn prepare(&mut self, vars: &Vars) {
        if self.templated {
            self.render(vars);
        }
    }

    fn parse(&mut self, buf: &mut Vec<u8>) -> Parse {
        self.parse_reply(buf)
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
        assert_eq!(feed(&mut e, &[b"?what\r\n"]).0, Parse::Failed(PROTOCOL));
        assert_eq!(feed(&mut e, &[b"$3\r\nabcXY"]).0, Parse::Failed(PROTOCOL));
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
        let e = exchange("memcached://127.0.0.1", "cas k v 42");
        assert_eq!(e.request(), b"cas k 0 0 1 42\r\nv\r\n");
        assert!(KvSpec::parse("memcached://127.0.0.1", Some("set k")).is_err());
        assert!(KvSpec::parse("memcached://127.0.0.1", Some("set k v extra")).is_err());
        assert!(KvSpec::parse("redis://127.0.0.1", Some("SET \"k")).is_err());
        assert!(KvSpec::parse("redis://127.0.0.1/0", None).is_err());
    }

    #[test]
    fn nothing_unframed_reaches_a_memcached_server() {
        let refused = |command: &str| {
            KvSpec::parse("memcached://127.0.0.1", Some(command))
                .map(|_| ())
                .unwrap_err()
        };
        // Issue 25's injection: CR LF in a quoted key would send a second command.
        let e = refused("get \"a\r\nflush_all\"");
        assert!(e.contains("'\\r' (0x0d)") && e.contains("key"), "{e}");
        assert!(refused("get \"a b\"").contains("' ' (0x20)"));
        assert!(refused("delete \"k\u{1b}\"").contains("0x1b"));
        assert!(refused(&format!("get {}", "k".repeat(251))).contains("1 to 250"));
        assert!(refused("quit").contains("not a command openpace sends"));
        assert!(refused("set k v noreply").contains("noreply"));
        assert!(refused("incr k 1x").contains("digits"));
        assert!(refused("touch k {{rand_hex 4}}").contains("number"));
        assert!(refused("stats detail").contains("items, slabs"));
        assert!(refused("{{seq}} k").contains("verb cannot be a template"));
        // A templated key is judged by every byte and length it can render.
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.txt");
        std::fs::write(&keys, "alice\nbob smith\n").unwrap();
        let e = refused(&format!("get {{{{line {}}}}}", keys.display()));
        assert!(e.contains("' '"), "{e}");
        assert!(refused("get k{{rand_hex 250}}").contains("up to 251 bytes"));
        // A value is sent by length: any byte.
        let e = exchange("memcached://127.0.0.1", "set k \"a\r\nflush_all\"");
        assert_eq!(e.request(), b"set k 0 0 12\r\na\r\nflush_all\r\n");
        for ok in [
            "get k:{{seq}} k2",
            "gat -1 k",
            "touch k 30",
            "incr n:{{rand_int 1 9}} 5",
            "stats",
            "stats items",
            "flush_all 0",
            "verbosity 1",
            "version",
        ] {
            KvSpec::parse("memcached://127.0.0.1", Some(ok)).unwrap();
        }
    }

    #[test]
    fn replies_are_streamed_and_bounded_by_max_response_bytes() {
        let bounded = |url: &str, command: &str, max: u64| {
            let mut spec = KvSpec::parse(url, Some(command)).unwrap();
            spec.max_response_bytes = max;
            Arc::new(spec).exchange()
        };
        // Announced: refused at once, before any data.
        let mut e = bounded("redis://127.0.0.1", "GET k", 1 << 20);
        assert_eq!(
            feed(&mut e, &[b"$999999999999\r\n"]).0,
            Parse::Failed(TOO_LARGE)
        );
        let mut e = bounded("memcached://127.0.0.1", "get k", 1 << 20);
        assert_eq!(
            feed(&mut e, &[b"VALUE k 0 18446744073709551582\r\n"]).0,
            Parse::Failed(TOO_LARGE)
        );
        // Issue 25's panic: a length past u64 is not a number at all.
        assert_eq!(
            feed(&mut e, &[b"VALUE k 0 99999999999999999999999\r\n"]).0,
            Parse::Failed(PROTOCOL)
        );
        // Streamed: a 1 MiB value never sits whole in the buffer.
        let mut e = bounded("redis://127.0.0.1", "GET k", 4 << 20);
        let mut buf = b"$1048576\r\n".to_vec();
        assert_eq!(e.parse(&mut buf), Parse::NeedMore);
        assert!(buf.is_empty());
        for _ in 0..64 {
            buf.extend_from_slice(&[b'x'; 16384]);
            assert_eq!(e.parse(&mut buf), Parse::NeedMore);
            assert!(buf.is_empty());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(e.parse(&mut buf), OK);
        // Received: an endless stream of small elements fails at the limit.
        let mut e = bounded("redis://127.0.0.1", "LRANGE l 0 -1", 1000);
        let mut buf = b"*1000000\r\n".to_vec();
        let mut last = e.parse(&mut buf);
        for _ in 0..1000 {
            if last != Parse::NeedMore {
                break;
            }
            buf.extend_from_slice(b":1\r\n");
            last = e.parse(&mut buf);
        }
        assert_eq!(last, Parse::Failed(TOO_LARGE));
    }

    #[test]
    fn protocol_violations_are_errors_not_successes() {
        let mut e = exchange("redis://127.0.0.1", "PING");
        for reply in [
            &b"$-5\r\n"[..],
            b"*-7\r\n",
            b"~-1\r\n",
            b"!-1\r\n",
            b",abc\r\n",
            b",1.5.2\r\n",
            b"#x\r\n",
            b"#\r\n",
            b"=2\r\nab\r\n",
            b"=7\r\ntxtXabc\r\n",
            b":12345678901234567890123\r\n",
            b":1x\r\n",
            b"_x\r\n",
            b"(12a\r\n",
            b"\r\n",
        ] {
            e.reset();
            assert_eq!(
                feed(&mut e, &[reply]).0,
                Parse::Failed(PROTOCOL),
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
        for reply in [&b",inf\r\n"[..], b",-1.5e3\r\n", b"(-123\r\n", b"#f\r\n"] {
            e.reset();
            assert_eq!(feed(&mut e, &[reply]).0, OK);
        }
        // memcached: a line the command cannot be answered with.
        let mut e = exchange("memcached://127.0.0.1", "set k v");
        assert_eq!(
            feed(&mut e, &[b"VALUE k 0 1\r\n"]).0,
            Parse::Failed(PROTOCOL)
        );
        let mut e = exchange("memcached://127.0.0.1", "get k");
        assert_eq!(feed(&mut e, &[b"STORED\r\n"]).0, Parse::Failed(PROTOCOL));
        let mut e = exchange("memcached://127.0.0.1", "incr k 1");
        assert_eq!(feed(&mut e, &[b"42\r\n"]).0, OK);
        assert_eq!(feed(&mut e, &[b"-3\r\n"]).0, Parse::Failed(PROTOCOL));
        let mut e = exchange("memcached://127.0.0.1", "stats");
        assert_eq!(
            feed(&mut e, &[b"STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n"]).0,
            OK
        );
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
            Parse::Failed(PROTOCOL)
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
