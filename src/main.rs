//! The `hotzone` binary: parse flags, run, map errors to an exit code. The library does the work.
//!
//! Exit status: 0 done; 2 done, but some input rows were rejected (see the summary);
//! 1 error, including a usage error (clap's own code 2 is remapped so 2 means one thing).

use clap::Parser;

fn main() {
    // A file reader's panic on damaged data is caught and reported as an error naming the
    // file (`ingest`): not printed as a crash as well.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !hotzone::ingest::in_reader() {
            default_hook(info);
        }
    }));
    let cli = match hotzone::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let args: Vec<String> = (std::env::args_os())
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            match hotzone::cli::usage_error_hiding_numbers(&e, &args) {
                Some(text) => eprint!("{text}"),
                None => {
                    let _ = e.print();
                }
            }
            std::process::exit(code);
        }
    };
    match hotzone::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
