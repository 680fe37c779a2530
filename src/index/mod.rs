//! The serving index: answers any check (any hotzone, selection, window) for one number in
//! microseconds, from a compact per-subscriber layout. Read-only once built.
//!
//! Layout (DECISIONS.md, "The serving index"): the distinct counterparties form a **dictionary** sorted by their
//! number's digit string (so every E.164 prefix is a contiguous id range), each with its
//! region resolved once at build. Per subscriber, events are sorted by local day; each event
//! is a day offset (`u8`, or `u16` when a segment spans more than 256 days) and a code (`u32`:
//! 2 flavor bits + 30-bit dictionary id): 5 bytes. A check turns its hotzone into a few
//! sorted ranges of dictionary ids (a prefix is one range, a region a few runs; cached per
//! distinct hotzone), then makes one pass over the subscriber's events in W: no hashing, no
//! allocation, and no memory touched outside the subscriber's own bytes and those ranges.
//!
//! A [`Snapshot`] is a list of segments (a base built from the data directory plus small
//! segments from ingested batches); a check adds the day counts of every segment, then calls
//! [`crate::detect::rules::evaluate`], the same rules the scan uses.

mod builder;
pub mod dictionary;
mod interner;
mod lookup;
pub mod persist;
mod runs;

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::detect::calendar::{date_of_day_number, same_days};
use crate::detect::rules::{DayCounts, Rule, ScanRow, evaluate};
use crate::error::{Error, Result};
use crate::ingest::{Event, IngestOptions, IngestReport};
use crate::model::{CheckParams, Msisdn};

pub use dictionary::Dictionary;

/// The days a serving index keeps in memory: `days` days ending with the latest day in the
/// data no later than `today` (every day after it is kept too, so that a row dated ahead of
/// the clock cannot push the real days out), or ending with `today` when every day is ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Days kept, at least 1.
    pub days: u16,
    /// Today in the index's zone, by the clock of whoever builds it.
    pub today: NaiveDate,
}

/// Sizes of an index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Distinct subscribers.
    pub subscribers: u64,
    /// Stored events.
    pub events: u64,
    /// Distinct counterparties (dictionary entries).
    pub counterparties: u64,
    /// Heap bytes of the layout (excluding hotzone bitmap caches).
    pub bytes: u64,
}

impl IndexStats {
    fn add(&mut self, o: IndexStats) {
        self.subscribers += o.subscribers;
        self.events += o.events;
        self.counterparties += o.counterparties;
        self.bytes += o.bytes;
    }
}

/// What a check answers: two facts only (REFERENCE.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckVerdict {
    /// At least one anomalous day in W.
    pub anomaly_detected: bool,
    /// The latest anomalous day.
    pub anomaly_date: Option<NaiveDate>,
}

/// Day offsets from a segment's base day: one byte each when the segment spans at most 256
/// days (any retention up to that), two bytes otherwise.
pub(crate) enum DayColumn {
    /// Offsets below 256.
    Narrow(Vec<u8>),
    /// Any offset.
    Wide(Vec<u16>),
}

impl DayColumn {
    /// The narrowest column that holds `offsets` (the build decides the width before laying
    /// out the days; the tests' reference build uses this).
    #[cfg(test)]
    fn from_offsets(offsets: Vec<u16>) -> DayColumn {
        use rayon::prelude::*;
        if offsets.par_iter().all(|&d| d <= u16::from(u8::MAX)) {
            DayColumn::Narrow(offsets.par_iter().map(|&d| d as u8).collect())
        } else {
            DayColumn::Wide(offsets)
        }
    }

    fn len(&self) -> usize {
        match self {
            DayColumn::Narrow(v) => v.len(),
            DayColumn::Wide(v) => v.len(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            DayColumn::Narrow(v) => v.capacity(),
            DayColumn::Wide(v) => v.capacity() * 2,
        }
    }

    fn max(&self) -> Option<u16> {
        use rayon::prelude::*;
        match self {
            DayColumn::Narrow(v) => v.par_iter().max().map(|&d| u16::from(d)),
            DayColumn::Wide(v) => v.par_iter().max().copied(),
        }
    }
}

/// Sampling step of [`ServingIndex`]'s first-level subscriber array.
const SUB_SAMPLE: usize = 64;

/// The first level of the subscriber lookup.
fn sample(subs: &[Msisdn]) -> Vec<Msisdn> {
    subs.iter().step_by(SUB_SAMPLE).copied().collect()
}

/// One immutable segment.
pub struct ServingIndex {
    tz: Tz,
    /// Local day number of day offset 0.
    base_day: i32,
    /// Sorted subscribers.
    subs: Vec<Msisdn>,
    /// Every [`SUB_SAMPLE`]-th subscriber: a small, cache-resident first level for lookups,
    /// so finding a number touches a few cache lines instead of ~20 for a plain binary search.
    sub_sample: Vec<Msisdn>,
    /// `events[sub_start[i]..sub_start[i+1]]` are subscriber i's events.
    sub_start: Vec<u64>,
    /// Day offset from `base_day`, sorted within a subscriber.
    days: DayColumn,
    /// The largest day offset (none without events).
    latest: Option<u16>,
    /// `flavor << 30 | counterparty id`.
    codes: Vec<u32>,
    dict: Dictionary,
    hot_cache: lookup::HotCache,
    /// With a retention, the local day number of the first day it keeps (the builder's
    /// cut-off: days before it left, or would have); `None` without one.
    kept_from: Option<i32>,
}

impl ServingIndex {
    /// Assembles a segment from its columns (the builder and the prepared-form reader).
    fn from_parts(
        tz: Tz,
        base_day: i32,
        subs: Vec<Msisdn>,
        sub_start: Vec<u64>,
        days: DayColumn,
        codes: Vec<u32>,
        dict: Dictionary,
    ) -> ServingIndex {
        ServingIndex {
            tz,
            base_day,
            sub_sample: sample(&subs),
            subs,
            sub_start,
            latest: days.max(),
            days,
            codes,
            dict,
            hot_cache: lookup::HotCache::default(),
            kept_from: None,
        }
    }

    /// With a retention, the first day it keeps (the builder's cut-off), else `None`.
    pub fn kept_from(&self) -> Option<NaiveDate> {
        self.kept_from.map(date_of_day_number)
    }

    /// Builds from files with the same readers as the scan.
    pub fn load(
        inputs: &[String],
        opts: &IngestOptions,
        tz: Tz,
    ) -> Result<(ServingIndex, IngestReport)> {
        builder::load(inputs, opts, tz, None)
    }

    /// Like [`ServingIndex::load`], keeping only the days `retention` keeps: older days
    /// leave memory.
    pub fn load_retained(
        inputs: &[String],
        opts: &IngestOptions,
        tz: Tz,
        retention: Option<Retention>,
    ) -> Result<(ServingIndex, IngestReport)> {
        builder::load(inputs, opts, tz, retention)
    }

    /// Builds from events in memory; fails only when the events exceed a layout limit.
    pub fn from_events(events: &[Event], tz: Tz) -> Result<ServingIndex> {
        builder::from_events(events, tz)
    }

    /// An index with no data.
    pub fn empty(tz: Tz) -> ServingIndex {
        builder::empty(tz)
    }

    /// The engine zone the days were computed in.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The subscribers with events in this segment, sorted.
    pub fn subscribers(&self) -> &[Msisdn] {
        &self.subs
    }

    /// Whether the number has any event in this segment.
    pub fn contains(&self, sub: Msisdn) -> bool {
        self.position(sub).is_some()
    }

    /// Position of a subscriber in `subs`: the sampled level first, then one block.
    #[inline]
    fn position(&self, sub: Msisdn) -> Option<usize> {
        let block = self
            .sub_sample
            .partition_point(|s| *s <= sub)
            .checked_sub(1)?;
        let start = block * SUB_SAMPLE;
        let end = (start + SUB_SAMPLE).min(self.subs.len());
        self.subs[start..end]
            .binary_search(&sub)
            .ok()
            .map(|i| start + i)
    }

    /// Sizes.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            subscribers: self.subs.len() as u64,
            events: self.codes.len() as u64,
            counterparties: self.dict.len() as u64,
            bytes: (self.subs.capacity() * 8
                + self.sub_sample.capacity() * 8
                + self.sub_start.capacity() * 8
                + self.days.bytes()
                + self.codes.capacity() * 4
                + self.dict.bytes()) as u64,
        }
    }

    /// Stored events whose counterparty is withheld or not a number.
    pub fn unknown_counterparty_events(&self) -> u64 {
        let unknown = self.dict.len() as u32;
        self.codes
            .iter()
            .filter(|c| *c & ((1 << 30) - 1) == unknown)
            .count() as u64
    }

    /// Whether a scan or check in zone `tz` reads this index's days as they were prepared:
    /// `tz` is its zone, or one that starts each of its days, the first to the latest, at
    /// the same instant (`calendar::same_days`: an alias such as `Etc/UTC` for `UTC`, or
    /// `Asia/Calcutta` for `Asia/Kolkata`), so that each event has the day it would have in
    /// `tz`. Any other zone would need the events' instants, which the index does not keep.
    /// An index without events reads alike in every zone.
    pub fn reads_in(&self, tz: Tz) -> bool {
        self.latest.is_none_or(|latest| {
            let first = date_of_day_number(self.base_day);
            let last = date_of_day_number(self.base_day + i32::from(latest));
            same_days(self.tz, tz, first, last)
        })
    }

    /// The latest local day with an event.
    pub fn latest_day(&self) -> Option<NaiveDate> {
        self.latest
            .map(|d| date_of_day_number(self.base_day + i32::from(d)))
    }

    /// Writes the prepared form (see [`persist`]).
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        persist::write(self, path)
    }

    /// Reads a prepared form written by [`ServingIndex::write`].
    pub fn read(path: &std::path::Path) -> Result<ServingIndex> {
        persist::read(path)
    }

    /// The batch scan over this segment: REFERENCE.md §5 for every subscriber with a selected event
    /// in W, sorted by subscriber (as text), in parallel; with `explain`, the dense day counts too.
    /// Same rules as [`Snapshot::check`].
    pub fn scan_all(&self, p: &CheckParams, explain: bool) -> Vec<ScanRow> {
        use rayon::prelude::*;
        let rule = Rule::of(p);
        let days = usize::from(p.look_back_days);
        let hot = lookup::hot_ranges(self, &p.hotzone);
        let mut rows: Vec<ScanRow> = (0..self.subs.len())
            .into_par_iter()
            .with_min_len(1024)
            .filter_map(|i| {
                let mut counts =
                    [DayCounts::default(); crate::model::check::MAX_LOOK_BACK_DAYS as usize];
                let counts = &mut counts[..days];
                lookup::accumulate_slot(self, i, p, &hot, counts);
                counts.iter().any(|c| c.total > 0).then(|| ScanRow {
                    subscriber: self.subs[i],
                    verdict: crate::detect::partial::verdict_of(counts, rule),
                    days: explain.then(|| counts.to_vec()),
                })
            })
            .collect();
        crate::detect::rules::sort_as_text(&mut rows);
        rows
    }

    /// Adds this segment's counts for `sub` over W into `out` (one entry per day of W).
    /// Returns whether the segment knows the number.
    pub fn accumulate(&self, sub: Msisdn, p: &CheckParams, out: &mut [DayCounts]) -> bool {
        lookup::accumulate(self, sub, p, out)
    }
}

/// Segments answering checks together; cheap to clone.
#[derive(Clone, Default)]
pub struct Snapshot {
    segments: Vec<Arc<ServingIndex>>,
}

impl Snapshot {
    /// From segments.
    pub fn new(segments: Vec<Arc<ServingIndex>>) -> Snapshot {
        Snapshot { segments }
    }

    /// A new snapshot with one more segment.
    pub fn with_segment(&self, seg: Arc<ServingIndex>) -> Snapshot {
        let mut segments = self.segments.clone();
        segments.push(seg);
        Snapshot { segments }
    }

    /// The segments.
    pub fn segments(&self) -> &[Arc<ServingIndex>] {
        &self.segments
    }

    /// The first day a retention keeps, the latest of the segments' (the base's: ingested
    /// segments keep every day); `None` without retention.
    pub fn kept_from(&self) -> Option<NaiveDate> {
        self.segments.iter().filter_map(|s| s.kept_from()).max()
    }

    /// Summed sizes (a subscriber in several segments counts in each).
    pub fn stats(&self) -> IndexStats {
        let mut s = IndexStats::default();
        for seg in &self.segments {
            s.add(seg.stats());
        }
        s
    }

    /// REFERENCE.md §5 for one number; `Error::NotFound` when no segment knows it.
    pub fn check(&self, sub: Msisdn, p: &CheckParams) -> Result<CheckVerdict> {
        let mut counts = [DayCounts::default(); crate::model::check::MAX_LOOK_BACK_DAYS as usize];
        let days = &mut counts[..usize::from(p.look_back_days)];
        let mut found = false;
        for seg in &self.segments {
            found |= seg.accumulate(sub, p, days);
        }
        if !found {
            return Err(Error::NotFound);
        }
        let v = evaluate(
            days.iter()
                .enumerate()
                .filter(|(_, c)| c.total > 0)
                .map(|(d, c)| (d as u16, *c)),
            Rule::of(p),
        );
        Ok(CheckVerdict {
            anomaly_detected: v.detected(),
            anomaly_date: v
                .last
                .map(|d| p.first_day() + chrono::Days::new(u64::from(d))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Counterparty, Event};
    use crate::model::check::{Limits, flavor};
    use crate::model::{Hotzone, RawCheck};

    fn ev(day: i64, cp: u64) -> Event {
        Event {
            subscriber: Msisdn::from_value(886_912_345_001).unwrap(),
            time_ms: 1_773_100_800_000 + day * 86_400_000,
            flavor: flavor(false, false),
            counterparty: Counterparty::Number(Msisdn::from_value(cp).unwrap()),
        }
    }

    #[test]
    fn the_whole_accepted_range_of_instants_fits_one_segment_in_any_zone() {
        use crate::ingest::interpret::EVENT_TIME_RANGE;
        for tz in [Tz::UTC, Tz::Pacific__Kiritimati, Tz::Etc__GMTPlus12] {
            let events: Vec<Event> = [EVENT_TIME_RANGE.start, EVENT_TIME_RANGE.end - 1]
                .into_iter()
                .map(|time_ms| Event {
                    time_ms,
                    ..ev(0, 2_348_021_234_567)
                })
                .collect();
            let seg = ServingIndex::from_events(&events, tz).unwrap();
            assert_eq!(seg.stats().events, 2, "{tz}");
            assert_eq!(
                seg.latest_day().map(|d| d.to_string()),
                Some(
                    if tz == Tz::Pacific__Kiritimati {
                        "2100-01-01"
                    } else {
                        "2099-12-31"
                    }
                    .to_owned()
                ),
                "{tz}"
            );
        }
        // Past the range (what the interpreter refuses), the build says so: never an empty
        // segment that an ingest would acknowledge.
        let far = [
            ev(0, 2_348_021_234_567),
            Event {
                time_ms: -5_364_662_400_000, // 1800-01-01
                ..ev(0, 2_348_021_234_567)
            },
        ];
        assert!(ServingIndex::from_events(&far, Tz::UTC).is_err());
    }

    #[test]
    fn two_level_lookup_finds_every_subscriber_and_no_other() {
        // 300 subscribers (several sample blocks), every other number present.
        let events: Vec<Event> = (0..300u64)
            .map(|i| Event {
                subscriber: Msisdn::from_value(886_912_000_000 + 2 * i).unwrap(),
                ..ev(0, 2_348_021_234_567)
            })
            .collect();
        let seg = ServingIndex::from_events(&events, Tz::UTC).unwrap();
        for i in 0..300u64 {
            assert!(
                seg.contains(Msisdn::from_value(886_912_000_000 + 2 * i).unwrap()),
                "{i}"
            );
            assert!(
                !seg.contains(Msisdn::from_value(886_912_000_001 + 2 * i).unwrap()),
                "{i}"
            );
        }
        assert!(!seg.contains(Msisdn::from_value(886_911_999_999).unwrap()));
        assert!(
            !ServingIndex::empty(Tz::UTC).contains(Msisdn::from_value(886_912_000_000).unwrap())
        );
    }

    #[test]
    fn a_segment_spanning_more_than_256_days_keeps_two_byte_days() {
        let events: Vec<Event> = [0i64, 5, 300, 301, 302, 302]
            .iter()
            .map(|&d| ev(d, 2_348_021_234_567))
            .collect();
        let seg = ServingIndex::from_events(&events, Tz::UTC).unwrap();
        assert!(matches!(seg.days, DayColumn::Wide(_)));
        let narrow = ServingIndex::from_events(&events[2..], Tz::UTC).unwrap();
        assert!(matches!(narrow.days, DayColumn::Narrow(_)));
        let dir = tempfile_dir("wide");
        let path = dir.join("wide.hzi");
        seg.write(&path).unwrap();
        let back = ServingIndex::read(&path).unwrap();
        assert!(matches!(back.days, DayColumn::Wide(_)));
        assert_eq!(back.latest_day(), seg.latest_day());
        let as_of = back.latest_day().unwrap();
        let raw = RawCheck {
            look_back_days: Some(3),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", "NG").unwrap())),
            ..RawCheck::default()
        };
        let limits = Limits {
            max_look_back_days: 90,
            default_as_of: as_of,
        };
        let p = CheckParams::new(raw, limits).unwrap();
        let sub = Msisdn::from_value(886_912_345_001).unwrap();
        for s in [&seg, &back, &narrow] {
            let mut counts = [DayCounts::default(); 3];
            assert!(s.accumulate(sub, &p, &mut counts));
            let got: Vec<(u32, u32)> = counts.iter().map(|c| (c.hot, c.total)).collect();
            assert_eq!(got, [(1, 1), (1, 1), (2, 2)]);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn retention_drops_old_days_only() {
        let dir = tempfile_dir("retention");
        let path = dir.join("e.csv");
        let mut text = String::from("event_time,subscriber,counterparty,direction,kind\n");
        for day in [0i64, 10, 20] {
            let t = chrono::DateTime::from_timestamp_millis(1_773_100_800_000 + day * 86_400_000)
                .unwrap();
            text.push_str(&format!(
                "{},+886912345001,+2348021234567,in,call\n",
                t.to_rfc3339()
            ));
        }
        std::fs::write(&path, text).unwrap();
        let inputs = vec![path.to_string_lossy().into_owned()];
        let (all, _) = ServingIndex::load(&inputs, &IngestOptions::default(), Tz::UTC).unwrap();
        let (kept, _) = ServingIndex::load_retained(
            &inputs,
            &IngestOptions::default(),
            Tz::UTC,
            Some(Retention {
                days: 11,
                today: crate::clock::today(Tz::UTC),
            }),
        )
        .unwrap();
        assert_eq!(all.stats().events, 3);
        assert_eq!(kept.stats().events, 2);
        assert_eq!(kept.latest_day(), all.latest_day());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A prepared file with any one byte changed is refused, naming the part whose
    /// checksum no longer matches (or, the magic changed, what no longer fits). Files of the
    /// earlier formats are refused. With any one byte changed and the checksums computed
    /// again, a file is refused or read into an index whose scans and checks answer without
    /// a panic: a day out of order inside a subscriber's events was counted outside the range
    /// a lookup asked for (index out of bounds), a first day past the calendar panicked.
    #[test]
    fn a_prepared_file_with_any_byte_changed_is_refused_and_an_older_one_never_panics_a_scan() {
        let mut events = Vec::new();
        for (k, sub) in [886_912_345_001u64, 886_912_345_002, 886_912_345_007]
            .into_iter()
            .enumerate()
        {
            for d in [0i64, 1, 1, 3, 6, 9] {
                let cp = [2_348_021_234_567, 18_762_101_234, 886_912_000_110][(d as usize + k) % 3];
                events.push(Event {
                    subscriber: Msisdn::from_value(sub).unwrap(),
                    ..ev(d + k as i64, cp)
                });
            }
        }
        let index = ServingIndex::from_events(&events, Tz::UTC).unwrap();
        let dir = tempfile_dir("bytes");
        let good = dir.join("good.hzi");
        index.write(&good).unwrap();
        let summed = std::fs::read(&good).unwrap();
        let bad = dir.join("bad.hzi");
        let mut named = std::collections::BTreeSet::new();
        for at in 0..summed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = summed.clone();
                b[at] ^= flip;
                std::fs::write(&bad, &b).unwrap();
                let e = match ServingIndex::read(&bad) {
                    Ok(_) => panic!("byte {at} ^ {flip:#x}: read"),
                    Err(e) => e.to_string(),
                };
                // The format's number raised reads as a later format (it may be one).
                let later = at == 7 && b[7] > summed[7];
                assert!(
                    e.contains("not a valid prepared index")
                        || (later && e.contains("later hotzone")),
                    "{e}"
                );
                if let Some(part) = e.split("the checksum of its ").nth(1) {
                    named.insert(part.split(" does not").next().unwrap().to_owned());
                }
            }
        }
        // Every part's checksum was seen to catch a change.
        assert_eq!(named.len(), 10, "{named:?}");
        // Cut short anywhere: refused, and saying so (not "failed to fill whole buffer").
        for cut in 0..summed.len() {
            std::fs::write(&bad, &summed[..cut]).unwrap();
            let e = ServingIndex::read(&bad)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                [
                    "ends before its arrays do",
                    "its arrays' lengths make",
                    "does not fit in the file"
                ]
                .iter()
                .any(|m| e.contains(m)),
                "cut at {cut}: {e}"
            );
        }
        // A part of another prepared file, its checksum with it, does not pass: each part's
        // checksum is seeded with the one before it. (The other file: the same events a day
        // later, so the arrays have the same lengths.)
        let later: Vec<Event> = events
            .iter()
            .map(|e| Event {
                time_ms: e.time_ms + 86_400_000,
                ..*e
            })
            .collect();
        let other = dir.join("other.hzi");
        ServingIndex::from_events(&later, Tz::UTC)
            .unwrap()
            .write(&other)
            .unwrap();
        let other = std::fs::read(&other).unwrap();
        let (ours, theirs) = (persist::part_ranges(&summed), persist::part_ranges(&other));
        let mut spliced_parts = 0;
        for (a, b) in ours.iter().zip(&theirs) {
            if a.len() != b.len() || summed[a.clone()] == other[b.clone()] {
                continue;
            }
            let mut b2 = summed.clone();
            b2[a.clone()].copy_from_slice(&other[b.clone()]);
            std::fs::write(&bad, &b2).unwrap();
            let e = ServingIndex::read(&bad)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains("does not match"), "{e}");
            spliced_parts += 1;
        }
        assert!(spliced_parts >= 2, "{spliced_parts} parts differ");
        // The earlier formats are refused, saying what to do.
        for k in 0..2 {
            std::fs::write(&bad, persist::as_earlier_format(&summed, k)).unwrap();
            let e = ServingIndex::read(&bad)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("earlier hotzone") && e.contains("run `hotzone prepare` again"),
                "{e}"
            );
        }
        // A later format (a helper's pass: "unknown format" before): said to be one, and
        // still taken for a prepared file.
        let mut later = summed.clone();
        later[7] += 1;
        std::fs::write(&bad, &later).unwrap();
        assert!(persist::is_prepared(&bad));
        let e = ServingIndex::read(&bad)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a prepared file of a later hotzone (format 5"),
            "{e}"
        );
        // A first day the calendar cannot hold (forged, its checksums made to match): refused,
        // where every reader panicked on its dates.
        let ranges = persist::part_ranges(&summed);
        let tz_len = u64::from_le_bytes(summed[8..16].try_into().unwrap()) as usize;
        for base_day in [1_000_000_000i64, -2, 47_483, 47_482] {
            let mut b = summed.clone();
            b[16 + tz_len..24 + tz_len].copy_from_slice(&base_day.to_le_bytes());
            std::fs::write(&bad, persist::resealed(&b, &ranges)).unwrap();
            let e = ServingIndex::read(&bad)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains("first day") || e.contains("last day"), "{e}");
        }
        let params: Vec<CheckParams> = [(3i64, "NG"), (10, "NG,JM,+886")]
            .into_iter()
            .map(|(days, hz)| {
                let raw = RawCheck {
                    look_back_days: Some(days),
                    threshold_ratio: Some(0.5),
                    hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", hz).unwrap())),
                    ..RawCheck::default()
                };
                let limits = Limits {
                    max_look_back_days: 90,
                    default_as_of: index.latest_day().unwrap(),
                };
                CheckParams::new(raw, limits).unwrap()
            })
            .collect();
        std::fs::write(&bad, persist::resealed(&summed, &ranges)).unwrap();
        let same = ServingIndex::read(&bad).unwrap();
        for p in &params {
            assert_eq!(same.scan_all(p, true), index.scan_all(p, true));
        }
        // Any one byte changed, its checksums made to match again (a file damaged before they
        // were computed, or forged): refused, or read into an index whose scans and checks
        // answer without a panic.
        let (mut opened, mut refused) = (0, 0);
        for at in 0..summed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = summed.clone();
                b[at] ^= flip;
                std::fs::write(&bad, persist::resealed(&b, &ranges)).unwrap();
                let Ok(back) = ServingIndex::read(&bad) else {
                    refused += 1;
                    continue;
                };
                opened += 1;
                for p in &params {
                    back.scan_all(p, true);
                    for &(sub, ..) in events
                        .iter()
                        .map(|e| (e.subscriber, ()))
                        .collect::<Vec<_>>()
                        .iter()
                    {
                        let mut counts = vec![DayCounts::default(); usize::from(p.look_back_days)];
                        back.accumulate(sub, p, &mut counts);
                    }
                }
            }
        }
        assert!(
            opened > 0 && refused > 0,
            "{opened} opened, {refused} refused"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `prepare` renames a new file over the old one: a read in progress reads one or the
    /// other whole, never parts of both (each part was read through its own open, and about
    /// one read in twelve failed as "changed" or "cut short" while files were swapped).
    #[test]
    fn a_prepared_file_replaced_while_it_is_read_is_read_whole() {
        let dir = tempfile_dir("swap");
        let path = dir.join("p.hzi");
        let files: Vec<std::path::PathBuf> = [0i64, 1]
            .iter()
            .map(|&k| {
                let events: Vec<Event> = (0..(200 + 50 * k))
                    .map(|i| ev(i % 9 + k, 2_348_021_234_000 + i as u64))
                    .collect();
                let f = dir.join(format!("v{k}.hzi"));
                ServingIndex::from_events(&events, Tz::UTC)
                    .unwrap()
                    .write(&f)
                    .unwrap();
                f
            })
            .collect();
        let sizes: [u64; 2] = [200, 250];
        std::fs::copy(&files[0], &path).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (stop, path, files, dir) =
                (Arc::clone(&stop), path.clone(), files.clone(), dir.clone());
            std::thread::spawn(move || {
                let mut k = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let tmp = dir.join("next.tmp");
                    std::fs::copy(&files[k % 2], &tmp).unwrap();
                    std::fs::rename(&tmp, &path).unwrap();
                    k += 1;
                }
            })
        };
        for _ in 0..400 {
            let read = ServingIndex::read(&path).unwrap();
            assert!(
                sizes.contains(&read.stats().events),
                "{}",
                read.stats().events
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swapper.join().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A FIFO named as a prepared file is refused at once (Python's `Index(fifo)` waited for
    /// a writer for ever, deaf to Ctrl-C).
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_no_prepared_file_and_is_not_waited_on() {
        let dir = tempfile_dir("fifo");
        let fifo = dir.join("events.hzi");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                ServingIndex::read(&path)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        // A bound for a hang only: the refusal comes before any open of the FIFO.
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the read waited on the FIFO")
            .unwrap_err();
        assert!(
            e.contains("events.hzi") && e.contains("not a regular file"),
            "{e}"
        );
        assert!(!persist::is_prepared(&fifo));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir(test: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("hotzone-index-test-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn check_answers_two_facts_and_not_found() {
        let events: Vec<Event> = (0..3).map(|_| ev(2, 2_348_021_234_567)).collect();
        let snap = Snapshot::new(vec![Arc::new(
            ServingIndex::from_events(&events, Tz::UTC).unwrap(),
        )]);
        let as_of = date_of_day_number(crate::detect::calendar::day_number(
            chrono::DateTime::from_timestamp_millis(1_773_100_800_000 + 2 * 86_400_000)
                .unwrap()
                .date_naive(),
        ));
        let raw = RawCheck {
            look_back_days: Some(3),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", "NG").unwrap())),
            ..RawCheck::default()
        };
        let p = CheckParams::new(
            raw,
            Limits {
                max_look_back_days: 90,
                default_as_of: as_of,
            },
        )
        .unwrap();
        let v = snap
            .check(Msisdn::from_value(886_912_345_001).unwrap(), &p)
            .unwrap();
        assert_eq!(
            v,
            CheckVerdict {
                anomaly_detected: true,
                anomaly_date: Some(as_of)
            }
        );
        assert!(matches!(
            snap.check(Msisdn::from_value(886_912_345_002).unwrap(), &p),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            Snapshot::default().check(Msisdn::from_value(886_912_345_001).unwrap(), &p),
            Err(Error::NotFound)
        ));
    }
}
