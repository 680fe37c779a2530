//! The standard gRPC health service (`grpc.health.v1.Health`): tonic-health's statuses, served
//! so that a `Watch` ends when the server stops.
//!
//! Clients with client-side health checking (grpc-java, grpc-go, grpcio with
//! `healthCheckConfig`) keep a `Watch` open on every connection, and tonic-health's stream never
//! ends on its own. A graceful stop waits for every call to end, so one such client made every
//! stop last the whole drain grace (330 s by default), long after an orchestrator's own grace
//! (Kubernetes kills at 30 s) had killed the process with its audit queue unwritten.
//!
//! Here `Check` is tonic-health's, and a `Watch` is tonic-health's stream until the stop
//! begins: it then sends NOT_SERVING (unless that was the last status it sent) and ends with
//! OK, which is what the health protocol asks of a server going away: the client learns the
//! status, and its connection drains like any other. A `Watch` opened after the stop began
//! sends NOT_SERVING and ends at once. A `Watch` of a service the server does not have is
//! sent SERVICE_UNKNOWN and stays open, as the protocol asks (until the stop, likewise).
//!
//! Absent: no status of its own. The statuses are the [`HealthReporter`]'s
//! (`AppState::set_health`), so `Check` and `Watch` always agree.
//!
//! [`HealthReporter`]: tonic_health::server::HealthReporter

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse, health_check_response};
use tonic_health::server::{HealthReporter, HealthService};

/// The health service over `reporter`'s statuses; its `Watch` streams end once `stopping`
/// holds `true` (or its sender is gone).
pub(crate) struct StoppingHealth {
    inner: HealthService,
    stopping: watch::Receiver<bool>,
}

impl StoppingHealth {
    /// The service reading `reporter`, ending its watches when `stopping` turns `true`.
    pub(crate) fn new(reporter: HealthReporter, stopping: watch::Receiver<bool>) -> StoppingHealth {
        StoppingHealth {
            inner: HealthService::from_health_reporter(reporter),
            stopping,
        }
    }
}

#[tonic::async_trait]
impl Health for StoppingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = UntilStopped;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<UntilStopped>, Status> {
        let statuses: Statuses = match self.inner.watch(request).await {
            Ok(r) => Box::pin(r.into_inner()),
            // The protocol: a service not known is told SERVICE_UNKNOWN and the call stays
            // open (tonic-health ends it with NOT_FOUND, which grpc-go's client-side health
            // checking takes for a failed connection). No service is registered later here.
            Err(s) if s.code() == tonic::Code::NotFound => {
                let unknown = health_check_response::ServingStatus::ServiceUnknown as i32;
                let first = HealthCheckResponse { status: unknown };
                Box::pin(tokio_stream::StreamExt::chain(
                    tokio_stream::once(Ok(first)),
                    tokio_stream::pending(),
                ))
            }
            Err(s) => return Err(s),
        };
        let mut stopping = self.stopping.clone();
        let stopped = Box::pin(async move {
            // An error is the sender gone: the server is gone too.
            let _ = stopping.wait_for(|&s| s).await;
        });
        Ok(Response::new(UntilStopped {
            statuses,
            stopped,
            last: None,
            ended: false,
        }))
    }
}

type Statuses = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

/// A `Watch` stream: the reporter's statuses until the stop, then NOT_SERVING and the end.
pub(crate) struct UntilStopped {
    statuses: Statuses,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The last status sent (raw protocol value).
    last: Option<i32>,
    /// The stop was seen and its NOT_SERVING sent (or not needed).
    ended: bool,
}

impl Stream for UntilStopped {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.stopped.as_mut().poll(cx).is_ready() {
            this.ended = true;
            let not_serving = health_check_response::ServingStatus::NotServing as i32;
            if this.last == Some(not_serving) {
                return Poll::Ready(None);
            }
            return Poll::Ready(Some(Ok(HealthCheckResponse {
                status: not_serving,
            })));
        }
        let next = this.statuses.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(r))) = &next {
            this.last = Some(r.status);
        }
        next
    }
}
