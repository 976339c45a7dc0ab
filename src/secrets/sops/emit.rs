//! Writing a [`Value`] tree as block YAML in the style `sops` writes, quoting every string
//! that would otherwise read back as something else.

use zeroize::Zeroizing;

use super::value::{Value, go_float};
use crate::yaml_scalar::is_plain_safe;

/// Emits a [`Value`] map as block YAML (the style `sops` writes), ending with a newline.
pub fn emit(doc: &Value) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    match doc {
        Value::Map(entries) if !entries.is_empty() => emit_map(entries, 0, &mut out),
        Value::Seq(items) if !items.is_empty() => emit_seq(items, 0, &mut out),
        other => {
            // A top-level block scalar's lines are indented too: at column 0 a line `---` or
            // `...` would end the document (found by fuzzing, fuzz/seeds/sops/crash-top-level-marker).
            emit_inline(other, 2, &mut out);
            out.push('\n');
        }
    }
    out
}

fn emit_map(entries: &[(String, Value)], indent: usize, out: &mut String) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            push_indent(indent, out);
        }
        out.push_str(&scalar_text(key));
        out.push(':');
        match value {
            Value::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                push_indent(indent + 2, out);
                emit_map(inner, indent + 2, out);
            }
            Value::Seq(items) if !items.is_empty() => {
                out.push('\n');
                push_indent(indent, out);
                emit_seq(items, indent, out);
            }
            other => {
                out.push(' ');
                emit_inline(other, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn emit_seq(items: &[Value], indent: usize, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            push_indent(indent, out);
        }
        out.push_str("- ");
        match item {
            Value::Map(inner) if !inner.is_empty() => emit_map(inner, indent + 2, out),
            Value::Seq(inner) if !inner.is_empty() => emit_seq(inner, indent + 2, out),
            other => {
                emit_inline(other, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// Scalars and empty collections; `indent` is the indentation of block-scalar content.
fn emit_inline(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&yaml_float(*f)),
        Value::Str(s) if literal_ok(s) => {
            out.push('|');
            for line in s.lines() {
                out.push('\n');
                if !line.is_empty() {
                    push_indent(indent, out);
                    out.push_str(line);
                }
            }
        }
        Value::Str(s) => out.push_str(&scalar_text(s)),
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
}

fn push_indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        let s = go_float(f);
        if s.contains('.') { s } else { format!("{s}.0") }
    }
}

/// Multi-line strings ending in exactly one newline go out as `|` blocks.
fn literal_ok(s: &str) -> bool {
    s.ends_with('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with([' ', '\t', '\n'])
        && s.lines().all(|l| !l.ends_with([' ', '\t']))
        && !s.chars().any(|c| needs_escape(c) && c != '\n' && c != '\t')
}

/// Characters only a double-quoted scalar can carry safely: controls, BOM, and the Unicode
/// line/paragraph separators (line breaks in YAML 1.1).
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')
}

/// A string scalar: plain by the one rule of [`crate::yaml_scalar`], else quoted.
fn scalar_text(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else if !s.chars().any(needs_escape) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        serde_json::Value::String(s.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::sops::yaml::parse;

    #[test]
    fn a_top_level_block_scalar_keeps_document_markers_inside() {
        for text in ["|\n  ---\n", "|\n  a\n  ...\n  b\n"] {
            let tree = parse(text).unwrap();
            let written = emit(&tree);
            assert_eq!(parse(&written).unwrap(), tree, "{written:?}");
        }
    }

    #[test]
    fn emit_round_trips_tricky_values() {
        let doc = Value::Map(vec![
            ("plain".into(), Value::str("hello world")),
            ("looks_int".into(), Value::str("123")),
            ("looks_bool".into(), Value::str("yes")),
            ("looks_octal".into(), Value::str("0777")),
            ("underscored".into(), Value::str("1_000")),
            ("sexagesimal".into(), Value::str("1:30")),
            ("version".into(), Value::str("3.9.0")),
            ("date".into(), Value::str("2024-01-02")),
            ("empty".into(), Value::str("")),
            ("colon".into(), Value::str("a: b # c")),
            ("quote".into(), Value::str("it's")),
            ("ctrl".into(), Value::str("tab\there\u{1}")),
            ("unicode".into(), Value::str("a\u{2028}b\u{feff}ü")),
            ("multi".into(), Value::str("line1\n  line2\n")),
            ("two_nl".into(), Value::str("x\n\n")),
            ("lead".into(), Value::str("- dash")),
            ("float".into(), Value::Float(1.0)),
            ("int".into(), Value::Int(-7)),
            ("null".into(), Value::Null),
            ("bool".into(), Value::Bool(false)),
            (
                "nested".into(),
                Value::Map(vec![(
                    "list".into(),
                    Value::Seq(vec![
                        Value::str("x"),
                        Value::Map(vec![
                            ("k".into(), Value::Int(1)),
                            ("l".into(), Value::Seq(vec![])),
                        ]),
                        Value::Seq(vec![Value::str("y"), Value::str("z")]),
                    ]),
                )]),
            ),
            ("empty_map".into(), Value::Map(vec![])),
            ("weird key: x".into(), Value::str("v")),
        ]);
        let text = emit(&doc);
        assert_eq!(parse(&text).unwrap(), doc, "{}", text.as_str());
    }

    /// The shared plain rule against the reader of SOPS files (go-yaml's YAML 1.1 resolution).
    #[test]
    fn plain_strings_resolve_as_strings_for_sops() {
        for s in crate::yaml_scalar::tests::tricky_strings() {
            if is_plain_safe(&s) {
                let resolved = crate::secrets::sops::yaml::resolve(
                    Zeroizing::new(s.clone()),
                    granit_parser::ScalarStyle::Plain,
                );
                assert_eq!(resolved, Value::str(s.as_str()), "{s:?}");
            }
        }
    }

    #[test]
    fn date_like_strings_are_quoted_for_go_yaml() {
        let doc = Value::Map(vec![
            ("lastmodified".into(), Value::str("2026-11-30T05:22:46Z")),
            ("day".into(), Value::str("2024-01-02")),
            ("not_a_date".into(), Value::str("12345-x")),
        ]);
        assert_eq!(
            emit(&doc).as_str(),
            "lastmodified: '2026-11-30T05:22:46Z'\nday: '2024-01-02'\nnot_a_date: '12345-x'\n"
        );
    }
}
