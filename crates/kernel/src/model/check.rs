//! Check parameters (REFERENCE.md §4), validated once into [`CheckParams`].
//!
//! The CLI flags and the gRPC request both build a [`RawCheck`] and call
//! [`CheckParams::new`], so every entry point applies the same rules with the same messages.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::model::hotzone::Hotzone;
use crate::model::phone::Msisdn;
use crate::model::shown::{shown, shown_number};

/// Largest `look_back_days` the contract allows.
pub const MAX_LOOK_BACK_DAYS: u16 = 90;
/// Default `min_events`.
pub const DEFAULT_MIN_EVENTS: u32 = 3;

/// The earliest first day of a window: 0001-01-01, where Python's `date` and most clients'
/// calendars begin.
pub const FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(d) => d,
    None => panic!("0001-01-01 is a date"),
};

/// REFERENCE.md §5 detection method.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum Method {
    /// `hot(d)/total(d) >= r`.
    #[default]
    Share,
    /// `hot(d) > r * mean(hot before d in W)`.
    Spike,
}

/// Which kinds are selected.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum CheckType {
    /// Calls only.
    Call,
    /// SMS only.
    Sms,
    /// Both.
    #[default]
    All,
}

/// Which directions are selected.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub enum CheckTarget {
    /// Incoming only.
    Incoming,
    /// Outgoing only.
    Outgoing,
    /// Both.
    #[default]
    All,
}

/// An event's direction and kind as two bits: `dir << 1 | kind` (in=0, out=1; call=0, sms=1).
pub type Flavor = u8;

/// Flavor bits of an event.
pub fn flavor(outgoing: bool, sms: bool) -> Flavor {
    (u8::from(outgoing) << 1) | u8::from(sms)
}

/// The four-bit mask of flavors a (check_type, check_target) pair selects.
pub fn selection_mask(t: CheckType, target: CheckTarget) -> u8 {
    let mut mask = 0u8;
    for f in 0..4u8 {
        let sms = f & 1 == 1;
        let out = f & 2 == 2;
        let kind_ok = match t {
            CheckType::Call => !sms,
            CheckType::Sms => sms,
            CheckType::All => true,
        };
        let dir_ok = match target {
            CheckTarget::Incoming => !out,
            CheckTarget::Outgoing => out,
            CheckTarget::All => true,
        };
        if kind_ok && dir_ok {
            mask |= 1 << f;
        }
    }
    mask
}

/// Unvalidated parameters, as they arrive from a flag parser or a request.
#[derive(Clone, Debug, Default)]
pub struct RawCheck {
    /// Days in the window (required).
    pub look_back_days: Option<i64>,
    /// Method (default SHARE).
    pub method: Option<Method>,
    /// Threshold (required).
    pub threshold_ratio: Option<f64>,
    /// Hotzone (required unless the caller supplies a default).
    pub hotzone: Option<Arc<Hotzone>>,
    /// Kinds selected (default ALL).
    pub check_type: Option<CheckType>,
    /// Directions selected (default ALL).
    pub check_target: Option<CheckTarget>,
    /// Minimum hot events on an anomalous day (default 3).
    pub min_events: Option<i64>,
    /// Last day of the window, `YYYY-MM-DD` (default: supplied by the caller).
    pub as_of: Option<String>,
}

/// Limits that depend on who asks: a server's cap, and what "today" is.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Highest `look_back_days` allowed (at most [`MAX_LOOK_BACK_DAYS`]).
    pub max_look_back_days: u16,
    /// The `as_of` used when none is given.
    pub default_as_of: NaiveDate,
}

/// Validated check parameters: every field is within the contract.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckParams {
    /// 1..=90 (or the server's cap).
    pub look_back_days: u16,
    /// SHARE or SPIKE.
    pub method: Method,
    /// Finite; (0, 1] for SHARE, >= 1 for SPIKE.
    pub threshold_ratio: f64,
    /// Which counterparties are hot.
    pub hotzone: Arc<Hotzone>,
    /// Kinds selected.
    pub check_type: CheckType,
    /// Directions selected.
    pub check_target: CheckTarget,
    /// >= 1.
    pub min_events: u32,
    /// Last day of the window.
    pub as_of: NaiveDate,
}

impl CheckParams {
    /// Validates; the error names the field and the rule (REFERENCE.md §8's table decides the kind).
    pub fn new(raw: RawCheck, limits: Limits) -> Result<CheckParams> {
        let look_back_days = raw
            .look_back_days
            .ok_or_else(|| Error::invalid("look_back_days", "is required"))?;
        let look_back_days = look_back_days_in_range(look_back_days, limits.max_look_back_days)?;
        let method = raw.method.unwrap_or_default();
        let r = raw
            .threshold_ratio
            .ok_or_else(|| Error::invalid("threshold_ratio", "is required"))?;
        if !r.is_finite() {
            return Err(Error::invalid("threshold_ratio", "must be a finite number"));
        }
        match method {
            Method::Share if !(r > 0.0 && r <= 1.0) => {
                return Err(Error::out_of_range(
                    "threshold_ratio",
                    format!("must be in (0, 1] for SHARE (got {})", shown_number(r)),
                ));
            }
            Method::Spike if r < 1.0 => {
                return Err(Error::out_of_range(
                    "threshold_ratio",
                    format!("must be >= 1 for SPIKE (got {})", shown_number(r)),
                ));
            }
            _ => {}
        }
        let hotzone = raw.hotzone.ok_or_else(|| {
            Error::invalid("hotzone", "is required (no default hotzone is configured)")
        })?;
        let min_events =
            min_events_in_range(raw.min_events.unwrap_or(i64::from(DEFAULT_MIN_EVENTS)))?;
        let as_of = match raw.as_of.as_deref() {
            None | Some("") => limits.default_as_of,
            Some(s) => parse_date(s).ok_or_else(|| {
                Error::invalid(
                    "as_of",
                    format!("must be a date YYYY-MM-DD (got {})", shown(s)),
                )
            })?,
        };
        // W's first day must be a date of the calendar every client has: Python's `date`,
        // JSON and Arrow readers start at year 1 (a window reaching into year 0 broke the
        // Python summary).
        let first = as_of.checked_sub_days(chrono::Days::new(u64::from(look_back_days) - 1));
        if first.is_none_or(|d| d < FIRST_DAY) {
            return Err(Error::out_of_range(
                "as_of",
                format!(
                    "the window of {look_back_days} day(s) ending on {as_of} would start before {FIRST_DAY}"
                ),
            ));
        }
        Ok(CheckParams {
            look_back_days,
            method,
            threshold_ratio: r,
            hotzone,
            check_type: raw.check_type.unwrap_or_default(),
            check_target: raw.check_target.unwrap_or_default(),
            min_events,
            as_of,
        })
    }

    /// First day of the window W (0001-01-01 or later: [`CheckParams::new`] refuses an
    /// earlier one).
    pub fn first_day(&self) -> NaiveDate {
        self.as_of - chrono::Days::new(u64::from(self.look_back_days) - 1)
    }

    /// The flavor mask this check selects.
    pub fn selection(&self) -> u8 {
        selection_mask(self.check_type, self.check_target)
    }
}

/// REFERENCE.md §4's range of `look_back_days` under a server cap `max` (itself at most 90).
/// [`CheckParams::new`] applies it; adapters whose wire type is wider than the proto's call
/// it directly so the rule and its message stay one.
pub fn look_back_days_in_range(n: impl Into<i128>, max: u16) -> Result<u16> {
    let n: i128 = n.into();
    let cap = max.min(MAX_LOOK_BACK_DAYS);
    if n < 1 || n > i128::from(cap) {
        return Err(Error::out_of_range(
            "look_back_days",
            format!("must be between 1 and {cap} (got {})", shown_number(n)),
        ));
    }
    Ok(n as u16)
}

/// REFERENCE.md §4's range of `min_events` (>= 1, and it fits a `u32`).
pub fn min_events_in_range(n: impl Into<i128>) -> Result<u32> {
    let n: i128 = n.into();
    if n < 1 || n > i128::from(u32::MAX) {
        return Err(Error::out_of_range(
            "min_events",
            format!(
                "must be between 1 and {} (got {})",
                u32::MAX,
                shown_number(n)
            ),
        ));
    }
    Ok(n as u32)
}

/// Strict `YYYY-MM-DD`: four, two and two ASCII digits (chrono's `%Y-%m-%d` alone also
/// takes a sign and one-digit fields: `+2026-3-10`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Validates the number of a check (REFERENCE.md §4 pattern); the error never echoes the value.
pub fn parse_phone_number(s: &str) -> Result<Msisdn> {
    Msisdn::parse_subscriber(s).map_err(|e| Error::invalid("phone_number", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strictly_four_two_two_digits() {
        assert_eq!(
            parse_date("2026-03-10"),
            NaiveDate::from_ymd_opt(2026, 3, 10)
        );
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for bad in [
            "+2026-3-10",
            "+2026-03-1",
            "+002-01-01",
            "-001-01-01",
            "2026-3-100",
            "2026/03/10",
            "2026-02-30",
            " 2026-03-1",
            "２026-03-10",
            "2026-03-10T",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    fn limits() -> Limits {
        Limits {
            max_look_back_days: 90,
            default_as_of: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
        }
    }

    fn raw() -> RawCheck {
        RawCheck {
            look_back_days: Some(7),
            threshold_ratio: Some(0.5),
            hotzone: Some(Arc::new(Hotzone::parse_list("hotzone", "NG").unwrap())),
            ..RawCheck::default()
        }
    }

    fn err(r: RawCheck) -> Error {
        CheckParams::new(r, limits()).unwrap_err()
    }

    #[test]
    fn defaults_apply() {
        let p = CheckParams::new(raw(), limits()).unwrap();
        assert_eq!(p.method, Method::Share);
        assert_eq!(p.min_events, 3);
        assert_eq!(p.as_of, limits().default_as_of);
        assert_eq!(p.first_day(), NaiveDate::from_ymd_opt(2026, 3, 4).unwrap());
        assert_eq!(p.selection(), 0b1111);
    }

    #[test]
    fn limits_are_out_of_range_and_malformed_is_invalid() {
        assert!(matches!(
            err(RawCheck {
                look_back_days: Some(0),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                look_back_days: Some(91),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                threshold_ratio: Some(0.0),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                threshold_ratio: Some(1.5),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                threshold_ratio: Some(f64::NAN),
                ..raw()
            }),
            Error::InvalidArgument { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                method: Some(Method::Spike),
                threshold_ratio: Some(0.9),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                min_events: Some(0),
                ..raw()
            }),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                as_of: Some("2026-3-1".into()),
                ..raw()
            }),
            Error::InvalidArgument { .. }
        ));
        assert!(matches!(
            err(RawCheck {
                hotzone: None,
                ..raw()
            }),
            Error::InvalidArgument { .. }
        ));
        let capped = Limits {
            max_look_back_days: 30,
            ..limits()
        };
        let e = CheckParams::new(
            RawCheck {
                look_back_days: Some(31),
                ..raw()
            },
            capped,
        )
        .unwrap_err();
        assert!(e.to_string().contains("between 1 and 30"), "{e}");
    }

    /// W starts on 0001-01-01 at the earliest (Python's `date` has no year 0): the last
    /// window that fits is accepted, one day more is out of range, naming `as_of`.
    #[test]
    fn a_window_starts_in_year_one_or_later() {
        for (as_of, days, fits) in [
            ("0001-01-01", 1, true),
            ("0001-01-01", 2, false),
            ("0001-01-05", 5, true),
            ("0001-01-05", 6, false),
            ("0001-03-31", 90, true),
        ] {
            let got = CheckParams::new(
                RawCheck {
                    as_of: Some(as_of.into()),
                    look_back_days: Some(days),
                    ..raw()
                },
                limits(),
            );
            match got {
                Ok(p) => {
                    assert!(fits, "{as_of} x {days} accepted");
                    assert!(p.first_day() >= FIRST_DAY);
                }
                Err(e) => {
                    assert!(!fits, "{as_of} x {days}: {e}");
                    assert!(matches!(e, Error::OutOfRange { .. }), "{e}");
                    assert!(e.to_string().contains("as_of"), "{e}");
                }
            }
        }
    }

    #[test]
    fn spike_accepts_one_and_share_accepts_one() {
        assert!(
            CheckParams::new(
                RawCheck {
                    method: Some(Method::Spike),
                    threshold_ratio: Some(1.0),
                    ..raw()
                },
                limits()
            )
            .is_ok()
        );
        assert!(
            CheckParams::new(
                RawCheck {
                    threshold_ratio: Some(1.0),
                    ..raw()
                },
                limits()
            )
            .is_ok()
        );
    }

    #[test]
    fn selection_masks() {
        assert_eq!(
            selection_mask(CheckType::Call, CheckTarget::Incoming),
            1 << flavor(false, false)
        );
        assert_eq!(
            selection_mask(CheckType::Sms, CheckTarget::Outgoing),
            1 << flavor(true, true)
        );
        assert_eq!(
            selection_mask(CheckType::Sms, CheckTarget::All),
            (1 << flavor(false, true)) | (1 << flavor(true, true))
        );
    }
}
