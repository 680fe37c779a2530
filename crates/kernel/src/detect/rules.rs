//! REFERENCE.md §5's two rules, SHARE and SPIKE, and the verdict. The only copy of those formulas.
//!
//! The comparisons are the spec's IEEE-754 double expressions, written exactly as specified
//! (never rearranged into multiplications), so every implementation agrees at the boundaries.

use crate::model::{CheckParams, Method, Msisdn};

/// Selected events on one day: `total(d)`, and `hot(d)` of them with a hotzone counterparty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Events whose counterparty is in the hotzone.
    pub hot: u32,
    /// All selected events.
    pub total: u32,
}

impl DayCounts {
    /// Adds another day's counts (partials from different inputs add up). Saturating: two
    /// states near 2^32 events on one day (only a forged state holds that many) must not
    /// wrap around to a small total with a large share.
    #[inline]
    pub fn add(&mut self, o: DayCounts) {
        self.hot = self.hot.saturating_add(o.hot);
        self.total = self.total.saturating_add(o.total);
    }
}

/// The verdict over W, in day indices (0 = first day of W).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Number of anomalous days.
    pub anomalous_days: u32,
    /// Earliest anomalous day.
    pub first: Option<u16>,
    /// Latest anomalous day: the API's `anomalyDate`.
    pub last: Option<u16>,
}

impl Verdict {
    /// the API's `anomalyDetected`.
    pub fn detected(&self) -> bool {
        self.last.is_some()
    }
}

/// The rule parameters a verdict needs.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// SHARE or SPIKE.
    pub method: Method,
    /// `r`.
    pub threshold_ratio: f64,
    /// `min_events`.
    pub min_events: u32,
}

impl Rule {
    /// The rule parameters of a check.
    pub fn of(p: &CheckParams) -> Rule {
        Rule {
            method: p.method,
            threshold_ratio: p.threshold_ratio,
            min_events: p.min_events,
        }
    }
}

/// One subscriber's verdict: a row of a scan (the batch scan and the prepared index's alike).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanRow {
    /// The subscriber.
    pub subscriber: Msisdn,
    /// The verdict, in day indices of the window.
    pub verdict: Verdict,
    /// With `explain`: the dense day counts of W.
    pub days: Option<Vec<DayCounts>>,
}

/// Puts verdict rows in the order of their subscriber's text, the order the output promises
/// (REFERENCE.md §9): maps and indexes keep subscribers in integer order, which differs only
/// between numbers of different lengths, so rows of one length cost one pass, no sort.
pub fn sort_as_text(rows: &mut [ScanRow]) {
    if !rows.is_sorted_by_key(|r| r.subscriber.text_order()) {
        rows.sort_unstable_by_key(|r| r.subscriber.text_order());
    }
}

/// Evaluates REFERENCE.md §5 over the days of W that have selected events, given as
/// `(day index, counts)` sorted by day index, each index at most once. Days absent from the
/// list have `total = hot = 0` (they count in SPIKE's baseline as zero days).
pub fn evaluate(days: impl IntoIterator<Item = (u16, DayCounts)>, rule: Rule) -> Verdict {
    let r = rule.threshold_ratio;
    let mut v = Verdict::default();
    let mut prior_hot: u64 = 0;
    for (d, c) in days {
        let anomalous = c.hot >= rule.min_events
            && match rule.method {
                Method::Share => (c.hot as f64) / (c.total as f64) >= r,
                Method::Spike => d > 0 && (c.hot as f64) > r * ((prior_hot as f64) / (d as f64)),
            };
        if anomalous {
            v.anomalous_days += 1;
            v.first.get_or_insert(d);
            v.last = Some(d);
        }
        prior_hot += u64::from(c.hot);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_counts_saturates_instead_of_wrapping() {
        // Two forged states: 0 of 4294967295 plus 5 of 5 wrapped to 5 of 4, an anomaly.
        let mut a = DayCounts {
            hot: 0,
            total: u32::MAX,
        };
        a.add(DayCounts { hot: 5, total: 5 });
        assert_eq!((a.hot, a.total), (5, u32::MAX));
    }

    fn c(hot: u32, total: u32) -> DayCounts {
        DayCounts { hot, total }
    }

    const SHARE: Rule = Rule {
        method: Method::Share,
        threshold_ratio: 0.3,
        min_events: 3,
    };

    fn spike(r: f64, min_events: u32) -> Rule {
        Rule {
            method: Method::Spike,
            threshold_ratio: r,
            min_events,
        }
    }

    #[test]
    fn share_boundary_is_inclusive() {
        assert_eq!(evaluate([(0, c(3, 10))], SHARE).last, Some(0));
        assert_eq!(evaluate([(0, c(3, 11))], SHARE).last, None);
    }

    #[test]
    fn share_uses_the_division_not_a_product() {
        // 7/25 >= 0.28 holds in f64, while 7 >= 0.28 * 25 does not.
        assert!(std::hint::black_box(7.0f64) < 0.28 * 25.0);
        let rule = Rule {
            threshold_ratio: 0.28,
            ..SHARE
        };
        assert!(evaluate([(0, c(7, 25))], rule).detected());
    }

    #[test]
    fn min_events_gates_both_methods() {
        assert!(!evaluate([(0, c(2, 2))], SHARE).detected());
        assert!(
            evaluate(
                [(0, c(2, 2))],
                Rule {
                    min_events: 2,
                    ..SHARE
                }
            )
            .detected()
        );
        assert!(!evaluate([(3, c(2, 2))], spike(1.0, 3)).detected());
    }

    #[test]
    fn spike_never_fires_on_the_first_day() {
        assert!(!evaluate([(0, c(100, 100))], spike(1.0, 1)).detected());
    }

    #[test]
    fn spike_zero_baseline_fires_and_is_strict() {
        assert_eq!(evaluate([(4, c(3, 3))], spike(2.0, 3)).last, Some(4));
        // Equal to r * mean is not enough: 4 > 2 * (8/4) is false.
        assert!(!evaluate([(0, c(8, 8)), (4, c(4, 4))], spike(2.0, 3)).detected());
        assert!(evaluate([(0, c(8, 8)), (4, c(5, 5))], spike(2.0, 3)).detected());
    }

    #[test]
    fn spike_uses_the_spec_expression() {
        // 7 > 1.2 * (35/6) holds in f64, although 7*6 > 1.2*35 does not.
        assert!(std::hint::black_box(7.0f64) > 1.2 * (35.0 / 6.0));
        assert!(std::hint::black_box(42.0f64) <= 1.2 * 35.0);
        let days = [
            (0, c(5, 5)),
            (1, c(6, 6)),
            (2, c(6, 6)),
            (3, c(6, 6)),
            (4, c(6, 6)),
            (5, c(6, 6)),
            (6, c(7, 7)),
        ];
        assert_eq!(evaluate(days, spike(1.2, 3)).last, Some(6));
    }

    #[test]
    fn verdict_reports_first_last_and_count() {
        let v = evaluate([(1, c(3, 3)), (2, c(0, 9)), (5, c(4, 4))], SHARE);
        assert_eq!(
            v,
            Verdict {
                anomalous_days: 2,
                first: Some(1),
                last: Some(5)
            }
        );
    }
}
