//! What an HTTP function keeps per warm instance instead of reading per request: which tenant
//! an API key names, the tenant's ingest policy (quotas, registered types, `suspended`) and its
//! state, for at most [`MAX_AUTH_TTL`]; and the events-per-minute quota, counted in memory and
//! added to DynamoDB at most once per [`QUOTA_FLUSH_INTERVAL`] per tenant, and only once the
//! instance holds a hundredth of the limit ([`EventQuota`]).
//!
//! A revoked key, a deleted or suspended tenant, a changed quota or a newly registered type is
//! therefore seen by every instance within the TTL (`HOOKLINE_AUTH_CACHE_SECONDS`, at most 10).
//! Only answers that let a request through are cached: an unknown key or a gone tenant is read
//! again each time, so a key that has just been created works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::ids::TenantId;
use crate::store::{IngestPolicy, Store, StoreError, TenantState};

/// The longest a warm instance may act on what it read about a key or tenant.
pub const MAX_AUTH_TTL: Duration = Duration::from_secs(10);
/// How often, at most, an instance adds its count of a tenant's events to DynamoDB.
pub const QUOTA_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// An instance adds its count once it holds at least `limit / QUOTA_FLUSH_SHARE` events (and
/// at least one): a quiet tenant's events are added a few at a time, not one write each.
pub const QUOTA_FLUSH_SHARE: u32 = 100;

/// The fewest events an instance holds before it adds them to the window item.
fn flush_batch(limit: u32) -> u32 {
    (limit / QUOTA_FLUSH_SHARE).max(1)
}

/// A map of values read at an instant, good for `ttl`.
#[derive(Debug)]
struct Timed<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Default for Timed<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::default() }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Timed<K, V> {
    fn get(&self, key: &K, ttl: Duration) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < ttl).then(|| value.clone())
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Stale entries go whenever one is added, so the map holds only recent callers.
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            entries.insert(key, (Instant::now(), value));
        }
    }
}

/// Keys, tenants and policies for one warm instance.
#[derive(Debug, Default)]
pub struct AuthCache {
    ttl: Duration,
    /// By the key's SHA-256, so no key is held in memory longer than its request.
    keys: Timed<[u8; 32], TenantId>,
    policies: Timed<TenantId, IngestPolicy>,
    states: Timed<TenantId, TenantState>,
}

impl AuthCache {
    /// `ttl` is capped at [`MAX_AUTH_TTL`]; zero caches nothing.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl: ttl.min(MAX_AUTH_TTL), ..Self::default() }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The tenant an API key names (`None`: no such key, or expired).
    pub async fn tenant_for_key(&self, store: &Store, presented: &str) -> Result<Option<TenantId>, StoreError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(tenant) = self.keys.get(&digest, self.ttl) {
            return Ok(Some(tenant));
        }
        let tenant = store.tenant_for_key(presented).await?;
        if let Some(tenant) = &tenant {
            self.keys.put(digest, tenant.clone(), self.ttl);
        }
        Ok(tenant)
    }

    /// The tenant's quotas, registered types and `suspended` (`None`: no such tenant).
    pub async fn ingest_policy(&self, store: &Store, tenant: &TenantId) -> Result<Option<IngestPolicy>, StoreError> {
        if let Some(policy) = self.policies.get(tenant, self.ttl) {
            return Ok(Some(policy));
        }
        let policy = store.get_ingest_policy(tenant).await?;
        if let Some(policy) = &policy {
            self.policies.put(tenant.clone(), policy.clone(), self.ttl);
        }
        Ok(policy)
    }

    /// Whether the tenant is active, suspended or gone.
    pub async fn tenant_state(&self, store: &Store, tenant: &TenantId) -> Result<TenantState, StoreError> {
        if let Some(state) = self.states.get(tenant, self.ttl) {
            return Ok(state);
        }
        let state = store.tenant_state(tenant).await?;
        if state != TenantState::Gone {
            self.states.put(tenant.clone(), state, self.ttl);
        }
        Ok(state)
    }
}

/// One tenant's count in one UTC minute, as this instance knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    minute: i64,
    /// The window item's count as DynamoDB answered the last flush (all instances' events).
    stored: u32,
    /// Events this instance accepted since its last flush.
    pending: u32,
    /// When this instance last flushed (or first counted, for a window not yet flushed).
    flushed_at: Option<Instant>,
}

/// What [`EventQuota::take`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Accepted; `flush` is the count to add to DynamoDB now (none: not due yet).
    Accept { flush: Option<u32> },
    /// The window is full; the next one opens in `wait`.
    Refuse { wait: Duration },
}

/// The events-per-minute quota, counted in memory and added to the tenant's window item at
/// most once per [`QUOTA_FLUSH_INTERVAL`], and only once the instance holds a hundredth of the
/// limit ([`QUOTA_FLUSH_SHARE`]; one event for a limit under 200). The first event of each
/// window is added at once, so an instance learns the others' count early. A tenant publishing
/// an event a second against the default 600 costs a write per 6 events, not one per event.
///
/// Overshoot bound: an instance refuses once its view of the window (the total DynamoDB gave it
/// at its last flush plus its own events since) reaches the limit. What it cannot see is what
/// other instances accepted since their last flush: at most one second's worth or a hundredth
/// of the limit each, whichever is more. So with `n` instances publishing for one tenant, a
/// window can take at most the limit plus that much from each of the other `n − 1`, and never
/// more than `n ×` the limit. One instance alone is exact. Counts not yet added when the minute
/// ends or an instance is shut down (as much, at most) are never added: the quota then errs
/// towards accepting.
#[derive(Debug, Default)]
pub struct EventQuota {
    windows: Mutex<HashMap<TenantId, Window>>,
}

impl EventQuota {
    /// Counts one event for `tenant` at `now_ms` (Unix ms) if the limit allows it.
    pub fn take(&self, tenant: &TenantId, limit: u32, now_ms: i64, now: Instant) -> QuotaDecision {
        let minute = now_ms.div_euclid(60_000);
        let wait = Duration::from_millis(u64::try_from((minute + 1) * 60_000 - now_ms).unwrap_or(0));
        let Ok(mut windows) = self.windows.lock() else { return QuotaDecision::Refuse { wait } };
        let window = windows.entry(tenant.clone()).or_default();
        if window.minute != minute {
            *window = Window { minute, ..Window::default() };
        }
        if window.stored.saturating_add(window.pending) >= limit {
            return QuotaDecision::Refuse { wait };
        }
        window.pending += 1;
        let due = window
            .flushed_at
            .is_none_or(|at| now.duration_since(at) >= QUOTA_FLUSH_INTERVAL && window.pending >= flush_batch(limit));
        if !due {
            return QuotaDecision::Accept { flush: None };
        }
        let flush = window.pending;
        window.pending = 0;
        window.stored = window.stored.saturating_add(flush);
        window.flushed_at = Some(now);
        QuotaDecision::Accept { flush: Some(flush) }
    }

    /// What DynamoDB answered a flush: the window's count over all instances.
    pub fn stored(&self, tenant: &TenantId, minute: i64, total: u32) {
        if let Ok(mut windows) = self.windows.lock()
            && let Some(window) = windows.get_mut(tenant)
            && window.minute == minute
        {
            window.stored = window.stored.max(total);
        }
    }

    /// A flush that failed: count its events again at the next one.
    pub fn unflushed(&self, tenant: &TenantId, minute: i64, amount: u32) {
        if let Ok(mut windows) = self.windows.lock()
            && let Some(window) = windows.get_mut(tenant)
            && window.minute == minute
        {
            window.pending = window.pending.saturating_add(amount);
            window.stored = window.stored.saturating_sub(amount);
            window.flushed_at = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::generate()
    }

    #[test]
    fn one_instance_counts_exactly_and_flushes_at_most_once_a_second() {
        let quota = EventQuota::default();
        let t = tenant();
        let start = Instant::now();
        let minute_ms = 1_000 * 60_000;
        // The first event of a window flushes at once, the next ones wait for the interval.
        assert_eq!(quota.take(&t, 3, minute_ms, start), QuotaDecision::Accept { flush: Some(1) });
        assert_eq!(quota.take(&t, 3, minute_ms + 10, start), QuotaDecision::Accept { flush: None });
        let later = start + QUOTA_FLUSH_INTERVAL;
        assert_eq!(quota.take(&t, 3, minute_ms + 1_000, later), QuotaDecision::Accept { flush: Some(2) });
        assert!(matches!(quota.take(&t, 3, minute_ms + 1_001, later), QuotaDecision::Refuse { .. }));
        // A new minute starts a new window.
        let next = minute_ms + 60_000;
        assert_eq!(quota.take(&t, 3, next, later), QuotaDecision::Accept { flush: Some(1) });
    }

    #[test]
    fn a_quiet_tenant_s_events_are_added_a_hundredth_of_the_limit_at_a_time() {
        let quota = EventQuota::default();
        let t = tenant();
        let start = Instant::now();
        let minute_ms = 3 * 60_000;
        // One event a second against a limit of 600: the window's first event is added at
        // once, then every sixth (600 / 100), however long apart they are.
        let at = |i: u32| (minute_ms + i64::from(i) * 1_000, start + Duration::from_secs(u64::from(i)));
        let (ms, now) = at(0);
        assert_eq!(quota.take(&t, 600, ms, now), QuotaDecision::Accept { flush: Some(1) });
        for i in 1..6 {
            let (ms, now) = at(i);
            assert_eq!(quota.take(&t, 600, ms, now), QuotaDecision::Accept { flush: None }, "event {i}");
        }
        let (ms, now) = at(6);
        assert_eq!(quota.take(&t, 600, ms, now), QuotaDecision::Accept { flush: Some(6) });
        // Six held events are not added sooner than a second after the last flush.
        let burst = now + Duration::from_millis(500);
        for i in 0..6 {
            assert_eq!(quota.take(&t, 600, ms + 500, burst), QuotaDecision::Accept { flush: None }, "burst {i}");
        }
        let later = now + QUOTA_FLUSH_INTERVAL;
        assert_eq!(quota.take(&t, 600, ms + 1_000, later), QuotaDecision::Accept { flush: Some(7) });
        // Under a limit of 200 every event is due once a second has passed, as before.
        assert_eq!(flush_batch(199), 1);
        assert_eq!(flush_batch(600), 6);
    }

    #[test]
    fn other_instances_counts_close_the_window_after_a_flush() {
        let quota = EventQuota::default();
        let t = tenant();
        let now = Instant::now();
        let minute_ms = 7 * 60_000;
        assert_eq!(quota.take(&t, 10, minute_ms, now), QuotaDecision::Accept { flush: Some(1) });
        // DynamoDB says the others had already counted nine.
        quota.stored(&t, 7, 10);
        assert!(matches!(quota.take(&t, 10, minute_ms + 5, now), QuotaDecision::Refuse { .. }));
    }

    #[test]
    fn a_failed_flush_is_counted_again() {
        let quota = EventQuota::default();
        let t = tenant();
        let now = Instant::now();
        assert_eq!(quota.take(&t, 5, 0, now), QuotaDecision::Accept { flush: Some(1) });
        quota.unflushed(&t, 0, 1);
        assert_eq!(quota.take(&t, 5, 1, now), QuotaDecision::Accept { flush: Some(2) });
    }

    #[test]
    fn the_ttl_is_capped_at_ten_seconds() {
        assert_eq!(AuthCache::new(Duration::from_secs(60)).ttl(), MAX_AUTH_TTL);
        assert_eq!(AuthCache::new(Duration::from_secs(2)).ttl(), Duration::from_secs(2));
    }
}
