//! Endpoint settings (and events, below) cached per warm function instance for a few seconds: every message of a
//! batch usually goes to a handful of endpoints, and reading each one from DynamoDB per message
//! was the hot path's largest avoidable cost. A change (a PATCH, a disable) is seen within
//! the TTL; health decisions written from a stale copy are idempotent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{Endpoint, Event};
use crate::ids::{EndpointId, EventId, TenantId};
use crate::store::{Store, StoreError, TenantState};

/// Two seconds: a disable (or any change) is honoured by every attempt that starts more than
/// 2 s after the call returns.
pub const ENDPOINT_TTL: Duration = Duration::from_secs(2);

/// When an entry was read, and what was read (`None`: the endpoint does not exist).
type Entry = (Instant, Option<Endpoint>);

#[derive(Debug)]
pub struct EndpointCache {
    ttl: Duration,
    entries: Mutex<HashMap<(TenantId, EndpointId), Entry>>,
    /// Held while a missing entry is read, so a batch's deliveries to one endpoint (a round's
    /// ten events, say) read it once, not once each.
    loading: tokio::sync::Mutex<()>,
}

impl EndpointCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default(), loading: tokio::sync::Mutex::default() }
    }

    fn fresh(&self, key: &(TenantId, EndpointId)) -> Option<Option<Endpoint>> {
        let entries = self.entries.lock().ok()?;
        let (at, endpoint) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| endpoint.clone())
    }

    /// The endpoint (or its absence), from the cache while fresh, else from the store.
    pub async fn get(&self, store: &Store, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let key = (tenant.clone(), id.clone());
        if let Some(endpoint) = self.fresh(&key) {
            return Ok(endpoint);
        }
        let _loading = self.loading.lock().await;
        if let Some(endpoint) = self.fresh(&key) {
            return Ok(endpoint);
        }
        let endpoint = store.get_endpoint(tenant, id).await?;
        if let Ok(mut entries) = self.entries.lock() {
            // A batch names at most ten endpoints; dropping stale entries keeps the map small.
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            entries.insert(key, (Instant::now(), endpoint.clone()));
        }
        Ok(endpoint)
    }

    /// Notes in the cached copy that the endpoint is failing since `at`, unless it already
    /// says so; true if it did not. The caller then writes it (`if_not_exists`: the stored
    /// time may be earlier, by less than the TTL), and the instance's other failures within the
    /// TTL, concurrent ones included, do not write it again.
    pub fn note_failing_since(&self, tenant: &TenantId, id: &EndpointId, at: time::OffsetDateTime) -> bool {
        let Ok(mut entries) = self.entries.lock() else { return true };
        match entries.get_mut(&(tenant.clone(), id.clone())) {
            Some((_, Some(endpoint))) if endpoint.health.failing_since.is_some() => false,
            Some((_, Some(endpoint))) => {
                endpoint.health.failing_since = Some(at);
                true
            }
            _ => true,
        }
    }

    /// Forgets an endpoint after this instance changed it.
    pub fn forget(&self, tenant: &TenantId, id: &EndpointId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(tenant.clone(), id.clone()));
        }
    }
}

/// Events cached per warm instance for a second: an event fans out to several endpoints whose
/// messages usually arrive in the same batch. An event never changes except by having its
/// payload expunged, so the TTL bounds how long after an erasure a cached payload can go out.
/// The engine uses the cache only for a delivery's first attempt, and reads the event at most
/// 0.5 s before sending (again during a longer rate-limit wait), so a first attempt sends a copy
/// at most 1.5 s old: none that starts more than 2 s after an erasure returned carries the
/// payload. Retries, resends and recoveries read the table.
#[derive(Debug)]
pub struct EventCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<(TenantId, EventId), (Instant, Event)>>,
}

/// With the engine's 0.5 s between reading and sending, within the 2 s after an erasure that a
/// first attempt may still carry the payload.
pub const EVENT_TTL: Duration = Duration::from_secs(1);
const EVENT_CAPACITY: usize = 256;

impl EventCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, capacity: EVENT_CAPACITY, entries: Mutex::default() }
    }

    pub async fn get(&self, store: &Store, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let key = (tenant.clone(), id.clone());
        if let Ok(entries) = self.entries.lock()
            && let Some((at, event)) = entries.get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(event.clone()));
        }
        let event = store.get_event(tenant, id).await?;
        if let (Some(found), Ok(mut entries)) = (&event, self.entries.lock()) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() < self.capacity {
                entries.insert(key, (Instant::now(), found.clone()));
            }
        }
        Ok(event)
    }
}

/// How long a warm instance trusts what it read about a tenant: a deletion or suspension stops
/// its deliveries on every instance within this time.
pub const TENANT_TTL: Duration = Duration::from_secs(2);

/// Whether each tenant is active, suspended or gone, per warm instance for [`TENANT_TTL`]: one
/// small GetItem per tenant and TTL rather than one per message.
#[derive(Debug)]
pub struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, (Instant, TenantState)>>,
    /// As [`EndpointCache`]'s: one read per tenant when a batch starts, not one per message.
    loading: tokio::sync::Mutex<()>,
}

impl TenantCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::default(), loading: tokio::sync::Mutex::default() }
    }

    fn fresh(&self, tenant: &TenantId) -> Option<TenantState> {
        let entries = self.entries.lock().ok()?;
        let (at, state) = entries.get(tenant)?;
        (at.elapsed() < self.ttl).then_some(*state)
    }

    pub async fn get(&self, store: &Store, tenant: &TenantId) -> Result<TenantState, StoreError> {
        if let Some(state) = self.fresh(tenant) {
            return Ok(state);
        }
        let _loading = self.loading.lock().await;
        if let Some(state) = self.fresh(tenant) {
            return Ok(state);
        }
        let state = store.tenant_state(tenant).await?;
        if let Ok(mut entries) = self.entries.lock() {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            entries.insert(tenant.clone(), (Instant::now(), state));
        }
        Ok(state)
    }
}
