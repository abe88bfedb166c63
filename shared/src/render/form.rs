//! The `form` format and query parameters: a payload flattened into name/value pairs.
//!
//! - Each member of the payload object is a pair named after its key; a nested object member or
//!   array item is named `parent[key]` / `parent[index]`, so `{"a": {"b": [7]}}` → `a[b][0]=7`.
//!   Keys are used as they are (a `[` or `]` inside a key is not escaped).
//! - Strings are their text, numbers as JSON writes them, booleans `true`/`false`, `null` an empty
//!   value (`note=`). An empty object or array produces no pair.
//! - Pairs are in the payload's key order, array items in order.
//! - Encoding is `application/x-www-form-urlencoded` (WHATWG): `A-Z a-z 0-9 * - . _` are kept, a
//!   space is `+`, everything else (including `[` `]`) is `%XX` of its UTF-8 bytes.
//! - A payload that is not an object (Hookline's never are) is one pair named `payload`.

use serde_json::Value;
use url::Url;

use super::bounded::{Bounded, MAX_BODY_BYTES, MAX_URL_BYTES, Part, TooLarge};

pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Writes the payload's flattened pairs, form-encoded and joined by `&`, onto `out` (after a
/// `&` when `out` already holds pairs). Names are built in one reused buffer and every write is
/// bounded, so a payload that would flatten to gigabytes stops at `out`'s bound.
pub fn write_pairs(out: &mut Bounded, payload: &Value) -> Result<(), TooLarge> {
    let mut name = String::new();
    match payload {
        Value::Object(members) => {
            for (key, value) in members {
                name.clear();
                name.push_str(key);
                write_value(out, &mut name, value)?;
            }
            Ok(())
        }
        other => {
            name.push_str("payload");
            write_value(out, &mut name, other)
        }
    }
}

/// Writes one `name=value` pair, form-encoded, after a `&` unless `out` is empty.
pub fn write_pair(out: &mut Bounded, name: &str, value: &str) -> Result<(), TooLarge> {
    if !out.is_empty() {
        out.push('&')?;
    }
    out.push_form_encoded(name)?;
    out.push('=')?;
    out.push_form_encoded(value)
}

/// The `application/x-www-form-urlencoded` body for a payload, at most [`MAX_BODY_BYTES`].
pub fn to_form(payload: &Value) -> Result<String, TooLarge> {
    let mut out = Bounded::strict(Part::Body, MAX_BODY_BYTES);
    write_pairs(&mut out, payload)?;
    Ok(out.into_string())
}

/// `url` with the already-encoded `pairs` (`a=1&b=2`) added to the end of its query. An
/// existing query (and fragment) is kept as it is; with no pairs the URL is returned unchanged
/// (no stray `?`). The result must stay within [`MAX_URL_BYTES`].
pub fn append_query(url: &Url, pairs: &str) -> Result<Url, TooLarge> {
    let mut url = url.clone();
    if !pairs.is_empty() {
        let query = match url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&{pairs}"),
            _ => pairs.to_owned(),
        };
        url.set_query(Some(&query));
    }
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(TooLarge { part: Part::Url, limit: MAX_URL_BYTES });
    }
    Ok(url)
}

pub(crate) fn write_value(out: &mut Bounded, name: &mut String, value: &Value) -> Result<(), TooLarge> {
    match value {
        Value::Null => write_pair(out, name, ""),
        Value::Bool(b) => write_pair(out, name, if *b { "true" } else { "false" }),
        Value::Number(n) => write_pair(out, name, &n.to_string()),
        Value::String(s) => write_pair(out, name, s),
        Value::Array(items) => {
            let base = name.len();
            for (index, item) in items.iter().enumerate() {
                name.truncate(base);
                name.push('[');
                name.push_str(&index.to_string());
                name.push(']');
                write_value(out, name, item)?;
            }
            name.truncate(base);
            Ok(())
        }
        Value::Object(members) => {
            let base = name.len();
            for (key, member) in members {
                name.truncate(base);
                name.push('[');
                name.push_str(key);
                name.push(']');
                write_value(out, name, member)?;
            }
            name.truncate(base);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested() -> Value {
        // Sorted keys: the expectations hold with or without serde_json's `preserve_order`.
        json!({
            "a": {"b": [{"c": "x y", "d": null}, 2]},
            "empty": [],
            "flag": true,
            "name": "Zoë & 日本 <\"q\">",
            "none": {},
            "odd key=": "1+1/2?",
            "z": 1.5
        })
    }

    #[test]
    fn flattens_nested_keys() {
        let body = to_form(&nested()).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("a[b][0][c]", "x y"),
                ("a[b][0][d]", ""),
                ("a[b][1]", "2"),
                ("flag", "true"),
                ("name", "Zoë & 日本 <\"q\">"),
                ("odd key=", "1+1/2?"),
                ("z", "1.5"),
            ]
        );
    }

    #[test]
    fn encodes_a_form_body_byte_for_byte() {
        assert_eq!(
            to_form(&nested()).unwrap(),
            concat!(
                "a%5Bb%5D%5B0%5D%5Bc%5D=x+y&a%5Bb%5D%5B0%5D%5Bd%5D=&a%5Bb%5D%5B1%5D=2&flag=true",
                "&name=Zo%C3%AB+%26+%E6%97%A5%E6%9C%AC+%3C%22q%22%3E&odd+key%3D=1%2B1%2F2%3F&z=1.5"
            )
        );
    }

    #[test]
    fn an_empty_payload_is_an_empty_body() {
        assert_eq!(to_form(&json!({})).unwrap(), "");
        assert_eq!(to_form(&json!({"a": [], "b": {}})).unwrap(), "");
    }

    #[test]
    fn a_non_object_payload_is_one_pair() {
        assert_eq!(to_form(&json!("x")).unwrap(), "payload=x");
    }

    #[test]
    fn appends_to_an_existing_query_and_keeps_the_fragment() {
        let url = Url::parse("https://example.com/hook?token=a%20b#frag").unwrap();
        let mut pairs = Bounded::strict(Part::Url, 100);
        write_pair(&mut pairs, "a[b]", "Zoë & co").unwrap();
        write_pair(&mut pairs, "n", "").unwrap();
        let out = append_query(&url, pairs.as_str()).unwrap();
        assert_eq!(out.as_str(), "https://example.com/hook?token=a%20b&a%5Bb%5D=Zo%C3%AB+%26+co&n=#frag");
    }

    #[test]
    fn appending_nothing_leaves_the_url_alone() {
        let url = Url::parse("https://example.com/hook").unwrap();
        assert_eq!(append_query(&url, "").unwrap().as_str(), "https://example.com/hook");
    }

    #[test]
    fn starts_a_query_when_there_is_none() {
        let url = Url::parse("https://example.com/hook").unwrap();
        assert_eq!(append_query(&url, "q=1").unwrap().as_str(), "https://example.com/hook?q=1");
    }

    #[test]
    fn a_payload_that_would_flatten_to_gigabytes_stops_at_the_bound() {
        // 20 000-character key × 3 000 items: 60 MB of names before encoding.
        let payload = json!({"K".repeat(20_000): vec![0; 3000]});
        assert_eq!(to_form(&payload), Err(TooLarge { part: Part::Body, limit: MAX_BODY_BYTES }));
    }

    #[test]
    fn a_url_past_8_kb_is_refused() {
        let url = Url::parse("https://example.com/hook").unwrap();
        let err = append_query(&url, &"a=1&".repeat(MAX_URL_BYTES / 4)).unwrap_err();
        assert_eq!(err.part, Part::Url);
    }
}
