//! Column names: the canonical names of REFERENCE.md §2, and the mapping from an export's own names.
//!
//! `--column msisdn=subscriber` says the export's `msisdn` column is the canonical
//! `subscriber`. Canonical names are also accepted as they are.

use crate::error::{Error, Result};
use crate::model::shown::shown;

/// The REFERENCE.md §2 columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// Required instant.
    EventTime,
    /// Required E.164.
    Subscriber,
    /// Optional other party.
    Counterparty,
    /// Required `in`/`out`.
    Direction,
    /// Required `call`/`sms`.
    Kind,
    /// Optional duration.
    DurationS,
    /// Optional ISO region of the counterparty.
    CounterpartyRegion,
}

impl Field {
    /// Every field, in REFERENCE.md §2 order.
    pub const ALL: [Field; 7] = [
        Field::EventTime,
        Field::Subscriber,
        Field::Counterparty,
        Field::Direction,
        Field::Kind,
        Field::DurationS,
        Field::CounterpartyRegion,
    ];

    /// The canonical column name.
    pub fn name(self) -> &'static str {
        match self {
            Field::EventTime => "event_time",
            Field::Subscriber => "subscriber",
            Field::Counterparty => "counterparty",
            Field::Direction => "direction",
            Field::Kind => "kind",
            Field::DurationS => "duration_s",
            Field::CounterpartyRegion => "counterparty_region",
        }
    }

    /// Whether a file without this column is unreadable.
    pub fn required(self) -> bool {
        matches!(
            self,
            Field::EventTime | Field::Subscriber | Field::Direction | Field::Kind
        )
    }

    fn from_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// The field errors of a column mapping name: the CLI's flag and Python's keyword.
const COLUMN_MAPPING: &str = "column mapping (--column, columns=)";

/// Export column name -> canonical field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap {
    pairs: Vec<(String, Field)>,
}

impl ColumnMap {
    /// Parses `source=canonical` items (`msisdn=subscriber`).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<ColumnMap> {
        let mut pairs = Vec::new();
        for item in items {
            let item = item.as_ref();
            // At the last `=`: a canonical name has none, an export's name may.
            let (src, dst) = item.rsplit_once('=').ok_or_else(|| {
                Error::invalid(
                    COLUMN_MAPPING,
                    format!("{} must be SOURCE=CANONICAL", shown(item)),
                )
            })?;
            let field = Field::from_name(dst.trim()).ok_or_else(|| {
                Error::invalid(
                    COLUMN_MAPPING,
                    format!(
                        "{} is not a canonical column ({})",
                        shown(dst),
                        Field::ALL.map(Field::name).join(", ")
                    ),
                )
            })?;
            pairs.push((src.trim().to_owned(), field));
        }
        Ok(ColumnMap { pairs })
    }

    /// Index of each field among `names` (a file's header), `None` when absent. A mapped
    /// source name wins over a column that happens to carry the canonical name; of several
    /// source names mapped to one field (files from two switches), the first one the header
    /// has is taken; of repeated header names, the first column. Names are looked for as
    /// written first (the mapped ones, then the canonical one), and only when none is found
    /// in another ASCII case, in the same order (`EVENT_TIME`, `Subscriber`: databases such
    /// as Oracle and Snowflake export upper-case names, and SQL engines match names in any
    /// case). So a header that has a field's name as written reads exactly the column it
    /// read before case was considered.
    pub fn resolve(&self, names: &[&str]) -> [Option<usize>; 7] {
        let mut out = [None; 7];
        // Names compare trimmed, the header's as the mapping's (`"MSISDN "` from a
        // spreadsheet export is `MSISDN`), whatever the format; a header name's byte-order
        // mark too (a CSV file's first name keeps none, a Parquet or IPC name may).
        fn bare(n: &str) -> &str {
            n.trim().trim_start_matches('\u{feff}').trim_start()
        }
        let exact = |name: &str| names.iter().position(|n| bare(n) == name);
        let folded = |name: &str| (names.iter()).position(|n| bare(n).eq_ignore_ascii_case(name));
        for (i, f) in Field::ALL.into_iter().enumerate() {
            let wanted: Vec<&str> = (self.pairs.iter())
                .filter(|(_, g)| *g == f)
                .map(|(s, _)| s.as_str())
                .chain([f.name()])
                .collect();
            out[i] = (wanted.iter().find_map(|w| exact(w)))
                .or_else(|| wanted.iter().find_map(|w| folded(w)));
        }
        out
    }
}

/// Resolves a header and checks the required columns are present.
pub fn resolve_required(
    map: &ColumnMap,
    names: &[&str],
    path: &std::path::Path,
) -> Result<[Option<usize>; 7]> {
    let idx = map.resolve(names);
    let missing: Vec<&str> = Field::ALL
        .into_iter()
        .zip(idx)
        .filter(|(f, i)| f.required() && i.is_none())
        .map(|(f, _)| f.name())
        .collect();
    if !missing.is_empty()
        && names
            .iter()
            .all(|n| n.trim_start_matches('\u{feff}').trim().is_empty())
    {
        // Blank lines only, a byte-order mark alone: "columns found: ;" said nothing.
        return Err(Error::read(
            path,
            format!(
                "missing required column(s) {}: the file names no column (a CSV file whose first line is empty: blank lines, or a byte-order mark alone)",
                missing.join(", ")
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(Error::read(
            path,
            format!(
                "missing required column(s) {} (columns found: {}; {})",
                missing.join(", "),
                shown_names(names),
                header_hint(names)
            ),
        ));
    }
    Ok(idx)
}

/// What to do about a header that lacks required columns: a CSV header that is one column
/// holding `;`, a tab or `|` even when split by that byte (a header quoted whole; a file
/// whose header does split so is read separated by it: `ingest::csv::layout`); a file in
/// UTF-16 (Excel's "Unicode text") reads as no UTF-8 names; else, map the export's names.
fn header_hint(names: &[&str]) -> String {
    if let [one] = names
        && let Some(sep) = [';', '\t', '|'].into_iter().find(|c| one.contains(*c))
    {
        let shown = if sep == '\t' {
            "a tab".to_owned()
        } else {
            format!("'{sep}'")
        };
        return format!(
            "the header is one column holding {shown}, which does not split it into the required columns either (is the header quoted whole?): a CSV file is read separated by commas, or by the ';', tab or '|' that splits its header into the required columns"
        );
    }
    if names.iter().any(|n| n.contains(['\0', '\u{fffd}'])) {
        return "the header is not UTF-8 text (UTF-16, as Excel's \"Unicode text\" writes?): write the file as UTF-8".to_owned();
    }
    "map export names with --column SOURCE=CANONICAL, or columns= in Python".to_owned()
}

/// A name's characters with control characters escaped (`\0`, `\u{1b}`): a UTF-16 header's
/// NUL bytes, or a terminal's escape sequences, are not written raw to a terminal or a log.
fn visible(chars: impl Iterator<Item = char>) -> String {
    chars
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_debug());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

/// A header's names as an error message may show them. A name holding five or more digits
/// (in one run or across separators, `+886 912-345`) is taken for a value, not a column name
/// (a file with no header row, whose first record was read as one): shown as `<value>`, so
/// that no phone number reaches a message, and the server's log with it.
fn shown_names(names: &[&str]) -> String {
    // At most this many names, each cut to this many characters: a header of a million
    // columns, or one name of megabytes, made a message of megabytes.
    const MOST_NAMES: usize = 32;
    const MOST_CHARS: usize = 64;
    let value = |n: &str| n.bytes().filter(u8::is_ascii_digit).count() >= 5;
    let shown: Vec<String> = (names.iter().take(MOST_NAMES))
        .map(|n| match (value(n), n.chars().nth(MOST_CHARS)) {
            (true, _) => "<value>".to_owned(),
            (false, Some(_)) => format!("{}...", visible(n.chars().take(MOST_CHARS))),
            (false, None) => visible(n.chars()),
        })
        .collect();
    let mut out = shown.join(", ");
    if names.len() > MOST_NAMES {
        out.push_str(&format!(" and {} more", names.len() - MOST_NAMES));
    }
    if shown.iter().any(|n| n == "<value>") {
        out.push_str("; a <value> is no name: has the file a header row?");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_header_is_named_in_a_short_message() {
        let many: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let long = "x".repeat(1 << 20);
        let mut names: Vec<&str> = many.iter().map(String::as_str).collect();
        names[1] = &long;
        let e = resolve_required(&ColumnMap::default(), &names, std::path::Path::new("f.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 3000, "{} bytes", e.len());
        assert!(e.contains("c0, xxxx") && e.contains("and 968 more"), "{e}");
    }

    /// A header separated by another character than a comma, or in UTF-16, is named as such
    /// (the message listed one column `event_time;subscriber;…`, or unreadable names).
    #[test]
    fn headers_of_another_separator_or_encoding_are_named_as_such() {
        let err = |names: &[&str]| {
            resolve_required(&ColumnMap::default(), names, std::path::Path::new("f.csv"))
                .unwrap_err()
                .to_string()
        };
        let e = err(&["event_time;subscriber;direction;kind"]);
        assert!(
            e.contains("one column holding ';'") && e.contains("quoted whole?"),
            "{e}"
        );
        let e = err(&["event_time\tsubscriber\tdirection\tkind"]);
        assert!(e.contains("one column holding a tab"), "{e}");
        let e = err(&["\u{fffd}\u{fffd}e\0v\0e\0n\0t\0"]);
        assert!(e.contains("not UTF-8 text"), "{e}");
        // Its NUL bytes (and any control character) are escaped, not written raw.
        assert!(e.contains("e\\0v\\0") && !e.contains('\0'), "{e}");
        // No name at all (blank lines, a byte-order mark alone): said so.
        for names in [&[][..], &[""], &["\u{feff}"], &[" ", ""]] {
            let e = err(names);
            assert!(e.contains("the file names no column"), "{names:?}: {e}");
        }
        let e = err(&["time", "msisdn", "direction", "kind"]);
        assert!(e.contains("map export names with --column"), "{e}");
    }

    #[test]
    fn maps_export_names() {
        let m = ColumnMap::parse(&["msisdn=subscriber", "ts=event_time"]).unwrap();
        let idx = m.resolve(&["ts", "msisdn", "counterparty", "direction", "kind"]);
        assert_eq!(idx[0], Some(0));
        assert_eq!(idx[1], Some(1));
        assert_eq!(idx[2], Some(2));
        assert_eq!(idx[5], None);
        // Two exports' names for one field: whichever the header has; the canonical name
        // when neither.
        let m = ColumnMap::parse(&[" a_number = subscriber", "msisdn=subscriber"]).unwrap();
        assert_eq!(m.resolve(&["subscriber", "msisdn"])[1], Some(1));
        assert_eq!(m.resolve(&["a_number", "msisdn"])[1], Some(0));
        assert_eq!(m.resolve(&["subscriber", "x"])[1], Some(0));
        let m = ColumnMap::parse(&["a=b=subscriber"]).unwrap();
        assert_eq!(m.resolve(&["a=b"])[1], Some(0));
        assert!(ColumnMap::parse(&["msisdn"]).is_err());
        assert!(
            ColumnMap::parse(&["msisdn=sub"])
                .unwrap_err()
                .to_string()
                .contains("canonical")
        );
    }

    /// Names in another ASCII case are found when no column has the name as written; the
    /// exact name wins, then the first of those differing in case only.
    #[test]
    fn names_are_found_in_any_ascii_case_the_exact_one_first() {
        let none = ColumnMap::default();
        let upper = [
            "EVENT_TIME",
            "SUBSCRIBER",
            "Counterparty",
            "DIRECTION",
            "Kind",
        ];
        assert_eq!(
            none.resolve(&upper),
            [Some(0), Some(1), Some(2), Some(3), Some(4), None, None]
        );
        assert_eq!(none.resolve(&["SUBSCRIBER", "subscriber"])[1], Some(1));
        assert_eq!(none.resolve(&["Subscriber", " SUBSCRIBER "])[1], Some(0));
        // Not folded beyond ASCII, nor around other characters.
        assert_eq!(none.resolve(&["subscrıber", "sub_scriber"])[1], None);
        // A mapping's source name likewise: exact first, then in another case.
        let m = ColumnMap::parse(&["MSISDN=subscriber"]).unwrap();
        assert_eq!(m.resolve(&["msisdn", "Msisdn"])[1], Some(0));
        assert_eq!(m.resolve(&["msisdn", "MSISDN"])[1], Some(1));
        // Any name as written (mapped or canonical) wins over every name in another case:
        // a header that had the field as written reads the column it always read.
        assert_eq!(m.resolve(&["msisdn", "subscriber"])[1], Some(1));
        let two = ColumnMap::parse(&["msisdn=subscriber", "a_party=subscriber"]).unwrap();
        assert_eq!(two.resolve(&["MSISDN", "a_party"])[1], Some(1));
        assert_eq!(two.resolve(&["MSISDN", "A_PARTY"])[1], Some(0));
    }

    /// A first record taken for a header (a file without one) is never quoted: its numbers
    /// would reach the message, and the server's log.
    #[test]
    fn a_header_of_values_is_not_quoted_back() {
        let e = resolve_required(
            &ColumnMap::default(),
            &[
                "2026-10-01T00:00:00Z",
                "+886 912-399",
                "+2348031239999",
                "in",
                "call",
            ],
            std::path::Path::new("x.csv"),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("912-399") && !e.contains("8031239999"), "{e}");
        assert!(!e.contains("2026-10-01"), "{e}");
        assert!(
            e.contains("found: <value>, <value>, <value>, in, call;"),
            "{e}"
        );
        assert!(e.contains("has the file a header row?"), "{e}");
    }

    #[test]
    fn missing_required_columns_name_the_file() {
        let e = resolve_required(
            &ColumnMap::default(),
            &["event_time", "kind"],
            std::path::Path::new("x.csv"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("x.csv") && e.contains("subscriber, direction"),
            "{e}"
        );
    }
}
