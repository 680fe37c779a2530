//! What a row becomes once interpreted: an [`Event`] with its [`Counterparty`]
//! (REFERENCE.md §2). The detection kernel, the index and every reader share these types.

use crate::model::check::Flavor;
use crate::model::phone::Msisdn;
use crate::model::region::Region;

/// The other party of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counterparty {
    /// Withheld, empty, or not a phone number (`BANK`, `anonymous`): never hot.
    Unknown,
    /// A number; its region is derived from libphonenumber metadata.
    Number(Msisdn),
    /// A number with a `counterparty_region` given by the input (which wins).
    NumberInRegion(Msisdn, Region),
}

/// A normalised event, as the detection kernel and the index consume it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The subscriber whose history this is.
    pub subscriber: Msisdn,
    /// Instant, UTC epoch milliseconds.
    pub time_ms: i64,
    /// Direction and kind bits ([`crate::model::check::flavor`]).
    pub flavor: Flavor,
    /// The other party.
    pub counterparty: Counterparty,
}
