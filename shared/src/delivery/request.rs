//! Building the request an attempt sends.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::domain::{AttemptError, Endpoint, ErrorKind, Event};
use crate::render::{self, EventContext, RenderError, Rendered, Target};

pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));

/// A request ready to go on the wire.
#[derive(Debug)]
pub struct OutgoingRequest {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
    /// The chat message was cut to fit the room's size limit.
    pub truncated: bool,
}

/// Why no request could be built: nothing is sent, and the attempt fails for good.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Ingest refuses such payloads; an event stored before it did fails here instead of being
    /// sent as `null`.
    #[error("the stored payload cannot be rendered: {0}")]
    Payload(#[source] serde_json::Error),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl BuildError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Render(RenderError::TooLarge(_)) => ErrorKind::RenderTooLarge,
            Self::Payload(_) | Self::Render(RenderError::BodyRequired(_) | RenderError::CardsNotAnArray) => {
                ErrorKind::RenderFailed
            }
        }
    }

    /// The attempt's error, as recorded.
    pub fn to_attempt_error(&self) -> AttemptError {
        AttemptError { kind: self.kind(), message: self.to_string() }
    }
}

/// The header that names the event's type on every request, so one endpoint can route events.
pub const EVENT_TYPE_HEADER: &str = "webhook-event-type";

/// The request for one attempt: the body in the endpoint's format, Standard Webhooks headers
/// (unless the endpoint opted out, as chat rooms do by default), then credentials and the
/// tenant's headers. `webhook-id` is the event id on every attempt, so a receiver can drop
/// duplicates. The signature covers exactly the bytes of `body`; a request without a body (GET,
/// DELETE by default) carries the payload in its query, so there it covers the query string.
pub fn build(endpoint: &Endpoint, event: &Event, timestamp: i64) -> Result<OutgoingRequest, BuildError> {
    let raw = event.payload.get();
    let payload: Value = serde_json::from_str(raw).map_err(BuildError::Payload)?;
    let occurred_at = event.created_at.format(&Rfc3339).unwrap_or_default();
    let context = EventContext {
        id: event.id.as_str(),
        event_type: event.event_type.as_str(),
        payload: &payload,
        raw_payload: raw,
        timestamp: &occurred_at,
    };
    let presentation = &endpoint.presentation;
    let method = endpoint.options.method;
    let target = Target {
        format: presentation.format,
        has_body: presentation.has_body(method),
        query: &presentation.query,
        template: presentation.template.as_ref(),
        thread_key: presentation.thread_key.as_ref(),
        cards: presentation.cards.as_ref(),
        envelope: presentation.envelope,
    };
    let rendered = render::render(&target, endpoint.url.as_url(), &context)?;

    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        // Ids, numbers, base64 and our content types are always valid header values.
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    if let Some(content_type) = rendered.content_type {
        set("content-type", content_type.to_owned());
    }
    set("user-agent", USER_AGENT.to_owned());
    set(EVENT_TYPE_HEADER, event.event_type.to_string());
    if presentation.sign {
        set("webhook-id", event.id.to_string());
        set("webhook-timestamp", timestamp.to_string());
        let now = time::OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let content = signed_content(&rendered, target.has_body);
        let signatures: Vec<String> = endpoint
            .signing_secrets(now)
            .into_iter()
            .map(|secret| secret.sign(event.id.as_str(), timestamp, content))
            .collect();
        set("webhook-signature", signatures.join(" "));
    }
    // Credentials and the tenant's own headers; validation keeps them off the names set above.
    for (name, value) in endpoint.options.request_headers() {
        headers.insert(name, value);
    }
    Ok(OutgoingRequest {
        method: method.as_reqwest(),
        url: rendered.url,
        headers,
        body: rendered.body,
        timeout: endpoint.timeout(),
        truncated: rendered.truncated,
    })
}

/// What the signature covers: the body, or for a request without one the query string that
/// carries the payload (empty when there is no query).
fn signed_content(rendered: &Rendered, has_body: bool) -> &[u8] {
    if has_body { &rendered.body } else { rendered.url.query().unwrap_or_default().as_bytes() }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{
        DeliveryLimits, DeliveryOptions, EndpointHealth, EndpointStatus, EndpointUrl, EventType, EventTypePattern,
        Presentation, PreviousSecret, RetryPolicy, UrlRules,
    };
    use crate::ids::{EndpointId, EventId, TenantId};
    use crate::signing::SigningSecret;

    fn sample_endpoint() -> Endpoint {
        let tenant = TenantId::generate();
        Endpoint {
            id: EndpointId::generate(),
            tenant_id: tenant.clone(),
            url: EndpointUrl::parse("https://example.com/hook", UrlRules::default()).unwrap(),
            description: String::new(),
            event_types: vec![EventTypePattern::All],
            retry: RetryPolicy::default(),
            options: DeliveryOptions::default(),
            presentation: Presentation { sign: true, ..Presentation::default() },
            limits: DeliveryLimits::default(),
            secret: SigningSecret::generate(),
            previous_secret: None,
            status: EndpointStatus::Active,
            health: EndpointHealth::default(),
            created_at: OffsetDateTime::now_utc(),
        }
    }

    fn sample_event() -> Event {
        let tenant = TenantId::generate();
        Event {
            id: EventId::generate(),
            tenant_id: tenant,
            event_type: EventType::parse("order.created").unwrap(),
            payload: RawValue::from_string(r#"{"b": 1, "a": "ü"}"#.to_owned()).unwrap(),
            idempotency_key: None,
            endpoint_ids: vec![],
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn signs_the_exact_body_with_the_event_id() {
        let endpoint = sample_endpoint();
        let event = sample_event();
        let req = build(&endpoint, &event, 1_700_000_000).unwrap();
        assert_eq!(&req.body[..], r#"{"b": 1, "a": "ü"}"#.as_bytes());
        assert_eq!(req.headers["webhook-id"], event.id.as_str());
        assert_eq!(req.headers["webhook-timestamp"], "1700000000");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.timeout, Duration::from_secs(15));
        assert!(req.headers["user-agent"].to_str().unwrap().starts_with("Hookline/"));
        let sig = req.headers["webhook-signature"].to_str().unwrap();
        assert!(endpoint.secret.verify(event.id.as_str(), 1_700_000_000, &req.body, sig));
    }

    #[test]
    fn a_request_without_a_body_is_signed_over_its_query_string() {
        let mut endpoint = sample_endpoint();
        endpoint.options.method = crate::domain::HttpMethod::Get;
        let event = sample_event();
        let req = build(&endpoint, &event, 1_700_000_000).unwrap();
        assert!(req.body.is_empty());
        let query = req.url.query().unwrap();
        assert_eq!(query, "a=%C3%BC&b=1");
        let sig = req.headers["webhook-signature"].to_str().unwrap();
        assert!(endpoint.secret.verify(event.id.as_str(), 1_700_000_000, query.as_bytes(), sig));
        assert!(!endpoint.secret.verify(event.id.as_str(), 1_700_000_000, b"", sig), "not over the empty body");
    }

    #[test]
    fn a_delete_may_carry_its_payload_in_a_body() {
        let mut endpoint = sample_endpoint();
        endpoint.options.method = crate::domain::HttpMethod::Delete;
        endpoint.presentation.delete_payload = crate::render::DeletePayload::Body;
        let event = sample_event();
        let req = build(&endpoint, &event, 1_700_000_000).unwrap();
        assert_eq!(req.method, reqwest::Method::DELETE);
        assert_eq!(&req.body[..], r#"{"b": 1, "a": "ü"}"#.as_bytes());
        assert_eq!(req.url.query(), None);
        assert_eq!(req.headers["content-type"], "application/json");
        let sig = req.headers["webhook-signature"].to_str().unwrap();
        assert!(endpoint.secret.verify(event.id.as_str(), 1_700_000_000, &req.body, sig));
    }

    #[test]
    fn every_request_names_its_event_type_signed_or_not() {
        let mut endpoint = sample_endpoint();
        let event = sample_event();
        assert_eq!(build(&endpoint, &event, 1).unwrap().headers[EVENT_TYPE_HEADER], "order.created");
        endpoint.presentation.sign = false;
        let req = build(&endpoint, &event, 1).unwrap();
        assert_eq!(req.headers[EVENT_TYPE_HEADER], "order.created");
        assert!(!req.headers.contains_key("webhook-signature"));
    }

    #[test]
    fn a_payload_that_does_not_parse_fails_instead_of_rendering_null() {
        let mut endpoint = sample_endpoint();
        endpoint.presentation.format = crate::render::Format::Xml;
        let mut event = sample_event();
        event.payload = RawValue::from_string(r#"{"a": "\ud800"}"#.to_owned()).unwrap();
        let err = build(&endpoint, &event, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RenderFailed);
    }

    #[test]
    fn a_rotated_secret_signs_alongside_the_new_one_until_its_grace_ends() {
        let mut endpoint = sample_endpoint();
        let old = SigningSecret::generate();
        let at = 1_700_000_000;
        let until = OffsetDateTime::from_unix_timestamp(at + 60).unwrap();
        endpoint.previous_secret = Some(PreviousSecret { secret: old.clone(), until });
        let event = sample_event();
        let req = build(&endpoint, &event, at).unwrap();
        let header = req.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(header.split(' ').count(), 2);
        assert!(endpoint.secret.verify(event.id.as_str(), at, &req.body, header));
        assert!(old.verify(event.id.as_str(), at, &req.body, header));
        let later = build(&endpoint, &event, at + 61).unwrap();
        let header = later.headers["webhook-signature"].to_str().unwrap();
        assert_eq!(header.split(' ').count(), 1, "the old secret stopped signing");
        assert!(!old.verify(event.id.as_str(), at + 61, &later.body, header));
    }
}
