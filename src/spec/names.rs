//! The names a spec turns into: the five kinds mlsync renders, object names derived from the
//! service name, and JSON pointer segments of diagnostics. Here (not in `render`) because the
//! spec checks need them and `render` builds on `spec`; `render` re-exports them.

use std::fmt;

/// The five kinds mlsync renders, in apply order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `v1/ConfigMap`.
    ConfigMap,
    /// `v1/Secret`.
    Secret,
    /// `apps/v1/Deployment`.
    Deployment,
    /// `v1/Service`.
    Service,
    /// `autoscaling/*/HorizontalPodAutoscaler`.
    HorizontalPodAutoscaler,
}

impl Kind {
    /// All kinds, in apply order.
    pub const ALL: [Kind; 5] = [
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Deployment,
        Kind::Service,
        Kind::HorizontalPodAutoscaler,
    ];

    /// The Kubernetes `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Deployment => "Deployment",
            Kind::Service => "Service",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The start of every inventory ConfigMap's name (`mlsync-inventory-<sourceId>`): names of
/// this form are mlsync's own, and no service may render one.
pub const INVENTORY_NAME_PREFIX: &str = "mlsync-inventory-";

/// The ConfigMap's name.
pub fn config_map_name(service: &str) -> String {
    format!("{service}-config")
}

/// The Secret's name.
pub fn secret_name(service: &str) -> String {
    format!("{service}-secrets")
}

/// The name of a canary-strategy service's ConfigMap or Secret: `base` and the first 10
/// characters of the config hash, so each version's pods read their own values.
pub fn versioned(base: &str, hash: &str) -> String {
    let short: String = hash.chars().take(VERSION_SUFFIX_LEN).collect();
    format!("{base}-{short}")
}

/// True when `name` is a [`versioned`] name of `base`.
pub fn is_versioned(base: &str, name: &str) -> bool {
    name.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|h| h.len() == VERSION_SUFFIX_LEN && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Characters of the config hash in a versioned name.
pub const VERSION_SUFFIX_LEN: usize = 10;

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {

    #[test]
    fn versioned_names_carry_ten_hex_characters_of_the_hash() {
        let name = versioned("iris-config", "0123456789abcdef0123456789abcdef");
        assert_eq!(name, "iris-config-0123456789");
        assert!(is_versioned("iris-config", &name));
        assert!(!is_versioned("iris-config", "iris-config"));
        assert!(!is_versioned("iris-config", "iris-config-x"));
        assert!(!is_versioned("iris", "iris-config-0123456789"));
    }

    use super::*;

    #[test]
    fn pointer_segments_escape_tilde_then_slash() {
        assert_eq!(
            escape_segment("app.kubernetes.io/name"),
            "app.kubernetes.io~1name"
        );
        assert_eq!(escape_segment("a~/b"), "a~0~1b");
    }
}
