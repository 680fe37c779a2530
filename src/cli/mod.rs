//! Command-line interface: clap types live here and leave this folder only for `main.rs`,
//! which parses the command line with them and reports clap's errors.
//!
//! Each subcommand is one file that turns flags into library calls and prints results.

pub mod check;
pub mod r#gen;
pub mod prepare;
pub mod scan;
pub mod serve;
pub mod soak;

use clap::{Parser, Subcommand, ValueEnum};

/// Fraud Hotzone engine: was a number's traffic with fraud-prone regions abnormal lately?
#[derive(Parser, Debug)]
#[command(
    name = "hotzone",
    version,
    about,
    after_help = "What the inputs must hold, what a hotzone entry is, the exact detection rule, \
the rejected rows and the service's errors: REFERENCE.md in the repository."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The input columns, in `--help` of the commands that read exports (REFERENCE.md §2).
const SCAN_INPUT_HELP: &str = "Input columns (by name; map others with --column SOURCE=CANONICAL):
  event_time           timestamp, epoch milliseconds, or RFC 3339 text with an offset (required)
  subscriber           E.164 '+886912345678', or national with --default-region (required)
  counterparty         E.164, national, short code or sender name; empty = withheld (optional)
  direction            in | out (required)
  kind                 call | sms (required)
  duration_s           integer >= 0 (optional)
  counterparty_region  region code that wins over the derived one (optional)
Rows that break a rule are counted by reason, never dropped silently (exit status 2).
Details: REFERENCE.md in the repository (§2 inputs, §3 hotzones, §5 the rule, §7 rejects).";

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Batch scan of call/SMS exports: one verdict row per subscriber (REFERENCE.md §9).
    #[command(after_help = SCAN_INPUT_HELP)]
    Scan(scan::ScanArgs),
    /// Writes synthetic call/SMS records with injected fraud campaigns and their ground truth.
    Gen(r#gen::GenArgs),
    /// Reads exports once into the prepared form that repeated scans read directly.
    #[command(after_help = SCAN_INPUT_HELP)]
    Prepare(prepare::PrepareArgs),
    /// Check service (gRPC, and REST with --http-listen) over a live in-memory index of a data directory (REFERENCE.md §4-§6, errors §8).
    Serve(serve::ServeArgs),
    /// One check against a running server; prints the verdict.
    Check(check::CheckArgs),
    /// Bounded load run (checks + ingests) against a loopback server; prints a report.
    Soak(soak::SoakArgs),
}

/// The text of a usage error with every command-line word that may be a phone number (or is
/// long) named as every other message names a value (`model::shown`), or None when the
/// error shows none: clap quotes a flag's value whole (`--tz +886912345678`), a word it does
/// not expect (a number given without its flag), and a range parser's reason the number as
/// it parsed it (its `+` and leading zeros gone). `args` are the process's arguments.
pub fn usage_error_hiding_numbers(e: &clap::Error, args: &[String]) -> Option<String> {
    use crate::model::shown::shown;
    let rendered = e.to_string();
    let mut text = rendered.clone();
    for arg in args {
        let value = arg.split_once('=').map(|(_, v)| v);
        for word in std::iter::once(arg.as_str()).chain(value) {
            let named = shown(word).to_string();
            if word.is_empty() || named == format!("{word:?}") {
                continue;
            }
            text = (text.replace(&format!("'{word}'"), &named))
                .replace(&format!("{word:?}"), &named)
                .replace(word, &named);
            let digits = word.trim_start_matches('+').trim_start_matches('0');
            if digits != word && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                text = text.replace(digits, &named);
            }
        }
    }
    (text != rendered).then_some(text)
}

/// Runs the parsed command. Returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Scan(args) => scan::run(&args),
        Command::Prepare(args) => prepare::run(&args),
        Command::Gen(args) => r#gen::run(&args).map(|()| 0),
        Command::Serve(args) => serve::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Soak(args) => soak::run(&args),
    }
}

/// Parses a zone name for `--tz`.
pub fn parse_tz(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("{s:?} is not an IANA time zone name (e.g. UTC, Asia/Taipei)"))
}

/// Parses a region for `--default-region`.
pub fn parse_region(s: &str) -> Result<crate::model::Region, String> {
    crate::model::Region::parse(s)
        .ok_or_else(|| format!("{s:?} is not {}", crate::model::region::REGION_RULE))
}

/// `--method` (shared by `scan` and `check`).
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MethodArg {
    /// hot/total >= r.
    Share,
    /// hot > r x mean of the earlier days.
    Spike,
}

/// `--check-type`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TypeArg {
    /// Calls and SMS.
    All,
    /// Calls.
    Call,
    /// SMS.
    Sms,
}

/// `--check-target`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TargetArg {
    /// Both directions.
    All,
    /// Incoming.
    Incoming,
    /// Outgoing.
    Outgoing,
}
