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

/// How long until the next day starts in `tz` (its first instant: midnight, or the end of a
/// gap that skips it), at least a second: when a subscription's verdict can change with the
/// date alone (a window's oldest day leaves it, events dated ahead enter it).
pub fn until_next_day(tz: Tz) -> std::time::Duration {
    use chrono::TimeZone;
    let now = chrono::Utc::now();
    let tomorrow = now.with_timezone(&tz).date_naive() + chrono::Days::new(1);
    let midnight = tomorrow.and_time(chrono::NaiveTime::MIN);
    // A zone whose clocks skip midnight (a DST change at 00:00) starts the day at the end of
    // the gap: the first whole minute after it that exists.
    let start = (0..=180)
        .find_map(|m| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now + chrono::Duration::hours(24));
    (start - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wait ends at the first instant of the next local day: after it the zone's date is
    /// tomorrow, a minute before it still today; in zones with half-hour offsets, none, and a
    /// DST change at midnight (Santiago's clocks skip 00:00 to 01:00 in September).
    #[test]
    fn the_next_day_starts_where_the_zone_says() {
        for tz in [
            Tz::UTC,
            Tz::Asia__Taipei,
            Tz::Asia__Kolkata,
            Tz::America__Phoenix,
            Tz::America__Santiago,
            Tz::Pacific__Apia,
            Tz::Pacific__Kiritimati,
        ] {
            let before = chrono::Utc::now();
            let wait = until_next_day(tz);
            let today = before.with_timezone(&tz).date_naive();
            assert!(
                wait <= std::time::Duration::from_secs(25 * 3600),
                "{tz}: {wait:?}"
            );
            let at = before + chrono::Duration::from_std(wait).unwrap();
            // Measured from a moment a little before the function's own `now`.
            let slack = chrono::Duration::seconds(2);
            assert_eq!(
                (at + slack).with_timezone(&tz).date_naive(),
                today + chrono::Days::new(1),
                "{tz}"
            );
            assert_eq!(
                (at - chrono::Duration::seconds(61))
                    .with_timezone(&tz)
                    .date_naive(),
                today,
                "{tz}"
            );
        }
    }
}
