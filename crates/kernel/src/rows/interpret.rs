//! One row's cells -> an [`Event`] or a [`RejectReason`] (REFERENCE.md §2). Shared by every format.
//!
//! The interpreter keeps a small per-worker cache of national-format numbers, because
//! libphonenumber parsing costs microseconds and exports repeat the same numbers.
//!
//! # The accepted instants
//! An `event_time` must fall in [`EVENT_TIME_RANGE`]: from 1970-01-01T00:00:00Z up to, not
//! including, 2100-01-01T00:00:00Z. Any other instant (a year 1800 typo, a seconds column
//! read as milliseconds, `i64::MAX`) is a row rejected as `time_out_of_range`, at the same
//! place in the rule order as an unparseable time, whichever reader (CSV, Parquet, IPC,
//! `Ingest`) it came from. The bound is what keeps every accepted row loadable: 130 years
//! are 47 482 days, so the local days of any set of accepted events span fewer than the
//! 65 536 a segment's day column can address (`index::DayColumn`), and the calendar code
//! never meets an instant chrono cannot place in a zone.

use chrono::{DateTime, Timelike};
use rustc_hash::FxHashMap;

use crate::model::check::{Flavor, flavor};
pub use crate::model::event::{Counterparty, Event};
use crate::model::phone::{Msisdn, ascii_national_digits, plain_number};
use crate::model::region::Region;
use crate::rows::rejects::RejectReason;

/// An `event_time` cell.
#[derive(Clone, Copy, Debug)]
pub enum TimeCell<'a> {
    /// Already an instant (Parquet/IPC timestamps, integer columns).
    Millis(i64),
    /// Text: RFC 3339 with offset, or integer epoch milliseconds.
    Text(&'a str),
}

/// A `duration_s` cell.
#[derive(Clone, Copy, Debug)]
pub enum DurationCell<'a> {
    /// A number.
    Int(i64),
    /// Text (CSV).
    Text(&'a str),
    /// A floating-point number (an integer column with missing values, as pandas holds it).
    Float(f64),
}

/// One row's cells; `None` = null/absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawRow<'a> {
    /// `event_time`.
    pub time: Option<TimeCell<'a>>,
    /// `subscriber`.
    pub subscriber: Option<&'a str>,
    /// `counterparty`.
    pub counterparty: Option<&'a str>,
    /// `direction`.
    pub direction: Option<&'a str>,
    /// `kind`.
    pub kind: Option<&'a str>,
    /// `duration_s`.
    pub duration: Option<DurationCell<'a>>,
    /// `counterparty_region`.
    pub region: Option<&'a str>,
    /// Cells a reader already interpreted once per dictionary value; they win over the text.
    pub pre: Pre,
}

/// Results computed once per distinct value of a dictionary-encoded column (same rules).
#[derive(Clone, Copy, Debug, Default)]
pub struct Pre {
    /// [`pre_subscriber`] of the subscriber cell, when it could decide without state.
    pub subscriber: Option<Result<Msisdn, RejectReason>>,
    /// [`parse_direction`] of the direction cell: outgoing?
    pub outgoing: Option<Result<bool, RejectReason>>,
    /// [`parse_kind`] of the kind cell: SMS?
    pub sms: Option<Result<bool, RejectReason>>,
}

/// The longest text read as a phone number: libphonenumber parses none longer (its
/// `MAX_INPUT_STRING_LENGTH`), so a longer cell (trimmed) is no number, and is not scanned:
/// a 12 KB Arrow file of string views all pointing at one 16 MiB value held a scan 27 s.
pub const MAX_NUMBER_TEXT: usize = 250;

/// The subscriber rule for a cell, when it needs no interpreter state (`None`: a national
/// number, which needs the default region and the cache).
pub fn pre_subscriber(s: Option<&str>) -> Option<Result<Msisdn, RejectReason>> {
    pre_subscriber_cell(s.unwrap_or("").as_bytes())
}

/// [`pre_subscriber`] of a present cell's bytes (an empty cell is a missing subscriber).
#[inline]
pub fn pre_subscriber_cell(s: &[u8]) -> Option<Result<Msisdn, RejectReason>> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return Some(Err(RejectReason::MissingSubscriber));
    }
    if s.len() > MAX_NUMBER_TEXT {
        return Some(Err(RejectReason::BadSubscriber));
    }
    if s[0] == b'+' {
        return Some(
            Msisdn::parse_written(s, Msisdn::MIN_DIGITS).ok_or(RejectReason::BadSubscriber),
        );
    }
    if !s[0].is_ascii_digit() {
        // A `+` after punctuation or in its full-width form (`(+886) …`, `＋886…`).
        let plain = std::str::from_utf8(s).ok().and_then(plain_number);
        if let Some(plain) = plain.filter(|p| p.starts_with('+')) {
            let e164 = Msisdn::parse_e164(plain.as_bytes(), Msisdn::MIN_DIGITS);
            return Some(e164.ok_or(RejectReason::BadSubscriber));
        }
    }
    // A cell read as no text (bytes that are not UTF-8, a float or decimal that is no
    // integer) is not a number, whatever `default_region` says: not "without '+'", which
    // misled when the cell's bytes had one. Readers that replace each bad sequence (Spark's
    // strings: `08012345678` then a stray byte) leave U+FFFD among other characters.
    const REPLACED: &[u8] = "\u{fffd}".as_bytes();
    (s.windows(REPLACED.len()).any(|w| w == REPLACED)).then_some(Err(RejectReason::BadSubscriber))
}

/// `in` / `out` (any case): outgoing?
pub fn parse_direction(s: Option<&str>) -> Result<bool, RejectReason> {
    s.map_or(Err(RejectReason::MissingDirection), |s| {
        direction_cell(s.as_bytes())
    })
}

/// [`parse_direction`] of a present cell's bytes.
#[inline]
pub fn direction_cell(s: &[u8]) -> Result<bool, RejectReason> {
    match s.trim_ascii() {
        b"" => Err(RejectReason::MissingDirection),
        d if d.eq_ignore_ascii_case(b"in") => Ok(false),
        d if d.eq_ignore_ascii_case(b"out") => Ok(true),
        _ => Err(RejectReason::BadDirection),
    }
}

/// `call` / `sms` (any case): SMS?
pub fn parse_kind(s: Option<&str>) -> Result<bool, RejectReason> {
    s.map_or(Err(RejectReason::MissingKind), |s| kind_cell(s.as_bytes()))
}

/// [`parse_kind`] of a present cell's bytes.
#[inline]
pub fn kind_cell(s: &[u8]) -> Result<bool, RejectReason> {
    match s.trim_ascii() {
        b"" => Err(RejectReason::MissingKind),
        k if k.eq_ignore_ascii_case(b"call") => Ok(false),
        k if k.eq_ignore_ascii_case(b"sms") => Ok(true),
        _ => Err(RejectReason::BadKind),
    }
}

/// The accepted `event_time` instants, UTC epoch milliseconds: 1970-01-01T00:00:00Z
/// (inclusive) to 2100-01-01T00:00:00Z (exclusive).
pub const EVENT_TIME_RANGE: std::ops::Range<i64> = 0..4_102_444_800_000;

/// The range rule of an instant: the instant itself, or `time_out_of_range`.
#[inline(always)]
pub fn check_time(ms: i64) -> Result<i64, RejectReason> {
    if EVENT_TIME_RANGE.contains(&ms) {
        Ok(ms)
    } else {
        Err(RejectReason::TimeOutOfRange)
    }
}

/// Digit strings this short (without `+`) are service short codes, not numbers.
const MAX_SHORT_CODE_DIGITS: usize = 6;

/// Per-worker interpreter state.
pub struct Interpreter {
    default_region: Option<Region>,
    national: FxHashMap<Box<str>, Option<Msisdn>>,
}

impl Interpreter {
    /// A fresh interpreter.
    pub fn new(default_region: Option<Region>) -> Interpreter {
        Interpreter {
            default_region,
            national: FxHashMap::default(),
        }
    }

    /// Interprets one row: REFERENCE.md §2's rules in a fixed order, the first failing one is the
    /// reason.
    #[inline(always)]
    pub fn interpret(&mut self, row: &RawRow<'_>) -> Result<Event, RejectReason> {
        let time_ms = check_time(match row.time {
            None => return Err(RejectReason::MissingEventTime),
            Some(TimeCell::Millis(ms)) => ms,
            Some(TimeCell::Text(s)) => parse_time(s)?,
        })?;
        let subscriber = match row.pre.subscriber {
            Some(r) => r?,
            None => self.subscriber(row.subscriber.unwrap_or(""))?,
        };
        let outgoing = row
            .pre
            .outgoing
            .unwrap_or_else(|| parse_direction(row.direction))?;
        let sms = row.pre.sms.unwrap_or_else(|| parse_kind(row.kind))?;
        match row.duration {
            Some(DurationCell::Int(v)) if v < 0 => return Err(RejectReason::BadDuration),
            // An integer >= 0 held in a float (NaN, fractions and negatives are not), and
            // within i64's range, as the same integer's text must be.
            Some(DurationCell::Float(v))
                if !((0.0..9.223_372_036_854_776e18).contains(&v) && v.fract() == 0.0) =>
            {
                return Err(RejectReason::BadDuration);
            }
            Some(DurationCell::Text(s)) if !duration_text_ok(s.trim_ascii()) => {
                return Err(RejectReason::BadDuration);
            }
            _ => {}
        }
        let region = match row.region.map(str::trim_ascii) {
            None | Some("") => None,
            Some(r) => Some(
                Region::parse(&r.to_ascii_uppercase())
                    .ok_or(RejectReason::BadCounterpartyRegion)?,
            ),
        };
        self.event(
            time_ms,
            subscriber,
            flavor(outgoing, sms),
            row.counterparty.map(str::as_bytes),
            region,
        )
    }

    /// The last rule of [`Interpreter::interpret`] (the counterparty) and the event, for a row
    /// whose earlier cells all passed their rules (`time_ms` included: it is in
    /// [`EVENT_TIME_RANGE`]). A reader that already knows they passed (a
    /// non-null instant, dictionary values interpreted once, no `duration_s` or region cell to
    /// check) calls this directly; any other row goes through `interpret`.
    #[inline(always)]
    pub fn event(
        &mut self,
        time_ms: i64,
        subscriber: Msisdn,
        flavor: Flavor,
        counterparty: Option<&[u8]>,
        region: Option<Region>,
    ) -> Result<Event, RejectReason> {
        let counterparty = match (self.counterparty(counterparty.unwrap_or(b""))?, region) {
            (Some(n), Some(r)) => Counterparty::NumberInRegion(n, r),
            (Some(n), None) => Counterparty::Number(n),
            (None, _) => Counterparty::Unknown,
        };
        Ok(Event {
            subscriber,
            time_ms,
            flavor,
            counterparty,
        })
    }

    fn subscriber(&mut self, s: &str) -> Result<Msisdn, RejectReason> {
        if let Some(r) = pre_subscriber(Some(s)) {
            return r;
        }
        let s = integral_text(s.trim_ascii());
        if self.default_region.is_none() {
            return Err(RejectReason::SubscriberNoDefaultRegion);
        }
        self.national(s).ok_or(RejectReason::BadSubscriber)
    }

    /// `Ok(None)` = unknown counterparty (kept, never hot). Bytes of a text cell.
    #[inline(always)]
    fn counterparty(&mut self, s: &[u8]) -> Result<Option<Msisdn>, RejectReason> {
        // Most cells are `+digits`: nothing to trim then.
        let s = match s {
            [b'+', .., last] if !last.is_ascii_whitespace() => s,
            _ => s.trim_ascii(),
        };
        if s.len() > MAX_NUMBER_TEXT {
            return Ok(None);
        }
        match s.first() {
            None => Ok(None),
            // A `+` text that is not a number (`+234` alone, `+BANK`) is unknown.
            Some(b'+') => Ok(Msisdn::parse_written(s, Msisdn::MIN_DIGITS)),
            Some(_) => self.counterparty_without_plus(s),
        }
    }

    /// A trimmed, non-empty counterparty without `+`: short code, sender name or national.
    #[inline(never)]
    fn counterparty_without_plus(&mut self, s: &[u8]) -> Result<Option<Msisdn>, RejectReason> {
        // Cells are text (`&str`), so this always holds; bytes that are not text are no number.
        let Ok(s) = std::str::from_utf8(s) else {
            return Ok(None);
        };
        let s = integral_text(s);
        // Most national cells are ASCII (`0912 345 678`): read as they are, the cache keyed
        // by their text. Any other text is made plain first: not numeric (a sender name, an
        // extension) is unknown; a `+` after punctuation or in its full-width form
        // (`(+234) …`, `＋234…`) is a `+` number.
        let (plain, digits) = match ascii_national_digits(s) {
            Some(n) => (std::borrow::Cow::Borrowed(s), n),
            None => match plain_number(s) {
                Some(p) if p.starts_with('+') => {
                    return Ok(Msisdn::parse_e164(p.as_bytes(), Msisdn::MIN_DIGITS));
                }
                // Plain digits only: its length is its digits.
                Some(p) => {
                    let n = p.len();
                    (p, n)
                }
                None => return Ok(None),
            },
        };
        if digits <= MAX_SHORT_CODE_DIGITS {
            return Ok(None);
        }
        if self.default_region.is_none() {
            return Err(RejectReason::CounterpartyNoDefaultRegion);
        }
        Ok(self.national(&plain))
    }

    fn national(&mut self, s: &str) -> Option<Msisdn> {
        if let Some(v) = self.national.get(s) {
            return *v;
        }
        let v = Msisdn::normalize(s, self.default_region).ok();
        if self.national.len() < 1 << 20 {
            self.national.insert(s.into(), v);
        }
        v
    }
}

/// RFC 3339 with an offset, or integer epoch milliseconds, signed or not (REFERENCE §2).
///
/// Also read, because common writers emit them and each still names one instant: the
/// offset written `+HHMM` (polars' `write_csv`) or `+HH` (DuckDB's CSV) instead of
/// `+HH:MM`, and epoch milliseconds written as a whole decimal `1773073800000.0` (pandas
/// writes an integer column with a gap so), and the forms of BigQuery, Snowflake, SQL Server
/// and Java (`exporter_form`). A time with no offset stays `bad_event_time`: its instant
/// depends on a zone the file does not name.
pub fn parse_time(s: &str) -> Result<i64, RejectReason> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return Err(RejectReason::MissingEventTime);
    }
    let b = s.as_bytes();
    if let Some(ms) = common_instant(b) {
        return Ok(ms);
    }
    // An integer may be written with its sign, as `duration_s` may (`+1773073800000`).
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    let numeric = unsigned
        .bytes()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == b'-' && unsigned.len() == s.len()));
    let millis = if numeric {
        unsigned
    } else {
        match whole_decimal(unsigned)
            .filter(|int| !(int.starts_with('-') && unsigned.len() < s.len()))
        {
            Some(int) => int,
            None => return parse_instant(s),
        }
    };
    // Digits that overflow are an instant out of range, as in every reader (§2.4).
    millis.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            RejectReason::TimeOutOfRange
        }
        _ => RejectReason::BadEventTime,
    })
}

/// A trimmed `duration_s` cell: empty, or an integer >= 0, with or without a sign (`+60`,
/// `-0`), also written as a whole decimal (`60.0`, `+60.0`, `-0.0`).
fn duration_text_ok(s: &str) -> bool {
    s.is_empty()
        || match s.parse::<i64>() {
            Ok(v) => v >= 0,
            Err(_) => whole_decimal(s.strip_prefix('+').unwrap_or(s))
                .and_then(|int| int.parse::<i64>().ok())
                .is_some_and(|v| v >= 0),
        }
}

/// `s` without the `.0` of a whole number written as a decimal (`912345678.0`, `60.00`: pandas
/// writes an integer column with a gap so, and CSV exports of decimal columns too); any other
/// text as it is. Numbers and durations read this way, as their float and decimal columns
/// are: the dot is not a separator dropped between digits (which made `912345678.0` the
/// number 9123456780). A negative one keeps its sign, which as a number's punctuation is
/// dropped: `-912345678.00` reads as `-912345678` does, and as a decimal column's value does.
fn integral_text(s: &str) -> &str {
    whole_decimal(s).unwrap_or(s)
}

/// The integer part of `-?digits.0+` (a whole number written as a decimal), else `None`.
fn whole_decimal(s: &str) -> Option<&str> {
    let (int, frac) = s.split_once('.')?;
    let digits = int.strip_prefix('-').unwrap_or(int);
    (!digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|c| c == b'0'))
    .then_some(int)
}

/// An RFC 3339 instant; the offset may also be written `+HHMM` or `+HH` (see [`parse_time`]),
/// or the time in one of the forms of [`exporter_form`].
fn parse_instant(s: &str) -> Result<i64, RejectReason> {
    let t = rfc3339(s)
        .or_else(|| {
            let mut buf = [0u8; 64];
            rfc3339(exporter_form(s, &mut buf)?)
        })
        .ok_or(RejectReason::BadEventTime)?;
    if t.timestamp_subsec_nanos() < 1_000_000_000 {
        return Ok(t.timestamp_millis());
    }
    // A `:60` second. Leap seconds are inserted at 23:59:60 UTC only, so one written
    // elsewhere (`12:30:60Z`) is no time; a real one is read as the last millisecond of its
    // UTC day (chrono's instant for it is the next day's 00:00:00, a day too late).
    let utc = t.naive_utc().time();
    if utc.hour() == 23 && utc.minute() == 59 {
        Ok(t.timestamp() * 1000 + 999)
    } else {
        Err(RejectReason::BadEventTime)
    }
}

/// The instant of the RFC 3339 form nearly every export writes, `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction of 1 to 9 digits, then `Z` or `+HH:MM` / `-HH:MM`: the same milliseconds
/// as [`parse_instant`] (chrono's parser) gives it, read at fixed places without it (chrono
/// was a sixth of a CSV scan's time). `None` for any other text, which then goes through
/// [`parse_instant`]: another separator or offset form, a leap second (`:60`), a date that
/// does not exist (`02-30`), out-of-range fields.
#[inline]
fn common_instant(b: &[u8]) -> Option<i64> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        ref rest @ ..,
    ] = b
    else {
        return None;
    };
    let two = |a: u8, b: u8| -> Option<u32> {
        (a.is_ascii_digit() && b.is_ascii_digit())
            .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    };
    let year = i64::from(two(y0, y1)? * 100 + two(y2, y3)?);
    let (month, day) = (two(m0, m1)?, two(d0, d1)?);
    let (hour, minute, second) = (two(h0, h1)?, two(n0, n1)?, two(s0, s1)?);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // The fraction: its first three digits are the milliseconds (`.5` is 500; chrono
    // truncates what follows too).
    let (millis, zone) = match rest {
        [b'.', tail @ ..] => {
            let digits = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            let kept = digits.min(3);
            let ms = (tail[..kept].iter()).fold(0, |v, c| v * 10 + i64::from(c - b'0'));
            let ms = ms * 10i64.pow(3 - kept as u32);
            (ms, &tail[digits..])
        }
        _ => (0, rest),
    };
    let offset_minutes = match zone {
        [b'Z'] => 0,
        &[sign @ (b'+' | b'-'), a, b, b':', c, d] => {
            let (h, m) = (two(a, b)?, two(c, d)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = i64::from(h * 60 + m);
            if sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((local - offset_minutes * 60) * 1000 + millis)
}

/// Days in `month` (1-12) of the proleptic Gregorian `year`.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid proleptic Gregorian date: whole 400-year eras (146,097
/// days each) of years that start in March, so the leap day is the last day of its year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `s` with a basic (`+0800`) or hour-only (`+08`) offset at its end rewritten to the
/// extended `+08:00`, in `buf`; `None` when `s` ends in no such offset after a time of day.
fn with_extended_offset<'b>(s: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
    let b = s.as_bytes();
    // The offset's sign comes after `YYYY-MM-DDTHH:MM:SS` (19 bytes).
    let sign = b.iter().rposition(|&c| c == b'+' || c == b'-')?;
    let (head, zone) = (&b[..sign + 1], &b[sign + 1..]);
    if sign < 19 || !zone.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let minutes: &[u8] = match zone.len() {
        2 => b"00",
        4 => &zone[2..],
        _ => return None,
    };
    let len = head.len() + 5;
    if len > buf.len() {
        return None;
    }
    buf[..head.len()].copy_from_slice(head);
    buf[head.len()..head.len() + 2].copy_from_slice(&zone[..2]);
    buf[head.len() + 2] = b':';
    buf[head.len() + 3..len].copy_from_slice(minutes);
    std::str::from_utf8(&buf[..len]).ok()
}

/// An RFC 3339 instant, the offset also written `+HHMM` or `+HH`.
fn rfc3339(s: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        let mut buf = [0u8; 64];
        DateTime::parse_from_rfc3339(with_extended_offset(s, &mut buf)?).ok()
    })
}

/// `s` rewritten as RFC 3339 when it is a time in a form a common exporter writes, each
/// naming its instant by an offset or UTC (REFERENCE §2): `None` for any other text.
///
/// - a space before the offset or `Z`: Snowflake's `2026-10-10 09:49:32.859 +0800`, SQL
///   Server's `… 09:49:32.8590000 +08:00`;
/// - `UTC` for the offset, after a space or not: BigQuery's `2026-10-10 01:49:32.859 UTC`;
/// - a zone name in brackets after the offset, which the offset decides: Java's
///   `ZonedDateTime`, `2026-10-10T09:49:32.859+08:00[Asia/Taipei]`;
/// - no seconds: Java's `OffsetDateTime` drops them when they are 0 (`2026-10-10T09:49+08:00`).
///
/// A time with no offset stays none of them (a bracketed zone alone names an instant only
/// with the zone's rules, which the offset spares).
fn exporter_form<'b>(s: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
    let mut t = s;
    // A bracketed zone name after the offset.
    if let Some(open) = t.strip_suffix(']').and_then(|x| x.rfind('[')) {
        let zone = &t[open + 1..t.len() - 1];
        if zone.is_empty()
            || !zone
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/_+-:".contains(&c))
        {
            return None;
        }
        t = &t[..open];
    }
    // `YYYY-MM-DD`, `T` or a space, `HH:MM`: 16 bytes before the seconds or the offset.
    let b = t.as_bytes();
    if b.len() < 17 || !b[..16].is_ascii() || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':'
    {
        return None;
    }
    let (date_time, rest) = t.split_at(16);
    // Seconds (and a fraction), when written.
    let seconds_end = match rest.as_bytes() {
        [b':', s0, s1, ..] if s0.is_ascii_digit() && s1.is_ascii_digit() => {
            let frac = rest[3..]
                .strip_prefix('.')
                .map_or(0, |f| 1 + f.bytes().take_while(u8::is_ascii_digit).count());
            3 + frac
        }
        _ => 0,
    };
    let (seconds, zone) = rest.split_at(seconds_end);
    let zone = zone.strip_prefix(' ').unwrap_or(zone);
    let zone = match zone {
        "UTC" => "Z",
        z if z.starts_with(['+', '-', 'Z', 'z']) => z,
        _ => return None,
    };
    let seconds = if seconds.is_empty() { ":00" } else { seconds };
    let len = date_time.len() + seconds.len() + zone.len();
    if len > buf.len() {
        return None;
    }
    let mut at = 0;
    for part in [date_time, seconds, zone] {
        buf[at..at + part.len()].copy_from_slice(part.as_bytes());
        at += part.len();
    }
    let rewritten = std::str::from_utf8(&buf[..len]).ok()?;
    // Nothing to rewrite: the text is its own form, which did not read.
    (rewritten != s).then_some(rewritten)
}

#[cfg(test)]
mod tests {

    /// A subscriber cell holding U+FFFD (bytes that were not UTF-8, replaced whole or one bad
    /// sequence at a time) is `subscriber_not_e164` with or without a default region.
    #[test]
    fn a_subscriber_with_a_replaced_byte_is_no_number_whatever_the_region() {
        for cell in [
            "\u{fffd}",
            "\u{fffd}\u{fffd}",
            "08012345678\u{fffd}",
            " \u{fffd}0912345678",
        ] {
            assert_eq!(
                pre_subscriber_cell(cell.as_bytes()),
                Some(Err(RejectReason::BadSubscriber)),
                "{cell:?}"
            );
        }
        assert_eq!(pre_subscriber_cell(b"0912345678"), None);
    }

    use super::*;

    fn row<'a>(sub: &'a str, cp: &'a str, dir: &'a str, kind: &'a str) -> RawRow<'a> {
        RawRow {
            time: Some(TimeCell::Text("2026-03-10T12:00:00Z")),
            subscriber: Some(sub),
            counterparty: Some(cp),
            direction: Some(dir),
            kind: Some(kind),
            duration: None,
            region: None,
            pre: Default::default(),
        }
    }

    /// A number written with its separators is read up to 250 characters (libphonenumber's
    /// longest input), and is no number past them, whatever it holds.
    #[test]
    fn numbers_longer_than_libphonenumber_reads_are_no_numbers() {
        let mut i = Interpreter::new(Region::parse("TW"));
        let spaced = |n: usize| format!("+886{}912345001", " ".repeat(n));
        let (fits, long) = (spaced(MAX_NUMBER_TEXT - 13), spaced(MAX_NUMBER_TEXT - 12));
        assert_eq!(
            (fits.len(), long.len()),
            (MAX_NUMBER_TEXT, MAX_NUMBER_TEXT + 1)
        );
        let e = i.interpret(&row(&fits, &fits, "in", "call")).unwrap();
        assert_eq!(e.counterparty, Counterparty::Number(e.subscriber));
        let e = i
            .interpret(&row("+886912345001", &long, "in", "call"))
            .unwrap();
        assert_eq!(e.counterparty, Counterparty::Unknown);
        let national = format!("0912{}345001", "-".repeat(MAX_NUMBER_TEXT));
        let e = i
            .interpret(&row("+886912345001", &national, "in", "call"))
            .unwrap();
        assert_eq!(e.counterparty, Counterparty::Unknown);
        assert_eq!(
            i.interpret(&row(&long, "+2348021234567", "in", "call"))
                .map(|e| e.subscriber),
            Err(RejectReason::BadSubscriber)
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1773073800000"), Ok(1_773_073_800_000));
        assert_eq!(
            parse_time("2026-03-10T00:00:00+08:00"),
            parse_time("2026-03-09T16:00:00Z")
        );
        assert_eq!(parse_time("yesterday"), Err(RejectReason::BadEventTime));
        assert_eq!(
            parse_time("2026-03-10T12:00:00"),
            Err(RejectReason::BadEventTime)
        );
        assert_eq!(parse_time(""), Err(RejectReason::MissingEventTime));
    }

    /// The forms exporters write that name their instant by an offset or UTC (a helper's
    /// pass found every row of such exports rejected), each the instant it says; times with
    /// no offset, or a zone name alone, stay `bad_event_time`.
    #[test]
    fn times_as_bigquery_snowflake_sql_server_and_java_write_them() {
        let utc = parse_time("2026-10-10T01:49:32.859Z").unwrap();
        for same in [
            "2026-10-10 01:49:32.859000 UTC", // BigQuery CSV
            "2026-10-10 01:49:32.859 UTC",
            "2026-10-10T01:49:32.859UTC",
            "2026-10-10 09:49:32.859 +0800", // Snowflake TIMESTAMP_TZ
            "2026-10-10 09:49:32.8590000 +08:00", // SQL Server datetimeoffset
            "2026-10-10 09:49:32.859 +08",
            "2026-10-10T09:49:32.859+08:00[Asia/Taipei]", // Java ZonedDateTime
            "2026-10-10T01:49:32.859Z[UTC]",
            "2026-10-09T21:49:32.859-04:00[America/New_York]",
            "2026-10-10 01:49:32.859 Z",
            // Java's ids of fixed offsets (`ZoneId.of("UTC+8")`).
            "2026-10-10T09:49:32.859+08:00[UTC+08:00]",
            "2026-10-10T09:49:32.859+08:00[GMT+08:00]",
        ] {
            assert_eq!(parse_time(same), Ok(utc), "{same}");
        }
        // Java's OffsetDateTime drops seconds that are 0.
        let minute = parse_time("2026-10-10T01:49:00Z").unwrap();
        for same in [
            "2026-10-10T09:49+08:00",
            "2026-10-10T01:49Z",
            "2026-10-10 09:49 +0800",
            "2026-10-10T09:49+08:00[Asia/Taipei]",
        ] {
            assert_eq!(parse_time(same), Ok(minute), "{same}");
        }
        for bad in [
            "2026-10-10 09:49:32.859",
            "2026-10-10 09:49:32 utc",
            "2026-10-10 09:49:32 GMT+8",
            "2026-10-10T09:49[Asia/Taipei]",
            "2026-10-10T09:49:32[Asia/Taipei]",
            "2026-10-10T09:49:32+08:00[]",
            "2026-10-10T09:49:32+08:00[Asia Taipei]",
            "2026-10-10T09:49:32  +08:00",
            "2026-10-10T09:49:3+08:00",
            "2026-10-10T09+08:00",
            "2026-10-10T09:49 ",
            "2026-02-30 09:49:32 UTC",
            "2026-10-10T09:49:32+08:00[Asia/Taipei]x",
        ] {
            assert_eq!(parse_time(bad), Err(RejectReason::BadEventTime), "{bad}");
        }
        // A leap second keeps its rule in these forms too.
        assert_eq!(
            parse_time("2016-12-31 23:59:60 UTC"),
            parse_time("2016-12-31T23:59:59.999Z")
        );
        assert_eq!(
            parse_time("2026-10-10 12:30:60 UTC"),
            Err(RejectReason::BadEventTime)
        );
    }

    #[test]
    fn offsets_and_whole_decimals_as_common_writers_emit_them() {
        let utc = parse_time("2026-03-09T16:00:00Z").unwrap();
        for same in [
            "2026-03-10T00:00:00+08:00",
            "2026-03-10T00:00:00+0800",     // polars write_csv
            "2026-03-10 00:00:00+08",       // DuckDB CSV
            "2026-03-10T00:00:00.000+0800", // with a fraction
            "2026-03-09 16:00:00+00",
            "2026-03-09T16:00:00.000+0000",
            "2026-03-09 10:30:00-0530",
            "2026-03-09 11:00:00-05",
        ] {
            assert_eq!(parse_time(same), Ok(utc), "{same}");
        }
        assert_eq!(parse_time("2026-03-09T16:00:00.123+0000"), Ok(utc + 123));
        assert_eq!(parse_time("1773073800000.0"), Ok(1_773_073_800_000));
        assert_eq!(parse_time("1773073800000.000"), Ok(1_773_073_800_000));
        assert_eq!(parse_time("-1.0"), Ok(-1));
        // With a sign, as integers are written (and `duration_s` is read).
        assert_eq!(parse_time("+1773073800000"), Ok(1_773_073_800_000));
        assert_eq!(parse_time("+1773073800000.0"), Ok(1_773_073_800_000));
        assert_eq!(parse_time("-0"), Ok(0));
        for bad in ["+", "+-1", "++1", "-+1", "+ 1", "+2026-03-10T00:00:00Z"] {
            assert_eq!(parse_time(bad), Err(RejectReason::BadEventTime), "{bad}");
        }
        // Still no instant: no offset, a fraction of a millisecond, malformed offsets.
        for bad in [
            "2026-03-10 00:00:00",
            "2026-03-10T00:00:00+8",
            "2026-03-10T00:00:00+080",
            "2026-03-10T00:00:00+08000",
            "2026-03-10T00:00:00+08:0",
            "2026-03-10T00:00:00+2400",
            "2026-03-10+08",
            "2026-03-10",
            "1773073800000.5",
            "1773073800000.",
            ".0",
            "-.0",
            "12:00:00+0800",
        ] {
            assert_eq!(parse_time(bad), Err(RejectReason::BadEventTime), "{bad}");
        }
        // A leap second keeps its rule whatever the offset's form.
        assert_eq!(
            parse_time("2017-01-01 07:59:60+08"),
            parse_time("2016-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn a_leap_second_stays_on_its_day_and_is_only_at_the_end_of_a_utc_day() {
        let last_ms = parse_time("2016-12-31T23:59:59.999Z").unwrap();
        assert_eq!(parse_time("2016-12-31T23:59:60Z"), Ok(last_ms));
        assert_eq!(parse_time("2016-12-31T23:59:60.5Z"), Ok(last_ms));
        // The same instant written in another offset.
        assert_eq!(parse_time("2017-01-01T07:59:60+08:00"), Ok(last_ms));
        assert_eq!(parse_time("2016-12-31T18:59:60-05:00"), Ok(last_ms));
        for bad in [
            "2026-03-10T12:30:60Z",
            "2026-03-10T23:58:60Z",
            "2026-03-10T23:59:60+08:00", // 15:59:60 UTC
        ] {
            assert_eq!(parse_time(bad), Err(RejectReason::BadEventTime), "{bad}");
        }
    }

    #[test]
    fn reasons() {
        let mut i = Interpreter::new(None);
        let ok = i
            .interpret(&row("+886912345001", "+2348021234567", "in", "call"))
            .unwrap();
        assert_eq!(
            ok.counterparty,
            Counterparty::Number(Msisdn::parse_subscriber("+2348021234567").unwrap())
        );
        for (r, want) in [
            (row("", "+1", "in", "call"), RejectReason::MissingSubscriber),
            (
                row("886912345002", "", "in", "call"),
                RejectReason::SubscriberNoDefaultRegion,
            ),
            (
                row("+88691234500x", "", "in", "call"),
                RejectReason::BadSubscriber,
            ),
            (
                row("+886912345002", "", "sideways", "call"),
                RejectReason::BadDirection,
            ),
            (row("+886912345002", "", "in", "fax"), RejectReason::BadKind),
            (
                row("+886912345002", "", "", "call"),
                RejectReason::MissingDirection,
            ),
            (
                row("+886912345002", "0212345678", "in", "call"),
                RejectReason::CounterpartyNoDefaultRegion,
            ),
        ] {
            assert_eq!(i.interpret(&r), Err(want));
        }
    }

    #[test]
    fn unknown_counterparties_are_kept() {
        let mut i = Interpreter::new(None);
        for cp in ["", "BANK", "anonymous", "+BANK", "12345"] {
            let e = i.interpret(&row("+886912345001", cp, "in", "sms")).unwrap();
            assert_eq!(e.counterparty, Counterparty::Unknown, "{cp}");
        }
    }

    #[test]
    fn national_numbers_with_default_region() {
        let mut i = Interpreter::new(Region::parse("TW"));
        let e = i
            .interpret(&row("0912345001", "02 2123 4567", "OUT", "SMS"))
            .unwrap();
        assert_eq!(e.subscriber.to_string(), "+886912345001");
        assert_eq!(
            e.counterparty,
            Counterparty::Number(Msisdn::parse_subscriber("+886221234567").unwrap())
        );
        assert_eq!(e.flavor, flavor(true, true));
    }

    /// The punctuation and digits libphonenumber takes (REFERENCE.md §2.1), in both number
    /// cells, with and without a default region: a `+` after punctuation or full-width is a
    /// `+` number; a short code so written is still one; an extension is no number.
    #[test]
    fn numbers_written_with_unicode_punctuation_and_digits_are_read() {
        let number = |s: &str| Counterparty::Number(Msisdn::parse_subscriber(s).unwrap());
        let mut none = Interpreter::new(None);
        let e = none
            .interpret(&row(
                "(+886) 912-345-001",
                "\u{FF0B}234 802/123/4567",
                "in",
                "call",
            ))
            .unwrap();
        assert_eq!(e.subscriber.to_string(), "+886912345001");
        assert_eq!(e.counterparty, number("+2348021234567"));
        let e = none
            .interpret(&row("+886912345001", "[12345]", "in", "sms"))
            .unwrap();
        assert_eq!(e.counterparty, Counterparty::Unknown, "a short code");
        assert_eq!(
            none.interpret(&row(
                "+886912345001",
                "0802\u{00A0}123\u{00A0}4567",
                "in",
                "sms"
            )),
            Err(RejectReason::CounterpartyNoDefaultRegion)
        );
        let mut kz = Interpreter::new(Region::parse("KZ"));
        let e = kz
            .interpret(&row(
                "+886912345001",
                "8~10 234 802 123 4567",
                "out",
                "call",
            ))
            .unwrap();
        assert_eq!(e.counterparty, number("+2348021234567"));
        let mut tw = Interpreter::new(Region::parse("TW"));
        let e = tw
            .interpret(&row(
                "\u{FF10}\u{FF19}12\u{3000}345\u{3000}001",
                "02/2123 4567",
                "in",
                "call",
            ))
            .unwrap();
        assert_eq!(e.subscriber.to_string(), "+886912345001");
        assert_eq!(e.counterparty, number("+886221234567"));
        // A negative whole decimal is its integer (no `.00` digits appended), as the
        // integer's text and a decimal column's value are.
        for cp in ["-221234567.00", "-221234567"] {
            let e = tw
                .interpret(&row("+886912345001", cp, "in", "call"))
                .unwrap();
            assert_eq!(e.counterparty, number("+886221234567"), "{cp}");
        }
        let e = tw
            .interpret(&row("+886912345001", "0912 345 678 x12", "in", "call"))
            .unwrap();
        assert_eq!(e.counterparty, Counterparty::Unknown, "an extension");
        assert_eq!(
            tw.interpret(&row("0912 345 001 x1", "", "in", "call")),
            Err(RejectReason::BadSubscriber)
        );
    }

    #[test]
    fn whole_decimals_in_number_and_duration_text_are_their_integers() {
        let mut i = Interpreter::new(Some(Region::parse("TW").unwrap()));
        let mut r = row("912345001.0", "221234567.00", "in", "call");
        r.duration = Some(DurationCell::Text("60.0"));
        let e = i.interpret(&r).unwrap();
        assert_eq!(e.subscriber.to_string(), "+886912345001");
        assert_eq!(
            e.counterparty,
            Counterparty::Number(Msisdn::parse_subscriber("+886221234567").unwrap())
        );
        // the same cells without the decimal: the same event
        let plain = i
            .interpret(&row("912345001", "221234567", "in", "call"))
            .unwrap();
        assert_eq!(
            (plain.subscriber, plain.counterparty),
            (e.subscriber, e.counterparty)
        );
        // a fraction is no whole number: the dots stay separators / the duration is bad
        r.duration = Some(DurationCell::Text("60.5"));
        assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration));
        r.duration = Some(DurationCell::Text("-1.0"));
        assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration));
        let dotted = i
            .interpret(&row("0912.345.001", "+2348021234567", "in", "call"))
            .unwrap();
        assert_eq!(dotted.subscriber.to_string(), "+886912345001");
    }

    #[test]
    fn region_column_wins_and_is_validated() {
        let mut i = Interpreter::new(None);
        let mut r = row("+886912345001", "+886221234567", "in", "call");
        r.region = Some("ng");
        assert!(
            matches!(i.interpret(&r).unwrap().counterparty, Counterparty::NumberInRegion(_, reg) if reg.as_str() == "NG")
        );
        r.region = Some("Nigeria");
        assert_eq!(i.interpret(&r), Err(RejectReason::BadCounterpartyRegion));
        r.region = Some("");
        assert!(matches!(
            i.interpret(&r).unwrap().counterparty,
            Counterparty::Number(_)
        ));
    }

    #[test]
    fn instants_outside_the_range_are_rejected() {
        let mut i = Interpreter::new(None);
        let mut r = row("+886912345001", "", "in", "call");
        for (t, want) in [
            ("1800-01-01T00:00:00Z", Err(RejectReason::TimeOutOfRange)),
            (
                "1969-12-31T23:59:59.999Z",
                Err(RejectReason::TimeOutOfRange),
            ),
            ("1970-01-01T00:00:00Z", Ok(0)),
            ("2099-12-31T23:59:59.999Z", Ok(4_102_444_799_999)),
            ("2100-01-01T00:00:00Z", Err(RejectReason::TimeOutOfRange)),
            ("-1", Err(RejectReason::TimeOutOfRange)),
            ("9223372036854775807", Err(RejectReason::TimeOutOfRange)),
            ("9223372036854775808", Err(RejectReason::TimeOutOfRange)),
            ("18446744073709551615", Err(RejectReason::TimeOutOfRange)),
            ("-99999999999999999999", Err(RejectReason::TimeOutOfRange)),
            ("-", Err(RejectReason::BadEventTime)),
        ] {
            r.time = Some(TimeCell::Text(t));
            assert_eq!(i.interpret(&r).map(|e| e.time_ms), want, "{t}");
        }
        r.time = Some(TimeCell::Millis(i64::MIN));
        assert_eq!(i.interpret(&r), Err(RejectReason::TimeOutOfRange));
        // The time rule comes first, as for an unparseable time.
        r.subscriber = Some("");
        assert_eq!(i.interpret(&r), Err(RejectReason::TimeOutOfRange));
    }

    #[test]
    fn durations() {
        let mut i = Interpreter::new(None);
        let mut r = row("+886912345001", "", "in", "call");
        r.duration = Some(DurationCell::Text("-1"));
        assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration));
        r.duration = Some(DurationCell::Text("60"));
        assert!(i.interpret(&r).is_ok());
        // Signs and whole decimals, as integers are read.
        for ok in ["+60", "-0", "60.0", "+60.0", "-0.0", "0.00"] {
            r.duration = Some(DurationCell::Text(ok));
            assert!(i.interpret(&r).is_ok(), "{ok}");
        }
        for bad in ["-1.0", "+-1.0", "+-1", "60.5", "6e1", "+", ".0", "60."] {
            r.duration = Some(DurationCell::Text(bad));
            assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration), "{bad}");
        }
        r.duration = Some(DurationCell::Int(-5));
        assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration));
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY] {
            r.duration = Some(DurationCell::Float(bad));
            assert_eq!(i.interpret(&r), Err(RejectReason::BadDuration), "{bad}");
        }
        r.duration = Some(DurationCell::Float(60.0));
        assert!(i.interpret(&r).is_ok());
    }

    /// The fixed-place reader of the common RFC 3339 form against chrono's parser: every
    /// text it reads gets chrono's milliseconds, and every valid instant of that form is read
    /// by it (so the fast path is taken, not silently skipped). Fields run past their ranges
    /// (month 13, day 32, hour 24, second 60, offset 24:00), fractions past nine digits, and
    /// other offset forms, which must come back `None` unless chrono reads them the same.
    #[test]
    fn common_instants_are_chrono_instants() {
        use proptest::prelude::*;
        let zone = prop_oneof![
            Just("Z".to_owned()),
            Just("z".to_owned()),
            Just("-00:00".to_owned()),
            (0u32..26, 0u32..62, any::<bool>())
                .prop_map(|(h, m, neg)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' })),
            (0u32..24, 0u32..60).prop_map(|(h, m)| format!("+{h:02}{m:02}")),
        ];
        let fraction = prop_oneof![
            Just(String::new()),
            (1usize..12, any::<u64>()).prop_map(|(n, v)| {
                let d = format!("{v:020}");
                format!(".{}", &d[..n])
            }),
        ];
        let text = (
            (0i64..10_000, 0u32..14, 0u32..33),
            (0u32..25, 0u32..61, 0u32..62),
            fraction,
            zone,
        )
            .prop_map(|((y, mo, d), (h, mi, s), f, z)| {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{f}{z}")
            });
        proptest::proptest!(ProptestConfig::with_cases(20_000), |(t in text)| {
            let fast = common_instant(t.as_bytes());
            let chrono = parse_instant(&t);
            if let Some(ms) = fast {
                prop_assert_eq!(Ok(ms), chrono, "{}", t);
            }
            let b = t.as_bytes();
            let field = |at: usize| u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0');
            let year = i64::from(field(0) * 100 + field(2));
            let (mo, d) = (field(5), field(8));
            let in_range = (1..=12).contains(&mo)
                && d >= 1
                && d <= days_in_month(year, mo)
                && field(11) < 24
                && field(14) < 60
                && field(17) < 60;
            let rest = &t[19..];
            let digits = rest.strip_prefix('.').map_or(0, |r| r.bytes().take_while(u8::is_ascii_digit).count());
            let zone = &rest[if digits > 0 { digits + 1 } else { 0 }..];
            let zone_ok = zone == "Z"
                || (zone.len() == 6
                    && zone[1..3].parse::<u32>().is_ok_and(|h| h < 24)
                    && zone[4..6].parse::<u32>().is_ok_and(|m| m < 60)
                    && &zone[3..4] == ":");
            if in_range && digits <= 9 && zone_ok {
                prop_assert!(fast.is_some(), "not read at fixed places: {}", t);
            }
        });
        // Hand-picked: before 1970 (negative), a leap day, the last millisecond of a year.
        for (t, ms) in [
            ("1969-12-31T23:59:59.5Z", -500),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            ("1999-12-31T23:59:59.999999999+00:00", 946_684_799_999),
            ("2026-10-01T08:00:00+08:00", 1_790_812_800_000),
        ] {
            assert_eq!(common_instant(t.as_bytes()), Some(ms), "{t}");
            assert_eq!(parse_instant(t), Ok(ms), "{t}");
        }
        assert_eq!(common_instant(b"2023-02-29T00:00:00Z"), None);
        assert_eq!(common_instant(b"2026-10-01 08:00:00Z"), None);
    }
}
