//! The audit log: one JSON line per `Check` (and per `Ingest`), appended to `[audit].file`.
//!
//! A check line holds: `time` (RFC 3339 UTC), `rpc`, `client`, `correlator`, `number_hmac`
//! (HMAC-SHA256 of the E.164 number under the server's secret key, hex; absent when the
//! request's number was not a valid E.164 number), the parameters (hotzone as an entry count
//! plus a keyed hash, since a prefix entry can be a whole number), the verdict, `code` (the
//! gRPC code) and `latency_us`. The raw number never appears: with the key, an operator can
//! answer "was +X checked, by whom, when" by computing the tag of +X; without it, the file
//! reveals nothing about whom was checked.
//!
//! Lines go through a bounded queue to a writer thread (append, line-buffered: each line is
//! written whole with one `write`), off the request path. When the queue is full (the disk
//! stalls), the line is dropped and counted (`hotzone_audit_dropped_total`) rather than
//! stalling checks. Dropping the [`Auditor`] drains the queue.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::AuditSettings;
use crate::error::{Error, Result};
use crate::model::Msisdn;

/// Lines waiting for the writer at most.
const QUEUE: usize = 16_384;

/// The keyed hash of numbers, and the audit file writer (when configured).
pub struct Auditor {
    mac: Option<Hmac<Sha256>>,
    tx: Option<SyncSender<String>>,
    writer: Option<JoinHandle<()>>,
    /// Lines the writer thread failed to write.
    failures: Arc<AtomicU64>,
    /// Set to have the writer open the file's path again before its next line (SIGHUP).
    reopen: Arc<std::sync::atomic::AtomicBool>,
}

/// A check's parameters as audited (no raw number, hotzone hashed).
#[derive(Serialize, Debug, Default)]
pub struct AuditParams {
    /// As requested (0 = missing); null when it had 5 digits or more (a refused value that
    /// may be a phone number).
    pub look_back_days: Option<u32>,
    /// Enum name, or the number when outside the enum.
    pub method: String,
    /// As requested; null when its whole part had 5 digits or more.
    pub threshold_ratio: Option<f64>,
    /// Entries given in the request (0 = named or default hotzone).
    pub hotzone_entries: usize,
    /// Keyed hash of the request's hotzone entries (sorted, comma-joined), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hotzone_hmac: Option<String>,
    /// The named hotzone, when it is one the server has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hotzone_name: Option<String>,
    /// Enum name.
    pub check_type: String,
    /// Enum name.
    pub check_target: String,
    /// As requested (0 = default); null when it had 5 digits or more, valid (10000 and more
    /// events) or not: such a value may be a phone number sent in the wrong field.
    pub min_events: Option<u32>,
    /// As requested (empty = today).
    pub as_of: String,
}

/// One audit line.
#[derive(Serialize, Debug)]
pub struct AuditLine<'a> {
    /// RFC 3339 UTC.
    pub time: String,
    /// `check` or `ingest`.
    pub rpc: &'static str,
    /// The client id (`anonymous` without authentication; empty when unauthenticated).
    pub client: &'a str,
    /// The `x-correlator` (empty when none).
    pub correlator: &'a str,
    /// Keyed hash of the number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_hmac: Option<String>,
    /// Check parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<AuditParams>,
    /// `anomaly_detected`, when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly_detected: Option<bool>,
    /// `anomaly_date` as replied (empty when none or suppressed), when answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly_date: Option<String>,
    /// Ingest: records accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u64>,
    /// Ingest: records rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// gRPC code name (`OK`, `NOT_FOUND`, ...).
    pub code: &'static str,
    /// CAMARA reason of a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Handling time.
    pub latency_us: u64,
}

impl Auditor {
    /// Off: no file, no key.
    pub fn off() -> Auditor {
        Auditor {
            mac: None,
            tx: None,
            writer: None,
            failures: Arc::default(),
            reopen: Arc::default(),
        }
    }

    /// Opens (creates, appends to) the file and starts the writer thread.
    pub fn open(s: &AuditSettings) -> Result<Auditor> {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&s.hmac_key)
            .map_err(|_| Error::Internal("HMAC key rejected".to_owned()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&s.file).map_err(|e| Error::write(&s.file, e))?;
        let (tx, rx) = sync_channel::<String>(QUEUE);
        let path = s.file.clone();
        let failures = Arc::new(AtomicU64::new(0));
        let failed = Arc::clone(&failures);
        let reopen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let asked = Arc::clone(&reopen);
        let writer = std::thread::Builder::new()
            .name("hotzone-audit".to_owned())
            .spawn(move || {
                let mut w = std::io::LineWriter::new(file);
                let mut looked = std::time::Instant::now();
                for line in rx {
                    // Rotated (logrotate renames the file, then makes a new one, or asks with
                    // SIGHUP): the path is opened again, at most once a second unasked, so
                    // lines go to the file the path names, not to the renamed one for ever.
                    let due = looked.elapsed() >= std::time::Duration::from_secs(1);
                    if asked.swap(false, Ordering::Relaxed) || (due && moved(&path, w.get_ref())) {
                        let _ = w.flush();
                        match opts.open(&path) {
                            Ok(f) => w = std::io::LineWriter::new(f),
                            Err(e) => {
                                tracing::error!(file = %path.display(), error = %e, "audit file could not be opened again; still writing to the one open");
                            }
                        }
                    }
                    if due {
                        looked = std::time::Instant::now();
                    }
                    // `LineWriter` writes each whole line through: a line it could not
                    // write is lost, and counted as the queue's losses are.
                    if let Err(e) = w.write_all(line.as_bytes()) {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(file = %path.display(), error = %e, "audit log write failed");
                    }
                }
                let _ = w.flush();
                let _ = w.get_ref().sync_all();
            })
            .map_err(|e| Error::Internal(format!("audit writer thread: {e}")))?;
        Ok(Auditor {
            mac: Some(mac),
            tx: Some(tx),
            writer: Some(writer),
            failures,
            reopen,
        })
    }

    /// Has the writer open the file's path again before its next line (a rotation: SIGHUP).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Lines the writer could not write (lost; the metrics count them with the queue's).
    pub fn write_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Whether lines are written.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Hex HMAC-SHA256 of `text` under the server key (`None` when auditing is off).
    pub fn tag_text(&self, text: &str) -> Option<String> {
        let mut m = self.mac.clone()?;
        m.update(text.as_bytes());
        Some(hex::encode(m.finalize().into_bytes()))
    }

    /// The keyed hash of a number (its E.164 text with `+`).
    pub fn tag(&self, n: Msisdn) -> Option<String> {
        self.tag_text(&n.to_string())
    }

    /// Queues a line; `false` when it was dropped (queue full or writer gone).
    pub fn write(&self, line: &AuditLine<'_>) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        let Ok(mut text) = serde_json::to_string(line) else {
            return false;
        };
        text.push('\n');
        match tx.try_send(text) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// True when `path` no longer names the file `open` (renamed or removed by a rotation).
fn moved(path: &std::path::Path, open: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), open.metadata()) {
            (Ok(p), Ok(o)) => (p.dev(), p.ino()) != (o.dev(), o.ino()),
            (Err(_), _) => true,
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, open);
        false
    }
}

impl Drop for Auditor {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line the file refuses (a full disk: `/dev/full`) is counted as lost, for the
    /// metrics' `hotzone_audit_dropped_total`, not only logged.
    #[test]
    fn lines_the_file_refuses_are_counted() {
        let a = Auditor::open(&AuditSettings {
            file: "/dev/full".into(),
            hmac_key: vec![7; 32],
        })
        .unwrap();
        let line = AuditLine {
            time: crate::clock::now_rfc3339(),
            rpc: "check",
            client: "bank",
            correlator: "",
            number_hmac: None,
            params: None,
            anomaly_detected: None,
            anomaly_date: None,
            accepted: None,
            rejected: None,
            code: "OK",
            reason: None,
            latency_us: 1,
        };
        for _ in 0..3 {
            assert!(a.write(&line), "queued");
        }
        // The writer thread works through the queue; wait for its count.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while a.write_failures() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "{}",
                a.write_failures()
            );
            std::thread::yield_now();
        }
        assert_eq!(a.write_failures(), 3);
    }

    #[test]
    fn lines_are_json_and_hold_no_number() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.jsonl");
        let a = Auditor::open(&AuditSettings {
            file: file.clone(),
            hmac_key: vec![7; 32],
        })
        .unwrap();
        let n = Msisdn::parse_subscriber("+886912345001").unwrap();
        let tag = a.tag(n).unwrap();
        assert_eq!(tag.len(), 64);
        assert_eq!(a.tag(n).unwrap(), tag, "deterministic");
        assert!(a.write(&AuditLine {
            time: crate::clock::now_rfc3339(),
            rpc: "check",
            client: "bank",
            correlator: "c-1",
            number_hmac: Some(tag.clone()),
            params: Some(AuditParams::default()),
            anomaly_detected: Some(true),
            anomaly_date: Some("2026-03-10".into()),
            accepted: None,
            rejected: None,
            code: "OK",
            reason: None,
            latency_us: 12,
        }));
        drop(a);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("886912345001"));
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["number_hmac"], tag);
        assert_eq!(v["client"], "bank");
        assert_eq!(v["code"], "OK");
    }
}
