//! An event type's payload schema: JSON Schema 2020-12, checked when registered and used by
//! ingest to refuse payloads that don't match.
//!
//! `jsonschema` is built without its `resolve-http` and `resolve-file` features, so a `$ref` to
//! anything outside the schema itself fails when the schema is registered: nothing is ever
//! fetched from the network or the disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use sha2::Digest;

use super::FieldError;

/// The largest schema a type may carry (with a 16 KB example, a page of 100 types fits a
/// Lambda response).
pub const MAX_SCHEMA_BYTES: usize = 32 * 1024;
/// The one dialect accepted, in `$schema` (which may also be left out).
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
/// How many failing paths a refusal lists.
const MAX_REPORTED: usize = 20;
/// Compiled schemas kept per process (keyed by the schema's bytes), so ingest compiles each
/// schema once rather than per event.
const CACHE_ENTRIES: usize = 256;

/// A compiled payload schema.
pub struct PayloadSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for PayloadSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayloadSchema")
    }
}

type Cache = Mutex<HashMap<[u8; 32], Arc<PayloadSchema>>>;

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

impl PayloadSchema {
    /// Checks a schema as registered (its JSON text): at most [`MAX_SCHEMA_BYTES`], an object,
    /// the 2020-12 dialect, valid against its meta-schema, and self-contained.
    pub fn parse(source: &str) -> Result<Self, String> {
        if source.len() > MAX_SCHEMA_BYTES {
            return Err(format!("a schema has at most {} KB", MAX_SCHEMA_BYTES / 1024));
        }
        let schema: Value = serde_json::from_str(source).map_err(|e| format!("not JSON: {e}"))?;
        if !schema.is_object() {
            return Err("a schema is a JSON object".to_owned());
        }
        match schema.get("$schema") {
            None => {}
            Some(Value::String(dialect)) if dialect.trim_end_matches('#') == DIALECT => {}
            Some(_) => return Err(format!("only JSON Schema 2020-12 is supported: `$schema` must be `{DIALECT}`")),
        }
        let validator = jsonschema::draft202012::options()
            .build(&schema)
            .map_err(|e| format!("not a valid JSON Schema 2020-12: {}", e.masked()))?;
        Ok(Self { validator })
    }

    /// The compiled form of a stored schema, compiled once per process.
    pub fn cached(source: &str) -> Result<Arc<Self>, String> {
        let key: [u8; 32] = sha2::Sha256::digest(source.as_bytes()).into();
        if let Some(schema) = cache().lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return Ok(schema.clone());
        }
        let schema = Arc::new(Self::parse(source)?);
        let mut cache = cache().lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, schema.clone());
        Ok(schema)
    }

    /// Every place where `payload` breaks the schema (at most 20), named `payload` followed by
    /// the JSON Pointer of the failing value (`payload/items/0/sku`); none if it matches.
    pub fn check(&self, payload: &Value, field: &str) -> Vec<FieldError> {
        self.validator
            .iter_errors(payload)
            .take(MAX_REPORTED)
            .map(|e| FieldError::new(format!("{field}{}", e.instance_path().as_str()), e.masked().to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ORDER: &str = r##"{
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["id", "items"],
        "properties": {
            "id": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}
        },
        "$defs": {"item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}}
    }"##;

    #[test]
    fn a_matching_payload_passes_and_a_bad_one_names_each_failing_path() {
        let schema = PayloadSchema::parse(ORDER).unwrap();
        assert!(schema.check(&json!({"id": 1, "items": [{"sku": "a"}]}), "payload").is_empty());
        let errors = schema.check(&json!({"id": "one", "items": [{"sku": "a"}, {"sku": 2}, {}]}), "payload");
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["payload/id", "payload/items/1/sku", "payload/items/2"]);
        let root = schema.check(&json!({"id": 1}), "payload");
        assert_eq!(root.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["payload"]);
    }

    #[test]
    fn only_self_contained_2020_12_schemas_are_accepted() {
        for bad in [
            r#"{"type": "nonsense"}"#,
            r##"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}"##,
            r#"{"$ref": "https://example.com/schemas/order.json"}"#,
            r#"{"$ref": "file:///etc/passwd"}"#,
            r#"[{"type": "object"}]"#,
            "true",
            "{",
        ] {
            assert!(PayloadSchema::parse(bad).is_err(), "{bad}");
        }
        let big = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        assert!(PayloadSchema::parse(&big).unwrap_err().contains("32 KB"));
        assert!(PayloadSchema::parse(r##"{"$schema": "https://json-schema.org/draft/2020-12/schema#"}"##).is_ok());
    }

    #[test]
    fn the_cache_returns_the_same_compiled_schema() {
        let a = PayloadSchema::cached(ORDER).unwrap();
        let b = PayloadSchema::cached(ORDER).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(PayloadSchema::cached(r#"{"type": 3}"#).is_err());
    }
}
