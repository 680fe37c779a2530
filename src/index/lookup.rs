//! One check against one segment: hotzone -> id bitmap (cached), then one pass over the
//! subscriber's events in W.

use std::sync::{Arc, RwLock};

use rustc_hash::FxHashMap;

use crate::detect::calendar::day_number;
use crate::detect::rules::DayCounts;
use crate::index::ServingIndex;
use crate::index::dictionary::NO_REGION;
use crate::model::hotzone::{Hotzone, HotzoneEntry};
use crate::model::{CheckParams, Msisdn};

/// Distinct hotzones remembered per segment before the cache is cleared.
const MAX_CACHED_HOTZONES: usize = 256;

/// Bitmap over dictionary ids: bit set = hot.
pub(crate) struct HotBits(Vec<u64>);

impl HotBits {
    #[inline]
    fn get(&self, id: u32) -> bool {
        self.0
            .get((id >> 6) as usize)
            .is_some_and(|w| (w >> (id & 63)) & 1 == 1)
    }
}

/// Per-segment cache of hotzone bitmaps. A read lock on the hit path; the bitmap is built
/// outside any lock and inserted after (two racing builders produce the same bitmap).
#[derive(Default)]
pub(crate) struct HotCache(RwLock<FxHashMap<Vec<HotzoneEntry>, Arc<HotBits>>>);

fn hot_bits(seg: &ServingIndex, hz: &Hotzone) -> Arc<HotBits> {
    if let Some(b) = seg
        .hot_cache
        .0
        .read()
        .ok()
        .and_then(|m| m.get(hz.entries()).cloned())
    {
        return b;
    }
    let n = seg.dict.len();
    let mut words = vec![0u64; n.div_ceil(64) + 1];
    let mut set = |id: usize| words[id >> 6] |= 1 << (id & 63);
    if hz.has_regions() {
        for id in 0..n {
            let r = seg.dict.region(id);
            if r != NO_REGION && hz.has_region_index(usize::from(r)) {
                set(id);
            }
        }
    }
    for e in hz.entries() {
        if let HotzoneEntry::Prefix { len, digits } = *e {
            for id in seg.dict.prefix_range(usize::from(len), digits) {
                set(id);
            }
        }
    }
    let bits = Arc::new(HotBits(words));
    if let Ok(mut map) = seg.hot_cache.0.write() {
        if map.len() >= MAX_CACHED_HOTZONES {
            map.clear();
        }
        map.insert(hz.entries().to_vec(), Arc::clone(&bits));
    }
    bits
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
    accumulate_slot(seg, i, p, out);
    true
}

/// Adds the counts of the subscriber at position `i` of the segment.
pub(crate) fn accumulate_slot(
    seg: &ServingIndex,
    i: usize,
    p: &CheckParams,
    out: &mut [DayCounts],
) {
    let (s, e) = (seg.sub_start[i] as usize, seg.sub_start[i + 1] as usize);
    let first = i64::from(day_number(p.first_day())) - i64::from(seg.base_day);
    let last = first + i64::from(p.look_back_days) - 1;
    if last < 0 || first > i64::from(u16::MAX) {
        return;
    }
    let days = &seg.days[s..e];
    let lo = first.max(0) as u16;
    let start = days.partition_point(|&d| d < lo);
    let mask = p.selection();
    let mut bits: Option<Arc<HotBits>> = None;
    for (&day, &code) in days[start..].iter().zip(&seg.codes[s + start..e]) {
        let d = i64::from(day);
        if d > last {
            break;
        }
        if (mask >> (code >> 30)) & 1 == 0 {
            continue;
        }
        let c = &mut out[(d - first) as usize];
        c.total += 1;
        let bits = bits.get_or_insert_with(|| hot_bits(seg, &p.hotzone));
        if bits.get(code & ((1 << 30) - 1)) {
            c.hot += 1;
        }
    }
}
