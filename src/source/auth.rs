//! Credentials and host verification for fetches: SSH key + strict known_hosts, HTTPS token.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use zeroize::Zeroizing;

use super::error::SourceError;
use super::known_hosts::{KnownHosts, Verdict, fingerprint, host_entry_name};
use super::remote::{Remote, Transport};

/// Where an HTTPS token comes from. Files are re-read on every fetch, so rotated tokens apply.
#[derive(Clone)]
pub enum TokenSource {
    /// A file holding the token (surrounding whitespace is ignored).
    File(PathBuf),
    /// The token itself (e.g. from `MLSYNC_GIT_TOKEN`).
    Value(Zeroizing<String>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Value(_) => f.write_str("Value(<redacted>)"),
        }
    }
}

impl TokenSource {
    fn read(&self) -> Result<Zeroizing<String>, SourceError> {
        match self {
            Self::Value(v) => Ok(v.clone()),
            Self::File(path) => {
                let raw = Zeroizing::new(std::fs::read_to_string(path).map_err(|cause| {
                    SourceError::CredentialFile {
                        what: "git token",
                        path: path.clone(),
                        cause,
                    }
                })?);
                Ok(Zeroizing::new(raw.trim().to_string()))
            }
        }
    }
}

/// How to authenticate to the remote. `Debug` never shows the token.
#[derive(Debug, Clone, Default)]
pub struct GitAuth {
    /// Private key for SSH remotes (unencrypted OpenSSH/PEM key file).
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file that SSH host keys are checked against; SSH fails closed without it.
    pub known_hosts: Option<PathBuf>,
    /// Token for HTTPS remotes, sent as the basic-auth password.
    pub token: Option<TokenSource>,
    /// Basic-auth user name sent with the token (`x-access-token` unless configured).
    pub username: String,
}

/// Material loaded once per fetch (files re-read so rotations apply).
pub(crate) struct Loaded {
    known_hosts: Option<(PathBuf, KnownHosts)>,
    token: Option<Zeroizing<String>>,
}

impl Loaded {
    /// The token, to scrub it from error messages.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref().map(String::as_str)
    }
}

impl GitAuth {
    /// Reads the known_hosts file and token needed for `remote`, failing closed when an SSH
    /// remote has no known_hosts file.
    pub(crate) fn load(&self, remote: &Remote) -> Result<Loaded, SourceError> {
        let known_hosts = match (remote.transport, &self.known_hosts) {
            (Transport::Ssh, Some(path)) => Some((path.clone(), read_known_hosts(path)?)),
            (Transport::Ssh, None) => {
                return Err(SourceError::NoKnownHosts {
                    host: host_name(remote),
                });
            }
            _ => None,
        };
        let token = match (&self.token, remote.transport) {
            (Some(_), Transport::Http) if remote.is_cleartext_to_network() => {
                return Err(SourceError::CleartextToken {
                    url: remote.to_string(),
                });
            }
            (Some(source), Transport::Http) => Some(source.read()?),
            _ => None,
        };
        Ok(Loaded { known_hosts, token })
    }

    /// Builds libgit2 callbacks: credentials and host key checks. A refused host key is
    /// recorded in `rejection` (libgit2 replaces the callback's message with its own).
    pub(crate) fn callbacks<'a>(
        &'a self,
        remote: &'a Remote,
        loaded: &'a Loaded,
        rejection: &'a RefCell<Option<SourceError>>,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        let attempts = Cell::new(0u32);
        callbacks.credentials(move |_url, user_from_url, allowed| {
            attempts.set(attempts.get() + 1);
            if attempts.get() > 3 {
                return Err(git2::Error::from_str(
                    "authentication failed: credentials rejected",
                ));
            }
            self.credential(remote, loaded, user_from_url, allowed)
        });
        callbacks.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert.as_hostkey() else {
                // X.509 (HTTPS): let libgit2/OpenSSL verify against the system CAs.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let key_type = hostkey
                .hostkey_type()
                .map(|t| t.name())
                .unwrap_or("unknown");
            let verdict = match (&loaded.known_hosts, hostkey.hostkey()) {
                (Some((path, kh)), Some(key)) => check_host(remote, path, kh, key_type, key),
                _ => Err(SourceError::NoKnownHosts {
                    host: host_name(remote),
                }),
            };
            match verdict {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(e) => {
                    let message = e.to_string();
                    *rejection.borrow_mut() = Some(e);
                    Err(git2::Error::from_str(&message))
                }
            }
        });
        callbacks
    }

    fn credential(
        &self,
        remote: &Remote,
        loaded: &Loaded,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let ssh_user = user_from_url.unwrap_or("git");
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(ssh_user);
        }
        if allowed.contains(CredentialType::SSH_KEY)
            && let Some(key) = &self.ssh_key_file
        {
            return Cred::ssh_key(ssh_user, None, key, None);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Some(token) = &loaded.token
        {
            return Cred::userpass_plaintext(&self.username, token);
        }
        Err(git2::Error::from_str(&format!(
            "no credentials configured for {remote} (use --ssh-key-file or --git-token-file)"
        )))
    }
}

fn read_known_hosts(path: &Path) -> Result<KnownHosts, SourceError> {
    std::fs::read_to_string(path)
        .map(|text| KnownHosts::parse(&text))
        .map_err(|cause| SourceError::CredentialFile {
            what: "known_hosts",
            path: path.to_path_buf(),
            cause,
        })
}

fn host_name(remote: &Remote) -> String {
    host_entry_name(
        remote.host.as_deref().unwrap_or(""),
        remote.port.unwrap_or(22),
    )
}

fn check_host(
    remote: &Remote,
    path: &Path,
    kh: &KnownHosts,
    key_type: &str,
    key: &[u8],
) -> Result<(), SourceError> {
    let host = remote.host.as_deref().unwrap_or("");
    let port = remote.port.unwrap_or(22);
    let (known_hosts, fingerprint) = (path.to_path_buf(), fingerprint(key));
    let (host, key_type) = (host_entry_name(host, port), key_type.to_string());
    match kh.check(remote.host.as_deref().unwrap_or(""), port, &key_type, key) {
        Verdict::Trusted => {
            tracing::debug!(%host, %fingerprint, "ssh host key verified");
            Ok(())
        }
        Verdict::Unknown => Err(SourceError::HostKeyUnknown {
            host,
            known_hosts,
            key_type,
            fingerprint,
        }),
        Verdict::Revoked => Err(SourceError::HostKeyChanged {
            host,
            known_hosts,
            key_type,
            fingerprint,
            detail: "the key is marked @revoked".into(),
        }),
        Verdict::Changed { known_types } => Err(SourceError::HostKeyChanged {
            host,
            known_hosts,
            key_type,
            fingerprint,
            detail: format!(
                "it lists other {} key(s) for the host",
                known_types.join("/")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_token() {
        let auth = GitAuth {
            token: Some(TokenSource::Value(Zeroizing::new("ghp_supersecret".into()))),
            username: "x-access-token".into(),
            ..GitAuth::default()
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
