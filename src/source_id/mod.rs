//! The ownership id (`mlsync.dev/source`): which objects in the cluster belong to this source.
//!
//! [`SourceIdPolicy::resolve`] picks, in order: `--source-id`/`MLSYNC_SOURCE_ID`, `sourceId` in
//! mlsync.yaml, else a [`DefaultId`] computed once per source from what identifies it (never
//! from a checkout directory, whose name is a commit id in git mode):
//!
//! - git mode ([`DefaultId::for_remote`]): the `--repo` URL, normalized ([`derive`]), plus
//!   `--path`;
//! - path mode ([`DefaultId::for_dir`]): the remote of the work tree holding the directory (the
//!   current branch's upstream remote, else `origin`, else the only remote) plus the
//!   directory's path inside the work tree; so two clones, and the daemon following the
//!   repo's URL, agree. Without a work tree or a remote: the directory's name, with a warning.
//!
//! Reading git configuration (libgit2) and canonicalizing paths is the only I/O here; the
//! normalization and hashing in [`derive`] are pure.

pub mod derive;
mod work_tree;

use std::fmt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use derive::{RemoteError, RemoteIdentity};

/// Where a source id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--source-id` or `MLSYNC_SOURCE_ID`.
    Flag,
    /// `sourceId` in mlsync.yaml.
    RepoConfig,
    /// `sourceId` of the environment (`--env`) in mlsync.yaml.
    Environment,
    /// Derived from the git remote URL (and subdirectory).
    RemoteUrl,
    /// The directory's name (no git remote identifies the source).
    DirectoryName,
}

impl Origin {
    /// A short name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Flag => "--source-id",
            Origin::RepoConfig => "mlsync.yaml",
            Origin::Environment => "mlsync.yaml environments",
            Origin::RemoteUrl => "remote URL",
            Origin::DirectoryName => "directory name",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors about the ownership source id.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceIdError {
    /// A configured id is not a label value.
    #[error(
        "failed to use source id {id:?} from {origin}: must be a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    )]
    Invalid {
        /// The id.
        id: String,
        /// Where it was set.
        origin: Origin,
    },
    /// The `--repo` URL cannot be reduced to an identity.
    #[error(
        "failed to derive a source id from the git remote {remote}: {reason}; set sourceId in mlsync.yaml or pass --source-id"
    )]
    Remote {
        /// The remote, user info redacted.
        remote: String,
        /// Why.
        reason: RemoteError,
    },
}

/// An ownership id and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceId {
    /// The `mlsync.dev/source` label value.
    pub id: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The id a source has when neither the flag nor mlsync.yaml sets one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultId {
    /// The label value.
    pub id: String,
    /// [`Origin::RemoteUrl`] or [`Origin::DirectoryName`].
    pub origin: Origin,
    /// What it was derived from: the source's identity (normalized remote and subdirectory,
    /// no credentials) or the directory.
    pub basis: String,
    /// Why no remote could be used (directory-name fallback only).
    pub fallback: Option<String>,
}

impl DefaultId {
    /// Git mode: the default id of `--repo` `repo` with config in `subdir` (`--path`).
    pub fn for_remote(repo: &str, subdir: Option<&Path>) -> Result<Self, SourceIdError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let parsed = derive::parse_remote(repo, &cwd).map_err(|reason| SourceIdError::Remote {
            remote: crate::source::redact_userinfo(repo),
            reason,
        })?;
        let remote = match parsed {
            RemoteIdentity::Network(s) => s,
            // A local work tree followed in git mode is the same source as that directory
            // read in path mode: both use its remote.
            RemoteIdentity::Local(p) if work_tree::is_work_tree(&p) => {
                let root = canonical(&p);
                return Ok(Self::for_dir(
                    &subdir.map_or_else(|| root.clone(), |s| root.join(s)),
                ));
            }
            RemoteIdentity::Local(p) => canonical(&p).to_string_lossy().into_owned(),
        };
        Ok(Self::from_identity(derive::identity(&remote, subdir)))
    }

    /// Path mode: the default id of the config directory `dir`.
    pub fn for_dir(dir: &Path) -> Self {
        let dir = canonical(dir);
        match work_tree::remote_of(&dir) {
            Ok(found) => {
                let remote = match found.identity {
                    RemoteIdentity::Network(s) => s,
                    RemoteIdentity::Local(p) => canonical(&p).to_string_lossy().into_owned(),
                };
                Self::from_identity(derive::identity(&remote, Some(&found.subdir)))
            }
            Err(why) => {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Self {
                    id: derive::dir_name_id(&name),
                    origin: Origin::DirectoryName,
                    basis: dir.display().to_string(),
                    fallback: Some(why.to_string()),
                }
            }
        }
    }

    fn from_identity(identity: String) -> Self {
        Self {
            id: derive::derive_id(&identity),
            origin: Origin::RemoteUrl,
            basis: identity,
            fallback: None,
        }
    }
}

/// How a source's ownership id is chosen: the flag, else mlsync.yaml, else the default.
#[derive(Debug, Clone)]
pub struct SourceIdPolicy {
    /// `--source-id` / `MLSYNC_SOURCE_ID`.
    pub flag: Option<String>,
    /// The id when neither sets one (an error only matters when it is needed).
    pub default: Result<DefaultId, SourceIdError>,
}

impl SourceIdPolicy {
    /// The policy of commands that read the directory `dir` (path mode).
    pub fn for_dir(flag: Option<String>, dir: &Path) -> Self {
        Self {
            flag,
            default: Ok(DefaultId::for_dir(dir)),
        }
    }

    /// The id for a repo whose mlsync.yaml sets `config` (its `sourceId`, if any).
    pub fn resolve(&self, config: Option<&str>) -> Result<SourceId, SourceIdError> {
        let (id, origin) = match (&self.flag, config) {
            (Some(id), _) => (id.as_str(), Origin::Flag),
            (None, Some(id)) => (id, Origin::RepoConfig),
            (None, None) => {
                let d = self.default.clone()?;
                return Ok(SourceId {
                    id: d.id,
                    origin: d.origin,
                });
            }
        };
        checked(id, origin)
    }

    /// The id for `repo`, loaded for its environment if it has one: the flag, else the
    /// environment's `sourceId`, else the repo's id (its `sourceId`, else the default) followed
    /// by `-<environment>`, so that two environments never own (and prune) each other's objects.
    pub fn resolve_for(&self, repo: &crate::repo::Repo) -> Result<SourceId, SourceIdError> {
        let Some(env) = &repo.environment else {
            return self.resolve(repo.config.source_id.as_deref());
        };
        if self.flag.is_none()
            && let Some(id) = &env.config.source_id
        {
            return checked(id, Origin::Environment);
        }
        let base = self.resolve(repo.config.source_id.as_deref())?;
        if base.origin == Origin::Flag {
            return Ok(base);
        }
        checked(&format!("{}-{}", base.id, env.name), base.origin)
    }

    /// Logs the id in use and where it came from; a warning with the fix when it is only the
    /// directory's name.
    pub fn log(&self, id: &SourceId) {
        let basis = self.default.as_ref().ok().map(|d| d.basis.as_str());
        match (id.origin, basis) {
            (Origin::RemoteUrl, Some(basis)) => {
                info!(source_id = %id.id, from = %id.origin, identity = %basis, "ownership source id");
            }
            (Origin::DirectoryName, _) => {
                let why = self
                    .default
                    .as_ref()
                    .ok()
                    .and_then(|d| d.fallback.as_deref());
                warn!(
                    source_id = %id.id,
                    from = %id.origin,
                    "ownership source id is only the directory name ({}): it changes when the repo is read from another directory, and objects applied under another id then show up as conflicts; keep it with `sourceId: {}` in mlsync.yaml (or --source-id / MLSYNC_SOURCE_ID)",
                    why.unwrap_or("no git remote"),
                    id.id
                );
            }
            _ => info!(source_id = %id.id, from = %id.origin, "ownership source id"),
        }
    }
}

/// `id` as a [`SourceId`] from `origin`, if it is a label value.
fn checked(id: &str, origin: Origin) -> Result<SourceId, SourceIdError> {
    if id.is_empty() || !derive::is_label_value(id) {
        return Err(SourceIdError::Invalid {
            id: id.to_owned(),
            origin,
        });
    }
    Ok(SourceId {
        id: id.to_owned(),
        origin,
    })
}

/// `path` with symlinks and `..` resolved, or as given when it cannot be resolved (missing).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests;
