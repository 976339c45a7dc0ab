//! The local bare clone: open/create it and fetch only the tracked ref into it.

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};

use git2::{AutotagOption, ErrorClass, FetchOptions, Oid, Repository};
use tracing::instrument;

use super::auth::GitAuth;
use super::error::SourceError;
use super::remote::Remote;

/// The ref the fetched commit is recorded under (kept between fetches so they are incremental).
const TRACKED: &str = "refs/mlsync/tracked";
/// Where each fetch writes; deleted first so a vanished remote ref is noticed.
const INCOMING: &str = "refs/mlsync/incoming";

/// What to follow in the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// A branch: follows the remote, including force-pushes.
    Branch(String),
    /// A tag (lightweight or annotated).
    Tag(String),
    /// A full commit id (40 hex digits).
    Commit(String),
}

impl GitRef {
    /// Interprets `--ref`: 40 hex digits are a commit, anything else a tag.
    pub fn from_ref_arg(value: &str) -> Result<Self, SourceError> {
        validate_ref_name(value)?;
        if value.len() == 40 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self::Commit(value.to_ascii_lowercase()))
        } else {
            Ok(Self::Tag(value.to_string()))
        }
    }

    /// Validates `--branch`.
    pub fn branch(value: &str) -> Result<Self, SourceError> {
        validate_ref_name(value)?;
        Ok(Self::Branch(value.to_string()))
    }

    /// Human description: `branch main`, `tag v1`, `commit <sha>`.
    pub fn describe(&self) -> String {
        match self {
            Self::Branch(b) => format!("branch {b}"),
            Self::Tag(t) => format!("tag {t}"),
            Self::Commit(c) => format!("commit {c}"),
        }
    }
}

fn validate_ref_name(value: &str) -> Result<(), SourceError> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.starts_with('-') || value.starts_with("refs/") {
        "give a plain branch or tag name, not an option or full ref"
    } else if !git2::Reference::is_valid_name(&format!("refs/heads/{value}")) {
        "it is not a valid git ref name"
    } else {
        return Ok(());
    };
    Err(SourceError::InvalidRef {
        value: value.to_string(),
        reason,
    })
}

/// Opens the bare clone at `path`, creating it if absent. Damage shows as
/// [`SourceError::LocalRepo`] / [`SourceError::Corrupt`].
pub(crate) fn open_or_init(path: &Path) -> Result<Repository, SourceError> {
    let local = |action, e: git2::Error| SourceError::LocalRepo {
        action,
        path: path.to_path_buf(),
        message: e.message().to_string(),
    };
    if !path.exists() {
        tracing::info!(path = %path.display(), "creating local bare clone");
        return Repository::init_bare(path).map_err(|e| local("create", e));
    }
    let repo = Repository::open_bare(path).map_err(|e| local("open", e))?;
    repo.find_reference("HEAD")
        .map_err(|e| local("read HEAD of", e))?;
    if let Ok(tracked) = repo.find_reference(TRACKED) {
        tracked.peel_to_commit().map_err(|e| SourceError::Corrupt {
            what: format!("{TRACKED} commit"),
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    }
    Ok(repo)
}

/// Fetches `target` from `remote` into `repo` and returns its commit id and the time spent
/// talking to the remote (zero when a pinned commit is already present).
#[instrument(skip(repo, auth), fields(remote = %remote, target = %target.describe()))]
pub(crate) fn fetch(
    repo: &Repository,
    remote: &Remote,
    target: &GitRef,
    auth: &GitAuth,
) -> Result<(Oid, Duration), SourceError> {
    let not_found = || SourceError::RefNotFound {
        what: target.describe(),
        url: remote.to_string(),
    };
    let refspecs: Vec<String> = match target {
        GitRef::Branch(b) => vec![format!("+refs/heads/{b}:{INCOMING}")],
        GitRef::Tag(t) => vec![format!("+refs/tags/{t}:{INCOMING}")],
        GitRef::Commit(c) => {
            let oid = Oid::from_str(c).map_err(|_| not_found())?;
            if repo.find_commit(oid).is_ok() {
                set_tracked(repo, oid)?;
                return Ok((oid, Duration::ZERO));
            }
            // Servers rarely allow fetching unadvertised ids: fetch branches and tags.
            vec![
                "+refs/heads/*:refs/mlsync/heads/*".to_string(),
                "+refs/tags/*:refs/mlsync/tags/*".to_string(),
            ]
        }
    };
    if let Ok(mut incoming) = repo.find_reference(INCOMING) {
        incoming.delete().map_err(|e| corrupt(repo, INCOMING, &e))?;
    }
    let duration = download(repo, remote, target, auth, &refspecs)?;
    let oid = match target {
        GitRef::Commit(c) => {
            let oid = Oid::from_str(c).map_err(|_| not_found())?;
            repo.find_commit(oid).map_err(|_| not_found())?;
            oid
        }
        _ => {
            let incoming = repo.find_reference(INCOMING).map_err(|_| not_found())?;
            incoming
                .peel_to_commit()
                .map_err(|e| corrupt(repo, INCOMING, &e))?
                .id()
        }
    };
    set_tracked(repo, oid)?;
    tracing::debug!(commit = %oid, ?duration, "fetched");
    Ok((oid, duration))
}

fn download(
    repo: &Repository,
    remote: &Remote,
    target: &GitRef,
    auth: &GitAuth,
    refspecs: &[String],
) -> Result<Duration, SourceError> {
    let loaded = auth.load(remote)?;
    let rejection = RefCell::new(None);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(auth.callbacks(remote, &loaded, &rejection))
        .download_tags(AutotagOption::None)
        .update_fetchhead(false);
    let started = Instant::now();
    let result = repo
        .remote_anonymous(&remote.url)
        .and_then(|mut r| r.fetch(refspecs, Some(&mut options), None));
    let duration = started.elapsed();
    drop(options);
    if let Some(rejected) = rejection.into_inner() {
        return Err(rejected);
    }
    match result {
        Ok(()) => Ok(duration),
        Err(e) if is_local_class(e.class()) => Err(corrupt(repo, "objects", &e)),
        Err(e) => {
            let mut message = e.message().to_string();
            for secret in [
                loaded.token().map(str::to_string),
                remote.embedded_password(),
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            {
                message = message.replace(&secret, "***");
            }
            Err(SourceError::Fetch {
                what: target.describe(),
                url: remote.to_string(),
                message,
            })
        }
    }
}

/// Error classes that point at the local clone rather than the remote.
fn is_local_class(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Odb | ErrorClass::Object | ErrorClass::Reference | ErrorClass::Repository
    )
}

/// The tracked ref moved to a commit that does not descend from the one followed before: a
/// force-push, or a tag moved to another commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRewrite {
    /// The commit followed before.
    pub previous: String,
    /// The commit followed now.
    pub current: String,
    /// True when `current` is an ancestor of `previous`: the ref went back to an older commit
    /// (e.g. `git push --force` of an earlier commit). False: the histories diverged.
    pub went_back: bool,
}

/// The commit recorded by the last successful fetch, if any.
pub(crate) fn tracked(repo: &Repository) -> Option<Oid> {
    repo.refname_to_id(TRACKED).ok()
}

/// A [`HistoryRewrite`] when `current` does not descend from `previous` (`None` for the same
/// commit, a fast-forward, or when the graph cannot be read).
pub(crate) fn rewrite(repo: &Repository, previous: Oid, current: Oid) -> Option<HistoryRewrite> {
    if previous == current || repo.graph_descendant_of(current, previous).ok()? {
        return None;
    }
    let went_back = repo.graph_descendant_of(previous, current).ok()?;
    Some(HistoryRewrite {
        previous: previous.to_string(),
        current: current.to_string(),
        went_back,
    })
}

/// Puts the tracked ref back to `previous` (or removes it): the commit just fetched was not
/// accepted, so the next fetch compares with the last one that was.
pub(crate) fn reset_tracked(repo: &Repository, previous: Option<Oid>) -> Result<(), SourceError> {
    match previous {
        Some(oid) => set_tracked(repo, oid),
        None => match repo.find_reference(TRACKED) {
            Ok(mut r) => r.delete().map_err(|e| corrupt(repo, TRACKED, &e)),
            Err(_) => Ok(()),
        },
    }
}

fn set_tracked(repo: &Repository, oid: Oid) -> Result<(), SourceError> {
    repo.reference(TRACKED, oid, true, "mlsync: tracked commit")
        .map(|_| ())
        .map_err(|e| corrupt(repo, TRACKED, &e))
}

/// A [`SourceError::Corrupt`] for `what` in `repo`.
pub(crate) fn corrupt(repo: &Repository, what: &str, e: &git2::Error) -> SourceError {
    SourceError::Corrupt {
        what: what.to_string(),
        path: repo.path().to_path_buf(),
        message: e.message().to_string(),
    }
}
