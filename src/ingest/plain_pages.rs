//! Plain-encoded Parquet string columns, read page by page into [`Spans`] with no Arrow array.
//!
//! A time-ordered export with a million subscribers is usually written with its number
//! columns plain-encoded (a dictionary does not pay). Through the Arrow reader each value
//! was decoded into a string view (a 16-byte view per row, the bytes validated as UTF-8 one
//! value at a time, null rows padded in a second pass), and the row loop then read the view
//! back. Here the decompressed pages are kept as they are, each row is one `u64` saying where
//! its value starts ([`Spans`]), and a page whose bytes are all ASCII (every E.164 export) is
//! validated as UTF-8 in one pass over it.
//!
//! A column is read here only when [`eligible`]: a flat (not nested) `BYTE_ARRAY` column of
//! Arrow type string, at most optional, whose chunk in the row group has no dictionary page
//! and lists no encoding but `PLAIN` for its values. Any other column, and every other
//! column type, goes through the Arrow reader as before; both give [`visit_batch_with`] the
//! same rows. A page that contradicts its chunk's metadata (another encoding, a value running
//! past its page, levels that do not decode, fewer values than rows) is an error naming the
//! file and the column, as the Arrow reader's are.
//!
//! [`visit_batch_with`]: hotzone_kernel::rows::batch::visit_batch_with

// `BIT_PACKED` is deprecated for writers; old files still carry it, and it is read here.
#![allow(deprecated)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::buffer::Buffer;
use arrow::datatypes::DataType;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::SchemaDescriptor;

use crate::error::{Error, Result};
use hotzone_kernel::rows::spans::Spans;

/// True when leaf column `leaf` of row group `rg` can be read here (see the module docs);
/// `arrow_type` is the type the Arrow reader would give it.
pub fn eligible(
    rg: &RowGroupMetaData,
    schema: &SchemaDescriptor,
    leaf: usize,
    arrow_type: &DataType,
) -> bool {
    let column = schema.column(leaf);
    let chunk = rg.column(leaf);
    column.physical_type() == PhysicalType::BYTE_ARRAY
        && matches!(
            arrow_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
        && column.max_rep_level() == 0
        && column.max_def_level() <= 1
        && chunk.dictionary_page_offset().is_none()
        && chunk
            .encodings()
            .all(|e| matches!(e, Encoding::PLAIN | Encoding::RLE | Encoding::BIT_PACKED))
}

/// One column chunk, read a batch of rows at a time.
pub struct PlainStrings {
    path: Arc<Path>,
    name: String,
    pages: SerializedPageReader<File>,
    /// 1 when the column is optional (a definition level per value), else 0.
    max_def: i16,
    /// Rows of the chunk not yet taken.
    rows_left: usize,
    /// Values of the chunk in no page opened yet (a flat column has a value per row).
    unopened: usize,
    /// The page being read, if any.
    page: Option<Open>,
    /// The open page's definition levels, one byte per value.
    defs: Vec<u8>,
}

/// A decompressed data page being read.
struct Open {
    buf: Buffer,
    /// Where the next value's length prefix is.
    at: usize,
    /// The next value's index in the page.
    value: usize,
    /// Values in the page (nulls included).
    values: usize,
    /// Every byte of the page's values is ASCII, so every value is UTF-8.
    ascii: bool,
}

impl PlainStrings {
    /// Opens leaf column `leaf` (named `name` in errors) of row group `rg` of the Parquet
    /// file at `path`.
    pub fn open(
        path: &Path,
        file: &File,
        rg: &RowGroupMetaData,
        schema: &SchemaDescriptor,
        leaf: usize,
        name: &str,
    ) -> Result<PlainStrings> {
        let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        let file = file.try_clone().map_err(|e| Error::io(path, e))?;
        let pages = SerializedPageReader::new(Arc::new(file), rg.column(leaf), rows, None)
            .map_err(|e| Error::read(path, format!("column {name}: {e}")))?;
        Ok(PlainStrings {
            path: Arc::from(path),
            name: name.to_owned(),
            pages,
            max_def: schema.column(leaf).max_def_level(),
            rows_left: rows,
            unopened: rows,
            page: None,
            defs: Vec::new(),
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::read(&self.path, format!("column {}: {message}", self.name))
    }

    /// The next `rows` rows of the column.
    pub fn next(&mut self, rows: usize) -> Result<Spans> {
        if rows > self.rows_left {
            return Err(self.error(format!(
                "{rows} rows asked of a chunk with {} left",
                self.rows_left
            )));
        }
        self.rows_left -= rows;
        let mut spans = Spans::with_capacity(rows);
        while spans.len() < rows {
            if self.page.as_ref().is_none_or(|p| p.value == p.values) {
                self.page = Some(self.next_page()?);
            }
            let Some(page) = self.page.as_mut() else {
                unreachable!("a page was just opened")
            };
            let slot = spans
                .add_page(page.buf.clone())
                .map_err(|_| Error::read(&self.path, "too many pages in one batch"))?;
            let take = (page.values - page.value).min(rows - spans.len());
            let levels = (self.max_def > 0).then(|| &self.defs[page.value..page.value + take]);
            let start = page.at;
            page.at = match spans.push_run(slot, start, levels, take) {
                Ok(end) => end,
                Err((k, _)) => {
                    let e = format!(
                        "value {} of a page runs past the page's end",
                        page.value + k
                    );
                    return Err(Error::read(
                        &self.path,
                        format!("column {}: {e}", self.name),
                    ));
                }
            };
            if !page.ascii
                && let Some(k) = (page.value..page.value + take).find(|&v| {
                    let row = spans.len() - (page.value + take - v);
                    spans
                        .bytes(row)
                        .is_some_and(|b| std::str::from_utf8(b).is_err())
                })
            {
                let e = format!("value {k} of a page is not UTF-8");
                return Err(Error::read(
                    &self.path,
                    format!("column {}: {e}", self.name),
                ));
            }
            page.value += take;
        }
        Ok(spans)
    }

    /// Reads and checks the next data page: its definition levels into `defs`, and where its
    /// values start.
    fn next_page(&mut self) -> Result<Open> {
        let page = match self.pages.get_next_page() {
            Ok(Some(p)) if p.is_data_page() => p,
            Ok(Some(_)) => return Err(self.error("a dictionary page in a plain chunk")),
            Ok(None) => return Err(self.error("the chunk has fewer values than rows")),
            Err(e) => return Err(self.error(e)),
        };
        let (buf, values, encoding, levels) = match page {
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                ..
            } => {
                let levels = match (self.max_def, def_level_encoding) {
                    (0, _) => Levels::None,
                    (_, Encoding::RLE) => {
                        let len = buf
                            .get(..4)
                            .and_then(|b| b.first_chunk::<4>())
                            .map(|b| u32::from_le_bytes(*b) as usize)
                            .ok_or_else(|| self.error("a page too short for its levels"))?;
                        Levels::Hybrid(4, len)
                    }
                    (_, Encoding::BIT_PACKED) => Levels::Packed,
                    (_, e) => {
                        return Err(self.error(format!("definition levels encoded {e}")));
                    }
                };
                (buf, num_values, encoding, levels)
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                def_levels_byte_len,
                rep_levels_byte_len,
                ..
            } => {
                if rep_levels_byte_len != 0 {
                    return Err(self.error("repetition levels in a flat column"));
                }
                let levels = if self.max_def > 0 {
                    Levels::Hybrid(0, def_levels_byte_len as usize)
                } else {
                    Levels::None
                };
                (buf, num_values, encoding, levels)
            }
            Page::DictionaryPage { .. } => unreachable!("data pages only"),
        };
        if encoding != Encoding::PLAIN {
            return Err(self.error(format!("a page encoded {encoding} in a plain chunk")));
        }
        let values = values as usize;
        // A page cannot hold more values than the chunk has rows left: the levels buffer is
        // never sized by a forged header.
        if values > self.unopened {
            return Err(self.error("a page holds more values than the chunk has rows"));
        }
        self.unopened -= values;
        let at = match levels {
            Levels::None => 0,
            Levels::Hybrid(skip, len) => {
                let bytes = (buf.get(skip..skip.saturating_add(len)))
                    .ok_or_else(|| self.error("levels run past the page's end"))?;
                decode_levels(bytes, values, &mut self.defs)
                    .map_err(|e| self.error(format!("definition levels: {e}")))?;
                skip + len
            }
            Levels::Packed => {
                let len = values.div_ceil(8);
                let bytes =
                    (buf.get(..len)).ok_or_else(|| self.error("levels run past the page's end"))?;
                self.defs.clear();
                self.defs
                    .extend((0..values).map(|i| (bytes[i / 8] >> (7 - i % 8)) & 1));
                len
            }
        };
        let buf = Buffer::from(buf);
        let ascii = buf[at..].is_ascii();
        Ok(Open {
            buf,
            at,
            value: 0,
            values,
            ascii,
        })
    }
}

/// Where a data page's definition levels are.
enum Levels {
    /// A required column: none.
    None,
    /// The RLE / bit-packed hybrid: `(offset, length)` in the page.
    Hybrid(usize, usize),
    /// The deprecated `BIT_PACKED` encoding (v1 pages): one bit per value, most significant
    /// first, at the page's start.
    Packed,
}

/// Decodes `n` definition levels of bit width 1 (the RLE / bit-packed hybrid of the Parquet
/// format) from `data` into `out`, one byte (0 or 1) per value.
fn decode_levels(data: &[u8], n: usize, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    out.clear();
    let mut at = 0;
    while out.len() < n {
        let header = uleb128(data, &mut at).ok_or("a run header runs past the levels")?;
        let count = header >> 1;
        if header & 1 == 0 {
            // A run of one value, stored in one byte (bit width 1).
            let v = *data.get(at).ok_or("a run's value is missing")?;
            at += 1;
            if v > 1 {
                return Err(format!("level {v} in a column whose levels are 0 or 1"));
            }
            if count == 0 {
                return Err("an empty run".into());
            }
            let take = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(n - out.len());
            out.resize(out.len() + take, v);
        } else {
            // `count` groups of 8 values, one byte per group at bit width 1.
            let groups = usize::try_from(count).map_err(|_| "too many groups")?;
            let bytes = data
                .get(at..at.saturating_add(groups))
                .ok_or("bit-packed groups run past the levels")?;
            if groups == 0 {
                return Err("an empty run".into());
            }
            at += groups;
            for b in bytes {
                for bit in 0..8 {
                    if out.len() == n {
                        break;
                    }
                    out.push((b >> bit) & 1);
                }
            }
        }
    }
    Ok(())
}

/// An unsigned LEB128 integer at `data[*at..]` (at most 10 bytes).
fn uleb128(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_decode_from_runs_and_bit_packed_groups() {
        let mut out = Vec::new();
        // A run of 3 ones, then one group of 8 bit-packed values (0b1010_0101), 10 values.
        decode_levels(&[3 << 1, 1, (1 << 1) | 1, 0b1010_0101], 10, &mut out).unwrap();
        assert_eq!(out, [1, 1, 1, 1, 0, 1, 0, 0, 1, 0]);
        // A run longer than the page: cut at n.
        decode_levels(&[200, 1, 0], 5, &mut out).unwrap();
        assert_eq!(out, [0; 5]);
    }

    #[test]
    fn bad_levels_are_errors_not_loops() {
        let mut out = Vec::new();
        for bad in [&[][..], &[0, 1], &[2, 2], &[3], &[1], &[0x80, 0x80]] {
            assert!(decode_levels(bad, 4, &mut out).is_err(), "{bad:?}");
        }
    }
}
