//! Regressions from trying the project as a newcomer would: region codes that ISO does not
//! assign, inputs without a usable row, write failures, the zone travelling with generated
//! data, `check --server HOST:PORT`, and plain (uncoloured) logs when stderr is not a terminal.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hotzone::model::Msisdn;
use hotzone::model::region::{Region, RegionTable};
use hotzone::service::pb::CheckRequest;

use crate::support::{drop_file, settings, spawn_loaded};

fn hotzone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// For every region some metadata example number resolves to: (region, that number).
fn region_examples() -> Vec<(Region, String)> {
    let db = &*phonenumber::metadata::DATABASE;
    let table = RegionTable::get();
    let mut out: Vec<(Region, String)> = Vec::new();
    for region in Region::all() {
        let Some(m) = db.by_id(region.as_str()) else {
            continue; // ISO codes without numbering metadata (AQ, BV, HM, ...)
        };
        let d = m.descriptors();
        let examples = [d.fixed_line(), d.mobile(), d.voip(), d.toll_free(), d.uan()];
        let found = examples
            .into_iter()
            .flatten()
            .filter_map(|x| x.example())
            .map(|ex| format!("+{}{ex}", m.country_code()))
            .find(|n| {
                Msisdn::parse_e164(n.as_bytes(), 3)
                    .is_some_and(|n| table.region_of(n) == Some(region))
            });
        if let Some(n) = found {
            out.push((region, n));
        }
    }
    out
}

/// Region codes of the metadata (AC, TA, XK included) are hotzone entries, and each matches
/// exactly the counterparties of its region, in the scan and in gRPC `Check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metadata_region_is_a_hotzone_entry_in_scan_and_check() {
    let examples = region_examples();
    for id in ["AC", "TA", "XK"] {
        assert!(
            examples.iter().any(|(r, _)| r.as_str() == id),
            "{id} has no example"
        );
    }
    assert!(examples.len() > 230, "only {} regions", examples.len());
    let subscriber = |i: usize| format!("+8869100{i:05}");
    let mut csv = String::from("event_time,subscriber,counterparty,direction,kind\n");
    for (i, (_, number)) in examples.iter().enumerate() {
        for minute in 0..3 {
            csv.push_str(&format!(
                "2026-03-10T12:0{minute}:00Z,{},{number},in,call\n",
                subscriber(i)
            ));
        }
    }
    let data = tempfile::tempdir().unwrap();
    let file = drop_file(data.path(), "regions.csv", &csv);

    // Scan: the even-indexed regions, then the odd ones, flag exactly their subscribers.
    for parity in [0, 1] {
        let entries: Vec<&str> = (examples.iter().enumerate())
            .filter(|(i, _)| i % 2 == parity)
            .map(|(_, (r, _))| r.as_str())
            .collect();
        let o = hotzone(&[
            "scan",
            file.to_str().unwrap(),
            "--hotzone",
            &entries.join(","),
            "--look-back-days",
            "1",
            "--threshold-ratio",
            "1",
            "--tz",
            "UTC",
            "--output",
            "-",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        let rows: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(rows.len(), examples.len());
        for (i, (r, _)) in examples.iter().enumerate() {
            let want = if i % 2 == parity { "true" } else { "false" };
            let row = rows.iter().find(|l| l.starts_with(&subscriber(i))).unwrap();
            assert_eq!(row.split(',').nth(1), Some(want), "{r}: {row}");
        }
    }

    // Check: each region's own code matches its subscriber; the next region's does not.
    let server = spawn_loaded(settings(data.path())).await;
    let mut c = server.client().await;
    for (i, (r, _)) in examples.iter().enumerate() {
        let other = examples[(i + 1) % examples.len()].0;
        for (entry, want) in [(*r, true), (other, false)] {
            let reply = c
                .check(CheckRequest {
                    phone_number: subscriber(i),
                    look_back_days: 1,
                    threshold_ratio: 1.0,
                    hotzone: vec![entry.to_string()],
                    as_of: "2026-03-10".into(),
                    ..CheckRequest::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{entry}: {e}"))
                .into_inner();
            assert_eq!(reply.anomaly_detected, want, "{r} checked with {entry}");
        }
    }
    server.stop().await;
}

fn scan_args<'a>(inputs: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["scan"];
    a.extend_from_slice(inputs);
    a.extend_from_slice(&[
        "--hotzone",
        "NG",
        "--look-back-days",
        "7",
        "--threshold-ratio",
        "0.5",
        "--output",
        "-",
    ]);
    a.extend_from_slice(extra);
    a
}

const OUT_HEADER: &str =
    "subscriber,anomaly_detected,anomaly_date,anomalous_days,first_anomaly_date\n";

/// A header-only file, an empty directory, and a file whose every row is rejected, scanned
/// without `--as-of`, finish with a summary that says there is no window (no panic), and
/// so does a prepared index of no data.
#[test]
fn inputs_without_an_accepted_row_have_no_window_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let header_only = dir.path().join("header.csv");
    std::fs::write(
        &header_only,
        "event_time,subscriber,counterparty,direction,kind\n",
    )
    .unwrap();
    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let all_bad = dir.path().join("bad.csv");
    std::fs::write(
        &all_bad,
        "event_time,subscriber,counterparty,direction,kind\n\
         not-a-time,+886912345001,+2348021234567,in,call\n\
         2026-03-10T12:00:00Z,+886912345001,+2348021234567,sideways,call\n",
    )
    .unwrap();
    for (input, code) in [
        (&header_only, 0),
        (&empty_dir, 0),
        (&all_bad, 2), // rows were rejected
    ] {
        let o = hotzone(&scan_args(&[input.to_str().unwrap()], &[]));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{}: {err}", input.display());
        assert_eq!(text(&o.stdout), OUT_HEADER);
        assert!(err.contains("no window"), "{err}");
        if code == 2 {
            assert!(err.contains("bad_event_time=1"), "{err}");
            assert!(err.contains("bad_direction=1"), "{err}");
        }
    }
    // A bad parameter is still an error without data.
    let o = hotzone(&scan_args(
        &[header_only.to_str().unwrap()],
        &["--min-events", "0"],
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("min_events"));

    // The prepared form of no data.
    let hzi = dir.path().join("empty.hzi");
    let o = hotzone(&[
        "prepare",
        header_only.to_str().unwrap(),
        "--output",
        hzi.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = hotzone(&scan_args(&[hzi.to_str().unwrap()], &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), OUT_HEADER);
    assert!(text(&o.stderr).contains("no window"));
}

/// An output that cannot be written is a write error naming the file, not a read error.
#[test]
fn an_unwritable_output_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = drop_file(
        dir.path(),
        "in.csv",
        "event_time,subscriber,counterparty,direction,kind\n\
         2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call\n",
    );
    let out = dir.path().join("no-such-dir").join("out.csv");
    let o = hotzone(&[
        "scan",
        input.to_str().unwrap(),
        "--hotzone",
        "NG",
        "--look-back-days",
        "1",
        "--threshold-ratio",
        "0.5",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("cannot write"), "{err}");
    assert!(err.contains("out.csv"), "{err}");
}

fn generate(path: &Path, tz: &str, seed: &str) {
    let o = hotzone(&[
        "gen",
        "--subscribers",
        "40",
        "--days",
        "5",
        "--seed",
        seed,
        "--campaign-rate",
        "0.3",
        "--tz",
        tz,
        "--output",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// `gen` records its zone in the Parquet file; a scan without `--tz` reads the days in it
/// (and says so), one with another `--tz` warns, and files of two zones need `--tz`.
#[test]
fn the_zone_travels_with_generated_data() {
    let dir = tempfile::tempdir().unwrap();
    let taipei = dir.path().join("taipei.parquet");
    generate(&taipei, "Asia/Taipei", "7");
    let p = taipei.to_str().unwrap();
    let wide = ["--hotzone", "NG,JM,KH,+88216", "--look-back-days", "5"];
    let run = |extra: &[&str]| {
        let mut a = vec![
            "scan",
            p,
            "--threshold-ratio",
            "0.3",
            "--explain",
            "--output",
            "-",
        ];
        a.extend_from_slice(&wide);
        a.extend_from_slice(extra);
        hotzone(&a)
    };
    let implicit = run(&[]);
    let explicit = run(&["--tz", "Asia/Taipei"]);
    let utc = run(&["--tz", "UTC"]);
    for o in [&implicit, &explicit, &utc] {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    assert_eq!(text(&implicit.stdout), text(&explicit.stdout));
    assert!(
        text(&implicit.stderr).contains("zone: Asia/Taipei"),
        "{}",
        text(&implicit.stderr)
    );
    assert!(text(&utc.stderr).contains("warning"));
    assert_ne!(
        text(&utc.stdout),
        text(&explicit.stdout),
        "the zone moves events across days"
    );

    let berlin = dir.path().join("berlin.parquet");
    generate(&berlin, "Europe/Berlin", "8");
    let mut a = scan_args(&[p, berlin.to_str().unwrap()], &[]);
    let o = hotzone(&a);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--tz"), "{}", text(&o.stderr));
    a.extend_from_slice(&["--tz", "UTC"]);
    assert_eq!(hotzone(&a).status.code(), Some(0));

    // A prepared file keeps its zone: a scan of it needs no --tz.
    let hzi = dir.path().join("taipei.hzi");
    let o = hotzone(&["prepare", p, "--output", hzi.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut a = vec![
        "scan",
        hzi.to_str().unwrap(),
        "--threshold-ratio",
        "0.3",
        "--explain",
        "--output",
        "-",
    ];
    a.extend_from_slice(&wide);
    let o = hotzone(&a);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), text(&explicit.stdout));
}

/// The real server binary with stderr on a pipe: its logs carry no colour escape codes, and
/// `hotzone check --server HOST:PORT` (no `http://`, as `--listen` takes it) reaches it. A
/// file of no known format in the data directory is counted in the load's log line.
#[test]
fn plain_logs_off_a_terminal_and_check_takes_host_port() {
    let data = tempfile::tempdir().unwrap();
    drop_file(
        data.path(),
        "day.csv",
        "event_time,subscriber,counterparty,direction,kind\n\
         2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call\n\
         2026-03-10T12:01:00Z,+886912345001,+2348021234568,in,call\n\
         2026-03-10T12:02:00Z,+886912345001,+2348021234569,in,call\n",
    );
    // A compressed export the server cannot read: the load's log line counts it.
    drop_file(data.path(), "day-2.csv.bz2", "BZh9 compressed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut logs = String::new();
    let mut addr = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // Wait for the listener's address, then for the first load.
    let mut loaded = false;
    while !(addr.is_some() && loaded) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("serve did not start: {logs}"));
        if line.contains("serving fraudhotzone.v1.FraudHotzone") {
            addr = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .map(str::to_owned);
        }
        if line.contains("index built and swapped in") {
            loaded = true;
            assert!(line.contains("unread_files=1"), "{line}");
        }
        logs.push_str(&line);
        logs.push('\n');
    }
    // And a warning with their kinds (never their names: a file may be named by a number).
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no warning of the unread file: {logs}"));
        logs.push_str(&line);
        logs.push('\n');
        if line.contains("not read: no known format") {
            assert!(line.contains(".bz2") && !line.contains("day-2"), "{line}");
            break;
        }
    }
    let addr = addr.unwrap();
    assert!(!addr.contains("://"));
    let check = |server: &str, more: &[&str]| {
        let mut args = vec![
            "check",
            "--server",
            server,
            "--phone-number",
            "+886912345001",
            "--look-back-days",
            "1",
            "--threshold-ratio",
            "0.5",
            "--hotzone",
            "NG",
        ];
        args.extend_from_slice(more);
        hotzone(&args)
    };
    let o = check(&addr, &["--as-of", "2026-03-10"]);
    // A host without a port, and `--min-events 0` (which the protocol would read as "unset",
    // so 3), are refused before anything is sent.
    let host = addr.rsplit_once(':').unwrap().0;
    // A port no socket has (which the URL parser dropped, sending the check to port 80), a
    // scheme other than http/https, TLS files for a plaintext server, and a PEM file that
    // holds no certificate: refused before anything is sent.
    let http = format!("http://{addr}");
    let https = format!("https://{addr}");
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    for (server, extra, says) in [
        (host, &[][..], "expected HOST:PORT"),
        (addr.as_str(), &["--min-events", "0"][..], "--min-events"),
        ("http://127.0.0.1:99999", &[][..], "is not a port"),
        ("127.0.0.1:70000", &[][..], "expected HOST:PORT"),
        ("ftp://127.0.0.1:21", &[][..], "the scheme must be"),
        (
            http.as_str(),
            &["--ca-cert", not_pem][..],
            "need an https://",
        ),
        (
            https.as_str(),
            &["--ca-cert", not_pem][..],
            "holds no PEM certificate",
        ),
    ] {
        let bad = check(server, extra);
        let err = text(&bad.stderr);
        assert_eq!(bad.status.code(), Some(1), "{server} {extra:?}: {err}");
        assert!(err.contains(says), "{server} {extra:?}: {err}");
    }
    // `soak` against it: a batch of 50,000 records (over 4 MiB as one message, which the
    // server refused as OUT_OF_RANGE) goes as a stream of smaller messages.
    let soaked = hotzone(&[
        "soak",
        "--server",
        &addr,
        "--seconds",
        "3",
        "--max-requests",
        "200",
        "--concurrency",
        "1",
        "--ingest-batch",
        "50000",
        "--ingest-every-ms",
        "600000",
    ]);
    let report = text(&soaked.stdout);
    assert_eq!(
        soaked.status.code(),
        Some(0),
        "{report}{}",
        text(&soaked.stderr)
    );
    assert!(report.contains("ingests: 1 codes {\"OK\": 1}"), "{report}");
    // `--look-back-days 0` (the protocol's "not given") likewise.
    let zero = hotzone(&[
        "check",
        "--server",
        &addr,
        "--phone-number",
        "+886912345001",
        "--look-back-days",
        "0",
        "--threshold-ratio",
        "0.5",
    ]);
    assert_eq!(zero.status.code(), Some(1));
    assert!(
        text(&zero.stderr).contains("invalid value '0' for '--look-back-days"),
        "{}",
        text(&zero.stderr)
    );
    let _ = child.kill();
    let _ = child.wait();
    while let Ok(line) = rx.try_recv() {
        logs.push_str(&line);
        logs.push('\n');
    }
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout).trim(),
        "anomaly_detected=true anomaly_date=2026-03-10"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs: {logs}"
    );
}

/// The address of a loopback listener that takes every connection and never answers (nor
/// closes it), for as long as the test process runs.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    addr
}

/// A server that takes the connection and never answers: `hotzone check` gives up after
/// `--timeout-s` with an error (it waited for ever).
#[test]
fn check_gives_up_on_a_server_that_never_answers() {
    let addr = silent_server();
    let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .args([
            "check",
            "--server",
            &addr,
            "--phone-number",
            "+886912345001",
        ])
        .args(["--look-back-days", "1", "--threshold-ratio", "0.5"])
        .args(["--timeout-s", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("Timeout expired"),
        "{}",
        text(&o.stderr)
    );
}

/// `hotzone soak` keeps to `--seconds` against a server that never answers (it waited for
/// ever), checks `--as-of` before the run, and a closed stdout is an error, not a panic.
#[test]
fn soak_keeps_to_its_seconds_and_checks_its_flags_first() {
    let addr = silent_server();
    let soak = |extra: &[&str], stdout: Stdio| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .args(["soak", "--server", &addr, "--ingest-every-ms", "600000"])
            .args(extra)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A bound for a hung process only (the run itself lasts its one second).
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("soak still running after 120 s with --seconds 1");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    };
    let o = soak(&["--seconds", "1"], Stdio::piped());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("checks: 0"), "{}", text(&o.stdout));
    // Usage errors exit 1 (2 means rejected rows elsewhere).
    for day in ["garbage", "2026-3-10", "+2026-03-10"] {
        let o = soak(&["--seconds", "1", "--as-of", day], Stdio::piped());
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("is not a date"),
            "{}",
            text(&o.stderr)
        );
    }
    // A port no socket has (the URL parser dropped it: the run went to port 80).
    for server in ["127.0.0.1:99999", "http://127.0.0.1:70000"] {
        let o = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .args(["soak", "--server", server, "--seconds", "1"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let err = text(&o.stderr).to_lowercase();
        assert!(err.contains("port") && err.contains(server), "{err}");
    }
    for bad in [
        &["--seconds", "18446744073709551615"][..],
        &["--concurrency", "100000"],
    ] {
        let o = soak(bad, Stdio::piped());
        assert_eq!(o.status.code(), Some(1), "{bad:?}: {}", text(&o.stderr));
    }
    // stdout closed before the report: an error naming the write, exit 1 (was a panic, 101).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = soak(&["--seconds", "1"], Stdio::from(writer));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("writing the report"),
        "{}",
        text(&o.stderr)
    );
}
