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
use url::form_urlencoded;

pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The payload as flattened name/value pairs, not yet encoded.
pub fn flatten(payload: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    match payload {
        Value::Object(members) => {
            for (key, value) in members {
                flatten_into(&mut pairs, key.clone(), value);
            }
        }
        other => flatten_into(&mut pairs, "payload".to_owned(), other),
    }
    pairs
}

/// The `application/x-www-form-urlencoded` body for a payload.
pub fn to_form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(flatten(payload)).finish()
}

/// `url` with `pairs` form-encoded onto the end of its query. An existing query (and fragment) is
/// kept as it is; with no pairs the URL is returned unchanged (no stray `?`).
pub fn append_query<I, K, V>(url: &Url, pairs: I) -> Url
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut url = url.clone();
    let mut pairs = pairs.into_iter().peekable();
    if pairs.peek().is_some() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url
}

fn flatten_into(pairs: &mut Vec<(String, String)>, name: String, value: &Value) {
    match value {
        Value::Null => pairs.push((name, String::new())),
        Value::Bool(b) => pairs.push((name, b.to_string())),
        Value::Number(n) => pairs.push((name, n.to_string())),
        Value::String(s) => pairs.push((name, s.clone())),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten_into(pairs, format!("{name}[{index}]"), item);
            }
        }
        Value::Object(members) => {
            for (key, member) in members {
                flatten_into(pairs, format!("{name}[{key}]"), member);
            }
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
        let pairs = flatten(&nested());
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
            to_form(&nested()),
            concat!(
                "a%5Bb%5D%5B0%5D%5Bc%5D=x+y&a%5Bb%5D%5B0%5D%5Bd%5D=&a%5Bb%5D%5B1%5D=2&flag=true",
                "&name=Zo%C3%AB+%26+%E6%97%A5%E6%9C%AC+%3C%22q%22%3E&odd+key%3D=1%2B1%2F2%3F&z=1.5"
            )
        );
    }

    #[test]
    fn an_empty_payload_is_an_empty_body() {
        assert_eq!(to_form(&json!({})), "");
        assert_eq!(to_form(&json!({"a": [], "b": {}})), "");
    }

    #[test]
    fn a_non_object_payload_is_one_pair() {
        assert_eq!(to_form(&json!("x")), "payload=x");
    }

    #[test]
    fn appends_to_an_existing_query_and_keeps_the_fragment() {
        let url = Url::parse("https://example.com/hook?token=a%20b#frag").unwrap();
        let out = append_query(&url, [("a[b]", "Zoë & co"), ("n", "")]);
        assert_eq!(out.as_str(), "https://example.com/hook?token=a%20b&a%5Bb%5D=Zo%C3%AB+%26+co&n=#frag");
    }

    #[test]
    fn appending_nothing_leaves_the_url_alone() {
        let url = Url::parse("https://example.com/hook").unwrap();
        assert_eq!(append_query(&url, Vec::<(String, String)>::new()).as_str(), "https://example.com/hook");
    }

    #[test]
    fn starts_a_query_when_there_is_none() {
        let url = Url::parse("https://example.com/hook").unwrap();
        assert_eq!(append_query(&url, [("q", "1")]).as_str(), "https://example.com/hook?q=1");
    }
}
