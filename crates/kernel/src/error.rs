//! The library's error type, sorted by who has to act (`service::status` maps these to gRPC
//! codes, REFERENCE.md §8).
//!
//! User input errors name the field (or the file and row) and the rule, never a phone number
//! value: messages can reach logs and remote clients.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is malformed (pattern, enum, NaN, unknown region).
    #[error("invalid argument: {field} {rule}")]
    InvalidArgument {
        /// The parameter's name.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// A parameter is well-formed but past a limit.
    #[error("out of range: {field} {rule}")]
    OutOfRange {
        /// The parameter's name.
        field: String,
        /// The limit it passed.
        rule: String,
    },
    /// The number has no event at all in the loaded data.
    #[error("phone_number is not known in the loaded data")]
    NotFound,
    /// Data is not loaded yet.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A file could not be opened or read.
    #[error("{}: {cause}", crate::model::shown::shown_path(path))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not a `source()`: a chain printed it twice).
        cause: std::io::Error,
    },
    /// A file could be opened but not decoded (corrupt, wrong format, missing columns).
    #[error("{}: {message}", crate::model::shown::shown_path(path))]
    Read {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A file could not be written (an output, a rejects file, a prepared index, an ingested
    /// segment, the audit log). Its own kind: a failed write is never mistaken for an
    /// unreadable input (the server skips unreadable inputs on reload; it must not skip this).
    #[error("{}: cannot write: {message}", crate::model::shown::shown_path(path))]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed (the OS or the encoder's message).
        message: String,
    },
    /// `--strict`: the first row that cannot be interpreted.
    #[error("{}: row {row}: {reason}", crate::model::shown::shown_path(path))]
    RejectedRow {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is not counted).
        row: u64,
        /// The reason, as counted in the summary.
        reason: String,
    },
    /// A configuration file is invalid.
    #[error("{}: {message}", crate::model::shown::shown_path(path))]
    Config {
        /// The file.
        path: PathBuf,
        /// Every problem found, joined.
        message: String,
    },
    /// A bug: the message says so.
    #[error("internal error (a bug, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// Malformed parameter `field`, breaking `rule`.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::InvalidArgument {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// Parameter `field` past a limit.
    pub fn out_of_range(field: impl Into<String>, rule: impl Into<String>) -> Error {
        Error::OutOfRange {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// IO error on `path`.
    pub fn io(path: &Path, cause: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            cause,
        }
    }

    /// `path` could not be written.
    pub fn write(path: &Path, cause: impl std::fmt::Display) -> Error {
        Error::Write {
            path: path.to_owned(),
            message: cause.to_string(),
        }
    }

    /// Undecodable `path`.
    pub fn read(path: &Path, message: impl std::fmt::Display) -> Error {
        Error::Read {
            path: path.to_owned(),
            message: message.to_string(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
