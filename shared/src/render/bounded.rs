//! The one output buffer every renderer writes into, so no payload or template can make a
//! rendering larger than its bound: a write that would pass the limit fails (or, for chat
//! messages, which are cut to fit anyway, stops the text there) before the bytes are kept.

use std::fmt;

/// The most a rendered body may hold (the ingest request limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The most a rendered URL, query string included, may hold.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// What grew past its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Body,
    Url,
    ThreadKey,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Body => "body",
            Self::Url => "URL",
            Self::ThreadKey => "thread key",
        })
    }
}

/// A rendering passed its bound; nothing of it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the rendered {part} would be larger than {limit} bytes")]
pub struct TooLarge {
    pub part: Part,
    pub limit: usize,
}

/// What a full buffer does with the next write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnFull {
    Fail,
    /// Keep what fits (never half a character) and ignore the rest.
    Cut,
}

/// A `String` that never grows past `limit` bytes.
#[derive(Debug)]
pub struct Bounded {
    text: String,
    limit: usize,
    part: Part,
    on_full: OnFull,
    cut: bool,
}

impl Bounded {
    /// A buffer whose writes fail once the text would pass `limit` bytes.
    pub fn strict(part: Part, limit: usize) -> Self {
        Self { text: String::new(), limit, part, on_full: OnFull::Fail, cut: false }
    }

    /// A buffer that keeps the first `limit` bytes (on a character boundary) and drops the
    /// rest; [`Bounded::was_cut`] says whether anything was dropped. Writes never fail.
    pub fn cutting(limit: usize) -> Self {
        Self { text: String::new(), limit, part: Part::Body, on_full: OnFull::Cut, cut: false }
    }

    pub fn push_str(&mut self, s: &str) -> Result<(), TooLarge> {
        if self.text.len() + s.len() <= self.limit {
            self.text.push_str(s);
            return Ok(());
        }
        match self.on_full {
            OnFull::Fail => Err(TooLarge { part: self.part, limit: self.limit }),
            OnFull::Cut => {
                let mut end = self.limit.saturating_sub(self.text.len()).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.text.push_str(&s[..end]);
                self.cut = true;
                Ok(())
            }
        }
    }

    pub fn push(&mut self, c: char) -> Result<(), TooLarge> {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }

    /// Writes `value` as compact JSON, stopping as soon as the bound is reached (the value is
    /// never serialized whole first).
    pub fn push_json(&mut self, value: &serde_json::Value) -> Result<(), TooLarge> {
        let mut writer = Writer { out: self, failed: None };
        let written = serde_json::to_writer(&mut writer, value);
        let failed = writer.failed;
        match (written, failed) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(too_large)) => Err(too_large),
            // A cutting buffer filled up: what fit is kept.
            (Err(_), None) if self.cut => Ok(()),
            (Err(_), None) => Err(TooLarge { part: self.part, limit: self.limit }),
        }
    }

    /// Form-encodes `s` (`application/x-www-form-urlencoded`) onto the end.
    pub fn push_form_encoded(&mut self, s: &str) -> Result<(), TooLarge> {
        url::form_urlencoded::byte_serialize(s.as_bytes()).try_for_each(|chunk| self.push_str(chunk))
    }

    /// How many more bytes fit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.text.len())
    }

    pub fn part(&self) -> Part {
        self.part
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a cutting buffer dropped anything.
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// `io::Write` over a [`Bounded`] for serde_json. serde_json writes whole UTF-8 strings and
/// escapes, never a split character, so each chunk is valid UTF-8.
struct Writer<'a> {
    out: &'a mut Bounded,
    failed: Option<TooLarge>,
}

impl std::io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
        match self.out.push_str(text) {
            Ok(()) if !self.out.cut => Ok(buf.len()),
            // A cutting buffer is full: stop serializing, keep what fit.
            Ok(()) => Err(std::io::Error::other("full")),
            Err(too_large) => {
                self.failed = Some(too_large);
                Err(std::io::Error::other(too_large))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_strict_buffer_refuses_the_write_that_passes_its_limit() {
        let mut out = Bounded::strict(Part::Body, 5);
        out.push_str("abc").unwrap();
        out.push_str("de").unwrap();
        assert_eq!(out.push('f'), Err(TooLarge { part: Part::Body, limit: 5 }));
        assert_eq!(out.as_str(), "abcde");
    }

    #[test]
    fn a_cutting_buffer_keeps_whole_characters() {
        let mut out = Bounded::cutting(5);
        out.push_str("ab").unwrap();
        out.push_str("日本").unwrap();
        assert_eq!(out.as_str(), "ab日");
        assert!(out.was_cut());
        let mut out = Bounded::cutting(5);
        out.push_str("abcde").unwrap();
        assert!(!out.was_cut());
    }

    #[test]
    fn json_stops_at_the_bound() {
        let big = json!({"k": "x".repeat(10_000)});
        let mut out = Bounded::strict(Part::Body, 100);
        assert!(out.push_json(&big).is_err());
        assert!(out.len() <= 100);
        let mut out = Bounded::cutting(100);
        out.push_json(&big).unwrap();
        assert!(out.was_cut());
        assert_eq!(out.len(), 100);
        let mut out = Bounded::strict(Part::Body, 100);
        out.push_json(&json!({"a": [1, "é"]})).unwrap();
        assert_eq!(out.as_str(), r#"{"a":[1,"é"]}"#);
    }

    #[test]
    fn form_encoding_is_bounded_too() {
        let mut out = Bounded::strict(Part::Url, 8);
        out.push_form_encoded("a b&").unwrap();
        assert_eq!(out.as_str(), "a+b%26");
        assert!(out.push_form_encoded("日").is_err());
    }
}
