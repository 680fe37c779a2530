//! The detection kernel (REFERENCE.md §5): pure, deterministic, no IO, no clock, no async.
//!
//! A scan is a **map** and a **verdict** (ARCHITECTURE.md):
//! - [`calendar::Window`] turns instants into day indices of the window W in the engine's zone;
//! - [`partial::Partial`] is the map: `(subscriber, day) -> (hot, total)` for selected events,
//!   built per input chunk; partials from different chunks add up ([`partial::Partial::merge`],
//!   or [`partial::verdicts_of_sum`], which evaluates the sum without building it);
//! - [`rules::evaluate`] is the verdict: the REFERENCE.md §5 expressions over at most
//!   `look_back_days` day counts, the only copy of those formulas in the crate.
//!
//! The serving index (the `hotzone` crate's `index`) produces the same day counts from its own layout and
//! calls the same [`rules::evaluate`].

pub mod calendar;
pub mod classify;
pub mod partial;
pub mod rules;

pub use calendar::Window;
pub use partial::{Exchange, Partial};
pub use rules::{DayCounts, Rule, ScanRow, Verdict, evaluate};
