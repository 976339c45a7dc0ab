//! Which files of a config repo are service specs, and reading them as text.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::confine::{ConfineError, confine};
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

/// One entry of `paths` in `mlsync.yaml`, and where it is written.
#[derive(Debug, Clone)]
pub struct PathEntry {
    /// The path as written (relative to the repo root).
    pub path: String,
    /// Its field path for diagnostics (`paths[1]`).
    pub field: String,
    /// Its position in `mlsync.yaml`.
    pub pos: Pos,
}

/// What [`spec_files`] found.
#[derive(Debug, Default)]
pub struct SpecFiles {
    /// Spec files, relative to the repo root, sorted and de-duplicated.
    pub files: Vec<PathBuf>,
    /// Whether an entry was refused because it leads out of the repo.
    pub refused: bool,
}

/// Every `*.yaml`/`*.yml` spec file below the given `paths` entries. Each entry is resolved
/// with [`confine`] (links that stay inside the repo are followed; anything leading out is a
/// diagnostic at the entry's position). Below an entry, hidden entries (`.git`, `.github`, …),
/// the repo config and secrets files are skipped, and symbolic links are not followed, so the
/// walk never leaves the directories it was given. Directories in `skip` (environment overlay
/// directories, relative to the root) are never searched.
pub fn spec_files(
    root: &Path,
    entries: &[PathEntry],
    skip: &[PathBuf],
    diags: &mut Vec<Diagnostic>,
) -> Result<SpecFiles, RepoError> {
    let mut found = SpecFiles::default();
    for e in entries {
        let mut problem = |message: String| {
            diags.push(Diagnostic {
                file: PathBuf::from(REPO_CONFIG_FILE),
                pos: e.pos,
                field: e.field.clone(),
                message,
            });
        };
        let rel = match confine(root, &e.path) {
            Ok(rel) => rel,
            Err(ConfineError::NotFound) => {
                problem(format!("path not found in the repo: {}", e.path));
                continue;
            }
            Err(ConfineError::Io { path, cause }) => return Err(RepoError::Read { path, cause }),
            Err(refused) => {
                found.refused = true;
                problem(refused.to_string());
                continue;
            }
        };
        if skip.iter().any(|d| rel.starts_with(d)) {
            continue;
        }
        let abs = root.join(&rel);
        let meta = std::fs::metadata(&abs).map_err(|cause| RepoError::Read { path: abs, cause })?;
        if meta.is_dir() {
            walk(root, &rel, skip, &mut found.files)?;
        } else if meta.is_file() {
            found.files.push(rel);
        } else {
            problem(format!("is neither a file nor a directory: {}", e.path));
        }
    }
    found.files.sort();
    found.files.dedup();
    Ok(found)
}

/// Reads a repo file: its text, or `Err(position, byte)` of its first byte that is not UTF-8.
pub(super) fn read(root: &Path, rel: &Path) -> Result<Result<String, (Pos, u8)>, RepoError> {
    let path = root.join(rel);
    let bytes = std::fs::read(&path).map_err(|cause| RepoError::Read { path, cause })?;
    Ok(String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        let pos = Pos {
            line: valid.matches('\n').count() + 1,
            column: valid[line_start..].chars().count() + 1,
        };
        (pos, bytes[at])
    }))
}

/// The diagnostic for a file that is not UTF-8 text.
pub(super) fn not_utf8(rel: &Path, (pos, byte): (Pos, u8)) -> Diagnostic {
    Diagnostic {
        file: rel.to_owned(),
        pos,
        field: String::new(),
        message: format!("not UTF-8 text (invalid byte 0x{byte:02x})"),
    }
}

fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn walk(
    root: &Path,
    rel: &Path,
    skip: &[PathBuf],
    out: &mut Vec<PathBuf>,
) -> Result<(), RepoError> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|cause| RepoError::Read {
        path: dir.clone(),
        cause,
    })?;
    for entry in entries {
        let entry = entry.map_err(|cause| RepoError::Read {
            path: dir.clone(),
            cause,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let kind = entry.file_type().map_err(|cause| RepoError::Read {
            path: root.join(&child),
            cause,
        })?;
        if kind.is_symlink() {
            tracing::warn!(file = %child.display(), "skipping symbolic link in config repo");
        } else if kind.is_dir() {
            if !skip.iter().any(|d| normalize(&child) == *d) {
                walk(root, &child, skip, out)?;
            }
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
