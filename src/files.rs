//! The small files a command is pointed at by name (its configuration, a hotzones file, TLS
//! certificates and keys): read whole, bounded in size and in waiting.
//!
//! Reading a FIFO waits for a writer that may never come (`serve --config FIFO` hung at
//! start), and a device such as `/dev/zero` never ends. A pipe is still a common way to hand
//! a configuration over (`--config <(envsubst < tmpl.toml)`, `--hotzones-file /dev/stdin`),
//! so [`read`] takes one, waiting at most [`PIPE_WAIT`] for it to be written and closed; a
//! directory is an error, and so is anything past [`MAX_BYTES`]. Files that are read more
//! than once (TLS certificates and keys, parsed before the start and again by the TLS layer)
//! must be regular files ([`regular`]). (Data inputs have their own rule: a directory walk
//! passes over what is not a regular file, `ingest::sources`.)

use std::io::{Error, ErrorKind, Read, Result};
use std::path::Path;
use std::time::Duration;

/// Longest wait for a pipe or device to give its whole text.
pub const PIPE_WAIT: Duration = Duration::from_secs(10);

/// Largest file read (16 MiB: a configuration, hotzones or PEM file is a few KiB).
pub const MAX_BYTES: u64 = 16 << 20;

/// `Ok` when `path` is a regular file or a symlink to one; else an error saying what it is.
pub fn regular(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "a FIFO, socket or device"
    };
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!("is {what}, not a regular file"),
    ))
}

/// The bytes of `path`: a regular file, or a pipe or device written and closed within
/// [`PIPE_WAIT`]; at most [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "is a directory, not a file",
        ));
    }
    if meta.is_file() {
        return bounded(std::fs::File::open(path)?);
    }
    // Opening a FIFO waits for its writer, and reading waits for the writer to close: both
    // in a thread, which is left behind (blocked) if nothing comes, as the caller then stops.
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = path.to_owned();
    std::thread::Builder::new()
        .name("hotzone-pipe-read".to_owned())
        .spawn(move || {
            let _ = tx.send(std::fs::File::open(&owned).and_then(bounded));
        })?;
    rx.recv_timeout(PIPE_WAIT).unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::TimedOut,
            format!(
                "is a FIFO or device that gave no whole text within {} s (no writer?)",
                PIPE_WAIT.as_secs()
            ),
        ))
    })
}

/// [`read`] as text.
pub fn read_to_string(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "is not UTF-8 text"))
}

/// All of `f`, refused past [`MAX_BYTES`].
fn bounded(f: std::fs::File) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    f.take(MAX_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("is larger than {} MiB", MAX_BYTES >> 20),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_pipes_are_read_directories_and_endless_devices_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        assert_eq!(read_to_string(&file).unwrap(), "x = 1\n");
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"x = 1\n");
        regular(&link).unwrap();
        // A FIFO that a writer fills and closes is read (`<(…)`).
        let fifo = dir.path().join("f.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(fifo, "y = 2\n").unwrap())
        };
        assert_eq!(read_to_string(&fifo).unwrap(), "y = 2\n");
        writer.join().unwrap();
        let e = regular(&fifo).unwrap_err().to_string();
        assert!(
            e.contains("FIFO") && e.contains("not a regular file"),
            "{e}"
        );
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        // A device that never ends is cut at the size bound.
        let e = read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(e.contains("larger than 16 MiB"), "{e}");
        assert_eq!(
            read(&dir.path().join("missing")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
