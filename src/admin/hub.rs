//! What the admin server serves when the daemon reconciles several targets: each target's
//! [`AdminState`], joined into one `/readyz`, `/metrics` and `/status`.
//!
//! One target without a name (no daemon config) is served exactly as before targets existed.
//! With named targets, every metric carries a `target` label, `/status` is
//! `{"ready": …, "targets": [{"target": "prod", …}, …]}`, `/readyz` answers ready once every
//! target has reconciled successfully, and a webhook fires every target's trigger.

use std::sync::Arc;

use serde_json::{Value, json};

use super::AdminState;
use super::webhook::WebhookSecret;
use crate::trigger::TriggerSender;

/// The admin server's state: every target's [`AdminState`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    targets: Arc<[AdminState]>,
    /// Metrics of the daemon as a whole (notifications), without a `target` label.
    daemon: Option<Arc<prometheus_client::registry::Registry>>,
    trigger: TriggerSender,
    webhook_secret: Option<Arc<WebhookSecret>>,
}

impl From<AdminState> for Hub {
    fn from(state: AdminState) -> Self {
        Self {
            daemon: None,
            trigger: state.trigger().clone(),
            webhook_secret: state.webhook_secret.clone(),
            targets: Arc::from(vec![state]),
        }
    }
}

impl Hub {
    /// A hub over `targets`; webhooks fire `trigger` (which reaches every target) and are
    /// checked with `webhook_secret` (disabled without one).
    pub fn new(
        targets: Vec<AdminState>,
        trigger: TriggerSender,
        webhook_secret: Option<WebhookSecret>,
    ) -> Self {
        Self {
            targets: Arc::from(targets),
            daemon: None,
            trigger,
            webhook_secret: webhook_secret.map(Arc::new),
        }
    }

    /// Serves `registry` too: metrics of the daemon as a whole (its notifications).
    pub fn with_daemon_metrics(mut self, registry: prometheus_client::registry::Registry) -> Self {
        self.daemon = Some(Arc::new(registry));
        self
    }

    /// Every target's state.
    pub fn targets(&self) -> &[AdminState] {
        &self.targets
    }

    /// The trigger webhooks fire.
    pub fn trigger(&self) -> &TriggerSender {
        &self.trigger
    }

    pub(super) fn webhook_secret(&self) -> Option<&WebhookSecret> {
        self.webhook_secret.as_deref()
    }

    /// Ready once every target has reconciled successfully.
    pub(super) fn is_ready(&self) -> bool {
        !self.targets.is_empty() && self.targets.iter().all(AdminState::is_ready)
    }

    /// The status JSON: one target's status, or every target's under `targets`.
    pub fn status_json(&self) -> Value {
        match &*self.targets {
            [one] if one.target().is_none() => {
                serde_json::to_value(one.status()).unwrap_or(Value::Null)
            }
            many => {
                let list: Vec<Value> = many
                    .iter()
                    .map(|t| serde_json::to_value(t.status()).unwrap_or(Value::Null))
                    .collect();
                json!({ "ready": self.is_ready(), "targets": list })
            }
        }
    }

    /// Every target's metrics as one OpenMetrics exposition.
    pub fn metrics_text(&self) -> Result<String, std::fmt::Error> {
        let mut texts = self
            .targets
            .iter()
            .map(|t| t.metrics().encode())
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(registry) = &self.daemon {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, registry)?;
            texts.push(text);
        }
        Ok(merge_expositions(&texts))
    }
}

/// Joins OpenMetrics texts whose families have the same names (one per target, told apart by
/// a `target` label) into one text in which each family appears once: its `# HELP`/`# TYPE`/
/// `# UNIT` lines from the first text that has it, then the samples of every text in order.
/// Prometheus refuses an exposition that declares a family twice.
pub fn merge_expositions(texts: &[String]) -> String {
    if let [one] = texts {
        return one.clone();
    }
    // Families in first-seen order: name, header lines (from the first text declaring it),
    // which text those came from, and every text's samples.
    let mut families: Vec<(&str, Vec<&str>, usize, Vec<&str>)> = Vec::new();
    for (t, text) in texts.iter().enumerate() {
        let mut current: Option<usize> = None;
        for line in text.lines().filter(|l| *l != "# EOF") {
            let Some(rest) = line.strip_prefix("# ") else {
                if let Some(i) = current {
                    families[i].3.push(line);
                }
                continue;
            };
            let Some(name) = rest.split(' ').nth(1) else {
                continue;
            };
            let i = match families.iter().position(|f| f.0 == name) {
                Some(i) => i,
                None => {
                    families.push((name, Vec::new(), t, Vec::new()));
                    families.len() - 1
                }
            };
            current = Some(i);
            if families[i].2 == t {
                families[i].1.push(line);
            }
        }
    }
    let mut out = String::new();
    for (_, headers, _, samples) in &families {
        for line in headers.iter().chain(samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_declared_once_with_every_targets_samples() {
        let a = "# HELP mlsync_reconciles Reconciles by outcome.\n# TYPE mlsync_reconciles counter\n\
                 mlsync_reconciles_total{target=\"a\",outcome=\"success\"} 1\n\
                 # HELP mlsync_up Up.\n# TYPE mlsync_up gauge\nmlsync_up{target=\"a\"} 1\n# EOF\n";
        let b = a.replace("\"a\"", "\"b\"").replace("} 1", "} 2");
        let merged = merge_expositions(&[a.to_owned(), b]);
        assert_eq!(
            merged,
            "# HELP mlsync_reconciles Reconciles by outcome.\n# TYPE mlsync_reconciles counter\n\
             mlsync_reconciles_total{target=\"a\",outcome=\"success\"} 1\n\
             mlsync_reconciles_total{target=\"b\",outcome=\"success\"} 2\n\
             # HELP mlsync_up Up.\n# TYPE mlsync_up gauge\n\
             mlsync_up{target=\"a\"} 1\nmlsync_up{target=\"b\"} 2\n# EOF\n"
        );
    }

    #[test]
    fn one_text_is_served_as_it_is() {
        let a = "# HELP x X.\n# TYPE x gauge\nx 1\n# EOF\n".to_owned();
        assert_eq!(merge_expositions(std::slice::from_ref(&a)), a);
    }
}
