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
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use ssh_key::{Algorithm, LineEnding, PrivateKey};

    fn key() -> PrivateKey {
        PrivateKey::random(&mut rand::rngs::OsRng, Algorithm::Ed25519).unwrap()
    }

    fn sign(key: &PrivateKey, namespace: &str, data: &[u8]) -> Vec<u8> {
        let sig = SshSig::sign(key, namespace, HashAlg::Sha512, data).unwrap();
        sig.to_pem(LineEnding::LF).unwrap().into_bytes()
    }

    fn signers(lines: &str) -> AllowedSigners {
        AllowedSigners::parse(Path::new("signers"), lines, &TimeZone::UTC).unwrap()
    }

    fn line(principal: &str, options: &str, key: &PrivateKey) -> String {
        let public = key.public_key().to_openssh().unwrap();
        format!("{principal} {options} {public}\n")
    }

    const T: &str = "2025-06-01T12:00:00Z";

    fn check(sig: &[u8], data: &[u8], file: &AllowedSigners) -> Result<Verified, &'static str> {
        verify_signature(sig, data, T.parse().unwrap(), file).map_err(|e| e.reason())
    }

    #[test]
    fn good_signature_names_principal_and_fingerprint() {
        let k = key();
        let file = signers(&line("alice@example.com", "", &k));
        let got = check(&sign(&k, "git", b"tree 1\n"), b"tree 1\n", &file).unwrap();
        assert_eq!(got.principal, "alice@example.com");
        assert_eq!(
            got.fingerprint,
            k.public_key().fingerprint(HashAlg::Sha256).to_string()
        );
        assert!(got.fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let k = key();
        let other = key();
        let data = b"tree 1\n";
        let good = sign(&k, "git", data);
        let file = signers(&line("a", "", &k));
        assert_eq!(check(b"", data, &file), Err("unsigned"));
        let pgp = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(check(pgp, data, &file), Err("openPgp"));
        let x509 = b"-----BEGIN SIGNED MESSAGE-----\nabc\n";
        assert_eq!(check(x509, data, &file), Err("x509"));
        assert_eq!(check(b"hello", data, &file), Err("malformed"));
        let cut = &good[..good.len() / 2];
        assert_eq!(check(cut, data, &file), Err("malformed"));
        assert_eq!(
            check(&sign(&k, "file", data), data, &file),
            Err("wrongNamespace")
        );
        assert_eq!(
            check(&sign(&other, "git", data), data, &file),
            Err("unknownKey")
        );
        assert_eq!(check(&good, b"tree 2\n", &file), Err("badSignature"));
        let file_only = signers(&line("a", "namespaces=\"file\"", &k));
        assert_eq!(check(&good, data, &file_only), Err("notAllowedForGit"));
        let later = signers(&line("a", "valid-after=\"20250602Z\"", &k));
        assert_eq!(check(&good, data, &later), Err("notYetValid"));
        let past = signers(&line("a", "valid-before=\"20250601\"", &k));
        assert_eq!(check(&good, data, &past), Err("expired"));
        // Several lines for one key: any that allows git at the commit time accepts it.
        let two = format!(
            "{}{}",
            line("old", "valid-before=\"20250101Z\"", &k),
            line(
                "new",
                "namespaces=\"git,file\",valid-after=\"20250101Z\"",
                &k
            )
        );
        assert_eq!(check(&good, data, &signers(&two)).unwrap().principal, "new");
        let err = verify_signature(&good, data, T.parse().unwrap(), &past).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "it is signed by key {} of a, which signers:1 allows only up to \
                 2025-06-01T00:00:00Z, before the commit time 2025-06-01T12:00:00Z",
                k.public_key().fingerprint(HashAlg::Sha256)
            )
        );
    }

    #[test]
    fn reasons_are_listed() {
        let all = [
            VerifyError::Unsigned,
            VerifyError::OpenPgp,
            VerifyError::X509,
            VerifyError::Malformed { detail: "x".into() },
            VerifyError::WrongNamespace {
                namespace: "x".into(),
            },
            VerifyError::UnknownKey {
                fingerprint: "x".into(),
                path: "f".into(),
            },
            VerifyError::NotAllowedForGit {
                fingerprint: "x".into(),
                principal: "p".into(),
                path: "f".into(),
                line: 1,
                namespaces: "file".into(),
            },
            VerifyError::NotYetValid {
                fingerprint: "x".into(),
                principal: "p".into(),
                path: "f".into(),
                line: 1,
                valid_after: Timestamp::UNIX_EPOCH,
                commit_time: Timestamp::UNIX_EPOCH,
            },
            VerifyError::Expired {
                fingerprint: "x".into(),
                principal: "p".into(),
                path: "f".into(),
                line: 1,
                valid_before: Timestamp::UNIX_EPOCH,
                commit_time: Timestamp::UNIX_EPOCH,
            },
            VerifyError::BadSignature {
                fingerprint: "x".into(),
            },
            VerifyError::AllowedSignersFile {
                error: AllowedSignersError::Line {
                    path: "f".into(),
                    line: 1,
                    problem: "x".into(),
                },
            },
        ];
        let reasons: Vec<&str> = all.iter().map(VerifyError::reason).collect();
        assert_eq!(reasons, VerifyError::REASONS);
    }
}
