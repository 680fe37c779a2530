//! "Today" in the engine's time zone: the only place in the crate that reads the system clock.
//!
//! The CLI reads the system's clock through the free functions. The server reads it through
//! the [`Clock`] of its settings (`ServerSettings::clock`): the system's, or in tests the
//! system's moved by a fixed offset, so that a test can stand a few seconds before a day
//! starts in any zone and watch what the server does when it does (subscriptions evaluated
//! at the day's turn, a check's default `asOf`). Only what records when something happened
//! (audit lines, the names of stored files, ids) reads the system's time as it is.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// A clock: the system's, moved by a fixed offset (zero but in tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset: chrono::TimeDelta,
}

impl Clock {
    /// The system's clock.
    pub const SYSTEM: Clock = Clock {
        offset: chrono::TimeDelta::zero(),
    };

    /// The system's clock moved by `by` (tests: a server that believes it is another time).
    pub fn shifted(by: chrono::Duration) -> Clock {
        Clock { offset: by }
    }

    /// A clock that reads `at` now and runs on from there at the system's pace.
    pub fn starting_at(at: DateTime<Utc>) -> Clock {
        Clock::shifted(at - Utc::now())
    }

    /// Now.
    pub fn now(self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }

    /// Today's date in `tz`.
    pub fn today(self, tz: Tz) -> NaiveDate {
        self.now().with_timezone(&tz).date_naive()
    }

    /// Now, as UTC epoch milliseconds.
    pub fn now_ms(self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Now, RFC 3339 UTC with microseconds.
    pub fn now_rfc3339(self) -> String {
        self.now()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// How long until the next day starts in `tz` (its first instant: midnight, or the end
    /// of a gap that skips it), at least a second: when a subscription's verdict can change
    /// with the date alone (a window's oldest day leaves it, events dated ahead enter it).
    pub fn until_next_day(self, tz: Tz) -> std::time::Duration {
        let now = self.now();
        (next_day_start(now, tz) - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_secs(1))
    }
}

/// The first instant of the local day after `now`'s in `tz`.
pub fn next_day_start(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    // A date the zone skipped whole has no start (Samoa's 2011-12-30, crossing the date
    // line): the next day is the one after it (the search for tomorrow's alone found
    // nothing, and the notifier slept a day past the turn).
    (1..=2)
        .find_map(|n| day_start(today + chrono::Days::new(n), tz))
        .unwrap_or(now + chrono::Duration::hours(24))
}

/// The first instant of `day` in `tz`: its midnight, or in a zone whose clocks skip midnight
/// (a DST change at 00:00, Santiago's in September) the end of the gap, the first whole
/// minute after it that exists. `None` for a date the zone skipped whole, or one chrono
/// cannot place.
pub fn day_start(day: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..=180)
        .find_map(|m| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// Today's date in `tz`, by the system's clock.
pub fn today(tz: Tz) -> NaiveDate {
    Clock::SYSTEM.today(tz)
}

/// Now, as UTC epoch milliseconds, by the system's clock.
pub fn now_ms() -> i64 {
    Clock::SYSTEM.now_ms()
}

/// Now, RFC 3339 UTC with microseconds, by the system's clock (audit lines).
pub fn now_rfc3339() -> String {
    Clock::SYSTEM.now_rfc3339()
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
            let wait = Clock::SYSTEM.until_next_day(tz);
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

    /// A day starts at its midnight, or where the clocks skip it at the end of the gap:
    /// Santiago's 2026-09-06 at 01:00 -03. A date skipped whole has no start, and the day
    /// after the one before it is the next to start.
    #[test]
    fn a_day_without_a_midnight_starts_at_the_end_of_the_gap() {
        use chrono::TimeZone;
        let day = |d| NaiveDate::from_ymd_opt(2026, 9, d).unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 9, 6, h, 0, 0).unwrap();
        assert_eq!(day_start(day(6), Tz::America__Santiago), Some(at(4)));
        assert_eq!(day_start(day(6), Tz::UTC), Some(at(0)));
        assert_eq!(
            next_day_start(at(3) + chrono::Duration::minutes(59), Tz::America__Santiago),
            at(4)
        );
        // Apia went from 2011-12-29 23:59:59 -10:00 to 2011-12-31 00:00 +14:00.
        let apia = Tz::Pacific__Apia;
        let skipped = NaiveDate::from_ymd_opt(2011, 12, 30).unwrap();
        let turn = Utc.with_ymd_and_hms(2011, 12, 30, 10, 0, 0).unwrap();
        assert_eq!(day_start(skipped, apia), None);
        assert_eq!(day_start(skipped.succ_opt().unwrap(), apia), Some(turn));
        assert_eq!(
            next_day_start(turn - chrono::Duration::seconds(4), apia),
            turn
        );
    }

    /// A moved clock reads the moved time and runs at the system's pace: ten minutes before
    /// midnight in Taipei, today is still the day before and the next day at most ten minutes
    /// away, whatever the real date (room for a busy machine between the reads).
    #[test]
    fn a_moved_clock_stands_where_it_was_put() {
        use chrono::TimeZone;
        let tz = Tz::Asia__Taipei;
        let midnight = tz
            .with_ymd_and_hms(2031, 1, 1, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let ten = chrono::Duration::minutes(10);
        let clock = Clock::starting_at(midnight - ten);
        let read = clock.now();
        assert!(read < midnight && read >= midnight - ten - chrono::Duration::seconds(1));
        assert_eq!(clock.today(tz).to_string(), "2030-12-31");
        let wait = clock.until_next_day(tz);
        assert!(wait >= std::time::Duration::from_secs(1));
        assert!(wait <= ten.to_std().unwrap(), "{wait:?}");
        assert!(clock.now_rfc3339().starts_with("2030-12-31T15:5"));
        assert_eq!(next_day_start(midnight - ten, tz), midnight);
    }
}
