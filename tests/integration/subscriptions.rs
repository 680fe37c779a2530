//! Anomaly subscriptions end to end: a real server, a real HTTP client, and a real local
//! sink (an HTTP server in the test) receiving the CloudEvents. Notified once; no repeat
//! after a restart; ended on delete, on expiry, on the token's expiry and after the last
//! allowed event; a hanging sink does not hold up checks; private sinks refused.

use std::path::Path;

use hotzone::service::pb::{CheckRequest, EventRecord, IngestRequest};
use serde_json::{Value, json};

use crate::http::{Reply, SinkMode, SinkServer, post_json, request, spawn_rest};
use crate::support::{drop_file, settings, wait_for};

pub(crate) const SUBS: &str = "/fraud-hotzone-alert-subscriptions/v0/subscriptions";
pub(crate) const ANOMALY: &str =
    "org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected";
pub(crate) const ENDED: &str =
    "org.camaraproject.fraud-hotzone-alert-subscriptions.v0.subscription-ended";

/// Some old data, so the server loads (nothing in it is "today").
pub(crate) const OLD_DAY: &str = "\
event_time,subscriber,counterparty,direction,kind,duration_s
2026-03-10T12:00:00Z,+886912345001,+2348021234567,in,call,60
";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 of now + `ms`.
fn in_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms() + ms)
        .unwrap()
        .to_rfc3339()
}

/// Three hot calls (NG) for `sub` a few minutes ago, and the UTC day they fall on.
pub(crate) fn hot_now(sub: &str) -> (Vec<EventRecord>, String) {
    let t0 = now_ms() - 5 * 60_000;
    let events = (0..3)
        .map(|i| EventRecord {
            event_time_ms: Some(t0 + i * 1000),
            subscriber: sub.into(),
            counterparty: format!("+23480212345{i:02}"),
            direction: "in".into(),
            kind: "call".into(),
            duration_s: Some(30),
            counterparty_region: String::new(),
        })
        .collect();
    let day = chrono::DateTime::from_timestamp_millis(t0)
        .unwrap()
        .date_naive()
        .to_string();
    (events, day)
}

/// A subscription of `number`'s NG calls over 7 days (ratio 0.5) with a day to live.
fn subscription(sink: &str, number: &str) -> Value {
    let detail = json!({"phoneNumber": number, "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    subscription_at(chrono::Utc::now(), sink, &detail, false)
}

/// A subscription to `detail` whose token and end are hours after `now` (the server's
/// clock, wherever it stands: the real one may be years away).
pub(crate) fn subscription_at(
    now: chrono::DateTime<chrono::Utc>,
    sink: &str,
    detail: &Value,
    initial: bool,
) -> Value {
    let later = |hours: i64| (now + chrono::Duration::hours(hours)).to_rfc3339();
    json!({
        "protocol": "HTTP",
        "sink": sink,
        "sinkCredential": {
            "credentialType": "ACCESSTOKEN",
            "accessToken": "sink-secret",
            "accessTokenType": "bearer",
            "accessTokenExpiresUtc": later(2),
        },
        "types": [ANOMALY],
        "config": {
            "subscriptionDetail": detail,
            "subscriptionExpireTime": later(24),
            "initialEvent": initial,
        },
    })
}

pub(crate) fn server_settings(data: &Path) -> hotzone::config::ServerSettings {
    let mut s = settings(data);
    s.subscriptions.allow_insecure_sinks = true;
    s.subscriptions.sink_backoff_ms = 50;
    s.subscriptions.sink_timeout_ms = 5_000;
    s
}

pub(crate) async fn ingest(rs: &crate::http::RestServer, events: Vec<EventRecord>) {
    let mut c = rs.server.client().await;
    c.ingest(tokio_stream::iter(vec![IngestRequest { events }]))
        .await
        .unwrap();
}

/// Waits until an evaluation round after `after` has finished and its callbacks are done.
pub(crate) async fn settled(rs: &crate::http::RestServer, after: u64) {
    let m = rs.state.callback_metrics();
    wait_for("evaluation and callbacks done", || async {
        (m.rounds() > after && m.pending() == 0).then_some(())
    })
    .await;
}

pub(crate) fn created(r: &Reply) -> Value {
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_once_no_repeat_after_restart_ended_on_delete() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(204)).await;
    let rs = spawn_rest(server_settings(data.path())).await;
    let number = "+886955500001";

    let sub = created(
        &post_json(
            rs.http,
            SUBS,
            &[("x-correlator", "sub-1")],
            &subscription(&sink.url("/cb"), number),
        )
        .await,
    );
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["protocol"], "HTTP");
    assert_eq!(sub["types"], json!([ANOMALY]));
    assert_eq!(sub["config"]["subscriptionDetail"]["phoneNumber"], number);
    assert!(sub["startsAt"].is_string() && sub["expiresAt"].is_string());
    assert!(
        sub.get("sinkCredential").is_none(),
        "the token is never echoed"
    );
    // On disk before the 201.
    let file = data
        .path()
        .join(".subscriptions")
        .join(format!("{id}.json"));
    assert!(file.is_file());
    let listed = request(rs.http, "GET", SUBS, &[], None).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], json!(id));
    let one = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(one.json(), sub);

    // New data makes the number anomalous: one CloudEvent, with the sink's token.
    let rounds = rs.state.callback_metrics().rounds();
    let (events, day) = hot_now(number);
    ingest(&rs, events).await;
    let got = sink.next().await;
    assert_eq!(got.path, "/cb");
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer sink-secret"
    );
    assert_eq!(
        got.headers.get("content-type").unwrap(),
        "application/cloudevents+json"
    );
    let ev = &got.body;
    assert_eq!(ev["specversion"], "1.0");
    assert_eq!(ev["type"], ANOMALY);
    assert!(ev["id"].is_string() && ev["source"].is_string() && ev["time"].is_string());
    assert_eq!(
        ev["data"],
        json!({"subscriptionId": id, "phoneNumber": number, "anomalyDate": day})
    );
    settled(&rs, rounds).await;
    assert_eq!(rs.state.callback_metrics().delivered(), 1);

    // More data for the same number, same anomaly date: nothing new to tell.
    let rounds = rs.state.callback_metrics().rounds();
    let evaluated = rs.state.callback_metrics().evaluations();
    let (events, _) = hot_now(number);
    ingest(&rs, events).await;
    settled(&rs, rounds).await;
    assert_eq!(rs.state.callback_metrics().evaluations(), evaluated + 1);
    assert!(sink.try_next().is_none(), "notified twice");
    // Data for another number: no subscription of it is evaluated.
    let rounds = rs.state.callback_metrics().rounds();
    let (events, _) = hot_now("+886955500999");
    ingest(&rs, events).await;
    settled(&rs, rounds).await;
    assert_eq!(rs.state.callback_metrics().evaluations(), evaluated + 1);
    assert!(sink.try_next().is_none());
    rs.server.stop().await;

    // A damaged subscription file does not stop the next start.
    std::fs::write(
        data.path().join(".subscriptions").join("damaged.json"),
        "{\"id\": \"+886955500001",
    )
    .unwrap();
    // Restart on the same directories: the subscription is back, the date is not re-sent
    // although the first load re-evaluates every subscription.
    let rs = spawn_rest(server_settings(data.path())).await;
    settled(&rs, 0).await;
    assert!(rs.state.callback_metrics().evaluations() >= 1);
    assert!(sink.try_next().is_none(), "repeated after restart");
    let one = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["id"], json!(id));
    let listed = request(rs.http, "GET", SUBS, &[], None).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");

    // Delete: 204, a subscription-ended event, then gone (and its file too).
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let got = sink.next().await;
    assert_eq!(got.body["type"], ENDED);
    assert_eq!(got.body["data"]["subscriptionId"], json!(id));
    assert_eq!(
        got.body["data"]["terminationReason"],
        "SUBSCRIPTION_DELETED"
    );
    let r = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "NOT_FOUND");
    assert!(!file.exists());
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 404);
    // No phone number in the metrics.
    assert!(!rs.state.render_metrics().contains("886955500001"));
    rs.server.stop().await;
}

/// The day's turn, on a server whose clock stands a few seconds before midnight in Taipei
/// (the real clock moved back, `ServerSettings::clock`). The number's hot calls are dated the
/// next day, ahead of that clock. While the day lasts, a check with no `asOf` finds nothing
/// and the subscription's baseline is no anomaly; when the next day starts, with no new data
/// and no file touched, the notifier wakes and sends the anomaly of the new day, and a check
/// with no `asOf` answers as of it. When the machine is too slow to create the subscription
/// before the turn, the test starts again with a wider margin (it never relies on timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_of_a_day_wakes_the_subscriptions_whose_verdict_it_changes() {
    use chrono::{TimeZone, Utc};
    let tz = chrono_tz::Asia::Taipei;
    let number = "+886955500077";
    let check = json!({"phoneNumber": number, "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
    let mut margin = chrono::Duration::seconds(4);
    for _attempt in 0..5 {
        // The day that starts: today in Taipei (so the server's clock runs a little behind
        // the real one, and the tokens and expiry times below, in real time, stay ahead).
        let day = Utc::now().with_timezone(&tz).date_naive();
        let turn = tz
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let data = tempfile::tempdir().unwrap();
        drop_file(data.path(), "old.csv", OLD_DAY);
        let hot: String = (0..3)
            .map(|i| format!("{day}T12:00:0{i}+08:00,{number},+23480212345{i:02},in,call,30\n"))
            .collect();
        drop_file(
            data.path(),
            "ahead.csv",
            &format!("event_time,subscriber,counterparty,direction,kind,duration_s\n{hot}"),
        );
        let mut sink = SinkServer::start(SinkMode::Status(204)).await;
        let mut settings = server_settings(data.path());
        settings.tz = tz;
        settings.clock = hotzone::clock::Clock::starting_at(turn - margin);
        let clock = settings.clock;
        let rs = spawn_rest(settings).await;
        let r = post_json(rs.http, SUBS, &[], &subscription(&sink.url("/cb"), number)).await;
        let sub = created(&r);
        let before = post_json(rs.http, "/fraud-hotzone-alert/v0/check", &[], &check).await;
        if clock.now() >= turn {
            // Too slow for this margin: the baseline may have been taken after the turn.
            rs.server.stop().await;
            margin = margin * 4;
            continue;
        }
        assert_eq!(before.json(), json!({"anomalyDetected": false}));
        let starts = chrono::DateTime::parse_from_rfc3339(sub["startsAt"].as_str().unwrap());
        assert!(
            starts.unwrap() < turn,
            "startsAt is read on the server's clock: {sub}"
        );
        assert!(sink.try_next().is_none());

        // The turn: one CloudEvent, dated by the server's clock, for the day that started.
        let wait = std::time::Duration::from_secs(60) + margin.to_std().unwrap();
        let got = sink.next_within(wait).await;
        let ev = &got.body;
        assert_eq!(ev["type"], ANOMALY, "{ev}");
        assert_eq!(
            ev["data"],
            json!({"subscriptionId": sub["id"], "phoneNumber": number, "anomalyDate": day.to_string()})
        );
        let sent = chrono::DateTime::parse_from_rfc3339(ev["time"].as_str().unwrap()).unwrap();
        assert!(
            sent >= turn && sent < turn + chrono::Duration::hours(1),
            "{ev}"
        );
        let after = post_json(rs.http, "/fraud-hotzone-alert/v0/check", &[], &check).await;
        assert_eq!(
            after.json(),
            json!({"anomalyDetected": true, "anomalyDate": day.to_string()})
        );
        assert!(sink.try_next().is_none(), "notified twice");
        rs.server.stop().await;
        return;
    }
    panic!("the subscription was never created before the turn, even with a wide margin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_on_expiry_token_expiry_and_max_events() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(200)).await;
    let rs = spawn_rest(server_settings(data.path())).await;

    let mut expiring = subscription(&sink.url("/expiring"), "+886955500011");
    expiring["config"]["subscriptionExpireTime"] = json!(in_ms(4_000));
    let expiring = created(&post_json(rs.http, SUBS, &[], &expiring).await);
    let mut token = subscription(&sink.url("/token"), "+886955500012");
    token["sinkCredential"]["accessTokenExpiresUtc"] = json!(in_ms(4_000));
    let token = created(&post_json(rs.http, SUBS, &[], &token).await);
    let mut capped = subscription(&sink.url("/capped"), "+886955500013");
    capped["config"]["subscriptionMaxEvents"] = json!(1);
    let capped = created(&post_json(rs.http, SUBS, &[], &capped).await);

    let (events, day) = hot_now("+886955500013");
    ingest(&rs, events).await;

    let mut by_path: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for _ in 0..4 {
        let got = sink.next().await;
        by_path.entry(got.path).or_default().push(got.body);
    }
    let ended = |v: &Value, id: &Value, reason: &str| {
        assert_eq!(v["type"], ENDED, "{v}");
        assert_eq!(&v["data"]["subscriptionId"], id);
        assert_eq!(v["data"]["terminationReason"], reason);
    };
    ended(
        &by_path["/expiring"][0],
        &expiring["id"],
        "SUBSCRIPTION_EXPIRED",
    );
    ended(&by_path["/token"][0], &token["id"], "ACCESS_TOKEN_EXPIRED");
    let c = &by_path["/capped"];
    assert_eq!(c[0]["type"], ANOMALY);
    assert_eq!(c[0]["data"]["anomalyDate"], json!(day));
    ended(&c[1], &capped["id"], "MAX_EVENTS_REACHED");
    for s in [&expiring, &token, &capped] {
        let r = request(
            rs.http,
            "GET",
            &format!("{SUBS}/{}", s["id"].as_str().unwrap()),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 404);
    }
    assert_eq!(
        request(rs.http, "GET", SUBS, &[], None).await.json(),
        json!([])
    );
    rs.server.stop().await;
}

/// CAMARA: ACCESS_TOKEN_EXPIRED is sent just before the token expires, while it still opens
/// the sink (it was sent a few ms after, carrying the expired token). A token living 10 s
/// ends its subscription halfway (a minute before, for one living two minutes or more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_end_is_sent_before_the_token_expires() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(204)).await;
    let rs = spawn_rest(server_settings(data.path())).await;
    let expires = now_ms() + 10_000;
    let mut body = subscription(&sink.url("/token"), "+886955500014");
    body["sinkCredential"]["accessTokenExpiresUtc"] = json!(
        chrono::DateTime::from_timestamp_millis(expires)
            .unwrap()
            .to_rfc3339()
    );
    let sub = created(&post_json(rs.http, SUBS, &[], &body).await);
    let got = sink.next().await;
    let at = now_ms();
    assert_eq!(got.body["type"], ENDED, "{}", got.body);
    assert_eq!(got.body["data"]["subscriptionId"], sub["id"]);
    assert_eq!(
        got.body["data"]["terminationReason"],
        "ACCESS_TOKEN_EXPIRED"
    );
    assert!(
        at < expires,
        "received {} ms after the expiry",
        at - expires
    );
    assert!(
        at >= expires - 6_000,
        "received {} ms before the expiry",
        expires - at
    );
    assert_eq!(got.headers["authorization"], "Bearer sink-secret");
    let r = request(
        rs.http,
        "GET",
        &format!("{SUBS}/{}", sub["id"].as_str().unwrap()),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_sink_does_not_hold_up_checks_or_ingests() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Hang).await;
    let mut s = server_settings(data.path());
    s.subscriptions.sink_timeout_ms = 600_000;
    s.subscriptions.sink_concurrency = 1;
    let rs = spawn_rest(s).await;
    let number = "+886955500021";
    created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&sink.url("/slow"), number),
        )
        .await,
    );
    let (events, day) = hot_now(number);
    ingest(&rs, events).await;
    // The callback is at the sink, which holds it.
    let got = sink.next().await;
    assert_eq!(got.body["data"]["anomalyDate"], json!(day));
    assert_eq!(rs.state.callback_metrics().pending(), 1);

    // Checks (both ports) and ingests keep answering meanwhile.
    let mut c = rs.server.client().await;
    let req = CheckRequest {
        phone_number: number.into(),
        look_back_days: 7,
        threshold_ratio: 0.5,
        hotzone: vec!["NG".into()],
        ..CheckRequest::default()
    };
    for _ in 0..100 {
        let r = c.check(req.clone()).await.unwrap().into_inner();
        assert!(r.anomaly_detected);
        let body = json!({"phoneNumber": number, "lookBackDays": 7, "thresholdRatio": 0.5, "fraudHotZone": ["NG"]});
        let r = post_json(rs.http, "/fraud-hotzone-alert/v0/check", &[], &body).await;
        assert_eq!(
            r.json(),
            json!({"anomalyDetected": true, "anomalyDate": day})
        );
    }
    let (events, _) = hot_now("+886955500022");
    ingest(&rs, events).await;
    // Still hanging: the checks above ran while the callback was outstanding.
    assert_eq!(rs.state.callback_metrics().pending(), 1);
    assert_eq!(rs.state.callback_metrics().delivered(), 0);
    // Once the sink answers again, a retry gets through.
    sink.set_mode(SinkMode::Status(200));
    rs.server.stop().await;
}

/// A sink that never answers holds its share of the delivery slots, not all of them: with
/// four slots (a share of one), four callbacks hanging at one sink leave a healthy sink's
/// callback free to pass (with one shared queue it waited for their 10-minute timeouts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sink_does_not_delay_other_sinks_callbacks() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut dead = SinkServer::start(SinkMode::Hang).await;
    let mut healthy = SinkServer::start(SinkMode::Status(204)).await;
    let mut s = server_settings(data.path());
    s.subscriptions.sink_timeout_ms = 600_000;
    s.subscriptions.sink_concurrency = 4;
    let rs = spawn_rest(s).await;
    let mut events = Vec::new();
    for i in 0..4 {
        let number = format!("+8869555001{i:02}");
        let r = post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&dead.url("/dead"), &number),
        )
        .await;
        created(&r);
        events.extend(hot_now(&number).0);
    }
    ingest(&rs, events).await;
    // The dead sink holds one callback (its share); the other three wait for that share.
    assert_eq!(dead.next().await.path, "/dead");
    wait_for("four callbacks pending", || async {
        (rs.state.callback_metrics().pending() == 4).then_some(())
    })
    .await;
    let number = "+886955500200";
    let r = post_json(
        rs.http,
        SUBS,
        &[],
        &subscription(&healthy.url("/ok"), number),
    )
    .await;
    created(&r);
    let (events, day) = hot_now(number);
    ingest(&rs, events).await;
    let got = healthy.next().await;
    assert_eq!(got.body["data"]["anomalyDate"], json!(day));
    assert_eq!(got.body["data"]["phoneNumber"], json!(number));
    // Still one at the dead sink: the others never took a slot.
    assert!(dead.try_next().is_none());
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_is_retried_then_given_up_and_counted() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(503)).await;
    let mut s = server_settings(data.path());
    s.subscriptions.sink_attempts = 3;
    let rs = spawn_rest(s).await;
    let number = "+886955500031";
    created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&sink.url("/down"), number),
        )
        .await,
    );
    let rounds = rs.state.callback_metrics().rounds();
    let (events, _) = hot_now(number);
    ingest(&rs, events).await;
    for _ in 0..3 {
        assert_eq!(sink.next().await.body["type"], ANOMALY);
    }
    settled(&rs, rounds).await;
    assert!(sink.try_next().is_none(), "more than sink_attempts POSTs");
    let text = rs.state.render_metrics();
    assert!(
        text.contains("hotzone_callback_attempts_total{result=\"error\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("hotzone_callbacks_total{result=\"failed\"} 1"),
        "{text}"
    );
    assert!(text.contains("hotzone_subscriptions 1"), "{text}");
    rs.server.stop().await;
}

/// A sink answering 410 Gone (CAMARA: the callback is no longer available) ends its
/// subscription at once: no retry, no `subscription-ended` to it, GET 404, its file removed.
/// (It was retried `sink_attempts` times and the subscription stayed ACTIVE.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_answering_410_gone_ends_its_subscription() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(410)).await;
    let mut s = server_settings(data.path());
    s.subscriptions.sink_attempts = 3;
    let rs = spawn_rest(s).await;
    let number = "+886955500032";
    let sub = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&sink.url("/gone"), number),
        )
        .await,
    );
    let id = sub["id"].as_str().unwrap().to_owned();
    let file = data
        .path()
        .join(".subscriptions")
        .join(format!("{id}.json"));
    assert!(file.is_file());
    let rounds = rs.state.callback_metrics().rounds();
    let (events, _) = hot_now(number);
    ingest(&rs, events).await;
    assert_eq!(sink.next().await.body["type"], ANOMALY);
    // The subscription has ended before the callback stops counting as pending.
    settled(&rs, rounds).await;
    assert!(
        sink.try_next().is_none(),
        "a retry or an end event after 410"
    );
    let r = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(!file.exists(), "the ended subscription's file is removed");
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let text = rs.state.render_metrics();
    assert!(text.contains("hotzone_subscriptions 0"), "{text}");
    assert!(
        text.contains("hotzone_callback_attempts_total{result=\"error\"} 1"),
        "{text}"
    );
    // New data: still nothing to the gone sink.
    sink.set_mode(SinkMode::Status(204));
    let (events, _) = hot_now(number);
    let rounds = rs.state.callback_metrics().rounds();
    ingest(&rs, events).await;
    settled(&rs, rounds).await;
    assert!(sink.try_next().is_none(), "a POST to the gone sink");
    rs.server.stop().await;
}

/// A server whose sink answers 503, a subscription of `number` to it, and new data that makes
/// the number anomalous: once the first POST (refused) has reached the sink, the anomaly
/// callback waits a minute for its next attempt. The settings, the server, the sink, the
/// subscription's id, the evaluation rounds before the data, and the first POST with the
/// anomaly day.
async fn retry_ahead(
    data: &Path,
    number: &str,
) -> (
    hotzone::config::ServerSettings,
    crate::http::RestServer,
    SinkServer,
    String,
    u64,
    (crate::http::Received, String),
) {
    let mut sink = SinkServer::start(SinkMode::Status(503)).await;
    let mut s = server_settings(data);
    s.subscriptions.sink_attempts = 5;
    s.subscriptions.sink_backoff_ms = 60_000;
    let rs = spawn_rest(s.clone()).await;
    let id = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&sink.url("/retry"), number),
        )
        .await,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rounds = rs.state.callback_metrics().rounds();
    let (events, day) = hot_now(number);
    ingest(&rs, events).await;
    let first = sink.next().await;
    assert_eq!(first.body["type"], ANOMALY);
    (s, rs, sink, id, rounds, (first, day))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_waiting_to_retry_is_dropped_when_its_subscription_is_deleted() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let (_, rs, mut sink, id, rounds, _) = retry_ahead(data.path(), "+886955500035").await;
    // Now the sink would accept anything; the anomaly callback is in its backoff.
    sink.set_mode(SinkMode::Status(204));
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // The end arrives without waiting out the backoff, and nothing after it.
    let got = sink.next().await;
    assert_eq!(got.body["type"], ENDED, "{}", got.body);
    assert_eq!(
        got.body["data"]["terminationReason"],
        "SUBSCRIPTION_DELETED"
    );
    settled(&rs, rounds).await;
    assert!(
        sink.try_next().is_none(),
        "a callback of a deleted subscription"
    );
    let text = rs.state.render_metrics();
    for line in [
        "hotzone_callbacks_total{result=\"cancelled\"} 1",
        "hotzone_callbacks_total{result=\"delivered\"} 1",
        "hotzone_callbacks_total{result=\"failed\"} 0",
        "hotzone_callback_attempts_total{result=\"error\"} 1",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    rs.server.stop().await;
}

/// A graceful stop while an anomaly callback waits to retry a failing sink: the next start
/// sends it (an adversarial pass found it journaled before the POST and so never sent again:
/// the bank never heard, though the number stayed anomalous and the subscription ACTIVE).
/// Once delivered it is not repeated at the start after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_not_yet_delivered_at_a_stop_is_sent_after_the_restart() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let number = "+886955500037";
    let (s, rs, mut sink, id, _, (first, day)) = retry_ahead(data.path(), number).await;
    rs.server.stop().await;

    sink.set_mode(SinkMode::Status(204));
    let rs = spawn_rest(s.clone()).await;
    let again = sink.next().await;
    assert_eq!(again.body["type"], ANOMALY, "{}", again.body);
    assert_eq!(
        again.body["data"],
        json!({"subscriptionId": id, "phoneNumber": number, "anomalyDate": day})
    );
    assert_eq!(
        again.body["id"], first.body["id"],
        "the same event, by its id"
    );
    settled(&rs, 0).await;
    assert_eq!(rs.state.callback_metrics().delivered(), 1);
    rs.server.stop().await;

    // Delivered: the start after sends nothing.
    let rs = spawn_rest(s).await;
    settled(&rs, 0).await;
    assert!(rs.state.callback_metrics().evaluations() >= 1);
    assert!(sink.try_next().is_none(), "repeated once delivered");
    rs.server.stop().await;
}

/// A sink on a raw socket that answers `200 OK` at once and then never finishes its body;
/// sends each request's JSON body to the returned channel.
async fn sink_with_a_slow_2xx_body() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = crate::http::content_length(&text[..end]);
                    if buf.len() >= end + 4 + len {
                        break Some(buf[end + 4..end + 4 + len].to_vec());
                    }
                }
            };
            let Some(body) = body else { continue };
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n")
                .await;
            held.push(sock); // the rest of the body never comes
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_whose_body_is_slow_is_delivered_once() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let (url, mut got) = sink_with_a_slow_2xx_body().await;
    let mut s = server_settings(data.path());
    s.subscriptions.sink_attempts = 3;
    s.subscriptions.sink_timeout_ms = 500;
    let rs = spawn_rest(s).await;
    let number = "+886955500037";
    created(&post_json(rs.http, SUBS, &[], &subscription(&url, number)).await);
    let rounds = rs.state.callback_metrics().rounds();
    let (events, _) = hot_now(number);
    ingest(&rs, events).await;
    settled(&rs, rounds).await;
    let first = got.try_recv().expect("the anomaly callback");
    assert_eq!(first["type"], ANOMALY);
    assert!(got.try_recv().is_err(), "a 2xx was retried");
    let text = rs.state.render_metrics();
    for line in [
        "hotzone_callbacks_total{result=\"delivered\"} 1",
        "hotzone_callbacks_total{result=\"failed\"} 0",
        "hotzone_callback_attempts_total{result=\"ok\"} 1",
        "hotzone_callback_attempts_total{result=\"error\"} 0",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_sinks_and_bad_subscriptions_are_refused() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let rs = spawn_rest(settings(data.path())).await; // allow_insecure_sinks off
    let number = "+886955500041";
    for sink in [
        "http://sink.example.com/cb",
        "https://127.0.0.1:9/cb",
        "https://localhost/cb",
        "https://10.1.2.3/cb",
        "https://192.168.1.1/cb",
        "https://169.254.169.254/latest",
        "https://[::1]/cb",
        "not a url",
        // No host a resolver takes: every callback would have failed (a helper's pass).
        "https://:443/cb",
        "https://[]/cb",
        "https://a..b/cb",
    ] {
        let r = post_json(rs.http, SUBS, &[], &subscription(sink, number)).await;
        assert_eq!(r.status, 400, "{sink}: {}", r.text());
        assert_eq!(r.json()["code"], "INVALID_SINK", "{sink}");
        assert!(
            r.json()["message"].as_str().unwrap().contains("sink"),
            "{}",
            r.text()
        );
    }
    let ok = subscription("https://sink.example.com/cb", number);
    // CAMARA's codes where it has one for the case (CreateSubscriptionBadRequest400, 422).
    let bad: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "protocol",
            {
                let mut v = ok.clone();
                v["protocol"] = json!("MQTT3");
                v
            },
            400,
            "protocol",
            "INVALID_PROTOCOL",
        ),
        (
            "types",
            {
                let mut v = ok.clone();
                v["types"] = json!(["x"]);
                v
            },
            400,
            "types",
            "INVALID_ARGUMENT",
        ),
        (
            "no config",
            {
                let mut v = ok.clone();
                v.as_object_mut().unwrap().remove("config");
                v
            },
            400,
            "config",
            "INVALID_ARGUMENT",
        ),
        (
            "number",
            {
                let mut v = ok.clone();
                v["config"]["subscriptionDetail"]["phoneNumber"] = json!("886955500041");
                v
            },
            400,
            "phoneNumber",
            "INVALID_ARGUMENT",
        ),
        (
            "asOf",
            {
                let mut v = ok.clone();
                v["config"]["subscriptionDetail"]["asOf"] = json!("2026-01-01");
                v
            },
            400,
            "asOf",
            "INVALID_ARGUMENT",
        ),
        (
            "ratio",
            {
                let mut v = ok.clone();
                v["config"]["subscriptionDetail"]["thresholdRatio"] = json!(2);
                v
            },
            400,
            "thresholdRatio",
            "OUT_OF_RANGE",
        ),
        (
            "past expiry",
            {
                let mut v = ok.clone();
                v["config"]["subscriptionExpireTime"] = json!("2020-01-01T00:00:00Z");
                v
            },
            400,
            "subscriptionExpireTime",
            "INVALID_ARGUMENT",
        ),
        (
            "max events",
            {
                let mut v = ok.clone();
                v["config"]["subscriptionMaxEvents"] = json!(0);
                v
            },
            400,
            "subscriptionMaxEvents",
            "OUT_OF_RANGE",
        ),
        (
            "credential",
            {
                let mut v = ok.clone();
                v["sinkCredential"]["credentialType"] = json!("PLAIN");
                v
            },
            400,
            "credentialType",
            "INVALID_CREDENTIAL",
        ),
        (
            "private key jwt",
            {
                let mut v = ok.clone();
                v["sinkCredential"] = json!({"credentialType": "PRIVATE_KEY_JWT"});
                v
            },
            422,
            "credentialType",
            "PRIVATE_KEY_JWT_NOT_CONFIGURED",
        ),
        (
            "token type",
            {
                let mut v = ok.clone();
                v["sinkCredential"]["accessTokenType"] = json!("mac");
                v
            },
            400,
            "accessTokenType",
            "INVALID_TOKEN",
        ),
        (
            "two types",
            {
                let mut v = ok.clone();
                v["types"] = json!([ANOMALY, ENDED]);
                v
            },
            422,
            "types",
            "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED",
        ),
    ];
    for (what, body, status, field, code) in bad {
        let r = post_json(rs.http, SUBS, &[], &body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.json()["code"], code, "{what}: {}", r.text());
        assert_eq!(r.json()["status"], status, "{what}: {}", r.text());
        let msg = r.json()["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(field), "{what}: {msg}");
        assert!(!r.text().contains("955500041"), "{what}: {msg}");
    }
    let r = request(rs.http, "POST", SUBS, &[], Some(b"{".to_vec())).await;
    assert_eq!(r.status, 400);
    // A public https sink is accepted.
    let r = post_json(rs.http, SUBS, &[], &ok).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = request(rs.http, "GET", &format!("{SUBS}/no-such-id"), &[], None).await;
    assert_eq!(r.status, 404);
    rs.server.stop().await;
}

fn client_entry(id: &str, token: &str) -> hotzone::config::ClientEntry {
    use hotzone::service::auth::hash_token;
    hotzone::config::ClientEntry {
        id: id.to_owned(),
        token_sha256: hex::decode(hash_token(token)).unwrap().try_into().unwrap(),
        check: true,
        ingest: true,
    }
}

/// Subscriptions belong to their client; the anomaly a number already has is notified only
/// with `initialEvent`.
/// One client cannot fill the server: past its own cap it gets 429 and the others still
/// subscribe; a long list comes back whole, in order (it is written a chunk at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_has_its_own_share_of_subscriptions_and_lists_them_all() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut s = server_settings(data.path());
    s.clients = vec![client_entry("bank-a", "t-a"), client_entry("bank-b", "t-b")];
    s.subscriptions.max_subscriptions_per_client = 150;
    s.subscriptions.max_subscriptions = 160;
    let rs = spawn_rest(s).await;
    let a = [("authorization", "Bearer t-a")];
    let b = [("authorization", "Bearer t-b")];
    let mut ids = Vec::new();
    for i in 0..150 {
        let number = format!("+8869555{i:05}");
        let r = post_json(
            rs.http,
            SUBS,
            &a,
            &subscription("https://sink.example.com/cb", &number),
        )
        .await;
        ids.push(created(&r)["id"].as_str().unwrap().to_owned());
    }
    let one_more = subscription("https://sink.example.com/cb", "+886955599999");
    let r = post_json(rs.http, SUBS, &a, &one_more).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["code"], "TOO_MANY_REQUESTS");
    assert!(r.text().contains("this client"), "{}", r.text());
    // bank-b still has room, up to the server's cap.
    for i in 0..10 {
        let number = format!("+8869556{i:05}");
        created(
            &post_json(
                rs.http,
                SUBS,
                &b,
                &subscription("https://sink.example.com/cb", &number),
            )
            .await,
        );
    }
    let r = post_json(rs.http, SUBS, &b, &one_more).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("this server"), "{}", r.text());
    // bank-a's list: all 150 (three chunks) and only them, as one JSON array.
    let listed = request(rs.http, "GET", SUBS, &a, None).await;
    assert_eq!(listed.status, 200);
    let got: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let (mut got, mut want) = (got, ids.clone());
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        request(rs.http, "GET", SUBS, &b, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // A deletion gives bank-a its room back.
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{}", ids[0]), &a, None).await;
    assert_eq!(r.status, 204);
    created(&post_json(rs.http, SUBS, &a, &one_more).await);
    rs.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_per_client_and_initial_event_is_opt_in() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(200)).await;
    let mut s = server_settings(data.path());
    s.clients = vec![client_entry("bank-a", "t-a"), client_entry("bank-b", "t-b")];
    let rs = spawn_rest(s).await;
    let a = [("authorization", "Bearer t-a")];
    let b = [("authorization", "Bearer t-b")];
    let number = "+886955500051";
    // Already anomalous before anyone subscribes.
    let (events, day) = hot_now(number);
    let mut c = rs.server.client().await;
    let mut req = tonic::Request::new(tokio_stream::iter(vec![IngestRequest { events }]));
    req.metadata_mut()
        .insert("authorization", "Bearer t-a".parse().unwrap());
    c.ingest(req).await.unwrap();

    let r = post_json(rs.http, SUBS, &[], &subscription(&sink.url("/x"), number)).await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Members sent as null (Jackson's default) are members not given: no initial event,
    // no sink credential, no cap on events, the check's defaults.
    let mut quiet = subscription(&sink.url("/quiet"), number);
    quiet["sinkCredential"] = Value::Null;
    quiet["config"]["initialEvent"] = Value::Null;
    quiet["config"]["subscriptionMaxEvents"] = Value::Null;
    quiet["config"]["subscriptionDetail"]["minEvents"] = Value::Null;
    let quiet = created(&post_json(rs.http, SUBS, &a, &quiet).await);
    let detail = quiet["config"]["subscriptionDetail"].as_object().unwrap();
    assert!(
        !detail.contains_key("minEvents"),
        "a null echoed: {detail:?}"
    );
    let mut initial = subscription(&sink.url("/initial"), number);
    initial["config"]["initialEvent"] = json!(true);
    let initial = created(&post_json(rs.http, SUBS, &a, &initial).await);
    // Only the one that asked for it hears about the existing anomaly.
    let got = sink.next().await;
    assert_eq!(got.path, "/initial");
    assert_eq!(got.body["data"]["subscriptionId"], initial["id"]);
    assert_eq!(got.body["data"]["anomalyDate"], json!(day));

    // bank-b sees none of bank-a's subscriptions and cannot delete them.
    let id = quiet["id"].as_str().unwrap();
    assert_eq!(
        request(rs.http, "GET", SUBS, &b, None).await.json(),
        json!([])
    );
    let r = request(rs.http, "GET", &format!("{SUBS}/{id}"), &b, None).await;
    assert_eq!(r.status, 404);
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &b, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        request(rs.http, "GET", SUBS, &a, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &a, None).await;
    assert_eq!(r.status, 204);
    let got = sink.next().await;
    assert_eq!(got.path, "/quiet");
    assert_eq!(
        got.body["data"]["terminationReason"],
        "SUBSCRIPTION_DELETED"
    );
    assert!(sink.try_next().is_none());
    rs.server.stop().await;

    // bank-a leaves [[clients]]: after a restart its subscription is not loaded (nothing
    // more goes to its sink), and its file is kept: it is back when bank-a returns.
    let mut s = server_settings(data.path());
    s.clients = vec![client_entry("bank-b", "t-b")];
    let rs = spawn_rest(s).await;
    assert!(
        rs.state
            .render_metrics()
            .contains("hotzone_subscriptions 0\n"),
        "{}",
        rs.state.render_metrics()
    );
    settled(&rs, 0).await;
    assert!(
        sink.try_next().is_none(),
        "a removed client's sink was called"
    );
    rs.server.stop().await;
    let mut s = server_settings(data.path());
    s.clients = vec![client_entry("bank-a", "t-a"), client_entry("bank-b", "t-b")];
    let rs = spawn_rest(s).await;
    let listed = request(rs.http, "GET", SUBS, &a, None).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], initial["id"]);
    // The date it was told before it left is not told again (the journal kept it).
    settled(&rs, 0).await;
    assert!(rs.state.callback_metrics().evaluations() >= 1);
    assert!(
        sink.try_next().is_none(),
        "repeated after the client returned"
    );
    rs.server.stop().await;
}

/// An https sink: the callback goes over TLS, verified against `sink_ca_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_sink_gets_its_callback_over_verified_tls() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let pki = crate::rest::pki();
    let server_tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_file(pki.path().join("server.pem")).unwrap()],
        PrivateKeyDer::from_pem_file(pki.path().join("server.key")).unwrap(),
    )
    .unwrap();
    let mut sink =
        SinkServer::start_with(SinkMode::Status(204), Some(std::sync::Arc::new(server_tls))).await;
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut s = server_settings(data.path());
    s.subscriptions.sink_ca_file = Some(pki.path().join("ca.pem"));
    let rs = spawn_rest(s).await;
    let number = "+886955500061";
    let url = format!("https://localhost:{}/secure", sink.addr.port());
    created(&post_json(rs.http, SUBS, &[], &subscription(&url, number)).await);
    let (events, day) = hot_now(number);
    ingest(&rs, events).await;
    let got = sink.next().await;
    assert_eq!(got.path, "/secure");
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer sink-secret"
    );
    assert_eq!(got.body["data"]["anomalyDate"], json!(day));
    let m = rs.state.callback_metrics();
    wait_for("delivered", || async { (m.delivered() == 1).then_some(()) }).await;
    rs.server.stop().await;
}

/// A helper's pass found a subscription whose named hotzone was removed from the server's
/// configuration loaded after a restart, listed as ACTIVE, and never notified (every check
/// of its parameters now refused), with nothing said at the default log level. It is now left
/// unloaded, with a warning, its file kept for a configuration that names the hotzone again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_whose_parameters_the_server_no_longer_takes_is_not_loaded() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let named = || hotzone::named::NamedHotzones::parse("premium = [\"NG\"]").unwrap();
    let mut s = server_settings(data.path());
    s.named_hotzones = named();
    let rs = spawn_rest(s).await;
    let mut body = subscription("http://127.0.0.1:9/cb", "+886955500061");
    let detail = &mut body["config"]["subscriptionDetail"];
    detail.as_object_mut().unwrap().remove("fraudHotZone");
    detail["hotzoneName"] = json!("premium");
    let id = created(&post_json(rs.http, SUBS, &[], &body).await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let control = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription("http://127.0.0.1:9/cb", "+886955500062"),
        )
        .await,
    );
    rs.server.stop().await;
    let file = data
        .path()
        .join(".subscriptions")
        .join(format!("{id}.json"));

    // Without the name: not loaded (the control is), the file kept.
    let rs = spawn_rest(server_settings(data.path())).await;
    let listed = request(rs.http, "GET", SUBS, &[], None).await.json();
    let ids: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert_eq!(ids, [&control["id"]], "{listed}");
    let r = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(file.is_file());
    rs.server.stop().await;

    // With it again: back.
    let mut s = server_settings(data.path());
    s.named_hotzones = named();
    let rs = spawn_rest(s).await;
    let r = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    rs.server.stop().await;
}

/// A helper's pass found a DELETE the disk refused answered 500 with the subscription already
/// gone from memory (404 after it, no `subscription-ended` event) and back, notifying, after a
/// restart. The file goes first now: a refused removal leaves the subscription live, and the
/// DELETE can be repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_the_disk_refuses_leaves_the_subscription_live() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(204)).await;
    let rs = spawn_rest(server_settings(data.path())).await;
    let sub = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &subscription(&sink.url("/cb"), "+886955500071"),
        )
        .await,
    );
    let id = sub["id"].as_str().unwrap();
    let one = format!("{SUBS}/{id}");
    // The store's directory replaced by a file: no file in it can be removed.
    let dir = data.path().join(".subscriptions");
    let aside = data.path().join("subscriptions-aside");
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::write(&dir, "not a directory").unwrap();
    let r = request(rs.http, "DELETE", &one, &[], None).await;
    assert_eq!(r.status, 500, "{}", r.text());
    let r = request(rs.http, "GET", &one, &[], None).await;
    assert_eq!(r.status, 200, "still live: {}", r.text());
    assert!(sink.try_next().is_none(), "ended although not deleted");
    // The directory back: the DELETE goes through, with its event.
    std::fs::remove_file(&dir).unwrap();
    std::fs::rename(&aside, &dir).unwrap();
    let r = request(rs.http, "DELETE", &one, &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let got = sink.next().await;
    assert_eq!(got.body["type"], ENDED);
    assert_eq!(got.body["data"]["subscriptionId"], json!(id));
    assert_eq!(request(rs.http, "GET", &one, &[], None).await.status, 404);
    assert!(!dir.join(format!("{id}.json")).exists());
    rs.server.stop().await;
}

/// CAMARA's `HTTPSettings` (`protocolSettings`): the headers asked for.
fn with_settings(mut sub: Value, settings: Value) -> Value {
    sub["protocolSettings"] = settings;
    sub
}

/// `protocolSettings` (CAMARA's `HTTPSettings`) is taken: its headers reach the sink on every
/// callback, beside (never instead of) the service's own; GET echoes the settings as sent;
/// they survive a restart, headers and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_settings_headers_reach_the_sink_are_echoed_and_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let mut sink = SinkServer::start(SinkMode::Status(204)).await;
    let rs = spawn_rest(server_settings(data.path())).await;
    let number = "+886955500061";
    let settings = json!({
        "headers": {"X-Api-Key": "hdr-secret-61", "X-Tenant": "bank a\tdesk 2", "x-correlator": "cb-61"},
        "method": "POST",
    });
    let sub = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &with_settings(subscription(&sink.url("/cb"), number), settings.clone()),
        )
        .await,
    );
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["protocolSettings"], settings, "{sub}");
    let one = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(one.json()["protocolSettings"], settings);
    assert_eq!(one.json(), sub);
    // The members sent, as sent: `method` alone, and settings sent as `null` (not given).
    let only_method = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &with_settings(
                subscription(&sink.url("/method"), "+886955500062"),
                json!({"method": "POST", "headers": null}),
            ),
        )
        .await,
    );
    assert_eq!(only_method["protocolSettings"], json!({"method": "POST"}));
    let none = created(
        &post_json(
            rs.http,
            SUBS,
            &[],
            &with_settings(
                subscription(&sink.url("/none"), "+886955500063"),
                Value::Null,
            ),
        )
        .await,
    );
    assert!(none.get("protocolSettings").is_none(), "{none}");
    let listed = request(rs.http, "GET", SUBS, &[], None).await.json();
    let mine = (listed.as_array().unwrap().iter())
        .find(|s| s["id"] == json!(id))
        .unwrap();
    assert_eq!(mine["protocolSettings"], settings);

    // A callback carries the headers, and the service's own are still its own.
    let rounds = rs.state.callback_metrics().rounds();
    let (events, _) = hot_now(number);
    ingest(&rs, events).await;
    let got = sink.next().await;
    assert_eq!(got.path, "/cb");
    assert_eq!(got.body["type"], ANOMALY);
    assert_eq!(got.headers.get("x-api-key").unwrap(), "hdr-secret-61");
    assert_eq!(got.headers.get("x-tenant").unwrap(), "bank a\tdesk 2");
    assert_eq!(got.headers.get("x-correlator").unwrap(), "cb-61");
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer sink-secret"
    );
    assert_eq!(
        got.headers.get("content-type").unwrap(),
        "application/cloudevents+json"
    );
    settled(&rs, rounds).await;
    rs.server.stop().await;

    // The settings are in the subscription's file (owner-only) and back after a restart.
    let rs = spawn_rest(server_settings(data.path())).await;
    let one = request(rs.http, "GET", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json()["protocolSettings"], settings);
    // And a callback after the restart still carries them.
    let r = request(rs.http, "DELETE", &format!("{SUBS}/{id}"), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let got = sink.next().await;
    assert_eq!(got.path, "/cb");
    assert_eq!(got.body["type"], ENDED);
    assert_eq!(got.headers.get("x-api-key").unwrap(), "hdr-secret-61");
    assert_eq!(got.headers.get("x-tenant").unwrap(), "bank a\tdesk 2");
    rs.server.stop().await;
}

/// Each rule of `protocolSettings` refuses with 400 INVALID_ARGUMENT naming the field,
/// never the value; a refused subscription is not created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_protocol_settings_name_the_field_never_the_value() {
    let data = tempfile::tempdir().unwrap();
    drop_file(data.path(), "old.csv", OLD_DAY);
    let rs = spawn_rest(server_settings(data.path())).await;
    let ok = subscription("http://127.0.0.1:9/cb", "+886955500071");
    let secret = "hdr-secret-71";
    let header = |name: &str, value: &str| json!({"headers": {name: value}});
    let mut bad: Vec<(&str, Value, String)> = Vec::new();
    // Headers the service sets itself, hop-by-hop and framing ones, security-relevant ones.
    for name in [
        "Host",
        "Content-Length",
        "Content-Type",
        "content-encoding",
        "Transfer-Encoding",
        "Connection",
        "Authorization",
        "Upgrade",
        "TE",
        "Trailer",
        "Keep-Alive",
        "Proxy-Authorization",
        "Proxy-Connection",
        "ce-id",
        "Ce-Specversion",
        "User-Agent",
        "Expect",
    ] {
        bad.push((
            "reserved",
            header(name, secret),
            format!("protocolSettings.headers.{name}"),
        ));
    }
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "CR LF in a value",
            header("X-Key", &format!("{secret}\r\nX-Injected: 1")),
            "protocolSettings.headers.X-Key",
        ),
        (
            "LF in a value",
            header("X-Key", &format!("{secret}\nx")),
            "protocolSettings.headers.X-Key",
        ),
        (
            "a control character",
            header("X-Key", &format!("{secret}\u{7f}")),
            "protocolSettings.headers.X-Key",
        ),
        (
            "not ASCII",
            header("X-Key", &format!("{secret}\u{e9}")),
            "protocolSettings.headers.X-Key",
        ),
        (
            "a space around",
            header("X-Key", &format!(" {secret}")),
            "protocolSettings.headers.X-Key",
        ),
        (
            "a value too long",
            header("X-Key", &format!("{secret}{}", "v".repeat(512))),
            "protocolSettings.headers.X-Key",
        ),
        (
            "a name that is no token",
            header("X Key", secret),
            "protocolSettings.headers.<header>",
        ),
        (
            "a name that may hold a number",
            header("X-886955500071", &format!("{secret}\n")),
            "protocolSettings.headers.<header>",
        ),
        (
            "a name too long",
            header(&"X".repeat(65), secret),
            "protocolSettings.headers.<header>",
        ),
        (
            "a name repeated in another case",
            json!({"headers": {"X-Key": secret, "x-key": secret}}),
            "protocolSettings.headers.",
        ),
        (
            "too many",
            json!({"headers": (0..17).map(|i| (format!("X-H{i}"), json!(secret))).collect::<serde_json::Map<_, _>>()}),
            "protocolSettings.headers",
        ),
        (
            "too many bytes",
            json!({"headers": (0..10).map(|i| (format!("X-H{i}"), json!(format!("{secret}{}", "v".repeat(480))))).collect::<serde_json::Map<_, _>>()}),
            "protocolSettings.headers",
        ),
        (
            "a value that is no string",
            json!({"headers": {"X-Key": 886955500071_u64}}),
            "protocolSettings.headers.X-Key",
        ),
        (
            "headers not an object",
            json!({"headers": [secret]}),
            "protocolSettings.headers",
        ),
        (
            "method GET",
            json!({"method": "GET"}),
            "protocolSettings.method",
        ),
        (
            "method in lower case",
            json!({"method": "post"}),
            "protocolSettings.method",
        ),
        (
            "an unknown member",
            json!({"method": "POST", "timeout": 5}),
            "protocolSettings.timeout",
        ),
        ("not an object", json!("POST"), "protocolSettings"),
    ];
    for (what, settings, field) in cases {
        bad.push((what, settings, field.to_owned()));
    }
    for (what, settings, field) in bad {
        let r = post_json(rs.http, SUBS, &[], &with_settings(ok.clone(), settings)).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        let body = r.json();
        assert_eq!(body["code"], "INVALID_ARGUMENT", "{what}: {body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(&field), "{what}: {field} not in {msg}");
        assert!(
            !r.text().contains(secret),
            "{what}: the value echoed: {msg}"
        );
        assert!(!r.text().contains("955500071"), "{what}: a number: {msg}");
    }
    // A protocol other than HTTP is refused for its protocol, settings or not.
    let mut mqtt = with_settings(ok.clone(), json!({"method": "POST"}));
    mqtt["protocol"] = json!("MQTT5");
    let r = post_json(rs.http, SUBS, &[], &mqtt).await;
    assert_eq!(r.json()["code"], "INVALID_PROTOCOL", "{}", r.text());
    assert_eq!(
        request(rs.http, "GET", SUBS, &[], None).await.json(),
        json!([]),
        "a refused subscription was created"
    );
    // The same request with an accepted header is taken.
    let r = post_json(
        rs.http,
        SUBS,
        &[],
        &with_settings(ok, header("X-Key", secret)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    rs.server.stop().await;
}
