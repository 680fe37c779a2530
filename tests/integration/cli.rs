//! `hotzone scan` end to end: input formats, directories and globs, column mapping, corrupt
//! files, output formats, `--as-of` default, `--explain`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;

const HEADER: &str = "event_time,subscriber,counterparty,direction,kind,duration_s";

/// Three hot calls for 001 and a domestic one; a domestic call for 002 (SHARE 0.5 -> 001 anomalous).
const ROWS: &[&str] = &[
    "2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60",
    "2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,61",
    "2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,call,62",
    "2026-03-10T12:03:00Z,+886912345001,+886221234567,in,call,63",
    "2026-03-09T12:00:00Z,+886912345002,+886221234567,out,sms,",
];

const EXPECTED: &str = "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
+886912345001,true,2026-03-10,1,2026-03-10\n\
+886912345002,false,,0,\n";

fn hotzone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(args)
        .output()
        .unwrap()
}

/// `hotzone scan` with the tests' query for `hotzone` (2 days, SHARE 0.5, UTC); inputs and
/// other flags are the caller's.
fn scan_command(hotzone: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotzone"));
    c.arg("scan").args([
        "--hotzone",
        hotzone,
        "--look-back-days",
        "2",
        "--threshold-ratio",
        "0.5",
        "--tz",
        "UTC",
    ]);
    c
}

fn scan(inputs: &[&Path], extra: &[&str]) -> Output {
    scan_command("NG")
        .args(inputs)
        .args(extra)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn write_csv(path: &Path, header: &str, rows: &[&str]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
}

fn batch() -> RecordBatch {
    batch_of(ROWS)
}

/// `rows` (as [`ROWS`]) as a record batch whose subscriber column is named `msisdn`.
fn batch_of(rows: &[&str]) -> RecordBatch {
    let cols: Vec<Vec<&str>> = rows.iter().map(|r| r.split(',').collect()).collect();
    let ms: Vec<i64> = cols
        .iter()
        .map(|c| {
            chrono::DateTime::parse_from_rfc3339(c[0])
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    let s = |i: usize| -> ArrayRef {
        Arc::new(StringArray::from(
            cols.iter().map(|c| c[i]).collect::<Vec<_>>(),
        ))
    };
    let schema = Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("msisdn", DataType::Utf8, false),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampMillisecondArray::from(ms)),
            s(1),
            s(2),
            s(3),
            s(4),
        ],
    )
    .unwrap()
}

fn write_parquet(path: &Path) {
    write_parquet_of(path, &batch());
}

fn write_parquet_of(path: &Path, b: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

/// A scan of `input` that rejects rows (exit 2) with its rejects written to `rejects`: the
/// rejects file and the verdict rows.
fn scan_with_rejects(input: &Path, rejects: &Path) -> (String, String) {
    let o = scan(
        &[input],
        &["--output", "-", "--rejects", rejects.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(rejects).unwrap();
    (text, String::from_utf8(o.stdout).unwrap())
}

fn write_ipc(path: &Path) {
    write_ipc_with(
        path,
        &batch(),
        arrow::ipc::writer::IpcWriteOptions::default(),
    );
}

fn write_ipc_with(path: &Path, b: &RecordBatch, options: arrow::ipc::writer::IpcWriteOptions) {
    let f = std::fs::File::create(path).unwrap();
    let mut w =
        arrow::ipc::writer::FileWriter::try_new_with_options(f, &b.schema(), options).unwrap();
    w.write(b).unwrap();
    w.finish().unwrap();
}

/// The verdict rows of a scan of `path`, whose subscriber column is named `msisdn`.
fn scan_mapped(path: &Path) -> String {
    stdout(&scan(
        &[path],
        &["--output", "-", "--column", "msisdn=subscriber"],
    ))
}

#[test]
fn csv_parquet_and_ipc_give_the_same_rows_with_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    assert_eq!(stdout(&scan(&[&csv], &["--output", "-"])), EXPECTED);
    let pq = dir.path().join("e.parquet");
    write_parquet(&pq);
    let ipc = dir.path().join("e.arrow");
    write_ipc(&ipc);
    for f in [&pq, &ipc] {
        let o = scan(&[f], &["--output", "-", "--column", "msisdn=subscriber"]);
        assert_eq!(stdout(&o), EXPECTED, "{}", f.display());
        // Without the mapping the file lacks `subscriber`: an error naming the file and the column.
        let o = scan(&[f], &["--output", "-"]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&*f.to_string_lossy()) && err.contains("subscriber"),
            "{err}"
        );
    }
}

/// Headers in another case (`EVENT_TIME`, `Subscriber`, as databases export them) read as the
/// canonical names, in CSV and in Parquet, and a mapping's source name in any case too.
#[test]
fn column_names_in_another_case_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, &HEADER.to_uppercase(), ROWS);
    assert_eq!(stdout(&scan(&[&csv], &["--output", "-"])), EXPECTED);
    let b = batch();
    let upper: Vec<arrow::datatypes::FieldRef> = (b.schema().fields().iter())
        .map(|f| Arc::new(f.as_ref().clone().with_name(f.name().to_uppercase())))
        .collect();
    let b = RecordBatch::try_new(Arc::new(Schema::new(upper)), b.columns().to_vec()).unwrap();
    let pq = dir.path().join("e.parquet");
    write_parquet_of(&pq, &b);
    let o = scan(&[&pq], &["--output", "-", "--column", "msisdn=subscriber"]);
    assert_eq!(stdout(&o), EXPECTED);
    // Without the mapping `MSISDN` is no subscriber: the file lacks the column.
    let o = scan(&[&pq], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("subscriber"));
}

/// A mapping may put one field of the export on two canonical columns: every row, plain or
/// quoted, reads as if the file had the field twice under both names.
#[test]
fn one_field_mapped_to_two_columns() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = ROWS
        .iter()
        .map(|r| {
            let c: Vec<&str> = r.split(',').collect();
            [c[0], c[1], c[3], c[4], c[5]].join(",")
        })
        .collect();
    // The last row quoted: from it on the rows are read by the full CSV reader.
    let mut mapped: Vec<String> = rows.clone();
    let last = mapped.last_mut().unwrap();
    *last = last.replacen(",+", ",\"+", 1).replacen(",out", "\",out", 1);
    let refs: Vec<&str> = mapped.iter().map(String::as_str).collect();
    let csv = dir.path().join("mapped.csv");
    write_csv(&csv, "event_time,msisdn,direction,kind,duration_s", &refs);
    let twice: Vec<String> = ROWS
        .iter()
        .map(|r| {
            let c: Vec<&str> = r.split(',').collect();
            [c[0], c[1], c[1], c[3], c[4], c[5]].join(",")
        })
        .collect();
    let refs: Vec<&str> = twice.iter().map(String::as_str).collect();
    let explicit = dir.path().join("explicit.csv");
    write_csv(&explicit, HEADER, &refs);
    let want = stdout(&scan(&[&explicit], &["--output", "-"]));
    assert!(want.contains("+886912345001,false"), "{want}");
    for threads in ["1", "2"] {
        let o = scan_command("NG")
            .arg(&csv)
            .args(["--output", "-", "--column", "msisdn=subscriber"])
            .args(["--column", "msisdn=counterparty"])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert_eq!(stdout(&o), want, "{threads} threads");
    }
}

#[test]
fn directories_with_hive_partitions_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(
        &dir.path().join("day=2026-03-10/part-0.csv"),
        HEADER,
        &ROWS[..4],
    );
    write_csv(
        &dir.path().join("day=2026-03-09/part-0.csv"),
        HEADER,
        &ROWS[4..],
    );
    std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
    assert_eq!(stdout(&scan(&[dir.path()], &["--output", "-"])), EXPECTED);
    let pattern = format!("{}/day=*/part-*.csv", dir.path().display());
    assert_eq!(
        stdout(&scan(&[Path::new(&pattern)], &["--output", "-"])),
        EXPECTED
    );
}

/// [`ROWS`] without the columns `dropped` (indices of [`HEADER`]), one CSV, Parquet or IPC
/// file per value of those columns under `dir/<col>=<value>/…`, as Spark, Hive, DuckDB and
/// pyarrow write a partitioned table.
fn write_partitioned(dir: &Path, dropped: &[usize], ext: &str) {
    let names: Vec<&str> = HEADER.split(',').collect();
    let mut parts: std::collections::BTreeMap<String, Vec<Vec<&str>>> = Default::default();
    for row in ROWS {
        let cells: Vec<&str> = row.split(',').collect();
        let sub: Vec<String> = (dropped.iter())
            .map(|&c| format!("{}={}", names[c], cells[c]))
            .collect();
        let kept = (0..cells.len()).filter(|c| !dropped.contains(c));
        parts
            .entry(sub.join("/"))
            .or_default()
            .push(kept.map(|c| cells[c]).collect());
    }
    let header: Vec<&str> = (0..names.len())
        .filter(|c| !dropped.contains(c))
        .map(|c| names[c])
        .collect();
    for (sub, rows) in parts {
        let path = dir.join(sub).join(format!("part-0.{ext}"));
        let lines: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        if ext == "csv" {
            write_csv(&path, &header.join(","), &lines);
            continue;
        }
        // The same rows through the Arrow writers, every column text but `event_time`.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let full: Vec<String> = (rows.iter())
            .map(|r| {
                let mut r = r.clone();
                for &c in dropped {
                    r.insert(c, "x");
                }
                r.join(",")
            })
            .collect();
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let b = batch_of(&full);
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|c| !dropped.contains(c))
            .collect();
        let b = b.project(&keep).unwrap();
        match ext {
            "parquet" => write_parquet_of(&path, &b),
            _ => write_ipc_with(&path, &b, Default::default()),
        }
    }
}

/// A table partitioned by required columns (`kind=call/direction=in/part-0.parquet`) holds
/// them in its directory names only: each `key=value` directory is a column of the files
/// below it that lack one of that name, in every format (REFERENCE.md §2).
#[test]
fn hive_partition_values_are_the_columns_files_lack() {
    let dir = tempfile::tempdir().unwrap();
    for (ext, flags) in [
        ("csv", &[][..]),
        ("parquet", &["--column", "msisdn=subscriber"][..]),
        ("arrow", &["--column", "msisdn=subscriber"][..]),
    ] {
        let root = dir.path().join(ext);
        write_partitioned(&root, &[3, 4], ext);
        assert!(root.join("direction=in/kind=call").is_dir());
        let mut args = vec!["--output", "-"];
        args.extend(flags);
        assert_eq!(stdout(&scan(&[&root], &args)), EXPECTED, "{ext}");
        // Selections by kind and direction read the directories' values: the same rows as
        // the flat file's (a wrong directory's value would move rows in or out).
        for select in [["--check-type", "call"], ["--check-target", "outgoing"]] {
            let flat = dir.path().join("flat.csv");
            write_csv(&flat, HEADER, ROWS);
            let want = stdout(&scan(&[&flat], &[&["--output", "-"][..], &select].concat()));
            let mut with = args.clone();
            with.extend(select);
            assert_eq!(stdout(&scan(&[&root], &with)), want, "{ext} {select:?}");
        }
        // A file given alone takes the values of its own path's directories.
        let one = root
            .join("direction=out/kind=sms")
            .join(format!("part-0.{ext}"));
        let want = "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
                    +886912345002,false,,0,\n";
        assert_eq!(stdout(&scan(&[&one], &args)), want, "{ext}");
    }
    // Without the directories the columns are missing: the error names them.
    let flat = dir.path().join("flat.csv");
    std::fs::copy(
        dir.path().join("csv/direction=in/kind=call/part-0.csv"),
        &flat,
    )
    .unwrap();
    let o = scan(&[&flat], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("missing required column(s) direction, kind"),
        "{said}"
    );
}

/// Directories that give every required column do not decide a CSV file's separator: a
/// `;` file below them is read by its own header, its counterparties kept (a comma read
/// took the header as one column and dropped them in silence).
#[test]
fn a_semicolon_file_below_directories_of_every_required_column_keeps_its_own_columns() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir.path().join(
        "t/subscriber=%2B886912345001/event_time=2026-03-10T12:00:00Z/kind=call/direction=in",
    );
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::write(
        leaf.join("p.csv"),
        "counterparty;duration_s\n+2348021234567;10\n+2348021234568;20\n+2348021234569;30\n",
    )
    .unwrap();
    let o = scan(&[&dir.path().join("t")], &["--output", "-"]);
    assert!(
        stdout(&o).contains("+886912345001,true,2026-03-10,1,2026-03-10"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A file's own column wins over a directory of its name, in any case; a directory's
/// escaped value is unescaped; a mapping finds a directory's key as it finds a column; a
/// bad or null value is a cell like any other, each row rejected with its file and row.
#[test]
fn hive_partition_values_are_cells_under_the_row_rules() {
    let dir = tempfile::tempdir().unwrap();
    // `KIND=fax/` above files whose own `kind` says call or sms: the files win (a `fax`
    // read would reject every row, exit 2).
    let own = dir.path().join("own");
    write_csv(&own.join("KIND=fax/part-0.csv"), HEADER, ROWS);
    assert_eq!(stdout(&scan(&[&own], &["--output", "-"])), EXPECTED);
    // A file that fills `kind` itself under a report's `type=monthly/` directory, scanned
    // with `--column type=kind` (for other files that name it `type`): the file's column.
    let report = dir.path().join("report");
    write_csv(&report.join("type=monthly/calls.csv"), HEADER, ROWS);
    let o = scan(&[&report], &["--output", "-", "--column", "type=kind"]);
    assert_eq!(stdout(&o), EXPECTED);
    // A header of blank names keeps its own error below directories.
    let blank = dir.path().join("blank/kind=call/p.csv");
    std::fs::create_dir_all(blank.parent().unwrap()).unwrap();
    std::fs::write(&blank, "\u{feff}\n").unwrap();
    let o = scan(&[&blank], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(1));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("the file names no column"), "{said}");
    // `%69n` is `in`; `type=call` is `kind` under `--column type=kind`.
    let esc = dir.path().join("esc");
    let header = "event_time,subscriber,counterparty,duration_s";
    let rows: Vec<String> = (ROWS[..4].iter())
        .map(|r| {
            let c: Vec<&str> = r.split(',').collect();
            [c[0], c[1], c[2], c[5]].join(",")
        })
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    write_csv(
        &esc.join("direction=%69n/type=call/part-0.csv"),
        header,
        &rows,
    );
    let o = scan(&[&esc], &["--output", "-", "--column", "type=kind"]);
    assert!(
        stdout(&o).contains("+886912345001,true,2026-03-10,1,2026-03-10"),
        "{}",
        stdout(&o)
    );
    // A bad value and a null one (Hive's and Spark's `__HIVE_DEFAULT_PARTITION__`).
    for (value, reason) in [
        ("fax", "bad_kind"),
        ("__HIVE_DEFAULT_PARTITION__", "missing_kind"),
    ] {
        let bad = dir.path().join(format!("bad-{reason}"));
        let file = bad.join(format!("direction=in/kind={value}/part-0.csv"));
        write_csv(&file, header, &rows);
        let (rejects, verdicts) = scan_with_rejects(&bad, &dir.path().join("rejects.csv"));
        assert_eq!(
            verdicts,
            "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n"
        );
        let listed: Vec<&str> = rejects.lines().skip(1).collect();
        assert_eq!(listed.len(), 4, "{rejects}");
        for (i, line) in listed.iter().enumerate() {
            assert!(line.contains(&format!(",{},{reason}", i + 1)), "{line}");
            assert!(line.contains("part-0.csv"), "{line}");
        }
    }
    // A directory whose name is not UTF-8 is a partition too: its value is a cell that
    // breaks its field's rule (as a CSV cell that is not UTF-8), never a directory skipped.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = dir.path().join("bad-utf8");
        let kind = std::ffi::OsStr::from_bytes(b"kind=s\xffs");
        write_csv(
            &bad.join("direction=in").join(kind).join("p.csv"),
            header,
            &rows,
        );
        let (rejects, verdicts) = scan_with_rejects(&bad, &dir.path().join("rejects-u.csv"));
        assert_eq!(verdicts.lines().count(), 1, "{verdicts}");
        let listed: Vec<&str> = rejects.lines().skip(1).collect();
        assert_eq!(listed.len(), 4, "{rejects}");
        for (i, line) in listed.iter().enumerate() {
            assert!(line.contains(&format!(",{},bad_kind", i + 1)), "{line}");
            assert!(line.contains("kind=s\\xFFs"), "{line}");
        }
    }
}

#[test]
fn as_of_defaults_to_the_latest_day_in_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let out = stdout(&scan(&[&csv], &["--output", "-"]));
    assert!(out.contains("2026-03-10"));
    // One day earlier: only 002's day is in a 1-day window.
    let o = scan(&[&csv], &["--output", "-", "--as-of", "2026-03-09"]);
    assert_eq!(stdout(&o).lines().count(), 2);
}

#[test]
fn corrupt_and_unknown_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.parquet");
    std::fs::write(&bad, b"PAR1 this is not parquet").unwrap();
    let o = scan(&[&bad], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.parquet"));
    assert!(o.stdout.is_empty());
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "x").unwrap();
    let o = scan(&[&txt], &["--output", "-"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("notes.txt"));
    let o = scan(&[&dir.path().join("missing.csv")], &["--output", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    // The file once, and the cause once (it used to read "entity not found: entity not found").
    assert_eq!(err.matches("missing.csv").count(), 1, "{err}");
    assert_eq!(err.matches("no such file or directory").count(), 1, "{err}");
}

#[test]
fn output_formats_follow_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let out = |name: &str| -> PathBuf { dir.path().join(name) };
    assert!(
        scan(&[&csv], &["--output", out("v.csv").to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(out("v.csv")).unwrap(), EXPECTED);
    assert!(
        scan(&[&csv], &["--output", out("v.jsonl").to_str().unwrap()])
            .status
            .success()
    );
    let jsonl = std::fs::read_to_string(out("v.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["subscriber"], "+886912345001");
    assert_eq!(first["anomaly_detected"], true);
    assert_eq!(first["anomaly_date"], "2026-03-10");
    let second: serde_json::Value = serde_json::from_str(jsonl.lines().nth(1).unwrap()).unwrap();
    assert!(second["anomaly_date"].is_null());
    // keys in the order of the CSV columns (they were alphabetical)
    let line = jsonl.lines().next().unwrap();
    let at: Vec<usize> = EXPECTED
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(|k| line.find(&format!("\"{k}\":")).expect(k))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(
        scan(&[&csv], &["--output", out("v.parquet").to_str().unwrap()])
            .status
            .success()
    );
    let f = std::fs::File::open(out("v.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    assert_eq!(batches[0].schema().field(2).data_type(), &DataType::Date32);
    let o = scan(&[&csv], &["--output", out("v.xlsx").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--output"));
}

#[test]
fn explain_shows_the_counts_behind_each_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let out = stdout(&scan(&[&csv], &["--output", "-", "--explain"]));
    assert!(out.starts_with(
        "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date,days\n"
    ));
    assert!(
        out.contains("+886912345001,true,2026-03-10,1,2026-03-10,2026-03-10:3/4\n"),
        "{out}"
    );
    assert!(
        out.contains("+886912345002,false,,0,,2026-03-09:0/1\n"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_1_so_that_2_only_means_rejected_rows() {
    let o = hotzone(&["scan", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--no-such-flag"));
    assert_eq!(hotzone(&["--help"]).status.code(), Some(0));
}

#[test]
fn invalid_parameters_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    for (extra, needle) in [
        (vec!["--hotzone", "XX"], "hotzone"),
        (vec!["--threshold-ratio", "1.5"], "threshold_ratio"),
        (vec!["--look-back-days", "91"], "look_back_days"),
        (vec!["--min-events", "0"], "min_events"),
        (vec!["--as-of", "10/03/2026"], "as_of"),
    ] {
        let mut args = vec!["scan", csv.to_str().unwrap(), "--output", "-"];
        let mut base = vec![
            "--hotzone",
            "NG",
            "--look-back-days",
            "2",
            "--threshold-ratio",
            "0.5",
        ];
        for pair in extra.chunks(2) {
            let pos = base.iter().position(|a| *a == pair[0]);
            match pos {
                Some(p) => base[p + 1] = pair[1],
                None => base.extend_from_slice(pair),
            }
        }
        args.extend(base);
        let o = hotzone(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `hotzone prepare INPUT --output OUTPUT`, which must succeed; its output.
fn prepare(input: &Path, output: &Path) -> Output {
    let o = hotzone(&[
        "prepare",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Rows come in the order of the subscribers' text (`+336…` before `+49…` before `+886…`),
/// from the export and from its prepared form, though numbers of different lengths order
/// otherwise as integers (the maps' and the index's order).
#[test]
fn rows_are_in_the_order_of_the_subscribers_text() {
    let dir = tempfile::tempdir().unwrap();
    let subs = [
        "+886912345000",
        "+4930123456",
        "+8821612345678",
        "+33612345678901",
        "+49301234",
        "+493012340",
        "+1202555010",
    ];
    let rows: Vec<String> = subs
        .iter()
        .map(|s| format!("2026-03-10T12:00:00Z,{s},+2348021234567,in,call,60"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, &rows);
    let mut want: Vec<&str> = subs.to_vec();
    want.sort();
    let firsts = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(firsts(&scan(&[&csv], &["--output", "-"])), want);
    let hzi = dir.path().join("e.hzi");
    prepare(&csv, &hzi);
    assert_eq!(firsts(&scan(&[&hzi], &["--output", "-"])), want);
}

/// A scan or prepare never writes over an export, nor puts two outputs in one file, and an
/// error leaves no output: the adversarial pass lost an export to `scan x.csv --output
/// x.csv` (exit 2), to `--rejects x.csv`, kept only the rejects of `--output f --rejects f`,
/// and left a verdict file behind an exit 1 when the rejects could not be written.
#[test]
fn outputs_never_replace_an_input_or_each_other_and_an_error_leaves_none() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(
        &csv,
        HEADER,
        &[ROWS[0], ROWS[1], "2026-03-10T12:00:00Z,,+1,in,call,1"],
    );
    let before = std::fs::read(&csv).unwrap();
    let c = csv.to_str().unwrap();
    let out = dir.path().join("out.csv");
    let o = out.to_str().unwrap();
    let same_dir = format!("{}/./e.csv", dir.path().display());
    for args in [
        vec!["--output", c],
        vec!["--output", o, "--rejects", c],
        vec!["--output", &same_dir],
    ] {
        let r = scan(&[&csv], &args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&r.stderr).contains("is also an input"),
            "{args:?}"
        );
    }
    // A directory input holding the file counts too.
    let r = scan(&[dir.path()], &["--output", c]);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    let both = dir.path().join("both.csv");
    let b = both.to_str().unwrap();
    for r in [
        scan(&[&csv], &["--output", b, "--rejects", b]),
        hotzone(&["prepare", c, "--output", b, "--rejects", b]),
    ] {
        assert_eq!(r.status.code(), Some(1));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("is also --output"), "{err}");
        assert!(!both.exists());
    }
    // Rejects that cannot be written: exit 1, and no verdict file either; nor verdicts on
    // stdout (a helper's pass: they were printed, then the run failed), nor rejects on
    // stdout when the verdicts cannot be written.
    let r = scan(
        &[&csv],
        &["--output", o, "--rejects", "/nonexistent-dir/r.csv"],
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(!out.exists(), "an output written behind an error");
    for args in [
        ["--output", "-", "--rejects", "/nonexistent-dir/r.csv"],
        ["--output", "/nonexistent-dir/o.csv", "--rejects", "-"],
    ] {
        let r = scan(&[&csv], &args);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        assert!(
            r.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&r.stdout)
        );
    }
    // An output not there yet inside an input directory (or matched by an input glob) is
    // refused: the next scan of the same inputs would read it as events (a helper's pass).
    let apart = tempfile::tempdir().unwrap();
    let sub = apart.path().join("exp");
    write_csv(&sub.join("a.csv"), HEADER, &[ROWS[0]]);
    let inside = sub.join("verdicts.csv");
    let glob = sub.join("*.csv");
    for (input, flag) in [(&sub, "--output"), (&sub, "--rejects"), (&glob, "--output")] {
        let other = apart.path().join("elsewhere.csv");
        let args = match flag {
            "--output" => ["--output", inside.to_str().unwrap(), "--rejects", "-"],
            _ => [
                "--output",
                other.to_str().unwrap(),
                "--rejects",
                inside.to_str().unwrap(),
            ],
        };
        let r = scan(&[input], &args);
        assert_eq!(r.status.code(), Some(1), "{flag}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("is inside the input"), "{flag}: {err}");
        assert!(!inside.exists() && !other.exists());
    }
    // However the output is spelled (a glob matches the text it is given).
    let dotted = format!("{}/./exp/verdicts.csv", apart.path().display());
    let r = scan(&[&glob], &["--output", &dotted]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // Outside any input, or a name a scan does not read, it is written.
    let jsonl = sub.join("verdicts.jsonl");
    let r = scan(&[&sub], &["--output", jsonl.to_str().unwrap()]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::remove_file(&jsonl).unwrap();
    // A good run leaves exactly its two files (no temporary one).
    let rej = dir.path().join("r.csv");
    let r = scan(
        &[&csv],
        &["--output", o, "--rejects", rej.to_str().unwrap()],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(out.exists() && rej.exists());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["e.csv", "out.csv", "r.csv"]);
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    // A prepared file is scanned alone: with other inputs (or twice) the error says so.
    let hzi = dir.path().join("p.hzi");
    let r = hotzone(&["prepare", c, "--output", hzi.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2)); // one rejected row
    // Its scan says where the rejected row went (it said "rows read … rejected 0").
    let r = scan(&[hzi.as_path()], &["--output", "-"]);
    assert_eq!(r.status.code(), Some(0));
    let said = String::from_utf8_lossy(&r.stderr);
    assert!(
        said.contains(
            "1 prepared file (its rows were read, and rejected ones reported, by prepare)"
        ),
        "{said}"
    );
    let renamed = dir.path().join("p-copy.csv");
    std::fs::copy(&hzi, &renamed).unwrap();
    // Also when a directory walk finds it under an export's name: named for what it is, not
    // read as a CSV file with its binary bytes quoted in the error.
    let walked = dir.path().join("walked");
    std::fs::create_dir(&walked).unwrap();
    std::fs::copy(&csv, walked.join("a.csv")).unwrap();
    std::fs::copy(&hzi, walked.join("b.csv")).unwrap();
    let cases: [Vec<&std::path::Path>; 4] = [
        vec![&hzi, &hzi],
        vec![&hzi, &csv],
        vec![&csv, &renamed],
        vec![&walked],
    ];
    for inputs in cases {
        let r = scan(&inputs, &["--output", "-"]);
        assert_eq!(r.status.code(), Some(1));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains("is a prepared file (`hotzone prepare`), not an export: a scan reads one prepared file alone"),
            "{err}"
        );
        assert!(
            !err.contains("HZIDX") && !err.contains("columns found"),
            "{err}"
        );
    }
    let never = dir.path().join("never.hzi");
    let r = hotzone(&[
        "prepare",
        walked.to_str().unwrap(),
        "--output",
        never.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(!never.exists());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("b.csv") && err.contains("is a prepared file"),
        "{err}"
    );
    std::fs::remove_dir_all(&walked).unwrap();
    std::fs::remove_file(&renamed).unwrap();
    // A prepared file changed after it was written: exit 1 naming the file and the part whose
    // checksum fails, nothing written.
    let mut bytes = std::fs::read(&hzi).unwrap();
    let last = bytes.len() - 1; // the last part's checksum: the dictionary digit counts'
    bytes[last] ^= 0x10;
    std::fs::write(&hzi, &bytes).unwrap();
    let out = dir.path().join("from-changed.csv");
    let r = scan(&[hzi.as_path()], &["--output", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("p.hzi")
            && err.contains("the checksum of its dictionary digit counts does not match"),
        "{err}"
    );
    assert!(!out.exists());
    std::fs::remove_file(&hzi).unwrap();
    // `prepare --output -` is refused: a prepared file is binary.
    let r = hotzone(&["prepare", c, "--output", "-"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(!Path::new("-").exists());
}

/// `prepare` refuses an output that is one of its inputs (named, or found in a directory):
/// it used to read the export and write the index over it. The export is left as it was,
/// and no temporary file is left beside it.
#[test]
fn prepare_never_writes_over_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let before = std::fs::read(&csv).unwrap();
    for input in [csv.to_str().unwrap(), dir.path().to_str().unwrap()] {
        let o = hotzone(&["prepare", input, "--output", csv.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("e.csv is also an input"), "{err}");
        assert_eq!(std::fs::read(&csv).unwrap(), before);
    }
    let prepared = dir.path().join("e.hzi");
    prepare(&csv, &prepared);
    let names: Vec<String> = (std::fs::read_dir(dir.path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// `prepare` and `scan --rejects` into named pipes: written as they come (a reader gets the
/// same bytes as from files) and left pipes; the index's fsync, which a pipe refuses, is not
/// asked of them (`prepare --output` to a FIFO failed after writing everything). A scan's
/// `--output` into a pipe or device with no format's extension is CSV, as `-` is (it was
/// refused for its name).
#[cfg(unix)]
#[test]
fn outputs_into_named_pipes_are_written_through_and_stay_pipes() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in").join("e.csv");
    std::fs::create_dir(csv.parent().unwrap()).unwrap();
    write_csv(&csv, HEADER, ROWS);
    let fifo = |name: &str| {
        let p = dir.path().join(name);
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&p)
                .status()
                .unwrap()
                .success()
        );
        let reader = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                std::fs::File::open(&p)
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap();
                got
            })
        };
        (p, reader)
    };
    let (hzi, got_hzi) = fifo("e.hzi");
    let o = hotzone(&[
        "prepare",
        csv.to_str().unwrap(),
        "--output",
        hzi.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_pipe = got_hzi.join().unwrap();
    let file = dir.path().join("f.hzi");
    prepare(&csv, &file);
    assert_eq!(from_pipe, std::fs::read(&file).unwrap());
    let (rejects, got_rejects) = fifo("rejects.csv");
    let out = dir.path().join("v.csv");
    let o = scan(
        &[csv.as_path()],
        &[
            "--output",
            out.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert!(
        o.status.code().is_some_and(|c| c == 0 || c == 2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8(got_rejects.join().unwrap())
            .unwrap()
            .starts_with("file,row,reason")
    );
    let on_stdout = scan(&[csv.as_path()], &["--output", "-"]);
    assert!(
        on_stdout.stdout.starts_with(b"subscriber,"),
        "{on_stdout:?}"
    );
    let (verdicts, got_verdicts) = fifo("verdicts");
    let o = scan(&[csv.as_path()], &["--output", verdicts.to_str().unwrap()]);
    assert_eq!(o.status.code(), on_stdout.status.code());
    assert_eq!(got_verdicts.join().unwrap(), on_stdout.stdout);
    assert!(o.stdout.is_empty());
    let o = scan(&[csv.as_path()], &["--output", "/dev/null"]);
    assert_eq!(o.status.code(), on_stdout.status.code());
    assert!(o.stdout.is_empty());
    // `/dev/stdout` redirected to a regular file: a process's stream, written as `-` is.
    let redirected = dir.path().join("redirected.txt");
    let status = scan_command("NG")
        .arg(&csv)
        .args(["--output", "/dev/stdout"])
        .stdout(std::fs::File::create(&redirected).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), on_stdout.status.code());
    assert_eq!(std::fs::read(&redirected).unwrap(), on_stdout.stdout);
    for p in [&hzi, &rejects, &verdicts] {
        assert!(
            std::fs::metadata(p).unwrap().file_type().is_fifo(),
            "{}",
            p.display()
        );
    }
}

/// `--default-region` and `--column` given to a scan of a prepared file change nothing (its
/// rows were read by `prepare`): said on stderr, where they were passed over in silence.
#[test]
fn reading_flags_given_with_a_prepared_file_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let hzi = dir.path().join("e.hzi");
    prepare(&csv, &hzi);
    let plain = scan(&[&hzi], &["--output", "-"]);
    assert_eq!(stdout(&plain), EXPECTED);
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("warning"));
    let o = scan(
        &[&hzi],
        &[
            "--output",
            "-",
            "--default-region",
            "TW",
            "--column",
            "msisdn=subscriber",
        ],
    );
    assert_eq!(stdout(&o), EXPECTED, "the answer is the prepared file's");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: --default-region and --column change nothing here")
            && err.contains("hotzone prepare"),
        "{err}"
    );
    let one = scan(&[&hzi], &["--output", "-", "--default-region", "TW"]);
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(
        err.contains("warning: --default-region changes nothing here"),
        "{err}"
    );
}

/// A prepared index read in another zone than its own is refused with nothing said before
/// about zones (no "as it records" line, no override warning that the refusal contradicts).
/// A zone that starts each of its days at the same instants (an alias of its zone, or a zone
/// of the same offsets on those days) reads it, with the same rows as its own zone.
#[test]
fn a_prepared_file_in_another_zone_is_refused_with_no_zone_lines_before() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let hzi = dir.path().join("e.hzi");
    let o = hotzone(&[
        "prepare",
        csv.to_str().unwrap(),
        "--output",
        hzi.to_str().unwrap(),
        "--tz",
        "Asia/Taipei",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = hzi.to_str().unwrap();
    let query = [
        "scan",
        h,
        "--hotzone",
        "NG",
        "--look-back-days",
        "2",
        "--threshold-ratio",
        "0.5",
        "--output",
        "-",
    ];
    let o = hotzone(&[&query[..], &["--tz", "Europe/Paris"]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("must be Asia/Taipei for") && err.contains("(got Europe/Paris)"),
        "{err}"
    );
    assert!(!err.contains("warning") && !err.contains("zone:"), "{err}");
    // The prepared file's own zone, given or not, reads it. Not given, the zone line says
    // the file fixed its days (no "--tz overrides": another zone is refused, as above).
    let own = hotzone(&query);
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(own.stdout.len() > "subscriber".len(), "no rows: {own:?}");
    // `ROC` is the zone database's alias of Asia/Taipei; Shanghai has Taipei's offset
    // on every day since 1991: both read it, with its rows, and nothing said of zones.
    for alias in ["ROC", "Asia/Shanghai"] {
        let o = hotzone(&[&query[..], &["--tz", alias]].concat());
        assert!(
            o.status.success(),
            "{alias}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, own.stdout, "{alias}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("warning") && !err.contains("zone:"), "{err}");
    }
    for tz in [&["--tz", "Asia/Taipei"][..], &[]] {
        let o = hotzone(&[&query[..], tz].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, own.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        let line = "zone: Asia/Taipei, as ";
        assert_eq!(err.contains(line), tz.is_empty(), "{err}");
        assert!(!err.contains("--tz overrides"), "{err}");
        if tz.is_empty() {
            assert!(
                err.contains("e.hzi records (its days were fixed by `hotzone prepare`)"),
                "{err}"
            );
        }
    }
}

#[test]
fn corrupt_prepared_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let prepared = dir.path().join("e.hzi");
    prepare(&csv, &prepared);
    assert_eq!(stdout(&scan(&[&prepared], &["--output", "-"])), EXPECTED);
    // Truncate it: the scan must fail naming the file, never answer from half an index.
    let bytes = std::fs::read(&prepared).unwrap();
    std::fs::write(&prepared, &bytes[..bytes.len() - 3]).unwrap();
    let o = scan(&[&prepared], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("e.hzi"));
}

/// A `--hotzones-file` is read and checked even when `--hotzone` is a list: a missing or
/// broken file is an error naming it, never a flag passed over.
#[test]
fn a_hotzones_file_given_is_checked_whatever_the_hotzone() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "west = [\"NG\"]\n").unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "west = [\"NG\"\n").unwrap();
    let missing = dir.path().join("missing.toml");
    let with_file = |f: &Path| {
        scan(
            &[&csv],
            &["--output", "-", "--hotzones-file", f.to_str().unwrap()],
        )
    };
    assert_eq!(stdout(&with_file(&good)), EXPECTED);
    for f in [&broken, &missing] {
        let o = with_file(f);
        assert_eq!(o.status.code(), Some(1), "{}", f.display());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&*f.to_string_lossy()), "{err}");
        assert!(
            o.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn bundled_sample_gives_the_expected_verdicts_and_counts_its_bad_rows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .current_dir(root)
        .args([
            "scan",
            "data/sample",
            "--hotzone",
            "@west_africa_and_sat",
            "--hotzones-file",
            "data/hotzones.toml",
            "--look-back-days",
            "30",
            "--threshold-ratio",
            "0.5",
            "--tz",
            "Asia/Taipei",
            "--output",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "6 rows of the sample are rejected"
    );
    let expected = std::fs::read_to_string(root.join("data/expected_sample_scan.csv")).unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), expected);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 file(s), 3970 rows read, 3964 events"),
        "{err}"
    );
    assert!(err.contains("rejected 6 ("), "{err}");
}

#[test]
fn parquet_dictionary_columns_reject_exactly_like_csv() {
    // Bad values inside dictionary-encoded columns (the Parquet writer's default for strings)
    // must be rejected with the same reasons and rows as the CSV path.
    let lines: Vec<(&str, Option<&str>, &str, &str)> = vec![
        ("2026-03-10T12:00:00Z", Some("+886912345001"), "in", "call"),
        ("2026-03-10T12:01:00Z", None, "in", "call"),
        ("2026-03-10T12:02:00Z", Some("886912345002"), "in", "call"),
        ("2026-03-10T12:03:00Z", Some("+88691234500x"), "in", "call"),
        (
            "2026-03-10T12:04:00Z",
            Some("+886912345001"),
            "sideways",
            "call",
        ),
        ("2026-03-10T12:05:00Z", Some("+886912345001"), "OUT", "fax"),
        ("2026-03-10T12:06:00Z", Some("+886912345001"), "", "sms"),
        ("2026-03-10T12:07:00Z", Some("+886912345001"), "out", "SMS"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let csv_rows: Vec<String> = lines
        .iter()
        .map(|(t, s, d, k)| format!("{t},{},+2348021234567,{d},{k},", s.unwrap_or("")))
        .collect();
    let csv = dir.path().join("e.csv");
    write_csv(
        &csv,
        HEADER,
        &csv_rows.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let ms: Vec<i64> = lines
        .iter()
        .map(|l| {
            chrono::DateTime::parse_from_rfc3339(l.0)
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    let schema = Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("subscriber", DataType::Utf8, true),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
    ]);
    let opt = |v: &str| (!v.is_empty()).then_some(v.to_owned());
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC")),
            Arc::new(StringArray::from(
                lines.iter().map(|l| l.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![Some("+2348021234567"); lines.len()])),
            Arc::new(StringArray::from(
                lines.iter().map(|l| opt(l.2)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                lines.iter().map(|l| opt(l.3)).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let pq = dir.path().join("e.parquet");
    write_parquet_of(&pq, &b);
    let rejects = |input: &Path, name: &str| -> (String, String) {
        let (text, out) = scan_with_rejects(input, &dir.path().join(name));
        let body: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_owned())
            .collect();
        (body.join("\n"), out)
    };
    let (csv_rejects, csv_out) = rejects(&csv, "r1.csv");
    let (pq_rejects, pq_out) = rejects(&pq, "r2.csv");
    assert_eq!(pq_rejects, csv_rejects);
    assert_eq!(pq_out, csv_out);
    // `--rejects -` writes the same rows to stdout (there was a file named `-`); with
    // `--output -` as well it is refused before anything is read.
    let out_file = dir.path().join("out.csv");
    let o = scan(
        &[&csv],
        &["--output", out_file.to_str().unwrap(), "--rejects", "-"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        std::fs::read_to_string(dir.path().join("r1.csv")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), csv_out);
    assert!(!Path::new("-").exists());
    // Both to stdout, by `-` or by its name (they were written into one stream).
    for rejects in ["-", "/dev/stdout"] {
        let o = scan(&[&csv], &["--output", "-", "--rejects", rejects]);
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("both write to stdout"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(
        csv_rejects,
        "2,missing_subscriber,subscriber is missing\n\
         3,subscriber_without_plus_no_default_region,subscriber has no leading '+' and no default region is configured\n\
         4,subscriber_not_e164,\"subscriber is not an E.164 number (^\\+[1-9][0-9]{4,14}$)\"\n\
         5,bad_direction,direction is not 'in' or 'out'\n\
         6,bad_kind,kind is not 'call' or 'sms'\n\
         7,missing_direction,direction is missing"
    );
}

/// REFERENCE.md §2.1: spaces, dashes, dots and brackets between the digits of a `+` number
/// are tolerated, and the same number written either way is one subscriber; a `+` text of
/// fewer than 5 digits is no number (§2.2: unknown, never hot, counted).
#[test]
fn written_numbers_are_one_subscriber_and_short_plus_texts_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("e.csv");
    let rows = [
        "2026-03-10T12:00:00Z,+886912345001,+234 802 123 4567,in,call,60",
        "2026-03-10T12:01:00Z,+886 912 345 001,+234-802-123-4568,in,call,61",
        "2026-03-10T12:02:00Z,+886-912-345-001,+(234) 802.123.4569,in,call,62",
        "2026-03-10T12:03:00Z,+886.912.345.001,+886221234567,in,call,63",
        // Short `+` texts: unknown counterparties, never hot (NG's calling code alone).
        "2026-03-09T12:00:00Z,+886912345002,+234,out,sms,",
        "2026-03-09T12:01:00Z,+886912345002,+2348,out,sms,",
        "2026-03-09T12:02:00Z,+886912345002,+23480,out,sms,",
        "2026-03-09T12:03:00Z,+886912345002,+886221234567,out,sms,",
    ];
    write_csv(&csv, HEADER, &rows);
    let o = scan(&[&csv], &["--output", "-", "--explain"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one row per subscriber however written:\n{out}"
    );
    assert!(
        lines[1].starts_with("+886912345001,true,2026-03-10,"),
        "{out}"
    );
    // 002: `+23480` is a number (5 digits) of NG's calling code: 1 hot of 4, not anomalous.
    assert!(lines[2].starts_with("+886912345002,false,"), "{out}");
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains("8 events") && summary.contains("2 with unknown counterparty"),
        "{summary}"
    );
    // Written with `--hotzone +234`, the short texts are still not hot: 1 of 4 again.
    let o = scan_command("+234")
        .arg(&csv)
        .args(["--output", "-"])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("+886912345002,false,"),
        "{}",
        stdout(&o)
    );
}

/// Arrow IPC files as pyarrow writes them by default (Feather v2 is LZ4-compressed) and with
/// zstd are read like uncompressed ones.
#[test]
fn compressed_ipc_files_are_read() {
    use arrow::ipc::CompressionType;
    use arrow::ipc::writer::IpcWriteOptions;
    let dir = tempfile::tempdir().unwrap();
    for (name, codec) in [
        ("lz4.feather", CompressionType::LZ4_FRAME),
        ("zstd.arrow", CompressionType::ZSTD),
    ] {
        let path = dir.path().join(name);
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(codec))
            .unwrap();
        write_ipc_with(&path, &batch(), options);
        assert_eq!(scan_mapped(&path), EXPECTED, "{name}");
    }
}

/// A compressed IPC buffer that states a length its bytes cannot hold (a file fuzzed, or
/// damaged: a terabyte from a few hundred bytes) is an error naming the file, in a file and
/// in a stream alike. The Arrow reader sets the stated length aside before decompressing
/// with lz4: the allocation failed, which aborted the process (the CLI, and the server
/// loading such a file).
#[test]
fn an_ipc_buffer_stating_more_than_it_can_hold_is_an_error_not_an_abort() {
    use arrow::ipc::CompressionType;
    use arrow::ipc::writer::IpcWriteOptions;
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .unwrap()
    };
    let file = dir.path().join("lz4.arrow");
    write_ipc_with(&file, &batch(), options());
    let stream = dir.path().join("lz4.arrows");
    {
        let f = std::fs::File::create(&stream).unwrap();
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new_with_options(f, &batch().schema(), options())
                .unwrap();
        w.write(&batch()).unwrap();
        w.finish().unwrap();
    }
    for path in [&file, &stream] {
        // A buffer left uncompressed states -1 before its bytes: say a terabyte instead.
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.windows(8).position(|w| w == [0xff; 8]).unwrap();
        bytes[at..at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
        std::fs::write(path, &bytes).unwrap();
        let o = scan(
            &[path.as_path()],
            &["--output", "-", "--column", "msisdn=subscriber"],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("states 1099511627776 bytes"), "{err}");
    }
    // The file reader finds a file's messages by its footer and checks only the trailing
    // magic: with the leading magic damaged (the `data_file` fuzz target's find, which the
    // check walked as a stream and passed), or a message's own length prefix, the claim is
    // still found where the reader will read it.
    let claimed = std::fs::read(&file).unwrap();
    // The schema message's continuation marker (after the magic and its padding).
    let first_message = claimed.windows(4).position(|w| w == [0xff; 4]).unwrap();
    for (what, at, with) in [
        ("leading magic", 0, &b"ARROW5"[..]),
        ("a length prefix", first_message + 4, &[0x7f, 0, 0, 0][..]),
    ] {
        let mut bytes = claimed.clone();
        bytes[at..at + with.len()].copy_from_slice(with);
        let path = dir.path().join("damaged.arrow");
        std::fs::write(&path, &bytes).unwrap();
        let o = scan(
            &[path.as_path()],
            &["--output", "-", "--column", "msisdn=subscriber"],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("states 1099511627776 bytes"), "{what}: {err}");
    }
    // A footer block stating a 16 GiB body for a file of a few KB: the reader set the whole
    // length aside, zeroed (16 GB of memory, then "failed to fill whole buffer"; fuzzed).
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 10..n - 6].try_into().unwrap()) as usize;
    let footer_at = n - 10 - footer_len;
    let block = {
        let footer = arrow::ipc::root_as_footer(&bytes[footer_at..n - 10]).unwrap();
        *footer.recordBatches().unwrap().get(0)
    };
    // The block as the footer stores it: offset, metadata length, padding, body length.
    let mut stored = block.offset().to_le_bytes().to_vec();
    stored.extend(block.metaDataLength().to_le_bytes());
    let at = (footer_at..n - 10 - 24)
        .find(|&i| bytes[i..i + 12] == stored[..])
        .expect("the block in the footer");
    bytes[at + 16..at + 24].copy_from_slice(&(16i64 << 30).to_le_bytes());
    let path = dir.path().join("huge-body.arrow");
    std::fs::write(&path, &bytes).unwrap();
    let o = scan(
        &[path.as_path()],
        &["--output", "-", "--column", "msisdn=subscriber"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("+ 17179869184 bytes") && err.contains("past the end of the file"),
        "{err}"
    );
}

/// A dictionary of timestamps (a pandas Categorical of datetimes, with or without a zone)
/// and a dictionary of integer durations hold the same values as plain columns: same rows.
#[test]
fn dictionary_encoded_times_and_durations_are_their_values() {
    use arrow::array::{DictionaryArray, Int64Array};
    use arrow::datatypes::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let plain = batch();
    for zone in [None, Some("Asia/Taipei")] {
        let times = plain
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .clone()
            .with_timezone_opt(zone);
        let keys = arrow::array::Int32Array::from((0..times.len() as i32).collect::<Vec<_>>());
        let time_dict: ArrayRef =
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys.clone(), Arc::new(times)).unwrap());
        let durations = Int64Array::from(vec![Some(60), Some(61), Some(62), Some(63), None]);
        let dur_dict: ArrayRef =
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(durations)).unwrap());
        let mut fields: Vec<Field> = plain
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[0] = Field::new("event_time", time_dict.data_type().clone(), false);
        fields.push(Field::new("duration_s", dur_dict.data_type().clone(), true));
        let mut cols = plain.columns().to_vec();
        cols[0] = time_dict;
        cols.push(dur_dict);
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        let path = dir.path().join(format!("dict-{}.arrow", zone.is_some()));
        write_ipc_with(&path, &b, Default::default());
        assert_eq!(scan_mapped(&path), EXPECTED, "zone {zone:?}");
    }
}

/// Run-end-encoded timestamps and durations (pyarrow's `run_end_encode` of a sorted time
/// column) hold the same values as plain columns: same rows (they were refused).
#[test]
fn run_end_encoded_times_and_durations_are_their_values() {
    use arrow::array::{Int32Array, Int64Array, RunArray};
    use arrow::datatypes::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let plain = batch();
    let n = plain.num_rows() as i32;
    let ends = Int32Array::from((1..=n).collect::<Vec<_>>());
    let times: ArrayRef = Arc::new(RunArray::<Int32Type>::try_new(&ends, plain.column(0)).unwrap());
    let durations: ArrayRef = Arc::new(
        RunArray::<Int32Type>::try_new(
            &Int32Array::from(vec![n - 1, n]),
            &Int64Array::from(vec![Some(60), None]),
        )
        .unwrap(),
    );
    let mut fields: Vec<Field> = (plain.schema().fields().iter())
        .map(|f| f.as_ref().clone())
        .collect();
    fields[0] = Field::new("event_time", times.data_type().clone(), false);
    fields.push(Field::new(
        "duration_s",
        durations.data_type().clone(),
        true,
    ));
    let mut cols = plain.columns().to_vec();
    cols[0] = times;
    cols.push(durations);
    let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let path = dir.path().join("ree.arrow");
    write_ipc_with(&path, &b, Default::default());
    assert_eq!(scan_mapped(&path), EXPECTED);
}

/// A file named twice (inside a directory given too, by an absolute path, through a
/// symlink, through a hard link inside the directory and outside it) is read once: counting
/// its rows twice would change verdicts.
#[test]
fn a_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    let csv = d.join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&csv, &link).unwrap();
    std::fs::hard_link(&csv, d.join("a-copy.csv")).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&csv, &hard).unwrap();
    let relative = Path::new("d").join("e.csv");
    let o = scan_command("NG")
        .current_dir(dir.path())
        .arg("d")
        .arg(&relative)
        .arg(&csv)
        .arg(&link)
        .arg(&hard)
        .args(["--output", "-"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), EXPECTED);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("1 file(s), 5 rows read"), "{summary}");
}

/// A symlink to a directory inside an input directory is followed (partitions kept as
/// links), and a link back to an ancestor is not a loop: each file is read once.
#[test]
fn linked_partition_directories_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    write_csv(&store.join("day=1").join("e.csv"), HEADER, ROWS);
    let table = dir.path().join("table");
    std::fs::create_dir_all(&table).unwrap();
    std::os::unix::fs::symlink(store.join("day=1"), table.join("day=1")).unwrap();
    std::os::unix::fs::symlink(&table, table.join("again")).unwrap();
    std::os::unix::fs::symlink(dir.path(), table.join("up")).unwrap();
    let o = scan(&[&table], &["--output", "-"]);
    assert_eq!(stdout(&o), EXPECTED);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("1 file(s), 5 rows read"), "{summary}");
}

/// REFERENCE.md §2: a file in an input directory whose name gives no known format (a
/// gzipped CSV, Hive's extensionless part file) is not read, and the summary names it, so an
/// export is never taken for scanned when it was not. A writer's bookkeeping files (hidden,
/// `_`-prefixed) are not data and go unmentioned.
#[test]
fn files_of_no_known_format_in_a_directory_are_named_not_silently_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("table");
    write_csv(&table.join("day=1").join("e.csv"), HEADER, ROWS);
    std::fs::write(table.join("day=1").join("part-0.csv.bz2"), b"BZh9 not read").unwrap();
    std::fs::write(table.join("000000_0"), b"extensionless").unwrap();
    std::fs::write(table.join("_SUCCESS"), b"").unwrap();
    std::fs::write(table.join("day=1").join(".e.csv.crc"), b"crc").unwrap();
    let o = scan(&[&table], &["--output", "-"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), EXPECTED);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(summary.contains("1 file(s), 5 rows read"), "{summary}");
    let warning = (summary.lines())
        .find(|l| l.starts_with("scan: warning: 2 file(s)"))
        .unwrap_or_else(|| panic!("no warning naming the unread files: {summary}"));
    for name in ["000000_0", "part-0.csv.bz2"] {
        assert!(warning.contains(name), "{warning}");
    }
    for name in ["_SUCCESS", ".e.csv.crc"] {
        assert!(!warning.contains(name), "{warning}");
    }
    // A directory of data files only: no warning.
    let clean = scan(&[&table.join("day=1").join("e.csv")], &["--output", "-"]);
    assert!(!String::from_utf8_lossy(&clean.stderr).contains("warning"));
    // `prepare` reads inputs the same way and says the same.
    let out = dir.path().join("p.hzi");
    let p = prepare(&table, &out);
    let said = String::from_utf8_lossy(&p.stderr);
    assert!(said.contains("prepare: warning: 2 file(s)"), "{said}");
    // Files a glob matches are named the same way (bookkeeping files are not).
    let glob = table.join("day=1").join("*");
    let g = scan(&[&glob], &["--output", "-"]);
    assert_eq!(g.status.code(), Some(0));
    assert_eq!(stdout(&g), EXPECTED);
    let said = String::from_utf8_lossy(&g.stderr);
    let warning = (said.lines())
        .find(|l| l.starts_with("scan: warning: 1 file(s)"))
        .unwrap_or_else(|| panic!("no warning naming the unread file: {said}"));
    assert!(warning.contains("part-0.csv.bz2"), "{warning}");
    assert!(!warning.contains(".e.csv.crc"), "{warning}");
    // A glob over a table skips its writers' bookkeeping as a walk does: a staging copy of
    // the part under `_temporary/` or `.hive-staging…/` is not read twice.
    for staging in ["_temporary", ".hive-staging_1"] {
        write_csv(&table.join(staging).join("e.csv"), HEADER, ROWS);
    }
    // Below the match too (a helper's pass: `out/**/*.csv` read `out/_temporary/0/` and
    // `out/.spark-staging/` parts that the directory `out` passes over), unless the pattern
    // names the directory itself.
    write_csv(
        &table.join("_temporary").join("0").join("e.csv"),
        HEADER,
        ROWS,
    );
    write_csv(&table.join(".spark-staging").join("e.csv"), HEADER, ROWS);
    for glob in [table.join("*"), table.join("**").join("*.csv")] {
        let g = scan(&[&glob], &["--output", "-"]);
        assert_eq!(g.status.code(), Some(0));
        assert_eq!(stdout(&g), EXPECTED);
        assert!(
            String::from_utf8_lossy(&g.stderr).contains("1 file(s), 5 rows read"),
            "{}: {}",
            glob.display(),
            String::from_utf8_lossy(&g.stderr)
        );
    }
    let named = table.join("_temporary").join("*").join("*.csv");
    let g = scan(&[&named], &["--output", "-"]);
    assert_eq!(stdout(&g), EXPECTED);
    // A glob that matches only files of no known format names them in its error.
    let g = scan(&[&table.join("day=1").join("*.bz2")], &["--output", "-"]);
    assert_eq!(g.status.code(), Some(1));
    let said = String::from_utf8_lossy(&g.stderr);
    assert!(
        said.contains("only 1 of no known format") && said.contains("part-0.csv.bz2"),
        "{said}"
    );
    // The formats it names are all those read (`.pq`, `.arrows`, `.csv.zstd` too).
    assert!(
        said.contains(hotzone::ingest::sources::KNOWN_FORMATS),
        "{said}"
    );

    // So does a directory that holds files, none of them readable (a scheduled job would
    // otherwise read nothing and succeed); an empty one is an empty input.
    let gz = dir.path().join("gz");
    std::fs::create_dir_all(gz.join("day=1")).unwrap();
    std::fs::write(gz.join("day=1").join("part-0.csv.bz2"), b"BZh9").unwrap();
    std::fs::write(gz.join("_SUCCESS"), b"").unwrap();
    let d = scan(&[&gz], &["--output", "-"]);
    assert_eq!(d.status.code(), Some(1));
    let said = String::from_utf8_lossy(&d.stderr);
    assert!(
        said.contains("the directory holds no readable file, only 1 of no known format")
            && said.contains("part-0.csv.bz2"),
        "{said}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("_temporary")).unwrap();
    let e = scan(&[&empty], &["--output", "-"]);
    assert_eq!(
        e.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&e.stderr)
    );
}

/// REFERENCE.md §2.4: an integer `event_time` past what an instant can hold is out of range,
/// whatever the reader: a `uint64` Parquet column and CSV digits give the same reason.
#[test]
fn overflowing_integer_times_are_out_of_range_in_every_reader() {
    use arrow::array::UInt64Array;
    let dir = tempfile::tempdir().unwrap();
    let big = [1u64 << 63, u64::MAX, 1_773_144_000_000];
    let csv = dir.path().join("e.csv");
    let rows: Vec<String> = big
        .iter()
        .map(|t| format!("{t},+886912345001,+2348021234567,in,call,1"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    write_csv(&csv, HEADER, &rows);
    let schema = Schema::new(vec![
        Field::new("event_time", DataType::UInt64, false),
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]);
    let text = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; 3])) };
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt64Array::from(big.to_vec())),
            text("+886912345001"),
            text("+2348021234567"),
            text("in"),
            text("call"),
        ],
    )
    .unwrap();
    let pq = dir.path().join("e.parquet");
    write_parquet_of(&pq, &b);
    for f in [&csv, &pq] {
        let (text, _) = scan_with_rejects(f, &dir.path().join("rejects.csv"));
        let reasons: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap())
            .collect();
        assert_eq!(
            reasons,
            ["time_out_of_range", "time_out_of_range"],
            "{}: {text}",
            f.display()
        );
    }
}

/// The method, check type and check target are taken in the case the API writes them
/// (`SHARE`, `CALL`, `INCOMING`) as well as in lower case, with the same meaning.
#[test]
fn enumerated_flags_are_taken_in_upper_case_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.csv");
    write_csv(&f, HEADER, ROWS);
    let run = |method: &str, kind: &str, target: &str| {
        let o = scan(
            &[&f],
            &[
                "--output",
                "-",
                "--method",
                method,
                "--check-type",
                kind,
                "--check-target",
                target,
            ],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout(&o)
    };
    // Incoming calls only: 002's one event is an outgoing SMS, so it has no row.
    let lower = run("share", "call", "incoming");
    assert_eq!(
        lower,
        "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
         +886912345001,true,2026-03-10,1,2026-03-10\n"
    );
    assert_eq!(run("SHARE", "CALL", "INCOMING"), lower);
    assert_eq!(run("Share", "Call", "Incoming"), lower);
    // Outgoing only: 001 made no outgoing call, so it has no events and no row.
    let outgoing = run("SHARE", "ALL", "OUTGOING");
    assert_eq!(outgoing, run("share", "all", "outgoing"));
    assert!(!outgoing.contains("+886912345001"), "{outgoing}");
    assert!(outgoing.contains("+886912345002,false"), "{outgoing}");
}

/// A configuration or hotzones file may be a pipe (`--hotzones-file <(…)`): read once its
/// writer has closed it. A FIFO nobody writes is an error naming it after a bounded wait (it
/// was waited on for ever).
#[test]
fn a_fifo_given_as_a_configuration_file_is_read_or_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("zones.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let f = fifo.to_str().unwrap();
    let csv = dir.path().join("e.csv");
    write_csv(&csv, HEADER, ROWS);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "west = [\"NG\"]\n").unwrap())
    };
    let o = hotzone(&[
        "scan",
        csv.to_str().unwrap(),
        "--hotzone",
        "@west",
        "--hotzones-file",
        f,
        "--look-back-days",
        "2",
        "--threshold-ratio",
        "0.5",
        "--tz",
        "UTC",
        "--output",
        "-",
    ]);
    writer.join().unwrap();
    assert_eq!(stdout(&o), EXPECTED);
    // Nobody writes it now.
    let o = hotzone(&["serve", "--config", f]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(f) && err.contains("no writer?"), "{err}");
}

/// A CSV file of no bytes (what Spark and Hive write for an empty partition), plain or
/// compressed, is an empty input beside the others, not a file without its columns.
#[test]
fn an_empty_csv_part_is_an_empty_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    write_csv(&out.join("part-00000.csv"), HEADER, ROWS);
    std::fs::write(out.join("part-00001.csv"), b"").unwrap();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut e, b"").unwrap();
        e.finish().unwrap()
    };
    std::fs::write(out.join("part-00002.csv.gz"), gz).unwrap();
    let o = scan(&[&out], &["--output", "-"]);
    assert_eq!(stdout(&o), EXPECTED);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("3 file(s)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Alone: no rows, so no window, and no error.
    let o = scan(&[&out.join("part-00001.csv")], &["--output", "-"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// An export of epoch seconds read as the epoch milliseconds integer times are (REFERENCE.md
/// §2) lands in January 1970 with no row rejected: `scan` and `prepare` warn when the data's
/// latest day is in 1970, and not when the window was chosen (`--as-of`) or the data is
/// of another year.
#[test]
fn data_whose_latest_day_is_in_1970_is_warned_about_as_epoch_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let seconds = dir.path().join("seconds.csv");
    // 2026-03-10T12:00:00Z in seconds: 1970-01-21 in milliseconds.
    let rows: Vec<String> = ROWS
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (_, rest) = r.split_once(',').unwrap();
            format!("{},{rest}", 1_773_144_000 + 60 * i as i64)
        })
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    write_csv(&seconds, HEADER, &rows);
    let warned = |o: &Output| {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        err.contains("warning: the latest day in the data is 1970-01-21")
            && err.contains("epoch seconds")
    };
    assert!(warned(&scan(&[&seconds], &["--output", "-"])));
    // An empty --as-of is none given.
    assert!(warned(&scan(
        &[&seconds],
        &["--output", "-", "--as-of", ""]
    )));
    let chosen = scan(&[&seconds], &["--output", "-", "--as-of", "1970-01-21"]);
    assert!(!warned(&chosen));
    let millis = dir.path().join("millis.csv");
    write_csv(&millis, HEADER, ROWS);
    assert!(!warned(&scan(&[&millis], &["--output", "-"])));
    assert!(warned(&prepare(&seconds, &dir.path().join("s.hzi"))));
    assert!(!warned(&prepare(&millis, &dir.path().join("m.hzi"))));
}

/// A file of more than 64 MiB whose lines end in a bare `\r` (the `csv` reader takes such
/// lines whole) is read: the bound is on one record, not on the text handed over.
#[test]
fn a_large_file_of_bare_cr_line_ends_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let row = "2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60\r";
    let rows = (65 << 20) / row.len() + 1;
    let path = dir.path().join("cr.csv");
    std::fs::write(&path, format!("{HEADER}\r{}", row.repeat(rows))).unwrap();
    let o = scan(
        &[path.as_path()],
        &["--output", "-", "--as-of", "2026-03-10"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("{rows} rows read")), "{err}");
}

/// A record longer than 64 MiB (one field of that size, or a quote left open) is the file's
/// error, naming the file and the byte the record starts at, whether the field is quoted
/// across lines or not and whether the file is compressed or not: a 94 KB `.csv.zst`
/// holding one 3 GB field took 4.2 GB of memory (a fuzz finding), and the same text plain
/// or compressed must read alike.
#[test]
fn a_record_longer_than_64_mib_is_an_error_plain_or_compressed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let big = 65 << 20;
    let lines = format!("{}\n", "9".repeat(1000)).repeat(big / 1001 + 1);
    for (name, field) in [
        ("unquoted.csv", "9".repeat(big)),
        ("quoted.csv", format!("\"{lines}\"")),
    ] {
        let text = format!(
            "{HEADER}\n{}\n2026-03-10T12:00:00Z,+886912345001,{field},in,call,60\n",
            ROWS[0]
        );
        let plain = dir.path().join(name);
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join(format!("{name}.gz"));
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
        let at = HEADER.len() + 1 + ROWS[0].len() + 1;
        // The same message whatever part of the text met the record (parts of 1 MiB: the
        // record starts in the first, ends far past it): it named a part's byte, or called
        // intact compressed data damaged.
        for (path, of) in [(&plain, ""), (&gz, " of the decompressed text")] {
            for part_bytes in ["67108864", "1048576"] {
                let o = scan_command("NG")
                    .arg(path)
                    .args(["--output", "-"])
                    .env("HOTZONE_CSV_PART_BYTES", part_bytes)
                    .output()
                    .unwrap();
                let err = String::from_utf8_lossy(&o.stderr);
                assert_eq!(o.status.code(), Some(1), "{name}: {err}");
                assert!(err.contains(&path.display().to_string()), "{err}");
                assert!(
                    err.contains(&format!(
                        ": the record from byte {at}{of} is longer than 64 MiB"
                    )),
                    "{name} {part_bytes}: {err}"
                );
                assert!(
                    !err.contains("damaged") && !err.contains("near byte"),
                    "{err}"
                );
            }
        }
    }
}

/// A Parquet file whose `event_time` statistics understate its latest time (one value
/// changed after the file was written: a writer's bug, or damage) gets the window a full
/// reading gives: the latest day of its rows, not the day its statistics allow. The first
/// pass skips row groups by their statistics; the counting reading now checks the day it
/// was given against the rows it reads (the `data_file` fuzz target's finding: the window
/// ended 13 years early, with no word).
#[test]
fn parquet_statistics_that_understate_the_latest_time_do_not_move_the_window() {
    use parquet::file::properties::WriterProperties;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lying.parquet");
    let f = std::fs::File::create(&path).unwrap();
    // Two row groups: 03-10 (read first, the latest by its statistics), then 03-09.
    let b = batch_of(&[
        "2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60",
        "2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call,60",
        "2026-03-10T12:02:00Z,+886912345001,+886221234567,in,call,60",
        "2026-03-09T11:00:00Z,+886912345002,+886221234567,out,call,60",
        "2026-03-09T11:01:00Z,+886912345002,+886221234567,out,call,60",
        "2026-03-09T11:02:00Z,+886912345002,+886221234567,out,call,60",
    ]);
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(3))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    // 2026-03-09T11:01:00Z, neither the second group's min nor its max: only in its page.
    let mut bytes = std::fs::read(&path).unwrap();
    let old = 1_773_054_060_000i64.to_le_bytes();
    let at: Vec<usize> = (0..bytes.len() - 8)
        .filter(|&i| bytes[i..i + 8] == old)
        .collect();
    assert_eq!(at.len(), 1, "the value stands once, in the page");
    // 2039-09-05T12:00:00Z.
    bytes[at[0]..at[0] + 8].copy_from_slice(&2_198_836_800_000i64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    // One worker: the first pass reads the 03-10 group, then skips the other by its
    // statistics (two workers may take both groups at once).
    let o = scan_command("NG")
        .arg(&path)
        .args(["--output", "-", "--column", "msisdn=subscriber"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("window 2039-09-04..=2039-09-05"), "{err}");
    // The subscriber of the changed row is the one in that window.
    let rows = stdout(&o);
    assert!(rows.ends_with("\n+886912345002,false,,0,\n"), "{rows}");
}

/// Without `--as-of`, a row group whose statistics put it before the window is left unread
/// only once its times are read and all found there: statistics that understate its times
/// (one cell changed after the file was written) move no row out of the window nor hide a
/// later day, and the verdicts are those of a reading of every row (`--rejects`). On the
/// file as written, the row group is left unread and counted as such.
#[test]
fn without_as_of_a_row_group_before_the_window_is_left_unread_only_once_its_times_are_read() {
    use parquet::file::properties::WriterProperties;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    // Row group 1: 2026-01-05, subscriber 2 calling a hotzone number; row group 2: the
    // window's last day (2026-03-10), subscriber 1.
    let b = batch_of(&[
        "2026-01-05T11:00:00Z,+886912345002,+2348021234567,out,call,60",
        "2026-01-05T11:01:00Z,+886912345002,+2348021234568,out,call,60",
        "2026-01-05T11:02:00Z,+886912345002,+2348021234569,out,call,60",
        "2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60",
        "2026-03-10T12:01:00Z,+886912345001,+886221234567,in,call,60",
        "2026-03-10T12:02:00Z,+886912345001,+886221234567,in,call,60",
    ]);
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(3))
        .build();
    let f = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let written = std::fs::read(&path).unwrap();
    let run = |extra: &[&str]| {
        let o = scan_command("NG")
            .arg(&path)
            .args([
                "--output",
                "-",
                "--min-events",
                "1",
                "--column",
                "msisdn=subscriber",
            ])
            .args(extra)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        (stdout(&o), err)
    };
    let rejects = dir.path().join("rejects.csv");
    let every_row = ["--rejects", rejects.to_str().unwrap()];
    let (rows, err) = run(&[]);
    assert!(err.contains("3 rows read, 3 not read"), "{err}");
    assert!(err.contains("window 2026-03-09..=2026-03-10"), "{err}");
    assert_eq!(rows, run(&every_row).0);
    assert!(!rows.contains("+886912345002"), "{rows}");
    // 2026-01-05T11:01:00Z, neither the first group's min nor its max: only in its page.
    let old = 1_767_610_860_000i64.to_le_bytes();
    let at: Vec<usize> = (0..written.len() - 8)
        .filter(|&i| written[i..i + 8] == old)
        .collect();
    assert_eq!(at.len(), 1, "the value stands once, in the page");
    for (instant, window, read, flagged) in [
        // Into the window: the row counts (subscriber 2's one hotzone call that day).
        (
            1_773_140_460_000i64,
            "window 2026-03-09..=2026-03-10",
            "6 rows read, 6 events",
            "+886912345002,true,2026-03-10,",
        ),
        // 2039-09-05T12:00:00Z: a later day than the statistics allow. The window moves to
        // it, and the other row group is the one before it, left unread once its times are.
        (
            2_198_836_800_000,
            "window 2039-09-04..=2039-09-05",
            "3 rows read, 3 not read",
            "+886912345002,true,2039-09-05,",
        ),
    ] {
        let mut bytes = written.clone();
        bytes[at[0]..at[0] + 8].copy_from_slice(&instant.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let (rows, err) = run(&[]);
        assert!(err.contains(window), "{err}");
        assert!(err.contains(read), "{err}");
        assert_eq!(rows, run(&every_row).0);
        assert!(rows.contains(flagged), "{rows}");
    }
}

/// Arrow IPC columns the row loop casts are read a slice at a time, and as the same rows as
/// plain text: a run-end-encoded counterparty, a dictionary of `Int8` keys (cast before to
/// plain text, a row at a time: one 16 MiB value under every row of a 3 KB file took
/// gigabytes), in a batch of more rows than a slice. Cells longer than any number are no
/// number (libphonenumber parses no text of more than 250 characters).
#[test]
fn ipc_columns_cast_a_slice_at_a_time_read_as_plain_text() {
    use arrow::array::{DictionaryArray, Int8Array, Int32Array, RunArray};
    use arrow::datatypes::{Int8Type, Int32Type};
    let n = 70_000usize; // more than a slice (65,536 rows)
    let t0 = 1_773_100_000_000i64;
    let times = Arc::new(
        TimestampMillisecondArray::from_iter_values((0..n as i64).map(|i| t0 + i * 1000))
            .with_timezone("UTC"),
    ) as ArrayRef;
    let subscribers = ["+886912345001", "+886912345002", "+886912345003"];
    let long = format!("+{}", "1".repeat(300));
    let hot = ["+2348021234567", "+886221234567", long.as_str()];
    let sub_of = |i: usize| subscribers[i % 3];
    // Runs of 1,000 rows cycling through the three counterparties.
    let cp_of = |i: usize| hot[(i / 1000) % 3];
    let plain = |f: &dyn Fn(usize) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..n).map(f)))
    };
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let hot_static: Vec<&'static str> = hot.iter().map(|s| leak(s)).collect();
    let cp_plain: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| hot_static[(i / 1000) % 3]),
    ));
    let keys = Int8Array::from_iter_values((0..n).map(|i| (i % 3) as i8));
    let sub_dict: ArrayRef = Arc::new(
        DictionaryArray::<Int8Type>::try_new(
            keys,
            Arc::new(StringArray::from(subscribers.to_vec())),
        )
        .unwrap(),
    );
    let ends: Vec<i32> = (1..=n.div_ceil(1000))
        .map(|r| (r * 1000).min(n) as i32)
        .collect();
    let values: Vec<&str> = (0..ends.len()).map(|r| cp_of(r * 1000)).collect();
    let cp_ree: ArrayRef = Arc::new(
        RunArray::<Int32Type>::try_new(&Int32Array::from(ends), &StringArray::from(values))
            .unwrap(),
    );
    let flag = |v: &'static str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    let batch = |sub: ArrayRef, cp: ArrayRef| {
        RecordBatch::try_from_iter([
            ("event_time", Arc::clone(&times)),
            ("subscriber", sub),
            ("counterparty", cp),
            ("direction", flag("out")),
            ("kind", flag("call")),
        ])
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (cast_path, plain_path) = (
        dir.path().join("cast.arrow"),
        dir.path().join("plain.arrow"),
    );
    write_ipc_with(&cast_path, &batch(sub_dict, cp_ree), Default::default());
    write_ipc_with(
        &plain_path,
        &batch(plain(&sub_of), cp_plain),
        Default::default(),
    );
    let run = |p: &Path| {
        let o = scan_command("NG")
            .arg(p)
            .args(["--output", "-", "--min-events", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        (stdout(&o), err)
    };
    let ((cast_rows, cast_err), (plain_rows, plain_err)) = (run(&cast_path), run(&plain_path));
    assert_eq!(cast_rows, plain_rows);
    let counts = |e: &str| e[e.find("rows read").unwrap()..e.find(';').unwrap()].to_owned();
    assert_eq!(counts(&cast_err), counts(&plain_err));
    // A third of the rows call the 301-character "number": unknown counterparties.
    assert!(plain_err.contains(&format!("{n} events")), "{plain_err}");
    let unknown = (0..n).filter(|i| (i / 1000) % 3 == 2).count();
    assert!(
        plain_err.contains(&format!("{unknown} with unknown counterparty")),
        "{plain_err}"
    );
    assert_eq!(
        plain_rows.lines().filter(|l| l.contains(",true,")).count(),
        3,
        "{plain_rows}"
    );
}

/// A dictionary of binary values keeps its cells' bytes: one that is not UTF-8 is present and
/// no number (`subscriber_not_e164`), whatever the keys' type. (A review found the cast made
/// for dictionaries of other key types turning such cells into nulls: "missing".)
#[test]
fn a_binary_dictionary_cell_that_is_not_utf8_is_no_number_not_a_missing_one() {
    use arrow::array::{BinaryArray, DictionaryArray, Int16Array, Int32Array};
    use arrow::datatypes::{Int16Type, Int32Type};
    let values = || {
        Arc::new(BinaryArray::from_iter_values([
            b"+886912345001".as_slice(),
            b"\xff\xfe+8869".as_slice(),
        ])) as ArrayRef
    };
    let keys = [0, 1, 0];
    let n = keys.len();
    let times = Arc::new(
        TimestampMillisecondArray::from_iter_values((0..n as i64).map(|i| 1_773_100_000_000 + i))
            .with_timezone("UTC"),
    ) as ArrayRef;
    let flag = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
    let dir = tempfile::tempdir().unwrap();
    let dictionaries: [ArrayRef; 2] = [
        Arc::new(
            DictionaryArray::<Int16Type>::try_new(
                Int16Array::from(keys.map(|k| k as i16).to_vec()),
                values(),
            )
            .unwrap(),
        ),
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys.to_vec()), values())
                .unwrap(),
        ),
    ];
    for (k, subscriber) in dictionaries.into_iter().enumerate() {
        let batch = RecordBatch::try_from_iter([
            ("event_time", Arc::clone(&times)),
            ("subscriber", subscriber),
            ("counterparty", flag("+2348021234567")),
            ("direction", flag("out")),
            ("kind", flag("call")),
        ])
        .unwrap();
        let path = dir.path().join(format!("{k}.arrow"));
        write_ipc_with(&path, &batch, Default::default());
        let verdicts = dir.path().join("v.csv");
        let o = scan(
            &[path.as_path()],
            &["--output", verdicts.to_str().unwrap(), "--rejects", "-"],
        );
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(",2,subscriber_not_e164,"), "{k}: {out}");
        assert!(!out.contains("missing"), "{k}: {out}");
    }
}

/// Every input the `data_file` fuzz target found (`tests/fuzz-found/`: IPC files whose
/// messages reach past their metadata, whose leading magic is damaged, whose bodies or
/// footer blocks are stated past the end) is an error naming the file, under a 4 GB
/// address-space limit: before the checks, each aborted the process on an allocation of up
/// to 559 TB or took 16 GB of memory.
#[test]
fn fuzz_found_files_are_errors_naming_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-found");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        found += 1;
        // Under 4 GB of address space: a file that makes the reader take gigabytes aborts
        // here instead of passing slowly.
        let o = Command::new("sh")
            .args(["-c", "ulimit -v 4000000 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_hotzone"))
            .args(scan_command("NG").get_args())
            .arg(&path)
            .args(["--output", "-"])
            .env("RAYON_NUM_THREADS", "2")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let name = path.file_name().unwrap().to_string_lossy();
        // A signal (an abort) has no exit code.
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name.as_ref()), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        // The reader's own failures after it set gigabytes aside (allocated under the
        // limit, or not): the file must be refused before.
        assert!(!err.contains("failed to allocate"), "{name}: {err}");
        assert!(!err.contains("fill whole buffer"), "{name}: {err}");
    }
    assert!(found >= 6, "{found} files in {}", dir.display());
}

/// An adversarial pass over files as other writers leave them:
/// - two Arrow streams joined with `cat` were read as the first alone, the second's rows
///   passed over with nothing said (Arrow's readers stop at the end-of-stream marker): now
///   an error naming the file and the byte;
/// - a Parquet page whose header carries a checksum was read with a changed digit (the
///   crate's check was not built): now an error naming the file;
/// - a symlink to no file, in an input directory, was passed over in silence: now named in
///   the warning of files not read;
/// - a Feather version 1 file was "not an Arrow IPC file nor stream" only: now it says so;
/// - a Parquet column named with a byte-order mark (`\u{feff}event_time`) was missing.
#[test]
fn joined_streams_damaged_pages_and_dangling_links_are_never_rows_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch();
    let stream = |b: &RecordBatch| {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &b.schema()).unwrap();
        w.write(b).unwrap();
        w.finish().unwrap();
        w.into_inner().unwrap()
    };
    let one = stream(&b);
    let mapped = ["--column", "msisdn=subscriber", "--output", "-"];
    let single = dir.path().join("one.arrows");
    std::fs::write(&single, &one).unwrap();
    assert!(!stdout(&scan(&[&single], &mapped)).is_empty());
    let joined = dir.path().join("joined.arrows");
    std::fs::write(&joined, [one.clone(), one.clone()].concat()).unwrap();
    let o = scan(&[&joined], &mapped);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("joined.arrows")
            && err.contains(&format!(
                "{} more bytes follow the Arrow stream's end (byte {})",
                one.len(),
                one.len()
            )),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    // A page checksum (pyarrow's, tests/files/README.md), then one byte of a value changed.
    let with_crc =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files/pyarrow-page-checksums.parquet");
    assert_eq!(
        stdout(&scan(&[&with_crc], &mapped)),
        stdout(&scan(&[&single], &mapped))
    );
    let mut bytes = std::fs::read(&with_crc).unwrap();
    // A plain value (its 4-byte length first), not a page header's statistics.
    let at = (bytes.windows(8))
        .position(|w| w == b"\x0d\0\0\0+886")
        .expect("a plain subscriber value");
    bytes[at + 9] = if bytes[at + 9] == b'1' { b'2' } else { b'1' };
    let damaged = dir.path().join("damaged.parquet");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = scan(&[&damaged], &mapped);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("damaged.parquet") && err.contains("CRC"),
        "{err}"
    );

    // A dangling link among readable files is named, not passed over.
    let links = dir.path().join("links");
    std::fs::create_dir(&links).unwrap();
    std::fs::copy(&single, links.join("a.arrows")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone.parquet"), links.join("b.parquet")).unwrap();
    let o = scan(&[&links], &mapped);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("1 file(s) in the input directories were not read")
            && err.contains("links leading to no file")
            && err.contains("b.parquet"),
        "{err}"
    );

    // Feather version 1, and Parquet named `.arrow`.
    let v1 = dir.path().join("old.feather");
    std::fs::write(&v1, b"FEA1\0\0\0\0 a feather v1 body FEA1").unwrap();
    let err = String::from_utf8_lossy(&scan(&[&v1], &mapped).stderr).into_owned();
    assert!(
        err.contains("old.feather") && err.contains("Feather version 1"),
        "{err}"
    );
    let misnamed = dir.path().join("p.arrow");
    std::fs::copy(&with_crc, &misnamed).unwrap();
    let err = String::from_utf8_lossy(&scan(&[&misnamed], &mapped).stderr).into_owned();
    assert!(
        err.contains("it is a Parquet file: name it .parquet"),
        "{err}"
    );

    // A byte-order mark before a Parquet column's name.
    let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| (**f).clone()).collect();
    fields[0] = fields[0].clone().with_name("\u{feff}event_time");
    let marked = RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec()).unwrap();
    let bom = dir.path().join("bom.parquet");
    write_parquet_of(&bom, &marked);
    assert_eq!(
        stdout(&scan(&[&bom], &mapped)),
        stdout(&scan(&[&single], &mapped))
    );
}

/// An Arrow IPC file whose footer states metadata version V5 over messages of V4 (pyarrow's
/// `metadata_version=V4`) is read as the stream it holds: Arrow's file reader refused every
/// batch of it ("metadata versions mismatch"), and one with a dictionary not even as a
/// stream. Whatever part size is asked, such a file is read whole (a part would decode every
/// batch before its own, and the footer's count need not be the stream's): its rows and
/// reject numbers are those of `ROWS` plus a sixth row whose direction is no direction.
#[test]
fn ipc_files_whose_footer_and_messages_state_two_versions_are_read() {
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files");
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.csv");
    for name in [
        "pyarrow-v4-metadata.arrow",
        "pyarrow-v4-metadata-dictionary.arrow",
    ] {
        for part_bytes in ["1000000", "200"] {
            let o = scan_command("NG")
                .arg(files.join(name))
                .args(["--column", "msisdn=subscriber", "--output", "-"])
                .arg("--rejects")
                .arg(&rejects)
                .env("HOTZONE_IPC_PART_BYTES", part_bytes)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name} {part_bytes}: {err}");
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                EXPECTED,
                "{name} {part_bytes}: {err}"
            );
            assert!(
                err.contains("6 rows read, 5 events")
                    && err.contains("rejected 1 (bad_direction=1)"),
                "{name} {part_bytes}: {err}"
            );
            let rejected = std::fs::read_to_string(&rejects).unwrap();
            assert!(
                rejected.contains(&format!("{name},6,bad_direction,")),
                "{name} {part_bytes}: {rejected}"
            );
        }
    }
}

/// Two files whose names differ only in bytes that are not UTF-8 keep two names in the
/// rejects (`\xNN` for such a byte) and in errors: both were written with U+FFFD, their
/// rejects mixed under one name with overlapping rows.
#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_stay_apart_in_rejects_and_errors() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (byte, bad) in [(0xFFu8, 1), (0xFE, 2)] {
        let bytes = [b'x', byte, b'.', b'c', b's', b'v'];
        let name = std::ffi::OsStr::from_bytes(&bytes);
        let mut rows: Vec<&str> = ROWS.to_vec();
        rows.extend(std::iter::repeat_n(
            "2026-03-10T12:00:00Z,+886912345003,,sideways,call,",
            bad,
        ));
        write_csv(&data.join(name), HEADER, &rows);
    }
    let (listed, _) = scan_with_rejects(&data, &dir.path().join("rejects.csv"));
    let ff = listed.matches("x\\xFF.csv,6,bad_direction").count();
    let fe: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("x\\xFE.csv,"))
        .collect();
    assert_eq!(ff, 1, "{listed}");
    assert_eq!(fe.len(), 2, "{listed}");
    assert!(!listed.contains('\u{FFFD}'), "{listed}");
    // An error names the file so too (met in a directory: a name that is not UTF-8 is
    // refused as an argument, by the argument parser).
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let broken = other.join(std::ffi::OsStr::from_bytes(b"y\xff.parquet"));
    std::fs::write(&broken, b"not parquet").unwrap();
    let o = scan(&[&other], &["--output", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("y\\xFF.parquet: "), "{err}");
}

/// A JSON column (Parquet's JSON type as DuckDB and pyarrow write it, or Arrow's `arrow.json`
/// extension in an IPC file) read for a field is refused by name: its text is a document,
/// quotes included, and was read as a subscriber, so that every row was rejected without the
/// reason being said (and pyarrow's file gave the `parquet` crate's own type mismatch).
#[test]
fn json_columns_are_refused_by_name_not_read_as_their_text() {
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files");
    for (name, says) in [
        (
            "duckdb-json.parquet",
            "column subscriber is of Parquet's JSON type",
        ),
        (
            "pyarrow-json.parquet",
            r#"column subscriber is of the extension type "arrow.json""#,
        ),
        (
            "pyarrow-json.arrow",
            r#"column subscriber is of the extension type "arrow.json""#,
        ),
    ] {
        let o = scan(
            &[&files.join(name)],
            &["--as-of", "2026-03-10", "--output", "-"],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}: no verdicts of a refused file");
    }
}

/// fastparquet writes a frame of no rows with its footer's empty list of row groups typed
/// 0 (`19 00`), which the `parquet` crate refuses ("Expected list element type of Struct"):
/// such a file failed the scan of the whole directory it was in. It is now a file of no rows.
#[test]
fn a_file_of_no_rows_as_fastparquet_writes_it_is_read_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let empty =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/files/fastparquet-no-rows.parquet");
    let o = scan(&[&empty], &["--as-of", "2026-03-10", "--output", "-"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 file(s), 0 rows read"), "{err}");
    let with = dir.path().join("day");
    std::fs::create_dir(&with).unwrap();
    std::fs::copy(&empty, with.join("a.parquet")).unwrap();
    write_csv(
        &with.join("b.csv"),
        "event_time,msisdn,counterparty,direction,kind",
        ROWS.iter()
            .map(|r| r.rsplit_once(',').unwrap().0)
            .collect::<Vec<_>>()
            .as_slice(),
    );
    let o = scan(
        &[&with],
        &["--column", "msisdn=subscriber", "--output", "-"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2 file(s), 5 rows read"), "{err}");
    assert_eq!(stdout(&o), EXPECTED);
}

#[test]
fn a_flag_value_that_may_be_a_phone_number_is_named_not_shown() {
    // Every message names a caller's value through `model::shown`; clap's own usage errors
    // quoted it whole, and so did the column mapping and the named-hotzone lookup.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample");
    let hotzones = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hotzones.toml");
    let base = [
        "scan",
        sample,
        "--look-back-days",
        "30",
        "--threshold-ratio",
        "0.5",
        "--output",
        "/dev/null",
    ];
    let cases: [(&[&str], &str); 6] = [
        (&["--hotzone", "NG", "--tz", "+886912345678"], "--tz"),
        (
            &["--hotzone", "NG", "--default-region", "+886912345678"],
            "--default-region",
        ),
        (
            &["--hotzone", "NG", "--method", "+886912345678"],
            "--method",
        ),
        (
            &["--hotzone", "NG", "--min-events", "99999999999912345678"],
            "--min-events",
        ),
        (
            &["--hotzone", "NG", "--column", "a=+886912345678"],
            "canonical column",
        ),
        (
            &["--hotzone", "@+886912345678", "--hotzones-file", hotzones],
            "no hotzone named",
        ),
    ];
    for (flags, names) in cases {
        let o = hotzone(&[&base[..], flags].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{flags:?}: {err}");
        assert!(err.contains(names), "{flags:?}: {err}");
        assert!(err.contains("not shown"), "{flags:?}: {err}");
        assert!(
            !err.contains("12345678"),
            "{flags:?} echoed the value: {err}"
        );
    }
    // Other commands, and words clap does not expect: a range parser's reason names the
    // number without its `+`, an unexpected word is quoted whole, and so is a subcommand.
    let check = [
        "check",
        "--phone-number",
        "1",
        "--look-back-days",
        "3",
        "--threshold-ratio",
        "0.5",
    ];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let cases: [&[&str]; 6] = [
        &[
            &check[..],
            &["--server", "127.0.0.1:1", "--timeout-s", "+886912345678"],
        ]
        .concat(),
        &[&check[..], &["--server", "127.0.0.1:1", "+886912345678"]].concat(),
        &[&check[..], &["--server", "+886912345678"]].concat(),
        &["+886912345678"],
        &["scan", sample, "--+886912345678"],
        &["serve", "--data", data, "--tz", "+886912345678"],
    ];
    for args in cases {
        let o = hotzone(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("not shown"), "{args:?}: {err}");
        assert!(
            !err.contains("12345678"),
            "{args:?} echoed the value: {err}"
        );
    }
    // A value that is no number is still quoted whole, as clap words it, and so is an
    // address (digits, but no phone number).
    let o = hotzone(&[&base[..], &["--hotzone", "NG", "--tz", "Mars/Olympus"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'Mars/Olympus'"), "{err}");
    let o = hotzone(&[&check[..], &["--server", "127.0.0.1:650000"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"127.0.0.1:650000\""), "{err}");
}
