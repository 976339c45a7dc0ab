//! The real `sops` binary (built by tests/peers/build-sops.sh at the version pinned in
//! tests/peers/sops/go.mod), `age-keygen`, `gpg` and the built `mlsync`, run as a user would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The `sops` binary; builds it on first use (cached, then instant). A build failure (no Go, no
/// module proxy, a missing module) fails the test with the script's message.
pub fn sops_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/build-sops.sh");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed ({}):\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The `sops` version the tests run (e.g. `3.13.3`).
pub fn sops_version() -> String {
    let out = Command::new(sops_bin())
        .args(["--version", "--disable-version-check"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// An age identity made by `age-keygen`.
pub struct AgeKey {
    /// The identity file (mode 0600).
    pub file: PathBuf,
    /// Its `age1…` recipient.
    pub recipient: String,
}

/// Runs `age-keygen -o dir/name`.
pub fn age_keygen(dir: &Path, name: &str) -> AgeKey {
    let file = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .expect("age-keygen is required (apt-get install -y age)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipient = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("Public key: "))
        .unwrap()
        .trim()
        .to_owned();
    AgeKey { file, recipient }
}

/// The result of one command.
pub struct Out {
    /// Exit code (-1 if killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Panics with the output unless the command exited 0.
    pub fn ok(self, what: &str) -> Self {
        assert_eq!(
            self.code, 0,
            "{what} failed:\n{}{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A command run in `cwd` with a clean SOPS environment: no inherited `SOPS_*`, `HOME` set to
/// an empty directory (so `sops` finds no `~/.config/sops/age/keys.txt` or `~/.ssh` keys).
pub struct Tool {
    cmd: Command,
}

impl Tool {
    /// The real `sops`.
    pub fn sops(cwd: &Path) -> Self {
        Self::new(sops_bin(), cwd)
    }

    /// The `mlsync` binary under test.
    pub fn mlsync(cwd: &Path) -> Self {
        Self::new(Path::new(env!("CARGO_BIN_EXE_mlsync")), cwd)
    }

    fn new(bin: &Path, cwd: &Path) -> Self {
        let home = cwd.join(".peer-home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(bin);
        cmd.current_dir(cwd).env("HOME", &home);
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("SOPS_") || name.starts_with("MLSYNC_") || name == "GNUPGHOME" {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("XDG_CONFIG_HOME")
            .env_remove("CREDENTIALS_DIRECTORY");
        Self { cmd }
    }

    /// Sets `SOPS_AGE_KEY_FILE` (read by both tools).
    pub fn key(mut self, file: &Path) -> Self {
        self.cmd.env("SOPS_AGE_KEY_FILE", file);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs with `args`.
    pub fn run(mut self, args: &[&str]) -> Out {
        let out = self.cmd.args(args).output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The keys of a SOPS file's top-level map whose values are `ENC[…]` (no key needed).
pub fn encrypted_keys(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| !l.starts_with("sops:"))
        .filter(|l| !l.starts_with([' ', '-']))
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, v)| v.starts_with("ENC[AES256_GCM,"))
        .map(|(k, _)| k.trim_matches('"').trim_matches('\'').to_owned())
        .collect()
}

/// Writes `text` to `dir/name` (creating parent directories) and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a one-service repo into `repo` (an MLService `app` whose `spec.secrets.file` is
/// `secret`, relative to `repo`), runs `mlsync render --show-secrets -o json` with the identity
/// in `key`, and returns the rendered Secret's `data`, base64-decoded.
pub fn rendered_secret(repo: &Path, secret: &str, key: &Path) -> BTreeMap<String, String> {
    write(
        repo,
        "mlsync.yaml",
        "apiVersion: mlsync.dev/v1alpha1\nkind: RepoConfig\ndefaultNamespace: ns\n\
         paths:\n  - services\nsourceId: sops-peer\n",
    );
    write(
        repo,
        "services/app.yaml",
        &format!(
            "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: app\nspec:\n  \
             model:\n    name: app\n    version: v1\n  image: example/app:1\n  resources:\n    \
             requests:\n      cpu: 100m\n    limits:\n      cpu: 500m\n  secrets:\n    \
             file: {secret}\n"
        ),
    );
    let out = Tool::mlsync(repo)
        .key(key)
        .run(&["render", "--repo", ".", "-o", "json", "--show-secrets"])
        .ok("mlsync render");
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let secret = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "Secret")
        .expect("a Secret is rendered");
    secret["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let bytes = B64.decode(v.as_str().unwrap()).unwrap();
            (k.clone(), String::from_utf8(bytes).unwrap())
        })
        .collect()
}
