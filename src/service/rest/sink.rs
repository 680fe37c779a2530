//! Where callbacks go, and how they get there: sink URL policy and a one-shot HTTP(S) POST.
//!
//! # Which sinks are accepted
//! A sink is an absolute `https` URL whose host is a DNS name or a public IP address. Plain
//! `http`, and hosts that are (or resolve to) loopback, private (RFC 1918, fc00::/7),
//! link-local, CGNAT (100.64.0.0/10), unspecified, multicast or documentation addresses are
//! refused, unless the server runs with `allow_insecure_sinks` (tests, closed networks).
//! The rule is applied twice: to the URL when a subscription is created (a clear 400), and to
//! every address the name resolves to when a callback is sent (a DNS name cannot later point
//! a callback at the operator's own network).
//!
//! # Sending
//! [`post`] resolves, connects, does the TLS handshake (rustls with the `ring` provider and
//! the CAs of `sink_ca_file`) and sends one HTTP/1.1 request on a fresh connection, the whole
//! of it bounded by the caller's timeout. Callbacks are rare (one per anomaly per
//! subscription), so there is no pool to keep warm and nothing a slow sink can hold open.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;

/// A validated sink URL.
#[derive(Clone, Debug)]
pub struct Sink {
    uri: Uri,
    https: bool,
    host: String,
    port: u16,
}

impl Sink {
    /// The host and port callbacks go to (what shares of the delivery slots are kept by).
    pub fn origin(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// Checks a sink URL against the policy; the error is the rule it broke.
    pub fn parse(url: &str, allow_insecure: bool) -> Result<Sink, String> {
        let uri: Uri = url
            .parse()
            .map_err(|_| "must be an absolute URL".to_owned())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if allow_insecure => false,
            Some("http") => {
                return Err(
                    "must be an https URL (plain http needs allow_insecure_sinks)".to_owned(),
                );
            }
            _ => return Err("must be an https URL".to_owned()),
        };
        let host = uri
            .host()
            .ok_or_else(|| "must name a host".to_owned())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err("must not carry credentials in the URL".to_owned());
        }
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !allow_insecure {
            let lower = host.to_ascii_lowercase();
            if lower == "localhost" || lower.ends_with(".localhost") {
                return Err("must not be a loopback host".to_owned());
            }
            if host.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip)) {
                return Err(
                    "must not be a loopback, private, link-local or reserved address".to_owned(),
                );
            }
        }
        Ok(Sink {
            uri,
            https,
            host,
            port,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }
}

/// True for addresses a callback may reach without `allow_insecure_sinks`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

/// The TLS client configuration of https sinks: the CAs of `ca_file` (PEM).
pub fn tls_client(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Ok(iter) = CertificateDer::pem_file_iter(ca_file) {
        for c in iter.flatten() {
            let _ = roots.add(c);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// POSTs `body` to the sink; `Ok(status)` when an HTTP response came back within `timeout`.
/// Errors are short descriptions (no URL, no token) for the log.
pub async fn post(
    sink: &Sink,
    token: Option<&str>,
    body: Bytes,
    timeout: Duration,
    allow_insecure: bool,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<u16, String> {
    tokio::time::timeout(timeout, post_inner(sink, token, body, allow_insecure, tls))
        .await
        .map_err(|_| "timed out".to_owned())?
}

async fn post_inner(
    sink: &Sink,
    token: Option<&str>,
    body: Bytes,
    allow_insecure: bool,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<u16, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((sink.host.as_str(), sink.port))
        .await
        .map_err(|e| format!("resolve: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err("resolve: no address".to_owned());
    }
    if !allow_insecure && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err("refused: the sink resolves to a non-public address".to_owned());
    }
    let mut last = String::from("connect: no address");
    let mut stream = None;
    for a in &addrs {
        match tokio::net::TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    let path = sink.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = sink
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_else(|| sink.host.clone());
    let mut req = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/cloudevents+json")
        .header(header::USER_AGENT, "hotzone");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(body))
        .map_err(|_| "request: invalid header value".to_owned())?;
    if sink.https {
        let name = rustls::pki_types::ServerName::try_from(sink.host.clone())
            .map_err(|_| "tls: invalid server name".to_owned())?;
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let tls_stream = connector
            .connect(name, stream)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        send(TokioIo::new(tls_stream), req).await
    } else {
        send(TokioIo::new(stream), req).await
    }
}

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = sender.send_request(req).await;
    let out = match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Drain a small reply so the connection closes cleanly; its content is ignored.
            let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
                .collect()
                .await;
            Ok(status)
        }
        Err(e) => Err(format!("http: {e}")),
    };
    driver.abort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_policy() {
        assert!(Sink::parse("https://example.com/cb", false).is_ok());
        assert!(Sink::parse("https://93.184.216.34:8443/cb", false).is_ok());
        for bad in [
            "http://example.com/cb",
            "ftp://example.com/",
            "/relative",
            "https://localhost/cb",
            "https://127.0.0.1/cb",
            "https://10.1.2.3/cb",
            "https://192.168.0.1/cb",
            "https://172.16.5.5/cb",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/cb",
            "https://[::1]/cb",
            "https://[fd00::1]/cb",
            "https://[fe80::1]/cb",
            "https://[::ffff:127.0.0.1]/cb",
            "https://0.0.0.0/cb",
            "https://user:pw@example.com/cb",
        ] {
            assert!(Sink::parse(bad, false).is_err(), "{bad}");
        }
        assert!(Sink::parse("http://127.0.0.1:9/cb", true).is_ok());
        assert!(Sink::parse("ftp://127.0.0.1/", true).is_err());
    }
}
