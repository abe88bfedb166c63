//! The deliver function: a batch of SQS records in, a partial batch response out.
//!
//! Each record is one delivery. A record that needs another attempt later stays on the queue:
//! its visibility timeout is set to the delay and it is reported in `batchItemFailures`, so
//! Lambda does not delete it. Everything else is acknowledged (deleted by Lambda).

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use hookline_shared::config::Config;
use hookline_shared::delivery::{Deliverer, Outcome, PolicySettings, Sender};
use hookline_shared::guard::AddressPolicy;
use hookline_shared::queue::{DeliveryJob, Queue};
use hookline_shared::store::Store;
use tracing::Instrument;

/// Deliveries sent at once from one batch, so one slow receiver does not hold up the rest.
pub const BATCH_CONCURRENCY: usize = 10;

#[derive(Clone, Debug)]
pub struct Handler {
    deliverer: Deliverer,
    queue: Queue,
}

/// What one record came to, for the batch response.
enum RecordResult {
    Acknowledge,
    KeepOnQueue,
}

impl Handler {
    pub fn new(deliverer: Deliverer, queue: Queue) -> Self {
        Self { deliverer, queue }
    }

    /// Builds the handler for a deployment: loopback is reachable only with the dev flag.
    pub fn from_config(config: &Config, clients: &hookline_shared::aws::Clients) -> anyhow::Result<Self> {
        Self::with_settings(config, clients, PolicySettings::default())
    }

    /// As [`Handler::from_config`], with the delivery policy's numbers given (tests shorten them).
    pub fn with_settings(
        config: &Config,
        clients: &hookline_shared::aws::Clients,
        settings: PolicySettings,
    ) -> anyhow::Result<Self> {
        let store = Store::new(clients.dynamodb.clone(), &config.table, config.retention);
        let sender = Sender::new(AddressPolicy { allow_loopback: config.dev_allow_loopback })?;
        let queue = Queue::new(clients.sqs.clone(), &config.queue_url);
        // Operational events go on the same deliveries queue as every other event's.
        let deliverer = Deliverer::with_settings(store, sender, settings).with_operational_events(queue.clone());
        Ok(Self::new(deliverer, queue))
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
        let job: DeliveryJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(err) => {
                // Not ours to drop: it stays, and the redrive policy moves it to the DLQ.
                tracing::error!(message_id = ?record.message_id, error = %err, "malformed queue message");
                return RecordResult::KeepOnQueue;
            }
        };
        let span = tracing::info_span!(
            "delivery",
            message_id = record.message_id.as_deref().unwrap_or_default(),
            tenant_id = %job.tenant_id,
            event_id = %job.event_id,
            endpoint_id = %job.endpoint_id
        );
        // `instrument`, not `span.enter()`: records run concurrently on one thread, and an
        // entered span held across an `.await` would label the other records' lines with this
        // record's tenant (clippy.toml forbids holding `Entered` across an await).
        self.process_job(record, &job).instrument(span).await
    }

    async fn process_job(&self, record: &SqsMessage, job: &DeliveryJob) -> RecordResult {
        match self.deliverer.process(job).await {
            Ok(Outcome::Done) => RecordResult::Acknowledge,
            Ok(Outcome::RetryIn(delay)) => {
                self.keep_for(record, delay).await;
                RecordResult::KeepOnQueue
            }
            Err(err) => {
                // DynamoDB trouble: nothing was recorded, so try again soon.
                tracing::error!(error = %err, "delivery could not be processed");
                self.keep_for(record, Duration::from_secs(10)).await;
                RecordResult::KeepOnQueue
            }
        }
    }

    /// Hides the record for `delay`. If that fails the record still comes back, after the
    /// queue's own visibility timeout.
    async fn keep_for(&self, record: &SqsMessage, delay: Duration) {
        let Some(receipt) = record.receipt_handle.as_deref() else { return };
        if let Err(err) = self.queue.retry_in(receipt, delay).await {
            tracing::warn!(error = %err, "could not set the retry delay; the queue's default applies");
        }
    }
}
