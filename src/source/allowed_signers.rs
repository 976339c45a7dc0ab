//! The allowed-signers file of `ssh-keygen -Y verify`, which git reads as
//! `gpg.ssh.allowedSignersFile` (format: `man ssh-keygen`, section ALLOWED SIGNERS).
//!
//! One key per line: `principals [options] keytype base64-key [comment]`. Blank lines and
//! lines starting with `#` are skipped. `principals` is a comma-separated list, double-quoted
//! when it holds spaces. Options are comma-separated, keywords case-insensitive, values in
//! double quotes, as OpenSSH requires:
//! - `namespaces="git,…"`: a pattern list (`*`, `?`, `!negation`) of the signature namespaces
//!   the key may sign; without it, any.
//! - `valid-after="YYYYMMDD[HHMM[SS]][Z]"` and `valid-before="…"`: when the key may sign; a
//!   time without `Z` is in the system time zone, as for ssh-keygen.
//! - `cert-authority` is refused (a line error naming file:line): mlsync verifies signatures by
//!   plain keys only, not by OpenSSH certificates, and fails closed rather than skip a line that
//!   ssh-keygen would trust.
//!
//! Any line that cannot be read is an error naming `file:line`, for the whole file (as
//! ssh-keygen stops at the first bad line).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use ssh_key::PublicKey;
use ssh_key::public::KeyData;

/// The key types OpenSSH reads in a key field.
const KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Suffix of OpenSSH certificate key types.
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// A file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AllowedSignersError {
    /// The file could not be read.
    #[error("failed to read allowed-signers file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// A line is not a valid entry.
    #[error("failed to read allowed-signers file {}:{line}: {problem}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// One key line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The principals field as written (quotes removed), e.g. `alice@example.com,bob@example.com`.
    pub principals: String,
    /// The `namespaces` pattern list, if given.
    pub namespaces: Option<String>,
    /// `valid-after`: the key may sign at or after this time.
    pub valid_after: Option<Timestamp>,
    /// `valid-before`: the key may sign up to this time.
    pub valid_before: Option<Timestamp>,
    /// The key.
    pub key: KeyData,
}

/// Whether an entry's key may sign at a time ([`Entry::validity_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Within `valid-after`/`valid-before` (or neither is set).
    Valid,
    /// Before `valid-after`.
    NotYetValid(Timestamp),
    /// After `valid-before`.
    Expired(Timestamp),
}

impl Entry {
    /// Whether the key may make signatures in `namespace` (no `namespaces` option: any).
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|list| match_pattern_list(namespace, list))
    }

    /// Whether the key may sign at `time`; as ssh-keygen, valid from `valid-after` on and up
    /// to and including `valid-before`.
    pub fn validity_at(&self, time: Timestamp) -> Validity {
        match (self.valid_after, self.valid_before) {
            (Some(after), _) if time < after => Validity::NotYetValid(after),
            (_, Some(before)) if time > before => Validity::Expired(before),
            _ => Validity::Valid,
        }
    }
}

/// A parsed allowed-signers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigners {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl AllowedSigners {
    /// Reads and parses `path`; times without `Z` are in the system time zone.
    pub fn load(path: &Path) -> Result<Self, AllowedSignersError> {
        let text = std::fs::read_to_string(path).map_err(|cause| AllowedSignersError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::parse(path, &text, &TimeZone::system())
    }

    /// Parses the text of the file at `path` (named in errors); times without `Z` are in `tz`.
    pub fn parse(path: &Path, text: &str, tz: &TimeZone) -> Result<Self, AllowedSignersError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start_matches([' ', '\t']).trim_end();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let entry =
                parse_line(trimmed, i + 1, tz).map_err(|problem| AllowedSignersError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    problem,
                })?;
            entries.push(entry);
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file these entries came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key line, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The lines that list `key`, in file order.
    pub fn entries_for<'a>(&'a self, key: &'a KeyData) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| &e.key == key)
    }
}

fn parse_line(line: &str, number: usize, tz: &TimeZone) -> Result<Entry, String> {
    let (principals, rest) = next_field(line)?;
    if principals.is_empty() {
        return Err("empty principals field".into());
    }
    let (second, after_second) = next_field(rest)?;
    if second.is_empty() {
        return Err("missing key after the principals".into());
    }
    let mut options = Options::default();
    let (keytype, rest) = if is_key_type(&second) {
        (second, after_second)
    } else {
        options = parse_options(&second, tz)?;
        let (keytype, rest) = next_field(after_second)?;
        if keytype.is_empty() {
            return Err("missing key after the options".into());
        }
        (keytype, rest)
    };
    if keytype.ends_with(CERT_SUFFIX) {
        return Err(format!(
            "key type {keytype} is a certificate; mlsync verifies plain keys only"
        ));
    }
    if !is_key_type(&keytype) {
        return Err(format!("unknown key type {keytype:?}"));
    }
    let base64 = rest
        .trim_start_matches([' ', '\t'])
        .split([' ', '\t'])
        .next()
        .unwrap_or_default();
    if base64.is_empty() {
        return Err(format!("missing base64 data of the {keytype} key"));
    }
    let key = PublicKey::from_openssh(&format!("{keytype} {base64}"))
        .map_err(|e| format!("invalid {keytype} key: {e}"))?;
    Ok(Entry {
        line: number,
        principals,
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        key: key.key_data().clone(),
    })
}

fn is_key_type(token: &str) -> bool {
    KEY_TYPES.contains(&token) || token.ends_with(CERT_SUFFIX)
}

/// The next whitespace-separated field (a leading `"` quotes it, spaces included) and the
/// text after it.
fn next_field(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start_matches([' ', '\t']);
    if let Some(quoted) = s.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or_else(|| "unterminated quote".to_string())?;
        return Ok((quoted[..end].to_string(), &quoted[end + 1..]));
    }
    // Options may hold spaces inside double quotes.
    let end = field_end(s);
    Ok((s[..end].to_string(), &s[end..]))
}

/// Where an unquoted field ends: at the first space or tab outside double quotes.
fn field_end(s: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

#[derive(Debug, Default)]
struct Options {
    namespaces: Option<String>,
    valid_after: Option<Timestamp>,
    valid_before: Option<Timestamp>,
}

fn parse_options(field: &str, tz: &TimeZone) -> Result<Options, String> {
    let mut out = Options::default();
    let mut rest = field;
    loop {
        let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        match name.as_str() {
            "cert-authority" => {
                return Err(
                    "cert-authority is not supported: mlsync verifies signatures by \
                            plain keys only, not by certificates; list the signers' keys instead"
                        .into(),
                );
            }
            "namespaces" | "valid-after" | "valid-before" => {
                let (value, after) = quoted_value(&name, rest)?;
                rest = after;
                let duplicate = match name.as_str() {
                    "namespaces" => out.namespaces.replace(value).is_some(),
                    "valid-after" => {
                        let t = parse_time(&name, &value, tz)?;
                        out.valid_after.replace(t).is_some()
                    }
                    _ => {
                        let t = parse_time(&name, &value, tz)?;
                        out.valid_before.replace(t).is_some()
                    }
                };
                if duplicate {
                    return Err(format!("option {name} is given twice"));
                }
            }
            "" => return Err("empty option".into()),
            other => return Err(format!("unknown option {other:?}")),
        }
        match rest.strip_prefix(',') {
            None if rest.is_empty() => return Ok(out),
            None => return Err(format!("unexpected {rest:?} after an option")),
            Some("") => return Err("options end with a comma".into()),
            Some(next) => rest = next,
        }
    }
}

/// `="value"` at the start of `rest` (with `\"` for a quote inside), and the text after it.
fn quoted_value<'a>(name: &str, rest: &'a str) -> Result<(String, &'a str), String> {
    let Some(value) = rest.strip_prefix('=') else {
        return Err(format!("option {name} needs a value ({name}=\"…\")"));
    };
    let Some(body) = value.strip_prefix('"') else {
        return Err(format!(
            "the value of option {name} must be in double quotes ({name}=\"…\")"
        ));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' if body[i + 1..].starts_with('"') => {
                out.push('"');
                chars.next();
            }
            c => out.push(c),
        }
    }
    Err(format!("the value of option {name} has no closing quote"))
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]` (`Z`: UTC, else `tz`), as ssh-keygen reads them.
fn parse_time(name: &str, value: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let bad =
        || format!("invalid {name} time {value:?} (use YYYYMMDD or YYYYMMDDHHMM[SS], Z for UTC)");
    let (digits, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (value, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i8, String> {
        digits
            .get(range)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let year: i16 = digits
        .get(..4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (num(8..10)?, num(10..12)?, 0),
        14 => (num(8..10)?, num(10..12)?, num(12..14)?),
        _ => return Err(bad()),
    };
    let civil =
        DateTime::new(year, num(4..6)?, num(6..8)?, hour, minute, second, 0).map_err(|_| bad())?;
    let zone = if utc { &TimeZone::UTC } else { tz };
    zone.to_timestamp(civil).map_err(|_| bad())
}

/// OpenSSH's `match_pattern_list`: `value` matches the comma-separated `list` when one of its
/// patterns matches and no `!`-negated one does.
pub(crate) fn match_pattern_list(value: &str, list: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if match_pattern(value.as_bytes(), pattern.as_bytes()) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `*` matches any run of bytes, `?` any one byte.
fn match_pattern(value: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => value.is_empty(),
        Some((b'*', rest)) => (0..=value.len()).any(|i| match_pattern(&value[i..], rest)),
        Some((&p, rest)) => value
            .split_first()
            .is_some_and(|(&v, value)| (p == b'?' || p == v) && match_pattern(value, rest)),
    }
}

#[cfg(test)]
#[path = "allowed_signers_tests.rs"]
mod tests;
