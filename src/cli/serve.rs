//! `hotzone serve`: config file + flags -> settings, bind, serve until ctrl-c or SIGTERM.
//!
//! Every top-level key of the config file is also a flag, and so are the TLS files and the
//! audit file, and the concurrency and ingest-time limits; a flag given on the command line
//! wins. Clients (token hashes), the policy and the other limits are set in the file only.
//! Without `[[clients]]` the server refuses a non-loopback `--listen` unless `--insecure`. The
//! index is built by the server's loader off the async runtime; the port answers (health
//! NOT_SERVING, checks UNAVAILABLE) while it builds.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::ServerConfig;
use crate::service::{self, AppState};

/// Flags of `hotzone serve` (each overrides the same key of `--config`).
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Server config file (TOML; see data/server.example.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (key `data_dir`): event files, read recursively; ingested records go to its ingest/ folder.
    #[arg(long = "data", alias = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on, host:port (key `listen`; default 127.0.0.1:50051).
    #[arg(long)]
    pub listen: Option<String>,
    /// The engine's time zone, IANA name (key `tz`; default UTC).
    #[arg(long)]
    pub tz: Option<String>,
    /// Highest look_back_days a check may ask for, 1..=90 (key `max_look_back_days`; default 90).
    #[arg(long)]
    pub max_look_back_days: Option<u16>,
    /// Hotzone of checks that give none, comma-separated (key `default_hotzone`), e.g. NG,JM,+882.
    #[arg(long, value_delimiter = ',')]
    pub default_hotzone: Option<Vec<String>>,
    /// TOML file of named hotzones (key `hotzones_file`).
    #[arg(long)]
    pub hotzones_file: Option<PathBuf>,
    /// Region for numbers written without '+' (key `default_region`), e.g. TW.
    #[arg(long)]
    pub default_region: Option<String>,
    /// Seconds between scans of the data directory for new files; 0 = off (key `poll_interval_s`; default 10).
    #[arg(long)]
    pub poll_interval_s: Option<u64>,
    /// Days kept in memory, ending with the latest day in the data no later than today; at least max_look_back_days (key `retention_days`; default: all).
    #[arg(long)]
    pub retention_days: Option<u16>,
    /// Prometheus metrics address, host:port (key `metrics_listen`; default off).
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Threads answering calls: 0 = one per CPU the process may use (a single event loop when that is one), 1 = a single-threaded event loop (key `worker_threads`; default 0).
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Check calls handled at once; one more answers UNAVAILABLE at once (key `limits.max_concurrent_calls`; default 256).
    #[arg(long)]
    pub max_concurrent_calls: Option<usize>,
    /// Ingest streams open at once, all clients; one more answers UNAVAILABLE (key `limits.max_concurrent_ingests`; default 16).
    #[arg(long)]
    pub max_concurrent_ingests: Option<usize>,
    /// Ingest streams one client may have open; one more answers RESOURCE_EXHAUSTED (key `limits.max_ingests_per_client`; default 4).
    #[arg(long)]
    pub max_ingests_per_client: Option<usize>,
    /// Seconds an Ingest stream may stay silent between messages (key `limits.ingest_idle_timeout_s`; default 15).
    #[arg(long)]
    pub ingest_idle_timeout_s: Option<u64>,
    /// Seconds an Ingest call may take to send all its records (key `limits.ingest_timeout_s`; default 300).
    #[arg(long)]
    pub ingest_timeout_s: Option<u64>,
    /// TLS certificate chain, PEM (key `tls.cert`; with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (key `tls.key`).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA of client certificates, PEM: mutual TLS (key `tls.client_ca`).
    #[arg(long)]
    pub tls_client_ca: Option<PathBuf>,
    /// Audit log file, JSON lines (key `audit.file`); needs the HMAC key in HOTZONE_AUDIT_KEY.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// HMAC key of the audit log's number tags, hex (key `audit.hmac_key`).
    #[arg(long = "audit-hmac-key", env = crate::config::AUDIT_KEY_ENV, hide_env_values = true, hide = true)]
    pub audit_hmac_key: Option<String>,
    /// Serve without authentication on a non-loopback address (no `[[clients]]` configured).
    #[arg(long)]
    pub insecure: bool,
    /// Address of the REST/JSON API, host:port (key `http_listen`; default off): POST /fraud-hotzone-alert/v0/check and the anomaly subscriptions.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Accept subscription sinks that are plain http or on loopback/private addresses (key `subscriptions.allow_insecure_sinks`; tests and closed networks only).
    #[arg(long)]
    pub allow_insecure_sinks: bool,
}

impl ServeArgs {
    /// The config file (or the defaults) with the flags applied on top.
    pub fn merged(&self) -> anyhow::Result<ServerConfig> {
        let mut cfg = match &self.config {
            Some(p) => ServerConfig::load(p)?,
            None => ServerConfig::default(),
        };
        if let Some(v) = &self.data_dir {
            cfg.data_dir = Some(v.clone());
        }
        if let Some(v) = &self.listen {
            cfg.listen = v.clone();
        }
        if let Some(v) = &self.tz {
            cfg.tz = v.clone();
        }
        if let Some(v) = self.max_look_back_days {
            cfg.max_look_back_days = v;
        }
        if let Some(v) = &self.default_hotzone {
            // A comma list, read as `scan --hotzone` reads one: empty items (`NG,,JM`, a
            // trailing comma) are no entries.
            cfg.default_hotzone =
                Some(v.iter().filter(|s| !s.trim().is_empty()).cloned().collect());
        }
        if let Some(v) = &self.hotzones_file {
            cfg.hotzones_file = Some(v.clone());
        }
        if let Some(v) = &self.default_region {
            cfg.default_region = Some(v.clone());
        }
        if let Some(v) = self.retention_days {
            cfg.retention_days = Some(v);
        }
        if let Some(v) = self.poll_interval_s {
            cfg.poll_interval_s = v;
        }
        if let Some(v) = &self.metrics_listen {
            cfg.metrics_listen = Some(v.clone());
        }
        if let Some(v) = self.worker_threads {
            cfg.worker_threads = v;
        }
        let l = &mut cfg.limits;
        for (flag, key) in [
            (self.max_concurrent_calls, &mut l.max_concurrent_calls),
            (self.max_concurrent_ingests, &mut l.max_concurrent_ingests),
            (self.max_ingests_per_client, &mut l.max_ingests_per_client),
        ] {
            if let Some(v) = flag {
                *key = v;
            }
        }
        if let Some(v) = self.ingest_idle_timeout_s {
            l.ingest_idle_timeout_s = v;
        }
        if let Some(v) = self.ingest_timeout_s {
            l.ingest_timeout_s = v;
        }
        if let Some(v) = &self.http_listen {
            cfg.http_listen = Some(v.clone());
        }
        if self.allow_insecure_sinks {
            cfg.subscriptions.allow_insecure_sinks = true;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            cfg.tls = Some(crate::config::TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: cfg.tls.as_ref().and_then(|t| t.client_ca.clone()),
            });
        }
        if let Some(ca) = &self.tls_client_ca {
            match &mut cfg.tls {
                Some(t) => t.client_ca = Some(ca.clone()),
                None => anyhow::bail!("--tls-client-ca needs --tls-cert and --tls-key (or [tls])"),
            }
        }
        if let Some(v) = &self.audit_log {
            let hmac_key = cfg.audit.as_ref().and_then(|a| a.hmac_key.clone());
            cfg.audit = Some(crate::config::AuditConfig {
                file: Some(v.clone()),
                hmac_key,
            });
        }
        if let (Some(a), Some(k)) = (&mut cfg.audit, &self.audit_hmac_key) {
            a.hmac_key = Some(k.clone());
        }
        Ok(cfg)
    }
}

/// Initialises logging to stderr: `RUST_LOG` when set, else [`DEFAULT_LOG`]. Colour only
/// when stderr is a terminal: a log file or a pipe gets plain text, no escape codes.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The log filter without `RUST_LOG`: `info`, but the TLS library's own lines only from
/// `error` up. It warns once per connection of a client that names the server by its IP
/// address (grpc-js does: "Illegal SNI extension: ignoring IP address presented as
/// hostname"), which is the client's habit, not the server's problem, and would flood the log.
pub const DEFAULT_LOG: &str = "info,rustls=error";

/// Runs the server until ctrl-c or SIGTERM; exit code 0 after a clean drain.
pub fn run(a: &ServeArgs) -> anyhow::Result<i32> {
    init_tracing();
    let cfg = a.merged()?;
    // Flags override the file's keys, so a value may come from either.
    let origin = match &a.config {
        Some(p) => PathBuf::from(format!("{} (or a flag over it)", p.display())),
        None => PathBuf::from("<flags>"),
    };
    let settings = cfg.resolve(&origin)?;
    crate::config::check_exposure(&settings, a.insecure)?;
    if a.insecure && settings.clients.is_empty() && !settings.listen.ip().is_loopback() {
        tracing::warn!(listen = %settings.listen, "--insecure: serving without authentication on a non-loopback address");
    }
    anyhow::ensure!(
        settings.data_dir.is_dir(),
        "data directory {} does not exist or is not a directory",
        settings.data_dir.display()
    );
    // 0 = one thread per CPU this process may run on (its affinity mask and cgroup quota,
    // `available_parallelism`). One thread gets a single event loop: no cross-thread
    // wake-ups, and no two runtime threads time-slicing one CPU (on a server pinned to one
    // core that was ms-long latency tails; BENCHMARKS.md c).
    let threads = match settings.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    tracing::info!(threads, "runtime");
    let runtime = builder
        .enable_all()
        .thread_name("hotzone-serve")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let state = AppState::try_new(settings)?;
        service::serve(listener, state, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn limit_flags_override_the_file_and_the_defaults() {
        let cli = Cli::parse_from([
            "serve",
            "--data",
            "/d",
            "--max-concurrent-calls",
            "9",
            "--max-concurrent-ingests",
            "3",
            "--max-ingests-per-client",
            "2",
            "--ingest-idle-timeout-s",
            "5",
            "--ingest-timeout-s",
            "60",
        ]);
        let l = cli.serve.merged().unwrap().limits;
        assert_eq!(
            (
                l.max_concurrent_calls,
                l.max_concurrent_ingests,
                l.max_ingests_per_client,
                l.ingest_idle_timeout_s,
                l.ingest_timeout_s
            ),
            (9, 3, 2, 5, 60)
        );
        let defaults = Cli::parse_from(["serve", "--data", "/d"])
            .serve
            .merged()
            .unwrap()
            .limits;
        assert_eq!(defaults, crate::config::LimitsConfig::default());
    }
}
