//! Cost of anomaly subscriptions (BENCHMARKS.md, "REST checks and anomaly subscriptions"): a
//! server with `--subs` subscriptions (default 100,000) over a base of as many subscribers, then one `Ingest` that
//! makes `--touched` of the subscribed numbers anomalous (default 1,000 = 1 %), and the same
//! ingest size for numbers nobody subscribed to. Reports the time from the ingest's
//! acknowledgement to the first and the last callback at a local sink, the evaluation time
//! the server reports, and the process CPU consumed (server + sink + client: one process).
//!
//! ```sh
//! cargo run --release --example subscriptions_bench -- --subs 100000 --touched 1000
//! ```
//!
//! The subscription files are written straight into the store's directory in its own record
//! format (`Record`), as 100,000 POSTs would each wait for an fsync; the server then opens
//! them at start, which is also measured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hotzone::config::ServerSettings;
use hotzone::service::pb::fraud_hotzone_client::FraudHotzoneClient;
use hotzone::service::pb::{EventRecord, IngestRequest};
use hotzone::service::rest::subscriptions::Record;
use hotzone::service::{self, AppState};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Process CPU time (user + system) from /proc/self/stat.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ = 100 on Linux
}

fn number(i: usize) -> String {
    format!("+8869{:08}", i)
}

/// A local sink counting callbacks and the instant of the last one.
async fn sink(
    count: Arc<AtomicU64>,
    first: Arc<AtomicU64>,
    last: Arc<AtomicU64>,
    t0: Instant,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let (count, first, last) = (count.clone(), first.clone(), last.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (count, first, last) = (count.clone(), first.clone(), last.clone());
                        async move {
                            let _ = req.into_body().collect().await;
                            let us = t0.elapsed().as_micros() as u64;
                            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                                first.store(us, Ordering::SeqCst);
                            }
                            last.fetch_max(us, Ordering::SeqCst);
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::new(),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    addr
}

fn hot(subs: impl Iterator<Item = String>, now_ms: i64) -> Vec<EventRecord> {
    let mut v = Vec::new();
    for s in subs {
        for i in 0..3 {
            v.push(EventRecord {
                event_time_ms: Some(now_ms - 60_000 + i),
                subscriber: s.clone(),
                counterparty: format!("+2348021234{:03}", i),
                direction: "in".into(),
                kind: "call".into(),
                duration_s: Some(30),
                counterparty_region: String::new(),
            });
        }
    }
    v
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n_subs = arg("--subs", 100_000);
    let touched = arg("--touched", 1_000);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let subs_dir = root.path().join("subs");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&subs_dir).unwrap();
    // The base: every subscribed number has three calls a week ago, none hot.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut csv = String::from("event_time,subscriber,counterparty,direction,kind,duration_s\n");
    for i in 0..n_subs {
        for k in 0..3 {
            csv.push_str(&format!(
                "{},{},+88622123{:04},out,call,30\n",
                now_ms - 7 * 86_400_000 + k,
                number(i),
                k
            ));
        }
    }
    std::fs::write(data.join("base.csv"), csv).unwrap();

    let t0 = Instant::now();
    let (count, first, last) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let sink_addr = sink(count.clone(), first.clone(), last.clone(), t0).await;
    let starts_at = chrono::Utc::now().to_rfc3339();
    for i in 0..n_subs {
        let detail = serde_json::json!({
            "phoneNumber": number(i), "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"],
        });
        let r = Record {
            id: format!("bench-{i:07}"),
            client: "anonymous".into(),
            sink: format!("http://{sink_addr}/cb"),
            access_token: Some("t".into()),
            access_token_expires: None,
            detail: detail.as_object().unwrap().clone(),
            expire_time: None,
            max_events: None,
            initial_event: false,
            starts_at: starts_at.clone(),
            baseline: None,
            protocol_settings: None,
        };
        std::fs::write(
            subs_dir.join(format!("{}.json", r.id)),
            serde_json::to_vec(&r).unwrap(),
        )
        .unwrap();
    }
    eprintln!(
        "setup: {n_subs} subscribers and subscriptions written in {:.1?}",
        t0.elapsed()
    );

    let mut s = ServerSettings::for_data_dir(&data);
    s.poll_interval = None;
    s.http_listen = Some("127.0.0.1:0".parse().unwrap());
    s.subscriptions.dir = Some(subs_dir.clone());
    s.subscriptions.allow_insecure_sinks = true;
    let state = AppState::new(s);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = listener.local_addr().unwrap();
    let started = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service::serve(listener, state.clone(), async {
        let _ = stop_rx.await;
    }));
    let m = state.callback_metrics();
    while m.rounds() < 1 || m.pending() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let eval_s = |st: &AppState| -> f64 {
        st.render_metrics()
            .lines()
            .find_map(|l| l.strip_prefix("hotzone_subscription_evaluation_seconds_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    eprintln!(
        "start: store opened, data loaded and all {} subscriptions evaluated in {:.2?} (evaluation {:.3} s)",
        m.evaluations(),
        started.elapsed(),
        eval_s(&state)
    );
    let mut client = FraudHotzoneClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();

    for (label, offset) in [("unsubscribed", n_subs), ("subscribed", 0)] {
        let events = hot(
            (offset..offset + touched).map(number),
            chrono::Utc::now().timestamp_millis(),
        );
        let rounds = m.rounds();
        let evals = m.evaluations();
        let e0 = eval_s(&state);
        let before = count.load(Ordering::SeqCst);
        let cpu0 = cpu();
        let sent = t0.elapsed();
        client
            .ingest(tokio_stream::iter(vec![IngestRequest { events }]))
            .await
            .unwrap();
        let acked = t0.elapsed();
        while m.rounds() <= rounds || m.pending() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let got = count.load(Ordering::SeqCst) - before;
        let cpu1 = cpu();
        let us = |x: u64| Duration::from_micros(x);
        eprintln!(
            "ingest of {touched} {label} subscribers ({} records): ack {:.1?} after send; {} evaluated in {:.1} ms; {got} callbacks{}; process CPU {:.0?} (ingest to last callback)",
            touched * 3,
            acked - sent,
            m.evaluations() - evals,
            (eval_s(&state) - e0) * 1e3,
            if got > 0 {
                format!(
                    ", first {:.1?} and last {:.1?} after the ack",
                    us(first.load(Ordering::SeqCst)).saturating_sub(acked),
                    us(last.load(Ordering::SeqCst)).saturating_sub(acked)
                )
            } else {
                String::new()
            },
            cpu1.saturating_sub(cpu0),
        );
        first.store(0, Ordering::SeqCst);
        count.store(0, Ordering::SeqCst);
    }
    let _ = stop_tx.send(());
    let _ = server.await;
}
