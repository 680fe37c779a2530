//! Parquet's delta encodings of byte arrays, read into plain pages.
//!
//! `DELTA_LENGTH_BYTE_ARRAY` (DuckDB's and Spark's writers with format v2 write the number
//! columns so) stores a page's lengths together, `DELTA_BINARY_PACKED`, then the values'
//! bytes one after the other. `DELTA_BYTE_ARRAY` (arrow-rs and parquet-mr v2, pyarrow on
//! request) stores each value as the length of the prefix it shares with the value before,
//! then its suffix, both length runs `DELTA_BINARY_PACKED`. [`to_plain`] rewrites a page of
//! either as the plain page of the same values (a 4-byte length before each value), so the
//! reader of plain pages ([`super::plain_pages`]) reads all three alike.
//!
//! Every count and length is checked before memory is taken for it: a run claiming more
//! values than its page, or more than [`MOST_VALUES`], is an error, and so is a length past
//! the page's bytes. (The `parquet` crate allocates the count a header claims: a 3 KB file
//! claiming 2^34 lengths aborted the process. [`check_chunk`] is that check for the pages the
//! crate reads.) A run's values need not take bytes (a miniblock of equal deltas takes
//! none), so the count is bounded by [`MOST_VALUES`], not by the page's size.
//!
//! `DELTA_BINARY_PACKED`, as the format defines it: a header (values per block, a multiple of
//! 128; miniblocks per block, each a multiple of 32 values; the count; the first value,
//! zigzag), then blocks: the block's least delta (zigzag), a bit width per miniblock, and the
//! miniblocks, each its values' deltas less the least, bit-packed least significant bit first
//! to whole bytes. Only the miniblocks holding values are stored; the widths of the others
//! are ignored. Values are 32-bit here and their sums wrap, as the format's writers wrap.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, Encoding};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::SchemaDescriptor;

use super::bounded::Bounded;
use crate::error::{Error, Result};

/// The most values a delta-encoded page may hold: 16Mi (a page is cut at about 1 MiB or
/// 20,000 rows by every writer measured; a page claiming more is refused, so that a few bytes
/// claiming billions of empty values take no memory).
pub(crate) const MOST_VALUES: usize = 1 << 24;

/// The values of the `DELTA_BINARY_PACKED` run at the start of `data` into `out` (cleared
/// first) when `out` is given, else only walked; a run of more than `most` values is an
/// error. Returns the run's count and the offset past its last stored miniblock.
pub(crate) fn unpack_i32(
    data: &[u8],
    most: usize,
    mut out: Option<&mut Vec<i32>>,
) -> std::result::Result<(usize, usize), String> {
    let mut at = 0;
    let block = uleb(data, &mut at)?;
    let minis = uleb(data, &mut at)?;
    let count = uleb(data, &mut at)?;
    let first = i32_of(unzigzag(uleb(data, &mut at)?), "first value")?;
    let most = most.min(MOST_VALUES);
    let count = usize::try_from(count)
        .ok()
        .filter(|n| *n <= most)
        .ok_or_else(|| format!("{count} values claimed, more than the page's {most}"))?;
    if block == 0 || block % 128 != 0 || minis == 0 || block % minis != 0 {
        return Err(format!(
            "{block} values per block in {minis} miniblocks (the format: a multiple of 128, \
             each miniblock a multiple of 32)"
        ));
    }
    let per_mini = block / minis;
    if per_mini % 32 != 0 {
        return Err(format!(
            "{per_mini} values per miniblock, not a multiple of 32"
        ));
    }
    // Header values past `usize` are refused, not cut.
    let per_mini = usize::try_from(per_mini).map_err(|_| "too many values per miniblock")?;
    let minis = usize::try_from(minis).map_err(|_| "too many miniblocks")?;
    if let Some(out) = out.as_deref_mut() {
        out.clear();
        if count > 0 {
            // At most `MOST_VALUES` (checked above); an allocation refused is an error.
            out.try_reserve_exact(count)
                .map_err(|_| format!("room for {count} values could not be set aside"))?;
            out.push(first);
        }
    }
    let mut last = first;
    let mut left = count.saturating_sub(1);
    while left > 0 {
        let least = i32_of(unzigzag(uleb(data, &mut at)?), "least delta")?;
        let widths = data
            .get(at..at.saturating_add(minis))
            .ok_or("the bit widths of a block run past the page's end")?;
        at += minis;
        for &width in widths {
            if left == 0 {
                break; // not stored
            }
            let width = u32::from(width);
            if width > 32 {
                return Err(format!("a miniblock of {width}-bit deltas"));
            }
            // `per_mini` is a multiple of 32: a miniblock is whole bytes.
            let bytes = (per_mini / 8)
                .checked_mul(width as usize)
                .ok_or("a miniblock too large")?;
            let mini = data
                .get(at..at.saturating_add(bytes))
                .ok_or("a miniblock runs past the page's end")?;
            at += bytes;
            let n = left.min(per_mini);
            if let Some(out) = out.as_deref_mut() {
                for k in 0..n {
                    let delta = bits(mini, k * width as usize, width);
                    last = last.wrapping_add(least).wrapping_add(delta as i32);
                    out.push(last);
                }
            }
            left -= n;
        }
    }
    Ok((count, at))
}

/// Rewrites the values of a `DELTA_LENGTH_BYTE_ARRAY` or `DELTA_BYTE_ARRAY` page, which
/// start at `page[at..]`, as plain values after `page[..at]` (the levels, kept as they are)
/// in `out`; at most `most` values (the page's, nulls included). `lengths` and `prefixes`
/// are scratch space. Returns the number of values.
pub(crate) fn to_plain(
    delta_byte_array: bool,
    page: &[u8],
    at: usize,
    most: usize,
    (lengths, prefixes): (&mut Vec<i32>, &mut Vec<i32>),
    out: &mut Vec<u8>,
) -> std::result::Result<usize, String> {
    let values = page.get(at..).ok_or("levels run past the page's end")?;
    let mut from = 0;
    if delta_byte_array {
        let (n, end) = unpack_i32(values, most, Some(prefixes))?;
        from = end;
        let (m, _) = unpack_i32(&values[from..], most, None)?;
        if n != m {
            return Err(format!("{n} prefix lengths and {m} suffixes"));
        }
    }
    let (n, end) = unpack_i32(&values[from..], most, Some(lengths))?;
    let bytes = &values[from + end..];
    // Every length is checked before a byte is written: the page's own bytes bound `out`.
    let mut total: usize = 0;
    for (k, &len) in lengths.iter().enumerate() {
        let len = usize::try_from(len).map_err(|_| format!("value {k}: length {len}"))?;
        total = total.saturating_add(len);
    }
    if total > bytes.len() {
        return Err(format!(
            "lengths of {total} bytes, {} left in the page",
            bytes.len()
        ));
    }
    // The bytes values take again from the value before them (each prefix is checked
    // against that value below). Values so shared can take far more room than the page: a
    // room no allocation can hold is an error, as in the `parquet` crate's reading.
    let mut shared: usize = 0;
    if delta_byte_array {
        for (k, &p) in prefixes.iter().enumerate() {
            let p = usize::try_from(p).map_err(|_| format!("value {k}: prefix length {p}"))?;
            shared = shared.saturating_add(p);
        }
    }
    out.clear();
    let room = at
        .saturating_add(n.saturating_mul(4))
        .saturating_add(total)
        .saturating_add(shared);
    out.try_reserve_exact(room.saturating_add(16))
        .map_err(|_| format!("{room} bytes could not be set aside"))?;
    out.extend_from_slice(&page[..at]);
    let mut pos = 0;
    if !delta_byte_array {
        // Written in place (the room is set aside above): a value of up to 16 bytes moves as
        // 16, the extra bytes written over by the next value or cut at the end.
        let mut w = out.len();
        out.resize(room.saturating_add(16), 0);
        for &len in lengths.iter() {
            let len = len as usize; // checked above
            out[w..w + 4].copy_from_slice(&(len as u32).to_le_bytes());
            w += 4;
            match bytes.get(pos..pos + 16) {
                Some(sixteen) if len <= 16 => out[w..w + 16].copy_from_slice(sixteen),
                _ => out[w..w + len].copy_from_slice(&bytes[pos..pos + len]),
            }
            (w, pos) = (w + len, pos + len);
        }
        out.truncate(w);
        return Ok(n);
    }
    // The previous value's place in `out` (none before the first).
    let (mut prev_at, mut prev_len) = (out.len(), 0usize);
    for (k, (&p, &s)) in prefixes.iter().zip(lengths.iter()).enumerate() {
        let (p, s) = (p as usize, s as usize); // checked above
        if p > prev_len {
            return Err(format!(
                "value {k}: a prefix of {p} bytes of a value of {prev_len}"
            ));
        }
        let len = p + s;
        let len32 = u32::try_from(len).map_err(|_| format!("value {k}: {len} bytes"))?;
        let here = out.len() + 4;
        out.extend_from_slice(&len32.to_le_bytes());
        out.extend_from_within(prev_at..prev_at + p);
        out.extend_from_slice(&bytes[pos..pos + s]);
        pos += s;
        (prev_at, prev_len) = (here, len);
    }
    Ok(n)
}

/// Checks that the length runs of a `DELTA_LENGTH_BYTE_ARRAY` or `DELTA_BYTE_ARRAY` page's
/// values (`values`) claim no more than `most` values each, decoding none (the pages the
/// `parquet` crate reads, which takes memory for the counts claimed).
pub(crate) fn check_counts(
    delta_byte_array: bool,
    values: &[u8],
    most: usize,
) -> std::result::Result<(), String> {
    let (_, end) = unpack_i32(values, most, None)?;
    if delta_byte_array {
        unpack_i32(&values[end..], most, None)?;
    }
    Ok(())
}

/// Refuses, before the `parquet` crate reads it, a column chunk (`leaf` of row group `rg` of
/// `path`, `label` in errors) whose page headers claim what no writer makes
/// ([`super::claims::chunk_checked`]), or a byte-array one with a delta-encoded page whose
/// length runs claim more values than the page has: the crate takes memory for the counts
/// claimed first. The
/// pages' headers are read as stored (no page is decompressed but a delta-encoded one, by
/// the crate): a chunk without such pages costs a read of its bytes.
pub(crate) fn check_chunk(
    path: &Path,
    file: &File,
    rg: &RowGroupMetaData,
    descr: &SchemaDescriptor,
    leaf: usize,
    label: &str,
) -> Result<()> {
    use parquet::basic::Type as PhysicalType;
    let column = descr.column(leaf);
    let width = match column.physical_type() {
        PhysicalType::INT32 | PhysicalType::FLOAT => 4,
        PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
        PhysicalType::INT96 => 12,
        PhysicalType::FIXED_LEN_BYTE_ARRAY => i64::from(column.type_length().max(0)),
        PhysicalType::BOOLEAN | PhysicalType::BYTE_ARRAY => 0,
    };
    let physical = (column.physical_type(), width);
    super::claims::chunk_checked(path, file, rg.column(leaf), physical, label)?;
    if !matches!(
        column.physical_type(),
        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY
    ) {
        return Ok(());
    }
    let error = |e: &dyn std::fmt::Display| Error::read(path, format!("{label}: {e}"));
    let chunk = rg.column(leaf);
    let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
    let open = |chunk: &ColumnChunkMetaData| -> Result<SerializedPageReader<Bounded>> {
        let file = file.try_clone().map_err(|e| Error::io(path, e))?;
        SerializedPageReader::new(Arc::new(Bounded(file)), chunk, rows, None).map_err(|e| error(&e))
    };
    // Headers as stored: the metadata says uncompressed, so no page is decompressed.
    let stored = (chunk.clone().into_builder())
        .set_compression(Compression::UNCOMPRESSED)
        .build()
        .map_err(|e| error(&e))?;
    let mut headers = open(&stored)?;
    // The same pages decompressed, advanced with `headers`, for the delta-encoded ones.
    let mut pages = None;
    let (max_rep, max_def) = (column.max_rep_level(), column.max_def_level());
    loop {
        let header = match headers.get_next_page().map_err(|e| error(&e))? {
            None => return Ok(()),
            Some(p) => p,
        };
        let pages = match &mut pages {
            Some(p) => p,
            None => pages.insert(super::inflate::pages(
                path,
                file,
                chunk,
                rows,
                (label, false),
            )?),
        };
        let encoding = header.encoding();
        if header.is_data_page()
            && matches!(
                encoding,
                Encoding::DELTA_LENGTH_BYTE_ARRAY | Encoding::DELTA_BYTE_ARRAY
            )
        {
            let page = (pages.get_next_page().map_err(|e| error(&e))?)
                .ok_or_else(|| error(&"a page read once is missing the second time"))?;
            // The two readings must meet the same page: one counts a page the other passes
            // over (an index page), and a delta page would reach the crate unchecked.
            if page.encoding() != encoding || page.num_values() != header.num_values() {
                return Err(error(&"the chunk's pages differ between two readings"));
            }
            let most = page.num_values() as usize;
            let values = values_of(&page, max_rep, max_def)
                .ok_or_else(|| error(&"levels run past the page's end"))?;
            let dba = encoding == Encoding::DELTA_BYTE_ARRAY;
            check_counts(dba, values, most)
                .map_err(|e| error(&format!("a page encoded {encoding}: {e}")))?;
        } else {
            pages.skip_next_page().map_err(|e| error(&e))?;
        }
    }
}

/// The values of decompressed data page `page` of a column with those highest levels: past
/// its repetition and definition levels.
fn values_of(page: &Page, max_rep: i16, max_def: i16) -> Option<&[u8]> {
    match page {
        Page::DataPage {
            buf,
            num_values,
            rep_level_encoding,
            def_level_encoding,
            ..
        } => {
            let mut at = 0usize;
            for (max, encoding) in [(max_rep, rep_level_encoding), (max_def, def_level_encoding)] {
                if max == 0 {
                    continue;
                }
                let len = match encoding {
                    Encoding::RLE => {
                        let n = buf.get(at..)?.first_chunk::<4>()?;
                        4usize.checked_add(u32::from_le_bytes(*n) as usize)?
                    }
                    // BIT_PACKED: `num_values` levels of the bits `max` takes.
                    _ => {
                        let bits = 16 - (max as u16).leading_zeros() as usize;
                        (*num_values as usize).checked_mul(bits)?.div_ceil(8)
                    }
                };
                at = at.checked_add(len)?;
            }
            buf.get(at..)
        }
        Page::DataPageV2 {
            buf,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let at = (*def_levels_byte_len as usize).checked_add(*rep_levels_byte_len as usize)?;
            buf.get(at..)
        }
        Page::DictionaryPage { .. } => None,
    }
}

/// `width` bits of `data` from bit `from` (least significant first); bits past its end read 0.
#[inline(always)]
fn bits(data: &[u8], from: usize, width: u32) -> u32 {
    if width == 0 {
        return 0;
    }
    let byte = from / 8;
    if let Some(word) = data.get(byte..).and_then(|d| d.first_chunk::<8>()) {
        let v = u64::from_le_bytes(*word) >> (from % 8);
        return (v & ((1u64 << width) - 1)) as u32;
    }
    let mut word = [0u8; 8];
    let have = data.len().saturating_sub(byte).min(8);
    word[..have].copy_from_slice(&data[byte..byte + have]);
    let v = u64::from_le_bytes(word) >> (from % 8);
    (v & ((1u64 << width) - 1)) as u32
}

/// An unsigned LEB128 integer at `data[*at..]` (at most 10 bytes).
fn uleb(data: &[u8], at: &mut usize) -> std::result::Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *data.get(*at).ok_or("a header runs past the page's end")?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err("a header integer past 64 bits".into());
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a header integer past 64 bits".into())
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn i32_of(v: i64, what: &str) -> std::result::Result<i32, String> {
    i32::try_from(v).map_err(|_| format!("a {what} of {v}, past 32 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_uleb(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    /// A straightforward encoder of the format (blocks of 128 in 4 miniblocks of 32).
    fn encode(values: &[i32]) -> Vec<u8> {
        let mut out = Vec::new();
        put_uleb(&mut out, 128);
        put_uleb(&mut out, 4);
        put_uleb(&mut out, values.len() as u64);
        put_uleb(
            &mut out,
            zigzag(values.first().copied().unwrap_or(0) as i64),
        );
        let deltas: Vec<i32> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        for block in deltas.chunks(128) {
            let least = *block.iter().min().unwrap();
            put_uleb(&mut out, zigzag(least as i64));
            let minis: Vec<&[i32]> = block.chunks(32).collect();
            let widths: Vec<u32> = minis
                .iter()
                .map(|m| {
                    let most = m
                        .iter()
                        .map(|d| d.wrapping_sub(least) as u32)
                        .max()
                        .unwrap();
                    32 - most.leading_zeros()
                })
                .collect();
            for k in 0..4 {
                out.push(widths.get(k).copied().unwrap_or(0) as u8);
            }
            for (m, &w) in minis.iter().zip(&widths) {
                let mut acc: u128 = 0;
                let mut nbits = 0;
                let mut bytes = Vec::new();
                for k in 0..32 {
                    let d = m.get(k).map_or(0, |d| d.wrapping_sub(least) as u32);
                    acc |= (d as u128) << nbits;
                    nbits += w;
                    while nbits >= 8 {
                        bytes.push(acc as u8);
                        acc >>= 8;
                        nbits -= 8;
                    }
                }
                assert_eq!(nbits, 0);
                out.extend_from_slice(&bytes);
            }
        }
        out
    }

    #[test]
    fn runs_decode_to_the_values_encoded() {
        let cases: Vec<Vec<i32>> = vec![
            vec![],
            vec![7],
            vec![13; 300],
            (0..1000).map(|i| i * 7919 % 23).collect(),
            vec![i32::MIN, i32::MAX, 0, -1, 1, i32::MAX, i32::MIN],
            (0..129).map(|i| i * 3 - 100).collect(),
        ];
        for values in cases {
            let data = encode(&values);
            let mut out = Vec::new();
            let (n, end) = unpack_i32(&data, values.len(), Some(&mut out)).unwrap();
            assert_eq!((n, end, &out), (values.len(), data.len(), &values));
            assert_eq!(unpack_i32(&data, values.len(), None), Ok((n, end)));
        }
    }

    #[test]
    fn a_run_claiming_more_than_its_page_or_its_bytes_is_an_error() {
        let data = encode(&[1, 2, 3, 4]);
        assert!(
            unpack_i32(&data, 3, None)
                .unwrap_err()
                .contains("4 values claimed")
        );
        // 2^34 values claimed by a few bytes, the page allowing them: the blocks run out.
        let mut huge = Vec::new();
        for v in [128, 4, 1 << 34, 0] {
            put_uleb(&mut huge, v);
        }
        huge.extend_from_slice(&[0, 0, 0, 0, 0]);
        assert!(unpack_i32(&huge, usize::MAX, Some(&mut Vec::new())).is_err());
        // Cut anywhere, a run is an error, never a panic.
        let data = encode(&(0..300).map(|i| i * 1000).collect::<Vec<_>>());
        for cut in 0..data.len() {
            assert!(
                unpack_i32(&data[..cut], 300, Some(&mut Vec::new())).is_err(),
                "{cut}"
            );
        }
    }

    fn plain(values: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    #[test]
    fn delta_pages_rewrite_as_the_plain_pages_of_their_values() {
        let values: Vec<&[u8]> = vec![b"+886912345001", b"+886912345002", b"", b"+2348", b"+23480"];
        let levels = [9u8, 9, 9];
        // DELTA_LENGTH_BYTE_ARRAY
        let mut page = levels.to_vec();
        page.extend(encode(
            &values.iter().map(|v| v.len() as i32).collect::<Vec<_>>(),
        ));
        page.extend(values.concat());
        let mut out = Vec::new();
        let scratch = (&mut Vec::new(), &mut Vec::new());
        assert_eq!(to_plain(false, &page, 3, 5, scratch, &mut out), Ok(5));
        assert_eq!(out, [&levels[..], &plain(&values)].concat());
        // DELTA_BYTE_ARRAY
        let prefixes = [0, 12, 0, 0, 5];
        let suffixes: Vec<&[u8]> = vec![b"+886912345001", b"2", b"", b"+2348", b"0"];
        let mut page = levels.to_vec();
        page.extend(encode(&prefixes));
        page.extend(encode(
            &suffixes.iter().map(|v| v.len() as i32).collect::<Vec<_>>(),
        ));
        page.extend(suffixes.concat());
        let scratch = (&mut Vec::new(), &mut Vec::new());
        assert_eq!(to_plain(true, &page, 3, 5, scratch, &mut out), Ok(5));
        assert_eq!(out, [&levels[..], &plain(&values)].concat());
        // A prefix longer than the value before it, lengths past the bytes, a negative one.
        let mut bad = encode(&[0, 14]);
        bad.extend(encode(&[13, 1]));
        bad.extend(b"+886912345001x");
        let scratch = (&mut Vec::new(), &mut Vec::new());
        assert!(
            to_plain(true, &bad, 0, 2, scratch, &mut out)
                .unwrap_err()
                .contains("prefix")
        );
        let mut short = encode(&[13, 13]);
        short.extend(b"+886912345001");
        let scratch = (&mut Vec::new(), &mut Vec::new());
        assert!(to_plain(false, &short, 0, 2, scratch, &mut out).is_err());
        let mut negative = encode(&[-1]);
        negative.extend(b"x");
        let scratch = (&mut Vec::new(), &mut Vec::new());
        assert!(to_plain(false, &negative, 0, 1, scratch, &mut out).is_err());
        assert!(check_counts(true, &page[3..], 4).is_err());
        assert_eq!(check_counts(true, &page[3..], 5), Ok(()));
    }
}
