//! E.164 numbers as compact integers, and the normalisation rules of REFERENCE.md §2 and §4.
//!
//! An E.164 number is `+` followed by at most 15 digits, the first of which is 1-9. Because
//! the first digit is never 0, the digits read as an integer identify the number uniquely, so
//! [`Msisdn`] stores them in a `u64`: hashing, sorting and comparing numbers never touches a
//! string. `Display` gives back the `+digits` form.

use std::fmt;

use crate::model::region::Region;

/// An E.164 number (without the `+`) stored as its digits' integer value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Msisdn(u64);

/// Why a string is not an acceptable number.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PhoneError {
    /// Empty or null.
    #[error("is empty")]
    Empty,
    /// No leading `+` and no default region configured to read a national number.
    #[error("has no leading '+' and no default region is configured")]
    NoDefaultRegion,
    /// Not of the form `^\+[1-9][0-9]{4,14}$` (after normalisation).
    #[error("is not an E.164 number (^\\+[1-9][0-9]{{4,14}}$)")]
    NotE164,
}

impl Msisdn {
    /// Digits count bounds of a subscriber number (REFERENCE.md §4: `^\+[1-9][0-9]{4,14}$`).
    pub const MIN_DIGITS: usize = 5;
    /// At most 15 digits (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Parses `+digits` strictly: `^\+[1-9][0-9]{min-1,14}$`.
    #[inline(always)]
    pub fn parse_e164(s: &[u8], min_digits: usize) -> Option<Msisdn> {
        let digits = s.strip_prefix(b"+")?;
        if digits.len() < min_digits.max(1) || digits.len() > Self::MAX_DIGITS || digits[0] == b'0'
        {
            return None;
        }
        parse_digits(digits).map(Msisdn)
    }

    /// `+digits` as an export writes it (REFERENCE.md §2.1): the strict form, or with spaces,
    /// dashes, dots and brackets between the digits (`+886 912-345 678`, `+1 (876) 555-1234`),
    /// which are dropped; then `^\+[1-9][0-9]{min-1,14}$`. The same number written either way
    /// is the same [`Msisdn`].
    #[inline(always)]
    pub fn parse_written(s: &[u8], min_digits: usize) -> Option<Msisdn> {
        Self::parse_e164(s, min_digits).or_else(|| Self::parse_separated(s, min_digits))
    }

    /// [`Msisdn::parse_written`] of a cell that is not strictly `+digits`: its
    /// [`plain_number`], when that has a `+`.
    #[cold]
    #[inline(never)]
    fn parse_separated(s: &[u8], min_digits: usize) -> Option<Msisdn> {
        let plain = plain_number(std::str::from_utf8(s).ok()?)?;
        plain
            .starts_with('+')
            .then(|| Self::parse_e164(plain.as_bytes(), min_digits))?
    }

    /// A subscriber / requested number: REFERENCE.md §4's pattern, exactly.
    pub fn parse_subscriber(s: &str) -> Result<Msisdn, PhoneError> {
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        Self::parse_e164(s.as_bytes(), Self::MIN_DIGITS).ok_or(PhoneError::NotE164)
    }

    /// Normalises a number as found in an export (REFERENCE.md §2): `+digits` is taken as is; a
    /// number without `+` is read in national format for `default_region`, or refused when
    /// there is none.
    pub fn normalize(s: &str, default_region: Option<Region>) -> Result<Msisdn, PhoneError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        let plain = plain_number(s).ok_or(PhoneError::NotE164)?;
        if plain.starts_with('+') {
            return Self::parse_e164(plain.as_bytes(), Self::MIN_DIGITS).ok_or(PhoneError::NotE164);
        }
        let region = default_region.ok_or(PhoneError::NoDefaultRegion)?;
        national_to_e164(&plain, region).ok_or(PhoneError::NotE164)
    }

    /// The digits as an integer.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Builds from the digits' integer value; `None` when it has more than 15 digits or is 0.
    pub fn from_value(v: u64) -> Option<Msisdn> {
        (v > 0 && v < 1_000_000_000_000_000).then_some(Msisdn(v))
    }

    /// Number of digits.
    #[inline]
    pub fn len(self) -> usize {
        digit_count(self.0)
    }

    /// Never true: a number has at least one digit (provided for clippy's len-without-is-empty).
    pub fn is_empty(self) -> bool {
        false
    }

    /// A key that orders numbers as their text (`+digits`) orders: `+33612345678901` <
    /// `+4930123456` < `+886912345000`, where the integers order them by length first. The
    /// digits are padded on the right to 15 and the length breaks ties (a number that is a
    /// prefix of another, zeros aside, comes first, as the shorter text does).
    #[inline]
    pub fn text_order(self) -> u64 {
        let len = self.len();
        (self.0 * POW10[Self::MAX_DIGITS - len]) << 4 | len as u64
    }

    /// The first `n` digits as an integer (the whole number when `n >= len`).
    pub fn leading(self, n: usize) -> u64 {
        let len = self.len();
        if n >= len {
            self.0
        } else {
            self.0 / POW10[len - n]
        }
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// The ASCII punctuation that may stand between the digits of a number in an export
/// (REFERENCE.md §2.1), dropped; the rest of it is Unicode's ([`is_punctuation`]).
const SEPARATORS: &[u8] = b" -.()[]/~";

/// Punctuation libphonenumber drops from a written number (its `VALID_PUNCTUATION`: spaces
/// of several widths, hyphens and dashes, dots, slashes, tildes, round and square brackets,
/// their full-width forms), less `x`, which there begins an extension, and no number here
/// has one.
fn is_punctuation(c: char) -> bool {
    match c {
        c if c.is_ascii() => SEPARATORS.contains(&(c as u8)),
        '\u{00A0}' | '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{3000}' => true,
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF0D}'..='\u{FF0F}' => true,
        '\u{FF08}' | '\u{FF09}' | '\u{FF3B}' | '\u{FF3D}' => true,
        '\u{2053}' | '\u{223C}' | '\u{FF5E}' => true,
        _ => false,
    }
}

/// The first code point of each of Unicode's runs of decimal digits (category `Nd`, Unicode
/// 14), each run 0 to 9: a digit of any script is that digit, as libphonenumber reads it.
const DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a decimal digit of any script (`٣`, full-width `３`).
fn digit_value(c: char) -> Option<u8> {
    let c = c as u32;
    let run = DIGIT_ZEROS
        .partition_point(|&zero| zero <= c)
        .checked_sub(1)?;
    let value = c - DIGIT_ZEROS[run];
    (value < 10).then_some(value as u8)
}

/// The digits of `s` when it holds only ASCII digits and ASCII punctuation (no `+`): the
/// common national cell (`0912 345 678`), read with no copy.
#[inline]
pub fn ascii_national_digits(s: &str) -> Option<usize> {
    let mut digits = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            digits += 1;
        } else if !SEPARATORS.contains(&b) {
            return None;
        }
    }
    Some(digits)
}

/// A number as an export writes it (REFERENCE.md §2.1), as plain `+digits` (a `+`, or the
/// full-width `＋`, before the first digit with only punctuation before it) or plain digits:
/// punctuation (libphonenumber's, less `x`) dropped, digits of any script made ASCII. `None` when
/// anything else is there (a letter, an extension `x12`, a `+` after a digit, no digit at
/// all). Borrowed when the text is plain already.
///
/// In a `+` number, a trunk prefix written `(0)` right after a calling code whose country
/// dials one (`+44 (0) 20 7946 0000`, the British and European way of saying "dial 0 from
/// inside the country": [`trunk_zero_after`](super::national::trunk_zero_after)) is no digit
/// of the number, as libphonenumber reads it: kept, the number became `+44020…`, which no
/// hotzone prefix `+4420` matched while its region (libphonenumber's) was GB. Italy's
/// `+39 (0)6…` keeps its 0, a digit of the number there. (libphonenumber's own rule, the
/// region's national-prefix pattern, differs for a few codes: it drops Belarus's `(0)`, whose
/// trunk prefix is 8, and keeps Colombia's before a mobile number.)
pub fn plain_number(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    let body = s.strip_prefix('+').unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut trunk_dropped = false;
    while let Some(c) = rest.chars().next() {
        // `(0)`, in ASCII or full-width brackets and digit, once, after the calling code.
        if !trunk_dropped && matches!(c, '(' | '\u{FF08}') && out.len() > 1 && out.starts_with('+')
        {
            let mut after = rest[c.len_utf8()..].chars();
            if after.next().and_then(digit_value) == Some(0)
                && matches!(after.next(), Some(')' | '\u{FF09}'))
                && super::national::trunk_zero_after(&out[1..])
            {
                rest = after.as_str();
                trunk_dropped = true;
                continue;
            }
        }
        rest = &rest[c.len_utf8()..];
        if let Some(d) = digit_value(c) {
            out.push(char::from(b'0' + d));
        } else if matches!(c, '+' | '\u{FF0B}') && out.is_empty() {
            out.push('+');
        } else if !is_punctuation(c) {
            return None;
        }
    }
    (out.len() > usize::from(out.starts_with('+'))).then_some(std::borrow::Cow::Owned(out))
}

/// Powers of ten up to 10^19.
pub const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Digits in a positive integer (1 for 0). From the bit length: `bits * 1233 >> 12` is
/// `floor(log10(2^bits))`, which is the digit count or one less; one compare decides.
#[inline]
pub fn digit_count(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros();
    let t = ((bits * 1233) >> 12) as usize;
    (t + usize::from(v >= POW10[t])).max(1)
}

/// Value of 1 to 16 ASCII digits, `None` if any byte is not a digit. Eight digits at a time
/// (SWAR): the last eight digits are one word; the leading ones are loaded as a word, shifted
/// into place and padded with '0's; both words are checked at once and converted side by
/// side. Numbers shorter than eight digits take a plain loop.
#[inline]
fn parse_digits(d: &[u8]) -> Option<u64> {
    let n = d.len();
    let (Some(first), Some(last), 8..=16) = (d.first_chunk::<8>(), d.last_chunk::<8>(), n) else {
        if n > 16 {
            return None;
        }
        return d.iter().try_fold(0u64, |v, c| {
            c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
        });
    };
    let lo = u64::from_le_bytes(*last);
    // The k = n - 8 leading digits: byte i of the first word moves to byte i + 8 - k, below
    // them 8 - k '0's (k = 0: all '0's; k = 8: the word as it is).
    let k = (n - 8) as u32;
    // Shifts by 64 would be 0, which `wrapping_*` (shift mod 64) do not give: selected out.
    let moved = if k == 0 {
        0
    } else {
        u64::from_le_bytes(*first).wrapping_shl(64 - 8 * k)
    };
    let pad = if k == 8 { 0 } else { ZEROS.wrapping_shr(8 * k) };
    let hi = moved | pad;
    if !all_digits(lo) || !all_digits(hi) {
        return None;
    }
    Some(value8(hi) * 100_000_000 + value8(lo))
}

/// Eight '0' bytes.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// True when every byte of `x` is an ASCII digit: high nibble 3, and adding 6 does not carry
/// into it.
#[inline(always)]
fn all_digits(x: u64) -> bool {
    let high = x & 0xF0F0_F0F0_F0F0_F0F0;
    let carry = (x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    high | carry == 0x3333_3333_3333_3333
}

/// The value of eight ASCII digits in a little-endian word (first digit in the low byte):
/// pairs, then fours, then all eight, one multiplication each.
#[inline(always)]
fn value8(x: u64) -> u64 {
    let v = ((x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 << 8 | 1)) >> 8;
    let v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1)) >> 16;
    ((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1)) >> 32
}

use super::national::national_to_e164;

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `text_order` orders any two numbers as their `+digits` text does.
        #[test]
        fn text_order_is_the_order_of_the_text(
            a in 1u64..1_000_000_000_000_000,
            b in 1u64..1_000_000_000_000_000,
            cut in 0u32..15,
        ) {
            // Numbers of every length, and pairs where one is a prefix of the other.
            let b = if cut % 3 == 0 { (a / 10u64.pow(cut % 14)).max(1) } else { b };
            let b = if cut % 5 == 0 { a.saturating_mul(10).min(999_999_999_999_999) } else { b };
            let (x, y) = (Msisdn(a), Msisdn(b));
            proptest::prop_assert_eq!(
                x.text_order().cmp(&y.text_order()),
                x.to_string().cmp(&y.to_string()),
                "{} {}", x, y
            );
        }
    }

    /// A trunk `(0)` after a calling code whose country dials one is no digit (the number
    /// libphonenumber reads, whose region the hotzone's region entries use); in Italy's code,
    /// or in a national number, the 0 is the number's (a helper's pass).
    #[test]
    fn a_trunk_zero_in_brackets_after_the_calling_code_is_no_digit() {
        for (written, plain) in [
            ("+44 (0) 7781 123456", "+447781123456"),
            ("+44(0)20 7946 0000", "+442079460000"),
            ("+49 (0)30 1234567", "+49301234567"),
            ("+33 (0)1 23 45 67 89", "+33123456789"),
            ("+39 (0)6 1234 5678", "+390612345678"),
            ("+44 20 (0)7946 0000", "+4420079460000"),
            ("(030) 1234567", "0301234567"),
            ("(0) 20 7946 0000", "02079460000"),
            ("+(0)44 20 7946 0000", "+0442079460000"),
            // Full-width brackets and digit, as REFERENCE §2.1 reads them; only once.
            ("+44\u{FF08}0\u{FF09}20 7946 0000", "+442079460000"),
            ("+44 (\u{FF10}) 20 7946 0000", "+442079460000"),
            ("+44 (0)(0) 20 7946 0000", "+4402079460000"),
        ] {
            assert_eq!(plain_number(written).as_deref(), Some(plain), "{written}");
        }
        assert_eq!(
            Msisdn::normalize("+44 (0) 7781 123456", None),
            Msisdn::normalize("+447781123456", None)
        );
    }

    #[test]
    fn digit_count_matches_ilog10() {
        let mut vs = vec![0, 1, 9, u64::MAX, u64::MAX - 1];
        for p in POW10 {
            vs.extend([p - 1, p, p + 1]);
        }
        for s in 0..64 {
            vs.extend([1u64 << s, (1u64 << s) - 1, (1u64 << s).wrapping_add(1)]);
        }
        for v in vs {
            let want = v.checked_ilog10().map_or(1, |l| l as usize + 1);
            assert_eq!(digit_count(v), want, "{v}");
        }
    }

    #[test]
    fn parses_the_spec_pattern() {
        assert_eq!(
            Msisdn::parse_subscriber("+886912345001")
                .unwrap()
                .to_string(),
            "+886912345001"
        );
        assert_eq!(Msisdn::parse_subscriber("+12345").unwrap().value(), 12345);
        assert_eq!(Msisdn::parse_subscriber("+1234"), Err(PhoneError::NotE164));
        assert_eq!(
            Msisdn::parse_subscriber("+0123456"),
            Err(PhoneError::NotE164)
        );
        assert_eq!(
            Msisdn::parse_subscriber("+1234567890123456"),
            Err(PhoneError::NotE164)
        );
        assert_eq!(
            Msisdn::parse_subscriber("+88691234500x"),
            Err(PhoneError::NotE164)
        );
        assert_eq!(
            Msisdn::parse_subscriber("886912345001"),
            Err(PhoneError::NotE164)
        );
        assert_eq!(Msisdn::parse_subscriber(""), Err(PhoneError::Empty));
        assert!(Msisdn::parse_subscriber("+123456789012345").is_ok());
    }

    #[test]
    fn national_numbers_need_a_default_region() {
        let tw = Region::parse("TW").unwrap();
        assert_eq!(
            Msisdn::normalize("0912345001", Some(tw))
                .unwrap()
                .to_string(),
            "+886912345001"
        );
        assert_eq!(
            Msisdn::normalize("0912345001", None),
            Err(PhoneError::NoDefaultRegion)
        );
        assert_eq!(
            Msisdn::normalize(" +886912345001 ", None).unwrap().value(),
            886912345001
        );
    }

    #[test]
    fn separators_between_digits_are_dropped() {
        let want = Msisdn::parse_subscriber("+886912345678").ok();
        for written in [
            "+886912345678",
            "+886 912 345 678",
            "+886-912-345-678",
            "+886.912.345.678",
            "+(886) 912 345-678",
            "+ 886 912 345 678",
            // libphonenumber's other punctuation, full-width and Unicode forms.
            "+886/912/345/678",
            "+886 [912] 345~678",
            "+886\u{00A0}912\u{202F}345 678"
                .replace('\u{202F}', " ")
                .as_str(),
            "+886\u{2010}912\u{2212}345\u{FF0D}678",
            "\u{FF0B}\u{FF18}\u{FF18}\u{FF16}\u{3000}912345678",
            "(+886) 912 345 678",
            "+\u{0668}\u{0668}\u{0666}912345678",
        ] {
            assert_eq!(
                Msisdn::parse_written(written.as_bytes(), 5),
                want,
                "{written}"
            );
        }
        assert_eq!(
            Msisdn::parse_written(b"+1 (876) 555-1234", 5).map(Msisdn::value),
            Some(18_765_551_234)
        );
        for bad in [
            "+886 912 345 67a",
            "+886 912 345 678 x12",
            "+886\u{202F}912345678",
            "tel:+886912345678",
            "886+912345678",
            "+0 886 912",
            "+1 234",
            "++886912345678",
            "+8869 1234 5678 9012 3",
            "886 912 345 678",
            "+",
            "+ - ",
        ] {
            assert_eq!(Msisdn::parse_written(bad.as_bytes(), 5), None, "{bad}");
        }
    }

    #[test]
    fn swar_digits_match_the_simple_loop() {
        let naive = |d: &[u8]| -> Option<u64> {
            d.iter().try_fold(0u64, |v, c| {
                c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
            })
        };
        let samples: [&[u8]; 9] = [
            b"1",
            b"12345",
            b"886912345001",
            b"999999999999999",
            b"100000000000000",
            b"1234567890123456",
            b"12a45",
            b"12/45",
            b"12:45",
        ];
        for d in samples {
            assert_eq!(parse_digits(d), naive(d), "{}", String::from_utf8_lossy(d));
        }
        // Every byte value in every position of every length.
        let base = b"1234567890123456";
        for len in 1..=16 {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut d = base[..len].to_vec();
                    d[pos] = b;
                    assert_eq!(parse_digits(&d), naive(&d), "{len} {pos} {b}");
                }
            }
        }
    }

    #[test]
    fn leading_digits() {
        let n = Msisdn::parse_subscriber("+18762101234").unwrap();
        assert_eq!(n.len(), 11);
        assert_eq!(n.leading(1), 1);
        assert_eq!(n.leading(4), 1876);
        assert_eq!(n.leading(20), 18762101234);
    }
}
