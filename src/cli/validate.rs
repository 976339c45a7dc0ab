//! `mlsync validate`.

use super::{EXIT_CHANGES, EXIT_OK, RepoArgs};

/// Arguments of `mlsync validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    repo: RepoArgs,
}

/// Prints every diagnostic and a summary; exit 0 when valid, 1 when not.
pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let repo = crate::repo::load(&args.repo.repo)?;
    for d in &repo.diagnostics {
        println!("{d}");
    }
    let errors = repo.diagnostics.len();
    println!(
        "{} valid service(s), {} invalid, {} error(s)",
        repo.services.len(),
        repo.invalid.len(),
        errors
    );
    Ok(if repo.is_valid() {
        EXIT_OK
    } else {
        EXIT_CHANGES
    })
}
