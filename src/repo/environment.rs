//! Loading for an environment (`--env`): what the overlays change about the load's result
//! (services with a broken overlay, overlays naming no service) and where problems of merged
//! specs are reported.

use std::collections::BTreeSet;
use std::path::Path;

use super::diagnostic::field_path;
use super::yaml::Document;
use super::{Diagnostic, InvalidService, Repo};
use crate::spec::schema;

/// After the base specs of an environment load: overlays that name no service are reported,
/// services with a broken overlay are invalid, and when the environment itself could not be
/// read (invalid `mlsync.yaml`) nothing is applied: the base alone is not what it asks for.
pub(super) fn settle(repo: &mut Repo) {
    let env_known = repo.environment.is_some();
    let broken = &repo.overlays.broken;
    let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut repo.services)
        .into_iter()
        .partition(|s| env_known && !broken.contains(&s.spec.metadata.name));
    repo.services = keep;
    repo.invalid
        .extend(drop.into_iter().map(|s| InvalidService {
            namespace: s.namespace,
            name: s.spec.metadata.name,
        }));
    let names: BTreeSet<&str> = repo
        .services
        .iter()
        .map(|s| s.spec.metadata.name.as_str())
        .chain(repo.invalid.iter().map(|s| s.name.as_str()))
        .collect();
    let mut orphans = Vec::new();
    for (service, o) in &repo.overlays.by_service {
        if names.contains(service.as_str()) {
            continue;
        }
        let hint = names
            .iter()
            .map(|n| (strsim::damerau_levenshtein(service, n), *n))
            .filter(|(d, n)| *d <= 2.max(n.len() / 4))
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        orphans.push(Diagnostic {
            file: o.file.clone(),
            pos: o.doc.positions.locate("/metadata/name"),
            field: String::new(),
            message: format!(
                "no service named {service} in the base specs{hint}: an overlay is named after the service it changes"
            ),
        });
    }
    repo.diagnostics.extend(orphans);
}

/// Problems of a spec merged with its environment overlay: each where it was written (see
/// [`super::overlay::Overlays::locate`]), and naming the environment.
pub(super) fn push_overlaid(
    repo: &mut Repo,
    file: &Path,
    doc: &Document,
    name: &str,
    v: Vec<schema::Violation>,
) {
    let env = repo.overlays.env.clone();
    for x in v {
        let (file, pos) = match repo.overlays.locate(name, &doc.value, &x.pointer) {
            Some(at) => (at.file, at.pos),
            None => (file.to_owned(), doc.positions.locate(&x.pointer)),
        };
        repo.diagnostics.push(Diagnostic {
            file,
            pos,
            field: field_path(&x.pointer),
            message: format!("{} (environment {env})", x.message),
        });
    }
}
