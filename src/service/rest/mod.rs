//! The REST/JSON port (`http_listen`): the CAMARA-style check and the anomaly subscriptions.
//!
//! This is an adapter, like the gRPC service beside it, and a thin one:
//! - `POST /fraud-hotzone-alert/v0/check` turns the camelCase JSON body into the same
//!   `pb::CheckRequest` a gRPC client sends ([`check`]) and calls the gRPC service's own
//!   `Check` handler with the HTTP headers as its metadata. So the concurrency gate, the
//!   bearer token and its scope, both rate limits, the validation ([`crate::model::check`]),
//!   the lookup, the metrics and the audit line are the gRPC ones, not copies. (The token is
//!   also checked once from the headers before the body is read, with the same rule.) The reply is
//!   `{"anomalyDetected", "anomalyDate"}`; an error is the gRPC status turned into an HTTP
//!   status and a CAMARA body `{"status", "code", "message"}` by
//!   [`crate::service::status::rest_http_status`] (the one table).
//! - `/fraud-hotzone-alert-subscriptions/v0/subscriptions[/{id}]` ([`subscriptions`]) keeps
//!   subscriptions on disk; [`notify`] re-evaluates the subscribed numbers that new data
//!   touched and sends CloudEvents to their sinks through [`sink`].
//! - `GET /fraud-hotzone-alert/v0/openapi.yaml` serves the contract, `api/` in the
//!   repository, embedded at build time.
//!
//! The server is hyper's HTTP/1.1 connection driver over a plain or TLS socket (the same
//! `[tls]` files as the gRPC port; client certificates required when `client_ca` is set),
//! with a header read timeout so a silent client cannot hold a connection. A handler never
//! panics on input: every body is parsed into `serde_json::Value` and each field checked by
//! hand, so a wrong type names the field. `x-correlator` is checked against CAMARA's pattern,
//! echoed on every reply and carried into the logs; no phone number reaches a log line, a
//! metric or an error message.

pub mod check;
mod linger;
pub mod notify;
pub mod sink;
pub mod subscriptions;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

use crate::config::TlsConfig;
use crate::service::auth::Scope;
use crate::service::status::{CORRELATOR_HEADER, rest_code, rest_http_status};
use crate::service::{AppState, ServeError};

/// Path of the check.
pub const CHECK_PATH: &str = "/fraud-hotzone-alert/v0/check";
/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/fraud-hotzone-alert/v0/openapi.yaml";
/// Path of the subscription collection.
pub const SUBSCRIPTIONS_PATH: &str = "/fraud-hotzone-alert-subscriptions/v0/subscriptions";
/// The OpenAPI document of the check API (`api/fraud-hotzone-alert.yaml`).
pub const OPENAPI_YAML: &str = include_str!("../../../api/fraud-hotzone-alert.yaml");

/// Longest a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest [`RestHandle::stop`] waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The running REST port and its background tasks.
pub struct RestHandle {
    shutdown: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    /// Closed at the stop: it journals the callbacks not yet delivered.
    subs: Arc<subscriptions::Store>,
}

impl RestHandle {
    /// Stops accepting connections, lets the requests in flight finish (at most
    /// 10 s; idle keep-alive connections are closed), then stops the
    /// subscription tasks. Anomaly callbacks not yet delivered (waiting for a slot, or to
    /// retry a failing sink) are journaled as unsent, so the next start sends them
    /// ([`subscriptions::Store::close`]).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let mut server = self.server;
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("REST requests still running after the drain timeout: cut");
            server.abort();
        }
        for t in self.tasks {
            t.abort();
        }
        let subs = self.subs;
        match tokio::task::spawn_blocking(move || subs.close()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(
                    callbacks = n,
                    "anomaly callbacks not yet delivered: sent again at the next start"
                )
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not journal the anomaly callbacks not yet delivered: they are lost")
            }
            Err(e) => tracing::error!(error = %e, "closing the subscription store failed"),
        }
    }
}

/// What every request handler shares.
pub(crate) struct App {
    pub(crate) state: AppState,
    pub(crate) api: crate::service::Api,
    pub(crate) subs: Arc<subscriptions::Store>,
    pub(crate) notifier: notify::Notifier,
}

/// Opens the subscription store, binds `addr`, and serves the REST API and the subscription
/// notifier until [`RestHandle::stop`].
pub async fn start(addr: SocketAddr, state: AppState) -> Result<RestHandle, ServeError> {
    let tls = match &state.settings().tls {
        Some(t) => Some(tls_acceptor(t)?),
        None => None,
    };
    let sink_tls = notify::Notifier::sink_tls(&state).map_err(ServeError::Http)?;
    let subs = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || subscriptions::Store::open(&state))
            .await
            .map_err(|e| ServeError::Http(e.to_string()))?
            .map_err(|e| ServeError::Http(format!("subscriptions: {e}")))?
    };
    let subs = Arc::new(subs);
    let (notifier, notifier_tasks) =
        notify::Notifier::start(state.clone(), subs.clone(), sink_tls).map_err(ServeError::Http)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ServeError::Http(format!("{addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError::Http(format!("{addr}: {e}")))?;
    state.set_http_addr(bound);
    tracing::info!(addr = %bound, tls = tls.is_some(), subscriptions = subs.len(), "serving the REST API");
    let app_subs = subs.clone();
    let app = Arc::new(App {
        api: crate::service::Api::new(state.clone()),
        state,
        subs,
        notifier,
    });
    let (shutdown, stopping) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(accept_loop(listener, tls, app, stopping));
    Ok(RestHandle {
        shutdown,
        server,
        tasks: notifier_tasks,
        subs: app_subs,
    })
}

/// The rustls acceptor of `[tls]` (HTTP/1.1 only).
fn tls_acceptor(t: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use tokio_rustls::rustls;
    let err = |p: &std::path::Path, e: &dyn std::fmt::Display| {
        ServeError::Tls(format!("{}: {e}", p.display()))
    };
    let certs = crate::service::pem_certs(&t.cert)?;
    let key = crate::service::pem_key(&t.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match &t.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in crate::service::pem_certs(ca)? {
                roots.add(c).map_err(|e| err(ca, &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| err(ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err(&t.cert, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Completes once `stopping` is true (at once if it already is).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, before any other await.
    let _ = stopping.wait_for(|s| *s).await.map(|_| ());
}

/// Accepts until `stopping` turns true, then waits for the open connections to finish
/// (each is told to close once its current request is answered).
async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    // The gRPC port's bound, counted apart: a flood of REST connections cannot take the
    // process's file descriptors, nor the gRPC port's places.
    let limit = {
        let l = &app.state.settings().limits;
        crate::service::limits::ConnectionLimit::new(
            l.max_connections,
            l.max_connections_per_address,
            Duration::from_secs(l.write_stall_timeout_s),
        )
    };
    let refusals = crate::service::limits::ConnectionLimit::new(
        REFUSALS_AT_ONCE,
        REFUSALS_PER_ADDRESS,
        REFUSAL_TIMEOUT,
    );
    loop {
        while conns.try_join_next().is_some() {}
        let sock = tokio::select! {
            () = stopped(&mut stopping) => break,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "REST accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = sock.set_nodelay(true);
        let sock = match limit.admit(sock) {
            Ok(s) => s,
            Err((refused, sock)) => {
                refused.record(crate::service::limits::Port::Rest, app.state.metrics());
                // Answered with a 503 while few refusals are under way, and few of them for
                // this address; else closed at once.
                if let Ok(sock) = refusals.admit(sock) {
                    let tls = tls.clone();
                    conns.spawn(async move {
                        let answered = refuse_connection(sock, tls, refused);
                        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, answered).await;
                    });
                }
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        let stopping = stopping.clone();
        conns.spawn(async move {
            match tls {
                None => serve_connection(sock, app, stopping).await,
                Some(acceptor) => {
                    match tokio::time::timeout(super::TLS_HANDSHAKE_TIMEOUT, acceptor.accept(sock))
                        .await
                    {
                        Ok(Ok(s)) => serve_connection(s, app, stopping).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "REST TLS handshake failed"),
                        Err(_) => tracing::debug!("REST TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Most connections over the limits answered with a 503 at once; more are closed unanswered.
/// A refusal takes a file descriptor and a task for at most [`REFUSAL_TIMEOUT`], so a flood
/// costs a bounded amount beyond `max_connections`.
const REFUSALS_AT_ONCE: usize = 256;

/// Most refusals under way for one address (counted as `max_connections_per_address`
/// counts), so that one address cannot keep every refusal place busy for the others; enough
/// for a client that opens a connection per request and bursts past its limit (Node's
/// `fetch`: 300 requests at once, 44 over 256, each answered).
const REFUSALS_PER_ADDRESS: usize = 64;

/// How long a refused connection is given, in all, to finish a TLS handshake, send its
/// request and read the 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a refused connection is given to send its request's head.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// The most of a refused request's body read (and dropped unparsed) before the 503, so that
/// the close does not reset the connection under the reply; a check's body is well under it.
const REFUSAL_DRAIN_BYTES: usize = 8 * 1024;

/// Answers one request on a connection over the limits with `503 Service Unavailable` (a
/// CAMARA body, `Retry-After: 1`, `Connection: close`), then closes it. A client that opens
/// a connection per request (Node's `fetch` and `http`, Go's default client) got a TCP reset
/// instead: a POST failed with `ECONNRESET`, or hung in `fetch` for minutes. Up to
/// [`REFUSAL_DRAIN_BYTES`] of the request's body are read first and dropped unparsed (a
/// socket closed with unread bytes sends a reset that can destroy the reply before the
/// client reads it); no token is looked at, and the correlator is echoed when it is valid.
async fn refuse_connection(
    sock: crate::service::limits::Limited,
    tls: Option<tokio_rustls::TlsAcceptor>,
    why: crate::service::limits::Refused,
) {
    let message = match why {
        crate::service::limits::Refused::Address => {
            "too many connections from this address (limits.max_connections_per_address); retry later"
        }
        crate::service::limits::Refused::Port => {
            "too many connections (limits.max_connections); retry later"
        }
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
        let (parts, body) = req.into_parts();
        let _ = Limited::new(body, REFUSAL_DRAIN_BYTES).collect().await;
        let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message);
        let md = MetadataMap::from_headers(parts.headers);
        echo(
            &mut r,
            crate::service::status::correlator(&md)
                .ok()
                .flatten()
                .as_ref(),
        );
        let h = r.headers_mut();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        Ok::<_, Infallible>(r)
    });
    let builder = || {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(REFUSAL_HEAD_TIMEOUT)
            .keep_alive(false);
        b
    };
    match tls {
        None => {
            let _ = builder()
                .serve_connection(TokioIo::new(sock), service)
                .await;
        }
        Some(acceptor) => {
            if let Ok(s) = acceptor.accept(sock).await {
                let _ = builder().serve_connection(TokioIo::new(s), service).await;
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    app: Arc<App>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // A reply that leaves its body unread closes the connection: the close lingers, reading
    // and dropping the rest of the body, so that the client still sending it gets the reply
    // (`linger`).
    let (stream, linger) = linger::Lingering::new(stream);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        let linger = linger.clone();
        async move {
            let resp = route(&app, req).await;
            // A reply that leaves the body unread lingers at the close; any other reply ends
            // what was read so far (the stream asks again when more comes: `Lingering`).
            let close = (resp.headers().get(header::CONNECTION)).is_some_and(|v| v == "close");
            linger.answered(close);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut stopping) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A reply body: whole, or made a chunk at a time as the connection takes it (a list of
/// many subscriptions is never one buffer).
pub(crate) enum Body {
    Full(Full<Bytes>),
    Chunks(Box<dyn Iterator<Item = Bytes> + Send>),
}

impl Default for Body {
    fn default() -> Self {
        Body::Full(Full::default())
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Full(f) => std::pin::Pin::new(f).poll_frame(cx),
            Body::Chunks(it) => {
                std::task::Poll::Ready(it.next().map(|b| Ok(http_body::Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(f) => f.is_end_stream(),
            Body::Chunks(_) => false,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(f) => f.size_hint(),
            Body::Chunks(_) => http_body::SizeHint::default(),
        }
    }
}

/// True when the request's `Content-Type` is JSON (`application/json`, or a `+json` type),
/// parameters aside.
fn is_json(md: &MetadataMap) -> bool {
    md.get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

/// Dispatches one request by method and path.
async fn route(app: &App, req: Request<Incoming>) -> Response<Body> {
    use hyper::body::Body as _;
    let started = std::time::Instant::now();
    let (parts, body) = req.into_parts();
    let body = RequestBody {
        ended: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(body.is_end_stream())),
        inner: body,
    };
    let ended = std::sync::Arc::clone(&body.ended);
    let md = MetadataMap::from_headers(parts.headers);
    let path = parts.uri.path();
    let method = &parts.method;
    // A check refused here (its correlator, its media type) is counted and audited as a
    // refused check, as the gRPC port counts one with a bad correlator.
    let a_check = path == CHECK_PATH && method == Method::POST;
    let refused_check = |s: &Status, ctext: &str| {
        if a_check {
            let elapsed = started.elapsed();
            crate::service::guard::refused(&app.state, Scope::Check, "", ctext, s, elapsed);
        }
    };
    let corr = match crate::service::status::correlator(&md) {
        Ok(c) => c,
        Err(s) => {
            refused_check(&s, "");
            return error_response(&s, None);
        }
    };
    // A body compressed on the way (`Content-Encoding`) is refused, naming it, before it is
    // read: a check's or a subscription's body is well under the 64 KiB a body may hold.
    let encoded = (md.get(header::CONTENT_ENCODING.as_str()))
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity");
    let mut resp = if let Some(encoding) = encoded.filter(|_| method == Method::POST) {
        let message = format!(
            "the request body must not be compressed: Content-Encoding {} is not taken (send it as it is)",
            crate::model::shown::shown(&encoding)
        );
        let s = crate::service::status::status(
            tonic::Code::InvalidArgument,
            "UNSUPPORTED_MEDIA_TYPE",
            message.clone(),
            None,
        );
        refused_check(&s, &crate::service::status::correlator_text(corr.as_ref()));
        json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            &message,
        )
    } else if method == Method::POST && !is_json(&md) {
        // A browser sends `text/plain`, a form or no type cross-origin without asking first:
        // only JSON is taken, so a web page cannot make a check or a subscription on a
        // server without tokens (loopback), and the body is never read.
        let message = "the request body must be JSON: Content-Type: application/json";
        let s = crate::service::status::status(
            tonic::Code::InvalidArgument,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
            None,
        );
        refused_check(&s, &crate::service::status::correlator_text(corr.as_ref()));
        json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
        )
    } else if path == CHECK_PATH {
        if method == Method::POST {
            check::handle(app, md, body).await
        } else {
            not_allowed("POST")
        }
    } else if path == OPENAPI_PATH {
        // HEAD as GET (hyper sends no body for it).
        if method == Method::GET || method == Method::HEAD {
            let mut r = Response::new(Body::Full(Full::new(Bytes::from_static(
                OPENAPI_YAML.as_bytes(),
            ))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/yaml"),
            );
            r
        } else {
            not_allowed("GET, HEAD")
        }
    } else if path == SUBSCRIPTIONS_PATH {
        match *method {
            Method::POST => subscriptions::create(app, &md, body).await,
            Method::GET | Method::HEAD => subscriptions::list(app, &md),
            _ => not_allowed("GET, HEAD, POST"),
        }
    } else if let Some(id) = path
        .strip_prefix(SUBSCRIPTIONS_PATH)
        .and_then(|p| p.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
    {
        match *method {
            Method::GET | Method::HEAD => subscriptions::get(app, &md, id),
            Method::DELETE => subscriptions::delete(app, &md, id).await,
            _ => not_allowed("GET, HEAD, DELETE"),
        }
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such resource; see GET /fraud-hotzone-alert/v0/openapi.yaml",
        )
    };
    echo(&mut resp, corr.as_ref());
    if resp.status() == StatusCode::UNAUTHORIZED {
        // RFC 9110 wants the scheme a 401 asks for (RFC 6750's bearer token).
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hotzone\""),
        );
    }
    if ended.load(std::sync::atomic::Ordering::Relaxed) {
        // The idle close, told ahead: a client that honours the hint (Node's agents, undici)
        // stops reusing the connection before the server closes it, instead of racing the
        // close with its next request (a POST lost so is not retried by most clients).
        resp.headers_mut()
            .insert(KEEP_ALIVE, HeaderValue::from_static(KEEP_ALIVE_HINT));
    } else {
        // A body refused unread (a token, a media type, a length past the limit) is never
        // read, so hyper closes the connection after the reply: said here, so that a client
        // does not send its next request on it (Go's pool lost one in a few after a 401 or
        // a 415 to a request with `Expect: 100-continue` or a large body).
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A request's body, and whether it has been read to its end ([`read_body`] says so; a
/// request without a body has been).
pub(crate) struct RequestBody {
    inner: Incoming,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// `Keep-Alive`, the header of the hint.
const KEEP_ALIVE: header::HeaderName = header::HeaderName::from_static("keep-alive");

/// The hint: a little under [`HEADER_READ_TIMEOUT`], the idle close.
const KEEP_ALIVE_HINT: &str = "timeout=8";

/// The largest REST request body, whatever `limits.max_request_bytes` allows the gRPC port:
/// a check or a subscription is well under 2 KiB, even with a long hotzone list.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads a request body of at most `limit` bytes (and at most [`MAX_BODY_BYTES`]); a longer
/// or broken body is an INVALID_ARGUMENT naming the limit. A body not in by `deadline` (`what`
/// was to be sent and answered within `within`) is DEADLINE_EXCEEDED, as the gRPC port says
/// of a Check whose body is slow (answered 504 `TIMEOUT`, CAMARA's code, by
/// [`error_response`]).
pub(crate) async fn read_body(
    body: RequestBody,
    limit: usize,
    (deadline, within, what): (tokio::time::Instant, Duration, &str),
) -> Result<Bytes, Status> {
    use hyper::body::Body as _;
    let RequestBody { inner: body, ended } = body;
    let limit = limit.min(MAX_BODY_BYTES);
    let too_long = || {
        crate::service::status::status(
            tonic::Code::InvalidArgument,
            "INVALID_ARGUMENT",
            format!("invalid argument: the request body must be at most {limit} bytes"),
            Some("body"),
        )
    };
    // A `content-length` past the limit is refused before a byte of the body is read.
    if body.size_hint().lower() > limit as u64 {
        return Err(too_long());
    }
    let collected = tokio::time::timeout_at(deadline, Limited::new(body, limit).collect()).await;
    match collected {
        Ok(Ok(b)) => {
            ended.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(b.to_bytes())
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_long()),
        Err(_) => Err(crate::service::guard::timed_out(what, within)),
        Ok(Err(_)) => Err(crate::service::status::status(
            tonic::Code::InvalidArgument,
            "INVALID_ARGUMENT",
            "invalid argument: the request body could not be read",
            Some("body"),
        )),
    }
}

/// A JSON reply with `status`.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Body::Full(Full::new(Bytes::from(bytes))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A CAMARA error body.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &serde_json::json!({"status": status.as_u16(), "code": code, "message": message}),
    )
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this method is not allowed on this resource",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// A gRPC status as a CAMARA error reply: the HTTP status and code from the one table in
/// [`crate::service::status`], the message with the fields named as this API spells them.
pub(crate) fn error_response(s: &Status, corr: Option<&AsciiMetadataValue>) -> Response<Body> {
    use tonic_types::StatusExt;
    let status =
        StatusCode::from_u16(rest_http_status(s)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut message = s.message().to_owned();
    if let Some(field) = s
        .get_details_error_info()
        .and_then(|i| i.metadata.get("field").cloned())
        .filter(|_| !message.contains(check::NOT_A_FIELD))
    {
        message = message.replacen(&field, json_name(&field), 1);
    }
    let mut r = json_error(status, &rest_code(s), &message);
    echo(&mut r, corr);
    r
}

/// The JSON name of a check field named in snake case by the library's messages.
pub(crate) fn json_name(field: &str) -> &str {
    match field {
        "phone_number" => "phoneNumber",
        "look_back_days" => "lookBackDays",
        "threshold_ratio" => "thresholdRatio",
        "hotzone" => "fraudHotZone",
        "hotzone_name" => "hotzoneName",
        "check_type" => "checkType",
        "check_target" => "checkTarget",
        "min_events" => "minEvents",
        "as_of" => "asOf",
        other => other,
    }
}

/// Echoes the correlator.
fn echo(r: &mut Response<Body>, corr: Option<&AsciiMetadataValue>) {
    if let Some(v) = corr.and_then(|c| HeaderValue::from_bytes(c.as_encoded_bytes()).ok()) {
        r.headers_mut().insert(CORRELATOR_HEADER, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hint names fewer seconds than the server waits: a client that follows it never
    /// sends on a connection the server is closing.
    #[test]
    fn the_keep_alive_hint_is_under_the_idle_close() {
        let secs: u64 = KEEP_ALIVE_HINT
            .strip_prefix("timeout=")
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(secs >= 1 && Duration::from_secs(secs + 1) < HEADER_READ_TIMEOUT);
    }
}
