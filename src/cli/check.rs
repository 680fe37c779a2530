//! `hotzone check`: one check against a running server, printed for a human.
//!
//! Prints `anomaly_detected=true anomaly_date=2026-03-10` on success. On a refused check it
//! prints the gRPC code, the message and the ErrorInfo reason on stderr and exits 1.
//!
//! Credentials: `--token` (or `HOTZONE_TOKEN`) is sent as `authorization: Bearer <token>`.
//! An `https://` server is reached over TLS, trusting `--ca-cert` (else the system's
//! webpki roots are not consulted: pass the CA); `--client-cert`/`--client-key` present a
//! client certificate for mutual TLS.

use anyhow::Context;
use clap::Args;
use tonic_types::StatusExt;

use super::{MethodArg, TargetArg, TypeArg};
use crate::model::shown::{shown, shown_address};
use crate::service::pb::{self, fraud_hotzone_client::FraudHotzoneClient};
use crate::service::status::CORRELATOR_HEADER;

/// Flags of `hotzone check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Server address: HOST:PORT (plaintext, as `serve --listen` takes it), or a URL
    /// (`http://HOST:PORT`, `https://HOST:PORT` for TLS).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub server: String,
    /// The number to check, E.164 (+886912345678).
    #[arg(long)]
    pub phone_number: String,
    /// Days in the window, ending with --as-of; at least 1 (0 is the protocol's "not given").
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub look_back_days: u32,
    /// SHARE: 0 < r <= 1; SPIKE: r >= 1.
    #[arg(long)]
    pub threshold_ratio: f64,
    /// Detection method (default: the server's default, SHARE).
    #[arg(long, value_enum, ignore_case = true)]
    pub method: Option<MethodArg>,
    /// Hotzone entries, comma-separated (NG,JM,+882); default: the server's.
    #[arg(long, value_delimiter = ',')]
    pub hotzone: Vec<String>,
    /// A named hotzone configured on the server, instead of --hotzone (giving both is refused).
    #[arg(long)]
    pub hotzone_name: Option<String>,
    /// Which kinds of events count (default all).
    #[arg(long, value_enum, ignore_case = true)]
    pub check_type: Option<TypeArg>,
    /// Which directions count (default all).
    #[arg(long, value_enum, ignore_case = true)]
    pub check_target: Option<TargetArg>,
    /// Minimum hot events on an anomalous day, at least 1 (default 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_events: Option<u32>,
    /// Last day of the window, YYYY-MM-DD (default: today in the server's time zone).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Sent as the x-correlator header (echoed by the server, found in its logs).
    #[arg(long)]
    pub correlator: Option<String>,
    /// Bearer token (prefer the HOTZONE_TOKEN environment variable: flags show in `ps`).
    #[arg(long, env = "HOTZONE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) that the server's certificate chains to (https:// servers).
    #[arg(long)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
    /// Name expected in the server's certificate (default: the URL's host).
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// Seconds to connect and to get the answer; past them the check fails (1 to 86400).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_s: u64,
}

impl CheckArgs {
    /// The request these flags describe.
    pub fn request(&self) -> pb::CheckRequest {
        pb::CheckRequest {
            phone_number: self.phone_number.clone(),
            look_back_days: self.look_back_days,
            method: match self.method {
                None => pb::Method::Unspecified,
                Some(MethodArg::Share) => pb::Method::Share,
                Some(MethodArg::Spike) => pb::Method::Spike,
            } as i32,
            threshold_ratio: self.threshold_ratio,
            hotzone: self
                .hotzone
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            check_type: match self.check_type {
                None => pb::CheckType::Unspecified,
                Some(TypeArg::All) => pb::CheckType::All,
                Some(TypeArg::Call) => pb::CheckType::Call,
                Some(TypeArg::Sms) => pb::CheckType::Sms,
            } as i32,
            check_target: match self.check_target {
                None => pb::CheckTarget::Unspecified,
                Some(TargetArg::All) => pb::CheckTarget::All,
                Some(TargetArg::Incoming) => pb::CheckTarget::Incoming,
                Some(TargetArg::Outgoing) => pb::CheckTarget::Outgoing,
            } as i32,
            min_events: self.min_events.unwrap_or(0),
            as_of: self.as_of.clone().unwrap_or_default(),
            hotzone_name: self.hotzone_name.clone().unwrap_or_default(),
        }
    }
}

impl CheckArgs {
    /// `--server` as a URL ([`server_url`]).
    pub fn server_url(&self) -> anyhow::Result<String> {
        server_url(&self.server)
    }

    /// A channel to `--server`, over TLS for `https://` URLs.
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let url = self.server_url()?;
        let mut ep = Endpoint::from_shared(url.clone()).with_context(|| {
            format!(
                "--server {} is neither HOST:PORT nor a URL",
                shown_address(&self.server)
            )
        })?;
        let timeout = std::time::Duration::from_secs(self.timeout_s);
        ep = ep.connect_timeout(timeout).timeout(timeout);
        let tls_flags =
            self.ca_cert.is_some() || self.client_cert.is_some() || self.tls_domain.is_some();
        if tls_flags && !url.starts_with("https://") {
            anyhow::bail!(
                "--ca-cert, --client-cert, --client-key and --tls-domain need an https:// server (got {:?}, which is plaintext)",
                self.server
            );
        }
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(pem_file(ca, CERTIFICATE)?));
            }
            if let (Some(c), Some(k)) = (&self.client_cert, &self.client_key) {
                let cert = pem_file(c, CERTIFICATE)?;
                let key = pem_file(k, PRIVATE_KEY)?;
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            if let Some(d) = &self.tls_domain {
                tls = tls.domain_name(d.clone());
            }
            ep = ep.tls_config(tls).context("TLS settings")?;
        }
        ep.connect()
            .await
            .with_context(|| format!("connecting to {}", self.server))
    }
}

/// A `--server` value (of `check`, and `soak`) as a URL: a bare `HOST:PORT` means
/// `http://HOST:PORT`; a bare host without a port is an error (it meant port 80, where no
/// `serve` listens by default); the scheme is `http` or `https` in any case (given back in
/// lower case), and a port must be 1 to 65535 (the URL parser dropped one it could not hold,
/// and the call went to the scheme's default port instead).
pub fn server_url(server: &str) -> anyhow::Result<String> {
    if let Some((scheme, rest)) = server.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            anyhow::bail!(
                "--server {}: the scheme must be http:// (plaintext) or https:// (TLS)",
                shown_address(server)
            );
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let Some((_, port)) = host_port
            .rsplit_once(':')
            .filter(|(host, _)| !host.contains(':') || host.ends_with(']'))
            && port.parse::<u16>().ok().filter(|p| *p > 0).is_none()
        {
            anyhow::bail!(
                "--server {}: port {} is not a port (1 to 65535)",
                shown_address(server),
                shown(port)
            );
        }
        return Ok(format!("{scheme}://{rest}"));
    }
    let port = server
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty() && (!host.contains(':') || host.ends_with(']')))
        .map(|(_, port)| port);
    match port {
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(format!("http://{server}")),
        _ => anyhow::bail!(
            "--server {}: expected HOST:PORT (as `serve --listen` takes it, e.g. 127.0.0.1:50051, [::1]:50051) or a URL",
            shown_address(server)
        ),
    }
}

/// What a PEM file given to `check` must hold: a block of this kind.
const CERTIFICATE: (&str, &str) = ("CERTIFICATE-----", "PEM certificate");
const PRIVATE_KEY: (&str, &str) = ("PRIVATE KEY-----", "PEM private key");

/// The bytes of a PEM file, which must hold a block of `kind`: tonic reads the PEM only at
/// the handshake, where a key file given as the CA read "invalid peer certificate:
/// UnknownIssuer" and a certificate-less client file "peer sent no certificates".
fn pem_file(path: &std::path::Path, kind: (&str, &str)) -> anyhow::Result<Vec<u8>> {
    let pem = crate::files::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (marker, what) = kind;
    let holds = |needle: &str| pem.windows(needle.len()).any(|w| w == needle.as_bytes());
    if !holds(&format!("-----BEGIN {marker}")) && !holds(&format!(" {marker}")) {
        anyhow::bail!("{}: holds no {what}", path.display());
    }
    Ok(pem)
}

/// Sends the check and prints the verdict; exit code 0, or 1 when the server refused it.
#[allow(clippy::print_stdout)] // the verdict is this command's output
pub fn run(a: &CheckArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut client = FraudHotzoneClient::new(a.channel().await?);
        let mut req = tonic::Request::new(a.request());
        if let Some(t) = &a.token {
            let v = format!("Bearer {t}")
                .parse()
                .context("--token must be printable ASCII")?;
            req.metadata_mut().insert("authorization", v);
        }
        if let Some(c) = &a.correlator {
            let v = c.parse().context("--correlator must be printable ASCII")?;
            req.metadata_mut().insert(CORRELATOR_HEADER, v);
        }
        match client.check(req).await {
            Ok(resp) => {
                let r = resp.into_inner();
                println!(
                    "anomaly_detected={} anomaly_date={}",
                    r.anomaly_detected, r.anomaly_date
                );
                Ok(0)
            }
            Err(s) => {
                let reason = s
                    .get_details_error_info()
                    .map(|i| i.reason)
                    .unwrap_or_default();
                // A failure below gRPC (a TLS alert, a reset, a port that speaks no HTTP/2)
                // has its cause in the source chain, not the message ("transport error").
                let mut cause = String::new();
                let mut source = std::error::Error::source(&s);
                while let Some(e) = source {
                    // tonic's message is its source's text ("transport error"): said once.
                    let said = e.to_string();
                    if said != s.message() {
                        cause.push_str(&format!(": {said}"));
                    }
                    source = e.source();
                }
                eprintln!("error: {:?} ({}): {}{cause}", s.code(), reason, s.message());
                Ok(1)
            }
        }
    })
}
