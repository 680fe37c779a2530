//! Anomaly subscriptions, modelled on CAMARA's sim-swap-subscriptions: the REST handlers of
//! `/fraud-hotzone-alert-subscriptions/v0/subscriptions[/{id}]` and the durable [`Store`].
//!
//! # What a subscription is
//! A number and the parameters of a check (all but `asOf`: the notifier always checks "as of
//! today" in the engine's zone), a sink URL, an optional bearer token for it, optional
//! headers for its callbacks (`protocolSettings`, CAMARA's `HTTPSettings`: [`HttpSettings`]),
//! and when it ends (`subscriptionExpireTime`, `subscriptionMaxEvents`, the token's expiry). It belongs
//! to the client that created it: other clients neither see nor delete it (404). Creating,
//! listing and deleting need the `check` scope and pass the concurrency gate and the client's
//! rate limit; creating also takes one token of the (client, number) limit, like a check.
//! The parameters go through the same validation as a check (`rest::check::request_of`,
//! then [`crate::service::check::params`]).
//!
//! Unless `config.initialEvent` is true, the anomaly date the number has when the
//! subscription is created is its baseline: only dates that appear afterwards are notified.
//!
//! # On disk (`subscriptions.dir`)
//! - `<id>.json`: one file per live subscription, written to a temp file, fsynced, renamed,
//!   and the directory fsynced, all before the 201 leaves. Deleting (or ending) removes it.
//! - `notified.jsonl`: one line `{"id", "date"}` per anomaly date notified, appended and
//!   fsynced *before* the callback is sent. So a date is sent at most once per subscription,
//!   across restarts (a crash between the fsync and the POST loses that callback rather than
//!   repeating it). At a graceful stop, the dates whose anomaly callback was not yet
//!   delivered, given up or cancelled (waiting for a slot, or for its next attempt to a
//!   failing sink) get a line `{"id", "date", "unsent": true}` ([`Store::close`]): the next
//!   start finds them new again and sends them, with the same event `id` (a POST on the wire
//!   at the stop may so arrive twice; the sink can deduplicate by `id`). The last callback of
//!   a subscription ended by `subscriptionMaxEvents` is not among them: its file is gone.
//!   The journal is compacted (live subscriptions only) when the store opens.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::check::{check_fields, integer, member, request_of, string};
use super::notify::{EVENT_ANOMALY, EndReason};
use super::sink::Sink;
use super::{App, Body, RequestBody, SUBSCRIPTIONS_PATH, error_response, json_response, read_body};
use crate::error::{Error, Result};
use crate::index::ServingIndex;
use crate::model::Msisdn;
use crate::model::check::{parse_date, parse_phone_number};
use crate::service::AppState;
use crate::service::audit::AuditLine;
use crate::service::auth::{Caller, Scope};
use crate::service::pb;
use crate::service::status::{SubscriptionRefusal, correlator, correlator_text, status, to_status};

/// The journal of notified dates.
const JOURNAL: &str = "notified.jsonl";

/// The fields of `subscriptionDetail`: a check's, without `asOf` (the last of them).
const DETAIL_FIELDS: &[&str] = super::check::FIELDS.split_last().expect("not empty").1;

/// A subscription as stored in `<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Server-assigned id.
    pub id: String,
    /// The client that created it.
    pub client: String,
    /// Callback URL.
    pub sink: String,
    /// Bearer token sent to the sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// When the token expires (RFC 3339); the subscription ends a little before
    /// (`token_end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expires: Option<String>,
    /// `subscriptionDetail` as accepted.
    pub detail: Map<String, Value>,
    /// `subscriptionExpireTime` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// `subscriptionMaxEvents`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    /// `initialEvent`.
    #[serde(default)]
    pub initial_event: bool,
    /// Creation time (RFC 3339).
    pub starts_at: String,
    /// The anomaly date at creation, never notified (absent with `initialEvent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// `protocolSettings` (CAMARA's `HTTPSettings`) as sent; absent when not sent (and in
    /// the records of servers before it was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_settings: Option<HttpSettings>,
}

/// CAMARA's `HTTPSettings` (`protocolSettings` of a subscription whose `protocol` is HTTP),
/// as the client sent them: each member kept only when sent, so that GET echoes them.
///
/// The `headers` are added to every callback POST to the sink. Their values may be secrets
/// (an API key of the sink's): they are kept like the sink's token (in the owner-only
/// subscription file, echoed only to the subscription's client) and never logged; this
/// type's `Debug` shows how many headers there are, not their names or values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSettings {
    /// `headers`: header name (as sent) to value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    /// `method`: only `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("headers", &self.headers.as_ref().map(|h| h.len()))
            .field("method", &self.method)
            .finish()
    }
}

impl HttpSettings {
    /// The CAMARA representation: the members sent, as sent.
    fn to_json(&self) -> Value {
        let mut v = json!({});
        if let Some(h) = &self.headers {
            v["headers"] = json!(h);
        }
        if let Some(m) = &self.method {
            v["method"] = json!(m);
        }
        v
    }
}

/// Most headers a subscription may ask callbacks to carry (`protocolSettings.headers`).
pub const MAX_SINK_HEADERS: usize = 16;
/// Longest header name taken, in bytes.
pub const MAX_SINK_HEADER_NAME: usize = 64;
/// Longest header value taken, in characters (CAMARA's `HTTPSettings` `maxLength`).
pub const MAX_SINK_HEADER_VALUE: usize = 512;
/// Most bytes of names and values together.
pub const MAX_SINK_HEADER_BYTES: usize = 4096;

/// Header names a subscription may not set (compared without case): those the delivery
/// writes itself (`Host`, `Content-Type`, `Content-Length`, `User-Agent`, and
/// `Authorization`, the `sinkCredential`'s), the hop-by-hop and framing ones of RFC 9110
/// §7.6.1 and RFC 9112 (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `TE`, `Trailer`,
/// `Upgrade`, `Proxy-Connection`) and `Expect` (it changes the exchange). Names that begin
/// with one of [`RESERVED_HEADER_PREFIXES`] are refused too.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "authorization",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "expect",
];

/// Prefixes of header names a subscription may not set: `proxy-` (meant for proxies, as
/// `Proxy-Authorization`), `content-` (they describe the body, which the service writes),
/// `ce-` (CloudEvents attributes in binary mode: the events are sent in structured mode).
pub const RESERVED_HEADER_PREFIXES: &[&str] = &["proxy-", "content-", "ce-"];

/// True for an RFC 9110 `token` (a field name): one or more of `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The field path naming header `name` in a refusal: the name when it is a token of at
/// most [`MAX_SINK_HEADER_NAME`] bytes that holds no run of digits that may be a phone
/// number (`status::hidden_digits` keeps it whole), else `<header>`.
fn header_field(name: &str) -> String {
    let shown = is_token(name)
        && name.len() <= MAX_SINK_HEADER_NAME
        && crate::service::status::hidden_digits(name) == name;
    format!(
        "protocolSettings.headers.{}",
        if shown { name } else { "<header>" }
    )
}

/// Checks an `HTTPSettings` (`method` POST, [`sink_headers`]) and returns its headers.
fn http_settings_checked(ps: &HttpSettings) -> Result<Vec<(http::HeaderName, HeaderValue)>> {
    if ps.method.as_deref().is_some_and(|m| m != "POST") {
        return Err(Error::invalid(
            "protocolSettings.method",
            "must be POST (callbacks are POSTed)",
        ));
    }
    ps.headers.as_ref().map_or(Ok(Vec::new()), sink_headers)
}

/// Checks `protocolSettings.headers` (the rule broken, never a value, in the error) and
/// returns them as headers of a request.
fn sink_headers(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(http::HeaderName, HeaderValue)>> {
    if headers.len() > MAX_SINK_HEADERS {
        return Err(Error::invalid(
            "protocolSettings.headers",
            format!("may hold at most {MAX_SINK_HEADERS} headers"),
        ));
    }
    let total: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_SINK_HEADER_BYTES {
        return Err(Error::invalid(
            "protocolSettings.headers",
            format!("names and values together may hold at most {MAX_SINK_HEADER_BYTES} bytes"),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let field = header_field(name);
        if !is_token(name) || name.len() > MAX_SINK_HEADER_NAME {
            return Err(Error::invalid(
                field,
                format!(
                    "must be a header name: 1 to {MAX_SINK_HEADER_NAME} letters, digits or !#$%&'*+-.^_`|~ (an RFC 9110 token)"
                ),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str())
            || RESERVED_HEADER_PREFIXES
                .iter()
                .any(|p| lower.starts_with(p))
        {
            return Err(Error::invalid(
                field,
                "is a header the service sets or that is not the client's to set (Host, Content-*, User-Agent, Authorization: use sinkCredential, hop-by-hop headers, Expect, Proxy-*, ce-*)",
            ));
        }
        if !seen.insert(lower) {
            return Err(Error::invalid(
                field,
                "repeats a header name (names do not differ by case)",
            ));
        }
        if value.chars().count() > MAX_SINK_HEADER_VALUE {
            return Err(Error::invalid(
                field,
                format!("must be at most {MAX_SINK_HEADER_VALUE} characters"),
            ));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(Error::invalid(
                field,
                "must be visible ASCII characters, spaces and tabs (no line breaks or control characters)",
            ));
        }
        if value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']) {
            return Err(Error::invalid(
                field,
                "must not begin or end with a space or tab",
            ));
        }
        let (Ok(n), Ok(mut v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            // The rules above are stricter than the `http` crate's.
            return Err(Error::invalid(field, "is not a valid header"));
        };
        v.set_sensitive(true);
        out.push((n, v));
    }
    Ok(out)
}

/// How long before its sink's token expires (`accessTokenExpiresUtc`) a subscription ends
/// with `ACCESS_TOKEN_EXPIRED`: CAMARA wants that event sent "just before" the expiry, while
/// the token still opens the sink. A token that lives less than twice this long from the
/// subscription's start ends it halfway through its life instead (`token_end`).
pub const TOKEN_END_MARGIN_MS: i64 = 60_000;

/// When a subscription whose token expires at `expires_ms` (epoch ms) ends, having started
/// at `starts_ms`: [`TOKEN_END_MARGIN_MS`] before the expiry, or halfway from the start to
/// the expiry when that is later (a short-lived token is not refused, nor ended at once).
fn token_end(expires_ms: i64, starts_ms: Option<i64>) -> i64 {
    let life = starts_ms.map_or(i64::MAX, |s| expires_ms.saturating_sub(s).max(0));
    expires_ms - TOKEN_END_MARGIN_MS.min(life / 2)
}

/// A live subscription: its record and what the notifier needs, parsed once.
#[derive(Debug)]
pub struct Subscription {
    /// As stored.
    pub record: Record,
    /// The subscribed number.
    pub number: Msisdn,
    /// The check it stands for (`as_of` empty: today).
    pub request: pb::CheckRequest,
    /// The callback URL, checked.
    pub sink: Sink,
    /// The headers of `protocolSettings`, checked, added to every callback (values marked
    /// sensitive).
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// When it ends, epoch ms, and why (the earlier of expiry and `token_end`).
    pub ends: Option<(i64, EndReason)>,
    /// Set once when it is deleted or expires ([`Store::end`]); not when its last allowed
    /// event ends it, since that event is still to be sent. Anomaly callbacks that are not
    /// on the wire yet are dropped once it is set.
    pub ended: tokio::sync::watch::Sender<bool>,
    /// Held by the task sending its callbacks: one task at a time, so its events reach the
    /// sink in the order they were made and `subscription-ended` comes after the rest.
    pub turn: tokio::sync::Mutex<()>,
    /// Set when its sink answered 410 Gone: the subscription ends, and nothing more, not
    /// even `subscription-ended`, is sent to that sink.
    pub gone: std::sync::atomic::AtomicBool,
}

impl Subscription {
    /// From a stored record; the record was validated when created.
    fn of(record: Record, max_look_back_days: u16, allow_insecure: bool) -> Result<Subscription> {
        let request = request_of(&record.detail, max_look_back_days, false)?;
        let number = parse_phone_number(&request.phone_number)?;
        let sink =
            Sink::parse(&record.sink, allow_insecure).map_err(|r| Error::invalid("sink", r))?;
        // Checked again from the file: what a callback carries passed these rules.
        let headers = match &record.protocol_settings {
            None => Vec::new(),
            Some(ps) => http_settings_checked(ps)?,
        };
        let at = |s: &Option<String>| {
            s.as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        let token_ends = at(&record.access_token_expires)
            .map(|t| token_end(t, at(&Some(record.starts_at.clone()))));
        let ends = match (at(&record.expire_time), token_ends) {
            (Some(e), Some(t)) if t < e => Some((t, EndReason::AccessTokenExpired)),
            (Some(e), _) => Some((e, EndReason::Expired)),
            (None, Some(t)) => Some((t, EndReason::AccessTokenExpired)),
            (None, None) => None,
        };
        Ok(Subscription {
            record,
            number,
            request,
            sink,
            headers,
            ends,
            ended: tokio::sync::watch::Sender::new(false),
            turn: tokio::sync::Mutex::new(()),
            gone: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The CAMARA representation (never the token).
    pub fn to_json(&self) -> Value {
        let r = &self.record;
        let mut config = json!({ "subscriptionDetail": r.detail, "initialEvent": r.initial_event });
        if let Some(t) = &r.expire_time {
            config["subscriptionExpireTime"] = json!(t);
        }
        if let Some(n) = r.max_events {
            config["subscriptionMaxEvents"] = json!(n);
        }
        let mut v = json!({
            "id": r.id,
            "protocol": "HTTP",
            "sink": r.sink,
            "types": [EVENT_ANOMALY],
            "config": config,
            "startsAt": r.starts_at,
            "status": "ACTIVE",
        });
        if let Some(t) = &r.expire_time {
            v["expiresAt"] = json!(t);
        }
        if let Some(ps) = &r.protocol_settings {
            v["protocolSettings"] = ps.to_json();
        }
        v
    }
}

/// The live subscriptions, by id and by number, and the files behind them.
pub struct Store {
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// The journal's append handle; its lock also serialises recorders.
    journal: Mutex<std::fs::File>,
    /// Anomaly callbacks journaled and not yet settled (taken under the journal's lock).
    unsent: Mutex<Unsent>,
}

/// The journaled dates whose callbacks are not settled yet, and whether the store is closed.
#[derive(Default)]
struct Unsent {
    dates: HashSet<(String, NaiveDate)>,
    closed: bool,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Subscription>>,
    by_number: HashMap<Msisdn, Vec<Arc<Subscription>>>,
    /// Dates notified, per subscription id.
    notified: HashMap<String, BTreeSet<NaiveDate>>,
    /// (end time ms, id) of subscriptions that end.
    ends: BTreeSet<(i64, String)>,
    /// Live subscriptions per client id.
    per_client: HashMap<String, usize>,
}

/// One anomaly date to notify, and whether it is the subscription's last event.
pub struct Due {
    /// The subscription.
    pub sub: Arc<Subscription>,
    /// The new anomaly date.
    pub date: NaiveDate,
    /// `subscriptionMaxEvents` is reached with this one (the subscription has ended).
    pub last: bool,
}

/// True when `client` may still hold subscriptions: a `[[clients]]` entry with the `check`
/// scope, or the anonymous caller of a server without clients.
fn still_allowed(clients: &[crate::config::ClientEntry], client: &str) -> bool {
    if clients.is_empty() {
        return client == crate::service::auth::ANONYMOUS;
    }
    clients.iter().any(|c| c.id == client && c.check)
}

impl Store {
    /// Opens (creates) the directory, loads every subscription and the journal, compacts
    /// the journal. A subscription file that cannot be read, or whose client may no longer
    /// check, is logged and left in place.
    pub fn open(state: &AppState) -> Result<Store> {
        let settings = state.settings();
        let cfg = &settings.subscriptions;
        let dir = cfg
            .dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join(".subscriptions"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut inner = Inner::default();
        // Ids of every subscription file, loaded or not: the journal keeps the dates of a
        // file left unloaded (a removed client's, an unreadable one), so that it does not
        // hear them again if it is loaded later.
        let mut on_disk = std::collections::HashSet::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if crate::staged::is_temporary(&name) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            on_disk.insert(stem.to_owned());
            let loaded = std::fs::read(&path)
                .map_err(|e| Error::io(&path, e))
                .and_then(|b| {
                    // Position only: serde's message could quote a value (a number).
                    serde_json::from_slice::<Record>(&b).map_err(|e| {
                        Error::read(
                            &path,
                            format!(
                                "not a subscription record (line {}, column {})",
                                e.line(),
                                e.column()
                            ),
                        )
                    })
                })
                .map(|r| {
                    // A record whose sink or limits this server's settings refuse (a sink
                    // `allow_insecure_sinks` took, the flag gone) is no damaged file.
                    let who = (r.id.clone(), r.client.clone());
                    let sub =
                        Subscription::of(r, settings.max_look_back_days, cfg.allow_insecure_sinks);
                    (who, sub)
                });
            // Parameters this server no longer takes (a named hotzone or the default hotzone
            // removed, a limit lowered): its every check would be refused, so it could never
            // notify. Not loaded, and said; its file is kept, in case the configuration
            // returns.
            let refused =
                |sub: &Subscription| crate::service::check::params(state, &sub.request).err();
            match loaded {
                Ok(((id, client), Err(e))) => {
                    tracing::warn!(subscription = %id, client = %client, error = %e, "the subscription is not valid under this server's settings: not loaded")
                }
                Ok((_, Ok(sub))) if !still_allowed(&settings.clients, &sub.record.client) => {
                    // A client removed from `[[clients]]` (or no longer allowed to check)
                    // must not go on being notified: its file is kept, in case it returns.
                    tracing::warn!(subscription = %sub.record.id, client = %sub.record.client, "the subscription's client may no longer check: not loaded")
                }
                Ok((_, Ok(sub))) => match refused(&sub) {
                    Some(e) => {
                        tracing::warn!(subscription = %sub.record.id, client = %sub.record.client, error = %e, "the subscription's parameters are not valid on this server: not loaded")
                    }
                    None => inner.add(Arc::new(sub)),
                },
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "unreadable subscription file: not loaded")
                }
            }
        }
        let journal_path = dir.join(JOURNAL);
        let mut dormant = String::new();
        if let Ok(text) = std::fs::read_to_string(&journal_path) {
            for line in text.lines() {
                #[derive(Deserialize)]
                struct Line {
                    id: String,
                    date: String,
                    /// Journaled, then not sent before a graceful stop ([`Store::close`]).
                    #[serde(default)]
                    unsent: bool,
                }
                let Ok(l) = serde_json::from_str::<Line>(line) else {
                    continue;
                };
                if inner.by_id.contains_key(&l.id)
                    && let Some(d) = parse_date(&l.date)
                {
                    let dates = inner.notified.entry(l.id).or_default();
                    match l.unsent {
                        true => dates.remove(&d),
                        false => dates.insert(d),
                    };
                } else if on_disk.contains(&l.id) {
                    dormant.push_str(line);
                    dormant.push('\n');
                }
            }
        }
        // Compact: rewrite the journal with the lines of subscriptions that still have a file.
        let mut text = dormant;
        for (id, dates) in &inner.notified {
            for d in dates {
                text.push_str(&json!({"id": id, "date": d.to_string()}).to_string());
                text.push('\n');
            }
        }
        write_durably(&dir, JOURNAL, text.as_bytes())?;
        let journal = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal_path)
            .map_err(|e| Error::io(&journal_path, e))?;
        state.callback_metrics().set_live(inner.by_id.len());
        Ok(Store {
            dir,
            inner: Mutex::new(inner),
            journal: Mutex::new(journal),
            unsent: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Live subscriptions of one client.
    pub fn len_of(&self, client: &str) -> usize {
        self.lock().per_client.get(client).copied().unwrap_or(0)
    }

    /// True without subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores a new subscription durably (blocking IO), then makes it live.
    pub fn insert(&self, sub: Subscription) -> Result<Arc<Subscription>> {
        let bytes = serde_json::to_vec_pretty(&sub.record)
            .map_err(|e| Error::Internal(format!("subscription record: {e}")))?;
        write_durably(&self.dir, &format!("{}.json", sub.record.id), &bytes)?;
        let sub = Arc::new(sub);
        self.lock().add(sub.clone());
        Ok(sub)
    }

    /// A live subscription.
    pub fn get(&self, id: &str) -> Option<Arc<Subscription>> {
        self.lock().by_id.get(id).cloned()
    }

    /// The live subscriptions of a client, oldest first.
    pub fn of_client(&self, client: &str) -> Vec<Arc<Subscription>> {
        let mut v: Vec<Arc<Subscription>> = self
            .lock()
            .by_id
            .values()
            .filter(|s| s.record.client == client)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (&a.record.starts_at, &a.record.id).cmp(&(&b.record.starts_at, &b.record.id))
        });
        v
    }

    /// Every live subscription.
    pub fn all(&self) -> Vec<Arc<Subscription>> {
        self.lock().by_id.values().cloned().collect()
    }

    /// The subscriptions whose number has events in one of `segments` (new data). Walks the
    /// smaller side: the segment's subscribers, or the subscribed numbers.
    pub fn touched(&self, segments: &[Arc<ServingIndex>]) -> Vec<Arc<Subscription>> {
        let inner = self.lock();
        let mut out = Vec::new();
        let mut seen: HashSet<Msisdn> = HashSet::new();
        for seg in segments {
            let subs = seg.subscribers();
            if subs.len() <= inner.by_number.len() {
                for n in subs {
                    if let Some(v) = inner.by_number.get(n)
                        && seen.insert(*n)
                    {
                        out.extend(v.iter().cloned());
                    }
                }
            } else {
                for (n, v) in &inner.by_number {
                    if seg.contains(*n) && seen.insert(*n) {
                        out.extend(v.iter().cloned());
                    }
                }
            }
        }
        out
    }

    /// Of `found` (subscription, its current anomaly date), keeps the dates not notified
    /// before (nor the baseline) of subscriptions still live and under their event cap,
    /// appends them to the journal and fsyncs it (blocking IO). Only what this returns may
    /// be sent. A subscription whose cap is reached is ended here (its file removed).
    pub fn record(&self, found: Vec<(Arc<Subscription>, NaiveDate)>) -> Result<Vec<Due>> {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if self.unsent_lock().closed {
            // Stopping: a date journaled now could not be sent, nor marked unsent.
            return Ok(Vec::new());
        }
        let mut due = Vec::new();
        let mut ended = Vec::new();
        {
            let mut inner = self.lock();
            for (sub, date) in found {
                let id = &sub.record.id;
                if !inner.by_id.contains_key(id)
                    || sub.record.baseline.as_deref().and_then(parse_date) == Some(date)
                {
                    continue;
                }
                let dates = inner.notified.entry(id.clone()).or_default();
                if !dates.insert(date) {
                    continue;
                }
                let last = sub
                    .record
                    .max_events
                    .is_some_and(|m| dates.len() >= m as usize);
                if last {
                    // Its dates, this one included, kept in case the round is undone.
                    let dates = dates.clone();
                    inner.remove(id);
                    ended.push((id.clone(), dates));
                }
                due.push(Due { sub, date, last });
            }
        }
        if !due.is_empty() {
            let mut text = String::new();
            for d in &due {
                text.push_str(
                    &json!({"id": d.sub.record.id, "date": d.date.to_string()}).to_string(),
                );
                text.push('\n');
            }
            let path = self.dir.join(JOURNAL);
            if let Err(e) = journal
                .write_all(text.as_bytes())
                .and_then(|()| journal.sync_data())
            {
                // Not journaled, so not sent: undo the round in memory, so the next
                // evaluation finds these dates new again (a line that did reach the disk
                // only means a callback lost at a restart, never one repeated).
                let mut inner = self.lock();
                for d in due.iter().filter(|d| d.last) {
                    inner.add(d.sub.clone());
                }
                for (id, dates) in ended {
                    inner.notified.insert(id, dates);
                }
                for d in &due {
                    if let Some(dates) = inner.notified.get_mut(&d.sub.record.id) {
                        dates.remove(&d.date);
                    }
                }
                return Err(Error::io(&path, e));
            }
        }
        self.unsent_lock()
            .dates
            .extend((due.iter().filter(|d| !d.last)).map(|d| (d.sub.record.id.clone(), d.date)));
        drop(journal);
        for (id, _) in ended {
            // The round's callbacks go out even if a file stays behind: its dates are
            // journaled, so if it is loaded again none of them is repeated.
            if let Err(e) = self.remove_file(&id) {
                tracing::error!(subscription = %id, error = %e, "could not remove an ended subscription's file");
            }
        }
        Ok(due)
    }

    fn unsent_lock(&self) -> std::sync::MutexGuard<'_, Unsent> {
        self.unsent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The anomaly callback of subscription `id` for `date` is delivered, given up or
    /// cancelled: a stop no longer marks it unsent.
    pub fn settled(&self, id: &str, date: NaiveDate) {
        let mut unsent = self.unsent_lock();
        if !unsent.closed {
            unsent.dates.remove(&(id.to_owned(), date));
        }
    }

    /// At a graceful stop (blocking IO): records nothing more, and journals as unsent the
    /// dates whose callbacks are not settled, so that the next start sends them. Returns
    /// how many.
    pub fn close(&self) -> Result<usize> {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let mut unsent = self.unsent_lock();
        unsent.closed = true;
        let dates = std::mem::take(&mut unsent.dates);
        drop(unsent);
        if dates.is_empty() {
            return Ok(0);
        }
        let mut text = String::new();
        for (id, date) in &dates {
            text.push_str(&json!({"id": id, "date": date.to_string(), "unsent": true}).to_string());
            text.push('\n');
        }
        journal
            .write_all(text.as_bytes())
            .and_then(|()| journal.sync_data())
            .map_err(|e| Error::io(&self.dir.join(JOURNAL), e))?;
        Ok(dates.len())
    }

    /// Deletes a subscription at its client's request (blocking IO): its file first, so that
    /// a removal the disk refuses changes nothing (the subscription stays live and the caller
    /// hears the error, rather than a 500 for a subscription gone until the next start); then
    /// out of the maps. `None` when it was not live.
    pub fn end(&self, id: &str) -> Result<Option<Arc<Subscription>>> {
        if !self.lock().by_id.contains_key(id) {
            return Ok(None);
        }
        self.unlink(id)?;
        // The file is gone: so is the subscription, whatever the directory's sync says (a
        // failed sync is logged; the removal may then not survive a crash).
        let sub = self.lock().remove(id);
        if let Some(s) = &sub {
            s.ended.send_replace(true);
        }
        if let Err(e) = crate::staged::sync_dir(&self.dir) {
            tracing::error!(subscription = %id, error = %e, "a deleted subscription's removal could not be synced to disk");
        }
        Ok(sub)
    }

    /// Ends a subscription past its expiry (or its token's), or whose sink answered 410 Gone
    /// (blocking IO): out of the maps whatever the disk says (it has ended), then its file
    /// removed. A file that cannot be removed is logged; the subscription, expired,
    /// ends again at the next start. `None` when it was not live.
    pub fn expire(&self, id: &str) -> Option<Arc<Subscription>> {
        let sub = self.lock().remove(id);
        if let Some(s) = &sub {
            s.ended.send_replace(true);
            if let Err(e) = self.remove_file(id) {
                tracing::error!(subscription = %id, error = %e, "could not remove an expired subscription's file: it ends again at the next start");
            }
        }
        sub
    }

    /// The earliest end time, epoch ms.
    pub fn next_end(&self) -> Option<i64> {
        self.lock().ends.first().map(|(t, _)| *t)
    }

    /// The ids whose end time is at or before `now_ms`.
    pub fn due_ends(&self, now_ms: i64) -> Vec<String> {
        self.lock()
            .ends
            .iter()
            .take_while(|(t, _)| *t <= now_ms)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Removes a subscription's file and syncs the directory (a file already gone is fine).
    fn remove_file(&self, id: &str) -> Result<()> {
        self.unlink(id)?;
        crate::staged::sync_dir(&self.dir)
    }

    /// Removes a subscription's file, not yet synced (a file already gone is fine).
    fn unlink(&self, id: &str) -> Result<()> {
        let path = self.dir.join(format!("{id}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

impl Inner {
    fn add(&mut self, sub: Arc<Subscription>) {
        if let Some((t, _)) = sub.ends {
            self.ends.insert((t, sub.record.id.clone()));
        }
        self.by_number
            .entry(sub.number)
            .or_default()
            .push(sub.clone());
        *self
            .per_client
            .entry(sub.record.client.clone())
            .or_default() += 1;
        self.by_id.insert(sub.record.id.clone(), sub);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Subscription>> {
        let sub = self.by_id.remove(id)?;
        if let Some(n) = self.per_client.get_mut(&sub.record.client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&sub.record.client);
            }
        }
        if let Some((t, _)) = sub.ends {
            self.ends.remove(&(t, id.to_owned()));
        }
        if let Some(v) = self.by_number.get_mut(&sub.number) {
            v.retain(|s| s.record.id != id);
            if v.is_empty() {
                self.by_number.remove(&sub.number);
            }
        }
        self.notified.remove(id);
        Some(sub)
    }
}

/// Writes `dir/name`: temp file, fsync, rename, fsync of the directory.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let staged = crate::staged::Staged::new(&dir.join(name))?;
    // The files hold numbers and the sinks' tokens: owner only.
    let mut f = staged.create(true)?;
    f.write_all(bytes)
        .map_err(|e| Error::write(staged.path(), e))?;
    drop(f);
    staged.commit_durably()
}

/// A fresh random id (UUID v4 layout) from the process's hasher keys and the clock.
fn new_id() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let now = crate::clock::now_ms();
    let a = std::collections::hash_map::RandomState::new().hash_one((now, seq, 1u8));
    let b = std::collections::hash_map::RandomState::new().hash_one((seq, now, 2u8));
    let x = (u128::from(a) << 64) | u128::from(b);
    let x = (x & !(0xf_u128 << 76)) | (0x4_u128 << 76); // version 4
    let x = (x & !(0x3_u128 << 62)) | (0x2_u128 << 62); // variant 10
    let h = format!("{x:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The guards every subscription call passes: token (`check` scope), gate, client limit.
fn admit(
    app: &App,
    md: &MetadataMap,
) -> std::result::Result<(crate::service::limits::Permit, Caller), Status> {
    let state = &app.state;
    // Credentials first, as for the REST check: 401/403 before 503.
    let caller = state.auth().authorize(md, Scope::Check)?;
    let permit = state.gate().enter()?;
    state.limiter().admit_client(&caller)?;
    Ok((permit, caller))
}

fn not_found() -> Status {
    status(
        Code::NotFound,
        "NOT_FOUND",
        "not found: no subscription with this id for this client",
        Some("subscriptionId"),
    )
}

/// Counts a refusal and turns it into a reply.
fn refuse(app: &App, md: &MetadataMap, s: &Status) -> http::Response<Body> {
    app.state.metrics().reject(s);
    error_response(s, correlator(md).ok().flatten().as_ref())
}

/// Writes an audit line for a subscription call.
fn audit(
    app: &App,
    md: &MetadataMap,
    rpc: &'static str,
    client: &str,
    number: Option<Msisdn>,
    code: Code,
) {
    let audit = app.state.audit();
    if !audit.enabled() {
        return;
    }
    let corr = correlator(md).ok().flatten();
    let ctext = correlator_text(corr.as_ref());
    let line = AuditLine {
        time: crate::clock::now_rfc3339(),
        rpc,
        client,
        correlator: &ctext,
        number_hmac: number.and_then(|n| audit.tag(n)),
        params: None,
        anomaly_detected: None,
        anomaly_date: None,
        accepted: None,
        rejected: None,
        code: crate::service::metrics::code_name(code),
        reason: None,
        latency_us: 0,
    };
    if !audit.write(&line) {
        app.state.metrics().audit_dropped();
    }
}

/// `POST .../subscriptions`.
///
/// The token is checked from the headers before the body is read; the body is read before
/// the call takes its place at the concurrency gate (a client sending its body slowly holds
/// no place a check needs). The place is kept through the durable write, so the gate also
/// bounds the creations in flight (and how far `max_subscriptions` can be passed by them).
pub(crate) async fn create(app: &App, md: &MetadataMap, body: RequestBody) -> http::Response<Body> {
    let state = &app.state;
    if let Err(s) = state.auth().authorize(md, Scope::Check) {
        return refuse(app, md, &s);
    }
    // Sent within `check_timeout_s`, as a check's body.
    let within = std::time::Duration::from_secs(state.settings().limits.check_timeout_s);
    let deadline = tokio::time::Instant::now() + within;
    let limit = state.settings().limits.max_request_bytes;
    let bytes = match read_body(body, limit, (deadline, within, "a subscription request")).await {
        Ok(b) => b,
        Err(s) => return refuse(app, md, &s),
    };
    let (_permit, caller) = match admit(app, md) {
        Ok(x) => x,
        Err(s) => return refuse(app, md, &s),
    };
    let ctext = correlator_text(correlator(md).ok().flatten().as_ref()).into_owned();
    let record = match parse_subscription(state, &bytes, &caller) {
        Ok(r) => r,
        Err(Refused::Error(e)) => return refuse(app, md, &to_status(&e, &ctext)),
        Err(Refused::Camara(s)) => return refuse(app, md, &s),
    };
    let settings = state.settings();
    let mut sub = match Subscription::of(
        record,
        settings.max_look_back_days,
        settings.subscriptions.allow_insecure_sinks,
    ) {
        Ok(s) => s,
        Err(e) => return refuse(app, md, &to_status(&e, &ctext)),
    };
    // The same validation as a check, and the same per-number limit.
    if let Err(e) = crate::service::check::params(state, &sub.request) {
        return refuse(app, md, &to_status(&e, &ctext));
    }
    // A subscription that needs its baseline waits for the data (503, below) before it spends
    // a token of the number, as a check does.
    if !sub.record.initial_event
        && let Err(e) = state.loaded()
    {
        return refuse(app, md, &to_status(&e, &ctext));
    }
    if let Err(s) = state.limiter().admit_number(&caller, sub.number) {
        return refuse(app, md, &s);
    }
    // The client's own cap first, so that one client cannot take the server's whole room.
    let full = if app.subs.len_of(&caller.id) >= settings.subscriptions.max_subscriptions_per_client
    {
        Some("too many requests: this client holds its maximum number of subscriptions")
    } else if app.subs.len() >= settings.subscriptions.max_subscriptions {
        Some("too many requests: this server holds its maximum number of subscriptions")
    } else {
        None
    };
    if let Some(message) = full {
        let s = status(Code::ResourceExhausted, "TOO_MANY_REQUESTS", message, None);
        return refuse(app, md, &s);
    }
    if !sub.record.initial_event {
        // The baseline is the anomaly as the data says now: before the data is loaded there
        // is none to take, and a subscription taken then would notify an anomaly that was
        // already there. So it is refused as a check is (503), to be retried.
        if let Err(e) = state.snapshot() {
            return refuse(app, md, &to_status(&e, &ctext));
        }
        sub.record.baseline = app.notifier.current_anomaly(&sub).map(|d| d.to_string());
    }
    let subs = app.subs.clone();
    let stored = tokio::task::spawn_blocking(move || subs.insert(sub))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
        .and_then(|r| r);
    let sub = match stored {
        Ok(s) => s,
        Err(e) => return refuse(app, md, &to_status(&e, &ctext)),
    };
    state.callback_metrics().set_live(app.subs.len());
    app.notifier.created(&sub);
    audit(app, md, "subscribe", &caller.id, Some(sub.number), Code::Ok);
    tracing::info!(correlator = %ctext, client = %caller.id, subscription = %sub.record.id, "subscription created");
    let mut r = json_response(StatusCode::CREATED, &sub.to_json());
    if let Ok(v) = HeaderValue::from_str(&format!("{SUBSCRIPTIONS_PATH}/{}", sub.record.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET .../subscriptions`.
pub(crate) fn list(app: &App, md: &MetadataMap) -> http::Response<Body> {
    let (_permit, caller) = match admit(app, md) {
        Ok(x) => x,
        Err(s) => return refuse(app, md, &s),
    };
    // Written a few subscriptions at a time as the connection takes them: a client's long
    // list is never one buffer (64 lists of 2,000 large subscriptions had taken 320 MB).
    let mut subs = app.subs.of_client(&caller.id).into_iter();
    let (mut first, mut done) = (true, false);
    let chunks = std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut out = Vec::new();
        for s in subs.by_ref().take(LIST_CHUNK) {
            out.push(if first { b'[' } else { b',' });
            first = false;
            let _ = serde_json::to_writer(&mut out, &s.to_json());
        }
        if subs.len() == 0 {
            if first {
                out.push(b'[');
            }
            out.push(b']');
            done = true;
        }
        Some(bytes::Bytes::from(out))
    });
    let mut r = http::Response::new(Body::Chunks(Box::new(chunks)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Subscriptions written per chunk of a list.
const LIST_CHUNK: usize = 64;

/// `GET .../subscriptions/{id}`.
pub(crate) fn get(app: &App, md: &MetadataMap, id: &str) -> http::Response<Body> {
    let (_permit, caller) = match admit(app, md) {
        Ok(x) => x,
        Err(s) => return refuse(app, md, &s),
    };
    match app.subs.get(id).filter(|s| s.record.client == *caller.id) {
        Some(s) => json_response(StatusCode::OK, &s.to_json()),
        None => refuse(app, md, &not_found()),
    }
}

/// `DELETE .../subscriptions/{id}`: 204, then a `subscription-ended` event
/// (`SUBSCRIPTION_DELETED`) to the sink.
pub(crate) async fn delete(app: &App, md: &MetadataMap, id: &str) -> http::Response<Body> {
    let (_permit, caller) = match admit(app, md) {
        Ok(x) => x,
        Err(s) => return refuse(app, md, &s),
    };
    if app
        .subs
        .get(id)
        .filter(|s| s.record.client == *caller.id)
        .is_none()
    {
        return refuse(app, md, &not_found());
    }
    let subs = app.subs.clone();
    let owned = id.to_owned();
    let ended = tokio::task::spawn_blocking(move || subs.end(&owned))
        .await
        .map_err(|e| Error::Internal(e.to_string()))
        .and_then(|r| r);
    match ended {
        Ok(Some(sub)) => {
            app.state.callback_metrics().set_live(app.subs.len());
            audit(
                app,
                md,
                "unsubscribe",
                &caller.id,
                Some(sub.number),
                Code::Ok,
            );
            app.notifier.ended(sub, EndReason::Deleted);
            let mut r = http::Response::new(Body::default());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok(None) => refuse(app, md, &not_found()),
        Err(e) => refuse(app, md, &to_status(&e, "")),
    }
}

/// A refused creation request: an error of the library's table (INVALID_ARGUMENT,
/// OUT_OF_RANGE), or one of CAMARA's subscription codes ([`SubscriptionRefusal`]).
enum Refused {
    Error(Error),
    Camara(Status),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Refused {
        Refused::Error(e)
    }
}

impl SubscriptionRefusal {
    fn of(self, field: &str, rule: impl std::fmt::Display) -> Refused {
        Refused::Camara(self.status(field, rule))
    }
}

/// Checks a creation request's body and builds its record (values of the check parameters
/// are validated by the caller, with the check's rules).
fn parse_subscription(
    state: &AppState,
    body: &[u8],
    caller: &Caller,
) -> std::result::Result<Record, Refused> {
    let settings = state.settings();
    let obj = super::check::json_object(body)?;
    check_fields(
        &obj,
        &[
            "protocol",
            "sink",
            "sinkCredential",
            "types",
            "config",
            "protocolSettings",
        ],
        "",
    )?;
    match string(&obj, "protocol", "protocol")?.as_deref() {
        Some("HTTP") => {}
        None => return Err(Error::invalid("protocol", "is required (HTTP)").into()),
        Some(_) => return Err(SubscriptionRefusal::Protocol.of("protocol", "must be HTTP")),
    }
    let protocol_settings = protocol_settings(&obj)?;
    let sink =
        string(&obj, "sink", "sink")?.ok_or_else(|| Error::invalid("sink", "is required"))?;
    let allow_insecure = settings.subscriptions.allow_insecure_sinks;
    Sink::parse(&sink, allow_insecure)
        .map_err(|rule| SubscriptionRefusal::Sink.of("sink", rule))?;
    let now = settings.clock.now_ms();
    let future_time = |s: &str, field: &str| -> Result<String> {
        let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            Error::invalid(field, "must be an RFC 3339 date-time with a zone offset")
        })?;
        if t.timestamp_millis() <= now {
            // CAMARA's feature files expect INVALID_ARGUMENT here (not OUT_OF_RANGE).
            return Err(Error::invalid(field, "must be in the future"));
        }
        Ok(t.to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let (access_token, access_token_expires) = match member(&obj, "sinkCredential") {
        None => (None, None),
        Some(Value::Object(c)) => {
            let at = "sinkCredential.";
            check_fields(
                c,
                &[
                    "credentialType",
                    "accessToken",
                    "accessTokenType",
                    "accessTokenExpiresUtc",
                ],
                at,
            )?;
            match string(c, "credentialType", "sinkCredential.credentialType")?.as_deref() {
                Some("ACCESSTOKEN") => {}
                // CAMARA's own code for a PRIVATE_KEY_JWT with no configuration pre-shared
                // (the token endpoint, client id and JWKS URL agreed beforehand): this
                // server has none, nor a way to be given one.
                Some("PRIVATE_KEY_JWT") => {
                    return Err(SubscriptionRefusal::PrivateKeyJwt.of(
                        "sinkCredential.credentialType",
                        "PRIVATE_KEY_JWT is not configured on this server: no JWK Set or token endpoint is pre-shared (use ACCESSTOKEN)",
                    ));
                }
                None => {
                    return Err(Error::invalid(
                        "sinkCredential.credentialType",
                        "is required (ACCESSTOKEN)",
                    )
                    .into());
                }
                Some(_) => {
                    return Err(SubscriptionRefusal::Credential.of(
                        "sinkCredential.credentialType",
                        "must be ACCESSTOKEN (PLAIN and REFRESHTOKEN are not supported)",
                    ));
                }
            }
            let token = string(c, "accessToken", "sinkCredential.accessToken")?
                .filter(|t| {
                    !t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| (0x21..0x7f).contains(&b))
                })
                .ok_or_else(|| {
                    Error::invalid(
                        "sinkCredential.accessToken",
                        "is required: 1 to 4096 visible ASCII characters",
                    )
                })?;
            match string(c, "accessTokenType", "sinkCredential.accessTokenType")?.as_deref() {
                Some("bearer") => {}
                None => {
                    return Err(Error::invalid(
                        "sinkCredential.accessTokenType",
                        "is required (bearer)",
                    )
                    .into());
                }
                Some(_) => {
                    return Err(SubscriptionRefusal::Token
                        .of("sinkCredential.accessTokenType", "must be bearer"));
                }
            }
            let expires = string(
                c,
                "accessTokenExpiresUtc",
                "sinkCredential.accessTokenExpiresUtc",
            )?
            .ok_or_else(|| Error::invalid("sinkCredential.accessTokenExpiresUtc", "is required"))?;
            let expires = future_time(&expires, "sinkCredential.accessTokenExpiresUtc")?;
            (Some(token), Some(expires))
        }
        Some(_) => return Err(Error::invalid("sinkCredential", "must be an object").into()),
    };
    match member(&obj, "types") {
        Some(Value::Array(t)) if t.len() == 1 && t[0].as_str() == Some(EVENT_ANOMALY) => {}
        None => {
            return Err(
                Error::invalid("types", format!("is required ([\"{EVENT_ANOMALY}\"])")).into(),
            );
        }
        Some(Value::Array(t)) if t.len() > 1 => {
            return Err(SubscriptionRefusal::MultiEvent.of(
                "types",
                format!("must name one event type ([\"{EVENT_ANOMALY}\"])"),
            ));
        }
        Some(_) => {
            return Err(Error::invalid("types", format!("must be [\"{EVENT_ANOMALY}\"]")).into());
        }
    }
    let Some(Value::Object(config)) = member(&obj, "config") else {
        return Err(Error::invalid("config", "is required and must be an object").into());
    };
    check_fields(
        config,
        &[
            "subscriptionDetail",
            "subscriptionExpireTime",
            "subscriptionMaxEvents",
            "initialEvent",
        ],
        "config.",
    )?;
    let Some(Value::Object(detail)) = member(config, "subscriptionDetail") else {
        return Err(Error::invalid(
            "config.subscriptionDetail",
            "is required and must be an object",
        )
        .into());
    };
    check_fields(detail, DETAIL_FIELDS, "config.subscriptionDetail.")?;
    // Types of the check fields (their values are checked by the caller).
    request_of(detail, settings.max_look_back_days, false)?;
    let expire_time = string(
        config,
        "subscriptionExpireTime",
        "config.subscriptionExpireTime",
    )?
    .map(|s| future_time(&s, "config.subscriptionExpireTime"))
    .transpose()?;
    let max_events = match integer(
        config,
        "subscriptionMaxEvents",
        "config.subscriptionMaxEvents",
    )? {
        None => None,
        Some(n) => Some(u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            Error::out_of_range(
                "config.subscriptionMaxEvents",
                format!(
                    "must be between 1 and {} (got {})",
                    u32::MAX,
                    crate::model::shown::shown_number(n)
                ),
            )
        })?),
    };
    let initial_event = match member(config, "initialEvent") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid("config.initialEvent", "must be a boolean").into()),
    };
    Ok(Record {
        id: new_id(),
        client: caller.id.to_string(),
        sink,
        access_token,
        access_token_expires,
        // A member sent as `null` is one not given: not kept, so never echoed as `null`.
        detail: (detail.iter())
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        expire_time,
        max_events,
        initial_event,
        starts_at: settings.clock.now_rfc3339(),
        baseline: None,
        protocol_settings,
    })
}

/// `protocolSettings` of an HTTP subscription (CAMARA's `HTTPSettings`), checked; `None`
/// when not sent (or `null`). A member sent as `null` is one not given.
fn protocol_settings(obj: &Map<String, Value>) -> Result<Option<HttpSettings>> {
    let ps = match member(obj, "protocolSettings") {
        None => return Ok(None),
        Some(Value::Object(ps)) => ps,
        Some(_) => return Err(Error::invalid("protocolSettings", "must be an object")),
    };
    check_fields(ps, &["headers", "method"], "protocolSettings.")?;
    let method = string(ps, "method", "protocolSettings.method")?;
    let headers = match member(ps, "headers") {
        None => None,
        Some(Value::Object(h)) => {
            let mut out = std::collections::BTreeMap::new();
            for (name, value) in h {
                match value {
                    Value::String(v) => {
                        out.insert(name.clone(), v.clone());
                    }
                    _ => return Err(Error::invalid(header_field(name), "must be a string")),
                }
            }
            Some(out)
        }
        Some(_) => {
            return Err(Error::invalid(
                "protocolSettings.headers",
                "must be an object of header names to string values",
            ));
        }
    };
    let settings = HttpSettings { headers, method };
    http_settings_checked(&settings)?;
    Ok(Some(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token's end comes a minute before its expiry, or halfway through a short life.
    #[test]
    fn a_subscription_ends_before_its_token_expires() {
        let exp = 1_000_000_000;
        assert_eq!(token_end(exp, Some(exp - 3_600_000)), exp - 60_000);
        assert_eq!(token_end(exp, Some(exp - 120_000)), exp - 60_000);
        assert_eq!(token_end(exp, Some(exp - 10_000)), exp - 5_000);
        assert_eq!(token_end(exp, Some(exp)), exp);
        assert_eq!(
            token_end(exp, Some(exp + 5)),
            exp,
            "a start after the expiry"
        );
        assert_eq!(token_end(exp, None), exp - 60_000);
    }

    fn headers_of(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        (pairs.iter())
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// What a subscription may ask its callbacks to carry, and the field each refusal names
    /// (never the value).
    #[test]
    fn sink_headers_are_checked_and_refusals_name_the_header() {
        let ok = sink_headers(&headers_of(&[
            ("X-Api-Key", "k3y value\twith tab"),
            ("x-correlator", "abc"),
            ("X-Empty", ""),
            ("Accept", "application/json"),
        ]))
        .unwrap();
        assert_eq!(ok.len(), 4);
        assert!(ok.iter().all(|(_, v)| v.is_sensitive()));
        let refused = |name: &str, value: &str| match sink_headers(&headers_of(&[(name, value)])) {
            Err(Error::InvalidArgument { field, rule }) => {
                assert!(value.len() < 4 || !rule.contains(value), "{rule}");
                field
            }
            other => panic!("{name}: {other:?}"),
        };
        for name in [
            "Host",
            "content-length",
            "Content-Type",
            "Content-Encoding",
            "Transfer-Encoding",
            "Connection",
            "Authorization",
            "Upgrade",
            "TE",
            "Trailer",
            "Keep-Alive",
            "Proxy-Authorization",
            "proxy-connection",
            "ce-id",
            "CE-Type",
            "User-Agent",
            "Expect",
        ] {
            assert_eq!(
                refused(name, "v"),
                format!("protocolSettings.headers.{name}")
            );
        }
        assert_eq!(
            refused("X-A", "a\r\nX-B: b"),
            "protocolSettings.headers.X-A"
        );
        assert_eq!(refused("X-A", "a\nb"), "protocolSettings.headers.X-A");
        assert_eq!(refused("X-A", "caf\u{e9}"), "protocolSettings.headers.X-A");
        assert_eq!(refused("X-A", "a\u{0}b"), "protocolSettings.headers.X-A");
        assert_eq!(refused("X-A", " a"), "protocolSettings.headers.X-A");
        assert_eq!(refused("X-A", "a\t"), "protocolSettings.headers.X-A");
        assert_eq!(
            refused("X-A", &"v".repeat(MAX_SINK_HEADER_VALUE + 1)),
            "protocolSettings.headers.X-A"
        );
        // Names that are no token, too long, or may hold a number are not quoted back.
        for bad in ["X A", "X:A", "", "\u{e9}", ":path", "X(A)"] {
            assert_eq!(
                refused(bad, "v"),
                "protocolSettings.headers.<header>",
                "{bad:?}"
            );
        }
        assert_eq!(
            refused(&"X".repeat(MAX_SINK_HEADER_NAME + 1), "v"),
            "protocolSettings.headers.<header>"
        );
        assert_eq!(
            refused("Host-886912345001", "v\r\n"),
            "protocolSettings.headers.<header>"
        );
        // A name repeated in another case.
        match sink_headers(&headers_of(&[("X-Key", "a"), ("x-key", "b")])) {
            Err(Error::InvalidArgument { field, rule }) => {
                assert!(field.starts_with("protocolSettings.headers."), "{field}");
                assert!(rule.contains("repeats"), "{rule}");
            }
            other => panic!("{other:?}"),
        }
        // Bounds on the count and the bytes.
        let many: Vec<(String, String)> = (0..=MAX_SINK_HEADERS)
            .map(|i| (format!("X-H{i}"), "v".to_owned()))
            .collect();
        let err = sink_headers(&many.into_iter().collect()).unwrap_err();
        assert!(
            err.to_string().contains("protocolSettings.headers"),
            "{err}"
        );
        let big: Vec<(String, String)> = (0..10)
            .map(|i| (format!("X-H{i}"), "v".repeat(500)))
            .collect();
        let err = sink_headers(&big.into_iter().collect()).unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
    }

    /// `method` is POST or absent; `Debug` never shows a header's name or value.
    #[test]
    fn http_settings_take_post_only_and_debug_hides_the_headers() {
        let post = HttpSettings {
            headers: Some(headers_of(&[("X-Secret-Name", "s3cret-value")])),
            method: Some("POST".to_owned()),
        };
        assert_eq!(http_settings_checked(&post).unwrap().len(), 1);
        let shown = format!("{post:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("Secret"),
            "{shown}"
        );
        for m in ["GET", "post", "PUT", ""] {
            let ps = HttpSettings {
                headers: None,
                method: Some(m.to_owned()),
            };
            match http_settings_checked(&ps) {
                Err(Error::InvalidArgument { field, .. }) => {
                    assert_eq!(field, "protocolSettings.method")
                }
                other => panic!("{m}: {other:?}"),
            }
        }
        assert!(
            http_settings_checked(&HttpSettings::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ids_are_unique_uuids() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    /// A round whose journal line cannot be written sends nothing and is undone: the same
    /// dates are new to the next round (which sends them once), and a subscription the round
    /// would have ended by `subscriptionMaxEvents` stays live until then.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_round_that_cannot_be_journaled_is_undone_and_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::ServerSettings::for_data_dir(dir.path());
        settings.subscriptions.dir = Some(dir.path().join("subs"));
        let state = AppState::new(settings);
        let store = Store::open(&state).unwrap();
        let detail = json!({
            "phoneNumber": "+886912345001",
            "lookBackDays": 7,
            "thresholdRatio": 0.5,
            "fraudHotZone": ["NG"],
        });
        let sub = |id: &str, max_events: Option<u32>| {
            let record = Record {
                id: id.to_owned(),
                client: crate::service::auth::ANONYMOUS.to_owned(),
                sink: "https://example.com/cb".to_owned(),
                access_token: None,
                access_token_expires: None,
                detail: detail.as_object().unwrap().clone(),
                expire_time: None,
                max_events,
                initial_event: true,
                starts_at: "2026-12-04T00:00:00Z".to_owned(),
                baseline: None,
                protocol_settings: None,
            };
            store
                .insert(Subscription::of(record, 90, false).unwrap())
                .unwrap()
        };
        let (a, b) = (sub("a", None), sub("b", Some(2)));
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(store.record(vec![(b.clone(), day(1))]).unwrap().len(), 1);

        let full = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        let good = std::mem::replace(&mut *store.journal.lock().unwrap(), full);
        let round = vec![(a.clone(), day(2)), (b.clone(), day(2))];
        assert!(store.record(round.clone()).is_err());
        assert_eq!(store.len(), 2, "b's last event was not sent: b is live");

        *store.journal.lock().unwrap() = good;
        let due = store.record(round.clone()).unwrap();
        let told: Vec<(&str, bool)> = (due.iter())
            .map(|d| (d.sub.record.id.as_str(), d.last))
            .collect();
        assert_eq!(told, [("a", false), ("b", true)]);
        assert_eq!(store.len(), 1);
        assert!(store.record(round).unwrap().is_empty(), "told twice");
    }
}
