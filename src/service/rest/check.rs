//! `POST /fraud-hotzone-alert/v0/check`: camelCase JSON -> `pb::CheckRequest` -> the gRPC
//! service's `Check` -> `{"anomalyDetected", "anomalyDate"}`.
//!
//! The body is parsed into a `serde_json::Value` and each field checked here for its JSON
//! *type* only (a string, an integer, an array of strings); every rule about values lives in
//! [`crate::model::check`] and runs inside the gRPC handler, so both ports refuse the same
//! requests with the same messages. JSON has what proto3 lacks, presence: a missing
//! `thresholdRatio` is "required" (not "0 is out of range"), and `lookBackDays`/`minEvents`
//! values that the proto's `uint32` cannot carry (0, negative) are judged by the model's own
//! range rules. Unknown fields are refused (naming the field only when it is a plain word, so
//! a number sent as a key is never echoed).
//!
//! What JSON can say and the proto cannot (a value of the wrong JSON type, an integer the
//! proto's field cannot hold, a malformed body) is a `JsonRefusal` handed to the gRPC handler
//! with the request: the handler gives the body's and the number's in the place of its own
//! refusal of the number, another field's in the place of the parameters' (before any other
//! parameter), so a refused REST check passes the same gate, spends the same client and number
//! tokens, and is counted and audited as a refused gRPC check. Every value the proto
//! can carry is carried and judged by the handler (a `lookBackDays` above the server's cap,
//! say), so both ports give the same first refusal. A body that cannot be read (too large,
//! cut, too slow) is refused before the handler, counted and audited, after the token is
//! checked: a caller without valid credentials learns nothing about the body.

use std::time::Instant;

use http::StatusCode;
use serde_json::{Map, Value};
use tonic::Status;
use tonic::metadata::MetadataMap;

use super::{App, Body, RequestBody, error_response, json_response, read_body};
use crate::error::Error;
use crate::model::check::{look_back_days_in_range, min_events_in_range};
use crate::model::hotzone::Hotzone;
use crate::service::auth::Scope;
use crate::service::pb::{self, fraud_hotzone_server::FraudHotzone};
use crate::service::status::{correlator, correlator_text};

/// The JSON fields of a check request; `asOf` last, so the fields of a subscription's
/// `subscriptionDetail` (a check's without `asOf`) are all but the last.
pub(crate) const FIELDS: [&str; 10] = [
    "phoneNumber",
    "lookBackDays",
    "thresholdRatio",
    "method",
    "fraudHotZone",
    "hotzoneName",
    "checkType",
    "checkTarget",
    "minEvents",
    "asOf",
];

/// Handles one REST check.
pub(crate) async fn handle(app: &App, md: MetadataMap, body: RequestBody) -> http::Response<Body> {
    let started = Instant::now();
    let state = &app.state;
    let corr = correlator(&md).ok().flatten();
    // Credentials first, from the headers: an unauthenticated caller gets 401/403, not a
    // verdict on its body, and its body is never read (unread, it holds neither memory nor
    // the connection past the reply).
    let caller = match state.auth().authorize(&md, Scope::Check) {
        Ok(c) => c,
        Err(s) => {
            refused(app, None, &md, &s, started);
            return error_response(&s, corr.as_ref());
        }
    };
    let limit = state.settings().limits.max_request_bytes;
    // As on the gRPC port: the body read and the answer within `check_timeout_s` of the
    // request's start.
    let within = std::time::Duration::from_secs(state.settings().limits.check_timeout_s);
    let deadline = tokio::time::Instant::from_std(started) + within;
    let (req, refusal) = match read_body(body, limit, (deadline, within, "a Check")).await {
        Ok(bytes) => parse_check(&bytes, state.settings().max_look_back_days),
        Err(s) => {
            refused(app, Some(&caller.id), &md, &s, started);
            return error_response(&s, corr.as_ref());
        }
    };
    let mut extensions = tonic::Extensions::new();
    if let Some(r) = refusal {
        extensions.insert(r);
    }
    let request = tonic::Request::from_parts(md, extensions, req);
    match app.api.check(request).await {
        Ok(reply) => {
            let reply = reply.into_inner();
            let mut v = serde_json::json!({ "anomalyDetected": reply.anomaly_detected });
            if !reply.anomaly_date.is_empty() {
                v["anomalyDate"] = Value::String(reply.anomaly_date);
            }
            json_response(StatusCode::OK, &v)
        }
        Err(s) => error_response(&s, corr.as_ref()),
    }
}

/// A refusal of a REST check's JSON that the proto request cannot carry, handed to the gRPC
/// handler in the request's extensions (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct JsonRefusal {
    /// Given in the place of the number's validation (the body's, or `phoneNumber`'s), else
    /// in the place of the parameters'.
    pub(crate) of_number: bool,
    /// OUT_OF_RANGE rather than INVALID_ARGUMENT.
    out_of_range: bool,
    field: String,
    rule: String,
}

impl JsonRefusal {
    fn of(e: Error, of_number: bool) -> JsonRefusal {
        let (out_of_range, field, rule) = match e {
            Error::OutOfRange { field, rule } => (true, field, rule),
            Error::InvalidArgument { field, rule } => (false, field, rule),
            other => (false, "body".to_owned(), other.to_string()),
        };
        JsonRefusal {
            of_number,
            out_of_range,
            field,
            rule,
        }
    }

    /// The refusal as the model's error.
    pub(crate) fn error(&self) -> Error {
        let (field, rule) = (self.field.clone(), self.rule.clone());
        if self.out_of_range {
            Error::OutOfRange { field, rule }
        } else {
            Error::InvalidArgument { field, rule }
        }
    }
}

/// Counts and audits a request refused before the gRPC handler, as the gRPC guard does.
fn refused(app: &App, client: Option<&str>, md: &MetadataMap, s: &Status, started: Instant) {
    let corr = correlator(md).ok().flatten();
    crate::service::guard::refused(
        &app.state,
        Scope::Check,
        client.unwrap_or(""),
        &correlator_text(corr.as_ref()),
        s,
        started.elapsed(),
    );
}

/// The check request of a JSON body (types only; values are judged by the gRPC handler), and
/// the first refusal of its JSON that the request cannot carry (see the module docs).
pub(crate) fn parse_check(
    body: &[u8],
    max_look_back_days: u16,
) -> (pb::CheckRequest, Option<JsonRefusal>) {
    let refused = |e, of_number, phone_number| {
        let req = pb::CheckRequest {
            phone_number,
            ..pb::CheckRequest::default()
        };
        (req, Some(JsonRefusal::of(e, of_number)))
    };
    let obj = match json_object(body).and_then(|o| check_fields(&o, &FIELDS, "").map(|()| o)) {
        Ok(o) => o,
        Err(e) => return refused(e, true, String::new()),
    };
    let phone_number = match string(&obj, "phoneNumber", "phone_number") {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return refused(e, true, String::new()),
    };
    match request_of(&obj, max_look_back_days, true) {
        Ok(req) => (req, None),
        Err(e) => refused(e, false, phone_number),
    }
}

/// A request body as a JSON object; anything else is INVALID_ARGUMENT naming the body. An
/// object that repeats a field, at any depth, is refused: parsers disagree on which of the
/// values counts (this one kept the last), so a gateway that checks the first would pass a
/// request that means another thing here.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Error> {
    let v = serde_json::from_slice::<Unrepeated>(body).map_err(|e| {
        // A refusal of the visitor below says what it refused; serde_json appends the place.
        let said = e.to_string();
        let what = match e.classify() {
            serde_json::error::Category::Data => said
                .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
                .unwrap_or("an object repeats a field"),
            // Past a 64-bit float (`1e400`, 400 digits): no field's value, but no
            // malformed text either.
            _ if said.starts_with("number out of range") => {
                "a number beyond the range of a 64-bit float"
            }
            _ => "malformed JSON",
        };
        Error::invalid(
            "body",
            format!(
                "must be a JSON object ({what} at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    match v.0 {
        Value::Object(obj) => Ok(obj),
        _ => Err(Error::invalid("body", "must be a JSON object")),
    }
}

/// A JSON value none of whose objects repeats a key (the key is quoted back only when it is
/// [`quotable`]).
struct Unrepeated(Value);

impl<'de> serde::Deserialize<'de> for Unrepeated {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnrepeatedVisitor).map(Unrepeated)
    }
}

struct UnrepeatedVisitor;

impl<'de> serde::de::Visitor<'de> for UnrepeatedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unrepeated(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unrepeated(v) = map.next_value()?;
            if obj.contains_key(&key) {
                return Err(serde::de::Error::custom(if quotable(&key) {
                    format!("an object repeats the field {key}")
                } else {
                    "an object repeats a field".to_owned()
                }));
            }
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

/// Whether a client's JSON key may be quoted back in a message: ASCII letters only, at most
/// 40 (a field name; never a number or other text a client may have put there).
fn quotable(key: &str) -> bool {
    !key.is_empty() && key.len() <= 40 && key.bytes().all(|b| b.is_ascii_alphabetic())
}

/// How the refusal of a member that is not a field begins: its name is the client's own
/// spelling, never mapped to this API's (a snake-case client's `hotzone` was named
/// `fraudHotZone`, an allowed field, in the message).
pub(crate) const NOT_A_FIELD: &str = "is not a field of this request";

/// Refuses a key of `obj` outside `allowed`; `at` prefixes the field path in messages.
pub(crate) fn check_fields(
    obj: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), Error> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            let field = if quotable(k) {
                format!("{at}{k}")
            } else {
                format!("{at}<field>")
            };
            return Err(Error::invalid(
                field,
                format!("{NOT_A_FIELD} (allowed: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The fields of a check (or of a subscription's `subscriptionDetail`, `with_as_of = false`).
pub(crate) fn request_of(
    obj: &Map<String, Value>,
    max_look_back_days: u16,
    with_as_of: bool,
) -> Result<pb::CheckRequest, Error> {
    let phone_number = string(obj, "phoneNumber", "phone_number")?.unwrap_or_default();
    // A value the proto's `uint32` holds is carried, and judged against the server's cap by
    // the model; 0 (the proto's "not given"), a negative or a larger one is refused here,
    // with the model's message.
    let look_back_days = match integer(obj, "lookBackDays", "look_back_days")? {
        None => 0, // the model's "is required"
        Some(n) => match u32::try_from(n) {
            Ok(n) if n > 0 => n,
            _ => u32::from(look_back_days_in_range(n, max_look_back_days)?),
        },
    };
    let threshold_ratio = match member(obj, "thresholdRatio") {
        None => return Err(Error::invalid("threshold_ratio", "is required")),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| Error::invalid("threshold_ratio", "must be a number"))?,
    };
    let method = match string(obj, "method", "method")?.as_deref() {
        None => pb::Method::Unspecified,
        Some("SHARE") => pb::Method::Share,
        Some("SPIKE") => pb::Method::Spike,
        Some(_) => return Err(Error::invalid("method", "must be one of SHARE, SPIKE")),
    };
    let hotzone = match member(obj, "fraudHotZone") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let items = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| Error::invalid("hotzone", "must be an array of strings"))?;
            if items.is_empty() {
                // Given but empty: the model's rule (proto3 would read it as "not given").
                Hotzone::parse_items("hotzone", &items)?;
            }
            items
        }
        Some(_) => return Err(Error::invalid("hotzone", "must be an array of strings")),
    };
    let hotzone_name = string(obj, "hotzoneName", "hotzone_name")?.unwrap_or_default();
    let check_type = match string(obj, "checkType", "check_type")?.as_deref() {
        None => pb::CheckType::Unspecified,
        Some("CALL") => pb::CheckType::Call,
        Some("SMS") => pb::CheckType::Sms,
        Some("ALL") => pb::CheckType::All,
        Some(_) => {
            return Err(Error::invalid(
                "check_type",
                "must be one of CALL, SMS, ALL",
            ));
        }
    };
    let check_target = match string(obj, "checkTarget", "check_target")?.as_deref() {
        None => pb::CheckTarget::Unspecified,
        Some("INCOMING") => pb::CheckTarget::Incoming,
        Some("OUTGOING") => pb::CheckTarget::Outgoing,
        Some("ALL") => pb::CheckTarget::All,
        Some(_) => {
            return Err(Error::invalid(
                "check_target",
                "must be one of INCOMING, OUTGOING, ALL",
            ));
        }
    };
    let min_events = match integer(obj, "minEvents", "min_events")? {
        None => 0, // the default
        Some(n) => min_events_in_range(n)?,
    };
    let as_of = if with_as_of {
        string(obj, "asOf", "as_of")?.unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::CheckRequest {
        phone_number,
        look_back_days,
        method: method as i32,
        threshold_ratio,
        hotzone,
        check_type: check_type as i32,
        check_target: check_target as i32,
        min_events,
        as_of,
        hotzone_name,
    })
}

/// The value of member `key` of `obj`; `None` when it is absent or `null`. A member sent as
/// `null` is one not given (Jackson and System.Text.Json write unset optional fields so by
/// default; they were refused as "must be a string"): an optional one takes its default, a
/// required one is "required". Its name is still checked ([`check_fields`]): a misspelt
/// member is refused whatever its value.
pub(crate) fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional string field; `field` is the library's (snake case) name for messages.
pub(crate) fn string(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, Error> {
    match member(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid(field, "must be a string")),
    }
}

/// 2^63 and 2^64 as floats: the bounds of what JSON parsers give as integers.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

/// An optional integer field (a JSON number without a fraction), as its value: a value past
/// 64 bits (which JSON parsers read as the nearest double) is still a whole number, so a range
/// rule judges it and its message shows it (it showed 2^63 - 1 for 2^64 - 1, and "must be
/// an integer" for 2^64).
pub(crate) fn integer(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<i128>, Error> {
    let not_integer = || Error::invalid(field, "must be an integer");
    match member(obj, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(Some(i128::from(i))),
            (None, Some(u), _) => Ok(Some(i128::from(u))),
            // Past 64 bits only (a smaller integer arrives as one; `7.0` is no integer): the
            // whole float the parser made of it (past 2^127 it saturates, still out of every
            // range).
            (None, None, Some(f)) if f.fract() == 0.0 && !(-TWO_63..TWO_64).contains(&f) => {
                Ok(Some(f as i128))
            }
            _ => Err(not_integer()),
        },
        Some(_) => Err(not_integer()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request of a body whose JSON the request carries whole.
    fn carried(body: &[u8]) -> pb::CheckRequest {
        let (r, refusal) = parse_check(body, 90);
        assert!(refusal.is_none(), "{refusal:?}");
        r
    }

    /// The refusal of a body, and whether it stands in the place of the number's.
    fn refusal(body: &[u8]) -> (Error, bool) {
        let r = parse_check(body, 90).1.expect("a refusal");
        (r.error(), r.of_number)
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::InvalidArgument { field, .. } | Error::OutOfRange { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn camel_case_maps_onto_the_proto() {
        let r = carried(
            br#"{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":0.5,
                "method":"SPIKE","fraudHotZone":["NG","+882"],"checkType":"SMS",
                "checkTarget":"INCOMING","minEvents":2,"asOf":"2026-10-30"}"#,
        );
        assert_eq!(r.phone_number, "+886912345001");
        assert_eq!(r.look_back_days, 7);
        assert_eq!(r.method, pb::Method::Spike as i32);
        assert_eq!(r.hotzone, ["NG", "+882"]);
        assert_eq!(r.check_type, pb::CheckType::Sms as i32);
        assert_eq!(r.check_target, pb::CheckTarget::Incoming as i32);
        assert_eq!(r.min_events, 2);
        assert_eq!(r.as_of, "2026-10-30");
    }

    #[test]
    fn a_ratio_is_the_double_nearest_its_digits() {
        // Without serde_json's float_roundtrip these were one ULP off (0.95, 1.0): REST
        // answered another double's verdict than gRPC.
        for text in [
            "0.9500000000000001",
            "0.9999999999999999",
            "1.0000000000000002",
            "0.30000000000000004",
            "2.2250738585072014e-308",
        ] {
            let body = format!(
                r#"{{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":{text}}}"#
            );
            let r = carried(body.as_bytes());
            assert_eq!(
                r.threshold_ratio.to_bits(),
                text.parse::<f64>().unwrap().to_bits(),
                "{text}"
            );
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (body, field) in [
            (
                r#"{"phoneNumber":5,"lookBackDays":7,"thresholdRatio":0.5}"#,
                "phone_number",
            ),
            (
                r#"{"lookBackDays":"7","thresholdRatio":0.5}"#,
                "look_back_days",
            ),
            (
                r#"{"lookBackDays":7.5,"thresholdRatio":0.5}"#,
                "look_back_days",
            ),
            (
                r#"{"lookBackDays":0,"thresholdRatio":0.5}"#,
                "look_back_days",
            ),
            (r#"{"lookBackDays":7}"#, "threshold_ratio"),
            (
                r#"{"lookBackDays":7,"thresholdRatio":"x"}"#,
                "threshold_ratio",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"method":"share"}"#,
                "method",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"fraudHotZone":"NG"}"#,
                "hotzone",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"fraudHotZone":[]}"#,
                "hotzone",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"fraudHotZone":[1]}"#,
                "hotzone",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"minEvents":-1}"#,
                "min_events",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"extra":1}"#,
                "extra",
            ),
            (
                r#"{"lookBackDays":7,"thresholdRatio":0.5,"+886912345001":1}"#,
                "<field>",
            ),
            (r#"{"lookBackDays":7,"#, "body"),
            (r#"[1]"#, "body"),
        ] {
            let (e, of_number) = refusal(body.as_bytes());
            assert!(!e.to_string().contains("886912345001"), "{e}");
            let field_of_e = field_of(e);
            // The body's refusals and the number's stand where the number's would.
            let number_stage = ["phone_number", "body", "extra", "<field>"];
            assert_eq!(of_number, number_stage.contains(&field), "{body}");
            assert_eq!(field_of_e, field, "{body}");
        }
    }

    #[test]
    fn a_repeated_field_is_refused_at_any_depth_and_big_integers_keep_their_value() {
        // A field name is named; any other key (a number put there) is not quoted back.
        for (body, said) in [
            (
                r#"{"phoneNumber":"+886912345001","phoneNumber":"+886912345002","lookBackDays":7,"thresholdRatio":0.5}"#,
                "repeats the field phoneNumber at line 1, column 60",
            ),
            (r#"{"a":{"b":1,"b":2}}"#, "repeats the field b at"),
            (r#"{"a":[{"b":1,"b":1}]}"#, "repeats the field b at"),
            (
                r#"{"+886912345001":1,"+886912345001":2}"#,
                "repeats a field at",
            ),
        ] {
            let e = json_object(body.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(said), "{body}: {e}");
            assert!(!e.contains("886912345"), "{e}");
        }
        for body in [
            r#"{"thresholdRatio":1e400}"#.to_owned(),
            format!(r#"{{"lookBackDays":{}}}"#, "9".repeat(401)),
        ] {
            let e = json_object(body.as_bytes()).unwrap_err().to_string();
            assert!(
                e.contains("a number beyond the range of a 64-bit float at line 1"),
                "{e}"
            );
        }
        let obj =
            json_object(br#"{"a":{"b":[1,2.5,null,true,"x",18446744073709551615]}}"#).unwrap();
        assert_eq!(obj["a"]["b"][5].as_u64(), Some(u64::MAX));
        // Past 64 bits, a whole number is still judged by its value (the nearest double's,
        // as JSON parsers read it); a number of 5 digits or more is not shown (it may be a
        // phone number).
        for (text, shown) in [
            (
                "18446744073709551615",
                "got a number of 20 digits (not shown",
            ),
            (
                "18446744073709551616",
                "got a number of 20 digits (not shown",
            ),
            (
                "-18446744073709551616",
                "got a number of 20 digits (not shown",
            ),
            ("886912345678", "got a number of 12 digits (not shown"),
        ] {
            let body = format!(
                r#"{{"phoneNumber":"+886912345001","lookBackDays":{text},"thresholdRatio":0.5}}"#
            );
            let (e, _) = refusal(body.as_bytes());
            assert!(e.to_string().contains(shown), "{text}: {e}");
        }
        for number in ["7.5", "7.0", "1e1", "-0.0"] {
            let body = format!(r#"{{"lookBackDays":{number},"thresholdRatio":0.5}}"#);
            let (e, _) = refusal(body.as_bytes());
            assert!(
                e.to_string().contains("must be an integer"),
                "{number}: {e}"
            );
        }
    }

    /// A `null` member is one not given, at any depth: an optional field so sent is its
    /// default, a required one is "required"; a field repeated is still refused, null or not.
    #[test]
    fn null_members_are_members_not_given() {
        let plain =
            carried(br#"{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":0.5}"#);
        let nulls = carried(
            br#"{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":0.5,
                "method":null,"fraudHotZone":null,"hotzoneName":null,"checkType":null,
                "checkTarget":null,"minEvents":null,"asOf":null}"#,
        );
        assert_eq!(nulls, plain);
        let (e, _) =
            refusal(br#"{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":null}"#);
        assert!(e.to_string().contains("is required"), "{e}");
        assert_eq!(field_of(e), "threshold_ratio");
        // A member in the library's spelling is named as sent, not in this API's.
        let (e, _) = refusal(br#"{"lookBackDays":7,"thresholdRatio":0.5,"hotzone":["NG"]}"#);
        assert!(e.to_string().contains("hotzone is not a field"), "{e}");
        // A misspelt member is refused, null or not.
        let (e, _) = refusal(br#"{"lookBackDays":7,"thresholdRatio":0.5,"fraudHotzone":null}"#);
        assert_eq!(field_of(e), "fraudHotzone");
        let e = json_object(br#"{"method":null,"method":"SHARE"}"#).unwrap_err();
        assert!(e.to_string().contains("repeats the field method"), "{e}");
    }

    #[test]
    fn every_value_the_proto_holds_is_carried_for_the_handler_to_judge() {
        // Above the server's cap (90 here) but a `uint32`: the handler judges it, after the
        // number, as it judges a gRPC request's.
        let r = carried(br#"{"phoneNumber":"0912345678","lookBackDays":500,"thresholdRatio":0.5}"#);
        assert_eq!(
            (r.look_back_days, r.phone_number.as_str()),
            (500, "0912345678")
        );
        let r =
            carried(br#"{"lookBackDays":4294967295,"thresholdRatio":0.5,"minEvents":4294967295}"#);
        assert_eq!((r.look_back_days, r.min_events), (u32::MAX, u32::MAX));
        // What a `uint32` cannot hold (or holds as "not given") is refused with the model's
        // rule, the number carried for the handler to judge first.
        for (body, field) in [
            (
                r#"{"phoneNumber":"+886912345001","lookBackDays":-1,"thresholdRatio":0.5}"#,
                "look_back_days",
            ),
            (
                r#"{"phoneNumber":"+886912345001","lookBackDays":4294967296,"thresholdRatio":0.5}"#,
                "look_back_days",
            ),
            (
                r#"{"phoneNumber":"+886912345001","lookBackDays":7,"thresholdRatio":0.5,"minEvents":0}"#,
                "min_events",
            ),
        ] {
            let (req, r) = parse_check(body.as_bytes(), 90);
            let r = r.expect("a refusal");
            assert!(!r.of_number && r.out_of_range, "{body}");
            assert_eq!(field_of(r.error()), field, "{body}");
            assert_eq!(req.phone_number, "+886912345001");
        }
    }
}
