//! A stand-alone delivery worker: several pollers feeding the deliver handler, as a fleet of
//! deliver Lambdas would. The chaos run starts and SIGKILLs these processes.
//!
//! Environment: `HOOKLINE_TABLE`, `HOOKLINE_QUEUE_URL`, `HOOKLINE_QUEUE_ARN`,
//! `HOOKLINE_DLQ_URL`, `AWS_ENDPOINT_URL` (the local AWS server), `HOOKLINE_WORKER_POLLERS` (default 4),
//! `HOOKLINE_SLOW_QUEUE_URL` and `HOOKLINE_SLOW_QUEUE_ARN` with `HOOKLINE_WORKER_SLOW_POLLERS`
//! (default 0: the slow lane's event source mapping has a fleet-wide concurrency, so the
//! runner says how many of it each worker holds), `HOOKLINE_MAX_IN_FLIGHT_PER_ENDPOINT`
//! (default: the policy's; `off` turns the cap and the slow lane off, for comparisons),
//! `HOOKLINE_BACKOFF_FLOOR_MS` (default: the policy's 60 s), `HOOKLINE_ENCRYPTION_KEY` (the
//! key the endpoints' secrets were sealed with).

use std::time::Duration;

use anyhow::Context;
use hookline_local::clients::{endpoint_from_env, local_clients};
use hookline_local::poller::Poller;
use hookline_shared::config::Config;
use hookline_shared::delivery::PolicySettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    hookline_shared::crypto::install_from_env().context("HOOKLINE_ENCRYPTION_KEY")?;
    let clients = local_clients(&endpoint_from_env()?).await;
    let config = Config {
        table: var("HOOKLINE_TABLE")?,
        queue_url: var("HOOKLINE_QUEUE_URL")?,
        slow_queue_url: std::env::var("HOOKLINE_SLOW_QUEUE_URL").ok().filter(|u| !u.is_empty()),
        dead_letter_queue_url: Some(var("HOOKLINE_DLQ_URL")?),
        admin_token: None,
        retention: Duration::from_secs(86_400),
        egress: hookline_shared::guard::Egress::LoopbackOnly,
        allow_http: false,
        dashboard_frame_ancestors: Default::default(),
        recover_budget: hookline_shared::config::DEFAULT_RECOVER_BUDGET,
        // The worker delivers only; its HTTP caches are never used.
        auth_cache_ttl: Duration::ZERO,
    };
    let mut settings = PolicySettings::default();
    if let Ok(ms) = var("HOOKLINE_BACKOFF_FLOOR_MS") {
        settings.backoff_floor = Duration::from_millis(ms.parse()?);
    }
    match var("HOOKLINE_MAX_IN_FLIGHT_PER_ENDPOINT").ok().as_deref() {
        None => {}
        Some("off") => settings.max_in_flight_per_endpoint = None,
        Some(cap) => settings.max_in_flight_per_endpoint = Some(cap.parse()?),
    }
    let pollers: usize = var("HOOKLINE_WORKER_POLLERS").ok().map(|p| p.parse()).transpose()?.unwrap_or(4);
    let slow_pollers: usize = var("HOOKLINE_WORKER_SLOW_POLLERS").ok().map(|p| p.parse()).transpose()?.unwrap_or(0);
    let handler = deliver::Handler::with_settings(&config, &clients, settings)?;
    let poller =
        Poller::new(clients.sqs.clone(), config.queue_url.clone(), var("HOOKLINE_QUEUE_ARN")?, handler.clone());
    let (_keep_running, running) = tokio::sync::watch::channel(false);
    let mut tasks: Vec<_> = (0..pollers).map(|_| tokio::spawn(poller.clone().run(running.clone()))).collect();
    if let (Some(url), true) = (&config.slow_queue_url, slow_pollers > 0) {
        let slow = Poller::new(clients.sqs.clone(), url.clone(), var("HOOKLINE_SLOW_QUEUE_ARN")?, handler);
        tasks.extend((0..slow_pollers).map(|_| tokio::spawn(slow.clone().run(running.clone()))));
    }
    for task in tasks {
        task.await?;
    }
    Ok(())
}
