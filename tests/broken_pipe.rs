//! `mlsync render … | head`: when the reader goes away, mlsync ends quietly by SIGPIPE, as
//! `cat` or `kubectl` do, instead of panicking on the next write to stdout.

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};

#[test]
fn a_reader_that_stops_early_ends_mlsync_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    // Far more output than a pipe holds (64 KiB), so mlsync is still writing when it closes.
    for i in 0..300 {
        std::fs::write(
            repo.join(format!("svc-{i}.yaml")),
            format!(
                "apiVersion: mlsync.dev/v1alpha1\nkind: MLService\nmetadata:\n  name: svc-{i}\nspec:\n  model: {{name: svc-{i}, version: v1}}\n  image: registry.example/svc:1\n  config: {{A: \"1\"}}\n"
            ),
        )
        .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .args(["render", "--repo"])
        .arg(repo)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first[..4], b"---\n");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {stderr}",
        out.status
    );
}
