//! The git side of `mlsync promote --commit`: the work-tree checks made before anything is
//! written, and the commit of the one overlay file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The git side of `--commit`, checked before anything is written.
pub(super) struct GitTarget {
    repo: git2::Repository,
    /// The overlay file, relative to the work tree's root.
    path: PathBuf,
    signature: git2::Signature<'static>,
    parent: git2::Oid,
}

impl GitTarget {
    /// Opens the work tree holding `root`; refuses when any of `clean` (relative to `root`)
    /// has uncommitted changes, when there is no commit yet, or no identity to commit as.
    pub(super) fn open(root: &Path, file: &Path, clean: &[PathBuf]) -> anyhow::Result<Self> {
        let fail = |e: git2::Error| anyhow::anyhow!("failed to commit: {}", e.message());
        let repo = git2::Repository::discover(root).map_err(|_| {
            anyhow::anyhow!(
                "failed to commit: {} is not inside a git work tree",
                root.display()
            )
        })?;
        let Some(work) = repo.workdir() else {
            bail!(
                "failed to commit: {} is a bare git repository",
                root.display()
            );
        };
        let work = std::fs::canonicalize(work)
            .with_context(|| format!("failed to read {}", work.display()))?;
        let top = std::fs::canonicalize(root)
            .with_context(|| format!("failed to read {}", root.display()))?;
        let in_git = |rel: &Path| -> anyhow::Result<PathBuf> {
            Ok(top
                .join(rel)
                .strip_prefix(&work)
                .with_context(|| {
                    format!(
                        "failed to commit: {} is outside the git work tree",
                        rel.display()
                    )
                })?
                .to_owned())
        };
        for rel in clean {
            let status = match repo.status_file(&in_git(rel)?) {
                Ok(s) => s,
                Err(e) if e.code() == git2::ErrorCode::NotFound => git2::Status::CURRENT,
                Err(e) => return Err(fail(e)),
            };
            if !status.is_empty() {
                bail!(
                    "failed to commit: {} has uncommitted changes; commit or stash them first, or promote without --commit",
                    rel.display()
                );
            }
        }
        let signature = repo.signature().map_err(|_| {
            anyhow::anyhow!(
                "failed to commit: no git identity; set one with git config user.name \"Your Name\" and git config user.email you@example.com"
            )
        })?;
        let parent = repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(|_| anyhow::anyhow!("failed to commit: the git repository has no commit yet"))?
            .id();
        let path = in_git(file)?;
        Ok(Self {
            repo,
            path,
            signature: signature.to_owned(),
            parent,
        })
    }

    /// Commits HEAD's tree with the overlay file set to `content` (deleted when `None`) on the
    /// current branch, and stages the same in the index (nothing else in it changes).
    pub(super) fn commit(&self, content: Option<&[u8]>, message: &str) -> anyhow::Result<String> {
        let fail = |e: git2::Error| anyhow::anyhow!("failed to commit: {}", e.message());
        let repo = &self.repo;
        let parent = repo.find_commit(self.parent).map_err(fail)?;
        let tree = parent.tree().map_err(fail)?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        match content {
            Some(bytes) => {
                let blob = repo.blob(bytes).map_err(fail)?;
                let executable = tree
                    .get_path(&self.path)
                    .is_ok_and(|e| e.filemode() == i32::from(git2::FileMode::BlobExecutable));
                let mode = if executable {
                    git2::FileMode::BlobExecutable
                } else {
                    git2::FileMode::Blob
                };
                update.upsert(&self.path, blob, mode);
            }
            None => {
                update.remove(&self.path);
            }
        }
        let tree = update
            .create_updated(repo, &tree)
            .and_then(|id| repo.find_tree(id))
            .map_err(fail)?;
        let sig = &self.signature;
        let message = git2::message_prettify(message, None).map_err(fail)?;
        let id = repo
            .commit(Some("HEAD"), sig, sig, &message, &tree, &[&parent])
            .map_err(fail)?;
        let mut index = repo.index().map_err(fail)?;
        match content {
            Some(_) => index.add_path(&self.path),
            None => index.remove_path(&self.path),
        }
        .and_then(|()| index.write())
        .map_err(|e| {
            anyhow::anyhow!(
                "committed {id}, but failed to update the git index: {}",
                e.message()
            )
        })?;
        let mut short = id.to_string();
        short.truncate(7);
        Ok(short)
    }
}
