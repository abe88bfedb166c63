//! What an attempt's result means for the delivery: the status classes and the next wait.
//!
//! - 2xx delivers.
//! - Network errors, DNS, TLS, timeouts, a blocked address, 408, 409, 425, 429 and 5xx are
//!   retried on the endpoint's policy.
//! - A status that says the endpoint is gone (410, and for chat rooms the statuses their
//!   services use for a deleted webhook) fails the delivery and disables the endpoint.
//! - Redirects (not followed) and every other 4xx fail at once, as does a request that could not
//!   be rendered (nothing was sent; the same event would render the same way again).
//!
//! `Retry-After` on 429 and 503 stretches the scheduled wait (never shortens it), as
//! EventBridge API destinations do; a 429 or a timeout without it waits at least a minute.

use std::time::Duration;

use rand::Rng;

use super::http::HttpResult;
use crate::domain::{ErrorKind, RetryPolicy};
use crate::queue::MAX_VISIBILITY;

/// The least wait after a 429 or a timeout that gave no `Retry-After`.
pub const BACKOFF_FLOOR: Duration = Duration::from_secs(60);

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    RetryIn(Duration),
    /// The delivery has failed and waits for a replay; `disable` says why the endpoint should
    /// be disabled too.
    Failed {
        disable: Option<String>,
    },
}

/// How a result is classed, before the policy is consulted.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    Success,
    Retryable { at_least: Option<Duration> },
    Permanent,
    Gone(String),
}

fn classify(result: &HttpResult, rules: &Rules) -> Class {
    match result.status {
        Some(200..=299) => Class::Success,
        Some(status) if rules.gone_statuses.contains(&status) => {
            Class::Gone(format!("the endpoint answered {status}, which means it no longer exists"))
        }
        Some(429) => Class::Retryable { at_least: Some(result.retry_after.unwrap_or(rules.backoff_floor)) },
        Some(503) => Class::Retryable { at_least: result.retry_after },
        Some(408 | 409 | 425 | 500..=599) => Class::Retryable { at_least: None },
        Some(_) => Class::Permanent,
        None => match result.error.as_ref().map(|e| e.kind) {
            Some(ErrorKind::Timeout) => Class::Retryable { at_least: Some(rules.backoff_floor) },
            // The same event renders the same way next time: retrying only repeats the work.
            Some(ErrorKind::RenderTooLarge | ErrorKind::RenderFailed) => Class::Permanent,
            _ => Class::Retryable { at_least: None },
        },
    }
}

/// The target-specific part of the classes.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// Statuses that mean the endpoint no longer exists (410; chat rooms add their own).
    pub gone_statuses: &'a [u16],
    /// The least wait after a 429 or timeout without `Retry-After` ([`BACKOFF_FLOOR`]).
    pub backoff_floor: Duration,
}

impl Default for Rules<'_> {
    fn default() -> Self {
        Self { gone_statuses: &[410], backoff_floor: BACKOFF_FLOOR }
    }
}

/// Decides what follows attempt number `attempt`.
pub fn judge(result: &HttpResult, policy: &RetryPolicy, attempt: u32, rules: &Rules, rng: &mut impl Rng) -> Verdict {
    match classify(result, rules) {
        Class::Success => Verdict::Delivered,
        Class::Gone(reason) => Verdict::Failed { disable: Some(reason) },
        Class::Permanent => Verdict::Failed { disable: None },
        Class::Retryable { at_least } => match policy.delay_after(attempt, rng) {
            Some(scheduled) => Verdict::RetryIn(scheduled.max(at_least.unwrap_or_default()).min(MAX_VISIBILITY)),
            None => Verdict::Failed { disable: None },
        },
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::domain::AttemptError;

    const GONE: &Rules = &Rules { gone_statuses: &[410], backoff_floor: BACKOFF_FLOOR };

    fn status(code: u16) -> HttpResult {
        HttpResult { status: Some(code), ..HttpResult::default() }
    }

    fn failure(kind: ErrorKind) -> HttpResult {
        HttpResult { error: Some(AttemptError { kind, message: "x".into() }), ..HttpResult::default() }
    }

    fn judge_first(result: &HttpResult, policy: &RetryPolicy) -> Verdict {
        judge(result, policy, 1, GONE, &mut StdRng::seed_from_u64(3))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn every_2xx_delivers() {
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(judge_first(&status(code), &RetryPolicy::default()), Verdict::Delivered, "{code}");
        }
    }

    #[test]
    fn retryable_failures_follow_the_schedule_then_fail() {
        let policy = RetryPolicy::schedule(vec![1, 2]);
        let mut rng = StdRng::seed_from_u64(1);
        for result in [
            status(500),
            status(502),
            status(408),
            status(409),
            status(425),
            failure(ErrorKind::Connect),
            failure(ErrorKind::Dns),
            failure(ErrorKind::Tls),
            failure(ErrorKind::Blocked),
        ] {
            assert_eq!(judge(&result, &policy, 1, GONE, &mut rng), Verdict::RetryIn(secs(1)), "{result:?}");
            assert_eq!(judge(&result, &policy, 2, GONE, &mut rng), Verdict::RetryIn(secs(2)), "{result:?}");
            assert_eq!(judge(&result, &policy, 3, GONE, &mut rng), Verdict::Failed { disable: None }, "{result:?}");
        }
    }

    #[test]
    fn other_4xx_and_redirects_fail_at_once() {
        for code in [301, 302, 307, 400, 401, 403, 404, 413, 422] {
            assert_eq!(
                judge_first(&status(code), &RetryPolicy::default()),
                Verdict::Failed { disable: None },
                "{code}"
            );
        }
    }

    #[test]
    fn a_request_that_could_not_be_rendered_fails_at_once() {
        for kind in [ErrorKind::RenderTooLarge, ErrorKind::RenderFailed] {
            assert_eq!(
                judge_first(&failure(kind), &RetryPolicy::default()),
                Verdict::Failed { disable: None },
                "{kind:?}"
            );
        }
    }

    #[test]
    fn gone_fails_and_disables() {
        let Verdict::Failed { disable: Some(reason) } = judge_first(&status(410), &RetryPolicy::default()) else {
            panic!("410 must fail and disable")
        };
        assert!(reason.contains("410"));
        // Chat rooms add their own "this webhook was deleted" statuses.
        let rules = Rules { gone_statuses: &[403, 404, 410], ..Rules::default() };
        let chime = judge(&status(404), &RetryPolicy::default(), 1, &rules, &mut StdRng::seed_from_u64(1));
        assert!(matches!(chime, Verdict::Failed { disable: Some(_), .. }));
    }

    #[test]
    fn retry_after_stretches_but_never_shortens_the_wait() {
        let policy = RetryPolicy::schedule(vec![30]);
        let with = |code, after| HttpResult { status: Some(code), retry_after: after, ..HttpResult::default() };
        assert_eq!(judge_first(&with(503, Some(secs(120))), &policy), Verdict::RetryIn(secs(120)));
        assert_eq!(judge_first(&with(503, Some(secs(5))), &policy), Verdict::RetryIn(secs(30)));
        assert_eq!(judge_first(&with(429, Some(secs(90))), &policy), Verdict::RetryIn(secs(90)));
        assert_eq!(judge_first(&with(429, Some(secs(7 * 86_400))), &policy), Verdict::RetryIn(MAX_VISIBILITY));
        // Retry-After on other statuses is not a promise we rely on.
        assert_eq!(judge_first(&with(500, Some(secs(120))), &policy), Verdict::RetryIn(secs(30)));
        // A spent policy fails even when the receiver asks to come back.
        let spent = judge(&with(503, Some(secs(10))), &policy, 2, GONE, &mut StdRng::seed_from_u64(1));
        assert_eq!(spent, Verdict::Failed { disable: None });
    }

    #[test]
    fn a_429_or_timeout_without_retry_after_waits_at_least_a_minute() {
        let policy = RetryPolicy::schedule(vec![5]);
        assert_eq!(judge_first(&status(429), &policy), Verdict::RetryIn(BACKOFF_FLOOR));
        assert_eq!(judge_first(&failure(ErrorKind::Timeout), &policy), Verdict::RetryIn(BACKOFF_FLOOR));
        assert_eq!(judge_first(&status(503), &policy), Verdict::RetryIn(secs(5)));
    }
}
