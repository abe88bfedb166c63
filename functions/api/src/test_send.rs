//! A test send: an example event, signed and sent to the endpoint at once through the delivery
//! client (the same request builder, address guard and credentials as a delivery), its result
//! reported and recorded as a `test` attempt of a synthetic event.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use hookline_shared::delivery::{HttpResult, Sender, request};
use hookline_shared::domain::{
    Attempt, AttemptError, Endpoint, EndpointAuth, Event, EventType, FieldError, HeadersRequest, Invalid, NewEndpoint,
    NewEndpointRequest, PayloadSchema,
};
use hookline_shared::ids::{EndpointId, EventId};
use hookline_shared::openapi::{BodyErrors, NotFound, RateLimited, TenantErrors, WriteConflict};
use hookline_shared::store::{RateSlot, StoreError};
use hookline_shared::web::{ApiError, AppState, JsonBody, PathParams, TenantAuth};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// The event type of a test send that names none.
pub const DEFAULT_EVENT_TYPE: &str = "hookline.test";
/// The longest a test send waits for the receiver, whatever the endpoint's own timeout (up to
/// 30 s): the answer must fit the api function's 15 s.
const TEST_SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a test send waits for a slot of the endpoint's rate limit before answering 429.
const MAX_RATE_WAIT: Duration = Duration::from_secs(2);

/// The request body of `POST /v1/endpoints/{id}/test`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    /// Default: `hookline.test`.
    #[serde(default)]
    #[schema(value_type = Option<EventType>)]
    event_type: Option<String>,
    /// Also send the request with a wrong credential and check the receiver refuses it.
    #[serde(default)]
    check_auth: bool,
    /// The payload to send instead of the type's example (a JSON object; it must match the
    /// type's schema, if it has one).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    payload: Option<Box<RawValue>>,
    /// Query parameters (templates) instead of the endpoint's, for this send only.
    #[serde(default)]
    query: Option<std::collections::BTreeMap<String, String>>,
    /// Custom headers instead of the endpoint's, for this send only (at most 5; as the endpoint's
    /// `headers`).
    #[serde(default)]
    headers: Option<HeadersRequest>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TestSendReport {
    /// The synthetic event the attempt is recorded under (`GET /v1/events/{id}/attempts`).
    event_id: EventId,
    request: RequestView,
    response: ResponseView,
    succeeded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_check: Option<AuthCheck>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RequestView {
    method: String,
    url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ResponseView {
    status: Option<u16>,
    latency_ms: u64,
    body_excerpt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<AttemptError>,
}

/// What the receiver answered to the same request with a wrong credential.
#[derive(Serialize, utoipa::ToSchema)]
struct AuthCheck {
    status: Option<u16>,
    /// It answered 401 or 403.
    refused: bool,
    /// Why there is no status (the request did not get an answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<AttemptError>,
}

/// `POST /v1/endpoints/{id}/test` `{"event_type"?, "check_auth"?, "payload"?, "query"?,
/// "headers"?}`: sends an example event (the given payload, else the registered type's example
/// payload, else `{"test": true, "event_type": ...}`) and reports what the receiver answered.
/// Like Zendesk's test panel, the request's body, query parameters and headers can be edited
/// for this one send; the overrides are checked by the endpoint's own rules. With
/// `check_auth`, the same request also goes with a wrong credential (under its own
/// `webhook-id`, so a receiver that drops duplicates still judges it) and the report says
/// whether the receiver refused it.
#[utoipa::path(post, path = "/v1/endpoints/{id}/test", operation_id = "test_endpoint", tag = "endpoints",
    summary = "Send a test event now and report the answer", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EndpointId, Path)), request_body = TestSendRequest,
    responses((status = 200, description = "What the receiver answered", body = TestSendReport, links(
        ("list_event_attempts" = (operation_id = "list_event_attempts", parameters(("id" = "$response.body#/event_id")))),
    )), TenantErrors, BodyErrors, NotFound, RateLimited, WriteConflict))]
pub async fn send(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
    JsonBody(body): JsonBody<TestSendRequest>,
) -> Result<Json<TestSendReport>, ApiError> {
    let tenant = auth.tenant().clone();
    let endpoint = auth.endpoint(&state, &id).await?;
    let mut errors = Vec::new();
    let event_type = EventType::parse(body.event_type.as_deref().unwrap_or(DEFAULT_EVENT_TYPE))
        .map_err(|m| errors.push(FieldError::new("event_type", m)))
        .ok();
    if body.check_auth && matches!(endpoint.options.auth, EndpointAuth::None) {
        errors.push(FieldError::new("check_auth", "the endpoint sends no credentials: there is nothing to check"));
    }
    let endpoint = with_overrides(&state, endpoint, body.query, body.headers, &mut errors)?;
    let Some(event_type) = event_type.filter(|_| errors.is_empty()) else {
        return Err(Invalid(errors).into());
    };
    let definition = state.store.get_event_type(&tenant, &event_type).await?;
    let payload = match body.payload.filter(|p| p.get() != "null") {
        Some(payload) => checked_payload(payload, definition.as_ref().and_then(|d| d.schema.as_deref()))?,
        None => match definition.and_then(|t| t.example) {
            Some(example) => example,
            None => serde_json::value::to_raw_value(&serde_json::json!({"test": true, "event_type": event_type}))
                .map_err(|e| ApiError::Unavailable(Box::new(e)))?,
        },
    };
    let sender = Sender::new(state.config.egress).map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    let requests = if body.check_auth { 2 } else { 1 };
    crate::replay::take_replay_quota(&state, &tenant, requests).await?;

    let event = Event {
        id: EventId::generate(),
        tenant_id: tenant.clone(),
        event_type,
        payload,
        idempotency_key: None,
        // No deliveries: the test attempt stands alone, and no replay ever picks the event up.
        endpoint_ids: Vec::new(),
        created_at: OffsetDateTime::now_utc(),
    };
    let at = OffsetDateTime::now_utc();
    // Rendering is bounded and fails as a delivery would (`render_too_large`…): the report says
    // so and nothing is sent.
    let (shown, truncated, result, probed) = match request::build(&endpoint, &event, at.unix_timestamp()) {
        Err(err) => {
            state.store.put_event(&event).await?;
            let url = hookline_shared::domain::redact_query_credentials(endpoint.url.as_url()).to_string();
            let shown = RequestView { method: endpoint.options.method.to_string(), url };
            (shown, false, HttpResult::not_sent(err.to_attempt_error()), None)
        }
        Ok(mut outgoing) => {
            let waits = rate_slots(&state, &endpoint, requests).await?;
            state.store.put_event(&event).await?;
            outgoing.timeout = outgoing.timeout.min(TEST_SEND_TIMEOUT);
            // A credential in the URL's query is shown only at creation.
            let shown = RequestView {
                method: outgoing.method.to_string(),
                url: hookline_shared::domain::redact_query_credentials(&outgoing.url).to_string(),
            };
            let truncated = outgoing.truncated;
            let probe = body.check_auth.then(|| {
                let mut wrong = endpoint.clone();
                wrong.options.auth = endpoint.options.auth.with_wrong_credential();
                let probe_event = Event { id: EventId::generate(), ..event.clone() };
                // The same event rendered a moment ago: it renders again.
                request::build(&wrong, &probe_event, at.unix_timestamp()).ok().map(|mut outgoing| {
                    outgoing.timeout = outgoing.timeout.min(TEST_SEND_TIMEOUT);
                    outgoing
                })
            });
            let wait = |i: usize| waits.get(i).copied().unwrap_or_default();
            let (result, probed) = tokio::join!(
                async {
                    tokio::time::sleep(wait(0)).await;
                    sender.send(outgoing).await
                },
                async {
                    match probe.flatten() {
                        Some(outgoing) => {
                            tokio::time::sleep(wait(1)).await;
                            Some(sender.send(outgoing).await)
                        }
                        None => None,
                    }
                }
            );
            (shown, truncated, result, probed)
        }
    };

    let attempt = Attempt {
        endpoint_id: endpoint.id.clone(),
        number: 1,
        at,
        succeeded: result.succeeded(),
        response_status: result.status,
        error: result.error.clone(),
        latency_ms: result.latency_ms,
        response_body: result.body_excerpt.clone(),
        response_body_base64: result.body_base64,
        response_headers: result.headers.clone(),
        truncated,
        test: true,
    };
    state.store.record_test_attempt(&tenant, &event.id, &attempt).await?;
    tracing::info!(
        tenant_id = %tenant,
        endpoint_id = %endpoint.id,
        event_id = %event.id,
        status = ?result.status,
        error = result.error.as_ref().map(|e| e.kind.as_str()),
        auth_refused = ?probed.as_ref().map(refused),
        "test send"
    );
    Ok(Json(TestSendReport {
        event_id: event.id,
        request: shown,
        succeeded: result.succeeded(),
        response: ResponseView {
            status: result.status,
            latency_ms: result.latency_ms,
            body_excerpt: result.body_excerpt,
            error: result.error,
        },
        auth_check: probed.map(|r| AuthCheck {
            refused: refused(&r),
            status: r.status,
            // The status says it all when there is one.
            error: r.error.filter(|_| r.status.is_none()),
        }),
    }))
}

/// The endpoint with the test's `query` and `headers` in place of its own, validated as the
/// endpoint would be with them (so a header Zendesk refuses, or custom headers to plain http,
/// are refused here too). Problems go to `errors`.
fn with_overrides(
    state: &AppState,
    mut endpoint: Endpoint,
    query: Option<std::collections::BTreeMap<String, String>>,
    headers: Option<HeadersRequest>,
    errors: &mut Vec<FieldError>,
) -> Result<Endpoint, ApiError> {
    if query.is_none() && headers.is_none() {
        return Ok(endpoint);
    }
    let mut request = NewEndpointRequest::from_endpoint(&endpoint);
    if let Some(query) = query {
        request.query = Some(query);
    }
    if let Some(headers) = headers {
        request.headers = Some(headers);
    }
    match NewEndpoint::parse(request, state.url_rules()) {
        Ok(checked) => {
            endpoint.options = checked.options;
            endpoint.presentation = checked.presentation;
        }
        Err(Invalid(found)) => errors.extend(found),
    }
    Ok(endpoint)
}

/// A payload given for the test: a JSON object that matches the type's schema, if any.
fn checked_payload(payload: Box<RawValue>, schema: Option<&RawValue>) -> Result<Box<RawValue>, ApiError> {
    if !payload.get().starts_with('{') {
        return Err(Invalid::one("payload", "the payload is a JSON object").into());
    }
    if let Some(schema) = schema {
        let schema =
            PayloadSchema::cached(schema.get()).map_err(|e| StoreError::Corrupt(format!("event type schema: {e}")))?;
        let value: Value = serde_json::from_str(payload.get()).map_err(|e| Invalid::one("payload", e.to_string()))?;
        let errors = schema.check(&value, "payload");
        if !errors.is_empty() {
            return Err(Invalid(errors).into());
        }
    }
    Ok(payload)
}

fn refused(result: &HttpResult) -> bool {
    matches!(result.status, Some(401 | 403))
}

/// Reserves `count` slots of the endpoint's rate limit (shared with the deliver functions),
/// and returns how long to wait for each; 429 if they are further off than [`MAX_RATE_WAIT`].
/// A refused request reserves nothing, so refused test sends cannot push deliveries back.
async fn rate_slots(state: &AppState, endpoint: &Endpoint, count: u32) -> Result<Vec<Duration>, ApiError> {
    let Some(limit) = endpoint.rate_limit() else {
        return Ok(vec![Duration::ZERO; count as usize]);
    };
    // As the deliver function spaces them: 5 % above the nominal interval.
    let interval = Duration::from_secs(1).div_f64(f64::from(limit.per_second.max(1))).mul_f64(1.05);
    let Some(first) = state.store.reserve_rate_slots_within(&limit.key, interval, count, MAX_RATE_WAIT).await? else {
        // Busy for longer than a test send waits: say when the limiter's queue will have run down.
        let next_ms = state.store.next_rate_slot(&limit.key).await?.unwrap_or_default();
        let busy_ms = next_ms - hookline_shared::store::now_ms(OffsetDateTime::now_utc());
        let retry_after_seconds = u64::try_from(busy_ms.max(1000)).unwrap_or(1000).div_ceil(1000);
        return Err(ApiError::TooManyRequests { retry_after_seconds });
    };
    let now = OffsetDateTime::now_utc();
    Ok((0..count)
        .map(|i| {
            let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            RateSlot { at_ms: first.at_ms + step * i64::from(i) }.wait_from(now)
        })
        .collect())
}
