//! Domain types. Each is parsed once at the edge (`parse` constructors), so a value that exists is
//! valid and the rest of the code does not check it again.

mod delivery;
mod endpoint;
mod endpoint_request;
mod event;
mod event_type;
mod options;
mod payload;
mod retry;
mod schema;

pub use delivery::{Attempt, AttemptError, Delivery, DeliveryStatus, ErrorKind};
pub use endpoint::{
    CHAT_RATE_LIMIT_PER_SECOND, DeliveryLimits, Endpoint, EndpointHealth, EndpointStatus, EndpointUrl, NewEndpoint,
    Presentation, PreviousSecret, RateLimit, UrlRules, redact_query_credentials,
};
pub use endpoint_request::{EndpointPatch, NewEndpointRequest};
pub use event::{Event, NewEvent, NewEventRequest, event_fingerprint};
pub use event_type::{EventType, EventTypePattern};
pub use options::{
    CustomHeader, CustomHeaderRequest, DeliveryOptions, EndpointAuth, HeadersRequest, HttpMethod,
    MAX_RATE_LIMIT_PER_SECOND, MAX_TIMEOUT_MS,
};
pub use payload::{MAX_PAYLOAD_DEPTH, check_payload};
pub use retry::RetryPolicy;
pub use schema::{MAX_SCHEMA_BYTES, PayloadSchema};

use serde::Serialize;

/// One reason an input was refused, named by the JSON path of the field (`retry.schedule_seconds[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Every reason an input was refused, so a caller can fix them all at once.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}
