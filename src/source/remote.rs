//! Pure classification of the `--repo` argument: which transport, host and port it uses, and
//! how to show it without secrets.

use std::path::Path;

/// The transport a remote uses, as far as authentication is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ssh://…` or scp-like `user@host:path`: key file auth, strict known_hosts.
    Ssh,
    /// `https://…` / `http://…`: optional token as basic auth.
    Http,
    /// `git://…`: unauthenticated.
    Git,
    /// `file://…` or a local path.
    Local,
}

/// A remote repository location.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    /// The URL handed to libgit2 (may contain user info; never log it, use [`Remote::display`]).
    pub url: String,
    /// How to reach it.
    pub transport: Transport,
    /// Host name for network transports.
    pub host: Option<String>,
    /// Port for network transports (the scheme default when not given).
    pub port: Option<u16>,
    display: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.display)
            .field("transport", &self.transport)
            .finish()
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Remote {
    /// Classifies `repo`: a URL with a scheme, an scp-like `user@host:path`, or a local path
    /// (made absolute against `cwd`). Returns `None` for unsupported schemes.
    pub fn parse(repo: &str, cwd: &Path) -> Option<Self> {
        if repo.contains("://") {
            return Self::parse_url(repo);
        }
        if let Some((before, _)) = repo.split_once(':')
            && !before.contains('/')
            && !before.is_empty()
        {
            let host = before.rsplit('@').next().unwrap_or(before).to_string();
            return Some(Self {
                url: repo.to_string(),
                transport: Transport::Ssh,
                host: Some(host),
                port: Some(22),
                display: repo.to_string(),
            });
        }
        let path = cwd.join(repo);
        let url = path.to_string_lossy().into_owned();
        Some(Self {
            display: url.clone(),
            url,
            transport: Transport::Local,
            host: None,
            port: None,
        })
    }

    fn parse_url(repo: &str) -> Option<Self> {
        let parsed = url::Url::parse(repo).ok()?;
        let transport = match parsed.scheme() {
            "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
            "https" | "http" => Transport::Http,
            "git" => Transport::Git,
            "file" => Transport::Local,
            _ => return None,
        };
        let mut display = parsed.clone();
        if display.password().is_some() {
            // Cannot fail for URLs with a host, which is the only way to carry a password.
            let _ = display.set_password(Some("***"));
        }
        let host = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string());
        Some(Self {
            url: repo.to_string(),
            transport,
            host,
            port: parsed.port_or_known_default().or(match transport {
                Transport::Ssh => Some(22),
                Transport::Git => Some(9418),
                _ => None,
            }),
            display: display.to_string(),
        })
    }

    /// Whether this is `http://` (no TLS) to a host other than the loopback interface: tokens
    /// are not sent there.
    pub fn is_cleartext_to_network(&self) -> bool {
        let loopback = matches!(self.host.as_deref(), Some("localhost"))
            || self
                .host
                .as_deref()
                .and_then(|h| h.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| ip.is_loopback());
        self.transport == Transport::Http && self.url.starts_with("http:") && !loopback
    }

    /// The password embedded in the URL, if any (to scrub it from error messages).
    pub fn embedded_password(&self) -> Option<String> {
        url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.password().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Remote {
        Remote::parse(s, Path::new("/srv")).unwrap()
    }

    #[test]
    fn classifies_transports() {
        let r = parse("ssh://git@127.0.0.1:2222/repo.git");
        assert_eq!(
            (r.transport, r.host.as_deref(), r.port),
            (Transport::Ssh, Some("127.0.0.1"), Some(2222))
        );
        let r = parse("git@github.com:org/cfg.git");
        assert_eq!(
            (r.transport, r.host.as_deref(), r.port),
            (Transport::Ssh, Some("github.com"), Some(22))
        );
        assert_eq!(parse("git://127.0.0.1/repo").port, Some(9418));
        assert_eq!(
            parse("https://example.org/x.git").transport,
            Transport::Http
        );
        let r = parse("cfg/repo");
        assert_eq!(
            (r.transport, r.url.as_str()),
            (Transport::Local, "/srv/cfg/repo")
        );
        assert!(Remote::parse("ftp://x/y", Path::new("/")).is_none());
    }

    #[test]
    fn redacts_passwords() {
        let r = parse("https://bot:s3cr3t@example.org/x.git");
        assert_eq!(r.to_string(), "https://bot:***@example.org/x.git");
        assert!(!format!("{r:?}").contains("s3cr3t"));
        assert_eq!(r.embedded_password().as_deref(), Some("s3cr3t"));
    }
}
