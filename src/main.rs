//! The `hotzone` binary: parse flags, run, map errors to an exit code. The library does the work.

use clap::Parser;

fn main() {
    let cli = hotzone::cli::Cli::parse();
    match hotzone::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
