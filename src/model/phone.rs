//! E.164 numbers as compact integers, and the normalisation rules of SPEC §2 and §4.
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
    /// Digits count bounds of a subscriber number (SPEC §4: `^\+[1-9][0-9]{4,14}$`).
    pub const MIN_DIGITS: usize = 5;
    /// At most 15 digits (E.164).
    pub const MAX_DIGITS: usize = 15;

    /// Parses `+digits` strictly: `^\+[1-9][0-9]{min-1,14}$`.
    pub fn parse_e164(s: &[u8], min_digits: usize) -> Option<Msisdn> {
        let digits = s.strip_prefix(b"+")?;
        if digits.len() < min_digits || digits.len() > Self::MAX_DIGITS || digits[0] == b'0' {
            return None;
        }
        let mut v: u64 = 0;
        for &c in digits {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u64::from(c - b'0');
        }
        Some(Msisdn(v))
    }

    /// A subscriber / requested number: SPEC §4's pattern, exactly.
    pub fn parse_subscriber(s: &str) -> Result<Msisdn, PhoneError> {
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        Self::parse_e164(s.as_bytes(), Self::MIN_DIGITS).ok_or(PhoneError::NotE164)
    }

    /// Normalises a number as found in an export (SPEC §2): `+digits` is taken as is; a
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
pub(crate) const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Digits in a positive integer (1 for 0).
pub(crate) fn digit_count(v: u64) -> usize {
    let mut n = 1;
    while n < 20 && v >= POW10[n] {
        n += 1;
    }
    n
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
    fn leading_digits() {
        let n = Msisdn::parse_subscriber("+18762101234").unwrap();
        assert_eq!(n.len(), 11);
        assert_eq!(n.leading(1), 1);
        assert_eq!(n.leading(4), 1876);
        assert_eq!(n.leading(20), 18762101234);
    }
}
