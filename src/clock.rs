//! "Today" in the engine's time zone: the only place in the crate that reads the system clock.

use chrono::NaiveDate;
use chrono_tz::Tz;

/// Today's date in `tz`.
pub fn today(tz: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// Now, as UTC epoch milliseconds (metrics: data age).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Now, RFC 3339 UTC with microseconds (audit lines).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
