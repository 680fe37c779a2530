//! libFuzzer entry point of the `data_file` target; the body is [`hotzone_fuzz::data_file`]
//! (a whole data file of the format the first byte picks, through the scan and the server's
//! loader). A differential mismatch (a cut reading that differs from the whole one) is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(m) = hotzone_fuzz::data_file(data) {
        panic!("{m}");
    }
});
