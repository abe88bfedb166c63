//! Endpoints: where a tenant's events go.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookline_shared::domain::{
    DeliveryLimits, Endpoint, EndpointHealth, EndpointStatus, EventTypePattern, HttpMethod, NewEndpoint,
    NewEndpointRequest, Presentation, RetryPolicy,
};
use hookline_shared::ids::EndpointId;
use hookline_shared::signing::SigningSecret;
use hookline_shared::web::{ApiError, AppState, JsonBody, TenantAuth};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{List, path_id};

/// An endpoint as the API shows it. The signing secret is not part of it.
#[derive(Serialize)]
pub struct EndpointView {
    id: EndpointId,
    url: String,
    description: String,
    event_types: Vec<EventTypePattern>,
    retry: RetryPolicy,
    method: HttpMethod,
    /// The credential's kind and non-secret parts; secrets are write-only.
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
                .map(|h| HeaderView { name: h.name().to_owned(), value: h.value().to_owned() })
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

#[derive(Serialize)]
struct HeaderView {
    name: String,
    value: String,
}

/// The creation response: the view plus the signing secret, so the receiver can verify.
#[derive(Serialize)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: EndpointView,
    secret: String,
}

pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    JsonBody(request): JsonBody<NewEndpointRequest>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    let new = NewEndpoint::parse(request, state.url_rules())?;
    let endpoint = Endpoint {
        id: EndpointId::generate(),
        tenant_id: tenant,
        url: new.url,
        description: new.description,
        event_types: new.event_types,
        retry: new.retry,
        options: new.options,
        presentation: new.presentation,
        limits: new.limits,
        secret: SigningSecret::generate(),
        status: EndpointStatus::Active,
        health: EndpointHealth::default(),
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.put_endpoint(&endpoint).await?;
    tracing::info!(tenant_id = %endpoint.tenant_id, endpoint_id = %endpoint.id, "endpoint created");
    let created = CreatedEndpoint { endpoint: EndpointView::from(&endpoint), secret: endpoint.secret.expose() };
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let id = path_id("endpoint", EndpointId::parse(&id))?;
    let endpoint = state.store.get_endpoint(&tenant, &id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    Ok(Json(EndpointView::from(&endpoint)))
}

pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> Result<Json<List<EndpointView>>, ApiError> {
    let endpoints = state.store.list_endpoints(&tenant).await?;
    Ok(Json(List { data: endpoints.iter().map(EndpointView::from).collect() }))
}
