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

/// The message text when an endpoint has no template: `{{event.type}}: {{payload}}`.
pub const DEFAULT_TEMPLATE: &str = "{{event.type}}: {{payload}}";
pub const ELLIPSIS: char = '…';

pub const CHIME_MAX_BODY_BYTES: usize = 4096;
pub const GOOGLE_CHAT_MAX_BODY_BYTES: usize = 32_000;
pub const SLACK_MAX_TEXT_CHARS: usize = 40_000;

pub const CHIME_CONTENT_TYPE: &str = "application/json";
pub const GOOGLE_CHAT_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
pub const SLACK_CONTENT_TYPE: &str = "application/json";

/// The query parameter Google Chat reads a thread key from.
pub const GOOGLE_CHAT_THREAD_KEY_PARAM: &str = "threadKey";

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

/// `{"text": text}` for Google Chat, and whether the text was truncated.
pub fn google_chat_body(text: &str) -> (String, bool) {
    json_body("text", text, Limit::BodyBytes(GOOGLE_CHAT_MAX_BODY_BYTES))
}

/// `{"text": text}` for Slack, and whether the text was truncated.
pub fn slack_body(text: &str) -> (String, bool) {
    json_body("text", text, Limit::TextChars(SLACK_MAX_TEXT_CHARS))
}

/// `{field: text}` as compact JSON within `limit`, and whether the text was truncated.
pub fn json_body(field: &str, text: &str, limit: Limit) -> (String, bool) {
    let (text, truncated) = match limit {
        Limit::BodyBytes(max) => {
            let overhead = body(field, "").len();
            truncate(text, max.saturating_sub(overhead), json_escaped_len)
        }
        Limit::TextChars(max) => truncate(text, max, |_| 1),
    };
    (body(field, &text), truncated)
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

fn body(field: &str, text: &str) -> String {
    let mut object = serde_json::Map::new();
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
        let (body, truncated) = google_chat_body(&"🎉".repeat(10_000));
        assert!(truncated);
        assert!(body.len() <= GOOGLE_CHAT_MAX_BODY_BYTES);
        assert!(content(&body, "text").ends_with("🎉…"));
        assert_eq!(google_chat_body("*bold* <users/all>"), (r#"{"text":"*bold* <users/all>"}"#.to_owned(), false));
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
