//! Secrets of receivers (an HMAC key, a Slack webhook URL): read from files that only mlsync
//! may read, held in [`Secret`], which prints as `<redacted>` and zeroizes on drop.
//!
//! The permission rule is the one of the age key file (`src/secrets/keys.rs`, OpenSSH's rule
//! for private keys): never accessible to others, never group-writable, and group-readable only
//! when the file belongs to someone else (a root-owned Secret volume mounted with `fsGroup`,
//! mode 0440, or a systemd credential).

use std::fmt;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::NotificationsError;

/// Bytes that must not be shown: `Debug` prints `<redacted>`; the buffer is zeroized on drop.
#[derive(Clone)]
pub(crate) struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps `bytes`.
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext. Callers must not log or persist it.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Reads the secret file of `receiver` after checking its permissions; trailing `\n` and `\r`
/// are trimmed; an empty secret is refused.
pub(crate) fn read_secret_file(receiver: &str, file: &Path) -> Result<Secret, NotificationsError> {
    let read_error = |cause| NotificationsError::Read {
        receiver: receiver.to_owned(),
        file: file.to_owned(),
        cause,
    };
    let meta = std::fs::metadata(file).map_err(read_error)?;
    let mode = meta.permissions().mode() & 0o7777;
    let me = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    if crate::secrets::keys::too_open(mode, meta.uid(), me) {
        return Err(NotificationsError::Permissions {
            receiver: receiver.to_owned(),
            file: file.to_owned(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(std::fs::read(file).map_err(read_error)?);
    let end = bytes
        .iter()
        .rposition(|b| *b != b'\n' && *b != b'\r')
        .map_or(0, |i| i + 1);
    // `truncate` keeps the buffer, which `Zeroizing` clears entirely on drop.
    bytes.truncate(end);
    if bytes.is_empty() {
        return Err(NotificationsError::EmptySecret {
            receiver: receiver.to_owned(),
            file: file.to_owned(),
        });
    }
    Ok(Secret::new(std::mem::take(&mut *bytes)))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn file_with(content: &[u8], mode: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        file
    }

    #[test]
    fn trims_trailing_newlines_only() {
        let file = file_with(b" key with spaces \r\n\n", 0o600);
        let secret = read_secret_file("hook", file.path()).unwrap();
        assert_eq!(secret.expose(), b" key with spaces ");
        assert_eq!(format!("{secret:?}"), "<redacted>");
    }

    #[test]
    fn refuses_open_and_empty_files() {
        let open = file_with(b"key\n", 0o644);
        let err = read_secret_file("hook", open.path()).unwrap_err();
        assert!(matches!(
            err,
            NotificationsError::Permissions { mode: 0o644, .. }
        ));
        let empty = file_with(b"\n", 0o600);
        let err = read_secret_file("hook", empty.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to read {} (notification receiver hook): it is empty",
                empty.path().display()
            )
        );
    }

    #[test]
    fn names_a_missing_file() {
        let err = read_secret_file("hook", Path::new("/nonexistent/key")).unwrap_err();
        assert!(matches!(err, NotificationsError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("failed to read /nonexistent/key (notification receiver hook): "),
            "{err}"
        );
    }
}
