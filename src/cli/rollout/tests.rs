//! Tests of `mlsync rollout`.

mod unit {
    #[allow(unused_imports)]
    use super::super::show::*;
    use super::super::*;
    use crate::reconcile::keys::ServiceKey;
    use crate::reconcile::rollout::decide::{Decision, Event, Shape};
    use crate::reconcile::rollout::state::{Cause, MetricResult, Verdict};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn state(phase: Phase) -> State {
        State {
            revision: "0123456789abcdef0123456789abcdef".into(),
            phase,
            step: 1,
            steps: 3,
            started: t("2026-11-27T21:00:00Z"),
            step_started: t("2026-11-27T21:05:00.5Z"),
            failed: 1,
            inconclusive: 0,
            last_check: Some(t("2026-11-27T21:06:00Z")),
            results: vec![
                MetricResult {
                    name: "error-rate".into(),
                    value: Some(0.002),
                    verdict: Verdict::Pass,
                    bound: None,
                },
                MetricResult {
                    name: "p95-latency-seconds".into(),
                    value: Some(0.41),
                    verdict: Verdict::Fail,
                    bound: Some("> 0.3".into()),
                },
                MetricResult {
                    name: "rps".into(),
                    value: None,
                    verdict: Verdict::Inconclusive,
                    bound: None,
                },
            ],
            cause: None,
            intent_seen: Some("seen".into()),
        }
    }

    fn deployment(annotations: Value, status: Value) -> Value {
        json!({
            "metadata": {"name": "x", "generation": 2, "annotations": annotations},
            "spec": {"replicas": 2},
            "status": status,
        })
    }

    fn live(stable: Option<&State>, canary: Option<Value>) -> Live {
        Live {
            namespace: "ml".into(),
            service: "iris".into(),
            stable: Some(deployment(
                stable.map_or(json!({}), |s| json!({STATE_ANNOTATION: s.to_annotation()})),
                json!({}),
            )),
            canary,
        }
    }

    fn canary(revision: &str, intent: Option<&Intent>) -> Value {
        let mut a = json!({TEMPLATE_ANNOTATION: revision});
        if let Some(i) = intent {
            a[INTENT_ANNOTATION] = json!(i.to_annotation());
        }
        deployment(
            a,
            json!({"observedGeneration": 2, "readyReplicas": 2, "updatedReplicas": 1}),
        )
    }

    #[test]
    fn the_text_status_shows_every_field() {
        let st = state(Phase::Progressing);
        let pending = Intent {
            action: Action::Pause,
            id: "17-ab".into(),
            revision: st.revision.clone(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&pending))));
        let shown = Shown::new(&l, &st);
        let text = render_text(&shown, t("2026-11-27T21:06:30Z"));
        assert_eq!(
            text,
            "\
Service:        ml/iris
Revision:       0123456789abcdef0123456789abcdef
Phase:          progressing
Step:           2/3
Started:        2026-11-27T21:00:00Z (6m 30s ago)
Step started:   2026-11-27T21:05:00Z (1m 29s ago)
Failed checks:  1
No data:        0 checks in a row
Last check:     2026-11-27T21:06:00Z (30s ago)
  error-rate            0.002   pass
  p95-latency-seconds   0.41    fail (> 0.3)
  rps                   -       inconclusive
Canary pods:    1/2 ready
Pending intent: pause (id 17-ab), not acted on yet
"
        );
    }

    #[test]
    fn an_aborted_rollout_shows_its_cause_and_no_canary() {
        let mut st = state(Phase::Aborted);
        st.cause = Some(Cause::OperatorAbort);
        st.last_check = None;
        st.results.clear();
        let l = live(Some(&st), None);
        let text = render_text(&Shown::new(&l, &st), t("2026-11-27T21:06:30Z"));
        assert!(text.contains("\nLast check:     none yet\n"), "{text}");
        assert!(
            text.contains("\nCause:          aborted by an operator (mlsync rollout abort)\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\nCanary pods:    none (Deployment iris-canary not found)\n"),
            "{text}"
        );
    }

    #[test]
    fn the_json_status_is_the_state_with_canary_and_pending_intent() {
        let st = state(Phase::Paused);
        let seen = Intent {
            action: Action::Pause,
            id: "seen".into(),
            revision: st.revision.clone(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&seen))));
        let doc = render_json(&l, &Shown::new(&l, &st));
        assert_eq!(doc["namespace"], "ml");
        assert_eq!(doc["service"], "iris");
        assert_eq!(doc["phase"], "paused");
        assert_eq!(doc["step"], 1);
        assert_eq!(doc["intentSeen"], "seen");
        assert_eq!(doc["results"][1]["bound"], "> 0.3");
        assert_eq!(doc["canary"], json!({"replicas": 2, "ready": 1}));
        // Acted on already: not pending.
        assert_eq!(doc["pendingIntent"], Value::Null);
        let l = live(Some(&st), None);
        assert_eq!(render_json(&l, &Shown::new(&l, &st))["canary"], Value::Null);
    }

    #[test]
    fn an_intent_for_another_revision_is_not_pending() {
        let st = state(Phase::Progressing);
        let old = Intent {
            action: Action::Abort,
            id: "new-id".into(),
            revision: "older".into(),
        };
        let l = live(Some(&st), Some(canary(&st.revision, Some(&old))));
        assert_eq!(Shown::new(&l, &st).pending, None);
    }

    #[test]
    fn pods_count_only_a_current_template() {
        let mut c = canary("r", None);
        assert_eq!(
            pods(&c),
            Pods {
                replicas: 2,
                ready: 1
            }
        );
        c["status"]["observedGeneration"] = json!(1);
        assert_eq!(pods(&c).ready, 0);
    }

    #[test]
    fn intents_need_a_rollout_under_way() {
        let st = state(Phase::Progressing);
        let rev = st.revision.clone();
        let ok = live(Some(&st), Some(canary(&rev, None)));
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Promote),
            Ok(rev.clone())
        );
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Pause),
            Ok(rev.clone())
        );
        assert_eq!(
            intent_target(&ok, Some(&st), Action::Resume),
            Err(
                "the rollout of iris in ml is progressing at step 2/3: there is nothing to resume"
                    .into()
            )
        );
        let paused = state(Phase::Paused);
        assert_eq!(
            intent_target(&ok, Some(&paused), Action::Pause),
            Err("the rollout of iris in ml is already paused at step 2/3 (mlsync rollout resume goes on)".into())
        );
        assert_eq!(
            intent_target(&ok, Some(&paused), Action::Resume),
            Ok(rev.clone())
        );
        let inconclusive = state(Phase::Inconclusive);
        assert_eq!(
            intent_target(&ok, Some(&inconclusive), Action::Resume),
            Ok(rev.clone())
        );

        let under_way = |why: &str| {
            Err(format!(
                "no canary rollout of iris in ml is under way ({why})"
            ))
        };
        assert_eq!(
            intent_target(&live(None, None), None, Action::Abort),
            under_way("Deployment iris has no mlsync.dev/rollout annotation")
        );
        let mut gone = live(None, None);
        gone.stable = None;
        assert_eq!(
            intent_target(&gone, None, Action::Abort),
            under_way("Deployment iris not found")
        );
        assert_eq!(
            intent_target(&live(Some(&st), None), Some(&st), Action::Promote),
            under_way("Deployment iris-canary not found")
        );
        assert_eq!(
            intent_target(
                &live(Some(&st), Some(canary("fedcba9876543210", None))),
                Some(&st),
                Action::Promote
            ),
            under_way(
                "Deployment iris-canary runs revision fedcba987654…, the rollout is of revision 0123456789ab…"
            )
        );
        let mut aborted = state(Phase::Aborted);
        aborted.cause = Some(Cause::CanaryUnavailable);
        assert_eq!(
            intent_target(&ok, Some(&aborted), Action::Resume),
            under_way(
                "its rollout of revision 0123456789ab… was aborted: the canary's pods did not become ready within its progress deadline"
            )
        );
    }

    #[test]
    fn intent_ids_differ() {
        let (a, b) = (intent_id(), intent_id());
        assert_ne!(a, b);
        assert!(!a.is_empty());
    }

    fn report(event: Option<Event>, state: Option<State>, shape: Shape) -> RolloutReport {
        RolloutReport {
            key: ServiceKey::new("ml", "iris"),
            decision: Decision {
                shape,
                state,
                changed: true,
                event,
                wake: None,
            },
            stable_exists: true,
            checked: Vec::new(),
        }
    }

    #[test]
    fn plan_lines_say_what_will_happen() {
        let canary = Shape::Canary {
            replicas: 1,
            weight: 10,
        };
        let mut first = state(Phase::Progressing);
        first.step = 0;
        first.results.clear();
        assert_eq!(
            plan_line(&report(
                Some(Event::Started { superseded: false }),
                Some(first.clone()),
                canary
            ))
            .as_deref(),
            Some("rollout ml/iris: canary rollout started; canary step 1/3 at 10% (1 canary pods)")
        );
        assert_eq!(
            plan_line(&report(None, Some(first), canary)).as_deref(),
            Some("rollout ml/iris: canary step 1/3 at 10% (1 canary pods)")
        );
        assert_eq!(
            plan_line(&report(
                Some(Event::Promoted { by_operator: true }),
                None,
                Shape::Stable
            ))
            .as_deref(),
            Some("rollout ml/iris: canary promoted by an operator: the new version is stable")
        );
        assert_eq!(plan_line(&report(None, None, Shape::Stable)), None);
    }
}

mod args {
    use clap::Parser;

    #[allow(unused_imports)]
    use super::super::show::*;
    use super::super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: RolloutCmd,
    }

    #[test]
    fn rollout_commands_parse() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["rollout", "status", "iris", "-n", "ml", "-o", "json"]).unwrap();
        let RolloutCmd::Status(s) = cli.cmd else {
            panic!("not status")
        };
        assert_eq!(s.target.service, "iris");
        assert_eq!(s.target.namespace.as_deref(), Some("ml"));
        assert_eq!(s.output, RolloutFormat::Json);
        let cli = Cli::try_parse_from(["rollout", "promote", "iris", "--context", "c"]).unwrap();
        let RolloutCmd::Promote(t) = cli.cmd else {
            panic!("not promote")
        };
        assert_eq!(t.namespace, None);
        assert_eq!(t.kube.context.as_deref(), Some("c"));
        assert!(Cli::try_parse_from(["rollout", "promote"]).is_err());
        assert!(Cli::try_parse_from(["rollout", "pause", "iris", "-o", "json"]).is_err());
        assert!(Cli::try_parse_from(["rollout", "status", "iris", "-o", "yaml"]).is_err());
    }
}
