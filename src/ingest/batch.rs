//! Arrow record batches -> [`RawRow`]s, with the per-column work hoisted out of the row loop.
//!
//! Each column's type, buffers and validity are looked up once per batch; the row loop then
//! reads plain slices and calls the (generic, so inlined) visitor. Dictionary-encoded
//! subscriber, direction and kind columns are interpreted once per distinct value
//! ([`DictCache`], the same `interpret` rules) and rows carry the result in [`Pre`].
//! Strings may be plain, view (`Utf8View`) or dictionary arrays; other string encodings are
//! cast to plain.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringViewArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::ingest::columns::{ColumnMap, Field, resolve_required};
use crate::ingest::interpret::{
    DurationCell, Pre, RawRow, TimeCell, parse_direction, parse_kind, pre_subscriber,
};
use crate::ingest::rejects::RejectReason;
use crate::model::Msisdn;

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
            TimeCol::Ticks(v, n, div, mul) => (!null_at(n, i)).then(|| {
                let t = v[i];
                TimeCell::Millis(if *div == 1 { t } else { t.div_euclid(*div) } * mul)
            }),
            TimeCol::Text(a, n) => (!null_at(n, i)).then(|| TimeCell::Text(a.value(i))),
        }
    }
}

/// A string column: plain, view, or dictionary (keys, values, the values array for identity).
enum StrCol {
    Plain(StringArray, Option<NullBuffer>),
    View(StringViewArray, Option<NullBuffer>),
    Dict(ScalarBuffer<i32>, Option<NullBuffer>, StringArray, ArrayRef),
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
        _ => {
            let s = string_col(path, f, a)?;
            let n = s.nulls().cloned();
            Ok(StrCol::Plain(s, n))
        }
    }
}

enum DurCol {
    Int(ScalarBuffer<i64>, Option<NullBuffer>),
    Text(StringArray, Option<NullBuffer>),
}

impl DurCol {
    #[inline(always)]
    fn cell(&self, i: usize) -> Option<DurationCell<'_>> {
        match self {
            DurCol::Int(v, n) => (!null_at(n, i)).then(|| DurationCell::Int(v[i])),
            DurCol::Text(a, n) => (!null_at(n, i)).then(|| DurationCell::Text(a.value(i))),
        }
    }
}

fn string_col(path: &Path, f: Field, a: &ArrayRef) -> Result<StringArray> {
    let a = if a.data_type() == &DataType::Utf8 {
        a.clone()
    } else {
        cast(a, &DataType::Utf8)
            .map_err(|e| Error::read(path, format!("column {}: {e}", f.name())))?
    };
    Ok(a.as_string::<i32>().clone())
}

fn time_col(path: &Path, a: &ArrayRef) -> Result<TimeCol> {
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
            let (div, mul) = match unit {
                TimeUnit::Second => (1, 1000),
                TimeUnit::Millisecond => (1, 1),
                TimeUnit::Microsecond => (1000, 1),
                TimeUnit::Nanosecond => (1_000_000, 1),
            };
            ticks(a, div, mul)
        }
        DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => ticks(a, 1, 1),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            let s = string_col(path, Field::EventTime, a)?;
            let n = s.nulls().cloned();
            Ok(TimeCol::Text(s, n))
        }
        other => Err(Error::read(
            path,
            format!(
                "column event_time has type {other}; expected a timestamp, epoch milliseconds or RFC 3339 text"
            ),
        )),
    }
}

fn dur_col(path: &Path, a: &ArrayRef) -> Result<DurCol> {
    Ok(match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = string_col(path, Field::DurationS, a)?;
            let n = s.nulls().cloned();
            DurCol::Text(s, n)
        }
        t if t.is_integer() || t.is_null() => {
            let c = cast(a, &DataType::Int64)
                .map_err(|e| Error::read(path, format!("column duration_s: {e}")))?;
            let p = c.as_primitive::<Int64Type>();
            DurCol::Int(p.values().clone(), p.logical_nulls())
        }
        other => {
            return Err(Error::read(
                path,
                format!("column duration_s has type {other}; expected an integer"),
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
}

/// A dictionary (by identity) and one result per value.
type PerValue<T> = Option<(ArrayRef, Vec<T>)>;

/// Makes `slot` hold `f` of every value of `col`'s dictionary (kept while the dictionary is
/// the same array) and returns the keys to look them up with. `None` when `col` is not a
/// dictionary, or its dictionary is larger than the batch and new (then per-row
/// interpretation is cheaper).
fn per_value<'c, T>(
    slot: &mut PerValue<T>,
    col: &'c Option<StrCol>,
    rows: usize,
    f: impl Fn(Option<&str>) -> T,
) -> Option<(&'c ScalarBuffer<i32>, &'c Option<NullBuffer>)> {
    let Some(StrCol::Dict(keys, nulls, values, vref)) = col else {
        return None;
    };
    let fresh = slot
        .as_ref()
        .is_some_and(|(r, _)| std::ptr::addr_eq(Arc::as_ptr(r), Arc::as_ptr(vref)));
    if !fresh {
        if values.len() > rows {
            *slot = None;
            return None;
        }
        let v = (0..values.len())
            .map(|k| f(values.is_valid(k).then(|| values.value(k))))
            .collect();
        *slot = Some((Arc::clone(vref), v));
    }
    Some((keys, nulls))
}

/// The cached result for row `i` of a dictionary column (`null` key: `null`).
#[inline(always)]
fn pre_at<T: Copy>(
    slot: &PerValue<T>,
    keys: Option<(&ScalarBuffer<i32>, &Option<NullBuffer>)>,
    i: usize,
    null: T,
) -> Option<T> {
    let (keys, nulls) = keys?;
    let (_, v) = slot.as_ref()?;
    if null_at(nulls, i) {
        return Some(null);
    }
    usize::try_from(keys[i])
        .ok()
        .and_then(|k| v.get(k).copied())
}

/// Interprets every row of a batch; `first_row` is the 0-based file row of its first row.
pub fn visit_batch<V>(
    path: &Path,
    batch: &RecordBatch,
    columns: &ColumnMap,
    first_row: u64,
    cache: &mut DictCache,
    visit: &mut V,
) -> Result<()>
where
    V: FnMut(u64, &RawRow<'_>) -> Result<()> + ?Sized,
{
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let idx = resolve_required(columns, &names, path)?;
    let col = |f: Field| idx[f as usize].map(|i| Arc::clone(batch.column(i)));
    let time = time_col(
        path,
        &col(Field::EventTime).ok_or_else(|| Error::Internal("event_time".into()))?,
    )?;
    let strings = |f: Field| col(f).map(|a| str_col(path, f, &a)).transpose();
    let subscriber = strings(Field::Subscriber)?;
    let counterparty = strings(Field::Counterparty)?;
    let direction = strings(Field::Direction)?;
    let kind = strings(Field::Kind)?;
    let region = strings(Field::CounterpartyRegion)?;
    let duration = col(Field::DurationS)
        .map(|a| dur_col(path, &a))
        .transpose()?;
    let rows = batch.num_rows();
    let sub_keys = per_value(&mut cache.subscriber, &subscriber, rows, pre_subscriber);
    let dir_keys = per_value(&mut cache.outgoing, &direction, rows, parse_direction);
    let kind_keys = per_value(&mut cache.sms, &kind, rows, parse_kind);
    let (sub_null, dir_null, kind_null) = (
        pre_subscriber(None),
        parse_direction(None),
        parse_kind(None),
    );
    for i in 0..rows {
        let pre = Pre {
            subscriber: pre_at(&cache.subscriber, sub_keys, i, sub_null).flatten(),
            outgoing: pre_at(&cache.outgoing, dir_keys, i, dir_null),
            sms: pre_at(&cache.sms, kind_keys, i, kind_null),
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
        visit(first_row + i as u64 + 1, &raw)?;
    }
    Ok(())
}
