//! The counterparty dictionary: distinct (number, region) pairs sorted by digit string.
//!
//! Sorting by `(number padded to 15 digits, digit count)` is the same as sorting the digit
//! strings, so the numbers that start with a prefix occupy one contiguous id range, but for
//! its first entries: numbers shorter than the prefix whose digits are the prefix's without
//! its trailing zeros (`+2348031234567` for the prefix `+23480312345670`, `+23480` for
//! `+234800`) pad to the same number as the prefix, sort first among those, and do not start
//! with it. A padded number tells its digit count unless the number ends in 0, so the digit
//! counts of those numbers are kept beside it, and [`Dictionary::prefix_range`] passes over
//! the shorter ones.

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

/// Sorted distinct counterparties with their regions, stored compactly.
///
/// An entry's padded number (below 10^15 < 2^50) is split into its high 18 bits, stored once
/// per group of entries sharing them, and its low 32 bits, stored per entry: 4 bytes per entry
/// instead of 8. Regions are stored as runs over ids (sorted numbers of one country are
/// adjacent, so a dictionary of 21M numbers has a few dozen runs) instead of one per entry.
#[derive(Default)]
pub struct Dictionary {
    /// `(high bits, first id)` of each group of entries with the same high bits, by high bits.
    groups: Vec<(u32, u32)>,
    /// Low 32 bits of each entry's padded number, sorted within a group.
    low: Vec<u32>,
    /// `(first id, region index)` of each run of entries with the same region, by first id;
    /// the first run starts at id 0.
    runs: Vec<(u32, u16)>,
    /// One bit per entry: its number ends in 0 (about a tenth of them). The digit count of
    /// any other entry is its padded number's (see the module); of one that ends in a single
    /// 0, one more.
    zero_bits: Vec<u64>,
    /// `(id, digit count)` of each entry whose number ends in 00 or more, by id (about one in
    /// a hundred).
    long_zeros: Vec<(u32, u8)>,
}

/// No region.
pub const NO_REGION: u16 = u16::MAX;

/// The stored parts of a [`Dictionary`], for the prepared form.
pub struct DictionaryParts<'a> {
    /// `(high bits, first id)` per group.
    pub groups: &'a [(u32, u32)],
    /// Low bits per entry.
    pub low: &'a [u32],
    /// `(first id, region)` per run.
    pub runs: &'a [(u32, u16)],
    /// A bit per entry whose number ends in 0.
    pub zero_bits: &'a [u64],
    /// `(id, digit count)` per entry whose number ends in 00 or more.
    pub long_zeros: &'a [(u32, u8)],
}

/// Zeros at the end of a padded number (15 for 0).
fn trailing_zeros(padded: u64) -> usize {
    (0..15)
        .take_while(|&z| padded.is_multiple_of(POW10[z + 1]))
        .count()
}

/// `(id, digit count)` when number `n` ends in 0 (its padded form does not tell its length).
#[inline]
pub(crate) fn zero_ended(id: usize, n: Msisdn) -> Option<(u32, u8)> {
    n.value()
        .is_multiple_of(10)
        .then_some((id as u32, n.len() as u8))
}

impl Dictionary {
    /// Builds from keys already in dictionary order ([`merge_local`]), resolving regions.
    pub fn from_sorted(
        keys: &[Key],
        region_of: impl Fn(Msisdn) -> Option<Region> + Sync,
    ) -> Dictionary {
        use rayon::prelude::*;
        let regions: Vec<u16> = keys
            .par_iter()
            .map(|(n, r)| {
                r.or_else(|| region_of(*n))
                    .map_or(NO_REGION, |r| r.index() as u16)
            })
            .collect();
        let mut groups: Vec<(u32, u32)> = Vec::new();
        let mut low = Vec::with_capacity(keys.len());
        let mut zeros = Vec::new();
        for (id, (n, _)) in keys.iter().enumerate() {
            zeros.extend(zero_ended(id, *n));
            let padded = lex_key(*n).0;
            let high = (padded >> 32) as u32;
            if groups.last().is_none_or(|g| g.0 != high) {
                groups.push((high, id as u32));
            }
            low.push(padded as u32);
        }
        let mut runs: Vec<(u32, u16)> = Vec::new();
        for (id, r) in regions.iter().enumerate() {
            if runs.last().is_none_or(|run| run.1 != *r) {
                runs.push((id as u32, *r));
            }
        }
        Dictionary::default_with(groups, low, runs).with_zero_ended(&zeros)
    }

    /// From parts built in dictionary order by the build ([`crate::index::interner`]).
    pub(crate) fn from_built(
        groups: Vec<(u32, u32)>,
        low: Vec<u32>,
        runs: Vec<(u32, u16)>,
        zero_ended: Vec<(u32, u8)>,
    ) -> Dictionary {
        Dictionary::default_with(groups, low, runs).with_zero_ended(&zero_ended)
    }

    /// A dictionary of these parts whose numbers all end in a digit other than 0.
    fn default_with(groups: Vec<(u32, u32)>, low: Vec<u32>, runs: Vec<(u32, u16)>) -> Dictionary {
        Dictionary {
            groups,
            low,
            runs,
            zero_bits: Vec::new(),
            long_zeros: Vec::new(),
        }
    }

    /// The dictionary with the entries of `list` (`(id, digit count)`, by id) marked as
    /// numbers that end in 0.
    fn with_zero_ended(mut self, list: &[(u32, u8)]) -> Dictionary {
        self.zero_bits = vec![0; self.low.len().div_ceil(64)];
        for &(id, len) in list {
            self.zero_bits[id as usize / 64] |= 1 << (id % 64);
            if usize::from(len) != 16 - trailing_zeros(self.padded(id as usize)) {
                self.long_zeros.push((id, len));
            }
        }
        self
    }

    /// The stored parts, for the prepared form.
    pub fn parts(&self) -> DictionaryParts<'_> {
        DictionaryParts {
            groups: &self.groups,
            low: &self.low,
            runs: &self.runs,
            zero_bits: &self.zero_bits,
            long_zeros: &self.long_zeros,
        }
    }

    /// Rebuilds from parts read back from the prepared form; `None` when they are not a
    /// dictionary (groups or runs out of order, low bits unsorted within a group, a number
    /// marked as ending in 0 whose padded number cannot, a digit count out of order or that
    /// does not end its number with 00).
    pub fn from_parts(
        groups: Vec<(u32, u32)>,
        low: Vec<u32>,
        runs: Vec<(u32, u16)>,
        zero_bits: Vec<u64>,
        long_zeros: Vec<(u32, u8)>,
    ) -> Option<Dictionary> {
        let n = low.len();
        let starts_ok = |starts: &mut dyn Iterator<Item = u32>| {
            let v: Vec<u32> = starts.collect();
            (n == 0 && v.is_empty())
                || (v.first() == Some(&0)
                    && v.windows(2).all(|w| w[0] < w[1])
                    && v.last().is_some_and(|&l| (l as usize) < n))
        };
        let ok = starts_ok(&mut groups.iter().map(|g| g.1))
            && groups.windows(2).all(|w| w[0].0 < w[1].0)
            && groups.iter().all(|g| g.0 < 1 << 18)
            && starts_ok(&mut runs.iter().map(|r| r.0))
            && runs.windows(2).all(|w| w[0].1 != w[1].1)
            && runs
                .iter()
                .all(|r| r.1 == NO_REGION || usize::from(r.1) < crate::model::region::REGION_SLOTS);
        if !ok {
            return None;
        }
        let d = Dictionary {
            groups,
            low,
            runs,
            zero_bits,
            long_zeros,
        };
        let sorted = (0..d.groups.len()).all(|g| {
            let (s, e) = d.group_bounds(g);
            d.low[s..e].windows(2).all(|w| w[0] <= w[1])
        });
        let bit = |id: usize| d.zero_bits[id / 64] >> (id % 64) & 1 == 1;
        // Every bit an entry's (none past the last), on a padded number with a zero to spare.
        let marked = d.zero_bits.len() == n.div_ceil(64)
            && (n.is_multiple_of(64) || d.zero_bits.last().is_none_or(|w| w >> (n % 64) == 0))
            && (0..n)
                .filter(|&id| bit(id))
                .all(|id| trailing_zeros(d.padded(id)) >= 1);
        let counted = d.long_zeros.windows(2).all(|w| w[0].0 < w[1].0)
            && d.long_zeros.iter().all(|&(id, len)| {
                let (id, len) = (id as usize, usize::from(len));
                marked && id < n && bit(id) && len <= 15 && {
                    let padded = d.padded(id);
                    len >= 17 - trailing_zeros(padded).min(15)
                        && padded.is_multiple_of(POW10[15 - len])
                }
            });
        // Equal padded numbers in digit-count order (the order `prefix_range` passes over).
        let ordered = sorted
            && marked
            && counted
            && (0..d.groups.len()).all(|g| {
                let (s, e) = d.group_bounds(g);
                (s + 1..e).all(|id| {
                    d.low[id] != d.low[id - 1] || {
                        let padded = d.padded(id);
                        d.digit_count(id - 1, padded) <= d.digit_count(id, padded)
                    }
                })
            });
        ordered.then_some(d)
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.low.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    /// Heap bytes.
    pub fn bytes(&self) -> usize {
        self.groups.capacity() * 8
            + self.low.capacity() * 4
            + self.runs.capacity() * 8
            + self.zero_bits.capacity() * 8
            + self.long_zeros.capacity() * 8
    }

    /// The padded number of entry `id`.
    fn padded(&self, id: usize) -> u64 {
        let g = self.groups.partition_point(|gr| gr.1 as usize <= id) - 1;
        (u64::from(self.groups[g].0) << 32) | u64::from(self.low[id])
    }

    /// The digit count of entry `id`, whose padded number is `padded`.
    fn digit_count(&self, id: usize, padded: u64) -> usize {
        // A number that does not end in 0 ends where its padding starts.
        let plain = 15 - trailing_zeros(padded);
        if self
            .zero_bits
            .get(id / 64)
            .is_none_or(|w| w >> (id % 64) & 1 == 0)
        {
            return plain;
        }
        match self.long_zeros.binary_search_by_key(&(id as u32), |z| z.0) {
            Ok(k) => usize::from(self.long_zeros[k].1),
            Err(_) => plain + 1,
        }
    }

    /// Id range of group `g`.
    fn group_bounds(&self, g: usize) -> (usize, usize) {
        let end = self
            .groups
            .get(g + 1)
            .map_or(self.low.len(), |n| n.1 as usize);
        (self.groups[g].1 as usize, end)
    }

    /// Number of entries whose padded number is below `x`.
    fn rank(&self, x: u64) -> usize {
        let high = x >> 32;
        let g = self.groups.partition_point(|gr| u64::from(gr.0) < high);
        let Some(&(h, start)) = self.groups.get(g) else {
            return self.low.len();
        };
        if u64::from(h) > high {
            return start as usize;
        }
        let (s, e) = self.group_bounds(g);
        s + self.low[s..e].partition_point(|&l| l < x as u32)
    }

    /// Runs of ids with one region: `(ids, region index)`, [`NO_REGION`] for none.
    pub fn region_runs(&self) -> impl Iterator<Item = (std::ops::Range<usize>, u16)> + '_ {
        self.runs.iter().enumerate().map(|(i, &(start, region))| {
            let end = self
                .runs
                .get(i + 1)
                .map_or(self.low.len(), |r| r.0 as usize);
            (start as usize..end, region)
        })
    }

    /// Ids of the numbers starting with the prefix (`len` digits, value `digits`).
    pub fn prefix_range(&self, len: usize, digits: u64) -> std::ops::Range<usize> {
        if len == 0 || len > 15 {
            return 0..0;
        }
        let lo = digits * POW10[15 - len];
        let hi = (digits + 1) * POW10[15 - len];
        let (mut start, end) = (self.rank(lo), self.rank(hi));
        // Numbers shorter than the prefix that pad to it come first: they do not start with it.
        while start < end && self.padded(start) == lo && self.digit_count(start, lo) < len {
            start += 1;
        }
        start..end
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

    /// A reproducible stream of pseudo-random numbers (xorshift64).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn compact_dictionary_ranks_like_a_sorted_list_of_digit_strings() {
        // Numbers over many countries and lengths (many high-bit groups), some repeated with a
        // region override; every prefix range must equal a count over the digit strings.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut keys: Vec<Key> = Vec::new();
        for _ in 0..3000 {
            let len = 8 + (next() % 8) as usize;
            let first = 1 + next() % 9;
            let rest = next() % super::POW10[len - 1];
            let n = Msisdn::from_value(first * super::POW10[len - 1] + rest).unwrap();
            keys.push((n, None));
            if next().is_multiple_of(10) {
                keys.push((n, Region::parse("NG")));
            }
        }
        let (sorted, _) = merge_local(&[&keys]);
        let region_of = |n: Msisdn| {
            Region::parse(if n.to_string().starts_with("+2") {
                "NG"
            } else {
                "JM"
            })
        };
        let d = Dictionary::from_sorted(&sorted, region_of);
        assert_eq!(d.len(), sorted.len());
        assert!(d.groups.len() > 100, "{} groups", d.groups.len());
        let digits: Vec<String> = sorted
            .iter()
            .map(|(n, _)| n.to_string()[1..].to_owned())
            .collect();
        for prefix in [
            "1",
            "2",
            "23",
            "234",
            "9",
            "44",
            "5",
            "8888",
            "12345678",
            "999999999999999",
        ] {
            let want: Vec<usize> = (0..digits.len())
                .filter(|&i| digits[i].starts_with(prefix))
                .collect();
            let got = d.prefix_range(prefix.len(), prefix.parse().unwrap());
            assert_eq!(got.clone().collect::<Vec<_>>(), want, "prefix {prefix}");
        }
        for (i, (n, _)) in sorted.iter().enumerate().step_by(37) {
            let s = &n.to_string()[1..];
            let r = d.prefix_range(s.len(), s.parse().unwrap());
            assert!(r.contains(&i), "{s}");
        }
        // Regions as runs: every id is in exactly one run, with its own region.
        let mut covered = 0;
        for (ids, region) in d.region_runs() {
            for id in ids {
                assert_eq!(id, covered);
                let (n, over) = sorted[id];
                let own = over.or_else(|| region_of(n));
                assert_eq!(region, own.unwrap().index() as u16);
                covered += 1;
            }
        }
        assert_eq!(covered, d.len());
        // The parts round-trip, and damaged parts are refused.
        let p = d.parts();
        let (g, l, r) = (p.groups.to_vec(), p.low.to_vec(), p.runs.to_vec());
        let (z, long) = (p.zero_bits.to_vec(), p.long_zeros.to_vec());
        let ends_in_0: u32 = z.iter().map(|w| w.count_ones()).sum();
        assert!(
            ends_in_0 > 100 && long.len() > 10,
            "{ends_in_0} end in 0, {}",
            long.len()
        );
        let back = Dictionary::from_parts(g.clone(), l.clone(), r.clone(), z.clone(), long.clone())
            .unwrap();
        assert_eq!(back.prefix_range(3, 234), d.prefix_range(3, 234));
        let mut unsorted = l.clone();
        unsorted.swap(0, 1);
        assert!(
            Dictionary::from_parts(g.clone(), unsorted, r.clone(), z.clone(), long.clone())
                .is_none()
                || l[0] == l[1]
        );
        let mut bad_runs = r.clone();
        bad_runs[0].0 = 1;
        let parts = |g: &[(u32, u32)], r: &[(u32, u16)], z: &[u64], long: &[(u32, u8)]| {
            Dictionary::from_parts(g.to_vec(), l.clone(), r.to_vec(), z.to_vec(), long.to_vec())
        };
        assert!(parts(&g, &bad_runs, &z, &long).is_none());
        let mut bad_groups = g.clone();
        bad_groups.swap(0, 1);
        assert!(parts(&bad_groups, &r, &z, &long).is_none());
        // A digit count that does not end its number with 00, or out of order; a number
        // marked as ending in 0 whose padded number has no zero to spare; a bit past the end.
        let mut bad_count = long.clone();
        // The count of the same digits ending in a single 0, and one past E.164.
        bad_count[0].1 = (16 - trailing_zeros(d.padded(long[0].0 as usize))) as u8;
        assert!(parts(&g, &r, &z, &bad_count).is_none());
        bad_count[0].1 = 16;
        assert!(parts(&g, &r, &z, &bad_count).is_none());
        let mut unordered = long.clone();
        unordered.swap(0, 1);
        assert!(parts(&g, &r, &z, &unordered).is_none());
        let full = (0..d.len())
            .find(|&id| !d.padded(id).is_multiple_of(10))
            .expect("a 15-digit number ending in 1-9");
        let mut marked = z.clone();
        marked[full / 64] |= 1 << (full % 64);
        assert!(parts(&g, &r, &marked, &long).is_none());
        let mut past = z.clone();
        if !d.len().is_multiple_of(64) {
            *past.last_mut().unwrap() |= 1 << 63;
            assert!(parts(&g, &r, &past, &long).is_none());
        }
        assert!(parts(&g, &r, &z[1..], &long).is_none());
    }

    /// A prefix made of a number and trailing zeros (`+23480312345670`, `+234800`) pads to
    /// the same number as that number (`+2348031234567`, `+23480`), which does not start
    /// with it: every prefix range equals a count over the digit strings, for numbers that
    /// end in zeros and prefixes that are numbers with zeros added or taken away.
    #[test]
    fn a_number_is_not_in_the_range_of_itself_with_zeros_added() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut texts: Vec<String> = Vec::new();
        for _ in 0..2000 {
            let len = 5 + (next() % 11) as usize;
            let mut t: String = (0..len)
                .map(|i| char::from(b'0' + (next() % 10) as u8 + u8::from(i == 0)))
                .map(|c| if c > '9' { '1' } else { c })
                .collect();
            // Often a number that ends in zeros, or a shorter or longer one of the same digits.
            let zeros = (next() % 4) as usize;
            t.truncate(len - zeros.min(len - 5));
            t.push_str(&"0".repeat(zeros.min(15 - t.len())));
            texts.push(t.clone());
            if next().is_multiple_of(3) {
                let cut = t.trim_end_matches('0');
                if cut.len() >= 5 {
                    texts.push(cut.to_owned());
                }
            }
        }
        texts.extend(
            [
                "23480",
                "2348",
                "234800",
                "2348000",
                "2348031234567",
                "23480312345670",
            ]
            .map(String::from),
        );
        let keys: Vec<Key> = texts
            .iter()
            .map(|t| {
                (
                    Msisdn::parse_e164(format!("+{t}").as_bytes(), 1).unwrap(),
                    None,
                )
            })
            .collect();
        let (sorted, _) = merge_local(&[&keys]);
        let d = Dictionary::from_sorted(&sorted, |_| None);
        let digits: Vec<String> = (sorted.iter())
            .map(|(n, _)| n.to_string()[1..].to_owned())
            .collect();
        let mut prefixes: Vec<String> = Vec::new();
        for t in &digits {
            for k in 1..=t.len() {
                prefixes.push(t[..k].to_owned());
            }
            for z in 1..=(15 - t.len()) {
                prefixes.push(format!("{t}{}", "0".repeat(z)));
            }
        }
        let mut wrong = 0;
        for p in &prefixes {
            let want: Vec<usize> = (0..digits.len())
                .filter(|&i| digits[i].starts_with(p.as_str()))
                .collect();
            let got: Vec<usize> = d.prefix_range(p.len(), p.parse().unwrap()).collect();
            if got != want {
                wrong += 1;
                assert!(wrong < 5, "prefix {p}: {got:?}, want {want:?}");
            }
        }
        assert_eq!(wrong, 0);
        // Digit counts out of order among equal padded numbers (a forged file): refused.
        let pair: Vec<Key> = ["2348031234567", "23480312345670"]
            .iter()
            .map(|t| {
                (
                    Msisdn::parse_e164(format!("+{t}").as_bytes(), 1).unwrap(),
                    None,
                )
            })
            .collect();
        let (pair, _) = merge_local(&[&pair]);
        let two = Dictionary::from_sorted(&pair, |_| None);
        let p = two.parts();
        let (g, l, r, z) = (
            p.groups.to_vec(),
            p.low.to_vec(),
            p.runs.to_vec(),
            p.zero_bits.to_vec(),
        );
        assert!(
            Dictionary::from_parts(g.clone(), l.clone(), r.clone(), z.clone(), vec![]).is_some()
        );
        let mut forged = z.clone();
        forged[0] |= 1;
        assert!(Dictionary::from_parts(g, l, r, forged, vec![(0, 15)]).is_none());
        let of = |p: &str| {
            d.prefix_range(p.len(), p.parse().unwrap())
                .map(|i| digits[i].clone())
                .collect::<Vec<_>>()
        };
        assert!(!of("23480312345670").contains(&"2348031234567".to_owned()));
        assert!(!of("234800").contains(&"23480".to_owned()));
        assert!(of("234800").contains(&"234800".to_owned()));
    }
}
