//! Drift healing from watches: objects changed or deleted in the cluster behind mlsync's back
//! are found within a second of the change, not at the next poll (see docs/daemon.md).
//!
//! After each plan, the daemon hands the objects it wants ([`wanted::Wanted`]) to the
//! [`DriftWatch`]. It keeps one watch (kube's runtime [`watcher`](kube::runtime::watcher), which
//! re-lists after `410 Gone`, reconnects with backoff and survives API server restarts) per kind
//! and namespace that holds a wanted object, selected by the source's ownership labels, so it
//! needs only namespaced `list` and `watch`. Each object it sees is compared with git
//! ([`wanted::Wanted::verdict`]): a change of a field mlsync sets, or a deletion (also one that
//! happened while the watch was reconnecting, found when it re-lists), is drift. Drift is
//! recorded in `/status` (`drift`), the `mlsync_drift_detected_total` metric and the log; with
//! `--self-heal` (the default) it also triggers a reconcile, unless [`fights::Fights`] says
//! someone keeps changing the object back: then a `DriftFight` Event, a metric and `/status`
//! report it and that object's drift triggers nothing until its backoff ends.
//!
//! Objects whose applied-hash annotation names another revision than the plan's are not drift:
//! the reconcile in flight (or the next one) is about to write them.
//!
//! The watch also tells the daemon which services need a look ([`attention`]): those with
//! drift or any other event since their last plan. The daemon reconciles only those (and what
//! git changed), and nothing at all when no service needs one and git is unchanged.

mod attention;
pub mod fights;
mod handle;
mod scope;
pub mod wanted;
mod watch;

pub use handle::{DriftWatch, Look, Settings};
