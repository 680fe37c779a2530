//! The build's counterparty interner: one dictionary shared by every ingest worker, split
//! into [`SHARDS`] locked shards by a hash of the key, so that each distinct counterparty is
//! stored once whatever the number of workers or the order of the rows.
//!
//! A key is the counterparty's position in dictionary order packed into a `u64`
//! ([`pack`]): comparing packed keys is comparing digit strings, so the finished dictionary
//! is the shards' keys merged in key order. A shard is an open-addressing table of `u32`
//! slots (8 hash bits to skip most foreign keys, 24 bits of index into the shard's keys)
//! over its keys in arrival order (grown by a quarter at a time): about 4 / 0.56 + 8 × 1.12 =
//! 16 bytes per distinct counterparty.
//!
//! [`Interner::finish`] turns the shards into the [`Dictionary`] and, for every id handed out,
//! its id in the dictionary's order; the merge runs on all cores, in key ranges.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use rayon::prelude::*;

use crate::index::dictionary::{Dictionary, Key, NO_REGION, lex_key, zero_ended};
use crate::model::phone::{Msisdn, POW10};
use crate::model::region::{REGION_SLOTS, Region};

/// log2 of the number of shards.
const SHARD_BITS: u32 = 6;
/// Shards: enough that workers rarely wait on each other's lock.
const SHARDS: usize = 1 << SHARD_BITS;
/// Keys a shard may hold: an id (`index << SHARD_BITS | shard`) stays below 2^30 - 1, and
/// `index + 1` fits the 24 index bits of a slot.
const MAX_PER_SHARD: usize = (1 << 24) - 2;
/// The region field of a packed key without a region override (sorts after every region).
const NO_OVERRIDE: u64 = 1023;

/// A key packed in dictionary order: padded number (50 bits), digit count (4 bits), region
/// override index (10 bits, none last). The same order as `dictionary::order_key`.
#[inline]
pub(crate) fn pack((n, r): Key) -> u64 {
    let (padded, len) = lex_key(n);
    (padded << 14) | (u64::from(len) << 10) | r.map_or(NO_OVERRIDE, |r| r.index() as u64)
}

/// The number of a packed key.
#[inline]
fn number_of(k: u64) -> Option<Msisdn> {
    let len = ((k >> 10) & 15) as usize;
    Msisdn::from_value((k >> 14) / POW10[15 - len])
}

/// splitmix64's finaliser: every output bit depends on every input bit.
#[inline]
fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Default)]
pub(crate) struct Shard {
    /// `tag << 24 | (index + 1)`, 0 when empty; a power of two long.
    slots: Vec<u32>,
    /// Packed keys in arrival order.
    keys: Vec<u64>,
}

impl Shard {
    /// The index of `key` (hash `h`), added if new; `None` when the shard is full.
    #[inline]
    fn intern(&mut self, key: u64, h: u64) -> Option<u32> {
        if self.slots.is_empty() {
            // New, or closed ([`Interner::close`]): a table for the keys it holds.
            let mut len = 1024;
            while (self.keys.len() + 1) * 4 > len * 3 {
                len *= 2;
            }
            self.rehash(len);
        }
        let mask = self.slots.len() - 1;
        let tag = ((h >> 48) & 0xff) as u32;
        let mut i = h as usize & mask;
        loop {
            let v = self.slots[i];
            if v == 0 {
                if self.keys.len() >= MAX_PER_SHARD {
                    return None;
                }
                if self.keys.len() == self.keys.capacity() {
                    // A quarter more, not twice: doubled vectors held 503 MB for 294 MB of
                    // keys on a sparse export's build, now 338 MB (BENCHMARKS.md,
                    // "Forty-first session"); a large block grows in place (remapped).
                    self.keys.reserve_exact(self.keys.len() / 4 + 256);
                }
                self.keys.push(key);
                let index = self.keys.len() as u32;
                self.slots[i] = (tag << 24) | index;
                // At most 3/4 full: a miss stays within a cache line or two.
                if self.keys.len() * 4 > self.slots.len() * 3 {
                    self.grow();
                }
                return Some(index - 1);
            }
            if v >> 24 == tag && self.keys[(v & 0x00ff_ffff) as usize - 1] == key {
                return Some((v & 0x00ff_ffff) - 1);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        self.rehash(self.slots.len() * 2);
    }

    /// A table of `len` slots (a power of two) over the keys.
    fn rehash(&mut self, len: usize) {
        let mut slots = vec![0u32; len];
        let mask = len - 1;
        for (index, &key) in self.keys.iter().enumerate() {
            let h = mix(key);
            let mut i = h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = ((((h >> 48) & 0xff) as u32) << 24) | (index as u32 + 1);
        }
        self.slots = slots;
    }
}

/// The shared counterparty dictionary of one build.
pub(crate) struct Interner {
    shards: Vec<Mutex<Shard>>,
    full: AtomicBool,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            full: AtomicBool::new(false),
        }
    }
}

/// What [`Interner::finish`] returns.
pub(crate) struct Finished {
    /// The dictionary, in digit-string order.
    pub(crate) dict: Dictionary,
    /// The dictionary id of each key, shard after shard (by index within a shard).
    remap: Vec<u32>,
    /// Where each shard starts in `remap`.
    offsets: Vec<usize>,
}

impl Finished {
    /// The dictionary (the id map is freed).
    pub(crate) fn into_dictionary(self) -> Dictionary {
        self.dict
    }

    /// The dictionary id of an id handed out by [`Interner::intern`].
    #[inline]
    pub(crate) fn global(&self, id: u32) -> u32 {
        self.remap[self.offsets[(id as usize) & (SHARDS - 1)] + (id >> SHARD_BITS) as usize]
    }
}

impl Interner {
    /// An id for the key (below 2^30 - 1), the same for equal keys. Past the id space, 0,
    /// and [`Interner::finish`] fails.
    #[inline]
    pub(crate) fn intern(&self, key: Key) -> u32 {
        self.intern_with(key, |m| {
            Some(m.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .unwrap_or(0)
    }

    /// [`Interner::intern`] unless another worker holds the key's shard: then `None` at once
    /// (the caller comes back later), so that a worker never waits for one that the system
    /// paused inside the lock.
    #[inline]
    pub(crate) fn try_intern(&self, key: Key) -> Option<u32> {
        self.intern_with(key, |m| match m.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        })
    }

    #[inline]
    fn intern_with<'s>(
        &'s self,
        key: Key,
        lock: impl FnOnce(&'s Mutex<Shard>) -> Option<MutexGuard<'s, Shard>>,
    ) -> Option<u32> {
        let key = pack(key);
        let h = mix(key);
        let s = (h >> (64 - SHARD_BITS)) as usize;
        let index = lock(&self.shards[s])?.intern(key, h);
        Some(match index {
            Some(i) => (i << SHARD_BITS) | s as u32,
            None => {
                self.full.store(true, Ordering::Relaxed);
                0
            }
        })
    }

    /// Locks every other shard, as busy workers would (tests of the pending path).
    #[cfg(test)]
    pub(crate) fn hold_even_shards(&self) -> Vec<MutexGuard<'_, Shard>> {
        (self.shards.iter().step_by(2))
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Forgets every key (no id handed out before may be used after).
    pub(crate) fn reset(&self) {
        for s in &self.shards {
            *s.lock().unwrap_or_else(PoisonError::into_inner) = Shard::default();
        }
        self.full.store(false, Ordering::Relaxed);
    }

    /// Frees the hash tables; ids stay valid, and no key may be added after.
    pub(crate) fn close(&self) {
        for s in &self.shards {
            s.lock().unwrap_or_else(PoisonError::into_inner).slots = Vec::new();
        }
    }

    /// Whether a shard ran out of ids.
    pub(crate) fn overflowed(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// The dictionary and the id map. The tables are freed first; then each shard's keys are
    /// sorted (an index permutation), the shards are merged in key ranges on all cores, each
    /// range resolving its regions and writing its slice of the dictionary, and each key's
    /// slot is overwritten with its dictionary id (no second array of keys).
    pub(crate) fn finish(self, region_of: impl Fn(Msisdn) -> Option<Region> + Sync) -> Finished {
        let shards: Vec<Vec<u64>> = (self.shards.into_iter())
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner).keys)
            .collect();
        // Sorted order of each shard (one allocation for all, so that it leaves memory when
        // freed), then the keys as atomics (the same allocation) so that the ranges can write
        // dictionary ids in place.
        let mut offsets = vec![0usize; SHARDS + 1];
        for (s, keys) in shards.iter().enumerate() {
            offsets[s + 1] = offsets[s] + keys.len();
        }
        let mut perms = vec![0u32; offsets[SHARDS]];
        let mut slices: Vec<&mut [u32]> = Vec::with_capacity(SHARDS);
        let mut rest: &mut [u32] = &mut perms;
        for keys in &shards {
            let (head, tail) = rest.split_at_mut(keys.len());
            slices.push(head);
            rest = tail;
        }
        let sorted: Vec<(Vec<AtomicU64>, &[u32])> = shards
            .into_par_iter()
            .zip(slices)
            .map(|(keys, perm)| {
                for (i, p) in perm.iter_mut().enumerate() {
                    *p = i as u32;
                }
                perm.sort_unstable_by_key(|&i| keys[i as usize]);
                let perm: &[u32] = perm;
                (keys.into_iter().map(AtomicU64::new).collect(), perm)
            })
            .collect();
        let total: usize = sorted.iter().map(|s| s.1.len()).sum();
        let key_at =
            |s: usize, p: usize| sorted[s].0[sorted[s].1[p] as usize].load(Ordering::Relaxed);
        // Range boundaries: quantiles of a sample of every shard.
        let parts = (rayon::current_num_threads() * 8).max(1);
        let mut sample: Vec<u64> = Vec::new();
        for (s, (_, perm)) in sorted.iter().enumerate() {
            for j in 1..parts {
                if !perm.is_empty() {
                    sample.push(key_at(s, j * perm.len() / parts));
                }
            }
        }
        sample.sort_unstable();
        let splitters: Vec<u64> = (1..parts)
            .filter_map(|j| sample.get(j * sample.len() / parts).copied())
            .collect();
        // Per range, the slice of each shard's sorted order it covers.
        let bound = |s: usize, x: u64| {
            let (keys, perm) = &sorted[s];
            perm.partition_point(|&i| keys[i as usize].load(Ordering::Relaxed) < x)
        };
        let mut ranges: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut lows: Vec<usize> = vec![0; SHARDS];
        for j in 0..=splitters.len() {
            let r: Vec<(usize, usize)> = (0..SHARDS)
                .map(|s| {
                    let hi = splitters.get(j).map_or(sorted[s].1.len(), |&x| bound(s, x));
                    let lo = lows[s];
                    lows[s] = hi;
                    (lo, hi)
                })
                .collect();
            ranges.push(r);
        }
        let mut low = vec![0u32; total];
        let mut slices: Vec<(usize, &mut [u32])> = Vec::new();
        let mut rest: &mut [u32] = &mut low;
        let mut start = 0usize;
        for r in &ranges {
            let n: usize = r.iter().map(|(lo, hi)| hi - lo).sum();
            let (head, tail) = rest.split_at_mut(n);
            slices.push((start, head));
            rest = tail;
            start += n;
        }
        let over: Vec<Option<Region>> = {
            let mut v = vec![None; REGION_SLOTS];
            for r in Region::all() {
                v[r.index()] = Some(r);
            }
            v
        };
        type Piece = (Vec<(u32, u32)>, Vec<(u32, u16)>, Vec<(u32, u8)>);
        let pieces: Vec<Piece> = slices
            .into_par_iter()
            .zip(ranges)
            .map(|((first, out), range)| {
                let mut heads = range;
                let mut heap: BinaryHeap<Reverse<(u64, usize)>> = (0..SHARDS)
                    .filter(|&s| heads[s].0 < heads[s].1)
                    .map(|s| Reverse((key_at(s, heads[s].0), s)))
                    .collect();
                let mut groups: Vec<(u32, u32)> = Vec::new();
                let mut runs: Vec<(u32, u16)> = Vec::new();
                let mut zeros: Vec<(u32, u8)> = Vec::new();
                let mut g = first;
                while let Some(Reverse((key, s))) = heap.pop() {
                    let local = sorted[s].1[heads[s].0] as usize;
                    sorted[s].0[local].store(g as u64, Ordering::Relaxed);
                    heads[s].0 += 1;
                    if heads[s].0 < heads[s].1 {
                        heap.push(Reverse((key_at(s, heads[s].0), s)));
                    }
                    let padded = key >> 14;
                    let high = (padded >> 32) as u32;
                    if groups.last().is_none_or(|x| x.0 != high) {
                        groups.push((high, g as u32));
                    }
                    out[g - first] = padded as u32;
                    let r = match key & 1023 {
                        NO_OVERRIDE => number_of(key).and_then(&region_of),
                        i => over.get(i as usize).copied().flatten(),
                    }
                    .map_or(NO_REGION, |r| r.index() as u16);
                    if runs.last().is_none_or(|x| x.1 != r) {
                        runs.push((g as u32, r));
                    }
                    zeros.extend(number_of(key).and_then(|n| zero_ended(g, n)));
                    g += 1;
                }
                (groups, runs, zeros)
            })
            .collect();
        let mut groups: Vec<(u32, u32)> = Vec::new();
        let mut runs: Vec<(u32, u16)> = Vec::new();
        let mut zero_ended: Vec<(u32, u8)> = Vec::new();
        for (gs, rs, zs) in pieces {
            zero_ended.extend(zs);
            for x in gs {
                if groups.last().is_none_or(|l| l.0 != x.0) {
                    groups.push(x);
                }
            }
            for x in rs {
                if runs.last().is_none_or(|l| l.1 != x.1) {
                    runs.push(x);
                }
            }
        }
        // The id map, in one allocation too; each shard's keys leave as they are copied.
        let keys: Vec<Vec<AtomicU64>> = sorted.into_iter().map(|s| s.0).collect();
        drop(perms);
        let mut remap = Vec::with_capacity(offsets[SHARDS]);
        for k in keys {
            remap.extend(k.into_iter().map(|a| a.into_inner() as u32));
        }
        Finished {
            dict: Dictionary::from_built(groups, low, runs, zero_ended),
            remap,
            offsets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dictionary::order_key;

    #[test]
    fn ids_stay_the_same_after_the_tables_are_freed() {
        let d = Interner::default();
        let key = |i: u64| (Msisdn::from_value(2_348_000_000_000 + i).unwrap(), None);
        let ids: Vec<u32> = (0..100_000).map(|i| d.intern(key(i))).collect();
        d.close();
        for i in (0..100_000).step_by(7) {
            assert_eq!(d.intern(key(i)), ids[i as usize]);
        }
        assert_eq!(d.try_intern(key(5)), Some(ids[5]));
        let other = d.intern(key(100_000));
        assert!(!ids.contains(&other));
        let f = d.finish(|_| None);
        assert_eq!(f.dict.len(), 100_001);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(f.global(id), i as u32, "keys are in number order");
        }
    }

    #[test]
    fn packed_keys_sort_like_order_keys_and_give_back_their_number() {
        let keys: Vec<Key> = [
            "+1",
            "+12",
            "+120",
            "+119",
            "+2348021234567",
            "+999999999999999",
        ]
        .iter()
        .flat_map(|s| {
            let n = Msisdn::parse_e164(s.as_bytes(), 1).unwrap();
            [
                (n, None),
                (n, Region::parse("NG")),
                (n, Region::parse("AC")),
            ]
        })
        .collect();
        for a in &keys {
            assert_eq!(number_of(pack(*a)), Some(a.0));
            for b in &keys {
                assert_eq!(pack(*a).cmp(&pack(*b)), order_key(a).cmp(&order_key(b)));
            }
        }
    }
}
