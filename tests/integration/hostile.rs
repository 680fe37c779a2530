//! Hostile input against the real server (issue 12): an instant out of range in an ingest
//! and in a data file, bytes that are not the message on the wire, a huge value to echo,
//! unauthenticated bodies, the HTTP/2 settings the server advertises, peers that never leave
//! (PINGs unanswered, a connection past its age), compaction without
//! polling (a rebuild over a small base, merges over a larger one), and the endpoints that
//! can be made to need a token.
//!
//! Raw HTTP/2 requests go through the `h2` crate, so the test controls the gRPC framing
//! (a cut frame, the compressed flag) that a tonic client would never send.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use hotzone::service::AppState;
use hotzone::service::pb::{CheckRequest, EventRecord, IngestRequest};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::{drop_file, settings, spawn_loaded, spawn_state, wait_for};

/// 2026-10-30T10:00:00Z.
const OCT30_MS: i64 = 1_793_354_400_000;

/// 1800-01-01T00:00:00Z.
const YEAR_1800_MS: i64 = -5_364_662_400_000;

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

fn check(number: &str, as_of: &str) -> CheckRequest {
    CheckRequest {
        phone_number: number.to_owned(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".to_owned()],
        as_of: as_of.to_owned(),
        ..CheckRequest::default()
    }
}

fn reason(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// Runs the binary; (exit code, stderr).
fn hotzone(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A file with a good day for `+886912345001` and one row in the year 1800.
const WITH_1800: &str = "\
event_time,subscriber,counterparty,direction,kind,duration_s
2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60
2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,60
2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,sms,
1800-01-01T00:00:00Z,+886912345002,+2348021234567,in,call,60
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_out_of_range_is_a_rejected_row_and_never_stops_a_load() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", WITH_1800);
    let mut s = settings(data.path());
    s.poll_interval = None;
    let server = spawn_loaded(s.clone()).await;
    let mut c = server.client().await;
    // The directory that already holds such a row loads; the good rows answer.
    assert!(
        c.check(check("+886912345001", "2026-03-10"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    assert_eq!(
        c.check(check("+886912345002", "2026-03-10"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // The issue's batch: five ordinary records and one in the year 1800.
    let sub = "+886955512345";
    let mut events: Vec<EventRecord> = (0..5)
        .map(|i| record(OCT30_MS + i * 1000, sub, &format!("+23480212345{i:02}")))
        .collect();
    events.push(record(YEAR_1800_MS, sub, "+2348021234599"));
    events.push(record(i64::MAX, sub, "+2348021234598"));
    events.push(record(4_102_444_800_000, sub, "+2348021234597")); // 2100-01-01: excluded
    let r = c
        .ingest(tokio_stream::iter(vec![IngestRequest { events }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 5);
    assert_eq!(r.rejected.get("time_out_of_range"), Some(&3), "{r:?}");
    assert_eq!(r.rejected.len(), 1, "{r:?}");
    // Acknowledged means visible.
    assert!(
        c.check(check(sub, "2026-10-30"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    server.stop().await;

    // A restart loads both files.
    let server = spawn_loaded(s).await;
    let mut c = server.client().await;
    for (n, day) in [(sub, "2026-10-30"), ("+886912345001", "2026-03-10")] {
        assert!(
            c.check(check(n, day))
                .await
                .unwrap()
                .into_inner()
                .anomaly_detected
        );
    }
    server.stop().await;

    // `prepare` reads the directory: the bad row is counted by its reason (exit 2: done,
    // rows rejected), never an internal error.
    let out = tempfile::tempdir().unwrap();
    let hzi = out.path().join("all.hzi");
    let (code, err) = hotzone(&[
        "prepare",
        &data.path().to_string_lossy(),
        "--output",
        &hzi.to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("time_out_of_range"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
    assert!(hzi.is_file());
}

/// A gRPC message frame: compressed flag, big-endian length, payload.
fn frame(compressed: u8, declared_len: u32, payload: &[u8]) -> Bytes {
    let mut b = vec![compressed];
    b.extend_from_slice(&declared_len.to_be_bytes());
    b.extend_from_slice(payload);
    Bytes::from(b)
}

/// One HTTP/2 connection to the server.
async fn h2_client(addr: std::net::SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// A raw gRPC call: `body` bytes (ending the stream when `end`), extra headers; the status
/// the server answered, from the headers (trailers-only) or the trailers.
async fn raw_call(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    end: bool,
) -> Status {
    raw_exchange(addr, path, headers, body, end).await.0
}

/// [`raw_call`], with the bytes of the reply's messages.
async fn raw_exchange(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    end: bool,
) -> (Status, usize) {
    let send = h2_client(addr).await;
    let mut send = send.ready().await.unwrap();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (resp, mut stream) = send.send_request(req.body(()).unwrap(), false).unwrap();
    // A server that refuses on the headers (no token) may answer and close the stream before
    // the body is sent: then sending fails with InactiveStreamId, which is that refusal, not
    // a failure of the test; the answer below is what is checked.
    let _ = stream.send_data(body, end);
    let resp = tokio::time::timeout(Duration::from_secs(30), resp)
        .await
        .expect("an answer without the rest of the body")
        .unwrap();
    let (parts, mut body) = resp.into_parts();
    if let Some(st) = Status::from_header_map(&parts.headers) {
        return (st, 0);
    }
    let mut replied = 0;
    while let Some(d) = body.data().await {
        let d = d.unwrap();
        replied += d.len();
        let _ = body.flow_control().release_capacity(d.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    (
        Status::from_header_map(&trailers).expect("grpc-status"),
        replied,
    )
}

const CHECK: &str = "/fraudhotzone.v1.FraudHotzone/Check";
const INGEST: &str = "/fraudhotzone.v1.FraudHotzone/Ingest";

fn one_day_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    drop_file(d.path(), "day.csv", WITH_1800);
    d
}

/// Health and reflection answer in this server's terms: a health request that does not
/// decode (a service name that is not UTF-8) is INVALID_ARGUMENT, not INTERNAL; reflection's
/// NOT_FOUND names neither the symbol nor the file asked for (it quoted them whole, a phone
/// number sent as a symbol included). An adversarial pass found both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_refuse_without_echo_or_internal() {
    let data = one_day_dir();
    let server = spawn_state(AppState::new(settings(data.path()))).await;
    server.wait_serving().await;
    let health = "/grpc.health.v1.Health/Check";
    let bad_name = [0x0a, 0x02, 0xff, 0xfe];
    let st = raw_call(server.addr, health, &[], frame(0, 4, &bad_name), true).await;
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    for reflection in [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ] {
        // Field 4, file_containing_symbol; field 3, file_by_filename.
        for (field, name) in [
            (0x22u8, &b"+886912345679"[..]),
            (0x1a, b"+886912345679.proto"),
        ] {
            let mut m = vec![field, name.len() as u8];
            m.extend_from_slice(name);
            let st = raw_call(
                server.addr,
                reflection,
                &[],
                frame(0, m.len() as u32, &m),
                true,
            )
            .await;
            assert_eq!(st.code(), Code::NotFound, "{reflection}: {st:?}");
            assert!(
                st.message().contains("not echoed") && !st.message().contains("886"),
                "{reflection}: {st:?}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_on_the_wire_are_invalid_argument_and_counted() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let addr = server.addr;
    let cases: [(&str, &str, Bytes); 7] = [
        ("not protobuf", CHECK, frame(0, 3, &[0xff, 0xff, 0xff])),
        // Field 1 (phone_number, a string) sent as a varint.
        ("wrong wire type", CHECK, frame(0, 2, &[0x08, 0x01])),
        // The frame says 100 bytes; 3 come, then the stream ends.
        ("truncated frame", CHECK, frame(0, 100, &[0x0a, 0x01, b'+'])),
        (
            "compressed flag without grpc-encoding",
            CHECK,
            frame(1, 3, &[0x0a, 0x01, b'+']),
        ),
        ("no message at all", CHECK, Bytes::new()),
        (
            "not protobuf, streaming",
            INGEST,
            frame(0, 3, &[0xff, 0xff, 0xff]),
        ),
        // An upload whose stream ends inside its message (Node ends a cancelled call's stream
        // so): a refusal, not an empty upload acknowledged.
        (
            "truncated frame, streaming",
            INGEST,
            frame(0, 100, &[0x0a, 0x01]),
        ),
    ];
    for (what, path, body) in cases {
        let st = raw_call(addr, path, &[], body, true).await;
        assert_eq!(st.code(), Code::InvalidArgument, "{what}: {st:?}");
        assert_eq!(reason(&st), "INVALID_ARGUMENT", "{what}: {st:?}");
        assert!(st.message().len() < 400, "{what}: {st:?}");
    }
    // The correlator comes back on a refusal made before the handler, too.
    let mut send = h2_client(addr).await.ready().await.unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{CHECK}"))
        .header("content-type", "application/grpc")
        .header("x-correlator", "wire-1")
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, false).unwrap();
    stream.send_data(frame(0, 2, &[0x08, 0x01]), true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.headers().get("x-correlator").unwrap(), "wire-1");

    let text = state.render_metrics();
    for needle in [
        "hotzone_checks_total{code=\"INVALID_ARGUMENT\",result=\"error\"} 6",
        "hotzone_rejects_total{reason=\"INVALID_ARGUMENT\"} 8",
        "hotzone_ingests_total{result=\"error\"} 2",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    assert!(!text.contains("INTERNAL"), "{text}");
    // Still serving.
    let mut c = server.client().await;
    assert!(c.check(check("+886912345001", "2026-03-10")).await.is_ok());
    server.stop().await;
}

/// Compressed requests are decompressed within `max_request_bytes`: a few KB of gzip that
/// inflate past it are refused as an oversized message (OUT_OF_RANGE, with ErrorInfo), a
/// damaged stream as the client's mistake (INVALID_ARGUMENT), an encoding not taken with
/// UNIMPLEMENTED naming the ones that are; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_requests_are_bounded_after_decompression_and_damage_is_the_client_s() {
    use std::io::Write;
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.max_request_bytes = 64 * 1024;
    let server = spawn_state(AppState::new(s)).await;
    server.wait_serving().await;
    let addr = server.addr;
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    // 1 MiB of a repeated field inflated from about a kilobyte.
    let bomb = gzip(&[0x0a, 0x01, b'+'].repeat(350_000));
    assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
    let gz = [("grpc-encoding", "gzip")];
    let st = raw_call(addr, CHECK, &gz, frame(1, bomb.len() as u32, &bomb), true).await;
    assert_eq!(st.code(), Code::OutOfRange, "{st:?}");
    assert_eq!(reason(&st), "OUT_OF_RANGE", "{st:?}");
    assert!(st.message().contains("max_request_bytes"), "{st:?}");
    // Health and reflection take at most 16 KiB, decompressed (they need no token by
    // default, and kept tonic's 4 MiB, which 4 KB of gzip reached). A health check naming a
    // 20,000-byte service is refused; a reflection request of a 20,000-byte host (echoed in
    // its reply when read) ends its stream unanswered; at 1,000 bytes both are answered.
    let named = |n: usize| {
        // Field 1 (health: `service`; reflection: `host`) of n bytes, then reflection's
        // `list_services` (field 7, empty), which health passes over as unknown.
        let mut m = vec![0x0a];
        let mut len = n;
        while len >= 0x80 {
            m.push(0x80 | (len & 0x7f) as u8);
            len >>= 7;
        }
        m.push(len as u8);
        m.extend(std::iter::repeat_n(b'x', n));
        m.extend([0x3a, 0x00]);
        gzip(&m)
    };
    for (n, answered) in [(20_000, false), (1_000, true)] {
        let m = named(n);
        let health = "/grpc.health.v1.Health/Check";
        let st = raw_call(addr, health, &gz, frame(1, m.len() as u32, &m), true).await;
        // An unknown service is NOT_FOUND: the request was read.
        assert_eq!(st.code() == Code::NotFound, answered, "{n}: {st:?}");
        for path in [
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            let (_, replied) =
                raw_exchange(addr, path, &gz, frame(1, m.len() as u32, &m), true).await;
            assert_eq!(replied > n, answered, "{path} {n}: {replied} bytes replied");
        }
    }
    let mut damaged = gzip(&[0x0a, 0x01, b'+']);
    let at = damaged.len() / 2;
    damaged[at] ^= 0xff;
    let st = raw_call(
        addr,
        CHECK,
        &gz,
        frame(1, damaged.len() as u32, &damaged),
        true,
    )
    .await;
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert_eq!(reason(&st), "INVALID_ARGUMENT", "{st:?}");
    let br = [("grpc-encoding", "br")];
    let st = raw_call(addr, CHECK, &br, frame(1, 3, &[1, 2, 3]), true).await;
    assert_eq!(st.code(), Code::Unimplemented, "{st:?}");
    assert_eq!(reason(&st), "UNIMPLEMENTED", "{st:?}");
    assert!(st.message().contains("br"), "{st:?}");
    let taken = st
        .metadata()
        .get("grpc-accept-encoding")
        .map(|v| v.to_str().unwrap());
    assert!(
        taken.is_some_and(|t| t.contains("gzip") && t.contains("deflate")),
        "{st:?}"
    );
    let mut c = server.client().await;
    assert!(c.check(check("+886912345001", "2026-03-10")).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_value_is_named_by_a_short_prefix() {
    let data = one_day_dir();
    let server = spawn_loaded(settings(data.path())).await;
    let mut c = server.client().await;
    let mut r = check("+886912345001", "2026-03-10");
    r.hotzone = vec!["Q".repeat(20_000)];
    let e = c.check(r).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(reason(&e), "INVALID_ARGUMENT");
    assert!(e.message().contains("(20000 chars)"), "{}", e.message());
    assert!(e.message().len() < 300, "{}", e.message());
    let mut r = check("+886912345001", "");
    r.as_of = "9".repeat(20_000);
    let e = c.check(r).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().len() < 300, "{}", e.message());
    server.stop().await;
}

fn client(id: &str, token: &str, check: bool, ingest: bool) -> hotzone::config::ClientEntry {
    hotzone::config::ClientEntry {
        id: id.to_owned(),
        token_sha256: hex::decode(hotzone::service::auth::hash_token(token))
            .unwrap()
            .try_into()
            .unwrap(),
        check,
        ingest,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_calls_are_refused_before_their_body_is_read() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.clients = vec![client("bank", "tok-bank", true, false)];
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    // A Check whose frame announces 4 MiB; 16 KiB come and the stream stays open. The answer
    // comes from the headers alone (a server that read the body first would wait forever).
    let part = vec![0u8; 16 * 1024];
    for headers in [&[][..], &[("authorization", "Bearer wrong")][..]] {
        let st = raw_call(server.addr, CHECK, headers, frame(0, 4 << 20, &part), false).await;
        assert_eq!(st.code(), Code::Unauthenticated, "{st:?}");
        assert_eq!(reason(&st), "UNAUTHENTICATED");
    }
    // Counted like any refused check.
    let text = state.render_metrics();
    assert!(
        text.contains("hotzone_checks_total{code=\"UNAUTHENTICATED\",result=\"error\"} 2"),
        "{text}"
    );
    // The bank still checks.
    let mut c = server.client().await;
    let mut r = tonic::Request::new(check("+886912345001", "2026-03-10"));
    r.metadata_mut()
        .insert("authorization", "Bearer tok-bank".parse().unwrap());
    assert!(c.check(r).await.is_ok());
    server.stop().await;
}

/// The SETTINGS frame the server sends first: (identifier, value) pairs.
async fn server_settings(addr: std::net::SocketAddr) -> Vec<(u16, u32)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap(); // empty SETTINGS
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.unwrap();
        let (kind, ack) = (head[3], head[4] & 1 == 1);
        if kind == 4 && !ack {
            return payload
                .chunks_exact(6)
                .map(|c| {
                    (
                        u16::from_be_bytes([c[0], c[1]]),
                        u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                    )
                })
                .collect();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advertises_its_stream_and_window_bounds() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.max_streams_per_connection = 7;
    let server = spawn_loaded(s).await;
    let got = server_settings(server.addr).await;
    let get = |id: u16| got.iter().find(|(i, _)| *i == id).map(|(_, v)| *v);
    assert_eq!(get(0x3), Some(7), "MAX_CONCURRENT_STREAMS in {got:?}");
    // INITIAL_WINDOW_SIZE: the protocol default (65535) unless advertised smaller.
    assert!(get(0x4).unwrap_or(65_535) <= 65_535, "{got:?}");
    assert_eq!(get(0x6), Some(16 * 1024), "MAX_HEADER_LIST_SIZE in {got:?}");
    assert!(
        get(0x5).unwrap_or(16_384) <= 16_384,
        "MAX_FRAME_SIZE in {got:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_segments_are_compacted_without_polling() {
    // A base of 4 rows: 16 ingested events are more than half of it, so the base is rebuilt
    // with them (not merged beside it).
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.poll_interval = None;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let mut c = server.client().await;
    ingest_one_by_one(&server, 0, hotzone::service::reload::MAX_DELTAS).await;
    wait_for(
        "the ingested segments to be folded into the base",
        || async {
            state
                .render_metrics()
                .contains("hotzone_index_segments 1\n")
                .then_some(())
        },
    )
    .await;
    assert_eq!(metric(&state, "hotzone_segment_merges_total"), Some(0));
    let mut r = check("+886955500003", "2026-10-30");
    r.min_events = 1;
    assert!(c.check(r).await.unwrap().into_inner().anomaly_detected);
    server.stop().await;
}

/// Ingests `n` records, one per call, for the subscribers `+8869555{first..first+n}`.
pub(crate) async fn ingest_one_by_one(server: &crate::support::Server, first: usize, n: usize) {
    let mut c = server.client().await;
    for i in first..first + n {
        let sub = format!("+8869555{i:05}");
        let r = c
            .ingest(tokio_stream::iter(vec![IngestRequest {
                events: vec![record(OCT30_MS, &sub, "+2348021234567")],
            }]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.accepted, 1);
    }
}

/// The value of a metric line without labels.
pub(crate) fn metric(state: &AppState, name: &str) -> Option<u64> {
    let text = state.render_metrics();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} ")))?;
    line[name.len() + 1..].parse().ok()
}

/// A server without polling over a data directory of one file of `events` events on
/// 2026-10-30 (500 subscribers `+8869123NNNNN`, each event to its own Nigerian number).
async fn serve_a_base_of(events: usize) -> (tempfile::TempDir, AppState, crate::support::Server) {
    let data = tempfile::tempdir().unwrap();
    let mut rows = String::from("event_time,subscriber,counterparty,direction,kind,duration_s\n");
    for i in 0..events {
        rows.push_str(&format!(
            "2026-10-30T10:{:02}:00Z,+8869123{:05},+2348021{:06},in,call,60\n",
            i % 60,
            i % 500,
            i
        ));
    }
    drop_file(data.path(), "base.csv", &rows);
    let mut s = settings(data.path());
    s.poll_interval = None;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    (data, state, server)
}

/// Drops `more.csv` (one event of `+886912345099`) into the data directory, as another
/// writer would, and runs the loader's reload (its loop waits: no fold is asked for), which
/// rebuilds the base.
async fn drop_one_row_and_reload(data: &Path, state: &AppState) {
    drop_file(
        data,
        "more.csv",
        "event_time,subscriber,counterparty,direction,kind,duration_s\n\
         2026-10-30T11:00:00Z,+886912345099,+2348021234501,in,call,60\n",
    );
    assert!(hotzone::service::reload::reload(state).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_segments_are_merged_without_a_rebuild_and_counted_once_after_one() {
    // A base of 100 events: 16 ingested ones are far from half of it, so they are merged
    // into one segment, and the base is not rebuilt.
    let (data, state, server) = serve_a_base_of(100).await;
    let max = hotzone::service::reload::MAX_DELTAS;
    let reloads = metric(&state, "hotzone_reloads_total{result=\"ok\"}");
    assert_eq!(reloads, Some(1), "the first load");
    ingest_one_by_one(&server, 0, max).await;
    wait_for("the first merge", || async {
        (metric(&state, "hotzone_segment_merges_total") == Some(1)).then_some(())
    })
    .await;
    assert_eq!(metric(&state, "hotzone_index_segments"), Some(2));
    assert_eq!(
        metric(&state, "hotzone_index_events"),
        Some(100 + max as u64)
    );
    // Not a rebuild: the base is the one first loaded.
    assert_eq!(
        metric(&state, "hotzone_reloads_total{result=\"ok\"}"),
        reloads
    );
    let mut c = server.client().await;
    let mut r = check("+886955500003", "2026-10-30");
    r.min_events = 1;
    assert!(c.check(r).await.unwrap().into_inner().anomaly_detected);
    // 16 more: merged, and then merged with the first merge (no more than twice their size).
    ingest_one_by_one(&server, max, max).await;
    wait_for("the second merge", || async {
        (metric(&state, "hotzone_segment_merges_total") == Some(2)).then_some(())
    })
    .await;
    assert_eq!(metric(&state, "hotzone_index_segments"), Some(2));
    assert_eq!(
        metric(&state, "hotzone_index_events"),
        Some(100 + 2 * max as u64)
    );
    // A file dropped by someone else: the rebuild reads every file once, the merged
    // segment's ingested files included, and keeps no delta beside it.
    drop_one_row_and_reload(data.path(), &state).await;
    assert_eq!(metric(&state, "hotzone_index_segments"), Some(1));
    assert_eq!(
        metric(&state, "hotzone_index_events"),
        Some(101 + 2 * max as u64)
    );
    for sub in ["+886955500003", "+886955500031", "+886912345099"] {
        let mut r = check(sub, "2026-10-30");
        r.min_events = 1;
        assert!(
            c.check(r).await.unwrap().into_inner().anomaly_detected,
            "{sub}"
        );
    }
    server.stop().await;
}

/// Serves a base of 100 events, ingests one, names the ingested file again as `aaa.csv` in
/// the data directory (sorting before it) with `link`, and base.csv as `zzz-copy.csv`, then
/// drops one more row and rebuilds: each event must count once, in one segment.
async fn an_ingested_file_named_again_counts_once(link: fn(&Path, &Path) -> std::io::Result<()>) {
    let (data, state, server) = serve_a_base_of(100).await;
    ingest_one_by_one(&server, 0, 1).await;
    let ingested = std::fs::read_dir(data.path().join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .unwrap();
    link(&ingested, &data.path().join("aaa.csv")).unwrap();
    link(
        &data.path().join("base.csv"),
        &data.path().join("zzz-copy.csv"),
    )
    .unwrap();
    drop_one_row_and_reload(data.path(), &state).await;
    assert_eq!(metric(&state, "hotzone_index_events"), Some(102));
    assert_eq!(metric(&state, "hotzone_index_segments"), Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_an_ingested_file_does_not_count_its_rows_twice() {
    // A symlink to a file an ingest wrote, sorting before it: the listing keeps the ingest's
    // own name, so the ingest's segment is not kept beside a base that read the same rows
    // through the link.
    an_ingested_file_named_again_counts_once(|a, b| std::os::unix::fs::symlink(a, b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_link_to_an_ingested_or_base_file_does_not_count_its_rows_twice() {
    // A hard link is the file it names, as a symlink is (one device and inode). Both names
    // are direct: the listing keeps the first, the link, and the rebuilt base reads the rows
    // through it, so the ingest's segment must go.
    an_ingested_file_named_again_counts_once(|a, b| std::fs::hard_link(a, b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_are_merged_not_taken_for_a_changed_directory() {
    // An ingest that lands between the loader's listing of the directory and its look at the
    // catalog is no change of the directory: its file is newer than the listing. Four
    // clients ingest at once beside a base of 2,000 events; every fold must be a merge.
    let (_data, state, server) = serve_a_base_of(2000).await;
    let each = 40;
    tokio::join!(
        ingest_one_by_one(&server, 0, each),
        ingest_one_by_one(&server, each, each),
        ingest_one_by_one(&server, 2 * each, each),
        ingest_one_by_one(&server, 3 * each, each),
    );
    let ingested = (4 * each) as u64;
    // Every fold asked for is done once fewer than 16 deltas wait (a fold under way keeps
    // the deltas it folds until it swaps).
    wait_for("the last fold", || async {
        (state.lock_catalog().await.new_deltas() < hotzone::service::reload::MAX_DELTAS)
            .then_some(())
    })
    .await;
    let merges = metric(&state, "hotzone_segment_merges_total");
    assert!(merges >= Some(1), "{merges:?}");
    assert_eq!(
        metric(&state, "hotzone_reloads_total{result=\"ok\"}"),
        Some(1),
        "only the first load: the ingests never reached half the base ({merges:?} merges)"
    );
    assert_eq!(
        metric(&state, "hotzone_index_events"),
        Some(2000 + ingested)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_metrics_can_be_made_to_need_a_token() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.clients = vec![client("probe", "tok-probe", false, false)];
    s.policy.health_needs_token = true;
    s.policy.reflection_needs_token = true;
    s.policy.metrics_needs_token = true;
    s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    let mut h = HealthClient::new(server.channel().await);
    let ask = |token: Option<&str>| {
        let mut r = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        r
    };
    let e = h.check(ask(None)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    wait_for("SERVING with a token", || {
        let mut h = h.clone();
        async move {
            let r = h.check(ask(Some("tok-probe"))).await.ok()?;
            (r.into_inner().status == 1).then_some(())
        }
    })
    .await;
    // Reflection: a raw call without a token is refused from its headers.
    let st = raw_call(
        server.addr,
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        &[],
        Bytes::new(),
        false,
    )
    .await;
    assert_eq!(st.code(), Code::Unauthenticated, "{st:?}");

    let addr = wait_for("metrics address", || async { state.metrics_addr() }).await;
    let get = |auth: &'static str| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET /metrics HTTP/1.1\r\nhost: x\r\n{auth}\r\n");
        sock.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        sock.read_to_string(&mut out).await.unwrap();
        out
    };
    assert!(get("").await.starts_with("HTTP/1.1 401"));
    assert!(
        get("authorization: Bearer nope\r\n")
            .await
            .starts_with("HTTP/1.1 401")
    );
    let ok = get("Authorization: Bearer tok-probe\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("hotzone_inflight_ingests 0"), "{ok}");
    server.stop().await;
}

/// Parquet and IPC timestamps out of range (as seconds, so `i64::MAX` would overflow the
/// conversion to milliseconds) are rejected rows with the same reason as in CSV.
#[test]
fn columnar_instants_out_of_range_are_rejected_rows() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray, TimestampSecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;

    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Second, None),
            true,
        ),
        Field::new("subscriber", DataType::Utf8, true),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
    ]));
    let secs = [
        1_773_144_000i64,
        i64::MAX,
        i64::MIN,
        -5_364_662_400,
        1_773_144_060,
    ];
    let n = secs.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(secs.to_vec())),
        Arc::new(StringArray::from(vec!["+886912345001"; n])),
        Arc::new(StringArray::from(vec!["+2348021234567"; n])),
        Arc::new(StringArray::from(vec!["in"; n])),
        Arc::new(StringArray::from(vec!["call"; n])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let pq = dir.path().join("t.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&pq).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let (code, err) = scan_rejects(&pq);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("time_out_of_range"), "{err}");
    let rejects = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
    // Rows 2, 3 and 4 (1-based data rows), with their reason.
    let rows: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{rejects}");
    for r in rows {
        assert!(r.contains("time_out_of_range"), "{rejects}");
    }
}

/// `hotzone scan FILE` with a rejects file next to it; (exit code, stderr).
fn scan_rejects(input: &Path) -> (i32, String) {
    let dir = input.parent().unwrap();
    hotzone(&[
        "scan",
        &input.to_string_lossy(),
        "--hotzone",
        "NG",
        "--look-back-days",
        "7",
        "--threshold-ratio",
        "0.5",
        "--as-of",
        "2026-03-10",
        "--rejects",
        &dir.join("rejects.csv").to_string_lossy(),
        "--output",
        &dir.join("out.csv").to_string_lossy(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_whose_body_stalls_is_cut_at_its_deadline() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.check_timeout_s = 1;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    // Half a message, then nothing: the answer comes at the deadline, not never.
    let st = raw_call(server.addr, CHECK, &[], frame(0, 100, &[0x0a, 0x01]), false).await;
    assert_eq!(st.code(), Code::DeadlineExceeded, "{st:?}");
    assert_eq!(reason(&st), "DEADLINE_EXCEEDED");
    assert!(
        state
            .render_metrics()
            .contains("hotzone_rejects_total{reason=\"DEADLINE_EXCEEDED\"} 1")
    );
    server.stop().await;
}

/// A connection that got through the HTTP/2 preface (the server's SETTINGS came back), or
/// `None` when the server closed it.
async fn open_connection(addr: std::net::SocketAddr) -> Option<tokio::net::TcpStream> {
    open_connection_from(addr.ip(), addr).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.max_connections = 2;
    let server = spawn_loaded(s).await;
    let addr = server.addr;
    // The health probes of spawn_loaded may still hold slots for a moment: wait for ours.
    let mut held = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while held.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no two connections");
        match open_connection(addr).await {
            Some(c) => held.push(c),
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(open_connection(addr).await.is_none(), "a third connection");
    drop(held.pop());
    let again = wait_for("a slot to free", || open_connection(addr)).await;
    drop((again, held));
    server.stop().await;
}

/// [`open_connection`] from `source` (any 127.x address reaches a loopback server).
async fn open_connection_from(
    source: std::net::IpAddr,
    addr: std::net::SocketAddr,
) -> Option<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().ok()?;
    sock.bind(std::net::SocketAddr::new(source, 0)).ok()?;
    let mut s = sock.connect(addr).await.ok()?;
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .ok()?;
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.ok()?;
    let mut head = [0u8; 9];
    match tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head)).await {
        Ok(Ok(_)) if head[3] == 4 => Some(s),
        _ => None,
    }
}

/// One host cannot take every connection: past `max_connections_per_address` its new
/// connections are closed, while another address still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.max_connections = 8;
    s.limits.max_connections_per_address = 2;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    let addr = server.addr;
    let host: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let other: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    let held = [
        open_connection_from(host, addr)
            .await
            .expect("a first connection"),
        open_connection_from(host, addr)
            .await
            .expect("a second connection"),
    ];
    assert!(
        open_connection_from(host, addr).await.is_none(),
        "a third connection from one address"
    );
    let elsewhere = open_connection_from(other, addr).await;
    assert!(elsewhere.is_some(), "another address is refused");
    // Counted (just after the close the client saw).
    wait_for("the refusal counted", || async {
        state
            .render_metrics()
            .contains(
                "hotzone_connections_refused_total{port=\"grpc\",limit=\"max_connections_per_address\"} 1",
            )
            .then_some(())
    })
    .await;
    drop(held);
    let again = wait_for("the address's places to free", || {
        open_connection_from(host, addr)
    })
    .await;
    drop((again, elsewhere));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_many_tiny_records_is_refused_before_it_is_decoded() {
    let data = one_day_dir();
    let server = spawn_loaded(settings(data.path())).await;
    let mut c = server.client().await;
    // 2 bytes each on the wire (under 0.5 MB), some 170 each once decoded.
    let n = hotzone::service::codec::MAX_FIELDS_PER_MESSAGE + 1;
    let e = c
        .ingest(tokio_stream::iter(vec![IngestRequest {
            events: vec![EventRecord::default(); n],
        }]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert_eq!(reason(&e), "OUT_OF_RANGE");
    // At the bound, the records are decoded and each rejected by its rule (no event time).
    let r = c
        .ingest(tokio_stream::iter(vec![IngestRequest {
            events: vec![EventRecord::default(); n - 1],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 0);
    assert_eq!(r.rejected.get("missing_event_time"), Some(&(n as u64 - 1)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_files_named_like_data_never_block_a_load() {
    let data = one_day_dir();
    let fifo = data.path().join("pipe.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", data.path().join("zero.csv")).unwrap();
    std::os::unix::fs::symlink(".", data.path().join("loop")).unwrap();
    // The batch scan of the directory finishes (it used to block on the FIFO, and read
    // /dev/zero for ever).
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(["scan", &data.path().to_string_lossy()])
        .args([
            "--hotzone",
            "NG",
            "--look-back-days",
            "7",
            "--threshold-ratio",
            "0.5",
        ])
        .args(["--as-of", "2026-03-10", "--output"])
        .arg(out.path().join("v.csv"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the scan of a directory with a FIFO did not finish");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Exit 2: the directory's one out-of-range row is rejected; the FIFO is not a file.
    assert_eq!(status.code(), Some(2));
    let verdicts = std::fs::read_to_string(out.path().join("v.csv")).unwrap();
    assert!(verdicts.contains("+886912345001,true"), "{verdicts}");
    // Named on the command line, the FIFO and a link to nothing are errors saying what they
    // are (both read "no such file or directory" before), and nothing blocks on the FIFO.
    let dangling = data.path().join("gone.csv");
    std::os::unix::fs::symlink(data.path().join("moved.csv"), &dangling).unwrap();
    let to_fifo = out.path().join("stdin.csv"); // as /dev/stdin is a link to a pipe
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    for (input, says) in [
        (&fifo, "a named pipe (FIFO), not a data file".to_owned()),
        (
            &dangling,
            format!(
                "a symbolic link to {}: which does not exist",
                data.path().join("moved.csv").display()
            ),
        ),
        (
            &to_fifo,
            format!("a symbolic link to {}: a named pipe (FIFO)", fifo.display()),
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("scan")
            .arg(input)
            .args(["--hotzone", "NG", "--look-back-days", "7"])
            .args(["--threshold-ratio", "0.5", "--output", "-"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&says), "{err}");
    }
    std::fs::remove_file(&dangling).unwrap();
    // The server loads and answers.
    let server = spawn_loaded(settings(data.path())).await;
    let mut c = server.client().await;
    assert!(
        c.check(check("+886912345001", "2026-03-10"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    server.stop().await;
}

/// What a raw HTTP/2 peer saw of its connection until the server closed it.
#[derive(Debug, Default)]
struct Seen {
    /// PINGs the server sent (not acknowledgements).
    pings: usize,
    /// (last stream id, error code) of each GOAWAY.
    goaways: Vec<(u32, u32)>,
}

/// Opens an HTTP/2 connection by hand (preface and empty SETTINGS) that sends no request,
/// acknowledges the server's SETTINGS and PINGs when `answer`, and reads frames until the
/// server closes it or `until` holds for what it saw. `Err(seen)`: still open after 60 s (the
/// bound only turns a connection held for ever into a failure; the event is the close).
async fn idle_h2_peer(
    addr: std::net::SocketAddr,
    answer: bool,
    until: impl Fn(&Seen) -> bool,
) -> Result<Seen, Seen> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let mut seen = Seen::default();
    let read = async {
        loop {
            if until(&seen) {
                return;
            }
            let mut head = [0u8; 9];
            if s.read_exact(&mut head).await.is_err() {
                return; // closed (EOF or reset)
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if s.read_exact(&mut payload).await.is_err() {
                return;
            }
            let (kind, ack) = (head[3], head[4] & 1 == 1);
            match kind {
                4 if !ack && answer => {
                    let _ = s.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).await;
                }
                6 if !ack => {
                    seen.pings += 1;
                    if answer {
                        let mut pong = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                        pong.extend_from_slice(&payload);
                        let _ = s.write_all(&pong).await;
                    }
                }
                7 => {
                    let word = |i: usize| {
                        u32::from_be_bytes([
                            payload[i],
                            payload[i + 1],
                            payload[i + 2],
                            payload[i + 3],
                        ])
                    };
                    seen.goaways.push((word(0) & 0x7fff_ffff, word(4)));
                }
                _ => {}
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(60), read).await {
        Ok(()) => Ok(seen),
        Err(_) => Err(seen),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_pings_is_closed() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.keepalive_interval_s = 1;
    s.limits.keepalive_timeout_s = 1;
    s.limits.max_connection_age_s = 0;
    let server = spawn_loaded(s).await;
    // A peer gone without a word: it reads, but answers nothing.
    let silent = idle_h2_peer(server.addr, false, |_| false).await;
    let silent = silent.unwrap_or_else(|seen| panic!("still open after 60 s: {seen:?}"));
    assert!(silent.pings >= 1, "closed before any PING: {silent:?}");
    // A live client that sends nothing but answers the PINGs keeps its connection: three
    // PINGs answered, each after the last one's answer, and it is still open.
    let live = idle_h2_peer(server.addr, true, |seen| seen.pings >= 3).await;
    let live = live.unwrap_or_else(|seen| panic!("fewer than 3 PINGs in 60 s: {seen:?}"));
    assert!(
        live.pings >= 3 && live.goaways.is_empty(),
        "closed: {live:?}"
    );
    // The port still serves.
    let mut c = server.client().await;
    assert!(c.check(check("+886912345001", "2026-10-30")).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_its_age_is_sent_goaway_and_its_client_carries_on() {
    let data = one_day_dir();
    let mut s = settings(data.path());
    s.limits.max_connection_age_s = 1;
    s.limits.keepalive_interval_s = 0;
    let server = spawn_loaded(s).await;
    let mut c = server.client().await;
    assert!(c.check(check("+886912345001", "2026-10-30")).await.is_ok());
    // A peer that answers PINGs but never leaves on its own: GOAWAY (no new streams, those
    // under way finish), then the close once it has none.
    let seen = idle_h2_peer(server.addr, true, |_| false).await;
    let seen = seen.unwrap_or_else(|seen| panic!("still open after 60 s: {seen:?}"));
    assert_eq!(
        seen.goaways.first(),
        Some(&(0x7fff_ffff, 0)),
        "the first GOAWAY lets streams in flight finish: {seen:?}"
    );
    // The tonic channel's connection is older than that one and so was sent its GOAWAY too:
    // the client opens a new connection on its own and its calls still succeed.
    for _ in 0..3 {
        assert!(c.check(check("+886912345001", "2026-10-30")).await.is_ok());
    }
    server.stop().await;
}

/// Settings over one day of data whose drain grace is 2 s (every call deadline 1 s).
fn short_grace(data: &Path) -> hotzone::config::ServerSettings {
    let mut s = settings(data);
    s.limits.check_timeout_s = 1;
    s.limits.ingest_timeout_s = 1;
    s.limits.write_stall_timeout_s = 1;
    assert_eq!(s.limits.drain_grace(), Duration::from_secs(2));
    s
}

/// A health `Watch` on a new connection, past its first status: a stream that never ends on
/// its own.
async fn watching(
    server: &crate::support::Server,
) -> tonic::Streaming<tonic_health::pb::HealthCheckResponse> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some(), "the first status");
    watch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_ends_is_closed_a_grace_after_the_age() {
    let data = one_day_dir();
    let mut s = short_grace(data.path());
    s.limits.max_connection_age_s = 1;
    s.limits.keepalive_interval_s = 0;
    let server = spawn_loaded(s).await;
    // A health Watch never ends on its own, so the GOAWAY at the age leaves its connection
    // open: the connection's lifetime (age + grace) closes it.
    let mut watch = watching(&server).await;
    let started = std::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match watch.message().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the Watch still open after {:?}",
        started.elapsed()
    );
    // The port still serves (a new connection).
    let mut c = server.client().await;
    assert!(c.check(check("+886912345001", "2026-10-30")).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_waits_for_a_call_that_cannot_end_only_its_grace() {
    let data = one_day_dir();
    let s = short_grace(data.path());
    assert_eq!(s.limits.max_connection_age_s, 0, "no age bound by default");
    let server = spawn_loaded(s).await;
    // A client that reads no reply: its streams' window is 0, so the answer to its health
    // check (headers sent, then 7 bytes of message) can never be sent, and the call never ends.
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    let _conn = tokio::spawn(conn); // held open across the stop
    let mut send = send.ready().await.unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/grpc.health.v1.Health/Check",
            server.addr
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let (resp, mut stream) = send.send_request(req, false).unwrap();
    stream.send_data(frame(0, 0, &[]), true).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), resp)
        .await
        .expect("the reply's headers")
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _unread = resp; // its body is never read
    // `stop` fails the test when the server has not returned within 10 s of the signal; it
    // waits the grace (2 s), not for the call, and the call did hold it that long.
    let began = std::time::Instant::now();
    server.stop().await;
    assert!(
        began.elapsed() >= Duration::from_millis(1_900),
        "the stop did not wait for the call: {:?}",
        began.elapsed()
    );
}

/// A server over one day of data whose drain grace (the default) is one no stop must wait.
async fn serve_with_a_long_grace() -> (tempfile::TempDir, crate::support::Server) {
    let data = one_day_dir();
    let s = settings(data.path());
    assert!(
        s.limits.drain_grace() >= Duration::from_secs(60),
        "a grace the stop must not wait for"
    );
    let server = spawn_loaded(s).await;
    (data, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_reflection_streams() {
    let (_data, server) = serve_with_a_long_grace().await;
    // A reflection stream whose client never half-closes it: one request answered, then none.
    let mut open = reflecting(&server).await;
    let reader = tokio::spawn(async move {
        let mut more = 0;
        while open
            .message()
            .await
            .expect("the stream ends with OK")
            .is_some()
        {
            more += 1;
        }
        more
    });
    // `stop` fails the test when the server has not returned within 10 s of the signal (the
    // stream used to hold it for the whole grace, 330 s).
    server.stop().await;
    assert_eq!(reader.await.unwrap(), 0, "no answer without a request");
}

/// A reflection stream on a new connection, past its first answer, whose requests never end.
async fn reflecting(
    server: &crate::support::Server,
) -> tonic::Streaming<tonic_reflection::pb::v1::ServerReflectionResponse> {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let first = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let requests = tokio_stream::iter(vec![first]).chain(tokio_stream::pending());
    let mut answers = client
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    assert!(
        answers.message().await.unwrap().is_some(),
        "the first answer"
    );
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_ends_health_watches_with_not_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let (_data, server) = serve_with_a_long_grace().await;
    // A client with client-side health checking keeps a Watch open on its connection (its
    // first status, SERVING, is read by `watching`).
    let mut watch = watching(&server).await;
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(r) = watch.message().await.expect("the Watch ends with OK") {
            seen.push(r.status);
        }
        seen
    });
    // A Watch of a service the server does not have is told SERVICE_UNKNOWN and stays open
    // (the protocol; it was ended with NOT_FOUND), until the stop too.
    let mut health = HealthClient::new(server.channel().await);
    let mut unknown = health
        .watch(HealthCheckRequest {
            service: "nope.Nope".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = unknown.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::ServiceUnknown as i32);
    let unknown_reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(r) = unknown.message().await.expect("the Watch ends with OK") {
            seen.push(r.status);
        }
        seen
    });
    // `stop` fails the test when the server has not returned within 10 s of the signal (the
    // Watch used to hold it for the whole grace, 330 s).
    server.stop().await;
    let seen = reader.await.unwrap();
    assert_eq!(
        seen,
        vec![ServingStatus::NotServing as i32],
        "NOT_SERVING once, then the end"
    );
    let seen = unknown_reader.await.unwrap();
    assert_eq!(seen, vec![ServingStatus::NotServing as i32]);
}

/// `Ingest` calls over raw HTTP/2, each one message of three records of its own subscriber
/// (`+88695550NNNN`), ended as `end` says (`true`: END_STREAM, then a reset), reset with
/// CANCEL after `i` ms. (A stream reset before the server accepts it never reaches the
/// handler: the tests look at what the server did once it has stopped, not call by call.)
async fn ingests_then_resets(server: &crate::support::Server, calls: u64, end: bool) {
    use prost::Message;
    for i in 0..calls {
        let sub = format!("+88695550{i:04}");
        let events = (0..3)
            .map(|k| record(OCT30_MS + k * 1000, &sub, "+2348021234567"))
            .collect();
        let msg = IngestRequest { events }.encode_to_vec();
        let mut send = h2_client(server.addr).await.ready().await.unwrap();
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{INGEST}", server.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (_resp, mut stream) = send.send_request(req, false).unwrap();
        stream
            .send_data(frame(0, msg.len() as u32, &msg), end)
            .unwrap();
        // A spread of moments for the reset (the outcome is checked whatever it is).
        tokio::time::sleep(Duration::from_millis(i)).await;
        stream.send_reset(h2::Reason::CANCEL);
    }
}

/// `hotzone_ingests_total{result}` in `state`'s metrics.
fn ingests_counted(state: &AppState, result: &str) -> usize {
    let key = format!("hotzone_ingests_total{{result=\"{result}\"}} ");
    (state.render_metrics().lines())
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.parse().unwrap())
}

/// The CSV files ingested into `data`.
fn ingested_files(data: &Path) -> usize {
    std::fs::read_dir(data.join("ingest")).map_or(0, |d| {
        d.filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().is_some_and(|x| x == "csv")
        })
        .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_the_client_resets_before_its_end_stores_nothing() {
    // A client that cancels (or whose deadline passes) resets the stream, which tonic reads
    // as its end: whole messages received before it were stored, often with no log, audit
    // line or metric (the call's task was dropped during the write), or counted as OK.
    let (data, state, server) = serve_a_base_of(100).await;
    ingests_then_resets(&server, 12, false).await;
    // The stop waits for every call and every store under way.
    server.stop().await;
    assert_eq!(ingested_files(data.path()), 0, "a reset upload was stored");
    assert_eq!(ingests_counted(&state, "ok"), 0);
    assert!(ingests_counted(&state, "error") <= 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_reset_after_its_end_is_stored_only_as_an_acknowledged_one() {
    // Node's grpc-js ends the stream and then resets it when a call is cancelled: the upload
    // is whole, and whether it is stored depends on the moment of the reset. Either way the
    // server's record says so: every stored upload is counted OK (and audited so), and
    // nothing else is stored.
    let (data, state, server) = serve_a_base_of(100).await;
    ingests_then_resets(&server, 12, true).await;
    server.stop().await;
    // A call's store may still be under way (its file is written before it is counted):
    // every stored upload is counted in the end, where a silent store stays uncounted.
    wait_for("every stored upload counted OK", || async {
        (ingested_files(data.path()) == ingests_counted(&state, "ok")).then_some(())
    })
    .await;
    assert!(ingests_counted(&state, "ok") + ingests_counted(&state, "error") <= 12);
}
