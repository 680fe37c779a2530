//! The prepared form: a [`ServingIndex`] written to one file, so that repeated scans (other
//! hotzones, thresholds, methods) skip parsing and classification entirely.
//!
//! Layout (little-endian): magic `HZIDX\0\0\1`, the zone name, `base_day`, then each array as
//! a length and its elements: subscribers (`u64`), subscriber starts (`u64`), day offsets
//! (`u16`), codes (`u32`), dictionary padded numbers (`u64`), dictionary regions (`u16`).
//! Reading is a sequential read of about 6 bytes per event.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::index::ServingIndex;
use crate::index::dictionary::Dictionary;
use crate::model::Msisdn;

const MAGIC: &[u8; 8] = b"HZIDX\0\0\x01";

/// Whether a file starts with the prepared-form magic.
pub fn is_prepared(path: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == MAGIC
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

/// Writes the prepared form.
pub fn write(index: &ServingIndex, path: &Path) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    w.write_all(MAGIC).map_err(io)?;
    let tz = index.tz.name().as_bytes();
    w.write_all(&(tz.len() as u64).to_le_bytes()).map_err(io)?;
    w.write_all(tz).map_err(io)?;
    w.write_all(&i64::from(index.base_day).to_le_bytes())
        .map_err(io)?;
    put_array(&mut w, &index.subs, |m: Msisdn| m.value().to_le_bytes()).map_err(io)?;
    put_array(&mut w, &index.sub_start, u64::to_le_bytes).map_err(io)?;
    put_array(&mut w, &index.days, u16::to_le_bytes).map_err(io)?;
    put_array(&mut w, &index.codes, u32::to_le_bytes).map_err(io)?;
    let (padded, regions) = index.dict.parts();
    put_array(&mut w, padded, u64::to_le_bytes).map_err(io)?;
    put_array(&mut w, regions, u16::to_le_bytes).map_err(io)?;
    w.flush().map_err(io)?;
    w.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)
}

/// Reads the prepared form, checking its structure.
pub fn read(path: &Path) -> Result<ServingIndex> {
    let bad = |m: &str| Error::read(path, format!("not a valid prepared index: {m}"));
    let io = |e: std::io::Error| Error::read(path, format!("not a valid prepared index: {e}"));
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut r =
        BufReader::with_capacity(1 << 20, File::open(path).map_err(|e| Error::io(path, e))?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(io)?;
    if &magic != MAGIC {
        return Err(bad("wrong magic"));
    }
    let tz_len = get_u64(&mut r).map_err(io)?;
    if tz_len > 64 {
        return Err(bad("zone name too long"));
    }
    let mut tz = vec![0u8; tz_len as usize];
    r.read_exact(&mut tz).map_err(io)?;
    let tz: Tz = std::str::from_utf8(&tz)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("unknown zone"))?;
    let base_day =
        i32::try_from(get_u64(&mut r).map_err(io)? as i64).map_err(|_| bad("base day"))?;
    // The six arrays follow each other; find where each starts from the length prefixes,
    // then read them on two threads (the copy from the page cache dominates a repeated scan).
    let header = 8 + 8 + tz_len + 8;
    let widths = [8u64, 8, 2, 4, 8, 2];
    let mut starts = [0u64; 6];
    let mut at = header;
    let mut probe = File::open(path).map_err(|e| Error::io(path, e))?;
    for (i, w) in widths.iter().enumerate() {
        starts[i] = at;
        probe.seek(SeekFrom::Start(at)).map_err(io)?;
        let len = get_u64(&mut probe).map_err(io)?;
        if len > size / w {
            return Err(bad("array length out of bounds"));
        }
        at += 8 + len * w;
    }
    if at != size {
        return Err(bad("file size does not match its arrays"));
    }
    let open_at = |i: usize| -> std::io::Result<BufReader<File>> {
        let mut f = File::open(path)?;
        f.seek(SeekFrom::Start(starts[i]))?;
        Ok(BufReader::with_capacity(1 << 20, f))
    };
    type Front = (Vec<u64>, Vec<u64>, Vec<u16>);
    type Back = (Vec<u32>, Vec<u64>, Vec<u16>);
    let (front, back): (std::io::Result<Front>, std::io::Result<Back>) = rayon::join(
        || {
            let subs = get_array(&mut open_at(0)?, size / 8, u64::from_le_bytes)?;
            let sub_start = get_array(&mut open_at(1)?, size / 8, u64::from_le_bytes)?;
            let days = get_array(&mut open_at(2)?, size / 2, u16::from_le_bytes)?;
            Ok((subs, sub_start, days))
        },
        || {
            let codes = get_array(&mut open_at(3)?, size / 4, u32::from_le_bytes)?;
            let padded = get_array(&mut open_at(4)?, size / 8, u64::from_le_bytes)?;
            let regions = get_array(&mut open_at(5)?, size / 2, u16::from_le_bytes)?;
            Ok((codes, padded, regions))
        },
    );
    let ((subs, sub_start, days), (codes, padded, regions)) =
        (front.map_err(io)?, back.map_err(io)?);
    let subs = subs
        .into_iter()
        .map(|v| Msisdn::from_value(v).ok_or_else(|| bad("subscriber")))
        .collect::<Result<Vec<_>>>()?;
    let n = codes.len() as u64;
    let ok = sub_start.len() == subs.len() + 1
        && days.len() == codes.len()
        && sub_start.first() == Some(&0)
        && sub_start.last() == Some(&n)
        && sub_start.windows(2).all(|w| w[0] <= w[1])
        && subs.windows(2).all(|w| w[0] < w[1])
        && padded.len() == regions.len()
        && codes
            .iter()
            .all(|c| (c & ((1 << 30) - 1)) as usize <= padded.len());
    if !ok {
        return Err(bad("inconsistent arrays"));
    }
    Ok(ServingIndex::from_parts(
        tz,
        base_day,
        subs,
        sub_start,
        days,
        codes,
        Dictionary::from_parts(padded, regions),
    ))
}
