//! The options of `mlsync run` and the source-mode rule (pure).

use std::path::Path;
use std::time::Duration;

use crate::admin::AdminOptions;
use crate::cluster::KubeOptions;
use crate::reconcile::ReconcileOptions;
use crate::secrets::keys::KeyOptions;
use crate::source::GitOptions;

/// Where the daemon reads the config repo from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Path mode when the repo is an existing directory that is not a bare git repository and
    /// no branch or ref is given; git otherwise.
    Auto,
    /// Clone/fetch the repo (URL or path of a git repository) and reconcile its commits.
    Git,
    /// Reconcile the directory as it is on disk (uncommitted edits included).
    Path,
}

/// Everything `mlsync run` was told, resolved into the options of each part.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The config repo: a git URL, a git repository path, or a local directory.
    pub repo: String,
    /// How to read `repo`.
    pub source: SourceKind,
    /// In path mode, watch the directory (else poll only).
    pub watch: bool,
    /// Time between polls, with ±10% jitter.
    pub interval: Duration,
    /// Quiet time after the last file change before a path-mode reconcile starts.
    pub debounce: Duration,
    /// Longest wait between retries after failed fetches or reconciles.
    pub backoff_max: Duration,
    /// Re-apply a service's last good revision when a rollout fails.
    pub rollback_on_failure: bool,
    /// Re-apply owned objects changed or deleted in the cluster, from a watch (else report).
    pub self_heal: bool,
    /// On SIGTERM/SIGINT, how long the reconcile in flight may still take.
    pub shutdown_timeout: Duration,
    /// Git source options (git mode only).
    pub git: GitOptions,
    /// Admin server options.
    pub admin: AdminOptions,
    /// Cluster connection.
    pub kube: KubeOptions,
    /// Where the age identities come from.
    pub keys: KeyOptions,
    /// `--source-id`: the ownership id, when given.
    pub source_id: Option<String>,
    /// `--env`: the environment whose overlays are merged over the base specs.
    pub env: Option<String>,
    /// `--config`: the daemon config (targets, notifications), when given.
    pub config: Option<super::config::DaemonConfig>,
    /// Prune, adopt, write and event settings of each reconcile.
    pub reconcile: ReconcileOptions,
    /// Leader election among replicas.
    pub leader: super::leader::LeaderOptions,
}

/// The source mode after resolving [`SourceKind::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Follow a git ref.
    Git,
    /// Read the directory as it is.
    Path,
}

impl RunOptions {
    /// Resolves [`RunOptions::source`] for this machine's file system.
    pub fn mode(&self) -> Mode {
        let pinned = self.git.branch.is_some() || self.git.git_ref.is_some();
        resolve_mode(self.source, Path::new(&self.repo), pinned)
    }

    /// Why these options cannot run in path mode, if they cannot: `--allowed-signers` verifies
    /// commits, and a directory read as it is on disk has none.
    pub fn path_mode_conflict(&self) -> Option<String> {
        self.git.allowed_signers.as_ref().map(|_| {
            format!(
                "--allowed-signers verifies the signatures of git commits, but {} is read as a \
                 local directory (path mode), which has no commits to verify; follow the \
                 repository's commits with --source git, or drop --allowed-signers",
                self.repo
            )
        })
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
