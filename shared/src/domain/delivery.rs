use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{EndpointId, EventId};

/// Where one event stands with one endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    /// Held while its endpoint is disabled; a recovery queues it again.
    Paused,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            "paused" => Some(Self::Paused),
            _ => None,
        }
    }

    /// A finished (or paused) delivery is never sent by the queue (only by a replay or recovery).
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    /// Attempts recorded so far; the next attempt's number is this plus one.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    /// A rate-limiter slot this delivery reserved and was deferred to (Unix ms).
    #[serde(skip)]
    pub rate_slot_ms: Option<i64>,
    /// Whether the delivery has an item of its own; if not, its state was derived from its
    /// event (untouched) or its event's first-round record, and a write to it creates the item.
    #[serde(skip)]
    pub stored: bool,
}

impl Delivery {
    /// A delivery nothing has happened to yet: pending, no attempts.
    pub fn untouched(event_id: EventId, endpoint_id: EndpointId) -> Self {
        Self {
            event_id,
            endpoint_id,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_attempt_at: None,
            next_attempt_at: None,
            last_error: None,
            rate_slot_ms: None,
            stored: false,
        }
    }
}

/// Why an attempt did not get a 2xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Connect,
    Dns,
    Tls,
    /// The address guard refused the target; nothing was sent.
    Blocked,
    /// The receiver answered with a status other than 2xx.
    HttpStatus,
    /// The rendered body or URL would pass its bound; nothing was sent, and resending the same
    /// event cannot help.
    RenderTooLarge,
    /// The event cannot be rendered for this endpoint (a payload that does not parse, a chat
    /// format on a method without a body); nothing was sent.
    RenderFailed,
}

impl ErrorKind {
    /// Whether nothing went on the wire because the request could not be rendered: the
    /// payload's fault, not the receiver's, so it fails at once and says nothing of its health.
    pub fn is_render_failure(self) -> bool {
        matches!(self, Self::RenderTooLarge | Self::RenderFailed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::Blocked => "blocked",
            Self::HttpStatus => "http_status",
            Self::RenderTooLarge => "render_too_large",
            Self::RenderFailed => "render_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Timeout,
            Self::Connect,
            Self::Dns,
            Self::Tls,
            Self::Blocked,
            Self::HttpStatus,
            Self::RenderTooLarge,
            Self::RenderFailed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub message: String,
}

/// One HTTP request made for a delivery, as recorded.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub endpoint_id: EndpointId,
    pub number: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub succeeded: bool,
    pub response_status: Option<u16>,
    pub error: Option<AttemptError>,
    pub latency_ms: u64,
    /// The start of the response body (at most 4 KB): text, or base64 when it was not UTF-8.
    pub response_body: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub response_body_base64: bool,
    /// `content-type` and `retry-after`, when the response had them.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub response_headers: std::collections::BTreeMap<String, String>,
    /// The chat message was cut to fit the room's size limit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// A test send (`POST /v1/endpoints/{id}/test`), not a delivery of a real event.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}
