//! The next step of a rollout (pure): what was observed × the kept state → the state to keep,
//! the shape of the service's objects, an event and when to look again.
//!
//! - No stable Deployment yet, or one whose template digest is git's (or unknown, as before the
//!   service switched to `canary`): plain apply ([`Shape::Stable`]); a canary left over goes.
//! - Git's version differs from the stable one: a rollout of it. A new one (or one superseding
//!   the rollout of an older revision) starts at step 1. Each step sets the canary's share of
//!   the pods; it passes when its pause has elapsed with the canary available and, with
//!   metrics, the last check since the step began passed. After the last step: promotion.
//! - A check that fails counts against `failureLimit`; reaching it aborts. A check without data
//!   counts against `inconclusiveLimit` (in a row); reaching it stops the rollout
//!   ([`Phase::Inconclusive`]) until an operator promotes or aborts: no data is never a pass.
//! - Built-in checks, with or without metrics: the canary's pods restarting, or its Deployment
//!   exceeding its progress deadline, abort.
//! - Aborted: the canary goes, the stable version stays, and the revision stays quarantined
//!   until git's version changes ([`Shape::Hold`]).

use std::time::Duration;

use jiff::Timestamp;

use super::state::{Action, Cause, Intent, MetricResult, Phase, State, Verdict};
use crate::spec::rollout::{Pause, Rollout};

/// The stable Deployment as read.
#[derive(Debug, Clone, Default)]
pub struct StableView {
    /// Its template digest, when it carries one.
    pub digest: Option<String>,
    /// Its current replicas (the HPA's choice with autoscaling).
    pub replicas: i32,
    /// The kept rollout state.
    pub state: Option<State>,
}

/// The canary Deployment as read.
#[derive(Debug, Clone, Default)]
pub struct CanaryView {
    /// Its template digest.
    pub digest: Option<String>,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Ready pods of its current template.
    pub ready: i32,
    /// True once its `Progressing` condition says `ProgressDeadlineExceeded`.
    pub deadline_exceeded: bool,
    /// Container restarts of its pods (`None`: not read).
    pub restarts: Option<i32>,
    /// An operator's intent on it.
    pub intent: Option<Intent>,
}

/// Everything a decision reads.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The template digest of git's version.
    pub desired: String,
    /// The stable Deployment (`None`: not created yet).
    pub stable: Option<StableView>,
    /// The canary Deployment.
    pub canary: Option<CanaryView>,
    /// Now.
    pub now: Timestamp,
}

/// What the service's objects look like for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As rendered: the stable Deployment runs git's version; no canary.
    Stable,
    /// The stable Deployment and its config stay as they are; the canary runs git's version.
    Canary {
        /// The canary's pods.
        replicas: i32,
        /// The share of traffic asked for, in percent.
        weight: u8,
    },
    /// The stable Deployment and its config stay as they are; no canary (aborted).
    Hold,
}

/// What happened, for Events, logs and notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A rollout started; `superseded` when it replaced the rollout of an older revision.
    Started {
        /// It replaced one in progress.
        superseded: bool,
    },
    /// A step passed (`step` is 1-based).
    StepPassed {
        /// The step passed.
        step: usize,
        /// Of how many.
        steps: usize,
    },
    /// The canary's version became stable.
    Promoted {
        /// By `mlsync rollout promote` rather than by passing every step.
        by_operator: bool,
    },
    /// The rollout was given up.
    Aborted(Cause),
    /// The rollout stopped for lack of data.
    Inconclusive(Cause),
    /// The rollout waits for an operator.
    Paused {
        /// By `mlsync rollout pause` rather than a `pause: {}` step.
        by_operator: bool,
    },
    /// An operator resumed it.
    Resumed,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The service's objects.
    pub shape: Shape,
    /// The state to keep (`None`: no rollout).
    pub state: Option<State>,
    /// True when `state` differs from the kept one (a write is needed).
    pub changed: bool,
    /// What happened.
    pub event: Option<Event>,
    /// When to decide again (`None`: when the cluster or git changes).
    pub wake: Option<Duration>,
}

/// Looks again this often while waiting for an operator, should a watch event be missed.
const OPERATOR_RECHECK: Duration = Duration::from_secs(60);
/// A check or the end of a pause counts as due up to this much early (a fifth of its length at
/// most), so that the rollouts of several services due within it move in one look (the daemon
/// groups looks as closely).
pub const EARLY: Duration = Duration::from_secs(1);

/// How early a wait of `length` may end: [`EARLY`], at most a fifth of it.
fn early(length: Duration) -> Duration {
    EARLY.min(length / 5)
}
/// Looks again this often while the canary's pods are not ready yet.
const NOT_READY_RECHECK: Duration = Duration::from_secs(10);

/// The canary's share at `step`: its weight, else the last weight before it.
pub fn weight_at(rollout: &Rollout, step: usize) -> u8 {
    rollout
        .steps
        .iter()
        .take(step + 1)
        .filter_map(|s| s.weight)
        .next_back()
        .unwrap_or(10)
}

/// Canary pods for a share of `weight` percent beside `stable` pods: the fewest that reach the
/// share (at least 1), so canary ÷ (stable + canary) ≥ weight.
pub fn canary_replicas(stable: i32, weight: u8) -> i32 {
    let s = i64::from(stable.max(1));
    let w = i64::from(weight.clamp(1, 99));
    let c = (s * w + (99 - w)) / (100 - w);
    i32::try_from(c.max(1)).unwrap_or(i32::MAX)
}

/// True when the canary is due a metric check now.
pub fn check_due(rollout: &Rollout, o: &Observed) -> bool {
    let Some(analysis) = rollout.analysis.as_ref().filter(|a| !a.metrics.is_empty()) else {
        return false;
    };
    let Some(state) = current(o) else {
        return false;
    };
    state.phase == Phase::Progressing
        && canary_ready(rollout, o, state)
        && since(o.now, state.last_check.unwrap_or(state.step_started)) + early(analysis.interval())
            >= analysis.interval()
}

/// Decides; `check` holds the results of a check made now (when [`check_due`] said so).
pub fn decide(rollout: &Rollout, o: &Observed, check: Option<Vec<MetricResult>>) -> Decision {
    let kept = o.stable.as_ref().and_then(|s| s.state.clone());
    let rolling_out = o
        .stable
        .as_ref()
        .and_then(|s| s.digest.as_deref())
        .is_some_and(|d| d != o.desired);
    if !rolling_out {
        return Decision {
            shape: Shape::Stable,
            changed: kept.is_some(),
            state: None,
            event: None,
            wake: None,
        };
    }
    let mut st = match kept.clone() {
        Some(s) if s.revision == o.desired => s,
        previous => {
            let superseded = previous.is_some_and(|p| p.phase != Phase::Aborted);
            let st = State {
                revision: o.desired.clone(),
                phase: Phase::Progressing,
                step: 0,
                steps: rollout.steps.len(),
                started: o.now,
                step_started: o.now,
                failed: 0,
                inconclusive: 0,
                last_check: None,
                results: Vec::new(),
                cause: None,
                intent_seen: None,
            };
            return finish(rollout, o, &kept, st, Some(Event::Started { superseded }));
        }
    };
    if st.phase == Phase::Aborted {
        return Decision {
            shape: Shape::Hold,
            state: Some(st),
            changed: false,
            event: None,
            wake: None,
        };
    }
    let mut event = None;
    if let Some(intent) = o.canary.as_ref().and_then(|c| c.intent.as_ref())
        && intent.revision == st.revision
        && st.intent_seen.as_deref() != Some(intent.id.as_str())
    {
        st.intent_seen = Some(intent.id.clone());
        match intent.action {
            Action::Promote => return promote(&kept, true),
            Action::Abort => return abort(&kept, st, Cause::OperatorAbort),
            Action::Pause => {
                st.phase = Phase::Paused;
                event = Some(Event::Paused { by_operator: true });
            }
            Action::Resume => {
                let waiting_at_gate = st.phase == Phase::Paused && manual_at(rollout, st.step);
                st.phase = Phase::Progressing;
                st.inconclusive = 0;
                st.cause = None;
                event = Some(Event::Resumed);
                if waiting_at_gate {
                    return advance(rollout, o, &kept, st);
                }
            }
        }
    }
    let canary_current = o
        .canary
        .as_ref()
        .filter(|c| c.digest.as_deref() == Some(st.revision.as_str()));
    if canary_current.is_some_and(|c| c.deadline_exceeded) {
        return abort(&kept, st, Cause::CanaryUnavailable);
    }
    if let Some(restarts) = canary_current.and_then(|c| c.restarts).filter(|n| *n > 0) {
        return abort(&kept, st, Cause::CanaryRestarted { restarts });
    }
    if st.phase != Phase::Progressing {
        return finish(rollout, o, &kept, st, event);
    }
    if let Some(results) = check {
        st.last_check = Some(o.now);
        let failed = results.iter().find(|r| r.verdict == Verdict::Fail).cloned();
        let missing = results
            .iter()
            .find(|r| matches!(r.verdict, Verdict::Inconclusive | Verdict::Error))
            .cloned();
        st.results = results;
        let analysis = rollout.analysis.as_ref();
        if let Some(f) = failed {
            st.failed += 1;
            st.inconclusive = 0;
            if st.failed >= analysis.map_or(1, |a| a.failure_limit) {
                let cause = Cause::MetricFailed {
                    metric: f.name,
                    value: f.value.unwrap_or(f64::NAN),
                    bound: f.bound.unwrap_or_default(),
                };
                return abort(&kept, st, cause);
            }
        } else if let Some(m) = missing {
            st.inconclusive += 1;
            if st.inconclusive >= analysis.map_or(3, |a| a.inconclusive_limit) {
                let cause = Cause::NoData { metric: m.name };
                st.phase = Phase::Inconclusive;
                st.cause = Some(cause.clone());
                return finish(rollout, o, &kept, st, Some(Event::Inconclusive(cause)));
            }
        } else {
            st.inconclusive = 0;
        }
    }
    if step_done(rollout, o, &st) {
        if manual_at(rollout, st.step) {
            st.phase = Phase::Paused;
            return finish(
                rollout,
                o,
                &kept,
                st,
                Some(Event::Paused { by_operator: false }),
            );
        }
        return advance(rollout, o, &kept, st);
    }
    finish(rollout, o, &kept, st, event)
}

/// The kept state of the rollout of git's version, if one is under way.
fn current(o: &Observed) -> Option<&State> {
    o.stable
        .as_ref()?
        .state
        .as_ref()
        .filter(|s| s.revision == o.desired)
}

fn since(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

fn pause_at(rollout: &Rollout, step: usize) -> Duration {
    match rollout.steps.get(step).and_then(|s| s.pause.as_ref()) {
        Some(Pause::For(text)) => {
            crate::spec::rollout::parse_duration(text).unwrap_or(Duration::ZERO)
        }
        Some(Pause::Manual(_)) | None => Duration::ZERO,
    }
}

fn manual_at(rollout: &Rollout, step: usize) -> bool {
    matches!(
        rollout.steps.get(step).and_then(|s| s.pause.as_ref()),
        Some(Pause::Manual(_))
    )
}

fn expected_replicas(rollout: &Rollout, o: &Observed, step: usize) -> i32 {
    let stable = o.stable.as_ref().map_or(1, |s| s.replicas);
    canary_replicas(stable, weight_at(rollout, step))
}

/// The canary runs the state's revision with every pod of the current step ready.
fn canary_ready(rollout: &Rollout, o: &Observed, st: &State) -> bool {
    let want = expected_replicas(rollout, o, st.step);
    o.canary.as_ref().is_some_and(|c| {
        c.digest.as_deref() == Some(st.revision.as_str()) && c.replicas >= want && c.ready >= want
    })
}

fn step_done(rollout: &Rollout, o: &Observed, st: &State) -> bool {
    if !canary_ready(rollout, o, st)
        || since(o.now, st.step_started) + early(pause_at(rollout, st.step))
            < pause_at(rollout, st.step)
    {
        return false;
    }
    let metrics = rollout
        .analysis
        .as_ref()
        .is_some_and(|a| !a.metrics.is_empty());
    !metrics
        || (st.last_check.is_some_and(|t| t >= st.step_started)
            && !st.results.is_empty()
            && st.results.iter().all(|r| r.verdict == Verdict::Pass))
}

fn advance(rollout: &Rollout, o: &Observed, kept: &Option<State>, mut st: State) -> Decision {
    let passed = st.step + 1;
    if passed >= rollout.steps.len() {
        return promote(kept, false);
    }
    st.step = passed;
    st.step_started = o.now;
    st.last_check = None;
    st.results.clear();
    let event = Event::StepPassed {
        step: passed,
        steps: rollout.steps.len(),
    };
    finish(rollout, o, kept, st, Some(event))
}

fn promote(kept: &Option<State>, by_operator: bool) -> Decision {
    Decision {
        shape: Shape::Stable,
        state: None,
        changed: kept.is_some(),
        event: Some(Event::Promoted { by_operator }),
        wake: None,
    }
}

fn abort(kept: &Option<State>, mut st: State, cause: Cause) -> Decision {
    st.phase = Phase::Aborted;
    st.cause = Some(cause.clone());
    Decision {
        shape: Shape::Hold,
        changed: kept.as_ref() != Some(&st),
        state: Some(st),
        event: Some(Event::Aborted(cause)),
        wake: None,
    }
}

/// A decision that keeps the canary at the state's step.
fn finish(
    rollout: &Rollout,
    o: &Observed,
    kept: &Option<State>,
    st: State,
    event: Option<Event>,
) -> Decision {
    let weight = weight_at(rollout, st.step);
    let replicas = expected_replicas(rollout, o, st.step);
    let wake = match st.phase {
        Phase::Progressing => Some(next_look(rollout, o, &st)),
        Phase::Paused | Phase::Inconclusive => Some(OPERATOR_RECHECK),
        Phase::Aborted => None,
    };
    Decision {
        shape: Shape::Canary { replicas, weight },
        changed: kept.as_ref() != Some(&st),
        state: Some(st),
        event,
        wake,
    }
}

/// How long until the next check or the end of the step's pause, at least a second; while
/// the canary's pods are not ready, the watch of its Deployment wakes the daemon (and
/// [`NOT_READY_RECHECK`] should it miss an event).
fn next_look(rollout: &Rollout, o: &Observed, st: &State) -> Duration {
    if !canary_ready(rollout, o, st) {
        return NOT_READY_RECHECK;
    }
    let until = |from: Timestamp, after: Duration| after.saturating_sub(since(o.now, from));
    let mut wake = until(st.step_started, pause_at(rollout, st.step));
    if let Some(a) = rollout.analysis.as_ref().filter(|a| !a.metrics.is_empty()) {
        let check = until(st.last_check.unwrap_or(st.step_started), a.interval());
        wake = if wake.is_zero() {
            check
        } else {
            wake.min(check)
        };
    }
    wake.max(Duration::from_secs(1))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
