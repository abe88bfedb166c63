//! A tenant's event catalogue. Once a tenant registers any type, `POST /v1/events` accepts
//! only those types; a type with a `schema` (JSON Schema 2020-12) accepts only payloads that
//! match it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{EventType, FieldError, Invalid, PayloadSchema, check_payload};
use hookline_shared::edge::{Limit, List as Listed, Lister, Page, PageQuery};
use hookline_shared::openapi::{BodyErrors, NotFound, QueryErrors, TenantErrors, WriteConflict};
use hookline_shared::store::{
    EventTypeChanged, EventTypeCreated, EventTypeDefinition, MAX_EVENT_TYPES, MAX_EXAMPLE_BYTES,
};
use hookline_shared::web::{ApiError, AppState, ErrorBody, ErrorCode, JsonBody, PathParams, Query, TenantAuth};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;

const TAG: &str = "event types";

const MAX_DESCRIPTION_LEN: usize = 1000;

/// The request body of `POST /v1/event-types`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventTypeRequest {
    #[schema(value_type = EventType)]
    name: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// An example payload: a JSON object of at most 16 KB, matching `schema`. Test sends use it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    example: Option<Box<RawValue>>,
    /// A self-contained JSON Schema (2020-12) for the payload, at most 32 KB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    schema: Option<Box<RawValue>>,
}

/// Checks a type's description, example and schema together (the example must match the
/// schema), adding every problem to `errors`. `"example": null` and `"schema": null` are the
/// same as none.
fn check_contents(
    description: &str,
    example: Option<Box<RawValue>>,
    schema: Option<Box<RawValue>>,
    errors: &mut Vec<FieldError>,
) -> (Option<Box<RawValue>>, Option<Box<RawValue>>) {
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError::new("description", format!("at most {MAX_DESCRIPTION_LEN} characters")));
    }
    let example = example.filter(|e| e.get() != "null");
    if let Some(e) = &example {
        if !e.get().starts_with('{') {
            errors.push(FieldError::new("example", "an example payload is a JSON object"));
        } else if e.get().len() > MAX_EXAMPLE_BYTES {
            errors.push(FieldError::new("example", format!("at most {} KB", MAX_EXAMPLE_BYTES / 1024)));
        } else if let Err(message) = check_payload(e.get()) {
            // A test send delivers the example: it must be a payload ingest would accept.
            errors.push(FieldError::new("example", message));
        }
    }
    let schema = schema.filter(|s| s.get() != "null");
    let compiled = match schema.as_ref().map(|s| PayloadSchema::parse(s.get())).transpose() {
        Ok(compiled) => compiled,
        Err(message) => {
            errors.push(FieldError::new("schema", message));
            None
        }
    };
    if let (Some(compiled), Some(example)) = (&compiled, &example)
        && let Ok(value) = serde_json::from_str::<Value>(example.get())
    {
        errors.extend(compiled.check(&value, "example"));
    }
    (example, schema)
}

/// Register an event type.
#[utoipa::path(post, path = "/v1/event-types", operation_id = "create_event_type", tag = TAG,
    security(("apiKey" = [])), request_body = NewEventTypeRequest,
    responses((status = 201, description = "Registered", body = EventTypeDefinition, links(
        ("get_event_type" = (operation_id = "get_event_type", parameters(("name" = "$response.body#/name")))),
        ("update_event_type" = (operation_id = "update_event_type", parameters(("name" = "$response.body#/name")))),
        ("delete_event_type" = (operation_id = "delete_event_type", parameters(("name" = "$response.body#/name")))),
    )),
        (status = 409, description = "`event_type_exists`, or `event_type_limit` (1000 types), or `conflict` (the item changed while the request ran)", body = ErrorBody),
        TenantErrors, BodyErrors))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    JsonBody(request): JsonBody<NewEventTypeRequest>,
) -> Result<(StatusCode, Json<EventTypeDefinition>), ApiError> {
    // Event types are the sender's vocabulary, shared by all its customers.
    let tenant = auth.tenant_wide()?;
    let mut errors = Vec::new();
    let name = EventType::parse(&request.name).map_err(|m| errors.push(FieldError::new("name", m))).ok();
    if name.as_ref().is_some_and(EventType::is_reserved) {
        errors.push(FieldError::new(
            "name",
            "`hookline.…` event types are Hookline's operational events: endpoints subscribe to them without registering",
        ));
    }
    let description = request.description.unwrap_or_default();
    let (example, schema) = check_contents(&description, request.example, request.schema, &mut errors);
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(Invalid(errors).into());
    };
    let definition = EventTypeDefinition { name, description, example, schema, created_at: OffsetDateTime::now_utc() };
    match state.store.create_event_type(tenant, &definition).await? {
        EventTypeCreated::Created => {
            tracing::info!(tenant_id = %tenant, event_type = %definition.name, "event type registered");
            Ok((StatusCode::CREATED, Json(definition)))
        }
        EventTypeCreated::AlreadyExists => Err(ApiError::Conflict {
            code: ErrorCode::EventTypeExists,
            message: format!("the event type `{}` is already registered", definition.name),
        }),
        EventTypeCreated::LimitReached => Err(ApiError::Conflict {
            code: ErrorCode::EventTypeLimit,
            message: format!("a tenant can register at most {MAX_EVENT_TYPES} event types"),
        }),
    }
}

/// `GET /v1/event-types?limit&cursor`: a page of registered types, by name (at most 100, and
/// fewer when their examples and schemas would make the answer too large).
#[utoipa::path(get, path = "/v1/event-types", operation_id = "list_event_types", tag = TAG,
    summary = "List event types by name, with their examples and schemas", security(("apiKey" = []), ("portalSession" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of event types", body = Page<EventTypeDefinition>),
        TenantErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<EventTypeDefinition>>, ApiError> {
    let lister = Lister::new(Listed::EventTypes, &[auth.tenant().as_str()]);
    let after = lister.open(query.cursor.as_ref())?;
    let page = state.store.list_event_types(auth.tenant(), Limit::of(query.limit), after.as_deref()).await?;
    Ok(Json(lister.page(page.items, page.next.as_deref())))
}

/// Get an event type with its schema.
#[utoipa::path(get, path = "/v1/event-types/{name}", operation_id = "get_event_type", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(("name" = EventType, Path)),
    responses((status = 200, description = "The event type", body = EventTypeDefinition), TenantErrors, NotFound))]
pub async fn get(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(name): PathParams<EventType>,
) -> Result<Json<EventTypeDefinition>, ApiError> {
    let definition = state.store.get_event_type(auth.tenant(), &name).await?.ok_or(ApiError::NotFound("event type"))?;
    Ok(Json(definition))
}

/// The request body of `PATCH /v1/event-types/{name}`: any of the three, `null` clears the
/// example or the schema. The name is the type's identity and cannot change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    #[serde(default)]
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// As at registration; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    example: Option<Option<Box<RawValue>>>,
    /// As at registration; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    schema: Option<Option<Box<RawValue>>>,
}

/// A field that was given, even as `null` (`Some(None)`), unlike one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Box<RawValue>>>, D::Error> {
    Option::<Box<RawValue>>::deserialize(d).map(Some)
}

/// Change an event type's description, example or schema.
#[utoipa::path(patch, path = "/v1/event-types/{name}", operation_id = "update_event_type", tag = TAG,
    security(("apiKey" = [])), params(("name" = EventType, Path)), request_body = EventTypePatch,
    responses((status = 200, description = "The event type as changed", body = EventTypeDefinition),
        TenantErrors, BodyErrors, NotFound, WriteConflict))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(name): PathParams<EventType>,
    JsonBody(patch): JsonBody<EventTypePatch>,
) -> Result<Json<EventTypeDefinition>, ApiError> {
    // The catalogue is the sender's, shared by all its customers.
    let tenant = auth.tenant_wide()?;
    let current = state.store.get_event_type(tenant, &name).await?.ok_or(ApiError::NotFound("event type"))?;
    let mut errors = Vec::new();
    // A field left out keeps its value; `null` clears it.
    let description = patch.description.unwrap_or(current.description);
    let example = patch.example.unwrap_or(current.example);
    let schema = patch.schema.unwrap_or(current.schema);
    let (example, schema) = check_contents(&description, example, schema, &mut errors);
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let definition = EventTypeDefinition { name, description, example, schema, created_at: current.created_at };
    match state.store.update_event_type(tenant, &definition).await? {
        EventTypeChanged::Done => {
            tracing::info!(tenant_id = %tenant, event_type = %definition.name, "event type updated");
            Ok(Json(definition))
        }
        EventTypeChanged::NotFound => Err(ApiError::NotFound("event type")),
    }
}

/// `DELETE /v1/event-types/{name}`: the type leaves the catalogue, so events of that type are
/// refused from then on (while the tenant has other types registered). Endpoints keep their
/// subscriptions; events already accepted are delivered as usual.
#[utoipa::path(delete, path = "/v1/event-types/{name}", operation_id = "delete_event_type", tag = TAG,
    summary = "Remove an event type from the catalogue", security(("apiKey" = [])), params(("name" = EventType, Path)),
    responses((status = 204, description = "Removed"), TenantErrors, NotFound, WriteConflict))]
pub async fn delete(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(name): PathParams<EventType>,
) -> Result<StatusCode, ApiError> {
    // The catalogue is the sender's, shared by all its customers.
    let tenant = auth.tenant_wide()?;
    match state.store.delete_event_type(tenant, &name).await? {
        EventTypeChanged::Done => {
            tracing::info!(tenant_id = %tenant, event_type = %name, "event type deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        EventTypeChanged::NotFound => Err(ApiError::NotFound("event type")),
    }
}
