//! Command-line flags of `mlsync run` and the source-mode rule (pure).

use std::path::Path;
use std::time::Duration;

use crate::admin::AdminArgs;
use crate::cli::ReconcileArgs;
use crate::source::GitArgs;

/// Where the daemon reads the config repo from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// `path` when `--repo` is an existing directory that is not a bare git repository and
    /// neither `--branch` nor `--ref` is given; `git` otherwise.
    Auto,
    /// Clone/fetch `--repo` (URL or path of a git repository) and reconcile its commits.
    Git,
    /// Reconcile the directory `--repo` as it is on disk (uncommitted edits included).
    Path,
}

/// Arguments of `mlsync run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The config repo: a git URL (git://, https://, ssh://, file://), a git repository path,
    /// or a local directory (see --source).
    #[arg(long, env = "MLSYNC_REPO", value_name = "URL|PATH")]
    pub repo: String,
    /// How to read --repo: auto (a plain directory is watched as it is on disk; URLs, bare
    /// repositories and --branch/--ref mean git), git, or path.
    #[arg(long, env = "MLSYNC_SOURCE", value_enum, default_value = "auto")]
    pub source: SourceKind,
    /// In path mode, watch the directory and reconcile within a second of a change
    /// (`--watch=false`: poll only).
    #[arg(long, env = "MLSYNC_WATCH", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch: bool,
    /// Time between polls (git fetch or directory re-read), with ±10% jitter.
    #[arg(long, env = "MLSYNC_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Quiet time after the last file change before a path-mode reconcile starts.
    #[arg(long, env = "MLSYNC_DEBOUNCE", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    /// Longest wait between retries after failed fetches or reconciles (exponential from 1s).
    #[arg(long, env = "MLSYNC_BACKOFF_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,
    /// When a revision's rollout of a service fails (ProgressDeadlineExceeded), re-apply that
    /// service's objects from its last good revision, until git moves to another revision.
    #[arg(long, env = "MLSYNC_ROLLBACK_ON_FAILURE")]
    pub rollback_on_failure: bool,
    /// On SIGTERM/SIGINT, how long the reconcile in flight may still take before exiting.
    #[arg(long, env = "MLSYNC_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Git source flags (git mode only).
    #[command(flatten)]
    pub git: GitArgs,
    /// Admin server flags.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Cluster, key, ownership and prune flags (as for `mlsync apply`).
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Leader election among replicas (docs/leader-election.md).
    #[command(flatten)]
    pub leader: super::leader::LeaderArgs,
}

/// The source mode after resolving [`SourceKind::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Follow a git ref.
    Git,
    /// Read the directory as it is.
    Path,
}

impl RunArgs {
    /// Resolves `--source` for this machine's file system.
    pub fn mode(&self) -> Mode {
        let pinned = self.git.branch.is_some() || self.git.git_ref.is_some();
        resolve_mode(self.source, Path::new(&self.repo), pinned)
    }
}

/// The source-mode rule: explicit kinds win; `auto` means path mode for an existing directory
/// that is not a bare git repository when no `--branch`/`--ref` was given, else git.
pub fn resolve_mode(kind: SourceKind, repo: &Path, ref_given: bool) -> Mode {
    match kind {
        SourceKind::Git => Mode::Git,
        SourceKind::Path => Mode::Path,
        SourceKind::Auto if !ref_given && repo.is_dir() && !is_bare_repo(repo) => Mode::Path,
        SourceKind::Auto => Mode::Git,
    }
}

/// A bare git repository has `HEAD`, `objects/` and `refs/` at its top.
fn is_bare_repo(dir: &Path) -> bool {
    dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn flags_parse_with_defaults() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["x", "--repo", "git://h/r.git", "--interval", "2s"]).unwrap();
        assert_eq!(cli.run.interval, Duration::from_secs(2));
        assert_eq!(cli.run.debounce, Duration::from_millis(200));
        assert_eq!(cli.run.backoff_max, Duration::from_secs(300));
        assert_eq!(cli.run.shutdown_timeout, Duration::from_secs(30));
        assert!(cli.run.watch);
        assert_eq!(cli.run.mode(), Mode::Git);
        assert!(Cli::try_parse_from(["x", "--repo", "r", "--interval", "soon"]).is_err());
    }

    #[test]
    fn auto_mode_rule() {
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(plain.join(".git")).unwrap();
        let bare = tmp.path().join("bare.git");
        std::fs::create_dir_all(bare.join("objects")).unwrap();
        std::fs::create_dir_all(bare.join("refs")).unwrap();
        std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let missing = tmp.path().join("missing");

        assert_eq!(resolve_mode(SourceKind::Auto, &plain, false), Mode::Path);
        assert_eq!(resolve_mode(SourceKind::Auto, &plain, true), Mode::Git);
        assert_eq!(resolve_mode(SourceKind::Auto, &bare, false), Mode::Git);
        assert_eq!(resolve_mode(SourceKind::Auto, &missing, false), Mode::Git);
        let url = Path::new("git://127.0.0.1/repo.git");
        assert_eq!(resolve_mode(SourceKind::Auto, url, false), Mode::Git);
        assert_eq!(resolve_mode(SourceKind::Path, &bare, false), Mode::Path);
        assert_eq!(resolve_mode(SourceKind::Git, &plain, false), Mode::Git);
    }
}
