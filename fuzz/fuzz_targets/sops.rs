//! SOPS files: the YAML reader and writer, and decryption with the public test identities of
//! `tests/data/sops` and `example-repo` (so that the seeds decrypt and mutations reach the value
//! decryption and the MAC check).
//!
//! Checks: no panic; what the reader accepts, the writer writes so that it reads back to the
//! same text; a file that decrypts and verifies re-encrypts to one that decrypts to the same.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mlsync::secrets::keys::parse_identities;
use mlsync::secrets::sops::{self, yaml};

static IDENTITIES: LazyLock<Vec<age::x25519::Identity>> = LazyLock::new(|| {
    let mut ids = parse_identities(
        include_str!("../../tests/data/sops/test-age-key.txt"),
        "test",
    )
    .unwrap();
    ids.extend(
        parse_identities(include_str!("../../example-repo/demo-age-key.txt"), "demo").unwrap(),
    );
    ids
});

fuzz_target!(|text: &str| {
    if let Ok(tree) = yaml::parse(text) {
        let written = yaml::emit(&tree);
        let reread = yaml::parse(&written)
            .unwrap_or_else(|e| panic!("the writer's output does not read back: {e}"));
        assert_eq!(
            *written,
            *yaml::emit(&reread),
            "the writer's output changes on a re-read"
        );
    }
    let _ = sops::recipients(text);
    if let Ok(decrypted) = sops::decrypt(text, &IDENTITIES) {
        let recipients: Vec<_> = IDENTITIES.iter().map(|i| i.to_public()).collect();
        let sealed = sops::reencrypt(&decrypted, &recipients);
        // Refused when the file also uses master keys mlsync cannot re-create.
        if let Ok(sealed) = sealed {
            let again = sops::decrypt(&sealed, &IDENTITIES)
                .unwrap_or_else(|e| panic!("a re-encrypted file does not decrypt: {e}"));
            assert_eq!(*yaml::emit(&again.tree), *yaml::emit(&decrypted.tree));
        }
    }
});
