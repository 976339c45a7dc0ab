//! Path mode: watches the config directory (inotify via the `notify` crate) and fires a
//! [`TriggerReason::FileChange`] once changes have been quiet for `--debounce`.
//!
//! Reads (our own reconcile opens every file) and anything under `.git/` are ignored, so a
//! commit or `git status` in a work tree does not cause reconciles, and neither does the
//! reconcile itself.

use std::path::{Component, Path};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::trigger::{TriggerReason, TriggerSender};

/// Errors setting up the watch.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// inotify refused (e.g. too many watches).
    #[error("failed to watch {path}: {cause}")]
    Watch {
        /// The directory.
        path: String,
        /// Why (part of the message, not a `source()`).
        cause: notify::Error,
    },
}

/// A running watch; dropping it stops watching.
pub struct DirWatch {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for DirWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirWatch").finish_non_exhaustive()
    }
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event means the config may have changed.
pub fn is_relevant(event: &Event, root: &Path) -> bool {
    let kind_matters = match event.kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    };
    kind_matters && event.paths.iter().any(|p| !under_git(p, root))
}

fn under_git(path: &Path, root: &Path) -> bool {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .any(|c| c == Component::Normal(".git".as_ref()))
}

/// Starts watching `root` recursively; every burst of relevant changes fires one trigger
/// `debounce` after its last event.
pub fn spawn(
    root: &Path,
    debounce: Duration,
    triggers: TriggerSender,
) -> Result<DirWatch, WatchError> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let filter_root = root.clone();
    let handler = move |res: notify::Result<Event>| match res {
        Ok(event) if is_relevant(&event, &filter_root) => {
            let _ = tx.send(());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "file watch error"),
    };
    let err = |cause| WatchError::Watch {
        path: root.display().to_string(),
        cause,
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(err)?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(err)?;
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until the burst has been quiet for `debounce`.
            loop {
                match tokio::time::timeout(debounce, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            tracing::debug!("config directory changed");
            if !triggers.fire(TriggerReason::FileChange).will_reconcile() {
                return;
            }
        }
    });
    Ok(DirWatch {
        _watcher: watcher,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn relevance() {
        let root = Path::new("/r");
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(is_relevant(&ev(modify, "/r/services/a.yaml"), root));
        assert!(is_relevant(
            &ev(EventKind::Create(CreateKind::File), "/r/x"),
            root
        ));
        assert!(!is_relevant(&ev(modify, "/r/.git/index"), root));
        assert!(!is_relevant(&ev(modify, "/r/.git"), root));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!is_relevant(&ev(read, "/r/services/a.yaml"), root));
        let write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(is_relevant(&ev(write, "/r/services/a.yaml"), root));
    }

    #[tokio::test]
    async fn a_burst_of_writes_fires_one_trigger() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = crate::trigger::channel();
        let _watch = spawn(tmp.path(), Duration::from_millis(100), tx).unwrap();
        for i in 0..5 {
            std::fs::write(tmp.path().join("a.yaml"), format!("{i}")).unwrap();
        }
        let t = rx.recv().await.unwrap();
        assert_eq!(t.reason, TriggerReason::FileChange);
        std::fs::create_dir_all(tmp.path().join(".git")).unwrap();
        std::fs::write(tmp.path().join(".git/index"), "x").unwrap();
        std::fs::write(tmp.path().join("b.yaml"), "x").unwrap();
        // Exactly one more trigger for the second burst (the .git write alone fires none).
        assert_eq!(rx.recv().await.unwrap().reason, TriggerReason::FileChange);
    }
}
