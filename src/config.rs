//! Server configuration: the TOML file of `hotzone serve` ([`ServerConfig`]) and its
//! validated form ([`ServerSettings`]).
//!
//! Every key has a default next to its doc comment, units are in the key names, unknown keys
//! are an error, and validation reports every problem at once (not just the first). The file is
//! always named explicitly (`--config`); nothing is searched for. Relative paths in a file are
//! resolved against the file's own directory, so a config keeps working from any cwd.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::check::MAX_LOOK_BACK_DAYS;
use crate::model::hotzone::Hotzone;
use crate::model::region::Region;
use crate::model::shown::{shown, shown_address};
use crate::named::NamedHotzones;

/// The `hotzone serve` configuration, as written in the TOML file (see
/// `data/server.example.toml`). Every key can also be given as a flag, which wins.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`host:port`). Default `127.0.0.1:50051`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory of event files (Parquet, CSV, Arrow IPC; read recursively). Ingested records
    /// are written to its `ingest/` folder. Required (here or with `--data`).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The engine's time zone (IANA name): every event belongs to its local day there.
    /// Default `UTC`.
    #[serde(default = "default_tz")]
    pub tz: String,
    /// Highest `look_back_days` a check may ask for, 1..=90. Default 90.
    #[serde(default = "default_max_look_back_days")]
    pub max_look_back_days: u16,
    /// Hotzone used by checks that give none (region codes and E.164 prefixes). Optional.
    #[serde(default)]
    pub default_hotzone: Option<Vec<String>>,
    /// TOML file of named hotzones (`name = ["NG", "+882"]`), selectable with the request's
    /// `hotzone_name`. Optional.
    #[serde(default)]
    pub hotzones_file: Option<PathBuf>,
    /// Region code (ISO 3166-1 alpha-2, or AC/TA/XK) used to read numbers written without `+`. Optional: without
    /// it, such rows are rejected.
    #[serde(default)]
    pub default_region: Option<String>,
    /// Seconds between scans of `data_dir` for new or changed files; 0 turns polling off.
    /// Default 10.
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// Days of data kept in memory, ending with the latest day in the data no later than
    /// today by the clock (days after it are kept too); older days leave memory at the
    /// next rebuild of the index (a change of the data directory, the ingested events reaching
    /// half of the rest, or the first fold of ingested files a day or more after the last
    /// rebuild). Must be at least `max_look_back_days`. Optional: without it, every day loaded
    /// is kept.
    #[serde(default)]
    pub retention_days: Option<u16>,
    /// Address of the Prometheus metrics endpoint (`host:port`, plain HTTP, `GET /metrics`).
    /// Optional: off by default.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Threads answering calls: 0 (the default) = one per CPU the process may run on
    /// (affinity mask, cgroup quota), and a single-threaded event loop when that is one;
    /// 1 = a single-threaded event loop (the cheapest per call: no cross-thread wake-ups;
    /// the replies of calls that arrived together leave in one write); more = that many
    /// worker threads.
    /// Index builds and durable writes run on separate blocking threads in every case.
    #[serde(default)]
    pub worker_threads: usize,
    /// Clients allowed to call the service, by bearer token hash (`[[clients]]` tables).
    /// Empty (the default) = no authentication, allowed only on a loopback address unless
    /// `hotzone serve --insecure`.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// TLS of the gRPC port (`[tls]`). Optional: plaintext by default.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Privacy policy switches (`[policy]`).
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Resource limits and load shedding (`[limits]`).
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The audit log (`[audit]`). Optional: off by default.
    #[serde(default)]
    pub audit: Option<AuditConfig>,
    /// Address of the REST/JSON API (`host:port`: the CAMARA-style check and the anomaly
    /// subscriptions, see `api/`). Optional: off by default. Same tokens, TLS, limits and
    /// audit log as the gRPC port.
    #[serde(default)]
    pub http_listen: Option<String>,
    /// Anomaly subscriptions and their callbacks (`[subscriptions]`).
    #[serde(default)]
    pub subscriptions: SubscriptionsConfig,
}

/// One `[[clients]]` entry: who may call, proven by a bearer token whose SHA-256 (hex) is
/// stored here (never the token itself).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client's name, as written to the audit log and used for rate limits.
    pub id: String,
    /// Lower-case hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub token_sha256: String,
    /// What the client may call: `check`, `ingest`. Default `["check"]`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["check".to_owned()]
}

/// `[tls]`: PEM files of the gRPC port's certificate chain and key, and optionally the CA
/// that client certificates must chain to (mutual TLS: clients without one are refused).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, PKCS#8 / SEC1 / RSA).
    pub key: PathBuf,
    /// CA certificate(s) (PEM) for client certificates; set = mutual TLS required.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// `[policy]`: what a caller may learn, and how fast.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Reply `anomaly_detected` only; `anomaly_date` is always empty. Default false.
    #[serde(default)]
    pub suppress_anomaly_date: bool,
    /// Fewest entries a hotzone given in a request may have (server-configured hotzones are
    /// exempt), so a caller cannot ask one country at a time. Default 1 (no restriction).
    #[serde(default = "one_u16")]
    pub min_hotzone_entries: u16,
    /// Most digits a prefix entry of a hotzone given in a request may have (server-configured
    /// hotzones are exempt), so a caller cannot name one whole number and learn whether the
    /// subscriber talked to it. Default 15, E.164's longest number (no restriction).
    #[serde(default = "default_max_prefix_digits")]
    pub max_prefix_digits: u8,
    /// Checks per second a client may sustain (token bucket refill); 0 = unlimited (default).
    #[serde(default)]
    pub client_checks_per_s: f64,
    /// Bucket size of the per-client limit (burst). Default 100.
    #[serde(default = "default_client_burst")]
    pub client_burst: u32,
    /// Checks per hour a client may sustain on one number; 0 = unlimited (default).
    #[serde(default)]
    pub number_checks_per_hour: f64,
    /// Bucket size of the per-(client, number) limit. Default 10.
    #[serde(default = "default_number_burst")]
    pub number_burst: u32,
    /// Most (client, number) buckets kept in memory; idle full buckets are evicted first,
    /// then the least recently used. Default 100000.
    #[serde(default = "default_number_table")]
    pub number_table_max: usize,
    /// With `[[clients]]`: the health service needs a valid token (any client). Default
    /// false: probes ask without one (health reveals no subscriber data).
    #[serde(default)]
    pub health_needs_token: bool,
    /// With `[[clients]]`: server reflection needs a valid token (any client). Default
    /// false: it describes the public `.proto` only.
    #[serde(default)]
    pub reflection_needs_token: bool,
    /// With `[[clients]]`: `GET /metrics` needs `authorization: Bearer <token>` of any
    /// client. Default false: the metrics port is meant for a private network.
    #[serde(default)]
    pub metrics_needs_token: bool,
}

fn one_u16() -> u16 {
    1
}

fn default_max_prefix_digits() -> u8 {
    15
}

fn default_client_burst() -> u32 {
    100
}

fn default_number_burst() -> u32 {
    10
}

fn default_number_table() -> usize {
    100_000
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            suppress_anomaly_date: false,
            min_hotzone_entries: 1,
            max_prefix_digits: default_max_prefix_digits(),
            client_checks_per_s: 0.0,
            client_burst: default_client_burst(),
            number_checks_per_hour: 0.0,
            number_burst: default_number_burst(),
            number_table_max: default_number_table(),
            health_needs_token: false,
            reflection_needs_token: false,
            metrics_needs_token: false,
        }
    }
}

/// `[limits]`: bounds on what one call may cost; past them calls are shed, not queued.
///
/// Checks and ingests have separate budgets, so no number of open `Ingest` streams can take
/// the capacity checks need. The HTTP/2 keys bound what one connection can make the server
/// hold before a handler (or the token check) has looked at it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request message (bytes, after decompression); larger ones get
    /// OUT_OF_RANGE, naming this key. Default 4194304 (4 MiB).
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// `Check` calls handled at once; one more is refused with UNAVAILABLE at once instead
    /// of waiting. Ingests do not count against it. Default 256.
    #[serde(default = "default_max_concurrent_calls")]
    pub max_concurrent_calls: usize,
    /// `Ingest` calls open at once (all clients); one more: UNAVAILABLE at once. Default 16.
    #[serde(default = "default_max_concurrent_ingests")]
    pub max_concurrent_ingests: usize,
    /// `Ingest` calls one client may have open at once; one more: RESOURCE_EXHAUSTED
    /// `TOO_MANY_REQUESTS`. Default 4.
    #[serde(default = "default_max_ingests_per_client")]
    pub max_ingests_per_client: usize,
    /// Longest an `Ingest` call may take to send its records (seconds); past it the call
    /// ends with DEADLINE_EXCEEDED and nothing is stored. Default 300.
    #[serde(default = "default_ingest_timeout_s")]
    pub ingest_timeout_s: u64,
    /// Longest an `Ingest` stream may stay silent between two messages (seconds); past it
    /// the call ends with DEADLINE_EXCEEDED and nothing is stored. Default 15.
    #[serde(default = "default_ingest_idle_timeout_s")]
    pub ingest_idle_timeout_s: u64,
    /// Records held in memory by unfinished `Ingest` calls, all streams together; a message
    /// that would pass it ends its call with UNAVAILABLE (nothing stored). Default 2000000
    /// (about 140 MB). At least the 1000000 records one call may carry.
    #[serde(default = "default_max_pending_ingest_records")]
    pub max_pending_ingest_records: usize,
    /// Longest a `Check` may take from its headers to its answer, reading its body included
    /// (seconds); past it DEADLINE_EXCEEDED. Bounds how long a slow body holds memory.
    /// Default 10.
    #[serde(default = "default_check_timeout_s")]
    pub check_timeout_s: u64,
    /// Longest a reply's write may wait on a client that does not read it (seconds, both
    /// ports); past it the connection is closed, so clients that stop reading cannot hold
    /// the port's places. Default 30.
    #[serde(default = "default_write_stall_timeout_s")]
    pub write_stall_timeout_s: u64,
    /// After how long without a byte from its peer the gRPC port sends a connection an
    /// HTTP/2 PING (seconds; 0: never). A connection whose peer has not answered a PING
    /// within `keepalive_timeout_s` is closed, so a client gone without a word (powered off,
    /// or behind a NAT or firewall that dropped the connection's state) gives its place of
    /// `max_connections` back instead of holding it for ever. Every HTTP/2 client answers
    /// PINGs on its own. Default 60.
    #[serde(default = "default_keepalive_interval_s")]
    pub keepalive_interval_s: u64,
    /// How long the gRPC port waits for the answer to its PING (seconds). Default 20.
    #[serde(default = "default_keepalive_timeout_s")]
    pub keepalive_timeout_s: u64,
    /// Longest a gRPC connection is kept (seconds; 0: no bound). Past it the server sends
    /// GOAWAY: calls under way finish, then the connection closes, and the client opens a new
    /// one for its next calls (every gRPC client does so on its own, as it must for any
    /// server's graceful restart). A connection still open a grace later
    /// ([`LimitsConfig::drain_grace`], plus the TLS handshake's 10 s under `[tls]`) is
    /// closed whatever it is doing (a health `Watch` never ends on its own). Default 0
    /// (off): the HTTP/2 layer (h2 0.4.20) ends the whole connection with PROTOCOL_ERROR,
    /// every call on it cut, when a client opens a streaming call in the moment between
    /// the GOAWAY's two frames and sends that stream a WINDOW_UPDATE, as grpc-core does.
    #[serde(default = "default_max_connection_age_s")]
    pub max_connection_age_s: u64,
    /// TCP connections served at once on each port (gRPC and REST count theirs apart); one
    /// more is closed at once. Default 1024.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Of those, connections one client address (an IPv6 /64) may hold on a port; one more
    /// from it is closed at once, so a single host cannot take every place. Default 256.
    /// Behind a proxy or NAT every client has the proxy's address: set it to
    /// `max_connections` there.
    #[serde(default = "default_max_connections_per_address")]
    pub max_connections_per_address: usize,
    /// HTTP/2 streams one connection may have open (advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS). Default 64.
    #[serde(default = "default_max_streams_per_connection")]
    pub max_streams_per_connection: u32,
    /// HTTP/2 flow-control window of one stream (bytes): the most request body the server
    /// buffers for a stream it has not read. Default 65535 (the protocol's default).
    #[serde(default = "default_stream_window_bytes")]
    pub stream_window_bytes: u32,
    /// HTTP/2 flow-control window of one connection (bytes): the most request body the
    /// server buffers for all of a connection's streams together. Default 1048576 (1 MiB).
    #[serde(default = "default_connection_window_bytes")]
    pub connection_window_bytes: u32,
}

fn default_max_request_bytes() -> usize {
    4 * 1024 * 1024
}

fn default_max_concurrent_calls() -> usize {
    256
}

fn default_max_concurrent_ingests() -> usize {
    16
}

fn default_max_ingests_per_client() -> usize {
    4
}

/// The longest `limits.*_timeout_s`: a day.
pub const MAX_TIMEOUT_S: u64 = 86_400;

/// Most places a limit may give (calls, Ingest streams, connections, callbacks at once).
pub const MAX_PLACES: usize = 1_000_000;

/// Longest first wait between two callback attempts (milliseconds): the doubling backoff
/// stops at a minute, and so does its start.
pub const MAX_SINK_BACKOFF_MS: u64 = 60_000;

/// Most attempts per callback (with the backoff at a minute, about 1.5 hours of them).
pub const MAX_SINK_ATTEMPTS: u32 = 100;

/// The most runtime threads `worker_threads` may ask for (100,000 took ten thousand threads
/// and then aborted the process when the OS refused one more).
pub const MAX_WORKER_THREADS: usize = 1024;

fn default_ingest_timeout_s() -> u64 {
    300
}

fn default_ingest_idle_timeout_s() -> u64 {
    15
}

fn default_max_pending_ingest_records() -> usize {
    2_000_000
}

fn default_check_timeout_s() -> u64 {
    10
}

fn default_write_stall_timeout_s() -> u64 {
    30
}

impl LimitsConfig {
    /// The time a call begun before a GOAWAY or a shutdown is given to end within its own
    /// deadline (the longer of `check_timeout_s` and `ingest_timeout_s`) and have its reply
    /// written (`write_stall_timeout_s`): 330 s by default. Past it a connection at its age,
    /// or a server shutting down, stops waiting for the calls still open (a health `Watch`
    /// never ends on its own).
    pub fn drain_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.check_timeout_s.max(self.ingest_timeout_s) + self.write_stall_timeout_s,
        )
    }
}

fn default_keepalive_interval_s() -> u64 {
    60
}

fn default_keepalive_timeout_s() -> u64 {
    20
}

fn default_max_connection_age_s() -> u64 {
    0
}

/// What one small DATA frame costs in the HTTP/2 layer's budget of unread small frames
/// (h2 0.4.16+ charges `256 - payload length`; a gRPC message is at least 5 bytes).
const SMALL_FRAME_COST: u32 = 256;

/// The most streams per connection whose request messages can all sit unread without the
/// HTTP/2 layer ending the connection with ENHANCE_YOUR_CALM ("too_many_data_frames").
///
/// h2 budgets the small DATA frames a connection has received but the application has not
/// read yet: half the connection window, at least 25,600 bytes. A unary call's message
/// arrives as one small DATA frame (most clients send the end of the stream in a second,
/// empty frame, which is not charged), and it stays unread while the call waits for a
/// worker. So as many streams as the budget holds frames can be open, and no more: with
/// 4,000 streams and a 1 MiB window, a tonic client with 3,000 calls in flight on one
/// connection had its connection ended every few seconds on a busy server (measured).
pub fn max_streams_for_window(connection_window_bytes: u32) -> u32 {
    (connection_window_bytes / 2).max(25_600) / SMALL_FRAME_COST
}

fn default_max_connections() -> usize {
    1024
}

fn default_max_connections_per_address() -> usize {
    256
}

fn default_max_streams_per_connection() -> u32 {
    64
}

fn default_stream_window_bytes() -> u32 {
    65_535
}

fn default_connection_window_bytes() -> u32 {
    1024 * 1024
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_bytes: default_max_request_bytes(),
            max_concurrent_calls: default_max_concurrent_calls(),
            max_concurrent_ingests: default_max_concurrent_ingests(),
            max_ingests_per_client: default_max_ingests_per_client(),
            ingest_timeout_s: default_ingest_timeout_s(),
            ingest_idle_timeout_s: default_ingest_idle_timeout_s(),
            max_pending_ingest_records: default_max_pending_ingest_records(),
            check_timeout_s: default_check_timeout_s(),
            write_stall_timeout_s: default_write_stall_timeout_s(),
            keepalive_interval_s: default_keepalive_interval_s(),
            keepalive_timeout_s: default_keepalive_timeout_s(),
            max_connection_age_s: default_max_connection_age_s(),
            max_connections: default_max_connections(),
            max_connections_per_address: default_max_connections_per_address(),
            max_streams_per_connection: default_max_streams_per_connection(),
            stream_window_bytes: default_stream_window_bytes(),
            connection_window_bytes: default_connection_window_bytes(),
        }
    }
}

/// `[audit]`: one JSON line per call, numbers as keyed hashes only.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// File the lines are appended to (created if missing); required, here or as
    /// `--audit-log` (which may then take the key from this table).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// HMAC-SHA256 key (hex, at least 16 bytes) for the number tags. Prefer the
    /// `HOTZONE_AUDIT_KEY` environment variable, which wins over this key.
    #[serde(default)]
    pub hmac_key: Option<String>,
}

fn default_listen() -> String {
    "127.0.0.1:50051".to_owned()
}

fn default_tz() -> String {
    "UTC".to_owned()
}

fn default_max_look_back_days() -> u16 {
    MAX_LOOK_BACK_DAYS
}

fn default_poll_interval_s() -> u64 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: None,
            tz: default_tz(),
            max_look_back_days: default_max_look_back_days(),
            default_hotzone: None,
            hotzones_file: None,
            default_region: None,
            poll_interval_s: default_poll_interval_s(),
            retention_days: None,
            metrics_listen: None,
            worker_threads: 0,
            clients: Vec::new(),
            tls: None,
            policy: PolicyConfig::default(),
            limits: LimitsConfig::default(),
            audit: None,
            http_listen: None,
            subscriptions: SubscriptionsConfig::default(),
        }
    }
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of event files.
    pub data_dir: PathBuf,
    /// The engine's time zone.
    pub tz: Tz,
    /// Highest `look_back_days` allowed, 1..=90.
    pub max_look_back_days: u16,
    /// Hotzone of checks that give none.
    pub default_hotzone: Option<Arc<Hotzone>>,
    /// Named hotzones.
    pub named_hotzones: NamedHotzones,
    /// Region for national-format numbers.
    pub default_region: Option<Region>,
    /// Time between data directory scans; `None` = off.
    pub poll_interval: Option<Duration>,
    /// Days kept in memory, ending with the latest day in the data no later than today by
    /// the clock; `None` = all.
    pub retention_days: Option<u16>,
    /// Prometheus endpoint address; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
    /// Threads of the async runtime; 0 = one per core, 1 = single-threaded.
    pub worker_threads: usize,
    /// Authorised clients; empty = no authentication.
    pub clients: Vec<ClientEntry>,
    /// TLS files; `None` = plaintext.
    pub tls: Option<TlsConfig>,
    /// Privacy policy.
    pub policy: PolicyConfig,
    /// Resource limits.
    pub limits: LimitsConfig,
    /// Audit log; `None` = off.
    pub audit: Option<AuditSettings>,
    /// REST/JSON API address; `None` = off.
    pub http_listen: Option<SocketAddr>,
    /// Anomaly subscriptions (`dir` resolved: never `None`).
    pub subscriptions: SubscriptionsConfig,
    /// The clock the server dates by ("today", the day's turn, subscription times): the
    /// system's. Not a key of the file; tests move it to stand just before a day starts.
    pub clock: crate::clock::Clock,
}

/// A validated `[[clients]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEntry {
    /// Name in logs and audit lines.
    pub id: String,
    /// SHA-256 of the token.
    pub token_sha256: [u8; 32],
    /// May call `Check`.
    pub check: bool,
    /// May call `Ingest`.
    pub ingest: bool,
}

/// The validated `[audit]` table.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// File appended to.
    pub file: PathBuf,
    /// HMAC key.
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSettings")
            .field("file", &self.file)
            .field("hmac_key", &"<redacted>")
            .finish()
    }
}

/// Environment variable holding the audit HMAC key (hex); wins over `audit.hmac_key`.
pub const AUDIT_KEY_ENV: &str = "HOTZONE_AUDIT_KEY";

/// Shortest audit HMAC key accepted, in bytes.
pub const MIN_AUDIT_KEY_BYTES: usize = 16;

impl ServerConfig {
    /// Reads a TOML file; unknown keys and type errors name the file.
    pub fn load(path: &Path) -> Result<ServerConfig> {
        let text = crate::files::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg: ServerConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.data_dir = cfg.data_dir.map(|p| base.join(p));
        cfg.hotzones_file = cfg.hotzones_file.map(|p| base.join(p));
        if let Some(t) = &mut cfg.tls {
            t.cert = base.join(&t.cert);
            t.key = base.join(&t.key);
            t.client_ca = t.client_ca.as_ref().map(|p| base.join(p));
        }
        if let Some(a) = &mut cfg.audit {
            a.file = a.file.as_ref().map(|f| base.join(f));
        }
        let subs = &mut cfg.subscriptions;
        subs.dir = subs.dir.as_ref().map(|p| base.join(p));
        subs.sink_ca_file = subs.sink_ca_file.as_ref().map(|p| base.join(p));
        Ok(cfg)
    }

    /// Validates every key, reporting all problems at once. `origin` names where the values
    /// came from (the config file, or `<flags>`), for the error.
    pub fn resolve(&self, origin: &Path) -> Result<ServerSettings> {
        let mut errors: Vec<String> = Vec::new();
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "listen: {} is not an IP address and port (host names are not resolved: 127.0.0.1:50051, [::1]:50051)",
                    shown_address(&self.listen)
                ))
            })
            .ok();
        let data_dir = self.data_dir.clone();
        if data_dir.is_none() {
            errors.push("data_dir: is required (set it in the file or pass --data)".to_owned());
        }
        let tz = self
            .tz
            .parse::<Tz>()
            .map_err(|_| {
                errors.push(format!(
                    "tz: {} is not an IANA time zone name",
                    shown(&self.tz)
                ))
            })
            .ok();
        if !(1..=MAX_LOOK_BACK_DAYS).contains(&self.max_look_back_days) {
            errors.push(format!(
                "max_look_back_days: must be between 1 and {MAX_LOOK_BACK_DAYS} (got {})",
                self.max_look_back_days
            ));
        }
        if let Some(r) = self.retention_days.filter(|r| *r < self.max_look_back_days) {
            errors.push(format!(
                "retention_days: must be at least max_look_back_days ({}) (got {r})",
                self.max_look_back_days
            ));
        }
        let default_hotzone = match &self.default_hotzone {
            None => None,
            Some(items) => Hotzone::parse_items("default_hotzone", items)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
                .map(Arc::new),
        };
        let named_hotzones = match &self.hotzones_file {
            None => NamedHotzones::default(),
            Some(p) => NamedHotzones::load(p)
                .map_err(|e| errors.push(format!("hotzones_file: {e}")))
                .unwrap_or_default(),
        };
        let default_region = match &self.default_region {
            None => None,
            Some(r) => {
                let region = Region::parse(r);
                if region.is_none() {
                    errors.push(format!(
                        "default_region: {} is not {}",
                        shown(r),
                        crate::model::region::REGION_RULE
                    ));
                }
                region
            }
        };
        let metrics_listen = match &self.metrics_listen {
            None => None,
            Some(m) => m
                .parse::<SocketAddr>()
                .map_err(|_| {
                    errors.push(format!("metrics_listen: {} is not an IP address and port (host names are not resolved: 127.0.0.1:50051, [::1]:50051)", shown_address(m)))
                })
                .ok(),
        };
        let clients = self.resolve_clients(&mut errors);
        let http_listen = match &self.http_listen {
            None => None,
            Some(m) => m
                .parse::<SocketAddr>()
                .map_err(|_| errors.push(format!("http_listen: {} is not an IP address and port (host names are not resolved: 127.0.0.1:50051, [::1]:50051)", shown_address(m))))
                .ok(),
        };
        let subscriptions = self
            .subscriptions
            .resolved(data_dir.as_deref(), &mut errors);
        let p = &self.policy;
        if !(p.client_checks_per_s >= 0.0 && p.client_checks_per_s.is_finite()) {
            errors.push("policy.client_checks_per_s: must be a finite number >= 0".to_owned());
        }
        if !(p.number_checks_per_hour >= 0.0 && p.number_checks_per_hour.is_finite()) {
            errors.push("policy.number_checks_per_hour: must be a finite number >= 0".to_owned());
        }
        if p.client_burst == 0 || p.number_burst == 0 {
            errors.push("policy.client_burst, policy.number_burst: must be >= 1".to_owned());
        }
        if p.number_table_max == 0 {
            errors.push("policy.number_table_max: must be >= 1".to_owned());
        }
        if !(1..=15).contains(&p.max_prefix_digits) {
            errors.push("policy.max_prefix_digits: must be between 1 and 15".to_owned());
        }
        if !(1..=crate::model::hotzone::MAX_ENTRIES).contains(&usize::from(p.min_hotzone_entries)) {
            errors.push(format!(
                "policy.min_hotzone_entries: must be between 1 and {}",
                crate::model::hotzone::MAX_ENTRIES
            ));
        }
        if self.worker_threads > MAX_WORKER_THREADS {
            errors.push(format!(
                "worker_threads: must be at most {MAX_WORKER_THREADS} (0: one per CPU)"
            ));
        }
        let l = &self.limits;
        if l.max_request_bytes < 1024 {
            errors.push("limits.max_request_bytes: must be at least 1024".to_owned());
        }
        // Places (calls, streams, connections) past a million are no bound, and near
        // usize::MAX the semaphores that hold them panicked at start.
        for (key, v) in [
            ("limits.max_concurrent_calls", l.max_concurrent_calls),
            ("limits.max_concurrent_ingests", l.max_concurrent_ingests),
            ("limits.max_ingests_per_client", l.max_ingests_per_client),
            ("limits.max_connections", l.max_connections),
            (
                "limits.max_connections_per_address",
                l.max_connections_per_address,
            ),
        ] {
            if !(1..=MAX_PLACES).contains(&v) {
                errors.push(format!("{key}: must be between 1 and {MAX_PLACES}"));
            }
        }
        // Past a day, a timeout is no bound (and near u64::MAX the deadline overflowed: every
        // Ingest panicked).
        for (key, v) in [
            ("limits.ingest_timeout_s", l.ingest_timeout_s),
            ("limits.ingest_idle_timeout_s", l.ingest_idle_timeout_s),
            ("limits.check_timeout_s", l.check_timeout_s),
            ("limits.write_stall_timeout_s", l.write_stall_timeout_s),
            ("limits.keepalive_timeout_s", l.keepalive_timeout_s),
        ] {
            if !(1..=MAX_TIMEOUT_S).contains(&v) {
                errors.push(format!(
                    "{key}: must be between 1 and {MAX_TIMEOUT_S} (a day)"
                ));
            }
        }
        for (key, v) in [
            ("limits.keepalive_interval_s", l.keepalive_interval_s),
            ("limits.max_connection_age_s", l.max_connection_age_s),
        ] {
            if v > MAX_TIMEOUT_S {
                errors.push(format!(
                    "{key}: must be between 0 (off) and {MAX_TIMEOUT_S} (a day)"
                ));
            }
        }
        if l.max_pending_ingest_records < crate::service::ingest::MAX_RECORDS_PER_CALL {
            errors.push(format!(
                "limits.max_pending_ingest_records: must be at least {} (the records of one Ingest call)",
                crate::service::ingest::MAX_RECORDS_PER_CALL
            ));
        }
        if l.max_streams_per_connection == 0 {
            errors.push("limits.max_streams_per_connection: must be >= 1".to_owned());
        }
        if !(65_535..=(1 << 31) - 1).contains(&l.stream_window_bytes) {
            errors.push(
                "limits.stream_window_bytes: must be between 65535 and 2147483647".to_owned(),
            );
        }
        if !(65_535..=(1 << 31) - 1).contains(&l.connection_window_bytes) {
            errors.push(
                "limits.connection_window_bytes: must be between 65535 and 2147483647".to_owned(),
            );
        } else if l.max_streams_per_connection > max_streams_for_window(l.connection_window_bytes) {
            errors.push(format!(
                "limits.max_streams_per_connection: must be at most {} with connection_window_bytes \
                 {} (max(connection_window_bytes / 2, 25600) / {SMALL_FRAME_COST}): the HTTP/2 \
                 layer ends a connection holding more small unread DATA frames than that, which \
                 a client with that many calls in flight reaches whenever the server is busy",
                max_streams_for_window(l.connection_window_bytes),
                l.connection_window_bytes
            ));
        }
        let audit = match &self.audit {
            None => None,
            Some(AuditConfig { file: None, .. }) => {
                errors.push(
                    "audit.file: is required with [audit] (the file audit lines are appended to; or --audit-log)"
                        .to_owned(),
                );
                None
            }
            Some(
                a @ AuditConfig {
                    file: Some(file), ..
                },
            ) => match a.hmac_key.as_deref().map(hex::decode) {
                None => {
                    errors.push(format!(
                        "audit.hmac_key: is required with audit.file (set {AUDIT_KEY_ENV} to {MIN_AUDIT_KEY_BYTES}+ random bytes in hex)"
                    ));
                    None
                }
                Some(Ok(k)) if k.len() >= MIN_AUDIT_KEY_BYTES => Some(AuditSettings {
                    file: file.clone(),
                    hmac_key: k,
                }),
                Some(_) => {
                    // Never echo the value: it is a secret.
                    errors.push(format!(
                        "audit.hmac_key (or {AUDIT_KEY_ENV}, which wins over it): must be hex of at least {MIN_AUDIT_KEY_BYTES} bytes"
                    ));
                    None
                }
            },
        };
        match (errors.is_empty(), listen, data_dir, tz) {
            (true, Some(listen), Some(data_dir), Some(tz)) => Ok(ServerSettings {
                listen,
                data_dir,
                tz,
                max_look_back_days: self.max_look_back_days,
                default_hotzone,
                named_hotzones,
                default_region,
                poll_interval: (self.poll_interval_s > 0)
                    .then(|| Duration::from_secs(self.poll_interval_s)),
                retention_days: self.retention_days,
                metrics_listen,
                worker_threads: self.worker_threads,
                clients,
                tls: self.tls.clone(),
                policy: self.policy.clone(),
                limits: self.limits.clone(),
                audit,
                http_listen,
                subscriptions,
                clock: crate::clock::Clock::SYSTEM,
            }),
            _ => Err(Error::Config {
                path: origin.to_owned(),
                message: errors.join("; "),
            }),
        }
    }
}

impl ServerConfig {
    fn resolve_clients(&self, errors: &mut Vec<String>) -> Vec<ClientEntry> {
        let mut out: Vec<ClientEntry> = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let at = format!("clients[{i}]");
            if c.id.is_empty()
                || !c
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            {
                errors.push(format!("{at}.id: must be non-empty [A-Za-z0-9-_.:]"));
            }
            if out.iter().any(|o| o.id == c.id) {
                errors.push(format!("{at}.id: {:?} is listed twice", c.id));
            }
            let hash = hex::decode(&c.token_sha256)
                .ok()
                .and_then(|h| <[u8; 32]>::try_from(h).ok());
            if hash.is_none() {
                errors.push(format!(
                    "{at}.token_sha256: must be 64 hex digits (the SHA-256 of the token, not the token)"
                ));
            }
            // The hash of no token at all (`printf %s "$TOKEN" | sha256sum` with TOKEN unset):
            // no bearer token can match it, so the client could never call.
            if c.token_sha256.eq_ignore_ascii_case(EMPTY_TOKEN_SHA256) {
                errors.push(format!(
                    "{at}.token_sha256: is the SHA-256 of an empty token (was the token variable unset?)"
                ));
            }
            let (mut check, mut ingest) = (false, false);
            for s in &c.scopes {
                match s.as_str() {
                    "check" => check = true,
                    "ingest" => ingest = true,
                    other => errors.push(format!(
                        "{at}.scopes: {other:?} is not a scope (check, ingest)"
                    )),
                }
            }
            if let Some(token_sha256) = hash {
                if out.iter().any(|o| o.token_sha256 == token_sha256) {
                    errors.push(format!("{at}.token_sha256: shared with another client"));
                }
                out.push(ClientEntry {
                    id: c.id.clone(),
                    token_sha256,
                    check,
                    ingest,
                });
            }
        }
        out
    }
}

/// SHA-256 of the empty string.
const EMPTY_TOKEN_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Refuses to expose an unauthenticated service: without `[[clients]]`, the listen address
/// must be loopback unless `insecure` (`hotzone serve --insecure`) says otherwise.
pub fn check_exposure(settings: &ServerSettings, insecure: bool) -> Result<()> {
    let exposed = std::iter::once(("listen", settings.listen))
        .chain(settings.http_listen.map(|a| ("http_listen", a)))
        .find(|(_, a)| !a.ip().is_loopback());
    if let Some((key, addr)) = exposed.filter(|_| settings.clients.is_empty() && !insecure) {
        return Err(Error::Config {
            path: PathBuf::from(format!("<{key}>")),
            message: format!(
                "refusing to listen on {addr} without authentication: configure [[clients]] \
                 (see RELIABILITY.md), listen on a loopback address, or pass --insecure"
            ),
        });
    }
    Ok(())
}

impl ServerSettings {
    /// Settings for a data directory with every other key at its default (tests, examples).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> ServerSettings {
        // Derived from the defaults of `ServerConfig`, so the two can never disagree.
        ServerConfig {
            data_dir: Some(data_dir.into()),
            ..ServerConfig::default()
        }
        .resolve(Path::new("<defaults>"))
        .expect("the default configuration with a data directory is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_full_file() {
        let cfg: ServerConfig = toml::from_str("data_dir = \"/d\"").unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:50051");
        assert_eq!(cfg.max_look_back_days, 90);
        assert_eq!(cfg.poll_interval_s, 10);
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.tz, Tz::UTC);
        assert_eq!(s.poll_interval, Some(Duration::from_secs(10)));
        let cfg: ServerConfig = toml::from_str(
            "listen = \"0.0.0.0:1\"\ndata_dir = \"/d\"\ntz = \"Asia/Taipei\"\nmax_look_back_days = 30\n\
             default_hotzone = [\"NG\", \"+882\"]\ndefault_region = \"TW\"\npoll_interval_s = 0",
        )
        .unwrap();
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.max_look_back_days, 30);
        assert_eq!(s.default_hotzone.unwrap().to_string(), "NG,+882");
        assert_eq!(s.poll_interval, None);
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/server.example.toml");
        let cfg = ServerConfig::load(&path).unwrap();
        assert_eq!(cfg, ServerConfig::default());
    }

    #[test]
    fn security_tables_parse_and_validate() {
        let hash = "a".repeat(64);
        let text = format!(
            "data_dir = \"/d\"\nmetrics_listen = \"127.0.0.1:9100\"\nworker_threads = 1\n\
             [[clients]]\nid = \"bank-a\"\ntoken_sha256 = \"{hash}\"\nscopes = [\"check\", \"ingest\"]\n\
             [policy]\nsuppress_anomaly_date = true\nmin_hotzone_entries = 3\nmax_prefix_digits = 6\nnumber_checks_per_hour = 10\n\
             [limits]\nmax_concurrent_calls = 8\n\
             [audit]\nfile = \"audit.jsonl\"\nhmac_key = \"{}\"\n",
            "0f".repeat(16)
        );
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.clients.len(), 1);
        assert!(s.clients[0].check && s.clients[0].ingest);
        assert!(s.policy.suppress_anomaly_date);
        assert_eq!(s.policy.max_prefix_digits, 6);
        assert_eq!(
            PolicyConfig::default().max_prefix_digits,
            15,
            "no cap by default"
        );
        let mut capped = ServerConfig {
            data_dir: Some("/d".into()),
            ..ServerConfig::default()
        };
        for cap in [0, 16] {
            capped.policy.max_prefix_digits = cap;
            let e = capped.resolve(Path::new("x.toml")).unwrap_err().to_string();
            assert!(
                e.contains("policy.max_prefix_digits: must be between 1 and 15"),
                "{e}"
            );
        }
        assert_eq!(s.limits.max_concurrent_calls, 8);
        assert_eq!(s.worker_threads, 1);
        assert_eq!(s.audit.as_ref().unwrap().hmac_key.len(), 16);
        assert!(!format!("{:?}", s.audit).contains("0f0f"));

        let bad = ServerConfig {
            data_dir: Some("/d".into()),
            clients: vec![ClientConfig {
                id: "x y".into(),
                token_sha256: "secret-token".into(),
                scopes: vec!["admin".into()],
            }],
            audit: Some(AuditConfig {
                file: Some("a".into()),
                hmac_key: Some("abcd".into()),
            }),
            ..ServerConfig::default()
        };
        let e = bad.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in ["clients[0].id", "token_sha256", "scopes", "audit.hmac_key"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(!e.contains("abcd"), "{e}");
        // A client that could never call: the hash of no token. (A client with no scope is
        // one: it reaches health, reflection and metrics when they need a token.)
        let useless = ServerConfig {
            data_dir: Some("/d".into()),
            clients: vec![ClientConfig {
                id: "x".into(),
                token_sha256: EMPTY_TOKEN_SHA256.to_uppercase(),
                scopes: vec![],
            }],
            ..ServerConfig::default()
        };
        let e = useless
            .resolve(Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SHA-256 of an empty token"), "{e}");
        assert!(!e.contains("scopes"), "{e}");
        // `[audit]` may hold the key alone (the file then comes from `--audit-log`); with no
        // file from either, the start is refused by name.
        let text = format!(
            "data_dir = \"/d\"\n[audit]\nhmac_key = \"{}\"\n",
            "0f".repeat(16)
        );
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let e = cfg
            .clone()
            .resolve(Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("audit.file: is required"), "{e}");
        let mut with_file = cfg;
        with_file.audit.as_mut().unwrap().file = Some("audit.jsonl".into());
        let s = with_file.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.audit.unwrap().file, PathBuf::from("audit.jsonl"));
    }

    #[test]
    fn timeouts_and_runtime_threads_have_an_upper_bound() {
        let text = "data_dir = \"/d\"\nworker_threads = 100000\n[limits]\n\
                    ingest_timeout_s = 18446744073709551615\ningest_idle_timeout_s = 86401\n\
                    check_timeout_s = 86400\nkeepalive_timeout_s = 0\n\
                    keepalive_interval_s = 86401\nmax_connection_age_s = 86401\n";
        let cfg: ServerConfig = toml::from_str(text).unwrap();
        let e = cfg.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in [
            "worker_threads: must be at most 1024",
            "limits.ingest_timeout_s: must be between 1 and 86400",
            "limits.ingest_idle_timeout_s: must be between 1 and 86400",
            "limits.keepalive_timeout_s: must be between 1 and 86400",
            "limits.keepalive_interval_s: must be between 0 (off) and 86400",
            "limits.max_connection_age_s: must be between 0 (off) and 86400",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(!e.contains("check_timeout_s"), "{e}");
        // 0 turns the PINGs and the age bound off.
        let off =
            "data_dir = \"/d\"\n[limits]\nkeepalive_interval_s = 0\nmax_connection_age_s = 0\n";
        let cfg: ServerConfig = toml::from_str(off).unwrap();
        assert!(cfg.resolve(Path::new("x.toml")).is_ok());
    }

    #[test]
    fn ingest_and_http2_limits_are_validated_together() {
        let text = "data_dir = \"/d\"\n[limits]\nmax_concurrent_ingests = 0\n\
                    max_ingests_per_client = 0\ningest_idle_timeout_s = 0\n\
                    max_pending_ingest_records = 10\nmax_streams_per_connection = 0\n\
                    stream_window_bytes = 10\nconnection_window_bytes = 4294967295\n";
        let cfg: ServerConfig = toml::from_str(text).unwrap();
        let e = cfg.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in [
            "limits.max_concurrent_ingests",
            "limits.max_ingests_per_client",
            "limits.ingest_idle_timeout_s",
            "limits.max_pending_ingest_records",
            "limits.max_streams_per_connection",
            "limits.stream_window_bytes",
            "limits.connection_window_bytes",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    /// Places and callback settings past their bounds are refused by name (near usize::MAX
    /// the semaphores panicked at start; a first backoff of hours was taken as given).
    #[test]
    fn places_and_callback_settings_have_upper_bounds() {
        let huge = "9223372036854775807";
        let text = format!(
            "data_dir = \"/d\"\n[limits]\nmax_concurrent_calls = {huge}\n\
             max_concurrent_ingests = {huge}\nmax_connections = {huge}\n\
             max_connections_per_address = {huge}\nmax_ingests_per_client = {huge}\n\
             [subscriptions]\nsink_concurrency = {huge}\nsink_backoff_ms = {huge}\n\
             sink_timeout_ms = {huge}\nsink_attempts = 4294967295\n\
             max_subscriptions_per_client = 0\n"
        );
        let cfg: ServerConfig = toml::from_str(&text).unwrap();
        let e = cfg.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in [
            "limits.max_concurrent_calls: must be between 1 and 1000000",
            "limits.max_concurrent_ingests: must be between 1 and 1000000",
            "limits.max_connections: must be between 1 and 1000000",
            "limits.max_connections_per_address: must be between 1 and 1000000",
            "limits.max_ingests_per_client: must be between 1 and 1000000",
            "subscriptions.sink_concurrency: must be between 1 and 1000000",
            "subscriptions.sink_backoff_ms: must be between 0 and 60000",
            "subscriptions.sink_timeout_ms: must be between 1 and 86400000",
            "subscriptions.sink_attempts: must be between 1 and 100",
            "subscriptions.max_subscriptions_per_client: must be >= 1",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let at_bounds = "data_dir = \"/d\"\n[limits]\nmax_concurrent_calls = 1000000\n\
                         [subscriptions]\nsink_backoff_ms = 60000\nsink_attempts = 100\n";
        let cfg: ServerConfig = toml::from_str(at_bounds).unwrap();
        assert!(cfg.resolve(Path::new("x.toml")).is_ok());
    }

    #[test]
    fn streams_per_connection_fit_the_small_frame_budget() {
        let resolve = |streams: u32, window: u32| {
            let text = format!(
                "data_dir = \"/d\"\n[limits]\nmax_streams_per_connection = {streams}\n\
                 connection_window_bytes = {window}\n"
            );
            let cfg: ServerConfig = toml::from_str(&text).unwrap();
            cfg.resolve(Path::new("x.toml")).map_err(|e| e.to_string())
        };
        // The defaults fit with room to spare; the smallest window still holds 100 streams.
        assert!(
            default_max_streams_per_connection()
                <= max_streams_for_window(default_connection_window_bytes())
        );
        assert_eq!(max_streams_for_window(65_535), 127);
        assert_eq!(max_streams_for_window(1 << 20), 2048);
        assert!(resolve(2048, 1 << 20).is_ok());
        let e = resolve(2049, 1 << 20).unwrap_err();
        assert!(
            e.contains("limits.max_streams_per_connection: must be at most 2048 with connection_window_bytes 1048576"),
            "{e}"
        );
        assert!(resolve(127, 65_535).is_ok());
        assert!(resolve(128, 65_535).is_err());
        // A larger window allows more.
        assert!(resolve(4000, 4 << 20).is_ok());
    }

    #[test]
    fn no_auth_means_loopback_only_unless_insecure() {
        let mut s = ServerSettings::for_data_dir("/d");
        assert!(check_exposure(&s, false).is_ok());
        s.listen = "0.0.0.0:50051".parse().unwrap();
        let e = check_exposure(&s, false).unwrap_err().to_string();
        assert!(e.contains("--insecure"), "{e}");
        assert!(check_exposure(&s, true).is_ok());
        s.clients.push(ClientEntry {
            id: "a".into(),
            token_sha256: [0; 32],
            check: true,
            ingest: false,
        });
        assert!(check_exposure(&s, false).is_ok());
        s.clients.clear();
        s.listen = "[::1]:1".parse().unwrap();
        assert!(check_exposure(&s, false).is_ok());
    }

    #[test]
    fn rest_and_subscription_keys() {
        let cfg: ServerConfig = toml::from_str(
            "data_dir = \"/d\"\nhttp_listen = \"127.0.0.1:8080\"\n\
             [subscriptions]\nallow_insecure_sinks = true\nsink_attempts = 2\n",
        )
        .unwrap();
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.http_listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert!(s.subscriptions.allow_insecure_sinks);
        assert_eq!(s.subscriptions.sink_attempts, 2);
        assert_eq!(
            s.subscriptions.dir,
            Some(PathBuf::from("/d/.subscriptions"))
        );
        // An exposed REST port needs authentication like the gRPC one.
        let mut s = s;
        assert!(check_exposure(&s, false).is_ok());
        s.http_listen = Some("0.0.0.0:8080".parse().unwrap());
        let e = check_exposure(&s, false).unwrap_err().to_string();
        assert!(
            e.contains("0.0.0.0:8080") && e.contains("<http_listen>"),
            "{e}"
        );
        assert!(check_exposure(&s, true).is_ok());
        let bad = ServerConfig {
            data_dir: Some("/d".into()),
            http_listen: Some("nowhere".into()),
            subscriptions: SubscriptionsConfig {
                sink_attempts: 0,
                sink_concurrency: 0,
                ..SubscriptionsConfig::default()
            },
            ..ServerConfig::default()
        };
        let e = bad.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in ["http_listen", "sink_attempts", "sink_concurrency"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ServerConfig>("data_dir = \"/d\"\nretention = 3").is_err());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let cfg = ServerConfig {
            listen: "nowhere".into(),
            tz: "Mars/Base".into(),
            max_look_back_days: 91,
            default_hotzone: Some(vec!["Nigeria".into()]),
            default_region: Some("tw".into()),
            ..ServerConfig::default()
        };
        let e = cfg.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in [
            "listen",
            "data_dir",
            "tz",
            "max_look_back_days",
            "default_hotzone",
            "default_region",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}

/// `[subscriptions]`: where anomaly subscriptions are kept and how their callbacks are sent.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionsConfig {
    /// Directory of the subscription files (one JSON file each, fsynced before the 201).
    /// Default `<data_dir>/.subscriptions` (hidden, so data scans skip it).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Accept `http` sinks and sinks on loopback, private or link-local addresses (tests and
    /// closed networks only). Default false: a sink must be `https` on a public address.
    #[serde(default)]
    pub allow_insecure_sinks: bool,
    /// PEM file of the CAs trusted for `https` sinks. Default: the system bundle
    /// `/etc/ssl/certs/ca-certificates.crt`.
    #[serde(default)]
    pub sink_ca_file: Option<PathBuf>,
    /// Longest one callback POST may take, connect to response (milliseconds). Default 5000.
    #[serde(default = "default_sink_timeout_ms")]
    pub sink_timeout_ms: u64,
    /// Attempts per callback (the first one included); a 2xx ends them. Default 5.
    #[serde(default = "default_sink_attempts")]
    pub sink_attempts: u32,
    /// Wait before the second attempt (milliseconds), doubled after each further failure.
    /// Default 1000.
    #[serde(default = "default_sink_backoff_ms")]
    pub sink_backoff_ms: u64,
    /// Callbacks being sent at once, at most a quarter of them (at least one) to one sink
    /// host and port; more wait in a queue (bounded by `max_subscriptions`). Default 64.
    #[serde(default = "default_sink_concurrency")]
    pub sink_concurrency: usize,
    /// Most live subscriptions; one more is refused (429 TOO_MANY_REQUESTS). Default 1000000.
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions: usize,
    /// Most live subscriptions of one client, so that one client cannot take the whole of
    /// `max_subscriptions`; one more is refused (429). Default 100000.
    #[serde(default = "default_max_subscriptions_per_client")]
    pub max_subscriptions_per_client: usize,
}

fn default_sink_timeout_ms() -> u64 {
    5000
}

fn default_sink_attempts() -> u32 {
    5
}

fn default_sink_backoff_ms() -> u64 {
    1000
}

fn default_sink_concurrency() -> usize {
    64
}

fn default_max_subscriptions() -> usize {
    1_000_000
}

fn default_max_subscriptions_per_client() -> usize {
    100_000
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        SubscriptionsConfig {
            dir: None,
            allow_insecure_sinks: false,
            sink_ca_file: None,
            sink_timeout_ms: default_sink_timeout_ms(),
            sink_attempts: default_sink_attempts(),
            sink_backoff_ms: default_sink_backoff_ms(),
            sink_concurrency: default_sink_concurrency(),
            max_subscriptions: default_max_subscriptions(),
            max_subscriptions_per_client: default_max_subscriptions_per_client(),
        }
    }
}

impl SubscriptionsConfig {
    /// Checked, with `dir` defaulted under the data directory.
    fn resolved(&self, data_dir: Option<&Path>, errors: &mut Vec<String>) -> SubscriptionsConfig {
        let mut s = self.clone();
        if !(1..=MAX_TIMEOUT_S * 1000).contains(&s.sink_timeout_ms) {
            errors.push(format!(
                "subscriptions.sink_timeout_ms: must be between 1 and {} (a day)",
                MAX_TIMEOUT_S * 1000
            ));
        }
        if !(1..=MAX_SINK_ATTEMPTS).contains(&s.sink_attempts) {
            errors.push(format!(
                "subscriptions.sink_attempts: must be between 1 and {MAX_SINK_ATTEMPTS}"
            ));
        }
        if s.sink_backoff_ms > MAX_SINK_BACKOFF_MS {
            errors.push(format!(
                "subscriptions.sink_backoff_ms: must be between 0 and {MAX_SINK_BACKOFF_MS} (the backoff stops at a minute)"
            ));
        }
        if !(1..=MAX_PLACES).contains(&s.sink_concurrency) {
            errors.push(format!(
                "subscriptions.sink_concurrency: must be between 1 and {MAX_PLACES}"
            ));
        }
        if s.max_subscriptions == 0 {
            errors.push("subscriptions.max_subscriptions: must be >= 1".to_owned());
        }
        if s.max_subscriptions_per_client == 0 {
            errors.push("subscriptions.max_subscriptions_per_client: must be >= 1 (0 would refuse every subscription)".to_owned());
        }
        if s.dir.is_none() {
            s.dir = data_dir.map(|d| d.join(".subscriptions"));
        }
        s
    }
}
