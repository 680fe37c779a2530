//! Input files -> normalised [`Event`]s, with every rejected row counted (REFERENCE.md §2).
//!
//! [`ingest`] expands the inputs ([`sources`]), splits them into units of work (a CSV or IPC
//! file, or one Parquet row group), and reads the units in parallel with rayon. Each worker
//! owns a sink built by the caller's factory, so the caller's per-event work (the scan's
//! counting, the index's building) runs without locks; the caller merges the sinks after.
//!
//! A file that cannot be read is an error naming it; a row that cannot be interpreted is a
//! [`rejects::Reject`] (or, under `strict`, the error).

pub mod batch;
pub mod columnar;
pub mod columns;
pub mod csv;
pub mod interpret;
pub mod rejects;
pub mod sources;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::error::Result;
pub use crate::ingest::columns::ColumnMap;
use crate::ingest::interpret::Interpreter;
pub use crate::ingest::interpret::{Counterparty, Event, RawRow};
use crate::ingest::rejects::{Reject, RejectReason, RejectReport};
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
}

/// Receives the events one worker reads.
pub trait EventSink: Send {
    /// One accepted event.
    fn event(&mut self, e: &Event);
}

/// What a run read.
#[derive(Debug, Default)]
pub struct IngestReport {
    /// Files read.
    pub files: usize,
    /// Data rows read (accepted + rejected).
    pub rows: u64,
    /// Rows accepted as events.
    pub events: u64,
    /// Accepted events whose counterparty is withheld or not a number.
    pub unknown_counterparties: u64,
    /// Rejected rows.
    pub rejects: RejectReport,
}

/// A unit of parallel work.
#[derive(Clone, Debug)]
enum Unit {
    Csv(PathBuf),
    Ipc(PathBuf),
    ParquetRowGroup(PathBuf, columnar::Footer, usize, u64),
}

struct Worker<S> {
    interp: Interpreter,
    tally: Tally<S>,
}

/// A worker's sink, counts and rejects.
struct Tally<S> {
    sink: S,
    rows: u64,
    events: u64,
    unknown: u64,
    rejects: RejectReport,
}

/// Where a reader sends each row's outcome.
pub trait RowSink {
    /// Row `row` (1-based in its file) is an event or a reject with its reason.
    fn row(&mut self, row: u64, result: std::result::Result<Event, RejectReason>) -> Result<()>;
}

/// The rows of one unit: counted into the worker's tally, rejects with the unit's file.
struct UnitRows<'a, S> {
    tally: &'a mut Tally<S>,
    path: &'a Path,
    strict: bool,
}

impl<S: EventSink> RowSink for UnitRows<'_, S> {
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
}

impl<S> UnitRows<'_, S> {
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
    let files = sources::expand(inputs)?;
    let units = plan(&files)?;
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
                tally: Tally {
                    sink: make_sink(),
                    rows: 0,
                    events: 0,
                    unknown: 0,
                    rejects: RejectReport::default(),
                },
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= units.len() || failed.load(Ordering::Relaxed) {
                    return Ok(w);
                }
                if let Err(e) = read_unit(&units[i], opts, &mut w) {
                    failed.store(true, Ordering::Relaxed);
                    return Err((i, e));
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total_units);
            }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect::<Vec<std::result::Result<Worker<S>, (usize, crate::error::Error)>>>();
    // Units are taken in order and a started unit always finishes, so the failing unit with
    // the lowest index is the first bad one in input order: `--strict` names the first bad row.
    let mut workers = Vec::with_capacity(results.len());
    let mut first_error: Option<(usize, crate::error::Error)> = None;
    for r in results {
        match r {
            Ok(w) => workers.push(w),
            Err((i, e)) => {
                if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_error = Some((i, e));
                }
            }
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    let mut report = IngestReport {
        files: files.len(),
        ..IngestReport::default()
    };
    let mut sinks = Vec::with_capacity(workers.len());
    for Worker { tally: t, .. } in workers {
        report.rows += t.rows;
        report.events += t.events;
        report.unknown_counterparties += t.unknown;
        report.rejects.merge(t.rejects);
        sinks.push(t.sink);
    }
    Ok((sinks, report))
}

fn plan(files: &[(PathBuf, Format)]) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for (path, format) in files {
        match format {
            Format::Csv => units.push(Unit::Csv(path.clone())),
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
        Unit::Csv(p) | Unit::Ipc(p) | Unit::ParquetRowGroup(p, ..) => p,
    };
    let mut rows = UnitRows {
        tally: &mut w.tally,
        path,
        strict: opts.strict,
    };
    let interp = &mut w.interp;
    match unit {
        Unit::Csv(p) => csv::read(p, &opts.columns, interp, &mut rows),
        Unit::Ipc(p) => columnar::read_ipc(p, &opts.columns, interp, &mut rows),
        Unit::ParquetRowGroup(p, footer, rg, first) => {
            let cols = &opts.columns;
            columnar::read_parquet_row_group(p, footer, *rg, *first, cols, interp, &mut rows)
        }
    }
}
