//! The cost scenarios of issue 12, each on its own table and queue: events arrive at a steady
//! rate while the event source mapping's stand-in (`window.rs`: long polls, batches of up to
//! 10 gathered for up to the template's 1 s batching window) feeds one deliver function
//! instance, and two SDK interceptors count what ingest and deliver ask of AWS.

use std::time::{Duration, Instant};

use hookline_local::clients::local_clients_with_interceptor;
use hookline_shared::aws::Clients;
use serde_json::{Value, json};

use crate::counter::{Counts, OpCount, RequestCounter, difference};
use crate::measure::{Api, Stack};
use crate::prices::{self, *};
use crate::sink::Sink;
use crate::window::Batcher;

pub struct Spec {
    /// The key in `bench/results.json`.
    pub key: &'static str,
    pub title: &'static str,
    pub fan_out: u64,
    pub events: u64,
    /// Events per POST: 1 is `POST /v1/events`, more is `POST /v1/events/batch`.
    pub per_post: u64,
    /// Receivers fail the first attempt of 30 % of deliveries (`sink.rs`).
    pub flaky: bool,
    /// One event every this long (batched POSTs carry as many events as their interval holds,
    /// so a scenario's event rate does not depend on how its events are posted).
    pub interval: Duration,
}

pub const SPECS: [Spec; 5] = [
    Spec {
        key: "a",
        title: "(a) fan-out 3, single POSTs",
        fan_out: 3,
        events: 300,
        per_post: 1,
        flaky: false,
        interval: EVENT_INTERVAL,
    },
    Spec {
        key: "b",
        title: "(b) fan-out 3, batched POSTs",
        fan_out: 3,
        events: 300,
        per_post: 10,
        flaky: false,
        interval: EVENT_INTERVAL,
    },
    Spec {
        key: "c",
        title: "(c) fan-out 1, single POSTs",
        fan_out: 1,
        events: 300,
        per_post: 1,
        flaky: false,
        interval: EVENT_INTERVAL,
    },
    Spec {
        key: "d",
        title: "(d) fan-out 3, 30 % first attempts fail",
        fan_out: 3,
        events: 300,
        per_post: 1,
        flaky: true,
        interval: FLAKY_INTERVAL,
    },
    Spec {
        key: "a_quiet",
        title: "(a) on a quiet queue, 1 event/s",
        fan_out: 3,
        events: 30,
        per_post: 1,
        flaky: false,
        interval: QUIET_INTERVAL,
    },
];

/// The main scenarios' steady arrival rate, one event every this long: 20 events/s, which the
/// local moto keeps up with on this machine (section 4's lag after the last publish says
/// whether it did).
pub const EVENT_INTERVAL: Duration = Duration::from_millis(50);
/// (d)'s rate, 10 events/s: its retries ask about twice as much of DynamoDB per delivery, and
/// at 20 events/s the local moto fell behind (the publisher managed 13 events/s, 2.7 s lag).
pub const FLAKY_INTERVAL: Duration = Duration::from_millis(100);
/// The quiet queue's rate: one event a second.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(1);
const PATIENCE: Duration = Duration::from_secs(300);
/// How often the run looks at the sink while a batch is being gathered.
const CHECK_EVERY: Duration = Duration::from_millis(100);

pub struct Run {
    pub spec: &'static Spec,
    pub ingest: Counts,
    pub deliver: Counts,
    pub deliveries: u64,
    /// Messages handed to the handler (first attempts, retries and any redelivery).
    pub messages: u64,
    /// Batches handed to the handler: deliver invocations.
    pub batches: u64,
    /// ReceiveMessage calls answered, and those of them that brought nothing.
    pub receives: u64,
    pub empty_receives: u64,
    pub posts: u64,
    /// POSTs the receivers got, answered or failed.
    pub sink_posts: u64,
    /// First attempts the receivers failed (each retried once).
    pub failed_first: u64,
    pub publish_wall: Duration,
    /// From the last event published to the last delivery's arrival.
    pub drain_wall: Duration,
    /// Lambda's billed duration (each invocation's wall time rounded up to 1 ms): ingest's is
    /// each POST's response time through the in-process routes, deliver's each batch's
    /// `Handler::handle`, against moto and the local sink.
    pub ingest_billed: Duration,
    pub deliver_billed: Duration,
}

/// What a scenario costs, per delivery (counts) and per million deliveries (dollars).
pub struct Cost {
    pub requests: f64,
    pub sqs_requests: f64,
    pub wru: f64,
    pub rru: f64,
    pub sqs: f64,
    pub dynamodb: f64,
    pub dynamodb_provisioned: f64,
    pub lambda_invocations: f64,
    pub lambda_duration: f64,
    pub total: f64,
    pub total_provisioned: f64,
    pub api_gateway: f64,
    pub eventbridge: f64,
}

impl Run {
    pub fn all(&self) -> OpCount {
        let mut sum = OpCount::default();
        for count in self.ingest.values().chain(self.deliver.values()) {
            sum.add(count);
        }
        sum
    }

    /// Requests of one DynamoDB operation per delivery, ingest's and deliver's together.
    pub fn all_op(&self, op: &str) -> f64 {
        let key = ("DynamoDB".to_owned(), op.to_owned());
        let n = |c: &Counts| c.get(&key).map_or(0, |c| c.requests);
        (n(&self.ingest) + n(&self.deliver)) as f64 / self.deliveries.max(1) as f64
    }

    /// Ingest's mean billed duration per POST, in ms.
    pub fn ingest_ms_per_post(&self) -> f64 {
        self.ingest_billed.as_secs_f64() * 1e3 / self.posts.max(1) as f64
    }

    /// Deliver's mean billed duration per batch (invocation), in ms.
    pub fn deliver_ms_per_batch(&self) -> f64 {
        self.deliver_billed.as_secs_f64() * 1e3 / self.batches.max(1) as f64
    }

    /// Mean messages per non-empty batch.
    pub fn batch_fill(&self) -> f64 {
        self.messages as f64 / self.batches.max(1) as f64
    }

    /// The bill, with both functions' measured billed durations.
    pub fn cost(&self) -> Cost {
        let d = self.deliveries.max(1) as f64;
        let all = self.all();
        let million = 1e6;
        let sqs_requests = all.sqs_chunks as f64 / d;
        let (wru, rru) = (all.wru / d, all.rru / d);
        let sqs = million * sqs_requests * SQS_PER_REQUEST;
        let dynamodb = million * (wru * DYNAMODB_PER_WRU + rru * DYNAMODB_PER_RRU);
        let dynamodb_provisioned = million * (wru * provisioned_per_wru() + rru * provisioned_per_rru());
        let invocations = (self.batches + self.posts) as f64 / d;
        let lambda_invocations = million * invocations * LAMBDA_PER_INVOCATION;
        let seconds = (self.ingest_billed + self.deliver_billed).as_secs_f64() / d;
        let lambda_duration = million * seconds * LAMBDA_MEMORY_GB * LAMBDA_ARM_PER_GB_SECOND;
        let rest = sqs + lambda_invocations + lambda_duration;
        let retries_per_delivery = self.failed_first as f64 / d;
        Cost {
            requests: all.requests as f64 / d,
            sqs_requests,
            wru,
            rru,
            sqs,
            dynamodb,
            dynamodb_provisioned,
            lambda_invocations,
            lambda_duration,
            total: rest + dynamodb,
            total_provisioned: rest + dynamodb_provisioned,
            api_gateway: million * self.posts as f64 / d * API_GATEWAY_HTTP_PER_REQUEST,
            eventbridge: prices::eventbridge_per_million(self.spec.fan_out, 1.0 + retries_per_delivery),
        }
    }
}

/// Runs one scenario on a fresh stack; `None` if it needs the batch route and this build has
/// none.
pub async fn run(
    spec: &'static Spec,
    plain: &Clients,
    aws_endpoint: &str,
    sink: &Sink,
    prefix: &str,
) -> anyhow::Result<Option<Run>> {
    let ingest_counter = RequestCounter::default();
    let ingest_clients = local_clients_with_interceptor(aws_endpoint, ingest_counter.clone()).await;
    let deliver_counter = RequestCounter::default();
    let deliver_clients = local_clients_with_interceptor(aws_endpoint, deliver_counter.clone()).await;
    let path = if spec.flaky { "flaky" } else { "hook" };
    let stack = Stack::start_with(plain, &ingest_clients, prefix, sink, spec.fan_out, path).await?;
    if spec.per_post > 1 && !stack.api.has_batch_route(&stack.key).await? {
        return Ok(None);
    }
    let handler = deliver::Handler::from_config(&stack.config, &deliver_clients)?;
    let mut batcher = Batcher::new(stack.poller(&deliver_clients.sqs, handler));
    let sink_before = sink.stats().await?;
    let (ingest_before, deliver_before) = (ingest_counter.snapshot(), deliver_counter.snapshot());

    let publisher = tokio::spawn(publish(stack.api.clone(), stack.key.clone(), spec));
    let mut publisher = Some(publisher);
    let mut published: Option<Published> = None;
    let deliveries = spec.events * spec.fan_out;
    let (mut messages, mut batches, mut deliver_billed) = (0u64, 0u64, Duration::ZERO);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(done) = publisher.take_if(|p| p.is_finished()) {
            published = Some(done.await??);
        }
        if published.is_some() && sink.stats().await?.unique - sink_before.unique >= deliveries {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{}: deliveries did not arrive within {PATIENCE:?}", spec.key);
        // Gathering is given up every CHECK_EVERY to look at the sink: the last round can be
        // delivered before its POST is answered (the round is queued before the event is
        // written), and a 20 s long poll would otherwise count as lag. `next` keeps its receive
        // and the messages in hand when given up.
        if let Ok(gathered) = tokio::time::timeout(CHECK_EVERY, batcher.next()).await
            && let Some(batch) = gathered?
        {
            messages += batch.records.len() as u64;
            batches += 1;
            deliver_billed += prices::lambda_billed(batcher.invoke(batch).await?);
        }
    }
    let Published { posts, wall: publish_wall, last: last_published, billed: ingest_billed } =
        published.ok_or_else(|| anyhow::anyhow!("{}: the publisher did not finish", spec.key))?;
    let drain_wall = last_published.elapsed();
    let sink_after = sink.stats().await?;
    Ok(Some(Run {
        spec,
        ingest: difference(&ingest_counter.snapshot(), &ingest_before),
        deliver: difference(&deliver_counter.snapshot(), &deliver_before),
        deliveries,
        messages,
        batches,
        receives: batcher.receives,
        empty_receives: batcher.empty_receives,
        posts,
        sink_posts: sink_after.total - sink_before.total,
        failed_first: sink_after.failed - sink_before.failed,
        publish_wall,
        drain_wall,
        ingest_billed,
        deliver_billed,
    }))
}

struct Published {
    posts: u64,
    wall: Duration,
    /// When the last POST was answered.
    last: Instant,
    /// Ingest's billed duration: each POST's response time rounded up to 1 ms.
    billed: Duration,
}

/// Publishes the scenario's events, one per `spec.interval`.
async fn publish(api: Api, key: String, spec: &'static Spec) -> anyhow::Result<Published> {
    let mut ticks = tokio::time::interval(spec.interval * u32::try_from(spec.per_post).unwrap_or(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let (mut posts, mut n, mut billed) = (0, 0, Duration::ZERO);
    while n < spec.events {
        ticks.tick().await;
        let count = spec.per_post.min(spec.events - n);
        let posted = Instant::now();
        if spec.per_post == 1 {
            api.publish(&key, n, spec.key, spec.fan_out).await?;
        } else {
            api.publish_batch(&key, n..n + count, spec.key, spec.fan_out).await?;
        }
        billed += prices::lambda_billed(posted.elapsed());
        posts += 1;
        n += count;
    }
    Ok(Published { posts, wall: started.elapsed(), last: Instant::now(), billed })
}

/// `bench/results.json`: per scenario, the figures issue 12 tracks, plus the prices used.
pub fn results_json(date: &str, runs: &[Run]) -> Value {
    let mut results = serde_json::Map::new();
    results.insert("date".to_owned(), json!(date));
    results.insert("prices".to_owned(), prices::as_json());
    results.insert(
        "method".to_owned(),
        json!(format!(
            "make bench: per delivery; events arrive one per {} ms (d: one per {} ms; a_quiet: one per {} ms) while \
             an emulated event source mapping (long polls of up to 10 messages, batches closed at {} messages or {} s \
             after their first message, as template.yaml) feeds one deliver instance; Lambda duration = each \
             invocation's wall time rounded up to 1 ms (ingest: each POST; deliver: each batch's handler), against \
             moto and a local sink; API Gateway not included in usd_per_million",
            EVENT_INTERVAL.as_millis(),
            FLAKY_INTERVAL.as_millis(),
            QUIET_INTERVAL.as_millis(),
            crate::window::BATCH_SIZE,
            crate::window::BATCHING_WINDOW.as_secs(),
        )),
    );
    for spec in &SPECS {
        results.entry(spec.key.to_owned()).or_insert(Value::Null);
    }
    for run in runs {
        let cost = run.cost();
        let round = |x: f64| (x * 1e4).round() / 1e4;
        results.insert(
            run.spec.key.to_owned(),
            json!({
                "title": run.spec.title,
                "fan_out": run.spec.fan_out,
                "events": run.spec.events,
                "deliveries": run.deliveries,
                "wru": round(cost.wru),
                "rru": round(cost.rru),
                "sqs_requests": round(cost.sqs_requests),
                "aws_requests": round(cost.requests),
                "usd_per_million": round(cost.total),
                "lambda_usd_per_million": round(cost.lambda_invocations + cost.lambda_duration),
                "usd_per_million_provisioned": round(cost.total_provisioned),
                "api_gateway_usd_per_million": round(cost.api_gateway),
                "eventbridge_usd_per_million": round(cost.eventbridge),
                "batch_fill": round(run.batch_fill()),
                "ingest_billed_ms_per_post": round(run.ingest_ms_per_post()),
                "deliver_billed_ms_per_batch": round(run.deliver_ms_per_batch()),
                "batches": run.batches,
                "receives": run.receives,
                "empty_receives": run.empty_receives,
                "events_per_second": round(1.0 / run.spec.interval.as_secs_f64()),
                "retried_attempts": run.failed_first,
            }),
        );
    }
    Value::Object(results)
}
