//! Every answer the harness receives is compared with what `GET /openapi.json` documents for
//! its operation and status, so an end-to-end test fails when the document and the code drift
//! apart, whatever the test itself asserts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

/// The OpenAPI document of a running Hookline, with each response schema compiled on first use.
pub struct Document {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Document {
    pub fn new(document: Value) -> Self {
        Self { document, validators: Mutex::default() }
    }

    /// The operation `method path` (query string ignored) belongs to: its path template and
    /// definition. The template with the most literal segments wins, as routers choose.
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let method = method.to_ascii_lowercase();
        let mut best: Option<(usize, &str, &Value)> = None;
        for (template, item) in self.document["paths"].as_object()? {
            let Some(operation) = item.get(&method) else { continue };
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let literal = |p: &str| !(p.starts_with('{') && p.ends_with('}'));
            let matches = parts.iter().zip(&segments).all(|(p, s)| !literal(p) || p == s);
            let score = parts.iter().filter(|p| literal(p)).count();
            if matches && best.is_none_or(|(b, _, _)| score > b) {
                best = Some((score, template, operation));
            }
        }
        best.map(|(_, template, operation)| (template, operation))
    }

    /// Checks one answer. `Ok` also when the document has no operation for the request (an
    /// unknown route's 404 is the router's, not an operation's).
    pub fn check(&self, method: &str, path: &str, status: u16, content_type: &str, body: &[u8]) -> Result<(), String> {
        let Some((template, operation)) = self.operation(method, path) else { return Ok(()) };
        let responses = &operation["responses"];
        let class = format!("{}XX", status / 100);
        let Some((key, response)) = [status.to_string(), class, "default".to_owned()]
            .into_iter()
            .find_map(|key| responses.get(&key).map(|r| (key, r)))
        else {
            return Err(format!("status {status} is not documented for {method} {template}"));
        };
        let response = self.resolve(response);
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{method} {template} documents no body for {key}, but one came"))
            };
        };
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let Some(documented) = content.get(media) else {
            let listed: Vec<&String> = content.keys().collect();
            return Err(format!("{method} {template} {key}: content type `{media}` is not one of {listed:?}"));
        };
        let Some(schema) = documented.get("schema") else { return Ok(()) };
        if media != "application/json" {
            return Ok(());
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("{method} {template} {key}: not JSON: {e}"))?;
        let validator = self.validator(&format!("{method} {template} {key}"), schema)?;
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("at `{}`: {}", e.instance_path(), e)).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{method} {template} {key} does not match its schema:\n  {}", errors.join("\n  ")))
        }
    }

    /// A response given as `{"$ref": "#/components/responses/…"}` is the one it names.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => self.document.pointer(pointer).unwrap_or(value),
            None => value,
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(validator) = cache.get(key) {
            return Ok(validator.clone());
        }
        // The schema's `#/components/…` references resolve against a root that carries the
        // document's components beside it.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.document["components"],
        });
        let validator = jsonschema::draft202012::options()
            .build(&root)
            .map_err(|e| format!("{key}: the documented schema does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(key.to_owned(), validator.clone());
        Ok(validator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Document {
        Document::new(json!({
            "paths": {
                "/v1/things/{id}": {"get": {"responses": {
                    "200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                    "404": {"$ref": "#/components/responses/NotFound"},
                }}},
                "/v1/things/special": {"get": {"responses": {"204": {"description": ""}}}},
            },
            "components": {
                "schemas": {
                    "Thing": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                    "Error": {"type": "object", "required": ["code", "message"]},
                },
                "responses": {"NotFound": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            },
        }))
    }

    #[test]
    fn answers_are_judged_by_their_operation_and_status() {
        let doc = document();
        let json = "application/json";
        assert_eq!(doc.check("GET", "/v1/things/t1?x=1", 200, json, br#"{"id":"t1"}"#), Ok(()));
        assert!(doc.check("GET", "/v1/things/t1", 200, json, br#"{"id":1}"#).unwrap_err().contains("/id"));
        assert!(doc.check("GET", "/v1/things/t1", 200, "text/plain", b"t1").is_err());
        assert_eq!(doc.check("GET", "/v1/things/t1", 404, json, br#"{"code":"not_found","message":"no"}"#), Ok(()));
        assert!(doc.check("GET", "/v1/things/t1", 404, json, br#"{"message":"no"}"#).is_err());
        assert!(doc.check("GET", "/v1/things/t1", 500, json, br#"{}"#).unwrap_err().contains("not documented"));
        // The literal route wins over the template.
        assert_eq!(doc.check("GET", "/v1/things/special", 204, "", b""), Ok(()));
        assert!(doc.check("GET", "/v1/things/special", 204, json, b"{}").is_err());
        // Not an operation of the document: not judged here.
        assert_eq!(doc.check("POST", "/v1/things/t1", 405, json, b"{}"), Ok(()));
    }
}
