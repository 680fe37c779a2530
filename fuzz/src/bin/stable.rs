//! Stable-Rust random driver for the fuzz targets (no libFuzzer, no coverage feedback):
//! `stable TARGET SECONDS [SEED]` feeds seeded random inputs (random bytes, plus structured
//! near-valid inputs for `check_request`) until the time is up, then prints the executions.
//! A panic aborts the run with the input printed in hex, so it can be replayed.

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
                other => panic!("unknown target {other} (csv_row, hotzone_list, check_request)"),
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
