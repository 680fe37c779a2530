//! `hotzone prepare`: reads exports once and writes the prepared form (the serving layout on
//! disk), which `hotzone scan` reads directly: repeated scans skip parsing entirely.

use std::time::Instant;

use chrono_tz::Tz;
use clap::Args;

use crate::index::ServingIndex;
use crate::ingest::{ColumnMap, IngestOptions};
use crate::model::Region;

/// Flags of `hotzone prepare`.
#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Input files, directories or globs (as for `scan`).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// The engine's time zone: days are fixed at prepare time, so scans must use the same zone.
    #[arg(long, default_value = "UTC", value_parser = super::parse_tz)]
    pub tz: Tz,
    /// Region for numbers written without '+'.
    #[arg(long, value_parser = super::parse_region)]
    pub default_region: Option<Region>,
    /// Column mapping: SOURCE=CANONICAL (repeatable).
    #[arg(long = "column", value_name = "SOURCE=CANONICAL")]
    pub columns: Vec<String>,
    /// Stop at the first row that cannot be interpreted.
    #[arg(long)]
    pub strict: bool,
    /// Write every rejected row (file,row,reason,message) to this CSV file.
    #[arg(long)]
    pub rejects: Option<std::path::PathBuf>,
    /// The prepared file to write (conventionally `.hzi`).
    #[arg(long)]
    pub output: std::path::PathBuf,
}

/// Runs `prepare`; exit code 2 when rows were rejected.
pub fn run(a: &PrepareArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let opts = IngestOptions {
        default_region: a.default_region,
        columns: ColumnMap::parse(&a.columns)?,
        strict: a.strict,
    };
    let (index, mut report) = ServingIndex::load(&a.inputs, &opts, a.tz)?;
    index.write(&a.output)?;
    if let Some(path) = &a.rejects {
        report.rejects.write_csv(path)?;
    }
    let s = index.stats();
    eprintln!(
        "prepare: {} file(s), {} rows read, {} events, rejected {}; {} subscribers, {} counterparties; {} bytes in memory ({:.2} bytes/event); {:.2}s",
        report.files,
        report.rows,
        s.events,
        report.rejects.summary(),
        s.subscribers,
        s.counterparties,
        s.bytes,
        s.bytes as f64 / s.events.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(if report.rejects.total() > 0 { 2 } else { 0 })
}
