//! One target's reconcile loop: its triggers, poll schedule and backoff, leadership and
//! canary wakes. A daemon runs one loop per target, concurrently: a target whose cluster is
//! down backs off on its own and never delays another.

use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::cycle::{Cycle, CycleResult};
use super::leader::LeaderStatus;
use super::schedule::{Schedule, draw};
use super::{round_ms, sleep_until_some, stopped};
use crate::trigger::{TriggerReason, TriggerReceiver, TriggerSender};

/// A target's loop, ready to run.
pub struct TargetLoop {
    /// The reconcile of this target.
    pub cycle: Cycle,
    /// Fires this target's reconciles.
    pub triggers: TriggerSender,
    /// Receives them.
    pub next: TriggerReceiver,
    /// Whether this replica leads for this target.
    pub leader: LeaderStatus,
    /// Poll interval and backoff.
    pub schedule: Schedule,
    /// How long the reconcile in flight may take after the stop.
    pub shutdown_timeout: std::time::Duration,
}

impl TargetLoop {
    /// Runs until `stop` holds `true`; a reconcile in flight then gets `shutdown_timeout`.
    pub async fn run(mut self, stop: tokio_watch::Receiver<bool>) {
        let shutdown = stopped(stop);
        tokio::pin!(shutdown);
        self.triggers.fire(TriggerReason::Startup);
        let schedule = self.schedule;
        let mut due = Instant::now() + schedule.next_poll(draw());
        let mut failures: u32 = 0;
        let mut leader_open = true;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                leading = self.leader.changed(), if leader_open => {
                    if leading {
                        info!("leading now; reconciling");
                        self.triggers.fire(TriggerReason::Manual);
                    } else if self.leader.receiver().has_changed().is_err() {
                        warn!("leader election ended; no more reconciles");
                        leader_open = false;
                    } else {
                        info!("not leading any more; reconciles pause");
                    }
                }
                Some(t) = self.next.recv() => {
                    if !self.leader.is_leader() {
                        debug!(trigger = %t.reason, "not reconciling: standing by (not the leader)");
                        due = Instant::now() + schedule.next_poll(draw());
                        continue;
                    }
                    let work = self.cycle.run(t.reason);
                    tokio::pin!(work);
                    let finished = tokio::select! {
                        biased;
                        r = &mut work => Some(r),
                        () = &mut shutdown => None,
                    };
                    let Some(result) = finished else {
                        info!(timeout = %humantime::format_duration(self.shutdown_timeout), "shutting down: waiting for the reconcile in flight");
                        match tokio::time::timeout(self.shutdown_timeout, work).await {
                            Ok(_) => info!("reconcile in flight finished"),
                            Err(_) => warn!("reconcile in flight did not finish in time; abandoned"),
                        }
                        break;
                    };
                    due = match result {
                        CycleResult::Done => {
                            failures = 0;
                            Instant::now() + schedule.next_poll(draw())
                        }
                        CycleResult::Failed => {
                            failures = failures.saturating_add(1);
                            let wait = schedule.next_retry(failures, draw());
                            info!(retry_in = %humantime::format_duration(round_ms(wait)), failures, "reconcile failed; retrying with backoff");
                            Instant::now() + wait
                        }
                    };
                }
                () = tokio::time::sleep_until(due) => {
                    self.triggers.fire(TriggerReason::Poll);
                    due = Instant::now() + schedule.next_poll(draw());
                }
                () = sleep_until_some(self.cycle.next_rollout_look().map(Instant::from_std)) => {
                    self.triggers.fire(TriggerReason::Rollout);
                    self.cycle.rollout_looks_fired();
                }
            }
        }
    }
}
