//! The `Ingest` RPC: records in, interpreted like file rows, written durably, then visible.
//!
//! Order of operations, and why:
//! 1. Every record goes through the same [`Interpreter`] as a file row; rejects are counted
//!    by reason key (nothing is silently dropped) and never stored.
//! 2. The accepted records are indexed into a new segment on the blocking pool, before any
//!    lock is taken.
//! 3. Under the catalog lock: the records are written as a CSV file (REFERENCE.md §2 columns,
//!    `event_time` as epoch milliseconds, numbers normalised to E.164) to a hidden temp file in
//!    `<data_dir>/ingest/`, fsynced, renamed into place, and the directory fsynced; then the
//!    segment is registered as a delta and the snapshot with it is published.
//! 4. Only then is the reply sent: an acknowledged record is on disk (it survives a crash and
//!    is loaded at restart) and `Check` already sees it.
//!
//! Holding the lock from the rename to the publish is what lets a concurrent rebuild tell
//! whether its base holds this file (see [`super::reload`]).
//!
//! The receive phase ([`receive`], step 1, waiting on the client) is bounded by
//! `limits.ingest_timeout_s` in all and by `limits.ingest_idle_timeout_s` between two
//! messages: past either the call ends with DEADLINE_EXCEEDED and nothing is stored. The
//! records it holds meanwhile count against `limits.max_pending_ingest_records` (see
//! [`IngestPermit::hold`]). A message tonic cannot decode (malformed protobuf, a cut frame) is
//! INVALID_ARGUMENT. A stream the client resets before its end (a cancel, its deadline) is
//! CANCELLED and nothing of it is stored: tonic reads a reset as the stream's end, so the
//! body is watched ([`watch_end`]) for how it ended.
//!
//! Steps 2-4 ([`store`]) run in a task of their own (`service::Api::ingest`): once every
//! record is in, the call's end (a reset or a deadline arriving after the client's last
//! message) does not stop them, and a stored upload is always published, logged, counted and
//! audited (its task being dropped in the write once left records on disk that nothing
//! recorded). Such a client sees CANCELLED or DEADLINE_EXCEEDED for records that were stored:
//! the audit line and the metrics say OK for them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use crate::error::{Error, Result};
use crate::index::ServingIndex;
use crate::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};
use crate::ingest::{Counterparty, Event};
use crate::service::limits::{IngestPermit, deadline_exceeded, idle_exceeded};
use crate::service::pb::{EventRecord, IngestRequest, IngestResponse};
use crate::service::reload::blocking;
use crate::service::state::{AppState, Delta, FileStamp};
use crate::service::status::{to_status, wire_status};
use crate::staged::{Staged, is_temporary, sync_dir};

/// Folder of the data directory that ingested files go to.
pub const INGEST_DIR: &str = "ingest";

/// Most records one `Ingest` call may carry (they are held in memory until written).
pub const MAX_RECORDS_PER_CALL: usize = 1_000_000;

/// One accepted record, normalised, as it will be written.
struct Accepted {
    event: Event,
    duration_s: Option<i64>,
}

/// The records of one `Ingest` call, all received, not yet stored.
pub struct Received {
    accepted: Vec<Accepted>,
    rejected: BTreeMap<String, u64>,
}

/// Receives one `Ingest` call's records (the receive phase). `permit` is the call's place in
/// the ingest budget; the records the call holds until they are stored are counted on it.
/// `end` says how the request stream ended: a stream the client reset before its end
/// (a cancel, its deadline) is refused and nothing of it is stored, though tonic reads a
/// reset as the stream's end.
pub async fn receive(
    state: &AppState,
    mut stream: Streaming<IngestRequest>,
    (correlator, end): (&str, Option<StreamEnd>),
    permit: &mut IngestPermit,
) -> Result<Received, Status> {
    // Refuse before reading anything: until the first load there is no snapshot to add to.
    state.snapshot().map_err(|e| to_status(&e, correlator))?;
    let mut interp = Interpreter::new(state.ingest_options().default_region);
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = 0usize;
    let limits = &state.settings().limits;
    let limit = std::time::Duration::from_secs(limits.ingest_timeout_s);
    let idle = std::time::Duration::from_secs(limits.ingest_idle_timeout_s);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let wait_until = deadline.min(tokio::time::Instant::now() + idle);
        let next = tokio::time::timeout_at(wait_until, stream.next())
            .await
            .map_err(|_| {
                if wait_until == deadline {
                    deadline_exceeded(limit)
                } else {
                    idle_exceeded(idle)
                }
            })?;
        let Some(msg) = next else {
            break;
        };
        // A malformed or cut message is the client's mistake, not an internal error.
        let msg = msg.map_err(wire_status)?;
        seen += msg.events.len();
        if seen > MAX_RECORDS_PER_CALL {
            let e = Error::out_of_range(
                "events",
                format!(
                    "must hold at most {MAX_RECORDS_PER_CALL} records per Ingest call; split the upload"
                ),
            );
            return Err(to_status(&e, correlator));
        }
        permit.hold(msg.events.len())?;
        for rec in &msg.events {
            match interp.interpret(&raw_row(rec)) {
                Ok(event) => accepted.push(Accepted {
                    event,
                    duration_s: rec.duration_s,
                }),
                Err(reason) => *rejected.entry(reason.key().to_owned()).or_insert(0) += 1,
            }
        }
    }
    if end.is_some_and(|e| e.was_reset()) {
        return Err(Status::cancelled(
            "the client reset the stream before its end: nothing of it is stored",
        ));
    }
    Ok(Received { accepted, rejected })
}

/// A write that failed for want of space (ENOSPC, EDQUOT) as `Unavailable`: nothing was
/// stored, and a retry once space is freed stores it, which a client cannot tell from the
/// `INTERNAL` of a fault of the server's own (a helper's pass). The path stays in the log.
fn out_of_space(e: Error, correlator: &str) -> Error {
    let full = match &e {
        Error::Write { message, .. } => {
            message.ends_with("(os error 28)") || message.ends_with("(os error 122)")
        }
        Error::Io { cause, .. } => matches!(cause.raw_os_error(), Some(28 | 122)),
        _ => false,
    };
    if !full {
        return e;
    }
    tracing::error!(correlator, error = %e, "ingest could not be stored: no space left");
    Error::Unavailable(
        "no space left on the server to store the records: nothing was stored; send them again later"
            .to_owned(),
    )
}

/// Stores received records (steps 2-4 of the module docs) and says what was stored.
pub async fn store(
    state: &AppState,
    received: Received,
    correlator: &str,
) -> Result<IngestResponse, Status> {
    let Received { accepted, rejected } = received;
    let n = accepted.len() as u64;
    let file = if accepted.is_empty() {
        String::new()
    } else {
        store_records(state, accepted)
            .await
            .map_err(|e| to_status(&out_of_space(e, correlator), correlator))?
    };
    tracing::info!(correlator, accepted = n, rejected = ?rejected, file = %file, "ingest stored");
    Ok(IngestResponse {
        accepted: n,
        rejected: rejected.into_iter().collect(),
        file,
    })
}

/// How an `Ingest` request stream ended, seen under tonic (which reads a client's reset of
/// the stream as its end): set by the body [`watch_end`] puts under the request.
#[derive(Clone, Debug, Default)]
pub struct StreamEnd(Arc<std::sync::atomic::AtomicBool>);

impl StreamEnd {
    /// The request body failed (a reset, the connection lost) before it ended.
    fn was_reset(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `req` (an `Ingest` call) with its body watched for how it ends: a [`StreamEnd`] in its
/// extensions says whether it was reset.
pub fn watch_end(req: http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> {
    let end = StreamEnd::default();
    let seen = end.clone();
    let mut req = req.map(|body| tonic::body::Body::new(Watched { body, end: seen }));
    req.extensions_mut().insert(end);
    req
}

/// A request body that records, in `end`, an error (a reset) before its end.
struct Watched {
    body: tonic::body::Body,
    end: StreamEnd,
}

impl http_body::Body for Watched {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Status>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Err(_))) = &polled {
            self.end.0.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The cells of one record. An `event_time_ms` not set is a missing event time; it has
/// presence (`optional`), so 0 is the epoch's first millisecond, as in a file.
fn raw_row(rec: &EventRecord) -> RawRow<'_> {
    RawRow {
        time: rec.event_time_ms.map(TimeCell::Millis),
        subscriber: Some(&rec.subscriber),
        counterparty: Some(&rec.counterparty),
        direction: Some(&rec.direction),
        kind: Some(&rec.kind),
        duration: rec.duration_s.map(DurationCell::Int),
        region: Some(&rec.counterparty_region),
        pre: Default::default(),
    }
}

/// Indexes, writes durably, registers and publishes; returns the file relative to the data
/// directory.
async fn store_records(state: &AppState, accepted: Vec<Accepted>) -> Result<String> {
    let tz = state.settings().tz;
    let accepted = Arc::new(accepted);
    let for_index = accepted.clone();
    let segment = blocking(move || {
        let events: Vec<Event> = for_index.iter().map(|a| a.event).collect();
        ServingIndex::from_events(&events, tz)
    })
    .await?;
    let data_dir = state.settings().data_dir.clone();
    let mut catalog = state.lock_catalog().await;
    // Read under the lock: no other writer can publish between this read and our publish.
    let current = state.snapshot()?;
    let (path, stamp) = blocking(move || write_durably(&data_dir, &accepted)).await?;
    let segment = Arc::new(segment);
    catalog
        .deltas
        .push(Delta::ingested(path.clone(), stamp, segment.clone()));
    state.publish(&catalog, current.with_segment(segment));
    let compact = catalog.new_deltas() >= crate::service::reload::MAX_DELTAS;
    drop(catalog);
    if compact {
        state.request_compaction();
    }
    let rel = path
        .strip_prefix(&state.settings().data_dir)
        .unwrap_or(&path);
    Ok(rel.to_string_lossy().into_owned())
}

/// Writes the records to `<data_dir>/ingest/<unique>.csv`: temp file, fsync, atomic rename,
/// fsync of the directory. Returns the final path and its stamp.
fn write_durably(data_dir: &Path, records: &[Accepted]) -> Result<(PathBuf, FileStamp)> {
    let dir = data_dir.join(INGEST_DIR);
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        sync_dir(data_dir)?;
    }
    let path = unique_name(&dir);
    let staged = Staged::new(&path)?;
    let tmp = staged.path();
    // The file holds phone numbers: owner only, as the subscription store's files.
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(staged.create(true)?));
    w.write_record(HEADER).map_err(|e| Error::write(tmp, e))?;
    for a in records {
        write_record(&mut w, a).map_err(|e| Error::write(tmp, e))?;
    }
    let buffered = w.into_inner().map_err(|e| Error::write(tmp, e.error()))?;
    drop(
        buffered
            .into_inner()
            .map_err(|e| Error::write(tmp, e.into_error()))?,
    );
    staged.commit_durably()?;
    let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    Ok((path, FileStamp::of(&meta)))
}

/// The columns of an ingested file (REFERENCE.md §2).
const HEADER: [&str; 7] = [
    "event_time",
    "subscriber",
    "counterparty",
    "direction",
    "kind",
    "duration_s",
    "counterparty_region",
];

fn write_record<W: Write>(w: &mut csv::Writer<W>, a: &Accepted) -> csv::Result<()> {
    let e = &a.event;
    let (counterparty, region) = match e.counterparty {
        Counterparty::Unknown => (String::new(), ""),
        Counterparty::Number(n) => (n.to_string(), ""),
        Counterparty::NumberInRegion(n, ref r) => (n.to_string(), r.as_str()),
    };
    let direction = if e.flavor & 2 == 2 { "out" } else { "in" };
    let kind = if e.flavor & 1 == 1 { "sms" } else { "call" };
    let duration = a.duration_s.map(|d| d.to_string()).unwrap_or_default();
    w.write_record([
        e.time_ms.to_string().as_str(),
        e.subscriber.to_string().as_str(),
        counterparty.as_str(),
        direction,
        kind,
        duration.as_str(),
        region,
    ])
}

/// A fresh name: wall-clock milliseconds, process id and a counter, so names never collide
/// across calls or restarts.
fn unique_name(dir: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let ms = crate::clock::now_ms().max(0);
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "ingest-{ms:013}-{}-{seq:06}.csv",
            std::process::id()
        ));
        if !path.exists() {
            return path;
        }
    }
}

/// Removes temp files a crash left in `<data_dir>/ingest/` (never acknowledged, so never owed).
pub fn remove_stale_temp_files(data_dir: &Path) -> Result<()> {
    let dir = data_dir.join(INGEST_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        if is_temporary(&entry.file_name().to_string_lossy()) {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|e| Error::write(&p, e))?;
            tracing::warn!(file = %p.display(), "removed an unacknowledged temporary ingest file");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write that failed for want of space is UNAVAILABLE (retry later), as the OS says it
    /// whichever call met it; any other failed write stays INTERNAL.
    #[test]
    fn a_full_disk_is_unavailable_not_internal() {
        let path = PathBuf::from("/data/ingest/x.csv");
        for os in [28, 122] {
            let e = Error::write(&path, std::io::Error::from_raw_os_error(os));
            let s = to_status(&out_of_space(e, "c"), "c");
            assert_eq!(s.code(), tonic::Code::Unavailable, "{os}: {s:?}");
            assert!(!s.message().contains("/data"), "{}", s.message());
            let e = Error::io(&path, std::io::Error::from_raw_os_error(os));
            assert_eq!(
                to_status(&out_of_space(e, "c"), "c").code(),
                tonic::Code::Unavailable
            );
        }
        let e = Error::write(&path, std::io::Error::from_raw_os_error(13));
        assert_eq!(
            to_status(&out_of_space(e, "c"), "c").code(),
            tonic::Code::Internal
        );
    }
}
