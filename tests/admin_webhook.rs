//! Webhooks over real HTTP on 127.0.0.1: signatures, tokens, limits and triggers.

mod admin_support;

use admin_support::{TEST_WEBHOOK_SECRET, start};
use hmac::{Hmac, Mac};
use mlsync::trigger::TriggerReason;
use sha2::Sha256;

fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

const PUSH: &[u8] = br#"{"ref":"refs/heads/main","after":"deadbeef"}"#;

#[tokio::test]
async fn github_push_with_a_good_signature_fires_one_trigger() {
    let mut server = start(Some(TEST_WEBHOOK_SECRET)).await;
    let sig = github_signature(TEST_WEBHOOK_SECRET, PUSH);
    let headers = [
        ("x-hub-signature-256", sig.as_str()),
        ("x-github-event", "push"),
    ];
    let (code, body) = server.post("/webhook/github", &headers, PUSH).await;
    assert_eq!(code, 202, "{body}");
    let trigger = server.triggers.try_recv().expect("a trigger was fired");
    assert_eq!(trigger.reason, TriggerReason::GithubWebhook);

    // A second delivery while one is queued coalesces.
    assert_eq!(server.post("/webhook/github", &headers, PUSH).await.0, 202);
    assert_eq!(server.post("/webhook/github", &headers, PUSH).await.0, 202);
    assert!(server.triggers.try_recv().is_some());
    assert!(server.triggers.try_recv().is_none());

    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"mlsync_webhook_requests_total{provider="github",result="accepted"} 3"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn github_bad_or_missing_signatures_are_refused_and_fire_nothing() {
    let mut server = start(Some(TEST_WEBHOOK_SECRET)).await;
    let wrong_key = github_signature(b"another-test-secret", PUSH);
    let other_body = github_signature(TEST_WEBHOOK_SECRET, b"{}");
    for headers in [
        vec![],
        vec![("x-hub-signature-256", wrong_key.as_str())],
        vec![("x-hub-signature-256", other_body.as_str())],
        vec![("x-hub-signature-256", "sha256=")],
        vec![("x-hub-signature-256", "sha1=abcd")],
    ] {
        let (code, _) = server.post("/webhook/github", &headers, PUSH).await;
        assert_eq!(code, 401, "{headers:?}");
    }
    assert!(server.triggers.try_recv().is_none());
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"mlsync_webhook_requests_total{provider="github",result="unauthorized"} 5"#
        ),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn github_ping_is_answered_without_a_trigger() {
    let mut server = start(Some(TEST_WEBHOOK_SECRET)).await;
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let sig = github_signature(TEST_WEBHOOK_SECRET, body);
    let headers = [
        ("x-hub-signature-256", sig.as_str()),
        ("x-github-event", "ping"),
    ];
    assert_eq!(
        server.post("/webhook/github", &headers, body).await,
        (200, "pong\n".to_owned())
    );
    assert!(server.triggers.try_recv().is_none());
    server.stop().await;
}

#[tokio::test]
async fn gitlab_token_must_match() {
    let mut server = start(Some(TEST_WEBHOOK_SECRET)).await;
    let secret = std::str::from_utf8(TEST_WEBHOOK_SECRET).unwrap();
    let bad = server
        .post("/webhook/gitlab", &[("x-gitlab-token", "guess")], PUSH)
        .await;
    assert_eq!(bad.0, 401);
    assert_eq!(server.post("/webhook/gitlab", &[], PUSH).await.0, 401);
    assert!(server.triggers.try_recv().is_none());

    let good = server
        .post("/webhook/gitlab", &[("x-gitlab-token", secret)], PUSH)
        .await;
    assert_eq!(good.0, 202);
    let trigger = server.triggers.try_recv().expect("a trigger was fired");
    assert_eq!(trigger.reason, TriggerReason::GitlabWebhook);
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_fire_nothing() {
    let mut server = start(Some(TEST_WEBHOOK_SECRET)).await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let sig = github_signature(TEST_WEBHOOK_SECRET, &big);
    let headers = [("x-hub-signature-256", sig.as_str())];
    assert_eq!(server.post("/webhook/github", &headers, &big).await.0, 413);
    assert!(server.triggers.try_recv().is_none());

    // Exactly at the limit is fine.
    let max = vec![b'a'; 1024 * 1024];
    let sig = github_signature(TEST_WEBHOOK_SECRET, &max);
    let headers = [("x-hub-signature-256", sig.as_str())];
    assert_eq!(server.post("/webhook/github", &headers, &max).await.0, 202);
    server.stop().await;
}

#[tokio::test]
async fn without_a_secret_webhooks_are_disabled() {
    let mut server = start(None).await;
    let sig = github_signature(TEST_WEBHOOK_SECRET, PUSH);
    let headers = [("x-hub-signature-256", sig.as_str())];
    assert_eq!(server.post("/webhook/github", &headers, PUSH).await.0, 404);
    let token = [("x-gitlab-token", "test-webhook-secret")];
    assert_eq!(server.post("/webhook/gitlab", &token, PUSH).await.0, 404);
    assert!(server.triggers.try_recv().is_none());
    server.stop().await;
}

#[tokio::test]
async fn the_secret_is_read_from_a_file_or_the_systemd_credential() {
    use mlsync::admin::webhook::WebhookSecret;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook-secret");
    std::fs::write(&file, b"test-webhook-secret\n").unwrap();

    let explicit = WebhookSecret::resolve(Some(&file), None).unwrap().unwrap();
    assert!(explicit.verify_gitlab(Some(b"test-webhook-secret")));
    let credential = WebhookSecret::resolve(None, Some(dir.path().as_os_str()))
        .unwrap()
        .unwrap();
    assert!(credential.verify_gitlab(Some(b"test-webhook-secret")));
    let empty_dir = tempfile::tempdir().unwrap();
    assert!(
        WebhookSecret::resolve(None, Some(empty_dir.path().as_os_str()))
            .unwrap()
            .is_none()
    );
    let missing = dir.path().join("absent");
    let err = WebhookSecret::resolve(Some(&missing), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to read webhook secret file"),
        "{err}"
    );
    std::fs::write(&file, b"\n").unwrap();
    let err = WebhookSecret::resolve(Some(&file), None).unwrap_err();
    assert!(err.to_string().contains("it is empty"), "{err}");
}
