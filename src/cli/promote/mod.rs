//! `mlsync promote`: promotion by commit. Rewrites the overlay of one service in the `--to`
//! environment so that it runs what `--from` runs ([`crate::repo::promote`] computes it),
//! checks the result by loading the repo again, prints the diff and, with `--commit`, commits
//! that one file. Nothing is applied to any cluster: the daemon following the branch does that.

mod commit;
mod output;
mod write;

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{EXIT_CHANGES, EXIT_OK};
use crate::repo::promote::{self, Field};
use crate::repo::{self, ConfineError, LoadedService, Repo};
use commit::GitTarget;
use output::{new_file_text, notes, print_diagnostics, print_diff, shown_where_written};
use write::{Problem, restore, verify, write};

/// Arguments of `mlsync promote`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
What is promoted: spec.model, spec.image and spec.config (config as a whole: keys the --to \
overlay set itself are replaced), and spec.secrets with --secrets (the path of the encrypted \
file only: the --to environment then reads the same file). Everything else (replicas, \
autoscaling, resources, namespace, …) stays per environment. To change what every environment \
runs, edit the base spec instead.

The overlay file is rewritten in mlsync's own YAML style: its comments are not kept (a note says \
so), except a `# yaml-language-server: $schema=…` line, which stays on top. An overlay left \
empty is deleted.

Exit codes: 0 nothing to promote, 1 promoted (file written, and committed with --commit), \
2 error (nothing is written; only when the commit itself fails is the written file left, and the \
error says so).

--commit commits only the overlay file to the current branch (other staged changes stay staged \
and out of the commit), as user.name/user.email of the git config, unsigned and without running \
hooks; it refuses when the overlay file, the --from overlay or the base spec has uncommitted \
changes. Not to be confused with `mlsync rollout promote`, which finishes a canary rollout in \
the cluster.")]
pub struct PromoteArgs {
    /// The service to promote (metadata.name of its base spec).
    service: String,
    /// The environment whose model, image and config are promoted.
    #[arg(long, value_name = "ENV")]
    from: String,
    /// The environment whose overlay is rewritten.
    #[arg(long, value_name = "ENV")]
    to: String,
    /// Config repo directory (a checkout holding mlsync.yaml and MLService specs).
    #[arg(long, env = "MLSYNC_REPO", default_value = ".")]
    repo: PathBuf,
    /// Promote spec.secrets too (the path of the encrypted file, never its content).
    #[arg(long)]
    secrets: bool,
    /// Commit the overlay file (alone) to the current branch.
    #[arg(long)]
    commit: bool,
    /// Commit message (default: `promote SERVICE from FROM to TO: model NAME VERSION, …`).
    #[arg(short = 'm', long = "message", value_name = "MSG", requires = "commit")]
    message: Option<String>,
}

/// Promotes; exit 0 when there is nothing to promote, 1 when the overlay was rewritten.
pub fn run(args: &PromoteArgs) -> anyhow::Result<u8> {
    let root = args.repo.as_path();
    let (service, from, to) = (args.service.as_str(), args.from.as_str(), args.to.as_str());
    let from_repo = repo::load_env(root, Some(from))?;
    let to_repo = repo::load_env(root, Some(to))?;
    let known = from_repo
        .services
        .iter()
        .map(|s| s.spec.metadata.name.as_str())
        .chain(from_repo.invalid.iter().map(|s| s.name.as_str()));
    promote::check_request(service, from, to, known)?;

    let svc = source_service(&from_repo, service)?;
    let base = base_document(root, svc)?;
    let from_spec = from_repo
        .overlays
        .apply(&base)
        .unwrap_or_else(|| base.clone());
    let (file, to_overlay) = target_overlay(&to_repo, service)?;
    let mut fields = Field::RUNS.to_vec();
    if args.secrets {
        fields.push(Field::Secrets);
    }
    let Some(promotion) = promote::promote(&base, &from_spec, &to_overlay, &fields, &file)? else {
        println!("nothing to promote: {to} already runs what {from} runs");
        return Ok(EXIT_OK);
    };
    let message = args
        .message
        .clone()
        .unwrap_or_else(|| promote::summary(service, from, to, &promotion.changes));
    let git = if args.commit {
        let mut clean = vec![file.clone(), svc.file.clone()];
        clean.extend(
            from_repo
                .overlays
                .by_service
                .get(service)
                .map(|o| o.file.clone()),
        );
        Some(GitTarget::open(root, &file, &clean)?)
    } else {
        None
    };

    let path = root.join(&file);
    // A repo is untrusted: an overlay path that is a link (into the repo or out of it) is
    // neither read (its target's content would be printed in the diff) nor written through.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.file_type().is_file() => bail!(
            "failed to promote {service}: {} is not a regular file (a symbolic link?); an overlay must be a plain file in the repo",
            file.display()
        ),
        _ => {}
    }
    let old = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => bail!("failed to read {}: {e}", path.display()),
    };
    let old_text = old
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let new_text = new_file_text(&old_text, &promotion);
    let created_dir = write(&path, new_text.as_deref(), old.is_some())?;
    if let Err(problem) = verify(root, service, to, &file, svc, &fields) {
        restore(&path, old.as_deref(), created_dir)?;
        if let Problem::Invalid(diagnostics) = &problem {
            let was = to_repo.overlays.by_service.get(service).map(|o| &o.doc);
            let written = new_text.as_deref().unwrap_or_default();
            for line in shown_where_written(diagnostics, &file, was, written) {
                eprintln!("{line}");
            }
        }
        return Err(problem.into_error(service, to, &file));
    }

    print_diff(&file, old.is_some(), &old_text, new_text.as_deref())?;
    notes(&file, from, to, &old_text, &promotion);
    match git {
        Some(git) => {
            let commit = git
                .commit(new_text.as_deref().map(str::as_bytes), &message)
                .with_context(|| format!("{} was written but not committed", file.display()))?;
            eprintln!("committed {commit}: {message}");
        }
        None => match &new_text {
            Some(_) => eprintln!("wrote {}: {message}", file.display()),
            None => eprintln!("deleted {}: {message}", file.display()),
        },
    }
    Ok(EXIT_CHANGES)
}

/// The service in the `--from` environment: it must be valid there, and defined once.
fn source_service<'a>(repo: &'a Repo, name: &str) -> anyhow::Result<&'a LoadedService> {
    let env = repo.overlays.env.as_str();
    let found: Vec<&LoadedService> = repo
        .services
        .iter()
        .filter(|s| s.spec.metadata.name == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => {
            print_diagnostics(&repo.diagnostics);
            bail!(
                "failed to promote {name}: it is invalid in environment {env} (see the problems above, or run mlsync validate --env {env})"
            )
        }
        many => {
            let at: Vec<String> = many
                .iter()
                .map(|s| format!("{}/{name} in {}", s.namespace, s.file.display()))
                .collect();
            bail!(
                "failed to promote {name}: it is defined more than once ({}); promote works on a service defined once",
                at.join(", ")
            )
        }
    }
}

/// The base spec of `svc` as written (before any overlay), read again from its file.
fn base_document(root: &Path, svc: &LoadedService) -> anyhow::Result<Value> {
    let path = root.join(&svc.file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let docs = repo::yaml::parse_values(&text)
        .map_err(|e| anyhow::anyhow!("failed to read {}: {e}", svc.file.display()))?;
    let name = svc.spec.metadata.name.as_str();
    docs.into_iter()
        .find(|d| d.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        .with_context(|| format!("failed to find service {name} in {}", svc.file.display()))
}

/// The `--to` overlay of `service` (file relative to the root, and its document; `{}` and the
/// path it will have when there is none yet).
fn target_overlay(repo: &Repo, service: &str) -> anyhow::Result<(PathBuf, Value)> {
    let env = repo.overlays.env.as_str();
    if repo.overlays.broken.contains(service) {
        print_diagnostics(&repo.diagnostics);
        bail!(
            "failed to promote {service}: its overlay in environment {env} cannot be read (see the problems above); fix it first"
        );
    }
    if let Some(o) = repo.overlays.by_service.get(service) {
        return Ok((o.file.clone(), o.doc.value.clone()));
    }
    let Some(e) = &repo.environment else {
        print_diagnostics(&repo.diagnostics);
        bail!(
            "failed to promote {service}: the overlay directory of environment {env} cannot be used (see the problems above)"
        );
    };
    let written = e.config.overlay_dir(&e.name);
    let dir = match repo::confine(&repo.root, &written) {
        Ok(rel) => rel,
        Err(ConfineError::NotFound)
            if Path::new(&written)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) =>
        {
            PathBuf::from(&written)
        }
        Err(e) => bail!("failed to use the overlay directory {written} of environment {env}: {e}"),
    };
    Ok((
        dir.join(format!("{service}.yaml")),
        Value::Object(Default::default()),
    ))
}
