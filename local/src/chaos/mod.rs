//! The chaos run: many events to three endpoints whose receivers fail about 30 % of requests
//! in every way they can, while the delivery workers are SIGKILLed and restarted mid-batch.
//! At the end it checks, from the receivers' logs and DynamoDB, that nothing was lost.

pub(crate) mod receiver;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use hookline_shared::domain::DeliveryStatus;
use hookline_shared::ids::{EventId, TenantId};
use hookline_shared::store::Store;
use hookline_shared::web::{AppState, with_fallbacks};
use rand::Rng;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

pub use receiver::{FlakyReceiver, Seen};

use crate::clients::{endpoint_from_env, local_clients};
use crate::provision::{LocalResources, provision};
use crate::template::Resources;

const ADMIN_TOKEN: &str = "chaos-admin-token";
const ENDPOINTS: usize = 3;
const CHAOS_VISIBILITY_SECONDS: u32 = 30;
/// Short steps keep the run within minutes; 20 attempts at a 30 % failure rate leave a
/// delivery undelivered with probability 0.3^20 ≈ 3.5e-11.
const SCHEDULE: [u32; 19] = [1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3];

#[derive(Clone, Debug)]
pub struct ChaosOptions {
    pub events: usize,
    pub failure_rate: f64,
    pub workers: usize,
    pub pollers_per_worker: usize,
    /// A random worker is killed `max_kills` times, spread evenly over the deliveries (at 0,
    /// 1/max_kills, 2/max_kills, … of them answered 2xx) and at least this far apart.
    pub kill_every: Duration,
    pub max_kills: usize,
    /// The `hookline-worker` binary.
    pub worker_bin: PathBuf,
    /// The run fails if deliveries are not all done by then.
    pub deadline: Duration,
    pub publish_concurrency: usize,
    /// Publishing waits while this many deliveries are accepted but not yet answered 2xx, as
    /// a steady producer would: moto scans its whole queue on every SQS call, so an unbounded
    /// backlog of 30 000 messages makes each call, not the run, the thing measured.
    pub max_backlog: usize,
}

impl ChaosOptions {
    pub fn new(events: usize, worker_bin: PathBuf) -> Self {
        Self {
            events,
            failure_rate: 0.3,
            workers: 2,
            pollers_per_worker: 4,
            kill_every: Duration::from_secs(3),
            max_kills: 8,
            worker_bin,
            deadline: Duration::from_secs(3600),
            publish_concurrency: 16,
            max_backlog: 600,
        }
    }
}

#[derive(Debug, Default)]
pub struct ChaosReport {
    pub events_accepted: usize,
    pub deliveries_expected: usize,
    pub deliveries_seen_ok: usize,
    pub lost: usize,
    pub requests_seen: usize,
    pub failures_injected: usize,
    pub duplicates: usize,
    pub duplicate_ids_mismatched: usize,
    pub unknown_ids: usize,
    pub attempts_recorded: usize,
    pub requests_without_attempt: usize,
    pub state_mismatches: Vec<String>,
    pub dead_lettered: u64,
    pub kills: usize,
    pub ingest_seconds: f64,
    pub total_seconds: f64,
    pub max_backlog: usize,
    pub verify_seconds: f64,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.unknown_ids == 0
            && self.duplicate_ids_mismatched == 0
            && self.state_mismatches.is_empty()
            && self.dead_lettered == 0
            && self.deliveries_seen_ok == self.deliveries_expected
    }

    pub fn print(&self) {
        let rate = |n: usize, of: usize| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
        println!(
            "chaos: {} events accepted × {ENDPOINTS} endpoints = {} deliveries",
            self.events_accepted, self.deliveries_expected
        );
        println!("  delivered (receiver answered 2xx)  {}", self.deliveries_seen_ok);
        println!("  lost                               {}", self.lost);
        println!(
            "  requests seen by receivers         {} ({} failures injected)",
            self.requests_seen, self.failures_injected
        );
        println!(
            "  duplicate 2xx deliveries           {} ({:.3} % of deliveries), all with the event's webhook-id: {}",
            self.duplicates,
            rate(self.duplicates, self.deliveries_expected),
            self.duplicate_ids_mismatched == 0
        );
        println!("  requests with an unknown webhook-id {}", self.unknown_ids);
        println!("  attempts recorded in DynamoDB      {}", self.attempts_recorded);
        println!(
            "  requests sent but not recorded     {} (a worker killed between send and record)",
            self.requests_without_attempt
        );
        println!("  DynamoDB state disagreeing         {}", self.state_mismatches.len());
        for m in self.state_mismatches.iter().take(10) {
            println!("    {m}");
        }
        println!("  dead-lettered                      {}", self.dead_lettered);
        println!("  workers SIGKILLed                  {}", self.kills);
        println!(
            "  ingest {:.1} s ({:.1} events/s, paced to ≤ {} deliveries outstanding), checks {:.1} s, whole run {:.1} s",
            self.ingest_seconds,
            self.events_accepted as f64 / self.ingest_seconds.max(0.001),
            self.max_backlog,
            self.verify_seconds,
            self.total_seconds
        );
        println!("  result: {}", if self.passed() { "PASS" } else { "FAIL" });
    }
}

pub(crate) struct Fleet {
    pub(crate) bin: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) children: Vec<Child>,
    /// The workers' stdout (warnings and EMF metric lines), kept out of the report.
    pub(crate) log: PathBuf,
}

impl Fleet {
    pub(crate) fn spawn_one(&self) -> anyhow::Result<Child> {
        self.spawn_with(&[])
    }

    /// Starts a worker with `extra` added to the fleet's environment.
    pub(crate) fn spawn_with(&self, extra: &[(&str, String)]) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        Command::new(&self.bin)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))
    }

    async fn kill_and_restart(&mut self, index: usize) -> anyhow::Result<()> {
        // tokio's start_kill is SIGKILL on Unix: no cleanup, like a crashed Lambda.
        self.children[index].start_kill()?;
        self.children[index].wait().await?;
        self.children[index] = self.spawn_one()?;
        Ok(())
    }
}

pub async fn run(options: ChaosOptions) -> anyhow::Result<ChaosReport> {
    let started = Instant::now();
    let aws_endpoint = endpoint_from_env()?;
    // The workers must open what this process seals.
    let sealing_key = hookline_shared::crypto::SecretBox::generate_key_base64();
    hookline_shared::crypto::install(hookline_shared::crypto::SecretBox::from_base64(&sealing_key)?);
    let clients = local_clients(&aws_endpoint).await;
    let prefix = format!("chaos{:08x}", rand::rng().random::<u32>());
    let template = Resources::from_template()?;
    let resources = provision(&clients, &template, &prefix).await?;
    // The one departure from template.yaml: a killed worker's in-flight batch reappears after
    // the queue's visibility timeout (360 s deployed). Chaos batches finish within a few
    // seconds (1 s timeouts, no rate limits), so 30 s keeps the run short and the invariant.
    for queue_url in [&resources.queue_url, &resources.slow_queue_url] {
        clients
            .sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, CHAOS_VISIBILITY_SECONDS.to_string())
            .send()
            .await?;
    }
    // The slow lane's concurrency is fleet-wide: the workers share it.
    let slow_lane = template.maximum_concurrency(crate::template::SLOW_DELIVERIES_QUEUE).unwrap_or(1) as usize;
    let slow_pollers_per_worker = slow_lane.div_ceil(options.workers.max(1));
    let receivers =
        futures::future::try_join_all((0..ENDPOINTS).map(|_| FlakyReceiver::start(options.failure_rate))).await?;

    let config = resources.config(ADMIN_TOKEN);
    let app = with_fallbacks(ingest::routes().merge(api::routes()).with_state(AppState::new(config, &clients)));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let tenant = call(&http, &format!("{base}/v1/tenants"), ADMIN_TOKEN, json!({"name": "chaos"})).await?;
    let key = tenant["api_key"].as_str().context("no api key")?.to_owned();
    let tenant_id = TenantId::parse(tenant["id"].as_str().context("no tenant id")?)?;
    // The run publishes far faster than the default 600 events a minute.
    let quota = json!({"quotas": {"events_per_minute": 1_000_000}});
    let response = http
        .patch(format!("{base}/v1/tenants/{tenant_id}"))
        .bearer_auth(ADMIN_TOKEN)
        .body(quota.to_string())
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("raising the chaos tenant's quota failed: {}", response.status());
    }
    let mut endpoint_ids = Vec::new();
    for receiver in &receivers {
        let body = json!({"url": receiver.url, "timeout_ms": 1000, "retry": {"schedule_seconds": SCHEDULE}});
        let created = call(&http, &format!("{base}/v1/endpoints"), &key, body).await?;
        endpoint_ids.push(created["id"].as_str().context("no endpoint id")?.to_owned());
    }

    let mut fleet = Fleet {
        bin: options.worker_bin.clone(),
        env: vec![
            ("HOOKLINE_TABLE".into(), resources.table.clone()),
            ("HOOKLINE_QUEUE_URL".into(), resources.queue_url.clone()),
            ("HOOKLINE_QUEUE_ARN".into(), resources.queue_arn.clone()),
            ("HOOKLINE_DLQ_URL".into(), resources.dead_letter_queue_url.clone()),
            ("AWS_ENDPOINT_URL".into(), aws_endpoint.clone()),
            ("HOOKLINE_WORKER_POLLERS".into(), options.pollers_per_worker.to_string()),
            ("HOOKLINE_SLOW_QUEUE_URL".into(), resources.slow_queue_url.clone()),
            ("HOOKLINE_SLOW_QUEUE_ARN".into(), resources.slow_queue_arn.clone()),
            ("HOOKLINE_WORKER_SLOW_POLLERS".into(), slow_pollers_per_worker.to_string()),
            ("HOOKLINE_BACKOFF_FLOOR_MS".into(), "1000".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("HOOKLINE_ENCRYPTION_KEY".into(), sealing_key.clone()),
        ],
        children: Vec::new(),
        log: std::env::temp_dir().join(format!("{prefix}-workers.log")),
    };
    println!("chaos: workers' output in {}", fleet.log.display());
    for _ in 0..options.workers {
        let child = fleet.spawn_one()?;
        fleet.children.push(child);
    }

    // Publish while the workers deliver (and get killed).
    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (done, kills, options, receivers) = (done.clone(), kills.clone(), options.clone(), receivers.clone());
        let expected = options.events * ENDPOINTS;
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(options.kill_every).await;
                let killed = kills.load(Ordering::Relaxed);
                let answered: usize = receivers.iter().map(FlakyReceiver::ok_count).sum();
                if done.load(Ordering::Relaxed)
                    || killed >= options.max_kills
                    || answered < killed * expected / options.max_kills.max(1)
                {
                    continue;
                }
                let index = rand::rng().random_range(0..fleet.children.len());
                println!("chaos: SIGKILL worker {index} at {answered} of {expected} deliveries answered 2xx");
                if let Err(err) = fleet.kill_and_restart(index).await {
                    eprintln!("chaos: could not restart worker {index}: {err}");
                }
                kills.fetch_add(1, Ordering::Relaxed);
            }
            fleet
        })
    };

    let ingest_started = Instant::now();
    let progress = {
        let (done, receivers, expected) = (done.clone(), receivers.clone(), options.events * ENDPOINTS);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            tick.tick().await;
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                let answered: usize = receivers.iter().map(FlakyReceiver::ok_count).sum();
                let requests: usize = receivers.iter().map(FlakyReceiver::request_count).sum();
                println!(
                    "chaos: {:>5.0} s  {answered} of {expected} deliveries answered 2xx, {requests} requests",
                    started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let publishing = AtomicUsize::new(0);
    let max_backlog = options.max_backlog;
    let accepted: Vec<String> = futures::stream::iter(0..options.events)
        .map(|n| {
            let (http, base, key, receivers, publishing) = (&http, &base, &key, &receivers, &publishing);
            async move {
                wait_for_room(receivers, publishing, max_backlog).await;
                let body =
                    json!({"event_type": "chaos.tick", "payload": {"n": n}, "idempotency_key": format!("chaos-{n}")});
                publish(http, &format!("{base}/v1/events"), key, body).await
            }
        })
        .buffer_unordered(options.publish_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let ingest_seconds = ingest_started.elapsed().as_secs_f64();
    let expected = accepted.len() * ENDPOINTS;

    let deadline = started + options.deadline;
    loop {
        let seen: usize = receivers.iter().map(distinct_ok).sum();
        if seen >= expected
            && queue_depth(&clients.sqs, &resources.queue_url).await? == 0
            && queue_depth(&clients.sqs, &resources.slow_queue_url).await? == 0
        {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("chaos: deadline reached with {seen} of {expected} deliveries seen");
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    done.store(true, Ordering::Relaxed);
    progress.abort();
    let mut fleet = killer.await?;
    for child in &mut fleet.children {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    let verify_started = Instant::now();
    let mut report = verify(&clients, &resources, &tenant_id, &accepted, &endpoint_ids, &receivers).await?;
    report.kills = kills.load(Ordering::Relaxed);
    report.ingest_seconds = ingest_seconds;
    report.total_seconds = started.elapsed().as_secs_f64();
    report.max_backlog = options.max_backlog;
    report.verify_seconds = verify_started.elapsed().as_secs_f64();
    Ok(report)
}

/// Waits until fewer than `max_backlog` deliveries are outstanding (published × endpoints,
/// less the 2xx answers the receivers gave), then counts one more event as being published.
async fn wait_for_room(receivers: &[FlakyReceiver], publishing: &AtomicUsize, max_backlog: usize) {
    loop {
        let answered: usize = receivers.iter().map(FlakyReceiver::ok_count).sum();
        let outstanding = (publishing.load(Ordering::Relaxed) * ENDPOINTS).saturating_sub(answered);
        if outstanding < max_backlog {
            publishing.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn distinct_ok(receiver: &FlakyReceiver) -> usize {
    receiver.seen().into_iter().filter(|s| s.ok).map(|s| s.webhook_id).collect::<HashSet<_>>().len()
}

pub(crate) async fn call(http: &reqwest::Client, url: &str, token: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).bearer_auth(token).body(body.to_string()).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{url} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// Publishes one event, retrying with the same idempotency key until it is accepted.
pub(crate) async fn publish(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<String> {
    let mut last = String::new();
    for round in 0..20u64 {
        match call(http, url, key, body.clone()).await {
            Ok(accepted) => return Ok(accepted["id"].as_str().context("no event id")?.to_owned()),
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200 * (round + 1))).await;
    }
    bail!("event never accepted: {last}")
}

pub(crate) async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await?;
    let attrs = out.attributes.unwrap_or_default();
    Ok(attrs.values().filter_map(|v| v.parse::<u64>().ok()).sum())
}

async fn verify(
    clients: &hookline_shared::aws::Clients,
    resources: &LocalResources,
    tenant: &TenantId,
    accepted: &[String],
    endpoint_ids: &[String],
    receivers: &[FlakyReceiver],
) -> anyhow::Result<ChaosReport> {
    let mut report = ChaosReport {
        events_accepted: accepted.len(),
        deliveries_expected: accepted.len() * ENDPOINTS,
        ..Default::default()
    };
    let known: HashSet<&str> = accepted.iter().map(String::as_str).collect();
    // (endpoint, event) → (requests seen, 2xx answered)
    let mut seen: HashMap<(String, String), (usize, usize)> = HashMap::new();
    for (receiver, endpoint) in receivers.iter().zip(endpoint_ids) {
        for s in receiver.seen() {
            report.requests_seen += 1;
            if !s.ok {
                report.failures_injected += 1;
            }
            if !known.contains(s.webhook_id.as_str()) {
                report.unknown_ids += 1;
                continue;
            }
            let entry = seen.entry((endpoint.clone(), s.webhook_id)).or_default();
            entry.0 += 1;
            entry.1 += usize::from(s.ok);
        }
    }
    for ((_, _), (_, oks)) in &seen {
        if *oks > 0 {
            report.deliveries_seen_ok += 1;
            report.duplicates += oks - 1;
        }
    }
    report.lost = report.deliveries_expected - report.deliveries_seen_ok;

    let store = Store::new(clients.dynamodb.clone(), &resources.table, Duration::from_secs(86_400));
    let checks = futures::stream::iter(accepted)
        .map(|event| {
            let store = &store;
            let seen = &seen;
            async move {
                let id = EventId::parse(event)?;
                let deliveries = store.list_deliveries(tenant, &id).await?;
                let attempts = store.list_attempts(tenant, &id).await?;
                let mut problems = Vec::new();
                let mut recorded = 0;
                let mut unrecorded = 0;
                for endpoint in endpoint_ids {
                    let delivery = deliveries.iter().find(|d| d.endpoint_id.as_str() == endpoint);
                    let mine: Vec<_> = attempts.iter().filter(|a| a.endpoint_id.as_str() == endpoint).collect();
                    let (requests, oks) = seen.get(&(endpoint.clone(), event.clone())).copied().unwrap_or_default();
                    recorded += mine.len();
                    unrecorded += requests.saturating_sub(mine.len());
                    match delivery {
                        Some(d) if d.status == DeliveryStatus::Delivered && oks > 0 => {}
                        Some(d) => problems.push(format!(
                            "{event} → {endpoint}: {} after {} attempts, {oks} 2xx seen",
                            d.status.as_str(),
                            d.attempts
                        )),
                        None => problems.push(format!("{event} → {endpoint}: no delivery record")),
                    }
                    if mine.len() > requests {
                        problems.push(format!(
                            "{event} → {endpoint}: {} attempts recorded, {requests} requests seen",
                            mine.len()
                        ));
                    }
                    if !mine.last().is_some_and(|a| a.succeeded) {
                        problems.push(format!("{event} → {endpoint}: the last recorded attempt did not succeed"));
                    }
                }
                anyhow::Ok((recorded, unrecorded, problems))
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for check in checks {
        let (recorded, unrecorded, problems) = check?;
        report.attempts_recorded += recorded;
        report.requests_without_attempt += unrecorded;
        report.state_mismatches.extend(problems);
    }
    report.dead_lettered = queue_depth(&clients.sqs, &resources.dead_letter_queue_url).await?;
    Ok(report)
}
