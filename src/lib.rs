//! mlsync keeps ML model services on Kubernetes equal to a git repository.
//!
//! # Layout
//! - [`cli`]: the command line (`validate`, `render`, …); the only place that uses `anyhow`
//!   and decides exit codes (0 no change / valid, 1 changes / invalid, 2+ error).
//! - [`secrets`]: decrypted values ([`secrets::SecretValue`]) and the [`secrets::SecretSource`]
//!   trait, with the SOPS/age implementation.
//!
//! Pure modules do no I/O beyond reading the config repo; cluster and network I/O stay at the edges.

pub mod admin;
pub mod cli;
pub mod notify;
pub mod secrets;
pub mod trigger;
