//! Calls whose requests end when the server's stop begins: server reflection's streams.
//!
//! A graceful stop waits for every call to end. A reflection stream never ends on its own:
//! its client sends a request, reads the answer and keeps the stream for the next one
//! (grpcurl closes it, GUI clients and long-lived tools keep one per connection), so one such
//! client made every stop last the whole drain grace (330 s by default), long after an
//! orchestrator's own grace had killed the process with its audit queue unwritten. Health
//! `Watch` streams are ended by [`super::health`], which knows their protocol.
//!
//! [`EndsAtStop`] wraps a service so that, once the stop begins, the request body of each of
//! its calls ends as if the client had half-closed the stream: the service answers what it
//! has read (tonic-reflection answers each request as it comes) and ends its reply with OK,
//! and the connection drains like any other. A call that starts after the stop began sees its
//! requests end at once. A request cut at the stop (half a message) is dropped, as a client's
//! stream cut short would be: reflection holds no state worth keeping.
//!
//! Absent by design: this is not for the API's `Ingest`, whose stream is work the stop must
//! let finish (it drains, within `limits.ingest_timeout_s`); nor does it touch a reply.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// `inner`, whose calls' request bodies end once `stopping` holds `true` (see the module docs).
#[derive(Clone)]
pub(crate) struct EndsAtStop<S> {
    inner: S,
    stopping: watch::Receiver<bool>,
}

impl<S> EndsAtStop<S> {
    /// `inner`, its request streams ending when `stopping` turns `true` (or its sender is gone).
    pub(crate) fn new(inner: S, stopping: watch::Receiver<bool>) -> EndsAtStop<S> {
        EndsAtStop { inner, stopping }
    }
}

impl<S: NamedService> NamedService for EndsAtStop<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for EndsAtStop<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> S::Future {
        let mut stopping = self.stopping.clone();
        let stop: Stop = Box::pin(async move {
            // A sender gone (the server's task ended) counts as the stop.
            let _ = stopping.wait_for(|s| *s).await;
        });
        self.inner.call(req.map(|body| {
            Body::new(UntilStop {
                body,
                stop: Some(stop),
            })
        }))
    }
}

/// Resolves when the stop begins.
type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A request body that ends when the stop begins, unless it ended before.
struct UntilStop {
    body: Body,
    /// `None` once the body has ended (either way).
    stop: Option<Stop>,
}

impl http_body::Body for UntilStop {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let Some(stop) = this.stop.as_mut() else {
            return Poll::Ready(None);
        };
        // What the client already sent is read first; the stop ends only a body that waits.
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.stop = None;
                Poll::Ready(None)
            }
            Poll::Ready(frame) => Poll::Ready(frame),
            Poll::Pending => match stop.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.stop = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stop.is_none() || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
