//! `mlsync run`: process set-up around [`crate::daemon::run`] (libgit2 timeouts, runtime,
//! signals, exit codes).

use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::{self, RunArgs};

/// libgit2 connect timeout for the daemon's fetches.
const GIT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// libgit2 read/write timeout: a remote that stalls longer fails the fetch.
const GIT_IO_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the daemon until SIGTERM/SIGINT: 0 after a graceful shutdown, 130 after a second
/// signal, 2 when it cannot start.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // SAFETY: called before the tokio runtime (and any other thread using libgit2) exists.
    unsafe { crate::source::set_network_timeouts(GIT_CONNECT_TIMEOUT, GIT_IO_TIMEOUT) };
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let shutdown = daemon::signals::shutdown_on_signals()?;
        daemon::run(args, shutdown).await?;
        anyhow::Ok(())
    })?;
    // Blocking fetches still running (at most one) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}
