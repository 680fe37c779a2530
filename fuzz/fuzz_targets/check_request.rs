//! libFuzzer entry point of the `check_request` target; the body is [`hotzone_fuzz::check_request`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hotzone_fuzz::check_request(data));
