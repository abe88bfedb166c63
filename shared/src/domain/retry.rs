use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{FieldError, Invalid};

/// The longest SQS lets a message stay invisible, hence the longest single wait.
pub const MAX_STEP_SECONDS: u32 = 12 * 60 * 60;
/// The queue's retention: a delivery still waiting after this would be dropped by SQS.
pub const MAX_HORIZON_SECONDS: u64 = 14 * 24 * 60 * 60;
const MAX_STEPS: usize = 50;

/// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (eight attempts in all).
const DEFAULT_SCHEDULE: [u32; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

/// When to try again after a failed attempt: `schedule_seconds[n - 1]` after attempt `n`, and
/// no more attempts once the list is spent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub schedule_seconds: Vec<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { schedule_seconds: DEFAULT_SCHEDULE.to_vec() }
    }
}

impl RetryPolicy {
    pub fn validate(self, field: &str) -> Result<Self, Invalid> {
        let mut errors = Vec::new();
        if self.schedule_seconds.len() > MAX_STEPS {
            errors.push(FieldError::new(format!("{field}.schedule_seconds"), format!("at most {MAX_STEPS} retries")));
        }
        for (i, step) in self.schedule_seconds.iter().enumerate() {
            if *step == 0 || *step > MAX_STEP_SECONDS {
                errors.push(FieldError::new(
                    format!("{field}.schedule_seconds[{i}]"),
                    format!("each delay is 1 to {MAX_STEP_SECONDS} seconds (12 h, the SQS visibility ceiling)"),
                ));
            }
        }
        let horizon: u64 = self.schedule_seconds.iter().map(|s| u64::from(*s)).sum();
        if horizon > MAX_HORIZON_SECONDS {
            errors.push(FieldError::new(
                format!("{field}.schedule_seconds"),
                format!("the delays add up to {horizon} s, beyond the queue's 14-day retention"),
            ));
        }
        if errors.is_empty() { Ok(self) } else { Err(Invalid(errors)) }
    }

    /// The wait before the attempt after `attempt` (1-based), or `None` once the policy is spent.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.schedule_seconds.get(index).map(|s| Duration::from_secs(u64::from(*s)))
    }

    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.schedule_seconds.len()).unwrap_or(u32::MAX).saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_gives_eight_attempts() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 8);
        assert_eq!(policy.delay_after(1), Some(Duration::from_secs(5)));
        assert_eq!(policy.delay_after(2), Some(Duration::from_secs(300)));
        assert_eq!(policy.delay_after(7), Some(Duration::from_secs(36000)));
        assert_eq!(policy.delay_after(8), None);
    }

    #[test]
    fn a_short_schedule_is_spent_after_its_last_step() {
        let policy = RetryPolicy { schedule_seconds: vec![1, 1, 1] };
        assert_eq!(policy.delay_after(3), Some(Duration::from_secs(1)));
        assert_eq!(policy.delay_after(4), None);
        assert_eq!(policy.delay_after(0), None);
        assert_eq!(RetryPolicy { schedule_seconds: vec![] }.delay_after(1), None);
    }

    #[test]
    fn validation_names_each_bad_step() {
        let err = RetryPolicy { schedule_seconds: vec![5, 0, 43201] }.validate("retry").unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["retry.schedule_seconds[1]", "retry.schedule_seconds[2]"]);
        let long = RetryPolicy { schedule_seconds: vec![43200; 29] }.validate("retry").unwrap_err();
        assert!(long.0[0].message.contains("retention"), "{long}");
        assert!(RetryPolicy { schedule_seconds: vec![43200; 28] }.validate("retry").is_ok());
    }
}
