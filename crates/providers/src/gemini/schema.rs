//! JSON Schema → the OpenAPI subset Gemini accepts for `parameters` and `responseSchema`.
//!
//! Gemini rejects a request (400 INVALID_ARGUMENT, "Unknown name …") when a schema carries
//! keys outside its subset. [`clean`] therefore:
//!
//! - drops `$schema`, `$id`, `$comment`, `additionalProperties`, `unevaluatedProperties`,
//!   `patternProperties`, `dependencies`, `default`, `examples`, `strict`,
//!   `exclusiveMinimum`, `exclusiveMaximum`, `contentEncoding`, `contentMediaType`, `$anchor`;
//! - inlines local `$ref`s into `$defs` / `definitions` (up to a depth of 16; deeper or
//!   unresolvable references become `{"type": "object"}`), then drops the definitions;
//! - turns `const: x` into `enum: [x]`;
//! - turns `type: [T, "null"]` into `type: T, nullable: true`.
//!
//! Everything else (`type`, `format`, `description`, `enum`, `properties`, `required`,
//! `items`, `minItems`, `maxItems`, `minimum`, `maximum`, `anyOf`, `nullable`, `title`,
//! `propertyOrdering`, …) passes through unchanged.

use serde_json::{json, Map, Value};

const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$anchor",
    "additionalProperties",
    "unevaluatedProperties",
    "patternProperties",
    "dependencies",
    "default",
    "examples",
    "strict",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "contentEncoding",
    "contentMediaType",
];

/// Clean a schema for Gemini.
pub fn clean(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    walk(schema, &defs, 0)
}

fn walk(v: &Value, defs: &Map<String, Value>, depth: u32) -> Value {
    match v {
        Value::Object(o) => object(o, defs, depth),
        Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, defs, depth)).collect()),
        other => other.clone(),
    }
}

fn object(o: &Map<String, Value>, defs: &Map<String, Value>, depth: u32) -> Value {
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"));
        return match name.and_then(|n| defs.get(n)) {
            Some(target) if depth < 16 => walk(target, defs, depth + 1),
            _ => json!({"type": "object"}),
        };
    }
    let mut out = Map::new();
    for (k, x) in o {
        match k.as_str() {
            k if DROPPED.contains(&k) => {}
            "$defs" | "definitions" => {}
            "const" => {
                out.insert("enum".to_owned(), Value::Array(vec![x.clone()]));
            }
            "type" => match x {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types
                        .iter()
                        .filter(|t| t.as_str() != Some("null"))
                        .collect();
                    if non_null.len() < types.len() {
                        out.insert("nullable".to_owned(), Value::Bool(true));
                    }
                    if let Some(t) = non_null.first() {
                        out.insert("type".to_owned(), (*t).clone());
                    }
                }
                other => {
                    out.insert("type".to_owned(), other.clone());
                }
            },
            // Property names are data, not schema keywords: keep every name, clean each value.
            "properties" => {
                let props = x
                    .as_object()
                    .map(|p| {
                        p.iter()
                            .map(|(name, s)| (name.clone(), walk(s, defs, depth)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.to_owned(), Value::Object(props));
            }
            _ => {
                out.insert(k.to_owned(), walk(x, defs, depth));
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_inlines() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "default": {"type": "string", "default": "x"},
                "unit": {"const": "c"},
                "when": {"type": ["string", "null"]},
                "loc": {"$ref": "#/$defs/Loc"}
            },
            "$defs": {"Loc": {"type": "object", "additionalProperties": false,
                              "properties": {"city": {"type": "string"}}}}
        });
        let c = clean(&s);
        assert_eq!(
            c,
            json!({
                "type": "object",
                "properties": {
                    "default": {"type": "string"},
                    "unit": {"enum": ["c"]},
                    "when": {"type": "string", "nullable": true},
                    "loc": {"type": "object", "properties": {"city": {"type": "string"}}}
                }
            })
        );
    }
}
