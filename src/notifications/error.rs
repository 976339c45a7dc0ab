//! The errors of loading notification receivers: one enum, every message starting with
//! "failed to …" and naming the receiver and, where one is involved, the file.
//!
//! No message holds a secret: a file's content (an HMAC key, a Slack webhook URL) is never
//! quoted, only its path. Delivery failures are not errors of this enum: a receiver that is down
//! costs a metric and a warning (see [`super::NotificationResult`]), never an `Err`.

use std::fmt;
use std::path::PathBuf;

use super::config::ReceiverType;

/// Why the `notifications:` list of the daemon config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// A receiver's fields do not fit together (see [`ConfigProblem`]).
    #[error("failed to load notification receiver {receiver}: {problem}")]
    Config {
        /// The receiver's `name`.
        receiver: String,
        /// What is wrong.
        problem: ConfigProblem,
    },
    /// A receiver's `name` is empty.
    #[error("failed to load notification receivers: notifications[{index}] has an empty name")]
    EmptyName {
        /// Its position in the list, from 0.
        index: usize,
    },
    /// Two receivers have the same `name` (it is the metric label `receiver`).
    #[error("failed to load notification receivers: the name {name} is used more than once")]
    DuplicateName {
        /// The name given twice.
        name: String,
    },
    /// A secret file could not be read.
    #[error("failed to read {} (notification receiver {receiver}): {cause}", file.display())]
    Read {
        /// The receiver whose file it is.
        receiver: String,
        /// The file.
        file: PathBuf,
        /// The I/O error (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// A secret file is accessible by group or others (the rule of the age key file).
    #[error(
        "failed to read {} (notification receiver {receiver}): its permissions {mode:04o} let \
         group or others access it; fix with `chmod 600 {}`",
        file.display(),
        file.display()
    )]
    Permissions {
        /// The receiver whose file it is.
        receiver: String,
        /// The file.
        file: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file holds nothing (after trimming the trailing newline).
    #[error("failed to read {} (notification receiver {receiver}): it is empty", file.display())]
    EmptySecret {
        /// The receiver whose file it is.
        receiver: String,
        /// The file.
        file: PathBuf,
    },
    /// A Slack `addressFile` does not hold an `http(s)://` URL with a host. The reason never
    /// quotes the file's content (it holds a token).
    #[error(
        "failed to read {} (notification receiver {receiver}): it does not hold an http(s) URL \
         with a host: {reason}",
        file.display()
    )]
    AddressFile {
        /// The receiver whose file it is.
        receiver: String,
        /// The file.
        file: PathBuf,
        /// What is wrong, without the content.
        reason: String,
    },
    /// The TLS set-up of an `https://` receiver failed (e.g. no root certificates).
    #[error("failed to set up TLS for notification receiver {receiver}: {reason}")]
    Tls {
        /// The receiver.
        receiver: String,
        /// What failed.
        reason: String,
    },
}

/// What is wrong with one receiver's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A field the type needs is missing.
    Missing {
        /// The camelCase field name.
        field: &'static str,
        /// The receiver type.
        kind: ReceiverType,
    },
    /// A field the type does not use is set.
    NotUsed {
        /// The camelCase field name.
        field: &'static str,
        /// The receiver type.
        kind: ReceiverType,
    },
    /// `address` on a Slack receiver: its URL holds a token and must come from `addressFile`.
    SlackAddress,
    /// `address` is not an `http(s)://` URL with a host, or carries credentials.
    Address {
        /// The address as given (not secret: only generic receivers have one).
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `events: []` (which would send nothing).
    NoEvents,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::Missing { field, kind } => {
                write!(f, "type {} needs {field}", kind.as_str())
            }
            ConfigProblem::NotUsed { field, kind } => {
                write!(
                    f,
                    "{field} is not used by type {}; remove it",
                    kind.as_str()
                )
            }
            ConfigProblem::SlackAddress => f.write_str(
                "address is refused for type slack: a Slack webhook URL holds a token; write it \
                 to a file readable only by mlsync and name that file in addressFile",
            ),
            ConfigProblem::Address { address, reason } => {
                write!(f, "address {address} is not usable: {reason}")
            }
            ConfigProblem::NoEvents => {
                f.write_str("events is empty; omit it to send notices of every kind")
            }
        }
    }
}
