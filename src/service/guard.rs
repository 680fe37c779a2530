//! The guard in front of every gRPC service: what is decided from a request's headers before
//! its body is read, and what tonic itself refused before a handler ran.
//!
//! [`Guarded`] wraps a tonic service (`FraudHotzone`, health, reflection) as a tower
//! [`Service`] over HTTP requests. For each request, in this order:
//!
//! 1. **Before the body.** The `x-correlator` pattern (`FraudHotzone` only), then the token (`FraudHotzone` always
//!    when clients are configured; health and reflection when the policy says they need one).
//!    A refusal is answered at once from the headers; the body is never polled, so a caller
//!    without a token cannot make the server buffer a byte beyond the HTTP/2 window (hyper
//!    resets the stream when the answer ends before the request body). The [`Caller`] found
//!    goes into the request's extensions for the handler (scopes, rate limits).
//! 2. **The service.** The handler marks the request as handled ([`mark_handled`]).
//! 3. **After.** A `FraudHotzone` call that ended *without* reaching its handler was refused
//!    by tonic while reading the body: an oversized message (OUT_OF_RANGE), bytes that are not
//!    the message (INVALID_ARGUMENT from [`super::codec`]), or a frame cut short, the
//!    compressed flag without an encoding, a unary call without a message, which tonic calls
//!    INTERNAL and [`super::status::wire_status`] turns into the client's mistake. Such a
//!    refusal is counted in the metrics and written to the audit log like a handler's, and
//!    carries the correlator back.
//!
//! A `Check` has `limits.check_timeout_s` from its headers to its answer, body included: a
//! client that sends half a body and stalls holds its buffer that long at most.
//!
//! Absent by design: no body is read here, and nothing about a refusal names a value.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;
use tonic::{Code, Status};

use super::audit::AuditLine;
use super::auth::{Caller, Scope};
use super::metrics::code_name;
use super::state::AppState;
use super::status::{correlator, correlator_text, echo, wire_status};

/// Which service a [`Guarded`] wraps (what its requests need before the body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `fraudhotzone.v1.FraudHotzone`: a token with the method's scope.
    Api,
    /// The health service: a token when `policy.health_needs_token`.
    Health,
    /// Server reflection: a token when `policy.reflection_needs_token`.
    Reflection,
}

/// A tonic service behind the guard.
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    state: AppState,
    kind: Kind,
}

impl<S> Guarded<S> {
    /// `inner`, guarded as a service of `kind`.
    pub fn new(inner: S, state: AppState, kind: Kind) -> Guarded<S> {
        Guarded { inner, state, kind }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

/// Set by a handler once it runs: a refusal without it came from tonic, before the handler.
#[derive(Clone, Default)]
struct Handled(Arc<AtomicBool>);

/// Marks the request as having reached its handler (call first thing in every handler).
pub fn mark_handled(ext: &tonic::Extensions) {
    if let Some(h) = ext.get::<Handled>() {
        h.0.store(true, Ordering::Relaxed);
    }
}

/// The scope of a `FraudHotzone` method, by its path.
fn scope_of(path: &str) -> Option<Scope> {
    match path.strip_prefix("/fraudhotzone.v1.FraudHotzone/")? {
        "Check" => Some(Scope::Check),
        "Ingest" => Some(Scope::Ingest),
        _ => None,
    }
}

/// Step 1: the caller (when the request needs one), or the refusal.
fn admit(
    state: &AppState,
    kind: Kind,
    scope: Option<Scope>,
    md: &MetadataMap,
) -> Result<Option<Caller>, Status> {
    let auth = state.auth();
    let policy = &state.settings().policy;
    match kind {
        Kind::Api => {
            // The CAMARA correlator is the API's header; health and reflection ignore it.
            correlator(md)?;
            scope.map(|s| auth.authorize(md, s)).transpose()
        }
        Kind::Health if policy.health_needs_token => auth.authenticate(md).map(Some),
        Kind::Reflection if policy.reflection_needs_token => auth.authenticate(md).map(Some),
        Kind::Health | Kind::Reflection => Ok(None),
    }
}

/// DEADLINE_EXCEEDED for a check that did not finish within `limit` (its body was slow).
fn check_timed_out(limit: Duration) -> Status {
    timed_out("a Check", limit)
}

/// DEADLINE_EXCEEDED for `what` (a request) that was not sent and answered within `limit`.
pub(crate) fn timed_out(what: &str, limit: Duration) -> Status {
    super::status::status(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        format!(
            "deadline exceeded: {what} must be sent and answered within {} s",
            limit.as_secs()
        ),
        None,
    )
}

/// Counts and audits a `FraudHotzone` call refused outside its handler (by this guard, or by
/// the REST port before it calls the handler).
pub(crate) fn refused(
    state: &AppState,
    scope: Scope,
    client: &str,
    ctext: &str,
    st: &Status,
    elapsed: Duration,
) {
    let m = state.metrics();
    let rpc = match scope {
        Scope::Check => {
            m.check(st.code(), None, elapsed);
            "check"
        }
        Scope::Ingest => {
            m.ingest(false, 0, 0);
            "ingest"
        }
    };
    m.reject(st);
    tracing::debug!(client, correlator = ctext, code = ?st.code(), rpc, "refused before the handler");
    let audit = state.audit();
    if audit.enabled() {
        let line = AuditLine {
            time: crate::clock::now_rfc3339(),
            rpc,
            client,
            correlator: ctext,
            number_hmac: None,
            params: None,
            anomaly_detected: None,
            anomaly_date: None,
            accepted: None,
            rejected: None,
            code: code_name(st.code()),
            reason: super::reason_of(st),
            latency_us: elapsed.as_micros() as u64,
        };
        if !audit.write(&line) {
            m.audit_dropped();
        }
    }
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        // The clone is fresh (not ready); the one made ready by `poll_ready` serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        let kind = self.kind;
        Box::pin(async move {
            let started = Instant::now();
            let scope = match kind {
                Kind::Api => scope_of(req.uri().path()),
                Kind::Health | Kind::Reflection => None,
            };
            // Read the headers as gRPC metadata without copying them.
            let md = MetadataMap::from_headers(std::mem::take(req.headers_mut()));
            let admitted = admit(&state, kind, scope, &md);
            // A valid token without the call's scope: its client is named in the refusal's
            // audit line (who tried to go past their scope).
            let denied = match &admitted {
                Err(st) if st.code() == Code::PermissionDenied => state
                    .auth()
                    .authenticate(&md)
                    .ok()
                    .map(|c| c.id.to_string()),
                _ => None,
            };
            let corr = correlator(&md).ok().flatten();
            *req.headers_mut() = md.into_headers();
            let ctext = correlator_text(corr.as_ref());
            let ctext = &*ctext;
            let caller = match admitted {
                Ok(c) => c,
                Err(mut st) => {
                    if let Some(s) = scope {
                        let client = denied.as_deref().unwrap_or("");
                        refused(&state, s, client, ctext, &st, started.elapsed());
                    }
                    echo(st.metadata_mut(), corr.as_ref());
                    return Ok(st.into_http());
                }
            };
            let handled = Handled::default();
            req.extensions_mut().insert(handled.clone());
            if let Some(c) = &caller {
                req.extensions_mut().insert(c.clone());
            }
            if scope == Some(Scope::Ingest) {
                // Tonic reads a reset request stream as ended: how it ended is kept for the
                // handler, which stores nothing of a reset upload.
                req = super::ingest::watch_end(req);
            }
            let call = inner.call(req);
            let resp = if scope == Some(Scope::Check) {
                // A check is microseconds of work: the time is its body's, which a slow
                // client could otherwise keep half-sent (and buffered) for ever.
                let limit = Duration::from_secs(state.settings().limits.check_timeout_s);
                match tokio::time::timeout(limit, call).await {
                    Ok(r) => r,
                    Err(_) => {
                        let mut st = check_timed_out(limit);
                        let client = caller.as_ref().map(|c| &*c.id).unwrap_or("");
                        refused(&state, Scope::Check, client, ctext, &st, started.elapsed());
                        echo(st.metadata_mut(), corr.as_ref());
                        return Ok(st.into_http());
                    }
                }
            } else {
                call.await
            };
            let resp = match resp {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let Some(s) = scope else {
                return Ok(resp);
            };
            if handled.0.load(Ordering::Relaxed) {
                return Ok(resp);
            }
            // Not handled: tonic answered from the body (a trailers-only response).
            match Status::from_header_map(resp.headers()) {
                Some(st) if st.code() != Code::Ok => {
                    let mut st = wire_status(st);
                    let client = caller.as_ref().map(|c| &*c.id).unwrap_or("");
                    refused(&state, s, client, ctext, &st, started.elapsed());
                    echo(st.metadata_mut(), corr.as_ref());
                    Ok(st.into_http())
                }
                _ => Ok(resp),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_their_scopes() {
        assert_eq!(
            scope_of("/fraudhotzone.v1.FraudHotzone/Check"),
            Some(Scope::Check)
        );
        assert_eq!(
            scope_of("/fraudhotzone.v1.FraudHotzone/Ingest"),
            Some(Scope::Ingest)
        );
        assert_eq!(scope_of("/fraudhotzone.v1.FraudHotzone/Other"), None);
        assert_eq!(scope_of("/grpc.health.v1.Health/Check"), None);
    }
}
