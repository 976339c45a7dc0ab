//! "No decision reads the text of an error": a scan of the code in `src/` (outside tests) for
//! string matching on error or message values. Event reasons, metric labels, exit codes and
//! rollbacks must come from enum variants (see `reconcile::cause`), so that rewording a message
//! changes nothing but the message.

use std::path::Path;

use regex::Regex;

/// Matching on text that holds an error or an API server's message.
const PATTERNS: [&str; 3] = [
    // error.starts_with("clash:"), s.message.contains("immutable"), why.find(..), …
    r"\b(err|error|errors|message|msg|why|reason|cause|status)(\.as_str\(\)|\.as_deref\(\)|\.to_string\(\)|\.to_lowercase\(\)|\.to_ascii_lowercase\(\))?\.(contains|starts_with|ends_with|find|rfind|strip_prefix|strip_suffix|matches|split_once)\(",
    // e.to_string().contains(..), format!("{e}").starts_with(..)
    r#"(to_string\(\)|format!\("[^"\n]*"(, [^()\n]*)?\))\.(contains|starts_with|ends_with|find|rfind|strip_prefix)\("#,
    // matches!(e, … if s.message == "…")
    r"\.message\s*(==|!=)",
];

/// Files allowed to match, with why. Keep this short.
const ALLOWED: [(&str, &str); 0] = [];

/// The part of a source file that is not test code: files of tests are skipped, and a file's
/// `#[cfg(test)]` module is its tail by convention.
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Every match of [`PATTERNS`] in `text` (one source file), with method chains split over
/// lines joined first.
pub(crate) fn text_decisions(text: &str) -> Vec<String> {
    let joined = Regex::new(r"\s*\n\s*\.")
        .map(|r| r.replace_all(non_test(text), ".").into_owned())
        .unwrap_or_default();
    PATTERNS
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .flat_map(|re| {
            re.find_iter(&joined)
                .map(|m| m.as_str().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_function_in_src_decides_on_the_text_of_an_error() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name == "tests.rs"
            || name.ends_with("_tests.rs")
            || ALLOWED.iter().any(|(f, _)| *f == rel)
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        found.extend(
            text_decisions(&text)
                .into_iter()
                .map(|m| format!("{rel}: {m}")),
        );
    }
    assert!(
        found.is_empty(),
        "decisions on error text (match on an enum variant instead):\n{}",
        found.join("\n")
    );
}

/// The scan finds what the reconcile path did before its failures were typed.
#[test]
fn the_scan_finds_the_old_string_matching() {
    let old = r#"
fn is_immutable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 422 && s.message.contains("immutable"))
}
fn classify(error: &str) -> (&'static str, &'static str) {
    if error.starts_with("clash:") {
        ("Conflict", "Apply")
    } else if SECRETS.iter().any(|p| error.starts_with(p)) {
        ("DecryptFailed", "Decrypt")
    } else if e
        .to_string()
        .contains("timed out") || format!("{e}").ends_with("x") { todo!() }
}
#[cfg(test)]
mod tests {
    fn t() { assert!(error.contains("fine in tests")); }
}
"#;
    assert_eq!(
        text_decisions(old),
        [
            "message.contains(",
            "error.starts_with(",
            "error.starts_with(",
            "to_string().contains(",
            "format!(\"{e}\").ends_with(",
        ]
    );
}
