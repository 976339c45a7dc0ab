//! The emitter's output, read back with serde-saphyr, must equal what was written.

use serde_json::{Value, json};

use super::*;
use crate::yaml_scalar::tests::tricky_strings;

fn roundtrip(v: &Value) -> Value {
    let text = to_string(v);
    serde_saphyr::from_str::<Value>(&text)
        .unwrap_or_else(|e| panic!("output does not parse: {e}\n{text}"))
}

#[test]
fn every_tricky_string_reads_back_as_itself_as_value_key_and_item() {
    for s in tricky_strings() {
        let v = json!({ "k": s, "list": [s, {"inner": s}], "nested": { s.clone(): s } });
        assert_eq!(roundtrip(&v), v, "string {s:?}:\n{}", to_string(&v));
    }
}

#[test]
fn numbers_bools_null_and_empty_collections() {
    let v = json!({
        "int": 80, "neg": -3, "big": 9007199254740993u64, "float": 0.5, "t": true, "f": false,
        "null": null, "emptyMap": {}, "emptyList": [], "listOfLists": [[1, 2], [], [[3]]],
        "listOfMaps": [{"a": 1, "b": [1]}, {}, {"c": {"d": "e"}}]
    });
    assert_eq!(roundtrip(&v), v);
}

#[test]
fn layout_matches_what_kubectl_prints() {
    let v = json!({
        "apiVersion": "apps/v1",
        "metadata": { "labels": { "app.kubernetes.io/version": "2.1.0" }, "name": "iris" },
        "spec": { "containers": [ {
            "env": [ { "name": "A", "value": "yes" } ],
            "ports": [ { "containerPort": 5000, "protocol": "TCP" } ],
            "args": ["--port", "5000"],
            "script": "set -e\nrun\n"
        } ] }
    });
    let expected = "\
apiVersion: apps/v1
metadata:
  labels:
    app.kubernetes.io/version: \"2.1.0\"
  name: iris
spec:
  containers:
  - env:
    - name: A
      value: \"yes\"
    ports:
    - containerPort: 5000
      protocol: TCP
    args:
    - --port
    - \"5000\"
    script: |
      set -e
      run
";
    assert_eq!(to_string(&v), expected);
}

#[test]
fn literal_blocks_keep_their_trailing_newlines_exactly() {
    for s in ["a\nb", "a\nb\n", "a\nb\n\n\n", "a\n\n\nb", "a\n  b\n    c"] {
        let v = json!({ "k": s, "l": [s] });
        let text = to_string(&v);
        assert!(
            text.contains('|'),
            "{s:?} should be a literal block:\n{text}"
        );
        assert_eq!(roundtrip(&v), v, "{s:?}:\n{text}");
    }
}

#[test]
fn scalar_documents() {
    for v in [
        json!("yes"),
        json!(1),
        json!(null),
        json!("a\nb"),
        json!([]),
        json!({}),
    ] {
        assert_eq!(roundtrip(&v), v);
    }
}

/// YAML readers refuse implicit keys over 1024 characters (found by fuzzing: a 4,000-character
/// key was written as `"…": false` and did not read back).
#[test]
fn keys_over_the_implicit_key_limit_are_written_explicitly_and_read_back() {
    let plain = "a".repeat(1500);
    let escaped = "\u{1}".repeat(300); // 1,800 characters once escaped
    let short = "b".repeat(1000);
    for key in [plain, escaped, short] {
        let v = json!({
            "first": 1,
            key.clone(): { "inner": [1, { key.clone(): "x\ny\n" }] },
            "list": [{ key.clone(): [true, null] }, { key.clone(): {} }],
        });
        assert_eq!(roundtrip(&v), v, "{}", to_string(&v));
    }
    let text = to_string(&json!({ "a".repeat(1001): 1 }));
    assert!(text.starts_with("? aaa"), "{text}");
    let text = to_string(&json!({ "a".repeat(1000): 1 }));
    assert!(text.starts_with("aaa"), "{text}");
}
