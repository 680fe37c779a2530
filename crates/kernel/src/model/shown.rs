//! How an error message names a value the caller sent: quoted, and cut to a short prefix.
//!
//! Errors go back to remote callers in `grpc-message`, a header. A message that echoed a
//! 20 000-character hotzone entry whole outgrew the client's header limit, and the caller saw
//! RESOURCE_EXHAUSTED instead of the INVALID_ARGUMENT that names its mistake. Every message
//! that names a value formats it through [`shown`], so no error can be longer than its rule
//! plus [`MAX_SHOWN_CHARS`] characters of the value:
//!
//! ```
//! use hotzone_kernel::model::shown::shown;
//! assert_eq!(shown("NGA").to_string(), "\"NGA\"");
//! let long = "x".repeat(20_000);
//! assert_eq!(shown(&long).to_string(), format!("\"{}\"… (20000 chars)", "x".repeat(24)));
//! ```
//!
//! A value that may be a phone number is not shown (the service's messages never carry a
//! number, REFERENCE.md §8): one with at least [`NUMBER_DIGITS`] digits of any script,
//! unless it is a calendar date or an ISO date-time, is named by its first characters and its
//! length, and a number a caller
//! sent goes through [`shown_number`] the same way:
//!
//! ```
//! use hotzone_kernel::model::shown::{shown, shown_number};
//! assert_eq!(shown("+8869123456780000").to_string(), "\"+886\"… (17 chars, not shown: it may hold a phone number)");
//! assert_eq!(shown("2026-03-10T08:00").to_string(), "\"2026-03-10T08:00\"");
//! assert_eq!(shown_number(886912345678u64).to_string(), "a number of 12 digits (not shown: it may be a phone number)");
//! assert_eq!(shown_number(91).to_string(), "91");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// Characters of a value an error message shows at most.
pub const MAX_SHOWN_CHARS: usize = 24;

/// A caller's value as an error message shows it; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(&'a str);

/// `value`, quoted and cut to [`MAX_SHOWN_CHARS`] characters (the length is named when cut).
pub fn shown(value: &str) -> Shown<'_> {
    Shown(value)
}

/// A network address a caller gave (`HOST:PORT`, a URL), as an error message shows it: an
/// address holds many digits (`127.0.0.1:50051`) and is shown as [`shown`] shows any other
/// value, cut to [`MAX_SHOWN_CHARS`]; a value without `:`, `.` or `/`, or with a `+`, is
/// no address and is shown as [`shown`] shows it (a phone number put there is not shown).
///
/// ```
/// use hotzone_kernel::model::shown::shown_address;
/// assert_eq!(shown_address("127.0.0.1:5005x").to_string(), "\"127.0.0.1:5005x\"");
/// assert_eq!(shown_address("+886912345678").to_string(), "\"+886\"… (13 chars, not shown: it may hold a phone number)");
/// ```
pub fn shown_address(value: &str) -> ShownAddress<'_> {
    ShownAddress(value)
}

/// A caller's address as an error message shows it; see [`shown_address`].
#[derive(Clone, Copy, Debug)]
pub struct ShownAddress<'a>(&'a str);

impl fmt::Display for ShownAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let address = s.contains([':', '.', '/']) && !s.contains('+');
        if !address {
            return shown(s).fmt(f);
        }
        match s.char_indices().nth(MAX_SHOWN_CHARS) {
            None => write!(f, "{s:?}"),
            Some((cut, _)) => write!(f, "{:?}… ({} chars)", &s[..cut], s.chars().count()),
        }
    }
}

/// Digits from which a value may be a phone number (E.164 numbers have 5 to 15).
pub const NUMBER_DIGITS: usize = 5;

/// Characters a value that may be a phone number is named by (a `+` and a calling code).
const NUMBER_PREFIX_CHARS: usize = 4;

/// True when `s` holds at least [`NUMBER_DIGITS`] digits of any script (fullwidth and
/// Arabic-Indic digits are read as digits by phone number parsers) and is not a calendar
/// date `YYYY-MM-DD` or an ISO date-time (what a mistaken `as_of` most often is).
fn may_be_a_number(s: &str) -> bool {
    let digits = s.chars().filter(|c| c.is_numeric()).count();
    digits >= NUMBER_DIGITS && !is_a_date(s)
}

/// A calendar date `YYYY-MM-DD`, alone or starting an ISO date-time (`T` or a space, then a
/// time).
fn is_a_date(s: &str) -> bool {
    let (date, time) = match s.char_indices().nth(10) {
        None => (s, None),
        Some((i, c)) => (&s[..i], Some((c, &s[i + c.len_utf8()..]))),
    };
    let calendar = date.len() == 10
        && date.as_bytes()[4] == b'-'
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok();
    calendar
        && time.is_none_or(|(sep, rest)| {
            (sep == 'T' || sep == ' ')
                && rest
                    .get(..5)
                    .is_some_and(|hm| chrono::NaiveTime::parse_from_str(hm, "%H:%M").is_ok())
        })
}

/// A number a caller sent, as an error message shows it: as written when its whole part has
/// fewer than [`NUMBER_DIGITS`] digits, else by that count of digits.
pub fn shown_number(n: impl fmt::Display) -> ShownNumber {
    ShownNumber(n.to_string())
}

/// See [`shown_number`].
#[derive(Clone, Debug)]
pub struct ShownNumber(String);

impl fmt::Display for ShownNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0.split('.').next().unwrap_or_default();
        let digits = whole.bytes().filter(u8::is_ascii_digit).count();
        if digits >= NUMBER_DIGITS {
            write!(
                f,
                "a number of {digits} digits (not shown: it may be a phone number)"
            )
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if may_be_a_number(s) {
            let cut = s
                .char_indices()
                .nth(NUMBER_PREFIX_CHARS)
                .map_or(s.len(), |(i, _)| i);
            return write!(
                f,
                "{:?}… ({} chars, not shown: it may hold a phone number)",
                &s[..cut],
                s.chars().count()
            );
        }
        match s.char_indices().nth(MAX_SHOWN_CHARS) {
            None => write!(f, "{s:?}"),
            Some((cut, _)) => write!(f, "{:?}… ({} chars)", &s[..cut], s.chars().count()),
        }
    }
}

/// A file's path as messages and the rejects' `file` column name it: as it is when it is
/// UTF-8, else with each byte that is not written `\xNN`. `Path::display` wrote every such
/// byte as `\u{FFFD}`, so two files whose names differ only there were one name, their
/// rejects mixed under it.
///
/// ```
/// use hotzone_kernel::model::shown::shown_path;
/// use std::path::Path;
/// assert_eq!(shown_path(Path::new("day=1/a.csv")), "day=1/a.csv");
/// # #[cfg(unix)] {
/// use std::os::unix::ffi::OsStrExt;
/// let odd = std::ffi::OsStr::from_bytes(b"x\xff.csv");
/// assert_eq!(shown_path(Path::new(odd)), "x\\xFF.csv");
/// # }
/// ```
pub fn shown_path(path: &Path) -> Cow<'_, str> {
    #[cfg(unix)]
    {
        use std::fmt::Write as _;
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(bytes.len() + 8);
        for chunk in bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
        Cow::Owned(out)
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut_on_a_char_boundary() {
        assert_eq!(shown("").to_string(), "\"\"");
        let exact = "a".repeat(MAX_SHOWN_CHARS);
        assert_eq!(shown(&exact).to_string(), format!("{exact:?}"));
        let wide = "é".repeat(100);
        let out = shown(&wide).to_string();
        assert!(out.starts_with(&format!("\"{}\"", "é".repeat(MAX_SHOWN_CHARS))));
        assert!(out.ends_with("(100 chars)"));
        assert!(out.len() < 80);
    }

    #[test]
    fn values_that_may_be_numbers_are_named_not_shown() {
        for v in [
            "+886912345678",
            "886 912 345 678",
            "0912-345-678",
            "+8869123456780000x",
            "+\u{ff18}\u{ff18}\u{ff16}\u{ff19}\u{ff11}\u{ff12}\u{ff13}\u{ff14}",
            "+\u{668}\u{668}\u{666}\u{669}\u{661}\u{662}\u{663}\u{664}",
            "0912-34-56",
            "2026-03-10T1234567",
            "2026-03-10T1\u{e9}234567",
        ] {
            let out = shown(v).to_string();
            assert!(out.contains("not shown"), "{v}: {out}");
            let quoted = out.split('"').nth(1).unwrap();
            assert!(
                quoted.chars().filter(|c| c.is_numeric()).count() < NUMBER_DIGITS,
                "{out}"
            );
        }
        let dates = ["2026-03-10", "2026-03-10T00:00:00", "2026-03-10 08:30Z"];
        for v in ["NGA", "+88", "x1234"].into_iter().chain(dates) {
            assert!(!shown(v).to_string().contains("not shown"), "{v}");
        }
        let n = shown_number(-12345).to_string();
        assert_eq!(
            n,
            "a number of 5 digits (not shown: it may be a phone number)"
        );
        assert_eq!(shown_number(1.5).to_string(), "1.5");
        assert_eq!(shown_number(1.2345).to_string(), "1.2345");
        assert_eq!(shown_number(0.00001).to_string(), "0.00001");
        assert!(
            shown_number(886_912_345_678.0)
                .to_string()
                .contains("12 digits")
        );
    }
}
