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
    #[inline]
    pub fn parse_e164(s: &[u8], min_digits: usize) -> Option<Msisdn> {
        let digits = s.strip_prefix(b"+")?;
        if digits.len() < min_digits.max(1) || digits.len() > Self::MAX_DIGITS || digits[0] == b'0'
        {
            return None;
        }
        parse_digits(digits).map(Msisdn)
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
        if s.starts_with('+') {
            return Self::parse_e164(s.as_bytes(), Self::MIN_DIGITS).ok_or(PhoneError::NotE164);
        }
        let region = default_region.ok_or(PhoneError::NoDefaultRegion)?;
        national_to_e164(s, region).ok_or(PhoneError::NotE164)
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
/// into place and padded with '0's. Numbers shorter than eight digits take a plain loop.
#[inline]
fn parse_digits(d: &[u8]) -> Option<u64> {
    let n = d.len();
    if !(8..=16).contains(&n) {
        if n > 16 {
            return None;
        }
        return d.iter().try_fold(0u64, |v, c| {
            c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
        });
    }
    let word = |b: &[u8]| b.first_chunk::<8>().map(|w| u64::from_le_bytes(*w));
    let lo = parse8(word(&d[n - 8..])?)?;
    let k = n - 8;
    if k == 0 {
        return Some(lo);
    }
    // Byte i of the first word moves to byte i + 8 - k: d[0..k] end up as the last k digits
    // of an eight-digit group whose first 8 - k bytes are filled with '0'.
    let shifted = word(d)? << ((8 - k) * 8);
    let pad = if k == 8 {
        0
    } else {
        0x3030_3030_3030_3030u64 >> (k * 8)
    };
    let hi = parse8(shifted | pad)?;
    Some(hi * 100_000_000 + lo)
}

/// Eight ASCII digits in a little-endian word (first digit in the low byte) -> their value.
#[inline]
fn parse8(x: u64) -> Option<u64> {
    // Every byte must be 0x30..=0x39: high nibble 3, and adding 6 must not carry into it.
    let high = x & 0xF0F0_F0F0_F0F0_F0F0;
    let carry = (x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    if high | carry != 0x3333_3333_3333_3333 {
        return None;
    }
    let mut v = x - 0x3030_3030_3030_3030;
    v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    v = (v * 10_000 + (v >> 32)) & 0x0000_0000_FFFF_FFFF;
    Some(v)
}

/// National format -> E.164 with libphonenumber's rules for `region` (national prefix etc.).
fn national_to_e164(s: &str, region: Region) -> Option<Msisdn> {
    let id: phonenumber::country::Id = region.as_str().parse().ok()?;
    let n = phonenumber::parse(Some(id), s).ok()?;
    let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
    Msisdn::parse_e164(e164.as_bytes(), Msisdn::MIN_DIGITS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
