//! Endpoints: where a tenant's events go.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::Attempt;
use hookline_shared::domain::{
    Endpoint, EndpointHealth, EndpointPatch, EndpointStatus, EventType, EventTypePattern, FieldError, Invalid,
    NewEndpoint, NewEndpointRequest,
};
use hookline_shared::edge::{Cursor, Limit, List as Listed, Lister, Page};
use hookline_shared::ids::{EndpointId, EventId};
use hookline_shared::openapi::{BodyErrors, NotFound, QueryErrors, RateLimited, TenantErrors, WriteConflict};
use hookline_shared::signing::SigningSecret;
use hookline_shared::store::EndpointCreation;
use hookline_shared::web::{ApiError, AppState, JsonBody, OptionalJsonBody, PathParams, Query, TenantAuth};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const TAG: &str = "endpoints";

/// An endpoint as the API shows it: its settings as the creation request names them (one
/// list of fields, `NewEndpointRequest`), then its state. The signing secret is not part of it;
/// credentials never show; custom header values and credentials in the URL's query are shown
/// only in the creation response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    id: EndpointId,
    #[serde(flatten)]
    #[schema(value_type = ShownSettings)]
    settings: NewEndpointRequest,
    status: EndpointStatus,
    disabled_reason: Option<String>,
    health: EndpointHealth,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// The schema of the settings a view flattens: the creation request's, without its refusal of
/// other fields (`deny_unknown_fields` makes it `additionalProperties: false`, which the view's
/// own fields next to it would break).
pub struct ShownSettings;

impl utoipa::PartialSchema for ShownSettings {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let mut schema = <NewEndpointRequest as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.additional_properties = None;
        }
        schema
    }
}

impl utoipa::ToSchema for ShownSettings {
    fn name() -> std::borrow::Cow<'static, str> {
        "EndpointSettings".into()
    }
}

impl From<&Endpoint> for EndpointView {
    fn from(ep: &Endpoint) -> Self {
        let mut view = Self::revealed(ep);
        view.settings.url = ep.url.redacted().to_string();
        if let Some(headers) = &mut view.settings.headers {
            headers.hide_values();
        }
        view
    }
}

impl EndpointView {
    /// The view with header values and the whole URL, for the one response that shows them.
    fn revealed(ep: &Endpoint) -> Self {
        Self {
            id: ep.id.clone(),
            settings: NewEndpointRequest::from_endpoint(ep),
            status: ep.status,
            disabled_reason: ep.health.disabled_reason.clone(),
            health: ep.health.clone(),
            created_at: ep.created_at,
        }
    }
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
        TenantErrors, BodyErrors, RateLimited, WriteConflict))]
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
    PathParams(id): PathParams<EndpointId>,
) -> Result<Json<EndpointView>, ApiError> {
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

/// `GET /v1/endpoints` query: paging, and filters by `status` and by an event type the
/// endpoint subscribes to.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EndpointsQuery {
    /// Items per page: 1 to 100, default 50.
    #[param(value_type = Option<usize>, minimum = 1, maximum = 100)]
    limit: Option<Limit>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    cursor: Option<Cursor>,
    status: Option<EndpointStatus>,
    /// Endpoints subscribed to this event type.
    event_type: Option<EventType>,
}

/// Oldest first (ids are time-ordered). A tenant has at most its quota of endpoints, so the
/// filtering happens after one Query.
/// List endpoints, oldest first.
#[utoipa::path(get, path = "/v1/endpoints", operation_id = "list_endpoints", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(EndpointsQuery),
    responses((status = 200, description = "A page of endpoints", body = Page<EndpointView>), TenantErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    Query(query): Query<EndpointsQuery>,
) -> Result<Json<Page<EndpointView>>, ApiError> {
    let limit = Limit::of(query.limit);
    let lister = Lister::new(Listed::Endpoints, &[auth.tenant().as_str()]);
    let after = lister.open(query.cursor.as_ref())?;
    let mut endpoints = state.store.list_endpoints(auth.tenant()).await?;
    endpoints.retain(|ep| auth.sees(ep));
    endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    let matching: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|ep| after.as_deref().is_none_or(|after| ep.id.as_str() > after))
        .filter(|ep| query.status.is_none_or(|s| ep.status == s))
        .filter(|ep| query.event_type.as_ref().is_none_or(|t| ep.event_types.iter().any(|p| p.matches(t))))
        .collect();
    let next = (matching.len() > limit).then(|| matching[limit - 1].id.as_str());
    let data = matching.iter().take(limit).map(|ep| EndpointView::from(*ep)).collect();
    Ok(Json(lister.page(data, next)))
}

/// `PATCH /v1/endpoints/{id}`: any creation field (`null` clears an optional one), plus
/// `enabled`. The patch is applied to the endpoint as a creation request and the result is
/// validated as a whole, like a creation.
#[utoipa::path(patch, path = "/v1/endpoints/{id}", operation_id = "update_endpoint", tag = TAG,
    summary = "Update an endpoint", security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    request_body = EndpointPatch,
    responses((status = 200, description = "The endpoint as changed", body = EndpointView),
        TenantErrors, BodyErrors, NotFound, WriteConflict))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
    JsonBody(patch): JsonBody<EndpointPatch>,
) -> Result<Json<EndpointView>, ApiError> {
    let tenant = auth.tenant().clone();
    let mut endpoint = auth.endpoint(&state, &id).await?;
    let enabled = patch.enabled;
    if patch.changes_settings() {
        let request = patch.apply(NewEndpointRequest::from_endpoint(&endpoint))?;
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
        // What is shown is what the write returned (`ALL_NEW`), never an older replica's copy.
        endpoint = state.store.update_endpoint_settings(&endpoint).await?.ok_or(ApiError::NotFound("endpoint"))?;
    }
    if let Some(enabled) = enabled {
        endpoint =
            state.store.set_endpoint_enabled(&tenant, &id, enabled).await?.ok_or(ApiError::NotFound("endpoint"))?;
    }
    tracing::info!(tenant_id = %tenant, endpoint_id = %id, "endpoint updated");
    Ok(Json(EndpointView::from(&endpoint)))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", operation_id = "delete_endpoint", tag = TAG,
    security(("apiKey" = []), ("portalSession" = [])), params(("id" = EndpointId, Path)),
    responses((status = 204, description = "Deleted"), TenantErrors, NotFound, WriteConflict))]
pub async fn delete(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
) -> Result<StatusCode, ApiError> {
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
    PathParams(id): PathParams<EndpointId>,
) -> Result<Json<SecretView>, ApiError> {
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
        TenantErrors, BodyErrors, NotFound, WriteConflict))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
    OptionalJsonBody(request): OptionalJsonBody<RotateRequest>,
) -> Result<Json<SecretView>, ApiError> {
    let grace = request.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace > MAX_GRACE_SECONDS {
        return Err(Invalid::one("grace_seconds", format!("0 to {MAX_GRACE_SECONDS} seconds (7 days)")).into());
    }
    let tenant = auth.tenant();
    let endpoint = auth.endpoint(&state, &id).await?;
    let new = SigningSecret::generate();
    let until = OffsetDateTime::now_utc() + time::Duration::seconds(i64::try_from(grace).unwrap_or(0));
    // A rotation that lost to another is a 409; an endpoint deleted meanwhile a 404. The answer
    // is the item as written (`ALL_NEW`).
    let endpoint = state.store.rotate_endpoint_secret(tenant, &id, &new, &endpoint.secret, until).await?;
    tracing::info!(tenant_id = %tenant, endpoint_id = %id, grace_seconds = grace, "signing secret rotated");
    Ok(Json(secret_view(&endpoint)))
}

/// `GET /v1/endpoints/{id}/attempts` query: a time window (default the last 7 days), an
/// outcome filter and the cursor of the previous page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// Default: 7 days before `until`. The window holds events by the time they were made;
    /// with `status=failed`, attempts by the time they were made.
    #[serde(default, with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
    /// Default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
    /// `failed`: only failed attempts, oldest attempt first, from an index of failures.
    #[param(inline)]
    status: Option<AttemptOutcome>,
    /// Events a page covers (their attempts for this endpoint); with `status=failed`,
    /// attempts a page holds. 1 to 100; default 50.
    #[param(value_type = Option<usize>, minimum = 1, maximum = 100)]
    limit: Option<Limit>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<String>)]
    cursor: Option<Cursor>,
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

const DEFAULT_HISTORY: time::Duration = time::Duration::days(7);

/// Every attempt made for this endpoint in the window, oldest event first. Attempts are kept
/// under their event, so a page is one Query per listing shard over the window's events that
/// name this endpoint, then their attempts. `status=failed` is one Query of the
/// `FailedAttempts` index instead (its cursors are a list of their own).
#[utoipa::path(get, path = "/v1/endpoints/{id}/attempts", operation_id = "list_endpoint_attempts", tag = TAG,
    summary = "List an endpoint's attempts in a window, oldest event first (failed ones: oldest attempt first)",
    security(("apiKey" = []), ("portalSession" = [])),
    params(("id" = EndpointId, Path), AttemptsQuery),
    responses((status = 200, description = "A page of attempts", body = Page<AttemptView>), TenantErrors, QueryErrors, NotFound))]
pub async fn attempts(
    State(state): State<AppState>,
    auth: TenantAuth,
    PathParams(id): PathParams<EndpointId>,
    Query(query): Query<AttemptsQuery>,
) -> Result<Json<Page<AttemptView>>, ApiError> {
    let tenant = auth.tenant();
    auth.endpoint(&state, &id).await?;
    let until = query.until.unwrap_or_else(OffsetDateTime::now_utc);
    let since = query.since.unwrap_or(until - DEFAULT_HISTORY);
    if since > until {
        return Err(Invalid::one("since", "must not be after until").into());
    }
    if query.status == Some(AttemptOutcome::Failed) {
        // Positions are the index's sort keys (attempt time, event id, number): a list of its
        // own, so a cursor of the other never opens here.
        let lister = Lister::new(Listed::EndpointAttempts, &[tenant.as_str(), id.as_str(), "failed"]);
        let after = lister.open(query.cursor.as_ref())?;
        let page =
            state.store.endpoint_failures(tenant, &id, since, until, Limit::of(query.limit), after.as_deref()).await?;
        let data = page.attempts.into_iter().map(|(event_id, attempt)| AttemptView { event_id, attempt }).collect();
        return Ok(Json(lister.page(data, page.next.as_deref())));
    }
    let lister = Lister::new(Listed::EndpointAttempts, &[tenant.as_str(), id.as_str()]);
    let after = lister.open(query.cursor.as_ref())?;
    let page =
        state.store.endpoint_event_ids(tenant, &id, since, until, Limit::of(query.limit), after.as_deref()).await?;
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
    Ok(Json(lister.page(data, page.next.as_deref())))
}
