//! Dictionary-encoded pages of a string column whose dictionary fell back to plain pages,
//! read by [`super::plain_pages`] with the plain pages after them.
//!
//! pyarrow (so `pandas.to_parquet`) and Spark write every column with a dictionary page and
//! switch to plain pages once the dictionary passes its limit (1 MiB): a column of a million
//! numbers has a dictionary page, a few dictionary-encoded pages, and then plain pages for
//! the rest of the row group. Such a chunk was read through Arrow as string views (a 16-byte
//! view built per row, then read back by the row loop). It is now read here: the dictionary
//! page, itself a run of plain values, is kept whole as one [`Dictionary`], and each row of
//! a dictionary-encoded page becomes a span pointing at its value in it
//! ([`Spans::push_indexed`]): no value is copied, hashed or rebuilt.
//!
//! A dictionary-encoded page stores its values as a bit width (one byte), then the indices
//! in the RLE / bit-packed hybrid at that width ([`Indices`]), one index per non-null row.
//! Every count and index is checked: a dictionary claiming more values than its page can
//! hold, a value running past it, a value that is not UTF-8, a width past 32, an index past
//! the dictionary, and a page with fewer indices than rows are errors naming the file and
//! the column, never rows dropped or read as nulls. So are the runs the Arrow reader refuses
//! (a value wider than the width, a zero header before the last index, a run past 2^31 - 1
//! values), among the indices a page's rows take: the Arrow reader also decodes up to 1,024
//! indices past them, so damage after a page's last index fails there and not here. The
//! indices are decoded a batch's rows at a time, so a page claiming billions of values costs
//! no memory.
//!
//! [`Spans::push_indexed`]: hotzone_kernel::rows::spans::Spans::push_indexed

use arrow::buffer::Buffer;

/// A chunk's dictionary page (decompressed) and where each of its values starts in it.
pub(crate) struct Dictionary {
    pub(crate) buf: Buffer,
    /// Per value, the offset of its first byte in `buf` (its 4-byte length just before).
    pub(crate) starts: Vec<usize>,
}

impl Dictionary {
    /// The `values` plain values of dictionary page `buf`: each must lie inside the page and
    /// be UTF-8 (the column is text).
    pub(crate) fn read(buf: Buffer, values: usize) -> Result<Dictionary, String> {
        let bytes = buf.as_slice();
        // Each value takes at least its 4-byte length: a count past that is refused before
        // memory is set aside for it.
        if values > bytes.len() / 4 {
            return Err(format!(
                "a dictionary page of {} bytes claims {values} values",
                bytes.len()
            ));
        }
        let ascii = bytes.is_ascii();
        let mut starts = Vec::with_capacity(values);
        let mut at = 0usize;
        for k in 0..values {
            let len = (bytes.get(at..).and_then(|b| b.first_chunk::<4>()))
                .map(|b| u32::from_le_bytes(*b) as usize)
                .ok_or_else(|| format!("dictionary value {k} runs past the page's end"))?;
            let start = at + 4;
            let value = (bytes.get(start..start.saturating_add(len)))
                .ok_or_else(|| format!("dictionary value {k} runs past the page's end"))?;
            if !ascii && std::str::from_utf8(value).is_err() {
                return Err(format!("dictionary value {k} is not UTF-8"));
            }
            starts.push(start);
            at = start + len;
        }
        Ok(Dictionary { buf, starts })
    }
}

/// The dictionary indices of a data page (the RLE / bit-packed hybrid after a one-byte bit
/// width), decoded a batch's rows at a time.
pub(crate) struct Indices {
    /// The next run header (or, before the first index, the bit width byte).
    at: usize,
    /// Where the page's bytes end.
    end: usize,
    /// The bit width, once read.
    width: Option<u32>,
    /// The run being read: `run` more copies of `value`, or `packed` more bit-packed values
    /// from bit `bit` of the page.
    run: usize,
    value: u32,
    packed: usize,
    bit: usize,
}

impl Indices {
    /// The indices starting at `page[at..end]` (the width byte first).
    pub(crate) fn new(at: usize, end: usize) -> Indices {
        Indices {
            at,
            end,
            width: None,
            run: 0,
            value: 0,
            packed: 0,
            bit: 0,
        }
    }

    /// The next `n` indices of `page` into `out` (cleared first).
    pub(crate) fn take(&mut self, page: &[u8], n: usize, out: &mut Vec<u32>) -> Result<(), String> {
        out.clear();
        if n == 0 {
            return Ok(());
        }
        let data = page
            .get(..self.end)
            .ok_or("indices run past the page's end")?;
        let width = match self.width {
            Some(w) => w,
            None => {
                let w = u32::from(*data.get(self.at).ok_or("a page with no bit width")?);
                if w > 32 {
                    return Err(format!("dictionary indices {w} bits wide"));
                }
                self.at += 1;
                *self.width.insert(w)
            }
        };
        out.reserve(n);
        while out.len() < n {
            if self.run > 0 {
                let k = self.run.min(n - out.len());
                out.resize(out.len() + k, self.value);
                self.run -= k;
            } else if self.packed > 0 {
                let k = self.packed.min(n - out.len());
                for _ in 0..k {
                    out.push(bits(data, self.bit, width));
                    self.bit += width as usize;
                }
                self.packed -= k;
            } else {
                let mut at = self.at;
                // A zero header ends the indices (as the Arrow reader reads it: fastparquet
                // pads its pages with zeros).
                let header = super::plain_pages::uleb128(data, &mut at)
                    .filter(|&h| h != 0)
                    .ok_or_else(|| format!("{} indices fewer than the page's values", out.len()))?;
                let count = usize::try_from(header >> 1).unwrap_or(usize::MAX);
                // As the Arrow reader: a run of more than 2^31 - 1 values is refused.
                let values = match header & 1 {
                    0 => count,
                    _ => count.saturating_mul(8),
                };
                if values > i32::MAX as usize {
                    return Err(format!("a run of {values} indices, more than 2^31 - 1"));
                }
                if header & 1 == 0 {
                    // A run of one value, stored in whole bytes, little-endian.
                    let size = width.div_ceil(8) as usize;
                    let stored = data
                        .get(at..at + size)
                        .ok_or("a run's value runs past the page's end")?;
                    let mut v = [0u8; 4];
                    v[..size].copy_from_slice(stored);
                    let value = u32::from_le_bytes(v);
                    // As the Arrow reader: a value wider than the bit width is damage.
                    if width < 32 && value >> width != 0 {
                        return Err(format!("a run's index {value} is wider than {width} bits"));
                    }
                    (self.run, self.value) = (count, value);
                    at += size;
                } else {
                    // `count` groups of 8 values, `width` bytes per group; a last run cut
                    // short by the page's end is read as far as its bytes go (as the Arrow
                    // reader reads it).
                    let bytes = count.saturating_mul(width as usize).min(data.len() - at);
                    self.packed = match width {
                        0 => count.saturating_mul(8),
                        w => bytes * 8 / w as usize,
                    };
                    self.bit = at * 8;
                    at += bytes;
                }
                self.at = at;
            }
        }
        Ok(())
    }
}

/// The `width`-bit value at bit `bit` of `data`, least significant bit first (the caller
/// checked that its bits are in `data`).
#[inline(always)]
fn bits(data: &[u8], bit: usize, width: u32) -> u32 {
    let byte = bit / 8;
    let word = match data.get(byte..).and_then(|b| b.first_chunk::<8>()) {
        Some(w) => u64::from_le_bytes(*w),
        None => {
            let mut w = [0u8; 8];
            let tail = data.get(byte..).unwrap_or(&[]);
            w[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(w)
        }
    };
    ((word >> (bit % 8)) & ((1u64 << width) - 1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(data: &[u8], takes: &[usize]) -> Result<Vec<u32>, String> {
        let mut i = Indices::new(0, data.len());
        let (mut all, mut out) = (Vec::new(), Vec::new());
        for &n in takes {
            i.take(data, n, &mut out)?;
            all.extend_from_slice(&out);
        }
        Ok(all)
    }

    /// Bit-packs `values` at `width` bits, least significant bit first, in groups of 8.
    fn packed(values: &[u32], width: u32) -> Vec<u8> {
        let mut bits = Vec::new();
        for v in values {
            bits.extend((0..width).map(|b| (v >> b) & 1));
        }
        bits.resize(values.len().div_ceil(8) * 8 * width as usize, 0);
        bits.chunks(8)
            .map(|c| c.iter().enumerate().map(|(i, b)| (*b as u8) << i).sum())
            .collect()
    }

    #[test]
    fn indices_decode_from_runs_and_packed_groups_at_every_width_in_any_cut() {
        for width in 0..=32u32 {
            let most = if width == 32 {
                u32::MAX
            } else {
                (1u32 << width) - 1
            };
            let vals: Vec<u32> = (0..16u32)
                .map(|k| k.wrapping_mul(2_654_435_761) & most)
                .collect();
            // Width, a run of 3 copies of the largest value, then 2 packed groups.
            let mut data = vec![width as u8, 3 << 1];
            data.extend_from_slice(&most.to_le_bytes()[..width.div_ceil(8) as usize]);
            data.push((2 << 1) | 1);
            data.extend(packed(&vals, width));
            let mut want = vec![most; 3];
            want.extend_from_slice(&vals);
            for takes in [&[19][..], &[1, 18], &[3, 8, 8], &[5, 0, 14]] {
                assert_eq!(indices(&data, takes).unwrap(), want, "{width} {takes:?}");
            }
        }
    }

    #[test]
    fn bad_indices_are_errors_not_loops() {
        // No width; a width past 32; a run with no value; no run at all; a header cut.
        // A run's value wider than the width; a zero header before the indices asked for;
        // runs of 2^31 values (run, bit-packed), as the Arrow reader refuses them.
        for bad in [
            &[][..],
            &[33, 2, 0],
            &[8, 2],
            &[8],
            &[8, 0x80],
            &[1, 2 << 1, 2],
            &[2, 0, 0, 2 << 1, 1],
            &[2, 0x80, 0x80, 0x80, 0x80, 0x10, 3],
            &[2, 0x81, 0x80, 0x80, 0x80, 0x02, 0xFF],
        ] {
            assert!(indices(bad, &[1]).is_err(), "{bad:?}");
        }
        // Fewer indices than asked: a run of 2 then nothing.
        assert!(indices(&[4, 2 << 1, 1], &[3]).is_err());
        // A packed run cut short by the page gives the values its bytes hold, no more.
        assert_eq!(indices(&[8, (1 << 1) | 1, 7, 9], &[2]).unwrap(), [7, 9]);
        assert!(indices(&[8, (1 << 1) | 1, 7, 9], &[3]).is_err());
    }

    #[test]
    fn a_dictionary_is_checked_value_by_value() {
        let mut page = Vec::new();
        for v in ["+2348012345678", "", "+1876"] {
            page.extend_from_slice(&(v.len() as u32).to_le_bytes());
            page.extend_from_slice(v.as_bytes());
        }
        let d = Dictionary::read(Buffer::from(page.clone()), 3).unwrap();
        assert_eq!(d.starts, [4, 22, 26]);
        // More values than the page holds; more than it could hold; a value cut.
        assert!(Dictionary::read(Buffer::from(page.clone()), 4).is_err());
        assert!(Dictionary::read(Buffer::from(page.clone()), usize::MAX).is_err());
        let cut = page[..page.len() - 1].to_vec();
        assert!(Dictionary::read(Buffer::from(cut), 3).is_err());
        // A value that is not UTF-8.
        let mut bad = page.clone();
        bad.extend_from_slice(&1u32.to_le_bytes());
        bad.push(0xff);
        let e = Dictionary::read(Buffer::from(bad), 4).err().unwrap();
        assert!(e.contains("value 3 is not UTF-8"), "{e}");
    }
}
