//! The git source against real servers: `git daemon` and OpenSSH `sshd` on 127.0.0.1.

mod support;

use std::path::{Path, PathBuf};

use mlsync::source::{
    GitAuth, GitRef, GitSource, GitSourceConfig, HistoryRewrite, SourceError, TokenSource,
};
use support::{GitDaemon, Upstream, git};
use zeroize::Zeroizing;

fn config(repo: &str, target: GitRef, state: &Path) -> GitSourceConfig {
    GitSourceConfig {
        repo: repo.to_string(),
        target,
        subdir: None,
        state_dir: state.to_path_buf(),
        auth: GitAuth {
            username: "x-access-token".into(),
            ..GitAuth::default()
        },
    }
}

fn main_branch() -> GitRef {
    GitRef::branch("main").unwrap()
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap()
}

fn checkouts(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("source/checkouts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn follows_branch_including_force_push_and_outages() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    let first = up.commit("app.yaml", "v: 1\n", "first config");
    up.push();
    let mut daemon = GitDaemon::start(&up.base);
    let state = tmp.path().join("state");
    let mut source = GitSource::new(config(&daemon.url(), main_branch(), &state)).unwrap();

    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, first);
    assert_eq!(out.revision.summary, "first config");
    assert_eq!(read(&out.revision.root, "app.yaml"), "v: 1\n");
    assert!(out.changed);

    let again = source.sync().unwrap();
    assert!(!again.changed, "same commit must not count as a change");

    let second = up.commit("app.yaml", "v: 2\n", "second config");
    up.push();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, second);
    assert_eq!(read(&out.revision.root, "app.yaml"), "v: 2\n");
    assert!(out.changed);
    assert_eq!(out.rewrite, None, "a fast-forward is no rewrite");

    // Rewrite history: drop `second`, commit something else, force-push.
    git(&up.work, &["reset", "-q", "--hard", &first]);
    let rewritten = up.commit("app.yaml", "v: 3\n", "rewritten config");
    up.push();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, rewritten);
    assert_eq!(read(&out.revision.root, "app.yaml"), "v: 3\n");
    assert_eq!(
        out.rewrite,
        Some(HistoryRewrite {
            previous: second.clone(),
            current: rewritten.clone(),
            went_back: false,
        }),
        "diverged history is reported"
    );
    let mut kept = vec![second.clone(), rewritten.clone()];
    kept.sort();
    assert_eq!(
        checkouts(&state),
        kept,
        "keeps current + previous checkout only"
    );

    // Remote unreachable: error naming branch and URL, last good revision kept.
    daemon.stop();
    let err = source.sync().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "failed to fetch branch main from {}: ",
            daemon.url()
        )),
        "{msg}"
    );
    assert_eq!(source.last_good().unwrap().commit, rewritten);
    assert!(source.last_good().unwrap().root.join("app.yaml").is_file());

    // Remote back, with a new commit meanwhile.
    let fourth = up.commit("app.yaml", "v: 4\n", "fourth");
    up.push();
    daemon.restart();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, fourth);
    assert!(out.fetch_duration > std::time::Duration::ZERO);
}

#[test]
fn recovers_from_corrupt_or_deleted_clone() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    let head = up.commit("a.yaml", "a\n", "one");
    up.push();
    let daemon = GitDaemon::start(&up.base);
    let state = tmp.path().join("state");
    let mut source = GitSource::new(config(&daemon.url(), main_branch(), &state)).unwrap();
    source.sync().unwrap();
    let bare = state.join("source/repo.git");
    // A file the source never writes: gone after a sync means the clone was wiped.
    let marker = bare.join("test-marker");

    std::fs::write(&marker, "").unwrap();
    std::fs::remove_dir_all(bare.join("objects")).unwrap();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, head);
    assert!(
        bare.join("objects").is_dir() && !marker.exists(),
        "re-cloned"
    );

    std::fs::write(&marker, "").unwrap();
    std::fs::write(bare.join("HEAD"), "garbage\0\n").unwrap();
    assert_eq!(source.sync().unwrap().revision.commit, head);
    assert!(!marker.exists(), "re-cloned after junk HEAD");

    std::fs::write(&marker, "").unwrap();
    assert_eq!(source.sync().unwrap().revision.commit, head);
    assert!(marker.exists(), "a healthy clone is kept");

    // Objects present but the tracked commit missing (e.g. lost loose object).
    let loose = bare.join("objects").join(&head[..2]).join(&head[2..]);
    if loose.exists() {
        std::fs::remove_file(&loose).unwrap();
    } else {
        std::fs::remove_dir_all(bare.join("objects/pack")).unwrap();
        std::fs::create_dir(bare.join("objects/pack")).unwrap();
    }
    assert_eq!(source.sync().unwrap().revision.commit, head);
    assert!(
        !marker.exists(),
        "re-cloned after losing the tracked commit"
    );

    std::fs::remove_dir_all(&state).unwrap();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, head);
    assert_eq!(read(&out.revision.root, "a.yaml"), "a\n");
}

#[test]
fn pins_tags_and_commits_and_checks_subdir() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    let old = up.commit("cfg/svc.yaml", "old\n", "old");
    git(&up.work, &["tag", "-a", "-m", "release", "v1"]);
    let new = up.commit("cfg/svc.yaml", "new\n", "new");
    git(&up.work, &["tag", "light"]);
    up.push();
    let daemon = GitDaemon::start(&up.base);
    let state = tmp.path().join("state");

    let tag = GitRef::from_ref_arg("v1").unwrap();
    let mut cfg = config(&daemon.url(), tag, &state);
    cfg.subdir = Some(PathBuf::from("cfg"));
    let out = GitSource::new(cfg.clone()).unwrap().sync().unwrap();
    assert_eq!(
        out.revision.commit, old,
        "annotated tag peels to its commit"
    );
    assert_eq!(
        out.revision.root,
        state.join("source/checkouts").join(&old).join("cfg")
    );
    assert_eq!(read(&out.revision.root, "svc.yaml"), "old\n");

    cfg.target = GitRef::from_ref_arg("light").unwrap();
    assert_eq!(
        GitSource::new(cfg.clone())
            .unwrap()
            .sync()
            .unwrap()
            .revision
            .commit,
        new
    );

    // A commit that is no branch tip, in a fresh state dir (must be fetched).
    let mut by_sha = config(
        &daemon.url(),
        GitRef::from_ref_arg(&old).unwrap(),
        &tmp.path().join("s2"),
    );
    by_sha.subdir = Some(PathBuf::from("cfg"));
    let out = GitSource::new(by_sha).unwrap().sync().unwrap();
    assert_eq!(
        (out.revision.commit.as_str(), out.revision.summary.as_str()),
        (old.as_str(), "old")
    );

    cfg.target = main_branch();
    cfg.subdir = Some(PathBuf::from("missing/dir"));
    let err = GitSource::new(cfg.clone()).unwrap().sync().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to find --path missing/dir in commit {new}: no such directory")
    );

    cfg.subdir = None;
    cfg.target = GitRef::branch("nope").unwrap();
    let err = GitSource::new(cfg.clone()).unwrap().sync().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("failed to find branch nope in {}", daemon.url())
    );

    cfg.target = GitRef::from_ref_arg(&"0".repeat(40)).unwrap();
    assert!(matches!(
        GitSource::new(cfg).unwrap().sync(),
        Err(SourceError::RefNotFound { .. })
    ));
}

#[test]
fn local_path_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    let head = up.commit("x.yaml", "x\n", "local");
    up.push();
    let state = tmp.path().join("state");
    let url = format!("file://{}", up.bare.display());
    for repo in [up.bare.to_str().unwrap(), url.as_str()] {
        let out = GitSource::new(config(repo, main_branch(), &state))
            .unwrap()
            .sync()
            .unwrap();
        assert_eq!(out.revision.commit, head);
    }
    std::fs::remove_dir_all(&up.bare).unwrap();
    let mut source = GitSource::new(config(&url, main_branch(), &state)).unwrap();
    let err = source.sync().unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("failed to fetch branch main from {url}: ")),
        "{err}"
    );
    assert!(
        state.join("source/repo.git").is_dir(),
        "local clone kept when the remote is gone"
    );
}

#[test]
fn errors_never_show_tokens() {
    let port = support::free_port();
    let tmp = tempfile::tempdir().unwrap();
    let repo = format!("https://bot:urlsecret@127.0.0.1:{port}/r.git");
    let mut cfg = config(&repo, main_branch(), tmp.path());
    cfg.auth.token = Some(TokenSource::Value(Zeroizing::new("tokensecret".into())));
    let mut source = GitSource::new(cfg).unwrap();
    let err = source.sync().unwrap_err();
    let shown = format!("{err} {err:?} {source:?}");
    assert!(
        shown.contains("failed to fetch branch main from https://bot:***@127.0.0.1"),
        "{shown}"
    );
    assert!(
        !shown.contains("urlsecret") && !shown.contains("tokensecret"),
        "{shown}"
    );
}

#[test]
fn source_can_move_into_spawn_blocking() {
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_static::<GitSource>();
    assert_send_static::<Result<mlsync::source::SyncOutcome, SourceError>>();
}

#[test]
fn http_token_is_sent_as_basic_auth_and_reread_from_file() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Upstream::new(tmp.path());
    let head = up.commit("h.yaml", "http\n", "over http");
    up.push();
    let server = support::http::GitHttp::start(&up.base, "x-access-token", "right-token");
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let token_file = tmp.path().join("git-token");
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    let mut cfg = config(&url, main_branch(), &tmp.path().join("st"));
    cfg.auth.token = Some(TokenSource::File(token_file.clone()));
    let mut source = GitSource::new(cfg).unwrap();

    let err = source.sync().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("failed to fetch branch main from {url}: ")),
        "{msg}"
    );
    assert!(!msg.contains("wrong-token"), "{msg}");
    assert!(server.accepted_users.lock().unwrap().is_empty());

    // Rotated token: the file is read again on the next sync.
    std::fs::write(&token_file, "right-token\n").unwrap();
    let out = source.sync().unwrap();
    assert_eq!(out.revision.commit, head);
    assert!(!server.accepted_users.lock().unwrap().is_empty());
}

#[test]
fn token_is_not_sent_over_cleartext_http_to_other_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(
        "http://git.example.invalid/r.git",
        main_branch(),
        tmp.path(),
    );
    cfg.auth.token = Some(TokenSource::Value(Zeroizing::new("tok".into())));
    let err = GitSource::new(cfg).unwrap().sync().unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to fetch from http://git.example.invalid/r.git: refusing to send the git token \
         over plain http (use https)"
    );
}
