//! The in-memory document tree shared by the SOPS reader and writer.
//!
//! Keys stay in file order (the SOPS MAC depends on it). Plaintext strings are zeroized on
//! drop and `Debug` never shows them.

use std::fmt;

use zeroize::Zeroizing;

/// One YAML node of a SOPS document, typed the way `sops` (go-yaml) types it.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string (possibly an `ENC[…]` value, possibly plaintext).
    Str(Zeroizing<String>),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping with string keys, in file order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(Zeroizing::new(s.into()))
    }

    /// The value of `key` if this is a map holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar, as SOPS hashes it (`ToBytes`): booleans as `True`/`False`,
    /// floats in shortest decimal form. `None` for null and collections.
    pub fn mac_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Value::Bool(b) => Some(Zeroizing::new(
                if *b { "True" } else { "False" }.as_bytes().to_vec(),
            )),
            Value::Int(i) => Some(Zeroizing::new(i.to_string().into_bytes())),
            Value::Float(f) => Some(Zeroizing::new(go_float(*f).into_bytes())),
            Value::Str(s) => Some(Zeroizing::new(s.as_bytes().to_vec())),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short name of the node's kind, for error messages (never the value itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "map",
        }
    }
}

/// Formats a float like Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip
/// digits, never an exponent.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "Null"),
            Value::Bool(_) => write!(f, "Bool(<redacted>)"),
            Value::Int(_) => write!(f, "Int(<redacted>)"),
            Value::Float(_) => write!(f, "Float(<redacted>)"),
            Value::Str(s) => write!(f, "Str(<redacted {} bytes>)", s.len()),
            Value::Seq(items) => f.debug_list().entries(items).finish(),
            Value::Map(entries) => f
                .debug_map()
                .entries(entries.iter().map(|(k, v)| (k, v)))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_bytes_follow_sops_to_bytes() {
        let text = |v: Value| {
            v.mac_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        assert_eq!(text(Value::Bool(true)).as_deref(), Some("True"));
        assert_eq!(text(Value::Bool(false)).as_deref(), Some("False"));
        assert_eq!(text(Value::Int(-42)).as_deref(), Some("-42"));
        assert_eq!(
            text(Value::Float(1234.56789)).as_deref(),
            Some("1234.56789")
        );
        assert_eq!(text(Value::Float(1.0)).as_deref(), Some("1"));
        assert_eq!(
            text(Value::Float(1e21)).as_deref(),
            Some("1000000000000000000000")
        );
        assert_eq!(text(Value::Float(f64::INFINITY)).as_deref(), Some("+Inf"));
        assert_eq!(text(Value::Null), None);
    }

    #[test]
    fn debug_redacts_scalars() {
        let v = Value::Map(vec![
            ("K".into(), Value::str("hunter2")),
            ("N".into(), Value::Int(31337)),
        ]);
        let shown = format!("{v:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("31337"),
            "{shown}"
        );
        assert!(shown.contains("\"K\""));
    }
}
