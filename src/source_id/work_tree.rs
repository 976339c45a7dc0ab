//! Which git remote identifies a directory: the remote of the work tree holding it (libgit2,
//! reads `.git/config` and `HEAD` only; no network).

use std::path::{Path, PathBuf};

use super::derive::{self, RemoteError, RemoteIdentity};

/// The remote that identifies a directory, and the directory's place in the work tree.
#[derive(Debug)]
pub(super) struct Found {
    /// The remote, normalized.
    pub identity: RemoteIdentity,
    /// The directory relative to the work tree's root (empty at the root).
    pub subdir: PathBuf,
}

/// Why no remote identifies a directory.
#[derive(Debug, thiserror::Error)]
pub(super) enum NoRemote {
    /// Not inside a git work tree.
    #[error("{0} is not inside a git work tree")]
    NotWorkTree(PathBuf),
    /// libgit2 could not read the repository.
    #[error("failed to read the git repository holding {path}: {message}")]
    Git {
        /// The directory.
        path: PathBuf,
        /// libgit2's message.
        message: String,
    },
    /// The work tree has no remote.
    #[error("the git work tree {0} has no remote")]
    NoRemotes(PathBuf),
    /// Several remotes, none of them `origin` or the branch's upstream.
    #[error(
        "the git work tree {root} has several remotes and none is origin or the current branch's upstream: {names}"
    )]
    Ambiguous {
        /// The work tree.
        root: PathBuf,
        /// The remotes' names.
        names: String,
    },
    /// The chosen remote's URL has no identity.
    #[error("the URL of git remote {name} cannot be used: {reason}")]
    BadUrl {
        /// The remote's name.
        name: String,
        /// Why.
        reason: RemoteError,
    },
}

/// Whether `path` is the top of a git repository with a work tree (not a bare repository).
pub(super) fn is_work_tree(path: &Path) -> bool {
    git2::Repository::open(path).is_ok_and(|r| !r.is_bare())
}

/// The remote of the work tree holding `dir` (canonical): the current branch's upstream
/// remote, else `origin`, else the only remote.
pub(super) fn remote_of(dir: &Path) -> Result<Found, NoRemote> {
    let git_error = |e: git2::Error| NoRemote::Git {
        path: dir.to_owned(),
        message: e.message().to_owned(),
    };
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(NoRemote::NotWorkTree(dir.to_owned()));
        }
        Err(e) => return Err(git_error(e)),
    };
    let root = repo
        .workdir()
        .map(|w| std::fs::canonicalize(w).unwrap_or_else(|_| w.to_owned()))
        .ok_or_else(|| NoRemote::NotWorkTree(dir.to_owned()))?;
    let subdir = dir
        .strip_prefix(&root)
        .map_err(|_| NoRemote::NotWorkTree(dir.to_owned()))?
        .to_owned();
    let name = pick_remote(&repo, &root).map_err(|e| e.unwrap_or_else(git_error))?;
    let remote = repo.find_remote(&name).map_err(git_error)?;
    let url = remote.url().map_err(|_| NoRemote::BadUrl {
        name: name.clone(),
        reason: RemoteError::Url,
    })?;
    // Relative local remotes are relative to the work tree, as for `git fetch` run there.
    let identity =
        derive::parse_remote(url, &root).map_err(|reason| NoRemote::BadUrl { name, reason })?;
    Ok(Found { identity, subdir })
}

/// Why [`pick_remote`] found none: no usable remote, or libgit2 failed.
type PickError = Result<NoRemote, git2::Error>;

/// The name of the remote to use.
fn pick_remote(repo: &git2::Repository, root: &Path) -> Result<String, PickError> {
    let head = repo
        .find_reference("HEAD")
        .ok()
        .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_owned));
    if let Some(branch) = head
        && let Ok(buf) = repo.branch_upstream_remote(&branch)
        && let Ok(name) = buf.as_str()
        && name != "."
        && repo.find_remote(name).is_ok()
    {
        return Ok(name.to_owned());
    }
    let names = repo.remotes().map_err(Err)?;
    let names: Vec<&str> = names.iter().filter_map(|n| n.ok().flatten()).collect();
    if names.contains(&"origin") {
        return Ok("origin".to_owned());
    }
    match names.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(Ok(NoRemote::NoRemotes(root.to_owned()))),
        _ => Err(Ok(NoRemote::Ambiguous {
            root: root.to_owned(),
            names: names.join(", "),
        })),
    }
}
