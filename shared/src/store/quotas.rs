//! Per-tenant quotas, set by the operator: how many endpoints a tenant may have, how many
//! events it may publish per minute, and how many replays and test sends it may make per minute.
//!
//! Quotas live on the tenant item (`max_endpoints`, `events_per_minute`, `replays_per_minute`),
//! next to the tenant's registered event types, so ingest reads everything it checks an event
//! against with one GetItem. An absent attribute is the default; a stored `NULL` is "no limit",
//! so the API can show exactly what is enforced. The rates are fixed one-minute windows: one
//! counter item per tenant, kind and UTC minute, raised with a conditional ADD that refuses to
//! pass the limit. The endpoint count is a counter on the tenant item (`endpoint_count`), moved
//! in the same transaction as the endpoint's put or delete, so parallel creations cannot pass
//! the quota.

use std::time::Duration;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::Serialize;
use time::OffsetDateTime;

use super::attrs::{Item, n, opt_n, s};
use super::keys::{ENDPOINT_SK_PREFIX, TENANT_SK, events_quota_sk, replays_quota_sk};
use super::table::conditional;
use super::{Store, StoreError, tenant_pk};
use crate::domain::EventType;
use crate::ids::TenantId;

/// The attribute names quotas are stored under, on the tenant item and its `TENANTS` entry.
pub(super) const MAX_ENDPOINTS: &str = "max_endpoints";
pub(super) const EVENTS_PER_MINUTE: &str = "events_per_minute";
pub(super) const REPLAYS_PER_MINUTE: &str = "replays_per_minute";
/// The tenant item's count of its endpoints, kept by endpoint creation and deletion.
pub(super) const ENDPOINT_COUNT: &str = "endpoint_count";
/// The tenant item's string set of registered event type names.
pub(super) const EVENT_TYPES: &str = "event_types";
/// The tenant item's string set of the registered types that have a payload schema.
pub(super) const SCHEMA_TYPES: &str = "schema_types";

/// A tenant's endpoint quota until the operator sets another.
pub const DEFAULT_MAX_ENDPOINTS: u32 = 50;
/// A tenant's event rate quota until the operator sets another.
pub const DEFAULT_EVENTS_PER_MINUTE: u32 = 600;
/// A tenant's quota of replays (resends, recoveries) and test sends per minute until the
/// operator sets another.
pub const DEFAULT_REPLAYS_PER_MINUTE: u32 = 60;

/// What a tenant may use, exactly as enforced: an unset quota is its default, `None` is no
/// limit (the operator set it to `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quotas {
    /// Endpoints the tenant may have at once.
    pub max_endpoints: Option<u32>,
    /// Events accepted per UTC calendar minute.
    pub events_per_minute: Option<u32>,
    /// Resends, recoveries and test sends accepted per UTC calendar minute (a test send with
    /// `check_auth` counts two).
    pub replays_per_minute: Option<u32>,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_endpoints: Some(DEFAULT_MAX_ENDPOINTS),
            events_per_minute: Some(DEFAULT_EVENTS_PER_MINUTE),
            replays_per_minute: Some(DEFAULT_REPLAYS_PER_MINUTE),
        }
    }
}

/// One quota attribute: absent is the default, a stored `NULL` is no limit.
fn quota_attr(item: &Item, name: &str, default: u32) -> Result<Option<u32>, StoreError> {
    match item.get(name) {
        None => Ok(Some(default)),
        Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => opt_n(item, name),
    }
}

impl Quotas {
    pub(super) fn from_item(item: &Item) -> Result<Self, StoreError> {
        Ok(Self {
            max_endpoints: quota_attr(item, MAX_ENDPOINTS, DEFAULT_MAX_ENDPOINTS)?,
            events_per_minute: quota_attr(item, EVENTS_PER_MINUTE, DEFAULT_EVENTS_PER_MINUTE)?,
            replays_per_minute: quota_attr(item, REPLAYS_PER_MINUTE, DEFAULT_REPLAYS_PER_MINUTE)?,
        })
    }
}

/// The per-minute windows a tenant is counted in.
#[derive(Clone, Copy, Debug)]
enum QuotaWindow {
    Events,
    Replays,
}

impl QuotaWindow {
    fn sort_key(self, minute: i64) -> String {
        match self {
            Self::Events => events_quota_sk(minute),
            Self::Replays => replays_quota_sk(minute),
        }
    }
}

/// What ingest checks an event against, read with one GetItem of the tenant item.
#[derive(Clone, Debug, Default)]
pub struct IngestPolicy {
    pub quotas: Quotas,
    /// The tenant's registered event types, by name. Empty: any type goes.
    pub event_types: Vec<EventType>,
    /// The operator suspended the tenant: it may not publish.
    pub suspended: bool,
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
            .key("sk", s(TENANT_SK))
            .projection_expression("pk, #me, #epm, #rpm, #types, #schemas, suspended")
            .expression_attribute_names("#me", MAX_ENDPOINTS)
            .expression_attribute_names("#epm", EVENTS_PER_MINUTE)
            .expression_attribute_names("#rpm", REPLAYS_PER_MINUTE)
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
        let suspended = item.contains_key("suspended");
        Ok(Some(IngestPolicy { quotas: Quotas::from_item(&item)?, event_types, schema_types, suspended }))
    }

    /// The tenant's quotas (the defaults if the tenant does not exist).
    pub async fn get_quotas(&self, tenant: &TenantId) -> Result<Quotas, StoreError> {
        Ok(self.get_ingest_policy(tenant).await?.map(|p| p.quotas).unwrap_or_default())
    }

    /// How many endpoints the tenant has (a Query that returns only the count).
    pub async fn count_endpoints(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let count_only = |query: QueryFluentBuilder| query.select(Select::Count);
        let add = |out: QueryOutput| count += usize::try_from(out.count).unwrap_or(0);
        self.query_pages(tenant_pk(tenant), ENDPOINT_SK_PREFIX, count_only, add).await?;
        Ok(count)
    }

    /// Counts one event in the tenant's current one-minute window. `Ok(Err(wait))` when the
    /// window already holds `limit` events: nothing is counted and `wait` is the time left until
    /// the next window opens.
    pub async fn count_event_for_quota(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Result<(), Duration>, StoreError> {
        self.count_in_window(tenant, QuotaWindow::Events, limit, 1).await
    }

    /// Adds `amount` events an ingest instance accepted to the tenant's window for `minute`
    /// (Unix minutes), unconditionally: the instance already decided (`warm::EventQuota`).
    /// Returns the window's count over all instances.
    pub async fn add_events_to_window(&self, tenant: &TenantId, minute: i64, amount: u32) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(QuotaWindow::Events.sort_key(minute)))
            .update_expression("ADD #n :amount SET expires_at = :expires")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":amount", n(amount))
            .expression_attribute_values(":expires", n((minute + 1) * 60 + WINDOW_TTL_SECONDS))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::aws("UpdateItem"))?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(opt_n::<u32>(&attributes, "n")?.unwrap_or(amount))
    }

    /// Counts `amount` replays or test sends in the tenant's current one-minute window, all or
    /// nothing; `Ok(Err(wait))` as for events.
    pub async fn count_replays_for_quota(
        &self,
        tenant: &TenantId,
        limit: u32,
        amount: u32,
    ) -> Result<Result<(), Duration>, StoreError> {
        self.count_in_window(tenant, QuotaWindow::Replays, limit, amount).await
    }

    async fn count_in_window(
        &self,
        tenant: &TenantId,
        window: QuotaWindow,
        limit: u32,
        amount: u32,
    ) -> Result<Result<(), Duration>, StoreError> {
        let now_ms = unix_ms(OffsetDateTime::now_utc());
        let minute = now_ms.div_euclid(60_000);
        let next_window_ms = (minute + 1) * 60_000;
        let wait = Duration::from_millis(u64::try_from(next_window_ms - now_ms).unwrap_or(0));
        if amount > limit {
            return Ok(Err(wait));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(window.sort_key(minute)))
            .update_expression("ADD #n :amount SET expires_at = :expires")
            .condition_expression("attribute_not_exists(#n) OR #n <= :room")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":amount", n(amount))
            .expression_attribute_values(":room", n(limit - amount))
            .expression_attribute_values(":expires", n(next_window_ms / 1000 + WINDOW_TTL_SECONDS))
            .send()
            .await;
        Ok(conditional(result, "UpdateItem")?.map(|_| ()).ok_or(wait))
    }

    /// Makes sure the tenant item carries `endpoint_count`. Tenants made before the counter
    /// existed get it from one consistent count of their endpoints; `false` if there is no
    /// such tenant.
    pub(super) async fn seed_endpoint_count(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let count = self.count_endpoints(tenant).await?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .update_expression("SET #count = :count")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#count)")
            .expression_attribute_names("#count", ENDPOINT_COUNT)
            .expression_attribute_values(":count", n(count))
            .send()
            .await;
        if conditional(result, "UpdateItem")?.is_some() {
            return Ok(true);
        }
        // Either another request seeded it first, or the tenant is gone: look.
        Ok(self.endpoint_count(tenant).await?.is_some())
    }

    /// The tenant item's `endpoint_count`: `None` if the tenant or the counter is missing.
    pub(super) async fn endpoint_count(&self, tenant: &TenantId) -> Result<Option<u32>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .projection_expression("#count")
            .expression_attribute_names("#count", ENDPOINT_COUNT)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        match out.item {
            Some(item) => opt_n(&item, ENDPOINT_COUNT),
            None => Ok(None),
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
    fn missing_quota_attributes_read_as_the_defaults_and_null_as_no_limit() {
        let item: Item =
            [(MAX_ENDPOINTS.to_owned(), n(7)), (REPLAYS_PER_MINUTE.to_owned(), AttributeValue::Null(true))].into();
        assert_eq!(
            Quotas::from_item(&item).unwrap(),
            Quotas {
                max_endpoints: Some(7),
                events_per_minute: Some(DEFAULT_EVENTS_PER_MINUTE),
                replays_per_minute: None
            }
        );
        assert_eq!(Quotas::from_item(&Item::new()).unwrap(), Quotas::default());
        assert_eq!(Quotas::default().max_endpoints, Some(DEFAULT_MAX_ENDPOINTS));
    }
}
