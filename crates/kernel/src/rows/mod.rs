//! Rows -> [`Event`]s or counted rejects (REFERENCE.md §2), whatever carried the rows.
//!
//! - [`interpret`]: one row's cells -> an event or the first rule it breaks;
//! - [`batch`]: an Arrow record batch -> rows, with the per-column work hoisted out of the
//!   row loop (what every Arrow source uses: Parquet and IPC readers, the Python package,
//!   Spark's Arrow batches);
//! - [`spans`]: a string column read straight from plain-encoded Parquet pages (no copy);
//! - [`columns`]: export column names -> canonical names;
//! - [`rejects`]: the reasons, the counted report, `strict`'s error.
//!
//! Readers hand each row's outcome to a [`RowSink`]; [`Counted`] is the one that counts it
//! into a [`Tally`] (rows, events, unknown counterparties, rejects with their row) and passes
//! the event to the caller's [`EventSink`]. Files are not read here: the file readers live in
//! the `hotzone` crate's `ingest` and call this module.

pub mod batch;
pub mod columns;
pub mod interpret;
pub mod rejects;
pub mod spans;

use std::path::Path;

use crate::error::Result;
pub use crate::model::event::{Counterparty, Event};
use crate::rows::rejects::{Reject, RejectReason, RejectReport};

/// Receives the events one worker reads.
pub trait EventSink: Send {
    /// One accepted event.
    fn event(&mut self, e: &Event);

    /// True when this sink treats an event at any instant from `first` to `last` (UTC epoch
    /// milliseconds, inclusive) exactly as the same event at `first`: a reader that knows
    /// (from a file's statistics) that every instant of some rows lies in that span may then
    /// give them all `first` instead of decoding their times. `false` (the default) for a
    /// sink that keeps instants, or their maximum.
    fn one_day(&self, _first: i64, _last: i64) -> bool {
        false
    }

    /// True when events at any instants from `first` to `last` (UTC epoch milliseconds,
    /// inclusive) change nothing this sink computes (a scan's counter: all before or all
    /// after its window): a reader allowed to (`IngestOptions::skip_outside_window`) may then
    /// leave rows that a file's statistics put in that span unread, counting them as such.
    /// `false` (the default) for a sink that every event can change.
    fn outside(&self, _first: i64, _last: i64) -> bool {
        false
    }

    /// [`EventSink::outside`] for a span read from the cells themselves, not from a file's
    /// statistics: a reader allowed to skip rows whose statistics put them in a span this
    /// says yes to decodes their instants first, and leaves them unread only when every
    /// instant is in such a span. For a sink that checks statistics against the rows it
    /// reads (a scan guessing its latest day, whose `outside` is `false`), and which rows
    /// before its window still change nothing. [`EventSink::outside`] by default.
    fn outside_read(&self, first: i64, last: i64) -> bool {
        self.outside(first, last)
    }

    /// A hint from the reader: about `rows` rows in all will come to this sink (an estimate
    /// from the size of the input and the rows of what it has read so far; a sink is given
    /// accepted events only, so at most that many). A sink may size its buffers by it; a
    /// wrong hint costs speed or memory, never what the sink computes. Ignored by default.
    fn expect(&mut self, _rows: u64) {}
}

/// What a run read.
#[derive(Clone, Debug, Default)]
pub struct IngestReport {
    /// Files read.
    pub files: usize,
    /// Data rows read (accepted + rejected).
    pub rows: u64,
    /// Rows accepted as events.
    pub events: u64,
    /// Accepted events whose counterparty is withheld or not a number.
    pub unknown_counterparties: u64,
    /// Rows not read: Parquet row groups whose statistics put every `event_time` outside
    /// the window, left unread by a scan allowed to (`IngestOptions::skip_outside_window`;
    /// not among `rows`, so neither counted as events nor checked for rejects).
    pub rows_not_read: u64,
    /// Rejected rows.
    pub rejects: RejectReport,
    /// Files found below an input directory but not read: their name gives no known format
    /// (`part-0.csv.gz`, Hive's extensionless `000000_0`).
    pub unread_files: Vec<std::path::PathBuf>,
}

impl IngestReport {
    /// Adds another report's counts and rejects (files included).
    pub fn merge(&mut self, other: IngestReport) {
        self.files += other.files;
        self.unread_files.extend(other.unread_files);
        self.rows += other.rows;
        self.events += other.events;
        self.unknown_counterparties += other.unknown_counterparties;
        self.rows_not_read += other.rows_not_read;
        self.rejects.merge(other.rejects);
    }
}

/// Where a reader sends each row's outcome.
pub trait RowSink {
    /// Row `row` (1-based in its file) is an event or a reject with its reason.
    fn row(&mut self, row: u64, result: std::result::Result<Event, RejectReason>) -> Result<()>;

    /// [`EventSink::one_day`] of the sink the accepted rows go to; `false` by default.
    fn one_day(&self, _first: i64, _last: i64) -> bool {
        false
    }

    /// [`EventSink::outside`] of the sink the accepted rows go to, when rows may be left
    /// unread at all (never under `strict`: the first bad row must be found); `false` by
    /// default.
    fn outside(&self, _first: i64, _last: i64) -> bool {
        false
    }

    /// [`EventSink::outside_read`] of the sink the accepted rows go to, under the same
    /// condition as [`RowSink::outside`]; `false` by default.
    fn outside_read(&self, _first: i64, _last: i64) -> bool {
        false
    }

    /// `rows` rows were left unread because [`RowSink::outside`] (or
    /// [`RowSink::outside_read`]) said so: counted apart.
    fn not_read(&mut self, _rows: u64) {}
}

/// A worker's event sink with the counts and rejects of the rows it was given.
#[derive(Debug, Default)]
pub struct Tally<S> {
    /// Where accepted events go.
    pub sink: S,
    /// Rows seen.
    pub rows: u64,
    /// Rows left unread ([`RowSink::not_read`]).
    pub not_read: u64,
    /// Rows accepted.
    pub events: u64,
    /// Accepted rows whose counterparty is unknown.
    pub unknown: u64,
    /// Rejected rows, with file and row.
    pub rejects: RejectReport,
}

impl<S> Tally<S> {
    /// An empty tally around `sink`.
    pub fn new(sink: S) -> Tally<S> {
        Tally {
            sink,
            rows: 0,
            not_read: 0,
            events: 0,
            unknown: 0,
            rejects: RejectReport::default(),
        }
    }

    /// Its counts and rejects as a report of `files` files (the sink stays).
    pub fn take_report(&mut self, files: usize) -> IngestReport {
        IngestReport {
            files,
            rows: std::mem::take(&mut self.rows),
            events: std::mem::take(&mut self.events),
            unknown_counterparties: std::mem::take(&mut self.unknown),
            rows_not_read: std::mem::take(&mut self.not_read),
            rejects: std::mem::take(&mut self.rejects),
            unread_files: Vec::new(),
        }
    }
}

/// The rows of one source (a file, a part of one, a stream of batches): counted into a
/// tally, each reject with the source's name; under `strict` the first reject is the error.
pub struct Counted<'a, S> {
    /// The tally the rows count into.
    pub tally: &'a mut Tally<S>,
    /// The name rejects carry (a file, or what the caller calls its stream).
    pub path: &'a Path,
    /// Fail on the first reject.
    pub strict: bool,
}

impl<S: EventSink> RowSink for Counted<'_, S> {
    /// An event for the sink, or a counted reject (the error under `strict`).
    #[inline(always)]
    fn row(&mut self, row: u64, result: std::result::Result<Event, RejectReason>) -> Result<()> {
        let t = &mut *self.tally;
        t.rows += 1;
        match result {
            Ok(e) => {
                t.events += 1;
                if e.counterparty == Counterparty::Unknown {
                    t.unknown += 1;
                }
                t.sink.event(&e);
                Ok(())
            }
            Err(reason) => self.reject(row, reason),
        }
    }

    fn one_day(&self, first: i64, last: i64) -> bool {
        self.tally.sink.one_day(first, last)
    }

    fn outside(&self, first: i64, last: i64) -> bool {
        !self.strict && self.tally.sink.outside(first, last)
    }

    fn outside_read(&self, first: i64, last: i64) -> bool {
        !self.strict && self.tally.sink.outside_read(first, last)
    }

    fn not_read(&mut self, rows: u64) {
        self.tally.not_read += rows;
    }
}

impl<S> Counted<'_, S> {
    #[cold]
    #[inline(never)]
    fn reject(&mut self, row: u64, reason: RejectReason) -> Result<()> {
        let reject = Reject {
            path: self.path.to_path_buf(),
            row,
            reason,
        };
        if self.strict {
            return Err(reject.into_error());
        }
        self.tally.rejects.push(reject);
        Ok(())
    }
}
