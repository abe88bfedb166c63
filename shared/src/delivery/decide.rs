//! The delivery policy's decisions as pure functions of what is known and of the time, which
//! is always an argument: the circuit breaker, the disable clock, a rate-limit slot's lateness,
//! whether a delivery is due, and whether a message is fresh enough to skip reading its
//! delivery. `engine.rs` feeds them what it read and does what they say.

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::EndpointHealth;

/// How late a delivery may come back for its rate-limit slot and still use it: less than the
/// 5 % margin between slots.
pub const LATE_FOR_SLOT_MS: i64 = 40;

/// A message handed over this early (or earlier) is not yet due: it waits out its schedule.
pub const EARLY_TOLERANCE: time::Duration = time::Duration::seconds(1);

/// A first-round message sent this recently, and handed over for the first time, may be sent
/// without reading its delivery first (see [`may_skip_delivery_read`]).
pub const FRESH_HANDOVER_MS: i64 = 2_000;

/// The circuit breaker's numbers (from `PolicySettings`).
#[derive(Clone, Copy, Debug)]
pub struct CircuitRule {
    /// The attempts it takes before the window's ratio means anything…
    pub min_attempts: u32,
    /// …the failing share that opens the circuit…
    pub failure_ratio: f64,
    /// …and the first cool-down, doubled on each consecutive opening up to the maximum.
    pub cooldown: Duration,
    pub max_cooldown: Duration,
}

/// One health window's counts, as DynamoDB holds them after an ADD of both together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub attempts: u32,
    pub failures: u32,
}

/// How long deliveries wait while the circuit is open, or `None` when it is closed.
pub fn circuit_wait(health: &EndpointHealth, now: OffsetDateTime) -> Option<Duration> {
    health.circuit_open_until.filter(|until| *until > now).map(|until| (until - now).unsigned_abs())
}

/// The cool-down of the `opens`-th consecutive opening (1 for the first): doubled each time,
/// up to the maximum.
pub fn cooldown(rule: &CircuitRule, opens: u32) -> Duration {
    rule.cooldown.saturating_mul(1 << opens.saturating_sub(1).min(16)).min(rule.max_cooldown)
}

/// Whether the window's counts open the circuit: if so, until when and as which consecutive
/// opening. An open circuit is not opened again (its cool-down is not stretched).
pub fn circuit_to_open(
    rule: &CircuitRule,
    health: &EndpointHealth,
    window: WindowCounts,
    now: OffsetDateTime,
) -> Option<(OffsetDateTime, u32)> {
    let WindowCounts { attempts, failures } = window;
    let tripped = attempts >= rule.min_attempts && f64::from(failures) >= rule.failure_ratio * f64::from(attempts);
    if !tripped || circuit_wait(health, now).is_some() {
        return None;
    }
    let opens = health.circuit_opens.saturating_add(1);
    Some((now + cooldown(rule, opens), opens))
}

/// What a failure does to the endpoint's disable clock.
#[derive(Debug, PartialEq, Eq)]
pub enum FailureClock {
    /// The first failure since the last success: remember when failing started.
    StartFailing,
    /// Failing for longer than the endpoint allows: disable it, for this reason.
    Disable { reason: String },
    /// Failing, but not for long enough (or never disabled by time).
    Running,
}

/// The disable clock after a failure at `now`: `failing_since` plus the endpoint's
/// `disable_after_hours` (`None`: never by time).
pub fn failure_clock(
    failing_since: Option<OffsetDateTime>,
    disable_after_hours: Option<u32>,
    now: OffsetDateTime,
) -> FailureClock {
    let Some(since) = failing_since else { return FailureClock::StartFailing };
    match disable_after_hours {
        Some(hours) if now - since >= time::Duration::hours(i64::from(hours)) => FailureClock::Disable {
            reason: format!("no successful delivery for {hours} hours (failing since {since})"),
        },
        _ => FailureClock::Running,
    }
}

/// Whether a success at `now` must write the endpoint's recovery: its circuit has opened, or
/// it has been failing for at least `grace` (a younger failure is left alone, so an endpoint
/// that fails now and then does not cost a write on every success).
pub fn success_recovers(health: &EndpointHealth, now: OffsetDateTime, grace: Duration) -> bool {
    let stale_failure = health.failing_since.is_some_and(|since| now - since >= grace);
    stale_failure || health.circuit_opens > 0 || health.circuit_open_until.is_some()
}

/// Whether a rate-limit slot at `slot_ms` is already further behind `now_ms` than the margin
/// between slots allows: a request sent now would come too close to the next slot's.
pub fn missed(slot_ms: i64, now_ms: i64) -> bool {
    now_ms - slot_ms > LATE_FOR_SLOT_MS
}

/// Whether a delivery is due at `now`, or how long it must still wait (a message handed over
/// early by a lost visibility change or a crash waits out its schedule).
pub fn early_by(next_attempt_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<Duration> {
    let wait = next_attempt_at? - now;
    (wait > EARLY_TOLERANCE).then(|| wait.unsigned_abs())
}

/// How a queue message reached the function, from its SQS attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handover {
    /// Queued by the event's first fan-out (not a resumed ingest, a slow-lane move, a resend
    /// or a recovery, which always read the delivery).
    pub first_round: bool,
    /// `ApproximateReceiveCount`.
    pub receive_count: Option<u32>,
    /// `SentTimestamp`, Unix ms.
    pub sent_at_ms: Option<i64>,
}

impl Handover {
    /// From a record's SQS system attributes (`ApproximateReceiveCount`, `SentTimestamp`) and
    /// the value of its [`crate::queue::ROUND_ATTRIBUTE`] message attribute, as Lambda's SQS
    /// event (and the local poller) carry them.
    pub fn from_sqs(attributes: &std::collections::HashMap<String, String>, round: Option<&str>) -> Self {
        Self {
            first_round: round == Some(crate::queue::FIRST_ROUND),
            receive_count: attributes.get("ApproximateReceiveCount").and_then(|v| v.parse().ok()),
            sent_at_ms: attributes.get("SentTimestamp").and_then(|v| v.parse().ok()),
        }
    }
}

/// Whether the delivery may be sent without reading it first: only a first-round message,
/// handed over for the first time, sent less than [`FRESH_HANDOVER_MS`] ago. Such a message
/// has never been processed, and nothing but the first round can have written its delivery
/// yet; the attempt's claim is still conditioned on attempt 0 of a pending delivery.
pub fn may_skip_delivery_read(handover: &Handover, now_ms: i64) -> bool {
    let fresh = handover.sent_at_ms.is_some_and(|sent| (now_ms - sent).abs() < FRESH_HANDOVER_MS);
    handover.first_round && handover.receive_count == Some(1) && fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn at(seconds_from_now: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW + seconds_from_now).unwrap()
    }

    fn rule() -> CircuitRule {
        CircuitRule {
            min_attempts: 10,
            failure_ratio: 0.7,
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(3600),
        }
    }

    fn health(open_until: Option<OffsetDateTime>, opens: u32) -> EndpointHealth {
        EndpointHealth { circuit_open_until: open_until, circuit_opens: opens, ..EndpointHealth::default() }
    }

    fn counts(attempts: u32, failures: u32) -> WindowCounts {
        WindowCounts { attempts, failures }
    }

    #[test]
    fn the_circuit_opens_at_the_ratio_once_enough_attempts_are_counted() {
        let closed = health(None, 0);
        assert_eq!(circuit_to_open(&rule(), &closed, counts(10, 7), at(0)), Some((at(60), 1)));
        assert_eq!(circuit_to_open(&rule(), &closed, counts(10, 6), at(0)), None, "under 70 %");
        assert_eq!(circuit_to_open(&rule(), &closed, counts(9, 9), at(0)), None, "too few attempts");
    }

    #[test]
    fn each_consecutive_opening_doubles_the_cool_down_up_to_the_maximum() {
        let cases = [(0, 60), (1, 120), (2, 240), (5, 1920), (6, 3600), (40, 3600)];
        for (opens_before, seconds) in cases {
            let lapsed = health(Some(at(-1)), opens_before);
            let (until, opens) = circuit_to_open(&rule(), &lapsed, counts(10, 10), at(0)).unwrap();
            assert_eq!((until, opens), (at(seconds), opens_before + 1), "after {opens_before} openings");
        }
    }

    #[test]
    fn an_open_circuit_defers_until_its_end_and_is_not_opened_again() {
        let open = health(Some(at(30)), 1);
        assert_eq!(circuit_wait(&open, at(0)), Some(Duration::from_secs(30)));
        assert_eq!(circuit_wait(&open, at(30)), None, "closed at its end");
        assert_eq!(circuit_to_open(&rule(), &open, counts(20, 20), at(0)), None);
    }

    #[test]
    fn the_disable_clock_starts_at_the_first_failure_and_disables_after_its_hours() {
        assert_eq!(failure_clock(None, Some(120), at(0)), FailureClock::StartFailing);
        assert_eq!(failure_clock(Some(at(-119 * 3600)), Some(120), at(0)), FailureClock::Running);
        let FailureClock::Disable { reason } = failure_clock(Some(at(-120 * 3600)), Some(120), at(0)) else {
            panic!("120 hours of failing disables")
        };
        assert!(reason.contains("120 hours"), "{reason}");
        assert_eq!(failure_clock(Some(at(-10_000 * 3600)), None, at(0)), FailureClock::Running, "never by time");
    }

    #[test]
    fn a_success_writes_a_recovery_only_for_an_old_failure_or_an_opened_circuit() {
        let grace = Duration::from_secs(60);
        let failing = |since| EndpointHealth { failing_since: Some(since), ..EndpointHealth::default() };
        assert!(!success_recovers(&EndpointHealth::default(), at(0), grace));
        assert!(!success_recovers(&failing(at(-59)), at(0), grace), "a young failure is left alone");
        assert!(success_recovers(&failing(at(-60)), at(0), grace));
        assert!(success_recovers(&health(None, 1), at(0), grace), "the circuit had opened");
        assert!(success_recovers(&health(Some(at(10)), 0), at(0), grace));
    }

    #[test]
    fn a_slot_is_missed_past_the_margin() {
        assert!(!missed(1_000, 1_000 + LATE_FOR_SLOT_MS));
        assert!(missed(1_000, 1_001 + LATE_FOR_SLOT_MS));
        assert!(!missed(1_000, 500), "a slot ahead is not missed");
    }

    #[test]
    fn a_delivery_handed_over_before_its_time_waits_the_rest() {
        assert_eq!(early_by(None, at(0)), None, "never attempted");
        assert_eq!(early_by(Some(at(-5)), at(0)), None, "overdue");
        assert_eq!(early_by(Some(at(1)), at(0)), None, "within the tolerance");
        assert_eq!(early_by(Some(at(30)), at(0)), Some(Duration::from_secs(30)));
    }

    #[test]
    fn the_handover_is_read_from_the_sqs_attributes() {
        let attributes = [("ApproximateReceiveCount", "1"), ("SentTimestamp", "1700000000123"), ("SenderId", "X")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let expected = Handover { first_round: true, receive_count: Some(1), sent_at_ms: Some(1_700_000_000_123) };
        assert_eq!(Handover::from_sqs(&attributes, Some("first")), expected);
        assert_eq!(Handover::from_sqs(&attributes, None), Handover { first_round: false, ..expected });
        assert_eq!(Handover::from_sqs(&Default::default(), Some("later")), Handover::default());
    }

    #[test]
    fn only_a_fresh_first_handover_of_a_first_round_message_skips_the_read() {
        let now_ms = 10_000_000;
        let fresh = Handover { first_round: true, receive_count: Some(1), sent_at_ms: Some(now_ms - 1_999) };
        assert!(may_skip_delivery_read(&fresh, now_ms));
        let cases = [
            ("handed over before", Handover { receive_count: Some(2), ..fresh }),
            ("no receive count", Handover { receive_count: None, ..fresh }),
            ("sent 2 s ago", Handover { sent_at_ms: Some(now_ms - 2_000), ..fresh }),
            ("no sent time", Handover { sent_at_ms: None, ..fresh }),
            ("a copy, resend or recovery", Handover { first_round: false, ..fresh }),
            ("unknown", Handover::default()),
        ];
        for (case, handover) in cases {
            assert!(!may_skip_delivery_read(&handover, now_ms), "{case}");
        }
    }
}
