//! The shared conformance cases (tests/conformance/*), run through the real binary from every
//! input file each case has, comparing the five output columns with `expected.csv`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("args").exists())
        .collect();
    v.sort();
    v
}

pub(crate) fn args_of(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args"))
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn inputs_of(case: &Path) -> Vec<PathBuf> {
    ["events.csv", "events.parquet"]
        .iter()
        .map(|f| case.join(f))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn every_case_from_every_input_matches_expected() {
    let cases = cases();
    assert!(
        cases.len() >= 17,
        "conformance cases missing: {}",
        cases.len()
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
        for input in inputs_of(case) {
            let out = tmp.path().join("out.csv");
            let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
                .arg("scan")
                .arg(&input)
                .args(args_of(case))
                .arg("--output")
                .arg(&out)
                .output()
                .unwrap();
            let code = st.status.code();
            assert!(
                code == Some(0) || code == Some(2),
                "{}: {}",
                input.display(),
                String::from_utf8_lossy(&st.stderr)
            );
            let got = std::fs::read_to_string(&out).unwrap();
            assert_eq!(got, expected, "{}", input.display());
            ran += 1;
        }
    }
    assert_eq!(ran, 19);
}

/// Every case's rows as a table partitioned by `direction` and `kind` (CSV files without
/// those columns, under `direction=in/kind=call/`, as Spark and Hive write one): the same
/// verdicts, the partition values read as the files' cells (REFERENCE.md §2.5).
#[test]
fn every_case_as_a_partitioned_table_matches_expected() {
    let tmp = tempfile::tempdir().unwrap();
    for case in cases() {
        let table = tmp.path().join(case.file_name().unwrap());
        let files =
            crate::support::write_hive(&case.join("events.csv"), &table, &["direction", "kind"]);
        assert!(files >= 1, "{}", case.display());
        let out = tmp.path().join("out.csv");
        let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("scan")
            .arg(&table)
            .args(args_of(&case))
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            matches!(st.status.code(), Some(0 | 2)),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&st.stderr)
        );
        let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, expected, "{}", case.display());
    }
}

#[test]
fn bad_rows_case_counts_each_reason_and_strict_stops() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/bad_rows");
    let tmp = tempfile::tempdir().unwrap();
    let rejects = tmp.path().join("rejects.csv");
    let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .arg("scan")
        .arg(case.join("events.csv"))
        .args(args_of(&case))
        .args(["--output", "-", "--rejects"])
        .arg(&rejects)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2), "rejected rows set exit status 2");
    let err = String::from_utf8_lossy(&st.stderr);
    for key in [
        "rejected 6",
        "missing_subscriber=1",
        "bad_event_time=1",
        "bad_direction=1",
        "bad_kind=1",
        "subscriber_without_plus_no_default_region=1",
        "subscriber_not_e164=1",
    ] {
        assert!(err.contains(key), "summary lacks {key}: {err}");
    }
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[1].contains("events.csv,8,missing_subscriber"),
        "{text}"
    );
    assert!(lines[6].contains(",13,subscriber_not_e164"), "{text}");

    let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
        .arg("scan")
        .arg(case.join("events.csv"))
        .args(args_of(&case))
        .args(["--output", "-", "--strict"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("events.csv: row 8: subscriber is missing"),
        "{err}"
    );
    assert!(st.stdout.is_empty(), "strict writes no partial result");
}

#[test]
fn every_case_through_the_prepared_form_matches_expected() {
    let tmp = tempfile::tempdir().unwrap();
    for case in cases() {
        let args = args_of(&case);
        // Preparation fixes the zone and the default region; the rest are scan parameters.
        let mut prep: Vec<String> = Vec::new();
        for flag in ["--tz", "--default-region"] {
            if let Some(i) = args.iter().position(|a| a == flag) {
                prep.push(args[i].clone());
                prep.push(args[i + 1].clone());
            }
        }
        let prepared = tmp.path().join("p.hzi");
        let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("prepare")
            .arg(case.join("events.csv"))
            .args(&prep)
            .arg("--output")
            .arg(&prepared)
            .output()
            .unwrap();
        assert!(
            matches!(st.status.code(), Some(0 | 2)),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let out = tmp.path().join("out.csv");
        let st = Command::new(env!("CARGO_BIN_EXE_hotzone"))
            .arg("scan")
            .arg(&prepared)
            .args(&args)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}: {}",
            case.display(),
            String::from_utf8_lossy(&st.stderr)
        );
        let expected = std::fs::read_to_string(case.join("expected.csv")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            expected,
            "{}",
            case.display()
        );
    }
}
