//! The git source: keeps a trustworthy checkout of one branch, tag or commit of a repository.
//!
//! Blocking code (libgit2); the daemon calls [`GitSource::sync`] through
//! `tokio::task::spawn_blocking`. Layout under the state directory:
//!
//! ```text
//! <state-dir>/source/repo.git           bare clone; only the tracked ref is fetched
//! <state-dir>/source/checkouts/<sha>/   complete checkouts (current + previous)
//! <state-dir>/source/checkouts/.tmp-*   checkout being written (renamed when complete)
//! ```
//!
//! A damaged bare clone is wiped and cloned again; an unreachable remote is an error, and
//! [`GitSource::last_good`] keeps the last complete revision for the caller to fall back on.

mod allowed_signers;
mod auth;
mod checkout;
mod error;
mod git;
mod known_hosts;
mod options;
mod remote;
mod state_dir;
mod verify;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use git2::Oid;
use tracing::instrument;

pub use allowed_signers::{AllowedSigners, AllowedSignersError};
pub use auth::{GitAuth, TokenSource};
pub use error::SourceError;
pub use git::{GitRef, HistoryRewrite};
pub use known_hosts::{KnownHosts, Verdict};
pub use options::GitOptions;
pub use remote::{Remote, Transport};
pub use state_dir::default_state_dir;
pub use verify::{Verified, VerifyError, verify_signature};

/// Everything needed to follow a repository. `Debug` hides URL passwords and tokens.
#[derive(Clone)]
pub struct GitSourceConfig {
    /// URL or local path of the repository (`--repo`).
    pub repo: String,
    /// The branch, tag or commit to follow.
    pub target: GitRef,
    /// Subdirectory of the repository holding the config (`--path`).
    pub subdir: Option<PathBuf>,
    /// State directory (`--state-dir`); the source uses `<state_dir>/source`.
    pub state_dir: PathBuf,
    /// Credentials.
    pub auth: GitAuth,
}

impl std::fmt::Debug for GitSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSourceConfig")
            .field("repo", &redact_userinfo(&self.repo))
            .field("target", &self.target)
            .field("subdir", &self.subdir)
            .field("state_dir", &self.state_dir)
            .field("auth", &self.auth)
            .finish()
    }
}

/// A complete checkout of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Full commit id.
    pub commit: String,
    /// Checkout directory joined with `--path`: where the config lives.
    pub root: PathBuf,
    /// First line of the commit message.
    pub summary: String,
}

/// The result of one successful [`GitSource::sync`].
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The checkout now current.
    pub revision: Revision,
    /// Time spent fetching (for `mlsync_git_fetch_duration_seconds`); zero when nothing had
    /// to be fetched (a pinned commit already present).
    pub fetch_duration: Duration,
    /// Whether the commit differs from the previous successful sync.
    pub changed: bool,
    /// Set when a followed branch or tag now points at a commit that does not descend from the
    /// one fetched before (a force-push); pinned commits never report one.
    pub rewrite: Option<HistoryRewrite>,
    /// The commit's signer, when commits are verified ([`GitSource::verify_commits`]).
    pub verified: Option<Verified>,
}

/// Follows one repository ref into checkouts under the state directory.
#[derive(Debug)]
pub struct GitSource {
    config: GitSourceConfig,
    remote: Remote,
    last_good: Option<Revision>,
    /// Commits of the most recent checkouts, oldest first: these are kept on disk.
    recent: std::collections::VecDeque<String>,
    /// How many checkouts to keep (see [`GitSource::retain`]).
    retain: usize,
    /// `--allowed-signers` (see [`GitSource::verify_commits`]).
    allowed_signers: Option<PathBuf>,
}

impl GitSource {
    /// Validates the configuration (URL scheme, `--path`); does no I/O.
    pub fn new(config: GitSourceConfig) -> Result<Self, SourceError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let remote =
            Remote::parse(&config.repo, &cwd).ok_or_else(|| SourceError::UnsupportedUrl {
                repo: redact_userinfo(&config.repo),
            })?;
        if let Some(subdir) = &config.subdir
            && !subdir
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(SourceError::InvalidSubdir {
                path: subdir.clone(),
            });
        }
        Ok(Self {
            config,
            remote,
            last_good: None,
            recent: std::collections::VecDeque::new(),
            retain: 2,
            allowed_signers: None,
        })
    }

    /// Applies only commits with a good SSH signature by a key in the allowed-signers file
    /// `file` (see [`verify`]): a refused commit makes [`GitSource::sync`] fail with
    /// [`SourceError::Unverified`] before anything of it is checked out. The file is read here,
    /// so a bad one stops the start, and again at every sync, so a rotated file counts from the
    /// next fetch on.
    pub fn verify_commits(&mut self, file: &Path) -> Result<(), SourceError> {
        let signers =
            AllowedSigners::load(file).map_err(|error| SourceError::AllowedSigners { error })?;
        if signers.entries().is_empty() {
            tracing::warn!(file = %file.display(), "allowed-signers file lists no keys: no commit will be applied until it does");
        }
        self.allowed_signers = Some(file.to_path_buf());
        Ok(())
    }

    /// Keeps the checkouts of the `n` most recent revisions (at least 2: the current one and
    /// the one before, which a reconcile may still be reading). A daemon with several targets
    /// keeps one per target more, since each target may still read the revision it started on.
    pub fn retain(&mut self, n: usize) {
        self.retain = n.max(2);
    }

    /// The last revision [`GitSource::sync`] returned, if any: keep reconciling it while the
    /// remote is unreachable.
    pub fn last_good(&self) -> Option<&Revision> {
        self.last_good.as_ref()
    }

    /// The remote, for display (password redacted).
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Fetches the tracked ref and returns a complete checkout of it. A damaged local clone
    /// is wiped and cloned again once; other errors leave [`GitSource::last_good`] unchanged.
    #[instrument(skip(self), fields(remote = %self.remote, target = %self.config.target.describe()))]
    pub fn sync(&mut self) -> Result<SyncOutcome, SourceError> {
        let outcome = match self.try_sync() {
            Err(e) if e.is_local_corruption() => {
                tracing::warn!(error = %e, "local clone is damaged; wiping it and cloning again");
                self.wipe_clone()?;
                self.try_sync()
            }
            other => other,
        }?;
        let previous = self.last_good.replace(outcome.revision.clone());
        let commit = &outcome.revision.commit;
        self.recent.retain(|c| c != commit);
        self.recent.push_back(commit.clone());
        while self.recent.len() > self.retain {
            self.recent.pop_front();
        }
        let keep: Vec<&str> = self.recent.iter().map(String::as_str).collect();
        if let Err(e) = checkout::prune(&self.checkouts_dir(), &keep) {
            tracing::warn!(error = %e, "failed to remove old checkouts");
        }
        Ok(SyncOutcome {
            changed: previous.is_none_or(|p| p.commit != outcome.revision.commit),
            ..outcome
        })
    }

    fn try_sync(&self) -> Result<SyncOutcome, SourceError> {
        let base = self.base_dir();
        create_private_dir(&base)?;
        let checkouts = self.checkouts_dir();
        std::fs::create_dir_all(&checkouts).map_err(|cause| SourceError::Io {
            action: "create checkouts directory",
            path: checkouts.clone(),
            cause,
        })?;
        let repo = git::open_or_init(&self.repo_dir())?;
        let previous = git::tracked(&repo);
        let (oid, fetch_duration) =
            git::fetch(&repo, &self.remote, &self.config.target, &self.config.auth)?;
        let verified = match &self.allowed_signers {
            Some(file) => Some(verify::gate(&repo, oid, previous, file)?),
            None => None,
        };
        let rewrite = match (&self.config.target, previous) {
            (GitRef::Commit(_), _) | (_, None) => None,
            (_, Some(previous)) => git::rewrite(&repo, previous, oid),
        };
        if let Some(r) = &rewrite {
            let what = if r.went_back {
                "went back to an older commit"
            } else {
                "was rewritten: its new commit does not descend from the previous one"
            };
            tracing::warn!(
                previous = %r.previous,
                commit = %r.current,
                went_back = r.went_back,
                "{} {what} (force-push); following it",
                self.config.target.describe()
            );
        }
        let commit = find_commit(&repo, oid)?;
        let subdir = self.config.subdir.as_deref();
        let dir = checkout::materialise(&repo, &commit, &checkouts, subdir)?;
        let root = match subdir {
            Some(s) => dir.join(s),
            None => dir,
        };
        let revision = Revision {
            commit: oid.to_string(),
            root,
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                .into_owned(),
        };
        tracing::info!(commit = %revision.commit, summary = %revision.summary, "synced");
        Ok(SyncOutcome {
            revision,
            fetch_duration,
            changed: true,
            rewrite,
            verified,
        })
    }

    fn wipe_clone(&self) -> Result<(), SourceError> {
        let path = self.repo_dir();
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SourceError::Io {
                action: "remove damaged local clone",
                path,
                cause: e,
            }),
            _ => Ok(()),
        }
    }

    fn base_dir(&self) -> PathBuf {
        self.config.state_dir.join("source")
    }

    fn repo_dir(&self) -> PathBuf {
        self.base_dir().join("repo.git")
    }

    fn checkouts_dir(&self) -> PathBuf {
        self.base_dir().join("checkouts")
    }
}

/// Sets libgit2's process-wide network timeouts, so a remote that accepts the connection and
/// then stalls makes [`GitSource::sync`] fail instead of blocking forever. Applies to
/// `git://` and `http(s)://`; SSH connects honour `connect`.
///
/// # Safety
/// Writes a libgit2 global without synchronisation: call it once at start-up, before any
/// other thread that may use libgit2 exists (e.g. in `main` before building the tokio runtime).
pub unsafe fn set_network_timeouts(connect: Duration, io: Duration) {
    let ms = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the caller guarantees no concurrent libgit2 use; the calls cannot fail.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms(connect));
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms(io));
    }
}

fn find_commit(repo: &git2::Repository, oid: Oid) -> Result<git2::Commit<'_>, SourceError> {
    repo.find_commit(oid)
        .map_err(|e| git::corrupt(repo, &format!("commit {oid}"), &e))
}

fn create_private_dir(path: &Path) -> Result<(), SourceError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|cause| SourceError::Io {
            action: "create state directory",
            path: path.to_path_buf(),
            cause,
        })
}

/// Replaces the user info (`user:password@`) of a URL-like string with `***@`.
pub(crate) fn redact_userinfo(repo: &str) -> String {
    let Some(scheme_end) = repo.find("://").map(|i| i + 3) else {
        return repo.to_string();
    };
    let authority_end = repo[scheme_end..]
        .find('/')
        .map_or(repo.len(), |i| scheme_end + i);
    match repo[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &repo[..scheme_end], &repo[scheme_end + at..]),
        None => repo.to_string(),
    }
}
