//! Writing generated events (Parquet or CSV, by the output file's extension) and reading and
//! writing ground-truth files (CSV `subscriber,day`).
//!
//! Parquet: one row group per generated chunk, Snappy, dictionary encoding for the repetitive
//! columns only (`subscriber`, `direction`, `kind`). CSV: REFERENCE.md §2 columns with a header,
//! `event_time` as RFC 3339 UTC with milliseconds (`2026-10-20T21:01:04.123Z`), an empty
//! counterparty for withheld and an empty duration for SMS.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, SchemaRef, TimestampMillisecondType};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::{GenError, GroundTruth};

/// Where generated batches go.
pub(crate) enum EventWriter {
    /// A Parquet file.
    Parquet {
        /// The file, for error messages.
        path: PathBuf,
        /// The writer.
        writer: Box<ArrowWriter<BufWriter<File>>>,
    },
    /// A CSV file.
    Csv {
        /// The file, for error messages.
        path: PathBuf,
        /// The buffered file.
        out: BufWriter<File>,
        /// Reused line buffer.
        line: Vec<u8>,
    },
}

/// Creates (truncates) `path`.
fn create(path: &Path) -> Result<BufWriter<File>, GenError> {
    create_as(path, path)
}

/// Creates `path`; errors name `named` (the final name of a file written under a temporary
/// one).
fn create_as(path: &Path, named: &Path) -> Result<BufWriter<File>, GenError> {
    let file = File::create(path).map_err(|source| GenError::Io {
        path: named.to_owned(),
        source,
    })?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

impl EventWriter {
    /// Opens `path` for the format the extension of `named` (the file's final name) gives.
    /// A Parquet file records `tz`, the zone its days were generated in, under
    /// [`crate::ingest::ZONE_KEY`], so a scan without `--tz` reads it in that zone (CSV has
    /// no place for it).
    pub(crate) fn create(
        named: &Path,
        path: &Path,
        schema: &SchemaRef,
        tz: chrono_tz::Tz,
        layout: super::Layout,
    ) -> Result<Self, GenError> {
        let ext = named
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("parquet") => {
                // Grouped files dictionary-encode the subscriber (few per row group); switch
                // exports in time order hold most subscribers in every row group, and their
                // writers fall back to plain encoding for the number columns.
                let grouped = layout == super::Layout::Grouped;
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_dictionary_enabled(false)
                    .set_column_dictionary_enabled(ColumnPath::from("subscriber"), grouped)
                    .set_column_dictionary_enabled(ColumnPath::from("direction"), true)
                    .set_column_dictionary_enabled(ColumnPath::from("kind"), true)
                    // Chunks are cut by the generator; `write` flushes one row group per chunk.
                    .set_max_row_group_row_count(None)
                    .set_max_row_group_bytes(None)
                    .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                        crate::ingest::ZONE_KEY.to_owned(),
                        tz.name().to_owned(),
                    )]))
                    .build();
                let out = create_as(path, named)?;
                let writer =
                    ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(|source| {
                        GenError::Parquet {
                            path: named.to_owned(),
                            source,
                        }
                    })?;
                Ok(Self::Parquet {
                    path: named.to_owned(),
                    writer: Box::new(writer),
                })
            }
            Some("csv") => {
                let mut out = create_as(path, named)?;
                out.write_all(b"event_time,subscriber,counterparty,direction,kind,duration_s\n")
                    .map_err(|source| GenError::Io {
                        path: named.to_owned(),
                        source,
                    })?;
                Ok(Self::Csv {
                    path: named.to_owned(),
                    out,
                    line: Vec::with_capacity(128),
                })
            }
            _ => Err(GenError::Format {
                path: named.to_owned(),
            }),
        }
    }

    /// Writes one batch (a Parquet row group of its own).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), GenError> {
        match self {
            Self::Parquet { path, writer } => writer
                .write(batch)
                .and_then(|()| writer.flush())
                .map_err(|source| GenError::Parquet {
                    path: path.clone(),
                    source,
                }),
            Self::Csv { path, out, line } => {
                write_csv_rows(batch, out, line).map_err(|source| GenError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
    }

    /// Finishes the file (Parquet footer, buffers flushed).
    pub(crate) fn finish(self) -> Result<(), GenError> {
        match self {
            Self::Parquet { path, writer } => {
                let out = writer.into_inner().map_err(|source| GenError::Parquet {
                    path: path.clone(),
                    source,
                })?;
                let file = out.into_inner().map_err(|e| GenError::Io {
                    path: path.clone(),
                    source: e.into_error(),
                })?;
                crate::staged::sync_written(&file).map_err(|source| GenError::Io { path, source })
            }
            Self::Csv { path, out, .. } => {
                let file = out.into_inner().map_err(|e| GenError::Io {
                    path: path.clone(),
                    source: e.into_error(),
                })?;
                crate::staged::sync_written(&file).map_err(|source| GenError::Io { path, source })
            }
        }
    }
}

/// Appends the rows of `batch` as CSV lines (no value needs quoting: numbers, `in`/`out`,
/// `call`/`sms` and upper-case alphanumeric senders).
fn write_csv_rows(
    batch: &RecordBatch,
    out: &mut impl Write,
    line: &mut Vec<u8>,
) -> std::io::Result<()> {
    let time = batch.column(0).as_primitive::<TimestampMillisecondType>();
    let subscriber = batch.column(1).as_string::<i32>();
    let counterparty = batch.column(2).as_string::<i32>();
    let direction = batch.column(3).as_string::<i32>();
    let kind = batch.column(4).as_string::<i32>();
    let duration = batch.column(5).as_primitive::<Int64Type>();
    for i in 0..batch.num_rows() {
        line.clear();
        push_rfc3339_millis(time.value(i), line);
        line.push(b',');
        line.extend_from_slice(subscriber.value(i).as_bytes());
        line.push(b',');
        if counterparty.is_valid(i) {
            line.extend_from_slice(counterparty.value(i).as_bytes());
        }
        line.push(b',');
        line.extend_from_slice(direction.value(i).as_bytes());
        line.push(b',');
        line.extend_from_slice(kind.value(i).as_bytes());
        line.push(b',');
        if duration.is_valid(i) {
            write!(line, "{}", duration.value(i))?;
        }
        line.push(b'\n');
        out.write_all(line)?;
    }
    Ok(())
}

/// Appends `n` as `width` zero-padded digits.
fn push_padded(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut n = n;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Appends epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0 to 9999).
pub(crate) fn push_rfc3339_millis(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    push_padded(out, year.clamp(0, 9999) as u32, 4);
    out.push(b'-');
    push_padded(out, month as u32, 2);
    out.push(b'-');
    push_padded(out, day as u32, 2);
    out.push(b'T');
    push_padded(out, (rem / 3_600_000) as u32, 2);
    out.push(b':');
    push_padded(out, (rem / 60_000 % 60) as u32, 2);
    out.push(b':');
    push_padded(out, (rem / 1000 % 60) as u32, 2);
    out.push(b'.');
    push_padded(out, (rem % 1000) as u32, 3);
    out.push(b'Z');
}

impl GroundTruth {
    /// Writes the truth as CSV `subscriber,day` (`YYYY-MM-DD`) with a header, in its order.
    pub fn write_csv(&self, path: &Path) -> Result<(), GenError> {
        let io = |source| GenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut out = create(path)?;
        out.write_all(b"subscriber,day\n").map_err(io)?;
        for (subscriber, day) in &self.days {
            writeln!(out, "{subscriber},{}", day.format("%Y-%m-%d")).map_err(io)?;
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        crate::staged::sync_written(&file).map_err(io)
    }

    /// Reads a truth file written by [`GroundTruth::write_csv`] (any row order; the result is
    /// sorted and deduplicated).
    pub fn read_csv(path: &Path) -> Result<Self, GenError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .map_err(|e| csv_error(path, 0, e))?;
        let headers = reader.headers().map_err(|e| csv_error(path, 0, e))?.clone();
        if headers.len() < 2 || &headers[0] != "subscriber" || &headers[1] != "day" {
            return Err(GenError::Truth {
                path: path.to_owned(),
                row: 0,
                message: "header must be subscriber,day".into(),
            });
        }
        let mut days = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let row = i as u64 + 1;
            let record = record.map_err(|e| csv_error(path, row, e))?;
            let (Some(subscriber), Some(day)) = (record.get(0), record.get(1)) else {
                return Err(GenError::Truth {
                    path: path.to_owned(),
                    row,
                    message: "expected 2 fields".into(),
                });
            };
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|e| GenError::Truth {
                path: path.to_owned(),
                row,
                message: format!("day: {e}"),
            })?;
            days.push((subscriber.to_owned(), day));
        }
        days.sort_unstable();
        days.dedup();
        Ok(Self { days })
    }
}

/// Maps a csv error to [`GenError`] (I/O errors stay I/O errors).
fn csv_error(path: &Path, row: u64, e: csv::Error) -> GenError {
    if e.is_io_error() {
        if let csv::ErrorKind::Io(source) = e.into_kind() {
            return GenError::Io {
                path: path.to_owned(),
                source,
            };
        }
        unreachable!("is_io_error");
    }
    GenError::Truth {
        path: path.to_owned(),
        row,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{GenConfig, event_schema, generate_batches, generate_to_file};
    use super::*;
    use arrow::array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn rfc3339_matches_chrono() {
        for ms in [
            0i64,
            1_792_530_064_123,
            951_782_400_000,
            4_102_444_799_999,
            1_234_567,
        ] {
            let mut v = Vec::new();
            push_rfc3339_millis(ms, &mut v);
            let expected = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(String::from_utf8(v).unwrap(), expected);
        }
    }

    fn cfg() -> GenConfig {
        GenConfig {
            subscribers: 500,
            days: 10,
            chunk_rows: 2_000,
            ..GenConfig::default()
        }
    }

    #[test]
    fn parquet_round_trip_and_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, t) = (
            dir.path().join("a.parquet"),
            dir.path().join("b.parquet"),
            dir.path().join("t.csv"),
        );
        let s1 = generate_to_file(&cfg(), &a, Some(&t)).unwrap();
        let s2 = generate_to_file(&cfg(), &b, None).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let (batches, truth) = generate_batches(&cfg());
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&a).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), batches.len());
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let read = arrow::compute::concat_batches(&event_schema(), &read).unwrap();
        let mem = arrow::compute::concat_batches(&event_schema(), &batches).unwrap();
        assert_eq!(read, mem);
        assert_eq!(s1.events, mem.num_rows() as u64);
        assert_eq!(s1.truth_days as usize, truth.days.len());
        assert_eq!(GroundTruth::read_csv(&t).unwrap(), truth);
        let text = std::fs::read_to_string(&t).unwrap();
        assert!(text.starts_with("subscriber,day\n+8869"));
    }

    /// The layouts hold the same rows: `Time` sorted by instant, `Shuffled` in another
    /// order; both with plain-encoded numbers, the zone recorded, and byte-identical reruns.
    #[test]
    fn layouts_hold_the_same_rows_in_their_order_and_encoding() {
        use crate::r#gen::Layout;
        use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
        use parquet::basic::Encoding;
        let dir = tempfile::tempdir().unwrap();
        let sorted = |b: &RecordBatch| {
            let keys: Vec<SortColumn> = (0..b.num_columns())
                .map(|c| SortColumn {
                    values: b.column(c).clone(),
                    options: None,
                })
                .collect();
            take_record_batch(b, &lexsort_to_indices(&keys, None).unwrap()).unwrap()
        };
        let read = |p: &std::path::Path| {
            let r = ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap()).unwrap();
            let meta = r.metadata().clone();
            let batches: Vec<RecordBatch> = r.build().unwrap().map(Result::unwrap).collect();
            (
                arrow::compute::concat_batches(&event_schema(), &batches).unwrap(),
                meta,
            )
        };
        let grouped = dir.path().join("g.parquet");
        generate_to_file(&cfg(), &grouped, None).unwrap();
        let (g, _) = read(&grouped);
        for layout in [Layout::Time, Layout::Shuffled] {
            let c = GenConfig { layout, ..cfg() };
            let (p, q) = (dir.path().join("p.parquet"), dir.path().join("q.parquet"));
            generate_to_file(&c, &p, None).unwrap();
            generate_to_file(&c, &q, None).unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&q).unwrap());
            let (b, meta) = read(&p);
            assert_eq!(sorted(&b), sorted(&g), "{layout:?}: same rows");
            assert_ne!(b, g, "{layout:?}: another order");
            let times = b.column(0).as_primitive::<TimestampMillisecondType>();
            let in_order = times.values().windows(2).all(|w| w[0] <= w[1]);
            assert_eq!(in_order, layout == Layout::Time, "{layout:?}");
            assert_eq!(meta.num_row_groups(), b.num_rows().div_ceil(2_000));
            let subscriber = meta.row_group(0).column(1);
            assert!(
                !subscriber
                    .encodings()
                    .any(|e| e == Encoding::RLE_DICTIONARY),
                "{layout:?}: subscriber plain-encoded"
            );
            let kv = meta.file_metadata().key_value_metadata().unwrap();
            assert!(
                kv.iter().any(|k| k.key == crate::ingest::ZONE_KEY
                    && k.value.as_deref() == Some("Asia/Taipei"))
            );
        }
    }

    #[test]
    fn csv_output() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.CSV");
        let s = generate_to_file(&cfg(), &p, None).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("event_time,subscriber,counterparty,direction,kind,duration_s")
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len() as u64, s.events);
        let (batches, _) = generate_batches(&cfg());
        let b = &batches[0];
        let first = rows[0].split(',').collect::<Vec<_>>();
        let t = b
            .column(0)
            .as_primitive::<TimestampMillisecondType>()
            .value(0);
        let parsed = chrono::DateTime::parse_from_rfc3339(first[0]).unwrap();
        assert_eq!(parsed.timestamp_millis(), t);
        assert_eq!(first[1], b.column(1).as_string::<i32>().value(0));
        assert!(
            rows.iter().any(|r| r.split(',').nth(2) == Some("")),
            "withheld rows are empty"
        );
        assert!(rows.iter().all(|r| r.split(',').count() == 6));
        let c = b.column(2);
        assert!(c.null_count() > 0 || batches.len() > 1);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.json");
        let e = generate_to_file(&cfg(), &p, None).unwrap_err();
        assert!(
            matches!(e, GenError::Format { .. }) && e.to_string().contains("e.json"),
            "{e}"
        );
        let p = dir.path().join("missing/e.parquet");
        let e = generate_to_file(&cfg(), &p, None).unwrap_err();
        assert!(e.to_string().contains("missing/e.parquet"), "{e}");
        let bad = dir.path().join("t.csv");
        std::fs::write(&bad, "subscriber,day\n+886912345678,2026-13-01\n").unwrap();
        let e = GroundTruth::read_csv(&bad).unwrap_err();
        assert!(
            matches!(e, GenError::Truth { row: 1, .. }) && e.to_string().contains("t.csv"),
            "{e}"
        );
    }
}
