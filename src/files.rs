//! The small files a command is pointed at by name (its configuration, a hotzones file, TLS
//! certificates and keys) are read only when they are regular files.
//!
//! Reading a FIFO waits for a writer that may never come, and a device or directory is no
//! configuration: `serve --config FIFO` hung at start, and so did a FIFO given as a
//! certificate. Such a path is an error naming it. (Data inputs have their own rule: a
//! directory walk passes over what is not a regular file, `ingest::sources`.)

use std::io::{Error, ErrorKind, Result};
use std::path::Path;

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

/// [`std::fs::read`] of a regular file ([`regular`]).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    regular(path)?;
    std::fs::read(path)
}

/// [`std::fs::read_to_string`] of a regular file ([`regular`]).
pub fn read_to_string(path: &Path) -> Result<String> {
    regular(path)?;
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        assert_eq!(read_to_string(&file).unwrap(), "x = 1\n");
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read(&link).unwrap(), b"x = 1\n");
        let fifo = dir.path().join("f.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        // Refused at once (reading it would wait for a writer for ever).
        let e = read_to_string(&fifo).unwrap_err().to_string();
        assert!(
            e.contains("FIFO") && e.contains("not a regular file"),
            "{e}"
        );
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        assert_eq!(
            read(&dir.path().join("missing")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
