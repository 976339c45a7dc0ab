//! Environment overlays: partial MLServices merged over the base specs.
//!
//! An environment (`environments.<name>` in `mlsync.yaml`, chosen with `--env`) has a directory
//! (`environments/<name>` unless `path` says otherwise) of overlay files, each named after the
//! service it changes (`iris-classifier.yaml`) and holding one partial `MLService`. It is merged
//! over every base spec of that name as a JSON merge patch (RFC 7386): mappings merge key by key,
//! lists and scalars replace, `null` removes. The merged document is then checked like any spec,
//! and each problem is reported where it was written: in the overlay when the overlay set (or
//! removed) the field, else in the base spec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::yaml::{self, Document, Pos};
use super::{ConfineError, Diagnostic, RepoError, confine, files};
use crate::spec::{API_VERSION, EnvironmentConfig};

/// The environment a repo is loaded for.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name (`--env`).
    pub name: String,
    /// Its settings in `mlsync.yaml`.
    pub config: EnvironmentConfig,
}

/// One overlay file.
#[derive(Debug)]
pub struct Overlay {
    /// File, relative to the repo root.
    pub file: PathBuf,
    /// Its document, with positions.
    pub doc: Document,
}

/// The overlays of one environment, by service name.
#[derive(Debug, Default)]
pub struct Overlays {
    /// The environment's name.
    pub env: String,
    /// Valid overlays by the service they change.
    pub by_service: BTreeMap<String, Overlay>,
    /// Services whose overlay is broken: they must be neither applied (the base alone would
    /// put the wrong values in this environment) nor pruned.
    pub broken: BTreeSet<String>,
}

/// Where a problem found in a merged document is shown.
pub(super) struct Located {
    /// The file.
    pub file: PathBuf,
    /// The position.
    pub pos: Pos,
}

impl Overlays {
    /// Merges the overlay of the service that `base` names over it (a copy), if there is one.
    pub fn apply(&self, base: &Value) -> Option<Value> {
        let name = base.pointer("/metadata/name").and_then(Value::as_str)?;
        let overlay = self.by_service.get(name)?;
        let mut merged = base.clone();
        let mut patch = overlay.doc.value.clone();
        if let Some(m) = patch.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        json_patch::merge(&mut merged, &patch);
        Some(merged)
    }

    /// Where a problem at `pointer` of service `name`'s merged document was written, when the
    /// overlay wrote it: a `null` that removed a field of the mapping at `pointer`, a mapping
    /// the base does not have, any other value the overlay sets there, or a value that replaced
    /// the subtree holding it. `None`: the base spec (`base`) wrote it.
    pub(super) fn locate(&self, name: &str, base: &Value, pointer: &str) -> Option<Located> {
        let overlay = self.by_service.get(name)?;
        let doc = &overlay.doc;
        let at = |p: &str| {
            Some(Located {
                file: overlay.file.clone(),
                pos: doc.positions.locate(p),
            })
        };
        match doc.value.pointer(pointer) {
            Some(Value::Object(m)) => {
                if let Some((key, _)) = m.iter().find(|(_, v)| v.is_null()) {
                    let child = format!("{pointer}/{}", crate::spec::names::escape_segment(key));
                    return at(&child);
                }
                match base.pointer(pointer) {
                    Some(_) => None,
                    None => at(pointer),
                }
            }
            Some(_) => at(pointer),
            None => {
                let mut p = pointer;
                while let Some(i) = p.rfind('/') {
                    p = &p[..i];
                    match doc.value.pointer(p) {
                        Some(Value::Object(_)) | None => {}
                        Some(_) => return at(p),
                    }
                }
                None
            }
        }
    }
}

/// Reads the overlay files of `env` (files directly in `dir`, relative to the root): every
/// problem is a diagnostic, and a file that cannot be used marks its service broken.
pub(super) fn load(
    root: &Path,
    env: &str,
    dir: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Result<Overlays, RepoError> {
    let mut out = Overlays {
        env: env.to_owned(),
        ..Overlays::default()
    };
    for file in overlay_files(root, dir)? {
        let Some(service) = file.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
            continue;
        };
        match read_overlay(root, &file, &service, diags)? {
            Some(doc) => {
                out.by_service.insert(service, Overlay { file, doc });
            }
            None => {
                out.broken.insert(service);
            }
        }
    }
    Ok(out)
}

/// The `*.yaml`/`*.yml` files directly in `dir` (not secrets files, not hidden, not links).
fn overlay_files(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, RepoError> {
    let abs = root.join(dir);
    let entries = match std::fs::read_dir(&abs) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(cause) => return Err(RepoError::Read { path: abs, cause }),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|cause| RepoError::Read {
            path: abs.clone(),
            cause,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(|cause| RepoError::Read {
            path: abs.join(&name),
            cause,
        })?;
        if kind.is_file()
            && !name.starts_with('.')
            && (name.ends_with(".yaml") || name.ends_with(".yml"))
            && !files::is_secrets_file_name(&name)
        {
            out.push(dir.join(name));
        }
    }
    out.sort();
    Ok(out)
}

fn read_overlay(
    root: &Path,
    file: &Path,
    service: &str,
    diags: &mut Vec<Diagnostic>,
) -> Result<Option<Document>, RepoError> {
    let mut problem = |pos: Pos, field: &str, message: String| {
        diags.push(Diagnostic {
            file: file.to_owned(),
            pos,
            field: field.to_owned(),
            message,
        });
    };
    let start = Pos { line: 1, column: 1 };
    let text = match files::read(root, file)? {
        Ok(text) => text,
        Err(bad) => {
            diags.push(files::not_utf8(file, bad));
            return Ok(None);
        }
    };
    let mut docs = match yaml::parse_documents(&text) {
        Ok(d) => d,
        Err(e) => {
            problem(e.pos, "", format!("invalid YAML: {}", e.message));
            return Ok(None);
        }
    };
    if docs.len() > 1 {
        let pos = docs[1].start;
        problem(pos, "", "an overlay file holds one document".into());
        return Ok(None);
    }
    let Some(doc) = docs.pop() else {
        let message = format!("file is empty: expected the overlay of service {service}");
        problem(start, "", message);
        return Ok(None);
    };
    if !doc.value.is_object() {
        let message = "must be a mapping: a partial MLService (metadata, spec)".into();
        problem(doc.start, "", message);
        return Ok(None);
    }
    let mut ok = true;
    for (field, want) in [("apiVersion", API_VERSION), ("kind", "MLService")] {
        match doc.value.get(field) {
            None => {}
            Some(Value::String(s)) if s == want => {}
            Some(_) => {
                let pos = doc.positions.locate(&format!("/{field}"));
                problem(pos, field, format!("must be {want}"));
                ok = false;
            }
        }
    }
    match doc.value.pointer("/metadata/name") {
        None => {}
        Some(Value::String(s)) if s == service => {}
        Some(_) => {
            let pos = doc.positions.locate("/metadata/name");
            let message = format!(
                "an overlay may not change the service name: this file is the overlay of service {service} (named after the file)"
            );
            problem(pos, "metadata.name", message);
            ok = false;
        }
    }
    Ok(ok.then_some(doc))
}

/// The overlay directory of every environment, relative to the root: never searched for base
/// specs. A directory leading out of the repo is a diagnostic in `mlsync.yaml` (and `refused`).
pub(super) fn dirs(
    root: &Path,
    environments: &BTreeMap<String, EnvironmentConfig>,
    diags: &mut Vec<Diagnostic>,
    locate: impl Fn(&str) -> Pos,
) -> Result<(BTreeMap<String, PathBuf>, bool), RepoError> {
    let mut out = BTreeMap::new();
    let mut refused = false;
    for (name, env) in environments {
        let written = env.overlay_dir(name);
        let rel = match confine(root, &written) {
            Ok(rel) => rel,
            Err(ConfineError::NotFound) => PathBuf::from(&written),
            Err(ConfineError::Io { path, cause }) => return Err(RepoError::Read { path, cause }),
            Err(e) => {
                refused = true;
                diags.push(Diagnostic {
                    file: PathBuf::from(super::REPO_CONFIG_FILE),
                    pos: locate(&format!("/environments/{name}/path")),
                    field: format!("environments.{name}.path"),
                    message: e.to_string(),
                });
                continue;
            }
        };
        out.insert(name.clone(), rel);
    }
    Ok((out, refused))
}
