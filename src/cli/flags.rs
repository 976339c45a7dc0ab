//! Flags shared by several commands (cluster, age keys, git source, admin server, leader
//! election), each turned into the plain options struct of the library part it configures.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::admin::AdminOptions;
use crate::cluster::KubeOptions;
use crate::daemon::leader::LeaderOptions;
use crate::secrets::keys::KeyOptions;
use crate::source::GitOptions;

/// How to reach the cluster, like kubectl.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then
    /// $CREDENTIALS_DIRECTORY/kubeconfig, then the pod's service account).
    #[arg(long, env = "MLSYNC_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, env = "MLSYNC_CONTEXT")]
    pub context: Option<String>,
}

impl KubeArgs {
    /// The connection options these flags describe.
    pub fn options(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// Command-line options for finding age identities.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// File with age identities (`age-keygen` format, mode 0600). Also read:
    /// SOPS_AGE_KEY (inline identities) and $CREDENTIALS_DIRECTORY/age-key.
    #[arg(long, env = "SOPS_AGE_KEY_FILE")]
    pub age_key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key options these flags describe.
    pub fn options(&self) -> KeyOptions {
        KeyOptions {
            age_key_file: self.age_key_file.clone(),
        }
    }
}

/// Flags for `mlsync run` that choose what to follow and how to authenticate.
///
/// The token itself can also come from `MLSYNC_GIT_TOKEN` (read by
/// [`crate::source::GitSourceConfig::from_options`], never shown in `--help`). Credentials not given fall back
/// to systemd credentials in `$CREDENTIALS_DIRECTORY`: `ssh-key`, `known-hosts`, `git-token`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GitArgs {
    /// Branch to follow, including force-pushes (default: main).
    #[arg(long, env = "MLSYNC_BRANCH", conflicts_with = "git_ref")]
    pub branch: Option<String>,
    /// Tag or full 40-hex commit id to pin instead of following a branch.
    #[arg(long = "ref", env = "MLSYNC_REF", value_name = "TAG|COMMIT")]
    pub git_ref: Option<String>,
    /// Subdirectory of the repository that holds the config.
    #[arg(long, env = "MLSYNC_PATH", value_name = "SUBDIR")]
    pub path: Option<PathBuf>,
    /// State directory (default: $STATE_DIRECTORY, /var/lib/mlsync for root, else
    /// $XDG_STATE_HOME/mlsync or ~/.local/state/mlsync).
    #[arg(long, env = "MLSYNC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Private key file for ssh:// remotes.
    #[arg(long, env = "MLSYNC_SSH_KEY_FILE")]
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file for ssh:// remotes; unknown or changed host keys are refused.
    #[arg(long, env = "MLSYNC_KNOWN_HOSTS")]
    pub known_hosts: Option<PathBuf>,
    /// File holding a token for https:// remotes (sent as basic-auth password).
    #[arg(long, env = "MLSYNC_GIT_TOKEN_FILE")]
    pub git_token_file: Option<PathBuf>,
    /// Basic-auth user name sent with the token.
    #[arg(long, env = "MLSYNC_GIT_USERNAME", default_value = "x-access-token")]
    pub git_username: String,
    /// Apply only commits with a good SSH signature by a key in this allowed-signers file
    /// (ssh-keygen format, as git's gpg.ssh.allowedSignersFile); an unsigned or wrongly signed
    /// commit is not applied and the last good one stays.
    #[arg(long, env = "MLSYNC_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

impl GitArgs {
    /// The git source options these flags describe.
    pub fn options(&self) -> GitOptions {
        GitOptions {
            branch: self.branch.clone(),
            git_ref: self.git_ref.clone(),
            path: self.path.clone(),
            state_dir: self.state_dir.clone(),
            ssh_key_file: self.ssh_key_file.clone(),
            known_hosts: self.known_hosts.clone(),
            git_token_file: self.git_token_file.clone(),
            git_username: self.git_username.clone(),
            allowed_signers: self.allowed_signers.clone(),
        }
    }
}

/// Command-line options of the admin server, to `#[command(flatten)]` into `mlsync run`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Address of the admin HTTP server (health, metrics, status, webhooks).
    #[arg(long, env = "MLSYNC_ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    pub admin_addr: SocketAddr,
    /// File holding the webhook secret; without it (and without the systemd credential
    /// `webhook-secret`) the webhook endpoints are disabled.
    #[arg(long, env = "MLSYNC_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

impl AdminArgs {
    /// The admin server options these flags describe.
    pub fn options(&self) -> AdminOptions {
        AdminOptions {
            admin_addr: self.admin_addr,
            webhook_secret_file: self.webhook_secret_file.clone(),
        }
    }
}

/// Leader-election flags of `mlsync run` (flatten into the command's arguments).
#[derive(Debug, Clone, clap::Args)]
pub struct LeaderArgs {
    /// Run as one of several replicas: only the holder of a coordination.k8s.io/v1 Lease
    /// reconciles; the others stand by.
    #[arg(long, env = "MLSYNC_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else "default").
    #[arg(long, env = "MLSYNC_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How long a lease stays valid without renewal; a standby takes over after it.
    #[arg(long, env = "MLSYNC_LEASE_DURATION", value_parser = humantime::parse_duration, default_value = "15s")]
    pub lease_duration: Duration,
    /// How often the leader renews the lease (must be shorter than the lease duration).
    #[arg(long, env = "MLSYNC_LEASE_RENEW_INTERVAL", value_parser = humantime::parse_duration, default_value = "5s")]
    pub lease_renew_interval: Duration,
}

impl LeaderArgs {
    /// The leader-election options these flags describe.
    pub fn options(&self) -> LeaderOptions {
        LeaderOptions {
            leader_election: self.leader_election,
            leader_election_namespace: self.leader_election_namespace.clone(),
            lease_duration: self.lease_duration,
            lease_renew_interval: self.lease_renew_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        git: GitArgs,
        #[command(flatten)]
        leader: LeaderArgs,
    }

    #[test]
    fn admin_options_default_to_loopback_and_no_secret() {
        let cli = Cli::try_parse_from(["mlsync"]).unwrap();
        assert_eq!(cli.admin.admin_addr, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(cli.admin.webhook_secret_file, None);
        let cli = Cli::try_parse_from([
            "mlsync",
            "--admin-addr",
            "0.0.0.0:8080",
            "--webhook-secret-file",
            "/run/secret",
        ])
        .unwrap();
        let admin = cli.admin.options();
        assert_eq!(admin.admin_addr.port(), 8080);
        assert_eq!(
            admin.webhook_secret_file.as_deref(),
            Some(std::path::Path::new("/run/secret"))
        );
        assert!(Cli::try_parse_from(["mlsync", "--admin-addr", "nowhere"]).is_err());
    }

    #[test]
    fn git_flags() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["x", "--ref", "v1", "--path", "cfg", "--known-hosts", "/k"])
            .unwrap();
        let git = cli.git.options();
        assert_eq!(git.git_ref.as_deref(), Some("v1"));
        assert_eq!(git.git_username, "x-access-token");
        assert_eq!(git.known_hosts.as_deref(), Some(std::path::Path::new("/k")));
        assert!(Cli::try_parse_from(["x", "--branch", "a", "--ref", "b"]).is_err());
        assert_eq!(git.allowed_signers, None);
        let cli = Cli::try_parse_from(["x", "--allowed-signers", "/etc/signers"]).unwrap();
        assert_eq!(
            cli.git.options().allowed_signers.as_deref(),
            Some(std::path::Path::new("/etc/signers"))
        );
    }

    #[test]
    fn leader_defaults_and_flags_parse() {
        let cli = Cli::try_parse_from(["mlsync"]).unwrap();
        assert!(!cli.leader.leader_election);
        assert_eq!(cli.leader.lease_duration, Duration::from_secs(15));
        assert_eq!(cli.leader.lease_renew_interval, Duration::from_secs(5));
        assert!(cli.leader.options().settings("models").unwrap().is_none());

        let cli = Cli::try_parse_from([
            "mlsync",
            "--leader-election",
            "--leader-election-namespace=ops",
            "--lease-duration=2s",
            "--lease-renew-interval=500ms",
        ])
        .unwrap();
        let settings = cli.leader.options().settings("models").unwrap().unwrap();
        assert_eq!(settings.namespace, "ops");
        assert_eq!(settings.lease_duration, Duration::from_secs(2));
        assert_eq!(settings.renew_interval, Duration::from_millis(500));
    }
}
