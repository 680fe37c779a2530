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
//! shared by several regions (+1, +7, +44, +262, +590, +599, …) are decided by the metadata's
//! patterns, with the `phonenumber` crate's own steps (see `SharedCode`) reproduced on the
//! digits. The crate itself costs about 13 µs a number: every pattern it evaluates goes
//! through one global, 100-entry cache of compiled regexes behind a mutex, and +1 alone has
//! 25 regions of about ten patterns each, so the cache keeps recompiling. Here each pattern
//! is compiled once per process, anchored at the start (the crate only accepts a match that
//! starts there), and the type descriptors of a region are one alternation per number
//! length; a +1 number costs a few regex runs (about a microsecond). The crate's path stays
//! as [`RegionTable::reference_region_of`], and the tests check that both agree on every
//! example number of the metadata and on random numbers of every shared code.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use phonenumber::metadata::{Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

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
                    shared.push(SharedCode::new(metas));
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

    /// The reference answer: the `phonenumber` crate's own parse, `is_valid` and metadata
    /// lookup (about 13 µs a number: every pattern it evaluates goes through a global,
    /// 100-entry cache of compiled regexes behind a mutex). [`RegionTable::region_of`] must
    /// equal it for every number; the tests check that it does.
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
/// (`ignore_whitespace`), anchored at the start: the crate asks `find(s)` for a match that
/// starts at 0, and a leftmost match starts at 0 exactly when some match does, which is
/// what `^(?:p)` answers without scanning the rest of the string. Several patterns are one
/// alternation (a match of any of them at the start), or, should that exceed the regex
/// engine's size limit, each on its own.
enum Anchored {
    /// No pattern: nothing matches.
    Nothing,
    /// One regex for all the patterns.
    One(Regex),
    /// One regex per pattern.
    Each(Vec<Regex>),
}

impl Anchored {
    fn new(patterns: &[&str]) -> Anchored {
        // The newline ends a `#` comment of verbose mode inside a pattern, as the end of
        // the pattern does for the crate.
        let compile = |ps: &[&str]| {
            let body: Vec<String> = ps.iter().map(|p| format!("(?:{p}\n)")).collect();
            RegexBuilder::new(&format!("^(?:{})", body.join("|")))
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

/// A descriptor of the metadata (REFERENCE.md §2.3: a valid number matches one): the crate's
/// `Descriptor::is_match` is "the length is one of `possible_length` (when given) and the
/// pattern matches at the start".
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
    /// `national_prefix_for_parsing`: anchored (the gate) and as written (for its captures).
    parsing: OnceLock<(Anchored, Regex)>,
}

impl RegionRules {
    fn new(meta: &'static Metadata) -> RegionRules {
        RegionRules {
            meta,
            leading: OnceLock::new(),
            general: std::array::from_fn(|_| OnceLock::new()),
            typed: std::array::from_fn(|_| OnceLock::new()),
            parsing: OnceLock::new(),
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

    /// `Descriptor::is_match` of the general descriptor.
    fn general_matches(&self, s: &str) -> bool {
        let g = self.meta.descriptors().general();
        matches_cached(&self.general, s, || {
            if length_allows(g, s.len()) {
                Anchored::new(&[g.national_number().as_str()])
            } else {
                Anchored::Nothing
            }
        })
    }

    /// `validator::number_type(meta, s) != Type::Unknown`: the general descriptor matches
    /// and so does one of the type descriptors (their order only decides *which* type).
    fn has_type(&self, s: &str) -> bool {
        self.general_matches(s)
            && matches_cached(&self.typed, s, || {
                let patterns: Vec<&str> = self
                    .type_descriptors()
                    .filter(|d| length_allows(d, s.len()))
                    .map(|d| d.national_number().as_str())
                    .collect();
                Anchored::new(&patterns)
            })
    }

    /// `leading_digits` of the territory, when it has one: `Some(matches at the start)`.
    fn leading_matches(&self, s: &str) -> Option<bool> {
        let ld = self.meta.leading_digits()?;
        let re = self.leading.get_or_init(|| Anchored::new(&[ld.as_str()]));
        Some(re.is_match(s))
    }

    /// `Validation::TooShort` of `validator::length(meta, number, Type::Unknown)`, which reads
    /// the general descriptor's lengths (local-only lengths first).
    fn too_short(&self, len: usize) -> bool {
        let g = self.meta.descriptors().general();
        let has = |ls: &[u16]| ls.iter().any(|&l| usize::from(l) == len);
        match g.possible_length().first() {
            None => false,
            Some(&min) => !has(g.possible_local_length()) && len < usize::from(min),
        }
    }

    /// `parser::helper::national_number`: strips a national prefix (and a carrier code) the
    /// way the crate's parser does, or applies the territory's transform rule.
    fn national_number<'a>(&self, s: Cow<'a, str>) -> Cow<'a, str> {
        let Some(for_parsing) = self.meta.national_prefix_for_parsing() else {
            return match self.meta.national_prefix() {
                Some(prefix) if s.starts_with(prefix) => trim(s, prefix.len()),
                _ => s,
            };
        };
        let (gate, full) = self.parsing.get_or_init(|| {
            let full = RegexBuilder::new(for_parsing.as_str())
                .ignore_whitespace(true)
                .build()
                .expect("a pattern of libphonenumber's metadata");
            (Anchored::new(&[for_parsing.as_str()]), full)
        });
        if !gate.is_match(&s) {
            // No match, or the leftmost match does not start at 0.
            return s;
        }
        let Some(m) = full.find(&s) else {
            return s;
        };
        let end = m.end();
        let viable = self.general_matches(&s);
        let last_present = full
            .captures(&s)
            .is_some_and(|c| c.get(c.len() - 1).is_some());
        match self.meta.national_prefix_transform_rule() {
            Some(rule) if last_present => {
                let transformed = full.replace(&s, rule).into_owned();
                if viable && !self.general_matches(&transformed) {
                    return s;
                }
                Cow::Owned(transformed)
            }
            // The crate's "viable and the rest does not match" test reads the string from
            // the match's start, which is 0 here: it cannot reject.
            _ => trim(s, end),
        }
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

/// The crate's `helper::trim`: drops the first `n` bytes.
fn trim(s: Cow<'_, str>, n: usize) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[n..]),
        Cow::Owned(mut o) => {
            o.drain(..n);
            Cow::Owned(o)
        }
    }
}

/// A calling code shared by several regions (+1, +7, +44, +262, +590, +599, …).
///
/// The `phonenumber` crate decides the region of such a number in three steps, each of which
/// asks `source_for` (the first region of the code whose `leading_digits` match the start, or,
/// for a region without them, whose patterns give the number a type):
/// 1. parse: the region of the national number without leading zeros says which national
///    prefix / carrier code / transform rule to apply (kept unless the result is too short);
/// 2. `is_valid`: the region of the parsed national number must give it a type;
/// 3. `metadata`: the region of the number without leading zeros is the answer.
///
/// A number that fails to parse or is not valid gets the main region (REFERENCE.md §2.3).
/// These steps are reproduced here on the digits with the same patterns, compiled once
/// instead of through the crate's global regex cache.
struct SharedCode {
    /// The regions of the code as the metadata lists them, the main one first.
    regions: Vec<Region>,
    /// The same regions' rules, in the same order.
    rules: Vec<RegionRules>,
}

impl SharedCode {
    fn new(metas: Vec<&'static Metadata>) -> SharedCode {
        SharedCode {
            regions: metas.iter().filter_map(|m| Region::parse(m.id())).collect(),
            rules: metas.into_iter().map(RegionRules::new).collect(),
        }
    }

    /// `validator::source_for`: the first region whose leading digits match, or (for a
    /// region without leading digits) that gives the number a type.
    fn source_for(&self, s: &str) -> Option<&RegionRules> {
        self.rules
            .iter()
            .find(|r| r.leading_matches(s).unwrap_or_else(|| r.has_type(s)))
    }

    /// The region of `+code national` (the whole number has at least three digits).
    fn region_of(&self, national: &str) -> Option<Region> {
        let main = self.regions.first().copied();
        // The three steps ask `source_for` of three strings, which are usually one string
        // (no leading zero, no prefix stripped): ask once per distinct string.
        let s0 = national.trim_start_matches('0');
        let r0 = self.source_for(s0);
        let Some(nsn) = self.parse(national, r0) else {
            return main;
        };
        let r1 = if *nsn == *s0 {
            r0
        } else {
            self.source_for(&nsn)
        };
        // A region without leading digits was chosen because the number has a type there.
        let valid = r1.is_some_and(|r| r.meta.leading_digits().is_none() || r.has_type(&nsn));
        if !valid {
            return main;
        }
        let s2 = nsn.trim_start_matches('0');
        let r2 = if s2 == &*nsn {
            r1
        } else if s2 == s0 {
            r0
        } else {
            self.source_for(s2)
        };
        r2.and_then(|r| Region::parse(r.meta.id())).or(main)
    }

    /// The national number `phonenumber::parse` keeps, or `None` where it fails; `source`
    /// is `source_for` of `national` without leading zeros.
    fn parse<'a>(&self, national: &'a str, source: Option<&RegionRules>) -> Option<Cow<'a, str>> {
        let mut nsn = Cow::Borrowed(national);
        if let Some(r) = source {
            let mut potential = r.national_number(Cow::Borrowed(national));
            if let Some(prefix) = r.meta.national_prefix()
                && potential.starts_with(prefix)
            {
                potential = trim(potential, prefix.len());
            }
            if !r.too_short(potential.len()) {
                nsn = potential;
            }
        }
        // MIN/MAX_LENGTH_FOR_NSN, then `NationalNumber::from_str`: the digits after the
        // leading zeros must be a number below 2^56.
        if !(2..=17).contains(&nsn.len()) {
            return None;
        }
        let value: u64 = nsn.trim_start_matches('0').parse().ok()?;
        (value < 1 << 56).then_some(nsn)
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
    /// every example number of every region and descriptor type in the metadata; and for a
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
                assert_eq!(t.region_of(n), t.reference_region_of(n), "{text}");
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

    /// Random numbers of every shared calling code, every national length that fits in
    /// E.164 (0 to 15 digits after the code), random digits; and example numbers of the
    /// code's regions with their tails (or lengths) changed at random, which reach the valid
    /// numbers, national prefixes and transform rules that uniform digits rarely hit.
    #[test]
    fn fast_path_equals_the_crate_on_random_numbers_of_shared_codes() {
        use rand::rngs::Xoshiro256PlusPlus;
        use rand::{Rng, SeedableRng};

        let t = RegionTable::get();
        let db = &*phonenumber::metadata::DATABASE;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
        let digit = |rng: &mut Xoshiro256PlusPlus| char::from(b'0' + (rng.next_u64() % 10) as u8);
        let codes = shared_codes();
        assert!(codes.len() >= 10, "shared codes: {codes:?}");
        let (mut checked, mut not_main, mut rewritten) = (0, 0, 0);
        let mut check = |text: &str| {
            let n = Msisdn::parse_e164(text.as_bytes(), 1).unwrap();
            let got = t.region_of(n);
            assert_eq!(got, t.reference_region_of(n), "{text}");
            checked += 1;
            let Err(NeedsParse { code }) = t.quick_region(n) else {
                return;
            };
            not_main += usize::from(got != t.regions_of_code(code).first().copied());
            // The parse step changed the national number (a national prefix stripped, or a
            // transform rule applied): the branches uniform digits rarely reach.
            if let Some(Some(CodeRegions::Shared(i))) = t.codes.get(usize::from(code)) {
                let national = &text[1 + code.to_string().len()..];
                let shared = &t.shared[*i];
                let source = shared.source_for(national.trim_start_matches('0'));
                let parsed = shared.parse(national, source);
                rewritten += usize::from(parsed.is_some_and(|p| p != national));
            }
        };
        for &code in &codes {
            let cc = code.to_string();
            for len in 0..=(15 - cc.len()) {
                for _ in 0..200 {
                    let tail: String = (0..len).map(|_| digit(&mut rng)).collect();
                    check(&format!("+{cc}{tail}"));
                }
            }
            // Examples as given, and behind each national prefix of the code's regions.
            let metas = db.by_code(&code).unwrap_or_default();
            let prefixes: Vec<&str> = [""]
                .into_iter()
                .chain(metas.iter().filter_map(|m| m.national_prefix()))
                .collect();
            let examples: Vec<String> = metas
                .iter()
                .flat_map(|m| all_descriptors(m))
                .filter_map(|d| d.example())
                .flat_map(|ex| prefixes.iter().map(move |p| format!("{p}{ex}")))
                .filter(|ex| ex.len() + cc.len() <= 15)
                .collect();
            for ex in &examples {
                for keep in 0..=ex.len() {
                    for extra in [-2i64, -1, 0, 0, 0, 1, 2] {
                        let len = (ex.len() as i64 + extra).clamp(0, 15 - cc.len() as i64) as usize;
                        let keep = keep.min(len);
                        let tail: String = (keep..len).map(|_| digit(&mut rng)).collect();
                        check(&format!("+{cc}{}{tail}", &ex[..keep]));
                    }
                }
            }
        }
        // Enough numbers, and many of them in a region other than their code's main one.
        assert!(
            checked > 40_000 && not_main > 1_000 && rewritten > 1_000,
            "{checked} numbers, {not_main} not in the main region, {rewritten} rewritten"
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
