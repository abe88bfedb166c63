//! Rendering: an event turned into the exact HTTP request body and URL for an endpoint. Pure: no
//! I/O, no clock, no AWS.
//!
//! [`render`] is the entry point:
//!
//! ```text
//! render(format, method_has_body, url, query, template, thread_key, event) -> Result<Rendered, RenderError>
//! ```
//!
//! - `format` ([`Format`], serde `snake_case`) chooses the body:
//!   - `json` (the default): the payload exactly as the sender posted it (`event.raw_payload`),
//!     `application/json`;
//!   - `xml`: see [`xml`] for the mapping, `application/xml; charset=utf-8`;
//!   - `form`: see [`form`] for the flattening (`a[b][0]=…`), `application/x-www-form-urlencoded`;
//!   - `chime`, `google_chat`, `slack`: the rendered `template` (or
//!     [`chat::DEFAULT_TEMPLATE`]) wrapped in the service's JSON body, truncated to its limit with
//!     [`Rendered::truncated`] set; see [`chat`].
//! - `method_has_body` is false for GET and DELETE. Then the body is empty, `content_type` is
//!   `None`, and for `json`/`xml`/`form` the payload's fields go into the query, flattened as for
//!   `form`. The chat formats need a body, so they answer [`RenderError::BodyRequired`].
//! - `query` is the endpoint's `name → template` map; each rendered value is added to the query
//!   (form-encoded, so templates are rendered with [`Escape::None`]).
//! - `thread_key` (for `google_chat` only) becomes the `threadKey` query parameter, left out when it
//!   renders empty.
//! - `template` is used by the chat formats only; `thread_key` by `google_chat` only.
//!
//! The URL keeps its own query; after it come, in order: the payload's fields (no-body methods),
//! the endpoint's `query` pairs in the given order, then `threadKey`.
//!
//! Templates ([`Template`]) are parsed when an endpoint is saved, so a bad one is a 422 there;
//! rendering itself cannot fail on a template.

pub mod chat;
pub mod form;
pub mod template;
pub mod xml;

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub use template::{Escape, Template, TemplateError};

/// How an endpoint wants its events delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

/// The body, content type and URL for one delivery of `event` (see the module documentation).
pub fn render(
    format: Format,
    method_has_body: bool,
    url: &Url,
    query: &[(String, Template)],
    template: Option<&Template>,
    thread_key: Option<&Template>,
    event: &EventContext<'_>,
) -> Result<Rendered, RenderError> {
    let mut pairs = Vec::new();
    if !method_has_body {
        if format.is_chat() {
            return Err(RenderError::BodyRequired(format));
        }
        pairs.extend(form::flatten(event.payload));
    }
    pairs.extend(query.iter().map(|(name, value)| (name.clone(), value.render(event, Escape::None))));
    if let (Format::GoogleChat, Some(thread_key)) = (format, thread_key) {
        let key = thread_key.render(event, Escape::None);
        if !key.is_empty() {
            pairs.push((chat::GOOGLE_CHAT_THREAD_KEY_PARAM.to_owned(), key));
        }
    }
    let url = form::append_query(url, pairs);

    if !method_has_body {
        return Ok(Rendered { body: Bytes::new(), content_type: None, url, truncated: false });
    }
    let message = || match template {
        Some(template) => template.render(event, Escape::None),
        None => format!("{}: {}", event.event_type, event.payload),
    };
    let (body, truncated) = match format {
        Format::Json => (Bytes::copy_from_slice(event.raw_payload.as_bytes()), false),
        Format::Xml => (Bytes::from(xml::to_xml(event.event_type, event.payload)), false),
        Format::Form => (Bytes::from(form::to_form(event.payload)), false),
        Format::Chime => bytes_of(chat::chime_body(&message())),
        Format::GoogleChat => bytes_of(chat::google_chat_body(&message())),
        Format::Slack => bytes_of(chat::slack_body(&message())),
    };
    Ok(Rendered { body, content_type: Some(format.content_type()), url, truncated })
}

fn bytes_of((body, truncated): (String, bool)) -> (Bytes, bool) {
    (Bytes::from(body), truncated)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // Keys are sorted so the expectations hold with or without serde_json's `preserve_order`.
    const RAW: &str =
        "{ \"id\": \"ord_1\",\n  \"items\": [{\"sku\": \"A&B\"}], \"name\": \"Zoë <日本>\", \"note\": null }";

    fn payload() -> Value {
        serde_json::from_str(RAW).unwrap()
    }

    fn event(payload: &Value) -> EventContext<'_> {
        EventContext { id: "evt_01HX", event_type: "order.created", payload, raw_payload: RAW }
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

    #[test]
    fn json_sends_the_raw_payload_bytes() {
        let p = payload();
        let r = render(Format::Json, true, &url("https://example.com/h"), &[], None, None, &event(&p)).unwrap();
        assert_eq!(text(&r), RAW);
        assert_eq!(r.content_type, Some("application/json"));
        assert_eq!(r.url.as_str(), "https://example.com/h");
        assert!(!r.truncated);
    }

    #[test]
    fn xml_and_form_bodies() {
        let p = payload();
        let r = render(Format::Xml, true, &url("https://example.com/h"), &[], None, None, &event(&p)).unwrap();
        assert_eq!(
            text(&r),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?><order.created><id>ord_1</id>"#,
                "<items><sku>A&amp;B</sku></items><name>Zoë &lt;日本&gt;</name><note/></order.created>"
            )
        );
        assert_eq!(r.content_type, Some("application/xml; charset=utf-8"));

        let r = render(Format::Form, true, &url("https://example.com/h"), &[], None, None, &event(&p)).unwrap();
        assert_eq!(text(&r), "id=ord_1&items%5B0%5D%5Bsku%5D=A%26B&name=Zo%C3%AB+%3C%E6%97%A5%E6%9C%AC%3E&note=");
        assert_eq!(r.content_type, Some("application/x-www-form-urlencoded"));
        assert_eq!(r.url.as_str(), "https://example.com/h");
    }

    #[test]
    fn get_and_delete_put_the_payload_in_the_query() {
        let p = payload();
        let query = [("ticket".to_owned(), tpl("{{payload.id}}")), ("kind".to_owned(), tpl("{{event.type}} & co"))];
        for format in [Format::Json, Format::Xml, Format::Form] {
            let base = url("https://example.com/h?key=k1#top");
            let r = render(format, false, &base, &query, None, None, &event(&p)).unwrap();
            assert!(r.body.is_empty());
            assert_eq!(r.content_type, None);
            assert_eq!(
                r.url.as_str(),
                concat!(
                    "https://example.com/h?key=k1&id=ord_1&items%5B0%5D%5Bsku%5D=A%26B",
                    "&name=Zo%C3%AB+%3C%E6%97%A5%E6%9C%AC%3E&note=&ticket=ord_1&kind=order.created+%26+co#top"
                ),
                "{format}"
            );
        }
    }

    #[test]
    fn query_templates_also_apply_to_methods_with_a_body() {
        let p = payload();
        let query = [("ticket".to_owned(), tpl("{{payload.id}}/{{payload.missing}}"))];
        let r = render(Format::Json, true, &url("https://example.com/h"), &query, None, None, &event(&p)).unwrap();
        assert_eq!(r.url.as_str(), "https://example.com/h?ticket=ord_1%2F");
        assert_eq!(text(&r), RAW);
    }

    #[test]
    fn chat_formats_need_a_body() {
        let p = payload();
        for format in [Format::Chime, Format::GoogleChat, Format::Slack] {
            let err = render(format, false, &url("https://example.com/h"), &[], None, None, &event(&p)).unwrap_err();
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
        let r = render(
            Format::Chime,
            true,
            &url("https://hooks.chime.aws/x?token=t"),
            &[],
            Some(&template),
            None,
            &event(&p),
        )
        .unwrap();
        assert_eq!(text(&r), r#"{"Content":"@All **order.created** for Zoë <日本> \"ord_1\" 🎉"}"#);
        assert_eq!(r.content_type, Some("application/json"));
        assert_eq!(r.url.as_str(), "https://hooks.chime.aws/x?token=t");
        assert!(!r.truncated);
    }

    #[test]
    fn chime_truncates_a_10kb_message() {
        let p = json!({"blob": "Zoë \"q\"\n日本 ".repeat(800)});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw };
        let r = render(
            Format::Chime,
            true,
            &url("https://hooks.chime.aws/x"),
            &[],
            Some(&tpl("@All {{payload.blob}}")),
            None,
            &e,
        )
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
        let r = render(Format::Slack, true, &url("https://hooks.slack.com/s/x"), &[], None, None, &event(&p)).unwrap();
        assert_eq!(
            text(&r),
            r#"{"text":"order.created: {\"id\":\"ord_1\",\"items\":[{\"sku\":\"A&B\"}],\"name\":\"Zoë <日本>\",\"note\":null}"}"#
        );
        // The built-in default is exactly what DEFAULT_TEMPLATE renders.
        let explicit = tpl(chat::DEFAULT_TEMPLATE);
        let r2 =
            render(Format::Slack, true, &url("https://hooks.slack.com/s/x"), &[], Some(&explicit), None, &event(&p))
                .unwrap();
        assert_eq!(r2.body, r.body);
    }

    #[test]
    fn default_template_is_truncated_too() {
        let p = json!({"blob": "x".repeat(10_000)});
        let raw = p.to_string();
        let e = EventContext { id: "evt_1", event_type: "big", payload: &p, raw_payload: &raw };
        let r = render(Format::Chime, true, &url("https://hooks.chime.aws/x"), &[], None, None, &e).unwrap();
        assert!(r.truncated);
        assert!(r.body.len() <= 4096);
        assert!(text(&r).starts_with(r#"{"Content":"big: {\"blob\":\"xxx"#));
    }

    #[test]
    fn google_chat_thread_key_goes_in_the_query() {
        let p = payload();
        let base = url("https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t");
        let key = tpl("order {{payload.id}}");
        let r =
            render(Format::GoogleChat, true, &base, &[], Some(&tpl("{{event.type}}")), Some(&key), &event(&p)).unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t&threadKey=order+ord_1"
        );
        assert_eq!(text(&r), r#"{"text":"order.created"}"#);
        assert_eq!(r.content_type, Some("application/json; charset=UTF-8"));

        let empty = tpl("{{payload.missing}}");
        let r = render(Format::GoogleChat, true, &base, &[], None, Some(&empty), &event(&p)).unwrap();
        assert_eq!(r.url, base);
    }

    #[test]
    fn thread_key_is_ignored_by_other_formats() {
        let p = payload();
        let base = url("https://hooks.slack.com/s/x");
        let r = render(Format::Slack, true, &base, &[], None, Some(&tpl("k")), &event(&p)).unwrap();
        assert_eq!(r.url, base);
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
    }
}
