use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use std::collections::BTreeMap;

use sha2::Digest;

use super::{
    DeliveryOptions, EndpointAuth, EventType, EventTypePattern, FieldError, HttpMethod, Invalid, NewEndpointRequest,
    RetryPolicy,
};
use crate::ids::{EndpointId, TenantId};
use crate::render::{DeletePayload, Envelope, Format, Template};
use crate::signing::SigningSecret;

const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION_LEN: usize = 1024;
const MAX_EVENT_TYPES: usize = 100;

/// What the deployment allows endpoint URLs to be.
#[derive(Clone, Copy, Debug, Default)]
pub struct UrlRules {
    /// Plain `http://` URLs are accepted: the deployment chose to (`AllowHttpEndpoints`), or
    /// this is local development.
    pub allow_http: bool,
    /// Credentials and custom headers may go to plain http: local development only, whose
    /// receivers sit on loopback. Elsewhere they go only to https (as Zendesk requires for
    /// custom headers).
    pub secrets_over_http: bool,
}

/// A URL Hookline may deliver to: absolute `https` (or `http` in local development), with a
/// host, without credentials or a fragment. Whether its address is reachable is decided at
/// connect time, by the address guard.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointUrl(Url);

/// Shows the URL with the credentials in its query redacted.
impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EndpointUrl").field(&self.redacted().0.as_str()).finish()
    }
}

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

    /// Whether a query parameter carries a credential (chat rooms put theirs in `token=` and
    /// `key=`), so the URL is a secret and is sealed at rest and redacted when shown.
    pub fn has_secret_query(&self) -> bool {
        self.0.query_pairs().any(|(name, _)| is_secret_query_param(&name))
    }

    /// The URL with the values of credential-bearing query parameters replaced by `redacted`.
    pub fn redacted(&self) -> Self {
        Self(redact_query_credentials(&self.0))
    }
}

/// `url` with the values of credential-bearing query parameters (`token=`, `key=`, …)
/// replaced by `redacted`, for showing a URL that may hold one.
pub fn redact_query_credentials(url: &Url) -> Url {
    if !url.query_pairs().any(|(name, _)| is_secret_query_param(&name)) {
        return url.clone();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if is_secret_query_param(&name) { "redacted".into() } else { value.into_owned() };
            (name.into_owned(), value)
        })
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

/// Query parameters that carry a credential, compared ignoring case.
const SECRET_QUERY_PARAMS: &[&str] =
    &["token", "key", "api_key", "apikey", "access_token", "secret", "signature", "sig", "password"];

fn is_secret_query_param(name: &str) -> bool {
    SECRET_QUERY_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(name))
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
        Self::parse(&value, UrlRules { allow_http: true, secrets_over_http: true })
    }
}

impl From<EndpointUrl> for String {
    fn from(u: EndpointUrl) -> String {
        u.0.into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Method, credentials, headers, metadata, timeout and rate limit.
    pub options: DeliveryOptions,
    /// Body format, templates and signing.
    pub presentation: Presentation,
    pub limits: DeliveryLimits,
    pub secret: SigningSecret,
    /// The secret before the last rotation, still signing alongside the new one until `until`.
    pub previous_secret: Option<PreviousSecret>,
    pub status: EndpointStatus,
    pub health: EndpointHealth,
    pub created_at: OffsetDateTime,
}

/// How long Hookline keeps trying an endpoint that never succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryLimits {
    /// An endpoint with no success for this long is disabled; `None`: failures never disable
    /// it (as Zendesk's webhooks), though a 410 Gone still does.
    #[serde(default = "default_disable_after_hours")]
    #[schema(minimum = 1, maximum = 720)]
    pub disable_after_hours: Option<u32>,
}

fn default_disable_after_hours() -> Option<u32> {
    Some(DEFAULT_DISABLE_AFTER_HOURS)
}

pub const DEFAULT_DISABLE_AFTER_HOURS: u32 = 120;

impl Default for DeliveryLimits {
    fn default() -> Self {
        Self { disable_after_hours: Some(DEFAULT_DISABLE_AFTER_HOURS) }
    }
}

/// What deliveries have taught about the endpoint; written by the deliver function only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EndpointHealth {
    /// Why the endpoint was disabled, when it is.
    pub disabled_reason: Option<String>,
    /// The first failure since the last success.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// While in the future, deliveries wait instead of being sent (the circuit is open).
    #[serde(with = "time::serde::rfc3339::option")]
    pub circuit_open_until: Option<OffsetDateTime>,
    /// Consecutive openings, to lengthen each cool-down.
    pub circuit_opens: u32,
}

/// A rotated-out signing secret and when it stops signing.
#[derive(Clone, Debug)]
pub struct PreviousSecret {
    pub secret: SigningSecret,
    pub until: OffsetDateTime,
}

/// How an event is put on the wire for this endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Presentation {
    pub format: Format,
    /// The chat message (chat formats only); `None` means the format's default.
    pub template: Option<Template>,
    /// Query parameters added to the URL, each a template.
    pub query: BTreeMap<String, Template>,
    /// Google Chat's `threadKey`.
    pub thread_key: Option<Template>,
    /// Google Chat's `cardsV2`: a template that renders a JSON array of cards.
    pub cards: Option<Template>,
    /// Whether Standard Webhooks headers are sent (default: yes, except for chat rooms).
    pub sign: bool,
    /// The `json` body bare or in the Standard Webhooks envelope.
    pub envelope: Envelope,
    /// Where a DELETE carries the payload.
    pub delete_payload: DeletePayload,
}

impl Presentation {
    /// Whether requests to the endpoint carry a body: not GET, and DELETE only when asked.
    pub fn has_body(&self, method: HttpMethod) -> bool {
        method.has_body() || (method == HttpMethod::Delete && self.delete_payload == DeletePayload::Body)
    }
}

/// Chat rooms accept one message per second (Amazon Chime, Google Chat).
pub const CHAT_RATE_LIMIT_PER_SECOND: u32 = 1;

/// Where a rate-limited endpoint's quota lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The limiter item's key: the tenant's explicit key, or the endpoint.
    pub key: String,
    pub per_second: u32,
}

impl Endpoint {
    pub fn subscribes_to(&self, event_type: &EventType) -> bool {
        self.status == EndpointStatus::Active && self.event_types.iter().any(|p| p.matches(event_type))
    }

    /// Every secret that signs a request sent at `now`: the current one, then the previous one
    /// during its grace period (Standard Webhooks puts both in `webhook-signature`).
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&SigningSecret> {
        let mut secrets = vec![&self.secret];
        if let Some(previous) = self.previous_secret.as_ref().filter(|p| p.until > now) {
            secrets.push(&previous.secret);
        }
        secrets
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.options.timeout()
    }

    /// The endpoint's rate limit, if it has one. An explicit key is scoped to the tenant, so
    /// tenants cannot spend each other's quota by choosing the same name.
    ///
    /// Chat endpoints default to one message per second, shared by the tenant's endpoints that
    /// post to the same room (the URL without its query string). The key names the tenant too:
    /// anyone can point an endpoint at a room's URL with a made-up key, so a limiter shared
    /// across tenants would let one tenant hold back another's deliveries. Between tenants, the
    /// service's own 429 and `Retry-After` govern.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        let chat = self.presentation.format.is_chat();
        let per_second = match self.options.rate_limit_per_second {
            Some(rate) => rate,
            None if chat => CHAT_RATE_LIMIT_PER_SECOND,
            None => return None,
        };
        let key = match &self.options.rate_limit_key {
            Some(key) => format!("{}#{key}", self.tenant_id),
            None if chat => {
                let mut room = self.url.as_url().clone();
                room.set_query(None);
                let digest = sha2::Sha256::digest(room.as_str().as_bytes());
                let room = digest.iter().map(|b| format!("{b:02x}")).collect::<String>();
                format!("{}#room#{room}", self.tenant_id)
            }
            None => format!("{}#{}", self.tenant_id, self.id),
        };
        Some(RateLimit { key, per_second })
    }

    /// Statuses that mean this endpoint no longer exists: 410 everywhere, and for Amazon
    /// Chime also 403 and 404 (the webhook URL was regenerated, deleted or is invalid).
    pub fn gone_statuses(&self) -> &'static [u16] {
        match self.presentation.format {
            Format::Chime => &[403, 404, 410],
            _ => &[410],
        }
    }
}

/// A validated endpoint, ready to be given an id and a secret.
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: EndpointUrl,
    pub description: String,
    pub event_types: Vec<EventTypePattern>,
    pub retry: RetryPolicy,
    pub options: DeliveryOptions,
    pub presentation: Presentation,
    pub limits: DeliveryLimits,
}

const MAX_QUERY_PARAMS: usize = 20;

/// The request fields that make up a [`Presentation`], taken out of the request together.
struct PresentationFields {
    format: Option<Format>,
    template: Option<String>,
    query: Option<BTreeMap<String, String>>,
    thread_key: Option<String>,
    cards: Option<String>,
    sign: Option<bool>,
    method: Option<HttpMethod>,
    envelope: Option<Envelope>,
    delete_payload: Option<DeletePayload>,
}

impl PresentationFields {
    fn take(req: &mut NewEndpointRequest) -> Self {
        Self {
            format: req.format,
            template: req.template.take(),
            query: req.query.take(),
            thread_key: req.thread_key.take(),
            cards: req.cards.take(),
            sign: req.sign,
            method: req.method,
            envelope: req.envelope,
            delete_payload: req.delete_payload,
        }
    }
}

/// Checks the format, templates, envelope, DELETE body and signing choice, adding every problem
/// to `errors`.
fn parse_presentation(req: PresentationFields, errors: &mut Vec<FieldError>) -> Presentation {
    let PresentationFields { format, template, query, thread_key, cards, sign, method, envelope, delete_payload } = req;
    let format = format.unwrap_or_default();
    let mut parse = |field: String, source: &str| match Template::parse(source) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(FieldError::new(field, e.to_string()));
            None
        }
    };
    let template = template.and_then(|s| parse("template".to_owned(), &s));
    let thread_key = thread_key.and_then(|s| parse("thread_key".to_owned(), &s));
    let cards = cards.and_then(|s| parse("cards".to_owned(), &s));
    let query: BTreeMap<String, Template> = query
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, source)| parse(format!("query.{name}"), &source).map(|t| (name, t)))
        .collect();
    if query.len() > MAX_QUERY_PARAMS || query.keys().any(|k| k.is_empty() || k.len() > 128) {
        errors.push(FieldError::new(
            "query",
            format!("at most {MAX_QUERY_PARAMS} parameters, names of 1 to 128 characters"),
        ));
    }
    if format.is_chat() {
        if method.is_some_and(|m| m != HttpMethod::Post) {
            errors.push(FieldError::new("method", format!("a {format} endpoint posts its message: use POST")));
        }
    } else if template.is_some() {
        errors.push(FieldError::new("template", "templates apply to the chat formats (chime, google_chat, slack)"));
    }
    if thread_key.is_some() && format != Format::GoogleChat {
        errors.push(FieldError::new("thread_key", "only google_chat endpoints have threads"));
    }
    if cards.is_some() && format != Format::GoogleChat {
        errors.push(FieldError::new("cards", "only google_chat endpoints send cards"));
    }
    let envelope = envelope.unwrap_or_default();
    if envelope != Envelope::None && format != Format::Json {
        errors.push(FieldError::new("envelope", "the standard envelope wraps `json` bodies only"));
    }
    let delete_payload = delete_payload.unwrap_or_default();
    if delete_payload != DeletePayload::Query && method != Some(HttpMethod::Delete) {
        errors.push(FieldError::new("delete_payload", "applies to `method: DELETE` only"));
    }
    Presentation {
        format,
        template,
        query,
        thread_key,
        cards,
        sign: sign.unwrap_or(!format.is_chat()),
        envelope,
        delete_payload,
    }
}

/// Checks `disable_after_hours` (absent: 120; `null`: never), adding a problem to `errors`.
fn parse_limits(disable_after_hours: Option<Option<u32>>, errors: &mut Vec<FieldError>) -> DeliveryLimits {
    let disable_after_hours = disable_after_hours.unwrap_or(Some(DEFAULT_DISABLE_AFTER_HOURS));
    if disable_after_hours.is_some_and(|h| !(1..=24 * 30).contains(&h)) {
        errors.push(FieldError::new("disable_after_hours", "1 to 720 hours, or null for never"));
    }
    DeliveryLimits { disable_after_hours }
}

impl NewEndpoint {
    pub fn parse(mut req: NewEndpointRequest, rules: UrlRules) -> Result<Self, Invalid> {
        let presentation_fields = PresentationFields::take(&mut req);
        let mut errors = Vec::new();
        let url = EndpointUrl::parse(&req.url, rules).map_err(|m| errors.push(FieldError::new("url", m))).ok();
        let description = req.description.take().unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION_LEN {
            errors.push(FieldError::new("description", format!("at most {MAX_DESCRIPTION_LEN} characters")));
        }
        let raw_types = req.event_types.take().unwrap_or_else(|| vec!["*".to_owned()]);
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
        let retry = match req.retry.take().unwrap_or_default().validate("retry") {
            Ok(r) => Some(r),
            Err(Invalid(e)) => {
                errors.extend(e);
                None
            }
        };
        let limits = parse_limits(req.disable_after_hours, &mut errors);
        // Custom headers and credentials need https; local development may use them over http.
        let is_https =
            rules.secrets_over_http || url.as_ref().is_some_and(|u: &EndpointUrl| u.as_url().scheme() == "https");
        let plain_http = url.as_ref().is_some_and(|u| u.as_url().scheme() == "http");
        if plain_http && !rules.secrets_over_http && req.auth.as_ref().is_some_and(|a| *a != EndpointAuth::None) {
            errors.push(FieldError::new("auth", "credentials are only sent to https endpoints"));
        }
        let presentation = parse_presentation(presentation_fields, &mut errors);
        // A chat room has a rate of its own (one message per second), so a key alone names the
        // room that several webhooks share; any other endpoint must say how fast it may go.
        if req.rate_limit_key.is_some() && req.rate_limit_per_second.is_none() && !presentation.format.is_chat() {
            errors.push(FieldError::new(
                "rate_limit_key",
                "a key needs `rate_limit_per_second` (except for chat formats)",
            ));
        }
        let options = DeliveryOptions::parse(&req, is_https).map_err(|Invalid(e)| errors.extend(e)).ok();
        match (url, retry, options) {
            (Some(url), Some(retry), Some(options)) if errors.is_empty() => {
                Ok(Self { url, description, event_types, retry, options, presentation, limits })
            }
            _ => Err(Invalid(errors)),
        }
    }

    /// The endpoint this request creates for `tenant`: active, healthy, with a fresh secret.
    pub fn into_endpoint(self, tenant: TenantId) -> Endpoint {
        Endpoint {
            id: EndpointId::generate(),
            tenant_id: tenant,
            url: self.url,
            description: self.description,
            event_types: self.event_types,
            retry: self.retry,
            options: self.options,
            presentation: self.presentation,
            limits: self.limits,
            secret: SigningSecret::generate(),
            previous_secret: None,
            status: EndpointStatus::Active,
            health: EndpointHealth::default(),
            created_at: OffsetDateTime::now_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROD: UrlRules = UrlRules { allow_http: false, secrets_over_http: false };
    const DEV: UrlRules = UrlRules { allow_http: true, secrets_over_http: true };
    const HTTP_ALLOWED: UrlRules = UrlRules { allow_http: true, secrets_over_http: false };

    #[test]
    fn urls_must_be_https_outside_local_development() {
        assert!(EndpointUrl::parse("https://example.com/hook", PROD).is_ok());
        assert!(EndpointUrl::parse("http://example.com/hook", PROD).is_err());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/hook", DEV).is_ok());
    }

    #[test]
    fn credentials_in_the_query_are_redacted() {
        let url = EndpointUrl::parse(
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K-secret&token=T-secret&threadKey=t",
            PROD,
        )
        .unwrap();
        assert!(url.has_secret_query());
        let shown = url.redacted().to_string();
        assert_eq!(shown, "https://chat.googleapis.com/v1/spaces/AAA/messages?key=redacted&token=redacted&threadKey=t");
        let chime = EndpointUrl::parse("https://hooks.chime.aws/incomingwebhooks/abc?Token=T-secret", PROD).unwrap();
        assert_eq!(chime.redacted().to_string(), "https://hooks.chime.aws/incomingwebhooks/abc?Token=redacted");
        let plain = EndpointUrl::parse("https://example.com/hook?team=core", PROD).unwrap();
        assert!(!plain.has_secret_query());
        assert_eq!(plain.redacted(), plain);
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
        let req: NewEndpointRequest = serde_json::from_str(
            r#"{"url": "ftp://x", "event_types": ["ok.type", "bad type"], "retry": {"schedule_seconds": [0]},
                "timeout_ms": 100, "rate_limit_per_second": 5, "rate_limit_key": "no spaces"}"#,
        )
        .unwrap();
        let fields: Vec<_> = NewEndpoint::parse(req, PROD).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["url", "event_types[1]", "retry.schedule_seconds[0]", "timeout_ms", "rate_limit_key"]);
    }

    fn parse_json(rules: UrlRules, value: serde_json::Value) -> Result<NewEndpoint, Vec<String>> {
        let req: NewEndpointRequest = serde_json::from_value(value).unwrap();
        NewEndpoint::parse(req, rules).map_err(|e| e.0.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn a_rate_limit_key_alone_names_a_chat_room() {
        let room = parse_json(
            PROD,
            serde_json::json!({"url": "https://hooks.chime.aws/incomingwebhooks/a?token=t", "format": "chime", "rate_limit_key": "ops-room"}),
        )
        .unwrap();
        assert_eq!(room.options.rate_limit_per_second, None);
        assert_eq!(room.options.rate_limit_key.as_deref(), Some("ops-room"));
        let err = parse_json(PROD, serde_json::json!({"url": "https://example.com", "rate_limit_key": "shared"}));
        assert_eq!(err.unwrap_err(), ["rate_limit_key"]);
    }

    #[test]
    fn disable_after_hours_is_a_number_of_hours_or_null_for_never() {
        let url = "https://example.com";
        let never = parse_json(PROD, serde_json::json!({"url": url, "disable_after_hours": null})).unwrap();
        assert_eq!(never.limits.disable_after_hours, None);
        let absent = parse_json(PROD, serde_json::json!({"url": url})).unwrap();
        assert_eq!(absent.limits.disable_after_hours, Some(DEFAULT_DISABLE_AFTER_HOURS));
        let day = parse_json(PROD, serde_json::json!({"url": url, "disable_after_hours": 24})).unwrap();
        assert_eq!(day.limits.disable_after_hours, Some(24));
        for bad in [0, 721] {
            let err = parse_json(PROD, serde_json::json!({"url": url, "disable_after_hours": bad})).unwrap_err();
            assert_eq!(err, ["disable_after_hours"], "{bad}");
        }
        // Stored limits: a number, `null` (never), or nothing (the default).
        let stored: DeliveryLimits = serde_json::from_str(r#"{"disable_after_hours": null}"#).unwrap();
        assert_eq!(stored.disable_after_hours, None);
        let stored: DeliveryLimits = serde_json::from_str("{}").unwrap();
        assert_eq!(stored, DeliveryLimits::default());
    }

    #[test]
    fn a_deployment_that_allows_http_still_sends_secrets_only_to_https() {
        let http = "http://example.com/hook";
        assert!(parse_json(HTTP_ALLOWED, serde_json::json!({"url": http})).is_ok());
        assert_eq!(parse_json(PROD, serde_json::json!({"url": http})).unwrap_err(), ["url"]);
        let auth = serde_json::json!({"type": "bearer", "token": "t"});
        assert_eq!(parse_json(HTTP_ALLOWED, serde_json::json!({"url": http, "auth": auth})).unwrap_err(), ["auth"]);
        let headers = serde_json::json!({"X-Team": "core"});
        assert_eq!(
            parse_json(HTTP_ALLOWED, serde_json::json!({"url": http, "headers": headers})).unwrap_err(),
            ["headers"]
        );
        let https = "https://example.com/hook";
        assert!(parse_json(HTTP_ALLOWED, serde_json::json!({"url": https, "auth": auth, "headers": headers})).is_ok());
        // Local development's receivers are plain http on loopback.
        assert!(parse_json(DEV, serde_json::json!({"url": http, "auth": auth, "headers": headers})).is_ok());
    }

    #[test]
    fn event_types_default_to_everything() {
        let req: NewEndpointRequest = serde_json::from_str(r#"{"url": "https://example.com"}"#).unwrap();
        let ep = NewEndpoint::parse(req, PROD).unwrap();
        assert_eq!(ep.event_types, vec![EventTypePattern::All]);
        assert_eq!(ep.retry, RetryPolicy::default());
        assert_eq!(ep.limits, DeliveryLimits::default());
        assert_eq!(ep.options, DeliveryOptions::default());
    }

    /// A Google Chat endpoint of `tenant` posting to `url`.
    fn chat_endpoint(tenant: &TenantId, url: &str) -> Endpoint {
        let req: NewEndpointRequest =
            serde_json::from_value(serde_json::json!({"url": url, "format": "google_chat"})).unwrap();
        NewEndpoint::parse(req, PROD).unwrap().into_endpoint(tenant.clone())
    }

    #[test]
    fn a_chat_rooms_limiter_is_shared_within_a_tenant_only() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let room = "https://chat.googleapis.com/v1/spaces/AAA/messages";
        let key = |tenant: &TenantId, query: &str| {
            chat_endpoint(tenant, &format!("{room}?{query}")).rate_limit().unwrap().key
        };
        assert_eq!(key(&a, "key=1&token=x"), key(&a, "key=2&token=y"), "one tenant's webhooks share the room");
        assert_ne!(key(&a, "key=1&token=x"), key(&b, "key=1&token=x"), "another tenant never does");
        assert!(key(&a, "key=1").starts_with(a.as_str()));
        assert_eq!(chat_endpoint(&a, room).rate_limit().unwrap().per_second, CHAT_RATE_LIMIT_PER_SECOND);
    }
}
