//! A stand-in for Lambda's SQS event source mapping: receive up to 10 messages, hand them to
//! the deliver handler as an `SqsEvent`, then delete every record the handler did not report
//! in `batchItemFailures`. Reported records stay; they come back when their visibility
//! timeout (set by the handler) runs out.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio::sync::watch;

/// Lambda's largest standard-queue batch size for this function (see `template.yaml`).
pub const BATCH_SIZE: i32 = 10;

#[derive(Clone)]
pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    handler: deliver::Handler,
}

impl Poller {
    pub fn new(sqs: aws_sdk_sqs::Client, queue_url: String, queue_arn: String, handler: deliver::Handler) -> Self {
        Self { sqs, queue_url, queue_arn, handler }
    }

    /// The deliver function's handler this poller feeds.
    pub fn handler(&self) -> &deliver::Handler {
        &self.handler
    }

    /// Receives one batch (waiting up to `wait` for it), runs it and deletes what succeeded.
    /// Returns how many messages the batch held.
    pub async fn poll_once(&self, wait: Duration) -> anyhow::Result<usize> {
        let event = self.receive(wait).await?;
        if event.records.is_empty() {
            return Ok(0);
        }
        let response = self.handler.handle(event.clone()).await;
        self.acknowledge(&event, &response).await?;
        Ok(event.records.len())
    }

    /// One `ReceiveMessage` call, shaped as the event Lambda would pass to the function.
    pub async fn receive(&self, wait: Duration) -> anyhow::Result<SqsEvent> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH_SIZE)
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        let mut event = SqsEvent::default();
        event.records = out.messages.unwrap_or_default().into_iter().map(|m| self.to_record(m)).collect();
        Ok(event)
    }

    /// Deletes every record of `event` that `response` does not list as failed.
    pub async fn acknowledge(&self, event: &SqsEvent, response: &SqsBatchResponse) -> anyhow::Result<()> {
        let failed: HashSet<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        let done: Vec<&str> = event
            .records
            .iter()
            .filter(|r| r.message_id.as_deref().is_none_or(|id| !failed.contains(id)))
            .filter_map(|r| r.receipt_handle.as_deref())
            .collect();
        for chunk in done.chunks(BATCH_SIZE as usize) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(*receipt).build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("DeleteMessageBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        }
        Ok(())
    }

    /// Polls until `shutdown` turns true. Errors are logged and polling goes on, as the
    /// event source mapping does.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            tokio::select! {
                result = self.poll_once(Duration::from_secs(1)) => {
                    if let Err(err) = result {
                        tracing::warn!(error = %err, "poll failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                _ = shutdown.changed() => {}
            }
        }
    }

    fn to_record(&self, message: Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.attributes = message
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| (name.as_str().to_owned(), value))
            .collect();
        // Message attributes as Lambda passes them (`messageAttributes`): the deliver function
        // reads the first-round mark from there.
        record.message_attributes = message
            .message_attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = value.string_value;
                attribute.string_list_values = value.string_list_values.unwrap_or_default();
                attribute.data_type = Some(value.data_type);
                (name, attribute)
            })
            .collect();
        record.message_id = message.message_id;
        record.receipt_handle = message.receipt_handle;
        record.body = message.body;
        record.md5_of_body = message.md5_of_body;
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(self.queue_arn.clone());
        record.aws_region = Some(crate::clients::LOCAL_REGION.to_owned());
        record
    }
}
