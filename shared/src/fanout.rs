//! The one way an event reaches endpoints: write it with the ids of its subscribed endpoints
//! (each a pending delivery until touched), then queue its first round (one message for all of
//! them). Ingest publishes tenants' events
//! through it and the deliver function Hookline's operational events ([`crate::operational`]),
//! so both are stored, signed and retried the same way.

use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::domain::{Event, EventType};
use crate::ids::{EndpointId, EventId, TenantId};
use crate::queue::{DeliveryJob, Queue, QueueError, RoundJob};
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
    let endpoint_ids = subscribers(store, &outgoing).await?;
    write_and_queue(store, queue, outgoing, endpoint_ids).await
}

/// As [`fan_out`], but an event no endpoint subscribes to is not written at all (`None`): for
/// Hookline's operational events, which would otherwise cost a write per failed delivery of
/// every tenant, wanted or not.
pub async fn fan_out_if_subscribed(
    store: &Store,
    queue: &Queue,
    outgoing: Outgoing,
) -> Result<Option<Event>, FanOutError> {
    let endpoint_ids = subscribers(store, &outgoing).await?;
    if endpoint_ids.is_empty() {
        return Ok(None);
    }
    write_and_queue(store, queue, outgoing, endpoint_ids).await.map(Some)
}

/// The event with the endpoints subscribed to its type now, not written yet: ingest writes it
/// itself, in one put that is also the idempotency key's claim (`Store::create_event`).
pub async fn new_event(store: &Store, outgoing: Outgoing) -> Result<Event, StoreError> {
    let endpoint_ids = subscribers(store, &outgoing).await?;
    Ok(event_of(outgoing, endpoint_ids))
}

fn event_of(outgoing: Outgoing, endpoint_ids: Vec<EndpointId>) -> Event {
    Event {
        id: outgoing.id,
        tenant_id: outgoing.tenant_id,
        event_type: outgoing.event_type,
        payload: outgoing.payload,
        idempotency_key: outgoing.idempotency_key,
        endpoint_ids,
        created_at: OffsetDateTime::now_utc(),
    }
}

async fn subscribers(store: &Store, outgoing: &Outgoing) -> Result<Vec<EndpointId>, StoreError> {
    let endpoints = store.subscribed_endpoints(&outgoing.tenant_id).await?;
    Ok(endpoints.into_iter().filter(|ep| ep.subscribes_to(&outgoing.event_type)).map(|ep| ep.id).collect())
}

async fn write_and_queue(
    store: &Store,
    queue: &Queue,
    outgoing: Outgoing,
    endpoint_ids: Vec<EndpointId>,
) -> Result<Event, FanOutError> {
    let event = write(store, outgoing, endpoint_ids).await?;
    enqueue_first_round(queue, &event).await?;
    Ok(event)
}

/// Queues an event just written as its first round: one message for all of its endpoints,
/// marked so, so a fresh first handover reads nothing before sending. An event without
/// endpoints queues nothing.
pub async fn enqueue_first_round(queue: &Queue, event: &Event) -> Result<(), QueueError> {
    if event.endpoint_ids.is_empty() {
        return Ok(());
    }
    match queue.enqueue_rounds(&[RoundJob::of(event)]).await.as_slice() {
        [true] => Ok(()),
        _ => Err(QueueError::NotQueued(1)),
    }
}

async fn write(store: &Store, outgoing: Outgoing, endpoint_ids: Vec<EndpointId>) -> Result<Event, StoreError> {
    let event = event_of(outgoing, endpoint_ids);
    store.put_event(&event).await?;
    Ok(event)
}

fn jobs(event: &Event) -> impl Iterator<Item = DeliveryJob> + '_ {
    event.endpoint_ids.iter().map(|endpoint_id| DeliveryJob {
        tenant_id: event.tenant_id.clone(),
        event_id: event.id.clone(),
        endpoint_id: endpoint_id.clone(),
    })
}

/// Queues the first rounds of several written events together, ten per SendMessageBatch.
/// Answers, per event in order, whether its round is on the queue.
pub async fn enqueue_many(queue: &Queue, events: &[&Event]) -> Vec<bool> {
    let with_endpoints: Vec<usize> = (0..events.len()).filter(|&i| !events[i].endpoint_ids.is_empty()).collect();
    let rounds: Vec<RoundJob> = with_endpoints.iter().map(|&i| RoundJob::of(events[i])).collect();
    let queued = queue.enqueue_rounds(&rounds).await;
    let mut complete = vec![true; events.len()];
    for (i, ok) in with_endpoints.into_iter().zip(queued) {
        complete[i] = ok;
    }
    complete
}

/// Queues one message per delivery of a written event, each held back `delay` (ingest taking
/// over from an interrupted request, or backing up one that may still be queueing). Queuing one
/// twice is harmless: these messages are not marked first-round, so the deliver function reads
/// the delivery log, which turns a second message into a no-op.
pub async fn enqueue_deliveries(queue: &Queue, event: &Event, delay: std::time::Duration) -> Result<(), QueueError> {
    let jobs: Vec<(DeliveryJob, std::time::Duration)> = jobs(event).map(|job| (job, delay)).collect();
    queue.enqueue_later(&jobs).await
}
