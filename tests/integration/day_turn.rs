//! The day's turn where it is hardest, on servers whose clock (`ServerSettings::clock`) is
//! moved to the moment a test needs: a zone whose clocks skip midnight, a verdict changed by
//! the window's oldest day leaving it, retention and subscription ends judged by the server's
//! clock rather than the system's, the data age in a zone without the midnight it counts from.
//!
//! A test that stands a server a few seconds before a turn checks, once its subscriptions and
//! baseline checks are made, that the server's clock has not reached the turn yet; when it
//! has (a slow machine), it starts again with a wider margin. Waits are bounded waits for an
//! event, never fixed sleeps.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use hotzone::clock::Clock;
use hotzone::config::ServerSettings;
use hotzone::service::pb::{CheckRequest, EventRecord};
use serde_json::{Value, json};

use crate::http::{RestServer, SinkMode, SinkServer, post_json, request, spawn_rest};
use crate::subscriptions::{
    ANOMALY, ENDED, OLD_DAY, SUBS, created, ingest, server_settings, settled, subscription_at,
};
use crate::support::{drop_file, wait_for};

const CHECK: &str = "/fraud-hotzone-alert/v0/check";
const HEADER: &str = "event_time,subscriber,counterparty,direction,kind,duration_s\n";

/// The first instant of `day` in `tz` when it has a midnight.
fn midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// `n` incoming calls from Nigeria (the hotzone of every check here) to `number`, a second
/// apart from noon of `day` in `tz` (CSV rows, UTC instants).
fn hot_calls(tz: Tz, day: NaiveDate, number: &str, n: u32) -> String {
    let noon = tz
        .from_local_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    (0..n)
        .map(|i| {
            let at = (noon + chrono::Duration::seconds(i64::from(i))).to_rfc3339();
            format!("{at},{number},+23480212345{:02},in,call,30\n", i % 100)
        })
        .collect()
}

/// A server standing at a moment of the test's choosing, with a sink and subscriptions.
struct Stood {
    rs: RestServer,
    sink: SinkServer,
    clock: Clock,
    /// The subscriptions as created (the i-th's callbacks go to `/i`).
    subs: Vec<Value>,
    _data: tempfile::TempDir,
}

/// Starts a server in `tz` over `files` whose clock reads `at` now, waits for the first
/// load's evaluation round (over no subscription), then subscribes each of `subs` (the
/// detail, and `initialEvent`).
async fn stand(
    tz: Tz,
    at: DateTime<Utc>,
    files: &[(&str, String)],
    subs: &[(&Value, bool)],
    tweak: impl FnOnce(&mut ServerSettings),
) -> Stood {
    let data = tempfile::tempdir().unwrap();
    for (name, text) in files {
        drop_file(data.path(), name, text);
    }
    let sink = SinkServer::start(SinkMode::Status(204)).await;
    let mut settings = server_settings(data.path());
    settings.tz = tz;
    settings.clock = Clock::starting_at(at);
    tweak(&mut settings);
    let clock = settings.clock;
    let rs = spawn_rest(settings).await;
    let m = rs.state.callback_metrics();
    wait_for("the first load's round", || async {
        (m.rounds() >= 1).then_some(())
    })
    .await;
    let mut made = Vec::new();
    for (i, (detail, initial)) in subs.iter().enumerate() {
        let body = subscription_at(clock.now(), &sink.url(&format!("/{i}")), detail, *initial);
        made.push(created(&post_json(rs.http, SUBS, &[], &body).await));
    }
    Stood {
        rs,
        sink,
        clock,
        subs: made,
        _data: data,
    }
}

/// A REST check (`body` a check's fields): status and JSON body.
async fn check(rs: &RestServer, body: &Value) -> (u16, Value) {
    let r = post_json(rs.http, CHECK, &[], body).await;
    (r.status, r.json())
}

/// A gRPC check as of today (no `as_of`): (anomaly detected, anomaly date).
async fn grpc_today(rs: &RestServer, req: CheckRequest) -> (bool, String) {
    let mut c = rs.server.client().await;
    let r = c.check(req).await.unwrap().into_inner();
    (r.anomaly_detected, r.anomaly_date)
}

/// One hot call for a number no subscription watches, at the server's now: a publish that
/// makes the notifier run a round after any round under way, evaluating none of the
/// subscriptions (so that a test can wait until a round it did not start has finished).
async fn poke(rs: &RestServer, clock: Clock) {
    let event = EventRecord {
        event_time_ms: Some(clock.now_ms()),
        subscriber: "+886955509999".into(),
        counterparty: "+2348021234500".into(),
        direction: "in".into(),
        kind: "call".into(),
        duration_s: Some(30),
        counterparty_region: String::new(),
    };
    ingest(rs, vec![event]).await;
}

/// Santiago starts DST by moving its clocks from 00:00 to 01:00 on the first Sunday of
/// September (2026-09-06 in chrono-tz): that day has no midnight, and starts at 01:00 -03
/// (04:00 UTC), one hour of real time after 23:00 -04 the evening before. A server standing
/// seconds before the gap, with hot calls dated the new day, notifies the subscription when
/// that day starts, with the new day's `anomalyDate`; checks with no `asOf`, over REST and
/// gRPC, answer as of the old day before and as of the new one after.
///
/// Fails (times out waiting for the callback) when the day's start is looked for at midnight
/// only: the notifier then sleeps a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_without_a_midnight_wakes_the_subscriptions_when_it_starts() {
    let tz = chrono_tz::America::Santiago;
    let day = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
    let eve = day.pred_opt().unwrap();
    // The premise, from the zone data the server uses: no 00:00 that day; 01:00 is its
    // first instant, and a second before it is still the day before.
    assert!(
        tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .is_none(),
        "Santiago had a midnight on {day}"
    );
    let turn = tz
        .from_local_datetime(&day.and_hms_opt(1, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(turn, Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap());
    let second = chrono::Duration::seconds(1);
    assert_eq!((turn - second).with_timezone(&tz).date_naive(), eve);
    assert_eq!(turn.with_timezone(&tz).date_naive(), day);
    assert_eq!(hotzone::clock::next_day_start(turn - second, tz), turn);

    let number = "+886955500201";
    let detail = json!({"phoneNumber": number, "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    let grpc = CheckRequest {
        phone_number: number.into(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".into()],
        ..CheckRequest::default()
    };
    let files = [
        ("old.csv", OLD_DAY.to_owned()),
        (
            "ahead.csv",
            format!("{HEADER}{}", hot_calls(tz, day, number, 3)),
        ),
    ];
    let mut margin = chrono::Duration::seconds(4);
    for _attempt in 0..5 {
        let mut s = stand(tz, turn - margin, &files, &[(&detail, false)], |_| {}).await;
        let before = check(&s.rs, &detail).await;
        let before_grpc = grpc_today(&s.rs, grpc.clone()).await;
        if s.clock.now() >= turn {
            // Too slow for this margin: a baseline may have been taken after the turn.
            s.rs.server.stop().await;
            margin = margin * 4;
            continue;
        }
        assert_eq!(before, (200, json!({"anomalyDetected": false})));
        assert_eq!(before_grpc, (false, String::new()));
        assert!(s.sink.try_next().is_none());

        let got = s
            .sink
            .next_within(Duration::from_secs(60) + margin.to_std().unwrap())
            .await;
        let ev = &got.body;
        assert_eq!(got.path, "/0");
        assert_eq!(ev["type"], ANOMALY, "{ev}");
        assert_eq!(
            ev["data"],
            json!({"subscriptionId": s.subs[0]["id"], "phoneNumber": number, "anomalyDate": day.to_string()})
        );
        let sent = DateTime::parse_from_rfc3339(ev["time"].as_str().unwrap()).unwrap();
        assert!(
            sent >= turn && sent < turn + chrono::Duration::hours(1),
            "sent at the day's start (01:00 -03), not before: {ev}"
        );
        let after = check(&s.rs, &detail).await;
        assert_eq!(
            after,
            (
                200,
                json!({"anomalyDetected": true, "anomalyDate": day.to_string()})
            )
        );
        assert_eq!(
            grpc_today(&s.rs, grpc.clone()).await,
            (true, day.to_string())
        );
        assert!(s.sink.try_next().is_none(), "notified twice");
        s.rs.server.stop().await;
        return;
    }
    panic!("the subscription was never created before the turn, even with a wide margin");
}

/// Samoa crossed the date line at the end of 2011-12-29 (-10:00): the next day to start was
/// 2011-12-31 (+14:00), at 2011-12-30T10:00Z; 2011-12-30 never started in Apia. A server
/// standing seconds before that turn, with hot calls dated 2011-12-31, notifies them when the
/// day starts: the notifier looked for the start of the calendar's next date only, found no
/// instant of it, and slept a whole day instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_date_does_not_hold_up_the_next_day() {
    let tz = chrono_tz::Pacific::Apia;
    let (eve, skipped, day) = (
        NaiveDate::from_ymd_opt(2011, 12, 29).unwrap(),
        NaiveDate::from_ymd_opt(2011, 12, 30).unwrap(),
        NaiveDate::from_ymd_opt(2011, 12, 31).unwrap(),
    );
    let turn = midnight(tz, day);
    assert_eq!(turn, Utc.with_ymd_and_hms(2011, 12, 30, 10, 0, 0).unwrap());
    let second = chrono::Duration::seconds(1);
    assert_eq!((turn - second).with_timezone(&tz).date_naive(), eve);
    assert!(
        (0..24).all(|h| tz
            .from_local_datetime(&skipped.and_hms_opt(h, 0, 0).unwrap())
            .earliest()
            .is_none()),
        "{skipped} existed in Apia"
    );
    let number = "+886955500251";
    let detail = json!({"phoneNumber": number, "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    let files = [
        ("old.csv", OLD_DAY.to_owned()),
        (
            "ahead.csv",
            format!("{HEADER}{}", hot_calls(tz, day, number, 3)),
        ),
    ];
    let mut margin = chrono::Duration::seconds(4);
    for _attempt in 0..5 {
        let mut s = stand(tz, turn - margin, &files, &[(&detail, false)], |_| {}).await;
        let before = check(&s.rs, &detail).await;
        if s.clock.now() >= turn {
            s.rs.server.stop().await;
            margin = margin * 4;
            continue;
        }
        assert_eq!(before, (200, json!({"anomalyDetected": false})));
        let got = s
            .sink
            .next_within(Duration::from_secs(60) + margin.to_std().unwrap())
            .await;
        assert_eq!(
            got.body["data"],
            json!({"subscriptionId": s.subs[0]["id"], "phoneNumber": number, "anomalyDate": day.to_string()})
        );
        let sent = DateTime::parse_from_rfc3339(got.body["time"].as_str().unwrap()).unwrap();
        assert!(
            sent >= turn && sent < turn + chrono::Duration::hours(1),
            "{}",
            got.body
        );
        s.rs.server.stop().await;
        return;
    }
    panic!("the subscription was never created before the turn, even with a wide margin");
}

/// With no event dated ahead, the day's turn changes verdicts by the window's oldest day
/// leaving it. Kolkata (+05:30), days D-2, D-1, D, then D+1 starts:
/// - SPIKE, 3 days, ratio 1.5: 10 hot calls on D-2 and 4 on D. As of D the mean before D is 5
///   and 4 is no spike over 7.5; as of D+1 the day D-2 has left, the mean before D is 0 and D
///   is a spike. The turn notifies `anomalyDate` D (a day before the new one).
/// - SHARE, 3 days, `initialEvent`: 3 hot calls on D-2 only, notified at creation. As of D+1
///   the day has left: the verdict stops being anomalous and nothing is sent (CAMARA has
///   anomaly events only); a check says `false`.
///
/// Fails when the turn does not evaluate (the SPIKE callback never comes), when it
/// evaluates as of the system's date (nothing in that window), or when a verdict that stops
/// being anomalous sends an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_day_leaving_the_window_changes_verdicts_at_the_turn() {
    let tz = chrono_tz::Asia::Kolkata;
    let d = NaiveDate::from_ymd_opt(2026, 10, 20).unwrap();
    let back = |n: u64| d - chrono::Days::new(n);
    let next = d.succ_opt().unwrap();
    let turn = midnight(tz, next);
    let (spike, share) = ("+886955500211", "+886955500212");
    let spike_detail = json!({"phoneNumber": spike, "lookBackDays": 3, "method": "SPIKE", "thresholdRatio": 1.5, "fraudHotZone": ["NG"]});
    let share_detail = json!({"phoneNumber": share, "lookBackDays": 3, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    let files = [
        ("old.csv", OLD_DAY.to_owned()),
        (
            "days.csv",
            format!(
                "{HEADER}{}{}{}",
                hot_calls(tz, back(2), spike, 10),
                hot_calls(tz, d, spike, 4),
                hot_calls(tz, back(2), share, 3)
            ),
        ),
    ];
    // The premise, by asking the server as of each day.
    let as_of = |detail: &Value, day: NaiveDate| {
        let mut v = detail.clone();
        v["asOf"] = json!(day.to_string());
        v
    };
    let mut margin = chrono::Duration::seconds(4);
    for _attempt in 0..5 {
        let mut s = stand(
            tz,
            turn - margin,
            &files,
            &[(&spike_detail, false), (&share_detail, true)],
            |_| {},
        )
        .await;
        let m = s.rs.state.callback_metrics();
        // The share subscription's initial round.
        wait_for("the initial round", || async {
            (m.rounds() >= 2).then_some(())
        })
        .await;
        let spike_before = check(&s.rs, &spike_detail).await;
        let share_before = check(&s.rs, &share_detail).await;
        if s.clock.now() >= turn {
            s.rs.server.stop().await;
            margin = margin * 4;
            continue;
        }
        assert_eq!(spike_before, (200, json!({"anomalyDetected": false})));
        assert_eq!(
            share_before,
            (
                200,
                json!({"anomalyDetected": true, "anomalyDate": back(2).to_string()})
            )
        );
        assert_eq!(
            check(&s.rs, &as_of(&spike_detail, next)).await,
            (
                200,
                json!({"anomalyDetected": true, "anomalyDate": d.to_string()})
            )
        );
        assert_eq!(
            check(&s.rs, &as_of(&share_detail, next)).await,
            (200, json!({"anomalyDetected": false}))
        );

        // The share subscription's initial event (D-2), and at the turn the spike's (D).
        let wait = Duration::from_secs(60) + margin.to_std().unwrap();
        let mut got: std::collections::BTreeMap<String, Value> = Default::default();
        for _ in 0..2 {
            let r = s.sink.next_within(wait).await;
            assert!(got.insert(r.path.clone(), r.body).is_none(), "{got:?}");
        }
        let (spiked, shared) = (&got["/0"], &got["/1"]);
        assert_eq!(spiked["type"], ANOMALY);
        assert_eq!(
            spiked["data"],
            json!({"subscriptionId": s.subs[0]["id"], "phoneNumber": spike, "anomalyDate": d.to_string()})
        );
        let sent = DateTime::parse_from_rfc3339(spiked["time"].as_str().unwrap()).unwrap();
        assert!(sent >= turn, "the spike before the turn: {spiked}");
        assert_eq!(
            shared["data"],
            json!({"subscriptionId": s.subs[1]["id"], "phoneNumber": share, "anomalyDate": back(2).to_string()})
        );
        // Every round up to the turn's has finished (a publish queues one after it) and its
        // callbacks are done: nothing for the verdict that stopped being anomalous.
        let now = m.rounds();
        poke(&s.rs, s.clock).await;
        settled(&s.rs, now).await;
        assert!(
            s.sink.try_next().is_none(),
            "an event for a cleared verdict"
        );
        assert_eq!(
            check(&s.rs, &share_detail).await,
            (200, json!({"anomalyDetected": false}))
        );
        assert_eq!(
            check(&s.rs, &spike_detail).await,
            (
                200,
                json!({"anomalyDetected": true, "anomalyDate": d.to_string()})
            )
        );
        s.rs.server.stop().await;
        return;
    }
    panic!("the subscriptions were never created before the turn, even with a wide margin");
}

/// `retention_days` counts back from the server's today, not the system's: a server whose
/// clock stands in June 2025 keeps its last 7 days (and every day after its today), although
/// the data also holds a day of December 2026 (the real past, the server's future). Counted
/// from the system's date, that day was the anchor and June 2025 was dropped: every check as
/// of the server's today was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_counts_back_from_the_servers_today() {
    let tz = Tz::UTC;
    let today = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    let back = |n: u64| today - chrono::Days::new(n);
    let (hot, old, ahead) = ("+886955500221", "+886955500222", "+886955500223");
    let text = format!(
        "{HEADER}{}{}2026-12-01T12:00:00Z,{ahead},+886212345678,in,call,30\n",
        hot_calls(tz, today, hot, 3),
        hot_calls(tz, back(21), old, 3),
    );
    let s = stand(
        tz,
        Utc.with_ymd_and_hms(2025, 6, 10, 20, 0, 0).unwrap(),
        &[("days.csv", text)],
        &[],
        |s| {
            s.retention_days = Some(7);
            s.max_look_back_days = 7;
        },
    )
    .await;
    let req = |number: &str, as_of: Option<NaiveDate>, look_back: u32| {
        let mut v = json!({"phoneNumber": number, "lookBackDays": look_back, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
        if let Some(d) = as_of {
            v["asOf"] = json!(d.to_string());
        }
        v
    };
    // Today by the server: answered from the days kept.
    assert_eq!(
        check(&s.rs, &req(hot, None, 7)).await,
        (
            200,
            json!({"anomalyDetected": true, "anomalyDate": today.to_string()})
        )
    );
    // The first day kept is six days back; the day before it is refused.
    assert_eq!(
        check(&s.rs, &req(hot, Some(back(6)), 1)).await,
        (200, json!({"anomalyDetected": false}))
    );
    for (number, as_of) in [(hot, back(7)), (old, back(21))] {
        let (status, body) = check(&s.rs, &req(number, Some(as_of), 1)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "OUT_OF_RANGE", "{body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(&format!("starts before {}", back(6))), "{msg}");
    }
    // A day after the server's today is kept.
    assert_eq!(
        check(&s.rs, &req(ahead, NaiveDate::from_ymd_opt(2026, 12, 1), 7)).await,
        (200, json!({"anomalyDetected": false}))
    );
    s.rs.server.stop().await;
}

/// `subscriptionExpireTime` and the token's expiry are judged by the server's clock, both
/// when a subscription is made ("in the future") and when it ends. A server standing in June
/// 2025 accepts times a few seconds after its now (years in the real past) and ends those
/// subscriptions when its own clock reaches them: SUBSCRIPTION_EXPIRED at or after the
/// expiry, ACCESS_TOKEN_EXPIRED before the token expires (halfway through its short life).
/// The times leave a busy machine room: 12 s to create the first, 20 s for the second's end
/// to be sent before its token expires.
/// A server standing years ahead refuses an expiry in the real future but in its past.
///
/// Fails when the expiry task reads the system's clock (the ends are sent at once, dated
/// before the times), or creation does (the times are refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_by_the_servers_clock() {
    let tz = Tz::UTC;
    let detail = json!({"phoneNumber": "+886955500231", "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    let mut s = stand(
        tz,
        Utc.with_ymd_and_hms(2025, 6, 10, 20, 0, 0).unwrap(),
        &[("old.csv", OLD_DAY.to_owned())],
        &[],
        |_| {},
    )
    .await;
    let now = s.clock.now();
    let secs = |n: i64| now + chrono::Duration::seconds(n);
    let mut expiring = subscription_at(now, &s.sink.url("/expiring"), &detail, false);
    expiring["config"]["subscriptionExpireTime"] = json!(secs(12).to_rfc3339());
    let expiring = created(&post_json(s.rs.http, SUBS, &[], &expiring).await);
    let mut token = subscription_at(now, &s.sink.url("/token"), &detail, false);
    token["sinkCredential"]["accessTokenExpiresUtc"] = json!(secs(40).to_rfc3339());
    let token = created(&post_json(s.rs.http, SUBS, &[], &token).await);
    let at = |v: &Value, field: &str| {
        DateTime::parse_from_rfc3339(v[field].as_str().unwrap_or_else(|| panic!("{v}")))
            .unwrap()
            .with_timezone(&Utc)
    };
    let expires = at(&expiring, "expiresAt");
    assert!(expires > now && expires <= secs(12), "{expiring}");
    assert!(at(&expiring, "startsAt") >= now, "{expiring}");

    let mut ended: std::collections::BTreeMap<String, Value> = Default::default();
    for _ in 0..2 {
        let r = s.sink.next().await;
        ended.insert(r.path, r.body);
    }
    let (e, t) = (&ended["/expiring"], &ended["/token"]);
    assert_eq!(e["type"], ENDED, "{e}");
    assert_eq!(e["data"]["subscriptionId"], expiring["id"]);
    assert_eq!(e["data"]["terminationReason"], "SUBSCRIPTION_EXPIRED");
    assert!(at(e, "time") >= expires, "ended before its expiry: {e}");
    assert_eq!(t["type"], ENDED, "{t}");
    assert_eq!(t["data"]["subscriptionId"], token["id"]);
    assert_eq!(t["data"]["terminationReason"], "ACCESS_TOKEN_EXPIRED");
    // Halfway from its start to the token's expiry (to the millisecond).
    let (starts, token_expires) = (at(&token, "startsAt"), secs(40));
    let halfway = starts + (token_expires - starts) / 2 - chrono::Duration::milliseconds(2);
    let sent = at(t, "time");
    assert!(
        sent >= halfway && sent < token_expires,
        "halfway through the token's life: {t}"
    );
    for sub in [&expiring, &token] {
        let r = request(
            s.rs.http,
            "GET",
            &format!("{SUBS}/{}", sub["id"].as_str().unwrap()),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 404);
    }
    s.rs.server.stop().await;

    // Standing five years ahead: a day after the real now is in the server's past.
    let ahead = stand(
        tz,
        Utc::now() + chrono::Duration::days(5 * 365),
        &[("old.csv", OLD_DAY.to_owned())],
        &[],
        |_| {},
    )
    .await;
    let mut body = subscription_at(ahead.clock.now(), &ahead.sink.url("/cb"), &detail, false);
    body["config"]["subscriptionExpireTime"] =
        json!((Utc::now() + chrono::Duration::days(1)).to_rfc3339());
    let r = post_json(ahead.rs.http, SUBS, &[], &body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["code"], "INVALID_ARGUMENT");
    assert!(r.text().contains("must be in the future"), "{}", r.text());
    ahead.rs.server.stop().await;
}

/// `hotzone_data_age_seconds` counts from the end of the latest day in the data by the
/// server's clock, in zones whose next day has no midnight: Santiago's 2026-09-05 ends at
/// 01:00 -03 on 2026-09-06 (04:00 UTC; the age was NaN, as with no data), Apia's 2011-12-29
/// at 00:00 +14:00 on 2011-12-31 (2011-12-30 was skipped). A server standing an hour after
/// that reports an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_age_counts_from_a_day_end_without_a_midnight() {
    for (tz, eve, end) in [
        (
            chrono_tz::America::Santiago,
            NaiveDate::from_ymd_opt(2026, 9, 5).unwrap(),
            Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).unwrap(),
        ),
        (
            chrono_tz::Pacific::Apia,
            NaiveDate::from_ymd_opt(2011, 12, 29).unwrap(),
            Utc.with_ymd_and_hms(2011, 12, 30, 10, 0, 0).unwrap(),
        ),
    ] {
        let s = stand(
            tz,
            end + chrono::Duration::hours(1),
            &[(
                "eve.csv",
                format!("{HEADER}{}", hot_calls(tz, eve, "+886955500241", 1)),
            )],
            &[],
            |_| {},
        )
        .await;
        let text = s.rs.state.render_metrics();
        let age: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("hotzone_data_age_seconds "))
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap();
        assert!(
            (3600.0..3600.0 + 600.0).contains(&age),
            "{tz}: data age {age} s"
        );
        s.rs.server.stop().await;
    }
}
