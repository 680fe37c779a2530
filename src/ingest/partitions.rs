//! Hive partition values as columns: `kind=sms/part-0.parquet` holds the `kind` of every row.
//!
//! Spark, Hive, DuckDB and Polars write a table partitioned by a column into one directory per
//! value of it, `key=value/`, and leave the column out of the files below: the value is in
//! the path alone. A reader that only looks inside the files finds the column missing. Here
//! each `key=value` directory in a file's path (as it is named: every directory component,
//! from the outermost to the innermost, which wins for a key named twice) adds a column
//! `key`, whose cell in every row is `value`, to that file, **for a field that none of the
//! file's own columns fills**: a directory never changes which of a file's columns a field
//! reads, nor replaces a column of its own name. Keys are found by the one rule of
//! [`ColumnMap::resolve`] (a mapping `--column type=kind` finds a `type=sms/` directory), and
//! a partition value is a cell like any other: checked by the same row rules, a bad one
//! rejected with its file and row (`kind=fax/`: every row `bad_kind`).
//!
//! Values are written escaped by their writers: `%XX` is the byte `XX` (Spark and Hive escape
//! `/`, `=`, `%`, `:` and others so), and Hive's `__HIVE_DEFAULT_PARTITION__` and an empty
//! value are a null cell (a row whose field is missing), as Spark reads them back.
//!
//! Only keys that some field would take are made columns ([`ColumnMap::resolve`] over the
//! keys alone): `event_date=2026-10-01/` is left alone. The file readers add the columns:
//! Parquet and Arrow IPC batches get a constant column per key ([`Partitions::extend`]), CSV
//! records a constant cell ([`Partitions::values`]).

use std::path::{Component, Path};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field as ArrowField, FieldRef, Int32Type, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::ingest::columns::ColumnMap;

/// The value Hive and Spark write for a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// The `key=value` directories of `path` (not its file name), outermost first, keys and
/// values unescaped; a key named twice, in any ASCII case, keeps its innermost value. A
/// directory a `..` leaves is not one of them (`kind=fax/../real/x.csv` lies in `real/`). A
/// value that is null (written `__HIVE_DEFAULT_PARTITION__` before unescaping, as Hive and Spark write a
/// null; DuckDB escapes a text value of those letters `%5F_HIVE…`; or empty) is `None`.
/// A component whose key is empty is not a partition; one that is not UTF-8 is read with
/// each such byte as U+FFFD, so that its value breaks its field's rule (never a directory
/// left unread, which would leave its field to the file or missing).
pub fn pairs(path: &Path) -> Vec<(String, Option<String>)> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    // One entry per directory the path goes down into, so that `..` takes its own back.
    let mut down: Vec<Option<(String, Option<String>)>> = Vec::new();
    for c in dir.components() {
        let c = match c {
            Component::Normal(c) => c,
            Component::ParentDir => {
                down.pop();
                continue;
            }
            _ => continue,
        };
        // A name that is not UTF-8 is read with each bad byte as U+FFFD: its value then
        // breaks its field's rule, as a cell that is not UTF-8 does (its key names no field).
        let name = c.to_string_lossy();
        let pair = (name.split_once('=')).and_then(|(key, value)| {
            let key = unescaped(key);
            let value = (value != HIVE_NULL)
                .then(|| unescaped(value))
                .filter(|v| !v.is_empty());
            (!key.trim().is_empty()).then_some((key, value))
        });
        down.push(pair);
    }
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for (key, value) in down.into_iter().flatten() {
        out.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
        out.push((key, value));
    }
    out
}

/// `text` with each `%XX` (two hex digits) replaced by its byte; text that does not decode
/// to UTF-8 so is kept as written.
pub(crate) fn unescaped(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    String::from_utf8(unescaped_bytes(text)).unwrap_or_else(|_| text.to_owned())
}

/// The bytes of `text` with each `%XX` (two hex digits) replaced by its byte.
pub(crate) fn unescaped_bytes(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b.get(i + 1..i + 3))
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if b[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// The partition columns a read of one file takes (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Partitions {
    /// Each column's key (its name) and value.
    columns: Vec<(String, Option<String>)>,
    /// The Arrow columns of the last [`Partitions::extend`], `len` rows each (sliced for
    /// shorter batches, so a dictionary column keeps one values array and its cells are
    /// interpreted once per file).
    arrays: Option<(usize, Vec<(FieldRef, ArrayRef)>)>,
}

impl Partitions {
    /// The partition columns of `path` that a file whose columns are `names` takes under
    /// `columns`: for each field that none of the file's names fills (as
    /// [`ColumnMap::resolve`] finds them: mapped, canonical, any ASCII case), the key that
    /// would fill it, unless the key names a column of the file in any ASCII case or is also
    /// a name of a field the file fills (a source mapped to two fields). So a directory
    /// never changes which of the file's columns a field reads.
    pub fn of(path: &Path, names: &[&str], columns: &ColumnMap) -> Partitions {
        let own = columns.resolve(names);
        if own.iter().all(Option::is_some) {
            return Partitions::default();
        }
        let candidates: Vec<(String, Option<String>)> = pairs(path)
            .into_iter()
            .filter(|(k, _)| {
                !names
                    .iter()
                    .any(|n| n.trim().eq_ignore_ascii_case(k.trim()))
            })
            .collect();
        let keys: Vec<&str> = candidates.iter().map(|(k, _)| k.as_str()).collect();
        let by_keys = columns.resolve(&keys);
        let wanted_by_own = |key: &str| {
            let fields = columns.resolve(&[key]);
            fields
                .iter()
                .zip(&own)
                .any(|(k, o)| k.is_some() && o.is_some())
        };
        let columns = (candidates.iter().enumerate())
            .filter(|(i, (key, _))| {
                let fills = (by_keys.iter().zip(&own)).any(|(k, o)| *k == Some(*i) && o.is_none());
                fills && !wanted_by_own(key)
            })
            .map(|(_, kv)| kv.clone())
            .collect();
        Partitions {
            columns,
            arrays: None,
        }
    }

    /// True when the file takes no partition column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The columns' names, in the order they follow the file's own.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(k, _)| k.as_str())
    }

    /// The columns' values, in the same order (`None`: a null cell).
    pub fn values(&self) -> impl Iterator<Item = Option<&str>> {
        self.columns.iter().map(|(_, v)| v.as_deref())
    }

    /// `names` followed by the partition columns' names: what a read resolves.
    pub fn after<'a>(&'a self, names: &[&'a str]) -> Vec<&'a str> {
        names.iter().copied().chain(self.names()).collect()
    }

    /// `schema` with the partition columns after its own.
    pub fn schema(&self, schema: &SchemaRef) -> SchemaRef {
        if self.is_empty() {
            return Arc::clone(schema);
        }
        let fields: Vec<FieldRef> = (schema.fields().iter().cloned())
            .chain(self.columns.iter().map(|(k, _)| field_of(k)))
            .collect();
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }

    /// `batch` with the partition columns after its own, a constant each.
    pub fn extend(&mut self, path: &Path, batch: RecordBatch) -> Result<RecordBatch> {
        if self.is_empty() {
            return Ok(batch);
        }
        let n = batch.num_rows();
        if self.arrays.as_ref().is_none_or(|(len, _)| *len < n) {
            let len = n.max(1 << 16);
            let arrays = (self.columns.iter())
                .map(|(k, v)| (field_of(k), constant(v.as_deref(), len)))
                .collect();
            self.arrays = Some((len, arrays));
        }
        let Some((_, arrays)) = &self.arrays else {
            return Ok(batch);
        };
        let fields: Vec<FieldRef> = (batch.schema().fields().iter().cloned())
            .chain(arrays.iter().map(|(f, _)| Arc::clone(f)))
            .collect();
        let columns: Vec<ArrayRef> = (batch.columns().iter().cloned())
            .chain(arrays.iter().map(|(_, a)| a.slice(0, n)))
            .collect();
        let schema = Schema::new_with_metadata(fields, batch.schema().metadata().clone());
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(n));
        RecordBatch::try_new_with_options(Arc::new(schema), columns, &options)
            .map_err(|e| Error::read(path, e))
    }
}

/// The Arrow field of a partition column: text, dictionary-encoded (one value).
fn field_of(key: &str) -> FieldRef {
    let text = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(ArrowField::new(key, text, true))
}

/// `len` rows of `value` (`None`: nulls), as a dictionary of one value.
fn constant(value: Option<&str>, len: usize) -> ArrayRef {
    let keys = match value {
        Some(_) => Int32Array::from(vec![0; len]),
        None => Int32Array::new_null(len),
    };
    let values = StringArray::from(vec![value.unwrap_or_default()]);
    Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(values)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn pairs_are_the_directories_key_value_components_innermost_winning() {
        let p = pairs(Path::new(
            "/data/kind=sms/direction=in/date=2026-10-01/part-0.parquet",
        ));
        assert_eq!(
            p,
            vec![
                kv("kind", Some("sms")),
                kv("direction", Some("in")),
                kv("date", Some("2026-10-01"))
            ]
        );
        let p = pairs(Path::new("kind=call/x/kind=sms/a=b.csv"));
        assert_eq!(p, vec![kv("kind", Some("sms"))]);
        // In another case the inner one wins too; a directory `..` leaves is none.
        let p = pairs(Path::new("kind=fax/KIND=sms/p.parquet"));
        assert_eq!(p, vec![kv("KIND", Some("sms"))]);
        let p = pairs(Path::new("d/kind=fax/../real/./direction=in/p.parquet"));
        assert_eq!(p, vec![kv("direction", Some("in"))]);
        assert!(pairs(Path::new("../kind=x/../p.csv")).is_empty());
        assert!(
            pairs(Path::new("a=b.csv")).is_empty(),
            "a file name is no partition"
        );
        assert!(
            pairs(Path::new("/=x/y.csv")).is_empty(),
            "an empty key is no partition"
        );
    }

    #[test]
    fn values_are_unescaped_and_hive_nulls_are_none() {
        let p = pairs(Path::new(
            "r=%2B234%3D1/n=__HIVE_DEFAULT_PARTITION__/e=/bad=%zz%4%+3/u=%FF/t=%5F_HIVE_DEFAULT_PARTITION__/f.csv",
        ));
        assert_eq!(
            p,
            vec![
                kv("r", Some("+234=1")),
                kv("n", None),
                kv("e", None),
                kv("bad", Some("%zz%4%+3")),
                kv("u", Some("%FF")),
                // DuckDB's escape of a text value of those letters: text, not a null.
                kv("t", Some("__HIVE_DEFAULT_PARTITION__")),
            ]
        );
    }

    #[test]
    fn a_file_column_of_the_name_in_any_case_wins_and_unused_keys_are_left() {
        let cols = ColumnMap::default();
        let path = Path::new("kind=sms/Direction=in/date=x/f.parquet");
        let p = Partitions::of(path, &["event_time", "subscriber", "DIRECTION"], &cols);
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["kind"]);
        let mapped = ColumnMap::parse(&["type=kind"]).unwrap();
        // The file fills `kind` itself: a `type=` directory (a report's, above the table)
        // does not take it over, mapped or not.
        let p = Partitions::of(Path::new("type=call/f.csv"), &["kind"], &mapped);
        assert!(p.is_empty());
        let p = Partitions::of(Path::new("type=call/f.csv"), &["Type", "kind"], &mapped);
        assert!(p.is_empty(), "the file's own `Type` column wins");
        // A source mapped to two fields, one the file fills: no directory of that name.
        let two = ColumnMap::parse(&["dur=duration_s", "d2=duration_s", "d2=counterparty_region"])
            .unwrap();
        let p = Partitions::of(Path::new("d2=-5/f.parquet"), &["dur"], &two);
        assert!(p.is_empty(), "{:?}", p.names().collect::<Vec<_>>());
        let p = Partitions::of(Path::new("d2=-5/f.parquet"), &["x"], &two);
        assert_eq!(p.names().collect::<Vec<_>>(), vec!["d2"]);
        let p = Partitions::of(Path::new("type=call/f.csv"), &["subscriber"], &mapped);
        assert_eq!(p.values().collect::<Vec<_>>(), vec![Some("call")]);
    }

    #[test]
    fn extend_adds_a_constant_column_sliced_to_each_batch() {
        let schema = Arc::new(Schema::new(vec![ArrowField::new(
            "a",
            DataType::Int32,
            false,
        )]));
        let mut p = Partitions::of(
            Path::new("kind=sms/direction=__HIVE_DEFAULT_PARTITION__/f.arrow"),
            &["a"],
            &ColumnMap::default(),
        );
        assert_eq!(p.schema(&schema).fields().len(), 3);
        for n in [0, 3, 70_000, 5] {
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int32Array::from(vec![1; n]))],
            )
            .unwrap();
            let out = p.extend(Path::new("f"), batch).unwrap();
            assert_eq!(out.num_rows(), n);
            let kind = out
                .column(1)
                .as_any()
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .unwrap();
            let values = kind
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            assert!(
                (0..n)
                    .all(|i| kind.is_valid(i)
                        && values.value(kind.keys().value(i) as usize) == "sms")
            );
            assert_eq!(out.column(2).null_count(), n);
        }
    }
}
