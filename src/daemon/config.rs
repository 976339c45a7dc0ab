//! The daemon config file (`mlsync run --config FILE`): the clusters to reconcile (targets)
//! and where to send notifications.
//!
//! ```yaml
//! targets:
//!   - name: staging
//!     context: staging              # a context of the kubeconfig (--kubeconfig or the default)
//!     environment: staging          # environments.staging of the repo's mlsync.yaml
//!   - name: prod
//!     kubeconfig: /etc/mlsync/prod.kubeconfig   # a credential file of its own
//!     environment: prod
//! notifications: []                 # see crate::notifications
//! ```
//!
//! Without a config file, or one without `targets`, the daemon has one unnamed target: the
//! cluster of `--kubeconfig`/`--context` and the environment of `--env`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cluster::KubeOptions;
use crate::notifications::ReceiverConfig;

/// Errors reading the daemon config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read daemon config {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not a valid daemon config.
    #[error("failed to load daemon config {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The daemon config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DaemonConfig {
    /// The clusters to reconcile, each independently.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Where to send notifications (see [`crate::notifications`]).
    #[serde(default)]
    pub notifications: Vec<ReceiverConfig>,
}

/// One cluster of the daemon config.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetConfig {
    /// Names the target in logs, `/status`, metrics (`target` label), Events and notifications.
    pub name: String,
    /// Kubeconfig file of this target (default: the daemon's, as kubectl finds it).
    pub kubeconfig: Option<PathBuf>,
    /// Context of that kubeconfig (default: its current context).
    pub context: Option<String>,
    /// Environment of the repo's `mlsync.yaml` whose overlays this target applies (default:
    /// the base specs).
    pub environment: Option<String>,
}

/// A target the daemon reconciles, resolved.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Its name; `None` for the one target of a daemon without config file.
    pub name: Option<String>,
    /// How to reach its cluster.
    pub kube: KubeOptions,
    /// Its environment.
    pub env: Option<String>,
}

impl DaemonConfig {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let config: DaemonConfig =
            serde_saphyr::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        config.check().map_err(invalid)?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            if crate::spec::limits::dns1123_label(&t.name).is_some() {
                return Err(format!(
                    "targets[{i}].name {:?} must be a DNS-1123 label: at most 63 lowercase letters, digits and '-'",
                    t.name
                ));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(format!("targets[{i}].name {:?} is used twice", t.name));
            }
        }
        Ok(())
    }

    /// The targets, with the daemon's `--kubeconfig` as the default kubeconfig of each.
    pub fn targets(&self, default_kubeconfig: Option<&Path>) -> Vec<TargetSpec> {
        self.targets
            .iter()
            .map(|t| TargetSpec {
                name: Some(t.name.clone()),
                kube: KubeOptions {
                    kubeconfig: t
                        .kubeconfig
                        .clone()
                        .or_else(|| default_kubeconfig.map(Path::to_owned)),
                    context: t.context.clone(),
                },
                env: t.environment.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<DaemonConfig, ConfigError> {
        let dir = tempfile::tempdir().map_err(|cause| ConfigError::Read {
            path: PathBuf::new(),
            cause,
        })?;
        let path = dir.path().join("daemon.yaml");
        std::fs::write(&path, text).map_err(|cause| ConfigError::Read {
            path: path.clone(),
            cause,
        })?;
        DaemonConfig::load(&path).map_err(|e| match e {
            ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                path: PathBuf::from("daemon.yaml"),
                message,
            },
            other => other,
        })
    }

    #[test]
    fn targets_inherit_the_daemon_kubeconfig_unless_they_name_their_own() {
        let c = load(
            "targets:\n  - {name: staging, context: stg, environment: staging}\n  - {name: prod, kubeconfig: /etc/p.kubeconfig}\n",
        )
        .unwrap();
        let t = c.targets(Some(Path::new("/etc/default.kubeconfig")));
        assert_eq!(t[0].name.as_deref(), Some("staging"));
        assert_eq!(
            t[0].kube.kubeconfig.as_deref(),
            Some(Path::new("/etc/default.kubeconfig"))
        );
        assert_eq!(t[0].kube.context.as_deref(), Some("stg"));
        assert_eq!(t[0].env.as_deref(), Some("staging"));
        assert_eq!(
            t[1].kube.kubeconfig.as_deref(),
            Some(Path::new("/etc/p.kubeconfig"))
        );
        assert_eq!(t[1].env, None);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let msg = |text: &str| {
            load(text)
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(
            msg("targets:\n  - {name: a}\n  - {name: a}\n"),
            "failed to load daemon config daemon.yaml: targets[1].name \"a\" is used twice"
        );
        assert_eq!(
            msg("targets:\n  - {name: Prod}\n"),
            "failed to load daemon config daemon.yaml: targets[0].name \"Prod\" must be a DNS-1123 label: at most 63 lowercase letters, digits and '-'"
        );
        assert!(msg("targets:\n  - {name: a, contxt: b}\n").contains("contxt"));
    }
}
