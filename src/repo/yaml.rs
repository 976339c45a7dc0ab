//! Multi-document YAML with source positions.
//!
//! Values come from `serde-saphyr` (YAML typing, anchors, duplicate-key detection); positions come
//! from the same parser's event stream (`granit-parser`), indexed by JSON pointer so that a JSON
//! Schema error at `/spec/autoscaling/maxReplicas` can be reported at its line and column.

use std::collections::HashMap;

use granit_parser::{Event, Parser, Span};
use serde_json::Value;

use crate::spec::names::escape_segment;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where a node sits: the key that introduced it (for mapping values) and the value itself.
#[derive(Debug, Clone, Copy)]
struct NodePos {
    key: Option<Pos>,
    value: Pos,
}

/// Positions of every node of one document, keyed by JSON pointer (`""` is the root).
#[derive(Debug, Default)]
pub struct PositionIndex {
    nodes: HashMap<String, NodePos>,
}

impl PositionIndex {
    /// The position to show for the node at `pointer`: its key when it has one, else its value.
    /// Falls back to the nearest ancestor that is known.
    pub fn locate(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(n) = self.nodes.get(p) {
                return n.key.unwrap_or(n.value);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos { line: 1, column: 1 },
            }
        }
    }

    /// The position of the value (not the key) at `pointer`, if known.
    pub fn value_pos(&self, pointer: &str) -> Option<Pos> {
        self.nodes.get(pointer).map(|n| n.value)
    }
}

/// One parsed YAML document.
#[derive(Debug)]
pub struct Document {
    /// The document's data.
    pub value: Value,
    /// Positions of its nodes.
    pub positions: PositionIndex,
    /// Where the document starts.
    pub start: Pos,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What went wrong, in the parser's words.
    pub message: String,
}

/// The YAML merge key (`<<: *defaults`), which may appear more than once.
const MERGE_KEY: &str = "<<";

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

enum Frame {
    Map {
        pointer: String,
        key: Option<(String, Pos)>,
        expect_key: bool,
        /// Keys seen so far and where: a repeated key is an error of ours (the parser's own
        /// message carries a hint about its options that means nothing to a user).
        seen: HashMap<String, Pos>,
    },
    Seq {
        pointer: String,
        index: usize,
    },
}

struct DocBuilder {
    positions: PositionIndex,
    stack: Vec<Frame>,
    /// Where this document's text begins: where the previous one ended (or the stream's start).
    from_byte: usize,
    start: Pos,
    has_content: bool,
    /// The first repeated mapping key, once found.
    duplicate: Option<SyntaxError>,
    /// False while the scalar being recorded is tagged (see `parse_documents`).
    checks_duplicates: bool,
}

impl DocBuilder {
    /// Records a node and returns its pointer, or `None` when the node is a mapping key.
    fn node(&mut self, pos: Pos, key_text: Option<&str>) -> Option<String> {
        self.has_content = true;
        match self.stack.last_mut() {
            None => {
                self.positions.nodes.insert(
                    String::new(),
                    NodePos {
                        key: None,
                        value: pos,
                    },
                );
                Some(String::new())
            }
            Some(Frame::Map {
                pointer,
                key,
                expect_key,
                seen,
            }) => {
                if *expect_key {
                    *expect_key = false;
                    let text = key_text.unwrap_or("?").to_owned();
                    if let Some(k) = key_text.filter(|k| *k != MERGE_KEY)
                        && self.checks_duplicates
                        && let Some(first) = seen.insert(k.to_owned(), pos)
                        && self.duplicate.is_none()
                    {
                        self.duplicate = Some(SyntaxError {
                            pos,
                            message: format!("duplicate key {k:?} (first at line {})", first.line),
                        });
                    }
                    *key = Some((text, pos));
                    return None;
                }
                *expect_key = true;
                let (k, kpos) = key.take().unwrap_or_else(|| ("?".to_owned(), pos));
                let child = format!("{pointer}/{}", escape_segment(&k));
                self.positions.nodes.insert(
                    child.clone(),
                    NodePos {
                        key: Some(kpos),
                        value: pos,
                    },
                );
                Some(child)
            }
            Some(Frame::Seq { pointer, index }) => {
                let child = format!("{pointer}/{index}");
                *index += 1;
                self.positions.nodes.insert(
                    child.clone(),
                    NodePos {
                        key: None,
                        value: pos,
                    },
                );
                Some(child)
            }
        }
    }
}

/// Parses the values of every document of `text` (no positions: the fast path for valid files).
/// Empty and `null` documents are skipped, as in [`parse_documents`].
pub fn parse_values(text: &str) -> Result<Vec<Value>, String> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(values.into_iter().filter(|v| !v.is_null()).collect())
}

/// Parses every document of `text`. Empty documents (no content, or only `null`) are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut docs = Vec::new();
    let mut current: Option<DocBuilder> = None;
    let mut previous_end = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| SyntaxError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info(),
        })?;
        let pos = pos_of(&span);
        match event {
            Event::DocumentStart(..) => {
                current = Some(DocBuilder {
                    positions: PositionIndex::default(),
                    stack: Vec::new(),
                    from_byte: previous_end,
                    checks_duplicates: true,
                    start: pos,
                    has_content: false,
                    duplicate: None,
                });
            }
            Event::DocumentEnd => {
                previous_end = span.end.byte_offset().unwrap_or(text.len()).min(text.len());
                if let Some(b) = current.take() {
                    let end = span
                        .start
                        .byte_offset()
                        .unwrap_or(text.len())
                        .min(text.len());
                    if b.has_content {
                        let doc = finish(text, b, end)?;
                        if !doc.value.is_null() {
                            docs.push(doc);
                        }
                    }
                }
            }
            Event::Scalar(ref s, _, _, ref tag) => {
                if let Some(b) = current.as_mut() {
                    // A tagged key is not the same key as an untagged (or otherwise tagged) one
                    // with the same text, for the YAML reader the values come from either: the
                    // duplicate check leaves it to that reader (found by fuzzing).
                    b.checks_duplicates = tag.is_none();
                    b.node(pos, Some(s));
                    if let Some(e) = b.duplicate.take() {
                        return Err(e);
                    }
                }
            }
            Event::Alias(..) => {
                if let Some(b) = current.as_mut() {
                    b.node(pos, None);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if let Some(b) = current.as_mut() {
                    let is_map = matches!(event, Event::MappingStart(..));
                    // A collection used as a mapping key gets a placeholder pointer.
                    let pointer = b.node(pos, None).unwrap_or_else(|| "/?".to_owned());
                    b.stack.push(if is_map {
                        Frame::Map {
                            pointer,
                            key: None,
                            expect_key: true,
                            seen: HashMap::new(),
                        }
                    } else {
                        Frame::Seq { pointer, index: 0 }
                    });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(b) = current.as_mut() {
                    b.stack.pop();
                }
            }
            _ => {}
        }
    }
    Ok(docs)
}

fn finish(text: &str, b: DocBuilder, end: usize) -> Result<Document, SyntaxError> {
    // A document's text runs from where the previous one ended, not from its first token: the
    // parser places an implicit document's start at its first content, which for a top-level
    // block scalar (`|`) is past its header, and for an indented mapping past the indentation of
    // its first line (both found by fuzzing, fuzz/seeds/yaml_positions/crash-*).
    let from = b.from_byte.min(end);
    let slice = text.get(from..end).unwrap_or("");
    let line_offset = text.get(..from).map_or(0, line_breaks);
    let value: Value = serde_saphyr::from_str(slice).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize + line_offset, l.column() as usize))
            .unwrap_or((b.start.line, 1));
        SyntaxError {
            pos: Pos { line, column },
            message: first_line(&e.to_string()),
        }
    })?;
    Ok(Document {
        value,
        positions: b.positions,
        start: b.start,
    })
}

/// Line breaks in `text` as the parser counts them: CR LF, LF or a lone CR.
fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

/// serde-saphyr errors carry a source snippet after the first line; keep only the message,
/// without its own "line N column M" prefix (we print positions ourselves).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.find(": ") {
        Some(i) if line[..i].starts_with("line ") => &line[i + 2..],
        _ => line,
    };
    // Some messages end with their own position, counted from the document's first line.
    match line.rfind(" at line ") {
        Some(i)
            if line[i + 9..]
                .split_once(", column ")
                .is_some_and(|(l, c)| l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok()) =>
        {
            line[..i].to_owned()
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn keys_that_differ_by_tag_are_left_to_the_yaml_reader() {
        // Found by fuzzing (fuzz/seeds/yaml_positions/crash-tagged-duplicate-keys.yaml): both
        // readers must agree on whether a document is valid.
        let text = "!a: :k: 1\n!b: :k: 2\n";
        let values = parse_values(text).is_ok();
        let docs = parse_documents(text).is_ok();
        assert_eq!(values, docs, "{:?}", parse_documents(text).err());
    }

    use super::*;

    #[test]
    fn positions_of_keys_and_items() {
        let docs = parse_documents("a: 1\nb:\n  - x: 2\n  - y: 3\n").unwrap();
        assert_eq!(docs.len(), 1);
        let p = &docs[0].positions;
        assert_eq!(p.locate("/a"), Pos { line: 1, column: 1 });
        assert_eq!(p.locate("/b/1/y"), Pos { line: 4, column: 5 });
        assert_eq!(p.value_pos("/b/0/x"), Some(Pos { line: 3, column: 8 }));
        // Unknown child falls back to its parent.
        assert_eq!(p.locate("/b/1/zzz"), Pos { line: 4, column: 5 });
    }

    #[test]
    fn several_documents_keep_their_own_lines() {
        let docs = parse_documents("---\na: 1\n---\n\n---\nb:\n  c: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["b"]["c"], 2);
        assert_eq!(docs[1].positions.locate("/b/c"), Pos { line: 7, column: 3 });
    }

    #[test]
    fn keys_with_slashes_are_escaped() {
        let docs = parse_documents("labels:\n  app.kubernetes.io/name: x\n").unwrap();
        let ptr = format!("/labels/{}", escape_segment("app.kubernetes.io/name"));
        assert_eq!(docs[0].positions.locate(&ptr), Pos { line: 2, column: 3 });
    }

    #[test]
    fn syntax_and_duplicate_errors_have_positions() {
        let e = parse_documents("a: [1\nb: 2\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        let e = parse_documents("x: 0\n---\na: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 4, column: 1 });
        assert_eq!(e.message, "duplicate key \"a\" (first at line 3)");
        let e = parse_documents("m:\n  a: 1\n  n: {a: 2, b: 3, b: 4}\n").unwrap_err();
        assert_eq!(
            e.pos,
            Pos {
                line: 3,
                column: 19
            }
        );
        assert_eq!(e.message, "duplicate key \"b\" (first at line 3)");
        // The same key in different mappings is fine.
        assert!(parse_documents("a: {k: 1}\nb: {k: 2}\n").is_ok());
    }

    #[test]
    fn an_indented_top_level_mapping_reads_like_the_fast_path() {
        for text in [
            "  a:\n    b: 1\n  c: 2\n",
            "# comment\n  a: 1\n  c: 2\n",
            "x: 1\n---\n  y: 2\n  z: 3\n",
            // A top-level block scalar keeps its final line break(s) (found by fuzzing in CI).
            "|\n  a\n",
            "|\n  a\n---\n|+\n  b\n\n...\n# after\n---\nc: |\n  d\n",
            "a\n...\n%YAML 1.2\n---\nb\n",
        ] {
            let docs = parse_documents(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
            let values: Vec<Value> = docs.into_iter().map(|d| d.value).collect();
            assert_eq!(values, parse_values(text).unwrap(), "{text:?}");
        }
        let docs = parse_documents("# comment\n  a: 1\n  c: 2\n").unwrap();
        assert_eq!(docs[0].positions.locate("/c"), Pos { line: 3, column: 3 });
        // Lines may end in a lone CR: errors found when reading the values keep their line.
        let e = parse_documents("# comment\r\r  a: 1\r  b: !!int x\r").unwrap_err();
        assert_eq!(
            e.pos,
            Pos {
                line: 4,
                column: 12
            }
        );
        // Without the reader's own position, which counts from the document's first line.
        assert_eq!(e.message, "invalid u64");
    }

    #[test]
    fn empty_input_has_no_documents() {
        assert!(parse_documents("").unwrap().is_empty());
        assert!(parse_documents("# only a comment\n").unwrap().is_empty());
    }
}
