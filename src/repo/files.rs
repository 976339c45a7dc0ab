//! Which files of a config repo are service specs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::yaml::Pos;
use super::{Diagnostic, REPO_CONFIG_FILE, RepoError};

/// True for names of encrypted secrets files (`*.enc.yaml`, `*.sops.yaml`, and `.yml` forms).
pub fn is_secrets_file_name(name: &str) -> bool {
    [".enc.yaml", ".enc.yml", ".sops.yaml", ".sops.yml"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// True when a document is a SOPS file (a top-level `sops` mapping), whatever its name.
pub fn is_sops_document(doc: Option<&Value>) -> bool {
    doc.and_then(|d| d.get("sops"))
        .is_some_and(Value::is_object)
}

/// Every `*.yaml`/`*.yml` spec file below the given repo-relative `paths`, sorted and
/// de-duplicated, relative to `root`. Hidden entries (`.git`, `.github`, …), the repo config and
/// secrets files are skipped; symbolic links are not followed (a link could leave the repo).
pub fn spec_files(
    root: &Path,
    paths: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, RepoError> {
    let mut out = Vec::new();
    for p in paths {
        let rel = PathBuf::from(p);
        let abs = root.join(&rel);
        match std::fs::symlink_metadata(&abs) {
            Ok(m) if m.is_dir() => walk(root, &rel, &mut out)?,
            Ok(m) if m.is_file() => out.push(normalize(&rel)),
            _ => diags.push(Diagnostic {
                file: PathBuf::from(REPO_CONFIG_FILE),
                pos: Pos { line: 1, column: 1 },
                field: "paths".into(),
                message: format!("path not found in the repo: {p}"),
            }),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), RepoError> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|source| RepoError::Read {
        path: dir.clone(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| RepoError::Read {
            path: dir.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let kind = entry.file_type().map_err(|source| RepoError::Read {
            path: root.join(&child),
            source,
        })?;
        if kind.is_symlink() {
            tracing::warn!(file = %child.display(), "skipping symbolic link in config repo");
        } else if kind.is_dir() {
            walk(root, &child, out)?;
        } else if kind.is_file()
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !is_secrets_file_name(&name)
        {
            let child = normalize(&child);
            if child != Path::new(REPO_CONFIG_FILE) {
                out.push(child);
            }
        }
    }
    Ok(())
}
