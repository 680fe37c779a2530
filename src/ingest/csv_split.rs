//! Cutting one CSV file into parts that begin at record boundaries, so a large file is read
//! on every core with exactly the rows, rejects and row numbers of reading it whole.
//!
//! Where a record starts depends on every quote before it: a line end inside a quoted field
//! is data, and a quote only opens a quoted field at the start of a field (in `a"b` it is an
//! ordinary byte). So a part cannot simply start after "the next newline". `plan` finds
//! exact boundaries in two steps:
//!
//! 1. **In parallel**, the file is cut into chunks of `part_bytes`. Each chunk is run through
//!    the reader's state machine (`State`, the `csv` crate's own automaton reduced to what
//!    decides where a record ends) once for every state the reader can be in at the chunk's
//!    start. The byte just before the chunk leaves two or three candidates (after a `,` the
//!    reader is at a field start or inside quotes, …). A run records the state at the
//!    chunk's end and the first record boundary in the chunk: the position after a `\n` read
//!    outside quotes. Only quotes change the state in an interesting way, so a run jumps from
//!    quote to quote (`memchr`); a chunk without quotes costs a scan for one byte.
//! 2. **In order**, the real start state of each chunk is known from the previous chunk's run
//!    (the file starts between records), which picks the run that applies and so the exact
//!    boundary. A chunk that lies inside one quoted field has no boundary and joins the part
//!    before it.
//!
//! That reads the whole file once more before any part is read. So `ingest` first *guesses*
//! (`guess`): a part starts after the first `\n` past each `part_bytes`, and each part,
//! read as if it started between records, reports whether it ends between records; when all
//! of a file's parts but the last do, every start was right (by induction from byte 0).
//! Otherwise `ingest` drops that reading and reads again, the file cut by `plan`.
//!
//! Each part is then read by its own `csv` reader (`ingest::csv::read`) starting between
//! records, which is the state the whole-file reader would be in at that byte. Rows are
//! numbered within the part; `ingest` adds the rows of the file's earlier parts once they
//! are read, so a reject keeps its row number in the file. Splitting only after `\n`
//! (never between `\r` and `\n`) keeps CRLF files exact; a file with `\r` alone as line end
//! is read whole. No part starts before the end of the header record: the reader skips
//! empty lines before the header, so a line end there ends no record.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use memchr::{memchr, memchr2};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Where the `csv` crate's reader (default dialect: `,`, `"` doubled to escape, `\r`, `\n` or
/// `\r\n` ending a record, empty lines skipped) is after a byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum State {
    /// Between records (start of the file, or after a line end outside quotes).
    Record,
    /// At the start of a field, after a delimiter.
    Field,
    /// Inside an unquoted field: a quote here is an ordinary byte.
    Unquoted,
    /// Inside a quoted field: delimiters and line ends are data.
    Quoted,
    /// Just after the quote that closed a quoted field; a second quote (`""`) reopens it.
    AfterQuote,
}

/// One byte of the reader's automaton, in a file whose fields are separated by `sep` (a
/// comma, or the `;`, tab or `|` its header is split by: `csv::layout`).
pub(crate) fn step(state: State, b: u8, sep: u8) -> State {
    use State::*;
    match (state, b) {
        (Quoted, b'"') => AfterQuote,
        (Quoted, _) => Quoted,
        (Record | Field | AfterQuote, b'"') => Quoted,
        (Unquoted, b'"') => Unquoted,
        (_, b'\r' | b'\n') => Record,
        (_, b) if b == sep => Field,
        _ => Unquoted,
    }
}

/// Runs `bytes` from `state`: the state after them, and the first record boundary (the
/// index after a `\n` read outside quotes). Equal to folding [`step`] over the bytes, but
/// jumps from quote to quote: outside quotes, the state after a byte that is not a quote
/// depends on that byte alone.
pub(crate) fn run(bytes: &[u8], mut state: State, sep: u8) -> (State, Option<usize>) {
    // The state after a byte other than a quote, read outside a quoted field.
    let outside_after = |b: u8| step(State::Unquoted, b, sep);
    let mut boundary = None;
    let mut i = 0;
    while i < bytes.len() {
        match state {
            State::Quoted => match memchr(b'"', &bytes[i..]) {
                None => return (State::Quoted, boundary),
                Some(k) => {
                    state = State::AfterQuote;
                    i += k + 1;
                }
            },
            State::AfterQuote => {
                if bytes[i] == b'\n' && boundary.is_none() {
                    boundary = Some(i + 1);
                }
                state = step(state, bytes[i], sep);
                i += 1;
            }
            State::Record | State::Field | State::Unquoted => {
                let rest = &bytes[i..];
                let next = if boundary.is_none() {
                    memchr2(b'"', b'\n', rest)
                } else {
                    memchr(b'"', rest)
                };
                let Some(k) = next else {
                    let last = bytes[bytes.len() - 1];
                    return (outside_after(last), boundary);
                };
                let j = i + k;
                if k > 0 {
                    state = outside_after(bytes[j - 1]);
                }
                if bytes[j] == b'\n' {
                    boundary = Some(j + 1);
                }
                state = step(state, bytes[j], sep);
                i = j + 1;
            }
        }
    }
    (state, boundary)
}

/// The states the reader can be in after the byte `b` (whatever came before it).
fn states_after(b: u8, sep: u8) -> &'static [State] {
    use State::*;
    match b {
        b'"' => &[Quoted, AfterQuote, Unquoted],
        b'\r' | b'\n' => &[Record, Quoted],
        b if b == sep => &[Field, Quoted],
        _ => &[Unquoted, Quoted],
    }
}

/// One chunk's runs: (state at its start, state at its end, first boundary in the file).
type ChunkRuns = Vec<(State, State, Option<u64>)>;

/// Byte ranges of `path` that start at record boundaries and together cover the file, each
/// about `part_bytes` long (a single range when the file is smaller). The first range holds
/// the header, which ends at byte `header_end`: no other range starts before it, and the
/// automaton starts there, between records (a byte order mark before the header is no text
/// of the reader's, so no quote of the header is read as data).
pub(crate) fn plan(
    path: &Path,
    part_bytes: u64,
    header_end: u64,
    sep: u8,
) -> Result<Vec<(u64, u64)>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let part_bytes = part_bytes.max(1);
    if len <= part_bytes {
        return Ok(vec![(0, len)]);
    }
    let header_end = header_end.min(len);
    let chunks = (len - header_end).div_ceil(part_bytes);
    let runs: Vec<ChunkRuns> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let start = header_end + c * part_bytes;
            chunk_runs(path, start, (start + part_bytes).min(len), c == 0, sep)
        })
        .collect::<Result<_>>()?;
    let mut starts = vec![0u64];
    let mut state = State::Record;
    for (c, runs) in runs.iter().enumerate() {
        let Some(&(_, end, boundary)) = runs.iter().find(|r| r.0 == state) else {
            return Err(Error::read(
                path,
                format!("internal: no run of chunk {c} from {state:?}"),
            ));
        };
        // The first part starts at 0 and holds the header.
        if let Some(b) = boundary.filter(|&b| c > 0 && b >= header_end && b < len) {
            starts.push(b);
        }
        state = end;
    }
    let mut parts: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    parts.push((*starts.last().unwrap_or(&0), len));
    Ok(parts)
}

/// Byte ranges of `path` that start just after a line end (`\n`) and together cover the
/// file, each about `part_bytes` long; the first holds the header (no other starts before
/// `header_end`). A *guess*: such a start is a record boundary unless a quoted field spans
/// it, which only reading the text before it can tell. `ingest` reads the parts of a guess
/// as if each started between records and checks it as it goes: the text before each start
/// (read from a start already checked) must end between records ([`run`]'s state after its
/// last `\n` is not [`State::Quoted`]); a file where one does not is read again with the
/// exact cuts of [`plan`]. Unlike [`plan`], a guess reads a few bytes per part, not the file.
pub(crate) fn guess(path: &Path, part_bytes: u64, header_end: u64) -> Result<Vec<(u64, u64)>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let part_bytes = part_bytes.max(1);
    let mut starts = vec![0u64];
    let mut block = vec![0u8; GUESS_BLOCK];
    // The next part starts after the first `\n` at or after `from` (and after the header's
    // end: its own line end is at `header_end - 1` at the latest).
    let mut from = part_bytes.max(header_end.saturating_sub(1));
    while from < len {
        let Some(newline) = first_newline(path, &mut file, from, &mut block)? else {
            break; // no line end after `from`: the last part runs to the end
        };
        let start = newline + 1;
        if start >= len {
            break;
        }
        starts.push(start);
        from = start.max(from + part_bytes);
    }
    let mut parts: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    parts.push((*starts.last().unwrap_or(&0), len));
    Ok(parts)
}

/// The last `bytes` bytes of the CSV file at `path` (records from `header_end` on) as a range
/// starting after a line end: a guess at where its last records start (a quoted field
/// holding a line end may make it a wrong one; its reader must not depend on it).
pub fn tail(path: &Path, bytes: u64, header_end: u64) -> Result<(u64, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let from = len.saturating_sub(bytes);
    if from <= header_end {
        return Ok((header_end.min(len), len));
    }
    let mut block = vec![0u8; GUESS_BLOCK];
    let start = first_newline(path, &mut file, from, &mut block)?.map_or(len, |n| n + 1);
    Ok((start.min(len), len))
}

/// Bytes read at a time by [`guess`] looking for a line end (lines are much shorter).
const GUESS_BLOCK: usize = 16 << 10;

/// The offset of the first `\n` of `file` at or after `from`, `None` when there is none.
fn first_newline(
    path: &Path,
    file: &mut std::fs::File,
    from: u64,
    block: &mut [u8],
) -> Result<Option<u64>> {
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let mut at = from;
    loop {
        let n = match file.read(block) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        if let Some(k) = memchr(b'\n', &block[..n]) {
            return Ok(Some(at + k as u64));
        }
        at += n as u64;
    }
}

/// Bytes of a chunk read at a time while it is run: the block stays in the core's cache, and
/// each thread keeps one ([`PLAN_BUFFER`]), so planning a file of any size touches the same
/// few pages (a chunk read whole into a new 16 MiB buffer cost a page fault per 4 KiB).
const PLAN_BLOCK: usize = 256 << 10;

std::thread_local! {
    /// This thread's block for [`chunk_runs`].
    static PLAN_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs the chunk `[start, end)` from every state the byte before it allows, or only from
/// between records when the reader is known to be there (`between`: the header's end).
fn chunk_runs(path: &Path, start: u64, end: u64, between: bool, sep: u8) -> Result<ChunkRuns> {
    PLAN_BUFFER.with_borrow_mut(|block| {
        block.resize(PLAN_BLOCK, 0);
        chunk_runs_in(path, start, end, between, block, sep)
    })
}

/// [`chunk_runs`], reading the chunk a `block` at a time: [`run`] over a text is [`run`] over
/// its first piece, then over the rest from the state it ended in (the first boundary being
/// the first piece's, if it has one).
fn chunk_runs_in(
    path: &Path,
    start: u64,
    end: u64,
    between: bool,
    block: &mut [u8],
    sep: u8,
) -> Result<ChunkRuns> {
    let between = between || start == 0;
    let from = if between { start } else { start - 1 };
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(path, e))?;
    let mut text = file.take(end - from);
    let changed = || Error::read(path, "the file changed while it was read");
    let mut runs: ChunkRuns = if between {
        vec![(State::Record, State::Record, None)]
    } else {
        let mut before = [0u8];
        text.read_exact(&mut before).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => changed(),
            _ => Error::io(path, e),
        })?;
        states_after(before[0], sep)
            .iter()
            .map(|&s| (s, s, None))
            .collect()
    };
    let mut at = start;
    loop {
        let n = match text.read(block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        for (_, state, boundary) in runs.iter_mut() {
            let (after, first) = run(&block[..n], *state, sep);
            *state = after;
            if boundary.is_none() {
                *boundary = first.map(|b| at + b as u64);
            }
        }
        at += n as u64;
    }
    if at != end {
        return Err(changed());
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Folding `step` byte by byte: the reference for `run`.
    fn naive(bytes: &[u8], mut state: State, sep: u8) -> (State, Option<usize>) {
        let mut boundary = None;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' && state != State::Quoted && boundary.is_none() {
                boundary = Some(i + 1);
            }
            state = step(state, b, sep);
        }
        (state, boundary)
    }

    /// The separators a file is read with.
    const SEPS: [u8; 4] = [b',', b';', b'\t', b'|'];

    const STATES: [State; 5] = [
        State::Record,
        State::Field,
        State::Unquoted,
        State::Quoted,
        State::AfterQuote,
    ];

    proptest! {
        /// The quote-to-quote run equals the byte-by-byte automaton from every state.
        #[test]
        fn run_equals_the_automaton(
            bytes in prop::collection::vec(prop::sample::select(b"\"\",;\t\n\rab".to_vec()), 0..64),
            sep in prop::sample::select(SEPS.to_vec()),
        ) {
            for s in STATES {
                prop_assert_eq!(run(&bytes, s, sep), naive(&bytes, s, sep), "{:?}", s);
            }
        }

        /// Whatever the state before a byte, the state after it is one `states_after` lists.
        #[test]
        fn states_after_covers_every_state(
            b in prop::sample::select(b"\",;\t|\n\ra".to_vec()),
            sep in prop::sample::select(SEPS.to_vec()),
        ) {
            for s in STATES {
                prop_assert!(states_after(b, sep).contains(&step(s, b, sep)));
            }
        }
    }

    proptest! {
        /// A chunk read a block at a time gives the runs of the chunk read whole, for any
        /// block size and wherever the chunk starts.
        #[test]
        fn a_chunk_run_in_blocks_equals_the_whole_chunk_run(
            text in prop::collection::vec(prop::sample::select(b"\"\",;\n\rab".to_vec()), 1..80),
            cut in 0usize..80,
            block in 1usize..20,
            sep in prop::sample::select(vec![b',', b';']),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.csv");
            std::fs::write(&path, &text).unwrap();
            let (start, end) = ((cut % text.len()) as u64, text.len() as u64);
            let got = chunk_runs_in(&path, start, end, false, &mut vec![0; block], sep).unwrap();
            let chunk = &text[start as usize..];
            let before: &[State] = match start {
                0 => &[State::Record],
                s => states_after(text[s as usize - 1], sep),
            };
            let want: ChunkRuns = before
                .iter()
                .map(|&s| {
                    let (after, first) = naive(chunk, s, sep);
                    (s, after, first.map(|b| start + b as u64))
                })
                .collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(&chunk_runs(&path, start, end, false, sep).unwrap(), &want);
            // Known to start between records: the run from there only.
            let from_record: ChunkRuns = want.iter().filter(|r| r.0 == State::Record).cloned().collect();
            let known = chunk_runs_in(&path, start, end, true, &mut vec![0; block], sep).unwrap();
            let naive_known = {
                let (after, first) = naive(chunk, State::Record, sep);
                vec![(State::Record, after, first.map(|b| start + b as u64))]
            };
            prop_assert_eq!(&known, &naive_known);
            if start == 0 || !from_record.is_empty() {
                prop_assert_eq!(known, from_record);
            }
            // A file shorter than the chunk is an error, not a shorter run.
            prop_assert!(chunk_runs_in(&path, start, end + 1, false, &mut vec![0; block], sep).is_err());
        }
    }

    /// [`guess`], from the text in memory: each start after the first line end at or after
    /// the point one part past the last, and past the header.
    fn naive_guess(text: &[u8], part_bytes: u64, header_end: u64) -> Vec<(u64, u64)> {
        let len = text.len() as u64;
        let mut starts = vec![0];
        let mut from = part_bytes.max(1).max(header_end.saturating_sub(1));
        while let Some(i) = (from..len).find(|&i| text[i as usize] == b'\n') {
            if i + 1 >= len {
                break;
            }
            starts.push(i + 1);
            from = (i + 1).max(from + part_bytes.max(1));
        }
        let mut parts: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
        parts.push((*starts.last().unwrap(), len));
        parts
    }

    proptest! {
        /// Guessed parts cover the file, start after a line end past the header, and are
        /// where the naive search puts them; the line end is found across reads of any size.
        #[test]
        fn guessed_parts_start_after_line_ends(
            text in prop::collection::vec(prop::sample::select(b"\"\n\rab".to_vec()), 1..120),
            part_bytes in 1u64..40,
            header_end in 0u64..30,
            block in 1usize..9,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.csv");
            std::fs::write(&path, &text).unwrap();
            let header_end = header_end.min(text.len() as u64);
            let parts = guess(&path, part_bytes, header_end).unwrap();
            prop_assert_eq!(&parts, &naive_guess(&text, part_bytes, header_end));
            prop_assert_eq!(parts[0].0, 0);
            prop_assert_eq!(parts.last().unwrap().1, text.len() as u64);
            for w in parts.windows(2) {
                prop_assert_eq!(w[0].1, w[1].0);
                prop_assert!(w[0].0 < w[0].1);
                prop_assert_eq!(text[w[1].0 as usize - 1], b'\n');
                prop_assert!(w[1].0 >= header_end);
            }
            let mut file = std::fs::File::open(&path).unwrap();
            for from in 0..text.len() as u64 + 2 {
                let want = (from..text.len() as u64).find(|&i| text[i as usize] == b'\n');
                let got = first_newline(&path, &mut file, from, &mut vec![0; block]).unwrap();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn boundaries_skip_quoted_line_ends() {
        let text = b"h1,h2\n\"a\nb\",c\nd,\"e\"\"\nf\"\ng,h";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        for part_bytes in 1..=text.len() as u64 + 1 {
            let parts = plan(&path, part_bytes, 6, b',').unwrap();
            assert_eq!(parts.first().unwrap().0, 0);
            assert_eq!(parts.last().unwrap().1, text.len() as u64);
            assert!(parts.windows(2).all(|w| w[0].1 == w[1].0));
            // Parts start only at the starts of records (after the header): 6, 14, 24.
            for (s, _) in &parts[1..] {
                assert!([6, 14, 24].contains(s), "{part_bytes}: {parts:?}");
            }
        }
        // The first part holds the header and the record after it (the automaton starts at
        // the header's end, where no chunk's first boundary makes a part).
        assert_eq!(
            plan(&path, 1, 6, b',').unwrap(),
            [(0, 14), (14, 24), (24, 27)]
        );
        // No part starts before the header's end (here as if the header were two records).
        assert_eq!(plan(&path, 1, 14, b',').unwrap(), [(0, 24), (24, 27)]);
        // Separated by `;`, the same text cut at the same records.
        let semi: Vec<u8> = text
            .iter()
            .map(|&b| if b == b',' { b';' } else { b })
            .collect();
        std::fs::write(&path, &semi).unwrap();
        assert_eq!(
            plan(&path, 1, 6, b';').unwrap(),
            [(0, 14), (14, 24), (24, 27)]
        );
    }

    /// A quote opens a quoted field only after the file's own separator: after a comma in a
    /// file separated by `;` it is an ordinary byte, and the line end after it ends a record.
    #[test]
    fn a_quote_opens_a_field_only_after_the_separator() {
        let text = b"h1;h2\na,\"b\nc;d\ne;f\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            plan(&path, 1, 6, b';').unwrap(),
            [(0, 11), (11, 15), (15, 19)]
        );
        // Read with commas, the quote opens a field that runs to the end of the text.
        assert_eq!(plan(&path, 1, 6, b',').unwrap(), [(0, 19)]);
    }
}
