//! Is this counterparty in the hotzone? (REFERENCE.md §3), with regions resolved once per number.
//!
//! Most calling codes belong to one region, whose numbers need no parsing. A number of a
//! shared code (+1, +7, +44, …) always gets one of that code's regions, so when the hotzone
//! names none of them the number cannot be in it by region and nothing is evaluated (`NG,JM`
//! only evaluates +1 numbers: JM shares +1). The others are classified by the metadata's
//! patterns (`model::region`, about a microsecond) once, and remembered in this worker's cache.
//!
//! The calling code of a number of four digits or more is fixed by its first three digits, so
//! the answer for every such number whose code is not shared is one table lookup (`Lead`,
//! built per classifier for its hotzone).

use rustc_hash::FxHashMap;

use crate::model::Counterparty;
use std::sync::Arc;

use crate::model::hotzone::Hotzone;
use crate::model::phone::Msisdn;
use crate::model::region::{NeedsParse, Region, RegionTable};

/// What the first three digits of a number (of four digits or more) say about its region
/// and the hotzone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lead {
    /// Its region is not in the hotzone (or it has none).
    Cold,
    /// Its calling code has one region, and the hotzone names it.
    Hot,
    /// Its calling code is shared by regions, some in the hotzone: the number decides.
    Shared,
}

/// Per-worker hotzone classifier.
pub struct Classifier {
    hotzone: Arc<Hotzone>,
    /// Built on first use: a prefix-only hotzone never needs libphonenumber's metadata.
    table: Option<&'static RegionTable>,
    /// Regions of numbers with a shared calling code.
    parsed: FxHashMap<Msisdn, Option<Region>>,
    needs_regions: bool,
    /// Indexed by the first three digits (100..=999); built on first use.
    lead: Vec<Lead>,
}

impl Classifier {
    /// A classifier for `hotzone`.
    pub fn new(hotzone: &Arc<Hotzone>) -> Classifier {
        Classifier {
            hotzone: Arc::clone(hotzone),
            table: None,
            parsed: FxHashMap::default(),
            needs_regions: hotzone.has_regions(),
            lead: Vec::new(),
        }
    }

    /// The region of a number (cached for shared calling codes).
    #[inline(never)]
    pub fn region_of(&mut self, n: Msisdn) -> Option<Region> {
        let table = *self.table.get_or_insert_with(RegionTable::get);
        match table.quick_region(n) {
            Ok(r) => r,
            Err(_) => *self.parsed.entry(n).or_insert_with(|| table.region_of(n)),
        }
    }

    /// What a number's calling code says: [`Lead::Shared`] when only the number can tell.
    fn lead_of(&self, table: &RegionTable, n: Msisdn) -> Lead {
        match table.quick_region(n) {
            Ok(r) if r.is_some_and(|r| self.hotzone.has_region(r)) => Lead::Hot,
            Ok(_) => Lead::Cold,
            Err(NeedsParse { code }) => {
                let regions = table.regions_of_code(code);
                if regions.iter().any(|r| self.hotzone.has_region(*r)) {
                    Lead::Shared
                } else {
                    Lead::Cold
                }
            }
        }
    }

    /// Is the region of `n` in the hotzone?
    #[inline(never)]
    fn region_is_hot(&mut self, n: Msisdn) -> bool {
        let table = *self.table.get_or_insert_with(RegionTable::get);
        let lead = if n.len() >= 4 {
            if self.lead.is_empty() {
                // `p * 10` has four digits and the first three of `p`: the same calling code.
                self.lead = (0..1000u64)
                    .map(|p| match Msisdn::from_value(p * 10).filter(|_| p >= 100) {
                        Some(n) => self.lead_of(table, n),
                        None => Lead::Cold,
                    })
                    .collect();
            }
            self.lead[n.leading(3) as usize]
        } else {
            self.lead_of(table, n)
        };
        match lead {
            Lead::Cold => false,
            Lead::Hot => true,
            Lead::Shared => self
                .region_of(n)
                .is_some_and(|r| self.hotzone.has_region(r)),
        }
    }

    /// REFERENCE.md §3: unknown counterparties are never hot.
    #[inline(always)]
    pub fn is_hot(&mut self, c: &Counterparty) -> bool {
        match *c {
            Counterparty::Unknown => false,
            Counterparty::NumberInRegion(n, r) => self.hotzone.is_hot(n, Some(r)),
            Counterparty::Number(n) => {
                if self.hotzone.matches_prefix(n) {
                    return true;
                }
                self.needs_regions && self.region_is_hot(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classifier's shortcuts (the three-digit table, skipping shared codes the hotzone
    /// does not touch, the cache) answer like the rule: prefix match or region in the hotzone.
    #[test]
    fn classifier_equals_the_rule() {
        let table = RegionTable::get();
        let mut numbers: Vec<Msisdn> = (1..=9999u64).filter_map(Msisdn::from_value).collect();
        for m in phonenumber::metadata::DATABASE.iter() {
            let d = m.descriptors();
            for ex in [d.fixed_line(), d.mobile(), d.toll_free(), d.voip()]
                .into_iter()
                .flatten()
                .filter_map(|x| x.example())
            {
                let text = format!("+{}{ex}", m.country_code());
                numbers.extend(Msisdn::parse_e164(text.as_bytes(), 1));
                // The same number cut short, down to its calling code and below.
                let mut v = Msisdn::parse_e164(text.as_bytes(), 1).map_or(0, Msisdn::value);
                while v >= 10 {
                    v /= 10;
                    numbers.extend(Msisdn::from_value(v));
                }
            }
        }
        for list in [
            "NG,JM,KH,+882",
            "US",
            "GG,KZ",
            "RU,GB,+1876",
            "AC,TA,XK,YT,SJ",
            "+44",
        ] {
            let hotzone = Arc::new(Hotzone::parse_list("hotzone", list).unwrap());
            let mut c = Classifier::new(&hotzone);
            for &n in &numbers {
                let want = hotzone.is_hot(n, table.region_of(n));
                assert_eq!(c.is_hot(&Counterparty::Number(n)), want, "{list} {n}");
            }
        }
    }
}
