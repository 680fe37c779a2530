//! Input files -> normalised [`Event`]s, with every rejected row counted (REFERENCE.md §2).
//!
//! [`ingest`] expands the inputs ([`sources`]), splits them into units of work (an IPC file,
//! one Parquet row group, a part of a CSV file cut at record boundaries by [`csv_split`], or
//! a compressed CSV file), and reads the units in parallel with rayon. A compressed file can
//! only be decompressed from its start, so the worker that takes it cuts its text into parts
//! as it decompresses ([`csv::CompressedParts`]) and queues them for the other workers. Each worker owns a sink built by the caller's
//! factory, so the caller's per-event work (the scan's counting, the index's building) runs
//! without locks; the caller merges the sinks after.
//!
//! Rows are numbered within their unit while it is read; a part of a CSV file does not know
//! how many rows the parts before it hold. Each worker notes the rows and the span of its
//! rejects per unit, and once every unit is read the rows of a file's earlier parts are
//! added to its rejects (and to a `--strict` error), so every row number is the row in its
//! file whatever the number of parts.
//!
//! A file that cannot be read is an error naming it; a row that cannot be interpreted is a
//! [`rejects::Reject`] (or, under `strict`, the error).

pub mod bounded;
pub(crate) mod claims;
pub mod columnar;
pub mod csv;
pub mod csv_split;
pub(crate) mod day_pages;
pub(crate) mod delta;
pub(crate) mod dict_pages;
pub(crate) mod inflate;
pub mod partitions;
pub mod plain_pages;
pub mod sources;

// The row rules live in the kernel crate; the readers here call them.
pub use hotzone_kernel::rows::{
    Counted, EventSink, IngestReport, RowSink, Tally, batch, columns, interpret, rejects,
};

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::error::Result;
pub use crate::ingest::columns::ColumnMap;
use crate::ingest::interpret::Interpreter;
pub use crate::ingest::interpret::{Counterparty, Event, RawRow};
use crate::ingest::sources::Format;
pub use crate::ingest::sources::{RecordedZone, ZONE_KEY, recorded_zone};
use crate::model::region::Region;

/// How rows are read and interpreted.
#[derive(Clone, Debug, Default)]
pub struct IngestOptions {
    /// Region used to read numbers written without `+` (national format).
    pub default_region: Option<Region>,
    /// Export column names -> canonical names.
    pub columns: ColumnMap,
    /// Stop at the first row that cannot be interpreted.
    pub strict: bool,
    /// Size of the parts a CSV file is cut into to be read in parallel
    /// ([`DEFAULT_CSV_PART_BYTES`] when `None`, or the whole file when the thread pool has one
    /// thread); small values exercise the split in tests.
    pub csv_part_bytes: Option<u64>,
    /// Rows per part of a large Parquet row group ([`DEFAULT_PARQUET_PART_ROWS`] when `None`,
    /// and then only for row groups of more than twice that; none when the thread pool has
    /// one thread); given, every row group of more rows is cut, which tests use.
    pub parquet_part_rows: Option<u64>,
    /// Bytes per part of a large Arrow IPC file, cut between record batches
    /// ([`IPC_PART_BYTES`] when `None`, and then only for files of more than twice that; none
    /// when the thread pool has one thread); given, every file of more bytes is cut.
    pub ipc_part_bytes: Option<u64>,
    /// Leave unread the Parquet row groups (or parts of one) whose `event_time` statistics
    /// prove every time accepted and outside what the sink counts (`EventSink::outside`: a
    /// scan's window), counting their rows in `IngestReport::rows_not_read`. Off (every row
    /// read and checked) for `Ingest`, Python, Spark and under `strict`; a CLI scan sets it
    /// unless asked for `--rejects` or `--strict`.
    pub skip_outside_window: bool,
    /// Count rejected rows by reason without keeping each row ([`rejects::RejectReport::counting`]):
    /// for a run that lists none (a CLI run without `--rejects`, the server). Off (every
    /// reject kept, `IngestReport::rejects` lists them) by default.
    pub count_rejects_only: bool,
}

/// CSV files are read in parts of about this many bytes (a file up to this size is one unit).
/// 16 MiB keeps every core busy to the end of a large file (a 605 MB file is 37 parts) while
/// a part's setup (open, seek, a 1 MiB buffer) stays negligible.
pub const DEFAULT_CSV_PART_BYTES: u64 = 16 << 20;

/// Parts of a compressed CSV file's text are at most this long: they are held in memory
/// (a few per worker) until read.
pub const COMPRESSED_PART_BYTES: u64 = 4 << 20;

/// A unit of parallel work.
#[derive(Clone, Debug)]
enum Unit {
    /// Bytes `range` of a CSV file; `first` is the unit of the file's first part, `file` the
    /// file's place in the inputs, `guessed` whether its cuts are a guess
    /// (`csv_split::guess`) that the reading checks.
    Csv {
        path: PathBuf,
        layout: Arc<csv::Layout>,
        range: (u64, u64),
        first: usize,
        file: usize,
        guessed: bool,
    },
    /// A whole compressed CSV file (the layout's `header_end`: in the decompressed text).
    CompressedCsv {
        path: PathBuf,
        codec: sources::Codec,
        layout: csv::Layout,
        /// The file's length (compressed bytes).
        bytes: u64,
    },
    /// An Arrow IPC file, or record batches `batches` of one (a large file is read in parts
    /// by several workers: [`ipc_parts`]); `first` is the unit of its first part.
    Ipc {
        path: PathBuf,
        batches: Option<Range<usize>>,
        first: usize,
    },
    /// Rows `part` of row group `rg` of a Parquet file, whose first row is file row `first`
    /// (a large row group is read in parts by several workers: [`row_group_parts`]).
    ParquetRowGroup {
        path: PathBuf,
        footer: columnar::Footer,
        rg: usize,
        first: u64,
        part: Range<usize>,
    },
}

/// An Arrow IPC file is read in parts of about this many bytes (of its record batches) when
/// the pool has several threads (a file of up to twice this size is one unit);
/// `IngestOptions::ipc_part_bytes` sets another size (tests).
pub const IPC_PART_BYTES: u64 = 64 << 20;

/// The units of the Arrow IPC file `path`: the whole file, or, when it is a file (not a
/// stream) of more than twice [`IPC_PART_BYTES`] and the pool has several threads, parts
/// of its record batches (about one per [`IPC_PART_BYTES`] of the file, split by batch
/// count: the footer says where batches are, not how many rows each holds). A part opens
/// the file and its dictionaries again and reads from its first batch on; its rows are
/// numbered in the file after the read, as a CSV part's are.
fn ipc_parts(path: &Path, part_bytes: Option<u64>, units: &mut Vec<Unit>) {
    let first = units.len();
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let (part, cut) = match part_bytes {
        Some(p) => (p.max(1), size > p),
        None => (
            IPC_PART_BYTES,
            rayon::current_num_threads() > 1 && size > 2 * IPC_PART_BYTES,
        ),
    };
    // (A footer the reader panics on: read whole, where the reading names the file.)
    let batches = cut
        .then(|| caught(|| columnar::ipc_batches(path)).ok().flatten())
        .flatten()
        .filter(|&n| n > 1);
    let Some(n) = batches else {
        units.push(Unit::Ipc {
            path: path.to_owned(),
            batches: None,
            first,
        });
        return;
    };
    let parts = usize::try_from(size.div_ceil(part))
        .unwrap_or(usize::MAX)
        .min(n);
    for k in 0..parts {
        units.push(Unit::Ipc {
            path: path.to_owned(),
            batches: Some(n * k / parts..n * (k + 1) / parts),
            first,
        });
    }
}

/// Rows per part of a Parquet row group read by several workers (see `IngestOptions::parquet_part_rows`).
pub const DEFAULT_PARQUET_PART_ROWS: u64 = 1 << 21;

/// The units of row groups `groups` (index, first file row) of the Parquet file `path`: one
/// per row group, or parts of one of about `part_rows` rows each. Some writers put a whole
/// file in one row group of tens of millions of rows, which one worker read alone. A part
/// costs the pages before it (their headers only), the page it starts in (decompressed for
/// the rows before it) and its own reading of a dictionary page; so by default (no
/// `part_rows`) a row group is cut only when the pool has several threads, the row group
/// has more than twice [`DEFAULT_PARQUET_PART_ROWS`] rows, and no page of a column the read
/// decodes holds more than a quarter of a part ([`columnar::largest_page_rows`]). A given
/// `part_rows` cuts every row group of more rows (tests cut small files so). Either way a row
/// group whose page headers do not add up to its rows is read whole (parts pass over rows by
/// those headers), so that its error is the whole reading's.
fn row_group_parts(
    path: &Path,
    footer: &columnar::Footer,
    groups: &[(usize, u64)],
    opts: &IngestOptions,
    units: &mut Vec<Unit>,
) {
    let threads = rayon::current_num_threads();
    for &(rg, first) in groups {
        let rows = u64::try_from(footer.row_group(rg).num_rows()).unwrap_or(0);
        let part = DEFAULT_PARQUET_PART_ROWS;
        let pages = || {
            caught(|| columnar::largest_page_rows(path, footer, rg, &opts.columns))
                .ok()
                .flatten()
        };
        let parts = match opts.parquet_part_rows {
            Some(p) if rows > p && pages().is_some() => rows.div_ceil(p.max(1)),
            None if threads > 1
                && rows > 2 * part
                && pages().is_some_and(|largest| largest as u64 <= part / 4) =>
            {
                rows.div_ceil(part)
            }
            _ => 1,
        };
        for k in 0..parts {
            let at = |k: u64| usize::try_from(rows * k / parts).unwrap_or(usize::MAX);
            units.push(Unit::ParquetRowGroup {
                path: path.to_owned(),
                footer: footer.clone(),
                rg,
                first,
                part: at(k)..at(k + 1),
            });
        }
    }
}

struct Worker<S> {
    interp: Interpreter,
    /// Decompressed Parquet page buffers, reused from one row group to the next.
    pages: plain_pages::PagePool,
    tally: Tally<S>,
    /// The units this worker read, with their rows and the span of their rejects.
    read: Vec<UnitRead>,
    /// Whether its sink was told the rows to expect ([`Ctx::tell`]).
    told: bool,
}

/// What the size of a reading's units tells a worker of the rows it will read in all
/// ([`EventSink::expect`]): the units' size (bytes of CSV text, rows of Parquet row groups,
/// or bytes of compressed CSV files) over the workers, in rows at the rate of the first unit
/// or part the worker read. Only when every unit is measured the same way (all plain CSV,
/// all Parquet, or all compressed CSV): the size of an Arrow IPC file is not known in rows
/// before it is read.
struct Expected {
    /// The units' size, all in one measure.
    total: Option<Size>,
    workers: u64,
}

/// A unit's size, and what it counts.
type Size = (u64, Measure);

/// What a unit's size counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    /// Bytes of CSV text.
    Text,
    /// Rows of a Parquet row group.
    Rows,
    /// Bytes of a compressed CSV file (a part of one: the bytes its text came from).
    Compressed,
}

impl Expected {
    fn of(sizes: impl IntoIterator<Item = Option<Size>>, workers: usize) -> Expected {
        let mut sizes = sizes.into_iter();
        let total = sizes.next().flatten().and_then(|(first, measure)| {
            sizes.try_fold((first, measure), |(sum, measure), size| {
                size.filter(|(_, m)| *m == measure)
                    .map(|(n, _)| (sum.saturating_add(n), measure))
            })
        });
        Expected {
            total,
            workers: workers.max(1) as u64,
        }
    }

    /// A unit's size; `None` for an Arrow IPC file.
    fn size(unit: &Unit) -> Option<Size> {
        match unit {
            Unit::Csv { range, .. } => Some((range.1.saturating_sub(range.0), Measure::Text)),
            Unit::ParquetRowGroup { part, .. } => Some((part.len() as u64, Measure::Rows)),
            Unit::CompressedCsv { bytes, .. } => Some((*bytes, Measure::Compressed)),
            Unit::Ipc { .. } => None,
        }
    }

    /// The rows a worker may expect in all, having read `rows` rows in a unit of `size`;
    /// `None` when the units' size says nothing, or this unit's does not (none, zero, or in
    /// another measure).
    fn rows(&self, size: Option<Size>, rows: u64) -> Option<u64> {
        let (total, measure) = self.total?;
        let (size, _) = size.filter(|(n, m)| *n > 0 && *m == measure)?;
        let all =
            u128::from(rows) * u128::from(total) / u128::from(size) / u128::from(self.workers);
        Some(u64::try_from(all).unwrap_or(u64::MAX))
    }
}

/// What one unit (or part `seq` of a compressed unit) held: its rows, where its rejects
/// are in the worker's report, and whether its text ended between records (always true but
/// for a CSV part whose last record runs on into the next part: a quoted line end).
struct UnitRead {
    unit: usize,
    seq: u32,
    rows: u64,
    rejects: Range<usize>,
    between: bool,
}

/// Reads every input and feeds each worker's sink; returns the sinks and the report.
/// `progress` is called with the units read so far after each unit (for a progress bar).
///
/// `reading` gives the sink factory of one reading of the inputs; it is called again, and the
/// sinks of the reading before dropped, when a CSV file's guessed cuts prove wrong (a quoted
/// field runs across one: see `csv_split::guess`), so whatever the sinks of one reading
/// share (an exchange, a dictionary) must start afresh in each call.
pub fn ingest<S, F, R>(
    inputs: &[String],
    opts: &IngestOptions,
    reading: R,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
    R: FnMut() -> F,
{
    ingest_in_order(inputs, opts, reading, progress, None)
}

/// Bytes of each CSV file's end that [`latest_in_tails`] reads.
pub const TAIL_BYTES: u64 = 64 << 10;

/// A guess at the latest accepted instant of `inputs` when every one is a plain CSV file:
/// the latest accepted row among the last [`TAIL_BYTES`] of each (exports are mostly
/// written in time order; of at most [`TAIL_FILES`] files, read in parallel), read as a part
/// of the file is. `None` when an input is of another
/// format or no tail gives an accepted row. Only a guess: a caller checks it against the
/// rows it then reads (a tail that starts inside a quoted field reads as what it is not, and
/// a file's latest row may be anywhere); a tail that fails to read gives no guess.
pub fn latest_in_tails(inputs: &[String], opts: &IngestOptions) -> Option<i64> {
    let files = sources::expand(inputs).ok()?;
    if files.is_empty() || files.iter().any(|(_, f)| *f != Format::Csv) {
        return None;
    }
    let mut paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    if paths.len() > TAIL_FILES {
        // Many files (an export a day or an hour): the latest rows are most likely in the
        // files written last, or named last (dates in names and partition folders).
        let modified = |p: &&Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut by_time = paths.clone();
        by_time.sort_by_cached_key(modified);
        paths.sort_unstable();
        let mut picked: Vec<&Path> = (paths[paths.len() - TAIL_FILES / 2..].iter())
            .chain(&by_time[by_time.len() - TAIL_FILES / 2..])
            .copied()
            .collect();
        picked.sort_unstable();
        picked.dedup();
        paths = picked;
    }
    let latest = |path: &Path| -> Option<Option<i64>> {
        let layout = csv::layout(path, &opts.columns).ok()?;
        let range = csv_split::tail(path, TAIL_BYTES, layout.header_end).ok()?;
        let mut tally = Tally::new(hotzone_kernel::api::LatestSink::default());
        let mut rows = Counted {
            tally: &mut tally,
            path,
            strict: false,
        };
        let mut interp = Interpreter::new(opts.default_region);
        caught(|| csv::read(path, &layout, range, &mut interp, &mut rows))
            .ok()?
            .ok()?;
        Some(tally.sink.0)
    };
    let tails: Option<Vec<Option<i64>>> = paths.par_iter().map(|p| latest(p)).collect();
    tails?.into_iter().flatten().max()
}

/// Files whose tails [`latest_in_tails`] reads at most (half the last by name, half the last
/// written), so that a directory of many small files is not read twice.
pub const TAIL_FILES: usize = 16;

/// Whether a sink can still change if given rows whose instants are all at most the bound
/// (UTC epoch milliseconds): see [`ingest_latest_first`].
pub type Settled<'a, S> = &'a (dyn Fn(&S, i64) -> bool + Sync);

/// [`ingest`] for a pass whose sinks keep only the latest accepted instant (a scan's first
/// pass when no `as_of` is given). The row groups of Parquet files are read latest first, by
/// the bound their `event_time` statistics put on their instants
/// ([`columnar::latest_bound`]; row groups without one first), and a worker does not read a
/// row group when `settled(its sink, bound)` says no row of it could change its sink. On a
/// time-ordered file the last row group settles the others; on one in any order, the first
/// each worker reads. So the report counts the rows read, not every row; when no row was
/// accepted, no row group was left unread. Under `strict` this is [`ingest`]: the first bad
/// row in the inputs' order must be the one found; so is a reading that fails, done again
/// in the inputs' order (the error reported is the one an ordered reading meets first).
pub fn ingest_latest_first<S, F, R>(
    inputs: &[String],
    opts: &IngestOptions,
    reading: R,
    settled: Settled<'_, S>,
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
    R: FnMut() -> F,
{
    let mut reading = reading;
    let latest = (!opts.strict).then_some(settled);
    match ingest_in_order(inputs, opts, &mut reading, &|_, _| {}, latest) {
        Err(_) if latest.is_some() => ingest_in_order(inputs, opts, reading, &|_, _| {}, None),
        done => done,
    }
}

/// [`ingest`], or [`ingest_latest_first`] when `latest` is given.
fn ingest_in_order<S, F, R>(
    inputs: &[String],
    opts: &IngestOptions,
    mut reading: R,
    progress: &(dyn Fn(u64, u64) + Sync),
    latest: Option<Settled<'_, S>>,
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
    R: FnMut() -> F,
{
    let sources::Expanded { files, unread } = sources::expand_all(inputs)?;
    // CSV files are first cut where lines end (a guess, checked as the parts are read); a
    // file where the guess fell inside a quoted field is cut exactly the next time, and so
    // is every file after it when the reading stopped there (at a `--strict` error: the
    // files after it were not checked). A second miss (only a file that changed under the
    // scan can cause one) has every file cut exactly: a reading with no guessed cut is
    // never missed, so there are at most three.
    let mut exact = vec![false; files.len()];
    for readings in 1.. {
        let mut units = plan(&files, opts, &exact)?;
        let skip = latest.map(|settled| (latest_first(&mut units, &opts.columns), settled));
        let skip = skip
            .as_ref()
            .map(|(bounds, settled)| (bounds.as_slice(), *settled));
        match run(units, files.len(), opts, &reading(), progress, skip)? {
            Run::Read(sinks, mut report) => {
                report.unread_files = unread;
                return Ok((sinks, report));
            }
            Run::Missed { files, stopped } if readings == 1 => {
                for &f in &files {
                    exact[f] = true;
                }
                if stopped && let Some(&first) = files.first() {
                    exact[first..].fill(true);
                }
            }
            Run::Missed { .. } => exact.fill(true),
        }
    }
    unreachable!("a reading with exact cuts only is never missed")
}

/// Puts the Parquet row groups among `units` in the order of their bounds, latest first (those
/// without one first), in the places row groups held (the other units keep theirs, which a
/// CSV file's parts need); returns each unit's bound.
fn latest_first(units: &mut [Unit], columns: &ColumnMap) -> Vec<Option<i64>> {
    let bound = |u: &Unit| match u {
        Unit::ParquetRowGroup { footer, rg, .. } => columnar::latest_bound(footer, *rg, columns),
        _ => None,
    };
    let places: Vec<usize> = (0..units.len())
        .filter(|&i| matches!(units[i], Unit::ParquetRowGroup { .. }))
        .collect();
    let mut groups: Vec<(Option<i64>, Unit)> = (places.iter())
        .map(|&i| (bound(&units[i]), units[i].clone()))
        .collect();
    groups.sort_by_key(|(b, _)| std::cmp::Reverse(b.unwrap_or(i64::MAX)));
    let mut bounds = vec![None; units.len()];
    for (&i, (b, unit)) in places.iter().zip(groups) {
        (units[i], bounds[i]) = (unit, b);
    }
    bounds
}

/// How a [`run`] ended: the sinks and the report, or the files (in input order) whose
/// guessed cuts fell inside a quoted field, and whether the reading stopped at an error
/// before every unit was read (the sinks, which counted rows of parts read from a wrong
/// start, are dropped).
enum Run<S> {
    Read(Vec<S>, IngestReport),
    Missed { files: Vec<usize>, stopped: bool },
}

/// Row groups `groups` of the Parquet file `path`: one part of a file that a distributed
/// engine gives to one task (`hotzone.spark` reads a plain Parquet scan this way).
pub type RowGroups = (PathBuf, Range<usize>);

/// Reads the given row groups of Parquet files as [`ingest`] reads whole inputs: one unit per
/// row group, rows numbered in their file (the row groups before a part are counted from the
/// footer), rejects and `strict` as for a whole file. The report's `files` counts the distinct
/// files. A range past a file's row groups is an error naming the file.
pub fn ingest_row_groups<S, F>(
    parts: &[RowGroups],
    opts: &IngestOptions,
    make_sink: F,
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
{
    let mut units = Vec::new();
    let mut files: Vec<&Path> = Vec::new();
    for (path, range) in parts {
        let (footer, groups) = columnar::parquet_row_groups(path)?;
        if range.start > range.end || range.end > groups.len() {
            return Err(crate::error::Error::read(
                path,
                format!(
                    "has {} row group(s); row groups {}..{} were asked for",
                    groups.len(),
                    range.start,
                    range.end
                ),
            ));
        }
        row_group_parts(path, &footer, &groups[range.clone()], opts, &mut units);
        if !files.contains(&path.as_path()) {
            files.push(path);
        }
    }
    match run(units, files.len(), opts, &make_sink, &|_, _| {}, None)? {
        Run::Read(sinks, report) => Ok((sinks, report)),
        Run::Missed { .. } => unreachable!("row groups are not cut"),
    }
}

/// Reads `units` in parallel, one worker (and sink) per thread of the current pool.
///
/// A compressed CSV file is cut while it decompresses: the worker that takes it queues its
/// parts ([`Parts`]) for the others, which read them between (and after) the other units.
///
/// With `skip` (each unit's bound, and the sinks' `settled`: see [`ingest_latest_first`]), a
/// unit with a bound that settles the worker's sink is not read.
fn run<S, F>(
    units: Vec<Unit>,
    files: usize,
    opts: &IngestOptions,
    make_sink: &F,
    progress: &(dyn Fn(u64, u64) + Sync),
    skip: Option<(&[Option<i64>], Settled<'_, S>)>,
) -> Result<Run<S>>
where
    S: EventSink,
    F: Fn() -> S + Sync,
{
    let total_units = units.len() as u64;
    let pool = rayon::current_num_threads().max(1);
    // Under `strict`, a compressed file is read in one go: the first bad row is then the
    // first one read.
    let split = !opts.strict && pool > 1;
    let compressed = units
        .iter()
        .filter(|u| matches!(u, Unit::CompressedCsv { .. }))
        .count();
    let split = split && compressed > 0;
    // Exactly one worker (and so one sink) per thread, pulling units from a shared cursor:
    // rayon's fold would make a sink per split, multiplying the memory of large sinks.
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    // The lowest unit whose reading failed (`usize::MAX`: none yet).
    let failed = AtomicUsize::new(usize::MAX);
    let parts = Parts::new(if split { compressed } else { 0 }, pool);
    let threads = if split {
        pool
    } else {
        pool.clamp(1, units.len().max(1))
    };
    let ctx = Ctx {
        units: &units,
        opts,
        parts: &parts,
        failed: &failed,
        expected: Expected::of(units.iter().map(Expected::size), threads),
    };
    let results = (0..threads)
        .into_par_iter()
        .map(|_| {
            let mut w = Worker {
                interp: Interpreter::new(opts.default_region),
                pages: Default::default(),
                tally: Tally {
                    rejects: rejects::RejectReport::keeping(!opts.count_rejects_only),
                    ..Tally::new(make_sink())
                },
                read: Vec::new(),
                told: false,
            };
            loop {
                let failed_at = failed.load(Ordering::Relaxed);
                if failed_at != usize::MAX {
                    // Parts of files up to the failing one that no worker would read now:
                    // read here, so that an earlier error in input order is still found.
                    while let Some(p) = parts.pop_upto(failed_at) {
                        if let Err(e) = ctx.read_queued(p, &mut w) {
                            ctx.fail(e.0.0);
                            return (w, Some(e));
                        }
                    }
                    return (w, None);
                }
                // Queued parts first: they hold memory.
                if let Some(p) = parts.try_pop() {
                    if let Err(e) = ctx.read_queued(p, &mut w) {
                        ctx.fail(e.0.0);
                        return (w, Some(e));
                    }
                    continue;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units.len() {
                    // Nothing left to take: read parts while files are still being cut.
                    while let Some(p) = parts.wait_pop(&failed) {
                        if let Err(e) = ctx.read_queued(p, &mut w) {
                            ctx.fail(e.0.0);
                            return (w, Some(e));
                        }
                    }
                    if failed.load(Ordering::Relaxed) != usize::MAX {
                        continue; // to the drain above
                    }
                    return (w, None);
                }
                if let Some((bounds, settled)) = skip
                    && bounds[i].is_some_and(|b| settled(&w.tally.sink, b))
                {
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total_units);
                    continue;
                }
                let read = match &units[i] {
                    Unit::CompressedCsv { .. } if split => ctx.cut(i, &mut w),
                    unit => recorded(&mut w, i, 0, |w| read_unit(unit, opts, w))
                        .map_err(|e| ((i, 0), e)),
                };
                if let Err(e) = read {
                    ctx.fail(e.0.0);
                    return (w, Some(e));
                }
                ctx.tell(&mut w, Expected::size(&units[i]), i);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total_units);
            }
        })
        .collect::<Vec<_>>();
    // A guessed cut holds when every part of the file but its last ends between records:
    // by induction from the file's start, each part then starts between records. A part
    // that does not ends with a record cut short (its true end is in the next part, which
    // was read from a wrong start). Units are taken in order and a started one finishes,
    // so when a reading fails, every part before the failed one was read and checked; but
    // a failed part's own end is not known: a row it rejected under `--strict` may be its
    // last record cut short, so its file is read again with exact cuts to find out. (Any
    // other error, unreadable or changed bytes, is the file's whatever the cut.)
    let guessed_file = |unit: usize| match &units[unit] {
        Unit::Csv {
            file,
            guessed: true,
            ..
        } if matches!(units.get(unit + 1), Some(Unit::Csv { file: f, .. }) if f == file) => {
            Some(*file)
        }
        _ => None,
    };
    let rejected = |failure: &Option<Failure>| match failure {
        Some(((unit, _), crate::error::Error::RejectedRow { .. })) => Some(*unit),
        _ => None,
    };
    let mut missed: Vec<usize> = (results.iter())
        .flat_map(|(w, failure)| {
            let cut_short = w.read.iter().filter(|r| !r.between).map(|r| r.unit);
            cut_short.chain(rejected(failure))
        })
        .filter_map(guessed_file)
        .collect();
    if !missed.is_empty() {
        missed.sort_unstable();
        missed.dedup();
        let stopped = results.iter().any(|(_, failure)| failure.is_some());
        return Ok(Run::Missed {
            files: missed,
            stopped,
        });
    }
    // Rows before each unit or part in its file: the rows of the file's earlier ones.
    let file_of = |unit: usize| match &units[unit] {
        Unit::Csv { first, .. } | Unit::Ipc { first, .. } => *first,
        _ => unit,
    };
    let mut order: Vec<(usize, usize, u32, u64)> = results
        .iter()
        .flat_map(|(w, _)| w.read.iter())
        .map(|r| (file_of(r.unit), r.unit, r.seq, r.rows))
        .collect();
    order.sort_unstable();
    let rows_before = |unit: usize, seq: u32| -> u64 {
        let file = file_of(unit);
        order
            .iter()
            .filter(|(f, u, q, _)| *f == file && (*u, *q) < (unit, seq))
            .map(|r| r.3)
            .sum()
    };
    let mut before = std::collections::HashMap::with_capacity(order.len());
    let mut running = (usize::MAX, 0u64);
    for &(f, u, q, rows) in &order {
        if running.0 != f {
            running = (f, 0);
        }
        before.insert((u, q), running.1);
        running.1 += rows;
    }
    // Units are taken in order and a started unit always finishes (a compressed file that is
    // being cut too: its cutter reads it to the end when the run fails at a later unit), so the error
    // of the lowest (unit, part) is the first one reading in input order meets, whatever the
    // threads, and every unit before it was read: `--strict` names the first bad row,
    // numbered in its file.
    let mut workers = Vec::with_capacity(results.len());
    let mut first_error: Option<Failure> = None;
    for (w, failure) in results {
        if let Some((at, e)) = failure
            && first_error.as_ref().is_none_or(|(first, _)| at < *first)
        {
            first_error = Some((at, e));
        }
        workers.push(w);
    }
    if let Some(((unit, seq), mut e)) = first_error {
        if let crate::error::Error::RejectedRow { row, .. } = &mut e {
            *row += rows_before(unit, seq);
        }
        return Err(e);
    }
    let mut report = IngestReport {
        files,
        ..IngestReport::default()
    };
    let mut sinks = Vec::with_capacity(workers.len());
    for Worker {
        tally: mut t, read, ..
    } in workers
    {
        for r in read {
            t.rejects.renumber(r.rejects, before[&(r.unit, r.seq)]);
        }
        report.rows += t.rows;
        report.events += t.events;
        report.unknown_counterparties += t.unknown;
        report.rows_not_read += t.not_read;
        report.rejects.merge(t.rejects);
        sinks.push(t.sink);
    }
    Ok(Run::Read(sinks, report))
}

/// An error and the (unit, part) where it was met.
type Failure = ((usize, u32), crate::error::Error);

/// Reads with `read` on `w`, and notes the rows and rejects it added as those of part `seq`
/// of `unit`.
fn recorded<S: EventSink>(
    w: &mut Worker<S>,
    unit: usize,
    seq: u32,
    read: impl FnOnce(&mut Worker<S>) -> Result<bool>,
) -> Result<()> {
    let (rows, rejects) = (w.tally.rows, w.tally.rejects.len());
    let between = read(w)?;
    w.read.push(UnitRead {
        unit,
        seq,
        rows: w.tally.rows - rows,
        rejects: rejects..w.tally.rejects.len(),
        between,
    });
    Ok(())
}

/// What every worker of a [`run`] shares.
struct Ctx<'a> {
    units: &'a [Unit],
    opts: &'a IngestOptions,
    parts: &'a Parts,
    failed: &'a AtomicUsize,
    expected: Expected,
}

impl Ctx<'_> {
    /// Marks the run failed at `unit` and wakes the workers waiting for parts.
    fn fail(&self, unit: usize) {
        self.failed.fetch_min(unit, Ordering::Relaxed);
        self.parts.wake_all();
    }

    /// Cuts compressed unit `i` into parts for the other workers, reading a part itself
    /// whenever the queue is full, then reads the file's last part. Once the run has failed
    /// (here or elsewhere), the other workers stop: the cutter then reads this file's
    /// queued and remaining parts itself, so that the file's own first error is found as a
    /// reading on one thread would find it.
    fn cut<S: EventSink>(&self, i: usize, w: &mut Worker<S>) -> std::result::Result<(), Failure> {
        let Unit::CompressedCsv {
            path,
            codec,
            layout,
            ..
        } = &self.units[i]
        else {
            unreachable!("cut is called on compressed units")
        };
        // Counted down even if a read panics: a worker waiting for parts must not wait on.
        let _cut = CutDone(self.parts);
        let part_bytes = self
            .opts
            .csv_part_bytes
            .unwrap_or(DEFAULT_CSV_PART_BYTES)
            .min(COMPRESSED_PART_BYTES);
        let mut parts = csv::CompressedParts::open(path, *codec, layout, part_bytes)
            .map_err(|e| ((i, 0), e))?;
        let mut seq = 0u32;
        loop {
            let next = parts.next_part();
            let failed_at = self.failed.load(Ordering::Relaxed);
            if failed_at < i {
                return Ok(()); // an earlier unit's error is the run's: this file cannot matter
            }
            let failed = next.is_err() || failed_at != usize::MAX;
            if failed {
                // Parts of this file before `seq` that no worker will read now.
                while let Some(p) = self.parts.pop_of(i) {
                    self.read_queued(p, w)?;
                }
            }
            let Some(part) = next.map_err(|e| ((i, seq), e))? else {
                break;
            };
            let weight = parts.compressed_share(part.text.len() as u64);
            let queued = QueuedPart {
                unit: i,
                seq,
                part,
                weight,
            };
            if failed {
                self.read_queued(queued, w)?;
            } else if let Some(own) = self.parts.push(queued) {
                self.read_queued(own, w)?;
            }
            seq += 1;
        }
        let rest = recorded(w, i, seq, |w| {
            let mut rows = Counted {
                tally: &mut w.tally,
                path,
                strict: self.opts.strict,
            };
            parts.read_rest(layout, &mut w.interp, &mut rows)?;
            Ok(true)
        })
        .map_err(|e| ((i, seq), e));
        if rest.is_err() || self.failed.load(Ordering::Relaxed) != usize::MAX {
            // Earlier parts of this file still queued: their error comes first.
            while let Some(p) = self.parts.pop_of(i) {
                self.read_queued(p, w)?;
            }
        }
        rest
    }

    /// Reads a queued part of a compressed file.
    fn read_queued<S: EventSink>(
        &self,
        p: QueuedPart,
        w: &mut Worker<S>,
    ) -> std::result::Result<(), Failure> {
        let Unit::CompressedCsv { path, layout, .. } = &self.units[p.unit] else {
            unreachable!("only compressed files are cut into queued parts")
        };
        recorded(w, p.unit, p.seq, |w| {
            let mut rows = Counted {
                tally: &mut w.tally,
                path,
                strict: self.opts.strict,
            };
            csv::read_part(path, layout, &p.part, &mut w.interp, &mut rows)?;
            Ok(true)
        })
        .map_err(|e| ((p.unit, p.seq), e))?;
        self.tell(w, Some((p.weight, Measure::Compressed)), p.unit);
        Ok(())
    }

    /// Tells the worker's sink the rows it may expect ([`Expected`]), once: after the first
    /// unit or part it read whose size says something (of `size`; `unit` is the last it
    /// read).
    fn tell<S: EventSink>(&self, w: &mut Worker<S>, size: Option<Size>, unit: usize) {
        let last = (w.read.last()).filter(|r| r.unit == unit).map(|r| r.rows);
        if !w.told
            && let Some(rows) = last.and_then(|rows| self.expected.rows(size, rows))
        {
            w.tally.sink.expect(rows);
            w.told = true;
        }
    }
}

/// A part of a compressed file waiting for a worker: part `seq` of unit `unit`, and the
/// compressed bytes its text came from (an estimate: [`csv::CompressedParts::compressed_share`]).
struct QueuedPart {
    unit: usize,
    seq: u32,
    part: csv::TextPart,
    weight: u64,
}

/// The parts of compressed files waiting to be read, at most `cap` of them (memory stays
/// bounded: a cutter that finds the queue full reads a part itself), and how many files are
/// still to be cut.
struct Parts {
    state: std::sync::Mutex<PartsState>,
    ready: std::sync::Condvar,
    cap: usize,
}

/// Counts a file's cut as done when dropped, so that a panic while cutting cannot leave
/// workers waiting for parts that will never come.
struct CutDone<'a>(&'a Parts);

impl Drop for CutDone<'_> {
    fn drop(&mut self) {
        self.0.cut_done();
    }
}

struct PartsState {
    queue: std::collections::VecDeque<QueuedPart>,
    cutting: usize,
}

impl Parts {
    fn new(files: usize, cap: usize) -> Parts {
        Parts {
            state: std::sync::Mutex::new(PartsState {
                queue: std::collections::VecDeque::new(),
                cutting: files,
            }),
            ready: std::sync::Condvar::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PartsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_pop(&self) -> Option<QueuedPart> {
        self.lock().queue.pop_front()
    }

    /// The first queued part of `unit`, if any.
    fn pop_of(&self, unit: usize) -> Option<QueuedPart> {
        self.pop_where(|u| u == unit)
    }

    /// The first queued part of a unit up to `unit`, if any.
    fn pop_upto(&self, unit: usize) -> Option<QueuedPart> {
        self.pop_where(|u| u <= unit)
    }

    fn pop_where(&self, wanted: impl Fn(usize) -> bool) -> Option<QueuedPart> {
        let mut s = self.lock();
        let at = s.queue.iter().position(|p| wanted(p.unit))?;
        s.queue.remove(at)
    }

    /// Queues `p`; when the queue is then over its cap, gives back the oldest part for the
    /// caller to read.
    fn push(&self, p: QueuedPart) -> Option<QueuedPart> {
        let mut s = self.lock();
        s.queue.push_back(p);
        let own = (s.queue.len() > self.cap)
            .then(|| s.queue.pop_front())
            .flatten();
        drop(s);
        self.ready.notify_one();
        own
    }

    /// A queued part, waiting while a file is still being cut; `None` once none is left to
    /// come, or the run failed.
    fn wait_pop(&self, failed: &AtomicUsize) -> Option<QueuedPart> {
        let mut s = self.lock();
        loop {
            if failed.load(Ordering::Relaxed) != usize::MAX {
                return None;
            }
            if let Some(p) = s.queue.pop_front() {
                return Some(p);
            }
            if s.cutting == 0 {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// One file is cut (or gave up).
    fn cut_done(&self) {
        self.lock().cutting -= 1;
        self.ready.notify_all();
    }

    fn wake_all(&self) {
        let _held = self.lock();
        self.ready.notify_all();
    }
}

/// The units of `files`; a CSV file is cut exactly when `exact` says so (else its cuts are
/// guessed where lines end, see `csv_split::guess`).
fn plan(files: &[(PathBuf, Format)], opts: &IngestOptions, exact: &[bool]) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (file, (path, format)) in files.iter().enumerate() {
        // A file of no bytes holds no rows, whatever its name: a writer's placeholder for an
        // empty partition, or a file not yet written. Read so in every format, as a CSV
        // file of no bytes always was (its Parquet or IPC reading was an error that stopped
        // the run, though a placeholder hides no rows).
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            continue;
        }
        match format {
            Format::Csv => {
                let layout = Arc::new(csv::layout(path, &opts.columns)?);
                // One worker reads the file whole: cutting it would read it twice (the cut
                // runs every byte through the quote automaton) for no parallelism.
                let part_bytes = match opts.csv_part_bytes {
                    Some(b) => b,
                    None if rayon::current_num_threads() <= 1 => u64::MAX,
                    None => DEFAULT_CSV_PART_BYTES,
                };
                let first = units.len();
                let guessed = !exact[file];
                let ranges = if guessed {
                    csv_split::guess(path, part_bytes, layout.header_end)?
                } else {
                    csv_split::plan(path, part_bytes, layout.header_end, layout.sep)?
                };
                let guessed = guessed && ranges.len() > 1;
                for range in ranges {
                    units.push(Unit::Csv {
                        path: path.clone(),
                        layout: Arc::clone(&layout),
                        range,
                        first,
                        file,
                        guessed,
                    });
                }
            }
            Format::CompressedCsv(codec) => {
                let layout = csv::compressed_layout(path, *codec, &opts.columns)?;
                let bytes = std::fs::metadata(path)
                    .map_err(|e| crate::error::Error::io(path, e))?
                    .len();
                units.push(Unit::CompressedCsv {
                    path: path.clone(),
                    codec: *codec,
                    layout,
                    bytes,
                });
            }
            Format::Ipc => ipc_parts(path, opts.ipc_part_bytes, &mut units),
            Format::Parquet => {
                let (footer, groups) = columnar::parquet_row_groups(path)?;
                row_group_parts(path, &footer, &groups, opts, &mut units);
            }
        }
    }
    Ok(units)
}

/// Reads one unit into the worker's sink; false when it is a CSV part whose text ends inside
/// a quoted field (see [`csv::read`]).
fn read_unit<S: EventSink>(unit: &Unit, opts: &IngestOptions, w: &mut Worker<S>) -> Result<bool> {
    let path = match unit {
        Unit::Csv { path: p, .. }
        | Unit::CompressedCsv { path: p, .. }
        | Unit::Ipc { path: p, .. }
        | Unit::ParquetRowGroup { path: p, .. } => p,
    };
    let mut rows = Counted {
        tally: &mut w.tally,
        path,
        strict: opts.strict,
    };
    let (interp, pages) = (&mut w.interp, &mut w.pages);
    let read = || match unit {
        Unit::Csv {
            path,
            layout,
            range,
            ..
        } => csv::read(path, layout, *range, interp, &mut rows),
        Unit::CompressedCsv {
            path,
            codec,
            layout,
            ..
        } => csv::read_compressed(path, *codec, layout, interp, &mut rows).map(|()| true),
        Unit::Ipc { path, batches, .. } => {
            let batches = batches.clone();
            columnar::read_ipc(path, batches, &opts.columns, interp, &mut rows).map(|()| true)
        }
        Unit::ParquetRowGroup {
            path,
            footer,
            rg,
            first,
            part,
        } => {
            let (cols, part) = (&opts.columns, part.clone());
            columnar::read_parquet_row_group(
                path,
                footer,
                *rg,
                part,
                *first,
                (cols, opts.skip_outside_window),
                (interp, pages),
                &mut rows,
            )
            .map(|()| true)
        }
    };
    // The Arrow and Parquet readers assert what a damaged file can break (an IPC footer
    // pointing into another batch's message made arrow-rs panic): such a panic is the file's
    // error, never the process's end. The workers' state after it is dropped with the run.
    caught(read).unwrap_or_else(|_| {
        Err(crate::error::Error::read(
            path,
            "the reader stopped on damaged data (the Arrow/Parquet library could not decode it)",
        ))
    })
}

/// `read()`, a panic in it caught (see [`in_reader`]): a reader of data (here, and the Python
/// package's import of Arrow batches) reports its panic as the input's error.
pub fn caught<T>(read: impl FnOnce() -> T) -> std::thread::Result<T> {
    READING.set(true);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    READING.set(false);
    outcome
}

thread_local! {
    /// True while this thread reads a unit (a panic there is the file's error).
    static READING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True while the current thread reads a unit of input, where a panic of a file reader is
/// caught and becomes an error naming the file: a panic hook can keep quiet about it.
pub fn in_reader() -> bool {
    READING.get()
}

/// Writes the rejects of `report` to `path` (`-`: stdout) as `file,row,reason,message` CSV,
/// sorted by file and row (`--rejects`).
///
/// A file is written under a temporary name that the caller commits with the run's other
/// outputs (`None`: written to stdout).
pub fn write_rejects(
    report: &mut rejects::RejectReport,
    path: &Path,
) -> Result<Option<crate::staged::Staged>> {
    if path == Path::new("-") {
        write_rejects_to(report, path, std::io::stdout().lock())?;
        return Ok(None);
    }
    let staged = crate::staged::Staged::new(path)?;
    let file =
        std::fs::File::create(staged.path()).map_err(|e| crate::error::Error::write(path, e))?;
    write_rejects_to(report, path, std::io::BufWriter::new(file))?;
    Ok(Some(staged))
}

/// [`write_rejects`] to `out` (`path` names it in errors).
fn write_rejects_to(
    report: &mut rejects::RejectReport,
    path: &Path,
    out: impl std::io::Write,
) -> Result<()> {
    let err = |e: ::csv::Error| crate::error::Error::write(path, e);
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(["file", "row", "reason", "message"])
        .map_err(err)?;
    for r in report.rows() {
        w.write_record([
            crate::model::shown::shown_path(&r.path).into_owned(),
            r.row.to_string(),
            r.reason.key().to_owned(),
            r.reason.message().to_owned(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| crate::error::Error::write(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Event;

    /// Events counted per sink (nothing shared between sinks).
    #[derive(Default)]
    struct Count(u64);

    impl EventSink for Count {
        fn event(&mut self, _: &Event) {
            self.0 += 1;
        }
    }

    const HEADER: &str = "event_time,subscriber,counterparty,direction,kind,duration_s\n";

    /// Events counted, and the rows the reader said to expect.
    #[derive(Default)]
    struct Hinted {
        events: u64,
        expected: Option<u64>,
    }

    impl EventSink for Hinted {
        fn event(&mut self, _: &Event) {
            self.events += 1;
        }

        fn expect(&mut self, rows: u64) {
            assert!(self.expected.is_none(), "told twice");
            self.expected = Some(rows);
        }
    }

    /// Each worker is told about its share of a CSV file's rows, at the rate of the first
    /// part it read (the parts of a file cut in 4 KiB pieces, two workers); so is each worker
    /// of the same file gzipped, at the rate of the compressed bytes the part came from.
    #[test]
    fn each_worker_is_told_its_share_of_the_rows() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 2000, "+2348021234567", None);
        let text = std::fs::read(&path).unwrap();
        let row = (text.len() - HEADER.len()) as u64 / 2000;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gzipped = dir.path().join("g.csv.gz");
        std::fs::write(&gzipped, gz.finish().unwrap()).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // A part holds whole rows: off by at most the share of a row or two per part. A
        // compressed part weighs the stream's rate so far, and a stream's start compresses
        // worse than the rest (deflate's window still empty: 11 % fewer rows guessed here).
        for (input, off) in [(&path, 2 * 1000 * row / 4096), (&gzipped, 200)] {
            let inputs = [input.to_string_lossy().into_owned()];
            let (sinks, report) = pool
                .install(|| {
                    ingest(
                        &inputs,
                        &options(4096, false),
                        || Hinted::default,
                        &|_, _| {},
                    )
                })
                .unwrap();
            assert_eq!(report.events, 2000);
            assert_eq!(sinks.len(), 2);
            // A worker that started after the other had taken every part read none (a busy
            // machine): it has nothing to be told.
            let read: Vec<&Hinted> = sinks.iter().filter(|s| s.events > 0).collect();
            assert!(!read.is_empty());
            for s in read {
                let expected = s.expected.expect("each worker that read a part was told");
                assert!(expected.abs_diff(1000) <= off, "{input:?}: {expected}");
            }
        }
    }

    /// The arithmetic of the hint: the units' size over the workers at the rate of the unit
    /// read; none when the units are of different kinds or one's size is not known.
    #[test]
    fn the_rows_to_expect_come_from_the_units_size() {
        let csv = Expected::of([Some((1000, Measure::Text)); 3], 2);
        assert_eq!(csv.rows(Some((1000, Measure::Text)), 10), Some(15));
        assert_eq!(csv.rows(Some((500, Measure::Text)), 10), Some(30));
        assert_eq!(
            csv.rows(Some((0, Measure::Text)), 0),
            None,
            "an empty part says nothing"
        );
        let parquet = Expected::of([Some((600, Measure::Rows)), Some((400, Measure::Rows))], 2);
        assert_eq!(parquet.rows(Some((600, Measure::Rows)), 600), Some(500));
        assert_eq!(
            Expected::of([Some((600, Measure::Rows))], 0).rows(Some((600, Measure::Rows)), 600),
            Some(600)
        );
        for sizes in [
            [Some((5, Measure::Text)), Some((5, Measure::Rows))],
            [Some((5, Measure::Text)), None],
            [None, Some((5, Measure::Text))],
        ] {
            assert_eq!(
                Expected::of(sizes, 1).rows(Some((5, Measure::Text)), 5),
                None,
                "{sizes:?}"
            );
        }
        // Compressed parts weigh the compressed bytes their text came from.
        let gz = Expected::of(
            [
                Some((300, Measure::Compressed)),
                Some((100, Measure::Compressed)),
            ],
            2,
        );
        assert_eq!(gz.rows(Some((40, Measure::Compressed)), 100), Some(500));
        assert_eq!(
            gz.rows(Some((40, Measure::Text)), 100),
            None,
            "another measure"
        );
        assert_eq!(
            Expected::of(
                [Some((5, Measure::Compressed)), Some((5, Measure::Text))],
                1
            )
            .rows(Some((5, Measure::Text)), 5),
            None
        );
        let huge = Expected::of([Some((u64::MAX, Measure::Text)); 2], 1);
        assert_eq!(
            huge.rows(Some((1, Measure::Text)), u64::MAX),
            Some(u64::MAX)
        );
    }

    /// A file of `rows` records whose counterparty cell is `cell`, and, when `bad` is
    /// `Some(k)`, record `k` with a direction that is rejected.
    fn file(dir: &Path, rows: usize, cell: &str, bad: Option<usize>) -> PathBuf {
        let mut text = HEADER.to_owned();
        for i in 0..rows {
            let direction = if bad == Some(i) { "up" } else { "in" };
            text.push_str(&format!(
                "2026-03-10T01:00:00Z,+8869123450{:02},{cell},{direction},call,1\n",
                i % 100
            ));
        }
        let path = dir.join("f.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn options(part_bytes: u64, strict: bool) -> IngestOptions {
        IngestOptions {
            csv_part_bytes: Some(part_bytes),
            strict,
            ..IngestOptions::default()
        }
    }

    /// One reading of `path` with its cuts guessed (or exact).
    fn one_reading(path: &Path, opts: &IngestOptions, exact: bool) -> Result<Run<Count>> {
        let files = [(path.to_path_buf(), Format::Csv)];
        let units = plan(&files, opts, &[exact])?;
        assert!(units.len() > 2, "{} units", units.len());
        run(units, 1, opts, &Count::default, &|_, _| {}, None)
    }

    /// `ingest` of `path`: the events counted, and how many readings it took.
    fn ingested(path: &Path, opts: &IngestOptions) -> Result<(u64, usize)> {
        let mut readings = 0;
        let inputs = [path.to_string_lossy().into_owned()];
        let reading = || {
            readings += 1;
            Count::default
        };
        let (sinks, report) = ingest(&inputs, opts, reading, &|_, _| {})?;
        let events = sinks.iter().map(|s| s.0).sum();
        assert_eq!(events, report.events);
        Ok((events, readings))
    }

    /// Under `--strict`, a guess that misses in one file has that file and every one after
    /// it (not checked: the reading stopped) cut exactly: two readings, not one per file.
    #[test]
    fn a_strict_miss_reads_the_files_again_once() {
        let dir = tempfile::tempdir().unwrap();
        for k in 0..4 {
            let sub = dir.path().join(format!("d{k}"));
            std::fs::create_dir(&sub).unwrap();
            let path = file(&sub, 300, "\"+234\n8021234567\"", None);
            std::fs::rename(path, dir.path().join(format!("f{k}.csv"))).unwrap();
        }
        let mut readings = 0;
        let inputs = [dir.path().to_string_lossy().into_owned()];
        let reading = || {
            readings += 1;
            Count::default
        };
        let (sinks, _) = ingest(&inputs, &options(1, true), reading, &|_, _| {}).unwrap();
        assert_eq!(sinks.iter().map(|s| s.0).sum::<u64>(), 4 * 300);
        assert_eq!(readings, 2);
    }

    /// A file shorter than its parts say (it changed after it was cut) is an error, not a
    /// miss that a second reading of the new bytes would hide.
    #[test]
    fn a_file_that_shrinks_under_a_guessed_reading_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), 300, "+2348021234567", None);
        let opts = options(100, false);
        let files = [(path.clone(), Format::Csv)];
        let units = plan(&files, &opts, &[false]).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 2).unwrap();
        let Err(e) = run(units, 1, &opts, &Count::default, &|_, _| {}, None) else {
            panic!("read a file cut to half")
        };
        assert!(e.to_string().contains("changed while it was read"), "{e}");
    }

    #[test]
    fn a_guess_that_holds_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        // Quotes, but no quoted line end: every guessed start is a record's.
        let path = file(dir.path(), 300, "\"+2348021234567\"", None);
        let opts = options(100, false);
        assert!(matches!(
            one_reading(&path, &opts, false).unwrap(),
            Run::Read(_, ref r) if r.events == 300
        ));
        assert_eq!(ingested(&path, &opts).unwrap(), (300, 1));
    }

    #[test]
    fn a_guess_inside_a_quoted_field_is_read_again_with_exact_cuts() {
        let dir = tempfile::tempdir().unwrap();
        // Every record holds a quoted line end; with parts of 1 byte, the second guessed
        // start is the one inside the first record's quoted field.
        let path = file(dir.path(), 300, "\"+234\n8021234567\"", None);
        let opts = options(1, false);
        assert!(matches!(
            one_reading(&path, &opts, false).unwrap(),
            Run::Missed { ref files, stopped: false } if files == &[0]
        ));
        // Exact cuts hold; `ingest` reads the file a second time, so, with them.
        assert!(matches!(
            one_reading(&path, &opts, true).unwrap(),
            Run::Read(_, ref r) if r.events == 300
        ));
        assert_eq!(ingested(&path, &opts).unwrap(), (300, 2));
        // Parts of 100 bytes: some guessed starts fall inside a quoted field, some not.
        assert_eq!(ingested(&path, &options(100, false)).unwrap(), (300, 2));
    }

    #[test]
    fn a_strict_error_in_a_guessed_part_is_checked_with_exact_cuts() {
        let dir = tempfile::tempdir().unwrap();
        // Read from a wrong start, the first record's second half has no direction: an
        // error that the exact reading does not have.
        let path = file(dir.path(), 300, "\"+234\n8021234567\"", None);
        let strict = options(1, true);
        assert!(matches!(
            one_reading(&path, &strict, false).unwrap(),
            Run::Missed { ref files, stopped: true } if files == &[0]
        ));
        assert_eq!(ingested(&path, &strict).unwrap(), (300, 2));
        // A real error is found again, at its row in the file (the header is not a row).
        let path = file(dir.path(), 300, "\"+234\n8021234567\"", Some(250));
        match ingested(&path, &strict) {
            Err(crate::error::Error::RejectedRow { row, .. }) => assert_eq!(row, 251),
            other => panic!("{other:?}"),
        }
        // A plain file's error in a later part is found in the first reading.
        let path = file(dir.path(), 300, "+2348021234567", Some(250));
        let Err(crate::error::Error::RejectedRow { row, .. }) = ingested(&path, &strict) else {
            panic!("no error")
        };
        assert_eq!(row, 251);
    }
}
