//! Network targets from a config object: `{"http": {...}}` or `{"tcp": {...}}`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::Connections;
use super::http::{BodyChecks, HttpSpec, HttpUrl, JsonCheck};
use super::kv::KvSpec;
use super::set::{self, Line, Order, Picker};
use super::tcp::{TcpSpec, Until, decode_bytes};
use super::tls::TlsSettings;
use crate::targets::TargetSpec;

const HTTP_KEYS: &str = "url, method, headers, body, body_file, expect_status, connections, \
                         connect_timeout, cacert, insecure, expect_body_contains, \
                         expect_body_size, expect_json, requests, requests_order, \
                         max_response_bytes, unix_socket, http_version, streams";
const TCP_KEYS: &str = "address, payload, until, read_bytes, connections, connect_timeout, \
                        max_response_bytes";

const KV_KEYS: &str = "address, command, connections, connect_timeout, requests, requests_order, \
                       max_response_bytes";

/// The largest `max_response_bytes`: 1 TiB.
const MAX_RESPONSE_LIMIT: u64 = 1 << 40;

/// `max_response_bytes`: a byte count (`65536`, `"64MiB"`), default 64 MiB.
fn max_response_bytes(o: &Map<String, Value>) -> Result<u64, String> {
    let given = match o.get("max_response_bytes") {
        None | Some(Value::Null) => return Ok(super::DEFAULT_MAX_RESPONSE_BYTES),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => crate::base::units::parse_bytes(s).ok(),
        Some(_) => None,
    };
    given
        .filter(|n| (1..=MAX_RESPONSE_LIMIT).contains(n))
        .ok_or_else(|| {
            format!(
                "`max_response_bytes` {} is not 1 byte to 1 TiB (a number of bytes, or with a \
                 unit: \"64MiB\", \"1GiB\")",
                o.get("max_response_bytes")
                    .map_or(String::new(), Value::to_string)
            )
        })
}

/// `requests` and `requests_order`: a request set's lines and picker, if one is named.
fn request_set(o: &Map<String, Value>) -> Result<Option<(Vec<Line>, Picker)>, String> {
    let order = match text(o, "requests_order")? {
        Some(t) => Order::parse(t)?,
        None => Order::default(),
    };
    match text(o, "requests")? {
        Some(path) => set::read(path, order).map(Some),
        None if o.contains_key("requests_order") => {
            Err("`requests_order` without `requests` (a request set file)".into())
        }
        None => Ok(None),
    }
}

/// Reads `{"http": {...}}`, `{"tcp": {...}}`, `{"redis": {...}}` or `{"memcached": {...}}`.
pub fn from_object(object: &Map<String, Value>) -> Result<TargetSpec, String> {
    let mut entries = object.iter();
    match (entries.next(), object.len()) {
        (Some((kind, Value::Object(o))), 1) => match kind.as_str() {
            "http" => http(o).map(TargetSpec::Http),
            "tcp" => tcp(o).map(TargetSpec::Tcp),
            "redis" | "memcached" => kv(kind, o).map(TargetSpec::Kv),
            _ => Err(format!(
                "`{kind}` is not a network target: http, tcp, redis or memcached"
            )),
        },
        _ => Err(
            "an object with one key, \"http\", \"tcp\", \"redis\" or \"memcached\", \
                  holding the target's settings"
                .into(),
        ),
    }
}

/// `{"redis": {"address": "HOST:PORT", "command": "..."}}`, likewise memcached.
fn kv(kind: &str, o: &Map<String, Value>) -> Result<KvSpec, String> {
    unknown(o, KV_KEYS)?;
    let address = text(o, "address")?.ok_or("`address` is missing")?;
    let url = match address.contains("://") {
        true => address.to_string(),
        false => super::url_of(kind, address),
    };
    if !url.starts_with(&format!("{kind}://")) && !url.starts_with(&format!("{kind}+unix://")) {
        return Err(format!("`{address}` is not a {kind}:// address"));
    }
    let mut spec = KvSpec::parse(&url, text(o, "command")?)?;
    if let Some((lines, picker)) = request_set(o)? {
        if o.contains_key("command") {
            return Err("give `command` or `requests`, not both".into());
        }
        spec = spec.with_requests(&lines, picker)?;
    }
    spec.connections = connections(o)?;
    spec.connect_timeout = timeout(o)?;
    spec.max_response_bytes = max_response_bytes(o)?;
    Ok(spec)
}

fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

fn count(o: &Map<String, Value>, key: &str) -> Result<Option<usize>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|&n| n > 0)
            .map(|n| Some(n as usize))
            .ok_or_else(|| format!("`{key}` must be a whole number above 0, not {v}")),
    }
}

/// `connections`: a count (exactly that many, all opened at the start), `auto` (also when
/// absent: as many as the rate needs, up to
/// [`AUTO_CONNECTIONS`](super::AUTO_CONNECTIONS)) or `auto:N` (as many as the rate
/// needs, up to N).
fn connections(o: &Map<String, Value>) -> Result<Connections, String> {
    let allowed = "a whole number above 0, \"auto\" or \"auto:N\"";
    let given = match o.get("connections") {
        None | Some(Value::Null) => return Ok(Connections::Auto),
        Some(v) => v,
    };
    let read = match given {
        Value::String(s) => Connections::parse(s),
        v => v
            .as_u64()
            .filter(|&n| n > 0)
            .map(|n| Connections::Exactly(n as usize)),
    };
    read.ok_or_else(|| format!("`connections` {given} is not {allowed}"))
}

/// Most streams a connection carries at once (`streams`).
pub const MAX_STREAMS: usize = 10_000;

/// `http_version` (`"1.1"`, the default, or `"2"`) and `streams` (HTTP/2 only: streams per
/// connection, default [`DEFAULT_STREAMS`](super::http::DEFAULT_STREAMS)).
fn http_version(o: &Map<String, Value>) -> Result<(bool, usize), String> {
    let http2 = match o.get("http_version") {
        None | Some(Value::Null) => false,
        Some(Value::String(v)) if v == "1.1" => false,
        Some(Value::String(v)) if v == "2" => true,
        Some(Value::Number(n)) if n.as_f64() == Some(2.0) => true,
        Some(Value::Number(n)) if n.as_f64() == Some(1.1) => false,
        Some(other) => {
            return Err(format!(
                "`http_version` {other} is not \"1.1\" or \"2\" (HTTP/2: h2 over TLS by ALPN, \
                 h2c with prior knowledge over http://)"
            ));
        }
    };
    let streams = match count(o, "streams")? {
        Some(_) if !http2 => {
            return Err(
                "`streams` applies to HTTP/2 (`http_version` \"2\", --http2): HTTP/1.1 \
                        carries one request at a time on a connection"
                    .into(),
            );
        }
        Some(n) if n > MAX_STREAMS => {
            return Err(format!("`streams` {n} is not 1 to {MAX_STREAMS}"));
        }
        Some(n) => n,
        None => super::http::DEFAULT_STREAMS,
    };
    Ok((http2, streams))
}

/// The shortest and longest connect timeouts.
const CONNECT_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(3600);

fn timeout(o: &Map<String, Value>) -> Result<Duration, String> {
    let allowed = "1ms to 3600 seconds (a number of seconds or a duration like \"2s\")";
    let given = match o.get("connect_timeout") {
        None | Some(Value::Null) => return Ok(Duration::from_secs(2)),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64),
        Some(Value::String(s)) => crate::base::units::parse_duration(s).ok(),
        Some(_) => None,
    };
    given
        .filter(|d| CONNECT_TIMEOUT_RANGE.contains(d))
        .ok_or_else(|| {
            let v = o
                .get("connect_timeout")
                .map_or(String::new(), Value::to_string);
            format!("`connect_timeout` {v} is not {allowed}")
        })
}

/// Reads a body file, refusing one larger than [`MAX_BODY`](super::MAX_BODY) (without
/// reading more).
fn read_body(path: &str) -> Result<Vec<u8>, String> {
    use crate::base::input::{ReadError, read_limited};
    // A fuzzer's paths could name any file: none is read.
    #[cfg(fuzzing)]
    return Err(format!("body_file {path} is not read while fuzzing"));
    read_limited(std::path::Path::new(path), super::MAX_BODY as u64).map_err(|e| match e {
        ReadError::TooLarge { .. } => format!(
            "body_file {path} is larger than {} MiB, the largest body",
            super::MAX_BODY >> 20
        ),
        e => format!("cannot read body_file {path}: {e}"),
    })
}

fn unknown(o: &Map<String, Value>, known: &str) -> Result<(), String> {
    match o
        .keys()
        .find(|k| !known.split(", ").any(|n| n == k.as_str()))
    {
        Some(k) => Err(format!("unknown key `{k}`; the keys are {known}")),
        None => Ok(()),
    }
}

fn http(o: &Map<String, Value>) -> Result<HttpSpec, String> {
    unknown(o, HTTP_KEYS)?;
    let url = text(o, "url")?.ok_or("`url` is missing")?;
    let tls = TlsSettings {
        cacert: text(o, "cacert")?.map(str::to_string),
        insecure: match o.get("insecure") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => return Err(format!("`insecure` must be true or false, not {other}")),
        },
    };
    let mut url = HttpUrl::parse(url)?;
    if let Some(socket) = text(o, "unix_socket")? {
        url.unix_socket = Some(super::peer::unix_path(socket)?);
    }
    let mut spec = HttpSpec::get(url);
    (spec.http2, spec.streams) = http_version(o)?;
    let mut spec = spec.secure(&tls)?;
    request_fields(&mut spec, o)?;
    spec.expect_status = match o.get("expect_status") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(codes)) => codes.iter().map(status).collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s
            .split(',')
            .map(|c| status(&Value::String(c.trim().into())))
            .collect::<Result<_, _>>()?,
        Some(code) => vec![status(code)?],
    };
    spec.checks = body_checks(o)?;
    spec.connections = connections(o)?;
    spec.connect_timeout = timeout(o)?;
    spec.max_response_bytes = max_response_bytes(o)?;
    let mut spec = spec.templated()?;
    if let Some((lines, picker)) = request_set(o)? {
        let lines = http_lines(&spec, &lines)?;
        spec = spec.with_requests(lines, picker)?;
    }
    spec.validate()?;
    Ok(spec)
}

/// A request set's lines as HTTP requests, each `base` with the line's `url` (a path, or a
/// full URL on `base`'s scheme, host and port), `method`, `headers` (after `base`'s) and
/// `body` or `body_file`, with its line number.
fn http_lines(base: &HttpSpec, lines: &[Line]) -> Result<Vec<(usize, HttpSpec)>, String> {
    const KEYS: &str = "url, method, headers, body, body_file";
    lines
        .iter()
        .map(|line| {
            let at = |e: String| format!("line {}: {e}", line.number);
            if let Some(k) = line
                .fields
                .keys()
                .find(|k| !KEYS.split(", ").any(|n| n == *k))
            {
                return Err(at(format!(
                    "unknown key `{k}`; an HTTP request takes name, weight, {KEYS}"
                )));
            }
            let mut spec = base.clone();
            if let Some(url) = text(&line.fields, "url").map_err(at)? {
                spec.url = base.url.resolve(url).map_err(at)?;
            }
            request_fields(&mut spec, &line.fields).map_err(at)?;
            Ok((line.number, spec))
        })
        .collect()
}

/// `expect_body_contains`, `expect_body_size`, `expect_json` (one or a list).
fn body_checks(o: &Map<String, Value>) -> Result<BodyChecks, String> {
    let contains = text(o, "expect_body_contains")?;
    if contains == Some("") {
        return Err("`expect_body_contains` is empty: give the text a body must hold".into());
    }
    let size = match o.get("expect_body_size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    format!(
                        "`expect_body_size` must be a whole number of bytes (0 or more), not {v}"
                    )
                })?,
        ),
    };
    let json = match o.get("expect_json") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![JsonCheck::parse(s)?],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => JsonCheck::parse(s),
                other => Err(format!(
                    "`expect_json` holds {other}, not \"/pointer=value\""
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "`expect_json` must be \"/pointer=value\" or a list of them, not {other}"
            ));
        }
    };
    Ok(BodyChecks {
        contains: contains.map(|c| c.as_bytes().to_vec()),
        size,
        json,
    })
}

/// The fields that say what one HTTP request sends, `method`, `headers` (an object or a list of
/// "Name: value"), `body` or `body_file`, applied to `spec`: read from the target object and
/// from each line of a request set alike.
fn request_fields(spec: &mut HttpSpec, o: &Map<String, Value>) -> Result<(), String> {
    if let Some(method) = text(o, "method")? {
        spec.method = method.to_ascii_uppercase();
    }
    match o.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("header `{name}` must be a string"))?;
                spec.headers.push((name.clone(), value.to_string()));
            }
        }
        Some(Value::Array(lines)) => {
            for line in lines {
                let line = line.as_str().unwrap_or("");
                let (name, value) = line
                    .split_once(':')
                    .ok_or_else(|| format!("header `{line}` is not \"Name: value\""))?;
                spec.headers
                    .push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Some(other) => {
            return Err(format!(
                "`headers` must be an object or a list, not {other}"
            ));
        }
    }
    match (text(o, "body")?, text(o, "body_file")?) {
        (Some(_), Some(_)) => return Err("give `body` or `body_file`, not both".into()),
        (Some(body), None) => spec.body = body.as_bytes().to_vec(),
        (None, Some(path)) => spec.body = read_body(path)?,
        (None, None) => {}
    }
    Ok(())
}

fn status(v: &Value) -> Result<u16, String> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .filter(|c| (100..600).contains(c))
        .map(|c| c as u16)
        .ok_or_else(|| format!("{v} is not an HTTP status (100-599)"))
}

fn tcp(o: &Map<String, Value>) -> Result<TcpSpec, String> {
    unknown(o, TCP_KEYS)?;
    let address = text(o, "address")?.ok_or("`address` is missing")?;
    let address = match address.strip_prefix("tcp+unix://") {
        Some(path) => super::peer::unix_path(path)?,
        None => address
            .strip_prefix("tcp://")
            .unwrap_or(address)
            .to_string(),
    };
    super::Peer::resolve(&address)?;
    let payload = decode_bytes(text(o, "payload")?.ok_or("`payload` is missing")?)?;
    if payload.is_empty() {
        return Err("`payload` is empty".into());
    }
    let until = match (text(o, "until")?, count(o, "read_bytes")?) {
        (Some(_), Some(_)) => return Err("give `until` or `read_bytes`, not both".into()),
        (Some(d), None) => Until::Delimiter(decode_bytes(d)?),
        (None, Some(n)) => Until::Bytes(n),
        (None, None) => Until::Delimiter(b"\n".to_vec()),
    };
    let spec = TcpSpec {
        address,
        payload,
        until,
        connections: connections(o)?,
        connect_timeout: timeout(o)?,
        max_response_bytes: max_response_bytes(o)?,
    };
    spec.validate()?;
    Ok(spec)
}

/// Network settings given as command-line flags, to be joined with `--target`.
#[derive(Clone, Debug, Default)]
pub struct NetFlags {
    /// `-H "Name: value"`, repeatable.
    pub headers: Vec<String>,
    /// `--method`.
    pub method: Option<String>,
    /// `--body`.
    pub body: Option<String>,
    /// `--body-file`.
    pub body_file: Option<String>,
    /// `--expect-status 200,204`.
    pub expect_status: Option<String>,
    /// `--connections`.
    pub connections: Option<String>,
    /// `--connect-timeout`.
    pub connect_timeout: Option<String>,
    /// `--payload` (TCP).
    pub payload: Option<String>,
    /// `--until` (TCP).
    pub until: Option<String>,
    /// `--read-bytes` (TCP).
    pub read_bytes: Option<String>,
    /// `--cacert FILE` (https).
    pub cacert: Option<String>,
    /// `--command "SET k v"` (redis, memcached).
    pub command: Option<String>,
    /// `--expect-body-contains TEXT` (http).
    pub expect_body_contains: Option<String>,
    /// `--expect-body-size N` (http).
    pub expect_body_size: Option<String>,
    /// `--expect-json /pointer=value` (http, repeatable).
    pub expect_json: Vec<String>,
    /// `--requests FILE`: a request set.
    pub requests: Option<String>,
    /// `--requests-order round-robin|random`.
    pub requests_order: Option<String>,
    /// `--insecure` (https).
    pub insecure: bool,
    /// `--max-response-bytes SIZE`.
    pub max_response_bytes: Option<String>,
    /// `--unix-socket PATH` (http): connect to this Unix socket instead of the URL's
    /// host:port, as curl and oha do.
    pub unix_socket: Option<String>,
    /// `--http2` ("2") or `--http1.1` ("1.1").
    pub http_version: Option<String>,
    /// `--streams N` (HTTP/2).
    pub streams: Option<String>,
}

impl NetFlags {
    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        !self.headers.is_empty()
            || self.insecure
            || !self.expect_json.is_empty()
            || [
                &self.method,
                &self.body,
                &self.body_file,
                &self.expect_status,
                &self.connections,
                &self.connect_timeout,
                &self.payload,
                &self.until,
                &self.read_bytes,
                &self.cacert,
                &self.command,
                &self.expect_body_contains,
                &self.expect_body_size,
                &self.requests,
                &self.requests_order,
                &self.max_response_bytes,
                &self.unix_socket,
                &self.http_version,
                &self.streams,
            ]
            .iter()
            .any(|f| f.is_some())
    }

    /// The config object for `target` (a URL) with these settings. Every flag given goes
    /// in, so that one the target's kind does not take is refused by name (`unknown key
    /// `payload``), never dropped.
    pub fn object(&self, target: &str) -> Value {
        let mut o = self.settings();
        let scheme = target
            .split_once("://")
            .map(|(s, _)| s.trim_end_matches("+unix"));
        let kind = match scheme {
            Some("tcp") => "tcp",
            Some("redis") => "redis",
            Some("memcached") => "memcached",
            _ => "http",
        };
        let key = if kind == "http" { "url" } else { "address" };
        o.insert(key.into(), Value::String(target.to_string()));
        serde_json::json!({ kind: o })
    }

    /// The target object's keys these flags set, each as the config reads it.
    fn settings(&self) -> Map<String, Value> {
        let mut o = Map::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                o.insert(key.to_string(), Value::String(v.clone()));
            }
        };
        put("connections", &self.connections);
        put("connect_timeout", &self.connect_timeout);
        put("payload", &self.payload);
        put("until", &self.until);
        put("read_bytes", &self.read_bytes);
        put("method", &self.method);
        put("body", &self.body);
        put("body_file", &self.body_file);
        put("expect_status", &self.expect_status);
        put("cacert", &self.cacert);
        put("command", &self.command);
        put("expect_body_contains", &self.expect_body_contains);
        put("expect_body_size", &self.expect_body_size);
        put("requests", &self.requests);
        put("requests_order", &self.requests_order);
        put("max_response_bytes", &self.max_response_bytes);
        put("unix_socket", &self.unix_socket);
        put("http_version", &self.http_version);
        put("streams", &self.streams);
        if !self.expect_json.is_empty() {
            o.insert("expect_json".into(), Value::from(self.expect_json.clone()));
        }
        if self.insecure {
            o.insert("insecure".into(), Value::Bool(true));
        }
        if !self.headers.is_empty() {
            o.insert("headers".into(), Value::from(self.headers.clone()));
        }
        o
    }

    /// [`object`](Self::object) for a `--target` given as a URL; for one given as a target
    /// object in JSON text (`{"http": {"url": ...}}`), that object with these flags' settings
    /// put in (a flag replaces the object's own value of its key). `None` for text that is
    /// neither.
    pub fn object_for(&self, target: &str) -> Option<Value> {
        if !target.trim_start().starts_with('{') {
            return target.contains("://").then(|| self.object(target));
        }
        let Ok(Value::Object(mut given)) = serde_json::from_str::<Value>(target) else {
            return None;
        };
        let kind = given.keys().next().cloned().filter(|_| given.len() == 1)?;
        let Some(Value::Object(inner)) = given.get_mut(&kind) else {
            return None;
        };
        inner.extend(self.settings());
        Some(Value::Object(given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TargetSpec, String> {
        let v: Value = serde_json::from_str(json).unwrap();
        from_object(v.as_object().unwrap())
    }

    /// A target object given as JSON text takes the network flags into itself, instead of
    /// being read as a URL because its text holds "://".
    #[test]
    fn flags_go_into_a_target_object_given_as_text() {
        let flags = NetFlags {
            connections: Some("8".into()),
            headers: vec!["X-B: 2".into()],
            ..NetFlags::default()
        };
        let text = r#"{"redis": {"address": "127.0.0.1:6379", "connections": 2}}"#;
        let merged = flags.object_for(text).unwrap();
        assert_eq!(merged["redis"]["address"], "127.0.0.1:6379");
        assert_eq!(merged["redis"]["connections"], "8");
        assert_eq!(merged["redis"]["headers"][0], "X-B: 2");
        let url = flags.object_for("http://127.0.0.1:8080/").unwrap();
        assert_eq!(url["http"]["url"], "http://127.0.0.1:8080/");
        assert!(flags.object_for("noop").is_none());
        assert!(flags.object_for("{not json").is_none());
    }

    /// Issue 29 point 5: a count is exactly that many, opened at the start; `auto` and
    /// `auto:N` open as the rate needs.
    #[test]
    fn connections_are_exact_counts_or_auto_with_an_optional_cap() {
        let connections = |v: &str| {
            let object =
                format!(r#"{{"http": {{"url": "http://127.0.0.1/", "connections": {v}}}}}"#);
            parse(&object).map(|t| match t {
                TargetSpec::Http(s) => s.connections,
                _ => unreachable!(),
            })
        };
        assert_eq!(connections("4"), Ok(Connections::Exactly(4)));
        assert_eq!(connections("\"4\""), Ok(Connections::Exactly(4)));
        assert_eq!(connections("\"auto\""), Ok(Connections::Auto));
        assert_eq!(connections("null"), Ok(Connections::Auto));
        assert_eq!(connections("\"auto:16\""), Ok(Connections::UpTo(16)));
        for bad in ["0", "\"auto:0\"", "\"auto:\"", "\"some\"", "-1", "1.5"] {
            let err = connections(bad).unwrap_err();
            assert!(err.contains("\"auto:N\""), "{bad}: {err}");
        }
        assert!(Connections::Exactly(3).opens_all() && !Connections::UpTo(3).opens_all());
        assert_eq!(Connections::Auto.limit(), None);
    }

    #[test]
    fn http_objects_take_every_setting() {
        let TargetSpec::Http(s) = parse(
            r#"{"http": {"url": "http://127.0.0.1:8080/x", "method": "post", "body": "hi",
                "headers": {"X-A": "1"}, "expect_status": [200, 201], "connections": 4,
                "connect_timeout": "500ms"}}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.method, "POST");
        assert_eq!(s.headers, vec![("X-A".to_string(), "1".to_string())]);
        assert_eq!(s.expect_status, vec![200, 201]);
        assert_eq!(
            (s.connections, s.connect_timeout),
            (Connections::Exactly(4), Duration::from_millis(500))
        );
        assert!(
            parse(r#"{"http": {"url": "http://127.0.0.1/", "verb": "GET"}}"#)
                .unwrap_err()
                .contains("unknown key `verb`")
        );
        assert!(parse(r#"{"http": {"url": "http://no.such.host.invalid/"}}"#).is_err());
    }

    #[test]
    fn tcp_objects_need_a_payload() {
        let TargetSpec::Tcp(s) = parse(
            r#"{"tcp": {"address": "127.0.0.1:7000", "payload": "PING\\r\\n", "until": "\\r\\n"}}"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.payload, b"PING\r\n");
        assert!(
            parse(r#"{"tcp": {"address": "127.0.0.1:7000"}}"#)
                .unwrap_err()
                .contains("payload")
        );
        assert!(parse(r#"{"ftp": {}}"#).is_err());
    }
}
