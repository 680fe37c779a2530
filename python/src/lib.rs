//! `hotzone._native`: the Python package's extension, a thin layer over the kernel's Arrow
//! API (`hotzone_kernel::api`) and the `hotzone` crate's file scan and prepared index.
//!
//! The Python module `hotzone` (python/hotzone/__init__.py) is the public face: keyword
//! arguments, docstrings, type conversions. This layer takes plain values, validates them
//! with the same rules as the CLI (`Spec`), releases the GIL while the kernel runs, and
//! hands back pyarrow objects and plain dicts. Arrow data crosses the boundary through the
//! Arrow C interfaces (`__arrow_c_stream__`, `__arrow_c_array__`): a polars or pyarrow
//! frame's buffers are read in place, batch by batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::error::ArrowError;
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow::pyarrow::{FromPyArrow, IntoPyArrow, Table};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use chrono::NaiveDate;
use chrono_tz::Tz;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use hotzone::index::ServingIndex;
use hotzone::ingest::IngestOptions;
use hotzone::scan::{ScanRequest, scan, scan_index};
use hotzone_kernel::api::{self, RowOptions, State, latest_of_batches, map_batches, unchecked};
use hotzone_kernel::detect::Window;
use hotzone_kernel::detect::rules::{Rule, ScanRow};
use hotzone_kernel::error::Error;
use hotzone_kernel::model::check::{
    CheckParams, CheckTarget, CheckType, Limits, MAX_LOOK_BACK_DAYS, Method, RawCheck,
    parse_phone_number,
};
use hotzone_kernel::model::hotzone::Hotzone;
use hotzone_kernel::model::region::{REGION_RULE, Region};
use hotzone_kernel::model::shown::{shown, shown_number};
use hotzone_kernel::rows::IngestReport;
use hotzone_kernel::rows::columns::ColumnMap;
use hotzone_kernel::threads::Threads;

pyo3::create_exception!(
    _native,
    RowError,
    PyValueError,
    "A row that no rule accepts, under `strict=True`: the message names its source, its row \
     (1-based, across the batches or files) and the rule. A subclass of ValueError, so that \
     bad data can be told apart from a bad parameter."
);

/// The library's errors as Python exceptions: a caller's mistake (a parameter, a state of
/// another window) is `ValueError`, a rejected row under `strict` its subclass `RowError`; a
/// file that cannot be read or written is `OSError`; anything else `RuntimeError`.
fn py_err(e: Error) -> PyErr {
    let text = e.to_string();
    match e {
        Error::RejectedRow { .. } => RowError::new_err(text),
        Error::InvalidArgument { .. } | Error::OutOfRange { .. } => PyValueError::new_err(text),
        Error::Io { .. } | Error::Read { .. } | Error::Write { .. } | Error::Config { .. } => {
            PyOSError::new_err(text)
        }
        _ => PyRuntimeError::new_err(text),
    }
}

/// [`py_err`] for Arrow data handed over by the caller: a frame that cannot be read (a
/// missing column, a column of a type no rule reads) is the caller's mistake, `ValueError`.
fn py_err_data(e: Error) -> PyErr {
    match e {
        Error::Read { .. } => PyValueError::new_err(e.to_string()),
        e => py_err(e),
    }
}

fn invalid(field: &str, rule: String) -> PyErr {
    py_err(Error::invalid(field, rule))
}

/// A spelling of one of `names` in any case.
fn one_of<T: Copy>(field: &str, value: &str, names: &[(&str, T)]) -> PyResult<T> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(value.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            invalid(
                field,
                format!("must be one of {} (got {})", all.join(", "), shown(value)),
            )
        })
}

/// How rows are read, validated once (the CLI's rules and messages): the zone days are
/// counted in, and the row options (default region, column mapping, `strict`, the source's
/// name). `prepare` and `latest_day` need only this; a [`Spec`] adds the check's parameters.
struct Reading {
    tz: Option<Tz>,
    rows: RowOptions,
    /// The options given that decide how rows are read (`default_region`, `columns`), which
    /// change nothing on a prepared file.
    given: Vec<&'static str>,
}

impl Reading {
    fn new(
        tz: Option<String>,
        default_region: Option<String>,
        columns: Option<Vec<(String, String)>>,
        strict: bool,
        source: String,
    ) -> PyResult<Reading> {
        let tz = tz
            .map(|z| {
                z.parse::<Tz>().map_err(|_| {
                    invalid(
                        "tz",
                        format!(
                            "must be an IANA time zone name such as UTC or Asia/Taipei (got {})",
                            shown(&z)
                        ),
                    )
                })
            })
            .transpose()?;
        let default_region = default_region
            .map(|r| {
                Region::parse(&r).ok_or_else(|| {
                    invalid(
                        "default_region",
                        format!("must be {REGION_RULE} (got {})", shown(&r)),
                    )
                })
            })
            .transpose()?;
        let given = [
            ("default_region", default_region.is_some()),
            ("columns", columns.as_ref().is_some_and(|c| !c.is_empty())),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let pairs: Vec<String> = columns
            .unwrap_or_default()
            .into_iter()
            .map(|(export, canonical)| format!("{export}={canonical}"))
            .collect();
        let columns = ColumnMap::parse(&pairs).map_err(py_err)?;
        Ok(Reading {
            tz,
            given,
            rows: RowOptions {
                default_region,
                columns,
                strict,
                source: PathBuf::from(source),
            },
        })
    }

    fn ingest_options(&self) -> IngestOptions {
        IngestOptions {
            default_region: self.rows.default_region,
            columns: self.rows.columns.clone(),
            strict: self.rows.strict,
            csv_part_bytes: None,
            parquet_part_rows: None,
            ipc_part_bytes: None,
            // Python's summaries check every row (their rejects are the caller's to list).
            skip_outside_window: false,
            count_rejects_only: false,
        }
    }
}

/// The parameters of a scan or check, validated once (the CLI's rules and messages).
#[pyclass(frozen, module = "hotzone._native")]
struct Spec {
    raw: RawCheck,
    reading: Reading,
    explain: bool,
}

#[pymethods]
impl Spec {
    #[new]
    #[pyo3(signature = (*, hotzone, look_back_days, threshold_ratio, method, check_type,
        check_target, min_events, as_of, tz, default_region, columns, strict, explain, source))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        hotzone: &str,
        look_back_days: i64,
        threshold_ratio: f64,
        method: &str,
        check_type: &str,
        check_target: &str,
        min_events: i64,
        as_of: Option<String>,
        tz: Option<String>,
        default_region: Option<String>,
        columns: Option<Vec<(String, String)>>,
        strict: bool,
        explain: bool,
        source: String,
    ) -> PyResult<Spec> {
        let method = one_of(
            "method",
            method,
            &[("share", Method::Share), ("spike", Method::Spike)],
        )?;
        let check_type = one_of(
            "check_type",
            check_type,
            &[
                ("all", CheckType::All),
                ("call", CheckType::Call),
                ("sms", CheckType::Sms),
            ],
        )?;
        let check_target = one_of(
            "check_target",
            check_target,
            &[
                ("all", CheckTarget::All),
                ("incoming", CheckTarget::Incoming),
                ("outgoing", CheckTarget::Outgoing),
            ],
        )?;
        let hotzone = Hotzone::parse_list("hotzone", hotzone).map_err(py_err)?;
        let reading = Reading::new(tz, default_region, columns, strict, source)?;
        let raw = RawCheck {
            look_back_days: Some(look_back_days),
            method: Some(method),
            threshold_ratio: Some(threshold_ratio),
            hotzone: Some(Arc::new(hotzone)),
            check_type: Some(check_type),
            check_target: Some(check_target),
            min_events: Some(min_events),
            as_of,
        };
        let spec = Spec {
            raw,
            reading,
            explain,
        };
        // Every rule now, whatever the data: a bad parameter fails before any row is read.
        spec.params(NaiveDate::default())?;
        Ok(spec)
    }
}

impl Spec {
    /// The validated parameters, `as_of` defaulting to `default_as_of`.
    fn params(&self, default_as_of: NaiveDate) -> PyResult<CheckParams> {
        let limits = Limits {
            max_look_back_days: MAX_LOOK_BACK_DAYS,
            default_as_of,
        };
        CheckParams::new(self.raw.clone(), limits).map_err(py_err)
    }

    /// The parameters of a map and the zone its days are counted in: a state counts one
    /// window, so `as_of` is required.
    fn map_params(&self) -> PyResult<(CheckParams, Tz)> {
        if !self.has_as_of() {
            return Err(invalid(
                "as_of",
                "is required to map a state (find it first with latest_day)".into(),
            ));
        }
        let params = self.params(NaiveDate::default())?;
        Ok((params, self.reading.tz.unwrap_or(Tz::UTC)))
    }

    fn has_as_of(&self) -> bool {
        self.raw.as_of.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// The most threads a call may ask for.
const MAX_THREADS: usize = 1024;

/// Pools kept for later calls, one per thread count: a caller trying many counts used to
/// leave every pool's threads running until the process ended.
const KEPT_POOLS: usize = 4;

/// The pool for `threads` (`None`: one thread per CPU; 1: the calling thread). Pools are
/// kept by size for the next calls, [`KEPT_POOLS`] at most.
fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let n = match threads {
        Some(0) => {
            return Err(invalid(
                "threads",
                "must be at least 1 (or None: every CPU)".into(),
            ));
        }
        Some(1) => return Ok(None),
        Some(n) if n > MAX_THREADS => {
            return Err(invalid(
                "threads",
                format!("must be at most {MAX_THREADS} (got {})", shown_number(n)),
            ));
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    if n == 1 {
        return Ok(None);
    }
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(Some(Arc::clone(p)));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("hotzone-{i}"))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))?;
    let p = Arc::new(p);
    if pools.len() >= KEPT_POOLS {
        pools.clear(); // their threads end once the scans that hold them are done
    }
    pools.insert(n, Arc::clone(&p));
    Ok(Some(p))
}

fn threads_of(pool: &Option<Arc<rayon::ThreadPool>>) -> Threads<'_> {
    match pool {
        Some(p) => Threads::Pool(p),
        None => Threads::Caller,
    }
}

/// The summary of a run as a dict: what was read, rejected, and the window.
fn summary<'py>(
    py: Python<'py>,
    report: &mut IngestReport,
    window: Option<&Window>,
    rows: Option<&[ScanRow]>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("files", report.files)?;
    d.set_item("rows", report.rows)?;
    d.set_item("events", report.events)?;
    d.set_item("unknown_counterparties", report.unknown_counterparties)?;
    let unread = PyList::empty(py);
    // Paths as Python's `os.fsdecode` gives them (bytes that are not UTF-8 as surrogates),
    // so that a name is the one `os.listdir` gives and opens that file, and two names that
    // differ only in such bytes stay two.
    for p in &report.unread_files {
        unread.append(p.as_os_str())?;
    }
    d.set_item("unread_files", unread)?;
    d.set_item("rejected", report.rejects.total())?;
    let by_reason = PyDict::new(py);
    for (k, v) in report.rejects.by_reason() {
        by_reason.set_item(k, v)?;
    }
    d.set_item("rejects", by_reason)?;
    let listed = PyList::empty(py);
    for r in report.rejects.rows() {
        listed.append((r.path.as_os_str(), r.row, r.reason.key()))?;
    }
    d.set_item("reject_rows", listed)?;
    match window {
        Some(w) => {
            let t = PyDict::new(py);
            t.set_item("first", w.first())?;
            t.set_item("last", w.last())?;
            t.set_item("tz", w.tz().name())?;
            d.set_item("window", t)?;
        }
        None => d.set_item("window", py.None())?,
    }
    if let Some(rows) = rows {
        d.set_item("subscribers", rows.len())?;
        d.set_item(
            "anomalous",
            rows.iter().filter(|r| r.verdict.detected()).count(),
        )?;
    }
    Ok(d)
}

/// A record batch list as a `pyarrow.Table`.
fn table<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    let schema = batch.schema();
    Table::try_new(vec![batch], schema)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
        .into_pyarrow(py)
}

/// An Arrow stream of events from anything speaking the Arrow PyCapsule stream interface.
/// It starts with an empty batch of the stream's schema, so that the columns are checked
/// (a required one missing, one of an unusable type) even when the stream has no batch, as
/// the CLI checks a CSV file that has a header and no row.
/// Its batches are checked by the workers that read them ([`batch_check`]).
fn stream_of(events: &Bound<'_, PyAny>) -> PyResult<Stream> {
    let reader = RecordBatchStreamReader::from_pyarrow_bound(events)?;
    let lead = Some(RecordBatch::new_empty(reader.schema()));
    Ok(Stream {
        reader,
        lead,
        checked: false,
    })
}

/// An Arrow stream of states (no lead batch: a state stream's schema is checked per batch),
/// each batch checked as it is read.
fn states_of(states: &Bound<'_, PyAny>) -> PyResult<Stream> {
    RecordBatchStreamReader::from_pyarrow_bound(states).map(|reader| Stream {
        reader,
        lead: None,
        checked: true,
    })
}

/// A stream whose batches are imported with a panic caught: arrow's import asserts that a
/// batch has its schema's columns, and a producer that does not check (pyarrow's
/// `RecordBatchReader.from_batches`) would otherwise surface as a `PanicException`, which
/// `except Exception` does not catch. The import trusts the producer's buffers, so a string
/// column whose offsets point past its data (an array built with `pyarrow.Array.from_buffers`
/// and never validated) crashed the interpreter: every batch is checked ([`validated`])
/// before the engine reads it. A stream of events is checked by the kernel's workers, each
/// batch (or slice of a large one) by the worker that takes it, in parallel (`checked`:
/// false; pass [`batch_check`]); a stream of states as it is read (`checked`: true). The
/// caller gets the read error (`ValueError`) that any unreadable batch gives.
struct Stream {
    reader: RecordBatchStreamReader,
    lead: Option<RecordBatch>,
    checked: bool,
}

impl Iterator for Stream {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(lead) = self.lead.take() {
            return Some(Ok(lead));
        }
        let reader = &mut self.reader;
        let next = hotzone::ingest::caught(|| reader.next()).unwrap_or_else(|_| {
            Some(Err(ArrowError::CDataInterface(
                "a batch of the stream does not match the stream's schema".into(),
            )))
        });
        match self.checked {
            true => Some(next?.and_then(|b| validated(&b).map(|()| b))),
            false => next,
        }
    }
}

/// `Ok` when every column of `batch` is valid Arrow ([`sound`]); else an error naming the
/// first column that is not.
fn validated(batch: &RecordBatch) -> Result<(), ArrowError> {
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        sound(column.as_ref()).map_err(|e| {
            ArrowError::InvalidArgumentError(format!(
                "column {}: not valid Arrow data ({e})",
                field.name()
            ))
        })?;
    }
    Ok(())
}

/// [`validated`] as the kernel's workers run it on the batches of an events [`Stream`], the
/// error naming `source`.
fn batch_check(source: &Path) -> impl Fn(&RecordBatch) -> Result<(), Error> + Sync + '_ {
    move |b| validated(b).map_err(read_error(source))
}

/// Whether the engine can read `a` without reading outside its buffers: the buffers are as
/// long as the length says, a string or binary column's offsets rise and end inside its
/// data, a view points inside its buffer, a dictionary's keys name its values and its values
/// are sound; nested and
/// run-end-encoded columns are validated in full. The bytes of text are not checked for
/// UTF-8 (a cell that is not breaks its column's rule, as in a CSV file): Arrow's full
/// validation, which does, took 2.5 s more on a scan of 2.2 s (50M rows of string views).
fn sound(a: &dyn arrow::array::Array) -> Result<(), ArrowError> {
    use arrow::array::AsArray;
    use arrow::datatypes::DataType;
    a.to_data().validate()?;
    let fits = |ok: bool| {
        ok.then_some(())
            .ok_or_else(|| ArrowError::InvalidArgumentError("offsets outside the data".into()))
    };
    fn rising<O: arrow::array::OffsetSizeTrait>(o: &[O], len: usize) -> bool {
        o.first()
            .is_some_and(|f| *f >= O::zero() && f.as_usize() <= len)
            && o.windows(2).all(|w| w[0] <= w[1])
            && o.last().is_some_and(|l| l.as_usize() <= len)
    }
    fn within(views: &[u128], buffers: &[arrow::buffer::Buffer]) -> bool {
        views.iter().all(|&v| {
            let len = v as u32 as usize;
            let (buffer, at) = ((v >> 64) as u32 as usize, (v >> 96) as u32 as usize);
            len <= 12 || buffers.get(buffer).is_some_and(|b| at + len <= b.len())
        })
    }
    match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            fits(rising(s.value_offsets(), s.values().len()))
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            fits(rising(s.value_offsets(), s.values().len()))
        }
        DataType::Binary => {
            let b = a.as_binary::<i32>();
            fits(rising(b.value_offsets(), b.values().len()))
        }
        DataType::LargeBinary => {
            let b = a.as_binary::<i64>();
            fits(rising(b.value_offsets(), b.values().len()))
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            fits(within(s.views(), s.data_buffers()))
        }
        DataType::BinaryView => {
            let b = a.as_binary_view();
            fits(within(b.views(), b.data_buffers()))
        }
        // Every key names one of the values (a key past them was read as no value at all).
        DataType::Dictionary(_, _) => {
            a.to_data().validate_values()?;
            sound(a.as_any_dictionary().values().as_ref())
        }
        t if t.is_nested() || matches!(t, DataType::RunEndEncoded(_, _)) => {
            a.to_data().validate_full()
        }
        _ => Ok(()),
    }
}

fn read_error(source: &Path) -> impl Fn(ArrowError) -> Error + '_ {
    move |e| Error::read(source, e)
}

/// What a scan of a stream produced.
struct Scanned {
    rows: Vec<ScanRow>,
    window: Option<Window>,
    report: IngestReport,
}

/// Scans an Arrow stream: the kernel's map on the pool, then the verdicts.
#[pyfunction]
#[pyo3(signature = (spec, events, threads))]
fn scan_stream<'py>(
    py: Python<'py>,
    spec: &Spec,
    events: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let reader = stream_of(events)?;
    let pool = pool(threads)?;
    let tz = spec.reading.tz.unwrap_or(Tz::UTC);
    let source = spec.reading.rows.source.clone();
    let mut out = py.detach(|| -> PyResult<Scanned> {
        let t = threads_of(&pool);
        let check = batch_check(&source);
        let (params, mapped) = if spec.has_as_of() {
            let params = spec.params(NaiveDate::default())?;
            let batches = reader.map(|b| b.map_err(read_error(&source)));
            let mapped = map_batches(&params, tz, &spec.reading.rows, batches, (t, &check))
                .map_err(py_err_data)?;
            (params, mapped)
        } else {
            // The window ends on the latest day of the data: the stream is held (zero-copy
            // for in-memory frames) and read twice.
            let held: Vec<RecordBatch> = reader
                .collect::<Result<_, _>>()
                .map_err(|e| py_err_data(read_error(&source)(e)))?;
            let all = || held.iter().cloned().map(Ok);
            // Checked in this first pass; the second reads the same batches.
            let (latest, report) = latest_of_batches(&spec.reading.rows, tz, all(), (t, &check))
                .map_err(py_err_data)?;
            let Some(day) = latest else {
                spec.params(NaiveDate::default())?;
                return Ok(Scanned {
                    rows: Vec::new(),
                    window: None,
                    report,
                });
            };
            let params = spec.params(day)?;
            let mapped = map_batches(&params, tz, &spec.reading.rows, all(), (t, &unchecked))
                .map_err(py_err_data)?;
            (params, mapped)
        };
        let (mut state, report) = mapped;
        let rows = state.rows(Rule::of(&params), spec.explain, t);
        Ok(Scanned {
            rows,
            window: Some(state.window().clone()),
            report,
        })
    })?;
    finish(py, spec, &mut out)
}

fn finish<'py>(
    py: Python<'py>,
    spec: &Spec,
    out: &mut Scanned,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let batch = api::verdict_batch(&out.rows, out.window.as_ref(), spec.explain);
    let s = summary(py, &mut out.report, out.window.as_ref(), Some(&out.rows))?;
    // The CLI's warning for a latest day in 1970 (epoch seconds read as milliseconds).
    let latest = out.window.as_ref().filter(|_| !spec.has_as_of());
    if let Some(w) = hotzone::scan::epoch_warning(latest.map(|w| w.last())) {
        s.set_item("epoch_warning", w)?;
    }
    Ok((table(py, batch)?, s))
}

/// Scans files as the CLI does (Parquet, CSV, Arrow IPC; files, directories, globs; a single
/// prepared `.hzi`).
#[pyfunction]
#[pyo3(signature = (spec, paths, threads))]
fn scan_paths<'py>(
    py: Python<'py>,
    spec: &Spec,
    paths: Vec<String>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let pool = pool(threads)?;
    let prepared = hotzone::scan::prepared_warning(&paths, &spec.reading.given, "options");
    let (mut out, warning) = py.detach(|| -> PyResult<(Scanned, Option<String>)> {
        let (tz, source) = hotzone::scan::resolve_zone(&paths, spec.reading.tz).map_err(py_err)?;
        let req = ScanRequest {
            raw: spec.raw.clone(),
            tz,
            ingest: spec.reading.ingest_options(),
            explain: spec.explain,
        };
        let o = threads_of(&pool)
            .run(|| scan(&paths, &req, &|_, _| {}))
            .map_err(py_err)?;
        let scanned = Scanned {
            rows: o.rows,
            window: o.window,
            report: o.report,
        };
        Ok((scanned, zone_warning(&tz, &source)))
    })?;
    let (table, s) = finish(py, spec, &mut out)?;
    if let Some(w) = warning {
        s.set_item("zone_warning", w)?;
    }
    if let Some(w) = prepared {
        s.set_item("prepared_warning", w)?;
    }
    Ok((table, s))
}

/// The CLI's warning when the zone given differs from one the data records (the days are
/// read in the given zone), for the summary's `zone_warning`, which `hotzone.scan` and
/// `hotzone.prepare` raise as a `UserWarning`.
fn zone_warning(tz: &Tz, source: &hotzone::scan::ZoneSource) -> Option<String> {
    match source {
        hotzone::scan::ZoneSource::GivenDiffers { file, recorded } => Some(format!(
            "{} records its days in {recorded}; reading in {tz} as tz= says",
            file.display()
        )),
        _ => None,
    }
}

/// Reads files and writes a prepared index (`hotzone prepare`); returns the summary.
#[pyfunction]
#[pyo3(signature = (paths, output, *, tz, default_region, columns, strict, threads))]
#[allow(clippy::too_many_arguments)]
fn prepare<'py>(
    py: Python<'py>,
    paths: Vec<String>,
    output: PathBuf,
    tz: Option<String>,
    default_region: Option<String>,
    columns: Option<Vec<(String, String)>>,
    strict: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let reading = Reading::new(tz, default_region, columns, strict, String::new())?;
    let pool = pool(threads)?;
    // The summary's warnings: (key, text).
    let (mut report, warnings) =
        py.detach(|| -> PyResult<(IngestReport, Vec<(&str, String)>)> {
            hotzone::staged::refuse_overwriting(&paths, &[("output", output.as_path())])
                .map_err(py_err)?;
            let (tz, source) = hotzone::scan::resolve_zone(&paths, reading.tz).map_err(py_err)?;
            let opts = reading.ingest_options();
            let (report, latest) = threads_of(&pool)
                .run(|| {
                    let (index, report) = ServingIndex::load(&paths, &opts, tz)?;
                    index.write(&output)?;
                    Ok((report, index.latest_day()))
                })
                .map_err(py_err)?;
            let warnings = [
                ("zone_warning", zone_warning(&tz, &source)),
                ("epoch_warning", hotzone::scan::epoch_warning(latest)),
            ];
            let warnings = warnings.into_iter().filter_map(|(k, w)| Some((k, w?)));
            Ok((report, warnings.collect()))
        })?;
    let s = summary(py, &mut report, None, None)?;
    for (key, text) in warnings {
        s.set_item(key, text)?;
    }
    Ok(s)
}

/// A prepared index (`.hzi`) loaded once for repeated scans and checks.
#[pyclass(frozen, module = "hotzone._native")]
struct Index {
    index: Arc<ServingIndex>,
    path: PathBuf,
}

#[pymethods]
impl Index {
    #[new]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Index> {
        let index = py.detach(|| ServingIndex::read(&path)).map_err(py_err)?;
        Ok(Index {
            index: Arc::new(index),
            path,
        })
    }

    /// The zone its days are in.
    #[getter]
    fn tz(&self) -> &'static str {
        self.index.tz().name()
    }

    /// The latest day with an event (`None` for an empty index).
    #[getter]
    fn latest_day(&self) -> Option<NaiveDate> {
        self.index.latest_day()
    }

    /// Subscribers and events it holds.
    #[getter]
    fn stats(&self) -> (u64, u64) {
        let s = self.index.stats();
        (s.subscribers, s.events)
    }

    /// The scan of the whole index.
    #[pyo3(signature = (spec, threads))]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        spec: &Spec,
        threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let pool = pool(threads)?;
        let mut out = py.detach(|| -> PyResult<Scanned> {
            let req = ScanRequest {
                raw: spec.raw.clone(),
                tz: spec.reading.tz.unwrap_or(self.index.tz()),
                ingest: spec.reading.ingest_options(),
                explain: spec.explain,
            };
            let o = threads_of(&pool)
                .run(|| scan_index(&self.index, &self.path, &req))
                .map_err(py_err)?;
            Ok(Scanned {
                rows: o.rows,
                window: o.window,
                report: o.report,
            })
        })?;
        finish(py, spec, &mut out)
    }

    /// One number's verdict: `(anomaly_detected, anomaly_date)`. Without `as_of` the window
    /// ends on the index's latest day (as its scan's does).
    fn check(
        &self,
        py: Python<'_>,
        spec: &Spec,
        phone_number: &str,
    ) -> PyResult<(bool, Option<NaiveDate>)> {
        if let Some(tz) = spec.reading.tz
            && !self.index.reads_in(tz)
        {
            return Err(invalid(
                "tz",
                format!(
                    "must be {} for this index, or a zone whose days start at the same instants on the days it holds: its days are in the zone it was prepared in (got {tz})",
                    self.index.tz()
                ),
            ));
        }
        let sub = parse_phone_number(phone_number).map_err(py_err)?;
        let params = spec.params(self.index.latest_day().unwrap_or_default())?;
        let snapshot = hotzone::index::Snapshot::new(vec![Arc::clone(&self.index)]);
        match py.detach(|| snapshot.check(sub, &params)) {
            Ok(v) => Ok((v.anomaly_detected, v.anomaly_date)),
            Err(Error::NotFound) => Ok((false, None)),
            Err(e) => Err(py_err(e)),
        }
    }
}

/// The map of a scan over a stream (for distributed engines): the state as a
/// `pyarrow.RecordBatch`, and the summary. `as_of` is required.
#[pyfunction]
#[pyo3(signature = (spec, events, threads))]
fn map_state<'py>(
    py: Python<'py>,
    spec: &Spec,
    events: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let (params, tz) = spec.map_params()?;
    let reader = stream_of(events)?;
    let pool = pool(threads)?;
    let source = spec.reading.rows.source.clone();
    let (batch, mut report) = py.detach(|| -> PyResult<(RecordBatch, IngestReport)> {
        let t = threads_of(&pool);
        let batches = reader.map(|b| b.map_err(read_error(&source)));
        let check = batch_check(&source);
        let (mut state, report) =
            map_batches(&params, tz, &spec.reading.rows, batches, (t, &check))
                .map_err(py_err_data)?;
        Ok((state.to_arrow(t), report))
    })?;
    let window = Window::new(tz, params.as_of, params.look_back_days);
    let s = summary(py, &mut report, Some(&window), None)?;
    Ok((batch.into_pyarrow(py)?, s))
}

/// The verdicts of the sum of states (a stream of state batches, any order and grouping).
#[pyfunction]
#[pyo3(signature = (spec, states, threads))]
fn verdicts_of_states<'py>(
    py: Python<'py>,
    spec: &Spec,
    states: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    if !spec.has_as_of() {
        return Err(invalid("as_of", "is required to evaluate states".into()));
    }
    let reader = states_of(states)?;
    let pool = pool(threads)?;
    let tz = spec.reading.tz.unwrap_or(Tz::UTC);
    let params = spec.params(NaiveDate::default())?;
    let batch = py.detach(|| -> PyResult<RecordBatch> {
        let window = Window::new(tz, params.as_of, params.look_back_days);
        let mut state = State::new(window).selecting(&params);
        for b in reader {
            let b = b.map_err(|e| PyValueError::new_err(format!("state stream: {e}")))?;
            state.merge_batch(&b).map_err(py_err)?;
        }
        Ok(state.verdicts(Rule::of(&params), spec.explain, threads_of(&pool)))
    })?;
    table(py, batch)
}

/// The latest accepted day of a stream in the spec's zone (`None` when no row is
/// accepted), and the summary of that pass.
#[pyfunction]
#[pyo3(signature = (events, *, tz, default_region, columns, strict, source, threads))]
#[allow(clippy::too_many_arguments)]
fn latest_day<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
    tz: Option<String>,
    default_region: Option<String>,
    columns: Option<Vec<(String, String)>>,
    strict: bool,
    source: String,
    threads: Option<usize>,
) -> PyResult<(Option<NaiveDate>, Bound<'py, PyDict>)> {
    let reading = Reading::new(tz, default_region, columns, strict, source)?;
    let reader = stream_of(events)?;
    let pool = pool(threads)?;
    let tz = reading.tz.unwrap_or(Tz::UTC);
    let source = reading.rows.source.clone();
    let (day, mut report) = py.detach(|| {
        let batches = reader.map(|b| b.map_err(read_error(&source)));
        let check = batch_check(&source);
        latest_of_batches(&reading.rows, tz, batches, (threads_of(&pool), &check))
            .map_err(py_err_data)
    })?;
    Ok((day, summary(py, &mut report, None, None)?))
}

/// `[(path, first row group, end row group)]` as the `hotzone` crate's row-group parts.
fn row_group_parts(parts: Vec<(String, usize, usize)>) -> Vec<hotzone::ingest::RowGroups> {
    parts
        .into_iter()
        .map(|(p, lo, hi)| (PathBuf::from(p), lo..hi))
        .collect()
}

/// What the kernel's own read of a Parquet file would take, per file: row-group sizes and
/// `(file column, canonical name, kind)`.
type Probed = (Vec<u64>, Vec<(String, &'static str, &'static str)>);

/// Checks that the kernel reads each Parquet file with `columns` (the same code a read runs)
/// and returns, per file, its row groups' compressed sizes and the `(column, canonical name,
/// kind)` a read takes (kind `partition` for a `key=value` directory's column, named by its
/// key); `OSError` names the first file it cannot read and why.
#[pyfunction]
#[pyo3(signature = (paths, *, columns))]
fn probe_parquet(
    py: Python<'_>,
    paths: Vec<String>,
    columns: Option<Vec<(String, String)>>,
) -> PyResult<Vec<Probed>> {
    let reading = Reading::new(None, None, columns, false, String::new())?;
    py.detach(|| {
        (paths.iter())
            .map(|p| {
                hotzone::ingest::columnar::probe_parquet(Path::new(p), &reading.rows.columns)
                    .map(|p| (p.row_group_bytes, p.columns))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(py_err)
    })
}

/// [`map_state`] of row groups of Parquet files read by the kernel itself (`parts`:
/// `(path, first, end)`); rejects are numbered in their file.
#[pyfunction]
#[pyo3(signature = (spec, parts, threads))]
fn map_state_row_groups<'py>(
    py: Python<'py>,
    spec: &Spec,
    parts: Vec<(String, usize, usize)>,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let (params, tz) = spec.map_params()?;
    let pool = pool(threads)?;
    let window = Window::new(tz, params.as_of, params.look_back_days);
    let parts = row_group_parts(parts);
    let (batch, mut report) = py.detach(|| -> PyResult<(RecordBatch, IngestReport)> {
        let t = threads_of(&pool);
        let opts = spec.reading.ingest_options();
        let (partials, report) = t
            .run(|| hotzone::scan::map_row_groups(&parts, &params, &window, &opts))
            .map_err(py_err)?;
        let mut state = State::of_parts(window.clone(), partials).selecting(&params);
        Ok((state.to_arrow(t), report))
    })?;
    let s = summary(py, &mut report, Some(&window), None)?;
    Ok((batch.into_pyarrow(py)?, s))
}

/// [`latest_day`] of row groups of Parquet files read by the kernel itself.
#[pyfunction]
#[pyo3(signature = (parts, *, tz, default_region, columns, strict, threads))]
#[allow(clippy::too_many_arguments)]
fn latest_day_row_groups<'py>(
    py: Python<'py>,
    parts: Vec<(String, usize, usize)>,
    tz: Option<String>,
    default_region: Option<String>,
    columns: Option<Vec<(String, String)>>,
    strict: bool,
    threads: Option<usize>,
) -> PyResult<(Option<NaiveDate>, Bound<'py, PyDict>)> {
    let reading = Reading::new(tz, default_region, columns, strict, String::new())?;
    let pool = pool(threads)?;
    let tz = reading.tz.unwrap_or(Tz::UTC);
    let parts = row_group_parts(parts);
    let (day, mut report) = py.detach(|| {
        let opts = reading.ingest_options();
        threads_of(&pool)
            .run(|| hotzone::scan::latest_day_of_row_groups(&parts, tz, &opts))
            .map_err(py_err)
    })?;
    Ok((day, summary(py, &mut report, None, None)?))
}

/// The names of a hotzones file's hotzones, in name order: the file read and checked
/// (`OSError` when it cannot be read or parsed), for a `hotzones_file=` given beside a
/// hotzone that names none of them.
#[pyfunction]
fn hotzone_names(path: std::path::PathBuf) -> PyResult<Vec<String>> {
    let named = hotzone::named::NamedHotzones::load(&path).map_err(py_err)?;
    Ok(named.names().map(str::to_string).collect())
}

/// The entries (`NG,+882`) of the hotzone `name` of a hotzones file (TOML lines
/// `name = ["NG", "+882"]`, as the CLI's `--hotzones-file` reads): `OSError` when the file
/// cannot be read or parsed, `ValueError` naming the file's names when it has no `name`.
#[pyfunction]
fn named_hotzone(path: std::path::PathBuf, name: &str) -> PyResult<String> {
    let named = hotzone::named::NamedHotzones::load(&path).map_err(py_err)?;
    match named.get(name) {
        Some(h) => Ok(h.to_string()),
        None => Err(invalid(
            "hotzone",
            format!(
                "{} is not a hotzone of {} (it names: {})",
                shown(name),
                path.display(),
                named.names().collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The Arrow schema of a state batch (`subscriber`, `day`, `hot`, `total`).
#[pyfunction]
fn state_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    use arrow::pyarrow::ToPyArrow;
    api::state_schema(None).as_ref().to_pyarrow(py)
}

/// The zones Parquet files record (`hotzone.tz`, as `hotzone gen` writes it), as `(file,
/// zone)`: none, the first file of the one zone they record, or two files that disagree.
#[pyfunction]
fn recorded_zones(py: Python<'_>, paths: Vec<String>) -> PyResult<Vec<(String, String)>> {
    use hotzone::ingest::RecordedZone;
    let found = py
        .detach(|| hotzone::ingest::recorded_zone(&paths))
        .map_err(py_err)?;
    let shown = |p: PathBuf| p.display().to_string();
    Ok(match found {
        RecordedZone::None => Vec::new(),
        RecordedZone::One { zone, file } => vec![(shown(file), zone)],
        RecordedZone::Conflict { first, second } => {
            vec![(shown(first.0), first.1), (shown(second.0), second.1)]
        }
    })
}

/// `value` as every error message names a caller's value when it would not show it whole
/// (`model::shown`: it may be a phone number, or it is long), else `None`: for the messages
/// the Python side words itself (`hotzone._shown`).
#[pyfunction]
fn shown_value(value: &str) -> Option<String> {
    let named = shown(value).to_string();
    (named != format!("{value:?}")).then_some(named)
}

/// The CLI's warning for a data's latest day in 1970 (epoch seconds read as milliseconds),
/// or `None`: for the Spark adapter, which finds that day in its own job.
#[pyfunction]
fn epoch_warning(latest: NaiveDate) -> Option<String> {
    hotzone::scan::epoch_warning(Some(latest))
}

/// The Arrow schema of the verdict table (the scan's columns).
#[pyfunction]
#[pyo3(signature = (explain=false))]
fn verdict_schema(py: Python<'_>, explain: bool) -> PyResult<Bound<'_, PyAny>> {
    use arrow::pyarrow::ToPyArrow;
    api::verdict_schema(explain).as_ref().to_pyarrow(py)
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // A reader's panic on damaged data is caught and raised as the input's error: not
    // printed to stderr as a crash as well (the CLI's hook does the same).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !hotzone::ingest::in_reader() {
                default_hook(info);
            }
        }));
    });
    m.add_class::<Spec>()?;
    m.add_class::<Index>()?;
    m.add("RowError", m.py().get_type::<RowError>())?;
    m.add_function(wrap_pyfunction!(scan_stream, m)?)?;
    m.add_function(wrap_pyfunction!(scan_paths, m)?)?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(map_state, m)?)?;
    m.add_function(wrap_pyfunction!(verdicts_of_states, m)?)?;
    m.add_function(wrap_pyfunction!(latest_day, m)?)?;
    m.add_function(wrap_pyfunction!(probe_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(map_state_row_groups, m)?)?;
    m.add_function(wrap_pyfunction!(latest_day_row_groups, m)?)?;
    m.add_function(wrap_pyfunction!(state_schema, m)?)?;
    m.add_function(wrap_pyfunction!(named_hotzone, m)?)?;
    m.add_function(wrap_pyfunction!(hotzone_names, m)?)?;
    m.add_function(wrap_pyfunction!(verdict_schema, m)?)?;
    m.add_function(wrap_pyfunction!(epoch_warning, m)?)?;
    m.add_function(wrap_pyfunction!(shown_value, m)?)?;
    m.add_function(wrap_pyfunction!(recorded_zones, m)?)?;
    Ok(())
}
