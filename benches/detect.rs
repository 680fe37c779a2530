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

use hotzone::model::check::Limits;
use hotzone::model::{CheckParams, Hotzone, Method, Msisdn, RawCheck};

mod support;

use support::{EVENTS, SUBSCRIBERS, events};

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

    let snap = Snapshot::new(vec![Arc::new(
        ServingIndex::from_events(&evs, chrono_tz::Asia::Taipei)
            .expect("synthetic events fit the layout"),
    )]);
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
