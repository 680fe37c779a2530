//! Region hotzones through the scan and the serving index: numbers of shared calling codes
//! (+1, +7, +39, +44, …, classified by the compiled patterns of `model::region`) are hot
//! exactly when libphonenumber puts them in a region of the hotzone (REFERENCE.md §2.3): the
//! numbers and their regions are those of the kernel's fixture, python `phonenumbers`'
//! answers for numbers of every shared calling code (`region_expected.py`).

use std::sync::Arc;

use proptest::prelude::*;

use hotzone::index::ServingIndex;
use hotzone::ingest::IngestOptions;
use hotzone::model::check::Limits;
use hotzone::model::{CheckParams, Hotzone, RawCheck};
use hotzone::scan::{ScanRequest, scan};

/// Numbers (E.164 digits) of shared calling codes and libphonenumber's region for each.
fn fixture() -> &'static [(String, String)] {
    static NUMBERS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    NUMBERS.get_or_init(|| {
        include_str!("../../crates/kernel/src/model/region.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (n, r) = l.split_once('\t').expect("number<TAB>region");
                (format!("+{n}"), r.to_owned())
            })
            .collect()
    })
}

#[derive(Clone, Debug)]
struct Case {
    /// Indices into [`fixture`].
    counterparties: Vec<usize>,
    hot_regions: Vec<String>,
}

/// A number of the fixture; often one outside its code's main region (they are few).
fn arb_number() -> impl Strategy<Value = usize> {
    let numbers = fixture();
    let not_main: Vec<usize> = (0..numbers.len())
        .filter(|&i| {
            ![
                "US", "RU", "IT", "GB", "NO", "AU", "MA", "RE", "SH", "FI", "GP", "CW",
            ]
            .contains(&numbers[i].1.as_str())
        })
        .collect();
    prop_oneof![0..numbers.len(), prop::sample::select(not_main)]
}

fn arb_case() -> impl Strategy<Value = Case> {
    let mut regions: Vec<String> = fixture().iter().map(|(_, r)| r.clone()).collect();
    regions.sort();
    regions.dedup();
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
    fn region_hotzones_equal_libphonenumber_through_scan_and_index(c in arb_case()) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("event_time,subscriber,counterparty,direction,kind\n");
        let mut want = Vec::new();
        for (i, &k) in c.counterparties.iter().enumerate() {
            let (cp, region) = &fixture()[k];
            let sub = format!("+88691{:06}", i);
            text.push_str(&format!("2026-03-10T08:00:00Z,{sub},{cp},out,call\n"));
            want.push((sub, c.hot_regions.contains(region)));
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
