//! A small chaos run inside `make test`: a few events through flaky receivers while the
//! workers are SIGKILLed. `make chaos` runs the full size.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::PathBuf;
use std::time::Duration;

use hookline_local::chaos::{ChaosOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_receivers_fail_and_workers_are_killed() {
    let mut options = ChaosOptions::new(40, PathBuf::from(env!("CARGO_BIN_EXE_hookline-worker")));
    options.kill_every = Duration::from_millis(1500);
    options.max_kills = 3;
    options.deadline = Duration::from_secs(300);
    let report = run(options).await.unwrap();
    report.print();
    assert_eq!(report.lost, 0);
    assert_eq!(report.deliveries_seen_ok, 120);
    assert!(report.kills >= 1, "at least one worker was killed mid-run");
    assert!(report.failures_injected > 0, "the receivers did fail");
    assert!(report.passed(), "{:?}", report.state_mismatches);
}
