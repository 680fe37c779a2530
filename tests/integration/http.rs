//! REST test support: a server with its REST port on 127.0.0.1:0, a real HTTP/1.1 client
//! (hyper's), and a real local callback sink that records what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hotzone::config::ServerSettings;
use hotzone::service::AppState;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{Server, spawn_state, wait_for};

/// A server with both ports, its state, and its REST address.
pub(crate) struct RestServer {
    pub(crate) server: Server,
    pub(crate) state: AppState,
    pub(crate) http: SocketAddr,
}

/// Starts a server with `http_listen = 127.0.0.1:0` and waits until it serves data.
pub(crate) async fn spawn_rest(mut s: ServerSettings) -> RestServer {
    s.http_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = AppState::new(s);
    let server = spawn_state(state.clone()).await;
    let http = wait_for("REST address", || async { state.http_addr() }).await;
    server.wait_serving().await;
    RestServer {
        server,
        state,
        http,
    }
}

/// One HTTP reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    send_on(TokioIo::new(stream), addr, method, path, headers, body)
        .await
        .unwrap()
}

/// Sends one request over TLS (server name `localhost`); `Err` when the handshake or the
/// exchange fails.
pub(crate) async fn request_tls(
    addr: SocketAddr,
    tls: Arc<tokio_rustls::rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    send_on(TokioIo::new(stream), addr, method, path, headers, body).await
}

async fn send_on<I>(
    io: I,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Reply, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    // JSON unless the caller names a type (an empty value: none sent).
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !typed {
        b = b.header("content-type", "application/json");
    }
    let headers = headers
        .iter()
        .filter(|(k, v)| !(k.eq_ignore_ascii_case("content-type") && v.is_empty()));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .expect("reply within 30 s")
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// POSTs a JSON value.
pub(crate) async fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Reply {
    request(
        addr,
        "POST",
        path,
        headers,
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// What a sink answers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SinkMode {
    /// Reply with this status.
    Status(u16),
    /// Read the request, never reply.
    Hang,
}

/// The `content-length` an HTTP head announces (0 when it has none).
pub(crate) fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// One request a sink received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Value,
}

/// A real HTTP server on 127.0.0.1:0 standing in for a client's callback endpoint.
pub(crate) struct SinkServer {
    pub(crate) addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
    mode: Arc<Mutex<SinkMode>>,
    task: tokio::task::JoinHandle<()>,
}

impl SinkServer {
    /// Starts a sink answering `mode`.
    pub(crate) async fn start(mode: SinkMode) -> SinkServer {
        SinkServer::start_with(mode, None).await
    }

    /// Starts a sink that speaks TLS with `tls` (an https sink).
    pub(crate) async fn start_with(
        mode: SinkMode,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> SinkServer {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let mode = Arc::new(Mutex::new(mode));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let tx = tx.clone();
                let m = m.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let tx = tx.clone();
                            let m = m.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let bytes = body.collect().await.unwrap().to_bytes();
                                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                                // Taken before the request is handed to the test, so a
                                // `set_mode` after `next()` applies to the next request only.
                                let mode = *m.lock().unwrap();
                                let _ = tx.send(Received {
                                    path: parts.uri.path().to_owned(),
                                    headers: parts.headers,
                                    body,
                                });
                                match mode {
                                    SinkMode::Hang => std::future::pending::<()>().await,
                                    SinkMode::Status(_) => {}
                                }
                                let SinkMode::Status(code) = mode else {
                                    unreachable!()
                                };
                                let mut r = http::Response::new(Full::new(Bytes::new()));
                                *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        },
                    );
                    let builder = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(sock), svc).await;
                        }
                        Some(a) => {
                            if let Ok(tls) = a.accept(sock).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                    }
                });
            }
        });
        SinkServer {
            addr,
            rx,
            mode,
            task,
        }
    }

    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes what it answers from now on.
    pub(crate) fn set_mode(&self, mode: SinkMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The next request, waiting at most 20 s.
    pub(crate) async fn next(&mut self) -> Received {
        self.next_within(Duration::from_secs(20)).await
    }

    /// The next request received, waiting at most `limit`.
    pub(crate) async fn next_within(&mut self, limit: Duration) -> Received {
        tokio::time::timeout(limit, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("a callback within {limit:?}"))
            .expect("sink open")
    }

    /// A request already received, if any (does not wait).
    pub(crate) fn try_next(&mut self) -> Option<Received> {
        self.rx.try_recv().ok()
    }
}

impl Drop for SinkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
