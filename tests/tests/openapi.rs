//! The OpenAPI document is derived from the routers (`api::router`, `ingest::router`). These
//! tests check what derivation alone cannot promise: that nothing was routed around it, that
//! the document is valid OpenAPI 3.1, and that it says what the code enforces.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::Path;

use hookline_tests::Hookline;
use serde_json::{Value, json};

/// The paths a router matches, read from its `Debug` output (axum prints each route's path as
/// `RouteId(n): "/path"`, its routes before its fallbacks); there is no other way to list them.
fn router_paths(router: &axum::Router<hookline_shared::web::AppState>) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let routes = debug.split("fallback_router:").next().unwrap();
    let mut paths = BTreeSet::new();
    for chunk in routes.split("RouteId(").skip(1) {
        if let Some(rest) = chunk.split_once("): \"").map(|(_, rest)| rest) {
            paths.insert(rest.split('"').next().unwrap().to_owned());
        }
    }
    paths
}

fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

/// The path with every `{param}` filled in, so it matches its route.
fn concrete(path: &str) -> String {
    path.split('/').map(|segment| if segment.starts_with('{') { "x" } else { segment }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_operations() {
    let document = api::openapi::document();
    let operations = documented(&document);
    let router = ingest::routes().merge(api::routes());
    let paths = router_paths(&router);
    assert!(paths.contains("/v1/events") && paths.contains("/health"), "the router's Debug output changed: {paths:?}");
    let documented_paths: BTreeSet<String> = operations.iter().map(|(_, path)| path.clone()).collect();
    assert_eq!(paths, documented_paths, "the router's paths and the document's differ");

    // Every method on every path: a documented one reaches its handler (no 405, no route 404),
    // any other is a 405. Nothing here is authenticated, so no handler does any work.
    let hookline = Hookline::start().await;
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];
    for path in &paths {
        for method in methods {
            let url = format!("{}{}", hookline.url, concrete(path));
            let response = hookline
                .http
                .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if operations.contains(&(method.to_owned(), path.clone())) {
                assert!(status != 405 && !body.contains("route not found"), "{method} {path}: {status} {body}");
            } else {
                assert_eq!(status, 405, "{method} {path} is routed but not documented: {body}");
            }
        }
    }
}

#[tokio::test]
async fn the_served_document_validates_against_the_openapi_3_1_schema() {
    let hookline = Hookline::start().await;
    let (status, served) = hookline.call("GET", "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, api::openapi::document());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let validator = root.join(".venv/bin/openapi-spec-validator");
    assert!(validator.exists(), "{} is missing: run `make venv` (make test does)", validator.display());
    let file = std::env::temp_dir().join(format!("hookline-openapi-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&served).unwrap()).unwrap();
    let output = std::process::Command::new(&validator).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    // It quotes the whole document on some errors: the start says what is wrong.
    let said: String = said.chars().take(2000).collect();
    assert!(output.status.success(), "openapi-spec-validator refused the document: {said}");
    assert!(said.contains("OK"), "{said}");
}

/// The schema a `$ref` points at.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => &document["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

fn query_parameters(document: &Value, path: &str) -> BTreeSet<String> {
    document["paths"][path]["get"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_document_says_what_the_handlers_read_and_answer() {
    let document = api::openapi::document();
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    // Query parameters, as each handler reads them.
    assert_eq!(
        query_parameters(&document, "/v1/events"),
        names(&["event_type", "since", "until", "status", "limit", "cursor"])
    );
    assert_eq!(query_parameters(&document, "/v1/endpoints"), names(&["limit", "cursor", "status", "event_type"]));
    assert_eq!(
        query_parameters(&document, "/v1/endpoints/{id}/attempts"),
        names(&["since", "until", "status", "limit", "cursor"])
    );
    assert_eq!(query_parameters(&document, "/v1/events/{id}/attempts"), names(&["endpoint_id"]));
    for list in ["/v1/tenants", "/v1/event-types"] {
        assert_eq!(query_parameters(&document, list), names(&["limit", "cursor"]), "{list}");
    }
    // The event listing holds summaries (no payload), as the handler returns.
    let page = resolve(
        &document,
        &document["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let item = resolve(&document, &page["properties"]["data"]["items"]);
    assert!(
        item["properties"].get("delivery_count").is_some() && item["properties"].get("payload").is_none(),
        "{item}"
    );
    // Fields the hand-kept table had lost.
    let schemas = &document["components"]["schemas"];
    for (schema, field) in [
        ("Attempt", "response_body_base64"),
        ("Attempt", "response_headers"),
        ("Delivery", "last_attempt_at"),
        ("Delivery", "next_attempt_at"),
        ("EndpointView", "health"),
    ] {
        let text = schemas[schema].to_string();
        assert!(text.contains(&format!("\"{field}\"")), "{schema} lacks {field}: {text}");
    }
    // Limits, as the code enforces them.
    let request = &schemas["NewEndpointRequest"]["properties"];
    let max_rate = hookline_shared::domain::MAX_RATE_LIMIT_PER_SECOND;
    assert_eq!(request["rate_limit_per_second"]["maximum"], json!(max_rate));
    assert_eq!(request["timeout_ms"]["maximum"], json!(hookline_shared::domain::MAX_TIMEOUT_MS));
    assert_eq!(schemas["NewTenantRequest"]["properties"]["name"]["maxLength"], json!(200));
    // Bodies that may be empty are not required; the others are.
    for (method, path) in [
        ("post", "/v1/tenants/{id}/api-key/rotate"),
        ("post", "/v1/endpoints/{id}/secret/rotate"),
        ("post", "/v1/portal-sessions"),
    ] {
        let body = &document["paths"][path][method]["requestBody"];
        assert_ne!(body["required"], json!(true), "{method} {path}: {body}");
        assert!(!body.to_string().contains("\"null\""), "an empty body is absent, not null: {body}");
    }
    assert_eq!(document["paths"]["/v1/events"]["post"]["requestBody"]["required"], json!(true));
    // Error codes: the `Error` schema's `code` lists every `ErrorCode`.
    let code = resolve(&document, &schemas["Error"]["properties"]["code"]);
    let codes: BTreeSet<&str> = code["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let all: BTreeSet<&str> = hookline_shared::web::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all);
    // Error responses: every operation that authenticates documents its 401 as an `Error`.
    for op in api::openapi::operations() {
        if op.auth != api::openapi::Auth::None {
            let unauthorized = &document["paths"][op.path][op.method]["responses"]["401"];
            assert_eq!(
                unauthorized["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{op:?}"
            );
        }
    }
}

#[test]
fn every_link_names_an_operation_and_its_parameters() {
    let document = api::openapi::document();
    let mut by_id = std::collections::BTreeMap::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(by_id.insert(id.clone(), operation.clone()).is_none(), "operationId {id} is not unique");
        }
    }
    let mut links = 0;
    for (id, operation) in &by_id {
        for response in operation["responses"].as_object().unwrap().values() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap_or_else(|| panic!("{id}: link {name}: {link}"));
                let target = by_id.get(target).unwrap_or_else(|| panic!("{id}: link {name} names no operation"));
                let parameters: BTreeSet<&str> = target["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    assert!(parameters.contains(parameter.as_str()), "{id}: link {name} passes unknown {parameter}");
                }
                links += 1;
            }
        }
    }
    // Creating an endpoint leads to its reads and changes; publishing an event to the event.
    for (id, to) in [
        ("create_endpoint", "get_endpoint"),
        ("create_endpoint", "delete_endpoint"),
        ("create_event", "get_event"),
        ("create_event", "list_event_attempts"),
        ("create_tenant", "get_tenant"),
    ] {
        let responses = by_id[id]["responses"].as_object().unwrap();
        assert!(
            responses
                .values()
                .any(|r| r["links"].as_object().is_some_and(|l| l.values().any(|l| l["operationId"] == to))),
            "{id} has no link to {to}"
        );
    }
    assert!(links >= 20, "{links} links");
}

#[tokio::test]
async fn the_tenant_document_is_the_document_with_its_event_types() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (status, _) = hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.created"})).await;
    assert_eq!(status, 201);
    let (status, mut served) = hookline.get("/v1/openapi.json", &tenant.key).await;
    assert_eq!(status, 200);
    assert!(served["webhooks"].get("order.created").is_some(), "{}", served["webhooks"]);
    served["webhooks"] = api::openapi::document()["webhooks"].clone();
    assert_eq!(served, api::openapi::document());
}
