//! Rendering: an event turned into the exact HTTP request body and URL for an endpoint. Pure: no
//! I/O, no clock, no AWS.
//!
//! [`render`] is the entry point: `render(target, url, event) -> Result<Rendered, RenderError>`.
//!
//! - `target.format` ([`Format`], serde `snake_case`) chooses the body:
//!   - `json` (the default): the payload exactly as the sender posted it (`event.raw_payload`),
//!     `application/json`; with `envelope: standard`, wrapped as Standard Webhooks'
//!     `{"type", "timestamp", "data"}` (`data` still the bytes as posted);
//!   - `xml`: see [`xml`] for the mapping, `application/xml; charset=utf-8`;
//!   - `form`: see [`form`] for the flattening (`a[b][0]=…`), `application/x-www-form-urlencoded`;
//!   - `chime`, `google_chat`, `slack`: the rendered `template` (or
//!     [`chat::DEFAULT_TEMPLATE`]) wrapped in the service's JSON body, cut to its limit while
//!     rendering, with [`Rendered::truncated`] set; see [`chat`]. A Google Chat thread key goes
//!     in the body (`"thread": {"threadKey": …}`), and `messageReplyOption` in the URL unless
//!     the URL already names one.
//! - `target.has_body` is false for GET, and for DELETE unless the endpoint asks for a body.
//!   Then the body is empty, `content_type` is `None`, and for `json`/`xml`/`form` the payload's
//!   fields (or the envelope's) go into the query, flattened as for `form`. The chat formats
//!   need a body, so they answer [`RenderError::BodyRequired`].
//! - `target.query` is the endpoint's `name → template` map; each rendered value is added to the
//!   query (form-encoded, so templates are rendered with [`Escape::None`]).
//!
//! The URL keeps its own query; after it come, in order: the payload's fields (no-body methods),
//! the endpoint's `query` pairs in the given order, then `messageReplyOption`.
//!
//! Every renderer writes into a [`Bounded`] buffer: a body stops at [`MAX_BODY_BYTES`], a URL at
//! [`MAX_URL_BYTES`], and the rendering fails with [`RenderError::TooLarge`] the moment it
//! would pass, so a small payload cannot be blown up into gigabytes by a format or a template.
//! Templates ([`Template`]) are parsed when an endpoint is saved, so a bad one is a 422 there.

pub mod bounded;
pub mod chat;
pub mod form;
pub mod template;
pub mod xml;

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub use bounded::{Bounded, MAX_BODY_BYTES, MAX_URL_BYTES, Part, TooLarge};
pub use template::{Escape, Template, TemplateError};

/// How an endpoint wants its events delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Xml,
    Form,
    Chime,
    GoogleChat,
    Slack,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Xml => "xml",
            Self::Form => "form",
            Self::Chime => "chime",
            Self::GoogleChat => "google_chat",
            Self::Slack => "slack",
        }
    }

    /// The `content-type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Xml => xml::CONTENT_TYPE,
            Self::Form => form::CONTENT_TYPE,
            Self::Chime => chat::CHIME_CONTENT_TYPE,
            Self::GoogleChat => chat::GOOGLE_CHAT_CONTENT_TYPE,
            Self::Slack => chat::SLACK_CONTENT_TYPE,
        }
    }

    /// True for the chat formats, which send a rendered message rather than the payload.
    pub fn is_chat(self) -> bool {
        matches!(self, Self::Chime | Self::GoogleChat | Self::Slack)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a `json` body is shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// The payload as posted.
    #[default]
    None,
    /// Standard Webhooks' payload structure: `{"type": …, "timestamp": …, "data": payload}`.
    Standard,
}

/// Where a DELETE request carries the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletePayload {
    /// In the query string, like GET (many servers ignore a DELETE body).
    #[default]
    Query,
    /// In a body, as for POST (FastComments reads the comment's id there).
    Body,
}

/// The event being rendered.
#[derive(Clone, Copy, Debug)]
pub struct EventContext<'a> {
    /// `evt_…`
    pub id: &'a str,
    /// Such as `order.created`.
    pub event_type: &'a str,
    /// The payload, always a JSON object.
    pub payload: &'a Value,
    /// The payload's bytes exactly as the sender posted them, sent as is by the `json` format.
    pub raw_payload: &'a str,
    /// When the event was accepted, RFC 3339 (the standard envelope's `timestamp`).
    pub timestamp: &'a str,
}

/// What an endpoint asks of the rendering.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub format: Format,
    /// Whether the request carries a body (see the module documentation).
    pub has_body: bool,
    pub query: &'a BTreeMap<String, Template>,
    /// The chat message (chat formats only).
    pub template: Option<&'a Template>,
    /// Google Chat's thread key.
    pub thread_key: Option<&'a Template>,
    /// Google Chat's cards: a template that renders the `cardsV2` JSON array.
    pub cards: Option<&'a Template>,
    pub envelope: Envelope,
}

/// The request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Empty when the method has no body.
    pub body: Bytes,
    /// `None` when the method has no body.
    pub content_type: Option<&'static str>,
    /// The endpoint's URL with the query parameters added.
    pub url: Url,
    /// True when a chat message was cut to fit the service's limit.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum RenderError {
    #[error("the `{0}` format sends a message body, so it needs a method with a body (POST, PUT or PATCH)")]
    BodyRequired(Format),
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    #[error("the `cards` template did not render a JSON array (Google Chat's `cardsV2`)")]
    CardsNotAnArray,
}

/// The body, content type and URL for one delivery of `event` (see the module documentation).
pub fn render(target: &Target<'_>, url: &Url, event: &EventContext<'_>) -> Result<Rendered, RenderError> {
    let format = target.format;
    if !target.has_body && format.is_chat() {
        return Err(RenderError::BodyRequired(format));
    }
    let mut pairs = query_pairs(target, url, event)
        // The pairs had the room the URL left them; the bound that matters is the URL's.
        .map_err(|_| TooLarge { part: Part::Url, limit: MAX_URL_BYTES })?;
    let thread_key = match (format, target.thread_key) {
        (Format::GoogleChat, Some(template)) => {
            Some(template.render(event, Escape::None, Part::ThreadKey, chat::MAX_THREAD_KEY_BYTES)?)
                .filter(|key| !key.is_empty())
        }
        _ => None,
    };
    let names_reply_option = || url.query_pairs().any(|(name, _)| name == chat::GOOGLE_CHAT_REPLY_OPTION_PARAM);
    if thread_key.is_some() && !names_reply_option() {
        // Without it Google starts a new thread for every message, whatever the key.
        form::write_pair(&mut pairs, chat::GOOGLE_CHAT_REPLY_OPTION_PARAM, chat::GOOGLE_CHAT_REPLY_OPTION)?;
    }
    let url = form::append_query(url, pairs.as_str())?;

    if !target.has_body {
        return Ok(Rendered { body: Bytes::new(), content_type: None, url, truncated: false });
    }
    let (body, truncated) = match format {
        Format::Json => (json_body(target.envelope, event)?, false),
        Format::Xml => (Bytes::from(xml::to_xml(event.event_type, event.payload)?), false),
        Format::Form => (Bytes::from(form::to_form(event.payload)?), false),
        Format::Chime | Format::GoogleChat | Format::Slack => {
            let limit = chat::limit_of(format);
            let mut text = Bounded::cutting(chat::text_cap(limit));
            let cards = match (format, target.cards) {
                (Format::GoogleChat, Some(cards)) => Some(render_cards(cards, event)?),
                _ => None,
            };
            match target.template {
                Some(template) => template.render_into(&mut text, event, Escape::None)?,
                // A card message needs no text unless the endpoint asks for some.
                None if cards.is_some() => {}
                None => {
                    text.push_str(event.event_type)?;
                    text.push_str(": ")?;
                    text.push_json(event.payload)?;
                }
            }
            let has_text = target.template.is_some() || cards.is_none();
            let (body, truncated) = match format {
                Format::Chime => chat::chime_body(text.as_str()),
                Format::GoogleChat => {
                    chat::google_chat_body(has_text.then_some(text.as_str()), thread_key.as_deref(), cards)?
                }
                _ => chat::slack_body(text.as_str()),
            };
            (Bytes::from(body), truncated)
        }
    };
    Ok(Rendered { body, content_type: Some(format.content_type()), url, truncated })
}

/// Google Chat's `cardsV2` array from the `cards` template; values are JSON-escaped, so the
/// template's owner writes the JSON around them and a payload cannot break out of a string.
fn render_cards(cards: &Template, event: &EventContext<'_>) -> Result<Value, RenderError> {
    let mut out = Bounded::strict(Part::Body, chat::GOOGLE_CHAT_MAX_BODY_BYTES);
    cards.render_into(&mut out, event, Escape::JsonString)?;
    match serde_json::from_str(out.as_str()) {
        Ok(cards @ Value::Array(_)) => Ok(cards),
        _ => Err(RenderError::CardsNotAnArray),
    }
}

/// The query pairs the rendering adds to the URL (form-encoded, joined by `&`), in the room the
/// URL leaves under [`MAX_URL_BYTES`].
fn query_pairs(target: &Target<'_>, url: &Url, event: &EventContext<'_>) -> Result<Bounded, TooLarge> {
    let mut pairs = Bounded::strict(Part::Url, MAX_URL_BYTES.saturating_sub(url.as_str().len() + 1));
    if !target.has_body {
        match target.envelope {
            Envelope::None => form::write_pairs(&mut pairs, event.payload)?,
            Envelope::Standard => {
                form::write_pair(&mut pairs, "type", event.event_type)?;
                form::write_pair(&mut pairs, "timestamp", event.timestamp)?;
                form::write_value(&mut pairs, &mut "data".to_owned(), event.payload)?;
            }
        }
    }
    for (name, value) in target.query {
        let value = value.render(event, Escape::None, Part::Url, pairs.room())?;
        form::write_pair(&mut pairs, name, &value)?;
    }
    Ok(pairs)
}

/// The `json` body: the payload's bytes as posted, bare or in the standard envelope.
fn json_body(envelope: Envelope, event: &EventContext<'_>) -> Result<Bytes, TooLarge> {
    let mut out = Bounded::strict(Part::Body, MAX_BODY_BYTES);
    match envelope {
        Envelope::None => out.push_str(event.raw_payload)?,
        Envelope::Standard => {
            out.push_str(r#"{"type":"#)?;
            out.push_json(&Value::String(event.event_type.to_owned()))?;
            out.push_str(r#","timestamp":"#)?;
            out.push_json(&Value::String(event.timestamp.to_owned()))?;
            out.push_str(r#","data":"#)?;
            out.push_str(event.raw_payload)?;
            out.push('}')?;
        }
    }
    Ok(Bytes::from(out.into_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // Keys are sorted so the expectations hold with or without serde_json's `preserve_order`.
    const RAW: &str =
        "{ \"id\": \"ord_1\",\n  \"items\": [{\"sku\": \"A&B\"}], \"name\": \"Zoë <日本>\", \"note\": null }";
    const AT: &str = "2026-11-29T20:00:00Z";

    fn payload() -> Value {
        serde_json::from_str(RAW).unwrap()
    }

    fn event(payload: &Value) -> EventContext<'_> {
        EventContext { id: "evt_01HX", event_type: "order.created", payload, raw_payload: RAW, timestamp: AT }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn tpl(s: &str) -> Template {
        Template::parse(s).unwrap()
    }

    fn text(rendered: &Rendered) -> &str {
        std::str::from_utf8(&rendered.body).unwrap()
    }

    const NO_QUERY: &BTreeMap<String, Template> = &BTreeMap::new();

    /// A target with a body, no templates and no envelope.
    fn target(format: Format) -> Target<'static> {
        Target {
            format,
            has_body: true,
            query: NO_QUERY,
            template: None,
            thread_key: None,
            cards: None,
            envelope: Envelope::None,
        }
    }

    fn go(target: &Target<'_>, at: &str, event: &EventContext<'_>) -> Result<Rendered, RenderError> {
        render(target, &url(at), event)
    }

    #[test]
    fn json_sends_the_raw_payload_bytes() {
        let p = payload();
        let r = go(&target(Format::Json), "https://example.com/h", &event(&p)).unwrap();
        assert_eq!(text(&r), RAW);
        assert_eq!(r.content_type, Some("application/json"));
        assert_eq!(r.url.as_str(), "https://example.com/h");
        assert!(!r.truncated);
    }

    #[test]
    fn the_standard_envelope_wraps_the_raw_payload() {
        let p = payload();
        let t = Target { envelope: Envelope::Standard, ..target(Format::Json) };
        let r = go(&t, "https://example.com/h", &event(&p)).unwrap();
        assert_eq!(text(&r), format!(r#"{{"type":"order.created","timestamp":"{AT}","data":{RAW}}}"#));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["data"], p);
        // Without a body, the envelope's fields go into the query.
        let t = Target { has_body: false, ..t };
        let r = go(&t, "https://example.com/h", &event(&json!({"id": 7}))).unwrap();
        assert_eq!(r.url.query(), Some("type=order.created&timestamp=2026-11-29T20%3A00%3A00Z&data%5Bid%5D=7"));
    }

    #[test]
    fn xml_and_form_bodies() {
        let p = payload();
        let r = go(&target(Format::Xml), "https://example.com/h", &event(&p)).unwrap();
        assert_eq!(
            text(&r),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><order.created><id>ord_1</id>"#,
                "<items><sku>A&amp;B</sku></items><name>Zoë &lt;日本&gt;</name><note/></order.created>"
            )
        );
        assert_eq!(r.content_type, Some("application/xml; charset=utf-8"));

        let r = go(&target(Format::Form), "https://example.com/h", &event(&p)).unwrap();
        assert_eq!(text(&r), "id=ord_1&items%5B0%5D%5Bsku%5D=A%26B&name=Zo%C3%AB+%3C%E6%97%A5%E6%9C%AC%3E&note=");
        assert_eq!(r.content_type, Some("application/x-www-form-urlencoded"));
        assert_eq!(r.url.as_str(), "https://example.com/h");
    }

    #[test]
    fn without_a_body_the_payload_goes_in_the_query() {
        let p = payload();
        let query: BTreeMap<String, Template> =
            [("ticket".to_owned(), tpl("{{payload.id}}")), ("kind".to_owned(), tpl("{{event.type}} & co"))].into();
        for format in [Format::Json, Format::Xml, Format::Form] {
            let t = Target { has_body: false, query: &query, ..target(format) };
            let r = go(&t, "https://example.com/h?key=k1#top", &event(&p)).unwrap();
            assert!(r.body.is_empty());
            assert_eq!(r.content_type, None);
            assert_eq!(
                r.url.as_str(),
                concat!(
                    "https://example.com/h?key=k1&id=ord_1&items%5B0%5D%5Bsku%5D=A%26B",
                    "&name=Zo%C3%AB+%3C%E6%97%A5%E6%9C%AC%3E&note=&kind=order.created+%26+co&ticket=ord_1#top"
                ),
                "{format}"
            );
        }
    }

    #[test]
    fn query_templates_also_apply_to_methods_with_a_body() {
        let p = payload();
        let query: BTreeMap<String, Template> =
            [("ticket".to_owned(), tpl("{{payload.id}}/{{payload.missing}}"))].into();
        let r = go(&Target { query: &query, ..target(Format::Json) }, "https://example.com/h", &event(&p)).unwrap();
        assert_eq!(r.url.as_str(), "https://example.com/h?ticket=ord_1%2F");
        assert_eq!(text(&r), RAW);
    }

    #[test]
    fn chat_formats_need_a_body() {
        let p = payload();
        for format in [Format::Chime, Format::GoogleChat, Format::Slack] {
            let t = Target { has_body: false, ..target(format) };
            let err = go(&t, "https://example.com/h", &event(&p)).unwrap_err();
            assert_eq!(err, RenderError::BodyRequired(format));
        }
        assert_eq!(
            RenderError::BodyRequired(Format::GoogleChat).to_string(),
            "the `google_chat` format sends a message body, so it needs a method with a body (POST, PUT or PATCH)"
        );
    }

    #[test]
    fn chime_renders_the_template_and_keeps_mentions() {
        let p = payload();
        let template = tpl("@All **{{event.type}}** for {{payload.name}} \"{{payload.id}}\" 🎉");
        let t = Target { template: Some(&template), ..target(Format::Chime) };
        let r = go(&t, "https://hooks.chime.aws/x?token=t", &event(&p)).unwrap();
        assert_eq!(text(&r), r#"{"Content":"@All **order.created** for Zoë <日本> \"ord_1\" 🎉"}"#);
        assert_eq!(r.content_type, Some("application/json"));
        assert_eq!(r.url.as_str(), "https://hooks.chime.aws/x?token=t");
        assert!(!r.truncated);
    }

    #[test]
    fn chime_truncates_a_10kb_message() {
        let p = json!({"blob": "Zoë \"q\"\n日本 ".repeat(800)});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw, timestamp: AT };
        let template = tpl("@All {{payload.blob}}");
        let r = go(&Target { template: Some(&template), ..target(Format::Chime) }, "https://hooks.chime.aws/x", &e)
            .unwrap();
        assert!(r.truncated);
        assert!(r.body.len() <= 4096, "{}", r.body.len());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let content = body["Content"].as_str().unwrap();
        assert!(content.starts_with("@All Zoë \"q\"\n日本"));
        assert!(content.ends_with('…'));
    }

    #[test]
    fn default_template_is_type_and_compact_payload() {
        let p = payload();
        let r = go(&target(Format::Slack), "https://hooks.slack.com/s/x", &event(&p)).unwrap();
        assert_eq!(
            text(&r),
            r#"{"text":"order.created: {\"id\":\"ord_1\",\"items\":[{\"sku\":\"A&B\"}],\"name\":\"Zoë <日本>\",\"note\":null}"}"#
        );
        // The built-in default is exactly what DEFAULT_TEMPLATE renders.
        let explicit = tpl(chat::DEFAULT_TEMPLATE);
        let t = Target { template: Some(&explicit), ..target(Format::Slack) };
        let r2 = go(&t, "https://hooks.slack.com/s/x", &event(&p)).unwrap();
        assert_eq!(r2.body, r.body);
    }

    #[test]
    fn default_template_is_truncated_too() {
        let p = json!({"blob": "x".repeat(10_000)});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw, timestamp: AT };
        let r = go(&target(Format::Chime), "https://hooks.chime.aws/x", &e).unwrap();
        assert!(r.truncated);
        assert!(r.body.len() <= 4096);
        assert!(text(&r).starts_with(r#"{"Content":"big: {\"blob\":\"xxx"#));
    }

    #[test]
    fn google_chat_thread_key_goes_in_the_body_and_the_reply_option_in_the_url() {
        let p = payload();
        let key = tpl("order {{payload.id}}");
        let message = tpl("{{event.type}}");
        let t = Target { template: Some(&message), thread_key: Some(&key), ..target(Format::GoogleChat) };
        let r = go(&t, "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t", &event(&p)).unwrap();
        assert_eq!(
            r.url.as_str(),
            concat!(
                "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t",
                "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
            )
        );
        assert_eq!(text(&r), r#"{"text":"order.created","thread":{"threadKey":"order ord_1"}}"#);
        assert_eq!(r.content_type, Some("application/json; charset=UTF-8"));

        // A reply option the URL already names is kept as it is.
        let own = "https://chat.googleapis.com/v1/spaces/AAA/messages?messageReplyOption=REPLY_MESSAGE_OR_FAIL";
        let r = go(&t, own, &event(&p)).unwrap();
        assert_eq!(r.url.as_str(), own);

        let empty = tpl("{{payload.missing}}");
        let base = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t";
        let r = go(&Target { thread_key: Some(&empty), ..target(Format::GoogleChat) }, base, &event(&p)).unwrap();
        assert_eq!(r.url.as_str(), base);
        assert!(!text(&r).contains("thread"));
    }

    #[test]
    fn google_chat_cards_render_from_a_template_with_json_escaped_values() {
        let p = json!({"id": "ord_1", "name": "Zoë \"Z\" <z>"});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "order.paid", payload: &p, raw_payload: &raw, timestamp: AT };
        let cards = tpl(r#"[{"cardId": "{{payload.id}}", "card": {"header": {"title": "{{payload.name}} paid"}}}]"#);
        let key = tpl("{{payload.id}}");
        let t = Target { cards: Some(&cards), thread_key: Some(&key), ..target(Format::GoogleChat) };
        let r = go(&t, "https://chat.googleapis.com/v1/spaces/A/messages", &e).unwrap();
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"cardsV2": [{"cardId": "ord_1", "card": {"header": {"title": "Zoë \"Z\" <z> paid"}}}],
                   "thread": {"threadKey": "ord_1"}})
        );
        // With a template, the text goes along.
        let text = tpl("{{event.type}}");
        let r =
            go(&Target { template: Some(&text), ..t }, "https://chat.googleapis.com/v1/spaces/A/messages", &e).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["text"], "order.paid");
        // Cards that are not a JSON array fail the rendering.
        let bad = tpl(r#"{"cardId": "{{payload.id}}"}"#);
        let err = go(&Target { cards: Some(&bad), ..t }, "https://chat.googleapis.com/v1/spaces/A/messages", &e);
        assert_eq!(err, Err(RenderError::CardsNotAnArray));
    }

    #[test]
    fn thread_key_is_ignored_by_other_formats() {
        let p = payload();
        let key = tpl("k");
        let r =
            go(&Target { thread_key: Some(&key), ..target(Format::Slack) }, "https://hooks.slack.com/s/x", &event(&p))
                .unwrap();
        assert_eq!(r.url.as_str(), "https://hooks.slack.com/s/x");
        assert!(!text(&r).contains("thread"));
    }

    /// Issue 11, finding 1: a 26 KB payload that the `xml` and `form` formats (and the query of
    /// a GET) would blow up to 120 MB.
    #[test]
    fn a_payload_that_would_blow_up_fails_at_the_bound() {
        let p = json!({"K".repeat(20_000): vec![0; 3000]});
        let raw = p.to_string();
        assert!(raw.len() < 30_000);
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw, timestamp: AT };
        for format in [Format::Xml, Format::Form] {
            let err = go(&target(format), "https://example.com/h", &e).unwrap_err();
            assert_eq!(err, RenderError::TooLarge(TooLarge { part: Part::Body, limit: MAX_BODY_BYTES }), "{format}");
            let err = go(&Target { has_body: false, ..target(format) }, "https://example.com/h", &e).unwrap_err();
            assert_eq!(err, RenderError::TooLarge(TooLarge { part: Part::Url, limit: MAX_URL_BYTES }), "{format}");
        }
        assert_eq!(
            RenderError::TooLarge(TooLarge { part: Part::Body, limit: MAX_BODY_BYTES }).to_string(),
            "the rendered body would be larger than 262144 bytes"
        );
    }

    /// Four query parameters, each 744 × `{{payload}}`, with a 100 KB payload: 661 MB for one
    /// delivery before the bound.
    #[test]
    fn a_template_blow_up_fails_at_the_url_bound_and_a_chat_message_is_cut_while_rendering() {
        let p = json!({"blob": "x".repeat(100_000)});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw, timestamp: AT };
        let blow_up = tpl(&"{{payload}}".repeat(744));
        let query: BTreeMap<String, Template> =
            ["a", "b", "c", "d"].into_iter().map(|name| (name.to_owned(), blow_up.clone())).collect();
        let err = go(&Target { query: &query, ..target(Format::Json) }, "https://example.com/h", &e).unwrap_err();
        assert_eq!(err, RenderError::TooLarge(TooLarge { part: Part::Url, limit: MAX_URL_BYTES }));

        for format in [Format::Chime, Format::GoogleChat, Format::Slack] {
            let r = go(&Target { template: Some(&blow_up), ..target(format) }, "https://example.com/h", &e).unwrap();
            assert!(r.truncated, "{format}");
            assert!(r.body.len() <= 160_004, "{format}: {}", r.body.len());
        }
    }

    #[test]
    fn format_serde_names() {
        let names: Vec<String> =
            [Format::Json, Format::Xml, Format::Form, Format::Chime, Format::GoogleChat, Format::Slack]
                .iter()
                .map(|f| serde_json::to_string(f).unwrap())
                .collect();
        assert_eq!(names, [r#""json""#, r#""xml""#, r#""form""#, r#""chime""#, r#""google_chat""#, r#""slack""#]);
        assert_eq!(serde_json::from_str::<Format>(r#""google_chat""#).unwrap(), Format::GoogleChat);
        assert!(serde_json::from_str::<Format>(r#""GoogleChat""#).is_err());
        assert_eq!(Format::default(), Format::Json);
        assert_eq!(serde_json::to_string(&Envelope::Standard).unwrap(), r#""standard""#);
        assert_eq!(serde_json::to_string(&DeletePayload::Body).unwrap(), r#""body""#);
    }
}
