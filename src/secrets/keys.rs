//! Where age identities come from, in this order (all that are present are used):
//!
//! 1. `--age-key-file FILE` / `SOPS_AGE_KEY_FILE=FILE` (refused if group/others can access it),
//! 2. `SOPS_AGE_KEY` (identities inline, one per line),
//! 3. the systemd credential [`CREDENTIAL_NAME`]: `$CREDENTIALS_DIRECTORY/age-key`
//!    (`LoadCredential=age-key:/etc/mlsync/age-key.txt` or `LoadCredentialEncrypted=`).
//!
//! Identity text is `age-keygen` format: `AGE-SECRET-KEY-1…` lines, `#` comments, blank lines.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use age::x25519::Identity;
use zeroize::Zeroizing;

use super::SecretsError;

/// The systemd credential name mlsync reads age identities from.
pub const CREDENTIAL_NAME: &str = "age-key";

/// Where to find age identities.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// File with age identities (`age-keygen` format, mode 0600). Also read:
    /// SOPS_AGE_KEY (inline identities) and $CREDENTIALS_DIRECTORY/age-key.
    pub age_key_file: Option<PathBuf>,
}

/// Loads identities from `args`, `$SOPS_AGE_KEY` and `$CREDENTIALS_DIRECTORY`.
pub fn load_identities(args: &KeyOptions) -> Result<Vec<Identity>, SecretsError> {
    let inline = std::env::var("SOPS_AGE_KEY").ok().map(Zeroizing::new);
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    load_from(
        args.age_key_file.as_deref(),
        inline.as_deref().map(String::as_str),
        creds.as_deref(),
    )
}

/// [`load_identities`] with the environment passed in (for tests).
pub fn load_from(
    key_file: Option<&Path>,
    inline: Option<&str>,
    credentials_dir: Option<&Path>,
) -> Result<Vec<Identity>, SecretsError> {
    let mut identities = Vec::new();
    if let Some(file) = key_file {
        identities.extend(read_identity_file(file)?);
    }
    if let Some(text) = inline.filter(|t| !t.trim().is_empty()) {
        identities.extend(parse_identities(text, "$SOPS_AGE_KEY")?);
    }
    if let Some(dir) = credentials_dir {
        let file = dir.join(CREDENTIAL_NAME);
        if file.exists() {
            identities.extend(read_identity_file(&file)?);
        }
    }
    Ok(identities)
}

/// OpenSSH's rule for private keys: never accessible to others, never group-writable, and
/// group-readable only when the file belongs to someone else — a root-owned Secret volume
/// mounted with `fsGroup` (mode 0440) or a systemd credential — never the caller's own file.
pub fn too_open(mode: u32, owner: u32, me: Option<u32>) -> bool {
    mode & 0o007 != 0 || mode & 0o020 != 0 || (mode & 0o040 != 0 && Some(owner) == me)
}

#[cfg(test)]
#[test]
fn identity_file_permission_rule() {
    assert!(!too_open(0o600, 1000, Some(1000)));
    assert!(!too_open(0o400, 1000, Some(1000)));
    assert!(
        too_open(0o640, 1000, Some(1000)),
        "own file, group-readable"
    );
    assert!(too_open(0o644, 0, Some(1000)), "world-readable");
    assert!(too_open(0o460, 0, Some(1000)), "group-writable");
    assert!(
        !too_open(0o440, 0, Some(1000)),
        "root-owned Secret volume with fsGroup"
    );
}

/// Reads an identity file after checking its permissions (see `too_open`).
pub fn read_identity_file(file: &Path) -> Result<Vec<Identity>, SecretsError> {
    let meta = std::fs::metadata(file).map_err(|cause| SecretsError::Read {
        file: file.to_owned(),
        cause,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    let me = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    if too_open(mode, meta.uid(), me) {
        return Err(SecretsError::IdentityPermissions {
            file: file.to_owned(),
            mode,
        });
    }
    let text =
        Zeroizing::new(
            std::fs::read_to_string(file).map_err(|cause| SecretsError::Read {
                file: file.to_owned(),
                cause,
            })?,
        );
    parse_identities(&text, &file.display().to_string())
}

/// Parses `age-keygen` identity text. Errors give line numbers, never line content.
pub fn parse_identities(text: &str, origin: &str) -> Result<Vec<Identity>, SecretsError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity = line
            .parse::<Identity>()
            .map_err(|_| SecretsError::Identity {
                origin: origin.to_owned(),
                reason: format!(
                    "line {} is not an age X25519 identity (AGE-SECRET-KEY-1…); plugin and SSH \
                 identities are not supported",
                    n + 1
                ),
            })?;
        out.push(identity);
    }
    if out.is_empty() {
        return Err(SecretsError::Identity {
            origin: origin.to_owned(),
            reason: "it holds no identity".to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn parses_keygen_format_and_hides_bad_lines() {
        let id = Identity::generate();
        let text = format!(
            "# created: now\n# public key: {}\n\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        );
        let ids = parse_identities(&text, "t").unwrap();
        assert_eq!(ids[0].to_public().to_string(), id.to_public().to_string());

        let Err(err) = parse_identities("AGE-SECRET-KEY-1NOTAKEYATALL\n", "t") else {
            panic!("accepted a bad identity");
        };
        let err = err.to_string();
        assert!(err.contains("line 1") && !err.contains("NOTAKEY"), "{err}");
        assert!(parse_identities("# only comments\n", "t").is_err());
    }
}
