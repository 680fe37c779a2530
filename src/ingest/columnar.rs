//! Parquet and Arrow IPC readers: record batches -> [`RawRow`]s.
//!
//! Parquet files are split into row groups so that several workers read one file at once;
//! only the SPEC §2 columns are decoded (projection). Timestamps with or without a zone are
//! instants (naive means UTC); integer time columns are epoch milliseconds; string columns of
//! any Arrow string encoding are accepted.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::ingest::Visit;
use crate::ingest::columns::{ColumnMap, Field, resolve_required};
use crate::ingest::interpret::{
    DurationCell, Pre, RawRow, TimeCell, parse_direction, parse_kind, pre_subscriber,
};
use crate::ingest::rejects::RejectReason;
use crate::model::Msisdn;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Row groups of a Parquet file with the 0-based index of each one's first row.
pub fn parquet_row_groups(path: &Path) -> Result<Vec<(usize, u64)>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::read(path, e))?;
    let mut first = 0u64;
    Ok(builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .map(|(i, rg)| {
            let at = first;
            first += rg.num_rows() as u64;
            (i, at)
        })
        .collect())
}

/// Reads one row group of a Parquet file.
pub fn read_parquet_row_group(
    path: &Path,
    row_group: usize,
    first_row: u64,
    columns: &ColumnMap,
    visit: &mut Visit<'_>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::read(path, e))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let idx = resolve_required(columns, &names, path)?;
    let builder = with_dictionary_hints(path, builder, &idx)?;
    let roots: Vec<usize> = idx.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_row_groups(vec![row_group])
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| Error::read(path, e))?;
    let mut row = first_row;
    let mut cache = DictCache::default();
    for batch in reader {
        let batch = batch.map_err(|e| Error::read(path, e))?;
        visit_batch(path, &batch, columns, row, &mut cache, visit)?;
        row += batch.num_rows() as u64;
    }
    Ok(())
}

/// Low-cardinality string columns (subscriber, direction, kind, region) are read as
/// dictionaries, so no string is copied per row; the others stay plain.
fn with_dictionary_hints(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<File>,
    idx: &[Option<usize>; 7],
) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let schema = builder.schema().clone();
    let dict_cols: Vec<usize> = [
        Field::Subscriber,
        Field::Direction,
        Field::Kind,
        Field::CounterpartyRegion,
    ]
    .iter()
    .filter_map(|f| idx[*f as usize])
    .filter(|i| schema.field(*i).data_type() == &DataType::Utf8)
    .collect();
    if dict_cols.is_empty() {
        return Ok(builder);
    }
    let fields: Vec<arrow::datatypes::FieldRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if dict_cols.contains(&i) {
                let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                Arc::new(f.as_ref().clone().with_data_type(t))
            } else {
                Arc::clone(f)
            }
        })
        .collect();
    let hinted = Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_schema(hinted);
    ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(|e| Error::read(path, e))
}

/// Reads an Arrow IPC file (or stream).
pub fn read_ipc(path: &Path, columns: &ColumnMap, visit: &mut Visit<'_>) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut row = 0u64;
    let mut cache = DictCache::default();
    match arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None) {
        Ok(reader) => {
            for batch in reader {
                let batch = batch.map_err(|e| Error::read(path, e))?;
                visit_batch(path, &batch, columns, row, &mut cache, visit)?;
                row += batch.num_rows() as u64;
            }
        }
        Err(file_err) => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let reader =
                arrow::ipc::reader::StreamReader::try_new(std::io::BufReader::new(file), None)
                    .map_err(|e| {
                        Error::read(
                            path,
                            format!("not an Arrow IPC file ({file_err}) nor stream ({e})"),
                        )
                    })?;
            for batch in reader {
                let batch = batch.map_err(|e| Error::read(path, e))?;
                visit_batch(path, &batch, columns, row, &mut cache, visit)?;
                row += batch.num_rows() as u64;
            }
        }
    }
    Ok(())
}

enum TimeCol {
    /// Instants in some unit: (values, divisor to ms, multiplier to ms).
    Ticks(arrow::array::PrimitiveArray<Int64Type>, i64, i64),
    Text(StringArray),
}

/// A string column, plain or dictionary-encoded (read without copying strings per row).
enum StrCol {
    Plain(StringArray),
    Dict(
        arrow::array::PrimitiveArray<arrow::datatypes::Int32Type>,
        StringArray,
        ArrayRef,
    ),
}

impl StrCol {
    #[inline]
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Plain(a) => a.is_valid(i).then(|| a.value(i)),
            StrCol::Dict(keys, values, _) => {
                if keys.is_null(i) {
                    return None;
                }
                let k = usize::try_from(keys.value(i)).ok()?;
                (k < values.len() && values.is_valid(k)).then(|| values.value(k))
            }
        }
    }
}

fn str_col(path: &Path, f: Field, a: &ArrayRef) -> Result<StrCol> {
    if let DataType::Dictionary(k, v) = a.data_type()
        && **k == DataType::Int32
        && **v == DataType::Utf8
    {
        let d = a.as_dictionary::<arrow::datatypes::Int32Type>();
        return Ok(StrCol::Dict(
            d.keys().clone(),
            d.values().as_string::<i32>().clone(),
            Arc::clone(d.values()),
        ));
    }
    string_col(path, f, a).map(StrCol::Plain)
}

enum DurCol {
    Int(arrow::array::PrimitiveArray<Int64Type>),
    Text(StringArray),
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
    let as_i64 = |a: &ArrayRef| -> Result<arrow::array::PrimitiveArray<Int64Type>> {
        let c = cast(a, &DataType::Int64)
            .map_err(|e| Error::read(path, format!("column event_time: {e}")))?;
        Ok(c.as_primitive::<Int64Type>().clone())
    };
    Ok(match a.data_type() {
        DataType::Timestamp(unit, _) => {
            let (div, mul) = match unit {
                TimeUnit::Second => (1, 1000),
                TimeUnit::Millisecond => (1, 1),
                TimeUnit::Microsecond => (1000, 1),
                TimeUnit::Nanosecond => (1_000_000, 1),
            };
            TimeCol::Ticks(as_i64(a)?, div, mul)
        }
        DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
            TimeCol::Ticks(as_i64(a)?, 1, 1)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            TimeCol::Text(string_col(path, Field::EventTime, a)?)
        }
        other => {
            return Err(Error::read(
                path,
                format!(
                    "column event_time has type {other}; expected a timestamp, epoch milliseconds or RFC 3339 text"
                ),
            ));
        }
    })
}

fn dur_col(path: &Path, a: &ArrayRef) -> Result<DurCol> {
    Ok(match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            DurCol::Text(string_col(path, Field::DurationS, a)?)
        }
        t if t.is_integer() || t.is_null() => {
            let c = cast(a, &DataType::Int64)
                .map_err(|e| Error::read(path, format!("column duration_s: {e}")))?;
            DurCol::Int(c.as_primitive::<Int64Type>().clone())
        }
        other => {
            return Err(Error::read(
                path,
                format!("column duration_s has type {other}; expected an integer"),
            ));
        }
    })
}

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
/// the same array). False when `col` is not a dictionary, or its dictionary is larger than the
/// batch and new (then per-row interpretation is cheaper).
fn per_value<T>(
    slot: &mut PerValue<T>,
    col: &Option<StrCol>,
    rows: usize,
    f: impl Fn(Option<&str>) -> T,
) -> bool {
    let Some(StrCol::Dict(_, values, vref)) = col else {
        return false;
    };
    let fresh = slot
        .as_ref()
        .is_some_and(|(r, _)| std::ptr::addr_eq(Arc::as_ptr(r), Arc::as_ptr(vref)));
    if !fresh {
        if values.len() > rows {
            *slot = None;
            return false;
        }
        let v = (0..values.len())
            .map(|k| f(values.is_valid(k).then(|| values.value(k))))
            .collect();
        *slot = Some((Arc::clone(vref), v));
    }
    true
}

/// The cached result for row `i` of a dictionary column (`null` key: `f(None)`).
#[inline]
fn pre_at<T: Copy>(slot: &PerValue<T>, col: &Option<StrCol>, i: usize, null: T) -> Option<T> {
    match (slot, col) {
        (Some((_, v)), Some(StrCol::Dict(keys, _, _))) => {
            if keys.is_null(i) {
                Some(null)
            } else {
                usize::try_from(keys.value(i))
                    .ok()
                    .and_then(|k| v.get(k).copied())
            }
        }
        _ => None,
    }
}

/// Interprets every row of a batch; `first_row` is the 0-based file row of its first row.
pub fn visit_batch(
    path: &Path,
    batch: &RecordBatch,
    columns: &ColumnMap,
    first_row: u64,
    cache: &mut DictCache,
    visit: &mut Visit<'_>,
) -> Result<()> {
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
    let sub_pre = per_value(&mut cache.subscriber, &subscriber, rows, pre_subscriber);
    let dir_pre = per_value(&mut cache.outgoing, &direction, rows, parse_direction);
    let kind_pre = per_value(&mut cache.sms, &kind, rows, parse_kind);
    let (sub_null, dir_null, kind_null) = (
        pre_subscriber(None),
        parse_direction(None),
        parse_kind(None),
    );
    for i in 0..rows {
        let pre = Pre {
            subscriber: if sub_pre {
                pre_at(&cache.subscriber, &subscriber, i, sub_null).flatten()
            } else {
                None
            },
            outgoing: if dir_pre {
                pre_at(&cache.outgoing, &direction, i, dir_null)
            } else {
                None
            },
            sms: if kind_pre {
                pre_at(&cache.sms, &kind, i, kind_null)
            } else {
                None
            },
        };
        let t = match &time {
            TimeCol::Ticks(a, div, mul) => a
                .is_valid(i)
                .then(|| TimeCell::Millis(a.value(i).div_euclid(*div) * mul)),
            TimeCol::Text(a) => a.is_valid(i).then(|| TimeCell::Text(a.value(i))),
        };
        let d = match &duration {
            Some(DurCol::Int(a)) => a.is_valid(i).then(|| DurationCell::Int(a.value(i))),
            Some(DurCol::Text(a)) => a.is_valid(i).then(|| DurationCell::Text(a.value(i))),
            None => None,
        };
        let raw = RawRow {
            time: t,
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
            duration: d,
            region: get(&region, i),
            pre,
        };
        visit(first_row + i as u64 + 1, &raw)?;
    }
    Ok(())
}
