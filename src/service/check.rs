//! The `Check` RPC: request -> [`CheckParams`] -> snapshot lookup -> the two-field reply.
//!
//! This is an adapter only: the rules and their messages live in
//! [`crate::model::check::CheckParams::new`] (shared with `scan`), the semantics in the
//! index and [`crate::detect`]. Proto3 has no presence for scalars, so the zero values mean
//! "not given": `*_UNSPECIFIED` enums and `min_events = 0` take the REFERENCE.md §4 defaults,
//! `look_back_days = 0` is a missing required field, an empty `as_of` means today in the
//! engine's zone. An enum number outside the contract is INVALID_ARGUMENT naming the field.
//!
//! The reply carries `anomaly_detected` and `anomaly_date` and nothing else (REFERENCE.md §1: data
//! minimisation), and only `anomaly_detected` when the policy `suppress_anomaly_date` is on.
//! The policy `min_hotzone_entries` applies to hotzones given in the request (the server's
//! named and default hotzones are the operator's choice): fewer entries is OUT_OF_RANGE
//! naming the minimum; so does `max_prefix_digits`, a longer prefix entry (one whole number
//! asks whether the subscriber talked to it) being OUT_OF_RANGE naming the cap. Rate limits and authentication are applied before this, by the
//! handler in [`super`].
//!
//! Validated parameters are cached per thread (`ParamsCache`): callers send the same
//! parameters with different numbers, so a check whose fields (all but the number) equal
//! a recent one's reuses its [`CheckParams`] instead of parsing the hotzone again. Only
//! valid parameters are cached; a refused request is validated, and refused, every time.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};
use crate::model::check::{Limits, parse_phone_number};
use crate::model::hotzone::{Hotzone, HotzoneEntry};
use crate::model::{CheckParams, CheckTarget, CheckType, Method, Msisdn, RawCheck};
use crate::service::pb;
use crate::service::state::AppState;

/// Answers one check.
pub fn check(state: &AppState, req: &pb::CheckRequest) -> Result<pb::CheckResponse> {
    let sub = parse_phone_number(&req.phone_number)?;
    check_number(state, sub, req)
}

/// Answers one check whose number is already validated.
pub fn check_number(
    state: &AppState,
    sub: Msisdn,
    req: &pb::CheckRequest,
) -> Result<pb::CheckResponse> {
    check_with(state, sub, &cached_params(state, req)?)
}

/// [`check_number`] with the request's parameters validated.
pub fn check_with(
    state: &AppState,
    sub: Msisdn,
    params: &CheckParams,
) -> Result<pb::CheckResponse> {
    let guard = state.snapshot_guard();
    let Some(snapshot) = guard.as_ref() else {
        return Err(crate::service::state::not_loaded());
    };
    within_retention(state, snapshot, params)?;
    let v = snapshot.check(sub, params)?;
    let show_date = !state.settings().policy.suppress_anomaly_date;
    Ok(pb::CheckResponse {
        anomaly_detected: v.anomaly_detected,
        anomaly_date: v
            .anomaly_date
            .filter(|_| show_date)
            .map(format_date)
            .unwrap_or_default(),
    })
}

/// With `retention_days`, refuses a check whose window starts before the first day the
/// server keeps (the base's cut-off, [`Snapshot::kept_from`](crate::index::Snapshot)): those
/// days' events are gone (or go at the next rebuild), so the window would count them as days
/// without events, and a SPIKE baseline of zeros makes anomalies up. `OUT_OF_RANGE`, the
/// value past a limit, rather than an answer from part of the window. The cut-off is the
/// builder's own, counted back from the latest day in the data no later than today: a row
/// dated ahead moves it no more than it moves what is kept.
pub(crate) fn within_retention(
    state: &AppState,
    snapshot: &crate::index::Snapshot,
    params: &CheckParams,
) -> Result<()> {
    let Some(keep) = state.settings().retention_days else {
        return Ok(());
    };
    let Some(kept_from) = snapshot.kept_from() else {
        return Ok(()); // nothing built with the retention yet, or no events
    };
    let first = params.first_day();
    if first < kept_from {
        return Err(Error::out_of_range(
            "as_of",
            format!(
                "the window from {first} to {} starts before {kept_from}, the first day this \
                 server keeps (retention_days {keep}): ask for a later day or fewer look-back days",
                params.as_of
            ),
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD` (what chrono's `%Y-%m-%d` gives, without parsing a format per call).
fn format_date(d: NaiveDate) -> String {
    if (0..=9999).contains(&d.year()) {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    } else {
        d.format("%Y-%m-%d").to_string()
    }
}

/// Entries kept per thread by [`ParamsCache`].
const PARAMS_CACHE_ENTRIES: usize = 8;

/// Longest hotzone list (entries) whose parameters are cached; longer ones are validated
/// on every call (bounds the cache's memory whatever callers send).
const PARAMS_CACHE_MAX_ITEMS: usize = 32;

/// The fields of a request that decide its [`CheckParams`] (all but the number), plus the
/// server they were validated for and, when the request gives no `as_of`, the day "today"
/// meant then.
#[derive(PartialEq)]
struct ParamsKey {
    state: u64,
    today: Option<NaiveDate>,
    look_back_days: u32,
    method: i32,
    threshold_bits: u64,
    hotzone: Vec<String>,
    hotzone_name: String,
    check_type: i32,
    check_target: i32,
    min_events: u32,
    as_of: String,
}

impl ParamsKey {
    fn matches(&self, state: u64, today: Option<NaiveDate>, req: &pb::CheckRequest) -> bool {
        self.state == state
            && self.today == today
            && self.look_back_days == req.look_back_days
            && self.method == req.method
            && self.threshold_bits == req.threshold_ratio.to_bits()
            && self.check_type == req.check_type
            && self.check_target == req.check_target
            && self.min_events == req.min_events
            && self.as_of == req.as_of
            && self.hotzone_name == req.hotzone_name
            && self.hotzone == req.hotzone
    }

    fn of(state: u64, today: Option<NaiveDate>, req: &pb::CheckRequest) -> ParamsKey {
        ParamsKey {
            state,
            today,
            look_back_days: req.look_back_days,
            method: req.method,
            threshold_bits: req.threshold_ratio.to_bits(),
            hotzone: req.hotzone.clone(),
            hotzone_name: req.hotzone_name.clone(),
            check_type: req.check_type,
            check_target: req.check_target,
            min_events: req.min_events,
            as_of: req.as_of.clone(),
        }
    }
}

/// A few recently validated parameter sets of this thread, replaced round robin.
#[derive(Default)]
struct ParamsCache {
    entries: Vec<(ParamsKey, CheckParams)>,
    next: usize,
}

thread_local! {
    static PARAMS_CACHE: RefCell<ParamsCache> = RefCell::new(ParamsCache::default());
}

/// [`params`], served from this thread's cache when the same fields were validated for
/// the same server (and, without `as_of`, on the same day). The service's guards call it
/// before they spend a rate-limit token; [`check_with`] then answers with what it gave.
pub fn cached_params(state: &AppState, req: &pb::CheckRequest) -> Result<CheckParams> {
    if req.hotzone.len() > PARAMS_CACHE_MAX_ITEMS {
        return params(state, req);
    }
    let today = req
        .as_of
        .is_empty()
        .then(|| state.settings().clock.today(state.settings().tz));
    let id = state.id();
    let hit = PARAMS_CACHE.with(|c| {
        c.borrow()
            .entries
            .iter()
            .find(|(k, _)| k.matches(id, today, req))
            .map(|(_, p)| p.clone())
    });
    if let Some(p) = hit {
        return Ok(p);
    }
    let p = params_for(state, req, today)?;
    PARAMS_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let entry = (ParamsKey::of(id, today, req), p.clone());
        if c.entries.len() < PARAMS_CACHE_ENTRIES {
            c.entries.push(entry);
        } else {
            let i = c.next;
            c.entries[i] = entry;
            c.next = (i + 1) % PARAMS_CACHE_ENTRIES;
        }
    });
    Ok(p)
}

/// Validates the request's parameters (everything but the number) against this server's
/// limits and hotzones.
pub fn params(state: &AppState, req: &pb::CheckRequest) -> Result<CheckParams> {
    params_for(state, req, None)
}

/// [`params`] with "today" already known (`None`: read the clock).
fn params_for(
    state: &AppState,
    req: &pb::CheckRequest,
    today: Option<NaiveDate>,
) -> Result<CheckParams> {
    let settings = state.settings();
    let raw = RawCheck {
        look_back_days: match req.look_back_days {
            0 => {
                return Err(Error::invalid(
                    "look_back_days",
                    format!("is required (1 to {})", settings.max_look_back_days),
                ));
            }
            n => Some(i64::from(n)),
        },
        method: enum_value(
            req.method,
            "method",
            "METHOD_UNSPECIFIED, SHARE or SPIKE",
            |m| match pb::Method::try_from(m).ok()? {
                pb::Method::Unspecified => Some(None),
                pb::Method::Share => Some(Some(Method::Share)),
                pb::Method::Spike => Some(Some(Method::Spike)),
            },
        )?,
        threshold_ratio: Some(req.threshold_ratio),
        hotzone: hotzone(state, req)?,
        check_type: enum_value(
            req.check_type,
            "check_type",
            "CHECK_TYPE_UNSPECIFIED, CALL, SMS or CHECK_TYPE_ALL",
            |t| match pb::CheckType::try_from(t).ok()? {
                pb::CheckType::Unspecified => Some(None),
                pb::CheckType::Call => Some(Some(CheckType::Call)),
                pb::CheckType::Sms => Some(Some(CheckType::Sms)),
                pb::CheckType::All => Some(Some(CheckType::All)),
            },
        )?,
        check_target: enum_value(
            req.check_target,
            "check_target",
            "CHECK_TARGET_UNSPECIFIED, INCOMING, OUTGOING or CHECK_TARGET_ALL",
            |t| match pb::CheckTarget::try_from(t).ok()? {
                pb::CheckTarget::Unspecified => Some(None),
                pb::CheckTarget::Incoming => Some(Some(CheckTarget::Incoming)),
                pb::CheckTarget::Outgoing => Some(Some(CheckTarget::Outgoing)),
                pb::CheckTarget::All => Some(Some(CheckTarget::All)),
            },
        )?,
        min_events: (req.min_events != 0).then_some(i64::from(req.min_events)),
        as_of: (!req.as_of.is_empty()).then(|| req.as_of.clone()),
    };
    let limits = Limits {
        max_look_back_days: settings.max_look_back_days,
        default_as_of: today.unwrap_or_else(|| settings.clock.today(settings.tz)),
    };
    CheckParams::new(raw, limits)
}

/// Maps a proto enum number; `None` from `map` means a number outside the enum.
fn enum_value<T>(
    n: i32,
    field: &str,
    allowed: &str,
    map: impl FnOnce(i32) -> Option<Option<T>>,
) -> Result<Option<T>> {
    map(n).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "must be one of {allowed} (got {})",
                crate::model::shown::shown_number(n)
            ),
        )
    })
}

/// The request's hotzone: its entries, else the named one, else the server's default, else
/// none (and [`CheckParams::new`] says it is required).
fn hotzone(state: &AppState, req: &pb::CheckRequest) -> Result<Option<Arc<Hotzone>>> {
    if !req.hotzone.is_empty() {
        if !req.hotzone_name.is_empty() {
            return Err(Error::invalid(
                "hotzone_name",
                "must be empty when hotzone entries are given (one or the other)",
            ));
        }
        let h = Hotzone::parse_items("hotzone", &req.hotzone)?;
        let min = usize::from(state.settings().policy.min_hotzone_entries);
        if h.entries().len() < min {
            return Err(Error::out_of_range(
                "hotzone",
                format!(
                    "must hold at least {min} distinct entries on this server (got {})",
                    h.entries().len()
                ),
            ));
        }
        let max = state.settings().policy.max_prefix_digits;
        let longest = (h.entries().iter())
            .filter_map(|e| match e {
                HotzoneEntry::Prefix { len, .. } => Some(*len),
                HotzoneEntry::Region(_) => None,
            })
            .max();
        if let Some(len) = longest.filter(|len| *len > max) {
            // Its length only: the entry itself may be a whole number.
            return Err(Error::out_of_range(
                "hotzone",
                format!(
                    "a prefix entry may have at most {max} digits on this server (got one of {len})"
                ),
            ));
        }
        return Ok(Some(Arc::new(h)));
    }
    if !req.hotzone_name.is_empty() {
        // The name is not echoed: it is caller text and could hold anything.
        return state
            .named_hotzone(&req.hotzone_name)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid("hotzone_name", "names no hotzone configured on this server")
            });
    }
    Ok(state.settings().default_hotzone.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSettings;

    fn req(look_back_days: u32, hotzone: &[&str], as_of: &str) -> pb::CheckRequest {
        pb::CheckRequest {
            phone_number: "+886912345001".to_owned(),
            look_back_days,
            method: pb::Method::Share as i32,
            threshold_ratio: 0.5,
            hotzone: hotzone.iter().map(|s| (*s).to_owned()).collect(),
            check_type: 0,
            check_target: 0,
            min_events: 0,
            as_of: as_of.to_owned(),
            hotzone_name: String::new(),
        }
    }

    #[test]
    fn cached_params_equal_fresh_ones() {
        let state = AppState::new(ServerSettings::for_data_dir("/nonexistent"));
        for r in [
            req(30, &["+234", "NG"], "2026-10-30"),
            req(7, &["JM"], ""),
            req(30, &["NG", "+234"], "2026-10-30"),
        ] {
            let fresh = params(&state, &r).unwrap();
            assert_eq!(cached_params(&state, &r).unwrap(), fresh);
            assert_eq!(
                cached_params(&state, &r).unwrap(),
                fresh,
                "second call (cached)"
            );
        }
        // Every field is part of the key.
        let a = cached_params(&state, &req(30, &["+234"], "2026-10-30")).unwrap();
        let b = cached_params(&state, &req(30, &["+234"], "2026-10-29")).unwrap();
        assert_ne!(a.as_of, b.as_of);
        let mut r = req(30, &["+234"], "2026-10-30");
        r.threshold_ratio = 0.25;
        assert_eq!(cached_params(&state, &r).unwrap().threshold_ratio, 0.25);
    }

    #[test]
    fn refused_params_are_refused_every_time() {
        let state = AppState::new(ServerSettings::for_data_dir("/nonexistent"));
        let bad = req(30, &["XX"], "2026-10-30");
        for _ in 0..3 {
            assert!(matches!(
                cached_params(&state, &bad),
                Err(Error::InvalidArgument { .. })
            ));
        }
    }

    #[test]
    fn two_servers_never_share_cached_params() {
        let open = AppState::new(ServerSettings::for_data_dir("/nonexistent"));
        let mut s = ServerSettings::for_data_dir("/nonexistent");
        s.max_look_back_days = 7;
        let strict = AppState::new(s);
        let r = req(30, &["+234"], "2026-10-30");
        assert!(cached_params(&open, &r).is_ok());
        // Same thread, same request fields: the other server's limits still apply.
        assert!(matches!(
            cached_params(&strict, &r),
            Err(Error::OutOfRange { .. })
        ));
    }

    #[test]
    fn the_cache_stays_small() {
        let state = AppState::new(ServerSettings::for_data_dir("/nonexistent"));
        for d in 1..=40 {
            cached_params(&state, &req(d, &["+234"], "2026-10-30")).unwrap();
        }
        PARAMS_CACHE.with(|c| assert!(c.borrow().entries.len() <= PARAMS_CACHE_ENTRIES));
    }

    #[test]
    fn dates_are_iso() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(format_date(d), "2026-03-07");
        assert_eq!(format_date(d), d.format("%Y-%m-%d").to_string());
    }
}
