//! Prometheus metrics (`/metrics`, text format 0.0.4) and `/health`, served
//! on their own loopback port by a minimal HTTP/1.1 responder (one request
//! per connection, bounded reads).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::broker::Broker;

/// API keys counted (Kafka's keys are below this).
const API_SLOTS: usize = 96;
/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug, Default)]
struct ApiStats {
    count: AtomicU64,
    /// Cumulative per bucket is computed when rendering; these are per bucket.
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

/// Counters the server updates as it goes.
#[derive(Debug)]
pub struct Metrics {
    apis: Vec<ApiStats>,
    /// Request bytes read.
    pub bytes_in: AtomicU64,
    /// Response bytes written.
    pub bytes_out: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicI64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused by `max.connections`.
    pub connections_refused: AtomicU64,
    /// Connections closed for a bad request.
    pub bad_requests: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            apis: (0..API_SLOTS).map(|_| ApiStats::default()).collect(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one request of `api` that took `took`.
    pub fn request(&self, api: ApiKey, took: Duration) {
        let Some(stats) = usize::try_from(api as i16)
            .ok()
            .and_then(|i| self.apis.get(i))
        else {
            return;
        };
        stats.count.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        if let Some(b) = BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .and_then(|i| stats.buckets.get(i))
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        stats.sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition (reads partition stats: call off the async threads).
#[must_use]
pub fn render(broker: &Broker) -> String {
    let m = &broker.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP logsync_requests_total Requests answered, by API.\n# TYPE logsync_requests_total counter"
    );
    for (i, s) in m.apis.iter().enumerate() {
        let n = s.count.load(Ordering::Relaxed);
        if n > 0
            && let Ok(api) = ApiKey::try_from(i as i16)
        {
            let _ = writeln!(out, "logsync_requests_total{{api=\"{api:?}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP logsync_request_duration_seconds Time from a request read to its response ready, by API.\n# TYPE logsync_request_duration_seconds histogram"
    );
    for (i, s) in m.apis.iter().enumerate() {
        let n = s.count.load(Ordering::Relaxed);
        let Ok(api) = ApiKey::try_from(i as i16) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let mut cumulative = 0;
        for (bound, b) in BUCKETS.iter().zip(&s.buckets) {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "logsync_request_duration_seconds_bucket{{api=\"{api:?}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "logsync_request_duration_seconds_bucket{{api=\"{api:?}\",le=\"+Inf\"}} {n}\nlogsync_request_duration_seconds_sum{{api=\"{api:?}\"}} {}\nlogsync_request_duration_seconds_count{{api=\"{api:?}\"}} {n}",
            s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
    counter(
        &mut out,
        "logsync_bytes_in_total",
        "Request bytes read.",
        "counter",
        m.bytes_in.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_bytes_out_total",
        "Response bytes written.",
        "counter",
        m.bytes_out.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_connections_open",
        "Client connections open.",
        "gauge",
        m.connections_open.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_connections_total",
        "Client connections accepted.",
        "counter",
        m.connections_total.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_connections_refused_total",
        "Connections refused at max.connections.",
        "counter",
        m.connections_refused.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_bad_requests_total",
        "Connections closed for a malformed or unsupported request.",
        "counter",
        m.bad_requests.load(Ordering::Relaxed),
    );
    let a = broker.maintenance_activity();
    counter(
        &mut out,
        "logsync_retention_segments_deleted_total",
        "Segments deleted by retention.",
        "counter",
        a.segments_deleted.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_retention_bytes_deleted_total",
        "Bytes deleted by retention.",
        "counter",
        a.retention_bytes_deleted.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_cleaner_runs_total",
        "Cleaner runs.",
        "counter",
        a.cleans.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_cleaner_bytes_reclaimed_total",
        "Bytes reclaimed by the cleaner.",
        "counter",
        a.cleaner_bytes_reclaimed.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "logsync_maintenance_failures_total",
        "Retention, cleaner or flush failures.",
        "counter",
        a.failures.load(Ordering::Relaxed),
    );

    let parts = broker.open_partitions();
    let _ = writeln!(
        out,
        "# HELP logsync_partition_log_end_offset Offset the next record gets.\n# TYPE logsync_partition_log_end_offset gauge"
    );
    for (topic, p, part) in &parts {
        let _ = writeln!(
            out,
            "logsync_partition_log_end_offset{{topic=\"{}\",partition=\"{p}\"}} {}",
            label(topic),
            part.log.log_end_offset()
        );
    }
    let _ = writeln!(
        out,
        "# HELP logsync_partition_log_start_offset First offset readers can get.\n# TYPE logsync_partition_log_start_offset gauge"
    );
    for (topic, p, part) in &parts {
        let _ = writeln!(
            out,
            "logsync_partition_log_start_offset{{topic=\"{}\",partition=\"{p}\"}} {}",
            label(topic),
            part.log.log_start_offset()
        );
    }
    let _ = writeln!(
        out,
        "# HELP logsync_partition_size_bytes Bytes of the partition's segments.\n# TYPE logsync_partition_size_bytes gauge"
    );
    for (topic, p, part) in &parts {
        if let Ok(stats) = part.log.stats() {
            let _ = writeln!(
                out,
                "logsync_partition_size_bytes{{topic=\"{}\",partition=\"{p}\"}} {}",
                label(topic),
                stats.size_bytes
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP logsync_consumer_group_lag High watermark minus the group's committed offset.\n# TYPE logsync_consumer_group_lag gauge"
    );
    let offsets = broker.groups.offsets();
    for group in offsets.groups() {
        for ((topic, p), committed) in offsets.group(&group) {
            if let Ok(part) = broker.partition(&topic, p) {
                let hw = part.log.high_watermark().0 as i64;
                let _ = writeln!(
                    out,
                    "logsync_consumer_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{p}\"}} {}",
                    label(&group),
                    label(&topic),
                    (hw - committed.offset).max(0)
                );
            }
        }
    }
    out
}

/// Serves `/metrics`, `/health` and the admin requests (`POST
/// /v1/topics/{topic}/compact[?format=json]`, `POST
/// /v1/topics/{topic}/retention`) on `listener` until the task is dropped.
pub async fn serve_http(listener: TcpListener, broker: Arc<Broker>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            let _ = answer(stream, broker).await;
        });
    }
}

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while !buf
        .get(..len)
        .unwrap_or_default()
        .windows(4)
        .any(|w| w == b"\r\n\r\n")
    {
        let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) else {
            break; // header too long: answer what we have
        };
        let n = stream.read(rest).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    Ok(String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned())
}

async fn answer(mut stream: TcpStream, broker: Arc<Broker>) -> std::io::Result<()> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    const TEXT: &str = "text/plain; version=0.0.4";
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let b = Arc::clone(&broker);
            let text = tokio::task::spawn_blocking(move || render(&b))
                .await
                .unwrap_or_default();
            ("200 OK", TEXT, text)
        }
        ("GET", "/health") => ("200 OK", TEXT, "ok\n".to_owned()),
        ("POST", p) if p.starts_with("/v1/topics/") && p.ends_with("/compact") => {
            let topic = p
                .trim_start_matches("/v1/topics/")
                .trim_end_matches("/compact");
            let json = query.split('&').any(|kv| kv == "format=json");
            match crate::admin::compact(&broker, topic, json).await {
                Ok(body) => ("200 OK", if json { "application/json" } else { TEXT }, body),
                Err(e) => (e.status(), TEXT, format!("{e}\n")),
            }
        }
        ("POST", p) if p.starts_with("/v1/topics/") && p.ends_with("/retention") => {
            let topic = p
                .trim_start_matches("/v1/topics/")
                .trim_end_matches("/retention");
            match crate::admin::retention(&broker, topic).await {
                Ok(body) => ("200 OK", TEXT, body),
                Err(e) => (e.status(), TEXT, format!("{e}\n")),
            }
        }
        _ => (
            "404 Not Found",
            TEXT,
            "not found: try GET /metrics, GET /health, POST /v1/topics/TOPIC/compact or POST /v1/topics/TOPIC/retention\n"
                .to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The bound metrics address, for the caller to print.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
