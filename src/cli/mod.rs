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
    /// Make age identities; encrypt, decrypt and rotate SOPS secrets files.
    Secrets {
        /// What to do.
        #[command(subcommand)]
        cmd: crate::secrets::cli::SecretsCmd,
    },
}

impl Args {
    /// Parses the process arguments, runs the command and maps the outcome to an exit code.
    pub fn parse_and_run() -> ExitCode {
        let args = Args::parse();
        match args.command {
            Command::Validate => ExitCode::SUCCESS,
            Command::Secrets { cmd } => {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                    .with_writer(std::io::stderr)
                    .try_init();
                match crate::secrets::cli::run(cmd) {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::from(2)
                    }
                }
            }
        }
    }
}
