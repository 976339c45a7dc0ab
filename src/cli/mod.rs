//! Command-line interface: the only layer that uses `anyhow` and chooses exit codes.
//!
//! Exit codes of `validate`, `plan` and `diff` follow `kubectl diff`: 0 no change (or valid),
//! 1 changes (or invalid specs), 2 and above for errors. `apply` exits 0 when everything it was
//! asked to do succeeded, changed or not, and 2 on errors (`--diff-exit-code`: 1 for changes).

mod flags;
mod logging;
mod promote;
mod reconcile;
mod render;
mod rollout;
mod run;
mod secrets;
pub mod status;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use flags::{AdminArgs, GitArgs, KeyArgs, KubeArgs, LeaderArgs};
pub use logging::LogFormat;
pub use reconcile::ReconcileArgs;
pub use rollout::RolloutCmd;
pub use run::{RunArgs, SourceArg};
pub use secrets::SecretsCmd;
pub use status::{OutputFormat, StatusArgs};

/// Exit code: success, nothing to change.
pub const EXIT_OK: u8 = 0;
/// Exit code: invalid specs (validate/render), differences found (plan/diff), or changes made
/// (apply with `--diff-exit-code` only).
pub const EXIT_CHANGES: u8 = 1;
/// Exit code: an error (usage, I/O, cluster, decryption).
pub const EXIT_ERROR: u8 = 2;

/// mlsync keeps ML model services on Kubernetes equal to a git repository of MLService specs.
#[derive(Debug, Parser)]
#[command(name = "mlsync", version, about, long_about = None)]
pub struct Args {
    /// Log format on stderr.
    #[arg(
        long,
        env = "MLSYNC_LOG_FORMAT",
        value_enum,
        default_value = "plain",
        global = true
    )]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `mlsync=debug`); RUST_LOG also works.
    #[arg(long, env = "MLSYNC_LOG", default_value = "info", global = true)]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The config repo to read.
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// Config repo directory (a checkout holding mlsync.yaml and MLService specs).
    #[arg(long, env = "MLSYNC_REPO", default_value = ".")]
    pub repo: PathBuf,
    /// Environment declared in mlsync.yaml whose overlays are merged over the base specs
    /// (default: the base specs alone).
    #[arg(long = "env", env = "MLSYNC_ENV", value_name = "NAME")]
    pub env: Option<String>,
}

impl RepoArgs {
    /// Loads the repo for the chosen environment.
    pub fn load(&self) -> Result<crate::repo::Repo, crate::repo::RepoError> {
        crate::repo::load_env(&self.repo, self.env.as_deref())
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every spec in a config repo; print each problem as file:line:column: field: message.
    Validate(validate::ValidateArgs),
    /// Print the Kubernetes objects for the repo's services, in apply order.
    Render(render::RenderArgs),
    /// Make the cluster match the repo once: server-side apply, then prune what left git;
    /// records what changed or failed as Kubernetes Events (see --events). Exits 0 when
    /// everything succeeded (changed or not), 2 on errors; --diff-exit-code adds 1 for changes.
    Apply(reconcile::ApplyArgs),
    /// Show what apply would do, per service and object, and why (writes nothing).
    Plan(reconcile::PlanArgs),
    /// Show live objects against a server-side dry-run of apply, as unified diffs.
    Diff(reconcile::DiffArgs),
    /// Make age identities; encrypt, decrypt and rotate SOPS secrets files.
    Secrets {
        /// What to do.
        #[command(subcommand)]
        cmd: secrets::SecretsCmd,
    },
    /// Run as a daemon: follow a git repository or a local directory and keep the cluster equal
    /// to it; serves health, readiness, metrics, status and webhooks (see docs/daemon.md).
    Run(Box<run::RunArgs>),
    /// Show the status of a running daemon (from its admin address).
    Status(status::StatusArgs),
    /// Show a service's canary rollout, or ask the leading daemon to promote, abort, pause or
    /// resume it (records the request on the canary Deployment; see docs/rollouts.md).
    Rollout {
        /// What to do.
        #[command(subcommand)]
        cmd: rollout::RolloutCmd,
    },
    /// Make one environment run what another runs: rewrite the --to overlay of SERVICE so that
    /// its model, image and config (with --secrets its secrets file too) equal --from's; prints
    /// the diff, --commit commits that one file. Touches no cluster (see docs/environments.md).
    Promote(promote::PromoteArgs),
}

impl Args {
    /// Parses the process arguments, runs the command and maps the outcome to an exit code.
    pub fn parse_and_run() -> ExitCode {
        let args = Args::parse();
        if !matches!(args.command, Command::Run(_)) {
            default_sigpipe();
        }
        logging::init(args.log_format, &args.log);
        match args.run() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(EXIT_ERROR)
            }
        }
    }

    fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Validate(a) => validate::run(&a).map(ExitCode::from),
            Command::Render(a) => render::run(&a).map(ExitCode::from),
            Command::Secrets { cmd } => secrets::run(cmd),
            Command::Apply(a) => runtime()?
                .block_on(reconcile::apply(&a))
                .map(ExitCode::from),
            Command::Plan(a) => runtime()?.block_on(reconcile::plan(&a)).map(ExitCode::from),
            Command::Diff(a) => runtime()?.block_on(reconcile::diff(&a)).map(ExitCode::from),
            Command::Run(a) => run::run(&a),
            Command::Status(a) => runtime()?.block_on(status::run(a)),
            Command::Rollout { cmd } => runtime()?.block_on(rollout::run(cmd)),
            Command::Promote(a) => promote::run(&a).map(ExitCode::from),
        }
    }
}

/// Lets SIGPIPE end the process quietly, as it ends `cat` or `kubectl`: `mlsync diff | head`
/// stops when `head` has read enough, instead of panicking on the next write to stdout (Rust
/// ignores SIGPIPE, so that write fails and `println!` panics). Sockets are unaffected (the
/// standard library and tokio send with `MSG_NOSIGNAL`). Not for `mlsync run`: the daemon never
/// dies of a signal it can ignore.
fn default_sigpipe() {
    // SAFETY: resets one signal's disposition to the default, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The tokio runtime for commands that talk to the network.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::io;

    /// Errors whose message already names their cause must not hand it out again as
    /// `source()`: `{:#}` (what `main` prints) would show it twice.
    #[test]
    fn every_cause_is_printed_once() {
        let io = || io::Error::new(io::ErrorKind::AddrInUse, "Address already in use");
        let json = || serde_json::from_str::<u8>("x").unwrap_err();
        let errors: Vec<Box<dyn Error + Send + Sync>> = vec![
            Box::new(crate::repo::RepoError::Read {
                path: "a.yaml".into(),
                cause: io(),
            }),
            Box::new(crate::daemon::DaemonError::Admin(
                crate::admin::AdminError::Bind {
                    addr: ([127, 0, 0, 1], 9090).into(),
                    cause: io(),
                },
            )),
            Box::new(crate::source::SourceError::Io {
                action: "create",
                path: "x".into(),
                cause: io(),
            }),
            Box::new(crate::reconcile::ReconcileError::Decode(json())),
            Box::new(crate::render::output::OutputError::Json(json())),
            Box::new(crate::notify::NotifyError::Address {
                socket: "@x".into(),
                cause: io(),
            }),
        ];
        for e in errors {
            let shown = format!("{:#}", anyhow::Error::from_boxed(e));
            let cause = shown.rsplit(": ").next().unwrap_or_default().to_owned();
            assert_eq!(shown.matches(&cause).count(), 1, "{shown}");
        }
    }
}
