//! Opt-in verification of SSH commit signatures (`--allowed-signers`), as `git verify-commit`
//! does with `gpg.format ssh` and `gpg.ssh.allowedSignersFile`.
//!
//! A commit is accepted when its `gpgsig` header holds an SSH signature (`-----BEGIN SSH
//! SIGNATURE-----`) in namespace `git`, made by a key that the allowed-signers file lists for
//! namespace `git` and for the commit's time, and the signature verifies over the commit as
//! signed (the commit object without its `gpgsig` header). Anything else is a [`VerifyError`]
//! whose [`VerifyError::reason`] is a stable label for metrics and status.
//!
//! Time: `valid-after`/`valid-before` are checked against the committer time, as git does (it
//! passes the commit time to `ssh-keygen -Y verify` as `-Overify-time`). The signer chooses that
//! time, so `valid-before` does not stop a stolen key from signing a back-dated commit: revoke a
//! key by removing its line.
//!
//! Not covered: signed tags (a pinned tag's commit is verified, the tag object is not),
//! OpenPGP and X.509 signatures (refused with their own reasons), OpenSSH certificates.

use std::path::Path;

use git2::{Commit, ErrorCode, Repository};
use jiff::Timestamp;
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey, SshSig};

use super::allowed_signers::{AllowedSigners, AllowedSignersError, Entry, Validity};
use super::error::SourceError;
use super::git::corrupt;

/// The signature namespace of git commits and tags.
pub const NAMESPACE: &str = "git";

/// A commit whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principals field of the allowed-signers line that accepted the key.
    pub principal: String,
    /// SHA-256 fingerprint of the signing key (`SHA256:…`, as ssh-keygen prints it).
    pub fingerprint: String,
}

/// Why a commit's signature is not accepted. [`VerifyError::reason`] names the variant; no
/// decision reads the message.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The commit has no signature.
    #[error("it is not signed")]
    Unsigned,
    /// An OpenPGP (gpg) signature.
    #[error(
        "it has an OpenPGP signature; only SSH signatures are verified (git config gpg.format ssh)"
    )]
    OpenPgp,
    /// An X.509 (gpgsm) signature.
    #[error(
        "it has an X.509 signature; only SSH signatures are verified (git config gpg.format ssh)"
    )]
    X509,
    /// The signature cannot be read.
    #[error("its signature is malformed: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// An SSH signature made for another purpose than git.
    #[error("its SSH signature is for namespace {namespace:?}, not \"git\"")]
    WrongNamespace {
        /// The signature's namespace.
        namespace: String,
    },
    /// The signing key is not in the allowed-signers file.
    #[error(
        "it is signed by key {fingerprint}, which allowed-signers file {} does not list",
        path.display()
    )]
    UnknownKey {
        /// SHA-256 fingerprint of the signing key.
        fingerprint: String,
        /// The allowed-signers file.
        path: std::path::PathBuf,
    },
    /// The key is listed, but its `namespaces` option leaves out `git`.
    #[error(
        "it is signed by key {fingerprint} of {principal}, which {}:{line} allows only for \
         namespaces {namespaces:?}, not \"git\"",
        path.display()
    )]
    NotAllowedForGit {
        /// SHA-256 fingerprint of the signing key.
        fingerprint: String,
        /// The principals of the line.
        principal: String,
        /// The allowed-signers file.
        path: std::path::PathBuf,
        /// The line.
        line: usize,
        /// Its `namespaces` option.
        namespaces: String,
    },
    /// The commit time is before the key's `valid-after`.
    #[error(
        "it is signed by key {fingerprint} of {principal}, which {}:{line} allows only from \
         {valid_after} on, after the commit time {commit_time}",
        path.display()
    )]
    NotYetValid {
        /// SHA-256 fingerprint of the signing key.
        fingerprint: String,
        /// The principals of the line.
        principal: String,
        /// The allowed-signers file.
        path: std::path::PathBuf,
        /// The line.
        line: usize,
        /// Its `valid-after`.
        valid_after: Timestamp,
        /// The committer time.
        commit_time: Timestamp,
    },
    /// The commit time is after the key's `valid-before`.
    #[error(
        "it is signed by key {fingerprint} of {principal}, which {}:{line} allows only up to \
         {valid_before}, before the commit time {commit_time}",
        path.display()
    )]
    Expired {
        /// SHA-256 fingerprint of the signing key.
        fingerprint: String,
        /// The principals of the line.
        principal: String,
        /// The allowed-signers file.
        path: std::path::PathBuf,
        /// The line.
        line: usize,
        /// Its `valid-before`.
        valid_before: Timestamp,
        /// The committer time.
        commit_time: Timestamp,
    },
    /// The signature does not verify over the commit: changed after signing, or forged.
    #[error(
        "its signature by key {fingerprint} does not match the commit (changed after it was \
         signed, or forged)"
    )]
    BadSignature {
        /// SHA-256 fingerprint of the key the signature names.
        fingerprint: String,
    },
    /// The allowed-signers file cannot be read or has a bad line.
    #[error("{error}")]
    AllowedSignersFile {
        /// What is wrong with it (part of the message, not a `source()`).
        error: AllowedSignersError,
    },
}

impl VerifyError {
    /// Every [`VerifyError::reason`], for documentation and metric series.
    pub const REASONS: [&'static str; 11] = [
        "unsigned",
        "openPgp",
        "x509",
        "malformed",
        "wrongNamespace",
        "unknownKey",
        "notAllowedForGit",
        "notYetValid",
        "expired",
        "badSignature",
        "allowedSignersFile",
    ];

    /// A stable camelCase label for metrics, status and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::OpenPgp => "openPgp",
            Self::X509 => "x509",
            Self::Malformed { .. } => "malformed",
            Self::WrongNamespace { .. } => "wrongNamespace",
            Self::UnknownKey { .. } => "unknownKey",
            Self::NotAllowedForGit { .. } => "notAllowedForGit",
            Self::NotYetValid { .. } => "notYetValid",
            Self::Expired { .. } => "expired",
            Self::BadSignature { .. } => "badSignature",
            Self::AllowedSignersFile { .. } => "allowedSignersFile",
        }
    }
}

impl From<AllowedSignersError> for VerifyError {
    fn from(error: AllowedSignersError) -> Self {
        Self::AllowedSignersFile { error }
    }
}

/// Verifies `signature` (the armored `gpgsig` header) over `signed` (the commit without that
/// header), made at `time` (the committer time), against `signers`.
pub fn verify_signature(
    signature: &[u8],
    signed: &[u8],
    time: Timestamp,
    signers: &AllowedSigners,
) -> Result<Verified, VerifyError> {
    let armor = signature.trim_ascii_start();
    if armor.is_empty() {
        return Err(VerifyError::Unsigned);
    }
    if armor.starts_with(b"-----BEGIN PGP ") {
        return Err(VerifyError::OpenPgp);
    }
    if armor.starts_with(b"-----BEGIN SIGNED MESSAGE-----") {
        return Err(VerifyError::X509);
    }
    if !armor.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
        return Err(VerifyError::Malformed {
            detail: "not an SSH, OpenPGP or X.509 signature".into(),
        });
    }
    let sig = SshSig::from_pem(armor).map_err(|e| VerifyError::Malformed {
        detail: format!("failed to decode the SSH signature: {e}"),
    })?;
    if sig.namespace() != NAMESPACE {
        return Err(VerifyError::WrongNamespace {
            namespace: sig.namespace().to_owned(),
        });
    }
    let key = sig.public_key();
    let fingerprint = fingerprint(key);
    let lines: Vec<&Entry> = signers.entries_for(key).collect();
    if lines.is_empty() {
        return Err(VerifyError::UnknownKey {
            fingerprint,
            path: signers.path().to_path_buf(),
        });
    }
    // The signature first: the policy reasons below are about genuine signatures.
    match PublicKey::new(key.clone(), "").verify(NAMESPACE, signed, &sig) {
        Ok(()) => {}
        Err(ssh_key::Error::AlgorithmUnsupported { algorithm }) => {
            return Err(VerifyError::Malformed {
                detail: format!("unsupported signature algorithm {algorithm}"),
            });
        }
        Err(_) => return Err(VerifyError::BadSignature { fingerprint }),
    }
    if let Some(ok) = lines
        .iter()
        .find(|e| e.allows_namespace(NAMESPACE) && e.validity_at(time) == Validity::Valid)
    {
        return Ok(Verified {
            principal: ok.principals.clone(),
            fingerprint,
        });
    }
    // Refused: say why, preferring a line that allows git (its time is what is wrong).
    let path = signers.path().to_path_buf();
    let entry = lines
        .iter()
        .find(|e| e.allows_namespace(NAMESPACE))
        .unwrap_or(&lines[0]);
    let principal = entry.principals.clone();
    let line = entry.line;
    Err(
        match (entry.allows_namespace(NAMESPACE), entry.validity_at(time)) {
            (false, _) | (true, Validity::Valid) => VerifyError::NotAllowedForGit {
                fingerprint,
                principal,
                path,
                line,
                namespaces: entry.namespaces.clone().unwrap_or_default(),
            },
            (true, Validity::NotYetValid(valid_after)) => VerifyError::NotYetValid {
                fingerprint,
                principal,
                path,
                line,
                valid_after,
                commit_time: time,
            },
            (true, Validity::Expired(valid_before)) => VerifyError::Expired {
                fingerprint,
                principal,
                path,
                line,
                valid_before,
                commit_time: time,
            },
        },
    )
}

/// `SHA256:…` of `key`.
fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Verifies `commit` against the allowed-signers file at `allowed_signers`, read now (so a
/// rotated file counts from the next fetch on). A refused commit is
/// [`SourceError::Unverified`]; a commit that cannot be read is [`SourceError::Corrupt`].
pub(crate) fn check_commit(
    repo: &Repository,
    commit: &Commit<'_>,
    allowed_signers: &Path,
) -> Result<Verified, SourceError> {
    let oid = commit.id();
    let unverified = |error: VerifyError| SourceError::Unverified {
        revision: oid.to_string(),
        error: Box::new(error),
    };
    let signers = AllowedSigners::load(allowed_signers).map_err(|e| unverified(e.into()))?;
    let (signature, signed) = match repo.extract_signature(&oid, None) {
        Ok(pair) => pair,
        Err(e) if e.code() == ErrorCode::NotFound => return Err(unverified(VerifyError::Unsigned)),
        Err(e) => return Err(corrupt(repo, &format!("signature of commit {oid}"), &e)),
    };
    let time = Timestamp::from_second(commit.committer().when().seconds()).map_err(|_| {
        unverified(VerifyError::Malformed {
            detail: "its committer time is out of range".into(),
        })
    })?;
    verify_signature(&signature, &signed, time, &signers).map_err(unverified)
}

/// Verifies the commit `oid` that a fetch just resolved, before anything of it is used. When
/// it is refused, the tracked ref goes back to `previous` (the last accepted fetch), so a
/// refused commit leaves no trace but its objects.
pub(crate) fn gate(
    repo: &Repository,
    oid: git2::Oid,
    previous: Option<git2::Oid>,
    allowed_signers: &Path,
) -> Result<Verified, SourceError> {
    let commit = repo
        .find_commit(oid)
        .map_err(|e| corrupt(repo, &format!("commit {oid}"), &e))?;
    match check_commit(repo, &commit, allowed_signers) {
        Ok(v) => {
            tracing::debug!(commit = %oid, principal = %v.principal, key = %v.fingerprint, "commit signature verified");
            Ok(v)
        }
        Err(e) => {
            if let SourceError::Unverified { error, .. } = &e {
                tracing::warn!(
                    commit = %oid,
                    reason = error.reason(),
                    error = %e,
                    "commit not applied: its signature is not accepted; the last good checkout stays"
                );
                if let Err(reset) = super::git::reset_tracked(repo, previous) {
                    tracing::warn!(error = %reset, "failed to reset the tracked ref");
                }
            }
            Err(e)
        }
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
