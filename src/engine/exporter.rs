//! Live metrics for Prometheus (`--metrics-listen ADDR`): OpenMetrics text at
//! `http://ADDR/metrics` while the run lasts.
//!
//! Off the hot path twice over: the collector renders the whole page once per interval as it
//! closes (from the row, the cumulative histograms and the error kinds it already has) and
//! swaps it in under a mutex; a server thread of its own, unpinned, answers each scrape with
//! the latest page. No timing loop or worker ever touches it. No client can hold it: every
//! client sits on one poll with [`CLIENT_DEADLINE`] to send its request head and as long to
//! take the answer, at most [`MAX_CLIENTS`] are open at once (a new one closes the one waiting
//! longest), and the run's end closes the listener and every client at once.
//!
//! Per scenario (label `scenario`): counters of requests intended, completed, ok, errors (by
//! `kind`), timeouts and dropped over the measured window; gauges of the last interval's
//! scheduled and achieved rate and its response, service and dispatch percentiles (label
//! `stat`: p50, p90, p99, p99.9, max), in seconds; a cumulative response-time histogram with
//! the fixed buckets [`BUCKETS_S`]; where the run is (`openpace_interval_end_seconds`) and
//! whether it has finished. At the end the counters take the run's final totals (the drain
//! included). When something scraped during the run, openpace then waits for one more scrape
//! (at most twice the longest gap between scrapes seen, and at most a minute; a stop request
//! ends the wait), so that the final figures reach Prometheus.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::metrics::result::{IntervalStats, LatencySummary, ScenarioResult};

/// Upper bounds (`le`, seconds) of the response-time histogram's buckets, then `+Inf`: 100 µs
/// to 10 s in 1-2.5-5 steps.
pub const BUCKETS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The content type Prometheus asks for and parses as OpenMetrics.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The longest the end of a run waits for a final scrape.
const LINGER_CAP: Duration = Duration::from_secs(60);

/// What one scenario has measured so far, as exported.
#[derive(Clone, Debug, Default)]
struct Live {
    name: String,
    intended: f64,
    completed: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    timeouts: u64,
    dropped: u64,
    scheduled_rps: f64,
    achieved_rps: f64,
    response: Option<LatencySummary>,
    service: Option<LatencySummary>,
    dispatch: Option<LatencySummary>,
    /// Cumulative counts at or below each of [`BUCKETS_S`], then the total.
    buckets: [u64; BUCKETS_S.len() + 1],
    sum_s: f64,
    interval_end_s: f64,
    finished: bool,
}

/// What the server thread and the collector share.
struct Shared {
    page: Mutex<String>,
    /// Scrapes of `/metrics` served, with when the last one was and the longest gap seen.
    scrapes: Mutex<(u64, Option<Instant>, Duration)>,
    closing: AtomicBool,
}

/// The live metrics of a run; see the module doc. Dropping it stops the server.
pub(crate) struct Exporter {
    address: SocketAddr,
    shared: Arc<Shared>,
    scenarios: Vec<Live>,
    server: Option<JoinHandle<()>>,
    waker: Waker,
}

impl Exporter {
    /// Listens on `address` and serves the page of scenarios named `names` (nothing measured
    /// yet) from a thread of its own.
    pub fn start(address: SocketAddr, names: &[String]) -> std::io::Result<Exporter> {
        let listener = mio::net::TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let scenarios: Vec<Live> = names
            .iter()
            .map(|name| Live {
                name: name.clone(),
                ..Live::default()
            })
            .collect();
        let shared = Arc::new(Shared {
            page: Mutex::new(render(&scenarios)),
            scrapes: Mutex::new((0, None, Duration::ZERO)),
            closing: AtomicBool::new(false),
        });
        let serving = shared.clone();
        let server = std::thread::Builder::new()
            .name("openpace-metrics".into())
            .spawn(move || serve(listener, poll, &serving))?;
        Ok(Exporter {
            address,
            shared,
            scenarios,
            server: Some(server),
            waker,
        })
    }

    /// The address it listens on (the port the system chose, for `127.0.0.1:0`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Adds the interval `row` of scenario `index` that just closed, with the response times
    /// so far and the error counts by kind so far.
    pub fn after_interval(
        &mut self,
        index: usize,
        row: &IntervalStats,
        response_so_far: &Histogram<u64>,
        errors_so_far: BTreeMap<String, u64>,
    ) {
        let Some(live) = self.scenarios.get_mut(index) else {
            return;
        };
        let seconds = (row.end_s - row.start_s).max(1e-9);
        live.intended += row.scheduled;
        live.completed += row.completed;
        live.ok += row.ok;
        live.timeouts += row.timeouts;
        live.dropped += row.dropped;
        live.errors = errors_so_far;
        live.scheduled_rps = row.scheduled / seconds;
        live.achieved_rps = row.achieved_rps;
        live.response = Some(row.response_time_ms);
        live.service = Some(row.service_time_ms);
        live.dispatch = Some(row.dispatch_delay_us);
        live.interval_end_s = row.end_s;
        (live.buckets, live.sum_s) = buckets(response_so_far);
        self.publish();
    }

    /// The run's final figures, scenario by scenario (the drain included); then, when
    /// something scraped during the run, waits for it to scrape them (see the module doc)
    /// unless `stopping` says to stop.
    pub fn finish(&mut self, results: &[ScenarioResult], stopping: impl Fn() -> bool) {
        for (live, s) in self.scenarios.iter_mut().zip(results) {
            let r = &s.requests;
            // Counters never go back: the final totals are at least the intervals' sums.
            live.intended = live.intended.max(r.intended as f64);
            live.completed = live.completed.max(r.completed);
            live.ok = live.ok.max(r.ok);
            live.timeouts = live.timeouts.max(r.timeouts);
            live.dropped = live.dropped.max(r.dropped);
            for (kind, count) in s.errors_by_kind() {
                let seen = live.errors.entry(kind.clone()).or_insert(0);
                *seen = (*seen).max(*count);
            }
            if let Ok(h) = crate::metrics::encoding::decode(&s.histograms.response_time) {
                let (counts, sum_s) = buckets(&h);
                if counts[BUCKETS_S.len()] >= live.buckets[BUCKETS_S.len()] {
                    (live.buckets, live.sum_s) = (counts, sum_s);
                }
            }
            live.finished = true;
        }
        self.publish();
        let (scrapes, _, longest_gap) = *lock(&self.shared.scrapes);
        if scrapes == 0 {
            return;
        }
        let deadline = Instant::now() + (2 * longest_gap).clamp(Duration::from_secs(1), LINGER_CAP);
        while Instant::now() < deadline && !stopping() {
            if lock(&self.shared.scrapes).0 > scrapes {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn publish(&self) {
        *lock(&self.shared.page) = render(&self.scenarios);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        // Wakes the server from its poll; it sees `closing` and leaves, whatever its clients
        // are doing (none of them blocks it).
        let _ = self.waker.wake();
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The listener's token; clients count from 0.
const LISTENER: Token = Token(usize::MAX - 1);
/// The token of the waker that ends the server.
const WAKE: Token = Token(usize::MAX - 2);
/// How long a client has to send its request head, and then to take the answer.
const CLIENT_DEADLINE: Duration = Duration::from_secs(2);
/// Clients served at once; a new one beyond this closes the longest-waiting one.
const MAX_CLIENTS: usize = 32;
/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// One scraper's connection: its head so far, then the answer going out.
struct Client {
    stream: mio::net::TcpStream,
    accepted: Instant,
    deadline: Instant,
    head: Vec<u8>,
    answer: Vec<u8>,
    written: usize,
}

/// The server thread: every client on one poll, none able to hold another (or the run's end)
/// up. A client has [`CLIENT_DEADLINE`] to send its head and as long again to take the answer;
/// past [`MAX_CLIENTS`] the client waiting longest is closed; a wake-up through `WAKE` ends it
/// whatever clients are doing.
fn serve(mut listener: mio::net::TcpListener, mut poll: Poll, shared: &Shared) {
    if poll
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .is_err()
    {
        return;
    }
    let mut events = Events::with_capacity(64);
    let mut clients: BTreeMap<usize, Client> = BTreeMap::new();
    let mut next_token = 0usize;
    loop {
        let now = Instant::now();
        let wait = clients
            .values()
            .map(|c| c.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(CLIENT_DEADLINE);
        // An interrupted poll only ends this wait early.
        let _ = poll.poll(&mut events, Some(wait));
        if shared.closing.load(Ordering::Relaxed) {
            return;
        }
        for event in events.iter() {
            match event.token() {
                WAKE => {}
                LISTENER => accept(&listener, &poll, &mut clients, &mut next_token),
                Token(i) => {
                    let done = match clients.get_mut(&i) {
                        Some(client) => advance(client, shared),
                        None => false,
                    };
                    if done {
                        close(&poll, &mut clients, i);
                    }
                }
            }
        }
        let now = Instant::now();
        let late: Vec<usize> = clients
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(i, _)| *i)
            .collect();
        for i in late {
            close(&poll, &mut clients, i);
        }
    }
}

/// Takes every waiting connection, closing the longest-waiting client when there are too
/// many.
fn accept(
    listener: &mio::net::TcpListener,
    poll: &Poll,
    clients: &mut BTreeMap<usize, Client>,
    next_token: &mut usize,
) {
    while let Ok((mut stream, _)) = listener.accept() {
        if clients.len() >= MAX_CLIENTS {
            let oldest = clients
                .iter()
                .min_by_key(|(_, c)| c.accepted)
                .map(|(i, _)| *i);
            if let Some(i) = oldest {
                close(poll, clients, i);
            }
        }
        let token = *next_token;
        *next_token = (*next_token + 1) % (usize::MAX - 2);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut stream, Token(token), interest)
            .is_ok()
        {
            let now = Instant::now();
            clients.insert(
                token,
                Client {
                    stream,
                    accepted: now,
                    deadline: now + CLIENT_DEADLINE,
                    head: Vec::new(),
                    answer: Vec::new(),
                    written: 0,
                },
            );
        }
    }
}

fn close(poll: &Poll, clients: &mut BTreeMap<usize, Client>, i: usize) {
    if let Some(mut client) = clients.remove(&i) {
        let _ = poll.registry().deregister(&mut client.stream);
    }
}

/// Reads what the client sent and, once its head is whole, writes the answer as far as the
/// socket takes it. Returns whether the client is done with (answered, gone or at fault).
fn advance(client: &mut Client, shared: &Shared) -> bool {
    if client.answer.is_empty() {
        let mut buf = [0u8; 1024];
        loop {
            match client.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => client.head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
            if client.head.len() > MAX_HEAD {
                return true;
            }
        }
        if !client.head.windows(4).any(|w| w == b"\r\n\r\n") {
            return false;
        }
        client.answer = answer(&client.head, shared);
        client.deadline = Instant::now() + CLIENT_DEADLINE;
    }
    while client.written < client.answer.len() {
        match client.stream.write(&client.answer[client.written..]) {
            Ok(0) => return true,
            Ok(n) => client.written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    true
}

/// The answer to a request head: the page at `/metrics`, a pointer to it at `/`, 404
/// elsewhere, 405 for anything but GET and HEAD.
fn answer(head: &[u8], shared: &Shared) -> Vec<u8> {
    let head = String::from_utf8_lossy(head);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let mut scrapes = lock(&shared.scrapes);
            let now = Instant::now();
            if let Some(last) = scrapes.1 {
                scrapes.2 = scrapes.2.max(now - last);
            }
            scrapes.0 += 1;
            scrapes.1 = Some(now);
            drop(scrapes);
            ("200 OK", CONTENT_TYPE, lock(&shared.page).clone())
        }
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "openpace: live metrics at /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    response.into_bytes()
}

/// The cumulative counts of `h` (ns) at or below each bucket bound, then its total, and the
/// sum of its values in seconds (from its mean): exact to the histogram's precision.
fn buckets(h: &Histogram<u64>) -> ([u64; BUCKETS_S.len() + 1], f64) {
    let mut counts = [0u64; BUCKETS_S.len() + 1];
    for v in h.iter_recorded() {
        let seconds = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e9;
        let first = BUCKETS_S.partition_point(|le| *le < seconds);
        counts[first] += v.count_at_value();
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    (counts, h.mean() * h.len() as f64 / 1e9)
}

/// Seconds to the nanosecond, written out: 0.000000218, never 2.1800000000000002e-7.
fn seconds(s: f64) -> String {
    let ns = (s * 1e9).round().max(0.0) as u64;
    let text = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its TYPE and HELP lines, then a sample per scenario from `sample`
/// (which writes whole lines, given the scenario's label).
fn family(
    page: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    scenarios: &[Live],
    sample: impl Fn(&mut String, &str, &Live),
) {
    let _ = writeln!(page, "# TYPE {name} {kind}\n# HELP {name} {help}");
    for live in scenarios {
        let scenario = format!("scenario=\"{}\"", label(&live.name));
        sample(page, &scenario, live);
    }
}

/// A scenario's figure as a sample's value.
type Value = fn(&Live) -> f64;

/// A scenario's latency summary, if it has one yet.
type Summary = fn(&Live) -> Option<&LatencySummary>;

/// The page: every family, every scenario, `# EOF`.
fn render(scenarios: &[Live]) -> String {
    let mut page = String::new();
    counters(&mut page, scenarios);
    gauges(&mut page, scenarios);
    latencies(&mut page, scenarios);
    histogram(&mut page, scenarios);
    page.push_str("# EOF\n");
    page
}

/// The counters: requests intended, completed, ok, timed out, dropped, errors by kind.
fn counters(page: &mut String, scenarios: &[Live]) {
    let counters: [(&str, &str, Value); 5] = [
        (
            "intended",
            "requests the schedule meant to send in the measured window so far",
            |l| l.intended.round(),
        ),
        (
            "completed",
            "requests that ended with a response (ok or error)",
            |l| l.completed as f64,
        ),
        ("ok", "requests that ended with an expected response", |l| {
            l.ok as f64
        }),
        (
            "timeouts",
            "requests that timed out or were abandoned",
            |l| l.timeouts as f64,
        ),
        (
            "dropped",
            "requests dropped before they were sent (the hand-off queue was full)",
            |l| l.dropped as f64,
        ),
    ];
    for (what, help, value) in counters {
        let name = format!("openpace_requests_{what}");
        family(page, &name, "counter", help, scenarios, |p, s, l| {
            let _ = writeln!(p, "{name}_total{{{s}}} {}", value(l));
        });
    }
    family(
        page,
        "openpace_requests_errors",
        "counter",
        "requests that ended in an error, by kind",
        scenarios,
        |p, s, l| {
            for (kind, count) in &l.errors {
                let _ = writeln!(
                    p,
                    "openpace_requests_errors_total{{{s},kind=\"{}\"}} {count}",
                    label(kind)
                );
            }
        },
    );
}

/// The rates of the last interval, where the run is, whether it has finished.
fn gauges(page: &mut String, scenarios: &[Live]) {
    let gauges: [(&str, &str, Value); 4] = [
        (
            "openpace_scheduled_rps",
            "the rate the schedule meant for the last interval",
            |l| l.scheduled_rps,
        ),
        (
            "openpace_achieved_rps",
            "the rate achieved in the last interval",
            |l| l.achieved_rps,
        ),
        (
            "openpace_interval_end_seconds",
            "end of the last interval, seconds into the measured window",
            |l| l.interval_end_s,
        ),
        (
            "openpace_run_finished",
            "1 once the run has ended and the counters hold its totals",
            |l| f64::from(u8::from(l.finished)),
        ),
    ];
    for (name, help, value) in gauges {
        family(page, name, "gauge", help, scenarios, |p, s, l| {
            let _ = writeln!(p, "{name}{{{s}}} {}", value(l));
        });
    }
}

/// The last interval's percentiles of response, service and dispatch, in seconds.
fn latencies(page: &mut String, scenarios: &[Live]) {
    let latencies: [(&str, &str, f64, Summary); 3] = [
        (
            "response",
            "response time of the last interval (end - intended: corrected)",
            1e3,
            |l| l.response.as_ref(),
        ),
        (
            "service",
            "service time of the last interval (end - start)",
            1e3,
            |l| l.service.as_ref(),
        ),
        (
            "dispatch",
            "dispatch delay of the last interval (start - intended)",
            1e6,
            |l| l.dispatch.as_ref(),
        ),
    ];
    for (what, help, per_second, summary) in latencies {
        let name = format!("openpace_{what}_latest_seconds");
        family(page, &name, "gauge", help, scenarios, |p, s, l| {
            let Some(x) = summary(l) else { return };
            let series = x.percentiles.series().map(|(p, v)| (p.label(), v));
            for (stat, v) in series.chain([("max".to_string(), x.max)]) {
                let _ = writeln!(
                    p,
                    "{name}{{{s},stat=\"{stat}\"}} {}",
                    seconds(v / per_second)
                );
            }
        });
    }
}

/// The cumulative response-time histogram.
fn histogram(page: &mut String, scenarios: &[Live]) {
    family(
        page,
        "openpace_response_seconds",
        "histogram",
        "response times of the measured window so far (corrected)",
        scenarios,
        |p, s, l| {
            for (le, count) in BUCKETS_S.iter().zip(&l.buckets) {
                let _ = writeln!(
                    p,
                    "openpace_response_seconds_bucket{{{s},le=\"{le}\"}} {count}"
                );
            }
            let total = l.buckets[BUCKETS_S.len()];
            let _ = writeln!(
                p,
                "openpace_response_seconds_bucket{{{s},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(p, "openpace_response_seconds_count{{{s}}} {total}");
            let _ = writeln!(
                p,
                "openpace_response_seconds_sum{{{s}}} {}",
                seconds(l.sum_s)
            );
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_total() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        h.record_n(50_000, 3).unwrap(); // 50 µs: the first bucket
        h.record_n(2_000_000, 2).unwrap(); // 2 ms: le 0.0025
        h.record(20_000_000_000).unwrap(); // 20 s: only +Inf
        let (counts, sum) = buckets(&h);
        assert_eq!(counts[0], 3);
        assert_eq!(counts[3], 3, "le 0.001");
        assert_eq!(counts[4], 5, "le 0.0025");
        assert_eq!(counts[BUCKETS_S.len() - 1], 5, "le 10");
        assert_eq!(counts[BUCKETS_S.len()], 6);
        assert!((sum - 20.00415).abs() < 0.05, "{sum}");
    }

    #[test]
    fn seconds_are_written_out_to_the_nanosecond() {
        assert_eq!(seconds(0.000_000_218_000_000_000_000_02), "0.000000218");
        assert_eq!(seconds(2.0), "2");
        assert_eq!(seconds(0.0), "0");
        assert_eq!(seconds(1.5e-3), "0.0015");
    }

    #[test]
    fn the_page_is_openmetrics_with_every_family() {
        let live = Live {
            name: "a \"quoted\" name".into(),
            completed: 7,
            errors: BTreeMap::from([("http_500".to_string(), 2)]),
            ..Live::default()
        };
        let page = render(&[live]);
        assert!(page.ends_with("# EOF\n"));
        assert!(
            page.contains(
                "openpace_requests_completed_total{scenario=\"a \\\"quoted\\\" name\"} 7\n"
            )
        );
        assert!(page.contains("kind=\"http_500\"} 2\n"));
        assert!(page.contains("# TYPE openpace_response_seconds histogram\n"));
        assert!(page.contains("le=\"+Inf\"} 0\n"));
        // No latency gauges before the first interval.
        assert!(!page.contains("openpace_response_latest_seconds{"));
    }
}
