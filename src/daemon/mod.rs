//! `mlsync run`: the daemon that keeps the cluster equal to a git repository or a local
//! directory (see docs/daemon.md).
//!
//! [`run`] binds the admin server, starts the source (git fetches on blocking threads, or an
//! inotify watch in path mode), then loops: triggers (startup, poll timer with jitter, webhooks,
//! file changes, retries with exponential backoff) coalesce into at most one queued reconcile;
//! each reconcile is [`cycle::Cycle::run`], which looks only at the services that need it
//! ([`incremental`], fed by the [`drift`] watch). Shutdown is a future passed in, so tests and `main`
//! drive it the same way: when it completes, the reconcile in flight may finish within
//! `--shutdown-timeout`, then the server stops and [`run`] returns.
//!
//! Leader election ([`leader`], `--leader-election`): [`run`] starts the elector and hands its
//! [`leader::LeaderStatus`] to [`run_with`], whose loop reconciles only while this replica leads;
//! becoming leader triggers a reconcile at once. On shutdown the reconcile in flight finishes
//! first, then the elector releases the lease.

pub mod cycle;
pub mod drift;
pub mod incremental;
pub mod leader;
pub mod options;
pub mod outcome;
pub mod rollback;
pub mod schedule;
pub mod signals;
pub mod source;
pub mod wakes;
pub mod watch;

pub use options::{Mode, RunOptions, SourceKind};

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::admin::{self, AdminError, AdminState};
use crate::notify::Notifier;
use crate::secrets::{SecretsError, SopsSource};
use crate::source::SourceError;
use crate::source_id::{DefaultId, SourceIdError, SourceIdPolicy};
use crate::trigger::{self, TriggerReason};
use cycle::{Cycle, CycleResult};
use leader::{LeaderError, LeaderStatus};
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
    /// The cluster client for leader election could not be built.
    #[error(transparent)]
    Connect(#[from] crate::cluster::ClusterError),
    /// Leader election could not start.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// `--source-id` is not a label value.
    #[error(transparent)]
    SourceId(#[from] SourceIdError),
    /// Path mode was chosen but `--repo` is not a directory.
    #[error("failed to use {0} as a local config directory: it is not a directory")]
    NotADirectory(PathBuf),
}

/// Runs the daemon until `shutdown` completes, with leader election when `--leader-election`
/// is on (the Lease is named after `--source-id`, which is then required).
pub async fn run(args: RunOptions, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
    let (status, elector) = match leader_settings(&args)? {
        Some(settings) => {
            let client = crate::cluster::connect(&args.kube).await?;
            let (status, handle) = leader::spawn(client, settings, stopped(stop_rx))?;
            (status, Some(handle))
        }
        None => (LeaderStatus::always(), None),
    };
    let result = run_with(args, shutdown, status).await;
    // Only now (the reconcile in flight is done) give up leadership and release the lease.
    let _ = stop_tx.send(true);
    if let Some(handle) = elector
        && let Err(e) = handle.await
    {
        warn!(error = %e, "leader elector task failed");
    }
    result
}

fn leader_settings(args: &RunOptions) -> Result<Option<leader::LeaderSettings>, LeaderError> {
    if !args.leader.leader_election {
        return Ok(None);
    }
    let Some(source_id) = args.source_id.as_deref() else {
        return Err(LeaderError::Settings(
            "--leader-election needs --source-id (the Lease is named after it)".into(),
        ));
    };
    args.leader.settings(source_id)
}

/// Completes once `rx` holds `true`.
async fn stopped(mut rx: tokio_watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs the daemon until `shutdown` completes; reconciles only while `leader` says this replica
/// leads ([`LeaderStatus::always`] without leader election).
pub async fn run_with(
    args: RunOptions,
    shutdown: impl Future<Output = ()>,
    mut leader: LeaderStatus,
) -> Result<(), DaemonError> {
    let mode = args.mode();
    let (triggers, mut next) = trigger::channel();
    let state = AdminState::new(triggers.clone(), args.admin.webhook_secret()?);
    let (source, default_id) = match mode {
        Mode::Git => (
            source::git(&args.repo, &args.git)?,
            DefaultId::for_remote(&args.repo, args.git.path.as_deref()),
        ),
        Mode::Path => {
            let dir = PathBuf::from(&args.repo);
            if !dir.is_dir() {
                return Err(DaemonError::NotADirectory(dir));
            }
            let id = DefaultId::for_dir(&dir);
            (source::Source::Path(dir), Ok(id))
        }
    };
    // Resolved once per source: the same default for every commit and checkout.
    let source_id = SourceIdPolicy {
        flag: args.source_id.clone(),
        default: default_id,
    };
    if source_id.flag.is_some() {
        source_id.resolve(None)?;
    }
    let secrets = Arc::new(SopsSource::from_options(&args.keys)?);
    let listener = args.admin.bind().await?;
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
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
    log_source_id(&source_id);
    let mut cycle = Cycle::new(
        source,
        state,
        notifier.clone(),
        cycle::Target {
            kube: args.kube.clone(),
            options: args.reconcile.clone(),
            env: args.env.clone(),
        },
        secrets,
        leader.clone(),
        source_id,
    )
    .with_rollback(args.rollback_on_failure)
    .with_self_heal(args.self_heal);
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
    let mut leader_open = true;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                info!("shutting down");
                break;
            }
            leading = leader.changed(), if leader_open => {
                if leading {
                    info!("leading now; reconciling");
                    triggers.fire(TriggerReason::Manual);
                } else if leader.receiver().has_changed().is_err() {
                    warn!("leader election ended; no more reconciles");
                    leader_open = false;
                } else {
                    info!("not leading any more; reconciles pause");
                }
            }
            Some(t) = next.recv() => {
                if !leader.is_leader() {
                    debug!(trigger = %t.reason, "not reconciling: standing by (not the leader)");
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
            () = sleep_until_some(cycle.next_rollout_look().map(Instant::from_std)) => {
                triggers.fire(TriggerReason::Rollout);
                cycle.rollout_looks_fired();
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

/// Says at start which ownership id the daemon uses, or will use unless mlsync.yaml sets one.
fn log_source_id(policy: &SourceIdPolicy) {
    match (&policy.flag, &policy.default) {
        (Some(id), _) => info!(source_id = %id, from = "--source-id", "ownership source id"),
        (None, Ok(d)) => info!(
            source_id = %d.id,
            from = %d.origin,
            identity = %d.basis,
            "ownership source id, unless sourceId in mlsync.yaml sets another"
        ),
        (None, Err(e)) => warn!(
            error = %e,
            "no default ownership source id: reconciles fail unless mlsync.yaml sets sourceId"
        ),
    }
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn round_ms(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis() as u64)
}
