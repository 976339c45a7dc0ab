//! `mlsync run`: the daemon that keeps the cluster equal to a git repository or a local
//! directory (see docs/daemon.md).
//!
//! [`run`] binds the admin server, starts the source (git fetches on blocking threads, or an
//! inotify watch in path mode), then loops: triggers (startup, poll timer with jitter, webhooks,
//! file changes, retries with exponential backoff) coalesce into at most one queued reconcile;
//! each reconcile is [`cycle::Cycle::run`]. Shutdown is a future passed in, so tests and `main`
//! drive it the same way: when it completes, the reconcile in flight may finish within
//! `--shutdown-timeout`, then the server stops and [`run`] returns.
//!
//! Leader election hook: the loop reconciles only while the `may_write` watch value is true.
//! Without leader election pass [`always_write`]; a leader elector sends `true` when it becomes
//! leader (which also triggers a reconcile) and `false` when it loses the lease.

pub mod args;
pub mod cycle;
pub mod outcome;
pub mod schedule;
pub mod signals;
pub mod source;
pub mod watch;

pub use args::{Mode, RunArgs, SourceKind};

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::admin::{self, AdminError, AdminState};
use crate::notify::Notifier;
use crate::secrets::{SecretsError, SopsSource};
use crate::source::SourceError;
use crate::trigger::{self, TriggerReason};
use cycle::{Cycle, CycleResult};
use schedule::{Schedule, draw};

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The admin server could not start (bind, webhook secret).
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The git source configuration is unusable.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The age identities could not be loaded.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The config directory could not be watched.
    #[error(transparent)]
    Watch(#[from] watch::WatchError),
    /// Path mode was chosen but `--repo` is not a directory.
    #[error("failed to use {0} as a local config directory: it is not a directory")]
    NotADirectory(PathBuf),
}

/// A "may write" value that is always true: the hook for running without leader election.
pub fn always_write() -> tokio_watch::Receiver<bool> {
    // With the sender gone the value stays `true` for good; the loop stops watching it.
    let (_tx, rx) = tokio_watch::channel(true);
    rx
}

/// Runs the daemon until `shutdown` completes. Reconciles only while `may_write` is true.
pub async fn run(
    args: RunArgs,
    shutdown: impl Future<Output = ()>,
    mut may_write: tokio_watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let mode = args.mode();
    let (triggers, mut next) = trigger::channel();
    let state = AdminState::new(triggers.clone(), args.admin.webhook_secret()?);
    let source = match mode {
        Mode::Git => source::git(&args.repo, &args.git)?,
        Mode::Path => {
            let dir = PathBuf::from(&args.repo);
            if !dir.is_dir() {
                return Err(DaemonError::NotADirectory(dir));
            }
            source::Source::Path(dir)
        }
    };
    let secrets = Arc::new(SopsSource::from_args(&args.reconcile.keys)?);
    let listener = args.admin.bind().await?;
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
    let stopped = |mut rx: tokio_watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(admin::serve(
        listener,
        state.clone(),
        stopped(stop_rx.clone()),
    ));
    let _dir_watch = match (&source, args.watch) {
        (source::Source::Path(dir), true) => {
            Some(watch::spawn(dir, args.debounce, triggers.clone())?)
        }
        _ => None,
    };
    let notifier = Notifier::from_env();
    let watchdog = notifier.spawn_watchdog(stopped(stop_rx));
    info!(
        source = %source.describe(),
        mode = ?mode,
        admin = %args.admin.admin_addr,
        interval = %humantime::format_duration(args.interval),
        "mlsync daemon started"
    );
    let mut cycle = Cycle::new(
        source,
        state,
        notifier.clone(),
        args.reconcile.clone(),
        secrets,
    );
    if let Err(e) = notifier.ready() {
        warn!(error = %e, "sd_notify READY failed");
    }
    triggers.fire(TriggerReason::Startup);

    let schedule = Schedule {
        interval: args.interval,
        backoff_max: args.backoff_max,
    };
    let mut due = Instant::now() + schedule.next_poll(draw());
    let mut failures: u32 = 0;
    let mut may_write_open = true;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                info!("shutting down");
                break;
            }
            changed = may_write.changed(), if may_write_open => match changed {
                Ok(()) if *may_write.borrow_and_update() => {
                    info!("may write now; reconciling");
                    triggers.fire(TriggerReason::Manual);
                }
                Ok(()) => info!("may not write any more; reconciles pause"),
                Err(_) => may_write_open = false,
            },
            Some(t) = next.recv() => {
                if !*may_write.borrow() {
                    debug!(trigger = %t.reason, "not reconciling: may not write (not the leader)");
                    due = Instant::now() + schedule.next_poll(draw());
                    continue;
                }
                let work = cycle.run(t.reason);
                tokio::pin!(work);
                let finished = tokio::select! {
                    biased;
                    r = &mut work => Some(r),
                    () = &mut shutdown => None,
                };
                let Some(result) = finished else {
                    info!(timeout = %humantime::format_duration(args.shutdown_timeout), "shutting down: waiting for the reconcile in flight");
                    match tokio::time::timeout(args.shutdown_timeout, work).await {
                        Ok(_) => info!("reconcile in flight finished"),
                        Err(_) => warn!("reconcile in flight did not finish in time; abandoned"),
                    }
                    break;
                };
                due = match result {
                    CycleResult::Done => {
                        failures = 0;
                        Instant::now() + schedule.next_poll(draw())
                    }
                    CycleResult::Failed => {
                        failures = failures.saturating_add(1);
                        let wait = schedule.next_retry(failures, draw());
                        info!(retry_in = %humantime::format_duration(round_ms(wait)), failures, "reconcile failed; retrying with backoff");
                        Instant::now() + wait
                    }
                };
            }
            () = tokio::time::sleep_until(due) => {
                triggers.fire(TriggerReason::Poll);
                due = Instant::now() + schedule.next_poll(draw());
            }
        }
    }
    if let Err(e) = notifier.stopping() {
        warn!(error = %e, "sd_notify STOPPING failed");
    }
    let _ = stop_tx.send(true);
    if let Err(e) = server.await {
        warn!(error = %e, "admin server task failed");
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    info!("mlsync daemon stopped");
    Ok(())
}

fn round_ms(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis() as u64)
}
