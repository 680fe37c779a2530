//! Security, privacy and reliability of the service (issue 5), end to end: tokens and scopes,
//! the exposure rule, privacy policy and rate limits, load shedding and limits, metrics,
//! TLS and mutual TLS, unreadable data files, and, with a real `hotzone serve` child
//! process, SIGKILL during ingests and a grep of every log and audit line for the numbers.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotzone::config::ClientEntry;
use hotzone::service::AppState;
use hotzone::service::auth::hash_token;
use hotzone::service::pb::fraud_hotzone_client::FraudHotzoneClient;
use hotzone::service::pb::{CheckRequest, EventRecord, IngestRequest};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::support::{drop_file, settings, spawn_loaded, spawn_state, wait_for};

const HOT_DAY: &str = "\
event_time,subscriber,counterparty,direction,kind,duration_s
2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60
2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,60
2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,sms,
2026-03-10T12:03:00Z,+886912345001,+886221234567,out,call,60
2026-03-10T12:04:00Z,+886912345002,+886221234567,out,call,60
";

/// 2026-03-10T12:00:00Z.
const MAR10_NOON_MS: i64 = 1_773_144_000_000;

fn req(number: &str) -> CheckRequest {
    CheckRequest {
        phone_number: number.to_owned(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".to_owned()],
        as_of: "2026-03-10".to_owned(),
        ..CheckRequest::default()
    }
}

fn record(ms: i64, sub: &str, cp: &str) -> EventRecord {
    EventRecord {
        event_time_ms: Some(ms),
        subscriber: sub.to_owned(),
        counterparty: cp.to_owned(),
        direction: "in".to_owned(),
        kind: "call".to_owned(),
        duration_s: Some(30),
        counterparty_region: String::new(),
    }
}

/// Three hot calls on 2026-03-10 for `sub` (SHARE 0.5 anomalous).
fn hot_batch(sub: &str) -> Vec<EventRecord> {
    (0..3)
        .map(|i| {
            record(
                MAR10_NOON_MS + i * 1000,
                sub,
                &format!("+23480212345{i:02}"),
            )
        })
        .collect()
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn client_entry(id: &str, token: &str, check: bool, ingest: bool) -> ClientEntry {
    ClientEntry {
        id: id.to_owned(),
        token_sha256: hex::decode(hash_token(token)).unwrap().try_into().unwrap(),
        check,
        ingest,
    }
}

fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    drop_file(d.path(), "day.csv", HOT_DAY);
    d
}

fn reason(s: &tonic::Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_decide_who_may_call_and_health_stays_open() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.clients = vec![
        client_entry("bank", "tok-bank", true, false),
        client_entry("loader", "tok-loader", false, true),
    ];
    let audit = data.path().join("audit.jsonl");
    s.audit = Some(hotzone::config::AuditSettings {
        file: audit.clone(),
        hmac_key: vec![7; 16],
    });
    let server = spawn_loaded(s).await; // health answers without a token
    let mut c = server.client().await;
    let number = "+886912345001";

    let e = c.check(req(number)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(reason(&e), "UNAUTHENTICATED");
    let e = c.check(with_token(req(number), "wrong")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(!e.message().contains("wrong"));
    let e = c
        .check(with_token(req(number), "tok-loader"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(reason(&e), "PERMISSION_DENIED");
    let ok = c
        .check(with_token(req(number), "tok-bank"))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.anomaly_detected);

    let batch = || {
        tokio_stream::iter(vec![IngestRequest {
            events: hot_batch("+886955500001"),
        }])
    };
    let e = c.ingest(batch()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = c.ingest(with_token(batch(), "tok-bank")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let r = c
        .ingest(with_token(batch(), "tok-loader"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 3);
    // A valid token without the call's scope is named in the refusal's audit line (it was
    // "client": ""); a token that names no client is not.
    let lines = wait_for("the refusals' audit lines", || async {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let lines: Vec<serde_json::Value> = (text.lines())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines.len() >= 7).then_some(lines)
    })
    .await;
    let who = |rpc: &str, code: &str| -> Vec<String> {
        (lines.iter())
            .filter(|l| l["rpc"] == rpc && l["code"] == code)
            .map(|l| l["client"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(who("check", "PERMISSION_DENIED"), ["loader"]);
    assert_eq!(who("ingest", "PERMISSION_DENIED"), ["bank"]);
    assert_eq!(who("check", "UNAUTHENTICATED"), ["", ""]);
    assert_eq!(who("ingest", "OK"), ["loader"]);
    server.stop().await;
}

#[test]
fn serve_refuses_a_public_address_without_auth_unless_insecure() {
    let data = data_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure"), "{err}");

    let mut child = ServeChild::start(data.path(), &["--listen", "0.0.0.0:0", "--insecure"], &[]);
    assert!(child.logs().contains("--insecure"), "{}", child.logs());
    child.kill();
}

/// `policy.max_prefix_digits`: a prefix entry longer than the cap is refused, naming the cap
/// and never the entry, so a whole number cannot be named to learn whether the subscriber
/// talked to it (an adversarial pass asked so past `min_hotzone_entries` by padding the
/// hotzone with entries that match nothing). Shorter prefixes still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_longer_than_the_policy_allows_is_refused_without_echo() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.policy.max_prefix_digits = 6;
    s.policy.min_hotzone_entries = 2;
    let server = spawn_loaded(s).await;
    let mut c = server.client().await;
    let with = |entries: &[&str]| CheckRequest {
        hotzone: entries.iter().map(|e| e.to_string()).collect(),
        ..req("+886912345001")
    };
    for entries in [
        &["+2348021234567", "+999"][..],
        &["+2348021", "JM"],
        &["NG", "+2348021234567"],
    ] {
        let e = c.check(with(entries)).await.unwrap_err();
        assert_eq!(e.code(), Code::OutOfRange, "{entries:?}");
        assert!(
            e.message().contains("at most 6 digits"),
            "{entries:?}: {}",
            e.message()
        );
        assert!(!e.message().contains("2348021"), "{}", e.message());
    }
    // Six digits or fewer, and regions: answered (+234802 holds every hot counterparty).
    let r = c
        .check(with(&["+234802", "JM"]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.anomaly_detected);
    let r = c
        .check(with(&["+23480", "+1876"]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.anomaly_detected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_policy_suppresses_the_date_and_limits_what_a_caller_can_map() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.max_look_back_days = 30;
    s.policy.suppress_anomaly_date = true;
    s.policy.min_hotzone_entries = 2;
    s.policy.number_checks_per_hour = 1.0;
    s.policy.number_burst = 3;
    s.policy.client_checks_per_s = 0.01;
    s.policy.client_burst = 8;
    let server = spawn_loaded(s).await;
    let mut c = server.client().await;
    let two = |n: &str| CheckRequest {
        hotzone: vec!["NG".into(), "JM".into()],
        ..req(n)
    };
    let r = c.check(two("+886912345001")).await.unwrap().into_inner();
    assert!(r.anomaly_detected);
    assert_eq!(r.anomaly_date, "", "date suppressed");

    // One country at a time: refused, naming the minimum (a refused check still costs a
    // token: probing with bad requests is not free).
    let e = c.check(req("+886912345001")).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    assert!(e.message().contains("at least 2"), "{}", e.message());
    let dup = CheckRequest {
        hotzone: vec!["NG".into(), "NG".into()],
        ..req("+886912345002")
    };
    assert_eq!(c.check(dup).await.unwrap_err().code(), Code::OutOfRange);
    // The look-back cap names itself.
    let e = c
        .check(CheckRequest {
            look_back_days: 31,
            ..two("+886912345002")
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    assert!(e.message().contains("between 1 and 30"), "{}", e.message());

    // Per (client, number): the bucket holds 3; 001 has used 2, the third answers, the
    // fourth is refused.
    assert!(c.check(two("+886912345001")).await.is_ok());
    let e = c.check(two("+886912345001")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(reason(&e), "TOO_MANY_REQUESTS");
    assert!(!e.message().contains("886912345001"));
    // Another number still answers, until the client's own bucket (8) is empty.
    let mut refused = None;
    for i in 0..10 {
        if let Err(e) = c.check(two("+886912345002")).await {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("the client limit applies");
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(reason(&e), "TOO_MANY_REQUESTS");
    assert!(i <= 3, "refused after {i} more checks");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_and_big_or_slow_requests_are_cut() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.limits.max_concurrent_ingests = 1;
    s.limits.max_request_bytes = 2048;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let mut c = server.client().await;

    // An Ingest whose stream stays open holds the only ingest slot. Nothing times it out
    // here (default limits), so the test waits for the event, not for a clock.
    let (tx, rx) = tokio::sync::mpsc::channel::<IngestRequest>(1);
    let mut c2 = c.clone();
    let open = tokio::spawn(async move {
        c2.ingest(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tx.send(IngestRequest {
        events: hot_batch("+886955500002"),
    })
    .await
    .unwrap();
    wait_for("the ingest slot to be taken", || async {
        (state.ingest_gate().in_flight() == 1).then_some(())
    })
    .await;
    // A second Ingest is shed at once (it returns while the first still holds the slot: a
    // queued call would wait for as long as the first stays open).
    let e = c
        .ingest(tokio_stream::iter(vec![IngestRequest {
            events: hot_batch("+886955500003"),
        }]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    assert_eq!(reason(&e), "UNAVAILABLE");
    // Checks have their own budget: the held ingest takes nothing from them.
    assert!(c.check(req("+886912345001")).await.is_ok());
    assert_eq!(state.ingest_gate().in_flight(), 1);

    // The held Ingest finishes: stored, slot freed.
    drop(tx);
    let r = tokio::time::timeout(Duration::from_secs(30), open)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 3);
    assert!(c.check(req("+886955500002")).await.is_ok());
    assert_eq!(state.ingest_gate().in_flight(), 0);

    // Request size.
    let big = CheckRequest {
        hotzone_name: "x".repeat(4096),
        hotzone: vec![],
        ..req("+886912345001")
    };
    // tonic refuses it while decoding, before the handler: OUT_OF_RANGE "decoded message
    // length too large", given the ErrorInfo every refusal carries, and counted under it.
    let e = c.check(big).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("too large"), "{e:?}");
    assert!(e.message().contains("max_request_bytes"), "{e:?}");
    assert_eq!(reason(&e), "OUT_OF_RANGE");
    let text = state.render_metrics();
    assert!(
        text.contains("hotzone_rejects_total{reason=\"OUT_OF_RANGE\"} 1"),
        "{text}"
    );
    assert!(!text.contains("reason=\"OTHER\""), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_or_slow_ingests_end_with_deadline_exceeded_and_store_nothing() {
    let data = data_dir();
    let mut s = settings(data.path());
    // Wide margins: the feeder below sends every 100 ms, 20 times per idle period, so a
    // stalled machine cannot make it look idle.
    s.limits.ingest_idle_timeout_s = 2;
    s.limits.ingest_timeout_s = 5;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let mut c = server.client().await;

    // One message, then silence: the idle timeout ends it.
    let (tx, rx) = tokio::sync::mpsc::channel::<IngestRequest>(1);
    tx.send(IngestRequest {
        events: hot_batch("+886955500004"),
    })
    .await
    .unwrap();
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        c.ingest(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(e.message().contains("no message for 2 s"), "{e:?}");
    drop(tx);

    // A message every 100 ms (never idle) but never the end: the overall deadline ends it.
    let (tx, rx) = tokio::sync::mpsc::channel::<IngestRequest>(1);
    let feeder = tokio::spawn(async move {
        while tx
            .send(IngestRequest {
                events: hot_batch("+886955500005"),
            })
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        c.ingest(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.code(), Code::DeadlineExceeded, "{e:?}");
    assert!(e.message().contains("within 5 s"), "{e:?}");
    feeder.abort();
    for n in ["+886955500004", "+886955500005"] {
        assert_eq!(c.check(req(n)).await.unwrap_err().code(), Code::NotFound);
    }
    wait_for("the slots to be freed", || async {
        (state.ingest_gate().in_flight() == 0 && state.ingest_gate().pending_records() == 0)
            .then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_ingest_streams_never_starve_checks() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.clients = vec![
        client_entry("bank", "tok-bank", true, false),
        client_entry("loader-a", "tok-a", false, true),
        client_entry("loader-b", "tok-b", false, true),
    ];
    s.limits.max_concurrent_calls = 2;
    s.limits.max_concurrent_ingests = 3;
    s.limits.max_ingests_per_client = 2;
    s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let c = server.client().await;

    // Each opened stream sends one message and goes silent; its sender is kept alive.
    let mut held = Vec::new();
    let open = |token: &'static str, sub: &'static str| {
        let mut c = c.clone();
        async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<IngestRequest>(1);
            tx.send(IngestRequest {
                events: hot_batch(sub),
            })
            .await
            .unwrap();
            let call = tokio::spawn(async move {
                c.ingest(with_token(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                    token,
                ))
                .await
            });
            (tx, call)
        }
    };
    for (i, (token, sub)) in [("tok-a", "+886955500011"), ("tok-a", "+886955500012")]
        .into_iter()
        .enumerate()
    {
        held.push(open(token, sub).await);
        wait_for("an ingest stream to open", || async {
            (state.ingest_gate().in_flight() == i + 1).then_some(())
        })
        .await;
    }
    // A third stream of the same client: over its share.
    let (_tx, call) = open("tok-a", "+886955500013").await;
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert_eq!(reason(&e), "TOO_MANY_REQUESTS");
    // Another client takes the last slot; the next stream finds none.
    held.push(open("tok-b", "+886955500014").await);
    wait_for("the last ingest slot to be taken", || async {
        (state.ingest_gate().in_flight() == 3).then_some(())
    })
    .await;
    let (_tx2, call) = open("tok-b", "+886955500015").await;
    let e = call.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");

    // With every ingest slot held, the bank's checks all answer.
    let mut bank = c.clone();
    for _ in 0..50 {
        let r = bank
            .check(with_token(req("+886912345001"), "tok-bank"))
            .await
            .unwrap()
            .into_inner();
        assert!(r.anomaly_detected);
    }
    let addr = wait_for("metrics address", || async { state.metrics_addr() }).await;
    let text = scrape(addr).await;
    assert!(text.contains("hotzone_inflight_ingests 3"), "{text}");
    assert!(text.contains("hotzone_inflight_calls 0"), "{text}");

    // The held streams end normally: each stores its one message.
    for (tx, call) in held {
        drop(tx);
        let r = call.await.unwrap().unwrap().into_inner();
        assert_eq!(r.accepted, 3);
    }
    assert_eq!(state.ingest_gate().in_flight(), 0);
    server.stop().await;
}

/// GET /metrics over a raw socket.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_every_family() {
    let data = data_dir();
    let mut s = settings(data.path());
    s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    s.poll_interval = None; // the ingested segment stays a segment
    s.clients = vec![client_entry("bank", "tok", true, true)];
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    c.check(with_token(req("+886912345001"), "tok"))
        .await
        .unwrap();
    let _ = c.check(with_token(req("+886912345999"), "tok")).await;
    let _ = c.check(req("+886912345001")).await;
    c.ingest(with_token(
        tokio_stream::iter(vec![IngestRequest {
            events: hot_batch("+886955500003"),
        }]),
        "tok",
    ))
    .await
    .unwrap();
    let addr = wait_for("metrics address", || async { state.metrics_addr() }).await;
    let text = scrape(addr).await;
    for needle in [
        "hotzone_checks_total{code=\"OK\",result=\"anomaly\"} 1",
        "hotzone_checks_total{code=\"NOT_FOUND\",result=\"error\"} 1",
        "hotzone_checks_total{code=\"UNAUTHENTICATED\",result=\"error\"} 1",
        "hotzone_check_latency_seconds_bucket{le=\"+Inf\"} 3",
        "hotzone_check_latency_seconds_count 3",
        "hotzone_rejects_total{reason=\"UNAUTHENTICATED\"} 1",
        "hotzone_rejects_total{reason=\"IDENTIFIER_NOT_FOUND\"} 1",
        "hotzone_ingests_total{result=\"ok\"} 1",
        "hotzone_ingested_records_total{outcome=\"accepted\"} 3",
        "hotzone_reloads_total{result=\"ok\"} 1",
        "hotzone_index_events 8",
        "hotzone_index_subscribers 3",
        "hotzone_index_segments 2",
        "hotzone_index_bytes ",
        "hotzone_inflight_calls 0",
        "hotzone_reload_skipped_files 0",
        "hotzone_audit_dropped_total 0",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let age: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("hotzone_data_age_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    // The data ends 2026-03-11T00:00Z; now is later than that.
    assert!(age.is_finite(), "{age}");
    assert!(!text.contains("886912345"), "a number in the metrics");
    server.stop().await;
}

/// A CA, a server certificate for `localhost`, and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        for (name, san) in [("server", "localhost"), ("client", "client.bank")] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![san.to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    async fn channel(&self, addr: std::net::SocketAddr, with_cert: bool) -> Option<Channel> {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.read("ca.pem")))
            .domain_name("localhost");
        if with_cert {
            tls = tls.identity(Identity::from_pem(
                self.read("client.pem"),
                self.read("client.key"),
            ));
        }
        Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .ok()
    }
}

/// A `[tls]` key of another certificate stops the start naming both files (tonic's own
/// refusal was a bare `KeyMismatch`).
#[test]
fn a_tls_key_of_another_certificate_is_refused_naming_both_files() {
    let pki = Pki::new();
    let data = data_dir();
    let (cert, key) = (pki.path("server.pem"), pki.path("client.key"));
    let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("client.key is not the private key of") && err.contains("server.pem"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    let pki = Pki::new();
    let data = data_dir();
    for mutual in [false, true] {
        let mut s = settings(data.path());
        s.tls = Some(hotzone::config::TlsConfig {
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
            client_ca: mutual.then(|| pki.path("ca.pem")),
        });
        let server = spawn_state(AppState::new(s)).await;
        let ch = wait_for("a TLS connection", || pki.channel(server.addr, true)).await;
        let c = FraudHotzoneClient::new(ch);
        let r = wait_for("loaded", || {
            let mut c = c.clone();
            async move { c.check(req("+886912345001")).await.ok() }
        })
        .await;
        assert!(r.into_inner().anomaly_detected, "mutual={mutual}");
        // Plaintext is not spoken on a TLS port.
        if let Ok(mut plain) = FraudHotzoneClient::connect(server.url()).await {
            assert!(plain.check(req("+886912345001")).await.is_err());
        }
        // Without a client certificate: fine for TLS, refused under mutual TLS.
        let no_cert = match pki.channel(server.addr, false).await {
            None => None,
            Some(ch) => Some(
                FraudHotzoneClient::new(ch)
                    .check(req("+886912345001"))
                    .await,
            ),
        };
        if mutual {
            assert!(
                !matches!(no_cert, Some(Ok(_))),
                "a client without a certificate got an answer under mTLS"
            );
        } else {
            assert!(matches!(no_cert, Some(Ok(_))), "{no_cert:?}");
        }
        server.stop().await;
    }
    // The CLI client speaks TLS with a client certificate.
    let mut s = settings(data.path());
    s.tls = Some(hotzone::config::TlsConfig {
        cert: pki.path("server.pem"),
        key: pki.path("server.key"),
        client_ca: Some(pki.path("ca.pem")),
    });
    let server = spawn_state(AppState::new(s)).await;
    let port = server.addr.port().to_string();
    let out = wait_for("the CLI check", || {
        let port = port.clone();
        let (ca, cert, key) = (
            pki.path("ca.pem"),
            pki.path("client.pem"),
            pki.path("client.key"),
        );
        async move {
            let out = tokio::task::spawn_blocking(move || {
                Command::new(env!("CARGO_BIN_EXE_hotzone"))
                    .args(["check", "--server", &format!("https://localhost:{port}")])
                    .arg("--ca-cert")
                    .arg(ca)
                    .arg("--client-cert")
                    .arg(cert)
                    .arg("--client-key")
                    .arg(key)
                    .args([
                        "--phone-number",
                        "+886912345001",
                        "--look-back-days",
                        "7",
                        "--threshold-ratio",
                        "0.5",
                        "--hotzone",
                        "NG",
                        "--as-of",
                        "2026-03-10",
                    ])
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            out.status.success().then_some(out)
        }
    })
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "anomaly_detected=true anomaly_date=2026-03-10"
    );
    server.stop().await;
}

/// A client that connects to the TLS port and never completes a handshake (silent, or
/// speaking plaintext HTTP/2) is closed after the handshake timeout (10 s), not held for ever:
/// tonic has no timeout unless given one (a CI run once hung in the test above on such a
/// connection), and each held connection takes a place of `max_connections`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_handshake_never_completed_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = Pki::new();
    let data = data_dir();
    let mut s = settings(data.path());
    s.tls = Some(hotzone::config::TlsConfig {
        cert: pki.path("server.pem"),
        key: pki.path("server.key"),
        client_ca: None,
    });
    let server = spawn_state(AppState::new(s)).await;
    let ch = wait_for("a TLS connection", || pki.channel(server.addr, true)).await;
    drop(ch);
    for hello in [&b""[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"] {
        let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        sock.write_all(hello).await.unwrap();
        let started = std::time::Instant::now();
        // The event: the server closes (EOF, or a reset, or an alert then EOF). The bound
        // only turns a connection held for ever into a failure.
        let closed = tokio::time::timeout(Duration::from_secs(60), async {
            let mut buf = [0u8; 256];
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // a TLS alert before the close
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a connection that sent {hello:?} was still open after {:?}",
            started.elapsed()
        );
    }
    // The port still serves.
    let ch = wait_for("a TLS connection", || pki.channel(server.addr, true)).await;
    let r = FraudHotzoneClient::new(ch)
        .check(req("+886912345001"))
        .await
        .unwrap();
    assert!(r.into_inner().anomaly_detected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_are_skipped_and_a_failed_reload_keeps_serving() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    drop_file(&data, "day.csv", HOT_DAY);
    // A corrupt Parquet file and a CSV cut in the middle of a row.
    drop_file(&data, "broken.parquet", "PAR1 this is not parquet");
    let half = "event_time,subscriber,counterparty,direction,kind,duration_s\n\
                2026-03-10T12:00:00Z,+886912345003,+2348021234567,in,call,60\n\
                2026-03-10T12:01:00Z,+8869123";
    drop_file(&data, "half.csv", half);
    let mut s = settings(&data);
    s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    assert!(
        c.check(req("+886912345001"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    // The half-written file's complete rows are in; its cut row is a counted reject.
    assert!(c.check(req("+886912345003")).await.is_ok());
    let addr = wait_for("metrics address", || async { state.metrics_addr() }).await;
    assert!(
        scrape(addr)
            .await
            .contains("hotzone_reload_skipped_files 1")
    );

    // The data directory disappears: reloads fail, the previous data keeps serving.
    let away = root.path().join("away");
    std::fs::rename(&data, &away).unwrap();
    wait_for("a failed reload", || async {
        (!no_reload_failed(&state)).then_some(())
    })
    .await;
    assert!(
        c.check(req("+886912345001"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    // Back, with the broken file repaired (removed): the poller picks the change up.
    std::fs::remove_file(away.join("broken.parquet")).unwrap();
    std::fs::rename(&away, &data).unwrap();
    wait_for("skipped back to 0", || async {
        scrape(addr)
            .await
            .contains("hotzone_reload_skipped_files 0")
            .then_some(())
    })
    .await;
    server.stop().await;
}

/// A data file rewritten in place with the same size, its modification time then set back
/// (as `cp -p`, `rsync -t` or `touch -r` leave it), is still seen as changed by the poll: the
/// stamp holds the inode's change time, which no writer can set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_rewritten_with_its_size_and_modification_time_is_reloaded() {
    use std::io::Write;
    let data = tempfile::tempdir().unwrap();
    let path = drop_file(data.path(), "day.csv", HOT_DAY);
    let server = spawn_state(AppState::new(settings(data.path()))).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    let r = c.check(req("+886912345001")).await.unwrap().into_inner();
    assert!(r.anomaly_detected);

    // Nigeria's numbers become Ghana's, byte for byte the same length.
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let rewritten = HOT_DAY.replace("+23480", "+23380");
    assert_eq!(rewritten.len(), HOT_DAY.len());
    let ctime = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.ctime(), m.ctime_nsec())
    };
    let first = ctime(&path);
    // Written again until the change time has moved: a file system's clock may be coarser
    // than the time between the first write and this one.
    while ctime(&path) == first {
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all(rewritten.as_bytes()).unwrap();
        f.set_modified(before).unwrap();
    }
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (meta.len(), meta.modified().unwrap()),
        (HOT_DAY.len() as u64, before)
    );
    wait_for("the rewritten file's answer", || {
        let mut c = c.clone();
        async move {
            let r = c.check(req("+886912345001")).await.unwrap().into_inner();
            (!r.anomaly_detected).then_some(())
        }
    })
    .await;
    server.stop().await;
}

/// Whether no reload has failed yet.
fn no_reload_failed(state: &AppState) -> bool {
    state
        .render_metrics()
        .contains("hotzone_reloads_total{result=\"error\"} 0")
}

/// A `hotzone serve` child process with its stderr captured.
struct ServeChild {
    child: Child,
    logs: Arc<Mutex<String>>,
    addr: std::net::SocketAddr,
}

impl ServeChild {
    fn start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServeChild {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotzone"));
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--poll-interval-s", "1"])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<std::net::SocketAddr>();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("serving fraudhotzone.v1.FraudHotzone")
                    && let Some(a) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse().ok())
                {
                    let _ = tx.send(a);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("serve did not start: {}", logs.lock().unwrap()));
        ServeChild { child, logs, addr }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    async fn client(&self) -> FraudHotzoneClient<Channel> {
        let url = format!("http://{}", self.addr);
        let ch = wait_for("connect", || {
            let url = url.clone();
            async move {
                tonic::transport::Endpoint::from_shared(url)
                    .unwrap()
                    .connect()
                    .await
                    .ok()
            }
        })
        .await;
        FraudHotzoneClient::new(ch)
    }

    /// SIGKILL: no drain, no flush beyond what was already made durable.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_loaded(c: &FraudHotzoneClient<Channel>) {
    wait_for("loaded", || {
        let mut c = c.clone();
        async move { c.check(req("+886912345001")).await.ok() }
    })
    .await;
}

/// A data file with no header row (its first record read as the names) is skipped with an
/// error that names the file and says what is missing, never the record's numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_a_header_row_is_skipped_and_its_numbers_stay_out_of_the_log() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    drop_file(
        data.path(),
        "noheader.csv",
        "2026-03-10T12:00:00Z,+886912399999,+2348031239999,in,call,60\n",
    );
    let server = ServeChild::start(data.path(), &[], &[]);
    wait_loaded(&server.client().await).await;
    let logs = wait_for("the skipped file's error", || async {
        let l = server.logs();
        l.contains("noheader.csv").then_some(l)
    })
    .await;
    assert!(logs.contains("has the file a header row?"), "{logs}");
    for digits in ["912399999", "8031239999"] {
        assert!(!logs.contains(digits), "{logs}");
    }
}

/// A data directory of epoch seconds (read as the milliseconds integer times are) loads into
/// January 1970, where no check of today's window finds anything: the load log says so,
/// naming the day and no number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_of_epoch_seconds_is_warned_about_in_the_load_log() {
    let data = tempfile::tempdir().unwrap();
    drop_file(
        data.path(),
        "seconds.csv",
        "event_time,subscriber,counterparty,direction,kind,duration_s\n\
         1773144000,+886912399999,+2348031239999,in,call,60\n",
    );
    let server = ServeChild::start(data.path(), &[], &[]);
    let logs = wait_for("the warning after the load", || async {
        let l = server.logs();
        l.contains("epoch seconds").then_some(l)
    })
    .await;
    assert!(
        logs.contains("latest day in the data is 1970-01-21"),
        "{logs}"
    );
    for digits in ["912399999", "8031239999"] {
        assert!(!logs.contains(digits), "{logs}");
    }
}

/// SIGHUP stops nothing (its default action ended the server at once, callbacks waiting to
/// be retried lost: a helper's pass); it has the audit file opened again, so a rotation
/// (rename, then SIGHUP) sends the next lines to a new file at the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_opens_the_audit_file_again_and_stops_nothing() {
    let data = data_dir();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.jsonl");
    let audit_s = audit.to_string_lossy().into_owned();
    let env = [("HOTZONE_AUDIT_KEY", "00112233445566778899aabbccddeeff")];
    let mut server = ServeChild::start(data.path(), &["--audit-log", audit_s.as_str()], &env);
    let c = server.client().await;
    wait_loaded(&c).await;
    // A check under a correlator, and its audit line waited for in `file` (lines are written
    // in order, so every earlier line is there too).
    let check_seen = |correlator: &'static str, file: std::path::PathBuf| {
        let mut c = c.clone();
        async move {
            let mut r = tonic::Request::new(req("+886912345001"));
            r.metadata_mut()
                .insert("x-correlator", correlator.parse().unwrap());
            c.check(r).await.unwrap();
            wait_for("the check's audit line", || async {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                text.contains(correlator).then_some(())
            })
            .await;
        }
    };
    check_seen("before-rotation", audit.clone()).await;
    let rotated = audit_dir.path().join("audit.jsonl.1");
    std::fs::rename(&audit, &rotated).unwrap();
    let pid = server.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-HUP", pid.as_str()])
        .status()
        .unwrap();
    assert!(sent.success());
    wait_for("the SIGHUP log line", || async {
        server
            .logs()
            .contains("SIGHUP: the audit file is opened again")
            .then_some(())
    })
    .await;
    check_seen("after-rotation", audit.clone()).await;
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&audit).unwrap();
    assert!(
        old.contains("before-rotation") && !old.contains("after-rotation"),
        "{old}"
    );
    assert!(!new.contains("before-rotation"), "{new}");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{}",
        server.logs()
    );
    server.kill();
}

/// A file dropped in after the start that records another zone than the server's is warned
/// about at its reload, as at the start (the warning was only the start's: a helper's pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_recorded_by_a_file_dropped_in_later_is_warned_about() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let server = ServeChild::start(data.path(), &[], &[]);
    wait_loaded(&server.client().await).await;
    assert!(
        !server.logs().contains("record another zone"),
        "{}",
        server.logs()
    );
    let made = tempfile::tempdir().unwrap();
    let tokyo = made.path().join("tokyo.parquet");
    let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args([
            "gen",
            "--subscribers",
            "20",
            "--days",
            "2",
            "--tz",
            "Asia/Tokyo",
            "--output",
        ])
        .arg(&tokyo)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::rename(&tokyo, data.path().join("tokyo.parquet")).unwrap();
    let logs = wait_for("the zone warning", || async {
        let l = server.logs();
        l.contains("record another zone").then_some(l)
    })
    .await;
    assert!(logs.contains("recorded=Asia/Tokyo"), "{logs}");
}

/// The headers a subscription asks its callbacks to carry (`protocolSettings.headers`) may
/// be secrets: with every log level on, no log line and no audit line of the real server
/// holds a value, whether the subscription was taken (its callbacks sent) or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_header_value_never_reaches_a_log() {
    use crate::http::{SinkMode, SinkServer, post_json, request};
    const SUBS: &str = "/fraud-hotzone-alert-subscriptions/v0/subscriptions";
    let secret = "hdr-val-5ec7e7";
    let data = data_dir();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.jsonl");
    let audit_s = audit.to_string_lossy().into_owned();
    let env = [
        ("HOTZONE_AUDIT_KEY", "00112233445566778899aabbccddeeff"),
        ("RUST_LOG", "trace"),
    ];
    let args = [
        "--audit-log",
        audit_s.as_str(),
        "--http-listen",
        "127.0.0.1:0",
        "--allow-insecure-sinks",
    ];
    let mut server = ServeChild::start(data.path(), &args, &env);
    let c = server.client().await;
    wait_loaded(&c).await;
    let http: std::net::SocketAddr = wait_for("the REST address", || async {
        (server.logs().lines())
            .filter(|l| l.contains("serving the REST API"))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .and_then(|a| a.parse().ok())
            })
    })
    .await;
    let mut sink = SinkServer::start(SinkMode::Status(204)).await;
    let number = "+886955500081";
    let (events, _) = crate::subscriptions::hot_now(number);
    c.clone()
        .ingest(tokio_stream::iter(vec![IngestRequest { events }]))
        .await
        .unwrap();
    let body = |settings: serde_json::Value| {
        serde_json::json!({
            "protocol": "HTTP",
            "sink": sink.url("/cb"),
            "protocolSettings": settings,
            "types": ["org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected"],
            "config": {
                "subscriptionDetail": {
                    "phoneNumber": number,
                    "lookBackDays": 7,
                    "thresholdRatio": 0.5,
                    "fraudHotZone": ["NG"],
                },
                "initialEvent": true,
            },
        })
    };
    // Refused: a value with a line break, and a header the service owns.
    for refused in [
        serde_json::json!({"headers": {"X-Api-Key": format!("{secret}\r\nX-B: 1")}}),
        serde_json::json!({"headers": {"Authorization": secret}}),
        serde_json::json!({"headers": {"X-Api-Key": secret}, "method": "GET"}),
    ] {
        let r = post_json(
            http,
            SUBS,
            &[("x-correlator", "hdr-refused")],
            &body(refused),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(!r.text().contains(secret), "{}", r.text());
    }
    // Taken: the initial event and the end carry the header.
    let r = post_json(
        http,
        SUBS,
        &[("x-correlator", "hdr-taken")],
        &body(serde_json::json!({"headers": {"X-Api-Key": secret}, "method": "POST"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let got = sink.next().await;
    assert_eq!(got.headers.get("x-api-key").unwrap(), secret);
    let r = request(http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let got = sink.next().await;
    assert_eq!(got.headers.get("x-api-key").unwrap(), secret);
    // The lines of what happened are there (so the logs are read), the value is not.
    let logs = wait_for("the subscription's log lines", || async {
        let l = server.logs();
        (l.contains("subscription created") && l.contains("hdr-taken")).then_some(l)
    })
    .await;
    wait_for("the subscribe audit lines", || async {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        (text.contains("subscribe") && text.contains("unsubscribe")).then_some(())
    })
    .await;
    server.kill();
    let logs = format!("{logs}{}", server.logs());
    assert!(!logs.contains(secret), "a header value in the log");
    let audited = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !audited.contains(secret),
        "a header value in the audit file"
    );
    assert!(!logs.contains("955500081") && !audited.contains("955500081"));
}

/// The audit file's check lines, check lines with the correlator `leak-test`, and ingest
/// lines answered OK, as far as they are on disk (whole lines only).
fn audit_counts(audit: &std::path::Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let lines: Vec<serde_json::Value> = (text.lines())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let check = |l: &&serde_json::Value| l["rpc"] == "check";
    (
        lines.iter().filter(check).count(),
        (lines.iter().filter(check))
            .filter(|l| l["correlator"] == "leak-test")
            .count(),
        (lines.iter())
            .filter(|l| l["rpc"] == "ingest" && l["code"] == "OK")
            .count(),
    )
}

/// Ingests keep landing while the server is SIGKILLed; after a restart every acknowledged
/// batch is there exactly once. Then every log line and audit line of both runs is searched
/// for the numbers used (valid, unknown, invalid; with and without '+').
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_loses_nothing_acknowledged_and_no_number_reaches_a_log() {
    let data = data_dir();
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.jsonl");
    let audit_s = audit.to_string_lossy().into_owned();
    let key = "00112233445566778899aabbccddeeff";
    let env = [
        ("HOTZONE_AUDIT_KEY", key),
        ("RUST_LOG", "trace,h2=debug,hyper=debug,tower=debug"),
    ];
    let args = ["--audit-log", audit_s.as_str()];
    let mut first = ServeChild::start(data.path(), &args, &env);
    let c = first.client().await;
    wait_loaded(&c).await;

    // Checks: known, unknown, malformed numbers.
    let numbers = [
        "+886912345001",
        "+886912345002",
        "+886912345999",
        "886912345001",
        "+0886912345678",
        "+88691234500199999",
    ];
    for n in numbers {
        let mut c = c.clone();
        let mut r = tonic::Request::new(req(n));
        r.metadata_mut()
            .insert("x-correlator", "leak-test".parse().unwrap());
        let _ = c.check(r).await;
    }
    // Numbers sent in number fields (refused): the audit line wrote them as sent (a
    // helper's pass found `"threshold_ratio":886931234601.0`).
    let odd = CheckRequest {
        threshold_ratio: 886_931_234_601.0,
        look_back_days: 912_345_678,
        min_events: 933_377_777,
        method: 944_455_566,
        ..req("+886912345001")
    };
    let mut odd = tonic::Request::new(odd);
    odd.metadata_mut()
        .insert("x-correlator", "odd-fields".parse().unwrap());
    let _ = c.clone().check(odd).await;
    // A number in the correlator, after a letter (an adversarial pass found it logged).
    let mut r = tonic::Request::new(req("+886912345001"));
    r.metadata_mut()
        .insert("x-correlator", "tel:886912345002".parse().unwrap());
    let echoed = c.clone().check(r).await.unwrap();
    assert_eq!(
        echoed.metadata().get("x-correlator").unwrap(),
        "tel:886912345002"
    );
    // Ingests racing a SIGKILL.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let c = c.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..10_000u32 {
                let sub = format!("+8869555{i:05}");
                let mut batch = hot_batch(&sub);
                // A record with an invalid subscriber: rejected, and never logged.
                batch.push(record(MAR10_NOON_MS, "+0886933377777", ""));
                let mut c = c.clone();
                match c
                    .ingest(tokio_stream::iter(vec![IngestRequest { events: batch }]))
                    .await
                {
                    Ok(r) if r.get_ref().accepted == 3 => acked.lock().unwrap().push(sub),
                    Ok(r) => panic!("{:?}", r.into_inner()),
                    Err(_) => return, // the server is gone
                }
            }
        })
    };
    wait_for("some acknowledged ingests", || async {
        (acked.lock().unwrap().len() >= 5).then_some(())
    })
    .await;
    // Audit lines are written by a thread after the answer, and a SIGKILL loses the queued
    // ones: the checks and an ingest this test looks for are on disk before the kill.
    wait_for("the first server's audit lines", || async {
        let (checks, leak_checks, ingests) = audit_counts(&audit);
        // The numbers' checks, and the ones of number-like fields and correlator after them.
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let odd = text.contains("odd-fields") && text.contains("tel:############");
        (odd && checks >= numbers.len() && leak_checks >= numbers.len() && ingests >= 1)
            .then_some(())
    })
    .await;
    first.kill();
    let first_checks = audit_counts(&audit).0;
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 5);

    let second = ServeChild::start(data.path(), &args, &env);
    let c = second.client().await;
    wait_loaded(&c).await;
    for sub in &acked {
        let mut c = c.clone();
        let r = c.check(req(sub)).await.unwrap().into_inner();
        assert!(r.anomaly_detected, "{sub} lost after SIGKILL");
        let r = c
            .check(CheckRequest {
                min_events: 4,
                ..req(sub)
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!r.anomaly_detected, "{sub} counted twice after SIGKILL");
    }
    wait_for("the second server's audit lines", || async {
        (audit_counts(&audit).0 >= first_checks + acked.len() * 2).then_some(())
    })
    .await;
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("ingest"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let logs = format!("{}\n{}", first.logs(), second.logs());
    drop(second);
    let audit_text = std::fs::read_to_string(&audit).unwrap();

    let mut raw: Vec<String> = numbers.iter().map(|s| s.to_string()).collect();
    raw.extend(acked.iter().cloned());
    raw.extend(["+2348021234500", "+0886933377777"].map(String::from));
    raw.extend(["886931234601", "912345678", "933377777", "944455566"].map(String::from));
    for n in &raw {
        let digits = n.trim_start_matches('+');
        for needle in [n.as_str(), digits] {
            assert!(!logs.contains(needle), "{needle} in the logs");
            assert!(!audit_text.contains(needle), "{needle} in the audit log");
        }
    }
    // The audit log has one line per check, each with a tag when the number was valid.
    let lines: Vec<serde_json::Value> = audit_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let checks: Vec<&serde_json::Value> = lines.iter().filter(|l| l["rpc"] == "check").collect();
    assert!(checks.len() >= numbers.len() + acked.len() * 2);
    let first_check = checks
        .iter()
        .find(|l| l["correlator"] == "leak-test")
        .unwrap();
    assert_eq!(first_check["code"], "OK");
    assert_eq!(first_check["client"], "anonymous");
    assert_eq!(first_check["anomaly_detected"], true);
    assert_eq!(first_check["params"]["look_back_days"], 7);
    assert!(first_check["latency_us"].is_u64());
    let tag = first_check["number_hmac"].as_str().unwrap();
    assert_eq!(tag.len(), 64);
    let invalid = checks
        .iter()
        .filter(|l| l["correlator"] == "leak-test" && l["code"] == "INVALID_ARGUMENT")
        .count();
    assert_eq!(invalid, 3);
    assert!(
        lines
            .iter()
            .any(|l| l["rpc"] == "ingest" && l["code"] == "OK")
    );
    assert!(logs.contains("leak-test"), "the correlator is logged");
    assert!(
        checks.iter().any(|l| l["correlator"] == "tel:############"),
        "the correlator holding a number is audited with its digits hidden"
    );
}

/// The runtime follows the settings: `--worker-threads 1` answers on a single event loop,
/// and the default takes one thread per CPU this process may use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_on_a_single_event_loop_and_on_the_default_runtime() {
    let data = data_dir();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (args, threads) in [(&["--worker-threads", "1"][..], 1), (&[][..], cpus)] {
        let child = ServeChild::start(data.path(), args, &[]);
        let c = child.client().await;
        wait_loaded(&c).await;
        let mut c = c.clone();
        c.check(req("+886912345001")).await.unwrap();
        let logs = child.logs();
        assert!(logs.contains(&format!("threads={threads}")), "{logs}");
    }
}
