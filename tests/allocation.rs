//! A network worker allocates nothing per request (plain HTTP, HTTPS, HTTP/2, Redis,
//! memcached, raw TCP): a counting allocator (this test binary's
//! global allocator, counting the calling thread only) watches a pool like a worker's send
//! thousands of templated requests to real servers, after a warm-up in which its buffers grow
//! to their longest rendering.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use openpace::targets::{Target, TargetSpec};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; counting touches only a
// const-initialized thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Builds `spec`'s target as a worker would and returns the allocations its calls made on
/// this thread over `n` requests, after 500 to warm up.
fn allocations_per_call(spec: &TargetSpec, n: u64) -> (u64, u64) {
    let mut target = common::worker_target(spec, 7);
    let call = |seq: u64, target: &mut Box<dyn Target>| {
        let result = target.call(&common::request(seq));
        assert!(result.is_ok(), "request {seq}: {result:?}");
    };
    for seq in 0..500 {
        call(seq, &mut target);
    }
    let before = allocations();
    for seq in 500..500 + n {
        call(seq, &mut target);
    }
    (allocations() - before, n)
}

/// A pool of one connection to `authority`, as the tests that drive a pool directly use it.
fn one_connection(authority: &str, timestamps: bool) -> openpace::targets::net::PoolConfig {
    openpace::targets::net::PoolConfig {
        peer: openpace::targets::net::Peer::resolve(authority).unwrap(),
        connections: 1,
        open_all: false,
        connect_timeout_ns: 1_000_000_000,
        request_timeout_ns: 5_000_000_000,
        max_retries: 0,
        seed: 0,
        shard: 0,
        max_response_bytes: 1 << 20,
        busy_poll_us: 0,
        timestamps,
    }
}

fn object(text: &str) -> TargetSpec {
    common::net_target(text)
}

#[test]
fn templated_http_requests_allocate_nothing_per_request() {
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let spec = object(&format!(
        r#"{{"http": {{"url": "http://{}/item/{{{{seq}}}}?r={{{{rand_int 1 1000000}}}}",
            "method": "POST", "headers": {{"X-Id": "{{{{rand_hex 32}}}}"}},
            "body": "{{\"n\": {{{{seq}}}}, \"s\": {{{{shard}}}}}}"}}}}"#,
        nginx.addr
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("templated HTTP: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

#[test]
fn templated_redis_commands_allocate_nothing_per_request() {
    let Some(redis) = common::Daemon::redis() else {
        return;
    };
    let spec = object(&format!(
        r#"{{"redis": {{"address": "127.0.0.1:{}", "command": "SET key:{{{{seq}}}} {{{{rand_hex 64}}}}"}}}}"#,
        redis.port
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("templated redis SET: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

#[test]
fn templated_memcached_commands_allocate_nothing_per_request() {
    let Some(memcached) = common::Daemon::memcached() else {
        return;
    };
    let spec = object(&format!(
        r#"{{"memcached": {{"address": "127.0.0.1:{}", "command": "set key:{{{{seq}}}} {{{{rand_hex 64}}}}"}}}}"#,
        memcached.port
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("templated memcached set: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

/// A raw TCP exchange: an inline Redis PING, read up to its line end.
#[test]
fn tcp_exchanges_allocate_nothing_per_request() {
    let Some(redis) = common::Daemon::redis() else {
        return;
    };
    let spec = object(&format!(
        r#"{{"tcp": {{"address": "127.0.0.1:{}", "payload": "PING\r\n", "until": "\r\n"}}}}"#,
        redis.port
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("tcp PING: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

/// Issue 28: over TLS too, once the handshake is done (tls/records.rs seals and opens the
/// records in the connection's own buffers).
#[test]
fn https_requests_allocate_nothing_per_request() {
    let Some(nginx) = common::Nginx::start_tls() else {
        return;
    };
    let tls = nginx.tls.as_ref().unwrap();
    let spec = object(&format!(
        r#"{{"http": {{"url": "https://{}/item/{{{{seq}}}}", "cacert": "{}"}}}}"#,
        tls.addr,
        tls.ca.display()
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("https: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

#[test]
fn a_request_set_of_three_named_requests_allocates_nothing_per_request() {
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set.jsonl");
    std::fs::write(
        &set,
        "{\"name\": \"login\", \"method\": \"POST\", \"url\": \"/login\", \"body\": \"u{{seq}}\"}\n\
         {\"name\": \"item\", \"url\": \"/item/{{rand_int 1 1000}}\", \"weight\": 2}\n\
         {\"name\": \"health\", \"url\": \"/health\"}\n",
    )
    .unwrap();
    let spec = object(&format!(
        r#"{{"http": {{"url": "http://{}/", "requests": "{}"}}}}"#,
        nginx.addr,
        set.display()
    ));
    let (allocated, calls) = allocations_per_call(&spec, 5_000);
    println!("request set of 3 named requests: {allocated} allocations in {calls} requests");
    assert_eq!(allocated, 0, "{allocated} allocations in {calls} requests");
}

#[test]
fn the_request_logs_tap_allocates_nothing_per_request() {
    use openpace::metrics::request_log::{Entry, LogTap, Outcome};
    let (tap, rx) = LogTap::new(0, 0);
    // The writer's side, on its own thread (its allocations are not this thread's).
    let drain = std::thread::spawn(move || rx.iter().count());
    let entry = |seq: u64| Entry {
        seq,
        intended_ns: seq * 1_000,
        handed_ns: seq * 1_000,
        sent_ns: seq * 1_000 + 10,
        first_byte_ns: seq * 1_000 + 500,
        end_ns: seq * 1_000 + 600,
        bytes_sent: 70,
        bytes_received: 150,
        connection: 1,
        outcome: Outcome::Ok,
        ..Entry::default()
    };
    for seq in 0..1_000 {
        tap.offer(|| entry(seq));
    }
    let before = allocations();
    for seq in 1_000..201_000 {
        tap.offer(|| entry(seq));
    }
    assert_eq!(allocations() - before, 0, "allocations over 200,000 offers");
    let offered = tap.counts().offered;
    drop(tap);
    let drained = drain.join().unwrap() as u64;
    let c = (offered, drained);
    assert!(c.1 <= c.0 && c.1 > 0, "{c:?}");
}

#[test]
fn kernel_timestamped_requests_allocate_nothing_per_request() {
    use openpace::base::clock::RunClock;
    use openpace::targets::net::Pool;
    let Some(nginx) = common::Nginx::start() else {
        return;
    };
    let spec = object(&format!(
        r#"{{"http": {{"url": "http://{}/"}}}}"#,
        nginx.addr
    ));
    let plan = spec.network().expect("a network target");
    let config = one_connection(&plan.authority, true);
    let clock = RunClock::starting_in(std::time::Duration::ZERO);
    let mut pool = Pool::new(config, &plan.exchange, clock).unwrap();
    // One request as a worker runs it: started, polled until it is done; its stamps.
    let mut call = |seq: u64| {
        pool.start(common::request(seq));
        loop {
            if let Some(done) = pool.done().pop() {
                assert!(done.result.is_ok(), "request {seq}: {:?}", done.result);
                let k = done.kernel.expect("timestamps on");
                return (k.tx_ns, k.rx_last_ns);
            }
            pool.wait(None, true);
        }
    };
    for seq in 0..500 {
        call(seq);
    }
    let before = allocations();
    let mut stamped = 0;
    for seq in 500..5_500 {
        let (tx, rx) = call(seq);
        stamped += u64::from(tx > 0 && rx > tx);
    }
    let allocated = allocations() - before;
    assert_eq!(
        allocated, 0,
        "{allocated} allocations in 5,000 stamped requests"
    );
    assert!(
        stamped >= 4_750,
        "{stamped} of 5,000 requests had both stamps, in order"
    );
}

/// Issue 30: over HTTP/2 (h2c against nginx, 10 streams in flight on one connection), after
/// a warm-up in which the slots' buffers and the HPACK tables grow.
#[test]
fn http2_requests_allocate_nothing_per_request() {
    use openpace::base::clock::RunClock;
    use openpace::targets::net::h2::H2Pool;
    let port = format!("127.0.0.1:{}", common::free_port());
    let servers = |_: &str| {
        format!("server {{ listen {port} http2; location / {{ return 200 \"ok\\n\"; }} }}\n")
    };
    let Some(_nginx) = common::Nginx::with_servers(servers, std::slice::from_ref(&port)) else {
        return;
    };
    let spec = object(&format!(
        r#"{{"http": {{"url": "http://{port}/item/{{{{seq}}}}", "http_version": "2",
            "headers": {{"X-Id": "{{{{rand_hex 32}}}}"}}}}}}"#
    ));
    let plan = spec.network().expect("a network target");
    let h2 = plan.http2.expect("HTTP/2");
    let config = one_connection(&plan.authority, false);
    let clock = RunClock::starting_in(std::time::Duration::ZERO);
    let mut pool = H2Pool::new(config, 10, h2.exchange, clock).unwrap();
    // Requests as a worker runs them: 10 in flight, each ended one replaced by the next.
    let mut run = |seqs: std::ops::Range<u64>| {
        let mut next = seqs.start;
        let mut ended = 0;
        while ended < seqs.end - seqs.start {
            while next < seqs.end && pool.free() > 0 && pool.in_flight() < 10 {
                pool.start(common::request(next));
                next += 1;
            }
            pool.wait(None, true);
            for done in pool.done().drain(..) {
                assert!(done.result.is_ok(), "{:?}", done.result);
                ended += 1;
            }
        }
    };
    run(0..1_000);
    let before = allocations();
    run(1_000..6_000);
    let allocated = allocations() - before;
    println!("HTTP/2: {allocated} allocations in 5,000 requests");
    assert_eq!(allocated, 0, "{allocated} allocations in 5,000 requests");
}
