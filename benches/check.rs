//! Latency distribution of one in-process check (`Snapshot::check`, no network): each check
//! is timed on its own, so the report has real percentiles (p50/p99/p99.9/max), which
//! criterion's per-batch means in `benches/detect.rs` cannot give.
//!
//! `cargo bench --bench check` uses seeded synthetic data (1M events, 20k subscribers, 30
//! days). With `HOTZONE_BENCH_DATA=FILE` (a tier's events, or its prepared `.hzi`) and
//! `HOTZONE_BENCH_NUMBERS=FILE` (numbers to check, first CSV column, e.g. a scan's output) it
//! loads that file instead; `HOTZONE_BENCH_CHECKS` sets the number
//! of timed checks (default 1,000,000). Run without `--bench` (as `cargo test --benches`
//! does) it only does a quick smoke run. Prints one JSON line (nanoseconds).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;

use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::{Event, IngestOptions};
use hotzone::model::check::Limits;
use hotzone::model::{CheckParams, Hotzone, Method, Msisdn, RawCheck};

mod support;

use support::{SUBSCRIBERS, events, subscriber};

fn synthetic(last: NaiveDate) -> (Vec<Event>, Vec<Msisdn>) {
    (events(last), (0..SUBSCRIBERS).map(subscriber).collect())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let last = NaiveDate::from_ymd_opt(2026, 10, 30).unwrap();
    let tz = chrono_tz::Asia::Taipei;
    let (index, subs, source) = match std::env::var("HOTZONE_BENCH_DATA") {
        Ok(path) if full => {
            let index = if hotzone::index::persist::is_prepared(std::path::Path::new(&path)) {
                ServingIndex::read(std::path::Path::new(&path)).expect("reading HOTZONE_BENCH_DATA")
            } else {
                ServingIndex::load(std::slice::from_ref(&path), &IngestOptions::default(), tz)
                    .expect("loading HOTZONE_BENCH_DATA")
                    .0
            };
            let list = std::env::var("HOTZONE_BENCH_NUMBERS")
                .expect("HOTZONE_BENCH_NUMBERS: the numbers to check");
            let subs = read_numbers(&list, &index);
            assert!(!subs.is_empty(), "no known number in {list}");
            (index, subs, path)
        }
        _ => {
            let (events, subs) = synthetic(last);
            (
                ServingIndex::from_events(&events, tz).expect("synthetic events fit the layout"),
                subs,
                "synthetic".to_owned(),
            )
        }
    };
    let stats = index.stats();
    let snap = Snapshot::new(vec![Arc::new(index)]);
    let raw = RawCheck {
        look_back_days: Some(30),
        method: Some(Method::Share),
        threshold_ratio: Some(0.5),
        hotzone: Some(Arc::new(
            Hotzone::parse_list("hotzone", "+234,+1876,+855,+882").unwrap(),
        )),
        ..RawCheck::default()
    };
    let p = CheckParams::new(
        raw,
        Limits {
            max_look_back_days: 90,
            default_as_of: last,
        },
    )
    .unwrap();
    let n: usize = if full {
        std::env::var("HOTZONE_BENCH_CHECKS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000)
    } else {
        1_000
    };
    // Warm-up (caches the hotzone id ranges), then one timing per check in a scattered order.
    let mut k = 0usize;
    let mut anomalous = 0u64;
    for _ in 0..n.min(100_000) {
        k = (k + 7919) % subs.len();
        anomalous += u64::from(snap.check(subs[k], &p).unwrap().anomaly_detected);
    }
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        k = (k + 7919) % subs.len();
        let t0 = Instant::now();
        let v = snap.check(subs[k], &p).unwrap();
        lat.push(t0.elapsed().as_nanos() as u64);
        anomalous += u64::from(v.anomaly_detected);
    }
    let total = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    let q = |x: f64| lat[((x / 100.0) * (lat.len() - 1) as f64).round() as usize];
    println!(
        "{{\"bench\":\"check\",\"source\":{:?},\"events\":{},\"subscribers\":{},\"checks\":{},\"anomalous\":{},\"checks_per_s_1_thread\":{:.0},\"mean_ns\":{:.0},\"p50_ns\":{},\"p90_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{}}}",
        source,
        stats.events,
        stats.subscribers,
        n,
        anomalous,
        n as f64 / total,
        lat.iter().sum::<u64>() as f64 / n as f64,
        q(50.0),
        q(90.0),
        q(99.0),
        q(99.9),
        lat[lat.len() - 1]
    );
}

/// The numbers of the first CSV column of `path` that the index knows.
fn read_numbers(path: &str, index: &ServingIndex) -> Vec<Msisdn> {
    let text = std::fs::read_to_string(path).expect("reading HOTZONE_BENCH_NUMBERS");
    text.lines()
        .filter_map(|l| l.split(',').next())
        .filter_map(|s| Msisdn::parse_subscriber(s).ok())
        .filter(|m| index.contains(*m))
        .collect()
}
