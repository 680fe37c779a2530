//! `hotzone gen`: writes synthetic call/SMS records with injected fraud campaigns and their
//! ground truth (REFERENCE.md §1 and the README's "Generated data"), for benchmarks and detection-quality measurements.
//!
//! Prints a one-line summary to stderr and nothing to stdout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;

use crate::r#gen::{GenConfig, Layout, default_hotzone_countries, generate_to_file};

/// Flags of `hotzone gen`.
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Output file; the format follows its extension (`.parquet` or `.csv`).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Ground-truth file to write: CSV `subscriber,day` (campaign days), sorted.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Number of subscribers.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: u32,
    /// Number of days, ending with --end.
    #[arg(long, default_value_t = 30)]
    pub days: u16,
    /// Last day (YYYY-MM-DD), in --tz.
    #[arg(long, default_value = "2026-10-30", value_parser = parse_date)]
    pub end: NaiveDate,
    /// Time zone of the days (IANA name).
    #[arg(long, default_value = "Asia/Taipei", value_parser = super::parse_tz)]
    pub tz: chrono_tz::Tz,
    /// Seed: the same flags give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of subscribers who legitimately talk to 1 to 3 foreign countries daily.
    #[arg(long, default_value_t = 0.1)]
    pub international_share: f64,
    /// Share of subscribers hit by a fraud campaign (1 to 3 days of hotzone traffic).
    #[arg(long, default_value_t = 0.02)]
    pub campaign_rate: f64,
    /// Campaign sources, comma-separated: region codes (NG, JM, KH, PH, KZ, …) or E.164
    /// prefixes (+88216) [default: NG,JM,KH,+88216].
    #[arg(long, value_delimiter = ',')]
    pub hotzone_countries: Option<Vec<String>>,
    /// Approximate share of events with a withheld counterparty.
    #[arg(long, default_value_t = 0.03)]
    pub withheld_share: f64,
    /// Row order and encoding: grouped (each subscriber's events together, subscriber
    /// dictionary-encoded), time (sorted by event_time, numbers plain-encoded, as switches
    /// write), shuffled (random order, numbers plain-encoded). Same rows in every layout.
    #[arg(long, value_enum, default_value_t = LayoutArg::Grouped)]
    pub layout: LayoutArg,
}

/// `--layout` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutArg {
    /// Subscriber-grouped, subscriber dictionary-encoded.
    Grouped,
    /// Sorted by event_time, numbers plain-encoded.
    Time,
    /// Random order, numbers plain-encoded.
    Shuffled,
}

/// Parses `YYYY-MM-DD`.
fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("expected YYYY-MM-DD: {e}"))
}

/// Parses an IANA time zone name.
impl GenArgs {
    /// The generator configuration these flags describe.
    pub fn config(&self) -> GenConfig {
        GenConfig {
            seed: self.seed,
            subscribers: self.subscribers,
            days: self.days,
            end: self.end,
            tz: self.tz,
            international_share: self.international_share,
            campaign_rate: self.campaign_rate,
            hotzone_countries: self
                .hotzone_countries
                .clone()
                .unwrap_or_else(default_hotzone_countries),
            withheld_share: self.withheld_share,
            layout: match self.layout {
                LayoutArg::Grouped => Layout::Grouped,
                LayoutArg::Time => Layout::Time,
                LayoutArg::Shuffled => Layout::Shuffled,
            },
            ..GenConfig::default()
        }
    }
}

/// Runs `hotzone gen`.
pub fn run(args: &GenArgs) -> anyhow::Result<()> {
    let cfg = args.config();
    // Every generated instant must be one a reader accepts (1970..2100, REFERENCE.md §2.4),
    // with a day to spare for the zone: else the scan rejects rows the truth file counts.
    let (lo, hi) = (
        NaiveDate::from_ymd_opt(1970, 1, 2).expect("a date"),
        NaiveDate::from_ymd_opt(2099, 12, 30).expect("a date"),
    );
    if cfg.first_day() < lo || cfg.end > hi {
        anyhow::bail!(
            "--end / --days: the days generated ({} to {}) must lie within {lo} to {hi}, where every instant is one the readers accept",
            cfg.first_day(),
            cfg.end
        );
    }
    let mut outputs = vec![("--output", args.output.as_path())];
    if let Some(t) = &args.truth {
        outputs.push(("--truth", t.as_path()));
    }
    crate::staged::refuse_overwriting(&[], &outputs)?;
    let started = Instant::now();
    let summary = generate_to_file(&cfg, &args.output, args.truth.as_deref())
        .with_context(|| format!("generating {}", args.output.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let truth = args
        .truth
        .as_ref()
        .map(|p| format!(", truth in {}", p.display()))
        .unwrap_or_default();
    eprintln!(
        "gen: {} events, {} subscribers, {} campaigns, {} truth days, {} to {} ({}) -> {}{truth} in {secs:.1}s",
        summary.events,
        summary.subscribers,
        summary.campaigns,
        summary.truth_days,
        cfg.first_day(),
        cfg.end,
        cfg.tz,
        args.output.display(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: GenArgs,
    }

    #[test]
    fn defaults_match_the_library() {
        let cli = Cli::try_parse_from(["gen", "--output", "x.parquet"]).unwrap();
        assert_eq!(cli.args.config(), GenConfig::default());
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "gen",
            "-o",
            "x.csv",
            "--truth",
            "t.csv",
            "--subscribers",
            "5",
            "--days",
            "3",
            "--end",
            "2026-01-31",
            "--tz",
            "Europe/Berlin",
            "--seed",
            "9",
            "--international-share",
            "0.5",
            "--campaign-rate",
            "0.25",
            "--hotzone-countries",
            "NG,+882",
        ])
        .unwrap();
        let cfg = cli.args.config();
        assert_eq!((cfg.subscribers, cfg.days, cfg.seed), (5, 3, 9));
        assert_eq!(cfg.end, NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
        assert_eq!(cfg.tz, chrono_tz::Europe::Berlin);
        assert_eq!(
            cfg.hotzone_countries,
            vec!["NG".to_owned(), "+882".to_owned()]
        );
        assert!(Cli::try_parse_from(["gen", "-o", "x.csv", "--tz", "Mars/Base"]).is_err());
        assert!(Cli::try_parse_from(["gen", "-o", "x.csv", "--end", "2026-02-30"]).is_err());
    }

    #[test]
    fn run_writes_files() {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli::try_parse_from([
            "gen".into(),
            "-o".into(),
            dir.path().join("e.parquet").into_os_string(),
            "--truth".into(),
            dir.path().join("t.csv").into_os_string(),
            "--subscribers".into(),
            "300".into(),
            "--campaign-rate".into(),
            "0.1".into(),
        ])
        .unwrap();
        run(&cli.args).unwrap();
        assert!(dir.path().join("e.parquet").metadata().unwrap().len() > 0);
        // written under temporary names, renamed into place: nothing else is left
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["e.parquet", "t.csv"]);
        assert!(
            std::fs::read_to_string(dir.path().join("t.csv"))
                .unwrap()
                .lines()
                .count()
                > 1
        );
        let bad =
            Cli::try_parse_from(["gen", "-o", "x.parquet", "--hotzone-countries", "ZZ"]).unwrap();
        let e = run(&bad.args).unwrap_err();
        assert!(format!("{e:#}").contains("ZZ"), "{e:#}");
    }
}
