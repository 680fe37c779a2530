//! `--raw`: a plain HTTP/2 client (the `h2` crate) that sends prebuilt gRPC bodies and reads
//! the `grpc-status` of every answer, so the generator costs far less CPU per call than the
//! server it measures (no tonic client, no protobuf encoding or decoding per call).
//!
//! One task per connection, on a current-thread runtime when `--threads 1`. Each connection
//! keeps its own share of the load:
//! - closed loop: `concurrency / connections` calls in flight, a new one as soon as one ends;
//! - open loop (`--rate R`): connection j of C sends check i*C + j at start + (i*C + j)/R;
//!   tokio's timer wakes at most every millisecond, so every check due by then goes out at
//!   once (bursts of rate/1000 checks: a 1 ms-wide artefact in every latency). With
//!   `--pace` a separate thread sleeps until each check's instant (to within the kernel's
//!   timer slack, ~50 us) and hands it to its connection's task, so checks leave spread
//!   over time as independent callers would send them. With `--spin` each connection task
//!   keeps its own schedule instead, yielding to the runtime until its next check is due
//!   (no thread hand-off per check: the cheapest precise open loop, at the price of a busy
//!   client core). Latency is measured from the actual send (`p*_us`) and from the scheduled instant
//!   (`sched_p*_us`); `lag_*` is send - schedule (0-1 ms from the timer tick alone; more
//!   means the generator fell behind, i.e. the run did not hold its rate).
//!
//! An answer is OK when the HTTP status is 200 and `grpc-status` (trailers, or the headers
//! of a trailers-only answer) is 0; anything else counts as an error by its grpc-status.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::client::{ResponseFuture, SendRequest};
use http::{HeaderValue, Method, Request, Uri};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// What every connection task needs.
pub struct Plan {
    /// `http://host:port/fraudhotzone.v1.FraudHotzone/Check`.
    pub uri: Uri,
    /// host:port to connect to.
    pub addr: String,
    /// One gRPC message body per number (5-byte prefix + protobuf), used round robin.
    pub bodies: Arc<Vec<Bytes>>,
    /// Connections.
    pub connections: usize,
    /// Calls in flight in total (closed loop).
    pub concurrency: usize,
    /// Total checks per second (open loop), or closed loop.
    pub rate: Option<f64>,
    /// First instant of the run (warm-up starts here).
    pub start: Instant,
    /// Measuring starts here.
    pub measure_from: Instant,
    /// And ends here.
    pub end: Instant,
    /// Open loop: each connection task keeps its own schedule by yielding to the runtime
    /// until a check is due (`--spin`).
    pub spin: bool,
}

/// What one connection saw during the measured window.
#[derive(Default)]
pub struct Tally {
    /// Send -> answer, ns (OK answers).
    pub lat_ns: Vec<u64>,
    /// Schedule -> answer, ns (open loop, OK answers).
    pub sched_ns: Vec<u64>,
    /// Schedule -> send, ns (open loop, every call).
    pub lag_ns: Vec<u64>,
    /// Non-OK answers by grpc-status (or transport error).
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Adds another connection's tally.
    pub fn merge(&mut self, o: Tally) {
        self.lat_ns.extend(o.lat_ns);
        self.sched_ns.extend(o.sched_ns);
        self.lag_ns.extend(o.lag_ns);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

type Pending = Pin<Box<dyn Future<Output = (Instant, Instant, Result<(), String>)> + Send>>;

async fn connect(addr: &str, depth: usize) -> Result<SendRequest<Bytes>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    // An open loop that falls behind (a slow or busy machine) keeps many answers received
    // but not yet read; each is a small DATA frame, which h2 (0.4.16+) budgets per
    // connection as protection against a hostile peer: at about 35,000 unread answers it
    // ends the connection with ENHANCE_YOUR_CALM "too_many_data_frames" (a CI run at
    // 30,000/s did). The peer here is our own server, so the budget is lifted.
    let (sr, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .max_concurrent_reset_streams(depth.max(16))
        .data_frame_budget(1 << 40)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sr.ready().await.map_err(|e| format!("HTTP/2: {e}"))
}

/// Starts one call: HEADERS + DATA(end of stream).
async fn send(
    sr: &mut SendRequest<Bytes>,
    uri: &Uri,
    body: Bytes,
) -> Result<ResponseFuture, String> {
    std::future::poll_fn(|cx| sr.poll_ready(cx))
        .await
        .map_err(|e| format!("h2 {e}"))?;
    let mut req = Request::new(());
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri.clone();
    let h = req.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert(http::header::TE, HeaderValue::from_static("trailers"));
    let (resp, mut stream) = sr.send_request(req, false).map_err(|e| format!("h2 {e}"))?;
    stream
        .send_data(body, true)
        .map_err(|e| format!("h2 {e}"))?;
    Ok(resp)
}

fn grpc_status(v: &HeaderValue) -> Result<(), String> {
    match v.as_bytes() {
        b"0" => Ok(()),
        other => Err(format!("grpc-status {}", String::from_utf8_lossy(other))),
    }
}

/// Waits for the answer and its status; the message itself is read and dropped.
async fn finish(resp: ResponseFuture) -> Result<(), String> {
    let resp = resp.await.map_err(|e| format!("h2 {e}"))?;
    if resp.status() != http::StatusCode::OK {
        return Err(format!("http {}", resp.status().as_u16()));
    }
    let (parts, mut body) = resp.into_parts();
    if let Some(s) = parts.headers.get("grpc-status") {
        return grpc_status(s); // trailers-only answer
    }
    while let Some(d) = body.data().await {
        let d = d.map_err(|e| format!("h2 {e}"))?;
        let _ = body.flow_control().release_capacity(d.len());
    }
    let trailers = body.trailers().await.map_err(|e| format!("h2 {e}"))?;
    match trailers.as_ref().and_then(|t| t.get("grpc-status")) {
        Some(s) => grpc_status(s),
        None => Err("no grpc-status".to_owned()),
    }
}

fn pending(sched: Instant, resp: ResponseFuture) -> Pending {
    let sent = Instant::now();
    Box::pin(async move { (sched, sent, finish(resp).await) })
}

/// One connection's share of the run.
///
/// `paced`: the open loop's send instants, from [`pacer`] (else tokio's timer is used).
pub async fn connection(
    plan: Arc<Plan>,
    j: usize,
    mut paced: Option<UnboundedReceiver<Instant>>,
) -> Result<Tally, String> {
    let c = plan.connections.max(1);
    let depth = (plan.concurrency / c).max(1);
    let mut sr = connect(&plan.addr, depth).await?;
    let bodies = plan.bodies.clone();
    let mut t = Tally::default();
    let mut inflight: FuturesUnordered<Pending> = FuturesUnordered::new();
    let record = |t: &mut Tally, (sched, sent, r): (Instant, Instant, Result<(), String>)| {
        let done = Instant::now();
        if sched < plan.measure_from || sched >= plan.end {
            return;
        }
        match r {
            Ok(()) => {
                t.lat_ns.push(done.duration_since(sent).as_nanos() as u64);
                if plan.rate.is_some() {
                    t.sched_ns
                        .push(done.saturating_duration_since(sched).as_nanos() as u64);
                }
            }
            Err(e) => *t.errors.entry(e).or_default() += 1,
        }
        if plan.rate.is_some() {
            t.lag_ns
                .push(sent.saturating_duration_since(sched).as_nanos() as u64);
        }
    };
    let mut k = j; // body index, round robin per connection
    match plan.rate {
        None => loop {
            let now = Instant::now();
            if now < plan.end {
                while inflight.len() < depth {
                    let resp = send(&mut sr, &plan.uri, bodies[k % bodies.len()].clone()).await?;
                    k += c;
                    inflight.push(pending(Instant::now(), resp));
                }
            } else if inflight.is_empty() {
                break;
            }
            if let Some(r) = inflight.next().await {
                record(&mut t, r);
            }
        },
        Some(rate) if plan.spin => {
            // The task never sleeps while a check is due within 2 ms: it yields to the
            // runtime (which runs the connection's I/O between polls) and sends when the
            // clock reaches the instant. No timer, no thread hand-off, no syscall per send
            // besides the connection's own writes; the client's core is busy all along.
            let period = Duration::from_secs_f64(1.0 / rate);
            let due_of = |i: u64| plan.start + period.mul_f64((i * c as u64 + j as u64) as f64);
            let mut i = 0u64;
            let mut due = due_of(0);
            while due < plan.end {
                while let Some(Some(r)) = inflight.next().now_or_never() {
                    record(&mut t, r);
                }
                let now = Instant::now();
                if due <= now {
                    let resp = send(&mut sr, &plan.uri, bodies[k % bodies.len()].clone()).await?;
                    k += c;
                    inflight.push(pending(due, resp));
                    i += 1;
                    due = due_of(i);
                } else if due - now > Duration::from_millis(2) {
                    let wake = tokio::time::sleep_until((due - Duration::from_millis(1)).into());
                    tokio::select! {
                        Some(r) = inflight.next(), if !inflight.is_empty() => record(&mut t, r),
                        () = wake => {}
                    }
                } else {
                    tokio::task::yield_now().await;
                }
            }
            while let Some(r) = inflight.next().await {
                record(&mut t, r);
            }
        }
        Some(_) if paced.is_some() => {
            let mut open = true;
            while open || !inflight.is_empty() {
                let rx = paced.as_mut().expect("paced");
                tokio::select! {
                    biased;
                    Some(r) = inflight.next(), if !inflight.is_empty() => record(&mut t, r),
                    due = rx.recv(), if open => match due {
                        Some(due) => {
                            let resp = send(&mut sr, &plan.uri, bodies[k % bodies.len()].clone()).await?;
                            k += c;
                            inflight.push(pending(due, resp));
                        }
                        None => open = false,
                    },
                }
            }
        }
        Some(rate) => {
            let period = Duration::from_secs_f64(1.0 / rate);
            let due_of = |i: u64| plan.start + period.mul_f64((i * c as u64 + j as u64) as f64);
            let mut i = 0u64;
            let mut due = due_of(0);
            let sleep = tokio::time::sleep_until(due.into());
            tokio::pin!(sleep);
            loop {
                if due >= plan.end && inflight.is_empty() {
                    break;
                }
                tokio::select! {
                    biased;
                    Some(r) = inflight.next(), if !inflight.is_empty() => record(&mut t, r),
                    () = &mut sleep, if due < plan.end => {
                        let now = Instant::now();
                        while due <= now && due < plan.end {
                            let resp = send(&mut sr, &plan.uri, bodies[k % bodies.len()].clone()).await?;
                            k += c;
                            inflight.push(pending(due, resp));
                            i += 1;
                            due = due_of(i);
                        }
                        sleep.as_mut().reset(due.into());
                    }
                }
            }
        }
    }
    Ok(t)
}

/// The open loop's clock on a thread of its own: check i (of every connection) is due at
/// start + i/rate; the thread sleeps until then and sends the instant to connection
/// i mod C. Returns when the run's end is reached (the receivers then see the channel close).
pub fn pacer(plan: &Plan, rate: f64, to: Vec<UnboundedSender<Instant>>) {
    let period = Duration::from_secs_f64(1.0 / rate);
    for i in 0u64.. {
        let due = plan.start + period.mul_f64(i as f64);
        if due >= plan.end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let _ = to[i as usize % to.len()].send(due);
    }
}

/// CPU time (user + system, ns) of process `pid` so far, threads that have exited
/// included: `utime + stime` of `/proc/PID/stat`, in clock ticks of 10 ms (USER_HZ = 100 on
/// Linux), so measure over seconds.
pub fn cpu_ns(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at its closing ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}
