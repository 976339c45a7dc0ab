//! Reading the YAML subset SOPS files use, keeping map order (writing: [`super::emit`]).
//!
//! Scalars are typed like go-yaml (which `sops` uses) types untagged plain scalars:
//! `null`/`~`/empty, `true`/`false` (any of three casings), decimal/`0x`/`0o` integers,
//! floats including `.inf`/`.nan`; quoted and block scalars are strings. Anchors, aliases,
//! non-core tags and multi-document streams are refused. Comments are dropped (SOPS leaves
//! them out of the MAC).

use granit_parser::{Event, Parser, ScalarStyle};
use zeroize::Zeroizing;

use super::SopsError;
pub use super::emit::emit;
use super::value::Value;

/// Parses one YAML document into a [`Value`]. Error messages carry positions, never content.
pub fn parse(text: &str) -> Result<Value, SopsError> {
    let mut events = Vec::new();
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(|e| SopsError::Yaml {
            line: e.marker().line(),
            reason: e.info(),
        })?;
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Comment(..) => {}
            Event::DocumentStart(..) => events.push((Event::DocumentStart(false, None), line)),
            other => events.push((other, line)),
        }
    }
    let mut iter = events.into_iter().peekable();
    let mut docs = Vec::new();
    while let Some((event, line)) = iter.next() {
        if !matches!(event, Event::DocumentStart(..)) {
            return Err(yaml_err(line, "unexpected event outside a document"));
        }
        if iter
            .peek()
            .is_none_or(|(e, _)| matches!(e, Event::DocumentStart(..)))
        {
            docs.push(Value::Null);
        } else {
            docs.push(node(&mut iter)?);
        }
    }
    if docs.len() > 1 {
        return Err(SopsError::Unsupported(
            "multi-document YAML streams".to_owned(),
        ));
    }
    Ok(docs.pop().unwrap_or(Value::Null))
}

fn yaml_err(line: usize, reason: &str) -> SopsError {
    SopsError::Yaml {
        line,
        reason: reason.to_owned(),
    }
}

fn node<'a, I: Iterator<Item = (Event<'a>, usize)>>(
    iter: &mut std::iter::Peekable<I>,
) -> Result<Value, SopsError> {
    let Some((event, line)) = iter.next() else {
        return Err(yaml_err(0, "unexpected end of input"));
    };
    match event {
        Event::Scalar(text, style, anchor, tag) => {
            if anchor != 0 {
                return Err(SopsError::Unsupported(format!(
                    "YAML anchors (line {line})"
                )));
            }
            let text = Zeroizing::new(text.into_owned());
            match tag {
                None => Ok(resolve(text, style)),
                Some(tag) if tag.is_yaml_core_schema() => match tag.suffix() {
                    "str" => Ok(Value::Str(text)),
                    "null" | "bool" | "int" | "float" => {
                        let v = resolve(text, ScalarStyle::Plain);
                        if v.kind() == tag.suffix() {
                            Ok(v)
                        } else {
                            Err(yaml_err(line, "scalar does not match its explicit tag"))
                        }
                    }
                    other => Err(SopsError::Unsupported(format!(
                        "the YAML tag !!{other} (line {line})"
                    ))),
                },
                Some(_) => Err(SopsError::Unsupported(format!(
                    "custom YAML tags (line {line})"
                ))),
            }
        }
        Event::SequenceStart(_, anchor, _) => {
            if anchor != 0 {
                return Err(SopsError::Unsupported(format!(
                    "YAML anchors (line {line})"
                )));
            }
            let mut items = Vec::new();
            loop {
                if matches!(iter.peek(), Some((Event::SequenceEnd, _))) {
                    iter.next();
                    return Ok(Value::Seq(items));
                }
                items.push(node(iter)?);
            }
        }
        Event::MappingStart(_, anchor, _) => {
            if anchor != 0 {
                return Err(SopsError::Unsupported(format!(
                    "YAML anchors (line {line})"
                )));
            }
            let mut entries: Vec<(String, Value)> = Vec::new();
            loop {
                if matches!(iter.peek(), Some((Event::MappingEnd, _))) {
                    iter.next();
                    return Ok(Value::Map(entries));
                }
                let key = match iter.next() {
                    Some((Event::Scalar(k, ..), _)) => k.into_owned(),
                    Some((_, l)) => {
                        return Err(SopsError::Unsupported(format!(
                            "non-scalar map keys (line {l})"
                        )));
                    }
                    None => return Err(yaml_err(line, "unterminated map")),
                };
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(SopsError::DuplicateKey(key));
                }
                let value = node(iter)?;
                entries.push((key, value));
            }
        }
        Event::Alias(_) | Event::UnresolvedAlias(_) => Err(SopsError::Unsupported(format!(
            "YAML aliases (line {line})"
        ))),
        _ => Err(yaml_err(line, "unexpected YAML event")),
    }
}

/// Types an untagged scalar the way go-yaml does when decoding into `interface{}`.
pub(crate) fn resolve(text: Zeroizing<String>, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    // go-yaml v3 strips `_` before trying numbers.
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = parse_int(&plain) {
        return Value::Int(i);
    }
    if is_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: `0x`/`0o`/`0b` prefixes, a leading `0` means octal.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = digits.get(..2).map(str::to_ascii_lowercase);
    let (radix, body) = match lower.as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
        _ => (10, digits),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// go-yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int_part, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = if int_part.is_empty() {
        frac.is_some_and(|f| !f.is_empty() && digits(f))
    } else {
        digits(int_part) && frac.is_none_or(digits)
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_typed_like_go_yaml() {
        let doc = parse(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: ''\nf: '1'\ng: 0x1F\nh: 1e3\ni: yes\nj:\nk: -.inf\n\
             l: 1_000\nm: 0777\nn: 0b11\no: 1_encrypted\np: 0999\nq: 2023-01-01\nr: .5\n",
        )
        .unwrap();
        let Value::Map(m) = doc else { panic!() };
        let kinds: Vec<_> = m.iter().map(|(k, v)| format!("{k}={}", v.kind())).collect();
        assert_eq!(
            kinds,
            [
                "a=int", "b=float", "c=bool", "d=null", "e=string", "f=string", "g=int", "h=float",
                "i=string", "j=null", "k=float", "l=int", "m=int", "n=int", "o=string", "p=float",
                "q=string", "r=float"
            ]
        );
        assert_eq!(m[6].1, Value::Int(31));
        assert_eq!(m[11].1, Value::Int(1000));
        assert_eq!(m[12].1, Value::Int(0o777));
        assert_eq!(m[13].1, Value::Int(3));
    }

    #[test]
    fn order_is_kept_and_duplicates_refused() {
        let doc = parse("z: 1\na: 2\nm: 3\n").unwrap();
        let Value::Map(m) = doc else { panic!() };
        assert_eq!(
            m.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["z", "a", "m"]
        );
        assert!(matches!(parse("a: 1\na: 2\n"), Err(SopsError::DuplicateKey(k)) if k == "a"));
    }

    #[test]
    fn anchors_and_multi_docs_are_refused() {
        assert!(matches!(
            parse("a: &x 1\nb: *x\n"),
            Err(SopsError::Unsupported(_))
        ));
        assert!(matches!(
            parse("a: 1\n---\nb: 2\n"),
            Err(SopsError::Unsupported(_))
        ));
    }
}
