//! Reading and writing DynamoDB attribute maps.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn ts(t: OffsetDateTime) -> AttributeValue {
    // Rfc3339 formatting only fails for years beyond 9999.
    AttributeValue::S(t.format(&Rfc3339).unwrap_or_default())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("missing string attribute `{name}`")))
}

pub fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    opt_n(item, name)?.ok_or_else(|| StoreError::Corrupt(format!("missing number attribute `{name}`")))
}

pub fn opt_n<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name).and_then(|v| v.as_n().ok()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| StoreError::Corrupt(format!("attribute `{name}` is not the expected number"))),
    }
}

pub fn get_ts(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    parse_ts(get_s(item, name)?, name)
}

pub fn opt_ts(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_s(item, name).map(|t| parse_ts(t, name)).transpose()
}

fn parse_ts(text: &str, name: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| StoreError::Corrupt(format!("attribute `{name}` is not a timestamp")))
}

pub fn parse<T, E: std::fmt::Display>(name: &str, result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt(format!("attribute `{name}`: {e}")))
}
