//! Pure parsing and matching of OpenSSH `known_hosts` files (no I/O).
//!
//! Supported: plain host patterns (`host`, `[host]:port`, comma lists, `*`/`?` wildcards,
//! `!` negation), hashed entries (`|1|salt|hash`, HMAC-SHA1 as written by `ssh-keygen -H`)
//! and the `@revoked` marker. `@cert-authority` lines are ignored (certificates are not
//! supported), as are comments and malformed lines.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// One usable line of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    revoked: bool,
    patterns: String,
    key_type: String,
    key: Vec<u8>,
}

/// A parsed known_hosts file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// The outcome of checking a presented host key against a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key is listed for this host.
    Trusted,
    /// The host is listed, but not with this key: the host key changed (or another key type
    /// was negotiated). Holds the key types known for the host.
    Changed {
        /// Key types listed for the host, e.g. `["ssh-ed25519"]`.
        known_types: Vec<String>,
    },
    /// The key is marked `@revoked`.
    Revoked,
    /// The host does not appear in the file.
    Unknown,
}

impl KnownHosts {
    /// Parses the text of a known_hosts file, skipping lines it cannot use.
    pub fn parse(text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        Self { entries }
    }

    /// Checks `key` (the SSH wire-format public key blob) of type `key_type` presented by
    /// `host` on `port` against the file.
    pub fn check(&self, host: &str, port: u16, key_type: &str, key: &[u8]) -> Verdict {
        let name = host_entry_name(host, port);
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| line_matches(&e.patterns, &name))
            .collect();
        if matching.iter().any(|e| e.revoked && e.key == key) {
            return Verdict::Revoked;
        }
        let listed: Vec<&&Entry> = matching.iter().filter(|e| !e.revoked).collect();
        if listed
            .iter()
            .any(|e| e.key_type == key_type && e.key == key)
        {
            return Verdict::Trusted;
        }
        if listed.is_empty() {
            return Verdict::Unknown;
        }
        let mut known_types: Vec<String> = listed.iter().map(|e| e.key_type.clone()).collect();
        known_types.sort();
        known_types.dedup();
        Verdict::Changed { known_types }
    }
}

/// The name OpenSSH writes for a host: `host` on port 22, `[host]:port` otherwise.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    }
}

/// The OpenSSH-style fingerprint of a key blob: `SHA256:<base64 without padding>`.
pub fn fingerprint(key: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key)))
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?.to_string();
    let key = STANDARD.decode(fields.next()?).ok()?;
    Some(Entry {
        revoked,
        patterns: first.to_string(),
        key_type,
        key,
    })
}

/// Whether a comma-separated pattern list matches `name`: at least one positive pattern
/// matches and no negated one does.
fn line_matches(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut positive = false;
    for pattern in patterns.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            positive = true;
        }
    }
    positive
}

fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Glob match with `*` (any run) and `?` (one character), as OpenSSH's `match_pattern`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOm3Rg7ZbkBN9Q2pNoKzXeTY7bXnS7h5xk3n1vyJm1qL";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIB4a3hA0e9Yk9bbQ3YxS0o0f1m3n5t7Vq0zYt5wQ2sJp";

    fn blob(b64: &str) -> Vec<u8> {
        STANDARD.decode(b64).unwrap()
    }

    #[test]
    fn plain_and_bracketed_ports() {
        let kh = KnownHosts::parse(&format!(
            "# comment\ngithub.com ssh-ed25519 {KEY_A}\n[127.0.0.1]:2222 ssh-ed25519 {KEY_B} test\n"
        ));
        let (a, b) = (blob(KEY_A), blob(KEY_B));
        assert_eq!(
            kh.check("GitHub.com", 22, "ssh-ed25519", &a),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check("127.0.0.1", 2222, "ssh-ed25519", &b),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check("127.0.0.1", 22, "ssh-ed25519", &b),
            Verdict::Unknown
        );
        assert_eq!(
            kh.check("127.0.0.1", 2222, "ssh-ed25519", &a),
            Verdict::Changed {
                known_types: vec!["ssh-ed25519".into()]
            }
        );
    }

    #[test]
    fn wildcards_negation_and_revoked() {
        let kh = KnownHosts::parse(&format!(
            "*.example.org,!bad.example.org ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_B}\n"
        ));
        let (a, b) = (blob(KEY_A), blob(KEY_B));
        assert_eq!(
            kh.check("git.example.org", 22, "ssh-ed25519", &a),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check("bad.example.org", 22, "ssh-ed25519", &a),
            Verdict::Unknown
        );
        assert_eq!(
            kh.check("git.example.org", 22, "ssh-ed25519", &b),
            Verdict::Revoked
        );
    }

    #[test]
    fn hashed_entries() {
        // Produced by `ssh-keygen -H` for the name "[127.0.0.1]:2222".
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY_A}",
            STANDARD.encode(salt),
            STANDARD.encode(hash)
        );
        let kh = KnownHosts::parse(&line);
        assert_eq!(
            kh.check("127.0.0.1", 2222, "ssh-ed25519", &blob(KEY_A)),
            Verdict::Trusted
        );
        assert_eq!(
            kh.check("127.0.0.2", 2222, "ssh-ed25519", &blob(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn fingerprint_format() {
        assert!(fingerprint(&blob(KEY_A)).starts_with("SHA256:"));
    }
}
