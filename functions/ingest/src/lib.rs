//! The ingest function: `POST /v1/events`. It fans an event out to the tenant's subscribed
//! endpoints and answers 202 only once every delivery is durably on the queue.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{Event, EventType, Invalid, NewEvent, NewEventRequest, PayloadSchema, event_fingerprint};
use hookline_shared::fanout::{Outgoing, enqueue_deliveries, enqueue_first_round, new_event};
use hookline_shared::ids::{EventId, TenantId};
use hookline_shared::openapi::{BodyErrors, RateLimited, TenantErrors};
use hookline_shared::store::{ClaimState, IdempotencyClaim, IngestPolicy, Quotas, StoreError};
use hookline_shared::warm::QuotaDecision;
use hookline_shared::web::{ApiError, AppState, ErrorBody, ErrorCode, JsonBody, TenantKey};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// After this long, a request that claimed an idempotency key and never finished is taken to
/// be dead (the function's timeout in `template.yaml` is shorter), and a retry takes over.
pub const ABANDONED_CLAIM_AFTER: Duration = Duration::from_secs(30);

mod batch;

pub use batch::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS};

/// The routes this function serves, for the Lambda and for the local dev server.
pub fn routes() -> Router<AppState> {
    router().split_for_parts().0
}

/// The routes with their part of the OpenAPI document, from the same declarations.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_event)).routes(routes!(batch::create_events))
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
    let policy = ingest_policy(&state, &tenant).await?;
    let accepted = match stage(&state, &tenant, &policy, new).await? {
        Staged::Queued(accepted) => accepted,
        Staged::Written { event, key, first_round, stored } => {
            let queued = if first_round {
                enqueue_first_round(&state.queue, &event).await
            } else {
                enqueue_deliveries(&state.queue, &event).await
            };
            finish(&state, &event, key.as_deref(), stored, queued.map_err(ApiError::from)).await?
        }
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// One read of the tenant item: its quotas and registered event types. A key whose tenant is
/// gone authenticates nobody; a suspended tenant publishes nothing.
async fn ingest_policy(state: &AppState, tenant: &TenantId) -> Result<IngestPolicy, ApiError> {
    let policy = state.auth.ingest_policy(&state.store, tenant).await?.ok_or(ApiError::Unauthorized)?;
    if policy.suspended {
        return Err(ApiError::TenantSuspended);
    }
    Ok(policy)
}

/// An event on its way: waiting for its messages to be queued, or one an earlier request
/// under the same idempotency key already queued.
enum Staged {
    Queued(Accepted),
    /// `first_round`: new from this request, so it is queued as its first round (not a resumed
    /// request's, whose deliveries may have been attempted already: those go as their own
    /// messages, which read before sending). `stored`: the event item is written already; a
    /// new idempotent event is written only after its round is queued ([`finish`]).
    Written {
        event: Event,
        key: Option<String>,
        first_round: bool,
        stored: bool,
    },
}

/// Checks the event against the tenant's policy, takes its idempotency key and writes it (or
/// finds it written by an interrupted request). Queuing is the caller's, so a batch can queue
/// many events' messages together; [`finish`] records the outcome.
async fn stage(state: &AppState, tenant: &TenantId, policy: &IngestPolicy, new: NewEvent) -> Result<Staged, ApiError> {
    check_event_type(policy, &new.event_type)?;
    check_schema(state, tenant, policy, &new).await?;
    match new.idempotency_key.clone() {
        None => {
            let event = write_new(state, tenant, &policy.quotas, EventId::generate(), new).await?;
            Ok(Staged::Written { event, key: None, first_round: true, stored: true })
        }
        Some(key) => stage_once(state, tenant, &policy.quotas, &key, new).await,
    }
}

/// After the queue answered: the event accepted only if all of its messages are on the queue.
/// A new idempotent event is written now, after its round: its item is what tells a repeat of
/// the key that the round is queued, so a success costs no second write on the key. A resumed
/// request marks the key `enqueued`; a failure marks it `interrupted`, so a retry takes over.
async fn finish(
    state: &AppState,
    event: &Event,
    key: Option<&str>,
    stored: bool,
    queued: Result<(), ApiError>,
) -> Result<Accepted, ApiError> {
    let written = match (&queued, stored) {
        (Ok(()), false) => state.store.put_event(event).await.map_err(ApiError::from),
        _ => Ok(()),
    };
    let outcome = match (&queued, &written) {
        (Ok(()), Ok(())) if !stored => None,
        (Ok(()), Ok(())) => Some(ClaimState::Enqueued),
        _ => Some(ClaimState::Interrupted),
    };
    if let (Some(key), Some(outcome)) = (key, outcome)
        && let Err(err) = state.store.mark_idempotency_key(&event.tenant_id, key, outcome).await
    {
        // Enqueued but not marked: a retry re-sends the same deliveries, which is harmless.
        tracing::warn!(error = %err, "could not record the idempotency key's state");
    }
    queued?;
    written?;
    let deliveries = event.endpoint_ids.len();
    tracing::info!(tenant_id = %event.tenant_id, event_id = %event.id, deliveries, "event accepted");
    let now_ms = i64::try_from(event.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    hookline_shared::metrics::emit(&hookline_shared::metrics::events_ingested_emf(deliveries, now_ms));
    Ok(Accepted { id: event.id.clone(), deliveries })
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
/// that says when the next window opens. Counted in this instance's memory and added to the
/// tenant's window item at most once a second (`warm::EventQuota`, which states the bound on
/// overshoot across instances).
async fn take_quota(state: &AppState, tenant: &TenantId, quotas: &Quotas) -> Result<(), ApiError> {
    let Some(limit) = quotas.events_per_minute else { return Ok(()) };
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let minute = now_ms.div_euclid(60_000);
    match state.event_quota.take(tenant, limit, now_ms, std::time::Instant::now()) {
        QuotaDecision::Accept { flush: None } => Ok(()),
        QuotaDecision::Accept { flush: Some(amount) } => {
            match state.store.add_events_to_window(tenant, minute, amount).await {
                Ok(total) => state.event_quota.stored(tenant, minute, total),
                Err(err) => {
                    // Counted again at the next flush; the event itself is not refused for it.
                    tracing::warn!(error = %err, "could not add the events-per-minute count");
                    state.event_quota.unflushed(tenant, minute, amount);
                }
            }
            Ok(())
        }
        QuotaDecision::Refuse { wait } => {
            let retry_after_seconds = wait.as_millis().div_ceil(1000).max(1);
            tracing::info!(tenant_id = %tenant, limit, "events-per-minute quota reached");
            Err(ApiError::TooManyRequests { retry_after_seconds: u64::try_from(retry_after_seconds).unwrap_or(60) })
        }
    }
}

/// Takes an event's idempotency key, so it is published at most once. A request that finds the
/// key taken answers with the first event (409 `idempotency_key_reused` if it names another
/// type or payload); if that request died half-way, this one finishes its work.
async fn stage_once(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    key: &str,
    new: NewEvent,
) -> Result<Staged, ApiError> {
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
    let key_owned = Some(key.to_owned());
    let staged =
        match claim {
            // New: queued as its first round, written once the round is on the queue.
            IdempotencyClaim::Claimed => prepare_new(state, tenant, quotas, id, new)
                .await
                .map(|event| Staged::Written { event, key: key_owned, first_round: true, stored: false }),
            IdempotencyClaim::Taken { event_id, state: claim, age, .. } => {
                let abandoned = claim == ClaimState::Interrupted || age >= ABANDONED_CLAIM_AFTER;
                match state.store.get_event(tenant, &event_id).await? {
                    // Written, so its round was queued (or the request was resumed before): the
                    // same answer again. A claim still `accepted` long after it was taken may be
                    // from before events were written after their round: queue it again, harmless.
                    Some(event) if claim == ClaimState::Enqueued || !abandoned => {
                        return Ok(Staged::Queued(Accepted { id: event_id, deliveries: event.endpoint_ids.len() }));
                    }
                    // An interrupted request's event: queue its deliveries again, each its own
                    // message (one already sent is read and not sent twice).
                    Some(event) => Ok(Staged::Written { event, key: key_owned, first_round: false, stored: true }),
                    // Its request died before writing it: written now, then its deliveries queued as
                    // their own messages (its round may have been queued and even sent).
                    None if abandoned => write_new(state, tenant, quotas, event_id, new)
                        .await
                        .map(|event| Staged::Written { event, key: key_owned, first_round: false, stored: true }),
                    None => {
                        return Err(ApiError::Conflict {
                            code: ErrorCode::IdempotencyInProgress,
                            message:
                                "a request with this idempotency key is still being processed; retry in a few seconds"
                                    .into(),
                        });
                    }
                }
            }
        };
    if staged.is_err()
        && let Err(mark) = state.store.mark_idempotency_key(tenant, key, ClaimState::Interrupted).await
    {
        tracing::warn!(error = %mark, "could not record the idempotency key's state");
    }
    staged
}

/// Writes the event with its subscribed endpoints (its pending deliveries). Only a new event counts
/// against the quota: a repeated idempotency key that finds its event written does not. A
/// refused event leaves its idempotency key `interrupted`, so a retry after `Retry-After`
/// takes it over at once.
async fn write_new(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    id: EventId,
    new: NewEvent,
) -> Result<Event, ApiError> {
    let event = prepare_new(state, tenant, quotas, id, new).await?;
    state.store.put_event(&event).await?;
    Ok(event)
}

/// As [`write_new`], without writing the event.
async fn prepare_new(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    id: EventId,
    new: NewEvent,
) -> Result<Event, ApiError> {
    take_quota(state, tenant, quotas).await?;
    let outgoing = Outgoing {
        id,
        tenant_id: tenant.clone(),
        event_type: new.event_type,
        payload: new.payload,
        idempotency_key: new.idempotency_key,
    };
    Ok(new_event(&state.store, outgoing).await?)
}
