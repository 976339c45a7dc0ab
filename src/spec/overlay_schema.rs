//! The overlay schema (`schema/mlservice-overlay.schema.json`), made from the MLService schema.
//!
//! An environment overlay is a partial MLService: any field may be left out, and any field may
//! be `null` (which removes it in the merge). So the overlay schema is the MLService schema with
//! every `required` dropped and every property also accepting `null`. mlsync itself checks an
//! overlay by checking the merged spec (so each message is the MLService one, at the overlay's
//! line); this schema is for editors. The published file is generated: `tests` below fail when
//! it differs from [`overlay_schema`] (run them with `MLSYNC_BLESS=1` to rewrite it).

use serde_json::{Map, Value, json};

/// The published overlay schema.
pub const OVERLAY_SCHEMA: &str = include_str!("../../schema/mlservice-overlay.schema.json");

/// The overlay schema for the MLService schema `base`.
pub fn overlay_schema(base: &Value) -> Value {
    let mut out = loosen(base);
    if let Some(m) = out.as_object_mut() {
        m.insert(
            "$id".into(),
            json!("https://mlsync.dev/schema/v1alpha1/mlservice-overlay.schema.json"),
        );
        m.insert(
            "title".into(),
            json!("MLService environment overlay (environments/<env>/<service>.yaml)"),
        );
        m.insert(
            "description".into(),
            json!(
                "A partial MLService merged over the base spec of the service the file is named after, in one environment: mappings merge key by key, lists and scalars replace, null removes (RFC 7386 JSON merge patch). metadata.name, if written, must be that service's name. See docs/environments.md."
            ),
        );
    }
    out
}

/// `node` with no `required`, and each property (and map value) schema also accepting `null`.
fn loosen(node: &Value) -> Value {
    match node {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                match k.as_str() {
                    "required" => {}
                    "properties" => {
                        let props = v.as_object().map(|p| {
                            p.iter()
                                .map(|(name, s)| (name.clone(), nullable(&loosen(s))))
                                .collect::<Map<_, _>>()
                        });
                        out.insert(k.clone(), props.map_or_else(|| v.clone(), Value::Object));
                    }
                    // A map's values (config keys, labels) may be null too.
                    "additionalProperties" if v.is_object() => {
                        out.insert(k.clone(), nullable(&loosen(v)));
                    }
                    _ => {
                        out.insert(k.clone(), loosen(v));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(loosen).collect()),
        other => other.clone(),
    }
}

/// `schema`, or `null`; its description stays on top, where editors show it.
fn nullable(schema: &Value) -> Value {
    let mut out = Map::new();
    if let Some(d) = schema.get("description") {
        out.insert("description".into(), d.clone());
    }
    out.insert("anyOf".into(), json!([{ "type": "null" }, schema]));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::schema::MLSERVICE_SCHEMA;

    fn generated() -> Value {
        let base: Value = serde_json::from_str(MLSERVICE_SCHEMA).unwrap_or(Value::Null);
        overlay_schema(&base)
    }

    #[test]
    fn published_overlay_schema_is_generated_from_the_mlservice_schema() {
        let want = generated();
        if std::env::var_os("MLSYNC_BLESS").is_some() {
            let text = serde_json::to_string_pretty(&want).unwrap() + "\n";
            std::fs::write(
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/schema/mlservice-overlay.schema.json"
                ),
                text,
            )
            .unwrap();
            return;
        }
        let got: Value = serde_json::from_str(OVERLAY_SCHEMA).unwrap();
        assert_eq!(
            got, want,
            "schema/mlservice-overlay.schema.json is stale: run `MLSYNC_BLESS=1 cargo test --lib overlay_schema`"
        );
    }

    #[test]
    fn an_editor_accepts_partial_overlays_with_nulls_and_rejects_wrong_fields() {
        let schema: Value = serde_json::from_str(OVERLAY_SCHEMA).unwrap();
        let v = jsonschema::draft202012::new(&schema).unwrap();
        let ok = json!({"spec": {"model": {"version": "v2"}, "autoscaling": null,
            "config": {"LOG_LEVEL": null, "BATCH": "8"}}});
        assert!(v.is_valid(&ok));
        assert!(v.is_valid(&json!({"metadata": {"name": "iris"}})));
        assert!(!v.is_valid(&json!({"spec": {"modle": {"version": "v2"}}})));
        assert!(!v.is_valid(&json!({"spec": {"replicas": "three"}})));
        assert!(!v.is_valid(&json!({"spec": {"model": {"version": "not a label!"}}})));
    }
}
