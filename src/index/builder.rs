//! Events -> [`ServingIndex`], in parallel, in bounded memory (DECISIONS.md, "The index
//! build works in sorted runs with one shared counterparty interner"): the ingest workers
//! share one counterparty [`Interner`] and each sorts its rows into compact [`Run`]s every
//! [`rows_per_run`] rows; once the input is read the
//! interner becomes the sorted dictionary, the runs' ids are rewritten to dictionary ids in
//! place, and a k-way merge of the runs lays out the columns.

use std::time::Instant;

use chrono_tz::Tz;
use rayon::prelude::*;

use crate::detect::calendar::DayNumbers;
use crate::error::{Error, Result};
use crate::index::dictionary::{Dictionary, Key};
use crate::index::interner::Interner;
use crate::index::runs::{self, Row, Run, Scratch};
use crate::index::{DayColumn, Retention, ServingIndex};
use crate::ingest::{Counterparty, Event, EventSink, IngestOptions, IngestReport, ingest};
use crate::model::region::RegionTable;

/// Ids must fit in 30 bits next to the 2 flavor bits.
const MAX_IDS: usize = (1 << 30) - 1;
/// Mask of the id bits of a code.
const ID_BITS: u32 = (1 << 30) - 1;
/// Id of withheld/unknown counterparties while reading (remapped to the last id).
const UNKNOWN_LOCAL: u32 = ID_BITS;
/// Rows buffered before a sort into a run, over all workers (16 bytes each: 64 MiB).
const BUFFERED_ROWS: usize = 4 << 20;

/// Rows one worker buffers.
fn rows_per_run() -> usize {
    (BUFFERED_ROWS / rayon::current_num_threads().max(1)).max(1 << 16)
}

struct BuildSink<'a> {
    days: DayNumbers,
    dict: &'a Interner,
    rows: Vec<Row>,
    run_rows: usize,
    runs: Vec<Run>,
    scratch: Scratch,
    /// Rows whose counterparty's shard was busy: (row, key), interned before the next sort.
    pending: Vec<(usize, Key)>,
}

impl<'a> BuildSink<'a> {
    fn new(tz: Tz, dict: &'a Interner, run_rows: usize) -> BuildSink<'a> {
        BuildSink {
            days: DayNumbers::new(tz),
            dict,
            rows: Vec::new(),
            run_rows,
            runs: Vec::new(),
            scratch: Scratch::default(),
            pending: Vec::new(),
        }
    }

    /// Interns the keys left pending (waiting for their shards) into their rows' codes.
    fn resolve(&mut self) {
        for (row, key) in self.pending.drain(..) {
            self.rows[row].2 |= self.dict.intern(key);
        }
    }

    /// Sorts the buffered rows into a run.
    fn flush(&mut self) {
        self.resolve();
        self.runs
            .push(Run::from_rows(&mut self.rows, &mut self.scratch));
    }

    /// The runs, the last one from the rows still buffered.
    fn into_runs(mut self) -> Vec<Run> {
        if !self.rows.is_empty() {
            self.flush();
        }
        self.runs
    }
}

impl EventSink for BuildSink<'_> {
    fn event(&mut self, e: &Event) {
        let key = match e.counterparty {
            Counterparty::Unknown => None,
            Counterparty::Number(n) => Some((n, None)),
            Counterparty::NumberInRegion(n, r) => Some((n, Some(r))),
        };
        let id = match key {
            None => UNKNOWN_LOCAL,
            Some(k) => self.dict.try_intern(k).unwrap_or_else(|| {
                // The id is or-ed in later; until then the code holds the flavor only.
                self.pending.push((self.rows.len(), k));
                0
            }),
        };
        let day = self.days.day(e.time_ms);
        if self.rows.capacity() == 0 {
            self.rows.reserve_exact(self.run_rows);
        }
        self.rows
            .push((e.subscriber, day, (u32::from(e.flavor) << 30) | id));
        if self.rows.len() >= self.run_rows {
            self.flush();
        } else if self.pending.len() >= 4096 {
            self.resolve();
        }
    }
}

/// Reads files and builds.
pub(crate) fn load(
    inputs: &[String],
    opts: &IngestOptions,
    tz: Tz,
    retention: Option<Retention>,
) -> Result<(ServingIndex, IngestReport)> {
    let started = Instant::now();
    let dict = Interner::default();
    let run_rows = rows_per_run();
    let (sinks, report) = ingest(
        inputs,
        opts,
        || {
            // Each reading interns its own counterparties (one started again may have met
            // cells that are not the file's).
            dict.reset();
            || BuildSink::new(tz, &dict, run_rows)
        },
        &|_, _| {},
    )?;
    // Every key in before the tables go (a pending key needs its shard's table).
    let mut sinks = sinks;
    sinks.par_iter_mut().for_each(BuildSink::resolve);
    dict.close();
    let runs = into_runs(sinks);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        runs = runs.len(),
        run_bytes = runs.iter().map(Run::bytes).sum::<usize>(),
        "index input read"
    );
    let index = build(runs, dict, tz, retention)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "index built");
    Ok((index, report))
}

/// The sinks' runs (their last runs sorted in parallel).
fn into_runs(sinks: Vec<BuildSink<'_>>) -> Vec<Run> {
    sinks
        .into_par_iter()
        .map(BuildSink::into_runs)
        .collect::<Vec<_>>()
        .into_iter()
        .flatten()
        .collect()
}

/// Builds from in-memory events. A build error (a layout limit) is returned, never turned
/// into an index that silently lacks the events.
pub(crate) fn from_events(events: &[Event], tz: Tz) -> Result<ServingIndex> {
    from_events_in_runs(events, tz, 1, rows_per_run().min(events.len()))
}

/// [`from_events`] with the events dealt to `workers` sinks in turn, each sorting a run every
/// `run_rows` rows (small values exercise the merge in tests).
fn from_events_in_runs(
    events: &[Event],
    tz: Tz,
    workers: usize,
    run_rows: usize,
) -> Result<ServingIndex> {
    from_events_retained(events, tz, workers, run_rows, None)
}

/// [`from_events_in_runs`] with a retention.
fn from_events_retained(
    events: &[Event],
    tz: Tz,
    workers: usize,
    run_rows: usize,
    retention_days: Option<u16>,
) -> Result<ServingIndex> {
    let dict = Interner::default();
    let mut sinks: Vec<BuildSink<'_>> = (0..workers.max(1))
        .map(|_| BuildSink::new(tz, &dict, run_rows.max(1)))
        .collect();
    let n = sinks.len();
    for (i, e) in events.iter().enumerate() {
        sinks[i % n].event(e);
    }
    let runs = into_runs(sinks);
    let retention = retention_days.map(|days| Retention {
        days,
        today: crate::clock::today(tz),
    });
    build(runs, dict, tz, retention)
}

/// An index with no data.
pub(crate) fn empty(tz: Tz) -> ServingIndex {
    ServingIndex::from_parts(
        tz,
        0,
        Vec::new(),
        vec![0],
        DayColumn::Narrow(Vec::new()),
        Vec::new(),
        Dictionary::default(),
    )
}

/// The day retention counts back from, of the data's `days` (day numbers, any order): the
/// latest one no later than `today` (a day number), else (every day ahead) today, so
/// that a check as of today is never refused for days ahead (`None` for no days).
/// One record dated far ahead (an `Ingest` of a 2099 row, inside the accepted range) would
/// otherwise push every real day out of the window at the next build (an adversarial pass),
/// and one dated tomorrow (a switch writing local time as `Z`) would refuse every check as of
/// today at the largest look-back (a review: the window started a day before the first day
/// kept); days after the anchor are kept all the same. On data that is not ahead of the clock
/// this is the latest day, as before.
fn retention_anchor(days: impl Iterator<Item = i32> + Clone, today: i32) -> Option<i32> {
    days.clone().next()?;
    Some(days.filter(|d| *d <= today).max().unwrap_or(today))
}

/// Builds the layout. With a retention, only the days within its `days` of the latest day in
/// the data are kept (older days leave memory): the latest day no later than its `today`
/// ([`retention_anchor`]).
///
/// Memory: the runs stay until the columns are laid out; the interner's tables are freed
/// before its keys are merged, and the id map before the columns are allocated.
fn build(
    mut runs: Vec<Run>,
    dict: Interner,
    tz: Tz,
    retention: Option<Retention>,
) -> Result<ServingIndex> {
    let too_many = |n: usize| {
        Error::Internal(format!(
            "{n} distinct counterparties exceed the index's id space"
        ))
    };
    if dict.overflowed() {
        return Err(too_many(MAX_IDS));
    }
    // Events per day over all runs: the retention cut-off, the base day and the width of the
    // day column are known before the layout.
    let mut per_day: Vec<(i32, u64)> = runs
        .iter()
        .flat_map(|r| r.day_counts.iter().copied())
        .collect();
    per_day.sort_unstable();
    let cutoff = retention.and_then(|r| {
        let today = crate::detect::calendar::day_number(r.today);
        let anchor = retention_anchor(per_day.iter().map(|d| d.0), today)?;
        Some(anchor - i32::from(r.days.max(1)) + 1)
    });
    let kept = per_day.iter().filter(|d| d.0 >= cutoff.unwrap_or(i32::MIN));
    let events: u64 = kept.clone().map(|d| d.1).sum();
    let base_day = kept.clone().map(|d| d.0).min().unwrap_or(0);
    let max_day = kept.map(|d| d.0).max().unwrap_or(0);
    let finished = dict.finish(|n| RegionTable::get().region_of(n));
    if finished.dict.len() >= MAX_IDS {
        return Err(too_many(finished.dict.len()));
    }
    let unknown_id = finished.dict.len() as u32;
    tracing::debug!(counterparties = unknown_id, "index dictionary built");
    runs.par_iter_mut().for_each(|run| {
        for c in &mut run.codes {
            let id = *c & ID_BITS;
            let gid = if id == UNKNOWN_LOCAL {
                unknown_id
            } else {
                finished.global(id)
            };
            *c = (*c & !ID_BITS) | gid;
        }
    });
    let dict = finished.into_dictionary();
    if events == 0 {
        let mut e = empty(tz);
        e.dict = dict;
        return Ok(e);
    }
    // Unreachable for rows that went through the interpreter: accepted instants lie in
    // `ingest::interpret::EVENT_TIME_RANGE`, 47 482 days, so their local days always fit
    // the u16 day offsets. Kept as a guard against a new producer of events that skips it.
    if i64::from(max_day) - i64::from(base_day) > i64::from(u16::MAX) {
        return Err(Error::Internal(
            "events outside the accepted event_time range reached the index".into(),
        ));
    }
    let narrow = max_day - base_day <= i32::from(u8::MAX);
    let cols = runs::merge(
        &runs,
        cutoff.unwrap_or(i32::MIN),
        base_day,
        events as usize,
        narrow,
    )?;
    drop(runs);
    let mut index = ServingIndex::from_parts(
        tz,
        base_day,
        cols.subs,
        cols.sub_start,
        cols.days,
        cols.codes,
        dict,
    );
    index.kept_from = cutoff;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexStats;
    use crate::index::dictionary::{merge_local, order_key};
    use crate::model::phone::Msisdn;
    use crate::model::region::Region;
    use proptest::prelude::*;

    fn key_of(e: &Event) -> Option<Key> {
        match e.counterparty {
            Counterparty::Unknown => None,
            Counterparty::Number(n) => Some((n, None)),
            Counterparty::NumberInRegion(n, r) => Some((n, Some(r))),
        }
    }

    /// The build as it was before runs: every row in memory, one sort.
    fn reference(events: &[Event], tz: Tz, retention_days: Option<u16>) -> ServingIndex {
        let all: Vec<Key> = events.iter().filter_map(key_of).collect();
        let (sorted, _) = merge_local(&[&all]);
        let table = RegionTable::get();
        let dict = Dictionary::from_sorted(&sorted, |n| table.region_of(n));
        let order: Vec<u128> = sorted.iter().map(order_key).collect();
        let mut days = DayNumbers::new(tz);
        let mut rows: Vec<(Msisdn, i32, u32)> = (events.iter())
            .map(|e| {
                let id = key_of(e).map_or(sorted.len() as u32, |k| {
                    order.binary_search(&order_key(&k)).unwrap() as u32
                });
                (
                    e.subscriber,
                    days.day(e.time_ms),
                    (u32::from(e.flavor) << 30) | id,
                )
            })
            .collect();
        let today = crate::detect::calendar::day_number(crate::clock::today(tz));
        let anchor = retention_anchor(rows.iter().map(|r| r.1), today);
        if let (Some(keep), Some(anchor)) = (retention_days, anchor) {
            rows.retain(|r| r.1 > anchor - i32::from(keep.max(1)));
        }
        if rows.is_empty() {
            let mut e = empty(tz);
            e.dict = dict;
            return e;
        }
        rows.sort_unstable();
        let base = rows.iter().map(|r| r.1).min().unwrap();
        let mut subs = Vec::new();
        let mut starts = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if subs.last() != Some(&r.0) {
                subs.push(r.0);
                starts.push(i as u64);
            }
        }
        starts.push(rows.len() as u64);
        let offsets = rows.iter().map(|r| (r.1 - base) as u16).collect();
        let codes = rows.iter().map(|r| r.2).collect();
        ServingIndex::from_parts(
            tz,
            base,
            subs,
            starts,
            DayColumn::from_offsets(offsets),
            codes,
            dict,
        )
    }

    /// Everything a segment stores, comparable.
    fn layout(s: &ServingIndex) -> impl PartialEq + std::fmt::Debug + use<> {
        let days: Vec<u16> = match &s.days {
            DayColumn::Narrow(d) => d.iter().map(|&x| u16::from(x)).collect(),
            DayColumn::Wide(d) => d.clone(),
        };
        let p = s.dict.parts();
        (
            (s.base_day, s.subs.clone(), s.sub_start.clone()),
            (
                matches!(s.days, DayColumn::Narrow(_)),
                days,
                s.codes.clone(),
            ),
            (p.groups.to_vec(), p.low.to_vec(), p.runs.to_vec()),
            IndexStats {
                bytes: 0,
                ..s.stats()
            },
        )
    }

    /// Events over a few subscribers and counterparties (repeats, region overrides, withheld
    /// numbers, several countries), on days spread over `span` days.
    fn events(seed: u64, n: usize, span: i64) -> Vec<Event> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let prefixes = [
            2_348_021_000_000u64,
            18_765_550_000,
            8_551_200_000,
            88_216_000,
            12_125_550_000,
            44_207_000_000,
        ];
        (0..n)
            .map(|_| {
                let sub = Msisdn::from_value(886_912_000_000 + next() % 40).unwrap();
                let cp = Msisdn::from_value(prefixes[(next() % 6) as usize] + next() % 97).unwrap();
                let counterparty = match next() % 10 {
                    0 => Counterparty::Unknown,
                    1 => Counterparty::NumberInRegion(cp, Region::parse("NG").unwrap()),
                    _ => Counterparty::Number(cp),
                };
                Event {
                    subscriber: sub,
                    time_ms: 1_773_100_800_000
                        + (next() % span as u64) as i64 * 86_400_000
                        + (next() % 86_400_000) as i64,
                    flavor: (next() % 4) as u8,
                    counterparty,
                }
            })
            .collect()
    }

    #[test]
    fn retention_counts_back_from_the_latest_day_not_ahead_of_the_clock() {
        let today = 20_000;
        // Historical data and one stray row in 2099: the historical day anchors.
        let march = today - 270;
        let stray = today + 26_000;
        assert_eq!(
            retention_anchor([march, stray, march - 3].into_iter(), today),
            Some(march)
        );
        // A row dated tomorrow does not move it (the largest look-back as of today stays
        // within the days kept).
        assert_eq!(
            retention_anchor([today - 3, today + 1, today].into_iter(), today),
            Some(today)
        );
        // Every day ahead: today (every day ahead is kept, and a check as of today is
        // answered).
        assert_eq!(
            retention_anchor([stray, stray - 5].into_iter(), today),
            Some(today)
        );
        assert_eq!(retention_anchor(std::iter::empty(), today), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn runs_build_the_same_layout_as_one_sort(
            seed in any::<u64>(),
            n in 0usize..600,
            wide in any::<bool>(),
            workers in 1usize..4,
            run_rows in 1usize..80,
            retention in proptest::option::of(1u16..40),
        ) {
            let span = if wide { 400 } else { 35 };
            let ev = events(seed, n, span);
            let tz = Tz::Asia__Taipei;
            let got = from_events_retained(&ev, tz, workers, run_rows, retention).unwrap();
            let want = reference(&ev, tz, retention);
            prop_assert_eq!(layout(&got), layout(&want));
        }
    }

    #[test]
    fn rows_whose_shard_is_busy_get_their_ids_before_the_sort() {
        let ev = events(11, 3000, 40);
        let tz = Tz::UTC;
        let dict = Interner::default();
        let mut sink = BuildSink::new(tz, &dict, 1 << 20);
        let held = dict.hold_even_shards();
        for e in &ev {
            sink.event(e);
        }
        assert!(sink.pending.len() > 100, "{}", sink.pending.len());
        drop(held);
        let runs = sink.into_runs();
        let got = build(runs, dict, tz, None).unwrap();
        assert_eq!(layout(&got), layout(&reference(&ev, tz, None)));
    }

    #[test]
    fn the_layout_does_not_depend_on_workers_runs_or_order() {
        let mut ev = events(7, 5000, 60);
        let tz = Tz::UTC;
        let want = layout(&reference(&ev, tz, None));
        for (workers, run_rows) in [(1, 1 << 20), (3, 7), (2, 500), (8, 1)] {
            assert_eq!(
                layout(&from_events_in_runs(&ev, tz, workers, run_rows).unwrap()),
                want
            );
            ev.reverse();
        }
    }
}
