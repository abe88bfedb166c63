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
use hookline_shared::store::{ClaimState, Creation, IngestPolicy, Quotas, StoreError};
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
        (status = 409, description = "`idempotency_key_reused`: another event under this key",
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
        Staged::Written { event, first_round, delay, takeover } => {
            let queued = queue_staged(&state, &event, first_round, delay).await;
            finish(&state, &event, takeover, queued).await?
        }
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Queues a written event: as its first round (one message), or each delivery as its own
/// message held back `delay`, the event listed first (no round will list it).
async fn queue_staged(state: &AppState, event: &Event, first_round: bool, delay: Duration) -> Result<(), ApiError> {
    if first_round {
        return Ok(enqueue_first_round(&state.queue, event).await?);
    }
    state.store.list_event(event).await?;
    Ok(enqueue_deliveries(&state.queue, event, delay).await?)
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

/// An event on its way: written and waiting for its messages to be queued, or one an earlier
/// request under the same idempotency key already queued.
enum Staged {
    Queued(Accepted),
    /// `first_round`: new from this request, so queued as its first round. Otherwise each
    /// delivery goes as its own message (which reads before sending), held back `delay`:
    /// `takeover` of an interrupted or abandoned request's event (no delay), or a repeat's
    /// backup behind a request that may still be queueing (held until that request is
    /// [`ABANDONED_CLAIM_AFTER`] old, when any round it queued is read before it sends).
    Written {
        event: Event,
        first_round: bool,
        delay: Duration,
        takeover: bool,
    },
}

/// Checks the event against the tenant's policy and writes it: one conditional put that is
/// also its idempotency key's claim, or finds the event an earlier request wrote under the key.
/// Queuing is the caller's, so a batch can queue many events' messages together; [`finish`]
/// records the outcome.
async fn stage(state: &AppState, tenant: &TenantId, policy: &IngestPolicy, new: NewEvent) -> Result<Staged, ApiError> {
    check_event_type(policy, &new.event_type)?;
    check_schema(state, tenant, policy, &new).await?;
    // Only a keyed event is compared with an earlier one, so only it pays for the digest.
    let fingerprint = new.idempotency_key.as_ref().map(|_| event_fingerprint(&new.event_type, &new.payload));
    let id = match &new.idempotency_key {
        Some(key) => EventId::keyed(tenant, key),
        None => EventId::generate(),
    };
    let event = new_event(
        &state.store,
        Outgoing {
            id,
            tenant_id: tenant.clone(),
            event_type: new.event_type,
            payload: new.payload,
            idempotency_key: new.idempotency_key,
        },
    )
    .await?;
    let Some(fingerprint) = fingerprint else {
        take_quota(state, tenant, &policy.quotas).await?;
        state.store.create_event(&event, None).await?;
        return Ok(Staged::Written { event, first_round: true, delay: Duration::ZERO, takeover: false });
    };
    stage_once(state, tenant, &policy.quotas, event, fingerprint).await
}

/// After the queue answered: the event accepted only if all of its messages are on the queue.
/// A first request that succeeds writes nothing more (its round's record will say the round
/// was queued); a takeover marks the key `enqueued`, so later repeats queue nothing; a failure
/// marks it `interrupted`, so a retry takes over at once.
async fn finish(
    state: &AppState,
    event: &Event,
    takeover: bool,
    queued: Result<(), ApiError>,
) -> Result<Accepted, ApiError> {
    let outcome = match (&queued, takeover) {
        (Err(_), _) => Some(ClaimState::Interrupted),
        (Ok(()), true) => Some(ClaimState::Enqueued),
        (Ok(()), false) => None,
    };
    if event.idempotency_key.is_some()
        && let Some(outcome) = outcome
    {
        mark(state, event, outcome).await;
    }
    queued?;
    let deliveries = event.endpoint_ids.len();
    tracing::info!(tenant_id = %event.tenant_id, event_id = %event.id, deliveries, "event accepted");
    let now_ms = i64::try_from(event.created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    hookline_shared::metrics::emit(&hookline_shared::metrics::events_ingested_emf(deliveries, now_ms));
    Ok(Accepted { id: event.id.clone(), deliveries })
}

async fn mark(state: &AppState, event: &Event, outcome: ClaimState) {
    if let Err(err) = state.store.mark_event(&event.tenant_id, &event.id, outcome).await {
        // Unmarked, a repeat of the key queues the deliveries again once the claim is old,
        // which is harmless (each message reads before sending).
        tracing::warn!(error = %err, "could not record the idempotency key's state");
    }
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
/// tenant's window item at most once a second, a hundredth of the limit at a time
/// (`warm::EventQuota`, which states the bound on overshoot across instances).
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

/// Writes a keyed event, which claims its key, so it is published at most once. A request
/// that finds the key taken answers with the first event (409 `idempotency_key_reused` if it
/// names another type or payload) and makes sure its deliveries are queued: taking over at
/// once if the first request failed or is long dead, or else queuing a held-back backup,
/// since a first request that succeeded leaves no mark to tell it from one still running.
async fn stage_once(
    state: &AppState,
    tenant: &TenantId,
    quotas: &Quotas,
    event: Event,
    fingerprint: String,
) -> Result<Staged, ApiError> {
    let (first, claim, age, theirs) = match state.store.create_event(&event, Some(&fingerprint)).await? {
        Creation::Created => {
            // Only a new event counts against the quota. A refused one leaves its key
            // `interrupted`, so a retry after `Retry-After` takes it over at once.
            if let Err(err) = take_quota(state, tenant, quotas).await {
                mark(state, &event, ClaimState::Interrupted).await;
                return Err(err);
            }
            return Ok(Staged::Written { event, first_round: true, delay: Duration::ZERO, takeover: false });
        }
        Creation::Taken { event, state, age, fingerprint } => (event, state, age, fingerprint),
    };
    if theirs.is_some_and(|theirs| theirs != fingerprint) {
        // As Stripe does: a key names one request, so another event under it is a client bug.
        return Err(ApiError::Conflict {
            code: ErrorCode::IdempotencyKeyReused,
            message: "this idempotency key was used for an event with another type or payload".into(),
        });
    }
    let queued = || Accepted { id: first.id.clone(), deliveries: first.endpoint_ids.len() };
    match claim {
        ClaimState::Enqueued => Ok(Staged::Queued(queued())),
        _ if first.endpoint_ids.is_empty() => Ok(Staged::Queued(queued())),
        ClaimState::Interrupted => {
            take_quota(state, tenant, quotas).await?;
            Ok(Staged::Written { event: first, first_round: false, delay: Duration::ZERO, takeover: true })
        }
        // Its round recorded, or a backup or takeover queued already: nothing more to queue.
        ClaimState::Accepted if state.store.is_listed(tenant, &first.id).await? => Ok(Staged::Queued(queued())),
        ClaimState::Accepted if age >= ABANDONED_CLAIM_AFTER => {
            Ok(Staged::Written { event: first, first_round: false, delay: Duration::ZERO, takeover: true })
        }
        ClaimState::Accepted => {
            let delay = ABANDONED_CLAIM_AFTER.saturating_sub(age).max(Duration::from_secs(1));
            Ok(Staged::Written { event: first, first_round: false, delay, takeover: false })
        }
    }
}
