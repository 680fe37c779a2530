//! The batch scan (REFERENCE.md §9): ingest -> map ([`Partial`]) -> verdict, as one library call.
//!
//! Without an `as_of`, a scan uses the latest day present in the data: a first pass finds the
//! latest accepted event's day in the engine's zone, then the counting pass runs. When no row
//! is accepted at all (a header-only file, an empty directory, every row rejected), there is
//! no such day: the scan has no window, no rows, and still reports what it read and rejected.

use chrono::NaiveDate;
use chrono_tz::Tz;

pub use hotzone_kernel::api::rows_of;
use hotzone_kernel::api::{Counter, LatestSink};
use hotzone_kernel::rows::EventSink;

use crate::ingest::Event;

use crate::detect::rules::Rule;
use crate::detect::{Exchange, Partial, Window};
use crate::error::Result;
use crate::ingest::{
    IngestOptions, IngestReport, RowGroups, ingest, ingest_latest_first, ingest_row_groups,
};
use crate::model::check::{CheckParams, Limits, MAX_LOOK_BACK_DAYS, RawCheck};

/// A scan to run.
#[derive(Clone, Debug)]
pub struct ScanRequest {
    /// Check parameters; `as_of: None` means the latest day in the data.
    pub raw: RawCheck,
    /// The engine's time zone.
    pub tz: Tz,
    /// How to read the inputs.
    pub ingest: IngestOptions,
    /// Keep the per-day counts behind each verdict (analysts' `--explain`).
    pub explain: bool,
}

pub use crate::detect::rules::ScanRow;

/// A finished scan.
#[derive(Debug)]
pub struct ScanOutcome {
    /// The validated parameters (with the resolved `as_of`); `None` with `window`.
    pub params: Option<CheckParams>,
    /// The window W; `None` when no `as_of` was given and no row was accepted, so the data
    /// has no latest day (then `rows` is empty).
    pub window: Option<Window>,
    /// One row per subscriber with a selected event in W, sorted by subscriber.
    pub rows: Vec<ScanRow>,
    /// What was read and rejected.
    pub report: IngestReport,
}

impl ScanOutcome {
    /// Rows with an anomaly.
    pub fn anomalous(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict.detected()).count()
    }
}

/// The latest day of any accepted event, in `tz` (`None` when no row was accepted), and the
/// report of that reading pass.
pub fn latest_day(
    inputs: &[String],
    tz: Tz,
    opts: &IngestOptions,
) -> Result<(Option<NaiveDate>, IngestReport)> {
    // A row group whose instants all fall on the latest day found so far, or before it,
    // cannot change it: not read.
    let day = |ms| crate::detect::calendar::local_date(tz, ms);
    let settled = |s: &LatestSink, bound: i64| {
        s.0.is_some_and(|best| day(bound).is_some_and(|b| Some(b) <= day(best)))
    };
    let (sinks, report) = ingest_latest_first(inputs, opts, || LatestSink::default, &settled)?;
    Ok((latest_of(sinks, tz), report))
}

fn latest_of(sinks: Vec<LatestSink>, tz: Tz) -> Option<NaiveDate> {
    let latest = sinks.into_iter().filter_map(|s| s.0).max();
    latest.and_then(|ms| crate::detect::calendar::local_date(tz, ms))
}

/// [`latest_day`] of some row groups of Parquet files (a distributed engine's task; the
/// latest of the parts' days is the data's).
pub fn latest_day_of_row_groups(
    parts: &[RowGroups],
    tz: Tz,
    opts: &IngestOptions,
) -> Result<(Option<NaiveDate>, IngestReport)> {
    let (sinks, report) = ingest_row_groups(parts, opts, LatestSink::default)?;
    Ok((latest_of(sinks, tz), report))
}

/// The map of a scan over some row groups of Parquet files: the counts of `window` as one
/// [`Partial`] per worker (merge them, or hand them to the kernel's `State::of_parts`), and
/// the report. Rows are read exactly as [`scan`] reads the whole files.
pub fn map_row_groups(
    parts: &[RowGroups],
    params: &CheckParams,
    window: &Window,
    opts: &IngestOptions,
) -> Result<(Vec<Partial>, IngestReport)> {
    // The workers' maps share out the subscribers (each holds its share); all are read
    // after `ingest_row_groups` has returned, as the exchange requires.
    let exchange = Exchange::new();
    let (sinks, report) = ingest_row_groups(parts, opts, || {
        Counter::sharing(params, window.clone(), &exchange)
    })?;
    Ok((
        sinks.into_iter().map(Counter::into_partial).collect(),
        report,
    ))
}

/// Where the zone of a read came from ([`resolve_zone`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneSource {
    /// Given by the caller; no input records another zone.
    Given,
    /// Given by the caller, but `file` records `recorded`: days are read in the given zone.
    GivenDiffers {
        /// A file recording another zone.
        file: std::path::PathBuf,
        /// The zone it records.
        recorded: String,
    },
    /// Not given: the zone `file` records (a prepared index, or a Parquet file's
    /// [`crate::ingest::ZONE_KEY`]).
    Recorded {
        /// The file.
        file: std::path::PathBuf,
    },
    /// Not given and not recorded: UTC.
    Default,
}

/// The prepared file a scan of `inputs` reads, when it reads one (a prepared file is read
/// alone). Its rows were read by `hotzone prepare`, with the options given there, so the
/// options that decide how rows are read (a default region, a column mapping) change nothing
/// here: the CLI and the Python package warn when they are given.
pub fn prepared_input(inputs: &[String]) -> Option<&std::path::Path> {
    let [one] = inputs else { return None };
    let path = std::path::Path::new(one);
    (path.is_file() && crate::index::persist::is_prepared(path)).then_some(path)
}

/// The warning for reading options (`given`: their names, `--default-region` or
/// `default_region=`, …) given with a scan of a prepared file: they change nothing. `None`
/// when the scan reads no prepared file or none was given. The CLI prints it, the Python
/// package raises it as a `UserWarning`.
pub fn prepared_warning(inputs: &[String], given: &[&str], by: &str) -> Option<String> {
    let path = prepared_input(inputs).filter(|_| !given.is_empty())?;
    let verb = if given.len() == 1 {
        "changes"
    } else {
        "change"
    };
    Some(format!(
        "{} {verb} nothing here: {} was read by `hotzone prepare`, with the {by} given to it",
        given.join(" and "),
        path.display()
    ))
}

/// The warning for data whose latest day is in 1970, the first year of epoch time: integer
/// `event_time` values are epoch milliseconds (REFERENCE.md §2), and an export of epoch
/// seconds read so lands in January 1970 with no row rejected (a day of 2026 in seconds is a
/// day of 1970 in milliseconds). A warning, not a refusal: the rule is the contract's, and a
/// window the caller chose (`as_of` given) is not second-guessed. `latest`: the data's latest
/// day, when the window was taken from it. The CLI, the Python package and the server's load
/// log say it.
pub fn epoch_warning(latest: Option<NaiveDate>) -> Option<String> {
    use chrono::Datelike;
    let latest = latest.filter(|d| d.year() < 1971)?;
    Some(format!(
        "the latest day in the data is {latest}: the event times may be epoch seconds \
         read as milliseconds (an integer event_time is epoch milliseconds: multiply such \
         integers by 1000; a timestamp made from seconds with the unit ms lands here too: \
         make it with the unit s)"
    ))
}

/// The engine zone for reading `inputs`: `given` when set; else the zone the data records
/// (a prepared index's zone, or the one Parquet files record, as `hotzone gen` writes it);
/// else UTC. Files that record different zones, with no zone given, are an error.
pub fn resolve_zone(inputs: &[String], given: Option<Tz>) -> Result<(Tz, ZoneSource)> {
    use crate::error::Error;
    use crate::ingest::RecordedZone;
    let recorded = match inputs {
        [one]
            if std::path::Path::new(one).is_file()
                && crate::index::persist::is_prepared(std::path::Path::new(one)) =>
        {
            let path = std::path::Path::new(one);
            let tz = crate::index::persist::zone(path)?;
            // A prepared index keeps the days of its own zone, so another `--tz` is no
            // override to warn about: the scan reads it only if it draws the same days on
            // the days the index holds (`ServingIndex::reads_in`), and refuses it otherwise.
            if let Some(given) = given.filter(|g| *g != tz) {
                return Ok((given, ZoneSource::Given));
            }
            RecordedZone::One {
                zone: tz.name().to_owned(),
                file: path.to_owned(),
            }
        }
        _ => crate::ingest::recorded_zone(inputs)?,
    };
    match (given, recorded) {
        (Some(tz), RecordedZone::One { zone, file }) if zone != tz.name() => Ok((
            tz,
            ZoneSource::GivenDiffers {
                file,
                recorded: zone,
            },
        )),
        (Some(tz), RecordedZone::Conflict { first, .. }) if first.1 != tz.name() => Ok((
            tz,
            ZoneSource::GivenDiffers {
                file: first.0,
                recorded: first.1,
            },
        )),
        (Some(tz), _) => Ok((tz, ZoneSource::Given)),
        (None, RecordedZone::None) => Ok((Tz::UTC, ZoneSource::Default)),
        (None, RecordedZone::One { zone, file }) => {
            let tz = zone.parse::<Tz>().map_err(|_| {
                Error::read(
                    &file,
                    format!(
                        "records an unknown time zone {zone:?} ({})",
                        crate::ingest::ZONE_KEY
                    ),
                )
            })?;
            Ok((tz, ZoneSource::Recorded { file }))
        }
        (None, RecordedZone::Conflict { first, second }) => Err(Error::invalid(
            "tz (--tz)",
            format!(
                "is required: {} records the zone {} and {} records {}",
                crate::model::shown::shown_path(&first.0),
                first.1,
                crate::model::shown::shown_path(&second.0),
                second.1
            ),
        )),
    }
}

/// The outcome of a scan without a window: parameters are still validated (a bad one is an
/// error whatever the data), nothing is counted, the report says what was read and rejected.
fn without_window(req: &ScanRequest, report: IngestReport) -> Result<ScanOutcome> {
    let limits = Limits {
        max_look_back_days: MAX_LOOK_BACK_DAYS,
        default_as_of: NaiveDate::default(),
    };
    CheckParams::new(req.raw.clone(), limits)?;
    Ok(ScanOutcome {
        params: None,
        window: None,
        rows: Vec::new(),
        report,
    })
}

/// Runs a scan. `progress(units_done, units_total)` is called as inputs are read.
pub fn scan(
    inputs: &[String],
    req: &ScanRequest,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ScanOutcome> {
    if let [one] = inputs {
        let path = std::path::Path::new(one);
        if path.is_file() && crate::index::persist::is_prepared(path) {
            return scan_prepared(path, req);
        }
    }
    let mut found = None;
    if req.raw.as_of.as_deref().is_none_or(str::is_empty) {
        match scan_guessing_the_latest_day(inputs, req, progress)? {
            Guessed::Done(outcome) => return Ok(outcome),
            Guessed::Wrong(latest) => found = Some(latest),
            Guessed::No => {}
        }
    }
    let given = req.raw.as_of.as_deref().is_some_and(|s| !s.is_empty());
    let mut default_as_of = match given {
        true => NaiveDate::default(),
        false => match found.map_or_else(|| latest_day(inputs, req.tz, &req.ingest), Ok)? {
            (Some(day), _) => day,
            (None, report) => return without_window(req, report),
        },
    };
    let mut recounts = 0;
    loop {
        let limits = Limits {
            max_look_back_days: MAX_LOOK_BACK_DAYS,
            default_as_of,
        };
        let params = CheckParams::new(req.raw.clone(), limits)?;
        let window = Window::new(req.tz, params.as_of, params.look_back_days);
        if given {
            let (counters, report) = counted(inputs, req, &params, &window, progress, |c| c)?;
            return Ok(verdicts(params, window, counters, req, report));
        }
        // The first pass skips Parquet row groups whose `event_time` statistics cannot hold
        // a later day: statistics that understate a group's latest time (a writer's bug, a
        // damaged file) hid a later day, and the window ended before it (the `data_file`
        // fuzz target's finding). The counting reading sees every row it reads, so a later
        // day it finds is counted again as the window's end, as a wrong guess is.
        let guessing = |counter| Guessing {
            counter,
            latest: LatestSink::default(),
        };
        let (sinks, report) = counted(inputs, req, &params, &window, progress, guessing)?;
        let day = |ms| crate::detect::calendar::local_date(req.tz, ms);
        let latest = sinks.iter().filter_map(|s| s.latest.0).max().and_then(day);
        match latest {
            Some(later) if later > params.as_of && recounts < MAX_RECOUNTS => {
                (default_as_of, recounts) = (later, recounts + 1);
            }
            _ => {
                let counters = sinks.into_iter().map(|s| s.counter).collect();
                return Ok(verdicts(params, window, counters, req, report));
            }
        }
    }
}

/// Most readings counted again after one found a later day than the window's end (each
/// moves the end later; one is enough unless a reading skips rows the next one reads).
const MAX_RECOUNTS: u32 = 2;

/// The counting reading of a scan: one map per worker (sharing the subscribers out), each
/// in the sink `sink` makes of its counter.
fn counted<S: EventSink>(
    inputs: &[String],
    req: &ScanRequest,
    params: &CheckParams,
    window: &Window,
    progress: &(dyn Fn(u64, u64) + Sync),
    sink: fn(Counter) -> S,
) -> Result<(Vec<S>, IngestReport)> {
    // As in `map_row_groups`: the maps are read only after every worker has stopped. A new
    // exchange for each reading: a reading that `ingest` starts again drops its maps.
    let reading = || {
        let exchange = Exchange::new();
        move || sink(Counter::sharing(params, window.clone(), &exchange))
    };
    ingest(inputs, &req.ingest, reading, progress)
}

/// The outcome of a scan whose workers filled `counters`.
fn verdicts(
    params: CheckParams,
    window: Window,
    counters: Vec<Counter>,
    req: &ScanRequest,
    report: IngestReport,
) -> ScanOutcome {
    let mut parts: Vec<Partial> = counters.into_iter().map(Counter::into_partial).collect();
    let rows = rows_of(&mut parts, Rule::of(&params), req.explain);
    ScanOutcome {
        params: Some(params),
        window: Some(window),
        rows,
        report,
    }
}

/// A counter that also keeps the latest accepted instant it was given (every event, counted
/// or not): a scan reading with a guessed window checks the guess with it.
struct Guessing {
    counter: Counter,
    latest: LatestSink,
}

impl EventSink for Guessing {
    #[inline(always)]
    fn event(&mut self, e: &Event) {
        self.latest.event(e);
        self.counter.event(e);
    }

    fn expect(&mut self, rows: u64) {
        self.counter.expect(rows);
    }

    // No `outside`: this reading checks the day the statistics gave against the rows it
    // reads, so it reads no row group by its statistics alone (a group whose statistics
    // understate its times, put before the window, would otherwise hide the later day: the
    // `data_file` fuzz target's finding).

    /// Instants read from the cells, all before the window, are neither counted nor later
    /// than the day the window ends on: their rows change nothing here.
    fn outside_read(&self, _first: i64, last: i64) -> bool {
        self.counter.window().before(last)
    }
}

/// What [`scan_guessing_the_latest_day`] did.
enum Guessed {
    /// The scan, read once.
    Done(ScanOutcome),
    /// The guess was wrong; the reading found the latest day (and read every row, as a first
    /// pass does: its report), so only the counting reading is left.
    Wrong((Option<NaiveDate>, IngestReport)),
    /// No guess (or parameters not valid with it): a first pass is needed.
    No,
}

/// A scan without `as_of` of inputs that are all plain CSV files (which have no statistics to
/// find the latest day by), in one reading instead of two: the latest day is guessed from
/// the files' last rows (`ingest::latest_in_tails`; exports are mostly time-ordered), the
/// reading counts the window that ends on it and keeps the latest accepted instant, and its
/// counts are kept when that instant's day is the guess, which makes them the counts of the
/// window a first pass would have found. When the guess was wrong, that reading was the
/// first pass. No guess is made when the parameters are not valid with it (the caller's
/// order of errors stands).
fn scan_guessing_the_latest_day(
    inputs: &[String],
    req: &ScanRequest,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Guessed> {
    let day = |ms| crate::detect::calendar::local_date(req.tz, ms);
    let Some(guess) = crate::ingest::latest_in_tails(inputs, &req.ingest).and_then(day) else {
        return Ok(Guessed::No);
    };
    let limits = Limits {
        max_look_back_days: MAX_LOOK_BACK_DAYS,
        default_as_of: guess,
    };
    let Ok(params) = CheckParams::new(req.raw.clone(), limits) else {
        return Ok(Guessed::No);
    };
    let window = Window::new(req.tz, params.as_of, params.look_back_days);
    let guessing = |counter| Guessing {
        counter,
        latest: LatestSink::default(),
    };
    let (sinks, report) = counted(inputs, req, &params, &window, progress, guessing)?;
    let latest = sinks.iter().filter_map(|s| s.latest.0).max().and_then(day);
    if latest != Some(guess) {
        return Ok(Guessed::Wrong((latest, report)));
    }
    let counters = sinks.into_iter().map(|s| s.counter).collect();
    Ok(Guessed::Done(verdicts(
        params, window, counters, req, report,
    )))
}

/// The refusal of a zone that does not draw the days a prepared index at `path` keeps
/// ([`crate::index::ServingIndex::reads_in`]).
fn wrong_zone_for_prepared(path: &std::path::Path, prepared: Tz, given: Tz) -> crate::error::Error {
    crate::error::Error::invalid(
        "tz (--tz)",
        format!(
            "must be {prepared} for {}, or a zone whose days start at the same instants on the days it holds: a prepared index keeps days of the zone it was prepared in (got {given})",
            path.display(),
        ),
    )
}

/// A scan of a prepared index (`hotzone prepare`): no parsing, one pass over compact codes.
fn scan_prepared(path: &std::path::Path, req: &ScanRequest) -> Result<ScanOutcome> {
    let index = crate::index::ServingIndex::read(path)?;
    scan_index(&index, path, req)
}

/// A scan of a loaded prepared index (`path` names it in errors); `req.tz` must be its zone.
pub fn scan_index(
    index: &crate::index::ServingIndex,
    path: &std::path::Path,
    req: &ScanRequest,
) -> Result<ScanOutcome> {
    if !index.reads_in(req.tz) {
        return Err(wrong_zone_for_prepared(path, index.tz(), req.tz));
    }
    let events = index.stats().events;
    let report = IngestReport {
        files: 1,
        rows: events,
        events,
        unknown_counterparties: index.unknown_counterparty_events(),
        ..IngestReport::default()
    };
    let default_as_of = match (req.raw.as_of.as_deref(), index.latest_day()) {
        (Some(s), _) if !s.is_empty() => NaiveDate::default(),
        (_, Some(day)) => day,
        (_, None) => return without_window(req, report),
    };
    let limits = Limits {
        max_look_back_days: MAX_LOOK_BACK_DAYS,
        default_as_of,
    };
    let params = CheckParams::new(req.raw.clone(), limits)?;
    let window = Window::new(req.tz, params.as_of, params.look_back_days);
    let rows = index.scan_all(&params, req.explain);
    Ok(ScanOutcome {
        params: Some(params),
        window: Some(window),
        rows,
        report,
    })
}
