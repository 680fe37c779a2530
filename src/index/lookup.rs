//! One check against one segment: hotzone -> hot id ranges (cached), then one pass over the
//! subscriber's events in W.

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use crate::detect::calendar::day_number;
use crate::detect::rules::DayCounts;
use crate::index::dictionary::NO_REGION;
use crate::index::{DayColumn, ServingIndex};
use crate::model::hotzone::{Hotzone, HotzoneEntry};
use crate::model::{CheckParams, Msisdn};

/// Distinct hotzones remembered per segment before the cache is cleared.
const MAX_CACHED_HOTZONES: usize = 256;

/// The hot dictionary ids of one hotzone as sorted, disjoint, non-adjacent id ranges. The
/// dictionary is sorted by digit string, so a prefix is one range and a region a few runs:
/// a hotzone is a handful of ranges that stay in cache, whatever the dictionary's size.
pub(crate) struct HotRanges {
    /// `start0, end0, start1, end1, …`, strictly increasing (ranges are merged when they
    /// touch): an id is hot when an odd number of bounds are at or below it.
    bounds: Vec<u32>,
}

/// Up to this many bounds, membership is a branch-free count over all of them.
const LINEAR_BOUNDS: usize = 16;

impl HotRanges {
    fn new(mut ranges: Vec<std::ops::Range<usize>>) -> HotRanges {
        ranges.retain(|r| !r.is_empty());
        ranges.sort_unstable_by_key(|r| r.start);
        let mut bounds: Vec<u32> = Vec::new();
        for r in ranges {
            match bounds.last_mut() {
                Some(end) if r.start <= *end as usize => *end = (*end).max(r.end as u32),
                _ => bounds.extend([r.start as u32, r.end as u32]),
            }
        }
        HotRanges { bounds }
    }

    #[inline]
    fn contains(&self, id: u32) -> bool {
        let below = if self.bounds.len() <= LINEAR_BOUNDS {
            self.bounds.iter().map(|&b| usize::from(b <= id)).sum()
        } else {
            self.bounds.partition_point(|&b| b <= id)
        };
        below & 1 == 1
    }
}

/// Per-segment cache of hotzone ranges. A read lock on the hit path; the ranges are built
/// outside any lock and inserted after (two racing builders produce the same ranges).
#[derive(Default)]
pub(crate) struct HotCache(RwLock<FxHashMap<Vec<HotzoneEntry>, Arc<HotRanges>>>);

/// The hot id ranges of `hz` in this segment (cached).
pub(crate) fn hot_ranges(seg: &ServingIndex, hz: &Hotzone) -> Arc<HotRanges> {
    if let Some(b) = seg
        .hot_cache
        .0
        .read()
        .ok()
        .and_then(|m| m.get(hz.entries()).cloned())
    {
        return b;
    }
    let mut ranges: Vec<std::ops::Range<usize>> = seg
        .dict
        .region_runs()
        .filter(|(_, r)| *r != NO_REGION && hz.has_region_index(usize::from(*r)))
        .map(|(ids, _)| ids)
        .collect();
    for e in hz.entries() {
        if let HotzoneEntry::Prefix { len, digits } = *e {
            ranges.push(seg.dict.prefix_range(usize::from(len), digits));
        }
    }
    let hot = Arc::new(HotRanges::new(ranges));
    if let Ok(mut map) = seg.hot_cache.0.write() {
        if map.len() >= MAX_CACHED_HOTZONES {
            map.clear();
        }
        map.insert(hz.entries().to_vec(), Arc::clone(&hot));
    }
    hot
}

/// Adds the segment's counts of `sub` over W into `out`; false when the number is unknown here.
pub(crate) fn accumulate(
    seg: &ServingIndex,
    sub: Msisdn,
    p: &CheckParams,
    out: &mut [DayCounts],
) -> bool {
    let Some(i) = seg.position(sub) else {
        return false;
    };
    accumulate_slot(seg, i, p, &hot_ranges(seg, &p.hotzone), out);
    true
}

/// Adds the counts of the subscriber at position `i` of the segment; `hot` are the hot id
/// ranges of `p.hotzone` in this segment ([`hot_ranges`]).
pub(crate) fn accumulate_slot(
    seg: &ServingIndex,
    i: usize,
    p: &CheckParams,
    hot: &HotRanges,
    out: &mut [DayCounts],
) {
    let (s, e) = (seg.sub_start[i] as usize, seg.sub_start[i + 1] as usize);
    let first = i64::from(day_number(p.first_day())) - i64::from(seg.base_day);
    let last = first + i64::from(p.look_back_days) - 1;
    if last < 0 || first > i64::from(u16::MAX) {
        return;
    }
    let codes = &seg.codes[s..e];
    match &seg.days {
        DayColumn::Narrow(d) => count(&d[s..e], codes, first, last, p.selection(), hot, out),
        DayColumn::Wide(d) => count(&d[s..e], codes, first, last, p.selection(), hot, out),
    }
}

/// The pass over one subscriber's events (`days` sorted) for days `first..=last` of the
/// segment.
#[inline]
fn count<D: Copy + Into<u16>>(
    days: &[D],
    codes: &[u32],
    first: i64,
    last: i64,
    mask: u8,
    hot: &HotRanges,
    out: &mut [DayCounts],
) {
    let lo = first.max(0) as u16;
    let hi = last.min(i64::from(u16::MAX)) as u16;
    let start = days.partition_point(|&d| d.into() < lo);
    let end = start + days[start..].partition_point(|&d| d.into() <= hi);
    // Branch-free per event: an unselected flavor adds 0 to its day.
    for (&day, &code) in days[start..end].iter().zip(&codes[start..end]) {
        let selected = u32::from((mask >> (code >> 30)) & 1);
        let hot = u32::from(hot.contains(code & ((1 << 30) - 1)));
        let c = &mut out[(i64::from(day.into()) - first) as usize];
        c.total += selected;
        c.hot += selected & hot;
    }
}

#[cfg(test)]
mod tests {
    use super::HotRanges;

    #[test]
    fn ranges_merge_and_answer_membership() {
        let hot = HotRanges::new(vec![10..20, 0..0, 15..25, 30..31, 25..27, 40..40]);
        assert_eq!(hot.bounds, [10, 27, 30, 31]);
        let members: Vec<u32> = (0..50).filter(|&i| hot.contains(i)).collect();
        let expected: Vec<u32> = (10..27).chain(30..31).collect();
        assert_eq!(members, expected);
        assert!(!HotRanges::new(Vec::new()).contains(0));
    }

    #[test]
    fn many_ranges_take_the_binary_search_with_the_same_answers() {
        // 40 ranges (80 bounds, past LINEAR_BOUNDS), touching ones merged, vs a naive test.
        let ranges: Vec<std::ops::Range<usize>> = (0..40)
            .map(|k| k * 10 + k % 3..k * 10 + 5 + k % 4 * 2)
            .collect();
        let hot = HotRanges::new(ranges.clone());
        assert!(hot.bounds.len() > super::LINEAR_BOUNDS);
        assert!(hot.bounds.windows(2).all(|w| w[0] < w[1]));
        for id in 0..420u32 {
            let naive = ranges.iter().any(|r| r.contains(&(id as usize)));
            assert_eq!(hot.contains(id), naive, "{id}");
        }
    }
}
