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

pub mod config;
pub mod cycle;
pub mod drift;
pub mod incremental;
pub mod leader;
pub mod notices;
pub mod options;
pub mod outcome;
pub mod rollback;
pub mod schedule;
pub mod signals;
pub mod source;
pub mod target_loop;
pub mod wakes;
pub mod watch;

pub use config::{DaemonConfig, TargetSpec};
pub use options::{Mode, RunOptions, SourceKind};

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch as tokio_watch;
use tokio::time::Instant;
use tracing::{Instrument as _, info, warn};

use crate::admin::{self, AdminError, AdminState, Hub};
use crate::notifications::{NotificationMetrics, Notifications};
use crate::notify::Notifier;

/// How long queued notices may still take at shutdown.
const NOTIFICATIONS_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);
use crate::secrets::{SecretsError, SopsSource};
use crate::source::SourceError;
use crate::source_id::{DefaultId, SourceIdError, SourceIdPolicy};
use crate::trigger::{self, TriggerSender};
use cycle::Cycle;
use leader::{LeaderError, LeaderStatus};
use schedule::Schedule;
use target_loop::TargetLoop;

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
    /// A notification receiver of the daemon config is unusable.
    #[error(transparent)]
    Notifications(#[from] crate::notifications::NotificationsError),
    /// Options that contradict each other.
    #[error("failed to start: {0}")]
    Conflict(String),
    /// Path mode was chosen but `--repo` is not a directory.
    #[error("failed to use {0} as a local config directory: it is not a directory")]
    NotADirectory(PathBuf),
}

/// Runs the daemon until `shutdown` completes: one loop per target ([`config`]; one unnamed
/// target without a daemon config), with leader election per target when `--leader-election`
/// is on (the Lease is named after `--source-id`, which is then required, and the target).
pub async fn run(args: RunOptions, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let targets = resolve_targets(&args)?;
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
    let mut leaders = Vec::new();
    let mut electors = Vec::new();
    for t in &targets {
        match leader_settings(&args, t.name.as_deref())? {
            Some(settings) => {
                let client = crate::cluster::connect(&t.kube).await?;
                let (status, handle) = leader::spawn(client, settings, stopped(stop_rx.clone()))?;
                leaders.push(status);
                electors.push(handle);
            }
            None => leaders.push(LeaderStatus::always()),
        }
    }
    let result = run_targets(args, targets.into_iter().zip(leaders).collect(), shutdown).await;
    // Only now (the reconciles in flight are done) give up leadership and release the leases.
    let _ = stop_tx.send(true);
    for handle in electors {
        if let Err(e) = handle.await {
            warn!(error = %e, "leader elector task failed");
        }
    }
    result
}

/// The targets: those of `--config`, else one unnamed target of `--kubeconfig`/`--context`/
/// `--env`.
fn resolve_targets(args: &RunOptions) -> Result<Vec<TargetSpec>, DaemonError> {
    match args.config.as_ref().filter(|c| !c.targets.is_empty()) {
        Some(config) => {
            if args.env.is_some() || args.kube.context.is_some() {
                return Err(DaemonError::Conflict(
                    "--env and --context cannot be combined with the targets of --config: set `environment` and `context` per target".into(),
                ));
            }
            Ok(config.targets(args.kube.kubeconfig.as_deref()))
        }
        None => Ok(vec![TargetSpec {
            name: None,
            kube: args.kube.clone(),
            env: args.env.clone(),
        }]),
    }
}

fn leader_settings(
    args: &RunOptions,
    target: Option<&str>,
) -> Result<Option<leader::LeaderSettings>, LeaderError> {
    if !args.leader.leader_election {
        return Ok(None);
    }
    let Some(source_id) = args.source_id.as_deref() else {
        return Err(LeaderError::Settings(
            "--leader-election needs --source-id (the Lease is named after it)".into(),
        ));
    };
    match target {
        Some(t) => args.leader.settings(&format!("{source_id}-{t}")),
        None => args.leader.settings(source_id),
    }
}

/// Completes once `rx` holds `true`.
async fn stopped(mut rx: tokio_watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs every target's loop until `shutdown` completes; each reconciles only while its
/// [`LeaderStatus`] says this replica leads ([`LeaderStatus::always`] without leader election).
async fn run_targets(
    args: RunOptions,
    targets: Vec<(TargetSpec, LeaderStatus)>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let mode = args.mode();
    let (source, default_id) = match mode {
        Mode::Git => (
            source::git(&args.repo, &args.git)?,
            DefaultId::for_remote(&args.repo, args.git.path.as_deref()),
        ),
        Mode::Path => {
            if let Some(why) = args.path_mode_conflict() {
                return Err(DaemonError::Conflict(why));
            }
            let dir = PathBuf::from(&args.repo);
            if !dir.is_dir() {
                return Err(DaemonError::NotADirectory(dir));
            }
            let id = DefaultId::for_dir(&dir);
            (source::Source::Path(dir), Ok(id))
        }
    };
    if let source::Source::Git(git) = &source {
        // Each target may still read the revision it started on.
        git.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(targets.len() + 1);
    }
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
    let channels: Vec<_> = targets.iter().map(|_| trigger::channel()).collect();
    let senders: Vec<TriggerSender> = channels.iter().map(|(tx, _)| tx.clone()).collect();
    let all_targets = TriggerSender::fan(&senders);
    let states: Vec<AdminState> = targets
        .iter()
        .zip(&senders)
        .map(|((t, _), tx)| match &t.name {
            Some(name) => AdminState::for_target(name, tx.clone()),
            None => AdminState::new(tx.clone(), None),
        })
        .collect();
    let receivers = crate::notifications::load(
        args.config
            .as_ref()
            .map_or(&[][..], |c| c.notifications.as_slice()),
    )?;
    let mut registry = prometheus_client::registry::Registry::with_prefix("mlsync");
    let notification_metrics = NotificationMetrics::register(&mut registry);
    let hub = Hub::new(
        states.clone(),
        all_targets.clone(),
        args.admin.webhook_secret()?,
    )
    .with_daemon_metrics(registry);
    let (stop_tx, stop_rx) = tokio_watch::channel(false);
    let server = tokio::spawn(admin::serve(listener, hub, stopped(stop_rx.clone())));
    let source = Arc::new(source::SharedSource::new(source));
    let _dir_watch = match (source.source(), args.watch) {
        (source::Source::Path(dir), true) => {
            Some(watch::spawn(dir, args.debounce, all_targets.clone())?)
        }
        _ => None,
    };
    let notifications = Notifications::spawn(receivers, notification_metrics);
    let notifier = Notifier::from_env();
    let watchdog = notifier.spawn_watchdog(stopped(stop_rx.clone()));
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|(t, _)| t.name.as_deref())
        .collect();
    info!(
        source = %source.source().describe(),
        mode = ?mode,
        admin = %args.admin.admin_addr,
        interval = %humantime::format_duration(args.interval),
        targets = %names.join(", "),
        "mlsync daemon started"
    );
    log_source_id(&source_id);
    let schedule = Schedule {
        interval: args.interval,
        backoff_max: args.backoff_max,
    };
    let mut loops = Vec::new();
    for (((spec, leader), (triggers, next)), state) in targets.into_iter().zip(channels).zip(states)
    {
        let span = match &spec.name {
            Some(name) => tracing::info_span!("target", target = %name),
            None => tracing::Span::none(),
        };
        let cycle = Cycle::new(
            Arc::clone(&source),
            state,
            notifier.clone(),
            cycle::Target {
                kube: spec.kube,
                options: args.reconcile.clone(),
                env: spec.env,
                name: spec.name,
            },
            Arc::clone(&secrets) as Arc<dyn crate::secrets::SecretSource>,
            leader.clone(),
            source_id.clone(),
        )
        .with_rollback(args.rollback_on_failure)
        .with_self_heal(args.self_heal)
        .with_notifications(notifications.clone());
        let target = TargetLoop {
            cycle,
            triggers,
            next,
            leader,
            schedule,
            shutdown_timeout: args.shutdown_timeout,
        };
        loops.push(target.run(stop_rx.clone()).instrument(span));
    }
    if let Err(e) = notifier.ready() {
        warn!(error = %e, "sd_notify READY failed");
    }
    let all = futures::future::join_all(loops);
    tokio::pin!(all);
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => {
            info!("shutting down");
            let _ = stop_tx.send(true);
            all.await;
        }
        _ = &mut all => {}
    }
    // Queued notices (a reconcile that finished in the shutdown) get a moment to leave.
    if !notifications.flush(NOTIFICATIONS_FLUSH).await {
        warn!("notifications still queued at shutdown were dropped");
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
