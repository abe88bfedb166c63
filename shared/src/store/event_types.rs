//! A tenant's registered event types (`pk = TEN#<tenant>`, `sk = ETYPE#<name>`).
//!
//! Registering also adds the name to the tenant item's `event_types` set, in the same
//! transaction, so ingest learns every registered name from the one tenant read it already
//! makes (see `quotas.rs`).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::attrs::{Item, get_s, get_ts, n, opt_s, parse, s, ts};
use super::quotas::EVENT_TYPES;
use super::tenants::Transaction;
use super::{Store, StoreError, tenant_pk};
use crate::domain::EventType;
use crate::ids::TenantId;

/// The most event types one tenant may register (their names sit in the tenant item, which
/// DynamoDB caps at 400 KB; names are at most 128 bytes).
pub const MAX_EVENT_TYPES: usize = 1000;

/// A registered event type.
#[derive(Clone, Debug, Serialize)]
pub struct EventTypeDefinition {
    pub name: EventType,
    pub description: String,
    /// An example payload (a JSON object), kept as sent.
    pub example: Option<Box<RawValue>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What registering an event type did.
#[derive(Debug, PartialEq, Eq)]
pub enum EventTypeCreated {
    Created,
    /// A type of that name is already registered (it is left as it was).
    AlreadyExists,
    /// The tenant has [`MAX_EVENT_TYPES`] already.
    LimitReached,
}

fn etype_sk(name: &EventType) -> String {
    format!("ETYPE#{name}")
}

fn from_item(item: &Item) -> Result<EventTypeDefinition, StoreError> {
    Ok(EventTypeDefinition {
        name: parse("name", EventType::parse(get_s(item, "name")?))?,
        description: opt_s(item, "description").unwrap_or_default().to_owned(),
        example: opt_s(item, "example").map(|e| parse("example", RawValue::from_string(e.to_owned()))).transpose()?,
        created_at: get_ts(item, "created_at")?,
    })
}

impl Store {
    /// Registers an event type, unless one of that name exists or the tenant is at the limit.
    pub async fn create_event_type(
        &self,
        tenant: &TenantId,
        definition: &EventTypeDefinition,
    ) -> Result<EventTypeCreated, StoreError> {
        let mut item: Item = [
            ("pk".to_owned(), s(tenant_pk(tenant))),
            ("sk".to_owned(), s(etype_sk(&definition.name))),
            ("name".to_owned(), s(definition.name.as_str())),
            ("description".to_owned(), s(&definition.description)),
            ("created_at".to_owned(), ts(definition.created_at)),
        ]
        .into();
        if let Some(example) = &definition.example {
            item.insert("example".to_owned(), s(example.get()));
        }
        let put = self.put(item, Some("attribute_not_exists(pk)"))?;
        let register = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s("TEN"))
            .update_expression("ADD #types :name")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#types) OR size(#types) < :max)")
            .expression_attribute_names("#types", EVENT_TYPES)
            .expression_attribute_values(":name", AttributeValue::Ss(vec![definition.name.as_str().to_owned()]))
            .expression_attribute_values(":max", n(MAX_EVENT_TYPES))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let items = vec![put, TransactWriteItem::builder().update(register).build()];
        match self.transact(items).await? {
            Transaction::Committed => Ok(EventTypeCreated::Created),
            Transaction::ConditionFailed(failed) if failed.first() == Some(&true) => {
                Ok(EventTypeCreated::AlreadyExists)
            }
            Transaction::ConditionFailed(_) => Ok(EventTypeCreated::LimitReached),
        }
    }

    pub async fn get_event_type(
        &self,
        tenant: &TenantId,
        name: &EventType,
    ) -> Result<Option<EventTypeDefinition>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(etype_sk(name)))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Every event type the tenant registered, by name.
    pub async fn list_event_types(&self, tenant: &TenantId) -> Result<Vec<EventTypeDefinition>, StoreError> {
        let items = self.query_prefix(tenant_pk(tenant), "ETYPE#").await?;
        items.iter().map(from_item).collect()
    }
}
