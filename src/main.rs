//! The `mlsync` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    mlsync::cli::Args::parse_and_run()
}
