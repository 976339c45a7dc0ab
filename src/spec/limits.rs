//! The limits the Kubernetes API server enforces on the objects mlsync renders, checked by
//! `validate` so that a spec the API would refuse fails before apply, with its position.
//!
//! The rules follow `k8s.io/apimachinery/pkg/util/validation` and the core/apps/autoscaling
//! validation of the API server; `tests/api_limits.rs` applies the boundary cases to a real
//! API server. Secret values are known only after decryption: [`check_data`] runs on them at
//! render time (`secrets::secret_data`).

use std::collections::BTreeMap;

use super::MLService;
use super::names::{Kind, config_map_name, escape_segment, secret_name};
use super::schema::Violation;

/// Longest DNS-1123 subdomain (most object names, label and annotation key prefixes).
pub const MAX_SUBDOMAIN: usize = 253;
/// Longest DNS label, label value, and name part of a label or annotation key.
pub const MAX_LABEL: usize = 63;
/// Longest ConfigMap or Secret data key.
pub const MAX_DATA_KEY: usize = 253;
/// Most bytes of values in one ConfigMap's or Secret's data (1 MiB; keys do not count).
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// Most bytes of annotation keys and values on one object (256 KiB).
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;
/// Bytes of the annotation budget kept for mlsync's own (`mlsync.dev/applied-hash`,
/// `mlsync.dev/config-hash`: under 150 bytes today).
pub const OWN_ANNOTATION_BYTES: usize = 1024;

/// Why `s` is not a DNS-1123 label (namespaces), if it is not.
pub fn dns1123_label(s: &str) -> Option<String> {
    let ok = s.len() <= MAX_LABEL && is_dns_label(s.as_bytes(), |b| b.is_ascii_digit());
    (!ok).then(|| format!("must be a DNS-1123 label: at most {MAX_LABEL} lowercase letters, digits and '-', starting and ending with a letter or digit"))
}

/// Why `s` is not a DNS-1035 label (Service names: must start with a letter), if it is not.
pub fn dns1035_label(s: &str) -> Option<String> {
    let ok = s.len() <= MAX_LABEL && is_dns_label(s.as_bytes(), |_| false);
    (!ok).then(|| format!("must be a DNS-1035 label: at most {MAX_LABEL} lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"))
}

/// Why `s` is not a DNS-1123 subdomain (ConfigMap, Secret, Deployment and HPA names), if not.
pub fn dns1123_subdomain(s: &str) -> Option<String> {
    let ok = s.len() <= MAX_SUBDOMAIN
        && s.split('.')
            .all(|l| is_dns_label(l.as_bytes(), |b| b.is_ascii_digit()));
    (!ok).then(|| format!("must be a DNS-1123 subdomain: at most {MAX_SUBDOMAIN} characters of lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"))
}

fn is_dns_label(b: &[u8], first_may_be: impl Fn(&u8) -> bool) -> bool {
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    matches!(b.first(), Some(c) if c.is_ascii_lowercase() || first_may_be(c))
        && b.iter().all(inner)
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Why `key` is not a label or annotation key (`[prefix/]name`), if it is not.
pub fn qualified_name(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || dns1123_subdomain(p).is_some() {
            return Some(format!(
                "prefix `{p}` must be a DNS-1123 subdomain of at most {MAX_SUBDOMAIN} characters (e.g. example.com)"
            ));
        }
        if name.contains('/') {
            return Some("must have at most one '/'".to_owned());
        }
    }
    (!is_label_value(name) || name.is_empty()).then(|| format!("name part `{name}` must be 1 to {MAX_LABEL} letters, digits, '-', '_' or '.', starting and ending with a letter or digit"))
}

/// True for a valid label value (possibly empty).
pub fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() <= MAX_LABEL
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_none_or(u8::is_ascii_alphanumeric)
        && b.last().is_none_or(u8::is_ascii_alphanumeric)
}

/// Why `key` cannot be a ConfigMap or Secret data key, if it cannot.
pub fn data_key(key: &str) -> Option<String> {
    if key.len() > MAX_DATA_KEY {
        return Some(format!(
            "key is {} characters long; Kubernetes allows at most {MAX_DATA_KEY}",
            key.len()
        ));
    }
    let chars_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !chars_ok || key == "." || key.starts_with("..") {
        return Some(
            "key must be letters, digits, '-', '_' or '.' (and not '.', or start with '..')"
                .to_owned(),
        );
    }
    None
}

/// Why data (ConfigMap `data`, Secret `data`) is too large, if it is: the lengths of its
/// values must add up to at most [`MAX_DATA_BYTES`].
pub fn check_data(value_lengths: impl Iterator<Item = usize>) -> Option<String> {
    let total: usize = value_lengths.sum();
    (total > MAX_DATA_BYTES).then(|| {
        format!("values total {total} bytes; a ConfigMap or Secret holds at most {MAX_DATA_BYTES} (1 MiB)")
    })
}

/// Every limit the API server would refuse the rendered objects for.
pub fn check(svc: &MLService) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |pointer: String, message: String| out.push(Violation { pointer, message });
    let name = svc.metadata.name.as_str();
    let spec = &svc.spec;

    for (kind, object, rule) in [
        (
            Kind::ConfigMap,
            config_map_name(name),
            dns1123_subdomain as fn(&str) -> _,
        ),
        (Kind::Secret, secret_name(name), dns1123_subdomain),
        (Kind::Deployment, name.to_owned(), dns1123_subdomain),
        (Kind::Service, name.to_owned(), dns1035_label),
        (
            Kind::HorizontalPodAutoscaler,
            name.to_owned(),
            dns1123_subdomain,
        ),
    ] {
        if let Some(why) = rule(&object) {
            push(
                "/metadata/name".into(),
                format!("makes the {kind} name `{object}`, which {why}"),
            );
        }
    }
    if let Some(why) = svc.metadata.namespace.as_deref().and_then(dns1123_label) {
        push("/metadata/namespace".into(), why);
    }

    for (at, labels) in [
        ("/metadata/labels", &svc.metadata.labels),
        ("/spec/nodeSelector", &spec.node_selector),
    ] {
        for (k, v) in labels {
            let pointer = format!("{at}/{}", escape_segment(k));
            if let Some(why) = qualified_name(k) {
                push(pointer.clone(), format!("key `{k}`: {why}"));
            }
            if !is_label_value(v) {
                push(
                    pointer,
                    format!(
                        "must be a label value: at most {MAX_LABEL} letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                    ),
                );
            }
        }
    }

    let common = &svc.metadata.annotations;
    let mut on_service = common.clone();
    on_service.extend(spec.service.annotations.clone());
    for (at, map) in [
        ("/metadata/annotations", common),
        ("/spec/service/annotations", &spec.service.annotations),
    ] {
        for k in map.keys() {
            if let Some(why) = qualified_name(&k.to_ascii_lowercase()) {
                push(
                    format!("{at}/{}", escape_segment(k)),
                    format!("key `{k}`: {why}"),
                );
            }
        }
    }
    let budget = MAX_ANNOTATION_BYTES - OWN_ANNOTATION_BYTES;
    let (at, size) = match (annotation_bytes(common), annotation_bytes(&on_service)) {
        (c, _) if c > budget => ("/metadata/annotations", c),
        (_, s) => ("/spec/service/annotations", s),
    };
    if size > budget {
        push(
            at.into(),
            format!(
                "annotations total {size} bytes; Kubernetes allows {MAX_ANNOTATION_BYTES} (256 KiB) per object, of which mlsync keeps {OWN_ANNOTATION_BYTES} for its own"
            ),
        );
    }

    for k in spec.config.keys() {
        if let Some(why) = data_key(k) {
            push(format!("/spec/config/{}", escape_segment(k)), why);
        }
    }
    if let Some(why) = check_data(spec.config.values().map(String::len)) {
        push("/spec/config".into(), why);
    }

    for (i, t) in spec.tolerations.iter().enumerate() {
        let at = |f: &str| format!("/spec/tolerations/{i}/{f}");
        let key = t.key.as_deref().unwrap_or("");
        let exists = t.operator.as_deref() == Some("Exists");
        if let Some(why) = (!key.is_empty()).then(|| qualified_name(key)).flatten() {
            push(at("key"), format!("must be a label key: {why}"));
        }
        if key.is_empty() && !exists {
            push(
                at("operator"),
                "must be Exists when key is empty (which tolerates every taint)".into(),
            );
        }
        let value = t.value.as_deref().unwrap_or("");
        if exists && !value.is_empty() {
            push(at("value"), "must be empty when operator is Exists".into());
        } else if !exists && !is_label_value(value) {
            push(
                at("value"),
                format!(
                    "must be a label value: at most {MAX_LABEL} letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                ),
            );
        }
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            push(at("tolerationSeconds"), "needs effect: NoExecute".into());
        }
    }

    for (probe, p) in [
        ("liveness", &spec.probes.liveness),
        ("startup", &spec.probes.startup),
    ] {
        if let Some(n) = p.as_ref().and_then(|p| p.success_threshold)
            && n != 1
        {
            push(
                format!("/spec/probes/{probe}/successThreshold"),
                format!("must be 1 for a {probe} probe, got {n}"),
            );
        }
    }
    out
}

fn annotation_bytes(map: &BTreeMap<String, String>) -> usize {
    map.iter().map(|(k, v)| k.len() + v.len()).sum()
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
