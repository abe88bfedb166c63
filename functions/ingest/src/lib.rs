//! The ingest function: `POST /v1/events`. It fans an event out to the tenant's subscribed
//! endpoints and answers 202 only once every delivery is durably on the queue.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{EventType, Invalid, NewEvent, NewEventRequest, PayloadSchema, event_fingerprint};
use hookline_shared::fanout::{Outgoing, enqueue_deliveries, fan_out};
use hookline_shared::ids::{EventId, TenantId};
use hookline_shared::openapi::{BodyErrors, RateLimited, TenantErrors};
use hookline_shared::store::{ClaimState, IdempotencyClaim, IngestPolicy, Quotas, StoreError};
use hookline_shared::web::{ApiError, AppState, ErrorBody, ErrorCode, JsonBody, TenantKey};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// After this long, a request that claimed an idempotency key and never finished is taken to
/// be dead (the function's timeout in `template.yaml` is shorter), and a retry takes over.
pub const ABANDONED_CLAIM_AFTER: Duration = Duration::from_secs(30);

/// The routes this function serves, for the Lambda and for the local dev server.
pub fn routes() -> Router<AppState> {
    router().split_for_parts().0
}

/// The routes with their part of the OpenAPI document, from the same declarations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_event))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: EventId,
    /// One per endpoint subscribed to the event's type.
    pub deliveries: usize,
}

/// Publish an event: 202 once every delivery is on the queue.
#[utoipa::path(post, path = "/v1/events", operation_id = "create_event", tag = "events",
    security(("apiKey" = [])), request_body = NewEventRequest,
    responses((status = 202, description = "Accepted and queued", body = Accepted, links(
        ("get_event" = (operation_id = "get_event", parameters(("id" = "$response.body#/id")))),
        ("list_event_attempts" = (operation_id = "list_event_attempts", parameters(("id" = "$response.body#/id")))),
        ("expunge_event_payload" = (operation_id = "expunge_event_payload", parameters(("id" = "$response.body#/id")))),
    )),
        (status = 409, description = "`idempotency_key_reused` (another event under this key) or `idempotency_in_progress`",
            body = ErrorBody),
        TenantErrors, BodyErrors, RateLimited))]
pub async fn create_event(
    State(state): State<AppState>,
    TenantKey(tenant): TenantKey,
    JsonBody(request): JsonBody<NewEventRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let new = NewEvent::parse(request)?;
    // One read of the tenant item: its quotas and registered event types. A key whose tenant
    // is gone authenticates nobody.
    let policy = state.store.get_ingest_policy(&tenant).await?.ok_or(ApiError::Unauthorized)?;
    if policy.suspended {
        return Err(ApiError::TenantSuspended);
    }
    check_event_type(&policy, &new.event_type)?;
    check_schema(&state, &tenant, &policy, &new).await?;
    let quotas = policy.quotas;
    let accepted = match new.idempotency_key.clone() {
        None => publish(&state, &tenant, &quotas, EventId::generate(), new).await?,
        Some(key) => publish_once(&state, &tenant, &quotas, &key, new).await?,
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// A tenant that registered event types may only publish those; with none, any type goes.
/// `hookline.…` types are Hookline's operational events and never a tenant's to publish.
fn check_event_type(policy: &IngestPolicy, event_type: &EventType) -> Result<(), ApiError> {
    if event_type.is_reserved() {
        return Err(Invalid::one("event_type", RESERVED_MESSAGE).into());
    }
    if policy.allows(event_type) {
        return Ok(());
    }
    let known: Vec<&str> = policy.event_types.iter().map(EventType::as_str).collect();
    Err(Invalid::one(
        "event_type",
        format!("`{event_type}` is not a registered event type; registered: {}", known.join(", ")),
    )
    .into())
}

/// A type registered with a schema takes only payloads that match it: 422 naming each failing
/// place (`payload/items/0/sku`). Only those types cost a read of their schema.
async fn check_schema(
    state: &AppState,
    tenant: &TenantId,
    policy: &IngestPolicy,
    new: &NewEvent,
) -> Result<(), ApiError> {
    if !policy.has_schema(&new.event_type) {
        return Ok(());
    }
    let Some(source) = state.store.get_event_type_schema(tenant, &new.event_type).await? else {
        return Ok(());
    };
    // The schema was checked when registered, so one that does not compile is a corrupt item.
    let schema = PayloadSchema::cached(&source).map_err(|e| StoreError::Corrupt(format!("event type schema: {e}")))?;
    let payload: serde_json::Value =
        serde_json::from_str(new.payload.get()).map_err(|e| Invalid::one("payload", e.to_string()))?;
    let errors = schema.check(&payload, "payload");
    if errors.is_empty() { Ok(()) } else { Err(Invalid(errors).into()) }
}

/// Why a `hookline.…` event type is refused.
pub const RESERVED_MESSAGE: &str =
    "`hookline.…` event types are reserved for Hookline's operational events; endpoints may subscribe to them";

/// Counts the event against the tenant's events-per-minute quota, or refuses it with a 429
/// that says when the next window opens.
async fn take_quota(state: &AppState, tenant: &TenantId, quotas: &Quotas) -> Result<(), ApiError> {
    let Some(limit) = quotas.events_per_minute else { return Ok(()) };
    match state.store.count_event_for_quota(tenant, limit).await? {
        Ok(()) => Ok(()),
        Err(wait) => {
            let retry_after_seconds = wait.as_millis().div_ceil(1000).max(1);
            tracing::info!(tenant_id = %tenant, limit, "events-per-minute quota reached");
            Err(ApiError::TooManyRequests { retry_after_seconds: u64::try_from(retry_after_seconds).unwrap_or(60) })
        }
    }
}

/// Publishes an event at most once per idempotency key. A request that finds the key taken
/// answers with the first event (409 `idempotency_key_reused` if it names another type or
/// payload); if that request died half-way, this one finishes its work.
async fn publish_once(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    key: &str,
    new: NewEvent,
) -> Result<Accepted, ApiError> {
    let id = EventId::generate();
    let fingerprint = event_fingerprint(&new.event_type, &new.payload);
    let claim = state.store.claim_idempotency_key(tenant, key, &id, &fingerprint).await?;
    if let IdempotencyClaim::Taken { fingerprint: Some(first), .. } = &claim
        && *first != fingerprint
    {
        // As Stripe does: a key names one request, so another event under it is a client bug.
        return Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this idempotency key was used for an event with another type or payload".into(),
        });
    }
    let (id, resume) = match claim {
        IdempotencyClaim::Claimed => (id, false),
        IdempotencyClaim::Taken { event_id, state: ClaimState::Enqueued, .. } => {
            let event = state.store.get_event(tenant, &event_id).await?;
            let deliveries = event.map_or(0, |e| e.endpoint_ids.len());
            return Ok(Accepted { id: event_id, deliveries });
        }
        IdempotencyClaim::Taken { event_id, state: claim, age, .. }
            if claim == ClaimState::Interrupted || age >= ABANDONED_CLAIM_AFTER =>
        {
            (event_id, true)
        }
        IdempotencyClaim::Taken { .. } => {
            return Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyInProgress,
                message: "a request with this idempotency key is still being processed; retry in a few seconds".into(),
            });
        }
    };
    let result = if resume {
        match state.store.get_event(tenant, &id).await? {
            // The event was written: queue its deliveries again. A delivery already queued gets a
            // second message, which the delivery log turns into a no-op.
            Some(event) => enqueue_deliveries(&state.queue, &event)
                .await
                .map(|()| Accepted { id, deliveries: event.endpoint_ids.len() })
                .map_err(ApiError::from),
            None => publish(state, tenant, quotas, id, new).await,
        }
    } else {
        publish(state, tenant, quotas, id, new).await
    };
    let outcome = if result.is_ok() { ClaimState::Enqueued } else { ClaimState::Interrupted };
    if let Err(err) = state.store.mark_idempotency_key(tenant, key, outcome).await {
        // Enqueued but not marked: a retry re-sends the same deliveries, which is harmless.
        tracing::warn!(error = %err, "could not record the idempotency key's state");
    }
    result
}

/// Writes the event with one pending delivery per subscribed endpoint, then queues them. Only
/// a new event counts against the quota: a repeated idempotency key that finds its event
/// written does not. A refused event leaves its idempotency key `interrupted`, so a retry after
/// `Retry-After` takes it over at once.
async fn publish(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    id: EventId,
    new: NewEvent,
) -> Result<Accepted, ApiError> {
    take_quota(state, tenant, quotas).await?;
    let outgoing = Outgoing {
        id,
        tenant_id: tenant.clone(),
        event_type: new.event_type,
        payload: new.payload,
        idempotency_key: new.idempotency_key,
    };
    let event = fan_out(&state.store, &state.queue, outgoing).await?;
    tracing::info!(tenant_id = %tenant, event_id = %event.id, deliveries = event.endpoint_ids.len(), "event accepted");
    let now_ms = i64::try_from(event.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    hookline_shared::metrics::emit(&hookline_shared::metrics::events_ingested_emf(event.endpoint_ids.len(), now_ms));
    Ok(Accepted { deliveries: event.endpoint_ids.len(), id: event.id })
}
