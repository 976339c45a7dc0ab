//! `mlsync run`: process set-up around [`crate::daemon::run`] (libgit2 timeouts, runtime,
//! signals, exit codes).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::{self, RunOptions, SourceKind};

/// libgit2 connect timeout for the daemon's fetches.
const GIT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// libgit2 read/write timeout: a remote that stalls longer fails the fetch.
const GIT_IO_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the daemon reads the config repo from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    /// `path` when `--repo` is an existing directory that is not a bare git repository and
    /// neither `--branch` nor `--ref` is given; `git` otherwise.
    Auto,
    /// Clone/fetch `--repo` (URL or path of a git repository) and reconcile its commits.
    Git,
    /// Reconcile the directory `--repo` as it is on disk (uncommitted edits included).
    Path,
}

/// Arguments of `mlsync run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The config repo: a git URL (git://, https://, ssh://, file://), a git repository path,
    /// or a local directory (see --source).
    #[arg(long, env = "MLSYNC_REPO", value_name = "URL|PATH")]
    pub repo: String,
    /// Environment declared in the repo's mlsync.yaml whose overlays are merged over the base
    /// specs (default: the base specs alone).
    #[arg(long = "env", env = "MLSYNC_ENV", value_name = "NAME")]
    pub env: Option<String>,
    /// Daemon config file: the clusters to reconcile from this one checkout (`targets`, each
    /// with a name, a kubeconfig and/or context, an environment) and where to send
    /// notifications. See docs/daemon.md#several-clusters.
    #[arg(long, env = "MLSYNC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How to read --repo: auto (a plain directory is watched as it is on disk; URLs, bare
    /// repositories and --branch/--ref mean git), git, or path.
    #[arg(long, env = "MLSYNC_SOURCE", value_enum, default_value = "auto")]
    pub source: SourceArg,
    /// In path mode, watch the directory and reconcile within a second of a change
    /// (`--watch=false`: poll only).
    #[arg(long, env = "MLSYNC_WATCH", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub watch: bool,
    /// Time between polls (git fetch or directory re-read), with ±10% jitter.
    #[arg(long, env = "MLSYNC_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Quiet time after the last file change before a path-mode reconcile starts.
    #[arg(long, env = "MLSYNC_DEBOUNCE", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    /// Longest wait between retries after failed fetches or reconciles (exponential from 1s).
    #[arg(long, env = "MLSYNC_BACKOFF_MAX", default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_max: Duration,
    /// Watch the objects mlsync applied and re-apply, within about a second, any that someone
    /// changes or deletes in the cluster (`--self-heal=false`: report such drift in /status,
    /// metrics and logs, and leave it until the next commit or poll). Someone who keeps changing
    /// an object back gets a DriftFight and mlsync stops healing that object for a while.
    #[arg(long, env = "MLSYNC_SELF_HEAL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub self_heal: bool,
    /// When a revision's rollout of a service fails (ProgressDeadlineExceeded), re-apply that
    /// service's objects from its last good revision, until git moves to another revision.
    #[arg(long, env = "MLSYNC_ROLLBACK_ON_FAILURE")]
    pub rollback_on_failure: bool,
    /// On SIGTERM/SIGINT, how long the reconcile in flight may still take before exiting.
    #[arg(long, env = "MLSYNC_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
    /// Git source flags (git mode only).
    #[command(flatten)]
    pub git: super::flags::GitArgs,
    /// Admin server flags.
    #[command(flatten)]
    pub admin: super::flags::AdminArgs,
    /// Cluster, key, ownership and prune flags (as for `mlsync apply`).
    #[command(flatten)]
    pub reconcile: super::ReconcileArgs,
    /// Leader election among replicas (docs/leader-election.md).
    #[command(flatten)]
    pub leader: super::flags::LeaderArgs,
}

impl RunArgs {
    /// The daemon options these flags describe.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            repo: self.repo.clone(),
            source: match self.source {
                SourceArg::Auto => SourceKind::Auto,
                SourceArg::Git => SourceKind::Git,
                SourceArg::Path => SourceKind::Path,
            },
            watch: self.watch,
            interval: self.interval,
            debounce: self.debounce,
            backoff_max: self.backoff_max,
            rollback_on_failure: self.rollback_on_failure,
            self_heal: self.self_heal,
            shutdown_timeout: self.shutdown_timeout,
            git: self.git.options(),
            admin: self.admin.options(),
            kube: self.reconcile.kube.options(),
            keys: self.reconcile.keys.options(),
            source_id: self.reconcile.source_id.clone(),
            env: self.env.clone(),
            config: None,
            reconcile: self.reconcile.options(),
            leader: self.leader.options(),
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT: 0 after a graceful shutdown, 130 after a second
/// signal, 2 when it cannot start.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut options = args.options();
    options.config = args
        .config
        .as_deref()
        .map(daemon::DaemonConfig::load)
        .transpose()?;
    // SAFETY: called before the tokio runtime (and any other thread using libgit2) exists.
    unsafe { crate::source::set_network_timeouts(GIT_CONNECT_TIMEOUT, GIT_IO_TIMEOUT) };
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let shutdown = daemon::signals::shutdown_on_signals()?;
        daemon::run(options, shutdown).await?;
        anyhow::Ok(())
    })?;
    // Blocking fetches still running (at most one) must not delay the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::*;
    use crate::daemon::Mode;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn flags_parse_with_defaults() {
        Cli::command().debug_assert();
        let cli =
            Cli::try_parse_from(["x", "--repo", "git://h/r.git", "--interval", "2s"]).unwrap();
        let run = cli.run.options();
        assert_eq!(run.interval, Duration::from_secs(2));
        assert_eq!(run.debounce, Duration::from_millis(200));
        assert_eq!(run.backoff_max, Duration::from_secs(300));
        assert_eq!(run.shutdown_timeout, Duration::from_secs(30));
        assert!(run.watch);
        assert!(run.reconcile.events);
        assert!(run.reconcile.prune.enabled);
        assert_eq!(run.mode(), Mode::Git);
        assert!(Cli::try_parse_from(["x", "--repo", "r", "--interval", "soon"]).is_err());
    }
}
