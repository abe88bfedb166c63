//! The keys of a tenant's items, built in one place (the tests use them too).
//!
//! At 10 000 events a second from one tenant no partition may take more than DynamoDB's
//! 1 000 WRU/s or 3 000 RRU/s, so nothing written per event shares a partition with the
//! tenant's other events: each event has its own partition (its item, deliveries, attempts),
//! and the listing entries (one per event, written with its first round) are spread over
//! [`LISTING_SHARDS`] partitions by the event's random bits. `ARCHITECTURE.md` has the sums.

use crate::ids::{EndpointId, EventId, TenantId};

/// Partitions a tenant's event listing is spread over: at 10 000 events/s each takes 313
/// entries a second, at most 939 WRU/s for entries of up to 3 KB.
pub const LISTING_SHARDS: usize = 32;

/// The sort key of the event item in its own partition.
pub(super) const EVENT_SK: &str = "EVT";

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TEN#{tenant}")
}

/// The tenant item's sort key (quotas, counters, registered types), in [`tenant_pk`].
pub const TENANT_SK: &str = "TEN";

/// The partition that lists every tenant, one entry per tenant ([`tenant_list_sk`]).
pub(super) const TENANTS_PK: &str = "TENANTS";

pub(super) const TENANT_LIST_SK_PREFIX: &str = "TEN#";

/// A tenant's entry in [`TENANTS_PK`]. Takes the id as text because a page cursor is one.
pub(super) fn tenant_list_sk(tenant: &str) -> String {
    format!("{TENANT_LIST_SK_PREFIX}{tenant}")
}

/// An API key's own item, found by the SHA-256 (hex) of the presented key.
pub(super) fn api_key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

pub(super) const API_KEY_SK: &str = "KEY";

pub const API_KEY_REF_SK_PREFIX: &str = "APIKEY#";

/// The tenant's reference to one of its keys, in [`tenant_pk`].
pub(super) fn api_key_ref_sk(hash: &str) -> String {
    format!("{API_KEY_REF_SK_PREFIX}{hash}")
}

pub(super) const EVENT_TYPE_SK_PREFIX: &str = "ETYPE#";

/// An event type's item, in [`tenant_pk`]. Takes the name as text because a page cursor is one.
pub(super) fn event_type_sk(name: &str) -> String {
    format!("{EVENT_TYPE_SK_PREFIX}{name}")
}

/// The tenant's events-per-minute counter for one Unix minute, in [`tenant_pk`].
pub(super) fn events_quota_sk(minute: i64) -> String {
    format!("QUOTA#EVENTS#{minute}")
}

/// The tenant's replays-per-minute counter for one Unix minute, in [`tenant_pk`].
pub(super) fn replays_quota_sk(minute: i64) -> String {
    format!("QUOTA#REPLAYS#{minute}")
}

pub const RATE_PK_PREFIX: &str = "RATE#";

/// A rate limiter's item, by its key (which starts with the tenant's id).
pub(super) fn rate_pk(key: &str) -> String {
    format!("{RATE_PK_PREFIX}{key}")
}

pub(super) const RATE_SK: &str = "RATE";

/// An event's own partition, by the id's random part: an idempotency key's digest for a keyed
/// event ([`EventId::keyed`]), so the key alone finds it.
pub fn event_pk(tenant: &TenantId, event: &EventId) -> String {
    format!("TEN#{tenant}#EV#{}", event.random_part())
}

/// The partition of an endpoint's busy items (health windows, in-flight leases): its own, so
/// a tenant with many busy endpoints spreads their writes.
pub fn endpoint_pk(tenant: &TenantId, endpoint: &EndpointId) -> String {
    format!("TEN#{tenant}#EP#{endpoint}")
}

pub(super) const ENDPOINT_SK_PREFIX: &str = "EP#";

/// An endpoint's item, in its tenant's partition.
pub fn endpoint_sk(endpoint: &EndpointId) -> String {
    format!("{ENDPOINT_SK_PREFIX}{endpoint}")
}

/// An endpoint's health window (a 5-minute window number), in [`endpoint_pk`].
pub(super) fn health_sk(endpoint: &EndpointId, window: i64) -> String {
    format!("HEALTH#{endpoint}#{window}")
}

/// An endpoint's in-flight leases and slow-lane mark, in [`endpoint_pk`].
pub(super) fn in_flight_sk(endpoint: &EndpointId) -> String {
    format!("INFLIGHT#{endpoint}")
}

pub(super) const DELIVERY_SK_PREFIX: &str = "DLV#";

/// A delivery's item (once touched after its first round), in its event's partition.
pub fn delivery_sk(endpoint: &EndpointId) -> String {
    format!("{DELIVERY_SK_PREFIX}{endpoint}")
}

pub(super) const ATTEMPT_SK_PREFIX: &str = "ATT#";

/// An attempt's item, in its event's partition; zero-padded so attempts sort by number.
pub(super) fn attempt_sk(endpoint: &EndpointId, number: u32) -> String {
    format!("{ATTEMPT_SK_PREFIX}{endpoint}#{number:06}")
}

/// The `FailedAttempts` index's partition of an endpoint's failed attempts: the endpoint's own
/// key, on the index, which takes one write per failed attempt.
pub fn failure_pk(tenant: &TenantId, endpoint: &EndpointId) -> String {
    endpoint_pk(tenant, endpoint)
}

/// A failed attempt's place in its endpoint's index partition: by time (milliseconds, 13
/// digits, so text order is time order until 2286), then event and attempt number.
pub fn failure_sk(at_ms: i64, event: &EventId, number: u32) -> String {
    format!("{}#{event}#{number:06}", failure_time(at_ms))
}

/// The time part of [`failure_sk`], also a bound of a window's Query.
pub(super) fn failure_time(at_ms: i64) -> String {
    format!("{:013}", at_ms.clamp(0, 9_999_999_999_999))
}

/// The event id in a [`failure_sk`].
pub(super) fn failure_event(sk: &str) -> Option<&str> {
    sk.split('#').nth(1)
}

/// Which listing partition an event's entry lives in: FNV-1a of its random part.
pub fn listing_shard(event: &EventId) -> usize {
    let hash = event
        .random_part()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % LISTING_SHARDS as u64) as usize
}

pub(super) fn listing_pk(tenant: &TenantId, shard: usize) -> String {
    format!("TEN#{tenant}#EVL#{shard:02}")
}

/// The listing partition that holds `event`'s entry.
pub(super) fn event_listing_pk(tenant: &TenantId, event: &EventId) -> String {
    listing_pk(tenant, listing_shard(event))
}

/// Listing entries sort by event id, so by time. Named for what most of them hold: the
/// event's first round.
pub(super) fn listing_sk(event: &EventId) -> String {
    format!("{LISTING_SK_PREFIX}{event}")
}

pub(super) const LISTING_SK_PREFIX: &str = "ROUND#";

/// Every listing partition of a tenant.
pub(super) fn listing_pks(tenant: &TenantId) -> impl Iterator<Item = String> + '_ {
    (0..LISTING_SHARDS).map(move |shard| listing_pk(tenant, shard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_form_stored_items_have() {
        let tenant = TenantId::generate();
        let endpoint = EndpointId::generate();
        let (t, e) = (tenant.as_str(), endpoint.as_str());
        assert_eq!(tenant_pk(&tenant), format!("TEN#{t}"));
        assert_eq!((TENANT_SK, TENANTS_PK, tenant_list_sk(t)), ("TEN", "TENANTS", format!("TEN#{t}")));
        assert_eq!((api_key_pk("ab"), API_KEY_SK, api_key_ref_sk("ab")), ("KEY#ab".into(), "KEY", "APIKEY#ab".into()));
        assert_eq!(event_type_sk("order.paid"), "ETYPE#order.paid");
        assert_eq!((events_quota_sk(7), replays_quota_sk(7)), ("QUOTA#EVENTS#7".into(), "QUOTA#REPLAYS#7".into()));
        assert_eq!((rate_pk(&format!("{t}#k")), RATE_SK), (format!("RATE#{t}#k"), "RATE"));
        assert_eq!(endpoint_pk(&tenant, &endpoint), format!("TEN#{t}#EP#{e}"));
        assert_eq!(endpoint_sk(&endpoint), format!("EP#{e}"));
        assert_eq!(health_sk(&endpoint, 42), format!("HEALTH#{e}#42"));
        assert_eq!(in_flight_sk(&endpoint), format!("INFLIGHT#{e}"));
        assert_eq!(delivery_sk(&endpoint), format!("DLV#{e}"));
        assert_eq!(attempt_sk(&endpoint, 3), format!("ATT#{e}#000003"));
    }

    #[test]
    fn a_tenants_events_spread_evenly_over_the_listing_shards() {
        let tenant = TenantId::generate();
        let mut counts = [0usize; LISTING_SHARDS];
        // A burst in one millisecond (ids that count up) and keyed events alike.
        for i in 0..32_000 {
            let id = if i % 2 == 0 { EventId::generate() } else { EventId::keyed(&tenant, &format!("key-{i}")) };
            counts[listing_shard(&id)] += 1;
        }
        let (min, max) = (counts.iter().min().copied().unwrap(), counts.iter().max().copied().unwrap());
        // 1 000 expected in each: every shard within 15 %.
        assert!(min >= 850 && max <= 1150, "{counts:?}");
    }

    #[test]
    fn failure_keys_sort_by_time_and_name_their_event() {
        let event = EventId::generate();
        let early = failure_sk(999, &event, 12);
        let late = failure_sk(1_700_000_000_000, &event, 1);
        assert!(early < late, "{early} {late}");
        assert_eq!(early, format!("0000000000999#{event}#000012"));
        assert_eq!(failure_event(&late), Some(event.as_str()));
        assert_eq!(failure_time(-5), failure_time(0), "a window from before 1970 starts at 0");
    }

    #[test]
    fn an_event_keeps_its_partitions_whatever_its_time_part() {
        let tenant = TenantId::generate();
        let first = EventId::keyed(&tenant, "order-7");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let repeat = EventId::keyed(&tenant, "order-7");
        assert_ne!(first, repeat);
        assert_eq!(event_pk(&tenant, &first), event_pk(&tenant, &repeat));
        assert_eq!(listing_shard(&first), listing_shard(&repeat));
        assert!(event_listing_pk(&tenant, &first).starts_with(&tenant_pk(&tenant)));
    }
}
