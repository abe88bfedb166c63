//! Tenants, managed by the operator with the admin token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hookline_shared::domain::Invalid;
use hookline_shared::ids::TenantId;
use hookline_shared::web::{AdminAuth, ApiError, AppState, JsonBody};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const MAX_NAME_LEN: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenantRequest {
    name: String,
}

/// The one response that carries the API key: it is stored only as a hash.
#[derive(Serialize)]
pub struct CreatedTenant {
    id: TenantId,
    name: String,
    api_key: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

pub async fn create(
    State(state): State<AppState>,
    _admin: AdminAuth,
    JsonBody(request): JsonBody<NewTenantRequest>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(Invalid::one("name", format!("1 to {MAX_NAME_LEN} characters")).into());
    }
    let (tenant, key) = state.store.create_tenant(name).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    let created = CreatedTenant {
        id: tenant.id,
        name: tenant.name,
        api_key: key.expose().to_owned(),
        created_at: tenant.created_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}
