//! A string column read straight from the pages that hold it, with no copy and no Arrow
//! array: what a Parquet reader hands [`batch::visit_batch_with`] for a plain-encoded column.
//!
//! A plain-encoded Parquet byte-array page is a run of values, each a 4-byte little-endian
//! length and then that many bytes. [`Spans`] keeps the (decompressed) pages a batch's rows
//! fall in and, per row, where its value starts: the value's length is the prefix just
//! before it. The reader that builds a `Spans` checks every value against its page once
//! ([`Spans::push_run`] refuses one that overruns it) and that the column's bytes are UTF-8,
//! so the row loop reads a cell with a few bounds-checked loads and no decoding.
//!
//! [`batch::visit_batch_with`]: crate::rows::batch::visit_batch_with

use arrow::buffer::Buffer;

/// The rows of one string column in one batch (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Spans {
    pages: Vec<Buffer>,
    /// Per row: the page's index in `pages` (high 24 bits) and the value's first byte in it
    /// (low 40 bits); [`NULL`] for a null.
    at: Vec<u64>,
}

/// A null row in [`Spans::at`].
const NULL: u64 = u64::MAX;
/// Bits of a value's offset in its page.
const OFFSET_BITS: u32 = 40;

/// Why [`Spans::push_run`] or [`Spans::add_page`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The value (or its length prefix) runs past the end of its page.
    Overrun,
    /// More pages in one batch than a span can name (2^24).
    TooManyPages,
}

impl Spans {
    /// An empty column with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Spans {
        Spans {
            pages: Vec::new(),
            at: Vec::with_capacity(rows),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// True when no row is held.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Keeps `page` for the rows pushed next; returns its index for [`Spans::push_run`].
    pub fn add_page(&mut self, page: Buffer) -> Result<usize, Refused> {
        if self.pages.len() >= 1 << (64 - OFFSET_BITS) {
            return Err(Refused::TooManyPages);
        }
        self.pages.push(page);
        Ok(self.pages.len() - 1)
    }

    /// Appends `count` rows whose values are in page `page` one after the other from
    /// byte `prefix` (the first one's length prefix): a row whose level is 0 is a null and
    /// takes no bytes. `levels` is `None` for a column without nulls (`count` rows). Returns
    /// the offset past the last value; on [`Refused::Overrun`] the rows before the bad one
    /// are kept and its index among these rows is given.
    pub fn push_run(
        &mut self,
        page: usize,
        mut prefix: usize,
        levels: Option<&[u8]>,
        count: usize,
    ) -> Result<usize, (usize, Refused)> {
        let bytes = match self.pages.get(page) {
            Some(b) => b.as_slice(),
            None => return Err((0, Refused::Overrun)),
        };
        let end = bytes.len().min(1 << OFFSET_BITS);
        let tag = (page as u64) << OFFSET_BITS;
        self.at.reserve(count);
        // One value: its span, and the next value's prefix. Each value's place depends on
        // the length before it, so the loop is a chain of loads: the length is one 4-byte
        // load, and the loop has no other branch than the bounds.
        let step = |prefix: usize| -> Option<(u64, usize)> {
            let len = u32::from_le_bytes(*bytes.get(prefix..)?.first_chunk::<4>()?) as usize;
            let start = prefix + 4;
            (len <= end.saturating_sub(start)).then_some((tag | start as u64, start + len))
        };
        match levels {
            None => {
                for k in 0..count {
                    let (span, next) = step(prefix).ok_or((k, Refused::Overrun))?;
                    self.at.push(span);
                    prefix = next;
                }
            }
            Some(levels) => {
                for (k, &level) in levels[..count].iter().enumerate() {
                    if level == 0 {
                        self.at.push(NULL);
                        continue;
                    }
                    let (span, next) = step(prefix).ok_or((k, Refused::Overrun))?;
                    self.at.push(span);
                    prefix = next;
                }
            }
        }
        Ok(prefix)
    }

    /// Appends the rows of a dictionary-encoded page whose dictionary is page `page`: a row
    /// whose level is 0 is a null, and each other row takes the next of `indices`, the
    /// dictionary value whose start is `starts[index]`. The starts are the caller's, each
    /// checked against the page once when it read the dictionary (a row of a bad start would
    /// read as a null or as other bytes of the page, never outside it); an index past
    /// `starts`, or fewer indices than rows, is refused here ([`Refused::Overrun`], the rows
    /// before the bad one kept, its index among these rows given). `levels` is `None` for a
    /// column without nulls (a row per index).
    pub fn push_indexed(
        &mut self,
        page: usize,
        levels: Option<&[u8]>,
        indices: &[u32],
        starts: &[usize],
    ) -> Result<(), (usize, Refused)> {
        if page >= self.pages.len() {
            return Err((0, Refused::Overrun));
        }
        let tag = (page as u64) << OFFSET_BITS;
        let at = |i: u32| starts.get(i as usize).map(|&s| tag | s as u64);
        match levels {
            None => {
                self.at.reserve(indices.len());
                for (k, &i) in indices.iter().enumerate() {
                    self.at.push(at(i).ok_or((k, Refused::Overrun))?);
                }
            }
            Some(levels) => {
                self.at.reserve(levels.len());
                let mut next = indices.iter();
                for (k, &level) in levels.iter().enumerate() {
                    if level == 0 {
                        self.at.push(NULL);
                        continue;
                    }
                    let i = next.next().ok_or((k, Refused::Overrun))?;
                    self.at.push(at(*i).ok_or((k, Refused::Overrun))?);
                }
            }
        }
        Ok(())
    }

    /// Row `i`'s bytes; `None` for a null (or a row past the end).
    #[inline(always)]
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        let at = *self.at.get(i)?;
        if at == NULL {
            return None;
        }
        let page = self.pages.get((at >> OFFSET_BITS) as usize)?.as_slice();
        let start = (at & ((1 << OFFSET_BITS) - 1)) as usize;
        let len = page.get(start.checked_sub(4)?..start)?.first_chunk::<4>()?;
        page.get(start..start + u32::from_le_bytes(*len) as usize)
    }

    /// Row `i`'s string; `None` for a null. The builder checked that the bytes are UTF-8; a
    /// value that were not would read as a null here, never as other text.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<&str> {
        std::str::from_utf8(self.bytes(i)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(values: &[&[u8]]) -> Buffer {
        let mut b = Vec::new();
        for v in values {
            b.extend_from_slice(&(v.len() as u32).to_le_bytes());
            b.extend_from_slice(v);
        }
        Buffer::from(b)
    }

    #[test]
    fn rows_read_back_across_pages_with_nulls() {
        let mut s = Spans::with_capacity(4);
        let p = s.add_page(page(&[b"+2348012345678", b""])).unwrap();
        assert_eq!(s.push_run(p, 0, Some(&[1, 0, 1]), 3), Ok(22));
        let q = s.add_page(page(&[b"x"])).unwrap();
        assert_eq!(s.push_run(q, 0, None, 1), Ok(5));
        let rows: Vec<Option<&[u8]>> = (0..5).map(|i| s.bytes(i)).collect();
        assert_eq!(
            rows,
            [
                Some(&b"+2348012345678"[..]),
                None,
                Some(&b""[..]),
                Some(&b"x"[..]),
                None
            ]
        );
        assert_eq!(s.len(), 4);
        assert_eq!(s.get(0), Some("+2348012345678"));
    }

    #[test]
    fn rows_of_indices_take_their_dictionary_values_and_bad_indices_are_refused() {
        let mut s = Spans::with_capacity(4);
        let d = s.add_page(page(&[b"+2348012345678", b"", b"x"])).unwrap();
        let starts = [4, 22, 26];
        assert_eq!(
            s.push_indexed(d, Some(&[1, 0, 1, 1]), &[2, 0, 2], &starts),
            Ok(())
        );
        assert_eq!(s.push_indexed(d, None, &[1], &starts), Ok(()));
        let rows: Vec<Option<&[u8]>> = (0..5).map(|i| s.bytes(i)).collect();
        assert_eq!(
            rows,
            [
                Some(&b"x"[..]),
                None,
                Some(&b"+2348012345678"[..]),
                Some(&b"x"[..]),
                Some(&b""[..]),
            ]
        );
        // An index past the dictionary; fewer indices than rows; no such page.
        assert_eq!(
            s.push_indexed(d, None, &[0, 3], &starts),
            Err((1, Refused::Overrun))
        );
        assert_eq!(
            s.push_indexed(d, Some(&[1, 1]), &[0], &starts),
            Err((1, Refused::Overrun))
        );
        assert_eq!(
            s.push_indexed(5, None, &[0], &starts),
            Err((0, Refused::Overrun))
        );
    }

    #[test]
    fn a_value_past_its_page_is_refused() {
        let mut b = page(&[b"abc", b"de"]).as_slice().to_vec();
        b.pop();
        let mut s = Spans::with_capacity(2);
        let p = s.add_page(Buffer::from(b)).unwrap();
        // The first value is kept, the second (one byte short) refused.
        assert_eq!(s.push_run(p, 0, None, 2), Err((1, Refused::Overrun)));
        assert_eq!(s.len(), 1);
        // A prefix past the page, or cut by its end.
        assert_eq!(s.push_run(p, 11, None, 1), Err((0, Refused::Overrun)));
        assert_eq!(s.push_run(p, 9, None, 1), Err((0, Refused::Overrun)));
        assert_eq!(s.push_run(7, 0, None, 1), Err((0, Refused::Overrun)));
        assert_eq!(s.len(), 1);
    }
}
