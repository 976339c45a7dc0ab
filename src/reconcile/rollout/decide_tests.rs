use super::*;
use crate::reconcile::rollout::state::{MetricResult, Verdict};
use crate::spec::rollout::{Analysis, ManualPause, Metric, PrometheusRef, Step, Strategy};

fn rollout(steps: Vec<Step>, metrics: bool) -> Rollout {
    Rollout {
        strategy: Strategy::Canary,
        steps,
        analysis: metrics.then(|| Analysis {
            interval: "30s".into(),
            failure_limit: 2,
            inconclusive_limit: 2,
            prometheus: Some(PrometheusRef {
                address: "http://127.0.0.1:9090".into(),
            }),
            metrics: vec![Metric {
                name: "error-rate".into(),
                query: "q".into(),
                max: Some(0.01),
                min: None,
            }],
        }),
    }
}

fn step(weight: Option<u8>, pause: &str) -> Step {
    Step {
        weight,
        pause: Some(Pause::For(pause.into())),
    }
}

fn gate() -> Step {
    Step {
        weight: None,
        pause: Some(Pause::Manual(ManualPause {})),
    }
}

fn two_steps(metrics: bool) -> Rollout {
    rollout(vec![step(Some(10), "1m"), step(Some(50), "1m")], metrics)
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// git wants "new"; stable runs "old" with 4 pods and `state`; the canary runs `canary`.
fn seen(state: Option<State>, canary: Option<CanaryView>, now: i64) -> Observed {
    Observed {
        desired: "new".into(),
        stable: Some(StableView {
            digest: Some("old".into()),
            replicas: 4,
            state,
        }),
        canary,
        now: at(now),
    }
}

fn ready(replicas: i32) -> Option<CanaryView> {
    Some(CanaryView {
        digest: Some("new".into()),
        replicas,
        ready: replicas,
        ..Default::default()
    })
}

fn pass() -> Vec<MetricResult> {
    result(Some(0.001), Verdict::Pass)
}

fn result(value: Option<f64>, verdict: Verdict) -> Vec<MetricResult> {
    vec![MetricResult {
        name: "error-rate".into(),
        value,
        verdict,
        bound: (verdict == Verdict::Fail).then(|| "> 0.01".into()),
    }]
}

#[test]
fn canary_pods_reach_at_least_the_share() {
    assert_eq!(canary_replicas(4, 10), 1);
    assert_eq!(canary_replicas(4, 50), 4);
    assert_eq!(canary_replicas(2, 10), 1);
    assert_eq!(canary_replicas(9, 10), 1);
    assert_eq!(canary_replicas(10, 10), 2);
    assert_eq!(canary_replicas(0, 25), 1);
    assert_eq!(canary_replicas(3, 75), 9);
}

#[test]
fn a_first_deploy_and_the_same_version_apply_plainly() {
    let r = two_steps(true);
    let mut o = seen(None, None, 0);
    o.stable = None;
    assert_eq!(decide(&r, &o, None).shape, Shape::Stable);
    let mut o = seen(None, None, 0);
    o.desired = "old".into();
    let d = decide(&r, &o, None);
    assert_eq!((d.shape, d.changed), (Shape::Stable, false));
    // A stable Deployment from before the service used the canary strategy: no digest.
    let mut o = seen(None, None, 0);
    if let Some(s) = o.stable.as_mut() {
        s.digest = None;
    }
    assert_eq!(decide(&r, &o, None).shape, Shape::Stable);
}

#[test]
fn a_healthy_canary_passes_each_step_and_is_promoted() {
    let r = two_steps(true);
    let d = decide(&r, &seen(None, None, 0), None);
    assert_eq!(
        d.shape,
        Shape::Canary {
            replicas: 1,
            weight: 10
        }
    );
    assert_eq!(d.event, Some(Event::Started { superseded: false }));
    let st = d.state.clone().unwrap();
    assert!(d.changed);
    // Not ready yet: no check is due.
    assert!(!check_due(&r, &seen(Some(st.clone()), None, 40)));
    let o = seen(Some(st.clone()), ready(1), 30);
    assert!(check_due(&r, &o));
    let d = decide(&r, &o, Some(pass()));
    assert_eq!(d.event, None, "the pause of 1m has not elapsed");
    assert_eq!(d.wake, Some(Duration::from_secs(30)));
    let st = d.state.unwrap();
    let o = seen(Some(st.clone()), ready(1), 60);
    assert!(check_due(&r, &o));
    let d = decide(&r, &o, Some(pass()));
    assert_eq!(d.event, Some(Event::StepPassed { step: 1, steps: 2 }));
    assert_eq!(
        d.shape,
        Shape::Canary {
            replicas: 4,
            weight: 50
        }
    );
    let st = d.state.unwrap();
    assert_eq!((st.step, st.last_check), (1, None));
    // The step's pause elapses, but no check passed since the step began: not done yet.
    assert!(!check_due(&r, &seen(Some(st.clone()), ready(4), 88)));
    let o = seen(Some(st.clone()), ready(4), 120);
    assert!(check_due(&r, &o));
    assert_eq!(decide(&r, &o, None).event, None);
    let o = seen(Some(st), ready(4), 120);
    let d = decide(&r, &o, Some(pass()));
    assert_eq!(d.shape, Shape::Stable);
    assert_eq!(d.event, Some(Event::Promoted { by_operator: false }));
    assert_eq!((d.state, d.changed), (None, true));
}

#[test]
fn failed_checks_up_to_the_limit_abort_and_quarantine_the_revision() {
    let r = two_steps(true);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let d = decide(
        &r,
        &seen(Some(st), ready(1), 30),
        Some(result(Some(0.034), Verdict::Fail)),
    );
    assert_eq!(d.event, None, "failureLimit 2: one failure is tolerated");
    let st = d.state.unwrap();
    assert_eq!(st.failed, 1);
    let d = decide(
        &r,
        &seen(Some(st), ready(1), 60),
        Some(result(Some(0.05), Verdict::Fail)),
    );
    let cause = Cause::MetricFailed {
        metric: "error-rate".into(),
        value: 0.05,
        bound: "> 0.01".into(),
    };
    assert_eq!(d.event, Some(Event::Aborted(cause.clone())));
    assert_eq!(d.shape, Shape::Hold);
    let st = d.state.unwrap();
    assert_eq!(st.phase, Phase::Aborted);
    assert_eq!(cause.describe(), "error-rate 0.05 > 0.01");
    // Quarantined: later decisions keep holding, without writes or events.
    let d = decide(&r, &seen(Some(st.clone()), None, 3600), None);
    assert_eq!((d.shape, d.changed, d.event), (Shape::Hold, false, None));
    // Until git changes the service: a new rollout.
    let mut o = seen(Some(st), None, 3700);
    o.desired = "newer".into();
    let d = decide(&r, &o, None);
    assert_eq!(d.event, Some(Event::Started { superseded: false }));
    assert_eq!(d.state.unwrap().revision, "newer");
}

#[test]
fn no_data_is_never_a_pass_and_stops_the_rollout_at_the_limit() {
    let r = two_steps(true);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let d = decide(
        &r,
        &seen(Some(st), ready(1), 60),
        Some(result(None, Verdict::Inconclusive)),
    );
    assert_eq!(d.event, None, "the step did not pass without data");
    let st = d.state.unwrap();
    assert_eq!((st.step, st.inconclusive), (0, 1));
    let d = decide(
        &r,
        &seen(Some(st), ready(1), 90),
        Some(result(None, Verdict::Error)),
    );
    let cause = Cause::NoData {
        metric: "error-rate".into(),
    };
    assert_eq!(d.event, Some(Event::Inconclusive(cause)));
    let st = d.state.unwrap();
    assert_eq!(st.phase, Phase::Inconclusive);
    assert!(matches!(d.shape, Shape::Canary { .. }), "the canary stays");
    assert!(!check_due(&r, &seen(Some(st), ready(1), 200)));
}

#[test]
fn operators_pause_resume_promote_and_abort() {
    let r = two_steps(true);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let intent = |action, id: &str| {
        let mut c = ready(1);
        if let Some(c) = c.as_mut() {
            c.intent = Some(Intent {
                action,
                id: id.into(),
                revision: "new".into(),
            });
        }
        c
    };
    let d = decide(&r, &seen(Some(st), intent(Action::Pause, "1"), 10), None);
    assert_eq!(d.event, Some(Event::Paused { by_operator: true }));
    let st = d.state.unwrap();
    assert_eq!(st.phase, Phase::Paused);
    // The same intent again is not acted on twice.
    let d = decide(
        &r,
        &seen(Some(st.clone()), intent(Action::Pause, "1"), 500),
        None,
    );
    assert_eq!((d.event, d.changed), (None, false));
    let d = decide(&r, &seen(Some(st), intent(Action::Resume, "2"), 20), None);
    assert_eq!(d.event, Some(Event::Resumed));
    let st = d.state.unwrap();
    assert_eq!(st.phase, Phase::Progressing);
    let d = decide(
        &r,
        &seen(Some(st.clone()), intent(Action::Promote, "3"), 25),
        None,
    );
    assert_eq!(d.event, Some(Event::Promoted { by_operator: true }));
    assert_eq!(d.shape, Shape::Stable);
    let d = decide(&r, &seen(Some(st), intent(Action::Abort, "4"), 25), None);
    assert_eq!(d.event, Some(Event::Aborted(Cause::OperatorAbort)));
    // An intent for another revision is ignored.
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let mut c = intent(Action::Abort, "5");
    if let Some(i) = c.as_mut().and_then(|c| c.intent.as_mut()) {
        i.revision = "old".into();
    }
    assert_eq!(decide(&r, &seen(Some(st), c, 5), None).event, None);
}

#[test]
fn a_manual_gate_waits_for_resume_or_promote() {
    let r = rollout(vec![step(Some(20), "10s"), gate()], false);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let d = decide(&r, &seen(Some(st), ready(1), 10), None);
    assert_eq!(d.event, Some(Event::StepPassed { step: 1, steps: 2 }));
    let st = d.state.unwrap();
    let d = decide(&r, &seen(Some(st), ready(1), 11), None);
    assert_eq!(d.event, Some(Event::Paused { by_operator: false }));
    let st = d.state.unwrap();
    assert_eq!(d.wake, Some(Duration::from_secs(60)));
    let d = decide(&r, &seen(Some(st.clone()), ready(1), 5000), None);
    assert_eq!((d.event, d.changed), (None, false), "waits");
    let mut c = ready(1);
    if let Some(c) = c.as_mut() {
        c.intent = Some(Intent {
            action: Action::Resume,
            id: "r".into(),
            revision: "new".into(),
        });
    }
    let d = decide(&r, &seen(Some(st), c, 5001), None);
    assert_eq!(d.event, Some(Event::Promoted { by_operator: false }));
}

#[test]
fn a_canary_that_never_becomes_ready_is_aborted() {
    let r = two_steps(false);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let canary = Some(CanaryView {
        digest: Some("new".into()),
        replicas: 1,
        ready: 0,
        deadline_exceeded: true,
        restarts: None,
        intent: None,
    });
    let d = decide(&r, &seen(Some(st), canary, 700), None);
    assert_eq!(d.event, Some(Event::Aborted(Cause::CanaryUnavailable)));
}

#[test]
fn a_new_commit_supersedes_the_rollout_in_progress() {
    let r = two_steps(false);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let st = decide(&r, &seen(Some(st), ready(1), 60), None)
        .state
        .unwrap();
    assert_eq!(st.step, 1);
    let mut o = seen(Some(st), ready(4), 70);
    o.desired = "newer".into();
    let d = decide(&r, &o, None);
    assert_eq!(d.event, Some(Event::Started { superseded: true }));
    let st = d.state.unwrap();
    assert_eq!((st.revision.as_str(), st.step), ("newer", 0));
    assert_eq!(
        d.shape,
        Shape::Canary {
            replicas: 1,
            weight: 10
        }
    );
}

#[test]
fn without_metrics_a_step_passes_on_readiness_and_time() {
    let r = two_steps(false);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let d = decide(&r, &seen(Some(st.clone()), ready(1), 58), None);
    assert_eq!(d.event, None);
    assert_eq!(d.wake, Some(Duration::from_secs(2)));
    // Due within EARLY: it passes with the looks of other services due then.
    let d = decide(&r, &seen(Some(st.clone()), ready(1), 59), None);
    assert_eq!(d.event, Some(Event::StepPassed { step: 1, steps: 2 }));
    let d = decide(&r, &seen(Some(st.clone()), ready(0), 61), None);
    assert_eq!(d.event, None, "no canary pods ready");
    let d = decide(&r, &seen(Some(st), ready(1), 61), None);
    assert_eq!(d.event, Some(Event::StepPassed { step: 1, steps: 2 }));
}

#[test]
fn a_canary_whose_containers_restart_is_aborted() {
    let r = two_steps(true);
    let st = decide(&r, &seen(None, None, 0), None).state.unwrap();
    let mut canary = ready(1);
    if let Some(c) = canary.as_mut() {
        c.restarts = Some(0);
    }
    let d = decide(&r, &seen(Some(st.clone()), canary.clone(), 5), None);
    assert_eq!(d.event, None, "no restarts");
    if let Some(c) = canary.as_mut() {
        c.restarts = Some(2);
    }
    let d = decide(&r, &seen(Some(st), canary, 6), None);
    assert_eq!(
        d.event,
        Some(Event::Aborted(Cause::CanaryRestarted { restarts: 2 }))
    );
    assert_eq!(d.shape, Shape::Hold);
}
