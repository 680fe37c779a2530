//! Days in the engine's time zone, as indices into the window W.
//!
//! Converting every event's instant to a local date through the zone database would cost a
//! zone lookup per event. Instead [`Window`] precomputes the UTC instant at which each day of
//! W starts (exactly, DST days included: a day may last 23 or 25 hours), and an event's day
//! is found by arithmetic plus at most a step or two: a few nanoseconds, no allocation.

use chrono::{Days, NaiveDate, TimeZone};
use chrono_tz::Tz;

const DAY_MS: i64 = 86_400_000;

/// The window W: `days` consecutive local days ending with `last`, in zone `tz`.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    tz: Tz,
    first: NaiveDate,
    /// `bounds[i]` = first UTC millisecond of day `first + i`; `days + 1` entries.
    bounds: Vec<i64>,
}

impl Window {
    /// The window of `days` days ending with `last` (inclusive).
    pub fn new(tz: Tz, last: NaiveDate, days: u16) -> Window {
        let days = days.max(1);
        let first = last - Days::new(u64::from(days) - 1);
        let bounds = (0..=u64::from(days))
            .map(|i| day_start_ms(tz, first + Days::new(i)))
            .collect();
        Window { tz, first, bounds }
    }

    /// Number of days in W.
    pub fn days(&self) -> usize {
        self.bounds.len() - 1
    }

    /// First day of W.
    pub fn first(&self) -> NaiveDate {
        self.first
    }

    /// Last day of W.
    pub fn last(&self) -> NaiveDate {
        self.date(self.days() - 1)
    }

    /// The zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The date of day index `i`.
    pub fn date(&self, i: usize) -> NaiveDate {
        self.first + Days::new(i as u64)
    }

    /// True when every instant from `first` to `last` (UTC epoch milliseconds, inclusive)
    /// has the day index of `first` ([`Window::day_of`]): both on one day of W, or both
    /// before W, or both after it.
    pub fn one_day(&self, first: i64, last: i64) -> bool {
        let b = &self.bounds;
        let (start, end) = (b[0], b[b.len() - 1]);
        first <= last
            && ((last < start)
                || (first >= end)
                || (self.day_of(first).is_some() && self.day_of(first) == self.day_of(last)))
    }

    /// True when every instant from `first` to `last` (UTC epoch milliseconds, inclusive) is
    /// outside W: all before its first day, or all after its last.
    pub fn outside(&self, first: i64, last: i64) -> bool {
        let b = &self.bounds;
        first <= last && (last < b[0] || first >= b[b.len() - 1])
    }

    /// True when every instant up to `last` (UTC epoch milliseconds, inclusive) is before
    /// W's first day.
    pub fn before(&self, last: i64) -> bool {
        last < self.bounds[0]
    }

    /// Day index of an instant (UTC epoch milliseconds), `None` outside W.
    #[inline]
    pub fn day_of(&self, ms: i64) -> Option<u16> {
        let b = &self.bounds;
        if ms < b[0] || ms >= b[b.len() - 1] {
            return None;
        }
        // Days are 23-25 h long, so the estimate is off by at most one day either way.
        let mut i = (((ms - b[0]) / DAY_MS) as usize).min(b.len() - 2);
        while ms < b[i] {
            i -= 1;
        }
        while ms >= b[i + 1] {
            i += 1;
        }
        Some(i as u16)
    }
}

/// The local date of an instant in `tz`.
pub fn local_date(tz: Tz, ms: i64) -> Option<NaiveDate> {
    tz.timestamp_millis_opt(ms).single().map(|t| t.date_naive())
}

/// First UTC millisecond whose local date in `tz` is `d` or later. Exact for every zone,
/// including days that start inside a DST gap: a binary search on the instant.
pub fn day_start_ms(tz: Tz, d: NaiveDate) -> i64 {
    let midnight_utc = d
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0);
    // Offsets are within ±26 h, so the answer lies within two days of UTC midnight.
    let (mut lo, mut hi) = (midnight_utc - 2 * DAY_MS, midnight_utc + 2 * DAY_MS);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if local_date(tz, mid).is_some_and(|x| x >= d) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// True when zones `a` and `b` start every day from `first` to the day after `last` at the
/// same instant. Every day the engine gives an instant ([`Window::day_of`], [`DayNumbers`])
/// is drawn by these starts, so then each instant of those days falls on the same date in
/// both: a zone alias (`Etc/UTC` and `UTC`, `Asia/Calcutta` and `Asia/Kolkata`), or zones
/// whose rules agree on those dates (offsets that differ only inside a day, never across a
/// midnight, move no instant to another date). An empty span (`first > last`) holds no day.
pub fn same_days(a: Tz, b: Tz, first: NaiveDate, last: NaiveDate) -> bool {
    // The day after `last` too: its start is where `last` ends.
    let end = last.succ_opt().unwrap_or(last);
    a == b
        || first > last
        || first
            .iter_days()
            .take_while(|d| *d <= end)
            .all(|d| day_start_ms(a, d) == day_start_ms(b, d))
}

/// Local day numbers (days since 1970-01-01 in the zone) for arbitrary instants, with a
/// per-UTC-day cache: one zone computation per UTC day seen, then a compare per event.
pub struct DayNumbers {
    tz: Tz,
    cache: rustc_hash::FxHashMap<i64, UtcDay>,
}

/// The local days an UTC day overlaps: the day at its start, then up to two changes.
#[derive(Clone, Copy)]
struct UtcDay {
    start_day: i32,
    changes: [(i64, i32); 2],
}

/// Day number of a date (days since 1970-01-01).
pub fn day_number(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Date of a day number.
pub fn date_of_day_number(n: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Duration::days(i64::from(n))
}

impl DayNumbers {
    /// For zone `tz`.
    pub fn new(tz: Tz) -> DayNumbers {
        DayNumbers {
            tz,
            cache: rustc_hash::FxHashMap::default(),
        }
    }

    /// The local day number of an instant.
    #[inline]
    pub fn day(&mut self, ms: i64) -> i32 {
        let utc_day = ms.div_euclid(DAY_MS);
        let tz = self.tz;
        let e = self
            .cache
            .entry(utc_day)
            .or_insert_with(|| UtcDay::compute(tz, utc_day));
        let mut d = e.start_day;
        for (at, day) in e.changes {
            if ms >= at {
                d = day;
            }
        }
        d
    }
}

impl UtcDay {
    fn compute(tz: Tz, utc_day: i64) -> UtcDay {
        let start = utc_day * DAY_MS;
        let end = start + DAY_MS;
        let start_day = local_date(tz, start).map(day_number).unwrap_or(0);
        let mut changes = [(i64::MAX, start_day); 2];
        let mut d = start_day;
        for slot in &mut changes {
            let next = day_start_ms(tz, date_of_day_number(d + 1));
            if next >= end {
                break;
            }
            d += 1;
            *slot = (next, d);
        }
        UtcDay { start_day, changes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    /// `one_day` holds exactly when every instant between the two has the first's day index:
    /// checked against `day_of` quarter hour by quarter hour around a 25-hour DST day and W's
    /// ends.
    #[test]
    fn one_day_agrees_with_day_of_on_every_instant_between() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        // W = 2026-10-24..=2026-10-25; the 25th has 25 hours (CEST -> CET).
        let w = Window::new(tz, date("2026-10-25"), 2);
        let start = ms("2026-10-23T20:00:00Z");
        let minutes: Vec<i64> = (0..4 * 24 * 4).map(|q| start + q * 15 * 60_000).collect();
        let mut both = [0; 2];
        for (i, &a) in minutes.iter().enumerate() {
            for &b in &minutes[i..] {
                // Days start on the hour, so the quarter hours between catch every change.
                let want = (a..=b)
                    .step_by(15 * 60_000)
                    .all(|t| w.day_of(t) == w.day_of(a));
                assert_eq!(w.one_day(a, b), want, "{a}..={b}");
                both[usize::from(want)] += 1;
            }
        }
        assert!(both[0] > 0 && both[1] > 0, "{both:?}");
        assert!(!w.one_day(ms("2026-10-24T12:00:00Z"), ms("2026-10-24T11:00:00Z")));
    }

    /// Aliases, and zones whose rules agree on the dates asked, draw the same days; a zone
    /// whose offset differs across a midnight does not. Checked against `local_date` at every
    /// quarter hour of the span.
    #[test]
    fn same_days_holds_exactly_where_every_instant_has_the_same_date() {
        let zone = |s: &str| s.parse::<Tz>().unwrap();
        let cases = [
            ("UTC", "Etc/UTC", "2026-01-01", "2026-12-31", true),
            (
                "Asia/Kolkata",
                "Asia/Calcutta",
                "1990-01-01",
                "1990-12-31",
                true,
            ),
            (
                "Asia/Taipei",
                "Asia/Shanghai",
                "2026-03-01",
                "2026-11-30",
                true,
            ),
            // Berlin and Paris share their rules since 1980.
            (
                "Europe/Berlin",
                "Europe/Paris",
                "2026-01-01",
                "2026-12-31",
                true,
            ),
            (
                "Asia/Taipei",
                "Asia/Tokyo",
                "2026-10-01",
                "2026-10-01",
                false,
            ),
            // London and UTC agree in winter, not once summer time begins (29 March).
            ("Europe/London", "UTC", "2026-01-10", "2026-02-10", true),
            ("Europe/London", "UTC", "2026-03-20", "2026-04-10", false),
            // New York and Toronto agree; New York and Bogota until 8 March, when New
            // York's summer time moves the start of the 9th.
            (
                "America/New_York",
                "America/Toronto",
                "2026-03-01",
                "2026-11-30",
                true,
            ),
            (
                "America/New_York",
                "America/Bogota",
                "2026-02-01",
                "2026-03-07",
                true,
            ),
            (
                "America/New_York",
                "America/Bogota",
                "2026-02-01",
                "2026-03-08",
                false,
            ),
        ];
        for (a, b, first, last, want) in cases {
            let (a, b, first, last) = (zone(a), zone(b), date(first), date(last));
            assert_eq!(
                same_days(a, b, first, last),
                want,
                "{a} {b} {first}..={last}"
            );
            // The naive reading: every quarter hour of the span's days in `a`, with the
            // instants just before and at their end, on the same date in `b` (these zones'
            // days start on quarter hours).
            let q = 15 * 60_000;
            let (start, end) = (day_start_ms(a, first), day_start_ms(a, last + Days::new(1)));
            let naive = (start - q..=end)
                .step_by(q as usize)
                .all(|t| local_date(a, t) == local_date(b, t));
            assert_eq!(naive, want, "{a} {b} {first}..={last} by quarter hours");
        }
        assert!(same_days(
            chrono_tz::UTC,
            chrono_tz::Asia::Tokyo,
            date("2026-02-02"),
            date("2026-02-01")
        ));
    }

    #[test]
    fn day_numbers_match_the_zone_database() {
        for tz in [
            chrono_tz::UTC,
            chrono_tz::Asia::Taipei,
            chrono_tz::America::New_York,
            chrono_tz::Pacific::Chatham,
        ] {
            let mut dn = DayNumbers::new(tz);
            let mut t = ms("2026-03-01T00:00:00Z");
            while t < ms("2026-11-10T00:00:00Z") {
                assert_eq!(
                    Some(date_of_day_number(dn.day(t))),
                    local_date(tz, t),
                    "{tz} {t}"
                );
                t += 1_234_567;
            }
        }
    }

    #[test]
    fn taipei_days_start_at_16z() {
        let w = Window::new(chrono_tz::Asia::Taipei, date("2026-03-10"), 2);
        assert_eq!(w.first(), date("2026-03-09"));
        assert_eq!(w.day_of(ms("2026-03-09T15:59:59.999Z")), Some(0));
        assert_eq!(w.day_of(ms("2026-03-09T16:00:00Z")), Some(1));
        assert_eq!(w.day_of(ms("2026-03-10T15:59:59.999Z")), Some(1));
        assert_eq!(w.day_of(ms("2026-03-10T16:00:00Z")), None);
        assert_eq!(w.day_of(ms("2026-03-07T15:59:59Z")), None);
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let ny = chrono_tz::America::New_York;
        let w = Window::new(ny, date("2026-11-01"), 1);
        assert_eq!(w.bounds[1] - w.bounds[0], 25 * 3_600_000);
        assert_eq!(w.day_of(ms("2026-11-02T04:30:00Z")), Some(0));
        assert_eq!(w.day_of(ms("2026-11-02T05:00:00Z")), None);
        let w = Window::new(ny, date("2026-03-08"), 1);
        assert_eq!(w.bounds[1] - w.bounds[0], 23 * 3_600_000);
    }

    #[test]
    fn day_starting_in_a_gap_starts_at_the_transition() {
        // America/Santiago springs forward at 00:00 local on 2026-09-06 (to 01:00).
        let tz = chrono_tz::America::Santiago;
        let start = day_start_ms(tz, date("2026-09-06"));
        assert_eq!(local_date(tz, start), Some(date("2026-09-06")));
        assert_eq!(local_date(tz, start - 1), Some(date("2026-09-05")));
    }

    #[test]
    fn matches_the_zone_database_for_every_hour() {
        let tz = chrono_tz::Europe::Berlin;
        let w = Window::new(tz, date("2026-10-30"), 14);
        let mut t = w.bounds[0] - 3 * DAY_MS;
        while t < w.bounds[14] + 3 * DAY_MS {
            let expect = local_date(tz, t)
                .filter(|d| *d >= w.first() && *d <= w.last())
                .map(|d| (d - w.first()).num_days() as u16);
            assert_eq!(w.day_of(t), expect, "{t}");
            t += 1_799_999;
        }
    }
}
