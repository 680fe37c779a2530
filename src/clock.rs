//! "Today" in the engine's time zone: the only place in the crate that reads the system clock.

use chrono::NaiveDate;
use chrono_tz::Tz;

/// Today's date in `tz`.
pub fn today(tz: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}
