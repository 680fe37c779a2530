//! Parquet rows take a fast lane (cells already checked per dictionary value, `duration_s`
//! skipped where chunk statistics rule out a negative value, counterparty read as views):
//! rejects, counts and verdicts must equal those of the same rows as CSV.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use proptest::prelude::*;

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
    let rejects = rejects.to_str().unwrap();
    scan_with(input, &["--threshold-ratio", "0.5", "--rejects", rejects])
}

/// `hotzone scan INPUT` of the hotzone NG over 2 days in UTC to stdout, with `args` (the
/// threshold at least).
fn scan_with(input: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .arg("scan")
        .arg(input)
        .args(["--hotzone", "NG", "--look-back-days", "2"])
        .args(["--tz", "UTC", "--output", "-"])
        .args(args)
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
/// The six columns, UTC millisecond times, `duration_s` of type `duration`.
fn schema_with(duration: DataType) -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("subscriber", DataType::Utf8, true),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
        Field::new("duration_s", duration, true),
    ]))
}

fn batch(t0: i64) -> RecordBatch {
    let schema = schema_with(DataType::Int64);
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
    write_with(path, b, Some(props));
}

/// Writes `b` to a Parquet file at `path` with `props` (the writer's defaults when `None`).
fn write_with(path: &Path, b: &RecordBatch, props: Option<WriterProperties>) {
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), b.schema(), props).unwrap();
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

/// Cells a generated row picks from: valid and invalid numbers, padding, full-width digits
/// (UTF-8 that is not ASCII), 200-byte values (a length prefix that is not ASCII), empty.
const SUBSCRIBERS: &[&str] = &[
    "+886912345001",
    "+886912345002",
    "+886912345003",
    "+2348021234567",
    " +886912345001 ",
    "+886 912-345 004",
    "+0123",
    "abc",
    "",
    "+８８６９１２３４５００１",
];
const COUNTERPARTIES: &[&str] = &[
    "+2348021234567",
    "+2348021234999",
    "+18765551234",
    "+886900000001",
    " +2348021234568 ",
    "BANK",
    "",
    "+",
    "0212345678",
    "+２３４８０２１２３４５６７",
    "é",
];
const DIRECTIONS: &[&str] = &["in", "out", "IN", " out ", "sideways", ""];
const KINDS: &[&str] = &["call", "sms", "SMS", "fax", ""];

/// How a generated file is written.
#[derive(Clone, Debug)]
struct Layout {
    dictionary: bool,
    /// Parquet data pages v2.
    v2: bool,
    /// String values `DELTA_LENGTH_BYTE_ARRAY` or `DELTA_BYTE_ARRAY` (v1 or v2 pages), not
    /// `PLAIN`.
    delta: bool,
    /// Columns declared required (no nulls: a missing cell is written empty).
    required: bool,
    page_rows: usize,
    group_rows: usize,
    /// The pages' codec: every one this build reads.
    codec: parquet::basic::Compression,
    /// Rows in time order (a switch's export: row groups within one day, whose
    /// `event_time` the scan need not decode when the statistics say so).
    time_ordered: bool,
    /// Chunk statistics written (else none: every `event_time` is decoded).
    statistics: bool,
    /// With `dictionary`: the dictionary page's limit in bytes, past which the writer falls
    /// back to plain (or delta) pages, as pyarrow and Spark do at 1 MiB (a chunk of a
    /// dictionary page, dictionary-encoded pages, then plain ones); `None`, the writer's
    /// default (1 MiB: these rows never fall back).
    dictionary_limit: Option<usize>,
}

type GenRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<&'static str>,
    Option<&'static str>,
    Option<i64>,
);

fn arb_cell(pool: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        8 => (0..pool.len()).prop_map(move |i| Some(pool[i].to_owned())),
        1 => Just(None),
        1 => (0..3usize).prop_map(|d| Some(format!("+{}", d.to_string().repeat(199)))),
    ]
}

fn arb_rows() -> impl Strategy<Value = Vec<GenRow>> {
    use proptest::sample::select;
    proptest::collection::vec(
        (
            0..2 * 24 * 60i64,
            arb_cell(SUBSCRIBERS),
            arb_cell(COUNTERPARTIES),
            proptest::option::weighted(0.95, select(DIRECTIONS)),
            proptest::option::weighted(0.95, select(KINDS)),
            proptest::option::weighted(0.8, -2..100i64),
        ),
        1..200,
    )
}

fn arb_layout() -> impl Strategy<Value = Layout> {
    use parquet::basic::{BrotliLevel, Compression as C, GzipLevel, ZstdLevel};
    let codecs = [
        C::UNCOMPRESSED,
        C::SNAPPY,
        C::GZIP(GzipLevel::default()),
        C::LZ4,
        C::LZ4_RAW,
        C::ZSTD(ZstdLevel::default()),
        C::BROTLI(BrotliLevel::default()),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        1..9usize,
        1..80usize,
        proptest::sample::select(codecs.to_vec()),
        any::<bool>(),
        prop::bool::weighted(0.8),
        proptest::option::of(16..400usize),
    )
        .prop_map(
            |(
                dictionary,
                v2,
                delta,
                required,
                page_rows,
                group_rows,
                codec,
                time_ordered,
                statistics,
                dictionary_limit,
            )| {
                Layout {
                    dictionary,
                    v2,
                    delta,
                    required,
                    page_rows,
                    group_rows,
                    codec,
                    time_ordered,
                    statistics,
                    dictionary_limit,
                }
            },
        )
}

/// The rows as one batch; under `required` the string columns are declared without nulls
/// and a missing cell is written empty (the same missing cell to every reader).
fn gen_batch(rows: &[GenRow], required: bool) -> RecordBatch {
    let text = |name: &str| Field::new(name, DataType::Utf8, !required);
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        text("subscriber"),
        text("counterparty"),
        text("direction"),
        text("kind"),
        Field::new("duration_s", DataType::Int64, true),
    ]));
    let strings = |cells: Vec<Option<&str>>| -> Arc<StringArray> {
        Arc::new(StringArray::from(if required {
            cells.into_iter().map(|c| Some(c.unwrap_or(""))).collect()
        } else {
            cells
        }))
    };
    let t0 = t0();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(
                TimestampMillisecondArray::from(
                    rows.iter().map(|r| t0 - r.0 * 60_000).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            strings(rows.iter().map(|r| r.1.as_deref()).collect()),
            strings(rows.iter().map(|r| r.2.as_deref()).collect()),
            strings(rows.iter().map(|r| r.3).collect()),
            strings(rows.iter().map(|r| r.4).collect()),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.5).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn write_layout(path: &Path, b: &RecordBatch, l: &Layout) {
    use parquet::basic::Encoding;
    use parquet::file::properties::WriterVersion;
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(l.group_rows))
        .set_dictionary_enabled(l.dictionary)
        .set_dictionary_page_size_limit(l.dictionary_limit.unwrap_or(1 << 20))
        .set_data_page_row_count_limit(l.page_rows)
        .set_write_batch_size(l.page_rows)
        .set_compression(l.codec)
        .set_statistics_enabled(if l.statistics {
            parquet::file::properties::EnabledStatistics::Chunk
        } else {
            parquet::file::properties::EnabledStatistics::None
        });
    if l.v2 {
        props = props.set_writer_version(WriterVersion::PARQUET_2_0);
    }
    // Delta encodings on v1 pages too (the format allows them; pyarrow writes them so).
    if l.v2 || l.delta {
        for c in ["subscriber", "counterparty", "direction", "kind"] {
            let e = match (l.delta, l.required) {
                (false, _) => Encoding::PLAIN,
                // Front coding (`DELTA_BYTE_ARRAY`) on one of the two column kinds, so that
                // both delta encodings meet nulls and required columns.
                (true, r) if r == l.time_ordered => Encoding::DELTA_BYTE_ARRAY,
                (true, _) => Encoding::DELTA_LENGTH_BYTE_ARRAY,
            };
            props = props.set_column_encoding(c.into(), e);
        }
    }
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, b.schema(), Some(props.build())).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

/// Writes `b` to `path` as an Arrow IPC file (read through Arrow arrays: the reference).
fn write_ipc(path: &Path, b: &RecordBatch) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &b.schema()).unwrap();
    w.write(b).unwrap();
    w.finish().unwrap();
}

/// `rows` written into `dir` as Arrow IPC (`e.arrow`, the reference) and as Parquet in
/// `layout` (`e.parquet`).
fn write_both(dir: &Path, rows: &[GenRow], layout: &Layout) -> (PathBuf, PathBuf) {
    let b = gen_batch(rows, layout.required);
    let (ipc, pq) = (dir.join("e.arrow"), dir.join("e.parquet"));
    write_ipc(&ipc, &b);
    write_layout(&pq, &b, layout);
    (ipc, pq)
}

/// Verdicts, rejects (row and reason) and counts of a scan of `path`.
type Scanned = (Vec<String>, Vec<(u64, String)>, (u64, u64, u64));

fn scan_file(path: &Path) -> Scanned {
    scan_in_parts(path, None)
}

/// [`scan_file`] with an Arrow IPC file of more than `part_bytes` bytes read in parts
/// (`IngestOptions::ipc_part_bytes`).
fn scan_ipc_in_parts(path: &Path, part_bytes: Option<u64>) -> Scanned {
    scan_with_options(
        path,
        hotzone::ingest::IngestOptions {
            ipc_part_bytes: part_bytes,
            ..hotzone::ingest::IngestOptions::default()
        },
    )
}

/// [`scan_file`] with a Parquet row group of more than `part_rows` rows read in parts of
/// that many (`IngestOptions::parquet_part_rows`).
fn scan_in_parts(path: &Path, part_rows: Option<u64>) -> Scanned {
    scan_with_options(
        path,
        hotzone::ingest::IngestOptions {
            parquet_part_rows: part_rows,
            ..hotzone::ingest::IngestOptions::default()
        },
    )
}

/// The scan of these tests: hotzone `hotzone`, two days to 2026-03-10 in UTC, ratio 0.5, at
/// least one event, read with `ingest`.
fn request(
    hotzone: &str,
    ingest: hotzone::ingest::IngestOptions,
    explain: bool,
) -> hotzone::scan::ScanRequest {
    request_as_of(hotzone, ingest, explain, Some("2026-03-10"))
}

/// [`request`] with `as_of` (`None`: the window ends on the latest day of the rows).
fn request_as_of(
    hotzone: &str,
    ingest: hotzone::ingest::IngestOptions,
    explain: bool,
    as_of: Option<&str>,
) -> hotzone::scan::ScanRequest {
    use hotzone::model::{Hotzone, RawCheck};
    hotzone::scan::ScanRequest {
        raw: RawCheck {
            look_back_days: Some(2),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", hotzone).unwrap())),
            min_events: Some(1),
            as_of: as_of.map(str::to_owned),
            ..RawCheck::default()
        },
        tz: chrono_tz::UTC,
        ingest,
        explain,
    }
}

/// [`scan_file`] with `ingest` options.
fn scan_with_options(path: &Path, ingest: hotzone::ingest::IngestOptions) -> Scanned {
    use hotzone::scan::scan;
    let req = request("NG,JM", ingest, true);
    let mut out = scan(&[path.to_string_lossy().into_owned()], &req, &|_, _| {}).unwrap();
    let verdicts = out.rows.iter().map(|row| format!("{row:?}")).collect();
    let r = &mut out.report;
    (
        verdicts,
        (r.rejects.rows().iter())
            .map(|j| (j.row, format!("{:?}", j.reason)))
            .collect(),
        (r.rows, r.events, r.unknown_counterparties),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// A Parquet file reads as the same rows written as Arrow IPC (read through Arrow
    /// arrays), whatever its layout: plain-encoded string columns read from their pages
    /// (v1 or v2 pages, optional or required, pages of 1 to 8 rows, row groups of any size,
    /// every codec this build reads; `DELTA_LENGTH_BYTE_ARRAY` and `DELTA_BYTE_ARRAY` pages
    /// read here too), dictionary encodings through the Arrow reader, dictionaries that fall
    /// back to plain or delta pages (read here, the dictionary-encoded pages as spans into
    /// the dictionary page),
    /// rows in time order or not, with or without statistics (row groups within one day of W,
    /// or outside it, are read without decoding `event_time`). (Batches cutting pages are
    /// tested in `ingest::plain_pages`.)
    #[test]
    fn every_parquet_layout_reads_as_arrow_ipc(rows in arb_rows(), layout in arb_layout()) {
        let mut rows = rows;
        if layout.time_ordered {
            rows.sort_by_key(|r| std::cmp::Reverse(r.0)); // minutes before t0
        }
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = write_both(dir.path(), &rows, &layout);
        let expected = scan_file(&ipc);
        prop_assert_eq!(expected.2.0, rows.len() as u64);
        prop_assert_eq!(scan_file(&pq), expected);
    }

    /// A row group read in parts by several workers (rows passed over a page at a time, the
    /// page a part starts in read for the rows before it) reads as the same rows, numbered
    /// in the file, whatever the layout and wherever the parts fall against the pages.
    #[test]
    fn row_groups_read_in_parts_read_as_arrow_ipc(
        rows in arb_rows(),
        layout in arb_layout(),
        part_rows in 1..40u64,
    ) {
        let mut rows = rows;
        if layout.time_ordered {
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        }
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = write_both(dir.path(), &rows, &layout);
        let expected = scan_file(&ipc);
        prop_assert_eq!(scan_in_parts(&pq, Some(part_rows)), expected.clone());
        // One worker reads the parts in turn.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        prop_assert_eq!(one.install(|| scan_in_parts(&pq, Some(part_rows))), expected);
    }

    /// A scan allowed to leave row groups outside its window unread (`skip_outside_window`,
    /// the CLI's default) gives the verdicts of a reading of every row, whatever the layout
    /// and the parts, given `as_of` or not (then rows before the window are left unread only
    /// once their times are read); the rows it leaves are counted apart, only rows whose
    /// times are outside W are among them, and every reject it reports is one the full
    /// reading reports.
    #[test]
    fn rows_left_unread_by_their_statistics_change_no_verdict(
        rows in arb_rows(),
        layout in arb_layout(),
        part_rows in proptest::option::of(1..40u64),
        given in any::<bool>(),
    ) {
        let mut rows = rows;
        // A third of the rows up to a day after t0 (2026-03-10T12:00Z), so past W's end too.
        for r in rows.iter_mut().step_by(3) {
            r.0 = -(r.0 % (24 * 60)) - 1;
        }
        if layout.time_ordered {
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        }
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = write_both(dir.path(), &rows, &layout);
        let as_of = given.then_some("2026-03-10");
        let (full, _, w) = scan_leaving_rows_unread(&ipc, None, as_of, false);
        let (skipped, not_read, _) = scan_leaving_rows_unread(&pq, part_rows, as_of, true);
        prop_assert_eq!(&skipped.0, &full.0, "verdicts");
        prop_assert_eq!(skipped.2.0 + not_read, rows.len() as u64, "every row read or counted unread");
        // t0 is 2026-03-10T12:00Z, rows are minutes before it (after it when negative); W is
        // 2026-03-09..=2026-03-10 UTC given `as_of`, else the two days to the latest accepted.
        let t0_minute = |d: chrono::NaiveDate| {
            let ms = d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
            (t0() - ms) / 60_000
        };
        let (first, last) = match w {
            Some((first, last)) => (t0_minute(first), t0_minute(last + chrono::Days::new(1))),
            None => (i64::MIN, i64::MAX),
        };
        let outside_w = rows.iter().filter(|r| r.0 > first || r.0 <= last).count() as u64;
        prop_assert!(not_read <= outside_w, "{} unread, {} outside W", not_read, outside_w);
        for reject in &skipped.1 {
            prop_assert!(full.1.contains(reject), "{:?} not a reject of the full reading", reject);
        }
        if !layout.statistics {
            prop_assert_eq!(not_read, 0, "no statistics, nothing left unread");
        }
    }
}

/// [`scan_file`] with `as_of` (`None`: the latest day of the rows), allowed to leave row
/// groups outside W unread (`skip`, as the CLI does) and with row groups of more than
/// `part_rows` rows read in parts; also the rows it left unread and W's first and last days.
fn scan_leaving_rows_unread(
    path: &Path,
    part_rows: Option<u64>,
    as_of: Option<&str>,
    skip: bool,
) -> (Scanned, u64, Option<(chrono::NaiveDate, chrono::NaiveDate)>) {
    use hotzone::scan::scan;
    let ingest = hotzone::ingest::IngestOptions {
        parquet_part_rows: part_rows,
        skip_outside_window: skip,
        ..hotzone::ingest::IngestOptions::default()
    };
    let req = request_as_of("NG,JM", ingest, true, as_of);
    let mut out = scan(&[path.to_string_lossy().into_owned()], &req, &|_, _| {}).unwrap();
    let verdicts = out.rows.iter().map(|row| format!("{row:?}")).collect();
    let window = (out.window.as_ref()).map(|w| (w.date(0), w.date(w.days() - 1)));
    let r = &mut out.report;
    let scanned = (
        verdicts,
        (r.rejects.rows().iter())
            .map(|j| (j.row, format!("{:?}", j.reason)))
            .collect(),
        (r.rows, r.events, r.unknown_counterparties),
    );
    (scanned, r.rows_not_read, window)
}

/// A file a reading refuses for its columns (here `subscriber` is a list of strings) is refused
/// just the same when every row group of it lies outside the window: its columns are checked
/// before a row group is left unread (a review found such a file counted as "not read").
#[test]
fn a_file_refused_for_its_columns_is_refused_wherever_its_rows_lie() {
    use arrow::array::{ListBuilder, StringBuilder};
    let t0 = t0();
    let mut subscribers = ListBuilder::new(StringBuilder::new());
    for _ in 0..4 {
        subscribers.values().append_value("+886912345001");
        subscribers.append(true);
    }
    let text = |v: &str| Arc::new(StringArray::from(vec![v; 4]));
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "subscriber",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, true),
        Field::new("kind", DataType::Utf8, true),
    ]));
    // 2026-03-01, days before the window 2026-03-09..=2026-03-10; two rows per row group.
    let times: Vec<i64> = (0..4).map(|i| t0 - 9 * 86_400_000 + i).collect();
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
            Arc::new(subscribers.finish()),
            text("+2348021234567"),
            text("in"),
            text("call"),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("e.parquet");
    write_layout(&pq, &b, &pairs_with_statistics());
    let args = ["--threshold-ratio", "0.5", "--as-of", "2026-03-10"];
    let default = scan_with(&pq, &args);
    let rejects = dir.path().join("r.csv");
    let mut every_row = args.to_vec();
    every_row.extend(["--rejects", rejects.to_str().unwrap()]);
    let full = scan_with(&pq, &every_row);
    let (err, full_err) = (
        String::from_utf8_lossy(&default.stderr),
        String::from_utf8_lossy(&full.stderr),
    );
    assert_eq!(full.status.code(), Some(1), "{full_err}");
    assert_eq!(default.status.code(), Some(1), "{err}");
    assert!(err.contains("subscriber"), "{err}");
    assert_eq!(err, full_err);
}

/// The CLI leaves a row group whose statistics put every time before the window unread and
/// says so (without `--as-of`, once it read the row group's times); asked for `--rejects`
/// (or under `--strict`) it reads and checks every row, so the bad row in that row group is found. The verdicts are the same
/// every way.
#[test]
fn a_row_group_before_the_window_is_left_unread_unless_every_bad_row_is_asked_for() {
    let row = |minute: i64, direction: &'static str| -> GenRow {
        let (s, c) = ("+886912345001", "+2348021234567");
        (
            minute,
            Some(s.into()),
            Some(c.into()),
            Some(direction),
            Some("call"),
            None,
        )
    };
    // t0 is 2026-03-10T12:00Z, rows are minutes before it; the scan's W is the two days
    // 2026-03-09..=2026-03-10 (UTC). Row group 1 (time-ordered, two rows) is 2026-03-07,
    // with a bad direction; row groups 2 and 3 are in W.
    let rows = [
        row(3 * 24 * 60 + 10, "sideways"),
        row(3 * 24 * 60, "in"),
        row(60, "in"),
        row(30, "in"),
        row(20, "out"),
        row(10, "in"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("e.parquet");
    write_layout(&pq, &gen_batch(&rows, false), &pairs_with_statistics());
    let args = [
        "--threshold-ratio",
        "0.5",
        "--min-events",
        "1",
        "--as-of",
        "2026-03-10",
    ];
    let skipped = scan_with(&pq, &args);
    let err = String::from_utf8_lossy(&skipped.stderr);
    assert_eq!(skipped.status.code(), Some(0), "{err}");
    assert!(
        err.contains("4 rows read, 2 not read (Parquet row groups whose statistics put every event_time outside the window; --rejects or --strict reads and checks them)"),
        "{err}"
    );
    assert!(err.contains("rejected 0"), "{err}");
    // Without `--as-of` the counting reading checks the latest day the statistics gave
    // against the rows (statistics that understate a group's times would otherwise hide a
    // later day): it reads the times of that row group, finds them all before the window,
    // and leaves its rows unread the same.
    let latest = scan_with(&pq, &args[..4]);
    let err = String::from_utf8_lossy(&latest.stderr);
    assert!(err.contains("4 rows read, 2 not read"), "{err}");
    assert!(err.contains("rejected 0"), "{err}");
    assert!(err.contains("window 2026-03-09..=2026-03-10"), "{err}");
    assert_eq!(latest.stdout, skipped.stdout);
    let rejects = dir.path().join("rejects.csv");
    let mut with_rejects = args.to_vec();
    with_rejects.extend(["--rejects", rejects.to_str().unwrap()]);
    let full = scan_with(&pq, &with_rejects);
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{err}");
    assert!(err.contains("6 rows read, 5 events"), "{err}");
    assert!(!err.contains("not read"), "{err}");
    let listed = std::fs::read_to_string(&rejects).unwrap();
    assert!(listed.contains(",1,bad_direction,"), "{listed}");
    assert_eq!(full.stdout, skipped.stdout, "the same verdicts");
    assert!(!full.stdout.is_empty());
    let mut strict = args.to_vec();
    strict.push("--strict");
    let o = scan_with(&pq, &strict);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("row 1") && err.contains("direction"), "{err}");
}

/// Rows with every kind of cell, in a fixed order (no generator: the same file every run).
fn fixed_rows(n: usize) -> Vec<GenRow> {
    let cell = |pool: &[&str], i: usize| (i % 7 != 3).then(|| pool[i % pool.len()].to_owned());
    (0..n)
        .map(|i| {
            (
                (i as i64 * 37) % (2 * 24 * 60),
                cell(SUBSCRIBERS, i),
                cell(COUNTERPARTIES, i / 2),
                Some(DIRECTIONS[i % DIRECTIONS.len()]),
                Some(KINDS[i % KINDS.len()]),
                (i % 5 != 0).then_some(i as i64),
            )
        })
        .collect()
}

/// Plain string columns (no dictionary), snappy pages, in row order, with statistics.
fn snappy_plain(v2: bool, required: bool, page_rows: usize, group_rows: usize) -> Layout {
    Layout {
        dictionary: false,
        v2,
        delta: false,
        required,
        page_rows,
        group_rows,
        codec: parquet::basic::Compression::SNAPPY,
        time_ordered: false,
        statistics: true,
        dictionary_limit: None,
    }
}

/// Snappy pages of plain string columns are decompressed by the reader into buffers it takes
/// back once no batch holds them (`ingest::plain_pages::PagePool`): over many row groups and
/// pages, v1 and v2, optional and required, one worker or several, and row groups read in
/// parts, the rows are the ones the same data gives as Arrow IPC.
#[test]
fn snappy_pages_in_reused_buffers_read_as_arrow_ipc() {
    let rows = fixed_rows(500);
    for (v2, required, page_rows) in [
        (false, false, 3),
        (true, false, 5),
        (false, true, 64),
        (true, true, 1),
    ] {
        let layout = snappy_plain(v2, required, page_rows, 23);
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = write_both(dir.path(), &rows, &layout);
        let expected = scan_file(&ipc);
        assert_eq!(expected.2.0, rows.len() as u64);
        assert_eq!(scan_file(&pq), expected, "{layout:?}");
        assert_eq!(
            scan_in_parts(&pq, Some(10)),
            expected,
            "{layout:?} in parts"
        );
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            one.install(|| scan_file(&pq)),
            expected,
            "{layout:?}, one worker"
        );
    }
}

/// Every byte of a snappy plain chunk changed in turn: the scan reads rows or fails with an
/// error naming the file, and never stops on a panic of the reader (the error the scan gives
/// when a decoder panics), whatever the damage hits (page headers, the snappy stream's length,
/// its tags and offsets, the values).
#[test]
fn a_damaged_snappy_plain_chunk_is_an_error_never_a_panic() {
    let rows = fixed_rows(60);
    let layout = snappy_plain(false, false, 20, 60);
    let dir = tempfile::tempdir().unwrap();
    let (_, pq) = write_both(dir.path(), &rows, &layout);
    let good = std::fs::read(&pq).unwrap();
    let (start, len) = {
        let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&pq).unwrap())
            .unwrap();
        use parquet::file::reader::FileReader;
        let c = r.metadata().row_group(0).column(1);
        assert_eq!(c.column_path().string(), "subscriber");
        assert_eq!(c.compression(), parquet::basic::Compression::SNAPPY);
        (c.data_page_offset() as usize, c.compressed_size() as usize)
    };
    let (mut errors, mut read) = (0, 0);
    for at in start..start + len {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            std::fs::write(&pq, &bad).unwrap();
            let req = request("NG,JM", hotzone::ingest::IngestOptions::default(), false);
            match hotzone::scan::scan(&[pq.to_string_lossy().into_owned()], &req, &|_, _| {}) {
                Ok(_) => read += 1,
                Err(e) => {
                    let e = e.to_string();
                    assert!(e.contains("e.parquet"), "byte {at}: {e}");
                    assert!(!e.contains("stopped on damaged data"), "byte {at}: {e}");
                    errors += 1;
                }
            }
        }
    }
    // Both outcomes happen: damage to a digit reads, damage to the stream's structure fails.
    assert!(errors > 0 && read > 0, "{errors} errors, {read} read");
}

/// `b` as an Arrow IPC file of record batches of `batch_rows` rows each.
fn write_ipc_batches(path: &Path, b: &RecordBatch, batch_rows: usize) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &b.schema()).unwrap();
    let mut at = 0;
    while at < b.num_rows() {
        let n = batch_rows.min(b.num_rows() - at);
        w.write(&b.slice(at, n)).unwrap();
        at += n;
    }
    w.finish().unwrap();
}

/// The first row a `--strict` scan of `path` stops at (its error), with IPC files cut into
/// parts of `part_bytes`.
fn strict_error(path: &Path, part_bytes: Option<u64>) -> String {
    use hotzone::scan::scan;
    let ingest = hotzone::ingest::IngestOptions {
        strict: true,
        ipc_part_bytes: part_bytes,
        ..hotzone::ingest::IngestOptions::default()
    };
    let req = request("NG,JM", ingest, false);
    let name = path.to_string_lossy().into_owned();
    match scan(std::slice::from_ref(&name), &req, &|_, _| {}) {
        Ok(o) => format!("read {} rows", o.report.rows),
        Err(e) => e.to_string().replace(&name, "FILE"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// An Arrow IPC file read in parts of its record batches by several workers (and by one)
    /// reads as the file read whole: the same verdicts, counts and rejects on the same file
    /// rows, and under `--strict` the same first bad row.
    #[test]
    fn ipc_files_read_in_parts_read_as_the_whole_file(
        rows in arb_rows(),
        batch_rows in 1..20usize,
        part_bytes in 1..4_000u64,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (one, cut) = (dir.path().join("one.arrow"), dir.path().join("cut.arrow"));
        let b = gen_batch(&rows, false);
        write_ipc(&one, &b);
        write_ipc_batches(&cut, &b, batch_rows);
        let expected = scan_file(&one);
        let read = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| (scan_ipc_in_parts(&cut, Some(part_bytes)), strict_error(&cut, Some(part_bytes))))
        };
        let want_strict = strict_error(&one, None);
        for threads in [1, 3] {
            let (got, strict) = read(threads);
            prop_assert_eq!(&got, &expected, "{} threads", threads);
            prop_assert_eq!(&strict, &want_strict, "{} threads", threads);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// A scan's first pass when no `as_of` is given (the latest day of an accepted row) reads
    /// a Parquet file's row groups latest first and leaves unread those whose statistics put
    /// every instant on a day already found or before it; the day is the one a reading of
    /// every row finds (the same rows as Arrow IPC), in any zone, whatever the layout: rows in
    /// time order or not, rejected rows holding the latest instants, statistics or none.
    #[test]
    fn the_latest_day_is_every_rows_with_row_groups_left_unread(
        rows in arb_rows(),
        layout in arb_layout(),
        zone in proptest::sample::select(vec!["UTC", "Asia/Taipei", "America/New_York", "Pacific/Kiritimati"]),
        late in proptest::option::of(0..2 * 24 * 60i64),
    ) {
        let mut rows = rows;
        if let Some(minute) = late {
            // A row past every other one's day, rejected (no subscriber).
            rows.push((-minute - 24 * 60, None, Some("+2348021234567".into()), Some("in"), Some("call"), None));
        }
        if layout.time_ordered {
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
        }
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = write_both(dir.path(), &rows, &layout);
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        let opts = hotzone::ingest::IngestOptions::default();
        let latest = |p: &Path| {
            hotzone::scan::latest_day(&[p.to_string_lossy().into_owned()], tz, &opts).unwrap().0
        };
        let want = latest(&ipc);
        prop_assert_eq!(latest(&pq), want);
        // One worker reads the row groups one after the other: the most are left unread.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        prop_assert_eq!(one.install(|| latest(&pq)), want);
    }
}

/// Row groups of two rows, pages of two, snappy, chunk statistics: a file whose every row
/// group a test places.
fn pairs_with_statistics() -> Layout {
    Layout {
        dictionary: false,
        v2: false,
        delta: false,
        required: false,
        page_rows: 2,
        group_rows: 2,
        codec: parquet::basic::Compression::SNAPPY,
        time_ordered: false,
        statistics: true,
        dictionary_limit: None,
    }
}

/// The row group holding the latest accepted instant (just after midnight) is read even when
/// another row group, read first for its later (rejected) instant, already found the day
/// before: its own bound is on the latest day. Left unread, the day found would be a day
/// early.
#[test]
fn a_row_group_that_starts_the_latest_day_is_read() {
    let row = |minute: i64, subscriber: Option<&str>| -> GenRow {
        let sub = subscriber.map(str::to_owned);
        (
            minute,
            sub,
            Some("+2348021234567".into()),
            Some("in"),
            Some("call"),
            None,
        )
    };
    let s = Some("+886912345001");
    // t0 is 2026-03-10T12:00Z: minutes before it (negative: after it).
    let rows = [
        row(0, s),
        row(-60, s),
        row(-725, s), // 2026-03-11T00:05Z, the latest accepted instant
        row(120, s),
        row(-480, s),
        row(-2100, None), // 2026-03-11T23:00Z, rejected: no subscriber
    ];
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("e.parquet");
    write_layout(&pq, &gen_batch(&rows, false), &pairs_with_statistics());
    let opts = hotzone::ingest::IngestOptions::default();
    let files = [pq.to_string_lossy().into_owned()];
    // One worker, so that the row groups are read one after the other, latest bound first.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (day, _) = one
        .install(|| hotzone::scan::latest_day(&files, chrono_tz::UTC, &opts))
        .unwrap();
    assert_eq!(day, chrono::NaiveDate::from_ymd_opt(2026, 3, 11));
}

/// When the first pass of a scan without `as_of` fails, the error is the one a reading in the
/// inputs' order meets first (the pass reads row groups latest first: the later file would
/// fail first), with one worker and with all.
#[test]
fn a_failed_latest_day_names_the_first_file_in_order() {
    let s = Some("+886912345001".to_owned());
    let row = |minute: i64| -> GenRow {
        (
            minute,
            s.clone(),
            Some("+2348021234567".into()),
            Some("in"),
            Some("call"),
            None,
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let layout = pairs_with_statistics();
    // `a.parquet` lacks `kind` (earlier times), `b.parquet` lacks `direction` (later ones).
    let early = gen_batch(&[row(3000), row(2990)], false);
    let late = gen_batch(&[row(0), row(-10)], false);
    write_layout(
        &dir.path().join("a.parquet"),
        &early.project(&[0, 1, 2, 3, 5]).unwrap(),
        &layout,
    );
    write_layout(
        &dir.path().join("b.parquet"),
        &late.project(&[0, 1, 2, 4, 5]).unwrap(),
        &layout,
    );
    let opts = hotzone::ingest::IngestOptions::default();
    let inputs = [dir.path().to_string_lossy().into_owned()];
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for e in [
        hotzone::scan::latest_day(&inputs, chrono_tz::UTC, &opts).unwrap_err(),
        one.install(|| hotzone::scan::latest_day(&inputs, chrono_tz::UTC, &opts))
            .unwrap_err(),
    ] {
        assert!(e.to_string().contains("a.parquet"), "{e}");
    }
}

/// A plain-encoded page whose value runs past its end (a forged length prefix) is an error
/// naming the file and the column, not a panic or a short read.
#[test]
fn a_forged_length_in_a_plain_page_is_an_error_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_compression(parquet::basic::Compression::UNCOMPRESSED)
        .build();
    let b = batch(t0());
    write_with(&path, &b, Some(props));
    let mut bytes = std::fs::read(&path).unwrap();
    let value = b"+886912345001";
    let at = (bytes.windows(value.len()))
        .position(|w| w == value)
        .expect("the first subscriber's bytes");
    bytes[at - 4..at].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let o = scan(&path, &dir.path().join("r.csv"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("e.parquet") && err.contains("column subscriber") && err.contains("past"),
        "{err}"
    );
}

/// Writes the next required byte-array columns of row group `rg`, one per list of cells.
fn write_text_columns<const N: usize>(
    rg: &mut parquet::file::writer::SerializedRowGroupWriter<'_, std::fs::File>,
    columns: [Vec<parquet::data_type::ByteArray>; N],
) {
    for cells in columns {
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<parquet::data_type::ByteArrayType>()
            .write_batch(&cells, None, None)
            .unwrap();
        col.close().unwrap();
    }
}

/// A legacy INT96 `event_time` (Spark's, Hive's and Impala's default, with no Arrow schema in
/// the file) outside 1677-2262 is `time_out_of_range`, as in every other reader: read as
/// nanoseconds, the default, a year-2600 typo wrapped around to 2015 and was counted.
#[test]
fn int96_times_outside_the_nanosecond_range_are_rejected_not_wrapped() {
    use parquet::data_type::{ByteArray, Int96, Int96Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spark.parquet");
    let schema = parse_message_type(
        "message spark_schema { required int96 event_time; required binary subscriber (UTF8);
         required binary counterparty (UTF8); required binary direction (UTF8);
         required binary kind (UTF8); }",
    )
    .unwrap();
    // Julian days: 2026-10-30, 2600-01-01, 1400-06-01, 2200-01-01 and 2026-10-29.
    const EPOCH_JULIAN: i64 = 2_440_588;
    let days = [
        (2026, 10, 30),
        (2600, 1, 1),
        (1400, 6, 1),
        (2200, 1, 1),
        (2026, 10, 29),
    ]
    .map(|(y, m, d)| {
        let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        EPOCH_JULIAN + (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
    });
    let times: Vec<Int96> = (days.iter())
        .map(|&day| {
            let nanos: u64 = 12 * 3_600_000_000_000; // noon
            let mut t = Int96::new();
            t.set_data(nanos as u32, (nanos >> 32) as u32, day as u32);
            t
        })
        .collect();
    let text = |s: &str| vec![ByteArray::from(s); times.len()];
    let mut w = SerializedFileWriter::new(
        std::fs::File::create(&path).unwrap(),
        Arc::new(schema),
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<Int96Type>()
        .write_batch(&times, None, None)
        .unwrap();
    col.close().unwrap();
    write_text_columns(
        &mut rg,
        [
            text("+886912345678"),
            text("+2348031234567"),
            text("in"),
            text("call"),
        ],
    );
    rg.close().unwrap();
    w.close().unwrap();
    let rejects = dir.path().join("r.csv");
    let o = scan(&path, &rejects);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("5 rows read, 2 events") && err.contains("time_out_of_range=3"),
        "{err}"
    );
    // The window ends at the latest accepted day, not at a wrapped one.
    assert!(err.contains("..=2026-10-30"), "{err}");
    let rows: Vec<String> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(1).take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(
        rows,
        [
            "2,time_out_of_range",
            "3,time_out_of_range",
            "4,time_out_of_range"
        ]
    );
}

/// A string column (Parquet `UTF8`) holding bytes that are not UTF-8 is a damaged file: the
/// error names the file, the row group and the string columns being decoded, and quotes no
/// cell, whichever reader meets it (a dictionary-encoded chunk goes through Arrow's reader,
/// whose own message named no column; a plain one through the page reader).
#[test]
fn a_string_column_that_is_not_utf8_is_an_error_naming_its_columns() {
    use parquet::data_type::{ByteArray, Int64Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(
        parse_message_type(
            "message m { required int64 event_time (TIMESTAMP(MILLIS,true));
             required binary subscriber (UTF8); required binary counterparty (UTF8);
             required binary direction (UTF8); required binary kind (UTF8); }",
        )
        .unwrap(),
    );
    for dictionary in [true, false] {
        let path = dir.path().join(format!("bad-{dictionary}.parquet"));
        let rows = 50;
        let times: Vec<i64> = (0..rows).map(|i| t0() + i * 1000).collect();
        let mut subscribers: Vec<ByteArray> = (0..rows)
            .map(|i| ByteArray::from(format!("+8869123456{i:02}").as_str()))
            .collect();
        subscribers[7] = ByteArray::from(b"+886912\xff\xfe345".to_vec());
        let text = |s: &str| vec![ByteArray::from(s); rows as usize];
        let props = WriterProperties::builder()
            .set_dictionary_enabled(dictionary)
            .build();
        let mut w = SerializedFileWriter::new(
            std::fs::File::create(&path).unwrap(),
            Arc::clone(&schema),
            Arc::new(props),
        )
        .unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<Int64Type>()
            .write_batch(&times, None, None)
            .unwrap();
        col.close().unwrap();
        write_text_columns(
            &mut rg,
            [
                subscribers,
                text("+2348031234567"),
                text("in"),
                text("call"),
            ],
        );
        rg.close().unwrap();
        w.close().unwrap();
        let o = scan(&path, &dir.path().join("r.csv"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("bad-{dictionary}.parquet")), "{err}");
        assert!(
            err.contains("subscriber") && err.contains("not UTF-8"),
            "{err}"
        );
        if dictionary {
            assert!(err.contains("row group 0"), "{err}");
        }
        assert!(!err.contains("886912"), "no cell quoted: {err}");
    }
}

/// A cell that is not UTF-8 in a binary column is a present value that breaks its column's
/// rule, as the same bytes in a CSV file: `subscriber_not_e164` (not "without '+'": the
/// bytes had one),
/// `bad_direction`; not a `missing_*` reason (Arrow's cast made it a null).
#[test]
fn cells_that_are_not_utf8_break_the_same_rule_in_binary_columns_as_in_csv() {
    use arrow::array::BinaryArray;
    let dir = tempfile::tempdir().unwrap();
    let t = "2026-03-10T01:00:00Z";
    let rows: [[&[u8]; 5]; 4] = [
        [
            t.as_bytes(),
            b"+886912345678",
            b"+2348031234567",
            b"in",
            b"call",
        ],
        [
            t.as_bytes(),
            b"+8869123\xff5678",
            b"+2348031234567",
            b"in",
            b"call",
        ],
        [
            t.as_bytes(),
            b"+886912345678",
            b"+2348031234567",
            b"i\xffn",
            b"call",
        ],
        [t.as_bytes(), b"+886912345678", b"BANK\xfe", b"out", b"sms"],
    ];
    let names = [
        "event_time",
        "subscriber",
        "counterparty",
        "direction",
        "kind",
    ];
    let mut csv = names.join(",").into_bytes();
    for r in &rows {
        csv.push(b'\n');
        csv.extend(r.join(&b","[..]));
    }
    csv.push(b'\n');
    let csv_path = dir.path().join("e.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let mut fields = vec![Field::new("event_time", DataType::Utf8, false)];
    let mut columns: Vec<arrow::array::ArrayRef> = vec![Arc::new(StringArray::from(vec![t; 4]))];
    for (c, name) in names.iter().enumerate().skip(1) {
        fields.push(Field::new(*name, DataType::Binary, false));
        columns.push(Arc::new(BinaryArray::from_iter_values(
            rows.iter().map(|r| r[c]),
        )));
    }
    let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let pq_path = dir.path().join("e.parquet");
    write_with(&pq_path, &b, None);
    let from_csv = run(&csv_path, &dir.path().join("r1.csv"));
    assert_eq!(run(&pq_path, &dir.path().join("r2.csv")), from_csv);
    assert_eq!(
        from_csv.1,
        "2,subscriber_not_e164,\"subscriber is not an E.164 number (^\\+[1-9][0-9]{4,14}$)\"\n\
         3,bad_direction,direction is not 'in' or 'out'"
    );
}

/// National numbers in a float column (pandas makes an integer column with a gap float64)
/// read as the same numbers as in an integer column: `912345678.0` used to become the
/// digits `9123456780`, a subscriber one digit too long, with no reject. A value that is not
/// an integer is a present cell that is not a number.
#[test]
fn numbers_in_a_float_column_are_the_integers_they_hold() {
    use arrow::array::{ArrayRef, Float64Array};
    let dir = tempfile::tempdir().unwrap();
    let t = t0();
    let subs = [
        Some(912_345_678.0),
        Some(912_345_678.0),
        Some(912_345_679.0),
        None,
        Some(9_123_456.5),
        Some(f64::NAN),
    ];
    let cps = [
        Some(2_348_031_234_567.0),
        Some(2_348_031_234_567.0),
        Some(912_000_111.0),
        Some(2_348_031_234_567.0),
        Some(2_348_031_234_567.0),
        Some(0.25),
    ];
    let file_with = |name: &str, sub: ArrayRef, cp: ArrayRef, duration: Option<ArrayRef>| {
        let mut fields = vec![
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("subscriber", sub.data_type().clone(), true),
            Field::new("counterparty", cp.data_type().clone(), true),
            Field::new("direction", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
        ];
        let n = sub.len();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![t; n]).with_timezone("UTC")),
            sub,
            cp,
            Arc::new(StringArray::from(vec!["in"; n])),
            Arc::new(StringArray::from(vec!["call"; n])),
        ];
        if let Some(d) = duration {
            fields.push(Field::new("duration_s", d.data_type().clone(), true));
            columns.push(d);
        }
        let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let path = dir.path().join(name);
        write_parquet(&path, &b, false);
        let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("scan")
            .arg(&path)
            .args(["--hotzone", "TW", "--look-back-days", "1"])
            .args(["--threshold-ratio", "0.5", "--min-events", "1"])
            .args(["--tz", "UTC", "--default-region", "TW", "--output", "-"])
            .output()
            .unwrap();
        (
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let file = |name: &str, sub: ArrayRef, cp: ArrayRef| file_with(name, sub, cp, None);
    let (floats, summary) = file(
        "f.parquet",
        Arc::new(Float64Array::from(subs.to_vec())),
        Arc::new(Float64Array::from(cps.to_vec())),
    );
    let as_int = |v: &[Option<f64>]| -> ArrayRef {
        Arc::new(Int64Array::from(
            v.iter()
                .map(|x| x.filter(|x| x.fract() == 0.0).map(|x| x as i64))
                .collect::<Vec<_>>(),
        ))
    };
    let (ints, _) = file(
        "i.parquet",
        as_int(&subs[..4]).slice(0, 4),
        as_int(&cps[..4]).slice(0, 4),
    );
    // The integral rows give what the same numbers as integers give.
    assert_eq!(floats, ints);
    assert_eq!(
        floats,
        "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
         +886912345678,false,,0,\n\
         +886912345679,true,2026-03-10,1,2026-03-10\n",
        "{summary}"
    );
    // Row 4 null, rows 5 and 6 not integers: rejected, not counted under other numbers;
    // `2348031234567` has lost its `+` (a number column) and is no Taiwanese number: unknown.
    assert!(
        summary.contains("6 rows read, 3 events, 2 with unknown counterparty, rejected 3 (missing_subscriber=1, subscriber_not_e164=2)"),
        "{summary}"
    );
    // Decimal columns (Oracle NUMBER(15,2), Spark and DuckDB decimals) are read as the float
    // columns are: Arrow's text of `912345678.00` had read as `91234567800`, with no reject.
    // A whole decimal `duration_s` is an integer (it made the file unreadable).
    let decimal = |v: &[Option<f64>]| -> ArrayRef {
        Arc::new(
            arrow::array::Decimal128Array::from(
                v.iter()
                    .map(|x| x.map(|x| if x.is_nan() { 1 } else { (x * 100.0) as i128 }))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(15, 2)
            .unwrap(),
        )
    };
    let durations: ArrayRef = Arc::new(
        arrow::array::Decimal128Array::from(vec![
            Some(60),
            Some(0),
            Some(5),
            None,
            Some(7),
            Some(8),
        ])
        .with_precision_and_scale(10, 0)
        .unwrap(),
    );
    let (decimals, dec_summary) =
        file_with("d.parquet", decimal(&subs), decimal(&cps), Some(durations));
    assert_eq!(decimals, floats, "{dec_summary}");
    assert!(
        dec_summary.contains("6 rows read, 3 events, 2 with unknown counterparty, rejected 3 (missing_subscriber=1, subscriber_not_e164=2)"),
        "{dec_summary}"
    );
    // A decimal duration with a fraction is a bad duration, as a float's is.
    let half: ArrayRef = Arc::new(
        arrow::array::Decimal128Array::from(vec![Some(605), Some(600), Some(600)])
            .with_precision_and_scale(10, 1)
            .unwrap(),
    );
    let (_, half_summary) = file_with(
        "h.parquet",
        decimal(&subs[..3]),
        decimal(&cps[..3]),
        Some(half),
    );
    assert!(
        half_summary.contains("rejected 1 (bad_duration=1)"),
        "{half_summary}"
    );
}

/// Writes [`batch`] with `column` Brotli-compressed and the others not, then sets that
/// column's codec to LZO (which this build cannot decompress) in the footer: in the Thrift
/// compact encoding the codec is field 4 of ColumnMetaData, an i32 right after field 3
/// (header byte 0x15) holding the zigzag form of BROTLI = 4 (0x08); LZO = 3 is 0x06. The
/// footer is checked afterwards: exactly that column's chunks say LZO.
fn with_lzo_column(path: &Path, column: &str) {
    use parquet::basic::{BrotliLevel, Compression};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::types::ColumnPath;
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .set_compression(Compression::UNCOMPRESSED)
        .set_column_compression(
            ColumnPath::from(column),
            Compression::BROTLI(BrotliLevel::default()),
        )
        .build();
    let b = batch(t0());
    write_with(path, &b, Some(props));
    let data = std::fs::read(path).unwrap();
    let size = u32::from_le_bytes(data[data.len() - 8..data.len() - 4].try_into().unwrap());
    let start = data.len() - 8 - size as usize;
    let mut footer = data[start..data.len() - 8].to_vec();
    let mut patched = 0;
    for i in 0..footer.len() - 1 {
        if footer[i..i + 2] == [0x15, 0x08] {
            footer[i + 1] = 0x06;
            patched += 1;
        }
    }
    let mut out = data[..start].to_vec();
    out.extend_from_slice(&footer);
    out.extend_from_slice(&data[data.len() - 8..]);
    std::fs::write(path, out).unwrap();
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(
        patched,
        meta.num_row_groups(),
        "one codec per row group patched"
    );
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let expected = if c.column_path().string() == column {
                Compression::LZO
            } else {
                Compression::UNCOMPRESSED
            };
            assert_eq!(c.compression(), expected, "{}", c.column_path().string());
        }
    }
}

/// A column the scan does not decode where statistics settle it (`event_time` on one day of
/// W, `duration_s` never negative) is still refused when this build could not decompress
/// it: whether a file is read does not depend on its statistics or on `--as-of`.
#[test]
fn a_column_left_undecoded_by_statistics_is_still_refused_when_its_codec_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    for column in ["event_time", "duration_s"] {
        let path = dir.path().join(format!("{column}-lzo.parquet"));
        with_lzo_column(&path, column);
        for as_of in [Some("2026-03-10"), None] {
            let mut args = vec!["--threshold-ratio", "0.5"];
            args.extend(as_of.map(|d| ["--as-of", d]).into_iter().flatten());
            let o = scan_with(&path, &args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{column} {as_of:?}: {err}");
            assert!(
                err.contains(&format!("{column}-lzo.parquet"))
                    && err.contains(&format!("column {column} is compressed with LZO")),
                "{column} {as_of:?}: {err}"
            );
        }
    }
}

/// One Int64 column of epoch milliseconds mapped to both `event_time` and `duration_s`, in
/// row groups that each lie on one day: the statistics' skips (times on one day of W,
/// durations never negative) give the verdicts and counts of the same file written without
/// statistics, which decodes every cell.
#[test]
fn one_column_mapped_to_event_time_and_duration_s_reads_alike_with_and_without_statistics() {
    use parquet::file::properties::EnabledStatistics;
    let t0 = t0();
    let n = 12;
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("counterparty", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(
                (0..n).map(|i| t0 + i * 60_000).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| format!("+88691234500{}", i % 2))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| {
                        if i % 4 == 1 {
                            "+886223456789"
                        } else {
                            "+2348021234567"
                        }
                    })
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec!["in"; n as usize])),
            Arc::new(StringArray::from(vec!["call"; n as usize])),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<(String, String)> = [EnabledStatistics::Chunk, EnabledStatistics::None]
        .into_iter()
        .map(|stats| {
            let path = dir.path().join(format!("{stats:?}.parquet"));
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(4))
                .set_statistics_enabled(stats)
                .build();
            write_with(&path, &b, Some(props));
            let o = scan_with(
                &path,
                &[
                    "--column",
                    "ts=event_time",
                    "--column",
                    "ts=duration_s",
                    "--threshold-ratio",
                    "0.7",
                    "--as-of",
                    "2026-03-10",
                ],
            );
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert_eq!(o.status.code(), Some(0), "{stats:?}: {err}");
            let summary = err
                .split_once("file(s), ")
                .and_then(|(_, r)| r.split_once("; window"))
                .map(|(c, _)| c.to_owned())
                .unwrap_or_else(|| panic!("{err}"));
            (String::from_utf8(o.stdout).unwrap(), summary)
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
    // Subscriber 0 has rows 0, 2, 4, ... (all Nigerian), subscriber 1 has rows 1, 3, ...
    // (half Taiwanese): 6/6 and 3/6 against r = 0.7.
    assert_eq!(
        outputs[0].0,
        "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n\
         +886912345000,true,2026-03-10,1,2026-03-10\n\
         +886912345001,false,,0,\n"
    );
    assert!(
        outputs[0].1.starts_with("12 rows read, 12 events"),
        "{}",
        outputs[0].1
    );
}

/// A row group of several batches whose subscriber dictionary holds more values than a batch
/// has rows (one row group per file, as some writers make them: the dictionary is
/// interpreted once, at its second batch, and each batch's subscribers are gathered from it
/// before the row loop) reads as the same rows written as Arrow IPC: cells of every kind the
/// rules treat apart (valid, spaced, national, not a number, empty, missing) among a hundred
/// thousand distinct numbers; and so does a dictionary smaller than a batch but too large to
/// stay in cache.
#[test]
fn a_row_group_with_a_large_subscriber_dictionary_reads_as_arrow_ipc() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (rows, distinct) in [(150_000usize, 100_000u64), (100_000, 30_000)] {
        let gen_rows: Vec<GenRow> = (0..rows)
            .map(|i| {
                let r = next();
                let sub = match r % 200 {
                    0 => None,
                    1 => Some(SUBSCRIBERS[(r / 200) as usize % SUBSCRIBERS.len()].to_owned()),
                    _ => Some(format!("+8869{:08}", (r >> 8) % distinct)),
                };
                let cp = COUNTERPARTIES[(r >> 40) as usize % COUNTERPARTIES.len()];
                (
                    (i % (2 * 24 * 60)) as i64,
                    sub,
                    Some(cp.to_owned()),
                    Some(DIRECTIONS[(r >> 20) as usize % DIRECTIONS.len()]),
                    Some(KINDS[(r >> 24) as usize % KINDS.len()]),
                    Some((r >> 50) as i64 % 100),
                )
            })
            .collect();
        let b = gen_batch(&gen_rows, false);
        let dir = tempfile::tempdir().unwrap();
        let (ipc, pq) = (dir.path().join("e.arrow"), dir.path().join("e.parquet"));
        write_ipc(&ipc, &b);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(rows))
            .set_dictionary_page_size_limit(64 << 20)
            .build();
        write_with(&pq, &b, Some(props));
        let meta = parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(&pq).unwrap(),
        )
        .unwrap();
        let rg = parquet::file::reader::FileReader::metadata(&meta).row_group(0);
        assert_eq!(rg.num_rows() as usize, rows, "one row group");
        assert!(
            rg.column(1).dictionary_page_offset().is_some(),
            "the subscriber column is dictionary-encoded"
        );
        let expected = scan_file(&ipc);
        assert_eq!(expected.2.0, rows as u64);
        assert!(!expected.1.is_empty(), "the rows hold rejects");
        assert_eq!(scan_file(&pq), expected, "{rows} rows, {distinct} numbers");
    }
}

/// Through the command line: `HOTZONE_PARQUET_PART_ROWS` cuts every row group of more rows
/// into parts of that many (read by several workers), with the same verdicts, counts and
/// reject rows as the file read whole; a value that is not a positive integer is an error
/// naming the variable.
#[test]
fn the_parquet_part_size_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("e.parquet");
    write_parquet(&pq, &batch(t0()), false);
    let with = |rows: Option<&str>| {
        let rejects = dir.path().join("r.csv");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotzone"));
        cmd.arg("scan")
            .arg(&pq)
            .args(["--hotzone", "NG", "--look-back-days", "2", "--tz", "UTC"])
            .args(["--output", "-", "--threshold-ratio", "0.5", "--rejects"])
            .arg(&rejects);
        match rows {
            Some(r) => cmd.env("HOTZONE_PARQUET_PART_ROWS", r),
            None => cmd.env_remove("HOTZONE_PARQUET_PART_ROWS"),
        };
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let counts = err.split_once("; window").map(|(c, _)| c.to_owned());
        let body = std::fs::read_to_string(&rejects).unwrap_or_default();
        (
            o.status.code(),
            String::from_utf8(o.stdout).unwrap(),
            counts,
            body,
            err,
        )
    };
    let whole = with(None);
    assert_eq!(whole.0, Some(2), "{}", whole.4);
    assert!(whole.3.lines().count() > 2, "rejects: {}", whole.3);
    for rows in ["1", "3", "5"] {
        let parts = with(Some(rows));
        assert_eq!(
            (parts.0, &parts.1, &parts.2, &parts.3),
            (whole.0, &whole.1, &whole.2, &whole.3),
            "parts of {rows}"
        );
    }
    let bad = with(Some("0"));
    assert_eq!(bad.0, Some(1), "{}", bad.4);
    assert!(bad.4.contains("HOTZONE_PARQUET_PART_ROWS"), "{}", bad.4);
}

/// A page header that claims more values than its page holds (one of a row group's rows
/// counted twice by the headers) makes the row group be read whole, with the whole reading's
/// error: parts pass over rows by those headers, and a part reading only its rows of the
/// page would never meet the lie (the file was read without an error).
#[test]
fn a_row_group_whose_page_headers_lie_is_read_whole_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("e.parquet");
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_compression(parquet::basic::Compression::UNCOMPRESSED)
        .build();
    write_with(&pq, &batch(t0()), Some(props));
    let rows = ROWS.len() as u8;
    let mut bytes = std::fs::read(&pq).unwrap();
    // The `duration_s` chunk's one data page header (thrift compact, at the chunk's start;
    // a column the Arrow reader reads): the data page header struct (field 5), then its
    // field 1, `num_values`, a zigzag varint.
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&reader);
    let at = meta.row_group(0).column(5).data_page_offset() as usize;
    let k = (at..at + 32)
        .find(|&i| bytes[i] == 0x2c && bytes[i + 1] == 0x15 && bytes[i + 2] == 2 * rows)
        .expect("the num_values field of the duration_s page");
    bytes[k + 2] = 2 * (rows + 4); // claims four values more than the page holds
    std::fs::write(&pq, &bytes).unwrap();
    let read = |part_rows: Option<u64>| {
        let ingest = hotzone::ingest::IngestOptions {
            parquet_part_rows: part_rows,
            ..hotzone::ingest::IngestOptions::default()
        };
        let req = request("NG", ingest, false);
        hotzone::scan::scan(&[pq.to_string_lossy().into_owned()], &req, &|_, _| {})
            .map(|o| o.report.rows)
            .map_err(|e| e.to_string())
    };
    let whole = read(None);
    assert!(whole.is_err(), "{whole:?}");
    for part_rows in [1, 3, 5] {
        assert_eq!(read(Some(part_rows)), whole, "parts of {part_rows}");
    }
}

/// An Arrow IPC file whose footer sends a batch's block to a smaller batch's message (a
/// damaged or crafted file: arrow-rs panics on it) is an error naming the file, from the
/// library and from the command line (exit 1, no crash report), read whole or in parts.
#[test]
fn an_ipc_file_the_reader_panics_on_is_an_error_naming_it() {
    let rows: Vec<GenRow> = (0..300i64)
        .map(|i| {
            let cp = format!("+2348{}{i}", "0".repeat((i % 7) as usize));
            (
                i,
                Some("+886912345001".into()),
                Some(cp),
                Some("in"),
                Some("call"),
                Some(i),
            )
        })
        .collect();
    let b = gen_batch(&rows, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.arrow");
    let f = std::fs::File::create(&path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &b.schema()).unwrap();
    let (mut at, mut k) = (0, 0);
    while at < b.num_rows() {
        let n = (5 + (k * 7) % 11).min(b.num_rows() - at);
        w.write(&b.slice(at, n)).unwrap();
        (at, k) = (at + n, k + 1);
    }
    w.finish().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let footer_len = i32::from_le_bytes(bytes[len - 10..len - 6].try_into().unwrap()) as usize;
    let footer_at = len - 10 - footer_len;
    let (to, from) = {
        let footer = arrow::ipc::root_as_footer(&bytes[footer_at..len - 10]).unwrap();
        let blocks = footer.recordBatches().unwrap();
        (blocks.get(10).offset(), blocks.get(11).offset())
    };
    let k = (footer_at..len - 8)
        .find(|&i| bytes[i..i + 8] == from.to_le_bytes())
        .expect("batch 11's block");
    bytes[k..k + 8].copy_from_slice(&to.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    for part_bytes in [None, Some(1)] {
        let ingest = hotzone::ingest::IngestOptions {
            ipc_part_bytes: part_bytes,
            ..hotzone::ingest::IngestOptions::default()
        };
        let req = request("NG", ingest, false);
        let name = path.to_string_lossy().into_owned();
        let err = hotzone::scan::scan(std::slice::from_ref(&name), &req, &|_, _| {})
            .map(|o| o.report.rows)
            .expect_err("a damaged file")
            .to_string();
        assert!(err.contains(&name) && err.contains("damaged"), "{err}");
    }
    let o = scan_with(&path, &["--threshold-ratio", "0.5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("damaged data") && !err.contains("panicked"),
        "{err}"
    );
}

/// The index build (`prepare`, the server's load) writes the same prepared file whether a
/// Parquet row group or an Arrow IPC file is read whole or in parts (one worker or three):
/// the parts' events and counterparties land in the same places.
#[test]
fn row_group_and_ipc_parts_prepare_the_same_index() {
    let rows: Vec<GenRow> = (0..400i64)
        .map(|i| {
            let sub = (i % 9 != 0).then(|| format!("+8869123450{:02}", i % 37));
            let cp = COUNTERPARTIES[(i as usize * 7) % COUNTERPARTIES.len()];
            (
                i * 7 % 2880,
                sub,
                Some(cp.into()),
                Some("in"),
                Some("call"),
                Some(i % 50),
            )
        })
        .collect();
    let layout = Layout {
        page_rows: 3,
        group_rows: 150,
        ..pairs_with_statistics()
    };
    let dir = tempfile::tempdir().unwrap();
    let (ipc, pq) = write_both(dir.path(), &rows, &layout);
    let cut_ipc = dir.path().join("cut.arrow");
    write_ipc_batches(&cut_ipc, &gen_batch(&rows, layout.required), 7);
    let prepared = |path: &Path, opts: hotzone::ingest::IngestOptions, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let files = [path.to_string_lossy().into_owned()];
        let (index, _) = pool
            .install(|| hotzone::index::ServingIndex::load(&files, &opts, chrono_tz::UTC))
            .unwrap();
        let out = dir.path().join("x.hzi");
        index.write(&out).unwrap();
        std::fs::read(&out).unwrap()
    };
    let whole = |path: &Path| prepared(path, hotzone::ingest::IngestOptions::default(), 1);
    let (whole_pq, whole_ipc) = (whole(&pq), whole(&cut_ipc));
    assert!(
        whole_ipc == whole(&ipc),
        "an IPC file of one batch and of many"
    );
    for threads in [1, 3] {
        for part in [1u64, 2, 7, 40, 149] {
            let rows = hotzone::ingest::IngestOptions {
                parquet_part_rows: Some(part),
                ..hotzone::ingest::IngestOptions::default()
            };
            assert!(
                prepared(&pq, rows, threads) == whole_pq,
                "Parquet parts of {part} rows"
            );
            let bytes = hotzone::ingest::IngestOptions {
                ipc_part_bytes: Some(part * 50),
                ..hotzone::ingest::IngestOptions::default()
            };
            let ipc_parts = prepared(&cut_ipc, bytes, threads);
            assert!(ipc_parts == whole_ipc, "IPC parts of {} bytes", part * 50);
        }
    }
}

/// An Arrow IPC file or stream with no record batch has its columns checked as a CSV file
/// with only a header has (it was "0 rows read" whatever its columns), and a batch the reader
/// refuses (invalid UTF-8 in a string column) is named by its place in the file.
#[test]
fn an_ipc_file_without_batches_has_its_columns_checked_and_a_bad_batch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let partial = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("kind", DataType::Utf8, true),
    ]));
    for stream in [false, true] {
        let path = dir.path().join(if stream { "s.arrows" } else { "f.arrow" });
        let f = std::fs::File::create(&path).unwrap();
        if stream {
            arrow::ipc::writer::StreamWriter::try_new(f, &partial)
                .unwrap()
                .finish()
                .unwrap();
        } else {
            arrow::ipc::writer::FileWriter::try_new(f, &partial)
                .unwrap()
                .finish()
                .unwrap();
        }
        let o = scan_with(&path, &["--threshold-ratio", "0.5"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("missing required column") && err.contains("subscriber"),
            "{err}"
        );
    }
    // Invalid UTF-8 in a string column of the second batch: one byte of a value changed in
    // the file (IPC has no checksum; a writer that does not validate leaves such bytes).
    let rows = |subs: [&str; 2]| {
        let r: Vec<GenRow> = subs
            .iter()
            .map(|s| {
                (
                    0,
                    Some((*s).into()),
                    Some("+2348021234567".into()),
                    Some("in"),
                    Some("call"),
                    None,
                )
            })
            .collect();
        gen_batch(&r, false)
    };
    let path = dir.path().join("utf8.arrow");
    let first = rows(["+886912345001", "+886912345002"]);
    let f = std::fs::File::create(&path).unwrap();
    let mut w = arrow::ipc::writer::FileWriter::try_new(f, &first.schema()).unwrap();
    w.write(&first).unwrap();
    w.write(&rows(["+886912345003", "+886912345774"])).unwrap();
    w.finish().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (0..bytes.len() - 13)
        .find(|&i| &bytes[i..i + 13] == b"+886912345774")
        .unwrap();
    bytes[at + 10] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let o = scan_with(&path, &["--threshold-ratio", "0.5"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("record batch 1 (from row 3)"), "{err}");
}

/// Delta-encoded string pages of many blocks (1,000 values a page: eight blocks of 128, the
/// last one short), both encodings, v1 and v2 pages, with nulls and without, and delta pages
/// after a dictionary page (the dictionary's fallback, which the Arrow reader reads after
/// `ingest::delta::check_chunk`), read as the same rows written as Arrow IPC.
#[test]
fn delta_string_pages_of_many_blocks_read_as_arrow_ipc() {
    // Numbers sharing prefixes of every length with the one before (front coding's case),
    // lengths 0 to 20, nulls.
    let rows: Vec<GenRow> = (0..3_000i64)
        .map(|i| {
            let sub = match i % 97 {
                0 => None,
                1 => Some(String::new()),
                k => Some(format!(
                    "+8869{:0w$}",
                    i * 7919 % 100_000_000,
                    w = (k % 12) as usize
                )),
            };
            let cp = (i % 13 != 0).then(|| format!("+234{}", i * 104_729 % 1_000_000_000));
            let dir = DIRECTIONS[(i % 6) as usize];
            let kind = KINDS[(i % 5) as usize];
            (
                i % (2 * 24 * 60),
                sub,
                cp,
                Some(dir),
                Some(kind),
                Some(i % 100),
            )
        })
        .collect();
    for required in [false, true] {
        for v2 in [false, true] {
            for time_ordered in [false, true] {
                for dictionary in [false, true] {
                    let layout = Layout {
                        dictionary,
                        v2,
                        delta: true,
                        required,
                        page_rows: 1_000,
                        group_rows: 2_500,
                        codec: parquet::basic::Compression::SNAPPY,
                        time_ordered,
                        statistics: true,
                        dictionary_limit: None,
                    };
                    let dir = tempfile::tempdir().unwrap();
                    let b = gen_batch(&rows, required);
                    let (ipc, pq) = (dir.path().join("e.arrow"), dir.path().join("e.parquet"));
                    write_ipc(&ipc, &b);
                    if dictionary {
                        // A dictionary page of a few values, then the delta fallback.
                        write_with_small_dictionaries(&pq, &b, &layout);
                    } else {
                        write_layout(&pq, &b, &layout);
                    }
                    assert_eq!(scan_file(&pq), scan_file(&ipc), "{layout:?}");
                    assert_eq!(scan_in_parts(&pq, Some(333)), scan_file(&ipc), "{layout:?}");
                }
            }
        }
    }
}

/// [`write_layout`] with dictionaries that overflow at once, so the string chunks hold a
/// dictionary page and then pages of the layout's delta encoding.
fn write_with_small_dictionaries(path: &Path, b: &RecordBatch, l: &Layout) {
    use parquet::basic::Encoding;
    use parquet::file::properties::WriterVersion;
    let mut props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(l.group_rows))
        .set_dictionary_enabled(true)
        .set_dictionary_page_size_limit(64)
        .set_data_page_row_count_limit(l.page_rows)
        .set_write_batch_size(l.page_rows)
        .set_compression(l.codec);
    if l.v2 {
        props = props.set_writer_version(WriterVersion::PARQUET_2_0);
    }
    for c in ["subscriber", "counterparty"] {
        let e = if l.time_ordered {
            Encoding::DELTA_BYTE_ARRAY
        } else {
            Encoding::DELTA_LENGTH_BYTE_ARRAY
        };
        props = props.set_column_encoding(c.into(), e);
    }
    let f = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(f, b.schema(), Some(props.build())).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
    // The chunks are what the test means: a dictionary page, then delta pages.
    let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(path).unwrap());
    let meta = parquet::file::reader::FileReader::metadata(&r.unwrap()).clone();
    let chunk = meta.row_group(0).column(1);
    assert!(
        chunk.dictionary_page_offset().is_some(),
        "{:?}",
        chunk.encodings().collect::<Vec<_>>()
    );
    assert!(
        chunk.encodings().any(|e| matches!(
            e,
            Encoding::DELTA_BYTE_ARRAY | Encoding::DELTA_LENGTH_BYTE_ARRAY
        )),
        "{:?}",
        chunk.encodings().collect::<Vec<_>>()
    );
}

/// Writes 2^20 equal rows to `path` with `codec`, each column in one page with no statistics
/// (so every column is decoded) and `event_time` and `subscriber` plain-encoded, then edits
/// the header of the page of column `k` (0: `event_time`, 8 MiB, read by the Arrow reader;
/// 1: `subscriber`, 17 MiB, read from its pages) to state `stated(len)` bytes, `len` being
/// the length of the header's varint, which the new value must keep (nothing else moves).
/// Returns the size the page header states.
fn one_page_restated(
    path: &Path,
    codec: parquet::basic::Compression,
    k: usize,
    stated: impl Fn(usize) -> u64,
) -> u64 {
    use parquet::file::properties::EnabledStatistics;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::types::ColumnPath;
    let n = 1 << 20;
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("counterparty", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    let b = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(TimestampMillisecondArray::from(vec![t0(); n]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec!["+886912345001"; n])),
            Arc::new(StringArray::from(vec!["+2348021234567"; n])),
            Arc::new(StringArray::from(vec!["in"; n])),
            Arc::new(StringArray::from(vec!["call"; n])),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(codec)
        .set_column_dictionary_enabled(ColumnPath::from("event_time"), false)
        .set_column_dictionary_enabled(ColumnPath::from("subscriber"), false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_data_page_size_limit(64 << 20)
        .set_data_page_row_count_limit(n)
        .set_write_batch_size(n)
        .build();
    write_with(path, &b, Some(props));
    let column = ["event_time", "subscriber"][k];
    let offset = {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        let chunk = reader.metadata().row_group(0).column(k);
        assert_eq!(chunk.column_path().string(), column);
        assert_eq!(chunk.dictionary_page_offset(), None);
        chunk.data_page_offset() as usize
    };
    let mut data = std::fs::read(path).unwrap();
    // Field 1 (type, i32): DATA_PAGE (0); field 2 (uncompressed size, i32): a zigzag varint.
    assert_eq!(data[offset..offset + 3], [0x15, 0x00, 0x15], "{column}");
    let at = offset + 3;
    let len = data[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    let (mut was, mut shift) = (0u64, 0);
    for b in &data[at..at + len] {
        was |= u64::from(b & 0x7f) << shift;
        shift += 7;
    }
    let value_bytes = if k == 0 { 8 } else { 4 + 13 };
    assert_eq!(
        was / 2,
        value_bytes * n as u64,
        "{column}: one page of all the values"
    );
    let said = stated(len);
    let mut v = said * 2;
    assert!(
        v >= 1 << (7 * (len - 1)) && v < 1 << (7 * len),
        "{said} in {len} bytes"
    );
    for k in 0..len {
        let more = if k + 1 < len { 0x80 } else { 0 };
        data[at + k] = (v & 0x7f) as u8 | more;
        v >>= 7;
    }
    std::fs::write(path, &data).unwrap();
    said
}

/// A page whose stream decompresses to more than its header states is refused when the
/// stream passes that size, by the reader's own decompression (gzip, brotli, LZ4), naming the
/// file and the column; the `parquet` crate read such a stream whole before comparing (a
/// gigabyte for a 1 MB gzip page). The page of `event_time` (read by the Arrow reader) or of
/// a plain-encoded `subscriber` (read from its pages) states 1 MiB.
#[test]
fn a_page_decompressing_past_its_stated_size_is_refused_at_that_size() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel};
    let dir = tempfile::tempdir().unwrap();
    let codecs = [
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("brotli", Compression::BROTLI(BrotliLevel::default())),
        ("lz4", Compression::LZ4),
    ];
    for ((name, codec), k) in (codecs.into_iter()).flat_map(|c| [(c, 0), (c, 1)]) {
        let column = ["event_time", "subscriber"][k];
        let path = dir
            .path()
            .join(format!("{name}-{column}-page-stating-less.parquet"));
        // The least value a varint of this many bytes holds (zigzag): 1 MiB here.
        let said = one_page_restated(&path, codec, k, |len| 1 << (7 * (len - 1) - 1));
        assert_eq!(said, 1 << 20, "{name} {column}");
        let o = scan_with(&path, &["--threshold-ratio", "0.5"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name} {column}: {err}");
        let file = path.file_name().unwrap().to_str().unwrap();
        assert!(
            err.contains(file) && err.contains(&format!("column {column}:")),
            "{name} {column}: {err}"
        );
        let why = match name {
            "lz4" => "LZ4".to_owned(),
            _ => format!("decompresses to more than the {said} bytes its header states"),
        };
        assert!(err.contains(&why), "{name} {column}: {err}");
    }
}

/// A page header stating more bytes than its codec can make of its stored ones is refused
/// from the header, before anything is set aside for it, in a plain-encoded string column
/// (read from its pages) as in the columns the Arrow reader reads: an `LZ4` page of 70 KB
/// stating 128 MiB had that much zeroed first (1.9 GB stated took 1.9 GB; a review found it).
#[test]
fn a_plain_string_page_stating_more_than_its_codec_makes_is_refused_from_its_header() {
    use parquet::basic::{Compression, GzipLevel};
    let dir = tempfile::tempdir().unwrap();
    let codecs = [
        ("lz4", Compression::LZ4),
        ("lz4_raw", Compression::LZ4_RAW),
        ("gzip", Compression::GZIP(GzipLevel::default())),
    ];
    for (name, codec) in codecs {
        let path = dir
            .path()
            .join(format!("{name}-subscriber-stating-128-mib.parquet"));
        // The most a varint of this many bytes holds (zigzag, even): 128 MiB less a byte.
        let said = one_page_restated(&path, codec, 1, |len| (1 << (7 * len - 1)) - 1);
        let o = scan_with(&path, &["--threshold-ratio", "0.5"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap())
                && err.contains("column subscriber:")
                && err.contains(&format!("a page states {said} bytes decompressed from"))
                && err.contains("makes of them"),
            "{name}: {err}"
        );
    }
}

/// The pages of gzip, brotli and LZ4 chunks are decompressed by the reader
/// (`ingest::inflate`), not the `parquet` crate: in every page form (v1 and v2, dictionary,
/// plain and delta encodings, optional and required columns), whole and in parts of row
/// groups (pages passed over), the rows are the ones the same data gives as Arrow IPC.
#[test]
fn pages_of_unbounded_codecs_decompressed_here_read_as_arrow_ipc() {
    use parquet::basic::{BrotliLevel, Compression, GzipLevel};
    let rows = fixed_rows(500);
    let dir = tempfile::tempdir().unwrap();
    for codec in [
        Compression::GZIP(GzipLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
        Compression::LZ4,
    ] {
        for (v2, dictionary, delta, required) in
            (0..16).map(|k| (k & 1 > 0, k & 2 > 0, k & 4 > 0, k & 8 > 0))
        {
            let layout = Layout {
                dictionary,
                v2,
                delta,
                required,
                page_rows: 7,
                group_rows: 60,
                codec,
                time_ordered: false,
                statistics: true,
                dictionary_limit: None,
            };
            let (ipc, pq) = write_both(dir.path(), &rows, &layout);
            let expected = scan_file(&ipc);
            assert_eq!(expected.2.0, rows.len() as u64);
            assert_eq!(scan_file(&pq), expected, "{layout:?}");
            assert_eq!(
                scan_in_parts(&pq, Some(25)),
                expected,
                "{layout:?} in parts"
            );
        }
    }
}

/// A column the scan does not read is not decoded from an Arrow IPC file or stream (the
/// read's projection), as a Parquet file's is not: an extra string-view column whose bytes
/// are not UTF-8, which Arrow's reader refuses when it decodes the column, leaves the file
/// reading as it does without that column. The file is written with the column as binary
/// views, then its type tags edited to string views (the bytes in which the same file
/// written with valid text as string views differs from it as binary views).
#[test]
fn a_column_the_scan_does_not_read_is_not_decoded_from_arrow_ipc() {
    use arrow::array::{ArrayRef, BinaryViewArray, StringViewArray};
    let dir = tempfile::tempdir().unwrap();
    let b = batch(t0());
    let notes: Vec<Vec<u8>> = (0..b.num_rows())
        .map(|i| match i {
            3 => vec![0xff; 20],
            _ => format!("a note on row {i:06} of text").into_bytes(),
        })
        .collect();
    let valid: Vec<String> = notes
        .iter()
        .map(|n| {
            n.iter()
                .map(|&c| if c < 0x80 { c as char } else { 'x' })
                .collect()
        })
        .collect();
    let with = |column: ArrayRef| {
        let mut fields: Vec<Field> = (b.schema().fields().iter())
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("notes", column.data_type().clone(), false));
        let mut columns = b.columns().to_vec();
        columns.push(column);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let invalid = with(Arc::new(BinaryViewArray::from_iter_values(notes.iter())));
    let binary = with(Arc::new(BinaryViewArray::from_iter_values(
        valid.iter().map(String::as_bytes),
    )));
    let text = with(Arc::new(StringViewArray::from_iter_values(valid.iter())));
    let expected = {
        let plain = dir.path().join("plain.arrow");
        write_ipc(&plain, &b);
        scan_file(&plain)
    };
    // Read in parts (runs of record batches, each part's reader projected alike).
    let cut = dir.path().join("cut.arrow");
    write_ipc_batches(&cut, &text, 3);
    for part_bytes in [None, Some(1), Some(700)] {
        assert_eq!(
            scan_ipc_in_parts(&cut, part_bytes),
            expected,
            "{part_bytes:?}"
        );
    }
    for stream in [false, true] {
        let write = |name: &str, batch: &RecordBatch| {
            let path = dir.path().join(name);
            let f = std::fs::File::create(&path).unwrap();
            if stream {
                let mut w = arrow::ipc::writer::StreamWriter::try_new(f, &batch.schema()).unwrap();
                w.write(batch).unwrap();
                w.finish().unwrap();
            } else {
                write_ipc(&path, batch);
            }
            std::fs::read(&path).unwrap()
        };
        let (bad, as_binary, as_text) = (
            write("bad.arrow", &invalid),
            write("binary.arrow", &binary),
            write("text.arrow", &text),
        );
        assert_eq!(bad.len(), as_text.len());
        let tags: Vec<usize> = (0..as_text.len())
            .filter(|&i| as_binary[i] != as_text[i])
            .collect();
        assert!(!tags.is_empty() && tags.len() <= 4, "{tags:?}");
        let mut edited = bad.clone();
        for &i in &tags {
            edited[i] = as_text[i];
        }
        let path = dir.path().join(format!("notes-not-utf8-{stream}.arrow"));
        std::fs::write(&path, &edited).unwrap();
        // The column is string views holding bytes that are not UTF-8: Arrow refuses it.
        let whole =
            arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&path).unwrap(), None)
                .map(|r| r.collect::<Result<Vec<_>, _>>().map(|_| ()))
                .or_else(|_| {
                    arrow::ipc::reader::StreamReader::try_new(
                        std::fs::File::open(&path).unwrap(),
                        None,
                    )
                    .map(|r| r.collect::<Result<Vec<_>, _>>().map(|_| ()))
                })
                .unwrap();
        assert!(
            whole
                .as_ref()
                .is_err_and(|e| e.to_string().contains("UTF-8")),
            "stream {stream}: {whole:?}"
        );
        assert_eq!(scan_file(&path), expected, "stream {stream}");
        // Mapped to a column the scan reads, the same bytes are an error naming the file.
        let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("scan")
            .arg(&path)
            .args([
                "--hotzone",
                "NG",
                "--look-back-days",
                "2",
                "--threshold-ratio",
                "0.5",
            ])
            .args(["--tz", "UTC", "--output", "-", "--column", "notes=kind"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "stream {stream}: {err}");
        assert!(err.contains("notes-not-utf8"), "stream {stream}: {err}");
    }
}

/// An unsigned 64-bit `duration_s` (pyarrow's `uint64`, Spark's and DuckDB's UBIGINT) past
/// `i64::MAX` is `bad_duration`, as its text is in CSV: the row group whose statistics keep
/// every value within i64 is left undecoded, the other is read (every unsigned column was
/// left undecoded, so such rows were accepted).
#[test]
fn unsigned_durations_past_i64_are_rejected_where_their_row_group_holds_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = t0();
    let durations: Vec<Option<u64>> = vec![
        Some(60),
        Some(61),
        None,
        Some(i64::MAX as u64),
        Some(1 << 63),
        Some(60),
        Some(u64::MAX),
        Some(5),
    ];
    let n = durations.len();
    let schema = schema_with(DataType::UInt64);
    let text = |v: &str| Arc::new(StringArray::from(vec![v; n])) as arrow::array::ArrayRef;
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from(vec![t; n]).with_timezone("UTC")),
            text("+886912345001"),
            text("+2348021234567"),
            text("in"),
            text("call"),
            Arc::new(arrow::array::UInt64Array::from(durations)),
        ],
    )
    .unwrap();
    let path = dir.path().join("u64.parquet");
    write_parquet(&path, &b, false);
    let rejects = dir.path().join("rejects.csv");
    let o = scan(&path, &rejects);
    let summary = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{summary}");
    assert!(
        summary.contains("8 rows read, 6 events")
            && summary.contains("rejected 2 (bad_duration=2)"),
        "{summary}"
    );
    let listed = std::fs::read_to_string(&rejects).unwrap();
    let rows: Vec<&str> = (listed.lines().skip(1))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(rows, ["5", "7"], "{listed}");
}

/// A Parquet `DATE` (or any temporal or boolean) column read as `counterparty` is an error
/// naming the file and the column, plain or dictionary-encoded: its text `2026-01-01` read
/// as the national number 20260101 made up a hot counterparty. So is a number column of an
/// extension type stored as integers (pandas' `Period`), found on the file's schema.
#[test]
fn dates_and_integer_extensions_in_number_columns_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = t0();
    let n = 4;
    let text = |v: &str| Arc::new(StringArray::from(vec![v; n])) as arrow::array::ArrayRef;
    let with = |name: &str, field: Field, column: arrow::array::ArrayRef| {
        let base = schema_with(DataType::Int64);
        let mut fields: Vec<Field> = (base.fields().iter().take(5))
            .map(|f| (**f).clone())
            .collect();
        let mut columns = vec![
            Arc::new(TimestampMillisecondArray::from(vec![t; n]).with_timezone("UTC"))
                as arrow::array::ArrayRef,
            text("+886912345001"),
            text("+2348021234567"),
            text("in"),
            text("call"),
        ];
        let at = fields.iter().position(|f| f.name() == name).unwrap();
        fields[at] = field;
        columns[at] = column;
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let dates = Arc::new(arrow::array::Date32Array::from(vec![20_454; n]));
    let date_field = Field::new("counterparty", DataType::Date32, true);
    let periods = Arc::new(arrow::array::Int64Array::from(vec![492_540; n]));
    let period_field = Field::new("subscriber", DataType::Int64, true).with_metadata(
        std::collections::HashMap::from([(
            "ARROW:extension:name".to_owned(),
            "pandas.period".to_owned(),
        )]),
    );
    let cases = [
        (
            "date.parquet",
            with("counterparty", date_field.clone(), dates.clone()),
            false,
            "column counterparty has type Date32",
        ),
        (
            "date_dict.parquet",
            with("counterparty", date_field, dates),
            true,
            "column counterparty has type Date32",
        ),
        (
            "period.parquet",
            with("subscriber", period_field, periods),
            false,
            r#"column subscriber is of the extension type "pandas.period""#,
        ),
    ];
    for (name, b, dictionary, says) in cases {
        let path = dir.path().join(name);
        write_parquet(&path, &b, dictionary);
        let o = scan(&path, &dir.path().join("rejects.csv"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
        assert!(o.stdout.is_empty(), "{name}: no verdicts of a refused file");
    }
}

/// A value that is not UTF-8 in a string column's dictionary page is an error naming that
/// column alone: the reader decoding the row group's columns together says only that one of
/// them is not UTF-8, and every string column of the row group used to be named.
#[test]
fn a_dictionary_value_that_is_not_utf8_names_its_one_column() {
    let dir = tempfile::tempdir().unwrap();
    let n = 6;
    let t = t0();
    let subscribers = ["+886900000001", "+886955555Z55", "+886999999999"];
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as arrow::array::ArrayRef;
    let b = RecordBatch::try_new(
        schema_with(DataType::Int64),
        vec![
            Arc::new(TimestampMillisecondArray::from(vec![t; n]).with_timezone("UTC")),
            text((0..n).map(|i| subscribers[i % 3]).collect()),
            text(vec!["+2348021234567"; n]),
            text(vec!["in"; n]),
            text(vec!["call"; n]),
            Arc::new(Int64Array::from(vec![60; n])),
        ],
    )
    .unwrap();
    let path = dir.path().join("bad-dictionary.parquet");
    let props = WriterProperties::builder()
        .set_dictionary_enabled(true)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .build();
    write_with(&path, &b, Some(props));
    // The middle value is in the dictionary page only (no statistics hold a value).
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (bytes.windows(13).position(|w| w == b"+886955555Z55")).expect("the value, plain");
    assert_eq!(
        bytes.windows(13).filter(|w| *w == b"+886955555Z55").count(),
        1
    );
    bytes[at + 10] = 0xFF;
    std::fs::write(&path, bytes).unwrap();
    let o = scan(&path, &dir.path().join("rejects.csv"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad-dictionary.parquet")
            && err.contains("a value of a string column (subscriber) is not UTF-8"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "no verdicts of a refused file");
}
