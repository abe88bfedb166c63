use std::time::Duration;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::attrs::{Item, get_n, get_s, get_ts, n, opt_s, parse, s, ts};
use super::{Store, StoreError, tenant_pk};
use crate::domain::{DeliveryStatus, Event, EventType};
use crate::ids::{EndpointId, EventId, TenantId};

const BATCH_WRITE_LIMIT: usize = 25;
const BATCH_WRITE_ROUNDS: u32 = 8;

/// The largest page a listing returns.
pub const MAX_PAGE_SIZE: usize = 100;
/// How many DynamoDB pages one filtered event listing reads at most before it answers with
/// what it found (and a cursor to go on from).
const MAX_LIST_ROUNDS: usize = 5;
/// Events whose deliveries are read at once for a status filter.
const STATUS_READ_CONCURRENCY: usize = 10;
/// What an expunged payload is stored and returned as. Real payloads are JSON objects, so the
/// text `null` can only mean "expunged".
pub const EXPUNGED_PAYLOAD: &str = "null";

/// One page of a listing and where the next one starts: the id (or name) of the last item
/// this page covered, never a storage key; `None`: this was the last page. The API hands it out
/// sealed in a cursor (`edge::page`).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Items of one partition whose sort keys lie in `lo..=hi`.
pub(super) struct SkRange {
    pub pk: String,
    pub lo: String,
    pub hi: String,
}

/// What one Query of a range returned, and the sort key to go on after (if any).
pub(super) struct RawPage {
    pub items: Vec<Item>,
    pub last_key: Option<String>,
}

/// Which events a listing returns. Every filter given must hold.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub event_type: Option<EventType>,
    /// Events created at or after this time (by the time in their id).
    pub since: Option<OffsetDateTime>,
    /// Events created at or before this time (by the time in their id).
    pub until: Option<OffsetDateTime>,
    /// Events with at least one delivery in this status.
    pub status: Option<DeliveryStatus>,
}

/// An event as a listing shows it: without its payload (a page of 100 payloads of up to
/// 256 KB would not fit a Lambda response).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventSummary {
    pub id: EventId,
    pub event_type: EventType,
    pub idempotency_key: Option<String>,
    /// How many deliveries the event has (one per endpoint subscribed when it arrived).
    pub delivery_count: usize,
    pub payload_expunged: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An event item's sort key as a listing position: the event's id.
pub(super) fn event_position(sk: &str) -> String {
    sk.trim_start_matches("EVT#").to_owned()
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The first 10 characters of every ULID made in the millisecond of `t`.
pub(super) fn ulid_time_prefix(t: OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u64;
    (0..10).map(|i| CROCKFORD[((ms >> (5 * (9 - i))) & 0x1F) as usize] as char).collect()
}

/// The sort-key range of a tenant's events created between `since` and `until` (inclusive).
fn event_range(tenant: &TenantId, since: Option<OffsetDateTime>, until: Option<OffsetDateTime>) -> SkRange {
    let prefix = format!("EVT#{}_", EventId::PREFIX);
    SkRange {
        pk: tenant_pk(tenant),
        // Shorter strings sort first, and `~` after every base32 character.
        lo: match since {
            Some(t) => format!("{prefix}{}", ulid_time_prefix(t)),
            None => prefix.clone(),
        },
        hi: match until {
            Some(t) => format!("{prefix}{}~", ulid_time_prefix(t)),
            None => format!("{prefix}~"),
        },
    }
}

fn summary_from_item(item: &Item) -> Result<EventSummary, StoreError> {
    let id = get_s(item, "sk")?.trim_start_matches("EVT#");
    Ok(EventSummary {
        id: parse("sk", EventId::parse(id))?,
        event_type: parse("event_type", EventType::parse(get_s(item, "event_type")?))?,
        idempotency_key: opt_s(item, "idempotency_key").map(str::to_owned),
        delivery_count: get_n(item, "deliveries")?,
        payload_expunged: is_expunged(item),
        created_at: get_ts(item, "created_at")?,
    })
}

fn is_expunged(item: &Item) -> bool {
    item.get("payload_expunged").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// What a tenant's idempotency key already stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now belongs to this event.
    Claimed,
    /// An earlier request took the key for this event. `fingerprint` is that request's
    /// [`crate::domain::event_fingerprint`] (`None` for a key taken before it was recorded).
    Taken { event_id: EventId, state: ClaimState, age: Duration, fingerprint: Option<String> },
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
    /// Takes an idempotency key for an event (remembering what the event was, by its
    /// fingerprint), or says which event already has it.
    pub async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        key: &str,
        event: &EventId,
        fingerprint: &str,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = time::OffsetDateTime::now_utc();
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(tenant)))
            .item("sk", s(format!("IDEM#{key}")))
            .item("event_id", s(event.as_str()))
            .item("fingerprint", s(fingerprint))
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
            fingerprint: opt_s(&item, "fingerprint").map(str::to_owned),
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

    /// Writes the event. Its deliveries get items only once something happens to them
    /// (`store/deliveries.rs`): until then the event's endpoint list is their record, which
    /// saves a write per delivery. Rewriting the same event is harmless, which is how ingest
    /// resumes a request that stopped half-way.
    pub async fn put_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut item: Item = [
            ("pk".to_owned(), s(tenant_pk(&event.tenant_id))),
            ("sk".to_owned(), s(format!("EVT#{}", event.id))),
            ("event_type".to_owned(), s(event.event_type.as_str())),
            ("payload".to_owned(), s(event.payload.get())),
            ("deliveries".to_owned(), n(event.endpoint_ids.len())),
            ("created_at".to_owned(), ts(event.created_at)),
            ("expires_at".to_owned(), n(self.expires_at())),
        ]
        .into();
        if !event.endpoint_ids.is_empty() {
            let ids = event.endpoint_ids.iter().map(|id| id.to_string()).collect();
            item.insert("endpoint_ids".to_owned(), AttributeValue::Ss(ids));
        }
        if let Some(key) = &event.idempotency_key {
            item.insert("idempotency_key".to_owned(), s(key));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::aws("PutItem"))?;
        Ok(())
    }

    /// Deletes items by `(pk, sk)`, in batches of 25.
    pub(super) async fn batch_delete(&self, keys: Vec<(String, String)>) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = keys
            .into_iter()
            .map(|(pk, sk)| {
                DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for chunk in requests.chunks(BATCH_WRITE_LIMIT) {
            self.batch_write(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem of at most 25 requests, retrying what DynamoDB leaves unprocessed.
    async fn batch_write(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
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
        Err(StoreError::Unavailable {
            op: "BatchWriteItem",
            message: format!("{} items still unprocessed", pending.len()),
        })
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

impl Store {
    /// One Query of the items in `range`, at most `limit`, after the sort key `after` (in the
    /// direction read). A position outside the range starts from its beginning (if it lies
    /// before) or returns nothing (if after), so a cursor from another filter is harmless.
    pub(super) async fn query_range(
        &self,
        range: &SkRange,
        newest_first: bool,
        limit: usize,
        after: Option<&str>,
        configure: impl FnOnce(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<RawPage, StoreError> {
        let empty = || Ok(RawPage { items: Vec::new(), last_key: None });
        if range.lo > range.hi {
            return empty();
        }
        let start = match after {
            None => None,
            Some(sk) => {
                let (before, past) = if newest_first {
                    (sk > range.hi.as_str(), sk <= range.lo.as_str())
                } else {
                    (sk < range.lo.as_str(), sk >= range.hi.as_str())
                };
                if past {
                    return empty();
                }
                (!before).then(|| Item::from([("pk".to_owned(), s(range.pk.clone())), ("sk".to_owned(), s(sk))]))
            }
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(range.pk.clone()))
            .expression_attribute_values(":lo", s(range.lo.clone()))
            .expression_attribute_values(":hi", s(range.hi.clone()))
            .scan_index_forward(!newest_first)
            .limit(i32::try_from(limit.clamp(1, MAX_PAGE_SIZE)).unwrap_or(1))
            .set_exclusive_start_key(start)
            .consistent_read(true);
        let out = configure(query).send().await.map_err(StoreError::aws("Query"))?;
        let last_key = out.last_evaluated_key.and_then(|key| key.get("sk").and_then(|v| v.as_s().ok()).cloned());
        Ok(RawPage { items: out.items.unwrap_or_default(), last_key })
    }

    /// A page of the tenant's events, newest first, that match `filter`. A page can hold fewer
    /// than `limit` events and still have a next cursor when the filters skipped many events.
    pub async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<EventSummary>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let range = event_range(tenant, filter.since, filter.until);
        let mut data = Vec::new();
        let mut after: Option<String> = after.map(|id| format!("EVT#{id}"));
        for _ in 0..MAX_LIST_ROUNDS {
            let page = self
                .query_range(&range, true, limit, after.as_deref(), |query| {
                    let query = query
                        .projection_expression("sk, #type, #key, #count, #created, #expunged")
                        .expression_attribute_names("#type", "event_type")
                        .expression_attribute_names("#key", "idempotency_key")
                        .expression_attribute_names("#count", "deliveries")
                        .expression_attribute_names("#created", "created_at")
                        .expression_attribute_names("#expunged", "payload_expunged");
                    match &filter.event_type {
                        Some(t) => {
                            query.filter_expression("#type = :type").expression_attribute_values(":type", s(t.as_str()))
                        }
                        None => query,
                    }
                })
                .await?;
            let candidates = page.items.iter().map(summary_from_item).collect::<Result<Vec<_>, _>>()?;
            let keep = match filter.status {
                None => vec![true; candidates.len()],
                Some(status) => self.have_delivery_status(tenant, &candidates, status).await?,
            };
            let examined = candidates.len();
            for (i, (summary, keep)) in candidates.into_iter().zip(keep).enumerate() {
                if !keep {
                    continue;
                }
                let sk = format!("EVT#{}", summary.id);
                data.push(summary);
                if data.len() == limit {
                    // The rest of this Query's items were not looked at: go on after this one.
                    let next = if i + 1 == examined { page.last_key } else { Some(sk) };
                    return Ok(Page { items: data, next: next.as_deref().map(event_position) });
                }
            }
            match page.last_key {
                Some(key) => after = Some(key),
                None => return Ok(Page { items: data, next: None }),
            }
        }
        Ok(Page { items: data, next: after.as_deref().map(event_position) })
    }

    /// For each event, whether any of its deliveries is in `status`.
    async fn have_delivery_status(
        &self,
        tenant: &TenantId,
        events: &[EventSummary],
        status: DeliveryStatus,
    ) -> Result<Vec<bool>, StoreError> {
        let events: Vec<(EventId, usize)> = events.iter().map(|e| (e.id.clone(), e.delivery_count)).collect();
        futures::stream::iter(events)
            .map(|(id, count)| async move {
                if count == 0 {
                    return Ok(false);
                }
                let deliveries = self.list_deliveries(tenant, &id).await?;
                Ok(deliveries.iter().any(|d| d.status == status))
            })
            .buffered(STATUS_READ_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Replaces the event's payload with [`EXPUNGED_PAYLOAD`] and marks it expunged; the
    /// record and its deliveries stay. Returns false if there is no such event.
    pub async fn expunge_event_payload(&self, tenant: &TenantId, id: &EventId) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("EVT#{id}")))
            .update_expression("SET payload = :payload, payload_expunged = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":payload", s(EXPUNGED_PAYLOAD))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem")(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_enclose_the_ids_made_between_them() {
        let tenant = TenantId::generate();
        let now = OffsetDateTime::now_utc();
        let id = EventId::generate();
        let sk = format!("EVT#{id}");
        let range = event_range(&tenant, Some(now - Duration::from_millis(1)), Some(now + Duration::from_secs(1)));
        assert!(
            range.lo.as_str() <= sk.as_str() && sk.as_str() <= range.hi.as_str(),
            "{range:?} {sk}",
            range = (&range.lo, &range.hi)
        );
        let later = event_range(&tenant, Some(now + Duration::from_secs(1)), None);
        assert!(sk < later.lo);
        let earlier = event_range(&tenant, None, Some(now - Duration::from_secs(1)));
        assert!(sk > earlier.hi);
        let all = event_range(&tenant, None, None);
        assert!(all.lo.as_str() < sk.as_str() && sk.as_str() < all.hi.as_str());
        assert!("IDEM#x" > all.hi.as_str() && "EP#x" < all.lo.as_str());
    }

    #[test]
    fn ulid_time_prefix_matches_the_spec_example() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_469_918_176_385 * 1_000_000).unwrap();
        assert_eq!(ulid_time_prefix(t), "01ARYZ6S41");
    }
}
