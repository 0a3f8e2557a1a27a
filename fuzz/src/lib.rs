//! What each fuzz target does with its input: everything in openpace that parses outside
//! input. The targets under `fuzz_targets/` are one line each; this file is also compiled by
//! `tests/fuzz_regressions.rs`, which replays every input a fuzzer ever crashed on.
//!
//! Each function must never panic, hang or exhaust memory on any input; where a parser has a
//! property worth stating (a duration prints back as itself, a histogram survives its
//! encoding), it is asserted too.

use openpace::config::{self, DEFAULT_SCENARIO, Override, format_duration, parse_duration};
use openpace::metrics::encoding::{decode, encode};
use openpace::metrics::threshold::{Progress, Threshold};
use openpace::report;
use openpace::target::TargetSpec;
use openpace::target::net::http::{HttpExchange, HttpShared, HttpSpec, HttpUrl};
use openpace::target::net::kv::KvSpec;
use openpace::target::net::tcp::{TcpExchange, TcpSpec, Until};
use openpace::target::net::{Exchange, Parse};

/// A saved report (a short run of `sleep:1ms`), for what needs a measured result.
const REPORT: &str = include_str!("report.json");

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Splits `data` into chunks whose sizes come from `seed`, as a socket might deliver them.
fn chunks(data: &[u8], seed: u8) -> impl Iterator<Item = &[u8]> {
    let mut state = u32::from(seed) | 1;
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state as usize % 64 + 1).min(rest.len());
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

/// Feeds `data` to `exchange` in chunks, as the connection pool does: a finished response
/// lets the next one start on the bytes left over, a failed one ends the connection.
fn feed(exchange: &mut dyn Exchange, data: &[u8], seed: u8) {
    let mut buf = Vec::new();
    let mut rounds = 0usize;
    for chunk in chunks(data, seed) {
        buf.extend_from_slice(chunk);
        loop {
            rounds += 1;
            assert!(
                rounds <= 4 * data.len() + 64,
                "the parser makes no progress"
            );
            let before = buf.len();
            match exchange.parse(&mut buf) {
                Parse::NeedMore => break,
                Parse::Done { .. } => {
                    exchange.reset();
                    assert!(buf.len() < before, "a response took no bytes");
                    if buf.is_empty() {
                        break;
                    }
                }
                Parse::Failed(_) => {
                    exchange.reset();
                    buf.clear();
                    break;
                }
            }
        }
    }
    let _ = exchange.at_close();
}

/// The HTTP/1.1 response parser, on any bytes, split anywhere.
pub fn http_response(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let url = HttpUrl::parse("http://127.0.0.1:8080/").expect("a literal URL");
    let mut spec = HttpSpec::get(url);
    if flags & 1 == 1 {
        spec.method = "HEAD".into();
    }
    if flags & 2 == 2 {
        spec.expect_status = vec![200, 204];
    }
    let mut exchange = HttpExchange::new(HttpShared::new(&spec));
    feed(&mut exchange, body, flags);
}

/// TCP framing, by a delimiter or a byte count taken from the input.
pub fn tcp_framing(data: &[u8]) {
    let [mode, size, rest @ ..] = data else {
        return;
    };
    let size = usize::from(*size % 16) + 1;
    let (until, stream) = if mode & 1 == 0 && rest.len() >= size {
        (Until::Delimiter(rest[..size].to_vec()), &rest[size..])
    } else {
        (Until::Bytes(usize::from(*mode) * 7 + size), rest)
    };
    let spec = TcpSpec {
        address: "127.0.0.1:9".into(),
        payload: b"x".to_vec(),
        until,
        connections: openpace::targets::net::Connections::Exactly(1),
        connect_timeout: std::time::Duration::from_secs(1),
        max_response_bytes: 1 << 16,
    };
    let mut exchange = TcpExchange::new(std::sync::Arc::new(spec));
    feed(&mut exchange, stream, *mode);
}

/// A reply limit from a flags byte: 16 bytes to 128 MiB, so that both sides of the limit are
/// reached.
fn limit(flags: u8) -> u64 {
    1 << (u32::from(flags % 24) + 4)
}

/// Redis replies (RESP2 and RESP3, nested, with every type), on any bytes, split anywhere.
pub fn redis_reply(data: &[u8]) {
    let Some((&flags, replies)) = data.split_first() else {
        return;
    };
    let mut spec = KvSpec::parse("redis://127.0.0.1:6379", Some("GET k")).expect("a literal");
    spec.max_response_bytes = limit(flags);
    let mut exchange = std::sync::Arc::new(spec).exchange();
    feed(&mut exchange, replies, flags);
}

/// memcached replies to each kind of command (picked by the first byte), on any bytes.
pub fn memcached_reply(data: &[u8]) {
    const COMMANDS: [&str; 10] = [
        "get a b",
        "gets k",
        "set k v",
        "incr k 1",
        "stats",
        "version",
        "delete k",
        "touch k 1",
        "cas k v 1",
        "flush_all",
    ];
    let Some((&flags, replies)) = data.split_first() else {
        return;
    };
    let command = COMMANDS[usize::from(flags) % COMMANDS.len()];
    let mut spec = KvSpec::parse("memcached://127.0.0.1:11211", Some(command)).expect("a literal");
    spec.max_response_bytes = limit(flags);
    let mut exchange = std::sync::Arc::new(spec).exchange();
    feed(&mut exchange, replies, flags);
}

/// Whatever a valid config asks for can be planned: its schedule, fingerprint, workers.
fn use_config(run: &config::RunConfig) {
    for s in &run.scenarios {
        let profile = s.rate_profile();
        let _ = s.schedule_fingerprint();
        let _ = (
            s.worker_count(),
            s.connections(),
            profile.peak_rps(),
            profile.total(),
        );
        let mut schedule = openpace::Schedule::new(profile, s.arrival, s.seed.unwrap_or(1));
        for _ in 0..256 {
            if schedule.next_offset_ns().is_none() {
                break;
            }
        }
    }
    let _ = run.outputs();
}

/// A config file as `openpace run FILE` and `openpace validate FILE` read it.
pub fn config_json(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(run) = config::load_json(text, "fuzz.json", &[]) {
        use_config(&run);
    }
}

/// Flags over the default scenario: each line `FIELD=VALUE`, as `--set` gives them (every
/// flag of `openpace run` becomes one of these).
pub fn config_flags(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let overrides: Vec<Override> = text
        .lines()
        .take(16)
        .filter_map(|line| line.split_once('='))
        .map(|(field, value)| Override::new("--set", field, value))
        .collect();
    if let Ok(run) = config::load_json(DEFAULT_SCENARIO, "default scenario", &overrides) {
        use_config(&run);
    }
}

/// Core lists, as `--worker-cores` and as a JSON value.
pub fn core_list(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let base = r#"{"target": "noop", "duration_seconds": 1}"#;
    let flag = [Override::new("--worker-cores", "worker_cores", text)];
    if let Ok(run) = config::load_json(base, "fuzz.json", &flag) {
        // `none` and `null` leave the cores to openpace.
        if let Some(cores) = &run.scenarios[0].worker_cores {
            assert!(cores.len() <= 1024 && cores.iter().all(|&c| c <= 1023));
        }
    }
    let json = format!(r#"{{"target": "noop", "duration_seconds": 1, "worker_cores": {text}}}"#);
    let _ = config::load_json(&json, "fuzz.json", &[]);
}

/// The threshold grammar, and every way a threshold is checked.
pub fn threshold(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(t) = Threshold::parse(text) else {
        return;
    };
    let _ = (t.metric_name(), t.to_string());
    let result = report::read_json(REPORT).expect("the saved report reads");
    let s = &result.scenarios[0];
    let _ = t.evaluate(s);
    for interval in &s.intervals {
        let _ = t.evaluate_interval(interval);
    }
    let h = decode(&s.histograms.response_time).expect("the saved histogram decodes");
    let progress = Progress {
        planned: s.requests.intended,
        errors: s.requests.errors,
        timeouts: s.requests.timeouts,
        dropped: s.requests.dropped,
        response: &h,
        service: &h,
        dispatch: &h,
        lateness: &h,
    };
    let _ = t.doomed(&progress);
}

/// Durations: whatever parses prints back as (nearly) itself.
pub fn duration(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(d) = parse_duration(text) else { return };
    let printed = format_duration(d);
    let again = parse_duration(&printed).expect("a printed duration parses");
    let (a, b) = (d.as_secs_f64(), again.as_secs_f64());
    assert!(
        (a - b).abs() <= 1e-9 + a * 1e-9,
        "{text:?} -> {printed} -> {b}"
    );
}

/// Target specs, as text (`--target`) and as a config object.
pub fn target_spec(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(spec) = TargetSpec::parse(text) {
        let printed = spec.to_string();
        if !spec.is_network() {
            assert_eq!(TargetSpec::parse(&printed).as_ref(), Ok(&spec), "{printed}");
        }
        let _ = spec.network().map(|plan| plan.exchange);
    }
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(text) {
        if let Ok(spec) = openpace::target::net::spec::from_object(&o) {
            let plan = spec.network().expect("an object is a network target");
            let exchange = (plan.exchange)();
            assert!(!exchange.request().is_empty());
        }
    }
}

/// A saved report, as `openpace report` and `openpace merge` read it: every format renders
/// from it, and a report that passes the merge's checks merges into one that passes them too.
pub fn merge_reader(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(result) = report::read_json(text) else {
        return;
    };
    for (_, format) in openpace::ReportFormat::ALL {
        let _ = report::render_files(&result, format);
    }
    if openpace::cluster::verify::verify(&result).is_err() {
        return;
    }
    let options = openpace::cluster::MergeOptions::default();
    if let Ok(merged) = openpace::cluster::merge(&[("fuzz.json".into(), result)], &options) {
        openpace::cluster::verify::verify(&merged).expect("a merge of sound reports is sound");
    }
}

/// HdrHistogram V2 encodings, as reports carry them.
pub fn histogram(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(h) = decode(text) else { return };
    let _ = (
        h.len(),
        h.max(),
        h.min(),
        h.mean(),
        h.value_at_quantile(0.99),
    );
    let mut ours = openpace::metrics::atomic_hist::new_histogram();
    let _ = ours.add(&h);
    assert_eq!(decode(&encode(&h)).expect("an encoding decodes"), h);
}

/// What an HTTP/2 connection tells a harness: each event must concern a stream the harness
/// opened and has not seen end.
struct H2Slots {
    open: Vec<bool>,
}

impl openpace::targets::net::h2::Sink for H2Slots {
    fn head(&mut self, slot: usize, status: u16) {
        assert!(
            self.open[slot] && (200..=999).contains(&status),
            "{slot} {status}"
        );
    }
    fn field(&mut self, slot: usize, _name: &[u8], _value: &[u8]) {
        assert!(self.open[slot]);
    }
    fn data(&mut self, slot: usize, _data: &[u8]) {
        assert!(self.open[slot]);
    }
    fn end(&mut self, slot: usize) {
        assert!(
            std::mem::take(&mut self.open[slot]),
            "an end for a closed slot"
        );
    }
    fn failed(&mut self, slot: usize, _why: openpace::targets::net::h2::StreamEnd) {
        assert!(
            std::mem::take(&mut self.open[slot]),
            "a failure for a closed slot"
        );
    }
}

/// HTTP/2 frames as a server might send them, split anywhere, into a connection with four
/// stream slots that opens a stream (a GET, or a POST whose body waits for its window) on
/// every free slot after each chunk: frames, HPACK, flow control, GOAWAY and resets.
pub fn h2_frames(data: &[u8]) {
    use openpace::targets::net::h2::{H2Conn, frame};
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let mut conn = H2Conn::new(4, seed & 1 == 1);
    let mut slots = H2Slots {
        open: vec![false; 4],
    };
    let get = b"GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n";
    let post = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 40000\r\n\r\n";
    let mut body = post.to_vec();
    body.resize(post.len() + 40_000, b'x');
    let mut buf = Vec::new();
    for chunk in chunks(stream, seed) {
        for slot in 0..4 {
            if conn.can_open() && !conn.busy(slot) {
                let request: &[u8] = if slot == 3 { &body } else { get };
                conn.start(slot, request)
                    .expect("the harness's requests parse");
                slots.open[slot] = true;
            }
        }
        buf.extend_from_slice(chunk);
        match conn.receive(&buf, &mut slots) {
            Ok(used) => {
                assert!(used <= buf.len());
                buf.drain(..used);
            }
            Err(_) => return,
        }
        for slot in 0..4 {
            assert_eq!(conn.busy(slot), slots.open[slot], "slot {slot}");
        }
        assert!(conn.open() <= conn.slots());
        // What the client queued is whole frames, under the largest frame size.
        let out = std::mem::take(conn.out());
        let mut at = out
            .strip_prefix(frame::PREFACE)
            .map_or(0, |_| frame::PREFACE.len());
        while let Ok(Some((_, used))) = frame::parse(&out[at..], 1 << 24) {
            at += used;
        }
        assert_eq!(at, out.len(), "the client wrote a broken frame");
        assert!(
            buf.len() <= (1 << 14) + frame::HEADER_LEN,
            "a frame larger than announced"
        );
    }
}

/// Header blocks (HPACK) decoded by openpace's allocation-free decoder and by `loona-hpack`,
/// one after the other on one table: where both take a block, they must read the same
/// fields. The first byte sets the table size (0 to 4,080); each block is led by its length.
pub fn hpack_block(data: &[u8]) {
    use openpace::targets::net::h2::hpack::HeaderDecoder;
    let Some((&size, mut rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(size) * 16;
    let mut ours = HeaderDecoder::new(size);
    let mut theirs = loona_hpack::Decoder::new();
    theirs.set_max_table_size(size);
    theirs.set_max_allowed_table_size(size);
    while let Some((&length, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(length).min(tail.len()));
        rest = tail;
        let mut read = Vec::new();
        let mine = ours.decode(block, |n, v| read.push((n.to_vec(), v.to_vec())));
        let reference = theirs.decode(block);
        match (mine, reference) {
            (Ok(()), Ok(fields)) => assert_eq!(read, fields, "block {block:02x?}"),
            // One refused what the other took: their tables may differ from here on.
            _ => return,
        }
    }
}
