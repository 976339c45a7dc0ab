//! `mlsync secrets …` end to end through the built binary, with RUST_LOG=trace: every
//! output except `decrypt`'s stdout, and every file written, is scanned for plaintext.

mod secrets_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mlsync::secrets::sops::yaml;

/// Plaintext values that must never show up outside `decrypt`'s stdout.
const SECRETS: &[&str] = &["leakcheck-user-Q7", "leakcheck pass: #9!", "0.123457"];

const PLAIN: &str = "DB_USER: leakcheck-user-Q7\nDB_PASS: 'leakcheck pass: #9!'\n\
                     PORT: 48213\nRATIO: 0.123457\n";

struct Run {
    out: Output,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
}

fn mlsync(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mlsync"))
        .arg("secrets")
        .args(args)
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("MLSYNC_KEYGEN_OUTPUT")
        .env_remove("MLSYNC_IN_PLACE")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    Run { out }
}

fn assert_no_plaintext(what: &str, text: &str) {
    for s in SECRETS {
        assert!(
            !text.contains(s),
            "{what} contains the plaintext {s:?}:\n{text}"
        );
    }
}

/// Scans stdout and stderr of a run.
fn scan(what: &str, run: &Run) {
    assert_no_plaintext(&format!("{what} stdout"), &run.stdout());
    assert_no_plaintext(&format!("{what} stderr"), &run.stderr());
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let run = mlsync(&["keygen", "--output", path.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let recipient = run
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("Public key: "))
        .unwrap()
        .to_owned();
    assert_eq!(
        run.stdout(),
        format!("{recipient}\n"),
        "stdout is the bare recipient"
    );
    (path, recipient)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn keygen_writes_0600_refuses_overwrite_and_prints_the_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let (path, recipient) = keygen(dir.path(), "id.txt");
    assert!(recipient.starts_with("age1"), "{recipient}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(&format!("# public key: {recipient}")),
        "{text}"
    );
    assert!(text.contains("AGE-SECRET-KEY-1"));

    let again = mlsync(&["keygen", "--output", s(&path)]);
    assert_eq!(again.code(), 2);
    assert!(again.stderr().contains(s(&path)), "{}", again.stderr());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "overwrote the key"
    );

    let to_stdout = mlsync(&["keygen"]);
    assert_eq!(to_stdout.code(), 0);
    assert!(to_stdout.stdout().contains("AGE-SECRET-KEY-1"));
    assert!(to_stdout.stderr().contains("Public key: age1"));
}

#[test]
fn encrypt_decrypt_rotate_never_leak_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (key1, r1) = keygen(dir.path(), "one.txt");
    let (key2, r2) = keygen(dir.path(), "two.txt");
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, PLAIN).unwrap();

    // To stdout.
    let run = mlsync(&["encrypt", "--age", &r1, s(&plain)]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    scan("encrypt", &run);
    assert!(
        run.stdout().contains(&format!("- recipient: {r1}")),
        "{}",
        run.stdout()
    );

    // In place, to two recipients (comma-separated).
    let file = dir.path().join("app.enc.yaml");
    std::fs::copy(&plain, &file).unwrap();
    let run = mlsync(&[
        "encrypt",
        "--age",
        &format!("{r1},{r2}"),
        "--in-place",
        s(&file),
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    scan("encrypt --in-place", &run);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Decrypt prints the plaintext (the only command allowed to).
    let run = mlsync(&["decrypt", "--age-key-file", s(&key2), s(&file)]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_no_plaintext("decrypt stderr", &run.stderr());
    assert!(yaml::parse(&run.stdout()).unwrap() == yaml::parse(PLAIN).unwrap());

    // Rotate to key2 only: key1 can no longer decrypt, and the error lists the recipient.
    let run = mlsync(&["rotate", "--age", &r2, "--age-key-file", s(&key1), s(&file)]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    scan("rotate", &run);
    let run = mlsync(&["decrypt", "--age-key-file", s(&key1), s(&file)]);
    assert_eq!(run.code(), 2);
    scan("decrypt with a removed key", &run);
    assert!(
        run.stderr().contains(&r2) && !run.stderr().contains(&r1),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains(s(&file)), "{}", run.stderr());
    let run = mlsync(&["decrypt", "--age-key-file", s(&key2), s(&file)]);
    assert_eq!(run.code(), 0, "{}", run.stderr());

    // A tampered file.
    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = dir.path().join("tampered.enc.yaml");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(0, 1);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let run = mlsync(&["decrypt", "--age-key-file", s(&key2), s(&tampered)]);
    assert_eq!(run.code(), 2);
    scan("decrypt of a tampered file", &run);
    assert!(
        run.stderr().contains("MAC check failed"),
        "{}",
        run.stderr()
    );

    // No key configured.
    let run = mlsync(&["decrypt", s(&file)]);
    assert_eq!(run.code(), 2);
    scan("decrypt without a key", &run);
    assert!(run.stderr().contains("--age-key-file") && run.stderr().contains(&r2));

    // A key file others can read.
    std::fs::set_permissions(&key2, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = mlsync(&["decrypt", "--age-key-file", s(&key2), s(&file)]);
    assert_eq!(run.code(), 2);
    scan("decrypt with an open key file", &run);
    assert!(
        run.stderr().contains(&format!("chmod 600 {}", s(&key2))),
        "{}",
        run.stderr()
    );

    // Every file left behind, except the plaintext input, is free of plaintext; no temp files.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "temporary file left: {name}");
        if path != plain {
            assert_no_plaintext(&name, &std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn encrypt_errors_name_the_file_and_not_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = keygen(dir.path(), "id.txt");
    let cases = [
        ("bad-key.yaml", "my-key: leakcheck-user-Q7\n", "`my-key`"),
        ("nested.yaml", "A:\n  B: leakcheck-user-Q7\n", "`A`"),
        (
            "broken.yaml",
            "A: 'leakcheck pass: #9!\nB: [\n",
            "invalid YAML",
        ),
        (
            "dup.yaml",
            "A: leakcheck-user-Q7\nA: x\n",
            "duplicate key `A`",
        ),
    ];
    for (name, text, want) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let run = mlsync(&["encrypt", "--age", &r, "--in-place", s(&file)]);
        assert_eq!(run.code(), 2, "{name}");
        scan(name, &run);
        assert!(run.stderr().contains(s(&file)), "{name}: {}", run.stderr());
        assert!(run.stderr().contains(want), "{name}: {}", run.stderr());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "{name} was changed"
        );
    }
    let run = mlsync(&[
        "encrypt",
        "--age",
        "age1bogus",
        s(&dir.path().join("dup.yaml")),
    ]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("age1bogus"), "{}", run.stderr());
}
