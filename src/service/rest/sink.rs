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
        // Read from the authority's text: `Uri::port` is `None` for a port that does not fit
        // 16 bits, which would have sent the callback to the scheme's default port.
        let authority = uri.authority().map_or("", |a| a.as_str());
        let after_host = authority
            .rsplit_once(']')
            .map_or(authority, |(_, rest)| rest);
        let port = match after_host.rsplit_once(':') {
            None | Some((_, "")) => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some((_, p)) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|c| c.is_ascii_digit()) => n,
                _ => return Err("must have a port from 1 to 65535".to_owned()),
            },
        };
        if host.contains('%') {
            return Err("must not carry an IPv6 zone".to_owned());
        }
        // A host no resolver or socket takes (`https://:443/`, `[]`, `[v1.x]`, `a..b`) could
        // never be delivered to: refused here, whatever the policy, rather than failing every
        // callback.
        let bracketed = authority.starts_with('[');
        if !(if bracketed {
            host.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            is_host_name(&host)
        }) {
            return Err("must name a valid host".to_owned());
        }
        if !allow_insecure {
            // One name however it is written: a final dot, any case.
            let lower = host.trim_end_matches('.').to_ascii_lowercase();
            if lower == "localhost" || lower.ends_with(".localhost") {
                return Err("must not be a loopback host".to_owned());
            }
            let ip = match host.parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                // `127.1`, `2130706433`, `0x7f.0.0.1`, `017700000001`, `127.0.0.1.`: what a
                // resolver reads as an IPv4 address (a name whose last label is numeric is
                // nothing else).
                Err(_) if numeric_last_label(&lower) => match ipv4_numbers(&lower) {
                    Some(v4) => Some(IpAddr::V4(v4)),
                    None => return Err("must name a valid host".to_owned()),
                },
                Err(_) => None,
            };
            if ip.is_some_and(|ip| !is_public(ip)) {
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

/// True when `host` is a name a resolver takes (or a dotted IPv4 address): labels of 1 to 63
/// letters, digits, `-` or `_`, separated by single dots (one final dot allowed), 253
/// characters at most.
fn is_host_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
}

/// True when the last label of `host` (a final dot dropped) is a number, decimal or `0x`
/// hex: such a host is an IPv4 address in one of its numeric forms, or invalid.
fn numeric_last_label(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or("");
    let hex = last.strip_prefix("0x");
    match hex {
        Some(h) => h.bytes().all(|c| c.is_ascii_hexdigit()),
        None => !last.is_empty() && last.bytes().all(|c| c.is_ascii_digit()),
    }
}

/// An IPv4 address in the numeric forms resolvers accept (`inet_aton`): one to four parts,
/// each decimal, `0x` hex or `0` octal, the last filling the bytes left (`127.1`,
/// `2130706433`); one final dot allowed. `host` is lower case.
fn ipv4_numbers(host: &str) -> Option<std::net::Ipv4Addr> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x") {
            if h.is_empty() {
                0
            } else {
                u64::from_str_radix(h, 16).ok()?
            }
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|&v| v > 255) || *last >= 1u64 << (8 * (4 - head.len())) {
        return None;
    }
    let mut n = *last;
    for (i, &v) in head.iter().enumerate() {
        n |= v << (8 * (3 - i));
    }
    Some(std::net::Ipv4Addr::from(u32::try_from(n).ok()?))
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
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let v4 = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            };
            // Forms that carry an IPv4 address reach that address: judged as it.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let zeros = |r: std::ops::Range<usize>| s[r].iter().all(|&x| x == 0);
            if zeros(0..6) && !v6.is_loopback() && !v6.is_unspecified() {
                return is_public(v4(s[6], s[7])); // IPv4-compatible ::a.b.c.d
            }
            if zeros(0..4) && s[4] == 0xffff && s[5] == 0 {
                return is_public(v4(s[6], s[7])); // IPv4-translated ::ffff:0:a.b.c.d
            }
            if s[0] == 0x64 && s[1] == 0xff9b && zeros(2..6) {
                return is_public(v4(s[6], s[7])); // NAT64 well-known prefix
            }
            if s[0] == 0x2002 {
                return is_public(v4(s[1], s[2])); // 6to4
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 local-use 64:ff9b:1::/48
                || (s[0] == 0x100 && zeros(1..4)) // discard-only
                || (s[0] == 0x2001 && s[1] == 0) // Teredo (the client address is hidden)
                || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0) // benchmarking
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

/// The TLS client configuration of https sinks: the CAs of `ca_file` (PEM). When
/// `required` (a file the settings name), a file that cannot be read or holds no usable
/// certificate is an error naming it, so the server does not start with https sinks that
/// can never be verified; the system bundle (not required) may be absent, and https
/// deliveries then fail one by one.
pub fn tls_client(
    ca_file: &std::path::Path,
    required: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    if let Err(e) = crate::files::regular(ca_file)
        && required
    {
        return Err(format!("sink_ca_file {}: {e}", ca_file.display()));
    }
    let mut roots = rustls::RootCertStore::empty();
    match CertificateDer::pem_file_iter(ca_file) {
        Ok(iter) => {
            for c in iter {
                match c {
                    Ok(c) => {
                        let _ = roots.add(c);
                    }
                    Err(e) if required => {
                        return Err(format!(
                            "sink_ca_file {}: not PEM certificates ({e})",
                            ca_file.display()
                        ));
                    }
                    Err(_) => {}
                }
            }
        }
        Err(e) if required => {
            return Err(format!("sink_ca_file {}: {e}", ca_file.display()));
        }
        Err(_) => {}
    }
    if required && roots.is_empty() {
        return Err(format!(
            "sink_ca_file {}: holds no CA certificate",
            ca_file.display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How long a reply's body is read after its status, only so the connection closes cleanly.
const DRAIN: Duration = Duration::from_secs(1);

/// The headers a subscription asked its callbacks to carry (`protocolSettings.headers`,
/// checked when it was created: none is one [`post`] writes itself).
pub type ExtraHeaders = [(http::HeaderName, http::HeaderValue)];

/// POSTs `body` to the sink, with `extra` headers; `Ok(status)` when the reply's status line
/// came back within `timeout`. The status decides: a 2xx whose body is slow to come is still
/// a 2xx (its body is read for at most a second more, and ignored). Errors are short
/// descriptions (no URL, no token, no header) for the log.
pub async fn post(
    sink: &Sink,
    token: Option<&str>,
    extra: &ExtraHeaders,
    body: Bytes,
    timeout: Duration,
    allow_insecure: bool,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<u16, String> {
    let reply = tokio::time::timeout(
        timeout,
        post_inner(sink, token, extra, body, allow_insecure, tls),
    )
    .await
    .map_err(|_| "timed out".to_owned())??;
    let _ = tokio::time::timeout(
        DRAIN.min(timeout),
        http_body_util::Limited::new(reply.body, 64 * 1024).collect(),
    )
    .await;
    Ok(reply.status)
}

/// A reply's status, its body not read yet, and the task driving the connection (aborted
/// when this is dropped).
struct Reply {
    status: u16,
    body: hyper::body::Incoming,
    _driver: Driver,
}

/// Aborts the connection's task when dropped.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn post_inner(
    sink: &Sink,
    token: Option<&str>,
    extra: &ExtraHeaders,
    body: Bytes,
    allow_insecure: bool,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Reply, String> {
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
    let mut req = req
        .body(Full::new(body))
        .map_err(|_| "request: invalid header value".to_owned())?;
    // Never one of the headers above (refused when the subscription was made); kept from
    // replacing them all the same.
    for (name, value) in extra {
        if !req.headers().contains_key(name) {
            req.headers_mut().append(name.clone(), value.clone());
        }
    }
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

async fn send<I>(io: I, req: Request<Full<Bytes>>) -> Result<Reply, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let driver = Driver(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"))?;
    Ok(Reply {
        status: resp.status().as_u16(),
        body: resp.into_body(),
        _driver: driver,
    })
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
            "https://[::127.0.0.1]/cb",
            "https://[::10.0.0.1]/cb",
            "https://[::ffff:0:a00:1]/cb",
            "https://[64:ff9b::a9fe:a9fe]/cb",
            "https://[64:ff9b:1::1]/cb",
            "https://[2002:7f00:1::]/cb",
            "https://[2002:c0a8:101::1]/cb",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/cb",
            "https://[fec0::1]/cb",
            "https://[100::1]/cb",
            "https://192.0.0.170/cb",
            "https://0.0.0.0/cb",
            "https://user:pw@example.com/cb",
            // Loopback and private addresses in the forms a resolver also reads.
            "https://127.1/cb",
            "https://2130706433/cb",
            "https://0x7f000001/cb",
            "https://0x7f.0.0.1/cb",
            "https://017700000001/cb",
            "https://0/cb",
            "https://10.1/cb",
            "https://127.0.0.1./cb",
            "https://localhost./cb",
            "https://foo.LocalHost./cb",
            "https://[fe80::1%25lo]/cb",
            "https://1.2.3.4.5/cb",
            "https://999.1.1.1/cb",
            // Ports outside 1..=65535 (65616 would have gone to port 80 or 443).
            "https://example.com:65616/cb",
            "https://example.com:99999/cb",
            "https://example.com:0/cb",
            // No host a resolver or a socket takes: every callback would fail.
            "https://:443/cb",
            "https://:8443/cb",
            "https://[]/cb",
            "https://[v1.x]/cb",
            "https://a..b/cb",
            "https://.example.com/cb",
            "https://exa mple.com/cb",
            "https://ex%41mple.com/cb",
        ] {
            assert!(Sink::parse(bad, false).is_err(), "{bad}");
        }
        // The IPv4 address a NAT64 or 6to4 address carries decides.
        assert!(Sink::parse("https://[64:ff9b::5db8:d822]/cb", false).is_ok());
        assert!(Sink::parse("https://[2002:5db8:d822::1]/cb", false).is_ok());
        assert!(Sink::parse("https://[2606:4700::1111]/cb", false).is_ok());
        assert!(Sink::parse("http://127.0.0.1:9/cb", true).is_ok());
        assert!(Sink::parse("http://127.0.0.1:65616/cb", true).is_err());
        assert_eq!(
            Sink::parse("https://example.com:8443/cb", false)
                .unwrap()
                .origin(),
            ("example.com", 8443)
        );
        // Public addresses in numeric forms, and names that merely contain digits.
        assert!(Sink::parse("https://1572395042/cb", false).is_ok()); // 93.184.216.34
        assert!(Sink::parse("https://93.184.55010/cb", false).is_ok());
        assert!(Sink::parse("https://sink1.example.com/cb", false).is_ok());
        assert!(Sink::parse("https://123.example/cb", false).is_ok());
        assert_eq!(
            ipv4_numbers("0x7f.1"),
            Some(std::net::Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            ipv4_numbers("0300.0250.1.1"),
            Some(std::net::Ipv4Addr::new(192, 168, 1, 1))
        );
        assert_eq!(ipv4_numbers("4294967296"), None);
        assert_eq!(ipv4_numbers("08.1.1.1"), None);
        assert!(Sink::parse("ftp://127.0.0.1/", true).is_err());
        // An unusable host is refused under `allow_insecure_sinks` too; names that resolvers
        // take pass.
        for bad in ["http://:8080/cb", "http://[]/cb", "http://a..b:9/cb"] {
            assert!(Sink::parse(bad, true).is_err(), "{bad}");
        }
        for good in [
            "https://example.com./cb",
            "https://_sink.example.com/cb",
            "https://x-1.example/cb",
        ] {
            assert!(Sink::parse(good, false).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_named_ca_file_must_hold_certificates_the_system_bundle_may_be_absent() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let err = tls_client(&missing, true).unwrap_err();
        assert!(err.contains("none.pem"), "{err}");
        assert!(tls_client(&missing, false).is_ok());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = tls_client(&empty, true).unwrap_err();
        assert!(err.contains("holds no CA certificate"), "{err}");
    }
}
