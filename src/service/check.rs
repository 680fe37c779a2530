//! The `Check` RPC: request -> [`CheckParams`] -> snapshot lookup -> the two-field reply.
//!
//! This is an adapter only: the rules and their messages live in
//! [`crate::model::check::CheckParams::new`] (shared with `scan`), the semantics in the
//! index and [`crate::detect`]. Proto3 has no presence for scalars, so the zero values mean
//! "not given": `*_UNSPECIFIED` enums and `min_events = 0` take the SPEC §4 defaults,
//! `look_back_days = 0` is a missing required field, an empty `as_of` means today in the
//! engine's zone. An enum number outside the contract is INVALID_ARGUMENT naming the field.
//!
//! The reply carries `anomaly_detected` and `anomaly_date` and nothing else (SPEC §1: data
//! minimisation), and only `anomaly_detected` when the policy `suppress_anomaly_date` is on.
//! The policy `min_hotzone_entries` applies to hotzones given in the request (the server's
//! named and default hotzones are the operator's choice): fewer entries is OUT_OF_RANGE
//! naming the minimum. Rate limits and authentication are applied before this, by the
//! handler in [`super`].

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::check::{Limits, parse_phone_number};
use crate::model::hotzone::Hotzone;
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
    let params = params(state, req)?;
    let snapshot = state.snapshot()?;
    let v = snapshot.check(sub, &params)?;
    let show_date = !state.settings().policy.suppress_anomaly_date;
    Ok(pb::CheckResponse {
        anomaly_detected: v.anomaly_detected,
        anomaly_date: v
            .anomaly_date
            .filter(|_| show_date)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    })
}

/// Validates the request's parameters (everything but the number) against this server's
/// limits and hotzones.
pub fn params(state: &AppState, req: &pb::CheckRequest) -> Result<CheckParams> {
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
        default_as_of: crate::clock::today(settings.tz),
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
    map(n).ok_or_else(|| Error::invalid(field, format!("must be one of {allowed} (got {n})")))
}

/// The request's hotzone: its entries, else the named one, else the server's default, else
/// none (and [`CheckParams::new`] says it is required).
fn hotzone(state: &AppState, req: &pb::CheckRequest) -> Result<Option<Arc<Hotzone>>> {
    if !req.hotzone.is_empty() {
        if !req.hotzone_name.is_empty() {
            return Err(Error::invalid(
                "hotzone_name",
                "must be empty when hotzone is given",
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
