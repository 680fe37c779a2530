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
//! A calling code that belongs to exactly one region gives that region whether the number is
//! valid or not, so most numbers need nothing but their leading digits. Numbers of a code
//! shared by several regions (+1, +7, +39, +44, +262, +590, +599, …) are decided by the
//! metadata's patterns, with libphonenumber's own steps (see `SharedCode`) written on the
//! digits. The crate's parser costs about 13 µs a number (every pattern it evaluates goes
//! through one global, 100-entry cache of compiled regexes behind a mutex, and +1 alone has
//! 25 regions of about ten patterns each, so the cache keeps recompiling), and its steps
//! are not quite libphonenumber's (`SharedCode`). Here each pattern is compiled once per
//! process, and the type descriptors of a region are one alternation per number length; a
//! +1 number costs a few regex runs (about a microsecond). The tests hold the answers to
//! libphonenumber's own (python `phonenumbers` of the same metadata release) on about 18,000
//! numbers of every shared code, and to the crate's path
//! ([`RegionTable::reference_region_of`]) on every example number of the metadata.

use std::fmt;
use std::sync::OnceLock;

use phonenumber::metadata::{Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

use crate::model::national::MainRules;
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
    /// Several regions: index into [`RegionTable::shared`].
    Shared(usize),
    /// Non-geographic (`001` in the metadata): no region.
    NonGeographic,
}

/// Calling code -> regions, built once from libphonenumber's metadata.
pub struct RegionTable {
    /// Indexed by calling code (1..=999).
    codes: Vec<Option<CodeRegions>>,
    /// The shared calling codes, with their regions' patterns.
    shared: Vec<SharedCode>,
}

impl RegionTable {
    /// The process-wide table (built on first use, about a millisecond; the patterns of a
    /// shared code's regions are compiled when a number first needs them).
    pub fn get() -> &'static RegionTable {
        static TABLE: OnceLock<RegionTable> = OnceLock::new();
        TABLE.get_or_init(RegionTable::build)
    }

    fn build() -> RegionTable {
        let db: &'static phonenumber::metadata::Database = &phonenumber::metadata::DATABASE;
        let mut codes = vec![None; 1000];
        let mut shared = Vec::new();
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
                (Some(_), _) => {
                    let metas = ids.iter().filter_map(|id| db.by_id(*id)).collect();
                    shared.push(SharedCode::new(code16, metas));
                    Some(CodeRegions::Shared(shared.len() - 1))
                }
            };
        }
        RegionTable { codes, shared }
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

    /// The region when the calling code alone decides it, `Err(NeedsParse)` when the code is
    /// shared by several regions and the national number decides.
    pub fn quick_region(&self, n: Msisdn) -> Result<Option<Region>, NeedsParse> {
        let Some(code) = self.calling_code(n) else {
            return Ok(None);
        };
        match &self.codes[usize::from(code)] {
            Some(CodeRegions::Single(r)) => Ok(Some(*r)),
            Some(CodeRegions::NonGeographic) | None => Ok(None),
            Some(CodeRegions::Shared(_)) => Err(NeedsParse { code }),
        }
    }

    /// The regions a number of `code` can get (the main one first); empty for a
    /// non-geographic or unassigned code.
    pub fn regions_of_code(&self, code: u16) -> &[Region] {
        match self.codes.get(usize::from(code)) {
            Some(Some(CodeRegions::Single(r))) => std::slice::from_ref(r),
            Some(Some(CodeRegions::Shared(i))) => &self.shared[*i].regions,
            _ => &[],
        }
    }

    /// The region of any number (REFERENCE.md §2.3): from the calling code when it is not
    /// shared, otherwise by libphonenumber's rules evaluated on compiled patterns.
    pub fn region_of(&self, n: Msisdn) -> Option<Region> {
        match self.quick_region(n) {
            Ok(r) => r,
            Err(NeedsParse { code }) => {
                let Some(CodeRegions::Shared(i)) = &self.codes[usize::from(code)] else {
                    return None;
                };
                let mut buf = itoa::Buffer::new();
                let digits = buf.format(n.value());
                let code_len = if code >= 100 {
                    3
                } else if code >= 10 {
                    2
                } else {
                    1
                };
                self.shared[*i].region_of(&digits[code_len..])
            }
        }
    }

    /// A second answer: the `phonenumber` crate's own parse, `is_valid` and metadata lookup
    /// (about 13 µs a number: every pattern it evaluates goes through a global, 100-entry
    /// cache of compiled regexes behind a mutex). It is libphonenumber's but where a number
    /// of a shared code has a leading zero or a national prefix after its code (`+39 06 698…`
    /// is `VA` to libphonenumber and [`RegionTable::region_of`], `IT` here); the tests compare
    /// the two on the metadata's example numbers.
    pub fn reference_region_of(&self, n: Msisdn) -> Option<Region> {
        let main = match self.quick_region(n) {
            Ok(r) => return r,
            Err(NeedsParse { code }) => self.regions_of_code(code).first().copied(),
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

/// Marker: the number's calling code is shared by several regions, so the national number
/// decides its region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeedsParse {
    /// The shared calling code.
    pub code: u16,
}

/// Metadata patterns compiled the way the `phonenumber` crate compiles them
/// (`ignore_whitespace`), anchored: at the start for leading digits (Java's `lookingAt`,
/// `^(?:p)`, which answers without scanning the rest of the string), at both ends for a
/// descriptor's national number pattern (Java's `matches`). Several patterns are one
/// alternation (a match of any of them), or, should that exceed the regex engine's size
/// limit, each on its own.
enum Anchored {
    /// No pattern: nothing matches.
    Nothing,
    /// One regex for all the patterns.
    One(Regex),
    /// One regex per pattern.
    Each(Vec<Regex>),
}

impl Anchored {
    /// A match of any of `patterns` that starts at the start (Java's `lookingAt`).
    fn new(patterns: &[&str]) -> Anchored {
        Anchored::compile(patterns, "")
    }

    /// A match of any of `patterns` that is the whole string (Java's `matches`).
    fn whole(patterns: &[&str]) -> Anchored {
        Anchored::compile(patterns, "$")
    }

    fn compile(patterns: &[&str], end: &str) -> Anchored {
        // The newline ends a `#` comment of verbose mode inside a pattern, as the end of
        // the pattern does for the crate.
        let compile = |ps: &[&str]| {
            let body: Vec<String> = ps.iter().map(|p| format!("(?:{p}\n)")).collect();
            RegexBuilder::new(&format!("^(?:{}){end}", body.join("|")))
                .ignore_whitespace(true)
                .build()
        };
        match patterns {
            [] => Anchored::Nothing,
            _ => match compile(patterns) {
                Ok(re) => Anchored::One(re),
                Err(_) => Anchored::Each(
                    patterns
                        .iter()
                        .map(|p| {
                            // The crate compiled this pattern when it loaded its metadata.
                            compile(&[p]).expect("a pattern of libphonenumber's metadata")
                        })
                        .collect(),
                ),
            },
        }
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            Anchored::Nothing => false,
            Anchored::One(re) => re.is_match(s),
            Anchored::Each(res) => res.iter().any(|re| re.is_match(s)),
        }
    }
}

/// A descriptor of the metadata (REFERENCE.md §2.3: a valid number matches one):
/// libphonenumber's `isNumberMatchingDesc` is "the length is one of `possible_length` (when
/// given) and the pattern matches the whole number" (see [`Anchored::whole`]).
fn length_allows(d: &Descriptor, len: usize) -> bool {
    let pl = d.possible_length();
    pl.is_empty() || pl.iter().any(|&l| usize::from(l) == len)
}

/// Longest string whose patterns are cached per length; longer ones are evaluated directly.
const CACHED_LENGTHS: usize = 24;

/// One region of a shared calling code: its metadata, and its patterns compiled on first use.
struct RegionRules {
    meta: &'static Metadata,
    /// `leading_digits` of the territory, anchored.
    leading: OnceLock<Anchored>,
    /// Per string length: the general descriptor's pattern when the length is allowed.
    general: [OnceLock<Anchored>; CACHED_LENGTHS],
    /// Per string length: one alternation of the type descriptors whose length is allowed,
    /// anchored (a number has a type when any of them matches).
    typed: [OnceLock<Anchored>; CACHED_LENGTHS],
}

impl RegionRules {
    fn new(meta: &'static Metadata) -> RegionRules {
        RegionRules {
            meta,
            leading: OnceLock::new(),
            general: std::array::from_fn(|_| OnceLock::new()),
            typed: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The descriptors `validator::number_type` tries after the general one; a number whose
    /// general pattern matches has a type (is valid) when any of these matches.
    fn type_descriptors(&self) -> impl Iterator<Item = &'static Descriptor> {
        let d = self.meta.descriptors();
        [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
    }

    /// `isNumberMatchingDesc` of the general descriptor.
    fn general_matches(&self, s: &str) -> bool {
        let g = self.meta.descriptors().general();
        matches_cached(&self.general, s, || {
            if length_allows(g, s.len()) {
                Anchored::whole(&[g.national_number().as_str()])
            } else {
                Anchored::Nothing
            }
        })
    }

    /// `getNumberTypeHelper(s, meta) != UNKNOWN`: the general descriptor matches
    /// and so does one of the type descriptors (their order only decides *which* type).
    fn has_type(&self, s: &str) -> bool {
        self.general_matches(s)
            && matches_cached(&self.typed, s, || {
                let patterns: Vec<&str> = self
                    .type_descriptors()
                    .filter(|d| length_allows(d, s.len()))
                    .map(|d| d.national_number().as_str())
                    .collect();
                Anchored::whole(&patterns)
            })
    }

    /// `leading_digits` of the territory, when it has one: `Some(matches at the start)`.
    fn leading_matches(&self, s: &str) -> Option<bool> {
        let ld = self.meta.leading_digits()?;
        let re = self.leading.get_or_init(|| Anchored::new(&[ld.as_str()]));
        Some(re.is_match(s))
    }
}

/// Evaluates a pattern cached per string length (compiled on first use).
fn matches_cached(
    cells: &[OnceLock<Anchored>],
    s: &str,
    compile: impl FnOnce() -> Anchored,
) -> bool {
    match cells.get(s.len()) {
        Some(cell) => cell.get_or_init(compile).is_match(s),
        None => compile().is_match(s),
    }
}

/// A calling code shared by several regions (+1, +7, +39, +44, +262, +590, +599, …).
///
/// libphonenumber decides the region of `+code national` in three steps:
/// 1. parse, with the rules of the code's main region: its national prefix (or carrier code)
///    is dropped when what is left is still a possible length; leading zeros are kept, so
///    Italy's `06…` and the Vatican's `06698…` stay as written ([`MainRules`]);
/// 2. the region is the first of the code's regions whose `leading_digits` match the start
///    of that national significant number or, for a region without them, whose patterns give
///    the number a type;
/// 3. the number is valid when that region's patterns give it a type.
///
/// A valid number gets that region; a number that fails to parse or is not valid gets the
/// main region (REFERENCE.md §2.3). The `phonenumber` crate's own steps differ (it drops the
/// leading zeros before it looks for the region, and parses with the rules of the region it
/// guessed), which put `+39 06 698…` in `IT` instead of `VA`; the tests hold this type to
/// libphonenumber's own answers.
struct SharedCode {
    /// The regions of the code as the metadata lists them, the main one first.
    regions: Vec<Region>,
    /// The same regions' rules, in the same order.
    rules: Vec<RegionRules>,
    /// How a number of the code is parsed; `None` if the code has no main region's metadata.
    parse: Option<MainRules>,
}

impl SharedCode {
    fn new(code: u16, metas: Vec<&'static Metadata>) -> SharedCode {
        SharedCode {
            regions: metas.iter().filter_map(|m| Region::parse(m.id())).collect(),
            rules: metas.into_iter().map(RegionRules::new).collect(),
            parse: MainRules::of_code(code),
        }
    }

    /// `getRegionCodeForNumberFromRegionList`: the first region whose leading digits match,
    /// or (for a region without leading digits) that gives the number a type.
    fn source_for(&self, s: &str) -> Option<&RegionRules> {
        self.rules
            .iter()
            .find(|r| r.leading_matches(s).unwrap_or_else(|| r.has_type(s)))
    }

    /// The region of `+code national` (the whole number has at least three digits).
    fn region_of(&self, national: &str) -> Option<Region> {
        let main = self.regions.first().copied();
        let Some(nsn) = (self.parse.as_ref()).and_then(|p| p.national_significant(national)) else {
            return main;
        };
        let Some(r) = self.source_for(&nsn) else {
            return main;
        };
        // A region without leading digits was chosen because the number has a type there.
        let valid = r.meta.leading_digits().is_none() || r.has_type(&nsn);
        if !valid {
            return main;
        }
        Region::parse(r.meta.id()).or(main)
    }
}

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
        let t = RegionTable::get();
        assert_eq!(t.region_of(n), t.reference_region_of(n), "{s}");
        t.region_of(n).map(|r| r.to_string())
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

    /// An alternation and its fallback (one regex per pattern) answer alike, and both only
    /// accept a match at the start, as the crate's `find(s).start() == 0` does.
    #[test]
    fn anchored_patterns_match_at_the_start_only() {
        let patterns = [
            "12",
            "3\\d{2}",
            "4 5 # verbose mode: a comment",
            "(?:6|7)8?",
        ];
        let one = Anchored::new(&patterns);
        assert!(matches!(one, Anchored::One(_)));
        let each = Anchored::Each(
            patterns
                .iter()
                .map(|p| match Anchored::new(&[p]) {
                    Anchored::One(re) => re,
                    _ => unreachable!("a single pattern compiles"),
                })
                .collect(),
        );
        for s in [
            "12", "123", "012", "345", "34", "45", "4 5", "6", "78", "87", "", "9",
        ] {
            let crate_like = patterns.iter().any(|p| {
                let re = RegexBuilder::new(p)
                    .ignore_whitespace(true)
                    .build()
                    .unwrap();
                re.find(s).is_some_and(|m| m.start() == 0)
            });
            assert_eq!(one.is_match(s), crate_like, "{s:?}");
            assert_eq!(each.is_match(s), crate_like, "{s:?}");
        }
        assert!(!Anchored::new(&[]).is_match(""));
        // A descriptor's pattern must match the whole number, as libphonenumber asks.
        let whole = Anchored::whole(&patterns);
        for (s, want) in [("12", true), ("123", false), ("345", true), ("3456", false)] {
            assert_eq!(whole.is_match(s), want, "{s:?}");
        }
        assert!(whole.is_match("45") && whole.is_match("78") && !whole.is_match("678"));
    }

    /// The calling codes shared by several regions.
    fn shared_codes() -> Vec<u16> {
        let t = RegionTable::get();
        (1..1000u16)
            .filter(|&c| t.regions_of_code(c).len() > 1)
            .collect()
    }

    /// Every descriptor of a region, whatever its type.
    fn all_descriptors(m: &Metadata) -> Vec<&Descriptor> {
        let d = m.descriptors();
        [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.emergency(),
            d.voicemail(),
            d.short_code(),
            d.standard_rate(),
            d.carrier(),
            d.no_international(),
        ]
        .into_iter()
        .flatten()
        .chain([d.general()])
        .collect()
    }

    /// The compiled patterns give the crate's own answer (parse + `is_valid` + metadata) for
    /// every example number of every region and descriptor type in the metadata (but those
    /// with a leading zero, where the crate is not libphonenumber); and for a
    /// code of one region, the crate agrees that its numbers need no parse.
    #[test]
    fn fast_path_equals_the_crate_on_every_example_number() {
        let t = RegionTable::get();
        let db = &*phonenumber::metadata::DATABASE;
        let (mut checked, mut shared) = (0, 0);
        for m in db.iter() {
            for ex in all_descriptors(m).iter().filter_map(|d| d.example()) {
                let text = format!("+{}{ex}", m.country_code());
                let Some(n) = Msisdn::parse_e164(text.as_bytes(), 1) else {
                    continue; // longer than E.164 allows
                };
                // The crate drops a leading zero before it looks for the region (Italy's and
                // the Vatican's numbers): `shared_codes_give_libphonenumber_s_region` holds
                // those to libphonenumber instead.
                if !ex.starts_with('0') {
                    assert_eq!(t.region_of(n), t.reference_region_of(n), "{text}");
                }
                checked += 1;
                let Ok(code) = t.quick_region(n) else {
                    shared += 1;
                    continue;
                };
                // One region per code (or none): the crate's parse agrees where it parses.
                if let Ok(p) = phonenumber::parse(None, &text) {
                    let of_crate = if phonenumber::is_valid(&p) {
                        p.metadata(db).and_then(|m| Region::parse(m.id()))
                    } else {
                        None
                    };
                    if let Some(r) = of_crate {
                        assert_eq!(code, Some(r), "{text}");
                    }
                }
            }
        }
        assert!(
            checked > 1000 && shared > 250,
            "only {checked} example numbers, {shared} of shared codes"
        );
    }

    /// libphonenumber's answers (python `phonenumbers` of the release the crate embeds) for
    /// numbers of every shared calling code: example numbers of every region and type, with
    /// a leading zero, a national prefix or an extra `1`, cut, lengthened, their tails made
    /// random, and random digits. Made by `region_expected.py` beside this file.
    #[test]
    fn shared_codes_give_libphonenumber_s_region() {
        let t = RegionTable::get();
        let (mut wrong, mut checked, mut not_main) = (Vec::new(), 0, 0);
        let mut codes = std::collections::BTreeSet::new();
        for line in include_str!("region.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
        {
            let (number, want) = line.split_once('\t').expect("number<TAB>region");
            let n = Msisdn::parse_e164(format!("+{number}").as_bytes(), 1).expect(number);
            let got = t.region_of(n);
            checked += 1;
            let main = match t.quick_region(n) {
                Err(NeedsParse { code }) => {
                    codes.insert(code);
                    t.regions_of_code(code).first().copied()
                }
                Ok(r) => r,
            };
            not_main += usize::from(main.as_ref().map(Region::as_str) != Some(want));
            if got.as_ref().map(Region::as_str) != Some(want) {
                wrong.push(format!("+{number}: {got:?}, libphonenumber {want}"));
            }
        }
        assert!(
            checked > 15_000 && not_main > 1_500,
            "{checked} numbers, {not_main} not main"
        );
        assert_eq!(
            codes,
            shared_codes().into_iter().collect(),
            "codes the file covers"
        );
        assert!(
            wrong.is_empty(),
            "{} of {checked}:\n{}",
            wrong.len(),
            wrong.join("\n")
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
