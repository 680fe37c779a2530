//! REFERENCE.md §5 as a table: each row is a tiny event list, the scan parameters, and the verdict
//! rows the spec demands, run through the library scan and the serving index alike.

use std::sync::Arc;

use hotzone::index::{ServingIndex, Snapshot};
use hotzone::ingest::IngestOptions;
use hotzone::model::{CheckTarget, CheckType, Hotzone, Method, Msisdn, RawCheck};
use hotzone::scan::{ScanRequest, scan};

struct Case {
    name: &'static str,
    hotzone: &'static str,
    look_back: i64,
    method: Method,
    ratio: f64,
    min_events: i64,
    check_type: CheckType,
    check_target: CheckTarget,
    as_of: &'static str,
    tz: &'static str,
    /// `subscriber,detected,date,anomalous_days,first` rows.
    expect: &'static [&'static str],
}

const BASE: Case = Case {
    name: "",
    hotzone: "NG",
    look_back: 1,
    method: Method::Share,
    ratio: 0.5,
    min_events: 3,
    check_type: CheckType::All,
    check_target: CheckTarget::All,
    as_of: "2026-03-10",
    tz: "UTC",
    expect: &[],
};

const NG: &str = "+2348021234567";
const TW: &str = "+886221234567";
const A: &str = "+886912345001";

fn rows(n: usize, time: &str, cp: &str, dir: &str, kind: &str) -> Vec<String> {
    (0..n)
        .map(|_| format!("{time},{A},{cp},{dir},{kind}"))
        .collect()
}

fn cases() -> Vec<(Case, Vec<String>)> {
    let t10 = "2026-03-10T12:00:00Z";
    let mut out: Vec<(Case, Vec<String>)> = Vec::new();
    let mut add = |c: Case, ev: Vec<String>| out.push((c, ev));
    // SHARE is inclusive at the boundary: 3/10 >= 0.3.
    add(
        Case {
            name: "share boundary 3/10 >= 0.3",
            ratio: 0.3,
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        [
            rows(3, t10, NG, "in", "call"),
            rows(7, t10, TW, "in", "call"),
        ]
        .concat(),
    );
    add(
        Case {
            name: "share just below: 3/11 < 0.3",
            ratio: 0.3,
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        [
            rows(3, t10, NG, "in", "call"),
            rows(8, t10, TW, "in", "call"),
        ]
        .concat(),
    );
    // min_events gates even a 100% share.
    add(
        Case {
            name: "min_events gates",
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        rows(2, t10, NG, "in", "call"),
    );
    add(
        Case {
            name: "min_events 2 lets 2 through",
            min_events: 2,
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        rows(2, t10, NG, "in", "call"),
    );
    // Withheld and alphanumeric counterparties count in totals only.
    add(
        Case {
            name: "withheld counts in totals only",
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        [
            rows(3, t10, NG, "in", "call"),
            rows(2, t10, "", "in", "call"),
            rows(2, t10, "BANK", "in", "sms"),
        ]
        .concat(),
    );
    // SPIKE: never on the first day of W, even with a huge count.
    add(
        Case {
            name: "spike never on the first day",
            method: Method::Spike,
            ratio: 1.0,
            look_back: 3,
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        rows(50, "2026-03-08T12:00:00Z", NG, "in", "call"),
    );
    // SPIKE with a zero baseline fires on the first hot day after the first.
    add(
        Case {
            name: "spike zero baseline",
            method: Method::Spike,
            ratio: 3.0,
            look_back: 3,
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        [
            rows(5, "2026-03-08T12:00:00Z", TW, "in", "call"),
            rows(3, t10, NG, "in", "call"),
        ]
        .concat(),
    );
    // SPIKE is strict: 4 > 2 * (4/2) is false.
    add(
        Case {
            name: "spike strict",
            method: Method::Spike,
            ratio: 2.0,
            look_back: 3,
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        [
            rows(4, "2026-03-08T12:00:00Z", NG, "in", "call"),
            rows(4, t10, NG, "in", "call"),
        ]
        .concat(),
    );
    // Window edges: the day before W and the day after as_of are ignored.
    add(
        Case {
            name: "window edges",
            look_back: 2,
            expect: &["+886912345001,true,2026-03-09,1,2026-03-09"],
            ..BASE
        },
        [
            rows(5, "2026-03-07T23:59:59Z", NG, "in", "call"),
            rows(3, "2026-03-09T00:00:00Z", NG, "in", "call"),
            rows(5, "2026-03-11T00:00:00Z", NG, "in", "call"),
        ]
        .concat(),
    );
    // Days are calendar days in the engine zone: 16:00Z is the next day in Asia/Taipei.
    add(
        Case {
            name: "Asia/Taipei day edge",
            tz: "Asia/Taipei",
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        [
            rows(3, "2026-03-09T16:00:00Z", NG, "in", "call"),
            rows(5, "2026-03-09T15:59:59Z", TW, "in", "call"),
        ]
        .concat(),
    );
    // America/New_York's 2026-11-01 lasts 25 hours: 04:30Z on 11-02 still belongs to it.
    add(
        Case {
            name: "DST 25-hour day",
            tz: "America/New_York",
            as_of: "2026-11-01",
            expect: &["+886912345001,true,2026-11-01,1,2026-11-01"],
            ..BASE
        },
        rows(3, "2026-11-02T04:30:00Z", NG, "in", "call"),
    );
    // Selection happens before counting: only incoming SMS here.
    add(
        Case {
            name: "check_type sms + check_target incoming",
            check_type: CheckType::Sms,
            check_target: CheckTarget::Incoming,
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        [
            rows(3, t10, NG, "in", "sms"),
            rows(10, t10, TW, "out", "sms"),
            rows(10, t10, TW, "in", "call"),
        ]
        .concat(),
    );
    // No selected event in W: no row at all.
    add(
        Case {
            name: "no selected event: no row",
            check_type: CheckType::Call,
            expect: &[],
            ..BASE
        },
        rows(3, t10, NG, "in", "sms"),
    );
    // Prefix entries match by digits; region entries by libphonenumber region.
    add(
        Case {
            name: "prefix entry",
            hotzone: "+23480",
            expect: &["+886912345001,true,2026-03-10,1,2026-03-10"],
            ..BASE
        },
        rows(3, t10, NG, "in", "call"),
    );
    add(
        Case {
            name: "+1 876 is JM, not US",
            hotzone: "US",
            expect: &["+886912345001,false,,0,"],
            ..BASE
        },
        rows(3, t10, "+18762101234", "in", "call"),
    );
    out
}

#[test]
fn spec_section_5_table() {
    for (c, events) in cases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.csv");
        let lines: Vec<String> = events.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(
            &path,
            format!(
                "event_time,subscriber,counterparty,direction,kind\n{}",
                lines.concat()
            ),
        )
        .unwrap();
        let inputs = vec![path.to_string_lossy().into_owned()];
        let tz: chrono_tz::Tz = c.tz.parse().unwrap();
        let raw = RawCheck {
            look_back_days: Some(c.look_back),
            method: Some(c.method),
            threshold_ratio: Some(c.ratio),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", c.hotzone).unwrap())),
            check_type: Some(c.check_type),
            check_target: Some(c.check_target),
            min_events: Some(c.min_events),
            as_of: Some(c.as_of.to_owned()),
        };
        let req = ScanRequest {
            raw,
            tz,
            ingest: IngestOptions::default(),
            explain: false,
        };
        let out = scan(&inputs, &req, &|_, _| {}).unwrap();
        let got: Vec<String> = out
            .rows
            .iter()
            .map(|r| {
                let d = |x: Option<u16>| {
                    x.map(|i| {
                        out.window
                            .as_ref()
                            .unwrap()
                            .date(usize::from(i))
                            .to_string()
                    })
                    .unwrap_or_default()
                };
                format!(
                    "{},{},{},{},{}",
                    r.subscriber,
                    r.verdict.detected(),
                    d(r.verdict.last),
                    r.verdict.anomalous_days,
                    d(r.verdict.first)
                )
            })
            .collect();
        assert_eq!(got, c.expect, "{}", c.name);

        // The serving index gives the same two facts.
        let (index, _) = ServingIndex::load(&inputs, &IngestOptions::default(), tz).unwrap();
        let v = Snapshot::new(vec![Arc::new(index)])
            .check(
                Msisdn::parse_subscriber(A).unwrap(),
                out.params.as_ref().unwrap(),
            )
            .unwrap();
        let want = c.expect.first().map(|r| r.split(',').collect::<Vec<_>>());
        let (det, date) = want
            .map(|f| (f[1] == "true", f[2].to_owned()))
            .unwrap_or((false, String::new()));
        assert_eq!(
            (
                v.anomaly_detected,
                v.anomaly_date.map(|d| d.to_string()).unwrap_or_default()
            ),
            (det, date),
            "{}",
            c.name
        );
    }
}
