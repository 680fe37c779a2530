//! The REST check end to end: a real server (gRPC and REST ports on 127.0.0.1:0), a real
//! HTTP/1.1 client and a real tonic client. REST must answer what gRPC answers, over every
//! conformance case and over a grid of parameters on generated data; every error path has
//! its HTTP status, CAMARA code and a message naming the field; the guards (tokens, scopes,
//! rate limits), the audit log and the metrics apply as for gRPC.

use std::net::SocketAddr;

use hotzone::service::pb::{self, CheckRequest, EventRecord, IngestRequest};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use crate::grpc::{expected, parse_args, subscribers_in, with_number};
use crate::http::{Reply, post_json, request, spawn_rest};
use crate::support::{conformance_dir, drop_file, settings, spawn_state, wait_for};

const CHECK: &str = "/fraud-hotzone-alert/v0/check";

/// The JSON body of a gRPC request (a test-side mapping, independent of the server's).
fn to_json(r: &CheckRequest) -> Value {
    let mut v = json!({
        "phoneNumber": r.phone_number,
        "lookBackDays": r.look_back_days,
        "thresholdRatio": r.threshold_ratio,
    });
    if !r.hotzone.is_empty() {
        v["fraudHotZone"] = json!(r.hotzone);
    }
    if !r.hotzone_name.is_empty() {
        v["hotzoneName"] = json!(r.hotzone_name);
    }
    match pb::Method::try_from(r.method).unwrap() {
        pb::Method::Unspecified => {}
        pb::Method::Share => v["method"] = json!("SHARE"),
        pb::Method::Spike => v["method"] = json!("SPIKE"),
    }
    match pb::CheckType::try_from(r.check_type).unwrap() {
        pb::CheckType::Unspecified => {}
        pb::CheckType::Call => v["checkType"] = json!("CALL"),
        pb::CheckType::Sms => v["checkType"] = json!("SMS"),
        pb::CheckType::All => v["checkType"] = json!("ALL"),
    }
    match pb::CheckTarget::try_from(r.check_target).unwrap() {
        pb::CheckTarget::Unspecified => {}
        pb::CheckTarget::Incoming => v["checkTarget"] = json!("INCOMING"),
        pb::CheckTarget::Outgoing => v["checkTarget"] = json!("OUTGOING"),
        pb::CheckTarget::All => v["checkTarget"] = json!("ALL"),
    }
    if r.min_events != 0 {
        v["minEvents"] = json!(r.min_events);
    }
    if !r.as_of.is_empty() {
        v["asOf"] = json!(r.as_of);
    }
    v
}

/// The HTTP status CAMARA pairs with a gRPC code (the test's own table).
fn http_of(c: Code) -> u16 {
    match c {
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::ResourceExhausted => 429,
        Code::Unavailable => 503,
        other => panic!("unexpected code {other:?}"),
    }
}

/// Asserts that a REST reply says what a gRPC reply said.
fn assert_same(
    grpc: &Result<tonic::Response<pb::CheckResponse>, tonic::Status>,
    rest: &Reply,
    what: &str,
) {
    match grpc {
        Ok(r) => {
            let r = r.get_ref();
            assert_eq!(rest.status, 200, "{what}: {}", rest.text());
            let mut want = json!({ "anomalyDetected": r.anomaly_detected });
            if !r.anomaly_date.is_empty() {
                want["anomalyDate"] = json!(r.anomaly_date);
            }
            assert_eq!(rest.json(), want, "{what}");
            assert_eq!(
                rest.headers.get("content-type").unwrap(),
                "application/json",
                "{what}"
            );
        }
        Err(s) => {
            assert_eq!(rest.status, http_of(s.code()), "{what}: {}", rest.text());
            let body = rest.json();
            assert_eq!(body["status"], json!(rest.status), "{what}");
            assert_eq!(
                body["code"],
                json!(s.get_details_error_info().unwrap().reason),
                "{what}"
            );
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}

async fn rest_check(addr: SocketAddr, req: &CheckRequest) -> Reply {
    post_json(addr, CHECK, &[], &to_json(req)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_equals_grpc_over_every_conformance_case() {
    let mut inputs = 0;
    let mut compared = 0;
    let mut anomalous = 0;
    for entry in std::fs::read_dir(conformance_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("args").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case = parse_args(
            &name,
            std::fs::read_to_string(dir.join("args")).unwrap().trim(),
        );
        let want = expected(&dir);
        let mut numbers: Vec<String> = subscribers_in(&dir.join("events.csv"))
            .into_iter()
            .collect();
        numbers.extend(want.keys().cloned());
        numbers.push("+99912345678".to_owned()); // unknown
        numbers.sort();
        numbers.dedup();
        for input in ["events.csv", "events.parquet"] {
            if !dir.join(input).is_file() {
                continue;
            }
            let data = tempfile::tempdir().unwrap();
            std::fs::copy(dir.join(input), data.path().join(input)).unwrap();
            let mut s = settings(data.path());
            s.tz = case.tz;
            s.default_region = case.default_region;
            s.subscriptions.dir = Some(data.path().join(".subs"));
            let rs = spawn_rest(s).await;
            let mut client = rs.server.client().await;
            for n in &numbers {
                let req = with_number(&case.req, n);
                let g = client.check(req.clone()).await;
                let r = rest_check(rs.http, &req).await;
                assert_same(&g, &r, &format!("{name} {input} {n}"));
                if let Some(date) = want.get(n) {
                    // And both equal the case's expected verdict.
                    let got = r.json();
                    assert_eq!(
                        got["anomalyDate"].as_str().unwrap_or(""),
                        date,
                        "{name} {n}"
                    );
                    anomalous += usize::from(!date.is_empty());
                }
                compared += 1;
            }
            rs.server.stop().await;
            inputs += 1;
        }
    }
    assert!(inputs >= 17, "only {inputs} case inputs");
    assert!(compared >= 300, "only {compared} comparisons");
    assert!(anomalous >= 50, "only {anomalous} anomalous verdicts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_equals_grpc_over_a_parameter_grid_on_generated_data() {
    let dir = conformance_dir().join("generated_spike");
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("events.parquet"),
        data.path().join("events.parquet"),
    )
    .unwrap();
    let mut s = settings(data.path());
    s.tz = chrono_tz::Europe::Berlin;
    s.poll_interval = None;
    let rs = spawn_rest(s).await;
    let mut client = rs.server.client().await;
    let subs: Vec<String> = subscribers_in(&dir.join("events.csv"))
        .into_iter()
        .collect();
    assert!(subs.len() >= 50);
    let base = CheckRequest {
        look_back_days: 14,
        threshold_ratio: 0.3,
        hotzone: vec!["NG".into(), "JM".into(), "KH".into(), "+882".into()],
        as_of: "2026-10-29".into(),
        ..CheckRequest::default()
    };
    let grid = vec![
        base.clone(),
        CheckRequest {
            method: pb::Method::Spike as i32,
            threshold_ratio: 2.0,
            ..base.clone()
        },
        CheckRequest {
            check_type: pb::CheckType::Call as i32,
            check_target: pb::CheckTarget::Incoming as i32,
            min_events: 1,
            ..base.clone()
        },
        CheckRequest {
            check_type: pb::CheckType::Sms as i32,
            check_target: pb::CheckTarget::Outgoing as i32,
            look_back_days: 30,
            as_of: "2026-10-31".into(),
            ..base.clone()
        },
    ];
    let (mut yes, mut no) = (0, 0);
    for p in &grid {
        for n in &subs {
            let req = with_number(p, n);
            let g = client.check(req.clone()).await;
            let r = rest_check(rs.http, &req).await;
            assert_same(&g, &r, &format!("{p:?} {n}"));
            match g {
                Ok(v) if v.get_ref().anomaly_detected => yes += 1,
                _ => no += 1,
            }
        }
    }
    assert!(yes >= 20 && no >= 20, "{yes} anomalous, {no} not");
    rs.server.stop().await;
}

const HOT_DAY: &str = "\
event_time,subscriber,counterparty,direction,kind,duration_s
2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60
2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,60
2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,sms,
2026-03-10T12:03:00Z,+886912345001,+886221234567,out,call,60
";

const NUMBER: &str = "+886912345001";

fn ok_body() -> Value {
    json!({
        "phoneNumber": NUMBER,
        "lookBackDays": 7,
        "thresholdRatio": 0.5,
        "fraudHotZone": ["NG"],
        "asOf": "2026-03-10",
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

/// Asserts a CAMARA error reply: status, code, and the message naming `field`.
fn assert_error(r: &Reply, status: u16, code: &str, field: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let b = r.json();
    assert_eq!(b["status"], json!(status), "{what}");
    assert_eq!(b["code"], json!(code), "{what}: {b}");
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains(field), "{what}: {msg:?} does not name {field}");
    assert!(
        !r.text().contains("886912345001"),
        "{what}: a number leaked: {msg}"
    );
    assert_eq!(b.as_object().unwrap().len(), 3, "{what}: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rest_error_path_has_its_status_code_and_field() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.max_look_back_days = 60;
    s.limits.max_request_bytes = 4096;
    let rs = spawn_rest(s).await;
    let a = rs.http;

    let ok = post_json(a, CHECK, &[("x-correlator", "rest-1")], &ok_body()).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.json(),
        json!({"anomalyDetected": true, "anomalyDate": "2026-03-10"})
    );
    assert_eq!(ok.headers.get("x-correlator").unwrap(), "rest-1");
    let quiet = post_json(
        a,
        CHECK,
        &[],
        &with(ok_body(), "fraudHotZone", json!(["JM"])),
    )
    .await;
    assert_eq!(quiet.json(), json!({"anomalyDetected": false}));

    let b = ok_body;
    let table: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "bad pattern",
            with(b(), "phoneNumber", json!("886912345001")),
            400,
            "INVALID_ARGUMENT",
            "phoneNumber",
        ),
        (
            "leading zero",
            with(b(), "phoneNumber", json!("+0886912345")),
            400,
            "INVALID_ARGUMENT",
            "phoneNumber",
        ),
        (
            "no number",
            without(b(), "phoneNumber"),
            400,
            "INVALID_ARGUMENT",
            "phoneNumber",
        ),
        (
            "number type",
            with(b(), "phoneNumber", json!(886912345001u64)),
            400,
            "INVALID_ARGUMENT",
            "phoneNumber",
        ),
        (
            "no lookBackDays",
            without(b(), "lookBackDays"),
            400,
            "INVALID_ARGUMENT",
            "lookBackDays",
        ),
        (
            "lookBackDays 0",
            with(b(), "lookBackDays", json!(0)),
            400,
            "OUT_OF_RANGE",
            "lookBackDays",
        ),
        (
            "lookBackDays -3",
            with(b(), "lookBackDays", json!(-3)),
            400,
            "OUT_OF_RANGE",
            "lookBackDays",
        ),
        (
            "lookBackDays cap",
            with(b(), "lookBackDays", json!(61)),
            400,
            "OUT_OF_RANGE",
            "lookBackDays",
        ),
        (
            "lookBackDays huge",
            with(b(), "lookBackDays", json!(1u64 << 40)),
            400,
            "OUT_OF_RANGE",
            "lookBackDays",
        ),
        (
            "lookBackDays string",
            with(b(), "lookBackDays", json!("7")),
            400,
            "INVALID_ARGUMENT",
            "lookBackDays",
        ),
        (
            "lookBackDays float",
            with(b(), "lookBackDays", json!(7.5)),
            400,
            "INVALID_ARGUMENT",
            "lookBackDays",
        ),
        (
            "no ratio",
            without(b(), "thresholdRatio"),
            400,
            "INVALID_ARGUMENT",
            "thresholdRatio",
        ),
        (
            "ratio string",
            with(b(), "thresholdRatio", json!("0.5")),
            400,
            "INVALID_ARGUMENT",
            "thresholdRatio",
        ),
        (
            "ratio > 1",
            with(b(), "thresholdRatio", json!(1.5)),
            400,
            "OUT_OF_RANGE",
            "thresholdRatio",
        ),
        (
            "ratio 0",
            with(b(), "thresholdRatio", json!(0)),
            400,
            "OUT_OF_RANGE",
            "thresholdRatio",
        ),
        (
            "spike < 1",
            with(b(), "method", json!("SPIKE")),
            400,
            "OUT_OF_RANGE",
            "thresholdRatio",
        ),
        (
            "method",
            with(b(), "method", json!("share")),
            400,
            "INVALID_ARGUMENT",
            "method",
        ),
        (
            "checkType",
            with(b(), "checkType", json!("FAX")),
            400,
            "INVALID_ARGUMENT",
            "checkType",
        ),
        (
            "checkTarget",
            with(b(), "checkTarget", json!(1)),
            400,
            "INVALID_ARGUMENT",
            "checkTarget",
        ),
        (
            "minEvents 0",
            with(b(), "minEvents", json!(0)),
            400,
            "OUT_OF_RANGE",
            "minEvents",
        ),
        (
            "minEvents type",
            with(b(), "minEvents", json!(true)),
            400,
            "INVALID_ARGUMENT",
            "minEvents",
        ),
        (
            "asOf",
            with(b(), "asOf", json!("10/03/2026")),
            400,
            "INVALID_ARGUMENT",
            "asOf",
        ),
        (
            "region",
            with(b(), "fraudHotZone", json!(["XX"])),
            400,
            "INVALID_ARGUMENT",
            "fraudHotZone",
        ),
        (
            "empty hotzone",
            with(b(), "fraudHotZone", json!([])),
            400,
            "INVALID_ARGUMENT",
            "fraudHotZone",
        ),
        (
            "hotzone type",
            with(b(), "fraudHotZone", json!("NG")),
            400,
            "INVALID_ARGUMENT",
            "fraudHotZone",
        ),
        (
            "no hotzone",
            without(b(), "fraudHotZone"),
            400,
            "INVALID_ARGUMENT",
            "fraudHotZone",
        ),
        (
            "both hotzones",
            with(b(), "hotzoneName", json!("x")),
            400,
            "INVALID_ARGUMENT",
            "hotzoneName",
        ),
        (
            "unknown name",
            with(without(b(), "fraudHotZone"), "hotzoneName", json!("x")),
            400,
            "INVALID_ARGUMENT",
            "hotzoneName",
        ),
        (
            "unknown field",
            with(b(), "colour", json!(1)),
            400,
            "INVALID_ARGUMENT",
            "colour",
        ),
        (
            "number as a key",
            with(b(), "+886912345001", json!(1)),
            400,
            "INVALID_ARGUMENT",
            "field",
        ),
        (
            "not an object",
            json!([NUMBER]),
            400,
            "INVALID_ARGUMENT",
            "body",
        ),
        (
            "unknown number",
            with(b(), "phoneNumber", json!("+99912345678")),
            404,
            "IDENTIFIER_NOT_FOUND",
            "phoneNumber",
        ),
    ];
    for (what, body, status, code, field) in table {
        let r = post_json(a, CHECK, &[("x-correlator", "e-1")], &body).await;
        assert_error(&r, status, code, field, what);
        assert_eq!(r.headers.get("x-correlator").unwrap(), "e-1", "{what}");
    }
    // Bodies that are not JSON at all, or too big.
    for (what, body) in [
        ("truncated", b"{\"phoneNumber\": \"+886912345001\"".to_vec()),
        ("not json", b"phoneNumber=+886912345001".to_vec()),
        ("empty", Vec::new()),
        (
            "too big",
            format!("{{\"pad\": \"{}\"}}", "x".repeat(8192)).into_bytes(),
        ),
    ] {
        let r = request(a, "POST", CHECK, &[], Some(body)).await;
        assert_error(&r, 400, "INVALID_ARGUMENT", "body", what);
    }
    // Only JSON is taken (a browser sends these cross-origin without asking): 415, the body
    // unread; a JSON type with parameters, or a `+json` type, is JSON.
    let ok = serde_json::to_vec(&ok_body()).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ] {
        for path in [CHECK, "/fraud-hotzone-alert-subscriptions/v0/subscriptions"] {
            let r = request(
                a,
                "POST",
                path,
                &[("content-type", ct), ("x-correlator", "m-1")],
                Some(ok.clone()),
            )
            .await;
            assert_eq!(r.status, 415, "{ct:?} {path}: {}", r.text());
            assert_eq!(r.json()["code"], "UNSUPPORTED_MEDIA_TYPE", "{ct:?}");
            assert_eq!(r.json()["status"], 415);
            assert_eq!(r.headers.get("x-correlator").unwrap(), "m-1");
        }
    }
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ] {
        let r = request(a, "POST", CHECK, &[("content-type", ct)], Some(ok.clone())).await;
        assert_eq!(r.status, 200, "{ct}: {}", r.text());
    }
    // A correlator breaking CAMARA's pattern.
    let r = post_json(a, CHECK, &[("x-correlator", "a b")], &ok_body()).await;
    assert_error(&r, 400, "INVALID_ARGUMENT", "x-correlator", "correlator");
    // Wrong method, unknown path.
    let r = request(a, "GET", CHECK, &[], None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    assert_eq!(r.json()["code"], "METHOD_NOT_ALLOWED");
    let r = request(a, "GET", "/fraud-hotzone-alert/v1/check", &[], None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "NOT_FOUND");
    // The contract is served, and HEAD answers as GET without the body.
    let r = request(a, "GET", "/fraud-hotzone-alert/v0/openapi.yaml", &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("openapi: 3."));
    assert!(r.text().contains("/check:"));
    let get_len = r.body.len();
    // On a raw socket, closed by the server after the reply: the head and nothing more.
    let mut c = unfinished(
        a,
        "HEAD /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    let mut all = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut c, &mut all)
        .await
        .unwrap();
    let all = String::from_utf8(all).unwrap();
    let (head, rest) = all.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/yaml"),
        "{head}"
    );
    assert_eq!(crate::http::content_length(&all), get_len, "{head}");
    assert!(rest.is_empty(), "a body after HEAD: {} bytes", rest.len());
    let r = request(a, "PUT", "/fraud-hotzone-alert/v0/openapi.yaml", &[], None).await;
    assert_eq!(r.headers.get("allow").unwrap(), "GET, HEAD");
    // A compressed body is refused naming its encoding (it was read as malformed JSON).
    for encoding in ["gzip", "br"] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &serde_json::to_vec(&ok_body()).unwrap()).unwrap();
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", encoding),
            ("x-correlator", "e-1"),
        ];
        let r = request(a, "POST", CHECK, &headers, Some(gz.finish().unwrap())).await;
        assert_eq!(r.status, 415, "{encoding}: {}", r.text());
        assert_eq!(r.json()["code"], "UNSUPPORTED_MEDIA_TYPE");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("Content-Encoding \"{encoding}\"")),
            "{message}"
        );
        assert_eq!(r.headers.get("x-correlator").unwrap(), "e-1");
    }
    // A member in the gRPC spelling is named as sent (it was named fraudHotZone).
    let r = post_json(a, CHECK, &[], &with(ok_body(), "hotzone", json!(["NG"]))).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("hotzone is not a field"), "{message}");
    // Every reply tells the idle close ahead (a little under the 10 s of no request).
    assert_eq!(r.headers.get("keep-alive").unwrap(), "timeout=8");
    // Optional fields sent as `null` (Jackson's default) are fields not given.
    let mut nulls = ok_body();
    for key in [
        "method",
        "hotzoneName",
        "checkType",
        "checkTarget",
        "minEvents",
    ] {
        nulls[key] = Value::Null;
    }
    let r = post_json(a, CHECK, &[], &nulls).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), post_json(a, CHECK, &[], &ok_body()).await.json());
    let identity = [
        ("content-type", "application/json"),
        ("content-encoding", "identity"),
    ];
    let r = request(
        a,
        "POST",
        CHECK,
        &identity,
        Some(serde_json::to_vec(&ok_body()).unwrap()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Nothing above stopped the server.
    let again = post_json(a, CHECK, &[], &ok_body()).await;
    assert_eq!(again.status, 200);
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_until_the_data_is_loaded() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut s = settings(&data); // does not exist yet
    s.http_listen = Some("127.0.0.1:0".parse().unwrap());
    s.subscriptions.dir = Some(root.path().join("subs"));
    // Two calls about a number an hour: the 503s before the load spend none of them.
    (s.policy.number_burst, s.policy.number_checks_per_hour) = (2, 1.0);
    let state = hotzone::service::AppState::new(s);
    let server = spawn_state(state.clone()).await;
    let http = wait_for("REST address", || async { state.http_addr() }).await;
    for _ in 0..3 {
        let r = post_json(http, CHECK, &[], &ok_body()).await;
        assert_error(&r, 503, "UNAVAILABLE", "unavailable", "not loaded");
    }
    // A subscription without an initial event takes the anomaly the data shows now as its
    // baseline: before the load there is none, so it is refused the same way, and none is
    // stored.
    const SUBS: &str = "/fraud-hotzone-alert-subscriptions/v0/subscriptions";
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let sub = json!({
        "protocol": "HTTP",
        "sink": "https://example.com/hotzone",
        "types": ["org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected"],
        "config": {
            "subscriptionDetail": {
                "phoneNumber": NUMBER,
                "lookBackDays": 7,
                "thresholdRatio": 0.5,
                "fraudHotZone": ["NG"],
            },
            "subscriptionExpireTime": until,
        },
    });
    for _ in 0..2 {
        let r = post_json(http, SUBS, &[], &sub).await;
        assert_error(&r, 503, "UNAVAILABLE", "unavailable", "not loaded");
    }
    assert_eq!(
        request(http, "GET", SUBS, &[], None).await.json(),
        json!([])
    );
    std::fs::create_dir(&data).unwrap();
    drop_file(&data, "day.csv", HOT_DAY);
    server.wait_serving().await;
    let r = post_json(http, CHECK, &[], &ok_body()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_json(http, SUBS, &[], &sub).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // The number's two tokens went to the answered check and subscription.
    let r = post_json(http, CHECK, &[], &ok_body()).await;
    assert_eq!(r.status, 429, "{}", r.text());
    server.stop().await;
}

fn client_entry(id: &str, token: &str, check: bool, ingest: bool) -> hotzone::config::ClientEntry {
    use hotzone::service::auth::hash_token;
    hotzone::config::ClientEntry {
        id: id.to_owned(),
        token_sha256: hex::decode(hash_token(token)).unwrap().try_into().unwrap(),
        check,
        ingest,
    }
}

/// Tokens, scopes, the rate limits, the audit log and the metrics: the gRPC ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_limits_audit_and_metrics_apply_to_rest() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let audit = data.path().join("audit").join("audit.jsonl");
    std::fs::create_dir(audit.parent().unwrap()).unwrap();
    let mut s = settings(data.path());
    s.clients = vec![
        client_entry("bank", "t-bank", true, false),
        client_entry("loader", "t-loader", false, true),
    ];
    s.policy.number_checks_per_hour = 1.0;
    s.policy.number_burst = 2;
    s.audit = Some(hotzone::config::AuditSettings {
        file: audit.clone(),
        hmac_key: vec![7; 16],
    });
    let rs = spawn_rest(s).await;
    let a = rs.http;
    let bank = [
        ("authorization", "Bearer t-bank"),
        ("x-correlator", "audit-me"),
    ];
    let r = post_json(a, CHECK, &[], &ok_body()).await;
    assert_error(&r, 401, "UNAUTHENTICATED", "credentials", "no token");
    let r = post_json(a, CHECK, &[("authorization", "Bearer nope")], &ok_body()).await;
    assert_error(&r, 401, "UNAUTHENTICATED", "credentials", "bad token");
    let r = post_json(
        a,
        CHECK,
        &[("authorization", "Bearer t-loader")],
        &ok_body(),
    )
    .await;
    assert_error(&r, 403, "PERMISSION_DENIED", "check", "no scope");
    // Credentials are judged before the body.
    let r = request(a, "POST", CHECK, &[], Some(b"{".to_vec())).await;
    assert_error(
        &r,
        401,
        "UNAUTHENTICATED",
        "credentials",
        "bad body, no token",
    );
    let r = request(
        a,
        "POST",
        CHECK,
        &[("authorization", "Bearer t-bank")],
        Some(b"{".to_vec()),
    )
    .await;
    assert_error(&r, 400, "INVALID_ARGUMENT", "body", "bad body, token");

    let r = post_json(a, CHECK, &bank, &ok_body()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The (client, number) bucket holds 2: the second answers, the third is refused, and a
    // gRPC check of the same number by the same client shares the bucket.
    let r = post_json(a, CHECK, &bank, &ok_body()).await;
    assert_eq!(r.status, 200);
    let r = post_json(a, CHECK, &bank, &ok_body()).await;
    assert_error(&r, 429, "TOO_MANY_REQUESTS", "phoneNumber", "number limit");
    let mut c = rs.server.client().await;
    let mut req = tonic::Request::new(CheckRequest {
        phone_number: NUMBER.into(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".into()],
        as_of: "2026-03-10".into(),
        ..CheckRequest::default()
    });
    req.metadata_mut()
        .insert("authorization", "Bearer t-bank".parse().unwrap());
    assert_eq!(
        c.check(req).await.unwrap_err().code(),
        Code::ResourceExhausted
    );

    // Metrics count REST checks with the gRPC ones.
    let text = rs.state.render_metrics();
    assert!(
        text.contains("hotzone_checks_total{code=\"OK\",result=\"anomaly\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("hotzone_rejects_total{reason=\"UNAUTHENTICATED\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("hotzone_rejects_total{reason=\"TOO_MANY_REQUESTS\"} 2"),
        "{text}"
    );
    assert!(!text.contains("886912345001"));

    rs.server.stop().await;
    let lines = wait_for("audit lines", || async {
        let t = std::fs::read_to_string(&audit).unwrap_or_default();
        (t.lines().count() >= 9).then_some(t)
    })
    .await;
    assert!(!lines.contains("886912345001"), "{lines}");
    let ok: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["correlator"] == "audit-me" && v["code"] == "OK")
        .collect();
    assert_eq!(ok.len(), 2, "{lines}");
    assert_eq!(ok[0]["client"], "bank");
    assert_eq!(ok[0]["anomaly_detected"], true);
    assert!(ok[0]["number_hmac"].as_str().is_some_and(|h| h.len() == 64));
}

/// A helper's pass found the REST port judging `lookBackDays` and `minEvents` before the
/// handler: another first refusal than gRPC gave for the same request, and refusals that spent
/// no token (malformed REST checks were never rate-limited). Every value the proto holds is
/// now the handler's to judge, and what JSON alone can break is refused in the handler's
/// place for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_refusals_come_in_the_grpc_order_and_spend_tokens() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    (s.policy.number_burst, s.policy.number_checks_per_hour) = (3, 1.0);
    (s.policy.client_burst, s.policy.client_checks_per_s) = (9, 0.001);
    let rs = spawn_rest(s).await;
    let a = rs.http;
    let mut c = rs.server.client().await;
    // The same first refusal on both ports: the number before `lookBackDays`, the hotzone
    // before its range (each spends a client token, and the national number none of its own).
    for (number, look_back_days, hotzone) in
        [("0912345678", 500, "NG"), ("+886912345999", 91, "XX")]
    {
        let req = CheckRequest {
            phone_number: number.into(),
            look_back_days,
            threshold_ratio: 0.5,
            hotzone: vec![hotzone.into()],
            as_of: "2026-03-10".into(),
            ..CheckRequest::default()
        };
        let grpc = c.check(req.clone()).await;
        let rest = rest_check(a, &req).await;
        assert_same(&grpc, &rest, number);
        assert_eq!(grpc.unwrap_err().code(), Code::InvalidArgument, "{number}");
    }
    // Refused for what only JSON can say (a negative `lookBackDays`): each spends one of the
    // number's three tokens, so the valid check after them is refused for the number's limit.
    let bad = with(ok_body(), "lookBackDays", json!(-1));
    for _ in 0..3 {
        let r = post_json(a, CHECK, &[], &bad).await;
        assert_error(&r, 400, "OUT_OF_RANGE", "lookBackDays", "negative");
    }
    let r = post_json(a, CHECK, &[], &ok_body()).await;
    assert_error(&r, 429, "TOO_MANY_REQUESTS", "phoneNumber", "number limit");
    // Nine client tokens, shared by both ports: eight went above (two pairs of checks, the
    // three refusals and the check refused for the number), a malformed body spends the last
    // one, and the next is refused for the client's limit.
    let r = request(a, "POST", CHECK, &[], Some(b"{".to_vec())).await;
    assert_error(&r, 400, "INVALID_ARGUMENT", "body", "malformed");
    let r = request(a, "POST", CHECK, &[], Some(b"{".to_vec())).await;
    assert_error(&r, 429, "TOO_MANY_REQUESTS", "client", "client limit");
    // Counted as the handler counts refusals.
    let text = rs.state.render_metrics();
    assert!(
        text.contains("hotzone_rejects_total{reason=\"OUT_OF_RANGE\"} 3"),
        "{text}"
    );
    // So are checks refused before any handler: a bad correlator (counted so on gRPC too)
    // and a body that is not JSON (a helper's pass: neither was counted nor audited).
    let metric = |name: &str| {
        let text = rs.state.render_metrics();
        (text.lines())
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let invalid = "hotzone_rejects_total{reason=\"INVALID_ARGUMENT\"}";
    let other = "hotzone_rejects_total{reason=\"OTHER\"}";
    let (invalid_before, other_before) = (metric(invalid), metric(other));
    let r = post_json(a, CHECK, &[("x-correlator", "bad correlator!")], &ok_body()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(
        a,
        "POST",
        CHECK,
        &[("content-type", "text/plain")],
        Some(b"x".to_vec()),
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(metric(invalid), invalid_before + 1);
    assert_eq!(metric(other), other_before + 1);
    rs.server.stop().await;
}

/// A REST check whose body does not come in time is 504 after `check_timeout_s`, with
/// CAMARA's code `TIMEOUT` (the gRPC port's DEADLINE_EXCEEDED; counted under that reason, as
/// on gRPC). A helper's pass found a 400 "could not be read" after a fixed 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_body_not_sent_in_time_is_deadline_exceeded() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.limits.check_timeout_s = 1;
    let rs = spawn_rest(s).await;
    let mut c = unfinished(
        rs.http,
        &format!(
            "POST {CHECK} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: 100\r\n\r\n{{"
        ),
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert!(reply.starts_with("HTTP/1.1 504"), "{reply}");
    assert!(reply.contains("\"code\":\"TIMEOUT\""), "{reply}");
    assert!(reply.contains("\"status\":504"), "{reply}");
    assert!(reply.contains("within 1 s"), "{reply}");
    let text = rs.state.render_metrics();
    assert!(
        text.contains("hotzone_rejects_total{reason=\"DEADLINE_EXCEEDED\"} 1"),
        "{text}"
    );
    rs.server.stop().await;
}

/// Sends `head` (a request's start: headers and maybe part of its body) on a new connection
/// and leaves the connection open, the request unfinished.
async fn unfinished(addr: SocketAddr, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(head.as_bytes()).await.unwrap();
    c
}

/// What a connection gets back before the server closes it (all of it, or up to the end of
/// an HTTP reply's head).
async fn read_head(c: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A whole reply: its head and its body (of `content-length` bytes).
async fn read_reply(c: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = read_head(c).await;
    let len = crate::http::content_length(&text);
    let have = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
    let mut rest = vec![0u8; len.saturating_sub(have)];
    if c.read_exact(&mut rest).await.is_ok() {
        text.push_str(&String::from_utf8_lossy(&rest));
    }
    text
}

/// Hostile bodies on the REST port (an adversarial pass found each): a subscription whose
/// body never comes holds no place at the concurrency gate; a caller without a token is
/// answered from its headers, its body unread; a body past 64 KiB is refused from its
/// announced length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_and_oversized_bodies_hold_nothing_checks_need() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.limits.max_concurrent_calls = 1;
    s.clients = vec![client_entry("bank", "t-bank", true, false)];
    let rs = spawn_rest(s).await;
    let a = rs.http;
    let bank = [("authorization", "Bearer t-bank")];
    let subs = "/fraud-hotzone-alert-subscriptions/v0/subscriptions";
    // Three subscription requests send their headers and one byte of a 500-byte body.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            unfinished(
                a,
                &format!(
                    "POST {subs} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t-bank\r\n\
                     content-type: application/json\r\ncontent-length: 500\r\n\r\n{{"
                ),
            )
            .await,
        );
    }
    // A request sent after them is answered (so theirs have been read too), then checks:
    // the gate holds one call, and the waiting subscriptions must not be holding it.
    assert_eq!(
        request(a, "GET", "/fraud-hotzone-alert/v0/openapi.yaml", &[], None)
            .await
            .status,
        200
    );
    for _ in 0..2 {
        let r = post_json(a, CHECK, &bank, &ok_body()).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    drop(held);

    // No token: 401 from the headers, while the body is still to come.
    let mut c = unfinished(
        a,
        &format!(
            "POST {CHECK} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: 100000\r\n\r\n{{"
        ),
    )
    .await;
    let head = read_head(&mut c).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    drop(c);
    // With the token, a body announced past 64 KiB is refused from its length, its bytes
    // never awaited (4 MiB, the gRPC port's message limit, would have been read and held).
    let mut c = unfinished(
        a,
        &format!(
            "POST {CHECK} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer t-bank\r\n\
             content-type: application/json\r\ncontent-length: 100000\r\n\r\n{{"
        ),
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("at most 65536 bytes"), "{reply}");
    drop(c);
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(70_000));
    let r = request(a, "POST", CHECK, &bank, Some(big.into_bytes())).await;
    assert_error(&r, 400, "INVALID_ARGUMENT", "body", "a 70 kB body");
    assert!(r.text().contains("at most 65536 bytes"), "{}", r.text());
    rs.server.stop().await;
}

/// A reply to a request whose body the server left unread (refused from its headers: a token,
/// a media type, a length past the limit) says `Connection: close`, without the keep-alive
/// hint, and the connection closes after it: a client must not send its next request on it
/// (Go's pooled transport lost one in a few after a 401 or a 415 to a request with `Expect:
/// 100-continue` or a large body, the reply having said nothing). A reply to a request whose
/// body was read keeps the connection, with the hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_body_left_unread_closes_the_connection_and_says_so() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.clients = vec![client_entry("bank", "t-bank", true, false)];
    let rs = spawn_rest(s).await;
    let a = rs.http;
    let body = ok_body().to_string();
    let post = |headers: &str, body: &str| {
        format!(
            "POST {CHECK} HTTP/1.1\r\nhost: x\r\n{headers}content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let refused = [
        // No token, the body held back for a 100 Continue that never comes.
        post(
            "content-type: application/json\r\nexpect: 100-continue\r\n",
            "",
        )
        .replace(
            "content-length: 0",
            &format!("content-length: {}", body.len()),
        ),
        // No token, the body sent whole (the server still does not read it).
        post("content-type: application/json\r\n", &body),
        // A token, but not JSON.
        post(
            "authorization: Bearer t-bank\r\ncontent-type: text/plain\r\n",
            &body,
        ),
        // A token, a length past the limit.
        post(
            "authorization: Bearer t-bank\r\ncontent-type: application/json\r\n",
            &"x".repeat(70_000),
        ),
    ];
    for (i, req) in refused.iter().enumerate() {
        let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        let reply = read_reply(&mut c).await;
        let head = reply.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 4"), "case {i}: {reply}");
        assert!(
            head.contains("\r\nconnection: close\r\n"),
            "case {i}: {reply}"
        );
        assert!(!head.contains("keep-alive"), "case {i}: {reply}");
        if i < 2 {
            let asks = "\r\nwww-authenticate: bearer realm=\"hotzone\"\r\n";
            assert!(head.contains(asks), "case {i}: {reply}");
        }
        // Then the server closes the connection (the event awaited; a reset counts too).
        let mut rest = [0u8; 64];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(30), c.read(&mut rest))
            .await
            .expect("the connection is closed after the reply");
        assert!(
            matches!(closed, Ok(0) | Err(_)),
            "case {i}: more after the reply"
        );
    }
    // A body read to its end: the connection stays, with the hint, for the next request.
    let ok = post(
        "authorization: Bearer t-bank\r\ncontent-type: application/json\r\n",
        &body,
    );
    let mut c = tokio::net::TcpStream::connect(a).await.unwrap();
    for round in 0..2 {
        c.write_all(ok.as_bytes()).await.unwrap();
        let reply = read_reply(&mut c).await;
        let head = reply.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "round {round}: {reply}");
        assert!(
            head.contains("\r\nkeep-alive: timeout=8\r\n"),
            "round {round}: {reply}"
        );
        assert!(
            !head.contains("connection: close"),
            "round {round}: {reply}"
        );
    }
    rs.server.stop().await;
}

/// Waits until a new connection to `a` gets `get` answered with 200 (a place is free).
async fn answered_again(a: SocketAddr, get: &str) {
    wait_for("a place on the REST port", || async {
        let mut c = unfinished(a, get).await;
        read_head(&mut c)
            .await
            .starts_with("HTTP/1.1 200")
            .then_some(())
    })
    .await;
}

/// The REST port has its own `max_connections`, and its `max_connections_per_address`: one
/// more connection is answered `503` (`Retry-After`, `Connection: close`, a CAMARA body
/// naming the limit, its request read first) and closed, so a flood of connections cannot
/// take the process's file descriptors, and a client opening a connection per request
/// (Node's `fetch`) gets an answer it can retry instead of a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_port_bounds_its_connections_and_answers_one_more_with_503() {
    for (max, per_address, limit) in [
        (2, 256, "max_connections"),
        (256, 2, "max_connections_per_address"),
    ] {
        let data = tempfile::tempdir().unwrap();
        drop_file(data.path(), "day.csv", HOT_DAY);
        let mut s = settings(data.path());
        s.limits.max_connections = max;
        s.limits.max_connections_per_address = per_address;
        let rs = spawn_rest(s).await;
        let a = rs.http;
        let get = "GET /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\nhost: x\r\n\r\n";
        // Two connections with a request begun hold both places.
        let held = [
            unfinished(a, "GET /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\n").await,
            unfinished(a, "GET /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\n").await,
        ];
        // A third, a POST with its body, is answered 503 and closed.
        let body = serde_json::to_string(&ok_body()).unwrap();
        let post = format!(
            "POST {CHECK} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             x-correlator: r-1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut c = unfinished(a, &post).await;
        let reply = read_reply(&mut c).await;
        assert!(reply.starts_with("HTTP/1.1 503"), "{limit}: {reply}");
        let lower = reply.to_ascii_lowercase();
        assert!(lower.contains("retry-after: 1"), "{reply}");
        assert!(lower.contains("connection: close"), "{reply}");
        assert!(lower.contains("x-correlator: r-1"), "{reply}");
        assert!(reply.contains("\"code\":\"UNAVAILABLE\""), "{reply}");
        assert!(reply.contains(&format!("limits.{limit}")), "{reply}");
        // Counted.
        let counted =
            format!("hotzone_connections_refused_total{{port=\"rest\",limit=\"{limit}\"}} 1");
        wait_for("the refusal counted", || async {
            rs.state.render_metrics().contains(&counted).then_some(())
        })
        .await;
        // Once they close, requests are answered again.
        drop(held);
        answered_again(a, get).await;
        rs.server.stop().await;
    }
}

/// A client that sends requests and never reads the replies loses its connection once a
/// write has waited `write_stall_timeout_s`: it cannot keep a place of `max_connections`
/// for ever. Another client is answered meanwhile, and gets the freed place afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_after_the_write_stall_timeout() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.limits.max_connections = 2;
    s.limits.write_stall_timeout_s = 1;
    let rs = spawn_rest(s).await;
    let a = rs.http;
    let get = "GET /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\nhost: x\r\n\r\n";
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut deaf = socket.connect(a).await.unwrap();
    // Pipelined requests, replies never read: the server's writes fill the socket buffers
    // and stall; then it stops reading requests, and these writes block in turn. They end
    // with an error only when the server closes the connection.
    let writer = tokio::spawn(async move {
        let requests = get.repeat(64);
        let mut sent = 0usize;
        while deaf.write_all(requests.as_bytes()).await.is_ok() {
            sent += 64;
        }
        sent
    });
    // Meanwhile the other place answers.
    let mut c = unfinished(a, get).await;
    assert!(read_head(&mut c).await.starts_with("HTTP/1.1 200"));
    drop(c);
    let sent = tokio::time::timeout(std::time::Duration::from_secs(300), writer)
        .await
        .expect("the deaf client's connection was never closed")
        .unwrap();
    assert!(sent > 64, "only {sent} requests sent");
    // Its place is free again: two connections are served at once.
    let held = unfinished(a, "GET /fraud-hotzone-alert/v0/openapi.yaml HTTP/1.1\r\n").await;
    answered_again(a, get).await;
    drop(held);
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_is_visible_to_rest_at_ack() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let rs = spawn_rest(settings(data.path())).await;
    let sub = "+886955500777";
    let body = with(ok_body(), "phoneNumber", json!(sub));
    assert_eq!(post_json(rs.http, CHECK, &[], &body).await.status, 404);
    let mut c = rs.server.client().await;
    let events: Vec<EventRecord> = (0..3)
        .map(|i| EventRecord {
            event_time_ms: Some(1_773_144_000_000 + i * 1000),
            subscriber: sub.into(),
            counterparty: format!("+23480212345{i:02}"),
            direction: "in".into(),
            kind: "call".into(),
            duration_s: Some(30),
            counterparty_region: String::new(),
        })
        .collect();
    c.ingest(tokio_stream::iter(vec![IngestRequest { events }]))
        .await
        .unwrap();
    let r = post_json(rs.http, CHECK, &[], &body).await;
    assert_eq!(
        r.json(),
        json!({"anomalyDetected": true, "anomalyDate": "2026-03-10"})
    );
    rs.server.stop().await;
}

/// A CA, a server certificate for `localhost` and a client certificate (PEM files).
pub(crate) fn pki() -> tempfile::TempDir {
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
    dir
}

fn tls_client(
    dir: &std::path::Path,
    with_cert: bool,
) -> std::sync::Arc<tokio_rustls::rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap())
        .unwrap();
    let b = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let c = if with_cert {
        b.with_client_auth_cert(
            vec![CertificateDer::from_pem_file(dir.join("client.pem")).unwrap()],
            PrivateKeyDer::from_pem_file(dir.join("client.key")).unwrap(),
        )
        .unwrap()
    } else {
        b.with_no_client_auth()
    };
    std::sync::Arc::new(c)
}

/// The REST port speaks TLS with the gRPC port's `[tls]` files, and requires client
/// certificates under mutual TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_over_tls_and_mutual_tls() {
    use crate::http::request_tls;
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    for mutual in [false, true] {
        let mut s = settings(data.path());
        s.tls = Some(hotzone::config::TlsConfig {
            cert: pki.path().join("server.pem"),
            key: pki.path().join("server.key"),
            client_ca: mutual.then(|| pki.path().join("ca.pem")),
        });
        s.http_listen = Some("127.0.0.1:0".parse().unwrap());
        s.limits.max_connections_per_address = 2;
        let state = hotzone::service::AppState::new(s);
        let server = spawn_state(state.clone()).await;
        let http = wait_for("REST address", || async { state.http_addr() }).await;
        let body = serde_json::to_vec(&ok_body()).unwrap();
        let r = wait_for("a TLS answer", || {
            let (cfg, body) = (tls_client(pki.path(), true), body.clone());
            async move {
                request_tls(http, cfg, "POST", CHECK, &[], Some(body))
                    .await
                    .ok()
                    .filter(|r| r.status == 200)
            }
        })
        .await;
        assert_eq!(
            r.json(),
            json!({"anomalyDetected": true, "anomalyDate": "2026-03-10"})
        );
        // Plaintext HTTP gets no answer on a TLS port.
        let plain = async {
            let stream = tokio::net::TcpStream::connect(http).await.ok()?;
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
            tokio::spawn(conn);
            let req = http::Request::post(CHECK)
                .header("host", "localhost")
                .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                .unwrap();
            tx.send_request(req).await.ok()
        };
        assert!(plain.await.is_none(), "plaintext answered on a TLS port");
        let no_cert = request_tls(
            http,
            tls_client(pki.path(), false),
            "POST",
            CHECK,
            &[],
            Some(body.clone()),
        )
        .await;
        if mutual {
            assert!(
                !matches!(no_cert, Ok(ref r) if r.status == 200),
                "answered without a client certificate under mTLS"
            );
        } else {
            assert_eq!(no_cert.unwrap().status, 200);
        }
        // Past max_connections_per_address the refusal is a 503 over TLS too. Two held
        // connections take the places once the connections above have given theirs back
        // (until then one of the two is the refused one: try again).
        let r = wait_for("a TLS refusal", || {
            let (cfg, body) = (tls_client(pki.path(), true), body.clone());
            async move {
                let _held = [
                    tokio::net::TcpStream::connect(http).await.ok()?,
                    tokio::net::TcpStream::connect(http).await.ok()?,
                ];
                let r = request_tls(http, cfg, "POST", CHECK, &[], Some(body)).await;
                r.ok().filter(|r| r.status == 503)
            }
        })
        .await;
        assert_eq!(r.json()["code"], "UNAVAILABLE");
        assert!(
            r.text().contains("max_connections_per_address"),
            "{}",
            r.text()
        );
        server.stop().await;
    }
}

/// Shutdown closes idle keep-alive connections and the port, and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_keep_alive_connections_and_the_port() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let rs = spawn_rest(settings(data.path())).await;
    let stream = tokio::net::TcpStream::connect(rs.http).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let driver = tokio::spawn(conn);
    let body = serde_json::to_vec(&ok_body()).unwrap();
    let req = http::Request::post(CHECK)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let r = tx.send_request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);
    // The connection is open and idle (keep-alive); shutdown must not wait on it forever.
    tokio::time::timeout(std::time::Duration::from_secs(30), rs.server.stop())
        .await
        .expect("shutdown finished");
    // The server closed the idle connection, and the port no longer accepts.
    tokio::time::timeout(std::time::Duration::from_secs(30), driver)
        .await
        .expect("connection closed by the server")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(rs.http).await.is_err());
}

/// A REST connection on which no request begins within 10 s (HTTP/1.1's header deadline)
/// is closed: one that never sent a byte, and one idle after its first reply (keep-alive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_on_which_no_request_begins_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let rs = spawn_rest(settings(data.path())).await;
    let body = serde_json::to_vec(&ok_body()).unwrap();
    let request = [
        format!(
            "POST {CHECK} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body,
    ]
    .concat();
    let idle = |first: Option<Vec<u8>>| async move {
        let mut s = tokio::net::TcpStream::connect(rs.http).await.unwrap();
        if let Some(r) = &first {
            s.write_all(r).await.unwrap();
        }
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        // The event: the server's close. The bound only turns a connection held for ever
        // into a failure.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "still open after {:?} (first request: {})",
            started.elapsed(),
            first.is_some()
        );
        String::from_utf8_lossy(&got).into_owned()
    };
    let (silent, kept_alive) = tokio::join!(idle(None), idle(Some(request)));
    assert!(silent.is_empty(), "{silent}");
    assert!(kept_alive.starts_with("HTTP/1.1 200"), "{kept_alive}");
    assert_eq!(kept_alive.matches("HTTP/1.1").count(), 1, "{kept_alive}");
    rs.server.stop().await;
}

/// A phone number a caller puts in another field by mistake (a hotzone entry, `asOf`, a
/// count, the ratio, an enum) is not echoed by any error message, over gRPC or REST: the
/// value is named by its first characters and length, a number by its count of digits (the
/// service's messages never carry a number; an interop pass found them quoted whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_message_echoes_a_number_put_in_another_field() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let rs = spawn_rest(settings(data.path())).await;
    let secret = "886922345651";
    let req = crate::grpc::base_req;
    let grpc_cases: Vec<(&str, CheckRequest)> = vec![
        ("hotzone", {
            let mut r = req(NUMBER);
            r.hotzone = vec![format!("+{secret}0000")];
            r
        }),
        ("hotzone", {
            let mut r = req(NUMBER);
            r.hotzone = vec![format!("0{secret}")];
            r
        }),
        ("as_of", {
            let mut r = req(NUMBER);
            r.as_of = format!("+{secret}");
            r
        }),
        ("threshold_ratio", {
            let mut r = req(NUMBER);
            r.threshold_ratio = secret.parse().unwrap();
            r
        }),
        ("look_back_days", {
            let mut r = req(NUMBER);
            r.look_back_days = 886_922_345;
            r
        }),
        ("check_type", {
            let mut r = req(NUMBER);
            r.check_type = 886_922_345;
            r
        }),
    ];
    let mut client = rs.server.client().await;
    for (field, r) in grpc_cases {
        let s = client.check(r).await.expect_err(field);
        let message = s.message().to_owned();
        assert!(message.contains(field), "{field}: {message}");
        assert!(!message.contains("886922345"), "{field}: {message}");
        assert!(message.contains("not shown"), "{field}: {message}");
    }
    for (key, value) in [
        ("fraudHotZone", json!([format!("+{secret}0000")])),
        ("asOf", json!(format!("+{secret}"))),
        ("thresholdRatio", json!(886_922_345_651u64)),
        ("lookBackDays", json!(886_922_345_651u64)),
        ("minEvents", json!(886_922_345_651u64)),
    ] {
        let r = post_json(rs.http, CHECK, &[], &with(ok_body(), key, value)).await;
        let text = r.text();
        assert_eq!(r.status / 100, 4, "{key}: {text}");
        assert!(!text.contains("886922345"), "{key}: {text}");
    }
    rs.server.stop().await;
}

/// A client still sending a large body when the server refuses it gets the refusal: the
/// server's close lingers, reading and dropping the rest (it closed at once, the kernel reset
/// the connection under the client's writes, and Node reported `EPIPE` instead of the 400).
/// The same for a head too large to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_a_refused_body_reads_the_refusal() {
    use tokio::io::AsyncWriteExt;
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.clients = vec![client_entry("bank", "t-bank", true, false)];
    let rs = spawn_rest(s).await;
    let mib = vec![b'x'; 1 << 20];
    let json = "content-type: application/json\r\n";
    let token = "authorization: Bearer t-bank\r\n";
    // (what, headers, the body as sent, the status awaited)
    let mut chunked = Vec::new();
    for _ in 0..8 {
        chunked.extend_from_slice(b"100000\r\n");
        chunked.extend_from_slice(&mib);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let cases = [
        (
            "8 MiB announced",
            format!("{token}{json}content-length: {}\r\n", 8 << 20),
            mib.repeat(8),
            "400",
        ),
        (
            "8 MiB chunked",
            format!("{token}{json}transfer-encoding: chunked\r\n"),
            chunked,
            "400",
        ),
        (
            "no token, 8 MiB",
            format!("{json}content-length: {}\r\n", 8 << 20),
            mib.repeat(8),
            "401",
        ),
    ];
    for (what, headers, body, status) in cases {
        let mut c = tokio::net::TcpStream::connect(rs.http).await.unwrap();
        let head = format!("POST {CHECK} HTTP/1.1\r\nhost: x\r\n{headers}\r\n");
        c.write_all(head.as_bytes()).await.unwrap();
        // The whole body goes out: the server reads (and drops) what it refused.
        c.write_all(&body)
            .await
            .unwrap_or_else(|e| panic!("{what}: the body could not be sent: {e}"));
        let reply = read_reply(&mut c).await;
        assert!(
            reply.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {reply}"
        );
        assert!(reply.contains("\"code\""), "{what}: {reply}");
    }
    // A head past hyper's buffer (16 MiB of one header) is answered 431 before its end is
    // read: the close lingers there too (it reset the connection under the client's writes).
    let mut c = tokio::net::TcpStream::connect(rs.http).await.unwrap();
    let head = format!(
        "POST {CHECK} HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(16 << 20)
    );
    c.write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("a 16 MiB header could not be sent: {e}"));
    let reply = read_reply(&mut c).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
}
