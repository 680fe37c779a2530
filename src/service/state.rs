//! [`AppState`]: what every handler shares: the settings, the swappable index snapshot, the
//! catalog of the files behind it, the health reporter, and the guards around the handlers
//! (authentication, rate limits, the concurrency gate, the audit log, the metrics).
//!
//! # Why these primitives
//! - The snapshot is an [`ArcSwapOption`]: a check loads it with one atomic read and never
//!   waits, whatever a reload or an ingest is doing. `None` means "not loaded yet"
//!   (UNAVAILABLE).
//! - Every *writer* of the snapshot (the loader's swap, an ingest's write-and-add) holds the
//!   [`Catalog`] mutex, a `tokio::sync::Mutex` because an ingest holds it across an `.await`
//!   (the durable write runs on the blocking pool). Writers serialised by one lock cannot
//!   lose each other's updates: each one reads the current snapshot and stores its successor
//!   while no other writer can run. Index builds (seconds) happen *outside* the lock.
//!
//! # Invariant
//! The published snapshot holds exactly the events of `catalog.base` (the file listing the
//! base segment was built from) plus one segment per `catalog.deltas` entry (files written by
//! `Ingest` and not in that listing; one file per delta until the loader merges deltas, see
//! [`super::reload`]). No file is counted twice and no acknowledged file is missing;
//! [`super::reload`] and [`super::ingest`] keep it so.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::ServerSettings;
use crate::error::{Error, Result};
use crate::index::{ServingIndex, Snapshot};
use crate::ingest::IngestOptions;
use crate::model::hotzone::Hotzone;
use crate::service::audit::Auditor;
use crate::service::auth::Authenticator;
use crate::service::limits::{Gate, IngestGate, RateLimiter};
use crate::service::metrics::Metrics;

/// A file's identity for change detection: size, modification time and, on Unix, the inode
/// and its change time. A writer can set a file's modification time back (`cp -p`, `rsync
/// -t`, `touch -r`) after rewriting it with the same size; it cannot set the change time,
/// which the kernel moves on every write, so such a rewrite is still seen as a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Bytes.
    pub len: u64,
    /// Last modification, when the file system reports one.
    pub modified: Option<SystemTime>,
    /// Device and inode number (Unix): a file replaced by another under its name differs.
    pub inode: Option<(u64, u64)>,
    /// Last change of the inode, seconds and nanoseconds (Unix).
    pub changed: Option<(i64, i64)>,
}

impl FileStamp {
    /// The stamp of a file from its metadata.
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let (inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (
                Some((meta.dev(), meta.ino())),
                Some((meta.ctime(), meta.ctime_nsec())),
            )
        };
        #[cfg(not(unix))]
        let (inode, changed) = (None, None);
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
            changed,
        }
    }
}

/// The data files found in the data directory, by path.
pub type Listing = BTreeMap<PathBuf, FileStamp>;

/// A segment added by `Ingest` after the base was built, with the files that hold its records:
/// the one file its ingest wrote, or the files of the deltas the loader merged into it.
#[derive(Clone)]
pub struct Delta {
    /// The files written by the ingests, each with its stamp right after the write: one for
    /// a delta not merged yet, two or more for a merged one.
    pub files: Vec<(PathBuf, FileStamp)>,
    /// Their records, indexed.
    pub segment: Arc<ServingIndex>,
}

impl Delta {
    /// The delta of one ingest's file.
    pub fn ingested(path: PathBuf, stamp: FileStamp, segment: Arc<ServingIndex>) -> Delta {
        Delta {
            files: vec![(path, stamp)],
            segment,
        }
    }
}

/// The files behind the published snapshot. Guarded by the lock of [`AppState::lock_catalog`].
#[derive(Default)]
pub struct Catalog {
    /// Files the base segment was built from.
    pub base: Listing,
    /// Ingested files added after that build, in ingest order.
    pub deltas: Vec<Delta>,
    /// Files of `base`'s listing left out because they could not be read (with the error).
    /// They stay in `base` with their stamp, so they are retried only once they change.
    pub skipped: BTreeMap<PathBuf, String>,
    /// When the base was last built (`None` before the first load): with `retention_days`,
    /// a fold a day after it rebuilds the base, so that old days leave memory.
    pub base_built: Option<std::time::Instant>,
    /// The last rebuild not swapped in because a file the served base read could not be
    /// read any more (`reload::rebuild`), when that file's bytes were at fault (not an I/O
    /// error, which the next poll tries again).
    pub refused: Option<Refusal>,
}

/// A rebuild refused for files the served base read that cannot be read now
/// (`reload::rebuild`): while the directory shows the same files but for ingests, no rebuild
/// is tried again (unless the error was the file system's: then at the poll interval) and
/// ingested segments are merged beside the served base; any other change is rebuilt.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The listing that rebuild read.
    pub listing: Listing,
    /// Whether a file failed on an I/O error rather than on its bytes.
    pub transient: bool,
    /// The served files (of the base or of a delta) that could not be read.
    pub lost: Vec<PathBuf>,
    /// When it was refused.
    pub at: std::time::Instant,
}

impl Catalog {
    /// True when the snapshot holds what `listing` (a listing of the data directory taken
    /// before this lock) shows: every file of the base and every ingested file it shows, with
    /// their stamps, and no other file. An ingested file missing from it that still exists
    /// was written after the listing was taken, which is no change of the directory (an ingest
    /// landing between a listing and this look made every fold a rebuild of the base); one
    /// that no longer exists was deleted. Stats those few files, so it takes a moment.
    pub fn holds(&self, listing: &Listing) -> bool {
        if !self.base.iter().all(|(p, s)| listing.get(p) == Some(s)) {
            return false;
        }
        let mut shown = self.base.len();
        for (path, stamp) in self.deltas.iter().flat_map(|d| &d.files) {
            match listing.get(path) {
                Some(s) if s == stamp => shown += 1,
                Some(_) => return false,
                None if path.exists() => {}
                None => return false,
            }
        }
        shown == listing.len()
    }

    /// Deltas not merged yet: those of one file, at the end of the list (merged deltas, of
    /// several files each, come first).
    pub fn new_deltas(&self) -> usize {
        self.deltas
            .iter()
            .rev()
            .take_while(|d| d.files.len() == 1)
            .count()
    }
}

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ServerSettings,
    ingest: IngestOptions,
    named: HashMap<String, Arc<Hotzone>>,
    snapshot: ArcSwapOption<Snapshot>,
    catalog: tokio::sync::Mutex<Catalog>,
    health: HealthReporter,
    auth: Authenticator,
    limiter: RateLimiter,
    gate: Gate,
    ingest_gate: IngestGate,
    compact: tokio::sync::Notify,
    audit: Auditor,
    metrics: Metrics,
    metrics_addr: OnceLock<SocketAddr>,
    http_addr: OnceLock<SocketAddr>,
    /// Bumped at every publish: the subscription notifier waits on it.
    published: tokio::sync::watch::Sender<u64>,
    /// `Ingest` stores under way (`service::Api::ingest` runs each in a task of its own):
    /// the stop waits for them.
    stores: tokio::sync::watch::Sender<usize>,
    callbacks: crate::service::rest::notify::CallbackMetrics,
    id: u64,
}

/// Source of [`AppState::id`].
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl AppState {
    /// State for validated settings; nothing is loaded yet (checks answer UNAVAILABLE).
    ///
    /// # Panics
    /// When the audit file cannot be opened; [`AppState::try_new`] returns that error.
    pub fn new(settings: ServerSettings) -> AppState {
        match AppState::try_new(settings) {
            Ok(s) => s,
            Err(e) => panic!("server state: {e}"),
        }
    }

    /// Like [`AppState::new`]; fails when the audit file cannot be opened.
    pub fn try_new(settings: ServerSettings) -> Result<AppState> {
        let named = settings
            .named_hotzones
            .names()
            .filter_map(|n| {
                settings
                    .named_hotzones
                    .get(n)
                    .map(|h| (n.to_owned(), Arc::new(h.clone())))
            })
            .collect();
        // The server lists no rejected row (its logs count them by reason).
        let ingest = IngestOptions {
            default_region: settings.default_region,
            count_rejects_only: true,
            ..IngestOptions::default()
        };
        let audit = match &settings.audit {
            Some(a) => Auditor::open(a)?,
            None => Auditor::off(),
        };
        Ok(AppState {
            inner: Arc::new(Inner {
                auth: Authenticator::new(&settings.clients),
                limiter: RateLimiter::new(&settings.policy),
                gate: Gate::new(settings.limits.max_concurrent_calls),
                ingest_gate: IngestGate::new(
                    settings.limits.max_concurrent_ingests,
                    settings.limits.max_ingests_per_client,
                    settings.limits.max_pending_ingest_records,
                ),
                compact: tokio::sync::Notify::new(),
                audit,
                metrics: Metrics::default(),
                metrics_addr: OnceLock::new(),
                http_addr: OnceLock::new(),
                published: tokio::sync::watch::Sender::new(0),
                stores: tokio::sync::watch::Sender::new(0),
                callbacks: Default::default(),
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                settings,
                ingest,
                named,
                snapshot: ArcSwapOption::empty(),
                catalog: tokio::sync::Mutex::new(Catalog::default()),
                health: HealthReporter::new(),
            }),
        })
    }

    /// The token check.
    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// The rate limits.
    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The concurrency gate of checks.
    pub fn gate(&self) -> &Gate {
        &self.inner.gate
    }

    /// The budget of `Ingest` streams.
    pub fn ingest_gate(&self) -> &IngestGate {
        &self.inner.ingest_gate
    }

    /// Asks the loader to fold the ingested segments now (an ingest that brought the deltas
    /// not merged yet to [`super::reload::MAX_DELTAS`]), whether or not it polls.
    pub fn request_compaction(&self) {
        self.inner.compact.notify_one();
    }

    /// Completes after [`AppState::request_compaction`] (a request made while nobody waits
    /// is kept for the next wait).
    pub async fn compaction_requested(&self) {
        self.inner.compact.notified().await;
    }

    /// The audit log and number tags.
    pub fn audit(&self) -> &Auditor {
        &self.inner.audit
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Counts an `Ingest` store as under way until the guard is dropped.
    pub(crate) fn store_begun(&self) -> StoreUnderWay {
        self.inner.stores.send_modify(|n| *n += 1);
        StoreUnderWay(self.clone())
    }

    /// Resolves once no `Ingest` store is under way.
    pub(crate) async fn stores_done(&self) {
        let mut stores = self.inner.stores.subscribe();
        let _ = stores.wait_for(|n| *n == 0).await;
    }

    /// The Prometheus text of this server's metrics.
    pub fn render_metrics(&self) -> String {
        let mut text = self.inner.metrics.render(
            self.inner.gate.in_flight(),
            self.inner.ingest_gate.in_flight(),
            self.inner.audit.write_failures(),
            self.inner.settings.clock.now_ms(),
        );
        self.inner.callbacks.render(&mut text);
        text
    }

    /// The counters of subscriptions and their callbacks.
    pub fn callback_metrics(&self) -> &crate::service::rest::notify::CallbackMetrics {
        &self.inner.callbacks
    }

    /// Where the REST API listens, once bound.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.inner.http_addr.get().copied()
    }

    /// Records the bound REST address.
    pub fn set_http_addr(&self, addr: SocketAddr) {
        let _ = self.inner.http_addr.set(addr);
    }

    /// A receiver that changes at every publish of a snapshot.
    pub fn watch_published(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.published.subscribe()
    }

    /// Where the metrics endpoint listens, once bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.inner.metrics_addr.get().copied()
    }

    /// Records the bound metrics address.
    pub fn set_metrics_addr(&self, addr: SocketAddr) {
        let _ = self.inner.metrics_addr.set(addr);
    }

    /// The settings.
    pub fn settings(&self) -> &ServerSettings {
        &self.inner.settings
    }

    /// How files and ingested records are interpreted.
    pub fn ingest_options(&self) -> &IngestOptions {
        &self.inner.ingest
    }

    /// A named hotzone.
    pub fn named_hotzone(&self, name: &str) -> Option<Arc<Hotzone>> {
        self.inner.named.get(name).cloned()
    }

    /// The published snapshot, or UNAVAILABLE before the first load. Never blocks.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.inner.snapshot.load_full().ok_or_else(not_loaded)
    }

    /// Whether the data is loaded (`UNAVAILABLE` before), without taking a reference.
    pub fn loaded(&self) -> Result<()> {
        match self.inner.snapshot.load().as_ref() {
            Some(_) => Ok(()),
            None => Err(not_loaded()),
        }
    }

    /// The published snapshot without touching its reference count (the per-check path);
    /// `None` before the first load.
    pub fn snapshot_guard(&self) -> arc_swap::Guard<Option<Arc<Snapshot>>> {
        self.inner.snapshot.load()
    }

    /// A number unique to this state among all states of the process (keys of per-thread
    /// caches that must not mix two servers' settings).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// True once a snapshot has been published.
    pub fn is_loaded(&self) -> bool {
        self.inner.snapshot.load().is_some()
    }

    /// Locks the catalog: the caller is now the only writer of the snapshot.
    pub async fn lock_catalog(&self) -> tokio::sync::MutexGuard<'_, Catalog> {
        self.inner.catalog.lock().await
    }

    /// [`AppState::lock_catalog`] from outside the async runtime (tools, fuzz harnesses).
    ///
    /// # Panics
    /// When called from inside an async runtime.
    pub fn lock_catalog_blocking(&self) -> tokio::sync::MutexGuard<'_, Catalog> {
        self.inner.catalog.blocking_lock()
    }

    /// Publishes `snap`. Call only while holding the catalog lock (the guard proves it).
    pub fn publish(&self, _proof: &tokio::sync::MutexGuard<'_, Catalog>, snap: Snapshot) {
        self.inner.metrics.published(&snap);
        self.inner.snapshot.store(Some(Arc::new(snap)));
        self.inner.published.send_modify(|n| *n += 1);
    }

    /// The health reporter the health service reads.
    pub fn health(&self) -> &HealthReporter {
        &self.inner.health
    }

    /// Sets the overall ("") and `fraudhotzone.v1.FraudHotzone` health statuses.
    pub async fn set_health(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.inner.health.set_service_status("", status).await;
        self.inner
            .health
            .set_service_status(super::pb::SERVICE_NAME, status)
            .await;
    }
}

/// The answer before the first load.
pub(crate) fn not_loaded() -> Error {
    Error::Unavailable("the data is not loaded yet; retry later".to_owned())
}

/// An `Ingest` store under way ([`AppState::store_begun`]); dropped when it is done.
pub(crate) struct StoreUnderWay(AppState);

impl Drop for StoreUnderWay {
    fn drop(&mut self) {
        self.0
            .inner
            .stores
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}
