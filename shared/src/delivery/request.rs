//! Building the request an attempt sends.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::domain::{Endpoint, Event};

pub const USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));

/// A request ready to go on the wire.
#[derive(Debug)]
pub struct OutgoingRequest {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
}

/// The signed JSON request for one attempt. `webhook-id` is the event id on every attempt, so a
/// receiver can drop duplicates; the signature covers exactly the bytes of `body`.
pub fn build(endpoint: &Endpoint, event: &Event, timestamp: i64) -> OutgoingRequest {
    let body = Bytes::copy_from_slice(event.payload.get().as_bytes());
    let signature = endpoint.secret.sign(event.id.as_str(), timestamp, &body);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        // Ids, numbers and base64 are always valid header values.
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("content-type", "application/json".to_owned());
    set("user-agent", USER_AGENT.to_owned());
    set("webhook-id", event.id.to_string());
    set("webhook-timestamp", timestamp.to_string());
    set("webhook-signature", signature);
    // Credentials and the tenant's own headers; validation keeps them off the names set above.
    for (name, value) in endpoint.options.request_headers() {
        headers.insert(name, value);
    }
    OutgoingRequest {
        method: endpoint.options.method.as_reqwest(),
        url: endpoint.url.as_url().clone(),
        headers,
        body,
        timeout: endpoint.timeout(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{
        DeliveryLimits, DeliveryOptions, EndpointHealth, EndpointStatus, EndpointUrl, EventType, EventTypePattern,
        RetryPolicy, UrlRules,
    };
    use crate::ids::{EndpointId, EventId, TenantId};
    use crate::signing::SigningSecret;

    #[test]
    fn signs_the_exact_body_with_the_event_id() {
        let tenant = TenantId::generate();
        let endpoint = Endpoint {
            id: EndpointId::generate(),
            tenant_id: tenant.clone(),
            url: EndpointUrl::parse("https://example.com/hook", UrlRules::default()).unwrap(),
            description: String::new(),
            event_types: vec![EventTypePattern::All],
            retry: RetryPolicy::default(),
            options: DeliveryOptions::default(),
            limits: DeliveryLimits::default(),
            secret: SigningSecret::generate(),
            status: EndpointStatus::Active,
            health: EndpointHealth::default(),
            created_at: OffsetDateTime::now_utc(),
        };
        let event = Event {
            id: EventId::generate(),
            tenant_id: tenant,
            event_type: EventType::parse("order.created").unwrap(),
            payload: RawValue::from_string(r#"{"b": 1, "a": "ü"}"#.to_owned()).unwrap(),
            idempotency_key: None,
            endpoint_ids: vec![],
            created_at: OffsetDateTime::now_utc(),
        };
        let req = build(&endpoint, &event, 1_700_000_000);
        assert_eq!(&req.body[..], r#"{"b": 1, "a": "ü"}"#.as_bytes());
        assert_eq!(req.headers["webhook-id"], event.id.as_str());
        assert_eq!(req.headers["webhook-timestamp"], "1700000000");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.timeout, Duration::from_secs(15));
        assert!(req.headers["user-agent"].to_str().unwrap().starts_with("Hookline/"));
        let sig = req.headers["webhook-signature"].to_str().unwrap();
        assert!(endpoint.secret.verify(event.id.as_str(), 1_700_000_000, &req.body, sig));
    }
}
