//! Files written whole or not at all.
//!
//! A [`Staged`] file is written under a hidden temporary name beside its destination
//! (`.NAME.tmp-PID`, which a directory scan passes over as bookkeeping) and renamed over the
//! destination by [`Staged::commit`]. A full disk, an error or an interrupt therefore never
//! leaves a truncated file under the name a user or a downstream job reads, nor destroys
//! the previous good file there; dropped without a commit, the temporary file is removed.
//! A command that writes several files stages them all and commits them once every one is
//! written, so an error means nothing was written.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name; see the module docs.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staged {
    /// A staged file for `dest` (nothing is created yet: write to [`Staged::path`]).
    pub fn new(dest: &Path) -> Result<Staged> {
        let name = dest
            .file_name()
            .ok_or_else(|| Error::write(dest, "not a file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        Ok(Staged {
            tmp: dest.with_file_name(tmp_name),
            dest: dest.to_owned(),
            committed: false,
        })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The destination (what errors should name).
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the written file over the destination.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::write(&self.dest, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Commits every staged file (`None`: written to stdout), in order.
pub fn commit_all(files: impl IntoIterator<Item = Option<Staged>>) -> Result<()> {
    for f in files.into_iter().flatten() {
        f.commit()?;
    }
    Ok(())
}

/// An error when a file a command would write is one of the files it reads, or when two of
/// its outputs are one file: `scan x.csv --output x.csv` replaced the export with verdicts,
/// `--output f --rejects f` kept only the rejects. `outputs` are (flag, path); `-` (stdout)
/// is never a file.
pub fn refuse_overwriting(inputs: &[String], outputs: &[(&str, &Path)]) -> Result<()> {
    let outputs: Vec<(&str, &Path, PathBuf)> = outputs
        .iter()
        .filter(|(_, p)| *p != Path::new("-"))
        .map(|(flag, p)| (*flag, *p, identity(p)))
        .collect();
    for (i, (flag, path, id)) in outputs.iter().enumerate() {
        if let Some((other, _, _)) = outputs[..i].iter().find(|(_, _, o)| o == id) {
            return Err(Error::invalid(
                *flag,
                format!(
                    "{} is also {other}: one file cannot hold both",
                    path.display()
                ),
            ));
        }
    }
    if outputs.iter().all(|(_, p, _)| !p.exists()) {
        return Ok(()); // nothing there yet: no input can be it
    }
    // Each input as the run reads it: a file named (of any format: a prepared one too), or
    // the files a directory or glob gives (one that cannot be expanded fails the run later,
    // with its own error).
    let mut files: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let p = Path::new(input);
        if p.is_file() {
            files.push(p.to_owned());
        } else if let Ok(found) = crate::ingest::sources::expand(std::slice::from_ref(input)) {
            files.extend(found.into_iter().map(|(f, _)| f));
        }
    }
    for input in files {
        let input = identity(&input);
        if let Some((flag, path, _)) = outputs.iter().find(|(_, _, o)| *o == input) {
            return Err(Error::invalid(
                *flag,
                format!(
                    "{} is also an input: writing it would replace the export",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// One name per file: the canonical path when it exists, else its directory's canonical
/// path joined with its name (two spellings of a file not written yet are one).
fn identity(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_file_replaces_its_destination_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, "good").unwrap();
        let s = Staged::new(&dest).unwrap();
        std::fs::write(s.path(), "half").unwrap();
        assert!(
            s.path()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".out.csv.tmp-")
        );
        drop(s);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "good");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left"
        );
        let s = Staged::new(&dest).unwrap();
        std::fs::write(s.path(), "new").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn outputs_never_name_an_input_or_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("e.csv");
        std::fs::write(&input, "x").unwrap();
        let inputs = [dir.path().to_string_lossy().into_owned()];
        let other = dir.path().join("o.csv");
        let dotted = dir.path().join(".").join("o.csv");
        assert!(
            refuse_overwriting(
                &inputs,
                &[("--output", &other), ("--rejects", Path::new("-"))]
            )
            .is_ok()
        );
        let e = refuse_overwriting(&inputs, &[("--output", &other), ("--rejects", &input)])
            .unwrap_err();
        assert!(
            e.to_string().contains("--rejects") && e.to_string().contains("is also an input"),
            "{e}"
        );
        let e = refuse_overwriting(&inputs, &[("--output", &other), ("--rejects", &dotted)])
            .unwrap_err();
        assert!(e.to_string().contains("is also --output"), "{e}");
    }
}
