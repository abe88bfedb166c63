use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::{EventType, FieldError, Invalid};
use crate::ids::{EndpointId, EventId, TenantId};

const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// An accepted event. The payload is kept as the exact bytes the sender posted, because the
/// `json` body format delivers it as sent.
#[derive(Clone, Debug)]
pub struct Event {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_type: EventType,
    pub payload: Box<RawValue>,
    pub idempotency_key: Option<String>,
    /// The endpoints subscribed when the event arrived: one delivery each.
    pub endpoint_ids: Vec<EndpointId>,
    pub created_at: OffsetDateTime,
}

impl Event {
    /// Whether the payload was expunged (`DELETE /v1/events/{id}/payload`): it then reads as the
    /// JSON text `null`, which a real payload (always an object) never is, and must not be sent.
    pub fn payload_expunged(&self) -> bool {
        self.payload.get() == "null"
    }
}

/// The request body of `POST /v1/events`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventRequest {
    #[schema(value_type = EventType)]
    pub event_type: String,
    /// A JSON object: nested at most 64 levels, numbers within f64, no lone surrogates, and
    /// matching the type's registered schema, if it has one.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// Repeating a request with the same key returns the first event and queues nothing; the
    /// same key with another type or payload is a 409.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256, pattern = "^[!-~]+$")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug)]
pub struct NewEvent {
    pub event_type: EventType,
    pub payload: Box<RawValue>,
    pub idempotency_key: Option<String>,
}

impl NewEvent {
    pub fn parse(req: NewEventRequest) -> Result<Self, Invalid> {
        let mut errors = Vec::new();
        let event_type =
            EventType::parse(&req.event_type).map_err(|m| errors.push(FieldError::new("event_type", m))).ok();
        if !req.payload.get().starts_with('{') {
            errors.push(FieldError::new("payload", "the payload is a JSON object"));
        } else if let Err(message) = super::check_payload(req.payload.get()) {
            errors.push(FieldError::new("payload", message));
        }
        if let Some(key) = &req.idempotency_key {
            let printable = key.bytes().all(|b| (0x21..=0x7E).contains(&b));
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
                errors.push(FieldError::new(
                    "idempotency_key",
                    format!("1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters without spaces"),
                ));
            }
        }
        match event_type {
            Some(event_type) if errors.is_empty() => {
                Ok(Self { event_type, payload: req.payload, idempotency_key: req.idempotency_key })
            }
            _ => Err(Invalid(errors)),
        }
    }
}

/// What an idempotency key stands for: the event type and the payload's content (SHA-256 of
/// the type and the payload re-serialized with sorted keys and no spaces), so a retry that
/// formats the same payload differently is still the same event, and another payload is not.
pub fn event_fingerprint(event_type: &EventType, payload: &RawValue) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(event_type.as_str().as_bytes());
    hash.update([0]);
    match serde_json::from_str::<serde_json::Value>(payload.get()) {
        // serde_json's maps keep their keys sorted (no `preserve_order`), so this is canonical.
        Ok(value) => hash.update(value.to_string().as_bytes()),
        Err(_) => hash.update(payload.get().as_bytes()),
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> NewEventRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keeps_the_payload_bytes_as_sent() {
        let ev = NewEvent::parse(request(r#"{"event_type":"a.b","payload":{"z": 1,  "a":"é"}}"#)).unwrap();
        assert_eq!(ev.payload.get(), r#"{"z": 1,  "a":"é"}"#);
    }

    #[test]
    fn a_fingerprint_tells_the_event_not_its_formatting() {
        let t = EventType::parse("order.created").unwrap();
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let a = event_fingerprint(&t, &raw(r#"{"id": 1, "items": [1, 2]}"#));
        assert_eq!(a, event_fingerprint(&t, &raw(r#"{"items":[1,2],"id":1}"#)));
        assert_ne!(a, event_fingerprint(&t, &raw(r#"{"id": 2, "items": [1, 2]}"#)));
        assert_ne!(a, event_fingerprint(&t, &raw(r#"{"id": 1, "items": [2, 1]}"#)));
        assert_ne!(
            a,
            event_fingerprint(&EventType::parse("order.paid").unwrap(), &raw(r#"{"id": 1, "items": [1, 2]}"#))
        );
    }

    #[test]
    fn refuses_non_object_payloads_and_bad_keys() {
        let err = NewEvent::parse(request(r#"{"event_type":"a b","payload":[1],"idempotency_key":"has space"}"#))
            .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_type", "payload", "idempotency_key"]);
    }
}
