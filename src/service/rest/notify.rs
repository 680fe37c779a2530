//! The notifier: re-evaluates subscriptions when new data is published and sends CloudEvents
//! to their sinks; ends subscriptions when they expire.
//!
//! # When a subscription is evaluated
//! Every publish of a snapshot (an acknowledged `Ingest`, a reload) bumps a counter in the
//! [`AppState`]; the evaluator wakes on it and compares the new snapshot's segments with the
//! ones it saw last (by pointer). If only ingested segments were added, the subscriptions
//! evaluated are those of the subscribers present in the new segments
//! ([`super::subscriptions::Store::touched`]): cost grows with the ingest, not with the
//! number of subscriptions. If the base segment changed (the first load, a reload of the data
//! directory, the rebuild that folds ingested segments in), every subscription is evaluated:
//! a rebuild does not tell which subscribers its files changed. Publishes that arrive during
//! an evaluation are coalesced into the next one.
//!
//! An evaluation is the check of the subscription's parameters as of today in the engine's
//! zone, on the blocking pool (never on the threads answering checks). An anomaly date that
//! was not notified before is journaled (fsync) and then sent
//! ([`super::subscriptions::Store::record`]).
//!
//! # Delivery
//! One task per callback; at most `sink_concurrency` POSTs at once (the rest wait on a
//! semaphore, holding only their event), and at most a quarter of them (at least one) to one
//! sink host and port: a callback waits for its sink's share before it takes a slot, so a
//! sink that never answers holds a quarter of the slots, and the other sinks' callbacks
//! pass it (one shared queue let 3,000 callbacks to a dead sink delay a healthy sink's
//! alert by almost four minutes). Up to three dead origins leave slots to the others; four
//! take them all. One sink alone gets a quarter of `sink_concurrency` at once. Each attempt is bounded by `sink_timeout_ms`; a
//! non-2xx reply or an error is retried up to `sink_attempts` times with a doubling backoff
//! from `sink_backoff_ms` (capped at a minute). A slow or dead sink only keeps its own tasks
//! waiting: checks never wait for a callback. Attempts, deliveries, failures and pending
//! callbacks are counted in the metrics ([`CallbackMetrics`]).
//!
//! A sink that answers 410 Gone (CAMARA: the callback is no longer available) is not
//! retried: the subscription ends there, as an expired one (out of the store, its file
//! removed, later GETs 404), its callbacks still queued are dropped, and no
//! `subscription-ended` event is sent to the gone sink. 401 and 403 are retried and given up
//! like any other refusal: CAMARA gives them no rule of their own (its note on a sink's
//! expired-token reply is not told apart from a sink rejecting a token for a while), and the
//! subscription already ends before its token expires.
//!
//! # After a subscription ends
//! One task at a time sends a subscription's callbacks (its `turn`), so they reach the sink
//! in the order they were made. When a subscription is deleted or expires, its anomaly
//! callbacks not yet on the wire are dropped, and counted as `cancelled`: one waiting for
//! a slot or for its next attempt stops at once (the backoff is cut short), and the
//! `subscription-ended` event goes out after it. A POST already sent when the subscription
//! ended is not recalled; it reaches the sink before `subscription-ended`. An anomaly event
//! that ends a subscription by `subscriptionMaxEvents` is sent, then the end.
//!
//! # Events (CloudEvents 1.0, structured JSON, `application/cloudevents+json`)
//! `org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected` with `data`
//! `{subscriptionId, phoneNumber, anomalyDate}`, and `...subscription-ended` with `data`
//! `{subscriptionId, terminationReason, terminationDescription}`. The event `id` is derived
//! from the subscription, the type and the date, so a sink can deduplicate.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use super::SUBSCRIPTIONS_PATH;
use super::subscriptions::{Due, Store, Subscription};
use crate::index::{ServingIndex, Snapshot};
use crate::service::AppState;

/// `type` of an anomaly event (also the one value of a subscription's `types`).
pub const EVENT_ANOMALY: &str =
    "org.camaraproject.fraud-hotzone-alert-subscriptions.v0.anomaly-detected";
/// `type` of the event that ends a subscription.
pub const EVENT_ENDED: &str =
    "org.camaraproject.fraud-hotzone-alert-subscriptions.v0.subscription-ended";

/// Where https sinks' CAs are read from without `sink_ca_file`.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(crate::config::MAX_SINK_BACKOFF_MS);

/// Why a subscription ended (CAMARA's `terminationReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// `subscriptionExpireTime` passed.
    Expired,
    /// `subscriptionMaxEvents` events were sent.
    MaxEvents,
    /// Deleted by its client.
    Deleted,
    /// The sink's access token is about to expire (sent before it does:
    /// [`super::subscriptions::TOKEN_END_MARGIN_MS`]).
    AccessTokenExpired,
}

impl EndReason {
    /// The CAMARA value.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "SUBSCRIPTION_EXPIRED",
            EndReason::MaxEvents => "MAX_EVENTS_REACHED",
            EndReason::Deleted => "SUBSCRIPTION_DELETED",
            EndReason::AccessTokenExpired => "ACCESS_TOKEN_EXPIRED",
        }
    }

    fn description(self) -> &'static str {
        match self {
            EndReason::Expired => "the subscription reached its expiry time",
            EndReason::MaxEvents => "the subscription sent its maximum number of events",
            EndReason::Deleted => "the subscription was deleted by its client",
            EndReason::AccessTokenExpired => "the sink's access token is about to expire",
        }
    }
}

/// Counters of subscriptions and callbacks, rendered after the server's other metrics.
///
/// | name | type | labels |
/// |---|---|---|
/// | `hotzone_subscriptions` | gauge | live subscriptions |
/// | `hotzone_subscription_evaluations_total` | counter | subscriptions evaluated |
/// | `hotzone_subscription_evaluation_seconds_total` | counter | time spent evaluating |
/// | `hotzone_callback_attempts_total` | counter | `result` (`ok`, `error`) |
/// | `hotzone_callbacks_total` | counter | `result` (`delivered`, `failed`: given up, or the sink answered 410 Gone, `cancelled`: its subscription ended first) |
/// | `hotzone_callbacks_pending` | gauge | callbacks not yet delivered or given up |
#[derive(Default)]
pub struct CallbackMetrics {
    live: AtomicU64,
    evaluations: AtomicU64,
    evaluation_ns: AtomicU64,
    attempts_ok: AtomicU64,
    attempts_error: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    pending: AtomicU64,
    rounds: AtomicU64,
}

impl CallbackMetrics {
    /// Sets the live subscription gauge.
    pub fn set_live(&self, n: usize) {
        self.live.store(n as u64, Ordering::Relaxed);
    }

    /// Callbacks delivered so far (a 2xx reply).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Callbacks not yet delivered or given up.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Evaluation rounds finished; a round's callbacks are counted in [`Self::pending`]
    /// before the round counts as finished.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Acquire)
    }

    /// Subscriptions evaluated so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Appends the Prometheus text.
    pub fn render(&self, o: &mut String) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = write!(
            o,
            "# HELP hotzone_subscriptions Live anomaly subscriptions.\n# TYPE hotzone_subscriptions gauge\nhotzone_subscriptions {}\n\
             # HELP hotzone_subscription_evaluations_total Subscriptions re-evaluated after new data.\n# TYPE hotzone_subscription_evaluations_total counter\nhotzone_subscription_evaluations_total {}\n\
             # HELP hotzone_subscription_evaluation_seconds_total Time spent re-evaluating subscriptions.\n# TYPE hotzone_subscription_evaluation_seconds_total counter\nhotzone_subscription_evaluation_seconds_total {}\n\
             # HELP hotzone_callback_attempts_total Callback POSTs by outcome.\n# TYPE hotzone_callback_attempts_total counter\nhotzone_callback_attempts_total{{result=\"ok\"}} {}\nhotzone_callback_attempts_total{{result=\"error\"}} {}\n\
             # HELP hotzone_callbacks_total Callbacks delivered, given up after every attempt (or refused with 410 Gone), or dropped because their subscription ended first.\n# TYPE hotzone_callbacks_total counter\nhotzone_callbacks_total{{result=\"delivered\"}} {}\nhotzone_callbacks_total{{result=\"failed\"}} {}\nhotzone_callbacks_total{{result=\"cancelled\"}} {}\n\
             # HELP hotzone_callbacks_pending Callbacks queued or being sent.\n# TYPE hotzone_callbacks_pending gauge\nhotzone_callbacks_pending {}\n",
            g(&self.live),
            g(&self.evaluations),
            g(&self.evaluation_ns) as f64 / 1e9,
            g(&self.attempts_ok),
            g(&self.attempts_error),
            g(&self.delivered),
            g(&self.failed),
            g(&self.cancelled),
            g(&self.pending),
        );
    }
}

/// What the delivery tasks share.
struct Shared {
    state: AppState,
    store: Arc<Store>,
    tls: Arc<rustls::ClientConfig>,
    slots: Arc<Semaphore>,
    /// Each sink origin's share of `slots` (a quarter, at least one).
    shares: std::sync::Mutex<std::collections::HashMap<(String, u16), Arc<Semaphore>>>,
    per_sink: usize,
    /// Wakes the expiry task when a subscription with an end time is created.
    wake_expiry: Notify,
}

/// The handle the REST handlers use.
#[derive(Clone)]
pub struct Notifier {
    shared: Arc<Shared>,
}

impl Notifier {
    /// The TLS client configuration of https sinks: `sink_ca_file`'s CAs (an error naming
    /// it when it holds none), else the system bundle's (possibly none). Made before the
    /// subscription store is opened, so a refused start changes nothing on disk.
    pub fn sink_tls(state: &AppState) -> Result<Arc<rustls::ClientConfig>, String> {
        match &state.settings().subscriptions.sink_ca_file {
            Some(ca) => super::sink::tls_client(ca, true),
            None => super::sink::tls_client(SYSTEM_CA_FILE.as_ref(), false),
        }
    }

    /// Starts the evaluator and the expiry task.
    pub fn start(
        state: AppState,
        store: Arc<Store>,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<(Notifier, Vec<JoinHandle<()>>), String> {
        let cfg = &state.settings().subscriptions;
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(cfg.sink_concurrency.max(1))),
            shares: Default::default(),
            per_sink: sink_share(cfg.sink_concurrency),
            state,
            store,
            tls,
            wake_expiry: Notify::new(),
        });
        let tasks = vec![
            tokio::spawn(evaluate_loop(shared.clone())),
            tokio::spawn(expiry_loop(shared.clone())),
        ];
        Ok((Notifier { shared }, tasks))
    }

    /// The subscription's anomaly date now, if the data is loaded and it has one.
    pub fn current_anomaly(&self, sub: &Subscription) -> Option<NaiveDate> {
        let snap = self.shared.state.snapshot().ok()?;
        anomaly_of(&self.shared.state, &snap, sub)
    }

    /// A subscription was created: wake the expiry task; evaluate it now when it asked for
    /// an initial event.
    pub fn created(&self, sub: &Arc<Subscription>) {
        self.shared.wake_expiry.notify_one();
        if sub.record.initial_event {
            let shared = self.shared.clone();
            let sub = sub.clone();
            tokio::spawn(async move {
                if let Ok(snap) = shared.state.snapshot() {
                    evaluate(&shared, snap, Some(vec![sub])).await;
                }
            });
        }
    }

    /// A subscription ended: send its `subscription-ended` event.
    pub fn ended(&self, sub: Arc<Subscription>, reason: EndReason) {
        let event = ended_event(&self.shared.state, &sub, reason);
        send(&self.shared, sub, vec![Callback::end(event)]);
    }
}

/// The anomaly date of a subscription's check as of today, if any.
fn anomaly_of(state: &AppState, snap: &Snapshot, sub: &Subscription) -> Option<NaiveDate> {
    let params = crate::service::check::params(state, &sub.request).ok()?;
    // A window reaching before the days kept is refused to a check: no answer from it here.
    crate::service::check::within_retention(state, snap, &params).ok()?;
    // With `suppress_anomaly_date` the date still identifies the event; it is not sent.
    let v = snap.check(sub.number, &params).ok()?;
    v.anomaly_date.filter(|_| v.anomaly_detected)
}

async fn evaluate_loop(shared: Arc<Shared>) {
    let mut rx = shared.state.watch_published();
    let mut seen: Vec<Arc<ServingIndex>> = Vec::new();
    // A round whose journal could not be written was undone (nothing sent): tried again
    // after this long, new data or not (a disk that was full frees).
    const RETRY_UNDONE: std::time::Duration = std::time::Duration::from_secs(30);
    let mut undone = false;
    loop {
        rx.borrow_and_update();
        if let Ok(snap) = shared.state.snapshot() {
            let segs = snap.segments();
            let fresh: Vec<Arc<ServingIndex>> = segs
                .iter()
                .filter(|s| !seen.iter().any(|o| Arc::ptr_eq(o, s)))
                .cloned()
                .collect();
            if !fresh.is_empty() {
                let base_same =
                    matches!((seen.first(), segs.first()), (Some(a), Some(b)) if Arc::ptr_eq(a, b));
                seen = segs.to_vec();
                let which = if base_same {
                    let store = shared.store.clone();
                    Some(
                        tokio::task::spawn_blocking(move || store.touched(&fresh))
                            .await
                            .unwrap_or_default(),
                    )
                } else {
                    None
                };
                let full = which.is_none();
                let ok = evaluate(&shared, snap, which).await;
                undone = still_undone(undone, full, ok);
            }
        }
        // Also at the start of each day in the server's zone: a verdict as of today changes
        // with the date alone (the window's oldest day leaves it, a SPIKE mean with it;
        // events dated ahead enter it), with no new data to wake the loop.
        let settings = shared.state.settings();
        let next_day = settings.clock.until_next_day(settings.tz);
        let again = if undone { RETRY_UNDONE } else { next_day };
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(again.min(next_day)) => {
                if let Ok(snap) = shared.state.snapshot() {
                    let ok = evaluate(&shared, snap, None).await;
                    undone = still_undone(undone, true, ok);
                }
            }
        }
    }
}

/// Whether a round of every subscription is still owed (retried after 30 s) once a round
/// has ended: a full round (`full`) settles it either way (`!ok`); a partial one (the
/// subscriptions new data touched) cannot pay a failed full round's debt, whose other
/// subscriptions it did not evaluate, so it only adds one when it fails itself.
fn still_undone(undone: bool, full: bool, ok: bool) -> bool {
    if full { !ok } else { undone || !ok }
}

/// Evaluates `which` (all when `None`), journals the new dates, sends their events. False
/// when the round was undone because the journal could not be written (nothing sent).
async fn evaluate(
    shared: &Arc<Shared>,
    snap: Arc<Snapshot>,
    which: Option<Vec<Arc<Subscription>>>,
) -> bool {
    let (state, store) = (shared.state.clone(), shared.store.clone());
    let result = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let subs = which.unwrap_or_else(|| store.all());
        let n = subs.len();
        let found: Vec<(Arc<Subscription>, NaiveDate)> = subs
            .into_iter()
            .filter_map(|s| anomaly_of(&state, &snap, &s).map(|d| (s, d)))
            .collect();
        let due = store.record(found);
        let m = state.callback_metrics();
        m.evaluations.fetch_add(n as u64, Ordering::Relaxed);
        m.evaluation_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        (n, started.elapsed(), due)
    })
    .await;
    let (n, took, due) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "subscription evaluation failed");
            return true;
        }
    };
    let due = match due {
        Ok(d) => d,
        Err(e) => {
            // Nothing journaled, nothing sent: tried again in a while, or at the next
            // publish.
            tracing::error!(error = %e, "could not journal notifications; none sent, tried again in 30 s");
            return false;
        }
    };
    tracing::debug!(
        evaluated = n,
        notify = due.len(),
        took_us = took.as_micros() as u64,
        "subscriptions evaluated"
    );
    if due.iter().any(|d| d.last) {
        shared.state.callback_metrics().set_live(shared.store.len());
    }
    for Due { sub, date, last } in due {
        let mut events = vec![Callback::anomaly(
            anomaly_event(&shared.state, &sub, date),
            date,
        )];
        if last {
            events.push(Callback::end(ended_event(
                &shared.state,
                &sub,
                EndReason::MaxEvents,
            )));
        }
        send(shared, sub, events);
    }
    shared
        .state
        .callback_metrics()
        .rounds
        .fetch_add(1, Ordering::Release);
    true
}

/// One event to send.
struct Callback {
    body: Bytes,
    /// An anomaly event: dropped if its subscription ends before it is on the wire. The
    /// `subscription-ended` event is always sent.
    anomaly: bool,
    /// An anomaly event's date, settled in the store once delivered, given up or cancelled
    /// ([`Store::settled`]; until then a stop journals it as unsent).
    date: Option<NaiveDate>,
}

impl Callback {
    fn anomaly(body: Bytes, date: NaiveDate) -> Callback {
        Callback {
            body,
            anomaly: true,
            date: Some(date),
        }
    }

    fn end(body: Bytes) -> Callback {
        Callback {
            body,
            anomaly: false,
            date: None,
        }
    }
}

/// Sends `events` to the subscription's sink in order, in a task of its own that waits for
/// the subscription's turn; they count as pending from now.
fn send(shared: &Arc<Shared>, sub: Arc<Subscription>, events: Vec<Callback>) {
    shared
        .state
        .callback_metrics()
        .pending
        .fetch_add(events.len() as u64, Ordering::Release);
    let shared = shared.clone();
    tokio::spawn(async move {
        let _turn = sub.turn.lock().await;
        for e in events {
            deliver(&shared, &sub, e).await;
        }
    });
}

/// Ends subscriptions at their expiry (or their token's).
async fn expiry_loop(shared: Arc<Shared>) {
    loop {
        let now = shared.state.settings().clock.now_ms();
        match shared.store.next_end() {
            Some(t) if t <= now => {
                let store = shared.store.clone();
                let ended = tokio::task::spawn_blocking(move || {
                    (store.due_ends(now).iter())
                        .filter_map(|id| store.expire(id))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
                if ended.is_empty() {
                    // Ended by a delete meanwhile (or the blocking task failed): do not spin.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                shared.state.callback_metrics().set_live(shared.store.len());
                for sub in ended {
                    let reason = sub.ends.map_or(EndReason::Expired, |(_, r)| r);
                    tracing::info!(subscription = %sub.record.id, reason = reason.as_str(), "subscription ended");
                    let event = ended_event(&shared.state, &sub, reason);
                    send(&shared, sub, vec![Callback::end(event)]);
                }
            }
            next => {
                let wait = next.map_or(Duration::from_secs(3600), |t| {
                    Duration::from_millis((t - now).clamp(1, 60_000) as u64)
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shared.wake_expiry.notified() => {}
                }
            }
        }
    }
}

/// A deterministic event id (UUID layout) for (subscription, type, key).
fn event_id(sub: &str, kind: &str, key: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("{sub}\n{kind}\n{key}").as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn cloud_event(
    state: &AppState,
    sub: &Subscription,
    kind: &str,
    key: &str,
    data: serde_json::Value,
) -> Bytes {
    let id = &sub.record.id;
    let ev = json!({
        "specversion": "1.0",
        "id": event_id(id, kind, key),
        "source": format!("{SUBSCRIPTIONS_PATH}/{id}"),
        "type": kind,
        "time": state.settings().clock.now_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    });
    Bytes::from(serde_json::to_vec(&ev).unwrap_or_default())
}

fn anomaly_event(state: &AppState, sub: &Subscription, date: NaiveDate) -> Bytes {
    let mut data = json!({
        "subscriptionId": sub.record.id,
        "phoneNumber": sub.request.phone_number,
    });
    if !state.settings().policy.suppress_anomaly_date {
        data["anomalyDate"] = json!(date.format("%Y-%m-%d").to_string());
    }
    cloud_event(state, sub, EVENT_ANOMALY, &date.to_string(), data)
}

fn ended_event(state: &AppState, sub: &Subscription, reason: EndReason) -> Bytes {
    cloud_event(
        state,
        sub,
        EVENT_ENDED,
        reason.as_str(),
        json!({
            "subscriptionId": sub.record.id,
            "terminationReason": reason.as_str(),
            "terminationDescription": reason.description(),
        }),
    )
}

/// The delivery slots one sink origin may hold: a quarter of `sink_concurrency`, at least one.
pub fn sink_share(sink_concurrency: usize) -> usize {
    (sink_concurrency / 4).max(1)
}

impl Shared {
    /// The share of `sink`'s origin (made on first use; shares no task holds are dropped
    /// once there are more than 1,024 origins).
    fn share_of(&self, sink: &super::sink::Sink) -> Arc<Semaphore> {
        let (host, port) = sink.origin();
        // One origin however its host is written (case, a final dot).
        let key = (host.trim_end_matches('.').to_ascii_lowercase(), port);
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = shares.get(&key) {
            return s.clone();
        }
        if shares.len() >= 1024 {
            shares.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let s = Arc::new(Semaphore::new(self.per_sink));
        shares.insert(key, s.clone());
        s
    }
}

/// How a callback's delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    Cancelled,
    /// The sink answered 410 Gone: its subscription ends.
    Gone,
}

/// Sends one event with retries; counts attempts and the outcome (and one fewer pending).
async fn deliver(shared: &Shared, sub: &Subscription, cb: Callback) {
    let m = shared.state.callback_metrics();
    let date = cb.date;
    let outcome = attempts(shared, sub, cb).await;
    if let Some(date) = date {
        shared.store.settled(&sub.record.id, date);
    }
    match outcome {
        Outcome::Delivered => m.delivered.fetch_add(1, Ordering::Relaxed),
        Outcome::Gone => {
            // CAMARA's 410: the callback is no longer available. The subscription ends as an
            // expired one does (out of the store, its file removed), before this callback
            // stops counting as pending; no `subscription-ended` goes to a sink that is gone.
            sub.gone.store(true, Ordering::Release);
            let (store, id) = (shared.store.clone(), sub.record.id.clone());
            let ended = tokio::task::spawn_blocking(move || store.expire(&id).is_some())
                .await
                .unwrap_or(false);
            if ended {
                shared.state.callback_metrics().set_live(shared.store.len());
            }
            tracing::warn!(subscription = %sub.record.id, "the sink answered 410 Gone: the subscription ends, without a subscription-ended event");
            m.failed.fetch_add(1, Ordering::Relaxed)
        }
        Outcome::Failed => {
            tracing::error!(subscription = %sub.record.id, "callback given up after every attempt");
            m.failed.fetch_add(1, Ordering::Relaxed)
        }
        Outcome::Cancelled => {
            tracing::info!(subscription = %sub.record.id, "callback dropped: its subscription ended first");
            m.cancelled.fetch_add(1, Ordering::Relaxed)
        }
    };
    m.pending.fetch_sub(1, Ordering::Release);
}

/// Resolves when an anomaly callback's subscription has ended; never for the end event.
async fn cancelled(ended: &mut tokio::sync::watch::Receiver<bool>, anomaly: bool) {
    if !anomaly || ended.wait_for(|e| *e).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The attempts of one callback; an anomaly callback stops before its next attempt (or in
/// its backoff, or while it waits for a slot) once its subscription has ended.
async fn attempts(shared: &Shared, sub: &Subscription, cb: Callback) -> Outcome {
    let cfg = &shared.state.settings().subscriptions;
    let m = shared.state.callback_metrics();
    let timeout = Duration::from_millis(cfg.sink_timeout_ms);
    let mut backoff = Duration::from_millis(cfg.sink_backoff_ms).min(MAX_BACKOFF);
    let token = sub.record.access_token.as_deref();
    let share = shared.share_of(&sub.sink);
    let mut ended = sub.ended.subscribe();
    for attempt in 1..=cfg.sink_attempts {
        let outcome = {
            // The sink's share first: waiting for it holds none of the slots other sinks need.
            let permits = async {
                let share = share.acquire().await.ok()?;
                let slot = shared.slots.acquire().await.ok()?;
                Some((share, slot))
            };
            let _permits = tokio::select! {
                biased;
                () = cancelled(&mut ended, cb.anomaly) => return Outcome::Cancelled,
                p = permits => match p {
                    Some(p) => p,
                    None => return Outcome::Failed,
                },
            };
            if (cb.anomaly && *sub.ended.borrow()) || sub.gone.load(Ordering::Acquire) {
                return Outcome::Cancelled;
            }
            super::sink::post(
                &sub.sink,
                token,
                &sub.headers,
                cb.body.clone(),
                timeout,
                cfg.allow_insecure_sinks,
                &shared.tls,
            )
            .await
        };
        match outcome {
            Ok(s) if (200..300).contains(&s) => {
                m.attempts_ok.fetch_add(1, Ordering::Relaxed);
                return Outcome::Delivered;
            }
            // Not retried. 401 and 403 are (a sink's token can be rejected for a while, and
            // CAMARA gives them no rule of their own): retried, then given up.
            Ok(410) => {
                m.attempts_error.fetch_add(1, Ordering::Relaxed);
                return Outcome::Gone;
            }
            other => {
                m.attempts_error.fetch_add(1, Ordering::Relaxed);
                let why = match other {
                    Ok(s) => format!("HTTP {s}"),
                    Err(e) => e,
                };
                tracing::warn!(subscription = %sub.record.id, attempt, error = %why, "callback attempt failed");
            }
        }
        if attempt < cfg.sink_attempts {
            tokio::select! {
                biased;
                () = cancelled(&mut ended, cb.anomaly) => return Outcome::Cancelled,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Outcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let a = event_id("s", EVENT_ANOMALY, "2026-10-30");
        assert_eq!(a, event_id("s", EVENT_ANOMALY, "2026-10-30"));
        assert_ne!(a, event_id("s", EVENT_ANOMALY, "2026-10-31"));
        assert_ne!(a, event_id("t", EVENT_ANOMALY, "2026-10-30"));
        assert_eq!(a.len(), 36);
    }

    /// A failed full round is retried until a full round succeeds: a partial round that
    /// succeeds in between does not clear it (it had left the other subscriptions' dates
    /// unsent until the next day).
    #[test]
    fn only_a_full_round_that_succeeds_clears_an_undone_round() {
        // (owed before, full round, round ok) -> owed after
        for (undone, full, ok, after) in [
            (false, true, false, true),
            (true, false, true, true),
            (true, false, false, true),
            (false, false, false, true),
            (false, false, true, false),
            (true, true, true, false),
            (true, true, false, true),
        ] {
            assert_eq!(
                still_undone(undone, full, ok),
                after,
                "{undone} {full} {ok}"
            );
        }
    }

    #[test]
    fn metrics_render() {
        let m = CallbackMetrics::default();
        m.set_live(3);
        m.delivered.fetch_add(2, Ordering::Relaxed);
        let mut o = String::new();
        m.render(&mut o);
        assert!(o.contains("hotzone_subscriptions 3"), "{o}");
        assert!(
            o.contains("hotzone_callbacks_total{result=\"delivered\"} 2"),
            "{o}"
        );
    }
}
