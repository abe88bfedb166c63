//! The one query-string extractor. Every route that takes a query reads it through [`Query`]:
//!
//! - a query that cannot be read as `name=value` pairs (bad percent-encoding, bytes that are not
//!   UTF-8, a name given twice) is a 400 `invalid_query`;
//! - a parameter the route does not know, or a value of the wrong shape, is a 422
//!   `validation_error` whose `errors[]` names every such parameter.
//!
//! The route's parameters are a plain struct of `Option` fields; its field names are the
//! known parameters (serde hands them to the deserializer), so no list is kept by hand.

use std::cell::Cell;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::ErrorCode;
use crate::domain::{FieldError, Invalid};
use crate::web::ApiError;

/// The route's query parameters, deserialized from the query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Reads `query` (without its `?`) into `T`.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = pairs(query).map_err(|message| ApiError::BadRequest { code: ErrorCode::InvalidQuery, message })?;
    let known = known_parameters::<T>();
    let mut errors: Vec<FieldError> = pairs
        .iter()
        .filter(|(name, _)| !known.contains(&name.as_str()))
        .map(|(name, _)| {
            FieldError::new(name.as_str(), format!("unknown query parameter; known: {}", known.join(", ")))
        })
        .collect();
    if !errors.is_empty() {
        return Err(refused(errors));
    }
    // Each value on its own, so every bad one is named (the fields are all optional).
    for (name, value) in &pairs {
        if let Err(e) = T::deserialize(Pairs::new(std::slice::from_ref(&(name.clone(), value.clone())))) {
            errors.push(FieldError::new(name.as_str(), e.to_string()));
        }
    }
    if !errors.is_empty() {
        return Err(refused(errors));
    }
    T::deserialize(Pairs::new(&pairs)).map_err(|e| Invalid::one("query", e.to_string()).into())
}

/// A 422 naming each parameter, in a stable order (by name), whatever the query's order.
fn refused(mut errors: Vec<FieldError>) -> ApiError {
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Invalid(errors).into()
}

/// The query's `name=value` pairs, strictly decoded.
fn pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for segment in query.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
        let name = decode(name)?;
        let value = decode(value)?;
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(format!("the query parameter `{name}` is given more than once"));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `application/x-www-form-urlencoded` decoding that refuses what it cannot decode exactly.
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| "the query string has a `%` not followed by two hex digits".to_owned())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the query string does not decode to UTF-8".to_owned())
}

/// The field names of `T`, as serde gives them to `deserialize_struct`.
fn known_parameters<T: DeserializeOwned>() -> &'static [&'static str] {
    let pairs = Pairs::new(&[]);
    let _ = T::deserialize(&pairs);
    pairs.fields.get()
}

struct Pairs<'a> {
    pairs: &'a [(String, String)],
    fields: Cell<&'static [&'static str]>,
}

impl<'a> Pairs<'a> {
    fn new(pairs: &'a [(String, String)]) -> Self {
        Self { pairs, fields: Cell::new(&[]) }
    }
}

impl<'de> de::Deserializer<'de> for &Pairs<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let entries = self.pairs.iter().map(|(name, value)| (name.clone(), Value(value.clone())));
        visitor.visit_map(de::value::MapDeserializer::new(entries))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.fields.set(fields);
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

impl<'de> de::Deserializer<'de> for Pairs<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        (&self).deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// One parameter's value: text that numbers, booleans and enums are parsed from.
struct Value(String);

impl<'de> IntoDeserializer<'de, de::value::Error> for Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parsed {
    ($($method:ident => $visit:ident,)+) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            match self.0.parse() {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(&self.0), &visitor)),
            }
        })+
    };
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    parsed! {
        deserialize_bool => visit_bool,
        deserialize_u8 => visit_u8,
        deserialize_u16 => visit_u16,
        deserialize_u32 => visit_u32,
        deserialize_u64 => visit_u64,
        deserialize_i8 => visit_i8,
        deserialize_i16 => visit_i16,
        deserialize_i32 => visit_i32,
        deserialize_i64 => visit_i64,
        deserialize_f32 => visit_f32,
        deserialize_f64 => visit_f64,
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        limit: Option<u32>,
        status: Option<Colour>,
        name: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Colour {
        Red,
    }

    fn check(query: &str) -> Result<Params, (u16, ApiError)> {
        parse::<Params>(query).map_err(|e| (e.status().as_u16(), e))
    }

    fn fields(query: &str) -> Vec<String> {
        match parse::<Params>(query) {
            Err(ApiError::Invalid(Invalid(errors))) => errors.iter().map(|e| e.field.clone()).collect(),
            other => panic!("{query}: {:?}", other.map(|_| ()).err()),
        }
    }

    #[test]
    fn reads_typed_values() {
        let params = check("limit=3&status=red&name=a+b%2Fc").unwrap();
        assert_eq!(params, Params { limit: Some(3), status: Some(Colour::Red), name: Some("a b/c".into()) });
        assert_eq!(check("").unwrap(), Params { limit: None, status: None, name: None });
    }

    #[test]
    fn a_malformed_query_is_a_400() {
        for query in ["limit=%zz", "name=%ff%fe", "limit=1&limit=2", "name=%4"] {
            assert_eq!(check(query).unwrap_err().0, 400, "{query}");
        }
    }

    #[test]
    fn every_unknown_parameter_or_bad_value_is_named() {
        assert_eq!(fields("size=2&limit=x&colour=red"), ["colour", "size"], "unknown ones first");
        assert_eq!(fields("status=blue&limit=x"), ["limit", "status"]);
        assert_eq!(fields("limit=-1"), ["limit"]);
    }
}
