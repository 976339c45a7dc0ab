//! What mlsync does not support is refused with a clear error on files the real `sops` wrote:
//! PGP-only files (a throwaway GnuPG key), several key groups with a Shamir threshold (two age
//! groups in `.sops.yaml`), KMS-only files. A file with age and PGP or KMS keys decrypts via
//! age, but `rotate` refuses it (it cannot re-wrap the data key for the other keys).

mod secrets_common;

use std::path::Path;
use std::process::Command;

use mlsync::secrets::sops::{Value, yaml};
use secrets_common::peer::{Out, Tool, age_keygen, write};

fn mlsync_decrypt(dir: &Path, key: Option<&Path>, file: &str) -> Out {
    let tool = Tool::mlsync(dir);
    match key {
        Some(k) => tool.key(k),
        None => tool,
    }
    .run(&["secrets", "decrypt", file])
}

/// A GnuPG home with one throwaway key; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Gpg {
    fn new() -> Self {
        // A short path: the agent's socket path must fit in 108 bytes.
        let home = tempfile::Builder::new()
            .prefix("mlsync-gpg")
            .tempdir_in("/tmp")
            .unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .env("GNUPGHOME", home.path())
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .expect("gpg is required (apt-get install -y gnupg)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        gpg(&[
            "--quick-gen-key",
            "mlsync test <t@example.invalid>",
            "default",
            "default",
            "never",
        ]);
        let listing = gpg(&["--with-colons", "--list-keys"]);
        let fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| f.len() == 40))
            .unwrap()
            .to_owned();
        Gpg { home, fingerprint }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

#[test]
fn pgp_only_files_are_refused_and_mixed_files_cannot_be_rotated() {
    let gpg = Gpg::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = age_keygen(d, "key.txt");
    let plain = write(d, "plain.yaml", "DB_PASS: pw\n");
    let sops = |args: &[&str]| {
        Tool::sops(d)
            .env("GNUPGHOME", gpg.home.path())
            .key(&key.file)
            .run(args)
    };
    let enc = sops(&["-e", "--pgp", &gpg.fingerprint, plain.to_str().unwrap()]).ok("sops -e --pgp");
    write(d, "pgp.enc.yaml", &enc.stdout);
    // The file is valid: sops itself decrypts it with the GnuPG key.
    assert_eq!(
        sops(&["decrypt", "pgp.enc.yaml"]).ok("sops decrypt").stdout,
        "DB_PASS: pw\n"
    );
    for with_key in [Some(key.file.as_path()), None] {
        let out = mlsync_decrypt(d, with_key, "pgp.enc.yaml");
        assert_eq!(out.code, 2);
        assert!(
            out.stderr.contains(
                "pgp.enc.yaml: the file has no age recipients (it uses pgp); \
                                 mlsync decrypts only age-encrypted SOPS files"
            ),
            "{}",
            out.stderr
        );
    }

    let both = sops(&[
        "-e",
        "--pgp",
        &gpg.fingerprint,
        "--age",
        &key.recipient,
        "plain.yaml",
    ])
    .ok("sops -e --pgp --age");
    write(d, "both.enc.yaml", &both.stdout);
    let out = mlsync_decrypt(d, Some(&key.file), "both.enc.yaml").ok("mlsync decrypt");
    assert_eq!(out.stdout, "DB_PASS: pw\n");
    let out = Tool::mlsync(d).key(&key.file).run(&[
        "secrets",
        "rotate",
        "--age",
        &key.recipient,
        "both.enc.yaml",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unsupported: rotating a file that also uses pgp master keys"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(d.join("both.enc.yaml")).unwrap(),
        both.stdout
    );
}

#[test]
fn key_groups_with_a_shamir_threshold_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (age_keygen(d, "a.txt"), age_keygen(d, "b.txt"));
    write(
        d,
        ".sops.yaml",
        &format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      \
             - age: [{}]\n",
            a.recipient, b.recipient
        ),
    );
    write(d, "app.enc.yaml", "DB_PASS: pw\n");
    Tool::sops(d)
        .run(&["-e", "-i", "app.enc.yaml"])
        .ok("sops -e -i");
    // Both identities together satisfy the threshold: sops reads its own file.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&a.file).unwrap(),
        std::fs::read_to_string(&b.file).unwrap()
    );
    let both_file = write(d, "both.txt", &both);
    assert_eq!(
        Tool::sops(d)
            .key(&both_file)
            .run(&["decrypt", "app.enc.yaml"])
            .ok("sops decrypt")
            .stdout,
        "DB_PASS: pw\n"
    );
    let out = mlsync_decrypt(d, Some(&a.file), "app.enc.yaml");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "app.enc.yaml: unsupported: key groups (`sops.key_groups`, Shamir secret sharing)"
        ),
        "{}",
        out.stderr
    );
    // And mlsync will not write one either.
    write(d, "new.yaml", "DB_PASS: pw\n");
    let out = Tool::mlsync(d).run(&["secrets", "encrypt", "new.yaml"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("several key groups"), "{}", out.stderr);
}

/// sops cannot write a KMS entry without AWS, so the test takes a file the real sops wrote
/// for age and edits its `sops:` metadata the way a KMS-encrypted file looks (the MAC covers
/// only the values, so the data still verifies).
#[test]
fn kms_only_files_are_refused_and_mixed_files_cannot_be_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = age_keygen(d, "key.txt");
    write(d, "plain.yaml", "DB_PASS: pw\n");
    let enc = Tool::sops(d)
        .run(&["-e", "--age", &key.recipient, "plain.yaml"])
        .ok("sops -e")
        .stdout;
    let kms = Value::Seq(vec![Value::Map(vec![
        (
            "arn".into(),
            Value::str(
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
        ),
        ("created_at".into(), Value::str("2026-01-01T00:00:00Z")),
        (
            "enc".into(),
            Value::str("AQICAHh0bm90LWEtcmVhbC1rbXMtYmxvYg=="),
        ),
        ("aws_profile".into(), Value::str("")),
    ])]);
    let with_kms = |keep_age: bool| {
        let Value::Map(mut doc) = yaml::parse(&enc).unwrap() else {
            panic!()
        };
        let (_, Value::Map(meta)) = doc.iter_mut().find(|(k, _)| k == "sops").unwrap() else {
            panic!()
        };
        if !keep_age {
            meta.retain(|(k, _)| k != "age");
        }
        meta.insert(0, ("kms".into(), kms.clone()));
        yaml::emit(&Value::Map(doc)).to_string()
    };
    write(d, "kms.enc.yaml", &with_kms(false));
    let out = mlsync_decrypt(d, Some(&key.file), "kms.enc.yaml");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("kms.enc.yaml: the file has no age recipients (it uses kms)"),
        "{}",
        out.stderr
    );

    write(d, "mixed.enc.yaml", &with_kms(true));
    let out = mlsync_decrypt(d, Some(&key.file), "mixed.enc.yaml").ok("mlsync decrypt");
    assert_eq!(out.stdout, "DB_PASS: pw\n");
    let out = Tool::mlsync(d).key(&key.file).run(&[
        "secrets",
        "rotate",
        "--age",
        &key.recipient,
        "mixed.enc.yaml",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unsupported: rotating a file that also uses kms master keys"),
        "{}",
        out.stderr
    );
}
