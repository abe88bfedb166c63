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
use crate::ids::TenantId;
use crate::queue::{Queue, QueueError};
use crate::store::{Store, StoreError};

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
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("{0}")]
    Invalid(Invalid),
    #[error("{message}")]
    Unprocessable { message: String },
    #[error("no route for this method and path")]
    MethodNotAllowed,
    #[error("too many requests: the quota allows more in {retry_after_seconds} s")]
    TooManyRequests { retry_after_seconds: u64 },
    /// A quota that time does not restore (endpoints): 429, `Retry-After: 60`.
    #[error("{message}")]
    QuotaExceeded { message: String },
    #[error("the service could not complete the request; it is safe to retry")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        Self::Unavailable(Box::new(err))
    }
}

impl From<Invalid> for ApiError {
    fn from(err: Invalid) -> Self {
        Self::Invalid(err)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::Invalid(_) | Self::Unprocessable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_error"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::QuotaExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let Self::Unavailable(source) = &self {
            // The cause goes to the log, never to the caller.
            tracing::error!(error = %source, "request failed");
        }
        let errors = match &self {
            Self::Invalid(Invalid(errors)) => errors.as_slice(),
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
        let bytes =
            axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| ApiError::PayloadTooLarge)?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|err| match err.classify() {
            serde_json::error::Category::Data => ApiError::Unprocessable { message: err.to_string() },
            _ => ApiError::BadRequest { code: "invalid_json", message: format!("the body is not valid JSON: {err}") },
        })
    }
}

/// Query parameters: a parameter that is unknown or of the wrong shape is a 422 with the
/// parser's message, in JSON like every other error (axum's own rejection is plain text).
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|e| ApiError::Unprocessable { message: e.body_text() })
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The tenant whose API key signed the request.
pub struct TenantAuth(pub TenantId);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts).filter(|k| k.starts_with("hk_")).ok_or(ApiError::Unauthorized)?;
        let tenant = state.store.tenant_for_key(key).await?.ok_or(ApiError::Unauthorized)?;
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

/// Adds what every HTTP function answers the same way: JSON 404 and 405.
pub fn with_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}

impl AppState {
    /// The state every HTTP function builds once at cold start.
    pub fn new(config: Config, clients: &crate::aws::Clients) -> Self {
        Self {
            store: Store::new(clients.dynamodb.clone(), &config.table, config.retention),
            queue: Queue::new(clients.sqs.clone(), &config.queue_url),
            sqs: clients.sqs.clone(),
            config: Arc::new(config),
        }
    }

    /// What endpoint URLs this deployment accepts.
    pub fn url_rules(&self) -> crate::domain::UrlRules {
        crate::domain::UrlRules {
            allow_http: self.config.allow_http || self.config.dev_allow_loopback,
            secrets_over_http: self.config.dev_allow_loopback,
        }
    }
}
