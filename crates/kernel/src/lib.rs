//! hotzone's kernel: what a row means and what the rule says, with nothing around it.
//!
//! It holds the parts every entry point shares (the CLI scan, `prepare`, the server's index
//! build and `Ingest`, the Python package, the Spark adapter), in data-flow order:
//! - [`model`]: numbers, regions, hotzones, check parameters (validated once), events;
//! - [`rows`]: rows (an Arrow record batch, or cells a reader found) -> [`model::Event`]s or
//!   counted rejects, REFERENCE.md §2;
//! - [`detect`]: day windows, the mergeable map, REFERENCE.md §5's rule;
//! - [`api`]: the Arrow API: a [`api::Mapper`] fed record batches from any source, its
//!   [`api::State`] (mergeable, as a record batch and back), and verdicts as a record batch;
//! - [`threads`]: where the parallel parts run (the caller's pool, or the caller's thread).
//!
//! What is absent: file reading, the wall clock, async runtimes, network and CLI code. Its
//! dependency tree has no tokio, tonic, prost, rustls or clap (`cargo tree -p hotzone-kernel
//! -e normal`).

pub mod api;
pub mod detect;
pub mod error;
pub mod model;
pub mod rows;
pub mod threads;

pub use error::{Error, Result};
