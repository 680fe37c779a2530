//! hotzone: tells whether a phone number's call/SMS traffic with fraud-prone regions (a
//! "hotzone") turned abnormal in the last N days, answering `anomaly_detected` and
//! `anomaly_date` only. See `REFERENCE.md` for the contract (inputs, hotzones,
//! parameters, the exact rule, errors) and `ARCHITECTURE.md` for the map.
//!
//! The pipeline, in data-flow order:
//! - [`model`]: numbers, regions, hotzones, check parameters (validated once);
//! - [`ingest`]: Parquet/CSV/IPC files -> normalised events, rejected rows counted;
//! - [`detect`]: the kernel: day windows, the mergeable map, REFERENCE.md §5's rules;
//! - [`index`]: the serving layout that answers any check for one number;
//! - [`scan`]: ingest -> detect as one batch call; [`output`] writes its rows;
//! - `gen`: seeded synthetic traffic with injected fraud campaigns and ground truth;
//! - [`cli`]: the `hotzone` command's subcommands.

pub mod cli;
pub mod clock;
pub mod config;
pub mod detect;
pub mod error;
pub mod r#gen;
pub mod index;
pub mod ingest;
pub mod model;
pub mod output;
pub mod scan;
pub mod service;

pub use error::{Error, Result};
