//! The batch scan (SPEC §7): ingest -> map ([`Partial`]) -> verdict, as one library call.
//!
//! Without an `as_of`, a scan uses the latest day present in the data: a first pass finds the
//! latest accepted event's day in the engine's zone, then the counting pass runs.

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::detect::classify::Classifier;
use crate::detect::rules::Rule;
use crate::detect::{Partial, Window};
use crate::error::Result;
use crate::ingest::{Event, EventSink, IngestOptions, IngestReport, ingest};
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
    /// The validated parameters (with the resolved `as_of`).
    pub params: CheckParams,
    /// The window W.
    pub window: Window,
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

struct CountSink<'a> {
    window: &'a Window,
    mask: u8,
    classifier: Classifier<'a>,
    partial: Partial,
}

impl EventSink for CountSink<'_> {
    #[inline(always)]
    fn event(&mut self, e: &Event) {
        if self.mask >> e.flavor & 1 == 0 {
            return;
        }
        if let Some(day) = self.window.day_of(e.time_ms) {
            let hot = self.classifier.is_hot(&e.counterparty);
            self.partial.add(e.subscriber, day, hot);
        }
    }
}

struct LatestSink(Option<i64>);

impl EventSink for LatestSink {
    fn event(&mut self, e: &Event) {
        self.0 = Some(self.0.map_or(e.time_ms, |t| t.max(e.time_ms)));
    }
}

/// The latest day of any accepted event, in `tz`.
pub fn latest_day(inputs: &[String], tz: Tz, opts: &IngestOptions) -> Result<Option<NaiveDate>> {
    let (sinks, _) = ingest(inputs, opts, || LatestSink(None), &|_, _| {})?;
    let latest = sinks.into_iter().filter_map(|s| s.0).max();
    Ok(latest.and_then(|ms| crate::detect::calendar::local_date(tz, ms)))
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
    let default_as_of = match req.raw.as_of.as_deref() {
        Some(s) if !s.is_empty() => NaiveDate::MIN,
        _ => latest_day(inputs, req.tz, &req.ingest)?.unwrap_or(NaiveDate::MIN),
    };
    let limits = Limits {
        max_look_back_days: MAX_LOOK_BACK_DAYS,
        default_as_of,
    };
    let params = CheckParams::new(req.raw.clone(), limits)?;
    let window = Window::new(req.tz, params.as_of, params.look_back_days);
    let mask = params.selection();
    let hotzone = &*params.hotzone;
    let (sinks, report) = ingest(
        inputs,
        &req.ingest,
        || CountSink {
            window: &window,
            mask,
            classifier: Classifier::new(hotzone),
            partial: Partial::new(window.days()),
        },
        progress,
    )?;
    let mut parts: Vec<Partial> = sinks.into_iter().map(|s| s.partial).collect();
    let rows = rows_of(&mut parts, Rule::of(&params), req.explain);
    Ok(ScanOutcome {
        params,
        window,
        rows,
        report,
    })
}

/// A scan of a prepared index (`hotzone prepare`): no parsing, one pass over compact codes.
fn scan_prepared(path: &std::path::Path, req: &ScanRequest) -> Result<ScanOutcome> {
    let index = crate::index::ServingIndex::read(path)?;
    if index.tz() != req.tz {
        return Err(crate::error::Error::invalid(
            "--tz",
            format!(
                "must be {} for {}: a prepared index keeps days of the zone it was prepared in (got {})",
                index.tz(),
                path.display(),
                req.tz
            ),
        ));
    }
    let limits = Limits {
        max_look_back_days: MAX_LOOK_BACK_DAYS,
        default_as_of: index.latest_day().unwrap_or(NaiveDate::MIN),
    };
    let params = CheckParams::new(req.raw.clone(), limits)?;
    let window = Window::new(req.tz, params.as_of, params.look_back_days);
    let rows = index.scan_all(&params, req.explain);
    let events = index.stats().events;
    let report = IngestReport {
        files: 1,
        rows: events,
        events,
        unknown_counterparties: index.unknown_counterparty_events(),
        ..IngestReport::default()
    };
    Ok(ScanOutcome {
        params,
        window,
        rows,
        report,
    })
}

/// Verdict rows of the sum of the workers' partials, sorted by subscriber.
pub fn rows_of(parts: &mut [Partial], rule: Rule, explain: bool) -> Vec<ScanRow> {
    crate::detect::partial::verdicts_of_sum(parts, rule, |subscriber, verdict, days| ScanRow {
        subscriber,
        verdict,
        days: explain.then(|| days.to_vec()),
    })
}
