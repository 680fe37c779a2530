//! Criterion micro-benches of the kernel (seeded synthetic events, throughput reported):
//! the scan's map (`Partial::add` + classification) and verdict, and one check against the
//! serving index (in process, no network). End-to-end comparisons live in `bench/`.

use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_main};

use hotzone::detect::classify::Classifier;
use hotzone::detect::rules::Rule;
use hotzone::detect::{Partial, Window};
use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::{Counterparty, Event};
use hotzone::model::check::{Limits, flavor};
use hotzone::model::{CheckParams, Hotzone, Method, Msisdn, RawCheck};

const SUBSCRIBERS: u64 = 20_000;
const EVENTS: usize = 1_000_000;
const DAY_MS: i64 = 86_400_000;

/// SplitMix64: a tiny seeded generator, so the bench has no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn events(last: NaiveDate) -> Vec<Event> {
    let mut rng = Rng(42);
    let end = last
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
        + DAY_MS;
    let foreign = [
        2_348_021_234_567u64,
        18_762_101_234,
        85_512_345_678,
        8_821_612_345_678,
    ];
    (0..EVENTS)
        .map(|_| {
            let r = rng.next();
            let sub = Msisdn::from_value(886_900_000_000 + r % SUBSCRIBERS).unwrap();
            let cp = match (r >> 20) % 100 {
                0..=2 => Counterparty::Unknown,
                3..=7 => Counterparty::Number(
                    Msisdn::from_value(foreign[((r >> 30) % 4) as usize]).unwrap(),
                ),
                _ => Counterparty::Number(
                    Msisdn::from_value(886_900_000_000 + (r >> 24) % 1_000_000).unwrap(),
                ),
            };
            Event {
                subscriber: sub,
                time_ms: end - 1 - ((r >> 8) % (30 * DAY_MS as u64)) as i64,
                flavor: flavor(r & 1 == 1, r & 2 == 2),
                counterparty: cp,
            }
        })
        .collect()
}

fn params(last: NaiveDate, method: Method, r: f64) -> CheckParams {
    let raw = RawCheck {
        look_back_days: Some(30),
        method: Some(method),
        threshold_ratio: Some(r),
        hotzone: Some(Arc::new(
            Hotzone::parse_list("hotzone", "NG,JM,KH,+882").unwrap(),
        )),
        ..RawCheck::default()
    };
    CheckParams::new(
        raw,
        Limits {
            max_look_back_days: 90,
            default_as_of: last,
        },
    )
    .unwrap()
}

fn kernel(c: &mut Criterion) {
    let last = NaiveDate::from_ymd_opt(2026, 10, 30).unwrap();
    let evs = events(last);
    let p = params(last, Method::Share, 0.5);
    let window = Window::new(chrono_tz::Asia::Taipei, last, 30);
    let mut g = c.benchmark_group("scan_map");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("classify+count 1M events", |b| {
        b.iter(|| {
            let mut cl = Classifier::new(&p.hotzone);
            let mut part = Partial::new(30);
            for e in &evs {
                if let Some(d) = window.day_of(e.time_ms) {
                    part.add(e.subscriber, d, cl.is_hot(&e.counterparty));
                }
            }
            part.subscribers()
        })
    });
    g.finish();

    let mut part = Partial::new(30);
    let mut cl = Classifier::new(&p.hotzone);
    for e in &evs {
        if let Some(d) = window.day_of(e.time_ms) {
            part.add(e.subscriber, d, cl.is_hot(&e.counterparty));
        }
    }
    let mut g = c.benchmark_group("verdict");
    g.throughput(Throughput::Elements(SUBSCRIBERS));
    for (name, method, r) in [("share", Method::Share, 0.5), ("spike", Method::Spike, 3.0)] {
        let rule = Rule {
            method,
            threshold_ratio: r,
            min_events: 3,
        };
        g.bench_function(name, |b| b.iter(|| part.verdicts(rule).len()));
    }
    g.finish();

    let snap = Snapshot::new(vec![Arc::new(ServingIndex::from_events(
        &evs,
        chrono_tz::Asia::Taipei,
    ))]);
    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("one check, 50 events/subscriber", |b| {
        b.iter(|| {
            i = (i + 7919) % SUBSCRIBERS;
            snap.check(Msisdn::from_value(886_900_000_000 + i).unwrap(), &p)
                .unwrap()
        })
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)]
    use super::kernel;
    criterion::criterion_group!(benches, kernel);
}

criterion_main!(group::benches);
