//! `POST /v1/events/batch`: up to [`MAX_BATCH_EVENTS`] events in one request of at most
//! [`MAX_BATCH_BYTES`]. Each item goes through the same checks, idempotency claim and quota as
//! `POST /v1/events`; the deliveries of all the written events are then queued together, ten
//! messages per SendMessageBatch, which is what makes a batch cheaper than single POSTs.
//!
//! The answer is 207 with one result per item, in order: `{"status": 202, "id", "deliveries"}`
//! for an event whose every message is on the queue, or `{"status", "error": {"code",
//! "message"}}` as the single route would have answered it.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hookline_shared::domain::{Invalid, NewEvent, NewEventRequest, event_fingerprint};
use hookline_shared::fanout::enqueue_many;
use hookline_shared::ids::EventId;
use hookline_shared::openapi::{RateLimited, TenantErrors};
use hookline_shared::web::{ApiError, AppState, ErrorBody, ErrorCode, TenantKey};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::{Accepted, Staged, finish, ingest_policy, queue_staged, stage};

/// The most events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 100;
/// The largest batch body accepted (each event's payload keeps its own limit).
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Items checked, claimed and written at once.
const STAGE_CONCURRENCY: usize = 10;

/// The request body of `POST /v1/events/batch`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct BatchRequest {
    /// Kept raw, so an item of the wrong shape is that item's 422, not the batch's.
    #[schema(value_type = Vec<NewEventRequest>, min_items = 1, max_items = 100)]
    events: Vec<Box<RawValue>>,
}

/// The answer of `POST /v1/events/batch` (207): one result per event, in order.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the JSON built in `create_events`
pub(crate) struct BatchResults {
    results: Vec<BatchItemResult>,
}

/// One event's result: `status` 202 with `id` and `deliveries` once all of its deliveries are
/// on SQS, or the status and `error` `POST /v1/events` would have answered with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the JSON built in `create_events`
pub(crate) struct BatchItemResult {
    status: u16,
    id: Option<EventId>,
    deliveries: Option<usize>,
    #[schema(value_type = Option<ErrorBody>)]
    error: Option<Value>,
}

/// What to do with one item.
enum Plan {
    Stage(NewEvent),
    /// An earlier item in this batch has the same idempotency key: answer as it was answered,
    /// if it is the same event (its fingerprint).
    SameAs {
        index: usize,
        fingerprint: String,
    },
    Refuse(ApiError),
}

/// Publish up to 100 events in one request.
#[utoipa::path(post, path = "/v1/events/batch", operation_id = "create_events", tag = "events",
    security(("apiKey" = [])), request_body = BatchRequest,
    responses((status = 207, description = "One result per event, in order", body = BatchResults),
        (status = 400, description = "`invalid_json`: the body is not JSON", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the batch is over 1 MB", body = ErrorBody),
        (status = 422, description = "`validation_error`: not 1 to 100 events", body = ErrorBody),
        TenantErrors, RateLimited))]
pub(crate) async fn create_events(
    State(state): State<AppState>,
    TenantKey(tenant): TenantKey,
    body: Body,
) -> Result<Response, ApiError> {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BATCH_BYTES).await else {
        return Ok(too_large());
    };
    let request: BatchRequest = serde_json::from_slice(&bytes).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable { message: err.to_string() },
        _ => {
            ApiError::BadRequest { code: ErrorCode::InvalidJson, message: format!("the body is not valid JSON: {err}") }
        }
    })?;
    if request.events.is_empty() || request.events.len() > MAX_BATCH_EVENTS {
        return Err(Invalid::one("events", format!("a batch holds 1 to {MAX_BATCH_EVENTS} events")).into());
    }
    let policy = ingest_policy(&state, &tenant).await?;

    let mut first_with_key: HashMap<String, usize> = HashMap::new();
    let plans: Vec<Plan> = request
        .events
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let parsed = serde_json::from_str::<NewEventRequest>(raw.get())
                .map_err(|err| ApiError::Unprocessable { message: err.to_string() })
                .and_then(|request| NewEvent::parse(request).map_err(ApiError::from));
            match parsed {
                Err(err) => Plan::Refuse(err),
                Ok(new) => match new.idempotency_key.as_ref().and_then(|key| first_with_key.get(key)) {
                    Some(&first) => {
                        Plan::SameAs { index: first, fingerprint: event_fingerprint(&new.event_type, &new.payload) }
                    }
                    None => {
                        if let Some(key) = &new.idempotency_key {
                            first_with_key.insert(key.clone(), index);
                        }
                        Plan::Stage(new)
                    }
                },
            }
        })
        .collect();
    let fingerprints: Vec<Option<String>> = plans
        .iter()
        .map(|plan| match plan {
            Plan::Stage(new) => Some(event_fingerprint(&new.event_type, &new.payload)),
            _ => None,
        })
        .collect();
    let repeats: Vec<Option<(usize, String)>> = plans
        .iter()
        .map(|plan| match plan {
            Plan::SameAs { index, fingerprint } => Some((*index, fingerprint.clone())),
            _ => None,
        })
        .collect();

    // Check, claim and write, in order; nothing is queued yet.
    let state_ref = &state;
    let (tenant_ref, policy_ref) = (&tenant, &policy);
    let staged: Vec<Option<Result<Staged, ApiError>>> =
        futures::stream::iter(plans.into_iter().map(|plan| async move {
            match plan {
                Plan::Stage(new) => Some(stage(state_ref, tenant_ref, policy_ref, new).await),
                Plan::Refuse(err) => Some(Err(err)),
                Plan::SameAs { .. } => None,
            }
        }))
        .buffered(STAGE_CONCURRENCY)
        .collect()
        .await;

    // Queue the first rounds of the events written here together, then record each outcome. A
    // resumed request's event is queued on its own, unmarked (its deliveries may have been
    // attempted, so each is read before sending).
    let written: Vec<&hookline_shared::domain::Event> = staged
        .iter()
        .filter_map(|s| match s {
            Some(Ok(Staged::Written { event, first_round: true, .. })) => Some(event),
            _ => None,
        })
        .collect();
    let mut queued = enqueue_many(&state.queue, &written).await.into_iter();
    let mut results: Vec<Option<Result<Accepted, ApiError>>> = Vec::with_capacity(staged.len());
    for item in staged {
        results.push(match item {
            None => None,
            Some(Err(err)) => Some(Err(err)),
            Some(Ok(Staged::Queued(accepted))) => Some(Ok(accepted)),
            Some(Ok(Staged::Written { event, first_round, delay, takeover })) => {
                let all_queued = if first_round {
                    queued.next().unwrap_or(false)
                } else {
                    queue_staged(&state, &event, false, delay).await.is_ok()
                };
                let outcome = if all_queued {
                    Ok(())
                } else {
                    Err(ApiError::Unavailable("the event's deliveries could not be queued".into()))
                };
                Some(finish(&state, &event, takeover, outcome).await)
            }
        });
    }

    let mut answers: Vec<Value> = Vec::with_capacity(results.len());
    for result in results {
        answers.push(match result {
            Some(Ok(accepted)) => json!({"status": 202, "id": accepted.id, "deliveries": accepted.deliveries}),
            Some(Err(err)) => item_error(err).await,
            None => Value::Null,
        });
    }
    // A repeated idempotency key answers as its first item did, or 409 if the event differs.
    for (i, repeat) in repeats.into_iter().enumerate() {
        let Some((first, fingerprint)) = repeat else { continue };
        answers[i] = match fingerprints.get(first) {
            Some(Some(same)) if *same == fingerprint => answers.get(first).cloned().unwrap_or(Value::Null),
            _ => {
                item_error(ApiError::Conflict {
                    code: ErrorCode::IdempotencyKeyReused,
                    message: "this idempotency key was used for an event with another type or payload".into(),
                })
                .await
            }
        };
    }
    Ok((StatusCode::MULTI_STATUS, Json(json!({ "results": answers }))).into_response())
}

/// An item's error as the single route would have answered it: its status and JSON body.
async fn item_error(err: ApiError) -> Value {
    let response = err.into_response();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let error: Value = serde_json::from_slice(&body).unwrap_or_else(
        |_| json!({"code": ErrorCode::Unavailable.as_str(), "message": "the item could not be processed"}),
    );
    json!({ "status": status, "error": error })
}

/// 413 for a batch over [`MAX_BATCH_BYTES`] (the single route's limit is smaller, so its
/// error's message would say the wrong size).
fn too_large() -> Response {
    let message = format!("a batch is at most {MAX_BATCH_BYTES} bytes; send fewer events per request");
    (StatusCode::PAYLOAD_TOO_LARGE, Json(json!({"code": ErrorCode::PayloadTooLarge.as_str(), "message": message})))
        .into_response()
}
