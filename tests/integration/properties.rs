//! Property tests: the fast paths (the parallel scan over split files, and the serving index)
//! against a naive, per-event implementation of REFERENCE.md §5 written independently here.
//!
//! The naive side resolves regions by calling libphonenumber directly for every event, takes
//! local dates from the zone database for every event, and evaluates every day of W densely
//! with the spec's expressions.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone};
use proptest::prelude::*;

use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::IngestOptions;
use hotzone::model::{CheckParams, CheckTarget, CheckType, Hotzone, Method, Msisdn, RawCheck};
use hotzone::scan::{ScanRequest, scan};

const SUBS: &[&str] = &[
    "+886912345001",
    "+886912345002",
    "+886912345003",
    "+886912345004",
];
const CPS: &[&str] = &[
    "+2348021234567",
    "+18762101234",
    "+12126849946",
    "+10001234567",
    "+77012345678",
    "+74951234567",
    "+447781123456",
    "+447911123456",
    "+8821612345678",
    "+886221234567",
    "",
    "BANK",
    // A number that ends in 0, and the same without it: a prefix of a number and a 0 pads
    // to the same 15 digits as the number, and must not take it in.
    "+2348021234560",
    "+234802123456",
];
const ENTRIES: &[&str] = &[
    "NG",
    "JM",
    "US",
    "KZ",
    "RU",
    "GG",
    "GB",
    "TW",
    "+882",
    "+1876",
    "+44",
    "+7",
    "+23480",
    "+187621012340",
    "+2348021234560",
];
const TZS: &[&str] = &["UTC", "Asia/Taipei", "America/New_York", "Europe/Berlin"];

#[derive(Clone, Debug)]
struct Ev {
    sub: usize,
    ms: i64,
    out: bool,
    sms: bool,
    cp: usize,
}

#[derive(Clone, Debug)]
struct Case {
    events: Vec<Ev>,
    files: usize,
    tz: usize,
    look_back: u16,
    spike: bool,
    ratio: f64,
    min_events: u32,
    entries: Vec<usize>,
    check_type: u8,
    check_target: u8,
}

const AS_OF: (i32, u32, u32) = (2026, 3, 10);

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(AS_OF.0, AS_OF.1, AS_OF.2).unwrap()
}

fn arb_case() -> impl Strategy<Value = Case> {
    let base = chrono::Utc
        .with_ymd_and_hms(2026, 2, 28, 0, 0, 0)
        .unwrap()
        .timestamp_millis();
    let ev = (
        0..SUBS.len(),
        0i64..(13 * 86_400_000),
        any::<bool>(),
        any::<bool>(),
        0..CPS.len(),
    )
        .prop_map(move |(sub, off, out, sms, cp)| Ev {
            sub,
            ms: base + off,
            out,
            sms,
            cp,
        });
    (
        prop::collection::vec(ev, 0..120),
        1usize..4,
        0..TZS.len(),
        1u16..10,
        any::<bool>(),
        prop_oneof![
            Just(0.25f64),
            Just(0.5),
            Just(1.0),
            Just(0.3),
            Just(1.5),
            Just(2.0),
            Just(3.0)
        ],
        1u32..4,
        prop::collection::btree_set(0..ENTRIES.len(), 1..4),
        0u8..3,
        0u8..3,
    )
        .prop_map(
            |(
                events,
                files,
                tz,
                look_back,
                spike,
                ratio,
                min_events,
                entries,
                check_type,
                check_target,
            )| {
                let ratio = if spike {
                    ratio.max(1.0)
                } else {
                    ratio.min(1.0)
                };
                Case {
                    events,
                    files,
                    tz,
                    look_back,
                    spike,
                    ratio,
                    min_events,
                    entries: entries.into_iter().collect(),
                    check_type,
                    check_target,
                }
            },
        )
}

fn params(c: &Case) -> CheckParams {
    let hz = Hotzone::parse_items(
        "hotzone",
        &c.entries.iter().map(|i| ENTRIES[*i]).collect::<Vec<_>>(),
    )
    .unwrap();
    let raw = RawCheck {
        look_back_days: Some(i64::from(c.look_back)),
        method: Some(if c.spike {
            Method::Spike
        } else {
            Method::Share
        }),
        threshold_ratio: Some(c.ratio),
        hotzone: Some(Arc::new(hz)),
        check_type: Some([CheckType::All, CheckType::Call, CheckType::Sms][c.check_type as usize]),
        check_target: Some(
            [
                CheckTarget::All,
                CheckTarget::Incoming,
                CheckTarget::Outgoing,
            ][c.check_target as usize],
        ),
        min_events: Some(i64::from(c.min_events)),
        as_of: Some(as_of().to_string()),
    };
    let limits = hotzone::model::check::Limits {
        max_look_back_days: 90,
        default_as_of: as_of(),
    };
    CheckParams::new(raw, limits).unwrap()
}

/// REFERENCE.md §2 region, straight from libphonenumber, every time.
fn naive_region(number: &str) -> Option<String> {
    let db = &*phonenumber::metadata::DATABASE;
    let n = phonenumber::parse(None, number).ok()?;
    let main = db
        .region(&n.code().value())
        .and_then(|v| v.first().map(|s| s.to_string()));
    let r = if phonenumber::is_valid(&n) {
        n.metadata(db).map(|m| m.id().to_string()).or(main)
    } else {
        main
    };
    r.filter(|r| r.len() == 2 && r != "00")
}

fn naive_hot(cp: &str, entries: &[&str]) -> bool {
    if !cp.starts_with('+') {
        return false;
    }
    let region = naive_region(cp);
    entries.iter().any(|e| {
        if e.starts_with('+') {
            cp.starts_with(e)
        } else {
            region.as_deref() == Some(*e)
        }
    })
}

/// (detected, latest date, anomalous days, first date) per subscriber with a selected event in W.
type Naive = BTreeMap<String, (bool, Option<NaiveDate>, u32, Option<NaiveDate>)>;

fn naive(c: &Case) -> Naive {
    let tz: chrono_tz::Tz = TZS[c.tz].parse().unwrap();
    let p = params(c);
    let entries: Vec<&str> = c.entries.iter().map(|i| ENTRIES[*i]).collect();
    let first = p.first_day();
    let mut counts: BTreeMap<&str, BTreeMap<NaiveDate, (u32, u32)>> = BTreeMap::new();
    for e in &c.events {
        let date = chrono::Utc
            .timestamp_millis_opt(e.ms)
            .unwrap()
            .with_timezone(&tz)
            .date_naive();
        let kind_ok = match p.check_type {
            CheckType::All => true,
            CheckType::Call => !e.sms,
            CheckType::Sms => e.sms,
        };
        let dir_ok = match p.check_target {
            CheckTarget::All => true,
            CheckTarget::Incoming => !e.out,
            CheckTarget::Outgoing => e.out,
        };
        if date < first || date > p.as_of || !kind_ok || !dir_ok {
            continue;
        }
        let day = counts
            .entry(SUBS[e.sub])
            .or_default()
            .entry(date)
            .or_default();
        day.1 += 1;
        if naive_hot(CPS[e.cp], &entries) {
            day.0 += 1;
        }
    }
    let mut out = Naive::new();
    for (sub, days) in counts {
        let mut v = (false, None, 0u32, None);
        let mut prior_sum = 0u64;
        for i in 0..p.look_back_days {
            let d = first + chrono::Days::new(u64::from(i));
            let (hot, total) = days.get(&d).copied().unwrap_or((0, 0));
            let anomalous = hot >= p.min_events
                && match p.method {
                    Method::Share => (hot as f64) / (total as f64) >= p.threshold_ratio,
                    Method::Spike => {
                        i > 0
                            && (hot as f64) > p.threshold_ratio * ((prior_sum as f64) / (i as f64))
                    }
                };
            if anomalous {
                v.0 = true;
                v.1 = Some(d);
                v.2 += 1;
                if v.3.is_none() {
                    v.3 = Some(d);
                }
            }
            prior_sum += u64::from(hot);
        }
        out.insert(sub.to_owned(), v);
    }
    out
}

fn write_files(c: &Case, dir: &std::path::Path) -> Vec<String> {
    let mut texts =
        vec![
            String::from("event_time,subscriber,counterparty,direction,kind,duration_s\n");
            c.files
        ];
    for (i, e) in c.events.iter().enumerate() {
        let t = chrono::Utc
            .timestamp_millis_opt(e.ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = format!(
            "{t},{},{},{},{},\n",
            SUBS[e.sub],
            CPS[e.cp],
            if e.out { "out" } else { "in" },
            if e.sms { "sms" } else { "call" }
        );
        texts[i % c.files].push_str(&line);
    }
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = dir.join(format!("part-{i}.csv"));
            std::fs::write(&p, t).unwrap();
            p.to_string_lossy().into_owned()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scan_and_index_equal_the_naive_spec(c in arb_case()) {
        let dir = tempfile::tempdir().unwrap();
        let files = write_files(&c, dir.path());
        let want = naive(&c);
        let p = params(&c);
        let tz: chrono_tz::Tz = TZS[c.tz].parse().unwrap();
        let req = ScanRequest { raw: RawCheck {
            look_back_days: Some(i64::from(p.look_back_days)),
            method: Some(p.method),
            threshold_ratio: Some(p.threshold_ratio),
            hotzone: Some(Arc::clone(&p.hotzone)),
            check_type: Some(p.check_type),
            check_target: Some(p.check_target),
            min_events: Some(i64::from(p.min_events)),
            as_of: Some(p.as_of.to_string()),
        }, tz, ingest: IngestOptions::default(), explain: false };
        let got = scan(&files, &req, &|_, _| {}).unwrap();
        let got: Naive = got.rows.iter().map(|r| {
            let date = |d: Option<u16>| d.map(|i| got.window.as_ref().unwrap().date(usize::from(i)));
            (r.subscriber.to_string(), (r.verdict.detected(), date(r.verdict.last), r.verdict.anomalous_days, date(r.verdict.first)))
        }).collect();
        prop_assert_eq!(&got, &want);

        // The serving index, built from the same files, answers every known number the same.
        let (index, _) = ServingIndex::load(&files, &IngestOptions::default(), tz).unwrap();
        // The prepared form round-trips, and its batch scan equals the naive spec too.
        let prepared = dir.path().join("p.hzi");
        index.write(&prepared).unwrap();
        let index = ServingIndex::read(&prepared).unwrap();
        let window = hotzone::detect::Window::new(tz, p.as_of, p.look_back_days);
        let from_prepared: Naive = index.scan_all(&p, false).iter().map(|r| {
            let date = |d: Option<u16>| d.map(|i| window.date(usize::from(i)));
            (r.subscriber.to_string(), (r.verdict.detected(), date(r.verdict.last), r.verdict.anomalous_days, date(r.verdict.first)))
        }).collect();
        prop_assert_eq!(&from_prepared, &want);
        let snap = Snapshot::new(vec![Arc::new(index)]);
        for sub in SUBS {
            let n = Msisdn::parse_subscriber(sub).unwrap();
            let known = c.events.iter().any(|e| SUBS[e.sub] == *sub);
            match snap.check(n, &p) {
                Ok(v) => {
                    prop_assert!(known);
                    let (det, date) = want.get(*sub).map(|w| (w.0, w.1)).unwrap_or((false, None));
                    prop_assert_eq!((v.anomaly_detected, v.anomaly_date), (det, date), "{}", sub);
                }
                Err(hotzone::Error::NotFound) => prop_assert!(!known),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

#[test]
fn index_segments_add_up_like_one_index() {
    // The same events split over two segments answer like one segment.
    let c = Case {
        events: (0..40)
            .map(|i| Ev {
                sub: i % 2,
                ms: 1_773_100_000_000 + (i as i64) * 3_600_000,
                out: false,
                sms: false,
                cp: i % 3,
            })
            .collect(),
        files: 1,
        tz: 0,
        look_back: 5,
        spike: false,
        ratio: 0.3,
        min_events: 3,
        entries: vec![0, 1],
        check_type: 0,
        check_target: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(&c, dir.path());
    let tz = chrono_tz::UTC;
    let (whole, _) = ServingIndex::load(&files, &IngestOptions::default(), tz).unwrap();
    let p = params(&c);
    let mut i = hotzone::ingest::interpret::Interpreter::new(None);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let events: Vec<hotzone::ingest::Event> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let raw = hotzone::ingest::RawRow {
                time: Some(hotzone::ingest::interpret::TimeCell::Text(f[0])),
                subscriber: Some(f[1]),
                counterparty: Some(f[2]),
                direction: Some(f[3]),
                kind: Some(f[4]),
                duration: None,
                region: None,
                pre: Default::default(),
            };
            i.interpret(&raw).unwrap()
        })
        .collect();
    let (a, b) = events.split_at(17);
    let split = Snapshot::new(vec![
        Arc::new(ServingIndex::from_events(a, tz).unwrap()),
        Arc::new(ServingIndex::from_events(b, tz).unwrap()),
    ]);
    let one = Snapshot::new(vec![Arc::new(whole)]);
    let mut detected = 0;
    for sub in &SUBS[..2] {
        let n = Msisdn::parse_subscriber(sub).unwrap();
        let v = one.check(n, &p).unwrap();
        detected += usize::from(v.anomaly_detected);
        assert_eq!(split.check(n, &p).unwrap(), v);
    }
    assert!(detected > 0, "the case should exercise an anomaly");
    assert!(matches!(
        one.check(Msisdn::parse_subscriber("+886912345003").unwrap(), &p),
        Err(hotzone::Error::NotFound)
    ));
}
