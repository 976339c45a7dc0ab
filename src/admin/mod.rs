//! The daemon's admin HTTP server: health, readiness, metrics, status and webhooks.
//!
//! The reconcile loop shares one [`AdminState`] with the server: it calls
//! [`AdminState::record_reconcile`], [`AdminState::record_fetch`] and
//! [`AdminState::record_object`], and receives webhook triggers from the
//! [`crate::trigger::TriggerReceiver`] whose sender it put into the state.
//!
//! | path | answer |
//! | --- | --- |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 503 until a reconcile succeeded, then 200 |
//! | `GET /metrics` | OpenMetrics text |
//! | `GET /status` | [`status::DaemonStatus`] as JSON |
//! | `POST /webhook/github`, `POST /webhook/gitlab` | 202 and a trigger when verified |
//!
//! # Wiring into `mlsync run`
//!
//! ```no_run
//! # async fn daemon(args: mlsync::admin::AdminOptions) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::{Duration, Instant};
//! use mlsync::admin::{self, AdminState};
//! use mlsync::admin::status::{Outcome, ReconcileReport};
//! use mlsync::notify::Notifier;
//! use mlsync::trigger::{self, TriggerReason};
//!
//! let (triggers, mut next) = trigger::channel();
//! let state = AdminState::new(triggers.clone(), args.webhook_secret()?);
//! let listener = args.bind().await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(admin::serve(listener, state.clone(), async {
//!     let _ = stopped.await;
//! }));
//! let notifier = Notifier::from_env();
//! notifier.ready()?;
//! triggers.fire(TriggerReason::Startup);
//! // A poll timer fires `TriggerReason::Poll` the same way; webhooks fire on their own.
//! while let Some(trigger) = next.recv().await {
//!     let started = Instant::now();
//!     // … fetch (state.record_fetch), render, apply (state.record_object) …
//!     state.record_reconcile(&ReconcileReport {
//!         outcome: Outcome::Success,
//!         duration: started.elapsed(),
//!         revision: Some("0123abc".into()),
//!         error: None,
//!         services: Some(vec![]),
//!         prune_refused: None,
//!         kept_services: vec![],
//!     });
//!     notifier.status(&format!("synced 0123abc ({})", trigger.reason))?;
//! #   break;
//! }
//! notifier.stopping()?;
//! let _ = stop.send(());
//! server.await?;
//! # Ok(()) }
//! ```

mod conns;
pub mod drift;
pub mod hub;
pub mod metrics;
mod server;
pub mod status;
pub mod webhook;

pub use hub::Hub;
pub use server::{ServeOptions, router, serve, serve_with};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::trigger::TriggerSender;
use metrics::{Metrics, ObjectAction};
use status::{DaemonStatus, ReconcileReport};
use webhook::WebhookSecret;

/// Errors of the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The webhook secret file could not be read.
    #[error("failed to read webhook secret file {}: {cause}", path.display())]
    ReadSecret {
        /// The file.
        path: PathBuf,
        /// The underlying error (part of the message, not a `source()`).
        cause: std::io::Error,
    },
    /// The webhook secret file holds nothing but whitespace.
    #[error("failed to use webhook secret file {path}: it is empty")]
    EmptySecret {
        /// The file.
        path: PathBuf,
    },
    /// Binding the listen address failed.
    #[error("failed to listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error (part of the message, not a `source()`).
        cause: std::io::Error,
    },
}

/// Options of the admin server.
#[derive(Debug, Clone)]
pub struct AdminOptions {
    /// Address of the admin HTTP server (health, metrics, status, webhooks).
    pub admin_addr: SocketAddr,
    /// File holding the webhook secret; without it (and without the systemd credential
    /// `webhook-secret`) the webhook endpoints are disabled.
    pub webhook_secret_file: Option<PathBuf>,
}

impl AdminOptions {
    /// Loads the webhook secret named by these options or by `$CREDENTIALS_DIRECTORY`.
    pub fn webhook_secret(&self) -> Result<Option<WebhookSecret>, AdminError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY");
        WebhookSecret::resolve(self.webhook_secret_file.as_deref(), credentials.as_deref())
    }

    /// Binds the listen address.
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, AdminError> {
        tokio::net::TcpListener::bind(self.admin_addr)
            .await
            .map_err(|cause| AdminError::Bind {
                addr: self.admin_addr,
                cause,
            })
    }
}

/// State shared by the admin server and the reconcile loop; cheap to clone.
#[derive(Clone, Debug)]
pub struct AdminState {
    target: Option<Arc<str>>,
    status: Arc<RwLock<DaemonStatus>>,
    metrics: Arc<Metrics>,
    webhook_secret: Option<Arc<WebhookSecret>>,
    trigger: TriggerSender,
}

impl AdminState {
    /// Creates the state; webhooks are disabled when `webhook_secret` is `None`.
    pub fn new(trigger: TriggerSender, webhook_secret: Option<WebhookSecret>) -> Self {
        Self {
            target: None,
            status: Arc::default(),
            metrics: Arc::new(Metrics::new()),
            webhook_secret: webhook_secret.map(Arc::new),
            trigger,
        }
    }

    /// The state of the target named `name`, whose reconciles `trigger` starts: its status
    /// names it and its metrics carry `target="<name>"` (webhooks are the [`Hub`]'s).
    pub fn for_target(name: &str, trigger: TriggerSender) -> Self {
        let status = DaemonStatus {
            target: Some(name.to_owned()),
            ..DaemonStatus::default()
        };
        Self {
            target: Some(Arc::from(name)),
            status: Arc::new(RwLock::new(status)),
            metrics: Arc::new(Metrics::for_target(Some(name))),
            webhook_secret: None,
            trigger,
        }
    }

    /// The target's name, when the daemon reconciles named targets.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// Records a finished reconcile in the status and the metrics.
    pub fn record_reconcile(&self, report: &ReconcileReport) {
        let now = jiff::Timestamp::now();
        let mut status = self.status.write().unwrap_or_else(PoisonError::into_inner);
        let previous = status.services.clone();
        status.apply(report, now);
        self.metrics.observe_reconcile(
            report.outcome,
            report.duration,
            now.as_millisecond() as f64 / 1e3,
        );
        if let Some(rev) = &status.revision {
            self.metrics.set_revision(rev);
        }
        self.metrics.set_services(&previous, &status.services);
        self.metrics
            .set_prune_refused(status.prune_refused.is_some());
    }

    /// Records that the followed ref was force-pushed (history rewritten).
    pub fn record_history_rewrite(&self) {
        self.metrics.count_history_rewrite();
    }

    /// Records one git fetch.
    pub fn record_fetch(&self, duration: Duration, ok: bool) {
        self.metrics.observe_fetch(duration, ok);
    }

    /// Records a reconcile skipped because git and the cluster were unchanged.
    pub fn record_skipped(&self) {
        self.metrics.count_skipped();
    }

    /// Records a reconcile's canary rollouts: how many are in each phase now, the verdicts of
    /// the checks it made and the events it recorded.
    pub fn record_rollouts(
        &self,
        phases: &[(&'static str, i64)],
        checks: &[&'static str],
        events: &[&'static str],
    ) {
        self.metrics.set_rollouts(phases);
        for verdict in checks {
            self.metrics.count_rollout_check(verdict);
        }
        for reason in events {
            self.metrics.count_rollout_event(reason);
        }
    }

    /// Records one object handled by apply or prune.
    pub fn record_object(&self, kind: &str, action: ObjectAction) {
        self.metrics.count_object(kind, action);
    }

    /// Records whether drift is healed or only reported (`--self-heal`).
    pub fn set_self_heal(&self, on: bool) {
        self.status
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drift
            .self_heal = on;
    }

    /// Records that an owned object differs from git (see [`drift::DriftStatus`]); a fight is
    /// counted when `object.fight_until` is set and `new_fight` says this drift started it.
    pub fn record_drift(&self, object: drift::DriftedObject, new_fight: bool) {
        self.metrics.count_drift(&object.kind, object.drift);
        if new_fight {
            self.metrics.count_drift_fight(&object.kind);
        }
        self.status
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drift
            .drifted(object);
    }

    /// Records that an object is equal to git again.
    pub fn record_in_sync(&self, kind: &str, namespace: &str, name: &str) {
        self.status
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .drift
            .in_sync(kind, namespace, name);
    }

    /// A copy of the current status.
    pub fn status(&self) -> DaemonStatus {
        self.status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The trigger sender webhooks fire into.
    pub fn trigger(&self) -> &TriggerSender {
        &self.trigger
    }

    fn is_ready(&self) -> bool {
        self.status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ready
    }
}
