//! `make fairness`: the fairness run (see `hookline_local::fairness`). `FAIRNESS_SECONDS` sets
//! how long each phase sends (default 30). Exits non-zero unless B's p95 with A flooding stays
//! within the goal.

use std::time::Duration;

use anyhow::Context;
use hookline_local::fairness::{FairnessOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    // The in-process ingest routes would print an EMF line per event into the report.
    hookline_shared::metrics::silence();
    let here = std::env::current_exe()?;
    let worker = here.parent().context("no binary directory")?.join("hookline-worker");
    let mut options = FairnessOptions::new(worker);
    if let Some(seconds) = std::env::var("FAIRNESS_SECONDS").ok().map(|s| s.parse::<u64>()).transpose()? {
        options.phase = Duration::from_secs(seconds);
    }
    let report = run(options).await?;
    report.print();
    if !report.passed() {
        anyhow::bail!("B's deliveries were held back beyond the goal");
    }
    Ok(())
}
