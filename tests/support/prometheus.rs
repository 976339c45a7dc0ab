//! A real Prometheus (Debian's `prometheus` package, `/usr/bin/prometheus`) scraping a fake
//! model server, for the tests of canary analysis.
//!
//! - [`MetricsTarget`]: `/metrics` of a model server with two tracks (`stable`, `canary`) whose
//!   traffic the test sets: requests per second, the share that fails (code 500) and how long
//!   each request takes. Counters grow with wall time, so `rate()` gives what was set.
//! - [`PrometheusServer`]: `prometheus` on a free 127.0.0.1 port, scraping targets every second,
//!   with its own storage in a temporary directory; stopped when dropped, and by a watchdog if
//!   the test process dies without dropping it.
//!
//! `MLSYNC_TEST_PROMETHEUS=/path/to/prometheus` runs another binary than `/usr/bin/prometheus`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Environment variable naming the `prometheus` binary (default `/usr/bin/prometheus`).
pub const PROMETHEUS_ENV: &str = "MLSYNC_TEST_PROMETHEUS";
/// The tracks a [`MetricsTarget`] serves.
pub const TRACKS: [&str; 2] = ["stable", "canary"];
/// Upper bounds of the latency histogram's buckets (`le`), without `+Inf`.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The traffic of one track: every request takes `latency` seconds and a share `error_ratio`
/// of them answer 500, the others 200.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Requests per second.
    pub rps: f64,
    /// Share of requests answered with code 500, 0.0 to 1.0.
    pub error_ratio: f64,
    /// Seconds each request takes.
    pub latency: f64,
}

/// The counters of one track, as they stood at `at`.
#[derive(Debug, Clone)]
struct Counters {
    traffic: Option<Traffic>,
    at: Instant,
    ok: f64,
    errors: f64,
    /// Observations per bucket of [`BUCKETS`] (not cumulative).
    buckets: [f64; BUCKETS.len()],
    /// Observations above the last bucket.
    above: f64,
    sum: f64,
}

impl Counters {
    fn new(now: Instant) -> Self {
        Self {
            traffic: None,
            at: now,
            ok: 0.0,
            errors: 0.0,
            buckets: [0.0; BUCKETS.len()],
            above: 0.0,
            sum: 0.0,
        }
    }

    /// Adds the requests of the traffic between `self.at` and `now`.
    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        let Some(traffic) = self.traffic else {
            return;
        };
        let requests = traffic.rps * elapsed;
        self.errors += requests * traffic.error_ratio;
        self.ok += requests * (1.0 - traffic.error_ratio);
        self.sum += requests * traffic.latency;
        match BUCKETS.iter().position(|le| traffic.latency <= *le) {
            Some(i) => self.buckets[i] += requests,
            None => self.above += requests,
        }
    }
}

/// What the target's threads share.
struct Shared {
    service: String,
    namespace: String,
    tracks: Mutex<BTreeMap<&'static str, Counters>>,
    scrapes: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    /// The `/metrics` page, counters advanced to now.
    fn render(&self) -> String {
        let now = Instant::now();
        let mut tracks = self.tracks.lock().unwrap();
        for counters in tracks.values_mut() {
            counters.advance(now);
        }
        let (service, namespace) = (&self.service, &self.namespace);
        let mut out = String::new();
        out.push_str("# HELP http_requests_total Requests served.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for (track, c) in tracks.iter() {
            for (code, value) in [("200", c.ok), ("500", c.errors)] {
                let _ = writeln!(
                    out,
                    "http_requests_total{{service=\"{service}\",namespace=\"{namespace}\",\
                     track=\"{track}\",code=\"{code}\"}} {value}"
                );
            }
        }
        out.push_str("# HELP http_request_duration_seconds Time to serve a request.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (track, c) in tracks.iter() {
            let labels =
                format!("service=\"{service}\",namespace=\"{namespace}\",track=\"{track}\"");
            let mut cumulative = 0.0;
            for (le, count) in BUCKETS.iter().zip(c.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let count = cumulative + c.above;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                c.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }
}

/// A fake model server's `/metrics` on 127.0.0.1: counters `http_requests_total{service,
/// namespace,track,code="200"|"500"}` and the histogram `http_request_duration_seconds{service,
/// namespace,track}` of both tracks. Both codes' series exist from the start (0 until traffic
/// makes them grow), as with instrumentation that initializes its label values.
pub struct MetricsTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MetricsTarget {
    /// Serves the metrics of `service` in `namespace`, both tracks without traffic.
    pub fn start(service: &str, namespace: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let now = Instant::now();
        let shared = Arc::new(Shared {
            service: service.to_owned(),
            namespace: namespace.to_owned(),
            tracks: Mutex::new(TRACKS.iter().map(|t| (*t, Counters::new(now))).collect()),
            scrapes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let serving = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if serving.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = serve_metrics(stream, &serving);
                }
            }
        });
        Self { addr, shared }
    }

    /// Where it listens (what Prometheus scrapes).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, `track` (`stable` or `canary`) serves `traffic`.
    pub fn set(&self, track: &str, traffic: Traffic) {
        self.change(track, Some(traffic));
    }

    /// From now on, `track` serves no requests: its counters stay where they are.
    pub fn stop_traffic(&self, track: &str) {
        self.change(track, None);
    }

    /// How many times `/metrics` was served.
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.load(Ordering::SeqCst)
    }

    fn change(&self, track: &str, traffic: Option<Traffic>) {
        let mut tracks = self.shared.tracks.lock().unwrap();
        let counters = tracks
            .get_mut(track)
            .unwrap_or_else(|| panic!("no track {track:?}; the tracks are {TRACKS:?}"));
        counters.advance(Instant::now());
        counters.traffic = traffic;
    }
}

impl Drop for MetricsTarget {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Answers one HTTP/1.1 request: `/metrics`, or 404; then closes the connection.
fn serve_metrics(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = if path == "/metrics" || path.starts_with("/metrics?") {
        shared.scrapes.fetch_add(1, Ordering::SeqCst);
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            shared.render(),
        )
    } else {
        ("404 Not Found", "text/plain", "not found\n".to_owned())
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

/// A running `prometheus` on 127.0.0.1, scraping its targets every second (job `model`).
pub struct PrometheusServer {
    child: Child,
    watchdog: Option<Child>,
    port: u16,
    log: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl PrometheusServer {
    /// Starts `prometheus` scraping `targets` every second and waits until it is ready.
    pub fn start(targets: &[SocketAddr]) -> Self {
        let binary = std::env::var_os(PROMETHEUS_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus"));
        assert!(
            binary.is_file(),
            "{} is missing: install Debian's prometheus package (tests/run.sh does), or name \
             another binary in {PROMETHEUS_ENV}",
            binary.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("mlsync-prometheus-")
            .tempdir()
            .unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml(targets)).unwrap();
        let log = dir.path().join("prometheus.log");
        // The port is free when picked; if another process takes it before prometheus binds it,
        // prometheus exits and a new port is tried.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port();
            let mut child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--storage.tsdb.retention.time=1h")
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::from(File::create(&log).unwrap()))
                .stderr(Stdio::from(
                    File::options().append(true).open(&log).unwrap(),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            let exited = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if ready(port) {
                    break None;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let kept = dir.keep();
                    panic!(
                        "prometheus did not become ready within 30 s; its log ({}):\n{}",
                        kept.join("prometheus.log").display(),
                        tail(&kept.join("prometheus.log"))
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            match exited {
                None => {
                    let watchdog = watchdog(child.id(), dir.path());
                    return Self {
                        child,
                        watchdog,
                        port,
                        log,
                        dir: Some(dir),
                    };
                }
                Some(status) if attempts >= 3 => {
                    let kept = dir.keep();
                    panic!(
                        "prometheus exited ({status}) before it was ready, {attempts} times; its \
                         log ({}):\n{}",
                        kept.join("prometheus.log").display(),
                        tail(&kept.join("prometheus.log"))
                    );
                }
                Some(_) => continue,
            }
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log file (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Keeps its directory (config, log, storage) after the test, for debugging; returns it.
    pub fn keep_dir(&mut self) -> Option<PathBuf> {
        self.dir.take().map(tempfile::TempDir::keep)
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// `prometheus.yml`: one job scraping `targets` every second.
fn config_yaml(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: model\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `GET /-/ready` on `port` answers 200.
fn ready(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /-/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// A shell that stops prometheus (pid) and removes `dir` once this test process is gone without
/// having dropped the server; it ends by itself when prometheus is stopped normally.
fn watchdog(prometheus: u32, dir: &Path) -> Option<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(
            r#"while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
if kill -0 "$2" 2>/dev/null; then kill "$2"; sleep 1; kill -9 "$2" 2>/dev/null; rm -rf "$3"; fi"#,
        )
        .arg("sh")
        .arg(std::process::id().to_string())
        .arg(prometheus.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The last 40 lines of a file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
