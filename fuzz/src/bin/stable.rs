//! Stable-Rust random driver for the fuzz targets (no libFuzzer, no coverage feedback):
//! `stable TARGET SECONDS [SEED]` feeds seeded random inputs (random bytes, plus structured
//! near-valid inputs for `check_request`) until the time is up, then prints the executions.
//! A panic aborts the run with the input printed in hex, so it can be replayed.
//!
//! `data_file` is different (see [`data_file`]): it mutates valid seed files of every format
//! (flipped bytes, huge length fields, truncation, splices, duplicated chunks), keeps the
//! mutants whose outcome is new, and goes on after a finding, saving each input that panics,
//! hangs or makes readings disagree. `stable seeds DIR` writes the seeds as a libFuzzer corpus
//! (`fuzz/corpus/data_file`).

use std::time::{Duration, Instant};

/// xorshift64*: deterministic for a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max: usize, alphabet: &[u8]) -> Vec<u8> {
        let n = (self.next() as usize) % (max + 1);
        (0..n)
            .map(|_| {
                let r = self.next();
                if alphabet.is_empty() || r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[((r >> 8) as usize) % alphabet.len()]
                }
            })
            .collect()
    }
}

#[allow(clippy::print_stdout)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target = args.get(1).map(String::as_str).unwrap_or("csv_row");
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0x5EED);
    if target == "seeds" {
        let dir = std::path::PathBuf::from(args.get(2).map_or("corpus/data_file", String::as_str));
        let seeds = hotzone_fuzz::seed_files(
            &std::env::temp_dir().join(format!("hotzone-seeds-{}", std::process::id())),
        );
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (i, (format, bytes)) in seeds.iter().enumerate() {
            let mut v = vec![hotzone_fuzz::selector(*format, 0)];
            v.extend_from_slice(bytes);
            std::fs::write(
                dir.join(format!(
                    "seed-{i:03}-{}",
                    hotzone_fuzz::DATA_FORMATS[*format]
                )),
                v,
            )
            .expect("write a seed");
        }
        println!("{} seeds in {}", seeds.len(), dir.display());
        return;
    }
    if target == "replay" {
        // `stable replay FILE...`: each file through the `data_file` target (a saved input).
        for f in &args[2..] {
            let input = std::fs::read(f).expect("read the input");
            println!("{f}: {:?}", hotzone_fuzz::data_file(&input));
        }
        return;
    }
    if target == "data_file" {
        data_file(secs, seed);
        return;
    }
    let mut rng = Rng(seed | 1);
    // Alphabets biased towards the grammar of each input.
    let row_alpha: &[u8] = b"+0123456789-:TZ ,.inoutcallsmsINOUTCALLSMSNGTWJM\x1f";
    let zone_alpha: &[u8] = b"+0123456789,NGTWJMUSGBKZxx ";
    let until = Instant::now() + Duration::from_secs(secs);
    let mut execs: u64 = 0;
    while Instant::now() < until {
        for _ in 0..256 {
            let input = match target {
                "csv_row" => rng.bytes(96, row_alpha),
                "hotzone_list" => rng.bytes(64, zone_alpha),
                "check_request" => {
                    if rng.next() % 2 == 0 {
                        hotzone_fuzz::structured_request(&rng.bytes(16, &[]))
                    } else {
                        let mut v = hotzone_fuzz::structured_request(&rng.bytes(16, &[]));
                        // Mutate a few bytes of a valid encoding.
                        for _ in 0..(rng.next() % 4) {
                            if !v.is_empty() {
                                let i = (rng.next() as usize) % v.len();
                                v[i] = rng.next() as u8;
                            }
                        }
                        v
                    }
                }
                other => panic!(
                    "unknown target {other} (csv_row, hotzone_list, check_request, data_file, seeds)"
                ),
            };
            let result = std::panic::catch_unwind(|| match target {
                "csv_row" => hotzone_fuzz::csv_row(&input),
                "hotzone_list" => hotzone_fuzz::hotzone_list(&input),
                _ => hotzone_fuzz::check_request(&input),
            });
            execs += 1;
            if result.is_err() {
                println!(
                    "{target}: PANIC after {execs} executions on input {}",
                    hex(&input)
                );
                std::process::exit(1);
            }
        }
    }
    println!("{target}: {execs} executions in {secs} s, seed {seed}, no panic");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Values written over 2, 4 or 8 bytes of a file: lengths and offsets a corrupt header could
/// hold.
const HUGE: [u64; 14] = [
    0,
    1,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 7,
];

/// CSV fragments inserted into CSV text.
const CSV_TOKENS: [&[u8]; 16] = [
    b"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b",",
    b"\"\"",
    b"+",
    b"\xef\xbb\xbf",
    b"2026-10-30T23:59:59.999Z",
    b"+886912345001",
    b"+2348021234567",
    b"in,call,",
    b"9999999999999999999",
    b"\0",
    b"\xff\xfe",
    b"\n\"\n",
];

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() as usize) % n
        }
    }

    /// An offset in `0..len`, biased to the first and last 256 bytes (headers, footers).
    fn offset(&mut self, len: usize) -> usize {
        match self.next() % 4 {
            0 => self.below(len.min(256)),
            1 => len.saturating_sub(1 + self.below(len.min(256))),
            _ => self.below(len),
        }
    }
}

/// One mutation of `v` (`others`: files of the same format, for splices).
fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>, others: &[&[u8]], csv: bool) {
    let len = v.len();
    match rng.next() % 12 {
        0 if len > 0 => {
            let i = rng.offset(len);
            v[i] ^= 1 << (rng.next() % 8);
        }
        1 if len > 0 => {
            for _ in 0..=rng.below(4) {
                let i = rng.offset(len);
                v[i] = rng.next() as u8;
            }
        }
        2 | 3 if len >= 2 => {
            // A length field overwritten with a huge (or tiny) value.
            let width = [2usize, 4, 8][rng.below(3)].min(len);
            let i = rng.offset(len - width + 1).min(len - width);
            let value = if rng.next() % 4 == 0 {
                len as u64 + rng.next() % 64
            } else {
                HUGE[rng.below(HUGE.len())]
            };
            v[i..i + width].copy_from_slice(&value.to_le_bytes()[..width]);
        }
        4 if len > 0 => v.truncate(rng.offset(len)),
        5 if !others.is_empty() => {
            let o = others[rng.below(others.len())];
            let (a, b) = (rng.below(len + 1), rng.below(o.len() + 1));
            v.truncate(a);
            v.extend_from_slice(&o[b..]);
        }
        6 if len > 0 => {
            // A chunk duplicated (inserted again elsewhere, or just after itself).
            let a = rng.offset(len);
            let b = (a + 1 + rng.below(256)).min(len);
            let chunk = v[a..b].to_vec();
            let at = if rng.next() % 2 == 0 {
                b
            } else {
                rng.below(len + 1)
            };
            v.splice(at..at, chunk);
        }
        7 if len > 0 => {
            let a = rng.offset(len);
            let b = (a + 1 + rng.below(64)).min(len);
            v.drain(a..b);
        }
        8 => {
            let at = rng.below(len + 1);
            let ins: Vec<u8> = if csv {
                CSV_TOKENS[rng.below(CSV_TOKENS.len())].to_vec()
            } else {
                // A varint of a huge value (Thrift, Protobuf-style), or random bytes.
                match rng.next() % 3 {
                    0 => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
                    1 => vec![0xff; 10],
                    _ => rng.bytes(8, &[]),
                }
            };
            v.splice(at..at, ins);
        }
        9 if len >= 8 => {
            // An aligned little-endian word (Arrow / prepared-index lengths are aligned).
            let i = (rng.offset(len) & !7).min(len - 8);
            let value = HUGE[rng.below(HUGE.len())];
            v[i..i + 8].copy_from_slice(&value.to_le_bytes());
        }
        10 if len > 0 => {
            // The same bytes repeated: a long run (a file that grows without ending).
            let a = rng.offset(len);
            let b = (a + 1 + rng.below(4096)).min(len);
            let chunk = v[a..b].to_vec();
            for _ in 0..=rng.below(8) {
                v.splice(b..b, chunk.iter().copied());
            }
        }
        _ if len > 0 => {
            let i = rng.offset(len);
            v[i] = v[i].wrapping_add((rng.next() % 5) as u8).wrapping_sub(2);
        }
        _ => v.extend_from_slice(&rng.bytes(16, &[])),
    }
}

/// What an outcome looks like, digits and paths aside: a mutant whose outcome is new is kept.
fn signature(outcome: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // The first words of the message only: a cell's text or a number in it is not an outcome.
    outcome
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .take(72)
        .collect::<String>()
        .hash(&mut h);
    h.finish()
}

/// The `data_file` campaign: mutated seed files until `secs` are up. Each input is saved to
/// `$HOTZONE_FUZZ_DIR` (default: the temporary directory) as `current.bin` before it runs, so
/// an abort (allocation failure, stack overflow) leaves it behind; a panic, a differential
/// mismatch, a run over `$HOTZONE_FUZZ_TIMEOUT` seconds (default 20) or one whose peak
/// resident size passes `$HOTZONE_FUZZ_MAX_RSS_MB` (default 1024) is saved as `panic-N.bin`,
/// `diff-N.bin`, `timeout.bin` (the run ends on a timeout) or `memory-N.bin`.
#[allow(clippy::print_stdout)]
fn data_file(secs: u64, seed: u64) {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = std::env::var_os("HOTZONE_FUZZ_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).expect("fuzz directory");
    let timeout: u64 = std::env::var("HOTZONE_FUZZ_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    // An input whose reading peaks above this many MiB resident is saved as `memory-N.bin`.
    let max_rss_mb: u64 = std::env::var("HOTZONE_FUZZ_MAX_RSS_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let seeds = hotzone_fuzz::seed_files(&dir.join(format!("seeds-{}", std::process::id())));
    let texts: Vec<Vec<u8>> = seeds
        .iter()
        .filter(|(f, _)| *f == 0)
        .map(|(_, b)| b.clone())
        .collect();
    println!("data_file: {} seed files, seed {seed}", seeds.len());
    let mut pool: Vec<(usize, Vec<u8>)> = seeds.clone();
    let mut rng = Rng(seed | 1);
    // The last panic's message (a reader's panic that the library catches is not a finding).
    let last_panic: Arc<Mutex<String>> = Arc::default();
    let hook_panic = Arc::clone(&last_panic);
    std::panic::set_hook(Box::new(move |info| {
        if !hotzone::ingest::in_reader() {
            let msg = format!("{info}");
            eprintln!(
                "panic: {msg}\n{}",
                std::backtrace::Backtrace::force_capture()
            );
            *hook_panic.lock().unwrap() = msg;
        }
    }));
    // Watchdog: an input still running after `timeout` seconds is saved and the run ends.
    let started_ms = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    {
        let started_ms = Arc::clone(&started_ms);
        let dir = dir.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let s = started_ms.load(Ordering::SeqCst);
                let now = epoch.elapsed().as_millis() as u64;
                if s != 0 && now.saturating_sub(s) > timeout * 1000 {
                    let _ = std::fs::copy(dir.join("current.bin"), dir.join("timeout.bin"));
                    println!(
                        "data_file: TIMEOUT: an input ran over {timeout} s, saved as {}",
                        dir.join("timeout.bin").display()
                    );
                    std::process::exit(3);
                }
            }
        });
    }
    let mut seen: HashSet<u64> = HashSet::new();
    let mut found: HashSet<u64> = HashSet::new();
    let (mut execs, mut panics, mut diffs) = (0u64, 0u64, 0u64);
    let mut per_format = [0u64; 8];
    let begun = Instant::now();
    let until = begun + Duration::from_secs(secs);
    let mut report_at = begun + Duration::from_secs(10);
    while Instant::now() < until {
        if Instant::now() >= report_at {
            // A line now and then: a run that aborts still says how far it got.
            report_at += Duration::from_secs(10);
            println!(
                "data_file: progress {execs} executions in {} s, pool {}, {} outcomes",
                begun.elapsed().as_secs(),
                pool.len(),
                seen.len()
            );
        }
        // A format first (the two prepared kinds as one), then a file of it: every format is
        // mutated as often, whichever keeps more mutants.
        let group = rng.below(7);
        let of_group: Vec<usize> = (0..pool.len())
            .filter(|&i| pool[i].0 == group || (group == 6 && pool[i].0 == 7))
            .collect();
        let Some(&pick) = of_group.get(rng.below(of_group.len())) else {
            continue;
        };
        let (mut format, base) = pool[pick].clone();
        let mut body = base;
        if (format == 1 || format == 2) && rng.next() % 2 == 0 && !texts.is_empty() {
            // Mutate the text, then compress it: the CSV reader behind the codec.
            let mut text = texts[rng.below(texts.len())].clone();
            for _ in 0..=rng.below(4) {
                mutate_once(&mut rng, &mut text, &[], true);
            }
            body = if format == 1 {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&text).expect("gzip");
                gz.finish().expect("gzip")
            } else {
                zstd::encode_all(&text[..], 1).expect("zstd")
            };
            if rng.next() % 4 == 0 {
                mutate_once(&mut rng, &mut body, &[], false);
            }
        } else {
            if format >= 6 {
                format = 6 + rng.below(2);
            }
            let others: Vec<&[u8]> = pool
                .iter()
                .filter(|(f, _)| *f == format || (format >= 6 && *f >= 6))
                .map(|(_, b)| b.as_slice())
                .take(64)
                .collect();
            let most = if rng.next() % 4 == 0 { 8 } else { 2 };
            for _ in 0..=rng.below(most) {
                mutate_once(&mut rng, &mut body, &others, format == 0);
            }
        }
        let mut input = vec![hotzone_fuzz::selector(format, rng.next() as u8)];
        input.extend_from_slice(&body);
        std::fs::write(dir.join("current.bin"), &input).expect("save the input");
        started_ms.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::SeqCst);
        // The peak resident size is reset before each input (Linux: `5` into `clear_refs`),
        // so an input that makes a reader take gigabytes, then fail, is found too.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let result = std::panic::catch_unwind(|| hotzone_fuzz::data_file(&input));
        started_ms.store(0, Ordering::SeqCst);
        if let Some(kb) = peak_rss_kb()
            && kb > max_rss_mb * 1024
        {
            let name = dir.join(format!("memory-{execs}.bin"));
            if found.insert(signature(&format!("memory {format}"))) {
                std::fs::write(&name, &input).expect("save");
                println!(
                    "data_file: MEMORY ({}): a peak of {} MiB, saved as {}",
                    hotzone_fuzz::DATA_FORMATS[format],
                    kb / 1024,
                    name.display()
                );
            }
        }
        execs += 1;
        per_format[format] += 1;
        let outcome = match &result {
            Ok(Ok(())) => format!("{format} ok"),
            Ok(Err(m)) => {
                diffs += 1;
                let sig = signature(m.split(':').next().unwrap_or(m));
                let name = dir.join(format!("diff-{execs}.bin"));
                if found.insert(sig) {
                    std::fs::write(&name, &input).expect("save");
                    println!(
                        "data_file: DIFF ({}): {m}, saved as {}",
                        hotzone_fuzz::DATA_FORMATS[format],
                        name.display()
                    );
                }
                format!("{format} diff {m}")
            }
            Err(_) => {
                panics += 1;
                let msg = last_panic.lock().unwrap().clone();
                let sig = signature(&msg);
                let name = dir.join(format!("panic-{execs}.bin"));
                if found.insert(sig) {
                    std::fs::write(&name, &input).expect("save");
                    println!(
                        "data_file: PANIC ({}): {msg}, saved as {}",
                        hotzone_fuzz::DATA_FORMATS[format],
                        name.display()
                    );
                }
                format!("{format} panic {msg}")
            }
        };
        // Keep a mutant whose outcome (Ok, or the first error of the scan) is new.
        let sig = signature(&format!("{outcome} {}", first_error(&input)));
        if seen.insert(sig) {
            if pool.len() < 4000 {
                pool.push((format, body));
            } else {
                let i = seeds.len() + rng.below(pool.len() - seeds.len());
                pool[i] = (format, body);
            }
        } else if body.len() < 1 << 20 && rng.next() % 64 == 0 && pool.len() < 4000 {
            // Now and then a mutant of a known outcome too: mutations stack up.
            pool.push((format, body));
        }
    }
    let elapsed = secs.max(1);
    println!(
        "data_file: {execs} executions in {secs} s ({} exec/s), seed {seed}, per format {per_format:?}, pool {} ({} seeds), {} distinct outcomes, {panics} panics, {diffs} differential mismatches",
        execs / elapsed,
        pool.len(),
        seeds.len(),
        seen.len()
    );
    if panics + diffs > 0 {
        std::process::exit(1);
    }
}

/// The error of a plain scan of the input's file (its message without the path), or "ok":
/// the outcome class that decides whether a mutant is kept.
fn first_error(_input: &[u8]) -> String {
    hotzone_fuzz::last_outcome()
}

/// The process's peak resident size since it was last reset (`VmHWM`, KiB; Linux only).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
