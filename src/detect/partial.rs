//! The map half of a scan: `(subscriber, day of W) -> (hot, total)`, mergeable.
//!
//! Memory grows with subscribers × days of W (dense per subscriber, 8 bytes a day), never with
//! events. Partials built from different files or row groups add up with [`Partial::merge`],
//! which is what lets a scan run in parallel, incrementally, or on another engine's shuffle.
//!
//! Exports are usually grouped, often sorted, by subscriber. While subscribers arrive in
//! increasing order a partial keeps them sorted and needs no hash table (a new subscriber is
//! appended; a random insert into a table of a million subscribers is a few cache misses);
//! the first one out of order builds the table, and from then on every new subscriber is
//! looked up in it. Two sorted partials merge linearly.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::detect::rules::{DayCounts, Rule, Verdict, evaluate};
use crate::model::phone::Msisdn;

/// Day counts per subscriber for the `days` days of a window.
#[derive(Clone, Debug, Default)]
pub struct Partial {
    days: usize,
    /// Subscriber -> slot, for every subscriber once `hashed`; empty before.
    slots: FxHashMap<Msisdn, u32>,
    /// False while `subs` is strictly increasing (then it is its own index).
    hashed: bool,
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
        if !self.hashed {
            if self.subs.last().is_none_or(|l| sub > *l) {
                let slot = self.push(sub);
                self.last = Some((sub, slot));
                return slot;
            }
            // The first subscriber out of order: index the ones so far.
            self.slots = self
                .subs
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, i as u32))
                .collect();
            self.hashed = true;
        }
        let slot = match self.slots.get(&sub) {
            Some(slot) => *slot,
            None => {
                let slot = self.push(sub);
                self.slots.insert(sub, slot);
                slot
            }
        };
        self.last = Some((sub, slot));
        slot
    }

    /// Appends a subscriber with zero counts; its slot.
    fn push(&mut self, sub: Msisdn) -> u32 {
        self.subs.push(sub);
        self.counts
            .resize(self.counts.len() + self.days, DayCounts::default());
        (self.subs.len() - 1) as u32
    }

    /// The slot of a subscriber already counted.
    fn find(&self, sub: Msisdn) -> Option<usize> {
        if self.hashed {
            self.slots.get(&sub).map(|s| *s as usize)
        } else {
            self.subs.binary_search(&sub).ok()
        }
    }

    /// The counts of one subscriber (dense, one entry per day of W).
    pub fn get(&self, sub: Msisdn) -> Option<&[DayCounts]> {
        let s = self.find(sub)?;
        Some(&self.counts[s * self.days..(s + 1) * self.days])
    }

    fn days_of(&self, slot: usize) -> &[DayCounts] {
        &self.counts[slot * self.days..(slot + 1) * self.days]
    }

    /// Adds `other` into `self`. Both must cover the same window.
    pub fn merge(mut self, mut other: Partial) -> Partial {
        assert_eq!(self.days, other.days, "partials of different windows");
        if other.subs.is_empty() {
            return self;
        }
        if self.subs.is_empty() {
            return other;
        }
        if !self.hashed && !other.hashed {
            return Partial::merge_sorted(&self, &other);
        }
        if other.subs.len() > self.subs.len() {
            std::mem::swap(&mut self, &mut other);
        }
        for (i, sub) in other.subs.iter().enumerate() {
            for (d, c) in other.days_of(i).iter().enumerate() {
                if c.total > 0 {
                    self.add_counts(*sub, d as u16, *c);
                }
            }
        }
        self
    }

    /// Two partials whose subscribers are sorted: one linear pass, the result sorted too.
    fn merge_sorted(a: &Partial, b: &Partial) -> Partial {
        let days = a.days;
        let mut out = Partial::new(days);
        out.subs.reserve(a.subs.len() + b.subs.len());
        out.counts.reserve(a.counts.len() + b.counts.len());
        let (mut i, mut j) = (0, 0);
        while i < a.subs.len() || j < b.subs.len() {
            let take_a = j == b.subs.len() || (i < a.subs.len() && a.subs[i] <= b.subs[j]);
            let take_b = i == a.subs.len() || (j < b.subs.len() && b.subs[j] <= a.subs[i]);
            let sub = if take_a { a.subs[i] } else { b.subs[j] };
            out.subs.push(sub);
            match (take_a, take_b) {
                (true, true) => {
                    out.counts
                        .extend(a.days_of(i).iter().zip(b.days_of(j)).map(|(x, y)| {
                            let mut z = *x;
                            z.add(*y);
                            z
                        }))
                }
                (true, false) => out.counts.extend_from_slice(a.days_of(i)),
                _ => out.counts.extend_from_slice(b.days_of(j)),
            }
            i += usize::from(take_a);
            j += usize::from(take_b);
        }
        out
    }

    /// Every subscriber with its dense day counts, sorted by subscriber.
    pub fn sorted(&self) -> Vec<(Msisdn, &[DayCounts])> {
        let mut order: Vec<u32> = (0..self.subs.len() as u32).collect();
        if self.hashed {
            order.par_sort_unstable_by_key(|&i| self.subs[i as usize]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: &Partial) -> Vec<(u64, Vec<(u32, u32)>)> {
        p.sorted()
            .into_iter()
            .map(|(s, d)| (s.value(), d.iter().map(|c| (c.hot, c.total)).collect()))
            .collect()
    }

    #[test]
    fn sorted_grouped_and_shuffled_inputs_agree() {
        // (subscriber, day, hot) events; the same multiset in three orders and split in two.
        let mut events = Vec::new();
        for s in 0..300u64 {
            for k in 0..(s % 7 + 1) {
                events.push((10_000 + s * 3, (s + k) as u16 % 5, (s + k) % 3 == 0));
            }
        }
        let build = |ev: &[(u64, u16, bool)]| {
            let mut p = Partial::new(5);
            for (s, d, h) in ev {
                p.add(Msisdn::from_value(*s).unwrap(), *d, *h);
            }
            p
        };
        let sorted = build(&events);
        assert!(!sorted.hashed);
        let mut shuffled = events.clone();
        let n = shuffled.len();
        for i in 0..n {
            shuffled.swap(i, (i * 7919 + 13) % n);
        }
        let hashed = build(&shuffled);
        assert!(hashed.hashed);
        assert_eq!(counts(&sorted), counts(&hashed));
        // Interleaved halves (as two workers taking alternate units get them): both sorted.
        let (a, b): (Vec<_>, Vec<_>) = events.iter().partition(|e| (e.0 / 10) % 2 == 0);
        let merged = build(&a).merge(build(&b));
        assert!(!merged.hashed);
        assert_eq!(counts(&merged), counts(&sorted));
        // Every event twice: a sorted partial (itself merged from overlapping halves) merged
        // with hashed ones; an empty partial merges as nothing.
        let (c, d) = events.split_at(n / 2);
        let mixed = build(c)
            .merge(build(d))
            .merge(build(&shuffled[..n / 3]))
            .merge(build(&shuffled[n / 3..]))
            .merge(Partial::new(5));
        let mut twice = events.clone();
        twice.extend_from_slice(&events);
        twice.sort_unstable();
        let expect = build(&twice);
        assert!(!expect.hashed);
        assert_eq!(counts(&mixed), counts(&expect));
        for (s, days) in counts(&expect) {
            let got = mixed.get(Msisdn::from_value(s).unwrap()).unwrap();
            let got: Vec<(u32, u32)> = got.iter().map(|c| (c.hot, c.total)).collect();
            assert_eq!(got, days, "{s}");
        }
        assert_eq!(mixed.subscribers(), sorted.subscribers());
    }
}
