//! Arrow record batches -> [`RawRow`]s, with the per-column work hoisted out of the row loop.
//!
//! Each column's type, buffers and validity are looked up once per batch; the row loop then
//! reads plain slices and calls the (generic, so inlined) visitor. Dictionary-encoded
//! subscriber, direction and kind columns are interpreted once per distinct value
//! ([`DictCache`], the same `interpret` rules) and rows carry the result in [`Pre`].
//! Strings may be plain, view (`Utf8View`) or dictionary arrays; other string encodings are
//! cast to plain.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringViewArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::model::Msisdn;
use crate::model::check::{Flavor, flavor};
use crate::rows::RowSink;
use crate::rows::columns::{ColumnMap, Field, resolve_required};
use crate::rows::interpret::{
    DurationCell, Interpreter, Pre, RawRow, TimeCell, check_time, direction_cell, kind_cell,
    parse_direction, parse_kind, pre_subscriber,
};
use crate::rows::rejects::RejectReason;
use crate::rows::spans::Spans;

/// `(div, mul)` taking ticks of `unit` to milliseconds ([`ticks_to_ms`]).
fn unit_scale(unit: TimeUnit) -> (i64, i64) {
    match unit {
        TimeUnit::Second => (1, 1000),
        TimeUnit::Millisecond => (1, 1),
        TimeUnit::Microsecond => (1000, 1),
        TimeUnit::Nanosecond => (1_000_000, 1),
    }
}

/// The instant (UTC epoch milliseconds) that an `event_time` value `ticks` of a 64-bit
/// column of Arrow type `t` stands for, as the row loop reads it: `None` for any other type.
/// Monotonic, so a column's minimum and maximum give the span of its instants.
pub fn instant_of_ticks(t: &DataType, ticks: i64) -> Option<i64> {
    let (div, mul) = match t {
        DataType::Timestamp(unit, _) => unit_scale(*unit),
        DataType::Int64 => (1, 1),
        _ => return None,
    };
    Some(ticks_to_ms(ticks, div, mul))
}

/// Epoch milliseconds of `t` ticks: `t.div_euclid(div) * mul`.
#[inline(always)]
fn ticks_to_ms(t: i64, div: i64, mul: i64) -> i64 {
    let ticks = if div == 1 { t } else { t.div_euclid(div) };
    // Saturating: a seconds column holding i64::MAX must become an out-of-range instant
    // (a counted reject), not an overflow.
    ticks.saturating_mul(mul)
}

/// True when row `i` is null according to `n`.
#[inline(always)]
fn null_at(n: &Option<NullBuffer>, i: usize) -> bool {
    n.as_ref().is_some_and(|n| n.is_null(i))
}

/// `event_time`: instants (`value.div_euclid(div) * mul` ms) or text.
enum TimeCol {
    Ticks(ScalarBuffer<i64>, Option<NullBuffer>, i64, i64),
    Text(StringArray, Option<NullBuffer>),
}

impl TimeCol {
    #[inline(always)]
    fn cell(&self, i: usize) -> Option<TimeCell<'_>> {
        match self {
            TimeCol::Ticks(v, n, div, mul) => {
                (!null_at(n, i)).then(|| TimeCell::Millis(ticks_to_ms(v[i], *div, *mul)))
            }
            TimeCol::Text(a, n) => (!null_at(n, i)).then(|| TimeCell::Text(a.value(i))),
        }
    }
}

/// A string column: plain, view, or dictionary (keys, values, the values array for identity).
enum StrCol {
    Plain(StringArray, Option<NullBuffer>),
    View(StringViewArray, Option<NullBuffer>),
    Dict(ScalarBuffer<i32>, Option<NullBuffer>, StringArray, ArrayRef),
    /// Read straight from plain-encoded pages ([`Spans`]).
    Spans(Arc<Spans>),
}

impl StrCol {
    #[inline(always)]
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Plain(a, n) => (!null_at(n, i)).then(|| a.value(i)),
            StrCol::View(a, n) => (!null_at(n, i)).then(|| a.value(i)),
            StrCol::Dict(keys, n, values, _) => {
                if null_at(n, i) {
                    return None;
                }
                let k = usize::try_from(keys[i]).ok()?;
                (k < values.len() && values.is_valid(k)).then(|| values.value(k))
            }
            StrCol::Spans(s) => s.get(i),
        }
    }
}

impl StrCol {
    /// The bytes of row `i`'s string; a view is read in place (inline when 12 bytes or
    /// fewer, else from its data buffer). `StringViewArray::value` does the same behind an
    /// assert per row: 1 % more instructions for a whole scan (callgrind, tier S).
    #[inline(always)]
    fn bytes(&self, i: usize) -> Option<&[u8]> {
        match self {
            StrCol::View(a, n) => {
                if null_at(n, i) {
                    return None;
                }
                let v = a.views()[i];
                let len = v as u32 as usize;
                if len <= 12 {
                    let at = i * 16 + 4;
                    a.views().inner().as_slice().get(at..at + len)
                } else {
                    let (buf, at) = ((v >> 64) as u32 as usize, (v >> 96) as u32 as usize);
                    a.data_buffers()[buf].as_slice().get(at..at + len)
                }
            }
            StrCol::Spans(s) => s.bytes(i),
            _ => self.get(i).map(str::as_bytes),
        }
    }
}

fn str_col(path: &Path, f: Field, a: &ArrayRef) -> Result<StrCol> {
    match a.data_type() {
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = a.as_dictionary::<Int32Type>();
            Ok(StrCol::Dict(
                d.keys().values().clone(),
                d.keys().nulls().cloned(),
                d.values().as_string::<i32>().clone(),
                Arc::clone(d.values()),
            ))
        }
        DataType::Utf8View => {
            let v = a.as_string_view().clone();
            let n = v.nulls().cloned();
            Ok(StrCol::View(v, n))
        }
        // Any other dictionary of strings is read as one of `Int32` keys and `Utf8` values (its
        // keys cast, its values once): cast to plain text, every row copied its value (one
        // 16 MiB value under every row of a 3 KB file took gigabytes). Binary values keep
        // the plain path, whose bytes that are not UTF-8 are no text rather than a null.
        DataType::Dictionary(k, v)
            if k.is_integer()
                && matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
        {
            let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            let d =
                cast(a, &t).map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))?;
            str_col(path, f, &d)
        }
        _ => {
            let s = string_col(path, f, a)?;
            let n = s.nulls().cloned();
            Ok(StrCol::Plain(s, n))
        }
    }
}

enum DurCol {
    Int(ScalarBuffer<i64>, Option<NullBuffer>),
    /// Floating point (a pandas integer column with missing values): integral values only.
    Float(ScalarBuffer<f64>, Option<NullBuffer>),
    Text(StringArray, Option<NullBuffer>),
}

impl DurCol {
    #[inline(always)]
    fn cell(&self, i: usize) -> Option<DurationCell<'_>> {
        match self {
            DurCol::Int(v, n) => (!null_at(n, i)).then(|| DurationCell::Int(v[i])),
            DurCol::Float(v, n) => (!null_at(n, i)).then(|| DurationCell::Float(v[i])),
            DurCol::Text(a, n) => (!null_at(n, i)).then(|| DurationCell::Text(a.value(i))),
        }
    }
}

fn string_col(path: &Path, f: Field, a: &ArrayRef) -> Result<StringArray> {
    // A dictionary of numbers is read as its values (a float's text would be `912345678.0`).
    if let Some(values) = decoded(path, f, a)? {
        return string_col(path, f, &values);
    }
    let a = match a.data_type() {
        DataType::Utf8 => a.clone(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            Arc::new(binary_as_text(a))
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            // Below 2^(mantissa bits + 1) every integer is exact in the column's own type;
            // above, a whole value may be a rounded one (an f32 of epoch milliseconds is off
            // by up to a minute, a phone number by some digits), so it is no number.
            let exact = match a.data_type() {
                DataType::Float16 => 2_048.0,
                DataType::Float32 => 16_777_216.0,
                _ => 9_007_199_254_740_992.0,
            };
            // An instant's whole value past that is still read where no rounding could
            // bring it into EVENT_TIME_RANGE (negative, or from 2^43 ms, year 2248): its
            // `time_out_of_range`, as the same integer's text in CSV gets.
            let out_of_range = f == Field::EventTime;
            let f = cast(a, &DataType::Float64)
                .map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))?;
            Arc::new(float_as_text(
                f.as_primitive::<Float64Type>(),
                exact,
                out_of_range,
            ))
        }
        t if is_decimal(t) => {
            let text = cast(a, &DataType::Utf8)
                .map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))?;
            Arc::new(decimal_as_text(text.as_string::<i32>()))
        }
        // Arrow casts a list to the text `[...]` (and a one-item fixed-size list to its item):
        // a cell of several values is no phone number, direction or kind.
        t if t.is_nested() => {
            return Err(Error::read(
                path,
                format!(
                    "column {} has type {t}; expected text or numbers (a list, struct or map holds no single value)",
                    f.name()
                ),
            ));
        }
        // Text in its other forms, and integers (a number column's digits; `0`/`1` in
        // `direction` are cells that break its rule, rejected row by row).
        t if is_text(t)
            || t.is_integer()
            || t.is_null()
            || matches!(t, DataType::RunEndEncoded(..)) =>
        {
            cast(a, &DataType::Utf8)
                .map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))?
        }
        // Dates, times, durations, intervals and booleans cast to text too, but their text is
        // no value of these fields: a date's digits (`2026-01-01`) would read as a national
        // number, a hot counterparty made up. Refused, as an `event_time` of a date is.
        t => {
            return Err(Error::read(
                path,
                format!(
                    "column {} has type {t}; expected text or numbers{}",
                    f.name(),
                    type_hint(t, f)
                ),
            ));
        }
    };
    Ok(a.as_string::<i32>().clone())
}

/// What to do about a column type no rule of field `f` reads, where a common tool makes it:
/// DuckDB exports HUGEINT, UHUGEINT and UUID as 16-byte binary under
/// `arrow_lossless_conversion`; a date, time or boolean is no value of a text field, no
/// instant for `event_time` and no count of seconds for `duration_s`.
fn type_hint(t: &DataType, f: Field) -> &'static str {
    match t {
        DataType::FixedSizeBinary(16) => {
            " (DuckDB writes HUGEINT, UHUGEINT and UUID so with arrow_lossless_conversion set: cast the column to VARCHAR or BIGINT in the query, or reset the setting)"
        }
        t if (t.is_temporal() || matches!(t, DataType::Boolean)) && f == Field::EventTime => {
            " (a date, a time of day, a duration, an interval or a boolean names no instant: is the column mapped to the right field? Write the time as a timestamp, or as text with its offset)"
        }
        t if (t.is_temporal() || matches!(t, DataType::Boolean)) && f == Field::DurationS => {
            " (a date, a time of day, an interval or a boolean is no count of seconds: is the column mapped to the right field?)"
        }
        t if t.is_temporal() || matches!(t, DataType::Boolean) => {
            " (a date, time, duration or boolean is none of a phone number, a direction, a kind or a region: is the column mapped to the right field?)"
        }
        _ => "",
    }
}

fn is_decimal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    )
}

/// A decimal column's values (as Arrow writes them: `912345678.00`) read as a float column
/// is: a whole value as its integer (`912345678`; Oracle `NUMBER(12,2)`, Spark and DuckDB
/// decimals), anything else as U+FFFD, a present cell that is not a number. The text alone
/// would have read `.00` as a separator and two more digits of the number.
fn decimal_as_text(a: &StringArray) -> StringArray {
    a.iter()
        .map(|v| {
            v.map(|v| match v.split_once('.') {
                None => v.to_owned(),
                Some((whole, frac)) if frac.bytes().all(|c| c == b'0') => {
                    if whole == "-0" {
                        "0".to_owned()
                    } else {
                        whole.to_owned()
                    }
                }
                Some(_) => "\u{fffd}".to_owned(),
            })
        })
        .collect()
}

/// A float column's values as text: an integral value below `exact` (where every integer of
/// the column's type is exact) as its integer (a pandas column of numbers with a gap is
/// float64: `912345678.0`, whose text would read as the digits `9123456780`, the `.` a
/// separator), anything else as U+FFFD, a present cell that is not a number (never a
/// float's digits taken for a phone number's).
fn float_as_text(a: &arrow::array::Float64Array, exact: f64, out_of_range: bool) -> StringArray {
    // 2^43 ms: past year 2248, more than any rounding of a float from before 2100.
    const NEVER_AN_INSTANT: f64 = 8_796_093_022_208.0;
    a.iter()
        .map(|v| {
            v.map(|v| {
                let beyond = out_of_range && !(0.0..NEVER_AN_INSTANT).contains(&v);
                if v.fract() == 0.0 && (v.abs() < exact || beyond) {
                    // Saturating past i64: out of range all the same.
                    (v as i64).to_string()
                } else {
                    "\u{fffd}".to_owned()
                }
            })
        })
        .collect()
}

/// A binary column's values as text, a value that is not UTF-8 as U+FFFD: a present cell
/// that is not text, as the CSV reader reads it (Arrow's cast made it a null, and so a
/// `missing_*` reason where CSV gave the rule the cell breaks).
fn binary_as_text(a: &ArrayRef) -> StringArray {
    fn text(b: Option<&[u8]>) -> Option<&str> {
        b.map(|b| std::str::from_utf8(b).unwrap_or("\u{fffd}"))
    }
    match a.data_type() {
        DataType::Binary => a.as_binary::<i32>().iter().map(text).collect(),
        DataType::LargeBinary => a.as_binary::<i64>().iter().map(text).collect(),
        _ => a.as_binary_view().iter().map(text).collect(),
    }
}

/// The values of a dictionary or run-end-encoded column whose values are not text (a pandas
/// Categorical of timestamps or integers, pyarrow's `run_end_encode` of a sorted time
/// column), decoded to their own type: the same values, the same rules.
fn decoded(path: &Path, f: Field, a: &ArrayRef) -> Result<Option<ArrayRef>> {
    let values = match a.data_type() {
        DataType::Dictionary(_, v) => (**v).clone(),
        DataType::RunEndEncoded(_, v) => v.data_type().clone(),
        _ => return Ok(None),
    };
    if matches!(
        values,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Ok(None);
    }
    cast(a, &values)
        .map(Some)
        .map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))
}

/// Text in any Arrow form [`string_col`] reads: strings, views, binary (as UTF-8), and
/// dictionaries (of strings, once [`decoded`] took the others; pandas' categorical and
/// polars' `Categorical` arrive so).
fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _)
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// A column read for a field, of an Arrow extension type stored as integers (or a dictionary
/// of them), is refused: its integers count in the extension's own unit (pandas' `Period`
/// stores hours or days since 1970), which the rules would read as epoch milliseconds (a
/// time in January 1970) or as a phone number's digits. So is one of the JSON extension
/// type (`arrow.json`): a document, whose text (a string's quotes included) is no field's
/// value. Readers call it on the file's
/// schema too, before a row group's statistics can spare them decoding the column (and so
/// this check on its batches).
pub fn extension_refused(path: &Path, read: Field, field: &arrow::datatypes::Field) -> Result<()> {
    let stored = match field.data_type() {
        DataType::Dictionary(_, v) => v.as_ref(),
        t => t,
    };
    let expected = match read {
        Field::EventTime => "a timestamp, integer epoch milliseconds or RFC 3339 text",
        _ => "text or numbers",
    };
    match field.metadata().get("ARROW:extension:name") {
        Some(name) if stored.is_integer() || name == "arrow.json" => Err(Error::read(
            path,
            format!(
                "column {} is of the extension type {} (stored as {}); expected {expected}",
                read.name(),
                crate::model::shown::shown(name),
                field.data_type()
            ),
        )),
        _ => Ok(()),
    }
}

fn time_col(path: &Path, a: &ArrayRef) -> Result<TimeCol> {
    if let Some(values) = decoded(path, Field::EventTime, a)? {
        return time_col(path, &values);
    }
    let ticks = |a: &ArrayRef, div: i64, mul: i64| -> Result<TimeCol> {
        let c = cast(a, &DataType::Int64)
            .map_err(|e| Error::read(path, format!("column event_time: {e}")))?;
        let p = c.as_primitive::<Int64Type>();
        Ok(TimeCol::Ticks(
            p.values().clone(),
            p.nulls().cloned(),
            div,
            mul,
        ))
    };
    match a.data_type() {
        DataType::Timestamp(unit, _) => {
            let (div, mul) = unit_scale(*unit);
            ticks(a, div, mul)
        }
        DataType::UInt64 => {
            // Past i64::MAX a cast would give null (a missing time): saturated instead, so
            // the row is out of range, as in every reader (§2.4).
            let p = a.as_primitive::<arrow::datatypes::UInt64Type>();
            let v: ScalarBuffer<i64> = (p.values().iter())
                .map(|&v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect();
            Ok(TimeCol::Ticks(v, p.nulls().cloned(), 1, 1))
        }
        // An all-null column (pandas' chunk of `None`s arrives as Arrow's null type): every
        // row's time is missing, as in a column of another type with every cell null.
        t if t.is_integer() || t.is_null() => ticks(a, 1, 1),
        // Floats (pandas keeps epoch milliseconds with a gap as float64) are read as the
        // text of their integral value: an integral value is epoch milliseconds, anything
        // else a `bad_event_time` row, as the same cell in a CSV file.
        t if is_text(t) || t.is_floating() || is_decimal(t) => {
            let s = string_col(path, Field::EventTime, a)?;
            let n = s.nulls().cloned();
            Ok(TimeCol::Text(s, n))
        }
        other => Err(Error::read(
            path,
            format!(
                "column event_time has type {other}; expected a timestamp, integer epoch milliseconds or RFC 3339 text{}",
                type_hint(other, Field::EventTime)
            ),
        )),
    }
}

fn dur_col(path: &Path, a: &ArrayRef) -> Result<DurCol> {
    if let Some(values) = decoded(path, Field::DurationS, a)? {
        return dur_col(path, &values);
    }
    Ok(match a.data_type() {
        // A decimal as a float column is read: a whole value is its integer.
        t if is_text(t) || is_decimal(t) => {
            let s = string_col(path, Field::DurationS, a)?;
            let n = s.nulls().cloned();
            DurCol::Text(s, n)
        }
        // An Arrow duration keeps its unit; only the sign matters to the rule (>= 0).
        // An unsigned value past i64's range is no duration the rule takes: -1, rejected as
        // its text is in CSV (Arrow's cast would make it a null, an absent duration).
        DataType::UInt64 => {
            let u = a.as_primitive::<arrow::datatypes::UInt64Type>();
            let v = u.values().iter().map(|&v| i64::try_from(v).unwrap_or(-1));
            DurCol::Int(v.collect(), u.logical_nulls())
        }
        t if t.is_integer() || t.is_null() || matches!(t, DataType::Duration(_)) => {
            let c = cast(a, &DataType::Int64)
                .map_err(|e| Error::read(path, format!("column duration_s: {e}")))?;
            let p = c.as_primitive::<Int64Type>();
            DurCol::Int(p.values().clone(), p.logical_nulls())
        }
        t if t.is_floating() => {
            let c = cast(a, &DataType::Float64)
                .map_err(|e| Error::read(path, format!("column duration_s: {e}")))?;
            let p = c.as_primitive::<Float64Type>();
            DurCol::Float(p.values().clone(), p.logical_nulls())
        }
        other => {
            return Err(Error::read(
                path,
                format!(
                    "column duration_s has type {other}; expected integers (or text, floats or decimals){}",
                    type_hint(other, Field::DurationS)
                ),
            ));
        }
    })
}

#[inline(always)]
fn get(a: &Option<StrCol>, i: usize) -> Option<&str> {
    a.as_ref().and_then(|a| a.get(i))
}

/// Per-dictionary-value interpretations, kept across the batches of a file or row group
/// (a Parquet column chunk's dictionary is shared by all its batches).
#[derive(Default)]
pub struct DictCache {
    subscriber: PerValue<Option<Result<Msisdn, RejectReason>>>,
    outgoing: PerValue<Result<bool, RejectReason>>,
    sms: PerValue<Result<bool, RejectReason>>,
    /// The subscribers of a batch's rows gathered from a large dictionary's results
    /// ([`GATHER_VALUES`]), reused from batch to batch.
    gathered: Vec<Option<Msisdn>>,
}

/// Dictionary values beyond which a batch's subscribers are gathered from their results in a
/// pass of their own before the row loop: the results of a million-subscriber dictionary
/// (16 MiB) are out of cache, and a lookup per row inside the loop waited on memory once a
/// row (about 90 % of the loop's time on a time-ordered file with one row group), where a
/// pass that only gathers has many lookups in flight at once.
const GATHER_VALUES: usize = 1 << 14;

/// A dictionary (by identity) and one result per value; and the last dictionary left
/// uninterpreted because it was larger than its batch (held, so that its identity stays its
/// own).
struct PerValue<T> {
    done: Option<(ArrayRef, Vec<T>)>,
    passed: Option<ArrayRef>,
}

impl<T> Default for PerValue<T> {
    fn default() -> Self {
        PerValue {
            done: None,
            passed: None,
        }
    }
}

/// Makes `slot` hold `f` of every value of `col`'s dictionary (kept while the dictionary is
/// the same array) and returns the keys to look them up with. `None` when `col` is not a
/// dictionary, or its dictionary is larger than the batch and new: per-row interpretation
/// is then cheaper, unless the dictionary comes again. A Parquet column chunk's dictionary
/// is shared by every batch of the chunk, so a row group of millions of rows whose
/// dictionary holds a million subscribers (one row group per file, as some writers make
/// them) has it interpreted once, at its second batch, instead of every row through the
/// general rules.
fn per_value<'c, T>(
    slot: &mut PerValue<T>,
    col: &'c Option<StrCol>,
    rows: usize,
    f: impl Fn(Option<&str>) -> T,
) -> Keys<'c> {
    let Some(StrCol::Dict(keys, nulls, values, vref)) = col else {
        return None;
    };
    let same = |r: &ArrayRef| std::ptr::addr_eq(Arc::as_ptr(r), Arc::as_ptr(vref));
    if !slot.done.as_ref().is_some_and(|(r, _)| same(r)) {
        if values.len() > rows && !slot.passed.as_ref().is_some_and(same) {
            (slot.done, slot.passed) = (None, Some(Arc::clone(vref)));
            return None;
        }
        let v = (0..values.len())
            .map(|k| f(values.is_valid(k).then(|| values.value(k))))
            .collect();
        (slot.done, slot.passed) = (Some((Arc::clone(vref), v)), None);
    }
    Some((keys, nulls))
}

/// Interprets every row of a batch; `first_row` is the 0-based file row of its first row.
/// `rows` gets each row's 1-based number and its event or reject reason.
pub fn visit_batch<R>(
    path: &Path,
    batch: &RecordBatch,
    columns: &ColumnMap,
    first_row: u64,
    cache: &mut DictCache,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    visit_batch_with(path, batch, &[], columns, first_row, cache, interp, rows)
}

/// [`visit_batch`] with more string columns beside the batch's: `spans` holds, by name, the
/// same rows of columns a reader decoded itself ([`Spans`], one per plain-encoded Parquet
/// string column). Each must have the batch's row count.
#[allow(clippy::too_many_arguments)]
pub fn visit_batch_with<R>(
    path: &Path,
    batch: &RecordBatch,
    spans: &[(&str, Arc<Spans>)],
    columns: &ColumnMap,
    first_row: u64,
    cache: &mut DictCache,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    let schema = batch.schema();
    let names: Vec<&str> = (schema.fields().iter().map(|f| f.name().as_str()))
        .chain(spans.iter().map(|(name, _)| *name))
        .collect();
    if let Some((name, s)) = spans.iter().find(|(_, s)| s.len() != batch.num_rows()) {
        return Err(Error::Internal(format!(
            "column {name}: {} rows beside a batch of {}",
            s.len(),
            batch.num_rows()
        )));
    }
    let idx = resolve_required(columns, &names, path)?;
    let width = batch.num_columns();
    for read in Field::ALL {
        if let Some(i) = idx[read as usize].filter(|&i| i < width) {
            extension_refused(path, read, schema.field(i))?;
        }
    }
    let col = |f: Field| {
        idx[f as usize]
            .filter(|&i| i < width)
            .map(|i| Arc::clone(batch.column(i)))
    };
    let time = time_col(
        path,
        &col(Field::EventTime).ok_or_else(|| Error::Internal("event_time".into()))?,
    )?;
    let strings = |f: Field| match idx[f as usize] {
        Some(i) if i >= width => Ok(Some(StrCol::Spans(Arc::clone(&spans[i - width].1)))),
        _ => col(f).map(|a| str_col(path, f, &a)).transpose(),
    };
    let subscriber = strings(Field::Subscriber)?;
    let counterparty = strings(Field::Counterparty)?;
    let direction = strings(Field::Direction)?;
    let kind = strings(Field::Kind)?;
    let region = strings(Field::CounterpartyRegion)?;
    let duration = col(Field::DurationS)
        .map(|a| dur_col(path, &a))
        .transpose()?;
    let n = batch.num_rows();
    let DictCache {
        subscriber: sub_slot,
        outgoing: dir_slot,
        sms: sms_slot,
        gathered,
    } = cache;
    let sub_keys = per_value(sub_slot, &subscriber, n, pre_subscriber);
    let dir_keys = per_value(dir_slot, &direction, n, parse_direction);
    let kind_keys = per_value(sms_slot, &kind, n, parse_kind);
    let (sub_null, dir_null, kind_null) = (
        pre_subscriber(None),
        parse_direction(None),
        parse_kind(None),
    );
    let (sub, dir, kind_of) = (
        Lookup::new(sub_slot, sub_keys),
        Lookup::new(dir_slot, dir_keys),
        Lookup::new(sms_slot, kind_keys),
    );
    gathered.clear();
    if let Some(l) = sub.filter(|l| l.values.len() > GATHER_VALUES) {
        gathered.extend((0..n).map(|i| l.at(i).flatten().and_then(Result::ok)));
    }
    let fast = Fast::of(
        &time,
        (sub, dir, kind_of),
        (subscriber.as_ref(), direction.as_ref(), kind.as_ref()),
        (!gathered.is_empty()).then_some(&gathered[..]),
        &region,
        &duration,
    );
    // Any row, through every rule.
    let general = |i: usize, interp: &mut Interpreter| {
        let pre = Pre {
            subscriber: sub.as_ref().and_then(|l| l.or_null(i, sub_null)).flatten(),
            outgoing: dir.as_ref().and_then(|l| l.or_null(i, dir_null)),
            sms: kind_of.as_ref().and_then(|l| l.or_null(i, kind_null)),
        };
        let raw = RawRow {
            time: time.cell(i),
            subscriber: if pre.subscriber.is_some() {
                None
            } else {
                get(&subscriber, i)
            },
            counterparty: get(&counterparty, i),
            direction: if pre.outgoing.is_some() {
                None
            } else {
                get(&direction, i)
            },
            kind: if pre.sms.is_some() {
                None
            } else {
                get(&kind, i)
            },
            duration: duration.as_ref().and_then(|d| d.cell(i)),
            region: get(&region, i),
            pre,
        };
        interp.interpret(&raw)
    };
    match &fast {
        Some(f) => {
            for i in 0..n {
                let result = match f.row(i) {
                    Some((ms, sub, flavor)) => {
                        let cp = counterparty.as_ref().and_then(|c| c.bytes(i));
                        interp.event(ms, sub, flavor, cp, None)
                    }
                    None => general(i, interp),
                };
                rows.row(first_row + i as u64 + 1, result)?;
            }
        }
        None => {
            for i in 0..n {
                rows.row(first_row + i as u64 + 1, general(i, interp))?;
            }
        }
    }
    Ok(())
}

/// Dictionary keys of a column and the per-value results they index.
#[derive(Clone, Copy)]
struct Lookup<'a, T> {
    keys: &'a [i32],
    nulls: &'a Option<NullBuffer>,
    values: &'a [T],
}

impl<'a, T: Copy> Lookup<'a, T> {
    fn new(slot: &'a PerValue<T>, keys: Keys<'a>) -> Option<Lookup<'a, T>> {
        let (keys, nulls) = keys?;
        Some(Lookup {
            keys,
            nulls,
            values: &slot.done.as_ref()?.1,
        })
    }

    /// The result for row `i`; `None` for a null or out-of-range key (left to `interpret`).
    #[inline(always)]
    fn at(&self, i: usize) -> Option<T> {
        if null_at(self.nulls, i) {
            return None;
        }
        self.value(i)
    }

    /// The result for row `i`, `null` for a null key; `None` for an out-of-range key.
    #[inline(always)]
    fn or_null(&self, i: usize, null: T) -> Option<T> {
        if null_at(self.nulls, i) {
            return Some(null);
        }
        self.value(i)
    }

    #[inline(always)]
    fn value(&self, i: usize) -> Option<T> {
        self.values
            .get(usize::try_from(self.keys[i]).ok()?)
            .copied()
    }
}

/// The common shape of a batch: instants, direction and kind interpreted per dictionary
/// value or (plain strings) per cell, the subscriber per dictionary value or (plain-encoded)
/// per cell, no region column, and `duration_s` absent or integers. A row of it whose
/// cells all passed their rules needs only the counterparty rule ([`Interpreter::event`]); any
/// other row (a null, a cached reject, a national subscriber, a negative duration) takes the
/// full [`Interpreter::interpret`], so both give the same outcome.
struct Fast<'a> {
    time: &'a [i64],
    time_nulls: &'a Option<NullBuffer>,
    div: i64,
    mul: i64,
    subscriber: Subscribers<'a>,
    outgoing: Flag<'a>,
    sms: Flag<'a>,
    duration: Option<(&'a [i64], &'a Option<NullBuffer>)>,
}

/// Where the fast lane finds a row's direction or kind: a dictionary column interpreted once
/// per value, or a plain/view string column (an in-memory frame: polars, pandas) whose cell
/// goes through the same rule (`parse_direction`, `parse_kind`).
enum Flag<'a> {
    Looked(Lookup<'a, Result<bool, RejectReason>>),
    Parsed(
        &'a StrCol,
        fn(&[u8]) -> Result<bool, RejectReason>,
        Memo<'a, Result<bool, RejectReason>, 2>,
    ),
}

impl Flag<'_> {
    /// Row `i`'s flag, `None` for a null (left to `interpret`).
    #[inline(always)]
    fn at(&self, i: usize) -> Option<Result<bool, RejectReason>> {
        match self {
            Flag::Looked(l) => l.at(i),
            Flag::Parsed(c, rule, memo) => Some(memo.get(c.bytes(i)?, rule)),
        }
    }

    fn of<'a>(
        looked: Option<Lookup<'a, Result<bool, RejectReason>>>,
        text: Option<&'a StrCol>,
        rule: fn(&[u8]) -> Result<bool, RejectReason>,
    ) -> Option<Flag<'a>> {
        match (looked, text) {
            (Some(l), _) => Some(Flag::Looked(l)),
            (None, Some(c @ (StrCol::Plain(..) | StrCol::View(..) | StrCol::Spans(..)))) => {
                Some(Flag::Parsed(c, rule, Memo::default()))
            }
            (None, _) => None,
        }
    }
}

/// The results of the last `N` distinct cells of a text column. Rows often repeat the cell
/// of a row just before (a subscriber's events together in a frame or a grouped export; IN
/// and OUT, CALL and SMS), and every rule it stands for is a function of the cell's bytes
/// alone, so equal bytes get the result already computed. A miss costs a comparison of a
/// few bytes (a time-ordered export has a new subscriber on nearly every row).
struct Memo<'a, T, const N: usize> {
    cells: [Cell<Option<Remembered<'a, T>>>; N],
    /// The entry the next miss replaces.
    next: Cell<usize>,
}

/// A cell's bytes and its result.
type Remembered<'a, T> = (&'a [u8], T);

/// `a == b` for the short cells of a memo, with no call to `memcmp` (which cost more than
/// the rules it saves): words loaded from both ends of each cell.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], at: usize| {
        s[at..at + 8]
            .first_chunk::<8>()
            .map(|w| u64::from_le_bytes(*w))
    };
    let w4 = |s: &[u8], at: usize| {
        s[at..at + 4]
            .first_chunk::<4>()
            .map(|w| u32::from_le_bytes(*w))
    };
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

impl<T, const N: usize> Default for Memo<'_, T, N> {
    fn default() -> Self {
        Memo {
            cells: std::array::from_fn(|_| Cell::new(None)),
            next: Cell::new(0),
        }
    }
}

impl<'a, T: Copy, const N: usize> Memo<'a, T, N> {
    #[inline(always)]
    fn get(&self, cell: &'a [u8], rule: impl FnOnce(&[u8]) -> T) -> T {
        // A cell longer than any number or flag is not compared with those remembered (a
        // million rows of views of one 16 MiB value compared it whole each time).
        if cell.len() > crate::rows::interpret::MAX_NUMBER_TEXT {
            return rule(cell);
        }
        for c in &self.cells {
            if let Some((k, v)) = c.get()
                && same(k, cell)
            {
                return v;
            }
        }
        let v = rule(cell);
        let n = self.next.get();
        self.cells[n].set(Some((cell, v)));
        self.next.set((n + 1) % N);
        v
    }
}

/// Where the fast lane finds a row's subscriber.
enum Subscribers<'a> {
    /// A dictionary column, interpreted once per value.
    Interpreted(Lookup<'a, Option<Result<Msisdn, RejectReason>>>),
    /// The same, each row's valid subscriber gathered before the row loop ([`GATHER_VALUES`]).
    Gathered(&'a [Option<Msisdn>]),
    /// A plain or view string column (a time-ordered export has a new subscriber on almost
    /// every row, so a dictionary would not pay): a cell that is strictly `+digits` is read
    /// here ([`strict_subscriber`]) unless it repeats the row before; any other cell (spaces,
    /// separators, national format, not a number) leaves its row to `interpret`.
    Text(&'a StrCol, Memo<'a, Option<Msisdn>, 1>),
}

/// A subscriber cell that is strictly `+digits` (REFERENCE.md §4's pattern), which is what
/// [`pre_subscriber_cell`](crate::rows::interpret::pre_subscriber_cell) makes of it too (nothing to trim, no separator to drop); `None`
/// for any other cell. Its result is an `Option<Msisdn>`, returned in registers: the
/// `Option<Result<..>>` of `pre_subscriber_cell` came back through the stack, and the load
/// after the call stalled on it (a quarter of the row loop's samples on a time-ordered file).
#[inline(always)]
fn strict_subscriber(cell: &[u8]) -> Option<Msisdn> {
    Msisdn::parse_e164(cell, Msisdn::MIN_DIGITS)
}

impl Subscribers<'_> {
    /// Row `i`'s subscriber when it is a valid E.164 number; `None` leaves the row to
    /// `interpret` (null, not E.164, national format, a cached reject).
    #[inline(always)]
    fn at(&self, i: usize) -> Option<Msisdn> {
        match self {
            Subscribers::Interpreted(l) => l.at(i)?.and_then(Result::ok),
            Subscribers::Gathered(g) => g[i],
            Subscribers::Text(c, memo) => memo.get(c.bytes(i)?, strict_subscriber),
        }
    }
}

/// The subscriber, direction and kind lookups of a batch.
type Lookups<'a> = (
    Option<Lookup<'a, Option<Result<Msisdn, RejectReason>>>>,
    Option<Lookup<'a, Result<bool, RejectReason>>>,
    Option<Lookup<'a, Result<bool, RejectReason>>>,
);

/// A dictionary column's keys and their nulls.
type Keys<'a> = Option<(&'a ScalarBuffer<i32>, &'a Option<NullBuffer>)>;

impl<'a> Fast<'a> {
    fn of(
        time: &'a TimeCol,
        (subscriber, outgoing, sms): Lookups<'a>,
        (subscriber_text, direction_text, kind_text): (
            Option<&'a StrCol>,
            Option<&'a StrCol>,
            Option<&'a StrCol>,
        ),
        gathered: Option<&'a [Option<Msisdn>]>,
        region: &Option<StrCol>,
        duration: &'a Option<DurCol>,
    ) -> Option<Fast<'a>> {
        let TimeCol::Ticks(t, time_nulls, div, mul) = time else {
            return None;
        };
        let duration = match duration {
            None => None,
            Some(DurCol::Int(v, n)) => Some((&v[..], n)),
            Some(DurCol::Text(..) | DurCol::Float(..)) => return None,
        };
        if region.is_some() {
            return None;
        }
        Some(Fast {
            time: t,
            time_nulls,
            div: *div,
            mul: *mul,
            subscriber: match (subscriber, subscriber_text) {
                (Some(l), _) => match gathered {
                    Some(g) => Subscribers::Gathered(g),
                    None => Subscribers::Interpreted(l),
                },
                (None, Some(c @ (StrCol::Plain(..) | StrCol::View(..) | StrCol::Spans(..)))) => {
                    Subscribers::Text(c, Memo::default())
                }
                (None, _) => return None,
            },
            outgoing: Flag::of(outgoing, direction_text, direction_cell)?,
            sms: Flag::of(sms, kind_text, kind_cell)?,
            duration,
        })
    }

    /// Row `i`'s instant, subscriber and flavor when every rule before the counterparty's
    /// passed; `None` sends the row through `interpret`.
    #[inline(always)]
    fn row(&self, i: usize) -> Option<(i64, Msisdn, Flavor)> {
        if null_at(self.time_nulls, i) {
            return None;
        }
        let sub = self.subscriber.at(i)?;
        let Ok(outgoing) = self.outgoing.at(i)? else {
            return None;
        };
        let Ok(sms) = self.sms.at(i)? else {
            return None;
        };
        if let Some((v, n)) = self.duration
            && !null_at(n, i)
            && v[i] < 0
        {
            return None;
        }
        let ms = ticks_to_ms(self.time[i], self.div, self.mul);
        // Out of range: `interpret` rejects it with its reason.
        check_time(ms).ok()?;
        Some((ms, sub, flavor(outgoing, sms)))
    }
}
