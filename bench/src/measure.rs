//! The measurements, in one run against the local AWS server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use hookline_local::clients::{endpoint_from_env, local_clients};
use hookline_local::poller::Poller;
use hookline_local::provision::{LocalResources, provision};
use hookline_local::template::Resources;
use hookline_shared::aws::Clients;
use hookline_shared::config::Config;
use hookline_shared::web::{AppState, with_fallbacks};
use rand::Rng;
use serde_json::{Value, json};

use crate::procfs::{machine, peak_rss_kib, process_cpu_time};
use crate::sink::Sink;
use hookline_local::runtime_api::Function;

/// Endpoints of the CPU and memory measurements' stack.
pub const ENDPOINTS: u64 = 3;
/// Events whose deliveries the CPU measurement hands to the handler (the first batch warms up).
pub const CPU_EVENTS: u64 = 200;
/// Sequential calls for each raw moto rate.
pub const RAW_CALLS: u64 = 500;
/// Process starts per function.
pub const COLD_STARTS: usize = 5;
/// Size of every event's JSON payload, which is also the webhook body.
pub const PAYLOAD_BYTES: usize = 512;
/// CPU time the bare-POST baseline runs for at least (in passes as long as the handler's).
pub const BARE_CPU_FLOOR: Duration = Duration::from_millis(500);
/// Records in the event fed to the deliver binary for its peak memory.
pub const MEMORY_BATCH: usize = 10;

const ADMIN_TOKEN: &str = "bench-admin-token";
const FUNCTIONS: [&str; 3] = ["ingest", "deliver", "api"];
/// A bound on waiting, not a measurement: it only stops a broken run from hanging.
const PATIENCE: Duration = Duration::from_secs(300);

pub struct Measured {
    pub cpus: usize,
    pub cpu_model: String,
    pub date: String,
    pub scenarios: Vec<crate::scenarios::Run>,
    pub raw_send_message: Duration,
    pub raw_put_item: Duration,
    pub handler_cpu: Duration,
    pub handler_wall: Duration,
    pub handler_deliveries: u64,
    pub handler_batches: u64,
    pub handler_failures: u64,
    pub bare_cpu: Duration,
    pub bare_posts: u64,
    pub body_bytes: usize,
    pub cold_starts: Vec<ColdStart>,
    pub deliver_batch_peak_kib: u64,
    pub sizes: Vec<BinarySize>,
    pub arm64_build: String,
}

pub struct ColdStart {
    pub function: &'static str,
    pub samples: Vec<Duration>,
    pub ready_peak_kib: u64,
}

pub struct BinarySize {
    pub function: &'static str,
    pub host_bytes: u64,
    pub arm64_bytes: Option<u64>,
}

/// Hookline's HTTP routes, served in-process, and a client for them.
#[derive(Clone)]
pub struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let value: Value = serde_json::from_slice(&response.bytes().await?)?;
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {value}");
        Ok(value)
    }

    pub async fn publish(&self, key: &str, n: u64, tag: &str, fan_out: u64) -> anyhow::Result<()> {
        let accepted = self.post("/v1/events", key, event(n, tag)).await?;
        anyhow::ensure!(accepted["deliveries"].as_u64() == Some(fan_out), "unexpected 202: {accepted}");
        Ok(())
    }

    /// One `POST /v1/events/batch` of the events numbered `range`; every item must be accepted.
    pub async fn publish_batch(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
        tag: &str,
        fan_out: u64,
    ) -> anyhow::Result<()> {
        let events: Vec<Value> = range.clone().map(|n| event(n, tag)).collect();
        let answer = self.post("/v1/events/batch", key, json!({ "events": events })).await?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        anyhow::ensure!(results.len() as u64 == range.end - range.start, "unexpected 207: {answer}");
        for result in results {
            anyhow::ensure!(result["deliveries"].as_u64() == Some(fan_out), "an item was refused: {result}");
        }
        Ok(())
    }

    /// Whether this build serves `POST /v1/events/batch` (an empty batch is refused, not 404).
    pub async fn has_batch_route(&self, key: &str) -> anyhow::Result<bool> {
        let response = self
            .http
            .post(format!("{}/v1/events/batch", self.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(json!({"events": []}).to_string())
            .send()
            .await?;
        // Without the route, the path falls to `/v1/events/{id}`, which has no POST: 405.
        let status = response.status();
        Ok(status != reqwest::StatusCode::NOT_FOUND && status != reqwest::StatusCode::METHOD_NOT_ALLOWED)
    }
}

/// One event as posted: `order.created`, a padded payload and an idempotency key.
fn event(n: u64, tag: &str) -> Value {
    json!({"event_type": "order.created", "payload": payload(n), "idempotency_key": format!("{tag}-{n}")})
}

/// An order-like payload padded to [`PAYLOAD_BYTES`].
pub fn payload(n: u64) -> Value {
    let mut value = json!({"order_id": format!("ord_{n:010}"), "amount_cents": 4200, "currency": "EUR", "note": ""});
    let pad = PAYLOAD_BYTES.saturating_sub(value.to_string().len());
    value["note"] = Value::String("x".repeat(pad));
    value
}

/// One copy of Hookline: its own table and queues in moto, its HTTP routes served in-process
/// on `clients`, a tenant and [`ENDPOINTS`] endpoints on the sink.
pub struct Stack {
    pub resources: LocalResources,
    pub config: Config,
    pub api: Api,
    pub key: String,
}

impl Stack {
    async fn start(plain: &Clients, clients: &Clients, prefix: &str, sink: &Sink) -> anyhow::Result<Self> {
        Self::start_with(plain, clients, prefix, sink, ENDPOINTS, "hook").await
    }

    /// A stack with `fan_out` endpoints on the sink's `path` route (`hook` answers 200,
    /// `flaky` fails some first attempts; their retries come 1 s later).
    pub async fn start_with(
        plain: &Clients,
        clients: &Clients,
        prefix: &str,
        sink: &Sink,
        fan_out: u64,
        path: &str,
    ) -> anyhow::Result<Self> {
        let resources = provision(plain, &Resources::from_template()?, prefix).await?;
        let config = Config { retention: Duration::from_secs(30 * 86_400), ..resources.config(ADMIN_TOKEN) };
        let app =
            with_fallbacks(ingest::routes().merge(api::routes()).with_state(AppState::new(config.clone(), clients)));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let api = Api { url: format!("http://{}", listener.local_addr()?), http: reqwest::Client::new() };
        tokio::spawn(async move { axum::serve(listener, app).await });
        let tenant = api.post("/v1/tenants", ADMIN_TOKEN, json!({"name": "bench"})).await?;
        let key = tenant["api_key"].as_str().ok_or_else(|| anyhow::anyhow!("no api_key in {tenant}"))?.to_owned();
        for i in 0..fan_out {
            let url = format!("{}/{path}/{i}", sink.url);
            let retry = json!({"schedule_seconds": [1, 1, 1, 1, 1]});
            api.post("/v1/endpoints", &key, json!({"url": url, "event_types": ["order.*"], "retry": retry})).await?;
        }
        Ok(Self { resources, config, api, key })
    }

    async fn publish(&self, n: u64, tag: &str) -> anyhow::Result<()> {
        self.api.publish(&self.key, n, tag, ENDPOINTS).await
    }

    /// A poller for this stack's queue, feeding `handler`.
    pub fn poller(&self, sqs: &aws_sdk_sqs::Client, handler: deliver::Handler) -> Poller {
        Poller::new(sqs.clone(), self.resources.queue_url.clone(), self.resources.queue_arn.clone(), handler)
    }
}

pub async fn run() -> anyhow::Result<Measured> {
    let (cpus, cpu_model) = machine();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"))?;
    let Setup { aws_endpoint, encryption_key, plain, prefix, sink } = setup().await?;

    eprintln!("bench: raw moto rates ({RAW_CALLS} sequential SendMessage, {RAW_CALLS} PutItem)");
    let raw = provision(&plain, &Resources::from_template()?, &format!("{prefix}-raw")).await?;
    let (raw_send_message, raw_put_item) = raw_rates(&plain, &raw).await?;

    let scenarios = run_scenarios(&plain, &aws_endpoint, &sink, &prefix, |_| true).await?;

    eprintln!("bench: deliver handler CPU, {} deliveries", CPU_EVENTS * ENDPOINTS);
    let quiet = Stack::start(&plain, &plain, &format!("{prefix}-cpu"), &sink).await?;
    let cpu = handler_cpu(&quiet, &plain, &sink).await?;

    eprintln!("bench: cold starts and peak memory (local Lambda Runtime API)");
    let bin_dir = std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default();
    let function_env = |function: &str| {
        let mut env = vec![
            ("HOOKLINE_TABLE", quiet.resources.table.clone()),
            ("HOOKLINE_QUEUE_URL", quiet.resources.queue_url.clone()),
            ("AWS_ENDPOINT_URL", aws_endpoint.clone()),
            ("HOOKLINE_ENCRYPTION_KEY", encryption_key.clone()),
            ("HOOKLINE_RETENTION_DAYS", "30".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ];
        match function {
            "api" => env.push(("HOOKLINE_ADMIN_TOKEN", ADMIN_TOKEN.to_owned())),
            // Local only: the sink is on 127.0.0.1.
            "deliver" => {
                env.push(("HOOKLINE_DEV_ALLOW_LOOPBACK", "1".to_owned()));
                env.push(("HOOKLINE_DLQ_URL", quiet.resources.dead_letter_queue_url.clone()));
            }
            _ => {}
        }
        env
    };
    let mut cold_starts = Vec::new();
    let mut deliver_batch_peak_kib = 0;
    for function in FUNCTIONS {
        let binary = bin_dir.join(function);
        anyhow::ensure!(binary.exists(), "{} missing: `cargo build --release -p {function}`", binary.display());
        let env = function_env(function);
        let mut samples = Vec::new();
        let mut ready_peak_kib = 0;
        for i in 0..COLD_STARTS {
            let mut process = Function::spawn(&binary, function, &env).await?;
            let cold = process.ready(Duration::from_secs(30)).await.map_err(|e| anyhow::anyhow!("{function}: {e}"))?;
            samples.push(cold);
            ready_peak_kib = ready_peak_kib.max(peak_rss_kib(process.pid())?);
            if function == "deliver" && i + 1 == COLD_STARTS {
                deliver_batch_peak_kib = deliver_batch(&mut process, &quiet, &plain, &sink).await?;
            }
            process.stop().await;
        }
        cold_starts.push(ColdStart { function, samples, ready_peak_kib });
    }

    let arm64_build = std::env::var("HOOKLINE_BENCH_ARM64").unwrap_or_else(|_| "not attempted".to_owned());
    let target_dir = bin_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let sizes = FUNCTIONS
        .iter()
        .map(|&function| -> anyhow::Result<BinarySize> {
            let arm64: PathBuf = target_dir.join("lambda").join(function).join("bootstrap");
            Ok(BinarySize {
                function,
                host_bytes: std::fs::metadata(bin_dir.join(function))?.len(),
                arm64_bytes: (arm64_build == "ok").then(|| std::fs::metadata(&arm64).map(|m| m.len())).transpose()?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    Ok(Measured {
        cpus,
        cpu_model,
        date,
        scenarios,
        raw_send_message,
        raw_put_item,
        handler_cpu: cpu.handler_cpu,
        handler_wall: cpu.handler_wall,
        handler_deliveries: cpu.deliveries,
        handler_batches: cpu.batches,
        handler_failures: cpu.failures,
        bare_cpu: cpu.bare_cpu,
        bare_posts: cpu.bare_posts,
        body_bytes: cpu.body_bytes,
        cold_starts,
        deliver_batch_peak_kib,
        sizes,
        arm64_build,
    })
}

/// Runs the scenarios `wanted` picks, each on separate tables and queues, so one's items and
/// messages do not touch the next.
async fn run_scenarios(
    plain: &Clients,
    aws_endpoint: &str,
    sink: &Sink,
    prefix: &str,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<crate::scenarios::Run>> {
    crate::window::check_template()?;
    let mut scenarios = Vec::new();
    for spec in crate::scenarios::SPECS.iter().filter(|s| wanted(s.key)) {
        eprintln!("bench: scenario {}: {} events, one every {:?}", spec.title, spec.events, spec.interval);
        let prefix = format!("{prefix}-{}", spec.key);
        match crate::scenarios::run(spec, plain, aws_endpoint, sink, &prefix).await? {
            Some(run) => scenarios.push(run),
            None => eprintln!("bench: scenario {}: skipped, this build has no POST /v1/events/batch", spec.key),
        }
    }
    Ok(scenarios)
}

/// What every bench run starts from: moto's address, the sealing key (installed here, and
/// handed to the function processes), plain clients, a fresh resource prefix and the sink.
struct Setup {
    aws_endpoint: String,
    encryption_key: String,
    plain: hookline_shared::aws::Clients,
    prefix: String,
    sink: Sink,
}

async fn setup() -> anyhow::Result<Setup> {
    let aws_endpoint = endpoint_from_env()?;
    // Secrets at rest are sealed as in a deployment: one key, shared with the function processes.
    let encryption_key = hookline_shared::crypto::SecretBox::generate_key_base64();
    hookline_shared::crypto::install(hookline_shared::crypto::SecretBox::from_base64(&encryption_key)?);
    let plain = local_clients(&aws_endpoint).await;
    let prefix = format!("bench{:08x}", rand::rng().random::<u32>());
    Ok(Setup { aws_endpoint, encryption_key, plain, prefix, sink: Sink::start()? })
}

/// `HOOKLINE_BENCH_ONLY=cpu`: runs only section 2 (the deliver handler's CPU time against a
/// bare POST) and prints it to stderr; writes nothing. Built in another Cargo profile
/// (`--profile small`), it says what that profile does to the handler's speed.
pub async fn handler_cpu_only() -> anyhow::Result<()> {
    let Setup { plain, prefix, sink, .. } = setup().await?;
    let stack = Stack::start(&plain, &plain, &format!("{prefix}-cpu"), &sink).await?;
    let cpu = handler_cpu(&stack, &plain, &sink).await?;
    anyhow::ensure!(cpu.failures == 0, "{} deliveries were reported failed", cpu.failures);
    let per = |total: Duration, n: u64| total.as_secs_f64() * 1e3 / n.max(1) as f64;
    eprintln!(
        "handler_cpu_ms_per_delivery={:.4} handler_wall_ms_per_delivery={:.4} bare_post_cpu_ms={:.4} \
         deliveries={} batches={} handler_cpu_ms={} bare_posts={}",
        per(cpu.handler_cpu, cpu.deliveries),
        per(cpu.handler_wall, cpu.deliveries),
        per(cpu.bare_cpu, cpu.bare_posts),
        cpu.deliveries,
        cpu.batches,
        cpu.handler_cpu.as_millis(),
        cpu.bare_posts,
    );
    Ok(())
}

/// `HOOKLINE_BENCH_ONLY=a,b`: runs only those scenarios and prints what they asked of AWS, by
/// function, operation and item, to stderr; writes nothing (a tool for finding where requests
/// come from, not a result).
pub async fn scenarios_only(keys: &str) -> anyhow::Result<()> {
    let wanted: Vec<&str> = keys.split(',').map(str::trim).collect();
    let Setup { aws_endpoint, plain, prefix, sink, .. } = setup().await?;
    for run in run_scenarios(&plain, &aws_endpoint, &sink, &prefix, |key| wanted.contains(&key)).await? {
        let d = run.deliveries.max(1) as f64;
        eprintln!(
            "{}: {} deliveries, {} messages in {} batches, {} receives ({} empty), {} POSTs at the sink, {} failed \
             first; published in {:.1} s, lag {:.1} s; billed {:.1} ms per POST, {:.1} ms per batch",
            run.spec.title,
            run.deliveries,
            run.messages,
            run.batches,
            run.receives,
            run.empty_receives,
            run.sink_posts,
            run.failed_first,
            run.publish_wall.as_secs_f64(),
            run.drain_wall.as_secs_f64(),
            run.ingest_ms_per_post(),
            run.deliver_ms_per_batch(),
        );
        for (function, counts) in [("ingest", &run.ingest), ("deliver", &run.deliver)] {
            for ((service, op), count) in counts {
                let items: Vec<String> =
                    count.items.iter().map(|(item, n)| format!("{item} {:.3}", *n as f64 / d)).collect();
                eprintln!(
                    "  {function} {service} {op}: {:.3} per delivery ({} calls) {}",
                    count.requests as f64 / d,
                    count.requests,
                    items.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// Wall time of [`RAW_CALLS`] sequential SendMessage calls and as many PutItem calls, to a
/// queue and table of their own, through the SDK without the counting interceptor.
async fn raw_rates(clients: &Clients, raw: &LocalResources) -> anyhow::Result<(Duration, Duration)> {
    let queue_url = &raw.queue_url;
    let send = |n: u64| clients.sqs.send_message().queue_url(queue_url).message_body(format!("{{\"n\":{n}}}")).send();
    let put = |n: u64| {
        clients
            .dynamodb
            .put_item()
            .table_name(&raw.table)
            .item("pk", AttributeValue::S("BENCH#raw".to_owned()))
            .item("sk", AttributeValue::S(format!("{n:08}")))
            .item("payload", AttributeValue::S("x".repeat(PAYLOAD_BYTES)))
            .send()
    };
    for n in 0..10 {
        send(n).await?;
        put(n).await?;
    }
    let started = Instant::now();
    for n in 0..RAW_CALLS {
        send(n).await?;
    }
    let send_wall = started.elapsed();
    let started = Instant::now();
    for n in 0..RAW_CALLS {
        put(n).await?;
    }
    Ok((send_wall, started.elapsed()))
}

struct CpuRun {
    handler_cpu: Duration,
    handler_wall: Duration,
    deliveries: u64,
    batches: u64,
    failures: u64,
    bare_cpu: Duration,
    bare_posts: u64,
    body_bytes: usize,
}

/// Process CPU time around `Handler::handle` for batches received beforehand (receiving and
/// deleting are the event source mapping's work, not the function's), then around as many
/// bare POSTs of the same body to the same sink, ten at a time like the handler's batches.
async fn handler_cpu(stack: &Stack, clients: &Clients, sink: &Sink) -> anyhow::Result<CpuRun> {
    let handler = deliver::Handler::from_config(&stack.config, clients)?;
    let receiver = stack.poller(&clients.sqs, handler.clone());
    // Ten events at a time, each batch handled as soon as it is received: a first round is
    // sent without reads only while fresh (under 2 s since it was queued), as in production.
    let run = |first: u64| {
        let (stack, handler, receiver) = (&stack, &handler, &receiver);
        async move {
            for n in first..first + 10 {
                stack.publish(n, "cpu").await?;
            }
            let mut handled = Vec::new();
            let (mut cpu, mut wall, mut got) = (Duration::ZERO, Duration::ZERO, 0);
            let deadline = Instant::now() + PATIENCE;
            while got < 10 {
                anyhow::ensure!(Instant::now() < deadline, "only {got} of 10 rounds arrived");
                let batch = receiver.receive(Duration::from_secs(1)).await?;
                if batch.records.is_empty() {
                    continue;
                }
                got += batch.records.len();
                let cpu_before = process_cpu_time()?;
                let started = Instant::now();
                let response = handler.handle(batch.clone()).await;
                wall += started.elapsed();
                cpu += process_cpu_time()? - cpu_before;
                receiver.acknowledge(&batch, &response).await?;
                handled.push((batch, response));
            }
            anyhow::Ok((handled, cpu, wall))
        }
    };
    run(CPU_EVENTS).await?; // warm-up
    let (mut handler_cpu, mut handler_wall, mut deliveries, mut batches, mut failures) =
        (Duration::ZERO, Duration::ZERO, 0, 0, 0);
    for first in (0..CPU_EVENTS).step_by(10) {
        let (handled, cpu, wall) = run(first).await?;
        handler_cpu += cpu;
        handler_wall += wall;
        for (batch, response) in &handled {
            deliveries += batch.records.len() as u64 * ENDPOINTS;
            batches += 1;
            failures += response.batch_item_failures.len() as u64;
        }
    }
    let body = sink.stats().await?.sample;
    anyhow::ensure!(!body.is_empty(), "the sink kept no body");
    let http = reqwest::Client::new();
    let url = format!("{}/hook/0", sink.url);
    let post_ten = |count: usize| {
        futures::future::join_all(
            (0..count).map(|_| http.post(&url).header("content-type", "application/json").body(body.clone()).send()),
        )
    };
    for result in post_ten(10).await {
        anyhow::ensure!(result?.status().is_success(), "the sink refused a POST");
    }
    // A bare POST costs a few hundredths of a millisecond: repeat the pass until the CPU time
    // is long enough that a stray wake-up or page fault does not move it.
    let cpu_before = process_cpu_time()?;
    let mut bare_posts = 0;
    while process_cpu_time()? - cpu_before < BARE_CPU_FLOOR && bare_posts < 100 * deliveries {
        let mut left = deliveries;
        while left > 0 {
            let count = left.min(10);
            for result in post_ten(count as usize).await {
                let response = result?;
                anyhow::ensure!(response.status().is_success(), "the sink refused a POST");
                response.bytes().await?;
            }
            left -= count;
        }
        bare_posts += deliveries;
    }
    let bare_cpu = process_cpu_time()? - cpu_before;
    Ok(CpuRun {
        handler_cpu,
        handler_wall,
        deliveries,
        batches,
        failures,
        bare_cpu,
        bare_posts,
        body_bytes: body.len(),
    })
}

/// Receives batches until `want` messages are in hand.
async fn receive(receiver: &Poller, want: usize) -> anyhow::Result<Vec<SqsEvent>> {
    let deadline = Instant::now() + PATIENCE;
    let mut batches = Vec::new();
    let mut got = 0;
    while got < want {
        anyhow::ensure!(Instant::now() < deadline, "only {got} of {want} messages arrived");
        let batch = receiver.receive(Duration::from_secs(1)).await?;
        if !batch.records.is_empty() {
            got += batch.records.len();
            batches.push(batch);
        }
    }
    Ok(batches)
}

/// Feeds the deliver process one SQS event of [`MEMORY_BATCH`] records for deliveries that
/// exist, checks they were delivered, and returns its peak RSS after it answered.
async fn deliver_batch(process: &mut Function, stack: &Stack, clients: &Clients, sink: &Sink) -> anyhow::Result<u64> {
    // MEMORY_BATCH events: one SQS event of that many first rounds, ENDPOINTS deliveries each.
    for n in 0..MEMORY_BATCH as u64 {
        stack.publish(n, "memory").await?;
    }
    let receiver = stack.poller(&clients.sqs, deliver::Handler::from_config(&stack.config, clients)?);
    let mut event = SqsEvent::default();
    event.records =
        receive(&receiver, MEMORY_BATCH).await?.into_iter().flat_map(|b| b.records).take(MEMORY_BATCH).collect();
    let before = sink.stats().await?.unique;
    let answer = process.invoke(serde_json::to_value(&event)?, Duration::from_secs(60)).await?;
    let peak = peak_rss_kib(process.pid())?;
    let failures = answer["batchItemFailures"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(failures == 0, "the deliver function kept {failures} records: {answer}");
    let delivered = sink.stats().await?.unique - before;
    let expected = MEMORY_BATCH as u64 * ENDPOINTS;
    anyhow::ensure!(delivered == expected, "the deliver function delivered {delivered} of {expected}");
    Ok(peak)
}
