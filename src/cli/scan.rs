//! `hotzone scan`: ingest -> detect -> output, with a run summary on stderr.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono_tz::Tz;
use clap::Args;

use super::{MethodArg, TargetArg, TypeArg};
use crate::ingest::{ColumnMap, IngestOptions};
use crate::model::hotzone::Hotzone;
use crate::model::shown::shown;
use crate::model::{CheckTarget, CheckType, Method, RawCheck, Region};
use crate::named::NamedHotzones;
use crate::scan::{ScanRequest, ZoneSource, scan};

/// Flags of `hotzone scan` (REFERENCE.md §9).
#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Input files, directories (recursive; a `key=value` directory fills the field of its key in the files below it that lack one, REFERENCE.md §2.5) or globs: .parquet/.pq, .csv, .csv.gz/.csv.gzip, .csv.zst/.csv.zstd, .arrow/.ipc/.feather/.arrows (any case); or one prepared file (hotzone prepare).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Hotzone entries: region codes (ISO 3166-1 alpha-2, or AC, TA, XK) and E.164 prefixes, comma-separated (NG,JM,+882),
    /// or @NAME for a named hotzone from --hotzones-file.
    #[arg(long)]
    pub hotzone: String,
    /// TOML file of named hotzones (name = ["NG", "+882"]); read and checked whenever given.
    #[arg(long)]
    pub hotzones_file: Option<std::path::PathBuf>,
    /// Days in the window, ending with --as-of (1..=90).
    #[arg(long)]
    pub look_back_days: i64,
    /// SHARE: 0 < r <= 1; SPIKE: r >= 1.
    #[arg(long)]
    pub threshold_ratio: f64,
    /// Detection method.
    #[arg(long, value_enum, ignore_case = true, default_value_t = MethodArg::Share)]
    pub method: MethodArg,
    /// Which kinds of events count.
    #[arg(long, value_enum, ignore_case = true, default_value_t = TypeArg::All)]
    pub check_type: TypeArg,
    /// Which directions count.
    #[arg(long, value_enum, ignore_case = true, default_value_t = TargetArg::All)]
    pub check_target: TargetArg,
    /// Minimum hot events on an anomalous day.
    #[arg(long, default_value_t = 3)]
    pub min_events: i64,
    /// Last day of the window (YYYY-MM-DD); default: the latest day present in the data.
    #[arg(long)]
    pub as_of: Option<String>,
    /// How the inputs are read.
    #[command(flatten)]
    pub read: ReadFlags,
    /// Add the per-day counts behind each verdict (column `days`).
    #[arg(long)]
    pub explain: bool,
    /// Output file: .parquet, .csv, .jsonl, or - for CSV on stdout (a device, named pipe or
    /// process stream of another name, such as /dev/null or /dev/stdout, takes CSV too).
    #[arg(long)]
    pub output: String,
}

/// Flags shared by every command that reads exports (`scan`, `prepare`).
#[derive(Args, Debug)]
pub struct ReadFlags {
    /// The engine's time zone (IANA name): every event belongs to its local day there.
    /// Default: the zone the data records (a prepared file's, or Parquet files written by
    /// `hotzone gen`), else UTC.
    #[arg(long, value_parser = super::parse_tz)]
    pub tz: Option<Tz>,
    /// Region for numbers written without '+' (national format); without it such rows are rejected.
    #[arg(long, value_parser = super::parse_region)]
    pub default_region: Option<Region>,
    /// Column mapping from the export's names: SOURCE=CANONICAL (repeatable), e.g. msisdn=subscriber.
    /// Names are found trimmed and, when not as written, in another case (EVENT_TIME needs no mapping).
    #[arg(long = "column", value_name = "SOURCE=CANONICAL")]
    pub columns: Vec<String>,
    /// Stop at the first row that cannot be interpreted.
    #[arg(long)]
    pub strict: bool,
    /// Write every rejected row (file,row,reason,message) to this CSV file (`-`: stdout).
    #[arg(long)]
    pub rejects: Option<std::path::PathBuf>,
}

impl ReadFlags {
    /// The zone to read `inputs` in (`--tz`, else the data's recorded zone, else UTC); says
    /// on stderr where it came from when that is not `--tz`, and warns when `--tz` differs
    /// from a zone the data records.
    pub fn zone(&self, inputs: &[String]) -> anyhow::Result<Tz> {
        let (tz, source) = crate::scan::resolve_zone(inputs, self.tz)?;
        match source {
            ZoneSource::Given | ZoneSource::Default => {}
            ZoneSource::Recorded { file } => {
                // A prepared file's days were fixed by `prepare`: a zone that draws other
                // days does not read it.
                let overrides = if crate::scan::prepared_input(inputs).is_some() {
                    "its days were fixed by `hotzone prepare`"
                } else {
                    "--tz overrides"
                };
                eprintln!("zone: {tz}, as {} records ({overrides})", file.display());
            }
            ZoneSource::GivenDiffers { file, recorded } => eprintln!(
                "warning: {} records its days in {recorded}; reading in {tz} as --tz says",
                file.display()
            ),
        }
        Ok(tz)
    }

    /// The ingest options these flags describe.
    pub fn ingest_options(&self) -> anyhow::Result<IngestOptions> {
        Ok(IngestOptions {
            default_region: self.default_region,
            columns: ColumnMap::parse(&self.columns)?,
            strict: self.strict,
            csv_part_bytes: part_size("HOTZONE_CSV_PART_BYTES")?,
            parquet_part_rows: part_size("HOTZONE_PARQUET_PART_ROWS")?,
            ipc_part_bytes: part_size("HOTZONE_IPC_PART_BYTES")?,
            skip_outside_window: false,
            // The rows of rejects are kept only to be listed.
            count_rejects_only: self.rejects.is_none(),
        })
    }

    /// Writes the rejects file when one was asked for, staged for the caller to commit
    /// with its other outputs (`None`: none asked for, or stdout).
    pub fn write_rejects(
        &self,
        report: &mut crate::ingest::rejects::RejectReport,
    ) -> anyhow::Result<Option<crate::staged::Staged>> {
        Ok(match &self.rejects {
            Some(path) => crate::ingest::write_rejects(report, path)?,
            None => None,
        })
    }

    /// Refuses a run whose `--output` (`output`) or `--rejects` would replace an input, or
    /// name one file for both, before anything is read.
    pub fn refuse_overwriting(
        &self,
        inputs: &[String],
        output: &std::path::Path,
    ) -> anyhow::Result<()> {
        let mut outputs = vec![("--output", output)];
        if let Some(r) = &self.rejects {
            outputs.push(("--rejects", r.as_path()));
        }
        crate::staged::refuse_overwriting(inputs, &outputs)?;
        Ok(())
    }
}

/// Says on stderr which files below the input directories were not read (their name gives no
/// known format, or they are symlinks that lead to no file), so that a compressed or
/// extensionless export is not taken for scanned.
pub fn warn_unread(command: &str, unread: &[std::path::PathBuf]) {
    const SHOWN: usize = 5;
    if unread.is_empty() {
        return;
    }
    let mut names: Vec<String> = (unread.iter().take(SHOWN))
        .map(|p| crate::model::shown::shown_path(p).into_owned())
        .collect();
    if unread.len() > SHOWN {
        names.push(format!("and {} more", unread.len() - SHOWN));
    }
    eprintln!(
        "{command}: warning: {} file(s) in the input directories were not read, their names giving no known format ({}) or their links leading to no file: {}",
        unread.len(),
        crate::ingest::sources::KNOWN_FORMATS,
        names.join(", ")
    );
}

/// Warns when flags that decide how rows are read (`--default-region`, `--column`) are given
/// with a prepared file: its rows were read by `hotzone prepare`, with the flags given there,
/// so here they change nothing (an adversarial pass found them passed over in silence, the
/// answer differing from a scan of the same rows with them). A warning, not a refusal: the
/// same flags as `prepare`'s are a common way to call both.
fn warn_reading_flags_of_prepared(inputs: &[String], read: &ReadFlags) {
    let given: Vec<&str> = [
        ("--default-region", read.default_region.is_some()),
        ("--column", !read.columns.is_empty()),
    ]
    .into_iter()
    .filter_map(|(flag, on)| on.then_some(flag))
    .collect();
    if let Some(warning) = crate::scan::prepared_warning(inputs, &given, "flags") {
        eprintln!("scan: warning: {warning}");
    }
}

/// Resolves `--hotzone` (a list, or `@NAME` from the named file). A `--hotzones-file` given
/// is read and checked whatever the hotzone: a file named on the command line that cannot
/// be read is an error, not a flag passed over.
pub fn resolve_hotzone(spec: &str, file: Option<&std::path::Path>) -> anyhow::Result<Hotzone> {
    let named = file.map(NamedHotzones::load).transpose()?;
    if let Some(name) = spec.strip_prefix('@') {
        let (file, named) = file
            .zip(named)
            .context("--hotzone @NAME needs --hotzones-file")?;
        return named
            .get(name)
            .cloned()
            .with_context(|| format!("no hotzone named {} in {}", shown(name), file.display()));
    }
    Ok(Hotzone::parse_list("--hotzone", spec)?)
}

/// Runs the scan; exit code 0, or 2 when rows were rejected (the output is still written).
pub fn run(a: &ScanArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let hotzone = resolve_hotzone(&a.hotzone, a.hotzones_file.as_deref())?;
    let raw = RawCheck {
        look_back_days: Some(a.look_back_days),
        method: Some(match a.method {
            MethodArg::Share => Method::Share,
            MethodArg::Spike => Method::Spike,
        }),
        threshold_ratio: Some(a.threshold_ratio),
        hotzone: Some(Arc::new(hotzone)),
        check_type: Some(match a.check_type {
            TypeArg::All => CheckType::All,
            TypeArg::Call => CheckType::Call,
            TypeArg::Sms => CheckType::Sms,
        }),
        check_target: Some(match a.check_target {
            TargetArg::All => CheckTarget::All,
            TargetArg::Incoming => CheckTarget::Incoming,
            TargetArg::Outgoing => CheckTarget::Outgoing,
        }),
        min_events: Some(a.min_events),
        as_of: a.as_of.clone(),
    };
    crate::output::OutputFormat::of(&a.output)?;
    let stdout = crate::staged::is_stdout;
    if stdout(std::path::Path::new(&a.output)) && a.read.rejects.as_deref().is_some_and(stdout) {
        anyhow::bail!(
            "--output {} and --rejects {} would both write to stdout: give one a file",
            a.output,
            a.read
                .rejects
                .as_deref()
                .unwrap_or(std::path::Path::new("-"))
                .display()
        );
    }
    a.read
        .refuse_overwriting(&a.inputs, std::path::Path::new(&a.output))?;
    warn_reading_flags_of_prepared(&a.inputs, &a.read);
    let mut ingest = a.read.ingest_options()?;
    // Rows outside the window are read only to be checked: they are, when every bad row is
    // asked for (a rejects file, or the first one under --strict).
    ingest.skip_outside_window = !a.read.strict && a.read.rejects.is_none();
    let req = ScanRequest {
        raw,
        tz: a.read.zone(&a.inputs)?,
        ingest,
        explain: a.explain,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading {pos}/{len} chunks [{elapsed}] {wide_bar}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let mut outcome = scan(&a.inputs, &req, &progress)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // The files written, then renamed into place, and only then anything on stdout: an error
    // leaves neither, and never follows rows already printed (a pipeline reading stdout
    // would have taken the verdicts of a run that failed).
    let window = outcome.window.as_ref();
    if a.output == "-" {
        let rejects = a.read.write_rejects(&mut outcome.report.rejects)?;
        crate::staged::commit_all([rejects])?;
        crate::output::write(&a.output, &outcome.rows, window, a.explain)?;
    } else {
        let rows = crate::output::write(&a.output, &outcome.rows, window, a.explain)?;
        if a.read.rejects.as_deref() == Some(std::path::Path::new("-")) {
            crate::staged::commit_all([rows])?;
            a.read.write_rejects(&mut outcome.report.rejects)?;
        } else {
            let rejects = a.read.write_rejects(&mut outcome.report.rejects)?;
            crate::staged::commit_all([rows, rejects])?;
        }
    }
    let r = &outcome.report;
    warn_unread("scan", &r.unread_files);
    // An empty `--as-of` is none given, as the scan reads it.
    let chosen = a.as_of.as_deref().is_some_and(|d| !d.is_empty());
    let latest = outcome.window.as_ref().filter(|_| !chosen);
    if let Some(w) = crate::scan::epoch_warning(latest.map(|w| w.last())) {
        eprintln!("scan: warning: {w}");
    }
    // A prepared file holds events, not rows: the rows `prepare` rejected were its to report.
    let read = match crate::scan::prepared_input(&a.inputs) {
        Some(_) => "1 prepared file (its rows were read, and rejected ones reported, by prepare)"
            .to_owned(),
        None if r.rows_not_read > 0 => format!(
            "{} file(s), {} rows read, {} not read (Parquet row groups whose statistics put every event_time outside the window; --rejects or --strict reads and checks them)",
            r.files, r.rows, r.rows_not_read
        ),
        None => format!("{} file(s), {} rows read", r.files, r.rows),
    };
    eprintln!(
        "scan: {read}, {} events, {} with unknown counterparty, rejected {}; {}; {} subscriber(s) in window, {} anomalous; {:.2}s",
        r.events,
        r.unknown_counterparties,
        r.rejects.summary(),
        match &outcome.window {
            Some(w) => format!("window {}..={} ({})", w.first(), w.last(), w.tz()),
            None => "no window: no row was accepted and no --as-of was given".to_owned(),
        },
        outcome.rows.len(),
        outcome.anomalous(),
        started.elapsed().as_secs_f64()
    );
    Ok(if r.rejects.total() > 0 { 2 } else { 0 })
}

/// The part size the environment variable `name` sets: `HOTZONE_CSV_PART_BYTES`, the bytes
/// of the parts a CSV file is read in; `HOTZONE_PARQUET_PART_ROWS`, the rows of the parts a
/// Parquet row group of more rows is read in; `HOTZONE_IPC_PART_BYTES`, the bytes of the
/// parts an Arrow IPC file is read in (for measurements: a value above the file's size reads
/// it as one unit).
fn part_size(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => anyhow::bail!("{name} must be a positive integer, got {v:?}"),
        },
    }
}
