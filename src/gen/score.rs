//! Detection quality against the generator's ground truth: precision and recall of a
//! detector's verdicts, per subscriber or per (subscriber, anomaly day).
//!
//! A verdict is `(subscriber, anomaly_date)`: `Some(day)` when the detector flagged the
//! subscriber (its `anomalyDate`), `None` when it did not. Subscribers missing from the
//! verdicts count as not flagged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::GroundTruth;

/// Confusion counts and the derived precision and recall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Flagged and truly positive.
    pub true_positives: u64,
    /// Flagged but not truly positive.
    pub false_positives: u64,
    /// Truly positive but not (correctly) flagged.
    pub false_negatives: u64,
    /// `tp / (tp + fp)`; 1 when nothing was flagged.
    pub precision: f64,
    /// `tp / (tp + fn)`; 1 when there was nothing to find.
    pub recall: f64,
}

impl Quality {
    /// Derives precision and recall from the counts.
    pub fn from_counts(true_positives: u64, false_positives: u64, false_negatives: u64) -> Self {
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        Self {
            true_positives,
            false_positives,
            false_negatives,
            precision: ratio(true_positives, true_positives + false_positives),
            recall: ratio(true_positives, true_positives + false_negatives),
        }
    }

    /// The harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self) -> f64 {
        let s = self.precision + self.recall;
        if s == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / s
        }
    }
}

/// Truth days per subscriber within `first..=last`.
fn truth_in(
    truth: &GroundTruth,
    first: NaiveDate,
    last: NaiveDate,
) -> BTreeMap<&str, BTreeSet<NaiveDate>> {
    let mut map: BTreeMap<&str, BTreeSet<NaiveDate>> = BTreeMap::new();
    for (s, d) in &truth.days {
        if (first..=last).contains(d) {
            map.entry(s.as_str()).or_default().insert(*d);
        }
    }
    map
}

/// Subscriber-level quality over the window `first..=last`.
///
/// A subscriber is truly positive if it has a ground-truth day inside the window, and predicted
/// positive if its verdict has an anomaly date (which day does not matter here). A subscriber
/// listed twice counts once (flagged if any of its verdicts is).
pub fn score_subscribers<I, S>(
    truth: &GroundTruth,
    first: NaiveDate,
    last: NaiveDate,
    detected: I,
) -> Quality
where
    I: IntoIterator<Item = (S, Option<NaiveDate>)>,
    S: AsRef<str>,
{
    let positives = truth_in(truth, first, last);
    let flagged: BTreeSet<String> = detected
        .into_iter()
        .filter(|(_, d)| d.is_some())
        .map(|(s, _)| s.as_ref().to_owned())
        .collect();
    let tp = flagged
        .iter()
        .filter(|s| positives.contains_key(s.as_str()))
        .count() as u64;
    let fp = flagged.len() as u64 - tp;
    let fn_ = positives.len() as u64 - tp;
    Quality::from_counts(tp, fp, fn_)
}

/// Day-level quality over the window `first..=last`.
///
/// A verdict is a true positive when its anomaly date is a ground-truth day of that subscriber,
/// a false positive otherwise. Every subscriber with a truth day in the window and no true
/// positive verdict is a false negative (so a flag on the wrong day counts as both a false
/// positive and a false negative).
pub fn score_days<I, S>(
    truth: &GroundTruth,
    first: NaiveDate,
    last: NaiveDate,
    detected: I,
) -> Quality
where
    I: IntoIterator<Item = (S, Option<NaiveDate>)>,
    S: AsRef<str>,
{
    let positives = truth_in(truth, first, last);
    let flagged: BTreeSet<(String, NaiveDate)> = detected
        .into_iter()
        .filter_map(|(s, d)| d.map(|d| (s.as_ref().to_owned(), d)))
        .collect();
    let mut found: BTreeSet<&str> = BTreeSet::new();
    let mut fp = 0;
    for (s, d) in &flagged {
        match positives.get_key_value(s.as_str()) {
            Some((key, days)) if days.contains(d) => {
                found.insert(key);
            }
            _ => fp += 1,
        }
    }
    let tp = found.len() as u64;
    Quality::from_counts(tp, fp, positives.len() as u64 - tp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, day).unwrap()
    }

    fn truth() -> GroundTruth {
        GroundTruth {
            days: vec![
                ("+886900000001".into(), d(10)),
                ("+886900000001".into(), d(11)),
                ("+886900000002".into(), d(20)),
                ("+886900000003".into(), d(1)), // outside the window below
            ],
        }
    }

    #[test]
    fn subscriber_level() {
        let verdicts = [
            ("+886900000001", Some(d(25))), // flagged, wrong day: still a subscriber TP
            ("+886900000002", None),        // missed
            ("+886900000004", Some(d(12))), // false alarm
            ("+886900000003", None),
        ];
        let q = score_subscribers(&truth(), d(5), d(30), verdicts);
        assert_eq!(
            (q.true_positives, q.false_positives, q.false_negatives),
            (1, 1, 1)
        );
        assert_eq!((q.precision, q.recall), (0.5, 0.5));
        assert_eq!(q.f1(), 0.5);
    }

    #[test]
    fn day_level() {
        let verdicts = vec![
            ("+886900000001".to_owned(), Some(d(11))),
            ("+886900000002".to_owned(), Some(d(21))), // wrong day: FP and FN
            ("+886900000005".to_owned(), None),
        ];
        let q = score_days(&truth(), d(5), d(30), verdicts);
        assert_eq!(
            (q.true_positives, q.false_positives, q.false_negatives),
            (1, 1, 1)
        );
    }

    #[test]
    fn empty_cases() {
        let none: [(&str, Option<NaiveDate>); 0] = [];
        let q = score_subscribers(&GroundTruth::default(), d(1), d(2), none);
        assert_eq!((q.precision, q.recall), (1.0, 1.0));
        let q = score_days(&truth(), d(5), d(30), none);
        assert_eq!((q.true_positives, q.false_negatives, q.recall), (0, 2, 0.0));
    }
}
