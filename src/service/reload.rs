//! The loader: builds the index from the data directory at start-up, then polls the directory
//! and rebuilds when its files change, swapping the new snapshot in atomically.
//!
//! # Ingested segments
//! Every `Ingest` adds a small segment (a delta) to the snapshot; a check visits each. Once
//! [`MAX_DELTAS`] of them pile up since the last fold, the ingest that reaches that count
//! wakes this loop ([`AppState::request_compaction`]), so this happens with
//! `poll_interval_s = 0` too, and the loop folds them ([`fold_plan`]):
//! - while all deltas hold fewer than half as many events as the base, it **merges** the new
//!   deltas into one, re-reading only their files, and then the older merged deltas no more
//!   than twice the size of what is being merged. Merged deltas so at least halve from oldest
//!   to newest: a check visits the base, at most a logarithm's worth of merged deltas and
//!   [`MAX_DELTAS`] new ones (more while a fold is under way and ingests keep landing), and an
//!   ingested event is re-read a logarithm's worth of times (the segment that holds it grows
//!   by half each time);
//! - once the deltas hold half the base's events or more, it **rebuilds** the base from every
//!   file (ingested ones included), as a change of the directory does. The base grows by at
//!   least half between two such rebuilds (less when retention drops days), so their cost per
//!   ingested event stays bounded however large the base is (before, every 16th ingest
//!   rebuilt the whole base: seconds of CPU and the build's peak memory for a large operator);
//! - with `retention_days`, the first fold [`RETENTION_REBUILD`] or more after the last
//!   rebuild is a rebuild too: merges keep every day they read, and days older than the
//!   retention leave memory only when the base is rebuilt.
//!
//! A merge publishes the same events in fewer segments: no answer changes. It checks that
//! the files it re-read hold as many events as the segments it replaces and still carry the
//! stamps they had when ingested; otherwise it gives up and the loop rebuilds the base.
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
//! delta segments none of whose files is in that listing: those were written by an ingest
//! after the listing and are not in the new base. Deltas whose files are in the listing are
//! dropped because the base now holds them (under their own names, or another's: a hard
//! link to an ingested file that sorts before it is the name the listing keeps). An ingest renames its file and registers its delta
//! in one critical section of the same lock, so every ingested file is either in the listing
//! or registered as a delta by the time the swap runs. A merged delta is never split by a
//! rebuild: merges and rebuilds both run in this one loop, one after the other, so all the
//! files of a merged delta were written before any later rebuild took its listing (each is
//! in it, or was deleted since).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::index::{ServingIndex, Snapshot};
use crate::ingest::{IngestReport, sources};
use crate::service::state::{AppState, Delta, FileStamp, Listing, Refusal};

/// Fold ingested segments once this many have piled up, even without other changes, so a
/// check never walks a long list of small segments.
pub const MAX_DELTAS: usize = 16;

/// What the loader does with the ingested segments once [`MAX_DELTAS`] have piled up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    /// Rebuild the base from every file: the deltas hold half the base's events or more.
    Rebuild,
    /// Merge the deltas from this position on into one.
    Merge {
        /// The first delta merged.
        from: usize,
    },
}

/// The fold for a base of `base` events and deltas of `deltas` events each, oldest first, the
/// last `new` of them not merged yet (see the module's docs). With every older delta more
/// than twice the size of the next, the deltas after a merge are so too.
pub fn fold_plan(base: u64, deltas: &[u64], new: usize) -> Fold {
    if sum(deltas).saturating_mul(2) >= base {
        return Fold::Rebuild;
    }
    Fold::Merge {
        from: merge_from(deltas, new),
    }
}

fn sum(d: &[u64]) -> u64 {
    d.iter().fold(0u64, |a, &x| a.saturating_add(x))
}

/// The first delta a merge of the last `new` takes: older ones join while they are no more
/// than twice what is merged so far.
fn merge_from(deltas: &[u64], new: usize) -> usize {
    let mut from = deltas.len() - new.min(deltas.len());
    let mut merged = sum(&deltas[from..]);
    while from > 0 && deltas[from - 1] <= merged.saturating_mul(2) {
        from -= 1;
        merged = merged.saturating_add(deltas[from]);
    }
    from
}

/// With `retention_days`, a fold this long after the last rebuild of the base rebuilds it.
pub const RETENTION_REBUILD: Duration = Duration::from_secs(24 * 3600);

/// True when a fold must rebuild the base so that days past `retention_days` leave memory:
/// retention is on and the base was built [`RETENTION_REBUILD`] or more ago.
pub fn retention_due(retention_days: Option<u16>, base_age: Option<Duration>) -> bool {
    retention_days.is_some() && base_age.is_some_and(|age| age >= RETENTION_REBUILD)
}

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
            Err(e) if shut_down(&e) => return,
            Err(e) => {
                state.metrics().reload(false, 0);
                tracing::error!(error = %logged(&e), retry_s = retry.as_secs(), "loading the data directory failed; checks answer UNAVAILABLE until it succeeds");
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
        match reload(&state).await {
            Ok(_) => {}
            Err(e) if shut_down(&e) => return,
            Err(e) => {
                state.metrics().reload(false, 0);
                tracing::error!(error = %logged(&e), "reloading the data directory failed; still serving the previous data");
            }
        }
    }
}

/// Scans the data directory and, when its files differ from the snapshot's (or nothing is
/// loaded yet), rebuilds the base and swaps it in; when only ingested segments have piled up,
/// folds them ([`fold_plan`]). Returns whether a new snapshot was published.
///
/// One call at a time: the loop of [`run`] is its caller (a test may call it while that loop
/// waits). Two at once could rebuild from a listing that a merge running beside it splits.
pub async fn reload(state: &AppState) -> Result<bool> {
    let dir = state.settings().data_dir.clone();
    let listing = blocking(move || list(&dir)).await?;
    let merge = {
        let catalog = state.lock_catalog().await;
        // While a rebuild stays refused (a file the served data came from cannot be read),
        // a directory showing the same files but for ingests is not rebuilt again (an I/O
        // error is tried again at the poll interval): its ingests are merged beside the
        // served base instead, however large they grow.
        let ingests = state.settings().data_dir.join(super::ingest::INGEST_DIR);
        let waits = catalog.refused.as_ref().is_some_and(|r| {
            let retry = state.settings().poll_interval.unwrap_or(FIRST_LOAD_RETRY);
            state.is_loaded()
                && !(r.transient && r.at.elapsed() >= retry)
                && same_but_ingests(&r.listing, &listing, &ingests)
        });
        if waits {
            match catalog.new_deltas() < MAX_DELTAS {
                true => return Ok(false),
                false => {
                    let sizes: Vec<u64> = (catalog.deltas.iter())
                        .map(|d| d.segment.stats().events)
                        .collect();
                    // Not a delta whose file is lost (its segment stays as it is, serving):
                    // the merge takes the deltas after it.
                    let after_lost = (catalog.refused.as_ref())
                        .and_then(|r| {
                            (catalog.deltas.iter())
                                .rposition(|d| d.files.iter().any(|(p, _)| r.lost.contains(p)))
                        })
                        .map_or(0, |i| i + 1);
                    let from = merge_from(&sizes, catalog.new_deltas()).max(after_lost);
                    if catalog.deltas.len() - from < 2 {
                        return Ok(false);
                    }
                    Some(catalog.deltas[from..].to_vec())
                }
            }
        } else if !state.is_loaded() || !catalog.holds(&listing) {
            None
        } else if catalog.new_deltas() < MAX_DELTAS {
            return Ok(false);
        } else if retention_due(
            state.settings().retention_days,
            catalog.base_built.map(|t| t.elapsed()),
        ) {
            None
        } else {
            // Under the lock the snapshot is the base and then the deltas.
            let base = state.snapshot()?.segments()[0].stats().events;
            let sizes: Vec<u64> = catalog
                .deltas
                .iter()
                .map(|d| d.segment.stats().events)
                .collect();
            match fold_plan(base, &sizes, catalog.new_deltas()) {
                Fold::Rebuild => None,
                Fold::Merge { from } => Some(catalog.deltas[from..].to_vec()),
            }
        }
    };
    if let Some(deltas) = merge {
        match merge_deltas(state, deltas).await {
            Ok(()) => return Ok(true),
            Err(e) if shut_down(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %logged(&e), "merging ingested segments failed; rebuilding the index from every file instead");
            }
        }
    }
    rebuild(state, listing).await
}

/// Whether listings `a` and `b` show the same files with the same stamps, but for the
/// ingested files (under `ingests`).
fn same_but_ingests(a: &Listing, b: &Listing, ingests: &Path) -> bool {
    let data = |l: &'_ Listing| {
        l.iter()
            .filter(|(p, _)| !p.starts_with(ingests))
            .map(|(p, s)| (p.clone(), *s))
            .collect::<Vec<_>>()
    };
    data(a) == data(b)
}

/// Merges `deltas` (a run of the catalog's deltas, oldest first) into one delta built from
/// their files, and publishes the snapshot with it in their place.
async fn merge_deltas(state: &AppState, deltas: Vec<Delta>) -> Result<()> {
    let started = Instant::now();
    let files: Vec<(PathBuf, FileStamp)> = deltas
        .iter()
        .flat_map(|d| d.files.iter().cloned())
        .collect();
    let events: u64 = deltas.iter().map(|d| d.segment.stats().events).sum();
    let inputs: Vec<String> = files
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect();
    let opts = state.ingest_options().clone();
    let tz = state.settings().tz;
    let stamps = files.clone();
    let (segment, report) = blocking(move || {
        let built = ServingIndex::load(&inputs, &opts, tz)?;
        // A file rewritten since its ingest is no longer what its segment holds.
        for (path, stamp) in &stamps {
            let now = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
            if FileStamp::of(&now) != *stamp {
                return Err(Error::read(path, "changed since it was ingested"));
            }
        }
        Ok(built)
    })
    .await?;
    let merged = segment.stats().events;
    if merged != events || report.rejects.total() > 0 {
        let e = format!(
            "with the {} other ingested files merged with it, read {merged} events and {} rejected rows where their segments held {events} events",
            files.len() - 1,
            report.rejects.total()
        );
        return Err(Error::read(&files[0].0, e));
    }
    let mut catalog = state.lock_catalog().await;
    // Ingests only append deltas and only this loop removes them: the run is still there.
    let at = catalog
        .deltas
        .windows(deltas.len())
        .position(|w| {
            w.iter()
                .zip(&deltas)
                .all(|(a, b)| Arc::ptr_eq(&a.segment, &b.segment))
        })
        .ok_or_else(|| Error::Internal("the merged deltas left the catalog".to_owned()))?;
    let base = state.snapshot()?.segments()[0].clone();
    let segment = Arc::new(segment);
    let count = deltas.len();
    catalog.deltas.splice(
        at..at + count,
        [Delta {
            files,
            segment: segment.clone(),
        }],
    );
    let mut segments = vec![base];
    segments.extend(catalog.deltas.iter().map(|d| d.segment.clone()));
    state.publish(&catalog, Snapshot::new(segments));
    // Counted under the lock: whoever sees the deltas merged sees the count.
    state.metrics().merged();
    let left = catalog.deltas.len();
    drop(catalog);
    tracing::info!(
        merged_segments = count,
        events,
        segments_left = left + 1,
        build_ms = started.elapsed().as_millis() as u64,
        "ingested segments merged"
    );
    Ok(())
}

/// Rebuilds the base from the files of `listing` and swaps it in.
async fn rebuild(state: &AppState, listing: Listing) -> Result<bool> {
    let started = Instant::now();
    let tz = state.settings().tz;
    let settings = state.settings();
    let retention = settings.retention_days.map(|days| crate::index::Retention {
        days,
        today: settings.clock.today(tz),
    });
    let mut skipped: BTreeMap<PathBuf, String> = BTreeMap::new();
    // Skipped files whose error was the file system's (not their bytes): tried again.
    let mut transient: Vec<PathBuf> = Vec::new();
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
                    tracing::error!(file = %shown_file(p), error = %shown_error(&e, p), "unreadable data file: skipped; the rest is loaded");
                    if matches!(e, Error::Io { .. }) {
                        transient.push(p.to_owned());
                    }
                    skipped.insert(p.to_owned(), e.to_string());
                }
                _ => return Err(e),
            },
        }
    };
    let stats = base.stats();
    let epoch = crate::scan::epoch_warning(base.latest_day());
    // Files of the directory that no reload reads (their names give no known format): said
    // in the log, so that a compressed or extensionless export is not taken for loaded.
    let dir = state.settings().data_dir.clone();
    // A name that is not UTF-8 is not read either (`list` leaves it out).
    let unread = blocking(move || {
        Ok(sources::expand_data_dir(&dir).map(|e| {
            let odd = e.files.into_iter().map(|(p, _)| p);
            (e.unread.into_iter())
                .chain(odd.filter(|p| p.to_str().is_none()))
                .collect::<Vec<_>>()
        }))
    })
    .await
    .ok()
    .and_then(|r| r.ok())
    .unwrap_or_default();
    // The zone the files record, when it is not the server's: said at every rebuild (a file
    // dropped in later may record one). Not adopted: `tz` also says what "today" is for
    // checks without `as_of`, an operator's setting that data files should not change.
    let inputs: Vec<String> = listing
        .keys()
        .filter(|p| !skipped.contains_key(*p))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let recorded = blocking(move || sources::recorded_zone(&inputs)).await;
    match recorded {
        Ok(sources::RecordedZone::One { zone, .. }) if zone != tz.name() => {
            tracing::warn!(
                recorded = %zone,
                tz = %tz,
                "files of the data directory record another zone than the server's tz: days are read in tz"
            );
        }
        Ok(sources::RecordedZone::Conflict { first, second }) => {
            tracing::warn!(
                zones = %format_args!("{} and {}", first.1, second.1),
                tz = %tz,
                "files of the data directory record different zones: days are read in the server's tz"
            );
        }
        _ => {}
    }
    let base = Arc::new(base);
    let first = {
        let mut catalog = state.lock_catalog().await;
        // A file the served base read that cannot be read now (overwritten in place, cut
        // short, its bytes damaged) would take its rows out of every answer, and make the
        // subscriptions' verdicts change for no new data: the previous data keeps serving
        // until the file reads again or is removed. A new file that cannot be read (one
        // still being copied in) is skipped as before: it held nothing served.
        // A file served as empty (a placeholder of no bytes, since filled) held no rows; a
        // served file cut to no bytes in place (read as no rows) is lost as a damaged one is.
        // An ingested file is served too, by its delta: damaged on disk, its acknowledged
        // events would leave with it.
        let in_delta = |p: &PathBuf| {
            (catalog.deltas.iter())
                .flat_map(|d| &d.files)
                .any(|(f, s)| f == p && s.len > 0)
        };
        let served = |p: &PathBuf| {
            (catalog.base.get(p).is_some_and(|s| s.len > 0) && !catalog.skipped.contains_key(p))
                || in_delta(p)
        };
        let emptied = (listing.iter())
            .filter(|(p, s)| s.len == 0 && served(p))
            .map(|(p, _)| p);
        // A served file whose name now leads to no file (a symlink to a mount gone, a FIFO
        // put in its place) is lost for the file system's reason, not removed.
        let unreachable: Vec<&PathBuf> = (catalog.base.keys())
            .filter(|p| served(p) && !listing.contains_key(*p))
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()))
            .collect();
        let lost: Vec<&PathBuf> = (skipped.keys())
            .filter(|p| served(p))
            .chain(emptied)
            .chain(unreachable.iter().copied())
            .collect();
        if state.is_loaded() && !lost.is_empty() {
            tracing::error!(
                file = %shown_file(lost[0]),
                files = lost.len(),
                "a data file the served index was built from cannot be read now: still serving \
                 the previous data (and merging ingests), until the file reads again or is removed"
            );
            state.metrics().reload(false, skipped.len());
            // An I/O error is tried again at the poll interval; damaged bytes when a file
            // changes.
            let transient = (lost.iter()).any(|p| transient.contains(p) || unreachable.contains(p));
            catalog.refused = Some(Refusal {
                transient,
                lost: lost.into_iter().cloned().collect(),
                listing,
                at: Instant::now(),
            });
            return Ok(false);
        }
        catalog.refused = None;
        // Keep the deltas written after the listing; a delta with a file deleted since goes,
        // and so does one whose file the base read under another name (a hard link to it,
        // which the listing kept instead: one file, read once). That is the same inode with
        // the same stamp: a listed file deleted during the build can hand its inode number
        // to a later ingest's file, whose change time differs.
        let read: std::collections::HashMap<(u64, u64), FileStamp> = (listing.values())
            .filter_map(|s| Some((s.inode?, *s)))
            .collect();
        catalog.deltas.retain(|d| {
            d.files.iter().all(|(p, _)| {
                !listing.contains_key(p)
                    && std::fs::metadata(p).is_ok_and(|m| {
                        let now = FileStamp::of(&m);
                        now.inode.and_then(|i| read.get(&i)) != Some(&now)
                    })
            })
        });
        let mut segments = vec![base];
        segments.extend(catalog.deltas.iter().map(|d| d.segment.clone()));
        let first = !state.is_loaded();
        state.publish(&catalog, Snapshot::new(segments));
        catalog.base = listing;
        catalog.skipped = skipped;
        catalog.base_built = Some(started);
        state.metrics().reload(true, catalog.skipped.len());
        first
    };
    tracing::info!(
        files = report.files,
        rows = report.rows,
        events = report.events,
        unknown_counterparties = report.unknown_counterparties,
        rejected = %report.rejects.summary(),
        unread_files = unread.len(),
        subscribers = stats.subscribers,
        counterparties = stats.counterparties,
        index_bytes = stats.bytes,
        bytes_per_event = format_args!("{:.1}", stats.bytes as f64 / stats.events.max(1) as f64),
        build_ms = started.elapsed().as_millis() as u64,
        "index built and swapped in"
    );
    if let Some(w) = epoch {
        tracing::warn!("{w}");
    }
    if !unread.is_empty() {
        // Their kinds, not their names (a per-subscriber export may be named by the number).
        let mut kinds: Vec<String> = unread
            .iter()
            .map(|p| {
                p.extension().map_or("no extension".to_owned(), |e| {
                    format!(".{}", e.to_string_lossy().to_lowercase())
                })
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        tracing::warn!(
            files = unread.len(),
            kinds = %kinds.join(", "),
            "files of the data directory not read: no known format (the server reads the exports, not a prepared .hzi), or a name that is not UTF-8"
        );
    }
    if first {
        state.set_health(true).await;
    }
    Ok(true)
}

/// A data file's path as the log writes it: a run of 7 digits or more in one of its names may
/// be a phone number (an export named by the subscriber), written as `#` each; a date spread
/// over directories (`2026/10/01`) is kept. A name holding `%XX` escapes (a `key=value`
/// directory as Spark and DuckDB write one: `subscriber=+886%2F912%2F345%2F678`, whose
/// escapes' letters split the digits) is judged unescaped, as the readers read it, and when
/// that holds such a run every digit of the name is written `#`.
fn shown_file(path: &Path) -> String {
    let text = crate::model::shown::shown_path(path);
    let names: Vec<_> = text.split('/').map(shown_name).collect();
    names.join("/")
}

/// One name of a path as [`shown_file`] writes it.
fn shown_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains('%') {
        // Lossy: an escape that is no UTF-8 (`%FF`) must not keep the rest from being read.
        let bytes = crate::ingest::partitions::unescaped_bytes(name);
        let plain = String::from_utf8_lossy(&bytes);
        if super::status::hidden_digits(&plain) != plain {
            let hidden = name.chars().map(|c| match c.is_numeric() {
                true => super::status::CORRELATOR_DIGIT_HIDDEN,
                false => c,
            });
            return std::borrow::Cow::Owned(hidden.collect());
        }
    }
    super::status::hidden_digits(name)
}

/// An error about `path` as the log writes it: the path in it written as [`shown_file`].
fn shown_error(e: &Error, path: &Path) -> String {
    let text = e.to_string();
    let raw = crate::model::shown::shown_path(path);
    match raw.is_empty() {
        true => text,
        false => text.replace(raw.as_ref(), &shown_file(path)),
    }
}

/// An error as the log writes it: the path of the file it is about as [`shown_file`].
fn logged(e: &Error) -> String {
    match failing_file(e) {
        Some(p) => shown_error(e, p),
        None => e.to_string(),
    }
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
/// A file that vanishes between the walk and its stat is left out, and so is one whose path
/// is not UTF-8 (the loader takes paths as text: such a name stopped every load; the
/// rebuild's warning of files not read counts it).
pub fn list(dir: &Path) -> Result<Listing> {
    let files = sources::expand_data_dir(dir)?.files;
    let mut out = Listing::new();
    for (path, _) in files.into_iter().filter(|(p, _)| p.to_str().is_some()) {
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
///
/// A task the runtime cancelled (it shuts down, and the task had not started) is
/// `Unavailable` ([`SHUTTING_DOWN`]): an ingest caught by a shutdown is told to retry, and the
/// loader stops without calling it a failed reload.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_cancelled() {
            Error::Unavailable(SHUTTING_DOWN.to_owned())
        } else {
            Error::Internal(format!("a blocking task failed: {e}"))
        }
    })?
}

/// The error of work the runtime cancelled because it is shutting down.
pub const SHUTTING_DOWN: &str = "the server is shutting down; retry later";

/// True for the error of [`blocking`] work cancelled by a shutdown.
fn shut_down(e: &Error) -> bool {
    matches!(e, Error::Unavailable(m) if m == SHUTTING_DOWN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Folds like the loader, on sizes alone, counting the events that merges and rebuilds
    /// re-read.
    struct Sim {
        base: u64,
        deltas: Vec<u64>,
        new: usize,
        merge_reads: u64,
        rebuild_reads: u64,
        ingested: u64,
    }

    impl Sim {
        fn ingest(&mut self, events: u64) {
            self.deltas.push(events);
            self.new += 1;
            self.ingested += events;
            if self.new < MAX_DELTAS {
                return;
            }
            match fold_plan(self.base, &self.deltas, self.new) {
                Fold::Rebuild => {
                    self.base += self.deltas.drain(..).sum::<u64>();
                    self.rebuild_reads += self.base;
                }
                Fold::Merge { from } => {
                    let merged: u64 = self.deltas.drain(from..).sum();
                    self.merge_reads += merged;
                    self.deltas.push(merged);
                    // Oldest to newest, each delta more than twice the next.
                    for w in self.deltas.windows(2) {
                        assert!(w[0] > 2 * w[1], "{:?}", self.deltas);
                    }
                    assert!(self.deltas.iter().sum::<u64>() * 2 < self.base);
                }
            }
            self.new = 0;
        }
    }

    proptest! {
        /// Whatever the ingests' sizes (each 1 to 10^6 events, in runs of one size), the
        /// segments stay few and no event is re-read more than a logarithm's worth of
        /// times: merges halve, rebuilds grow the base by half.
        #[test]
        fn folding_keeps_segments_few_and_rereads_logarithmic(
            base in 0u64..2_000_000,
            runs in prop::collection::vec((1u64..1_000_000, 1usize..400), 1..12),
        ) {
            let mut sim = Sim { base, deltas: Vec::new(), new: 0, merge_reads: 0, rebuild_reads: 0, ingested: 0 };
            for (size, count) in runs {
                for _ in 0..count {
                    sim.ingest(size);
                    let log2 = 64 - sim.ingested.leading_zeros() as usize;
                    prop_assert!(sim.deltas.len() <= MAX_DELTAS + log2, "{} deltas", sim.deltas.len());
                }
            }
            // A delta's events are read by the merge that takes them in first, then only when
            // their segment is merged as an older one, which makes it at least half again as
            // large: at most 1 + log1.5(ingested) reads each.
            let times = 1.0 + (sim.ingested as f64).ln() / 1.5f64.ln();
            prop_assert!(sim.merge_reads as f64 <= sim.ingested as f64 * times,
                "{} re-read for {} ingested", sim.merge_reads, sim.ingested);
            // Each rebuild reads a base at least half again as large as the previous one.
            prop_assert!(sim.rebuild_reads <= 3 * sim.base, "{} read for a base of {}", sim.rebuild_reads, sim.base);
        }
    }

    /// A path is logged with each run of 7 digits or more in one of its names hidden (in
    /// any script); a date spread over directories stays.
    #[test]
    fn a_data_file_is_logged_without_the_numbers_its_names_may_hold() {
        let shown = |p: &str| shown_file(Path::new(p));
        assert_eq!(shown("/data/+886912345678.csv"), "/data/+############.csv");
        assert_eq!(
            shown("/data/2026-10-01/0912-345-678.parquet"),
            "/data/####-##-##/####-###-###.parquet"
        );
        assert_eq!(
            shown("/data/2026/10/01/part-00001.csv"),
            "/data/2026/10/01/part-00001.csv"
        );
        let e = Error::read(Path::new("/d/886912345678.csv"), "row 3: an unclosed quote");
        let text = shown_error(&e, Path::new("/d/886912345678.csv"));
        assert!(
            text.contains("/d/############.csv") && text.contains("row 3"),
            "{text}"
        );
        assert!(!text.contains("886912345678"), "{text}");
        assert_eq!(
            shown("/d/+８８６９１２３４５６７８.csv"),
            "/d/+############.csv"
        );
        // A `key=value` directory as Spark and DuckDB escape it: the escapes' letters split
        // the digits, and the readers read the number unescaped.
        for escaped in [
            "subscriber=+886%2F912%2F345%2F678",
            "subscriber=%2B886%3A912%3A345%3A678",
            "subscriber=%2B886%2F912%2F345%2F678%FF",
        ] {
            let text = shown(&format!("/d/{escaped}/part-0.parquet"));
            assert!(!text.contains("912") && !text.contains("678"), "{text}");
            assert!(text.starts_with("/d/subscriber=") && text.ends_with("/part-0.parquet"));
        }
        // Escapes without a number stay readable.
        assert_eq!(
            shown("/d/region=a%20b/part=7/x.csv"),
            "/d/region=a%20b/part=7/x.csv"
        );
    }

    /// Work handed to the blocking pool of a runtime that is shutting down (an ingest that
    /// arrives as the server stops) is cancelled by the runtime: that is `Unavailable` with
    /// [`SHUTTING_DOWN`] (the ingest is told to retry, the loader stops quietly), never an
    /// internal error, and the work is not run.
    #[test]
    fn work_cancelled_by_a_shutdown_is_unavailable_not_a_bug() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let work = {
            let ran = ran.clone();
            move || {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
        };
        // Handed to the pool from inside the stopped runtime, which refuses it; awaited on
        // another runtime should the refusal not be known at the first poll.
        let mut queued = Box::pin(blocking(work));
        let first = {
            let _in = handle.enter();
            queued
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
        };
        let e = match first {
            Poll::Ready(out) => out,
            Poll::Pending => (tokio::runtime::Builder::new_current_thread().build())
                .unwrap()
                .block_on(queued),
        }
        .unwrap_err();
        assert!(shut_down(&e), "{e:?}");
        assert!(e.to_string().contains(SHUTTING_DOWN), "{e}");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn with_retention_a_fold_a_day_after_the_last_rebuild_rebuilds() {
        let day = RETENTION_REBUILD;
        assert!(retention_due(Some(90), Some(day)));
        assert!(!retention_due(Some(90), Some(day - Duration::from_secs(1))));
        assert!(
            !retention_due(None, Some(10 * day)),
            "no retention, no rebuild for it"
        );
        assert!(!retention_due(Some(90), None), "nothing built yet");
    }

    #[test]
    fn the_new_deltas_are_merged_with_the_older_ones_no_larger_than_twice_them() {
        // 16 new deltas of 10 events: 160; the 300 before them is merged too, the 1000 not.
        let mut deltas = vec![1000, 300];
        deltas.extend([10; MAX_DELTAS]);
        assert_eq!(
            fold_plan(10_000, &deltas, MAX_DELTAS),
            Fold::Merge { from: 1 }
        );
        // Half the base or more: rebuild.
        assert_eq!(fold_plan(2 * 1460, &deltas, MAX_DELTAS), Fold::Rebuild);
        assert_eq!(
            fold_plan(2 * 1460 + 1, &deltas, MAX_DELTAS),
            Fold::Merge { from: 1 }
        );
        // A base with no events is rebuilt.
        assert_eq!(fold_plan(0, &[1; MAX_DELTAS], MAX_DELTAS), Fold::Rebuild);
    }
}
