//! Parquet rows take a fast lane (cells already checked per dictionary value, `duration_s`
//! skipped where chunk statistics rule out a negative value, counterparty read as views):
//! rejects, counts and verdicts must equal those of the same rows as CSV.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// (minute, subscriber, counterparty, direction, kind, duration); four rows per row group.
type Row = (
    i64,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    &'static str,
    Option<i64>,
);

const ROWS: &[Row] = &[
    // Row group 1: durations >= 0 (statistics let the reader skip the column).
    (
        0,
        Some("+886912345001"),
        Some("+2348021234567"),
        "in",
        "call",
        Some(60),
    ),
    (
        1,
        Some("+886912345001"),
        Some("+23480212"),
        "in",
        "call",
        None,
    ),
    (2, Some("+886912345001"), None, "out", "sms", Some(0)),
    (3, Some("+886912345001"), Some(""), "in", "call", Some(5)),
    // Row group 2: a negative duration (the column is read and checked).
    (
        4,
        Some("+886912345001"),
        Some("+2348021234568"),
        "in",
        "call",
        Some(-1),
    ),
    (
        5,
        Some("+886912345001"),
        Some(" +2348021234569 "),
        "in",
        "call",
        Some(10),
    ),
    (6, Some("+886912345002"), Some("BANK"), "in", "sms", None),
    (
        7,
        Some("+886912345002"),
        Some("12345"),
        "in",
        "sms",
        Some(3),
    ),
    // Row group 3: other rejects and odd counterparties.
    (
        8,
        Some("+886912345002"),
        Some("0212345678"),
        "in",
        "call",
        Some(1),
    ),
    (9, None, Some("+2348021234567"), "in", "call", Some(1)),
    (
        10,
        Some("+886912345002"),
        Some("+"),
        "sideways",
        "call",
        Some(1),
    ),
    (
        11,
        Some("+886912345002"),
        Some("+0123"),
        "out",
        "call",
        Some(-5),
    ),
    (
        12,
        Some("+886912345002"),
        Some("+2348021234567"),
        "out",
        "fax",
        Some(2),
    ),
    (
        13,
        Some("+886912345002"),
        Some("+2348021234567"),
        "out",
        "call",
        Some(2),
    ),
];

fn scan(input: &Path, rejects: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .arg("scan")
        .arg(input)
        .args(["--hotzone", "NG", "--look-back-days", "2"])
        .args(["--threshold-ratio", "0.5", "--tz", "UTC", "--output", "-"])
        .arg("--rejects")
        .arg(rejects)
        .output()
        .unwrap()
}

/// Verdict rows, rejects file body (without the file column) and the summary's counts.
fn run(input: &Path, rejects: &Path) -> (String, String, String) {
    let o = scan(input, rejects);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let counts = err
        .split_once("file(s), ")
        .and_then(|(_, r)| r.split_once("; window"))
        .map(|(c, _)| c.to_owned())
        .unwrap_or_else(|| panic!("{err}"));
    let body: Vec<String> = std::fs::read_to_string(rejects)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.to_owned())
        .collect();
    (
        String::from_utf8(o.stdout).unwrap(),
        body.join("\n"),
        counts,
    )
}

#[test]
fn parquet_fast_lane_matches_csv() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = t0();
    let csv: Vec<String> = ROWS
        .iter()
        .map(|r| {
            let t = chrono::DateTime::from_timestamp_millis(t0 + r.0 * 60_000).unwrap();
            format!(
                "{},{},{},{},{},{}",
                t.to_rfc3339(),
                r.1.unwrap_or(""),
                r.2.unwrap_or(""),
                r.3,
                r.4,
                r.5.map(|d| d.to_string()).unwrap_or_default()
            )
        })
        .collect();
    let csv_path = dir.path().join("e.csv");
    std::fs::write(
        &csv_path,
        format!(
            "event_time,subscriber,counterparty,direction,kind,duration_s\n{}\n",
            csv.join("\n")
        ),
    )
    .unwrap();
    let b = batch(t0);
    // Dictionary-encoded strings (the writer's default), and plain-encoded ones as switch
    // exports write them (then the reader takes string views instead of dictionaries).
    let from_csv = run(&csv_path, &dir.path().join("r1.csv"));
    for dictionary in [true, false] {
        let pq_path = dir.path().join(format!("e-{dictionary}.parquet"));
        write_parquet(&pq_path, &b, dictionary);
        let from_pq = run(&pq_path, &dir.path().join("r2.csv"));
        assert_eq!(from_pq, from_csv, "dictionary-encoded: {dictionary}");
    }
    assert_eq!(
        from_csv.1,
        "5,bad_duration,duration_s is not an integer >= 0\n\
         9,counterparty_without_plus_no_default_region,counterparty has no leading '+' and no default region is configured\n\
         10,missing_subscriber,subscriber is missing\n\
         11,bad_direction,direction is not 'in' or 'out'\n\
         12,bad_duration,duration_s is not an integer >= 0\n\
         13,bad_kind,kind is not 'call' or 'sms'"
    );
    assert!(
        from_csv
            .2
            .starts_with("14 rows read, 8 events, 4 with unknown counterparty, rejected 6"),
        "{}",
        from_csv.2
    );
}

/// [`ROWS`] as one Arrow batch, minute `m` at `t0 + m` minutes.
fn batch(t0: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("subscriber", DataType::Utf8, true),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
        Field::new("duration_s", DataType::Int64, true),
    ]));
    let ms: Vec<i64> = ROWS.iter().map(|r| t0 + r.0 * 60_000).collect();
    RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC")),
            Arc::new(StringArray::from(
                ROWS.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                ROWS.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                ROWS.iter().map(|r| Some(r.3)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                ROWS.iter().map(|r| Some(r.4)).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                ROWS.iter().map(|r| r.5).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// Writes `b` as Parquet with four rows per row group (14 rows: row groups of 4, 4, 4, 2).
fn write_parquet(path: &Path, b: &RecordBatch, dictionary: bool) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .set_dictionary_enabled(dictionary)
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        Some(props),
    )
    .unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

fn t0() -> i64 {
    chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .timestamp_millis()
}

/// A part of a file (some of its row groups, as a Spark task reads them) reads what the whole
/// file reads there: any cut of the row groups, in any order, adds up to the whole scan's
/// verdicts and counts, with every reject numbered in its file; `strict` names the file row.
#[test]
fn row_group_parts_add_up_to_the_whole_file() {
    use hotzone::ingest::IngestOptions;
    use hotzone::model::{Hotzone, RawCheck};
    use hotzone::scan::{ScanRequest, map_row_groups, rows_of, scan};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    write_parquet(&path, &batch(t0()), false);
    let req = |strict: bool| ScanRequest {
        raw: RawCheck {
            look_back_days: Some(2),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", "NG").unwrap())),
            min_events: Some(1),
            as_of: Some("2026-03-10".into()),
            ..RawCheck::default()
        },
        tz: chrono_tz::UTC,
        ingest: IngestOptions {
            strict,
            ..IngestOptions::default()
        },
        explain: true,
    };
    let mut whole = scan(
        &[path.to_string_lossy().into_owned()],
        &req(false),
        &|_, _| {},
    )
    .unwrap();
    let (params, window) = (whole.params.clone().unwrap(), whole.window.clone().unwrap());
    assert!(!whole.rows.is_empty() && whole.report.rejects.len() == 6);
    let rule = hotzone::detect::rules::Rule::of(&params);
    let whole_file: Vec<std::ops::Range<usize>> = std::iter::once(0..4).collect();
    for cut in [
        whole_file,
        vec![0..1, 1..4],
        vec![2..3, 0..2, 3..4],
        vec![3..4, 1..3, 0..1, 4..4],
    ] {
        let mut partials = Vec::new();
        let (mut rows, mut events, mut unknown) = (0, 0, 0);
        let mut rejects = Vec::new();
        for range in &cut {
            let part = [(path.clone(), range.clone())];
            let (p, mut report) =
                map_row_groups(&part, &params, &window, &req(false).ingest).unwrap();
            assert_eq!(report.files, 1);
            partials.extend(p);
            rows += report.rows;
            events += report.events;
            unknown += report.unknown_counterparties;
            rejects.extend(report.rejects.rows().iter().cloned());
        }
        rejects.sort();
        assert_eq!(rows_of(&mut partials, rule, true), whole.rows, "{cut:?}");
        assert_eq!(rejects, whole.report.rejects.rows().to_vec(), "{cut:?}");
        assert_eq!(
            (rows, events, unknown),
            (
                whole.report.rows,
                whole.report.events,
                whole.report.unknown_counterparties
            )
        );
    }
    // Past the file's row groups: an error naming the file, not an empty read.
    let err = map_row_groups(
        &[(path.clone(), 0..5)],
        &params,
        &window,
        &req(false).ingest,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("e.parquet") && err.contains("has 4 row group(s)"),
        "{err}"
    );
    // Strict: the first bad row of the third row group is row 9 of the file.
    let err =
        map_row_groups(&[(path.clone(), 2..4)], &params, &window, &req(true).ingest).unwrap_err();
    match err {
        hotzone::Error::RejectedRow { row, .. } => assert_eq!(row, 9),
        e => panic!("{e}"),
    }
}
