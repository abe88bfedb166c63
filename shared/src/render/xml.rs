//! The `xml` format: a deterministic mapping of a JSON payload to an XML document.
//!
//! - The document starts with `<?xml version="1.0" encoding="UTF-8"?>`, has no whitespace between
//!   elements and no trailing newline.
//! - The root element is named after the event type (`order.created` stays `<order.created>`); the
//!   payload object's members are its children.
//! - Each object member is an element named after its key, in the payload's key order.
//! - Names are made valid XML names: every character that may not appear in an XML 1.0 name, and
//!   `:` (so no name looks like a namespace prefix), becomes `_`; a name that would then start
//!   with a character that may not start one (a digit, `-`, `.`, …) gets a leading `_`; an empty
//!   name is `_`. So `2fa` → `_2fa`, `a b/c` → `a_b_c`, `ns:key` → `ns_key`. Two keys may map to
//!   the same name; both elements are kept.
//! - An array member is its items as repeated elements named after the key
//!   (`"tags": ["a","b"]` → `<tags>a</tags><tags>b</tags>`); an empty array produces nothing.
//!   An array directly inside an array becomes one element whose items are `<item>` elements.
//! - `null` is an empty element (`<key/>`); an empty object or empty string is `<key></key>`.
//! - Strings, numbers (as JSON writes them) and `true`/`false` are the element's text.
//! - Text is escaped: `&amp;` `&lt;` `&gt;` `&quot;` `&apos;`; a carriage return is `&#13;` so it
//!   survives XML line-end normalization; characters XML 1.0 forbids (controls other than tab,
//!   newline and carriage return, U+FFFE, U+FFFF) become U+FFFD. Other non-ASCII text is kept
//!   as UTF-8.

use serde_json::Value;

use super::bounded::{Bounded, MAX_BODY_BYTES, Part, TooLarge};

pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const NESTED_ITEM: &str = "item";

/// The XML document for a payload, rooted at an element named after the event type, written
/// into `out` (which stops it at its bound).
pub fn write_xml(out: &mut Bounded, event_type: &str, payload: &Value) -> Result<(), TooLarge> {
    out.push_str(DECLARATION)?;
    write_element(out, &xml_name(event_type), payload)
}

/// The XML document for a payload, at most [`MAX_BODY_BYTES`] bytes.
pub fn to_xml(event_type: &str, payload: &Value) -> Result<String, TooLarge> {
    let mut out = Bounded::strict(Part::Body, MAX_BODY_BYTES);
    write_xml(&mut out, event_type, payload)?;
    Ok(out.into_string())
}

/// `name` made a valid XML 1.0 element name (see the module documentation).
pub fn xml_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c != ':' && is_name_char(c) { c } else { '_' }).collect();
    match out.chars().next() {
        Some(first) if is_name_start_char(first) => {}
        _ => out.insert(0, '_'),
    }
    out
}

/// Appends `text` escaped for XML character data or an attribute value.
pub(crate) fn push_text(out: &mut Bounded, text: &str) -> Result<(), TooLarge> {
    // Runs of characters that need no escaping are copied in one write.
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        let escaped = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\r' => "&#13;",
            '\t' | '\n' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&text[plain..at])?;
        out.push_str(escaped)?;
        plain = at + c.len_utf8();
    }
    out.push_str(&text[plain..])
}

/// An object member: an array is spread into repeated elements, anything else is one element.
fn write_member(out: &mut Bounded, name: &str, value: &Value) -> Result<(), TooLarge> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| write_element(out, name, item)),
        other => write_element(out, name, other),
    }
}

fn write_element(out: &mut Bounded, name: &str, value: &Value) -> Result<(), TooLarge> {
    if value.is_null() {
        out.push('<')?;
        out.push_str(name)?;
        return out.push_str("/>");
    }
    out.push('<')?;
    out.push_str(name)?;
    out.push('>')?;
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" })?,
        Value::Number(n) => out.push_str(&n.to_string())?,
        Value::String(s) => push_text(out, s)?,
        Value::Array(_) => write_member(out, NESTED_ITEM, value)?,
        Value::Object(members) => {
            for (key, member) in members {
                write_member(out, &xml_name(key), member)?;
            }
        }
    }
    out.push_str("</")?;
    out.push_str(name)?;
    out.push('>')
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}'
        | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}'
        | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_a_nested_payload_byte_for_byte() {
        // Keys are written in sorted order so the expectation holds with or without serde_json's
        // `preserve_order`.
        let payload = json!({
            "amount": 12.5,
            "customer": {"city": "日本", "name": "Zoë \"Z\" <z@example.com>"},
            "empty": [],
            "lines": [{"qty": 2, "sku": "A&B"}, {"qty": 1, "sku": "C'D"}],
            "note": null,
            "paid": false,
            "tags": ["x", "y"]
        });
        let expected = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<order.created>",
            "<amount>12.5</amount>",
            "<customer><city>日本</city><name>Zoë &quot;Z&quot; &lt;z@example.com&gt;</name></customer>",
            "<lines><qty>2</qty><sku>A&amp;B</sku></lines>",
            "<lines><qty>1</qty><sku>C&apos;D</sku></lines>",
            "<note/>",
            "<paid>false</paid>",
            "<tags>x</tags><tags>y</tags>",
            "</order.created>"
        );
        assert_eq!(to_xml("order.created", &payload).unwrap(), expected);
    }

    #[test]
    fn nested_arrays_use_item_elements() {
        let payload = json!({"grid": [[1, 2], [], [[3]]]});
        assert_eq!(
            to_xml("t", &payload).unwrap(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "<t><grid><item>1</item><item>2</item></grid><grid></grid><grid><item><item>3</item></item></grid></t>"
            )
        );
    }

    #[test]
    fn empty_objects_and_strings_are_open_close_pairs() {
        let payload = json!({"o": {}, "s": ""});
        assert_eq!(to_xml("t", &payload).unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><t><o></o><s></s></t>"#);
    }

    #[test]
    fn invalid_names_are_made_valid() {
        assert_eq!(xml_name("order.created"), "order.created");
        assert_eq!(xml_name("2fa"), "_2fa");
        assert_eq!(xml_name("-x"), "_-x");
        assert_eq!(xml_name(".x"), "_.x");
        assert_eq!(xml_name("a b/c"), "a_b_c");
        assert_eq!(xml_name("ns:key"), "ns_key");
        assert_eq!(xml_name("<&>"), "___");
        assert_eq!(xml_name(""), "_");
        assert_eq!(xml_name("名前"), "名前");
        assert_eq!(xml_name("café-1"), "café-1");
        assert_eq!(xml_name("😀"), "😀");
        assert_eq!(xml_name("a\u{2014}b"), "a_b");
        let payload = json!({"1st": 1, "a b": 2, "x:y": 3});
        assert_eq!(
            to_xml("user/signed up", &payload).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8"?><user_signed_up><_1st>1</_1st><a_b>2</a_b><x_y>3</x_y></user_signed_up>"#
        );
    }

    #[test]
    fn control_characters_are_replaced_and_cr_kept() {
        let payload = json!({"t": "a\u{0}b\tc\r\nd\u{FFFF}"});
        assert_eq!(
            to_xml("t", &payload).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><t><t>a\u{FFFD}b\tc&#13;\nd\u{FFFD}</t></t>"
        );
    }

    #[test]
    fn a_non_object_payload_is_the_root_text() {
        assert_eq!(to_xml("t", &json!("x<y")).unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><t>x&lt;y</t>"#);
        assert_eq!(to_xml("t", &json!([1])).unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><t><item>1</item></t>"#);
    }
}
