//! What the server shows: counters, gauges and a latency histogram, served in the Prometheus
//! text format on a separate port (`metrics_listen`, off by default; `GET /metrics`).
//!
//! A small registry of atomics owned by the [`super::AppState`] rather than a process-global
//! recorder: every server (and every test server in one process) has its own numbers, and
//! the label sets are fixed and small (gRPC codes, CAMARA reasons), so no label ever carries
//! caller text or a phone number.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hotzone_checks_total` | counter | `code` (gRPC code), `result` (`anomaly`, `no_anomaly`, `error`) |
//! | `hotzone_check_latency_seconds` | histogram | |
//! | `hotzone_rejects_total` | counter | `reason` (CAMARA reason of any refused Check/Ingest) |
//! | `hotzone_ingests_total` | counter | `result` (`ok`, `error`) |
//! | `hotzone_ingested_records_total` | counter | `outcome` (`accepted`, `rejected`) |
//! | `hotzone_reloads_total` | counter | `result` (`ok`, `error`) |
//! | `hotzone_reload_skipped_files` | gauge | files skipped as unreadable by the last reload |
//! | `hotzone_index_events`, `_subscribers`, `_counterparties`, `_bytes`, `_segments` | gauge | |
//! | `hotzone_data_age_seconds` | gauge | seconds since the end of the latest day in the data |
//! | `hotzone_inflight_calls` | gauge | checks being handled |
//! | `hotzone_inflight_ingests` | gauge | `Ingest` streams open |
//! | `hotzone_audit_dropped_total` | counter | audit lines lost to a full queue or a write error |
//! | `hotzone_connections_refused_total` | counter | `port` (`grpc`, `rest`), `limit` (`max_connections`, `max_connections_per_address`) |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::index::Snapshot;

/// Upper bounds (seconds) of the latency histogram buckets.
const LATENCY_BOUNDS: [f64; 14] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 1.0,
];

/// The `result` label values of `hotzone_checks_total`, by index.
const CHECK_RESULTS: [&str; 3] = ["anomaly", "no_anomaly", "error"];

/// gRPC codes (0..=16), the first index of [`Metrics::checks`].
const CODES: usize = 17;

/// Every metric of one server. The per-check counters are plain atomics (one relaxed add
/// each, no lock shared by the worker threads).
#[derive(Default)]
pub struct Metrics {
    /// Checks by gRPC code (as a number) and [`CHECK_RESULTS`] index.
    checks: [[AtomicU64; 3]; CODES],
    rejects: Mutex<BTreeMap<&'static str, u64>>,
    /// Checks by latency bucket, *not* cumulative: index i counts latencies in
    /// (bound i-1, bound i]; the exposition sums them.
    latency_buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    ingests_ok: AtomicU64,
    ingests_error: AtomicU64,
    records_accepted: AtomicU64,
    records_rejected: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_error: AtomicU64,
    segment_merges: AtomicU64,
    skipped_files: AtomicU64,
    index_events: AtomicU64,
    index_subscribers: AtomicU64,
    index_counterparties: AtomicU64,
    index_bytes: AtomicU64,
    index_segments: AtomicU64,
    /// Epoch ms of the end of the latest day in the data; 0 = no data.
    data_end_ms: AtomicI64,
    audit_dropped: AtomicU64,
    /// Connections closed at accept, by port (gRPC, REST) and limit (port, address).
    refused: [[AtomicU64; 2]; 2],
}

/// The `port` label values of `hotzone_connections_refused_total`, by index.
const PORTS: [&str; 2] = ["grpc", "rest"];
/// The `limit` label values of `hotzone_connections_refused_total`, by index.
const CONNECTION_LIMITS: [&str; 2] = ["max_connections", "max_connections_per_address"];

/// The gRPC code name of a status code (the `code` label).
pub fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The CAMARA reasons this server sends (the `reason` label); anything else is `OTHER`.
fn reason_label(reason: &str) -> &'static str {
    const KNOWN: [&str; 17] = [
        "UNIMPLEMENTED",
        "INVALID_PROTOCOL",
        "INVALID_CREDENTIAL",
        "INVALID_TOKEN",
        "INVALID_SINK",
        "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED",
        "PRIVATE_KEY_JWT_NOT_CONFIGURED",
        "INVALID_ARGUMENT",
        "OUT_OF_RANGE",
        "IDENTIFIER_NOT_FOUND",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "TOO_MANY_REQUESTS",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "INTERNAL",
        "RESOURCE_EXHAUSTED",
    ];
    KNOWN.into_iter().find(|k| *k == reason).unwrap_or("OTHER")
}

impl Metrics {
    /// One finished check.
    pub fn check(&self, code: tonic::Code, anomaly: Option<bool>, latency: Duration) {
        let result = match anomaly {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        let c = (code as usize).min(CODES - 1);
        self.checks[c][result].fetch_add(1, Ordering::Relaxed);
        let s = latency.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|b| s <= *b) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(latency.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A refused call, by the CAMARA reason of its status.
    pub fn reject(&self, status: &tonic::Status) {
        use tonic_types::StatusExt;
        let reason = status
            .get_details_error_info()
            .map(|i| reason_label(&i.reason))
            .unwrap_or_else(|| match status.code() {
                // Statuses made by the transport (e.g. an oversized message) carry no detail.
                tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
                _ => "OTHER",
            });
        if let Ok(mut m) = self.rejects.lock() {
            *m.entry(reason).or_insert(0) += 1;
        }
    }

    /// One finished ingest.
    pub fn ingest(&self, ok: bool, accepted: u64, rejected: u64) {
        if ok {
            self.ingests_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.ingests_error.fetch_add(1, Ordering::Relaxed);
        }
        self.records_accepted.fetch_add(accepted, Ordering::Relaxed);
        self.records_rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// One reload attempt; `skipped` = unreadable files left out.
    pub fn reload(&self, ok: bool, skipped: usize) {
        if ok {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
            self.skipped_files.store(skipped as u64, Ordering::Relaxed);
        } else {
            self.reloads_error.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The loader merged ingested segments into one.
    pub fn merged(&self) {
        self.segment_merges.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot was published: index sizes and data age.
    pub fn published(&self, snap: &Snapshot) {
        let s = snap.stats();
        self.index_events.store(s.events, Ordering::Relaxed);
        self.index_subscribers
            .store(s.subscribers, Ordering::Relaxed);
        self.index_counterparties
            .store(s.counterparties, Ordering::Relaxed);
        self.index_bytes.store(s.bytes, Ordering::Relaxed);
        self.index_segments
            .store(snap.segments().len() as u64, Ordering::Relaxed);
        let latest: Option<(NaiveDate, Tz)> = snap
            .segments()
            .iter()
            .filter_map(|seg| seg.latest_day().map(|d| (d, seg.tz())))
            .max_by_key(|(d, _)| *d);
        // The next day's first instant, which is not its midnight where the clocks skip it
        // (read as no data: the age was NaN for a day before Santiago's September change).
        let end = latest
            .and_then(|(d, tz)| {
                let start = crate::clock::day_start(d, tz)?;
                Some(crate::clock::next_day_start(start, tz))
            })
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        self.data_end_ms.store(end, Ordering::Relaxed);
    }

    /// A connection was closed at accept: on the REST port (else gRPC), by the per-address
    /// limit (else the port's).
    pub fn connection_refused(&self, rest: bool, per_address: bool) {
        self.refused[usize::from(rest)][usize::from(per_address)].fetch_add(1, Ordering::Relaxed);
    }

    /// An audit line was lost.
    pub fn audit_dropped(&self) {
        self.audit_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4). The in-flight counts (checks, ingest
    /// streams) and the time (`now_ms`, by the server's clock) are read by the caller.
    pub fn render(
        &self,
        inflight: usize,
        ingests: usize,
        audit_write_failures: u64,
        now_ms: i64,
    ) -> String {
        let mut o = String::with_capacity(4096);
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut o,
            "hotzone_checks_total",
            "counter",
            "Check calls by gRPC code and result.",
        );
        let mut checks: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (c, row) in self.checks.iter().enumerate() {
            for (r, n) in row.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    checks.insert(
                        (code_name(tonic::Code::from(c as i32)), CHECK_RESULTS[r]),
                        n,
                    );
                }
            }
        }
        for ((code, result), n) in &checks {
            let _ = writeln!(
                o,
                "hotzone_checks_total{{code=\"{code}\",result=\"{result}\"}} {n}"
            );
        }
        head(
            &mut o,
            "hotzone_check_latency_seconds",
            "histogram",
            "Check handling time, from the call's arrival to its reply.",
        );
        let mut cumulative = 0u64;
        for (i, b) in LATENCY_BOUNDS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                o,
                "hotzone_check_latency_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "hotzone_check_latency_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             hotzone_check_latency_seconds_sum {}\nhotzone_check_latency_seconds_count {count}",
            self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        head(
            &mut o,
            "hotzone_rejects_total",
            "counter",
            "Refused Check/Ingest calls by CAMARA reason.",
        );
        if let Ok(m) = self.rejects.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(o, "hotzone_rejects_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let pairs = |o: &mut String, name: &str, label: &str, vals: [(&str, &AtomicU64); 2]| {
            for (v, a) in vals {
                let _ = writeln!(o, "{name}{{{label}=\"{v}\"}} {}", a.load(Ordering::Relaxed));
            }
        };
        head(&mut o, "hotzone_ingests_total", "counter", "Ingest calls.");
        pairs(
            &mut o,
            "hotzone_ingests_total",
            "result",
            [("ok", &self.ingests_ok), ("error", &self.ingests_error)],
        );
        head(
            &mut o,
            "hotzone_ingested_records_total",
            "counter",
            "Records received by Ingest.",
        );
        pairs(
            &mut o,
            "hotzone_ingested_records_total",
            "outcome",
            [
                ("accepted", &self.records_accepted),
                ("rejected", &self.records_rejected),
            ],
        );
        head(
            &mut o,
            "hotzone_reloads_total",
            "counter",
            "Data directory loads and reloads.",
        );
        pairs(
            &mut o,
            "hotzone_reloads_total",
            "result",
            [("ok", &self.reloads_ok), ("error", &self.reloads_error)],
        );
        head(
            &mut o,
            "hotzone_segment_merges_total",
            "counter",
            "Merges of ingested segments into one (without a rebuild of the base).",
        );
        let _ = writeln!(
            o,
            "hotzone_segment_merges_total {}",
            self.segment_merges.load(Ordering::Relaxed)
        );
        let gauges: [(&str, &str, u64); 8] = [
            (
                "hotzone_reload_skipped_files",
                "Unreadable files left out by the last reload.",
                self.skipped_files.load(Ordering::Relaxed),
            ),
            (
                "hotzone_index_events",
                "Events in the serving index.",
                self.index_events.load(Ordering::Relaxed),
            ),
            (
                "hotzone_index_subscribers",
                "Subscribers in the serving index (summed over segments).",
                self.index_subscribers.load(Ordering::Relaxed),
            ),
            (
                "hotzone_index_counterparties",
                "Dictionary entries of the serving index.",
                self.index_counterparties.load(Ordering::Relaxed),
            ),
            (
                "hotzone_index_bytes",
                "Heap bytes of the serving index.",
                self.index_bytes.load(Ordering::Relaxed),
            ),
            (
                "hotzone_index_segments",
                "Segments (base + ingested) of the serving index.",
                self.index_segments.load(Ordering::Relaxed),
            ),
            (
                "hotzone_inflight_calls",
                "Check calls being handled.",
                inflight as u64,
            ),
            (
                "hotzone_inflight_ingests",
                "Ingest streams open.",
                ingests as u64,
            ),
        ];
        for (name, help, v) in gauges {
            head(&mut o, name, "gauge", help);
            let _ = writeln!(o, "{name} {v}");
        }
        head(
            &mut o,
            "hotzone_data_age_seconds",
            "gauge",
            "Seconds since the end of the latest day in the loaded data (NaN before any data).",
        );
        let end = self.data_end_ms.load(Ordering::Relaxed);
        let age = if end == 0 {
            f64::NAN
        } else {
            (now_ms - end) as f64 / 1000.0
        };
        let _ = writeln!(o, "hotzone_data_age_seconds {age}");
        head(
            &mut o,
            "hotzone_audit_dropped_total",
            "counter",
            "Audit lines lost (queue full or write error).",
        );
        let _ = writeln!(
            o,
            "hotzone_audit_dropped_total {}",
            self.audit_dropped.load(Ordering::Relaxed) + audit_write_failures
        );
        head(
            &mut o,
            "hotzone_connections_refused_total",
            "counter",
            "Connections closed at accept, by port and by the limit that was full.",
        );
        for (port, row) in PORTS.iter().zip(&self.refused) {
            for (limit, n) in CONNECTION_LIMITS.iter().zip(row) {
                let _ = writeln!(
                    o,
                    "hotzone_connections_refused_total{{port=\"{port}\",limit=\"{limit}\"}} {}",
                    n.load(Ordering::Relaxed)
                );
            }
        }
        o
    }
}

/// Scrapes answered at once; one more connection waits in the accept queue.
const MAX_SCRAPES: usize = 32;

/// Whether a request head may read the metrics: always, unless `policy.metrics_needs_token`
/// (with clients configured), then only with a valid `authorization: Bearer` token.
fn may_scrape(state: &super::AppState, head: &[u8]) -> bool {
    if !(state.auth().enabled() && state.settings().policy.metrics_needs_token) {
        return true;
    }
    let value = head
        .split(|b| *b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("authorization")
                .then(|| value.trim())
        });
    let mut md = tonic::metadata::MetadataMap::new();
    match value.and_then(|v| v.parse().ok()) {
        Some(v) => {
            md.insert("authorization", v);
            state.auth().authenticate(&md).is_ok()
        }
        None => false,
    }
}

/// Whether a request line asks for the metrics (`GET` or `HEAD` of `/metrics` or `/`, any
/// query: Prometheus' `params` add one), and whether it is a `HEAD` (headers only).
fn scrape_line(line: &[u8]) -> (bool, bool) {
    let mut words = line.split(|b| *b == b' ');
    let (method, target) = (words.next().unwrap_or(&[]), words.next().unwrap_or(&[]));
    let path = target.split(|b| *b == b'?').next().unwrap_or(&[]);
    let head = method == b"HEAD";
    let ok = (method == b"GET" || head)
        && (path == b"/metrics" || path == b"/")
        && words.next().is_some_and(|v| v.starts_with(b"HTTP/"));
    (ok, head)
}

/// Serves `GET /metrics` on `listener` until the task is aborted. Plain HTTP/1.1, one
/// request per connection; anything else gets 404. Meant for a scraper on a private network.
/// At most 32 connections are served at once, each for at most 5 s, so a flood
/// of idle connections holds a bounded amount of memory.
pub async fn serve(listener: TcpListener, state: super::AppState) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((mut sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    let k = sock.read(&mut buf[n..]).await.ok()?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Some(())
            })
            .await;
            if !matches!(read, Ok(Some(()))) {
                return;
            }
            let head = &buf[..n];
            let line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
            let (ok, head_only) = scrape_line(line);
            let (status, body) = if !ok {
                ("404 Not Found", "not found; try GET /metrics\n".to_owned())
            } else if !may_scrape(&state, head) {
                (
                    "401 Unauthorized",
                    "unauthorized: send authorization: Bearer <token>\n".to_owned(),
                )
            } else {
                ("200 OK", state.render_metrics())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                if head_only { "" } else { &body }
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    /// Every CAMARA code the subscriptions send is a label of its own, not `OTHER`.
    #[test]
    fn every_subscription_refusal_has_its_reason_label() {
        use crate::service::status::SubscriptionRefusal as R;
        for r in [
            R::Protocol,
            R::Credential,
            R::Token,
            R::Sink,
            R::MultiEvent,
            R::PrivateKeyJwt,
        ] {
            // A new variant must be listed here: the match has no catch-all.
            match r {
                R::Protocol
                | R::Credential
                | R::Token
                | R::Sink
                | R::MultiEvent
                | R::PrivateKeyJwt => {}
            }
            assert_eq!(super::reason_label(r.code()), r.code());
        }
    }

    #[test]
    fn a_scrape_is_get_or_head_of_the_path_with_any_query() {
        for (line, want) in [
            (&b"GET /metrics HTTP/1.1\r"[..], (true, false)),
            (b"GET / HTTP/1.1\r", (true, false)),
            (b"GET /metrics?x=1 HTTP/1.1\r", (true, false)),
            (b"HEAD /metrics HTTP/1.1\r", (true, true)),
            (b"POST /metrics HTTP/1.1\r", (false, false)),
            (b"GET /metricsx HTTP/1.1\r", (false, false)),
            (b"GET /metrics", (false, false)),
        ] {
            assert_eq!(
                super::scrape_line(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    use super::*;

    #[test]
    fn render_has_every_family() {
        let m = Metrics::default();
        m.check(tonic::Code::Ok, Some(true), Duration::from_micros(30));
        m.check(tonic::Code::NotFound, None, Duration::from_micros(5));
        m.check(tonic::Code::Ok, Some(false), Duration::from_secs(2)); // past every bound
        m.reject(&tonic::Status::resource_exhausted("x"));
        m.ingest(true, 5, 1);
        m.reload(true, 1);
        m.connection_refused(true, true);
        let text = m.render(0, 0, 0, crate::clock::now_ms());
        for needle in [
            "hotzone_checks_total{code=\"OK\",result=\"anomaly\"} 1",
            "hotzone_checks_total{code=\"NOT_FOUND\",result=\"error\"} 1",
            "hotzone_checks_total{code=\"OK\",result=\"no_anomaly\"} 1",
            "hotzone_check_latency_seconds_bucket{le=\"0.00001\"} 1",
            "hotzone_check_latency_seconds_bucket{le=\"0.00005\"} 2",
            "hotzone_check_latency_seconds_bucket{le=\"1\"} 2",
            "hotzone_check_latency_seconds_bucket{le=\"+Inf\"} 3",
            "hotzone_check_latency_seconds_count 3",
            "hotzone_rejects_total{reason=\"RESOURCE_EXHAUSTED\"} 1",
            "hotzone_ingested_records_total{outcome=\"accepted\"} 5",
            "hotzone_reloads_total{result=\"ok\"} 1",
            "hotzone_reload_skipped_files 1",
            "hotzone_data_age_seconds NaN",
            "hotzone_connections_refused_total{port=\"rest\",limit=\"max_connections_per_address\"} 1",
            "hotzone_connections_refused_total{port=\"grpc\",limit=\"max_connections\"} 0",
        ] {
            assert!(text.contains(needle), "{needle}\n{text}");
        }
    }
}
