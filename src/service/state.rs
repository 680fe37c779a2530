//! [`AppState`]: what every handler shares: the settings, the swappable index snapshot, the
//! catalog of the files behind it, and the health reporter.
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
//! `Ingest` and not in that listing). No file is counted twice and no acknowledged file is
//! missing; [`super::reload`] and [`super::ingest`] keep it so.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::ServerSettings;
use crate::error::{Error, Result};
use crate::index::{ServingIndex, Snapshot};
use crate::ingest::IngestOptions;
use crate::model::hotzone::Hotzone;

/// A file's identity for change detection: size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Bytes.
    pub len: u64,
    /// Last modification, when the file system reports one.
    pub modified: Option<SystemTime>,
}

/// The data files found in the data directory, by path.
pub type Listing = BTreeMap<PathBuf, FileStamp>;

/// A segment added by `Ingest` after the base was built, with the file that holds its records.
#[derive(Clone)]
pub struct Delta {
    /// The file written by the ingest.
    pub path: PathBuf,
    /// Its stamp right after the write.
    pub stamp: FileStamp,
    /// Its records, indexed.
    pub segment: Arc<ServingIndex>,
}

/// The files behind the published snapshot. Guarded by the lock of [`AppState::lock_catalog`].
#[derive(Default)]
pub struct Catalog {
    /// Files the base segment was built from.
    pub base: Listing,
    /// Ingested files added after that build, in ingest order.
    pub deltas: Vec<Delta>,
}

impl Catalog {
    /// Every file the snapshot holds, with its stamp (what a data directory scan compares to).
    pub fn known(&self) -> Listing {
        let mut all = self.base.clone();
        for d in &self.deltas {
            all.insert(d.path.clone(), d.stamp);
        }
        all
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
}

impl AppState {
    /// State for validated settings; nothing is loaded yet (checks answer UNAVAILABLE).
    pub fn new(settings: ServerSettings) -> AppState {
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
        let ingest = IngestOptions {
            default_region: settings.default_region,
            ..IngestOptions::default()
        };
        AppState {
            inner: Arc::new(Inner {
                settings,
                ingest,
                named,
                snapshot: ArcSwapOption::empty(),
                catalog: tokio::sync::Mutex::new(Catalog::default()),
                health: HealthReporter::new(),
            }),
        }
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
        self.inner
            .snapshot
            .load_full()
            .ok_or_else(|| Error::Unavailable("the data is not loaded yet; retry later".to_owned()))
    }

    /// True once a snapshot has been published.
    pub fn is_loaded(&self) -> bool {
        self.inner.snapshot.load().is_some()
    }

    /// Locks the catalog: the caller is now the only writer of the snapshot.
    pub async fn lock_catalog(&self) -> tokio::sync::MutexGuard<'_, Catalog> {
        self.inner.catalog.lock().await
    }

    /// Publishes `snap`. Call only while holding the catalog lock (the guard proves it).
    pub fn publish(&self, _proof: &tokio::sync::MutexGuard<'_, Catalog>, snap: Snapshot) {
        self.inner.snapshot.store(Some(Arc::new(snap)));
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
