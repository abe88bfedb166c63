//! How Hookline calls an endpoint: the HTTP method, credentials, custom headers, metadata,
//! timeout and rate limit. [`DeliveryOptions::parse`] checks a request once and reports every
//! bad field; a [`DeliveryOptions`] that exists is valid.
//!
//! Custom headers follow Zendesk's rules: at most 5, names unique case-insensitively, 1–128
//! token characters, values at most 1000 printable ASCII characters, only to https endpoints,
//! and never a header Hookline sets itself, a hop-by-hop header or an AWS or proxy header.
//! `cookie` is allowed: Hookline never sets it and some receivers authenticate with it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{FieldError, Invalid};

pub const MAX_CUSTOM_HEADERS: usize = 5;
pub const MAX_HEADER_NAME_LEN: usize = 128;
pub const MAX_HEADER_VALUE_LEN: usize = 1000;
pub const MAX_METADATA_KEYS: usize = 20;
pub const MAX_METADATA_KEY_LEN: usize = 64;
pub const MAX_METADATA_VALUE_LEN: usize = 256;
pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
pub const MIN_TIMEOUT_MS: u32 = 1_000;
pub const MAX_TIMEOUT_MS: u32 = 30_000;
pub const MAX_RATE_LIMIT_PER_SECOND: u32 = 1_000;
pub const MAX_RATE_LIMIT_KEY_LEN: usize = 128;

/// Headers Hookline sets itself, or that belong to the connection rather than the request.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "expect",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];

/// Prefixes of headers that carry Hookline's signature or that AWS and proxies own.
const RESERVED_PREFIXES: &[&str] = &["webhook-", "x-amzn", "x-amz-", "x-forwarded", "x-hookline"];

/// Headers a receiver's proxy or CDN may trust for the caller's address or route: a tenant
/// setting them could pose as another client or steer the receiver's proxies.
const CLIENT_ADDRESS_HEADERS: &[&str] =
    &["x-real-ip", "true-client-ip", "cf-connecting-ip", "x-client-ip", "via", "max-forwards"];

/// Names Zendesk refuses in a webhook's custom headers, beyond [`RESERVED_HEADERS`]: a header
/// Zendesk would refuse must not be accepted here either (`/work/shared/DESIGN.md` has the list).
const ZENDESK_REFUSED_HEADERS: &[&str] = &[
    "accept-charset",
    "accept-encoding",
    "content-md5",
    "max-forwards",
    "origin",
    "proxy-authenticate",
    "referer",
    "server",
    "via",
    "www-authenticate",
    "zendesk-api-version",
    "zendesk-ep",
];

/// Prefixes Zendesk refuses, beyond [`RESERVED_PREFIXES`] (matched like Zendesk's, without a
/// trailing dash: `x-envoyfoo` is refused too).
const ZENDESK_REFUSED_PREFIXES: &[&str] = &["access-control", "x-apigw", "x-datadog", "x-envoy", "x-zendesk"];

/// The HTTP method deliveries use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
    Patch,
    Delete,
    Get,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Get => "GET",
        }
    }

    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Patch => reqwest::Method::PATCH,
            Self::Delete => reqwest::Method::DELETE,
            Self::Get => reqwest::Method::GET,
        }
    }

    /// Whether the event is sent as a request body (not for GET and DELETE).
    pub fn has_body(self) -> bool {
        !matches!(self, Self::Get | Self::Delete)
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The credentials Hookline presents to an endpoint.
///
/// `{"type": "none"}`, `{"type": "api_key", "header": "token", "value": "…"}`,
/// `{"type": "basic", "username": "…", "password": "…"}` or `{"type": "bearer", "token": "…"}`.
/// Serde round-trips every field, secrets included, so the caller can seal the serialized form;
/// `Debug` and [`EndpointAuth::redacted`] never show a secret. Check a request's value with
/// [`EndpointAuth::validate`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EndpointAuth {
    #[default]
    None,
    /// A secret in a header of the tenant's choosing (FastComments uses `token`).
    ApiKey { header: String, value: String },
    /// `authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `authorization: Bearer <token>`.
    Bearer { token: String },
}

/// An endpoint's credential as the API shows it: its kind and non-secret parts
/// ([`EndpointAuth::redacted`]), for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the JSON `redacted` builds
struct ShownAuth {
    #[schema(value_type = String, pattern = "^(none|api_key|basic|bearer)$")]
    r#type: String,
    /// The header an `api_key` credential is sent in.
    header: Option<String>,
    /// A `basic` credential's user name.
    username: Option<String>,
}

/// The `auth` field's schema: [`EndpointAuth`] in a request, [`ShownAuth`] in a response (the
/// view shows the request's fields with credentials redacted).
pub struct AuthField;

impl utoipa::PartialSchema for AuthField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::AnyOfBuilder;
        AnyOfBuilder::new()
            .description(Some("In a request, the credential; shown, its kind and non-secret parts only."))
            .item(Ref::from_schema_name("EndpointAuth"))
            .item(Ref::from_schema_name("ShownAuth"))
            .into()
    }
}

impl utoipa::ToSchema for AuthField {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push(("EndpointAuth".to_owned(), EndpointAuth::schema()));
        schemas.push(("ShownAuth".to_owned(), ShownAuth::schema()));
    }
}

impl EndpointAuth {
    /// The same credentials if they are valid, or every problem, named under `field`
    /// (`auth.header`, `auth.value`, …).
    pub fn validate(self, field: &str) -> Result<Self, Invalid> {
        let mut errors = Vec::new();
        self.check(field, &mut errors);
        if errors.is_empty() { Ok(self) } else { Err(Invalid(errors)) }
    }

    fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
        let mut push = |name: &str, message: String| errors.push(FieldError::new(format!("{field}.{name}"), message));
        match self {
            Self::None => {}
            Self::ApiKey { header, value } => {
                // `authorization` is where many APIs want a key (`Authorization: Token …`), and
                // `auth` is the place for it.
                if let Err(m) = check_header_name(header, true) {
                    push("header", m);
                }
                if let Err(m) = check_secret_ascii(value) {
                    push("value", m);
                }
            }
            Self::Basic { username, password } => {
                if username.is_empty() {
                    push("username", "must not be empty".to_owned());
                } else if username.contains(':') {
                    push("username", "must not contain `:`".to_owned());
                } else if let Err(m) = check_text(username) {
                    push("username", m);
                }
                // An empty password is allowed: some APIs take a key as the username alone.
                if let Err(m) = check_text(password) {
                    push("password", m);
                }
            }
            Self::Bearer { token } => {
                if let Err(m) = check_secret_ascii(token) {
                    push("token", m);
                }
            }
        }
    }

    /// The header(s) to add to each request. Validated credentials always convert; an
    /// unvalidated value that is not a valid header is left out rather than sent mangled.
    pub fn apply(&self) -> Vec<(HeaderName, HeaderValue)> {
        let header = match self {
            Self::None => None,
            Self::ApiKey { header, value } => {
                HeaderName::from_bytes(header.as_bytes()).ok().zip(HeaderValue::from_str(value).ok())
            }
            Self::Basic { username, password } => {
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                HeaderValue::from_str(&format!("Basic {encoded}")).ok().map(|v| (http::header::AUTHORIZATION, v))
            }
            Self::Bearer { token } => {
                HeaderValue::from_str(&format!("Bearer {token}")).ok().map(|v| (http::header::AUTHORIZATION, v))
            }
        };
        header
            .into_iter()
            .map(|(name, mut value)| {
                value.set_sensitive(true);
                (name, value)
            })
            .collect()
    }

    /// The same credentials with a deliberately wrong secret, for a test send that expects the
    /// receiver to refuse with 401 or 403. The username and the header name are kept, so only the
    /// secret is wrong. `None` stays `None`: there is no secret to get wrong.
    pub fn with_wrong_credential(&self) -> Self {
        match self {
            Self::None => Self::None,
            Self::ApiKey { header, value } => Self::ApiKey { header: header.clone(), value: wrong_secret(value) },
            Self::Basic { username, password } => {
                Self::Basic { username: username.clone(), password: wrong_secret(password) }
            }
            Self::Bearer { token } => Self::Bearer { token: wrong_secret(token) },
        }
    }

    /// The form shown in API responses: the type and the non-secret parts only, e.g.
    /// `{"type":"basic","username":"u"}`, `{"type":"api_key","header":"token"}`, `{"type":"bearer"}`.
    pub fn redacted(&self) -> serde_json::Value {
        match self {
            Self::None => serde_json::json!({ "type": "none" }),
            Self::ApiKey { header, .. } => serde_json::json!({ "type": "api_key", "header": header }),
            Self::Basic { username, .. } => serde_json::json!({ "type": "basic", "username": username }),
            Self::Bearer { .. } => serde_json::json!({ "type": "bearer" }),
        }
    }

    /// The lower-cased header these credentials set, so custom headers do not set it twice.
    fn header_name(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::ApiKey { header, .. } => Some(header.to_ascii_lowercase()),
            Self::Basic { .. } | Self::Bearer { .. } => Some("authorization".to_owned()),
        }
    }
}

impl fmt::Debug for EndpointAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ApiKey { header, .. } => {
                f.debug_struct("ApiKey").field("header", header).field("value", &Redacted).finish()
            }
            Self::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &Redacted).finish()
            }
            Self::Bearer { .. } => f.debug_struct("Bearer").field("token", &Redacted).finish(),
        }
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

fn wrong_secret(right: &str) -> String {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    let mut wrong = format!("hookline-wrong-{random}");
    if wrong == right {
        wrong.push('x');
    }
    wrong
}

/// A checked custom header. Its name keeps the case it was given (HTTP/2 sends it lower-cased).
/// `Debug` hides the value, which may be a secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHeader {
    name: String,
    value: String,
}

impl CustomHeader {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// The header ready for a request; `None` only for a value that was never validated.
    pub fn to_http(&self) -> Option<(HeaderName, HeaderValue)> {
        Some((HeaderName::from_bytes(self.name.as_bytes()).ok()?, HeaderValue::from_str(&self.value).ok()?))
    }
}

impl fmt::Debug for CustomHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomHeader").field("name", &self.name).field("value", &Redacted).finish()
    }
}

/// One custom header of a request, before validation. Shown, a header whose value is hidden
/// (emptied) has no `value`.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomHeaderRequest {
    /// Letters, digits and ``! # $ % & ' * + - . ^ _ ` | ~``; some names and prefixes are refused.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// Printable ASCII.
    #[schema(max_length = 1000, pattern = "^[ -~]*$")]
    pub value: String,
}

impl fmt::Debug for CustomHeaderRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomHeaderRequest").field("name", &self.name).field("value", &Redacted).finish()
    }
}

/// A request's custom headers: `[{"name": "X-Team", "value": "core"}]`, or the object
/// `{"X-Team": "core"}`; either way in the order given, so errors name `headers[i]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HeadersRequest(pub Vec<CustomHeaderRequest>);

impl HeadersRequest {
    /// The stored headers as a request would give them.
    pub fn from_stored(headers: &[CustomHeader]) -> Self {
        Self(headers.iter().map(|h| CustomHeaderRequest { name: h.name.clone(), value: h.value.clone() }).collect())
    }

    /// Empties every value, for showing the headers without them (they are write-only).
    pub fn hide_values(&mut self) {
        for header in &mut self.0 {
            header.value.clear();
        }
    }
}

impl utoipa::PartialSchema for HeadersRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let list = ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name("CustomHeaderRequest"))
            .max_items(Some(MAX_CUSTOM_HEADERS));
        let map = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(
                ObjectBuilder::new().schema_type(Type::String).max_length(Some(MAX_HEADER_VALUE_LEN)),
            ))
            .max_properties(Some(MAX_CUSTOM_HEADERS));
        OneOfBuilder::new()
            .description(Some("At most 5 custom headers: a list of `{name, value}`, or an object of names to values."))
            .item(list)
            .item(map)
            .into()
    }
}

impl utoipa::ToSchema for HeadersRequest {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push(("CustomHeaderRequest".to_owned(), CustomHeaderRequest::schema()));
    }
}

impl<'de> Deserialize<'de> for HeadersRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;

        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = HeadersRequest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of {\"name\", \"value\"} objects, or an object of header names to values")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut headers = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_CUSTOM_HEADERS + 1));
                while let Some(header) = seq.next_element::<CustomHeaderRequest>()? {
                    headers.push(header);
                }
                Ok(HeadersRequest(headers))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut headers = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_CUSTOM_HEADERS + 1));
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    headers.push(CustomHeaderRequest { name, value });
                }
                Ok(HeadersRequest(headers))
            }
        }

        deserializer.deserialize_any(HeadersVisitor)
    }
}

/// Checked delivery options, as stored (fields missing from a stored record take their defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryOptions {
    pub method: HttpMethod,
    pub auth: EndpointAuth,
    pub headers: Vec<CustomHeader>,
    pub metadata: BTreeMap<String, String>,
    pub timeout_ms: u32,
    pub rate_limit_per_second: Option<u32>,
    pub rate_limit_key: Option<String>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            method: HttpMethod::Post,
            auth: EndpointAuth::None,
            headers: Vec::new(),
            metadata: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            rate_limit_per_second: None,
            rate_limit_key: None,
        }
    }
}

impl DeliveryOptions {
    /// Checks a request, reporting every bad field. Custom headers are only for https endpoints.
    pub fn parse(req: &super::NewEndpointRequest, is_https: bool) -> Result<Self, Invalid> {
        let mut errors = Vec::new();

        let method = req.method.unwrap_or_default();
        let auth = req.auth.clone().unwrap_or_default();
        auth.check("auth", &mut errors);
        let headers = parse_headers(req.headers.clone().unwrap_or_default().0, is_https, &auth, &mut errors);

        let metadata = req.metadata.clone().unwrap_or_default();
        if metadata.len() > MAX_METADATA_KEYS {
            errors.push(FieldError::new("metadata", format!("at most {MAX_METADATA_KEYS} keys")));
        }
        for (key, value) in &metadata {
            let key_len = key.chars().count();
            if key_len == 0 || key_len > MAX_METADATA_KEY_LEN {
                errors.push(FieldError::new(
                    format!("metadata.{key}"),
                    format!("keys have 1 to {MAX_METADATA_KEY_LEN} characters"),
                ));
            }
            if value.chars().count() > MAX_METADATA_VALUE_LEN {
                errors.push(FieldError::new(
                    format!("metadata.{key}"),
                    format!("values have at most {MAX_METADATA_VALUE_LEN} characters"),
                ));
            }
        }

        let timeout_ms = match req.timeout_ms {
            None => DEFAULT_TIMEOUT_MS,
            Some(ms) => match u32::try_from(ms) {
                Ok(ms) if (MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) => ms,
                _ => {
                    errors.push(FieldError::new(
                        "timeout_ms",
                        format!("{MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS} milliseconds"),
                    ));
                    DEFAULT_TIMEOUT_MS
                }
            },
        };

        let rate_limit_per_second = match req.rate_limit_per_second {
            None => None,
            Some(rate) => match u32::try_from(rate) {
                Ok(rate) if (1..=MAX_RATE_LIMIT_PER_SECOND).contains(&rate) => Some(rate),
                _ => {
                    errors.push(FieldError::new(
                        "rate_limit_per_second",
                        format!("1 to {MAX_RATE_LIMIT_PER_SECOND} requests per second"),
                    ));
                    None
                }
            },
        };

        if let Some(key) = &req.rate_limit_key {
            let valid = (1..=MAX_RATE_LIMIT_KEY_LEN).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
            // A key without a rate is for chat rooms (their rate is the room's); the endpoint
            // checks that, as it knows the format.
            if !valid {
                errors.push(FieldError::new(
                    "rate_limit_key",
                    format!("1 to {MAX_RATE_LIMIT_KEY_LEN} characters: letters, digits, `.`, `_`, `:`, `-`"),
                ));
            }
        }

        if !errors.is_empty() {
            return Err(Invalid(errors));
        }
        Ok(Self {
            method,
            auth,
            headers,
            metadata,
            timeout_ms,
            rate_limit_per_second,
            rate_limit_key: req.rate_limit_key.clone(),
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// Every header the options add to a request: the credentials', then the custom ones.
    pub fn request_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = self.auth.apply();
        headers.extend(self.headers.iter().filter_map(CustomHeader::to_http));
        headers
    }
}

fn parse_headers(
    raw: Vec<CustomHeaderRequest>,
    is_https: bool,
    auth: &EndpointAuth,
    errors: &mut Vec<FieldError>,
) -> Vec<CustomHeader> {
    if !raw.is_empty() && !is_https {
        errors.push(FieldError::new("headers", "custom headers are only sent to https endpoints"));
    }
    if raw.len() > MAX_CUSTOM_HEADERS {
        errors.push(FieldError::new("headers", format!("at most {MAX_CUSTOM_HEADERS} custom headers")));
    }
    let auth_header = auth.header_name();
    let mut seen: Vec<String> = Vec::with_capacity(raw.len());
    for (i, header) in raw.iter().enumerate() {
        let lower = header.name.to_ascii_lowercase();
        let name_error = match check_header_name(&header.name, false) {
            Err(m) => Some(m),
            Ok(()) if auth_header.as_deref() == Some(lower.as_str()) => {
                Some(format!("`{}` is already set by `auth`", header.name))
            }
            Ok(()) => seen
                .iter()
                .position(|s| *s == lower)
                .map(|first| format!("repeats headers[{first}].name (names ignore case)")),
        };
        seen.push(lower);
        if let Some(m) = name_error {
            errors.push(FieldError::new(format!("headers[{i}].name"), m));
        }
        if let Err(m) = check_header_value(&header.value) {
            errors.push(FieldError::new(format!("headers[{i}].value"), m));
        }
    }
    raw.into_iter().map(|h| CustomHeader { name: h.name, value: h.value }).collect()
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header name a tenant may set: 1–128 token characters, not reserved. `authorization` is
/// allowed only to `api_key` credentials.
fn check_header_name(name: &str, allow_authorization: bool) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN {
        return Err(format!("a header name has 1 to {MAX_HEADER_NAME_LEN} characters"));
    }
    if !name.bytes().all(is_tchar) {
        return Err("a header name has only letters, digits and !#$%&'*+-.^_`|~".to_owned());
    }
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" {
        if allow_authorization {
            return Ok(());
        }
        return Err("set credentials with `auth` (`basic`, `bearer` or `api_key`), not a custom header".to_owned());
    }
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{lower}` is set by Hookline or by the connection and cannot be overridden"));
    }
    if CLIENT_ADDRESS_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{lower}` speaks for the client's address or route and cannot be set"));
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        return Err(format!("headers starting with `{prefix}` are reserved"));
    }
    if ZENDESK_REFUSED_HEADERS.contains(&lower.as_str()) {
        return Err(format!("`{lower}` is not allowed as a custom header (Zendesk refuses it too)"));
    }
    if let Some(prefix) = ZENDESK_REFUSED_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        return Err(format!("headers starting with `{prefix}` are not allowed (Zendesk refuses them too)"));
    }
    Ok(())
}

/// At most 1000 printable ASCII characters (0x20–0x7E): no CR, LF or other control characters.
fn check_header_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_HEADER_VALUE_LEN {
        return Err(format!("at most {MAX_HEADER_VALUE_LEN} characters"));
    }
    if !value.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err("only printable ASCII characters (no CR, LF or other control characters)".to_owned());
    }
    Ok(())
}

/// A header-borne secret: a non-empty header value.
fn check_secret_ascii(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    check_header_value(value)
}

/// Basic credentials: any UTF-8 up to 1000 characters, without control characters.
fn check_text(value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_HEADER_VALUE_LEN {
        return Err(format!("at most {MAX_HEADER_VALUE_LEN} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(mut value: serde_json::Value) -> crate::domain::NewEndpointRequest {
        value["url"] = json!("https://example.com");
        serde_json::from_value(value).unwrap()
    }

    fn parse(value: serde_json::Value) -> Result<DeliveryOptions, Invalid> {
        DeliveryOptions::parse(&request(value), true)
    }

    fn fields(value: serde_json::Value) -> Vec<String> {
        parse(value).unwrap_err().0.into_iter().map(|e| e.field).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> serde_json::Value {
        json!({ "headers": pairs.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>() })
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let options = parse(json!({})).unwrap();
        assert_eq!(options, DeliveryOptions::default());
        assert_eq!(options.method, HttpMethod::Post);
        assert_eq!(options.auth, EndpointAuth::None);
        assert_eq!(options.timeout(), Duration::from_secs(15));
        assert!(options.request_headers().is_empty());
    }

    #[test]
    fn methods_are_uppercase_strings() {
        for (text, method, body) in [
            ("POST", HttpMethod::Post, true),
            ("PUT", HttpMethod::Put, true),
            ("PATCH", HttpMethod::Patch, true),
            ("DELETE", HttpMethod::Delete, false),
            ("GET", HttpMethod::Get, false),
        ] {
            let parsed: HttpMethod = serde_json::from_value(json!(text)).unwrap();
            assert_eq!(parsed, method);
            assert_eq!(serde_json::to_value(method).unwrap(), json!(text));
            assert_eq!(method.as_str(), text);
            assert_eq!(method.as_reqwest().as_str(), text);
            assert_eq!(method.has_body(), body, "{text}");
        }
        assert!(serde_json::from_value::<HttpMethod>(json!("post")).is_err());
        assert!(serde_json::from_value::<HttpMethod>(json!("HEAD")).is_err());
        assert_eq!(parse(json!({ "method": "PUT" })).unwrap().method, HttpMethod::Put);
    }

    #[test]
    fn good_custom_headers_are_kept_in_order() {
        let options = parse(headers(&[("X-Team", "core"), ("Cookie", "session=1"), ("x-empty", "")])).unwrap();
        let names: Vec<_> = options.headers.iter().map(CustomHeader::name).collect();
        assert_eq!(names, ["X-Team", "Cookie", "x-empty"]);
        let sent = options.request_headers();
        assert_eq!(sent[0].0, "x-team");
        assert_eq!(sent[0].1, "core");
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn headers_may_be_an_object() {
        // Document order (a `json!` map would sort its keys, so parse the text).
        let text = r#"{"url": "https://example.com", "headers": {"X-B": "2", "X-A": "1"}}"#;
        let req: crate::domain::NewEndpointRequest = serde_json::from_str(text).unwrap();
        let options = DeliveryOptions::parse(&req, true).unwrap();
        let pairs: Vec<_> = options.headers.iter().map(|h| (h.name(), h.value())).collect();
        assert_eq!(pairs, [("X-B", "2"), ("X-A", "1")]);
        let text = r#"{"url": "https://example.com", "headers": {"X-Ok": "1", "Host": "evil"}}"#;
        let req: crate::domain::NewEndpointRequest = serde_json::from_str(text).unwrap();
        let err = DeliveryOptions::parse(&req, true).unwrap_err();
        assert_eq!(err.0[0].field, "headers[1].name");
        let url = "https://example.com";
        let request = |headers| {
            serde_json::from_value::<crate::domain::NewEndpointRequest>(json!({ "url": url, "headers": headers }))
        };
        assert!(request(json!("X-A: 1")).is_err());
        assert!(request(json!([{ "name": "X" }])).is_err());
    }

    #[test]
    fn at_most_five_custom_headers() {
        let five: Vec<_> = (0..5).map(|i| (format!("X-H{i}"), "v")).collect();
        let five: Vec<_> = five.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert!(parse(headers(&five)).is_ok());
        let mut six = five.clone();
        six.push(("X-H5", "v"));
        assert_eq!(fields(headers(&six)), ["headers"]);
    }

    #[test]
    fn header_names_are_unique_ignoring_case() {
        let err = parse(headers(&[("X-Team", "a"), ("X-Other", "b"), ("x-TEAM", "c")])).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "headers[2].name");
        assert!(err.0[0].message.contains("headers[0].name"), "{}", err.0[0].message);
    }

    #[test]
    fn reserved_header_names_are_refused_in_any_case() {
        for name in [
            "Content-Type",
            "content-length",
            "HOST",
            "Connection",
            "Transfer-Encoding",
            "User-Agent",
            "Keep-Alive",
            "Proxy-Authorization",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Upgrade",
            "Expect",
            "Date",
            "Webhook-Signature",
            "webhook-id",
            "Webhook-Anything",
        ] {
            assert_eq!(fields(headers(&[("X-Fine", "1"), (name, "x")])), ["headers[1].name"], "{name}");
        }
    }

    #[test]
    fn reserved_header_prefixes_are_refused() {
        for name in
            ["X-Amzn-Trace-Id", "x-amznfoo", "X-Amz-Date", "X-Forwarded-For", "x-forwarded-host", "X-Hookline-Id"]
        {
            assert_eq!(fields(headers(&[(name, "x")])), ["headers[0].name"], "{name}");
        }
        // Only the prefixes, not every header that merely contains them.
        assert!(parse(headers(&[("X-Amazing", "1"), ("X-Not-Forwarded", "1")])).is_ok());
    }

    #[test]
    fn authorization_as_a_custom_header_points_to_auth() {
        let err = parse(headers(&[("Authorization", "Bearer x")])).unwrap_err();
        assert_eq!(err.0[0].field, "headers[0].name");
        assert!(err.0[0].message.contains("`auth`"), "{}", err.0[0].message);
    }

    #[test]
    fn every_name_and_prefix_zendesk_refuses_is_refused() {
        let names = ZENDESK_REFUSED_HEADERS.iter().map(|n| (*n).to_owned());
        let prefixed = ZENDESK_REFUSED_PREFIXES.iter().flat_map(|p| [(*p).to_owned(), format!("{p}-custom")]);
        for name in names.chain(prefixed) {
            let upper = name.to_ascii_uppercase();
            for shown in [name.as_str(), upper.as_str()] {
                let err = parse(headers(&[(shown, "v")])).unwrap_err();
                // Only the field: a name may also be reserved for another reason (`via`).
                assert_eq!(err.0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["headers[0].name"], "{shown}");
            }
        }
        // Neighbours of the refused names stay allowed.
        for ok in ["x-origin", "servers", "x-zen", "access-token", "x-env"] {
            assert!(parse(headers(&[(ok, "v")])).is_ok(), "{ok}");
        }
    }

    #[test]
    fn header_names_are_http_tokens_of_1_to_128_characters() {
        for bad in ["", "X Team", "X-Team:", "X(Team)", "X-Tëam", "X\r\nInjected", "X/Y", "X\"Y"] {
            assert_eq!(fields(headers(&[(bad, "v")])), ["headers[0].name"], "{bad:?}");
        }
        assert!(parse(headers(&[("!#$%&'*+-.^_`|~09AZaz", "v")])).is_ok());
        let long = "X".repeat(128);
        assert!(parse(headers(&[(long.as_str(), "v")])).is_ok());
        let too_long = "X".repeat(129);
        assert_eq!(fields(headers(&[(too_long.as_str(), "v")])), ["headers[0].name"]);
    }

    #[test]
    fn header_values_are_printable_ascii_up_to_1000() {
        for bad in ["a\r\nX-Injected: 1", "a\nb", "a\rb", "tab\there", "nul\0", "del\x7f", "café"] {
            assert_eq!(fields(headers(&[("X-A", "ok"), ("X-B", bad)])), ["headers[1].value"], "{bad:?}");
        }
        let max = "v".repeat(1000);
        assert!(parse(headers(&[("X-A", max.as_str())])).is_ok());
        let too_long = "v".repeat(1001);
        assert_eq!(fields(headers(&[("X-A", too_long.as_str())])), ["headers[0].value"]);
        assert!(parse(headers(&[("X-A", " !~ printable {} \"quoted\" ")])).is_ok());
    }

    #[test]
    fn custom_headers_need_https() {
        let req = request(headers(&[("X-Team", "core")]));
        let err = DeliveryOptions::parse(&req, false).unwrap_err();
        assert_eq!(err.0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["headers"]);
        assert!(DeliveryOptions::parse(&req, true).is_ok());
        assert!(DeliveryOptions::parse(&request(json!({ "headers": [] })), false).is_ok());
    }

    #[test]
    fn every_bad_header_field_is_reported_at_once() {
        let mut value = headers(&[
            ("X-A", "1"),
            ("Host", "evil"),
            ("X-B", "line\nbreak"),
            ("x-a", "2"),
            ("X C", "3"),
            ("X-D", "4"),
        ]);
        value["timeout_ms"] = json!(500);
        let err = DeliveryOptions::parse(&request(value), false).unwrap_err();
        let got: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            got,
            [
                "headers",
                "headers",
                "headers[1].name",
                "headers[2].value",
                "headers[3].name",
                "headers[4].name",
                "timeout_ms"
            ]
        );
    }

    #[test]
    fn a_custom_header_may_not_repeat_the_api_key_header() {
        let err = parse(json!({
            "auth": { "type": "api_key", "header": "token", "value": "s3cret" },
            "headers": [{ "name": "Token", "value": "other" }]
        }))
        .unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].field, "headers[0].name");
        assert!(err.0[0].message.contains("auth"));
    }

    #[test]
    fn auth_variants_parse_from_their_json_shapes() {
        let cases = [
            (json!({ "type": "none" }), EndpointAuth::None),
            (
                json!({ "type": "api_key", "header": "token", "value": "fc-secret" }),
                EndpointAuth::ApiKey { header: "token".into(), value: "fc-secret".into() },
            ),
            (
                json!({ "type": "basic", "username": "Aladdin", "password": "open sesame" }),
                EndpointAuth::Basic { username: "Aladdin".into(), password: "open sesame".into() },
            ),
            (json!({ "type": "bearer", "token": "tok_123" }), EndpointAuth::Bearer { token: "tok_123".into() }),
        ];
        for (value, expected) in cases {
            let options = parse(json!({ "auth": value.clone() })).unwrap();
            assert_eq!(options.auth, expected);
            // Round-trips with its secrets, so the caller can seal the serialized form.
            assert_eq!(serde_json::to_value(&options.auth).unwrap(), value);
            let stored = serde_json::to_string(&options).unwrap();
            assert_eq!(serde_json::from_str::<DeliveryOptions>(&stored).unwrap(), options);
        }
        for bad in [
            json!({ "type": "oauth" }),
            json!({ "type": "bearer" }),
            json!({ "type": "bearer", "token": "x", "extra": 1 }),
            json!({ "token": "x" }),
        ] {
            assert!(serde_json::from_value::<EndpointAuth>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn auth_applies_the_right_header() {
        let basic = EndpointAuth::Basic { username: "Aladdin".into(), password: "open sesame".into() };
        let applied = basic.apply();
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].0, http::header::AUTHORIZATION);
        assert_eq!(applied[0].1, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(applied[0].1.is_sensitive());

        let bearer = EndpointAuth::Bearer { token: "tok_123".into() }.apply();
        assert_eq!(bearer, [(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer tok_123"))]);

        let api_key = EndpointAuth::ApiKey { header: "Token".into(), value: "fc-secret".into() }.apply();
        assert_eq!(api_key.len(), 1);
        assert_eq!(api_key[0].0, "token");
        assert_eq!(api_key[0].1, "fc-secret");

        assert!(EndpointAuth::None.apply().is_empty());

        // UTF-8 credentials are encoded as UTF-8 (RFC 7617).
        let utf8 = EndpointAuth::Basic { username: "jöhn".into(), password: "pässword".into() }.apply();
        let expected = format!("Basic {}", STANDARD.encode("jöhn:pässword".as_bytes()));
        assert_eq!(utf8[0].1, expected.as_str());

        let options = parse(json!({
            "auth": { "type": "bearer", "token": "t" },
            "headers": { "X-Team": "core" }
        }))
        .unwrap();
        let names: Vec<_> = options.request_headers().into_iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names, ["authorization", "x-team"]);
    }

    #[test]
    fn auth_fields_are_checked() {
        let cases = [
            (json!({ "type": "api_key", "header": "Host", "value": "v" }), vec!["auth.header"]),
            (json!({ "type": "api_key", "header": "X-Amz-Key", "value": "v" }), vec!["auth.header"]),
            (json!({ "type": "api_key", "header": "bad name", "value": "" }), vec!["auth.header", "auth.value"]),
            (json!({ "type": "api_key", "header": "token", "value": "a\r\nb" }), vec!["auth.value"]),
            (json!({ "type": "api_key", "header": "token", "value": "x".repeat(1001) }), vec!["auth.value"]),
            (json!({ "type": "bearer", "token": "" }), vec!["auth.token"]),
            (json!({ "type": "bearer", "token": "tök" }), vec!["auth.token"]),
            (json!({ "type": "basic", "username": "", "password": "p" }), vec!["auth.username"]),
            (json!({ "type": "basic", "username": "a:b", "password": "p" }), vec!["auth.username"]),
            (json!({ "type": "basic", "username": "u\n", "password": "p\t" }), vec!["auth.username", "auth.password"]),
            (json!({ "type": "basic", "username": "u", "password": "p".repeat(1001) }), vec!["auth.password"]),
        ];
        for (auth, expected) in cases {
            assert_eq!(fields(json!({ "auth": auth.clone() })), expected, "{auth}");
        }
        // Any UTF-8 in basic credentials; an empty password (a key as the username); a key in
        // `authorization` with a scheme of the receiver's choosing.
        for good in [
            json!({ "type": "basic", "username": "jöhn", "password": "pä:ss wörd" }),
            json!({ "type": "basic", "username": "sk_live_123", "password": "" }),
            json!({ "type": "api_key", "header": "Authorization", "value": "Token abc" }),
        ] {
            assert!(parse(json!({ "auth": good.clone() })).is_ok(), "{good}");
        }
        let valid = EndpointAuth::Bearer { token: "t".into() };
        assert_eq!(valid.clone().validate("auth").unwrap(), valid);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secrets = [
            (EndpointAuth::ApiKey { header: "token".into(), value: "SECRET-1".into() }, "SECRET-1"),
            (EndpointAuth::Basic { username: "u".into(), password: "SECRET-2".into() }, "SECRET-2"),
            (EndpointAuth::Bearer { token: "SECRET-3".into() }, "SECRET-3"),
        ];
        for (auth, secret) in secrets {
            let shown = format!("{auth:?} {auth:#?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
            let options = DeliveryOptions { auth: auth.clone(), ..DeliveryOptions::default() };
            assert!(!format!("{options:?}").contains(secret));
            let req =
                request(json!({ "auth": serde_json::to_value(&auth).unwrap(), "headers": { "X-Key": "SECRET-4" } }));
            let shown = format!("{req:?}");
            assert!(!shown.contains(secret) && !shown.contains("SECRET-4"), "{shown}");
        }
        let header = parse(json!({ "headers": { "X-Key": "SECRET-5" } })).unwrap();
        assert!(!format!("{header:?}").contains("SECRET-5"));
    }

    #[test]
    fn the_redacted_view_has_no_secret() {
        let cases = [
            (EndpointAuth::None, json!({ "type": "none" })),
            (
                EndpointAuth::ApiKey { header: "token".into(), value: "SECRET".into() },
                json!({ "type": "api_key", "header": "token" }),
            ),
            (
                EndpointAuth::Basic { username: "u".into(), password: "SECRET".into() },
                json!({ "type": "basic", "username": "u" }),
            ),
            (EndpointAuth::Bearer { token: "SECRET".into() }, json!({ "type": "bearer" })),
        ];
        for (auth, expected) in cases {
            let view = auth.redacted();
            assert_eq!(view, expected);
            assert!(!view.to_string().contains("SECRET"));
        }
    }

    #[test]
    fn the_wrong_credential_differs_only_in_its_secret() {
        let api_key = EndpointAuth::ApiKey { header: "token".into(), value: "right".into() };
        let EndpointAuth::ApiKey { header, value } = api_key.with_wrong_credential() else { panic!("variant changed") };
        assert_eq!(header, "token");
        assert_ne!(value, "right");

        let basic = EndpointAuth::Basic { username: "u".into(), password: "right".into() };
        let EndpointAuth::Basic { username, password } = basic.with_wrong_credential() else {
            panic!("variant changed")
        };
        assert_eq!(username, "u");
        assert_ne!(password, "right");

        let bearer = EndpointAuth::Bearer { token: "right".into() };
        let wrong = bearer.with_wrong_credential();
        assert_ne!(wrong, bearer);
        assert_ne!(wrong.apply(), bearer.apply());
        assert!(matches!(wrong, EndpointAuth::Bearer { .. }));

        for auth in [api_key, basic, bearer] {
            let wrong = auth.with_wrong_credential();
            assert_ne!(wrong, auth);
            // Still a well-formed credential, so the receiver sees a wrong secret, not a bad request.
            assert_eq!(wrong.clone().validate("auth").unwrap(), wrong);
        }
        assert_eq!(EndpointAuth::None.with_wrong_credential(), EndpointAuth::None);
    }

    #[test]
    fn metadata_limits() {
        let options = parse(json!({ "metadata": { "team": "core", "tier": "" } })).unwrap();
        assert_eq!(options.metadata["team"], "core");

        let many: serde_json::Map<_, _> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(fields(json!({ "metadata": many })), ["metadata"]);
        let twenty: serde_json::Map<_, _> = (0..20).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(parse(json!({ "metadata": twenty })).is_ok());

        let long_key = "k".repeat(65);
        let err = fields(json!({ "metadata": { long_key.clone(): "v", "ok": "v".repeat(257) } }));
        assert_eq!(err, [format!("metadata.{long_key}"), "metadata.ok".to_owned()]);
        assert_eq!(fields(json!({ "metadata": { "": "v" } })), ["metadata."]);
        assert!(parse(json!({ "metadata": { "k".repeat(64): "v".repeat(256) } })).is_ok());
    }

    #[test]
    fn timeout_bounds() {
        assert_eq!(parse(json!({ "timeout_ms": 1000 })).unwrap().timeout_ms, 1000);
        assert_eq!(parse(json!({ "timeout_ms": 30000 })).unwrap().timeout(), Duration::from_secs(30));
        for bad in [0u64, 999, 30_001, u64::from(u32::MAX) + 1] {
            assert_eq!(fields(json!({ "timeout_ms": bad })), ["timeout_ms"], "{bad}");
        }
    }

    #[test]
    fn rate_limit_bounds() {
        let options = parse(json!({ "rate_limit_per_second": 1000, "rate_limit_key": "Acme.crm:v2_-" })).unwrap();
        assert_eq!(options.rate_limit_per_second, Some(1000));
        assert_eq!(options.rate_limit_key.as_deref(), Some("Acme.crm:v2_-"));
        assert_eq!(parse(json!({ "rate_limit_per_second": 1 })).unwrap().rate_limit_per_second, Some(1));
        for bad in [0u64, 1001, u64::from(u32::MAX) + 1] {
            assert_eq!(fields(json!({ "rate_limit_per_second": bad })), ["rate_limit_per_second"], "{bad}");
        }
        let max_key = "k".repeat(128);
        assert!(parse(json!({ "rate_limit_per_second": 5, "rate_limit_key": max_key })).is_ok());
        for bad in ["", "has space", "slash/", "ключ", &"k".repeat(129)] {
            let err = fields(json!({ "rate_limit_per_second": 5, "rate_limit_key": bad }));
            assert_eq!(err, ["rate_limit_key"], "{bad:?}");
        }
    }

    #[test]
    fn stored_options_deserialize_with_defaults_for_missing_fields() {
        let stored: DeliveryOptions = serde_json::from_value(json!({ "method": "PATCH" })).unwrap();
        assert_eq!(stored, DeliveryOptions { method: HttpMethod::Patch, ..DeliveryOptions::default() });
    }

    /// One test per client-address or proxy header, in the case a tenant might write it.
    macro_rules! client_address_header_is_refused {
        ($($test:ident: $name:literal,)*) => {$(
            #[test]
            fn $test() {
                assert_eq!(fields(headers(&[("X-Fine", "1"), ($name, "203.0.113.7")])), ["headers[1].name"]);
                let api_key = json!({ "auth": { "type": "api_key", "header": $name, "value": "k" } });
                assert_eq!(fields(api_key), ["auth.header"]);
            }
        )*};
    }

    client_address_header_is_refused! {
        x_real_ip_is_refused: "X-Real-IP",
        true_client_ip_is_refused: "True-Client-IP",
        cf_connecting_ip_is_refused: "CF-Connecting-IP",
        x_client_ip_is_refused: "X-Client-IP",
        via_is_refused: "Via",
        max_forwards_is_refused: "Max-Forwards",
    }
}
