//! The bodies of the fuzz targets, shared by the libFuzzer entry points (`fuzz_targets/`)
//! and the stable-Rust random driver (`src/bin/stable.rs`). Each one must never panic,
//! whatever the bytes; each also checks a property that must hold for accepted inputs.

use std::sync::{Arc, OnceLock};

use hotzone::config::ServerSettings;
use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};
use hotzone::model::{Hotzone, Region};
use hotzone::service::AppState;
use hotzone::service::pb::CheckRequest;
use prost::Message;

/// Splits bytes into text cells at 0x1F (unit separator), lossily decoded.
fn cells(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .split(|b| *b == 0x1F)
        .take(n)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// REFERENCE.md §2 row interpretation on arbitrary cells (CSV-style text cells, or a numeric time
/// and duration as Parquet gives them). An accepted event's subscriber is a valid E.164
/// number that prints back to a parseable one.
pub fn csv_row(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let c = cells(rest, 7);
    let region = if mode & 1 == 1 {
        Region::parse("TW")
    } else {
        None
    };
    let mut interp = Interpreter::new(region);
    let opt = |i: usize| (mode & (2 << (i % 6)) == 0).then_some(c[i].as_str());
    let millis = i64::from_le_bytes(
        rest.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(8)
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap_or([0; 8]),
    );
    let row = RawRow {
        time: if mode & 0x80 == 0 {
            opt(0).map(TimeCell::Text)
        } else {
            Some(TimeCell::Millis(millis))
        },
        subscriber: opt(1),
        counterparty: opt(2),
        direction: opt(3),
        kind: opt(4),
        duration: if mode & 0x40 == 0 {
            opt(5).map(DurationCell::Text)
        } else {
            Some(DurationCell::Int(millis.rotate_left(17)))
        },
        region: opt(6),
        pre: Default::default(),
    };
    // Twice: the second call goes through the interpreter's cache.
    let a = interp.interpret(&row);
    let b = interp.interpret(&row);
    assert_eq!(a.is_ok(), b.is_ok());
    if let Ok(e) = a {
        let text = e.subscriber.to_string();
        assert!(
            hotzone::model::Msisdn::parse_subscriber(&text).is_ok()
                || hotzone::model::Msisdn::normalize(&text, None).is_ok(),
            "an accepted subscriber does not parse back"
        );
    }
}

/// Hotzone parsing: never panics; an accepted hotzone prints to a list that parses back to
/// the same hotzone, and an error never echoes more than the entry it names.
pub fn hotzone_list(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    match Hotzone::parse_list("hotzone", &s) {
        Ok(h) => {
            let again = Hotzone::parse_list("hotzone", &h.to_string()).expect("round trip");
            assert_eq!(h, again);
            assert!(!h.entries().is_empty() && h.entries().len() <= 300);
        }
        Err(e) => {
            assert!(e.to_string().contains("hotzone"));
        }
    }
}

/// A server state with a small loaded snapshot and a named hotzone, built once.
fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let mut s = ServerSettings::for_data_dir("/nonexistent");
        s.max_look_back_days = 60;
        s.named_hotzones = hotzone::named::NamedHotzones::parse("west_africa = [\"NG\", \"+233\"]")
            .expect("named");
        s.policy.min_hotzone_entries = 1;
        let st_tz = s.tz;
        let state = AppState::new(s);
        let mut interp = Interpreter::new(None);
        let events: Vec<_> = (0..50)
            .filter_map(|i| {
                let sub = format!("+8869123450{:02}", i % 7);
                let cp = format!("+23480212345{i:02}");
                interp
                    .interpret(&RawRow {
                        time: Some(TimeCell::Millis(
                            1_773_144_000_000 - i64::from(i) * 3_600_000,
                        )),
                        subscriber: Some(&sub),
                        counterparty: Some(&cp),
                        direction: Some(if i % 2 == 0 { "in" } else { "out" }),
                        kind: Some(if i % 3 == 0 { "sms" } else { "call" }),
                        duration: None,
                        region: None,
                        pre: Default::default(),
                    })
                    .ok()
            })
            .collect();
        let seg = Arc::new(
            ServingIndex::from_events(&events, st_tz).expect("in-range events fit the layout"),
        );
        let guard = state.lock_catalog_blocking();
        state.publish(&guard, Snapshot::new(vec![seg]));
        drop(guard);
        state
    })
}

/// Request validation and the whole Check path on a protobuf-decoded request: never panics;
/// an error message never contains the request's phone number.
pub fn check_request(data: &[u8]) {
    let Ok(req) = CheckRequest::decode(data) else {
        return;
    };
    let st = state();
    let _ = hotzone::service::check::params(st, &req);
    if let Err(e) = hotzone::service::check::check(st, &req) {
        let msg = e.to_string();
        let digits = req.phone_number.trim_start_matches('+');
        assert!(
            digits.len() < 5 || !msg.contains(digits),
            "an error message holds the number: {msg}"
        );
    }
}

/// Structured request generator for the stable driver: mostly-valid requests with one or two
/// fields mutated, which random bytes alone rarely reach.
pub fn structured_request(seed: &[u8]) -> Vec<u8> {
    let pick = |i: usize| seed.get(i).copied().unwrap_or(0);
    let numbers = [
        "+886912345001",
        "+886912345003",
        "+1",
        "+0886",
        "886912345001",
        "",
    ];
    let zones: [&[&str]; 5] = [
        &["NG"],
        &["NG", "+882"],
        &["xx"],
        &[],
        &["+1234567890123456"],
    ];
    let req = CheckRequest {
        phone_number: numbers[usize::from(pick(0)) % numbers.len()].to_owned(),
        look_back_days: u32::from(pick(1)) % 100,
        method: i32::from(pick(2) % 4) - 1,
        threshold_ratio: [0.5, 1.0, 0.0, -1.0, f64::NAN, f64::INFINITY, 2.5, 1e-300]
            [usize::from(pick(3)) % 8],
        hotzone: zones[usize::from(pick(4)) % zones.len()]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        check_type: i32::from(pick(5) % 5) - 1,
        check_target: i32::from(pick(6) % 5) - 1,
        min_events: u32::from(pick(7)) % 6,
        as_of: [
            "",
            "2026-03-10",
            "2026-3-10",
            "9999-12-31",
            "0000-01-01",
            "2026-02-30",
        ][usize::from(pick(8)) % 6]
            .to_owned(),
        hotzone_name: ["", "west_africa", "nope"][usize::from(pick(9)) % 3].to_owned(),
    };
    req.encode_to_vec()
}

// ---------------------------------------------------------------------------------------
// data_file: whole data files through the scan and the server's loader.
// ---------------------------------------------------------------------------------------

/// The extensions of the `data_file` target's formats, by the first byte's low three bits:
/// CSV, gzip and zstd CSV, Parquet, Arrow IPC file and stream, and a prepared index twice
/// (7: its checksums computed again over the bytes as they are, so that a mutation reaches
/// the structural checks behind them instead of stopping at the first checksum).
pub const DATA_FORMATS: [&str; 8] = [
    "csv", "csv.gz", "csv.zst", "parquet", "arrow", "arrows", "hzi", "hzi",
];

/// The selector byte of a format's extension with option bits `opts` (see [`data_file`]).
pub fn selector(format: usize, opts: u8) -> u8 {
    (opts & !7) | (format as u8 & 7)
}

/// Where the target writes its inputs: `$HOTZONE_FUZZ_DIR`, else a directory of this process
/// under the temporary directory. One file per format, overwritten by each input.
fn scratch(ext: &str) -> std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = std::env::var_os("HOTZONE_FUZZ_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let d = base.join(format!("hotzone-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    });
    dir.join(format!("input.{ext}"))
}

/// A prepared file with each part's checksum computed again over its bytes, chained as
/// `persist::write` chains them, as far as its lengths describe parts inside the bytes.
pub fn reseal_hzi(bytes: &[u8]) -> Vec<u8> {
    use std::hash::Hasher;
    let mut out = bytes.to_vec();
    let word = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            b.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let Some(tz_len) = word(&out, 8).filter(|&l| l <= 64) else {
        return out;
    };
    let header_end = 8 + 8 + tz_len as usize + 8 + 8;
    let Some(day_width) = word(&out, header_end - 8) else {
        return out;
    };
    let mut parts = vec![(0usize, header_end)];
    let mut at = header_end + 8;
    for w in [8u64, 8, day_width.clamp(1, 2), 4, 4, 8, 8, 8, 8] {
        let Some(len) = word(&out, at) else { break };
        let Some(end) = len
            .checked_mul(w)
            .and_then(|b| b.checked_add(at as u64 + 8))
            .and_then(|e| usize::try_from(e).ok())
            .filter(|&e| e.saturating_add(8) <= out.len())
        else {
            break;
        };
        parts.push((at, end));
        at = end + 8;
    }
    let mut seed = 0u64;
    for (start, end) in parts {
        if end + 8 > out.len() {
            break;
        }
        let mut h = twox_hash::XxHash3_64::with_seed(seed);
        h.write(&out[start..end]);
        seed = h.finish();
        out[end..end + 8].copy_from_slice(&seed.to_le_bytes());
    }
    out
}

/// The check parameters of every scan of the target (`as_of`: none for the latest day).
fn raw_check(as_of: Option<String>) -> hotzone::model::RawCheck {
    static ZONE: OnceLock<Arc<Hotzone>> = OnceLock::new();
    let hz =
        ZONE.get_or_init(|| Arc::new(Hotzone::parse_list("hotzone", "NG,+882").expect("hotzone")));
    hotzone::model::RawCheck {
        look_back_days: Some(30),
        method: Some(hotzone::model::Method::Share),
        threshold_ratio: Some(0.5),
        hotzone: Some(Arc::clone(hz)),
        check_type: Some(hotzone::model::CheckType::All),
        check_target: Some(hotzone::model::CheckTarget::All),
        min_events: Some(1),
        as_of,
    }
}

/// What two readings of the same file must agree on.
fn same_outcome(
    what: &str,
    reports: bool,
    a: &hotzone::Result<hotzone::scan::ScanOutcome>,
    b: &hotzone::Result<hotzone::scan::ScanOutcome>,
) -> Result<(), String> {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            let ra = (
                a.report.rows,
                a.report.events,
                a.report.unknown_counterparties,
                a.report.rejects.total(),
            );
            let rb = (
                b.report.rows,
                b.report.events,
                b.report.unknown_counterparties,
                b.report.rejects.total(),
            );
            if reports && ra != rb {
                return Err(format!(
                    "{what}: reports differ (rows, events, unknown, rejects) {ra:?} vs {rb:?}"
                ));
            }
            if a.rows != b.rows {
                return Err(format!(
                    "{what}: verdict rows differ ({} vs {} rows)",
                    a.rows.len(),
                    b.rows.len()
                ));
            }
            Ok(())
        }
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!(
            "{what}: the first reading is Ok, the second fails: {e}"
        )),
        (Err(e), Ok(_)) => Err(format!(
            "{what}: the first reading fails ({e}), the second is Ok"
        )),
    }
}

/// A whole data file through the library's scan path (what `hotzone scan FILE` runs) and the
/// server's loader. The first byte picks the format ([`DATA_FORMATS`], low three bits) and
/// options: 0x08 `strict`, 0x10 `explain`, bits 0x60 the size of the parts a file is cut into
/// (CSV bytes, Parquet rows, IPC bytes). The rest is the file.
///
/// Runs, each of which must return (Ok or Err, never a panic or an abort):
/// 1. `resolve_zone` with and without a given zone (the CLI's first read of the file);
/// 2. a scan with a fixed `as_of`;
/// 3. a scan without `as_of` (the latest-day first pass, or the guess from a CSV's tail);
/// 4. the same scan with every file cut into small parts (the parallel CSV splitter, Parquet
///    row-group parts, IPC batch ranges);
/// 5. a scan with `as_of` = the day run 3 found, and the CLI's readings (row groups outside
///    the window left unread) with that `as_of` and without one;
/// 6. `ServingIndex::load` (the server's loader of a data directory's files) and a scan of the
///    loaded index with run 3's parameters.
///
/// `Err` (not a panic) when readings that must agree do not: 3 and 4 (parts change nothing),
/// 3 and 5 (the latest day found is the day given; the CLI's reading without `as_of`, when
/// it ends, gives run 3's day and verdicts), 3 and 6 (the server counts what the
/// scan counts).
pub fn data_file(data: &[u8]) -> Result<(), String> {
    use hotzone::ingest::IngestOptions;
    use hotzone::scan::{ScanRequest, scan};
    let Some((&sel, rest)) = data.split_first() else {
        return Ok(());
    };
    let format = usize::from(sel & 7);
    let body = if format == 7 {
        std::borrow::Cow::Owned(reseal_hzi(rest))
    } else {
        std::borrow::Cow::Borrowed(rest)
    };
    if (format == 4 || format == 5)
        && std::env::var_os("HOTZONE_FUZZ_SKIP_KNOWN").is_some()
        && ipc_uses_lz4(&body)
    {
        // A known abort (arrow-ipc's LZ4 reader allocates the length a buffer claims):
        // skipped on request, so that a campaign goes past it.
        return Ok(());
    }
    let path = scratch(DATA_FORMATS[format]);
    std::fs::write(&path, &*body).expect("write the scratch file");
    let inputs = vec![path.display().to_string()];
    let _ = hotzone::scan::resolve_zone(&inputs, Some(chrono_tz_utc()));
    let tz = hotzone::scan::resolve_zone(&inputs, None).map_or(chrono_tz_utc(), |(tz, _)| tz);
    let _ = hotzone::scan::prepared_input(&inputs);
    let strict = sel & 0x08 != 0;
    let explain = sel & 0x10 != 0;
    let whole = IngestOptions {
        strict,
        ..IngestOptions::default()
    };
    let part = [1u64, 7, 64, 300][usize::from((sel >> 5) & 3)];
    let cut = IngestOptions {
        strict,
        csv_part_bytes: Some(part),
        parquet_part_rows: Some(part),
        ipc_part_bytes: Some(part),
        ..IngestOptions::default()
    };
    let req = |as_of: Option<String>, ingest: &IngestOptions| ScanRequest {
        raw: raw_check(as_of),
        tz,
        ingest: ingest.clone(),
        explain,
    };
    let none = |_: u64, _: u64| {};
    let _fixed = scan(&inputs, &req(Some("2026-10-30".into()), &whole), &none);
    let latest = scan(&inputs, &req(None, &whole), &none);
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) = match &latest {
        Ok(o) => format!(
            "ok {} {}",
            o.report.events.min(3),
            o.report.rejects.total().min(3)
        ),
        Err(e) => e.to_string().replace(&inputs[0], "FILE"),
    };
    let in_parts = scan(&inputs, &req(None, &cut), &none);
    same_outcome("whole vs cut into parts", true, &latest, &in_parts)?;
    if let Ok(out) = &latest
        && let Some(p) = &out.params
    {
        let given = scan(&inputs, &req(Some(p.as_of.to_string()), &whole), &none);
        same_outcome("latest day found vs given", true, &latest, &given)?;
        // The CLI's reading, row groups outside the window left unread: run for what it
        // must never do (panic, abort); its verdicts trust the statistics, which a mutated
        // file may make lie, so they are not compared here (the property tests compare them
        // on honest files).
        let skipping = IngestOptions {
            skip_outside_window: true,
            ..whole.clone()
        };
        let _ = scan(&inputs, &req(Some(p.as_of.to_string()), &skipping), &none);
        // Without `as_of` rows are left unread only once their times are read: whatever the
        // statistics say, the verdicts are those of the reading of every row (an error in
        // a row left unread is not met, so only two readings that both end are compared).
        if let Ok(skipped) = scan(&inputs, &req(None, &skipping), &none)
            && (skipped.params.as_ref().map(|q| q.as_of), &skipped.rows)
                != (Some(p.as_of), &out.rows)
        {
            return Err(format!(
                "latest day, rows before the window left unread: {:?} and {} verdict rows vs \
                 {} and {}",
                skipped.params.as_ref().map(|q| q.as_of),
                skipped.rows.len(),
                p.as_of,
                out.rows.len()
            ));
        }
    }
    if hotzone::scan::prepared_input(&inputs).is_none() {
        let loaded = ServingIndex::load(&inputs, &whole, tz);
        if let (Ok((index, report)), Ok(out)) = (&loaded, &latest) {
            if report.events != out.report.events || report.rows != out.report.rows {
                return Err(format!(
                    "server loader vs scan: rows/events {}/{} vs {}/{}",
                    report.rows, report.events, out.report.rows, out.report.events
                ));
            }
            if let Some(p) = &out.params {
                let as_of = Some(p.as_of.to_string());
                let served = hotzone::scan::scan_index(index, &path, &req(as_of, &whole));
                same_outcome("scan vs the server's index", false, &latest, &served)?;
            }
        }
    }
    Ok(())
}

static LAST: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// The outcome of the last [`data_file`]'s scan without `as_of` (an error without the file's
/// path): the stable driver keeps a mutant whose outcome is new.
pub fn last_outcome() -> String {
    LAST.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn chrono_tz_utc() -> chrono_tz::Tz {
    chrono_tz::Tz::UTC
}

/// Small valid files of every format of the `data_file` target (format index into
/// [`DATA_FORMATS`], bytes), written through `dir`: generated events as CSV, gzip and zstd
/// CSV, Parquet (the generator's two layouts, and every codec with small pages and row
/// groups), Arrow IPC files and streams (plain and compressed), prepared indexes, a few
/// hand-written CSV files, and the files of `$HOTZONE_FUZZ_SAMPLES` (a directory) when set.
pub fn seed_files(dir: &std::path::Path) -> Vec<(usize, Vec<u8>)> {
    use arrow::ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
    use hotzone::r#gen::{GenConfig, Layout, event_schema, generate_batches, generate_to_file};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    use std::io::Write;
    std::fs::create_dir_all(dir).expect("seed directory");
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    let read = |p: &std::path::Path| std::fs::read(p).expect("read a seed");
    for (k, (tz, layout)) in [
        (chrono_tz::Tz::UTC, Layout::Grouped),
        (chrono_tz::Tz::Asia__Taipei, Layout::Time),
        (chrono_tz::Tz::America__New_York, Layout::Shuffled),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = GenConfig {
            seed: 7 + k as u64,
            subscribers: 3,
            days: 3,
            end: chrono::NaiveDate::from_ymd_opt(2026, 10, 30).expect("date"),
            tz,
            campaign_rate: 0.5,
            international_share: 0.3,
            withheld_share: 0.1,
            chunk_rows: 40,
            layout,
            ..GenConfig::default()
        };
        let pq = dir.join(format!("gen{k}.parquet"));
        generate_to_file(&cfg, &pq, None).expect("generate parquet");
        out.push((3, read(&pq)));
        let csv = dir.join(format!("gen{k}.csv"));
        generate_to_file(&cfg, &csv, None).expect("generate csv");
        let text = read(&csv);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut two = gz.clone();
        two.extend_from_slice(&gz);
        out.push((1, gz));
        out.push((1, two));
        out.push((2, zstd::encode_all(&text[..], 3).expect("zstd")));
        // A prepared index of the same rows.
        let (index, _) = ServingIndex::load(
            &[csv.display().to_string()],
            &hotzone::ingest::IngestOptions::default(),
            tz,
        )
        .expect("load generated csv");
        let hzi = dir.join(format!("gen{k}.hzi"));
        index.write(&hzi).expect("write prepared");
        out.push((6, read(&hzi)));
        out.push((7, read(&hzi)));
        out.push((0, text));
        // Arrow IPC: file and stream, plain and compressed.
        let (batches, _) = generate_batches(&cfg);
        let schema = event_schema();
        // `$HOTZONE_FUZZ_NO_LZ4_IPC` set: no LZ4 IPC seed (to go past a known abort there).
        let lz4 = std::env::var_os("HOTZONE_FUZZ_NO_LZ4_IPC")
            .is_none()
            .then_some(arrow::ipc::CompressionType::LZ4_FRAME);
        for compression in [None, Some(arrow::ipc::CompressionType::ZSTD)]
            .into_iter()
            .chain(lz4.map(Some))
        {
            let opts = IpcWriteOptions::default()
                .try_with_compression(compression)
                .expect("ipc options");
            let mut w = FileWriter::try_new_with_options(Vec::new(), &schema, opts.clone())
                .expect("ipc file");
            for b in &batches {
                w.write(b).expect("ipc write");
            }
            out.push((4, w.into_inner().expect("ipc finish")));
            let mut w =
                StreamWriter::try_new_with_options(Vec::new(), &schema, opts).expect("ipc stream");
            for b in &batches {
                w.write(b).expect("ipc write");
            }
            out.push((5, w.into_inner().expect("ipc finish")));
        }
        // Parquet with another codec each, small pages and row groups, no dictionary for k=0.
        let codec = [
            Compression::UNCOMPRESSED,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::GZIP(GzipLevel::default()),
            Compression::LZ4_RAW,
            Compression::BROTLI(BrotliLevel::default()),
            Compression::LZ4,
        ];
        for (j, c) in codec.into_iter().enumerate() {
            let props = WriterProperties::builder()
                .set_compression(c)
                .set_dictionary_enabled(j % 2 == 1)
                .set_data_page_row_count_limit(16)
                .set_write_batch_size(16)
                .set_max_row_group_row_count(Some(50))
                .build();
            let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
                .expect("parquet writer");
            for b in &batches {
                w.write(b).expect("parquet write");
            }
            out.push((3, w.into_inner().expect("parquet finish")));
        }
    }
    // Hand-written CSV: quoting, CRLF, a BOM, other column names and orders, rejects.
    let hand: [&str; 5] = [
        "event_time,subscriber,counterparty,direction,kind,duration_s\n\
         2026-10-29T10:00:00Z,+886912345001,+2348021234567,in,call,30\n\
         2026-10-29T11:00:00.123Z,+886912345001,+88216123456,out,sms,\n\
         2026-10-30T00:00:00+08:00,+886912345002,,in,call,5\n\
         \"2026-10-30T01:00:00Z\",\"+886912345002\",\"+234 802 123 4567\",\"IN\",\"CALL\",\"7\"\n",
        "\u{feff}EVENT_TIME,Subscriber,Counterparty,Direction,Kind,Duration_S\r\n\
         2026-10-28 10:00:00,+886912345003,+2348031234567,out,call,1\r\n\
         2026-10-28 10:00:01,+886912345003,\"+234803123\r\n4567\",out,call,1\r\n\
         1761800000000,+886912345003,+2348031234567,in,sms,\r\n",
        "subscriber,kind,direction,event_time,counterparty\n\
         +886912345004,sms,in,2026-10-30T10:00:00Z,ALPHA\n\
         +886912345004,call,in,2026-10-30T10:00:00Z,+18765551234\n\
         ,call,in,2026-10-30T10:00:00Z,+18765551234\n\
         +886912345004,fax,in,2026-10-30T10:00:00Z,+18765551234\n\
         +886912345004,call,in,not a time,+18765551234\n",
        "event_time,subscriber,counterparty,direction,kind,duration_s,region\n\
         2026-10-30T10:00:00Z,0912345005,0802 123 4567,in,call,3,NG\n\
         2026-10-30T10:00:00Z,+886912345005,+2348021234567,in,call,-3,\n\
         2026-10-30T10:00:00Z,+886912345005,+2348021234567,in,call,3,ZZ,extra\n",
        "event_time,subscriber,counterparty,direction,kind,duration_s\n",
    ];
    for h in hand {
        out.push((0, h.as_bytes().to_vec()));
    }
    if let Some(samples) = std::env::var_os("HOTZONE_FUZZ_SAMPLES") {
        let mut stack = vec![std::path::PathBuf::from(samples)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.to_string_lossy().to_ascii_lowercase();
                let format = DATA_FORMATS
                    .iter()
                    .enumerate()
                    .take(7)
                    .filter(|(_, ext)| name.ends_with(&format!(".{ext}")))
                    .map(|(i, _)| i)
                    .last()
                    .or_else(|| {
                        (name.ends_with(".ipc") || name.ends_with(".feather")).then_some(4)
                    });
                if let (Some(f), Ok(bytes)) = (format, std::fs::read(&p)) {
                    // `.csv` also ends `.csv.gz`'s stem: the longest match wins (`last`).
                    out.push((f, bytes));
                }
            }
        }
    }
    out
}

/// Whether an Arrow IPC file or stream has a message (found as a stream reader or a file's
/// footer finds them) whose body is LZ4-compressed: arrow-ipc's LZ4 reader reserves the
/// uncompressed length a buffer claims before decoding it, so a huge one aborted the process
/// (the first finding of this target; hotzone now bounds the stated lengths before the reader
/// sees them, `ingest::columnar`). The stable driver skips such inputs with
/// `$HOTZONE_FUZZ_SKIP_KNOWN` set, to fuzz a build from before the fix past it.
pub fn ipc_uses_lz4(b: &[u8]) -> bool {
    use arrow::ipc::{CompressionType, root_as_footer, root_as_message};
    let word = |i: usize| -> Option<i32> {
        Some(i32::from_le_bytes(
            b.get(i..i.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    // (LZ4?, where the next message starts) of the message at `at`.
    let message = |at: usize| -> Option<(bool, usize)> {
        let mut at = at;
        let mut len = word(at)?;
        if len == -1 {
            at += 4;
            len = word(at)?;
        }
        let len = usize::try_from(len).ok()?;
        let meta = b.get(at + 4..(at + 4).checked_add(len)?)?;
        let m = root_as_message(meta).ok()?;
        let rb = m
            .header_as_record_batch()
            .or_else(|| m.header_as_dictionary_batch().and_then(|d| d.data()));
        let lz4 = rb
            .and_then(|r| r.compression())
            .is_some_and(|c| c.codec() == CompressionType::LZ4_FRAME);
        let body = usize::try_from(m.bodyLength()).ok()?;
        Some((lz4, (at + 4 + len).checked_add(body)?))
    };
    for start in [0usize, 8] {
        let mut at = start;
        for _ in 0..100_000 {
            match message(at) {
                Some((true, _)) => return true,
                Some((false, next)) if next > at => at = next,
                _ => break,
            }
        }
    }
    // Any other place a message could be read from (a footer block's offset): every
    // length-prefixed flatbuffer that parses as an LZ4 batch.
    // (The reader may parse a flatbuffer from a slice longer than its length prefix says.)
    let lz4_from = |at: usize| {
        root_as_message(&b[at..]).is_ok_and(|m| {
            m.header_as_record_batch()
                .or_else(|| m.header_as_dictionary_batch().and_then(|d| d.data()))
                .and_then(|r| r.compression())
                .is_some_and(|c| c.codec() == CompressionType::LZ4_FRAME)
        })
    };
    if (0..b.len().saturating_sub(8)).any(|at| {
        word(at).is_some_and(|l| l > 0 && (l as usize) < b.len() - at)
            && message(at).is_some_and(|(lz4, _)| lz4)
            || lz4_from(at)
    }) {
        return true;
    }
    let n = b.len();
    if n >= 10 {
        if let Some(flen) = word(n - 10).and_then(|l| usize::try_from(l).ok()) {
            if let Some(f) = (n - 10).checked_sub(flen).and_then(|s| b.get(s..n - 10)) {
                if let Ok(footer) = root_as_footer(f) {
                    let blocks = footer.recordBatches().into_iter().flatten();
                    let dicts = footer.dictionaries().into_iter().flatten();
                    for block in blocks.chain(dicts) {
                        if let Ok(at) = usize::try_from(block.offset())
                            && message(at).is_some_and(|(lz4, _)| lz4)
                        {
                            return true;
                        }
                    }
                }
            }
        }
    }
    false
}
