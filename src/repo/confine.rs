//! Resolving a path written in a config repo (`paths:` in `mlsync.yaml`, `spec.secrets.file`, …)
//! to a file or directory *inside* the repo.
//!
//! Every such path is untrusted: whoever can commit to the repo chooses it. [`confine`] follows
//! `..` and symbolic links one component at a time, like the kernel does, but never looks at
//! anything outside the repo: a step that would leave the repo root is refused before anything
//! outside is touched. So the answer for a link to `/etc/passwd` and for a link to
//! `/nonexistent` is the same, and nobody learns from it which host files exist.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed for one path before giving up (Linux's limit is 40 as well).
const MAX_LINKS: usize = 40;

/// Why a repo path was refused. The messages are written for diagnostics
/// (`file:line:column: field: message`) and never depend on anything outside the repo.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// The path is absolute.
    #[error("must be a path relative to the repo root, not an absolute path")]
    Absolute,
    /// `..` leads out of the repo.
    #[error("must stay inside the repo ('..' leads out of it)")]
    ParentEscape,
    /// A symbolic link inside the repo points outside it.
    #[error("must stay inside the repo (the symbolic link {} points outside it)", link.display())]
    LinkEscape {
        /// The link, relative to the repo root.
        link: PathBuf,
    },
    /// Nothing exists at the path (inside the repo).
    #[error("not found in the repo")]
    NotFound,
    /// Symbolic links refer to each other in a loop (or there are too many).
    #[error("too many levels of symbolic links")]
    Loop,
    /// Reading the repo itself failed (permissions, I/O).
    #[error("failed to read {}: {cause}", path.display())]
    Io {
        /// The file or directory (absolute).
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

/// Resolves `path` (relative, as written in the repo) against the repo `root`, following `..`
/// and symbolic links, and returns where it leads, relative to the root (empty for the root
/// itself) and free of links, `.` and `..`. Refuses absolute paths, `..` that climbs above the root, and links whose target (taken
/// literally, without resolving anything outside the repo) is outside the root. Links that stay
/// inside the repo work, including absolute links to the repo's canonical path.
pub fn confine(root: &Path, path: &str) -> Result<PathBuf, ConfineError> {
    let root = std::fs::canonicalize(root).map_err(|cause| ConfineError::Io {
        path: root.to_owned(),
        cause,
    })?;
    let written = Path::new(path);
    if written.has_root() {
        return Err(ConfineError::Absolute);
    }
    // `done`: components below the root that are resolved (real directories, or the final
    // entry); `todo`: what is left to walk, with link targets spliced in front.
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = components(written);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            if done.pop().is_none() {
                return Err(ConfineError::ParentEscape);
            }
            continue;
        }
        let here: PathBuf = done.iter().chain(std::iter::once(&name)).collect();
        let abs = root.join(&here);
        let meta = match std::fs::symlink_metadata(&abs) {
            Ok(m) => m,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Err(ConfineError::NotFound);
            }
            Err(cause) => return Err(ConfineError::Io { path: abs, cause }),
        };
        if !meta.file_type().is_symlink() {
            if !meta.is_dir() && !todo.is_empty() {
                // `file.yaml/more`: a file used as a directory.
                return Err(ConfineError::NotFound);
            }
            done.push(name);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(ConfineError::Loop);
        }
        let target =
            std::fs::read_link(&abs).map_err(|cause| ConfineError::Io { path: abs, cause })?;
        let escape = || ConfineError::LinkEscape { link: here.clone() };
        let rest = if target.has_root() {
            // Only the repo's own canonical path is known without looking outside the repo.
            let below = target.strip_prefix(&root).map_err(|_| escape())?;
            done.clear();
            components(below)
        } else {
            components(&target)
        };
        // `..` in a link target is relative to the link's directory (already in `done`); a
        // target that climbs above the root is the link's escape, not the written path's.
        let mut depth = done.len();
        for c in &rest {
            if c == ".." {
                depth = depth.checked_sub(1).ok_or_else(escape)?;
            } else {
                depth += 1;
            }
        }
        for c in rest.into_iter().rev() {
            todo.push_front(c);
        }
    }
    Ok(done.iter().collect())
}

/// The normal and `..` components of a relative path (`.` dropped).
fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A repo at `<tmp>/repo` with `services/a.yaml`, next to `<tmp>/outside/s.yaml`.
    fn fixture() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("services")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::fs::write(repo.join("services/a.yaml"), "a").unwrap();
        std::fs::write(tmp.path().join("outside/s.yaml"), "s").unwrap();
        (tmp, repo)
    }

    fn canonical(p: &Path) -> PathBuf {
        std::fs::canonicalize(p).unwrap()
    }

    #[test]
    fn plain_paths_resolve_inside() {
        let (_tmp, repo) = fixture();
        let want = PathBuf::from("services/a.yaml");
        assert_eq!(confine(&repo, "services/a.yaml").unwrap(), want);
        assert_eq!(
            confine(&repo, "./services/../services/a.yaml").unwrap(),
            want
        );
        assert_eq!(confine(&repo, ".").unwrap(), PathBuf::new());
        assert_eq!(confine(&repo, "").unwrap(), PathBuf::new());
        // A repo given by a linked path works the same.
        let link = repo.with_file_name("repo-link");
        symlink(&repo, &link).unwrap();
        assert_eq!(confine(&link, "services/a.yaml").unwrap(), want);
    }

    #[test]
    fn absolute_and_parent_escapes_are_refused() {
        let (_tmp, repo) = fixture();
        assert!(matches!(
            confine(&repo, "/etc/passwd"),
            Err(ConfineError::Absolute)
        ));
        for p in [
            "..",
            "../outside/s.yaml",
            "services/../../outside",
            "a/../..",
        ] {
            assert!(
                matches!(
                    confine(&repo, p),
                    Err(ConfineError::ParentEscape | ConfineError::NotFound)
                ),
                "{p}"
            );
        }
        assert!(matches!(
            confine(&repo, "services/../../outside/s.yaml"),
            Err(ConfineError::ParentEscape)
        ));
    }

    #[test]
    fn links_inside_the_repo_work() {
        let (_tmp, repo) = fixture();
        symlink("a.yaml", repo.join("services/rel.yaml")).unwrap();
        symlink("../services", repo.join("services/up")).unwrap();
        symlink(canonical(&repo).join("services"), repo.join("abs")).unwrap();
        let want = PathBuf::from("services/a.yaml");
        assert_eq!(confine(&repo, "services/rel.yaml").unwrap(), want);
        assert_eq!(confine(&repo, "services/up/up/rel.yaml").unwrap(), want);
        assert_eq!(confine(&repo, "abs/a.yaml").unwrap(), want);
        // `..` after a link is relative to where the link points, as in the kernel.
        assert_eq!(confine(&repo, "abs/../services/a.yaml").unwrap(), want);
    }

    #[test]
    fn links_out_of_the_repo_are_refused_alike_whether_the_target_exists_or_not() {
        let (tmp, repo) = fixture();
        let outside = tmp.path().join("outside/s.yaml");
        for (name, target) in [
            ("exists", outside.clone()),
            ("missing", PathBuf::from("/nonexistent/file")),
            ("passwd", PathBuf::from("/etc/passwd")),
            ("relative", PathBuf::from("../../outside/s.yaml")),
            ("dotdot", PathBuf::from("../..")),
        ] {
            symlink(&target, repo.join("services").join(name)).unwrap();
            let err = confine(&repo, &format!("services/{name}")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "must stay inside the repo (the symbolic link services/{name} points outside it)"
                ),
                "{target:?}"
            );
        }
        // A directory link out of the repo is refused before anything below it is looked at.
        symlink(tmp.path().join("outside"), repo.join("out")).unwrap();
        assert!(matches!(
            confine(&repo, "out/s.yaml"),
            Err(ConfineError::LinkEscape { .. })
        ));
    }

    #[test]
    fn missing_files_loops_and_files_used_as_directories() {
        let (_tmp, repo) = fixture();
        assert!(matches!(
            confine(&repo, "services/none.yaml"),
            Err(ConfineError::NotFound)
        ));
        assert!(matches!(
            confine(&repo, "services/a.yaml/x"),
            Err(ConfineError::NotFound)
        ));
        symlink("loop2", repo.join("loop1")).unwrap();
        symlink("loop1", repo.join("loop2")).unwrap();
        assert!(matches!(confine(&repo, "loop1"), Err(ConfineError::Loop)));
    }
}
