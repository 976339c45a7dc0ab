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

/// The target tuple of this machine (`rustc --print host-tuple`).
fn host_tuple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc)
        .args(["--print", "host-tuple"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The lib, bin and bench targets of package mlsync in `cargo metadata` output, as "kind name",
/// sorted (integration tests are found by file name and are not part of the image).
fn targets(metadata: &[u8]) -> Vec<String> {
    let metadata: serde_json::Value = serde_json::from_slice(metadata).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mlsync")
        .unwrap();
    let mut targets: Vec<String> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["kind"][0].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .filter(|t| !t.starts_with("test "))
        .collect();
    targets.sort();
    targets
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
    // Cargo checks that the lock file fits the manifest (--locked) without the network. Only the
    // packages a build for this machine uses: those are what `cargo build`/`cargo test` have
    // downloaded, while an unfiltered `cargo metadata` needs every platform's crates (e.g.
    // anstyle-wincon for Windows), which a fresh Linux machine never fetched.
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host_tuple()])
        .arg("--manifest-path")
        .arg(tmp.path().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata on the Docker build context failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every target (lib, bin, bench) of the project is in the context: cargo drops a declared
    // target whose file is missing without an error.
    let context_targets = targets(&out.stdout);
    let project = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(project.status.success());
    assert_eq!(context_targets, targets(&project.stdout));

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
