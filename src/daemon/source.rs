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
}

/// A failed fetch, with the revision still applied (if any).
#[derive(Debug)]
pub struct FetchFailure {
    /// Why.
    pub error: String,
    /// The last complete revision.
    pub last_good: Option<String>,
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
                        };
                        (Ok(snap), Some((out.fetch_duration, true)))
                    }
                    Ok((Err(e), last_good)) => {
                        let failure = FetchFailure {
                            error: e.to_string(),
                            last_good,
                        };
                        (Err(failure), Some((started.elapsed(), false)))
                    }
                    Err(e) => {
                        let failure = FetchFailure {
                            error: format!("failed to fetch: the git task ended: {e}"),
                            last_good: None,
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
                    }),
                    Ok(Err(error)) => Err(FetchFailure {
                        error,
                        last_good: None,
                    }),
                    Err(e) => Err(FetchFailure {
                        error: format!("failed to read config directory: {e}"),
                        last_good: None,
                    }),
                };
                (result, None)
            }
        }
    }
}

/// Creates the git source from the run arguments.
pub fn git(repo: &str, args: &crate::source::GitOptions) -> Result<Source, SourceError> {
    let config = crate::source::GitSourceConfig::from_options(repo, args)?;
    Ok(Source::Git(Arc::new(Mutex::new(GitSource::new(config)?))))
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
