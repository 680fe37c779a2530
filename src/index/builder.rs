//! Events -> [`ServingIndex`], in parallel: each ingest worker keeps a local counterparty
//! dictionary and compact event tuples; the merge builds the global sorted dictionary,
//! remaps ids, sorts events by (subscriber, day) and lays out the columns.

use std::time::Instant;

use chrono_tz::Tz;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::detect::calendar::DayNumbers;
use crate::error::{Error, Result};
use crate::index::dictionary::{self, Dictionary, Key};
use crate::index::{DayColumn, ServingIndex};
use crate::ingest::{Counterparty, Event, EventSink, IngestOptions, IngestReport, ingest};
use crate::model::phone::Msisdn;
use crate::model::region::RegionTable;

/// Ids must fit in 30 bits next to the 2 flavor bits.
const MAX_IDS: usize = (1 << 30) - 1;
/// Mask of the id bits of a code.
const ID_BITS: u32 = (1 << 30) - 1;
/// Dictionary id of withheld/unknown counterparties in a worker (remapped to the last id).
const UNKNOWN_LOCAL: u32 = ID_BITS;

/// One event as the builder keeps it (16 bytes): (subscriber, local day,
/// `flavor << 30 | local dictionary id`); after the merge the id is global.
type Row = (Msisdn, i32, u32);

struct BuildSink {
    days: DayNumbers,
    dict: FxHashMap<Key, u32>,
    keys: Vec<Key>,
    rows: Vec<Row>,
}

impl BuildSink {
    fn new(tz: Tz) -> BuildSink {
        BuildSink {
            days: DayNumbers::new(tz),
            dict: FxHashMap::default(),
            keys: Vec::new(),
            rows: Vec::new(),
        }
    }
}

impl EventSink for BuildSink {
    fn event(&mut self, e: &Event) {
        let key = match e.counterparty {
            Counterparty::Unknown => None,
            Counterparty::Number(n) => Some((n, None)),
            Counterparty::NumberInRegion(n, r) => Some((n, Some(r))),
        };
        let id = match key {
            None => UNKNOWN_LOCAL,
            Some(k) => *self.dict.entry(k).or_insert_with(|| {
                self.keys.push(k);
                // Past MAX_IDS the build fails before any id is used.
                ((self.keys.len() - 1) as u32).min(ID_BITS - 1)
            }),
        };
        let day = self.days.day(e.time_ms);
        self.rows
            .push((e.subscriber, day, (u32::from(e.flavor) << 30) | id));
    }
}

/// Reads files and builds.
pub(crate) fn load(
    inputs: &[String],
    opts: &IngestOptions,
    tz: Tz,
    retention_days: Option<u16>,
) -> Result<(ServingIndex, IngestReport)> {
    let started = Instant::now();
    let (sinks, report) = ingest(inputs, opts, || BuildSink::new(tz), &|_, _| {})?;
    let index = build(sinks, tz, retention_days)?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "index built");
    Ok((index, report))
}

/// Builds from in-memory events. A build error (a layout limit) is returned, never turned
/// into an index that silently lacks the events.
pub(crate) fn from_events(events: &[Event], tz: Tz) -> Result<ServingIndex> {
    let mut sink = BuildSink::new(tz);
    for e in events {
        sink.event(e);
    }
    build(vec![sink], tz, None)
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

/// Builds the layout. With `retention_days`, only the days within that many days of the
/// latest day in the data are kept (older days leave memory).
fn build(mut sinks: Vec<BuildSink>, tz: Tz, retention_days: Option<u16>) -> Result<ServingIndex> {
    if let Some(keep) = retention_days {
        let latest = sinks.iter().flat_map(|s| s.rows.iter().map(|r| r.1)).max();
        if let Some(latest) = latest {
            let cutoff = latest - i32::from(keep.max(1)) + 1;
            sinks
                .par_iter_mut()
                .for_each(|s| s.rows.retain(|r| r.1 >= cutoff));
        }
    }
    let locals: Vec<&[Key]> = sinks.iter().map(|s| s.keys.as_slice()).collect();
    let (keys, remaps) = dictionary::merge_local(&locals);
    if keys.len() >= MAX_IDS {
        return Err(Error::Internal(format!(
            "{} distinct counterparties exceed the index's id space",
            keys.len()
        )));
    }
    let unknown_id = keys.len() as u32;
    let table = RegionTable::get();
    let dict = Dictionary::from_sorted(&keys, |n| table.region_of(n));
    drop(keys);
    // Remap each worker's local ids to global ids in place, then gather the rows into one
    // vector, freeing each worker's rows as soon as they are copied (peak: all rows plus one
    // worker's, not twice all rows).
    sinks.par_iter_mut().zip(remaps).for_each(|(s, remap)| {
        s.dict = FxHashMap::default();
        s.keys = Vec::new();
        for r in &mut s.rows {
            let id = r.2 & ID_BITS;
            let gid = if id == UNKNOWN_LOCAL {
                unknown_id
            } else {
                remap[id as usize]
            };
            r.2 = (r.2 & !ID_BITS) | gid;
        }
    });
    let mut rows: Vec<Row> = Vec::with_capacity(sinks.iter().map(|s| s.rows.len()).sum());
    for s in sinks {
        rows.extend_from_slice(&s.rows);
    }
    if rows.is_empty() {
        let mut e = empty(tz);
        e.dict = dict;
        return Ok(e);
    }
    let base_day = rows.par_iter().map(|r| r.1).min().unwrap_or(0);
    let max_day = rows.par_iter().map(|r| r.1).max().unwrap_or(0);
    // Unreachable for rows that went through the interpreter: accepted instants lie in
    // `ingest::interpret::EVENT_TIME_RANGE`, 47 482 days, so their local days always fit
    // the u16 day offsets. Kept as a guard against a new producer of events that skips it.
    if i64::from(max_day) - i64::from(base_day) > i64::from(u16::MAX) {
        return Err(Error::Internal(
            "events outside the accepted event_time range reached the index".into(),
        ));
    }
    // Numbers are below 10^15 < 2^50, so (subscriber, day offset) packs into one u64 when the
    // data spans fewer than 2^14 days: a cheaper sort key than the tuple. The code is part of
    // the key so that the layout (and a prepared file) is the same whatever the thread count.
    if max_day - base_day < (1 << 14) {
        rows.par_sort_unstable_by_key(|r| {
            (u128::from((r.0.value() << 14) | (r.1 - base_day) as u64) << 32) | u128::from(r.2)
        });
    } else {
        rows.par_sort_unstable_by_key(|r| (r.0, r.1, r.2));
    }
    let mut subs = Vec::new();
    let mut sub_start = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if subs.last() != Some(&r.0) {
            subs.push(r.0);
            sub_start.push(i as u64);
        }
    }
    sub_start.push(rows.len() as u64);
    let days = DayColumn::from_offsets(rows.par_iter().map(|r| (r.1 - base_day) as u16).collect());
    let codes = rows.par_iter().map(|r| r.2).collect();
    drop(rows);
    subs.shrink_to_fit();
    sub_start.shrink_to_fit();
    Ok(ServingIndex::from_parts(
        tz, base_day, subs, sub_start, days, codes, dict,
    ))
}
