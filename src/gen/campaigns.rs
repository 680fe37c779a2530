//! Injected fraud campaigns: a burst of calls and SMS, mostly incoming, from one to three
//! hotzone sources over one to three consecutive days. Every day of a campaign is a
//! ground-truth day of its subscriber.
//!
//! Intensity varies on purpose (a base of 3 to 30 hot events a day, jittered per day, a few
//! days below 3), so that SHARE and SPIKE detect most campaigns but not trivially all: a heavy
//! user's small campaign drowns in ordinary traffic for SHARE, a campaign on the first day of
//! the window is invisible to SPIKE, an expat who calls Nigeria daily hides a Nigerian burst.

use super::population::{Catalog, Draw, Num, Party};

/// Hourly weights of scam traffic over a local day (office hours of a call centre).
pub(crate) const CAMPAIGN_HOURS: [u32; 24] = [
    0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 14, 14, 12, 14, 14, 14, 12, 10, 8, 6, 4, 2, 1, 1,
];

/// One campaign against one subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Campaign {
    /// First day (index in the generated range).
    pub(crate) start: u32,
    /// Number of days (1 to 3, fewer if the range is shorter).
    pub(crate) len: u32,
    /// Base hot events per day.
    base: u32,
    /// Indices of the hotzone sources used (into [`Catalog::hot`]).
    sources: Vec<usize>,
    /// The scammers' own numbers, reused across the campaign.
    scammers: Vec<Num>,
    /// Probability that an event is incoming.
    in_p: f64,
    /// Probability that an event is a call (else an SMS).
    call_p: f64,
}

impl Campaign {
    /// Draws a campaign inside a range of `days` days.
    pub(crate) fn draw(cat: &Catalog, days: u32, rng: &mut impl Draw) -> Self {
        let len = rng.int_in(1, 3).min(days);
        let start = rng.below(u64::from(days - len + 1)) as u32;
        let n_sources = (rng.int_in(1, 3) as usize).min(cat.hot.len());
        let mut sources = Vec::with_capacity(n_sources);
        while sources.len() < n_sources {
            let s = rng.below(cat.hot.len() as u64) as usize;
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
        let scammers = (0..rng.int_in(1, 6))
            .map(|_| {
                let s = sources[rng.below(sources.len() as u64) as usize];
                cat.random_among(&cat.hot[s].templates, rng)
            })
            .collect();
        Self {
            start,
            len,
            base: rng.int_in(3, 30),
            sources,
            scammers,
            in_p: rng.between(0.75, 0.98),
            call_p: rng.between(0.3, 0.9),
        }
    }

    /// Whether day `day` is a campaign day.
    pub(crate) fn covers(&self, day: u32) -> bool {
        (self.start..self.start + self.len).contains(&day)
    }

    /// Hot events on a campaign day (mostly `base` ± 40%, never below 2).
    pub(crate) fn events_on(&self, rng: &mut impl Draw) -> u32 {
        ((f64::from(self.base) * rng.between(0.6, 1.2)).round() as u32).max(2)
    }

    /// Draws one campaign event: (outgoing, sms, counterparty, duration in seconds for calls).
    pub(crate) fn event(
        &self,
        cat: &Catalog,
        rng: &mut impl Draw,
    ) -> (bool, bool, Party, Option<i64>) {
        let out = !rng.chance(self.in_p);
        let sms = !rng.chance(self.call_p);
        let num = if rng.chance(0.6) {
            self.scammers[rng.below(self.scammers.len() as u64) as usize]
        } else {
            let s = self.sources[rng.below(self.sources.len() as u64) as usize];
            cat.random_among(&cat.hot[s].templates, rng)
        };
        let duration = if sms {
            None
        } else if rng.chance(0.35) {
            Some(0)
        } else {
            Some((30f64.ln() + 1.0 * rng.normal()).exp().clamp(1.0, 1800.0) as i64)
        };
        (out, sms, Party::Number(num), duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    #[test]
    fn campaigns_stay_in_range_and_use_hot_numbers() {
        let cat = Catalog::new(&["NG".into(), "JM".into(), "+88216".into()]).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for days in [1u32, 2, 3, 30] {
            for _ in 0..500 {
                let c = Campaign::draw(&cat, days, &mut rng);
                assert!(c.len >= 1 && c.len <= 3 && c.start + c.len <= days);
                assert!((2..=36).contains(&c.events_on(&mut rng)));
                let (_, _, party, _) = c.event(&cat, &mut rng);
                let Party::Number(n) = party else {
                    panic!("campaign party is a number")
                };
                let s = cat.format(n);
                assert!(
                    s.starts_with("+234") || s.starts_with("+1876") || s.starts_with("+88216"),
                    "{s}"
                );
            }
        }
    }
}
