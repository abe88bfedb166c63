//! The deliveries queue on SQS: one message per delivery, carrying only ids.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use serde::{Deserialize, Serialize};

use crate::ids::{EndpointId, EventId, TenantId};

const SEND_BATCH_LIMIT: usize = 10;
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
        for chunk in jobs.chunks(SEND_BATCH_LIMIT) {
            self.send_batch(chunk, false).await?;
        }
        Ok(())
    }

    /// As [`Queue::enqueue`], for an event's first fan-out: each message is marked
    /// [`FIRST_ROUND`], so a fresh first handover may skip reading its delivery.
    pub async fn enqueue_first_round(&self, jobs: &[DeliveryJob]) -> Result<(), QueueError> {
        for chunk in jobs.chunks(SEND_BATCH_LIMIT) {
            self.send_batch(chunk, true).await?;
        }
        Ok(())
    }

    /// Puts the jobs on the queue ten at a time and answers, per job, whether it is durably
    /// queued: a chunk that fails does not stop the next. For events' first fan-out (batched
    /// ingest): each message is marked [`FIRST_ROUND`], like [`Queue::enqueue_first_round`]'s.
    pub async fn enqueue_each(&self, jobs: &[DeliveryJob]) -> Vec<bool> {
        let mut queued = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(SEND_BATCH_LIMIT) {
            let ok = match self.send_batch(chunk, true).await {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(error = %err, jobs = chunk.len(), "a batch of deliveries was not queued");
                    false
                }
            };
            queued.extend(std::iter::repeat_n(ok, chunk.len()));
        }
        queued
    }

    async fn send_batch(&self, jobs: &[DeliveryJob], first_round: bool) -> Result<(), QueueError> {
        // (entry id, body, message group): the group is the tenant, so SQS fair queues can
        // favour quiet tenants over one that holds most of the in-flight messages.
        let mut pending: Vec<(String, String, String)> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| serde_json::to_string(job).map(|body| (i.to_string(), body, message_group(job))))
            .collect::<Result<_, _>>()
            .map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })?;
        for round in 0..SEND_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
            let entries = pending
                .iter()
                .map(|(id, body, group)| {
                    let entry =
                        SendMessageBatchRequestEntry::builder().id(id).message_body(body).message_group_id(group);
                    let entry = if first_round {
                        let round = MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(FIRST_ROUND)
                            .build()
                            .map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })?;
                        entry.message_attributes(ROUND_ATTRIBUTE, round)
                    } else {
                        entry
                    };
                    entry.build().map_err(|e| QueueError::Aws { op: "SendMessageBatch", message: e.to_string() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out =
                self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await.map_err(
                    |e| QueueError::Aws { op: "SendMessageBatch", message: DisplayErrorContext(&e).to_string() },
                )?;
            let failed: Vec<&str> = out.failed.iter().map(|f| f.id.as_str()).collect();
            pending.retain(|(id, _, _)| failed.contains(&id.as_str()));
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
}
