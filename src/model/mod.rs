//! Domain types shared by every entry point: numbers, regions, hotzones, check parameters.
//!
//! Nothing here does IO, reads the clock or knows about Arrow, tokio or clap. The CLI flags and
//! the gRPC request are both validated through [`check::CheckParams::new`], so the rules and
//! their error messages exist once.

pub mod check;
pub mod hotzone;
pub mod phone;
pub mod region;
pub mod shown;

pub use check::{CheckParams, CheckTarget, CheckType, Method, RawCheck};
pub use hotzone::{Hotzone, HotzoneEntry};
pub use phone::Msisdn;
pub use region::Region;
