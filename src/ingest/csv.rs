//! CSV reader: header row, canonical or mapped column names, one [`RawRow`] per record,
//! interpreted into an event or a reject reason.
//!
//! A file is read in parts that start between records (`ingest::csv_split` finds them), each
//! with its own reader: [`layout`] reads the header once for all of them, [`read`] reads one
//! byte range. A read error names the byte offset in the file.
//!
//! Lines with no stray carriage return whose quotes, if any, each enclose a whole field
//! (nearly all of every export, whether it quotes no field, its text fields or every field)
//! are split here; the first other line (an escaped quote, a line end inside a quoted field)
//! and the rest of its part go through the `csv` crate, which gives such a line the same
//! fields (`records`).
//!
//! Records are read as bytes and interpreted field by field, so a malformed row is a counted
//! reject with its row number, never a failed file. Rows with missing trailing fields are
//! read with those fields null (they are then rejected only if a required one is missing);
//! a row with a non-empty field past the header's last column is `too_many_fields` (its
//! cells are not where the header says; empty extra fields, a trailing comma, are ignored).
//! A quoted field still open at the end of the file is an error naming its byte offset: the
//! reader would have made the rest of the file one cell of one rejected row.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::ingest::RowSink;
use crate::ingest::columns::{ColumnMap, resolve_required};
use crate::ingest::csv_split::{State, run, step};
use crate::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};
use crate::ingest::partitions::Partitions;
use crate::ingest::rejects::RejectReason;
use crate::ingest::sources::{Codec, Format, magic_of};

/// Where the columns are in a file's records.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Which field of a record holds each canonical column (`columns::resolve_required`);
    /// from `width` on, the value of a `key=value` directory ([`Layout::fixed`]).
    pub fields: [Option<usize>; 7],
    /// Fields in the header record.
    pub width: usize,
    /// The values of the `key=value` directories whose columns the file takes
    /// ([`partitions`](crate::ingest::partitions)): field `width + k` of every record is
    /// `fixed[k]` (`None`: a null cell).
    pub fixed: Vec<Option<String>>,
    /// Where the header record ends (parts start after it: empty lines before the header are
    /// skipped by the reader, so a line end there is no boundary).
    pub header_end: u64,
    /// The byte that separates fields: a comma, or the `;`, tab or `|` that splits the header
    /// into the required columns when the comma does not ([`layout`]).
    pub sep: u8,
}

impl Layout {
    /// How many canonical columns the file's own fields fill (not `key=value` directories).
    fn own_fields(&self) -> usize {
        self.fields
            .iter()
            .filter(|i| i.is_some_and(|i| i < self.width))
            .count()
    }

    /// The cells every record has before its fields are read: the values of the `key=value`
    /// directories the file takes ([`Layout::fixed`]), none for the other columns.
    pub fn fixed_cells(&self) -> [Option<&str>; 7] {
        self.fields.map(|i| match i {
            Some(i) if i >= self.width => self.fixed.get(i - self.width)?.as_deref(),
            _ => None,
        })
    }
}

/// The separators tried, in order, on a header that commas do not split into the required
/// columns.
pub const OTHER_SEPARATORS: [u8; 3] = [b';', b'\t', b'|'];

/// Reads the header row of a CSV file and maps its names to the canonical columns.
///
/// Fields are separated by commas. A header that does not give the required columns when
/// split so and holds a `;`, a tab or a `|` is split by that byte instead, the first of them
/// that gives the required columns: the file is read separated by it (European spreadsheets
/// write `;`, databases export tab- or pipe-separated text). A file that is not a CSV file
/// of the required columns either way stays an error, naming the columns it was split into.
pub fn layout(path: &Path, columns: &ColumnMap) -> Result<Layout> {
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    // A file whose first bytes are another format's magic number (a `.csv.gz` renamed
    // `.csv`) is said to be that, rather than a header of one column "holding a tab".
    layout_of(open, path, None, columns).map_err(|e| match magic_of(path) {
        Some(m) if m.format != Some(Format::Csv) => {
            Error::read(path, format!("not CSV text: it is {}", m.what))
        }
        _ => e,
    })
}

/// [`layout`] of a compressed CSV file ([`Format::CompressedCsv`](crate::ingest::Format));
/// its `header_end` is an offset in the decompressed text.
pub fn compressed_layout(path: &Path, codec: Codec, columns: &ColumnMap) -> Result<Layout> {
    // Another codec's data, or another format, under this codec's name (zstd data named
    // `.csv.gz`) is said to be what it is, as [`layout`] says it of a plain name.
    layout_of(|| decoded(path, codec), path, Some(codec), columns).map_err(|e| {
        match magic_of(path) {
            Some(m) if m.format != Some(Format::CompressedCsv(codec)) => {
                Error::read(path, format!("not {} data: it is {}", codec.name(), m.what))
            }
            _ => e,
        }
    })
}

/// [`layout`] of the text `open` gives (from its start, each call).
fn layout_of<T: Read>(
    open: impl Fn() -> Result<T>,
    path: &Path,
    codec: Option<Codec>,
    columns: &ColumnMap,
) -> Result<Layout> {
    let (comma_error, names) = match header_layout(open()?, path, codec, columns, b',') {
        (Ok(layout), _) if layout.fixed.is_empty() => return Ok(layout),
        // `key=value` directories filled columns the comma split lacks: they may be what
        // let a `;` header pass, so the file's own header decides. The split that takes the
        // most columns from the file itself is read (the comma's on a tie).
        (Ok(layout), names) => {
            let header = names.join(",");
            let mut best = layout;
            for sep in OTHER_SEPARATORS
                .into_iter()
                .filter(|s| header.contains(char::from(*s)))
            {
                if let (Ok(other), _) = header_layout(open()?, path, codec, columns, sep)
                    && other.own_fields() > best.own_fields()
                {
                    best = other;
                }
            }
            return Ok(best);
        }
        (Err(e), names) if !names.is_empty() => (e, names),
        (Err(e), _) => return Err(e),
    };
    // A header holding a separator may hold commas too (a name written `Dauer, gerundet` in
    // a `;` file): every separator it holds is tried, and when none gives the required
    // columns the error is that of the split into the most columns (the comma's on a tie).
    let header = names.join(",");
    let mut best = (names.len(), comma_error);
    for sep in OTHER_SEPARATORS
        .into_iter()
        .filter(|s| header.contains(char::from(*s)))
    {
        match header_layout(open()?, path, codec, columns, sep) {
            (Ok(layout), _) => return Ok(layout),
            (Err(e), split) if split.len() > best.0 => best = (split.len(), e),
            _ => {}
        }
    }
    Err(best.1)
}

/// The layout of a text's header split by `sep`, with the header's names (none when the
/// header could not be read).
fn header_layout(
    text: impl Read,
    path: &Path,
    codec: Option<Codec>,
    columns: &ColumnMap,
    sep: u8,
) -> (Result<Layout>, Vec<String>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(sep)
        .from_reader(text);
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let e = match (codec, e.kind()) {
                (Some(c), csv::ErrorKind::Io(_)) => Error::read(
                    path,
                    format!("header: the file is not readable as {}: {e}", c.name()),
                ),
                _ => Error::read(path, format!("header: {e}")),
            };
            return (Err(e), Vec::new());
        }
    };
    // A file of no bytes at all (Spark and Hive write one for an empty partition) holds no
    // rows and names no columns: an empty input, not a file without its required columns.
    if header.is_empty() && reader.position().byte() == 0 {
        let layout = Layout {
            fields: [None; 7],
            width: 0,
            fixed: Vec::new(),
            header_end: 0,
            sep,
        };
        return (Ok(layout), Vec::new());
    }
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
    // A header of blank names keeps its own error ("the file names no column"): directories
    // do not make it a header of their keys.
    let blank = names_ref.iter().all(|n| n.trim().is_empty());
    let parts = match blank {
        true => Partitions::default(),
        false => Partitions::of(path, &names_ref, columns),
    };
    let layout = resolve_required(columns, &parts.after(&names_ref), path).map(|fields| Layout {
        fields,
        width: names.len(),
        fixed: parts.values().map(|v| v.map(str::to_owned)).collect(),
        header_end: reader.position().byte(),
        sep,
    });
    (layout, names)
}

/// Reads the bytes `range` of a CSV file, sending each row's outcome to `rows` with its
/// number within the range (1-based). The range starts between records, or is read as if
/// it did (`ingest::csv_split`); the one that starts at byte 0 skips the header row.
///
/// Returns whether the range ends between records when read from such a start (the
/// quote automaton is not inside a quoted field after its last byte): what checks that the
/// next part of a guessed cut starts between records. A file that is shorter than `range`
/// says is an error (it changed since it was cut).
pub fn read<R>(
    path: &Path,
    layout: &Layout,
    range: (u64, u64),
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<bool>
where
    R: RowSink + ?Sized,
{
    let (start, end) = range;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, e))?;
    let mut part = file.take(end - start);
    let text = std::io::BufReader::with_capacity(1 << 20, &mut part);
    let (last_start, state, _) = records(path, layout, text, start, false, interp, rows)?;
    if part.limit() > 0 {
        return Err(Error::read(path, "the file changed while it was read"));
    }
    if let Some(at) = last_start {
        unclosed_quote(path, at, end, layout.sep)?;
    }
    Ok(state != State::Quoted)
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
    let text = decoded(path, codec)?;
    let (_, _, opened) = records(path, layout, text, 0, true, interp, rows)?;
    match opened {
        Some(at) => Err(never_closed(
            path,
            &format!("at byte {at} of the decompressed text"),
        )),
        None => Ok(()),
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
    .map(drop)
}

/// A compressed CSV file's text, decompressed and cut at record boundaries into parts that
/// other threads can read while it decompresses on: the compressed stream can only be read
/// from its start, but its records can be interpreted anywhere. Cuts are found as
/// `csv_split` finds them (the quote automaton, after the header's end), so each part is
/// read by a reader that starts between records, exactly as a whole-file reader would be.
pub struct CompressedParts {
    path: std::path::PathBuf,
    decoder: Box<dyn Read>,
    /// Compressed bytes the decoder has taken.
    consumed: Arc<AtomicU64>,
    /// Decompressed bytes not yet handed out; they start between records.
    buf: Vec<u8>,
    /// Offset of `buf[0]` in the text.
    start: u64,
    /// Where the header record ends; no part starts before it.
    header_end: u64,
    /// The file's separator ([`Layout::sep`]).
    sep: u8,
    part_bytes: usize,
    /// The stream is at its end.
    done: bool,
}

impl CompressedParts {
    /// Opens `path`; parts are about `part_bytes` long (`layout` from
    /// [`compressed_layout`]).
    pub fn open(path: &Path, codec: Codec, layout: &Layout, part_bytes: u64) -> Result<Self> {
        let consumed = Arc::default();
        Ok(CompressedParts {
            path: path.to_owned(),
            decoder: decoded_counting(path, codec, Arc::clone(&consumed))?,
            consumed,
            buf: Vec::new(),
            start: 0,
            header_end: layout.header_end,
            sep: layout.sep,
            part_bytes: usize::try_from(part_bytes).unwrap_or(usize::MAX).max(1),
            done: false,
        })
    }

    /// The compressed bytes that `text` decompressed text bytes came from, at the rate of
    /// the stream so far (every byte decoded against every byte the decoder took): what a
    /// part weighs in the compressed file, for a reader's estimate of the rows to come.
    pub fn compressed_share(&self, text: u64) -> u64 {
        let decoded = u128::from(self.start) + self.buf.len() as u128;
        let taken = u128::from(self.consumed.load(Ordering::Relaxed));
        let share = u128::from(text) * taken / decoded.max(1);
        u64::try_from(share).unwrap_or(u64::MAX)
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
                // The reader is between records at the header's end (the automaton starts
                // there: a byte order mark before the header is not the reader's text).
                let from = usize::try_from(self.header_end.saturating_sub(self.start))
                    .map_or(min_cut, |h| h.min(min_cut));
                let state = run(&self.buf[from..min_cut], State::Record, self.sep).0;
                if let Some(b) = run(&self.buf[min_cut..], state, self.sep).1 {
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
        let text = std::io::Cursor::new(self.buf).chain(self.decoder);
        let (_, _, opened) = records(&self.path, layout, text, self.start, true, interp, rows)?;
        match opened {
            Some(at) => Err(never_closed(
                &self.path,
                &format!("at byte {at} of the decompressed text"),
            )),
            None => Ok(()),
        }
    }
}

/// The decompressed text of a compressed CSV file, at most [`DECODED_READ`] bytes a call.
fn decoded(path: &Path, codec: Codec) -> Result<Box<dyn Read>> {
    decoded_counting(path, codec, Arc::default())
}

/// [`decoded`], counting in `consumed` the compressed bytes the decoder has taken.
fn decoded_counting(path: &Path, codec: Codec, consumed: Arc<AtomicU64>) -> Result<Box<dyn Read>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file = Consumed {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        consumed,
    };
    Ok(match codec {
        Codec::Gzip => Box::new(Capped(GzMembers::new(file))),
        Codec::Zstd => Box::new(Capped(
            zstd::stream::read::Decoder::with_buffer(file)
                .map_err(|e| Error::read(path, format!("zstd: {e}")))?,
        )),
    })
}

/// The text of a gzip file of one member or several, one after another (as `flate2`'s
/// `MultiGzDecoder` reads them), which may end in zero bytes: copies padded to a block size
/// end so, and `gzip -d` and `zcat` read such a file as its members. Bytes after the zeros
/// that are not zeros, or after a member that start no gzip member, are an error (the data
/// was damaged or joined to something else), as `gzip -d` says; Python's `gzip` reads on
/// past zeros between members, which this does not.
struct GzMembers<R: BufRead> {
    /// The member being read; `None` at the end of the file.
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(input: R) -> Self {
        GzMembers {
            member: Some(flate2::bufread::GzDecoder::new(input)),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: what follows is another one, the end, or zeros to the end.
            let Some(mut input) = self.member.take().map(|m| m.into_inner()) else {
                return Ok(0);
            };
            let mut zeros = false;
            loop {
                let rest = input.fill_buf()?;
                if rest.is_empty() {
                    return Ok(0);
                }
                if !zeros && rest[0] != 0 {
                    break;
                }
                if rest.iter().any(|&b| b != 0) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "bytes other than zeros after the zero bytes that follow the last gzip member",
                    ));
                }
                zeros = true;
                let len = rest.len();
                input.consume(len);
            }
            self.member = Some(flate2::bufread::GzDecoder::new(input));
        }
    }
}

/// A buffered reader that counts the bytes its reader consumes (a decoder's input taken).
struct Consumed<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Consumed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Consumed<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// The most text taken from a decoder in one call. A decoder that meets damaged data fails
/// the whole call and gives none of the text it decoded in it, so the rows an error names as
/// read before the damage ("after row N") fall at most this much text short of it (with
/// 1 MiB calls, a damage in the first MiB said "after row 0").
const DECODED_READ: usize = 256 << 10;

/// A reader that passes on at most [`DECODED_READ`] bytes a call.
struct Capped<R>(R);

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(DECODED_READ);
        self.0.read(&mut buf[..n])
    }
}

/// A reader that runs the CSV automaton over the bytes it passes on, so that the state at
/// the end of the text says whether a quoted field was left open.
struct Watched<R> {
    inner: R,
    state: State,
    /// The file's separator.
    sep: u8,
    /// Offset in the file (or decompressed text) of the next byte read.
    at: u64,
    /// Where the quoted field the automaton is in was opened (when `state` is `Quoted`).
    opened: Option<u64>,
    /// Where the record being read starts, as far as reads ending between records tell
    /// (a bound: a read that ends between records ends the count at its last line end).
    record_from: u64,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.state;
        self.state = run(&buf[..n], before, self.sep).0;
        // A `\r` ends a record too (files whose lines end in a bare `\r` come here whole).
        if self.state == State::Record
            && let Some(end) = memchr::memrchr2(b'\n', b'\r', &buf[..n])
        {
            self.record_from = self.at + end as u64 + 1;
        }
        if self.at + n as u64 - self.record_from > MAX_RECORD_BYTES as u64 {
            return Err(too_long(self.record_from));
        }
        // Still inside a quoted field: the quote that opened it is this read's last opening
        // one, if it has one (a read ending inside a field is rare: once at the end of a
        // file left open, else at a line end inside quotes).
        if self.state == State::Quoted {
            let mut state = before;
            for (i, &b) in buf[..n].iter().enumerate() {
                let next = step(state, b, self.sep);
                if next == State::Quoted && state != State::Quoted && state != State::AfterQuote {
                    self.opened = Some(self.at + i as u64);
                }
                state = next;
            }
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// The rest of a text after the bytes [`plain_lines`] read: the error that stopped it, if
/// one did, else the text.
struct ThenRest<T> {
    failed: Option<std::io::Error>,
    text: T,
}

impl<T: Read> Read for ThenRest<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => self.text.read(buf),
        }
    }
}

/// Reads the records of `text`, which starts at byte `start` of the file, between records
/// (byte 0: the header comes first); `compressed`: it is the decompressed text of the file.
/// Gives the byte where the last record starts.
///
/// Lines with no carriage return but at their end, whose quotes each enclose a whole field
/// (nearly every export's every line), are split here, with no CSV automaton
/// ([`plain_lines`]); from the first other line on, the rest of the text goes through the
/// `csv` reader, which gives such a line the same fields. Both skip empty lines and number
/// the records alike.
///
/// Returns where the last record starts, the quote automaton's state after the text (plain
/// lines leave it between records, so it only runs over what the `csv` reader reads) and,
/// when that state is inside a quoted field, the byte of the quote that opened it.
fn records<R, T>(
    path: &Path,
    layout: &Layout,
    text: T,
    start: u64,
    compressed: bool,
    interp: &mut Interpreter,
    rows: &mut R,
) -> Result<(Option<u64>, State, Option<u64>)>
where
    R: RowSink + ?Sized,
    T: Read,
{
    let mut text = text;
    let mut read = Progress {
        row: 0,
        last_start: None,
    };
    let Some(Handover { rest, at, failed }) = plain_lines(
        path, layout, &mut text, start, compressed, interp, rows, &mut read,
    )?
    else {
        return Ok((read.last_start, State::Record, None));
    };
    // The `csv` reader drops a byte order mark at the start of what it reads, taking it for
    // the file's; here that is a line inside the file, whose bytes are data (as they are to a
    // reader from the file's start). The reader only checks its first read for the mark, so
    // that read is given one byte.
    let (first, rest) = rest.split_at(rest.len().min(1));
    let mut text = Watched {
        inner: first.chain(rest).chain(ThenRest { failed, text }),
        state: State::Record,
        sep: layout.sep,
        at,
        opened: None,
        record_from: at,
    };
    let last_start = quoted_records(
        path,
        layout,
        &mut text,
        at,
        (start, compressed),
        interp,
        rows,
        read,
    )?;
    let opened = (text.state == State::Quoted)
        .then_some(text.opened)
        .flatten();
    Ok((last_start, text.state, opened))
}

/// Records read so far in a part: their count (the next row's number is one more) and where
/// the last one starts.
struct Progress {
    row: u64,
    last_start: Option<u64>,
}

/// The text of a part read into a buffer of this size by [`plain_lines`] (a longer line
/// grows it).
const LINE_BLOCK: usize = 1 << 20;

/// The longest record read. A call record is well under a kilobyte; a record of more (one
/// field of gigabytes, a quote left open) is the file's error, not memory taken in
/// proportion: a 94 KB `.csv.zst` holding one 3 GB field took 4.2 GB (the `data_file` fuzz
/// target's finding).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// How [`too_long`]'s message starts: [`read_error`] knows it by this.
const TOO_LONG: &str = "the record from byte ";

/// The error of a record longer than [`MAX_RECORD_BYTES`] that starts at byte `from`.
fn too_long(from: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{TOO_LONG}{from} is longer than {} MiB: not a call record (a field of that size, or a quote left open)",
            MAX_RECORD_BYTES >> 20
        ),
    )
}

/// Where [`plain_lines`] stopped before the end of the text: the bytes from the first line
/// that needs the CSV automaton on, already read, with that line's offset; and the error
/// that ended the reading, if one did (to be met after those bytes, as the reader met it).
struct Handover {
    rest: Vec<u8>,
    at: u64,
    failed: Option<std::io::Error>,
}

/// Reads the lines of `text` (from byte `start`; past the header when that is 0) that need
/// no CSV automaton: no `\r` but before the `\n`, and no `"` but those enclosing whole
/// fields ([`quoted_fields`]). `None` when the text ended so. Each such line leaves the
/// automaton between records, as it found it.
///
/// The text is read a `read` call at a time, and the complete lines read are taken before
/// the next call, as the `csv` reader does: a read error names the rows before the bytes
/// that failed, whichever reader meets it.
#[allow(clippy::too_many_arguments)]
fn plain_lines<R: RowSink + ?Sized>(
    path: &Path,
    layout: &Layout,
    text: &mut impl Read,
    start: u64,
    compressed: bool,
    interp: &mut Interpreter,
    rows: &mut R,
    read: &mut Progress,
) -> Result<Option<Handover>> {
    // Which canonical columns each field of the header fills, one bit each (a mapping may
    // put one field on several columns); fields past the header: none.
    let mut wanted = vec![0u8; layout.width];
    for (k, f) in layout.fields.iter().enumerate() {
        if let Some(slot) = f.and_then(|i| wanted.get_mut(i)) {
            *slot |= 1 << k;
        }
    }
    // The cells of `key=value` directories, when the file takes any (a plain file's records
    // start from no cell, as they always did).
    let fixed = layout.fixed_cells();
    let wanted = (&wanted[..], (!layout.fixed.is_empty()).then_some(&fixed));
    let mut buf = vec![0u8; LINE_BLOCK];
    // The fields of a quoted line ([`quoted_fields`]).
    let mut fields = Vec::new();
    // `buf[..filled]` was read; `buf[0]` is byte `base` of the file; the next line starts at
    // `at`; `buf[at..seen]` (the unfinished line before the last read) holds no `\n`, and no
    // `\r` but maybe as its last byte. So each byte is searched once, however many reads a
    // long line takes.
    let (mut base, mut at, mut filled, mut seen) = (start, 0usize, 0usize, 0usize);
    // The part at byte 0 starts with the header, already read by `layout`.
    let mut skip = if start == 0 { layout.header_end } else { 0 };
    let (mut eof, mut failed) = (false, None);
    loop {
        if skip > 0 {
            let n = usize::try_from(skip).unwrap_or(usize::MAX).min(filled - at);
            (at, skip) = (at + n, skip - n as u64);
        }
        // The complete lines read (all of the text once it has ended), checked a block at a
        // time: UTF-8 once, and where the first quote is, and whether any `\r` is.
        let new = seen.max(at);
        let end = match memchr::memrchr(b'\n', &buf[new..filled]) {
            _ if skip > 0 => at,
            _ if eof => filled,
            Some(n) => new + n + 1,
            // No more text will come: a line ended by a `\r` as the last byte read is a
            // record, as the `csv` reader gives it on reading its `\r` (the `\r` check below
            // let only a last byte through).
            None if failed.is_some() && filled > at && buf[filled - 1] == b'\r' => filled,
            None => at,
        };
        let block = &buf[at..end];
        let block_text = std::str::from_utf8(block).ok();
        // The first quote at or after the line being read.
        let mut quote = memchr::memchr(b'"', block).unwrap_or(block.len());
        let cr = memchr::memchr(b'\r', block).is_some();
        let mut from = 0;
        while from < block.len() {
            let next = memchr::memchr(b'\n', &block[from..]).map_or(block.len(), |n| from + n + 1);
            let line = &block[from..next];
            if line.len() > MAX_RECORD_BYTES {
                let at = base + (at + from) as u64;
                let e = too_long(at);
                return Err(read_error(path, (start, compressed), read.row, None, &e));
            }
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let quoted = next > quote;
            if (quoted && !quoted_fields(line, layout.sep, &mut fields))
                || (cr && memchr::memchr(b'\r', line).is_some())
            {
                return Ok(Some(hand_over(buf, filled, at + from, base, failed)));
            }
            if !line.is_empty() {
                read.row += 1;
                read.last_start = Some(base + (at + from) as u64);
                let line_text = block_text.and_then(|t| t.get(from..from + line.len()));
                if quoted {
                    quoted_record(line, line_text, &fields, wanted, interp, rows, read.row)?;
                    quote = memchr::memchr(b'"', &block[next..]).map_or(block.len(), |q| next + q);
                } else {
                    let fields = Separators::of(line, layout.sep);
                    plain_record(line, line_text, fields, wanted, interp, rows, read.row)?;
                }
            }
            from = next;
        }
        at = end;
        if eof {
            return Ok(None);
        }
        if let Some(e) = failed {
            return Err(read_error(path, (start, compressed), read.row, None, &e));
        }
        // A `\r` in the unfinished line, but as its last byte, makes it a line for the `csv`
        // reader: hand it over now, rather than read on looking for a `\n` that a file whose
        // lines end in a bare `\r` does not have.
        let unchecked = seen.saturating_sub(1).max(at);
        if memchr::memchr(b'\r', &buf[unchecked..filled])
            .is_some_and(|r| unchecked + r + 1 < filled)
        {
            return Ok(Some(hand_over(buf, filled, at, base, None)));
        }
        seen = filled;
        // A full buffer: the unfinished line moves to the front, and the buffer doubles when
        // that leaves less than half of it free (a long line); so a move is of at most twice
        // the bytes read since the last one.
        if filled - at > MAX_RECORD_BYTES {
            let e = too_long(base + at as u64);
            return Err(read_error(path, (start, compressed), read.row, None, &e));
        }
        if filled == buf.len() {
            buf.copy_within(at..filled, 0);
            (base, filled, seen, at) = (base + at as u64, filled - at, seen - at, 0);
            if buf.len() - filled < buf.len() / 2 {
                buf.resize(2 * buf.len(), 0);
            }
        }
        loop {
            match text.read(&mut buf[filled..]) {
                Ok(0) => eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => failed = Some(e),
            }
            break;
        }
    }
}

/// The bytes of `buf[..filled]` from `at` (byte `base + at` of the file) on, for the `csv`
/// reader.
fn hand_over(
    mut buf: Vec<u8>,
    filled: usize,
    at: usize,
    base: u64,
    failed: Option<std::io::Error>,
) -> Handover {
    buf.truncate(filled);
    buf.drain(..at);
    Handover {
        rest: buf,
        at: base + at as u64,
        failed,
    }
}

/// One line with no quote: its fields are the text between the separators `seps` finds;
/// `text` is the line as text when its block was (else each cell is checked alone, U+FFFD
/// if it is not text); `wanted` says which canonical columns each field of the header fills
/// (bit `k` for column `k`), and gives the cells of the columns no field fills (those of
/// `key=value` directories, [`Layout::fixed_cells`]).
fn plain_record<'a, R: RowSink + ?Sized>(
    line: &'a [u8],
    text: Option<&'a str>,
    seps: Separators<'_>,
    (wanted, fixed): (&[u8], Option<&[Option<&'a str>; 7]>),
    interp: &mut Interpreter,
    rows: &mut R,
    row: u64,
) -> Result<()> {
    let mut cells = fixed.copied().unwrap_or([None; 7]);
    let mut from = 0;
    let ends = seps.chain(std::iter::once(line.len()));
    for (i, to) in ends.enumerate() {
        if !put_field(&mut cells, line, text, (from, to), wanted.get(i)) {
            return rows.row(row, Err(RejectReason::TooManyFields));
        }
        from = to + 1;
    }
    rows.row(row, interp.interpret(&raw_row(&cells)))
}

/// [`plain_record`] for a line whose fields [`quoted_fields`] found (`fields`: each one's
/// text without its quotes).
fn quoted_record<'a, R: RowSink + ?Sized>(
    line: &'a [u8],
    text: Option<&'a str>,
    fields: &[(usize, usize)],
    (wanted, fixed): (&[u8], Option<&[Option<&'a str>; 7]>),
    interp: &mut Interpreter,
    rows: &mut R,
    row: u64,
) -> Result<()> {
    let mut cells = fixed.copied().unwrap_or([None; 7]);
    for (i, range) in fields.iter().enumerate() {
        if !put_field(&mut cells, line, text, *range, wanted.get(i)) {
            return rows.row(row, Err(RejectReason::TooManyFields));
        }
    }
    rows.row(row, interp.interpret(&raw_row(&cells)))
}

/// Puts the field at `line[from..to]` into the `cells` of the canonical columns `wanted`
/// says it fills (bit `k` for column `k`; `None`: a field past the header's). The cell is
/// read from `text` (the line as text, when its block was) else checked alone (U+FFFD if it
/// is not text); an empty field fills nothing. False for a non-empty field past the header
/// (the row is `too_many_fields`).
#[inline(always)]
fn put_field<'a>(
    cells: &mut [Option<&'a str>; 7],
    line: &'a [u8],
    text: Option<&'a str>,
    (from, to): (usize, usize),
    wanted: Option<&u8>,
) -> bool {
    let field = &line[from..to];
    match wanted {
        None => field.is_empty(),
        Some(&mask) if mask != 0 && !field.is_empty() => {
            let cell = match text.and_then(|t| t.get(from..to)) {
                Some(t) => t,
                None => std::str::from_utf8(field).unwrap_or("\u{fffd}"),
            };
            let mut bits = mask;
            while bits != 0 {
                cells[bits.trailing_zeros() as usize] = Some(cell);
                bits &= bits - 1;
            }
            true
        }
        Some(_) => true,
    }
}

/// The fields of a line whose every quote opens a field at its first byte and closes it
/// (`"text"`: no quote inside, the closing one followed by `sep` or the line's end), as
/// the (start, end) ranges of their text without the quotes, into `fields`: what the `csv`
/// reader makes of the line (exports that quote every field, or every text field, write
/// such lines). False for any other line, which needs the reader's automaton: a quote inside
/// a field or an escaped one (`""`), text after a closing quote, a field still open at the
/// line's end (a line end inside it).
fn quoted_fields(line: &[u8], sep: u8, fields: &mut Vec<(usize, usize)>) -> bool {
    fields.clear();
    let mut at = 0;
    loop {
        if line.get(at) == Some(&b'"') {
            let Some(close) = memchr::memchr(b'"', &line[at + 1..]).map(|k| at + 1 + k) else {
                return false;
            };
            fields.push((at + 1, close));
            match line.get(close + 1) {
                None => return true,
                Some(&b) if b == sep => at = close + 2,
                Some(_) => return false,
            }
        } else {
            let end = memchr::memchr2(sep, b'"', &line[at..]).map_or(line.len(), |k| at + k);
            if end < line.len() && line[end] == b'"' {
                return false;
            }
            fields.push((at, end));
            if end == line.len() {
                return true;
            }
            at = end + 1;
        }
    }
}

/// The offsets of the separators (commas, or [`Layout::sep`]) in a line, eight bytes at a
/// time (lines are short: a `memchr` call per comma cost more than the search).
struct Separators<'a> {
    line: &'a [u8],
    /// The separator in each byte of a word.
    sep: u64,
    /// Where the next word starts.
    at: usize,
    /// One high bit per separator byte of the word before `at`, not yet given.
    found: u64,
}

impl<'a> Separators<'a> {
    fn of(line: &'a [u8], sep: u8) -> Separators<'a> {
        Separators {
            line,
            sep: u64::from_le_bytes([sep; 8]),
            at: 0,
            found: 0,
        }
    }
}

impl Iterator for Separators<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        loop {
            if self.found != 0 {
                let byte = (self.found.trailing_zeros() / 8) as usize;
                self.found &= self.found - 1;
                return Some(self.at - 8 + byte);
            }
            match self.line.get(self.at..self.at + 8) {
                Some(word) => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(word);
                    // Bytes equal to the separator become 0; a byte's high bit is then set
                    // exactly when it is 0 (no carry crosses bytes: the low seven bits are
                    // added apart).
                    let x = u64::from_le_bytes(w) ^ self.sep;
                    self.found = !(((x & LOW7) + LOW7) | x | LOW7);
                    self.at += 8;
                }
                // The last bytes, fewer than eight, one at a time.
                None => {
                    let rest = self.line.get(self.at..)?;
                    return match rest.iter().position(|c| u64::from(*c) == self.sep & 0xff) {
                        Some(i) => {
                            self.at += i + 1;
                            Some(self.at - 1)
                        }
                        None => {
                            self.at = self.line.len() + 1;
                            None
                        }
                    };
                }
            }
        }
    }
}

/// A record's cells by canonical column (`Layout::fields`' order) as a row to interpret.
fn raw_row<'a>(cells: &[Option<&'a str>; 7]) -> RawRow<'a> {
    RawRow {
        time: cells[0].map(TimeCell::Text),
        subscriber: cells[1],
        counterparty: cells[2],
        direction: cells[3],
        kind: cells[4],
        duration: cells[5].map(DurationCell::Text),
        region: cells[6],
        pre: Default::default(),
    }
}

/// A read error of the part that starts at byte `start` (`compressed`: of the decompressed
/// text), after `row` records; `at`: the byte it names, if known.
fn read_error(
    path: &Path,
    (start, compressed): (u64, bool),
    row: u64,
    at: Option<u64>,
    e: &dyn std::fmt::Display,
) -> Error {
    let said = e.to_string();
    if said.starts_with(TOO_LONG) {
        // It names the record's first byte in the whole text, whatever part met it: no
        // part's byte or row (which depend on the threads), and no damaged compression.
        let message = match compressed {
            true => said.replacen(" is longer", " of the decompressed text is longer", 1),
            false => said,
        };
        return Error::read(path, message);
    }
    let message = match at {
        None if compressed && start == 0 => {
            format!("the compressed data is damaged or cut short after row {row}: {e}")
        }
        None if compressed => format!(
            "the compressed data is damaged or cut short after row {row} of the part \
             from byte {start} of the decompressed text: {e}"
        ),
        _ => {
            let of = if compressed {
                " of the decompressed text"
            } else {
                ""
            };
            format!("near byte {}{of}: {e}", at.unwrap_or(start))
        }
    };
    Error::read(path, message)
}

/// The records of `text` (from byte `offset`, between records, past any header) through the
/// `csv` reader, numbered on from `read`, in the part that starts at byte `start`.
#[allow(clippy::too_many_arguments)]
fn quoted_records<R, T>(
    path: &Path,
    layout: &Layout,
    text: T,
    offset: u64,
    (start, compressed): (u64, bool),
    interp: &mut Interpreter,
    rows: &mut R,
    mut read: Progress,
) -> Result<Option<u64>>
where
    R: RowSink + ?Sized,
    T: Read,
{
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(layout.sep)
        .buffer_capacity(1 << 20)
        .from_reader(text);
    let idx = &layout.fields;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = match (e.position(), e.kind()) {
                    (None, csv::ErrorKind::Io(_)) => None,
                    (p, _) => Some(p.map_or(start, |p| offset + p.byte())),
                };
                return Err(read_error(path, (start, compressed), read.row, at, &e));
            }
        }
        read.row += 1;
        read.last_start = record.position().map(|p| offset + p.byte());
        if record.iter().skip(layout.width).any(|f| !f.is_empty()) {
            rows.row(read.row, Err(RejectReason::TooManyFields))?;
            continue;
        }
        // The record's bytes checked as UTF-8 once, not once per cell. A cell is read from
        // that text when its range falls on character boundaries (`str::get`); otherwise (a
        // record that is not text, or bytes of one character split by a delimiter) it is
        // checked alone, and a cell that is not text reads as U+FFFD.
        let text = std::str::from_utf8(record.as_slice()).ok();
        let cell = |i: Option<usize>| -> Option<&str> {
            let i = i?;
            let range = record.range(i)?;
            if range.is_empty() {
                return None;
            }
            match text.and_then(|t| t.get(range)) {
                Some(t) => Some(t),
                None => Some(std::str::from_utf8(record.get(i)?).unwrap_or("\u{fffd}")),
            }
        };
        let cells = idx.map(|i| match i {
            Some(i) if i >= layout.width => layout.fixed.get(i - layout.width)?.as_deref(),
            i => cell(i),
        });
        rows.row(read.row, interp.interpret(&raw_row(&cells)))?;
    }
    Ok(read.last_start)
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
fn unclosed_quote(path: &Path, at: u64, end: u64, sep: u8) -> Result<()> {
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
            let next = step(state, b, sep);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Event;
    use proptest::prelude::*;

    /// Every row's outcome, in order.
    #[derive(Default)]
    struct Rows(Vec<(u64, std::result::Result<Event, RejectReason>)>);

    impl RowSink for Rows {
        fn row(&mut self, row: u64, r: std::result::Result<Event, RejectReason>) -> Result<()> {
            self.0.push((row, r));
            Ok(())
        }
    }

    /// The canonical columns in their usual places, with no header in the text.
    fn layout() -> Layout {
        Layout {
            fields: [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), None],
            width: 6,
            fixed: Vec::new(),
            header_end: 0,
            sep: b',',
        }
    }

    /// Every row's outcome, and where the last record starts or the error's text.
    type Outcome = (
        Vec<(u64, std::result::Result<Event, RejectReason>)>,
        std::result::Result<Option<u64>, String>,
    );

    /// Headers of `width` fields mapped to the canonical columns any way a `--column`
    /// mapping can: a column on no field, several columns on one field, fields on no column;
    /// and fields taken from `key=value` directories (`Layout::fixed`), null ones included.
    fn layouts() -> impl Strategy<Value = Layout> {
        let value = proptest::option::of(proptest::sample::select(vec![
            "in",
            "call",
            "+886912345678",
            "2026-03-10T00:00:00Z",
            "x",
        ]));
        (1usize..9, proptest::collection::vec(value, 0..3)).prop_flat_map(|(width, fixed)| {
            let fixed: Vec<Option<String>> =
                fixed.into_iter().map(|v| v.map(str::to_owned)).collect();
            let columns = width + fixed.len();
            proptest::array::uniform7(proptest::option::weighted(0.8, 0..columns)).prop_map(
                move |fields| Layout {
                    fields,
                    width,
                    fixed: fixed.clone(),
                    header_end: 0,
                    sep: b',',
                },
            )
        })
    }

    /// `text` read as a part from byte 0: through [`records`] (plain lines split here, the
    /// rest by the `csv` reader) and through the `csv` reader alone.
    fn both(text: &[u8], layout: &Layout) -> [Outcome; 2] {
        both_in(text, &[usize::MAX], layout, false)
    }

    /// A text given a `read` call at a time, each call at most the next of `sizes` (round
    /// and round) bytes; then, if `fail`, an error.
    struct Chunks<'a> {
        text: &'a [u8],
        sizes: &'a [usize],
        calls: usize,
        fail: bool,
    }

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.text.is_empty() && self.fail {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = self.sizes[self.calls % self.sizes.len()]
                .min(buf.len())
                .min(self.text.len());
            self.calls += 1;
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    /// [`both`], with the plain-line reader given the text in reads of `sizes` bytes.
    fn both_in(text: &[u8], sizes: &[usize], layout: &Layout, fail: bool) -> [Outcome; 2] {
        let path = Path::new("t.csv");
        let chunks = || Chunks {
            text,
            sizes,
            calls: 0,
            fail,
        };
        let mut fast = Rows::default();
        let mut interp = Interpreter::new(None);
        // A text whose read can fail is a decompressor's (whose errors name rows).
        let last = records(path, layout, chunks(), 0, fail, &mut interp, &mut fast).map(
            |(last, state, opened)| {
                // The state it reports is the automaton's after the whole text (as to whether
                // a quoted field is left open, which is all a reader asks of it), and so is
                // the byte of the quote that opened a field left open.
                let (mut whole, mut open) = (State::Record, None);
                for (i, &b) in text.iter().enumerate() {
                    let next = step(whole, b, layout.sep);
                    if next == State::Quoted && whole != State::Quoted && whole != State::AfterQuote
                    {
                        open = Some(i as u64);
                    }
                    whole = next;
                }
                assert_eq!(state == State::Quoted, whole == State::Quoted, "{text:?}");
                let open = (whole == State::Quoted).then_some(open).flatten();
                assert_eq!(opened, open, "{text:?}");
                last
            },
        );
        let mut csv = Rows::default();
        let mut interp = Interpreter::new(None);
        let progress = Progress {
            row: 0,
            last_start: None,
        };
        let last_csv = quoted_records(
            path,
            layout,
            chunks(),
            0,
            (0, fail),
            &mut interp,
            &mut csv,
            progress,
        );
        let text = |r: Result<Option<u64>>| r.map_err(|e| e.to_string());
        [(fast.0, text(last)), (csv.0, text(last_csv))]
    }

    /// Cells of every kind a record can hold, including quotes, carriage returns, bytes that
    /// are not UTF-8, a character whose bytes a comma splits, and byte order marks (data, inside
    /// a file).
    const CELLS: &[&[u8]] = &[
        b"\xef\xbb\xbf",
        b"\xef\xbb\xbf\"q,r\"",
        b"\xef\xbb\xbf2026-10-01T08:00:00Z",
        b"2026-10-01T08:00:00Z",
        b"2026-10-01T08:00:00.5+08:00",
        b"1790812800000",
        b"+886912345001",
        b"+2348012345678",
        b"0912345678",
        b"in",
        b"OUT",
        b"sms",
        b"call",
        b"60",
        b"",
        b" ",
        b"\"+886 912,345\"",
        b"\"a\"\"b\"",
        b"\"two\nlines\"",
        b"\"\"",
        b"\"in\"",
        b"\"+886912345001\"",
        b"\"2026-10-01T08:00:00Z\"",
        b"\"60\"",
        b"\" \"",
        b"\"x\"y",
        b"x\"y",
        b"\"x\ry\"",
        b"\"caf\xc3\xa9,\xc3\"",
        b"x\ry",
        b"\xc3",
        b"\xa9",
        b"caf\xc3\xa9",
        b"\xff",
        b"\"+886;912\"",
        b"x;y",
        b"\"a\tb\"",
        b"a\tb",
        b"\"c|d\"",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// The plain-line reader gives every record the `csv` reader gives: the same rows,
        /// numbers, outcomes and last record start, whatever the lines hold and end with.
        #[test]
        fn plain_lines_read_as_the_csv_reader_does(
            lines in proptest::collection::vec(
                (proptest::collection::vec(0..CELLS.len(), 0..9), 0usize..5),
                0..40,
            ),
            last_end in any::<bool>(),
            mapped in any::<bool>(),
            mapping in layouts(),
            sizes in proptest::collection::vec(1usize..300, 1..5),
            whole in any::<bool>(),
            fail in proptest::bool::weighted(0.25),
            sep in prop::sample::select(vec![b',', b',', b';', b'\t', b'|']),
        ) {
            // Half the cases read at once, half in reads of a few bytes (as a decompressor
            // gives them).
            let sizes = if whole { vec![usize::MAX] } else { sizes };
            // Half the cases in the usual places, half through a random mapping.
            let layout = Layout { sep, ..if mapped { mapping } else { layout() } };
            // A first line as every part of a file has one before it (the header, or the
            // records before the cut): the text's first byte is not the file's.
            let mut text = b"x\n".to_vec();
            for (k, (cells, end)) in lines.iter().enumerate() {
                for (i, c) in cells.iter().enumerate() {
                    if i > 0 {
                        text.push(sep);
                    }
                    text.extend_from_slice(CELLS[*c]);
                }
                if k + 1 < lines.len() || last_end {
                    text.extend_from_slice([&b"\n"[..], b"\r\n", b"\r", b"\n\n", b"\r\n\r\n"][*end]);
                }
            }
            let [(fast, fast_last), (csv, csv_last)] = both_in(&text, &sizes, &layout, fail);
            prop_assert_eq!(fast, csv, "{:?}", String::from_utf8_lossy(&text));
            // The last record's start: the `csv` reader counts the empty lines before it in.
            // A read that fails: the same error, naming the same row.
            let blank = |a: u64, b: u64| text[a as usize..b as usize].iter().all(|c| *c == b'\n' || *c == b'\r');
            prop_assert!(
                fast_last == csv_last || matches!((&csv_last, &fast_last), (Ok(Some(a)), Ok(Some(b))) if a < b && blank(*a, *b)),
                "{:?} against {:?}: {:?}", fast_last, csv_last, String::from_utf8_lossy(&text)
            );
        }
    }

    proptest! {
        /// The word-at-a-time separator search finds exactly the separators, in order, in
        /// lines of any length and bytes (`-` is `,` + 1 and `\xac` is `,` + 0x80: the near
        /// misses; `;` is `,` + 0xf).
        #[test]
        fn separators_are_found_exactly(
            line in proptest::collection::vec(
                prop_oneof![
                    Just(b','), Just(b';'), Just(b'\t'), Just(b'|'), Just(b'-'), Just(b'+'),
                    Just(0xacu8), Just(0xbbu8), Just(0x89u8), Just(0u8), any::<u8>()
                ],
                0..40,
            ),
            sep in prop::sample::select(vec![b',', b';', b'\t', b'|']),
        ) {
            let want: Vec<usize> = (0..line.len()).filter(|&i| line[i] == sep).collect();
            prop_assert_eq!(Separators::of(&line, sep).collect::<Vec<_>>(), want);
        }
    }

    /// A part says whether it ends between records; a file shorter than the part is an error
    /// (it changed after it was cut), not fewer rows.
    #[test]
    fn a_part_says_whether_it_ends_inside_a_quoted_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let row = "2026-03-10T01:00:00Z,+886912345001,+2348021234567,in,call,1\n";
        let quoted = "2026-03-10T01:00:00Z,+886912345001,\"+234\n8021234567\",in,call,1\n";
        std::fs::write(&path, format!("{row}{quoted}{row}")).unwrap();
        let read_part = |range| {
            let mut rows = Rows::default();
            let ends = read(
                &path,
                &layout(),
                range,
                &mut Interpreter::new(None),
                &mut rows,
            );
            (ends.map_err(|e| e.to_string()), rows.0.len())
        };
        let (r, q) = (row.len() as u64, quoted.len() as u64);
        let inside = r + quoted.find('\n').unwrap() as u64 + 1;
        assert_eq!(read_part((0, r)), (Ok(true), 1));
        assert_eq!(read_part((0, inside)), (Ok(false), 2));
        assert_eq!(read_part((r, r + q)), (Ok(true), 1));
        assert_eq!(read_part((r, 2 * r + q)), (Ok(true), 2));
        let (past, rows) = read_part((r, 3 * r + q));
        assert!(past.unwrap_err().contains("changed while it was read"));
        assert_eq!(rows, 2);
    }

    /// Lines longer than the block the reader starts with are read whole.
    #[test]
    fn lines_longer_than_a_block() {
        let (long, zeros) = ("9".repeat(LINE_BLOCK + 10), "0".repeat(LINE_BLOCK + 10));
        let text = format!(
            "2026-10-01T08:00:00Z,+886912345001,+{long},in,sms,\n2026-10-01T08:00:00Z,+886912345001,+886912345002,in,sms,{zeros}60\n"
        );
        // Read at once, and in reads of a few bytes (a decompressor's or a pipe's): a line
        // then takes thousands of reads, each byte searched once.
        for sizes in [&[usize::MAX][..], &[100, 4096, 1]] {
            let [fast, csv] = both_in(text.as_bytes(), sizes, &layout(), false);
            assert_eq!(fast, csv);
            assert_eq!(fast.0.len(), 2);
            assert!(fast.0.iter().all(|(_, r)| r.is_ok()), "{:?}", fast.0);
        }
    }

    /// A read that fails after some lines: the rows before it are read and the error names
    /// the last of them, on plain lines and after a quoted one alike, in small reads or one,
    /// as the `csv` reader gives them (a line ended by a `\r` just before the failure is a
    /// record to it too).
    #[test]
    fn a_failed_read_names_the_rows_before_it() {
        let plain = "2026-10-01T08:00:00Z,+886912345001,+886912345002,in,sms,\n";
        let quoted = "2026-10-01T08:00:00Z,\"+886912345001\",+886912345002,in,sms,\n";
        let crlf = "2026-10-01T08:00:00Z,+886912345001,+886912345002,in,sms,\r\n";
        // After three whole records: a cut one (no record), or one whose `\r` came last.
        let ends = [("2026-10-01T08:00", 4), (&crlf[..crlf.len() - 1], 5)];
        for first in [plain, quoted, crlf] {
            for (end, want) in ends {
                for sizes in [&[usize::MAX][..], &[7, 100], &[1]] {
                    let text = format!("x\n{first}{plain}{plain}{end}");
                    let [fast, csv] = both_in(text.as_bytes(), sizes, &layout(), true);
                    let e = fast.1.as_ref().unwrap_err();
                    let row = format!("damaged or cut short after row {want}:");
                    assert!(
                        e.contains(&row) && e.contains("went away"),
                        "{e} ({text:?}, {sizes:?})"
                    );
                    assert_eq!(fast.0.len() as u64, want, "{text:?}, {sizes:?}");
                    assert_eq!(fast, csv, "{text:?}, {sizes:?}");
                }
            }
        }
    }

    /// A damaged stream read in large calls gives the text before the damage to within
    /// [`DECODED_READ`] bytes: what a reader decoding 64 bytes a call gets before the error.
    #[test]
    fn a_damaged_stream_gives_its_text_up_to_near_the_damage() {
        use std::io::Write;
        let line = "2026-10-01T08:00:00Z,+886912345001,+886912345002,in,sms,\n";
        let mut text =
            String::from("event_time,subscriber,counterparty,direction,kind,duration_s\n");
        for i in 0..40_000u32 {
            // Numbers that differ, so the stream has literals to damage, not only copies.
            text.push_str(&line.replace(
                "345001",
                &format!("{:06}", i.wrapping_mul(7919) % 1_000_000),
            ));
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        let whole = e.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv.gz");
        let read_until_error = |buf: usize| {
            let mut r = decoded(&path, Codec::Gzip).unwrap();
            let (mut got, mut chunk) = (0usize, vec![0u8; buf]);
            loop {
                match r.read(&mut chunk) {
                    Ok(0) => return (got, false),
                    Ok(n) => got += n,
                    Err(_) => return (got, true),
                }
            }
        };
        let mut checked = 0;
        for at in (whole.len() / 10..whole.len() * 9 / 10).step_by(whole.len() / 120) {
            let mut bytes = whole.clone();
            bytes[at..at + 32].fill(0xff);
            std::fs::write(&path, &bytes).unwrap();
            let (truth, failed) = read_until_error(64);
            if !failed || truth >= text.len() - DECODED_READ {
                continue; // damage found only at the end (the checksum): nothing to compare
            }
            let (got, failed) = read_until_error(1 << 20);
            assert!(failed, "{at}: read to the end");
            assert!(
                got <= truth + 64 && truth.saturating_sub(got) <= DECODED_READ,
                "damage at {at}: {got} bytes read in 1 MiB calls, {truth} in 64-byte calls"
            );
            checked += 1;
        }
        assert!(
            checked >= 10,
            "only {checked} damaged streams failed before their end"
        );
    }

    /// Lines whose quotes each enclose a whole field (an export that quotes every field) are
    /// read here, commas inside quotes kept; the first line with an escaped quote goes to the
    /// `csv` reader with the rest of the text, and both give the same rows.
    #[test]
    fn lines_quoting_whole_fields_are_read_here() {
        let quoted =
            "\"2026-10-01T08:00:00Z\",\"+886912345001\",\"+2348012345678\",\"in\",\"sms\",\"\"\n";
        let comma = "\"2026-10-01T08:00:00Z\",+886912345001,\"+234,8012345678\",in,\"sms\",60\r\n";
        let escaped = "\"2026-10-01T08:00:00Z\",\"+886912345001\",\"a\"\"b\",in,sms,\n";
        let text = format!("{quoted}{comma}{quoted}{escaped}{quoted}");
        let (path, layout) = (Path::new("t.csv"), layout());
        let mut rows = Rows::default();
        let mut read = Progress {
            row: 0,
            last_start: None,
        };
        let handed = plain_lines(
            path,
            &layout,
            &mut text.as_bytes(),
            1,
            false,
            &mut Interpreter::new(None),
            &mut rows,
            &mut read,
        )
        .unwrap()
        .expect("handed over at the escaped quote");
        let at = 1 + (2 * quoted.len() + comma.len()) as u64;
        assert_eq!((handed.at, read.row), (at, 3));
        // The quoted cells without their quotes; the comma inside a quoted cell is its text.
        assert!(rows.0.iter().all(|(_, r)| r.is_ok()), "{:?}", rows.0);
        let [fast, csv] = both(format!("x\n{text}").as_bytes(), &layout);
        assert_eq!(fast, csv);
        assert_eq!(fast.0.len(), 6, "the line x and five records");
    }

    /// Lines that end in a bare `\r` go to the `csv` reader when the first block shows one,
    /// rather than growing the buffer to the whole part looking for a `\n`.
    #[test]
    fn bare_carriage_returns_are_handed_over_at_once() {
        let line = "2026-10-01T08:00:00Z,+886912345001,+886912345002,in,sms,\r";
        let text = line.repeat(3 * LINE_BLOCK / line.len());
        let mut rows = Rows::default();
        let mut interp = Interpreter::new(None);
        let mut read = Progress {
            row: 0,
            last_start: None,
        };
        let (path, layout) = (Path::new("t.csv"), layout());
        let mut chunks = Chunks {
            text: text.as_bytes(),
            sizes: &[usize::MAX],
            calls: 0,
            fail: false,
        };
        let handed = plain_lines(
            path,
            &layout,
            &mut chunks,
            0,
            false,
            &mut interp,
            &mut rows,
            &mut read,
        )
        .unwrap()
        .expect("handed over");
        assert_eq!((handed.at, read.row, chunks.calls), (0, 0, 1));
        let [fast, csv] = both(text.as_bytes(), &layout);
        assert_eq!(fast, csv);
        assert_eq!(fast.0.len(), text.len() / line.len());
    }
}
