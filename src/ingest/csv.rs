//! CSV reader: header row, canonical or mapped column names, one [`RawRow`] per record,
//! interpreted into an event or a reject reason.
//!
//! A file is read in parts that start between records (`ingest::csv_split` finds them), each
//! with its own reader: [`layout`] reads the header once for all of them, [`read`] reads one
//! byte range. A read error names the byte offset in the file.
//!
//! Records are read as bytes and interpreted field by field, so a malformed row is a counted
//! reject with its row number, never a failed file. Rows with missing trailing fields are
//! read with those fields null (they are then rejected only if a required one is missing);
//! a row with a non-empty field past the header's last column is `too_many_fields` (its
//! cells are not where the header says; empty extra fields, a trailing comma, are ignored).
//! A quoted field still open at the end of the file is an error naming its byte offset: the
//! reader would have made the rest of the file one cell of one rejected row.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::RowSink;
use crate::ingest::columns::{ColumnMap, resolve_required};
use crate::ingest::csv_split::{State, run, step};
use crate::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};
use crate::ingest::rejects::RejectReason;
use crate::ingest::sources::Codec;

/// Where the columns are in a file's records.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Which field of a record holds each canonical column (`columns::resolve_required`).
    pub fields: [Option<usize>; 7],
    /// Fields in the header record.
    pub width: usize,
}

/// Reads the header row of a CSV file and maps its names to the canonical columns; also
/// gives the byte offset where the header record ends (parts start after it: empty lines
/// before the header are skipped by the reader, so a line end there is no boundary).
pub fn layout(path: &Path, columns: &ColumnMap) -> Result<(Layout, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    layout_of(file, path, None, columns)
}

/// [`layout`] of a compressed CSV file ([`Format::CompressedCsv`](crate::ingest::Format));
/// the offset is one in the decompressed text.
pub fn compressed_layout(path: &Path, codec: Codec, columns: &ColumnMap) -> Result<(Layout, u64)> {
    layout_of(decoded(path, codec)?, path, Some(codec), columns)
}

fn layout_of(
    text: impl Read,
    path: &Path,
    codec: Option<Codec>,
    columns: &ColumnMap,
) -> Result<(Layout, u64)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text);
    let header = reader.byte_headers().map_err(|e| match (codec, e.kind()) {
        (Some(c), csv::ErrorKind::Io(_)) => Error::read(
            path,
            format!("header: the file is not readable as {}: {e}", c.name()),
        ),
        _ => Error::read(path, format!("header: {e}")),
    })?;
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    let names_ref: Vec<&str> = names.iter().map(String::as_str).collect();
    let fields = resolve_required(columns, &names_ref, path)?;
    let width = names.len();
    Ok((Layout { fields, width }, reader.position().byte()))
}

/// Reads the bytes `range` of a CSV file, sending each row's outcome to `rows` with its
/// number within the range (1-based). The range starts between records
/// (`ingest::csv_split`); the one that starts at byte 0 skips the header row.
pub fn read<R>(
    path: &Path,
    layout: &Layout,
    range: (u64, u64),
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    let (start, end) = range;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, e))?;
    let text = std::io::BufReader::with_capacity(1 << 20, file.take(end - start));
    let last_start = records(path, layout, text, start, false, interp, rows)?;
    if let Some(at) = last_start {
        unclosed_quote(path, at, end)?;
    }
    Ok(())
}

/// [`read`] of a whole compressed CSV file, decompressed as it is read; byte offsets in
/// errors are offsets in the decompressed text.
pub fn read_compressed<R>(
    path: &Path,
    codec: Codec,
    layout: &Layout,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    let mut text = Watched {
        inner: decoded(path, codec)?,
        state: State::Record,
    };
    let last_start = records(path, layout, &mut text, 0, true, interp, rows)?;
    match (text.state, last_start) {
        (State::Quoted, Some(at)) => Err(never_closed(
            path,
            &format!("in the record at byte {at} of the decompressed text"),
        )),
        _ => Ok(()),
    }
}

/// A part of a compressed file's decompressed text that starts and ends between records.
#[derive(Debug)]
pub struct TextPart {
    /// Offset of its first byte in the decompressed text.
    pub start: u64,
    /// The bytes.
    pub text: Vec<u8>,
}

/// [`read`] of a [`TextPart`] (not the file's last: [`CompressedParts::read_rest`] reads that).
pub fn read_part<R>(
    path: &Path,
    layout: &Layout,
    part: &TextPart,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<()>
where
    R: RowSink + ?Sized,
{
    records(
        path,
        layout,
        part.text.as_slice(),
        part.start,
        true,
        interp,
        rows,
    )
    .map(|_| ())
}

/// A compressed CSV file's text, decompressed and cut at record boundaries into parts that
/// other threads can read while it decompresses on: the compressed stream can only be read
/// from its start, but its records can be interpreted anywhere. Cuts are found as
/// `csv_split` finds them (the quote automaton, after the header's end), so each part is
/// read by a reader that starts between records, exactly as a whole-file reader would be.
pub struct CompressedParts {
    path: std::path::PathBuf,
    decoder: Box<dyn Read>,
    /// Decompressed bytes not yet handed out; they start between records.
    buf: Vec<u8>,
    /// Offset of `buf[0]` in the text.
    start: u64,
    /// Where the header record ends; no part starts before it.
    header_end: u64,
    part_bytes: usize,
    /// The stream is at its end.
    done: bool,
}

impl CompressedParts {
    /// Opens `path`; parts are about `part_bytes` long (`header_end` from
    /// [`compressed_layout`]).
    pub fn open(path: &Path, codec: Codec, header_end: u64, part_bytes: u64) -> Result<Self> {
        Ok(CompressedParts {
            path: path.to_owned(),
            decoder: decoded(path, codec)?,
            buf: Vec::new(),
            start: 0,
            header_end,
            part_bytes: usize::try_from(part_bytes).unwrap_or(usize::MAX).max(1),
            done: false,
        })
    }

    /// The next part, or `None` when what is left is the file's last part (read it with
    /// [`CompressedParts::read_rest`]): the stream ended, or no record ends within three
    /// parts' length (at least 192 KiB) past a part's length (a quoted field that long, or
    /// `\r` alone ending lines), which is then read in one go from the stream rather than
    /// held in memory.
    pub fn next_part(&mut self) -> Result<Option<TextPart>> {
        // Decompressed a block at a time, blocks growing with the buffer (64 KiB first: a
        // small file costs no large buffer).
        let most = self.part_bytes.clamp(1 << 16, 1 << 22);
        loop {
            let fill = self.buf.len().clamp(1 << 16, most);
            let min_cut = (self.part_bytes as u64)
                .max(self.header_end.saturating_sub(self.start))
                .min(usize::MAX as u64) as usize;
            if self.buf.len() > min_cut {
                let state = run(&self.buf[..min_cut], State::Record).0;
                if let Some(b) = run(&self.buf[min_cut..], state).1 {
                    let rest = self.buf.split_off(min_cut + b);
                    let text = std::mem::replace(&mut self.buf, rest);
                    let part = TextPart {
                        start: self.start,
                        text,
                    };
                    self.start += part.text.len() as u64;
                    return Ok(Some(part));
                }
                if self.buf.len() - min_cut > 3 * self.part_bytes.max(most) {
                    return Ok(None);
                }
            }
            if self.done {
                return Ok(None);
            }
            let have = self.buf.len();
            self.buf.resize(have + fill, 0);
            let mut n = 0;
            while n < fill {
                match self.decoder.read(&mut self.buf[have + n..]) {
                    Ok(0) => {
                        self.done = true;
                        break;
                    }
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let at = self.start + (have + n) as u64;
                        return Err(Error::read(
                            &self.path,
                            format!(
                                "the compressed data is damaged or cut short after byte {at} of the decompressed text: {e}"
                            ),
                        ));
                    }
                }
            }
            self.buf.truncate(have + n);
        }
    }

    /// Reads what [`CompressedParts::next_part`] did not hand out, from the bytes it holds
    /// and the rest of the stream: the file's last part. A quoted field still open at the
    /// end of the text is an error, as in [`read_compressed`].
    pub fn read_rest<R>(self, layout: &Layout, interp: &mut Interpreter, rows: &mut R) -> Result<()>
    where
        R: RowSink + ?Sized,
    {
        let mut text = Watched {
            inner: std::io::Cursor::new(self.buf).chain(self.decoder),
            state: State::Record,
        };
        let last_start = records(
            &self.path, layout, &mut text, self.start, true, interp, rows,
        )?;
        match (text.state, last_start) {
            (State::Quoted, Some(at)) => Err(never_closed(
                &self.path,
                &format!("in the record at byte {at} of the decompressed text"),
            )),
            _ => Ok(()),
        }
    }
}

/// The decompressed text of a compressed CSV file.
fn decoded(path: &Path, codec: Codec) -> Result<Box<dyn Read>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file = std::io::BufReader::with_capacity(1 << 20, file);
    Ok(match codec {
        Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Codec::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(file)
                .map_err(|e| Error::read(path, format!("zstd: {e}")))?,
        ),
    })
}

/// A reader that runs the CSV automaton over the bytes it passes on, so that the state at
/// the end of the text says whether a quoted field was left open.
struct Watched<R> {
    inner: R,
    state: State,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state = run(&buf[..n], self.state).0;
        Ok(n)
    }
}

/// Reads the records of `text`, which starts at byte `start` of the file, between records
/// (byte 0: the header comes first); `compressed`: it is the decompressed text of the file.
/// Gives the byte where the last record starts.
fn records<R, T>(
    path: &Path,
    layout: &Layout,
    text: T,
    start: u64,
    compressed: bool,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<Option<u64>>
where
    R: RowSink + ?Sized,
    T: Read,
{
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(start == 0)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(text);
    if start == 0 {
        reader
            .byte_headers()
            .map_err(|e| Error::read(path, format!("header: {e}")))?;
    }
    let idx = &layout.fields;
    let mut record = csv::ByteRecord::new();
    let mut row: u64 = 0;
    let mut last_start = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let message = match (e.position(), e.kind()) {
                    (None, csv::ErrorKind::Io(_)) if compressed && start == 0 => {
                        format!("the compressed data is damaged or cut short after row {row}: {e}")
                    }
                    (None, csv::ErrorKind::Io(_)) if compressed => format!(
                        "the compressed data is damaged or cut short after row {row} of the part \
                         from byte {start} of the decompressed text: {e}"
                    ),
                    (p, _) => {
                        let at = p.map_or(start, |p| start + p.byte());
                        let of = if compressed {
                            " of the decompressed text"
                        } else {
                            ""
                        };
                        format!("near byte {at}{of}: {e}")
                    }
                };
                return Err(Error::read(path, message));
            }
        }
        row += 1;
        last_start = record.position().map(|p| start + p.byte());
        if record.iter().skip(layout.width).any(|f| !f.is_empty()) {
            rows.row(row, Err(RejectReason::TooManyFields))?;
            continue;
        }
        let cell = |i: Option<usize>| -> Option<&str> {
            let b = record.get(i?)?;
            if b.is_empty() {
                return None;
            }
            Some(std::str::from_utf8(b).unwrap_or("\u{fffd}"))
        };
        let raw = RawRow {
            time: cell(idx[0]).map(TimeCell::Text),
            subscriber: cell(idx[1]),
            counterparty: cell(idx[2]),
            direction: cell(idx[3]),
            kind: cell(idx[4]),
            duration: cell(idx[5]).map(DurationCell::Text),
            region: cell(idx[6]),
            pre: Default::default(),
        };
        rows.row(row, interp.interpret(&raw))?;
    }
    Ok(last_start)
}

/// The error of a quoted field opened `where` and never closed.
fn never_closed(path: &Path, place: &str) -> Error {
    Error::read(
        path,
        format!(
            "the quoted field opened {place} is never closed: the rest of the file would be \
             one cell (an unterminated quote)"
        ),
    )
}

/// An error when the record starting at byte `at` runs to `end` inside a quoted field that
/// is never closed, and `end` is the end of the file: the `csv` reader takes the rest of the
/// file as one cell, which would hide every row after the quote behind one rejected row.
/// (A part of a file that ends before the file's end ends between records: `csv_split` cut
/// it there.) Runs the reader's automaton over the last record only.
fn unclosed_quote(path: &Path, at: u64, end: u64) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if end < len {
        return Ok(());
    }
    file.seek(SeekFrom::Start(at))
        .map_err(|e| Error::io(path, e))?;
    let (mut state, mut opened, mut pos) = (State::Record, None, at);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        for &b in &chunk[..n] {
            let next = step(state, b);
            if next == State::Quoted && state != State::Quoted && state != State::AfterQuote {
                opened = Some(pos);
            }
            state = next;
            pos += 1;
        }
    }
    match (state, opened) {
        (State::Quoted, Some(q)) => Err(never_closed(path, &format!("at byte {q}"))),
        _ => Ok(()),
    }
}
