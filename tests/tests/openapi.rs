//! The OpenAPI document and the routes cannot drift: every route the functions register is in
//! the document with its method, and every documented operation is a route.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::Path;

use hookline_tests::Hookline;
use serde_json::Value;

/// (method, path) of every `.route("path", get(..).post(..))` in a router's source.
fn routes_in(source: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_owned();
        let end = chunk.find("\n        .route(").or_else(|| chunk.find("\n}")).unwrap_or(chunk.len());
        let call = &chunk[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let pattern = format!("{method}(");
            let mut rest = call;
            while let Some(at) = rest.find(&pattern) {
                let before = rest[..at].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    found.insert((method.to_owned(), path.clone()));
                }
                rest = &rest[at + pattern.len()..];
            }
        }
    }
    found
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut registered = BTreeSet::new();
    for file in ["functions/api/src/lib.rs", "functions/ingest/src/lib.rs"] {
        registered.extend(routes_in(&std::fs::read_to_string(root.join(file)).unwrap()));
    }
    assert!(registered.contains(&("post".to_owned(), "/v1/events".to_owned())));
    let document = api::openapi::document();
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&registered).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(phantom.is_empty(), "documented operations with no route: {phantom:?}");
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push(v.as_str().unwrap().to_owned());
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_served_as_openapi_3_1_with_every_reference_resolved() {
    let hookline = Hookline::start().await;
    let (status, served) = hookline.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, api::openapi::document());
    let mut all = Vec::new();
    refs(&served, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        assert!(served["components"]["schemas"].get(name).is_some(), "{reference} does not resolve");
    }
    assert_eq!(served["paths"]["/v1/events"]["post"]["security"][0]["apiKey"], serde_json::json!([]));
}
