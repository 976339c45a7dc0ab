//! Files written by the real `sops` tool (tests/data/sops, see its README) decrypt to
//! exactly their plaintext, and every kind of tampering is caught.

mod secrets_common;

use std::path::Path;

use mlsync::secrets::sops::{self, SopsError, Value, yaml};
use mlsync::secrets::{SecretSource, SecretsError, SopsSource};
use secrets_common::{FIXTURE_RECIPIENT, data, fixture_identity};

const FIXTURES: &[&str] = &[
    "age_example",
    "age_unencrypted_suffix",
    "age_encrypted_suffix",
    "age_empty_value",
];

fn decrypt_text(text: &str) -> Result<sops::Decrypted, SopsError> {
    sops::decrypt(text, &[fixture_identity()])
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

#[test]
fn every_sops_fixture_decrypts_to_its_plaintext() {
    for name in FIXTURES {
        let dec = decrypt_text(&read(&format!("{name}.enc.yaml")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let plain = yaml::parse(&read(&format!("{name}.plain.yaml"))).unwrap();
        assert!(
            dec.tree == plain,
            "{name} decrypted to\n{}\nexpected\n{}",
            yaml::emit(&dec.tree).as_str(),
            yaml::emit(&plain).as_str()
        );
    }
}

#[test]
fn fixture_types_survive_decryption() {
    let dec = decrypt_text(&read("age_example.enc.yaml")).unwrap();
    let t = &dec.tree;
    assert_eq!(t.get("example_key"), Some(&Value::str("example_value")));
    assert_eq!(t.get("example_number"), Some(&Value::Float(1234.56789)));
    assert_eq!(
        t.get("example_booleans"),
        Some(&Value::Seq(vec![Value::Bool(true), Value::Bool(false)]))
    );
    let dec = decrypt_text(&read("age_empty_value.enc.yaml")).unwrap();
    assert_eq!(dec.tree.get("string_value"), Some(&Value::str("")));
    assert_eq!(dec.tree.get("null_value"), Some(&Value::Null));
    let dec = decrypt_text(&read("age_unencrypted_suffix.enc.yaml")).unwrap();
    let ints = dec
        .tree
        .get("a")
        .and_then(|a| a.get("b_unencrypted"))
        .and_then(|b| b.get("c"));
    assert_eq!(
        ints,
        Some(&Value::Seq(vec![Value::Int(123), Value::Int(456)]))
    );
}

#[test]
fn secret_source_refuses_nested_fixture_naming_the_file() {
    let file = data("age_example.enc.yaml");
    let err = SopsSource::from_identities(vec![fixture_identity()])
        .load(&file)
        .unwrap_err();
    assert!(matches!(err, SecretsError::Content { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(
        msg.contains("example_array") && msg.contains("flat map"),
        "{msg}"
    );
    assert!(!msg.contains("example_value"), "{msg}");
}

fn assert_tampered(name: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tampered.enc.yaml");
    std::fs::write(&file, text).unwrap();
    let err = SopsSource::from_identities(vec![fixture_identity()])
        .decrypt_file(&file)
        .err()
        .unwrap_or_else(|| panic!("{name}: tampered file decrypted"));
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            SecretsError::Decrypt {
                cause: SopsError::Tampered(_),
                ..
            }
        ),
        "{name}: {msg}"
    );
    assert!(msg.contains("MAC check failed"), "{name}: {msg}");
    assert!(msg.contains(&file.display().to_string()), "{name}: {msg}");
    for plain in [
        "Welcome to SOPS",
        "example_value",
        "1234.56789",
        "aaa",
        "xxx",
    ] {
        assert!(!msg.contains(plain), "{name} leaks {plain}: {msg}");
    }
}

fn line_of<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines().find(|l| l.starts_with(prefix)).unwrap()
}

#[test]
fn tampering_is_a_mac_failure() {
    let example = read("age_example.enc.yaml");
    // A flipped ciphertext byte.
    let hello = line_of(&example, "hello: ");
    let flipped = hello.replacen("data:8", "data:9", 1);
    assert_tampered("flipped", &example.replace(hello, &flipped));
    // Two values swapped between keys (each still a valid ciphertext).
    let key = line_of(&example, "example_key: ");
    let (hv, kv) = (&hello["hello: ".len()..], &key["example_key: ".len()..]);
    let swapped = example
        .replace(hello, &format!("hello: {kv}"))
        .replace(key, &format!("example_key: {hv}"));
    assert_tampered("swapped values", &swapped);
    // Two list items swapped (same key path, so only the MAC notices).
    let mut lines: Vec<&str> = example.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("example_array:"))
        .unwrap();
    lines.swap(i + 1, i + 2);
    assert_tampered("swapped list items", &(lines.join("\n") + "\n"));
    // Keys reordered with their values.
    let mut lines: Vec<&str> = example.lines().collect();
    lines.swap(0, 1);
    assert_tampered("reordered keys", &(lines.join("\n") + "\n"));
    // A key removed.
    assert_tampered("removed key", &example.replace(&format!("{key}\n"), ""));
    // lastmodified edited.
    let lm = line_of(&example, "  lastmodified: ");
    assert_tampered(
        "lastmodified",
        &example.replace(lm, "  lastmodified: 2023-12-25T10:31:02Z"),
    );
    // A plaintext value replacing an encrypted one.
    assert_tampered(
        "plaintext injected",
        &example.replace(key, "example_key: injected"),
    );
    // An unencrypted (suffix) value changed: only the MAC covers it.
    let suffix = read("age_unencrypted_suffix.enc.yaml");
    assert_tampered("unencrypted value", &suffix.replacen("a: aaa", "a: bbb", 1));
}

#[test]
fn wrong_key_lists_the_recipients_and_names_the_file() {
    let file = data("age_example.enc.yaml");
    let err = SopsSource::from_identities(vec![age::x25519::Identity::generate()])
        .load(&file)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains(FIXTURE_RECIPIENT), "{msg}");
    assert!(
        msg.contains("none of the configured age identities"),
        "{msg}"
    );
}

#[test]
fn no_key_configured_explains_how_to_provide_one() {
    let file = data("age_example.enc.yaml");
    let err = SopsSource::from_identities(vec![]).load(&file).unwrap_err();
    let msg = err.to_string();
    for want in [
        file.display().to_string().as_str(),
        FIXTURE_RECIPIENT,
        "--age-key-file",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY=",
        "age-key",
    ] {
        assert!(msg.contains(want), "missing {want}: {msg}");
    }
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let file = Path::new("/nonexistent/x.enc.yaml");
    let err = SopsSource::from_identities(vec![fixture_identity()])
        .load(file)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to read /nonexistent/x.enc.yaml"),
        "{err}"
    );
}
