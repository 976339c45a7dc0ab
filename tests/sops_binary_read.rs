//! Files the real `sops` writes (`sops --encrypt --age …`, version pinned in
//! tests/peers/sops/go.mod) decrypt exactly in mlsync, in every encryption mode mlsync reads,
//! with every value type, and `mlsync render --show-secrets` renders the Secret the plaintext
//! says. Tampering is detected (or not, under `mac_only_encrypted`) the same way by both.

mod secrets_common;

use std::collections::BTreeMap;

use mlsync::secrets::sops::yaml;
use secrets_common::peer::{
    Tool, age_keygen, encrypted_keys, rendered_secret, sops_version, write,
};

/// Every value type, nested maps and lists, and keys for the suffix modes.
const PLAIN: &str = r#"STR: hello world
INT: 5432
NEG: -7
FLOAT: 0.75
FLOAT2: 1.50
BOOL: true
"NO": false
NULLV: null
EMPTY: ''
MULTI: |
  line one
  line two
UNI: "héllo ✓ 日本 🚀"
QUOTED: "0123"
SPECIAL: "p: #1 'x' \"y\""
PASS_secret: s3cret
HOST_public: db.example
nested:
  inner:
    k: v
    PIN_secret: 1234
  list:
    - a
    - 1
    - x_public: y
      z: 2.5
"#;

const ALL: &[&str] = &[
    "STR",
    "INT",
    "NEG",
    "FLOAT",
    "FLOAT2",
    "BOOL",
    "NO",
    "MULTI",
    "UNI",
    "QUOTED",
    "SPECIAL",
    "PASS_secret",
    "HOST_public",
];

fn all_but(skip: &str) -> Vec<&'static str> {
    ALL.iter().copied().filter(|k| *k != skip).collect()
}

#[test]
fn every_mode_and_value_type_sops_writes_decrypts_exactly() {
    assert!(!sops_version().is_empty());
    let dir = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "key.txt");
    let plain = write(dir.path(), "plain.yaml", PLAIN);
    let want = yaml::parse(PLAIN).unwrap();
    // (sops flags, the top-level keys sops must have encrypted, what `sops:` must record)
    let modes: Vec<(&[&str], Vec<&str>, &str)> = vec![
        (&[], ALL.to_vec(), "unencrypted_suffix: _unencrypted"),
        (
            &["--encrypted-regex", "^(STR|nested)$"],
            vec!["STR"],
            "encrypted_regex: ^(STR|nested)$",
        ),
        (
            &["--unencrypted-regex", "^(INT|k)$"],
            all_but("INT"),
            "unencrypted_regex: ^(INT|k)$",
        ),
        (
            &["--encrypted-suffix", "_secret"],
            vec!["PASS_secret"],
            "encrypted_suffix: _secret",
        ),
        (
            &["--unencrypted-suffix", "_public"],
            all_but("HOST_public"),
            "unencrypted_suffix: _public",
        ),
        (
            &["--mac-only-encrypted", "--unencrypted-suffix", "_public"],
            all_but("HOST_public"),
            "mac_only_encrypted: true",
        ),
        (
            &["--mac-only-encrypted"],
            ALL.to_vec(),
            "mac_only_encrypted: true",
        ),
    ];
    for (flags, encrypted, recorded) in modes {
        let mut args = vec!["--encrypt", "--age", &key.recipient];
        args.extend_from_slice(flags);
        args.push(plain.to_str().unwrap());
        let enc = Tool::sops(dir.path()).run(&args).ok("sops --encrypt");
        let file = write(dir.path(), "secret.enc.yaml", &enc.stdout);
        assert_eq!(encrypted_keys(&enc.stdout), encrypted, "{flags:?}");
        assert!(enc.stdout.contains(recorded), "{flags:?}:\n{}", enc.stdout);

        let ours = Tool::mlsync(dir.path())
            .key(&key.file)
            .run(&["secrets", "decrypt", file.to_str().unwrap()])
            .ok("mlsync secrets decrypt");
        let theirs = Tool::sops(dir.path())
            .key(&key.file)
            .run(&["decrypt", file.to_str().unwrap()])
            .ok("sops decrypt");
        assert!(
            yaml::parse(&ours.stdout).unwrap() == want,
            "{flags:?}: mlsync decrypted\n{}",
            ours.stdout
        );
        assert!(
            yaml::parse(&theirs.stdout).unwrap() == want,
            "{flags:?}: sops decrypted\n{}",
            theirs.stdout
        );
    }
}

/// A flat map, as a service's secrets file must be, and the Secret data the docs promise.
const SERVICE_PLAIN: &str = r#"DB_USER: admin
DB_PASS: "p: #1 'x'"
PORT: 5432
NEG: -7
RATIO: 0.75
PRICE: 1.50
TLS: true
DEBUG: false
NOTHING: null
EMPTY: ''
PEM: |
  -----BEGIN KEY-----
  abc
  -----END KEY-----
UNI: "héllo ✓ 日本"
ZIP: "0123"
HOST_unencrypted: db.internal
"#;

fn service_want() -> BTreeMap<String, String> {
    [
        ("DB_USER", "admin"),
        ("DB_PASS", "p: #1 'x'"),
        ("PORT", "5432"),
        ("NEG", "-7"),
        ("RATIO", "0.75"),
        ("PRICE", "1.5"),
        ("TLS", "true"),
        ("DEBUG", "false"),
        ("NOTHING", ""),
        ("EMPTY", ""),
        ("PEM", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"),
        ("UNI", "héllo ✓ 日本"),
        ("ZIP", "0123"),
        ("HOST_unencrypted", "db.internal"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn render_shows_the_secret_the_plaintext_says() {
    let dir = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "key.txt");
    let repo = dir.path().join("repo");
    let plain = write(&repo, "secrets/plain.yaml", SERVICE_PLAIN);
    for flags in [
        &[][..],
        &["--encrypted-regex", "^(DB_PASS|PEM)$"],
        &["--mac-only-encrypted", "--unencrypted-regex", "^HOST"],
    ] {
        let mut args = vec!["--encrypt", "--age", &key.recipient];
        args.extend_from_slice(flags);
        args.push(plain.to_str().unwrap());
        let enc = Tool::sops(&repo).run(&args).ok("sops --encrypt");
        write(&repo, "secrets/app.enc.yaml", &enc.stdout);
        let got = rendered_secret(&repo, "secrets/app.enc.yaml", &key.file);
        assert_eq!(got, service_want(), "{flags:?}");
    }
}

#[test]
fn tampering_is_detected_by_both_tools_alike() {
    let dir = tempfile::tempdir().unwrap();
    let key = age_keygen(dir.path(), "key.txt");
    let plain = write(dir.path(), "plain.yaml", "A: one\nB: two\nHOST_public: x\n");
    let decrypt = |file: &std::path::Path| {
        let f = file.to_str().unwrap();
        let ours = Tool::mlsync(dir.path())
            .key(&key.file)
            .run(&["secrets", "decrypt", f]);
        let theirs = Tool::sops(dir.path()).key(&key.file).run(&["decrypt", f]);
        (ours, theirs)
    };
    for (mac_only, detected) in [(false, true), (true, false)] {
        let mut args = vec![
            "-e",
            "--age",
            &key.recipient,
            "--unencrypted-suffix",
            "_public",
        ];
        if mac_only {
            args.push("--mac-only-encrypted");
        }
        args.push(plain.to_str().unwrap());
        let enc = Tool::sops(dir.path()).run(&args).ok("sops -e").stdout;
        // Change the plaintext value: part of the MAC unless mac_only_encrypted.
        let file = write(
            dir.path(),
            "changed.enc.yaml",
            &enc.replace("HOST_public: x\n", "HOST_public: y\n"),
        );
        let (ours, theirs) = decrypt(&file);
        assert_eq!(ours.code != 0, detected, "mlsync: {}", ours.stderr);
        assert_eq!(theirs.code != 0, detected, "sops: {}", theirs.stderr);
        if detected {
            assert!(ours.stderr.contains("MAC check failed"), "{}", ours.stderr);
        }
        // Swapping two encrypted values is always detected.
        let lines: Vec<&str> = enc.lines().collect();
        let (a, b) = (
            lines[0].replacen("A:", "B:", 1),
            lines[1].replacen("B:", "A:", 1),
        );
        let swapped = format!("{b}\n{a}\n{}\n", lines[2..].join("\n"));
        let file = write(dir.path(), "swapped.enc.yaml", &swapped);
        let (ours, theirs) = decrypt(&file);
        assert_ne!(ours.code, 0, "mlsync accepted swapped values");
        assert_ne!(theirs.code, 0, "sops accepted swapped values");
    }
}
