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
}

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
            Self::All => true,
            Self::Exact(t) => t == event_type,
            Self::Prefix(p) => event_type.as_str().strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.')),
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
    fn malformed_names_are_refused() {
        for bad in ["", ".", "order.", ".order", "order..created", "order created", "ord*er", "**"] {
            assert!(EventTypePattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EventType::parse(&"a".repeat(129)).is_err());
        assert!(EventType::parse("order.*").is_err(), "a wildcard is a pattern, not a type");
    }
}
