//! Plain-encoded Parquet string columns (and delta-encoded ones, rewritten as plain pages by
//! the `ingest::delta` module), read page by page into [`Spans`] with no Arrow array.
//!
//! A time-ordered export with a million subscribers is usually written with its number
//! columns plain-encoded (a dictionary does not pay). Through the Arrow reader each value
//! was decoded into a string view (a 16-byte view per row, the bytes validated as UTF-8 one
//! value at a time, null rows padded in a second pass), and the row loop then read the view
//! back. Here the decompressed pages are kept as they are, each row is one `u64` saying where
//! its value starts ([`Spans`]), and a page whose bytes are all ASCII (every E.164 export) is
//! validated as UTF-8 in one pass over it.
//!
//! A snappy chunk (the default of arrow-rs, pyarrow, Spark and DuckDB) or a zstd one (Polars')
//! has its pages handed over as stored and decompressed here, with the decoders the `parquet`
//! crate uses, into a buffer of a page read before that no batch holds any more
//! ([`PagePool`]); other codecs are decompressed into a new buffer per page, by the `parquet`
//! crate, or by `ingest::inflate` where the crate's decoder has no bound (gzip, brotli, LZ4).
//!
//! A column is read here only when [`eligible`]: a flat (not nested) `BYTE_ARRAY` column of
//! Arrow type string, at most optional, whose chunk in the row group lists `PLAIN`,
//! `DELTA_LENGTH_BYTE_ARRAY` or `DELTA_BYTE_ARRAY` and no other encoding for its values, and
//! whose page encoding statistics (when the writer kept them) name only those; or whose
//! dictionary fell back: a dictionary page, and page encoding statistics that name those
//! and dictionary-encoded pages (pyarrow's and Spark's chunks past 1 MiB of dictionary,
//! read with `dict_pages`). A chunk dictionary-encoded to its end stays with the Arrow
//! reader, which interprets each dictionary value once. A page that breaks those promises
//! anyway is an error (the rows cannot be handed back to the Arrow reader halfway). Any other column, and every other
//! column type, goes through the Arrow reader as before; both give [`visit_batch_with`] the
//! same rows. A page that contradicts its chunk's metadata (another encoding, a value running
//! past its page, levels that do not decode) and a chunk whose values are not the row
//! group's rows ([`PlainStrings::finish`]) are errors naming the file and the column, as the
//! Arrow reader's are. Definition levels are decoded a batch's rows at a time, so a page
//! header claiming billions of values costs no memory (a delta page is rewritten whole, its
//! values bounded by `delta::MOST_VALUES`).
//!
//! [`visit_batch_with`]: hotzone_kernel::rows::batch::visit_batch_with

// `BIT_PACKED` is deprecated for writers; old files still carry it, and it is read here.
#![allow(deprecated)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::buffer::Buffer;
use arrow::datatypes::DataType;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::SchemaDescriptor;

use super::dict_pages::{Dictionary, Indices};
use crate::error::{Error, Result};
use hotzone_kernel::rows::spans::Spans;

/// True when leaf column `leaf` of row group `rg` can be read here (see the module docs);
/// `arrow_type` is the type the Arrow reader would give it. `views`: the Arrow reader would
/// read the column as string views, not as a dictionary, whatever its pages (the
/// counterparty): a chunk with a dictionary page is then read here even without page
/// encoding statistics to say it falls back (Polars writes none), since a dictionary would
/// not be interpreted once per value there either.
pub fn eligible(
    rg: &RowGroupMetaData,
    schema: &SchemaDescriptor,
    leaf: usize,
    arrow_type: &DataType,
    views: bool,
) -> bool {
    let column = schema.column(leaf);
    let chunk = rg.column(leaf);
    let has_dictionary = chunk.dictionary_page_offset().is_some();
    // A dictionary that fell back to plain pages, as the page encoding statistics show.
    let falls_back = has_dictionary
        && (chunk.page_encoding_stats_mask()).is_some_and(|data| {
            data.encodings().any(values_read_here)
                && data
                    .encodings()
                    .all(|e| values_read_here(e) || dictionary(e))
        });
    let indexed = has_dictionary && (falls_back || views);
    let data_page = |e: Encoding| values_read_here(e) || (indexed && dictionary(e));
    column.physical_type() == PhysicalType::BYTE_ARRAY
        && matches!(
            arrow_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
        && column.max_rep_level() == 0
        && column.max_def_level() <= 1
        && (!has_dictionary || indexed)
        && chunk.encodings().any(data_page)
        && chunk
            .encodings()
            .all(|e| data_page(e) || matches!(e, Encoding::RLE | Encoding::BIT_PACKED))
        && (chunk.page_encoding_stats_mask()).is_none_or(|data| data.encodings().all(data_page))
}

/// The encodings of dictionary-encoded data pages (`PLAIN_DICTIONARY` is the name format v1
/// writers give it).
fn dictionary(e: Encoding) -> bool {
    matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY)
}

/// The value encodings of pages read here: plain, and the two delta encodings of byte arrays
/// (`ingest::delta` rewrites those as plain pages).
fn values_read_here(e: Encoding) -> bool {
    matches!(
        e,
        Encoding::PLAIN | Encoding::DELTA_LENGTH_BYTE_ARRAY | Encoding::DELTA_BYTE_ARRAY
    )
}

/// One column chunk, read a batch of rows at a time.
pub struct PlainStrings {
    path: Arc<Path>,
    /// What errors name: the row group (when known) and the column.
    label: String,
    /// The file row (0-based) of the chunk's first row.
    first_row: u64,
    /// Rows of the chunk.
    rows: usize,
    pages: Box<dyn PageReader>,
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
    /// Who decompresses the chunk's pages.
    codec: Codec,
    /// Scratch space of delta-encoded pages: lengths and prefix lengths.
    delta: (Vec<i32>, Vec<i32>),
    /// The chunk's dictionary page, once read (a dictionary that fell back to plain pages).
    dict: Option<Dictionary>,
    /// Scratch space of dictionary-encoded pages: a batch's indices.
    indexed: Vec<u32>,
}

/// Who decompresses a chunk's pages.
enum Codec {
    /// The `parquet` crate (they come decompressed).
    Crate,
    /// This reader, from pages as stored: snappy.
    Snappy(snap::raw::Decoder),
    /// This reader, from pages as stored: zstd, no page to decompress to more than `most`
    /// bytes (the chunk's uncompressed size, as its metadata states), through `bulk` (one
    /// decoder for the chunk's pages, as the crate keeps one; taken from the thread's
    /// spares, `inflate::zstd_decoder`, and given back when the chunk is done: `None` only
    /// then).
    Zstd {
        most: usize,
        bulk: Option<Box<zstd::bulk::Decompressor<'static>>>,
    },
}

impl Codec {
    /// The reader's own decompression for `compression`, if it has one.
    fn of(compression: Compression, uncompressed_chunk: i64) -> Codec {
        match compression {
            Compression::SNAPPY => Codec::Snappy(snap::raw::Decoder::new()),
            Compression::ZSTD(_) => match super::inflate::zstd_decoder() {
                Some(bulk) => Codec::Zstd {
                    most: usize::try_from(uncompressed_chunk).unwrap_or(0),
                    bulk: Some(Box::new(bulk)),
                },
                None => Codec::Crate,
            },
            _ => Codec::Crate,
        }
    }
}

impl Drop for Codec {
    /// A zstd decoder goes back to the thread's spares (`inflate::zstd_give_back`).
    fn drop(&mut self) {
        if let Codec::Zstd { bulk, .. } = self
            && let Some(bulk) = bulk.take()
        {
            super::inflate::zstd_give_back(*bulk);
        }
    }
}

/// The buffers of decompressed pages a worker has read, written over by later pages.
///
/// A page's buffer goes to the [`Spans`] of the batches that read it and is freed with the
/// last of them. A new buffer per page made glibc hand the memory back to the kernel and fault
/// it in again for every row group of a file cut in small groups (DuckDB writes 122,880 rows a
/// group: 372k minor faults against 198k for the same rows in 1M-row groups). Here a page is
/// decompressed into a buffer given back earlier that no batch holds any more; one a batch
/// still holds is never written. At most [`PagePool::KEEP`] buffers of at most
/// [`PagePool::LARGEST`] bytes are kept, so the pool's memory is bounded whatever the pages.
#[derive(Default)]
pub struct PagePool {
    spare: Vec<Buffer>,
}

impl PagePool {
    /// Buffers kept (two columns are read this way: the page each reads and the one before).
    pub const KEEP: usize = 4;
    /// The largest buffer kept, in bytes (writers cut pages at about 1 MiB).
    pub const LARGEST: usize = 16 << 20;

    /// Keeps `buf` (a page's buffer, which batches may still hold) for a later page.
    fn give(&mut self, buf: Buffer) {
        if buf.capacity() > Self::LARGEST {
            return;
        }
        if self.spare.len() == Self::KEEP {
            self.spare.remove(0);
        }
        self.spare.push(buf);
    }

    /// A buffer of `len` bytes: a kept one that nothing else holds (its old bytes left in
    /// place, to be written over), else a new one.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let free = self.spare.iter().position(|b| b.strong_count() == 1);
        let mut out = match free.map(|i| self.spare.remove(i).into_vec::<u8>()) {
            Some(Ok(v)) => v,
            _ => Vec::new(),
        };
        out.truncate(len);
        out.resize(len, 0);
        out
    }
}

/// How many bytes a snappy stream of `n` bytes can decompress to at most: a 3-byte copy tag
/// writes at most 64 bytes, and no element writes more per byte it takes.
fn snappy_bound(n: usize) -> usize {
    n.saturating_mul(22)
}

/// A decompressed data page being read.
struct Open {
    buf: Buffer,
    /// `buf` is a buffer of the [`PagePool`] (decompressed or rewritten here), not the
    /// `parquet` crate's, which is never written.
    pooled: bool,
    /// Where the next value's length prefix is.
    at: usize,
    /// The next value's index in the page.
    value: usize,
    /// Values in the page (nulls included).
    values: usize,
    /// Every byte of the page's values is ASCII, so every value is UTF-8.
    ascii: bool,
    /// The page's definition levels, decoded as its rows are taken.
    levels: Levels,
    /// A dictionary-encoded page's indices (its values are the chunk's dictionary's); `None`
    /// for a page of plain values.
    indices: Option<Indices>,
}

impl Open {
    /// The page is done with: its buffer goes back to `pool` if it is one of the pool's.
    fn give_to(self, pool: &mut PagePool) {
        if self.pooled {
            pool.give(self.buf);
        }
    }
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
        (row_group, first_row): (usize, u64),
    ) -> Result<PlainStrings> {
        let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        let label = format!("row group {row_group}: column {name}");
        let name = label.as_str();
        let file = file.try_clone().map_err(|e| Error::io(path, e))?;
        let chunk = rg.column(leaf);
        let codec = Codec::of(chunk.compression(), chunk.uncompressed_size());
        // Pages this reader decompresses are asked for as stored (the metadata says
        // uncompressed), and decompressed in `decompressed`; others come decompressed to
        // their headers' sizes (`inflate`: the crate's own codecs where they are bounded).
        let pages: Box<dyn PageReader> = if !matches!(codec, Codec::Crate) {
            let stored = (chunk.clone().into_builder())
                .set_compression(Compression::UNCOMPRESSED)
                .build()
                .map_err(|e| column_error(path, name, e))?;
            Box::new(
                SerializedPageReader::new(
                    Arc::new(super::bounded::Bounded(file)),
                    &stored,
                    rows,
                    None,
                )
                .map_err(|e| column_error(path, name, e))?,
            )
        } else {
            // The crate (or `inflate`) sets aside what a compressed page's header states:
            // the headers' claims are checked first, as for every chunk the crate reads (an
            // `LZ4` page of 17 KB stating 1.9 GB took 1.9 GB). Stored pages are read as
            // their bytes, whatever the header states.
            if chunk.compression() != Compression::UNCOMPRESSED {
                let physical = (PhysicalType::BYTE_ARRAY, 0);
                super::claims::chunk_checked(path, &file, chunk, physical, name)?;
            }
            super::inflate::pages(path, &file, chunk, rows, (name, false))?
        };
        let max_def = schema.column(leaf).max_def_level();
        let mut read = PlainStrings::of_pages(path, "", pages, rows, max_def, codec);
        (read.label, read.first_row) = (label, first_row);
        Ok(read)
    }

    /// The reader of a chunk of `rows` rows whose pages `pages` gives (as stored unless
    /// `codec` is [`Codec::Crate`]), named column `name` of file `path` in errors (its first
    /// row the file's first).
    fn of_pages(
        path: &Path,
        name: &str,
        pages: Box<dyn PageReader>,
        rows: usize,
        max_def: i16,
        codec: Codec,
    ) -> PlainStrings {
        PlainStrings {
            path: Arc::from(path),
            label: format!("column {name}"),
            first_row: 0,
            rows,
            pages,
            max_def,
            rows_left: rows,
            unopened: rows,
            page: None,
            defs: Vec::new(),
            codec,
            delta: (Vec::new(), Vec::new()),
            dict: None,
            indexed: Vec::new(),
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        column_error(&self.path, &self.label, message)
    }

    /// The next `rows` rows of the column; a page read to its end goes to `pool`.
    pub fn next(&mut self, rows: usize, pool: &mut PagePool) -> Result<Spans> {
        if rows > self.rows_left {
            return Err(self.error(format!(
                "{rows} rows asked of a chunk with {} left",
                self.rows_left
            )));
        }
        // The chunk row of the batch's first row.
        let batch_first = self.rows - self.rows_left;
        self.rows_left -= rows;
        let mut spans = Spans::with_capacity(rows);
        while spans.len() < rows {
            if self.page.as_ref().is_none_or(|p| p.value == p.values) {
                let next = self.next_page(pool)?;
                self.give_page(next, pool);
            }
            let Some(page) = self.page.as_mut() else {
                unreachable!("a page was just opened")
            };
            let take = (page.values - page.value).min(rows - spans.len());
            if take == 0 {
                continue;
            }
            if let Err(e) = page.levels.take(&page.buf, take, &mut self.defs) {
                let e = format!("definition levels: {e}");
                return Err(column_error(&self.path, &self.label, e));
            }
            let levels = (self.max_def > 0).then_some(&self.defs[..]);
            if let Some(indices) = page.indices.as_mut() {
                let dict = self.dict.as_ref().ok_or_else(|| {
                    column_error(
                        &self.path,
                        &self.label,
                        "a dictionary-encoded page before any dictionary page",
                    )
                })?;
                let values = levels.map_or(take, |l| l.iter().filter(|&&d| d != 0).count());
                let idx = &mut self.indexed;
                if let Err(e) = indices.take(&page.buf, values, idx) {
                    let e = format!("a dictionary-encoded page: {e}");
                    return Err(column_error(&self.path, &self.label, e));
                }
                let Ok(slot) = spans.add_page(dict.buf.clone()) else {
                    let e = "more pages in one batch than a span can name";
                    return Err(column_error(&self.path, &self.label, e));
                };
                if let Err((k, _)) = spans.push_indexed(slot, levels, idx, &dict.starts) {
                    let e = format!(
                        "value {} of a page: an index past a dictionary of {} values",
                        page.value + k,
                        dict.starts.len()
                    );
                    return Err(column_error(&self.path, &self.label, e));
                }
                page.value += take;
                continue;
            }
            let Ok(slot) = spans.add_page(page.buf.clone()) else {
                let e = "more pages in one batch than a span can name";
                return Err(column_error(&self.path, &self.label, e));
            };
            let start = page.at;
            page.at = match spans.push_run(slot, start, levels, take) {
                Ok(end) => end,
                Err((k, _)) => {
                    let e = format!(
                        "value {} of a page runs past the page's end",
                        page.value + k
                    );
                    return Err(column_error(&self.path, &self.label, e));
                }
            };
            if !page.ascii
                && let Some(row) = (spans.len() - take..spans.len()).find(|&row| {
                    spans
                        .bytes(row)
                        .is_some_and(|b| std::str::from_utf8(b).is_err())
                })
            {
                // The row as the rejects file numbers rows (1-based in the file), and where
                // the value is in its page.
                let in_page = page.value + take - (spans.len() - row);
                let file_row = self.first_row + (batch_first + row) as u64 + 1;
                let e = format!(
                    "the value of row {file_row} (value {in_page} of its page) is not UTF-8"
                );
                return Err(column_error(&self.path, &self.label, e));
            }
            page.value += take;
        }
        Ok(spans)
    }

    /// Passes over the next `rows` rows of the column (the rows before a part of the row
    /// group another worker reads): whole pages by their headers, not decompressed; the rest
    /// read as [`PlainStrings::next`] reads them, and dropped.
    pub fn skip(&mut self, rows: usize, pool: &mut PagePool) -> Result<()> {
        if rows > self.rows_left {
            return Err(self.error(format!(
                "{rows} rows skipped in a chunk with {} left",
                self.rows_left
            )));
        }
        let mut rows = rows;
        while rows > 0 && self.page.as_ref().is_none_or(|p| p.value == p.values) {
            let page = match self.pages.peek_next_page() {
                Ok(Some(m)) if m.is_dict && self.dict.is_none() => {
                    // The chunk's dictionary, which the pages after need.
                    match self.pages.get_next_page() {
                        Ok(Some(d)) => self.read_dictionary(d, pool)?,
                        Ok(None) => return Err(self.error("a dictionary page went missing")),
                        Err(e) => return Err(self.error(e)),
                    }
                    continue;
                }
                Ok(Some(m)) if !m.is_dict && m.num_rows.is_none_or(|r| Some(r) == m.num_levels) => {
                    m.num_levels
                }
                Ok(_) => None,
                Err(e) => return Err(self.error(e)),
            };
            // A flat column has a value per row: a page of no more rows than are left to pass
            // is passed whole (anything else, a dictionary page included, is read as `next`
            // reads it, and refused there).
            let Some(values) = page.filter(|v| *v <= rows && *v <= self.unopened) else {
                break;
            };
            self.pages.skip_next_page().map_err(|e| self.error(e))?;
            (self.unopened, self.rows_left, rows) = (
                self.unopened - values,
                self.rows_left - values,
                rows - values,
            );
        }
        self.next(rows, pool).map(drop)
    }

    /// Gives the buffer of the page being read to `pool` (the chunk is done with).
    pub fn release(mut self, pool: &mut PagePool) {
        if let Some(page) = self.page.take() {
            page.give_to(pool);
        }
        if let Some(dict) = self.dict.take() {
            self.give_buf(dict.buf, pool);
        }
    }

    /// Makes `next` the page being read, the one before going to `pool`.
    fn give_page(&mut self, next: Open, pool: &mut PagePool) {
        if let Some(old) = self.page.replace(next) {
            old.give_to(pool);
        }
    }

    /// `buf` to `pool` if it is a buffer decompressed here (the others are the `parquet`
    /// crate's, not to be written).
    fn give_buf(&self, buf: Buffer, pool: &mut PagePool) {
        if !matches!(self.codec, Codec::Crate) {
            pool.give(buf);
        }
    }

    /// Checks that the chunk held exactly the rows taken: a chunk with values left over, or
    /// rows not taken (the row group's other columns ended first), is an error, never rows
    /// dropped.
    pub fn finish(&self) -> Result<()> {
        let left_in_page = self.page.as_ref().map_or(0, |p| p.values - p.value);
        if self.rows_left != 0 || self.unopened != 0 || left_in_page != 0 {
            return Err(self.error(format!(
                "the chunk's values and the row group's rows disagree ({} rows not read, {} values left)",
                self.rows_left,
                self.unopened + left_in_page
            )));
        }
        Ok(())
    }

    /// Reads and checks the next data page: its definition levels into `defs`, and where its
    /// values start.
    fn next_page(&mut self, pool: &mut PagePool) -> Result<Open> {
        let page = loop {
            match self.pages.get_next_page() {
                Ok(Some(p)) if p.is_data_page() => break p,
                Ok(Some(dictionary)) => self.read_dictionary(dictionary, pool)?,
                Ok(None) => return Err(self.error("the chunk has fewer values than rows")),
                Err(e) => return Err(self.error(e)),
            }
        };
        let required = self.max_def == 0;
        let (buf, values, encoding, levels, at) = match page {
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                ..
            } => {
                let buf = self.decompressed(buf, 0, pool)?;
                let n = num_values as usize;
                let (levels, at) = match def_level_encoding {
                    _ if required => (Levels::None, 0),
                    Encoding::RLE => {
                        let len = (buf.get(..4))
                            .and_then(|b| b.first_chunk::<4>())
                            .map(|b| u32::from_le_bytes(*b) as usize)
                            .ok_or_else(|| self.error("a page too short for its levels"))?;
                        (Levels::hybrid(4, len), 4usize.saturating_add(len))
                    }
                    Encoding::BIT_PACKED => (Levels::Packed { start: 0, bit: 0 }, n.div_ceil(8)),
                    e => return Err(self.error(format!("definition levels encoded {e}"))),
                };
                (buf, n, encoding, levels, at)
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                def_levels_byte_len,
                rep_levels_byte_len,
                is_compressed,
                num_nulls,
                ..
            } => {
                // A v2 page's levels are stored as they are; its values may be compressed. A
                // page of nulls only has no values to read: a body of it that does not
                // decompress is left unread (the `parquet` crate skips a body whose header says
                // it decompresses to nothing; a page whose null count alone is wrong still
                // decompresses, and is read as the crate reads it).
                let levels =
                    (def_levels_byte_len as usize).saturating_add(rep_levels_byte_len as usize);
                // As the Arrow reader: the values follow both level streams; a flat column's
                // repetition levels (none, or a writer's empty stream) are not read.
                let (rep, def) = (rep_levels_byte_len as usize, def_levels_byte_len as usize);
                let buf = if is_compressed {
                    match self.decompressed(buf.clone(), levels, pool) {
                        Ok(b) => b,
                        // Only a page whose levels agree it holds no value: one that holds
                        // values (its null count wrong) has them in the body that failed.
                        Err(e) if num_nulls >= num_values => {
                            let n = num_values as usize;
                            let empty = match required {
                                true => n == 0,
                                false => {
                                    n <= self.unopened
                                        && no_value(&buf, Levels::hybrid(rep, def), n)
                                }
                            };
                            if empty {
                                Buffer::from(buf)
                            } else {
                                return Err(e);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                } else {
                    Buffer::from(buf)
                };
                let levels = if required {
                    Levels::None
                } else {
                    Levels::hybrid(rep, def)
                };
                (
                    buf,
                    num_values as usize,
                    encoding,
                    levels,
                    rep.saturating_add(def),
                )
            }
            Page::DictionaryPage { .. } => unreachable!("data pages only"),
        };
        let indexed = dictionary(encoding) && self.dict.is_some();
        if !values_read_here(encoding) && !indexed {
            return Err(self.error(format!("a page encoded {encoding} in a plain chunk")));
        }
        if values > self.unopened {
            return Err(self.error("a page holds more values than the chunk has rows"));
        }
        self.unopened -= values;
        if at > buf.len() || levels.end() > buf.len() {
            return Err(self.error("levels run past the page's end"));
        }
        if indexed {
            let end = buf.len();
            return Ok(Open {
                buf,
                pooled: !matches!(self.codec, Codec::Crate),
                at,
                value: 0,
                values,
                ascii: true,
                levels,
                indices: Some(Indices::new(at, end)),
            });
        }
        let (buf, pooled) = if encoding == Encoding::PLAIN {
            (buf, !matches!(self.codec, Codec::Crate))
        } else {
            (self.delta_to_plain(encoding, buf, at, values, pool)?, true)
        };
        let ascii = buf[at..].is_ascii();
        Ok(Open {
            buf,
            pooled,
            at,
            value: 0,
            values,
            ascii,
            levels,
            indices: None,
        })
    }

    /// Reads dictionary page `page` as the chunk's dictionary (its values checked once here,
    /// see `dict_pages`). A chunk has at most one.
    fn read_dictionary(&mut self, page: Page, pool: &mut PagePool) -> Result<()> {
        let Page::DictionaryPage {
            buf,
            num_values,
            encoding,
            ..
        } = page
        else {
            return Err(self.error("a page that is neither data nor dictionary"));
        };
        if self.dict.is_some() {
            return Err(self.error("a second dictionary page"));
        }
        if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
            return Err(self.error(format!("a dictionary page encoded {encoding}")));
        }
        let buf = self.decompressed(buf, 0, pool)?;
        let dict = Dictionary::read(buf, num_values as usize)
            .map_err(|e| self.error(format!("the dictionary page: {e}")))?;
        self.dict = Some(dict);
        Ok(())
    }
}

impl PlainStrings {
    /// Delta-encoded page `page` (levels, then its values from `at`; `values` values with its
    /// nulls) rewritten as the plain page of the same values, in a buffer from `pool`; `page`
    /// goes back to `pool` when it is one of its buffers.
    fn delta_to_plain(
        &mut self,
        encoding: Encoding,
        page: Buffer,
        at: usize,
        values: usize,
        pool: &mut PagePool,
    ) -> Result<Buffer> {
        let mut out = pool.take(0);
        let dba = encoding == Encoding::DELTA_BYTE_ARRAY;
        let (lengths, prefixes) = &mut self.delta;
        let done = super::delta::to_plain(dba, &page, at, values, (lengths, prefixes), &mut out);
        if let Err(e) = done {
            return Err(self.error(format!("a page encoded {encoding}: {e}")));
        }
        self.give_buf(page, pool);
        Ok(Buffer::from_vec(out))
    }

    /// The bytes of page `stored` as its values are read: as they come (the `parquet` crate
    /// decompressed them), or its first `keep` bytes as they are and the rest decompressed
    /// here into a buffer from `pool`. A page that claims more bytes than it can decompress to
    /// (snappy) or than its chunk holds (zstd) is refused before any memory is taken for it.
    fn decompressed(
        &mut self,
        stored: bytes::Bytes,
        keep: usize,
        pool: &mut PagePool,
    ) -> Result<Buffer> {
        if matches!(self.codec, Codec::Crate) {
            return Ok(Buffer::from(stored));
        }
        if keep > stored.len() {
            let e = "levels run past the page's end";
            return Err(column_error(&self.path, &self.label, e));
        }
        let (keep, body) = stored.split_at(keep);
        if body.is_empty() {
            // A page of nulls only may store no values (the `parquet` crate leaves it as is).
            return Ok(Buffer::from(stored));
        }
        let out = match &mut self.codec {
            Codec::Snappy(decoder) => unsnap(decoder, keep, body, pool)
                .map_err(|e| format!("a page's snappy stream: {e}")),
            Codec::Zstd {
                most,
                bulk: Some(bulk),
            } => unzstd(bulk, keep, body, *most, pool)
                .map_err(|e| format!("a page's zstd frame: {e}")),
            Codec::Zstd { bulk: None, .. } => Err("no zstd decoder (given back)".to_owned()),
            Codec::Crate => unreachable!("returned above"),
        };
        let out = out.map_err(|e| column_error(&self.path, &self.label, e))?;
        Ok(Buffer::from_vec(out))
    }
}

/// `keep`, then snappy stream `body` decompressed, in one buffer from `pool`. A stream that
/// claims more bytes than its length can expand to is refused before any memory is taken.
fn unsnap(
    decoder: &mut snap::raw::Decoder,
    keep: &[u8],
    body: &[u8],
    pool: &mut PagePool,
) -> std::result::Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| e.to_string())?;
    if len > snappy_bound(body.len()) {
        return Err(format!(
            "{len} bytes claimed, more than {} bytes can hold",
            body.len()
        ));
    }
    let mut out = pool.take(keep.len() + len);
    out[..keep.len()].copy_from_slice(keep);
    decoder
        .decompress(body, &mut out[keep.len()..])
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// `keep`, then zstd frame `body` decompressed by `bulk`, in one buffer from `pool`, never
/// more than `most` bytes. A frame that states its size (every writer measured does) is
/// decompressed in one call into room set aside for that size, which is not written before
/// (memory is touched only as the frame fills it, so a false size costs nothing but address
/// space, and a size no allocation can hold is an error, not an abort). A frame that does not,
/// or a page of several frames, is read as a stream.
fn unzstd(
    bulk: &mut zstd::bulk::Decompressor<'static>,
    keep: &[u8],
    body: &[u8],
    most: usize,
    pool: &mut PagePool,
) -> std::result::Result<Vec<u8>, String> {
    use std::io::{Cursor, Read};
    let too_much = |n: u64| format!("{n} bytes or more, more than its chunk's {most}");
    let mut out = pool.take(0);
    out.extend_from_slice(keep);
    // A header the size cannot be read from is left to the stream decoder.
    if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(body) {
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= most)
            .ok_or_else(|| too_much(n))?;
        (out.try_reserve_exact(n)).map_err(|_| format!("{n} bytes could not be set aside"))?;
        let mut at = Cursor::new(&mut out);
        at.set_position(keep.len() as u64);
        if bulk.decompress_to_buffer(body, &mut at).ok() == Some(n) {
            return Ok(out);
        }
        out.truncate(keep.len());
    }
    let mut frames = zstd::stream::read::Decoder::with_buffer(body).map_err(|e| e.to_string())?;
    // The one-call decoder takes any window; so does the stream here (the format's largest).
    frames.window_log_max(31).map_err(|e| e.to_string())?;
    let read = (frames.take(most as u64 + 1))
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if read > most {
        return Err(too_much(read as u64));
    }
    Ok(out)
}

/// A read error naming the file and the column.
fn column_error(path: &Path, label: &str, message: impl std::fmt::Display) -> Error {
    Error::read(path, format!("{label}: {message}"))
}

/// A data page's definition levels (bit width 1: the column is at most optional), decoded a
/// batch's rows at a time: the memory they take is bounded by the rows asked for, never by
/// the count a page header claims.
enum Levels {
    /// A required column: none.
    None,
    /// The RLE / bit-packed hybrid in `at..end` of the page (`at`: the next run header), and
    /// the run being read: `run` more values equal to `value`, or `packed` more bit-packed
    /// values from bit `bit` of byte `byte`.
    Hybrid {
        at: usize,
        end: usize,
        run: usize,
        value: u8,
        packed: usize,
        byte: usize,
        bit: u32,
    },
    /// The deprecated `BIT_PACKED` encoding (v1 pages) from the page's start, read as the
    /// `parquet` crate's Arrow reader reads it (least significant bit first), so both
    /// readers give a file the same rows.
    Packed { start: usize, bit: usize },
}

impl Levels {
    fn hybrid(at: usize, len: usize) -> Levels {
        Levels::Hybrid {
            at,
            end: at.saturating_add(len),
            run: 0,
            value: 0,
            packed: 0,
            byte: 0,
            bit: 0,
        }
    }

    /// Where the level bytes end (checked against the page when it is opened).
    fn end(&self) -> usize {
        match self {
            Levels::Hybrid { end, .. } => *end,
            _ => 0,
        }
    }

    /// The next `n` levels of `page`, one byte (0 or 1) each, into `out` (cleared first).
    fn take(
        &mut self,
        page: &[u8],
        n: usize,
        out: &mut Vec<u8>,
    ) -> std::result::Result<(), String> {
        out.clear();
        match self {
            Levels::None => {}
            Levels::Packed { start, bit } => {
                for _ in 0..n {
                    let b = page
                        .get(*start + *bit / 8)
                        .ok_or("levels run past the page")?;
                    out.push((b >> (*bit % 8)) & 1);
                    *bit += 1;
                }
            }
            Levels::Hybrid {
                at,
                end,
                run,
                value,
                packed,
                byte,
                bit,
            } => {
                let data = &page[..*end];
                while out.len() < n {
                    if *run > 0 {
                        let k = (*run).min(n - out.len());
                        out.resize(out.len() + k, *value);
                        *run -= k;
                    } else if *packed > 0 {
                        let k = (*packed).min(n - out.len());
                        for _ in 0..k {
                            out.push((data[*byte] >> *bit) & 1);
                            *bit += 1;
                            if *bit == 8 {
                                (*bit, *byte) = (0, *byte + 1);
                            }
                        }
                        *packed -= k;
                    } else {
                        let header =
                            uleb128(data, at).ok_or("a run header runs past the levels")?;
                        // A zero header ends the levels, as the Arrow reader reads it
                        // (fastparquet pads its pages with zeros): levels still wanted past
                        // it are missing, never read from the runs behind it.
                        if header == 0 {
                            return Err(
                                "the levels end (a zero run header) before the page's values"
                                    .into(),
                            );
                        }
                        let count = usize::try_from(header >> 1).unwrap_or(usize::MAX);
                        if header & 1 == 0 {
                            // A run of one value, stored in one byte (bit width 1).
                            let v = *data.get(*at).ok_or("a run's value is missing")?;
                            *at += 1;
                            if v > 1 {
                                return Err(format!(
                                    "level {v} in a column whose levels are 0 or 1"
                                ));
                            }
                            (*run, *value) = (count, v);
                        } else {
                            // `count` groups of 8 values, one byte per group at bit width 1;
                            // a last run cut short by the end of the levels is read as far as
                            // it goes (as the Arrow reader does).
                            let bytes = count.min(data.len() - *at);
                            (*packed, *byte, *bit) = (bytes * 8, *at, 0);
                            *at += bytes;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// True when the `n` definition levels `levels` of page `page` decode and are all 0 (the
/// page holds no value), read a few thousand at a time.
fn no_value(page: &[u8], mut levels: Levels, n: usize) -> bool {
    if levels.end() > page.len() {
        return false;
    }
    let (mut left, mut out) = (n, Vec::new());
    while left > 0 {
        let k = left.min(4096);
        if levels.take(page, k, &mut out).is_err() || out.iter().any(|&d| d != 0) {
            return false;
        }
        left -= k;
    }
    true
}

/// An unsigned LEB128 integer at `data[*at..]` (at most 10 bytes).
pub(super) fn uleb128(data: &[u8], at: &mut usize) -> Option<u64> {
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

    fn levels(data: &[u8], takes: &[usize]) -> Result<Vec<u8>, String> {
        let mut l = Levels::hybrid(0, data.len());
        let (mut all, mut out) = (Vec::new(), Vec::new());
        for &n in takes {
            l.take(data, n, &mut out)?;
            all.extend_from_slice(&out);
        }
        Ok(all)
    }

    #[test]
    fn levels_decode_from_runs_and_bit_packed_groups_in_any_cut() {
        // A run of 3 ones, then one group of 8 bit-packed values (0b1010_0101).
        let data = [3 << 1, 1, (1 << 1) | 1, 0b1010_0101];
        let want = [1, 1, 1, 1, 0, 1, 0, 0, 1, 0];
        for takes in [&[10][..], &[1, 9], &[2, 3, 5], &[4, 0, 6]] {
            assert_eq!(levels(&data, takes).unwrap(), want, "{takes:?}");
        }
        // A run longer than asked for; a two-byte header (200 = run of 100).
        assert_eq!(levels(&[0xC8, 0x01, 0], &[5, 5]).unwrap(), [0; 10]);
        // A zero header ends the levels (the Arrow reader's reading): levels wanted past it
        // are an error, not read from the runs behind it; one after the levels asked for is
        // never read.
        assert!(levels(&[0, 1, 2, 1], &[1]).is_err());
        assert_eq!(levels(&[2, 1, 0], &[1]).unwrap(), [1]);
        // The deprecated BIT_PACKED levels, least significant bit first.
        let mut p = Levels::Packed { start: 0, bit: 0 };
        let mut out = Vec::new();
        p.take(&[0b0000_0001, 0b1], 3, &mut out).unwrap();
        assert_eq!(out, [1, 0, 0]);
        p.take(&[0b0000_0001, 0b1], 6, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_levels_are_errors_not_loops() {
        for bad in [&[][..], &[0, 0], &[2, 2], &[3], &[1], &[0x80, 0x80]] {
            assert!(levels(bad, &[4]).is_err(), "{bad:?}");
        }
    }

    /// Batches that cut pages anywhere read the column's rows in order: pages of 3 rows (v1
    /// and v2), taken 1, 2, 4 and 5 rows at a time.
    #[test]
    fn batches_cut_pages_anywhere() {
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{WriterProperties, WriterVersion};
        let cells: Vec<Option<String>> = (0..23)
            .map(|i| (i % 4 != 1).then(|| format!("+88691234{i:04}")))
            .collect();
        let column = arrow::array::StringArray::from(cells.clone());
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "subscriber",
            Arc::new(column) as arrow::array::ArrayRef,
        )])
        .unwrap();
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.parquet");
            let props = WriterProperties::builder()
                .set_dictionary_enabled(false)
                .set_writer_version(version)
                .set_encoding(Encoding::PLAIN)
                .set_data_page_row_count_limit(3)
                .set_write_batch_size(3)
                .build();
            let f = File::create(&path).unwrap();
            let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            let file = File::open(&path).unwrap();
            let (footer, _) = crate::ingest::columnar::parquet_row_groups(&path).unwrap();
            let (rg, descr) = (footer.row_group(0), footer.file_metadata().schema_descr());
            let ty = arrow::datatypes::DataType::Utf8;
            assert!(eligible(rg, descr, 0, &ty, false));
            for take in [1, 2, 4, 5] {
                let mut c =
                    PlainStrings::open(&path, &file, rg, descr, 0, "subscriber", (0, 0)).unwrap();
                let (mut got, mut pool) = (Vec::new(), PagePool::default());
                while got.len() < cells.len() {
                    let s = c
                        .next(take.min(cells.len() - got.len()), &mut pool)
                        .unwrap();
                    got.extend((0..s.len()).map(|i| s.get(i).map(str::to_owned)));
                }
                c.finish().unwrap();
                assert_eq!(got, cells, "{version:?}, {take} at a time");
                assert!(c.next(1, &mut pool).is_err());
            }
        }
    }

    /// A dictionary that falls back (pyarrow's and Spark's chunks: a dictionary page,
    /// dictionary-encoded pages, then plain or delta ones) is read here, v1 and v2 pages,
    /// with and without nulls, in batches and skips that cut pages anywhere; a chunk that
    /// stays dictionary-encoded is left to the Arrow reader.
    #[test]
    fn dictionaries_that_fall_back_are_read_in_batches_that_cut_pages_anywhere() {
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{WriterProperties, WriterVersion};
        for nulls in [false, true] {
            // Values repeat early (so some dictionary-encoded pages index one value many
            // times), then are all new (so the dictionary overflows).
            let cells: Vec<Option<String>> = (0..60)
                .map(|i: u32| {
                    let v = if i < 20 { i % 3 } else { i * 7 };
                    (!nulls || i % 5 != 2).then(|| format!("+88691234{v:04}"))
                })
                .collect();
            let column = arrow::array::StringArray::from(cells.clone());
            let batch = arrow::record_batch::RecordBatch::try_from_iter([(
                "subscriber",
                Arc::new(column) as arrow::array::ArrayRef,
            )])
            .unwrap();
            for (version, fallback) in [
                (WriterVersion::PARQUET_1_0, None),
                (WriterVersion::PARQUET_2_0, None),
                (WriterVersion::PARQUET_2_0, Some(Encoding::DELTA_BYTE_ARRAY)),
                (
                    WriterVersion::PARQUET_1_0,
                    Some(Encoding::DELTA_LENGTH_BYTE_ARRAY),
                ),
            ] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("p.parquet");
                let mut props = WriterProperties::builder()
                    .set_dictionary_page_size_limit(120)
                    .set_writer_version(version)
                    .set_data_page_row_count_limit(4)
                    .set_write_batch_size(4);
                if let Some(e) = fallback {
                    props = props.set_encoding(e);
                }
                let f = File::create(&path).unwrap();
                let mut w = ArrowWriter::try_new(f, batch.schema(), Some(props.build())).unwrap();
                w.write(&batch).unwrap();
                w.close().unwrap();
                let file = File::open(&path).unwrap();
                let (footer, _) = crate::ingest::columnar::parquet_row_groups(&path).unwrap();
                let (rg, descr) = (footer.row_group(0), footer.file_metadata().schema_descr());
                let data = rg.column(0).page_encoding_stats_mask().unwrap();
                assert!(rg.column(0).dictionary_page_offset().is_some());
                assert!(data.encodings().any(dictionary) && data.encodings().any(values_read_here));
                let ty = arrow::datatypes::DataType::Utf8;
                assert!(
                    eligible(rg, descr, 0, &ty, false),
                    "{version:?} {fallback:?}"
                );
                let label = format!("{version:?} {fallback:?} nulls {nulls}");
                for take in [1, 3, 7, 60] {
                    for skipped in [0, 2, 9, 30] {
                        let mut c =
                            PlainStrings::open(&path, &file, rg, descr, 0, "s", (0, 0)).unwrap();
                        let mut pool = PagePool::default();
                        c.skip(skipped, &mut pool).unwrap();
                        let mut got = Vec::new();
                        while skipped + got.len() < cells.len() {
                            let n = take.min(cells.len() - skipped - got.len());
                            let s = c.next(n, &mut pool).unwrap();
                            got.extend((0..s.len()).map(|i| s.get(i).map(str::to_owned)));
                        }
                        c.finish().unwrap();
                        assert_eq!(got, cells[skipped..], "{label}, skip {skipped}, {take}");
                        c.release(&mut pool);
                    }
                }
            }
        }
        // A chunk dictionary-encoded to its end stays with the Arrow reader (a value is
        // interpreted once per dictionary entry there).
        let column = arrow::array::StringArray::from(vec!["+886912340001"; 50]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "subscriber",
            Arc::new(column) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let f = File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (footer, _) = crate::ingest::columnar::parquet_row_groups(&path).unwrap();
        let (rg, descr) = (footer.row_group(0), footer.file_metadata().schema_descr());
        assert!(!eligible(
            rg,
            descr,
            0,
            &arrow::datatypes::DataType::Utf8,
            false
        ));
        // Unless the Arrow reader would read it as views anyway (a counterparty).
        assert!(eligible(
            rg,
            descr,
            0,
            &arrow::datatypes::DataType::Utf8,
            true
        ));
    }

    /// A buffer a batch still holds is never handed out; one nothing holds is, as it is; the
    /// pool keeps a bounded number of buffers of a bounded size.
    #[test]
    fn the_pool_hands_out_only_buffers_nothing_else_holds() {
        let mut pool = PagePool::default();
        let page = Buffer::from_vec(vec![7u8; 100]);
        let held = page.clone(); // a batch's spans
        pool.give(page);
        let fresh = pool.take(60);
        assert_ne!(fresh.as_ptr(), held.as_ptr());
        assert_eq!(fresh, [0; 60]);
        assert_eq!(held.as_slice(), [7; 100]);
        let at = held.as_ptr();
        drop(held);
        let reused = pool.take(60);
        assert_eq!((reused.as_ptr(), reused.len()), (at, 60));
        assert!(pool.spare.is_empty());
        for _ in 0..PagePool::KEEP + 2 {
            pool.give(Buffer::from_vec(vec![1u8; 10]));
        }
        assert_eq!(pool.spare.len(), PagePool::KEEP);
        let mut pool = PagePool::default();
        pool.give(Buffer::from_vec(Vec::<u8>::with_capacity(
            PagePool::LARGEST + 1,
        )));
        assert!(pool.spare.is_empty());
    }

    /// Snappy streams decode as the `snap` crate decodes them, after the bytes kept as they
    /// are; a stream changed anywhere is decoded or refused exactly when `snap` does; a length
    /// no stream of its size can reach is refused before memory is taken for it.
    #[test]
    fn snappy_streams_decode_as_snap_and_damage_is_refused_as_snap_refuses_it() {
        let (mut d, mut pool) = (snap::raw::Decoder::new(), PagePool::default());
        let text: Vec<u8> = (0..200)
            .flat_map(|i| format!("\x0e\0\0\0+2348031{:06}", i * 7919 % 1000).into_bytes())
            .collect();
        let packed = snap::raw::Encoder::new().compress_vec(&text).unwrap();
        assert!(packed.len() < text.len());
        let got = unsnap(&mut d, b"LV", &packed, &mut pool).unwrap();
        assert_eq!(got, [&b"LV"[..], &text].concat());
        let e = unsnap(&mut d, b"", &[0xff, 0xff, 0xff, 0xff, 0x0f, 0], &mut pool).unwrap_err();
        assert!(e.contains("claimed"), "{e}");
        for at in 0..packed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = packed.clone();
                bad[at] ^= flip;
                let ours = unsnap(&mut d, b"", &bad, &mut pool);
                let theirs = snap::raw::Decoder::new().decompress_vec(&bad);
                assert_eq!(ours.ok(), theirs.ok(), "byte {at} ^ {flip:#x}");
            }
        }
    }

    /// Pages handed over from memory, as a chunk's page reader hands them over.
    struct Pages(std::vec::IntoIter<Page>);

    impl Iterator for Pages {
        type Item = parquet::errors::Result<Page>;
        fn next(&mut self) -> Option<Self::Item> {
            self.0.next().map(Ok)
        }
    }

    impl PageReader for Pages {
        fn get_next_page(&mut self) -> parquet::errors::Result<Option<Page>> {
            Ok(self.0.next())
        }
        fn peek_next_page(
            &mut self,
        ) -> parquet::errors::Result<Option<parquet::column::page::PageMetadata>> {
            Ok(None)
        }
        fn skip_next_page(&mut self) -> parquet::errors::Result<()> {
            self.0.next();
            Ok(())
        }
    }

    /// A snappy v2 page whose values are all null reads as its nulls whatever its body holds
    /// (a damaged byte there is left unread): the `parquet` crate skips such a body (its
    /// header says the values decompress to nothing), and the two readers give the file the
    /// same rows. A page with a value decompresses its body, and a damaged one is an error
    /// naming the column.
    #[test]
    fn a_v2_page_of_nulls_only_reads_whatever_its_body_holds() {
        let page = |nulls: u32, levels: &[u8]| Page::DataPageV2 {
            buf: bytes::Bytes::from([levels, &[0x05]].concat()),
            num_values: 4,
            encoding: Encoding::PLAIN,
            num_nulls: nulls,
            num_rows: 4,
            def_levels_byte_len: levels.len() as u32,
            rep_levels_byte_len: 0,
            is_compressed: true,
            statistics: None,
        };
        let read = |p: Page| {
            let pages = Box::new(Pages(vec![p].into_iter()));
            let codec = Codec::Snappy(snap::raw::Decoder::new());
            let mut c =
                PlainStrings::of_pages(Path::new("t.parquet"), "counterparty", pages, 4, 1, codec);
            let s = c.next(4, &mut PagePool::default())?;
            Ok::<_, Error>(
                (0..4)
                    .map(|i| s.get(i).map(str::to_owned))
                    .collect::<Vec<_>>(),
            )
        };
        // Four nulls: one RLE run of 4 zeros.
        assert_eq!(
            read(page(4, &[4 << 1, 0])).unwrap(),
            [None, None, None, None]
        );
        // Three nulls and a value (bit-packed levels 0,0,0,1): the body is decompressed.
        let e = read(page(3, &[(1 << 1) | 1, 0b1000]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.parquet") && e.contains("counterparty") && e.contains("snappy"),
            "{e}"
        );
    }

    /// The rows of required plain column whose pages (v1) are `bodies`, each of `rows[k]`
    /// values, decompressed by `codec`.
    fn read_pages(bodies: Vec<Vec<u8>>, rows: &[usize], codec: Codec) -> Result<Vec<String>> {
        let pages = bodies.into_iter().zip(rows).map(|(b, &n)| Page::DataPage {
            buf: bytes::Bytes::from(b),
            num_values: n as u32,
            encoding: Encoding::PLAIN,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        });
        read_all(pages.collect(), rows.iter().sum(), codec)
    }

    /// The `total` rows of a required column `subscriber` of file `t.parquet` whose pages
    /// are `pages` (as `codec` takes them), read three rows at a time, then checked whole.
    fn read_all(pages: Vec<Page>, total: usize, codec: Codec) -> Result<Vec<String>> {
        let pages = Box::new(Pages(pages.into_iter()));
        let mut c =
            PlainStrings::of_pages(Path::new("t.parquet"), "subscriber", pages, total, 0, codec);
        let mut pool = PagePool::default();
        let mut got = Vec::new();
        while got.len() < total {
            let s = c.next(3.min(total - got.len()), &mut pool)?;
            got.extend((0..s.len()).map(|i| s.get(i).unwrap_or_default().to_owned()));
        }
        c.finish()?;
        Ok(got)
    }

    /// A value that is not UTF-8 is an error naming its row as the rejects file numbers rows
    /// (a helper's pass found "value 1 of a page", which no reader could find), here in the
    /// second page of a chunk read three rows at a time.
    #[test]
    fn a_value_that_is_not_utf8_is_named_by_its_row() {
        let first = plain(&["+1".into(), "+2".into(), "+3".into(), "+4".into()]);
        let mut second = Vec::new();
        for v in [&b"+5"[..], b"+6\xff", b"+7"] {
            second.extend_from_slice(&(v.len() as u32).to_le_bytes());
            second.extend_from_slice(v);
        }
        let e = read_pages(vec![first, second], &[4, 3], Codec::Crate)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("column subscriber: the value of row 6 (value 1 of its page) is not UTF-8"),
            "{e}"
        );
    }

    /// `values` as a plain page's bytes (a 4-byte length before each).
    fn plain(values: &[String]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| [&(v.len() as u32).to_le_bytes()[..], v.as_bytes()].concat())
            .collect()
    }

    /// zstd pages decompress whether their frame states its size (Polars' writer: into a
    /// buffer of that size) or not (arrow-rs': read to its end), and a page of two frames;
    /// a frame stating, or decompressing to, more than its chunk holds is refused, and so is a
    /// damaged frame, with errors naming the column.
    #[test]
    fn zstd_pages_decompress_with_or_without_a_stated_size() {
        let values: Vec<String> = (0..40)
            .map(|i| format!("+2348031{:06}", i * 7919))
            .collect();
        let (a, b) = (plain(&values[..25]), plain(&values[25..]));
        let stated = |t: &[u8]| zstd::bulk::compress(t, 3).unwrap();
        let streamed = |t: &[u8]| {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            std::io::Write::write_all(&mut e, t).unwrap();
            e.finish().unwrap()
        };
        assert!(
            zstd::zstd_safe::get_frame_content_size(&stated(&a))
                .unwrap()
                .is_some()
        );
        assert!(
            zstd::zstd_safe::get_frame_content_size(&streamed(&a))
                .unwrap()
                .is_none()
        );
        let most = a.len() + b.len();
        let zstd = || {
            Codec::of(
                parquet::basic::Compression::ZSTD(Default::default()),
                most as i64,
            )
        };
        for bodies in [
            vec![stated(&a), stated(&b)],
            vec![streamed(&a), streamed(&b)],
            vec![stated(&a), streamed(&b)],
        ] {
            assert_eq!(read_pages(bodies, &[25, 15], zstd()).unwrap(), values);
        }
        let two_frames = [stated(&a), stated(&b)].concat();
        assert_eq!(read_pages(vec![two_frames], &[40], zstd()).unwrap(), values);
        for (bodies, rows, most) in [
            (vec![stated(&a)], vec![25], a.len() - 1),
            (vec![streamed(&a)], vec![25], a.len() - 1),
            (vec![stated(&a)[..9].to_vec()], vec![25], most),
            (vec![b"not a frame".to_vec()], vec![25], most),
        ] {
            let codec = Codec::of(
                parquet::basic::Compression::ZSTD(Default::default()),
                most as i64,
            );
            let e = read_pages(bodies, &rows, codec).unwrap_err().to_string();
            assert!(e.contains("subscriber") && e.contains("zstd"), "{e}");
        }
        let mut damaged = stated(&a);
        for at in 0..damaged.len() {
            damaged[at] ^= 0x5a;
            // Read or refused, never a panic.
            let _ = read_pages(vec![damaged.clone()], &[25], zstd());
            damaged[at] ^= 0x5a;
        }
    }

    /// A zstd frame stating a size no allocation can hold is an error, not the process's
    /// abort; one stating more than it holds (4 GiB) is an error too, without the memory
    /// being touched; a frame with no stated size and a 256 MiB window (zstd's stream decoder
    /// takes 128 MiB by default, the one-call decoder any) is read.
    #[test]
    fn zstd_frames_claiming_too_much_are_errors_and_large_windows_are_read() {
        let values: Vec<String> = (0..25).map(|i| format!("+88691234{i:04}")).collect();
        let text = plain(&values);
        // A frame by hand: magic, a header with an 8-byte content size and no window
        // descriptor (single segment), then the text as one raw, last block.
        let forged = |size: u64| {
            let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0b1110_0000];
            f.extend_from_slice(&size.to_le_bytes());
            let block = ((text.len() as u32) << 3) | 1; // raw, last
            f.extend_from_slice(&block.to_le_bytes()[..3]);
            f.extend_from_slice(&text);
            f
        };
        let zstd = |most: u64| {
            Codec::of(
                parquet::basic::Compression::ZSTD(Default::default()),
                most as i64,
            )
        };
        let n = text.len() as u64;
        assert_eq!(read_pages(vec![forged(n)], &[25], zstd(n)).unwrap(), values);
        for claim in [1 << 40, 1 << 32] {
            let e = read_pages(vec![forged(claim)], &[25], zstd(1 << 41));
            let e = e.unwrap_err().to_string();
            assert!(e.contains("subscriber") && e.contains("zstd"), "{e}");
        }
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        e.window_log(28).unwrap();
        e.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut e, &text).unwrap();
        let wide = e.finish().unwrap();
        assert!(
            zstd::zstd_safe::get_frame_content_size(&wide)
                .unwrap()
                .is_none()
        );
        assert_eq!(read_pages(vec![wide], &[25], zstd(n)).unwrap(), values);
    }

    /// A dictionary page of `values` (plain, as stored) then v1 RLE_DICTIONARY pages of a
    /// required column with index bytes `bodies` (each the width byte, then the hybrid),
    /// `rows[k]` values each, read 3 rows at a time.
    fn read_indexed(values: &[&str], bodies: Vec<Vec<u8>>, rows: &[usize]) -> Result<Vec<String>> {
        let dict = plain(&values.iter().map(|v| v.to_string()).collect::<Vec<_>>());
        let mut pages = vec![Page::DictionaryPage {
            buf: bytes::Bytes::from(dict),
            num_values: values.len() as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        }];
        pages.extend(bodies.into_iter().zip(rows).map(|(b, &n)| Page::DataPage {
            buf: bytes::Bytes::from(b),
            num_values: n as u32,
            encoding: Encoding::RLE_DICTIONARY,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        }));
        read_all(pages, rows.iter().sum(), Codec::Crate)
    }

    /// Indices the Arrow reader refuses (its `RleDecoder`) are refused here too, among those
    /// a page's rows take: a run's value wider than the bit width, a zero run header (the
    /// end of the indices there), a run longer than 2^31 - 1 values. (The Arrow reader also
    /// decodes up to 1,024 indices past a page's last: damage there fails only there.)
    #[test]
    fn indices_the_arrow_reader_refuses_are_refused() {
        let dict = [
            "+2348012345678",
            "+18765550000",
            "+447700900000",
            "+33612345678",
        ];
        // Control: width 2, a run of 4 copies of value 3.
        let ok = read_indexed(&dict, vec![vec![2, 4 << 1, 3]], &[4]).unwrap();
        assert_eq!(ok, [dict[3]; 4]);
        let bad: [(&str, Vec<u8>); 4] = [
            // Width 1, a run of 4 copies of value 3 (Arrow: "RLE value 3 exceeds bit width 1").
            ("value past width", vec![1, 4 << 1, 3]),
            // A zero header, then a run of 4 (Arrow: the indices end at the zero header).
            ("zero header", vec![2, 0, 0, 4 << 1, 3]),
            // A run of 2^31 copies (Arrow: "RLE run length 2147483648. Max allowed is ...").
            ("run of 2^31", vec![2, 0x80, 0x80, 0x80, 0x80, 0x10, 3]),
            // 2^28 bit-packed groups, 2^31 values.
            ("packed 2^31", vec![2, 0x81, 0x80, 0x80, 0x80, 0x02, 0xFF]),
        ];
        for (what, body) in bad {
            let got = read_indexed(&dict, vec![body], &[4]);
            let e = got.expect_err(what).to_string();
            assert!(
                e.contains("t.parquet") && e.contains("subscriber"),
                "{what}: {e}"
            );
        }
    }

    /// A snappy v2 dictionary-encoded page whose header claims only nulls but whose levels
    /// say it holds values, and whose body does not decompress, is an error (the `parquet`
    /// crate decompresses such a body and refuses it), never rows read from its stored bytes.
    #[test]
    fn a_page_of_values_whose_body_does_not_decompress_is_refused_whatever_its_null_count() {
        let mut enc = snap::raw::Encoder::new();
        let dict = plain(&["+2348012345678".to_string(), "+18765550000".to_string()]);
        for encoding in [Encoding::RLE_DICTIONARY, Encoding::PLAIN] {
            let pages = vec![
                Page::DictionaryPage {
                    buf: bytes::Bytes::from(enc.compress_vec(&dict).unwrap()),
                    num_values: 2,
                    encoding: Encoding::PLAIN,
                    is_sorted: false,
                },
                Page::DataPageV2 {
                    // Levels: a run of 4 ones. Body: as indices, width 1 and a run of 4 ones;
                    // as plain, a value of 1 byte "x" (repeated). As snappy, neither decodes.
                    buf: bytes::Bytes::from(match encoding {
                        Encoding::PLAIN => vec![4 << 1, 1, 5, 0, 0, 0, b'x'],
                        _ => vec![4 << 1, 1, 1, 4 << 1, 1],
                    }),
                    num_values: 4,
                    encoding,
                    num_nulls: 4,
                    num_rows: 4,
                    def_levels_byte_len: 2,
                    rep_levels_byte_len: 0,
                    is_compressed: true,
                    statistics: None,
                },
            ];
            let pages = Box::new(Pages(pages.into_iter()));
            let codec = Codec::Snappy(snap::raw::Decoder::new());
            let mut c =
                PlainStrings::of_pages(Path::new("t.parquet"), "counterparty", pages, 4, 1, codec);
            let got = c.next(4, &mut PagePool::default()).map(|s| {
                (0..4)
                    .map(|i| s.get(i).map(str::to_owned))
                    .collect::<Vec<_>>()
            });
            let e = got.expect_err(&format!("{encoding}")).to_string();
            assert!(e.contains("t.parquet") && e.contains("counterparty"), "{e}");
        }
    }

    /// A huge run (a forged count) costs only the rows taken.
    #[test]
    fn a_huge_run_is_decoded_a_batch_at_a_time() {
        let mut out = Vec::new();
        let mut l = Levels::hybrid(0, 6);
        l.take(&[0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0], 3, &mut out)
            .unwrap();
        assert_eq!(out, [0, 0, 0]);
        assert!(out.capacity() < 1 << 20);
    }

    /// Each damaged frame (any byte flipped) read first, then a good page on the same thread:
    /// the decoder given back to the thread's spares after the damage reads the good page right.
    #[test]
    fn a_spare_zstd_decoder_after_a_damaged_frame_reads_the_next_chunk_right() {
        let values: Vec<String> = (0..25).map(|i| format!("+88691234{i:04}")).collect();
        let text: Vec<u8> = values
            .iter()
            .flat_map(|v| [&(v.len() as u32).to_le_bytes()[..], v.as_bytes()].concat())
            .collect();
        let good = zstd::bulk::compress(&text, 3).unwrap();
        let codec = || Codec::of(Compression::ZSTD(Default::default()), text.len() as i64);
        let read = |body: Vec<u8>| -> Result<Vec<String>> {
            let page = Page::DataPage {
                buf: bytes::Bytes::from(body),
                num_values: 25,
                encoding: Encoding::PLAIN,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            read_all(vec![page], 25, codec())
        };
        for at in 0..good.len() {
            for flip in [0x5a, 0xff, 0x01] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let _ = read(bad.clone());
                let _ = read(bad[..bad.len() / 2].to_vec());
                assert_eq!(
                    read(good.clone()).unwrap(),
                    values,
                    "after byte {at} ^ {flip:#x}"
                );
            }
        }
    }
}
