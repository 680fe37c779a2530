//! The prepared form: a [`ServingIndex`] written to one file, so that repeated scans (other
//! hotzones, thresholds, methods) skip parsing and classification entirely.
//!
//! Layout (little-endian): magic `HZIDX\0\0\4`, the zone name, `base_day`, the width of a day
//! offset (1 or 2 bytes), then each array as a length and its elements: subscribers (`u64`),
//! subscriber starts (`u64`), day offsets, codes (`u32`), the dictionary's low bits (`u32`),
//! its groups (`high << 32 | first id`, `u64`), its region runs (`first id << 16 | region`,
//! `u64`), a bit per entry whose number ends in 0 (`u64` words) and the digit counts of those
//! that end in 00 or more (`id << 8 | count`, `u64`).
//! Reading is a sequential read of about 7 bytes per event on tier M, through one open file
//! (a file renamed over the path while it is read does not mix into it: `prepare` writes
//! that way).
//!
//! The header (magic to day width) and each array (its length and elements) are followed by
//! the XXH3-64 of their bytes, seeded with the checksum before it (0 for the header), checked
//! on every read: a changed byte is an error naming the part, never a different answer (the
//! structural checks alone let a changed day or code that kept the arrays consistent
//! through), and the chain ties each part to all the parts before it, so a part copied in
//! from another prepared file (its own checksum with it) does not pass either.
//!
//! Files of the earlier formats (`\3`, and `\2` without checksums) are refused with a
//! message to prepare again: they lack the digit counts, so a prefix made of a number and a
//! trailing 0 (`+23480312345670`) also took in that number (`+2348031234567`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::index::dictionary::Dictionary;
use crate::index::{DayColumn, ServingIndex};
use crate::model::Msisdn;

/// The magic written: the format with checksums and digit counts.
const MAGIC: &[u8; 8] = b"HZIDX\0\0\x04";
/// The earlier formats' magics (with checksums, and before them), recognised and refused.
const MAGIC_EARLIER: [&[u8; 8]; 2] = [b"HZIDX\0\0\x03", b"HZIDX\0\0\x02"];

/// The arrays in file order, as errors name them.
const ARRAYS: [&str; 9] = [
    "subscribers",
    "subscriber starts",
    "days",
    "codes",
    "dictionary low bits",
    "dictionary groups",
    "dictionary runs",
    "dictionary numbers ending in 0",
    "dictionary digit counts",
];

/// Whether a file starts with a prepared-form magic (of this format, an earlier one or a later
/// one: [`read`] says which, and refuses the others).
pub fn is_prepared(path: &Path) -> bool {
    let mut head = [0u8; 8];
    crate::files::regular(path).is_ok()
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        && head.starts_with(&MAGIC[..7])
}

/// A reader or writer that hashes the bytes passing through it (XXH3-64), so a part's
/// checksum costs no second pass over it. Each part's hash is seeded with the checksum
/// stored before it (the header's with 0).
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
    put_array(&mut w, dict.zero_bits, u64::to_le_bytes).map_err(io)?;
    w.seal().map_err(io)?;
    put_array(&mut w, dict.long_zeros, |(id, len): (u32, u8)| {
        ((u64::from(id) << 8) | u64::from(len)).to_le_bytes()
    })
    .map_err(io)?;
    w.seal().map_err(io)?;
    w.flush().map_err(io)?;
    w.inner
        .into_inner()
        .map_err(|e| io(e.into_error()))
        .and_then(|f| crate::staged::sync_written(&f).map_err(io))
}

/// The zone a prepared file's days are in (its header only, checked).
pub fn zone(path: &Path) -> Result<Tz> {
    let file = open(path)?;
    let mut r = Summed::seeded(BufReader::new(At::new(&file, 0)), 0);
    Ok(read_header(&mut r, path)?.tz)
}

/// Opens a prepared file: a regular file (a FIFO would wait for a writer for ever).
fn open(path: &Path) -> Result<File> {
    crate::files::regular(path).map_err(|e| Error::io(path, e))?;
    File::open(path).map_err(|e| Error::io(path, e))
}

/// Reads one open file from a position, without moving a shared cursor: the parts of a file
/// are read from one descriptor on two threads.
struct At<'f> {
    file: &'f File,
    at: u64,
}

impl<'f> At<'f> {
    fn new(file: &'f File, at: u64) -> At<'f> {
        At { file, at }
    }
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.at)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
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

/// The local day numbers an accepted event can fall on: 1970-01-01T00:00Z to
/// 2099-12-31T23:59Z in any zone (1969-12-31 to 2100-01-01).
fn day_range() -> std::ops::RangeInclusive<i64> {
    use hotzone_kernel::detect::calendar::day_number;
    let day = |y, m, d| {
        i64::from(day_number(
            chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(),
        ))
    };
    day(1969, 12, 31)..=day(2100, 1, 1)
}

/// What opens every prepared file.
struct Header {
    tz: Tz,
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
    if MAGIC_EARLIER.contains(&&magic) {
        return Err(Error::read(
            path,
            "a prepared file of an earlier hotzone, whose format loses the digit count of \
             numbers that end in 0 (a prefix such as +23480312345670 also took in \
             +2348031234567): run `hotzone prepare` again",
        ));
    }
    if magic.starts_with(&MAGIC[..7]) && magic[7] > MAGIC[7] {
        return Err(Error::read(
            path,
            format!(
                "a prepared file of a later hotzone (format {}; this one reads format {}), or a \
                 damaged one: scan it with that version, or run `hotzone prepare` again with this one",
                magic[7], MAGIC[7]
            ),
        ));
    }
    if &magic != MAGIC {
        return Err(bad("wrong magic"));
    }
    let tz_len = get_u64(r).map_err(io)?;
    if tz_len > 64 {
        return Err(bad("zone name too long"));
    }
    let mut tz = vec![0u8; tz_len as usize];
    r.read_exact(&mut tz).map_err(io)?;
    let base_day = get_u64(r).map_err(io)?;
    let day_width = get_u64(r).map_err(io)?;
    // Checked before any field is used: a changed byte is named as such.
    if !r.check().map_err(io)? {
        return Err(changed(path, "header"));
    }
    let tz = std::str::from_utf8(&tz)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("unknown zone"))?;
    let base_day = i32::try_from(base_day as i64)
        .ok()
        .filter(|d| day_range().contains(&i64::from(*d)))
        .ok_or_else(|| bad("its first day is outside 1969-12-31 ..= 2100-01-01"))?;
    if day_width != 1 && day_width != 2 {
        return Err(bad("day width"));
    }
    let len = 8 + 8 + tz_len + 8 + 8 + 8;
    Ok(Header {
        tz,
        base_day,
        day_width,
        len,
    })
}

/// Reads the prepared form, checking its checksums and its structure.
pub fn read(path: &Path) -> Result<ServingIndex> {
    let bad = |m: &str| invalid(path, m);
    let io = |e| read_failed(path, e);
    // One descriptor for every part: `prepare` renames a new file over the path, and parts
    // read through several opens could come from two files.
    let file = open(path)?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = Summed::seeded(BufReader::with_capacity(1 << 16, At::new(&file, 0)), 0);
    let Header {
        tz,
        base_day,
        day_width,
        len: header,
    } = read_header(&mut r, path)?;
    // The arrays follow each other; find where each starts from the length prefixes, then
    // read them on two threads (the copy from the page cache dominates a repeated scan).
    // Each array's hash is seeded with the checksum stored just before it.
    let widths = [8u64, 8, day_width, 4, 4, 8, 8, 8, 8];
    let (mut starts, mut seeds) = ([0u64; 9], [0u64; 9]);
    let mut at = header;
    for (i, w) in widths.iter().enumerate() {
        starts[i] = at;
        seeds[i] = get_u64(&mut At::new(&file, at - 8)).map_err(io)?;
        let len = get_u64(&mut At::new(&file, at)).map_err(io)?;
        if len > size / w {
            return Err(bad(&format!(
                "the length of its {} ({len}) does not fit in the file ({size} bytes)",
                ARRAYS[i]
            )));
        }
        at += 8 + len * w + 8;
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
    /// Array `i` (in file order), checked against its checksum.
    /// Unbuffered: `get_array` reads in large chunks, and a buffer would add a copy.
    fn read_array<const N: usize, T>(
        file: &File,
        (i, start, seed): (usize, u64, u64),
        max: u64,
        dec: impl Fn([u8; N]) -> T,
    ) -> std::result::Result<Vec<T>, Failed> {
        let mut r = Summed::seeded(At::new(file, start), seed);
        let v = get_array(&mut r, max, dec)?;
        match r.check()? {
            false => Err(Failed::Changed(i)),
            true => Ok(v),
        }
    }
    let part = |i: usize| (i, starts[i], seeds[i]);
    type Front = (Vec<u64>, Vec<u64>, DayColumn);
    type Back = (Vec<u32>, Vec<u32>, Vec<u64>, Vec<u64>, Vec<u64>, Vec<u64>);
    let (front, back): (
        std::result::Result<Front, Failed>,
        std::result::Result<Back, Failed>,
    ) = rayon::join(
        || {
            let subs = read_array(&file, part(0), size / 8, u64::from_le_bytes)?;
            let sub_start = read_array(&file, part(1), size / 8, u64::from_le_bytes)?;
            let days = if day_width == 1 {
                DayColumn::Narrow(read_array(&file, part(2), size, |[b]: [u8; 1]| b)?)
            } else {
                DayColumn::Wide(read_array(&file, part(2), size / 2, u16::from_le_bytes)?)
            };
            Ok((subs, sub_start, days))
        },
        || {
            let codes = read_array(&file, part(3), size / 4, u32::from_le_bytes)?;
            let low = read_array(&file, part(4), size / 4, u32::from_le_bytes)?;
            let groups = read_array(&file, part(5), size / 8, u64::from_le_bytes)?;
            let runs = read_array(&file, part(6), size / 8, u64::from_le_bytes)?;
            let zero_bits = read_array(&file, part(7), size / 8, u64::from_le_bytes)?;
            let counts = read_array(&file, part(8), size / 8, u64::from_le_bytes)?;
            Ok((codes, low, groups, runs, zero_bits, counts))
        },
    );
    let failed = |f: Failed| match f {
        Failed::Io(e) => io(e),
        Failed::Changed(i) => changed(path, ARRAYS[i]),
    };
    let ((subs, sub_start, days), (codes, low, groups, runs, zero_bits, counts)) =
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
    let counts = (counts.into_iter())
        .map(|x| Some((u32::try_from(x >> 8).ok()?, x as u8)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("dictionary digit counts"))?;
    let dict = Dictionary::from_parts(groups, low, runs, zero_bits, counts)
        .ok_or_else(|| bad("dictionary"))?;
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
    let (in_order, last) = match &days {
        DayColumn::Narrow(v) => (sorted(v, &sub_start), v.iter().max().map(|&d| d.into())),
        DayColumn::Wide(v) => (sorted(v, &sub_start), v.iter().max().copied()),
    };
    if !in_order {
        return Err(bad("a subscriber's days are out of order"));
    }
    // Every day a date (a day past 2100 made every reader panic on its date).
    if last.is_some_and(|d: u16| !day_range().contains(&(i64::from(base_day) + i64::from(d)))) {
        return Err(bad("its last day is past 2100-01-01"));
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
    for w in [8u64, 8, day_width, 4, 4, 8, 8, 8, 8] {
        let at = parts.last().unwrap().end;
        parts.push(at..at + 8 + (word(at) * w) as usize + 8);
    }
    assert_eq!(parts.last().unwrap().end, v3.len());
    parts
}

/// The same file with the magic of an earlier format (`\3`, `\2`): what an older
/// `hotzone prepare` wrote starts so, for the tests that it is refused.
#[cfg(test)]
pub(crate) fn as_earlier_format(v4: &[u8], k: usize) -> Vec<u8> {
    let mut out = MAGIC_EARLIER[k].to_vec();
    out.extend_from_slice(&v4[8..]);
    out
}

/// `file` with each part's checksum computed again over its bytes as they are (`parts`:
/// [`part_ranges`] of the file before it was changed), chained as [`write()`] chains them.
#[cfg(test)]
pub(crate) fn resealed(file: &[u8], parts: &[std::ops::Range<usize>]) -> Vec<u8> {
    use std::hash::Hasher;
    let mut out = file.to_vec();
    let mut seed = 0;
    for r in parts {
        let mut h = twox_hash::XxHash3_64::with_seed(seed);
        h.write(&out[r.start..r.end - 8]);
        seed = h.finish();
        out[r.end - 8..r.end].copy_from_slice(&seed.to_le_bytes());
    }
    out
}
