//! Domain types shared by every entry point: numbers, regions, hotzones, check parameters.
//!
//! Nothing here does IO, reads the clock or knows about Arrow, tokio or clap.
//! [`event`] is what a row becomes: an [`Event`] (subscriber, instant, flavor, counterparty). The CLI flags and
//! the gRPC request are both validated through [`check::CheckParams::new`], so the rules and
//! their error messages exist once.

pub mod check;
pub mod event;
pub mod hotzone;
pub mod national;
pub mod phone;
pub mod region;
pub mod shown;

pub use check::{CheckParams, CheckTarget, CheckType, Flavor, Method, RawCheck};
pub use event::{Counterparty, Event};
pub use hotzone::{Hotzone, HotzoneEntry};
pub use phone::Msisdn;
pub use region::Region;
