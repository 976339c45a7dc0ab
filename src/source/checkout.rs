//! Materialise a commit into `checkouts/<sha>`: written to a temporary directory, synced, then
//! renamed, so a checkout directory that exists is always complete.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

use git2::{Commit, ObjectType, Repository, Tree};
use tracing::instrument;

use super::error::SourceError;
use super::git::corrupt;

/// Prefix of in-progress checkout directories (removed when found later).
const TMP_PREFIX: &str = ".tmp-";

/// Writes `commit` to `<checkouts>/<sha>` unless it already exists, after checking that
/// `subdir` (if any) is a directory in it. Returns the checkout directory.
#[instrument(skip(repo, commit), fields(commit = %commit.id()))]
pub(crate) fn materialise(
    repo: &Repository,
    commit: &Commit<'_>,
    checkouts: &Path,
    subdir: Option<&Path>,
) -> Result<PathBuf, SourceError> {
    let sha = commit.id().to_string();
    let tree = commit
        .tree()
        .map_err(|e| corrupt(repo, &format!("tree of {sha}"), &e))?;
    if let Some(subdir) = subdir {
        let is_dir = tree
            .get_path(subdir)
            .is_ok_and(|entry| entry.kind() == Some(ObjectType::Tree));
        if !is_dir {
            return Err(SourceError::SubdirMissing {
                subdir: subdir.to_path_buf(),
                commit: sha,
            });
        }
    }
    let target = checkouts.join(&sha);
    if target.is_dir() {
        return Ok(target);
    }
    let tmp = checkouts.join(format!("{TMP_PREFIX}{sha}-{}", std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io("remove stale", &tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
    let writer = Writer {
        repo,
        sha: &sha,
        root: &tmp,
    };
    if let Err(e) = writer.write_tree(&tree, Path::new("")) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &target).map_err(io("rename checkout into", &target))?;
    tracing::info!(path = %target.display(), "checked out commit");
    Ok(target)
}

/// Removes every checkout (and leftover temporary directory) except those named in `keep`.
pub(crate) fn prune(checkouts: &Path, keep: &[&str]) -> Result<(), SourceError> {
    let entries = fs::read_dir(checkouts).map_err(io("list", checkouts))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if keep.iter().any(|k| name.as_os_str() == *k) {
            continue;
        }
        let path = entry.path();
        tracing::debug!(path = %path.display(), "removing old checkout");
        fs::remove_dir_all(&path).map_err(io("remove old checkout", &path))?;
    }
    Ok(())
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SourceError {
    let path = path.to_path_buf();
    move |cause| SourceError::Io {
        action,
        path,
        cause,
    }
}

struct Writer<'a> {
    repo: &'a Repository,
    sha: &'a str,
    root: &'a Path,
}

impl Writer<'_> {
    fn write_tree(&self, tree: &Tree<'_>, rel: &Path) -> Result<(), SourceError> {
        for entry in tree.iter() {
            let name = std::str::from_utf8(entry.name_bytes())
                .ok()
                .filter(|n| safe_name(n))
                .ok_or_else(|| self.unsafe_path(rel, entry.name_bytes(), "unsafe file name"))?;
            let rel_path = rel.join(name);
            let dest = self.root.join(&rel_path);
            let shown = rel_path.display().to_string();
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    fs::create_dir(&dest).map_err(io("create", &dest))?;
                    let sub = self
                        .repo
                        .find_tree(entry.id())
                        .map_err(|e| corrupt(self.repo, &format!("tree {shown}"), &e))?;
                    self.write_tree(&sub, &rel_path)?;
                }
                Some(ObjectType::Blob) => {
                    let blob = self
                        .repo
                        .find_blob(entry.id())
                        .map_err(|e| corrupt(self.repo, &format!("file {shown}"), &e))?;
                    match entry.filemode() {
                        0o120000 => self.write_symlink(&rel_path, blob.content())?,
                        mode => write_file(&dest, blob.content(), mode == 0o100755)?,
                    }
                }
                _ => {
                    tracing::warn!(path = %shown, "skipping submodule (not supported)");
                    fs::create_dir(&dest).map_err(io("create", &dest))?;
                }
            }
        }
        Ok(())
    }

    fn write_symlink(&self, rel_path: &Path, target: &[u8]) -> Result<(), SourceError> {
        let shown = rel_path.display().to_string();
        let target = std::str::from_utf8(target)
            .map_err(|_| self.unsafe_path_str(&shown, "symlink target is not UTF-8"))?;
        let parent = rel_path.parent().unwrap_or(Path::new(""));
        if !stays_inside(&parent.join(target)) {
            return Err(self.unsafe_path_str(&shown, "symlink points outside the checkout"));
        }
        let dest = self.root.join(rel_path);
        std::os::unix::fs::symlink(target, &dest).map_err(io("create symlink", &dest))
    }

    fn unsafe_path(&self, rel: &Path, name: &[u8], reason: &'static str) -> SourceError {
        let shown = format!("{}/{}", rel.display(), String::from_utf8_lossy(name));
        self.unsafe_path_str(&shown, reason)
    }

    fn unsafe_path_str(&self, shown: &str, reason: &'static str) -> SourceError {
        SourceError::UnsafePath {
            path: shown.to_string(),
            commit: self.sha.to_string(),
            reason,
        }
    }
}

fn write_file(dest: &Path, content: &[u8], executable: bool) -> Result<(), SourceError> {
    let mut file = fs::File::create_new(dest).map_err(io("create", dest))?;
    file.write_all(content).map_err(io("write", dest))?;
    if executable {
        file.set_permissions(fs::Permissions::from_mode(0o755))
            .map_err(io("set permissions of", dest))?;
    }
    file.sync_all().map_err(io("sync", dest))
}

/// A single path component git itself would accept and that cannot escape the directory.
fn safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// Whether a relative path, resolved lexically, stays inside its root.
fn stays_inside(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets() {
        assert!(stays_inside(Path::new("a/../b")));
        assert!(stays_inside(Path::new("dir/./x")));
        assert!(!stays_inside(Path::new("a/../../etc/passwd")));
        assert!(!stays_inside(Path::new("/etc/passwd")));
    }

    #[test]
    fn names() {
        assert!(safe_name("spec.yaml"));
        assert!(!safe_name(".."));
        assert!(!safe_name("a/b"));
        assert!(!safe_name(""));
    }
}
