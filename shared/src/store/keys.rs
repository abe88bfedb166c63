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

/// An event's own partition, by the id's random part: an idempotency key's digest for a keyed
/// event ([`EventId::keyed`]), so the key alone finds it.
pub fn event_pk(tenant: &TenantId, event: &EventId) -> String {
    event_pk_of(tenant, event.random_part())
}

pub(super) fn event_pk_of(tenant: &TenantId, random_part: &str) -> String {
    format!("TEN#{tenant}#EV#{random_part}")
}

/// The partition of an endpoint's busy items (health windows, in-flight leases): its own, so
/// a tenant with many busy endpoints spreads their writes.
pub fn endpoint_pk(tenant: &TenantId, endpoint: &EndpointId) -> String {
    format!("TEN#{tenant}#EP#{endpoint}")
}

/// An endpoint's item, in its tenant's partition.
pub fn endpoint_sk(endpoint: &EndpointId) -> String {
    format!("EP#{endpoint}")
}

/// A delivery's item (once touched after its first round), in its event's partition.
pub fn delivery_sk(endpoint: &EndpointId) -> String {
    format!("DLV#{endpoint}")
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
        assert_eq!(event_pk(&tenant, &first), event_pk_of(&tenant, &EventId::key_part(&tenant, "order-7")));
        assert_eq!(listing_shard(&first), listing_shard(&repeat));
        assert!(listing_pk(&tenant, listing_shard(&first)).starts_with(&tenant_pk(&tenant)));
    }
}
