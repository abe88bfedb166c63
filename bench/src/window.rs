//! Lambda's SQS event source mapping with its batching window, as `template.yaml` configures
//! the deliver function's (`BatchSize: 10`, `MaximumBatchingWindowInSeconds: 1`). AWS documents
//! it as: Lambda polls the queue (long polling, up to 10 messages per `ReceiveMessage`) and
//! keeps gathering until the batch holds `BatchSize` messages or the batching window has
//! passed (or the payload reaches 6 MB, which 10 small messages never do), then invokes the
//! function once with the batch; with `ReportBatchItemFailures` it deletes the records the
//! function did not report (`DeleteMessageBatch`).
//!
//! The window is timed here from the moment the batch's first message was received. SQS's
//! `WaitTimeSeconds` is whole seconds, so the window cannot end a long poll: the receive runs
//! in its own task and the batch closes at the window's end whatever that receive is doing.
//! A receive still running then goes on (while the function runs, as Lambda's pollers do), and
//! what it brings starts the next batch, with its own window from when it was received; so
//! does anything over the batch size one receive brought. At most one receive runs at a time,
//! so at most one receive's worth of messages waits in hand.
//!
//! Every `ReceiveMessage` goes through the poller's SQS client, whose interceptor counts it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use hookline_local::poller::Poller;
use tokio::task::JoinHandle;

/// The deliver function's `BatchSize` in `template.yaml` (its `Deliveries` SQS event). Checked
/// against the template by [`check_template`].
pub const BATCH_SIZE: usize = 10;
/// The deliver function's `MaximumBatchingWindowInSeconds` in `template.yaml` (its `Deliveries`
/// SQS event): this constant mirrors it, and [`check_template`] fails the run if they differ.
pub const BATCHING_WINDOW: Duration = Duration::from_secs(1);
/// Each `ReceiveMessage`'s `WaitTimeSeconds`: SQS's longest long poll, which is what Lambda's
/// pollers use. A receive returns as soon as a message is there, so this only bounds how long
/// an idle poll waits (and how many empty receives an idle queue costs).
pub const LONG_POLL: Duration = Duration::from_secs(20);

/// Fails if `template.yaml`'s event source mapping of the deliveries queue no longer says what
/// [`BATCH_SIZE`] and [`BATCHING_WINDOW`] say.
pub fn check_template() -> anyhow::Result<()> {
    use hookline_local::template::{DELIVERIES_QUEUE, Resources};
    let resources = Resources::from_template()?;
    let mapping = resources
        .event_sources
        .get(DELIVERIES_QUEUE)
        .ok_or_else(|| anyhow::anyhow!("template.yaml: no SQS event on {DELIVERIES_QUEUE}"))?;
    let window = Duration::from_secs(u64::from(mapping.maximum_batching_window_in_seconds.unwrap_or(0)));
    anyhow::ensure!(
        usize::try_from(mapping.batch_size)? == BATCH_SIZE && window == BATCHING_WINDOW,
        "template.yaml's {DELIVERIES_QUEUE} mapping has BatchSize {} and MaximumBatchingWindowInSeconds {:?}; the \
         bench emulates {BATCH_SIZE} and {BATCHING_WINDOW:?} (bench/src/window.rs)",
        mapping.batch_size,
        mapping.maximum_batching_window_in_seconds,
    );
    Ok(())
}

type Receiving = JoinHandle<(Instant, anyhow::Result<SqsEvent>)>;

/// Gathers batches from one queue as the event source mapping does, for one function instance
/// that runs one batch at a time.
pub struct Batcher {
    poller: Poller,
    /// Messages received and not yet in a batch, with when they were received.
    held: VecDeque<(Instant, SqsMessage)>,
    receiving: Option<Receiving>,
    /// `ReceiveMessage` calls answered, and those that brought nothing.
    pub receives: u64,
    pub empty_receives: u64,
}

impl Batcher {
    pub fn new(poller: Poller) -> Self {
        Self { poller, held: VecDeque::new(), receiving: None, receives: 0, empty_receives: 0 }
    }

    /// The next batch: up to [`BATCH_SIZE`] messages, handed over once it is full or
    /// [`BATCHING_WINDOW`] after its first message was received. `None` when a receive came
    /// back empty and nothing is in hand (the caller decides whether to go on). Cancel-safe: a
    /// call given up keeps its receive running and the messages in hand for the next call.
    pub async fn next(&mut self) -> anyhow::Result<Option<SqsEvent>> {
        loop {
            let window_end = self.held.front().map(|(at, _)| *at + BATCHING_WINDOW);
            if self.held.len() >= BATCH_SIZE || window_end.is_some_and(|end| Instant::now() >= end) {
                return Ok(Some(self.take()));
            }
            let poller = self.poller.clone();
            let receiving = self.receiving.get_or_insert_with(|| {
                tokio::spawn(async move {
                    let result = poller.receive(LONG_POLL).await;
                    (Instant::now(), result)
                })
            });
            let received = match window_end {
                Some(end) => tokio::select! {
                    received = receiving => Some(received),
                    () = tokio::time::sleep_until(end.into()) => None,
                },
                None => Some(receiving.await),
            };
            let Some(received) = received else { continue };
            self.receiving = None;
            let (at, event) = received?;
            let event = event?;
            self.receives += 1;
            if event.records.is_empty() {
                self.empty_receives += 1;
                if self.held.is_empty() {
                    return Ok(None);
                }
                continue;
            }
            self.held.extend(event.records.into_iter().map(|record| (at, record)));
        }
    }

    fn take(&mut self) -> SqsEvent {
        let n = self.held.len().min(BATCH_SIZE);
        let mut event = SqsEvent::default();
        event.records = self.held.drain(..n).map(|(_, record)| record).collect();
        event
    }

    /// Runs the batch through the deliver handler (one invocation) and deletes what it did not
    /// report as failed. Returns how long the handler ran: the invocation's duration (the delete
    /// is the event source mapping's work, not billed to the function).
    pub async fn invoke(&self, event: SqsEvent) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = self.poller.handler().handle(event.clone()).await;
        let ran = started.elapsed();
        self.poller.acknowledge(&event, &response).await?;
        Ok(ran)
    }
}

impl Drop for Batcher {
    /// A receive still waiting when the scenario is over is dropped (its request was counted
    /// when it was sent).
    fn drop(&mut self) {
        if let Some(receiving) = self.receiving.take() {
            receiving.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_emulated_window_and_batch_size_are_the_template_s() {
        super::check_template().unwrap();
    }
}
