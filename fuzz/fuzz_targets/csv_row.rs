//! libFuzzer entry point of the `csv_row` target; the body is [`hotzone_fuzz::csv_row`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotzone_fuzz::csv_row(data));
