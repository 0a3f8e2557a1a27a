//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::sync::{Mutex, MutexGuard};

use openpace::{LoadTestConfig, LoadTestRunner, RunResult, ScenarioResult, TargetFactory};

/// A real program a test needs is not installed: under `CI=true` the test fails (CI must
/// install it, `.ci/run` does); elsewhere it says so and skips.
pub fn missing<T>(program: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{program} is not installed, and CI must run this test (.ci/run installs it)");
    }
    eprintln!("SKIPPED: {program} is not installed (.ci/run installs it)");
    None
}

/// Runs the `openpace` binary with `args` and waits for it (`$COLUMNS` unset, so that the
/// progress lines have their default width whatever the shell exported).
pub fn openpace(args: &[&str]) -> std::process::Output {
    openpace_with(&[], args)
}

/// Runs the `openpace` binary with `args` and the environment variables `vars` added.
pub fn openpace_with(vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
        .env_remove("COLUMNS")
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `openpace run --target TARGET --rate RATE --duration SECS --quiet --out REPORT FLAGS...`.
pub fn run_at(
    target: &str,
    rate: &str,
    secs: &str,
    report: &std::path::Path,
    flags: &[&str],
) -> std::process::Output {
    let (report, rest) = (report.to_str().unwrap(), ["--quiet", "--out"]);
    let head = [
        "run",
        "--target",
        target,
        "--rate",
        rate,
        "--duration",
        secs,
    ];
    let args: Vec<&str> = head
        .iter()
        .chain(&rest)
        .copied()
        .chain([report])
        .chain(flags.iter().copied())
        .collect();
    openpace(&args)
}

/// `openpace log LOG`'s CSV rows, each a map from the header's column names (exit 0 checked;
/// no field of the tests' logs holds a comma).
pub fn log_rows(log: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let out = openpace(&["log", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            names
                .iter()
                .zip(l.split(','))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// What a command printed on stderr.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A JSON file a run wrote (its report), parsed.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that `args` are rejected with exit code 2 and a message containing every `needle`.
pub fn assert_rejected(args: &[&str], needles: &[&str]) {
    let out = openpace(args);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} -> {message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "{args:?}: {needle:?} not in: {message}"
        );
    }
}

/// One test per case: `openpace run --out none ARGS` is rejected with exit 2 and a message
/// holding every needle.
#[macro_export]
macro_rules! rejects {
    ($($name:ident: [$($arg:expr),*] => [$($needle:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                common::assert_rejected(&["run", "--out", "none", $($arg),*], &[$($needle),*]);
            }
        )*
    };
}

/// Engine runs take both cores of the test machine; tests in one binary take turns.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A short scenario with quiet defaults for tests.
pub fn config(name: &str, rate: f64, seconds: f64) -> LoadTestConfig {
    LoadTestConfig {
        name: name.to_string(),
        target_rps: rate,
        duration_seconds: seconds,
        num_workers: 2,
        metrics_collection_interval: 1.0,
        ..LoadTestConfig::default()
    }
}

/// Runs one scenario with an in-process target and returns its result.
pub fn run_with(config: LoadTestConfig, target: TargetFactory) -> (RunResult, ScenarioResult) {
    let _turn = serial();
    let result = LoadTestRunner::new(config)
        .expect("valid config")
        .with_target(target)
        .run()
        .expect("run starts");
    let scenario = result.scenarios[0].clone();
    (result, scenario)
}

/// Runs one scenario with its built-in target.
pub fn run(config: LoadTestConfig) -> (RunResult, ScenarioResult) {
    let target = config.target.factory();
    run_with(config, target)
}

/// The intended sends of a scenario's measured window, computed from its schedule alone.
pub fn scheduled(config: &LoadTestConfig) -> u64 {
    let schedule = openpace::Schedule::new(
        config.rate_profile(),
        config.arrival,
        config.seed.unwrap_or(0),
    );
    schedule.count() as u64
}

/// Starts `openpace run ARGS --out REPORT`, sends `signal` 1.5 s after it printed its first
/// line, and returns its exit code; fails if it has not ended 20 s after the signal.
pub fn interrupt_run(args: &[&str], report: &std::path::Path, signal: libc::c_int) -> Option<i32> {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The "running" line is printed just before the run starts.
    let mut stderr = child.stderr.take().unwrap();
    let mut first = [0u8; 16];
    stderr.read_exact(&mut first).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("openpace did not stop within 20 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    status.code()
}

/// A running test server, killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// host:port it listens on.
    pub addr: String,
}

impl Server {
    pub fn start(flags: &[&str]) -> Server {
        Server::start_on("127.0.0.1:0", flags)
    }

    pub fn start_on(bind: &str, flags: &[&str]) -> Server {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openpace-testserver"))
            .args(["--bind", bind, "--exit-after", "120s"])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the test server starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the test server says where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// Pins the server's threads to `core` (those it starts later inherit it).
    pub fn pin(&self, core: usize) {
        // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it for core < 1024.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            let tasks = format!("/proc/{}/task", self.child.id());
            for task in std::fs::read_dir(tasks).into_iter().flatten().flatten() {
                if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                    libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), &set);
                }
            }
        }
    }

    /// Kills the server (it stops answering and its connections are reset).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// (connections accepted, requests answered) as the server counted them.
    pub fn stats(&self) -> (u64, u64) {
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("stats connection");
        stream
            .write_all(b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 512];
        while !text.contains('}') {
            let n = stream.read(&mut buf).expect("stats response");
            assert!(n > 0, "stats connection closed early");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let body = &text[text.find('{').unwrap()..];
        let v: serde_json::Value = serde_json::from_str(body).expect("stats JSON");
        (
            v["connections"].as_u64().unwrap(),
            v["requests"].as_u64().unwrap(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real nginx (one worker process) on 127.0.0.1 answering `ok\n` from memory, stopped when
/// dropped. `None` (with a message) where nginx is not installed; `.ci/run` installs it.
pub struct Nginx {
    child: std::process::Child,
    /// Its directory: configuration, logs, certificates.
    pub dir: std::path::PathBuf,
    /// host:port it listens on.
    pub addr: String,
    /// The Unix socket the same server listens on (answering `$host\n` at /host).
    pub unix_socket: String,
    /// With [`Nginx::start_tls`]: its TLS listeners and the CA that signed them.
    pub tls: Option<NginxTls>,
}

/// The TLS side of an [`Nginx`]: certificates made for the test by Debian's `openssl`.
pub struct NginxTls {
    /// A listener whose certificate names `localhost` and 127.0.0.1, signed by `ca`.
    pub addr: String,
    /// A listener whose certificate (signed by `ca`) names only `elsewhere.test`.
    pub wrong_name_addr: String,
    /// A listener whose certificate (signed by `ca`, for 127.0.0.1) expired yesterday.
    pub expired_addr: String,
    /// A listener that serves the CA's own certificate (which names no host).
    pub ca_as_server_addr: String,
    /// A listener serving `self_signed`, made by `openssl req -x509` for localhost and
    /// 127.0.0.1 (a self-signed CA certificate, as people make one by hand).
    pub self_signed_addr: String,
    /// That certificate (PEM).
    pub self_signed: std::path::PathBuf,
    /// The test CA's certificate (PEM): `--cacert` for both listeners.
    pub ca: std::path::PathBuf,
    /// Listeners with the `good` certificate that each force one protocol version and cipher
    /// (`tls12-aes128-gcm`, `tls12-chacha20`, `tls13-chacha20`, `tls13-aes256-gcm`) and close
    /// a connection after 20 requests, so that reconnects resume; each also serves `/big`
    /// (200,000 bytes: many records).
    pub suites: Vec<(&'static str, String)>,
}

/// The protocol and cipher of each of [`NginxTls::suites`], in nginx's words.
const SUITES: [(&str, &str); 4] = [
    (
        "tls12-aes128-gcm",
        "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;",
    ),
    (
        "tls12-chacha20",
        "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305;",
    ),
    (
        "tls13-chacha20",
        "ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;",
    ),
    (
        "tls13-aes256-gcm",
        "ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;",
    ),
];

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Makes `dir/ca.pem` and, signed by it, `dir/NAME.pem` + `dir/NAME.key` for each
/// (NAME, subjectAltName, days valid) triple; -1 days makes one that expired yesterday. False
/// when `openssl` is missing.
pub fn make_certificates(dir: &std::path::Path, leaves: &[(&str, &str, &str)]) -> bool {
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem"],
    ]
    .concat();
    if !openssl(&[&ca[..], &["-days", "2", "-subj", "/CN=openpace test CA"]].concat()) {
        return false;
    }
    // What `openssl req -x509` makes for a server by hand: self-signed, a CA certificate
    // (basicConstraints CA:TRUE, openssl's default), naming localhost and 127.0.0.1.
    let self_signed = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "selfsigned.key",
            "-out",
            "selfsigned.pem",
            "-days",
            "2",
        ],
        &["-subj", "/CN=localhost"],
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    ]
    .concat();
    if !openssl(&self_signed) {
        return false;
    }
    for (name, san, days) in leaves {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        let req = [
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=leaf"],
        ]
        .concat();
        let sign = [
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            days,
            "-extfile",
            &ext,
        ];
        if !openssl(&req) || !openssl(&sign) {
            return false;
        }
    }
    true
}

impl Nginx {
    /// nginx answering "ok\n" over plain HTTP (and `{"status": "ok", "n": 3}` at /json); `None` (with a message) when not installed.
    pub fn start() -> Option<Nginx> {
        Nginx::launch(false)
    }

    /// The same, plus two TLS listeners (see [`NginxTls`]); `None` (with a message) when
    /// nginx or openssl is not installed.
    pub fn start_tls() -> Option<Nginx> {
        Nginx::launch(true)
    }

    fn launch(tls: bool) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(binary) = binary else {
            return missing("nginx");
        };
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("openpace-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let d = dir.display();
        let unix_socket = format!("{d}/nginx.sock");
        let mut servers = format!(
            "server {{ listen 127.0.0.1:{port}; listen unix:{unix_socket}; \
             location / {{ return 200 \"ok\\n\"; }} location /host {{ return 200 \"$host\\n\"; }} \
             location /json {{ return 200 '{{\"status\": \"ok\", \"n\": 3}}'; }} }}\n"
        );
        let mut tls_side = None;
        if tls {
            let leaves = [
                ("good", "DNS:localhost,IP:127.0.0.1", "2"),
                ("wrong", "DNS:elsewhere.test", "2"),
                ("expired", "DNS:localhost,IP:127.0.0.1", "-1"),
            ];
            if !make_certificates(&dir, &leaves) {
                let _ = std::fs::remove_dir_all(&dir);
                return missing("openssl (the test certificates could not be made)");
            }
            let (good, wrong, expired, ca) = (free_port(), free_port(), free_port(), free_port());
            let self_signed = free_port();
            for (p, name) in [
                (good, "good"),
                (wrong, "wrong"),
                (expired, "expired"),
                (ca, "ca"),
                (self_signed, "selfsigned"),
            ] {
                servers.push_str(&format!(
                    "server {{ listen 127.0.0.1:{p} ssl; ssl_certificate {d}/{name}.pem; \
                     ssl_certificate_key {d}/{name}.key; location / {{ return 200 \"ok\\n\"; }} }}\n"
                ));
            }
            std::fs::write(dir.join("big"), vec![b'b'; 200_000]).unwrap();
            let mut suites = Vec::new();
            for (name, directives) in SUITES {
                let p = free_port();
                servers.push_str(&format!(
                    "server {{ listen 127.0.0.1:{p} ssl; ssl_certificate {d}/good.pem; \
                     ssl_certificate_key {d}/good.key; {directives} keepalive_requests 20; \
                     location / {{ return 200 \"ok\\n\"; }} location = /big {{ root {d}; }} }}\n"
                ));
                suites.push((name, format!("127.0.0.1:{p}")));
            }
            tls_side = Some(NginxTls {
                suites,
                addr: format!("127.0.0.1:{good}"),
                wrong_name_addr: format!("127.0.0.1:{wrong}"),
                expired_addr: format!("127.0.0.1:{expired}"),
                ca_as_server_addr: format!("127.0.0.1:{ca}"),
                self_signed_addr: format!("127.0.0.1:{self_signed}"),
                self_signed: dir.join("selfsigned.pem"),
                ca: dir.join("ca.pem"),
            });
        }
        let addr = format!("127.0.0.1:{port}");
        let mut waits = vec![addr.clone()];
        waits.extend(tls_side.as_ref().map(|t| t.addr.clone()));
        let child = Nginx::run(binary, &dir, &servers, &waits);
        Some(Nginx {
            child,
            dir,
            addr,
            unix_socket,
            tls: tls_side,
        })
    }

    /// nginx with the `server` blocks `servers` gives for its directory (certificates made
    /// there first: `good.pem`/`good.key` for localhost and 127.0.0.1, signed by `ca.pem`),
    /// listening on each of `waits` before it returns; `None` (with a message) when nginx or
    /// openssl is not installed. [`Nginx::addr`] is the first of `waits`.
    pub fn with_servers(servers: impl Fn(&str) -> String, waits: &[String]) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(binary) = binary else {
            return missing("nginx");
        };
        let dir = std::env::temp_dir().join(format!(
            "openpace-nginx-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        if !make_certificates(&dir, &[("good", "DNS:localhost,IP:127.0.0.1", "2")]) {
            let _ = std::fs::remove_dir_all(&dir);
            return missing("openssl (the test certificates could not be made)");
        }
        let child = Nginx::run(binary, &dir, &servers(&dir.display().to_string()), waits);
        Some(Nginx {
            child,
            unix_socket: String::new(),
            dir,
            addr: waits[0].clone(),
            tls: None,
        })
    }

    /// Writes `dir/nginx.conf` around `servers`, starts nginx and waits until it listens on
    /// each of `waits`.
    fn run(
        binary: &str,
        dir: &std::path::Path,
        servers: &str,
        waits: &[String],
    ) -> std::process::Child {
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\ndaemon off;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000000;\n\
             client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
             scgi_temp_path {d}/tmp/scgi;\n{servers}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = std::process::Command::new(binary)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts");
        let listening = |a: &String| std::net::TcpStream::connect(a).is_ok();
        for _ in 0..100 {
            if waits.iter().all(listening) {
                return child;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nginx did not listen on {waits:?}: see {d}/error.log");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of our own child: SIGTERM is nginx's fast stop.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server process on a free loopback port, stopped when dropped.
pub struct Daemon {
    child: std::process::Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Daemon {
    /// Starts `program` with `args` (`{port}` replaced); `None` with a message when it is not
    /// installed.
    pub fn start(program: &str, args: &[&str]) -> Option<Daemon> {
        Daemon::start_until(program, args, |port| {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    }

    /// The same, ready when `listening(port)` says so (a server on a Unix socket).
    fn start_until(program: &str, args: &[&str], listening: fn(u16) -> bool) -> Option<Daemon> {
        let path = ["/usr/bin/", "/usr/sbin/", "/usr/local/bin/"]
            .iter()
            .map(|dir| format!("{dir}{program}"))
            .find(|p| std::path::Path::new(p).exists());
        let Some(path) = path else {
            return missing(program);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()))
            .collect();
        let child = std::process::Command::new(path)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server starts");
        // Dropped (killed and waited for) if it never listens.
        let daemon = Daemon { child, port };
        for _ in 0..100 {
            if listening(port) {
                return Some(daemon);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{program} did not listen on port {port}");
    }

    pub fn redis() -> Option<Daemon> {
        Daemon::start(
            "redis-server",
            &[
                "--port",
                "{port}",
                "--bind",
                "127.0.0.1",
                "--unixsocket",
                "/tmp/openpace-redis-{port}.sock",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
    }

    /// The Unix socket a [`Daemon::redis`] also listens on.
    pub fn redis_unix_socket(&self) -> String {
        format!("/tmp/openpace-redis-{}.sock", self.port)
    }

    pub fn memcached() -> Option<Daemon> {
        Daemon::start(
            "memcached",
            &["-l", "127.0.0.1", "-p", "{port}", "-U", "0", "-u", "nobody"],
        )
    }

    /// memcached on the Unix socket [`Daemon::memcached_unix_socket`] only (`-s`: no TCP).
    pub fn memcached_unix() -> Option<Daemon> {
        Daemon::start_until(
            "memcached",
            &[
                "-s",
                "/tmp/openpace-memcached-{port}.sock",
                "-a",
                "0700",
                "-u",
                "nobody",
            ],
            |port| std::os::unix::net::UnixStream::connect(memcached_socket(port)).is_ok(),
        )
    }

    /// The socket of a [`Daemon::memcached_unix`].
    pub fn memcached_unix_socket(&self) -> String {
        memcached_socket(self.port)
    }

    /// Sends `command` (a line) and reads reply lines until one satisfies `last`.
    pub fn ask(&self, command: &str, last: impl Fn(&str) -> bool) -> Vec<String> {
        let stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (&stream).write_all(command.as_bytes()).unwrap();
        let mut lines = Vec::new();
        let mut reader = std::io::BufReader::new(stream);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end().to_string();
            let done = last(&line);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// A memcached `stats` counter.
    pub fn stat(&self, name: &str) -> u64 {
        self.ask("stats\r\n", |l| l == "END")
            .iter()
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no stat {name}"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `spec`'s target built as a worker of a one-worker scenario would build it (request timeout
/// 5 s, seed `seed`), for tests that call it directly on their own thread.
pub fn worker_target(spec: &openpace::targets::TargetSpec, seed: u64) -> Box<dyn openpace::Target> {
    let ctx = openpace::targets::TargetContext {
        scenario: 0,
        worker: 0,
        workers: 1,
        clock: openpace::base::clock::RunClock::starting_in(std::time::Duration::ZERO),
        request_timeout: std::time::Duration::from_secs(5),
        seed,
    };
    spec.factory()(&ctx)
}

/// Request `seq` as the timing loop would hand it over, due at once.
pub fn request(seq: u64) -> openpace::targets::Request {
    openpace::targets::Request {
        seq,
        intended_ns: 0,
        sent_ns: 0,
    }
}

/// A network target from its config object's JSON text (`{"http": {...}}`, `{"redis": ...}`).
pub fn net_target(json: &str) -> openpace::targets::TargetSpec {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    openpace::targets::net::spec::from_object(v.as_object().unwrap()).unwrap()
}

/// A hostile (or just scripted) peer on 127.0.0.1: each connection it accepts is handed to
/// `serve` on a thread of its own. It stops accepting when dropped; the threads end when
/// their connections do.
pub struct Peer {
    /// host:port it listens on.
    pub addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections accepted so far.
    pub accepted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Peer {
    pub fn start(serve: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> Peer {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let serve = Arc::new(serve);
        let (stopping, counting) = (stop.clone(), accepted.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        counting.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.set_nonblocking(false);
                        let serve = serve.clone();
                        std::thread::spawn(move || serve(stream));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            }
        });
        Peer {
            addr,
            stop,
            accepted,
        }
    }

    /// A peer that reads each request (whatever bytes arrive in one read) and answers it with
    /// `reply`, keeping the connection open.
    pub fn replying(reply: &[u8]) -> Peer {
        let reply = reply.to_vec();
        Peer::start(move |mut stream| {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&reply).is_err() {
                    return;
                }
            }
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts the `openpace` binary with `args`, stderr piped, stdout discarded.
pub fn spawn(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_openpace"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Sends `signal` to `child`.
pub fn signal(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
}

/// Waits for `child` at most `limit`; kills it and fails if it is still running then.
/// Returns its exit code and what it printed on stderr.
pub fn wait_for(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (Option<i32>, String) {
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openpace still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    (status.code(), text)
}

fn memcached_socket(port: u16) -> String {
    format!("/tmp/openpace-memcached-{port}.sock")
}
