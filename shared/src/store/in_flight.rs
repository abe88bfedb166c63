//! One endpoint's deliveries in flight across the whole fleet, as leases on one DynamoDB item,
//! and whether the endpoint is in the slow lane.
//!
//! A lease is an entry `leases.<id> = <start, ms>`. It is taken with one conditional write
//! (`size(leases) < cap`) and removed when the attempt is over. A worker killed mid-send never
//! removes its lease, so a lease counts only until `start + ttl` (the deliver function's
//! timeout: no attempt can still be running then); expired ones are pruned when the cap is
//! reached. Nothing is counted up and down, so nothing leaks.
//!
//! `slow_until_ms` on the same item says the endpoint's recent attempts timed out or were slow:
//! until then, deliveries that arrive on the main queue go to the slow lane.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use rand::Rng;

use super::attrs::{Item, n, opt_n, s};
use super::keys::{endpoint_pk, in_flight_sk};
use super::table::conditional;
use super::{Store, StoreError};
use crate::ids::{EndpointId, TenantId};

/// The item lives a week past its last lease, long after any lease or slow mark matters.
const ITEM_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Conditional writes lost to other workers' leases before the caller is told "full".
const ROUNDS: usize = 3;

/// What the caller asks for.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRequest {
    /// At most this many leases at once on the endpoint.
    pub cap: u32,
    /// A lease counts for this long after it was taken.
    pub ttl: Duration,
    /// Unix time in ms (taken by the caller, so tests can stand in for a worker of the past).
    pub now_ms: i64,
    /// Refuse the lease while the endpoint is marked slow (a delivery on the main lane).
    pub refuse_if_slow: bool,
}

/// A lease held on one endpoint's in-flight item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant_id: TenantId,
    pub endpoint_id: EndpointId,
    pub id: String,
}

/// A lease that gives itself back: [`HeldLease::release`] after the request, or, on any path
/// that returns before sending, in the background when it is dropped. Should that not happen
/// either (a killed worker), the lease runs out after its ttl.
#[derive(Debug)]
pub struct HeldLease {
    store: Store,
    lease: Option<Lease>,
}

impl HeldLease {
    pub fn new(store: Store, lease: Lease) -> Self {
        Self { store, lease: Some(lease) }
    }

    /// Gives the lease back; with `slow_until_ms`, also marks the endpoint slow until then.
    pub async fn release(mut self, slow_until_ms: Option<i64>) -> Result<(), StoreError> {
        match self.lease.take() {
            Some(lease) => self.store.release_lease(&lease, slow_until_ms).await,
            None => Ok(()),
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        let (Some(lease), Ok(runtime)) = (self.lease.take(), tokio::runtime::Handle::try_current()) else { return };
        let store = self.store.clone();
        runtime.spawn(async move {
            if let Err(err) = store.release_lease(&lease, None).await {
                tracing::warn!(error = %err, "could not release an unused in-flight lease; it expires by itself");
            }
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The lease is held: send, then release it. `others_started_ms` are the other live
    /// leases' start times.
    Granted { lease: Lease, others_started_ms: Vec<i64> },
    /// The endpoint already has `cap` live leases.
    Full,
    /// The endpoint is marked slow (asked with `refuse_if_slow`).
    Slow,
}

/// The item as read back: leases by id with their start, and the slow mark.
#[derive(Debug, Default, PartialEq, Eq)]
struct InFlight {
    leases: HashMap<String, i64>,
    slow_until_ms: Option<i64>,
}

impl InFlight {
    fn from_item(item: &Item) -> Result<Option<Self>, StoreError> {
        let Some(AttributeValue::M(map)) = item.get("leases") else { return Ok(None) };
        let mut leases = HashMap::new();
        for (id, value) in map {
            let started = value
                .as_n()
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("lease {id} has no start time")))?;
            leases.insert(id.clone(), started);
        }
        Ok(Some(Self { leases, slow_until_ms: opt_n(item, "slow_until_ms")? }))
    }

    fn live(&self, ttl_ms: i64, now_ms: i64) -> impl Iterator<Item = (&String, &i64)> {
        self.leases.iter().filter(move |(_, started)| **started + ttl_ms > now_ms)
    }

    fn expired(&self, ttl_ms: i64, now_ms: i64) -> Vec<String> {
        self.leases.iter().filter(|(_, started)| **started + ttl_ms <= now_ms).map(|(id, _)| id.clone()).collect()
    }

    fn is_slow(&self, now_ms: i64) -> bool {
        self.slow_until_ms.is_some_and(|until| until > now_ms)
    }
}

fn key(tenant: &TenantId, endpoint: &EndpointId) -> [(String, AttributeValue); 2] {
    [("pk".to_owned(), s(endpoint_pk(tenant, endpoint))), ("sk".to_owned(), s(in_flight_sk(endpoint)))]
}

fn expires_at(now_ms: i64) -> AttributeValue {
    n(now_ms / 1000 + ITEM_TTL_SECONDS)
}

impl Store {
    /// Takes a lease on the endpoint if fewer than `cap` are live (and, when asked, the
    /// endpoint is not marked slow). One conditional write when there is room.
    pub async fn take_lease(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        request: LeaseRequest,
    ) -> Result<Admission, StoreError> {
        let ttl_ms = i64::try_from(request.ttl.as_millis()).unwrap_or(i64::MAX);
        let id = format!("{:016x}", rand::rng().random::<u64>());
        // `attribute_exists` first: a missing map then fails the condition (and moto's `size`
        // of a missing attribute is a server error rather than false).
        let mut condition = "attribute_exists(leases) AND size(leases) < :cap".to_owned();
        if request.refuse_if_slow {
            condition.push_str(" AND (attribute_not_exists(slow_until_ms) OR slow_until_ms <= :now)");
        }
        let mut made = false;
        for _ in 0..ROUNDS {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(tenant, endpoint).into()))
                .update_expression("SET leases.#id = :started, expires_at = :expires")
                .condition_expression(&condition)
                .expression_attribute_names("#id", &id)
                .expression_attribute_values(":started", n(request.now_ms))
                .expression_attribute_values(":expires", expires_at(request.now_ms))
                .expression_attribute_values(":cap", n(request.cap))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            if request.refuse_if_slow {
                update = update.expression_attribute_values(":now", n(request.now_ms));
            }
            let refused = match update.send().await {
                Ok(out) => {
                    let state = InFlight::from_item(&out.attributes.unwrap_or_default())?.unwrap_or_default();
                    let others_started_ms = state
                        .live(ttl_ms, request.now_ms)
                        .filter(|(other, _)| **other != id)
                        .map(|(_, s)| *s)
                        .collect();
                    let lease = Lease { tenant_id: tenant.clone(), endpoint_id: endpoint.clone(), id };
                    return Ok(Admission::Granted { lease, others_started_ms });
                }
                Err(err) => match err.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(e) => e.item,
                    // No item (or no lease map) yet: DynamoDB cannot set a key inside it.
                    other if !made && other.meta().code() == Some("ValidationException") => None,
                    other => return Err(StoreError::aws("UpdateItem")(other)),
                },
            };
            let Some(state) = refused.as_ref().map(InFlight::from_item).transpose()?.flatten() else {
                if made {
                    return Err(StoreError::Corrupt(format!("the in-flight item of {endpoint} has no lease map")));
                }
                self.create_in_flight_item(tenant, endpoint, request.now_ms).await?;
                made = true;
                continue;
            };
            if request.refuse_if_slow && state.is_slow(request.now_ms) {
                return Ok(Admission::Slow);
            }
            let expired = state.expired(ttl_ms, request.now_ms);
            if expired.is_empty() {
                return Ok(Admission::Full);
            }
            self.prune_leases(tenant, endpoint, &expired).await?;
        }
        Ok(Admission::Full)
    }

    /// Gives the lease back; with `slow_until_ms`, also marks the endpoint slow until then.
    pub async fn release_lease(&self, lease: &Lease, slow_until_ms: Option<i64>) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&lease.tenant_id, &lease.endpoint_id).into()))
            .expression_attribute_names("#id", &lease.id);
        update = match slow_until_ms {
            // Never shorten a later mark another worker set.
            Some(until) => update
                .update_expression("REMOVE leases.#id SET slow_until_ms = :until")
                .condition_expression("attribute_not_exists(slow_until_ms) OR slow_until_ms < :until")
                .expression_attribute_values(":until", n(until)),
            None => update.update_expression("REMOVE leases.#id"),
        };
        if conditional(update.send().await, "UpdateItem")?.is_none() {
            // A later mark stands; the lease still goes.
            return Box::pin(self.release_lease(lease, None)).await;
        }
        Ok(())
    }

    /// The endpoint's slow mark, if it has one (for tests and the API's curious).
    pub async fn slow_until_ms(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, endpoint).into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        opt_n(&out.item.unwrap_or_default(), "slow_until_ms")
    }

    async fn create_in_flight_item(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(tenant, endpoint).into()))
            .update_expression("SET leases = :empty, expires_at = :expires")
            .condition_expression("attribute_not_exists(leases)")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":expires", expires_at(now_ms))
            .send()
            .await;
        // `None`: another worker made it first.
        conditional(result, "UpdateItem")?;
        Ok(())
    }

    /// Removes leases whose worker died mid-send. Lease ids are never reused, so removing one
    /// that someone else already pruned changes nothing.
    async fn prune_leases(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        expired: &[String],
    ) -> Result<(), StoreError> {
        let mut update = self.client.update_item().table_name(&self.table).set_key(Some(key(tenant, endpoint).into()));
        let mut paths = Vec::new();
        for (i, id) in expired.iter().take(50).enumerate() {
            update = update.expression_attribute_names(format!("#e{i}"), id);
            paths.push(format!("leases.#e{i}"));
        }
        update
            .update_expression(format!("REMOVE {}", paths.join(", ")))
            .send()
            .await
            .map_err(StoreError::aws("UpdateItem"))?;
        tracing::info!(pruned = paths.len(), "removed expired in-flight leases");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(leases: &[(&str, i64)], slow_until_ms: Option<i64>) -> Item {
        let mut item = Item::new();
        item.insert(
            "leases".into(),
            AttributeValue::M(leases.iter().map(|(id, at)| ((*id).to_owned(), n(*at))).collect()),
        );
        if let Some(until) = slow_until_ms {
            item.insert("slow_until_ms".into(), n(until));
        }
        item
    }

    #[test]
    fn a_lease_counts_until_its_ttl_and_then_is_expired() {
        let state = InFlight::from_item(&item(&[("old", 1_000), ("new", 60_500)], None)).unwrap().unwrap();
        let live: Vec<_> = state.live(60_000, 61_000).map(|(id, _)| id.clone()).collect();
        assert_eq!(live, ["new"]);
        assert_eq!(state.expired(60_000, 61_000), ["old"]);
        assert!(state.expired(60_000, 60_999).is_empty(), "still counts one ms before its end");
    }

    #[test]
    fn the_slow_mark_holds_until_its_time() {
        let state = InFlight::from_item(&item(&[], Some(5_000))).unwrap().unwrap();
        assert!(state.is_slow(4_999));
        assert!(!state.is_slow(5_000));
        assert!(!InFlight::from_item(&item(&[], None)).unwrap().unwrap().is_slow(0));
    }

    #[test]
    fn an_item_without_a_lease_map_is_not_yet_made() {
        assert_eq!(InFlight::from_item(&Item::new()).unwrap(), None);
    }
}
