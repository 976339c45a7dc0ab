//! Loading a config repo: `mlsync.yaml`, every spec file, validation with positions.
//!
//! Reading files is the only I/O here. The result says which services are valid, which are
//! invalid (so that nothing of them is applied *or pruned*), and every diagnostic.

mod check;
mod config;
pub mod confine;
pub mod diagnostic;
mod duplicates;
mod environment;
pub mod files;
pub mod overlay;
pub mod promote;
pub mod yaml;

use std::path::{Path, PathBuf};

use crate::spec::schema;
use crate::spec::{MLService, RepoConfig};
use check::{Checked, check_document};
pub use confine::{ConfineError, confine};
pub use diagnostic::Diagnostic;
use diagnostic::field_path;
use duplicates::mark_duplicates;
use yaml::{Document, Pos};

/// The repo config file at the root of a config repo.
pub const REPO_CONFIG_FILE: &str = "mlsync.yaml";

/// Errors that stop loading altogether (as opposed to [`Diagnostic`]s about content).
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// `--env` names an environment that `mlsync.yaml` does not declare.
    #[error(
        "failed to use environment {name:?}: {REPO_CONFIG_FILE} declares {}",
        declared(known)
    )]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// The environments declared.
        known: Vec<String>,
    },
    /// The repo directory is missing or unreadable.
    #[error("failed to read config repo {}: {cause}", path.display())]
    Root {
        /// The directory.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A file or directory inside the repo could not be read.
    #[error("failed to read {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

fn declared(known: &[String]) -> String {
    if known.is_empty() {
        "no environments".to_owned()
    } else {
        format!("only: {}", known.join(", "))
    }
}

/// A valid service and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedService {
    /// The spec.
    pub spec: MLService,
    /// Target namespace (spec or repo default).
    pub namespace: String,
    /// File, relative to the repo root.
    pub file: PathBuf,
    /// Line where its document starts, when it was computed (only files with problems are
    /// parsed a second time for positions).
    pub line: Option<usize>,
}

/// A service whose spec is invalid: it must be neither applied nor pruned.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InvalidService {
    /// Namespace, when it could be read.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Everything read from a config repo.
#[derive(Debug)]
pub struct Repo {
    /// The repo directory.
    pub root: PathBuf,
    /// `mlsync.yaml` (defaults when absent or invalid).
    pub config: RepoConfig,
    /// Valid services, in file order.
    pub services: Vec<LoadedService>,
    /// Services that are present but invalid, identified by name.
    pub invalid: Vec<InvalidService>,
    /// Files that could not be parsed at all (their services are unknown).
    pub unreadable_files: Vec<PathBuf>,
    /// Whether `mlsync.yaml` is valid.
    pub config_valid: bool,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
    /// The environment loaded (`--env`), if any.
    pub environment: Option<overlay::Environment>,
    /// Its overlays.
    pub overlays: overlay::Overlays,
}

impl Repo {
    /// Resolves a path written in the repo (`spec.secrets.file`, …) to a path inside it,
    /// following links that stay inside (see [`confine()`]); the result is below [`Repo::root`].
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ConfineError> {
        confine(&self.root, path).map(|rel| self.root.join(rel))
    }

    /// The namespace of services that set none: the environment's, else the repo default.
    pub fn default_namespace(&self) -> &str {
        self.environment
            .as_ref()
            .and_then(|e| e.config.namespace.as_deref())
            .unwrap_or(self.config.default_namespace())
    }

    /// True when every file and spec is valid.
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Why pruning would be unsafe for this load, if it would be: services may exist that we
    /// could not identify (unparseable files, invalid repo config).
    pub fn prune_blocker(&self) -> Option<String> {
        if !self.config_valid {
            return Some(format!("{REPO_CONFIG_FILE} is invalid"));
        }
        if !self.unreadable_files.is_empty() {
            let files: Vec<String> = self
                .unreadable_files
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            return Some(format!(
                "cannot tell which services these files define: {}",
                files.join(", ")
            ));
        }
        None
    }
}

/// Loads and validates every spec under `root` (the base specs, without environment).
pub fn load(root: &Path) -> Result<Repo, RepoError> {
    load_env(root, None)
}

/// Loads and validates every spec under `root`, with the overlays of environment `env` merged
/// over them when one is given ([`overlay`]).
pub fn load_env(root: &Path, env: Option<&str>) -> Result<Repo, RepoError> {
    let meta = std::fs::metadata(root).map_err(|cause| RepoError::Root {
        path: root.to_owned(),
        cause,
    })?;
    if !meta.is_dir() {
        let cause = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(RepoError::Root {
            path: root.to_owned(),
            cause,
        });
    }
    let mut repo = Repo {
        root: root.to_owned(),
        config: RepoConfig::default(),
        services: Vec::new(),
        invalid: Vec::new(),
        unreadable_files: Vec::new(),
        config_valid: true,
        diagnostics: Vec::new(),
        environment: None,
        overlays: overlay::Overlays::default(),
    };
    let positions = config::load_config(&mut repo)?;
    let entries = config::path_entries(&repo.config, &positions);
    let (env_dirs, refused) = overlay::dirs(
        root,
        &repo.config.environments,
        &mut repo.diagnostics,
        |p| positions.locate(p),
    )?;
    if refused {
        repo.config_valid = false;
    }
    if let Some(name) = env {
        match (repo.config.environments.get(name), env_dirs.get(name)) {
            (Some(config), Some(dir)) => {
                repo.overlays = overlay::load(root, name, dir, &mut repo.diagnostics)?;
                repo.environment = Some(overlay::Environment {
                    name: name.to_owned(),
                    config: config.clone(),
                });
            }
            // Declared, but its directory leads out of the repo (a diagnostic already).
            (Some(_), None) => {}
            (None, _) if repo.config_valid => {
                return Err(RepoError::UnknownEnvironment {
                    name: name.to_owned(),
                    known: repo.config.environments.keys().cloned().collect(),
                });
            }
            (None, _) => {}
        }
    }
    let skip: Vec<PathBuf> = env_dirs.into_values().collect();
    let found = files::spec_files(root, &entries, &skip, &mut repo.diagnostics)?;
    if found.refused {
        // A `paths` entry that leaves the repo: the repo config is hostile or broken, so
        // nothing is applied or pruned (as for any invalid mlsync.yaml).
        repo.config_valid = false;
    }
    for file in found.files {
        load_file(&mut repo, &file)?;
    }
    mark_duplicates(&mut repo);
    if env.is_some() {
        environment::settle(&mut repo);
    }
    repo.invalid.sort();
    repo.invalid.dedup();
    Ok(repo)
}

fn push_violations(
    out: &mut Vec<Diagnostic>,
    file: &Path,
    doc: &Document,
    v: Vec<schema::Violation>,
) {
    for x in v {
        out.push(Diagnostic {
            file: file.to_owned(),
            pos: doc.positions.locate(&x.pointer),
            field: field_path(&x.pointer),
            message: x.message,
        });
    }
}

fn load_file(repo: &mut Repo, rel: &Path) -> Result<(), RepoError> {
    let text = match files::read(&repo.root, rel)? {
        Ok(text) => text,
        Err(bad) => {
            // Its services are unknown, like those of a file that is not YAML.
            repo.unreadable_files.push(rel.to_owned());
            repo.diagnostics.push(files::not_utf8(rel, bad));
            return Ok(());
        }
    };
    // Fast path: values only. Positions cost a second parse, so they are computed only when
    // the file has something to report.
    if let Ok(values) = yaml::parse_values(&text) {
        if files::is_sops_document(values.first()) {
            return Ok(());
        }
        let checked: Vec<Checked> = values.iter().map(|v| check_document(repo, v)).collect();
        if !checked.is_empty() && checked.iter().all(|c| c.violations.is_empty()) {
            for c in checked {
                if let Some(spec) = c.spec {
                    repo.services.push(LoadedService {
                        spec,
                        namespace: c.namespace,
                        file: rel.to_owned(),
                        line: None,
                    });
                }
            }
            return Ok(());
        }
    }
    let docs = match yaml::parse_documents(&text) {
        Ok(d) => d,
        Err(e) => {
            repo.unreadable_files.push(rel.to_owned());
            let message = format!("invalid YAML: {}", e.message);
            repo.diagnostics.push(Diagnostic {
                file: rel.to_owned(),
                pos: e.pos,
                field: String::new(),
                message,
            });
            return Ok(());
        }
    };
    if files::is_sops_document(docs.first().map(|d| &d.value)) {
        return Ok(());
    }
    if docs.is_empty() {
        repo.diagnostics.push(Diagnostic {
            file: rel.to_owned(),
            pos: Pos { line: 1, column: 1 },
            field: String::new(),
            message: "file is empty: expected at least one MLService document".into(),
        });
        return Ok(());
    }
    for doc in docs {
        let c = check_document(repo, &doc.value);
        let ok = c.violations.is_empty();
        match &c.overlaid {
            Some(name) => environment::push_overlaid(repo, rel, &doc, name, c.violations),
            None => push_violations(&mut repo.diagnostics, rel, &doc, c.violations),
        }
        match (c.spec, ok) {
            (Some(spec), true) => repo.services.push(LoadedService {
                spec,
                namespace: c.namespace,
                file: rel.to_owned(),
                line: Some(doc.start.line),
            }),
            _ => match c.name {
                Some(name) => repo.invalid.push(InvalidService {
                    namespace: c.namespace,
                    name,
                }),
                // An invalid document without a readable name could be any service.
                None => repo.unreadable_files.push(rel.to_owned()),
            },
        }
    }
    Ok(())
}
