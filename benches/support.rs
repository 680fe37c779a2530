//! Seeded synthetic events shared by the micro-benches (no extra dependency): 1M events over
//! 20k subscribers and 30 days, 3 % withheld, 5 % with one of four hotzone numbers.

use chrono::NaiveDate;

use hotzone::ingest::{Counterparty, Event};
use hotzone::model::Msisdn;
use hotzone::model::check::flavor;

/// Subscribers in the synthetic set: `+886900000000 ..`.
pub(crate) const SUBSCRIBERS: u64 = 20_000;
/// Events in the synthetic set.
pub(crate) const EVENTS: usize = 1_000_000;
const DAY_MS: i64 = 86_400_000;

/// SplitMix64: a tiny seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The i-th synthetic subscriber.
pub(crate) fn subscriber(i: u64) -> Msisdn {
    Msisdn::from_value(886_900_000_000 + i % SUBSCRIBERS).expect("a valid number")
}

/// The synthetic events of the 30 days ending with `last` (UTC days), seed 42.
pub(crate) fn events(last: NaiveDate) -> Vec<Event> {
    let mut rng = Rng(42);
    let end = last
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
        + DAY_MS;
    let foreign = [
        2_348_021_234_567u64,
        18_762_101_234,
        85_512_345_678,
        8_821_612_345_678,
    ];
    let number = |v: u64| Msisdn::from_value(v).expect("a valid number");
    (0..EVENTS)
        .map(|_| {
            let r = rng.next();
            let counterparty = match (r >> 20) % 100 {
                0..=2 => Counterparty::Unknown,
                3..=7 => Counterparty::Number(number(foreign[((r >> 30) % 4) as usize])),
                _ => Counterparty::Number(number(886_900_000_000 + (r >> 24) % 1_000_000)),
            };
            Event {
                subscriber: subscriber(r),
                time_ms: end - 1 - ((r >> 8) % (30 * DAY_MS as u64)) as i64,
                flavor: flavor(r & 1 == 1, r & 2 == 2),
                counterparty,
            }
        })
        .collect()
}
