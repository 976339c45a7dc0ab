//! The agent image's build context is complete: the files the `Dockerfile` copies into the
//! builder are a valid cargo package, and every file the crate embeds with `include_str!` is
//! among them. (No container engine runs here; this checks what can be checked without one.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Sources of the `COPY` lines of the build stage (those without `--from=`).
fn copied_paths() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
        .filter(|rest| !rest.starts_with("--from="))
        .flat_map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn build_context_is_a_complete_cargo_package() {
    let paths = copied_paths();
    assert!(paths.contains(&"Cargo.lock".to_owned()), "{paths:?}");
    let tmp = tempfile::tempdir().unwrap();
    for p in &paths {
        copy_tree(&root().join(p), &tmp.path().join(p));
    }
    // Cargo checks that every declared target (bin, bench) exists and that the lock file fits.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .arg("--manifest-path")
        .arg(tmp.path().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata on the Docker build context failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every include_str!/include_bytes! target resolves inside the copied files.
    let mut missing = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split("include_").skip(1) {
                let Some(arg) = part
                    .strip_prefix("str!(\"")
                    .or_else(|| part.strip_prefix("bytes!(\""))
                else {
                    continue;
                };
                let target = arg.split('"').next().unwrap();
                let rel = path.strip_prefix(root()).unwrap().parent().unwrap();
                let inside: PathBuf = tmp.path().join(rel).join(target);
                if !inside.exists() {
                    missing.push(format!("{} -> {target}", path.display()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "not in the build context: {missing:?}");
}

#[test]
fn runtime_image_is_distroless_nonroot() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].contains("rust:1-bookworm"), "{stages:?}");
    assert!(
        stages[1].contains("gcr.io/distroless/cc-debian12:nonroot"),
        "{stages:?}"
    );
    assert!(dockerfile.contains("\nUSER 65532:65532\n"));
}
