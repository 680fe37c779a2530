//! Scan results -> `.csv`, `.jsonl`, `.parquet`, or `-` (CSV on stdout), sorted by subscriber.
//!
//! Columns (SPEC §7): `subscriber, anomaly_detected, anomaly_date, anomalous_days,
//! first_anomaly_date`; with `--explain`, a sixth column `days` lists the counts behind the
//! verdict as `YYYY-MM-DD:hot/total` for each day of W with selected events, `;`-separated.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use crate::detect::Window;
use crate::error::{Error, Result};
use crate::scan::ScanRow;

/// Output format, from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Parquet (dates as Date32).
    Parquet,
}

impl OutputFormat {
    /// `-` is CSV on stdout; otherwise by extension.
    pub fn of(path: &str) -> Result<OutputFormat> {
        if path == "-" {
            return Ok(OutputFormat::Csv);
        }
        match Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(OutputFormat::Csv),
            Some("jsonl") | Some("ndjson") => Ok(OutputFormat::Jsonl),
            Some("parquet") => Ok(OutputFormat::Parquet),
            _ => Err(Error::invalid(
                "--output",
                format!("{path:?} must end in .csv, .jsonl or .parquet, or be -"),
            )),
        }
    }
}

struct Cells {
    subscriber: String,
    detected: bool,
    date: Option<NaiveDate>,
    anomalous_days: u32,
    first: Option<NaiveDate>,
    days: Option<String>,
}

fn cells(row: &ScanRow, w: &Window) -> Cells {
    let date = |d: Option<u16>| d.map(|i| w.date(usize::from(i)));
    Cells {
        subscriber: row.subscriber.to_string(),
        detected: row.verdict.detected(),
        date: date(row.verdict.last),
        anomalous_days: row.verdict.anomalous_days,
        first: date(row.verdict.first),
        days: row.days.as_ref().map(|days| {
            days.iter()
                .enumerate()
                .filter(|(_, c)| c.total > 0)
                .map(|(i, c)| format!("{}:{}/{}", w.date(i), c.hot, c.total))
                .collect::<Vec<_>>()
                .join(";")
        }),
    }
}

fn fmt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Writes rows to `path` (`-` = stdout) in the format its name says.
pub fn write(path: &str, rows: &[ScanRow], window: &Window, explain: bool) -> Result<()> {
    let format = OutputFormat::of(path)?;
    let p = Path::new(path);
    let io = |e: std::io::Error| Error::io(p, e);
    match format {
        OutputFormat::Parquet => write_parquet(p, rows, window, explain),
        OutputFormat::Csv | OutputFormat::Jsonl => {
            let sink: Box<dyn Write> = if path == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(File::create(p).map_err(io)?)
            };
            let mut out = BufWriter::with_capacity(1 << 20, sink);
            if format == OutputFormat::Csv {
                write_csv(&mut out, rows, window, explain).map_err(io)?;
            } else {
                write_jsonl(&mut out, rows, window).map_err(io)?;
            }
            out.flush().map_err(io)
        }
    }
}

fn write_csv(
    out: &mut dyn Write,
    rows: &[ScanRow],
    w: &Window,
    explain: bool,
) -> std::io::Result<()> {
    out.write_all(b"subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date")?;
    out.write_all(if explain { b",days\n" } else { b"\n" })?;
    for row in rows {
        let c = cells(row, w);
        write!(
            out,
            "{},{},{},{},{}",
            c.subscriber,
            c.detected,
            fmt_date(c.date),
            c.anomalous_days,
            fmt_date(c.first)
        )?;
        match c.days {
            Some(d) if explain => writeln!(out, ",{d}")?,
            _ => writeln!(out)?,
        }
    }
    Ok(())
}

fn write_jsonl(out: &mut dyn Write, rows: &[ScanRow], w: &Window) -> std::io::Result<()> {
    for row in rows {
        let c = cells(row, w);
        let mut obj = serde_json::json!({
            "subscriber": c.subscriber,
            "anomaly_detected": c.detected,
            "anomaly_date": c.date.map(|d| d.to_string()),
            "anomalous_days": c.anomalous_days,
            "first_anomaly_date": c.first.map(|d| d.to_string()),
        });
        if let Some(d) = c.days {
            obj["days"] = serde_json::Value::String(d);
        }
        serde_json::to_writer(&mut *out, &obj)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn write_parquet(p: &Path, rows: &[ScanRow], w: &Window, explain: bool) -> Result<()> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let d32 = |d: Option<NaiveDate>| d.map(|d| (d - epoch).num_days() as i32);
    let all: Vec<Cells> = rows.iter().map(|r| cells(r, w)).collect();
    let mut fields = vec![
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("anomaly_detected", DataType::Boolean, false),
        Field::new("anomaly_date", DataType::Date32, true),
        Field::new("anomalous_days", DataType::UInt32, false),
        Field::new("first_anomaly_date", DataType::Date32, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            all.iter().map(|c| c.subscriber.as_str()),
        )),
        Arc::new(BooleanArray::from_iter(
            all.iter().map(|c| Some(c.detected)),
        )),
        Arc::new(Date32Array::from_iter(all.iter().map(|c| d32(c.date)))),
        Arc::new(UInt32Array::from_iter_values(
            all.iter().map(|c| c.anomalous_days),
        )),
        Arc::new(Date32Array::from_iter(all.iter().map(|c| d32(c.first)))),
    ];
    if explain {
        fields.push(Field::new("days", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from_iter(
            all.iter().map(|c| c.days.as_deref()),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let file = File::create(p).map_err(|e| Error::io(p, e))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
        .map_err(|e| Error::read(p, e))?;
    writer.write(&batch).map_err(|e| Error::read(p, e))?;
    writer.close().map_err(|e| Error::read(p, e))?;
    Ok(())
}
