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

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
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
}
