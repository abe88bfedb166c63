//! A tenant's registered event types. Once a tenant registers any, `POST /v1/events` accepts
//! only those types.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline_shared::domain::{EventType, FieldError, Invalid};
use hookline_shared::store::{EventTypeCreated, EventTypeDefinition, MAX_EVENT_TYPES};
use hookline_shared::web::{ApiError, AppState, JsonBody, TenantAuth};
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::List;

const MAX_DESCRIPTION_LEN: usize = 1000;

/// The request body of `POST /v1/event-types`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEventTypeRequest {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    example: Option<Box<RawValue>>,
}

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
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError::new("description", format!("at most {MAX_DESCRIPTION_LEN} characters")));
    }
    // `"example": null` is the same as no example.
    let example = request.example.filter(|e| e.get() != "null");
    if example.as_ref().is_some_and(|e| !e.get().starts_with('{')) {
        errors.push(FieldError::new("example", "an example payload is a JSON object"));
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(Invalid(errors).into());
    };
    let definition = EventTypeDefinition { name, description, example, created_at: OffsetDateTime::now_utc() };
    match state.store.create_event_type(tenant, &definition).await? {
        EventTypeCreated::Created => {
            tracing::info!(tenant_id = %tenant, event_type = %definition.name, "event type registered");
            Ok((StatusCode::CREATED, Json(definition)))
        }
        EventTypeCreated::AlreadyExists => Err(ApiError::Conflict {
            code: "event_type_exists",
            message: format!("the event type `{}` is already registered", definition.name),
        }),
        EventTypeCreated::LimitReached => Err(ApiError::Conflict {
            code: "event_type_limit",
            message: format!("a tenant can register at most {MAX_EVENT_TYPES} event types"),
        }),
    }
}

/// Every registered event type, by name.
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
) -> Result<Json<List<EventTypeDefinition>>, ApiError> {
    let data = state.store.list_event_types(auth.tenant()).await?;
    Ok(Json(List { data }))
}

pub async fn get(
    State(state): State<AppState>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> Result<Json<EventTypeDefinition>, ApiError> {
    let name = EventType::parse(&name).map_err(|_| ApiError::NotFound("event type"))?;
    let definition = state.store.get_event_type(auth.tenant(), &name).await?.ok_or(ApiError::NotFound("event type"))?;
    Ok(Json(definition))
}
