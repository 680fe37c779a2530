//! Is this counterparty in the hotzone? (REFERENCE.md §3), with regions resolved once per number.
//!
//! Most calling codes belong to one region, whose numbers need no parsing. A number of a
//! shared code (+1, +7, +44, …) always gets one of that code's regions, so when the hotzone
//! names none of them the number cannot be in it by region and nothing is evaluated (`NG,JM`
//! only evaluates +1 numbers: JM shares +1). The others are classified by the metadata's
//! patterns (`model::region`, about a microsecond) once, and remembered in this worker's cache.

use rustc_hash::FxHashMap;

use crate::ingest::Counterparty;
use crate::model::hotzone::Hotzone;
use crate::model::phone::Msisdn;
use crate::model::region::{NeedsParse, Region, RegionTable};

/// Per-worker hotzone classifier.
pub struct Classifier<'h> {
    hotzone: &'h Hotzone,
    /// Built on first use: a prefix-only hotzone never needs libphonenumber's metadata.
    table: Option<&'static RegionTable>,
    /// Regions of numbers with a shared calling code.
    parsed: FxHashMap<Msisdn, Option<Region>>,
    needs_regions: bool,
    /// Per calling code: does the hotzone name one of its regions? (Filled on first use.)
    code_in_hotzone: Vec<bool>,
}

impl<'h> Classifier<'h> {
    /// A classifier for `hotzone`.
    pub fn new(hotzone: &'h Hotzone) -> Classifier<'h> {
        Classifier {
            hotzone,
            table: None,
            parsed: FxHashMap::default(),
            needs_regions: hotzone.has_regions(),
            code_in_hotzone: Vec::new(),
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

    /// Is the region of `n` in the hotzone?
    #[inline(never)]
    fn region_is_hot(&mut self, n: Msisdn) -> bool {
        let table = *self.table.get_or_insert_with(RegionTable::get);
        let code = match table.quick_region(n) {
            Ok(r) => return r.is_some_and(|r| self.hotzone.has_region(r)),
            Err(NeedsParse { code }) => usize::from(code),
        };
        if self.code_in_hotzone.is_empty() {
            let hotzone = self.hotzone;
            self.code_in_hotzone = (0..1000u16)
                .map(|c| {
                    let regions = table.regions_of_code(c);
                    regions.iter().any(|r| hotzone.has_region(*r))
                })
                .collect();
        }
        self.code_in_hotzone[code]
            && self
                .region_of(n)
                .is_some_and(|r| self.hotzone.has_region(r))
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
