//! Who may ask: bearer tokens checked against the SHA-256 hashes of the config's
//! `[[clients]]`, each with its scopes (`check`, `ingest`).
//!
//! - No `authorization` header, a malformed one, or a token whose hash matches no client:
//!   UNAUTHENTICATED (ErrorInfo `UNAUTHENTICATED`). The message never says which of these it
//!   was beyond "missing" vs "invalid", and never echoes the token.
//! - A known client without the scope of the call: PERMISSION_DENIED (`PERMISSION_DENIED`).
//! - No clients configured: every call is let in as the client `anonymous` (the server then
//!   refuses non-loopback addresses unless `--insecure`, see [`crate::config::check_exposure`]).
//!
//! The presented token is hashed once and compared with *every* configured hash in constant
//! time (no early exit, no data-dependent branch), so timing tells nothing about how close a
//! guess was or which client it resembles. Only hashes live in memory and config.
//!
//! The check runs on the request's headers before its body is read ([`super::guard`]), so an
//! unauthenticated caller cannot make the server buffer anything. Health and reflection need
//! a token only when `policy.health_needs_token` / `policy.reflection_needs_token` say so
//! (any valid token then; by default they stay open: they reveal no subscriber data and
//! probes must work without credentials).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::config::ClientEntry;
use crate::service::status::status;

/// What a call needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `Check`.
    Check,
    /// `Ingest`.
    Ingest,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The configured client id (`anonymous` without authentication).
    pub id: Arc<str>,
    /// Dense index of the client (rate-limit tables are keyed by it).
    pub index: u32,
}

/// The id given to callers when no clients are configured.
pub const ANONYMOUS: &str = "anonymous";

/// The token check.
pub struct Authenticator {
    clients: Vec<(Caller, [u8; 32], bool, bool)>,
    anonymous: Caller,
}

/// Lower-case hex SHA-256 of a token: what `[[clients]].token_sha256` holds.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality of two hashes in time independent of their contents.
fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for i in 0..32 {
        diff |= a[i] ^ b[i];
    }
    std::hint::black_box(diff) == 0
}

impl Authenticator {
    /// From the validated client list; empty = open.
    pub fn new(clients: &[ClientEntry]) -> Authenticator {
        Authenticator {
            clients: clients
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        Caller {
                            id: Arc::from(c.id.as_str()),
                            index: i as u32 + 1,
                        },
                        c.token_sha256,
                        c.check,
                        c.ingest,
                    )
                })
                .collect(),
            anonymous: Caller {
                id: Arc::from(ANONYMOUS),
                index: 0,
            },
        }
    }

    /// Whether tokens are required.
    pub fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// The caller of a request needing `scope`, or the status refusing it.
    pub fn authorize(&self, md: &MetadataMap, scope: Scope) -> Result<Caller, tonic::Status> {
        self.check(md, Some(scope))
    }

    /// The caller of a request any valid token may make (health or reflection when they need
    /// a token), or UNAUTHENTICATED.
    pub fn authenticate(&self, md: &MetadataMap) -> Result<Caller, tonic::Status> {
        self.check(md, None)
    }

    fn check(&self, md: &MetadataMap, scope: Option<Scope>) -> Result<Caller, tonic::Status> {
        if !self.enabled() {
            return Ok(self.anonymous.clone());
        }
        let Some(value) = md.get("authorization") else {
            return Err(unauthenticated(
                "missing credentials: send the header authorization: Bearer <token>",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(unauthenticated(
                "invalid credentials: the authorization header must be Bearer <token>",
            ));
        };
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&(Caller, [u8; 32], bool, bool)> = None;
        for c in &self.clients {
            // Every entry is compared: no early exit.
            if ct_eq(&presented, &c.1) {
                found = Some(c);
            }
        }
        let Some((caller, _, check, ingest)) = found else {
            return Err(unauthenticated("invalid credentials"));
        };
        let Some(scope) = scope else {
            return Ok(caller.clone());
        };
        let allowed = match scope {
            Scope::Check => *check,
            Scope::Ingest => *ingest,
        };
        if !allowed {
            let name = match scope {
                Scope::Check => "check",
                Scope::Ingest => "ingest",
            };
            return Err(status(
                Code::PermissionDenied,
                "PERMISSION_DENIED",
                format!("permission denied: this client lacks the scope {name:?}"),
                None,
            ));
        }
        Ok(caller.clone())
    }
}

fn unauthenticated(message: &str) -> tonic::Status {
    status(Code::Unauthenticated, "UNAUTHENTICATED", message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(v: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", v.parse().unwrap());
        m
    }

    #[test]
    fn tokens_scopes_and_codes() {
        let hash = |t: &str| <[u8; 32]>::try_from(hex::decode(hash_token(t)).unwrap()).unwrap();
        let auth = Authenticator::new(&[
            ClientEntry {
                id: "bank".into(),
                token_sha256: hash("t-bank"),
                check: true,
                ingest: false,
            },
            ClientEntry {
                id: "loader".into(),
                token_sha256: hash("t-loader"),
                check: false,
                ingest: true,
            },
        ]);
        assert_eq!(
            auth.authorize(&md("Bearer t-bank"), Scope::Check)
                .unwrap()
                .id
                .as_ref(),
            "bank"
        );
        assert_eq!(
            auth.authorize(&md("bearer t-loader"), Scope::Ingest)
                .unwrap()
                .index,
            2
        );
        for (m, code) in [
            (MetadataMap::new(), Code::Unauthenticated),
            (md("Bearer nope"), Code::Unauthenticated),
            (md("Basic t-bank"), Code::Unauthenticated),
            (md("Bearer "), Code::Unauthenticated),
            (md("Bearer t-loader"), Code::PermissionDenied),
        ] {
            let e = auth.authorize(&m, Scope::Check).unwrap_err();
            assert_eq!(e.code(), code);
            assert!(!e.message().contains("t-"), "{}", e.message());
        }
        let open = Authenticator::new(&[]);
        assert_eq!(
            open.authorize(&MetadataMap::new(), Scope::Ingest)
                .unwrap()
                .id
                .as_ref(),
            ANONYMOUS
        );
        // Known vector: SHA-256("abc").
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
