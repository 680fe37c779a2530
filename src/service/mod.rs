//! The gRPC service (REFERENCE.md §8): an adapter between the wire (`proto/`) and the library.
//!
//! [`serve`] takes a bound listener, the [`AppState`] and a shutdown future (mini-redis's
//! `server::run(listener, shutdown)`), so the binary passes ctrl-c/SIGTERM and tests bind
//! `127.0.0.1:0`. It serves three services: `fraudhotzone.v1.FraudHotzone`, the standard
//! health service (NOT_SERVING until the data is loaded) and server reflection (v1 and v1alpha).
//!
//! Layout, one job per file:
//! - [`pb`]: generated types and the descriptor set; [`codec`]: their codec (small buffers);
//! - [`state`]: the shared state and the snapshot it publishes;
//! - [`reload`]: first load, directory polling, rebuild-and-swap;
//! - [`check`]: the `Check` handler (request -> params -> verdict);
//! - [`ingest`]: the `Ingest` handler (records -> durable file -> new segment);
//! - [`status`]: errors -> gRPC status with CAMARA ErrorInfo; the `x-correlator` header;
//! - [`guard`]: what is decided from the headers before a body is read (correlator, token),
//!   and the refusals tonic makes before a handler (counted, audited, never INTERNAL);
//! - `health`: the standard health service, whose `Watch` streams end when the server stops;
//! - [`auth`]: bearer tokens -> client id and scopes (UNAUTHENTICATED, PERMISSION_DENIED);
//! - [`limits`]: rate limits (per client, per client and number), the check gate and the
//!   separate ingest budget;
//! - [`audit`]: one JSON line per call, numbers as keyed hashes;
//! - [`metrics`]: the Prometheus registry and its endpoint;
//! - [`rest`]: the REST/JSON port (`http_listen`) over this same `Check` handler, and the
//!   anomaly subscriptions with their CloudEvents callbacks.
//!
//! Every `Check` and `Ingest` goes through the same guards, in this order: on the headers,
//! before the body is read ([`guard`]), the `x-correlator` pattern and the token
//! (UNAUTHENTICATED / PERMISSION_DENIED); then in the handler the call's budget (checks: the
//! check gate; ingests: the ingest gate with its per-client share; UNAVAILABLE or
//! RESOURCE_EXHAUSTED when full, never a queue), the client's rate limit, then (Check) the
//! number's pattern and the (client, number) rate limit (RESOURCE_EXHAUSTED
//! `TOO_MANY_REQUESTS`), then the handler. Each finished call is counted in the metrics and
//! written to the audit log, refusals before the handler included. Health and reflection are
//! open unless the policy says they need a token.
//!
//! The HTTP/2 settings bound what a connection can make the server hold before any of this
//! runs: `limits.max_streams_per_connection` (advertised as MAX_CONCURRENT_STREAMS), the
//! stream and connection flow-control windows (the most unread request body buffered), a
//! 16 KiB frame and header list, and a cap on streams reset by the client before the server
//! accepted them.
//!
//! Absent by design: no detection logic here, no counts in any reply, no phone number in any
//! log line, metric, audit line or error message (logs carry the correlator and client id).

pub mod audit;
pub mod auth;
pub mod check;
pub mod codec;
mod ends_at_stop;
pub mod guard;
mod health;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod pb;
pub mod reload;
pub mod rest;
mod side_status;
pub mod state;
pub mod status;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

pub use state::AppState;

use crate::config::TlsConfig;
use crate::model::Msisdn;
use crate::model::check::parse_phone_number;
use audit::{AuditLine, AuditParams};
use auth::{Caller, Scope};
use ends_at_stop::EndsAtStop;
use guard::{Guarded, Kind, mark_handled};
use metrics::code_name;
use pb::fraud_hotzone_server::{FraudHotzone, FraudHotzoneServer};
use status::{correlator, correlator_text, echo, to_status};

/// Longest a TLS handshake may take, on either port: a client that connects and never
/// completes one (silent, or speaking plaintext to a TLS port) is closed after it instead of
/// holding a place of `max_connections` for ever.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest HTTP/2 frame the server accepts (the protocol's minimum, 16 KiB).
const MAX_FRAME_BYTES: u32 = 16 * 1024;

/// Largest header list of a request (bytes, as HTTP/2 counts them).
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// Largest message the health and reflection services take, decompressed (their requests
/// name a service or a symbol: a few hundred bytes).
pub const SMALL_SERVICE_BYTES: usize = 16 * 1024;

/// The smallest rapid-reset bound: streams a client may reset before the server accepted them.
const MAX_PENDING_RESETS: usize = 32;

/// The rapid-reset bound for `max_streams` streams per connection: four rounds of them.
///
/// A well-behaved client meets this bound too: every call that passes its deadline is reset,
/// and while a busy server has not yet taken its streams in hand, a client with short
/// deadlines resets a full window of streams, opens new ones and resets those. At a fixed
/// 32, grpcio with 500 calls in flight and 20 ms deadlines against a saturated server had
/// its connection ended (GOAWAY `too_many_resets`) dozens of times a run, failing calls
/// whose deadlines had not passed. A hostile client still gets at most this many per
/// connection before it is cut.
pub fn max_pending_resets(max_streams: u32) -> usize {
    (4 * max_streams as usize).max(MAX_PENDING_RESETS)
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptor set (a build problem).
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A TLS file could not be read.
    #[error("tls: {0}")]
    Tls(String),
    /// The metrics address could not be bound.
    #[error("metrics_listen {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
    /// The REST API could not start (address, TLS, or the subscription store).
    #[error("http_listen: {0}")]
    Http(String),
}

/// The rustls server config of `[tls]`: identity, and the client CA for mutual TLS (client
/// certificates then required).
fn tls_config(t: &TlsConfig) -> Result<ServerTlsConfig, ServeError> {
    // tonic takes the PEM as bytes and reads it at the first handshake: junk then failed
    // every handshake ("peer sent no certificates") of a server that had started. The
    // files are parsed here first, so a bad one stops the start, named.
    let certs = pem_certs(&t.cert)?;
    let key = pem_key(&t.key)?;
    // A key of another certificate was refused by tonic as a bare `KeyMismatch`.
    let provider = tokio_rustls::rustls::crypto::ring::default_provider();
    tokio_rustls::rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
        ServeError::Tls(format!(
            "{} is not the private key of {} ({e})",
            t.key.display(),
            t.cert.display()
        ))
    })?;
    if let Some(ca) = &t.client_ca {
        pem_certs(ca)?;
    }
    let read = |p: &std::path::Path| {
        crate::files::regular(p)
            .and_then(|()| crate::files::read(p))
            .map_err(|e| ServeError::Tls(format!("{}: {e}", p.display())))
    };
    // tonic waits for a handshake for ever unless told.
    let mut c = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(&t.cert)?, read(&t.key)?))
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    if let Some(ca) = &t.client_ca {
        c = c.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(c)
}

/// The certificates of a PEM file: at least one, else an error naming the file.
pub(crate) fn pem_certs(
    path: &std::path::Path,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, ServeError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let err = |e: &dyn std::fmt::Display| ServeError::Tls(format!("{}: {e}", path.display()));
    crate::files::regular(path).map_err(|e| err(&e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    if certs.is_empty() {
        return Err(err(&"holds no PEM certificate"));
    }
    Ok(certs)
}

/// The private key of a PEM file, else an error naming the file.
pub(crate) fn pem_key(
    path: &std::path::Path,
) -> Result<tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>, ServeError> {
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    crate::files::regular(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| ServeError::Tls(format!("{}: no PEM private key ({e})", path.display())))
}

/// Serves until `shutdown` completes, then stops accepting calls and drains the in-flight
/// ones. The loader ([`reload::run`]) runs beside it: the server answers (UNAVAILABLE, health
/// NOT_SERVING) while the first load is still building.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    state.set_health(state.is_loaded()).await;
    // SIGHUP (a terminal's hangup, logrotate's `postrotate`) stops nothing: it has the audit
    // file opened again. Its default action ended the process at once, callbacks waiting to
    // be retried lost with it.
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let state = state.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                state.audit().reopen();
                tracing::info!("SIGHUP: the audit file is opened again; the server goes on");
            }
        });
    }
    let settings = state.settings();
    // Requests compressed with gzip or deflate are taken by every service (a client set to
    // compress everything, as grpc-js and grpcio can be, was refused on every call, health
    // and reflection included). tonic decompresses a message within the service's decoding
    // limit, so a small compressed message that inflates past it is refused as an oversized
    // one: `max_request_bytes` for the API, [`SMALL_SERVICE_BYTES`] for health and reflection
    // (a service or symbol name; they need no token by default, and kept tonic's 4 MiB,
    // which 4 KB of gzip reached). Replies go uncompressed (they are small).
    let small = SMALL_SERVICE_BYTES.min(settings.limits.max_request_bytes);
    // Set when the stop begins: a health `Watch` then sends NOT_SERVING and ends, so a client
    // with client-side health checking does not hold the drain for its whole grace.
    let (stopping, stop_watches) = tokio::sync::watch::channel(false);
    let health = tonic_health::pb::health_server::HealthServer::new(health::StoppingHealth::new(
        state.health().clone(),
        stop_watches.clone(),
    ))
    .accept_compressed(CompressionEncoding::Gzip)
    .accept_compressed(CompressionEncoding::Deflate)
    .max_decoding_message_size(small);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // v1 for current tools; v1alpha for older grpcurl and grpc_cli builds.
    let reflection_v1 = (reflection().build_v1()?)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Deflate)
        .max_decoding_message_size(small);
    let reflection_v1alpha = (reflection().build_v1alpha()?)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Deflate)
        .max_decoding_message_size(small);
    let api = FraudHotzoneServer::new(Api {
        state: state.clone(),
    })
    .accept_compressed(CompressionEncoding::Gzip)
    .accept_compressed(CompressionEncoding::Deflate)
    .max_decoding_message_size(settings.limits.max_request_bytes);
    let api = Guarded::new(api, state.clone(), Kind::Api);
    let health = side_status::SideStatus::new(health);
    let health = Guarded::new(health, state.clone(), Kind::Health);
    // A reflection stream's requests end when the stop begins (`ends_at_stop`), as health
    // watches do: a client keeping one open held every stop for the whole grace.
    let reflection_v1 = EndsAtStop::new(reflection_v1, stop_watches.clone());
    let reflection_v1alpha = EndsAtStop::new(reflection_v1alpha, stop_watches.clone());
    let reflection_v1 = side_status::SideStatus::new(reflection_v1);
    let reflection_v1alpha = side_status::SideStatus::new(reflection_v1alpha);
    let reflection_v1 = Guarded::new(reflection_v1, state.clone(), Kind::Reflection);
    let reflection_v1alpha = Guarded::new(reflection_v1alpha, state.clone(), Kind::Reflection);
    let limits = &settings.limits;
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_streams_per_connection)
        .initial_stream_window_size(limits.stream_window_bytes)
        .initial_connection_window_size(limits.connection_window_bytes)
        .max_frame_size(MAX_FRAME_BYTES)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_max_pending_accept_reset_streams(Some(max_pending_resets(
            limits.max_streams_per_connection,
        )))
        .http2_keepalive_interval(
            (limits.keepalive_interval_s > 0)
                .then(|| Duration::from_secs(limits.keepalive_interval_s)),
        )
        .http2_keepalive_timeout(Some(Duration::from_secs(limits.keepalive_timeout_s)));
    // GOAWAY at the age, then the connection closes once its calls are done. A call that
    // never ends (a health `Watch`, a reflection stream) or a peer that never answers the
    // GOAWAY's PING would keep it: `Limited` closes it at the age plus a grace
    // (`LimitsConfig::drain_grace`). Not tonic's `max_connection_age_grace`, which
    // replaces the GOAWAY by a bare close at age + grace (calls under way cut) instead of
    // following it.
    if limits.max_connection_age_s > 0 {
        builder = builder.max_connection_age(Duration::from_secs(limits.max_connection_age_s));
    }
    if let Some(t) = &settings.tls {
        builder = builder.tls_config(tls_config(t)?)?;
    }
    let metrics_task = match settings.metrics_listen {
        None => None,
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| ServeError::Metrics(addr, e))?;
            let bound = l.local_addr().map_err(|e| ServeError::Metrics(addr, e))?;
            state.set_metrics_addr(bound);
            tracing::info!(addr = %bound, "serving Prometheus metrics at /metrics");
            Some(tokio::spawn(metrics::serve(l, state.clone())))
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            data_dir = %settings.data_dir.display(),
            tz = %settings.tz,
            tls = settings.tls.is_some(),
            mtls = settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            auth = state.auth().enabled(),
            audit = state.audit().enabled(),
            "serving fraudhotzone.v1.FraudHotzone"
        );
        if state.auth().enabled() && settings.tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "bearer tokens travel in plaintext: configure [tls]");
        }
    }
    let rest = match settings.http_listen {
        None => None,
        Some(addr) => Some(rest::start(addr, state.clone()).await?),
    };
    let loader = tokio::spawn(reload::run(state.clone()));
    let for_refusals = state.clone();
    let mut connections = limits::ConnectionLimit::new(
        settings.limits.max_connections,
        settings.limits.max_connections_per_address,
        Duration::from_secs(settings.limits.write_stall_timeout_s),
    );
    if settings.limits.max_connection_age_s > 0 {
        // From the TCP accept: tonic's age starts after the TLS handshake, which may take
        // up to its deadline, so the grace after the GOAWAY is never shorter than promised.
        let handshake = if settings.tls.is_some() {
            TLS_HANDSHAKE_TIMEOUT
        } else {
            Duration::ZERO
        };
        let age = Duration::from_secs(settings.limits.max_connection_age_s);
        connections = connections.with_lifetime(age + settings.limits.drain_grace() + handshake);
    }
    let incoming = TcpListenerStream::new(listener)
        .then(|conn| async move {
            match conn {
                Ok(s) => Some(s),
                Err(e) => {
                    // Out of file descriptors and the like: back off, as the REST port does.
                    // Handed to tonic, the error was logged at debug and accept was called
                    // again at once: 280,000 times a second on one core.
                    tracing::warn!(error = %e, "gRPC accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    None
                }
            }
        })
        .filter_map(move |conn| {
            let s = conn?;
            // Small request/reply messages: don't let Nagle delay them.
            let _ = s.set_nodelay(true);
            match connections.admit(s) {
                Ok(c) => Some(Ok::<_, std::io::Error>(c)),
                Err((refused, _closed)) => {
                    refused.record(limits::Port::Grpc, for_refusals.metrics());
                    None
                }
            }
        });
    let for_signal = state.clone();
    let (signalled, drain_from) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        for_signal.set_health(false).await;
        let _ = stopping.send(true);
        let _ = signalled.send(());
    };
    let server = builder
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .serve_with_incoming_shutdown(incoming, signal);
    // The drain waits for every connection to close; a call that never ends would make it
    // wait for ever (health `Watch` and reflection streams end at the stop; a client that
    // reads no reply, so that it cannot be sent, is one left). Past the grace the server stops
    // waiting; the connections still open end with the process.
    let grace = settings.limits.drain_grace();
    let drain_deadline = async move {
        match drain_from.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = server => r,
        () = drain_deadline => {
            tracing::warn!(
                grace_s = grace.as_secs(),
                "shutting down: calls still open after the drain grace are cut"
            );
            Ok(())
        }
    };
    // An `Ingest` whose records were all in is stored to its end (its task outlives the
    // call): the stop waits for those under way, within the grace again.
    if tokio::time::timeout(grace, state.stores_done())
        .await
        .is_err()
    {
        tracing::warn!("shutting down: an ingest store still under way after the grace");
    }
    loader.abort();
    if let Some(r) = rest {
        r.stop().await;
    }
    if let Some(t) = metrics_task {
        t.abort();
    }
    tracing::info!("server stopped");
    Ok(result?)
}

/// The `FraudHotzone` service: correlator handling and logging around the handlers. The REST
/// adapter ([`rest`]) calls the same [`FraudHotzone::check`], so both ports share every guard,
/// the audit line and the metrics.
pub(crate) struct Api {
    state: AppState,
}

impl Api {
    /// The service over `state`.
    pub(crate) fn new(state: AppState) -> Api {
        Api { state }
    }

    /// The guards and the handler of one check; `caller`/`number` are filled as they become
    /// known (for the audit line).
    fn check_guarded(
        &self,
        request: &Request<pb::CheckRequest>,
        ctext: &str,
        caller: &mut Option<Caller>,
        number: &mut Option<Msisdn>,
    ) -> Result<pb::CheckResponse, Status> {
        let state = &self.state;
        let _permit = state.gate().enter()?;
        let c = caller_of(state, request, Scope::Check)?;
        *caller = Some(c.clone());
        state.limiter().admit_client(&c)?;
        let req = request.get_ref();
        // A REST check's JSON refusal stands where this handler's own refusal of the same
        // field would (`rest::check::JsonRefusal`).
        let json = request.extensions().get::<rest::check::JsonRefusal>();
        if let Some(r) = json.filter(|r| r.of_number) {
            return Err(to_status(&r.error(), ctext));
        }
        let sub = parse_phone_number(&req.phone_number).map_err(|e| to_status(&e, ctext))?;
        *number = Some(sub);
        // Parameters, then the data, then the number's token: a request refused for its
        // parameters is refused so whether or not the data is loaded, and spends a token
        // (probing is not free); a valid check before the load is 503 and spends none.
        let params = match json {
            Some(r) => Err(r.error()),
            None => check::cached_params(state, req),
        };
        if params.is_ok() {
            state.loaded().map_err(|e| to_status(&e, ctext))?;
        }
        state.limiter().admit_number(&c, sub)?;
        let params = params.map_err(|e| to_status(&e, ctext))?;
        check::check_with(state, sub, &params).map_err(|e| to_status(&e, ctext))
    }

    /// The audited form of a request's parameters: no raw number, no caller free text. A
    /// number field whose whole part has 5 digits or more (a refused value, never a valid
    /// one but for a SPIKE ratio that large) may be a phone number a caller put there: it is
    /// written as the error messages show it, or null.
    fn audit_params(&self, req: &pb::CheckRequest) -> AuditParams {
        let name = |n: i32, f: fn(i32) -> Option<&'static str>| {
            f(n).map(str::to_owned)
                .unwrap_or_else(|| crate::model::shown::shown_number(n).to_string())
        };
        let small = |v: u32| (v < 10_000).then_some(v);
        let hotzone_hmac = (!req.hotzone.is_empty())
            .then(|| {
                let mut items: Vec<&str> = req.hotzone.iter().map(|s| s.trim()).collect();
                items.sort_unstable();
                items.dedup();
                self.state.audit().tag_text(&items.join(","))
            })
            .flatten();
        AuditParams {
            look_back_days: small(req.look_back_days),
            method: name(req.method, |n| {
                pb::Method::try_from(n).ok().map(|m| m.as_str_name())
            }),
            threshold_ratio: (req.threshold_ratio.abs() < 10_000.0 || req.threshold_ratio.is_nan())
                .then_some(req.threshold_ratio),
            hotzone_entries: req.hotzone.len(),
            hotzone_hmac,
            hotzone_name: self
                .state
                .named_hotzone(&req.hotzone_name)
                .map(|_| req.hotzone_name.clone()),
            check_type: name(req.check_type, |n| {
                pb::CheckType::try_from(n).ok().map(|m| m.as_str_name())
            }),
            check_target: name(req.check_target, |n| {
                pb::CheckTarget::try_from(n).ok().map(|m| m.as_str_name())
            }),
            min_events: small(req.min_events),
            as_of: if req.as_of.is_empty() || crate::model::check::parse_date(&req.as_of).is_some()
            {
                req.as_of.clone()
            } else {
                "<invalid>".to_owned()
            },
        }
    }
}

/// The caller the guard admitted (or, served without the guard, the token check itself).
fn caller_of<T>(state: &AppState, request: &Request<T>, scope: Scope) -> Result<Caller, Status> {
    match request.extensions().get::<Caller>() {
        Some(c) => Ok(c.clone()),
        None => state.auth().authorize(request.metadata(), scope),
    }
}

/// The CAMARA reason of a status, when it carries one.
fn reason_of(s: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    s.get_details_error_info().map(|i| i.reason)
}

#[tonic::async_trait]
impl FraudHotzone for Api {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        mark_handled(request.extensions());
        let started = Instant::now();
        let (corr, bad_corr) = match correlator(request.metadata()) {
            Ok(c) => (c, None),
            Err(s) => (None, Some(s)),
        };
        let ctext = correlator_text(corr.as_ref());
        let ctext = &*ctext;
        // A debug span: at the default `info` level it costs nothing per call. The only
        // events of this path at `info` or above (internal errors, [`status::to_status`])
        // name the correlator themselves.
        let span = tracing::debug_span!("check", correlator = ctext);
        let _entered = span.enter(); // no .await below: the check is a short synchronous lookup
        let mut caller = None;
        let mut number = None;
        let result = match bad_corr {
            Some(s) => Err(s),
            None => self.check_guarded(&request, ctext, &mut caller, &mut number),
        };
        let elapsed = started.elapsed();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        let m = self.state.metrics();
        m.check(
            code,
            result.as_ref().ok().map(|r| r.anomaly_detected),
            elapsed,
        );
        if let Err(s) = &result {
            m.reject(s);
        }
        let client = caller.as_ref().map(|c| &*c.id).unwrap_or("");
        let audit = self.state.audit();
        if audit.enabled() {
            let line = AuditLine {
                time: crate::clock::now_rfc3339(),
                rpc: "check",
                client,
                correlator: ctext,
                number_hmac: number.and_then(|n| audit.tag(n)),
                params: Some(self.audit_params(request.get_ref())),
                anomaly_detected: result.as_ref().ok().map(|r| r.anomaly_detected),
                anomaly_date: result.as_ref().ok().map(|r| r.anomaly_date.clone()),
                accepted: None,
                rejected: None,
                code: code_name(code),
                reason: result.as_ref().err().and_then(reason_of),
                latency_us: elapsed.as_micros() as u64,
            };
            if !audit.write(&line) {
                m.audit_dropped();
            }
        }
        match result {
            Ok(reply) => {
                tracing::debug!(client, elapsed_us = elapsed.as_micros() as u64, "check ok");
                let mut resp = Response::new(reply);
                echo(resp.metadata_mut(), corr.as_ref());
                Ok(resp)
            }
            Err(mut s) => {
                tracing::debug!(client, code = ?s.code(), elapsed_us = elapsed.as_micros() as u64, "check refused");
                echo(s.metadata_mut(), corr.as_ref());
                Err(s)
            }
        }
    }

    async fn ingest(
        &self,
        request: Request<Streaming<pb::IngestRequest>>,
    ) -> Result<Response<pb::IngestResponse>, Status> {
        mark_handled(request.extensions());
        let started = Instant::now();
        let corr = correlator(request.metadata())?;
        let ctext = correlator_text(corr.as_ref()).into_owned();
        let state = self.state.clone();
        // Recorded (metrics, audit) however the call ends, dropped by the client's reset or
        // deadline included.
        let mut record = IngestRecord::new(state.clone(), ctext.clone(), started);
        let ctext_log = ctext.clone();
        let end = request.extensions().get::<ingest::StreamEnd>().cloned();
        let received = async {
            let caller = caller_of(&state, &request, Scope::Ingest)?;
            record.client = caller.id.to_string();
            let mut permit = state.ingest_gate().enter(&caller)?;
            state.limiter().admit_client(&caller)?;
            let span = tracing::info_span!("ingest", correlator = %ctext, client = %caller.id);
            let received =
                ingest::receive(&state, request.into_inner(), (&ctext, end), &mut permit)
                    .instrument(span.clone())
                    .await?;
            Ok((received, permit, span))
        }
        .await;
        let result = match received {
            Err(s) => {
                let refused = Err(s);
                record.finish(&refused);
                refused
            }
            Ok((received, permit, span)) => {
                // Every record is in: the store runs to its end in a task of its own, so the
                // call ending now (the client's reset or deadline, tonic's timeout) can no
                // longer leave records written but neither published, logged nor audited.
                let storing = state.store_begun();
                let task = tokio::spawn(async move {
                    let r = ingest::store(&state, received, &ctext)
                        .instrument(span)
                        .await;
                    drop(permit);
                    record.finish(&r);
                    drop(storing);
                    r
                });
                task.await
                    .unwrap_or_else(|e| Err(Status::internal(format!("ingest store: {e}"))))
            }
        };
        if let Err(s) = &result {
            tracing::debug!(correlator = %ctext_log, code = ?s.code(), "ingest refused");
        }
        match result {
            Ok(reply) => {
                let mut resp = Response::new(reply);
                echo(resp.metadata_mut(), corr.as_ref());
                Ok(resp)
            }
            Err(mut s) => {
                echo(s.metadata_mut(), corr.as_ref());
                Err(s)
            }
        }
    }
}

/// One `Ingest` call's line in the metrics and the audit log, written once: by
/// [`IngestRecord::finish`], or as CANCELLED when the call is dropped before it (the client
/// reset the stream, or its deadline passed, while the records were being received).
struct IngestRecord {
    state: AppState,
    correlator: String,
    started: Instant,
    client: String,
    done: bool,
}

impl IngestRecord {
    fn new(state: AppState, correlator: String, started: Instant) -> IngestRecord {
        IngestRecord {
            state,
            correlator,
            started,
            client: String::new(),
            done: false,
        }
    }

    /// Records the call's end: its reply, or why it was refused.
    fn finish(mut self, result: &Result<pb::IngestResponse, Status>) {
        self.write(result);
    }

    fn write(&mut self, result: &Result<pb::IngestResponse, Status>) {
        self.done = true;
        let state = &self.state;
        let (accepted, rejected) = match result {
            Ok(r) => (r.accepted, r.rejected.values().sum::<u64>()),
            Err(_) => (0, 0),
        };
        let m = state.metrics();
        m.ingest(result.is_ok(), accepted, rejected);
        if let Err(s) = result {
            m.reject(s);
        }
        let audit = state.audit();
        if audit.enabled() {
            let code = match result {
                Ok(_) => tonic::Code::Ok,
                Err(s) => s.code(),
            };
            let line = AuditLine {
                time: crate::clock::now_rfc3339(),
                rpc: "ingest",
                client: &self.client,
                correlator: &self.correlator,
                number_hmac: None,
                params: None,
                anomaly_detected: None,
                anomaly_date: None,
                accepted: Some(accepted),
                rejected: Some(rejected),
                code: code_name(code),
                reason: result.as_ref().err().and_then(reason_of),
                latency_us: self.started.elapsed().as_micros() as u64,
            };
            if !audit.write(&line) {
                m.audit_dropped();
            }
        }
    }
}

impl Drop for IngestRecord {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let end = if std::thread::panicking() {
            Status::internal("the store failed")
        } else {
            Status::cancelled("the call ended before its records were all received")
        };
        self.write(&Err(end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[tls]` files that hold no certificate or key stop the start, named: tonic alone took
    /// them and failed every handshake of a server that had started.
    #[test]
    fn tls_files_without_a_certificate_or_key_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not PEM at all\n").unwrap();
        let missing = dir.path().join("missing.key");
        let cfg = |cert: &std::path::Path, key: &std::path::Path, ca: Option<&std::path::Path>| {
            TlsConfig {
                cert: cert.to_owned(),
                key: key.to_owned(),
                client_ca: ca.map(|c| c.to_owned()),
            }
        };
        let e = tls_config(&cfg(&junk, &junk, None))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        assert!(
            pem_key(&junk)
                .unwrap_err()
                .to_string()
                .contains("no PEM private key")
        );
        let e = pem_key(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.key"), "{e}");
    }
}
