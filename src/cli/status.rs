//! `mlsync status`: ask a running daemon for `/status` and print it.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::admin::status::DaemonStatus;

/// How long the whole request may take before the daemon counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `/status` body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Options of `mlsync status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Address of the daemon's admin server (`host:port`).
    #[arg(long, env = "MLSYNC_ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    pub addr: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// How `mlsync status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A human-readable table.
    Table,
    /// The `/status` JSON document.
    Json,
}

/// Errors of the status client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No TCP connection or no HTTP answer.
    #[error(
        "failed to reach the mlsync daemon at {addr}: {reason} (is `mlsync run` running with its admin server on {addr}?)"
    )]
    Unreachable {
        /// The address tried.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The daemon answered with an error status.
    #[error("failed to get status from {addr}: HTTP {status}")]
    Status {
        /// The address asked.
        addr: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer was not a status document.
    #[error("failed to read the status from {addr}: {reason}")]
    Decode {
        /// The address asked.
        addr: String,
        /// What went wrong.
        reason: String,
    },
}

/// Runs `mlsync status`: 0 when printed, 2 when the daemon can't be reached or answers badly.
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    match fetch_document(&args.addr).await {
        Ok(StatusDocument::One(status)) => {
            print!("{}", render(&status, args.output));
            Ok(ExitCode::SUCCESS)
        }
        Ok(StatusDocument::Targets(doc)) => {
            match args.output {
                OutputFormat::Json => print!("{}", pretty(&doc)),
                OutputFormat::Table => {
                    let tables: Vec<String> = doc.targets.iter().map(render_table).collect();
                    print!("{}", tables.join("\n"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The `/status` of a daemon with named targets (a daemon config): one status per target.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TargetsStatus {
    /// True once every target has reconciled successfully.
    pub ready: bool,
    /// Each target's status (its `target` names it).
    pub targets: Vec<DaemonStatus>,
}

/// What a daemon's `/status` holds.
#[derive(Debug, Clone)]
pub enum StatusDocument {
    /// One unnamed target (no daemon config).
    One(Box<DaemonStatus>),
    /// Named targets.
    Targets(TargetsStatus),
}

/// Fetches `GET http://ADDR/status` (`addr` may carry an `http://` prefix) of a daemon with
/// one unnamed target.
pub async fn fetch_status(addr: &str) -> Result<DaemonStatus, ClientError> {
    match fetch_document(addr).await? {
        StatusDocument::One(s) => Ok(*s),
        StatusDocument::Targets(_) => Err(ClientError::Decode {
            addr: addr.to_owned(),
            reason: "the daemon has several targets".into(),
        }),
    }
}

/// Fetches `GET http://ADDR/status`, with one target or several.
pub async fn fetch_document(addr: &str) -> Result<StatusDocument, ClientError> {
    let host = addr.trim_start_matches("http://").trim_end_matches('/');
    let body = tokio::time::timeout(TIMEOUT, get(host, "/status"))
        .await
        .map_err(|_| unreachable(addr, format!("no answer within {}s", TIMEOUT.as_secs())))??;
    let decode = |e: serde_json::Error| ClientError::Decode {
        addr: addr.to_owned(),
        reason: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(decode)?;
    if value.get("targets").is_some() {
        serde_json::from_value(value)
            .map(StatusDocument::Targets)
            .map_err(decode)
    } else {
        serde_json::from_value(value)
            .map(|s| StatusDocument::One(Box::new(s)))
            .map_err(decode)
    }
}

fn pretty(doc: &impl serde::Serialize) -> String {
    match serde_json::to_string_pretty(doc) {
        Ok(json) => json + "\n",
        Err(e) => format!("{{\"error\": \"failed to encode status: {e}\"}}\n"),
    }
}

fn unreachable(addr: &str, reason: impl Into<String>) -> ClientError {
    ClientError::Unreachable {
        addr: addr.to_owned(),
        reason: reason.into(),
    }
}

/// One HTTP/1.1 GET over a fresh connection; returns the body of a 200 answer.
async fn get(host: &str, path: &str) -> Result<Bytes, ClientError> {
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| unreachable(host, e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(host, e.to_string()))?;
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| unreachable(host, e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(host, e.to_string()))?;
    if !response.status().is_success() {
        conn.abort();
        return Err(ClientError::Status {
            addr: host.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ClientError::Decode {
            addr: host.to_owned(),
            reason: e.to_string(),
        })?;
    conn.abort();
    Ok(body.to_bytes())
}

/// Renders the status as a table or JSON, ending in a newline.
pub fn render(status: &DaemonStatus, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => pretty(status),
        OutputFormat::Table => render_table(status),
    }
}

/// The human-readable table: a header block, then one row per service.
pub fn render_table(status: &DaemonStatus) -> String {
    let mut out = String::new();
    if let Some(target) = &status.target {
        let _ = writeln!(out, "Target:         {target}");
    }
    let revision = status.revision.as_deref().unwrap_or("none applied yet");
    let _ = writeln!(out, "Revision:       {revision}");
    let _ = writeln!(
        out,
        "Ready:          {}",
        if status.ready { "yes" } else { "no" }
    );
    match &status.last_reconcile {
        Some(last) => {
            let error = last.error.as_deref().map(one_line).unwrap_or_default();
            let sep = if error.is_empty() { "" } else { ": " };
            let _ = writeln!(
                out,
                "Last reconcile: {:.0} {}{sep}{error}",
                last.time,
                last.outcome.as_str()
            );
        }
        None => out.push_str("Last reconcile: none yet\n"),
    }
    if let Some(u) = &status.unverified_commit {
        let _ = writeln!(
            out,
            "Unverified:     commit {} not applied ({}) since {:.0}",
            u.revision.get(..12).unwrap_or(&u.revision),
            u.reason,
            u.since
        );
    }
    if let Some(p) = &status.prune_refused {
        let _ = writeln!(
            out,
            "Pruning:        refused, {} objects that left git kept: {}",
            p.held_objects,
            one_line(&p.reason)
        );
    }
    for d in &status.drift.objects {
        let fight = d
            .fight_until
            .map(|t| format!(" (DriftFight: not healed until {t:.0})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Drift:          {} {}/{} {}: {}{fight}",
            d.kind,
            d.namespace,
            d.name,
            d.drift.as_str(),
            one_line(&d.changes.join(", "))
        );
    }
    out.push('\n');
    if status.services.is_empty() {
        out.push_str("No services.\n");
        return out;
    }
    let mut rows = vec![[
        "NAME".to_owned(),
        "NAMESPACE".to_owned(),
        "STATE".to_owned(),
        "LAST CHANGE".to_owned(),
        "LAST ERROR".to_owned(),
    ]];
    rows.extend(status.services.iter().map(|s| {
        [
            s.name.clone(),
            s.namespace.clone(),
            s.state.as_str().to_owned(),
            format!("{:.0}", s.last_change),
            s.last_error
                .as_deref()
                .map_or_else(|| "-".to_owned(), one_line),
        ]
    }));
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(out, "{cell:<width$}   ");
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

/// The first line of an error, cut to 100 characters, for a table cell.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 100 {
        line.chars().take(99).chain(['…']).collect()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::status::{LastReconcile, Outcome, ServiceState, ServiceStatus};

    #[test]
    fn the_table_matches_the_documented_layout() {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let svc = |name: &str, state, change: &str, error: Option<&str>| ServiceStatus {
            name: name.into(),
            namespace: "models".into(),
            state,
            applied_revision: Some("0123abc".into()),
            last_change: t(change),
            last_error: error.map(Into::into),
            last_cause: error.map(|_| "applyFailed".into()),
            rollout: None,
        };
        let status = DaemonStatus {
            target: None,
            ready: true,
            revision: Some("0123abc".into()),
            last_reconcile: Some(LastReconcile {
                time: t("2026-11-27T21:00:00.123456Z"),
                outcome: Outcome::Partial,
                error: Some("1 service failed".into()),
            }),
            services: vec![
                svc(
                    "sentiment",
                    ServiceState::Synced,
                    "2026-11-27T20:58:01.5Z",
                    None,
                ),
                svc(
                    "vision",
                    ServiceState::Failed,
                    "2026-11-27T21:00:00Z",
                    Some("image pull failed\nbackoff"),
                ),
            ],
            prune_refused: None,
            drift: Default::default(),
            unverified_commit: None,
        };
        let expected = "\
Revision:       0123abc
Ready:          yes
Last reconcile: 2026-11-27T21:00:00Z partial: 1 service failed

NAME        NAMESPACE   STATE    LAST CHANGE            LAST ERROR
sentiment   models      synced   2026-11-27T20:58:01Z   -
vision      models      failed   2026-11-27T21:00:00Z   image pull failed
";
        assert_eq!(render_table(&status), expected);
    }

    #[test]
    fn a_refused_prune_gets_its_own_line() {
        let status = DaemonStatus {
            prune_refused: Some(crate::admin::status::PruneRefusal {
                reason: "it would delete all 8 managed objects".into(),
                held_objects: 8,
            }),
            ..DaemonStatus::default()
        };
        assert!(render_table(&status).contains(
            "\nPruning:        refused, 8 objects that left git kept: it would delete all 8 managed objects\n"
        ));
    }

    #[test]
    fn long_errors_are_cut_in_the_table() {
        let long = "x".repeat(150);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.ends_with('…'));
    }
}

#[cfg(test)]
mod args_tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        status: StatusArgs,
    }

    #[test]
    fn status_options_parse() {
        let cli = Cli::try_parse_from(["status"]).unwrap();
        assert_eq!(cli.status.addr, "127.0.0.1:9090");
        assert_eq!(cli.status.output, OutputFormat::Table);
        let cli = Cli::try_parse_from(["status", "-o", "json", "--addr", "h:1"]).unwrap();
        assert_eq!(cli.status.output, OutputFormat::Json);
        assert_eq!(cli.status.addr, "h:1");
        assert!(Cli::try_parse_from(["status", "-o", "yaml"]).is_err());
    }
}
