//! Pages of the codecs the `parquet` crate decompresses without a bound, decompressed here
//! into no more than their headers state; and zstd pages, so that the crate builds no zstd
//! codec per chunk ([`decompressed_here`]).
//!
//! The crate sizes a snappy, zstd or `LZ4_RAW` page's output by its header, but reads a gzip
//! or brotli stream, and the frame form of an `LZ4` page, to its end, and only then compares
//! what came out with the header: a page whose header states a megabyte but whose stream
//! makes a gigabyte took the gigabyte first (deflate makes up to 1,032 bytes of one, so a
//! 10 MB page could take 10 GB, enough to end a server that found the file in its data
//! directory). `ingest::claims` refuses headers that state more than a codec can make; this
//! is the other side, streams that make more than their headers state.
//!
//! A chunk of those codecs has its pages asked of the crate as stored (its metadata set to
//! uncompressed, as `plain_pages` does for its own codecs), and each page is decompressed
//! here ([`Inflated`]) into a buffer of the size its header states: a stream that makes a
//! byte more is refused when it gets there, one that makes less is refused as the crate
//! refuses it. The header of each page comes from [`claims::page_sizes`], in the order the
//! crate gives the pages; a page whose stored length is not the one its header states is an
//! error (the two readings out of step), never a page decompressed to another's size.
//!
//! Every reader of the crate's pages goes through [`pages`] for such chunks: the Arrow
//! reader of a row group (`columnar::part_reader`), the plain string pages and the check of
//! delta-encoded pages. Other codecs are left to the crate as before.
//!
//! [`claims::page_sizes`]: super::claims::page_sizes

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::error::{Error, Result};

/// True for the codecs whose pages the crate decompresses without a bound: gzip, brotli and
/// `LZ4` (the deprecated Hadoop form, which falls back to the frame form).
pub(crate) fn unbounded(codec: Compression) -> bool {
    matches!(
        codec,
        Compression::GZIP(_) | Compression::BROTLI(_) | Compression::LZ4
    )
}

/// True for the codecs whose pages [`pages`] decompresses here: the [`unbounded`] ones, and
/// zstd, whose codec the crate builds anew for every column chunk with a compression context
/// beside its decoder (2.5 % of a scan of Polars' zstd files, cut in 122,880-row groups);
/// here a worker thread keeps its decoders ([`zstd_decoder`]).
pub(crate) fn decompressed_here(codec: Compression) -> bool {
    unbounded(codec) || matches!(codec, Compression::ZSTD(_))
}

thread_local! {
    /// zstd decoders this thread used, for its next pages and chunks (a decoder keeps no
    /// state from one frame to the next). At most two are kept.
    static ZSTD_SPARE: std::cell::RefCell<Vec<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A zstd decoder: one this thread kept, else a new one (`None` if none can be made).
pub(crate) fn zstd_decoder() -> Option<zstd::bulk::Decompressor<'static>> {
    let spare = ZSTD_SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten();
    spare.or_else(|| zstd::bulk::Decompressor::new().ok())
}

/// Keeps `decoder` for this thread's next zstd pages.
pub(crate) fn zstd_give_back(decoder: zstd::bulk::Decompressor<'static>) {
    let _ = ZSTD_SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 2 {
            s.push(decoder);
        }
    });
}

/// The pages of `chunk` (of a row group of `rows` rows, in `file` at `path`; `label` names
/// the column in errors), decompressed here when [`decompressed_here`], else by the crate.
/// The errors of reading the pages name the column too when `named` (a caller that puts the
/// column's name before every error of the pages passes `false`).
pub(crate) fn pages(
    path: &Path,
    file: &File,
    chunk: &ColumnChunkMetaData,
    rows: usize,
    (label, named): (&str, bool),
) -> Result<Box<dyn PageReader>> {
    let error = |e: &dyn std::fmt::Display| Error::read(path, format!("{label}: {e}"));
    let open = |chunk: &ColumnChunkMetaData| {
        let file = file.try_clone().map_err(|e| Error::io(path, e))?;
        SerializedPageReader::new(Arc::new(super::bounded::Bounded(file)), chunk, rows, None)
            .map_err(|e| error(&e))
    };
    let codec = chunk.compression();
    if !decompressed_here(codec) {
        return Ok(Box::new(open(chunk)?));
    }
    let sizes = super::claims::page_sizes(file, chunk).ok_or_else(|| {
        error(&"a page header could not be read (damaged, or of a form no writer makes)")
    })?;
    let stored = (chunk.clone().into_builder())
        .set_compression(Compression::UNCOMPRESSED)
        .build()
        .map_err(|e| error(&e))?;
    Ok(Box::new(Inflated {
        stored: open(&stored)?,
        sizes: sizes.into(),
        codec,
        label: if named {
            format!("{label}: ")
        } else {
            String::new()
        },
    }))
}

/// The pages of a chunk asked of the crate as stored, each decompressed here to the size its
/// header states (`sizes`: decompressed and stored, a page each, in order).
struct Inflated {
    stored: SerializedPageReader<super::bounded::Bounded>,
    sizes: VecDeque<(usize, usize)>,
    codec: Compression,
    /// What a page's error starts with: the column and `": "`, or nothing.
    label: String,
}

impl Inflated {
    /// `page` (as stored) decompressed to `size` bytes, its levels kept as they are for a
    /// data page v2 (stored uncompressed before its values), as the crate reads it.
    fn decompressed(&self, page: Page, (size, stored): (usize, usize)) -> Result<Page, String> {
        let buf = page.buffer().clone();
        if buf.len() != stored {
            return Err(format!(
                "a page of {} bytes where its header states {stored} (the page headers were read out of step)",
                buf.len()
            ));
        }
        // Levels of a v2 page are not compressed, nor its values when it says so.
        let (levels, compressed) = match &page {
            Page::DataPageV2 {
                def_levels_byte_len,
                rep_levels_byte_len,
                is_compressed,
                ..
            } => (
                *def_levels_byte_len as usize + *rep_levels_byte_len as usize,
                *is_compressed,
            ),
            _ => (0, true),
        };
        if !compressed {
            return Ok(page);
        }
        if levels > buf.len() || levels > size {
            return Err(format!(
                "a page's levels of {levels} bytes run past its {} stored or {size} stated bytes",
                buf.len()
            ));
        }
        // Set aside what the header states, up to 64 MiB (a brotli header may state 2 GiB
        // of a few bytes); a larger page grows as its stream fills it.
        let mut out = Vec::with_capacity(size.min(64 << 20));
        out.extend_from_slice(&buf[..levels]);
        // A page with no value present states no values' bytes: nothing to decompress.
        if size > levels {
            decompress(self.codec, &buf[levels..], size - levels, &mut out)?;
        }
        if out.len() > size {
            return Err(format!(
                "a page decompresses to more than the {size} bytes its header states"
            ));
        }
        if out.len() < size {
            return Err(format!(
                "a page decompresses to {} bytes where its header states {size}",
                out.len()
            ));
        }
        let mut page = page;
        match &mut page {
            Page::DataPage { buf, .. } | Page::DictionaryPage { buf, .. } => *buf = out.into(),
            Page::DataPageV2 {
                buf, is_compressed, ..
            } => (*buf, *is_compressed) = (out.into(), false),
        }
        Ok(page)
    }
}

impl Iterator for Inflated {
    type Item = parquet::errors::Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for Inflated {
    fn get_next_page(&mut self) -> parquet::errors::Result<Option<Page>> {
        let Some(page) = self.stored.get_next_page()? else {
            return Ok(None);
        };
        let size = self.sizes.pop_front().ok_or_else(|| {
            ParquetError::General(format!(
                "{}more pages than the page headers read before",
                self.label
            ))
        })?;
        (self.decompressed(page, size).map(Some))
            .map_err(|e| ParquetError::General(format!("{}{e}", self.label)))
    }

    fn peek_next_page(&mut self) -> parquet::errors::Result<Option<PageMetadata>> {
        self.stored.peek_next_page()
    }

    fn skip_next_page(&mut self) -> parquet::errors::Result<()> {
        self.stored.skip_next_page()?;
        self.sizes.pop_front();
        Ok(())
    }

    fn at_record_boundary(&mut self) -> parquet::errors::Result<bool> {
        self.stored.at_record_boundary()
    }
}

/// Appends to `out` what `input` decompresses to with `codec`, reading no more than `want`
/// bytes and one: a stream that makes more is cut there (and refused by the size check of
/// its caller), whatever it would make.
fn decompress(
    codec: Compression,
    input: &[u8],
    want: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let most = want as u64 + 1;
    let read = |r: &mut dyn Read, out: &mut Vec<u8>| r.take(most).read_to_end(out).map(drop);
    match codec {
        Compression::GZIP(_) => read(&mut flate2::bufread::MultiGzDecoder::new(input), out)
            .map_err(|e| format!("a page's gzip stream: {e}")),
        Compression::BROTLI(_) => read(&mut brotli::Decompressor::new(input, 64 << 10), out)
            .map_err(|e| format!("a page's brotli stream: {e}")),
        Compression::LZ4 => unlz4(input, want, out),
        Compression::ZSTD(_) => unzstd(input, want, out),
        other => Err(format!("{other} pages are not decompressed here")),
    }
}

/// A zstd page as the crate reads one: decompressed in one call into room for the `want`
/// bytes its header states (set aside, not written: memory is touched only as the frames
/// fill it), a page that makes more refused by the decoder. Its decoder is the thread's.
fn unzstd(input: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let mut bulk = zstd_decoder().ok_or("no zstd decoder could be made")?;
    let room = out.try_reserve_exact(want);
    let made = room
        .map_err(|_| format!("{want} bytes could not be set aside"))
        .and_then(|()| {
            let mut at = std::io::Cursor::new(&mut *out);
            at.set_position(at.get_ref().len() as u64);
            bulk.decompress_to_buffer(input, &mut at)
                .map(drop)
                .map_err(|e| format!("a page's zstd frame: {e}"))
        });
    zstd_give_back(bulk);
    made
}

/// An `LZ4` page as the crate reads one: the Hadoop form (blocks, each after its
/// decompressed and stored sizes, big-endian), else the frame form, else one raw block;
/// each into at most `want` bytes (and one, for the frame form, to tell a longer stream).
fn unlz4(input: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), String> {
    // LZ4 makes at most 255 bytes of one: no more is set aside (and zeroed) for a header
    // stating more (`claims` refuses such headers first; this holds without it).
    if want > input.len().saturating_mul(256).saturating_add(64 << 10) {
        return Err(format!(
            "a page states {want} bytes decompressed from {}, more than LZ4 makes of them",
            input.len()
        ));
    }
    let at = out.len();
    out.resize(at + want, 0);
    let hadoop = match hadoop_blocks(input, &mut out[at..]) {
        Ok(n) if n == want => return Ok(()),
        Ok(n) => {
            return Err(format!(
                "a page's LZ4 blocks make {n} bytes where its header states {want}"
            ));
        }
        Err(why) => why,
    };
    out.truncate(at);
    let framed = lz4_flex::frame::FrameDecoder::new(input)
        .take(want as u64 + 1)
        .read_to_end(out);
    if framed.is_ok() {
        return Ok(());
    }
    out.truncate(at);
    out.resize(at + want, 0);
    match lz4_flex::block::decompress_into(input, &mut out[at..]) {
        Ok(n) if n == want => Ok(()),
        Ok(n) => Err(format!(
            "a page's LZ4 block makes {n} bytes where its header states {want}"
        )),
        Err(e) => Err(format!(
            "a page's LZ4 data reads in none of its forms (as Hadoop's blocks: {hadoop}; as a block: {e})"
        )),
    }
}

/// `input` read as Hadoop's LZ4 blocks into `out`: the bytes made, or why it does not read
/// so (the caller tries the other forms).
fn hadoop_blocks(mut input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let word = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if input.len() < 8 {
        return Err("shorter than a block's sizes".into());
    }
    let (mut made, room_for) = (0, out.len());
    while input.len() >= 8 {
        let (size, stored) = (word(&input[..4]), word(&input[4..8]));
        input = &input[8..];
        let block = input
            .get(..stored)
            .ok_or_else(|| format!("a block states {stored} bytes past the page's end"))?;
        let room = out.get_mut(made..made + size).ok_or_else(|| {
            format!("blocks state more than the {room_for} bytes its header states")
        })?;
        match lz4_flex::block::decompress_into(block, room) {
            Ok(n) if n == size => made += n,
            Ok(n) => return Err(format!("a block makes {n} bytes where it states {size}")),
            Err(e) => return Err(e.to_string()),
        }
        input = &input[stored..];
    }
    match input.is_empty() {
        true => Ok(made),
        false => Err("bytes left after the last block".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// 64 MiB of zeros, compressed: the stream a bomb page holds (a gigabyte in the files
    /// of RELIABILITY.md; this much shows the cut).
    const BOMB: usize = 64 << 20;

    fn zeros_in(codec: Compression) -> Vec<u8> {
        let chunk = vec![0u8; 1 << 20];
        match codec {
            Compression::GZIP(_) => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                for _ in 0..BOMB >> 20 {
                    e.write_all(&chunk).unwrap();
                }
                e.finish().unwrap()
            }
            Compression::BROTLI(_) => {
                let mut out = Vec::new();
                {
                    let mut e = brotli::CompressorWriter::new(&mut out, 64 << 10, 1, 22);
                    for _ in 0..BOMB >> 20 {
                        e.write_all(&chunk).unwrap();
                    }
                }
                out
            }
            Compression::ZSTD(_) => zstd::bulk::compress(&vec![0u8; BOMB], 1).unwrap(),
            _ => {
                // The frame form.
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                for _ in 0..BOMB >> 20 {
                    e.write_all(&chunk).unwrap();
                }
                e.finish().unwrap()
            }
        }
    }

    /// A stream that makes far more than the header states is cut a byte past it: the
    /// buffer never grows past what the header states and a little (it took the whole
    /// gigabyte in the crate), and the result is refused by size.
    #[test]
    fn a_stream_making_more_than_its_header_states_is_cut_there() {
        use parquet::basic::{BrotliLevel, GzipLevel};
        for codec in [
            Compression::GZIP(GzipLevel::default()),
            Compression::BROTLI(BrotliLevel::default()),
            Compression::LZ4,
            Compression::ZSTD(Default::default()),
        ] {
            let input = zeros_in(codec);
            let want = 1 << 20;
            let mut out = Vec::with_capacity(want);
            // Whatever the stream says, at most `want` and a byte are read.
            let _ = decompress(codec, &input, want, &mut out);
            assert!(out.len() <= want + 1, "{codec}: {} bytes", out.len());
            assert!(
                out.capacity() <= 4 * want,
                "{codec}: {} bytes",
                out.capacity()
            );
        }
    }

    /// Streams of the size their headers state decompress to their bytes, in every form the
    /// crate reads: gzip in one member or two, brotli, LZ4's Hadoop blocks (one or several),
    /// its frame form and a raw block.
    #[test]
    fn streams_of_the_stated_size_decompress_to_their_bytes() {
        use parquet::basic::{BrotliLevel, GzipLevel};
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("+23480{i:07},").into_bytes())
            .collect();
        let (a, b) = text.split_at(text.len() / 3);
        let gz = |part: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(part).unwrap();
            e.finish().unwrap()
        };
        let mut two_members = gz(a);
        two_members.extend(gz(b));
        let mut br = Vec::new();
        {
            let mut e = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            e.write_all(&text).unwrap();
        }
        let hadoop = |parts: &[&[u8]]| {
            let mut out = Vec::new();
            for p in parts {
                let block = lz4_flex::block::compress(p);
                out.extend((p.len() as u32).to_be_bytes());
                out.extend((block.len() as u32).to_be_bytes());
                out.extend(block);
            }
            out
        };
        let mut frame = lz4_flex::frame::FrameEncoder::new(Vec::new());
        frame.write_all(&text).unwrap();
        let cases: Vec<(Compression, Vec<u8>, Vec<u8>)> = vec![
            (
                Compression::GZIP(GzipLevel::default()),
                gz(&text),
                text.clone(),
            ),
            (
                Compression::GZIP(GzipLevel::default()),
                two_members,
                [a, b].concat(),
            ),
            (
                Compression::BROTLI(BrotliLevel::default()),
                br,
                text.clone(),
            ),
            (Compression::LZ4, hadoop(&[&text]), text.clone()),
            (Compression::LZ4, hadoop(&[a, b]), [a, b].concat()),
            (Compression::LZ4, hadoop(&[b, a]), [b, a].concat()),
            (Compression::LZ4, frame.finish().unwrap(), text.clone()),
            (
                Compression::LZ4,
                lz4_flex::block::compress(&text),
                text.clone(),
            ),
            (
                Compression::ZSTD(Default::default()),
                zstd::bulk::compress(&text, 3).unwrap(),
                text.clone(),
            ),
            (
                Compression::ZSTD(Default::default()),
                [
                    zstd::bulk::compress(a, 1).unwrap(),
                    zstd::bulk::compress(b, 1).unwrap(),
                ]
                .concat(),
                [a, b].concat(),
            ),
        ];
        for (k, (codec, input, expected)) in cases.into_iter().enumerate() {
            let mut out = b"lv".to_vec();
            decompress(codec, &input, expected.len(), &mut out).unwrap();
            assert_eq!(&out[..2], b"lv", "case {k}");
            assert!(out[2..] == expected[..], "case {k}: {codec}");
        }
    }

    /// An `LZ4` page stating more than LZ4 can make of its bytes is refused before anything
    /// is set aside for it (the Hadoop form is decoded into a buffer of the stated size).
    #[test]
    fn an_lz4_page_stating_more_than_lz4_makes_takes_nothing() {
        let block = lz4_flex::block::compress(&[1u8; 4096]);
        let mut out = Vec::new();
        let e = decompress(Compression::LZ4, &block, 1_900_000_000, &mut out).unwrap_err();
        assert!(e.contains("more than LZ4 makes"), "{e}");
        assert_eq!(out.capacity(), 0);
    }

    /// Damaged streams are errors, never a panic.
    #[test]
    fn damaged_streams_are_errors() {
        use parquet::basic::GzipLevel;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[7u8; 10_000]).unwrap();
        let gz = e.finish().unwrap();
        let mut out = Vec::new();
        let gzip = Compression::GZIP(GzipLevel::default());
        assert!(decompress(gzip, &gz[..gz.len() / 2], 10_000, &mut out).is_err());
        for junk in [
            &b""[..],
            b"\x00\x00\x00\x10\x00\x00\x00\x04abcd",
            &[0xff; 64],
        ] {
            let mut out = Vec::new();
            let r = decompress(Compression::LZ4, junk, 16, &mut out);
            assert!(r.is_err() || out.len() != 16, "{junk:?}");
        }
    }
}
