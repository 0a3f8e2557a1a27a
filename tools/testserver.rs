//! `openpace-testserver`: a scriptable HTTP/1.1 keep-alive (or TCP echo) server on loopback,
//! for openpace's integration tests and for trying openpace without a server of one's own.
//!
//! One thread per connection, plain `std::net`. It prints `listening on ADDR` as its first
//! line of output, then serves until killed or until `--exit-after`. Every behaviour below is
//! off unless asked for; "every N" counts requests over the whole server (the Nth, 2Nth, ...).
//!
//! ```text
//! --bind ADDR            address to listen on (default 127.0.0.1:0, an ephemeral port)
//! --service DUR          time to wait before answering (default 0)
//! --service-max DUR      answer after a uniformly random time in [service, service-max]
//! --stall-at DUR         stall once, starting this long after the first request ...
//! --stall-for DUR        ... for this long: nothing is answered until the stall ends
//! --status N             status code of every response (default 200)
//! --body-size N          body bytes (default 2)
//! --chunked              send bodies chunked (in chunks of at most 7 bytes)
//! --close-after N        answer the Nth request of each connection with Connection: close
//! --drop-after N         close each connection silently after its Nth response
//! --reset-every N        send part of a head, then a TCP reset
//! --garbage-every N      answer with bytes that are not HTTP
//! --bad-header-every N   answer with a malformed header line
//! --huge-header-every N  answer with 80 KiB of headers
//! --cut-every N          send half the body, then close
//! --hang-every N         never answer (the connection stays open)
//! --trickle-every N      send the body one byte at a time, --trickle-gap apart
//! --trickle-gap DUR      the wait between a trickled body's bytes (default 100ms)
//! --tcp-echo             be a TCP line echo server instead of HTTP
//! --exit-after DUR       exit after this long (default 10m)
//! ```
//!
//! `GET /__stats` answers `{"connections": C, "requests": R}`: connections accepted and
//! requests answered so far, this one excluded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Script {
    service: Duration,
    service_max: Option<Duration>,
    stall_at: Option<Duration>,
    stall_for: Duration,
    status: u16,
    body_size: usize,
    chunked: bool,
    close_after: u64,
    drop_after: u64,
    reset_every: u64,
    garbage_every: u64,
    bad_header_every: u64,
    huge_header_every: u64,
    cut_every: u64,
    hang_every: u64,
    trickle_every: u64,
    trickle_gap: Duration,
    tcp_echo: bool,
}

struct Shared {
    script: Script,
    first_request: OnceLock<Instant>,
    requests: AtomicU64,
    answered: AtomicU64,
    connections: AtomicU64,
}

fn main() {
    let mut bind = "127.0.0.1:0".to_string();
    let mut exit_after = Duration::from_secs(600);
    let mut script = Script {
        status: 200,
        body_size: 2,
        trickle_gap: Duration::from_millis(100),
        ..Script::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--bind" => bind = value(),
            "--service" => script.service = duration(&value()),
            "--service-max" => script.service_max = Some(duration(&value())),
            "--stall-at" => script.stall_at = Some(duration(&value())),
            "--stall-for" => script.stall_for = duration(&value()),
            "--status" => script.status = number(&value()) as u16,
            "--body-size" => script.body_size = number(&value()) as usize,
            "--chunked" => script.chunked = true,
            "--close-after" => script.close_after = number(&value()),
            "--drop-after" => script.drop_after = number(&value()),
            "--reset-every" => script.reset_every = number(&value()),
            "--garbage-every" => script.garbage_every = number(&value()),
            "--bad-header-every" => script.bad_header_every = number(&value()),
            "--huge-header-every" => script.huge_header_every = number(&value()),
            "--cut-every" => script.cut_every = number(&value()),
            "--hang-every" => script.hang_every = number(&value()),
            "--trickle-every" => script.trickle_every = number(&value()),
            "--trickle-gap" => script.trickle_gap = duration(&value()),
            "--tcp-echo" => script.tcp_echo = true,
            "--exit-after" => exit_after = duration(&value()),
            "-h" | "--help" => {
                println!("openpace-testserver: see the doc comment of tools/testserver.rs");
                return;
            }
            other => fail(&format!("unknown flag `{other}`")),
        }
    }
    let listener = TcpListener::bind(&bind).unwrap_or_else(|e| fail(&format!("bind {bind}: {e}")));
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    std::thread::spawn(move || {
        std::thread::sleep(exit_after);
        std::process::exit(0);
    });
    let shared = Arc::new(Shared {
        script,
        first_request: OnceLock::new(),
        requests: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        connections: AtomicU64::new(0),
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        shared.connections.fetch_add(1, Relaxed);
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            if shared.script.tcp_echo {
                echo(stream);
            } else {
                serve(stream, &shared);
            }
        });
    }
}

fn fail(why: &str) -> ! {
    eprintln!("openpace-testserver: {why}");
    std::process::exit(2);
}

fn number(text: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| fail(&format!("`{text}` is not a number")))
}

fn duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: f64 = n
        .parse()
        .unwrap_or_else(|_| fail(&format!("`{text}` is not a duration")));
    let seconds = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => fail(&format!("`{text}`: use us, ms, s or m")),
    };
    Duration::from_secs_f64(seconds)
}

/// Reads lines and writes each back.
fn echo(stream: TcpStream) {
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if writer.write_all(&line).is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves HTTP requests on one connection until it closes.
fn serve(mut stream: TcpStream, shared: &Shared) {
    let script = &shared.script;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut on_connection = 0u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ shared.connections.load(Relaxed);
    loop {
        // Read one request head (and its body, if it says it has one).
        let (head_len, body_len, stats) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = request.parse(&buf) {
                let length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .unwrap_or(0usize);
                break (n, length, request.path == Some("/__stats"));
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        while buf.len() < head_len + body_len {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_len + body_len);
        if stats {
            let body = format!(
                "{{\"connections\": {}, \"requests\": {}}}",
                shared.connections.load(Relaxed),
                shared.answered.load(Relaxed)
            );
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let arrived = Instant::now();
        let first = *shared.first_request.get_or_init(|| arrived);
        let n = shared.requests.fetch_add(1, Relaxed) + 1;
        on_connection += 1;
        let every = |k: u64| k > 0 && n % k == 0;

        // Service time, then the stall if this request is caught in it.
        let mut service = script.service;
        if let Some(max) = script.service_max {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let span = max.saturating_sub(script.service).as_nanos() as u64;
            service += Duration::from_nanos(if span == 0 { 0 } else { seed % span });
        }
        if !service.is_zero() {
            std::thread::sleep(service);
        }
        if let Some(at) = script.stall_at {
            let (begin, end) = (first + at, first + at + script.stall_for);
            let now = Instant::now();
            if now >= begin && now < end {
                std::thread::sleep(end - now);
            }
        }

        if every(script.hang_every) {
            std::thread::sleep(Duration::from_secs(3600));
            return;
        }
        if every(script.reset_every) {
            // Part of a head, then a reset: a reset before any byte would look like a
            // keep-alive race, which clients rightly send again.
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le");
            std::thread::sleep(Duration::from_millis(1));
            reset(stream);
            return;
        }
        if every(script.garbage_every) {
            let _ = stream.write_all(b"this is not http\r\n\r\n");
            shared.answered.fetch_add(1, Relaxed);
            continue;
        }
        let body = vec![b'x'; script.body_size];
        let mut head = format!(
            "HTTP/1.1 {} Test\r\nServer: openpace-testserver\r\n",
            script.status
        );
        if every(script.bad_header_every) {
            head.push_str("this line is no header\r\n");
        }
        if every(script.huge_header_every) {
            for i in 0..80 {
                head.push_str(&format!("X-Filler-{i}: {}\r\n", "f".repeat(1000)));
            }
        }
        let closing = script.close_after > 0 && on_connection % script.close_after == 0;
        if closing {
            head.push_str("Connection: close\r\n");
        }
        let mut response = head.into_bytes();
        if script.chunked {
            response.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for piece in body.chunks(7) {
                response.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
                response.extend_from_slice(piece);
                response.extend_from_slice(b"\r\n");
            }
            response.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        } else {
            response
                .extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            response.extend_from_slice(&body);
        }
        if every(script.trickle_every) {
            let head = response.len() - body.len();
            if stream.write_all(&response[..head]).is_err() {
                return;
            }
            for byte in &response[head..] {
                std::thread::sleep(script.trickle_gap);
                if stream.write_all(std::slice::from_ref(byte)).is_err() {
                    return;
                }
            }
            shared.answered.fetch_add(1, Relaxed);
            continue;
        }
        if every(script.cut_every) {
            let _ = stream.write_all(&response[..response.len() - body.len() / 2 - 1]);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        if stream.write_all(&response).is_err() {
            return;
        }
        shared.answered.fetch_add(1, Relaxed);
        if closing || (script.drop_after > 0 && on_connection % script.drop_after == 0) {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Closes with a TCP reset: linger on, zero seconds.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
