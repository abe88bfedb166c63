//! The deliveries queue on SQS. An event's first round is one message ([`RoundJob`]) carrying
//! the event and its endpoints; everything after it (a retry, a deferral, a resend, a
//! recovery, a slow-lane move, a resumed ingest) is one message per delivery ([`DeliveryJob`]),
//! carrying only ids.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use serde::{Deserialize, Serialize};

use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::domain::{Event, EventType};
use crate::ids::{EndpointId, EventId, TenantId};

const SEND_BATCH_LIMIT: usize = 10;
/// The longest `DelaySeconds` SQS takes; a later retry's message comes early and waits out
/// the rest on its visibility timeout.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// A round message carries its event's payload up to this size, so the message stays within
/// SQS's first billed 64 KB; a larger payload is read from DynamoDB.
pub const CARRIED_PAYLOAD_MAX_BYTES: usize = 48 * 1024;
const SEND_ROUNDS: u32 = 5;
/// The message attribute that says why a message was put on the dead-letter queue.
pub const DEAD_LETTER_REASON: &str = "reason";
/// The message attribute that marks a message queued by an event's first fan-out, and its
/// value. Every other message (a resumed ingest, a slow-lane move, a resend, a recovery) goes
/// without it, so the deliver function reads its delivery before sending.
pub const ROUND_ATTRIBUTE: &str = "hookline-round";
pub const FIRST_ROUND: &str = "first";

/// The most SQS lets a received message stay hidden.
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// The body of a deliveries-queue message. The payload and endpoint settings are read from
/// DynamoDB when the delivery runs, so a message is small and never stale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
}

/// The body of an event's first-round message: one for all of its endpoints, so the deliver
/// function sends to them together and records them in one write (`Store::record_round`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoundJob {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub endpoint_ids: Vec<EndpointId>,
    /// The event, when its payload is at most [`CARRIED_PAYLOAD_MAX_BYTES`]: a fresh round
    /// then reads nothing before sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<CarriedEvent>,
}

/// What a round message carries of its event besides the ids.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CarriedEvent {
    pub event_type: EventType,
    pub payload: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl RoundJob {
    pub fn of(event: &Event) -> Self {
        let carried = (event.payload.get().len() <= CARRIED_PAYLOAD_MAX_BYTES).then(|| CarriedEvent {
            event_type: event.event_type.clone(),
            payload: event.payload.clone(),
            idempotency_key: event.idempotency_key.clone(),
            created_at: event.created_at,
        });
        Self {
            tenant_id: event.tenant_id.clone(),
            event_id: event.id.clone(),
            endpoint_ids: event.endpoint_ids.clone(),
            event: carried,
        }
    }

    /// The event as carried, if it was.
    pub fn event(&self) -> Option<Event> {
        let carried = self.event.as_ref()?;
        Some(Event {
            id: self.event_id.clone(),
            tenant_id: self.tenant_id.clone(),
            event_type: carried.event_type.clone(),
            payload: carried.payload.clone(),
            idempotency_key: carried.idempotency_key.clone(),
            endpoint_ids: self.endpoint_ids.clone(),
            created_at: carried.created_at,
        })
    }

    /// One delivery of the round.
    pub fn job(&self, endpoint_id: &EndpointId) -> DeliveryJob {
        DeliveryJob {
            tenant_id: self.tenant_id.clone(),
            event_id: self.event_id.clone(),
            endpoint_id: endpoint_id.clone(),
        }
    }
}

/// Any deliveries-queue message, told apart by its fields (`endpoint_id` or `endpoint_ids`).
#[derive(Clone, Debug)]
pub enum QueueMessage {
    Round(RoundJob),
    Delivery(DeliveryJob),
}

impl QueueMessage {
    /// Reads a message body. (Not a serde untagged enum: those buffer the body, and a carried
    /// payload's `RawValue` cannot be read from a buffer.)
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        match serde_json::from_str::<DeliveryJob>(body) {
            Ok(job) => Ok(Self::Delivery(job)),
            Err(not_a_delivery) => serde_json::from_str::<RoundJob>(body).map(Self::Round).map_err(|_| not_a_delivery),
        }
    }
}

/// One message to send: its body, its message group and how long SQS holds it back.
struct Entry {
    body: String,
    group: String,
    delay: Duration,
}

impl Entry {
    fn of<T: Serialize>(body: &T, tenant: &TenantId, delay: Duration) -> Result<Self, QueueError> {
        let body = serde_json::to_string(body)
            .map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })?;
        Ok(Self { body, group: tenant.to_string(), delay: delay.min(MAX_DELAY) })
    }
}

/// The message group of a job on a standard queue: its tenant. With SQS fair queues a tenant
/// that holds a disproportionate share of the in-flight messages or processing time does not
/// delay the others' messages.
pub fn message_group(job: &DeliveryJob) -> String {
    job.tenant_id.to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {op} failed: {message}")]
    Aws { op: &'static str, message: String },
    #[error("{0} deliveries could not be queued")]
    NotQueued(usize),
}

#[derive(Clone, Debug)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a record whose `eventSourceARN` is `arn` came from this queue: a queue's URL
    /// and ARN both end with its name.
    pub fn is_source_of(&self, arn: &str) -> bool {
        let name = self.url.rsplit('/').next().unwrap_or_default();
        !name.is_empty() && arn.rsplit(':').next() == Some(name)
    }

    /// Puts every job on the queue, or fails. Entries SQS refuses are sent again a few times, so
    /// success means each job is durably queued.
    pub async fn enqueue(&self, jobs: &[DeliveryJob]) -> Result<(), QueueError> {
        let delayed: Vec<(DeliveryJob, Duration)> = jobs.iter().map(|job| (job.clone(), Duration::ZERO)).collect();
        self.enqueue_later(&delayed).await
    }

    /// As [`Queue::enqueue`], each job held back for its delay (at most [`MAX_DELAY`]).
    pub async fn enqueue_later(&self, jobs: &[(DeliveryJob, Duration)]) -> Result<(), QueueError> {
        let entries =
            jobs.iter().map(|(job, delay)| Entry::of(job, &job.tenant_id, *delay)).collect::<Result<Vec<_>, _>>()?;
        for chunk in entries.chunks(SEND_BATCH_LIMIT) {
            self.send_batch(chunk, false).await?;
        }
        Ok(())
    }

    /// Puts events' first rounds on the queue, one message each, marked [`FIRST_ROUND`] so a
    /// fresh first handover reads nothing before sending. Answers, per round, whether it is
    /// durably queued: a chunk that fails does not stop the next.
    pub async fn enqueue_rounds(&self, rounds: &[RoundJob]) -> Vec<bool> {
        let mut queued = Vec::with_capacity(rounds.len());
        for chunk in rounds.chunks(SEND_BATCH_LIMIT) {
            let entries =
                chunk.iter().map(|r| Entry::of(r, &r.tenant_id, Duration::ZERO)).collect::<Result<Vec<_>, _>>();
            let ok = match entries {
                Ok(entries) => self.send_batch(&entries, true).await,
                Err(err) => Err(err),
            };
            if let Err(err) = &ok {
                tracing::warn!(error = %err, rounds = chunk.len(), "a batch of first rounds was not queued");
            }
            queued.extend(std::iter::repeat_n(ok.is_ok(), chunk.len()));
        }
        queued
    }

    async fn send_batch(&self, entries: &[Entry], first_round: bool) -> Result<(), QueueError> {
        // (entry id, entry): the message group is the tenant, so SQS fair queues can favour
        // quiet tenants over one that holds most of the in-flight messages.
        let mut pending: Vec<(String, &Entry)> = entries.iter().enumerate().map(|(i, e)| (i.to_string(), e)).collect();
        for round in 0..SEND_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, entry)| {
                    let mut built = SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(&entry.body)
                        .message_group_id(&entry.group);
                    if !entry.delay.is_zero() {
                        built = built.delay_seconds(i32::try_from(entry.delay.as_secs()).unwrap_or(900));
                    }
                    if first_round {
                        let round = MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(FIRST_ROUND)
                            .build()
                            .map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })?;
                        built = built.message_attributes(ROUND_ATTRIBUTE, round);
                    }
                    built.build().map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out =
                self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await.map_err(
                    |e| QueueError::Aws { op: "SendMessageBatch", message: DisplayErrorContext(&e).to_string() },
                )?;
            let failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
            pending.retain(|(id, _)| failed.contains(&id.as_str()));
            if pending.is_empty() {
                return Ok(());
            }
            tracing::warn!(failed = pending.len(), round, "SQS refused some entries; sending them again");
        }
        Err(QueueError::NotQueued(pending.len()))
    }

    /// Puts a message that is not a delivery on this queue (the dead-letter queue) with its
    /// body as it arrived and why it was set aside in the `reason` attribute, so an operator
    /// (and the DLQ alarm) sees it at once instead of after `maxReceiveCount` receives.
    pub async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError::Aws { op: "SendMessage", message: e.to_string() })?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes(DEAD_LETTER_REASON, reason)
            .send()
            .await
            .map_err(|e| QueueError::Aws { op: "SendMessage", message: DisplayErrorContext(&e).to_string() })?;
        Ok(())
    }

    /// Hides a received message for `delay`, so SQS hands it over again when the wait is over.
    pub async fn retry_in(&self, receipt_handle: &str, delay: Duration) -> Result<(), QueueError> {
        let seconds = delay.min(MAX_VISIBILITY).as_secs();
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| QueueError::Aws {
                op: "ChangeMessageVisibility",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(url: &str) -> Queue {
        let config =
            aws_sdk_sqs::Config::builder().behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest()).build();
        Queue::new(Client::from_conf(config), url)
    }

    #[test]
    fn a_record_is_matched_to_its_queue_by_name() {
        let slow = queue("https://sqs.us-east-1.amazonaws.com/123456789012/hookline-SlowDeliveriesQueue-X1");
        assert!(slow.is_source_of("arn:aws:sqs:us-east-1:123456789012:hookline-SlowDeliveriesQueue-X1"));
        assert!(!slow.is_source_of("arn:aws:sqs:us-east-1:123456789012:hookline-DeliveriesQueue-X2"));
        assert!(!slow.is_source_of("arn:aws:sqs:us-east-1:123456789012:hookline-SlowDeliveriesQueue-X1-other"));
        assert!(!queue("").is_source_of("arn:aws:sqs:us-east-1:1:"));
    }

    #[test]
    fn the_message_group_is_the_tenant() {
        let job = DeliveryJob {
            tenant_id: TenantId::generate(),
            event_id: EventId::generate(),
            endpoint_id: EndpointId::generate(),
        };
        assert_eq!(message_group(&job), job.tenant_id.to_string());
    }
    fn event(payload: &str) -> Event {
        Event {
            id: EventId::generate(),
            tenant_id: TenantId::generate(),
            event_type: EventType::parse("order.created").unwrap(),
            payload: RawValue::from_string(payload.to_owned()).unwrap(),
            idempotency_key: Some("k".to_owned()),
            endpoint_ids: vec![EndpointId::generate(), EndpointId::generate()],
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn a_round_and_a_delivery_message_are_told_apart_and_a_round_carries_its_event() {
        let sent = event(r#"{"order": 42}"#);
        let body = serde_json::to_string(&RoundJob::of(&sent)).unwrap();
        let QueueMessage::Round(round) = QueueMessage::parse(&body).unwrap() else { panic!("{body}") };
        let carried = round.event().unwrap();
        assert_eq!((carried.id, carried.payload.get()), (sent.id.clone(), r#"{"order": 42}"#));
        assert_eq!(round.endpoint_ids, sent.endpoint_ids);
        let job = round.job(&sent.endpoint_ids[1]);
        let body = serde_json::to_string(&job).unwrap();
        let QueueMessage::Delivery(parsed) = QueueMessage::parse(&body).unwrap() else { panic!("{body}") };
        assert!(QueueMessage::parse(r#"{"tenant_id": "x"}"#).is_err());
        assert_eq!(parsed, job);
    }

    #[test]
    fn a_payload_too_big_for_one_billed_message_is_not_carried() {
        let big = format!(r#"{{"blob": "{}"}}"#, "x".repeat(CARRIED_PAYLOAD_MAX_BYTES));
        let round = RoundJob::of(&event(&big));
        assert!(round.event.is_none() && round.event().is_none());
        assert!(serde_json::to_string(&round).unwrap().len() < 1024);
    }
}
