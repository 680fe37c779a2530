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
    /// Days in the window, ending with --as-of.
    #[arg(long)]
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
    /// `--server` as a URL: a bare `HOST:PORT` means `http://HOST:PORT`; a bare host without
    /// a port is an error (it meant port 80, where no `serve` listens by default).
    pub fn server_url(&self) -> anyhow::Result<String> {
        if self.server.contains("://") {
            return Ok(self.server.clone());
        }
        let port = self
            .server
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty() && (!host.contains(':') || host.ends_with(']')))
            .map(|(_, port)| port);
        match port {
            Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
                Ok(format!("http://{}", self.server))
            }
            _ => anyhow::bail!(
                "--server {:?}: expected HOST:PORT (as `serve --listen` takes it, e.g. 127.0.0.1:50051, [::1]:50051) or a URL",
                self.server
            ),
        }
    }

    /// A channel to `--server`, over TLS for `https://` URLs.
    pub async fn channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let url = self.server_url()?;
        let mut ep = Endpoint::from_shared(url.clone()).with_context(|| {
            format!("--server {:?} is neither HOST:PORT nor a URL", self.server)
        })?;
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca_cert {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let (Some(c), Some(k)) = (&self.client_cert, &self.client_key) {
                let cert = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
                let key = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
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
                eprintln!("error: {:?} ({}): {}", s.code(), reason, s.message());
                Ok(1)
            }
        }
    })
}
