//! The OpenAPI 3.1 document (`GET /openapi.json`), derived from the code: each handler's
//! `#[utoipa::path]` and the `ToSchema`/`IntoParams` types it reads and answers with, collected
//! by the routers that serve them (`crate::router`, `ingest::router`), so a route and its
//! documentation are one declaration. `tests/tests/openapi.rs` checks the router against the
//! document and validates it against the OpenAPI 3.1 schema.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use hookline_shared::openapi::{TenantErrors, security_schemes};
use hookline_shared::store::EventTypeDefinition;
use hookline_shared::web::{ApiError, AppState, ErrorBody, TenantAuth};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hookline",
        description = "Webhook delivery: publish events, manage endpoints, read the delivery log. Every error is \
                       `{\"code\", \"message\"}` (the `Error` schema), with `errors[]` naming each field of a 422."
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct Base;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, scheme) in security_schemes() {
            components.add_security_scheme(name, scheme);
        }
    }
}

/// The document as utoipa's model: this function's routes and ingest's `POST /v1/events`
/// (`hookline-dev` and API Gateway serve both under one origin).
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(Base::openapi())
        .merge(crate::router())
        .merge(ingest::router())
        .into_openapi()
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut document = serde_json::to_value(openapi()).unwrap_or_else(|_| json!({}));
    absent_not_null(&mut document);
    document["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    document["webhooks"] = json!({
        "event": {"post": {
            "summary": "An event, as delivered to an endpoint",
            "description": "Each tenant registers its own event types; GET /v1/openapi.json lists them here, each with its payload schema.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"2XX": {"description": "Delivered"}},
        }},
    });
    document
});

/// utoipa writes an optional body (`request_body = Option<T>`) as `required: false` with the
/// schema `T or null`; but an optional body is absent (or empty), never the JSON `null`, which
/// `OptionalJsonBody` refuses like any other wrong shape. Keeps `T` alone.
fn absent_not_null(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        // `get_mut`: indexing a `Value` mutably would add `"requestBody": null`.
        let Some(body) = operation.get_mut("requestBody") else { continue };
        if body["required"] == json!(true) {
            continue;
        }
        for media in body["content"].as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
            let schema = &mut media["schema"];
            let kept: Option<Vec<Value>> = schema["oneOf"]
                .as_array()
                .map(|choices| choices.iter().filter(|c| **c != json!({"type": "null"})).cloned().collect());
            if let Some([only]) = kept.as_deref() {
                *schema = only.clone();
            }
        }
    }
}

/// The document as served.
pub fn document() -> Value {
    DOCUMENT.clone()
}

/// Who may call an operation, by its `security`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    None,
    /// A tenant's API key (and, where listed, a portal session).
    ApiKey,
    Admin,
}

/// One operation of the document, for tests that try every route.
#[derive(Debug)]
pub struct Operation {
    /// Lower case, as in the document.
    pub method: &'static str,
    /// With `{param}` placeholders (axum's syntax is OpenAPI's).
    pub path: &'static str,
    pub auth: Auth,
}

/// Every operation of the served document.
pub fn operations() -> Vec<Operation> {
    let document: &'static Value = &DOCUMENT;
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let schemes: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|requirement| requirement.keys().map(String::as_str))
                .collect();
            let auth = if schemes.contains(&"adminToken") {
                Auth::Admin
            } else if schemes.contains(&"apiKey") {
                Auth::ApiKey
            } else {
                Auth::None
            };
            found.push(Operation { method: method.as_str(), path: path.as_str(), auth });
        }
    }
    found
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "get_openapi", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn serve() -> Json<Value> {
    Json(document())
}

/// How many bytes of schemas and examples the tenant's document inlines; past it, a type's
/// schema is a reference to `GET /v1/event-types/{name}` (whose `schema` field holds it), so
/// the document always fits a Lambda response (6 MB) whatever the catalogue's size.
const INLINE_BUDGET: usize = 4 * 1024 * 1024;

/// `GET /v1/openapi.json`: [`document`] with the tenant's catalogue under `webhooks`, one entry
/// per registered type with its payload schema and example. A static document cannot know a
/// tenant's types, hence this per-tenant one (read page by page, so memory stays bounded).
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "get_tenant_openapi", tag = "meta",
    summary = "This document with the tenant's event types under `webhooks`",
    security(("apiKey" = []), ("portalSession" = [])),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object), TenantErrors))]
pub async fn serve_tenant(State(state): State<AppState>, auth: TenantAuth) -> Result<Json<Value>, ApiError> {
    let tenant = auth.tenant();
    let mut webhooks = Map::new();
    let mut budget = INLINE_BUDGET;
    let mut after: Option<String> = None;
    loop {
        let page =
            state.store.list_event_types(tenant, hookline_shared::store::MAX_PAGE_SIZE, after.as_deref()).await?;
        for definition in &page.items {
            webhooks.insert(definition.name.to_string(), webhook(definition, &mut budget));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut document = document();
    document["webhooks"] = Value::Object(webhooks);
    Ok(Json(document))
}

/// One type as an OpenAPI webhook: the request Hookline sends for it.
fn webhook(definition: &EventTypeDefinition, budget: &mut usize) -> Value {
    let name = definition.name.as_str();
    let parse = |raw: &Option<Box<serde_json::value::RawValue>>| {
        raw.as_ref().and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
    };
    let size = definition.schema.as_ref().map_or(0, |s| s.get().len())
        + definition.example.as_ref().map_or(0, |e| e.get().len());
    let mut content = Map::new();
    if size <= *budget {
        *budget -= size;
        let mut schema = parse(&definition.schema).unwrap_or_else(|| json!({"type": "object"}));
        // The schema's own `#/…` references must resolve inside it, not against this document.
        if let Value::Object(fields) = &mut schema
            && !fields.contains_key("$id")
        {
            fields.insert("$id".into(), json!(format!("urn:hookline:event-type:{name}")));
        }
        content.insert("schema".into(), schema);
        if let Some(example) = parse(&definition.example) {
            content.insert("example".into(), example);
        }
    } else {
        content.insert("schema".into(), json!({"$ref": format!("/v1/event-types/{name}#/schema")}));
    }
    json!({"post": {
        "summary": name,
        "description": definition.description,
        "operationId": format!("webhook_{}", name.replace(['.', '-'], "_")),
        "requestBody": {"required": true, "content": {"application/json": content}},
        "responses": {"2XX": {"description": "Delivered"}},
    }})
}

#[cfg(test)]
mod tests {
    use hookline_shared::domain::EventType;
    use serde_json::value::RawValue;
    use time::OffsetDateTime;

    use super::*;

    fn definition(name: &str, schema: &str) -> EventTypeDefinition {
        EventTypeDefinition {
            name: EventType::parse(name).unwrap_or_else(|e| panic!("{e}")),
            description: String::new(),
            example: None,
            schema: RawValue::from_string(schema.to_owned()).ok(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn schemas_past_the_budget_become_references_to_the_type() {
        let schema = r#"{"type": "object", "required": ["id"]}"#;
        let mut budget = schema.len();
        let inlined = webhook(&definition("a.b", schema), &mut budget);
        let content = &inlined["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(content["schema"]["required"], json!(["id"]));
        assert_eq!(content["schema"]["$id"], "urn:hookline:event-type:a.b");
        assert_eq!(budget, 0);
        let referenced = webhook(&definition("c.d", schema), &mut budget);
        let content = &referenced["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(content["schema"], json!({"$ref": "/v1/event-types/c.d#/schema"}));
    }
}
