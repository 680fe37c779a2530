//! The prepared form: a [`ServingIndex`] written to one file, so that repeated scans (other
//! hotzones, thresholds, methods) skip parsing and classification entirely.
//!
//! Layout (little-endian): magic `HZIDX\0\0\3`, the zone name, `base_day`, the width of a day
//! offset (1 or 2 bytes), then each array as a length and its elements: subscribers (`u64`),
//! subscriber starts (`u64`), day offsets, codes (`u32`), the dictionary's low bits (`u32`),
//! its groups (`high << 32 | first id`, `u64`) and its region runs (`first id << 16 | region`,
//! `u64`). Reading is a sequential read of about 7 bytes per event on tier M.
//!
//! The header (magic to day width) and each array (its length and elements) are followed by
//! the XXH3-64 of their bytes, seeded with the checksum before it (0 for the header), checked
//! on every read: a changed byte is an error naming the part, never a different answer (the
//! structural checks alone let a changed day or code that kept the arrays consistent
//! through), and the chain ties each part to all the parts before it, so a part copied in
//! from another prepared file (its own checksum with it) does not pass either. Files of the
//! previous format (`\2`, no checksums) are still read, with the structural checks only.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::index::dictionary::Dictionary;
use crate::index::{DayColumn, ServingIndex};
use crate::model::Msisdn;

/// The magic written: the format with checksums.
const MAGIC: &[u8; 8] = b"HZIDX\0\0\x03";
/// The format before checksums, still read.
const MAGIC_UNCHECKED: &[u8; 8] = b"HZIDX\0\0\x02";

/// The arrays in file order, as errors name them.
const ARRAYS: [&str; 7] = [
    "subscribers",
    "subscriber starts",
    "days",
    "codes",
    "dictionary low bits",
    "dictionary groups",
    "dictionary runs",
];

/// Whether a file starts with a prepared-form magic.
pub fn is_prepared(path: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && (&head == MAGIC || &head == MAGIC_UNCHECKED)
}

/// A reader or writer that hashes the bytes passing through it (XXH3-64), so a part's
/// checksum costs no second pass over it. Each part's hash is seeded with the checksum
/// stored before it (the header's with 0). A file of the format before checksums is read
/// through one that hashes nothing (`hash: None`).
struct Summed<T> {
    inner: T,
    hash: Option<twox_hash::XxHash3_64>,
}

impl<T> Summed<T> {
    /// Hashes what passes from here on, seeded with `seed`.
    fn seeded(inner: T, seed: u64) -> Self {
        Summed {
            inner,
            hash: Some(twox_hash::XxHash3_64::with_seed(seed)),
        }
    }

    /// Hashes nothing (a part of a file without checksums).
    fn unsummed(inner: T) -> Self {
        Summed { inner, hash: None }
    }

    /// The checksum of the part so far (0 when it hashes nothing).
    fn sum(&self) -> u64 {
        self.hash.as_ref().map_or(0, std::hash::Hasher::finish)
    }
}

impl<W: Write> Summed<W> {
    /// Writes the checksum of the part just written (not itself summed); the next part's
    /// hash is seeded with it.
    fn seal(&mut self) -> std::io::Result<()> {
        let sum = self.sum();
        self.hash = Some(twox_hash::XxHash3_64::with_seed(sum));
        self.inner.write_all(&sum.to_le_bytes())
    }
}

impl<R: Read> Summed<R> {
    /// Reads the stored checksum of the part just read and compares; `Ok(false)` on a
    /// mismatch. The next part's hash is seeded with the stored checksum.
    fn check(&mut self) -> std::io::Result<bool> {
        let sum = self.sum();
        let stored = get_u64(&mut self.inner)?;
        self.hash = Some(twox_hash::XxHash3_64::with_seed(stored));
        Ok(stored == sum)
    }
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::hash::Hasher;
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hash {
            h.write(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Summed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::hash::Hasher;
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            h.write(&buf[..n]);
        }
        Ok(n)
    }
}

fn put_array<const N: usize, T: Copy>(
    w: &mut impl Write,
    v: &[T],
    enc: impl Fn(T) -> [u8; N],
) -> std::io::Result<()> {
    w.write_all(&(v.len() as u64).to_le_bytes())?;
    let mut buf = Vec::with_capacity(64 * 1024 * N);
    for chunk in v.chunks(64 * 1024) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&enc(*x));
        }
        w.write_all(&buf)?;
    }
    Ok(())
}

fn get_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn get_array<const N: usize, T>(
    r: &mut impl Read,
    max: u64,
    dec: impl Fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let len = get_u64(r)?;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "array length out of bounds",
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    let mut buf = vec![0u8; 64 * 1024 * N];
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(64 * 1024);
        r.read_exact(&mut buf[..n * N])?;
        out.extend(buf[..n * N].chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            dec(a)
        }));
        left -= n;
    }
    Ok(out)
}

/// Writes the prepared form: to a temporary file beside `path`, renamed over it once
/// complete and synced, so that an interrupted write never leaves a half file under the
/// name (a server reloading the directory would skip it as unreadable, or a scan fail).
pub fn write(index: &ServingIndex, path: &Path) -> Result<()> {
    write_staged(index, path)?.commit()
}

/// [`write()`], left under its temporary name for the caller to commit with its other
/// outputs (`prepare --rejects`).
pub fn write_staged(index: &ServingIndex, path: &Path) -> Result<crate::staged::Staged> {
    let staged = crate::staged::Staged::new(path)?;
    write_to(index, staged.path(), path)?;
    Ok(staged)
}

/// Writes `index` to `file`; errors name `path`, the file the user asked for.
fn write_to(index: &ServingIndex, file: &Path, path: &Path) -> Result<()> {
    let io = |e| Error::write(path, e);
    let file = File::create(file).map_err(io)?;
    let mut w = Summed::seeded(BufWriter::with_capacity(1 << 20, file), 0);
    w.write_all(MAGIC).map_err(io)?;
    let tz = index.tz.name().as_bytes();
    w.write_all(&(tz.len() as u64).to_le_bytes()).map_err(io)?;
    w.write_all(tz).map_err(io)?;
    w.write_all(&i64::from(index.base_day).to_le_bytes())
        .map_err(io)?;
    let day_width: u64 = match index.days {
        DayColumn::Narrow(_) => 1,
        DayColumn::Wide(_) => 2,
    };
    w.write_all(&day_width.to_le_bytes()).map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, &index.subs, |m: Msisdn| m.value().to_le_bytes()).map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, &index.sub_start, u64::to_le_bytes).map_err(io)?;
    w.seal().map_err(io)?;
    match &index.days {
        DayColumn::Narrow(d) => put_array(&mut w, d, |x: u8| [x]),
        DayColumn::Wide(d) => put_array(&mut w, d, u16::to_le_bytes),
    }
    .map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, &index.codes, u32::to_le_bytes).map_err(io)?;
    w.seal().map_err(io)?;
    let dict = index.dict.parts();
    put_array(&mut w, dict.low, u32::to_le_bytes).map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, dict.groups, |(high, first): (u32, u32)| {
        ((u64::from(high) << 32) | u64::from(first)).to_le_bytes()
    })
    .map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, dict.runs, |(first, region): (u32, u16)| {
        ((u64::from(first) << 16) | u64::from(region)).to_le_bytes()
    })
    .map_err(io)?;
    w.seal().map_err(io)?;
    w.flush().map_err(io)?;
    w.inner
        .into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

/// The zone a prepared file's days are in (its header only, checked).
pub fn zone(path: &Path) -> Result<Tz> {
    let mut r = Summed::seeded(
        BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?),
        0,
    );
    Ok(read_header(&mut r, path)?.tz)
}

/// An error saying why `path` is not a prepared file we can read.
fn invalid(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::read(path, format!("not a valid prepared index: {why}"))
}

/// A read error of a prepared file: an end of file met early says so.
fn read_failed(path: &Path, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => invalid(
            path,
            "the file ends before its arrays do (cut short, or still being written)",
        ),
        _ => invalid(path, e),
    }
}

/// The error of a part whose checksum does not match.
fn changed(path: &Path, part: &str) -> Error {
    invalid(
        path,
        format!(
            "the checksum of its {part} does not match (the file changed after it was \
             written; run `hotzone prepare` again)"
        ),
    )
}

/// What opens every prepared file.
struct Header {
    tz: Tz,
    /// The file carries checksums (the current format).
    summed: bool,
    base_day: i32,
    day_width: u64,
    /// Its length in bytes, with its checksum.
    len: u64,
}

/// Reads and checks the header: magic, zone name, base day, day width (and its checksum).
fn read_header<R: Read>(r: &mut Summed<R>, path: &Path) -> Result<Header> {
    let bad = |m: &str| invalid(path, m);
    let io = |e| read_failed(path, e);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(io)?;
    let summed = match &magic {
        m if m == MAGIC => true,
        m if m == MAGIC_UNCHECKED => false,
        _ => return Err(bad("wrong magic")),
    };
    let tz_len = get_u64(r).map_err(io)?;
    if tz_len > 64 {
        return Err(bad("zone name too long"));
    }
    let mut tz = vec![0u8; tz_len as usize];
    r.read_exact(&mut tz).map_err(io)?;
    let base_day = get_u64(r).map_err(io)?;
    let day_width = get_u64(r).map_err(io)?;
    // Checked before any field is used: a changed byte is named as such.
    if summed && !r.check().map_err(io)? {
        return Err(changed(path, "header"));
    }
    let tz = std::str::from_utf8(&tz)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("unknown zone"))?;
    let base_day = i32::try_from(base_day as i64).map_err(|_| bad("base day"))?;
    if day_width != 1 && day_width != 2 {
        return Err(bad("day width"));
    }
    let len = 8 + 8 + tz_len + 8 + 8 + if summed { 8 } else { 0 };
    Ok(Header {
        tz,
        summed,
        base_day,
        day_width,
        len,
    })
}

/// Reads the prepared form, checking its checksums and its structure.
pub fn read(path: &Path) -> Result<ServingIndex> {
    let bad = |m: &str| invalid(path, m);
    let io = |e| read_failed(path, e);
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut r = Summed::seeded(
        BufReader::with_capacity(1 << 20, File::open(path).map_err(|e| Error::io(path, e))?),
        0,
    );
    let Header {
        tz,
        summed,
        base_day,
        day_width,
        len: header,
    } = read_header(&mut r, path)?;
    // The seven arrays follow each other; find where each starts from the length prefixes,
    // then read them on two threads (the copy from the page cache dominates a repeated scan).
    // Each array's hash is seeded with the checksum stored just before it.
    let sum_bytes = if summed { 8 } else { 0 };
    let widths = [8u64, 8, day_width, 4, 4, 8, 8];
    let (mut starts, mut seeds) = ([0u64; 7], [0u64; 7]);
    let mut at = header;
    let mut probe = File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, w) in widths.iter().enumerate() {
        starts[i] = at;
        if summed {
            probe.seek(SeekFrom::Start(at - 8)).map_err(io)?;
            seeds[i] = get_u64(&mut probe).map_err(io)?;
        }
        probe.seek(SeekFrom::Start(at)).map_err(io)?;
        let len = get_u64(&mut probe).map_err(io)?;
        if len > size / w {
            return Err(bad(&format!(
                "the length of its {} ({len}) does not fit in the file ({size} bytes)",
                ARRAYS[i]
            )));
        }
        at += 8 + len * w + sum_bytes;
    }
    if at != size {
        return Err(bad(&format!(
            "the file is {size} bytes, its arrays' lengths make {at} (cut short or extended?)"
        )));
    }
    /// A read failure, or a checksum that does not match.
    enum Failed {
        Io(std::io::Error),
        Changed(usize),
    }
    impl From<std::io::Error> for Failed {
        fn from(e: std::io::Error) -> Self {
            Failed::Io(e)
        }
    }
    /// Array `i` (in file order), checked against its checksum when the file has them.
    /// Unbuffered: `get_array` reads in large chunks, and a buffer would add a copy.
    fn read_array<const N: usize, T>(
        path: &Path,
        (i, start, seed, summed): (usize, u64, u64, bool),
        max: u64,
        dec: impl Fn([u8; N]) -> T,
    ) -> std::result::Result<Vec<T>, Failed> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        let mut r = match summed {
            true => Summed::seeded(f, seed),
            false => Summed::unsummed(f),
        };
        let v = get_array(&mut r, max, dec)?;
        match summed && !r.check()? {
            true => Err(Failed::Changed(i)),
            false => Ok(v),
        }
    }
    let part = |i: usize| (i, starts[i], seeds[i], summed);
    type Front = (Vec<u64>, Vec<u64>, DayColumn);
    type Back = (Vec<u32>, Vec<u32>, Vec<u64>, Vec<u64>);
    let (front, back): (
        std::result::Result<Front, Failed>,
        std::result::Result<Back, Failed>,
    ) = rayon::join(
        || {
            let subs = read_array(path, part(0), size / 8, u64::from_le_bytes)?;
            let sub_start = read_array(path, part(1), size / 8, u64::from_le_bytes)?;
            let days = if day_width == 1 {
                DayColumn::Narrow(read_array(path, part(2), size, |[b]: [u8; 1]| b)?)
            } else {
                DayColumn::Wide(read_array(path, part(2), size / 2, u16::from_le_bytes)?)
            };
            Ok((subs, sub_start, days))
        },
        || {
            let codes = read_array(path, part(3), size / 4, u32::from_le_bytes)?;
            let low = read_array(path, part(4), size / 4, u32::from_le_bytes)?;
            let groups = read_array(path, part(5), size / 8, u64::from_le_bytes)?;
            let runs = read_array(path, part(6), size / 8, u64::from_le_bytes)?;
            Ok((codes, low, groups, runs))
        },
    );
    let failed = |f: Failed| match f {
        Failed::Io(e) => io(e),
        Failed::Changed(i) => changed(path, ARRAYS[i]),
    };
    let ((subs, sub_start, days), (codes, low, groups, runs)) =
        (front.map_err(failed)?, back.map_err(failed)?);
    let subs = subs
        .into_iter()
        .map(|v| Msisdn::from_value(v).ok_or_else(|| bad("subscriber")))
        .collect::<Result<Vec<_>>>()?;
    let groups = (groups.into_iter())
        .map(|x| ((x >> 32) as u32, x as u32))
        .collect();
    let runs = (runs.into_iter())
        .map(|x| Some((u32::try_from(x >> 16).ok()?, x as u16)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("dictionary runs"))?;
    let dict = Dictionary::from_parts(groups, low, runs).ok_or_else(|| bad("dictionary"))?;
    let n = codes.len() as u64;
    let ok = sub_start.len() == subs.len() + 1
        && days.len() == codes.len()
        && sub_start.first() == Some(&0)
        && sub_start.last() == Some(&n)
        && sub_start.windows(2).all(|w| w[0] <= w[1])
        && subs.windows(2).all(|w| w[0] < w[1])
        && codes
            .iter()
            .all(|c| (c & ((1 << 30) - 1)) as usize <= dict.len());
    if !ok {
        return Err(bad("inconsistent arrays"));
    }
    // Each subscriber's days in order: a lookup finds a day range by binary search, and a
    // day out of order would be counted outside the range it asked for (a panic, found by
    // changing one byte of a prepared file).
    fn sorted<D: PartialOrd>(days: &[D], starts: &[u64]) -> bool {
        starts
            .windows(2)
            .all(|w| days[w[0] as usize..w[1] as usize].is_sorted())
    }
    let in_order = match &days {
        DayColumn::Narrow(v) => sorted(v, &sub_start),
        DayColumn::Wide(v) => sorted(v, &sub_start),
    };
    if !in_order {
        return Err(bad("a subscriber's days are out of order"));
    }
    Ok(ServingIndex::from_parts(
        tz, base_day, subs, sub_start, days, codes, dict,
    ))
}

/// The byte ranges of a current-format file's parts, each with its checksum: the header,
/// then the seven arrays.
#[cfg(test)]
pub(crate) fn part_ranges(v3: &[u8]) -> Vec<std::ops::Range<usize>> {
    let word = |at: usize| u64::from_le_bytes(v3[at..at + 8].try_into().unwrap());
    let header_end = 8 + 8 + word(8) as usize + 8 + 8 + 8;
    let day_width = word(header_end - 16);
    let mut parts = Vec::new();
    parts.push(0..header_end);
    for w in [8u64, 8, day_width, 4, 4, 8, 8] {
        let at = parts.last().unwrap().end;
        parts.push(at..at + 8 + (word(at) * w) as usize + 8);
    }
    assert_eq!(parts.last().unwrap().end, v3.len());
    parts
}

/// The same file in the format before checksums (`\2`): what an older `hotzone prepare`
/// wrote, for the tests that it is still read.
#[cfg(test)]
pub(crate) fn without_checksums(v3: &[u8]) -> Vec<u8> {
    let mut out = MAGIC_UNCHECKED.to_vec();
    for (k, r) in part_ranges(v3).into_iter().enumerate() {
        let from = if k == 0 { 8 } else { r.start };
        out.extend_from_slice(&v3[from..r.end - 8]);
    }
    out
}
