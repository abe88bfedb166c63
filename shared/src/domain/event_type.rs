use std::fmt;

use serde::{Deserialize, Serialize};

const MAX_LEN: usize = 128;

/// An event type name such as `order.created`: dot-separated segments of letters, digits, `_`
/// and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > MAX_LEN {
            return Err(format!("an event type has 1 to {MAX_LEN} characters"));
        }
        let segment_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !value.split('.').all(segment_ok) {
            return Err(format!(
                "`{value}` is not an event type: use dot-separated segments of letters, digits, `_` and `-`"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `hookline` and `hookline.…` are Hookline's own operational events: tenants cannot
    /// register or publish them, only subscribe to them.
    pub fn is_reserved(&self) -> bool {
        self.0 == RESERVED_ROOT || self.0.strip_prefix(RESERVED_ROOT).is_some_and(|rest| rest.starts_with('.'))
    }
}

/// The first segment of the reserved event types (`hookline.endpoint.disabled`, …).
pub const RESERVED_ROOT: &str = "hookline";

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<EventType> for String {
    fn from(t: EventType) -> String {
        t.0
    }
}

/// What [`EventType::parse`] accepts, for the OpenAPI document.
const EVENT_TYPE_PATTERN: &str = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$";

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::string_schema(
            "An event type: dot-separated segments of letters, digits, `_` and `-` (`hookline.…` is reserved).",
            Some(EVENT_TYPE_PATTERN),
            Some(MAX_LEN),
        )
    }
}

impl utoipa::ToSchema for EventType {}

impl utoipa::PartialSchema for EventTypePattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::string_schema(
            "An event type, `prefix.*` (every type under the prefix) or `*` (every type but Hookline's own).",
            Some(r"^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$"),
            Some(MAX_LEN + 2),
        )
    }
}

impl utoipa::ToSchema for EventTypePattern {}

/// What an endpoint subscribes to: every type (`*`), one type, or every type under a prefix
/// (`order.*` matches `order.created` and `order.item.added`, not `order` itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EventTypePattern {
    All,
    Exact(EventType),
    Prefix(EventType),
}

impl EventTypePattern {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value == "*" {
            return Ok(Self::All);
        }
        match value.strip_suffix(".*") {
            Some(prefix) => EventType::parse(prefix).map(Self::Prefix),
            None => EventType::parse(value).map(Self::Exact),
        }
    }

    pub fn matches(&self, event_type: &EventType) -> bool {
        match self {
            // `*` is every type of the tenant's own; operational events (`hookline.…`) need a
            // subscription that names them, so no endpoint receives them unasked (and an
            // endpoint failing on `*` is not sent news of its own failures).
            Self::All => !event_type.is_reserved(),
            Self::Exact(t) => t == event_type,
            Self::Prefix(p) => event_type.as_str().strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

impl EventTypePattern {
    /// Whether the pattern names reserved types only (`hookline.*`, `hookline.endpoint.disabled`):
    /// those need no registration.
    pub fn is_reserved(&self) -> bool {
        match self {
            Self::All => false,
            Self::Exact(t) | Self::Prefix(t) => t.is_reserved(),
        }
    }
}

impl TryFrom<String> for EventTypePattern {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<EventTypePattern> for String {
    fn from(p: EventTypePattern) -> String {
        match p {
            EventTypePattern::All => "*".to_owned(),
            EventTypePattern::Exact(t) => t.0,
            EventTypePattern::Prefix(t) => format!("{}.*", t.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, event_type: &str, expected: bool) {
        let p = EventTypePattern::parse(pattern).unwrap();
        let t = EventType::parse(event_type).unwrap();
        assert_eq!(p.matches(&t), expected, "{pattern} vs {event_type}");
    }

    #[test]
    fn patterns_match_as_documented() {
        check("*", "order.created", true);
        check("order.created", "order.created", true);
        check("order.created", "order.updated", false);
        check("order.*", "order.created", true);
        check("order.*", "order.item.added", true);
        check("order.*", "order", false);
        check("order.*", "orders.created", false);
    }

    #[test]
    fn operational_types_are_reserved_and_only_explicit_patterns_match_them() {
        for reserved in ["hookline", "hookline.endpoint.disabled", "hookline.delivery.exhausted"] {
            assert!(EventType::parse(reserved).unwrap().is_reserved(), "{reserved}");
        }
        for own in ["hooklines.x", "order.hookline", "hookline-x.y"] {
            assert!(!EventType::parse(own).unwrap().is_reserved(), "{own}");
        }
        check("*", "hookline.endpoint.disabled", false);
        check("hookline.*", "hookline.endpoint.disabled", true);
        check("hookline.endpoint.*", "hookline.endpoint.recovered", true);
        check("hookline.delivery.exhausted", "hookline.delivery.exhausted", true);
        assert!(EventTypePattern::parse("hookline.*").unwrap().is_reserved());
        assert!(!EventTypePattern::parse("*").unwrap().is_reserved());
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", ".", "order.", ".order", "order..created", "order created", "ord*er", "**"] {
            assert!(EventTypePattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EventType::parse(&"a".repeat(129)).is_err());
        assert!(EventType::parse("order.*").is_err(), "a wildcard is a pattern, not a type");
    }
}
