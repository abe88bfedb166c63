use std::time::Duration;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::attrs::{Item, get_n, get_s, get_ts, n, opt_s, parse, s, ts};
use super::keys::{EVENT_SK, LISTING_SK_PREFIX, event_listing_pk, event_pk, listing_pks, listing_sk};
use super::table::conditional;
use super::{Store, StoreError};
use crate::domain::{DeliveryStatus, Event, EventType};
use crate::ids::{EndpointId, EventId, TenantId};

/// Marks a listing entry written without a round, which a round's record may replace.
pub(super) const LISTED_ONLY: &str = "listed_only";

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

/// A listing entry's sort key as a listing position: the event's id.
pub(super) fn event_position(sk: &str) -> String {
    sk.trim_start_matches(LISTING_SK_PREFIX).to_owned()
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The first 10 characters of every ULID made in the millisecond of `t`.
pub(super) fn ulid_time_prefix(t: OffsetDateTime) -> String {
    let ms = (t.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u64;
    (0..10).map(|i| CROCKFORD[((ms >> (5 * (9 - i))) & 0x1F) as usize] as char).collect()
}

/// The sort-key bounds (inclusive) of listing entries of events created between `since` and
/// `until`, in every listing partition.
pub(super) fn event_bounds(since: Option<OffsetDateTime>, until: Option<OffsetDateTime>) -> (String, String) {
    let prefix = format!("{LISTING_SK_PREFIX}{}_", EventId::PREFIX);
    // Shorter strings sort first, and `~` after every base32 character.
    let lo = match since {
        Some(t) => format!("{prefix}{}", ulid_time_prefix(t)),
        None => prefix.clone(),
    };
    let hi = match until {
        Some(t) => format!("{prefix}{}~", ulid_time_prefix(t)),
        None => format!("{prefix}~"),
    };
    (lo, hi)
}

fn summary_from_item(item: &Item) -> Result<EventSummary, StoreError> {
    let id = event_position(get_s(item, "sk")?);
    let id = id.as_str();
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

/// What writing a new event found.
#[derive(Debug)]
pub enum Creation {
    /// Written: the event is new, and if it has an idempotency key, the key now names it.
    Created,
    /// An earlier request published an event under the same idempotency key: that event as
    /// written, how far its request got, how long ago it took the key, and its
    /// [`crate::domain::event_fingerprint`].
    Taken { event: Event, state: ClaimState, age: Duration, fingerprint: Option<String> },
}

/// How far the request that took an idempotency key got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimState {
    /// Still running, finished (a success writes nothing more: its first round's record says
    /// the round was queued), or died without saying so.
    Accepted,
    /// Failed and answered with an error: the next request with the key takes over at once.
    Interrupted,
    /// A request that took over from an interrupted one queued every delivery.
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
    /// Writes a new event: one item, in the event's own partition, that holds its payload, its
    /// subscribed endpoints (its deliveries, pending until touched: `store/deliveries.rs`) and,
    /// with `claim` (its fingerprint), the idempotency key's claim. A keyed event's id carries
    /// the key's digest ([`EventId::keyed`]), so a claiming put is conditional and a repeat of
    /// the key finds the first event instead. An event without endpoints is listed at once (no round will list it).
    pub async fn create_event(&self, event: &Event, claim: Option<&str>) -> Result<Creation, StoreError> {
        let mut item = self.event_item(event);
        if let Some(fingerprint) = claim {
            item.insert("state".to_owned(), s(ClaimState::Accepted.as_str()));
            item.insert("fingerprint".to_owned(), s(fingerprint));
        }
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let put = if claim.is_some() { put.condition_expression("attribute_not_exists(pk)") } else { put };
        if conditional(put.send().await, "PutItem")?.is_none() {
            return self.taken(&event.tenant_id, &event.id).await;
        }
        if event.endpoint_ids.is_empty() {
            self.list_event(event).await?;
        }
        Ok(Creation::Created)
    }

    /// Writes an event that may be written already (a synthetic test-send event, an
    /// operational one): without a claim, the same item again is harmless.
    pub async fn put_event(&self, event: &Event) -> Result<(), StoreError> {
        self.create_event(event, None).await.map(|_| ())
    }

    fn event_item(&self, event: &Event) -> Item {
        let mut item: Item = [
            ("pk".to_owned(), s(event_pk(&event.tenant_id, &event.id))),
            ("sk".to_owned(), s(EVENT_SK)),
            ("id".to_owned(), s(event.id.as_str())),
            ("expires_at".to_owned(), n(self.expires_at())),
        ]
        .into();
        item.extend(summary_attributes(event));
        item.insert("payload".to_owned(), s(event.payload.get()));
        item
    }

    /// The event an earlier request wrote under the key `event`'s id carries the digest of.
    async fn taken(&self, tenant: &TenantId, event: &EventId) -> Result<Creation, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(EVENT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let item = out.item.ok_or_else(|| StoreError::Corrupt("a claimed event vanished".to_owned()))?;
        let event = event_from_item(tenant, &item)?;
        let age = OffsetDateTime::now_utc() - event.created_at;
        let state = match opt_s(&item, "state") {
            Some(state) => {
                ClaimState::parse(state).ok_or_else(|| StoreError::Corrupt(format!("idempotency state `{state}`")))?
            }
            None => ClaimState::Enqueued,
        };
        Ok(Creation::Taken {
            event,
            state,
            age: age.try_into().unwrap_or_default(),
            fingerprint: opt_s(&item, "fingerprint").map(str::to_owned),
        })
    }

    /// Records how far the request that published a keyed event got (a failure, or a
    /// takeover's success); a first request that succeeds writes nothing more.
    pub async fn mark_event(&self, tenant: &TenantId, event: &EventId, state: ClaimState) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(EVENT_SK))
            .update_expression("SET #state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .send()
            .await
            .map_err(StoreError::aws("UpdateItem"))?;
        Ok(())
    }

    /// Lists an event whose first round will not (no endpoints, a takeover, a round handed
    /// over again): its listing entry without attempts. An entry already there stays; a first
    /// round recorded later replaces this one ([`Store::record_round`]).
    pub async fn list_event(&self, event: &Event) -> Result<(), StoreError> {
        let mut item = self.listing_item(event);
        item.insert("attempts".to_owned(), AttributeValue::L(Vec::new()));
        // A first round that comes after all may still record itself over this entry.
        item.insert(LISTED_ONLY.to_owned(), AttributeValue::Bool(true));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional(put, "PutItem")?;
        Ok(())
    }

    /// Whether the event is listed: its first round was recorded (so it was queued), or a
    /// takeover listed it.
    pub async fn is_listed(&self, tenant: &TenantId, event: &EventId) -> Result<bool, StoreError> {
        Ok(self.listing_entry(tenant, event, Some("pk")).await?.is_some())
    }

    /// An event's listing entry (its first round's record), read strongly consistent; only
    /// `projection`'s attributes if given.
    pub(super) async fn listing_entry(
        &self,
        tenant: &TenantId,
        event: &EventId,
        projection: Option<&str>,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_listing_pk(tenant, event)))
            .key("sk", s(listing_sk(event)))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        Ok(out.item)
    }

    /// An event's listing entry, without its round: what a listing shows of the event.
    pub(super) fn listing_item(&self, event: &Event) -> Item {
        let mut item: Item = [
            ("pk".to_owned(), s(event_listing_pk(&event.tenant_id, &event.id))),
            ("sk".to_owned(), s(listing_sk(&event.id))),
            ("expires_at".to_owned(), n(self.expires_at())),
        ]
        .into();
        item.extend(summary_attributes(event));
        item
    }

    pub async fn get_event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, id)))
            .key("sk", s(EVENT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let Some(item) = out.item else { return Ok(None) };
        let event = event_from_item(tenant, &item)?;
        // A keyed event's partition is the key's: another time part names no event.
        Ok((&event.id == id).then_some(event))
    }
}

/// What the event item and its listing entry both say of an event.
fn summary_attributes(event: &Event) -> Item {
    let mut item: Item = [
        ("event_type".to_owned(), s(event.event_type.as_str())),
        ("deliveries".to_owned(), n(event.endpoint_ids.len())),
        ("created_at".to_owned(), ts(event.created_at)),
    ]
    .into();
    if !event.endpoint_ids.is_empty() {
        let ids = event.endpoint_ids.iter().map(|id| id.to_string()).collect();
        item.insert("endpoint_ids".to_owned(), AttributeValue::Ss(ids));
    }
    if let Some(key) = &event.idempotency_key {
        item.insert("idempotency_key".to_owned(), s(key));
    }
    item
}

fn event_from_item(tenant: &TenantId, item: &Item) -> Result<Event, StoreError> {
    let id = parse("id", EventId::parse(get_s(item, "id")?))?;
    let mut endpoint_ids = match item.get("endpoint_ids").and_then(|v| v.as_ss().ok()) {
        Some(ids) => {
            ids.iter().map(|id| parse("endpoint_ids", EndpointId::parse(id))).collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    endpoint_ids.sort();
    let deliveries: usize = get_n(item, "deliveries")?;
    if deliveries != endpoint_ids.len() {
        return Err(StoreError::Corrupt(format!("event {id} lists {} of {deliveries} endpoints", endpoint_ids.len())));
    }
    Ok(Event {
        id,
        tenant_id: tenant.clone(),
        event_type: parse("event_type", EventType::parse(get_s(item, "event_type")?))?,
        payload: parse("payload", RawValue::from_string(get_s(item, "payload")?.to_owned()))?,
        idempotency_key: opt_s(item, "idempotency_key").map(str::to_owned),
        endpoint_ids,
        created_at: get_ts(item, "created_at")?,
    })
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

    /// One Query in each of `pks` for sort keys in `lo..=hi` after `after` (exclusive, in the
    /// direction read), merged in order. Only what every partition has been read up to is
    /// returned: `last_key` is where the least advanced one stopped (go on from there), `None`
    /// once all are read to the end.
    pub(super) async fn query_shards(
        &self,
        pks: Vec<String>,
        (lo, hi): (&str, &str),
        newest_first: bool,
        limit: usize,
        after: Option<&str>,
        configure: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<RawPage, StoreError> {
        // The position narrows the (inclusive) range; its own entry is dropped below.
        let (lo, hi) = match after {
            Some(a) if newest_first => (lo, a.min(hi)),
            Some(a) => (a.max(lo), hi),
            None => (lo, hi),
        };
        if lo > hi {
            return Ok(RawPage { items: Vec::new(), last_key: None });
        }
        let queries = pks.into_iter().map(|pk| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":lo", s(lo))
                .expression_attribute_values(":hi", s(hi))
                .scan_index_forward(!newest_first)
                .limit(i32::try_from(limit.clamp(1, MAX_PAGE_SIZE) + 1).unwrap_or(1))
                .consistent_read(true);
            configure(query).send()
        });
        let outs = futures::future::try_join_all(queries).await.map_err(StoreError::aws("Query"))?;
        let mut boundary: Option<String> = None;
        let mut items = Vec::new();
        for out in outs {
            if let Some(last) = out.last_evaluated_key.and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned()) {
                boundary = Some(match boundary {
                    Some(b) if newest_first => b.max(last),
                    Some(b) => b.min(last),
                    None => last,
                });
            }
            items.extend(out.items.unwrap_or_default());
        }
        fn sk(item: &Item) -> &str {
            opt_s(item, "sk").unwrap_or_default()
        }
        items.retain(|item| {
            let key = sk(item);
            let seen = Some(key) == after;
            let read_by_all = boundary.as_deref().is_none_or(|b| if newest_first { key >= b } else { key <= b });
            !seen && read_by_all
        });
        items.sort_by(|a, b| sk(a).cmp(sk(b)));
        if newest_first {
            items.reverse();
        }
        Ok(RawPage { items, last_key: boundary })
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
        let (lo, hi) = event_bounds(filter.since, filter.until);
        let mut data = Vec::new();
        let mut after: Option<String> = after.map(|id| format!("{LISTING_SK_PREFIX}{id}"));
        for _ in 0..MAX_LIST_ROUNDS {
            let page = self
                .query_shards(listing_pks(tenant).collect(), (&lo, &hi), true, limit, after.as_deref(), |query| {
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
                let sk = listing_sk(&summary.id);
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

    /// Replaces the event's payload with [`EXPUNGED_PAYLOAD`] and marks it expunged, in its
    /// item and its listing entry (if it is listed yet); the record and its deliveries stay.
    /// Returns false if there is no such event.
    pub async fn expunge_event_payload(&self, tenant: &TenantId, id: &EventId) -> Result<bool, StoreError> {
        if self.get_event(tenant, id).await?.is_none() {
            return Ok(false);
        }
        let event = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, id)))
            .key("sk", s(EVENT_SK))
            .update_expression("SET payload = :payload, payload_expunged = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":payload", s(EXPUNGED_PAYLOAD))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        if conditional(event, "UpdateItem")?.is_none() {
            return Ok(false);
        }
        let entry = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_listing_pk(tenant, id)))
            .key("sk", s(listing_sk(id)))
            .update_expression("SET payload_expunged = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        conditional(entry, "UpdateItem")?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_enclose_the_ids_made_between_them() {
        let now = OffsetDateTime::now_utc();
        let sk = listing_sk(&EventId::generate());
        let (lo, hi) = event_bounds(Some(now - Duration::from_millis(1)), Some(now + Duration::from_secs(1)));
        assert!(lo.as_str() <= sk.as_str() && sk.as_str() <= hi.as_str(), "{lo} {sk} {hi}");
        let (later, _) = event_bounds(Some(now + Duration::from_secs(1)), None);
        assert!(sk < later);
        let (_, earlier) = event_bounds(None, Some(now - Duration::from_secs(1)));
        assert!(sk > earlier);
        let (lo, hi) = event_bounds(None, None);
        assert!(lo.as_str() < sk.as_str() && sk.as_str() < hi.as_str());
    }

    #[test]
    fn ulid_time_prefix_matches_the_spec_example() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_469_918_176_385 * 1_000_000).unwrap();
        assert_eq!(ulid_time_prefix(t), "01ARYZ6S41");
    }
}
