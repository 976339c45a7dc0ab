//! What `mlsync promote` shows and writes as text: the new overlay file (the kept modeline,
//! then the overlay), the diff, the notes beyond it and the problems of a promoted overlay that
//! was not kept.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::render::yaml;
use crate::repo::promote::Promotion;
use crate::repo::{self, Diagnostic};

/// The editor modeline that is kept when an overlay file is rewritten.
const MODELINE: &str = "# yaml-language-server:";

/// The new file: the kept modeline, then the overlay; `None` when the overlay is empty.
pub(super) fn new_file_text(old: &str, promotion: &Promotion) -> Option<String> {
    let overlay = promotion.overlay.as_ref()?;
    let mut out = String::new();
    if let Some(line) = modeline_of(old) {
        out.push_str(line);
        out.push('\n');
    }
    yaml::write_document(&mut out, overlay);
    Some(out)
}

fn modeline_of(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim_end)
        .find(|l| l.starts_with(MODELINE))
}

/// Whether `text` has a comment other than the modeline (a line starting with `#`, or ` #`
/// after a value; a `#` inside a quoted string counts too: the note is only a note).
fn has_comments(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        (t.starts_with('#') && !t.starts_with(MODELINE)) || l.contains(" #") || l.contains("\t#")
    })
}

/// The problems found with the promoted overlay, as lines to print once the file is back as it
/// was: a problem in the overlay is shown at the same field of the file as it is now, or, for
/// a field only the promotion wrote, marked `(as promoted)` without a position.
pub(super) fn shown_where_written(
    diagnostics: &[Diagnostic],
    file: &Path,
    was: Option<&repo::yaml::Document>,
    written: &str,
) -> Vec<String> {
    let promoted = repo::yaml::parse_documents(written)
        .ok()
        .and_then(|mut docs| (!docs.is_empty()).then(|| docs.swap_remove(0)));
    let mut lines = Vec::new();
    for d in diagnostics {
        let Some(new) = promoted.as_ref().filter(|_| d.file == file) else {
            lines.push(d.to_string());
            continue;
        };
        let mut all = Vec::new();
        pointers(&new.value, String::new(), &mut all);
        let at = all
            .iter()
            .filter(|p| new.positions.locate(p) == d.pos)
            .max_by_key(|p| p.len());
        let old_pos = at.and_then(|p| {
            was.filter(|w| w.value.pointer(p).is_some())
                .map(|w| w.positions.locate(p))
        });
        match old_pos {
            Some(pos) => lines.push(Diagnostic { pos, ..d.clone() }.to_string()),
            None => {
                let field = if d.field.is_empty() {
                    String::new()
                } else {
                    format!(" {}:", d.field)
                };
                lines.push(format!(
                    "{} (as promoted):{field} {}",
                    file.display(),
                    d.message
                ));
            }
        }
    }
    lines
}

/// Every JSON pointer in `v` (below `prefix`), the root included.
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}/{}", crate::spec::names::escape_segment(k));
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(prefix);
}

/// Prints each of `diagnostics` on its own line of stderr.
pub(super) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

/// The unified diff of the overlay file, with `a/` and `b/` paths relative to the repo root.
pub(super) fn print_diff(
    file: &Path,
    existed: bool,
    old: &str,
    new: Option<&str>,
) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let a = if existed {
        format!("a/{shown}")
    } else {
        "/dev/null".to_owned()
    };
    let b = if new.is_some() {
        format!("b/{shown}")
    } else {
        "/dev/null".to_owned()
    };
    let text = similar::TextDiff::from_lines(old, new.unwrap_or_default())
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("failed to write to stdout")
}

/// What the user should know beyond the diff.
pub(super) fn notes(file: &Path, from: &str, to: &str, old: &str, promotion: &Promotion) {
    if has_comments(old) {
        eprintln!(
            "note: {} was rewritten: its comments are not kept",
            file.display()
        );
    }
    if !promotion.replaced_config.is_empty() {
        eprintln!(
            "note: spec.config is promoted as a whole: {to}'s own {} replaced by {from}'s config",
            match promotion.replaced_config.as_slice() {
                [one] => format!("setting of {one} is"),
                many => format!("settings of {} are", many.join(", ")),
            }
        );
    }
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;
