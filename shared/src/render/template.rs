//! A tiny, logic-less template language for chat messages and query-parameter values.
//!
//! A template is literal text with `{{ … }}` placeholders (spaces inside the braces are allowed):
//!
//! | placeholder          | renders as                                                             |
//! |----------------------|------------------------------------------------------------------------|
//! | `{{event.id}}`       | the event id                                                           |
//! | `{{event.type}}`     | the event type                                                         |
//! | `{{payload}}`        | the whole payload as compact JSON                                      |
//! | `{{payload.a.b[0]}}` | the value at that path: a string raw, anything else as compact JSON;   |
//! |                      | a missing path (a key on a non-object, an index past an array's end…) |
//! |                      | as nothing                                                             |
//!
//! A path segment is `.key` (one or more characters other than whitespace and `.[]{}"'`) or `[n]`
//! (decimal digits). There are no sections, loops, partials or filters, and no way to run code.
//! A lone `}}` in literal text is literal; there is no escape for a literal `{{`.
//!
//! Parsing ([`Template::parse`]) is separate from rendering, so a bad template is refused when an
//! endpoint is saved ([`TemplateError`] says what and where); rendering fails only when its
//! output would pass the bound of the [`Bounded`] buffer it writes into. The [`Escape`] mode
//! applies to the values put into placeholders, never to the literal text, which the endpoint's
//! owner wrote for that target.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::EventContext;
use super::bounded::{Bounded, Part as BoundPart, TooLarge};

/// Longest template accepted, in bytes.
pub const MAX_TEMPLATE_LEN: usize = 8192;

/// A parsed template. Serializes as (and deserializes by parsing) its source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    EventId,
    EventType,
    Payload(Vec<Segment>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// How the value of each placeholder is escaped for its target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Escape {
    /// As is: for text that is serialized afterwards (a chat message's JSON body, a query pair).
    #[default]
    None,
    /// Escaped for the inside of a JSON string literal (`"` → `\"`, newline → `\n`, controls →
    /// `\u00XX`), without the surrounding quotes.
    JsonString,
    /// Escaped for XML text or an attribute value (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;`).
    Xml,
    /// Percent-encoded as a URL component: everything but RFC 3986 unreserved characters
    /// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` of its UTF-8 bytes, so a space is `%20`.
    Url,
}

/// Why a template does not parse. `position` is the 1-based character position in the source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("template error at position {position}: {message}")]
pub struct TemplateError {
    pub position: usize,
    pub message: String,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        if source.len() > MAX_TEMPLATE_LEN {
            return Err(error_at(source, 0, format!("a template has at most {MAX_TEMPLATE_LEN} bytes")));
        }
        let mut parts = Vec::new();
        let mut rest = 0;
        while let Some(found) = source[rest..].find("{{") {
            let open = rest + found;
            if open > rest {
                parts.push(Part::Literal(source[rest..open].to_owned()));
            }
            let inner_start = open + 2;
            let Some(len) = source[inner_start..].find("}}") else {
                return Err(error_at(source, open, "unclosed `{{`: expected `}}`".to_owned()));
            };
            let inner = &source[inner_start..inner_start + len];
            let lead = inner.len() - inner.trim_start().len();
            parts.push(parse_placeholder(source, inner_start + lead, inner.trim())?);
            rest = inner_start + len + 2;
        }
        if rest < source.len() {
            parts.push(Part::Literal(source[rest..].to_owned()));
        }
        Ok(Self { source: source.to_owned(), parts })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Writes the text with every placeholder filled in, each value escaped by `escape`, into
    /// `out`, which stops it at its bound (a template such as 700 × `{{payload}}` must not be
    /// rendered whole first).
    pub fn render_into(&self, out: &mut Bounded, event: &EventContext<'_>, escape: Escape) -> Result<(), TooLarge> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text)?,
                Part::EventId => push_escaped(out, event.id, escape)?,
                Part::EventType => push_escaped(out, event.event_type, escape)?,
                Part::Payload(path) => match lookup(event.payload, path) {
                    None => {}
                    Some(Value::String(s)) => push_escaped(out, s, escape)?,
                    Some(other) if escape == Escape::None => out.push_json(other)?,
                    Some(other) => {
                        // Escaping needs the JSON text; bound it by what is left first.
                        let mut json = Bounded::strict(out.part(), out.room());
                        json.push_json(other)?;
                        push_escaped(out, json.as_str(), escape)?;
                    }
                },
            }
            if out.was_cut() {
                break;
            }
        }
        Ok(())
    }

    /// The text with every placeholder filled in, at most `limit` bytes.
    pub fn render(
        &self,
        event: &EventContext<'_>,
        escape: Escape,
        part: BoundPart,
        limit: usize,
    ) -> Result<String, TooLarge> {
        let mut out = Bounded::strict(part, limit);
        self.render_into(&mut out, event, escape)?;
        Ok(out.into_string())
    }
}

/// Parses one trimmed placeholder body starting at byte `at` of `source`.
fn parse_placeholder(source: &str, at: usize, expr: &str) -> Result<Part, TemplateError> {
    if expr.is_empty() {
        return Err(error_at(source, at, "empty placeholder: expected `event.id`, `event.type` or `payload…`".into()));
    }
    let root_len = expr.find(['.', '[']).unwrap_or(expr.len());
    let (root, path) = expr.split_at(root_len);
    match root {
        "event" => match path {
            ".id" => Ok(Part::EventId),
            ".type" => Ok(Part::EventType),
            _ => Err(error_at(source, at + root_len, format!("`event{path}`: expected `event.id` or `event.type`"))),
        },
        "payload" => parse_path(source, at + root_len, path).map(Part::Payload),
        _ => Err(error_at(source, at, format!("unknown root `{root}`: expected `event` or `payload`"))),
    }
}

fn parse_path(source: &str, at: usize, path: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut i = 0;
    let bytes = path.as_bytes();
    while i < path.len() {
        match bytes[i] {
            b'.' => {
                let key_len = path[i + 1..].find(|c: char| !is_key_char(c)).unwrap_or(path.len() - i - 1);
                if key_len == 0 {
                    let msg = match path[i + 1..].chars().next() {
                        None => "expected a key after `.`".to_owned(),
                        Some(c) => format!("expected a key after `.`, found `{c}`"),
                    };
                    return Err(error_at(source, at + i + 1, msg));
                }
                segments.push(Segment::Key(path[i + 1..i + 1 + key_len].to_owned()));
                i += 1 + key_len;
            }
            b'[' => {
                let digits = path[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
                let close = i + 1 + digits;
                if digits == 0 || bytes.get(close) != Some(&b']') {
                    return Err(error_at(source, at + i, "expected an index such as `[0]`".to_owned()));
                }
                let index = path[i + 1..close]
                    .parse()
                    .map_err(|_| error_at(source, at + i + 1, "the index is too large".to_owned()))?;
                segments.push(Segment::Index(index));
                i = close + 1;
            }
            _ => {
                let c = path[i..].chars().next().unwrap_or_default();
                return Err(error_at(source, at + i, format!("unexpected `{c}`: expected `.key` or `[index]`")));
            }
        }
    }
    Ok(segments)
}

fn is_key_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '.' | '[' | ']' | '{' | '}' | '"' | '\''))
}

fn error_at(source: &str, byte: usize, message: String) -> TemplateError {
    let position = source.get(..byte).map_or(byte, |s| s.chars().count()) + 1;
    TemplateError { position, message }
}

fn lookup<'v>(root: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter().try_fold(root, |value, segment| match segment {
        Segment::Key(key) => value.as_object()?.get(key),
        Segment::Index(index) => value.as_array()?.get(*index),
    })
}

fn push_escaped(out: &mut Bounded, value: &str, escape: Escape) -> Result<(), TooLarge> {
    match escape {
        Escape::None => out.push_str(value),
        Escape::JsonString => {
            let quoted = Value::String(value.to_owned()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1])
        }
        Escape::Xml => super::xml::push_text(out, value),
        Escape::Url => {
            for byte in value.bytes() {
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(byte))?;
                } else {
                    out.push_str(&format!("%{byte:02X}"))?;
                }
            }
            Ok(())
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Template {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Template {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::string_schema(
            "A template: text with `{{event.id}}`, `{{event.type}}`, `{{payload}}` or `{{payload.a.b}}` placeholders.",
            None,
            Some(MAX_TEMPLATE_LEN),
        )
    }
}

impl utoipa::ToSchema for Template {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(source: &str, payload: &Value, escape: Escape) -> String {
        let raw = payload.to_string();
        let event =
            EventContext { id: "evt_01ABC", event_type: "order.created", payload, raw_payload: &raw, timestamp: "" };
        Template::parse(source).unwrap().render(&event, escape, BoundPart::Body, 1 << 20).unwrap()
    }

    fn parse_error(source: &str) -> String {
        Template::parse(source).unwrap_err().to_string()
    }

    #[test]
    fn renders_event_fields_and_literal_text() {
        let out = render("{{event.type}} ({{ event.id }}) }} done", &json!({}), Escape::None);
        assert_eq!(out, "order.created (evt_01ABC) }} done");
    }

    #[test]
    fn renders_paths_strings_raw_and_others_as_compact_json() {
        let payload = json!({
            "a": {"b": [{"c": "deep"}, 2]},
            "flag": true,
            "n": 1.5,
            "none": null,
            "obj": {"x": [1, "y"]},
            "s": "plain \"text\""
        });
        let out = render(
            "{{payload.a.b[0].c}}|{{payload.a.b[1]}}|{{payload.flag}}|{{payload.n}}|{{payload.none}}|{{payload.obj}}|{{payload.s}}",
            &payload,
            Escape::None,
        );
        assert_eq!(out, r#"deep|2|true|1.5|null|{"x":[1,"y"]}|plain "text""#);
    }

    #[test]
    fn missing_paths_render_empty() {
        let payload = json!({"a": {"b": [1]}, "s": "text"});
        let out =
            render("[{{payload.zz}}][{{payload.a.b[5]}}][{{payload.s.x}}][{{payload.a[0]}}]", &payload, Escape::None);
        assert_eq!(out, "[][][][]");
    }

    #[test]
    fn whole_payload_is_compact_json() {
        let payload = json!({"a": [1, 2], "b": {"c": "Zoë"}});
        assert_eq!(render("{{payload}}", &payload, Escape::None), r#"{"a":[1,2],"b":{"c":"Zoë"}}"#);
    }

    #[test]
    fn keys_may_hold_dashes_colons_and_non_ascii() {
        let payload = json!({"x-id": "1", "ns:k": "2", "名前": "3"});
        assert_eq!(render("{{payload.x-id}}{{payload.ns:k}}{{payload.名前}}", &payload, Escape::None), "123");
    }

    #[test]
    fn escapes_values_per_mode_but_never_the_literal_text() {
        let payload = json!({"v": "a \"q\" <b> & 'c'\n\u{1}/é 日?=&"});
        assert_eq!(
            render("<{{payload.v}}>", &payload, Escape::JsonString),
            "<a \\\"q\\\" <b> & 'c'\\n\\u0001/é 日?=&>"
        );
        assert_eq!(
            render("<{{payload.v}}>", &payload, Escape::Xml),
            "<a &quot;q&quot; &lt;b&gt; &amp; &apos;c&apos;\n\u{FFFD}/é 日?=&amp;>"
        );
        assert_eq!(
            render("<{{payload.v}}>", &payload, Escape::Url),
            "<a%20%22q%22%20%3Cb%3E%20%26%20%27c%27%0A%01%2F%C3%A9%20%E6%97%A5%3F%3D%26>"
        );
        assert_eq!(render("{{payload.v}}", &payload, Escape::None), "a \"q\" <b> & 'c'\n\u{1}/é 日?=&");
    }

    #[test]
    fn escape_applies_to_non_string_values_too() {
        let payload = json!({"o": {"k": "<&>"}});
        assert_eq!(render("{{payload.o}}", &payload, Escape::Xml), "{&quot;k&quot;:&quot;&lt;&amp;&gt;&quot;}");
        assert_eq!(render("{{payload.o}}", &payload, Escape::Url), "%7B%22k%22%3A%22%3C%26%3E%22%7D");
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        assert_eq!(parse_error("Hi {{event.type"), "template error at position 4: unclosed `{{`: expected `}}`");
        assert_eq!(
            parse_error("x {{ secrets.key }}"),
            "template error at position 6: unknown root `secrets`: expected `event` or `payload`"
        );
        assert_eq!(
            parse_error("{{event.name}}"),
            "template error at position 8: `event.name`: expected `event.id` or `event.type`"
        );
        assert_eq!(
            parse_error("{{event}}"),
            "template error at position 8: `event`: expected `event.id` or `event.type`"
        );
        assert_eq!(parse_error("{{payload.}}"), "template error at position 11: expected a key after `.`");
        assert_eq!(parse_error("{{payload..a}}"), "template error at position 11: expected a key after `.`, found `.`");
        assert_eq!(parse_error("{{payload.a[x]}}"), "template error at position 12: expected an index such as `[0]`");
        assert_eq!(parse_error("{{payload.a[0}}"), "template error at position 12: expected an index such as `[0]`");
        assert_eq!(
            parse_error("{{payload.a b}}"),
            "template error at position 12: unexpected ` `: expected `.key` or `[index]`"
        );
        assert_eq!(
            parse_error("{{  }}"),
            "template error at position 5: empty placeholder: expected `event.id`, `event.type` or `payload…`"
        );
        assert_eq!(
            parse_error("{{payload[99999999999999999999999]}}"),
            "template error at position 11: the index is too large"
        );
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        assert_eq!(
            parse_error("日本 {{nope}}"),
            "template error at position 6: unknown root `nope`: expected `event` or `payload`"
        );
    }

    #[test]
    fn a_placeholder_cannot_nest() {
        let err = Template::parse("{{payload.{{x}}}}").unwrap_err();
        assert_eq!(err.position, 11);
    }

    #[test]
    fn refuses_an_overlong_template() {
        let err = Template::parse(&"a".repeat(MAX_TEMPLATE_LEN + 1)).unwrap_err();
        assert_eq!(err.position, 1);
    }

    #[test]
    fn serializes_as_its_source_and_deserializes_by_parsing() {
        let template = Template::parse("{{event.type}}: {{payload.a[0]}}").unwrap();
        let text = serde_json::to_string(&template).unwrap();
        assert_eq!(text, r#""{{event.type}}: {{payload.a[0]}}""#);
        let back: Template = serde_json::from_str(&text).unwrap();
        assert_eq!(back, template);
        let bad = serde_json::from_str::<Template>(r#""{{oops""#).unwrap_err();
        assert!(bad.to_string().contains("unclosed `{{`"), "{bad}");
    }
}
