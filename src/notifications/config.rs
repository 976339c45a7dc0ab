//! The `notifications:` list of the daemon config file ([`ReceiverConfig`]) and [`load`], which
//! reads the receivers' secret files and checks every field into ready [`Receiver`]s.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::NotificationsError;
use super::error::ConfigProblem;
use super::http::Client;
use super::notice::NoticeType;
use super::secret::{Secret, read_secret_file};

/// One receiver as written in the daemon config file:
///
/// ```yaml
/// notifications:
///   - name: team-hook                     # unique; the metric label `receiver`
///     type: generic-hmac                  # generic | generic-hmac | slack
///     address: https://hooks.example.com/mlsync
///     secretFile: /etc/mlsync/hook-hmac-key
///     events: [revisionApplied, reconcileFailed]   # optional; default: every kind
///   - name: team-slack
///     type: slack
///     addressFile: /etc/mlsync/slack-url  # the webhook URL holds a token: never in the config
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, used in logs and as the metric label `receiver`.
    pub name: String,
    /// How notices are formatted and signed.
    #[serde(rename = "type")]
    pub kind: ReceiverType,
    /// `generic`, `generic-hmac`: the `http(s)://` URL notices are POSTed to (not secret).
    #[serde(default)]
    pub address: Option<String>,
    /// `slack`: a file holding the incoming-webhook URL (mode 0600).
    #[serde(default)]
    pub address_file: Option<PathBuf>,
    /// `generic-hmac`: a file holding the HMAC-SHA256 key (mode 0600; trailing newline trimmed).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The kinds sent to this receiver; every kind when absent.
    #[serde(default)]
    pub events: Option<Vec<NoticeType>>,
}

/// How a receiver's notices are formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ReceiverType {
    /// JSON body (see [`super::body`]), no signature.
    #[serde(rename = "generic")]
    Generic,
    /// JSON body signed with `X-Signature: sha256=<hex HMAC-SHA256(key, body)>` (as Flux).
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    /// A Slack incoming webhook: `{"text": …}`.
    #[serde(rename = "slack")]
    Slack,
}

impl ReceiverType {
    /// The name in the config: `generic`, `generic-hmac`, `slack`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverType::Generic => "generic",
            ReceiverType::GenericHmac => "generic-hmac",
            ReceiverType::Slack => "slack",
        }
    }
}

/// Where and how one receiver is reached, with its secrets.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// A JSON webhook, signed when it has a key.
    Generic {
        /// The URL (not secret).
        url: Url,
        /// The HMAC key of `generic-hmac`.
        key: Option<Secret>,
    },
    /// A Slack incoming webhook, whose URL is a secret.
    Slack {
        /// The URL.
        url: Secret,
    },
}

/// A checked receiver, ready for [`super::Notifications::spawn`]. `Debug` shows no secret.
#[derive(Clone)]
pub struct Receiver {
    pub(crate) name: String,
    pub(crate) kind: ReceiverType,
    pub(crate) endpoint: Endpoint,
    /// `None`: every kind.
    pub(crate) events: Option<BTreeSet<NoticeType>>,
    pub(crate) client: Client,
}

impl Receiver {
    /// The receiver's unique name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How its notices are formatted.
    pub fn receiver_type(&self) -> ReceiverType {
        self.kind
    }

    /// Whether notices of `kind` go to this receiver.
    pub fn accepts(&self, kind: NoticeType) -> bool {
        super::accepts(self.events.as_ref(), kind)
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address = match &self.endpoint {
            Endpoint::Generic { url, .. } => url.as_str(),
            Endpoint::Slack { .. } => "<redacted>",
        };
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("type", &self.kind.as_str())
            .field("address", &address)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Checks `configs` and reads their secret files: unique names, the fields each type needs
/// and no others, `http(s)://` URLs with a host, secret files only mlsync can read.
pub fn load(configs: &[ReceiverConfig]) -> Result<Vec<Receiver>, NotificationsError> {
    let mut names = HashSet::new();
    for (index, config) in configs.iter().enumerate() {
        if config.name.trim().is_empty() {
            return Err(NotificationsError::EmptyName { index });
        }
        if !names.insert(config.name.as_str()) {
            return Err(NotificationsError::DuplicateName {
                name: config.name.clone(),
            });
        }
    }
    configs.iter().map(load_one).collect()
}

/// One receiver of [`load`].
fn load_one(config: &ReceiverConfig) -> Result<Receiver, NotificationsError> {
    let name = config.name.clone();
    let problem = |problem| NotificationsError::Config {
        receiver: name.clone(),
        problem,
    };
    let kind = config.kind;
    let missing = |field| problem(ConfigProblem::Missing { field, kind });
    let not_used = |field| problem(ConfigProblem::NotUsed { field, kind });
    let events = match &config.events {
        Some(list) if list.is_empty() => return Err(problem(ConfigProblem::NoEvents)),
        Some(list) => Some(list.iter().copied().collect()),
        None => None,
    };
    let (endpoint, https) = match kind {
        ReceiverType::Generic | ReceiverType::GenericHmac => {
            if config.address_file.is_some() {
                return Err(not_used("addressFile"));
            }
            let address = config
                .address
                .as_deref()
                .ok_or_else(|| missing("address"))?;
            let url = parse_address(address).map_err(|reason| {
                problem(ConfigProblem::Address {
                    address: address.to_owned(),
                    reason,
                })
            })?;
            let key = match (kind, &config.secret_file) {
                (ReceiverType::GenericHmac, Some(file)) => Some(read_secret_file(&name, file)?),
                (ReceiverType::GenericHmac, None) => return Err(missing("secretFile")),
                (_, Some(_)) => return Err(not_used("secretFile")),
                (_, None) => None,
            };
            let https = url.scheme() == "https";
            (Endpoint::Generic { url, key }, https)
        }
        ReceiverType::Slack => {
            if config.address.is_some() {
                return Err(problem(ConfigProblem::SlackAddress));
            }
            if config.secret_file.is_some() {
                return Err(not_used("secretFile"));
            }
            let file = config
                .address_file
                .as_ref()
                .ok_or_else(|| missing("addressFile"))?;
            let text = read_secret_file(&name, file)?;
            // The reason never quotes the URL: `url::ParseError` messages are fixed texts.
            let parsed = std::str::from_utf8(text.expose())
                .map_err(|_| "it is not UTF-8 text".to_owned())
                .and_then(|t| parse_address(t.trim()))
                .map_err(|reason| NotificationsError::AddressFile {
                    receiver: name.clone(),
                    file: file.clone(),
                    reason,
                })?;
            let https = parsed.scheme() == "https";
            let url = Secret::new(String::from(parsed).into_bytes());
            (Endpoint::Slack { url }, https)
        }
    };
    let client = Client::new(https).map_err(|reason| NotificationsError::Tls {
        receiver: name.clone(),
        reason,
    })?;
    Ok(Receiver {
        name,
        kind,
        endpoint,
        events,
        client,
    })
}

/// `address` as an `http(s)://` URL with a host and without credentials; else why not (never
/// quoting the address, which may be a secret).
pub(crate) fn parse_address(address: &str) -> Result<Url, String> {
    let url = Url::parse(address).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http:// or https://".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are refused; use type generic-hmac".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
