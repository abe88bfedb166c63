//! `make chaos`: the chaos run (see `hookline_local::chaos`). `CHAOS_EVENTS` sets the number of
//! events (default 10 000), `CHAOS_DEADLINE_MINUTES` the time limit (default 60) and
//! `CHAOS_MAX_BACKLOG` how many deliveries may be outstanding while publishing (default 600).
//! Exits non-zero unless every check passes.

use std::time::Duration;

use anyhow::Context;
use hookline_local::chaos::{ChaosOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    // The in-process ingest routes would print an EMF line per event into the report.
    hookline_shared::metrics::silence();
    let events: usize = std::env::var("CHAOS_EVENTS").ok().map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let here = std::env::current_exe()?;
    let worker = here.parent().context("no binary directory")?.join("hookline-worker");
    let mut options = ChaosOptions::new(events, worker);
    if let Some(minutes) = std::env::var("CHAOS_DEADLINE_MINUTES").ok().map(|m| m.parse::<u64>()).transpose()? {
        options.deadline = Duration::from_secs(minutes * 60);
    }
    if let Some(backlog) = std::env::var("CHAOS_MAX_BACKLOG").ok().map(|b| b.parse::<usize>()).transpose()? {
        options.max_backlog = backlog;
    }
    println!("chaos: {events} events, {} workers, failure rate {:.0} %", options.workers, options.failure_rate * 100.0);
    let report = run(options).await?;
    report.print();
    if !report.passed() {
        anyhow::bail!("the chaos run failed its checks");
    }
    Ok(())
}
