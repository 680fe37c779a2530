//! The gRPC service (SPEC §6): an adapter between the wire (`proto/`) and the library.
//!
//! [`serve`] takes a bound listener, the [`AppState`] and a shutdown future (mini-redis's
//! `server::run(listener, shutdown)`), so the binary passes ctrl-c/SIGTERM and tests bind
//! `127.0.0.1:0`. It serves three services: `fraudhotzone.v1.FraudHotzone`, the standard
//! health service (NOT_SERVING until the data is loaded) and server reflection (v1 and v1alpha).
//!
//! Layout, one job per file:
//! - [`pb`]: generated types and the descriptor set;
//! - [`state`]: the shared state and the snapshot it publishes;
//! - [`reload`]: first load, directory polling, rebuild-and-swap;
//! - [`check`]: the `Check` handler (request -> params -> verdict);
//! - [`ingest`]: the `Ingest` handler (records -> durable file -> new segment);
//! - [`status`]: errors -> gRPC status with CAMARA ErrorInfo; the `x-correlator` header.
//!
//! Absent by design: no detection logic here, no counts in any reply, no phone number in any
//! log line or error message (logs carry the correlator only).

pub mod check;
pub mod ingest;
pub mod pb;
pub mod reload;
pub mod state;
pub mod status;

use std::future::Future;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

pub use state::AppState;

use pb::fraud_hotzone_server::{FraudHotzone, FraudHotzoneServer};
use status::{correlator, correlator_text, echo, to_status};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptor set (a build problem).
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
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
    let health = tonic_health::pb::health_server::HealthServer::new(
        tonic_health::server::HealthService::from_health_reporter(state.health().clone()),
    );
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // v1 for current tools; v1alpha for older grpcurl and grpc_cli builds.
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let api = FraudHotzoneServer::new(Api {
        state: state.clone(),
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, data_dir = %state.settings().data_dir.display(), tz = %state.settings().tz, "serving fraudhotzone.v1.FraudHotzone");
    }
    let loader = tokio::spawn(reload::run(state.clone()));
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(s) = &conn {
            // Small request/reply messages: don't let Nagle delay them.
            let _ = s.set_nodelay(true);
        }
        conn
    });
    let for_signal = state.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        for_signal.set_health(false).await;
    };
    let result = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(api)
        .serve_with_incoming_shutdown(incoming, signal)
        .await;
    loader.abort();
    tracing::info!("server stopped");
    Ok(result?)
}

/// The `FraudHotzone` service: correlator handling and logging around the handlers.
struct Api {
    state: AppState,
}

#[tonic::async_trait]
impl FraudHotzone for Api {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let corr = correlator(request.metadata())?;
        let ctext = correlator_text(corr.as_ref());
        let span = tracing::info_span!("check", correlator = ctext);
        let _entered = span.enter(); // no .await below: the check is a short synchronous lookup
        let started = Instant::now();
        match check::check(&self.state, request.get_ref()) {
            Ok(reply) => {
                tracing::debug!(
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "check ok"
                );
                let mut resp = Response::new(reply);
                echo(resp.metadata_mut(), corr.as_ref());
                Ok(resp)
            }
            Err(e) => {
                let mut s = to_status(&e, ctext);
                tracing::debug!(code = ?s.code(), elapsed_us = started.elapsed().as_micros() as u64, "check refused");
                echo(s.metadata_mut(), corr.as_ref());
                Err(s)
            }
        }
    }

    async fn ingest(
        &self,
        request: Request<Streaming<pb::IngestRequest>>,
    ) -> Result<Response<pb::IngestResponse>, Status> {
        let corr = correlator(request.metadata())?;
        let ctext = correlator_text(corr.as_ref()).to_owned();
        let span = tracing::info_span!("ingest", correlator = %ctext);
        let result = ingest::ingest(&self.state, request.into_inner(), &ctext)
            .instrument(span)
            .await;
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
