//! The shipped systemd unit passes `systemd-analyze verify` and scores an exposure level of at
//! most 2.0 in `systemd-analyze security --offline=yes`, pointing at the binary built by cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The highest `systemd-analyze security` exposure level the unit may have.
const MAX_EXPOSURE: f64 = 2.0;

fn shipped_unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/mlsync.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Writes the shipped unit to a temp dir with `ExecStart=` pointing at the cargo-built binary
/// (verify checks that the executable exists) and returns the dir (kept alive) and the path.
fn unit_for_built_binary() -> (tempfile::TempDir, PathBuf) {
    let unit = shipped_unit();
    let binary = env!("CARGO_BIN_EXE_mlsync");
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/mlsync run\n"),
        "the unit must start /usr/local/bin/mlsync run"
    );
    let rewritten = unit.replace(
        "\nExecStart=/usr/local/bin/mlsync run\n",
        &format!("\nExecStart={binary} run\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlsync.service");
    std::fs::write(&path, rewritten).unwrap();
    (dir, path)
}

/// Runs `systemd-analyze` with a clean environment; returns (success, stdout, stderr).
fn systemd_analyze(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new("systemd-analyze")
        .args(args)
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .output()
        .expect("run systemd-analyze (Debian package systemd)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number on the "→ Overall exposure level for mlsync.service: 1.2 OK" line.
fn overall_exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    let after = line.split_once(".service:")?.1;
    after.split_whitespace().next()?.parse().ok()
}

#[test]
fn exposure_line_is_parsed() {
    let report = "✓ UMask= ok\n\n→ Overall exposure level for mlsync.service: 1.2 OK 🙂\n";
    assert_eq!(overall_exposure(report), Some(1.2));
    assert_eq!(overall_exposure("no summary here"), None);
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let (_dir, unit) = unit_for_built_binary();
    let (ok, stdout, stderr) = systemd_analyze(&["verify".as_ref(), unit.as_os_str()]);
    assert!(ok, "systemd-analyze verify failed:\n{stdout}{stderr}");
    // verify reports unknown keys, bad values and misplaced settings as warnings (exit 0).
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("mlsync.service"))
        .collect();
    assert!(
        warnings.is_empty(),
        "systemd-analyze verify warned:\n{}",
        warnings.join("\n")
    );
}

#[test]
fn verify_rejects_a_missing_binary() {
    // Guards the test above: verify really looks at ExecStart=.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("mlsync.service");
    let text = shipped_unit().replace(
        "\nExecStart=/usr/local/bin/mlsync run\n",
        "\nExecStart=/nonexistent/mlsync run\n",
    );
    std::fs::write(&unit, text).unwrap();
    let (ok, _, stderr) = systemd_analyze(&["verify".as_ref(), unit.as_os_str()]);
    assert!(!ok, "verify accepted a missing binary");
    assert!(stderr.contains("/nonexistent/mlsync"), "{stderr}");
}

#[test]
fn unit_exposure_is_at_most_two() {
    let (_dir, unit) = unit_for_built_binary();
    let (_, stdout, stderr) = systemd_analyze(&[
        "security".as_ref(),
        "--offline=yes".as_ref(),
        unit.as_os_str(),
    ]);
    let score = overall_exposure(&stdout)
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{stdout}{stderr}"));
    assert!(
        score <= MAX_EXPOSURE,
        "exposure level {score} > {MAX_EXPOSURE}:\n{stdout}"
    );
}

#[test]
fn unit_follows_the_cli_contract() {
    let unit = shipped_unit();
    let directives: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    for wanted in [
        "Type=notify",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=mlsync",
        "UMask=0077",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "LoadCredential=age-key",
        "LoadCredential=kubeconfig",
    ] {
        assert!(directives.contains(&wanted), "unit lacks {wanted}");
    }
    assert!(
        directives.iter().any(|d| d.starts_with("WatchdogSec=")),
        "unit lacks WatchdogSec="
    );
    // Exactly the credential names mlsync reads, each looked up by name in /etc/credstore.
    let known = [
        "age-key",
        "kubeconfig",
        "ssh-key",
        "known-hosts",
        "git-token",
        "webhook-secret",
    ];
    let loaded: Vec<&str> = directives
        .iter()
        .filter_map(|d| d.strip_prefix("LoadCredential="))
        .collect();
    assert_eq!(loaded, known);
    // Secrets never go through the environment.
    for secretish in [
        "SOPS_AGE_KEY=",
        "MLSYNC_GIT_TOKEN=",
        "MLSYNC_WEBHOOK_SECRET=",
    ] {
        assert!(!unit.contains(secretish), "unit sets {secretish}");
    }
}

/// The bastion-with-two-clusters example of systemd/README.md: the daemon config loads, and
/// every credential it names is loaded by the drop-in (else systemd would start mlsync without
/// the file, and the target could not connect).
#[test]
fn the_two_cluster_example_loads_and_the_drop_in_loads_its_credentials() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let config = mlsync::daemon::DaemonConfig::load(&dir.join("daemon.yaml.example"))
        .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["staging", "prod"]);
    let drop_in = std::fs::read_to_string(dir.join("targets.conf.example")).unwrap();
    assert!(drop_in.contains("\nEnvironment=MLSYNC_CONFIG=/etc/mlsync/daemon.yaml\n"));
    let text = std::fs::read_to_string(dir.join("daemon.yaml.example")).unwrap();
    let prefix = "/run/credentials/mlsync.service/";
    let credentials: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(prefix))
        .filter_map(|(_, rest)| rest.split_whitespace().next())
        .collect();
    assert_eq!(
        credentials,
        ["staging-kubeconfig", "prod-kubeconfig", "slack-url"]
    );
    for name in credentials {
        assert!(
            drop_in.contains(&format!("\nLoadCredential={name}\n")),
            "targets.conf.example does not load {name}"
        );
    }
}
