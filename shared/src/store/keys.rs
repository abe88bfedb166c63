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
