//! `Check` answers exactly what `scan` answers (issue 3): for every subscriber of the generated
//! conformance data sets, a real server on 127.0.0.1:0 and the library scan of the same file
//! agree on `anomaly_detected` and `anomaly_date`, over a grid of parameter sets: both
//! methods, hotzones of regions only / prefixes only / mixed, every check_type and
//! check_target, min_events 1..=3, several windows (as_of, look_back_days) and engine zones.
//!
//! A subscriber present in the data but without a scan row (no selected event in W) must be
//! known to the server and answer false with an empty date.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hotzone::ingest::{Event, EventSink, IngestOptions, ingest};
use hotzone::model::{CheckTarget, CheckType, Hotzone, Method, Msisdn, RawCheck};
use hotzone::scan::{ScanRequest, scan};
use hotzone::service::pb::{self, CheckRequest};
use tokio::task::JoinSet;

use crate::support::{conformance_dir, settings, spawn_loaded};

/// Hotzones: regions only, prefixes only, mixed (shared calling codes +1 and +7 included).
const HOTZONES: [&[&str]; 4] = [
    &["NG", "JM", "KH", "RU", "KZ"],
    &["+234", "+1876", "+855", "+882"],
    &["US", "+7", "PH", "+8821", "CN"],
    &["MY", "+1876", "NG", "+77"],
];

const TYPES: [CheckType; 3] = [CheckType::All, CheckType::Call, CheckType::Sms];
const TARGETS: [CheckTarget; 3] = [
    CheckTarget::All,
    CheckTarget::Incoming,
    CheckTarget::Outgoing,
];

/// A window: (as_of, look_back_days).
type Window = (&'static str, u16);

/// One parameter set.
#[derive(Clone, Debug)]
struct Params {
    method: Method,
    ratio: f64,
    hotzone: &'static [&'static str],
    check_type: CheckType,
    check_target: CheckTarget,
    min_events: u32,
    look_back_days: u16,
    as_of: &'static str,
}

/// The parameter grid for one data set: every (method, hotzone, check_type, check_target)
/// combination is covered across the list, with ratio, min_events and the window cycling.
fn grid(windows: &[Window]) -> Vec<Params> {
    let mut out = Vec::new();
    let mut i = 0usize;
    for (m, method) in [Method::Share, Method::Spike].into_iter().enumerate() {
        for (h, hotzone) in HOTZONES.iter().enumerate() {
            for t in 0..3 {
                // Over the first three hotzones every (type, target) pair appears once per
                // method; every hotzone meets every type and every target.
                let check_type = TYPES[t];
                let check_target = TARGETS[(t + h + m) % 3];
                let ratio = match method {
                    Method::Share => [0.3, 0.5][i % 2],
                    Method::Spike => [2.0, 3.0][i % 2],
                };
                let (as_of, look_back_days) = windows[i % windows.len()];
                out.push(Params {
                    method,
                    ratio,
                    hotzone,
                    check_type,
                    check_target,
                    min_events: 1 + (i % 3) as u32,
                    look_back_days,
                    as_of,
                });
                i += 1;
            }
        }
    }
    out
}

fn request(p: &Params, number: String) -> CheckRequest {
    CheckRequest {
        phone_number: number,
        look_back_days: u32::from(p.look_back_days),
        method: match p.method {
            Method::Share => pb::Method::Share,
            Method::Spike => pb::Method::Spike,
        } as i32,
        threshold_ratio: p.ratio,
        hotzone: p.hotzone.iter().map(|s| (*s).to_owned()).collect(),
        check_type: match p.check_type {
            CheckType::All => pb::CheckType::All,
            CheckType::Call => pb::CheckType::Call,
            CheckType::Sms => pb::CheckType::Sms,
        } as i32,
        check_target: match p.check_target {
            CheckTarget::All => pb::CheckTarget::All,
            CheckTarget::Incoming => pb::CheckTarget::Incoming,
            CheckTarget::Outgoing => pb::CheckTarget::Outgoing,
        } as i32,
        min_events: p.min_events,
        as_of: p.as_of.to_owned(),
        hotzone_name: String::new(),
    }
}

/// The scan of `input` for `p`: subscriber -> anomaly_date ("" when none), one entry per row.
fn scan_rows(input: &str, tz: chrono_tz::Tz, p: &Params) -> BTreeMap<String, (bool, String)> {
    let req = ScanRequest {
        raw: RawCheck {
            look_back_days: Some(i64::from(p.look_back_days)),
            method: Some(p.method),
            threshold_ratio: Some(p.ratio),
            hotzone: Some(Arc::new(
                Hotzone::parse_items("hotzone", p.hotzone).unwrap(),
            )),
            check_type: Some(p.check_type),
            check_target: Some(p.check_target),
            min_events: Some(i64::from(p.min_events)),
            as_of: Some(p.as_of.to_owned()),
        },
        tz,
        ingest: IngestOptions::default(),
        explain: false,
    };
    let out = scan(&[input.to_owned()], &req, &|_, _| {}).unwrap();
    out.rows
        .iter()
        .map(|r| {
            let date = r
                .verdict
                .last
                .map(|d| {
                    out.window
                        .as_ref()
                        .expect("rows come with a window")
                        .date(usize::from(d))
                        .format("%Y-%m-%d")
                        .to_string()
                })
                .unwrap_or_default();
            (r.subscriber.to_string(), (r.verdict.detected(), date))
        })
        .collect()
}

/// Every subscriber with at least one accepted event in `input`.
fn subscribers(input: &str) -> BTreeSet<String> {
    struct Subs(BTreeSet<Msisdn>);
    impl EventSink for Subs {
        fn event(&mut self, e: &Event) {
            self.0.insert(e.subscriber);
        }
    }
    let (sinks, _) = ingest(
        &[input.to_owned()],
        &IngestOptions::default(),
        || || Subs(BTreeSet::new()),
        &|_, _| {},
    )
    .unwrap();
    sinks
        .into_iter()
        .flat_map(|s| s.0)
        .map(|m| m.to_string())
        .collect()
}

/// Totals over all parameter sets, to show the comparison is not vacuous.
#[derive(Default)]
struct Tally {
    sets: usize,
    checks: usize,
    detected: usize,
    not_detected: usize,
    without_row: usize,
}

/// One data set under one engine zone: a server over a temp dir holding only `file`, the
/// grid of parameter sets, every subscriber checked concurrently per set.
async fn compare(case: &str, file: &str, tz: chrono_tz::Tz, windows: &[Window]) -> Tally {
    let src = conformance_dir().join(case).join(file);
    let data = tempfile::tempdir().unwrap();
    let copy = data.path().join(file);
    std::fs::copy(&src, &copy).unwrap();
    let input = copy.to_string_lossy().into_owned();

    let mut s = settings(data.path());
    s.tz = tz;
    s.poll_interval = None;
    let server = spawn_loaded(s).await;
    let client = server.client().await;

    let subs = {
        let input = input.clone();
        tokio::task::spawn_blocking(move || subscribers(&input))
            .await
            .unwrap()
    };
    assert!(subs.len() >= 50, "{case}: only {} subscribers", subs.len());

    let mut tally = Tally::default();
    for p in grid(windows) {
        let rows = {
            let (input, p) = (input.clone(), p.clone());
            tokio::task::spawn_blocking(move || scan_rows(&input, tz, &p))
                .await
                .unwrap()
        };
        assert!(
            rows.keys().all(|k| subs.contains(k)),
            "{case} {p:?}: a scan row for a subscriber not in the data"
        );
        let mut calls = JoinSet::new();
        for sub in &subs {
            let mut c = client.clone();
            let req = request(&p, sub.clone());
            let sub = sub.clone();
            calls.spawn(async move { (sub, c.check(req).await) });
        }
        let mut got = BTreeMap::new();
        while let Some(joined) = calls.join_next().await {
            let (sub, reply) = joined.unwrap();
            let reply = reply
                .unwrap_or_else(|e| panic!("{case} {tz} {p:?} {sub}: {e:?}"))
                .into_inner();
            got.insert(sub, (reply.anomaly_detected, reply.anomaly_date));
        }
        for sub in &subs {
            let want = rows.get(sub).cloned().unwrap_or((false, String::new()));
            assert_eq!(
                got[sub], want,
                "{case} {tz} {p:?} {sub}: Check (left) vs scan (right)"
            );
            if want.0 {
                tally.detected += 1;
            } else {
                tally.not_detected += 1;
            }
        }
        tally.sets += 1;
        tally.checks += subs.len();
        tally.without_row += subs.len() - rows.len();
    }
    server.stop().await;
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_equals_scan_for_every_subscriber_of_the_generated_data() {
    let started = std::time::Instant::now();
    let runs: [(&str, &str, chrono_tz::Tz, &[Window]); 3] = [
        (
            "generated_share",
            "events.parquet",
            chrono_tz::Asia::Taipei,
            &[("2026-10-30", 21), ("2026-10-20", 7), ("2026-11-03", 30)],
        ),
        // Europe/Berlin leaves summer time on 2026-10-25: a 25-hour day inside W.
        (
            "generated_spike",
            "events.parquet",
            chrono_tz::Europe::Berlin,
            &[("2026-10-29", 14), ("2026-10-25", 10), ("2026-10-31", 25)],
        ),
        // The CSV twin of the data set (mixed timestamp notations), in UTC.
        (
            "generated_spike",
            "events.csv",
            chrono_tz::UTC,
            &[("2026-10-28", 12), ("2026-10-31", 21)],
        ),
    ];
    let mut total = Tally::default();
    for (case, file, tz, windows) in runs {
        let t = compare(case, file, tz, windows).await;
        total.sets += t.sets;
        total.checks += t.checks;
        total.detected += t.detected;
        total.not_detected += t.not_detected;
        total.without_row += t.without_row;
    }
    eprintln!(
        "scan_vs_check: {} parameter sets, {} checks ({} anomalous, {} not, {} without a scan row) in {:.1?}",
        total.sets,
        total.checks,
        total.detected,
        total.not_detected,
        total.without_row,
        started.elapsed()
    );
    assert!(total.sets >= 12);
    // Both verdicts and the no-row path are exercised, not just one of them.
    assert!(
        total.detected >= 100,
        "too few anomalies: {}",
        total.detected
    );
    assert!(total.not_detected >= 100);
    assert!(total.without_row >= 50);
}
