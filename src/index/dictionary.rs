//! The counterparty dictionary: distinct (number, region) pairs sorted by digit string.
//!
//! Sorting by `(number padded to 15 digits, digit count)` is the same as sorting the digit
//! strings, so the numbers that start with a prefix occupy one contiguous id range.

use crate::model::phone::{Msisdn, POW10};
use crate::model::region::Region;

/// A dictionary key: a number, and the region the input gave for it (if any).
pub type Key = (Msisdn, Option<Region>);

/// Sort key of a number in digit-string order.
#[inline]
pub fn lex_key(n: Msisdn) -> (u64, u8) {
    let len = n.len();
    (n.value() * POW10[15 - len], len as u8)
}

/// Sorted distinct counterparties with their regions.
#[derive(Default)]
pub struct Dictionary {
    /// Padded numbers, sorted (ties: shorter first, then by region override).
    padded: Vec<u64>,
    /// Region of each entry: the override, or the number's own (`u16::MAX` = none).
    regions: Vec<u16>,
}

/// No region.
pub const NO_REGION: u16 = u16::MAX;

impl Dictionary {
    /// Builds from keys already sorted by [`sort_keys`] and deduplicated, resolving regions.
    pub fn from_sorted(
        keys: &[Key],
        region_of: impl Fn(Msisdn) -> Option<Region> + Sync,
    ) -> Dictionary {
        use rayon::prelude::*;
        let padded = keys.iter().map(|(n, _)| lex_key(*n).0).collect();
        let regions = keys
            .par_iter()
            .map(|(n, r)| {
                r.or_else(|| region_of(*n))
                    .map_or(NO_REGION, |r| r.index() as u16)
            })
            .collect();
        Dictionary { padded, regions }
    }

    /// The raw arrays (padded numbers, region indices), for the prepared form.
    pub fn parts(&self) -> (&[u64], &[u16]) {
        (&self.padded, &self.regions)
    }

    /// Rebuilds from raw arrays read back from the prepared form.
    pub fn from_parts(padded: Vec<u64>, regions: Vec<u16>) -> Dictionary {
        Dictionary { padded, regions }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.padded.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.padded.is_empty()
    }

    /// Heap bytes.
    pub fn bytes(&self) -> usize {
        self.padded.capacity() * 8 + self.regions.capacity() * 2
    }

    /// Region index of entry `id` ([`NO_REGION`] when none).
    pub fn region(&self, id: usize) -> u16 {
        self.regions[id]
    }

    /// Ids of the numbers starting with the prefix (`len` digits, value `digits`).
    pub fn prefix_range(&self, len: usize, digits: u64) -> std::ops::Range<usize> {
        if len == 0 || len > 15 {
            return 0..0;
        }
        let lo = digits * POW10[15 - len];
        let hi = (digits + 1) * POW10[15 - len];
        let a = self.padded.partition_point(|&p| p < lo);
        let b = self.padded.partition_point(|&p| p < hi);
        a..b
    }
}

/// Sorts keys in dictionary order and removes duplicates.
pub fn sort_keys(keys: &mut Vec<Key>) {
    use rayon::prelude::*;
    keys.par_sort_unstable_by_key(|(n, r)| (lex_key(*n), r.map_or(u16::MAX, |r| r.index() as u16)));
    keys.dedup();
}

/// Position of a key in sorted keys.
pub fn position(sorted: &[Key], k: &Key) -> Option<usize> {
    let key = |(n, r): &Key| (lex_key(*n), r.map_or(u16::MAX, |r| r.index() as u16));
    sorted.binary_search_by_key(&key(k), key).ok()
}
