//! Finding the `.sops.yaml` creation rule for `mlsync secrets encrypt`, the way `sops` finds
//! it: the file given with `--config` / `SOPS_CONFIG`, else `.sops.yaml` in the current
//! directory or the nearest parent (at most 100 levels up; a `.sops.yml` is ignored, as `sops`
//! ignores it). The file's path is made absolute and lexically cleaned (as Go's
//! `filepath.Abs`), then taken relative to the config's directory when it lies inside it.
//! The rule itself is chosen by [`crate::secrets::sops::creation`].

use std::path::{Component, Path, PathBuf};

use super::SecretsError;
use super::sops::creation::{self, CreationRule};

/// How many directories up `sops` looks for `.sops.yaml`.
const MAX_DEPTH: usize = 100;

/// A creation rule and the config file it comes from.
#[derive(Debug, Clone)]
pub struct AppliedRule {
    /// The `.sops.yaml` (as found or given).
    pub config: PathBuf,
    /// The chosen rule.
    pub rule: CreationRule,
}

/// Where mlsync looked for a config, for the message when none supplies recipients.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A rule applies.
    Found(AppliedRule),
    /// No `.sops.yaml` in the current directory or any parent.
    NoConfig {
        /// The directory the search started in.
        from: PathBuf,
    },
    /// A config was found but has no `creation_rules`.
    NoRules {
        /// The config file.
        config: PathBuf,
    },
}

/// The creation rule for encrypting `file`. `explicit` is `--config`/`SOPS_CONFIG`;
/// `keys_from_flag` says recipients came from `--age` (the rule's keys are then ignored).
pub fn creation_rule(
    explicit: Option<&Path>,
    file: &Path,
    keys_from_flag: bool,
) -> Result<Lookup, SecretsError> {
    let cwd = std::env::current_dir().map_err(|cause| SecretsError::Read {
        file: PathBuf::from("."),
        cause,
    })?;
    let config = match explicit {
        Some(path) => path.to_owned(),
        None => match find_config(&cwd) {
            Some(path) => path,
            None => return Ok(Lookup::NoConfig { from: cwd }),
        },
    };
    let text = std::fs::read_to_string(&config).map_err(|cause| SecretsError::Read {
        file: config.clone(),
        cause,
    })?;
    let abs_file = clean(&cwd.join(file));
    let config_dir = clean(&cwd.join(&config))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let relative = abs_file.strip_prefix(&config_dir).unwrap_or(&abs_file);
    let chosen =
        creation::select(&text, &relative.to_string_lossy(), keys_from_flag).map_err(|cause| {
            SecretsError::SopsConfig {
                file: config.clone(),
                cause,
            }
        })?;
    Ok(match chosen {
        Some(rule) => Lookup::Found(AppliedRule { config, rule }),
        None => Lookup::NoRules { config },
    })
}

/// `.sops.yaml` in `start` or the nearest of its parents.
fn find_config(start: &Path) -> Option<PathBuf> {
    let found = start
        .ancestors()
        .take(MAX_DEPTH)
        .map(|dir| dir.join(".sops.yaml"))
        .find(|candidate| candidate.is_file());
    if found.is_none()
        && let Some(alt) = start
            .ancestors()
            .take(MAX_DEPTH)
            .map(|dir| dir.join(".sops.yml"))
            .find(|candidate| candidate.is_file())
    {
        tracing::warn!(
            file = %alt.display(),
            "ignoring the sops config: it must be called .sops.yaml (as sops requires)"
        );
    }
    found
}

/// Resolves `.` and `..` lexically, like Go's `filepath.Clean` (no symlinks followed).
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_lexical() {
        assert_eq!(clean(Path::new("/a/b/../c/./d/")), PathBuf::from("/a/c/d"));
        assert_eq!(clean(Path::new("/../x")), PathBuf::from("/x"));
    }
}
