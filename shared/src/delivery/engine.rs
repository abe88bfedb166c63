//! One delivery attempt, from the queue message to the recorded result, under the endpoint's
//! policy: disabled endpoints pause, open circuits and rate limits defer (no attempt spent),
//! and every attempt's outcome feeds the endpoint's health.

use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;

use super::cache::{EndpointCache, EventCache, TenantCache};
use super::decide::{self, CircuitRule, FailureClock, Handover};
use super::fast::{FastEndpoints, FastPass, Probe};
use super::health::{HealthBook, Tally};
use super::http::{HttpResult, Sender};
use super::lanes::{self, Lane};
use super::request;
use super::verdict::{self, Verdict};
use crate::domain::{Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStatus, Event};
use crate::ids::EndpointId;
use crate::metrics::{Counted, DeliveryMetrics};
use crate::operational::{self, OperationalEvent};
use crate::queue::{DeliveryJob, Queue, RoundJob};
use crate::render::Format;
use crate::store::{
    Admission, DeliveryUpdate, HealthChange, HeldLease, LeaseRequest, RateSlot, RecordOutcome, Store, StoreError,
    TenantState,
};

/// How long before its rate-limit slot a waiting delivery reads its event again, so an erasure
/// made while it waited is seen, and the read is over before the slot.
const EVENT_RECHECK_LEAD: Duration = Duration::from_millis(500);
/// How often a delivery waiting for the instance's probe of an endpoint looks again.
const PROBE_POLL: Duration = Duration::from_millis(10);

/// The fleet-wide cap on one endpoint's deliveries in flight.
pub const DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT: u32 = 10;
/// `DeliverFunction`'s `Timeout` in `template.yaml` (a test keeps them equal).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(60);

/// What to do with the queue message once the attempt is over.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing left to do: delete the message.
    Done,
    /// Keep the message and hand it over again after this long.
    RetryIn(Duration),
    /// The endpoint is slow right now: put the message on the slow lane's queue and delete
    /// this one. No attempt was made.
    MoveToSlowLane,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The delivery policy's tunable numbers.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// Circuit breaker: the window failures are counted in…
    pub circuit_window: Duration,
    /// …the attempts it takes before the ratio means anything…
    pub circuit_min_attempts: u32,
    /// …the failing share that opens the circuit…
    pub circuit_failure_ratio: f64,
    /// …and the first cool-down, doubled on each consecutive opening up to the maximum.
    pub circuit_cooldown: Duration,
    pub circuit_max_cooldown: Duration,
    /// A rate-limit slot this close is waited for in the function rather than on the queue.
    pub rate_wait_in_process: Duration,
    /// The least wait after a 429 or a timeout that gave no `Retry-After`.
    pub backoff_floor: Duration,
    /// How long a warm instance reuses an endpoint's settings.
    pub endpoint_cache_ttl: Duration,
    /// How long a warm instance trusts that a tenant is active (bounds how long a deleted or
    /// suspended tenant's deliveries go on).
    pub tenant_cache_ttl: Duration,
    /// A success clears `failing_since` only once it is this old, so an endpoint that fails
    /// now and then does not cost a write on every success.
    pub recovery_grace: Duration,
    /// At most this many deliveries to one endpoint are in flight across the whole fleet;
    /// `None` turns the cap and the slow-lane checks off (benchmarks compare with it).
    pub max_in_flight_per_endpoint: Option<u32>,
    /// How long an in-flight lease counts: the deliver function's timeout, after which no
    /// attempt can still be running (a worker killed mid-send leaves its lease behind).
    pub in_flight_lease: Duration,
    /// A delivery refused by the cap comes back after about this long (no attempt spent).
    pub in_flight_retry: Duration,
    /// An attempt that times out or takes longer than this makes its endpoint slow…
    pub slow_attempt: Duration,
    /// …for this long after it, during which its deliveries travel in the slow lane.
    pub slow_lane_hold: Duration,
    /// A warm instance adds its attempts to the endpoint's health window at most this often
    /// per endpoint, checked on each attempt and at the end of every batch (`delivery/health.rs`).
    pub health_flush_every: Duration,
    /// An answer within this long is fast…
    pub fast_answer: Duration,
    /// …and an endpoint that gave one is sent to without an in-flight lease by the same
    /// instance for this long after it (`delivery/fast.rs`); `None` always takes a lease.
    pub lease_free_trust: Option<Duration>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            circuit_window: Duration::from_secs(300),
            circuit_min_attempts: 10,
            circuit_failure_ratio: 0.7,
            circuit_cooldown: Duration::from_secs(60),
            circuit_max_cooldown: Duration::from_secs(3600),
            rate_wait_in_process: Duration::from_secs(2),
            backoff_floor: verdict::BACKOFF_FLOOR,
            endpoint_cache_ttl: super::cache::ENDPOINT_TTL,
            tenant_cache_ttl: super::cache::TENANT_TTL,
            recovery_grace: Duration::from_secs(60),
            max_in_flight_per_endpoint: Some(DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT),
            in_flight_lease: IN_FLIGHT_LEASE,
            in_flight_retry: Duration::from_secs(2),
            slow_attempt: Duration::from_secs(5),
            slow_lane_hold: Duration::from_secs(300),
            health_flush_every: Duration::from_secs(5),
            fast_answer: Duration::from_secs(1),
            lease_free_trust: Some(Duration::from_secs(10)),
        }
    }
}

/// How a delivery reached the engine.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// Its own message: a retry, a deferral, a resend, a recovery, a slow-lane move, a resumed
    /// ingest, or a round's delivery continuing alone. It reads its delivery (unless the
    /// handover is fresh) and claims the attempt before sending.
    Message(Handover),
    /// A fresh first round: the delivery is untouched, the event is the one the message
    /// carried (if it did), and the round's one conditional write stands for the claim.
    Round(Option<&'a Event>),
}

/// A delivery that is due: everything needed to make attempt number `attempt`.
struct PendingDispatch {
    delivery: Delivery,
    endpoint: Endpoint,
    event: Event,
    attempt: u32,
    /// The endpoint's in-flight lease, given back right after the request.
    lease: Option<HeldLease>,
    /// Or this instance's leave to send without one (the endpoint just answered fast).
    fast_pass: Option<FastPass>,
}

/// What the in-flight check lets a delivery go with.
struct Admitted {
    lease: Option<HeldLease>,
    fast_pass: Option<FastPass>,
}

#[derive(Clone, Debug)]
pub struct Deliverer {
    store: Store,
    sender: Sender,
    settings: PolicySettings,
    metrics: std::sync::Arc<DeliveryMetrics>,
    endpoints: std::sync::Arc<EndpointCache>,
    events: std::sync::Arc<EventCache>,
    tenants: std::sync::Arc<TenantCache>,
    /// Attempts not yet added to their endpoints' health windows.
    health: std::sync::Arc<HealthBook>,
    /// Endpoints this instance has just seen answer fast.
    fast: std::sync::Arc<FastEndpoints>,
    /// Where operational events (`hookline.…`) are queued; `None` emits none.
    operational: Option<Queue>,
    /// Whether a slow lane exists to send slow endpoints' deliveries to.
    slow_lane: bool,
}

impl Deliverer {
    pub fn new(store: Store, sender: Sender) -> Self {
        Self::with_settings(store, sender, PolicySettings::default())
    }

    pub fn with_settings(store: Store, sender: Sender, settings: PolicySettings) -> Self {
        let endpoints = std::sync::Arc::new(EndpointCache::new(settings.endpoint_cache_ttl));
        let events = std::sync::Arc::new(EventCache::new(super::cache::EVENT_TTL));
        let tenants = std::sync::Arc::new(TenantCache::new(settings.tenant_cache_ttl));
        Self {
            store,
            sender,
            settings,
            metrics: Default::default(),
            endpoints,
            events,
            tenants,
            health: Default::default(),
            fast: Default::default(),
            operational: None,
            slow_lane: false,
        }
    }

    /// Emits operational events (endpoint disabled or recovered, delivery exhausted) to the
    /// tenant's subscribed endpoints through this queue.
    pub fn with_operational_events(mut self, queue: Queue) -> Self {
        self.operational = Some(queue);
        self
    }

    /// Stores and queues an operational event. A failure here must not turn a recorded
    /// attempt into a retry (the attempt would be sent again): it is logged and dropped.
    async fn emit(&self, tenant: &crate::ids::TenantId, event: OperationalEvent) {
        let Some(queue) = &self.operational else { return };
        if let Err(err) = operational::emit(&self.store, queue, tenant, &event).await {
            tracing::error!(error = %err, event_type = event.event_type(), "could not emit an operational event");
        }
    }

    /// Deliveries that arrive on the main lane for a slow endpoint are moved to the slow lane
    /// ([`Outcome::MoveToSlowLane`]) rather than sent.
    pub fn with_slow_lane(mut self) -> Self {
        self.slow_lane = true;
        self
    }

    /// What this deliverer counted; the deliver function reports it once per batch.
    pub fn metrics(&self) -> &DeliveryMetrics {
        &self.metrics
    }

    /// Runs one queue message. Safe to call twice for the same message: the attempt log in
    /// DynamoDB, not this process, says what has been done.
    pub async fn process(&self, job: &DeliveryJob) -> Result<Outcome, DeliveryError> {
        self.process_in(job, Lane::Main).await
    }

    /// As [`Deliverer::process`], for a message that came from `lane`, on its own (not in a
    /// batch): the endpoint health tallies due are added when it is done.
    pub async fn process_in(&self, job: &DeliveryJob, lane: Lane) -> Result<Outcome, DeliveryError> {
        let outcome = self.process_handover(job, lane, Handover::default()).await;
        self.flush_health().await;
        outcome
    }

    /// As [`Deliverer::process_in`], for one message of a batch, knowing how it was handed
    /// over: a fresh first handover of a first-round message is sent without reading its
    /// delivery ([`decide::may_skip_delivery_read`]). Its attempt is tallied in memory; the
    /// caller runs [`Deliverer::flush_health`] at the end of the batch.
    pub async fn process_handover(
        &self,
        job: &DeliveryJob,
        lane: Lane,
        handover: Handover,
    ) -> Result<Outcome, DeliveryError> {
        let pending = match self.prepare(job, lane, Source::Message(handover)).await? {
            Ok(pending) => pending,
            Err(outcome) => return Ok(outcome),
        };
        let made = self.attempt(pending).await;
        let recorded =
            self.store.record_attempt(&job.tenant_id, &job.event_id, &made.attempt, made.update.clone()).await?;
        if recorded == RecordOutcome::AlreadyRecorded {
            // Another copy of this message recorded the same attempt first. Keep the message
            // rather than delete it under the other copy; the next hand-over reads the log.
            tracing::warn!(attempt = made.attempt.number, "attempt already recorded by a duplicate message");
            let delivery = self.store.get_delivery(&job.tenant_id, &job.event_id, &job.endpoint_id).await?;
            return Ok(match delivery {
                Some(d) if d.status == DeliveryStatus::Pending => {
                    let wait = d.next_attempt_at.map(|at| (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO));
                    Outcome::RetryIn(wait.map_or(Duration::from_secs(1), |w| w.unsigned_abs()))
                }
                _ => Outcome::Done,
            });
        }
        Ok(self.after_record(job, &made).await)
    }

    /// Runs an event's first round (one message for all of its endpoints): sends to each
    /// endpoint at once, records every attempt in one write ([`Store::record_round`]), and
    /// answers what continues as its own message (a retry, a deferral, a slow-lane move), with
    /// when. A round handed over again, or not fresh, sends nothing itself: each delivery its
    /// record (if any) does not show finished continues as its own message, which reads the
    /// log before sending.
    pub async fn process_round(
        &self,
        round: &RoundJob,
        handover: Handover,
    ) -> Result<Vec<(DeliveryJob, Outcome)>, DeliveryError> {
        let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
        if !decide::may_skip_delivery_read(&handover, now_ms) {
            let recorded = self.store.get_round(&round.tenant_id, &round.event_id).await?;
            if recorded.is_empty()
                && let Some(event) = self.round_event(round).await?
            {
                // No round will list the event now: listed here, its deliveries continue alone.
                self.store.list_event(&event).await?;
            }
            let finished = |ep: &EndpointId| recorded.iter().any(|(a, u)| &a.endpoint_id == ep && u.status.is_final());
            tracing::info!(
                recorded = recorded.len(),
                "round handed over again; its unfinished deliveries continue alone"
            );
            return Ok(round
                .endpoint_ids
                .iter()
                .filter(|ep| !finished(ep))
                .map(|ep| (round.job(ep), Outcome::RetryIn(Duration::ZERO)))
                .collect());
        }
        let Some(event) = self.round_event(round).await? else {
            // Gone (expired, or never written): each delivery finds that out alone.
            return Ok(round.endpoint_ids.iter().map(|ep| (round.job(ep), Outcome::RetryIn(Duration::ZERO))).collect());
        };
        let tries = round.endpoint_ids.iter().map(|endpoint_id| {
            let job = round.job(endpoint_id);
            let event = Some(&event);
            async move {
                match self.prepare(&job, Lane::Main, Source::Round(event)).await {
                    Ok(Ok(pending)) => (job, Ok(self.attempt(pending).await)),
                    Ok(Err(outcome)) => (job, Err(outcome)),
                    Err(err) => {
                        // Nothing was sent: the delivery goes on as its own message.
                        tracing::warn!(error = %err, endpoint_id = %job.endpoint_id, "round delivery not prepared; it continues alone");
                        (job, Err(Outcome::RetryIn(self.settings.in_flight_retry)))
                    }
                }
            }
        });
        let tried = futures::future::join_all(tries).await;
        let mut next = Vec::new();
        let mut made = Vec::new();
        for (job, result) in tried {
            match result {
                Ok(attempt) => made.push((job, attempt)),
                Err(Outcome::Done) => {}
                Err(outcome) => next.push((job, outcome)),
            }
        }
        // Recorded even with no attempt in it (every delivery deferred): the record is also
        // the event's listing entry.
        let record: Vec<_> = made.iter().map(|(_, m)| (m.attempt.clone(), m.update.clone())).collect();
        if !self.store.record_round(&event, &record).await? {
            // A copy of this message sent and recorded the round first; it carries it on.
            tracing::warn!(attempts = made.len(), "round already recorded by a duplicate message");
            return Ok(next);
        }
        for (job, attempt) in &made {
            match self.after_record(job, attempt).await {
                Outcome::Done => {}
                outcome => next.push((job.clone(), outcome)),
            }
        }
        Ok(next)
    }

    /// A round's event: as its message carried it, else read.
    async fn round_event(&self, round: &RoundJob) -> Result<Option<Event>, DeliveryError> {
        match round.event() {
            Some(event) => Ok(Some(event)),
            None => Ok(self.store.get_event(&round.tenant_id, &round.event_id).await?),
        }
    }

    /// Sends the request and judges the answer; nothing is recorded yet.
    async fn attempt(&self, mut pending: PendingDispatch) -> Made {
        let now = OffsetDateTime::now_utc();
        let (mut result, truncated) = match request::build(&pending.endpoint, &pending.event, now.unix_timestamp()) {
            Ok(outgoing) => {
                let truncated = outgoing.truncated;
                (self.sender.send(outgoing).await, truncated)
            }
            // Nothing is sent; the verdict fails the delivery for good (a retry renders the same).
            Err(err) => (HttpResult::not_sent(err.to_attempt_error()), false),
        };
        // Given back as soon as the request is over, so a lease's age says how long the
        // endpoint takes.
        self.release(pending.lease.take(), lanes::attempt_was_slow(&result, self.settings.slow_attempt)).await;
        drop(pending.fast_pass.take());
        // Only a request that went out says how fast the endpoint answers.
        let sent = !result.error.as_ref().is_some_and(|e| e.kind.is_render_failure());
        if let Some(trust) = self.settings.lease_free_trust
            && sent
        {
            let fast = !lanes::attempt_was_slow(&result, self.settings.fast_answer);
            let endpoint = &pending.endpoint;
            self.fast.answered(&endpoint.tenant_id, &endpoint.id, fast, std::time::Instant::now(), trust);
        }
        if pending.endpoint.presentation.format == Format::GoogleChat
            && !result.succeeded()
            && let (Some(err), Some(message)) =
                (result.error.as_mut(), crate::render::chat::google_error_message(result.body_excerpt.as_bytes()))
        {
            // Google answers with a google.rpc.Status; its message says what went wrong.
            err.message = message;
        }
        let verdict = {
            let mut rng = rand::rng();
            let rules = verdict::Rules {
                gone_statuses: pending.endpoint.gone_statuses(),
                backoff_floor: self.settings.backoff_floor,
            };
            verdict::judge(&result, &pending.endpoint.retry, pending.attempt, &rules, &mut rng)
        };
        made(pending, now, result, truncated, verdict)
    }

    /// A pass to send without a lease (`delivery/fast.rs`), or else the pass that tracks this
    /// delivery as the instance's probe of the endpoint, if it is one. While another delivery
    /// probes an endpoint this instance has no verdict on, this one waits for that answer
    /// (at most a fast answer's time) instead of taking a lease of its own: a cold instance's
    /// first batch of ten rounds to three endpoints takes three leases, not thirty.
    async fn fast_pass(&self, endpoint: &Endpoint, cap: u32) -> Result<FastPass, Option<FastPass>> {
        let fast = self.settings.fast_answer;
        let deadline = std::time::Instant::now() + fast;
        loop {
            let now = std::time::Instant::now();
            if let Some(pass) = self.fast.pass(&endpoint.tenant_id, &endpoint.id, now, fast, cap) {
                return Ok(pass);
            }
            match self.fast.probe(&endpoint.tenant_id, &endpoint.id, now, fast) {
                Probe::Wait if now < deadline => tokio::time::sleep(PROBE_POLL).await,
                Probe::Mine(pass) => return Err(Some(pass)),
                Probe::Wait | Probe::No => return Err(None),
            }
        }
    }

    /// The fleet-wide cap and the slow lane: takes a lease on the endpoint, or says what to do
    /// with the message instead (no attempt spent either way).
    async fn admit(&self, endpoint: &Endpoint, lane: Lane) -> Result<Result<Admitted, Outcome>, DeliveryError> {
        let Some(cap) = self.settings.max_in_flight_per_endpoint else {
            return Ok(Ok(Admitted { lease: None, fast_pass: None }));
        };
        let mut probe = None;
        if self.settings.lease_free_trust.is_some() {
            match self.fast_pass(endpoint, cap).await {
                Ok(pass) => return Ok(Ok(Admitted { lease: None, fast_pass: Some(pass) })),
                Err(tracked) => probe = tracked,
            }
        }
        let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
        let refuse_if_slow = self.slow_lane && lane == Lane::Main;
        let request = LeaseRequest { cap, ttl: self.settings.in_flight_lease, now_ms, refuse_if_slow };
        match self.store.take_lease(&endpoint.tenant_id, &endpoint.id, request).await? {
            Admission::Granted { lease, others_started_ms } => {
                if refuse_if_slow && lanes::in_flight_too_long(&others_started_ms, now_ms, self.settings.slow_attempt) {
                    // A request to this endpoint has run past the threshold: it is slow now,
                    // and says so to the fleet before that request's timeout would.
                    self.store.release_lease(&lease, Some(now_ms + self.slow_lane_hold_ms())).await?;
                    tracing::info!(endpoint_id = %endpoint.id, "a request to the endpoint has run past the slow threshold");
                    return Ok(Err(self.to_slow_lane(endpoint)));
                }
                // Tracked too: while it runs longer than a fast answer, no unleased one starts.
                let fast_pass = probe.or_else(|| {
                    self.settings
                        .lease_free_trust
                        .and_then(|_| self.fast.track(&endpoint.tenant_id, &endpoint.id, std::time::Instant::now()))
                });
                Ok(Ok(Admitted { lease: Some(HeldLease::new(self.store.clone(), lease)), fast_pass }))
            }
            Admission::Slow => Ok(Err(self.to_slow_lane(endpoint))),
            Admission::Full => {
                // In the slow lane places free up at the pace of the endpoint's slow requests,
                // up to its timeout: asking again sooner only costs requests.
                let wait = match lane {
                    Lane::Main => self.settings.in_flight_retry,
                    Lane::Slow => endpoint.timeout().max(self.settings.in_flight_retry),
                };
                let wait = wait.mul_f64(rand::rng().random_range(1.0..1.5));
                tracing::info!(endpoint_id = %endpoint.id, cap, "endpoint at its in-flight cap; delivery deferred");
                self.metrics.count(Counted::Deferred);
                Ok(Err(Outcome::RetryIn(wait)))
            }
        }
    }

    fn to_slow_lane(&self, endpoint: &Endpoint) -> Outcome {
        tracing::info!(endpoint_id = %endpoint.id, "endpoint is slow; delivery moves to the slow lane");
        self.metrics.count(Counted::MovedToSlowLane);
        Outcome::MoveToSlowLane
    }

    fn slow_lane_hold_ms(&self) -> i64 {
        i64::try_from(self.settings.slow_lane_hold.as_millis()).unwrap_or(i64::MAX)
    }

    /// Gives the lease back, marking the endpoint slow if this attempt was. A lease that
    /// cannot be given back expires by itself after `in_flight_lease`.
    async fn release(&self, lease: Option<HeldLease>, slow: bool) {
        let Some(lease) = lease else { return };
        let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
        let slow_until = slow.then(|| now_ms + self.slow_lane_hold_ms());
        if let Err(err) = lease.release(slow_until).await {
            tracing::warn!(error = %err, "could not release the in-flight lease; it expires by itself");
        }
    }

    /// Loads what the attempt needs, or says why there is nothing to send now.
    async fn prepare(
        &self,
        job: &DeliveryJob,
        lane: Lane,
        source: Source<'_>,
    ) -> Result<Result<PendingDispatch, Outcome>, DeliveryError> {
        let DeliveryJob { tenant_id, event_id, endpoint_id } = job;
        let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
        let untouched = match source {
            Source::Message(handover) => decide::may_skip_delivery_read(&handover, now_ms),
            Source::Round(_) => true,
        };
        let delivery = if untouched {
            // Never handed over before and only just queued by the event's first fan-out:
            // nothing has touched the delivery yet (the attempt's claim checks exactly that).
            Some(Delivery::untouched(event_id.clone(), endpoint_id.clone()))
        } else {
            self.store.get_delivery(tenant_id, event_id, endpoint_id).await?
        };
        let Some(delivery) = delivery else {
            tracing::warn!("no delivery record (expired or never written); dropping the message");
            return Ok(Err(Outcome::Done));
        };
        if delivery.status.is_final() {
            tracing::info!(status = delivery.status.as_str(), "delivery already finished");
            return Ok(Err(Outcome::Done));
        }
        if let Some(outcome) = self.tenant_gate(job, &delivery).await? {
            return Ok(Err(outcome));
        }
        let now = OffsetDateTime::now_utc();
        // A message handed over early (a lost visibility change, a crash) waits out its schedule.
        if let Some(wait) = decide::early_by(delivery.next_attempt_at, now) {
            return Ok(Err(Outcome::RetryIn(wait)));
        }
        let Some(endpoint) = self.endpoints.get(&self.store, tenant_id, endpoint_id).await? else {
            tracing::warn!("endpoint deleted; dropping the delivery");
            return Ok(Err(Outcome::Done));
        };
        if endpoint.status == EndpointStatus::Disabled {
            // Kept for a recovery, not lost: the delivery waits as `paused`.
            self.store.pause_delivery(tenant_id, &delivery).await?;
            tracing::info!("endpoint disabled; delivery paused");
            return Ok(Err(Outcome::Done));
        }
        if let Some(wait) = decide::circuit_wait(&endpoint.health, now) {
            // Spread the deferred deliveries over a fifth of the cool-down, so the probes
            // after it do not all arrive at once.
            let spread = self.settings.circuit_cooldown.mul_f64(rand::rng().random_range(0.0..0.2));
            tracing::info!(wait_ms = wait.as_millis() as u64, "circuit open; delivery deferred");
            self.metrics.count(Counted::Deferred);
            return Ok(Err(Outcome::RetryIn(wait + spread)));
        }
        let carried = match source {
            Source::Round(Some(event)) => Some(event.clone()),
            _ => None,
        };
        let mut event = match carried {
            Some(event) => event,
            None => match self.current_event(job, &delivery).await? {
                Ok(event) => event,
                Err(outcome) => return Ok(Err(outcome)),
            },
        };
        // Before the limiter, so a refused delivery takes no slot. A lease not used (a deferral
        // below, any early return) is given back when dropped.
        let Admitted { lease, fast_pass } = match self.admit(&endpoint, lane).await? {
            Ok(admitted) => admitted,
            Err(outcome) => return Ok(Err(outcome)),
        };
        // The limiter comes last, right before sending, so the slot is kept to the millisecond.
        if let Some(limit) = endpoint.rate_limit() {
            // A held slot is honoured unless the message came back too late for it: sending
            // late would crowd the next slot's holder, so a late one queues again.
            let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
            let held = delivery.rate_slot_ms.filter(|at_ms| !decide::missed(*at_ms, now_ms));
            // 5 % above the nominal spacing absorbs network and scheduling jitter, so the
            // receiver never sees two requests closer than its limit allows.
            let interval = Duration::from_secs(1).div_f64(f64::from(limit.per_second)).mul_f64(1.05);
            let mut slot = match held {
                Some(at_ms) => RateSlot { at_ms },
                None => self.store.reserve_rate_slot(&limit.key, interval).await?,
            };
            if held.is_none() && missed(slot) {
                // An idle limiter's slot starts when it was asked for, so a slow write can hand
                // back a slot already past; sent now, this request would crowd the next
                // holder's. The limiter is busy now, so the next reservation is ahead of us.
                slot = self.store.reserve_rate_slot(&limit.key, interval).await?;
            }
            let wait = slot.wait_from(OffsetDateTime::now_utc());
            if wait > self.settings.rate_wait_in_process {
                // Hold the slot and come back just before it; no attempt is spent.
                if held.is_none() {
                    self.store.hold_rate_slot(tenant_id, &delivery, slot.at_ms).await?;
                }
                tracing::info!(wait_ms = wait.as_millis() as u64, "rate limited; delivery deferred");
                self.metrics.count(Counted::Throttled);
                return Ok(Err(Outcome::RetryIn(
                    wait.saturating_sub(Duration::from_secs(1)).max(Duration::from_secs(1)),
                )));
            }
            if wait > EVENT_RECHECK_LEAD {
                // The event is read again during the wait, finishing before the slot: an
                // erasure made while waiting is seen, and the read does not delay the send
                // (which would crowd the next slot's holder).
                tokio::time::sleep(wait - EVENT_RECHECK_LEAD).await;
                let (_, reread) =
                    tokio::join!(tokio::time::sleep(EVENT_RECHECK_LEAD), self.current_event(job, &delivery));
                match reread? {
                    Ok(fresh) => event = fresh,
                    Err(outcome) => return Ok(Err(outcome)),
                }
                // A read slower than the lead makes the send late: the check below queues it again.
            } else {
                tokio::time::sleep(wait).await;
            }
            if missed(slot) {
                // Woken too late for the slot (a starved scheduler): queue again for a new one.
                tracing::info!("woke too late for the rate-limit slot; delivery deferred");
                self.metrics.count(Counted::Throttled);
                return Ok(Err(Outcome::RetryIn(Duration::from_secs(1))));
            }
        }
        let attempt = delivery.attempts + 1;
        let now_ms = crate::store::now_ms(OffsetDateTime::now_utc());
        let ttl = self.settings.in_flight_lease;
        if let Source::Message(_) = source
            && !self.store.claim_attempt(tenant_id, &delivery, attempt, now_ms, ttl).await?
        {
            // Another copy of this message is sending this attempt; once it is recorded, the
            // log tells this copy what is left to do.
            tracing::info!(attempt, "another copy of the message holds this attempt; deferred");
            self.metrics.count(Counted::Deferred);
            return Ok(Err(Outcome::RetryIn(self.settings.in_flight_retry)));
        }
        Ok(Ok(PendingDispatch { delivery, endpoint, event, attempt, lease, fast_pass }))
    }

    /// Sends nothing for a tenant that is gone or suspended: a deleted tenant's message is
    /// dropped, a suspended tenant's delivery is paused (kept for a recovery after `resume`).
    /// Either way the message is acknowledged, so it stops coming back.
    async fn tenant_gate(&self, job: &DeliveryJob, delivery: &Delivery) -> Result<Option<Outcome>, DeliveryError> {
        match self.tenants.get(&self.store, &job.tenant_id).await? {
            TenantState::Active => Ok(None),
            TenantState::Gone => {
                tracing::info!("tenant deleted; dropping the delivery");
                Ok(Some(Outcome::Done))
            }
            TenantState::Suspended => {
                self.store.pause_delivery(&job.tenant_id, delivery).await?;
                tracing::info!("tenant suspended; delivery paused");
                Ok(Some(Outcome::Done))
            }
        }
    }

    /// The event to send, or why there is nothing to send. Only a first attempt fresh from
    /// ingest (never attempted, paused or failed: no last error) may use the instance's cached
    /// copy; a retry, resend or recovery may come after an erasure, so it reads the table.
    async fn current_event(
        &self,
        job: &DeliveryJob,
        delivery: &Delivery,
    ) -> Result<Result<Event, Outcome>, StoreError> {
        let DeliveryJob { tenant_id, event_id, .. } = job;
        let event = if delivery.attempts == 0 && delivery.last_error.is_none() {
            self.events.get(&self.store, tenant_id, event_id).await?
        } else {
            self.store.get_event(tenant_id, event_id).await?
        };
        let Some(event) = event else {
            tracing::warn!("event expired; dropping the delivery");
            return Ok(Err(Outcome::Done));
        };
        if event.payload_expunged() {
            // The tenant deleted the payload: there is nothing left to send.
            self.store.fail_delivery(tenant_id, delivery, "the event's payload was expunged").await?;
            return Ok(Err(Outcome::Done));
        }
        Ok(Ok(event))
    }

    /// What follows a recorded attempt: metrics, the endpoint's health, the exhaustion event,
    /// and what happens to the delivery's message.
    async fn after_record(&self, job: &DeliveryJob, made: &Made) -> Outcome {
        let Made { pending, attempt, verdict, .. } = made;
        let succeeded = attempt.succeeded;
        tracing::info!(
            attempt = pending.attempt,
            status = ?attempt.response_status,
            error = attempt.error.as_ref().map(|e| e.kind.as_str()),
            latency_ms = attempt.latency_ms,
            previous_attempts = pending.delivery.attempts,
            "attempt recorded"
        );
        let latency_ms = attempt.latency_ms;
        self.metrics.count(match *verdict {
            Verdict::Delivered => Counted::Succeeded { latency_ms },
            Verdict::RetryIn(_) => Counted::Retried { latency_ms },
            Verdict::Failed { .. } => Counted::Failed { latency_ms },
        });
        // A request that could not be rendered says nothing about the receiver's health.
        let not_rendered = attempt.error.as_ref().is_some_and(|e| e.kind.is_render_failure());
        // Health bookkeeping must not turn a recorded attempt into a retry: log and go on.
        if !not_rendered && let Err(err) = self.update_health(&pending.endpoint, succeeded, verdict).await {
            tracing::warn!(error = %err, "could not update the endpoint's health");
        }
        // Only the copy whose put wrote this attempt gets here, and the attempt moved the
        // delivery to `failed`, so this runs once per delivery. An operational event's own delivery never reports its exhaustion: a
        // receiver failing on `hookline.delivery.exhausted` would otherwise be sent another
        // one for each, without end.
        if matches!(verdict, Verdict::Failed { .. }) && !pending.event.event_type.is_reserved() {
            let exhausted = OperationalEvent::DeliveryExhausted {
                event_id: pending.event.id.clone(),
                event_type: pending.event.event_type.clone(),
                endpoint_id: pending.endpoint.id.clone(),
                attempts: pending.attempt,
                last_error: describe_failure_of(attempt),
            };
            self.emit(&job.tenant_id, exhausted).await;
        }
        match verdict {
            Verdict::Delivered | Verdict::Failed { .. } => Outcome::Done,
            Verdict::RetryIn(delay) => Outcome::RetryIn(*delay),
        }
    }

    /// Feeds the attempt into the circuit breaker and the disable clock. Every attempt is
    /// counted (counting only while failing would skew the failure ratio upwards), in memory
    /// first: the window item gets this instance's tally in one ADD (`delivery/health.rs`).
    /// The disable clock, a 410 and a recovery are written at once.
    async fn update_health(&self, endpoint: &Endpoint, succeeded: bool, verdict: &Verdict) -> Result<(), StoreError> {
        let (tenant, id, health) = (&endpoint.tenant_id, &endpoint.id, &endpoint.health);
        let now = OffsetDateTime::now_utc();
        if succeeded && decide::success_recovers(health, now, self.settings.recovery_grace) {
            let recovered = self.store.change_endpoint_health(tenant, id, HealthChange::Recovered).await?;
            self.endpoints.forget(tenant, id);
            if recovered {
                self.emit(tenant, OperationalEvent::EndpointRecovered { endpoint_id: id.clone() }).await;
            }
        }
        let window_seconds = i64::try_from(self.settings.circuit_window.as_secs().max(1)).unwrap_or(300);
        let due = self.health.count(
            endpoint.into(),
            now.unix_timestamp() / window_seconds,
            !succeeded,
            std::time::Instant::now(),
            self.settings.health_flush_every,
        );
        for tally in due {
            self.add_tally(tally).await;
        }
        if succeeded {
            return Ok(());
        }
        if let Verdict::Failed { disable: Some(reason), .. } = verdict {
            return self.disable(endpoint, reason.clone()).await;
        }
        match decide::failure_clock(health.failing_since, endpoint.limits.disable_after_hours, now) {
            // Noted in the instance's cached copy first, so its concurrent failures write once.
            FailureClock::StartFailing if self.endpoints.note_failing_since(tenant, id, now) => {
                let written = self.store.update_endpoint_health(tenant, id, HealthChange::Failing { at: now }).await;
                if written.is_err() {
                    self.endpoints.forget(tenant, id);
                }
                written?;
            }
            FailureClock::StartFailing => {}
            FailureClock::Disable { reason } => return self.disable(endpoint, reason).await,
            FailureClock::Running => {}
        }
        Ok(())
    }

    /// Adds the tallies that have waited `health_flush_every` to their endpoints' health
    /// windows. The deliver function calls it at the end of each batch: once the handler
    /// returns, Lambda freezes the instance and no attempt comes to trigger the add.
    pub async fn flush_health(&self) {
        for tally in self.health.take_due(std::time::Instant::now(), self.settings.health_flush_every) {
            self.add_tally(tally).await;
        }
    }

    /// Adds one tally (attempts and failures together) and opens the circuit if the window's
    /// totals say so. A tally that could not be added is kept for the next flush.
    async fn add_tally(&self, tally: Tally) {
        let (tenant, id) = (&tally.tenant_id, &tally.endpoint_id);
        let totals = match self.store.add_attempts(tenant, id, tally.window, tally.counts).await {
            Ok(totals) => totals,
            Err(err) => {
                tracing::warn!(error = %err, endpoint_id = %id, "could not add to the endpoint's health; kept for the next flush");
                self.health.put_back(tally);
                return;
            }
        };
        if tally.counts.failures == 0 {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let Some((until, opens)) = decide::circuit_to_open(&self.circuit_rule(), &tally.health, totals, now) else {
            return;
        };
        tracing::warn!(
            endpoint_id = %id,
            attempts = totals.attempts,
            failures = totals.failures,
            cooldown_s = (until - now).whole_seconds(),
            "opening the circuit"
        );
        self.endpoints.forget(tenant, id);
        let change = HealthChange::OpenCircuit { until, opens };
        if let Err(err) = self.store.update_endpoint_health(tenant, id, change).await {
            tracing::warn!(error = %err, endpoint_id = %id, "could not open the circuit");
        }
    }

    fn circuit_rule(&self) -> CircuitRule {
        CircuitRule {
            min_attempts: self.settings.circuit_min_attempts,
            failure_ratio: self.settings.circuit_failure_ratio,
            cooldown: self.settings.circuit_cooldown,
            max_cooldown: self.settings.circuit_max_cooldown,
        }
    }
}

impl Deliverer {
    /// Disables the endpoint and, if this call disabled it, tells the tenant.
    async fn disable(&self, endpoint: &Endpoint, reason: String) -> Result<(), StoreError> {
        let (tenant, id) = (&endpoint.tenant_id, &endpoint.id);
        tracing::warn!(reason = %reason, "disabling the endpoint");
        self.endpoints.forget(tenant, id);
        let change = HealthChange::Disable { reason: reason.clone() };
        if self.store.change_endpoint_health(tenant, id, change).await? {
            self.emit(tenant, OperationalEvent::EndpointDisabled { endpoint_id: id.clone(), reason }).await;
        }
        Ok(())
    }
}

/// An attempt made and judged, not yet recorded.
struct Made {
    pending: PendingDispatch,
    attempt: Attempt,
    update: DeliveryUpdate,
    verdict: Verdict,
}

/// The attempt's record and what it moves the delivery to.
fn made(pending: PendingDispatch, at: OffsetDateTime, result: HttpResult, truncated: bool, verdict: Verdict) -> Made {
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
        response_body_base64: result.body_base64,
        response_headers: result.headers,
        truncated,
        test: false,
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
        Verdict::Failed { .. } => DeliveryUpdate { status: DeliveryStatus::Failed, next_attempt_at: None, last_error },
    };
    Made { pending, attempt, update, verdict }
}

/// The recorded attempt's failure as the delivery's `last_error` says it.
fn describe_failure_of(attempt: &Attempt) -> Option<String> {
    match (&attempt.error, attempt.response_status) {
        (Some(err), _) => Some(format!("{}: {}", err.kind.as_str(), err.message)),
        (None, Some(status)) => Some(format!("HTTP {status}")),
        (None, None) => None,
    }
}

/// Whether a rate-limit slot is already further behind us than the margin between slots allows:
/// a request sent now would come too close to the next slot's.
fn missed(slot: RateSlot) -> bool {
    decide::missed(slot.at_ms, crate::store::now_ms(OffsetDateTime::now_utc()))
}

fn describe_failure(result: &HttpResult) -> Option<String> {
    result.error.as_ref().map(|err| format!("{}: {}", err.kind.as_str(), err.message))
}
