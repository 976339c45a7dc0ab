use super::*;

fn net(remote: &str) -> String {
    match parse_remote(remote, Path::new("/cwd")) {
        Ok(RemoteIdentity::Network(s)) => s,
        other => panic!("{remote}: {other:?}"),
    }
}

#[test]
fn every_way_of_writing_one_remote_is_one_identity() {
    let same = [
        "git@github.com:acme/ml-config.git",
        "git@github.com:acme/ml-config",
        "github.com:acme/ml-config.git",
        "ssh://git@github.com/acme/ml-config",
        "ssh://git@github.com:22/acme/ml-config.git",
        "git+ssh://git@github.com/acme/ml-config.git",
        "ssh+git://github.com/acme/ml-config",
        "https://user:tok3n@github.com/acme/ml-config.git",
        "https://x-access-token:ghp_secret@github.com/acme/ml-config",
        "https://github.com/acme/ml-config",
        "https://github.com/acme/ml-config/",
        "https://github.com/acme/ml-config.git/",
        "https://GitHub.COM/acme/ml-config",
        "https://github.com:443/acme/ml-config",
        "http://github.com:80/acme/ml-config",
        "https://github.com//acme/ml-config",
        "https://github.com/acme/ml-config?foo=bar#frag",
        "git://github.com/acme/ml-config.git",
        "git://github.com:9418/acme/ml-config",
        "GIT@GitHub.com:acme/ml-config.git",
    ];
    for remote in same {
        assert_eq!(net(remote), "github.com/acme/ml-config", "{remote}");
    }
}

#[test]
fn what_tells_remotes_apart_is_kept() {
    let cases = [
        ("ssh://git@host:2222/org/repo.git", "host:2222/org/repo"),
        ("https://host:8443/org/repo", "host:8443/org/repo"),
        ("git://127.0.0.1:9419/repo.git", "127.0.0.1:9419/repo"),
        ("https://[::1]:8080/r.git", "[::1]:8080/r"),
        ("https://host/Org/Repo", "host/Org/Repo"),
        ("https://host/org/my%20repo", "host/org/my repo"),
        ("git@host:org/my repo", "host/org/my repo"),
        ("ssh://host/srv/git/r.git", "host/srv/git/r"),
        ("host:/srv/git/r.git", "host/srv/git/r"),
        ("ssh://host/~alice/r", "host/~alice/r"),
        ("alice@host:~alice/r", "host/~alice/r"),
        (
            "https://gitlab.example/group/sub/project.git",
            "gitlab.example/group/sub/project",
        ),
    ];
    for (remote, want) in cases {
        assert_eq!(net(remote), want, "{remote}");
    }
    assert_ne!(net("https://host/org/repo"), net("https://host/org/repo2"));
}

#[test]
fn local_remotes_are_absolute_paths() {
    let local = |r: &str| parse_remote(r, Path::new("/cwd")).unwrap();
    assert_eq!(
        local("file:///srv/git/repo.git"),
        RemoteIdentity::Local("/srv/git/repo.git".into())
    );
    assert_eq!(
        local("/srv/git/repo.git"),
        RemoteIdentity::Local("/srv/git/repo.git".into())
    );
    assert_eq!(
        local("../git/repo.git"),
        RemoteIdentity::Local("/cwd/../git/repo.git".into())
    );
    assert_eq!(local("./a:b"), RemoteIdentity::Local("/cwd/./a:b".into()));
}

#[test]
fn unusable_remotes_are_errors() {
    let err = |r: &str| parse_remote(r, Path::new("/")).unwrap_err();
    assert_eq!(err("ftp://host/r"), RemoteError::Scheme("ftp".into()));
    assert_eq!(err("https://host"), RemoteError::NoPath);
    assert_eq!(err("https://host/.git"), RemoteError::NoPath);
    assert_eq!(err("git@host:"), RemoteError::NoPath);
    assert_eq!(err("ssh:///r"), RemoteError::NoHost);
    assert_eq!(err("https://exa mple/r"), RemoteError::Url);
}

#[test]
fn identity_appends_the_subdirectory() {
    assert_eq!(identity("h/o/r", None), "h/o/r");
    assert_eq!(identity("h/o/r", Some(Path::new(""))), "h/o/r");
    assert_eq!(identity("h/o/r", Some(Path::new("."))), "h/o/r");
    assert_eq!(identity("h/o/r", Some(Path::new("./a/b/"))), "h/o/r//a/b");
    assert_eq!(
        identity("/srv/r.git", Some(Path::new("a"))),
        "/srv/r.git//a"
    );
}

#[test]
fn derived_ids_are_label_values_named_after_the_last_segment() {
    let id = derive_id("github.com/acme/ml-config");
    assert!(id.starts_with("ml-config-"), "{id}");
    assert_eq!(id.len(), "ml-config-".len() + 10);
    assert!(
        id["ml-config-".len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    // Stable: a pure function of the identity (this value must never change).
    assert_eq!(id, "ml-config-725af915ca");
    assert_eq!(derive_id("github.com/acme/ml-config"), id);
    assert_ne!(derive_id("github.com/acme/ml-config//prod"), id);
    assert!(derive_id("github.com/acme/ml-config//deploy/prod").starts_with("prod-"));
    assert!(derive_id("/srv/git/repo.git").starts_with("repo-"));

    for identity in [
        "host/org/Ünïcödé repo!",
        "host/org/_leading_and_trailing_",
        "host/org/...",
        "/",
        &format!("host/org/{}", "x".repeat(200)),
        "host/org/a.b_c-D",
    ] {
        let id = derive_id(identity);
        assert!(is_label_value(&id) && !id.is_empty(), "{identity} -> {id}");
    }
    assert!(derive_id("host/org/...").starts_with("source-"));
    assert_eq!(derive_id(&format!("h/{}", "x".repeat(200))).len(), 63);
}

#[test]
fn directory_names_become_label_values() {
    assert_eq!(dir_name_id("my-repo"), "my-repo");
    assert_eq!(dir_name_id("my repo (copy)"), "my-repo--copy");
    assert_eq!(dir_name_id("__"), "default");
    assert_eq!(dir_name_id(&"a".repeat(100)).len(), 63);
}

#[test]
fn label_values() {
    assert!(is_label_value("example-repo"));
    assert!(is_label_value("a.b_c-1"));
    assert!(!is_label_value("-a"));
    assert!(!is_label_value("a/b"));
    assert!(!is_label_value(&"a".repeat(64)));
}
