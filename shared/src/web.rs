//! What the HTTP functions share: state, authentication, the JSON body extractor and the one
//! error type every route answers with (`{"code", "message"}` and the right status).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::domain::{FieldError, Invalid};
pub use crate::edge::ErrorCode;
pub use crate::edge::Query;
use crate::ids::TenantId;
use crate::portal::PortalClaims;
use crate::queue::{Queue, QueueError};
use crate::store::{Store, StoreError, TenantState};

/// The largest request body accepted (Zendesk's payload limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Built once per process and shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub queue: Queue,
    /// The SQS client, for the dead-letter queue (`config.dead_letter_queue_url`).
    pub sqs: aws_sdk_sqs::Client,
    pub config: Arc<Config>,
    /// API keys, tenants and their policies, kept per warm instance (`warm.rs`).
    pub auth: Arc<crate::warm::AuthCache>,
    /// The events-per-minute quota, counted per warm instance (`warm.rs`).
    pub event_quota: Arc<crate::warm::EventQuota>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("the tenant is suspended: its API keys are refused until the operator resumes it")]
    TenantSuspended,
    /// A read-only portal session tried to change something.
    #[error("this portal session is read-only")]
    ReadOnly,
    /// A portal session tried something only the tenant's API key may do.
    #[error("a portal session cannot do this: it needs the tenant's API key")]
    PortalForbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("{0}")]
    Invalid(Invalid),
    /// A 422 with its own code (not `validation_error`), such as `invalid_cursor`.
    #[error("{errors}")]
    Refused { code: ErrorCode, errors: Invalid },
    #[error("{message}")]
    Unprocessable { message: String },
    #[error("no route for this method and path")]
    MethodNotAllowed,
    #[error("too many requests: the quota allows more in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    /// A quota that time does not restore (endpoints): 429, `Retry-After: 60`.
    #[error("{message}")]
    QuotaExceeded { message: String },
    /// A fault of ours, such as a stored item that does not read back: 500, logged.
    #[error("the service failed to complete the request")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the service could not complete the request; it is safe to retry")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A store error answered by what it means: a lost race is a 409, a vanished item a 404, a
/// corrupt item or a refused request a 500, and only throttling or an outage a 503.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { .. } => Self::Conflict {
                code: ErrorCode::Conflict,
                message: "the item changed while this request ran; read it again and retry".to_owned(),
            },
            StoreError::Gone { .. } => Self::NotFound("item"),
            StoreError::Unavailable { .. } => Self::Unavailable(Box::new(err)),
            StoreError::Aws { .. } | StoreError::Corrupt(_) | StoreError::CorruptItem { .. } => {
                Self::Internal(Box::new(err))
            }
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

/// Fan-out writes nothing conditional: whatever failed, ingest marks the idempotency key
/// interrupted and a retry finishes the work.
impl From<crate::fanout::FanOutError> for ApiError {
    fn from(err: crate::fanout::FanOutError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl From<Invalid> for ApiError {
    fn from(err: Invalid) -> Self {
        Self::Invalid(err)
    }
}

/// Every error response: a stable `code`, a message for people, and for a 422 what is wrong
/// with each field.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    code: ErrorCode,
    message: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(value_type = Vec<FieldError>)]
    errors: &'a [FieldError],
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            Self::TenantSuspended => (StatusCode::FORBIDDEN, ErrorCode::TenantSuspended),
            Self::ReadOnly => (StatusCode::FORBIDDEN, ErrorCode::ReadOnly),
            Self::PortalForbidden => (StatusCode::FORBIDDEN, ErrorCode::PortalForbidden),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, *code),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::Invalid(_) | Self::Unprocessable { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationError)
            }
            Self::Refused { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::QuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::QuotaExceeded),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::InternalError),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable),
        }
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    /// The `code` this error is answered with.
    pub fn code(&self) -> ErrorCode {
        self.status_and_code().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            // The cause goes to the log, never to the caller.
            Self::Unavailable(source) => tracing::error!(error = %source, "request failed"),
            Self::Internal(source) => tracing::error!(error = %source, "request failed on a fault of ours"),
            _ => {}
        }
        let errors = match &self {
            Self::Invalid(Invalid(errors)) | Self::Refused { errors: Invalid(errors), .. } => errors.as_slice(),
            _ => &[],
        };
        let mut response = (status, Json(ErrorBody { code, message: self.to_string(), errors })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Self::TooManyRequests { retry_after_seconds } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
        if let Self::QuotaExceeded { .. } = self {
            // Time alone frees nothing here; a minute is when a retry is worth making (after a
            // delete, or once the operator raised the quota).
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        }
        response
    }
}

/// A JSON request body: malformed JSON is a 400 `invalid_json`, well-formed JSON of the wrong
/// shape a 422 `validation_error`, and a body over [`MAX_BODY_BYTES`] a 413.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = limited_body(req).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// As [`JsonBody`], but an empty (or all-whitespace) body means `T::default()`: for routes whose
/// every field is optional, such as a secret rotation.
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = limited_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(OptionalJsonBody)
    }
}

async fn limited_body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| ApiError::PayloadTooLarge)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable { message: err.to_string() },
        _ => {
            ApiError::BadRequest { code: ErrorCode::InvalidJson, message: format!("the body is not valid JSON: {err}") }
        }
    })
}

/// Path parameters. One that does not decode (`%ff%fe` is not UTF-8) names no item, so it is a
/// 404 in JSON, like a malformed id (axum's own rejection is a plain-text 400).
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|_| ApiError::NotFound("item"))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who is calling for a tenant: its API key, or a customer-portal session minted by it.
#[derive(Debug, Clone)]
pub enum Access {
    ApiKey,
    /// Sees only the endpoints its metadata filter covers, and their deliveries.
    Portal(PortalClaims),
}

/// The tenant a request acts for, checked to be active (a suspended tenant is a 403
/// `tenant_suspended`, a deleted one a 401), with the caller's scope. The fields are private:
/// a handler reads the tenant through [`TenantAuth::tenant`] and must pass every endpoint it
/// touches through [`TenantAuth::endpoint`] / [`TenantAuth::sees`], or ask for
/// [`TenantAuth::tenant_wide`], which portal sessions are refused. A read-only portal session
/// is refused every method but GET and HEAD here, before any handler runs.
pub struct TenantAuth {
    tenant: TenantId,
    access: Access,
}

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let (tenant, access) = if presented.starts_with(crate::portal::TOKEN_PREFIX) {
            let key = crate::crypto::installed().ok_or(ApiError::Unauthorized)?;
            let claims = crate::portal::verify(key, presented, time::OffsetDateTime::now_utc())
                .map_err(|_| ApiError::Unauthorized)?;
            (claims.tenant_id.clone(), Access::Portal(claims))
        } else {
            let TenantKey(tenant) = TenantKey::from_request_parts(parts, state).await?;
            (tenant, Access::ApiKey)
        };
        match state.auth.tenant_state(&state.store, &tenant).await? {
            TenantState::Active => {}
            TenantState::Suspended => return Err(ApiError::TenantSuspended),
            TenantState::Gone => return Err(ApiError::Unauthorized),
        }
        if let Access::Portal(claims) = &access
            && claims.read_only
            && !matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD)
        {
            return Err(ApiError::ReadOnly);
        }
        Ok(Self { tenant, access })
    }
}

impl TenantAuth {
    /// The tenant, for store calls. What a portal session may see of the result is the
    /// handler's to filter with [`TenantAuth::sees`] or [`TenantAuth::endpoint`].
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The portal session's claims, if the caller is one.
    pub fn portal(&self) -> Option<&PortalClaims> {
        match &self.access {
            Access::ApiKey => None,
            Access::Portal(claims) => Some(claims),
        }
    }

    /// The tenant, for what concerns the whole tenant (event-type writes, minting portal
    /// sessions, expunging a payload shared by several endpoints): refused to portal sessions.
    pub fn tenant_wide(&self) -> Result<&TenantId, ApiError> {
        match self.access {
            Access::ApiKey => Ok(&self.tenant),
            Access::Portal(_) => Err(ApiError::PortalForbidden),
        }
    }

    /// Whether the caller may see this endpoint (always, with an API key).
    pub fn sees(&self, endpoint: &crate::domain::Endpoint) -> bool {
        self.portal().is_none_or(|claims| claims.covers(&endpoint.options.metadata))
    }

    /// The endpoint, if it exists and is in the caller's scope; otherwise a 404, the same for
    /// both, so a portal session learns nothing about endpoints outside its scope.
    pub async fn endpoint(
        &self,
        state: &AppState,
        id: &crate::ids::EndpointId,
    ) -> Result<crate::domain::Endpoint, ApiError> {
        state
            .store
            .get_endpoint(&self.tenant, id)
            .await?
            .filter(|ep| self.sees(ep))
            .ok_or(ApiError::NotFound("endpoint"))
    }

    /// The ids of the endpoints the caller may see, or `None` for all of them (an API key):
    /// for filtering deliveries and attempts, which name their endpoint by id only. An
    /// endpoint deleted since is outside every portal scope.
    pub async fn visible_endpoints(
        &self,
        state: &AppState,
    ) -> Result<Option<std::collections::HashSet<crate::ids::EndpointId>>, ApiError> {
        if self.portal().is_none() {
            return Ok(None);
        }
        let endpoints = state.store.list_endpoints(&self.tenant).await?;
        Ok(Some(endpoints.into_iter().filter(|ep| self.sees(ep)).map(|ep| ep.id).collect()))
    }
}

/// The tenant an API key names, without checking that the tenant is active: only for a route
/// that reads the tenant item anyway and checks `suspended` there (ingest, to save a read).
pub struct TenantKey(pub TenantId);

impl FromRequestParts<AppState> for TenantKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Only API keys: a portal session (`hps_`) is a 401 here, so ingest never accepts one.
        let key = bearer(parts).filter(|k| k.starts_with("hk_")).ok_or(ApiError::Unauthorized)?;
        let tenant = state.auth.tenant_for_key(&state.store, key).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Self(tenant))
    }
}

/// The operator, holding the deployment's admin token.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let expected = state.config.admin_token.as_deref().ok_or(ApiError::Unauthorized)?;
        // Comparing digests keeps the comparison's time independent of where the strings differ.
        if Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes()) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// Adds what every HTTP function answers the same way: JSON 404 and 405, a body limit of
/// [`MAX_BODY_BYTES`] for every extractor, and JSON for any rejection that is not yet.
pub fn with_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(errors_as_json))
}

/// The most of a rejection's plain-text explanation kept in its JSON `message`.
const REJECTION_MESSAGE_BYTES: usize = 512;

/// A safety net for rejections our extractors do not make (axum's, or a layer's): an error
/// response that is not JSON becomes `{"code", "message"}` with the same status. Client errors
/// keep their explanation; server errors say nothing about their cause.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationError,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        s if s.is_server_error() => ErrorCode::Unavailable,
        _ => ErrorCode::BadRequest,
    };
    let reason = status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
    let message = if status.is_client_error() {
        let text = axum::body::to_bytes(response.into_body(), REJECTION_MESSAGE_BYTES * 4).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let text: String = text.trim().chars().take(REJECTION_MESSAGE_BYTES).collect();
        if text.is_empty() { reason } else { text }
    } else {
        reason
    };
    (status, Json(ErrorBody { code, message, errors: &[] })).into_response()
}

impl AppState {
    /// The state every HTTP function builds once at cold start.
    pub fn new(config: Config, clients: &crate::aws::Clients) -> Self {
        Self {
            store: Store::new(clients.dynamodb.clone(), &config.table, config.retention),
            queue: Queue::new(clients.sqs.clone(), &config.queue_url),
            sqs: clients.sqs.clone(),
            auth: Arc::new(crate::warm::AuthCache::new(config.auth_cache_ttl)),
            event_quota: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// What endpoint URLs this deployment accepts.
    pub fn url_rules(&self) -> crate::domain::UrlRules {
        crate::domain::UrlRules {
            allow_http: self.config.allow_http || self.config.egress.reaches_loopback(),
            secrets_over_http: self.config.egress.reaches_loopback(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::post;

    use super::*;

    /// Routes that use axum's own extractors, whose rejections are plain text.
    fn app() -> Router {
        with_fallbacks(
            Router::new()
                .route(
                    "/raw/{n}",
                    post(|axum::extract::Path(n): axum::extract::Path<u32>| async move { n.to_string() }),
                )
                .route("/bytes", post(|body: axum::body::Bytes| async move { body.len().to_string() }))
                .route(
                    "/ours/{id}",
                    post(
                        |PathParams(id): PathParams<String>,
                         OptionalJsonBody(v): OptionalJsonBody<serde_json::Value>| async move {
                            format!("{id} {v}")
                        },
                    ),
                ),
        )
    }

    /// POSTs `body` to `app()` served on a loopback port, as a client would.
    async fn post_to_app(uri: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let url = format!("http://{}{uri}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app()).await });
        reqwest::Client::new().post(url).body(body).send().await.unwrap()
    }

    async fn call(uri: &str, body: impl Into<reqwest::Body>) -> (StatusCode, serde_json::Value) {
        let response = post_to_app(uri, body).await;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("{uri}: {status} {content_type:?} is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, value)
    }

    #[tokio::test]
    async fn axums_own_rejections_become_json() {
        let (status, body) = call("/raw/not-a-number", "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "bad_request");
        assert!(body["message"].as_str().unwrap().contains("parse"), "{body}");
    }

    #[tokio::test]
    async fn every_body_is_limited_with_a_json_413() {
        let (status, body) = call("/bytes", vec![b' '; MAX_BODY_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "payload_too_large");
        let (status, body) = call("/ours/x", vec![b' '; MAX_BODY_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["code"], "payload_too_large");
    }

    #[tokio::test]
    async fn a_path_id_that_is_not_utf8_is_a_json_404() {
        let (status, body) = call("/ours/%ff%fe", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], "not_found");
    }

    #[tokio::test]
    async fn an_optional_body_may_be_empty_but_not_broken() {
        let (status, body) = call("/ours/%ff%fe", "{").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the path is judged first: {body}");
        assert_eq!(post_to_app("/ours/x", " \n").await.status(), StatusCode::OK);
        let (status, body) = call("/ours/x", "{").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "invalid_json");
    }
}
