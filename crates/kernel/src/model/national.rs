//! A number written without `+` read in the national format of a region (REFERENCE.md §2.1),
//! exactly as libphonenumber's `parse(number, region)` reads it.
//!
//! The `phonenumber` crate's own parser strips a leading calling code or trunk prefix
//! without libphonenumber's checks: India's `9123456789` became `+9123456789` (the `91` taken
//! for the calling code), Russia's `8 812 123-45-67` became `+7121234567`, and `011 855 …`
//! dialled from the US lost digits. One subscriber written two ways then counted as two, and
//! a counterparty fell out of its region. So the steps are written here, from the crate's
//! metadata (the same libphonenumber release), in libphonenumber's order:
//!
//! 1. an international dialling prefix of the region (`011`, `810`), unless a `0` follows it,
//!    is dropped and a calling code of 1 to 3 digits must follow;
//! 2. else a number that starts with the region's own calling code loses it only when it did
//!    not match the region's numbers before and does after (its national prefix stripped
//!    too), or when it was too long;
//! 3. the national prefix (`0`, `8`, a transform rule's carrier digits) is dropped when the
//!    rest is still a possible length, and, where the number matched the region's numbers
//!    with it, still matches without it;
//! 4. the national significant number keeps its leading zeros (Italy's `06…`).
//!
//! `tests` compares the result with libphonenumber's own (python `phonenumbers` of the same
//! release) on about 5,000 national inputs of every region: example numbers with and without
//! their national prefix, with their calling code, dialled through the region's IDD, and
//! random numbers of their shape.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use phonenumber::metadata::{DATABASE, Database, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};

use super::phone::{Msisdn, plain_number};
use super::region::Region;

/// The longest national significant number libphonenumber takes.
const MAX_NSN: usize = 17;

/// A region's parsing metadata, its patterns compiled once.
struct Rules {
    country_code: u16,
    id: &'static str,
    /// `^(?:general desc)$`.
    general: Regex,
    /// Possible lengths of any of the region's numbers (sorted), and the local-only ones.
    lengths: Vec<usize>,
    local_lengths: Vec<usize>,
    /// `^(?:international prefix)`.
    idd: Option<Regex>,
    /// `^(?:national prefix for parsing)`, and its transform rule (`${1}` groups).
    national_prefix: Option<Regex>,
    transform: Option<String>,
}

/// Compiled rules by region id and calling code (the non-geographic codes share `001`).
type RulesByRegion = HashMap<(&'static str, u16), Arc<Rules>>;

/// How a national significant number's length fits the region (libphonenumber's
/// `testNumberLength` for any type).
#[derive(PartialEq, Eq)]
enum Length {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    Invalid,
}

impl Rules {
    /// The rules of a region's metadata, compiled at its first use.
    fn of(meta: &'static Metadata) -> Option<Arc<Rules>> {
        static CACHE: OnceLock<Mutex<RulesByRegion>> = OnceLock::new();
        let key = (meta.id(), meta.country_code());
        let cache = CACHE.get_or_init(Default::default);
        if let Some(r) = cache.lock().ok()?.get(&key) {
            return Some(Arc::clone(r));
        }
        let rules = Arc::new(Rules::compile(meta)?);
        cache.lock().ok()?.insert(key, Arc::clone(&rules));
        Some(rules)
    }

    fn compile(meta: &'static Metadata) -> Option<Rules> {
        let d = meta.descriptors();
        // The general description's lengths are those of every type but "no international
        // dialling" (libphonenumber computes them so when it builds its metadata; the XML the
        // crate reads leaves them out).
        let types: [Option<&Descriptor>; 10] = [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ];
        let mut lengths: Vec<usize> = (types.iter().flatten())
            .flat_map(|t| t.possible_length().iter().map(|l| usize::from(*l)))
            .collect();
        let mut local_lengths: Vec<usize> = (types.iter().flatten())
            .flat_map(|t| t.possible_local_length().iter().map(|l| usize::from(*l)))
            .collect();
        if !d.general().possible_length().is_empty() {
            lengths = d
                .general()
                .possible_length()
                .iter()
                .map(|l| usize::from(*l))
                .collect();
            local_lengths = (d.general().possible_local_length().iter())
                .map(|l| usize::from(*l))
                .collect();
        }
        lengths.sort_unstable();
        lengths.dedup();
        local_lengths.sort_unstable();
        local_lengths.dedup();
        local_lengths.retain(|l| !lengths.contains(l));
        // The metadata's patterns are written across lines (whitespace is not part of them).
        let build = |p: String| RegexBuilder::new(&p).ignore_whitespace(true).build().ok();
        let anchored = |p: &str| build(format!("^(?:{p})"));
        Some(Rules {
            country_code: meta.country_code(),
            id: meta.id(),
            general: build(format!("^(?:{})$", d.general().national_number().as_str()))?,
            lengths,
            local_lengths,
            idd: meta
                .international_prefix()
                .and_then(|p| anchored(p.as_str())),
            // Without a pattern for parsing, the national prefix itself (as libphonenumber's
            // metadata build sets it).
            national_prefix: match meta.national_prefix_for_parsing() {
                Some(p) => anchored(p.as_str()),
                None => (meta.national_prefix())
                    .filter(|p| !p.is_empty())
                    .and_then(|p| anchored(&regex::escape(p))),
            },
            // Java's `$1` is the regex crate's `${1}` (a digit after it is not the group's).
            transform: (meta.national_prefix_transform_rule())
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let mut out = String::new();
                    let mut chars = t.chars().peekable();
                    while let Some(c) = chars.next() {
                        match (c, chars.peek()) {
                            ('$', Some(g)) if g.is_ascii_digit() => {
                                out.push_str(&format!("${{{g}}}"));
                                chars.next();
                            }
                            _ => out.push(c),
                        }
                    }
                    out
                }),
        })
    }

    fn matches(&self, nsn: &str) -> bool {
        self.general.is_match(nsn)
    }

    fn length(&self, nsn: &str) -> Length {
        let n = nsn.len();
        let Some((&min, &max)) = self.lengths.first().zip(self.lengths.last()) else {
            return Length::Invalid;
        };
        if self.local_lengths.contains(&n) {
            Length::LocalOnly
        } else if n == min || self.lengths.contains(&n) {
            Length::Possible
        } else if n < min {
            Length::TooShort
        } else if n > max {
            Length::TooLong
        } else {
            Length::Invalid
        }
    }

    /// `number` without its national prefix (and carrier code), transformed where the region
    /// says so; `None` when there is none to drop, or dropping it would make a number that
    /// matched the region's numbers stop matching.
    fn without_national_prefix(&self, number: &str) -> Option<String> {
        let prefix = self.national_prefix.as_ref()?;
        // Most numbers have no prefix to drop: a match test is cheaper than captures.
        if !prefix.is_match(number) {
            return None;
        }
        let caps = prefix.captures(number)?;
        let end = caps.get(0)?.end();
        let viable = self.matches(number);
        let last_group = caps.len() - 1;
        let out = match (&self.transform, caps.get(last_group)) {
            (Some(rule), Some(_)) => {
                let mut t = String::new();
                caps.expand(rule, &mut t);
                t.push_str(&number[end..]);
                t
            }
            _ => number[end..].to_owned(),
        };
        (!viable || self.matches(&out)).then_some(out)
    }
}

/// The crate's metadata, for `'static` borrows.
fn db() -> &'static Database {
    &DATABASE
}

/// The metadata of calling code `code`'s main region (or its non-geographic entry).
fn main_of_code(code: u16) -> Option<&'static Metadata> {
    let metas = db().by_code(&code)?;
    (metas.iter().find(|m| m.is_main_country_for_code()))
        .or(metas.first())
        .copied()
}

/// True when `code` (the digits of a calling code) is one whose main region dials a trunk
/// prefix `0` inside the country (GB, DE, FR…): the `(0)` that exports write after such a
/// code (`+44 (0) 20…`) is that prefix, no digit of the number. Not in Italy's code, where a
/// leading 0 is part of the number (`+39 06…`: the region has no national prefix).
pub fn trunk_zero_after(code: &str) -> bool {
    (code.len() <= 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .and_then(main_of_code)
        .and_then(|m| m.national_prefix())
        == Some("0")
}

/// `number` (digits) split after a calling code of 1 to 3 digits that exists.
fn split_calling_code(number: &str) -> Option<(u16, &str)> {
    if number.starts_with('0') {
        return None;
    }
    (1..=3.min(number.len())).find_map(|i| {
        let code: u16 = number[..i].parse().ok()?;
        db().by_code(&code).map(|_| (code, &number[i..]))
    })
}

/// `s` (no `+`; digits and the punctuation of §2.1, [`plain_number`]) as E.164, read in
/// `region`'s national format as libphonenumber reads it; `None` for what it would not parse.
pub fn national_to_e164(s: &str, region: Region) -> Option<Msisdn> {
    let digits: String = plain_number(s)
        .filter(|p| !p.starts_with('+'))?
        .into_owned();
    let home = Rules::of(db().by_id(region.as_str())?)?;
    // 1. The region's international dialling prefix, unless a 0 follows it.
    let after_idd = (home.idd.as_ref())
        .and_then(|idd| idd.find(&digits))
        .map(|m| &digits[m.end()..])
        .filter(|rest| !rest.starts_with('0'));
    let (code, national): (u16, String) = match after_idd {
        Some(rest) => {
            if rest.len() <= 2 {
                return None;
            }
            let (code, national) = split_calling_code(rest)?;
            (code, national.to_owned())
        }
        None => {
            // 2. The region's own calling code, kept unless dropping it makes the number one
            // of the region's (or it was too long with it).
            let cc = home.country_code.to_string();
            let stripped = (digits.strip_prefix(&cc)).map(|rest| {
                home.without_national_prefix(rest)
                    .unwrap_or_else(|| rest.to_owned())
            });
            match stripped {
                Some(stripped)
                    if (!home.matches(&digits) && home.matches(&stripped))
                        || home.length(&digits) == Length::TooLong =>
                {
                    (home.country_code, stripped)
                }
                _ => (0, digits.clone()),
            }
        }
    };
    // The rules of the number's region: the home region's unless a calling code was read
    // whose main region is another.
    let rules = match code {
        0 => Arc::clone(&home),
        c => {
            let main = main_of_code(c)?;
            if main.id() == home.id {
                Arc::clone(&home)
            } else {
                Rules::of(main)?
            }
        }
    };
    let code = if code == 0 { home.country_code } else { code };
    // 3. and 4.
    let nsn = national_significant(&rules, &national)?;
    Msisdn::parse_e164(format!("+{code}{nsn}").as_bytes(), Msisdn::MIN_DIGITS)
}

/// Steps 3 and 4 of libphonenumber's parse, which `+code national` goes through too: the
/// national prefix (or carrier code) of `rules`' region dropped when what is left is still a
/// possible length there, leading zeros kept (Italy's `06…`); `None` when fewer than 2 or
/// more than 17 digits are left (libphonenumber refuses the number).
fn national_significant<'a>(rules: &Rules, national: &'a str) -> Option<Cow<'a, str>> {
    if national.len() < 2 {
        return None;
    }
    let nsn = match rules.without_national_prefix(national) {
        Some(stripped)
            if !matches!(
                rules.length(&stripped),
                Length::TooShort | Length::LocalOnly | Length::Invalid
            ) =>
        {
            Cow::Owned(stripped)
        }
        _ => Cow::Borrowed(national),
    };
    (2..=MAX_NSN).contains(&nsn.len()).then_some(nsn)
}

/// How libphonenumber parses a number written `+code national`: with the rules of the
/// code's main region (`US` for +1, `RU` for +7, `IT` for +39), whichever region the number
/// turns out to be in.
pub(super) struct MainRules(Arc<Rules>);

impl MainRules {
    /// The rules of calling code `code`'s main region.
    pub(super) fn of_code(code: u16) -> Option<MainRules> {
        Rules::of(main_of_code(code)?).map(MainRules)
    }

    /// The national significant number libphonenumber keeps of `+code national` (see
    /// [`national_significant`]); `None` where it refuses the number.
    pub(super) fn national_significant<'a>(&self, national: &'a str) -> Option<Cow<'a, str>> {
        national_significant(&self.0, national)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libphonenumber's answers (python `phonenumbers` of the release the crate embeds) for
    /// national inputs of every region; the file says how they were made.
    /// Made by `national_expected.py` beside this file.
    const EXPECTED: &str = include_str!("national.tsv");

    #[test]
    fn national_numbers_read_as_libphonenumber_reads_them() {
        let mut wrong = Vec::new();
        let mut checked = 0;
        for line in EXPECTED.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split('\t');
            let (Some(region), Some(input), Some(want)) = (f.next(), f.next(), f.next()) else {
                panic!("bad line {line:?}");
            };
            let Some(r) = Region::parse(region) else {
                continue; // a region the model does not name (none today)
            };
            checked += 1;
            let got = national_to_e164(input, r).map(|m| m.to_string());
            let want = (!want.is_empty()).then(|| want.to_owned());
            // A number libphonenumber reads but that is no E.164 of 5-15 digits is none here.
            let want =
                want.filter(|w| Msisdn::parse_e164(w.as_bytes(), Msisdn::MIN_DIGITS).is_some());
            if got != want {
                wrong.push(format!(
                    "{region} {input}: {got:?}, libphonenumber {want:?}"
                ));
            }
        }
        assert!(checked > 4000, "{checked}");
        assert!(
            wrong.is_empty(),
            "{} of {checked}:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    /// Punctuation and digits libphonenumber takes beyond ASCII spaces, dashes, dots and
    /// brackets (an adversarial pass found them refused); each `want` is python
    /// `phonenumbers` 9.0.33's answer. Extensions, letters and URIs stay no number here.
    #[test]
    fn written_forms_libphonenumber_takes_read_as_it_reads_them() {
        let read = |s: &str, r: &str| {
            Msisdn::normalize(s, Region::parse(r))
                .map(|m| m.to_string())
                .ok()
        };
        for (s, region, want) in [
            ("8~10 234 802 123 4567", "KZ", "+2348021234567"),
            ("0912/345/678", "TW", "+886912345678"),
            ("0912\u{00A0}345\u{00A0}678", "TW", "+886912345678"),
            (
                "\u{FF10}\u{FF19}\u{FF11}\u{FF12}345678",
                "TW",
                "+886912345678",
            ),
            ("[0912]345678", "TW", "+886912345678"),
            (
                "\u{0660}\u{0669}\u{0661}\u{0662}345678",
                "TW",
                "+886912345678",
            ),
            ("02/2123 4567", "TW", "+886221234567"),
            ("0912\u{2010}345\u{2212}678", "TW", "+886912345678"),
            ("030/1234567", "DE", "+49301234567"),
            ("(+886) 912 345 678", "US", "+886912345678"),
            ("\u{FF0B}886912345678", "US", "+886912345678"),
        ] {
            assert_eq!(read(s, region).as_deref(), Some(want), "{s:?} {region}");
        }
        for s in [
            "0912 345 678 x12",
            "0800-FLOWERS",
            "tel:0912345678",
            "abc0912345678",
            "0912\u{202F}345678",
        ] {
            assert_eq!(read(s, "TW"), None, "{s:?}");
        }
    }

    #[test]
    fn the_cases_the_crate_misread() {
        let read = |s: &str, r: &str| {
            national_to_e164(s, Region::parse(r).unwrap()).map(|m| m.to_string())
        };
        // One subscriber, however written.
        for s in ["9123456789", "09123456789", "91 9123456789"] {
            assert_eq!(read(s, "IN").as_deref(), Some("+919123456789"), "{s}");
        }
        assert_eq!(
            read("8 812 123-45-67", "RU").as_deref(),
            Some("+78121234567")
        );
        assert_eq!(read("7710009998", "KZ").as_deref(), Some("+77710009998"));
        assert_eq!(
            read("01185512345678", "US").as_deref(),
            Some("+85512345678")
        );
        assert_eq!(read("0912 345 678", "TW").as_deref(), Some("+886912345678"));
        assert_eq!(read("BANK", "TW"), None);
    }
}
