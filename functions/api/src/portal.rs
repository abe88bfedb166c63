//! Customer-portal sessions: `POST /v1/portal-sessions` mints a short-lived link for one of the
//! tenant's customers; `GET /v1/session` says what the presented credential may do. The scope
//! itself is enforced by `TenantAuth` on every tenant route.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::{FieldError, Invalid};
use hookline_shared::openapi::{BodyErrors, TenantErrors};
use hookline_shared::portal::{
    self, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, MetadataFilter, PortalClaims,
};
use hookline_shared::web::{Access, ApiError, AppState, OptionalJsonBody, TenantAuth};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The request body of `POST /v1/portal-sessions`; an empty body takes every default.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalSession {
    /// Refuse every write (default: false).
    #[serde(default)]
    read_only: bool,
    /// The session sees only endpoints whose metadata has every one of these pairs (non-empty
    /// keys and values), and its endpoints get them; `null` or absent: all endpoints.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    metadata: Option<MetadataFilter>,
    /// Lifetime: 60 to 86400 seconds, default 3600.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 86400)]
    ttl_seconds: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedPortalSession {
    token: String,
    /// The dashboard link to embed (iframe) or redirect the customer to.
    url: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    read_only: bool,
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    metadata: Option<MetadataFilter>,
}

/// `POST /v1/portal-sessions` (the tenant's API key only: a portal session cannot mint one).
#[utoipa::path(post, path = "/v1/portal-sessions", operation_id = "create_portal_session", tag = "portal",
    summary = "Mint a customer-portal session", security(("apiKey" = [])),
    request_body(content = Option<NewPortalSession>, description = "Optional: an empty body takes every default"),
    responses((status = 201, description = "The session token and its dashboard link", body = CreatedPortalSession),
        TenantErrors, BodyErrors))]
pub async fn create(
    State(_state): State<AppState>,
    auth: TenantAuth,
    OptionalJsonBody(request): OptionalJsonBody<NewPortalSession>,
) -> Result<(StatusCode, Json<CreatedPortalSession>), ApiError> {
    let tenant = auth.tenant_wide()?;
    let mut errors = Vec::new();
    let ttl = request.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        errors.push(FieldError::new("ttl_seconds", format!("{MIN_TTL_SECONDS} to {MAX_TTL_SECONDS} seconds")));
    }
    for (key, value) in request.metadata.iter().flatten() {
        if key.is_empty() || value.is_empty() {
            errors.push(FieldError::new(format!("metadata.{key}"), "keys and values are non-empty strings"));
        }
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let key = hookline_shared::crypto::installed()
        .ok_or_else(|| ApiError::Unavailable("no encryption key is installed".into()))?;
    let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(ttl);
    let claims = PortalClaims {
        tenant_id: tenant.clone(),
        expires_at: expires_at.unix_timestamp(),
        read_only: request.read_only,
        metadata: request.metadata,
    };
    let token = portal::mint(key, &claims);
    tracing::info!(tenant_id = %tenant, read_only = claims.read_only, ttl_seconds = ttl, "portal session minted");
    let created = CreatedPortalSession {
        url: format!("/dashboard#session={token}"),
        token,
        expires_at: claims.expires_at(),
        read_only: claims.read_only,
        metadata: claims.metadata,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// What kind of credential was presented.
#[derive(Serialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    ApiKey,
    Portal,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    tenant_id: hookline_shared::ids::TenantId,
    kind: SessionKind,
    read_only: bool,
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    metadata: Option<MetadataFilter>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

/// `GET /v1/session`: what the presented credential is (the dashboard reads it first).
#[utoipa::path(get, path = "/v1/session", operation_id = "get_session", tag = "portal",
    summary = "What the presented credential is and may do", security(("apiKey" = []), ("portalSession" = [])),
    responses((status = 200, description = "The credential's tenant and scope", body = SessionView), TenantErrors))]
pub async fn session(auth: TenantAuth) -> Json<SessionView> {
    let tenant_id = auth.tenant().clone();
    Json(match auth.access() {
        Access::ApiKey => {
            SessionView { tenant_id, kind: SessionKind::ApiKey, read_only: false, metadata: None, expires_at: None }
        }
        Access::Portal(claims) => SessionView {
            tenant_id,
            kind: SessionKind::Portal,
            read_only: claims.read_only,
            metadata: claims.metadata.clone(),
            expires_at: Some(claims.expires_at()),
        },
    })
}
