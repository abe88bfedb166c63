//! Events and their delivery log.

use axum::Json;
use axum::extract::{Path, State};
use hookline_shared::domain::{Attempt, Delivery, EventType};
use hookline_shared::ids::EventId;
use hookline_shared::web::{ApiError, AppState, TenantAuth};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::{List, path_id};

/// An event with where each of its deliveries stands.
#[derive(Serialize)]
pub struct EventView {
    id: EventId,
    event_type: EventType,
    payload: Box<RawValue>,
    idempotency_key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    deliveries: Vec<Delivery>,
}

pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
    let event = state.store.get_event(&tenant, &id).await?.ok_or(ApiError::NotFound("event"))?;
    let deliveries = state.store.list_deliveries(&tenant, &id).await?;
    Ok(Json(EventView {
        id: event.id,
        event_type: event.event_type,
        payload: event.payload,
        idempotency_key: event.idempotency_key,
        created_at: event.created_at,
        deliveries,
    }))
}

/// Every attempt made for the event, by endpoint, oldest first.
pub async fn attempts(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<List<Attempt>>, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
    // The event item is the tenant check: attempts live under the tenant's key too, but an
    // unknown event must be a 404, not an empty list.
    state.store.get_event(&tenant, &id).await?.ok_or(ApiError::NotFound("event"))?;
    let data = state.store.list_attempts(&tenant, &id).await?;
    Ok(Json(List { data }))
}
