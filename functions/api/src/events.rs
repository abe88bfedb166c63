//! Events and their delivery log.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{Attempt, Delivery, DeliveryStatus, Event, EventType, Invalid};
use hookline_shared::edge::{Cursor, Limit, List as Listed, Lister, Page};
use hookline_shared::ids::{EndpointId, EventId};
use hookline_shared::openapi::{NotFound, QueryErrors, TenantErrors, WriteConflict};
use hookline_shared::store::{EventFilter, EventSummary};
use hookline_shared::web::{ApiError, AppState, PathParams, Query, TenantAuth};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

const TAG: &str = "events";

/// An event with where each of its deliveries stands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    id: EventId,
    event_type: EventType,
    /// `null` once expunged.
    #[schema(value_type = Option<Object>)]
    payload: Box<RawValue>,
    payload_expunged: bool,
    idempotency_key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    deliveries: Vec<Delivery>,
}

/// The event, if the caller may see it, with the endpoints whose deliveries it may see (`None`:
/// all). A portal session sees an event only through a delivery to an endpoint in its scope.
async fn visible_event(
    state: &AppState,
    auth: &TenantAuth,
    id: &EventId,
) -> Result<(Event, Option<HashSet<EndpointId>>), ApiError> {
    let event = state.store.get_event(auth.tenant(), id).await?.ok_or(ApiError::NotFound("event"))?;
    let visible = auth.visible_endpoints(state).await?;
    if visible.as_ref().is_some_and(|v| !event.endpoint_ids.iter().any(|ep| v.contains(ep))) {
        return Err(ApiError::NotFound("event"));
    }
    Ok((event, visible))
}

/// Get an event with its payload and deliveries.
#[utoipa::path(get, path = "/v1/events/{id}", operation_id = "get_event", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(("id" = EventId, Path)),
    responses((status = 200, description = "The event", body = EventView, links(
        ("list_event_attempts" = (operation_id = "list_event_attempts", parameters(("id" = "$response.body#/id")))),
        ("list_delivery_attempts" = (operation_id = "list_delivery_attempts", parameters(("id" = "$response.body#/id"),
            ("endpoint_id" = "$response.body#/deliveries/0/endpoint_id")))),
        ("resend_delivery" = (operation_id = "resend_delivery", parameters(("id" = "$response.body#/id"),
            ("endpoint_id" = "$response.body#/deliveries/0/endpoint_id")))),
    )), TenantErrors, NotFound))]
pub async fn get(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EventId>,
) -> Result<Json<EventView>, ApiError> {
    let (event, visible) = visible_event(&state, &auth, &id).await?;
    let mut deliveries = state.store.list_deliveries(auth.tenant(), &id).await?;
    deliveries.retain(|d| visible.as_ref().is_none_or(|v| v.contains(&d.endpoint_id)));
    Ok(Json(EventView {
        payload_expunged: event.payload_expunged(),
        id: event.id,
        event_type: event.event_type,
        payload: event.payload,
        idempotency_key: event.idempotency_key,
        created_at: event.created_at,
        deliveries,
    }))
}

/// `GET /v1/events` query. `since` and `until` are RFC 3339, inclusive, by the time in the
/// event's id; `status` keeps events with at least one delivery in that status.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events of this type.
    event_type: Option<EventType>,
    /// Events made at or after this time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// Events made at or before this time; not before `since`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    /// Events with at least one delivery in this status.
    status: Option<DeliveryStatus>,
    /// Items per page: 1 to 100, default 50.
    #[param(value_type = Option<usize>, minimum = 1, maximum = 100)]
    limit: Option<Limit>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    cursor: Option<Cursor>,
}

/// `GET /v1/events`: the tenant's events, newest first, without payloads.
#[utoipa::path(get, path = "/v1/events", operation_id = "list_events", tag = TAG,
    summary = "List events, newest first, without payloads", security(("apiKey" = []), ("portalSession" = [])),
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Page<EventSummary>), TenantErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Page<EventSummary>>, ApiError> {
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(Invalid::one("until", "is before `since`").into());
    }
    let lister = Lister::new(Listed::Events, &[auth.tenant().as_str()]);
    let after = lister.open(query.cursor.as_ref())?;
    let filter =
        EventFilter { event_type: query.event_type, since: query.since, until: query.until, status: query.status };
    let mut page = state.store.list_events(auth.tenant(), &filter, Limit::of(query.limit), after.as_deref()).await?;
    if let Some(visible) = auth.visible_endpoints(&state).await? {
        // A portal session's page keeps the events with a delivery in its scope (so it can be
        // shorter than `limit` while a next cursor remains).
        let mut kept = Vec::with_capacity(page.items.len());
        for summary in page.items {
            let event = state.store.get_event(auth.tenant(), &summary.id).await?;
            if event.is_some_and(|e| e.endpoint_ids.iter().any(|ep| visible.contains(ep))) {
                kept.push(summary);
            }
        }
        page.items = kept;
    }
    Ok(Json(lister.page(page.items, page.next.as_deref())))
}

/// `GET /v1/events/{id}/attempts` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventAttemptsQuery {
    /// Only this endpoint's attempts.
    endpoint_id: Option<EndpointId>,
}

/// Every attempt made for the event, by endpoint, oldest first; `?endpoint_id=` keeps one
/// endpoint's.
#[utoipa::path(get, path = "/v1/events/{id}/attempts", operation_id = "list_event_attempts", tag = TAG,
    summary = "List an event's attempts", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EventId, Path), EventAttemptsQuery),
    responses((status = 200, description = "Every attempt, by endpoint, oldest first", body = Page<Attempt>),
        TenantErrors, QueryErrors, NotFound))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EventId>,
    Query(query): Query<EventAttemptsQuery>,
) -> Result<Json<Page<Attempt>>, ApiError> {
    let endpoint = query.endpoint_id;
    // The event item is the tenant check: attempts live under the tenant's key too, but an
    // unknown event must be a 404, not an empty list.
    let (_, visible) = visible_event(&state, &auth, &id).await?;
    let mut data = state.store.list_attempts(auth.tenant(), &id).await?;
    data.retain(|a| visible.as_ref().is_none_or(|v| v.contains(&a.endpoint_id)));
    if let Some(endpoint) = endpoint {
        data.retain(|a| a.endpoint_id == endpoint);
    }
    Ok(Json(Page::whole(data)))
}

/// `GET /v1/events/{id}/deliveries/{endpoint_id}/attempts`: the attempts of one delivery, oldest
/// first. 404 if the event or that delivery does not exist.
#[utoipa::path(get, path = "/v1/events/{id}/deliveries/{endpoint_id}/attempts", operation_id = "list_delivery_attempts",
    tag = TAG, summary = "List one delivery's attempts", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EventId, Path), ("endpoint_id" = EndpointId, Path)),
    responses((status = 200, description = "The delivery's attempts, oldest first", body = Page<Attempt>),
        TenantErrors, NotFound))]
pub async fn delivery_attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams((id, endpoint_id)): PathParams<(EventId, EndpointId)>,
) -> Result<Json<Page<Attempt>>, ApiError> {
    let endpoint = endpoint_id;
    let (_, visible) = visible_event(&state, &auth, &id).await?;
    if visible.is_some_and(|v| !v.contains(&endpoint)) {
        return Err(ApiError::NotFound("delivery"));
    }
    let tenant = auth.tenant();
    state.store.get_delivery(tenant, &id, &endpoint).await?.ok_or(ApiError::NotFound("delivery"))?;
    let mut data = state.store.list_attempts(tenant, &id).await?;
    data.retain(|a| a.endpoint_id == endpoint);
    Ok(Json(Page::whole(data)))
}

/// `DELETE /v1/events/{id}/payload`: forgets the payload but keeps the event and its log.
/// Repeating it is harmless. The delivery engine must not send an expunged payload
/// (`Event::payload_expunged`).
#[utoipa::path(delete, path = "/v1/events/{id}/payload", operation_id = "expunge_event_payload", tag = TAG,
    summary = "Expunge an event's payload (keeps the event and its log)", security(("apiKey" = [])),
    params(("id" = EventId, Path)),
    responses((status = 204, description = "Expunged (repeating it is harmless)"), TenantErrors, NotFound, WriteConflict))]
pub async fn expunge_payload(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EventId>,
) -> Result<StatusCode, ApiError> {
    // The payload is the sender's and may go to other customers' endpoints too.
    let tenant = auth.tenant_wide()?;
    if !state.store.expunge_event_payload(tenant, &id).await? {
        return Err(ApiError::NotFound("event"));
    }
    tracing::info!(tenant_id = %tenant, event_id = %id, "event payload expunged");
    Ok(StatusCode::NO_CONTENT)
}
