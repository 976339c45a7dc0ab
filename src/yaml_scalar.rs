//! The one rule for plain (unquoted) YAML scalars, shared by the two writers of YAML: the
//! rendered objects ([`crate::render::yaml`]) and SOPS files ([`crate::secrets::sops`]).
//!
//! A string is written plain only when every YAML 1.1 and 1.2 reader (Kubernetes' go-yaml, which
//! `sops` uses too, PyYAML, serde-saphyr) reads it back as exactly that string; each writer
//! quotes everything else its own way. Pure.

/// True when `s` can be written as a plain scalar and every YAML 1.1 and 1.2 reader reads it
/// back as exactly this string. Deliberately conservative: anything doubtful is quoted.
pub fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    // A leading `-` is fine before a non-space (`--port`), but not as `- x` or a `---` marker.
    let dash_ok =
        first == b'-' && bytes.get(1).is_some_and(|b| *b != b' ') && !s.starts_with("---");
    if !(first.is_ascii_alphanumeric() || first == b'_' || first == b'/' || dash_ok) || last == b' '
    {
        return false;
    }
    if last == b':' {
        return false;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'.' | b'/' | b'@' | b'+' | b'-')
            // Flow indicators only end a plain scalar inside `[…]`/`{…}`, which no writer here
            // emits; `=` is a YAML 1.1 value only on its own. Both occur in base64 and in
            // SOPS' `ENC[AES256_GCM,data:…=,…]`, which sops itself writes plain.
            || (i > 0 && matches!(b, b',' | b'[' | b']' | b'='))
            || (b == b':' && bytes.get(i + 1).is_some_and(|n| *n != b' '))
            || (b == b' ' && bytes.get(i + 1).is_some_and(|n| *n != b' '));
        if !ok {
            return false;
        }
    }
    !looks_numeric(bytes) && !is_keyword(s)
}

/// Could a YAML 1.1 or 1.2 reader resolve this to a number, a timestamp or a sexagesimal?
/// Readers differ in where they allow `_` in a number (YAML 1.1: `1_000`; serde-saphyr reads
/// `___0___` as 0, found by fuzzing the SOPS writer in CI), so `_` is ignored here.
fn looks_numeric(bytes: &[u8]) -> bool {
    let bytes: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'_').collect();
    let starts = bytes
        .first()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'));
    starts
        && bytes.iter().all(|b| {
            b.is_ascii_hexdigit()
                || matches!(b, b'x' | b'X' | b'o' | b'O' | b'.' | b'_' | b':')
                || matches!(b, b'+' | b'-' | b' ' | b't' | b'T' | b'z' | b'Z')
        })
}

/// Words some YAML reader resolves to a bool or null (YAML 1.1 included), any case.
fn is_keyword(s: &str) -> bool {
    const WORDS: [&str; 14] = [
        "null", "true", "false", "yes", "no", "y", "n", "on", "off", ".inf", "-.inf", "+.inf",
        ".nan", "~",
    ];
    s.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Strings a YAML reader could take for something else, or that need escapes or blocks.
    pub(crate) fn tricky_strings() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            " ",
            "a",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "Null",
            "~",
            "0",
            "007",
            "0x1F",
            "0o17",
            "1_000",
            "_______0____________",
            "_1",
            "_.5",
            "__",
            "1e3",
            "1.5",
            ".5",
            "-1",
            "+1",
            ".inf",
            "-.inf",
            ".NaN",
            "1:20",
            "190:20:30",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "12h",
            "500m",
            "1Gi",
            "2.1.0",
            "v1",
            "deadbeef",
            "s3://models/a/b",
            "registry:5000/x:1.2",
            "a: b",
            "a:",
            ":a",
            "a #b",
            "#a",
            "- a",
            "-a",
            "? a",
            "[a]",
            "{a}",
            "a, b",
            "&a",
            "*a",
            "!a",
            "|a",
            ">a",
            "'a'",
            "\"a\"",
            "%a",
            "@a",
            "`a",
            "a b",
            "a  b",
            " a",
            "a ",
            "<<",
            "=",
            "a\"b",
            "a\\b",
            "tab\there",
            "cr\rlf",
            "nul\u{0}",
            "del\u{7f}",
            "nel\u{85}x",
            "ls\u{2028}x",
            "bom\u{feff}",
            "nonchar\u{ffff}",
            "\u{fffe}x",
            "é",
            "日本語",
            "emoji 🚀",
            "line1\nline2",
            "line1\nline2\n",
            "line1\nline2\n\n",
            "\nleading",
            "  indented\nx",
            "x\n  indented",
            "a\n\nb",
            "trail \nx",
            "only\n \nspaces",
            "a\tb\nc",
            "---",
            "...",
            "--- a",
            "app.kubernetes.io/name",
            "nvidia.com/gpu",
            "/healthz",
            "_x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("x".repeat(300));
        v.push("a\n".repeat(50));
        v
    }

    /// Every string the rule writes plain reads back (YAML 1.2, serde-saphyr) as that string,
    /// and the plain strings of Kubernetes objects stay plain. The SOPS reader's view is
    /// checked in `secrets::sops::emit`.
    #[test]
    fn plain_strings_read_back_as_themselves() {
        let mut plain = 0;
        for s in tricky_strings() {
            if !is_plain_safe(&s) {
                continue;
            }
            plain += 1;
            let text = format!("k: {s}\n");
            let v: serde_json::Value = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{s:?} does not parse plain: {e}"));
            assert_eq!(v["k"], serde_json::Value::String(s.clone()), "{s:?}");
        }
        assert!(plain > 10, "only {plain} plain strings");
        for s in [
            "a",
            "v1",
            "12h",
            "500m",
            "1Gi",
            "s3://models/a/b",
            "registry:5000/x:1.2",
            "ZGVtbw==",
            "ENC[AES256_GCM,data:3q2+7w==,iv:abc/def=,tag:x+y=,type:str]",
        ] {
            assert!(is_plain_safe(s), "{s}");
        }
        for s in [
            "yes",
            "No",
            "0x1F",
            "1:20",
            "2001-12-14",
            "2.1.0",
            "a: b",
            "- a",
            "---",
            "=",
            "",
            "[0]",
            ",a",
        ] {
            assert!(!is_plain_safe(s), "{s}");
        }
    }
}
