//! Regions: region codes, and the region of a counterparty number (REFERENCE.md §2, §3).
//!
//! A region code is two upper-case letters that are either an officially assigned
//! ISO 3166-1 alpha-2 code or a region that libphonenumber's metadata names. The metadata has
//! three that ISO does not assign (`AC` Ascension, `TA` Tristan da Cunha, `XK` Kosovo), and
//! the region derivation below produces them for real numbers (`+247`, `+290 8`, `+383`), so
//! they must be accepted wherever a region code is (hotzone entries, `counterparty_region`,
//! `--default-region`): a code the derivation can produce but an entry cannot name would make
//! those counterparties impossible to put in a hotzone by region.
//!
//! The region of a number comes from libphonenumber's metadata, embedded by the
//! `phonenumber` crate: a valid number gets the region its metadata says (`+1 876` is JM,
//! `+7 7xx` is KZ, `+44 7781` is GG); any other number gets the main region of its country
//! calling code; non-geographic codes (`+800`, `+870`, `+881`…`+883`, …) get none.
//!
//! Parsing costs about 13 µs a number, so [`RegionTable`] avoids it where the answer cannot
//! depend on the number: a calling code that belongs to exactly one region gives that region
//! whether the number is valid or not. Only shared codes (+1, +7, +44, +262, …) are parsed,
//! and the caller caches those per distinct number.

use std::fmt;
use std::sync::OnceLock;

use crate::model::phone::Msisdn;

/// Number of dense region indices ([`Region::index`]): every pair of letters A-Z.
pub const REGION_SLOTS: usize = 26 * 26;

/// What a region code is, as error messages say it.
pub const REGION_RULE: &str =
    "a region code (upper case: ISO 3166-1 alpha-2, or AC, TA, XK as libphonenumber names them)";

/// A region code, upper case: ISO 3166-1 alpha-2 or named by libphonenumber's metadata.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Region([u8; 2]);

impl Region {
    /// Parses a region code, upper case (`NG`, `AC`): an officially assigned ISO 3166-1
    /// alpha-2 code or a region of libphonenumber's metadata; anything else is `None`.
    pub fn parse(s: &str) -> Option<Region> {
        let b = s.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let r = Region([b[0], b[1]]);
        let i = r.index();
        (known_regions()[i / 64] >> (i % 64) & 1 == 1).then_some(r)
    }

    /// Every region code [`Region::parse`] accepts, sorted.
    pub fn all() -> impl Iterator<Item = Region> {
        (0..REGION_SLOTS).filter_map(|i| {
            let r = Region([b'A' + (i / 26) as u8, b'A' + (i % 26) as u8]);
            (known_regions()[i / 64] >> (i % 64) & 1 == 1).then_some(r)
        })
    }

    /// The code as a string.
    pub fn as_str(&self) -> &str {
        // Only constructed from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// Dense index 0..[`REGION_SLOTS`], for bitsets.
    pub fn index(self) -> usize {
        usize::from(self.0[0] - b'A') * 26 + usize::from(self.0[1] - b'A')
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The accepted region codes as a bit set over [`Region::index`]: ISO 3166-1's list plus
/// every region id of the metadata (its `001` non-geographic entries are not letters).
fn known_regions() -> &'static [u64; 11] {
    static SET: OnceLock<[u64; 11]> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = [0u64; 11];
        let metadata = phonenumber::metadata::DATABASE.iter().map(|m| m.id());
        for id in ISO_3166_ALPHA2.iter().copied().chain(metadata) {
            let b = id.as_bytes();
            if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
                let i = Region([b[0], b[1]]).index();
                set[i / 64] |= 1 << (i % 64);
            }
        }
        set
    })
}

/// What a calling code says about its numbers' region.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CodeRegions {
    /// One region: every number of the code has it.
    Single(Region),
    /// Several regions, the main one first: the number must be parsed.
    Shared(Region),
    /// Non-geographic (`001` in the metadata): no region.
    NonGeographic,
}

/// Calling code -> regions, built once from libphonenumber's metadata.
pub struct RegionTable {
    /// Indexed by calling code (1..=999).
    codes: Vec<Option<CodeRegions>>,
}

impl RegionTable {
    /// The process-wide table (built on first use, about a millisecond).
    pub fn get() -> &'static RegionTable {
        static TABLE: OnceLock<RegionTable> = OnceLock::new();
        TABLE.get_or_init(RegionTable::build)
    }

    fn build() -> RegionTable {
        let db = &*phonenumber::metadata::DATABASE;
        let mut codes = vec![None; 1000];
        for (code, slot) in codes.iter_mut().enumerate().skip(1) {
            let Ok(code16) = u16::try_from(code) else {
                continue;
            };
            let Some(ids) = db.region(&code16) else {
                continue;
            };
            let regions: Vec<Region> = ids.iter().filter_map(|id| Region::parse(id)).collect();
            *slot = match (regions.first(), regions.len()) {
                (None, _) => Some(CodeRegions::NonGeographic),
                (Some(&r), 1) => Some(CodeRegions::Single(r)),
                (Some(&r), _) => Some(CodeRegions::Shared(r)),
            };
        }
        RegionTable { codes }
    }

    /// The calling code of a number: the 1-3 leading digits that are an assigned code.
    pub fn calling_code(&self, n: Msisdn) -> Option<u16> {
        (1..=3).find_map(|k| {
            if n.len() <= k {
                return None;
            }
            let c = usize::try_from(n.leading(k)).ok()?;
            self.codes.get(c)?.as_ref().map(|_| c as u16)
        })
    }

    /// The region when it can be known without parsing, `Err(())` when the number must be
    /// parsed (its code is shared by several regions).
    pub fn quick_region(&self, n: Msisdn) -> Result<Option<Region>, NeedsParse> {
        let Some(code) = self.calling_code(n) else {
            return Ok(None);
        };
        match &self.codes[usize::from(code)] {
            Some(CodeRegions::Single(r)) => Ok(Some(*r)),
            Some(CodeRegions::NonGeographic) | None => Ok(None),
            Some(CodeRegions::Shared(_)) => Err(NeedsParse),
        }
    }

    /// The region of any number (parses when the code is shared).
    pub fn region_of(&self, n: Msisdn) -> Option<Region> {
        match self.quick_region(n) {
            Ok(r) => r,
            Err(NeedsParse) => self.parse_region(n),
        }
    }

    /// Full libphonenumber path: valid -> its region; otherwise the code's main region.
    fn parse_region(&self, n: Msisdn) -> Option<Region> {
        let code = self.calling_code(n)?;
        let main = match &self.codes[usize::from(code)] {
            Some(CodeRegions::Shared(r) | CodeRegions::Single(r)) => Some(*r),
            _ => None,
        };
        let Ok(parsed) = phonenumber::parse(None, n.to_string()) else {
            return main;
        };
        if !phonenumber::is_valid(&parsed) {
            return main;
        }
        parsed
            .metadata(&phonenumber::metadata::DATABASE)
            .and_then(|m| Region::parse(m.id()))
            .or(main)
    }
}

/// Marker: the number's calling code is shared by several regions, so it must be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsParse;

/// The officially assigned ISO 3166-1 alpha-2 codes (249), the standard's own list.
const ISO_3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> Option<String> {
        let n = Msisdn::parse_e164(s.as_bytes(), 3).unwrap();
        RegionTable::get().region_of(n).map(|r| r.to_string())
    }

    #[test]
    fn iso_list_is_complete_and_sorted() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert!(ISO_3166_ALPHA2.windows(2).all(|w| w[0] < w[1]));
        assert!(Region::parse("NG").is_some());
        assert!(Region::parse("ng").is_none());
        assert!(Region::parse("XX").is_none());
        assert!(Region::parse("NGA").is_none());
    }

    /// Every region the metadata names is a region code, ISO or not (`AC`, `TA`, `XK`).
    #[test]
    fn metadata_regions_are_region_codes() {
        for m in phonenumber::metadata::DATABASE.iter() {
            if m.id() != "001" {
                assert!(Region::parse(m.id()).is_some(), "{} refused", m.id());
            }
        }
        for id in ["AC", "TA", "XK"] {
            assert!(!ISO_3166_ALPHA2.contains(&id));
            assert!(Region::parse(id).is_some());
        }
        let all: Vec<Region> = Region::all().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(all.len() >= 252, "ISO's 249 plus AC, TA, XK");
        assert!(all.iter().all(|r| Region::parse(r.as_str()) == Some(*r)));
    }

    /// The derivation produces the non-ISO regions for real numbers.
    #[test]
    fn non_iso_regions_are_derived() {
        let db = &*phonenumber::metadata::DATABASE;
        for id in ["AC", "TA", "XK"] {
            let m = db.by_id(id).unwrap();
            let ex = m
                .descriptors()
                .fixed_line()
                .and_then(|d| d.example())
                .unwrap();
            assert_eq!(
                region(&format!("+{}{ex}", m.country_code())).as_deref(),
                Some(id)
            );
        }
    }

    /// Every example number of the metadata gets its own region (or, where two regions
    /// share a calling code and the number is valid in both, a region of that code).
    #[test]
    fn example_numbers_get_their_region() {
        let db = &*phonenumber::metadata::DATABASE;
        let mut checked = 0;
        for m in db.iter().filter(|m| m.id() != "001") {
            let d = m.descriptors();
            for ex in [d.fixed_line(), d.mobile()]
                .into_iter()
                .flatten()
                .filter_map(|x| x.example())
            {
                let text = format!("+{}{ex}", m.country_code());
                let n = Msisdn::parse_e164(text.as_bytes(), 3).unwrap();
                let got = RegionTable::get()
                    .region_of(n)
                    .expect("a geographic code has a region");
                let of_code = db.region(&m.country_code()).unwrap_or_default();
                assert!(
                    got.as_str() == m.id() || of_code.contains(&got.as_str()),
                    "{text}: {got} for {}",
                    m.id()
                );
                checked += usize::from(got.as_str() == m.id());
            }
        }
        assert!(
            checked > 400,
            "only {checked} example numbers matched their own region"
        );
    }

    #[test]
    fn shared_calling_codes_resolve_to_their_own_region() {
        assert_eq!(region("+18762101234").as_deref(), Some("JM"));
        assert_eq!(region("+12126849946").as_deref(), Some("US"));
        assert_eq!(region("+14165550123").as_deref(), Some("CA"));
        assert_eq!(region("+77710009998").as_deref(), Some("KZ"));
        assert_eq!(region("+74951234567").as_deref(), Some("RU"));
        assert_eq!(region("+447781123456").as_deref(), Some("GG"));
        assert_eq!(region("+441481256789").as_deref(), Some("GG"));
        assert_eq!(region("+447400123456").as_deref(), Some("GB"));
    }

    #[test]
    fn invalid_numbers_get_the_main_region_of_their_code() {
        // +1 000... is not valid anywhere in NANP: main region US.
        assert_eq!(region("+10001234567").as_deref(), Some("US"));
        assert_eq!(region("+440000").as_deref(), Some("GB"));
        assert_eq!(region("+2348021234567").as_deref(), Some("NG"));
        assert_eq!(region("+2340").as_deref(), Some("NG"));
    }

    #[test]
    fn non_geographic_codes_have_no_region() {
        assert_eq!(region("+80012345678"), None);
        assert_eq!(region("+8821612345678"), None);
        assert_eq!(region("+870123456789"), None);
        // Unassigned code.
        assert_eq!(region("+999123"), None);
    }
}
