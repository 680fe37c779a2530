//! The one table from [`crate::Error`] to a gRPC [`Status`] (REFERENCE.md §8), and the
//! `x-correlator` header.
//!
//! A status carries the gRPC code, a message that names the field and the rule, and a
//! `google.rpc.ErrorInfo` detail whose `reason` is the CAMARA code (domain `hotzone`,
//! metadata `field` when there is one). Library messages never contain a phone number, so
//! they can go to remote clients; internal errors (file paths, bugs) are logged with the
//! correlator and the client only learns that something internal failed.

use std::collections::HashMap;

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// The request and response header carrying the caller's correlation id.
pub const CORRELATOR_HEADER: &str = "x-correlator";

/// The `domain` of every ErrorInfo this service sends.
pub const ERROR_DOMAIN: &str = "hotzone";

/// Longest correlator accepted (CAMARA: `^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$`).
const MAX_CORRELATOR_LEN: usize = 256;

/// A status with the CAMARA `reason` as an ErrorInfo detail.
pub fn status(code: Code, reason: &str, message: impl Into<String>, field: Option<&str>) -> Status {
    let mut metadata = HashMap::new();
    if let Some(f) = field {
        metadata.insert("field".to_owned(), f.to_owned());
    }
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

/// REFERENCE.md §8's table. `correlator` is only used to log internal errors.
pub fn to_status(e: &Error, correlator: &str) -> Status {
    match e {
        Error::InvalidArgument { field, .. } => status(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            e.to_string(),
            Some(field),
        ),
        Error::OutOfRange { field, .. } => {
            status(Code::OutOfRange, "OUT_OF_RANGE", e.to_string(), Some(field))
        }
        Error::NotFound => status(
            Code::NotFound,
            "IDENTIFIER_NOT_FOUND",
            e.to_string(),
            Some("phone_number"),
        ),
        Error::Unavailable(_) => status(Code::Unavailable, "UNAVAILABLE", e.to_string(), None),
        other => {
            tracing::error!(correlator, error = %other, "internal error");
            status(
                Code::Internal,
                "INTERNAL",
                "internal error; see the server log",
                None,
            )
        }
    }
}

/// Longest part of a decoder's own words a status carries (they name protobuf fields and
/// wire types, never values, but their length is not ours to trust).
const MAX_DETAIL_CHARS: usize = 160;

/// INVALID_ARGUMENT for a request body that is not a well-formed message of the call: bytes
/// that are not the protobuf message (bad wire type, truncated varint, invalid UTF-8), a
/// frame cut short, the compressed flag without a `grpc-encoding`, a unary call with no
/// message. `detail` is the decoder's description.
pub fn malformed(detail: &str) -> Status {
    let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    status(
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        format!(
            "invalid argument: the request body is not a well-formed message of this call ({detail})"
        ),
        None,
    )
}

/// OUT_OF_RANGE for a message with more top-level fields than the decoder takes (see
/// [`super::codec`]); an `Ingest` client splits its records over more messages.
pub fn too_many_fields(max: usize) -> Status {
    status(
        Code::OutOfRange,
        "OUT_OF_RANGE",
        format!(
            "out of range: a message may hold at most {max} fields (Ingest: records per message); send more, smaller messages"
        ),
        None,
    )
}

/// How tonic's refusal of a compressed message that inflates past the limit begins.
const INFLATED_TOO_FAR: &str = "Error decompressing: size limit";

/// The gRPC header naming the request encodings a server takes.
const ACCEPT_ENCODING: &str = "grpc-accept-encoding";

/// A status raised while reading the client's request body, as the client should see it.
/// tonic answers INTERNAL for a frame cut short, the compressed flag without an encoding, or
/// a missing unary message; those are the client's mistakes (INTERNAL is reserved for this
/// server's own faults), so they become [`malformed`]. Other codes pass unchanged.
pub fn wire_status(s: Status) -> Status {
    if s.code() == Code::Internal {
        return malformed(s.message());
    }
    if s.get_details_error_info().is_some() {
        return s;
    }
    // The transport's own statuses (a message over `max_request_bytes`, a `grpc-encoding`
    // this server does not take) carry no ErrorInfo; every refusal of this server does, so
    // they get one, by their code (and are counted under it, not as `OTHER`).
    let detail: String = s.message().chars().take(MAX_DETAIL_CHARS).collect();
    // A compressed message that inflates past the limit is as oversized as an uncompressed
    // one (tonic says RESOURCE_EXHAUSTED there, OUT_OF_RANGE here). Other RESOURCE_EXHAUSTED
    // statuses of the transport (h2's flood protection) stay as they are.
    let code = match s.code() {
        Code::ResourceExhausted if s.message().starts_with(INFLATED_TOO_FAR) => Code::OutOfRange,
        c => c,
    };
    let name = crate::service::metrics::code_name(code);
    let message = match code {
        Code::OutOfRange => format!(
            "out of range: the message is larger than this server takes (limits.max_request_bytes; {detail})"
        ),
        _ => format!("{}: {detail}", name.to_ascii_lowercase().replace('_', " ")),
    };
    let mut out = status(code, name, message, None);
    // The encodings taken, which tonic names on its refusal of another one: a client that
    // compresses learns from it what to send (the gRPC compression spec's fallback).
    if let Some(v) = s.metadata().get(ACCEPT_ENCODING) {
        out.metadata_mut().insert(ACCEPT_ENCODING, v.clone());
    }
    out
}

/// Why a subscription request is refused, when CAMARA has a code of its own for it
/// (`CreateSubscriptionBadRequest400` and `CreateSubscriptionUnprocessableEntity422` of
/// CAMARA_event_common.yaml); the other refusals of a subscription are INVALID_ARGUMENT or
/// OUT_OF_RANGE, as a check's. Only the REST port takes subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionRefusal {
    /// `protocol` is not HTTP: 400 INVALID_PROTOCOL.
    Protocol,
    /// `sinkCredential.credentialType` is not ACCESSTOKEN: 400 INVALID_CREDENTIAL.
    Credential,
    /// `sinkCredential.accessTokenType` is not bearer: 400 INVALID_TOKEN.
    Token,
    /// `sink` is not a URL this server sends to (not https without `allow_insecure_sinks`,
    /// a loopback, private or reserved address, no valid host): 400 INVALID_SINK.
    Sink,
    /// `types` names more than one event type: 422 MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED.
    MultiEvent,
    /// `sinkCredential.credentialType` is PRIVATE_KEY_JWT, for which this server has no
    /// pre-shared configuration (none can be given to it): 422
    /// PRIVATE_KEY_JWT_NOT_CONFIGURED.
    PrivateKeyJwt,
}

/// The reason of [`SubscriptionRefusal::MultiEvent`], answered 422 on REST.
pub const MULTIEVENT: &str = "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED";

/// The reason of [`SubscriptionRefusal::PrivateKeyJwt`], answered 422 on REST.
pub const PRIVATE_KEY_JWT_NOT_CONFIGURED: &str = "PRIVATE_KEY_JWT_NOT_CONFIGURED";

impl SubscriptionRefusal {
    /// The CAMARA code.
    pub fn code(self) -> &'static str {
        match self {
            SubscriptionRefusal::Protocol => "INVALID_PROTOCOL",
            SubscriptionRefusal::Credential => "INVALID_CREDENTIAL",
            SubscriptionRefusal::Token => "INVALID_TOKEN",
            SubscriptionRefusal::Sink => "INVALID_SINK",
            SubscriptionRefusal::MultiEvent => MULTIEVENT,
            SubscriptionRefusal::PrivateKeyJwt => PRIVATE_KEY_JWT_NOT_CONFIGURED,
        }
    }

    /// The refusal of `field`, which broke `rule` (the message reads as an
    /// INVALID_ARGUMENT's: `invalid argument: <field> <rule>`).
    pub fn status(self, field: &str, rule: impl std::fmt::Display) -> Status {
        status(
            Code::InvalidArgument,
            self.code(),
            format!("invalid argument: {field} {rule}"),
            Some(field),
        )
    }
}

/// The HTTP status of a refusal on the REST port: [`http_status`] of its gRPC code, but 422
/// for [`MULTIEVENT`] and [`PRIVATE_KEY_JWT_NOT_CONFIGURED`] (INVALID_ARGUMENT to gRPC, which
/// has no such call).
pub fn rest_http_status(s: &Status) -> u16 {
    if s.get_details_error_info()
        .is_some_and(|i| i.reason == MULTIEVENT || i.reason == PRIVATE_KEY_JWT_NOT_CONFIGURED)
    {
        return 422;
    }
    http_status(s.code())
}

/// The CAMARA code of a refusal on the REST port: [`camara_code`], but `TIMEOUT` for
/// DEADLINE_EXCEEDED (CAMARA's `Generic504` code; the gRPC port keeps DEADLINE_EXCEEDED,
/// the code gRPC clients know).
pub fn rest_code(s: &Status) -> String {
    match camara_code(s) {
        c if c == "DEADLINE_EXCEEDED" => "TIMEOUT".to_owned(),
        c => c,
    }
}

/// The HTTP status of a gRPC code, for the REST adapter (CAMARA pairs each of its codes with
/// one HTTP status: 400 INVALID_ARGUMENT / OUT_OF_RANGE, 401, 403, 404 IDENTIFIER_NOT_FOUND,
/// 429 TOO_MANY_REQUESTS, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED (`TIMEOUT` on REST, [`rest_code`]), 500 otherwise;
/// [`rest_http_status`] adds REST's 422).
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        _ => 500,
    }
}

/// The CAMARA code of a status: its ErrorInfo `reason`, or for statuses made without one
/// (the transport's), the gRPC code's name.
pub fn camara_code(s: &Status) -> String {
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_else(|| crate::service::metrics::code_name(s.code()).to_owned())
}

/// The request's `x-correlator`: `Ok(None)` when absent, an INVALID_ARGUMENT when it breaks
/// CAMARA's pattern (it goes into logs and must not carry arbitrary text).
pub fn correlator(md: &MetadataMap) -> Result<Option<AsciiMetadataValue>, Status> {
    let Some(v) = md.get(CORRELATOR_HEADER) else {
        return Ok(None);
    };
    let ok = v.to_str().is_ok_and(|s| {
        s.len() <= MAX_CORRELATOR_LEN
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_:;./<>{}".contains(&c))
    });
    if ok {
        Ok(Some(v.clone()))
    } else {
        Err(status(
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            format!(
                "invalid argument: {CORRELATOR_HEADER} must match ^[a-zA-Z0-9-_:;.\\/<>{{}}]{{0,{MAX_CORRELATOR_LEN}}}$"
            ),
            Some(CORRELATOR_HEADER),
        ))
    }
}

/// What the logs write for each digit of a run that may be a phone number.
pub const CORRELATOR_DIGIT_HIDDEN: char = '#';

/// The correlator as log text (empty when absent). A run of digits, with the pattern's
/// punctuation between them (`886912345679`, `0912-345-678`, `{886:912:345:679}`,
/// `tel:886912345679`, `n0912.345.678`, `886912345679-20261207`), that holds 7 digits or more
/// may hold a phone number a caller put there (adversarial passes logged such ones, with and
/// without a letter before them, and joined to a timestamp): the logs and the audit file
/// write each of its digits as [`CORRELATOR_DIGIT_HIDDEN`] and keep the rest, so
/// `req-886912345679` is logged as `req-############`. A short run (`req-42`) is kept. The
/// reply still echoes the correlator as sent.
pub fn correlator_text(c: Option<&AsciiMetadataValue>) -> std::borrow::Cow<'_, str> {
    let text = c.and_then(|v| v.to_str().ok()).unwrap_or("");
    hidden_digits(text)
}

/// `text` with each run of 7 digits or more (punctuation between them, no letter; digits and
/// letters of any script) written as [`CORRELATOR_DIGIT_HIDDEN`] each: what the service logs
/// of caller text and of data files' names (an export may be named by the subscriber's
/// number).
pub fn hidden_digits(text: &str) -> std::borrow::Cow<'_, str> {
    // The spans between letters (of any script) holding 7 digits or more (of any script:
    // `８８６…`, `٠٩١٢…`), as byte ranges.
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    let (mut start, mut digits) = (0, 0);
    for (i, c) in text.char_indices() {
        if c.is_alphabetic() {
            if digits >= 7 {
                hidden.push((start, i));
            }
            (start, digits) = (i + c.len_utf8(), 0);
        } else if c.is_numeric() {
            digits += 1;
        }
    }
    if digits >= 7 {
        hidden.push((start, text.len()));
    }
    if hidden.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in hidden {
        out.push_str(&text[at..start]);
        out.extend(text[start..end].chars().map(|c| match c.is_numeric() {
            true => CORRELATOR_DIGIT_HIDDEN,
            false => c,
        }));
        at = end;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

/// Echoes the correlator into response (or error) metadata.
pub fn echo(md: &mut MetadataMap, c: Option<&AsciiMetadataValue>) {
    if let Some(v) = c {
        md.insert(CORRELATOR_HEADER, v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correlator_that_may_be_a_number_is_not_logged() {
        let text = |s: &str| correlator_text(Some(&s.parse().unwrap())).into_owned();
        for (sent, logged) in [
            ("886912345679", "############"),
            ("0912-345-678", "####-###-###"),
            ("2348021234567", "#############"),
            ("1234567", "#######"),
            ("0912_345_678", "####_###_###"),
            ("886:912:345:679", "###:###:###:###"),
            ("{886912345679}", "{############}"),
            ("tel:886912345679", "tel:############"),
            ("n886912345679", "n############"),
            ("req-0912.345.678-x", "req-####.###.###-x"),
            ("a886912345679b-886912345679", "a############b-############"),
            ("886912345679-20261207", "############-########"),
            ("0912345678:1765100000", "##########:##########"),
            ("9999999999999999", "################"),
        ] {
            assert_eq!(text(sent), logged, "{sent}");
        }
        for kept in [
            "req-42",
            "123456",
            "7f3a9c2e-1d4b-4e8f-9a6b-2c5d8e1f0a3b",
            "a123b456c789",
        ] {
            assert_eq!(text(kept), kept);
        }
        assert_eq!(correlator_text(None), "");
    }

    /// The rule said plainly: split at letters; a piece holding 7 digits or more has each
    /// digit written as `#`.
    fn naive_hidden(text: &str) -> String {
        let mut out = String::new();
        for piece in text.split_inclusive(char::is_alphabetic) {
            let digits = piece.chars().filter(|c| c.is_numeric()).count();
            let hide = digits >= 7;
            out.extend(piece.chars().map(|c| match hide && c.is_numeric() {
                true => CORRELATOR_DIGIT_HIDDEN,
                false => c,
            }));
        }
        out
    }

    proptest::proptest! {
        /// Any correlator the pattern takes is logged as the plain rule says.
        #[test]
        fn hidden_runs_follow_the_plain_rule(sent in "[a-c0-9:;./<>{}_-]{0,40}") {
            let logged = correlator_text(Some(&sent.parse().unwrap())).into_owned();
            proptest::prop_assert_eq!(logged, naive_hidden(&sent));
        }

        /// File names too, in any script (full-width and Arabic-Indic digits, accented
        /// letters).
        #[test]
        fn hidden_runs_in_any_script_follow_the_plain_rule(text in "[aé0٠٩８+ /._-]{0,40}") {
            proptest::prop_assert_eq!(hidden_digits(&text).into_owned(), naive_hidden(&text));
        }
    }

    #[test]
    fn codes_and_reasons() {
        for (e, code, reason) in [
            (
                Error::invalid("as_of", "bad"),
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            ),
            (
                Error::out_of_range("look_back_days", "big"),
                Code::OutOfRange,
                "OUT_OF_RANGE",
            ),
            (Error::NotFound, Code::NotFound, "IDENTIFIER_NOT_FOUND"),
            (
                Error::Unavailable("x".into()),
                Code::Unavailable,
                "UNAVAILABLE",
            ),
            (Error::Internal("bug".into()), Code::Internal, "INTERNAL"),
        ] {
            let s = to_status(&e, "c");
            assert_eq!(s.code(), code);
            let info = s.get_details_error_info().unwrap();
            assert_eq!(info.reason, reason);
            assert_eq!(info.domain, ERROR_DOMAIN);
        }
        let s = to_status(&Error::invalid("as_of", "must be a date"), "c");
        assert!(s.message().contains("as_of"));
    }

    #[test]
    fn wire_errors_are_the_clients_mistake_with_a_bounded_message() {
        let s = wire_status(Status::internal("Unexpected EOF decoding stream."));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.get_details_error_info().unwrap().reason,
            "INVALID_ARGUMENT"
        );
        assert!(s.message().contains("Unexpected EOF"), "{}", s.message());
        let long = malformed(&"x".repeat(100_000));
        assert!(long.message().len() < 300);
        let other = wire_status(Status::cancelled("gone"));
        assert_eq!(other.code(), Code::Cancelled);
    }

    #[test]
    fn correlator_pattern() {
        let mut md = MetadataMap::new();
        assert!(correlator(&md).unwrap().is_none());
        md.insert(CORRELATOR_HEADER, "abc-123:x/y".parse().unwrap());
        assert_eq!(
            correlator_text(correlator(&md).unwrap().as_ref()),
            "abc-123:x/y"
        );
        md.insert(CORRELATOR_HEADER, "a b".parse().unwrap());
        assert_eq!(correlator(&md).unwrap_err().code(), Code::InvalidArgument);
    }
}
