//! What a Parquet file's footer and page headers claim, checked from their bytes before the
//! `parquet` crate acts on the claims.
//!
//! The crate builds a tree of the footer's schema by recursion, and takes memory for what a
//! page header states before it reads the page: a 13 KB file whose dictionary page claimed
//! 2^31 values made it allocate 34 GB and abort the process (the CLI, Python and the server
//! alike), a schema nested a few thousand groups deep overflowed a reader's stack, and a
//! page of 108 timestamps stating a gigabyte was decompressed into a gigabyte. Those claims
//! are read here with a small reader of Thrift's compact protocol (the footer's schema list,
//! each page header of a column chunk the crate will read) and refused when no honest writer
//! could have made them:
//!
//! - a schema nested deeper than [`MOST_DEPTH`] groups;
//! - a dictionary page claiming more values than its bytes can hold (4 bytes at least a
//!   byte array: its length; 8 an `INT64`);
//! - a page of a fixed-width column, or of dictionary indices, stating more bytes than its
//!   values can take (16 a value, levels included, and 64 KiB);
//! - a page stating more bytes than its codec can make of its stored ones (snappy 32x, LZ4
//!   256x, gzip 1,032x; zstd and brotli have no such bound).
//!
//! An integer field is read whatever integer type it is stated in, as the crate reads it (a
//! review found a count typed `i64` passing the check and aborting the crate). A page header
//! this reader cannot follow is refused (the crate reads the same protocol: it is damaged, or
//! made to pass the checks); a footer it cannot follow is left to the crate, and the depth is
//! checked again on the schema the crate read ([`depth_checked`]). These checks only ever
//! refuse, they never decide how a file is read.

use std::fs::File;
use std::path::Path;

use parquet::basic::{Compression, Type as PhysicalType};
use parquet::file::metadata::ColumnChunkMetaData;

use crate::error::{Error, Result};

/// The deepest nesting of groups a schema may have (Arrow IPC's readers stop at 64 too).
pub(crate) const MOST_DEPTH: usize = 64;

/// Bytes a page may state beyond what its values take.
const SLACK: i64 = 64 * 1024;

/// Thrift compact protocol types.
mod ty {
    pub(super) const STOP: u8 = 0;
    pub(super) const TRUE: u8 = 1;
    pub(super) const FALSE: u8 = 2;
    pub(super) const BYTE: u8 = 3;
    pub(super) const I16: u8 = 4;
    pub(super) const I32: u8 = 5;
    pub(super) const I64: u8 = 6;
    pub(super) const DOUBLE: u8 = 7;
    pub(super) const BINARY: u8 = 8;
    pub(super) const LIST: u8 = 9;
    pub(super) const SET: u8 = 10;
    pub(super) const MAP: u8 = 11;
    pub(super) const STRUCT: u8 = 12;
    pub(super) const UUID: u8 = 13;
}

/// Structs nested deeper than this in one message are not followed (the footer's own
/// structs go about five deep; the crate follows 64 too).
const MOST_NESTING: u8 = 64;

/// A reader of Thrift's compact protocol over `buf`; `None` wherever it cannot follow.
struct Compact<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Compact<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn int(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let b = self.buf.get(self.at..end)?;
        self.at = end;
        Some(b)
    }

    /// The next field of a struct (its type and id), `None` inside at its end (`STOP`).
    fn field(&mut self, last: &mut i16) -> Option<Option<(u8, i16)>> {
        let b = self.byte()?;
        let t = b & 0x0f;
        if t == ty::STOP {
            return Some(None);
        }
        let id = match b >> 4 {
            0 => i16::try_from(self.int()?).ok()?,
            delta => last.checked_add(i16::from(delta))?,
        };
        *last = id;
        Some(Some((t, id)))
    }

    /// A list's (or set's) element type and size.
    fn list(&mut self) -> Option<(u8, usize)> {
        let b = self.byte()?;
        let n = match b >> 4 {
            15 => usize::try_from(self.varint()?).ok()?,
            n => usize::from(n),
        };
        Some((b & 0x0f, n))
    }

    /// Passes over a value of type `t` (`in_list`: a boolean takes a byte there).
    fn skip(&mut self, t: u8, in_list: bool, nesting: u8) -> Option<()> {
        match t {
            ty::TRUE | ty::FALSE if !in_list => {}
            ty::TRUE | ty::FALSE | ty::BYTE => {
                self.byte()?;
            }
            ty::I16 | ty::I32 | ty::I64 => {
                self.varint()?;
            }
            ty::DOUBLE => {
                self.bytes(8)?;
            }
            ty::UUID => {
                self.bytes(16)?;
            }
            ty::BINARY => {
                let n = usize::try_from(self.varint()?).ok()?;
                self.bytes(n)?;
            }
            ty::LIST | ty::SET => {
                let (e, n) = self.list()?;
                for _ in 0..n {
                    self.skip(e, true, nesting)?;
                }
            }
            ty::MAP => {
                let n = usize::try_from(self.varint()?).ok()?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..n {
                        self.skip(kv >> 4, true, nesting)?;
                        self.skip(kv & 0x0f, true, nesting)?;
                    }
                }
            }
            ty::STRUCT => {
                let nesting = nesting.checked_add(1).filter(|n| *n <= MOST_NESTING)?;
                let mut last = 0;
                while let Some((t, _)) = self.field(&mut last)? {
                    self.skip(t, false, nesting)?;
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// The fields of a struct: `each(reader, type, id)` reads the ones it wants (returning
    /// `Some(true)`), the others are passed over.
    fn fields(
        &mut self,
        nesting: u8,
        mut each: impl FnMut(&mut Self, u8, i16) -> Option<bool>,
    ) -> Option<()> {
        let nesting = nesting.checked_add(1).filter(|n| *n <= MOST_NESTING)?;
        let mut last = 0;
        while let Some((t, id)) = self.field(&mut last)? {
            if !each(self, t, id)? {
                self.skip(t, false, nesting)?;
            }
        }
        Some(())
    }

    /// An integer field's value, whatever integer type it is stated in (the crate reads any
    /// as its zigzag varint, so a count stated as an `i64` must be read here too).
    fn i32_of(&mut self, t: u8) -> Option<i64> {
        match t {
            ty::BYTE => self.byte().map(|b| i64::from(b as i8)),
            ty::I16 | ty::I32 | ty::I64 => self.int(),
            _ => None,
        }
    }
}

/// The deepest nesting of groups in the footer `meta` (Thrift `FileMetaData`, without its
/// length and magic) states: its schema is a list of elements in depth-first order, each
/// group with its number of children. `None` where the footer cannot be followed.
fn schema_depth(meta: &[u8]) -> Option<usize> {
    let mut r = Compact { buf: meta, at: 0 };
    let mut depth = None;
    r.fields(0, |r, t, id| {
        if id != 2 || t != ty::LIST {
            return Some(false);
        }
        let (e, n) = r.list()?;
        (e == ty::STRUCT).then_some(())?;
        // The children still to come of each group open above the element in hand.
        let (mut open, mut most): (Vec<i64>, usize) = (Vec::new(), 0);
        for _ in 0..n {
            let mut children = 0i64;
            r.fields(1, |r, t, id| match id {
                5 => {
                    children = r.i32_of(t)?;
                    Some(true)
                }
                _ => Some(false),
            })?;
            if let Some(left) = open.last_mut() {
                *left -= 1;
            }
            if children > 0 {
                open.push(children);
                most = most.max(open.len());
            }
            while open.last() == Some(&0) {
                open.pop();
            }
        }
        depth = Some(most);
        Some(true)
    })?;
    depth
}

/// Where the footer `meta` states an empty list of row groups with an element type other than
/// a struct (fastparquet writes a frame of no rows so: `19 00`), the offset of that list's
/// header byte. Thrift readers that look at an empty list's element type refuse it; the
/// `parquet` crate does ("Expected list element type of Struct").
fn typeless_empty_row_groups(meta: &[u8]) -> Option<usize> {
    let mut r = Compact { buf: meta, at: 0 };
    let mut found = None;
    r.fields(0, |r, t, id| {
        if id != 4 || t != ty::LIST {
            return Some(false);
        }
        let at = r.at;
        let (e, n) = r.list()?;
        if n == 0 && e != ty::STRUCT {
            found = Some(at);
        }
        Some(n == 0)
    })?;
    found
}

/// The footer of the Parquet file `file` at `path`, decoded, after [`footer_checked`]. A
/// file of no rows whose footer states its empty list of row groups with another element
/// type than a struct ([`typeless_empty_row_groups`]) is read as that list stated right:
/// the writer's file of no rows, not a damaged one (it failed a scan of its whole
/// directory).
pub(crate) fn parquet_footer(
    path: &Path,
    file: &File,
) -> Result<std::sync::Arc<parquet::file::metadata::ParquetMetaData>> {
    footer_checked(path, file)?;
    let error = match parquet::file::metadata::ParquetMetaDataReader::new().parse_and_finish(file) {
        Ok(meta) => return Ok(std::sync::Arc::new(meta)),
        Err(e) => e,
    };
    let stated = || -> Option<parquet::file::metadata::ParquetMetaData> {
        let mut meta = footer_bytes(file)?;
        let at = typeless_empty_row_groups(&meta)?;
        meta[at] = ty::STRUCT; // size 0 in the high nibble, as before
        let decoded =
            parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&meta).ok()?;
        decoded.row_groups().is_empty().then_some(decoded)
    };
    stated().map(std::sync::Arc::new).ok_or_else(|| {
        // A file of another format under a Parquet name (an Arrow file, compressed CSV) is
        // said to be that: the crate's error says only that the footer is not Parquet's.
        match super::sources::magic_of(path) {
            Some(m) if m.format != Some(super::Format::Parquet) => {
                Error::read(path, format!("{error}; it is {}", m.what))
            }
            _ => Error::read(path, error),
        }
    })
}

/// Refuses a Parquet file (`file` at `path`) whose footer states a schema nested deeper than
/// [`MOST_DEPTH`] groups, before the crate builds its tree. A footer this reader cannot
/// follow (damaged, encrypted) is left to the crate.
fn footer_checked(path: &Path, file: &File) -> Result<()> {
    match footer_bytes(file).and_then(|meta| schema_depth(&meta)) {
        Some(depth) if depth > MOST_DEPTH => Err(Error::read(
            path,
            format!(
                "the footer's schema nests groups {depth} deep, more than the {MOST_DEPTH} this reader takes"
            ),
        )),
        _ => Ok(()),
    }
}

/// The footer of the Parquet file `file` as stored (Thrift `FileMetaData`, without its
/// length and magic), or `None` where the file does not end as a Parquet file does. Its
/// length is bounded by the file's size.
fn footer_bytes(file: &File) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let size = file.metadata().ok()?.len();
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, size.checked_sub(12)? + 4)
        .ok()?;
    (&tail[4..] == b"PAR1").then_some(())?;
    let len = u64::from(u32::from_le_bytes(tail[..4].try_into().ok()?));
    let start = (size - 8).checked_sub(len)?;
    let mut meta = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut meta, start).ok()?;
    Some(meta)
}

/// Refuses a Parquet file (footer `meta`, at `path`) two of whose column chunks share bytes:
/// no writer lays a file out so, and a footer listing one row group's chunks a thousand
/// times (a 951 KB file stating 2*10^10 rows) held a scan for minutes. A dictionary page
/// offset inside the leading magic (some old writers wrote 0 for none) counts as none;
/// chunks stored in other files, or empty, are not compared.
pub(crate) fn chunks_apart(
    path: &Path,
    meta: &parquet::file::metadata::ParquetMetaData,
) -> Result<()> {
    let mut ranges: Vec<(i64, i64, usize)> = Vec::new();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        for c in rg.columns() {
            let start = chunk_start(c);
            if c.file_path().is_none() && c.compressed_size() > 0 && start >= 0 {
                ranges.push((start, c.compressed_size(), g));
            }
        }
    }
    ranges.sort_unstable();
    match ranges
        .windows(2)
        .find(|w| w[0].0.saturating_add(w[0].1) > w[1].0)
    {
        Some(w) => Err(Error::read(
            path,
            format!(
                "column chunks of row groups {} and {} share bytes (from byte {}): no writer lays a file out so",
                w[0].2, w[1].2, w[1].0
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a Parquet file (footer `meta`, as the crate read it, at `path`) whose schema nests
/// a column deeper than [`MOST_DEPTH`] groups: the crate's readers recurse through it. The
/// footer's bytes were checked before the crate read them ([`footer_checked`]); this check of
/// what it read holds where they could not be followed.
pub(crate) fn depth_checked(
    path: &Path,
    meta: &parquet::file::metadata::ParquetMetaData,
) -> Result<()> {
    let descr = meta.file_metadata().schema_descr();
    let depth = (0..descr.num_columns())
        .map(|i| descr.column(i).path().parts().len())
        .max()
        .unwrap_or(0);
    match depth > MOST_DEPTH {
        true => Err(Error::read(
            path,
            format!(
                "the footer's schema nests groups {depth} deep, more than the {MOST_DEPTH} this reader takes"
            ),
        )),
        false => Ok(()),
    }
}

/// The byte a column chunk's pages start at: its dictionary page's, else its first data
/// page's. A dictionary offset inside the leading magic (some old writers wrote 0 for none)
/// counts as none.
fn chunk_start(c: &ColumnChunkMetaData) -> i64 {
    match c.dictionary_page_offset() {
        Some(d) if d >= 4 => d,
        _ => c.data_page_offset(),
    }
}

/// What one page header states.
#[derive(Debug, Default)]
struct PageClaim {
    kind: i64,
    uncompressed: i64,
    compressed: i64,
    values: Option<i64>,
    encoding: Option<i64>,
    /// A data page v2's count of nulls.
    nulls: Option<i64>,
    /// A data page's statistics, as far as [`PageFacts`] takes them.
    min: Option<i64>,
    max: Option<i64>,
    null_count: Option<i64>,
    /// A statistic stated as inexact (`is_min_value_exact` or `is_max_value_exact` false).
    inexact: bool,
}

/// What the header of one page a reader of the crate is given states of it
/// ([`page_facts`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PageFacts {
    /// A dictionary page.
    pub(crate) dictionary: bool,
    /// A data page (v1 or v2); a page that is neither is of a kind no writer makes.
    pub(crate) data: bool,
    /// The values (levels) the page holds, where its header states them.
    pub(crate) values: Option<i64>,
    /// Its sizes, decompressed and stored.
    pub(crate) sizes: (usize, usize),
    /// The page's least and greatest values, read as 64-bit integers (`min_value` and
    /// `max_value` of eight bytes each; never the deprecated `min` and `max`), where its
    /// statistics state both and neither is stated inexact.
    pub(crate) span: Option<(i64, i64)>,
    /// Its nulls as the header states them: a v2 page's count, and its statistics' (either
    /// may be missing, and a damaged or forged header may state two different counts).
    pub(crate) nulls: [Option<i64>; 2],
}

/// The statistics of a data page header (`Statistics`: 3 `null_count`, 5 `max_value`, 6
/// `min_value`, 7 and 8 whether those are exact) into `p`.
fn page_statistics(r: &mut Compact<'_>, t: u8, p: &mut PageClaim) -> Option<()> {
    (t == ty::STRUCT).then_some(())?;
    let eight = |b: &[u8]| <[u8; 8]>::try_from(b).ok().map(i64::from_le_bytes);
    r.fields(2, |r, t, id| match (id, t) {
        (3, _) => {
            p.null_count = Some(r.i32_of(t)?);
            Some(true)
        }
        (5 | 6, ty::BINARY) => {
            let n = usize::try_from(r.varint()?).ok()?;
            let v = eight(r.bytes(n)?);
            if id == 5 {
                p.max = v
            } else {
                p.min = v
            }
            Some(true)
        }
        (7 | 8, ty::FALSE) => {
            p.inexact = true;
            Some(true)
        }
        _ => Some(false),
    })
}

/// The page header at the start of `buf` and its length in bytes.
fn page_claim(buf: &[u8]) -> Option<(PageClaim, usize)> {
    let mut r = Compact { buf, at: 0 };
    let mut p = PageClaim::default();
    r.fields(0, |r, t, id| {
        match id {
            1 => p.kind = r.i32_of(t)?,
            2 => p.uncompressed = r.i32_of(t)?,
            3 => p.compressed = r.i32_of(t)?,
            // Data page (v1), dictionary page, data page v2: values, then encoding (v2:
            // values first, encoding fourth).
            5 | 7 | 8 => {
                (t == ty::STRUCT).then_some(())?;
                let encoding_id = if id == 8 { 4 } else { 2 };
                r.fields(1, |r, t, field| match field {
                    1 => {
                        p.values = Some(r.i32_of(t)?);
                        Some(true)
                    }
                    f if f == encoding_id => {
                        p.encoding = Some(r.i32_of(t)?);
                        Some(true)
                    }
                    2 if id == 8 => {
                        p.nulls = Some(r.i32_of(t)?);
                        Some(true)
                    }
                    // Statistics: field 5 of a v1 header, 8 of a v2 one.
                    5 if id == 5 => page_statistics(r, t, &mut p).map(|()| true),
                    8 if id == 8 => page_statistics(r, t, &mut p).map(|()| true),
                    _ => Some(false),
                })?;
            }
            _ => return Some(false),
        }
        Some(true)
    })?;
    Some((p, r.at))
}

/// The page kinds and encodings the checks name (Parquet's Thrift values).
const DATA_PAGE: i64 = 0;
const INDEX_PAGE: i64 = 1;
const DICTIONARY_PAGE: i64 = 2;
const DATA_PAGE_V2: i64 = 3;
const PLAIN_DICTIONARY: i64 = 2;
const RLE_DICTIONARY: i64 = 8;

/// Why page header `p` of a column of `physical` type (`width`: bytes of a fixed-width value)
/// compressed with `codec` is refused, if it is.
fn refused(
    p: &PageClaim,
    physical: PhysicalType,
    width: i64,
    codec: Compression,
) -> Option<String> {
    if p.uncompressed < 0 || p.compressed < 0 || p.values.is_some_and(|n| n < 0) {
        return Some("a page header states a negative size or count".into());
    }
    let values = p.values.unwrap_or(0);
    let least = match physical {
        PhysicalType::BYTE_ARRAY => 4,
        PhysicalType::BOOLEAN => 0,
        _ => width,
    };
    if p.kind == DICTIONARY_PAGE && values.saturating_mul(least) > p.uncompressed {
        return Some(format!(
            "a dictionary page claims {values} values in {} bytes, more than its bytes can hold",
            p.uncompressed
        ));
    }
    let indices = matches!(p.encoding, Some(PLAIN_DICTIONARY | RLE_DICTIONARY));
    let fixed = !matches!(physical, PhysicalType::BYTE_ARRAY);
    let data = matches!(p.kind, DATA_PAGE | DATA_PAGE_V2);
    let per_value = match (p.kind, fixed) {
        (DICTIONARY_PAGE, true) => Some(width),
        (_, true) if data => Some(width + 16),
        (_, false) if data && indices => Some(16),
        _ => None,
    };
    if let Some(per) = per_value {
        let most = values.saturating_mul(per).saturating_add(SLACK);
        if p.uncompressed > most {
            return Some(format!(
                "a page of {values} values states {} bytes, more than they can take",
                p.uncompressed
            ));
        }
    }
    let ratio = match codec {
        Compression::SNAPPY => Some(32),
        Compression::LZ4 | Compression::LZ4_RAW => Some(256),
        Compression::GZIP(_) => Some(1032),
        _ => None,
    };
    if let Some(ratio) = ratio
        && p.uncompressed > p.compressed.saturating_mul(ratio).saturating_add(SLACK)
    {
        return Some(format!(
            "a page states {} bytes decompressed from {}, more than {codec} makes of them",
            p.uncompressed, p.compressed
        ));
    }
    None
}

/// Refuses a column chunk (`chunk`, of `physical` type, `width` bytes a value where fixed;
/// `label` in errors) of the Parquet file `file` at `path` with a page header whose claims no
/// honest writer makes (the module's list), before the crate reads its pages, or one this
/// reader cannot follow: the crate reads the same protocol, so a header that does not parse
/// here is damaged, or made to pass these checks. The headers are read from the file,
/// nothing is decompressed.
pub(crate) fn chunk_checked(
    path: &Path,
    file: &File,
    chunk: &ColumnChunkMetaData,
    (physical, width): (PhysicalType, i64),
    label: &str,
) -> Result<()> {
    let mut why = None;
    let walked = page_claims(file, chunk, |claim| {
        why = refused(claim, physical, width, chunk.compression());
        why.is_none()
    });
    match (why, walked) {
        (Some(why), _) => Err(Error::read(path, format!("{label}: {why}"))),
        (None, None) => Err(Error::read(
            path,
            format!(
                "{label}: a page header could not be read (damaged, or of a form no writer makes)"
            ),
        )),
        (None, Some(())) => Ok(()),
    }
}

/// The sizes, decompressed and stored, that the headers of `chunk`'s pages state, in the
/// order the crate's page reader gives the pages ([`page_facts`]). `ingest::inflate` holds
/// each page it decompresses to its header's size.
pub(crate) fn page_sizes(file: &File, chunk: &ColumnChunkMetaData) -> Option<Vec<(usize, usize)>> {
    Some(page_facts(file, chunk)?.iter().map(|f| f.sizes).collect())
}

/// What the headers of `chunk`'s pages state of them, in the order the crate's page reader
/// gives the pages (it passes over index pages, so they are left out here too); `None`
/// where the walk cannot follow or a size is negative. `ingest::day_pages` reads which
/// pages' statistics prove one day.
pub(crate) fn page_facts(file: &File, chunk: &ColumnChunkMetaData) -> Option<Vec<PageFacts>> {
    let mut facts = Vec::new();
    let mut followed = true;
    page_claims(file, chunk, |claim| {
        if claim.kind == INDEX_PAGE {
            return true;
        }
        let sizes = (
            usize::try_from(claim.uncompressed),
            usize::try_from(claim.compressed),
        );
        let (Ok(uncompressed), Ok(compressed)) = sizes else {
            followed = false;
            return false;
        };
        let span = match (claim.min, claim.max, claim.inexact) {
            (Some(lo), Some(hi), false) => Some((lo, hi)),
            _ => None,
        };
        facts.push(PageFacts {
            dictionary: claim.kind == DICTIONARY_PAGE,
            data: matches!(claim.kind, DATA_PAGE | DATA_PAGE_V2),
            values: claim.values,
            sizes: (uncompressed, compressed),
            span,
            nulls: [claim.nulls, claim.null_count],
        });
        true
    })?;
    followed.then_some(facts)
}

/// Hands each page header of `chunk` (in `file`) to `each` until it says stop (`false`);
/// `Some(())` when the walk reached the chunk's end, or stopped, `None` where it could not
/// follow (a read failed, a header did not parse in up to 16 MiB).
fn page_claims(
    file: &File,
    chunk: &ColumnChunkMetaData,
    mut each: impl FnMut(&PageClaim) -> bool,
) -> Option<()> {
    use std::os::unix::fs::FileExt;
    // Most headers take a hundred bytes; statistics of long strings take more.
    const HEADER_BYTES: u64 = 4 * 1024;
    const MOST_HEADER_BYTES: u64 = 16 << 20;
    let start = u64::try_from(chunk_start(chunk)).ok()?;
    let end = start.saturating_add(u64::try_from(chunk.compressed_size()).ok()?);
    let (mut at, mut buf) = (start, Vec::new());
    while at < end {
        // Headers with long statistics are read again in more bytes.
        let mut want = HEADER_BYTES;
        let (claim, header) = loop {
            let n = usize::try_from((end - at).min(want)).ok()?;
            buf.resize(n, 0);
            file.read_exact_at(&mut buf, at).ok()?;
            match page_claim(&buf) {
                Some(parsed) => break parsed,
                None if n as u64 == end - at || want >= MOST_HEADER_BYTES => return None,
                None => want *= 16,
            }
        };
        if !each(&claim) {
            return Some(());
        }
        at = at
            .checked_add(header as u64)?
            .checked_add(u64::try_from(claim.compressed).ok()?)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A varint of `v`.
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A footer of schema elements with these children counts (names only besides).
    fn footer(children: &[i32]) -> Vec<u8> {
        let mut b = vec![0x29]; // field 2, a list
        b.push(0xfc); // of structs, size follows
        varint(children.len() as u64, &mut b);
        for &c in children {
            b.extend([0x48, 1, b'x']); // field 4: name
            if c > 0 {
                b.push(0x15); // field 5, i32
                varint(((c << 1) ^ (c >> 31)) as u64, &mut b);
            }
            b.push(0);
        }
        b.push(0);
        b
    }

    #[test]
    fn the_schema_depth_is_the_deepest_chain_of_groups() {
        // root(2): a, g(1): b
        assert_eq!(schema_depth(&footer(&[2, 0, 1, 0])), Some(2));
        // root(1): g(1): g(1): ... 100 deep, then a leaf
        let mut chain = vec![1; 100];
        chain.push(0);
        assert_eq!(schema_depth(&footer(&chain)), Some(100));
        // root(3) of leaves only
        assert_eq!(schema_depth(&footer(&[3, 0, 0, 0])), Some(1));
        // A footer cut short is not followed.
        let f = footer(&chain);
        assert_eq!(schema_depth(&f[..f.len() / 2]), None);
    }

    /// Page headers longer than the first read of a header (statistics of 10 KB strings
    /// in every page header) are read again in more bytes: every page is walked, and each
    /// size the walk gives is the page's.
    #[test]
    fn headers_longer_than_a_first_read_are_read_whole() {
        use arrow::array::{ArrayRef, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{EnabledStatistics, WriterProperties};
        use std::sync::Arc;
        let values: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..40).map(|i| format!("{i:05}").repeat(2000)),
        ));
        let batch = arrow::record_batch::RecordBatch::try_from_iter([("s", values)]).unwrap();
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_write_page_header_statistics(true)
            .set_statistics_truncate_length(None)
            .set_data_page_row_count_limit(4)
            .set_write_batch_size(4)
            .set_compression(Compression::GZIP(Default::default()))
            .build();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long-headers.parquet");
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props))
            .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let file = File::open(&path).unwrap();
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(std::fs::read(&path).unwrap()))
            .unwrap();
        let chunk = meta.row_group(0).column(0);
        let sizes = page_sizes(&file, chunk).unwrap();
        assert_eq!(sizes.len(), 10, "{sizes:?}");
        // Each page: 4 values of 10,000 bytes, each after its 4-byte length.
        assert!(sizes.iter().all(|&(u, _)| u == 4 * 10_004), "{sizes:?}");
        let stored: usize = sizes.iter().map(|&(_, c)| c).sum();
        assert!(stored < chunk.compressed_size() as usize);
    }

    /// Every footer and page header the crate's writer makes (dictionaries or not, pages v1
    /// and v2, several codecs, statistics with strings, a nested column) is followed to its
    /// end by this reader: none is left unchecked for a header it cannot parse.
    #[test]
    fn the_reader_follows_every_header_the_writer_makes() {
        use arrow::array::{ArrayRef, Int64Array, StringArray, StructArray};
        use arrow::datatypes::{DataType, Field};
        use parquet::arrow::ArrowWriter;
        use parquet::basic::ZstdLevel;
        use parquet::file::properties::{WriterProperties, WriterVersion};
        use std::sync::Arc;
        let n = 5000;
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("+2348{:09}", i * 7919 % 100_000)),
        ));
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i * 1000)));
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int64, false)),
            Arc::clone(&ints),
        )]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("t", ints),
            ("s", text),
            ("nested", Arc::new(inner) as ArrayRef),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (k, (dictionary, v2, codec)) in [
            (true, false, Compression::SNAPPY),
            (false, true, Compression::ZSTD(ZstdLevel::default())),
            (true, true, Compression::UNCOMPRESSED),
            (false, false, Compression::LZ4_RAW),
        ]
        .into_iter()
        .enumerate()
        {
            let version = if v2 {
                WriterVersion::PARQUET_2_0
            } else {
                WriterVersion::PARQUET_1_0
            };
            let props = WriterProperties::builder()
                .set_dictionary_enabled(dictionary)
                .set_writer_version(version)
                .set_compression(codec)
                .set_data_page_row_count_limit(700)
                .set_max_row_group_row_count(Some(2000))
                .build();
            let path = dir.path().join(format!("{k}.parquet"));
            let mut w =
                ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props))
                    .unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            let file = File::open(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let len =
                u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
            let meta = &bytes[bytes.len() - 8 - len as usize..bytes.len() - 8];
            assert_eq!(schema_depth(meta), Some(2), "{k}");
            let footer = parquet::file::metadata::ParquetMetaDataReader::new()
                .parse_and_finish(&file)
                .unwrap();
            chunks_apart(&path, &footer).unwrap();
            for rg in footer.row_groups() {
                for c in rg.columns() {
                    let mut pages = 0;
                    assert_eq!(
                        page_claims(&file, c, |p| {
                            pages += 1;
                            refused(p, c.column_type(), 8, c.compression()).is_none()
                        }),
                        Some(()),
                        "{k}"
                    );
                    assert!(pages >= 1, "{k}: {pages} pages");
                }
            }
        }
    }

    #[test]
    fn claims_no_writer_makes_are_refused_and_honest_ones_pass() {
        let page = |kind, uncompressed, compressed, values| PageClaim {
            kind,
            uncompressed,
            compressed,
            values: Some(values),
            encoding: Some(0),
            ..PageClaim::default()
        };
        let (ba, i64t) = ((PhysicalType::BYTE_ARRAY, 0), (PhysicalType::INT64, 8));
        let none = Compression::UNCOMPRESSED;
        let check = |p: &PageClaim, (t, w): (PhysicalType, i64), c| refused(p, t, w, c);
        // A dictionary of 2^31-1 strings in 100 bytes.
        assert!(check(&page(DICTIONARY_PAGE, 100, 100, i32::MAX as i64), ba, none).is_some());
        assert!(check(&page(DICTIONARY_PAGE, 4000, 4000, 1000), ba, none).is_none());
        // 108 timestamps stating a gigabyte.
        assert!(check(&page(DATA_PAGE, 1 << 30, 40_000, 108), i64t, none).is_some());
        assert!(check(&page(DATA_PAGE, 8 * 20_000 + 40, 9000, 20_000), i64t, none).is_none());
        // Snappy cannot make 2 GB of 9 KB.
        let snappy = Compression::SNAPPY;
        assert!(check(&page(DATA_PAGE, i32::MAX as i64, 9000, 5), ba, snappy).is_some());
        assert!(check(&page(DATA_PAGE, 200_000, 9000, 5), ba, snappy).is_none());
        assert!(check(&page(DATA_PAGE, -1, 9000, 5), ba, none).is_some());
    }
}
