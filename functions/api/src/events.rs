//! Events and their delivery log.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hookline_shared::domain::{Attempt, Delivery, DeliveryStatus, Event, EventType, FieldError, Invalid};
use hookline_shared::ids::{EndpointId, EventId};
use hookline_shared::openapi::{NotFound, QueryErrors, TenantErrors};
use hookline_shared::store::{Cursor, EventFilter, EventSummary, MAX_PAGE_SIZE};
use hookline_shared::web::{ApiError, AppState, PathParams, TenantAuth};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{List, path_id};

const TAG: &str = "events";

/// The page size when the caller gives none.
const DEFAULT_PAGE_SIZE: usize = 50;

/// A page of a listing: `{"data": [...], "next_cursor": "..." | null}`. Pass `next_cursor` as
/// `?cursor=` for the next page; `null` means there is none.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub data: Vec<T>,
    /// Opaque; pass it as `cursor` for the next page. `null`: this was the last page.
    pub next_cursor: Option<String>,
}

/// The query of a paged listing.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query `paging` reads
pub(crate) struct PageQuery {
    /// Items per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The query of `GET /v1/events`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query `list` reads
pub(crate) struct EventsQuery {
    /// Only events of this type.
    #[param(value_type = Option<EventType>)]
    event_type: Option<String>,
    /// Events made at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Events made at or before this time (RFC 3339); not before `since`.
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
    /// Events with at least one delivery in this status.
    status: Option<DeliveryStatus>,
    /// Items per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The query of `GET /v1/events/{id}/attempts`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query `attempts` reads
pub(crate) struct EventAttemptsQuery {
    /// Only this endpoint's attempts.
    endpoint_id: Option<EndpointId>,
}

/// The query string as a map, refusing parameters the route does not know (a misspelt filter
/// would otherwise silently list everything).
pub(crate) fn query_params(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    known: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::BadRequest { code: "invalid_query", message: e.body_text() })?;
    let mut unknown: Vec<_> = params.keys().filter(|k| !known.contains(&k.as_str())).collect();
    if unknown.is_empty() {
        return Ok(params);
    }
    unknown.sort();
    let message = format!("unknown query parameter; known: {}", known.join(", "));
    Err(Invalid(unknown.into_iter().map(|k| FieldError::new(k.as_str(), message.as_str())).collect()).into())
}

/// `limit` (1 to 100, default 50) and `cursor` (as a previous page returned it).
pub(crate) fn paging(params: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> (usize, Option<Cursor>) {
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => limit,
            _ => {
                errors.push(FieldError::new("limit", format!("an integer from 1 to {MAX_PAGE_SIZE}")));
                DEFAULT_PAGE_SIZE
            }
        },
    };
    let cursor = match params.get("cursor") {
        None => None,
        Some(text) => match Cursor::parse(text) {
            Ok(cursor) => Some(cursor),
            Err(e) => {
                errors.push(FieldError::new("cursor", e.to_string()));
                None
            }
        },
    };
    (limit, cursor)
}

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
    PathParams(id): PathParams<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
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

/// `GET /v1/events`: the tenant's events, newest first, without payloads. Filters:
/// `event_type`, `since` and `until` (RFC 3339, inclusive, by the time in the event's id) and
/// `status` (events with at least one delivery in that status).
#[utoipa::path(get, path = "/v1/events", operation_id = "list_events", tag = TAG,
    summary = "List events, newest first, without payloads", security(("apiKey" = []), ("portalSession" = [])),
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = Paged<EventSummary>), TenantErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Paged<EventSummary>>, ApiError> {
    let params = query_params(query, &["event_type", "since", "until", "status", "limit", "cursor"])?;
    let mut errors = Vec::new();
    let (limit, cursor) = paging(&params, &mut errors);
    let mut filter = EventFilter::default();
    if let Some(text) = params.get("event_type") {
        filter.event_type = EventType::parse(text).map_err(|m| errors.push(FieldError::new("event_type", m))).ok();
    }
    for (field, slot) in [("since", &mut filter.since), ("until", &mut filter.until)] {
        if let Some(text) = params.get(field) {
            *slot = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| {
                    errors.push(FieldError::new(field, "an RFC 3339 timestamp such as 2024-05-01T12:00:00Z"));
                })
                .ok();
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since > until
    {
        errors.push(FieldError::new("until", "is before `since`"));
    }
    if let Some(text) = params.get("status") {
        filter.status = DeliveryStatus::parse(text);
        if filter.status.is_none() {
            errors.push(FieldError::new("status", "one of pending, delivered, failed, paused"));
        }
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let mut page = state.store.list_events(auth.tenant(), &filter, limit, cursor.as_ref()).await?;
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
    Ok(Json(Paged { data: page.items, next_cursor: page.next_cursor }))
}

/// Every attempt made for the event, by endpoint, oldest first; `?endpoint_id=` keeps one
/// endpoint's.
#[utoipa::path(get, path = "/v1/events/{id}/attempts", operation_id = "list_event_attempts", tag = TAG,
    summary = "List an event's attempts", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EventId, Path), EventAttemptsQuery),
    responses((status = 200, description = "Every attempt, by endpoint, oldest first", body = List<Attempt>),
        TenantErrors, QueryErrors, NotFound))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<List<Attempt>>, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
    let params = query_params(query, &["endpoint_id"])?;
    let endpoint = params
        .get("endpoint_id")
        .map(|text| EndpointId::parse(text).map_err(|e| Invalid::one("endpoint_id", e.to_string())))
        .transpose()?;
    // The event item is the tenant check: attempts live under the tenant's key too, but an
    // unknown event must be a 404, not an empty list.
    let (_, visible) = visible_event(&state, &auth, &id).await?;
    let mut data = state.store.list_attempts(auth.tenant(), &id).await?;
    data.retain(|a| visible.as_ref().is_none_or(|v| v.contains(&a.endpoint_id)));
    if let Some(endpoint) = endpoint {
        data.retain(|a| a.endpoint_id == endpoint);
    }
    Ok(Json(List { data }))
}

/// `GET /v1/events/{id}/deliveries/{endpoint_id}/attempts`: the attempts of one delivery, oldest
/// first. 404 if the event or that delivery does not exist.
#[utoipa::path(get, path = "/v1/events/{id}/deliveries/{endpoint_id}/attempts", operation_id = "list_delivery_attempts",
    tag = TAG, summary = "List one delivery's attempts", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EventId, Path), ("endpoint_id" = EndpointId, Path)),
    responses((status = 200, description = "The delivery's attempts, oldest first", body = List<Attempt>),
        TenantErrors, NotFound))]
pub async fn delivery_attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams((id, endpoint_id)): PathParams<(String, String)>,
) -> Result<Json<List<Attempt>>, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
    let endpoint = path_id("delivery", EndpointId::parse(&endpoint_id))?;
    let (_, visible) = visible_event(&state, &auth, &id).await?;
    if visible.is_some_and(|v| !v.contains(&endpoint)) {
        return Err(ApiError::NotFound("delivery"));
    }
    let tenant = auth.tenant();
    state.store.get_delivery(tenant, &id, &endpoint).await?.ok_or(ApiError::NotFound("delivery"))?;
    let mut data = state.store.list_attempts(tenant, &id).await?;
    data.retain(|a| a.endpoint_id == endpoint);
    Ok(Json(List { data }))
}

/// `DELETE /v1/events/{id}/payload`: forgets the payload but keeps the event and its log.
/// Repeating it is harmless. The delivery engine must not send an expunged payload
/// (`Event::payload_expunged`).
#[utoipa::path(delete, path = "/v1/events/{id}/payload", operation_id = "expunge_event_payload", tag = TAG,
    summary = "Expunge an event's payload (keeps the event and its log)", security(("apiKey" = [])),
    params(("id" = EventId, Path)),
    responses((status = 204, description = "Expunged (repeating it is harmless)"), TenantErrors, NotFound))]
pub async fn expunge_payload(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("event", EventId::parse(&id))?;
    // The payload is the sender's and may go to other customers' endpoints too.
    let tenant = auth.tenant_wide()?;
    if !state.store.expunge_event_payload(tenant, &id).await? {
        return Err(ApiError::NotFound("event"));
    }
    tracing::info!(tenant_id = %tenant, event_id = %id, "event payload expunged");
    Ok(StatusCode::NO_CONTENT)
}
