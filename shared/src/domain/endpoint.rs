use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{EventType, EventTypePattern, FieldError, Invalid, RetryPolicy};
use crate::ids::{EndpointId, TenantId};
use crate::signing::SigningSecret;

const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION_LEN: usize = 1024;
const MAX_EVENT_TYPES: usize = 100;

/// What the deployment allows endpoint URLs to be.
#[derive(Clone, Copy, Debug, Default)]
pub struct UrlRules {
    /// Plain `http://` is only for local development.
    pub allow_http: bool,
}

/// A URL Hookline may deliver to: absolute `https` (or `http` in local development), with a
/// host, without credentials or a fragment. Whether its address is reachable is decided at
/// connect time, by the address guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    pub fn parse(value: &str, rules: UrlRules) -> Result<Self, String> {
        if value.len() > MAX_URL_LEN {
            return Err(format!("a URL has at most {MAX_URL_LEN} characters"));
        }
        let url = Url::parse(value).map_err(|e| format!("not an absolute URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if rules.allow_http => {}
            "http" => return Err("the URL must use https".to_owned()),
            other => return Err(format!("the scheme `{other}` is not supported; use https")),
        }
        if url.host().is_none() {
            return Err("the URL has no host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("put credentials in `auth`, not in the URL".to_owned());
        }
        if url.fragment().is_some() {
            return Err("the URL may not have a fragment".to_owned());
        }
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl TryFrom<String> for EndpointUrl {
    type Error = String;
    /// Stored URLs were checked when written, under the rules of their deployment.
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value, UrlRules { allow_http: true })
    }
}

impl From<EndpointUrl> for String {
    fn from(u: EndpointUrl) -> String {
        u.0.into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Active,
    Disabled,
}

/// An endpoint as stored: where to deliver, what it subscribes to, how to retry and sign.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: EndpointId,
    pub tenant_id: TenantId,
    pub url: EndpointUrl,
    pub description: String,
    pub event_types: Vec<EventTypePattern>,
    pub retry: RetryPolicy,
    pub secret: SigningSecret,
    pub status: EndpointStatus,
    pub created_at: OffsetDateTime,
}

impl Endpoint {
    pub fn subscribes_to(&self, event_type: &EventType) -> bool {
        self.status == EndpointStatus::Active && self.event_types.iter().any(|p| p.matches(event_type))
    }
}

/// The request body of `POST /v1/endpoints`, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointRequest {
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
}

/// A validated endpoint, ready to be given an id and a secret.
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: String,
    pub event_types: Vec<EventTypePattern>,
    pub retry: RetryPolicy,
}

impl NewEndpoint {
    pub fn parse(req: NewEndpointRequest, rules: UrlRules) -> Result<Self, Invalid> {
        let mut errors = Vec::new();
        let url = EndpointUrl::parse(&req.url, rules).map_err(|m| errors.push(FieldError::new("url", m))).ok();
        let description = req.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            errors.push(FieldError::new("description", format!("at most {MAX_DESCRIPTION_LEN} characters")));
        }
        let raw_types = req.event_types.unwrap_or_else(|| vec!["*".to_owned()]);
        if raw_types.is_empty() || raw_types.len() > MAX_EVENT_TYPES {
            errors.push(FieldError::new("event_types", format!("list 1 to {MAX_EVENT_TYPES} event types, or `*`")));
        }
        let mut event_types = Vec::with_capacity(raw_types.len());
        for (i, raw) in raw_types.iter().enumerate() {
            match EventTypePattern::parse(raw) {
                Ok(p) => event_types.push(p),
                Err(m) => errors.push(FieldError::new(format!("event_types[{i}]"), m)),
            }
        }
        let retry = match req.retry.unwrap_or_default().validate("retry") {
            Ok(r) => Some(r),
            Err(Invalid(e)) => {
                errors.extend(e);
                None
            }
        };
        match (url, retry) {
            (Some(url), Some(retry)) if errors.is_empty() => Ok(Self { url, description, event_types, retry }),
            _ => Err(Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: UrlRules = UrlRules { allow_http: false };
    const DEV: UrlRules = UrlRules { allow_http: true };

    #[test]
    fn urls_must_be_https_outside_local_development() {
        assert!(EndpointUrl::parse("https://example.com/hook", PROD).is_ok());
        assert!(EndpointUrl::parse("http://example.com/hook", PROD).is_err());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", DEV).is_ok());
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "example.com/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
        ] {
            assert!(EndpointUrl::parse(bad, DEV).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2040));
        assert!(EndpointUrl::parse(&long, PROD).is_err());
    }

    #[test]
    fn a_new_endpoint_reports_every_bad_field() {
        let req = NewEndpointRequest {
            url: "ftp://x".into(),
            description: None,
            event_types: Some(vec!["ok.type".into(), "bad type".into()]),
            retry: Some(RetryPolicy { schedule_seconds: vec![0] }),
        };
        let fields: Vec<_> = NewEndpoint::parse(req, PROD).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["url", "event_types[1]", "retry.schedule_seconds[0]"]);
    }

    #[test]
    fn event_types_default_to_everything() {
        let req =
            NewEndpointRequest { url: "https://example.com".into(), description: None, event_types: None, retry: None };
        let ep = NewEndpoint::parse(req, PROD).unwrap();
        assert_eq!(ep.event_types, vec![EventTypePattern::All]);
        assert_eq!(ep.retry, RetryPolicy::default());
    }
}
