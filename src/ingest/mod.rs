//! Input files -> normalised [`Event`]s, with every rejected row counted (REFERENCE.md §2).
//!
//! [`ingest`] expands the inputs ([`sources`]), splits them into units of work (an IPC file,
//! one Parquet row group, or a part of a CSV file cut at record boundaries by [`csv_split`]),
//! and reads the units in parallel with rayon. Each worker owns a sink built by the caller's
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

pub mod columnar;
pub mod csv;
pub mod csv_split;
pub mod plain_pages;
pub mod sources;

// The row rules live in the kernel crate; the readers here call them.
pub use hotzone_kernel::rows::{
    Counted, EventSink, IngestReport, RowSink, Tally, batch, columns, interpret, rejects,
};

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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
    /// ([`DEFAULT_CSV_PART_BYTES`] when `None`); small values exercise the split in tests.
    pub csv_part_bytes: Option<u64>,
}

/// CSV files are read in parts of about this many bytes (a file up to this size is one unit).
/// 16 MiB keeps every core busy to the end of a large file (a 605 MB file is 37 parts) while
/// a part's setup (open, seek, a 1 MiB buffer) stays negligible.
pub const DEFAULT_CSV_PART_BYTES: u64 = 16 << 20;

/// A unit of parallel work.
#[derive(Clone, Debug)]
enum Unit {
    /// Bytes `range` of a CSV file; `first` is the unit of the file's first part.
    Csv {
        path: PathBuf,
        layout: Arc<csv::Layout>,
        range: (u64, u64),
        first: usize,
    },
    /// A whole compressed CSV file.
    CompressedCsv {
        path: PathBuf,
        codec: sources::Codec,
        layout: csv::Layout,
    },
    Ipc(PathBuf),
    ParquetRowGroup(PathBuf, columnar::Footer, usize, u64),
}

struct Worker<S> {
    interp: Interpreter,
    tally: Tally<S>,
    /// The units this worker read, with their rows and the span of their rejects.
    read: Vec<UnitRead>,
}

/// What one unit held: its rows, and where its rejects are in the worker's report.
struct UnitRead {
    unit: usize,
    rows: u64,
    rejects: Range<usize>,
}

/// Reads every input and feeds each worker's sink; returns the sinks and the report.
/// `progress` is called with the rows read so far after each unit (for a progress bar).
pub fn ingest<S, F>(
    inputs: &[String],
    opts: &IngestOptions,
    make_sink: F,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
{
    let sources::Expanded { files, unread } = sources::expand_all(inputs)?;
    let units = plan(&files, opts)?;
    let (sinks, mut report) = run(units, files.len(), opts, make_sink, progress)?;
    report.unread_files = unread;
    Ok((sinks, report))
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
        for &(rg, first) in &groups[range.clone()] {
            units.push(Unit::ParquetRowGroup(
                path.clone(),
                footer.clone(),
                rg,
                first,
            ));
        }
        if !files.contains(&path.as_path()) {
            files.push(path);
        }
    }
    run(units, files.len(), opts, make_sink, &|_, _| {})
}

/// Reads `units` in parallel, one worker (and sink) per thread of the current pool.
fn run<S, F>(
    units: Vec<Unit>,
    files: usize,
    opts: &IngestOptions,
    make_sink: F,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<(Vec<S>, IngestReport)>
where
    S: EventSink,
    F: Fn() -> S + Sync,
{
    let total_units = units.len() as u64;
    // Exactly one worker (and so one sink) per thread, pulling units from a shared cursor:
    // rayon's fold would make a sink per split, multiplying the memory of large sinks.
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let threads = rayon::current_num_threads().clamp(1, units.len().max(1));
    let results = (0..threads)
        .into_par_iter()
        .map(|_| {
            let mut w = Worker {
                interp: Interpreter::new(opts.default_region),
                tally: Tally::new(make_sink()),
                read: Vec::new(),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units.len() || failed.load(Ordering::Relaxed) {
                    return (w, None);
                }
                let (rows, rejects) = (w.tally.rows, w.tally.rejects.len());
                if let Err(e) = read_unit(&units[i], opts, &mut w) {
                    failed.store(true, Ordering::Relaxed);
                    return (w, Some((i, e)));
                }
                w.read.push(UnitRead {
                    unit: i,
                    rows: w.tally.rows - rows,
                    rejects: rejects..w.tally.rejects.len(),
                });
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total_units);
            }
        })
        .collect::<Vec<_>>();
    // Rows before each unit in its file: the rows of the file's earlier parts.
    let mut rows_of = vec![0u64; units.len()];
    for (w, _) in &results {
        for r in &w.read {
            rows_of[r.unit] = r.rows;
        }
    }
    let mut rows_before = vec![0u64; units.len()];
    for (i, unit) in units.iter().enumerate() {
        if let Unit::Csv { first, .. } = unit
            && *first < i
        {
            rows_before[i] = rows_before[i - 1] + rows_of[i - 1];
        }
    }
    // Units are taken in order and a started unit always finishes, so the failing unit with
    // the lowest index is the first bad one in input order, and every unit before it was
    // read: `--strict` names the first bad row, numbered in its file.
    let mut workers = Vec::with_capacity(results.len());
    let mut first_error: Option<(usize, crate::error::Error)> = None;
    for (w, failure) in results {
        if let Some((i, e)) = failure
            && first_error.as_ref().is_none_or(|(j, _)| i < *j)
        {
            first_error = Some((i, e));
        }
        workers.push(w);
    }
    if let Some((i, mut e)) = first_error {
        if let crate::error::Error::RejectedRow { row, .. } = &mut e {
            *row += rows_before[i];
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
            t.rejects.renumber(r.rejects, rows_before[r.unit]);
        }
        report.rows += t.rows;
        report.events += t.events;
        report.unknown_counterparties += t.unknown;
        report.rejects.merge(t.rejects);
        sinks.push(t.sink);
    }
    Ok((sinks, report))
}

fn plan(files: &[(PathBuf, Format)], opts: &IngestOptions) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (path, format) in files {
        match format {
            Format::Csv => {
                let (layout, header_end) = csv::layout(path, &opts.columns)?;
                let layout = Arc::new(layout);
                let part_bytes = opts.csv_part_bytes.unwrap_or(DEFAULT_CSV_PART_BYTES);
                let first = units.len();
                for range in csv_split::plan(path, part_bytes, header_end)? {
                    units.push(Unit::Csv {
                        path: path.clone(),
                        layout: Arc::clone(&layout),
                        range,
                        first,
                    });
                }
            }
            Format::CompressedCsv(codec) => units.push(Unit::CompressedCsv {
                path: path.clone(),
                codec: *codec,
                layout: csv::compressed_layout(path, *codec, &opts.columns)?,
            }),
            Format::Ipc => units.push(Unit::Ipc(path.clone())),
            Format::Parquet => {
                let (footer, groups) = columnar::parquet_row_groups(path)?;
                for (rg, first) in groups {
                    units.push(Unit::ParquetRowGroup(
                        path.clone(),
                        footer.clone(),
                        rg,
                        first,
                    ));
                }
            }
        }
    }
    Ok(units)
}

fn read_unit<S: EventSink>(unit: &Unit, opts: &IngestOptions, w: &mut Worker<S>) -> Result<()> {
    let path = match unit {
        Unit::Csv { path: p, .. }
        | Unit::CompressedCsv { path: p, .. }
        | Unit::Ipc(p)
        | Unit::ParquetRowGroup(p, ..) => p,
    };
    let mut rows = Counted {
        tally: &mut w.tally,
        path,
        strict: opts.strict,
    };
    let interp = &mut w.interp;
    match unit {
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
        } => csv::read_compressed(path, *codec, layout, interp, &mut rows),
        Unit::Ipc(p) => columnar::read_ipc(p, &opts.columns, interp, &mut rows),
        Unit::ParquetRowGroup(p, footer, rg, first) => {
            let cols = &opts.columns;
            columnar::read_parquet_row_group(p, footer, *rg, *first, cols, interp, &mut rows)
        }
    }
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
            r.path.display().to_string(),
            r.row.to_string(),
            r.reason.key().to_owned(),
            r.reason.message().to_owned(),
        ])
        .map_err(err)?;
    }
    w.flush().map_err(|e| crate::error::Error::write(path, e))?;
    Ok(())
}
