//! What the engine calls: the [`Target`] trait and the built-in targets.
//!
//! A target is called by one worker thread at a time; each worker builds its own instance from
//! a [`TargetFactory`], so a target keeps whatever state it likes (buffers, connections,
//! caches) without locks. A call reports a [`CallResult`]: success or an [`ErrorKind`], plus
//! [`Tags`] such as a cache hit or a fallback, which feed the cache hit and fallback rates.
//! Targets never touch the metrics: the worker times the call and records it.
//!
//! Built-ins: `noop` (measures the framework itself), `spin:DUR` (busy-waits exactly DUR on the
//! worker's core, the calibration target), `sleep:DUR` (the design sketch's mock model: a
//! 20 ms sleep) and `features` (the reference CNN + LSTM feature extractor, [`features`]).

pub mod features;
pub mod net;
pub mod spin;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::base::clock::{RunClock, monotonic_ns};
use features::FeaturesOptions;
use net::http::{HttpExchange, HttpShared, HttpSpec, HttpUrl};
use net::kv::KvSpec;
use net::tcp::{TcpExchange, TcpSpec};
use net::{Exchange, ExchangeFactory, NetTarget};
pub use spin::SpinDistribution;

/// One request as the engine scheduled it. Small and `Copy`: this is what crosses the channel
/// from the timing loop to the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Index of the request in its scenario's whole schedule (0, 1, 2, ...); a shard I of N
    /// sees I, I + N, I + 2N, ..., so the index is unique across a campaign's shards.
    pub seq: u64,
    /// When the schedule meant it to be sent, in ns from the run's origin.
    pub intended_ns: u64,
    /// When the timing loop handed it over, in ns from the run's origin: up to the wait
    /// mode's hand-off lead before `intended_ns` (the worker waits out the rest).
    pub sent_ns: u64,
}

/// The name of a failure kind, counted separately in the report (`errors_by_kind`).
///
/// Kinds are static strings so that counting one never allocates; a target defines its own
/// with [`ErrorKind::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorKind(&'static str);

impl ErrorKind {
    /// The target reported a failure with no more specific kind.
    pub const FAILED: ErrorKind = ErrorKind("failed");
    /// The target panicked; the worker caught the panic and lives on.
    pub const PANIC: ErrorKind = ErrorKind("panic");
    /// openpace's own code panicked while handling the request (a parser, the connection
    /// pool): a fault of the tool, never of the target. The worker caught it, closed the
    /// connection and lives on; the run ends with exit 3.
    pub const INTERNAL: ErrorKind = ErrorKind("internal");

    /// A kind with the given name (keep names short and `snake_case`).
    pub const fn new(name: &'static str) -> ErrorKind {
        ErrorKind(name)
    }

    /// The kind's name as it appears in reports.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Facts about a call that feed rates in the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tags(u8);

impl Tags {
    /// No tags.
    pub const NONE: Tags = Tags(0);
    /// The answer came from a cache (feeds `cache_hit_rate`).
    pub const CACHE_HIT: Tags = Tags(1);
    /// The answer came from a fallback path (feeds `fallback_rate`).
    pub const FALLBACK: Tags = Tags(2);
    /// The call's connection resumed an earlier TLS session (feeds `tls_resumed`).
    pub const TLS_RESUMED: Tags = Tags(4);

    /// Whether every tag in `other` is set here.
    pub const fn contains(self, other: Tags) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The union of two sets of tags.
    pub const fn union(self, other: Tags) -> Tags {
        Tags(self.0 | other.0)
    }
}

/// The outcome of one call: success or an error kind, plus tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// `None` on success.
    pub error: Option<ErrorKind>,
    /// Cache hit, fallback.
    pub tags: Tags,
    /// Bytes the call sent (network targets).
    pub bytes_sent: u64,
    /// Bytes the call received (network targets).
    pub bytes_received: u64,
    /// Connections the call opened (network targets).
    pub connections: u32,
    /// How long the TLS handshake of the connection the call opened took, in ns (0: none).
    pub handshake_ns: u64,
    /// For a request set's named line, its name's slot (see `NetPlan::names`).
    pub name: Option<u16>,
}

impl CallResult {
    /// A successful call.
    pub const fn ok() -> CallResult {
        CallResult {
            error: None,
            tags: Tags::NONE,
            bytes_sent: 0,
            bytes_received: 0,
            connections: 0,
            handshake_ns: 0,
            name: None,
        }
    }

    /// A failed call of the given kind.
    pub const fn error(kind: ErrorKind) -> CallResult {
        CallResult {
            error: Some(kind),
            ..CallResult::ok()
        }
    }

    /// The same outcome with `tags` added.
    pub const fn with_tags(self, tags: Tags) -> CallResult {
        CallResult {
            tags: self.tags.union(tags),
            ..self
        }
    }

    /// Whether the call succeeded.
    pub const fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Something the engine can call. See the module doc.
pub trait Target: Send {
    /// Performs one request and says how it went. Panics are caught and counted as
    /// [`ErrorKind::PANIC`].
    fn call(&mut self, request: &Request) -> CallResult;
}

impl<F> Target for F
where
    F: FnMut(&Request) -> CallResult + Send,
{
    fn call(&mut self, request: &Request) -> CallResult {
        self(request)
    }
}

/// Where a target instance will run, given to its factory.
#[derive(Clone, Copy, Debug)]
pub struct TargetContext {
    /// Index of the scenario in the run.
    pub scenario: usize,
    /// Index of the worker within the scenario.
    pub worker: usize,
    /// Number of workers in the scenario.
    pub workers: usize,
    /// The run's clock: `clock.now_ns()` is comparable with [`Request::intended_ns`].
    pub clock: RunClock,
    /// The scenario's request timeout: a network target stops waiting for a response then.
    pub request_timeout: Duration,
    /// The scenario's seed (`seed`, or the one picked and reported): targets that draw at
    /// random draw from it, so that a run repeats.
    pub seed: u64,
}

/// Builds one target instance per worker.
pub type TargetFactory = Arc<dyn Fn(&TargetContext) -> Box<dyn Target> + Send + Sync>;

/// Wraps a closure that builds targets into a [`TargetFactory`].
pub fn factory<T, F>(build: F) -> TargetFactory
where
    T: Target + 'static,
    F: Fn(&TargetContext) -> T + Send + Sync + 'static,
{
    Arc::new(move |ctx: &TargetContext| Box::new(build(ctx)) as Box<dyn Target>)
}

/// A built-in target, as named in a config file or on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetSpec {
    /// Returns at once: what is measured is the framework itself.
    Noop,
    /// Busy-waits the given time on the worker's core.
    Spin(Duration),
    /// Busy-waits a time drawn per request from a distribution (`spin:exp:MEAN`,
    /// `spin:lognormal:MEDIAN:SIGMA`), seeded by the scenario's seed.
    SpinRandom(SpinDistribution),
    /// Sleeps the given time (the sketch's mock model).
    Sleep(Duration),
    /// The reference feature extractor on generated market data.
    Features(FeaturesOptions),
    /// An HTTP/1.1 server.
    Http(HttpSpec),
    /// A TCP server.
    Tcp(TcpSpec),
    /// A Redis or memcached server.
    Kv(KvSpec),
}

impl TargetSpec {
    /// What the parser accepts, for error messages.
    pub const ALLOWED: &'static str = "noop, spin:DURATION, spin:exp:MEAN, \
        spin:lognormal:MEDIAN:SIGMA, sleep:DURATION (e.g. sleep:20ms), \
        features or features:OPTION=VALUE,... (e.g. features:repeat=0.3,edge=0.05), \
        http[s]://HOST[:PORT][/PATH], tcp://HOST:PORT (with a payload), redis://HOST[:PORT], \
        memcached://HOST[:PORT], each also over a Unix socket (http+unix:///SOCKET:/PATH, \
        tcp+unix:///SOCKET, redis+unix:///SOCKET, memcached+unix:///SOCKET), or an object {\"http\": {...}}, {\"tcp\": {...}}, \
        {\"redis\": {...}} or {\"memcached\": {...}}";

    /// Parses `noop`, `spin:20ms` or `sleep:1.5ms`.
    pub fn parse(text: &str) -> Result<TargetSpec, String> {
        let text = text.trim();
        if text.starts_with("http://") || text.starts_with("https://") {
            let spec = HttpSpec::get(HttpUrl::parse(text)?)
                .secure(&Default::default())?
                .templated()?;
            spec.validate()?;
            return Ok(TargetSpec::Http(spec));
        }
        if text.starts_with("http+unix://") || text.starts_with("https+unix://") {
            let spec = HttpSpec::get(HttpUrl::parse(text)?)
                .secure(&Default::default())?
                .templated()?;
            spec.validate()?;
            return Ok(TargetSpec::Http(spec));
        }
        if [
            "redis://",
            "memcached://",
            "redis+unix://",
            "memcached+unix://",
        ]
        .iter()
        .any(|s| text.starts_with(s))
        {
            return KvSpec::parse(text, None).map(TargetSpec::Kv);
        }
        if text.starts_with("tcp://") || text.starts_with("tcp+unix://") {
            return Err(format!(
                "`{text}` sends nothing: a tcp:// target needs a payload (--payload TEXT, or \
                 {{\"tcp\": {{\"address\": \"HOST:PORT\", \"payload\": \"PING\\r\\n\"}}}})"
            ));
        }
        let (kind, arg) = match text.split_once(':') {
            Some((kind, arg)) => (kind, Some(arg)),
            None => (text, None),
        };
        let duration = |arg: Option<&str>| -> Result<Duration, String> {
            let arg = arg.ok_or_else(|| format!("`{kind}` needs a duration, e.g. {kind}:20ms"))?;
            crate::base::units::parse_duration(arg)
                .map_err(|why| format!("`{arg}` in `{text}` is not a duration: {why}"))
        };
        match kind {
            "noop" if arg.is_none() => Ok(TargetSpec::Noop),
            "spin" => match arg.and_then(SpinDistribution::parse) {
                Some(d) => d
                    .map(TargetSpec::SpinRandom)
                    .map_err(|why| format!("`{text}`: {why}")),
                None => Ok(TargetSpec::Spin(duration(arg)?)),
            },
            "sleep" => Ok(TargetSpec::Sleep(duration(arg)?)),
            "features" => FeaturesOptions::parse(arg.unwrap_or(""))
                .map(TargetSpec::Features)
                .map_err(|why| format!("`{text}`: {why}")),
            _ => Err(format!("`{text}` is not a target")),
        }
    }

    /// A factory building this target for each worker.
    pub fn factory(&self) -> TargetFactory {
        match self {
            TargetSpec::Noop => factory(|_| |_: &Request| CallResult::ok()),
            TargetSpec::Spin(d) => {
                let nanos = d.as_nanos() as u64;
                factory(move |_| {
                    move |_: &Request| {
                        spin_for(nanos);
                        CallResult::ok()
                    }
                })
            }
            TargetSpec::SpinRandom(d) => {
                let d = *d;
                factory(move |ctx| {
                    let seed = ctx.seed;
                    move |req: &Request| {
                        spin_for(d.busy_ns(seed, req.seq));
                        CallResult::ok()
                    }
                })
            }
            TargetSpec::Sleep(d) => {
                let d = *d;
                factory(move |_| {
                    move |_: &Request| {
                        std::thread::sleep(d);
                        CallResult::ok()
                    }
                })
            }
            TargetSpec::Features(options) => options.factory(),
            TargetSpec::Http(_) | TargetSpec::Tcp(_) | TargetSpec::Kv(_) => {
                let plan = self.network().expect("a network target");
                factory(move |ctx: &TargetContext| {
                    let peer =
                        net::Peer::resolve(&plan.authority).expect("resolved before the run");
                    NetTarget::new(
                        peer,
                        &plan.exchange,
                        (plan.connect_timeout, ctx.request_timeout),
                        plan.max_response_bytes,
                        ctx.clock,
                    )
                    .expect("a mio Poll for the worker")
                    .with_tls(plan.tls.clone())
                })
            }
        }
    }

    /// Whether this target is reached over the network.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            TargetSpec::Http(_) | TargetSpec::Tcp(_) | TargetSpec::Kv(_)
        )
    }

    /// How to reach a network target: `None` for in-process targets.
    pub fn network(&self) -> Option<NetPlan> {
        let mut tls = None;
        let mut http2 = None;
        type Parts = (String, ExchangeFactory, net::Connections, Duration, u64);
        let (authority, exchange, connections, connect_timeout, max_response_bytes): Parts =
            match self {
                TargetSpec::Http(spec) => {
                    // Rendered once: every connection shares the bytes.
                    let shared = HttpShared::new(spec);
                    tls = spec.tls.clone();
                    if spec.http2 {
                        let shared = shared.clone();
                        http2 = Some(H2Plan {
                            exchange: Arc::new(move || {
                                Box::new(HttpExchange::new(shared.clone()))
                                    as Box<dyn net::StreamExchange>
                            }),
                            streams: spec.streams,
                        });
                    }
                    (
                        spec.url.endpoint(),
                        Arc::new(move || {
                            Box::new(HttpExchange::new(shared.clone())) as Box<dyn Exchange>
                        }),
                        spec.connections,
                        spec.connect_timeout,
                        spec.max_response_bytes,
                    )
                }
                TargetSpec::Tcp(spec) => {
                    let shared = Arc::new(spec.clone());
                    (
                        spec.address.clone(),
                        Arc::new(move || {
                            Box::new(TcpExchange::new(shared.clone())) as Box<dyn Exchange>
                        }),
                        spec.connections,
                        spec.connect_timeout,
                        spec.max_response_bytes,
                    )
                }
                TargetSpec::Kv(spec) => {
                    let shared = Arc::new(spec.clone());
                    (
                        spec.address.clone(),
                        Arc::new(move || Box::new(shared.exchange()) as Box<dyn Exchange>),
                        spec.connections,
                        spec.connect_timeout,
                        spec.max_response_bytes,
                    )
                }
                _ => return None,
            };
        Some(NetPlan {
            authority,
            exchange,
            connections: connections.limit(),
            open_all: connections.opens_all(),
            connect_timeout,
            max_response_bytes,
            tls,
            http2,
        })
    }

    /// For network targets, connects once (and for TLS, shakes hands) to check that the
    /// server is there; a run that cannot reach its target at the start fails fast (exit 3).
    /// Over HTTP/2, says whether the server agreed to it (see [`net::probe::check`]).
    /// `stopped` is asked between short waits: a stop request ends the check.
    pub fn preflight(
        &self,
        stopped: &dyn Fn() -> bool,
    ) -> Result<net::probe::Agreed, net::probe::Probe> {
        self.network()
            .map_or(Ok(net::probe::Agreed::AsAsked), |plan| {
                net::probe::check(
                    &plan.authority,
                    plan.connect_timeout,
                    plan.tls.as_deref(),
                    plan.http2.is_some(),
                    stopped,
                )
            })
    }

    /// An HTTP/2 target over TLS whose server chose HTTP/1.1 in ALPN speaks HTTP/1.1 from
    /// here on (its TLS client offering `http/1.1` alone).
    pub fn fall_back_to_http1(&mut self) {
        if let TargetSpec::Http(spec) = self {
            spec.http2 = false;
            spec.tls = spec
                .tls
                .as_ref()
                .map(|t| Arc::new(t.with_alpn(&[b"http/1.1"])));
        }
    }

    /// The names of a request set's lines, in order of first appearance (empty without a
    /// set): results are kept per name, in this order.
    pub fn request_names(&self) -> Vec<String> {
        let picker = match self {
            TargetSpec::Http(spec) => spec.set.as_ref().map(|s| &s.picker),
            TargetSpec::Kv(spec) => spec.picker.as_ref(),
            _ => None,
        };
        picker.map_or_else(Vec::new, |p| p.names.to_vec())
    }

    /// The connections a network target asks for, if it says.
    pub fn connections(&self) -> Option<usize> {
        self.network().and_then(|plan| plan.connections)
    }
}

/// How the engine reaches a network target.
#[derive(Clone)]
pub struct NetPlan {
    /// `host:port` as configured, resolved when the run starts, or a Unix socket's path
    /// (starting with `/`).
    pub authority: String,
    /// Builds each connection's protocol state.
    pub exchange: ExchangeFactory,
    /// The connections asked for, spread over the workers.
    pub connections: Option<usize>,
    /// Whether every connection is opened before the run begins (`connections: N`), or only
    /// as requests need them (`auto`, `auto:N`).
    pub open_all: bool,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// The largest response read (`max_response_bytes`).
    pub max_response_bytes: u64,
    /// For a TLS target, what its connections share.
    pub tls: Option<Arc<net::tls::TlsClient>>,
    /// For an HTTP target spoken over HTTP/2, its streams.
    pub http2: Option<H2Plan>,
}

/// How the engine speaks HTTP/2 to a target.
#[derive(Clone)]
pub struct H2Plan {
    /// Builds each stream slot's protocol state.
    pub exchange: net::StreamExchangeFactory,
    /// Streams per connection.
    pub streams: usize,
}

/// Busy-waits `nanos` on the calling thread's core.
#[inline]
fn spin_for(nanos: u64) {
    let until = monotonic_ns() + nanos;
    while monotonic_ns() < until {
        std::hint::spin_loop();
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Noop => f.write_str("noop"),
            TargetSpec::Spin(d) => write!(f, "spin:{}", crate::base::units::format_duration(*d)),
            TargetSpec::SpinRandom(d) => d.fmt(f),
            TargetSpec::Sleep(d) => write!(f, "sleep:{}", crate::base::units::format_duration(*d)),
            TargetSpec::Features(options) => options.fmt(f),
            TargetSpec::Http(spec) if spec.http2 => {
                write!(f, "{} {} over HTTP/2", spec.method, spec.url.display())
            }
            TargetSpec::Http(spec) => write!(f, "{} {}", spec.method, spec.url.display()),
            TargetSpec::Tcp(spec) => write!(f, "{}", net::url_of("tcp", &spec.address)),
            TargetSpec::Kv(spec) => write!(
                f,
                "{} {}",
                net::url_of(spec.protocol.scheme(), &spec.address),
                spec.command
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for text in [
            "noop",
            "spin:20ms",
            "sleep:20ms",
            "features",
            "features:repeat=0.5,seed=7",
            "spin:500us",
            "sleep:1.5s",
        ] {
            let spec = TargetSpec::parse(text).unwrap();
            assert_eq!(
                TargetSpec::parse(&spec.to_string()).unwrap(),
                spec,
                "{text}"
            );
        }
        assert_eq!(
            TargetSpec::parse("sleep:20ms").unwrap(),
            TargetSpec::Sleep(Duration::from_millis(20))
        );
        assert!(TargetSpec::parse("sleep").is_err());
        assert!(TargetSpec::parse("noop:1ms").is_err());
        assert!(TargetSpec::parse("http").is_err());
        assert!(TargetSpec::parse("spin:fast").is_err());
        assert!(TargetSpec::parse("features:window=2").is_err());
    }

    /// Issue 30, part 3: each stream protocol's `+unix` form names the socket's path as the
    /// address and prints back as written; a relative path is refused.
    #[test]
    fn unix_socket_targets_parse_and_print_back() {
        for (text, shown, address) in [
            (
                "http+unix:///run/app.sock:/a?b=1",
                "GET http+unix:///run/app.sock:/a?b=1",
                "/run/app.sock",
            ),
            (
                "http+unix:///run/app.sock",
                "GET http+unix:///run/app.sock:/",
                "/run/app.sock",
            ),
            (
                "redis+unix:///run/r.sock",
                "redis+unix:///run/r.sock PING",
                "/run/r.sock",
            ),
            (
                "memcached+unix:///run/m.sock",
                "memcached+unix:///run/m.sock version",
                "/run/m.sock",
            ),
        ] {
            let spec = TargetSpec::parse(text).unwrap();
            assert_eq!(spec.to_string(), shown);
            assert_eq!(spec.network().unwrap().authority, address, "{text}");
        }
        assert!(TargetSpec::parse("redis+unix://run/r.sock").is_err());
        assert!(TargetSpec::parse("http+unix://app.sock:/").is_err());
    }

    #[test]
    fn spin_busy_waits_at_least_its_duration() {
        let spec = TargetSpec::parse("spin:2ms").unwrap();
        let clock = RunClock::starting_in(Duration::ZERO);
        let ctx = TargetContext {
            scenario: 0,
            worker: 0,
            workers: 1,
            clock,
            request_timeout: Duration::from_secs(1),
            seed: 1,
        };
        let mut target = spec.factory()(&ctx);
        let request = Request {
            seq: 0,
            intended_ns: 0,
            sent_ns: 0,
        };
        let before = monotonic_ns();
        assert!(target.call(&request).is_ok());
        assert!(monotonic_ns() - before >= 2_000_000);
    }

    #[test]
    fn tags_combine() {
        let r = CallResult::ok()
            .with_tags(Tags::CACHE_HIT)
            .with_tags(Tags::FALLBACK);
        assert!(r.tags.contains(Tags::CACHE_HIT) && r.tags.contains(Tags::FALLBACK));
        assert!(!CallResult::ok().tags.contains(Tags::CACHE_HIT));
    }
}
