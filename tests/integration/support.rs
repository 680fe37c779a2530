//! Test support: a real server on `127.0.0.1:0` in this process, with a oneshot shutdown,
//! over a data directory; clients for it; bounded waits.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotzone::config::ServerSettings;
use hotzone::service::pb::fraud_hotzone_client::FraudHotzoneClient;
use hotzone::service::{self, AppState};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A running server.
pub(crate) struct Server {
    /// Its address.
    pub(crate) addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), service::ServeError>>>,
}

/// Settings over `dir` with a fast poll (tests tune the rest).
pub(crate) fn settings(dir: &Path) -> ServerSettings {
    let mut s = ServerSettings::for_data_dir(dir);
    s.poll_interval = Some(Duration::from_millis(200));
    s
}

/// Starts a server; it loads its data in the background.
pub(crate) async fn spawn(settings: ServerSettings) -> Server {
    spawn_state(AppState::new(settings)).await
}

/// Starts a server over a state the test keeps a handle to.
pub(crate) async fn spawn_state(state: AppState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(service::serve(listener, state, async {
        let _ = rx.await;
    }));
    Server {
        addr,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// Starts a server and waits until its data is loaded.
pub(crate) async fn spawn_loaded(settings: ServerSettings) -> Server {
    let s = spawn(settings).await;
    s.wait_serving().await;
    s
}

impl Server {
    /// `http://addr`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A channel to the server (retries while the listener task starts).
    pub(crate) async fn channel(&self) -> Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(self.url()).unwrap();
        wait_for("connect", || {
            let endpoint = endpoint.clone();
            async move { endpoint.connect().await.ok() }
        })
        .await
    }

    /// A FraudHotzone client.
    pub(crate) async fn client(&self) -> FraudHotzoneClient<Channel> {
        FraudHotzoneClient::new(self.channel().await)
    }

    /// The health status of `service`.
    pub(crate) async fn health(&self, service: &str) -> ServingStatus {
        let mut h = HealthClient::new(self.channel().await);
        let r = h
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap();
        r.into_inner().status()
    }

    /// Waits until health says SERVING.
    pub(crate) async fn wait_serving(&self) {
        wait_for("SERVING", || async {
            (self.health("").await == ServingStatus::Serving).then_some(())
        })
        .await;
    }

    /// Triggers shutdown and waits for the drain.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `f` every 50 ms until it gives `Some`, for at most 10 s.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `text` to `dir/name` atomically (temp + rename), as an exporter should.
pub(crate) fn drop_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, text).unwrap();
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// The conformance cases folder.
pub(crate) fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The rows of the CSV file `events` written as a table partitioned by the columns `keys`, as
/// Spark and Hive write one: a CSV file per combination of their values under
/// `out/<key>=<value>/…/part-0.csv`, without those columns (a value escaped `%XX` but for
/// letters, digits and `+-._:`, an empty one written `__HIVE_DEFAULT_PARTITION__`). Row order
/// is kept within each file. Returns the number of files written.
pub(crate) fn write_hive(events: &Path, out: &Path, keys: &[&str]) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(events)
        .unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let at: Vec<usize> = (keys.iter())
        .map(|k| header.iter().position(|h| h == k).unwrap())
        .collect();
    let escaped = |v: &str| -> String {
        if v.is_empty() {
            return "__HIVE_DEFAULT_PARTITION__".to_owned();
        }
        v.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'+' | b'-' | b'.' | b'_' | b':' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut files: std::collections::BTreeMap<PathBuf, csv::Writer<std::fs::File>> =
        Default::default();
    for record in reader.records() {
        let record = record.unwrap();
        let mut dir = out.to_path_buf();
        for (k, &i) in keys.iter().zip(&at) {
            dir = dir.join(format!("{k}={}", escaped(record.get(i).unwrap_or(""))));
        }
        let w = files.entry(dir.clone()).or_insert_with(|| {
            std::fs::create_dir_all(&dir).unwrap();
            let mut w = csv::Writer::from_path(dir.join("part-0.csv")).unwrap();
            let names = (0..header.len())
                .filter(|i| !at.contains(i))
                .map(|i| &header[i]);
            w.write_record(names).unwrap();
            w
        });
        let kept = (0..header.len().max(record.len()))
            .filter(|i| !at.contains(i))
            .map(|i| record.get(i).unwrap_or(""));
        w.write_record(kept).unwrap();
    }
    let n = files.len();
    for (_, mut w) in files {
        w.flush().unwrap();
    }
    n
}
