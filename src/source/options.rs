//! Options of the git source and their resolution (options, env, systemd credentials).

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::auth::{GitAuth, TokenSource};
use super::error::SourceError;
use super::git::GitRef;
use super::state_dir::default_state_dir;
use super::{GitSource, GitSourceConfig};

/// Flags for `mlsync run` that choose what to follow and how to authenticate.
///
/// The token itself can also come from `MLSYNC_GIT_TOKEN` (read by
/// [`GitSourceConfig::from_options`], never shown in `--help`). Credentials not given fall back
/// to systemd credentials in `$CREDENTIALS_DIRECTORY`: `ssh-key`, `known-hosts`, `git-token`.
#[derive(Debug, Clone, Default)]
pub struct GitOptions {
    /// Branch to follow, including force-pushes (default: main).
    pub branch: Option<String>,
    /// Tag or full 40-hex commit id to pin instead of following a branch.
    pub git_ref: Option<String>,
    /// Subdirectory of the repository that holds the config.
    pub path: Option<PathBuf>,
    /// State directory (default: $STATE_DIRECTORY, /var/lib/mlsync for root, else
    /// $XDG_STATE_HOME/mlsync or ~/.local/state/mlsync).
    pub state_dir: Option<PathBuf>,
    /// Private key file for ssh:// remotes.
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts file for ssh:// remotes; unknown or changed host keys are refused.
    pub known_hosts: Option<PathBuf>,
    /// File holding a token for https:// remotes (sent as basic-auth password).
    pub git_token_file: Option<PathBuf>,
    /// Basic-auth user name sent with the token.
    pub git_username: String,
    /// Allowed-signers file (ssh-keygen format): apply only commits with a good SSH signature
    /// by a key in it (see [`GitSource::verify_commits`]).
    pub allowed_signers: Option<PathBuf>,
}

impl GitSource {
    /// The source `mlsync run` follows: [`GitSourceConfig::from_options`], plus commit
    /// verification when `args.allowed_signers` is set (its file is read once here, so a bad
    /// one stops the start).
    pub fn from_options(repo: &str, args: &GitOptions) -> Result<Self, SourceError> {
        let mut source = Self::new(GitSourceConfig::from_options(repo, args)?)?;
        if let Some(file) = &args.allowed_signers {
            source.verify_commits(file)?;
        }
        Ok(source)
    }
}

impl GitSourceConfig {
    /// Builds the configuration for `repo` from flags, `MLSYNC_GIT_TOKEN` and systemd
    /// credentials.
    pub fn from_options(repo: &str, args: &GitOptions) -> Result<Self, SourceError> {
        Self::from_options_env(repo, args, |name| std::env::var(name).ok())
    }

    /// [`GitSourceConfig::from_options`] with the environment passed in.
    pub(crate) fn from_options_env(
        repo: &str,
        args: &GitOptions,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SourceError> {
        let target = match (&args.branch, &args.git_ref) {
            (_, Some(r)) => GitRef::from_ref_arg(r)?,
            (Some(b), None) => GitRef::branch(b)?,
            (None, None) => GitRef::branch("main")?,
        };
        let credential = |name: &str| {
            env("CREDENTIALS_DIRECTORY")
                .filter(|d| !d.is_empty())
                .map(|d| Path::new(&d).join(name))
                .filter(|p| p.is_file())
        };
        let home_known_hosts = env("HOME")
            .map(|h| Path::new(&h).join(".ssh/known_hosts"))
            .filter(|p| p.is_file());
        let token = match args
            .git_token_file
            .clone()
            .or_else(|| credential("git-token"))
        {
            Some(file) => Some(TokenSource::File(file)),
            None => env("MLSYNC_GIT_TOKEN")
                .filter(|t| !t.is_empty())
                .map(|t| TokenSource::Value(Zeroizing::new(t))),
        };
        let auth = GitAuth {
            ssh_key_file: args.ssh_key_file.clone().or_else(|| credential("ssh-key")),
            known_hosts: args
                .known_hosts
                .clone()
                .or_else(|| credential("known-hosts"))
                .or(home_known_hosts),
            token,
            username: args.git_username.clone(),
        };
        Ok(Self {
            repo: repo.to_string(),
            target,
            subdir: args.path.clone().filter(|p| !p.as_os_str().is_empty()),
            state_dir: args.state_dir.clone().unwrap_or_else(default_state_dir),
            auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ref_selection_and_token_env() {
        let args = GitOptions {
            git_ref: Some("0123456789abcdef0123456789ABCDEF01234567".into()),
            state_dir: Some("/tmp/st".into()),
            git_username: "x-access-token".into(),
            ..GitOptions::default()
        };
        let env = |n: &str| (n == "MLSYNC_GIT_TOKEN").then(|| "tok-secret".to_string());
        let cfg = GitSourceConfig::from_options_env("https://h/r.git", &args, env).unwrap();
        assert_eq!(
            cfg.target,
            GitRef::Commit("0123456789abcdef0123456789abcdef01234567".into())
        );
        assert!(matches!(cfg.auth.token, Some(TokenSource::Value(_))));
        assert!(!format!("{cfg:?}").contains("tok-secret"));

        let args = GitOptions {
            git_ref: Some("v1.2".into()),
            ..args
        };
        let cfg = GitSourceConfig::from_options_env("r", &args, |_| None).unwrap();
        assert_eq!(cfg.target, GitRef::Tag("v1.2".into()));
        let cfg = GitSourceConfig::from_options_env("r", &GitOptions::default(), |_| None).unwrap();
        assert_eq!(cfg.target, GitRef::Branch("main".into()));
        let bad = GitOptions {
            branch: Some("a..b".into()),
            ..GitOptions::default()
        };
        assert!(GitSourceConfig::from_options_env("r", &bad, |_| None).is_err());
    }
}
