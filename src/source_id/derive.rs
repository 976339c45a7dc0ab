//! The default ownership id, derived from what identifies a source (pure).
//!
//! A git remote is written many ways: `git@host:org/repo.git`, `ssh://git@host/org/repo`,
//! `https://user:token@host/org/repo.git/`. [`parse_remote`] reduces each to one identity
//! (lowercase host, port only when not the scheme's default, path without leading or trailing
//! `/` and `.git`; no scheme, user or password), so two clones, and the daemon following the
//! repo's URL, derive the same id. [`derive_id`] turns an identity into a label value:
//! `<last path segment>-<first 10 hex digits of its SHA-256>`.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The longest label value Kubernetes accepts.
pub const MAX_LABEL_VALUE: usize = 63;
/// Hex digits of the identity's SHA-256 in a derived id.
const HASH_HEX: usize = 10;

/// Why a remote has no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// A URL scheme git sources do not use.
    #[error("unsupported URL scheme {0:?}")]
    Scheme(String),
    /// Not a URL the `url` crate can read.
    #[error("not a valid URL")]
    Url,
    /// A network URL without a host.
    #[error("the URL has no host")]
    NoHost,
    /// A network URL without a repository path.
    #[error("the URL names no repository path")]
    NoPath,
}

/// Where a remote points, normalized so that every way of writing it compares equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteIdentity {
    /// A network remote: `host[:port]/path`.
    Network(String),
    /// A local repository (`file://` URL or path), absolute but not yet canonical: the caller
    /// resolves symlinks and `..` on the file system.
    Local(PathBuf),
}

/// Normalizes a remote URL, scp-like `user@host:path` or local path (made absolute against
/// `cwd`).
pub fn parse_remote(remote: &str, cwd: &Path) -> Result<RemoteIdentity, RemoteError> {
    if remote.contains("://") {
        return parse_url(remote);
    }
    if let Some((before, path)) = remote.split_once(':')
        && !before.contains('/')
        && !before.is_empty()
    {
        let host = before.rsplit('@').next().unwrap_or(before);
        return network(host, None, path);
    }
    Ok(RemoteIdentity::Local(cwd.join(remote)))
}

fn parse_url(remote: &str) -> Result<RemoteIdentity, RemoteError> {
    let url = url::Url::parse(remote).map_err(|_| RemoteError::Url)?;
    let default_port = match url.scheme() {
        "file" => {
            return url
                .to_file_path()
                .map(RemoteIdentity::Local)
                .map_err(|()| RemoteError::Url);
        }
        "ssh" | "git+ssh" | "ssh+git" => 22,
        "git" => 9418,
        "http" => 80,
        "https" => 443,
        other => return Err(RemoteError::Scheme(other.to_owned())),
    };
    let host = url.host_str().filter(|h| !h.is_empty());
    let host = host.ok_or(RemoteError::NoHost)?;
    let port = url.port().filter(|p| *p != default_port);
    let path = percent_encoding::percent_decode_str(url.path()).decode_utf8_lossy();
    network(host, port, &path)
}

fn network(host: &str, port: Option<u16>, path: &str) -> Result<RemoteIdentity, RemoteError> {
    if host.is_empty() {
        return Err(RemoteError::NoHost);
    }
    let mut path = path
        .split('/')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    if let Some(p) = path.strip_suffix(".git") {
        path = p.trim_end_matches('/').to_owned();
    }
    if path.is_empty() {
        return Err(RemoteError::NoPath);
    }
    let host = host.to_ascii_lowercase();
    Ok(RemoteIdentity::Network(match port {
        Some(p) => format!("{host}:{p}/{path}"),
        None => format!("{host}/{path}"),
    }))
}

/// The identity of a source: the remote's identity, plus `//<subdir>` when the config lives in
/// a subdirectory of the repository (`subdir` is relative; `.` parts are dropped).
pub fn identity(remote: &str, subdir: Option<&Path>) -> String {
    let parts: Vec<String> = subdir
        .into_iter()
        .flat_map(Path::components)
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        remote.to_owned()
    } else {
        format!("{remote}//{}", parts.join("/"))
    }
}

/// The label value for an identity: its last path segment (without `.git`, other characters
/// than letters, digits, `-`, `_` and `.` made `-`), a `-`, and the first 10 hex digits of the
/// SHA-256 of the whole identity. At most 63 characters, letters or digits at both ends.
pub fn derive_id(identity: &str) -> String {
    let last = identity.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let name = label_part(last, MAX_LABEL_VALUE - HASH_HEX - 1);
    let name = if name.is_empty() {
        "source"
    } else {
        name.as_str()
    };
    let hash = hex::encode(Sha256::digest(identity.as_bytes()));
    format!("{name}-{}", &hash[..HASH_HEX])
}

/// A directory name made into a label value (the fallback when no remote identifies the
/// source); `default` when nothing usable is left.
pub fn dir_name_id(name: &str) -> String {
    let id = label_part(name, MAX_LABEL_VALUE);
    if id.is_empty() {
        "default".to_owned()
    } else {
        id
    }
}

/// `s` with characters a label value cannot hold made `-`, cut to `max` characters, without
/// non-alphanumeric characters at either end.
fn label_part(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

pub use crate::spec::limits::is_label_value;

#[cfg(test)]
#[path = "derive_tests.rs"]
mod tests;
