//! One delivery attempt, from the queue message to the recorded result.

use std::time::Duration;

use time::OffsetDateTime;

use super::http::{HttpResult, Sender};
use super::request;
use super::verdict::{self, Verdict};
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint, Event};
use crate::queue::DeliveryJob;
use crate::store::{DeliveryUpdate, RecordOutcome, Store, StoreError};

/// What to do with the queue message once the attempt is over.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing left to do: delete the message.
    Done,
    /// Keep the message and hand it over again after this long.
    RetryIn(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A delivery that is due: everything needed to make attempt number `attempt`.
struct PendingDispatch {
    delivery: Delivery,
    endpoint: Endpoint,
    event: Event,
    attempt: u32,
}

#[derive(Clone, Debug)]
pub struct Deliverer {
    store: Store,
    sender: Sender,
}

impl Deliverer {
    pub fn new(store: Store, sender: Sender) -> Self {
        Self { store, sender }
    }

    /// Runs one queue message. Safe to call twice for the same message: the attempt log in
    /// DynamoDB, not this process, says what has been done.
    pub async fn process(&self, job: &DeliveryJob) -> Result<Outcome, DeliveryError> {
        let pending = match self.prepare(job).await? {
            Ok(pending) => pending,
            Err(outcome) => return Ok(outcome),
        };
        let now = OffsetDateTime::now_utc();
        let outgoing = request::build(&pending.endpoint, &pending.event, now.unix_timestamp());
        let result = self.sender.send(outgoing).await;
        let verdict = verdict::judge(&result, &pending.endpoint.retry, pending.attempt);
        self.complete(job, &pending, now, result, verdict).await
    }

    /// Loads what the attempt needs, or says why there is nothing to send now.
    async fn prepare(&self, job: &DeliveryJob) -> Result<Result<PendingDispatch, Outcome>, DeliveryError> {
        let DeliveryJob { tenant_id, event_id, endpoint_id } = job;
        let Some(delivery) = self.store.get_delivery(tenant_id, event_id, endpoint_id).await? else {
            tracing::warn!("no delivery record (expired or never written); dropping the message");
            return Ok(Err(Outcome::Done));
        };
        if delivery.status.is_final() {
            tracing::info!(status = delivery.status.as_str(), "delivery already finished");
            return Ok(Err(Outcome::Done));
        }
        // A message handed over early (a lost visibility change, a crash) waits out its schedule.
        if let Some(wait) = delivery.next_attempt_at.map(|at| at - OffsetDateTime::now_utc())
            && wait > time::Duration::seconds(1)
        {
            return Ok(Err(Outcome::RetryIn(wait.unsigned_abs())));
        }
        let Some(endpoint) = self.store.get_endpoint(tenant_id, endpoint_id).await? else {
            tracing::warn!("endpoint deleted; dropping the delivery");
            return Ok(Err(Outcome::Done));
        };
        let Some(event) = self.store.get_event(tenant_id, event_id).await? else {
            tracing::warn!("event expired; dropping the delivery");
            return Ok(Err(Outcome::Done));
        };
        let attempt = delivery.attempts + 1;
        Ok(Ok(PendingDispatch { delivery, endpoint, event, attempt }))
    }

    /// Records the attempt and turns the verdict into what happens to the message.
    async fn complete(
        &self,
        job: &DeliveryJob,
        pending: &PendingDispatch,
        at: OffsetDateTime,
        result: HttpResult,
        verdict: Verdict,
    ) -> Result<Outcome, DeliveryError> {
        let last_error = describe_failure(&result);
        let attempt = Attempt {
            endpoint_id: pending.endpoint.id.clone(),
            number: pending.attempt,
            at,
            succeeded: result.succeeded(),
            response_status: result.status,
            error: result.error,
            latency_ms: result.latency_ms,
            response_body: result.body_excerpt,
        };
        let update = match &verdict {
            Verdict::Delivered => {
                DeliveryUpdate { status: DeliveryStatus::Delivered, next_attempt_at: None, last_error: None }
            }
            Verdict::RetryIn(delay) => DeliveryUpdate {
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(OffsetDateTime::now_utc() + *delay),
                last_error,
            },
            Verdict::GiveUp => DeliveryUpdate { status: DeliveryStatus::Failed, next_attempt_at: None, last_error },
        };
        let recorded = self.store.record_attempt(&job.tenant_id, &job.event_id, &attempt, update).await?;
        if recorded == RecordOutcome::AlreadyRecorded {
            // Another copy of this message recorded the same attempt first. Keep the message
            // rather than delete it under the other copy; the next hand-over reads the log.
            tracing::warn!(attempt = pending.attempt, "attempt already recorded by a duplicate message");
            let delivery = self.store.get_delivery(&job.tenant_id, &job.event_id, &job.endpoint_id).await?;
            return Ok(match delivery {
                Some(d) if d.status == DeliveryStatus::Pending => {
                    let wait = d.next_attempt_at.map(|at| (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO));
                    Outcome::RetryIn(wait.map_or(Duration::from_secs(1), |w| w.unsigned_abs()))
                }
                _ => Outcome::Done,
            });
        }
        tracing::info!(
            attempt = pending.attempt,
            status = ?attempt.response_status,
            error = attempt.error.as_ref().map(|e| e.kind.as_str()),
            latency_ms = attempt.latency_ms,
            previous_attempts = pending.delivery.attempts,
            "attempt recorded"
        );
        Ok(match verdict {
            Verdict::Delivered | Verdict::GiveUp => Outcome::Done,
            Verdict::RetryIn(delay) => Outcome::RetryIn(delay),
        })
    }
}

fn describe_failure(result: &HttpResult) -> Option<String> {
    result.error.as_ref().map(|err| format!("{}: {}", err.kind.as_str(), err.message))
}
