//! CSV reader: header row, canonical or mapped column names, one [`RawRow`] per record,
//! interpreted into an event or a reject reason.
//!
//! A file is read in parts that start between records (`ingest::csv_split` finds them), each
//! with its own reader: [`layout`] reads the header once for all of them, [`read`] reads one
//! byte range. A read error names the byte offset in the file.
//!
//! Records are read as bytes and interpreted field by field, so a malformed row is a counted
//! reject with its row number, never a failed file. Rows with missing trailing fields are
//! read with those fields null (they are then rejected only if a required one is missing).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::ingest::RowSink;
use crate::ingest::columns::{ColumnMap, resolve_required};
use crate::ingest::interpret::{DurationCell, Interpreter, RawRow, TimeCell};

/// Which field of a record holds each canonical column (`columns::resolve_required`).
pub type Layout = [Option<usize>; 7];

/// Reads the header row of a CSV file and maps its names to the canonical columns; also
/// gives the byte offset where the header record ends (parts start after it: empty lines
/// before the header are skipped by the reader, so a line end there is no boundary).
pub fn layout(path: &Path, columns: &ColumnMap) -> Result<(Layout, u64)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let header = reader
        .byte_headers()
        .map_err(|e| Error::read(path, format!("header: {e}")))?;
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
    let idx = resolve_required(columns, &names_ref, path)?;
    Ok((idx, reader.position().byte()))
}

/// Reads the bytes `range` of a CSV file, sending each row's outcome to `rows` with its
/// number within the range (1-based). The range starts between records
/// (`ingest::csv_split`); the one that starts at byte 0 skips the header row.
pub fn read<R>(
    path: &Path,
    idx: &Layout,
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
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(start == 0)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            file.take(end - start),
        ));
    if start == 0 {
        reader
            .byte_headers()
            .map_err(|e| Error::read(path, format!("header: {e}")))?;
    }
    let mut record = csv::ByteRecord::new();
    let mut row: u64 = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(start, |p| start + p.byte());
                return Err(Error::read(path, format!("near byte {at}: {e}")));
            }
        }
        row += 1;
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
    Ok(())
}
