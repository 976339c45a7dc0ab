//! The bodies receivers get.
//!
//! `generic` and `generic-hmac` (JSON, like Flux's generic provider):
//!
//! ```json
//! {"kind": "revisionApplied", "severity": "info", "target": "prod", "revision": "0a1b…",
//!  "message": "Revision 0a1b2c3d4e5f applied: 2 services changed",
//!  "metadata": {"changed": ["ml/ranker", "ml/search"]}, "timestamp": "2025-01-02T03:04:05Z"}
//! ```
//!
//! `target` and `revision` are `null` when unknown; `metadata` holds the fields of the
//! [`super::NoticeKind`]. `generic-hmac` adds `X-Signature: sha256=<hex of HMAC-SHA256(key, body)>`
//! over the exact bytes sent (as Flux's generic-hmac provider).
//!
//! `slack` (an incoming webhook): `{"text": "…"}`, the line prefixed with the target and, for
//! warnings, `:warning:`, then up to [`MAX_BULLETS`] services as `•` bullets.

use hmac::{Hmac, Mac as _};
use hyper::body::Bytes;
use serde_json::json;
use sha2::Sha256;

use super::notice::{Notice, Severity};

/// The most services listed as bullets in a Slack message; the rest are counted.
pub const MAX_BULLETS: usize = 10;

/// The header of the `generic-hmac` signature.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// The JSON body of `generic` and `generic-hmac` receivers; `timestamp` is RFC 3339.
pub fn generic(notice: &Notice, timestamp: &str) -> Bytes {
    let kind = notice.kind.notice_type();
    let metadata = match serde_json::to_value(&notice.kind) {
        Ok(value) => value,
        // Strings and lists of strings always serialize.
        Err(_) => json!({}),
    };
    let body = json!({
        "kind": kind.as_str(),
        "severity": kind.severity().as_str(),
        "target": notice.target,
        "revision": notice.revision,
        "message": notice.message(),
        "metadata": metadata,
        "timestamp": timestamp,
    });
    Bytes::from(body.to_string())
}

/// `sha256=<hex of HMAC-SHA256(key, body)>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mac = <Hmac<Sha256>>::new_from_slice(key).map(|mac| mac.chain_update(body));
    match mac {
        Ok(mac) => format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        Err(_) => "sha256=".to_owned(),
    }
}

/// The Slack incoming-webhook body: `{"text": …}`.
pub fn slack(notice: &Notice) -> Bytes {
    let kind = notice.kind.notice_type();
    let mut text = String::new();
    if kind.severity() == Severity::Warning {
        text.push_str(":warning: ");
    }
    if let Some(target) = &notice.target {
        text.push_str(&format!("*{}* ", escape(target)));
    }
    text.push_str(&escape(&notice.message()));
    let services = notice.kind.services();
    for service in services.iter().take(MAX_BULLETS) {
        text.push_str(&format!("\n• {}", escape(service)));
    }
    if services.len() > MAX_BULLETS {
        text.push_str(&format!("\n• … and {} more", services.len() - MAX_BULLETS));
    }
    Bytes::from(json!({ "text": text }).to_string())
}

/// Slack's three control characters escaped (`&`, `<`, `>`), so caller text cannot make links
/// or mentions.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::notifications::NoticeKind;

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    fn applied(changed: usize) -> Notice {
        Notice {
            target: Some("prod".to_owned()),
            revision: Some("abc123".to_owned()),
            kind: NoticeKind::RevisionApplied {
                changed: (0..changed).map(|i| format!("ml/svc-{i}")).collect(),
            },
        }
    }

    #[test]
    fn generic_body_is_flux_like() {
        let body = generic(&applied(2), "2025-01-02T03:04:05Z");
        assert_eq!(
            parse(&body),
            json!({
                "kind": "revisionApplied",
                "severity": "info",
                "target": "prod",
                "revision": "abc123",
                "message": "Revision abc123 applied: 2 services changed",
                "metadata": {"changed": ["ml/svc-0", "ml/svc-1"]},
                "timestamp": "2025-01-02T03:04:05Z",
            })
        );
    }

    #[test]
    fn generic_body_has_null_target_and_revision_when_unknown() {
        let notice = Notice {
            target: None,
            revision: None,
            kind: NoticeKind::PruneRefused {
                reason: "too many".to_owned(),
            },
        };
        let body = parse(&generic(&notice, "2025-01-02T03:04:05Z"));
        assert_eq!(body["target"], Value::Null);
        assert_eq!(body["revision"], Value::Null);
        assert_eq!(body["severity"], "warning");
        assert_eq!(body["message"], "Pruning refused: too many");
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_lists_services_as_bullets() {
        let body = parse(&slack(&applied(2)));
        assert_eq!(
            body,
            json!({"text": "*prod* Revision abc123 applied: 2 services changed\n• ml/svc-0\n• ml/svc-1"})
        );
    }

    #[test]
    fn slack_counts_services_past_the_bullets() {
        let text = parse(&slack(&applied(MAX_BULLETS + 3)))["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.matches("\n• ml/").count(), MAX_BULLETS);
        assert!(text.ends_with("\n• … and 3 more"), "{text}");
    }

    #[test]
    fn slack_marks_warnings_and_escapes_caller_text() {
        let notice = Notice {
            target: None,
            revision: None,
            kind: NoticeKind::RolloutAborted {
                service: "ml/a".to_owned(),
                reason: "<!channel> p99 > 2s & rising".to_owned(),
            },
        };
        assert_eq!(
            parse(&slack(&notice)),
            json!({"text": ":warning: Rollout of ml/a aborted: &lt;!channel&gt; p99 &gt; 2s &amp; rising"})
        );
    }
}
