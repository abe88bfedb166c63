//! Logging: JSON lines in Lambda (CloudWatch parses them), filtered by `RUST_LOG`.
//! Secrets and payloads are never logged; ids and outcomes are.

use tracing_subscriber::EnvFilter;

/// Installs the global JSON logger. Calling it twice is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .flatten_event(true)
        .without_time()
        .try_init();
}
