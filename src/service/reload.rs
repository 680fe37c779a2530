//! The loader: builds the index from the data directory at start-up, then polls the directory
//! and rebuilds when its files change, swapping the new snapshot in atomically.
//!
//! Ingested segments are folded into a rebuilt base once [`MAX_DELTAS`] of them pile up: the
//! ingest that reaches that count wakes this loop ([`AppState::request_compaction`]), so this
//! happens with `poll_interval_s = 0` too.
//!
//! Builds run on the blocking pool ([`tokio::task::spawn_blocking`]), never on the async
//! runtime that answers checks, and without holding the catalog lock: checks keep answering
//! from the previous snapshot and ingests keep landing while a rebuild runs. A failed load is
//! logged and the previous snapshot stays (before the first success, checks answer
//! UNAVAILABLE and the loader retries).
//!
//! # Unreadable files
//! A file that cannot be read at all (corrupt, truncated Parquet footer, vanished, no
//! permission) does not fail the reload: it is logged with its error, left out, and the
//! rebuild retried without it (at most [`MAX_SKIPPED`] files per reload; more than that and
//! the reload fails, keeping the previous snapshot). A skipped file stays in the catalog's
//! listing with its stamp, so it is retried once it changes (an exporter finishing it).
//! Rows of a half-written CSV that cannot be interpreted are rejected rows, counted in the
//! load's summary like any other. `hotzone_reload_skipped_files` shows the count.
//!
//! # Not losing ingests during a rebuild
//! A rebuild reads exactly the files of the listing it took (not the directory again), so the
//! base holds those files and no others. At the swap (under the catalog lock) it keeps the
//! delta segments whose files are *not* in that listing: those were written by an ingest
//! after the listing and are not in the new base. Deltas whose files are in the listing are
//! dropped because the base now holds them. An ingest renames its file and registers its delta
//! in one critical section of the same lock, so every ingested file is either in the listing
//! or registered as a delta by the time the swap runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::index::{ServingIndex, Snapshot};
use crate::ingest::{IngestReport, sources};
use crate::service::state::{AppState, FileStamp, Listing};

/// Rebuild once this many ingested segments have piled up, even without other changes, so a
/// check never walks a long list of small segments.
pub const MAX_DELTAS: usize = 16;

/// Most unreadable files one reload skips before it gives up.
pub const MAX_SKIPPED: usize = 64;

/// How long to wait between attempts of the first load when polling is off.
const FIRST_LOAD_RETRY: Duration = Duration::from_secs(10);

/// Runs forever: first load (retried until it succeeds), then a scan every poll interval.
/// The server aborts this task at shutdown.
pub async fn run(state: AppState) {
    let retry = state.settings().poll_interval.unwrap_or(FIRST_LOAD_RETRY);
    let data_dir = state.settings().data_dir.clone();
    let cleanup =
        tokio::task::spawn_blocking(move || super::ingest::remove_stale_temp_files(&data_dir));
    if let Ok(Err(e)) = cleanup.await {
        tracing::warn!(error = %e, "could not clean up temporary ingest files");
    }
    loop {
        match reload(&state).await {
            Ok(_) => break,
            Err(e) => {
                state.metrics().reload(false, 0);
                tracing::error!(error = %e, retry_s = retry.as_secs(), "loading the data directory failed; checks answer UNAVAILABLE until it succeeds");
                tokio::time::sleep(retry).await;
            }
        }
    }
    // Without polling the ticker never fires (a year between ticks); an ingest that piles up
    // MAX_DELTAS segments still wakes the loop, so compaction never depends on polling.
    let every = state
        .settings()
        .poll_interval
        .unwrap_or(Duration::from_secs(365 * 24 * 3600));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = state.compaction_requested() => {}
        }
        if let Err(e) = reload(&state).await {
            state.metrics().reload(false, 0);
            tracing::error!(error = %e, "reloading the data directory failed; still serving the previous data");
        }
    }
}

/// Scans the data directory and, when its files differ from the snapshot's (or ingested
/// segments have piled up, or nothing is loaded yet), rebuilds the base and swaps it in.
/// Returns whether a new snapshot was published.
pub async fn reload(state: &AppState) -> Result<bool> {
    let dir = state.settings().data_dir.clone();
    let listing = blocking(move || list(&dir)).await?;
    {
        let catalog = state.lock_catalog().await;
        if state.is_loaded() && catalog.known() == listing && catalog.deltas.len() < MAX_DELTAS {
            return Ok(false);
        }
    }
    let started = Instant::now();
    let tz = state.settings().tz;
    let retention = state.settings().retention_days;
    let mut skipped: BTreeMap<PathBuf, String> = BTreeMap::new();
    let (base, report) = loop {
        let inputs: Vec<String> = listing
            .keys()
            .filter(|p| !skipped.contains_key(*p))
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if inputs.is_empty() {
            break (ServingIndex::empty(tz), IngestReport::default());
        }
        let opts = state.ingest_options().clone();
        match blocking(move || ServingIndex::load_retained(&inputs, &opts, tz, retention)).await {
            Ok(built) => break built,
            Err(e) => match failing_file(&e) {
                Some(p)
                    if listing.contains_key(p)
                        && !skipped.contains_key(p)
                        && skipped.len() < MAX_SKIPPED =>
                {
                    tracing::error!(file = %p.display(), error = %e, "unreadable data file: skipped; the rest is loaded");
                    skipped.insert(p.to_owned(), e.to_string());
                }
                _ => return Err(e),
            },
        }
    };
    let stats = base.stats();
    // Files of the directory that no reload reads (their names give no known format): said
    // in the log, so that a compressed or extensionless export is not taken for loaded.
    let dir = state.settings().data_dir.clone();
    let unread = blocking(move || Ok(sources::expand_data_dir(&dir).map_or(0, |e| e.unread.len())))
        .await
        .unwrap_or(0);
    let base = Arc::new(base);
    let first = {
        let mut catalog = state.lock_catalog().await;
        // Keep the deltas written after the listing; a delta whose file was deleted since goes.
        catalog
            .deltas
            .retain(|d| !listing.contains_key(&d.path) && d.path.exists());
        let mut segments = vec![base];
        segments.extend(catalog.deltas.iter().map(|d| d.segment.clone()));
        let first = !state.is_loaded();
        state.publish(&catalog, Snapshot::new(segments));
        catalog.base = listing;
        catalog.skipped = skipped;
        state.metrics().reload(true, catalog.skipped.len());
        first
    };
    tracing::info!(
        files = report.files,
        rows = report.rows,
        events = report.events,
        unknown_counterparties = report.unknown_counterparties,
        rejected = %report.rejects.summary(),
        unread_files = unread,
        subscribers = stats.subscribers,
        counterparties = stats.counterparties,
        index_bytes = stats.bytes,
        bytes_per_event = format_args!("{:.1}", stats.bytes as f64 / stats.events.max(1) as f64),
        build_ms = started.elapsed().as_millis() as u64,
        "index built and swapped in"
    );
    if first {
        state.set_health(true).await;
    }
    Ok(true)
}

/// The file an error is about, when it is about one file.
fn failing_file(e: &Error) -> Option<&Path> {
    match e {
        Error::Io { path, .. } | Error::Read { path, .. } | Error::RejectedRow { path, .. } => {
            Some(path)
        }
        _ => None,
    }
}

/// The data files under `dir` (the same filter as `scan`'s directory inputs), with stamps.
/// A file that vanishes between the walk and its stat is left out.
pub fn list(dir: &Path) -> Result<Listing> {
    let files = sources::expand_data_dir(dir)?.files;
    let mut out = Listing::new();
    for (path, _) in files {
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        out.insert(path, FileStamp::of(&meta));
    }
    Ok(out)
}

/// Runs CPU or disk work on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a blocking task failed: {e}")))?
}
