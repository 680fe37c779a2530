//! One CSV file read in parts (`ingest::csv_split`) gives what reading it whole gives: the
//! same verdicts and day counts, the same rejects with the same file row numbers, and under
//! `--strict` the same first bad row, for any part size.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use hotzone::index::ServingIndex;
use hotzone::ingest::IngestOptions;
use hotzone::model::{Hotzone, RawCheck};
use hotzone::scan::{ScanRequest, scan};

const HEADER: &str = "event_time,subscriber,counterparty,direction,kind,duration_s";

fn request(part_bytes: Option<u64>, strict: bool) -> ScanRequest {
    ScanRequest {
        raw: RawCheck {
            look_back_days: Some(5),
            threshold_ratio: Some(0.3),
            hotzone: Some(Arc::new(
                Hotzone::parse_list("hotzone", "NG,JM,+882").unwrap(),
            )),
            min_events: Some(1),
            as_of: Some("2026-03-10".into()),
            ..RawCheck::default()
        },
        tz: chrono_tz::UTC,
        ingest: IngestOptions {
            strict,
            csv_part_bytes: part_bytes,
            ..IngestOptions::default()
        },
        explain: true,
    }
}

/// Everything a scan says about its input: verdict rows with day counts, the counts of the
/// report, and every reject as (file name, row, reason).
type Seen = (
    Vec<String>,
    (u64, u64, u64),
    Vec<(String, u64, &'static str)>,
);

fn seen(file: &Path, part_bytes: Option<u64>) -> Seen {
    let files = [file.to_string_lossy().into_owned()];
    let mut out = scan(&files, &request(part_bytes, false), &|_, _| {}).unwrap();
    let rows = out
        .rows
        .iter()
        .map(|r| format!("{} {:?} {:?}", r.subscriber, r.verdict, r.days))
        .collect();
    let r = &mut out.report;
    let counts = (r.rows, r.events, r.unknown_counterparties);
    let rejects = r
        .rejects
        .rows()
        .iter()
        .map(|x| {
            let name = x.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, x.row, x.reason.key())
        })
        .collect();
    (rows, counts, rejects)
}

/// The row of the first reject a `--strict` scan stops at.
fn strict_row(file: &Path, part_bytes: Option<u64>) -> Option<u64> {
    let files = [file.to_string_lossy().into_owned()];
    match scan(&files, &request(part_bytes, true), &|_, _| {}) {
        Ok(_) => None,
        Err(hotzone::Error::RejectedRow { row, .. }) => Some(row),
        Err(e) => panic!("{e}"),
    }
}

/// A record, its line end, and the reason it is rejected (if it is).
struct Rec {
    text: String,
    end: &'static str,
    reject: Option<&'static str>,
}

fn rec(text: &str, end: &'static str, reject: Option<&'static str>) -> Rec {
    Rec {
        text: text.to_owned(),
        end,
        reject,
    }
}

/// `bytes` compressed as one gzip member.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, bytes).unwrap();
    e.finish().unwrap()
}

/// The hand-made file: quoted line ends (LF and CRLF), quoted delimiters, doubled quotes, a
/// quoted field that holds what looks like a whole record, CRLF and LF line ends, an empty
/// line (not a row), bad rows all through, and no line end after the last record.
fn tricky_records() -> Vec<Rec> {
    let t = |h: u32| format!("2026-03-{:02}T{:02}:00:00Z", 6 + h % 5, h % 24);
    let mut v = Vec::new();
    for i in 0..12u32 {
        let sub = format!("+8869123450{:02}", i % 4);
        v.push(rec(
            &format!("{},{sub},+2348021234567,out,call,60", t(i)),
            "\n",
            None,
        ));
        v.push(rec(
            &format!("{},{sub},\"ACME, Inc.\",in,sms,", t(i + 1)),
            "\r\n",
            None,
        ));
        v.push(rec(
            &format!("{},{sub},\"line one\nline two\",in,call,1", t(i + 2)),
            "\n",
            None,
        ));
        v.push(rec(
            &format!("{},{sub},\"say \"\"hi\"\"\r\nbye\",out,sms,0", t(i + 3)),
            "\r\n",
            None,
        ));
        v.push(rec(
            &format!(
                "{},{sub},\"x\n{},+886912345099,+18762101234,out,call,5\n\",out,call,2",
                t(i + 4),
                t(i)
            ),
            "\n",
            None,
        ));
        v.push(rec(
            &format!("{},{sub},+18762101234,sideways,call,3", t(i + 5)),
            "\n",
            Some("bad_direction"),
        ));
        v.push(rec(
            &format!("yesterday,{sub},+8821612345678,in,call,3"),
            "\r\n",
            Some("bad_event_time"),
        ));
        v.push(rec(
            &format!("{},,\"+12126849946\",in,call,3", t(i + 6)),
            "\n",
            Some("missing_subscriber"),
        ));
        v.push(rec(
            &format!("{},{sub},\"+18762101234\",\"in\",\"call\",-4", t(i + 7)),
            if i % 3 == 0 { "\n\n" } else { "\n" },
            Some("bad_duration"),
        ));
        v.push(rec(
            &format!("{},{sub},+8821612345678,in,\"sms\"", t(i + 8)),
            "\r\n",
            None,
        ));
    }
    v.last_mut().unwrap().end = "";
    v
}

fn write(dir: &Path, name: &str, header_end: &str, records: &[Rec]) -> std::path::PathBuf {
    let mut text = format!("{HEADER}{header_end}");
    for r in records {
        text.push_str(&r.text);
        text.push_str(r.end);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn split_file_reads_like_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = tricky_records();
    let path = write(dir.path(), "tricky.csv", "\r\n", &records);
    let len = std::fs::metadata(&path).unwrap().len();

    // The whole-file read rejects exactly the rows built to be bad, numbered from 1 after
    // the header, a record over several lines counting once.
    let whole = seen(&path, None);
    let want: Vec<(String, u64, &str)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.reject
                .map(|why| ("tricky.csv".to_owned(), i as u64 + 1, why))
        })
        .collect();
    assert_eq!(whole.2, want);
    assert_eq!(whole.1.0, records.len() as u64);
    assert!(
        whole.0.iter().any(|r| r.contains("last: Some")),
        "a verdict"
    );
    let first_bad = want[0].1;
    assert_eq!(strict_row(&path, None), Some(first_bad));

    let mut sizes: Vec<u64> = (1..=40).collect();
    sizes.extend([53, 64, 97, 128, 200, 333, 512, 1000, len / 2, len - 1, len]);
    for part_bytes in sizes {
        assert_eq!(
            seen(&path, Some(part_bytes)),
            whole,
            "parts of {part_bytes} bytes"
        );
        assert_eq!(strict_row(&path, Some(part_bytes)), Some(first_bad));
    }
}

/// The index build (`prepare`, the server's load) of the tricky file writes the same
/// prepared file for any part size, among them sizes whose guessed cuts fall inside quoted
/// fields (the file is then read again, with a dictionary started afresh).
#[test]
fn any_part_size_prepares_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = tricky_records();
    records.last_mut().unwrap().end = "\r\n";
    // A quoted field whose second line reads as a record of its own, with a counterparty
    // found nowhere else in the file: a reading from a start inside it meets that number.
    records.push(rec(
        "2026-03-10T02:00:00Z,+886912345001,\"note\n2026-03-10T03:00:00Z,+886912345002,+2348039999999,in,call,1\n\",in,call,1",
        "\n",
        None,
    ));
    let path = write(dir.path(), "tricky.csv", "\r\n", &records);
    let files = [path.to_string_lossy().into_owned()];
    let prepared = |part_bytes: Option<u64>| {
        let opts = IngestOptions {
            csv_part_bytes: part_bytes,
            ..IngestOptions::default()
        };
        let (index, _) = ServingIndex::load(&files, &opts, chrono_tz::UTC).unwrap();
        let out = dir.path().join("x.hzi");
        index.write(&out).unwrap();
        std::fs::read(&out).unwrap()
    };
    let whole = prepared(Some(u64::MAX));
    for part_bytes in (1..=60).chain([100, 1000]) {
        assert!(prepared(Some(part_bytes)) == whole, "{part_bytes}");
    }
}

/// A byte order mark, then a quoted header name holding a line end: the reader strips the
/// mark and reads the header as one record, so the cuts (guessed or exact, of the file or of
/// its decompressed text) must not read the header's quote as data either.
#[test]
fn a_quoted_header_after_a_byte_order_mark_is_cut_as_the_reader_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut text =
        b"\xef\xbb\xbf\"event_time\n\",subscriber,counterparty,direction,kind,duration_s\n"
            .to_vec();
    // A quoted line end at once: read with the quote parity flipped, a cut lands inside it.
    text.extend_from_slice(b"2026-03-10T01:00:00Z,+886912345001,\"a\nb\",in,call,1\n");
    for r in tricky_records() {
        text.extend_from_slice(r.text.as_bytes());
        text.extend_from_slice(r.end.as_bytes());
    }
    let plain = dir.path().join("bom.csv");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("bom.csv.gz");
    std::fs::write(&gz, gzip(&text)).unwrap();
    let whole = seen(&plain, Some(u64::MAX));
    assert_eq!(whole.2.len(), 48, "{:?}", whole.2);
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for part_bytes in 1..=40 {
        assert_eq!(seen(&plain, Some(part_bytes)), whole, "{part_bytes}");
        let on_two = two.install(|| seen(&gz, Some(part_bytes)));
        assert_eq!(on_two.0, whole.0, "gz {part_bytes}");
        assert_eq!(on_two.1, whole.1, "gz {part_bytes}");
        let rows = |s: &Seen| s.2.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>();
        assert_eq!(rows(&on_two), rows(&whole), "gz {part_bytes}");
    }
}

#[test]
fn empty_lines_before_the_header_are_not_a_boundary() {
    // The reader skips empty lines before the header: a part must not start there (it would
    // read the header as a data row).
    let dir = tempfile::tempdir().unwrap();
    for lead in ["\n\n", "\r\n\r\n\n", "\n"] {
        let mut text = format!("{lead}{HEADER}\n");
        for r in tricky_records() {
            text.push_str(&r.text);
            text.push_str(r.end);
        }
        let path = dir.path().join("lead.csv");
        std::fs::write(&path, text).unwrap();
        let whole = seen(&path, None);
        assert_eq!(whole.2.len(), 48, "{:?}", whole.2);
        for part_bytes in 1..=12 {
            assert_eq!(
                seen(&path, Some(part_bytes)),
                whole,
                "{lead:?} {part_bytes}"
            );
        }
    }
}

#[test]
fn strict_names_the_first_bad_row_in_a_later_part() {
    // The only bad row is near the end: the parts before it are clean.
    let dir = tempfile::tempdir().unwrap();
    let mut records: Vec<Rec> = (0..200)
        .map(|i| {
            rec(
                &format!(
                    "2026-03-10T01:00:00Z,+8869123450{:02},\"a\nb\",in,call,",
                    i % 7
                ),
                "\n",
                None,
            )
        })
        .collect();
    records[187] = rec("2026-03-10T01:00:00Z,+886912345001,x,up,call,", "\n", None);
    let path = write(dir.path(), "late.csv", "\n", &records);
    for part_bytes in [None, Some(1), Some(17), Some(100), Some(1000)] {
        assert_eq!(strict_row(&path, part_bytes), Some(188), "{part_bytes:?}");
    }
}

/// A quoted field still open at the end of the file is an error naming the byte of its
/// quote, whatever the part size: read on, it would make the rest of the file one cell of
/// one rejected row and hide every row after it.
#[test]
fn an_unclosed_quote_is_an_error_naming_its_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = tricky_records();
    records.last_mut().unwrap().end = "\n";
    // The stray quote, then rows without a quote to close it.
    records.push(rec(
        "2026-03-10T01:00:00Z,+886912345001,\"ACME Ltd,in,call,",
        "\n",
        None,
    ));
    for i in 0..40 {
        let row = format!("2026-03-10T02:{i:02}:00Z,+886912345002,+2348021234567,in,call,1");
        records.push(rec(&row, "\n", None));
    }
    let path = write(dir.path(), "open.csv", "\n", &records);
    let text = std::fs::read_to_string(&path).unwrap();
    let quote = text.find("\"ACME Ltd").unwrap();
    for part_bytes in [None, Some(1), Some(7), Some(64), Some(500), Some(5000)] {
        let files = [path.to_string_lossy().into_owned()];
        let err = scan(&files, &request(part_bytes, false), &|_, _| {})
            .err()
            .unwrap_or_else(|| panic!("{part_bytes:?}: read without an error"))
            .to_string();
        assert!(
            err.contains("open.csv")
                && err.contains(&format!("opened at byte {quote} is never closed")),
            "{part_bytes:?}: {err}"
        );
    }
    // Compressed, the same byte of the decompressed text (the record before the quote ends
    // in `\r\n`, where the `csv` crate's record position is one byte short).
    {
        let gz = dir.path().join("open.csv.gz");
        let quoted =
            "\"2026-03-10T01:00:00Z\",\"+886912345001\",\"+2348021234567\",\"in\",\"call\",\"1\"";
        let after = &text[quote - "2026-03-10T01:00:00Z,+886912345001,".len()..];
        let text = format!("{HEADER}\n{quoted}\r\n{after}");
        let quote = text.find("\"ACME Ltd").unwrap();
        std::fs::write(&gz, gzip(text.as_bytes())).unwrap();
        for part_bytes in [None, Some(1), Some(64)] {
            let files = [gz.to_string_lossy().into_owned()];
            let err = scan(&files, &request(part_bytes, false), &|_, _| {})
                .err()
                .unwrap_or_else(|| panic!("{part_bytes:?}: read without an error"))
                .to_string();
            assert!(
                err.contains("open.csv.gz")
                    && err.contains(&format!(
                        "opened at byte {quote} of the decompressed text is never closed"
                    )),
                "{part_bytes:?}: {err}"
            );
        }
    }
    // Closed further on, the quote is a field holding line ends: no error.
    std::fs::write(&path, format!("{text}\",in,call,\n")).unwrap();
    assert!(
        scan(
            &[path.to_string_lossy().into_owned()],
            &request(None, false),
            &|_, _| {}
        )
        .is_ok()
    );
}

/// A record with a non-empty field past the header's last column (two records on one line,
/// an escape the reader does not know) is `too_many_fields` at its row, for any part size;
/// empty fields past the last column (a trailing comma) are ignored.
#[test]
fn a_record_with_more_fields_than_the_header_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = tricky_records();
    records.last_mut().unwrap().end = "\n";
    let t = "2026-03-09T01:00:00Z";
    let extra = [
        (
            5,
            format!("{t},+886912345001,+2348021234567,in,call,60,{t}"),
            Some("too_many_fields"),
        ),
        (
            9,
            format!("{t},+886912345001,+2348021234567,in,call,60,,,"),
            None,
        ),
        (
            30,
            format!("{t},+886912345002,\"a\\\",b\",in,call,1"),
            Some("too_many_fields"),
        ),
        (
            41,
            format!("{t},+886912345003,+2348021234567,in,sms,,\"\""),
            None,
        ),
    ];
    for (at, text, why) in &extra {
        records.insert(*at, rec(text, "\n", *why));
    }
    let path = write(dir.path(), "wide.csv", "\n", &records);
    let want: Vec<(String, u64, &str)> = (records.iter().enumerate())
        .filter_map(|(i, r)| {
            r.reject
                .map(|why| ("wide.csv".to_owned(), i as u64 + 1, why))
        })
        .collect();
    let whole = seen(&path, None);
    assert_eq!(whole.2, want);
    assert_eq!(whole.1.0, records.len() as u64);
    for part_bytes in [1, 9, 64, 333] {
        assert_eq!(seen(&path, Some(part_bytes)), whole, "{part_bytes}");
    }
    assert_eq!(strict_row(&path, None), Some(want[0].1));
}

/// A field drawn from values that stress the record boundaries.
fn arb_field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "+2348021234567",
        "+18762101234",
        "+12126849946",
        "+8821612345678",
        "\"+18762101234\"",
        "\"a\nb\"",
        "\"a\r\nb\"",
        "\"x,\ny\"",
        "\"q\"\"\n\"\"\"",
        "\"\"",
        "BANK",
        "",
        "a\"b",
        "\"\n2026-03-10T01:00:00Z,+886912345001,+18762101234,out,call,1\n\"",
    ])
    .prop_map(str::to_owned)
}

fn arb_record() -> impl Strategy<Value = String> {
    (
        0u32..6,
        prop::sample::select(vec![
            "+886912345001",
            "+886912345002",
            "+886912345003",
            "",
            "886912345001",
        ]),
        arb_field(),
        prop::sample::select(vec!["in", "out", "\"out\"", "up", ""]),
        prop::sample::select(vec!["call", "sms", "fax"]),
        prop::sample::select(vec!["", "1", "-1", "\"7\""]),
        prop::sample::select(vec!["\n", "\r\n", "\n\n", "\r\n\r\n"]),
    )
        .prop_map(|(day, sub, cp, dir, kind, dur, end)| {
            let time = if day == 5 {
                "later".to_owned()
            } else {
                format!("2026-03-{:02}T10:00:00Z", 6 + day)
            };
            format!("{time},{sub},{cp},{dir},{kind},{dur}{end}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random records (quoted line ends, doubled quotes, stray quotes, CRLF, empty lines, bad
    /// rows, with or without a final line end): any part size reads like the whole file.
    #[test]
    fn any_part_size_reads_like_the_whole_file(
        records in prop::collection::vec(arb_record(), 0..60),
        trim_end in any::<bool>(),
        part_bytes in 1u64..300,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("{HEADER}\n{}", records.concat());
        if trim_end {
            while text.ends_with(['\n', '\r']) {
                text.pop();
            }
        }
        let path = dir.path().join("r.csv");
        std::fs::write(&path, &text).unwrap();
        let whole = seen(&path, None);
        prop_assert_eq!(&seen(&path, Some(part_bytes)), &whole);
        prop_assert_eq!(strict_row(&path, Some(part_bytes)), strict_row(&path, None));
    }
}

/// Through the command line: `HOTZONE_CSV_PART_BYTES` cuts the file into small parts, and
/// the output, the rejects file (file, row, reason) and the exit status are those of the
/// whole-file read; `--strict` names the same row.
#[test]
fn command_line_parts_write_the_same_rejects_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tricky.csv", "\n", &tricky_records());
    let run = |part_bytes: Option<&str>, strict: bool, name: &str| {
        let rejects = dir.path().join(name);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hotzone"));
        cmd.arg("scan")
            .arg(&path)
            .args(["--hotzone", "NG,JM,+882", "--look-back-days", "5"])
            .args(["--threshold-ratio", "0.3", "--min-events", "1"])
            .args(["--tz", "UTC", "--as-of", "2026-03-10", "--output", "-"])
            .arg("--rejects")
            .arg(&rejects);
        if strict {
            cmd.arg("--strict");
        }
        match part_bytes {
            Some(b) => cmd.env("HOTZONE_CSV_PART_BYTES", b),
            None => cmd.env_remove("HOTZONE_CSV_PART_BYTES"),
        };
        let o = cmd.output().unwrap();
        let body = std::fs::read_to_string(&rejects).unwrap_or_default();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        (
            o.status.code(),
            String::from_utf8(o.stdout).unwrap(),
            body,
            stderr,
        )
    };
    let whole = run(None, false, "whole.csv");
    assert_eq!(whole.0, Some(2), "{}", whole.3);
    assert!(whole.2.lines().count() > 40, "{}", whole.2);
    for b in ["1", "29", "256"] {
        let parts = run(Some(b), false, &format!("parts-{b}.csv"));
        assert_eq!(
            (&parts.0, &parts.1, &parts.2),
            (&whole.0, &whole.1, &whole.2),
            "{b}"
        );
        let strict_whole = run(None, true, "s1.csv");
        let strict_parts = run(Some(b), true, "s2.csv");
        assert_eq!(strict_parts.0, Some(1));
        assert!(strict_whole.3.contains("row 6"), "{}", strict_whole.3);
        assert_eq!(strict_parts.3, strict_whole.3);
    }
    let bad = run(Some("lots"), false, "bad.csv");
    assert_eq!(bad.0, Some(1));
    assert!(bad.3.contains("HOTZONE_CSV_PART_BYTES"), "{}", bad.3);
}

/// `.csv.gz` (one gzip member or several, cut anywhere) and `.csv.zst` (several frames) are
/// read as the plain file is: the same verdicts, day counts, rejects and row numbers, the
/// same `--strict` row. A damaged stream, and a quote left open at the end of the text, are
/// errors naming the file, never a run that stops reading early and succeeds.
#[test]
fn compressed_files_read_like_the_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = tricky_records();
    let plain = write(dir.path(), "tricky.csv", "\r\n", &records);
    let text = std::fs::read(&plain).unwrap();
    let zstd = |bytes: &[u8]| zstd::encode_all(bytes, 3).unwrap();
    let cut = text.len() / 3 + 1; // inside a record
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("one.csv.gz", gzip(&text)),
        (
            "members.CSV.GZ",
            [gzip(&text[..cut]), gzip(&text[cut..])].concat(),
        ),
        (
            "frames.csv.zst",
            [zstd(&text[..cut]), zstd(&text[cut..])].concat(),
        ),
        // Zero bytes after the last member (a copy padded to a block size), which `gzip -d`
        // and Python's `gzip` read past: the same rows (a helper's pass).
        (
            "padded.csv.gz",
            [gzip(&text[..cut]), gzip(&text[cut..]), vec![0; 70_000]].concat(),
        ),
    ];
    let renamed = |mut s: Seen, name: &str| {
        for r in &mut s.2 {
            r.0 = name.to_owned();
        }
        s
    };
    let want = seen(&plain, None);
    assert_eq!(want.2.len(), 48);
    for (name, bytes) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(renamed(seen(&path, None), "tricky.csv"), want, "{name}");
        assert_eq!(strict_row(&path, None), Some(want.2[0].1), "{name}");
        // Cut into parts while it decompresses, for other threads to read (three here,
        // whatever the machine has): any part size gives the same rows and row numbers.
        let len = text.len() as u64;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for part_bytes in (1..=40).chain([53, 64, 97, 200, 512, 1000, len / 2, len - 1, len]) {
            assert_eq!(
                pool.install(|| renamed(seen(&path, Some(part_bytes)), "tricky.csv")),
                want,
                "{name}, parts of {part_bytes} bytes"
            );
        }
    }
    // No record ends within a few parts' length (a long quoted field; `\r` alone ending
    // lines): the rest is read from the stream in one go, with the same rows.
    let long_field = format!(
        "{HEADER}\n2026-03-10T01:00:00Z,+886912345001,\"{}\",in,call,1\n{}",
        "x\n".repeat(300_000),
        "2026-03-10T02:00:00Z,+886912345001,+2348021234567,in,call,1\n".repeat(50)
    );
    let cr_only = text
        .iter()
        .map(|&b| if b == b'\n' { b'\r' } else { b })
        .collect::<Vec<u8>>();
    for (name, plain_text) in [("long.csv", long_field.into_bytes()), ("cr.csv", cr_only)] {
        let plain = dir.path().join(name);
        std::fs::write(&plain, &plain_text).unwrap();
        let gz = dir.path().join(format!("{name}.gz"));
        std::fs::write(&gz, gzip(&plain_text)).unwrap();
        let want = seen(&plain, None);
        for part_bytes in [None, Some(1), Some(100)] {
            let got = renamed(seen(&gz, part_bytes), name);
            assert_eq!(got, want, "{name} {part_bytes:?}");
        }
    }

    // Two bad files: the error is the first file's (in input order), as one thread reading
    // them in turn finds it, whatever the threads and parts; the second file fails at once
    // while the first is still being cut.
    let ordered = dir.path().join("ordered");
    std::fs::create_dir_all(&ordered).unwrap();
    let mut big = text.repeat(40);
    big.extend_from_slice(b"\n2026-03-10T01:00:00Z,+886912345001,\"never closed,in,call,\n");
    std::fs::write(ordered.join("a.csv.gz"), gzip(&big)).unwrap();
    std::fs::write(
        ordered.join("b.csv"),
        format!("{HEADER}\n2026-03-10T01:00:00Z,+886912345001,\"open,in,call,\n"),
    )
    .unwrap();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for part_bytes in [None, Some(64), Some(4096)] {
            let err = pool
                .install(|| {
                    scan(
                        &[ordered.to_string_lossy().into_owned()],
                        &request(part_bytes, false),
                        &|_, _| {},
                    )
                })
                .map(|_| ())
                .expect_err("two bad files")
                .to_string();
            assert!(
                err.contains("a.csv.gz") && err.contains("never closed"),
                "{threads} threads, {part_bytes:?}: {err}"
            );
        }
    }

    let whole = gzip(&text);
    let damaged = [
        ("truncated.csv.gz", whole[..whole.len() - 9].to_vec()),
        ("garbage.csv.gz", b"not gzip at all".to_vec()),
        ("garbage.csv.zst", b"not zstd at all".to_vec()),
        (
            "zeros-then-more.csv.gz",
            [whole.clone(), vec![0; 600], b"x".to_vec()].concat(),
        ),
        (
            "open.csv.gz",
            gzip(
                &[
                    text.as_slice(),
                    b"\n2026-03-10T01:00:00Z,+886912345001,\"ACME,in,call,\n",
                ]
                .concat(),
            ),
        ),
    ];
    for (name, bytes) in damaged {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for part_bytes in [None, Some(10)] {
            let err = scan(
                &[path.to_string_lossy().into_owned()],
                &request(part_bytes, false),
                &|_, _| {},
            )
            .err()
            .unwrap_or_else(|| panic!("{name}: read without an error"))
            .to_string();
            assert!(err.contains(name), "{name}: {err}");
            if name.starts_with("open") {
                assert!(err.contains("never closed"), "{err}");
            }
        }
    }
}

/// A file separated by `;`, a tab or `|` (its header, which commas do not split into the
/// required columns, split so by that byte) reads as the comma-separated file does: the same verdicts,
/// rejects and row numbers, whole, in parts of any size and compressed. A comma is then data:
/// a quote after one opens no field, and a decimal comma is no duration.
#[test]
fn files_separated_by_semicolons_tabs_or_pipes_read_like_the_comma_file() {
    let dir = tempfile::tempdir().unwrap();
    let records = tricky_records();
    let plain = write(dir.path(), "tricky.csv", "\r\n", &records);
    let text = std::fs::read(&plain).unwrap();
    let want = seen(&plain, None);
    let renamed = |mut s: Seen| {
        for r in &mut s.2 {
            r.0 = "tricky.csv".to_owned();
        }
        s
    };
    for (sep, name) in [(b';', "semi.csv"), (b'\t', "tab.csv"), (b'|', "pipe.csv")] {
        // Every comma becomes the separator, those inside quoted fields too (the same cells,
        // as far as the rules go: text that is no phone number either way).
        let other: Vec<u8> = text
            .iter()
            .map(|&b| if b == b',' { sep } else { b })
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, &other).unwrap();
        assert_eq!(renamed(seen(&path, None)), want, "{name}");
        for part_bytes in [1, 7, 64, 333, other.len() as u64 / 2] {
            let got = renamed(seen(&path, Some(part_bytes)));
            assert_eq!(got, want, "{name}, parts of {part_bytes} bytes");
        }
        let gz = dir.path().join(format!("{name}.gz"));
        std::fs::write(&gz, gzip(&other)).unwrap();
        for part_bytes in [None, Some(5), Some(100)] {
            assert_eq!(
                renamed(seen(&gz, part_bytes)),
                want,
                "{name}.gz {part_bytes:?}"
            );
        }
    }

    // In a `;` file a comma is data: `1,5` is no duration, a quote after a comma opens no
    // field (so the line end after it ends the record), and `+234,8021234567` is one cell.
    let semi = dir.path().join("commas-as-data.csv");
    std::fs::write(
        &semi,
        "event_time;subscriber;counterparty;direction;kind;duration_s\n\
         2026-03-10T01:00:00Z;+886912345001;+2348021234567;out;call;1,5\n\
         2026-03-10T02:00:00Z;+886912345001;a,\"b;in;call;1\n\
         2026-03-10T03:00:00Z;+886912345001;+234,8021234567;in;call;1\n\
         2026-03-10T04:00:00Z;+886912345001;+2348021234567;in;sms;\n",
    )
    .unwrap();
    let (_, counts, rejects) = seen(&semi, None);
    assert_eq!(counts.0, 4, "four records: {rejects:?}");
    let reasons: Vec<(u64, &str)> = rejects.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(reasons, [(1, "bad_duration")]);
    assert_eq!(counts.1, 3, "three events");
}

/// A header split by no separator into the required columns is an error naming the columns
/// it was split into: a `;` header lacking one is split by `;` and says which is missing; a
/// header quoted whole stays one column, and the message says so.
#[test]
fn a_header_of_another_separator_lacking_a_column_names_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let err = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        scan_error(&path, name)
    };
    let e = err(
        "no-kind.csv",
        "event_time;subscriber;counterparty;direction\n2026-03-10T01:00:00Z;+886912345001;+2348021234567;in\n",
    );
    assert!(
        e.contains("missing required column(s) kind")
            && e.contains("columns found: event_time, subscriber, counterparty, direction"),
        "{e}"
    );
    // A `;` header holding a comma in a name (Excel writes `Dauer, gerundet` unquoted): split
    // by `;`, read (the review found it never tried).
    let path = dir.path().join("comma-in-name.csv");
    std::fs::write(
        &path,
        "event_time;subscriber;counterparty;direction;kind;Dauer, gerundet\n\
         2026-03-10T01:00:00Z;+886912345001;+2348021234567;in;call;1,5\n",
    )
    .unwrap();
    let (_, counts, rejects) = seen(&path, None);
    assert_eq!(
        (counts.0, counts.1, rejects.len()),
        (1, 1, 0),
        "{rejects:?}"
    );
    let e = err(
        "quoted-whole.csv",
        "\"event_time;subscriber;counterparty\"\n2026-03-10T01:00:00Z;+886912345001;+2348021234567\n",
    );
    assert!(
        e.contains("one column holding ';'") && e.contains("quoted whole?"),
        "{e}"
    );
}

/// A file named `.csv` that holds compressed data or another format is said to be that, with
/// the name to give it: not "one column holding a tab" or "not UTF-8" (a helper's pass).
#[test]
fn a_compressed_or_columnar_file_named_csv_is_said_to_be_so() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEADER}\n2026-03-10T01:00:00Z,+886912345001,+2348021234567,in,call,1\n");
    let files: [(&str, Vec<u8>, &str); 7] = [
        (
            "gz.csv",
            gzip(text.as_bytes()),
            "gzip data (a CSV file compressed with gzip is read named .csv.gz)",
        ),
        (
            "zst.csv",
            zstd::encode_all(text.as_bytes(), 3).unwrap(),
            "zstd data (a CSV file compressed with zstd is read named .csv.zst)",
        ),
        (
            "pq.csv",
            b"PAR1\x15\x04\x15\x00".to_vec(),
            "a Parquet file: name it .parquet",
        ),
        (
            "bz.csv",
            b"BZh91AY&SY\x00\x01\xff".to_vec(),
            "bzip2 data, which is not read",
        ),
        // Under a compressed name, another codec's data (the review found only "not
        // readable as gzip" said).
        (
            "zst.csv.gz",
            zstd::encode_all(text.as_bytes(), 3).unwrap(),
            "not gzip data: it is zstd data",
        ),
        (
            "gz.csv.zst",
            gzip(text.as_bytes()),
            "not zstd data: it is gzip data",
        ),
        (
            "xz.csv.gz",
            b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46\x02\x00\x21\x01".to_vec(),
            "not gzip data: it is xz data",
        ),
    ];
    for (name, bytes, want) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = scan_error(&path, name);
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    }
    // A CSV header that starts as a magic number does is text: its own error, no hint (the
    // review found `BZhandle,…` called bzip2 data).
    for (name, head) in [("bzh.csv", "BZhandle"), ("par1.csv", "PAR1")] {
        let path = dir.path().join(name);
        let text = format!("{head},event_time,subscriber,direction\nx,y,z,w\n");
        std::fs::write(&path, text).unwrap();
        let err = scan_error(&path, name);
        assert!(
            err.contains("missing required column(s) kind") && !err.contains("it is"),
            "{name}: {err}"
        );
    }
}

/// A file of no bytes holds no rows in every format (a writer's placeholder beside the
/// data): a directory of good rows and such files reads as the good file alone. `ARROW1`
/// alone is said to be too short to be an IPC file (not "os error 22").
#[test]
fn files_of_no_bytes_hold_no_rows_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let good = write(&data, "good.csv", "\n", &tricky_records());
    let alone = seen(&good, None);
    for name in [
        "late.parquet",
        "late.arrow",
        "late.arrows",
        "late.csv.gz",
        "late.csv.zst",
        "late.csv",
    ] {
        std::fs::write(data.join(name), b"").unwrap();
    }
    assert_eq!(seen(&data, None), alone);
    assert_eq!(seen(&data, Some(50)), alone);

    let short = dir.path().join("short.arrow");
    std::fs::write(&short, b"ARROW1").unwrap();
    let err = scan_error(&short, "six bytes");
    assert!(err.contains("6 bytes, too short to be one"), "{err}");
    // An empty `.hzi` is no prepared file, and said so (not "unknown format").
    let hzi = dir.path().join("empty.hzi");
    std::fs::write(&hzi, b"").unwrap();
    let err = scan_error(&hzi, "an empty .hzi");
    assert!(
        err.contains("not a prepared file") && err.contains("0 bytes"),
        "{err}"
    );
}

/// The error of a scan of `path` that must fail (`what`: the case, for the panic).
fn scan_error(path: &Path, what: &str) -> String {
    scan(
        &[path.to_string_lossy().into_owned()],
        &request(None, false),
        &|_, _| {},
    )
    .map(|_| ())
    .expect_err(what)
    .to_string()
}

/// Verdict rows (with day counts), window, counts and rejects of a scan of `inputs` with
/// `as_of` (`None`: the latest day in the data).
fn outcome(inputs: &[String], as_of: Option<String>) -> (String, Seen) {
    let mut req = request(None, false);
    req.raw.as_of = as_of;
    let mut out = scan(inputs, &req, &|_, _| {}).unwrap();
    let rows = (out.rows.iter())
        .map(|r| format!("{} {:?} {:?}", r.subscriber, r.verdict, r.days))
        .collect::<Vec<_>>();
    let window = format!("{:?}", out.window.as_ref().map(|w| (w.first(), w.last())));
    let r = &mut out.report;
    let rejects = (r.rejects.rows().iter())
        .map(|x| {
            let name = x.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, x.row, x.reason.key())
        })
        .collect();
    let counts = (r.rows, r.events, r.unknown_counterparties);
    (window, (rows, counts, rejects))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// A scan without `as_of` of CSV files guesses the latest day from the files' last rows
    /// and reads once; whether the guess holds (time-ordered files) or not (the latest rows
    /// first, shuffled, a later day only on a rejected row at the end, a quoted line end
    /// where the tail starts, more files than tails are read), it gives what a scan given
    /// the day a first pass finds gives.
    #[test]
    fn a_scan_without_as_of_of_csv_files_is_the_scan_of_the_latest_day(
        rows in proptest::collection::vec((0..6 * 24 * 60u32, 0..40u32, 0..6usize), 1500..2600),
        order in 0..3u8,
        late_reject in any::<bool>(),
        quoted_tail in any::<bool>(),
        files in prop_oneof![Just(1usize), Just(2), Just(3), Just(20), Just(40)],
    ) {
        let mut rows = rows;
        match order {
            0 => rows.sort_unstable(),
            1 => { rows.sort_unstable(); rows.reverse(); }
            _ => {}
        }
        let cps = ["+2348021234567", "+18765551234", "+886912345099", "+88216123456", "", "abc"];
        let line = |(minute, sub, cp): (u32, u32, usize)| {
            let t = chrono::DateTime::from_timestamp(1_772_582_400 + i64::from(minute) * 60, 0).unwrap();
            format!("{},+8869123450{:02},{},out,call,1\n", t.format("%Y-%m-%dT%H:%M:%SZ"), sub, cps[cp])
        };
        let dir = tempfile::tempdir().unwrap();
        let per = rows.len().div_ceil(files);
        for (k, chunk) in rows.chunks(per).enumerate() {
            let mut text = format!("{HEADER}\n");
            for (i, r) in chunk.iter().enumerate() {
                if quoted_tail && i + 40 == chunk.len() {
                    // A quoted field holding line ends about where the tail starts.
                    text.push_str("2026-03-05T00:00:00Z,+886912345001,\"x\n2026-03-20T00:00:00Z,+886912345002,+2348021234567,out,call,1\n\",out,call,1\n");
                }
                text.push_str(&line(*r));
            }
            if late_reject && k == 0 {
                text.push_str("2026-03-30T00:00:00Z,,+2348021234567,out,call,1\n");
            }
            std::fs::write(dir.path().join(format!("f{k}.csv")), text).unwrap();
        }
        let inputs = [dir.path().to_string_lossy().into_owned()];
        let opts = IngestOptions::default();
        let latest = hotzone::scan::latest_day(&inputs, chrono_tz::UTC, &opts).unwrap().0.unwrap();
        let (guessed_window, guessed) = outcome(&inputs, None);
        let (window, given) = outcome(&inputs, Some(latest.to_string()));
        prop_assert!(window.contains(&format!("{latest:?}")), "{window}");
        prop_assert_eq!(guessed_window, window);
        prop_assert_eq!(guessed, given);
    }
}
