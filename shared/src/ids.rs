//! Prefixed, time-sortable identifiers (`ten_…`, `ep_…`, `evt_…`).
//!
//! The suffix is a ULID: 48 bits of milliseconds then 80 random bits in Crockford base32, so ids
//! sort by creation time as strings, which is what DynamoDB sort keys and cursors rely on.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_LEN: usize = 26;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}_` followed by 26 base32 characters)")]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

fn ulid_now() -> String {
    let millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut random = [0u8; 10];
    rand::rng().fill_bytes(&mut random);
    encode_ulid(millis as u64, random)
}

fn encode_ulid(millis: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(millis & 0xFFFF_FFFF_FFFF) << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (72 - 8 * i);
    }
    (0..ULID_LEN)
        .map(|i| {
            let shift = 5 * (ULID_LEN - 1 - i);
            CROCKFORD[((value >> shift) & 0x1F) as usize] as char
        })
        .collect()
}

fn is_ulid(s: &str) -> bool {
    s.len() == ULID_LEN && s.bytes().all(|b| CROCKFORD.contains(&b))
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered after every id made earlier.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid_now()))
            }

            pub fn parse(value: &str) -> Result<Self, IdError> {
                match value.strip_prefix(concat!($prefix, "_")) {
                    Some(rest) if is_ulid(rest) => Ok(Self(value.to_owned())),
                    _ => Err(IdError { kind: $kind, prefix: $prefix, value: value.to_owned() }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::string_schema(
                    concat!("A ", $kind, " id: `", $prefix, "_` and a ULID."),
                    Some(concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Z]{26}$")),
                    None,
                )
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// A tenant: one product that sends events, isolated from every other.
    TenantId, "ten", "tenant");
prefixed_id!(
    /// An endpoint: a URL subscribed to some event types.
    EndpointId, "ep", "endpoint");
prefixed_id!(
    /// An event; also the `webhook-id` every delivery of it carries.
    EventId, "evt", "event");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = EventId::generate();
        assert!(id.as_str().starts_with("evt_"));
        assert_eq!(EventId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let earlier = encode_ulid(1_000, [0xFF; 10]);
        let later = encode_ulid(1_001, [0x00; 10]);
        assert!(earlier < later);
    }

    #[test]
    fn ulid_encoding_matches_the_spec_example() {
        // The ULID spec's timestamp example: 1469918176385 ms encodes as "01ARYZ6S41".
        assert_eq!(&encode_ulid(1_469_918_176_385, [0; 10])[..10], "01ARYZ6S41");
    }

    #[test]
    fn parse_refuses_wrong_prefix_length_and_alphabet() {
        let good = EndpointId::generate();
        assert!(EventId::parse(good.as_str()).is_err());
        assert!(EndpointId::parse("ep_short").is_err());
        assert!(EndpointId::parse("ep_0123456789ABCDEFGHJKMNPQRU").is_err()); // U is not Crockford
        assert!(EndpointId::parse(&good.as_str().to_lowercase()).is_err());
    }
}
