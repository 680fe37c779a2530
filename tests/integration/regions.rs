//! Region hotzones through the scan and the serving index: numbers of shared calling codes
//! (+1, +7, +44, …, classified by the compiled patterns of `model::region`) are hot exactly
//! when the `phonenumber` crate's own parse, `is_valid` and metadata put them in a region of
//! the hotzone (REFERENCE.md §2.3).

use std::sync::Arc;

use proptest::prelude::*;

use hotzone::index::ServingIndex;
use hotzone::ingest::IngestOptions;
use hotzone::model::check::Limits;
use hotzone::model::{CheckParams, Hotzone, RawCheck};
use hotzone::scan::{ScanRequest, scan};

/// Shared calling codes and the regions that share them.
const CODES: &[(&str, &[&str])] = &[
    (
        "1",
        &["US", "CA", "JM", "BS", "DO", "PR", "AG", "TT", "GU", "VI"],
    ),
    ("7", &["RU", "KZ"]),
    ("44", &["GB", "GG", "IM", "JE"]),
    ("262", &["RE", "YT"]),
    ("590", &["GP", "BL", "MF"]),
    ("599", &["CW", "BQ"]),
    ("47", &["NO", "SJ"]),
    ("61", &["AU", "CC", "CX"]),
    ("39", &["IT", "VA"]),
    ("290", &["SH", "TA"]),
];

/// The crate's answer: its parse, `is_valid` and metadata; the main region of the calling
/// code for a number it does not parse or finds invalid.
fn crate_region(number: &str) -> Option<String> {
    let db = &*phonenumber::metadata::DATABASE;
    let digits = &number[1..];
    let code = (1..=3).filter(|&k| k < digits.len()).find_map(|k| {
        db.region(&digits[..k].parse::<u16>().ok()?)
            .map(|r| r[0].to_owned())
    });
    let region = match phonenumber::parse(None, number) {
        Ok(n) if phonenumber::is_valid(&n) => n.metadata(db).map(|m| m.id().to_owned()).or(code),
        _ => code,
    };
    region.filter(|r| r != "001")
}

#[derive(Clone, Debug)]
struct Case {
    counterparties: Vec<String>,
    hot_regions: Vec<&'static str>,
}

fn arb_number() -> impl Strategy<Value = String> {
    (
        0..CODES.len(),
        prop::collection::vec(0u8..10, 4..=12),
        prop::sample::select(vec![
            "", "", "", "876", "8", "0", "1", "7781", "1481", "639",
        ]),
    )
        .prop_map(|(c, digits, lead)| {
            let code = CODES[c].0;
            let mut n = format!("+{code}{lead}");
            for d in digits {
                if n.len() > 15 {
                    break;
                }
                n.push(char::from(b'0' + d));
            }
            n
        })
}

fn arb_case() -> impl Strategy<Value = Case> {
    let regions: Vec<&'static str> = CODES.iter().flat_map(|c| c.1.iter().copied()).collect();
    (
        prop::collection::vec(arb_number(), 1..80),
        prop::collection::btree_set(prop::sample::select(regions), 1..6),
    )
        .prop_map(|(counterparties, hot)| Case {
            counterparties,
            hot_regions: hot.into_iter().collect(),
        })
}

fn raw(c: &Case) -> RawCheck {
    RawCheck {
        look_back_days: Some(1),
        // SHARE at 1.0 with one event per subscriber: anomalous exactly when that event is hot.
        threshold_ratio: Some(1.0),
        hotzone: Some(Arc::new(
            Hotzone::parse_items("hotzone", &c.hot_regions).unwrap(),
        )),
        min_events: Some(1),
        as_of: Some("2026-03-10".into()),
        ..RawCheck::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn region_hotzones_equal_the_crate_through_scan_and_index(c in arb_case()) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("event_time,subscriber,counterparty,direction,kind\n");
        let mut want = Vec::new();
        for (i, cp) in c.counterparties.iter().enumerate() {
            let sub = format!("+88691{:06}", i);
            text.push_str(&format!("2026-03-10T08:00:00Z,{sub},{cp},out,call\n"));
            let hot = crate_region(cp).is_some_and(|r| c.hot_regions.contains(&r.as_str()));
            want.push((sub, hot));
        }
        let path = dir.path().join("e.csv");
        std::fs::write(&path, text).unwrap();
        let files = [path.to_string_lossy().into_owned()];

        let req = ScanRequest {
            raw: raw(&c),
            tz: chrono_tz::UTC,
            ingest: IngestOptions::default(),
            explain: false,
        };
        let out = scan(&files, &req, &|_, _| {}).unwrap();
        let got: Vec<(String, bool)> = out
            .rows
            .iter()
            .map(|r| (r.subscriber.to_string(), r.verdict.detected()))
            .collect();
        prop_assert_eq!(&got, &want);

        // The index resolves regions once per dictionary entry: same answers.
        let (index, _) = ServingIndex::load(&files, &IngestOptions::default(), chrono_tz::UTC).unwrap();
        let limits = Limits {
            max_look_back_days: 90,
            default_as_of: chrono::NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
        };
        let params = CheckParams::new(raw(&c), limits).unwrap();
        let from_index: Vec<(String, bool)> = index
            .scan_all(&params, false)
            .iter()
            .map(|r| (r.subscriber.to_string(), r.verdict.detected()))
            .collect();
        prop_assert_eq!(&from_index, &want);
    }
}
