//! The YAML emitter of `render` and `diff` (`render::yaml`): render → read back → equal.
//!
//! The input is a JSON document (the seeds are rendered example objects) or, when it is not
//! JSON, bytes that build a JSON value (any strings, numbers, nesting). Checks: the emitted YAML
//! reads back (with serde-saphyr, the reader mlsync uses) to exactly the value written.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};

/// Deeper values than this are not built (readers limit nesting; Kubernetes objects are
/// shallower).
const MAX_DEPTH: usize = 24;

fn number(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=2)? {
        0 => Value::from(u.arbitrary::<i64>()?),
        1 => Value::from(u.arbitrary::<u64>()?),
        _ => Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
    })
}

fn value(u: &mut Unstructured, depth: usize) -> Result<Value> {
    let kinds = if depth >= MAX_DEPTH { 3 } else { 5 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => number(u)?,
        3 => Value::String(u.arbitrary()?),
        4 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?)
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut map = Map::new();
            for _ in 0..n {
                map.insert(u.arbitrary()?, value(u, depth + 1)?);
            }
            Value::Object(map)
        }
    })
}

/// Nesting depth of `v` (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let value = match serde_json::from_slice::<Value>(data) {
        Ok(v) if depth(&v) <= MAX_DEPTH => v,
        Ok(_) => return,
        Err(_) => match value(&mut Unstructured::new(data), 0) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    let text = mlsync::render::yaml::to_string(&value);
    let back: Value = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("the emitted YAML does not read back: {e}\n{text}"));
    assert_eq!(back, value, "read back differently:\n{text}");
});
