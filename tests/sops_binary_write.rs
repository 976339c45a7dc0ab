//! Files `mlsync secrets encrypt` and `mlsync secrets rotate` write decrypt with the real
//! `sops`, survive `sops updatekeys`, `sops rotate` and edits through `sops set`, and mlsync
//! still reads them afterwards (and renders the edited Secret).

mod secrets_common;

use std::collections::BTreeMap;
use std::path::Path;

use secrets_common::peer::{Tool, age_keygen, encrypted_keys, rendered_secret, write};

const PLAIN: &str = "DB_USER: admin\nDB_PASS: \"p: #1 'x'\"\nPORT: 5432\nRATIO: 0.5\n\
                     TLS: true\nEMPTY: ''\nNOTHING: null\nPEM: |\n  line1\n  line2\n\
                     UNI: \"héllo ✓ 日本\"\nZIP: \"0123\"\nNOTE_unencrypted: not secret\n";

/// What `sops decrypt --output-type json` prints for [`PLAIN`] (JSON: types included).
fn plain_json() -> serde_json::Value {
    serde_json::json!({
        "DB_USER": "admin", "DB_PASS": "p: #1 'x'", "PORT": 5432, "RATIO": 0.5, "TLS": true,
        "EMPTY": "", "NOTHING": null, "PEM": "line1\nline2\n", "UNI": "héllo ✓ 日本",
        "ZIP": "0123", "NOTE_unencrypted": "not secret",
    })
}

fn sops_json(dir: &Path, key: &Path, file: &str) -> serde_json::Value {
    let out = Tool::sops(dir)
        .key(key)
        .run(&["decrypt", "--output-type", "json", file])
        .ok("sops decrypt");
    serde_json::from_str(&out.stdout).unwrap()
}

fn mlsync_decrypt(dir: &Path, key: &Path, file: &str) -> String {
    Tool::mlsync(dir)
        .key(key)
        .run(&["secrets", "decrypt", file])
        .ok("mlsync secrets decrypt")
        .stdout
}

#[test]
fn sops_decrypts_what_mlsync_encrypts_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (k1, k2, k3) = (
        age_keygen(d, "k1.txt"),
        age_keygen(d, "k2.txt"),
        age_keygen(d, "k3.txt"),
    );
    write(d, "app.enc.yaml", PLAIN);
    let both = format!("{},{}", k1.recipient, k2.recipient);
    Tool::mlsync(d)
        .run(&[
            "secrets",
            "encrypt",
            "--age",
            &both,
            "--in-place",
            "app.enc.yaml",
        ])
        .ok("mlsync secrets encrypt");
    // Like sops, mlsync leaves keys ending in `_unencrypted` in plaintext and says so in `sops:`
    // (sops reads a file without a rule that way, so encrypting them would break its MAC check).
    let text = std::fs::read_to_string(d.join("app.enc.yaml")).unwrap();
    assert!(text.contains("\nNOTE_unencrypted: not secret\n"), "{text}");
    assert!(
        text.contains("  unencrypted_suffix: _unencrypted\n"),
        "{text}"
    );
    assert_eq!(encrypted_keys(&text).len(), 8, "{text}");
    assert_eq!(sops_json(d, &k1.file, "app.enc.yaml"), plain_json());
    assert_eq!(sops_json(d, &k2.file, "app.enc.yaml"), plain_json());
    let denied = Tool::sops(d)
        .key(&k3.file)
        .run(&["decrypt", "app.enc.yaml"]);
    assert_ne!(
        denied.code, 0,
        "sops decrypted with a key that is not a recipient"
    );

    // Rotate to k3 only: sops reads it with k3, no longer with k1.
    Tool::mlsync(d)
        .key(&k1.file)
        .run(&["secrets", "rotate", "--age", &k3.recipient, "app.enc.yaml"])
        .ok("mlsync secrets rotate");
    assert_eq!(sops_json(d, &k3.file, "app.enc.yaml"), plain_json());
    let denied = Tool::sops(d)
        .key(&k1.file)
        .run(&["decrypt", "app.enc.yaml"]);
    assert_ne!(denied.code, 0, "sops decrypted with a rotated-out key");
}

#[test]
fn mlsync_reads_files_after_sops_updatekeys_rotate_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (k1, k2) = (age_keygen(d, "k1.txt"), age_keygen(d, "k2.txt"));
    let file = "secrets/app.enc.yaml";
    write(d, file, PLAIN);
    Tool::mlsync(d)
        .run(&[
            "secrets",
            "encrypt",
            "--age",
            &k1.recipient,
            "--in-place",
            file,
        ])
        .ok("mlsync secrets encrypt");

    // updatekeys: a .sops.yaml rule adds k2; k2 can then read the file in mlsync.
    write(
        d,
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - path_regex: ^secrets/.*\\.enc\\.yaml$\n    age: >-\n      \
             {},\n      {}\n",
            k1.recipient, k2.recipient
        ),
    );
    assert_ne!(
        Tool::mlsync(d)
            .key(&k2.file)
            .run(&["secrets", "decrypt", file])
            .code,
        0,
        "k2 is not a recipient yet"
    );
    Tool::sops(d)
        .key(&k1.file)
        .run(&["updatekeys", "--yes", file])
        .ok("sops updatekeys");
    let before_rotate = std::fs::read_to_string(d.join(file)).unwrap();
    assert_eq!(before_rotate.matches("recipient: age1").count(), 2);
    let plain = mlsync_decrypt(d, &k2.file, file);
    assert!(yaml_eq(&plain, PLAIN), "{plain}");

    // sops rotate: a new data key (every ciphertext changes); mlsync reads it with either key.
    Tool::sops(d)
        .key(&k2.file)
        .run(&["rotate", "--in-place", file])
        .ok("sops rotate");
    let rotated = std::fs::read_to_string(d.join(file)).unwrap();
    let first_value = |t: &str| t.lines().next().unwrap().to_owned();
    assert_ne!(first_value(&rotated), first_value(&before_rotate));
    assert!(yaml_eq(&mlsync_decrypt(d, &k1.file, file), PLAIN));
    assert!(yaml_eq(&mlsync_decrypt(d, &k2.file, file), PLAIN));

    // sops set: change a value, add one (sops stores a JSON number as a float).
    for (path, value) in [
        (r#"["DB_PASS"]"#, r#""n3w: #2""#),
        (r#"["NEW_KEY"]"#, r#""added""#),
        (r#"["PORT"]"#, "5433"),
    ] {
        Tool::sops(d)
            .key(&k1.file)
            .run(&["set", file, path, value])
            .ok("sops set");
    }
    let got = rendered_secret(d, file, &k2.file);
    let mut want = base_secret();
    want.insert("DB_PASS".into(), "n3w: #2".into());
    want.insert("NEW_KEY".into(), "added".into());
    want.insert("PORT".into(), "5433".into());
    assert_eq!(got, want);

    // And mlsync rotates the sops-edited file back to k1 alone; sops still reads it.
    Tool::mlsync(d)
        .key(&k2.file)
        .run(&["secrets", "rotate", "--age", &k1.recipient, file])
        .ok("mlsync secrets rotate");
    let json = sops_json(d, &k1.file, file);
    assert_eq!(json["DB_PASS"], "n3w: #2");
    assert_eq!(json["PORT"], 5433.0);
    assert_eq!(rendered_secret(d, file, &k1.file), want);
}

/// The Secret data of [`PLAIN`].
fn base_secret() -> BTreeMap<String, String> {
    [
        ("DB_USER", "admin"),
        ("DB_PASS", "p: #1 'x'"),
        ("PORT", "5432"),
        ("RATIO", "0.5"),
        ("TLS", "true"),
        ("EMPTY", ""),
        ("NOTHING", ""),
        ("PEM", "line1\nline2\n"),
        ("UNI", "héllo ✓ 日本"),
        ("ZIP", "0123"),
        ("NOTE_unencrypted", "not secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn yaml_eq(a: &str, b: &str) -> bool {
    use mlsync::secrets::sops::yaml::parse;
    parse(a).unwrap() == parse(b).unwrap()
}

/// The example repo's files (written by mlsync) are readable by a team that uses `sops`.
#[test]
fn example_repo_secrets_decrypt_with_sops() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("demo-age-key.txt");
    std::fs::copy(root.join("demo-age-key.txt"), &key).unwrap();
    for (file, want) in [
        (
            "iris-classifier.enc.yaml",
            serde_json::json!({"DB_USER": "admin", "DB_PASS": "secure123"}),
        ),
        (
            "image-classifier.enc.yaml",
            serde_json::json!({
                "DB_USER": "vision", "DB_PASS": "demo-vision-pass-42",
                "S3_ACCESS_KEY": "DEMOACCESSKEY0000001", "S3_SECRET_KEY": "demo-s3-secret-not-real",
            }),
        ),
    ] {
        let path = root.join("secrets").join(file);
        assert_eq!(sops_json(dir.path(), &key, path.to_str().unwrap()), want);
    }
}
