//! The error type of the git source. Messages never contain tokens or URL passwords.

use std::path::PathBuf;

/// Everything that can go wrong while getting a checkout.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `--repo` has a scheme other than ssh, https, http, git or file.
    #[error(
        "failed to use repository {repo}: unsupported URL scheme (use ssh://, https://, git://, file:// or a path)"
    )]
    UnsupportedUrl {
        /// The repository as given (password redacted).
        repo: String,
    },
    /// `--ref` or `--branch` is not usable.
    #[error("failed to use ref {value:?}: {reason}")]
    InvalidRef {
        /// The value given.
        value: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// `--path` is absolute or leaves the repository.
    #[error("failed to use --path {path:?}: it must be a relative path inside the repository")]
    InvalidSubdir {
        /// The value given.
        path: PathBuf,
    },
    /// A credential file could not be read.
    #[error("failed to read {what} file {}: {cause}", path.display())]
    CredentialFile {
        /// `git token`, `ssh key`, …
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// An SSH remote was given without any known_hosts file to verify it against.
    #[error(
        "failed to verify ssh host key of {host}: no known_hosts file configured \
         (set --known-hosts / MLSYNC_KNOWN_HOSTS); refusing to connect"
    )]
    NoKnownHosts {
        /// `host` or `[host]:port`.
        host: String,
    },
    /// The SSH host is not listed in the known_hosts file.
    #[error(
        "failed to verify ssh host key of {host}: host is not in known_hosts file {known_hosts} \
         (presented {key_type} key {fingerprint}); refusing to connect"
    )]
    HostKeyUnknown {
        /// `host` or `[host]:port`.
        host: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// Type of the presented key.
        key_type: String,
        /// SHA256 fingerprint of the presented key.
        fingerprint: String,
    },
    /// The SSH host is listed with a different key (or the key is revoked).
    #[error(
        "failed to verify ssh host key of {host}: presented {key_type} key {fingerprint} does \
         not match known_hosts file {known_hosts} ({detail}); the host key CHANGED or is \
         revoked, refusing to connect"
    )]
    HostKeyChanged {
        /// `host` or `[host]:port`.
        host: String,
        /// The known_hosts file consulted.
        known_hosts: PathBuf,
        /// Type of the presented key.
        key_type: String,
        /// SHA256 fingerprint of the presented key.
        fingerprint: String,
        /// What the file lists instead.
        detail: String,
    },
    /// A token is configured for a plain `http://` remote that is not on the loopback interface.
    #[error(
        "failed to fetch from {url}: refusing to send the git token over plain http (use https)"
    )]
    CleartextToken {
        /// The remote (password redacted).
        url: String,
    },
    /// A filesystem operation in the state directory failed.
    #[error("failed to {action} {}: {cause}", path.display())]
    Io {
        /// What was being done, e.g. `create state directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// The local bare repository could not be created or opened.
    #[error("failed to {action} local clone {path}: {message}")]
    LocalRepo {
        /// `open`, `create`, …
        action: &'static str,
        /// The bare repository.
        path: PathBuf,
        /// libgit2's message.
        message: String,
    },
    /// Fetching from the remote failed (unreachable, auth, protocol).
    #[error("failed to fetch {what} from {url}: {message}")]
    Fetch {
        /// `branch main`, `tag v1`, `commit <sha>`.
        what: String,
        /// The remote (password redacted).
        url: String,
        /// libgit2's message, scrubbed of secrets.
        message: String,
    },
    /// The remote does not have the requested branch/tag/commit.
    #[error("failed to find {what} in {url}")]
    RefNotFound {
        /// `branch main`, `tag v1`, `commit <sha>`.
        what: String,
        /// The remote (password redacted).
        url: String,
    },
    /// The local clone is missing objects or refs it should have (it will be re-cloned).
    #[error("failed to read {what} from local clone {path}: {message}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// The bare repository.
        path: PathBuf,
        /// libgit2's message.
        message: String,
    },
    /// The commit has no directory at `--path`.
    #[error("failed to find --path {subdir} in commit {commit}: no such directory")]
    SubdirMissing {
        /// The subdirectory asked for.
        subdir: PathBuf,
        /// The full commit id.
        commit: String,
    },
    /// A tree entry would be written outside the checkout (bad name or escaping symlink).
    #[error("failed to check out {path} in commit {commit}: {reason}")]
    UnsafePath {
        /// Path of the entry inside the repository.
        path: String,
        /// The full commit id.
        commit: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `--allowed-signers`: the fetched commit's signature is not accepted, so nothing of it is
    /// used (the last good checkout stays).
    #[error("failed to verify the signature of commit {revision}: {error}")]
    Unverified {
        /// The full commit id.
        revision: String,
        /// Why (see [`super::VerifyError::reason`]; part of the message, not a `source()`).
        error: Box<super::VerifyError>,
    },
    /// `--allowed-signers` names a file that cannot be used (checked at start).
    #[error("{error}")]
    AllowedSigners {
        /// What is wrong with it (part of the message, not a `source()`).
        error: super::AllowedSignersError,
    },
}

impl SourceError {
    /// Whether the error suggests the local clone is damaged (wipe and re-clone helps).
    pub fn is_local_corruption(&self) -> bool {
        matches!(self, Self::LocalRepo { .. } | Self::Corrupt { .. })
    }

    /// The refused commit and [`super::VerifyError::reason`], when the fetched commit's
    /// signature was refused.
    pub fn unverified(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::Unverified { revision, error } => Some((revision, error.reason())),
            _ => None,
        }
    }
}
