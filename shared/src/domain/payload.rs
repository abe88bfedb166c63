//! What makes a payload deliverable: checked once, at ingest, so that every format can render
//! what was accepted. A payload that only the `json` format could pass on (a renderer would
//! otherwise meet a parse error and have nothing to send) is refused with a 422 instead.

/// The deepest nesting of objects and arrays a payload may have.
pub const MAX_PAYLOAD_DEPTH: usize = 64;

/// Checks a payload's raw JSON text: nesting at most [`MAX_PAYLOAD_DEPTH`] levels, valid Unicode
/// (no lone surrogate escapes such as `"\ud800"`), and only numbers a 64-bit float can hold
/// (`1e999` cannot). The message says what is wrong, for the sender.
pub fn check_payload(raw: &str) -> Result<(), String> {
    // One pass over the text, so the check costs no allocation and never recurses: the parser
    // must never meet 10 000 levels.
    let mut depth = 0usize;
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = check_string(bytes, i + 1)?,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_PAYLOAD_DEPTH {
                    return Err(format!("the payload is nested deeper than {MAX_PAYLOAD_DEPTH} levels"));
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let len = bytes[i..]
                    .iter()
                    .take_while(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .count();
                let number = &raw[i..i + len];
                if !number.parse::<f64>().is_ok_and(f64::is_finite) {
                    return Err(format!("the payload holds the number {number}, beyond what a 64-bit float can hold"));
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Checks the string whose text starts at `start` (after its `"`) for lone surrogate escapes,
/// and returns the index after its closing `"`.
fn check_string(bytes: &[u8], start: usize) -> Result<usize, String> {
    let mut i = start;
    let mut pending_high = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if !pending_high => return Ok(i + 1),
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let unit = bytes.get(i + 2..i + 6).and_then(|hex| std::str::from_utf8(hex).ok());
                let unit = unit.and_then(|hex| u16::from_str_radix(hex, 16).ok()).ok_or_else(invalid_unicode)?;
                match unit {
                    0xD800..=0xDBFF if !pending_high => pending_high = true,
                    0xDC00..=0xDFFF if pending_high => pending_high = false,
                    0xD800..=0xDFFF => return Err(invalid_unicode()),
                    _ if pending_high => return Err(invalid_unicode()),
                    _ => {}
                }
                i += 6;
            }
            _ if pending_high => return Err(invalid_unicode()),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(i)
}

fn invalid_unicode() -> String {
    "the payload holds invalid Unicode: a lone surrogate escape such as \"\\ud800\"".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
    }

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(check_payload(&nested(MAX_PAYLOAD_DEPTH)).is_ok());
        assert!(check_payload(&format!(r#"{{"a": "{}\"{}"}}"#, "[{".repeat(100), "]}".repeat(100))).is_ok());
        let err = check_payload(&nested(MAX_PAYLOAD_DEPTH + 1)).unwrap_err();
        assert_eq!(err, "the payload is nested deeper than 64 levels");
        assert_eq!(check_payload(&nested(10_000)).unwrap_err(), err);
    }

    #[test]
    fn lone_surrogates_are_invalid_unicode() {
        for raw in [r#"{"a": "\ud800"}"#, r#"{"a": "x\udc00y"}"#, r#"{"\uD800\u0041": 1}"#, r#"{"a": "\ud800x"}"#] {
            assert_eq!(check_payload(raw), Err(invalid_unicode()), "{raw}");
        }
        assert_eq!(invalid_unicode(), r#"the payload holds invalid Unicode: a lone surrogate escape such as "\ud800""#);
        // A proper pair is one character; other escapes are fine.
        assert!(check_payload(r#"{"a": "\ud83d\ude00 \\ud800 \" \u00e9"}"#).is_ok());
    }

    #[test]
    fn numbers_past_f64_are_refused() {
        for raw in [r#"{"a": 1e999}"#, r#"{"a": [-1e400]}"#] {
            let err = check_payload(raw).unwrap_err();
            assert!(err.contains("beyond what a 64-bit float can hold"), "{raw}: {err}");
        }
        assert!(
            check_payload(r#"{"a": 1e308, "b": 18446744073709551615, "c": -9223372036854775808, "d": 1e-999}"#).is_ok()
        );
    }
}
