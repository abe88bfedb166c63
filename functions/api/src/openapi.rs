//! The OpenAPI 3.1 document (`GET /openapi.json`), generated from the operation table below.
//! `tests/tests/openapi.rs` checks the table against the routes the functions register, so a
//! route cannot be added or removed without the document following.

use axum::Json;
use axum::extract::State;
use hookline_shared::store::EventTypeDefinition;
use hookline_shared::web::{ApiError, AppState, TenantAuth};
use serde_json::{Map, Value, json};

#[derive(Clone, Copy)]
pub enum Auth {
    None,
    ApiKey,
    Admin,
}

/// One operation: method, path (axum's `{param}` syntax is OpenAPI's too), what it does, who
/// may call it, its request schema and its success status and schema.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    pub request: Option<&'static str>,
    pub status: u16,
    pub response: Option<&'static str>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    request: Option<&'static str>,
    status: u16,
    response: Option<&'static str>,
) -> Operation {
    Operation { method, path, summary, auth, request, status, response }
}

use Auth::{Admin, ApiKey};

pub const OPERATIONS: &[Operation] = &[
    op("get", "/health", "Liveness", Auth::None, None, 200, Some("Health")),
    op("get", "/openapi.json", "This document", Auth::None, None, 200, None),
    op("get", "/dashboard", "The dashboard (HTML; signs in with an API key)", Auth::None, None, 200, None),
    op("get", "/dashboard/app.js", "The dashboard's script", Auth::None, None, 200, None),
    op("get", "/dashboard/app.css", "The dashboard's stylesheet", Auth::None, None, 200, None),
    op(
        "post",
        "/v1/tenants",
        "Create a tenant and its first API key",
        Admin,
        Some("NewTenant"),
        201,
        Some("CreatedTenant"),
    ),
    op("get", "/v1/tenants", "List tenants", Admin, None, 200, Some("TenantPage")),
    op("get", "/v1/tenants/{id}", "Get a tenant", Admin, None, 200, Some("Tenant")),
    op(
        "patch",
        "/v1/tenants/{id}",
        "Rename a tenant or set its quotas",
        Admin,
        Some("TenantPatch"),
        200,
        Some("Tenant"),
    ),
    op("delete", "/v1/tenants/{id}", "Delete a tenant and its keys", Admin, None, 204, None),
    op(
        "post",
        "/v1/tenants/{id}/api-key/rotate",
        "Rotate the API key (the old one works for grace_seconds more: default 24 h, 0 revokes it)",
        Admin,
        Some("RotateKey"),
        200,
        Some("RotatedKey"),
    ),
    op(
        "get",
        "/v1/tenants/{id}/api-keys",
        "List a tenant's working keys (ids, never keys)",
        Admin,
        None,
        200,
        Some("ApiKeyList"),
    ),
    op("delete", "/v1/tenants/{id}/api-keys/{key_id}", "Revoke one API key at once", Admin, None, 204, None),
    op(
        "post",
        "/v1/tenants/{id}/suspend",
        "Suspend a tenant: keys refused (403), deliveries paused",
        Admin,
        None,
        200,
        Some("Tenant"),
    ),
    op("post", "/v1/tenants/{id}/resume", "Resume a suspended tenant", Admin, None, 200, Some("Tenant")),
    op(
        "post",
        "/v1/admin/dlq/redrive",
        "Move the dead-letter queue back to the deliveries queue",
        Admin,
        None,
        200,
        Some("Moved"),
    ),
    op("post", "/v1/event-types", "Register an event type", ApiKey, Some("NewEventType"), 201, Some("EventType")),
    op("get", "/v1/event-types", "List event types (limit, cursor)", ApiKey, None, 200, Some("EventTypePage")),
    op("get", "/v1/event-types/{name}", "Get an event type with its schema", ApiKey, None, 200, Some("EventType")),
    op(
        "patch",
        "/v1/event-types/{name}",
        "Change an event type's description, example or schema",
        ApiKey,
        Some("EventTypePatch"),
        200,
        Some("EventType"),
    ),
    op("delete", "/v1/event-types/{name}", "Remove an event type from the catalogue", ApiKey, None, 204, None),
    op(
        "get",
        "/v1/openapi.json",
        "This document with the tenant's event types under `webhooks`",
        ApiKey,
        None,
        200,
        None,
    ),
    op("post", "/v1/endpoints", "Create an endpoint", ApiKey, Some("NewEndpoint"), 201, Some("CreatedEndpoint")),
    op("get", "/v1/endpoints", "List endpoints", ApiKey, None, 200, Some("EndpointPage")),
    op("get", "/v1/endpoints/{id}", "Get an endpoint", ApiKey, None, 200, Some("Endpoint")),
    op("patch", "/v1/endpoints/{id}", "Update an endpoint", ApiKey, Some("EndpointPatch"), 200, Some("Endpoint")),
    op("delete", "/v1/endpoints/{id}", "Delete an endpoint", ApiKey, None, 204, None),
    op("get", "/v1/endpoints/{id}/secret", "Get the signing secret", ApiKey, None, 200, Some("Secret")),
    op(
        "get",
        "/v1/endpoints/{id}/attempts",
        "List an endpoint's attempts (since, until, status, cursor)",
        ApiKey,
        None,
        200,
        Some("AttemptPage"),
    ),
    op(
        "post",
        "/v1/endpoints/{id}/secret/rotate",
        "Rotate the signing secret",
        ApiKey,
        Some("RotateSecret"),
        200,
        Some("Secret"),
    ),
    op(
        "post",
        "/v1/endpoints/{id}/recover",
        "Re-enable and re-queue failed or paused deliveries",
        ApiKey,
        Some("Recover"),
        202,
        Some("Requeued"),
    ),
    op(
        "post",
        "/v1/endpoints/{id}/test",
        "Send a test event now and report the answer",
        ApiKey,
        Some("TestSend"),
        200,
        Some("TestReport"),
    ),
    op("post", "/v1/events", "Publish an event", ApiKey, Some("NewEvent"), 202, Some("Accepted")),
    op(
        "post",
        "/v1/events/batch",
        "Publish up to 100 events",
        ApiKey,
        Some("NewEventBatch"),
        207,
        Some("BatchResults"),
    ),
    op("get", "/v1/events", "List events, newest first", ApiKey, None, 200, Some("EventPage")),
    op("get", "/v1/events/{id}", "Get an event with its deliveries", ApiKey, None, 200, Some("Event")),
    op("get", "/v1/events/{id}/attempts", "List an event's attempts", ApiKey, None, 200, Some("AttemptList")),
    op(
        "get",
        "/v1/events/{id}/deliveries/{endpoint_id}/attempts",
        "List one delivery's attempts",
        ApiKey,
        None,
        200,
        Some("AttemptList"),
    ),
    op("delete", "/v1/events/{id}/payload", "Expunge an event's payload", ApiKey, None, 204, None),
    op(
        "post",
        "/v1/events/{id}/endpoints/{endpoint_id}/resend",
        "Send a delivery again",
        ApiKey,
        None,
        202,
        Some("Resent"),
    ),
    op(
        "post",
        "/v1/portal-sessions",
        "Mint a customer-portal session (API key only; read_only, metadata filter, ttl_seconds 60..=86400)",
        ApiKey,
        Some("NewPortalSession"),
        201,
        Some("PortalSession"),
    ),
    op("get", "/v1/session", "What the presented credential is and may do", ApiKey, None, 200, Some("Session")),
];

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let list = |item: &str| json!({"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}}});
    let page = |item: &str| {
        json!({"type": "object", "properties": {
        "data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
        "next_cursor": {"type": ["string", "null"]}}})
    };
    let retry = json!({"oneOf": [
        obj(json!({"strategy": {"const": "exponential"}, "initial_seconds": {"type": "integer"}, "max_seconds": {"type": "integer"}, "max_attempts": {"type": "integer"}}), &[]),
        obj(json!({"strategy": {"const": "linear"}, "interval_seconds": {"type": "integer"}, "max_attempts": {"type": "integer"}}), &[]),
        obj(json!({"strategy": {"const": "schedule"}, "schedule_seconds": {"type": "array", "items": {"type": "integer"}}}), &["schedule_seconds"]),
    ]});
    let new_event_batch = obj(
        json!({"events": {"type": "array", "minItems": 1, "maxItems": 100,
            "items": {"$ref": "#/components/schemas/NewEvent"}, "description": "at most 1 MB in all"}}),
        &["events"],
    );
    let item_error = obj(json!({"code": string, "message": string}), &["code", "message"]);
    let batch_item = obj(
        json!({"status": {"type": "integer", "description": "202, or the status the single route would answer"},
            "id": string, "deliveries": {"type": "integer"}, "error": item_error}),
        &["status"],
    );
    let batch_results = obj(
        json!({"results": {"type": "array", "description": "one per event, in order", "items": batch_item}}),
        &["results"],
    );
    let auth = json!({"oneOf": [
        obj(json!({"type": {"const": "none"}}), &["type"]),
        obj(json!({"type": {"const": "api_key"}, "header": string, "value": string}), &["type", "header", "value"]),
        obj(json!({"type": {"const": "basic"}, "username": string, "password": string}), &["type", "username"]),
        obj(json!({"type": {"const": "bearer"}, "token": string}), &["type", "token"]),
    ]});
    let endpoint_fields = json!({
        "url": {"type": "string", "format": "uri", "maxLength": 2048},
        "description": string,
        "event_types": {"type": "array", "items": string},
        "retry": retry,
        "method": {"enum": ["POST", "PUT", "PATCH", "DELETE", "GET"]},
        "auth": auth,
        "headers": {"type": "array", "maxItems": 5, "items": obj(json!({"name": string, "value": string}), &["name", "value"])},
        "metadata": {"type": "object", "additionalProperties": string},
        "timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 30000},
        "rate_limit_per_second": {"type": "integer", "minimum": 1},
        "rate_limit_key": {"type": "string", "description": "shares a limit; for chat formats, alone, it names the room (1/s)"},
        "disable_after_hours": {"type": ["integer", "null"], "minimum": 1, "maximum": 720},
        "format": {"enum": ["json", "xml", "form", "chime", "google_chat", "slack"]},
        "template": string,
        "query": {"type": "object", "additionalProperties": string},
        "thread_key": string,
        "cards": string,
        "sign": {"type": "boolean"},
        "envelope": {"enum": ["none", "standard"]},
        "delete_payload": {"enum": ["query", "body"]},
    });
    let mut endpoint = endpoint_fields.clone();
    if let Value::Object(fields) = &mut endpoint {
        fields.insert("id".into(), string.clone());
        fields.insert("status".into(), json!({"enum": ["active", "disabled"]}));
        fields.insert("disabled_reason".into(), json!({"type": ["string", "null"]}));
        fields.insert("created_at".into(), json!({"type": "string", "format": "date-time"}));
        // Header values are write-only, shown in the creation response only.
        fields.insert(
            "headers".into(),
            json!({"type": "array", "items": obj(json!({"name": string, "value": string}), &["name"])}),
        );
    }
    let mut patch = endpoint_fields.clone();
    if let Value::Object(fields) = &mut patch {
        fields.insert("enabled".into(), json!({"type": "boolean"}));
    }
    let delivery = obj(
        json!({"endpoint_id": string, "status": {"enum": ["pending", "delivered", "failed", "paused"]},
        "attempts": {"type": "integer"}, "last_error": {"type": ["string", "null"]}}),
        &[],
    );
    let attempt = obj(
        json!({"endpoint_id": string, "number": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
        "succeeded": {"type": "boolean"}, "response_status": {"type": ["integer", "null"]},
        "error": {"type": ["object", "null"], "properties": {"kind": {"enum": ["timeout", "connect", "dns", "tls", "blocked", "http_status", "render_too_large", "render_failed"]}, "message": string}},
        "latency_ms": {"type": "integer"}, "response_body": string, "truncated": {"type": "boolean"}, "test": {"type": "boolean"}}),
        &[],
    );
    // Each quota as enforced: `null` is no limit.
    let quotas = json!({"type": "object", "properties": {
        "max_endpoints": {"type": ["integer", "null"]},
        "events_per_minute": {"type": ["integer", "null"]},
        "replays_per_minute": {"type": ["integer", "null"]}}});
    let tenant = obj(
        json!({"id": string, "name": string, "created_at": string, "status": {"enum": ["active", "suspended"]}, "quotas": quotas}),
        &[],
    );
    let mut all = json!({
        "Error": obj(json!({"code": string, "message": string, "errors": {"type": "array", "items": obj(json!({"field": string, "message": string}), &["field", "message"])}}), &["code", "message"]),
        "Health": obj(json!({"status": string}), &["status"]),
        "NewTenant": obj(json!({"name": string}), &["name"]),
        "CreatedTenant": obj(json!({"id": string, "name": string, "api_key": string, "created_at": string, "status": string, "quotas": quotas}), &["id", "api_key"]),
        "Tenant": tenant,
        "TenantPage": page("Tenant"),
        "TenantPatch": obj(json!({"name": string, "quotas": {"type": "object"}}), &[]),
        "RotateKey": obj(json!({"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 604800}}), &[]),
        "RotatedKey": obj(json!({"id": string, "api_key": string, "previous_key_expires_at": {"type": ["string", "null"]}}), &["api_key"]),
        "ApiKey": obj(json!({"id": string, "created_at": string, "expires_at": {"type": ["string", "null"]}}), &["id", "created_at"]),
        "ApiKeyList": list("ApiKey"),
        "Moved": obj(json!({"moved": {"type": "integer"}, "skipped": {"type": "integer"}, "empty": {"type": "boolean"}}), &["moved"]),
        "Resent": obj(json!({"event_id": string, "endpoint_id": string, "attempt": {"type": "integer"}}), &["event_id", "endpoint_id", "attempt"]),
        "NewEventType": obj(json!({"name": string, "description": {"type": "string", "maxLength": 1000},
            "example": {"type": "object", "description": "at most 16 KB"},
            "schema": {"type": "object", "description": "a JSON Schema 2020-12 for the payload, at most 32 KB, self-contained"}}), &["name"]),
        "EventType": obj(json!({"name": string, "description": string, "example": {"type": ["object", "null"]},
            "schema": {"type": ["object", "null"]}, "created_at": {"type": "string", "format": "date-time"}}), &["name"]),
        "EventTypePatch": obj(json!({"description": string, "example": {"type": ["object", "null"]}, "schema": {"type": ["object", "null"]}}), &[]),
        "EventTypePage": page("EventType"),
        "NewEndpoint": {"type": "object", "properties": endpoint_fields, "required": ["url"]},
        "EndpointPatch": {"type": "object", "properties": patch},
        "Endpoint": {"type": "object", "properties": endpoint},
        "CreatedEndpoint": {"allOf": [{"$ref": "#/components/schemas/Endpoint"}, obj(json!({"secret": string}), &["secret"])]},
        "EndpointPage": page("Endpoint"),
        "Secret": obj(json!({"secret": string, "previous_secret": {"type": ["string", "null"]}, "previous_secret_expires_at": {"type": ["string", "null"]}}), &["secret"]),
        "RotateSecret": obj(json!({"grace_seconds": {"type": "integer", "maximum": 604800}}), &[]),
        "Recover": obj(json!({"since": {"type": "string", "format": "date-time"}, "until": {"type": "string", "format": "date-time"}}), &["since"]),
        "Requeued": obj(json!({"requeued": {"type": "integer"}, "recently_recovered": {"type": "integer"}, "reenabled": {"type": "boolean"}}), &["requeued"]),
        "TestSend": obj(json!({"event_type": string, "check_auth": {"type": "boolean"},
            "payload": {"type": "object", "description": "sent instead of the type's example"},
            "query": {"type": "object", "additionalProperties": string, "description": "instead of the endpoint's, this send only"},
            "headers": {"type": "array", "maxItems": 5, "items": obj(json!({"name": string, "value": string}), &["name", "value"]),
                "description": "instead of the endpoint's custom headers, this send only"}}), &[]),
        "TestReport": obj(json!({"event_id": string, "succeeded": {"type": "boolean"}, "response": {"type": "object"}, "auth_check": {"type": "object"}}), &[]),
        "NewEvent": obj(json!({"event_type": string, "payload": {"type": "object"}, "idempotency_key": string}), &["event_type", "payload"]),
        "Accepted": obj(json!({"id": string, "deliveries": {"type": "integer"}}), &["id", "deliveries"]),
        "Delivery": delivery,
        "Event": obj(json!({"id": string, "event_type": string, "payload": {"type": ["object", "null"]}, "created_at": string,
            "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}), &["id"]),
        "EventPage": page("Event"),
        "Attempt": attempt,
        "AttemptList": list("Attempt"),
        "AttemptPage": page("Attempt"),
    });
    if let (Value::Object(all), Value::Object(portal)) = (&mut all, portal_schemas()) {
        all.extend(portal);
    }
    // Apart from the map above, which is at `json!`'s recursion limit.
    all["NewEventBatch"] = new_event_batch;
    all["BatchResults"] = batch_results;
    all
}

/// Customer-portal sessions (`functions/api/src/portal.rs`).
fn portal_schemas() -> Value {
    let string = json!({"type": "string"});
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    json!({
        "NewPortalSession": obj(json!({"read_only": {"type": "boolean"}, "metadata": {"type": ["object", "null"], "additionalProperties": string},
            "ttl_seconds": {"type": "integer", "minimum": 60, "maximum": 86400}}), &[]),
        "PortalSession": obj(json!({"token": string, "url": string, "expires_at": {"type": "string", "format": "date-time"},
            "read_only": {"type": "boolean"}, "metadata": {"type": ["object", "null"], "additionalProperties": string}}), &["token", "url", "expires_at"]),
        "Session": obj(json!({"tenant_id": string, "kind": {"enum": ["api_key", "portal"]}, "read_only": {"type": "boolean"},
            "metadata": {"type": ["object", "null"], "additionalProperties": string}, "expires_at": {"type": ["string", "null"], "format": "date-time"}}), &["tenant_id", "kind"]),
    })
}

/// Builds the document from [`OPERATIONS`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{}_{}", op.method, op.path.trim_start_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
            "responses": {"default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        });
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            operation["parameters"] = json!(params);
        }
        match op.auth {
            Auth::None => operation["security"] = json!([]),
            Auth::ApiKey => operation["security"] = json!([{"apiKey": []}]),
            Auth::Admin => operation["security"] = json!([{"adminToken": []}]),
        }
        if let Some(request) = op.request {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{request}")}}}});
        }
        let mut success = json!({"description": op.summary});
        if let Some(response) = op.response {
            success["content"] =
                json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}});
        }
        operation["responses"][op.status.to_string()] = success;
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hookline",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Webhook delivery: publish events, manage endpoints, read the delivery log. Every error is {\"code\", \"message\"}.",
        },
        "paths": paths,
        "webhooks": {
            "event": {"post": {
                "summary": "An event, as delivered to an endpoint",
                "description": "Each tenant registers its own event types; GET /v1/openapi.json lists them here, each with its payload schema.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"2XX": {"description": "Delivered"}},
            }},
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A tenant's API key (hk_…), or a customer-portal session (hps_…) limited to its endpoints"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "The deployment's admin token"},
            },
            "schemas": schemas(),
        },
    })
}

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
pub async fn serve_tenant(State(state): State<AppState>, auth: TenantAuth) -> Result<Json<Value>, ApiError> {
    let tenant = auth.tenant();
    let mut webhooks = Map::new();
    let mut budget = INLINE_BUDGET;
    let mut cursor = None;
    loop {
        let page = state.store.list_event_types(tenant, hookline_shared::store::MAX_PAGE_SIZE, cursor.as_ref()).await?;
        for definition in &page.items {
            webhooks.insert(definition.name.to_string(), webhook(definition, &mut budget));
        }
        match page.next_cursor.map(|c| hookline_shared::store::Cursor::parse(&c)) {
            Some(Ok(next)) => cursor = Some(next),
            _ => break,
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
