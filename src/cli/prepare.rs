//! `hotzone prepare`: reads exports once and writes the prepared form (the serving layout on
//! disk), which `hotzone scan` reads directly: repeated scans skip parsing entirely.

use std::time::Instant;

use clap::Args;

use crate::index::ServingIndex;

/// Flags of `hotzone prepare`.
#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Input files, directories or globs (as for `scan`).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// How the inputs are read. Days are fixed at prepare time in the zone (`--tz`, else the
    /// data's recorded zone, else UTC), which the prepared file records: a scan of it without
    /// `--tz` uses that zone, and one with another `--tz` is refused unless that zone
    /// starts each of its days at the same instant (an alias: `ROC` for `Asia/Taipei`).
    #[command(flatten)]
    pub read: super::scan::ReadFlags,
    /// The prepared file to write (conventionally `.hzi`).
    #[arg(long)]
    pub output: std::path::PathBuf,
}

/// Runs `prepare`; exit code 2 when rows were rejected.
pub fn run(a: &PrepareArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let opts = a.read.ingest_options()?;
    if a.output == std::path::Path::new("-") {
        anyhow::bail!(
            "--output: a prepared file is binary and is not written to stdout (-): name a file"
        );
    }
    a.read.refuse_overwriting(&a.inputs, &a.output)?;
    let tz = a.read.zone(&a.inputs)?;
    let (index, mut report) = ServingIndex::load(&a.inputs, &opts, tz)?;
    // Both written, then both renamed into place: an error leaves neither.
    let prepared = crate::index::persist::write_staged(&index, &a.output)?;
    // Rejects on stdout only once the prepared file is in place (as `scan` does).
    if a.read.rejects.as_deref() == Some(std::path::Path::new("-")) {
        crate::staged::commit_all([Some(prepared)])?;
        a.read.write_rejects(&mut report.rejects)?;
    } else {
        let rejects = a.read.write_rejects(&mut report.rejects)?;
        crate::staged::commit_all([Some(prepared), rejects])?;
    }
    super::scan::warn_unread("prepare", &report.unread_files);
    if let Some(w) = crate::scan::epoch_warning(index.latest_day()) {
        eprintln!("prepare: warning: {w}");
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
