//! Hotzones (REFERENCE.md §3): a non-empty set of region codes and E.164 prefixes.
//!
//! A counterparty is hot when its region is one of the region entries, or its number starts
//! with one of the prefix entries. Withheld/unknown counterparties are never hot. Matching is
//! allocation-free: regions are a 676-bit set, prefixes are disjoint ranges of numbers padded
//! to 15 digits, compared as
//! integers.

use std::fmt;

use crate::error::Error;
use crate::model::phone::{Msisdn, POW10};
use crate::model::region::{REGION_RULE, Region};
use crate::model::shown::shown;

/// At most this many entries in one hotzone (REFERENCE.md §4).
pub const MAX_ENTRIES: usize = 300;

/// One entry of a hotzone.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum HotzoneEntry {
    /// Counterparties whose region is this code.
    Region(Region),
    /// Counterparties whose number starts with these digits: (digit count, digits value).
    Prefix {
        /// Number of digits.
        len: u8,
        /// The digits as an integer.
        digits: u64,
    },
}

impl HotzoneEntry {
    /// Parses `NG` or `+882`. The error names the rule that failed.
    pub fn parse(s: &str) -> Result<HotzoneEntry, String> {
        let s = s.trim();
        if let Some(d) = s.strip_prefix('+') {
            if d.is_empty() || d.len() > 15 || !d.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "entry {} is not an E.164 prefix ('+' then 1 to 15 digits)",
                    shown(s)
                ));
            }
            let digits = d.parse::<u64>().map_err(|e| e.to_string())?;
            if d.starts_with('0') {
                return Err(format!(
                    "entry {} is not an E.164 prefix (no calling code starts with 0)",
                    shown(s)
                ));
            }
            let len = u8::try_from(d.len()).map_err(|e| e.to_string())?;
            return Ok(HotzoneEntry::Prefix { len, digits });
        }
        Region::parse(s).map(HotzoneEntry::Region).ok_or_else(|| {
            format!(
                "entry {} is neither {REGION_RULE} nor an E.164 prefix",
                shown(s)
            )
        })
    }
}

impl fmt::Display for HotzoneEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HotzoneEntry::Region(r) => write!(f, "{r}"),
            HotzoneEntry::Prefix { len, digits } => {
                write!(f, "+{digits:0width$}", width = usize::from(*len))
            }
        }
    }
}

/// A validated, non-empty hotzone, ready for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hotzone {
    entries: Vec<HotzoneEntry>,
    regions: [u64; 11],
    /// Prefix entries as disjoint ranges of numbers padded to 15 digits, sorted:
    /// `(low, high, prefix length)`. A number starts with the prefix exactly when its padded
    /// value is in `[low, high)` and it has at least `length` digits. Prefixes nested in a
    /// shorter one are dropped (the shorter one already matches them).
    ranges: Vec<(u64, u64, u8)>,
    /// What the first three digits of a padded number say about the prefix entries, one
    /// entry per 100..=999 (below 100: unused; empty without prefix entries): 0 when no
    /// range meets them, `m` (1 to 3) when one prefix of `m` digits covers them all (hot from
    /// `m` digits on), [`LONGER`] when a longer prefix starts with them (the ranges decide).
    lead: Vec<u8>,
}

/// A [`Hotzone::lead`] entry: a prefix longer than three digits starts with these digits.
const LONGER: u8 = u8::MAX;

/// Numbers padded to 15 digits with the same first three digits span this many values.
const LEAD_SPAN: u64 = POW10[12];

impl Hotzone {
    /// Builds from entries; empty or more than [`MAX_ENTRIES`] is an error naming `field`.
    pub fn new(field: &str, entries: Vec<HotzoneEntry>) -> Result<Hotzone, Error> {
        if entries.is_empty() {
            return Err(Error::invalid(field, "must hold at least one entry"));
        }
        // Past the limit: OUT_OF_RANGE, as every value past a limit is (§6).
        if entries.len() > MAX_ENTRIES {
            return Err(Error::out_of_range(
                field,
                format!(
                    "must hold at most {MAX_ENTRIES} entries (got {})",
                    entries.len()
                ),
            ));
        }
        let mut entries = entries;
        entries.sort();
        entries.dedup();
        let mut regions = [0u64; 11];
        let mut ranges: Vec<(u64, u64, u8)> = Vec::new();
        for e in &entries {
            match *e {
                HotzoneEntry::Region(r) => regions[r.index() / 64] |= 1 << (r.index() % 64),
                HotzoneEntry::Prefix { len, digits } => {
                    let scale = POW10[15 - usize::from(len)];
                    ranges.push((digits * scale, (digits + 1) * scale, len));
                }
            }
        }
        // Sorted by low end, shorter (outer) prefix first; then drop ranges nested in the
        // previous kept one. Prefixes are either nested or disjoint, so the rest are disjoint.
        ranges.sort_unstable_by_key(|&(lo, _, len)| (lo, len));
        let mut kept: Vec<(u64, u64, u8)> = Vec::with_capacity(ranges.len());
        for r in ranges {
            if kept.last().is_none_or(|k| r.0 >= k.1) {
                kept.push(r);
            }
        }
        let ranges = kept;
        let lead = (0..if ranges.is_empty() { 0 } else { 1000u64 })
            .map(|l| {
                let (lo, hi) = (l * LEAD_SPAN, (l + 1) * LEAD_SPAN);
                match ranges.iter().find(|r| r.0 < hi && r.1 > lo) {
                    None => 0,
                    Some(r) if r.0 <= lo && r.1 >= hi => r.2,
                    Some(_) => LONGER,
                }
            })
            .collect();
        Ok(Hotzone {
            entries,
            regions,
            ranges,
            lead,
        })
    }

    /// Parses a comma-separated list (`NG,JM,+882`); errors name `field` and the bad entry.
    pub fn parse_list(field: &str, s: &str) -> Result<Hotzone, Error> {
        let items: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .collect();
        Self::parse_items(field, &items)
    }

    /// Parses entries given one by one.
    pub fn parse_items<S: AsRef<str>>(field: &str, items: &[S]) -> Result<Hotzone, Error> {
        let entries = items
            .iter()
            .map(|s| HotzoneEntry::parse(s.as_ref()).map_err(|rule| Error::invalid(field, rule)))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(field, entries)
    }

    /// The entries, sorted and deduplicated.
    pub fn entries(&self) -> &[HotzoneEntry] {
        &self.entries
    }

    /// True when `r` is one of the region entries.
    #[inline]
    pub fn has_region(&self, r: Region) -> bool {
        self.regions[r.index() / 64] >> (r.index() % 64) & 1 == 1
    }

    /// True when the region with dense index `i` ([`Region::index`]) is an entry.
    #[inline]
    pub fn has_region_index(&self, i: usize) -> bool {
        i < 676 && self.regions[i / 64] >> (i % 64) & 1 == 1
    }

    /// True when there is at least one region entry.
    pub fn has_regions(&self) -> bool {
        self.regions.iter().any(|w| *w != 0)
    }

    /// True when `n` starts with one of the prefix entries.
    #[inline(always)]
    pub fn matches_prefix(&self, n: Msisdn) -> bool {
        let len = n.len();
        let padded = n.value() * POW10[15 - len];
        // The first three digits decide, unless a longer prefix starts with them (no table:
        // no prefix entry).
        match self.lead.get((padded / LEAD_SPAN) as usize) {
            None | Some(0) => false,
            Some(&LONGER) => self.in_ranges(padded, len),
            Some(&m) => len >= usize::from(m),
        }
    }

    /// True when `padded` (a number of `len` digits padded to 15) is in a prefix range and
    /// has at least the prefix's digits.
    #[inline(never)]
    fn in_ranges(&self, padded: u64, len: usize) -> bool {
        let hit = if self.ranges.len() <= 8 {
            self.ranges.iter().find(|r| padded >= r.0 && padded < r.1)
        } else {
            let i = self.ranges.partition_point(|r| r.0 <= padded);
            i.checked_sub(1)
                .map(|i| &self.ranges[i])
                .filter(|r| padded < r.1)
        };
        hit.is_some_and(|r| len >= usize::from(r.2))
    }

    /// REFERENCE.md §3: hot when the region (as resolved, or from the input column) is an entry, or the
    /// number starts with a prefix entry.
    #[inline]
    pub fn is_hot(&self, n: Msisdn, region: Option<Region>) -> bool {
        region.is_some_and(|r| self.has_region(r)) || self.matches_prefix(n)
    }
}

impl Hotzone {
    /// The hotzone as the events it selects: its regions, then the prefixes left once those
    /// nested in a shorter one are dropped, comma-separated (`NG,+234,+88` for
    /// `+2348,NG,+88,+234`). Two hotzones that select the same numbers by the same entries
    /// have one canonical text.
    pub fn canonical(&self) -> String {
        let regions = self.entries.iter().filter_map(|e| match e {
            HotzoneEntry::Region(r) => Some(r.to_string()),
            HotzoneEntry::Prefix { .. } => None,
        });
        let prefixes = self.ranges.iter().map(|&(lo, _, len)| {
            let digits = lo / POW10[15 - usize::from(len)];
            HotzoneEntry::Prefix { len, digits }.to_string()
        });
        regions.chain(prefixes).collect::<Vec<_>>().join(",")
    }
}

impl fmt::Display for Hotzone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Msisdn {
        Msisdn::parse_e164(s.as_bytes(), 1).unwrap()
    }

    #[test]
    fn canonical_text_drops_nested_prefixes_and_orders_entries() {
        let a = Hotzone::parse_list("h", "+2348, NG ,+88,+234,NG").unwrap();
        let b = Hotzone::parse_list("h", "NG,+234,+88").unwrap();
        assert_eq!(a.canonical(), "NG,+234,+88");
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(
            a.canonical(),
            Hotzone::parse_list("h", "NG,+2348,+88")
                .unwrap()
                .canonical()
        );
    }

    #[test]
    fn parses_regions_and_prefixes() {
        let h = Hotzone::parse_list("hotzone", "NG, JM,+882,+2376").unwrap();
        assert_eq!(h.to_string(), "JM,NG,+882,+2376");
        assert!(h.has_region(Region::parse("NG").unwrap()));
        assert!(!h.has_region(Region::parse("US").unwrap()));
        assert!(h.matches_prefix(n("+88216123456")));
        assert!(h.matches_prefix(n("+2376123")));
        assert!(!h.matches_prefix(n("+2377123")));
        assert!(!h.matches_prefix(n("+88")));
        assert!(h.is_hot(n("+10000"), Region::parse("JM")));
        assert!(!h.is_hot(n("+10000"), None));
    }

    #[test]
    fn rejects_bad_entries_naming_them() {
        for (input, needle) in [
            ("", "at least one"),
            ("ng", "\"ng\""),
            ("XX", "\"XX\""),
            ("+", "E.164 prefix"),
            ("+12a", "E.164 prefix"),
            ("+0123", "starts with 0"),
            ("+1234567890123456", "E.164 prefix"),
        ] {
            let e = Hotzone::parse_list("hotzone", input)
                .unwrap_err()
                .to_string();
            assert!(e.contains("hotzone") && e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn caps_entries() {
        let many: Vec<String> = (0..301).map(|i| format!("+{}", 1000 + i)).collect();
        let e = Hotzone::parse_items("hotzone", &many)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 300"), "{e}");
        assert!(Hotzone::parse_items("hotzone", &many[..300]).is_ok());
    }

    #[test]
    fn nested_prefixes_and_short_numbers() {
        let h = Hotzone::parse_list("hotzone", "+234,+23,+2350").unwrap();
        assert!(h.matches_prefix(n("+2351234")), "+23 covers +235…");
        assert!(
            h.matches_prefix(n("+23")),
            "a number equal to the prefix starts with it"
        );
        let h = Hotzone::parse_list("hotzone", "+2350").unwrap();
        assert!(!h.matches_prefix(n("+235")), "3 digits cannot start with 4");
        assert!(h.matches_prefix(n("+2350")));
        assert!(h.matches_prefix(n("+235012345678901")));
        assert!(!h.matches_prefix(n("+2351")));
        let h = Hotzone::parse_list("hotzone", "+999999999999999").unwrap();
        assert!(h.matches_prefix(n("+999999999999999")));
        assert!(!h.matches_prefix(n("+99999999999999")));
    }

    /// The three-digit table and the ranges answer like the rule itself (the number's digits
    /// start with a prefix's digits), for random prefix sets of 1 to 6 digits, nested or
    /// not, and numbers of every length, many of them near a prefix.
    #[test]
    fn matches_prefix_is_starts_with() {
        use rand::rngs::Xoshiro256PlusPlus;
        use rand::{Rng, SeedableRng};
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
        let mut rnd = move |n: u64| rng.next_u64() % n;
        for _ in 0..300 {
            let prefixes: Vec<String> = (0..1 + rnd(8))
                .map(|_| {
                    let len = 1 + rnd(6) as u32;
                    (POW10[len as usize - 1] + rnd(9 * POW10[len as usize - 1])).to_string()
                })
                .collect();
            let list: Vec<String> = prefixes.iter().map(|p| format!("+{p}")).collect();
            let h = Hotzone::parse_items("hotzone", &list).unwrap();
            for _ in 0..400 {
                // A number made from a prefix (cut, kept or extended) or at random.
                let base = &prefixes[rnd(prefixes.len() as u64) as usize];
                let digits = match rnd(3) {
                    0 => base[..1 + rnd(base.len() as u64) as usize].to_string(),
                    1 => {
                        let width = rnd(10) as usize;
                        format!("{base}{}", rnd(POW10[width]))
                    }
                    _ => {
                        let width = 1 + rnd(14) as usize;
                        (1 + rnd(POW10[width])).to_string()
                    }
                };
                if digits.len() > 15 || digits.starts_with('0') {
                    continue;
                }
                let want = prefixes.iter().any(|p| digits.starts_with(p.as_str()));
                assert_eq!(
                    h.matches_prefix(n(&format!("+{digits}"))),
                    want,
                    "{list:?} {digits}"
                );
            }
        }
    }

    #[test]
    fn many_prefixes_use_binary_search_correctly() {
        let many: Vec<String> = (0..50).map(|i| format!("+{}", 2000 + 2 * i)).collect();
        let h = Hotzone::parse_items("hotzone", &many).unwrap();
        assert!(h.matches_prefix(n("+20401234")));
        assert!(!h.matches_prefix(n("+20411234")));
    }
}
