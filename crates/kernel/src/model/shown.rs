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
//! number, REFERENCE.md §8): one with at least [`NUMBER_DIGITS`] digits, unless it has the
//! shape of a date, is named by its first characters and its length, and a number a caller
//! sent goes through [`shown_number`] the same way:
//!
//! ```
//! use hotzone_kernel::model::shown::{shown, shown_number};
//! assert_eq!(shown("+8869123456780000").to_string(), "\"+886\"… (17 chars, not shown: it may hold a phone number)");
//! assert_eq!(shown("2026-13-45").to_string(), "\"2026-13-45\"");
//! assert_eq!(shown_number(886912345678u64).to_string(), "a number of 12 digits (not shown: it may be a phone number)");
//! assert_eq!(shown_number(91).to_string(), "91");
//! ```

use std::fmt;

/// Characters of a value an error message shows at most.
pub const MAX_SHOWN_CHARS: usize = 24;

/// A caller's value as an error message shows it; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(&'a str);

/// `value`, quoted and cut to [`MAX_SHOWN_CHARS`] characters (the length is named when cut).
pub fn shown(value: &str) -> Shown<'_> {
    Shown(value)
}

/// Digits from which a value may be a phone number (E.164 numbers have 5 to 15).
pub const NUMBER_DIGITS: usize = 5;

/// Characters a value that may be a phone number is named by (a `+` and a calling code).
const NUMBER_PREFIX_CHARS: usize = 4;

/// True when `s` holds at least [`NUMBER_DIGITS`] digits and is not a date `YYYY-MM-DD`.
fn may_be_a_number(s: &str) -> bool {
    let b = s.as_bytes();
    let date = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    !date && b.iter().filter(|c| c.is_ascii_digit()).count() >= NUMBER_DIGITS
}

/// A number a caller sent, as an error message shows it: as written when it has fewer than
/// [`NUMBER_DIGITS`] digits, else by its count of digits.
pub fn shown_number(n: impl fmt::Display) -> ShownNumber {
    ShownNumber(n.to_string())
}

/// See [`shown_number`].
#[derive(Clone, Debug)]
pub struct ShownNumber(String);

impl fmt::Display for ShownNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.bytes().filter(u8::is_ascii_digit).count();
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
        ] {
            let out = shown(v).to_string();
            assert!(out.contains("not shown"), "{v}: {out}");
            let quoted = out.split('"').nth(1).unwrap();
            assert!(
                quoted.chars().filter(char::is_ascii_digit).count() < NUMBER_DIGITS,
                "{out}"
            );
        }
        for v in ["NGA", "+88", "2026-03-10", "x1234"] {
            assert!(!shown(v).to_string().contains("not shown"), "{v}");
        }
        let n = shown_number(-12345).to_string();
        assert_eq!(
            n,
            "a number of 5 digits (not shown: it may be a phone number)"
        );
        assert_eq!(shown_number(1.5).to_string(), "1.5");
    }
}
