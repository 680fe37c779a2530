//! libFuzzer entry point of the `data_file` target; the body is [`hotzone_fuzz::data_file`]
//! (a whole data file of the format the first byte picks, through the scan and the server's
//! loader). A differential mismatch (a cut reading that differs from the whole one) is a crash.
//!
//! A panic inside a dependency's file reader (arrow's, parquet's: code from the crate
//! registry) that the library catches and reports as the file's error is not a crash:
//! libfuzzer-sys's hook aborts on every panic, so the first campaign stopped at the first such
//! one (the CLI's own hook keeps quiet about them too, `hotzone::ingest::in_reader`). Every
//! other panic still is: hotzone's own reading code (the CSV reader, plain and delta pages,
//! the row rules) and the mismatch's.
//! `HOTZONE_FUZZ_FORMATS` (first-byte selectors, `3,4,5,7`) keeps a campaign on those formats;
//! other inputs do nothing, so a saved input replays as it ran.
#![no_main]

fn quiet_about_caught_reader_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let crash = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A crate from the registry: `.../registry/src/<index>/parquet-60.1.0/src/...`.
            let dependency = info
                .location()
                .is_some_and(|l| l.file().contains("/registry/src/"));
            if !(dependency && hotzone::ingest::in_reader()) {
                crash(info);
            }
        }));
    });
}

fn format_wanted(selector: u8) -> bool {
    static ONLY: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    let only = ONLY.get_or_init(|| {
        let list = std::env::var("HOTZONE_FUZZ_FORMATS").ok()?;
        Some(
            list.split(',')
                .filter_map(|f| f.trim().parse().ok())
                .collect(),
        )
    });
    only.as_ref().is_none_or(|o| o.contains(&(selector & 7)))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    quiet_about_caught_reader_panics();
    if data.first().is_some_and(|&s| !format_wanted(s)) {
        return;
    }
    if let Err(m) = hotzone_fuzz::data_file(data) {
        panic!("{m}");
    }
});
