//! The gRPC service end to end: a real server on 127.0.0.1:0 and a real tonic client.
//! Verdicts against the conformance cases, every error path, health, reflection, the
//! correlator, Ingest durability, directory polling, and checks during reloads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hotzone::service::pb::{self, CheckRequest, EventRecord, IngestRequest};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

use crate::support::{
    Server, conformance_dir, drop_file, settings, spawn, spawn_loaded, spawn_state, wait_for,
    write_hive,
};
use hotzone::service::AppState;

/// A case's `args` file as request parameters plus the server settings it needs.
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) req: CheckRequest,
    pub(crate) tz: chrono_tz::Tz,
    pub(crate) default_region: Option<hotzone::model::Region>,
}

pub(crate) fn parse_args(name: &str, line: &str) -> Case {
    let mut req = CheckRequest::default();
    let mut tz = chrono_tz::Tz::UTC;
    let mut default_region = None;
    let toks: Vec<&str> = line.split_whitespace().collect();
    for pair in toks.chunks(2) {
        let (flag, v) = (pair[0], pair[1]);
        match flag {
            "--hotzone" => req.hotzone = v.split(',').map(str::to_owned).collect(),
            "--look-back-days" => req.look_back_days = v.parse().unwrap(),
            "--threshold-ratio" => req.threshold_ratio = v.parse().unwrap(),
            "--method" => {
                req.method = match v {
                    "share" => pb::Method::Share,
                    "spike" => pb::Method::Spike,
                    _ => panic!("{name}: method {v}"),
                } as i32
            }
            "--min-events" => req.min_events = v.parse().unwrap(),
            "--as-of" => req.as_of = v.to_owned(),
            "--tz" => tz = v.parse().unwrap(),
            "--default-region" => default_region = hotzone::model::Region::parse(v),
            "--check-type" => {
                req.check_type = match v {
                    "all" => pb::CheckType::All,
                    "call" => pb::CheckType::Call,
                    "sms" => pb::CheckType::Sms,
                    _ => panic!("{name}: check-type {v}"),
                } as i32
            }
            "--check-target" => {
                req.check_target = match v {
                    "all" => pb::CheckTarget::All,
                    "incoming" => pb::CheckTarget::Incoming,
                    "outgoing" => pb::CheckTarget::Outgoing,
                    _ => panic!("{name}: check-target {v}"),
                } as i32
            }
            other => panic!("{name}: unknown flag {other}"),
        }
    }
    Case {
        name: name.to_owned(),
        req,
        tz,
        default_region,
    }
}

/// `subscriber -> anomaly_date` ("" when none) of a case's expected.csv.
pub(crate) fn expected(dir: &Path) -> BTreeMap<String, String> {
    let mut r = csv::Reader::from_path(dir.join("expected.csv")).unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let detected = &rec[1] == "true";
            assert_eq!(detected, !rec[2].is_empty());
            (rec[0].to_owned(), rec[2].to_owned())
        })
        .collect()
}

/// E.164 subscribers appearing in a case's events.csv.
pub(crate) fn subscribers_in(csv_path: &Path) -> BTreeSet<String> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "subscriber")
        .unwrap();
    r.records()
        .filter_map(|rec| rec.ok()?.get(col).map(str::to_owned))
        .filter(|s| hotzone::model::Msisdn::parse_subscriber(s).is_ok())
        .collect()
}

pub(crate) fn with_number(req: &CheckRequest, number: &str) -> CheckRequest {
    CheckRequest {
        phone_number: number.to_owned(),
        ..req.clone()
    }
}

/// Every conformance case, through Check, from each input file present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_matches_every_conformance_case() {
    let mut cases = 0;
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
        // The CSV compressed as exporters ship it, too (`.csv.gz`), and as a table
        // partitioned by `direction` and `kind` (`direction=in/kind=call/part-0.csv`).
        for input in [
            "events.csv",
            "events.parquet",
            "events.csv.gz",
            "partitioned",
        ] {
            let data = tempfile::tempdir().unwrap();
            if input == "partitioned" {
                let table = data.path().join("calls");
                write_hive(&dir.join("events.csv"), &table, &["direction", "kind"]);
            } else if input == "events.csv.gz" {
                let mut gz = flate2::write::GzEncoder::new(
                    std::fs::File::create(data.path().join(input)).unwrap(),
                    flate2::Compression::fast(),
                );
                let text = std::fs::read(dir.join("events.csv")).unwrap();
                std::io::Write::write_all(&mut gz, &text).unwrap();
                gz.finish().unwrap();
            } else if dir.join(input).is_file() {
                std::fs::copy(dir.join(input), data.path().join(input)).unwrap();
            } else {
                continue;
            }
            let mut s = settings(data.path());
            s.tz = case.tz;
            s.default_region = case.default_region;
            let server = spawn_loaded(s).await;
            let mut client = server.client().await;
            for (sub, date) in &want {
                let r = client.check(with_number(&case.req, sub)).await;
                let r = r
                    .unwrap_or_else(|e| panic!("{} {input} {sub}: {e}", case.name))
                    .into_inner();
                assert_eq!(
                    r.anomaly_detected,
                    !date.is_empty(),
                    "{} {input} {sub}",
                    case.name
                );
                assert_eq!(&r.anomaly_date, date, "{} {input} {sub}", case.name);
            }
            for sub in subscribers_in(&dir.join("events.csv")) {
                if want.contains_key(&sub) {
                    continue;
                }
                // In the data but without a row: no selected event in W (false), or only
                // rejected rows (unknown).
                match client.check(with_number(&case.req, &sub)).await {
                    Ok(r) => assert!(!r.into_inner().anomaly_detected, "{} {sub}", case.name),
                    Err(e) => assert_eq!(e.code(), Code::NotFound, "{} {sub}: {e}", case.name),
                }
            }
            let e = client
                .check(with_number(&case.req, "+99912345678"))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::NotFound, "{}", case.name);
            assert_eq!(
                e.get_details_error_info().unwrap().reason,
                "IDENTIFIER_NOT_FOUND"
            );
            server.stop().await;
            cases += 1;
        }
    }
    assert!(cases >= 36, "only {cases} case inputs found");
}

const HOT_DAY: &str = "\
event_time,subscriber,counterparty,direction,kind,duration_s
2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60
2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,60
2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,sms,
2026-03-10T12:03:00Z,+886912345001,+886221234567,out,call,60
";

pub(crate) fn base_req(number: &str) -> CheckRequest {
    CheckRequest {
        phone_number: number.to_owned(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".to_owned()],
        as_of: "2026-03-10".to_owned(),
        ..CheckRequest::default()
    }
}

async fn hot_day_server(
    tweak: impl FnOnce(&mut hotzone::config::ServerSettings),
) -> (Server, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    tweak(&mut s);
    (spawn_loaded(s).await, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_path_has_its_code_reason_and_field() {
    let (server, _data) = hot_day_server(|s| {
        s.max_look_back_days = 60;
        s.named_hotzones = hotzone::named::NamedHotzones::parse("west_africa = [\"NG\"]").unwrap();
    })
    .await;
    let mut client = server.client().await;
    let number = "+886912345001";
    let ok = client.check(base_req(number)).await.unwrap().into_inner();
    assert!(ok.anomaly_detected);
    assert_eq!(ok.anomaly_date, "2026-03-10");
    let named = CheckRequest {
        hotzone: vec![],
        hotzone_name: "west_africa".into(),
        ..base_req(number)
    };
    assert!(
        client
            .check(named)
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );

    let b = || base_req(number);
    let table: Vec<(&str, CheckRequest, Code, &str)> = vec![
        (
            "phone_number",
            CheckRequest {
                phone_number: "886912345001".into(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "phone_number",
            CheckRequest {
                phone_number: "+0886912345".into(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "phone_number",
            CheckRequest {
                phone_number: String::new(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "look_back_days",
            CheckRequest {
                look_back_days: 0,
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "look_back_days",
            CheckRequest {
                look_back_days: 61,
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "look_back_days",
            CheckRequest {
                look_back_days: 91,
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "threshold_ratio",
            CheckRequest {
                threshold_ratio: f64::NAN,
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "threshold_ratio",
            CheckRequest {
                threshold_ratio: f64::INFINITY,
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "threshold_ratio",
            CheckRequest {
                threshold_ratio: 1.5,
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "threshold_ratio",
            CheckRequest {
                threshold_ratio: 0.0,
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "threshold_ratio",
            CheckRequest {
                method: pb::Method::Spike as i32,
                threshold_ratio: 0.5,
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "method",
            CheckRequest { method: 7, ..b() },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "check_type",
            CheckRequest {
                check_type: 9,
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "check_target",
            CheckRequest {
                check_target: -1,
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "hotzone",
            CheckRequest {
                hotzone: vec!["XX".into()],
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "hotzone",
            CheckRequest {
                hotzone: vec!["+12a".into()],
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "hotzone",
            CheckRequest {
                hotzone: (0..301).map(|i| format!("+{}", 1000 + i)).collect(),
                ..b()
            },
            Code::OutOfRange,
            "OUT_OF_RANGE",
        ),
        (
            "hotzone",
            CheckRequest {
                hotzone: vec![],
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "hotzone_name",
            CheckRequest {
                hotzone: vec![],
                hotzone_name: "nowhere".into(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "as_of",
            CheckRequest {
                as_of: "2026-3-10".into(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "as_of",
            CheckRequest {
                as_of: "10/03/2026".into(),
                ..b()
            },
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        ),
        (
            "phone_number",
            CheckRequest {
                phone_number: "+886912345999".into(),
                ..b()
            },
            Code::NotFound,
            "IDENTIFIER_NOT_FOUND",
        ),
    ];
    for (field, req, code, reason) in table {
        let number = req.phone_number.clone();
        let e = client.check(req).await.expect_err(field);
        assert_eq!(e.code(), code, "{field}: {e:?}");
        let info = e
            .get_details_error_info()
            .unwrap_or_else(|| panic!("{field}: no ErrorInfo"));
        assert_eq!(info.reason, reason, "{field}");
        assert_eq!(info.domain, "hotzone");
        assert_eq!(
            info.metadata.get("field").map(String::as_str),
            Some(field),
            "{field}"
        );
        assert!(
            e.message().contains(field),
            "{field}: message {:?} does not name the field",
            e.message()
        );
        let digits = number.trim_start_matches('+');
        assert!(
            digits.len() < 5 || !e.message().contains(digits),
            "{field}: message leaks the number: {}",
            e.message()
        );
    }
    // A bad request changes nothing.
    assert!(
        client
            .check(base_req(number))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_and_not_serving_until_loaded_then_serving() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut s = settings(&data); // the directory does not exist yet
    // Two checks of a number an hour: the 503s before the load spend none of them.
    (s.policy.number_burst, s.policy.number_checks_per_hour) = (2, 1.0);
    let server = spawn(s).await;
    let mut client = server.client().await;
    for _ in 0..4 {
        let e = client.check(base_req("+886912345001")).await.unwrap_err();
        assert_eq!(e.code(), Code::Unavailable);
        assert_eq!(e.get_details_error_info().unwrap().reason, "UNAVAILABLE");
    }
    // A request refused for its parameters is refused so before the load too, and spends
    // one of the number's tokens.
    let bad = CheckRequest {
        look_back_days: 0,
        ..base_req("+886912345001")
    };
    assert_eq!(
        client.check(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(server.health("").await, ServingStatus::NotServing);
    assert_eq!(
        server.health("fraudhotzone.v1.FraudHotzone").await,
        ServingStatus::NotServing
    );
    let ingest = client
        .ingest(tokio_stream::iter(vec![IngestRequest::default()]))
        .await
        .unwrap_err();
    assert_eq!(ingest.code(), Code::Unavailable);

    std::fs::create_dir(&data).unwrap();
    drop_file(&data, "day.csv", HOT_DAY);
    server.wait_serving().await;
    assert_eq!(
        server.health("fraudhotzone.v1.FraudHotzone").await,
        ServingStatus::Serving
    );
    let r = client
        .check(base_req("+886912345001"))
        .await
        .unwrap()
        .into_inner();
    assert!(r.anomaly_detected);
    // The burst spent now, by the refused request and the answered check.
    let e = client.check(base_req("+886912345001")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_hotzone_and_server_cap_apply() {
    let (server, _data) = hot_day_server(|s| {
        s.default_hotzone = Some(std::sync::Arc::new(
            hotzone::model::Hotzone::parse_list("x", "NG").unwrap(),
        ));
        s.max_look_back_days = 7;
    })
    .await;
    let mut client = server.client().await;
    let req = CheckRequest {
        hotzone: vec![],
        ..base_req("+886912345001")
    };
    assert!(
        client
            .check(req.clone())
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    let e = client
        .check(CheckRequest {
            look_back_days: 8,
            ..req
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
    assert!(e.message().contains("between 1 and 7"), "{}", e.message());
    server.stop().await;
}

/// With `retention_days`, a window that starts before the first day kept is `OUT_OF_RANGE`:
/// answered, it counted the dropped days as days without events (a SPIKE baseline of zeros
/// made an anomaly up, an old `as_of` gave NOT_FOUND for a number with events that day: a
/// helper's pass). Windows within the days kept are answered. Days are counted from the
/// server's clock, as retention is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_before_the_days_kept_is_out_of_range() {
    let today = chrono::Utc::now().date_naive();
    let day = |back: u64| today - chrono::Days::new(back);
    let at = |back: u64, k: u32| format!("{}T12:00:{k:02}Z", day(back));
    let mut text = String::from("event_time,subscriber,counterparty,direction,kind\n");
    // Three hot calls 40 days back (dropped by a 30-day retention), one call yesterday.
    for k in 0..3 {
        text.push_str(&format!(
            "{},+886912345001,+2348021234567,in,call\n",
            at(40, k)
        ));
    }
    text.push_str(&format!(
        "{},+886912345001,+886212345678,in,call\n",
        at(1, 0)
    ));
    // A row dated far ahead (kept, as every row is) moves neither what is kept nor what is
    // refused: the days kept count back from the latest day no later than today (the
    // review found the check counting back from tomorrow instead, refusing kept windows).
    text.push_str("2099-06-01T00:00:00Z,+886912345009,+886212345678,in,call\n");
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "kept.csv", &text);
    let mut s = settings(data.path());
    s.retention_days = Some(30);
    s.max_look_back_days = 30;
    let server = spawn_loaded(s).await;
    let mut client = server.client().await;
    let req = |as_of: String, look_back_days: u32| CheckRequest {
        look_back_days,
        as_of,
        ..base_req("+886912345001")
    };
    // Kept: the 30 days ending yesterday (the latest day in the data).
    let kept = client
        .check(req(day(1).to_string(), 30))
        .await
        .unwrap()
        .into_inner();
    assert!(!kept.anomaly_detected);
    for (as_of, look_back) in [(day(40), 1), (day(2), 30), (day(20), 15)] {
        let e = client
            .check(req(as_of.to_string(), look_back))
            .await
            .expect_err("a window before the days kept");
        assert_eq!(
            e.code(),
            Code::OutOfRange,
            "{as_of} {look_back}: {}",
            e.message()
        );
        assert!(
            e.message().contains(&format!("starts before {}", day(30)))
                && e.message().contains("retention_days 30"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("886912345001"), "{}", e.message());
    }
    // The server still answers.
    assert!(client.check(req(day(1).to_string(), 1)).await.is_ok());
    server.stop().await;

    // A row dated tomorrow (a switch writing local time as `Z`) is kept, and a check as of
    // today at the largest look-back stays answered (it moved the days kept by one, and every
    // such check was OUT_OF_RANGE).
    let tomorrow = today + chrono::Days::new(1);
    let text = format!(
        "event_time,subscriber,counterparty,direction,kind\n{},+886912345001,+886212345678,in,call\n{tomorrow}T01:00:00Z,+886912345001,+2348021234567,in,call\n",
        at(0, 0)
    );
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "ahead.csv", &text);
    let mut s = settings(data.path());
    s.retention_days = Some(30);
    s.max_look_back_days = 30;
    let server = spawn_loaded(s).await;
    let mut client = server.client().await;
    let today_check = CheckRequest {
        look_back_days: 30,
        as_of: String::new(),
        ..base_req("+886912345001")
    };
    let answered = client.check(today_check).await;
    assert!(answered.is_ok(), "{answered:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_service_and_correlator_is_echoed() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (server, _data) = hot_day_server(|_| {}).await;
    let mut refl = ServerReflectionClient::new(server.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = refl
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("{msg:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "fraudhotzone.v1.FraudHotzone"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );

    let mut client = server.client().await;
    let mut req = tonic::Request::new(base_req("+886912345001"));
    req.metadata_mut()
        .insert("x-correlator", "req-42:a/b".parse().unwrap());
    let resp = client.check(req).await.unwrap();
    assert_eq!(resp.metadata().get("x-correlator").unwrap(), "req-42:a/b");
    let mut req = tonic::Request::new(base_req("+886912345999"));
    req.metadata_mut()
        .insert("x-correlator", "req-43".parse().unwrap());
    let e = client.check(req).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.metadata().get("x-correlator").unwrap(), "req-43");
    let mut req = tonic::Request::new(base_req("+886912345001"));
    req.metadata_mut()
        .insert("x-correlator", "has space".parse().unwrap());
    let e = client.check(req).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("x-correlator"));
    server.stop().await;
}

fn record(ms: i64, sub: &str, cp: &str, dir: &str, kind: &str) -> EventRecord {
    EventRecord {
        event_time_ms: Some(ms),
        subscriber: sub.to_owned(),
        counterparty: cp.to_owned(),
        direction: dir.to_owned(),
        kind: kind.to_owned(),
        duration_s: (kind == "call").then_some(30),
        counterparty_region: String::new(),
    }
}

/// 2026-03-10T12:00:00Z.
const MAR10_NOON_MS: i64 = 1_773_144_000_000;

/// Three hot events and three others on 2026-03-10 for `sub`: SHARE 0.5 with min_events 3
/// is anomalous, with min_events 4 it is not (so a double-counted batch would show).
fn hot_batch(sub: &str) -> Vec<EventRecord> {
    let mut v = Vec::new();
    for i in 0..3 {
        v.push(record(
            MAR10_NOON_MS + i * 1000,
            sub,
            &format!("+23480212345{i:02}"),
            "in",
            "call",
        ));
        v.push(record(
            MAR10_NOON_MS + i * 1000 + 500,
            sub,
            "+886221234567",
            "out",
            "sms",
        ));
    }
    v
}

async fn assert_exactly_once(
    client: &mut pb::fraud_hotzone_client::FraudHotzoneClient<tonic::transport::Channel>,
    sub: &str,
) {
    let r = client.check(base_req(sub)).await.unwrap().into_inner();
    assert!(r.anomaly_detected, "{sub}");
    assert_eq!(r.anomaly_date, "2026-03-10");
    let r = client
        .check(CheckRequest {
            min_events: 4,
            ..base_req(sub)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.anomaly_detected, "{sub}: counted twice");
}

/// A client that compresses its requests (grpc-js, grpcio and grpc-java can be set to
/// compress everything) is answered as any other: Check, Ingest and health, gzip and
/// deflate. They were refused with UNIMPLEMENTED on every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_compressed_with_gzip_or_deflate_are_answered() {
    use tonic::codec::CompressionEncoding;
    let (server, _data) = hot_day_server(|_| {}).await;
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Deflate] {
        let mut c = server.client().await.send_compressed(encoding);
        let r = c
            .check(base_req("+886912345001"))
            .await
            .unwrap()
            .into_inner();
        assert!(r.anomaly_detected, "{encoding:?}");
        assert_eq!(r.anomaly_date, "2026-03-10", "{encoding:?}");
        let e = c.check(base_req("+886900000000")).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{encoding:?}");
        let sub = match encoding {
            CompressionEncoding::Gzip => "+886955500101",
            _ => "+886955500102",
        };
        let msgs = vec![IngestRequest {
            events: hot_batch(sub),
        }];
        let ack = c
            .ingest(tokio_stream::iter(msgs))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ack.accepted, 6, "{encoding:?}");
        assert!(
            c.check(base_req(sub))
                .await
                .unwrap()
                .into_inner()
                .anomaly_detected
        );
        let mut h = tonic_health::pb::health_client::HealthClient::new(server.channel().await)
            .send_compressed(encoding);
        let r = h
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{encoding:?}");
    }
    server.stop().await;
}

/// An ingested `event_time_ms` of 0 is 1970-01-01T00:00:00Z, the first instant accepted, as
/// in a file (the field has presence: a record without it is `missing_event_time`). It was
/// read as "not given" and rejected, where a scan of the same rows found the day anomalous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_time_of_zero_is_the_epoch_not_a_missing_time() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let server = spawn_loaded(settings(data.path())).await;
    let mut client = server.client().await;
    let sub = "+886955500077";
    let events = (0..3)
        .map(|i| record(i, sub, &format!("+23480212345{i:02}"), "in", "call"))
        .chain([EventRecord {
            event_time_ms: None,
            ..record(5, sub, "+2348021234567", "in", "call")
        }])
        .collect();
    let r = client
        .ingest(tokio_stream::iter(vec![IngestRequest { events }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.accepted, 3);
    assert_eq!(r.rejected.get("missing_event_time"), Some(&1));
    let v = client
        .check(CheckRequest {
            as_of: "1970-01-01".into(),
            look_back_days: 1,
            ..base_req(sub)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.anomaly_detected);
    assert_eq!(v.anomaly_date, "1970-01-01");
    server.stop().await;
}

/// A server over `dir` without polling, serving: the test's own reloads are the only ones
/// (two at once are not allowed).
async fn serve_unpolled(dir: &Path) -> (AppState, Server) {
    let mut s = settings(dir);
    s.poll_interval = None;
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    server.wait_serving().await;
    (state, server)
}

/// A data file the served index was built from that cannot be read any more (overwritten
/// in place with damaged bytes) leaves the previous data serving, not an index without its
/// rows: numbers kept their answers, where they became `false` or NOT_FOUND while health
/// said SERVING (a helper's pass). A file rewritten whole, or removed, is taken as it is now;
/// a new file that cannot be read is skipped as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_keeps_the_previous_data_serving_until_it_changes() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let other = HOT_DAY.replace("+886912345001", "+886912345002");
    drop_file(data.path(), "other.csv", &other);
    let (state, server) = serve_unpolled(data.path()).await;
    let mut client = server.client().await;
    let hot = |r: Result<tonic::Response<hotzone::service::pb::CheckResponse>, tonic::Status>| {
        r.map(|r| r.into_inner().anomaly_detected)
            .map_err(|e| e.code())
    };
    assert_eq!(hot(client.check(base_req("+886912345001")).await), Ok(true));

    // Damaged in place: an unclosed quote makes the file unreadable.
    std::fs::write(
        data.path().join("day.csv"),
        format!("{HOT_DAY}2026-03-10T12:04:00Z,+886912345001,\"+23480,in,call,60\n"),
    )
    .unwrap();
    // A new file, readable.
    drop_file(
        data.path(),
        "new.csv",
        &HOT_DAY.replace("+886912345001", "+886912345003"),
    );
    assert!(!hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(hot(client.check(base_req("+886912345001")).await), Ok(true));
    assert_eq!(hot(client.check(base_req("+886912345002")).await), Ok(true));
    // The new file waits with the rest of the listing.
    assert_eq!(
        hot(client.check(base_req("+886912345003")).await),
        Err(Code::NotFound)
    );
    // The same listing is not rebuilt again.
    assert!(!hotzone::service::reload::reload(&state).await.unwrap());
    // Ingests are still folded, into one merged segment beside the served base, with no
    // rebuild tried (it piled up a segment an ingest, each starting a refused rebuild).
    let refusals = |state: &AppState| {
        let text = state.render_metrics();
        let line = text
            .lines()
            .find(|l| l.starts_with("hotzone_reloads_total{result=\"error\"}"));
        line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    let before = refusals(&state);
    let many = hotzone::service::reload::MAX_DELTAS;
    crate::hostile::ingest_one_by_one(&server, 0, many).await;
    wait_for("the ingested segments to be merged", || async {
        let merges = crate::hostile::metric(&state, "hotzone_segment_merges_total");
        (merges == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        crate::hostile::metric(&state, "hotzone_index_segments"),
        Some(2)
    );
    assert_eq!(refusals(&state), before);
    assert_eq!(hot(client.check(base_req("+886912345001")).await), Ok(true));
    assert_eq!(
        hot(client.check(base_req("+886955500003")).await),
        Ok(false)
    );
    // Another served file changed meanwhile: one rebuild tried (refused again), then the
    // ingests are merged again (a review found every fold a refused rebuild from there on).
    let mut grown = std::fs::read_to_string(data.path().join("other.csv")).unwrap();
    grown.push_str("2026-03-10T12:05:00Z,+886912345002,+886221234567,in,call,60\n");
    drop_file(data.path(), "other.csv", &grown);
    assert!(!hotzone::service::reload::reload(&state).await.unwrap());
    let before = refusals(&state);
    crate::hostile::ingest_one_by_one(&server, many, many).await;
    wait_for("the later ingested segments to be merged", || async {
        let merges = crate::hostile::metric(&state, "hotzone_segment_merges_total");
        (merges == Some(2)).then_some(())
    })
    .await;
    assert_eq!(refusals(&state), before);

    // Rewritten whole: read as it is now, the new file with it.
    let fixed = HOT_DAY
        .replace("+2348021234567", "+886221234568")
        .replace("+2348021234568", "+886221234569");
    drop_file(data.path(), "day.csv", &fixed);
    assert!(hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(
        hot(client.check(base_req("+886912345001")).await),
        Ok(false)
    );
    assert_eq!(hot(client.check(base_req("+886912345003")).await), Ok(true));

    // Damaged again, then removed: its rows leave.
    std::fs::write(data.path().join("day.csv"), b"\x00\x01not,a,csv\n\"").unwrap();
    assert!(!hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(
        hot(client.check(base_req("+886912345001")).await),
        Ok(false)
    );
    std::fs::remove_file(data.path().join("day.csv")).unwrap();
    assert!(hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(
        hot(client.check(base_req("+886912345001")).await),
        Err(Code::NotFound)
    );
    assert_eq!(hot(client.check(base_req("+886912345002")).await), Ok(true));

    // A placeholder of no bytes (served as no rows) filled with bytes not readable yet is no
    // served file lost: the rest loads, a new file with it.
    std::fs::write(data.path().join("y.parquet"), b"").unwrap();
    assert!(hotzone::service::reload::reload(&state).await.unwrap());
    std::fs::write(data.path().join("y.parquet"), b"PAR1 still being copied").unwrap();
    drop_file(
        data.path(),
        "late.csv",
        &HOT_DAY.replace("+886912345001", "+886912345004"),
    );
    assert!(hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(hot(client.check(base_req("+886912345004")).await), Ok(true));

    // A served file cut to no bytes in place is lost as a damaged one is (read as no rows,
    // its numbers left the answers).
    std::fs::write(data.path().join("other.csv"), b"").unwrap();
    assert!(!hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(hot(client.check(base_req("+886912345002")).await), Ok(true));
    std::fs::remove_file(data.path().join("other.csv")).unwrap();
    assert!(hotzone::service::reload::reload(&state).await.unwrap());

    // A name that is not UTF-8 is not read (it stopped every load), the rest is.
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = std::ffi::OsStr::from_bytes(b"+88691234\xff.csv");
        std::fs::write(data.path().join(odd), HOT_DAY).unwrap();
    }
    drop_file(
        data.path(),
        "after-odd.csv",
        &HOT_DAY.replace("+886912345001", "+886912345005"),
    );
    assert!(hotzone::service::reload::reload(&state).await.unwrap());
    assert_eq!(hot(client.check(base_req("+886912345005")).await), Ok(true));
    server.stop().await;
}

/// An ingested file damaged on disk is a served file like the others: its acknowledged
/// events keep serving (a review found them gone at the next reload, which skipped the file
/// as a new one), and while it stays damaged later ingests are merged beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_ingested_file_keeps_its_events_serving() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let (state, server) = serve_unpolled(data.path()).await;
    let mut client = server.client().await;
    crate::hostile::ingest_one_by_one(&server, 0, 3).await;
    let found = |r: Result<tonic::Response<hotzone::service::pb::CheckResponse>, tonic::Status>| {
        r.map(|_| ()).map_err(|e| e.code())
    };
    let ingested = data.path().join(hotzone::service::ingest::INGEST_DIR);
    let mut files: Vec<_> = std::fs::read_dir(&ingested)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        std::fs::write(f, b"\x00\x01 damaged on disk").unwrap();
        assert!(!hotzone::service::reload::reload(&state).await.unwrap());
        for i in 0..3 {
            let sub = format!("+8869555{i:05}");
            assert_eq!(found(client.check(base_req(&sub)).await), Ok(()), "{sub}");
        }
    }
    // Later ingests are merged beside the damaged ones.
    let many = hotzone::service::reload::MAX_DELTAS;
    crate::hostile::ingest_one_by_one(&server, 3, many).await;
    wait_for("the later ingested segments to be merged", || async {
        let merges = crate::hostile::metric(&state, "hotzone_segment_merges_total");
        (merges == Some(1)).then_some(())
    })
    .await;
    let sub = format!("+8869555{:05}", 3 + many - 1);
    assert_eq!(found(client.check(base_req(&sub)).await), Ok(()));
    assert_eq!(found(client.check(base_req("+886955500000")).await), Ok(()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_is_visible_at_ack_and_survives_restart() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let (state, server) = serve_unpolled(data.path()).await;
    let mut client = server.client().await;
    let sub = "+886955500001";
    let e = client.check(base_req(sub)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let mut batch = hot_batch(sub);
    let (first, second) = batch.split_at_mut(2);
    let mut bad = vec![
        record(MAR10_NOON_MS, sub, "", "sideways", "call"),
        record(MAR10_NOON_MS, "", "", "in", "call"),
        EventRecord {
            event_time_ms: None,
            ..record(MAR10_NOON_MS, sub, "", "in", "call")
        },
        record(MAR10_NOON_MS, sub, "", "in", "fax"),
    ];
    bad[0].duration_s = None;
    let msgs = vec![
        IngestRequest {
            events: first.to_vec(),
        },
        IngestRequest { events: bad },
        IngestRequest {
            events: second.to_vec(),
        },
    ];
    let mut req = tonic::Request::new(tokio_stream::iter(msgs));
    req.metadata_mut()
        .insert("x-correlator", "ingest-1".parse().unwrap());
    let resp = client.ingest(req).await.unwrap();
    assert_eq!(resp.metadata().get("x-correlator").unwrap(), "ingest-1");
    let r = resp.into_inner();
    assert_eq!(r.accepted, 6);
    let want: std::collections::HashMap<String, u64> = [
        ("bad_direction", 1),
        ("missing_subscriber", 1),
        ("missing_event_time", 1),
        ("bad_kind", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(r.rejected, want);
    assert!(
        r.file.starts_with("ingest/") && r.file.ends_with(".csv"),
        "{}",
        r.file
    );
    assert!(data.path().join(&r.file).is_file());
    // Visible as soon as the ack returned, exactly once.
    assert_exactly_once(&mut client, sub).await;
    // Still exactly once after a reload has listed the new file (the poller's own step,
    // taken here rather than waited for).
    hotzone::service::reload::reload(&state).await.unwrap();
    assert_exactly_once(&mut client, sub).await;

    // An all-rejected batch writes nothing.
    let r = client
        .ingest(tokio_stream::iter(vec![IngestRequest {
            events: vec![EventRecord {
                event_time_ms: None,
                ..record(MAR10_NOON_MS, sub, "", "in", "call")
            }],
        }]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.accepted, r.file.as_str()), (0, ""));

    // Restart on the same directory: the acknowledged records are there.
    server.stop().await;
    let server = spawn_loaded(settings(data.path())).await;
    let mut client = server.client().await;
    assert_exactly_once(&mut client, sub).await;
    assert!(
        client
            .check(base_req("+886912345001"))
            .await
            .unwrap()
            .into_inner()
            .anomaly_detected
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_file_is_picked_up_by_the_poller() {
    let (server, data) = hot_day_server(|_| {}).await;
    let mut client = server.client().await;
    let sub = "+886912345077";
    assert_eq!(
        client.check(base_req(sub)).await.unwrap_err().code(),
        Code::NotFound
    );
    let text = HOT_DAY.replace("+886912345001", sub);
    std::fs::create_dir_all(data.path().join("later/day=2026-03-10")).unwrap();
    drop_file(&data.path().join("later/day=2026-03-10"), "more.csv", &text);
    wait_for("the new file", || {
        let mut c = client.clone();
        async move { c.check(base_req(sub)).await.ok().map(|r| r.into_inner()) }
    })
    .await;
    let r = client.check(base_req(sub)).await.unwrap().into_inner();
    assert!(r.anomaly_detected);
    // A file removed from the directory leaves the index too.
    std::fs::remove_dir_all(data.path().join("later")).unwrap();
    wait_for("the removal", || {
        let mut c = client.clone();
        async move { (c.check(base_req(sub)).await.err()?.code() == Code::NotFound).then_some(()) }
    })
    .await;
    server.stop().await;
}

/// Checks keep answering the same verdicts while reloads run, and ingests that land during
/// reloads are neither lost nor counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_and_ingests_stay_correct_while_reloads_run() {
    let data = tempfile::tempdir().unwrap();
    let generated = conformance_dir().join("generated_share");
    std::fs::copy(generated.join("events.csv"), data.path().join("events.csv")).unwrap();
    drop_file(data.path(), "day.csv", HOT_DAY);
    let mut s = settings(data.path());
    s.tz = chrono_tz::Asia::Taipei;
    s.poll_interval = Some(std::time::Duration::from_millis(50));
    let server = spawn_loaded(s).await;
    let case = parse_args(
        "generated_share",
        std::fs::read_to_string(generated.join("args"))
            .unwrap()
            .trim(),
    );
    let want = expected(&generated);
    let client = server.client().await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let mut client = client.clone();
        let stop = stop.clone();
        let want = want.clone();
        let req = case.req.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (sub, date) in want.iter().take(20) {
                    let r = client
                        .check(with_number(&req, sub))
                        .await
                        .unwrap()
                        .into_inner();
                    assert_eq!(&r.anomaly_date, date, "{sub} during a reload");
                    n += 1;
                }
            }
            n
        })
    };
    // Each dropped file triggers a rebuild of the ~10k-event base; ingests land meanwhile.
    let mut ingested = Vec::new();
    for i in 0..6 {
        drop_file(
            data.path(),
            &format!("extra-{i}.csv"),
            &HOT_DAY.replace("+886912345001", &format!("+8869123460{i:02}")),
        );
        let sub = format!("+88695550{i:04}");
        let mut c = client.clone();
        let r = c
            .ingest(tokio_stream::iter(vec![IngestRequest {
                events: hot_batch(&sub),
            }]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.accepted, 6);
        ingested.push(sub);
        tokio::time::sleep(std::time::Duration::from_millis(70)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = checker.await.unwrap();
    assert!(n > 0);
    let mut client = client;
    for sub in &ingested {
        assert_exactly_once(&mut client, sub).await;
    }
    // The dropped files are picked up by the poller (bounded wait: the last rebuild may
    // still be running).
    for i in 0..6 {
        let sub = format!("+8869123460{i:02}");
        let r = wait_for("the dropped files", || {
            let mut c = client.clone();
            let req = base_req(&sub);
            async move { c.check(req).await.ok().map(|r| r.into_inner()) }
        })
        .await;
        assert!(r.anomaly_detected);
    }
    server.stop().await;
}
