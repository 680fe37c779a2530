//! Sorted runs: how the build keeps events between reading and laying out the index.
//!
//! Each ingest worker fills a bounded buffer of 16-byte rows; when it is full the rows are
//! sorted by (subscriber, day) and encoded into a [`Run`] of about 5-6 bytes an event: per
//! subscriber a varint of the number's difference from the previous one and a varint of its
//! event count, per event a varint day offset (one byte under 128 days) and the 4-byte code.
//! The buffer is then reused, so the rows of the whole input never exist at once.
//!
//! [`merge`] reads every run in subscriber order (a k-way merge on a heap) straight into the
//! final columns; within a subscriber the events are sorted by (day, code), which gives the
//! same layout as one sort of all rows, whatever the number of runs or workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::index::DayColumn;
use crate::model::phone::Msisdn;

/// One event as a worker buffers it (16 bytes): (subscriber, local day, code).
pub(crate) type Row = (Msisdn, i32, u32);

/// Events sorted by (subscriber, day), encoded.
pub(crate) struct Run {
    /// Per subscriber: varint(number - previous number), varint(events - 1).
    subs: Vec<u8>,
    /// Per event: varint(day - `min_day`).
    days: Vec<u8>,
    /// Per event: `flavor << 30 | counterparty id` (rewritten to dictionary ids before the
    /// merge).
    pub(crate) codes: Vec<u32>,
    min_day: i32,
    /// Events per day, by day.
    pub(crate) day_counts: Vec<(i32, u64)>,
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let x = b[*pos];
        *pos += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Buffers reused from run to run.
#[derive(Default)]
pub(crate) struct Scratch {
    subs: Vec<u8>,
    days: Vec<u8>,
    counts: Vec<u64>,
}

impl Run {
    /// Sorts and encodes `rows`, leaving it empty (with its capacity).
    pub(crate) fn from_rows(rows: &mut Vec<Row>, scratch: &mut Scratch) -> Run {
        rows.sort_unstable_by_key(|r| (r.0, r.1));
        let min_day = rows.iter().map(|r| r.1).min().unwrap_or(0);
        let max_day = rows.iter().map(|r| r.1).max().unwrap_or(0);
        let counts = &mut scratch.counts;
        counts.clear();
        counts.resize((i64::from(max_day) - i64::from(min_day) + 1) as usize, 0);
        let (subs, days) = (&mut scratch.subs, &mut scratch.days);
        subs.clear();
        days.clear();
        let mut codes = Vec::with_capacity(rows.len());
        let mut prev = 0u64;
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            let sub = group[0].0.value();
            put_varint(subs, sub - prev);
            put_varint(subs, group.len() as u64 - 1);
            prev = sub;
            for &(_, day, code) in group {
                let off = (i64::from(day) - i64::from(min_day)) as u64;
                counts[off as usize] += 1;
                put_varint(days, off);
                codes.push(code);
            }
        }
        rows.clear();
        let day_counts = (counts.iter().enumerate())
            .filter(|(_, c)| **c > 0)
            .map(|(d, c)| (min_day + d as i32, *c))
            .collect();
        Run {
            subs: subs.to_vec(),
            days: days.to_vec(),
            codes,
            min_day,
            day_counts,
        }
    }

    /// Heap bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.subs.capacity()
            + self.days.capacity()
            + self.codes.capacity() * 4
            + self.day_counts.capacity() * 16
    }
}

/// A reading position in a run.
struct Cursor<'a> {
    run: &'a Run,
    sub_pos: usize,
    day_pos: usize,
    event: usize,
    sub: u64,
    /// Events of `sub` not yet read.
    left: usize,
}

impl Cursor<'_> {
    /// Moves to the next subscriber; false at the end.
    fn next_sub(&mut self) -> bool {
        if self.sub_pos >= self.run.subs.len() {
            return false;
        }
        self.sub += get_varint(&self.run.subs, &mut self.sub_pos);
        self.left = get_varint(&self.run.subs, &mut self.sub_pos) as usize + 1;
        true
    }

    /// Appends the current subscriber's events on days from `cutoff` on.
    fn take(&mut self, cutoff: i32, out: &mut Vec<(i32, u32)>) {
        for _ in 0..self.left {
            let day = self.run.min_day + get_varint(&self.run.days, &mut self.day_pos) as i32;
            if day >= cutoff {
                out.push((day, self.run.codes[self.event]));
            }
            self.event += 1;
        }
        self.left = 0;
    }
}

/// The columns of a segment.
pub(crate) struct Columns {
    pub(crate) subs: Vec<Msisdn>,
    pub(crate) sub_start: Vec<u64>,
    pub(crate) days: DayColumn,
    pub(crate) codes: Vec<u32>,
}

/// Lays out the runs' events on days from `cutoff` on: `events` of them, with day offsets from
/// `base_day` that fit a byte when `narrow`.
pub(crate) fn merge(
    runs: &[Run],
    cutoff: i32,
    base_day: i32,
    events: usize,
    narrow: bool,
) -> Result<Columns> {
    let mut cursors: Vec<Cursor<'_>> = (runs.iter())
        .map(|run| Cursor {
            run,
            sub_pos: 0,
            day_pos: 0,
            event: 0,
            sub: 0,
            left: 0,
        })
        .collect();
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::with_capacity(cursors.len());
    for (i, c) in cursors.iter_mut().enumerate() {
        if c.next_sub() {
            heap.push(Reverse((c.sub, i)));
        }
    }
    let mut subs = Vec::new();
    let mut sub_start = Vec::new();
    let mut days = if narrow {
        DayColumn::Narrow(Vec::with_capacity(events))
    } else {
        DayColumn::Wide(Vec::with_capacity(events))
    };
    let mut codes: Vec<u32> = Vec::with_capacity(events);
    let mut one: Vec<(i32, u32)> = Vec::new();
    while let Some(Reverse((sub, i))) = heap.pop() {
        let mut take = |i: usize, heap: &mut BinaryHeap<Reverse<(u64, usize)>>| {
            let c = &mut cursors[i];
            c.take(cutoff, &mut one);
            if c.next_sub() {
                heap.push(Reverse((c.sub, i)));
            }
        };
        take(i, &mut heap);
        while let Some(&Reverse((s, j))) = heap.peek()
            && s == sub
        {
            heap.pop();
            take(j, &mut heap);
        }
        if one.is_empty() {
            continue;
        }
        one.sort_unstable();
        subs.push(Msisdn::from_value(sub).ok_or_else(|| {
            Error::Internal("a run of the index build holds an invalid subscriber".into())
        })?);
        sub_start.push(codes.len() as u64);
        match &mut days {
            DayColumn::Narrow(d) => d.extend(one.iter().map(|e| (e.0 - base_day) as u8)),
            DayColumn::Wide(d) => d.extend(one.iter().map(|e| (e.0 - base_day) as u16)),
        }
        codes.extend(one.iter().map(|e| e.1));
        one.clear();
    }
    sub_start.push(codes.len() as u64);
    subs.shrink_to_fit();
    sub_start.shrink_to_fit();
    Ok(Columns {
        subs,
        sub_start,
        days,
        codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut b = Vec::new();
        let values = [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX >> 14];
        for v in values {
            put_varint(&mut b, v);
        }
        let mut pos = 0;
        for v in values {
            assert_eq!(get_varint(&b, &mut pos), v);
        }
        assert_eq!(pos, b.len());
    }
}
