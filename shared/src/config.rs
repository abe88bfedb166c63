//! Settings read once at cold start from the environment.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set")]
    Missing(&'static str),
    #[error("the environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Everything a function needs to know about its deployment.
#[derive(Clone)]
pub struct Config {
    /// `HOOKLINE_TABLE`: the DynamoDB table.
    pub table: String,
    /// `HOOKLINE_QUEUE_URL`: the deliveries queue.
    pub queue_url: String,
    /// `HOOKLINE_SLOW_QUEUE_URL` (optional; the deliver function only): the slow lane's queue,
    /// for endpoints whose recent attempts timed out or were slow. Without it there is no slow
    /// lane.
    pub slow_queue_url: Option<String>,
    /// `HOOKLINE_DLQ_URL` (optional): the deliveries queue's dead-letter queue, which the api
    /// function redrives (`POST /v1/admin/dlq/redrive`).
    pub dead_letter_queue_url: Option<String>,
    /// `HOOKLINE_ADMIN_TOKEN`: the operator's bearer token for `/v1/tenants` (the api function only).
    pub admin_token: Option<String>,
    /// `HOOKLINE_RETENTION_DAYS` (default 30): how long events and attempts are kept.
    pub retention: Duration,
    /// `HOOKLINE_DEV_ALLOW_LOOPBACK=1`: local development may deliver to loopback over plain
    /// http. `template.yaml` never sets it.
    pub dev_allow_loopback: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("queue_url", &self.queue_url)
            .field("slow_queue_url", &self.slow_queue_url)
            .field("dead_letter_queue_url", &self.dead_letter_queue_url)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("retention", &self.retention)
            .field("dev_allow_loopback", &self.dev_allow_loopback)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name));
        let retention_days: u64 = match lookup("HOOKLINE_RETENTION_DAYS") {
            None => 30,
            Some(text) => text.parse().ok().filter(|d| (1..=365).contains(d)).ok_or(ConfigError::Invalid {
                name: "HOOKLINE_RETENTION_DAYS",
                reason: "a number of days from 1 to 365".into(),
            })?,
        };
        let dev_allow_loopback = match lookup("HOOKLINE_DEV_ALLOW_LOOPBACK").as_deref() {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(_) => {
                return Err(ConfigError::Invalid { name: "HOOKLINE_DEV_ALLOW_LOOPBACK", reason: "use 1 or 0".into() });
            }
        };
        Ok(Self {
            table: required("HOOKLINE_TABLE")?,
            queue_url: required("HOOKLINE_QUEUE_URL")?,
            slow_queue_url: lookup("HOOKLINE_SLOW_QUEUE_URL").filter(|u| !u.is_empty()),
            dead_letter_queue_url: lookup("HOOKLINE_DLQ_URL").filter(|u| !u.is_empty()),
            admin_token: lookup("HOOKLINE_ADMIN_TOKEN").filter(|t| !t.is_empty()),
            retention: Duration::from_secs(retention_days * 24 * 60 * 60),
            dev_allow_loopback,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn names_the_missing_variable() {
        assert_eq!(config(&[("HOOKLINE_TABLE", "t")]).unwrap_err(), ConfigError::Missing("HOOKLINE_QUEUE_URL"));
    }

    #[test]
    fn defaults_are_safe() {
        let c = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q")]).unwrap();
        assert!(!c.dev_allow_loopback);
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        assert!(c.admin_token.is_none());
        assert!(c.dead_letter_queue_url.is_none());
        assert!(c.slow_queue_url.is_none(), "no slow lane unless the template names one");
    }

    #[test]
    fn reads_the_optional_slow_lane_queue() {
        let c = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_SLOW_QUEUE_URL", "slow")])
            .unwrap();
        assert_eq!(c.slow_queue_url.as_deref(), Some("slow"));
    }

    #[test]
    fn reads_the_optional_dead_letter_queue() {
        let c = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_DLQ_URL", "dlq")]).unwrap();
        assert_eq!(c.dead_letter_queue_url.as_deref(), Some("dlq"));
        let empty = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_DLQ_URL", "")]).unwrap();
        assert!(empty.dead_letter_queue_url.is_none());
    }

    #[test]
    fn debug_output_hides_the_admin_token() {
        let c =
            config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_ADMIN_TOKEN", "s3cret-token")])
                .unwrap();
        assert!(!format!("{c:?}").contains("s3cret-token"));
    }

    #[test]
    fn refuses_unclear_flags() {
        let err =
            config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_DEV_ALLOW_LOOPBACK", "yes")]);
        assert!(matches!(err, Err(ConfigError::Invalid { name: "HOOKLINE_DEV_ALLOW_LOOPBACK", .. })));
    }
}
