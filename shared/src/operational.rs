//! Operational webhooks: Hookline tells a tenant when something needs a human, with events of
//! its own (`hookline.…`, reserved: tenants cannot register or publish them). They are ordinary
//! events of the tenant, fanned out ([`crate::fanout`]) to the endpoints that subscribe to them
//! by name or by a `hookline.…` wildcard, and signed and retried like any other.

use serde_json::json;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::domain::EventType;
use crate::fanout::{FanOutError, Outgoing, fan_out_if_subscribed};
use crate::ids::{EndpointId, EventId, TenantId};
use crate::queue::Queue;
use crate::store::Store;

pub const ENDPOINT_DISABLED: &str = "hookline.endpoint.disabled";
pub const ENDPOINT_RECOVERED: &str = "hookline.endpoint.recovered";
pub const DELIVERY_EXHAUSTED: &str = "hookline.delivery.exhausted";

/// Something a tenant's operator should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationalEvent {
    /// The endpoint was disabled (410, or failing for too long); its deliveries are paused.
    EndpointDisabled { endpoint_id: EndpointId, reason: String },
    /// The endpoint succeeded again after failures (or an open circuit).
    EndpointRecovered { endpoint_id: EndpointId },
    /// A delivery failed for good: its retry schedule is spent, or the answer was final.
    DeliveryExhausted {
        event_id: EventId,
        event_type: EventType,
        endpoint_id: EndpointId,
        attempts: u32,
        last_error: Option<String>,
    },
}

impl OperationalEvent {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::EndpointDisabled { .. } => ENDPOINT_DISABLED,
            Self::EndpointRecovered { .. } => ENDPOINT_RECOVERED,
            Self::DeliveryExhausted { .. } => DELIVERY_EXHAUSTED,
        }
    }

    /// The payload receivers get.
    pub fn payload(&self, at: OffsetDateTime) -> serde_json::Value {
        let at = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        match self {
            Self::EndpointDisabled { endpoint_id, reason } => {
                json!({"endpoint_id": endpoint_id, "reason": reason, "disabled_at": at})
            }
            Self::EndpointRecovered { endpoint_id } => json!({"endpoint_id": endpoint_id, "recovered_at": at}),
            Self::DeliveryExhausted { event_id, event_type, endpoint_id, attempts, last_error } => json!({
                "event_id": event_id,
                "event_type": event_type,
                "endpoint_id": endpoint_id,
                "attempts": attempts,
                "last_error": last_error,
                "failed_at": at,
            }),
        }
    }
}

/// Stores the event for the tenant and queues it to the endpoints subscribed to its type; with
/// no subscriber, nothing is written (`None`).
pub async fn emit(
    store: &Store,
    queue: &Queue,
    tenant: &TenantId,
    event: &OperationalEvent,
) -> Result<Option<EventId>, FanOutError> {
    let at = OffsetDateTime::now_utc();
    let Ok(event_type) = EventType::parse(event.event_type()) else {
        unreachable!("the operational event types are valid names");
    };
    let Ok(payload) = RawValue::from_string(event.payload(at).to_string()) else {
        unreachable!("a serialized JSON value is valid JSON");
    };
    let outgoing =
        Outgoing { id: EventId::generate(), tenant_id: tenant.clone(), event_type, payload, idempotency_key: None };
    let Some(written) = fan_out_if_subscribed(store, queue, outgoing).await? else {
        return Ok(None);
    };
    tracing::info!(
        tenant_id = %tenant,
        event_id = %written.id,
        event_type = event.event_type(),
        deliveries = written.endpoint_ids.len(),
        "operational event emitted"
    );
    Ok(Some(written.id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_operational_type_is_a_reserved_event_type() {
        for name in [ENDPOINT_DISABLED, ENDPOINT_RECOVERED, DELIVERY_EXHAUSTED] {
            assert!(EventType::parse(name).unwrap().is_reserved(), "{name}");
        }
    }

    #[test]
    fn the_disabled_payload_carries_the_endpoint_and_reason() {
        let endpoint_id = EndpointId::generate();
        let event = OperationalEvent::EndpointDisabled { endpoint_id: endpoint_id.clone(), reason: "410 Gone".into() };
        let payload = event.payload(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(payload["endpoint_id"], endpoint_id.to_string());
        assert_eq!(payload["reason"], "410 Gone");
        assert_eq!(payload["disabled_at"], "1970-01-01T00:00:00Z");
    }
}
