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
    /// Builds from keys already in dictionary order ([`merge_local`]), resolving regions.
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

/// A key's position in dictionary order as one integer: padded number, digit count, region
/// override (none last). Comparing these is comparing digit strings.
#[inline]
pub fn order_key((n, r): &Key) -> u128 {
    let (padded, len) = lex_key(*n);
    (u128::from(padded) << 24)
        | (u128::from(len) << 16)
        | u128::from(r.map_or(u16::MAX, |r| r.index() as u16))
}

/// Merges several workers' local dictionaries into one sorted, deduplicated key list, and
/// returns for each worker the map from its local ids to global ids. Each worker's keys are
/// sorted on their [`order_key`] (in parallel), then one linear k-way merge assigns ids: no
/// global sort and no per-key search.
pub fn merge_local(locals: &[&[Key]]) -> (Vec<Key>, Vec<Vec<u32>>) {
    use rayon::prelude::*;
    let sorted: Vec<Vec<(u128, u32)>> = locals
        .par_iter()
        .map(|keys| {
            let mut v: Vec<(u128, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (order_key(k), i as u32))
                .collect();
            v.par_sort_unstable();
            v
        })
        .collect();
    let mut remaps: Vec<Vec<u32>> = locals.iter().map(|k| vec![0; k.len()]).collect();
    let mut heads = vec![0usize; sorted.len()];
    let mut merged: Vec<Key> = Vec::with_capacity(sorted.iter().map(Vec::len).max().unwrap_or(0));
    let mut last: Option<u128> = None;
    loop {
        // The smallest head among the workers (few workers: a linear pick is fastest).
        let mut best: Option<(u128, usize)> = None;
        for (w, v) in sorted.iter().enumerate() {
            if let Some(&(k, _)) = v.get(heads[w])
                && best.is_none_or(|(b, _)| k < b)
            {
                best = Some((k, w));
            }
        }
        let Some((k, w)) = best else { break };
        let (_, local) = sorted[w][heads[w]];
        heads[w] += 1;
        if last != Some(k) {
            merged.push(locals[w][local as usize]);
            last = Some(k);
        }
        remaps[w][local as usize] = (merged.len() - 1) as u32;
    }
    (merged, remaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str, r: Option<&str>) -> Key {
        (
            Msisdn::parse_e164(s.as_bytes(), 1).unwrap(),
            r.and_then(Region::parse),
        )
    }

    #[test]
    fn merge_orders_by_digit_string_and_maps_every_local_id() {
        let a = vec![
            k("+2348021234567", None),
            k("+12", None),
            k("+886221234567", Some("NG")),
        ];
        let b = vec![
            k("+120", None),
            k("+2348021234567", None),
            k("+886221234567", None),
            k("+119", None),
        ];
        let (merged, remaps) = merge_local(&[&a, &b]);
        let shown: Vec<String> = merged
            .iter()
            .map(|(n, r)| format!("{n}{}", r.map(|r| format!("@{r}")).unwrap_or_default()))
            .collect();
        assert_eq!(
            shown,
            [
                "+119",
                "+12",
                "+120",
                "+2348021234567",
                "+886221234567@NG",
                "+886221234567"
            ]
        );
        for (local, remap) in [(&a, &remaps[0]), (&b, &remaps[1])] {
            for (i, key) in local.iter().enumerate() {
                assert_eq!(&merged[remap[i] as usize], key);
            }
        }
        let d = Dictionary::from_sorted(&merged, |_| None);
        assert_eq!(
            d.prefix_range(2, 12),
            1..3,
            "+12 covers +12 and +120, not +119"
        );
        assert_eq!(d.prefix_range(3, 886), 4..6);
    }
}
