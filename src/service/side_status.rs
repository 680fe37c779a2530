//! The refusals of the side services (health, reflection) in this server's own terms.
//!
//! Health and server reflection are tonic's own services, decoded by tonic's codec and
//! answering with tonic-reflection's messages. Two of their refusals broke this server's
//! rules (an adversarial pass found both):
//!
//! - A health request that does not decode (a `service` name that is not UTF-8) was
//!   `INTERNAL`, the code of the server's own failures; the API answers `INVALID_ARGUMENT`
//!   for a message it cannot decode ([`super::codec`]). It is `INVALID_ARGUMENT` here too.
//!   (A reflection stream whose request does not decode is ended by tonic-reflection with
//!   no reply and `OK`: there is no status to rewrite.)
//! - Reflection's `NOT_FOUND` quoted the name asked for whole (`symbol '+886912345679' not
//!   found`, 8.5 KB names included), so a caller's number could come back in an error
//!   message. The message now names what was not found, never the name.
//!
//! [`SideStatus`] wraps such a service and rewrites `grpc-status`/`grpc-message` where the
//! reply carries them: in its trailers, or in its headers for a reply of trailers only.
//! Absent by design: nothing else of a reply is touched, and the API's replies never pass
//! here (their messages are written by [`super::status`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;

/// `inner`, its refusals rewritten (see the module docs).
#[derive(Clone)]
pub(crate) struct SideStatus<S> {
    inner: S,
}

impl<S> SideStatus<S> {
    pub(crate) fn new(inner: S) -> SideStatus<S> {
        SideStatus { inner }
    }
}

impl<S: NamedService> NamedService for SideStatus<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for SideStatus<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let reply = self.inner.call(req);
        Box::pin(async move {
            let mut reply = reply.await?;
            rewrite(reply.headers_mut());
            Ok(reply.map(|body| Body::new(Rewritten { body })))
        })
    }
}

/// A reply body whose trailers are rewritten.
struct Rewritten {
    body: Body,
}

impl http_body::Body for Rewritten {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(match frame.into_trailers() {
                Ok(mut trailers) => {
                    rewrite(&mut trailers);
                    http_body::Frame::trailers(trailers)
                }
                Err(frame) => frame,
            }))),
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `grpc-status` codes this module reads or writes.
const INVALID_ARGUMENT: &str = "3";
const NOT_FOUND: &str = "5";
const INTERNAL: &str = "13";

/// Rewrites the status `map` carries, if it carries one this module rewrites.
fn rewrite(map: &mut http::HeaderMap) {
    let code = map.get("grpc-status").and_then(|v| v.to_str().ok());
    let message = map.get("grpc-message").and_then(|v| v.to_str().ok());
    let replaced = match (code, message) {
        (Some(INTERNAL), Some(m))
            if m.starts_with("failed%20to%20decode") || m.starts_with("failed to decode") =>
        {
            Some((
                INVALID_ARGUMENT,
                "the request is not a valid message of the call",
            ))
        }
        (Some(NOT_FOUND), Some(m)) if m.starts_with("symbol") => Some((
            NOT_FOUND,
            "no symbol of that name is served here (the name asked for is not echoed)",
        )),
        (Some(NOT_FOUND), Some(m)) if m.starts_with("file") => Some((
            NOT_FOUND,
            "no file of that name is served here (the name asked for is not echoed)",
        )),
        _ => None,
    };
    if let Some((code, message)) = replaced {
        map.insert("grpc-status", http::HeaderValue::from_static(code));
        // Plain ASCII with no `%`: its percent-encoding is itself, but for the spaces.
        let encoded = message.replace(' ', "%20");
        if let Ok(v) = http::HeaderValue::from_str(&encoded) {
            map.insert("grpc-message", v);
        }
        map.remove("grpc-status-details-bin");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: &str, message: &str) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        m.insert("grpc-status", http::HeaderValue::from_str(code).unwrap());
        m.insert(
            "grpc-message",
            http::HeaderValue::from_str(message).unwrap(),
        );
        m
    }

    #[test]
    fn not_found_never_echoes_and_undecodable_is_invalid_argument() {
        let mut m = status("5", "symbol%20'+886912345679'%20not%20found");
        rewrite(&mut m);
        let said = m["grpc-message"].to_str().unwrap();
        assert_eq!(m["grpc-status"], "5");
        assert!(
            said.starts_with("no%20symbol") && !said.contains("886"),
            "{said}"
        );
        let mut m = status("5", "file%20'+886912345679.proto'%20not%20found");
        rewrite(&mut m);
        assert!(!m["grpc-message"].to_str().unwrap().contains("886"));
        let mut m = status("13", "failed%20to%20decode%20Protobuf%20message");
        rewrite(&mut m);
        assert_eq!(m["grpc-status"], "3");
        // Anything else passes as it is.
        for (code, message) in [("0", ""), ("13", "boom"), ("3", "invalid%20MessageRequest")] {
            let mut m = status(code, message);
            rewrite(&mut m);
            assert_eq!(m, status(code, message));
        }
    }
}
