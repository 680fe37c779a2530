//! How much a caller may ask, and how much the server takes on at once.
//!
//! - [`RateLimiter`]: token buckets per client and per (client, number) (`[policy]`). A
//!   refused call gets RESOURCE_EXHAUSTED with ErrorInfo `TOO_MANY_REQUESTS`. The per-number
//!   limit is what stops a caller from mapping someone's contacts by asking one country at a
//!   time, or bisecting thresholds: each of those needs many checks of the same number.
//!   The per-number table is bounded (`number_table_max`): when full, buckets that have
//!   refilled completely are dropped first (they hold no state: a fresh bucket is the same),
//!   then the least recently used eighth.
//! - [`Gate`]: at most `max_concurrent_calls` calls in the handlers; one more is refused at
//!   once with UNAVAILABLE (retryable) instead of queueing (load shedding).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
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
    numbers: Mutex<HashMap<(u32, u64), Bucket>>,
}

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
            numbers: Mutex::new(HashMap::new()),
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

    /// One check of `number` by `caller`; RESOURCE_EXHAUSTED when that pair's bucket is empty.
    pub fn admit_number(&self, caller: &Caller, number: Msisdn) -> Result<(), Status> {
        if !self.number.on() {
            return Ok(());
        }
        let now = Instant::now();
        let key = (caller.index, number.value());
        let mut t = self.numbers.lock().unwrap_or_else(|p| p.into_inner());
        if !t.contains_key(&key) && t.len() >= self.table_max {
            self.evict(&mut t, now);
        }
        let b = t
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
        self.numbers.lock().map(|t| t.len()).unwrap_or(0)
    }

    fn evict(&self, t: &mut HashMap<(u32, u64), Bucket>, now: Instant) {
        let Limit { capacity, rate } = self.number;
        t.retain(|_, b| !b.is_full_at(capacity, rate, now));
        if t.len() < self.table_max {
            return;
        }
        // Still full of active buckets: drop the least recently used eighth.
        let mut ages: Vec<Instant> = t.values().map(|b| b.last).collect();
        let k = (ages.len() / 8).max(1);
        let (_, cut, _) = ages.select_nth_unstable(k - 1);
        let cut = *cut;
        t.retain(|_, b| b.last > cut);
        if t.len() >= self.table_max {
            // Many buckets share one instant: drop arbitrary ones down to the bound.
            let extra: Vec<(u32, u64)> = t
                .keys()
                .take(t.len() + 1 - self.table_max)
                .copied()
                .collect();
            for k in extra {
                t.remove(&k);
            }
        }
    }
}

fn too_many(which: &str) -> Status {
    let message = match which {
        "client" => "too many requests: this client's rate limit is reached; retry later",
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
        for i in 0..10_000u64 {
            let n = Msisdn::parse_subscriber(&format!("+8869{:08}", i)).unwrap();
            let _ = l.admit_number(&caller(1), n);
            assert!(l.tracked_numbers() <= 100);
        }
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
