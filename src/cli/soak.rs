//! `hotzone soak`: a bounded load run against a server on this machine (loopback only):
//! checks and ingests together, for at most `--seconds` and `--max-requests`, then a report
//! of requests, errors by gRPC code, latency percentiles and the server's memory growth
//! (resident set of `--pid`, read from `/proc`). `scripts/soak.sh` starts a server and runs it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::service::pb::fraud_hotzone_client::FraudHotzoneClient;
use crate::service::pb::{CheckRequest, EventRecord, IngestRequest};

/// Flags of `hotzone soak`.
#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Server URL (or HOST:PORT); must be a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Stop after this many seconds (calls still under way then are cut; 1 to 604800).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub seconds: u64,
    /// Stop after this many requests (checks + ingests).
    #[arg(long, default_value_t = 5_000_000)]
    pub max_requests: u64,
    /// Concurrent check loops (1 to 1024).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Subscribers to check: +8869100NNNNN for NNNNN in 0..subscribers (scripts/soak.sh data;
    /// 1 to 100000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscribers: u32,
    /// Milliseconds between ingests (one loop; each ingest sends --ingest-batch records; 0
    /// to 3600000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub ingest_every_ms: u64,
    /// Records per ingest (0: no ingests; at most the 1000000 one call may carry).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub ingest_batch: u32,
    /// The server's process id, to sample its resident memory.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Day the checks end on (YYYY-MM-DD).
    #[arg(long, default_value = "2026-03-10", value_parser = parse_day)]
    pub as_of: String,
}

/// `--as-of` as the server reads it (`CheckParams`' strict `YYYY-MM-DD`), checked before the
/// run: one the server refuses made every check of the run fail.
fn parse_day(s: &str) -> Result<String, String> {
    crate::model::check::parse_date(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| format!("{s:?} is not a date YYYY-MM-DD"))
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    codes: BTreeMap<String, u64>,
}

/// Runs the soak and prints the report; exit code 0 when no unexpected error was seen.
#[allow(clippy::print_stdout)] // the report is this command's output
pub fn run(a: &SoakArgs) -> anyhow::Result<i32> {
    let server = super::check::server_url(&a.server)?;
    let host = server
        .split("://")
        .nth(1)
        .unwrap_or("")
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or("");
    anyhow::ensure!(
        matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        "soak runs against a loopback server only: 127.0.0.1, [::1] or localhost with a port (got {})",
        a.server
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(a.seconds);
        // Every wait of the run ends at the deadline: the connection, each call, the pauses.
        let client = tokio::time::timeout_at(
            deadline.into(),
            FraudHotzoneClient::connect(server.clone()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no connection to {} within --seconds", a.server))?
        .with_context(|| format!("connecting to {}", a.server))?;
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rss_start = a.pid.and_then(rss_kib);
        let mut rss_samples: Vec<(u64, u64)> = Vec::new();
        let mut tasks = Vec::new();
        for w in 0..usize::from(a.concurrency) {
            let mut c = client.clone();
            let (sent, stop) = (sent.clone(), stop.clone());
            let (subs, max, as_of) = (a.subscribers.max(1), a.max_requests, a.as_of.clone());
            tasks.push(tokio::spawn(async move {
                let mut t = Tally::default();
                let mut i = w as u64;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if sent.fetch_add(1, Ordering::Relaxed) >= max {
                        break;
                    }
                    i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let req = CheckRequest {
                        phone_number: format!("+8869100{:05}", (i >> 33) % u64::from(subs)),
                        look_back_days: 1 + ((i >> 20) % 30) as u32,
                        threshold_ratio: 0.3,
                        hotzone: vec!["NG".into(), "JM".into(), "+882".into()],
                        as_of: as_of.clone(),
                        ..CheckRequest::default()
                    };
                    let t0 = Instant::now();
                    let Ok(answer) = tokio::time::timeout_at(deadline.into(), c.check(req)).await
                    else {
                        break; // cut at the deadline: not counted
                    };
                    let code = match answer {
                        Ok(_) => "OK".to_owned(),
                        Err(s) => format!("{:?}", s.code()),
                    };
                    t.latencies_us.push(t0.elapsed().as_micros() as u64);
                    *t.codes.entry(code).or_insert(0) += 1;
                }
                t
            }));
        }
        let ingest = {
            let mut c = client.clone();
            let (sent, stop) = (sent.clone(), stop.clone());
            let (every, batch, max) = (a.ingest_every_ms, a.ingest_batch, a.max_requests);
            tokio::spawn(async move {
                let mut t = Tally::default();
                let mut n: u64 = 0;
                while batch > 0 && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if sent.fetch_add(1, Ordering::Relaxed) >= max {
                        break;
                    }
                    n += 1;
                    let events: Vec<EventRecord> = (0..batch)
                        .map(|k| EventRecord {
                            event_time_ms: Some(1_773_144_000_000 + i64::from(k) * 1000),
                            subscriber: format!("+8869200{:05}", (n * 7 + u64::from(k)) % 50_000),
                            counterparty: format!("+2348021{:06}", k),
                            direction: "in".into(),
                            kind: "call".into(),
                            duration_s: Some(30),
                            counterparty_region: String::new(),
                        })
                        .collect();
                    let t0 = Instant::now();
                    // One stream of messages of at most 10,000 records: a whole large batch
                    // in one message passed the server's max_request_bytes (4 MiB).
                    let messages: Vec<IngestRequest> = (events.chunks(10_000))
                        .map(|c| IngestRequest { events: c.to_vec() })
                        .collect();
                    let call = c.ingest(tokio_stream::iter(messages));
                    let Ok(answer) = tokio::time::timeout_at(deadline.into(), call).await else {
                        break; // cut at the deadline: not counted
                    };
                    let code = match answer {
                        Ok(_) => "OK".to_owned(),
                        Err(s) => format!("{:?}", s.code()),
                    };
                    t.latencies_us.push(t0.elapsed().as_micros() as u64);
                    *t.codes.entry(code).or_insert(0) += 1;
                    let next = Instant::now() + Duration::from_millis(every);
                    tokio::time::sleep_until(next.min(deadline).into()).await;
                }
                t
            })
        };
        while Instant::now() < deadline && sent.load(Ordering::Relaxed) < a.max_requests {
            let next = Instant::now() + Duration::from_secs(5);
            tokio::time::sleep_until(next.min(deadline).into()).await;
            if let Some(r) = a.pid.and_then(rss_kib) {
                rss_samples.push((started.elapsed().as_secs(), r));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut checks = Tally::default();
        for t in tasks {
            let t = t.await.context("a check loop failed")?;
            checks.latencies_us.extend(t.latencies_us);
            for (k, v) in t.codes {
                *checks.codes.entry(k).or_insert(0) += v;
            }
        }
        let mut ingests = ingest.await.context("the ingest loop failed")?;
        let secs = started.elapsed().as_secs_f64();
        let pct = |v: &mut Vec<u64>, p: f64| -> u64 {
            if v.is_empty() {
                return 0;
            }
            v.sort_unstable();
            v[((v.len() as f64 - 1.0) * p).round() as usize]
        };
        let errors = |t: &Tally| -> u64 {
            t.codes
                .iter()
                .filter(|(k, _)| k.as_str() != "OK" && k.as_str() != "NotFound")
                .map(|(_, v)| v)
                .sum()
        };
        let mut out = String::new();
        use std::fmt::Write as _;
        let _ = writeln!(out, "soak: {secs:.0} s against {}", a.server);
        let _ = writeln!(
            out,
            "checks: {} ({:.0}/s) codes {:?} p50 {} us p99 {} us max {} us",
            checks.latencies_us.len(),
            checks.latencies_us.len() as f64 / secs,
            checks.codes,
            pct(&mut checks.latencies_us, 0.50),
            pct(&mut checks.latencies_us, 0.99),
            checks.latencies_us.last().copied().unwrap_or(0)
        );
        let _ = writeln!(
            out,
            "ingests: {} codes {:?} p50 {} us p99 {} us",
            ingests.latencies_us.len(),
            ingests.codes,
            pct(&mut ingests.latencies_us, 0.50),
            pct(&mut ingests.latencies_us, 0.99)
        );
        let bad = errors(&checks) + errors(&ingests);
        let _ = writeln!(out, "errors (not OK, not NOT_FOUND): {bad}");
        if let (Some(s), Some((_, e))) = (rss_start, rss_samples.last()) {
            let mid = rss_samples
                .get(rss_samples.len() / 2)
                .map(|x| x.1)
                .unwrap_or(s);
            let _ = writeln!(
                out,
                "server RSS: start {} MiB, middle {} MiB, end {} MiB, growth {:+.1} MiB (second half {:+.1} MiB)",
                s / 1024,
                mid / 1024,
                e / 1024,
                (*e as f64 - s as f64) / 1024.0,
                (*e as f64 - mid as f64) / 1024.0
            );
        }
        anyhow::Ok((out, if bad == 0 { 0 } else { 1 }))
    })?;
    // Written once, and a closed stdout (`| head -1`) is an error, not a panic.
    use std::io::Write as _;
    std::io::stdout()
        .lock()
        .write_all(report.0.as_bytes())
        .context("writing the report")?;
    Ok(report.1)
}
