//! The repo loader on a hostile spec file: `repo::load` on a repo whose `services/fuzz.yaml` is
//! the input (next to the example repo's `mlsync.yaml` and encrypted secrets files).
//!
//! Checks: no panic, and every diagnostic about the file points inside it (line 1 up to one
//! past its last line, column from 1).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

const SPEC: &str = "services/fuzz.yaml";

/// A repo directory for this process (libFuzzer exits without running destructors, so it lives
/// under the TMPDIR that `fuzz/run.sh` removes afterwards).
static REPO: LazyLock<PathBuf> = LazyLock::new(|| {
    let root = std::env::temp_dir().join(format!("mlsync-fuzz-repo-{}", std::process::id()));
    let files = [
        (
            "mlsync.yaml",
            &include_bytes!("../../example-repo/mlsync.yaml")[..],
        ),
        (
            "secrets/iris-classifier.enc.yaml",
            include_bytes!("../../example-repo/secrets/iris-classifier.enc.yaml"),
        ),
        (
            "secrets/image-classifier.enc.yaml",
            include_bytes!("../../example-repo/secrets/image-classifier.enc.yaml"),
        ),
    ];
    for (rel, bytes) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("services")).unwrap();
    root
});

/// Lines of `text` as YAML counts them: a line break is CR LF, LF or a lone CR.
fn yaml_lines(text: &str) -> usize {
    let bytes = text.as_bytes();
    let lone_crs = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    1 + bytes.iter().filter(|&&b| b == b'\n').count() + lone_crs
}

fuzz_target!(|data: &[u8]| {
    let root: &Path = &REPO;
    std::fs::write(root.join(SPEC), data).unwrap();
    // Err: the file is not UTF-8 (a load error, not a diagnostic).
    let Ok(repo) = mlsync::repo::load(root) else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let lines = yaml_lines(&text);
    for d in &repo.diagnostics {
        if d.file == Path::new(SPEC) {
            assert!(
                d.pos.line >= 1 && d.pos.line <= lines + 1 && d.pos.column >= 1,
                "diagnostic outside the file ({lines} lines): {d:?}"
            );
        }
    }
    // Whatever loaded is a service of this file, valid or listed as invalid; never both.
    for s in &repo.services {
        assert!(
            !repo
                .invalid
                .iter()
                .any(|i| i.name == s.spec.metadata.name && i.namespace == s.namespace),
            "{} is both valid and invalid",
            s.spec.metadata.name
        );
    }
});
