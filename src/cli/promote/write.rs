//! Writing the promoted overlay file, checking it by loading the repo again, and putting back
//! what was there when it is not kept.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::repo::promote::Field;
use crate::repo::{self, Diagnostic, LoadedService};
use crate::spec::MLService;

/// Writes `text` to `path` through a temporary file and a rename (or deletes `path` when
/// `text` is `None`). Returns whether the directory was created for it.
pub(super) fn write(path: &Path, text: Option<&str>, existed: bool) -> anyhow::Result<bool> {
    let Some(text) = text else {
        if existed {
            std::fs::remove_file(path)
                .with_context(|| format!("failed to delete {}", path.display()))?;
        }
        return Ok(false);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mlsync-promote.tmp"));
    let result = (|| -> std::io::Result<()> {
        // create_new: never through a link someone committed under that name.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if existed {
            let perms = std::fs::metadata(path)?.permissions();
            std::fs::set_permissions(&tmp, perms)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("failed to write {}: {e}", path.display());
    }
    Ok(created)
}

/// Puts back what was at `path` before (its bytes, or nothing).
pub(super) fn restore(path: &Path, old: Option<&[u8]>, created_dir: bool) -> anyhow::Result<()> {
    match old {
        Some(bytes) => std::fs::write(path, bytes),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => {
                if created_dir && let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                Ok(())
            }
        },
    }
    .with_context(|| format!("failed to restore {}", path.display()))
}

/// Why the promoted overlay was not kept.
pub(super) enum Problem {
    /// The service is invalid in `--to` with it: the problems of its files.
    Invalid(Vec<Diagnostic>),
    /// Loading failed, or these fields still differ (a bug).
    Other(anyhow::Error),
}

impl Problem {
    pub(super) fn into_error(self, service: &str, to: &str, file: &Path) -> anyhow::Error {
        match self {
            Problem::Invalid(_) => anyhow::anyhow!(
                "failed to promote {service}: environment {to} would be invalid (see the problems above); {} is unchanged",
                file.display()
            ),
            Problem::Other(e) => e,
        }
    }
}

/// Loads the repo again for `--to`: the service must be valid there and run what `--from` runs.
pub(super) fn verify(
    root: &Path,
    service: &str,
    to: &str,
    file: &Path,
    from: &LoadedService,
    fields: &[Field],
) -> Result<(), Problem> {
    let after = repo::load_env(root, Some(to)).map_err(|e| Problem::Other(e.into()))?;
    let found = after
        .services
        .iter()
        .find(|s| s.spec.metadata.name == service);
    let Some(now) = found else {
        let mine: Vec<Diagnostic> = after
            .diagnostics
            .iter()
            .filter(|d| d.file == file || d.file == from.file)
            .cloned()
            .collect();
        return Err(Problem::Invalid(if mine.is_empty() {
            after.diagnostics
        } else {
            mine
        }));
    };
    let differs: Vec<&str> = fields
        .iter()
        .filter(|f| runs(&now.spec, **f) != runs(&from.spec, **f))
        .map(|f| f.key())
        .collect();
    if !differs.is_empty() {
        return Err(Problem::Other(anyhow::anyhow!(
            "failed to promote {service}: after writing {}, spec.{} in {to} still differs (a bug: please report it); the file is unchanged",
            file.display(),
            differs.join(", spec.")
        )));
    }
    Ok(())
}

/// One promoted field of a typed spec, for comparison.
fn runs(s: &MLService, f: Field) -> Value {
    let spec = &s.spec;
    let v = match f {
        Field::Model => serde_json::to_value(&spec.model),
        Field::Image => serde_json::to_value(&spec.image),
        Field::Config => serde_json::to_value(&spec.config),
        Field::Secrets => serde_json::to_value(&spec.secrets),
    };
    v.unwrap_or(Value::Null)
}
