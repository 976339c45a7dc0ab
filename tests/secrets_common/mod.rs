//! Helpers shared by the secrets integration tests.
#![allow(dead_code)]

pub mod peer;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use mlsync::secrets::keys::parse_identities;

/// `tests/data/sops/<name>`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sops")
        .join(name)
}

/// The public test identity the `sops` fixtures are encrypted to.
pub fn fixture_identity() -> Identity {
    let text = std::fs::read_to_string(data("test-age-key.txt")).unwrap();
    parse_identities(&text, "test-age-key.txt")
        .unwrap()
        .remove(0)
}

/// The recipient of the fixture identity.
pub const FIXTURE_RECIPIENT: &str =
    "age1se5ghfycr4n8kcwc3qwf234ymvmr2lex2a99wh8gpfx97glwt9hqch4569";

/// Writes `identity` in age-keygen format to `dir/name` with `mode`.
pub fn write_key(dir: &Path, name: &str, identity: &Identity, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# test key\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}
