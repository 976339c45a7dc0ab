//! Notifications against a real HTTP receiver on 127.0.0.1 (`support/receiver.rs`): what a
//! receiver gets (bodies, the HMAC signature), dedup, retries, a receiver that is down, a full
//! queue, no secret anywhere, and the config errors a user sees.
//!
//! Nothing is timed: tests wait for `Notifications::flush` or for requests to arrive (with a
//! hang guard), and retries use millisecond backoffs.

#[path = "support/receiver.rs"]
mod receiver;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use mlsync::notifications::{
    DeliveryOptions, Notice, NoticeKind, NotificationMetrics, NotificationResult, Notifications,
    ReceiverConfig, load,
};
use serde_json::json;
use sha2::Sha256;

use receiver::WebhookReceiver;

/// Long enough never to be reached unless something hangs.
const FLUSH: Duration = Duration::from_secs(60);

/// Short retries, the default dedup window.
fn quick() -> DeliveryOptions {
    DeliveryOptions {
        attempts: 3,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        request_timeout: Duration::from_secs(60),
        ..DeliveryOptions::default()
    }
}

/// Writes `content` to `dir/name` with mode 0600 (or `mode`).
fn secret_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(content.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The receivers of a `notifications:` YAML list.
fn configs(yaml: &str) -> Vec<ReceiverConfig> {
    serde_saphyr::from_str(yaml).unwrap()
}

/// Starts notifications to the receivers of `yaml`.
fn start(yaml: &str, options: DeliveryOptions) -> (Notifications, NotificationMetrics) {
    let metrics = NotificationMetrics::new();
    let receivers = load(&configs(yaml)).unwrap();
    let notifications = Notifications::spawn_with(receivers, metrics.clone(), options);
    (notifications, metrics)
}

fn applied(revision: &str, changed: &[&str]) -> Notice {
    Notice {
        target: Some("prod".to_owned()),
        revision: Some(revision.to_owned()),
        kind: NoticeKind::RevisionApplied {
            changed: changed.iter().map(|s| s.to_string()).collect(),
        },
    }
}

/// Captures the log lines of this thread (the tests' tokio runtime runs on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn generic_hmac_body_is_signed_with_the_shared_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "0f9e8d7c-shared-hmac-key";
    let key_file = secret_file(dir.path(), "hmac", &format!("{key}\n"), 0o600);
    let hook = WebhookReceiver::start().await;
    let yaml = format!(
        "- name: team-hook\n  type: generic-hmac\n  address: {}\n  secretFile: {}\n",
        hook.url("/mlsync"),
        key_file.display()
    );
    let (notifications, metrics) = start(&yaml, quick());
    let revision = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
    notifications.send(applied(revision, &["ml/ranker", "ml/search"]));
    assert!(notifications.flush(FLUSH).await);

    let requests = hook.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/mlsync")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let mut mac = <Hmac<Sha256>>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(request.header("x-signature"), Some(expected.as_str()));

    let body = request.json();
    let timestamp = body["timestamp"].as_str().unwrap().to_owned();
    // RFC 3339, UTC, whole seconds: 2025-01-02T03:04:05Z
    assert!(timestamp.parse::<jiff::Timestamp>().is_ok(), "{timestamp}");
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    assert_eq!(
        body,
        json!({
            "kind": "revisionApplied",
            "severity": "info",
            "target": "prod",
            "revision": revision,
            "message": "Revision 0a1b2c3d4e5f applied: 2 services changed",
            "metadata": {"changed": ["ml/ranker", "ml/search"]},
            "timestamp": timestamp,
        })
    );
    assert_eq!(metrics.count("team-hook", NotificationResult::Sent), 1);
}

#[tokio::test]
async fn slack_gets_text_with_the_services_as_bullets() {
    let dir = tempfile::tempdir().unwrap();
    let slack = WebhookReceiver::start().await;
    let url = slack.url("/services/T01/B02/abcdef");
    let url_file = secret_file(dir.path(), "slack-url", &format!("{url}\n"), 0o600);
    let yaml = format!(
        "- name: team-slack\n  type: slack\n  addressFile: {}\n",
        url_file.display()
    );
    let (notifications, _) = start(&yaml, quick());
    notifications.send(Notice {
        target: Some("prod".to_owned()),
        revision: Some("v1.2".to_owned()),
        kind: NoticeKind::ReconcilePartial {
            failed: vec!["ml/ranker".to_owned(), "ml/search".to_owned()],
        },
    });
    assert!(notifications.flush(FLUSH).await);
    let requests = slack.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/services/T01/B02/abcdef");
    assert_eq!(requests[0].header("x-signature"), None);
    assert_eq!(
        requests[0].json(),
        json!({"text": ":warning: *prod* Revision v1.2 partly applied: 2 services failed\n\
                       • ml/ranker\n• ml/search"})
    );
}

#[tokio::test]
async fn the_same_notice_again_is_sent_once() {
    let hook = WebhookReceiver::start().await;
    let yaml = format!(
        "- name: hook\n  type: generic\n  address: {}\n",
        hook.url("/")
    );
    let (notifications, metrics) = start(&yaml, quick());
    notifications.send(applied("abc", &["ml/a"]));
    notifications.send(applied("abc", &["ml/a"]));
    assert!(notifications.flush(FLUSH).await);
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(metrics.count("hook", NotificationResult::Deduplicated), 1);

    notifications.send(applied("def", &["ml/a"]));
    assert!(notifications.flush(FLUSH).await);
    let requests = hook.requests();
    assert_eq!(requests.len(), 2, "a different revision is delivered");
    assert_eq!(requests[1].json()["revision"], "def");
    assert_eq!(metrics.count("hook", NotificationResult::Sent), 2);
}

#[tokio::test]
async fn a_5xx_or_429_is_retried_and_counted_once_as_sent() {
    let hook = WebhookReceiver::start().await;
    hook.answer_with(&[500, 429]);
    let yaml = format!(
        "- name: hook\n  type: generic\n  address: {}\n",
        hook.url("/")
    );
    let (notifications, metrics) = start(&yaml, quick());
    notifications.send(applied("abc", &[]));
    assert!(notifications.flush(FLUSH).await);
    let requests = hook.requests();
    assert_eq!(requests.len(), 3, "500, 429, then 200");
    assert!(
        requests.iter().all(|r| r.body == requests[0].body),
        "the same body"
    );
    // Results are counted per notice, not per attempt.
    assert_eq!(metrics.count("hook", NotificationResult::Sent), 1);
    assert_eq!(metrics.count("hook", NotificationResult::Failed), 0);
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let hook = WebhookReceiver::start().await;
    hook.answer_with(&[400]);
    let yaml = format!(
        "- name: hook\n  type: generic\n  address: {}\n",
        hook.url("/")
    );
    let (notifications, metrics) = start(&yaml, quick());
    notifications.send(applied("abc", &[]));
    assert!(notifications.flush(FLUSH).await);
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(metrics.count("hook", NotificationResult::Failed), 1);
    assert!(
        logs.text().contains("error=HTTP status 400"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_costs_a_metric_and_a_warning() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let yaml = format!("- name: down\n  type: generic\n  address: http://127.0.0.1:{port}/\n");
    let (notifications, metrics) = start(&yaml, quick());
    notifications.send(applied("abc", &[])); // returns at once: nothing to await
    assert!(notifications.flush(FLUSH).await);
    assert_eq!(metrics.count("down", NotificationResult::Failed), 1);
    assert_eq!(metrics.count("down", NotificationResult::Sent), 0);
    let text = logs.text();
    let warning = text
        .lines()
        .find(|l| l.contains("WARN") && l.contains("failed to send a notification"))
        .unwrap_or_else(|| panic!("no warning in:\n{text}"));
    assert!(warning.contains("receiver=down"), "{warning}");
    assert!(warning.contains("attempts=3"), "{warning}");
    assert!(
        warning.contains("could not connect (connection refused)"),
        "{warning}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_notices_without_blocking() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let hook = WebhookReceiver::start().await;
    hook.hold();
    let yaml = format!(
        "- name: slow\n  type: generic\n  address: {}\n",
        hook.url("/")
    );
    let options = DeliveryOptions {
        queue_capacity: 4,
        ..quick()
    };
    let (notifications, metrics) = start(&yaml, options);
    notifications.send(applied("r0", &[]));
    hook.wait_for(1).await; // the first notice is in flight, held by the receiver
    for n in 1..=10 {
        notifications.send(applied(&format!("r{n}"), &[]));
    }
    assert_eq!(metrics.count("slow", NotificationResult::Dropped), 6);
    hook.release();
    assert!(notifications.flush(FLUSH).await);
    let revisions: Vec<_> = hook
        .requests()
        .iter()
        .map(|r| r.json()["revision"].clone())
        .collect();
    assert_eq!(revisions, ["r0", "r1", "r2", "r3", "r4"]);
    assert_eq!(metrics.count("slow", NotificationResult::Sent), 5);
    let text = logs.text();
    assert_eq!(text.matches("notification queue full").count(), 1, "{text}");
}

#[tokio::test]
async fn no_secret_reaches_a_receiver_or_the_logs() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let dir = tempfile::tempdir().unwrap();
    let key = "hmac-KEY-9c1f0e7a5b";
    let token = "xoxb-T0KEN-4d2a8e";
    let hook = WebhookReceiver::start().await;
    let slack = WebhookReceiver::start().await;
    slack.answer_with(&[500, 500, 500]); // fails after its retries: a warning is logged
    let slack_url = slack.url(&format!("/services/T1/B2/{token}"));
    let key_file = secret_file(dir.path(), "key", key, 0o600);
    let url_file = secret_file(dir.path(), "url", &slack_url, 0o600);
    let yaml = format!(
        "- name: hook\n  type: generic-hmac\n  address: {}\n  secretFile: {}\n\
         - name: chat\n  type: slack\n  addressFile: {}\n",
        hook.url("/in"),
        key_file.display(),
        url_file.display()
    );
    let receivers = load(&configs(&yaml)).unwrap();
    let shown = format!("{receivers:?}");
    let metrics = NotificationMetrics::new();
    let notifications = Notifications::spawn_with(receivers, metrics.clone(), quick());
    for kind in every_kind() {
        notifications.send(Notice {
            target: Some("prod".to_owned()),
            revision: Some("abc".to_owned()),
            kind,
        });
    }
    assert!(notifications.flush(FLUSH).await);
    assert_eq!(metrics.count("hook", NotificationResult::Sent), 9);
    assert_eq!(metrics.count("chat", NotificationResult::Failed), 1);
    assert_eq!(metrics.count("chat", NotificationResult::Sent), 8);

    let b64 = |s: &str| {
        [
            base64::engine::general_purpose::STANDARD.encode(s),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
        ]
    };
    let mut secrets = vec![key.to_owned(), token.to_owned()];
    secrets.extend(b64(key));
    secrets.extend(b64(token));
    let mut seen = vec![
        ("the receivers' Debug".to_owned(), shown),
        ("logs".to_owned(), logs.text()),
    ];
    for request in hook.requests().into_iter().chain(slack.requests()) {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        seen.push((format!("headers of {}", request.path), headers.join("\n")));
        seen.push((
            format!("body to {}", request.path),
            String::from_utf8_lossy(&request.body).into_owned(),
        ));
    }
    assert_eq!(seen.len(), 2 + 2 * (9 + 11));
    for (place, text) in &seen {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{secret} in {place}:\n{text}"
            );
        }
    }
    assert!(
        !logs.text().contains("/services/"),
        "no Slack URL in the logs"
    );
    assert!(logs.text().contains("receiver=chat"), "{}", logs.text());
}

fn every_kind() -> Vec<NoticeKind> {
    let s = |t: &str| t.to_owned();
    vec![
        NoticeKind::RevisionApplied {
            changed: vec![s("ml/a")],
        },
        NoticeKind::ReconcileFailed {
            cause: s("fetch"),
            message: s("unreachable"),
        },
        NoticeKind::ReconcilePartial {
            failed: vec![s("ml/b")],
        },
        NoticeKind::ServiceDegraded {
            service: s("ml/a"),
            reason: s("0/1 ready"),
        },
        NoticeKind::RolloutPromoted { service: s("ml/a") },
        NoticeKind::RolloutAborted {
            service: s("ml/a"),
            reason: s("errors"),
        },
        NoticeKind::DriftCorrected {
            object: s("Deployment ml/a"),
        },
        NoticeKind::PruneRefused {
            reason: s("too many"),
        },
        NoticeKind::CommitRejected {
            reason: s("unsigned"),
        },
    ]
}

#[tokio::test]
async fn metrics_are_exported_under_the_daemon_prefix() {
    let hook = WebhookReceiver::start().await;
    let mut registry = prometheus_client::registry::Registry::with_prefix("mlsync");
    let metrics = NotificationMetrics::register(&mut registry);
    let yaml = format!(
        "- name: team-hook\n  type: generic\n  address: {}\n",
        hook.url("/")
    );
    let receivers = load(&configs(&yaml)).unwrap();
    let notifications = Notifications::spawn_with(receivers, metrics, quick());
    notifications.send(applied("abc", &[]));
    assert!(notifications.flush(FLUSH).await);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for (result, n) in [
        ("sent", 1),
        ("failed", 0),
        ("dropped", 0),
        ("deduplicated", 0),
    ] {
        let line =
            format!("mlsync_notifications_total{{receiver=\"team-hook\",result=\"{result}\"}} {n}");
        assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
    }
}

#[test]
fn config_errors_name_the_receiver_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let error = |yaml: &str| load(&configs(yaml)).unwrap_err().to_string();
    assert_eq!(
        error("- name: chat\n  type: slack\n  address: https://hooks.slack.com/services/T/B/x\n"),
        "failed to load notification receiver chat: address is refused for type slack: a Slack \
         webhook URL holds a token; write it to a file readable only by mlsync and name that \
         file in addressFile"
    );
    assert_eq!(
        error("- name: hook\n  type: generic-hmac\n  address: https://hooks.example.com/\n"),
        "failed to load notification receiver hook: type generic-hmac needs secretFile"
    );
    let open = secret_file(dir.path(), "open-key", "k\n", 0o644);
    let yaml = format!(
        "- name: hook\n  type: generic-hmac\n  address: https://hooks.example.com/\n  \
         secretFile: {}\n",
        open.display()
    );
    assert_eq!(
        error(&yaml),
        format!(
            "failed to read {0} (notification receiver hook): its permissions 0644 let group or \
             others access it; fix with `chmod 600 {0}`",
            open.display()
        )
    );
    assert_eq!(
        error(
            "- name: hook\n  type: generic\n  address: http://a.example/\n\
             - name: hook\n  type: generic\n  address: http://b.example/\n"
        ),
        "failed to load notification receivers: the name hook is used more than once"
    );
}
