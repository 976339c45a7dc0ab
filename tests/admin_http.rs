//! The admin server over real HTTP on 127.0.0.1: health, readiness, metrics, status and the
//! `mlsync status` client.

mod admin_support;

use std::time::Duration;

use mlsync::admin::metrics::ObjectAction;
use mlsync::admin::status::{DaemonStatus, Outcome, ReconcileReport, ServiceResult, ServiceState};
use mlsync::cli::status::{self as client, OutputFormat};

fn service(name: &str, state: ServiceState, error: Option<&str>) -> ServiceResult {
    ServiceResult {
        name: name.to_owned(),
        namespace: "models".to_owned(),
        state,
        error: error.map(str::to_owned),
        cause: error.map(|_| "applyFailed"),
        rollout: None,
    }
}

fn report(outcome: Outcome, revision: &str, services: Vec<ServiceResult>) -> ReconcileReport {
    ReconcileReport {
        outcome,
        duration: Duration::from_millis(1500),
        revision: Some(revision.to_owned()),
        error: (outcome != Outcome::Success).then(|| "1 service failed".to_owned()),
        services: Some(services),
        prune_refused: None,
        kept_services: vec![],
    }
}

#[tokio::test]
async fn readiness_follows_the_first_successful_reconcile() {
    let server = admin_support::start(None).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    let (code, body) = server.get("/readyz").await;
    assert_eq!(code, 503, "{body}");

    // A failed reconcile does not make the daemon ready.
    server
        .state
        .record_reconcile(&report(Outcome::Failure, "aaa111", vec![]));
    assert_eq!(server.get("/readyz").await.0, 503);

    server.state.record_reconcile(&report(
        Outcome::Success,
        "bbb222",
        vec![service("sentiment", ServiceState::Synced, None)],
    ));
    assert_eq!(server.get("/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/nope").await.0, 404);
    server.stop().await;
}

/// The value of the sample line starting with `series` (name plus labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_are_exported_and_move_when_recorded() {
    let server = admin_support::start(None).await;
    let (code, before) = server.get("/metrics").await;
    assert_eq!(code, 200);
    // Families without series yet (revision, services, objects, webhooks) appear once used.
    for name in [
        "# TYPE mlsync_reconcile_duration_seconds histogram",
        "# UNIT mlsync_reconcile_duration_seconds seconds",
        "# TYPE mlsync_reconciles counter",
        "# TYPE mlsync_git_fetch_duration_seconds histogram",
        "# TYPE mlsync_git_fetch_errors counter",
    ] {
        assert!(before.contains(name), "missing {name:?} in:\n{before}");
    }
    assert!(!before.contains("mlsync_service_status"), "{before}");
    assert_eq!(
        sample(&before, r#"mlsync_reconciles_total{outcome="success"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&before, "mlsync_git_fetch_errors_total"), Some(0.0));

    let s = &server.state;
    s.record_fetch(Duration::from_millis(200), true);
    s.record_fetch(Duration::from_millis(300), false);
    s.record_object("Deployment", ObjectAction::Created);
    s.record_object("Deployment", ObjectAction::Created);
    s.record_object("ConfigMap", ObjectAction::Pruned);
    s.record_reconcile(&report(
        Outcome::Partial,
        "rev1",
        vec![
            service("sentiment", ServiceState::Synced, None),
            service("vision", ServiceState::Failed, Some("image pull failed")),
        ],
    ));
    s.record_reconcile(&report(
        Outcome::Success,
        "rev2",
        vec![service("sentiment", ServiceState::Progressing, None)],
    ));

    let (_, after) = server.get("/metrics").await;
    let v = |series: &str| sample(&after, series);
    for name in [
        "# TYPE mlsync_last_applied_revision info",
        "# TYPE mlsync_service_status gauge",
        "# TYPE mlsync_objects_applied counter",
    ] {
        assert!(after.contains(name), "missing {name:?} in:\n{after}");
    }
    assert_eq!(
        v(r#"mlsync_reconciles_total{outcome="success"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"mlsync_reconciles_total{outcome="partial"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"mlsync_reconciles_total{outcome="failure"}"#),
        Some(0.0)
    );
    assert_eq!(v("mlsync_reconcile_duration_seconds_count"), Some(2.0));
    assert_eq!(v("mlsync_reconcile_duration_seconds_sum"), Some(3.0));
    assert_eq!(v("mlsync_git_fetch_duration_seconds_count"), Some(2.0));
    assert_eq!(v("mlsync_git_fetch_errors_total"), Some(1.0));
    assert_eq!(
        v(r#"mlsync_objects_applied_total{kind="Deployment",action="created"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"mlsync_objects_applied_total{kind="ConfigMap",action="pruned"}"#),
        Some(1.0)
    );
    // Only the current revision is present.
    assert_eq!(
        v(r#"mlsync_last_applied_revision_info{revision="rev2"}"#),
        Some(1.0)
    );
    assert!(!after.contains(r#"revision="rev1""#), "{after}");
    // 1 for the current state, 0 for the others; services that left are gone.
    let status = |state: &str| {
        v(&format!(
            r#"mlsync_service_status{{service="sentiment",namespace="models",state="{state}"}}"#
        ))
    };
    assert_eq!(status("progressing"), Some(1.0));
    assert_eq!(status("synced"), Some(0.0));
    assert!(!after.contains(r#"service="vision""#), "{after}");
    assert!(sample(&after, "mlsync_last_successful_reconcile_timestamp_seconds").unwrap() > 0.0);
    server.stop().await;
}

#[tokio::test]
async fn status_json_round_trips_and_the_client_prints_a_table() {
    let server = admin_support::start(None).await;
    let addr = server.addr.to_string();
    let empty = client::fetch_status(&addr).await.unwrap();
    assert_eq!(empty, DaemonStatus::default());
    let table = client::render(&empty, OutputFormat::Table);
    assert!(
        table.contains("Revision:       none applied yet"),
        "{table}"
    );
    assert!(table.contains("No services."), "{table}");

    server.state.record_reconcile(&report(
        Outcome::Partial,
        "0123abc",
        vec![
            service("sentiment", ServiceState::Synced, None),
            service(
                "vision",
                ServiceState::Failed,
                Some("image pull failed\ndetails"),
            ),
        ],
    ));

    // The raw JSON uses the documented field names.
    let (code, raw) = server.get("/status").await;
    assert_eq!(code, 200);
    let json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(json["ready"], false);
    assert_eq!(json["revision"], "0123abc");
    assert_eq!(json["lastReconcile"]["outcome"], "partial");
    assert_eq!(json["lastReconcile"]["error"], "1 service failed");
    assert!(
        json["lastReconcile"]["time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(json["services"][1]["name"], "vision");
    assert_eq!(json["services"][1]["state"], "failed");
    assert_eq!(
        json["services"][1]["appliedRevision"],
        serde_json::Value::Null
    );
    assert_eq!(json["services"][0]["appliedRevision"], "0123abc");
    assert!(json["services"][0]["lastChange"].is_string());

    let fetched = client::fetch_status(&addr).await.unwrap();
    assert_eq!(fetched, server.state.status());
    let table = client::render(&fetched, OutputFormat::Table);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Revision:       0123abc");
    assert_eq!(lines[1], "Ready:          no");
    assert!(lines[2].ends_with(" partial: 1 service failed"), "{table}");
    assert!(lines[4].starts_with("NAME"), "{table}");
    let header = ["NAME", "NAMESPACE", "STATE", "LAST CHANGE", "LAST ERROR"];
    assert_eq!(
        lines[4].split_whitespace().count(),
        7,
        "{}",
        header.join(" ")
    );
    assert!(lines[5].starts_with("sentiment"), "{table}");
    assert!(
        lines[5].contains(" synced ") && lines[5].ends_with(" -"),
        "{table}"
    );
    assert!(lines[6].starts_with("vision   "), "{table}");
    assert!(lines[6].ends_with(" image pull failed"), "{table}");
    // Columns line up: STATE starts at the same offset in every row.
    let col = lines[4].find("STATE").unwrap();
    assert_eq!(&lines[5][col..col + 6], "synced");
    assert_eq!(&lines[6][col..col + 6], "failed");

    let json_out = client::render(&fetched, OutputFormat::Json);
    let back: DaemonStatus = serde_json::from_str(&json_out).unwrap();
    assert_eq!(back, fetched);
    server.stop().await;
}

#[tokio::test]
async fn the_client_reports_an_unreachable_daemon() {
    // Bind then drop a listener, so the port is (very likely) closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = client::fetch_status(&addr).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("failed to reach the mlsync daemon at {addr}")),
        "{msg}"
    );
    let code = client::run(client::StatusArgs {
        addr,
        output: OutputFormat::Table,
    })
    .await
    .unwrap();
    assert_eq!(code, std::process::ExitCode::from(2));
}
