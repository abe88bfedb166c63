//! `make bench`: what one delivery costs Hookline, measured in one run against the local AWS
//! server (moto) that `scripts/with-moto` starts.
//!
//! 0. the cost scenarios of issue 12 (`scenarios.rs`), priced from one table (`prices.rs`),
//!    also written to `bench/results.json`;
//! 1. AWS requests per delivered message, by API (an SDK interceptor counts them), and the
//!    list-price cost per million deliveries they imply;
//! 2. the deliver handler's CPU time per delivery against a bare `reqwest` POST;
//! 3. each function's cold start, binary size and the deliver function's peak memory, through
//!    a local Lambda Runtime API;
//! 4. local end-to-end throughput against moto's own raw SendMessage and PutItem rates.
//!
//! The process runs in three roles: without arguments it runs `measure` as a child (whose
//! stdout takes the functions' JSON logs and metric lines) and prints the table it wrote to
//! `bench/RESULTS.md`; `sink` is the webhook receiver, its own process so its CPU time is not
//! counted as the sender's.

mod counter;
mod measure;
mod prices;
mod procfs;
mod report;
mod scenarios;
mod sink;
mod window;

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Everything after this line in `bench/RESULTS.md` is kept when the table is rewritten.
const HISTORY_MARKER: &str = "<!-- history: kept by make bench -->";

/// Where the table is written: `bench/RESULTS.md` in the source tree.
fn results_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md")
}

/// The scenario figures as JSON, for tracking from run to run.
fn results_json_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results.json")
}

fn main() -> anyhow::Result<()> {
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match std::env::args().nth(1).as_deref() {
        None => supervise(),
        Some("measure") => runtime()?.block_on(async {
            // JSON logs to stdout, as in Lambda (the supervisor discards them): their cost is
            // part of the handler's CPU time.
            hookline_shared::telemetry::init();
            if let Ok(keys) = std::env::var("HOOKLINE_BENCH_ONLY") {
                if keys == "cpu" {
                    return measure::handler_cpu_only().await;
                }
                return measure::scenarios_only(&keys).await;
            }
            let measured = measure::run().await?;
            let mut text = report::render(&measured);
            // The hand-kept history of cuts below the marker survives every run.
            let previous = std::fs::read_to_string(results_path()).unwrap_or_default();
            if let Some(at) = previous.find(HISTORY_MARKER) {
                text.push('\n');
                text.push_str(&previous[at..]);
            }
            std::fs::write(results_path(), text)?;
            let results = scenarios::results_json(&measured.date, &measured.scenarios);
            std::fs::write(results_json_path(), format!("{}\n", serde_json::to_string_pretty(&results)?))?;
            Ok(())
        }),
        Some("sink") => runtime()?.block_on(sink::serve()),
        Some(other) => anyhow::bail!("unknown mode `{other}` (run without arguments)"),
    }
}

/// Runs the measurement in a child whose stdout (logs, metric lines) is dropped, then prints
/// the table.
fn supervise() -> anyhow::Result<()> {
    let status = Command::new(std::env::current_exe()?)
        .arg("measure")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    anyhow::ensure!(status.success(), "the measurement failed ({status})");
    let path = results_path();
    print!("{}", std::fs::read_to_string(&path)?);
    eprintln!("written to {}", path.display());
    Ok(())
}
