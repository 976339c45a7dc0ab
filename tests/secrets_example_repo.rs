//! The example repo's secrets decrypt with its demo key (copied to a 0600 file, since git
//! does not keep file modes) to the values the quick start documents.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mlsync::secrets::keys::KeyOptions;
use mlsync::secrets::{SecretSource, SopsSource};

fn load(name: &str) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("demo-age-key.txt");
    std::fs::copy(root.join("demo-age-key.txt"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = SopsSource::from_options(&KeyOptions {
        age_key_file: Some(key),
    })
    .unwrap();
    let data = source.load(&root.join("secrets").join(name)).unwrap();
    data.entries
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.expose().to_vec()).unwrap()))
        .collect()
}

#[test]
fn iris_classifier_secrets() {
    let got = load("iris-classifier.enc.yaml");
    assert_eq!(got["DB_USER"], "admin");
    assert_eq!(got["DB_PASS"], "secure123");
    assert_eq!(got.len(), 2);
}

#[test]
fn image_classifier_secrets() {
    let got = load("image-classifier.enc.yaml");
    let keys: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["DB_PASS", "DB_USER", "S3_ACCESS_KEY", "S3_SECRET_KEY"]
    );
    assert_eq!(got["DB_USER"], "vision");
}

#[test]
fn demo_key_is_labelled_as_public() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
    let text = std::fs::read_to_string(root.join("demo-age-key.txt")).unwrap();
    assert!(text.starts_with(
        "# DEMO KEY — public, for the quick start only. Never use for real secrets.\n"
    ));
}
