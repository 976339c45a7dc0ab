//! Where each reconcile reads the repo from: a git checkout (fetched on blocking threads) or
//! the local directory itself, named by a content hash.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::source::{GitSource, HistoryRewrite, SourceError};

/// The repo to reconcile this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Commit id (git) or `local-<hash>` (path mode).
    pub revision: String,
    /// Directory holding mlsync.yaml.
    pub root: PathBuf,
    /// Set when the followed ref was force-pushed to a commit that does not descend from the
    /// previous one (git only).
    pub rewrite: Option<HistoryRewrite>,
    /// Whether the commit's signature was verified (`--allowed-signers`).
    pub verified: bool,
}

/// A failed fetch, with the revision still applied (if any).
#[derive(Debug)]
pub struct FetchFailure {
    /// Why.
    pub error: String,
    /// The last complete revision.
    pub last_good: Option<String>,
    /// The commit and the reason, when its signature was refused (`--allowed-signers`).
    pub unverified: Option<(String, &'static str)>,
}

/// The daemon's source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A git repository followed by [`GitSource`].
    Git(Arc<Mutex<GitSource>>),
    /// A local directory read as it is.
    Path(PathBuf),
}

/// Result of [`Source::fetch`]: the snapshot, or the failure; plus the fetch duration and
/// outcome for the metrics when a git fetch ran.
pub type Fetched = (Result<Snapshot, FetchFailure>, Option<(Duration, bool)>);

impl Source {
    /// A short name for logs (URL with password redacted, or the directory).
    pub fn describe(&self) -> String {
        match self {
            Source::Git(g) => g
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remote()
                .to_string(),
            Source::Path(p) => p.display().to_string(),
        }
    }

    /// Fetches (git) or hashes (path) what to reconcile next.
    pub async fn fetch(&self) -> Fetched {
        match self {
            Source::Git(git) => {
                let git = Arc::clone(git);
                let started = Instant::now();
                let joined = tokio::task::spawn_blocking(move || {
                    let mut g = git.lock().unwrap_or_else(PoisonError::into_inner);
                    let result = g.sync();
                    let last_good = g.last_good().map(|r| r.commit.clone());
                    (result, last_good)
                })
                .await;
                match joined {
                    Ok((Ok(out), _)) => {
                        let snap = Snapshot {
                            revision: out.revision.commit,
                            root: out.revision.root,
                            rewrite: out.rewrite,
                            verified: out.verified.is_some(),
                        };
                        (Ok(snap), Some((out.fetch_duration, true)))
                    }
                    Ok((Err(e), last_good)) => {
                        let failure = FetchFailure {
                            error: e.to_string(),
                            last_good,
                            unverified: e.unverified().map(|(c, r)| (c.to_owned(), r)),
                        };
                        (Err(failure), Some((started.elapsed(), false)))
                    }
                    Err(e) => {
                        let failure = FetchFailure {
                            error: format!("failed to fetch: the git task ended: {e}"),
                            last_good: None,
                            unverified: None,
                        };
                        (Err(failure), Some((started.elapsed(), false)))
                    }
                }
            }
            Source::Path(dir) => {
                let dir = dir.clone();
                let hashed = tokio::task::spawn_blocking(move || {
                    content_hash(&dir).map(|h| (h, dir.clone())).map_err(|e| {
                        format!("failed to read config directory {}: {e}", dir.display())
                    })
                })
                .await;
                let result = match hashed {
                    Ok(Ok((hash, root))) => Ok(Snapshot {
                        revision: format!("local-{hash}"),
                        root,
                        rewrite: None,
                        verified: false,
                    }),
                    Ok(Err(error)) => Err(FetchFailure {
                        error,
                        last_good: None,
                        unverified: None,
                    }),
                    Err(e) => Err(FetchFailure {
                        error: format!("failed to read config directory: {e}"),
                        last_good: None,
                        unverified: None,
                    }),
                };
                (result, None)
            }
        }
    }
}

/// A [`Source`] shared by the targets of a daemon: one fetch serves every target that asks
/// while it runs, so that a webhook for a push costs one fetch, not one per target.
#[derive(Debug)]
pub struct SharedSource {
    source: Source,
    /// When the last successful fetch started, and what it found.
    last: tokio::sync::Mutex<Option<(Instant, Snapshot)>>,
}

impl SharedSource {
    /// Shares `source`.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What to reconcile for a target that took its trigger at `asked`: the snapshot of a fetch
    /// that started at or after `asked` (so it saw every push the trigger could be about), else
    /// a new fetch. Fetches run one at a time.
    pub async fn fetch(&self, asked: Instant) -> Fetched {
        let mut last = self.last.lock().await;
        if let Some((started, snap)) = last.as_ref()
            && *started >= asked
        {
            return (Ok(snap.clone()), None);
        }
        let started = Instant::now();
        let fetched = self.source.fetch().await;
        if let Ok(snap) = &fetched.0 {
            *last = Some((started, snap.clone()));
        }
        fetched
    }
}

/// Creates the git source from the run arguments.
pub fn git(repo: &str, args: &crate::source::GitOptions) -> Result<Source, SourceError> {
    let source = GitSource::from_options(repo, args)?;
    Ok(Source::Git(Arc::new(Mutex::new(source))))
}

/// Records a commit verification (`--allowed-signers`) in the status and metrics: a verified
/// commit, or one refused (nothing of it applied). `ran`: the fetch ran for this target (it is
/// counted); else the snapshot is another target's, whose verification only clears the status.
pub fn record_verification(
    state: &crate::admin::AdminState,
    fetched: &Result<Snapshot, FetchFailure>,
    ran: bool,
) {
    use crate::admin::status::CommitVerification;
    match fetched {
        Ok(snap) if snap.verified && ran => {
            state.record_commit_verification(CommitVerification::Verified)
        }
        Ok(snap) if snap.verified => state.clear_unverified_commit(),
        Err(FetchFailure {
            error,
            unverified: Some((revision, reason)),
            ..
        }) => state.record_commit_verification(CommitVerification::Refused {
            revision,
            reason,
            error,
        }),
        _ => {}
    }
}

/// The first 12 hex digits of a SHA-256 over the relative paths and contents of every regular
/// file under `root`, in sorted order, skipping `.git`.
pub fn content_hash(root: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect(root, root, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        let bytes = std::fs::read(root.join(rel))?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            collect(root, &path, out)?;
        } else if ty.is_file()
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_follows_contents_and_ignores_git() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("services")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join("mlsync.yaml"), "a").unwrap();
        std::fs::write(d.join("services/x.yaml"), "b").unwrap();
        let first = content_hash(d).unwrap();
        assert_eq!(first.len(), 12);
        std::fs::write(d.join(".git/index"), "churn").unwrap();
        assert_eq!(content_hash(d).unwrap(), first);
        std::fs::write(d.join("services/x.yaml"), "c").unwrap();
        assert_ne!(content_hash(d).unwrap(), first);
        assert!(content_hash(&d.join("missing")).is_err());
    }
}
