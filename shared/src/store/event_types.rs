//! A tenant's registered event types (`pk = TEN#<tenant>`, `sk = ETYPE#<name>`).
//!
//! Registering also adds the name to the tenant item's `event_types` set, in the same
//! transaction, so ingest learns every registered name from the one tenant read it already
//! makes (see `quotas.rs`). A type with a payload schema is also in the tenant item's
//! `schema_types` set, so ingest reads the schema only for the types that have one.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::attrs::{Item, get_s, get_ts, n, opt_s, parse, s, ts};
use super::events::Page;
use super::keys::{EVENT_TYPE_SK_PREFIX, TENANT_SK, event_type_sk};
use super::quotas::{EVENT_TYPES, SCHEMA_TYPES};
use super::table::Transaction;
use super::{Store, StoreError, tenant_pk};
use crate::domain::EventType;
use crate::ids::TenantId;

/// The most event types one tenant may register (their names sit in the tenant item, which
/// DynamoDB caps at 400 KB; names are at most 128 bytes).
pub const MAX_EVENT_TYPES: usize = 1000;

/// The largest example payload a type may carry: a page of 100 types with their examples and
/// schemas must fit a Lambda response (6 MB).
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;
/// A listing page stops adding types once their examples, schemas and descriptions pass this
/// many bytes (examples registered before [`MAX_EXAMPLE_BYTES`] existed may be larger).
const PAGE_BYTE_BUDGET: usize = 4 * 1024 * 1024;

/// A registered event type.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeDefinition {
    pub name: EventType,
    pub description: String,
    /// An example payload (a JSON object), kept as sent.
    #[schema(value_type = Option<Object>)]
    pub example: Option<Box<RawValue>>,
    /// The payload's JSON Schema (2020-12), kept as sent; ingest refuses payloads that break it.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Box<RawValue>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl EventTypeDefinition {
    fn size(&self) -> usize {
        let raw = |v: &Option<Box<RawValue>>| v.as_ref().map_or(0, |v| v.get().len());
        self.name.as_str().len() + self.description.len() + raw(&self.example) + raw(&self.schema)
    }
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

fn from_item(item: &Item) -> Result<EventTypeDefinition, StoreError> {
    Ok(EventTypeDefinition {
        name: parse("name", EventType::parse(get_s(item, "name")?))?,
        description: opt_s(item, "description").unwrap_or_default().to_owned(),
        example: opt_s(item, "example").map(|e| parse("example", RawValue::from_string(e.to_owned()))).transpose()?,
        schema: opt_s(item, "schema").map(|e| parse("schema", RawValue::from_string(e.to_owned()))).transpose()?,
        created_at: get_ts(item, "created_at")?,
    })
}

fn to_item(tenant: &TenantId, definition: &EventTypeDefinition) -> Item {
    let mut item: Item = [
        ("pk".to_owned(), s(tenant_pk(tenant))),
        ("sk".to_owned(), s(event_type_sk(definition.name.as_str()))),
        ("name".to_owned(), s(definition.name.as_str())),
        ("description".to_owned(), s(&definition.description)),
        ("created_at".to_owned(), ts(definition.created_at)),
    ]
    .into();
    if let Some(example) = &definition.example {
        item.insert("example".to_owned(), s(example.get()));
    }
    if let Some(schema) = &definition.schema {
        item.insert("schema".to_owned(), s(schema.get()));
    }
    item
}

/// What changing or removing an event type found.
#[derive(Debug, PartialEq, Eq)]
pub enum EventTypeChanged {
    Done,
    NotFound,
}

impl Store {
    /// Registers an event type, unless one of that name exists or the tenant is at the limit.
    pub async fn create_event_type(
        &self,
        tenant: &TenantId,
        definition: &EventTypeDefinition,
    ) -> Result<EventTypeCreated, StoreError> {
        let item = to_item(tenant, definition);
        let put = self.put(item, Some("attribute_not_exists(pk)"))?;
        let mut register = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .update_expression("ADD #types :name")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(#types) OR size(#types) < :max)")
            .expression_attribute_names("#types", EVENT_TYPES);
        if definition.schema.is_some() {
            register = register
                .update_expression("ADD #types :name, #schemas :name")
                .expression_attribute_names("#schemas", SCHEMA_TYPES);
        }
        let register = register
            .expression_attribute_values(":name", name_set(&definition.name))
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
            .key("sk", s(event_type_sk(name.as_str())))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Replaces a registered type's description, example and schema (its name and creation
    /// time stay), and keeps the tenant's `schema_types` in step, in one transaction.
    pub async fn update_event_type(
        &self,
        tenant: &TenantId,
        definition: &EventTypeDefinition,
    ) -> Result<EventTypeChanged, StoreError> {
        let put = self.put(to_item(tenant, definition), Some("attribute_exists(pk)"))?;
        let schemas = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .update_expression(if definition.schema.is_some() { "ADD #schemas :name" } else { "DELETE #schemas :name" })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#schemas", SCHEMA_TYPES)
            .expression_attribute_values(":name", name_set(&definition.name))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let items = vec![put, TransactWriteItem::builder().update(schemas).build()];
        match self.transact(items).await? {
            Transaction::Committed => Ok(EventTypeChanged::Done),
            Transaction::ConditionFailed(_) => Ok(EventTypeChanged::NotFound),
        }
    }

    /// Removes a registered type and its name from the tenant item, in one transaction.
    pub async fn delete_event_type(&self, tenant: &TenantId, name: &EventType) -> Result<EventTypeChanged, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(event_type_sk(name.as_str())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let unregister = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .update_expression("DELETE #types :name, #schemas :name")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#types", EVENT_TYPES)
            .expression_attribute_names("#schemas", SCHEMA_TYPES)
            .expression_attribute_values(":name", name_set(name))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(unregister).build(),
        ];
        match self.transact(items).await? {
            Transaction::Committed => Ok(EventTypeChanged::Done),
            Transaction::ConditionFailed(_) => Ok(EventTypeChanged::NotFound),
        }
    }

    /// The schema of a registered type (its JSON text), if it has one: what ingest checks a
    /// payload against.
    pub async fn get_event_type_schema(
        &self,
        tenant: &TenantId,
        name: &EventType,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(event_type_sk(name.as_str())))
            .projection_expression("#schema")
            .expression_attribute_names("#schema", "schema")
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        Ok(out.item.as_ref().and_then(|item| opt_s(item, "schema")).map(str::to_owned))
    }

    /// One page of the tenant's event types, by name: at most `limit` types, fewer if their
    /// examples and schemas pass the page's byte budget (always at least one). `after` is the
    /// last name of the previous page.
    pub async fn list_event_types(
        &self,
        tenant: &TenantId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<EventTypeDefinition>, StoreError> {
        let pk = tenant_pk(tenant);
        let start = after.map(|name| -> Item {
            [("pk".to_owned(), s(pk.clone())), ("sk".to_owned(), s(event_type_sk(name)))].into()
        });
        // One more than asked, to know whether another page follows.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":prefix", s(EVENT_TYPE_SK_PREFIX))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("Query"))?;
        let found = out.items.unwrap_or_default();
        let more_in_table = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let mut items = Vec::with_capacity(found.len().min(limit));
        let mut bytes = 0;
        for item in &found {
            let definition = from_item(item)?;
            bytes += definition.size();
            if items.len() == limit || (!items.is_empty() && bytes > PAGE_BYTE_BUDGET) {
                break;
            }
            items.push(definition);
        }
        let next = (items.len() < found.len() || more_in_table)
            .then(|| items.last().map(|t| t.name.as_str().to_owned()))
            .flatten();
        Ok(Page { items, next })
    }

    /// The names of every type the tenant registered, from the tenant item (no examples read).
    pub async fn event_type_names(&self, tenant: &TenantId) -> Result<Vec<EventType>, StoreError> {
        Ok(self.get_ingest_policy(tenant).await?.map(|p| p.event_types).unwrap_or_default())
    }
}

fn name_set(name: &EventType) -> AttributeValue {
    AttributeValue::Ss(vec![name.as_str().to_owned()])
}
