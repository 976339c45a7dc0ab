//! The default state directory: `$STATE_DIRECTORY` (systemd), `/var/lib/mlsync` for root,
//! else `$XDG_STATE_HOME/mlsync` or `~/.local/state/mlsync`.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

/// The state directory to use when `--state-dir` is not given.
///
/// 1. `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`; the first entry if several),
/// 2. `/var/lib/mlsync` when running as root,
/// 3. `$XDG_STATE_HOME/mlsync`, else `$HOME/.local/state/mlsync`,
/// 4. `./mlsync-state` if none of these is known.
pub fn default_state_dir() -> PathBuf {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    state_dir_from(|name| std::env::var(name).ok(), is_root)
}

/// [`default_state_dir`] with the environment and user passed in (pure).
pub(crate) fn state_dir_from(env: impl Fn(&str) -> Option<String>, is_root: bool) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dirs) = set("STATE_DIRECTORY")
        && let Some(first) = dirs.split(':').find(|d| !d.is_empty())
    {
        return PathBuf::from(first);
    }
    if is_root {
        return PathBuf::from("/var/lib/mlsync");
    }
    if let Some(xdg) = set("XDG_STATE_HOME") {
        return PathBuf::from(xdg).join("mlsync");
    }
    match set("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/mlsync"),
        None => PathBuf::from("mlsync-state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], root: bool) -> PathBuf {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        state_dir_from(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            root,
        )
    }

    #[test]
    fn precedence() {
        let systemd = [
            ("STATE_DIRECTORY", "/var/lib/mlsync-a:/x"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(with(&systemd, false), PathBuf::from("/var/lib/mlsync-a"));
        assert_eq!(
            with(&[("HOME", "/root")], true),
            PathBuf::from("/var/lib/mlsync")
        );
        let xdg = [("XDG_STATE_HOME", "/st"), ("HOME", "/home/u")];
        assert_eq!(with(&xdg, false), PathBuf::from("/st/mlsync"));
        let home = [("HOME", "/home/u")];
        assert_eq!(
            with(&home, false),
            PathBuf::from("/home/u/.local/state/mlsync")
        );
    }
}
