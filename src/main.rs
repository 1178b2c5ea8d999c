//! The `soporte` binary: parse the command line and hand over to `cli::run`.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    soporte::cli::run(soporte::config::Cli::parse())
}
