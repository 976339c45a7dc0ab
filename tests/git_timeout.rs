//! A remote that accepts the connection and then never answers must not hang the source.
//! Its own test binary: the timeouts are a libgit2 global, set before any other libgit2 use.

use std::net::TcpListener;
use std::time::Duration;

use mlsync::source::{GitAuth, GitRef, GitSource, GitSourceConfig, SourceError};

#[test]
fn stalled_remote_times_out_with_fetch_error() {
    // SAFETY: the only test in this binary; no other thread uses libgit2.
    unsafe {
        mlsync::source::set_network_timeouts(Duration::from_secs(5), Duration::from_millis(500))
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and hold connections without ever replying.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{port}/repo.git");
    let cfg = GitSourceConfig {
        repo: url.clone(),
        target: GitRef::branch("main").unwrap(),
        subdir: None,
        state_dir: tmp.path().to_path_buf(),
        auth: GitAuth::default(),
    };
    let err = GitSource::new(cfg).unwrap().sync().unwrap_err();
    assert!(matches!(err, SourceError::Fetch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("failed to fetch branch main from {url}: ")),
        "{err}"
    );
}
