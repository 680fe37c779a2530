//! Files written whole or not at all.
//!
//! A [`Staged`] file is written under a hidden temporary name beside its destination
//! (`.NAME.tmp-PID`, which a directory scan passes over as bookkeeping) and renamed over the
//! destination by [`Staged::commit`]. A full disk, an error or an interrupt therefore never
//! leaves a truncated file under the name a user or a downstream job reads, nor destroys
//! the previous good file there; dropped without a commit, the temporary file is removed.
//! A command that writes several files stages them all and commits them once every one is
//! written, so an error means nothing was written.
//!
//! A power loss is survived too: [`commit_all`] (the outputs of `scan`, `prepare` and `gen`)
//! syncs every file's bytes to the disk before it renames any, so after a crash the name
//! holds the previous file or the whole new one (without the sync a file system may store
//! the rename before the bytes, and the name then holds an empty or cut-short file: a
//! verdict file missing rows with nothing to say so). [`Staged::commit_durably`] also syncs
//! the directory, so the rename itself is on disk before it returns (the service's
//! acknowledged ingests and subscriptions use it).
//! [`is_temporary`] recognises the temporary names, so a service removes the ones a crash left.
//!
//! A destination that exists and is not a regular file (`/dev/null`, a FIFO a log shipper
//! reads), or that names a process's stream (`/dev/stdout`, `/dev/fd/2`, a link into
//! `/proc`, whatever the stream is redirected to), is written directly, as it comes:
//! renaming a temporary file over it replaced the device, the pipe or the link with a regular
//! file (as root, `--rejects /dev/null` replaced the machine's `/dev/null`). Such a
//! destination has no previous good file to keep and nothing to sync ([`sync_written`]); it is
//! the one exception to "whole or not at all".

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name; see the module docs.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
    /// False once [`Staged::create`] found the temporary name taken: that file is another
    /// writer's, and dropping this one must not remove it.
    owns_tmp: std::cell::Cell<bool>,
    /// The destination is a device, a FIFO or a process's stream, written directly (`tmp` is
    /// `dest`).
    direct: bool,
}

impl Staged {
    /// A staged file for `dest` (nothing is created yet: write to [`Staged::path`]).
    pub fn new(dest: &Path) -> Result<Staged> {
        let name = dest
            .file_name()
            .ok_or_else(|| Error::write(dest, "not a file name"))?;
        let direct = written_directly(dest);
        if direct {
            return Ok(Staged {
                tmp: dest.to_owned(),
                dest: dest.to_owned(),
                committed: false,
                owns_tmp: std::cell::Cell::new(false),
                direct,
            });
        }
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        Ok(Staged {
            tmp: dest.with_file_name(tmp_name),
            dest: dest.to_owned(),
            committed: false,
            owns_tmp: std::cell::Cell::new(true),
            direct,
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

    /// Creates the temporary file, new (an existing one is an error), readable and
    /// writable by its owner only when `private` (files that hold numbers or tokens).
    pub fn create(&self, private: bool) -> Result<std::fs::File> {
        let mut opts = std::fs::OpenOptions::new();
        if self.direct {
            opts.write(true);
        } else {
            opts.write(true).create_new(true);
        }
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        opts.open(&self.tmp).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                self.owns_tmp.set(false);
            }
            Error::write(&self.tmp, e)
        })
    }

    /// Renames the written file over the destination.
    pub fn commit(mut self) -> Result<()> {
        if !self.direct {
            std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::write(&self.dest, e))?;
        }
        self.committed = true;
        Ok(())
    }

    /// Syncs the written file's bytes to the disk (before a rename, so that a crash never
    /// leaves the destination's name on a file whose bytes were not stored).
    fn sync(&self) -> Result<()> {
        if self.direct {
            return Ok(());
        }
        std::fs::File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::write(&self.dest, e))
    }

    /// [`Staged::commit`], durable: the file's bytes are on disk before the rename, and the
    /// rename (the directory's entry) before this returns.
    pub fn commit_durably(self) -> Result<()> {
        if self.direct {
            return self.commit();
        }
        self.sync()?;
        let dir = match self.dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        self.commit()?;
        sync_dir(&dir)
    }
}

/// True for a destination written as it is, not staged (see the module docs): one that
/// exists and is not a regular file or a directory (followed through links), or a link into
/// `/proc` or `/dev/fd` (a process's stream, which may be redirected to a regular file).
pub(crate) fn written_directly(dest: &Path) -> bool {
    let special = std::fs::metadata(dest).is_ok_and(|m| !m.is_file() && !m.is_dir());
    let proc_link = |p: &Path| p.starts_with("/proc") || p.starts_with("/dev/fd");
    let stream = std::fs::read_link(dest).is_ok_and(|t| proc_link(&t))
        || (dest.parent())
            .and_then(|d| std::fs::canonicalize(d).ok())
            .is_some_and(|d| proc_link(&d));
    special || stream
}

/// True for `-` and the names of the process's standard output (`/dev/stdout`, `/dev/fd/1`,
/// `/proc/self/fd/1`): two outputs so named would write into one stream.
pub fn is_stdout(path: &Path) -> bool {
    ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
        .iter()
        .any(|s| path == Path::new(s))
}

/// fsync of a written file; a destination written directly (a device, a FIFO, a process's
/// stream) has nothing to sync, and fsync refuses some of them.
pub fn sync_written(file: &std::fs::File) -> std::io::Result<()> {
    if file.metadata()?.is_file() {
        file.sync_all()
    } else {
        Ok(())
    }
}

/// fsync of a directory, so a rename, a new entry or a removal in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::write(dir, e))
}

/// True for a name [`Staged`] writes under (`.NAME.tmp-PID`), and for the `.tmp-NAME` of
/// earlier versions: a file a crash may have left, never a finished one.
pub fn is_temporary(name: &str) -> bool {
    if name.starts_with(".tmp-") {
        return true;
    }
    name.strip_prefix('.')
        .and_then(|n| n.rsplit_once(".tmp-"))
        .is_some_and(|(base, pid)| {
            !base.is_empty() && !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit())
        })
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed && self.owns_tmp.get() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Commits every staged file (`None`: written to stdout), in order, once every one's bytes
/// are synced to the disk: an error while syncing renames none.
pub fn commit_all(files: impl IntoIterator<Item = Option<Staged>>) -> Result<()> {
    let files: Vec<Staged> = files.into_iter().flatten().collect();
    for f in &files {
        f.sync()?;
    }
    for f in files {
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
    // An output not there yet, inside an input directory (or matched by an input glob) that
    // a scan reads: this run does not read it, but the next scan of the same inputs would
    // read the verdicts or rejects as events.
    for input in inputs {
        let dir = Path::new(input);
        let canonical_dir = dir
            .is_dir()
            .then(|| std::fs::canonicalize(dir).ok())
            .flatten();
        for (flag, path, id) in &outputs {
            let below = match &canonical_dir {
                Some(d) => crate::ingest::sources::would_be_read(&d.to_string_lossy(), id),
                // A glob, against the output as written, as its canonical path (an absolute
                // pattern), and as that path from the working directory (a relative one).
                None => {
                    let relative = std::env::current_dir()
                        .and_then(std::fs::canonicalize)
                        .ok()
                        .and_then(|cwd| id.strip_prefix(cwd).ok().map(Path::to_path_buf));
                    [Some(path.to_path_buf()), Some(id.clone()), relative]
                        .into_iter()
                        .flatten()
                        .any(|p| crate::ingest::sources::would_be_read(input, &p))
                }
            };
            if below && !id.exists() {
                return Err(Error::invalid(
                    *flag,
                    format!(
                        "{} is inside the input {input}: a later scan of it would read this file as events",
                        path.display()
                    ),
                ));
            }
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

    /// A FIFO (or a device) is written directly and stays what it is: a temporary file
    /// renamed over it replaced it with a regular file (`--rejects /dev/null` as root replaced
    /// the machine's `/dev/null`).
    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_written_as_it_is_not_replaced() {
        use std::io::{Read, Write};
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("rejects.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut got = String::new();
                std::fs::File::open(&fifo)
                    .unwrap()
                    .read_to_string(&mut got)
                    .unwrap();
                got
            })
        };
        let staged = Staged::new(&fifo).unwrap();
        assert_eq!(staged.path(), fifo.as_path());
        let mut f = staged.create(false).unwrap();
        f.write_all(b"row,reason\n").unwrap();
        drop(f);
        commit_all([Some(staged)]).unwrap();
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), "row,reason\n");
        // A link into `/proc` (what `/dev/stdout` is) is a process's stream, whatever it is
        // redirected to (a regular file, here): written through, the link kept.
        let link = dir.path().join("stdout.csv");
        std::os::unix::fs::symlink("/proc/self/fd/1", &link).unwrap();
        let staged = Staged::new(&link).unwrap();
        assert_eq!(staged.path(), link.as_path());
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A character device too (where the test may open one): `/dev/null` is left as it is.
        let null = Path::new("/dev/null");
        if std::fs::metadata(null).is_ok_and(|m| m.file_type().is_char_device()) {
            let staged = Staged::new(null).unwrap();
            staged.create(false).unwrap().write_all(b"x").unwrap();
            staged.commit_durably().unwrap();
            assert!(
                std::fs::metadata(null)
                    .unwrap()
                    .file_type()
                    .is_char_device()
            );
        }
    }

    #[test]
    fn durable_and_private_files_and_their_temporary_names() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.json");
        let s = Staged::new(&dest).unwrap();
        let name = s.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(is_temporary(&name), "{name}");
        let mut f = s.create(true).unwrap();
        std::io::Write::write_all(&mut f, b"{}").unwrap();
        drop(f);
        // a second writer of the same temporary name is refused, not interleaved
        assert!(Staged::new(&dest).unwrap().create(false).is_err());
        s.commit_durably().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for finished in [
            "a.json",
            ".hidden",
            ".a.tmp-",
            ".tmp",
            "x.tmp-12",
            ".a.tmp-1x",
            "..tmp-1",
        ] {
            assert!(!is_temporary(finished), "{finished}");
        }
        assert!(is_temporary(".tmp-a.json"));
        assert!(is_temporary(".out.csv.tmp-4242"));
    }

    #[test]
    fn outputs_never_name_an_input_or_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("e.csv");
        std::fs::write(&input, "x").unwrap();
        let inputs = [dir.path().to_string_lossy().into_owned()];
        let outside = tempfile::tempdir().unwrap();
        let other = outside.path().join("o.csv");
        let dotted = outside.path().join(".").join("o.csv");
        // Not there yet, but inside the input directory: the next scan would read it.
        let inside = dir.path().join("o.csv");
        let e = refuse_overwriting(&inputs, &[("--output", &inside)]).unwrap_err();
        assert!(e.to_string().contains("is inside the input"), "{e}");
        assert!(refuse_overwriting(&inputs, &[("--output", &dir.path().join("o.jsonl"))]).is_ok());
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
