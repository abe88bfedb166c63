//! What an attempt's result means for the delivery.

use std::time::Duration;

use super::http::HttpResult;
use crate::domain::RetryPolicy;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    RetryIn(Duration),
    /// The policy is spent: the delivery has failed and waits for a replay.
    GiveUp,
}

/// Any 2xx delivers; anything else is tried again on the endpoint's schedule until it is spent.
pub fn judge(result: &HttpResult, policy: &RetryPolicy, attempt: u32) -> Verdict {
    if result.succeeded() {
        return Verdict::Delivered;
    }
    match policy.delay_after(attempt) {
        Some(delay) => Verdict::RetryIn(delay),
        None => Verdict::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AttemptError, ErrorKind};

    fn status(code: u16) -> HttpResult {
        HttpResult { status: Some(code), error: None, latency_ms: 1, body_excerpt: String::new() }
    }

    fn failure(kind: ErrorKind) -> HttpResult {
        HttpResult {
            status: None,
            error: Some(AttemptError { kind, message: "x".into() }),
            latency_ms: 1,
            body_excerpt: String::new(),
        }
    }

    #[test]
    fn every_2xx_delivers() {
        let policy = RetryPolicy::default();
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(judge(&status(code), &policy, 1), Verdict::Delivered, "{code}");
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_give_up() {
        let policy = RetryPolicy { schedule_seconds: vec![1, 2] };
        assert_eq!(judge(&status(500), &policy, 1), Verdict::RetryIn(Duration::from_secs(1)));
        assert_eq!(judge(&failure(ErrorKind::Connect), &policy, 2), Verdict::RetryIn(Duration::from_secs(2)));
        assert_eq!(judge(&status(503), &policy, 3), Verdict::GiveUp);
    }
}
