//! The bodies of the fuzz targets, shared by the libFuzzer entry points (`fuzz_targets/`)
//! and the stable-Rust random driver (`src/bin/stable.rs`). Each one must never panic,
//! whatever the bytes; each also checks a property that must hold for accepted inputs.

use std::sync::{Arc, OnceLock};

use hotzone::config::ServerSettings;
use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};
use hotzone::model::{Hotzone, Region};
use hotzone::service::AppState;
use hotzone::service::pb::CheckRequest;
use prost::Message;

/// Splits bytes into text cells at 0x1F (unit separator), lossily decoded.
fn cells(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .split(|b| *b == 0x1F)
        .take(n)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// REFERENCE.md §2 row interpretation on arbitrary cells (CSV-style text cells, or a numeric time
/// and duration as Parquet gives them). An accepted event's subscriber is a valid E.164
/// number that prints back to a parseable one.
pub fn csv_row(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let c = cells(rest, 7);
    let region = if mode & 1 == 1 {
        Region::parse("TW")
    } else {
        None
    };
    let mut interp = Interpreter::new(region);
    let opt = |i: usize| (mode & (2 << (i % 6)) == 0).then_some(c[i].as_str());
    let millis = i64::from_le_bytes(
        rest.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(8)
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap_or([0; 8]),
    );
    let row = RawRow {
        time: if mode & 0x80 == 0 {
            opt(0).map(TimeCell::Text)
        } else {
            Some(TimeCell::Millis(millis))
        },
        subscriber: opt(1),
        counterparty: opt(2),
        direction: opt(3),
        kind: opt(4),
        duration: if mode & 0x40 == 0 {
            opt(5).map(DurationCell::Text)
        } else {
            Some(DurationCell::Int(millis.rotate_left(17)))
        },
        region: opt(6),
        pre: Default::default(),
    };
    // Twice: the second call goes through the interpreter's cache.
    let a = interp.interpret(&row);
    let b = interp.interpret(&row);
    assert_eq!(a.is_ok(), b.is_ok());
    if let Ok(e) = a {
        let text = e.subscriber.to_string();
        assert!(
            hotzone::model::Msisdn::parse_subscriber(&text).is_ok()
                || hotzone::model::Msisdn::normalize(&text, None).is_ok(),
            "an accepted subscriber does not parse back"
        );
    }
}

/// Hotzone parsing: never panics; an accepted hotzone prints to a list that parses back to
/// the same hotzone, and an error never echoes more than the entry it names.
pub fn hotzone_list(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    match Hotzone::parse_list("hotzone", &s) {
        Ok(h) => {
            let again = Hotzone::parse_list("hotzone", &h.to_string()).expect("round trip");
            assert_eq!(h, again);
            assert!(!h.entries().is_empty() && h.entries().len() <= 300);
        }
        Err(e) => {
            assert!(e.to_string().contains("hotzone"));
        }
    }
}

/// A server state with a small loaded snapshot and a named hotzone, built once.
fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut s = ServerSettings::for_data_dir("/nonexistent");
        s.max_look_back_days = 60;
        s.named_hotzones =
            hotzone::model::hotzone::NamedHotzones::parse("west_africa = [\"NG\", \"+233\"]")
                .expect("named");
        s.policy.min_hotzone_entries = 1;
        let st_tz = s.tz;
        let state = AppState::new(s);
        let mut interp = Interpreter::new(None);
        let events: Vec<_> = (0..50)
            .filter_map(|i| {
                let sub = format!("+8869123450{:02}", i % 7);
                let cp = format!("+23480212345{i:02}");
                interp
                    .interpret(&RawRow {
                        time: Some(TimeCell::Millis(
                            1_773_144_000_000 - i64::from(i) * 3_600_000,
                        )),
                        subscriber: Some(&sub),
                        counterparty: Some(&cp),
                        direction: Some(if i % 2 == 0 { "in" } else { "out" }),
                        kind: Some(if i % 3 == 0 { "sms" } else { "call" }),
                        duration: None,
                        region: None,
                        pre: Default::default(),
                    })
                    .ok()
            })
            .collect();
        let seg = Arc::new(ServingIndex::from_events(&events, st_tz).expect("in-range events fit the layout"));
        let guard = state.lock_catalog_blocking();
        state.publish(&guard, Snapshot::new(vec![seg]));
        drop(guard);
        state
    })
}

/// Request validation and the whole Check path on a protobuf-decoded request: never panics;
/// an error message never contains the request's phone number.
pub fn check_request(data: &[u8]) {
    let Ok(req) = CheckRequest::decode(data) else {
        return;
    };
    let st = state();
    let _ = hotzone::service::check::params(st, &req);
    if let Err(e) = hotzone::service::check::check(st, &req) {
        let msg = e.to_string();
        let digits = req.phone_number.trim_start_matches('+');
        assert!(
            digits.len() < 5 || !msg.contains(digits),
            "an error message holds the number: {msg}"
        );
    }
}

/// Structured request generator for the stable driver: mostly-valid requests with one or two
/// fields mutated, which random bytes alone rarely reach.
pub fn structured_request(seed: &[u8]) -> Vec<u8> {
    let pick = |i: usize| seed.get(i).copied().unwrap_or(0);
    let numbers = [
        "+886912345001",
        "+886912345003",
        "+1",
        "+0886",
        "886912345001",
        "",
    ];
    let zones: [&[&str]; 5] = [
        &["NG"],
        &["NG", "+882"],
        &["xx"],
        &[],
        &["+1234567890123456"],
    ];
    let req = CheckRequest {
        phone_number: numbers[usize::from(pick(0)) % numbers.len()].to_owned(),
        look_back_days: u32::from(pick(1)) % 100,
        method: i32::from(pick(2) % 4) - 1,
        threshold_ratio: [0.5, 1.0, 0.0, -1.0, f64::NAN, f64::INFINITY, 2.5, 1e-300]
            [usize::from(pick(3)) % 8],
        hotzone: zones[usize::from(pick(4)) % zones.len()]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        check_type: i32::from(pick(5) % 5) - 1,
        check_target: i32::from(pick(6) % 5) - 1,
        min_events: u32::from(pick(7)) % 6,
        as_of: [
            "",
            "2026-03-10",
            "2026-3-10",
            "9999-12-31",
            "0000-01-01",
            "2026-02-30",
        ][usize::from(pick(8)) % 6]
            .to_owned(),
        hotzone_name: ["", "west_africa", "nope"][usize::from(pick(9)) % 3].to_owned(),
    };
    req.encode_to_vec()
}
