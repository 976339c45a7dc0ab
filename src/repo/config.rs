//! Reading `mlsync.yaml`: the repo config, and where each of its `paths` entries is written.

use std::path::PathBuf;

use super::yaml::{self, Pos, PositionIndex};
use super::{Diagnostic, REPO_CONFIG_FILE, Repo, RepoError, files, push_violations};
use crate::spec::RepoConfig;
use crate::spec::schema::{self, Which};

/// Reads `mlsync.yaml` into `repo.config`; returns the positions of its nodes.
pub(super) fn load_config(repo: &mut Repo) -> Result<PositionIndex, RepoError> {
    let rel = PathBuf::from(REPO_CONFIG_FILE);
    if !repo.root.join(&rel).is_file() {
        return Ok(PositionIndex::default());
    }
    let text = match files::read(&repo.root, &rel)? {
        Ok(text) => text,
        Err(bad) => {
            repo.config_valid = false;
            repo.diagnostics.push(files::not_utf8(&rel, bad));
            return Ok(PositionIndex::default());
        }
    };
    let docs = match yaml::parse_documents(&text) {
        Ok(d) => d,
        Err(e) => {
            repo.config_valid = false;
            repo.diagnostics.push(Diagnostic {
                file: rel,
                pos: e.pos,
                field: String::new(),
                message: format!("invalid YAML: {}", e.message),
            });
            return Ok(PositionIndex::default());
        }
    };
    let Some(doc) = docs.into_iter().next() else {
        return Ok(PositionIndex::default());
    };
    let violations = schema::validate(Which::RepoConfig, &doc.value);
    if !violations.is_empty() {
        repo.config_valid = false;
        push_violations(&mut repo.diagnostics, &rel, &doc, violations);
        return Ok(PositionIndex::default());
    }
    let positions = doc.positions;
    match serde_json::from_value::<RepoConfig>(doc.value) {
        Ok(c) => repo.config = c,
        Err(e) => {
            repo.config_valid = false;
            repo.diagnostics.push(Diagnostic {
                file: rel,
                pos: doc.start,
                field: String::new(),
                message: e.to_string(),
            });
        }
    }
    Ok(positions)
}

/// The `paths` entries of the repo config with where each is written (`["."]` by default).
pub(super) fn path_entries(
    config: &RepoConfig,
    positions: &PositionIndex,
) -> Vec<files::PathEntry> {
    let start = Pos { line: 1, column: 1 };
    match &config.paths {
        Some(paths) => paths
            .iter()
            .enumerate()
            .map(|(i, p)| files::PathEntry {
                path: p.clone(),
                field: format!("paths[{i}]"),
                pos: positions.locate(&format!("/paths/{i}")),
            })
            .collect(),
        None => vec![files::PathEntry {
            path: ".".to_owned(),
            field: "paths".to_owned(),
            pos: start,
        }],
    }
}
