//! hotzone: tells whether a phone number's call/SMS traffic with fraud-prone regions (a
//! "hotzone") turned abnormal in the last N days, answering `anomaly_detected` and
//! `anomaly_date` only. See `REFERENCE.md` for the contract (inputs, hotzones,
//! parameters, the exact rule, errors), `ARCHITECTURE.md` for the map and `DECISIONS.md` for
//! the reasons behind it.
//!
//! The pipeline, in data-flow order:
//! - [`model`], [`detect`] and the row rules of [`ingest`] come from the `hotzone-kernel`
//!   crate (`crates/kernel`: numbers, regions, hotzones, parameters; rows -> events; day
//!   windows, the mergeable map, REFERENCE.md §5's rule; the Arrow API);
//! - [`ingest`]: Parquet/CSV/IPC files -> normalised events, rejected rows counted;
//! - [`index`]: the serving layout that answers any check for one number;
//! - [`scan`]: ingest -> detect as one batch call; [`output`] writes its rows;
//! - `gen`: seeded synthetic traffic with injected fraud campaigns and ground truth;
//! - [`cli`]: the `hotzone` command's subcommands.

pub mod cli;
pub mod clock;
pub mod config;
pub mod files;
pub mod r#gen;
pub mod index;
pub mod ingest;
pub mod named;
pub mod output;
pub mod scan;
pub mod service;
pub mod staged;

// The kernel crate's modules, at the paths the rest of this crate uses.
pub use hotzone_kernel::{detect, error, model};

pub use error::{Error, Result};
