//! Rows that cannot be interpreted: why, how many, and where (REFERENCE.md §2).
//!
//! Nothing is silently dropped: every rejected row is counted under a stable reason key, and
//! its file, row number and reason are kept so a rejects file can be written. Under `--strict`
//! the first rejected row becomes an [`Error::RejectedRow`] with the same message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::Error;

/// Why a row was rejected. `key()` is the stable name used in summaries and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// A CSV record has a non-empty field past the header's last column: its cells are not
    /// where the header says (a line holding two records, an escape the reader does not
    /// know), so no cell of it can be trusted.
    TooManyFields,
    /// `event_time` is null or empty.
    MissingEventTime,
    /// `event_time` is none of the forms REFERENCE §2 reads (RFC 3339 with an offset, integer
    /// epoch milliseconds, and the lenient forms of common writers).
    BadEventTime,
    /// `event_time` is an instant outside the accepted range
    /// ([`crate::rows::interpret::EVENT_TIME_RANGE`]).
    TimeOutOfRange,
    /// `subscriber` is null or empty.
    MissingSubscriber,
    /// `subscriber` has no `+` and no default region is configured.
    SubscriberNoDefaultRegion,
    /// `subscriber` is not an E.164 number after normalisation.
    BadSubscriber,
    /// A counterparty number has no `+` and no default region is configured.
    CounterpartyNoDefaultRegion,
    /// `direction` is null or empty.
    MissingDirection,
    /// `direction` is not `in` or `out`.
    BadDirection,
    /// `kind` is null or empty.
    MissingKind,
    /// `kind` is not `call` or `sms`.
    BadKind,
    /// `duration_s` is not an integer >= 0.
    BadDuration,
    /// `counterparty_region` is not a region code.
    BadCounterpartyRegion,
}

impl RejectReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RejectReason; 14] = [
        RejectReason::TooManyFields,
        RejectReason::MissingEventTime,
        RejectReason::BadEventTime,
        RejectReason::TimeOutOfRange,
        RejectReason::MissingSubscriber,
        RejectReason::SubscriberNoDefaultRegion,
        RejectReason::BadSubscriber,
        RejectReason::CounterpartyNoDefaultRegion,
        RejectReason::MissingDirection,
        RejectReason::BadDirection,
        RejectReason::MissingKind,
        RejectReason::BadKind,
        RejectReason::BadDuration,
        RejectReason::BadCounterpartyRegion,
    ];

    /// Stable snake_case key.
    pub fn key(self) -> &'static str {
        match self {
            RejectReason::TooManyFields => "too_many_fields",
            RejectReason::MissingEventTime => "missing_event_time",
            RejectReason::BadEventTime => "bad_event_time",
            RejectReason::TimeOutOfRange => "time_out_of_range",
            RejectReason::MissingSubscriber => "missing_subscriber",
            RejectReason::SubscriberNoDefaultRegion => "subscriber_without_plus_no_default_region",
            RejectReason::BadSubscriber => "subscriber_not_e164",
            RejectReason::CounterpartyNoDefaultRegion => {
                "counterparty_without_plus_no_default_region"
            }
            RejectReason::MissingDirection => "missing_direction",
            RejectReason::BadDirection => "bad_direction",
            RejectReason::MissingKind => "missing_kind",
            RejectReason::BadKind => "bad_kind",
            RejectReason::BadDuration => "bad_duration",
            RejectReason::BadCounterpartyRegion => "bad_counterparty_region",
        }
    }

    /// The rule, in words (what a `--strict` error and a rejects file say).
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::TooManyFields => "the record has more fields than the header",
            RejectReason::MissingEventTime => "event_time is missing",
            RejectReason::BadEventTime => {
                "event_time is none of the forms read: RFC 3339 with an offset, or integer epoch milliseconds"
            }
            RejectReason::TimeOutOfRange => {
                "event_time is outside 1970-01-01T00:00:00Z ..= 2099-12-31T23:59:59.999Z"
            }
            RejectReason::MissingSubscriber => "subscriber is missing",
            RejectReason::SubscriberNoDefaultRegion => {
                "subscriber has no leading '+' and no default region is configured"
            }
            RejectReason::BadSubscriber => {
                "subscriber is not an E.164 number (^\\+[1-9][0-9]{4,14}$)"
            }
            RejectReason::CounterpartyNoDefaultRegion => {
                "counterparty has no leading '+' and no default region is configured"
            }
            RejectReason::MissingDirection => "direction is missing",
            RejectReason::BadDirection => "direction is not 'in' or 'out'",
            RejectReason::MissingKind => "kind is missing",
            RejectReason::BadKind => "kind is not 'call' or 'sms'",
            RejectReason::BadDuration => "duration_s is not an integer >= 0",
            RejectReason::BadCounterpartyRegion => {
                "counterparty_region is not a region code (ISO 3166-1 alpha-2, or AC, TA, XK)"
            }
        }
    }
}

/// One rejected row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reject {
    /// The file.
    pub path: PathBuf,
    /// 1-based data row in the file (the CSV header is not counted).
    pub row: u64,
    /// Why.
    pub reason: RejectReason,
}

impl Reject {
    /// The `--strict` error for this row.
    pub fn into_error(self) -> Error {
        Error::RejectedRow {
            path: self.path,
            row: self.row,
            reason: self.reason.message().to_owned(),
        }
    }
}

/// Rejected rows of a run: counts by reason, and every row unless told to keep none
/// ([`RejectReport::counting`]: a row kept takes about 100 bytes, and a 200 KB gzipped file
/// of 200M bad rows took gigabytes for a list nobody asked for).
#[derive(Clone, Debug)]
pub struct RejectReport {
    rows: Vec<Reject>,
    counts: Box<[u64; RejectReason::ALL.len()]>,
    keep: bool,
}

impl Default for RejectReport {
    /// A report that keeps every row.
    fn default() -> RejectReport {
        RejectReport::keeping(true)
    }
}

impl RejectReport {
    /// A report that keeps its rows (`keep`), or only counts them.
    pub fn keeping(keep: bool) -> RejectReport {
        RejectReport {
            rows: Vec::new(),
            counts: Box::new([0; RejectReason::ALL.len()]),
            keep,
        }
    }

    /// A report that counts rejects by reason and keeps no row.
    pub fn counting() -> RejectReport {
        RejectReport::keeping(false)
    }

    /// Whether [`RejectReport::rows`] lists every reject counted (else it lists none).
    pub fn keeps_rows(&self) -> bool {
        self.keep
    }

    /// Records one rejected row.
    pub fn push(&mut self, r: Reject) {
        self.counts[r.reason as usize] += 1;
        if self.keep {
            self.rows.push(r);
        }
    }

    /// Rows kept so far (what [`RejectReport::renumber`] spans index).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No row kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds `rows_before` to the row numbers of the kept rejects in `span` (the rows of a
    /// CSV file's parts before the one they were read in; see `ingest`).
    pub fn renumber(&mut self, span: std::ops::Range<usize>, rows_before: u64) {
        for r in &mut self.rows[span] {
            r.row += rows_before;
        }
    }

    /// Adds another report's counts and rows (the sum keeps rows only if both did).
    pub fn merge(&mut self, other: RejectReport) {
        for (c, o) in self.counts.iter_mut().zip(other.counts.iter()) {
            *c += *o;
        }
        self.keep &= other.keep;
        match self.keep {
            true => self.rows.extend(other.rows),
            false => self.rows.clear(),
        }
    }

    /// Number of rejected rows.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Counts by reason key (only reasons that occurred).
    pub fn by_reason(&self) -> BTreeMap<&'static str, u64> {
        (RejectReason::ALL.iter().zip(self.counts.iter().copied()))
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.key(), n))
            .collect()
    }

    /// The rows kept, sorted by file and row (every reject, unless the report only counts).
    pub fn rows(&mut self) -> &[Reject] {
        self.rows.sort();
        &self.rows
    }

    /// One-line summary: `3 (bad_direction=1, missing_subscriber=2)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .by_reason()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if parts.is_empty() {
            "0".to_owned()
        } else {
            format!("{} ({})", self.total(), parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_indexes_its_place_in_all() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    /// A counting report counts as a keeping one does, and lists no row.
    #[test]
    fn a_counting_report_counts_what_a_keeping_one_lists() {
        let (mut kept, mut counted) = (RejectReport::default(), RejectReport::counting());
        for (row, reason) in [
            (3, RejectReason::BadKind),
            (1, RejectReason::BadKind),
            (2, RejectReason::MissingSubscriber),
        ] {
            let r = Reject {
                path: "f.csv".into(),
                row,
                reason,
            };
            kept.push(r.clone());
            counted.push(r);
        }
        assert_eq!(kept.total(), 3);
        assert_eq!(
            (counted.total(), counted.by_reason()),
            (kept.total(), kept.by_reason())
        );
        assert_eq!(counted.summary(), "3 (bad_kind=2, missing_subscriber=1)");
        assert!(counted.rows().is_empty() && !counted.keeps_rows());
        assert_eq!(
            kept.rows().iter().map(|r| r.row).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        kept.merge(counted);
        assert_eq!(kept.total(), 6);
        assert!(!kept.keeps_rows() && kept.rows().is_empty());
    }
}
