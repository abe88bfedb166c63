//! Prefixed, time-sortable identifiers (`ten_…`, `ep_…`, `evt_…`).
//!
//! The suffix is a ULID: 48 bits of milliseconds then 80 random bits in Crockford base32, so ids
//! sort by creation time as strings, which is what DynamoDB sort keys and cursors rely on.
//! Within one millisecond a process counts up from its last id (a monotonic ULID), so the ids
//! one process makes sort in the order it made them.

use std::fmt;
use std::sync::Mutex;

use rand::RngCore;
use serde::{Deserialize, Serialize};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID_LEN: usize = 26;
/// The largest value of a ULID's 80 random bits.
const RANDOM_MAX: u128 = (1 << 80) - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}_` followed by 26 base32 characters)")]
pub struct IdError {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

/// The (milliseconds, random bits) of the last ULID this process made.
static LAST_ULID: Mutex<(u64, u128)> = Mutex::new((0, 0));

fn ulid_now() -> String {
    let millis = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let fresh = u128::from_be_bytes(bytes) & RANDOM_MAX;
    // A poisoned lock still holds a valid last id: nothing panics while holding it.
    let mut last = LAST_ULID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *last = next_ulid(*last, millis, fresh);
    encode_ulid(last.0, last.1)
}

/// The ULID after `last`: a fresh one in a later millisecond, else `last` plus one (carrying
/// into the next millisecond in the unlikely case the random bits are all ones), so a clock
/// that stands still or steps back never makes an id that sorts before an earlier one.
fn next_ulid(last: (u64, u128), millis: u64, fresh: u128) -> (u64, u128) {
    match last {
        (last_ms, _) if millis > last_ms => (millis, fresh),
        (last_ms, random) if random < RANDOM_MAX => (last_ms, random + 1),
        (last_ms, _) => (last_ms + 1, fresh),
    }
}

fn encode_ulid(millis: u64, random: u128) -> String {
    let value: u128 = (u128::from(millis & 0xFFFF_FFFF_FFFF) << 80) | (random & RANDOM_MAX);
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

            /// A fresh id, ordered after every id this process made earlier.
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

impl EventId {
    /// The id of a tenant's event published under an idempotency key: made now, with a digest
    /// of the tenant and the key as its random part. The random part is what the event's items
    /// are keyed by (`store::keys`), so a repeat of the key finds the event from the key alone
    /// and a read by id finds it from the id: one item is both the event and the key's claim.
    pub fn keyed(tenant: &TenantId, key: &str) -> Self {
        let millis = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        Self(format!("{}_{}", Self::PREFIX, encode_ulid(millis, key_digest(tenant, key))))
    }

    /// The id's random part: its last 16 characters.
    pub fn random_part(&self) -> &str {
        &self.0[self.0.len() - RANDOM_CHARS..]
    }
}

/// Characters of a ULID's 80 random bits.
const RANDOM_CHARS: usize = 16;

/// 80 bits of SHA-256 over the tenant and the key (2^-80 for two keys of one tenant to meet).
fn key_digest(tenant: &TenantId, key: &str) -> u128 {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(tenant.as_str()).chain_update([0]).chain_update(key).finalize();
    let mut bytes = [0u8; 16];
    bytes[6..].copy_from_slice(&digest[..10]);
    u128::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyed_event_id_carries_its_key_digest_as_its_random_part() {
        let tenant = TenantId::generate();
        let id = EventId::keyed(&tenant, "order-1");
        assert!(EventId::parse(id.as_str()).is_ok(), "{id}");
        assert_ne!(id.random_part(), EventId::keyed(&tenant, "order-2").random_part());
        assert_ne!(id.random_part(), EventId::keyed(&TenantId::generate(), "order-1").random_part());
        let later = EventId::keyed(&tenant, "order-1");
        assert_eq!(later.random_part(), id.random_part());
        // Its time part is when it was made: it sorts among the ids made around it.
        let before = EventId::generate();
        let keyed = EventId::keyed(&tenant, "order-1");
        let after = EventId::generate();
        let time = |id: &EventId| id.as_str()[..EventId::PREFIX.len() + 11].to_owned();
        assert!(time(&before) <= time(&keyed) && time(&keyed) <= time(&after), "{before} {keyed} {after}");
    }

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = EventId::generate();
        assert!(id.as_str().starts_with("evt_"));
        assert_eq!(EventId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let earlier = encode_ulid(1_000, RANDOM_MAX);
        let later = encode_ulid(1_001, 0);
        assert!(earlier < later);
    }

    #[test]
    fn ids_made_in_the_same_millisecond_sort_in_the_order_they_were_made() {
        let ids: Vec<EventId> = (0..2_000).map(|_| EventId::generate()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "generated ids are not increasing");
    }

    #[test]
    fn a_clock_that_stands_still_or_steps_back_still_counts_up() {
        assert_eq!(next_ulid((10, 5), 11, 3), (11, 3));
        assert_eq!(next_ulid((10, 5), 10, 3), (10, 6));
        assert_eq!(next_ulid((10, 5), 9, 3), (10, 6));
        assert_eq!(next_ulid((10, RANDOM_MAX), 10, 3), (11, 3));
    }

    #[test]
    fn ulid_encoding_matches_the_spec_example() {
        // The ULID spec's timestamp example: 1469918176385 ms encodes as "01ARYZ6S41".
        assert_eq!(&encode_ulid(1_469_918_176_385, 0)[..10], "01ARYZ6S41");
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
