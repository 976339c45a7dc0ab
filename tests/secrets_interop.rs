//! Files mlsync writes are readable without mlsync: the real `age` CLI (Debian package
//! `age`) unwraps the data key from `sops.age[].enc`, and an independent Python reader
//! (`cryptography`) decrypts the values and recomputes the MAC
//! (tests/data/sops/independent_check.py). Identities made by `age-keygen` load in mlsync.
//! The real `sops` binary reads and writes them too: tests/sops_binary_*.rs.

mod secrets_common;

use std::process::Command;

use age::x25519::Identity;
use mlsync::secrets::keys::read_identity_file;
use mlsync::secrets::sops::{self, yaml};
use secrets_common::{data, write_key};

fn require(tool: &str) {
    let found = Command::new(tool).arg("--version").output().is_ok();
    assert!(
        found,
        "`{tool}` is required for this test (apt-get install -y age python3-cryptography)"
    );
}

/// Runs the independent Python SOPS reader (`tests/data/sops/independent_check.py`) on `file`
/// with the identity in `key_file`; returns its JSON verdict (values and `mac_ok`).
fn independent_check(file: &std::path::Path, key_file: &std::path::Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(data("independent_check.py"))
        .arg(file)
        .arg(key_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "independent reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn age_cli_and_python_read_what_mlsync_writes() {
    require("age");
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let (ours, other) = (Identity::generate(), Identity::generate());
    let key_file = write_key(dir.path(), "ours.txt", &ours, 0o600);
    let plain = yaml::parse(
        "DB_USER: admin\nDB_PASS: \"s3cr3t: with # specials\"\nPORT: 5432\nRATIO: 0.5\n\
         TLS: true\nEMPTY: ''\n",
    )
    .unwrap();
    let text = sops::encrypt(&plain, &[other.to_public(), ours.to_public()]).unwrap();
    let file = dir.path().join("app.enc.yaml");
    std::fs::write(&file, &text).unwrap();

    let got = independent_check(&file, &key_file);
    assert_eq!(
        got,
        serde_json::json!({
            "values": {
                "DB_USER": ["str", "admin"],
                "DB_PASS": ["str", "s3cr3t: with # specials"],
                "PORT": ["int", "5432"],
                "RATIO": ["float", "0.5"],
                "TLS": ["bool", "True"],
                "EMPTY": ["str", ""],
            },
            "mac_ok": true,
            "recipients": 2,
        })
    );
}

#[test]
fn independent_reader_notices_a_bad_mac() {
    require("age");
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::generate();
    let key_file = write_key(dir.path(), "id.txt", &id, 0o600);
    let a = sops::encrypt(&yaml::parse("A: one\nB: two\n").unwrap(), &[id.to_public()]).unwrap();
    // Swap the two lines: values still decrypt (paths differ, so swap keys too) but the
    // MAC order no longer matches.
    let mut lines: Vec<&str> = a.lines().collect();
    lines.swap(0, 1);
    let file = dir.path().join("swapped.enc.yaml");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let got = independent_check(&file, &key_file);
    assert_eq!(got["mac_ok"], false, "the check must be able to fail");
}

#[test]
fn age_keygen_identities_load_and_decrypt() {
    require("age-keygen");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keygen.txt");
    let status = Command::new("age-keygen")
        .arg("-o")
        .arg(&key_file)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let ids = read_identity_file(&key_file).unwrap();
    let text = sops::encrypt(&yaml::parse("K: v\n").unwrap(), &[ids[0].to_public()]).unwrap();
    let dec = sops::decrypt(&text, &ids).unwrap();
    assert!(dec.tree == yaml::parse("K: v\n").unwrap());
}
