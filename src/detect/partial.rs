//! The map half of a scan: `(subscriber, day of W) -> (hot, total)`, mergeable.
//!
//! Memory grows with subscribers × days of W (dense per subscriber, 8 bytes a day), never with
//! events. Partials built from different files or row groups add up with [`Partial::merge`],
//! which is what lets a scan run in parallel, incrementally, or on another engine's shuffle.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::detect::rules::{DayCounts, Rule, Verdict, evaluate};
use crate::model::phone::Msisdn;

/// Day counts per subscriber for the `days` days of a window.
#[derive(Clone, Debug, Default)]
pub struct Partial {
    days: usize,
    slots: FxHashMap<Msisdn, u32>,
    subs: Vec<Msisdn>,
    counts: Vec<DayCounts>,
    /// The last subscriber counted and its slot: exports are usually grouped or sorted by
    /// subscriber, so most events skip the hash lookup.
    last: Option<(Msisdn, u32)>,
}

impl Partial {
    /// An empty partial for a window of `days` days.
    pub fn new(days: usize) -> Partial {
        Partial {
            days,
            ..Partial::default()
        }
    }

    /// Days in the window.
    pub fn days(&self) -> usize {
        self.days
    }

    /// Subscribers with at least one counted event.
    pub fn subscribers(&self) -> usize {
        self.subs.len()
    }

    /// Counts one selected event on day `day` (0-based in W).
    #[inline(always)]
    pub fn add(&mut self, sub: Msisdn, day: u16, hot: bool) {
        self.add_counts(
            sub,
            day,
            DayCounts {
                hot: u32::from(hot),
                total: 1,
            },
        );
    }

    /// Adds counts for one (subscriber, day).
    #[inline(always)]
    pub fn add_counts(&mut self, sub: Msisdn, day: u16, c: DayCounts) {
        let slot = match self.last {
            Some((s, slot)) if s == sub => slot,
            _ => self.slot_of(sub),
        };
        self.counts[slot as usize * self.days + usize::from(day)].add(c);
    }

    /// The slot of a subscriber other than the last one (a new slot when it has none).
    #[inline(never)]
    fn slot_of(&mut self, sub: Msisdn) -> u32 {
        let days = self.days;
        let slot = *self.slots.entry(sub).or_insert_with(|| {
            self.subs.push(sub);
            self.counts
                .resize(self.counts.len() + days, DayCounts::default());
            (self.subs.len() - 1) as u32
        });
        self.last = Some((sub, slot));
        slot
    }

    /// The counts of one subscriber (dense, one entry per day of W).
    pub fn get(&self, sub: Msisdn) -> Option<&[DayCounts]> {
        let s = *self.slots.get(&sub)? as usize;
        Some(&self.counts[s * self.days..(s + 1) * self.days])
    }

    /// Adds `other` into `self`. Both must cover the same window.
    pub fn merge(mut self, mut other: Partial) -> Partial {
        assert_eq!(self.days, other.days, "partials of different windows");
        if other.subs.len() > self.subs.len() {
            std::mem::swap(&mut self, &mut other);
        }
        for (i, sub) in other.subs.iter().enumerate() {
            for (d, c) in other.counts[i * other.days..(i + 1) * other.days]
                .iter()
                .enumerate()
            {
                if c.total > 0 {
                    self.add_counts(*sub, d as u16, *c);
                }
            }
        }
        self
    }

    /// Every subscriber with its dense day counts, sorted by subscriber.
    pub fn sorted(&self) -> Vec<(Msisdn, &[DayCounts])> {
        let mut order: Vec<u32> = (0..self.subs.len() as u32).collect();
        order.par_sort_unstable_by_key(|&i| self.subs[i as usize]);
        order
            .into_iter()
            .map(|i| {
                let s = i as usize;
                (
                    self.subs[s],
                    &self.counts[s * self.days..(s + 1) * self.days],
                )
            })
            .collect()
    }

    /// The verdict half: SPEC §5 per subscriber, in parallel, sorted by subscriber.
    /// Only subscribers with at least one selected event in W appear.
    pub fn verdicts(&self, rule: Rule) -> Vec<(Msisdn, Verdict)> {
        self.sorted()
            .into_par_iter()
            .filter(|(_, days)| days.iter().any(|c| c.total > 0))
            .map(|(sub, days)| (sub, verdict_of(days, rule)))
            .collect()
    }
}

/// SPEC §5 over one subscriber's dense day counts.
pub fn verdict_of(days: &[DayCounts], rule: Rule) -> Verdict {
    evaluate(
        days.iter()
            .enumerate()
            .filter(|(_, c)| c.total > 0)
            .map(|(d, c)| (d as u16, *c)),
        rule,
    )
}
