//! Replays: resending one delivery, recovering an endpoint (re-enable it and re-queue what
//! failed or was paused in a window), and moving the dead-letter queue back to the deliveries
//! queue.
//!
//! A replayed delivery is re-opened in DynamoDB (`pending`, attempts kept) before its message
//! goes on the queue, and put back as it was if the message cannot be queued, so a failed
//! replay does not leave a delivery pending without a message: it can simply be repeated.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::delivery::cache::ENDPOINT_TTL;
use hookline_shared::domain::{Delivery, DeliveryStatus, EndpointStatus, FieldError, Invalid};
use hookline_shared::ids::{EndpointId, EventId, TenantId};
use hookline_shared::openapi::{AdminErrors, BodyErrors, NotFound, RateLimited, TenantErrors, WriteConflict};
use hookline_shared::queue::{DeliveryJob, QueueError, QueueMessage};
use hookline_shared::signed::{self, TokenError};
use hookline_shared::store::{HealthChange, MAX_PAGE_SIZE, StoreError};
use hookline_shared::web::{AdminAuth, ApiError, AppState, ErrorBody, ErrorCode, JsonBody, PathParams, TenantAuth};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The widest window a recovery covers: the deliveries queue's retention, and the longest a
/// retry policy may run.
const MAX_RECOVERY_WINDOW: time::Duration = time::Duration::days(14);
/// Deliveries read and re-opened at once, and queued together (one SendMessageBatch).
const RECOVERY_BATCH: usize = 10;
/// How long one redrive request moves messages before it answers (the api function has 15 s).
const REDRIVE_BUDGET: Duration = Duration::from_secs(10);
/// A recovery does not re-queue a delivery that another recovery re-queued less than this long
/// ago, whatever happened to it since: repeating a recovery must not multiply sends.
pub const RECOVERY_REPEAT_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a redriven message stays hidden on the dead-letter queue: longer than one request,
/// so a message that cannot be moved is not received twice by it.
const REDRIVE_VISIBILITY_SECONDS: i32 = 60;

/// `POST /v1/events/{id}/endpoints/{endpoint_id}/resend`: what was queued.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Resent {
    event_id: EventId,
    endpoint_id: EndpointId,
    /// The number the resent attempt will have.
    attempt: u32,
}

/// `POST /v1/events/{id}/endpoints/{endpoint_id}/resend`: sends a finished (or paused)
/// delivery once more, with the same `webhook-id`. The attempt continues the delivery's
/// numbering; should it fail, the rest of the endpoint's retry schedule applies (none, if it
/// was spent). 409 `delivery_pending` while the delivery is still being retried. A disabled
/// endpoint's delivery is paused again when it comes up: recover the endpoint instead.
#[utoipa::path(post, path = "/v1/events/{id}/endpoints/{endpoint_id}/resend", operation_id = "resend_delivery",
    tag = "replays", summary = "Send a finished or paused delivery again", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EventId, Path), ("endpoint_id" = EndpointId, Path)),
    responses((status = 202, description = "Queued", body = Resent),
        (status = 409, description = "`delivery_pending` (still being retried) or `payload_expunged`, or `conflict` (the item changed while the request ran)", body = ErrorBody),
        TenantErrors, NotFound, RateLimited))]
pub async fn resend(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams((id, endpoint_id)): PathParams<(EventId, EndpointId)>,
) -> Result<(StatusCode, Json<Resent>), ApiError> {
    let event_id = id;
    let tenant = auth.tenant().clone();
    // Out of a portal session's scope, the delivery does not exist.
    auth.endpoint(&state, &endpoint_id).await.map_err(|_| ApiError::NotFound("delivery"))?;
    let event = state.store.get_event(&tenant, &event_id).await?.ok_or(ApiError::NotFound("event"))?;
    let delivery =
        state.store.get_delivery(&tenant, &event_id, &endpoint_id).await?.ok_or(ApiError::NotFound("delivery"))?;
    if delivery.status == DeliveryStatus::Pending {
        return Err(pending_conflict());
    }
    if event.payload_expunged() {
        return Err(ApiError::Conflict {
            code: ErrorCode::PayloadExpunged,
            message: "the event's payload was expunged: there is nothing to send".to_owned(),
        });
    }
    // The deliver function drops a delivery whose endpoint is gone, which would leave it pending.
    state.store.get_endpoint(&tenant, &endpoint_id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    take_replay_quota(&state, &tenant, 1).await?;
    if !state.store.reopen_delivery(&tenant, &delivery, None).await? {
        // Another resend or recovery re-opened it first.
        return Err(pending_conflict());
    }
    let attempt = delivery.attempts + 1;
    enqueue_reopened(&state, &tenant, &[delivery]).await?;
    tracing::info!(tenant_id = %tenant, event_id = %event_id, endpoint_id = %endpoint_id, attempt, "delivery resent");
    Ok((StatusCode::ACCEPTED, Json(Resent { event_id, endpoint_id, attempt })))
}

/// Counts `amount` replays or test sends against the tenant's per-minute quota, or refuses
/// the request with a 429 that says when the next window opens.
pub(crate) async fn take_replay_quota(state: &AppState, tenant: &TenantId, amount: u32) -> Result<(), ApiError> {
    let Some(limit) = state.store.get_quotas(tenant).await?.replays_per_minute else {
        return Ok(());
    };
    match state.store.count_replays_for_quota(tenant, limit, amount).await? {
        Ok(()) => Ok(()),
        Err(wait) => {
            tracing::info!(tenant_id = %tenant, limit, "replays-per-minute quota reached");
            let retry_after_seconds = u64::try_from(wait.as_millis().div_ceil(1000).max(1)).unwrap_or(60);
            Err(ApiError::TooManyRequests { retry_after_seconds })
        }
    }
}

fn pending_conflict() -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::DeliveryPending,
        message: "the delivery is pending: it is still being delivered or retried".to_owned(),
    }
}

/// Queues the re-opened deliveries (one SendMessageBatch per ten). If SQS refuses, they are put
/// back as they were, so a later replay finds them, and the request fails with 503.
async fn enqueue_reopened(state: &AppState, tenant: &TenantId, reopened: &[Delivery]) -> Result<(), ApiError> {
    let jobs: Vec<DeliveryJob> = reopened
        .iter()
        .map(|d| DeliveryJob {
            tenant_id: tenant.clone(),
            event_id: d.event_id.clone(),
            endpoint_id: d.endpoint_id.clone(),
        })
        .collect();
    let Err(err) = state.queue.enqueue(&jobs).await else {
        return Ok(());
    };
    restore(state, tenant, reopened).await;
    Err(err.into())
}

/// Puts re-opened deliveries back as they were read. Should that fail too, the delivery stays
/// pending without a message (a resend answers 409): rare enough to be an error in the log.
async fn restore(state: &AppState, tenant: &TenantId, reopened: &[Delivery]) {
    for delivery in reopened {
        if let Err(err) = state.store.restore_delivery(tenant, delivery).await {
            tracing::error!(
                error = %err,
                event_id = %delivery.event_id,
                endpoint_id = %delivery.endpoint_id,
                "a re-opened delivery could not be queued nor put back"
            );
        }
    }
}

/// The request body of `POST /v1/endpoints/{id}/recover`: a window `since..=until` (RFC 3339,
/// at most 14 days wide), or the `continuation` a previous call answered with (the window may
/// be sent again with it, unchanged).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Required unless `continuation` is given.
    #[serde(default)]
    #[schema(format = DateTime)]
    since: Option<String>,
    /// Default: now.
    #[serde(default)]
    #[schema(format = DateTime)]
    until: Option<String>,
    /// A previous call's `continuation`: goes on where that call stopped.
    #[serde(default)]
    continuation: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Recovered {
    /// Failed or paused deliveries this call queued again.
    requeued: usize,
    /// Failed or paused deliveries left alone because a recovery re-queued them less than
    /// [`RECOVERY_REPEAT_WINDOW`] ago (resend one to try it sooner).
    recently_recovered: usize,
    /// Whether this call found the endpoint disabled and enabled it.
    reenabled: bool,
    /// `null` once the whole window is done; otherwise the time budget ran out first, and
    /// calling again with `{"continuation": …}` goes on where this call stopped.
    continuation: Option<String>,
}

/// The label a continuation's signing key is derived under (`signed.rs`).
const CONTINUATION_LABEL: &[u8] = b"hookline/recover-continuation/v1";

/// Where a recovery stopped, signed into its `continuation`: the window it was asked for (with
/// `until` as it was resolved, so "now" does not move), the last event it covered, and when
/// the deliveries it re-queues may be attempted. It names its tenant and endpoint, so it goes
/// on only the recovery that handed it out.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct RecoverPosition {
    #[serde(rename = "t")]
    tenant_id: TenantId,
    #[serde(rename = "e")]
    endpoint_id: EndpointId,
    #[serde(rename = "s", with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    #[serde(rename = "u", with = "time::serde::rfc3339")]
    until: OffsetDateTime,
    #[serde(rename = "a")]
    after: EventId,
    #[serde(rename = "nb", default, with = "time::serde::rfc3339::option")]
    not_before: Option<OffsetDateTime>,
}

impl RecoverPosition {
    /// The position `continuation` holds, if this deployment signed it for this endpoint. A
    /// window sent with it must be the one it was issued for.
    fn open(
        continuation: &str,
        tenant: &TenantId,
        endpoint: &EndpointId,
        request: &RecoverRequest,
    ) -> Result<Self, ApiError> {
        let position: Self = match signed::verify(CONTINUATION_LABEL, continuation) {
            Ok(position) => position,
            Err(TokenError::NoKey) => return Err(ApiError::Unavailable("no encryption key is installed".into())),
            Err(TokenError::Invalid) => return Err(not_our_continuation()),
        };
        if position.tenant_id != *tenant || position.endpoint_id != *endpoint {
            return Err(not_our_continuation());
        }
        let mut errors = Vec::new();
        for (field, text, issued) in
            [("since", &request.since, position.since), ("until", &request.until, position.until)]
        {
            if text.as_deref().is_some_and(|text| OffsetDateTime::parse(text, &Rfc3339).ok() != Some(issued)) {
                errors.push(FieldError::new(field, "differs from the window the continuation was issued for"));
            }
        }
        if errors.is_empty() { Ok(position) } else { Err(Invalid(errors).into()) }
    }

    fn seal(&self) -> Result<String, ApiError> {
        signed::sign(CONTINUATION_LABEL, self).map_err(|err| ApiError::Unavailable(Box::new(err)))
    }
}

fn not_our_continuation() -> ApiError {
    Invalid::one("continuation", "not a continuation this endpoint's recovery handed out").into()
}

/// The window `since..=until` (until defaults to now), at most [`MAX_RECOVERY_WINDOW`] wide.
fn recovery_window(request: &RecoverRequest) -> Result<(OffsetDateTime, OffsetDateTime), Invalid> {
    let mut errors = Vec::new();
    if request.since.is_none() {
        errors.push(FieldError::new("since", "is required (unless a `continuation` is given)"));
    }
    let mut parse = |field: &str, text: &str| {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| errors.push(FieldError::new(field, "an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")))
            .ok()
    };
    let since = request.since.as_deref().and_then(|text| parse("since", text));
    let until = match &request.until {
        Some(text) => parse("until", text),
        None => Some(OffsetDateTime::now_utc()),
    };
    if let (Some(since), Some(until)) = (since, until) {
        if until < since {
            errors.push(FieldError::new("until", "is before `since`"));
        } else if until - since > MAX_RECOVERY_WINDOW {
            errors
                .push(FieldError::new("since", "the window from `since` to `until` (default: now) is at most 14 days"));
        }
    }
    match (since, until) {
        (Some(since), Some(until)) if errors.is_empty() => Ok((since, until)),
        _ => Err(Invalid(errors)),
    }
}

/// `POST /v1/endpoints/{id}/recover` `{"since", "until"?}` or `{"continuation"}`: re-enables the
/// endpoint if it was disabled, resets its health, and queues again every failed or paused
/// delivery to it of an event made in the window, oldest event first, ten at a time, until the
/// window is done or the deployment's `recover_budget` has passed (a batch begun is finished).
/// Then it answers with what it re-queued and, if the window is not done, a `continuation`:
/// sent back, it goes on after the last event covered (without re-enabling or resetting health
/// again), so the calls together queue each delivery once. Deliveries still pending are left to
/// their schedule, and so are those another recovery re-queued within
/// [`RECOVERY_REPEAT_WINDOW`], so repeating a call sends nothing twice. Each call counts one
/// against the replays-per-minute quota.
#[utoipa::path(post, path = "/v1/endpoints/{id}/recover", operation_id = "recover_endpoint", tag = "replays",
    summary = "Re-enable an endpoint and re-queue its failed or paused deliveries in a window",
    security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)), request_body = RecoverRequest,
    responses((status = 202, description = "What was re-queued", body = Recovered),
        TenantErrors, BodyErrors, NotFound, RateLimited, WriteConflict))]
pub async fn recover(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
    JsonBody(request): JsonBody<RecoverRequest>,
) -> Result<(StatusCode, Json<Recovered>), ApiError> {
    let started = Instant::now();
    let tenant = auth.tenant().clone();
    let resumed = match request.continuation.as_deref() {
        Some(continuation) => Some(RecoverPosition::open(continuation, &tenant, &id, &request)?),
        None => None,
    };
    let (since, until) = match &resumed {
        Some(position) => (position.since, position.until),
        None => recovery_window(&request)?,
    };
    let endpoint = auth.endpoint(&state, &id).await?;
    take_replay_quota(&state, &tenant, 1).await?;
    let (reenabled, not_before, mut after) = match resumed {
        Some(position) => (false, position.not_before, Some(position.after)),
        None => {
            let was_disabled = endpoint.status == EndpointStatus::Disabled;
            let reenabled = was_disabled && state.store.reactivate_endpoint(&tenant, &id).await?;
            state.store.update_endpoint_health(&tenant, &id, HealthChange::Recovered).await?;
            // A deliver function may still hold the endpoint as disabled for its cache's
            // lifetime and would pause the deliveries again: hold their next attempt back until
            // that has passed.
            let not_before = was_disabled.then(|| OffsetDateTime::now_utc() + ENDPOINT_TTL + Duration::from_secs(1));
            (reenabled, not_before, None)
        }
    };

    let budget = state.config.recover_budget;
    let (mut requeued, mut recently_recovered) = (0, 0);
    let mut window_done = false;
    'window: loop {
        let page = state
            .store
            .endpoint_event_ids(&tenant, &id, since, until, MAX_PAGE_SIZE, after.as_ref().map(EventId::as_str))
            .await?;
        let mut chunks = page.ids.chunks(RECOVERY_BATCH).peekable();
        while let Some(chunk) = chunks.next() {
            let (reopened, left) = reopen_failed(&state, &tenant, &id, chunk, not_before).await?;
            enqueue_reopened(&state, &tenant, &reopened).await?;
            requeued += reopened.len();
            recently_recovered += left;
            after = chunk.last().cloned();
            if chunks.peek().is_some() && started.elapsed() >= budget {
                break 'window;
            }
        }
        match page.next.as_deref().map(EventId::parse) {
            Some(Ok(reached)) => after = Some(reached),
            Some(Err(_)) => return Err(StoreError::Corrupt("an event id the window's Query reached".into()).into()),
            None => {
                window_done = true;
                break;
            }
        }
        if started.elapsed() >= budget {
            break;
        }
    }
    let continuation = match after.filter(|_| !window_done) {
        Some(after) => Some(
            RecoverPosition { tenant_id: tenant.clone(), endpoint_id: id.clone(), since, until, after, not_before }
                .seal()?,
        ),
        None => None,
    };
    tracing::info!(
        tenant_id = %tenant,
        endpoint_id = %id,
        reenabled,
        requeued,
        recently_recovered,
        done = continuation.is_none(),
        "endpoint recovered"
    );
    Ok((StatusCode::ACCEPTED, Json(Recovered { requeued, recently_recovered, reenabled, continuation })))
}

/// Re-opens the failed or paused deliveries to `endpoint` of these events, concurrently, and
/// returns them as they were read, with how many were left because a recovery re-queued them
/// recently. On an error, those already re-opened are put back.
async fn reopen_failed(
    state: &AppState,
    tenant: &TenantId,
    endpoint: &EndpointId,
    events: &[EventId],
    not_before: Option<OffsetDateTime>,
) -> Result<(Vec<Delivery>, usize), ApiError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, event) in events.iter().enumerate() {
        let (store, tenant, event, endpoint) = (state.store.clone(), tenant.clone(), event.clone(), endpoint.clone());
        tasks.spawn(async move {
            let Some(delivery) = store.get_delivery(&tenant, &event, &endpoint).await? else {
                return Ok((i, None));
            };
            if !matches!(delivery.status, DeliveryStatus::Failed | DeliveryStatus::Paused) {
                return Ok((i, None));
            }
            // False: it moved on since the read (another replay), or a recovery re-queued it
            // recently, so it is not ours to queue.
            let reopened = store.reopen_for_recovery(&tenant, &delivery, not_before, RECOVERY_REPEAT_WINDOW).await?;
            Ok::<_, StoreError>((i, Some((reopened, delivery))))
        });
    }
    let mut reopened = Vec::new();
    let mut left = 0;
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((i, Some((true, delivery))))) => reopened.push((i, delivery)),
            Ok(Ok((_, Some((false, _))))) => left += 1,
            Ok(Ok((_, None))) => {}
            Ok(Err(err)) => failure = Some(ApiError::from(err)),
            Err(err) => failure = Some(ApiError::Unavailable(Box::new(err))),
        }
    }
    // Oldest event first, as listed.
    reopened.sort_by_key(|(i, _)| *i);
    let reopened: Vec<Delivery> = reopened.into_iter().map(|(_, d)| d).collect();
    if let Some(err) = failure {
        restore(state, tenant, &reopened).await;
        return Err(err);
    }
    Ok((reopened, left))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Redriven {
    /// Messages moved to the deliveries queue (and deleted from the dead-letter queue).
    moved: usize,
    /// Messages left on the dead-letter queue because they are not delivery messages.
    skipped: usize,
    /// Whether the dead-letter queue was found empty; if not, the time budget ran out first and
    /// another call moves the rest.
    empty: bool,
}

/// An SQS error with its causes, for the log.
fn sqs_error<E: std::error::Error>(op: &'static str) -> impl FnOnce(E) -> ApiError {
    move |err| {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ApiError::from(QueueError::Aws { op, message })
    }
}

/// `POST /v1/admin/dlq/redrive` (admin token): moves the dead-letter queue's messages back to
/// the deliveries queue, ten at a time, until it is empty or [`REDRIVE_BUDGET`] has passed. A
/// message is deleted from the dead-letter queue only once it is on the deliveries queue; a
/// redriven delivery that already finished is dropped by the deliver function. 503 without a
/// dead-letter queue (`HOOKLINE_DLQ_URL`).
#[utoipa::path(post, path = "/v1/admin/dlq/redrive", operation_id = "redrive_dead_letters", tag = "replays",
    summary = "Move the dead-letter queue back to the deliveries queue", security(("adminToken" = [])),
    responses((status = 200, description = "What was moved", body = Redriven), AdminErrors))]
pub async fn redrive(State(state): State<AppState>, _admin: AdminAuth) -> Result<Json<Redriven>, ApiError> {
    let Some(dlq) = state.config.dead_letter_queue_url.clone() else {
        return Err(ApiError::Unavailable("no dead-letter queue is configured (HOOKLINE_DLQ_URL)".into()));
    };
    let started = Instant::now();
    let (mut moved, mut skipped, mut empty) = (0, 0, false);
    while started.elapsed() < REDRIVE_BUDGET {
        let received = state
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(REDRIVE_VISIBILITY_SECONDS)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty = true;
            break;
        }
        let mut jobs = Vec::new();
        let mut receipts = Vec::new();
        for message in messages {
            let parsed = message.body().and_then(|body| QueueMessage::parse(body).ok());
            match (parsed, message.receipt_handle) {
                (Some(parsed), Some(receipt)) => {
                    // A first round comes back as its deliveries, each its own message: they
                    // read the round's record (if it was made) before sending.
                    match parsed {
                        QueueMessage::Delivery(job) => jobs.push(job),
                        QueueMessage::Round(round) => jobs.extend(round.endpoint_ids.iter().map(|ep| round.job(ep))),
                    }
                    receipts.push(receipt);
                }
                _ => {
                    // Left where it is, for someone to look at; it reappears after the visibility timeout.
                    tracing::warn!(message_id = ?message.message_id, "not a delivery message; left on the DLQ");
                    skipped += 1;
                }
            }
        }
        // SendMessageBatch; if it fails, nothing is deleted and the messages reappear on the DLQ.
        state.queue.enqueue(&jobs).await?;
        let receipts_moved = receipts.len();
        let mut deletes = tokio::task::JoinSet::new();
        for receipt in receipts {
            let (sqs, dlq) = (state.sqs.clone(), dlq.clone());
            deletes.spawn(async move { sqs.delete_message().queue_url(dlq).receipt_handle(receipt).send().await });
        }
        while let Some(deleted) = deletes.join_next().await {
            if !matches!(deleted, Ok(Ok(_))) {
                // It is on the deliveries queue already: at worst it is moved twice, which the
                // deliver function's attempt log makes harmless.
                tracing::warn!("a redriven message could not be deleted from the DLQ");
            }
        }
        moved += receipts_moved;
    }
    tracing::info!(moved, skipped, empty, "dead-letter queue redriven");
    Ok(Json(Redriven { moved, skipped, empty }))
}
