//! Recording what a cycle did: the admin state (status, metrics), systemd's status line, the
//! ownership id in the logs, and the Event of a commit refused for its signature.

use std::time::{Duration, Instant};

use tracing::warn;

use super::{Cycle, CycleResult};
use crate::admin::status::{Outcome, ReconcileReport};
use crate::reconcile::events::Context;
use crate::source_id::{SourceId, SourceIdPolicy};

impl Cycle {
    /// Records a commit refused for its signature as a Warning Event on the inventory
    /// ConfigMap, once this target has applied (before, there is no object to attach it to).
    pub(super) async fn record_unverified(&mut self, commit: &str, reason: &str) {
        let (Some(events), Some((home, source))) = (self.events.as_mut(), &self.inventory) else {
            return;
        };
        if !self.leader.is_leader() {
            return;
        }
        let ctx = Context {
            revision: Some(commit),
            home_namespace: home,
            source_id: source,
            invalid: &[],
        };
        let event = crate::reconcile::events::commit_unverified(&ctx, commit, reason);
        events.publish(&[event]).await;
    }

    pub(super) fn fail(
        &self,
        revision: Option<String>,
        error: String,
        started: Instant,
    ) -> CycleResult {
        self.record(&ReconcileReport {
            outcome: Outcome::Failure,
            duration: started.elapsed(),
            revision,
            error: Some(error),
            services: None,
            prune_refused: None,
            kept_services: vec![],
        });
        CycleResult::Failed
    }

    pub(super) fn record(&self, report: &ReconcileReport) {
        self.state.record_reconcile(report);
        let line = status_line(report);
        if let Err(e) = self.notifier.status(&line) {
            warn!(error = %e, "sd_notify STATUS failed");
        }
    }
}

/// Logs the ownership id when it is first known, and warns when it changes (a different
/// `sourceId` committed to mlsync.yaml).
pub(super) fn note_source_id(last: &mut Option<SourceId>, policy: &SourceIdPolicy, id: &SourceId) {
    match last.as_ref() {
        Some(l) if l == id => return,
        Some(l) => warn!(
            from = %l.id,
            to = %id.id,
            origin = %id.origin,
            "ownership source id changed: objects labelled mlsync.dev/source={} are no longer this daemon's and show up as conflicts",
            l.id
        ),
        None => policy.log(id),
    }
    *last = Some(id.clone());
}

/// The one-line systemd status after a reconcile.
pub fn status_line(r: &ReconcileReport) -> String {
    let rev = r
        .revision
        .as_deref()
        .map_or("none", |s| s.get(..12).unwrap_or(s));
    let mut line = format!("{} at {rev} in {}", r.outcome.as_str(), secs(r.duration));
    if let Some(e) = &r.error {
        line.push_str(": ");
        line.push_str(e);
    }
    line
}

pub(super) fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_is_short() {
        let r = ReconcileReport {
            outcome: Outcome::Failure,
            duration: Duration::from_millis(1234),
            revision: Some("0123456789abcdef0123".into()),
            error: Some("failed to fetch".into()),
            services: None,
            prune_refused: None,
            kept_services: vec![],
        };
        assert_eq!(
            status_line(&r),
            "failure at 0123456789ab in 1.2s: failed to fetch"
        );
    }
}
