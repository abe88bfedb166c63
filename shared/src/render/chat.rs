//! Chat formats: Amazon Chime, Google Chat and Slack incoming webhooks.
//!
//! Each takes the rendered message text (markdown, emoji and mentions such as `@All`,
//! `@Present` or `@alias` pass through untouched) and wraps it in that service's JSON body,
//! truncating the text on a character boundary, with a trailing `…`, when it would exceed the
//! service's limit:
//!
//! | format        | body                    | limit                                                |
//! |---------------|-------------------------|------------------------------------------------------|
//! | `chime`       | `{"Content":"…"}`       | the whole serialized body ≤ 4096 bytes               |
//! | `google_chat` | `{"text":"…"}`          | the whole serialized body ≤ 32 000 bytes             |
//! | `slack`       | `{"text":"…"}`          | the text ≤ 40 000 characters (Slack truncates there) |
//!
//! Byte limits count the text as it is written in JSON, so a `"` (2 bytes), a newline (2) or a
//! control character (`\u00XX`, 6) count for what they grow to.

use serde::Deserialize;
use serde_json::Value;

use super::bounded::{Part, TooLarge};

/// The message text when an endpoint has no template: `{{event.type}}: {{payload}}`.
pub const DEFAULT_TEMPLATE: &str = "{{event.type}}: {{payload}}";
pub const ELLIPSIS: char = '…';

pub const CHIME_MAX_BODY_BYTES: usize = 4096;
pub const GOOGLE_CHAT_MAX_BODY_BYTES: usize = 32_000;
pub const SLACK_MAX_TEXT_CHARS: usize = 40_000;

pub const CHIME_CONTENT_TYPE: &str = "application/json";
pub const GOOGLE_CHAT_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
pub const SLACK_CONTENT_TYPE: &str = "application/json";

/// Google Chat's URL parameter that says what a message with a thread key does: reply in that
/// thread, or start it.
pub const GOOGLE_CHAT_REPLY_OPTION_PARAM: &str = "messageReplyOption";
pub const GOOGLE_CHAT_REPLY_OPTION: &str = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";
/// The longest thread key rendered; a longer one fails the attempt.
pub const MAX_THREAD_KEY_BYTES: usize = 1024;

const GOOGLE_ERROR_MAX_CHARS: usize = 200;

/// A size limit for a chat body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The whole serialized JSON body, in bytes.
    BodyBytes(usize),
    /// The text, in characters (Unicode scalar values).
    TextChars(usize),
}

/// `{"Content": text}` for Amazon Chime, and whether the text was truncated.
pub fn chime_body(text: &str) -> (String, bool) {
    json_body("Content", text, Limit::BodyBytes(CHIME_MAX_BODY_BYTES))
}

/// `{"text": text}` for Google Chat, with `"thread": {"threadKey": key}` when there is a key
/// (Google reads the key from the body) and `"cardsV2": cards` when there are cards, and whether
/// the text was truncated. Without text (a message of cards only) there is no `text` member.
/// Cards are never cut: cards that leave no room fail as [`TooLarge`].
pub fn google_chat_body(
    text: Option<&str>,
    thread_key: Option<&str>,
    cards: Option<Value>,
) -> Result<(String, bool), TooLarge> {
    let mut extra = serde_json::Map::new();
    if let Some(key) = thread_key {
        extra.insert("thread".to_owned(), serde_json::json!({ "threadKey": key }));
    }
    if let Some(cards) = cards {
        extra.insert("cardsV2".to_owned(), cards);
    }
    let too_large = TooLarge { part: Part::Body, limit: GOOGLE_CHAT_MAX_BODY_BYTES };
    match text {
        Some(text) => {
            if body("text", "", extra.clone()).len() > GOOGLE_CHAT_MAX_BODY_BYTES {
                return Err(too_large);
            }
            Ok(json_body_with("text", text, Limit::BodyBytes(GOOGLE_CHAT_MAX_BODY_BYTES), extra))
        }
        None => {
            let body = Value::Object(extra).to_string();
            if body.len() > GOOGLE_CHAT_MAX_BODY_BYTES {
                return Err(too_large);
            }
            Ok((body, false))
        }
    }
}

/// The size limit of each chat format's body.
pub fn limit_of(format: super::Format) -> Limit {
    match format {
        super::Format::Chime => Limit::BodyBytes(CHIME_MAX_BODY_BYTES),
        super::Format::Slack => Limit::TextChars(SLACK_MAX_TEXT_CHARS),
        _ => Limit::BodyBytes(GOOGLE_CHAT_MAX_BODY_BYTES),
    }
}

/// How many bytes of message text are worth rendering under `limit`: any text longer than this
/// is cut by [`json_body`] anyway, so rendering stops here (a template of 700 × `{{payload}}`
/// is never rendered whole).
pub fn text_cap(limit: Limit) -> usize {
    match limit {
        // Each character takes at least its UTF-8 bytes in the body.
        Limit::BodyBytes(max) => max + 4,
        // A character is at most 4 bytes.
        Limit::TextChars(max) => (max + 1) * 4,
    }
}

/// `{"text": text}` for Slack, and whether the text was truncated.
pub fn slack_body(text: &str) -> (String, bool) {
    json_body("text", text, Limit::TextChars(SLACK_MAX_TEXT_CHARS))
}

/// `{field: text}` as compact JSON within `limit`, and whether the text was truncated.
pub fn json_body(field: &str, text: &str, limit: Limit) -> (String, bool) {
    json_body_with(field, text, limit, serde_json::Map::new())
}

/// [`json_body`] with more members beside the text, counted in the limit.
fn json_body_with(field: &str, text: &str, limit: Limit, extra: serde_json::Map<String, Value>) -> (String, bool) {
    let (text, truncated) = match limit {
        Limit::BodyBytes(max) => {
            let overhead = body(field, "", extra.clone()).len();
            truncate(text, max.saturating_sub(overhead), json_escaped_len)
        }
        Limit::TextChars(max) => truncate(text, max, |_| 1),
    };
    (body(field, &text, extra), truncated)
}

/// `text` cut so that the sum of `cost` over its characters is at most `budget`, with `…` (its
/// cost included) appended when anything was cut. Never splits a character. Returns whether it cut.
pub fn truncate(text: &str, budget: usize, cost: impl Fn(char) -> usize) -> (String, bool) {
    if text.chars().map(&cost).sum::<usize>() <= budget {
        return (text.to_owned(), false);
    }
    let room = budget.saturating_sub(cost(ELLIPSIS));
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        used += cost(c);
        if used > room {
            break;
        }
        end = at + c.len_utf8();
    }
    let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
    cut.push_str(&text[..end]);
    cut.push(ELLIPSIS);
    (cut, true)
}

/// A short message from a Google `google.rpc.Status` error body
/// (`{"error": {"code": 429, "message": "…", "status": "RESOURCE_EXHAUSTED"}}`), such as
/// `RESOURCE_EXHAUSTED (429): Resource has been exhausted`; `None` when the body is not that shape.
/// Whitespace in the message is collapsed and it is cut at 200 characters.
pub fn google_error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Status,
    }
    #[derive(Deserialize)]
    struct Status {
        code: i64,
        message: String,
        #[serde(default)]
        status: Option<String>,
    }

    let Envelope { error } = serde_json::from_slice(body).ok()?;
    let message = error.message.split_whitespace().collect::<Vec<_>>().join(" ");
    let (message, _) = truncate(&message, GOOGLE_ERROR_MAX_CHARS, |_| 1);
    let head = match error.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(status) => format!("{status} ({})", error.code),
        None => error.code.to_string(),
    };
    Some(if message.is_empty() { head } else { format!("{head}: {message}") })
}

fn body(field: &str, text: &str, mut object: serde_json::Map<String, Value>) -> String {
    object.insert(field.to_owned(), Value::String(text.to_owned()));
    Value::Object(object).to_string()
}

/// How many bytes `c` takes inside a JSON string as serde_json writes it.
fn json_escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\t' | '\n' | '\u{c}' | '\r' => 2,
        c if c < ' ' => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(body: &str, field: &str) -> String {
        let value: Value = serde_json::from_str(body).unwrap();
        value[field].as_str().unwrap().to_owned()
    }

    #[test]
    fn chime_short_message_passes_through_untouched() {
        let text = "@All **Deploy** done 🎉 `v1.2` @Present @alice\n> quoted";
        let (body, truncated) = chime_body(text);
        assert!(!truncated);
        assert_eq!(body, r#"{"Content":"@All **Deploy** done 🎉 `v1.2` @Present @alice\n> quoted"}"#);
    }

    #[test]
    fn chime_truncates_a_10kb_message_to_4096_bytes() {
        let text = "@All ".to_owned() + &"order 日本 Zoë 🎉 ".repeat(500);
        assert!(text.len() > 10_000);
        let (body, truncated) = chime_body(&text);
        assert!(truncated);
        assert!(body.len() <= CHIME_MAX_BODY_BYTES, "{}", body.len());
        assert!(body.len() > CHIME_MAX_BODY_BYTES - 4, "wastes room: {}", body.len());
        assert!(std::str::from_utf8(body.as_bytes()).is_ok());
        let sent = content(&body, "Content");
        assert!(sent.starts_with("@All order 日本"));
        assert!(sent.ends_with('…'));
        assert!(text.starts_with(sent.trim_end_matches('…')));
    }

    #[test]
    fn chime_counts_json_escaping_growth() {
        for unit in ["\"", "\n", "\u{1}", "\\", "a\"\u{7}é"] {
            let text = unit.repeat(5000);
            let (body, truncated) = chime_body(&text);
            assert!(truncated, "{unit:?}");
            assert!(body.len() <= CHIME_MAX_BODY_BYTES, "{unit:?}: {}", body.len());
            assert!(body.len() >= CHIME_MAX_BODY_BYTES - 8, "{unit:?}: {}", body.len());
            let sent = content(&body, "Content");
            assert!(text.starts_with(sent.trim_end_matches('…')), "{unit:?}");
        }
    }

    #[test]
    fn a_message_exactly_at_the_limit_is_not_truncated() {
        let overhead = r#"{"Content":""}"#.len();
        let text = "x".repeat(CHIME_MAX_BODY_BYTES - overhead);
        let (body, truncated) = chime_body(&text);
        assert!(!truncated);
        assert_eq!(body.len(), CHIME_MAX_BODY_BYTES);
        let (body, truncated) = chime_body(&format!("{text}x"));
        assert!(truncated);
        assert_eq!(body, format!(r#"{{"Content":"{}…"}}"#, "x".repeat(CHIME_MAX_BODY_BYTES - overhead - 3)));
    }

    #[test]
    fn escaped_length_matches_serde_json_for_every_ascii_char_and_some_others() {
        for c in (0u8..0x80).map(char::from).chain(['é', '日', '🎉', '\u{2028}', '\u{7f}']) {
            let written = Value::String(c.to_string()).to_string();
            assert_eq!(json_escaped_len(c), written.len() - 2, "{c:?}");
        }
    }

    #[test]
    fn slack_limits_characters() {
        let text = "日".repeat(SLACK_MAX_TEXT_CHARS + 10);
        let (body, truncated) = slack_body(&text);
        assert!(truncated);
        let sent = content(&body, "text");
        assert_eq!(sent.chars().count(), SLACK_MAX_TEXT_CHARS);
        assert!(sent.ends_with("日…"));
        assert_eq!(slack_body("hi <!here>"), (r#"{"text":"hi <!here>"}"#.to_owned(), false));
    }

    #[test]
    fn google_chat_limits_body_bytes() {
        let (body, truncated) = google_chat_body(Some(&"🎉".repeat(10_000)), None, None).unwrap();
        assert!(truncated);
        assert!(body.len() <= GOOGLE_CHAT_MAX_BODY_BYTES);
        assert!(content(&body, "text").ends_with("🎉…"));
        assert_eq!(
            google_chat_body(Some("*bold* <users/all>"), None, None),
            Ok((r#"{"text":"*bold* <users/all>"}"#.to_owned(), false))
        );
    }

    #[test]
    fn google_chat_puts_the_thread_key_in_the_body_within_the_limit() {
        let (body, truncated) = google_chat_body(Some("hi"), Some("order-1"), None).unwrap();
        assert!(!truncated);
        assert_eq!(body, r#"{"text":"hi","thread":{"threadKey":"order-1"}}"#);
        let (body, truncated) = google_chat_body(Some(&"x".repeat(40_000)), Some(&"k".repeat(1000)), None).unwrap();
        assert!(truncated);
        assert!(body.len() <= GOOGLE_CHAT_MAX_BODY_BYTES, "{}", body.len());
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["thread"]["threadKey"], "k".repeat(1000));
    }

    #[test]
    fn google_chat_cards_sit_beside_the_text_or_alone_and_are_never_cut() {
        let cards = serde_json::json!([{"cardId": "c1", "card": {"header": {"title": "Order 7"}}}]);
        let (body, _) = google_chat_body(None, Some("k"), Some(cards.clone())).unwrap();
        assert_eq!(
            body,
            r#"{"cardsV2":[{"card":{"header":{"title":"Order 7"}},"cardId":"c1"}],"thread":{"threadKey":"k"}}"#
        );
        let (body, truncated) = google_chat_body(Some(&"x".repeat(40_000)), None, Some(cards)).unwrap();
        assert!(truncated);
        assert!(body.len() <= GOOGLE_CHAT_MAX_BODY_BYTES);
        let huge = serde_json::json!([{"cardId": "x".repeat(GOOGLE_CHAT_MAX_BODY_BYTES)}]);
        assert!(google_chat_body(Some("hi"), None, Some(huge.clone())).is_err());
        assert!(google_chat_body(None, None, Some(huge)).is_err());
    }

    #[test]
    fn text_longer_than_the_cap_is_always_cut() {
        for limit in [Limit::BodyBytes(CHIME_MAX_BODY_BYTES), Limit::TextChars(SLACK_MAX_TEXT_CHARS)] {
            let mut at_cap = String::new();
            while at_cap.len() + 4 <= text_cap(limit) {
                at_cap.push('日');
            }
            assert!(json_body("t", &at_cap, limit).1, "{limit:?}");
        }
    }

    #[test]
    fn truncate_never_splits_a_character() {
        assert_eq!(truncate("日本語", 7, char::len_utf8), ("日…".to_owned(), true));
        assert_eq!(truncate("日本語", 9, char::len_utf8), ("日本語".to_owned(), false));
        assert_eq!(truncate("abc", 2, |_| 1), ("a…".to_owned(), true));
        assert_eq!(truncate("abc", 0, |_| 1), ("…".to_owned(), true));
    }

    #[test]
    fn parses_a_google_rpc_status() {
        let body = br#"{"error": {"code": 429, "message": "Resource has been exhausted\n (e.g. check quota).", "status": "RESOURCE_EXHAUSTED", "details": []}}"#;
        assert_eq!(
            google_error_message(body).as_deref(),
            Some("RESOURCE_EXHAUSTED (429): Resource has been exhausted (e.g. check quota).")
        );
        let no_status = br#"{"error": {"code": 400, "message": "Invalid JSON payload"}}"#;
        assert_eq!(google_error_message(no_status).as_deref(), Some("400: Invalid JSON payload"));
        let empty_message = br#"{"error": {"code": 403, "message": "", "status": "PERMISSION_DENIED"}}"#;
        assert_eq!(google_error_message(empty_message).as_deref(), Some("PERMISSION_DENIED (403)"));
        let long = format!(r#"{{"error": {{"code": 500, "message": "{}", "status": "INTERNAL"}}}}"#, "x".repeat(500));
        let message = google_error_message(long.as_bytes()).unwrap();
        assert_eq!(message, format!("INTERNAL (500): {}…", "x".repeat(GOOGLE_ERROR_MAX_CHARS - 1)));
    }

    #[test]
    fn other_bodies_are_not_a_google_status() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            br#"{"error": "rate limited"}"#,
            br#"{"error": {"code": "429", "message": "x"}}"#,
            br#"{"error": {"message": "x"}}"#,
            br#"{"ok": false}"#,
            b"",
        ] {
            assert_eq!(google_error_message(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
