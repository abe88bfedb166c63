//! Tenants, managed by the operator with the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{FieldError, Invalid};
use hookline_shared::edge::{Limit, List as Listed, Lister, Page, PageQuery};
use hookline_shared::ids::TenantId;
use hookline_shared::openapi::{AdminErrors, BodyErrors, NotFound, QueryErrors, WriteConflict};
use hookline_shared::store::{
    ApiKeyId, ApiKeyInfo, KEY_ROTATION_GRACE, MAX_KEY_ROTATION_GRACE, Quotas, Tenant, TenantStatus, TenantUpdate,
};
use hookline_shared::web::{AdminAuth, ApiError, AppState, JsonBody, OptionalJsonBody, PathParams, Query};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

const TAG: &str = "tenants";

const MAX_NAME_LEN: usize = 200;
/// The largest quotas the operator may set.
const MAX_ENDPOINTS_QUOTA: i64 = 10_000;
const MAX_EVENTS_PER_MINUTE_QUOTA: i64 = 1_000_000;
const MAX_REPLAYS_PER_MINUTE_QUOTA: i64 = 100_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantRequest {
    /// 1 to 200 characters once trimmed.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
}

/// The one response that carries the API key: it is stored only as a hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    id: TenantId,
    name: String,
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    status: TenantStatus,
    /// The quotas now enforced (the defaults, for a new tenant).
    quotas: Quotas,
}

fn valid_name(name: &str) -> Result<&str, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new("name", format!("1 to {MAX_NAME_LEN} characters")));
    }
    Ok(name)
}

/// Create a tenant and its first API key (shown once).
#[utoipa::path(post, path = "/v1/tenants", operation_id = "create_tenant", tag = TAG,
    security(("adminToken" = [])), request_body = NewTenantRequest,
    responses((status = 201, description = "The tenant and its API key", body = CreatedTenant, links(
        ("get_tenant" = (operation_id = "get_tenant", parameters(("id" = "$response.body#/id")))),
        ("update_tenant" = (operation_id = "update_tenant", parameters(("id" = "$response.body#/id")))),
        ("delete_tenant" = (operation_id = "delete_tenant", parameters(("id" = "$response.body#/id")))),
        ("rotate_api_key" = (operation_id = "rotate_api_key", parameters(("id" = "$response.body#/id")))),
        ("list_api_keys" = (operation_id = "list_api_keys", parameters(("id" = "$response.body#/id")))),
        ("suspend_tenant" = (operation_id = "suspend_tenant", parameters(("id" = "$response.body#/id")))),
        ("resume_tenant" = (operation_id = "resume_tenant", parameters(("id" = "$response.body#/id")))),
    )), AdminErrors, BodyErrors, WriteConflict))]
pub async fn create(
    State(state): State<AppState>,
    _admin: AdminAuth,
    JsonBody(request): JsonBody<NewTenantRequest>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    let name = valid_name(&request.name).map_err(|e| Invalid(vec![e]))?;
    let (tenant, key) = state.store.create_tenant(name).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    let created = CreatedTenant {
        id: tenant.id,
        name: tenant.name,
        api_key: key.expose().to_owned(),
        created_at: tenant.created_at,
        status: tenant.status,
        quotas: tenant.quotas,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/tenants?limit=&cursor=`: every tenant, oldest first.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "list_tenants", tag = TAG, summary = "List tenants, oldest first",
    security(("adminToken" = [])), params(PageQuery),
    responses((status = 200, description = "A page of tenants", body = Page<Tenant>), AdminErrors, QueryErrors))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminAuth,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<Tenant>>, ApiError> {
    // The operator's list: its cursors belong to no tenant.
    let lister = Lister::new(Listed::Tenants, &[]);
    let after = lister.open(query.cursor.as_ref())?;
    let page = state.store.list_tenants(Limit::of(query.limit), after.as_deref()).await?;
    Ok(Json(lister.page(page.items, page.next.as_deref())))
}

/// Get a tenant.
#[utoipa::path(get, path = "/v1/tenants/{id}", operation_id = "get_tenant", tag = TAG,
    security(("adminToken" = [])), params(("id" = TenantId, Path)),
    responses((status = 200, description = "The tenant", body = Tenant), AdminErrors, NotFound))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
) -> Result<Json<Tenant>, ApiError> {
    let tenant = state.store.get_tenant(&id).await?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(Json(tenant))
}

/// A JSON field that may be absent (no change), `null` (remove) or a value.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Quotas to change: a quota left out keeps its value, `null` removes the limit. The ranges are
/// [`MAX_ENDPOINTS_QUOTA`] and its neighbours (a test compares them with the document).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 10000)]
    max_endpoints: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    events_per_minute: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100000)]
    replays_per_minute: Option<Option<i64>>,
}

/// `PATCH /v1/tenants/{id}`: `{"name"?, "quotas"?: {"max_endpoints"?, "events_per_minute"?,
/// "replays_per_minute"?}}`. A quota set to `null` is no limit (and reads back as `null`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[serde(default)]
    quotas: Option<QuotasRequest>,
}

fn quota(
    field: &str,
    value: Option<Option<i64>>,
    range: std::ops::RangeInclusive<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<Option<u32>> {
    match value? {
        None => Some(None),
        Some(v) if range.contains(&v) => u32::try_from(v).ok().map(Some),
        Some(_) => {
            errors.push(FieldError::new(
                format!("quotas.{field}"),
                format!("an integer from {} to {}, or null for no limit", range.start(), range.end()),
            ));
            None
        }
    }
}

/// Rename a tenant or set its quotas.
#[utoipa::path(patch, path = "/v1/tenants/{id}", operation_id = "update_tenant", tag = TAG,
    security(("adminToken" = [])), params(("id" = TenantId, Path)), request_body = UpdateTenantRequest,
    responses((status = 200, description = "The tenant as changed", body = Tenant), AdminErrors, BodyErrors, NotFound, WriteConflict))]
pub async fn update(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
    JsonBody(request): JsonBody<UpdateTenantRequest>,
) -> Result<Json<Tenant>, ApiError> {
    let mut errors = Vec::new();
    let mut update = TenantUpdate::default();
    if let Some(name) = &request.name {
        match valid_name(name) {
            Ok(name) => update.name = Some(name.to_owned()),
            Err(e) => errors.push(e),
        }
    }
    if let Some(quotas) = request.quotas {
        update.max_endpoints = quota("max_endpoints", quotas.max_endpoints, 0..=MAX_ENDPOINTS_QUOTA, &mut errors);
        update.events_per_minute =
            quota("events_per_minute", quotas.events_per_minute, 1..=MAX_EVENTS_PER_MINUTE_QUOTA, &mut errors);
        update.replays_per_minute =
            quota("replays_per_minute", quotas.replays_per_minute, 1..=MAX_REPLAYS_PER_MINUTE_QUOTA, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let tenant = state.store.update_tenant(&id, &update).await?.ok_or(ApiError::NotFound("tenant"))?;
    tracing::info!(tenant_id = %tenant.id, "tenant updated");
    Ok(Json(tenant))
}

/// The new key, shown once, and until when the key it replaced still works.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedKey {
    id: TenantId,
    api_key: String,
    /// `null` when there was no current key (all were revoked).
    #[serde(with = "time::serde::rfc3339::option")]
    previous_key_expires_at: Option<OffsetDateTime>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// How long the current key keeps working: default 86400 (24 h), at most 604800 (7 days);
    /// 0 revokes it at once.
    #[schema(minimum = 0, maximum = 604800)]
    grace_seconds: Option<u64>,
}

/// `POST /v1/tenants/{id}/api-key/rotate` `{"grace_seconds"?}`: a new key; the current one
/// keeps working for the grace (default 24 h, at most 7 days; 0 revokes it at once). An empty
/// body takes the default.
#[utoipa::path(post, path = "/v1/tenants/{id}/api-key/rotate", operation_id = "rotate_api_key", tag = TAG,
    summary = "Rotate the API key", security(("adminToken" = [])), params(("id" = TenantId, Path)),
    request_body(content = Option<RotateKeyRequest>, description = "Optional: an empty body takes the default grace"),
    responses((status = 200, description = "The new key, shown once", body = RotatedKey), AdminErrors, BodyErrors, NotFound, WriteConflict))]
pub async fn rotate_key(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
    OptionalJsonBody(request): OptionalJsonBody<RotateKeyRequest>,
) -> Result<Json<RotatedKey>, ApiError> {
    let grace = request.grace_seconds.map_or(KEY_ROTATION_GRACE, std::time::Duration::from_secs);
    if grace > MAX_KEY_ROTATION_GRACE {
        let max = MAX_KEY_ROTATION_GRACE.as_secs();
        return Err(Invalid::one("grace_seconds", format!("0 (revoke at once) to {max} seconds (7 days)")).into());
    }
    let rotated = state.store.rotate_api_key(&id, grace).await?.ok_or(ApiError::NotFound("tenant"))?;
    tracing::info!(tenant_id = %id, grace_seconds = grace.as_secs(), "API key rotated");
    Ok(Json(RotatedKey {
        id,
        api_key: rotated.api_key.expose().to_owned(),
        previous_key_expires_at: rotated.previous_key_expires_at,
    }))
}

/// `GET /v1/tenants/{id}/api-keys`: the working keys' ids, creation times and expiries (the
/// current key has none); never the keys.
#[utoipa::path(get, path = "/v1/tenants/{id}/api-keys", operation_id = "list_api_keys", tag = TAG,
    summary = "List a tenant's working keys (ids, never keys)", security(("adminToken" = [])), params(("id" = TenantId, Path)),
    responses((status = 200, description = "The working keys", body = Page<ApiKeyInfo>, links(
        ("revoke_api_key" = (operation_id = "revoke_api_key",
            parameters(("id" = "$request.path.id"), ("key_id" = "$response.body#/data/0/id")))),
    )), AdminErrors, NotFound))]
pub async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
) -> Result<Json<Page<ApiKeyInfo>>, ApiError> {
    let keys = state.store.list_api_keys(&id).await?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(Json(Page::whole(keys)))
}

/// `DELETE /v1/tenants/{id}/api-keys/{key_id}`: revokes one key at once (a leaked one). If
/// it was the current key, `rotate` issues a new one.
#[utoipa::path(delete, path = "/v1/tenants/{id}/api-keys/{key_id}", operation_id = "revoke_api_key", tag = TAG,
    summary = "Revoke one API key at once", security(("adminToken" = [])),
    params(("id" = TenantId, Path), ("key_id" = ApiKeyId, Path, description = "From the key list")),
    responses((status = 204, description = "Revoked"), AdminErrors, NotFound, WriteConflict))]
pub async fn revoke_key(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams((id, key_id)): PathParams<(TenantId, ApiKeyId)>,
) -> Result<StatusCode, ApiError> {
    match state.store.revoke_api_key(&id, &key_id).await? {
        None => Err(ApiError::NotFound("tenant")),
        Some(false) => Err(ApiError::NotFound("api key")),
        Some(true) => {
            tracing::info!(tenant_id = %id, key_id = %key_id, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

/// `POST /v1/tenants/{id}/suspend`: its keys are refused (403 `tenant_suspended`) and its
/// queued deliveries are paused instead of sent, within the deliver function's tenant cache
/// TTL (5 s). Nothing is deleted.
#[utoipa::path(post, path = "/v1/tenants/{id}/suspend", operation_id = "suspend_tenant", tag = TAG,
    summary = "Suspend a tenant: keys refused (403), deliveries paused", security(("adminToken" = [])),
    params(("id" = TenantId, Path)),
    responses((status = 200, description = "The tenant, suspended", body = Tenant), AdminErrors, NotFound, WriteConflict))]
pub async fn suspend(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
) -> Result<Json<Tenant>, ApiError> {
    set_suspended(state, id, true).await
}

/// `POST /v1/tenants/{id}/resume`: undoes a suspension; paused deliveries wait for a
/// recovery (`POST /v1/endpoints/{id}/recover`).
#[utoipa::path(post, path = "/v1/tenants/{id}/resume", operation_id = "resume_tenant", tag = TAG,
    summary = "Resume a suspended tenant", security(("adminToken" = [])), params(("id" = TenantId, Path)),
    responses((status = 200, description = "The tenant, active", body = Tenant), AdminErrors, NotFound, WriteConflict))]
pub async fn resume(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
) -> Result<Json<Tenant>, ApiError> {
    set_suspended(state, id, false).await
}

async fn set_suspended(state: AppState, id: TenantId, suspended: bool) -> Result<Json<Tenant>, ApiError> {
    let tenant = state.store.set_tenant_suspended(&id, suspended).await?.ok_or(ApiError::NotFound("tenant"))?;
    tracing::info!(tenant_id = %id, suspended, "tenant status changed");
    Ok(Json(tenant))
}

/// `DELETE /v1/tenants/{id}`: the tenant and its keys, at once. Its endpoints, event types and
/// message records stay in the table, unreachable (records expire through the TTL).
#[utoipa::path(delete, path = "/v1/tenants/{id}", operation_id = "delete_tenant", tag = TAG,
    summary = "Delete a tenant and its keys", security(("adminToken" = [])), params(("id" = TenantId, Path)),
    responses((status = 204, description = "Deleted"), AdminErrors, NotFound, WriteConflict))]
pub async fn delete(
    State(state): State<AppState>,
    _admin: AdminAuth,
    PathParams(id): PathParams<TenantId>,
) -> Result<StatusCode, ApiError> {
    if !state.store.delete_tenant(&id).await? {
        return Err(ApiError::NotFound("tenant"));
    }
    tracing::info!(tenant_id = %id, "tenant deleted");
    Ok(StatusCode::NO_CONTENT)
}
