//! Server configuration: the TOML file of `hotzone serve` ([`ServerConfig`]) and its
//! validated form ([`ServerSettings`]).
//!
//! Every key has a default next to its doc comment, units are in the key names, unknown keys
//! are an error, and validation reports every problem at once (not just the first). The file is
//! always named explicitly (`--config`); nothing is searched for. Relative paths in a file are
//! resolved against the file's own directory, so a config keeps working from any cwd.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::check::MAX_LOOK_BACK_DAYS;
use crate::model::hotzone::{Hotzone, NamedHotzones};
use crate::model::region::Region;

/// The `hotzone serve` configuration, as written in the TOML file (see
/// `data/server.example.toml`). Every key can also be given as a flag, which wins.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`host:port`). Default `127.0.0.1:50051`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory of event files (Parquet, CSV, Arrow IPC; read recursively). Ingested records
    /// are written to its `ingest/` folder. Required (here or with `--data`).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The engine's time zone (IANA name): every event belongs to its local day there.
    /// Default `UTC`.
    #[serde(default = "default_tz")]
    pub tz: String,
    /// Highest `look_back_days` a check may ask for, 1..=90. Default 90.
    #[serde(default = "default_max_look_back_days")]
    pub max_look_back_days: u16,
    /// Hotzone used by checks that give none (region codes and E.164 prefixes). Optional.
    #[serde(default)]
    pub default_hotzone: Option<Vec<String>>,
    /// TOML file of named hotzones (`name = ["NG", "+882"]`), selectable with the request's
    /// `hotzone_name`. Optional.
    #[serde(default)]
    pub hotzones_file: Option<PathBuf>,
    /// ISO 3166-1 alpha-2 region used to read numbers written without `+`. Optional: without
    /// it, such rows are rejected.
    #[serde(default)]
    pub default_region: Option<String>,
    /// Seconds between scans of `data_dir` for new or changed files; 0 turns polling off.
    /// Default 10.
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// Days of data kept in memory, ending with the latest day in the data; older days leave
    /// memory at the next reload. Must be at least `max_look_back_days`. Optional: without
    /// it, every day loaded is kept.
    #[serde(default)]
    pub retention_days: Option<u16>,
}

fn default_listen() -> String {
    "127.0.0.1:50051".to_owned()
}

fn default_tz() -> String {
    "UTC".to_owned()
}

fn default_max_look_back_days() -> u16 {
    MAX_LOOK_BACK_DAYS
}

fn default_poll_interval_s() -> u64 {
    10
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: None,
            tz: default_tz(),
            max_look_back_days: default_max_look_back_days(),
            default_hotzone: None,
            hotzones_file: None,
            default_region: None,
            poll_interval_s: default_poll_interval_s(),
            retention_days: None,
        }
    }
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of event files.
    pub data_dir: PathBuf,
    /// The engine's time zone.
    pub tz: Tz,
    /// Highest `look_back_days` allowed, 1..=90.
    pub max_look_back_days: u16,
    /// Hotzone of checks that give none.
    pub default_hotzone: Option<Arc<Hotzone>>,
    /// Named hotzones.
    pub named_hotzones: NamedHotzones,
    /// Region for national-format numbers.
    pub default_region: Option<Region>,
    /// Time between data directory scans; `None` = off.
    pub poll_interval: Option<Duration>,
    /// Days kept in memory, ending with the latest day in the data; `None` = all.
    pub retention_days: Option<u16>,
}

impl ServerConfig {
    /// Reads a TOML file; unknown keys and type errors name the file.
    pub fn load(path: &Path) -> Result<ServerConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg: ServerConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.data_dir = cfg.data_dir.map(|p| base.join(p));
        cfg.hotzones_file = cfg.hotzones_file.map(|p| base.join(p));
        Ok(cfg)
    }

    /// Validates every key, reporting all problems at once. `origin` names where the values
    /// came from (the config file, or `<flags>`), for the error.
    pub fn resolve(&self, origin: &Path) -> Result<ServerSettings> {
        let mut errors: Vec<String> = Vec::new();
        let listen = self
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| {
                errors.push(format!(
                    "listen: {:?} is not a host:port address",
                    self.listen
                ))
            })
            .ok();
        let data_dir = self.data_dir.clone();
        if data_dir.is_none() {
            errors.push("data_dir: is required (set it in the file or pass --data)".to_owned());
        }
        let tz = self
            .tz
            .parse::<Tz>()
            .map_err(|_| errors.push(format!("tz: {:?} is not an IANA time zone name", self.tz)))
            .ok();
        if !(1..=MAX_LOOK_BACK_DAYS).contains(&self.max_look_back_days) {
            errors.push(format!(
                "max_look_back_days: must be between 1 and {MAX_LOOK_BACK_DAYS} (got {})",
                self.max_look_back_days
            ));
        }
        if let Some(r) = self.retention_days.filter(|r| *r < self.max_look_back_days) {
            errors.push(format!(
                "retention_days: must be at least max_look_back_days ({}) (got {r})",
                self.max_look_back_days
            ));
        }
        let default_hotzone = match &self.default_hotzone {
            None => None,
            Some(items) => Hotzone::parse_items("default_hotzone", items)
                .map_err(|e| errors.push(e.to_string()))
                .ok()
                .map(Arc::new),
        };
        let named_hotzones = match &self.hotzones_file {
            None => NamedHotzones::default(),
            Some(p) => NamedHotzones::load(p)
                .map_err(|e| errors.push(format!("hotzones_file: {e}")))
                .unwrap_or_default(),
        };
        let default_region = match &self.default_region {
            None => None,
            Some(r) => {
                let region = Region::parse(r);
                if region.is_none() {
                    errors.push(format!(
                        "default_region: {r:?} is not an ISO 3166-1 alpha-2 code (upper case)"
                    ));
                }
                region
            }
        };
        match (errors.is_empty(), listen, data_dir, tz) {
            (true, Some(listen), Some(data_dir), Some(tz)) => Ok(ServerSettings {
                listen,
                data_dir,
                tz,
                max_look_back_days: self.max_look_back_days,
                default_hotzone,
                named_hotzones,
                default_region,
                poll_interval: (self.poll_interval_s > 0)
                    .then(|| Duration::from_secs(self.poll_interval_s)),
                retention_days: self.retention_days,
            }),
            _ => Err(Error::Config {
                path: origin.to_owned(),
                message: errors.join("; "),
            }),
        }
    }
}

impl ServerSettings {
    /// Settings for a data directory with every other key at its default (tests, examples).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> ServerSettings {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: data_dir.into(),
            tz: Tz::UTC,
            max_look_back_days: MAX_LOOK_BACK_DAYS,
            default_hotzone: None,
            named_hotzones: NamedHotzones::default(),
            default_region: None,
            poll_interval: Some(Duration::from_secs(default_poll_interval_s())),
            retention_days: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_full_file() {
        let cfg: ServerConfig = toml::from_str("data_dir = \"/d\"").unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:50051");
        assert_eq!(cfg.max_look_back_days, 90);
        assert_eq!(cfg.poll_interval_s, 10);
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.tz, Tz::UTC);
        assert_eq!(s.poll_interval, Some(Duration::from_secs(10)));
        let cfg: ServerConfig = toml::from_str(
            "listen = \"0.0.0.0:1\"\ndata_dir = \"/d\"\ntz = \"Asia/Taipei\"\nmax_look_back_days = 30\n\
             default_hotzone = [\"NG\", \"+882\"]\ndefault_region = \"TW\"\npoll_interval_s = 0",
        )
        .unwrap();
        let s = cfg.resolve(Path::new("x.toml")).unwrap();
        assert_eq!(s.max_look_back_days, 30);
        assert_eq!(s.default_hotzone.unwrap().to_string(), "NG,+882");
        assert_eq!(s.poll_interval, None);
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/server.example.toml");
        let cfg = ServerConfig::load(&path).unwrap();
        assert_eq!(cfg, ServerConfig::default());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ServerConfig>("data_dir = \"/d\"\nretention = 3").is_err());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let cfg = ServerConfig {
            listen: "nowhere".into(),
            tz: "Mars/Base".into(),
            max_look_back_days: 91,
            default_hotzone: Some(vec!["Nigeria".into()]),
            default_region: Some("tw".into()),
            ..ServerConfig::default()
        };
        let e = cfg.resolve(Path::new("x.toml")).unwrap_err().to_string();
        for needle in [
            "listen",
            "data_dir",
            "tz",
            "max_look_back_days",
            "default_hotzone",
            "default_region",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
