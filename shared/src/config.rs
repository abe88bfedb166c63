//! Settings read once at cold start from the environment.

use std::time::Duration;

use crate::guard::Egress;

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
    /// `HOOKLINE_EGRESS` (`public-only` by default, `public-and-loopback`, `loopback-only`):
    /// where deliveries and test sends may go. Without it, the older
    /// `HOOKLINE_DEV_ALLOW_LOOPBACK=1` means `public-and-loopback`. Any mode that reaches
    /// loopback also accepts plain-http endpoints (local receivers). `template.yaml` sets
    /// neither.
    pub egress: Egress,
    /// `HOOKLINE_ALLOW_HTTP=true` (the template's `AllowHttpEndpoints`, default false): the
    /// deployment accepts plain http endpoint URLs. Credentials and custom headers still go
    /// only to https.
    pub allow_http: bool,
    /// `HOOKLINE_DASHBOARD_FRAME_ANCESTORS` (default `'none'`): who may embed the dashboard in
    /// a frame (the template's `DashboardFrameAncestors`).
    pub dashboard_frame_ancestors: FrameAncestors,
    /// `HOOKLINE_RECOVER_BUDGET_MS` (default 5000, at most 10 000; the api function has 15 s):
    /// how long one `POST /v1/endpoints/{id}/recover` re-queues before it answers with a
    /// `continuation`. A recovery always finishes the batch it started, so 0 means one batch
    /// per call.
    pub recover_budget: Duration,
    /// `HOOKLINE_AUTH_CACHE_SECONDS` (0 to 10, default 10): how long a warm instance acts on
    /// what it read about an API key and its tenant (revocation, deletion, suspension, quotas
    /// and event types reach every instance within it). 0 reads them on every request.
    pub auth_cache_ttl: Duration,
}

/// The default [`Config::recover_budget`]: a third of the api function's timeout, so the last
/// batch and the answer fit in the rest.
pub const DEFAULT_RECOVER_BUDGET: Duration = Duration::from_secs(5);
/// The largest [`Config::recover_budget`] accepted.
pub const MAX_RECOVER_BUDGET: Duration = Duration::from_secs(10);

/// The CSP `frame-ancestors` sources allowed to embed the dashboard: `'none'`, or `'self'`
/// and/or `https://` origins. Checked here because the value is pasted into a response header,
/// where a `;` would let it add directives of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameAncestors(String);

impl Default for FrameAncestors {
    fn default() -> Self {
        Self("'none'".to_owned())
    }
}

impl FrameAncestors {
    pub fn parse(text: &str) -> Result<Self, String> {
        let sources: Vec<&str> = text.split_ascii_whitespace().collect();
        if sources.is_empty() || sources == ["'none'"] {
            return Ok(Self::default());
        }
        for source in &sources {
            if *source != "'self'" && !is_https_origin(source) {
                return Err(format!(
                    "`{source}` is not 'self' or an https:// origin (scheme, host and optional port, nothing else)"
                ));
            }
        }
        Ok(Self(sources.join(" ")))
    }

    /// The value of the CSP `frame-ancestors` directive.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The legacy `X-Frame-Options` equivalent, where there is one (it cannot name origins).
    pub fn x_frame_options(&self) -> Option<&'static str> {
        match self.0.as_str() {
            "'none'" => Some("DENY"),
            "'self'" => Some("SAMEORIGIN"),
            _ => None,
        }
    }
}

/// `https://host[:port]`, the host made of letters, digits, `-` and `.` (or a `*.` wildcard
/// prefix, which CSP allows).
fn is_https_origin(source: &str) -> bool {
    let Some(rest) = source.strip_prefix("https://") else { return false };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && !host.starts_with(['.', '-'])
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
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
            .field("egress", &self.egress)
            .field("allow_http", &self.allow_http)
            .field("dashboard_frame_ancestors", &self.dashboard_frame_ancestors)
            .field("recover_budget", &self.recover_budget)
            .field("auth_cache_ttl", &self.auth_cache_ttl)
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
        let flag = |name: &'static str| flag(&lookup, name);
        let egress = read_egress(&lookup)?;
        let allow_http = flag("HOOKLINE_ALLOW_HTTP")?;
        let dashboard_frame_ancestors = match lookup("HOOKLINE_DASHBOARD_FRAME_ANCESTORS") {
            None => FrameAncestors::default(),
            Some(text) => FrameAncestors::parse(&text)
                .map_err(|reason| ConfigError::Invalid { name: "HOOKLINE_DASHBOARD_FRAME_ANCESTORS", reason })?,
        };
        let recover_budget = match lookup("HOOKLINE_RECOVER_BUDGET_MS") {
            None => DEFAULT_RECOVER_BUDGET,
            Some(text) => {
                text.parse().ok().map(Duration::from_millis).filter(|budget| *budget <= MAX_RECOVER_BUDGET).ok_or(
                    ConfigError::Invalid {
                        name: "HOOKLINE_RECOVER_BUDGET_MS",
                        reason: "milliseconds from 0 to 10000".into(),
                    },
                )?
            }
        };
        let auth_cache_ttl = match lookup("HOOKLINE_AUTH_CACHE_SECONDS") {
            None => crate::warm::MAX_AUTH_TTL,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs)
                .filter(|ttl| *ttl <= crate::warm::MAX_AUTH_TTL)
                .ok_or(ConfigError::Invalid {
                    name: "HOOKLINE_AUTH_CACHE_SECONDS",
                    reason: "0 to 10 seconds".into(),
                })?,
        };
        Ok(Self {
            auth_cache_ttl,
            table: required("HOOKLINE_TABLE")?,
            queue_url: required("HOOKLINE_QUEUE_URL")?,
            slow_queue_url: lookup("HOOKLINE_SLOW_QUEUE_URL").filter(|u| !u.is_empty()),
            dead_letter_queue_url: lookup("HOOKLINE_DLQ_URL").filter(|u| !u.is_empty()),
            admin_token: lookup("HOOKLINE_ADMIN_TOKEN").filter(|t| !t.is_empty()),
            retention: Duration::from_secs(retention_days * 24 * 60 * 60),
            egress,
            allow_http,
            dashboard_frame_ancestors,
            recover_budget,
        })
    }
}

fn flag(lookup: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match lookup(name).as_deref() {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(_) => Err(ConfigError::Invalid { name, reason: "use 1 or 0 (true or false)".into() }),
    }
}

/// `HOOKLINE_EGRESS`, or without it the older `HOOKLINE_DEV_ALLOW_LOOPBACK` flag.
pub fn read_egress(lookup: &impl Fn(&str) -> Option<String>) -> Result<Egress, ConfigError> {
    match lookup("HOOKLINE_EGRESS").filter(|v| !v.is_empty()) {
        Some(text) => Egress::parse(&text).ok_or(ConfigError::Invalid {
            name: "HOOKLINE_EGRESS",
            reason: "public-only (the default), public-and-loopback or loopback-only".into(),
        }),
        None if flag(lookup, "HOOKLINE_DEV_ALLOW_LOOPBACK")? => Ok(Egress::PublicAndLoopback),
        None => Ok(Egress::PublicOnly),
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
        assert_eq!(c.egress, Egress::PublicOnly);
        assert!(!c.allow_http);
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        assert!(c.admin_token.is_none());
        assert!(c.dead_letter_queue_url.is_none());
        assert_eq!(c.dashboard_frame_ancestors.as_str(), "'none'");
        assert!(c.slow_queue_url.is_none(), "no slow lane unless the template names one");
        assert_eq!(c.recover_budget, DEFAULT_RECOVER_BUDGET);
        assert_eq!(c.auth_cache_ttl, Duration::from_secs(10));
        let vars = [("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_AUTH_CACHE_SECONDS", "11")];
        assert!(matches!(config(&vars), Err(ConfigError::Invalid { name: "HOOKLINE_AUTH_CACHE_SECONDS", .. })));
    }

    #[test]
    fn the_recover_budget_stays_well_inside_the_api_timeout() {
        let budget = |ms: &str| {
            config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_RECOVER_BUDGET_MS", ms)])
                .map(|c| c.recover_budget)
        };
        assert_eq!(budget("0"), Ok(Duration::ZERO));
        assert_eq!(budget("2500"), Ok(Duration::from_millis(2500)));
        for bad in ["10001", "-1", "5s", ""] {
            assert!(
                matches!(budget(bad), Err(ConfigError::Invalid { name: "HOOKLINE_RECOVER_BUDGET_MS", .. })),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn reads_the_optional_slow_lane_queue() {
        let c = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_SLOW_QUEUE_URL", "slow")])
            .unwrap();
        assert_eq!(c.slow_queue_url.as_deref(), Some("slow"));
    }

    #[test]
    fn frame_ancestors_are_self_or_https_origins() {
        let ok = |text: &str| FrameAncestors::parse(text).map(|f| f.as_str().to_owned());
        assert_eq!(ok("").unwrap(), "'none'");
        assert_eq!(ok("'self'  https://portal.example.com").unwrap(), "'self' https://portal.example.com");
        assert_eq!(ok("https://*.example.com:8443").unwrap(), "https://*.example.com:8443");
        for bad in [
            "*",
            "http://example.com",
            "https://example.com/path",
            "https://a.example; script-src *",
            "'unsafe-inline'",
            "https://",
            "https://x:99999a",
        ] {
            assert!(FrameAncestors::parse(bad).is_err(), "{bad} was accepted");
        }
        let vars = [("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_DASHBOARD_FRAME_ANCESTORS", "*")];
        assert!(matches!(config(&vars), Err(ConfigError::Invalid { name: "HOOKLINE_DASHBOARD_FRAME_ANCESTORS", .. })));
    }

    #[test]
    fn x_frame_options_follows_frame_ancestors() {
        assert_eq!(FrameAncestors::default().x_frame_options(), Some("DENY"));
        assert_eq!(FrameAncestors::parse("'self'").unwrap().x_frame_options(), Some("SAMEORIGIN"));
        assert_eq!(FrameAncestors::parse("https://a.example").unwrap().x_frame_options(), None);
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
        let err = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_ALLOW_HTTP", "yes")]);
        assert!(matches!(err, Err(ConfigError::Invalid { name: "HOOKLINE_ALLOW_HTTP", .. })));
    }

    #[test]
    fn reads_the_egress_mode_and_the_older_loopback_flag() {
        let egress = |extra: &[(&str, &str)]| {
            let mut vars = vec![("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q")];
            vars.extend_from_slice(extra);
            config(&vars).map(|c| c.egress)
        };
        assert_eq!(egress(&[("HOOKLINE_EGRESS", "loopback-only")]), Ok(Egress::LoopbackOnly));
        assert_eq!(egress(&[("HOOKLINE_EGRESS", "public-only")]), Ok(Egress::PublicOnly));
        assert_eq!(egress(&[("HOOKLINE_DEV_ALLOW_LOOPBACK", "1")]), Ok(Egress::PublicAndLoopback));
        // The explicit mode wins over the older flag.
        assert_eq!(
            egress(&[("HOOKLINE_EGRESS", "loopback-only"), ("HOOKLINE_DEV_ALLOW_LOOPBACK", "1")]),
            Ok(Egress::LoopbackOnly)
        );
        assert!(matches!(
            egress(&[("HOOKLINE_EGRESS", "loopback")]),
            Err(ConfigError::Invalid { name: "HOOKLINE_EGRESS", .. })
        ));
    }

    #[test]
    fn reads_the_http_parameter_as_the_template_passes_it() {
        for (value, allowed) in [("true", true), ("false", false)] {
            let c = config(&[("HOOKLINE_TABLE", "t"), ("HOOKLINE_QUEUE_URL", "q"), ("HOOKLINE_ALLOW_HTTP", value)])
                .unwrap();
            assert_eq!(c.allow_http, allowed, "{value}");
            assert_eq!(c.egress, Egress::PublicOnly, "allowing http does not allow loopback");
        }
    }
}
