//! The spec reader's YAML with positions (`repo::yaml`), differentially: the fast path
//! (`parse_values`) and the positions path (`parse_documents`) must agree on whether a text is
//! valid YAML and on its values, and every node's position must lie inside the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mlsync::repo::yaml::{self, Pos, PositionIndex};
use serde_json::Value;

/// Lines of `text` as YAML counts them: a line break is CR LF, LF or a lone CR.
fn yaml_lines(text: &str) -> usize {
    let bytes = text.as_bytes();
    let lone_crs = bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
        .count();
    1 + bytes.iter().filter(|&&b| b == b'\n').count() + lone_crs
}

/// Checks the position of `value` at `pointer` and of everything below it.
fn check_positions(positions: &PositionIndex, pointer: &str, value: &Value, lines: usize) {
    let Pos { line, column } = positions.locate(pointer);
    assert!(
        line >= 1 && line <= lines + 1 && column >= 1,
        "{pointer} at {line}:{column}, outside the text ({lines} lines)"
    );
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = format!("{pointer}/{}", mlsync::spec::names::escape_segment(k));
                check_positions(positions, &child, v, lines);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_positions(positions, &format!("{pointer}/{i}"), v, lines);
            }
        }
        _ => {}
    }
}

fuzz_target!(|text: &str| {
    let values = yaml::parse_values(text);
    let docs = yaml::parse_documents(text);
    match (&values, &docs) {
        (Ok(values), Ok(docs)) => {
            let from_docs: Vec<&Value> = docs.iter().map(|d| &d.value).collect();
            let from_values: Vec<&Value> = values.iter().collect();
            assert_eq!(from_values, from_docs, "the two readers disagree");
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Err(e)) => panic!("only the positions reader refuses it: {e:?}"),
        (Err(e), Ok(_)) => panic!("only the fast reader refuses it: {e}"),
    }
    let lines = yaml_lines(&text);
    if let Err(e) = &docs {
        assert!(
            e.pos.line >= 1 && e.pos.line <= lines + 1,
            "error at {:?}",
            e.pos
        );
    }
    for doc in docs.iter().flatten() {
        check_positions(&doc.positions, "", &doc.value, lines);
    }
});
