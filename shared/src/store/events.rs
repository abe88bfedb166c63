use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use serde_json::value::RawValue;

use super::attrs::{Item, get_n, get_s, get_ts, n, opt_s, parse, s, ts};
use super::{Store, StoreError, event_pk, tenant_pk};
use crate::domain::{DeliveryStatus, Event, EventType};
use crate::ids::{EndpointId, EventId, TenantId};

const BATCH_WRITE_LIMIT: usize = 25;
const BATCH_WRITE_ROUNDS: u32 = 8;

/// What a tenant's idempotency key already stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now belongs to this event.
    Claimed,
    /// An earlier request took the key for this event.
    Taken { event_id: EventId, state: ClaimState, age: Duration },
}

/// How far the request that took an idempotency key got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimState {
    /// Still running, or died without saying so.
    Accepted,
    /// Failed and answered with an error: the next request with the key takes over at once.
    Interrupted,
    /// Every delivery is on the queue.
    Enqueued,
}

impl ClaimState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Interrupted => "interrupted",
            Self::Enqueued => "enqueued",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Accepted, Self::Interrupted, Self::Enqueued].into_iter().find(|c| c.as_str() == s)
    }
}

impl Store {
    /// Takes an idempotency key for an event, or says which event already has it.
    pub async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        event: &EventId,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(format!("IDEM#{key}")))
            .item("event_id", s(event.as_str()))
            .item("state", s(ClaimState::Accepted.as_str()))
            .item("created_at", ts(now))
            .item("expires_at", n(self.expires_at()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => return Ok(IdempotencyClaim::Claimed),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
            Err(err) => return Err(StoreError::aws("PutItem")(err)),
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("IDEM#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let item = out.item.ok_or_else(|| StoreError::Corrupt("idempotency record vanished".to_owned()))?;
        let age = now - get_ts(&item, "created_at")?;
        Ok(IdempotencyClaim::Taken {
            event_id: parse("event_id", EventId::parse(get_s(&item, "event_id")?))?,
            state: {
                let state = get_s(&item, "state")?;
                ClaimState::parse(state).ok_or_else(|| StoreError::Corrupt(format!("idempotency state `{state}`")))?
            },
            age: age.try_into().unwrap_or_default(),
        })
    }

    /// Records how far the request holding the key got.
    pub async fn mark_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        state: ClaimState,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("IDEM#{key}")))
            .update_expression("SET #state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .send()
            .await
            .map_err(StoreError::aws("UpdateItem"))?;
        Ok(())
    }

    /// Writes the event and one pending delivery per endpoint. Rewriting the same event is
    /// harmless only before any attempt, which is why ingest never rewrites an enqueued event.
    pub async fn put_event_with_deliveries(&self, event: &Event) -> Result<(), StoreError> {
        let expires = n(self.expires_at());
        let mut items: Vec<Item> = Vec::with_capacity(event.endpoint_ids.len() + 1);
        let mut event_item: Item = [
            ("pk".to_owned(), s(tenant_pk(&event.tenant_id))),
            ("sk".to_owned(), s(format!("EVT#{}", event.id))),
            ("event_type".to_owned(), s(event.event_type.as_str())),
            ("payload".to_owned(), s(event.payload.get())),
            ("deliveries".to_owned(), n(event.endpoint_ids.len())),
            ("created_at".to_owned(), ts(event.created_at)),
            ("expires_at".to_owned(), expires.clone()),
        ]
        .into();
        if !event.endpoint_ids.is_empty() {
            let ids = event.endpoint_ids.iter().map(|id| id.to_string()).collect();
            event_item.insert("endpoint_ids".to_owned(), aws_sdk_dynamodb::types::AttributeValue::Ss(ids));
        }
        if let Some(key) = &event.idempotency_key {
            event_item.insert("idempotency_key".to_owned(), s(key));
        }
        items.push(event_item);
        for endpoint in &event.endpoint_ids {
            items.push(
                [
                    ("pk".to_owned(), s(event_pk(&event.tenant_id, &event.id))),
                    ("sk".to_owned(), s(format!("DLV#{endpoint}"))),
                    ("status".to_owned(), s(DeliveryStatus::Pending.as_str())),
                    ("attempts".to_owned(), n(0)),
                    ("expires_at".to_owned(), expires.clone()),
                ]
                .into(),
            );
        }
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            self.batch_put(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// BatchWriteItem, retrying what DynamoDB leaves unprocessed, with a short backoff.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for round in 0..BATCH_WRITE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(25 << round)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(StoreError::aws("BatchWriteItem"))?;
            pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Aws { op: "BatchWriteItem", message: format!("{} items still unprocessed", pending.len()) })
    }

    pub async fn get_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("EVT#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let Some(item) = out.item else { return Ok(None) };
        let endpoint_ids = match item.get("endpoint_ids").and_then(|v| v.as_ss().ok()) {
            Some(ids) => ids.iter().map(|id| parse("endpoint_ids", EndpointId::parse(id))).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let mut endpoint_ids: Vec<EndpointId> = endpoint_ids;
        endpoint_ids.sort();
        let deliveries: usize = get_n(&item, "deliveries")?;
        if deliveries != endpoint_ids.len() {
            return Err(StoreError::Corrupt(format!(
                "event {id} lists {} of {deliveries} endpoints",
                endpoint_ids.len()
            )));
        }
        Ok(Some(Event {
            id: id.clone(),
            tenant_id: tenant.clone(),
            event_type: parse("event_type", EventType::parse(get_s(&item, "event_type")?))?,
            payload: parse("payload", RawValue::from_string(get_s(&item, "payload")?.to_owned()))?,
            idempotency_key: opt_s(&item, "idempotency_key").map(str::to_owned),
            endpoint_ids,
            created_at: get_ts(&item, "created_at")?,
        }))
    }
}
