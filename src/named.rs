//! Named hotzones: a TOML file of `name = ["NG", "+882", …]` lines (`--hotzones-file`, the
//! server's `hotzones_file`), so a caller can say `@west_africa`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Error;
use crate::model::hotzone::Hotzone;

/// Named hotzones, as read from a TOML file of `name = ["NG", "+882", …]` lines.
#[derive(Clone, Debug, Default)]
pub struct NamedHotzones {
    by_name: BTreeMap<String, Hotzone>,
}

impl NamedHotzones {
    /// Reads a TOML file; every bad entry is reported with the file and the name.
    pub fn load(path: &Path) -> Result<NamedHotzones, Error> {
        let text = crate::files::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e,
        })
    }

    /// Parses the TOML text (a table of name -> array of entries).
    pub fn parse(text: &str) -> Result<NamedHotzones, String> {
        let raw: BTreeMap<String, Vec<String>> = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, items) in raw {
            match Hotzone::parse_items(&format!("hotzone {name:?}"), &items) {
                Ok(h) => {
                    by_name.insert(name, h);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(NamedHotzones { by_name })
        } else {
            Err(errors.join("; "))
        }
    }

    /// The hotzone of that name.
    pub fn get(&self, name: &str) -> Option<&Hotzone> {
        self.by_name.get(name)
    }

    /// All names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_hotzones_from_toml() {
        let named =
            NamedHotzones::parse("west_africa = [\"NG\", \"GH\"]\nsat = [\"+881\", \"+882\"]")
                .unwrap();
        assert_eq!(named.get("sat").unwrap().to_string(), "+881,+882");
        assert!(
            NamedHotzones::parse("bad = [\"Nigeria\"]")
                .unwrap_err()
                .contains("bad")
        );
    }
}
