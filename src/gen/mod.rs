//! Synthetic call/SMS records for benchmarks and detection-quality measurements (REFERENCE.md §1 and the README's "Generated data").
//!
//! `hotzone gen` and the benchmarks call this module. It produces a realistic population of
//! Taiwanese mobile subscribers (light, medium and heavy users, silent days, withheld callers,
//! alphanumeric SMS senders, a share of legitimately international subscribers who talk to one
//! to three foreign countries daily) and injects fraud campaigns: bursts of mostly incoming
//! calls and SMS from one to three hotzone sources over one to three days. The campaign days
//! are the ground truth ([`GroundTruth`]); [`score`] turns a detector's verdicts into
//! precision and recall.
//!
//! Output is deterministic for a configuration: every subscriber draws from its own generator
//! seeded from `(seed, subscriber index)`, subscribers are cut into fixed chunks (one Arrow
//! batch, one Parquet row group each) and chunks are written in order, so the bytes do not
//! depend on the number of threads. Base traffic does not depend on the campaign rate either:
//! raising it only adds campaigns.
//!
//! The columns are REFERENCE.md §2's, in order: `event_time` (timestamp ms, UTC), `subscriber`,
//! `counterparty` (null = withheld), `direction`, `kind`, `duration_s` (null for SMS).

mod campaigns;
mod population;
pub mod score;
mod write;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate, TimeZone};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rayon::prelude::*;

use campaigns::{CAMPAIGN_HOURS, Campaign};
use population::{Catalog, Draw, Num, Party, Profile, subscriber_rest};

/// The generator's random number generator: xoshiro256++, whose output is fixed by its
/// algorithm (unlike `StdRng`, which `rand` may change between releases), so a seed keeps
/// giving the same data after dependency updates.
type GenRng = Xoshiro256PlusPlus;

/// Average events per subscriber and day with the default mix (used only to size chunks).
const EVENTS_PER_SUBSCRIBER_DAY: f64 = 1.7;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Seed: the same configuration gives byte-identical output.
    pub seed: u64,
    /// Number of subscribers (1 to 90,000,000: the valid `+886 9` mobile range).
    pub subscribers: u32,
    /// Number of days, ending with `end` (inclusive).
    pub days: u16,
    /// Last day, in `tz`.
    pub end: NaiveDate,
    /// Time zone of the days (events are spread over local hours; truth days are local days).
    pub tz: chrono_tz::Tz,
    /// Share of subscribers who legitimately talk to foreign countries daily (0 to 1).
    pub international_share: f64,
    /// Share of subscribers hit by a fraud campaign (0 to 1).
    pub campaign_rate: f64,
    /// Where campaigns come from: ISO region codes with a known number format (`NG`, `JM`,
    /// `KH`, `PH`, `KZ`, `US`, `CN`, `GB`, …) or E.164 prefixes (`+88216`).
    pub hotzone_countries: Vec<String>,
    /// Approximate share of all events whose counterparty is withheld (0 to 0.5; incoming only).
    pub withheld_share: f64,
    /// Target rows per chunk (one Arrow batch / Parquet row group each); does not change the
    /// rows, only how they are cut.
    pub chunk_rows: u32,
    /// The order of the rows and the encoding of the number columns in the file.
    pub layout: Layout,
}

/// How the rows of a generated file are laid out: the same rows, in another order and
/// encoding, so that a benchmark can show whether an engine depends on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Each subscriber's events together, subscribers in order; `subscriber`, `direction`
    /// and `kind` dictionary-encoded in Parquet (what a per-subscriber export looks like).
    #[default]
    Grouped,
    /// Sorted by `event_time` (ties by subscriber), as a switch or mediation system writes
    /// records; `subscriber` and `counterparty` plain-encoded, `direction` and `kind`
    /// dictionary-encoded; row groups of `chunk_rows`.
    Time,
    /// A seeded random permutation of the rows, encoded as `Time`.
    Shuffled,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            subscribers: 1000,
            days: 30,
            end: NaiveDate::from_ymd_opt(2026, 10, 30).expect("valid date"),
            tz: chrono_tz::Asia::Taipei,
            international_share: 0.1,
            campaign_rate: 0.02,
            hotzone_countries: default_hotzone_countries(),
            withheld_share: 0.03,
            chunk_rows: 1 << 20,
            layout: Layout::Grouped,
        }
    }
}

/// The default campaign sources: Nigeria, Jamaica, Cambodia and Thuraya satellite numbers.
pub fn default_hotzone_countries() -> Vec<String> {
    ["NG", "JM", "KH", "+88216"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

impl GenConfig {
    /// Checks the configuration; every generator entry point does this first.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |m: String| Err(GenError::Config(m));
        if self.subscribers == 0 || u64::from(self.subscribers) > population::TW_MOBILE_SPACE {
            return bad(format!(
                "subscribers must be 1 to {}",
                population::TW_MOBILE_SPACE
            ));
        }
        if self.days == 0 {
            return bad("days must be at least 1".into());
        }
        if self
            .end
            .checked_sub_days(chrono::Days::new(u64::from(self.days)))
            .is_none()
            || self.end.succ_opt().is_none()
        {
            return bad("end and days give dates out of range".into());
        }
        for (name, v, max) in [
            ("international_share", self.international_share, 1.0),
            ("campaign_rate", self.campaign_rate, 1.0),
            ("withheld_share", self.withheld_share, 0.5),
        ] {
            if !(0.0..=max).contains(&v) {
                return bad(format!("{name} must be between 0 and {max}"));
            }
        }
        if self.chunk_rows == 0 {
            return bad("chunk_rows must be at least 1".into());
        }
        Catalog::new(&self.hotzone_countries).map(|_| ())
    }

    /// The first day of the range.
    pub fn first_day(&self) -> NaiveDate {
        self.end - chrono::Days::new(u64::from(self.days.saturating_sub(1)))
    }
}

/// Campaign days: the (subscriber, local day) pairs a perfect detector flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroundTruth {
    /// (subscriber E.164, local day), sorted, without duplicates.
    pub days: Vec<(String, NaiveDate)>,
}

impl GroundTruth {
    /// Distinct subscribers with at least one truth day in `first..=last`.
    pub fn subscribers_between(&self, first: NaiveDate, last: NaiveDate) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .days
            .iter()
            .filter(|(_, d)| (first..=last).contains(d))
            .map(|(s, _)| s.as_str())
            .collect();
        out.dedup();
        out
    }
}

/// What a run produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenSummary {
    /// Rows written.
    pub events: u64,
    /// Subscribers generated (some may have no event at all).
    pub subscribers: u32,
    /// Subscribers hit by a campaign.
    pub campaigns: u32,
    /// Ground-truth (subscriber, day) pairs.
    pub truth_days: u32,
}

/// Why generation failed. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// The configuration is invalid.
    #[error("invalid generator configuration: {0}")]
    Config(String),
    /// The output file's extension is neither `.parquet` nor `.csv`.
    #[error("{}: unsupported output format (use a .parquet or .csv file)", path.display())]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be created, written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The writer's error.
        source: parquet::errors::ParquetError,
    },
    /// A ground-truth file could not be parsed.
    #[error("{}: row {row}: {message}", path.display())]
    Truth {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is not counted).
        row: u64,
        /// What was wrong.
        message: String,
    },
}

/// The Arrow schema of generated events (REFERENCE.md §2 names and order).
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("subscriber", DataType::Utf8, false),
        Field::new("counterparty", DataType::Utf8, true),
        Field::new("direction", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("duration_s", DataType::Int64, true),
    ]))
}

/// Generates everything in memory: one batch per chunk, and the ground truth.
///
/// For tests and benchmarks on small sizes; [`generate_to_file`] streams instead.
///
/// # Panics
/// If the configuration is invalid (see [`GenConfig::validate`]).
pub fn generate_batches(cfg: &GenConfig) -> (Vec<RecordBatch>, GroundTruth) {
    let plan = Plan::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let outs: Vec<ChunkOut> = plan
        .chunks()
        .into_par_iter()
        .map(|r| plan.chunk(r))
        .collect();
    let mut truth = GroundTruth::default();
    let mut batches = Vec::with_capacity(outs.len());
    for out in outs {
        truth.days.extend(out.truth);
        batches.push(out.batch);
    }
    truth.days.sort_unstable();
    (batches, truth)
}

/// Generates to `output` (`.parquet` or `.csv`, by extension) and, if asked, writes the ground
/// truth to `truth` (CSV `subscriber,day` with a header, sorted).
///
/// Chunks are generated in parallel (rayon's pool) while a writer thread writes finished ones
/// in order; memory stays bounded to a few chunks.
///
/// Both files are written under temporary names and renamed into place at the end, the data
/// first ([`crate::staged`]): an interrupted run leaves neither a truncated data file (which
/// a benchmark that reuses its files would read) nor a truth file without its data.
pub fn generate_to_file(
    cfg: &GenConfig,
    output: &Path,
    truth: Option<&Path>,
) -> Result<GenSummary, GenError> {
    let staged = |p: &Path| {
        crate::staged::Staged::new(p).map_err(|e| GenError::Io {
            path: p.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    let out = staged(output)?;
    let truth = truth.map(staged).transpose()?;
    let summary = generate_to_staged(cfg, output, &out, truth.as_ref().map(|t| t.path()))?;
    // The data first: a truth file is never in place without its data.
    crate::staged::commit_all([Some(out), truth]).map_err(|e| GenError::Io {
        path: output.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(summary)
}

/// [`generate_to_file`] into the temporary file of `out` (its format from `output`'s name).
fn generate_to_staged(
    cfg: &GenConfig,
    output: &Path,
    out: &crate::staged::Staged,
    truth: Option<&Path>,
) -> Result<GenSummary, GenError> {
    let plan = Plan::new(cfg)?;
    let mut writer =
        write::EventWriter::create(output, out.path(), &event_schema(), cfg.tz, cfg.layout)?;
    if cfg.layout != Layout::Grouped {
        return reordered_to_file(&plan, writer, truth);
    }
    let chunks = plan.chunks();
    let group = rayon::current_num_threads().max(2);
    let mut truth_days = Vec::new();
    let mut events = 0u64;
    let mut campaigns = 0u32;
    std::thread::scope(|scope| -> Result<(), GenError> {
        let (tx, rx) = sync_channel::<RecordBatch>(group);
        let handle = scope.spawn(move || -> Result<(), GenError> {
            for batch in rx {
                writer.write(&batch)?;
            }
            writer.finish()
        });
        'outer: for ranges in chunks.chunks(group) {
            let outs: Vec<ChunkOut> = ranges.par_iter().map(|r| plan.chunk(r.clone())).collect();
            for out in outs {
                events += out.batch.num_rows() as u64;
                campaigns += out.campaigns;
                truth_days.extend(out.truth);
                if tx.send(out.batch).is_err() {
                    break 'outer; // the writer failed: its error comes from join
                }
            }
        }
        drop(tx);
        handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })?;
    let mut gt = GroundTruth { days: truth_days };
    gt.days.sort_unstable();
    if let Some(path) = truth {
        gt.write_csv(path)?;
    }
    Ok(GenSummary {
        events,
        subscribers: cfg.subscribers,
        campaigns,
        truth_days: gt.days.len() as u32,
    })
}

/// The `Time` and `Shuffled` layouts: every row is generated (in memory), reordered as a
/// whole, and written in row groups of `chunk_rows`. The rows are those of `Grouped`.
fn reordered_to_file(
    plan: &Plan<'_>,
    mut writer: write::EventWriter,
    truth: Option<&Path>,
) -> Result<GenSummary, GenError> {
    use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
    let cfg = plan.cfg;
    let outs: Vec<ChunkOut> = plan
        .chunks()
        .par_iter()
        .map(|r| plan.chunk(r.clone()))
        .collect();
    let mut gt = GroundTruth { days: Vec::new() };
    let mut campaigns = 0u32;
    let mut batches = Vec::with_capacity(outs.len());
    for out in outs {
        campaigns += out.campaigns;
        gt.days.extend(out.truth);
        batches.push(out.batch);
    }
    let all = concat_batches(&event_schema(), &batches).expect("batches share the schema");
    drop(batches);
    let n = all.num_rows();
    let order: Vec<u32> = match cfg.layout {
        Layout::Time => {
            let keys = [0, 1].map(|c| SortColumn {
                values: all.column(c).clone(),
                options: None,
            });
            lexsort_to_indices(&keys, None)
                .expect("timestamp and string columns sort")
                .values()
                .to_vec()
        }
        Layout::Shuffled | Layout::Grouped => {
            // A stream of its own (no subscriber has index u32::MAX), so the shuffle never
            // correlates with any subscriber's draws.
            let mut rng = GenRng::seed_from_u64(stream(cfg.seed, u32::MAX, 3));
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            order
        }
    };
    for piece in order.chunks(cfg.chunk_rows as usize) {
        let idx = arrow::array::UInt32Array::from(piece.to_vec());
        let batch = take_record_batch(&all, &idx).expect("indices are in range");
        writer.write(&batch)?;
    }
    writer.finish()?;
    gt.days.sort_unstable();
    if let Some(path) = truth {
        gt.write_csv(path)?;
    }
    Ok(GenSummary {
        events: n as u64,
        subscribers: cfg.subscribers,
        campaigns,
        truth_days: gt.days.len() as u32,
    })
}

/// One local day of the range.
#[derive(Debug, Clone, Copy)]
struct Day {
    date: NaiveDate,
    /// UTC epoch ms of the day's first instant.
    start_ms: i64,
    /// Length in ms (not 24 h on DST changes).
    len_ms: i64,
    /// Volume factor (weekends are quieter).
    factor: f64,
}

/// The first instant of `date` in `tz`, in UTC epoch ms (the first existing local time if
/// midnight falls in a DST gap).
fn day_start(tz: chrono_tz::Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("valid time");
    for minutes in (0..=180).step_by(15) {
        let local = midnight + chrono::Duration::minutes(minutes);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.timestamp_millis();
        }
    }
    midnight.and_utc().timestamp_millis() // unreachable for real zones
}

/// A validated configuration, ready to generate chunks.
struct Plan<'a> {
    cfg: &'a GenConfig,
    catalog: Catalog,
    days: Vec<Day>,
    normal_hours: [u32; 24],
    campaign_hours: [u32; 24],
    subscribers_per_chunk: u32,
}

/// One generated chunk.
struct ChunkOut {
    batch: RecordBatch,
    truth: Vec<(String, NaiveDate)>,
    campaigns: u32,
}

/// Cumulative weights.
fn cumulative(w: [u32; 24]) -> [u32; 24] {
    let mut acc = 0;
    w.map(|x| {
        acc += x;
        acc
    })
}

/// splitmix64's finaliser: a good 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An independent 64-bit value for (seed, subscriber, stream).
fn stream(seed: u64, subscriber: u32, stream: u64) -> u64 {
    mix(mix(seed) ^ mix((u64::from(subscriber) << 8) | stream))
}

/// A uniform `[0, 1)` value from a hash.
fn hash_unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl<'a> Plan<'a> {
    fn new(cfg: &'a GenConfig) -> Result<Self, GenError> {
        cfg.validate()?;
        let catalog = Catalog::new(&cfg.hotzone_countries)?;
        let first = cfg.first_day();
        let days = (0..cfg.days)
            .map(|k| {
                let date = first + chrono::Days::new(u64::from(k));
                let start_ms = day_start(cfg.tz, date);
                let len_ms = day_start(cfg.tz, date.succ_opt().expect("validated")) - start_ms;
                let weekend = date.weekday().number_from_monday() >= 6;
                Day {
                    date,
                    start_ms,
                    len_ms,
                    factor: if weekend { 0.85 } else { 1.0 },
                }
            })
            .collect();
        let per_chunk =
            f64::from(cfg.chunk_rows) / (f64::from(cfg.days) * EVENTS_PER_SUBSCRIBER_DAY);
        Ok(Self {
            cfg,
            catalog,
            days,
            normal_hours: cumulative(population::NORMAL_HOURS),
            campaign_hours: cumulative(CAMPAIGN_HOURS),
            subscribers_per_chunk: (per_chunk as u32).clamp(1, cfg.subscribers),
        })
    }

    /// The fixed chunks: ranges of subscriber indices.
    fn chunks(&self) -> Vec<Range<u32>> {
        let n = self.cfg.subscribers;
        let step = self.subscribers_per_chunk;
        (0..n.div_ceil(step))
            .map(|c| c * step..(c * step + step).min(n))
            .collect()
    }

    /// A random instant of `day`, with hours weighted by `cum`.
    #[inline]
    fn instant(day: &Day, cum: &[u32; 24], rng: &mut impl Draw) -> i64 {
        let x = rng.below(u64::from(cum[23])) as u32;
        let hour = cum.partition_point(|&c| c <= x) as i64;
        let mut ms = hour * 3_600_000 + rng.below(3_600_000) as i64;
        if day.len_ms != 86_400_000 {
            ms = ms * day.len_ms / 86_400_000;
        }
        day.start_ms + ms
    }

    /// Generates the subscribers of `range`.
    fn chunk(&self, range: Range<u32>) -> ChunkOut {
        let cfg = self.cfg;
        let days = self.days.len() as u32;
        let expected =
            f64::from(range.end - range.start) * f64::from(days) * EVENTS_PER_SUBSCRIBER_DAY;
        let mut sink = Sink::with_capacity((expected * 1.15) as usize + 64);
        let mut profile = Profile::default();
        let mut truth = Vec::new();
        let mut campaigns = 0;
        let mut number = String::with_capacity(16);
        for index in range {
            let mut rng = GenRng::seed_from_u64(stream(cfg.seed, index, 0));
            let international = hash_unit(stream(cfg.seed, index, 2)) < cfg.international_share;
            let attacked = hash_unit(stream(cfg.seed, index, 3)) < cfg.campaign_rate;
            number.clear();
            self.catalog.format_into(
                Num {
                    tpl: self.catalog.tw_mobile,
                    rest: subscriber_rest(index),
                },
                &mut number,
            );
            profile.draw(
                &self.catalog,
                days,
                international,
                cfg.withheld_share,
                &mut rng,
            );
            let mut campaign = attacked.then(|| {
                let mut crng = GenRng::seed_from_u64(stream(cfg.seed, index, 1));
                let c = Campaign::draw(&self.catalog, days, &mut crng);
                (c, crng)
            });
            campaigns += u32::from(attacked);
            for (k, day) in self.days.iter().enumerate() {
                let k = k as u32;
                for _ in 0..profile.events_on(k, day.factor, &mut rng) {
                    let ts = Self::instant(day, &self.normal_hours, &mut rng);
                    let (out, sms, party, dur) = profile.event(&self.catalog, &mut rng);
                    sink.push(&self.catalog, ts, &number, party, out, sms, dur);
                }
                if let Some((c, crng)) = campaign.as_mut().filter(|(c, _)| c.covers(k)) {
                    truth.push((number.clone(), day.date));
                    for _ in 0..c.events_on(crng) {
                        let ts = Self::instant(day, &self.campaign_hours, crng);
                        let (out, sms, party, dur) = c.event(&self.catalog, crng);
                        sink.push(&self.catalog, ts, &number, party, out, sms, dur);
                    }
                }
            }
        }
        ChunkOut {
            batch: sink.finish(),
            truth,
            campaigns,
        }
    }
}

/// Column builders of one chunk.
struct Sink {
    time: TimestampMillisecondBuilder,
    subscriber: StringBuilder,
    counterparty: StringBuilder,
    direction: StringBuilder,
    kind: StringBuilder,
    duration: Int64Builder,
    buf: String,
}

impl Sink {
    fn with_capacity(rows: usize) -> Self {
        Self {
            time: TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
            subscriber: StringBuilder::with_capacity(rows, rows * 13),
            counterparty: StringBuilder::with_capacity(rows, rows * 13),
            direction: StringBuilder::with_capacity(rows, rows * 3),
            kind: StringBuilder::with_capacity(rows, rows * 4),
            duration: Int64Builder::with_capacity(rows),
            buf: String::with_capacity(24),
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn push(
        &mut self,
        cat: &Catalog,
        ts: i64,
        subscriber: &str,
        party: Party,
        out: bool,
        sms: bool,
        dur: Option<i64>,
    ) {
        self.time.append_value(ts);
        self.subscriber.append_value(subscriber);
        match party {
            Party::Withheld => self.counterparty.append_null(),
            Party::Alpha(s) => self.counterparty.append_value(s),
            Party::Number(n) => {
                self.buf.clear();
                cat.format_into(n, &mut self.buf);
                self.counterparty.append_value(&self.buf);
            }
        }
        self.direction.append_value(if out { "out" } else { "in" });
        self.kind.append_value(if sms { "sms" } else { "call" });
        self.duration.append_option(dur);
    }

    fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.subscriber.finish()),
            Arc::new(self.counterparty.finish()),
            Arc::new(self.direction.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.duration.finish()),
        ];
        RecordBatch::try_new(event_schema(), columns).expect("columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMillisecondType};
    use std::collections::{HashMap, HashSet};

    fn small() -> GenConfig {
        GenConfig {
            subscribers: 3000,
            days: 14,
            chunk_rows: 20_000,
            ..GenConfig::default()
        }
    }

    fn rows(batches: &[RecordBatch]) -> usize {
        batches.iter().map(|b| b.num_rows()).sum()
    }

    #[test]
    fn same_seed_same_batches_and_other_seed_differs() {
        let cfg = small();
        let (a, ta) = generate_batches(&cfg);
        let (b, tb) = generate_batches(&cfg);
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert!(a.len() > 1, "several chunks");
        let (c, _) = generate_batches(&GenConfig {
            seed: 7,
            ..cfg.clone()
        });
        assert_ne!(a, c);
        // Chunking does not change the rows.
        let (d, td) = generate_batches(&GenConfig {
            chunk_rows: 1_000_000,
            ..cfg
        });
        assert_eq!(d.len(), 1);
        let a_all = arrow::compute::concat_batches(&event_schema(), &a).unwrap();
        assert_eq!(a_all, d[0]);
        assert_eq!(ta, td);
    }

    #[test]
    fn output_is_thread_count_independent() {
        let cfg = small();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(
            one.install(|| generate_batches(&cfg)),
            three.install(|| generate_batches(&cfg))
        );
    }

    #[test]
    fn campaign_days_are_in_ground_truth_with_hot_events() {
        let cfg = GenConfig {
            campaign_rate: 0.05,
            international_share: 0.0,
            ..small()
        };
        let (batches, truth) = generate_batches(&cfg);
        assert!(!truth.days.is_empty());
        let mut sorted = truth.days.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, truth.days, "sorted, no duplicates");
        let (first, last) = (cfg.first_day(), cfg.end);
        assert!(truth.days.iter().all(|(_, d)| (first..=last).contains(d)));
        // Without international subscribers, hot counterparties occur only on truth days.
        let hot = |c: &str| {
            c.starts_with("+234")
                || c.starts_with("+1876")
                || c.starts_with("+855")
                || c.starts_with("+88216")
        };
        let mut hot_days: HashMap<(String, NaiveDate), u32> = HashMap::new();
        for b in &batches {
            let t = b.column(0).as_primitive::<TimestampMillisecondType>();
            let s = b.column(1).as_string::<i32>();
            let c = b.column(2).as_string::<i32>();
            for i in 0..b.num_rows() {
                if c.is_valid(i) && hot(c.value(i)) {
                    let day = chrono::DateTime::from_timestamp_millis(t.value(i))
                        .unwrap()
                        .with_timezone(&cfg.tz)
                        .date_naive();
                    *hot_days.entry((s.value(i).to_owned(), day)).or_default() += 1;
                }
            }
        }
        let truth_set: HashSet<(String, NaiveDate)> = truth.days.iter().cloned().collect();
        let hot_set: HashSet<(String, NaiveDate)> = hot_days.keys().cloned().collect();
        assert_eq!(truth_set, hot_set);
        assert!(hot_days.values().all(|&n| n >= 2));
        let campaigns = truth.subscribers_between(first, last).len();
        let expected = 0.05 * f64::from(cfg.subscribers);
        assert!(
            (campaigns as f64 - expected).abs() < 0.3 * expected,
            "{campaigns} campaigns"
        );
    }

    #[test]
    fn tiers_produce_different_volumes() {
        let cfg = GenConfig {
            campaign_rate: 0.0,
            ..small()
        };
        let plan = Plan::new(&cfg).unwrap();
        let mut per_tier: HashMap<&'static str, (f64, u32)> = HashMap::new();
        for index in 0..cfg.subscribers {
            let mut rng = GenRng::seed_from_u64(stream(cfg.seed, index, 0));
            let mut p = Profile::default();
            p.draw(&plan.catalog, 14, false, 0.03, &mut rng);
            let n: u32 = (0..14).map(|k| p.events_on(k, 1.0, &mut rng)).sum();
            let name = match p.tier.unwrap() {
                population::Tier::Light => "light",
                population::Tier::Medium => "medium",
                population::Tier::Heavy => "heavy",
            };
            let e = per_tier.entry(name).or_default();
            e.0 += f64::from(n) / 14.0;
            e.1 += 1;
        }
        let mean = |t| per_tier[t].0 / f64::from(per_tier[t].1);
        let (l, m, h) = (mean("light"), mean("medium"), mean("heavy"));
        assert!(
            l < 0.5 && (1.2..3.0).contains(&m) && h > 6.0,
            "light {l} medium {m} heavy {h}"
        );
        // Overall volume is what the chunk sizing assumes.
        let (batches, _) = generate_batches(&cfg);
        let per_day = rows(&batches) as f64 / f64::from(cfg.subscribers) / 14.0;
        assert!(
            (1.4..2.0).contains(&per_day),
            "{per_day} events per subscriber-day"
        );
    }

    #[test]
    fn shares_of_withheld_alpha_sms_and_directions() {
        let (batches, _) = generate_batches(&small());
        let (mut withheld, mut alpha, mut sms, mut sms_with_duration, mut out, mut n) =
            (0, 0, 0, 0, 0, 0);
        for b in &batches {
            let c = b.column(2).as_string::<i32>();
            let d = b.column(3).as_string::<i32>();
            let k = b.column(4).as_string::<i32>();
            let dur = b.column(5).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                n += 1;
                if c.is_null(i) {
                    withheld += 1;
                    assert_eq!(d.value(i), "in");
                } else if !c.value(i).starts_with('+') {
                    alpha += 1;
                    assert_eq!((d.value(i), k.value(i)), ("in", "sms"));
                }
                if k.value(i) == "sms" {
                    sms += 1;
                    sms_with_duration += usize::from(dur.is_valid(i));
                } else {
                    assert!(dur.is_valid(i) && dur.value(i) >= 0);
                }
                out += usize::from(d.value(i) == "out");
            }
        }
        let share = |x: usize| x as f64 / n as f64;
        assert!(
            (0.02..0.04).contains(&share(withheld)),
            "withheld {}",
            share(withheld)
        );
        assert!(
            (0.005..0.05).contains(&share(alpha)),
            "alpha {}",
            share(alpha)
        );
        assert!((0.15..0.35).contains(&share(sms)), "sms {}", share(sms));
        assert!((0.4..0.6).contains(&share(out)), "out {}", share(out));
        assert_eq!(sms_with_duration, 0);
    }

    #[test]
    fn events_fall_inside_their_local_days() {
        for tz in [
            chrono_tz::Asia::Taipei,
            chrono_tz::Europe::Berlin,
            chrono_tz::America::Santiago,
        ] {
            let cfg = GenConfig {
                subscribers: 200,
                days: 60,
                end: NaiveDate::from_ymd_opt(2026, 11, 15).unwrap(),
                tz,
                ..GenConfig::default()
            };
            let (batches, _) = generate_batches(&cfg);
            let (first, last) = (cfg.first_day(), cfg.end);
            for b in &batches {
                let t = b.column(0).as_primitive::<TimestampMillisecondType>();
                for v in t.values() {
                    let d = chrono::DateTime::from_timestamp_millis(*v)
                        .unwrap()
                        .with_timezone(&tz)
                        .date_naive();
                    assert!((first..=last).contains(&d), "{d} outside the range in {tz}");
                }
            }
        }
    }

    #[test]
    fn international_subscribers_call_abroad() {
        let count_foreign = |share: f64| {
            let (batches, _) = generate_batches(&GenConfig {
                international_share: share,
                campaign_rate: 0.0,
                ..small()
            });
            let mut subs = HashSet::new();
            for b in &batches {
                let s = b.column(1).as_string::<i32>();
                let c = b.column(2).as_string::<i32>();
                for i in 0..b.num_rows() {
                    if c.is_valid(i)
                        && c.value(i).starts_with('+')
                        && !c.value(i).starts_with("+886")
                    {
                        subs.insert(s.value(i).to_owned());
                    }
                }
            }
            subs.len()
        };
        assert_eq!(count_foreign(0.0), 0);
        let n = count_foreign(0.1);
        assert!(
            (200..=330).contains(&n),
            "{n} subscribers with foreign traffic"
        );
    }

    #[test]
    fn invalid_configurations_are_rejected() {
        for cfg in [
            GenConfig {
                subscribers: 0,
                ..GenConfig::default()
            },
            GenConfig {
                days: 0,
                ..GenConfig::default()
            },
            GenConfig {
                campaign_rate: 1.5,
                ..GenConfig::default()
            },
            GenConfig {
                international_share: f64::NAN,
                ..GenConfig::default()
            },
            GenConfig {
                hotzone_countries: vec!["ZZ".into()],
                ..GenConfig::default()
            },
        ] {
            assert!(
                matches!(cfg.validate(), Err(GenError::Config(_))),
                "{cfg:?}"
            );
        }
    }
}
