//! The two lanes a delivery can travel in. Most endpoints answer within a second; one that
//! hangs holds its whole batch (and the function instance running it) until its timeout. So an
//! endpoint whose recent attempts timed out or took longer than a threshold is served from a
//! second queue with a small, separate concurrency, and cannot hold up everyone else's batches.

use std::time::Duration;

use super::http::HttpResult;
use crate::domain::ErrorKind;

/// The queue a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The deliveries queue.
    Main,
    /// The slow lane's queue, for endpoints that are slow right now.
    Slow,
}

/// Whether this attempt makes its endpoint slow: it timed out, or took longer than `threshold`.
pub fn attempt_was_slow(result: &HttpResult, threshold: Duration) -> bool {
    let timed_out = result.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Timeout);
    timed_out || Duration::from_millis(result.latency_ms) > threshold
}

/// Whether another request to the endpoint has been running longer than `threshold`: the
/// endpoint is slow now, before that request's timeout says so.
pub fn in_flight_too_long(others_started_ms: &[i64], now_ms: i64, threshold: Duration) -> bool {
    let threshold_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
    others_started_ms.iter().any(|started| now_ms - started > threshold_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AttemptError;

    fn result(latency_ms: u64, error: Option<ErrorKind>) -> HttpResult {
        HttpResult {
            latency_ms,
            error: error.map(|kind| AttemptError { kind, message: String::new() }),
            ..HttpResult::default()
        }
    }

    #[test]
    fn a_timeout_or_a_long_answer_is_slow_and_a_quick_failure_is_not() {
        let five = Duration::from_secs(5);
        assert!(attempt_was_slow(&result(1_000, Some(ErrorKind::Timeout)), five), "a 1 s timeout");
        assert!(attempt_was_slow(&result(5_001, None), five), "a success after 5 s");
        assert!(!attempt_was_slow(&result(5_000, None), five));
        assert!(!attempt_was_slow(&result(20, Some(ErrorKind::Connect)), five), "refused at once");
    }

    #[test]
    fn a_request_running_past_the_threshold_makes_the_endpoint_slow() {
        let five = Duration::from_secs(5);
        assert!(in_flight_too_long(&[100_000, 94_000], 100_000, five));
        assert!(!in_flight_too_long(&[95_000, 99_000], 100_000, five));
        assert!(!in_flight_too_long(&[], 100_000, five));
    }
}
