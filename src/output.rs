//! Scan results -> `.csv`, `.jsonl`, `.parquet`, or `-` (CSV on stdout), sorted by subscriber.
//!
//! Columns (REFERENCE.md §9): `subscriber, anomaly_detected, anomaly_date, anomalous_days,
//! first_anomaly_date`; with `--explain`, a sixth column `days` lists the counts behind the
//! verdict as `YYYY-MM-DD:hot/total` for each day of W with selected events, `;`-separated.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::detect::Window;
use crate::detect::rules::ScanRow;
use crate::error::{Error, Result};
use crate::staged::Staged;
use hotzone_kernel::api::explain_days;

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
    /// `-` is CSV on stdout; otherwise by extension, and a destination with none of them
    /// that is written as it comes (`staged::written_directly`: a device, a FIFO or a socket
    /// such as `/dev/null` or a named pipe, or a process's stream such as `/dev/stdout`, even
    /// redirected to a file) is CSV too, as stdout is.
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
            _ if crate::staged::written_directly(Path::new(path)) => Ok(OutputFormat::Csv),
            _ => Err(Error::invalid(
                "--output",
                format!(
                    "{path:?} must end in .csv, .jsonl or .parquet, or be - or a device or FIFO (CSV)"
                ),
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
        days: row.days.as_ref().map(|days| explain_days(days, w)),
    }
}

fn fmt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Writes rows to `path` (`-` = stdout) in the format its name says.
///
/// `window` is `None` only for a scan without one (no accepted row), which has no rows.
///
/// A file is written under a temporary name ([`Staged`]) that the caller commits once every
/// output of the run is written (`None`: the rows went to stdout).
pub fn write(
    path: &str,
    rows: &[ScanRow],
    window: Option<&Window>,
    explain: bool,
) -> Result<Option<Staged>> {
    // Dates are formatted from the window's days; a scan without a window has no row to date.
    let none = Window::new(chrono_tz::Tz::UTC, chrono::NaiveDate::default(), 1);
    let window = window.unwrap_or(&none);
    let format = OutputFormat::of(path)?;
    let p = Path::new(path);
    let io = |e: std::io::Error| Error::write(p, e);
    let staged = if path == "-" {
        None
    } else {
        Some(Staged::new(p)?)
    };
    match format {
        OutputFormat::Parquet => {
            let file = staged.as_ref().map_or(p, |s| s.path());
            write_parquet(file, p, rows, window, explain)?;
        }
        OutputFormat::Csv | OutputFormat::Jsonl => {
            let sink: Box<dyn Write> = match &staged {
                None => Box::new(std::io::stdout().lock()),
                Some(s) => Box::new(File::create(s.path()).map_err(io)?),
            };
            let mut out = BufWriter::with_capacity(1 << 20, sink);
            if format == OutputFormat::Csv {
                write_csv(&mut out, rows, window, explain).map_err(io)?;
            } else {
                write_jsonl(&mut out, rows, window).map_err(io)?;
            }
            out.flush().map_err(io)?;
        }
    }
    Ok(staged)
}

/// Rows formatted per task of the CSV writer; a group of 16 tasks is written at a time, so
/// the buffered bytes stay at a few MB whatever the number of rows.
const CSV_TASK_ROWS: usize = 1 << 14;

/// CSV rows are formatted in parallel into byte buffers (dates come from a table of the
/// window's days, numbers from `itoa`) and written in order: on a million subscribers the
/// writer was the longest single-threaded step of a scan.
fn write_csv(
    out: &mut dyn Write,
    rows: &[ScanRow],
    w: &Window,
    explain: bool,
) -> std::io::Result<()> {
    out.write_all(b"subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date")?;
    out.write_all(if explain { b",days\n" } else { b"\n" })?;
    let dates: Vec<String> = (0..w.days()).map(|i| fmt_date(Some(w.date(i)))).collect();
    for group in rows.chunks(CSV_TASK_ROWS * 16) {
        let bufs: Vec<Vec<u8>> = group
            .par_chunks(CSV_TASK_ROWS)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 48);
                for row in chunk {
                    csv_row(&mut buf, row, &dates, explain);
                }
                buf
            })
            .collect();
        for buf in bufs {
            out.write_all(&buf)?;
        }
    }
    Ok(())
}

/// One CSV line: the same cells as [`cells`], formatted without allocating.
fn csv_row(buf: &mut Vec<u8>, row: &ScanRow, dates: &[String], explain: bool) {
    let mut num = itoa::Buffer::new();
    let date = |d: Option<u16>| d.map_or("", |i| dates[usize::from(i)].as_str());
    buf.push(b'+');
    buf.extend_from_slice(num.format(row.subscriber.value()).as_bytes());
    buf.extend_from_slice(if row.verdict.detected() {
        b",true,"
    } else {
        b",false,"
    });
    buf.extend_from_slice(date(row.verdict.last).as_bytes());
    buf.push(b',');
    buf.extend_from_slice(num.format(row.verdict.anomalous_days).as_bytes());
    buf.push(b',');
    buf.extend_from_slice(date(row.verdict.first).as_bytes());
    if explain {
        buf.push(b',');
        let days = row.days.as_deref().unwrap_or_default();
        let mut sep = false;
        for (i, c) in days.iter().enumerate().filter(|(_, c)| c.total > 0) {
            if std::mem::replace(&mut sep, true) {
                buf.push(b';');
            }
            buf.extend_from_slice(dates[i].as_bytes());
            buf.push(b':');
            buf.extend_from_slice(num.format(c.hot).as_bytes());
            buf.push(b'/');
            buf.extend_from_slice(num.format(c.total).as_bytes());
        }
    }
    buf.push(b'\n');
}

/// One JSON line: the keys in the order of the CSV columns (REFERENCE.md §9).
#[derive(serde::Serialize)]
struct JsonRow {
    subscriber: String,
    anomaly_detected: bool,
    anomaly_date: Option<String>,
    anomalous_days: u32,
    first_anomaly_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    days: Option<String>,
}

fn write_jsonl(out: &mut dyn Write, rows: &[ScanRow], w: &Window) -> std::io::Result<()> {
    for row in rows {
        let c = cells(row, w);
        let line = JsonRow {
            subscriber: c.subscriber,
            anomaly_detected: c.detected,
            anomaly_date: c.date.map(|d| d.to_string()),
            anomalous_days: c.anomalous_days,
            first_anomaly_date: c.first.map(|d| d.to_string()),
            days: c.days,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes the rows to `file` (errors name `p`, the output the user gave).
fn write_parquet(file: &Path, p: &Path, rows: &[ScanRow], w: &Window, explain: bool) -> Result<()> {
    let batch = hotzone_kernel::api::verdict_batch(rows, Some(w), explain);
    let file = File::create(file).map_err(|e| Error::write(p, e))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
        .map_err(|e| Error::write(p, e))?;
    writer.write(&batch).map_err(|e| Error::write(p, e))?;
    writer.close().map_err(|e| Error::write(p, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DayCounts, Verdict};
    use crate::model::Msisdn;

    fn csv_of(rows: &[ScanRow], explain: bool) -> String {
        let w = Window::new(
            chrono_tz::Europe::Berlin,
            NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
            3,
        );
        let mut out = Vec::new();
        write_csv(&mut out, rows, &w, explain).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn row(sub: u64, first: Option<u16>, last: Option<u16>, n: u32) -> ScanRow {
        let c = |hot, total| DayCounts { hot, total };
        ScanRow {
            subscriber: Msisdn::from_value(sub).unwrap(),
            verdict: Verdict {
                anomalous_days: n,
                first,
                last,
            },
            days: Some(vec![c(1, 2), c(0, 0), c(5, 5)]),
        }
    }

    #[test]
    fn csv_rows_in_order_with_dates_of_the_window_and_the_explained_days() {
        let rows = [
            row(886912345001, Some(0), Some(2), 2),
            row(886912345002, None, None, 0),
        ];
        assert_eq!(
            csv_of(&rows, false),
            "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
             +886912345001,true,2026-03-30,2,2026-03-28\n\
             +886912345002,false,,0,\n"
        );
        assert!(csv_of(&rows, true).ends_with(
            ",days\n+886912345001,true,2026-03-30,2,2026-03-28,2026-03-28:1/2;2026-03-30:5/5\n\
             +886912345002,false,,0,,2026-03-28:1/2;2026-03-30:5/5\n"
        ));
        // More rows than one formatting task, and than one group of tasks: order is kept.
        let many: Vec<ScanRow> = (0..(CSV_TASK_ROWS * 16 + 5) as u64)
            .map(|i| row(886_900_000_000 + i, None, None, 0))
            .collect();
        let text = csv_of(&many, false);
        let subs: Vec<&str> = text.lines().skip(1).map(|l| &l[..13]).collect();
        assert_eq!(subs.len(), many.len());
        assert!(subs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(subs[0], "+886900000000");
    }
}
