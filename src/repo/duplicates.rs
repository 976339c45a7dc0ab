//! Services defined more than once (same namespace and name): reported at their second
//! definition, and neither copy is valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::yaml::Pos;
use super::{Diagnostic, InvalidService, Repo, yaml};

pub(super) fn mark_duplicates(repo: &mut Repo) {
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    let mut dups = Vec::new();
    for s in &repo.services {
        let key = (s.namespace.clone(), s.spec.metadata.name.clone());
        match seen.get(&key) {
            Some(first) => dups.push((key, first.clone(), s.file.clone())),
            None => {
                seen.insert(key, s.file.clone());
            }
        }
    }
    for ((namespace, name), first, second) in &dups {
        let at = |file: &Path| name_position(&repo.root, file, name);
        let (p1, p2) = (at(first), at(second));
        repo.diagnostics.push(Diagnostic {
            file: second.clone(),
            pos: p2,
            field: "metadata.name".into(),
            message: format!(
                "duplicate service {namespace}/{name}: also defined at {}:{}",
                first.display(),
                p1.line
            ),
        });
    }
    repo.services.retain(|s| {
        !dups
            .iter()
            .any(|((ns, n), ..)| *ns == s.namespace && *n == s.spec.metadata.name)
    });
    for ((namespace, name), ..) in dups {
        repo.invalid.push(InvalidService { namespace, name });
    }
}

/// Where `metadata.name: <name>` stands in `file` (parsed again: only needed for reports).
fn name_position(root: &Path, file: &Path, name: &str) -> Pos {
    let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
    yaml::parse_documents(&text)
        .ok()
        .and_then(|docs| {
            docs.into_iter()
                .find(|d| d.value.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
                .map(|d| d.positions.locate("/metadata/name"))
        })
        .unwrap_or(Pos { line: 1, column: 1 })
}
