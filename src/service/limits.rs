//! How much a caller may ask, and how much the server takes on at once.
//!
//! - [`RateLimiter`]: token buckets per client and per (client, number) (`[policy]`). A
//!   refused call gets RESOURCE_EXHAUSTED with ErrorInfo `TOO_MANY_REQUESTS`. The per-number
//!   limit is what stops a caller from mapping someone's contacts by asking one country at a
//!   time, or bisecting thresholds: each of those needs many checks of the same number.
//!   Each client holds at most `number_table_max` per-number buckets. A full bucket holds no
//!   state (a fresh one is the same) and is forgotten; an active one is never evicted to make
//!   room, because forgetting it would hand its number a fresh burst (checking many other
//!   numbers would then be a way around the limit). A client whose share is all active
//!   buckets gets TOO_MANY_REQUESTS for numbers it has not checked lately, until some of its
//!   buckets refill. So one client can probe at most `number_table_max` distinct numbers per
//!   refill time of one token (`3600 / number_checks_per_hour` s), and never more than its
//!   own rate (`client_checks_per_s`).
//! - [`Gate`]: at most `max_concurrent_calls` checks in the handler; one more is refused at
//!   once with UNAVAILABLE (retryable) instead of queueing (load shedding).
//! - [`IngestGate`]: the separate budget of `Ingest` streams, so ingests (which wait on their
//!   client for as long as it sends) can never take the slots checks need: at most
//!   `max_concurrent_ingests` open streams (UNAVAILABLE past it), `max_ingests_per_client` per
//!   client (RESOURCE_EXHAUSTED `TOO_MANY_REQUESTS` past it), and
//!   `max_pending_ingest_records` records held by unfinished streams together (UNAVAILABLE).
//! - [`ConnectionLimit`]: at most `max_connections` TCP connections on a port (the gRPC and
//!   REST ports have one each), at most `max_connections_per_address` from one client
//!   address; one more is closed at once. With the HTTP/2 windows and stream count this bounds the request
//!   bytes the server can be made to buffer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};

use crate::config::PolicyConfig;
use crate::model::Msisdn;
use crate::service::auth::Caller;
use crate::service::status::status;

/// A token bucket: `capacity` tokens, refilled at `rate` per second.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, capacity: f64, rate: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(capacity);
        self.last = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, capacity: f64, rate: f64, now: Instant) -> bool {
        self.refill(capacity, rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full at `now` (so forgetting it loses nothing).
    pub fn is_full_at(&self, capacity: f64, rate: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + dt * rate >= capacity
    }
}

/// One limit: bucket size and refill rate per second; rate 0 = off.
#[derive(Clone, Copy, Debug)]
struct Limit {
    capacity: f64,
    rate: f64,
}

impl Limit {
    fn on(self) -> bool {
        self.rate > 0.0
    }
}

/// Per-client and per-(client, number) token buckets.
pub struct RateLimiter {
    client: Limit,
    number: Limit,
    table_max: usize,
    clients: Mutex<HashMap<u32, Bucket>>,
    numbers: Mutex<NumberTable>,
}

/// The per-(client, number) buckets, with how many each client holds and when its full
/// buckets were last swept out.
#[derive(Default)]
struct NumberTable {
    buckets: HashMap<(u32, u64), Bucket>,
    held: HashMap<u32, (usize, Option<Instant>)>,
}

/// Least time between two sweeps of one client's full buckets (a sweep walks the table).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl RateLimiter {
    /// From the policy.
    pub fn new(p: &PolicyConfig) -> RateLimiter {
        RateLimiter {
            client: Limit {
                capacity: f64::from(p.client_burst),
                rate: p.client_checks_per_s,
            },
            number: Limit {
                capacity: f64::from(p.number_burst),
                rate: p.number_checks_per_hour / 3600.0,
            },
            table_max: p.number_table_max.max(1),
            clients: Mutex::new(HashMap::new()),
            numbers: Mutex::new(NumberTable::default()),
        }
    }

    /// One call of `caller`; RESOURCE_EXHAUSTED when its bucket is empty.
    pub fn admit_client(&self, caller: &Caller) -> Result<(), Status> {
        if !self.client.on() {
            return Ok(());
        }
        let now = Instant::now();
        let mut t = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let b = t
            .entry(caller.index)
            .or_insert_with(|| Bucket::full(self.client.capacity, now));
        if b.take(self.client.capacity, self.client.rate, now) {
            Ok(())
        } else {
            Err(too_many("client"))
        }
    }

    /// One check of `number` by `caller`; RESOURCE_EXHAUSTED when that pair's bucket is
    /// empty, or when the caller's share of the table is all active buckets.
    pub fn admit_number(&self, caller: &Caller, number: Msisdn) -> Result<(), Status> {
        if !self.number.on() {
            return Ok(());
        }
        let now = Instant::now();
        let key = (caller.index, number.value());
        let mut t = self.numbers.lock().unwrap_or_else(|p| p.into_inner());
        let t = &mut *t;
        if !t.buckets.contains_key(&key) {
            let (held, last_sweep) = t.held.get(&caller.index).copied().unwrap_or((0, None));
            if held >= self.table_max {
                if last_sweep.is_none_or(|at| now.saturating_duration_since(at) >= SWEEP_EVERY) {
                    self.sweep(t, caller.index, now);
                }
                if t.held
                    .get(&caller.index)
                    .is_some_and(|h| h.0 >= self.table_max)
                {
                    return Err(too_many("numbers"));
                }
            }
            t.held.entry(caller.index).or_insert((0, None)).0 += 1;
        }
        let b = t
            .buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(self.number.capacity, now));
        if b.take(self.number.capacity, self.number.rate, now) {
            Ok(())
        } else {
            Err(too_many("number"))
        }
    }

    /// Buckets in the per-number table (for metrics and tests).
    pub fn tracked_numbers(&self) -> usize {
        self.numbers.lock().map(|t| t.buckets.len()).unwrap_or(0)
    }

    /// Forgets `client`'s full buckets (they hold no state).
    fn sweep(&self, t: &mut NumberTable, client: u32, now: Instant) {
        let Limit { capacity, rate } = self.number;
        let before = t.buckets.len();
        t.buckets
            .retain(|k, b| k.0 != client || !b.is_full_at(capacity, rate, now));
        let h = t.held.entry(client).or_insert((0, None));
        h.0 -= before - t.buckets.len();
        h.1 = Some(now);
    }
}

fn too_many(which: &str) -> Status {
    let message = match which {
        "client" => "too many requests: this client's rate limit is reached; retry later",
        "numbers" => {
            "too many requests: this client is checking too many distinct phone numbers; retry later"
        }
        _ => {
            "too many requests: the rate limit for checks of this phone_number is reached; retry later"
        }
    };
    status(
        Code::ResourceExhausted,
        "TOO_MANY_REQUESTS",
        message,
        (which == "number").then_some("phone_number"),
    )
}

/// The concurrency bound: a call holds a [`Permit`] while its handler runs.
#[derive(Clone)]
pub struct Gate {
    sem: Arc<Semaphore>,
    max: usize,
}

/// Held while a call runs; dropping it frees the slot.
pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    /// At most `max` calls at once.
    pub fn new(max: usize) -> Gate {
        Gate {
            sem: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
        }
    }

    /// A slot now, or UNAVAILABLE (never waits).
    pub fn enter(&self) -> Result<Permit, Status> {
        self.sem
            .clone()
            .try_acquire_owned()
            .map(|p| Permit { _permit: p })
            .map_err(|_| {
                status(
                    Code::Unavailable,
                    "UNAVAILABLE",
                    "unavailable: the server is at its concurrent call limit; retry with backoff",
                    None,
                )
            })
    }

    /// Calls running now.
    pub fn in_flight(&self) -> usize {
        self.max - self.sem.available_permits()
    }
}

/// The `Ingest` budget: open streams in all, per client, and records held unfinished.
#[derive(Clone)]
pub struct IngestGate {
    inner: Arc<IngestInner>,
}

struct IngestInner {
    slots: Arc<Semaphore>,
    max: usize,
    per_client: usize,
    open: Mutex<HashMap<u32, usize>>,
    pending_max: usize,
    pending: AtomicUsize,
}

/// Held by an open `Ingest` stream: its slot, its client's count, and the records it holds.
pub struct IngestPermit {
    inner: Arc<IngestInner>,
    _slot: OwnedSemaphorePermit,
    client: u32,
    held: usize,
}

impl IngestGate {
    /// At most `max` streams, `per_client` of one client, `pending_max` records held.
    pub fn new(max: usize, per_client: usize, pending_max: usize) -> IngestGate {
        IngestGate {
            inner: Arc::new(IngestInner {
                slots: Arc::new(Semaphore::new(max.max(1))),
                max: max.max(1),
                per_client: per_client.max(1),
                open: Mutex::new(HashMap::new()),
                pending_max,
                pending: AtomicUsize::new(0),
            }),
        }
    }

    /// A stream for `caller` now, or the refusal (never waits): RESOURCE_EXHAUSTED
    /// `TOO_MANY_REQUESTS` when the client has its share open, UNAVAILABLE when all are.
    pub fn enter(&self, caller: &Caller) -> Result<IngestPermit, Status> {
        let inner = &self.inner;
        let mut open = inner.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(caller.index).or_insert(0);
        if *n >= inner.per_client {
            return Err(status(
                Code::ResourceExhausted,
                "TOO_MANY_REQUESTS",
                format!(
                    "too many requests: this client already has {} Ingest calls open; finish one first",
                    inner.per_client
                ),
                None,
            ));
        }
        let slot = inner.slots.clone().try_acquire_owned().map_err(|_| {
            status(
                Code::Unavailable,
                "UNAVAILABLE",
                "unavailable: the server is at its limit of open Ingest calls; retry with backoff",
                None,
            )
        })?;
        *n += 1;
        Ok(IngestPermit {
            inner: inner.clone(),
            _slot: slot,
            client: caller.index,
            held: 0,
        })
    }

    /// Streams open now.
    pub fn in_flight(&self) -> usize {
        self.inner.max - self.inner.slots.available_permits()
    }

    /// Records held by unfinished streams now.
    pub fn pending_records(&self) -> usize {
        self.inner.pending.load(Ordering::Relaxed)
    }
}

impl IngestPermit {
    /// Counts `records` more as held by this stream; UNAVAILABLE when all streams together
    /// would hold more than the bound (the stream's earlier records stay counted until it
    /// ends).
    pub fn hold(&mut self, records: usize) -> Result<(), Status> {
        let pending = &self.inner.pending;
        let before = pending.fetch_add(records, Ordering::Relaxed);
        if before + records > self.inner.pending_max {
            pending.fetch_sub(records, Ordering::Relaxed);
            return Err(status(
                Code::Unavailable,
                "UNAVAILABLE",
                "unavailable: the server holds too many records of unfinished Ingest calls; nothing was stored, retry with backoff",
                None,
            ));
        }
        self.held += records;
        Ok(())
    }
}

impl Drop for IngestPermit {
    fn drop(&mut self) {
        self.inner.pending.fetch_sub(self.held, Ordering::Relaxed);
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// A connection of a port, holding its place under `limits.max_connections` (and its
/// address's under `limits.max_connections_per_address`) for as long as it is open.
///
/// A write (or flush) that waits `limits.write_stall_timeout_s` without the client taking
/// a byte fails with `TimedOut`, and the connection's driver (hyper, tonic) closes it: a
/// client that sends requests and never reads the replies cannot keep its places.
///
/// A connection given a lifetime ([`ConnectionLimit::with_lifetime`]) fails every read and
/// write once it has passed, whatever it is doing: the last bound on how long a connection
/// holds its place, behind the gentler ones (the gRPC port's GOAWAY at its age, which a
/// stream that never ends, such as a health `Watch`, would otherwise outlive).
pub struct Limited {
    io: tokio::net::TcpStream,
    _slot: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
    stall: std::time::Duration,
    /// Armed while a write is pending; cleared whenever one makes progress.
    stalled_since: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// Fires when the connection's lifetime is over.
    ends: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Limited {
    /// `Some(error)` once the connection's lifetime is over (the timer is registered
    /// otherwise, so the task wakes when it ends).
    fn over(&mut self, cx: &mut std::task::Context<'_>) -> Option<std::io::Error> {
        let ends = self.ends.as_mut()?;
        ends.as_mut().poll(cx).is_ready().then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the connection outlived limits.max_connection_age_s and its grace",
            )
        })
    }

    /// The state of the pending write that `pending` says did not progress: still waiting,
    /// or (once the stall timeout has passed) an error.
    fn stalled<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<T>> {
        let stall = self.stall;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client read nothing for limits.write_stall_timeout_s",
            ))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    /// `poll` of a write-side call, under the stall timeout.
    fn watched<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: impl FnOnce(
            std::pin::Pin<&mut tokio::net::TcpStream>,
            &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        if let Some(e) = self.over(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        match poll(std::pin::Pin::new(&mut self.io), cx) {
            std::task::Poll::Ready(r) => {
                self.stalled_since = None;
                std::task::Poll::Ready(r)
            }
            std::task::Poll::Pending => self.stalled(cx),
        }
    }
}

/// Connections open per client address.
type OpenPerAddress = Arc<Mutex<HashMap<std::net::IpAddr, usize>>>;

/// One connection's share of its address's count; given back when the connection closes.
struct AddressSlot {
    open: OpenPerAddress,
    ip: std::net::IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The bound on open connections: [`ConnectionLimit::admit`] a new one or drop it.
#[derive(Clone)]
pub struct ConnectionLimit {
    slots: Arc<Semaphore>,
    per_address: usize,
    open: OpenPerAddress,
    stall: std::time::Duration,
    lifetime: Option<std::time::Duration>,
}

impl ConnectionLimit {
    /// At most `max` connections open at once, at most `per_address` of them from one
    /// client address.
    /// A write that waits `stall` on a client that reads nothing fails (see [`Limited`]).
    pub fn new(max: usize, per_address: usize, stall: std::time::Duration) -> ConnectionLimit {
        ConnectionLimit {
            slots: Arc::new(Semaphore::new(max.max(1))),
            per_address: per_address.max(1),
            open: Arc::default(),
            stall,
            lifetime: None,
        }
    }

    /// Every connection admitted fails its reads and writes once it is `lifetime` old
    /// (see [`Limited`]).
    pub fn with_lifetime(self, lifetime: std::time::Duration) -> ConnectionLimit {
        ConnectionLimit {
            lifetime: Some(lifetime),
            ..self
        }
    }

    /// The connection with its places, or why it has none, with the connection (closed when
    /// dropped; the REST port answers it first).
    pub fn admit(
        &self,
        io: tokio::net::TcpStream,
    ) -> Result<Limited, (Refused, tokio::net::TcpStream)> {
        let address = match io.peer_addr() {
            Ok(peer) => {
                let ip = address_key(peer.ip());
                let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
                let n = open.entry(ip).or_insert(0);
                if *n >= self.per_address {
                    return Err((Refused::Address, io));
                }
                *n += 1;
                Some(AddressSlot {
                    open: self.open.clone(),
                    ip,
                })
            }
            Err(_) => None, // already gone: the read will say so
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err((Refused::Port, io));
        };
        Ok(Limited {
            io,
            _slot: slot,
            _address: address,
            stall: self.stall,
            stalled_since: None,
            ends: (self.lifetime).map(|l| Box::pin(tokio::time::sleep(l))),
        })
    }
}

/// Why [`ConnectionLimit::admit`] closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The port holds `max_connections`.
    Port,
    /// The client's address holds `max_connections_per_address` on this port.
    Address,
}

/// The server's two ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// `listen`.
    Grpc,
    /// `http_listen`.
    Rest,
}

impl Refused {
    /// Counts the refusal in `metrics` and logs it (at debug: a flood must not flood the
    /// log); the client's address is not logged.
    pub fn record(self, port: Port, metrics: &crate::service::metrics::Metrics) {
        let rest = port == Port::Rest;
        metrics.connection_refused(rest, self == Refused::Address);
        let port = if rest { "rest" } else { "grpc" };
        match self {
            Refused::Port => tracing::debug!(
                port,
                "connection limit reached (max_connections): a new connection was closed"
            ),
            Refused::Address => tracing::debug!(
                port,
                "per-address connection limit reached (max_connections_per_address): a new \
                 connection was closed; behind a proxy or NAT, raise it to max_connections"
            ),
        }
    }
}

/// What connections are counted by: the address itself for IPv4 (an IPv4-mapped IPv6 address
/// counts as its IPv4 form), the /64 network for IPv6 (a host holds a whole /64, so counting
/// single addresses would not bound it).
fn address_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            std::net::IpAddr::V6(s.into())
        }
        v4 => v4,
    }
}

impl tokio::io::AsyncRead for Limited {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.over(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Limited {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.get_mut().watched(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.get_mut().watched(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.get_mut().watched(cx, |io, cx| io.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.get_mut()
            .watched(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Limited {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The status of an Ingest stream that sent nothing for `idle`.
pub fn idle_exceeded(idle: Duration) -> Status {
    status(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        format!(
            "deadline exceeded: an Ingest call sent no message for {} s; nothing was stored",
            idle.as_secs()
        ),
        None,
    )
}

/// The status of an Ingest that did not finish sending in time.
pub fn deadline_exceeded(limit: Duration) -> Status {
    status(
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        format!(
            "deadline exceeded: an Ingest call must send its records within {} s; nothing was stored",
            limit.as_secs()
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(i: u32) -> Caller {
        Caller {
            id: Arc::from("c"),
            index: i,
        }
    }

    #[test]
    fn connections_are_counted_by_host_ipv4_or_ipv6_network() {
        let key = |t: &str| address_key(t.parse().unwrap());
        assert_eq!(key("::ffff:10.1.2.3"), key("10.1.2.3"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::full(2.0, t0);
        assert!(b.take(2.0, 1.0, t0));
        assert!(b.take(2.0, 1.0, t0));
        assert!(!b.take(2.0, 1.0, t0));
        assert!(b.take(2.0, 1.0, t0 + Duration::from_millis(1000)));
        assert!(b.is_full_at(2.0, 1.0, t0 + Duration::from_secs(5)));
    }

    #[test]
    fn per_number_and_per_client_limits() {
        let p = PolicyConfig {
            number_checks_per_hour: 1.0,
            number_burst: 2,
            client_checks_per_s: 0.001,
            client_burst: 5,
            ..PolicyConfig::default()
        };
        let l = RateLimiter::new(&p);
        let n1 = Msisdn::parse_subscriber("+886912345001").unwrap();
        let n2 = Msisdn::parse_subscriber("+886912345002").unwrap();
        assert!(l.admit_number(&caller(1), n1).is_ok());
        assert!(l.admit_number(&caller(1), n1).is_ok());
        let e = l.admit_number(&caller(1), n1).unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted);
        assert!(!e.message().contains("886912345001"));
        // Another number, another client: own buckets.
        assert!(l.admit_number(&caller(1), n2).is_ok());
        assert!(l.admit_number(&caller(2), n1).is_ok());
        for _ in 0..5 {
            assert!(l.admit_client(&caller(1)).is_ok());
        }
        assert_eq!(
            l.admit_client(&caller(1)).unwrap_err().code(),
            Code::ResourceExhausted
        );
        assert!(l.admit_client(&caller(2)).is_ok());
    }

    #[test]
    fn the_number_table_stays_bounded() {
        let p = PolicyConfig {
            number_checks_per_hour: 1.0,
            number_burst: 3,
            number_table_max: 100,
            ..PolicyConfig::default()
        };
        let l = RateLimiter::new(&p);
        let n = |i: u64| Msisdn::parse_subscriber(&format!("+8869{i:08}")).unwrap();
        for i in 0..10_000u64 {
            let r = l.admit_number(&caller(1), n(i));
            assert_eq!(r.is_ok(), i < 100, "number {i}");
            assert!(l.tracked_numbers() <= 100);
        }
        // No bypass: checking 10 000 other numbers did not forget number 0's bucket (burst 3,
        // one spent above).
        assert!(l.admit_number(&caller(1), n(0)).is_ok());
        assert!(l.admit_number(&caller(1), n(0)).is_ok());
        assert_eq!(
            l.admit_number(&caller(1), n(0)).unwrap_err().code(),
            Code::ResourceExhausted
        );
        // Another client has its own share.
        assert!(l.admit_number(&caller(2), n(5000)).is_ok());
    }

    #[test]
    fn full_buckets_are_forgotten_to_make_room() {
        let p = PolicyConfig {
            number_checks_per_hour: 3_600_000.0, // a token per millisecond
            number_burst: 1,
            number_table_max: 10,
            ..PolicyConfig::default()
        };
        let l = RateLimiter::new(&p);
        let n = |i: u64| Msisdn::parse_subscriber(&format!("+8869{i:08}")).unwrap();
        for i in 0..10 {
            assert!(l.admit_number(&caller(1), n(i)).is_ok());
        }
        // Wait (by the clock, not a fixed sleep) until the buckets have refilled and a sweep
        // is due; then a new number finds room.
        let t0 = Instant::now();
        while t0.elapsed() < SWEEP_EVERY + Duration::from_millis(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(l.admit_number(&caller(1), n(10)).is_ok());
        assert!(l.tracked_numbers() <= 10);
    }

    #[test]
    fn the_ingest_gate_bounds_streams_per_client_and_held_records() {
        let g = IngestGate::new(3, 2, 100);
        let a1 = g.enter(&caller(1)).unwrap();
        let mut a2 = g.enter(&caller(1)).unwrap();
        let e = g.enter(&caller(1)).err().unwrap();
        assert_eq!(e.code(), Code::ResourceExhausted);
        let b1 = g.enter(&caller(2)).unwrap();
        assert_eq!(g.enter(&caller(3)).err().unwrap().code(), Code::Unavailable);
        assert_eq!(g.in_flight(), 3);
        a2.hold(60).unwrap();
        let mut b1 = b1;
        assert_eq!(b1.hold(41).unwrap_err().code(), Code::Unavailable);
        b1.hold(40).unwrap();
        assert_eq!(g.pending_records(), 100);
        drop(a2);
        assert_eq!(g.pending_records(), 40);
        assert!(g.enter(&caller(1)).is_ok());
        drop((a1, b1));
        assert_eq!((g.in_flight(), g.pending_records()), (0, 0));
    }

    #[test]
    fn the_gate_sheds_instead_of_queueing() {
        let g = Gate::new(2);
        let a = g.enter().unwrap();
        let _b = g.enter().unwrap();
        assert_eq!(g.in_flight(), 2);
        assert_eq!(g.enter().err().unwrap().code(), Code::Unavailable);
        drop(a);
        assert!(g.enter().is_ok());
    }
}
