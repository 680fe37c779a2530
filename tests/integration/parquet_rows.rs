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
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .timestamp_millis();
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
    let b = RecordBatch::try_new(
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
    .unwrap();
    // Dictionary-encoded strings (the writer's default), and plain-encoded ones as switch
    // exports write them (then the reader takes string views instead of dictionaries).
    let from_csv = run(&csv_path, &dir.path().join("r1.csv"));
    for dictionary in [true, false] {
        let pq_path = dir.path().join(format!("e-{dictionary}.parquet"));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .set_dictionary_enabled(dictionary)
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&pq_path).unwrap(),
            Arc::clone(&schema),
            Some(props),
        )
        .unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
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
