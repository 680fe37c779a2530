//! Inputs -> the list of files to read: a file, a directory (recursive, hive-style
//! `key=value/` partitions allowed) or a glob pattern. The format follows the extension.
//!
//! A directory walk takes regular files only, and symlinks that lead to one: a FIFO, socket
//! or device with a data file's name (which would block a reader, or never end) is not a
//! data file, nor is one a glob matches. A symlinked directory is followed once: a directory met again (a link to itself
//! or an ancestor) is not walked again, so a link loop cannot trap the walk. A regular file in
//! a directory, or matched by a glob, whose name gives no known format (`part-0.csv.bz2`,
//! Hive's `000000_0`) is not read, and is listed ([`Expanded::unread`]) so that the run's
//! summary can say so, as is a symlink that leads to no file; hidden and `_`-prefixed files (`.crc` checksums, `_SUCCESS`) are a
//! writer's bookkeeping, not data, and are not listed.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The extensions [`Format::of`] knows, as messages name them.
pub const KNOWN_FORMATS: &str = ".parquet/.pq, .csv, .csv.gz/.csv.gzip, .csv.zst/.csv.zstd, .arrow/.ipc/.feather/.arrows (any case)";

/// A readable input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
    /// CSV with a header row, compressed as a whole (`.csv.gz`, `.csv.zst`): decompressed
    /// from start to end by one thread, as the stream allows, its records read by all.
    CompressedCsv(Codec),
    /// Arrow IPC file or stream (`.arrow`, `.ipc`, `.feather`).
    Ipc,
}

/// The compression of a [`Format::CompressedCsv`] file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// gzip (`.gz`, `.gzip`), one member or several concatenated (as `cat a.gz b.gz` or
    /// bgzip write).
    Gzip,
    /// Zstandard (`.zst`, `.zstd`), one frame or several.
    Zstd,
}

impl Codec {
    /// The codec's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }
}

impl Format {
    /// The format of a path, by extension (case-insensitive).
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        let codec = match ext.as_str() {
            "parquet" | "pq" => return Some(Format::Parquet),
            "csv" => return Some(Format::Csv),
            "arrow" | "ipc" | "feather" | "arrows" => return Some(Format::Ipc),
            "gz" | "gzip" => Codec::Gzip,
            "zst" | "zstd" => Codec::Zstd,
            _ => return None,
        };
        let inner = Path::new(path.file_stem()?).extension()?.to_str()?;
        inner
            .eq_ignore_ascii_case("csv")
            .then_some(Format::CompressedCsv(codec))
    }
}

/// The Parquet key-value metadata key under which a file records the engine zone its days
/// are meant in (`hotzone gen` writes it). CSV cannot carry it.
pub const ZONE_KEY: &str = "hotzone.tz";

/// What the inputs' files say about their zone ([`ZONE_KEY`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedZone {
    /// No file records a zone.
    None,
    /// Every file that records one records this zone (by name); `file` is the first of them.
    One {
        /// IANA name.
        zone: String,
        /// A file that records it.
        file: PathBuf,
    },
    /// Files disagree: two of them, with their zones.
    Conflict {
        /// A first file and its zone.
        first: (PathBuf, String),
        /// A file with another zone.
        second: (PathBuf, String),
    },
}

/// What a file's first bytes say it is, when they are a format's magic number: said when a
/// file named for one format fails to read as it (a `.csv.gz` renamed `.csv`, a Parquet file
/// named `.arrow`), with the name that reads it or why it is not read.
#[derive(Clone, Copy, Debug)]
pub struct Magic {
    /// The format read under another name (`None`: a format no name reads).
    pub format: Option<Format>,
    /// What it is and what to do, as "a Parquet file: name it .parquet to read it".
    pub what: &'static str,
}

/// The magic numbers [`magic_of`] knows.
const MAGIC: [(&[u8], Magic); 9] = [
    (
        b"\x1f\x8b",
        Magic {
            format: Some(Format::CompressedCsv(Codec::Gzip)),
            what: "gzip data (a CSV file compressed with gzip is read named .csv.gz)",
        },
    ),
    (
        b"\x28\xb5\x2f\xfd",
        Magic {
            format: Some(Format::CompressedCsv(Codec::Zstd)),
            what: "zstd data (a CSV file compressed with zstd is read named .csv.zst)",
        },
    ),
    (
        b"PAR1",
        Magic {
            format: Some(Format::Parquet),
            what: "a Parquet file: name it .parquet to read it",
        },
    ),
    (
        b"ARROW1",
        Magic {
            format: Some(Format::Ipc),
            what: "an Arrow IPC file: name it .arrow to read it",
        },
    ),
    (
        b"\xff\xff\xff\xff",
        Magic {
            format: Some(Format::Ipc),
            what: "an Arrow IPC stream: name it .arrows to read it",
        },
    ),
    (
        b"FEA1",
        Magic {
            format: None,
            what: "a Feather version 1 file, which is not read: write it again as Feather version 2 (pyarrow.feather.write_feather's default) or Arrow IPC",
        },
    ),
    (
        b"PK\x03\x04",
        Magic {
            format: None,
            what: "a zip archive, which is not read: extract the file from it",
        },
    ),
    (
        b"BZh",
        Magic {
            format: None,
            what: "bzip2 data, which is not read: decompress it, or compress it with gzip or zstd",
        },
    ),
    (
        b"\xfd7zXZ\x00",
        Magic {
            format: None,
            what: "xz data, which is not read: decompress it, or compress it with gzip or zstd",
        },
    ),
];

/// The [`Magic`] of the file at `path`, if its first bytes are one and the bytes after them
/// are no text (a byte that is neither UTF-8 nor a printable character or line end within
/// the first 64): a CSV header that happens to start `PAR1,` or `BZhandle,` is text, and its
/// own error stands. `None` too when the file cannot be read (the reading's error says why).
pub fn magic_of(path: &Path) -> Option<Magic> {
    use std::io::Read;
    let mut head = [0u8; 64];
    let mut file = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let head = &head[..n];
    let control = head
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    // Bytes that are not UTF-8 (a character cut at the end of the 64 is no sign).
    let not_utf8 = std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some());
    if !(control || not_utf8) {
        return None;
    }
    MAGIC
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, m)| *m)
}

/// Reads the zone recorded in the inputs' Parquet footers (other formats record none).
pub fn recorded_zone(inputs: &[String]) -> Result<RecordedZone> {
    let mut found = RecordedZone::None;
    for (path, format) in expand(inputs)? {
        // A file of no bytes is no Parquet file, and holds no rows (`ingest` reads none).
        if format != Format::Parquet || std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            continue;
        }
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let meta = super::claims::parquet_footer(&path, &file)?;
        let zone = meta
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == ZONE_KEY))
            .and_then(|k| k.value.clone());
        let Some(zone) = zone else { continue };
        match &found {
            RecordedZone::None => found = RecordedZone::One { zone, file: path },
            RecordedZone::One { zone: z, file } if *z != zone => {
                return Ok(RecordedZone::Conflict {
                    first: (file.clone(), z.clone()),
                    second: (path, zone),
                });
            }
            _ => {}
        }
    }
    Ok(found)
}

/// The files of some inputs: those to read, and those their directories hold but that are not
/// read (no known format).
#[derive(Debug, Default)]
pub struct Expanded {
    /// The files to read, sorted, each once.
    pub files: Vec<(PathBuf, Format)>,
    /// Regular files below an input directory or matched by a glob whose name gives no known
    /// format, sorted.
    pub unread: Vec<PathBuf>,
}

/// Expands every input into files, sorted and deduplicated (by the file they lead to, so a
/// file named twice in different ways is read once). A directory contributes the
/// files with a known extension below it (hidden and `_`-prefixed files such as `_SUCCESS`
/// are skipped); a file named explicitly must have a known extension.
pub fn expand(inputs: &[String]) -> Result<Vec<(PathBuf, Format)>> {
    Ok(expand_all(inputs)?.files)
}

/// Why an input gives no file to read: `what` ("the glob matches", "the directory holds")
/// no readable file, only `skipped` of no known format.
fn no_readable_file(what: &str, skipped: &[PathBuf]) -> String {
    match skipped {
        [] => format!("{what} no readable file"),
        [one, ..] => format!(
            "{what} no readable file, only {} of no known format (such as {}; expected {KNOWN_FORMATS})",
            skipped.len(),
            crate::model::shown::shown_path(one)
        ),
    }
}

/// Why an input that is neither a directory, nor a regular file, nor a glob cannot be read:
/// what it is (a link is followed, and named).
fn not_a_data_file(path: &Path) -> Error {
    let link = std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_symlink())
        .then(|| std::fs::read_link(path).ok())
        .flatten();
    let through = link
        .as_ref()
        .map(|t| format!("a symbolic link to {}: ", t.display()))
        .unwrap_or_default();
    let why = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && link.is_some() => {
            format!("{through}which does not exist")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "no such file or directory, and no glob".to_owned()
        }
        Err(e) => format!("{through}{e}"),
        Ok(m) => {
            #[cfg(unix)]
            let kind = {
                use std::os::unix::fs::FileTypeExt;
                let t = m.file_type();
                if t.is_fifo() {
                    "a named pipe (FIFO)"
                } else if t.is_socket() {
                    "a socket"
                } else if t.is_block_device() || t.is_char_device() {
                    "a device"
                } else {
                    "not a regular file"
                }
            };
            #[cfg(not(unix))]
            let kind = {
                let _ = m;
                "not a regular file"
            };
            format!(
                "{through}{kind}, not a data file: inputs are read more than once (a header, \
                 then parts), so a stream must be saved to a file first"
            )
        }
    };
    Error::read(path, why)
}

/// [`expand`], with the files below the input directories that are not read.
pub fn expand_all(inputs: &[String]) -> Result<Expanded> {
    expand_with(inputs, true)
}

/// The files of a server's data directory and those not read, as a scan's directory
/// input gives them, except that a directory with no readable file is an empty one (the
/// server serves no data, and says which files it did not read), not an error.
pub fn expand_data_dir(dir: &Path) -> Result<Expanded> {
    expand_with(&[dir.to_string_lossy().into_owned()], false)
}

/// [`expand_all`]; `strict`: a directory holding files, none readable, is an error.
fn expand_with(inputs: &[String], strict: bool) -> Result<Expanded> {
    let mut out = Vec::new();
    let mut unread = Vec::new();
    let mut named_prepared = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let (before, unread_before) = (out.len(), unread.len());
            walk(path, &mut out, &mut unread)?;
            // Files, none of them readable (`.csv.bz2` parts, Hive's `000000_0`): an error, not
            // a run that reads nothing and succeeds. A directory with no file at all is an
            // empty input (no rows, no window).
            if strict && out.len() == before && unread.len() > unread_before {
                return Err(Error::read(
                    path,
                    no_readable_file("the directory holds", &unread[unread_before..]),
                ));
            }
        } else if path.is_file() && crate::index::persist::is_prepared(path) {
            named_prepared.push(path.to_owned());
        } else if path.is_file() {
            let f = Format::of(path).ok_or_else(|| {
                let hzi = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("hzi"));
                let size = std::fs::metadata(path).map_or(0, |m| m.len());
                Error::read(
                    path,
                    if hzi {
                        format!(
                            "not a prepared file: it does not start as one ({size} bytes; empty, cut short, or another file named .hzi?)"
                        )
                    } else {
                        format!(
                            "unknown format: expected {KNOWN_FORMATS} (scan also takes one file hotzone prepare wrote, alone)"
                        )
                    },
                )
            })?;
            out.push((path.to_owned(), f));
        } else if input.contains(['*', '?', '[']) {
            let paths = glob::glob(input)
                .map_err(|e| Error::invalid("INPUT", format!("bad glob {input:?}: {e}")))?;
            let (before, unread_before) = (out.len(), unread.len());
            for p in paths {
                let p = p.map_err(|e| Error::io(e.path(), std::io::Error::other(e.to_string())))?;
                // As in a directory walk: hidden and `_` names are a writer's bookkeeping
                // (`_temporary/`, `.hive-staging…`, `_SUCCESS`) and skipped, files and
                // directories alike; regular files (or links to one) only; a name of no
                // known format is listed, not silently passed over.
                if glob_bookkeeping(input, &p) {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, &mut out, &mut unread)?;
                } else if p.is_file() {
                    match Format::of(&p) {
                        Some(f) => out.push((p, f)),
                        None => unread.push(p),
                    }
                } else if !p.exists() && p.is_symlink() {
                    unread.push(p); // a link that leads nowhere, as in a directory walk
                }
            }
            if out.len() == before {
                let why = no_readable_file("the glob matches", &unread[unread_before..]);
                return Err(Error::read(path, why));
            }
        } else {
            return Err(not_a_data_file(path));
        }
    }
    // A prepared file under an export's name (`prepare --output out.csv`, or found in a
    // directory of exports) read as that export stopped with its binary bytes quoted: it is
    // named for what it is, or, in a server's data directory, not read.
    let (prepared, exports): (Vec<_>, Vec<_>) =
        (out.into_iter()).partition(|(p, _)| crate::index::persist::is_prepared(p));
    out = exports;
    let mut prepared: Vec<PathBuf> = prepared.into_iter().map(|(p, _)| p).collect();
    prepared.extend(named_prepared);
    if let Some(p) = prepared.first()
        && strict
    {
        return Err(Error::read(
            p,
            "is a prepared file (`hotzone prepare`), not an export: a scan reads one prepared \
             file alone, not with other inputs or among exports, and `prepare` reads exports \
             only (prepare the exports together instead)",
        ));
    }
    unread.extend(prepared);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out = once_each(out);
    unread.sort();
    unread.dedup();
    Ok(Expanded { files: out, unread })
}

/// A hidden or `_`-prefixed file (`.crc` checksums, `_SUCCESS`): a writer's bookkeeping.
fn bookkeeping(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

/// True when a path the glob `pattern` matched is, or lies below, a writer's bookkeeping (a
/// hidden or `_`-prefixed name) that the pattern does not name itself: `out/**/*.csv` passes
/// over `out/_temporary/0/part-0.csv` and `out/.spark-staging/part-0.csv`, as the directory
/// `out` does. Only the names below the pattern's literal leading directories count (a
/// pattern under `~/.cache/` reads there).
fn glob_bookkeeping(pattern: &str, matched: &Path) -> bool {
    use std::path::Component;
    let normal = |p: &Path| -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_owned()),
                _ => None,
            })
            .collect()
    };
    let pattern_names = normal(Path::new(pattern));
    let literal = pattern_names
        .iter()
        .take_while(|n| !n.to_string_lossy().contains(['*', '?', '[']))
        .count();
    // A pattern component that starts with `.` or `_` asks for such names (`_2024-*`).
    let asked: Vec<glob::Pattern> = (pattern_names.iter())
        .map(|n| n.to_string_lossy())
        .filter(|n| n.starts_with(['.', '_']))
        .filter_map(|n| glob::Pattern::new(&n).ok())
        .collect();
    normal(matched).iter().skip(literal).any(|name| {
        let text = name.to_string_lossy();
        text.starts_with(['.', '_']) && !asked.iter().any(|p| p.matches(&text))
    })
}

/// One file named twice (`d` and `/abs/d/e.csv`, a symlink to it, a hard link to it) is read
/// once: its rows counted twice would change verdicts. Names are the same file when they
/// reach the same device and inode (Unix; elsewhere the same canonical path). It keeps a name
/// that reaches it through no link, else the first in `files`' order (of two hard links, the
/// one that sorts first). A server's ingest names the file it writes so; a symlink to that
/// file that sorts before it, kept instead, left the ingest's segment beside a base that read
/// the same rows through the link (and the loader drops a segment whose file a rebuilt base
/// read under another name, a hard link's).
fn once_each<T>(files: Vec<(PathBuf, T)>) -> Vec<(PathBuf, T)> {
    use std::collections::hash_map::Entry;
    let canonical: Vec<PathBuf> = files
        .iter()
        .map(|(p, _)| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let direct = |i: usize| std::path::absolute(&files[i].0).is_ok_and(|a| a == canonical[i]);
    let mut kept: std::collections::HashMap<FileId, usize> = Default::default();
    for (i, c) in canonical.iter().enumerate() {
        match kept.entry(FileId::of(c)) {
            Entry::Vacant(v) => {
                v.insert(i);
            }
            Entry::Occupied(mut o) => {
                if !direct(*o.get()) && direct(i) {
                    o.insert(i);
                }
            }
        }
    }
    let kept: std::collections::HashSet<usize> = kept.into_values().collect();
    (files.into_iter().enumerate())
        .filter(|(i, _)| kept.contains(i))
        .map(|(_, f)| f)
        .collect()
}

/// What makes two names one file: its device and inode (Unix), with its length and
/// modification time (the same for every name of one inode; a file system whose inode numbers
/// are not unique, as some network and FUSE mounts', would otherwise make two files one),
/// else its canonical path (a file that cannot be looked at is known by that path alone).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum FileId {
    Inode(u64, u64, u64, i64, i64),
    Path(PathBuf),
}

impl FileId {
    fn of(canonical: &Path) -> FileId {
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(canonical) {
            use std::os::unix::fs::MetadataExt;
            let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
            return FileId::Inode(dev, ino, len, meta.mtime(), meta.mtime_nsec());
        }
        FileId::Path(canonical.to_owned())
    }
}

/// True when a file at `path` would be read by a scan of the input `input` (a directory it
/// lies below, or a glob that matches it or a directory above it) that does not read it now:
/// what a command's output written there would become at the next run. A directory `input`
/// and `path` are compared as given (callers pass canonical forms); a glob matches `path` as
/// it is spelled (callers try the spellings the glob may use).
pub fn would_be_read(input: &str, path: &Path) -> bool {
    if Format::of(path).is_none() {
        return false;
    }
    let dir = Path::new(input);
    if dir.is_dir() {
        return path.strip_prefix(dir).is_ok_and(|rest| {
            !rest.components().any(|c| {
                let n = c.as_os_str().to_string_lossy();
                n.starts_with('.') || n.starts_with('_')
            })
        });
    }
    // As `glob::glob` matches: one component per pattern component (`*` never crosses a
    // `/`); a matched directory is walked whole.
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    input.contains(['*', '?', '['])
        && glob::Pattern::new(input)
            .is_ok_and(|p| path.ancestors().any(|a| p.matches_path_with(a, options)))
        && !glob_bookkeeping(input, path)
}

/// Adds the data files under `dir` to `out`. A symlink to a directory is followed (a table
/// whose partitions are links), once: a directory met again, through a link to itself or to
/// an ancestor, is not read again.
fn walk(dir: &Path, out: &mut Vec<(PathBuf, Format)>, unread: &mut Vec<PathBuf>) -> Result<()> {
    walk_once(dir, out, unread, &mut std::collections::HashSet::new())
}

fn walk_once(
    dir: &Path,
    out: &mut Vec<(PathBuf, Format)>,
    unread: &mut Vec<PathBuf>,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    if !seen.insert(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())) {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if bookkeeping(&path) {
            continue;
        }
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        let linked_dir = ft.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        if ft.is_dir() || linked_dir {
            walk_once(&path, out, unread, seen)?;
            continue;
        }
        // Regular files only (a symlink counts when it leads to one): a FIFO, a socket or a
        // device named `x.csv` would block a reader, or never end (`/dev/zero`).
        let regular = ft.is_file()
            || (ft.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()));
        // A link that leads nowhere (its file moved or deleted, a loop) is no file to read,
        // but may have been data: listed, never passed over in silence.
        let dangling = ft.is_symlink() && std::fs::metadata(&path).is_err();
        match Format::of(&path) {
            Some(f) if regular => out.push((path, f)),
            None if regular => unread.push(path),
            _ if dangling => unread.push(path),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every extension the messages name is read, in any case, and is all `Format::of` reads.
    #[test]
    fn the_formats_messages_name_are_those_read() {
        let named: Vec<&str> = (KNOWN_FORMATS.trim_end_matches(" (any case)").split(", "))
            .flat_map(|f| f.split('/'))
            .map(|ext| ext.trim_start_matches('.'))
            .collect();
        assert_eq!(named.len(), 11, "{named:?}");
        for ext in &named {
            for name in [format!("a.{ext}"), format!("a.{}", ext.to_uppercase())] {
                assert!(Format::of(Path::new(&name)).is_some(), "{name}");
            }
        }
        for other in ["a.csv.bz2", "a.json", "a.txt", "000000_0", "a.gz"] {
            assert!(Format::of(Path::new(other)).is_none(), "{other}");
        }
    }

    #[test]
    fn a_glob_passes_over_bookkeeping_below_its_literal_directories_unless_it_asks_for_it() {
        let skipped = |pattern: &str, path: &str| glob_bookkeeping(pattern, Path::new(path));
        assert!(skipped("out/**/*.csv", "out/_temporary/0/part-0.csv"));
        assert!(skipped("out/*/*.csv", "out/.spark-staging/part-0.csv"));
        assert!(skipped("out/*", "out/_SUCCESS"));
        assert!(!skipped("out/**/*.csv", "out/day=1/part-0.csv"));
        // Named by the pattern, literally or by a component that starts so.
        assert!(!skipped(
            "out/_temporary/*/*.csv",
            "out/_temporary/0/part-0.csv"
        ));
        assert!(!skipped("exports/_2024-*/*.csv", "exports/_2024-01/a.csv"));
        assert!(!skipped("logs/.arch*/x.csv", "logs/.archive/x.csv"));
        // Hidden directories above the pattern's wildcards are where it reads.
        assert!(!skipped(
            "/home/u/.cache/data/*.csv",
            "/home/u/.cache/data/a.csv"
        ));
        assert!(!skipped("../d/*/*.csv", "../d/x/a.csv"));
        assert!(skipped("../d/*/*.csv", "../d/_x/a.csv"));
    }

    #[test]
    fn an_output_is_read_next_time_when_a_glob_would_match_it_or_a_directory_above_it() {
        let read = |input: &str, path: &str| would_be_read(input, Path::new(path));
        assert!(read("data/*.csv", "data/v.csv"));
        assert!(read("data/*", "data/out/v.csv")); // `data/out` is matched, and walked
        assert!(read("data/**/*.csv", "data/out/v.csv"));
        // `*` does not cross a `/`, as `glob::glob` reads it.
        assert!(!read("data/*.csv", "data/out/v.csv"));
        assert!(!read("data/*.csv", "data/v.jsonl")); // no readable format
        assert!(!read("data/*", "data/_tmp/v.csv")); // bookkeeping
        assert!(!read("other/*.csv", "data/v.csv"));
    }
}
