//! Retry policies: how long to wait after a failed attempt, and when to stop.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{FieldError, Invalid};

/// The longest SQS lets a message stay invisible, hence the longest single wait.
pub const MAX_STEP_SECONDS: u32 = 12 * 60 * 60;
/// The queue's retention: a delivery still waiting after this would be dropped by SQS.
pub const MAX_HORIZON_SECONDS: u64 = 14 * 24 * 60 * 60;
/// Attempts in all, first one included.
pub const MAX_ATTEMPTS: u32 = 50;
/// Exponential delays move by up to this fraction either way, so failed deliveries of one
/// outage do not all come back at the same second.
pub const JITTER: f64 = 0.2;

/// When to try again after a failed attempt.
///
/// `{"schedule_seconds": [...]}` without a `strategy` is the `schedule` strategy (the
/// walking skeleton's shape keeps working).
///
/// The document's bounds are [`MAX_STEP_SECONDS`] and [`MAX_ATTEMPTS`]; the whole schedule must
/// also end within [`MAX_HORIZON_SECONDS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "strategy", rename_all = "snake_case", try_from = "RawRetryPolicy")]
pub enum RetryPolicy {
    /// `initial × 2^(n-1)` after attempt `n`, ±20 % jitter, capped at `max_seconds`.
    Exponential {
        #[schema(minimum = 1, maximum = 43200)]
        initial_seconds: u32,
        #[schema(minimum = 1, maximum = 43200)]
        max_seconds: u32,
        #[schema(minimum = 1, maximum = 50)]
        max_attempts: u32,
    },
    /// `interval × n` after attempt `n`, as FastComments does.
    Linear {
        #[schema(minimum = 1, maximum = 43200)]
        interval_seconds: u32,
        #[schema(minimum = 1, maximum = 50)]
        max_attempts: u32,
    },
    /// `schedule_seconds[n-1]` after attempt `n`, as Svix does; spent after the last step.
    Schedule {
        /// At most 49 waits, each 1 to 43200 seconds.
        #[schema(max_items = 49)]
        schedule_seconds: Vec<u32>,
    },
}

/// The default: 5 s doubling to a 10 h cap, 15 attempts over about 21 hours (Svix's schedule
/// spans a similar day and a half).
impl Default for RetryPolicy {
    fn default() -> Self {
        Self::Exponential { initial_seconds: 5, max_seconds: 36_000, max_attempts: 15 }
    }
}

/// The accepted input shape, before the strategy is known.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetryPolicy {
    strategy: Option<String>,
    initial_seconds: Option<u32>,
    max_seconds: Option<u32>,
    max_attempts: Option<u32>,
    interval_seconds: Option<u32>,
    schedule_seconds: Option<Vec<u32>>,
}

impl TryFrom<RawRetryPolicy> for RetryPolicy {
    type Error = String;

    fn try_from(raw: RawRetryPolicy) -> Result<Self, String> {
        let strategy = match raw.strategy.as_deref() {
            Some(s) => s,
            None if raw.schedule_seconds.is_some() => "schedule",
            None => "exponential",
        };
        let unexpected = |name: &str, present: bool| {
            if present { Err(format!("`{name}` does not apply to the `{strategy}` strategy")) } else { Ok(()) }
        };
        match strategy {
            "exponential" => {
                unexpected("interval_seconds", raw.interval_seconds.is_some())?;
                unexpected("schedule_seconds", raw.schedule_seconds.is_some())?;
                Ok(Self::Exponential {
                    initial_seconds: raw.initial_seconds.unwrap_or(5),
                    max_seconds: raw.max_seconds.unwrap_or(36_000),
                    max_attempts: raw.max_attempts.unwrap_or(15),
                })
            }
            "linear" => {
                unexpected("initial_seconds", raw.initial_seconds.is_some())?;
                unexpected("max_seconds", raw.max_seconds.is_some())?;
                unexpected("schedule_seconds", raw.schedule_seconds.is_some())?;
                Ok(Self::Linear {
                    interval_seconds: raw.interval_seconds.unwrap_or(60),
                    max_attempts: raw.max_attempts.unwrap_or(10),
                })
            }
            "schedule" => {
                for (name, present) in [
                    ("initial_seconds", raw.initial_seconds.is_some()),
                    ("max_seconds", raw.max_seconds.is_some()),
                    ("max_attempts", raw.max_attempts.is_some()),
                    ("interval_seconds", raw.interval_seconds.is_some()),
                ] {
                    unexpected(name, present)?;
                }
                let schedule_seconds =
                    raw.schedule_seconds.ok_or("the `schedule` strategy needs `schedule_seconds`")?;
                Ok(Self::Schedule { schedule_seconds })
            }
            other => Err(format!("unknown retry strategy `{other}`: use exponential, linear or schedule")),
        }
    }
}

impl RetryPolicy {
    pub fn schedule(schedule_seconds: Vec<u32>) -> Self {
        Self::Schedule { schedule_seconds }
    }

    pub fn validate(self, field: &str) -> Result<Self, Invalid> {
        let mut errors = Vec::new();
        let mut error = |name: &str, message: String| {
            let path = if name.is_empty() { field.to_owned() } else { format!("{field}.{name}") };
            errors.push(FieldError::new(path, message));
        };
        let step_message = format!("each delay is 1 to {MAX_STEP_SECONDS} seconds (12 h, the SQS visibility ceiling)");
        match &self {
            Self::Exponential { initial_seconds, max_seconds, max_attempts } => {
                if !(1..=MAX_STEP_SECONDS).contains(initial_seconds) {
                    error("initial_seconds", step_message.clone());
                }
                if !(1..=MAX_STEP_SECONDS).contains(max_seconds) {
                    error("max_seconds", step_message);
                } else if max_seconds < initial_seconds {
                    error("max_seconds", "at least initial_seconds".to_owned());
                }
                check_attempts(*max_attempts, &mut error);
            }
            Self::Linear { interval_seconds, max_attempts } => {
                let longest = u64::from(*interval_seconds) * u64::from(max_attempts.saturating_sub(1));
                if *interval_seconds == 0 || longest > u64::from(MAX_STEP_SECONDS) {
                    error(
                        "interval_seconds",
                        format!("1 s or more, and interval × (max_attempts − 1) at most {MAX_STEP_SECONDS} s (12 h)"),
                    );
                }
                check_attempts(*max_attempts, &mut error);
            }
            Self::Schedule { schedule_seconds } => {
                if schedule_seconds.len() >= MAX_ATTEMPTS as usize {
                    error("schedule_seconds", format!("at most {} retries", MAX_ATTEMPTS - 1));
                }
                for (i, step) in schedule_seconds.iter().enumerate() {
                    if *step == 0 || *step > MAX_STEP_SECONDS {
                        error(&format!("schedule_seconds[{i}]"), step_message.clone());
                    }
                }
            }
        }
        if errors.is_empty() {
            let horizon = self.horizon_seconds();
            if horizon > MAX_HORIZON_SECONDS {
                errors.push(FieldError::new(
                    field,
                    format!("the delays add up to {horizon} s, beyond the queue's 14-day retention"),
                ));
            }
        }
        if errors.is_empty() { Ok(self) } else { Err(Invalid(errors)) }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        match self {
            Self::Exponential { max_attempts, .. } | Self::Linear { max_attempts, .. } => *max_attempts,
            Self::Schedule { schedule_seconds } => {
                u32::try_from(schedule_seconds.len()).unwrap_or(u32::MAX).saturating_add(1)
            }
        }
    }

    /// The planned wait after attempt `attempt` (1-based) before jitter, or `None` once spent.
    pub fn nominal_delay(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts() {
            return None;
        }
        let seconds = match self {
            Self::Exponential { initial_seconds, max_seconds, .. } => {
                let doubled = u64::from(*initial_seconds).saturating_mul(1u64 << (attempt - 1).min(40));
                doubled.min(u64::from(*max_seconds))
            }
            Self::Linear { interval_seconds, .. } => u64::from(*interval_seconds) * u64::from(attempt),
            Self::Schedule { schedule_seconds } => u64::from(*schedule_seconds.get(attempt as usize - 1)?),
        };
        Some(Duration::from_secs(seconds.min(u64::from(MAX_STEP_SECONDS))))
    }

    /// The wait after attempt `attempt`, with jitter for the exponential strategy.
    pub fn delay_after(&self, attempt: u32, rng: &mut impl Rng) -> Option<Duration> {
        let nominal = self.nominal_delay(attempt)?;
        let Self::Exponential { max_seconds, .. } = self else { return Some(nominal) };
        let factor = 1.0 + rng.random_range(-JITTER..=JITTER);
        let cap = Duration::from_secs(u64::from((*max_seconds).min(MAX_STEP_SECONDS)));
        Some(nominal.mul_f64(factor).min(cap).max(Duration::from_secs(1)))
    }

    /// The longest all retries can take.
    fn horizon_seconds(&self) -> u64 {
        let attempts = self.max_attempts().min(MAX_ATTEMPTS);
        (1..attempts).filter_map(|n| self.nominal_delay(n)).map(|d| d.as_secs()).sum()
    }
}

fn check_attempts(max_attempts: u32, error: &mut impl FnMut(&str, String)) {
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        error("max_attempts", format!("1 to {MAX_ATTEMPTS} attempts"));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    fn parse(json: &str) -> Result<RetryPolicy, String> {
        serde_json::from_str::<RetryPolicy>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn exponential_doubles_up_to_its_cap_then_stops() {
        let policy = RetryPolicy::Exponential { initial_seconds: 5, max_seconds: 60, max_attempts: 6 };
        let delays: Vec<_> = (1..=6).map(|n| policy.nominal_delay(n)).collect();
        assert_eq!(delays, [secs(5), secs(10), secs(20), secs(40), secs(60), None]);
    }

    #[test]
    fn exponential_jitter_stays_within_twenty_percent_and_the_cap() {
        let policy = RetryPolicy::Exponential { initial_seconds: 100, max_seconds: 150, max_attempts: 5 };
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let first = policy.delay_after(1, &mut rng).unwrap();
            assert!((80.0..=120.0).contains(&first.as_secs_f64()), "{first:?}");
            seen.insert(first.as_millis());
            let capped = policy.delay_after(3, &mut rng).unwrap();
            assert!(capped <= Duration::from_secs(150) && capped >= Duration::from_secs(120), "{capped:?}");
        }
        assert!(seen.len() > 100, "jitter spreads the delays");
    }

    #[test]
    fn linear_is_interval_times_attempt_count() {
        let policy = RetryPolicy::Linear { interval_seconds: 60, max_attempts: 4 };
        let delays: Vec<_> = (1..=4).map(|n| policy.nominal_delay(n)).collect();
        assert_eq!(delays, [secs(60), secs(120), secs(180), None]);
    }

    #[test]
    fn a_schedule_is_followed_exactly_and_spent_after_its_last_step() {
        let policy = RetryPolicy::schedule(vec![1, 1, 1]);
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.delay_after(3, &mut rng), secs(1));
        assert_eq!(policy.delay_after(4, &mut rng), None);
        assert_eq!(policy.delay_after(0, &mut rng), None);
        assert_eq!(RetryPolicy::schedule(vec![]).nominal_delay(1), None);
    }

    #[test]
    fn the_default_is_exponential_over_about_a_day() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 15);
        assert_eq!(policy.nominal_delay(1), secs(5));
        assert_eq!(policy.nominal_delay(14), secs(36_000));
        let hours = policy.horizon_seconds() as f64 / 3600.0;
        assert!((20.0..24.0).contains(&hours), "{hours}");
        assert!(policy.validate("retry").is_ok());
    }

    #[test]
    fn every_shape_parses_and_the_bare_schedule_means_the_schedule_strategy() {
        assert_eq!(parse(r#"{"schedule_seconds":[5,300]}"#).unwrap(), RetryPolicy::schedule(vec![5, 300]));
        assert_eq!(
            parse(r#"{"strategy":"exponential","initial_seconds":5,"max_seconds":36000,"max_attempts":8}"#).unwrap(),
            RetryPolicy::Exponential { initial_seconds: 5, max_seconds: 36000, max_attempts: 8 }
        );
        assert_eq!(
            parse(r#"{"strategy":"linear","interval_seconds":60,"max_attempts":10}"#).unwrap(),
            RetryPolicy::Linear { interval_seconds: 60, max_attempts: 10 }
        );
        assert!(parse(r#"{"strategy":"fibonacci"}"#).unwrap_err().contains("unknown retry strategy"));
        assert!(parse(r#"{"strategy":"linear","schedule_seconds":[1]}"#).unwrap_err().contains("does not apply"));
        assert!(parse(r#"{"schedule_seconds":[1],"bogus":1}"#).is_err());
        // Stored policies read back as written.
        let stored = serde_json::to_string(&RetryPolicy::schedule(vec![1, 2])).unwrap();
        assert_eq!(stored, r#"{"strategy":"schedule","schedule_seconds":[1,2]}"#);
        assert_eq!(parse(&stored).unwrap(), RetryPolicy::schedule(vec![1, 2]));
    }

    #[test]
    fn validation_names_each_bad_field() {
        let err = RetryPolicy::schedule(vec![5, 0, 43201]).validate("retry").unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["retry.schedule_seconds[1]", "retry.schedule_seconds[2]"]);
        let long = RetryPolicy::schedule(vec![43200; 29]).validate("retry").unwrap_err();
        assert!(long.0[0].message.contains("retention"), "{long}");
        assert!(RetryPolicy::schedule(vec![43200; 28]).validate("retry").is_ok());

        let err = RetryPolicy::Exponential { initial_seconds: 0, max_seconds: 50_000, max_attempts: 51 }
            .validate("retry")
            .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["retry.initial_seconds", "retry.max_seconds", "retry.max_attempts"]);
        // 50 attempts at the 12 h cap is 24 days: past the queue's retention.
        let err = RetryPolicy::Exponential { initial_seconds: 43200, max_seconds: 43200, max_attempts: 50 }
            .validate("retry")
            .unwrap_err();
        assert_eq!(err.0[0].field, "retry");
        let err = RetryPolicy::Linear { interval_seconds: 3600, max_attempts: 14 }.validate("retry").unwrap_err();
        assert_eq!(err.0[0].field, "retry.interval_seconds");
        assert!(RetryPolicy::Linear { interval_seconds: 3600, max_attempts: 13 }.validate("retry").is_ok());
    }
}
