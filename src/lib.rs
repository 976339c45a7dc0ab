//! mlsync keeps ML model services on Kubernetes equal to a git repository.
//!
//! # Layout
//! - [`cli`]: the command line (`validate`, `render`, `secrets`, `status`, …); the only place
//!   that uses `clap` and `anyhow` (its flag structs become the plain options structs the other
//!   modules take) and decides exit codes (0 no change / valid, 1 changes / invalid, 2+ error;
//!   `apply`: 0 success, changed or not, 2+ error).
//! - [`spec`]: the `MLService` and repo-config types, the embedded JSON Schemas, the checks
//!   a schema cannot express and the names specs turn into ([`spec::names`]) (pure).
//! - [`repo`]: loading a config repo with line/column diagnostics (reads files only), for an
//!   environment with its overlays merged ([`repo::overlay`]), and `promote`'s overlay change
//!   ([`repo::promote`], pure).
//! - [`source_id`]: the ownership id (`mlsync.dev/source`): flag, mlsync.yaml, else derived
//!   from the git remote that identifies the source (pure normalization in
//!   [`source_id::derive`]).
//! - [`render`]: spec → ConfigMap, Secret, Deployment, Service, HPA (pure: one builder per kind
//!   in [`render::objects`]), [`render::render_service`], the one render path of every command
//!   (decrypting through a [`secrets::SecretSource`]), and output (its own small block-style
//!   YAML emitter, [`render::yaml`]).
//! - [`cluster`]: connecting like kubectl (kubeconfig, context, systemd credential, in-cluster)
//!   and discovery (which HPA version the cluster serves).
//! - [`reconcile`]: desired vs live (pure `plan`/`compare`, and every write as a planned step),
//!   reading the cluster, server-side apply (every write fenced by leadership), guarded pruning,
//!   the HPA replicas hand-over, typed failure causes, rollout health, `diff` and Kubernetes
//!   Events.
//! - [`notifications`]: notices to webhooks (generic JSON, HMAC-signed generic, Slack): one
//!   task per receiver with a bounded queue, dedup, retries and metrics; `send` never blocks.
//! - [`source`]: the git source (git2 on blocking threads): clone, fetch one ref, verified
//!   checkouts, SSH with strict known_hosts, HTTPS tokens, SSH commit signatures checked against
//!   an allowed-signers file (`source/verify.rs`).
//! - [`admin`]: the daemon's HTTP server (health, readiness, Prometheus metrics, status JSON,
//!   GitHub/GitLab webhooks), one status and one exposition for every target ([`admin::Hub`]).
//! - [`trigger`]: coalescing reconcile triggers (one running, at most one queued).
//! - [`daemon`]: `mlsync run`: one reconcile loop per target of the daemon config
//!   ([`daemon::config`]; one without), a source shared by all (git or a watched directory),
//!   triggers, backoff, signals, leader election, drift healing from watches, incremental
//!   reconciles (only the services that changed), rollback on failed rollouts and the notices
//!   of each reconcile ([`daemon::notices`]).
//! - [`notify`]: systemd `sd_notify` (READY, STATUS, WATCHDOG, STOPPING).
//! - [`yaml_scalar`]: the one rule for plain YAML scalars, shared by the rendered-object and
//!   SOPS-file writers (pure).
//! - [`secrets`]: decrypted values ([`secrets::SecretValue`]) and the [`secrets::SecretSource`]
//!   trait, with the SOPS/age implementation.
//!
//! Pure modules do no I/O beyond reading the config repo; cluster and network I/O stay at the edges.
//!
//! Layers, lowest first (no top-level module imports one above it; `tests/layering.rs` checks
//! that there is no import cycle and that `clap`/`anyhow` stay in [`cli`]): [`yaml_scalar`],
//! [`spec`], [`repo`],
//! [`secrets`], [`render`], [`source`], [`source_id`], [`cluster`], [`reconcile`],
//! [`notifications`], [`trigger`],
//! [`admin`], [`notify`], [`daemon`], [`cli`].
//!
//! Errors: one `thiserror` enum per module. A message names its cause itself (`failed to read
//! a.yaml: permission denied`), so no variant hands the cause out again as `source()`: the CLI
//! prints `{:#}`, which would show it twice.

pub mod admin;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod notifications;
pub mod notify;
pub mod reconcile;
pub mod render;
pub mod repo;
pub mod secrets;
pub mod source;
pub mod source_id;
pub mod spec;
pub mod trigger;
pub mod yaml_scalar;

#[cfg(test)]
mod error_text_tests;
