//! Files mlsync encrypts decrypt back to the same data; rotation, key sources and the
//! identity-file permission check.

mod secrets_common;

use age::x25519::Identity;
use hmac::{Hmac, Mac};
use mlsync::secrets::keys::{KeyOptions, load_from};
use mlsync::secrets::sops::{self, Value, yaml};
use mlsync::secrets::{SecretSource, SecretsError, SopsSource};
use secrets_common::write_key;
use sha2::Sha256;

const PLAIN: &str = "DB_USER: admin\nDB_PASS: 'secure123'\nPORT: 5432\nRATIO: 0.75\n\
                     DEBUG: false\nEMPTY: ''\nNOTHING: null\nPEM: |\n  pem-line-one\n  abc\n";

fn plain_tree() -> Value {
    yaml::parse(PLAIN).unwrap()
}

#[test]
fn encrypt_then_load_gives_secret_bytes_and_keyed_hash() {
    let id = Identity::generate();
    let text = sops::encrypt(&plain_tree(), &[id.to_public()]).unwrap();
    for leaked in ["admin", "secure123", ": 5432", "0.75", "pem-line-one"] {
        assert!(
            !text.contains(leaked),
            "encrypted file contains {leaked}:\n{text}"
        );
    }
    let dec = sops::decrypt(&text, std::slice::from_ref(&id)).unwrap();
    assert!(dec.tree == plain_tree(), "round trip changed the tree");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.enc.yaml");
    std::fs::write(&file, &text).unwrap();
    let data = SopsSource::from_identities(vec![id]).load(&file).unwrap();
    let got: Vec<(String, String)> = data
        .entries
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.expose().to_vec()).unwrap()))
        .collect();
    let want = [
        ("DB_PASS", "secure123"),
        ("DB_USER", "admin"),
        ("DEBUG", "false"),
        ("EMPTY", ""),
        ("NOTHING", ""),
        ("PEM", "pem-line-one\nabc\n"),
        ("PORT", "5432"),
        ("RATIO", "0.75"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    );
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&dec.data_key[..]).unwrap();
    mac.update(b"mlsync config-hash v1");
    assert_eq!(data.hash_key.as_slice(), &mac.finalize().into_bytes()[..]);
    let shown = format!("{data:?}");
    assert!(
        !shown.contains("secure123") && !shown.contains("admin"),
        "{shown}"
    );
}

#[test]
fn every_recipient_can_decrypt_and_rotation_drops_old_ones() {
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let text = sops::encrypt(&plain_tree(), &[a.to_public(), b.to_public()]).unwrap();
    assert_eq!(sops::recipients(&text).unwrap().len(), 2);
    let via_a = sops::decrypt(&text, std::slice::from_ref(&a)).unwrap();
    let via_b = sops::decrypt(&text, std::slice::from_ref(&b)).unwrap();
    assert_eq!(*via_a.data_key, *via_b.data_key);

    let rotated = sops::reencrypt(&via_a, &[c.to_public()]).unwrap();
    assert_eq!(
        sops::recipients(&rotated).unwrap(),
        [c.to_public().to_string()]
    );
    let err = sops::decrypt(&rotated, std::slice::from_ref(&a))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&c.to_public().to_string()),
        "{err}"
    );
    let via_c = sops::decrypt(&rotated, std::slice::from_ref(&c)).unwrap();
    assert!(via_c.tree == plain_tree());
    assert_ne!(
        *via_c.data_key, *via_a.data_key,
        "rotation must use a new data key"
    );
}

#[test]
fn rotation_keeps_sops_encryption_rules() {
    let fixture =
        std::fs::read_to_string(secrets_common::data("age_unencrypted_suffix.enc.yaml")).unwrap();
    let dec = sops::decrypt(&fixture, &[secrets_common::fixture_identity()]).unwrap();
    let new = Identity::generate();
    let rotated = sops::reencrypt(&dec, &[new.to_public()]).unwrap();
    assert!(
        rotated.contains("  unencrypted_suffix: unencrypted\n"),
        "{rotated}"
    );
    assert!(
        rotated.contains("    a: aaa\n"),
        "suffix values stay plaintext:\n{rotated}"
    );
    let again = sops::decrypt(&rotated, &[new]).unwrap();
    assert!(again.tree == dec.tree);
}

#[test]
fn identity_file_readable_by_others_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::generate();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        let file = write_key(dir.path(), &format!("key-{mode:o}.txt"), &id, mode);
        let err = SopsSource::from_options(&KeyOptions {
            age_key_file: Some(file.clone()),
        })
        .unwrap_err();
        assert!(
            matches!(err, SecretsError::IdentityPermissions { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chmod 600 {}", file.display())),
            "{msg}"
        );
        assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
    }
    let ok = write_key(dir.path(), "ok.txt", &id, 0o600);
    assert_eq!(load_from(Some(&ok), None, None).unwrap().len(), 1);
    let ro = write_key(dir.path(), "ro.txt", &id, 0o400);
    assert_eq!(load_from(Some(&ro), None, None).unwrap().len(), 1);
}

#[test]
fn identities_come_from_file_inline_and_systemd_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let file = write_key(dir.path(), "a.txt", &a, 0o600);
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    write_key(&creds, "age-key", &c, 0o400);
    use age::secrecy::ExposeSecret;
    let inline = format!("# inline\n{}\n", b.to_string().expose_secret());
    let ids = load_from(Some(&file), Some(&inline), Some(&creds)).unwrap();
    let publics: Vec<String> = ids.iter().map(|i| i.to_public().to_string()).collect();
    assert_eq!(
        publics,
        [a, b, c]
            .iter()
            .map(|i| i.to_public().to_string())
            .collect::<Vec<_>>()
    );
    // A credentials directory without `age-key` adds nothing; a missing key file fails.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(load_from(None, None, Some(&empty)).unwrap().is_empty());
    let Err(err) = load_from(Some(&dir.path().join("missing.txt")), None, None) else {
        panic!("missing key file accepted");
    };
    assert!(err.to_string().contains("missing.txt"), "{err}");
    // A bad inline key is reported by line, without its content.
    let Err(err) = load_from(None, Some("AGE-SECRET-KEY-1BOGUS"), None) else {
        panic!("bad inline identity accepted");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("$SOPS_AGE_KEY") && !msg.contains("BOGUS"),
        "{msg}"
    );
}
