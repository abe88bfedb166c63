//! The deliver function: a batch of SQS records in, a partial batch response out.
//!
//! A record is an event's first round (all of its endpoints at once) or one delivery. A
//! delivery record that needs another attempt later stays on the queue: its visibility timeout
//! is set to the delay and it is reported in `batchItemFailures`, so Lambda does not delete it.
//! A round's deliveries that need more go on as their own messages, queued before the round's
//! record is let go. Everything else is acknowledged (deleted by Lambda). A record
//! that is not a delivery message at all goes to the dead-letter queue at once, with the
//! reason, rather than coming back until the queue's `maxReceiveCount` (1000) moves it.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use hookline_shared::config::Config;
use hookline_shared::delivery::{Deliverer, Handover, Lane, Outcome, PolicySettings, Sender};
use hookline_shared::queue::{DeliveryJob, Queue, QueueMessage, ROUND_ATTRIBUTE, RoundJob};
use hookline_shared::store::Store;
use tracing::Instrument;

/// Deliveries sent at once from one batch, so one slow receiver does not hold up the rest.
pub const BATCH_CONCURRENCY: usize = 10;

#[derive(Clone, Debug)]
pub struct Handler {
    deliverer: Deliverer,
    queue: Queue,
    /// The slow lane's queue, if the deployment has one.
    slow_queue: Option<Queue>,
    /// Where records that are not delivery messages go (`HOOKLINE_DLQ_URL`).
    dead_letter_queue: Queue,
}

/// What one record came to, for the batch response.
enum RecordResult {
    Acknowledge,
    KeepOnQueue,
}

impl Handler {
    pub fn new(deliverer: Deliverer, queue: Queue, dead_letter_queue: Queue) -> Self {
        Self { deliverer, queue, slow_queue: None, dead_letter_queue }
    }

    /// Adds the slow lane: slow endpoints' deliveries move to `slow_queue`, and records from it
    /// are known as the slow lane's.
    pub fn with_slow_lane(self, slow_queue: Queue) -> Self {
        Self { deliverer: self.deliverer.with_slow_lane(), slow_queue: Some(slow_queue), ..self }
    }

    /// Builds the handler for a deployment: its egress mode decides where deliveries may go.
    pub fn from_config(config: &Config, clients: &hookline_shared::aws::Clients) -> anyhow::Result<Self> {
        Self::with_settings(config, clients, PolicySettings::default())
    }

    /// As [`Handler::from_config`], with the delivery policy's numbers given (tests shorten them).
    pub fn with_settings(
        config: &Config,
        clients: &hookline_shared::aws::Clients,
        settings: PolicySettings,
    ) -> anyhow::Result<Self> {
        let Some(dead_letter_url) = &config.dead_letter_queue_url else {
            anyhow::bail!("HOOKLINE_DLQ_URL is not set: the deliver function sends malformed messages there");
        };
        let store = Store::new(clients.dynamodb.clone(), &config.table, config.retention);
        let sender = Sender::new(config.egress)?;
        let queue = Queue::new(clients.sqs.clone(), &config.queue_url);
        // Operational events go on the same deliveries queue as every other event's.
        let deliverer = Deliverer::with_settings(store, sender, settings).with_operational_events(queue.clone());
        let handler = Self::new(deliverer, queue, Queue::new(clients.sqs.clone(), dead_letter_url));
        Ok(match &config.slow_queue_url {
            Some(url) => handler.with_slow_lane(Queue::new(clients.sqs.clone(), url)),
            None => handler,
        })
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<(Option<String>, RecordResult)> = futures::stream::iter(event.records)
            .map(|record| async move {
                let result = self.handle_record(&record).await;
                (record.message_id, result)
            })
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
        // Before returning: Lambda freezes the instance once the handler returns.
        self.deliverer.flush_health().await;
        let now_ms = i64::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis(),
        )
        .unwrap_or(0);
        if let Some(emf) = self.deliverer.metrics().take_emf("deliver", now_ms) {
            hookline_shared::metrics::emit(&emf);
        }
        let mut response = SqsBatchResponse::default();
        for (message_id, result) in results {
            if let RecordResult::KeepOnQueue = result {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    async fn handle_record(&self, record: &SqsMessage) -> RecordResult {
        let body = record.body.as_deref().unwrap_or_default();
        let message = match QueueMessage::parse(body) {
            Ok(message) => message,
            Err(err) => return self.dead_letter(record, body, &err).await,
        };
        let message_id = record.message_id.as_deref().unwrap_or_default();
        // `instrument`, not `span.enter()`: records run concurrently on one thread, and an
        // entered span held across an `.await` would label the other records' lines with this
        // record's tenant (clippy.toml forbids holding `Entered` across an await).
        match message {
            QueueMessage::Delivery(job) => {
                let span = tracing::info_span!(
                    "delivery",
                    message_id,
                    tenant_id = %job.tenant_id,
                    event_id = %job.event_id,
                    endpoint_id = %job.endpoint_id
                );
                self.process_job(record, &job).instrument(span).await
            }
            QueueMessage::Round(round) => {
                let span =
                    tracing::info_span!("round", message_id, tenant_id = %round.tenant_id, event_id = %round.event_id);
                self.process_round(record, &round).instrument(span).await
            }
        }
    }

    /// Runs a first round, then queues what continues alone; only then is the round's record
    /// let go, so a failure in between hands the round over again (which sends nothing twice).
    async fn process_round(&self, record: &SqsMessage, round: &RoundJob) -> RecordResult {
        let marked = record.message_attributes.get(ROUND_ATTRIBUTE).and_then(|a| a.string_value.as_deref());
        let handover = Handover::from_sqs(&record.attributes, marked);
        let next = match self.deliverer.process_round(round, handover).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "round could not be processed");
                self.keep_for(record, Duration::from_secs(10)).await;
                return RecordResult::KeepOnQueue;
            }
        };
        let mut later = Vec::new();
        let mut slow = Vec::new();
        for (job, outcome) in next {
            match (outcome, &self.slow_queue) {
                (Outcome::RetryIn(delay), _) => later.push((job, delay)),
                (Outcome::MoveToSlowLane, Some(_)) => slow.push(job),
                (Outcome::MoveToSlowLane, None) => later.push((job, Duration::from_secs(10))),
                (Outcome::Done, _) => {}
            }
        }
        let queued = match (self.queue.enqueue_later(&later).await, &self.slow_queue) {
            (Ok(()), Some(slow_queue)) if !slow.is_empty() => slow_queue.enqueue(&slow).await,
            (result, _) => result,
        };
        match queued {
            Ok(()) => RecordResult::Acknowledge,
            Err(err) => {
                tracing::warn!(error = %err, "could not queue the round's continuing deliveries; the round stays");
                self.keep_for(record, Duration::from_secs(10)).await;
                RecordResult::KeepOnQueue
            }
        }
    }

    async fn process_job(&self, record: &SqsMessage, job: &DeliveryJob) -> RecordResult {
        let lane = self.lane_of(record);
        let round = record.message_attributes.get(ROUND_ATTRIBUTE).and_then(|a| a.string_value.as_deref());
        let handover = Handover::from_sqs(&record.attributes, round);
        match self.deliverer.process_handover(job, lane, handover).await {
            Ok(Outcome::Done) => RecordResult::Acknowledge,
            Ok(Outcome::RetryIn(delay)) => {
                self.keep_for(record, delay).await;
                RecordResult::KeepOnQueue
            }
            Ok(Outcome::MoveToSlowLane) => self.move_to_slow_lane(record, job).await,
            Err(err) => {
                // DynamoDB trouble: nothing was recorded, so try again soon.
                tracing::error!(error = %err, "delivery could not be processed");
                self.keep_for(record, Duration::from_secs(10)).await;
                RecordResult::KeepOnQueue
            }
        }
    }

    /// Moves a record that is not a delivery message to the dead-letter queue as it came, then
    /// acknowledges it: no later receive can parse it either. If the DLQ refuses it, the record
    /// stays on its queue (the redrive policy remains the safety net), so nothing is lost.
    async fn dead_letter(&self, record: &SqsMessage, body: &str, err: &serde_json::Error) -> RecordResult {
        let reason = format!("not a delivery message: {err}");
        // The body is not logged: it is not ours and could hold anything.
        match self.dead_letter_queue.dead_letter(body, &reason).await {
            Ok(()) => {
                tracing::error!(message_id = ?record.message_id, error = %err, "malformed queue message moved to the DLQ");
                RecordResult::Acknowledge
            }
            Err(send_err) => {
                tracing::error!(
                    message_id = ?record.message_id,
                    error = %err,
                    dlq_error = %send_err,
                    "malformed queue message could not be moved to the DLQ; it stays"
                );
                RecordResult::KeepOnQueue
            }
        }
    }

    fn lane_of(&self, record: &SqsMessage) -> Lane {
        let from_slow_queue = self
            .slow_queue
            .as_ref()
            .zip(record.event_source_arn.as_deref())
            .is_some_and(|(slow, arn)| slow.is_source_of(arn));
        if from_slow_queue { Lane::Slow } else { Lane::Main }
    }

    /// The queue a record came from, where its visibility is changed.
    fn queue_of(&self, record: &SqsMessage) -> &Queue {
        match (self.lane_of(record), &self.slow_queue) {
            (Lane::Slow, Some(slow)) => slow,
            _ => &self.queue,
        }
    }

    /// Queues the delivery on the slow lane, then lets this record go. Queued first, so a
    /// failure in between leaves two copies (the attempt log makes that harmless), never none.
    async fn move_to_slow_lane(&self, record: &SqsMessage, job: &DeliveryJob) -> RecordResult {
        let Some(slow) = &self.slow_queue else {
            // The deliverer only asks for this when there is a slow lane.
            self.keep_for(record, Duration::from_secs(10)).await;
            return RecordResult::KeepOnQueue;
        };
        match slow.enqueue(std::slice::from_ref(job)).await {
            Ok(()) => RecordResult::Acknowledge,
            Err(err) => {
                tracing::warn!(error = %err, "could not move the delivery to the slow lane; it stays");
                self.keep_for(record, Duration::from_secs(10)).await;
                RecordResult::KeepOnQueue
            }
        }
    }

    /// Hides the record for `delay`. If that fails the record still comes back, after the
    /// queue's own visibility timeout.
    async fn keep_for(&self, record: &SqsMessage, delay: Duration) {
        let Some(receipt) = record.receipt_handle.as_deref() else { return };
        if let Err(err) = self.queue_of(record).retry_in(receipt, delay).await {
            tracing::warn!(error = %err, "could not set the retry delay; the queue's default applies");
        }
    }
}
