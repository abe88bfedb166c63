//! The fairness run (`make fairness`): tenant B sends steadily to a fast endpoint, first
//! alone, then while tenant A floods endpoints that hang past their timeout on most requests
//! (and answer the rest at once, which keeps their circuits closed). It reports B's delivery
//! latency (ingest's 202 to arrival at B's receiver) as a ratio to B alone, and A's throughput,
//! with Hookline's guard (the in-flight cap and the slow lane) and without it.
//!
//! The workers are `hookline-worker` processes polling both lanes, with the slow lane's
//! fleet-wide concurrency taken from `template.yaml`. moto is not an SQS fair queue (it hands
//! messages out in order), so what is measured is Hookline's own guard.

mod receiver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hookline_shared::config::Config;
use hookline_shared::web::{AppState, with_fallbacks};
use rand::Rng;
use serde_json::json;
use tokio::sync::Mutex;

pub use receiver::TimedReceiver;

use crate::chaos::{Fleet, call, publish};
use crate::clients::{endpoint_from_env, local_clients};
use crate::provision::provision;
use crate::template::{DELIVERIES_QUEUE, Resources, SLOW_DELIVERIES_QUEUE};

const ADMIN_TOKEN: &str = "fairness-admin-token";

#[derive(Clone, Debug)]
pub struct FairnessOptions {
    pub worker_bin: PathBuf,
    /// Worker processes. Both lanes' event source mappings run as many batches at once as
    /// `template.yaml`'s `MaximumConcurrency` says, split over the workers.
    pub workers: usize,
    /// How long B (and A) send.
    pub phase: Duration,
    /// B publishes one event this often.
    pub b_interval: Duration,
    /// A's endpoints, and how often A publishes one event to each in turn.
    pub a_endpoints: usize,
    pub a_interval: Duration,
    /// The share of A's requests that hang past A's timeout.
    pub a_hang_rate: f64,
    pub a_timeout: Duration,
    /// How long to wait, after the phase, for B's last deliveries.
    pub drain: Duration,
    /// The goal: B's p95 with A flooding, guarded, at most this many times B's p95 alone.
    pub goal_ratio: f64,
}

impl FairnessOptions {
    pub fn new(worker_bin: PathBuf) -> Self {
        Self {
            worker_bin,
            workers: 2,
            phase: Duration::from_secs(30),
            b_interval: Duration::from_millis(200),
            a_endpoints: 3,
            a_interval: Duration::from_millis(250),
            a_hang_rate: 0.69,
            a_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(90),
            goal_ratio: 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// B alone, guard on.
    Alone,
    /// A floods, guard on.
    Guarded,
    /// A floods, no in-flight cap and no slow lane (the code's behaviour before the guard).
    Unguarded,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Alone => "B alone",
            Mode::Guarded => "A floods, guard on",
            Mode::Unguarded => "A floods, guard off",
        }
    }
}

#[derive(Debug)]
pub struct PhaseReport {
    pub mode: Mode,
    pub seconds: f64,
    pub b_published: usize,
    /// B's delivery latencies, from ingest's 202 to the request's arrival at B's receiver,
    /// sorted, in ms.
    pub b_latencies_ms: Vec<u64>,
    /// How long B's publishing took (POST to 202), sorted, in ms: moto's load, not the
    /// delivery path's fairness.
    pub b_ingest_ms: Vec<u64>,
    pub a_published: usize,
    /// A's requests answered 2xx and all requests A's endpoints saw, while A was sending.
    pub a_ok: usize,
    pub a_requests: usize,
}

impl PhaseReport {
    /// Nearest-rank percentile of B's latencies.
    pub fn b_percentile(&self, p: f64) -> Option<u64> {
        percentile(&self.b_latencies_ms, p)
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

impl PhaseReport {
    fn ingest_part(&self) -> String {
        let ms = |p| percentile(&self.b_ingest_ms, p).map_or("-".to_owned(), |v| format!("{v}"));
        format!(" (publishing: p50 {} ms, p95 {} ms)", ms(50.0), ms(95.0))
    }
}

#[derive(Debug)]
pub struct FairnessReport {
    pub options: FairnessOptions,
    /// Pollers of the main lane and of the slow lane, fleet-wide.
    pub lanes: (usize, usize),
    pub phases: Vec<PhaseReport>,
}

impl FairnessReport {
    fn phase(&self, mode: Mode) -> Option<&PhaseReport> {
        self.phases.iter().find(|p| p.mode == mode)
    }

    /// B's p`p` with A flooding under `mode`, as a multiple of B's p`p` alone.
    pub fn ratio(&self, mode: Mode, p: f64) -> Option<f64> {
        let alone = self.phase(Mode::Alone)?.b_percentile(p)?;
        let with_a = self.phase(mode)?.b_percentile(p)?;
        Some(with_a as f64 / alone.max(1) as f64)
    }

    pub fn passed(&self) -> bool {
        let all_b_delivered = self.phases.iter().all(|p| p.b_latencies_ms.len() == p.b_published);
        let guarded = self.phase(Mode::Guarded).is_some_and(|p| p.b_latencies_ms.len() == p.b_published);
        guarded && self.ratio(Mode::Guarded, 95.0).is_some_and(|r| r <= self.options.goal_ratio) && all_b_delivered
    }

    pub fn print(&self) {
        let o = &self.options;
        println!(
            "fairness: B publishes one event every {} ms for {} s to a fast endpoint; A publishes {:.0} events/s to {} \
             endpoints that hang past a {} s timeout on {:.0} % of requests and answer the rest at once",
            o.b_interval.as_millis(),
            o.phase.as_secs(),
            1.0 / o.a_interval.as_secs_f64(),
            o.a_endpoints,
            o.a_timeout.as_secs(),
            o.a_hang_rate * 100.0
        );
        println!(
            "  {} workers; main and slow lane pollers as template.yaml's MaximumConcurrency ({} and {})",
            o.workers, self.lanes.0, self.lanes.1
        );
        let ms = |v: Option<u64>| v.map_or("-".to_owned(), |v| format!("{v} ms"));
        let ratio = |mode, p| self.ratio(mode, p).map_or(String::new(), |r| format!(" ({r:.2}×)"));
        for phase in &self.phases {
            let mut line = format!(
                "  {:<20} B: {}/{} delivered, p50 {}{}, p95 {}{}",
                phase.mode.label(),
                phase.b_latencies_ms.len(),
                phase.b_published,
                ms(phase.b_percentile(50.0)),
                if phase.mode == Mode::Alone { String::new() } else { ratio(phase.mode, 50.0) },
                ms(phase.b_percentile(95.0)),
                if phase.mode == Mode::Alone { String::new() } else { ratio(phase.mode, 95.0) },
            );
            line.push_str(&phase.ingest_part());
            if phase.mode != Mode::Alone {
                line.push_str(&format!(
                    "; A: {} events, {} answered 2xx ({:.1}/s), {} requests",
                    phase.a_published,
                    phase.a_ok,
                    phase.a_ok as f64 / phase.seconds.max(0.001),
                    phase.a_requests
                ));
            }
            println!("{line}");
        }
        // Publishing touches only moto: when it slows down too, the machine was busier.
        let publishing = |mode| self.phase(mode).and_then(|p| percentile(&p.b_ingest_ms, 50.0));
        if let (Some(alone), Some(guarded)) = (publishing(Mode::Alone), publishing(Mode::Guarded))
            && guarded > 3 * alone.max(1)
        {
            println!(
                "  note: publishing was {:.1}× slower with the guard on than alone: moto (one Python process) or the \
                 machine was busier; its figures measure that as much as the guard",
                guarded as f64 / alone.max(1) as f64
            );
        }
        println!(
            "  goal: B's p95 with A flooding (guard on) ≤ {:.0}× B alone: {}",
            o.goal_ratio,
            if self.passed() { "PASS" } else { "FAIL" }
        );
    }
}

pub async fn run(options: FairnessOptions) -> anyhow::Result<FairnessReport> {
    let sealing_key = hookline_shared::crypto::SecretBox::generate_key_base64();
    hookline_shared::crypto::install(hookline_shared::crypto::SecretBox::from_base64(&sealing_key)?);
    let mut phases = Vec::new();
    for mode in [Mode::Alone, Mode::Guarded, Mode::Unguarded] {
        println!("fairness: {} …", mode.label());
        phases.push(run_phase(&options, mode, &sealing_key).await?);
    }
    let template = Resources::from_template()?;
    Ok(FairnessReport { options, lanes: lane_pollers(&template), phases })
}

/// One phase on fresh resources and a fresh fleet.
async fn run_phase(options: &FairnessOptions, mode: Mode, sealing_key: &str) -> anyhow::Result<PhaseReport> {
    let aws_endpoint = endpoint_from_env()?;
    let clients = local_clients(&aws_endpoint).await;
    let prefix = format!("fair{:08x}", rand::rng().random::<u32>());
    let template = Resources::from_template()?;
    let resources = provision(&clients, &template, &prefix).await?;
    // Serves ingest and the api only; the fleet's workers poll the lanes.
    let config = Config { slow_queue_url: None, ..resources.config(ADMIN_TOKEN) };
    let app = with_fallbacks(ingest::routes().merge(api::routes()).with_state(AppState::new(config, &clients)));
    let listener =
        tokio::net::TcpListener::bind(std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let b_receiver = TimedReceiver::start(0.0, Duration::ZERO).await?;
    let b_key = tenant(&http, &base, "b").await?;
    call(&http, &format!("{base}/v1/endpoints"), &b_key, json!({"url": b_receiver.url, "event_types": ["b.tick"]}))
        .await?;
    let a_key = tenant(&http, &base, "a").await?;
    let mut a_receivers = Vec::new();
    if mode != Mode::Alone {
        for i in 0..options.a_endpoints {
            let receiver =
                TimedReceiver::start(options.a_hang_rate, options.a_timeout + Duration::from_secs(5)).await?;
            let timeout_ms = options.a_timeout.as_millis() as u64;
            let body = json!({"url": receiver.url, "event_types": [format!("a.e{i}")], "timeout_ms": timeout_ms});
            call(&http, &format!("{base}/v1/endpoints"), &a_key, body).await?;
            a_receivers.push(receiver);
        }
    }

    let mut fleet = Fleet {
        bin: options.worker_bin.clone(),
        env: vec![
            ("HOOKLINE_TABLE".into(), resources.table.clone()),
            ("HOOKLINE_QUEUE_URL".into(), resources.queue_url.clone()),
            ("HOOKLINE_QUEUE_ARN".into(), resources.queue_arn.clone()),
            ("HOOKLINE_DLQ_URL".into(), resources.dead_letter_queue_url.clone()),
            ("AWS_ENDPOINT_URL".into(), aws_endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("HOOKLINE_ENCRYPTION_KEY".into(), sealing_key.to_owned()),
        ],
        children: Vec::new(),
        log: std::env::temp_dir().join(format!("{prefix}-workers.log")),
    };
    match mode {
        Mode::Alone | Mode::Guarded => {
            fleet.env.push(("HOOKLINE_SLOW_QUEUE_URL".into(), resources.slow_queue_url.clone()));
            fleet.env.push(("HOOKLINE_SLOW_QUEUE_ARN".into(), resources.slow_queue_arn.clone()));
        }
        Mode::Unguarded => fleet.env.push(("HOOKLINE_MAX_IN_FLIGHT_PER_ENDPOINT".into(), "off".into())),
    }
    // Each lane's concurrency is fleet-wide: the workers share it exactly.
    let (main_lane, slow_lane) = lane_pollers(&template);
    let share = |total: usize, i: usize| total / options.workers + usize::from(i < total % options.workers);
    for i in 0..options.workers {
        let slow_pollers = if mode == Mode::Unguarded { 0 } else { share(slow_lane, i) };
        let child = fleet.spawn_with(&[
            ("HOOKLINE_WORKER_POLLERS", share(main_lane, i).to_string()),
            ("HOOKLINE_WORKER_SLOW_POLLERS", slow_pollers.to_string()),
        ])?;
        fleet.children.push(child);
    }

    let started = Instant::now();
    let end = started + options.phase;
    // A floods: one event every a_interval, round-robin over its endpoints, without waiting
    // for the answers.
    let a_published = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood = (mode != Mode::Alone).then(|| {
        let (http, base, key, options, published) =
            (http.clone(), base.clone(), a_key.clone(), options.clone(), a_published.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(options.a_interval);
            let mut n = 0usize;
            while Instant::now() < end {
                tick.tick().await;
                let body = json!({"event_type": format!("a.e{}", n % options.a_endpoints), "payload": {"n": n}});
                let (http, url, key, published) =
                    (http.clone(), format!("{base}/v1/events"), key.clone(), published.clone());
                tokio::spawn(async move {
                    if publish(&http, &url, &key, body).await.is_ok() {
                        published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
                n += 1;
            }
        })
    });
    // B sends steadily; each event's delivery latency runs from its 202.
    let b_sent: Arc<Mutex<Vec<(String, Instant, Instant)>>> = Arc::default();
    let mut tick = tokio::time::interval(options.b_interval);
    let mut b_tasks = Vec::new();
    let mut n = 0usize;
    while Instant::now() < end {
        tick.tick().await;
        let (http, url, key, sent) = (http.clone(), format!("{base}/v1/events"), b_key.clone(), b_sent.clone());
        b_tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            let body = json!({"event_type": "b.tick", "payload": {"n": n}, "idempotency_key": format!("b-{n}")});
            if let Ok(id) = publish(&http, &url, &key, body).await {
                sent.lock().await.push((id, at, Instant::now()));
            }
        }));
        n += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (a_ok, a_requests) = (
        a_receivers.iter().map(TimedReceiver::ok_count).sum(),
        a_receivers.iter().map(TimedReceiver::request_count).sum(),
    );
    if let Some(flood) = flood {
        flood.abort();
    }
    for task in b_tasks {
        task.await?;
    }
    let b_sent = b_sent.lock().await.clone();
    let deadline = Instant::now() + options.drain;
    while b_sent.iter().any(|(id, _, _)| b_receiver.first_arrival(id).is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for child in &mut fleet.children {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let mut b_latencies_ms: Vec<u64> = b_sent
        .iter()
        .filter_map(|(id, _, accepted)| {
            // A delivery can land before the 202 is read: that counts as no wait at all.
            b_receiver.first_arrival(id).map(|arrived| arrived.saturating_duration_since(*accepted).as_millis() as u64)
        })
        .collect();
    b_latencies_ms.sort_unstable();
    let mut b_ingest_ms: Vec<u64> =
        b_sent.iter().map(|(_, at, accepted)| (*accepted - *at).as_millis() as u64).collect();
    b_ingest_ms.sort_unstable();
    Ok(PhaseReport {
        mode,
        seconds,
        b_published: n,
        b_latencies_ms,
        b_ingest_ms,
        a_published: a_published.load(std::sync::atomic::Ordering::Relaxed),
        a_ok,
        a_requests,
    })
}

/// The main and slow lanes' `MaximumConcurrency`: how many pollers each gets.
fn lane_pollers(template: &Resources) -> (usize, usize) {
    let concurrency = |queue| template.maximum_concurrency(queue).unwrap_or(1) as usize;
    (concurrency(DELIVERIES_QUEUE), concurrency(SLOW_DELIVERIES_QUEUE))
}

/// Creates a tenant whose quota allows the run's rate; returns its API key.
async fn tenant(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let tenant = call(http, &format!("{base}/v1/tenants"), ADMIN_TOKEN, json!({"name": name})).await?;
    let key = tenant["api_key"].as_str().context("no api key")?.to_owned();
    let id = tenant["id"].as_str().context("no tenant id")?;
    let quota = json!({"quotas": {"events_per_minute": 1_000_000}});
    let response =
        http.patch(format!("{base}/v1/tenants/{id}")).bearer_auth(ADMIN_TOKEN).body(quota.to_string()).send().await?;
    if !response.status().is_success() {
        bail!("raising tenant {name}'s quota failed: {}", response.status());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(mode: Mode, latencies: &[u64]) -> PhaseReport {
        PhaseReport {
            mode,
            seconds: 1.0,
            b_published: latencies.len(),
            b_latencies_ms: latencies.to_vec(),
            b_ingest_ms: Vec::new(),
            a_published: 0,
            a_ok: 0,
            a_requests: 0,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_and_ratios_compare_with_b_alone() {
        let alone: Vec<u64> = (1..=100).collect();
        let report = FairnessReport {
            options: FairnessOptions::new(PathBuf::new()),
            lanes: (50, 5),
            phases: vec![
                phase(Mode::Alone, &alone),
                phase(Mode::Guarded, &alone.iter().map(|v| v * 3).collect::<Vec<_>>()),
            ],
        };
        assert_eq!(report.phases[0].b_percentile(50.0), Some(50));
        assert_eq!(report.phases[0].b_percentile(95.0), Some(95));
        assert_eq!(report.ratio(Mode::Guarded, 95.0), Some(3.0));
        assert!(!report.passed(), "3× is over the goal");
    }
}
