//! The kernel's Arrow API, in data-flow order: rows in, a mergeable state, verdicts out.
//!
//! ```text
//!  RecordBatch ──► Mapper::push ──► State ──(to_arrow / from_arrow, merge)──► State::verdicts ──► RecordBatch
//!  (any source)    every row: an event          per subscriber x day of W:       REFERENCE.md §5     scan's columns
//!                  or a counted reject          (hot, total)
//! ```
//!
//! - A [`Mapper`] is built from validated parameters ([`CheckParams`], so its window is
//!   known), the zone and [`RowOptions`] (default region, column mapping, `strict`). Fed
//!   record batches from any source, it interprets every row exactly as the file readers do
//!   (the same [`crate::rows::batch::visit_batch`]): an event, or a reject counted with its
//!   reason and row (rows are numbered across the batches a mapper is given, from 1).
//! - Its [`State`] is the map of a scan (DESIGN's mergeable map): per subscriber and day of
//!   W, the selected events and the hot ones. States add up in any order and grouping with
//!   the same sum ([`State::merge`]); [`State::to_arrow`] and [`State::from_arrow`] ship one
//!   between processes as a record batch ([`state_schema`]) that names its window, so states
//!   of different windows are never mixed. [`State::merge_batch`] adds a stream of such
//!   batches (a Spark reduce's thousands of small ones, in any order) to one map of the
//!   state, where a subscriber of few events stays a few loose events, not a slot of W.
//! - [`State::verdicts`] evaluates the sum: one row per subscriber with a selected event in
//!   W, sorted by subscriber, with the columns and types of the scan's Parquet output
//!   ([`verdict_schema`]).
//!
//! Without an `as_of`, the window ends on the latest day of the data: a [`Latest`] pass over
//! the same batches finds it first (the CLI reads its files twice for the same reason).
//!
//! Nothing here reads a file or the clock; parallel steps run on the caller's [`Threads`].

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int64Array, StringBuilder, UInt32Array,
};
use arrow::datatypes::{DataType, Date32Type, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::detect::calendar::{day_number, local_date};
use crate::detect::classify::Classifier;
use crate::detect::partial::{Exchange, each_of_sum, verdicts_of_sum};
use crate::detect::rules::{DayCounts, Rule, ScanRow};
use crate::detect::{Partial, Window};
use crate::error::{Error, Result};
use crate::model::check::CheckParams;
use crate::model::region::Region;
use crate::model::{Event, Msisdn};
use crate::rows::batch::{DictCache, visit_batch};
use crate::rows::columns::ColumnMap;
use crate::rows::interpret::Interpreter;
use crate::rows::{Counted, EventSink, IngestReport, Tally};
use crate::threads::Threads;

/// Schema metadata key of a state batch: the window it counts (`FIRST..=LAST ZONE`).
pub const WINDOW_KEY: &str = "hotzone.window";

/// Schema metadata key of a state batch: the events it counts ([`selection_text`]: hotzone,
/// check type and check target), so that states of different selections never add up.
pub const SELECTION_KEY: &str = "hotzone.selection";

/// `HOTZONE=… CHECK_TYPE=… CHECK_TARGET=…` (the hotzone in its canonical text): the
/// parameters that decide which events a state counts and which of them are hot (the
/// window aside, which [`WINDOW_KEY`] names). The method, threshold and `min_events` only
/// matter to the verdict, so states of one selection serve any of them. How rows were read
/// (`default_region`, the column mapping) is not recorded, on purpose: each export is read
/// with its own (its column names, its country's national numbers) into the same E.164
/// subscribers and canonical events, so states of exports read differently add up.
pub fn selection_text(p: &CheckParams) -> String {
    format!(
        "hotzone={} check_type={:?} check_target={:?}",
        p.hotzone.canonical(),
        p.check_type,
        p.check_target
    )
    .to_uppercase()
}

/// How rows are interpreted (REFERENCE.md §2), whatever carries them.
#[derive(Clone, Debug)]
pub struct RowOptions {
    /// Region used to read numbers written without `+` (national format).
    pub default_region: Option<Region>,
    /// Export column names -> canonical names.
    pub columns: ColumnMap,
    /// Fail on the first row that cannot be interpreted.
    pub strict: bool,
    /// The name rejects (and `strict`'s error) give the rows' source.
    pub source: PathBuf,
}

impl Default for RowOptions {
    fn default() -> RowOptions {
        RowOptions {
            default_region: None,
            columns: ColumnMap::default(),
            strict: false,
            source: PathBuf::from("<arrow>"),
        }
    }
}

/// Record batches -> rows -> a tally, numbering rows across batches.
struct Reader {
    opts: RowOptions,
    interp: Interpreter,
    cache: DictCache,
    next_row: u64,
}

impl Reader {
    fn new(opts: RowOptions) -> Reader {
        Reader {
            interp: Interpreter::new(opts.default_region),
            cache: DictCache::default(),
            next_row: 0,
            opts,
        }
    }

    fn push<S: EventSink>(&mut self, tally: &mut Tally<S>, batch: &RecordBatch) -> Result<()> {
        let first = self.next_row;
        self.next_row += batch.num_rows() as u64;
        self.push_at(tally, batch, first)
    }

    fn push_at<S: EventSink>(
        &mut self,
        tally: &mut Tally<S>,
        batch: &RecordBatch,
        first: u64,
    ) -> Result<()> {
        let mut rows = Counted {
            tally,
            path: &self.opts.source,
            strict: self.opts.strict,
        };
        visit_batch(
            &self.opts.source,
            batch,
            &self.opts.columns,
            first,
            &mut self.cache,
            &mut self.interp,
            &mut rows,
        )
    }
}

/// The map's per-event step: a selected event in W is counted for its subscriber and day,
/// hot or not. The CLI scan's workers and [`Mapper`] both count with it.
pub struct Counter {
    window: Window,
    mask: u8,
    classifier: Classifier,
    partial: Partial,
}

impl Counter {
    /// A counter for the check `params` over `window`.
    pub fn new(params: &CheckParams, window: Window) -> Counter {
        Counter {
            mask: params.selection(),
            classifier: Classifier::new(&params.hotzone),
            partial: Partial::new(window.days()),
            window,
        }
    }

    /// A counter whose map shares `exchange` with the other workers of one scan (see
    /// [`Partial::shared`]): every counter of the exchange must be read once all have
    /// stopped counting.
    pub fn sharing(params: &CheckParams, window: Window, exchange: &Arc<Exchange>) -> Counter {
        Counter {
            partial: Partial::shared(window.days(), exchange),
            ..Counter::new(params, window)
        }
    }

    /// The window it counts.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The map it filled.
    pub fn into_partial(self) -> Partial {
        self.partial
    }
}

impl EventSink for Counter {
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

    /// A counter uses an instant only through its day of W.
    fn one_day(&self, first: i64, last: i64) -> bool {
        self.window.one_day(first, last)
    }

    /// A counter ignores every event outside W.
    fn outside(&self, first: i64, last: i64) -> bool {
        self.window.outside(first, last)
    }

    /// Sizes the map's buffer of out-of-order events ([`Partial::expect`]).
    fn expect(&mut self, rows: u64) {
        self.partial.expect(rows);
    }
}

/// The latest instant of the accepted events it was given.
#[derive(Clone, Copy, Debug, Default)]
pub struct LatestSink(pub Option<i64>);

impl EventSink for LatestSink {
    fn event(&mut self, e: &Event) {
        self.0 = Some(self.0.map_or(e.time_ms, |t| t.max(e.time_ms)));
    }
}

/// The first pass of a scan without `as_of`: the latest local day of the accepted rows.
pub struct Latest {
    reader: Reader,
    tally: Tally<LatestSink>,
}

impl Latest {
    /// A pass reading rows as `opts` says.
    pub fn new(opts: RowOptions) -> Latest {
        Latest {
            reader: Reader::new(opts),
            tally: Tally::default(),
        }
    }

    /// Reads one batch (under `strict`, its first reject is the error).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        self.reader.push(&mut self.tally, batch)
    }

    /// Reads one batch whose first row is row `first_row + 1` of the source (batches read
    /// out of order, by several workers).
    pub fn push_at(&mut self, batch: &RecordBatch, first_row: u64) -> Result<()> {
        self.reader.push_at(&mut self.tally, batch, first_row)
    }

    /// The latest accepted instant (UTC epoch ms), `None` when no row was accepted.
    pub fn latest_ms(&self) -> Option<i64> {
        self.tally.sink.0
    }

    /// The latest accepted instant's day in `tz`, and the report of the rows read.
    pub fn finish(mut self, tz: Tz) -> (Option<NaiveDate>, IngestReport) {
        let day = self.tally.sink.0.and_then(|ms| local_date(tz, ms));
        (day, self.tally.take_report(0))
    }
}

/// Record batches -> a [`State`]: the map half of a scan.
pub struct Mapper {
    reader: Reader,
    tally: Tally<Counter>,
    /// [`selection_text`] of the check.
    selection: String,
}

impl Mapper {
    /// A mapper for the check `params` (its `as_of` ends the window) in zone `tz`.
    pub fn new(params: &CheckParams, tz: Tz, opts: RowOptions) -> Mapper {
        let window = Window::new(tz, params.as_of, params.look_back_days);
        Mapper {
            reader: Reader::new(opts),
            tally: Tally::new(Counter::new(params, window)),
            selection: selection_text(params),
        }
    }

    /// Interprets and counts every row of `batch`. A batch without a required column (or
    /// with a column of a type no rule reads) is an error naming the column; under `strict`
    /// the first rejected row is an error naming its row and reason.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        self.reader.push(&mut self.tally, batch)
    }

    /// [`Mapper::push`] for a batch whose first row is row `first_row + 1` of the source
    /// (batches read out of order, by several workers).
    pub fn push_at(&mut self, batch: &RecordBatch, first_row: u64) -> Result<()> {
        self.reader.push_at(&mut self.tally, batch, first_row)
    }

    /// The window the mapper counts.
    pub fn window(&self) -> &Window {
        &self.tally.sink.window
    }

    /// The state, and the report of the rows read (rows, events, unknown counterparties,
    /// rejects with their rows).
    pub fn finish(mut self) -> (State, IngestReport) {
        let report = self.tally.take_report(0);
        let counter = self.tally.sink;
        let state = State {
            window: counter.window,
            selection: Some(self.selection),
            parts: vec![counter.partial],
            fed: None,
            part_rows: PART_ROWS,
        };
        (state, report)
    }
}

/// The mergeable map of a scan over a window: per subscriber and day, (hot, total).
#[derive(Clone, Debug)]
pub struct State {
    window: Window,
    /// The events counted ([`selection_text`]); `None` when unknown (a state built from a
    /// batch that does not name it).
    selection: Option<String>,
    /// Maps summed lazily: merging appends, reading sums.
    parts: Vec<Partial>,
    /// The part [`State::merge_batch`] adds to (a lone map, not shared).
    fed: Option<usize>,
    /// Rows from which [`State::merge_batch`] makes a batch a part of its own
    /// ([`PART_ROWS`]; tests make it small).
    part_rows: usize,
}

impl State {
    /// An empty state of `window`.
    pub fn new(window: Window) -> State {
        State {
            window,
            selection: None,
            parts: Vec::new(),
            fed: None,
            part_rows: PART_ROWS,
        }
    }

    /// A state holding already-built maps (the CLI scan's workers' maps) of `window`.
    pub fn of_parts(window: Window, parts: Vec<Partial>) -> State {
        State {
            window,
            selection: None,
            parts,
            fed: None,
            part_rows: PART_ROWS,
        }
    }

    /// The same state, counting the events `params` select ([`selection_text`]): a state or
    /// batch naming another selection is then refused by [`State::merge`] and
    /// [`State::merge_batch`], and [`State::to_arrow`] names it under [`SELECTION_KEY`].
    pub fn selecting(mut self, params: &CheckParams) -> State {
        self.selection = Some(selection_text(params));
        self
    }

    /// An error when `other` (a state's or batch's selection) is known and differs.
    fn same_selection(&self, other: Option<&str>) -> Result<()> {
        match (self.selection.as_deref(), other) {
            (Some(mine), Some(theirs)) if mine != theirs => Err(Error::invalid(
                "state",
                format!(
                    "counts the events of {theirs}, not {mine} (states of different selections never add up)"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The window it counts.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Adds `other` (no copy: the sum is taken when the state is read). Both must count the
    /// same window.
    pub fn merge(&mut self, other: State) -> Result<()> {
        if other.window != self.window {
            return Err(Error::invalid(
                "state",
                format!(
                    "counts the window {}, not {} (states of different windows never add up)",
                    window_text(&other.window),
                    window_text(&self.window)
                ),
            ));
        }
        self.same_selection(other.selection.as_deref())?;
        if self.selection.is_none() {
            self.selection = other.selection;
        }
        self.parts.extend(other.parts);
        Ok(())
    }

    /// Adds a state shipped as a record batch ([`State::to_arrow`]'s form). Small batches
    /// add to one map (a part made by the first), in any order: a stream of thousands of
    /// them (a Spark reduce's) is one map, not a part each. A batch of [`PART_ROWS`] rows or
    /// more (a whole state) is a map of its own while the state has fewer than
    /// eight parts: the parts are read side by side, on every thread. A batch with
    /// a bad row is an error and adds nothing.
    pub fn merge_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let named = batch.schema().metadata().get(SELECTION_KEY).cloned();
        self.same_selection(named.as_deref())?;
        let rows = state_rows(batch, &self.window)?;
        if self.selection.is_none() {
            self.selection = named;
        }
        if batch.num_rows() >= self.part_rows && self.parts.len() < READ_APART {
            // A whole state (a Python caller's): a map of its own, read beside the others.
            let mut part = Partial::new(self.window.days());
            rows.add_to(&mut part);
            self.parts.push(part);
            return Ok(());
        }
        let k = *self.fed.get_or_insert_with(|| {
            self.parts.push(Partial::new(self.window.days()));
            self.parts.len() - 1
        });
        rows.add_to(&mut self.parts[k]);
        Ok(())
    }

    /// One map: the parts summed (on `threads`) by [`Partial::merge`] (one slot list, and the
    /// loose events of subscribers with few).
    fn summed(&mut self, threads: Threads<'_>) -> &mut Partial {
        if self.parts.len() != 1 {
            let days = self.window.days();
            let parts = std::mem::take(&mut self.parts);
            let sum = threads.run(|| {
                parts
                    .into_iter()
                    .fold(Partial::new(days), |acc, p| acc.merge(p))
            });
            self.parts = vec![sum];
            self.fed = None;
        }
        &mut self.parts[0]
    }

    /// The state as a record batch of [`state_schema`]: one row per subscriber and day with a
    /// selected event, sorted by subscriber then day; the window in the schema's metadata.
    ///
    /// The parts are read where they are ([`each_of_sum`]), so a map of few events per
    /// subscriber is not made dense for it; more than eight parts are summed first.
    pub fn to_arrow(&mut self, threads: Threads<'_>) -> RecordBatch {
        let window = self.window.clone();
        if self.parts.len() > READ_APART {
            self.summed(threads);
        }
        let first = day_number(window.first());
        let parts = &mut self.parts;
        let cells = threads.run(|| {
            each_of_sum(parts, |out, sub, counts| {
                for (d, c) in counts.iter().enumerate() {
                    if c.total > 0 {
                        out.push((sub.value() as i64, first + d as i32, c.hot, c.total));
                    }
                }
            })
        });
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(cells.iter().map(|c| c.0))),
            Arc::new(Date32Array::from_iter_values(cells.iter().map(|c| c.1))),
            Arc::new(Int64Array::from_iter_values(
                cells.iter().map(|c| i64::from(c.2)),
            )),
            Arc::new(Int64Array::from_iter_values(
                cells.iter().map(|c| i64::from(c.3)),
            )),
        ];
        let mut schema = state_schema(Some(&window)).as_ref().clone();
        if let Some(sel) = &self.selection {
            schema
                .metadata
                .insert(SELECTION_KEY.to_owned(), sel.clone());
        }
        RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the state schema")
    }

    /// A state of `window` from a record batch of [`state_schema`] (rows in any order; a
    /// subscriber and day may repeat, and then add up). The batch's window, when its schema
    /// names one, must be `window`; every day must be in it and every count fit 32 bits.
    pub fn from_arrow(batch: &RecordBatch, window: &Window) -> Result<State> {
        let rows = state_rows(batch, window)?;
        let mut partial = Partial::new(window.days());
        rows.add_to(&mut partial);
        Ok(State {
            window: window.clone(),
            selection: batch.schema().metadata().get(SELECTION_KEY).cloned(),
            parts: vec![partial],
            fed: Some(0),
            part_rows: PART_ROWS,
        })
    }

    /// Subscribers with a selected event in W (read as [`State::to_arrow`] reads them).
    pub fn subscribers(&mut self, threads: Threads<'_>) -> usize {
        if self.parts.len() > READ_APART {
            self.summed(threads);
        }
        let parts = &mut self.parts;
        threads.run(|| each_of_sum(parts, |out, _, _| out.push(())).len())
    }

    /// The verdict rows of the sum (REFERENCE.md §5), sorted by subscriber; with `explain`
    /// each row keeps its dense day counts.
    pub fn rows(&mut self, rule: Rule, explain: bool, threads: Threads<'_>) -> Vec<ScanRow> {
        let parts = &mut self.parts;
        threads.run(|| rows_of(parts, rule, explain))
    }

    /// The verdicts of the sum as a record batch of [`verdict_schema`].
    pub fn verdicts(&mut self, rule: Rule, explain: bool, threads: Threads<'_>) -> RecordBatch {
        let rows = self.rows(rule, explain, threads);
        verdict_batch(&rows, Some(&self.window), explain)
    }
}

/// The rows of a state batch, every one checked by [`state_rows`]: they are added to a map
/// only once the whole batch is known good, so a batch with a bad row adds nothing.
struct StateRows<'a> {
    subs: Vec<Msisdn>,
    days: &'a [i32],
    hot: &'a [i64],
    total: &'a [i64],
    first: i32,
}

impl StateRows<'_> {
    /// Adds every row's counts to `partial` (a map of the batch's window).
    fn add_to(&self, partial: &mut Partial) {
        for (i, sub) in self.subs.iter().enumerate() {
            // Checked by `state_rows`: a day of the window, counts of 32 bits.
            let c = DayCounts {
                hot: self.hot[i] as u32,
                total: self.total[i] as u32,
            };
            partial.add_counts(*sub, (self.days[i] - self.first) as u16, c);
        }
    }
}

/// Checks a state batch of `window` ([`State::from_arrow`]'s rules): its schema's window,
/// its columns, then every row; the first bad row is the error, named by its number.
fn state_rows<'a>(batch: &'a RecordBatch, window: &Window) -> Result<StateRows<'a>> {
    if let Some(named) = batch.schema().metadata().get(WINDOW_KEY)
        && *named != window_text(window)
    {
        return Err(Error::invalid(
            "state",
            format!(
                "counts the window {named}, not {} (states of different windows never add up)",
                window_text(window)
            ),
        ));
    }
    let column = |name: &str| -> Result<&'a ArrayRef> {
        batch.column_by_name(name).ok_or_else(|| {
            Error::invalid(
                "state",
                format!("has no column {name:?} (a state has subscriber, day, hot, total)"),
            )
        })
    };
    let typed = |name: &str, want: &DataType| -> Result<()> {
        let got = column(name)?.data_type();
        if got != want {
            return Err(Error::invalid(
                "state",
                format!("column {name:?} must be {want} (got {got})"),
            ));
        }
        if column(name)?.null_count() > 0 {
            return Err(Error::invalid(
                "state",
                format!("column {name:?} must have no null"),
            ));
        }
        Ok(())
    };
    typed("subscriber", &DataType::Int64)?;
    typed("day", &DataType::Date32)?;
    typed("hot", &DataType::Int64)?;
    typed("total", &DataType::Int64)?;
    let raw_subs = column("subscriber")?.as_primitive::<Int64Type>().values();
    let days = column("day")?.as_primitive::<Date32Type>().values();
    let hot = column("hot")?.as_primitive::<Int64Type>().values();
    let total = column("total")?.as_primitive::<Int64Type>().values();
    let first = day_number(window.first());
    let n_days = window.days() as i32;
    let mut subs = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let bad = |rule: &str| Error::invalid("state", format!("row {}: {rule}", i + 1));
        // A mapped state holds subscribers as the scan reads them (REFERENCE.md §4: 5 to
        // 15 digits); a state built elsewhere with a shorter one would print as `+5`.
        let sub = u64::try_from(raw_subs[i])
            .ok()
            .and_then(Msisdn::from_value)
            .filter(|m| m.len() >= Msisdn::MIN_DIGITS)
            .ok_or_else(|| {
                bad("subscriber is not an E.164 number's digits (5 to 15, the first not 0)")
            })?;
        if !(0..n_days).contains(&(days[i] - first)) {
            return Err(bad("day is outside the window"));
        }
        let count = |v: i64| u32::try_from(v).ok();
        let (Some(h), Some(t)) = (count(hot[i]), count(total[i])) else {
            return Err(bad("hot and total must be in 0..=4294967295"));
        };
        if h > t {
            return Err(bad("hot must not exceed total"));
        }
        subs.push(sub);
    }
    Ok(StateRows {
        subs,
        days: &days[..],
        hot: &hot[..],
        total: &total[..],
        first,
    })
}

/// Parts of a state read apart by [`State::to_arrow`] and [`State::subscribers`]: the read
/// compares one subscriber of every part at each step, so a state merged from many (many
/// states given to [`State::merge`]) is summed into one map first. A stream of state batches
/// makes few parts ([`State::merge_batch`]).
const READ_APART: usize = 8;

/// Rows from which a state batch given to [`State::merge_batch`] is a map of its own (while
/// the state has fewer than eight parts) rather than added to the one map the small
/// batches feed: 8 whole states of tier M summed in 1.1-1.3 s, 1.8-2.2 s through one map
/// (BENCHMARKS.md, "Forty-second session").
pub const PART_ROWS: usize = 1 << 20;

/// Rows of the slices a large batch is cut into for the workers (64K rows: a few MB of
/// columns, enough to amortise a slice's column setup).
const SLICE_ROWS: usize = 1 << 16;
const _: () = assert!(
    SLICE_ROWS > 7,
    "the tests' small batches must not be sliced"
);

/// A check of each batch (or slice of a large one) before it is read, run by the worker that
/// took it, so in parallel: a caller whose batches come from foreign memory (the Python
/// package's imports) checks their buffers there. [`unchecked`] for batches Arrow built.
pub type BatchCheck<'a> = &'a (dyn Fn(&RecordBatch) -> Result<()> + Sync);

/// The [`BatchCheck`] of batches that need none.
pub fn unchecked(_: &RecordBatch) -> Result<()> {
    Ok(())
}

/// Batches pulled by the workers of `threads`, each with its worker's `W`; rows are
/// numbered in the order the batches come. Each batch is passed to `check`, then to `push`.
/// The first error in that order wins (a stream's own error, `check`'s, or `push`'s: under
/// `strict`, the first rejected row); after an error no further batch is taken.
fn in_workers<I, W>(
    batches: I,
    threads: Threads<'_>,
    check: BatchCheck<'_>,
    make: impl Fn() -> W + Sync,
    push: impl Fn(&mut W, &RecordBatch, u64) -> Result<()> + Sync,
) -> Result<Vec<W>>
where
    I: Iterator<Item = Result<RecordBatch>> + Send,
    W: Send,
{
    use rayon::prelude::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    // (the batches, rows before the next batch, index of the next batch, the rest of a
    // batch cut into slices)
    let source = Mutex::new((batches, 0u64, 0usize, None::<RecordBatch>));
    let failed = AtomicBool::new(false);
    let work = |_| {
        let mut w = make();
        loop {
            let (index, first, batch) = {
                let mut s = source.lock().unwrap_or_else(|p| p.into_inner());
                if failed.load(Ordering::Relaxed) {
                    return (w, None);
                }
                let index = s.2;
                let next = match s.3.take() {
                    Some(rest) => Some(Ok(rest)),
                    None => s.0.next(),
                };
                // A large batch (a whole frame exported as one chunk) is cut into slices
                // (no copy), so every worker gets a share of it.
                let next = next.map(|b| {
                    b.map(|b| {
                        if b.num_rows() > SLICE_ROWS {
                            s.3 = Some(b.slice(SLICE_ROWS, b.num_rows() - SLICE_ROWS));
                            b.slice(0, SLICE_ROWS)
                        } else {
                            b
                        }
                    })
                });
                match next {
                    None => return (w, None),
                    Some(Err(e)) => {
                        failed.store(true, Ordering::Relaxed);
                        return (w, Some((index, e)));
                    }
                    Some(Ok(b)) => {
                        let first = s.1;
                        s.1 += b.num_rows() as u64;
                        s.2 += 1;
                        (index, first, b)
                    }
                }
            };
            if let Err(e) = check(&batch).and_then(|()| push(&mut w, &batch, first)) {
                failed.store(true, Ordering::Relaxed);
                return (w, Some((index, e)));
            }
        }
    };
    let n = threads.count();
    let results: Vec<(W, Option<(usize, Error)>)> =
        threads.run(|| (0..n).into_par_iter().map(work).collect());
    let mut workers = Vec::with_capacity(results.len());
    let mut first: Option<(usize, Error)> = None;
    for (w, e) in results {
        if let Some((i, e)) = e
            && first.as_ref().is_none_or(|(j, _)| i < *j)
        {
            first = Some((i, e));
        }
        workers.push(w);
    }
    match first {
        Some((_, e)) => Err(e),
        None => Ok(workers),
    }
}

/// The map of a scan over a stream of batches, on `threads` (each worker checks with `check`
/// and maps the batches it takes; their maps are summed when read). The report counts every
/// row of the stream, and rejects carry their row in the stream.
pub fn map_batches<I>(
    params: &CheckParams,
    tz: Tz,
    opts: &RowOptions,
    batches: I,
    (threads, check): (Threads<'_>, BatchCheck<'_>),
) -> Result<(State, IngestReport)>
where
    I: Iterator<Item = Result<RecordBatch>> + Send,
{
    let workers = in_workers(
        batches,
        threads,
        check,
        || Mapper::new(params, tz, opts.clone()),
        |m, b, first| m.push_at(b, first),
    )?;
    let mut report = IngestReport::default();
    let mut state =
        State::new(Window::new(tz, params.as_of, params.look_back_days)).selecting(params);
    for m in workers {
        let (s, r) = m.finish();
        report.merge(r);
        state.merge(s)?;
    }
    Ok((state, report))
}

/// The latest accepted day of a stream of batches in `tz` (`None` when no row is accepted),
/// on `threads`, each batch checked with `check` first, with the report of the rows read.
pub fn latest_of_batches<I>(
    opts: &RowOptions,
    tz: Tz,
    batches: I,
    (threads, check): (Threads<'_>, BatchCheck<'_>),
) -> Result<(Option<NaiveDate>, IngestReport)>
where
    I: Iterator<Item = Result<RecordBatch>> + Send,
{
    let workers = in_workers(
        batches,
        threads,
        check,
        || Latest::new(opts.clone()),
        |l, b, first| l.push_at(b, first),
    )?;
    let mut report = IngestReport::default();
    let mut latest: Option<i64> = None;
    for l in workers {
        latest = latest.max(l.latest_ms());
        report.merge(l.finish(tz).1);
    }
    Ok((latest.and_then(|ms| local_date(tz, ms)), report))
}

/// Verdict rows of the sum of `parts` (one per subscriber with a selected event in W,
/// sorted by subscriber; with `explain`, the dense day counts), on the current threads.
pub fn rows_of(parts: &mut [Partial], rule: Rule, explain: bool) -> Vec<ScanRow> {
    let mut rows = verdicts_of_sum(parts, rule, |subscriber, verdict, days| ScanRow {
        subscriber,
        verdict,
        days: explain.then(|| days.to_vec()),
    });
    crate::detect::rules::sort_as_text(&mut rows);
    rows
}

/// The `days` cell of an explained verdict: `DATE:HOT/TOTAL` for each day of W with a
/// selected event, `;`-separated, oldest first (`counts` are W's dense day counts).
pub fn explain_days(counts: &[DayCounts], w: &Window) -> String {
    let text: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.total > 0)
        .map(|(i, c)| format!("{}:{}/{}", w.date(i), c.hot, c.total))
        .collect();
    text.join(";")
}

/// `FIRST..=LAST ZONE`: how a state batch names its window.
pub fn window_text(w: &Window) -> String {
    format!("{}..={} {}", w.first(), w.last(), w.tz())
}

/// The schema of a state batch: `subscriber` (Int64: the E.164 number's digits), `day`
/// (Date32: a local day of the window), `hot` and `total` (Int64), none nullable; with a
/// window, its [`window_text`] under [`WINDOW_KEY`].
pub fn state_schema(window: Option<&Window>) -> SchemaRef {
    let fields = vec![
        Field::new("subscriber", DataType::Int64, false),
        Field::new("day", DataType::Date32, false),
        Field::new("hot", DataType::Int64, false),
        Field::new("total", DataType::Int64, false),
    ];
    let metadata: std::collections::HashMap<String, String> = window
        .map(|w| [(WINDOW_KEY.to_owned(), window_text(w))].into())
        .unwrap_or_default();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The scan's output columns (REFERENCE.md §9) as Arrow types: `subscriber` (Utf8, `+`
/// and digits), `anomaly_detected` (Boolean), `anomaly_date` (Date32, null when none),
/// `anomalous_days` (UInt32), `first_anomaly_date` (Date32, null when none); with
/// `explain`, `days` (Utf8: `YYYY-MM-DD:hot/total` per day of W with selected events,
/// `;`-separated).
pub fn verdict_schema(explain: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("anomaly_detected", DataType::Boolean, false),
        Field::new("anomaly_date", DataType::Date32, true),
        Field::new("anomalous_days", DataType::UInt32, false),
        Field::new("first_anomaly_date", DataType::Date32, true),
    ];
    if explain {
        fields.push(Field::new("days", DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// Verdict rows as a record batch of [`verdict_schema`]; `window` dates the rows (it is
/// `None` only for a scan without a window, which has no rows).
pub fn verdict_batch(rows: &[ScanRow], window: Option<&Window>, explain: bool) -> RecordBatch {
    let first = window.map_or(0, |w| day_number(w.first()));
    let date = |d: Option<u16>| d.map(|i| first + i32::from(i));
    let mut subs = StringBuilder::with_capacity(rows.len(), rows.len() * 13);
    let mut digits = itoa::Buffer::new();
    let mut cell = String::with_capacity(17);
    for r in rows {
        // `+` and the digits (Msisdn's Display), without a String per row.
        cell.clear();
        cell.push('+');
        cell.push_str(digits.format(r.subscriber.value()));
        subs.append_value(&cell);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(subs.finish()),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.verdict.detected())),
        )),
        Arc::new(Date32Array::from_iter(
            rows.iter().map(|r| date(r.verdict.last)),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.verdict.anomalous_days),
        )),
        Arc::new(Date32Array::from_iter(
            rows.iter().map(|r| date(r.verdict.first)),
        )),
    ];
    if explain {
        let mut days = StringBuilder::new();
        for r in rows {
            match (&r.days, window) {
                (Some(counts), Some(w)) => days.append_value(explain_days(counts, w)),
                _ => days.append_null(),
            }
        }
        columns.push(Arc::new(days.finish()));
    }
    RecordBatch::try_new(verdict_schema(explain), columns)
        .expect("columns match the verdict schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::check::{CheckType, Limits, Method, RawCheck};
    use crate::model::hotzone::Hotzone;
    use arrow::array::{StringArray, TimestampMillisecondArray};

    fn params(as_of: &str) -> CheckParams {
        let raw = RawCheck {
            look_back_days: Some(3),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", "+234").unwrap())),
            min_events: Some(1),
            as_of: Some(as_of.to_owned()),
            ..RawCheck::default()
        };
        let limits = Limits {
            max_look_back_days: 90,
            default_as_of: NaiveDate::default(),
        };
        CheckParams::new(raw, limits).unwrap()
    }

    /// The state of `rows` ([`events`]) mapped under `p` in UTC.
    fn mapped(p: &CheckParams, rows: &[(&str, &str, &str)]) -> State {
        let mut m = Mapper::new(p, Tz::UTC, RowOptions::default());
        m.push(&events(rows)).unwrap();
        m.finish().0
    }

    fn events(rows: &[(&str, &str, &str)]) -> RecordBatch {
        let day = |d: &str| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
        };
        let n = rows.len();
        let schema = Schema::new(vec![
            Field::new(
                "event_time",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("subscriber", DataType::Utf8, true),
            Field::new("counterparty", DataType::Utf8, true),
            Field::new("direction", DataType::Utf8, true),
            Field::new("kind", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| day(r.0)),
                )),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "OUT"))),
                Arc::new(StringArray::from_iter_values((0..n).map(|_| "CALL"))),
            ],
        )
        .unwrap()
    }

    /// A generated row: subscriber, direction, kind and counterparty cells (indices), day.
    type Row = (usize, usize, usize, usize, u8);

    /// One text column in each encoding a reader can be handed.
    fn encoded(cells: &[Option<String>], how: u8) -> ArrayRef {
        use arrow::array::{DictionaryArray, StringViewArray};
        use arrow::datatypes::Int32Type;
        match how {
            0 => Arc::new(StringArray::from(cells.to_vec())),
            1 => Arc::new(StringViewArray::from(cells.to_vec())),
            _ => Arc::new(
                cells
                    .iter()
                    .map(|c| c.as_deref())
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The fast lane (per-cell rules with the memo of repeated cells, on plain, view and
        /// dictionary columns) gives the same events and rejects as the general path every
        /// row takes when a `counterparty_region` column is present (all null here).
        #[test]
        fn every_string_encoding_through_the_fast_lane_equals_the_general_path(
            rows in proptest::collection::vec((0usize..8, 0usize..6, 0usize..7, 0usize..3, 0u8..3), 1..120),
            enc in (0u8..3, 0u8..3, 0u8..3),
        ) {
            // Cells that repeat, differ in one byte, cross the 12-byte inline limit of a
            // view, need trimming or another case, or break a rule.
            let subs = [
                Some(" +886912345678"), Some("+886912345678"), Some("+886912345679"),
                Some("+2348031234567"), Some("+1234567"), Some(""), None, Some("886912345678"),
            ];
            let dirs = [Some("OUT"), Some("in"), Some(" In "), Some("out "), Some("sideways"), None];
            let kinds = [Some("CALL"), Some("sms"), Some(" SMS"), Some("Call"), Some("fax"), Some(""), None];
            let cps = [NG, TW, "12"];
            let p = params("2026-01-03");
            let col = |table: &[Option<&str>], at: fn(&Row) -> usize| {
                rows.iter().map(|r| table[at(r)].map(str::to_owned)).collect::<Vec<_>>()
            };
            let sub = col(&subs, |r| r.0);
            let dir = col(&dirs, |r| r.1);
            let kind = col(&kinds, |r| r.2);
            let cp = col(&cps.map(Some), |r| r.3);
            let times = TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| 1_767_312_000_000 + i64::from(r.4) * 86_400_000),
            );
            let batch = |with_region: bool, enc: (u8, u8, u8)| {
                let mut fields = vec![
                    Field::new("event_time", DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None), true),
                ];
                let mut columns: Vec<ArrayRef> = vec![Arc::new(times.clone())];
                for (name, cells, how) in [("subscriber", &sub, enc.0), ("direction", &dir, enc.1), ("kind", &kind, enc.2), ("counterparty", &cp, 0)] {
                    let a = encoded(cells, how);
                    fields.push(Field::new(name, a.data_type().clone(), true));
                    columns.push(a);
                }
                if with_region {
                    fields.push(Field::new("counterparty_region", DataType::Utf8, true));
                    columns.push(Arc::new(StringArray::from(vec![None::<&str>; rows.len()])));
                }
                RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
            };
            let run = |b: RecordBatch| {
                let mut m = Mapper::new(&p, Tz::UTC, RowOptions::default());
                m.push(&b).unwrap();
                let (mut s, mut r) = m.finish();
                let rejects: Vec<(u64, String)> = r.rejects.rows().iter().map(|x| (x.row, x.reason.key().to_owned())).collect();
                (s.to_arrow(Threads::Caller), r.rows, r.events, rejects)
            };
            let general = run(batch(true, (0, 0, 0)));
            proptest::prop_assert_eq!(run(batch(false, enc)), general);
        }
    }

    const A: &str = "+886912345678";
    const B: &str = "+886912345679";
    const NG: &str = "+2348031234567";
    const TW: &str = "+886223456789";

    #[test]
    fn states_shipped_through_arrow_and_merged_in_any_order_equal_one_pass() {
        let p = params("2026-01-03");
        let all = [
            ("2026-01-01", A, TW),
            ("2026-01-02", B, NG),
            ("2026-01-03", A, NG),
            ("2026-01-03", A, NG),
            ("2026-01-03", B, TW),
            ("2026-01-02", A, "bogus-number"),
            ("2025-12-31", A, NG), // before W: read, not counted
        ];
        let mut one = Mapper::new(&p, Tz::UTC, RowOptions::default());
        one.push(&events(&all)).unwrap();
        let (mut whole, report) = one.finish();
        assert_eq!((report.rows, report.events), (7, 7));
        assert_eq!(report.unknown_counterparties, 1);
        let rule = Rule::of(&p);
        let expected = whole.verdicts(rule, true, Threads::Caller);
        assert_eq!(expected.num_rows(), 2);

        for split in 0..all.len() {
            let (left, right) = all.split_at(split);
            let mut states = Vec::new();
            for part in [right, left] {
                let mut m = Mapper::new(&p, Tz::UTC, RowOptions::default());
                if !part.is_empty() {
                    m.push(&events(part)).unwrap();
                }
                let (mut s, _) = m.finish();
                states.push(s.to_arrow(Threads::Caller));
            }
            let mut sum = State::new(whole.window().clone());
            for b in &states {
                sum.merge_batch(b).unwrap();
            }
            assert_eq!(sum.verdicts(rule, true, Threads::Caller), expected);
            assert_eq!(
                sum.to_arrow(Threads::Caller),
                whole.to_arrow(Threads::Caller)
            );
        }
    }

    #[test]
    fn batches_mapped_on_a_pool_equal_one_mapper_and_strict_names_the_first_bad_row() {
        let p = params("2026-01-03");
        let rows: Vec<(&str, &str, &str)> = (0..60)
            .map(|i| {
                let day = ["2026-01-01", "2026-01-02", "2026-01-03"][i % 3];
                let sub = [A, B][i % 2];
                let cp = [NG, TW, "", "12"][i % 4];
                (day, sub, cp)
            })
            .collect();
        let batches: Vec<RecordBatch> = rows.chunks(7).map(events).collect();
        let mut one = Mapper::new(&p, Tz::UTC, RowOptions::default());
        for b in &batches {
            one.push(b).unwrap();
        }
        let (mut whole, whole_report) = one.finish();
        let rule = Rule::of(&p);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for threads in [Threads::Caller, Threads::Pool(&pool)] {
            let (mut s, r) = map_batches(
                &p,
                Tz::UTC,
                &RowOptions::default(),
                batches.iter().cloned().map(Ok),
                (threads, &unchecked),
            )
            .unwrap();
            assert_eq!(
                s.verdicts(rule, true, threads),
                whole.verdicts(rule, true, Threads::Caller)
            );
            assert_eq!((r.rows, r.events), (whole_report.rows, whole_report.events));
            let (day, _) = latest_of_batches(
                &RowOptions::default(),
                Tz::UTC,
                batches.iter().cloned().map(Ok),
                (threads, &unchecked),
            )
            .unwrap();
            assert_eq!(day, NaiveDate::from_ymd_opt(2026, 1, 3));
        }
        // Rows 30 and 50 are bad subscribers: strict names row 30 whatever the workers do.
        let mut bad = rows.clone();
        bad[29].1 = "x";
        bad[49].1 = "y";
        let batches: Vec<RecordBatch> = bad.chunks(7).map(events).collect();
        let strict = RowOptions {
            strict: true,
            ..RowOptions::default()
        };
        for threads in [Threads::Caller, Threads::Pool(&pool)] {
            let err = map_batches(
                &p,
                Tz::UTC,
                &strict,
                batches.iter().cloned().map(Ok),
                (threads, &unchecked),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("row 30:"), "{err}");
        }
    }

    /// A state merged from a few parts is read where they are, one of many parts is summed
    /// first: either way it reads as the state of every row at once.
    #[test]
    fn a_state_of_few_or_many_parts_reads_as_one() {
        let p = params("2026-01-03");
        let subs: Vec<String> = (0..40).map(|k| format!("+88691234{k:04}")).collect();
        let rows: Vec<(&str, &str, &str)> = (0..300)
            .map(|i| {
                (
                    ["2026-01-01", "2026-01-02", "2026-01-03"][i % 3],
                    subs[i * 7 % subs.len()].as_str(),
                    [NG, TW][i % 5 % 2],
                )
            })
            .collect();
        let state_of = |rows: &[(&str, &str, &str)]| mapped(&p, rows);
        let mut whole = state_of(&rows);
        let want = whole.to_arrow(Threads::Caller);
        assert_eq!(whole.subscribers(Threads::Caller), subs.len());
        for parts in [2, READ_APART, READ_APART + 5] {
            let mut chunks = rows.chunks(rows.len().div_ceil(parts));
            let mut sum = state_of(chunks.next().unwrap());
            for c in chunks {
                sum.merge(state_of(c)).unwrap();
            }
            assert_eq!(sum.parts.len(), parts, "parts kept apart until read");
            assert_eq!(
                sum.subscribers(Threads::Caller),
                subs.len(),
                "{parts} parts"
            );
            assert_eq!(sum.to_arrow(Threads::Caller), want, "{parts} parts");
            let rule = Rule::of(&p);
            assert_eq!(
                sum.verdicts(rule, true, Threads::Caller),
                whole.verdicts(rule, true, Threads::Caller),
                "{parts} parts"
            );
        }
    }

    /// States shipped as many small batches (a Spark reduce), in any order, add up in one
    /// map, read as the state of every row at once; a batch with a bad row is an error and
    /// adds nothing, and the batches after it still add up.
    #[test]
    fn a_stream_of_state_batches_is_one_map_and_a_bad_batch_adds_nothing() {
        let p = params("2026-01-03");
        let rows: Vec<(&str, String, &str)> = (0..600)
            .map(|i| {
                (
                    ["2026-01-01", "2026-01-02", "2026-01-03"][i % 3],
                    format!("+88691234{:04}", i * 7 % 230),
                    [NG, TW][i % 5 % 2],
                )
            })
            .collect();
        let rows: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r.0, r.1.as_str(), r.2)).collect();
        let state_of = |rows: &[(&str, &str, &str)]| mapped(&p, rows);
        let mut whole = state_of(&rows);
        let want = whole.to_arrow(Threads::Caller);
        // Three mapped states, each shipped in batches of 7 rows, interleaved.
        let shipped: Vec<RecordBatch> = rows
            .chunks(200)
            .map(|c| state_of(c).to_arrow(Threads::Caller))
            .collect();
        let mut batches: Vec<RecordBatch> = Vec::new();
        for k in 0.. {
            let mut any = false;
            for b in &shipped {
                if k * 7 < b.num_rows() {
                    batches.push(b.slice(k * 7, 7.min(b.num_rows() - k * 7)));
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        assert!(batches.len() > 3 * READ_APART);
        let mut sum = State::new(whole.window().clone());
        let bad = {
            let b = &batches[0];
            let mut total: Vec<i64> = b.column(3).as_primitive::<Int64Type>().values().to_vec();
            *total.last_mut().unwrap() = -1;
            let mut cols = b.columns().to_vec();
            cols[3] = Arc::new(Int64Array::from(total));
            RecordBatch::try_new(b.schema(), cols).unwrap()
        };
        for (i, b) in batches.iter().enumerate() {
            sum.merge_batch(b).unwrap();
            if i == batches.len() / 2 {
                let err = sum.merge_batch(&bad).unwrap_err().to_string();
                assert!(err.contains("row 7: hot and total"), "{err}");
            }
        }
        assert_eq!(sum.parts.len(), 1, "one map for every batch");
        assert_eq!(sum.to_arrow(Threads::Caller), want);
        let rule = Rule::of(&p);
        assert_eq!(
            sum.verdicts(rule, true, Threads::Caller),
            whole.verdicts(rule, true, Threads::Caller)
        );
        // Batches of `part_rows` rows or more are parts of their own, up to `READ_APART`.
        let mut parted = State::new(whole.window().clone());
        parted.part_rows = 50;
        for b in shipped.iter().chain(&batches) {
            parted.merge_batch(b).unwrap();
        }
        assert_eq!(
            parted.parts.len(),
            shipped.len() + 1,
            "a part each, and the fed one"
        );
        let mut twice = State::new(whole.window().clone());
        twice.merge(whole.clone()).unwrap();
        twice.merge(whole.clone()).unwrap();
        assert_eq!(
            parted.to_arrow(Threads::Caller),
            twice.to_arrow(Threads::Caller)
        );
        let mut many = State::new(whole.window().clone());
        many.part_rows = 50;
        for _ in 0..READ_APART + 2 {
            many.merge_batch(&shipped[0]).unwrap();
        }
        assert_eq!(many.parts.len(), READ_APART + 1, "then the fed map");
        // Read, then more batches: they add to the same map.
        sum.merge_batch(&batches[0]).unwrap();
        let mut again = state_of(&rows);
        again.merge_batch(&batches[0]).unwrap();
        assert_eq!(
            sum.to_arrow(Threads::Caller),
            again.to_arrow(Threads::Caller)
        );
    }

    /// A state batch of `w` from rows (subscriber, day of W, hot, total).
    fn state_batch(w: &Window, rows: &[(i64, i32, i64, i64)]) -> RecordBatch {
        let first = day_number(w.first());
        RecordBatch::try_new(
            state_schema(Some(w)),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Date32Array::from_iter_values(
                    rows.iter().map(|r| first + r.1),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            ],
        )
        .unwrap()
    }

    /// The rows of a state batch of `w`, as [`state_batch`] takes them.
    fn state_cells(w: &Window, b: &RecordBatch) -> Vec<(i64, i32, i64, i64)> {
        let c = |k: usize| b.column(k).as_primitive::<Int64Type>().values().to_vec();
        let days = b.column(1).as_primitive::<Date32Type>().values().to_vec();
        let first = day_number(w.first());
        let (s, h, t) = (c(0), c(2), c(3));
        (0..b.num_rows())
            .map(|i| (s[i], days[i] - first, h[i], t[i]))
            .collect()
    }

    /// Random small batches (sorted like `to_arrow`'s, or not; duplicated rows; now and then
    /// a count at the 32-bit limit; a bad batch), into states by `merge_batch` and
    /// `from_arrow`, states merged (fed parts included), cloned, read between batches: every
    /// read, the sum, and the sum read back and doubled, is the saturating tally (a
    /// reviewer's test).
    #[test]
    fn random_state_streams_read_as_the_saturating_tally() {
        use crate::detect::partial::tests::Xs;
        let mut rng = Xs(0x2545_f491_4f6c_dd1d);
        for seed in 0..300 {
            let days = [3u16, 30, 90][rng.below(3) as usize];
            let w = Window::new(Tz::UTC, NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(), days);
            let universe = [10u64, 100, 1000][rng.below(3) as usize];
            let mut want = std::collections::BTreeMap::<(i64, i32), (i64, i64)>::new();
            let add = |want: &mut std::collections::BTreeMap<(i64, i32), (i64, i64)>,
                       r: &(i64, i32, i64, i64)| {
                let c = want.entry((r.0, r.1)).or_insert((0, 0));
                c.0 = (c.0 + r.2).min(u32::MAX as i64);
                c.1 = (c.1 + r.3).min(u32::MAX as i64);
            };
            let mut states: Vec<State> = Vec::new();
            let mut cur = State::new(w.clone());
            cur.part_rows = [4usize, 30, PART_ROWS][rng.below(3) as usize];
            for step in 0..5 + rng.below(120) {
                let n = 1 + rng.below(40) as usize;
                let mut rows = Vec::with_capacity(n);
                let mut k = rng.below(universe);
                for _ in 0..n {
                    let sub = 886_912_340_000 + k as i64 * 3;
                    let total = match rng.below(20) {
                        0 => u32::MAX as i64 - rng.below(2) as i64,
                        1 => 0,
                        2 => 10 + rng.below(100) as i64,
                        _ => 1 + rng.below(3) as i64,
                    };
                    let hot = if rng.below(3) == 0 {
                        total
                    } else {
                        rng.below(total as u64 + 1) as i64
                    };
                    rows.push((sub, rng.below(u64::from(days)) as i32, hot, total));
                    if rng.below(3) != 0 {
                        k = (k + rng.below(3)) % universe;
                    } else {
                        k = rng.below(universe);
                    }
                }
                if rng.below(2) == 0 {
                    rows.sort();
                }
                let b = state_batch(&w, &rows);
                for r in &rows {
                    add(&mut want, r);
                }
                match rng.below(12) {
                    0 => {
                        // a state of its own (from_arrow: its part is fed), merged later
                        let s = State::from_arrow(&b, &w).unwrap();
                        states.push(s);
                    }
                    1 => {
                        // a clone goes on; the original is read and dropped
                        let mut c = cur.clone();
                        c.merge_batch(&b).unwrap();
                        let _ = cur.to_arrow(Threads::Caller);
                        cur = c;
                    }
                    2 => {
                        let _ = cur.to_arrow(Threads::Caller);
                        cur.merge_batch(&b).unwrap();
                    }
                    3 => {
                        let _ = cur.subscribers(Threads::Caller);
                        cur.merge_batch(&b).unwrap();
                    }
                    4 if !states.is_empty() => {
                        let i = rng.below(states.len() as u64) as usize;
                        let o = states.swap_remove(i);
                        cur.merge(o).unwrap();
                        cur.merge_batch(&b).unwrap();
                    }
                    5 => {
                        // a bad batch adds nothing
                        let mut bad = rows.clone();
                        bad.last_mut().unwrap().2 = -1;
                        assert!(cur.merge_batch(&state_batch(&w, &bad)).is_err());
                        cur.merge_batch(&b).unwrap();
                    }
                    _ => cur.merge_batch(&b).unwrap(),
                }
                let _ = step;
            }
            let mut sum = cur;
            for s in states {
                sum.merge(s).unwrap();
            }
            let expect: Vec<(i64, i32, i64, i64)> = (want.iter())
                .filter(|(_, c)| c.1 > 0)
                .map(|(k, c)| (k.0, k.1, c.0, c.1))
                .collect();
            let subs = {
                let mut v: Vec<i64> = expect.iter().map(|r| r.0).collect();
                v.dedup();
                v.len()
            };
            let ctx = format!(
                "seed {seed}: {days} days, {universe} subscribers, {} parts",
                sum.parts.len()
            );
            let mut copy = sum.clone();
            assert_eq!(
                state_cells(&w, &sum.to_arrow(Threads::Caller)),
                expect,
                "{ctx}: to_arrow"
            );
            assert_eq!(sum.subscribers(Threads::Caller), subs, "{ctx}: subscribers");
            // summed into one map
            let mut one = copy.clone();
            one.summed(Threads::Caller);
            assert_eq!(
                state_cells(&w, &one.to_arrow(Threads::Caller)),
                expect,
                "{ctx}: summed"
            );
            // read back, and merged with itself: doubled
            let back = State::from_arrow(&copy.to_arrow(Threads::Caller), &w).unwrap();
            copy.merge(back).unwrap();
            let doubled: Vec<(i64, i32, i64, i64)> = (expect.iter())
                .map(|r| {
                    (
                        r.0,
                        r.1,
                        (2 * r.2).min(u32::MAX as i64),
                        (2 * r.3).min(u32::MAX as i64),
                    )
                })
                .collect();
            copy.summed(Threads::Caller);
            assert_eq!(
                state_cells(&w, &copy.to_arrow(Threads::Caller)),
                doubled,
                "{ctx}: doubled"
            );
        }
    }

    /// Counts near the 32-bit limit (a forged state) saturate wherever they meet: a
    /// subscriber whose few events went loose and whose later counts made a slot, in one map
    /// and across maps, read by every path, never wraps or panics.
    #[test]
    fn counts_at_the_limit_saturate_beside_loose_events() {
        // 30 days: a subscriber of fewer than 15 events keeps them loose.
        let window = Window::new(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 30).unwrap(), 30);
        let batch = |rows: &[(i64, i32, i64, i64)]| state_batch(&window, rows);
        let max = i64::from(u32::MAX);
        // 886912340001: one event (appended, then loose as the next subscriber comes); then,
        // out of order, counts at the limit on the same day (a run slot of its own).
        let small = batch(&[(886_912_340_001, 2, 1, 1), (886_912_340_009, 2, 0, 1)]);
        let huge = batch(&[(886_912_340_005, 1, 0, 1), (886_912_340_001, 2, max, max)]);
        let want = batch(&[
            (886_912_340_001, 2, max, max),
            (886_912_340_005, 1, 0, 1),
            (886_912_340_009, 2, 0, 1),
        ]);
        let cells = |b: &RecordBatch| state_cells(&window, b);
        for part_rows in [1, PART_ROWS] {
            let mut sum = State::new(window.clone());
            sum.part_rows = part_rows;
            sum.merge_batch(&small).unwrap();
            sum.merge_batch(&huge).unwrap();
            let rule = Rule::of(&params("2026-01-03"));
            assert_eq!(sum.verdicts(rule, false, Threads::Caller).num_rows(), 3);
            assert_eq!(sum.subscribers(Threads::Caller), 3);
            assert_eq!(
                cells(&sum.to_arrow(Threads::Caller)),
                cells(&want),
                "{part_rows}"
            );
            // Summed through `Partial::merge` (more parts than are read apart).
            for _ in 0..READ_APART {
                sum.merge(State::from_arrow(&small, &window).unwrap())
                    .unwrap();
            }
            let got = cells(&sum.to_arrow(Threads::Caller));
            assert_eq!((got[0].2, got[0].3), (max, max), "{part_rows}: saturated");
        }
    }

    #[test]
    fn a_batch_larger_than_a_slice_is_shared_by_the_workers_with_its_row_numbers() {
        let p = params("2026-01-03");
        let n = SLICE_ROWS * 2 + 5;
        let mut rows: Vec<(&str, &str, &str)> = (0..n)
            .map(|i| {
                (
                    ["2026-01-02", "2026-01-03"][i % 2],
                    [A, B][i % 3 % 2],
                    [NG, TW][i % 5 % 2],
                )
            })
            .collect();
        let big = events(&rows);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let mut one = Mapper::new(&p, Tz::UTC, RowOptions::default());
        one.push(&big).unwrap();
        let (mut whole, _) = one.finish();
        let rule = Rule::of(&p);
        let (mut s, r) = map_batches(
            &p,
            Tz::UTC,
            &RowOptions::default(),
            [Ok(big)].into_iter(),
            (Threads::Pool(&pool), &unchecked),
        )
        .unwrap();
        assert_eq!(r.rows, n as u64);
        assert_eq!(s.to_arrow(Threads::Caller), whole.to_arrow(Threads::Caller));
        assert_eq!(
            s.verdicts(rule, false, Threads::Caller),
            whole.verdicts(rule, false, Threads::Caller)
        );
        // a bad row in the last slice keeps its row number in the batch
        rows[n - 2].1 = "bad";
        let (_, r) = map_batches(
            &p,
            Tz::UTC,
            &RowOptions::default(),
            [Ok(events(&rows))].into_iter(),
            (Threads::Pool(&pool), &unchecked),
        )
        .unwrap();
        let rejected: Vec<u64> = r.rejects.clone().rows().iter().map(|x| x.row).collect();
        assert_eq!(rejected, vec![n as u64 - 1]);
        // Every slice is checked, by the worker that takes it; a check that fails is the
        // error, and no row of its slice counts.
        let seen = std::sync::Mutex::new(Vec::new());
        let noted = |b: &RecordBatch| {
            seen.lock().unwrap().push(b.num_rows());
            Ok(())
        };
        let (_, r) = map_batches(
            &p,
            Tz::UTC,
            &RowOptions::default(),
            [Ok(events(&rows))].into_iter(),
            (Threads::Pool(&pool), &noted),
        )
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, vec![n - 2 * SLICE_ROWS, SLICE_ROWS, SLICE_ROWS]);
        assert_eq!(r.rows, n as u64);
        let refused = |b: &RecordBatch| match b.num_rows() < SLICE_ROWS {
            true => Err(Error::invalid("the last slice", "refused")),
            false => Ok(()),
        };
        let err = map_batches(
            &p,
            Tz::UTC,
            &RowOptions::default(),
            [Ok(events(&rows))].into_iter(),
            (Threads::Pool(&pool), &refused),
        )
        .unwrap_err();
        assert!(err.to_string().contains("the last slice"), "{err}");
    }

    #[test]
    fn a_state_of_another_window_or_with_bad_rows_is_refused() {
        let p = params("2026-01-03");
        let mut m = Mapper::new(&p, Tz::UTC, RowOptions::default());
        m.push(&events(&[("2026-01-03", A, NG)])).unwrap();
        let (mut s, _) = m.finish();
        let batch = s.to_arrow(Threads::Caller);
        let other = Window::new(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 4).unwrap(), 3);
        let err = State::from_arrow(&batch, &other).unwrap_err().to_string();
        assert!(err.contains("2026-01-01..=2026-01-03 UTC"), "{err}");

        let bad = RecordBatch::try_new(
            state_schema(None),
            vec![
                Arc::new(Int64Array::from(vec![886912345678])),
                Arc::new(Date32Array::from(vec![day_number(
                    NaiveDate::from_ymd_opt(2026, 1, 3).unwrap(),
                )])),
                Arc::new(Int64Array::from(vec![5])),
                Arc::new(Int64Array::from(vec![4])),
            ],
        )
        .unwrap();
        let err = State::from_arrow(&bad, s.window()).unwrap_err().to_string();
        assert!(err.contains("row 1: hot must not exceed total"), "{err}");
        // Subscribers of 1 to 4 digits, 0, negative or of 16 digits are no subscriber; 5 and
        // 15 digits are.
        let state_of = |sub: i64| {
            let batch = RecordBatch::try_new(
                state_schema(None),
                vec![
                    Arc::new(Int64Array::from(vec![sub])),
                    Arc::new(Date32Array::from(vec![day_number(
                        NaiveDate::from_ymd_opt(2026, 1, 3).unwrap(),
                    )])),
                    Arc::new(Int64Array::from(vec![1])),
                    Arc::new(Int64Array::from(vec![2])),
                ],
            )
            .unwrap();
            State::from_arrow(&batch, s.window()).map(|_| ())
        };
        for sub in [5, 1234, 9999, 0, -886912345678, 1_000_000_000_000_000] {
            let err = state_of(sub).unwrap_err().to_string();
            assert!(err.contains("row 1: subscriber is not"), "{sub}: {err}");
        }
        for sub in [10000, 999_999_999_999_999] {
            state_of(sub).unwrap();
        }
    }

    /// Values past what their column's type holds get the reason the same integer's text
    /// gets in CSV (DuckDB's UBIGINT and DOUBLE columns): a whole float instant that no
    /// rounding brings into range is `time_out_of_range`, not `bad_event_time`; a `duration_s`
    /// past i64 (an unsigned 2^64 - 1, a float 1e19) is `bad_duration`, not an absent one.
    /// A 16-byte binary column (DuckDB's lossless HUGEINT) is an error naming its type.
    #[test]
    fn values_past_their_types_range_get_the_reason_their_text_gets() {
        use arrow::array::{FixedSizeBinaryArray, Float32Array, Float64Array, UInt64Array};
        let noon = 1_767_441_600_000_i64; // 2026-01-03T12:00:00Z
        let text =
            |v: &str, n: usize| Arc::new(StringArray::from_iter_values(vec![v; n])) as ArrayRef;
        let reasons = |batch: &RecordBatch| {
            let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, RowOptions::default());
            m.push(batch).unwrap();
            let (_, mut r) = m.finish();
            let got: Vec<(u64, &str)> = (r.rejects.rows().iter())
                .map(|x| (x.row, x.reason.key()))
                .collect();
            (r.events, got)
        };
        let times: Vec<Option<f64>> = vec![
            Some(9_007_199_254_740_992.0), // 2^53
            Some(1e19),
            Some(-3e7),
            Some(noon as f64),
            Some(noon as f64),
            Some(noon as f64),
        ];
        let batch = RecordBatch::try_from_iter(vec![
            (
                "event_time",
                Arc::new(Float64Array::from(times)) as ArrayRef,
            ),
            ("subscriber", text(A, 6)),
            ("counterparty", text(NG, 6)),
            ("direction", text("in", 6)),
            ("kind", text("call", 6)),
            (
                "duration_s",
                Arc::new(UInt64Array::from(vec![
                    Some(1),
                    Some(1),
                    Some(1),
                    Some(u64::MAX),
                    Some(1 << 63),
                    Some((1 << 63) - 1),
                ])) as ArrayRef,
            ),
        ])
        .unwrap();
        let out = "time_out_of_range";
        assert_eq!(
            reasons(&batch),
            (
                1,
                vec![
                    (1, out),
                    (2, out),
                    (3, out),
                    (4, "bad_duration"),
                    (5, "bad_duration")
                ]
            )
        );
        // float32: a whole value beyond its exact integers may be a rounded instant
        // (`bad_event_time`) unless no rounding brings it into range; float durations past
        // i64 are no duration either.
        let batch = RecordBatch::try_from_iter(vec![
            (
                "event_time",
                Arc::new(Float32Array::from(vec![
                    -3e7,
                    1e13,
                    noon as f32,
                    60_000.0,
                    60_000.0,
                ])) as ArrayRef,
            ),
            ("subscriber", text(A, 5)),
            ("counterparty", text(NG, 5)),
            ("direction", text("in", 5)),
            ("kind", text("call", 5)),
            (
                "duration_s",
                Arc::new(Float64Array::from(vec![1.0, 1.0, 1.0, 1e19, 9.2e18])) as ArrayRef,
            ),
        ])
        .unwrap();
        // 60,000 ms (1970) is exact in a float32: row 5 is an event, its 9.2e18 within i64.
        assert_eq!(
            reasons(&batch),
            (
                1,
                vec![
                    (1, out),
                    (2, out),
                    (3, "bad_event_time"),
                    (4, "bad_duration")
                ]
            )
        );
        let lossless = FixedSizeBinaryArray::try_from_iter(vec![[0u8; 16]; 2].into_iter()).unwrap();
        let batch = RecordBatch::try_from_iter(vec![
            (
                "event_time",
                Arc::new(TimestampMillisecondArray::from(vec![noon; 2])) as ArrayRef,
            ),
            ("subscriber", Arc::new(lossless) as ArrayRef),
            ("counterparty", text(NG, 2)),
            ("direction", text("in", 2)),
            ("kind", text("call", 2)),
        ])
        .unwrap();
        let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, RowOptions::default());
        let err = m.push(&batch).unwrap_err().to_string();
        assert!(
            err.contains("column subscriber has type FixedSizeBinary(16)")
                && err.contains("cast the column to VARCHAR"),
            "{err}"
        );
    }

    /// A date, time, timestamp, duration or boolean read for a field of text or numbers is
    /// an error naming the column and its type (a date's text `2026-01-01` read as the
    /// national number 20260101 made up a hot counterparty); so is any read column of an
    /// extension type stored as integers (pandas' `Period`). Integers, a null column and
    /// a dictionary of dates (decoded, then refused) are read or refused as their values.
    #[test]
    fn temporal_and_boolean_columns_in_fields_of_text_are_refused_by_name() {
        use arrow::array::{
            BooleanArray, Date32Array, DictionaryArray, DurationSecondArray, Int64Array, NullArray,
            Time32SecondArray,
        };
        use arrow::datatypes::{Int8Type, Schema};
        let noon = 1_767_441_600_000_i64; // 2026-01-03T12:00:00Z
        let text = |v: &str| Arc::new(StringArray::from_iter_values(vec![v; 2])) as ArrayRef;
        let batch_with = |name: &str, column: ArrayRef| {
            let mut cols: Vec<(&str, ArrayRef)> = vec![
                (
                    "event_time",
                    Arc::new(TimestampMillisecondArray::from(vec![noon; 2])) as ArrayRef,
                ),
                ("subscriber", text(A)),
                ("counterparty", text(NG)),
                ("direction", text("in")),
                ("kind", text("call")),
            ];
            match cols.iter_mut().find(|(n, _)| *n == name) {
                Some(c) => c.1 = column,
                None => cols.push((name, column)),
            }
            RecordBatch::try_from_iter(cols).unwrap()
        };
        let pushed = |batch: &RecordBatch| {
            let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, RowOptions::default());
            m.push(batch).map(|()| {
                let (_, mut r) = m.finish();
                let reasons: Vec<&str> =
                    (r.rejects.rows().iter()).map(|x| x.reason.key()).collect();
                (r.events, reasons)
            })
        };
        let dates = || Arc::new(Date32Array::from(vec![20_454; 2])) as ArrayRef; // 2026-01-01
        let refused: Vec<(&str, ArrayRef, &str)> = vec![
            ("counterparty", dates(), "Date32"),
            ("subscriber", dates(), "Date32"),
            (
                "counterparty",
                Arc::new(DictionaryArray::<Int8Type>::new(
                    vec![0i8, 0].into(),
                    dates(),
                )),
                "Date32",
            ),
            (
                "direction",
                Arc::new(BooleanArray::from(vec![true; 2])),
                "Boolean",
            ),
            (
                "kind",
                Arc::new(Time32SecondArray::from(vec![1; 2])),
                "Time32",
            ),
            (
                "counterparty_region",
                Arc::new(DurationSecondArray::from(vec![1; 2])),
                "Duration",
            ),
            (
                "counterparty",
                Arc::new(TimestampMillisecondArray::from(vec![noon; 2])),
                "Timestamp",
            ),
        ];
        for (name, column, shown) in refused {
            let err = pushed(&batch_with(name, column)).unwrap_err().to_string();
            assert!(
                err.contains(&format!("column {name} has type {shown}"))
                    && err.contains("is the column mapped to the right field?"),
                "{name}: {err}"
            );
        }
        // Integers are a number column's digits (national: no default region here), a null
        // column is cells with no value (withheld counterparties).
        let numbers = Arc::new(Int64Array::from(vec![2_348_021_234_567; 2])) as ArrayRef;
        let national = "counterparty_without_plus_no_default_region";
        assert_eq!(
            pushed(&batch_with("counterparty", numbers)).unwrap(),
            (0, vec![national; 2])
        );
        let nulls = Arc::new(NullArray::new(2)) as ArrayRef;
        assert_eq!(
            pushed(&batch_with("counterparty", nulls)).unwrap(),
            (2, vec![])
        );
        // An extension stored as integers, in any read column.
        let batch = batch_with(
            "subscriber",
            Arc::new(Int64Array::from(vec![912_345_001; 2])),
        );
        let mut fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| (**f).clone())
            .collect();
        fields[1] = fields[1]
            .clone()
            .with_metadata(std::collections::HashMap::from([(
                "ARROW:extension:name".to_owned(),
                "pandas.period".to_owned(),
            )]));
        let batch = batch.with_schema(Arc::new(Schema::new(fields))).unwrap();
        let err = pushed(&batch).unwrap_err().to_string();
        assert!(
            err.contains(r#"column subscriber is of the extension type "pandas.period" (stored as Int64); expected text or numbers"#),
            "{err}"
        );
    }

    /// pandas' forms: epoch milliseconds as float64 (an integer column with a gap) and a
    /// categorical (dictionary) `duration_s` read as the same cells in CSV would be.
    #[test]
    fn float_epoch_milliseconds_and_dictionary_durations_read_as_csv_cells() {
        use arrow::array::{DictionaryArray, Float64Array};
        use arrow::datatypes::Int32Type;
        let noon = 1_767_441_600_000_i64; // 2026-01-03T12:00:00Z
        let times = Float64Array::from(vec![
            Some(noon as f64),
            Some(noon as f64 + 0.5),
            None,
            Some(noon as f64 + 1000.0),
        ]);
        let durations: DictionaryArray<Int32Type> =
            vec!["60", "60", "60", "-1"].into_iter().collect();
        let text = |v: &str| Arc::new(StringArray::from_iter_values([v; 4])) as ArrayRef;
        let batch = RecordBatch::try_from_iter(vec![
            ("event_time", Arc::new(times) as ArrayRef),
            ("subscriber", text(A)),
            ("counterparty", text(NG)),
            ("direction", text("in")),
            ("kind", text("call")),
            ("duration_s", Arc::new(durations) as ArrayRef),
        ])
        .unwrap();
        let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, RowOptions::default());
        m.push(&batch).unwrap();
        let (mut s, mut r) = m.finish();
        assert_eq!(r.events, 1);
        let reasons: Vec<(u64, &str)> = (r.rejects.rows().iter())
            .map(|x| (x.row, x.reason.key()))
            .collect();
        assert_eq!(
            reasons,
            [
                (2, "bad_event_time"),
                (3, "missing_event_time"),
                (4, "bad_duration")
            ]
        );
        assert_eq!(s.subscribers(Threads::Caller), 1);

        // A float32 of epoch milliseconds is rounded (a step of 131,072 ms today): no time.
        // A dictionary of float64 national numbers reads as the numbers, not `…678.0`.
        let times = arrow::array::Float32Array::from(vec![noon as f32; 2]);
        let national: DictionaryArray<Int32Type> = DictionaryArray::new(
            arrow::array::Int32Array::from(vec![0, 0]),
            Arc::new(Float64Array::from(vec![912_345_678.0])),
        );
        let text = |v: &str| Arc::new(StringArray::from_iter_values([v; 2])) as ArrayRef;
        let batch = RecordBatch::try_from_iter(vec![
            ("event_time", Arc::new(times) as ArrayRef),
            ("subscriber", Arc::new(national) as ArrayRef),
            ("counterparty", text(NG)),
            ("direction", text("in")),
            ("kind", text("call")),
        ])
        .unwrap();
        let opts = RowOptions {
            default_region: Region::parse("TW"),
            ..RowOptions::default()
        };
        let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, opts.clone());
        m.push(&batch).unwrap();
        let (_, r) = m.finish();
        assert_eq!(r.rejects.by_reason().get("bad_event_time"), Some(&2));
        let times = TimestampMillisecondArray::from(vec![noon; 2]);
        let names = ["subscriber", "counterparty", "direction", "kind"];
        let batch = RecordBatch::try_from_iter(
            std::iter::once(("event_time", Arc::new(times) as ArrayRef))
                .chain(names.into_iter().zip(batch.columns()[1..].iter().cloned())),
        )
        .unwrap();
        let mut m = Mapper::new(&params("2026-01-03"), Tz::UTC, opts);
        m.push(&batch).unwrap();
        let (mut s, r) = m.finish();
        assert_eq!(r.events, 2);
        let subs = s.to_arrow(Threads::Caller);
        let sub = subs
            .column_by_name("subscriber")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(sub.value(0), 886_912_345_678);
    }

    #[test]
    fn states_of_another_hotzone_or_selection_never_add_up_but_any_method_reads_them() {
        let p = params("2026-01-03");
        let map = |p: &CheckParams| {
            let mut m = Mapper::new(p, Tz::UTC, RowOptions::default());
            m.push(&events(&[("2026-01-03", A, NG), ("2026-01-03", B, TW)]))
                .unwrap();
            m.finish().0
        };
        let mut s = map(&p);
        let batch = s.to_arrow(Threads::Caller);
        assert_eq!(
            batch
                .schema()
                .metadata()
                .get(SELECTION_KEY)
                .map(String::as_str),
            Some("HOTZONE=+234 CHECK_TYPE=ALL CHECK_TARGET=ALL")
        );
        // Another hotzone, or another check type: refused, as a state and as a batch.
        let mut hot = p.clone();
        hot.hotzone = Arc::new(Hotzone::parse_list("hotzone", "+886").unwrap());
        let mut calls = p.clone();
        calls.check_type = CheckType::Call;
        for other in [&hot, &calls] {
            let mut sum = State::new(s.window().clone()).selecting(other);
            let err = sum.merge_batch(&batch).unwrap_err().to_string();
            assert!(err.contains("states of different selections"), "{err}");
            let err = map(other).merge(s.clone()).unwrap_err().to_string();
            assert!(err.contains("HOTZONE=+234"), "{err}");
        }
        // The same selection under another method and threshold: taken, and the sum is
        // twice the counts.
        let mut spike = p.clone();
        spike.method = Method::Spike;
        spike.threshold_ratio = 2.0;
        let mut sum = State::new(s.window().clone()).selecting(&spike);
        sum.merge_batch(&batch).unwrap();
        sum.merge_batch(&batch).unwrap();
        let twice = sum.to_arrow(Threads::Caller);
        let total = |b: &RecordBatch| -> i64 {
            let t = b
                .column_by_name("total")
                .unwrap()
                .as_primitive::<Int64Type>();
            t.values().iter().sum()
        };
        assert_eq!(total(&twice), 2 * total(&batch));
        // A batch that names no selection (built by hand) is taken by any state.
        let plain =
            RecordBatch::try_new(state_schema(Some(s.window())), batch.columns().to_vec()).unwrap();
        State::new(s.window().clone())
            .selecting(&hot)
            .merge_batch(&plain)
            .unwrap();
    }

    #[test]
    fn strict_names_the_row_across_batches_and_latest_finds_the_last_day() {
        let opts = RowOptions {
            strict: true,
            source: PathBuf::from("frame"),
            ..RowOptions::default()
        };
        let p = params("2026-01-03");
        let mut m = Mapper::new(&p, Tz::UTC, opts.clone());
        m.push(&events(&[("2026-01-03", A, NG), ("2026-01-03", B, NG)]))
            .unwrap();
        let err = m
            .push(&events(&[("2026-01-03", A, NG), ("2026-01-03", "12", NG)]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("frame: row 4: "), "{err}");

        let mut latest = Latest::new(RowOptions::default());
        latest
            .push(&events(&[("2026-01-03", A, NG), ("2026-02-09", "x", NG)]))
            .unwrap();
        latest.push(&events(&[("2026-01-05", B, NG)])).unwrap();
        let (day, report) = latest.finish(Tz::UTC);
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 1, 5));
        assert_eq!(
            (report.rows, report.events, report.rejects.total()),
            (3, 2, 1)
        );
    }
}
