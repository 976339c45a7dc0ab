//! Push webhooks from GitHub and GitLab: verify the shared secret, then fire a trigger.
//!
//! Nothing from the payload is trusted or even parsed: a verified request only says "fetch
//! now", and the daemon fetches the branch it is configured for. Comparisons are constant-time.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{AdminError, Hub};
use crate::trigger::{FireOutcome, TriggerReason};

/// The largest webhook body accepted; larger requests get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The file name of the systemd credential holding the secret (`LoadCredential=webhook-secret:…`).
pub const CREDENTIAL_NAME: &str = "webhook-secret";

/// The shared webhook secret. Never printed (`Debug` is redacted); zeroized on drop.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Wraps secret bytes, dropping trailing whitespace (files usually end in a newline).
    /// Returns `None` if nothing is left.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let mut bytes = Zeroizing::new(bytes);
        let len = bytes.trim_ascii_end().len();
        bytes.truncate(len);
        (!bytes.is_empty()).then_some(Self(bytes))
    }

    /// Reads the secret from a file.
    pub fn from_file(path: &Path) -> Result<Self, AdminError> {
        let bytes = std::fs::read(path).map_err(|cause| AdminError::ReadSecret {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_bytes(bytes).ok_or_else(|| AdminError::EmptySecret {
            path: path.to_owned(),
        })
    }

    /// Finds the secret: `explicit` (`--webhook-secret-file`) if given, else the systemd
    /// credential `$CREDENTIALS_DIRECTORY/webhook-secret` if it exists, else none (disabled).
    pub fn resolve(
        explicit: Option<&Path>,
        credentials_directory: Option<&OsStr>,
    ) -> Result<Option<Self>, AdminError> {
        if let Some(path) = explicit {
            return Self::from_file(path).map(Some);
        }
        let credential = credentials_directory
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join(CREDENTIAL_NAME))
            .filter(|p| p.is_file());
        credential.map(|p| Self::from_file(&p)).transpose()
    }

    /// Whether `X-Hub-Signature-256` (`sha256=<hex>`) is the HMAC-SHA256 of `body`.
    pub fn verify_github(&self, signature: Option<&[u8]>, body: &[u8]) -> bool {
        let Some(hex_sig) = signature.and_then(|s| s.strip_prefix(b"sha256=")) else {
            return false;
        };
        let Ok(expected) = hex::decode(hex_sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }

    /// Whether `X-Gitlab-Token` equals the secret (compared as SHA-256 digests, so neither
    /// the content nor the length leaks through timing).
    pub fn verify_gitlab(&self, token: Option<&[u8]>) -> bool {
        let Some(token) = token else {
            return false;
        };
        let given = Sha256::digest(token);
        let ours = Sha256::digest(self.0.as_slice());
        given.ct_eq(&ours).into()
    }
}

/// `POST /webhook/github`.
pub(super) async fn github(
    State(state): State<Hub>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, &'static str) {
    handle(&state, Provider::Github, &headers, body)
}

/// `POST /webhook/gitlab`.
pub(super) async fn gitlab(
    State(state): State<Hub>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, &'static str) {
    handle(&state, Provider::Gitlab, &headers, body)
}

#[derive(Clone, Copy)]
enum Provider {
    Github,
    Gitlab,
}

impl Provider {
    fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
        }
    }
}

/// Checks a webhook request and fires a trigger; returns the response and counts the result.
fn handle(
    state: &Hub,
    provider: Provider,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, &'static str) {
    let (result, response) = decide(state, provider, headers, body);
    // Every target counts the webhooks that reached it (all of them).
    for t in state.targets() {
        t.metrics().count_webhook(provider.as_str(), result);
    }
    response
}

type Decision = (&'static str, (StatusCode, &'static str));

fn decide(
    state: &Hub,
    provider: Provider,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Decision {
    let Some(secret) = state.webhook_secret() else {
        return (
            "disabled",
            (StatusCode::NOT_FOUND, "webhooks are disabled\n"),
        );
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (
                "too_large",
                (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
            );
        }
        Err(_) => {
            return (
                "bad_request",
                (StatusCode::BAD_REQUEST, "unreadable body\n"),
            );
        }
    };
    let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
    let (verified, reason) = match provider {
        Provider::Github => (
            secret.verify_github(header("x-hub-signature-256"), &body),
            TriggerReason::GithubWebhook,
        ),
        Provider::Gitlab => (
            secret.verify_gitlab(header("x-gitlab-token")),
            TriggerReason::GitlabWebhook,
        ),
    };
    if !verified {
        tracing::warn!(
            provider = provider.as_str(),
            "webhook with a bad or missing signature"
        );
        return (
            "unauthorized",
            (StatusCode::UNAUTHORIZED, "bad or missing signature\n"),
        );
    }
    if matches!(provider, Provider::Github) && header("x-github-event") == Some(b"ping") {
        return ("ping", (StatusCode::OK, "pong\n"));
    }
    match state.trigger().fire(reason) {
        FireOutcome::Queued => {
            tracing::info!(provider = provider.as_str(), "webhook queued a reconcile");
            ("accepted", (StatusCode::ACCEPTED, "reconcile queued\n"))
        }
        FireOutcome::Coalesced => (
            "accepted",
            (StatusCode::ACCEPTED, "reconcile already queued\n"),
        ),
        FireOutcome::Closed => (
            "unavailable",
            (StatusCode::SERVICE_UNAVAILABLE, "daemon is shutting down\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn github_signature_must_match_the_body() {
        let s = WebhookSecret::from_bytes(b"test-webhook-secret\n".to_vec()).unwrap();
        let good = sign(b"test-webhook-secret", b"{}");
        assert!(s.verify_github(Some(good.as_bytes()), b"{}"));
        assert!(!s.verify_github(Some(good.as_bytes()), b"{ }"));
        assert!(!s.verify_github(Some(&good.as_bytes()[7..]), b"{}"));
        assert!(!s.verify_github(Some(b"sha256=zz"), b"{}"));
        assert!(!s.verify_github(None, b"{}"));
    }

    #[test]
    fn gitlab_token_must_equal_the_secret() {
        let s = WebhookSecret::from_bytes(b"test-webhook-secret".to_vec()).unwrap();
        assert!(s.verify_gitlab(Some(b"test-webhook-secret")));
        assert!(!s.verify_gitlab(Some(b"test-webhook-secre")));
        assert!(!s.verify_gitlab(None));
    }

    #[test]
    fn secret_is_redacted_and_blank_files_are_rejected() {
        let s = WebhookSecret::from_bytes(b"test-webhook-secret".to_vec()).unwrap();
        assert!(!format!("{s:?}").contains("test-webhook-secret"));
        assert!(WebhookSecret::from_bytes(b" \n".to_vec()).is_none());
    }
}
