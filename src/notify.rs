//! systemd service notifications (`sd_notify`) over `$NOTIFY_SOCKET`.
//!
//! A tiny `UnixDatagram` implementation rather than the `sd-notify` crate: that crate reads
//! only the process environment, while [`Notifier::from_env_vars`] takes the values
//! explicitly so that tests never mutate process-global environment variables.
//! Every method is a no-op when `NOTIFY_SOCKET` is unset (not started by systemd).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

/// Errors from talking to the service manager.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `NOTIFY_SOCKET` names an address that cannot be used.
    #[error("failed to use NOTIFY_SOCKET {socket:?}: {cause}")]
    Address {
        /// The socket as given.
        socket: String,
        /// The underlying error (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// Sending the datagram failed.
    #[error("failed to send {state:?} to NOTIFY_SOCKET {socket:?}: {cause}")]
    Send {
        /// The first line of the message that was not delivered.
        state: String,
        /// The socket as given.
        socket: String,
        /// The underlying error (part of the message, not a `source()`).
        cause: std::io::Error,
    },
}

/// Sends state changes to systemd; build one with [`Notifier::from_env`].
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// The socket as written in `NOTIFY_SOCKET` (`/path` or `@abstract`); `None` disables.
    socket: Option<String>,
    /// The watchdog timeout systemd expects pings within, if enabled for this process.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the process environment.
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Self::from_env_vars(
            socket.as_deref(),
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
        )
    }

    /// Builds a notifier from explicit values of the systemd variables and this process's id.
    ///
    /// The watchdog is enabled when `watchdog_usec` is a positive integer and `watchdog_pid`
    /// is unset or equal to `own_pid` (otherwise the watchdog belongs to another process).
    pub fn from_env_vars(
        notify_socket: Option<&OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        own_pid: u32,
    ) -> Self {
        let socket = notify_socket
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string_lossy().into_owned());
        let pid_matches = watchdog_pid.is_none_or(|p| p.trim().parse::<u32>() == Ok(own_pid));
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && pid_matches)
            .map(Duration::from_micros);
        Self { socket, watchdog }
    }

    /// Whether a service manager is listening (`NOTIFY_SOCKET` was set).
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// The watchdog timeout (`WATCHDOG_USEC`), if systemd enabled it for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// How often to call [`Notifier::watchdog`]: half the watchdog timeout.
    pub fn watchdog_ping_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Tells systemd that start-up finished (`READY=1`).
    pub fn ready(&self) -> Result<(), NotifyError> {
        self.send("READY=1")
    }

    /// Sets the one-line status shown by `systemctl status` (`STATUS=…`; newlines become spaces).
    pub fn status(&self, text: &str) -> Result<(), NotifyError> {
        let line: String = text
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.send(&format!("STATUS={line}"))
    }

    /// Tells systemd that the service is shutting down (`STOPPING=1`).
    pub fn stopping(&self) -> Result<(), NotifyError> {
        self.send("STOPPING=1")
    }

    /// Pings the watchdog (`WATCHDOG=1`).
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.send("WATCHDOG=1")
    }

    /// Sends raw `KEY=VALUE` lines; a no-op when no socket is configured.
    pub fn send(&self, state: &str) -> Result<(), NotifyError> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let addr = socket_addr(socket).map_err(|cause| NotifyError::Address {
            socket: socket.clone(),
            cause,
        })?;
        let send_err = |cause| NotifyError::Send {
            state: state.lines().next().unwrap_or_default().to_owned(),
            socket: socket.clone(),
            cause,
        };
        let sock = UnixDatagram::unbound().map_err(send_err)?;
        sock.send_to_addr(state.as_bytes(), &addr)
            .map_err(send_err)?;
        Ok(())
    }

    /// Spawns a task that pings the watchdog at half its timeout until `shutdown` resolves.
    /// Returns `None` when the watchdog is not enabled. Failed pings are logged and retried.
    pub fn spawn_watchdog(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.watchdog_ping_interval()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            tokio::pin!(shutdown);
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    _ = ticks.tick() => {
                        if let Err(e) = this.watchdog() {
                            tracing::warn!(error = %e, "watchdog ping failed");
                        }
                    }
                }
            }
        }))
    }
}

/// Turns `NOTIFY_SOCKET` into an address: a leading `@` means a Linux abstract socket.
fn socket_addr(socket: &str) -> std::io::Result<SocketAddr> {
    if let Some(name) = socket.strip_prefix('@') {
        abstract_addr(name.as_bytes())
    } else {
        SocketAddr::from_pathname(Path::new(OsStr::from_bytes(socket.as_bytes())))
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> std::io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> std::io::Result<SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_needs_a_positive_timeout_and_our_pid() {
        let sock = Some(OsStr::new("/run/x"));
        let n = Notifier::from_env_vars(sock, Some("3000000"), None, 7);
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(3)));
        assert_eq!(
            n.watchdog_ping_interval(),
            Some(Duration::from_millis(1500))
        );
        let n = Notifier::from_env_vars(sock, Some("3000000"), Some("7"), 7);
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(3)));
        let other_pid = Notifier::from_env_vars(sock, Some("3000000"), Some("8"), 7);
        assert_eq!(other_pid.watchdog_interval(), None);
        let zero = Notifier::from_env_vars(sock, Some("0"), None, 7);
        assert_eq!(zero.watchdog_interval(), None);
        let junk = Notifier::from_env_vars(sock, Some("soon"), None, 7);
        assert_eq!(junk.watchdog_interval(), None);
    }

    #[test]
    fn without_a_socket_everything_is_a_no_op() {
        let n = Notifier::from_env_vars(None, None, None, 1);
        assert!(!n.is_enabled());
        assert!(n.ready().is_ok());
        assert!(n.status("x").is_ok());
        let empty = Notifier::from_env_vars(Some(OsStr::new("")), None, None, 1);
        assert!(!empty.is_enabled());
    }
}
