//! A block-style YAML emitter for JSON values: what `render` prints and `diff` compares.
//!
//! Rendering 1,000 services spends more time formatting YAML with a general serializer than
//! building the objects, so the printer is this small, allocation-light writer. It only ever
//! emits a narrow, unambiguous subset of YAML, which keeps it short and easy to trust:
//! - mappings and sequences in block style (`key: value`, `- item`, two-space indent; `{}` / `[]`
//!   when empty);
//! - a string is written plain only when no YAML 1.1 or 1.2 reader (Kubernetes' go-yaml, PyYAML,
//!   serde-saphyr) can take it for anything but that string — [`is_plain_safe`], the rule the
//!   SOPS file writer follows too;
//! - a multi-line string without control characters is a literal block (`|`, `|-`, `|+`);
//! - every other string is double-quoted with JSON-style escapes, which are also YAML escapes;
//! - a key longer than YAML's 1024-character limit for `key: value` is an explicit `? key`.
//!
//! The unit tests read every output back with serde-saphyr; `tests/render_golden.rs` reads `render` output with
//! PyYAML (YAML 1.1, the strictest about `yes`/`on`/`1:20`/dates) and compares.

use std::fmt::Write as _;

use serde_json::Value;

pub use crate::yaml_scalar::is_plain_safe;

/// Appends `value` as one YAML document body (no `---`) to `out`.
pub fn write_document(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => write_map(out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(out, items, 0),
        scalar => {
            write_scalar(out, scalar, 2);
            out.push('\n');
        }
    }
}

/// `value` as a YAML document body.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, value);
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The longest key, as written, that stays an implicit key (`key: value`): YAML readers take
/// at most 1024 characters as one (libyaml, go-yaml, PyYAML, serde-saphyr), and then fail with
/// "mapping values are not allowed". Longer keys are written explicitly (`? key` / `: value`).
const IMPLICIT_KEY_MAX: usize = 1000;

/// Mapping entries at column `ind`; the caller has already written the indentation of the first.
fn write_map_entries(out: &mut String, map: &serde_json::Map<String, Value>, ind: usize) {
    for (i, (key, v)) in map.iter().enumerate() {
        if i > 0 {
            indent(out, ind);
        }
        let start = out.len();
        write_str(out, key, ind, true);
        // Bytes bound characters from above: count only when it could matter.
        if out.len() - start > IMPLICIT_KEY_MAX && out[start..].chars().count() > IMPLICIT_KEY_MAX {
            out.insert_str(start, "? ");
            out.push('\n');
            indent(out, ind);
        }
        out.push(':');
        write_child(out, v, ind);
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, ind: usize) {
    indent(out, ind);
    write_map_entries(out, map, ind);
}

/// Sequence items at column `ind` (`- ` at the parent's indentation, as kubectl prints).
fn write_seq(out: &mut String, items: &[Value], ind: usize) {
    for item in items {
        indent(out, ind);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                write_map_entries(out, m, ind + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_seq(out, a, ind + 2);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// The value after `key:` of a mapping entry at column `ind`.
fn write_child(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, ind);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, ind + 2);
            out.push('\n');
        }
    }
}

/// A scalar (or an empty collection); `block_indent` is the indentation of a literal block's lines.
fn write_scalar(out: &mut String, v: &Value, block_indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_str(out, s, block_indent, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_str(out: &mut String, s: &str, block_indent: usize, is_key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if !is_key && is_literal_safe(s) {
        write_literal(out, s, block_indent);
    } else {
        write_quoted(out, s);
    }
}

/// A multi-line string whose every character survives a literal block unchanged.
fn is_literal_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && s.chars()
            .all(|c| c == '\n' || !(c.is_control() || is_odd_break(c)))
        && s.lines().all(|l| !l.ends_with(' '))
}

/// Characters YAML 1.1 treats as line breaks, that readers strip, or that YAML does not allow
/// unescaped at all (the noncharacters U+FFFE and U+FFFF, found by fuzzing): always escaped.
fn is_odd_break(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

fn write_literal(out: &mut String, s: &str, ind: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, ind);
            out.push_str(line);
        }
    }
    // The line break that ends the last line is the scalar's own (`|`) or a kept one (`|+`).
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_odd_break(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
