//! `mlsync validate`.

use std::collections::BTreeSet;

use super::{EXIT_CHANGES, EXIT_OK, RepoArgs};
use crate::repo::{Diagnostic, Repo};

/// Arguments of `mlsync validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    repo: RepoArgs,
}

/// Prints every diagnostic and a summary; exit 0 when valid, 1 when not. Without `--env`, the
/// base specs and then every environment of `mlsync.yaml` are checked, each problem printed once.
pub fn run(args: &ValidateArgs) -> anyhow::Result<u8> {
    let base = args.repo.load()?;
    let mut loads = Vec::new();
    if args.repo.env.is_none() && base.config_valid {
        for name in base.config.environments.keys() {
            loads.push(crate::repo::load_env(&args.repo.repo, Some(name))?);
        }
    }
    let mut printed: BTreeSet<String> = BTreeSet::new();
    let mut valid = true;
    for repo in std::iter::once(&base).chain(&loads) {
        for d in &repo.diagnostics {
            let line = d.to_string();
            if printed.insert(line.clone()) {
                println!("{line}");
            }
        }
        valid &= repo.is_valid();
    }
    if let Some(env) = &base.environment {
        println!(
            "environment {}: {}",
            env.name,
            summary(&base, &base.diagnostics)
        );
    } else if loads.is_empty() {
        println!("{}", summary(&base, &base.diagnostics));
    } else {
        println!("base: {}", summary(&base, &base.diagnostics));
        for repo in &loads {
            let name = repo.environment.as_ref().map_or("?", |e| e.name.as_str());
            println!("environment {name}: {}", summary(repo, &repo.diagnostics));
        }
    }
    Ok(if valid { EXIT_OK } else { EXIT_CHANGES })
}

fn summary(repo: &Repo, diagnostics: &[Diagnostic]) -> String {
    format!(
        "{} valid service(s), {} invalid, {} error(s)",
        repo.services.len(),
        repo.invalid.len(),
        diagnostics.len()
    )
}
