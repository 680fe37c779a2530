//! libFuzzer entry point of the `hotzone_list` target; the body is [`hotzone_fuzz::hotzone_list`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotzone_fuzz::hotzone_list(data));
