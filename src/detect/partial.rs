//! The map half of a scan: `(subscriber, day of W) -> (hot, total)`, mergeable.
//!
//! Memory grows with subscribers × days of W (dense per subscriber, 8 bytes a day), never with
//! events, whatever the order the events arrive in. Partials built from different files or
//! row groups add up with [`Partial::merge`], which is what lets a scan run in parallel,
//! incrementally, or on another engine's shuffle.
//!
//! Each subscriber has one *slot* (its dense day counts). While subscribers arrive in
//! increasing order (an export grouped by subscriber), a new subscriber is appended with no
//! lookup at all, and consecutive events of one subscriber reuse the last slot. The first
//! subscriber out of order (a time-ordered or shuffled export, or a second pass over one
//! subscriber) switches the partial to a hash table from subscriber to slot, built once from
//! the slots so far; from then on a change of subscriber is one lookup. [`Partial::compact`]
//! sorts the slots by subscriber in place (no second copy of the counts) before any read.
//! (The previous design kept one slot per *run* of a subscriber and merged runs by sorting:
//! free on grouped files, but on a time-ordered export every event was a run, and the runs
//! and their compactions cost memory and page faults in proportion to the events.)

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::detect::rules::{DayCounts, Rule, Verdict, evaluate};
use crate::model::phone::Msisdn;

/// Day counts per subscriber for the `days` days of a window.
#[derive(Clone, Debug, Default)]
pub struct Partial {
    days: usize,
    /// The subscriber of each slot; strictly increasing while `slots` is `None`.
    subs: Vec<Msisdn>,
    /// `days` entries per slot.
    counts: Vec<DayCounts>,
    /// Subscriber -> slot, once subscribers stopped arriving in increasing order.
    slots: Option<FxHashMap<Msisdn, u32>>,
    /// The subscriber of the last event, and its slot: consecutive events share it.
    last: Option<Msisdn>,
    last_slot: usize,
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
    pub fn subscribers(&mut self) -> usize {
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
        if self.last != Some(sub) {
            self.locate(sub);
        }
        let at = self.last_slot * self.days + usize::from(day);
        self.counts[at].add(c);
    }

    /// Makes `sub` the last subscriber: finds its slot, or gives it a new one.
    #[inline(never)]
    fn locate(&mut self, sub: Msisdn) {
        let slot = match &mut self.slots {
            None if self.subs.last().is_none_or(|l| sub > *l) => self.push(sub),
            None => {
                // The first subscriber out of order: index the slots so far, once.
                let mut map = FxHashMap::default();
                map.reserve(self.subs.len() * 2);
                map.extend(self.subs.iter().enumerate().map(|(i, s)| (*s, i as u32)));
                self.slots = Some(map);
                return self.locate(sub);
            }
            Some(map) => match map.get(&sub) {
                Some(&slot) => slot as usize,
                None => {
                    let slot = self.subs.len();
                    map.insert(sub, slot as u32);
                    self.push(sub)
                }
            },
        };
        self.last = Some(sub);
        self.last_slot = slot;
    }

    /// Appends a slot for `sub`; returns it.
    fn push(&mut self, sub: Msisdn) -> usize {
        self.subs.push(sub);
        self.counts
            .resize(self.counts.len() + self.days, DayCounts::default());
        self.subs.len() - 1
    }

    /// Sorts the slots by subscriber (in place), and drops the lookup table.
    pub fn compact(&mut self) {
        if self.slots.take().is_none() {
            return;
        }
        let mut order: Vec<(Msisdn, u32)> = (self.subs.iter().enumerate())
            .map(|(i, s)| (*s, i as u32))
            .collect();
        order.par_sort_unstable();
        // Apply the permutation (slot `k` takes the counts of slot `order[k].1`) by following
        // its cycles, moving one slot's `days` counts at a time: no second copy of the counts.
        let days = self.days;
        let mut done = vec![false; order.len()];
        let mut held = vec![DayCounts::default(); days];
        for start in 0..order.len() {
            if done[start] {
                continue;
            }
            held.copy_from_slice(&self.counts[start * days..(start + 1) * days]);
            let mut k = start;
            loop {
                done[k] = true;
                let from = order[k].1 as usize;
                if from == start {
                    self.counts[k * days..(k + 1) * days].copy_from_slice(&held);
                    break;
                }
                self.counts
                    .copy_within(from * days..(from + 1) * days, k * days);
                k = from;
            }
        }
        self.subs = order.into_iter().map(|(s, _)| s).collect();
        self.last = None;
    }

    fn days_of(&self, slot: usize) -> &[DayCounts] {
        &self.counts[slot * self.days..(slot + 1) * self.days]
    }

    /// The counts of one subscriber (dense, one entry per day of W).
    pub fn get(&mut self, sub: Msisdn) -> Option<&[DayCounts]> {
        self.compact();
        let s = self.subs.binary_search(&sub).ok()?;
        Some(self.days_of(s))
    }

    /// Adds `other` into `self`. Both must cover the same window. The result is compacted.
    pub fn merge(mut self, mut other: Partial) -> Partial {
        assert_eq!(self.days, other.days, "partials of different windows");
        rayon::join(|| self.compact(), || other.compact());
        if other.subs.is_empty() {
            return self;
        }
        if self.subs.is_empty() {
            return other;
        }
        let (a, b) = (&self, &other);
        let days = a.days;
        let mut out = Partial::new(days);
        out.subs.reserve(a.subs.len() + b.subs.len());
        out.counts.reserve(a.counts.len() + b.counts.len());
        let (mut i, mut j) = (0, 0);
        while i < a.subs.len() || j < b.subs.len() {
            let take_a = j == b.subs.len() || (i < a.subs.len() && a.subs[i] <= b.subs[j]);
            let take_b = i == a.subs.len() || (j < b.subs.len() && b.subs[j] <= a.subs[i]);
            out.subs.push(if take_a { a.subs[i] } else { b.subs[j] });
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
    pub fn sorted(&mut self) -> Vec<(Msisdn, &[DayCounts])> {
        self.compact();
        (0..self.subs.len())
            .map(|s| (self.subs[s], self.days_of(s)))
            .collect()
    }

    /// The verdict half: REFERENCE.md §5 per subscriber, in parallel, sorted by subscriber.
    /// Only subscribers with at least one selected event in W appear.
    pub fn verdicts(&mut self, rule: Rule) -> Vec<(Msisdn, Verdict)> {
        verdicts_of_sum(std::slice::from_mut(self), rule, |sub, v, _| (sub, v))
    }
}

/// Subscribers per task of [`verdicts_of_sum`].
const TASK_SUBSCRIBERS: usize = 1 << 14;

/// The verdicts of the sum of several partials (one per scan worker), without building the
/// sum: the subscriber space is cut into ranges that are evaluated in parallel, each a merge
/// of the parts' sorted runs (a subscriber in one part is read in place; one in several is
/// summed into a scratch buffer). `row` turns a subscriber, its verdict and its summed day
/// counts into an output; only subscribers with a selected event in W get one, in
/// subscriber order. Same result as merging the parts and calling [`Partial::verdicts`],
/// without the merged copy (the size of every part together) or its single-threaded pass.
pub fn verdicts_of_sum<T, F>(parts: &mut [Partial], rule: Rule, row: F) -> Vec<T>
where
    T: Send,
    F: Fn(Msisdn, Verdict, &[DayCounts]) -> T + Sync,
{
    sum_in_tasks(parts, rule, row, TASK_SUBSCRIBERS)
}

fn sum_in_tasks<T, F>(parts: &mut [Partial], rule: Rule, row: F, task: usize) -> Vec<T>
where
    T: Send,
    F: Fn(Msisdn, Verdict, &[DayCounts]) -> T + Sync,
{
    parts.par_iter_mut().for_each(Partial::compact);
    let parts = &*parts;
    let Some(largest) = parts.iter().max_by_key(|p| p.subs.len()) else {
        return Vec::new();
    };
    let days = largest.days;
    assert!(
        parts.iter().all(|p| p.days == days),
        "partials of different windows"
    );
    // Task i covers subscribers in [cuts[i], cuts[i + 1]); None = unbounded.
    let mut cuts: Vec<Option<Msisdn>> = vec![None];
    cuts.extend(
        largest
            .subs
            .iter()
            .step_by(task.max(1))
            .skip(1)
            .map(|s| Some(*s)),
    );
    cuts.push(None);
    let pieces: Vec<Vec<T>> = cuts
        .par_windows(2)
        .map(|w| {
            let at = |p: &Partial, b: Option<Msisdn>, end: usize| {
                b.map_or(end, |b| p.subs.partition_point(|s| *s < b))
            };
            let mut heads: Vec<usize> = parts.iter().map(|p| at(p, w[0], 0)).collect();
            let ends: Vec<usize> = parts.iter().map(|p| at(p, w[1], p.subs.len())).collect();
            let mut sum = vec![DayCounts::default(); days];
            let mut out = Vec::new();
            loop {
                let next = (0..parts.len())
                    .filter(|&k| heads[k] < ends[k])
                    .map(|k| parts[k].subs[heads[k]])
                    .min();
                let Some(sub) = next else { break };
                let mut first: Option<&[DayCounts]> = None;
                let mut summed = false;
                for (k, p) in parts.iter().enumerate() {
                    if heads[k] == ends[k] || p.subs[heads[k]] != sub {
                        continue;
                    }
                    let run = p.days_of(heads[k]);
                    heads[k] += 1;
                    match first {
                        None => first = Some(run),
                        Some(f) => {
                            if !summed {
                                sum.copy_from_slice(f);
                                summed = true;
                            }
                            for (t, c) in sum.iter_mut().zip(run) {
                                t.add(*c);
                            }
                        }
                    }
                }
                let counts = if summed {
                    &sum[..]
                } else {
                    first.unwrap_or_default()
                };
                if counts.iter().any(|c| c.total > 0) {
                    out.push(row(sub, verdict_of(counts, rule), counts));
                }
            }
            out
        })
        .collect();
    let mut rows = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for piece in pieces {
        rows.extend(piece);
    }
    rows
}

/// REFERENCE.md §5 over one subscriber's dense day counts.
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

    fn counts(p: &mut Partial) -> Vec<(u64, Vec<(u32, u32)>)> {
        p.sorted()
            .into_iter()
            .map(|(s, d)| (s.value(), d.iter().map(|c| (c.hot, c.total)).collect()))
            .collect()
    }

    fn build(ev: &[(u64, u16, bool)]) -> Partial {
        let mut p = Partial::new(5);
        for (s, d, h) in ev {
            p.add(Msisdn::from_value(*s).unwrap(), *d, *h);
        }
        p
    }

    #[test]
    fn sorted_grouped_and_shuffled_inputs_agree() {
        // (subscriber, day, hot) events; the same multiset in several orders and splits.
        let mut events = Vec::new();
        for s in 0..300u64 {
            for k in 0..(s % 7 + 1) {
                events.push((10_000 + s * 3, (s + k) as u16 % 5, (s + k) % 3 == 0));
            }
        }
        let mut sorted = build(&events);
        assert!(
            sorted.slots.is_none(),
            "increasing subscribers need no lookup table"
        );
        let mut shuffled = events.clone();
        let n = shuffled.len();
        for i in 0..n {
            shuffled.swap(i, (i * 7919 + 13) % n);
        }
        let mut runs = build(&shuffled);
        assert!(runs.slots.is_some());
        assert_eq!(counts(&mut sorted), counts(&mut runs));
        // Interleaved halves (as two workers taking alternate units get them).
        let (a, b): (Vec<_>, Vec<_>) = events.iter().partition(|e| (e.0 / 10) % 2 == 0);
        let mut merged = build(&a).merge(build(&b));
        assert_eq!(counts(&mut merged), counts(&mut sorted));
        // Every event twice, over merges of sorted and unsorted partials and an empty one.
        let (c, d) = events.split_at(n / 2);
        let mut mixed = build(c)
            .merge(build(d))
            .merge(build(&shuffled[..n / 3]))
            .merge(build(&shuffled[n / 3..]))
            .merge(Partial::new(5));
        let mut twice = events.clone();
        twice.extend_from_slice(&events);
        twice.sort_unstable();
        let mut expect = build(&twice);
        assert_eq!(counts(&mut mixed), counts(&mut expect));
        for (s, days) in counts(&mut expect) {
            let got = mixed.get(Msisdn::from_value(s).unwrap()).unwrap();
            let got: Vec<(u32, u32)> = got.iter().map(|c| (c.hot, c.total)).collect();
            assert_eq!(got, days, "{s}");
        }
        assert_eq!(mixed.subscribers(), sorted.subscribers());
    }

    #[test]
    fn verdicts_of_sum_equal_the_verdicts_of_the_merge() {
        // Overlapping and disjoint parts, one empty, cut into tasks of several sizes.
        let events: Vec<(u64, u16, bool)> = (0..4000u64)
            .map(|i| (20_000 + (i * 37) % 900, (i % 5) as u16, i % 3 == 0))
            .collect();
        let rule = Rule {
            method: crate::model::Method::Share,
            threshold_ratio: 0.3,
            min_events: 2,
        };
        let mut whole = build(&events);
        type Row = (u64, Verdict, Vec<(u32, u32)>);
        // The merged counts, each subscriber's verdict computed on its own.
        let expect: Vec<Row> = (whole.sorted().into_iter())
            .filter(|(_, d)| d.iter().any(|c| c.total > 0))
            .map(|(s, d)| {
                let counts = d.iter().map(|c| (c.hot, c.total)).collect();
                (s.value(), verdict_of(d, rule), counts)
            })
            .collect();
        let verdicts: Vec<(u64, Verdict)> = expect.iter().map(|e| (e.0, e.1)).collect();
        let got: Vec<(u64, Verdict)> = (whole.verdicts(rule).into_iter())
            .map(|(s, v)| (s.value(), v))
            .collect();
        assert_eq!(got, verdicts);
        assert!(expect.iter().any(|e| e.1.detected()) && expect.len() == 900);
        let (a, rest) = events.split_at(1500);
        let (b, c) = rest.split_at(1000);
        for task in [1, 7, 64, 1 << 14] {
            let mut parts = vec![build(a), build(b), Partial::new(5), build(c)];
            let got = sum_in_tasks(
                &mut parts,
                rule,
                |s, v, d| (s.value(), v, d.iter().map(|c| (c.hot, c.total)).collect()),
                task,
            );
            assert_eq!(got, expect, "task {task}");
        }
        assert!(verdicts_of_sum(&mut [], rule, |s, _, _| s).is_empty());
    }

    #[test]
    fn one_slot_per_subscriber_in_any_order() {
        // Ten subscribers taking turns (a time-ordered export): every event changes the
        // subscriber, yet memory stays one slot per subscriber.
        let events: Vec<(u64, u16, bool)> = (0..100_000u64)
            .map(|i| (50_000 + (i * 7) % 10, (i % 5) as u16, i % 4 == 0))
            .collect();
        let mut p = build(&events);
        assert_eq!(p.subs.len(), 10);
        assert_eq!(p.counts.len(), 10 * 5);
        let mut sorted_events = events.clone();
        sorted_events.sort_unstable();
        assert_eq!(counts(&mut p), counts(&mut build(&sorted_events)));
        assert_eq!(p.subscribers(), 10);
        // Compaction is a permutation of whole slots: a reversed input comes out sorted
        // with each subscriber's own counts.
        let mut rev = Partial::new(3);
        for s in (0..1000u64).rev() {
            rev.add_counts(
                Msisdn::from_value(70_000 + s).unwrap(),
                (s % 3) as u16,
                DayCounts {
                    hot: s as u32,
                    total: s as u32 + 1,
                },
            );
        }
        let got = counts(&mut rev);
        assert_eq!(got.len(), 1000);
        for (k, (sub, days)) in got.iter().enumerate() {
            assert_eq!(*sub, 70_000 + k as u64);
            let mut want = vec![(0, 0); 3];
            want[k % 3] = (k as u32, k as u32 + 1);
            assert_eq!(days, &want);
        }
    }
}
