//! gRPC load generator for `hotzone serve` (REFERENCE.md §8 `Check`).
//!
//! Closed loop (default): `--concurrency` tasks over `--connections` HTTP/2 connections, each
//! sending the next check as soon as the previous answer arrived, for `--duration` seconds
//! after `--warmup`: the maximum throughput. Open loop (`--rate R`): checks are started on a
//! fixed schedule of R per second (check i is due at start + i/R), taken by `--concurrency`
//! workers, so a slow answer does not delay the next check while a worker is free. Each
//! latency is measured from the check's actual start; how late that start was behind its
//! schedule is reported apart (`lag_p99_us`: tokio's timer has a 1 ms resolution; a lag well
//! past that means all workers were busy or the generator lacked CPU, i.e. the run did not
//! hold the rate).
//!
//! Phone numbers come from `--numbers FILE` (one E.164 number per line, e.g. the subscriber
//! column of a scan), used round robin. Every answer that is not OK counts as an error, by
//! gRPC code. The result is one JSON line on stdout.
//!
//! `--raw` replaces the tonic client by a plain HTTP/2 client sending prebuilt gRPC bodies
//! (see `raw.rs`): about a tenth of the CPU per call, so the generator does not starve the
//! server it measures. `--server-pid PID` adds the server's CPU time per call over the
//! measured window (from `/proc/PID/stat`), and the generator's own.
//!
//! `--dump-body FILE` writes one check as a gRPC message body (5-byte prefix + protobuf) for
//! generic HTTP/2 tools such as h2load, and exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

/// Generated from proto/fraudhotzone/v1/hotzone.proto.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("fraudhotzone.v1");
}

use pb::fraud_hotzone_client::FraudHotzoneClient;

mod raw;

#[derive(Parser, Debug, Clone)]
#[command(about = "gRPC load generator for hotzone serve")]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// File with one E.164 number per line (a CSV header line is skipped; first column used).
    #[arg(long)]
    numbers: Option<String>,
    /// A single number (instead of --numbers).
    #[arg(long)]
    number: Option<String>,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Concurrent requests in flight (closed loop).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: start this many checks per second (total); latency from the scheduled start.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Client runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Hotzone entries, comma-separated.
    #[arg(long, default_value = "+234,+1876,+855,+882", value_delimiter = ',')]
    hotzone: Vec<String>,
    /// look_back_days.
    #[arg(long, default_value_t = 30)]
    look_back_days: u32,
    /// threshold_ratio (SHARE).
    #[arg(long, default_value_t = 0.5)]
    threshold_ratio: f64,
    /// as_of (YYYY-MM-DD).
    #[arg(long, default_value = "2026-10-30")]
    as_of: String,
    /// Write one request as a gRPC body (for h2load -d) and exit.
    #[arg(long)]
    dump_body: Option<String>,
    /// Plain HTTP/2 client with prebuilt bodies instead of tonic (far cheaper per call).
    #[arg(long)]
    raw: bool,
    /// Open loop with --raw: a pacing thread releases each check at its instant (instead of
    /// tokio's 1 ms timer ticks, which send rate/1000 checks at once).
    #[arg(long)]
    pace: bool,
    /// Open loop with --raw: every connection task keeps its own schedule, yielding to the
    /// runtime until its next check is due (precise, and no thread hand-off per check).
    #[arg(long, conflicts_with = "pace")]
    spin: bool,
    /// Report this process's CPU time per call over the measured window (the server's pid).
    #[arg(long)]
    server_pid: Option<String>,
}

/// At most this many distinct prebuilt bodies in `--raw` mode (numbers sampled evenly).
const MAX_BODIES: usize = 100_000;

fn body(a: &Args, number: &str) -> Vec<u8> {
    let msg = request(a, number).encode_to_vec();
    let mut body = Vec::with_capacity(msg.len() + 5);
    body.push(0u8);
    body.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    body.extend_from_slice(&msg);
    body
}

fn request(a: &Args, number: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        phone_number: number.to_owned(),
        look_back_days: a.look_back_days,
        method: pb::Method::Share as i32,
        threshold_ratio: a.threshold_ratio,
        hotzone: a.hotzone.clone(),
        check_type: pb::CheckType::All as i32,
        check_target: pb::CheckTarget::All as i32,
        min_events: 3,
        as_of: a.as_of.clone(),
        hotzone_name: String::new(),
    }
}

fn numbers(a: &Args) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    if let Some(n) = &a.number {
        return Ok(vec![n.clone()]);
    }
    let path = a
        .numbers
        .as_deref()
        .ok_or("give --numbers FILE or --number N")?;
    let text = std::fs::read_to_string(path)?;
    let v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(',').next())
        .filter(|s| s.starts_with('+'))
        .map(str::to_owned)
        .collect();
    if v.is_empty() {
        return Err(format!("{path}: no E.164 number").into());
    }
    Ok(v)
}

#[derive(Default)]
struct Tally {
    lat_ns: Vec<u64>,
    lag_ns: Vec<u64>,
    errors: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.lat_ns.extend(o.lat_ns);
        self.lag_ns.extend(o.lag_ns);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn one(
    client: &mut FraudHotzoneClient<Channel>,
    req: pb::CheckRequest,
) -> Result<(), tonic::Code> {
    match client.check(req).await {
        Ok(_) => Ok(()),
        Err(s) => Err(s.code()),
    }
}

#[allow(clippy::print_stdout)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let nums = Arc::new(numbers(&a)?);
    if let Some(path) = &a.dump_body {
        std::fs::write(path, body(&a, &nums[0]))?;
        return Ok(());
    }
    let rt = if a.raw && a.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(a.threads.max(1))
            .enable_all()
            .build()?
    };
    if a.raw {
        rt.block_on(run_raw(a, nums))
    } else {
        rt.block_on(run(a, nums))
    }
}

/// CPU ns of the server (if given) and of this process, now.
type CpuNow = (Option<u64>, Option<u64>);

fn cpu_now(a: &Args) -> CpuNow {
    (
        a.server_pid.as_deref().and_then(raw::cpu_ns),
        raw::cpu_ns("self"),
    )
}

/// `"server_cpu_us_per_call":…,"client_cpu_us_per_call":…,"server_cores":…,"client_cores":…`
/// over the measured window: CPU time per call and cores used on average, of the server and
/// of this generator. Task time only: softirq time (the loopback TCP receive path) is
/// usually accounted to no process, so these are lower bounds of the CPU a call costs.
fn cpu_fields(before: CpuNow, after: CpuNow, calls: u64, secs: f64) -> String {
    let per = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) if calls > 0 => {
            format!("{:.2}", a.saturating_sub(b) as f64 / 1000.0 / calls as f64)
        }
        _ => "null".to_owned(),
    };
    let cores = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) if secs > 0.0 => {
            format!("{:.2}", a.saturating_sub(b) as f64 / 1e9 / secs)
        }
        _ => "null".to_owned(),
    };
    format!(
        "\"server_cpu_us_per_call\":{},\"client_cpu_us_per_call\":{},\"server_cores\":{},\"client_cores\":{}",
        per(before.0, after.0),
        per(before.1, after.1),
        cores(before.0, after.0),
        cores(before.1, after.1)
    )
}

async fn run_raw(a: Args, nums: Arc<Vec<String>>) -> Result<(), Box<dyn std::error::Error>> {
    let uri: http::Uri = format!(
        "{}/fraudhotzone.v1.FraudHotzone/Check",
        a.server.trim_end_matches('/')
    )
    .parse()?;
    let addr = uri
        .authority()
        .ok_or("--server needs host:port")?
        .to_string();
    let n = nums.len().min(MAX_BODIES);
    let bodies: Vec<Bytes> = (0..n)
        .map(|i| Bytes::from(body(&a, &nums[i * nums.len() / n])))
        .collect();
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let end = measure_from + Duration::from_secs_f64(a.duration);
    let plan = Arc::new(raw::Plan {
        uri,
        addr,
        bodies: Arc::new(bodies),
        connections: a.connections.max(1),
        concurrency: a.concurrency.max(1),
        rate: a.rate,
        start,
        measure_from,
        end,
        spin: a.spin,
    });
    let mut paced = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..plan.connections {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        paced.push(Some(rx));
    }
    let pacer = match a.rate {
        Some(rate) if a.pace => {
            let plan = plan.clone();
            Some(std::thread::spawn(move || raw::pacer(&plan, rate, senders)))
        }
        _ => {
            paced.iter_mut().for_each(|p| *p = None);
            None
        }
    };
    let tasks: Vec<_> = paced
        .into_iter()
        .enumerate()
        .map(|(j, rx)| tokio::spawn(raw::connection(plan.clone(), j, rx)))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu0 = cpu_now(&a);
    tokio::time::sleep_until(end.into()).await;
    let cpu1 = cpu_now(&a);
    let mut t = raw::Tally::default();
    if let Some(p) = pacer {
        p.join().map_err(|_| "the pacing thread panicked")?;
    }
    for task in tasks {
        t.merge(task.await??);
    }
    for v in [&mut t.lat_ns, &mut t.sched_ns, &mut t.lag_ns] {
        v.sort_unstable();
    }
    let calls = (t.lat_ns.len() as u64) + t.errors.values().sum::<u64>();
    let secs = a.duration;
    let errors: Vec<String> = t
        .errors
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    let l = &t.lat_ns;
    println!(
        "{{\"mode\":\"{}\",\"client\":\"raw-h2\",\"connections\":{},\"concurrency\":{},\"target_rate\":{},\"ok\":{},\"errors\":{{{}}},\"seconds\":{:.3},\"rps\":{:.1},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\"sched_p50_us\":{:.1},\"sched_p99_us\":{:.1},\"lag_p50_us\":{:.1},\"lag_p99_us\":{:.1},\"lag_max_us\":{:.1},\"pace\":{},{}}}",
        if a.rate.is_some() { "open" } else { "closed" },
        plan.connections,
        plan.concurrency,
        a.rate.map_or("null".to_owned(), |r| format!("{r}")),
        l.len(),
        errors.join(","),
        secs,
        l.len() as f64 / secs,
        pct(l, 50.0),
        pct(l, 90.0),
        pct(l, 99.0),
        pct(l, 99.9),
        pct(l, 100.0),
        pct(&t.sched_ns, 50.0),
        pct(&t.sched_ns, 99.0),
        pct(&t.lag_ns, 50.0),
        pct(&t.lag_ns, 99.0),
        pct(&t.lag_ns, 100.0),
        a.pace || a.spin,
        cpu_fields(cpu0, cpu1, calls, secs),
    );
    Ok(())
}

async fn run(a: Args, nums: Arc<Vec<String>>) -> Result<(), Box<dyn std::error::Error>> {
    let mut channels = Vec::new();
    for _ in 0..a.connections.max(1) {
        let ch = Endpoint::from_shared(a.server.clone())?
            .tcp_nodelay(true)
            .connect()
            .await?;
        channels.push(ch);
    }
    let base: Arc<pb::CheckRequest> = Arc::new(request(&a, ""));
    let next = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let warmup = Duration::from_secs_f64(a.warmup);
    let dur = Duration::from_secs_f64(a.duration);
    let mut tally = Tally::default();
    let measured_secs;
    let (cpu0, cpu1);
    match a.rate {
        None => {
            let mut tasks = Vec::new();
            for i in 0..a.concurrency.max(1) {
                let mut client = FraudHotzoneClient::new(channels[i % channels.len()].clone());
                let (nums, next, measuring, stop, base) = (
                    nums.clone(),
                    next.clone(),
                    measuring.clone(),
                    stop.clone(),
                    base.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut t = Tally::default();
                    while !stop.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let mut req = (*base).clone();
                        req.phone_number.clone_from(&nums[k % nums.len()]);
                        let t0 = Instant::now();
                        let r = one(&mut client, req).await;
                        let el = t0.elapsed().as_nanos() as u64;
                        if measuring.load(Ordering::Relaxed) {
                            match r {
                                Ok(()) => t.lat_ns.push(el),
                                Err(c) => *t.errors.entry(format!("{c:?}")).or_default() += 1,
                            }
                        }
                    }
                    t
                }));
            }
            tokio::time::sleep(warmup).await;
            measuring.store(true, Ordering::Relaxed);
            cpu0 = cpu_now(&a);
            let t0 = Instant::now();
            tokio::time::sleep(dur).await;
            measuring.store(false, Ordering::Relaxed);
            cpu1 = cpu_now(&a);
            measured_secs = t0.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for t in tasks {
                tally.merge(t.await?);
            }
        }
        Some(rate) => {
            // Open loop: check i is due at start + i / rate. `--concurrency` workers take the
            // next due check, wait for its instant and send it; a check is never skipped.
            let period = Duration::from_secs_f64(1.0 / rate);
            let start = Instant::now() + Duration::from_millis(10);
            let measure_from = start + warmup;
            let end = measure_from + dur;
            let mut tasks = Vec::new();
            for w in 0..a.concurrency.max(1) {
                let mut client = FraudHotzoneClient::new(channels[w % channels.len()].clone());
                let (nums, next, base) = (nums.clone(), next.clone(), base.clone());
                tasks.push(tokio::spawn(async move {
                    let mut t = Tally::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let sched = start + period.mul_f64(i as f64);
                        if sched >= end {
                            break;
                        }
                        tokio::time::sleep_until(sched.into()).await;
                        let mut req = (*base).clone();
                        req.phone_number.clone_from(&nums[i as usize % nums.len()]);
                        let t0 = Instant::now();
                        let r = one(&mut client, req).await;
                        if sched >= measure_from {
                            t.lag_ns
                                .push(t0.saturating_duration_since(sched).as_nanos() as u64);
                            match r {
                                Ok(()) => t.lat_ns.push(t0.elapsed().as_nanos() as u64),
                                Err(c) => *t.errors.entry(format!("{c:?}")).or_default() += 1,
                            }
                        }
                    }
                    t
                }));
            }
            tokio::time::sleep_until(measure_from.into()).await;
            cpu0 = cpu_now(&a);
            tokio::time::sleep_until(end.into()).await;
            cpu1 = cpu_now(&a);
            for t in tasks {
                tally.merge(t.await?);
            }
            measured_secs = dur.as_secs_f64();
        }
    }
    tally.lat_ns.sort_unstable();
    tally.lag_ns.sort_unstable();
    let l = &tally.lat_ns;
    let errors: Vec<String> = tally
        .errors
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    println!(
        "{{\"mode\":\"{}\",\"connections\":{},\"concurrency\":{},\"target_rate\":{},\"ok\":{},\"errors\":{{{}}},\"seconds\":{:.3},\"rps\":{:.1},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"max_us\":{:.1},\"lag_p99_us\":{:.1},{}}}",
        if a.rate.is_some() { "open" } else { "closed" },
        channels.len(),
        a.concurrency,
        a.rate.map_or("null".to_owned(), |r| format!("{r}")),
        l.len(),
        errors.join(","),
        measured_secs,
        l.len() as f64 / measured_secs,
        pct(l, 50.0),
        pct(l, 90.0),
        pct(l, 99.0),
        pct(l, 99.9),
        pct(l, 100.0),
        pct(&tally.lag_ns, 99.0),
        cpu_fields(
            cpu0,
            cpu1,
            (l.len() as u64) + tally.errors.values().sum::<u64>(),
            measured_secs
        ),
    );
    Ok(())
}
