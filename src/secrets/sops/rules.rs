//! Which values of a SOPS file are encrypted: `sops`' suffix and regex rules, its default
//! (`unencrypted_suffix: _unencrypted`) and `mac_only_encrypted`.

use regex::Regex;

/// Which values a file encrypts (`sops.*_suffix`, `sops.*_regex`, `mac_only_encrypted`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Keys ending in this (anywhere on the path) stay plaintext.
    pub unencrypted_suffix: Option<String>,
    /// Only values under keys ending in this are encrypted.
    pub encrypted_suffix: Option<String>,
    /// Keys matching this stay plaintext.
    pub unencrypted_regex: Option<Regex>,
    /// Only values under keys matching this are encrypted.
    pub encrypted_regex: Option<Regex>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
}

/// The suffix `sops` applies when a file or creation rule names no suffix or regex: keys
/// ending in it stay in plaintext (`sops.DefaultUnencryptedSuffix`).
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

impl Rules {
    /// Whether a suffix or regex selects the values (`mac_only_encrypted` does not count).
    pub fn has_selector(&self) -> bool {
        self.unencrypted_suffix.is_some()
            || self.encrypted_suffix.is_some()
            || self.unencrypted_regex.is_some()
            || self.encrypted_regex.is_some()
    }

    /// These rules, with `sops`' default `unencrypted_suffix: _unencrypted` when they name no
    /// selector: `sops` does this both when it writes a file and when it reads one, so a file
    /// without a selector in `sops:` means the default, not "encrypt everything".
    pub fn or_sops_default(mut self) -> Self {
        if !self.has_selector() {
            self.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.to_owned());
        }
        self
    }

    /// The rule that selects values, as `.sops.yaml` spells it (e.g. "encrypted_regex `^A$`"),
    /// or an empty string when every value is encrypted.
    pub fn describe(&self) -> String {
        let text = [
            ("unencrypted_suffix", self.unencrypted_suffix.clone()),
            ("encrypted_suffix", self.encrypted_suffix.clone()),
            (
                "unencrypted_regex",
                self.unencrypted_regex
                    .as_ref()
                    .map(|r| r.as_str().to_owned()),
            ),
            (
                "encrypted_regex",
                self.encrypted_regex.as_ref().map(|r| r.as_str().to_owned()),
            ),
        ];
        text.into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} `{v}`")))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `sops`' `shouldBeEncrypted` without the comment rules (refused at parse time).
    pub fn should_encrypt(&self, path: &[String]) -> bool {
        let mut encrypted = true;
        if let Some(sfx) = &self.unencrypted_suffix
            && path.iter().any(|p| p.ends_with(sfx.as_str()))
        {
            encrypted = false;
        }
        if let Some(sfx) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(sfx.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        encrypted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_sops() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = Rules {
            unencrypted_suffix: Some("_unencrypted".into()),
            ..Rules::default()
        };
        assert!(r.should_encrypt(&p(&["a", "b"])));
        assert!(!r.should_encrypt(&p(&["a_unencrypted", "b"])));
        let r = Rules {
            encrypted_regex: Some(Regex::new("^data$").unwrap()),
            ..Rules::default()
        };
        assert!(r.should_encrypt(&p(&["data", "x"])));
        assert!(!r.should_encrypt(&p(&["meta", "x"])));
    }
}
