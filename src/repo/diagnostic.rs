//! Validation findings with file, line, column and field path.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Pos;

/// One problem found in a config repo, printed as `file:line:column: field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, relative to the repo root.
    pub file: PathBuf,
    /// Where in the file.
    pub pos: Pos,
    /// The field path such as `spec.autoscaling.maxReplicas` (empty for whole-file problems).
    pub field: String,
    /// A plain-English description.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: ",
            self.file.display(),
            self.pos.line,
            self.pos.column
        )?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Turns a JSON pointer (`/spec/tolerations/0/effect`) into the dotted field path users read
/// (`spec.tolerations[0].effect`); keys that are not plain identifiers are quoted
/// (`metadata.labels["app.kubernetes.io/name"]`).
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{seg:?}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(
            field_path("/spec/autoscaling/maxReplicas"),
            "spec.autoscaling.maxReplicas"
        );
        assert_eq!(
            field_path("/spec/tolerations/0/effect"),
            "spec.tolerations[0].effect"
        );
        assert_eq!(
            field_path("/metadata/labels/app.kubernetes.io~1name"),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
    }

    #[test]
    fn display_has_file_line_column_field() {
        let d = Diagnostic {
            file: "services/iris.yaml".into(),
            pos: Pos {
                line: 12,
                column: 5,
            },
            field: "spec.replicas".into(),
            message: "must be at least 0".into(),
        };
        assert_eq!(
            d.to_string(),
            "services/iris.yaml:12:5: spec.replicas: must be at least 0"
        );
    }
}
