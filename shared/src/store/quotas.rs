//! Per-tenant quotas, set by the operator: how many endpoints a tenant may have and how many
//! events it may publish per minute.
//!
//! Quotas live on the tenant item (`max_endpoints`, `events_per_minute`), next to the tenant's
//! registered event types, so ingest reads everything it checks an event against with one
//! GetItem. The event rate is a fixed one-minute window: one counter item per tenant and UTC
//! minute, raised with a conditional ADD that refuses to pass the limit.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::Serialize;
use time::OffsetDateTime;

use super::attrs::{Item, n, opt_n, s};
use super::{Store, StoreError, tenant_pk};
use crate::domain::EventType;
use crate::ids::TenantId;

/// The attribute names quotas are stored under, on the tenant item and its `TENANTS` entry.
pub(super) const MAX_ENDPOINTS: &str = "max_endpoints";
pub(super) const EVENTS_PER_MINUTE: &str = "events_per_minute";
/// The tenant item's string set of registered event type names.
pub(super) const EVENT_TYPES: &str = "event_types";
/// The tenant item's string set of the registered types that have a payload schema.
pub(super) const SCHEMA_TYPES: &str = "schema_types";

/// A tenant's endpoint quota until the operator sets another.
pub const DEFAULT_MAX_ENDPOINTS: u32 = 50;
/// A tenant's event rate quota until the operator sets another.
pub const DEFAULT_EVENTS_PER_MINUTE: u32 = 600;

/// What a tenant may use. Unset quotas read as the defaults (50 endpoints, 600 events per
/// minute); `None` would be no limit, which only a stored value could ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Endpoints the tenant may have at once.
    pub max_endpoints: Option<u32>,
    /// Events accepted per UTC calendar minute.
    pub events_per_minute: Option<u32>,
}

impl Quotas {
    pub(super) fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            max_endpoints: Some(opt_n(item, MAX_ENDPOINTS)?.unwrap_or(DEFAULT_MAX_ENDPOINTS)),
            events_per_minute: Some(opt_n(item, EVENTS_PER_MINUTE)?.unwrap_or(DEFAULT_EVENTS_PER_MINUTE)),
        })
    }
}

/// What ingest checks an event against, read with one GetItem of the tenant item.
#[derive(Clone, Debug, Default)]
pub struct IngestPolicy {
    pub quotas: Quotas,
    /// The tenant's registered event types, by name. Empty: any type goes.
    pub event_types: Vec<EventType>,
    /// The registered types whose payloads must match a schema.
    pub schema_types: Vec<EventType>,
}

impl IngestPolicy {
    /// Whether the tenant may publish an event of this type.
    pub fn allows(&self, event_type: &EventType) -> bool {
        self.event_types.is_empty() || self.event_types.contains(event_type)
    }

    /// Whether an event of this type must match its type's schema.
    pub fn has_schema(&self, event_type: &EventType) -> bool {
        self.schema_types.contains(event_type)
    }
}

/// Counter items outlive their minute by this much; DynamoDB's TTL removes them later.
const WINDOW_TTL_SECONDS: i64 = 3600;

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Store {
    /// The tenant's quotas and registered event types; `None` if the tenant does not exist.
    pub async fn get_ingest_policy(&self, tenant: &TenantId) -> Result<Option<IngestPolicy>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s("TEN"))
            .projection_expression("pk, #me, #epm, #types, #schemas")
            .expression_attribute_names("#me", MAX_ENDPOINTS)
            .expression_attribute_names("#epm", EVENTS_PER_MINUTE)
            .expression_attribute_names("#types", EVENT_TYPES)
            .expression_attribute_names("#schemas", SCHEMA_TYPES)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let Some(item) = out.item else { return Ok(None) };
        let names = |attribute: &str| -> Result<Vec<EventType>, StoreError> {
            let mut names = match item.get(attribute) {
                Some(AttributeValue::Ss(names)) => names
                    .iter()
                    .map(|name| EventType::parse(name).map_err(|e| StoreError::Corrupt(format!("event type: {e}"))))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => Vec::new(),
            };
            names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            Ok(names)
        };
        let (event_types, schema_types) = (names(EVENT_TYPES)?, names(SCHEMA_TYPES)?);
        Ok(Some(IngestPolicy { quotas: Quotas::from_item(&item)?, event_types, schema_types }))
    }

    /// The tenant's quotas (no limits if the tenant does not exist).
    pub async fn get_quotas(&self, tenant: &TenantId) -> Result<Quotas, StoreError> {
        Ok(self.get_ingest_policy(tenant).await?.map(|p| p.quotas).unwrap_or_default())
    }

    /// How many endpoints the tenant has (a Query that returns only the count).
    pub async fn count_endpoints(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(tenant_pk(tenant)))
                .expression_attribute_values(":prefix", s("EP#"))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::aws("Query"))?;
            count += usize::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    /// Counts one event in the tenant's current one-minute window. `Ok(Err(wait))` when the
    /// window already holds `limit` events: nothing is counted and `wait` is the time left until
    /// the next window opens.
    pub async fn count_event_for_quota(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Result<(), Duration>, StoreError> {
        let now_ms = unix_ms(OffsetDateTime::now_utc());
        let minute = now_ms.div_euclid(60_000);
        let next_window_ms = (minute + 1) * 60_000;
        let wait = Duration::from_millis(u64::try_from(next_window_ms - now_ms).unwrap_or(0));
        if limit == 0 {
            return Ok(Err(wait));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("QUOTA#EVENTS#{minute}")))
            .update_expression("ADD #n :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(next_window_ms / 1000 + WINDOW_TTL_SECONDS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(Err(wait))
            }
            Err(err) => Err(StoreError::aws("UpdateItem")(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_registered_types_allows_any_type() {
        let t = EventType::parse("order.created").unwrap();
        assert!(IngestPolicy::default().allows(&t));
        let policy = IngestPolicy { event_types: vec![EventType::parse("order.paid").unwrap()], ..Default::default() };
        assert!(!policy.allows(&t));
        assert!(policy.allows(&EventType::parse("order.paid").unwrap()));
    }

    #[test]
    fn missing_quota_attributes_read_as_the_defaults() {
        let item: Item = [(MAX_ENDPOINTS.to_owned(), n(7))].into();
        assert_eq!(
            Quotas::from_item(&item).unwrap(),
            Quotas { max_endpoints: Some(7), events_per_minute: Some(DEFAULT_EVENTS_PER_MINUTE) }
        );
        let empty = Item::new();
        assert_eq!(
            Quotas::from_item(&empty).unwrap(),
            Quotas { max_endpoints: Some(DEFAULT_MAX_ENDPOINTS), events_per_minute: Some(DEFAULT_EVENTS_PER_MINUTE) }
        );
    }
}
