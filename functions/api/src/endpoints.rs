//! Endpoints: where a tenant's events go.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::Attempt;
use hookline_shared::domain::{
    DeliveryLimits, Endpoint, EndpointHealth, EndpointStatus, EventType, EventTypePattern, FieldError, HttpMethod,
    Invalid, NewEndpoint, NewEndpointRequest, Presentation, RetryPolicy,
};
use hookline_shared::ids::{EndpointId, EventId};
use hookline_shared::openapi::{BodyErrors, NotFound, QueryErrors, RateLimited, TenantErrors};
use hookline_shared::signing::SigningSecret;
use hookline_shared::store::EndpointCreation;
use hookline_shared::web::{ApiError, AppState, JsonBody, OptionalJsonBody, PathParams, QueryParams, TenantAuth};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::path_id;

const TAG: &str = "endpoints";

/// An endpoint as the API shows it. The signing secret is not part of it; custom header values
/// and credentials in the URL's query are shown only in the creation response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: EndpointId,
    /// Credentials in its query are redacted, except in the creation response.
    url: String,
    description: String,
    event_types: Vec<EventTypePattern>,
    retry: RetryPolicy,
    method: HttpMethod,
    /// The credential's kind and non-secret parts; secrets are write-only.
    #[schema(value_type = AuthView)]
    auth: serde_json::Value,
    headers: Vec<HeaderView>,
    metadata: std::collections::BTreeMap<String, String>,
    timeout_ms: u32,
    rate_limit_per_second: Option<u32>,
    rate_limit_key: Option<String>,
    #[serde(flatten)]
    presentation: Presentation,
    #[serde(flatten)]
    limits: DeliveryLimits,
    status: EndpointStatus,
    disabled_reason: Option<String>,
    health: EndpointHealth,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<&Endpoint> for EndpointView {
    fn from(ep: &Endpoint) -> Self {
        let mut view = Self::revealed(ep);
        view.url = ep.url.redacted().to_string();
        for header in &mut view.headers {
            header.value = None;
        }
        view
    }
}

impl EndpointView {
    /// The view with header values and the whole URL, for the one response that shows them.
    fn revealed(ep: &Endpoint) -> Self {
        Self {
            id: ep.id.clone(),
            url: ep.url.to_string(),
            description: ep.description.clone(),
            event_types: ep.event_types.clone(),
            retry: ep.retry.clone(),
            method: ep.options.method,
            auth: ep.options.auth.redacted(),
            headers: ep
                .options
                .headers
                .iter()
                .map(|h| HeaderView { name: h.name().to_owned(), value: Some(h.value().to_owned()) })
                .collect(),
            metadata: ep.options.metadata.clone(),
            timeout_ms: ep.options.timeout_ms,
            rate_limit_per_second: ep.options.rate_limit_per_second,
            rate_limit_key: ep.options.rate_limit_key.clone(),
            presentation: ep.presentation.clone(),
            limits: ep.limits.clone(),
            status: ep.status,
            disabled_reason: ep.health.disabled_reason.clone(),
            health: ep.health.clone(),
            created_at: ep.created_at,
        }
    }
}

/// An endpoint's credential as shown: its kind and non-secret parts (`EndpointAuth::redacted`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the JSON `EndpointAuth::redacted` builds
struct AuthView {
    #[schema(value_type = AuthKind)]
    r#type: String,
    /// The header an `api_key` credential is sent in.
    header: Option<String>,
    /// A `basic` credential's user name.
    username: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum AuthKind {
    None,
    ApiKey,
    Basic,
    Bearer,
}

#[derive(Serialize, utoipa::ToSchema)]
struct HeaderView {
    name: String,
    /// Write-only like credentials: shown once, in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// The creation response: the view plus the signing secret, so the receiver can verify.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: EndpointView,
    secret: String,
}

/// Create an endpoint; the response alone shows its signing secret, header values and URL credentials.
#[utoipa::path(post, path = "/v1/endpoints", operation_id = "create_endpoint", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), request_body = NewEndpointRequest,
    responses((status = 201, description = "The endpoint with its signing secret", body = CreatedEndpoint, links(
        ("get_endpoint" = (operation_id = "get_endpoint", parameters(("id" = "$response.body#/id")))),
        ("update_endpoint" = (operation_id = "update_endpoint", parameters(("id" = "$response.body#/id")))),
        ("delete_endpoint" = (operation_id = "delete_endpoint", parameters(("id" = "$response.body#/id")))),
        ("get_endpoint_secret" = (operation_id = "get_endpoint_secret", parameters(("id" = "$response.body#/id")))),
        ("rotate_endpoint_secret" = (operation_id = "rotate_endpoint_secret", parameters(("id" = "$response.body#/id")))),
        ("list_endpoint_attempts" = (operation_id = "list_endpoint_attempts", parameters(("id" = "$response.body#/id")))),
        ("recover_endpoint" = (operation_id = "recover_endpoint", parameters(("id" = "$response.body#/id")))),
        ("test_endpoint" = (operation_id = "test_endpoint", parameters(("id" = "$response.body#/id")))),
    )),
        TenantErrors, BodyErrors, RateLimited))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    JsonBody(request): JsonBody<NewEndpointRequest>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    let tenant = auth.tenant().clone();
    let request = stamp_portal_metadata(&auth, request)?;
    let new = NewEndpoint::parse(request, state.url_rules())?;
    check_registered_types(&state, &tenant, &new.event_types).await?;
    let max = state.store.get_quotas(&tenant).await?.max_endpoints;
    let endpoint = new.into_endpoint(tenant);
    // The count and the endpoint are written together, so parallel requests cannot pass the quota.
    match state.store.create_endpoint(&endpoint, max).await? {
        EndpointCreation::Created => {}
        EndpointCreation::OverQuota => {
            let max = max.unwrap_or_default();
            return Err(ApiError::QuotaExceeded {
                message: format!("the tenant's quota allows {max} endpoints; delete one or ask the operator for more"),
            });
        }
        EndpointCreation::TenantGone => return Err(ApiError::Unauthorized),
    }
    tracing::info!(tenant_id = %endpoint.tenant_id, endpoint_id = %endpoint.id, "endpoint created");
    let created = CreatedEndpoint { endpoint: EndpointView::revealed(&endpoint), secret: endpoint.secret.expose() };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Get an endpoint.
#[utoipa::path(get, path = "/v1/endpoints/{id}", operation_id = "get_endpoint", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    responses((status = 200, description = "The endpoint", body = EndpointView), TenantErrors, NotFound))]
pub async fn get(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let endpoint = auth.endpoint(&state, &id).await?;
    Ok(Json(EndpointView::from(&endpoint)))
}

/// A portal session's endpoints carry its metadata filter: the filter's pairs are added to the
/// request's `metadata`, and a request giving one of those keys another value is a 422, so a
/// customer can only create endpoints it will see.
fn stamp_portal_metadata(auth: &TenantAuth, mut request: NewEndpointRequest) -> Result<NewEndpointRequest, ApiError> {
    let Some(filter) = auth.portal().and_then(|claims| claims.metadata.as_ref()) else {
        return Ok(request);
    };
    let metadata = request.metadata.get_or_insert_with(Default::default);
    let mut errors = Vec::new();
    for (key, value) in filter {
        match metadata.get(key) {
            Some(given) if given != value => errors.push(FieldError::new(
                format!("metadata.{key}"),
                format!("this portal session's endpoints have `{key}` = `{value}`"),
            )),
            _ => {
                metadata.insert(key.clone(), value.clone());
            }
        }
    }
    if errors.is_empty() { Ok(request) } else { Err(Invalid(errors).into()) }
}

/// Once a tenant has registered event types, an endpoint may only subscribe to names it
/// registered (`order.*` must cover at least one); with none registered, anything goes.
/// Hookline's operational events (`hookline.…`) need no registration.
async fn check_registered_types(
    state: &AppState,
    tenant: &hookline_shared::ids::TenantId,
    patterns: &[EventTypePattern],
) -> Result<(), ApiError> {
    // Names only, from the tenant item: the types' examples and schemas are not read.
    let known: Vec<EventType> = state.store.event_type_names(tenant).await?;
    if known.is_empty() {
        return Ok(());
    }
    let names = known.iter().map(EventType::as_str).collect::<Vec<_>>().join(", ");
    let errors: Vec<FieldError> = patterns
        .iter()
        .enumerate()
        .filter(|(_, p)| **p != EventTypePattern::All && !p.is_reserved() && !known.iter().any(|t| p.matches(t)))
        .map(|(i, p)| {
            let shown = serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            FieldError::new(
                format!("event_types[{i}]"),
                format!("`{shown}` names no registered event type; known: {names}"),
            )
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(Invalid(errors).into()) }
}

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// `GET /v1/endpoints` query: `limit`, `cursor` (the last id of the previous page), and
/// filters by `status` and by an event type the endpoint subscribes to.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Items per page: 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    status: Option<EndpointStatus>,
    /// Endpoints subscribed to this event type.
    #[param(value_type = Option<EventType>)]
    event_type: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Page {
    data: Vec<EndpointView>,
    next_cursor: Option<String>,
}

/// Oldest first (ids are time-ordered). A tenant has at most its quota of endpoints, so the
/// filtering happens after one Query.
/// List endpoints, oldest first.
#[utoipa::path(get, path = "/v1/endpoints", operation_id = "list_endpoints", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(ListQuery),
    responses((status = 200, description = "A page of endpoints", body = Page), TenantErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Invalid::one("limit", format!("1 to {MAX_PAGE}")).into());
    }
    let event_type = match &query.event_type {
        Some(name) => Some(EventType::parse(name).map_err(|m| Invalid::one("event_type", m))?),
        None => None,
    };
    let mut endpoints = state.store.list_endpoints(auth.tenant()).await?;
    endpoints.retain(|ep| auth.sees(ep));
    endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    let matching: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|ep| query.cursor.as_deref().is_none_or(|after| ep.id.as_str() > after))
        .filter(|ep| query.status.is_none_or(|s| ep.status == s))
        .filter(|ep| event_type.as_ref().is_none_or(|t| ep.event_types.iter().any(|p| p.matches(t))))
        .collect();
    let next_cursor = (matching.len() > limit).then(|| matching[limit - 1].id.to_string());
    let data = matching.into_iter().take(limit).map(EndpointView::from).collect();
    Ok(Json(Page { data, next_cursor }))
}

/// The endpoint as a creation request, so a patch (or a test send's overrides) can be validated
/// as a whole by the same rules.
pub(crate) fn as_request(ep: &Endpoint) -> Value {
    json!({
        "url": ep.url.to_string(),
        "description": ep.description,
        "event_types": ep.event_types,
        "retry": ep.retry,
        "disable_after_hours": ep.limits.disable_after_hours,
        "method": ep.options.method,
        "auth": ep.options.auth,
        "headers": ep.options.headers,
        "metadata": ep.options.metadata,
        "timeout_ms": ep.options.timeout_ms,
        "rate_limit_per_second": ep.options.rate_limit_per_second,
        "rate_limit_key": ep.options.rate_limit_key,
        "format": ep.presentation.format,
        "template": ep.presentation.template,
        "query": ep.presentation.query,
        "thread_key": ep.presentation.thread_key,
        "cards": ep.presentation.cards,
        "sign": ep.presentation.sign,
        "envelope": ep.presentation.envelope,
        "delete_payload": ep.presentation.delete_payload,
    })
}

/// `PATCH /v1/endpoints/{id}`: any creation field (`null` clears an optional one), plus
/// `enabled`. The result is validated as a whole, like a creation.
#[utoipa::path(patch, path = "/v1/endpoints/{id}", operation_id = "update_endpoint", tag = TAG,
    summary = "Update an endpoint", security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    request_body(content = Object, description = "Any creation field (`null` clears an optional one), and `enabled`"),
    responses((status = 200, description = "The endpoint as changed", body = EndpointView),
        TenantErrors, BodyErrors, NotFound))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
    JsonBody(patch): JsonBody<serde_json::Map<String, Value>>,
) -> Result<Json<EndpointView>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let tenant = auth.tenant().clone();
    let mut endpoint = auth.endpoint(&state, &id).await?;
    let mut patch = patch;
    let enabled = match patch.remove("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(Invalid::one("enabled", "true or false").into()),
    };
    if !patch.is_empty() {
        let mut merged = as_request(&endpoint);
        if let Value::Object(fields) = &mut merged {
            fields.extend(patch);
        }
        let request: NewEndpointRequest =
            serde_json::from_value(merged).map_err(|e| ApiError::Unprocessable { message: e.to_string() })?;
        let new = NewEndpoint::parse(request, state.url_rules())?;
        if auth.portal().is_some_and(|claims| !claims.covers(&new.options.metadata)) {
            // The customer would lose sight of its own endpoint.
            return Err(Invalid::one("metadata", "must keep the portal session's metadata filter").into());
        }
        check_registered_types(&state, &tenant, &new.event_types).await?;
        endpoint.url = new.url;
        endpoint.description = new.description;
        endpoint.event_types = new.event_types;
        endpoint.retry = new.retry;
        endpoint.options = new.options;
        endpoint.presentation = new.presentation;
        endpoint.limits = new.limits;
        if !state.store.update_endpoint_settings(&endpoint).await? {
            return Err(ApiError::NotFound("endpoint"));
        }
    }
    if let Some(enabled) = enabled {
        state.store.set_endpoint_enabled(&tenant, &id, enabled).await?;
    }
    let endpoint = state.store.get_endpoint(&tenant, &id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    tracing::info!(tenant_id = %tenant, endpoint_id = %id, "endpoint updated");
    Ok(Json(EndpointView::from(&endpoint)))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", operation_id = "delete_endpoint", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    responses((status = 204, description = "Deleted"), TenantErrors, NotFound))]
pub async fn delete(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let tenant = auth.tenant();
    auth.endpoint(&state, &id).await?;
    if !state.store.delete_endpoint(tenant, &id).await? {
        return Err(ApiError::NotFound("endpoint"));
    }
    tracing::info!(tenant_id = %tenant, endpoint_id = %id, "endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// `whsec_` and the base64 key (Standard Webhooks).
    secret: String,
    /// During a rotation's grace period, the old secret, which still signs every request.
    previous_secret: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    previous_secret_expires_at: Option<OffsetDateTime>,
}

fn secret_view(ep: &Endpoint) -> SecretView {
    let previous = ep.previous_secret.as_ref().filter(|p| p.until > OffsetDateTime::now_utc());
    SecretView {
        secret: ep.secret.expose(),
        previous_secret: previous.map(|p| p.secret.expose()),
        previous_secret_expires_at: previous.map(|p| p.until),
    }
}

/// `GET /v1/endpoints/{id}/secret`: the only route that shows a signing secret after creation.
#[utoipa::path(get, path = "/v1/endpoints/{id}/secret", operation_id = "get_endpoint_secret", tag = TAG,
    summary = "Get the signing secret", security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    responses((status = 200, description = "The signing secret", body = SecretView), TenantErrors, NotFound))]
pub async fn secret(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
) -> Result<Json<SecretView>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let endpoint = auth.endpoint(&state, &id).await?;
    Ok(Json(secret_view(&endpoint)))
}

const DEFAULT_GRACE_SECONDS: u64 = 24 * 3600;
const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the old secret keeps signing too: default 86400 (24 h), at most 604800 (7 days).
    #[schema(minimum = 0, maximum = 604800)]
    grace_seconds: Option<u64>,
}

/// `POST /v1/endpoints/{id}/secret/rotate` `{"grace_seconds"?}`: a new secret signs from now
/// on; the old one signs too until the grace period ends, so receivers can switch without
/// refusing anything (Standard Webhooks allows several signatures in `webhook-signature`).
#[utoipa::path(post, path = "/v1/endpoints/{id}/secret/rotate", operation_id = "rotate_endpoint_secret", tag = TAG,
    summary = "Rotate the signing secret", security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    request_body(content = Option<RotateRequest>, description = "Optional: an empty body takes the default grace"),
    responses((status = 200, description = "The new secret, and the old one while it still signs", body = SecretView),
        TenantErrors, BodyErrors, NotFound))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
    OptionalJsonBody(request): OptionalJsonBody<RotateRequest>,
) -> Result<Json<SecretView>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let grace = request.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace > MAX_GRACE_SECONDS {
        return Err(Invalid::one("grace_seconds", format!("0 to {MAX_GRACE_SECONDS} seconds (7 days)")).into());
    }
    let tenant = auth.tenant();
    let endpoint = auth.endpoint(&state, &id).await?;
    let new = SigningSecret::generate();
    let until = OffsetDateTime::now_utc() + time::Duration::seconds(i64::try_from(grace).unwrap_or(0));
    state.store.rotate_endpoint_secret(tenant, &id, &new, &endpoint.secret, until).await?;
    tracing::info!(tenant_id = %tenant, endpoint_id = %id, grace_seconds = grace, "signing secret rotated");
    let endpoint = state.store.get_endpoint(tenant, &id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    Ok(Json(secret_view(&endpoint)))
}

/// `GET /v1/endpoints/{id}/attempts` query: a time window (default the last 7 days), an
/// outcome filter and the cursor of the previous page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// Default: 7 days before `until`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// Default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    #[param(inline)]
    status: Option<AttemptOutcome>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum AttemptOutcome {
    Succeeded,
    Failed,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    event_id: EventId,
    #[serde(flatten)]
    attempt: Attempt,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptPage {
    data: Vec<AttemptView>,
    next_cursor: Option<String>,
}

const DEFAULT_HISTORY: time::Duration = time::Duration::days(7);

/// Every attempt made for this endpoint in the window, oldest event first. Attempts are kept
/// under their event, so a page is one Query over the window's events that name this
/// endpoint, then their attempts.
#[utoipa::path(get, path = "/v1/endpoints/{id}/attempts", operation_id = "list_endpoint_attempts", tag = TAG,
    summary = "List an endpoint's attempts in a window, oldest event first", security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EndpointId, Path), AttemptsQuery),
    responses((status = 200, description = "A page of attempts", body = AttemptPage), TenantErrors, QueryErrors, NotFound))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<AttemptsQuery>,
) -> Result<Json<AttemptPage>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let tenant = auth.tenant();
    auth.endpoint(&state, &id).await?;
    let until = query.until.unwrap_or_else(OffsetDateTime::now_utc);
    let since = query.since.unwrap_or(until - DEFAULT_HISTORY);
    if since > until {
        return Err(Invalid::one("since", "must not be after until").into());
    }
    let page = state.store.endpoint_event_ids(tenant, &id, since, until, query.cursor.as_deref()).await?;
    let mut data = Vec::new();
    for event_id in page.ids {
        for attempt in state.store.list_attempts(tenant, &event_id).await? {
            let wanted = match query.status {
                None => true,
                Some(AttemptOutcome::Succeeded) => attempt.succeeded,
                Some(AttemptOutcome::Failed) => !attempt.succeeded,
            };
            if attempt.endpoint_id == id && wanted {
                data.push(AttemptView { event_id: event_id.clone(), attempt });
            }
        }
    }
    Ok(Json(AttemptPage { data, next_cursor: page.next }))
}
