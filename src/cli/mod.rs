//! Command-line interface.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mlsync: a git repository as the single source of truth for ML model services.
#[derive(Debug, Parser)]
#[command(name = "mlsync", version, about)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate every spec in a config repo.
    Validate,
}

impl Args {
    /// Parses the process arguments, runs the command and maps the outcome to an exit code.
    pub fn parse_and_run() -> ExitCode {
        let _args = Args::parse();
        ExitCode::SUCCESS
    }
}
