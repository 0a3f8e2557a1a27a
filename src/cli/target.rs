//! The flags that say what a run sends, shared by `run` and `capacity` so that both take
//! the same ones: the field flags (`--target`, `--rate`, ...: made from the field table in
//! `cli::field_args`), the network flags that describe a request (-H, --method, --body,
//! --connections, ...) and `--set FIELD=VALUE`, all turned into overrides of config fields.

use clap::Args;
use openpace::Error;
use openpace::config::Override;
use openpace::targets::net::Connections;
use openpace::targets::net::spec::NetFlags;

use super::flag_error;

/// The field flags, the network flags and `--set` of `run` and `capacity`.
#[derive(Args, Default)]
pub(super) struct TargetArgs {
    /// The field flags given (`--rate`, `--target`, ...), filled in from the field table's
    /// arguments after parsing (`cli::field_overrides`).
    #[arg(skip)]
    pub(super) fields: Vec<Override>,
    /// HTTP header "Name: value" for an http:// target (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// HTTP method for an http:// target.
    #[arg(long, value_name = "METHOD")]
    method: Option<String>,
    /// Request body for an http:// target.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// File holding the request body for an http:// target.
    #[arg(long, value_name = "FILE")]
    body_file: Option<String>,
    /// Statuses that count as success, e.g. 200,204 (default: 2xx and 3xx).
    #[arg(long, value_name = "CODES")]
    expect_status: Option<String>,
    /// Connections to a network target: N opens exactly N before the run and spreads the
    /// requests over them (over at most --workers worker threads); `auto` opens them as
    /// requests need them, up to 1024 (the default; with --model closed, --concurrency),
    /// `auto:N` up to N.
    #[arg(short = 'c', long, value_name = "N|auto|auto:N")]
    connections: Option<String>,
    /// Connect timeout of a network target.
    #[arg(long, value_name = "DURATION")]
    connect_timeout: Option<String>,
    /// Bytes a tcp:// target sends: text with \r \n \xHH escapes, or hex:0a0b...
    #[arg(long, value_name = "PAYLOAD")]
    payload: Option<String>,
    /// A tcp:// response ends with these bytes (default \n).
    #[arg(long, value_name = "DELIMITER")]
    until: Option<String>,
    /// A tcp:// response is this many bytes.
    #[arg(long, value_name = "N")]
    read_bytes: Option<String>,
    /// A response of an expected status must hold this text in its body, or it is an error
    /// of kind `check`.
    #[arg(long, value_name = "TEXT")]
    expect_body_contains: Option<String>,
    /// A response's body must be exactly this many bytes (else kind `check`).
    #[arg(long, value_name = "N")]
    expect_body_size: Option<String>,
    /// A response's body must be JSON whose value at the pointer is VALUE, e.g.
    /// /status=ok or /items/0/id=7 (repeatable; else kind `check`).
    #[arg(long, value_name = "POINTER=VALUE")]
    expect_json: Vec<String>,
    /// A request set: JSON lines, one request per line (method, url, headers, body or
    /// body_file; command for redis/memcached; name, weight), sent instead of the one request.
    #[arg(long, value_name = "FILE")]
    requests: Option<String>,
    /// How a request set's lines are taken: round-robin (each weight times in turn, the
    /// default) or random (by weight, seeded).
    #[arg(long, value_name = "round-robin|random")]
    requests_order: Option<String>,
    /// The command a redis:// or memcached:// target sends, words with templates, e.g.
    /// "SET key:{{seq}} {{rand_hex 16}}" (default PING; memcached: version).
    #[arg(long, value_name = "COMMAND")]
    command: Option<String>,
    /// PEM file of the CA certificates an https:// target's certificate must chain to,
    /// instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    cacert: Option<String>,
    /// Accept any certificate from an https:// target (self-signed, expired, other host).
    #[arg(long)]
    insecure: bool,
    /// The largest response read from a network target, e.g. 1MiB (default 64MiB): a
    /// larger one is an error of kind response_too_large and closes its connection.
    #[arg(long, value_name = "SIZE")]
    max_response_bytes: Option<String>,
    /// Connect an http:// target to this Unix domain socket instead of the URL's host:port
    /// (the URL still gives the Host header and path), as curl and oha do.
    #[arg(long, value_name = "PATH")]
    unix_socket: Option<String>,
    /// Speak HTTP/2 to an http(s):// target: h2 by ALPN over https:// (HTTP/1.1 if the server
    /// does not offer it, said in the report), h2c with prior knowledge over http://.
    #[arg(long, conflicts_with = "http1_1")]
    http2: bool,
    /// Speak HTTP/1.1 (the default).
    #[arg(long = "http1.1")]
    http1_1: bool,
    /// Over HTTP/2, the streams each connection carries at once (default 100; the server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS permitting), as h2load's -m.
    #[arg(long, value_name = "N")]
    streams: Option<String>,
    /// Any config field, e.g. --set latency_p99_threshold_ms=50 (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(super) set: Vec<String>,
}

impl TargetArgs {
    /// The flags that were given, as overrides of config fields: the field flags, the
    /// network flags folded into the target, then `--set`.
    pub(super) fn overrides(&self) -> Result<Vec<Override>, Error> {
        let mut overrides = self.fields.clone();
        self.net_target(&mut overrides)?;
        for pair in &self.set {
            let Some((field, value)) = pair.split_once('=') else {
                return Err(flag_error(
                    "--set",
                    "--set",
                    pair,
                    "FIELD=VALUE, e.g. --set latency_p99_threshold_ms=50",
                ));
            };
            overrides.push(Override::new("--set", field.trim(), value));
        }
        Ok(overrides)
    }

    /// With any of the network flags (-H, --method, --connections, ...), the target
    /// override becomes the object they describe with the `--target` URL.
    fn net_target(&self, overrides: &mut Vec<Override>) -> Result<(), Error> {
        let net = NetFlags {
            headers: self.headers.clone(),
            method: self.method.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            expect_status: self.expect_status.clone(),
            connections: self.connections.clone(),
            connect_timeout: self.connect_timeout.clone(),
            payload: self.payload.clone(),
            until: self.until.clone(),
            read_bytes: self.read_bytes.clone(),
            cacert: self.cacert.clone(),
            command: self.command.clone(),
            expect_body_contains: self.expect_body_contains.clone(),
            expect_body_size: self.expect_body_size.clone(),
            expect_json: self.expect_json.clone(),
            requests: self.requests.clone(),
            requests_order: self.requests_order.clone(),
            insecure: self.insecure,
            max_response_bytes: self.max_response_bytes.clone(),
            unix_socket: self.unix_socket.clone(),
            http_version: match (self.http2, self.http1_1) {
                (true, _) => Some("2".into()),
                (_, true) => Some("1.1".into()),
                _ => None,
            },
            streams: self.streams.clone(),
        };
        if !net.any() {
            return Ok(());
        }
        // Checked here, so that the message names the flag typed (`-c 0`), not the target
        // object the flags make.
        if let Some(c) = &self.connections {
            if Connections::parse(c).is_none() {
                return Err(flag_error(
                    "--connections",
                    "connections",
                    c,
                    "a whole number above 0 (exactly that many, all opened at the start), auto \
                     or auto:N (as many as the rate needs, up to 1024 or N)",
                ));
            }
        }
        let given = self.fields.iter().find(|o| o.field == "target");
        let given = given.and_then(|o| o.value.as_str());
        let Some(object) = given.and_then(|t| net.object_for(t)) else {
            return Err(flag_error(
                "--target",
                "target",
                given.unwrap_or("(none)"),
                "an http://, https://, tcp://, redis:// or memcached:// URL, or a target \
                 object, which -H, --method, --body, --connections, --cacert, --payload, \
                 --command and the like configure",
            ));
        };
        overrides.retain(|o| o.field != "target");
        overrides.push(Override {
            flag: "--target".into(),
            field: "target".into(),
            value: object,
        });
        Ok(())
    }
}
