//! The one way an event reaches endpoints: write it with one pending delivery per subscribed
//! endpoint, then put one message per delivery on the queue. Ingest publishes tenants' events
//! through it and the deliver function Hookline's operational events ([`crate::operational`]),
//! so both are stored, signed and retried the same way.

use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::domain::{Event, EventType};
use crate::ids::{EventId, TenantId};
use crate::queue::{DeliveryJob, Queue, QueueError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FanOutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// An event about to be fanned out.
pub struct Outgoing {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub event_type: EventType,
    pub payload: Box<RawValue>,
    pub idempotency_key: Option<String>,
}

/// Writes the event with a pending delivery for each endpoint subscribed to its type now, then
/// queues them. Returns the event once every message is on the queue.
pub async fn fan_out(store: &Store, queue: &Queue, outgoing: Outgoing) -> Result<Event, FanOutError> {
    let endpoints = store.subscribed_endpoints(&outgoing.tenant_id).await?;
    let endpoint_ids =
        endpoints.into_iter().filter(|ep| ep.subscribes_to(&outgoing.event_type)).map(|ep| ep.id).collect();
    let event = Event {
        id: outgoing.id,
        tenant_id: outgoing.tenant_id,
        event_type: outgoing.event_type,
        payload: outgoing.payload,
        idempotency_key: outgoing.idempotency_key,
        endpoint_ids,
        created_at: OffsetDateTime::now_utc(),
    };
    store.put_event_with_deliveries(&event).await?;
    enqueue_deliveries(queue, &event).await?;
    Ok(event)
}

/// Queues one message per delivery of a written event. Queuing one twice is harmless: the
/// delivery log turns the second message into a no-op.
pub async fn enqueue_deliveries(queue: &Queue, event: &Event) -> Result<(), QueueError> {
    let jobs: Vec<DeliveryJob> = event
        .endpoint_ids
        .iter()
        .map(|endpoint_id| DeliveryJob {
            tenant_id: event.tenant_id.clone(),
            event_id: event.id.clone(),
            endpoint_id: endpoint_id.clone(),
        })
        .collect();
    queue.enqueue(&jobs).await
}
