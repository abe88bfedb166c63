use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use super::attrs::{Item, get_n, get_s, get_ts, n, opt_n, opt_s, opt_ts, parse, s, ts};
use super::keys::{ATTEMPT_SK_PREFIX, DELIVERY_SK_PREFIX, attempt_sk, delivery_sk};
use super::keys::{failure_event, failure_pk, failure_sk, failure_time};
use super::table::conditional;
use super::{FAILED_ATTEMPTS_INDEX, MAX_PAGE_SIZE, Store, StoreError, event_pk, now_ms};
use crate::domain::{Attempt, AttemptError, Delivery, DeliveryStatus, ErrorKind, Event};
use crate::ids::{EndpointId, EventId, TenantId};

/// Whether an attempt was written, or another copy of the same SQS message got there first.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    AlreadyRecorded,
}

fn delivery_from_item(event: &EventId, item: &Item) -> Result<Delivery, StoreError> {
    let endpoint = get_s(item, "sk")?.trim_start_matches(DELIVERY_SK_PREFIX);
    let status = get_s(item, "status")?;
    Ok(Delivery {
        event_id: event.clone(),
        endpoint_id: parse("sk", EndpointId::parse(endpoint))?,
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status `{status}`")))?,
        attempts: get_n(item, "attempts")?,
        last_attempt_at: opt_ts(item, "last_attempt_at")?,
        next_attempt_at: opt_ts(item, "next_attempt_at")?,
        last_error: opt_s(item, "last_error").map(str::to_owned),
        rate_slot_ms: opt_n(item, "rate_slot_ms")?,
        stored: true,
    })
}

/// A failed attempt's keys in the sparse `FailedAttempts` index; a success gets none, so it
/// costs the index nothing.
fn index_failure(item: &mut Item, tenant: &TenantId, event: &EventId, attempt: &Attempt) {
    if attempt.succeeded {
        return;
    }
    item.insert("fail_pk".to_owned(), s(failure_pk(tenant, &attempt.endpoint_id)));
    item.insert("fail_sk".to_owned(), s(failure_sk(now_ms(attempt.at), event, attempt.number)));
}

/// A page of an endpoint's failed attempts, oldest first, and the position to go on after
/// (the last one's index sort key: its time, event id and number; `None`: the window is done).
#[derive(Debug)]
pub struct FailurePage {
    pub attempts: Vec<(EventId, Attempt)>,
    pub next: Option<String>,
}

/// What an attempt moved its delivery to, stored with it.
fn add_outcome(item: &mut Item, update: &DeliveryUpdate) {
    item.insert("after_status".to_owned(), s(update.status.as_str()));
    if let Some(at) = update.next_attempt_at {
        item.insert("after_next_attempt_at".to_owned(), ts(at));
    }
    if let Some(err) = &update.last_error {
        item.insert("after_last_error".to_owned(), s(bounded_error(err)));
    }
}

fn outcome_of(item: &Item) -> Result<DeliveryUpdate, StoreError> {
    let status = get_s(item, "after_status")?;
    Ok(DeliveryUpdate {
        status: DeliveryStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status `{status}`")))?,
        next_attempt_at: opt_ts(item, "after_next_attempt_at")?,
        last_error: opt_s(item, "after_last_error").map(str::to_owned),
    })
}

fn round_entries(item: &Item) -> Result<Vec<(Attempt, DeliveryUpdate)>, StoreError> {
    let Some(entries) = item.get("attempts").and_then(|v| v.as_l().ok()) else { return Ok(Vec::new()) };
    entries
        .iter()
        .filter_map(|entry| entry.as_m().ok())
        .map(|entry| Ok((attempt_from_item(entry)?, outcome_of(entry)?)))
        .collect()
}

/// A delivery as its first-round attempt left it.
fn delivery_from_round(event: &EventId, attempt: &Attempt, update: &DeliveryUpdate) -> Delivery {
    Delivery {
        event_id: event.clone(),
        endpoint_id: attempt.endpoint_id.clone(),
        status: update.status,
        attempts: attempt.number,
        last_attempt_at: Some(attempt.at),
        next_attempt_at: update.next_attempt_at,
        last_error: update.last_error.clone(),
        rate_slot_ms: None,
        stored: false,
    }
}

fn attempt_from_item(item: &Item) -> Result<Attempt, StoreError> {
    let error = match opt_s(item, "error_kind") {
        None => None,
        Some(kind) => Some(AttemptError {
            kind: ErrorKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("error kind `{kind}`")))?,
            message: opt_s(item, "error_message").unwrap_or_default().to_owned(),
        }),
    };
    Ok(Attempt {
        endpoint_id: parse("endpoint_id", EndpointId::parse(get_s(item, "endpoint_id")?))?,
        number: get_n(item, "number")?,
        at: get_ts(item, "at")?,
        succeeded: item.get("succeeded").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        response_status: opt_n(item, "response_status")?,
        error,
        latency_ms: get_n(item, "latency_ms")?,
        response_body: opt_s(item, "response_body").unwrap_or_default().to_owned(),
        truncated: item.get("truncated").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        test: item.get("test").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        response_body_base64: item.get("response_body_base64").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        response_headers: item
            .get("response_headers")
            .and_then(|v| v.as_m().ok())
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone()))).collect())
            .unwrap_or_default(),
    })
}

/// The longest `last_error` kept on a delivery item. The item is read before every retry,
/// resend and recovery, and a strongly consistent read of up to 4 KB costs one read unit: the
/// error (which can quote a receiver's answer) is the only part that could grow past that.
pub const LAST_ERROR_MAX_BYTES: usize = 1024;

/// `error` cut to [`LAST_ERROR_MAX_BYTES`] on a character boundary.
fn bounded_error(error: &str) -> &str {
    let mut end = error.len().min(LAST_ERROR_MAX_BYTES);
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// What a recorded attempt leaves the delivery as.
#[derive(Clone, Debug)]
pub struct DeliveryUpdate {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

impl Store {
    /// The item an attempt is stored as (also for test sends).
    pub(super) fn attempt_item(&self, pk: String, attempt: &Attempt) -> Item {
        let mut item: Item = [
            ("pk".to_owned(), s(pk)),
            ("sk".to_owned(), s(attempt_sk(&attempt.endpoint_id, attempt.number))),
            ("endpoint_id".to_owned(), s(attempt.endpoint_id.as_str())),
            ("number".to_owned(), n(attempt.number)),
            ("at".to_owned(), ts(attempt.at)),
            ("succeeded".to_owned(), AttributeValue::Bool(attempt.succeeded)),
            ("latency_ms".to_owned(), n(attempt.latency_ms)),
            ("expires_at".to_owned(), n(self.expires_at())),
        ]
        .into();
        if let Some(status) = attempt.response_status {
            item.insert("response_status".to_owned(), n(status));
        }
        if let Some(err) = &attempt.error {
            item.insert("error_kind".to_owned(), s(err.kind.as_str()));
            item.insert("error_message".to_owned(), s(&err.message));
        }
        for (flag, set) in [
            ("truncated", attempt.truncated),
            ("test", attempt.test),
            ("response_body_base64", attempt.response_body_base64),
        ] {
            if set {
                item.insert(flag.to_owned(), AttributeValue::Bool(true));
            }
        }
        if !attempt.response_body.is_empty() {
            item.insert("response_body".to_owned(), s(&attempt.response_body));
        }
        if !attempt.response_headers.is_empty() {
            let headers = attempt.response_headers.iter().map(|(k, v)| (k.clone(), s(v))).collect();
            item.insert("response_headers".to_owned(), AttributeValue::M(headers));
        }
        item
    }

    /// A delivery's state. Ingest writes no delivery items: a delivery has one only once
    /// something happened to it after its first round (a retry's claim, a pause, a held rate
    /// slot). Without one, its state is what its event's first-round record says of it
    /// ([`Store::record_round`]), or `pending` with no attempts if its event lists the endpoint.
    pub async fn get_delivery(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
    ) -> Result<Option<Delivery>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(delivery_sk(endpoint)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        if let Some(item) = out.item {
            return delivery_from_item(event, &item).map(Some);
        }
        let (stored_event, round) = futures::try_join!(self.get_event(tenant, event), self.get_round(tenant, event))?;
        if !stored_event.is_some_and(|e| e.endpoint_ids.contains(endpoint)) {
            return Ok(None);
        }
        let recorded = round.iter().find(|(attempt, _)| &attempt.endpoint_id == endpoint);
        Ok(Some(match recorded {
            Some((attempt, update)) => delivery_from_round(event, attempt, update),
            None => Delivery::untouched(event.clone(), endpoint.clone()),
        }))
    }

    /// Every delivery of an event, by endpoint: the stored ones, and the others as its
    /// first-round record or its endpoint list says (see [`Store::get_delivery`]).
    pub async fn list_deliveries(&self, tenant: &TenantId, event: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let (items, stored_event, round) = futures::try_join!(
            self.query_prefix(event_pk(tenant, event), DELIVERY_SK_PREFIX),
            self.get_event(tenant, event),
            self.get_round(tenant, event)
        )?;
        let mut deliveries = Vec::new();
        for item in &items {
            deliveries.push(delivery_from_item(event, item)?);
        }
        for endpoint in stored_event.map(|e| e.endpoint_ids).unwrap_or_default() {
            if deliveries.iter().any(|d| d.endpoint_id == endpoint) {
                continue;
            }
            deliveries.push(match round.iter().find(|(attempt, _)| attempt.endpoint_id == endpoint) {
                Some((attempt, update)) => delivery_from_round(event, attempt, update),
                None => Delivery::untouched(event.clone(), endpoint),
            });
        }
        deliveries.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
        Ok(deliveries)
    }

    /// Every attempt for an event, by endpoint then number: the first round's record and the
    /// attempts after it.
    pub async fn list_attempts(&self, tenant: &TenantId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
        let (items, round) = futures::try_join!(
            self.query_prefix(event_pk(tenant, event), ATTEMPT_SK_PREFIX),
            self.get_round(tenant, event)
        )?;
        let mut attempts: Vec<Attempt> = round.into_iter().map(|(attempt, _)| attempt).collect();
        for item in &items {
            let attempt = attempt_from_item(item)?;
            // A retry's own record of the same number (a duplicate message's) wins.
            attempts.retain(|a| !(a.endpoint_id == attempt.endpoint_id && a.number == attempt.number));
            attempts.push(attempt);
        }
        attempts.sort_by(|a, b| (&a.endpoint_id, a.number).cmp(&(&b.endpoint_id, b.number)));
        Ok(attempts)
    }

    /// The event's first-round record: each attempt made in it and what it left the delivery as.
    pub async fn get_round(
        &self,
        tenant: &TenantId,
        event: &EventId,
    ) -> Result<Vec<(Attempt, DeliveryUpdate)>, StoreError> {
        match self.listing_entry(tenant, event, None).await? {
            Some(item) => round_entries(&item),
            None => Ok(Vec::new()),
        }
    }

    /// Records an event's first round, every attempt in it with what it moves its delivery to,
    /// in its listing entry: one conditional put for all of the event's deliveries and its place
    /// in the listing, where a retry costs a claim, an attempt and a move. False if a copy of the
    /// round's message recorded it first.
    pub async fn record_round(&self, event: &Event, round: &[(Attempt, DeliveryUpdate)]) -> Result<bool, StoreError> {
        let entries = round
            .iter()
            .map(|(attempt, update)| {
                let mut entry = self.attempt_item(String::new(), attempt);
                for key in ["pk", "sk", "expires_at"] {
                    entry.remove(key);
                }
                add_outcome(&mut entry, update);
                AttributeValue::M(entry)
            })
            .collect();
        let mut item = self.listing_item(event);
        item.insert("attempts".to_owned(), AttributeValue::L(entries));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // An entry that only lists the event (`Store::list_event`) holds no attempt to keep.
            .condition_expression("attribute_not_exists(pk) OR attribute_exists(#listed_only)")
            .expression_attribute_names("#listed_only", super::events::LISTED_ONLY)
            .send()
            .await;
        if conditional(result, "PutItem")?.is_none() {
            return Ok(false);
        }
        let failures = round.iter().filter(|(attempt, _)| !attempt.succeeded);
        futures::future::join_all(failures.map(|(attempt, update)| self.index_round_failure(event, attempt, update)))
            .await;
        Ok(true)
    }

    /// A failed first attempt also gets an attempt item of its own, the one the
    /// `FailedAttempts` index holds: one more put per failure, none for a success. The item is
    /// what [`Store::record_attempt`] would have written, so [`Store::list_attempts`] (which
    /// prefers it to the round's entry of the same number) reads the same attempt. A record of
    /// that number already there (written by the delivery continuing alone) is kept. A put
    /// that fails is only logged: the round is recorded, and the attempt is still in it, left
    /// out of the index alone.
    async fn index_round_failure(&self, event: &Event, attempt: &Attempt, update: &DeliveryUpdate) {
        if let Err(err) = self.put_attempt(&event.tenant_id, &event.id, attempt, update).await {
            tracing::warn!(error = %err, endpoint_id = %attempt.endpoint_id, "failed first attempt not indexed");
        }
    }

    /// Puts attempt `attempt.number`'s item, with what it moves the delivery to and, if it
    /// failed, the index's keys, unless one is there already (false).
    async fn put_attempt(
        &self,
        tenant: &TenantId,
        event: &EventId,
        attempt: &Attempt,
        update: &DeliveryUpdate,
    ) -> Result<bool, StoreError> {
        let mut item = self.attempt_item(event_pk(tenant, event), attempt);
        add_outcome(&mut item, update);
        index_failure(&mut item, tenant, event, attempt);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(conditional(put, "PutItem")?.is_some())
    }

    /// The endpoint's failed attempts made from `since` to `until` (inclusive, by attempt
    /// time), oldest first: one Query of the `FailedAttempts` index. Pass the page's `next` as
    /// `after` for the next page.
    pub async fn endpoint_failures(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: usize,
        after: Option<&str>,
    ) -> Result<FailurePage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        // `fail_sk` of a time t is `<t>#…`, so `<until + 1 ms>` is above every attempt of
        // `until` and below the next millisecond's.
        let mut lo = failure_time(now_ms(since));
        let hi = failure_time(now_ms(until).saturating_add(1));
        // The page before ended at `after`: the Query starts there (inclusive) and skips it.
        if let Some(after) = after.filter(|after| *after > lo.as_str()) {
            lo = after.to_owned();
        }
        // One more than a page says whether there is another, plus `after` itself.
        let asked = limit + 1 + usize::from(after.is_some());
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(FAILED_ATTEMPTS_INDEX)
            .key_condition_expression("fail_pk = :pk AND fail_sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(failure_pk(tenant, endpoint)))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .limit(i32::try_from(asked).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(StoreError::aws("Query"))?;
        let mut attempts = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = get_s(&item, "fail_sk")?;
            if Some(sk) == after {
                continue;
            }
            let event = failure_event(sk).ok_or_else(|| StoreError::Corrupt(format!("fail_sk `{sk}`")))?;
            let event = parse("fail_sk", EventId::parse(event)).map_err(|e| e.in_item(&item))?;
            attempts.push((sk.to_owned(), event, attempt_from_item(&item).map_err(|e| e.in_item(&item))?));
        }
        let next = if attempts.len() > limit {
            attempts.truncate(limit);
            attempts.last().map(|(sk, _, _)| sk.clone())
        } else {
            // A Query stops at 1 MB too: a short page then goes on where it stopped.
            out.last_evaluated_key.as_ref().and_then(|key| key.get("fail_sk")).and_then(|v| v.as_s().ok()).cloned()
        };
        Ok(FailurePage { attempts: attempts.into_iter().map(|(_, event, attempt)| (event, attempt)).collect(), next })
    }

    /// Marks a pending delivery paused (its endpoint is disabled). Returns false if it was not
    /// pending any more.
    pub async fn pause_delivery(&self, tenant: &TenantId, read: &Delivery) -> Result<bool, StoreError> {
        // The reason also marks the delivery as not fresh from ingest: once recovered, the
        // engine reads its event from the table, never from a cached copy (`delivery::cache`).
        let set = "#status = :paused, last_error = :reason";
        self.set_pending_delivery(tenant, read, set, Some("next_attempt_at"), |u| {
            u.expression_attribute_values(":paused", s(DeliveryStatus::Paused.as_str()))
                .expression_attribute_values(":reason", s("paused: the endpoint is disabled"))
        })
        .await
    }

    /// Fails a pending delivery without an attempt (its event can no longer be sent).
    pub async fn fail_delivery(&self, tenant: &TenantId, read: &Delivery, reason: &str) -> Result<bool, StoreError> {
        let set = "#status = :failed, last_error = :reason";
        self.set_pending_delivery(tenant, read, set, Some("next_attempt_at"), |u| {
            u.expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
                .expression_attribute_values(":reason", s(bounded_error(reason)))
        })
        .await
    }

    /// Claims attempt `number` of a pending delivery for `ttl`, right before it is sent. SQS
    /// may hand two copies of one message to two workers at once; both read the same attempt
    /// count, and without a claim both would send (the attempt log keeps only one record, so
    /// the receiver would get a request nobody accounts for). False if another copy holds the
    /// claim or the delivery moved on. A claim outlives a worker killed mid-send by at most
    /// `ttl`; the next attempt's number differs, so it needs no release. The first claim
    /// creates the delivery's item (ingest and the first round write none).
    ///
    /// Taking over an expired claim on the same number means the worker before stopped
    /// between sending and moving the delivery on: if its attempt was recorded, the delivery
    /// is moved on from that record here, nothing is sent again, and the answer is false.
    pub async fn claim_attempt(
        &self,
        tenant: &TenantId,
        read: &Delivery,
        number: u32,
        now_ms: i64,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let (event, endpoint, stored) = (&read.event_id, &read.endpoint_id, read.stored);
        let until_ms = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let held = "#status = :pending AND attempts = :prev \
                    AND (attribute_not_exists(sending) OR sending <> :n OR sending_until_ms < :now)";
        // A delivery read without an item of its own (`Delivery::stored`) gets one now.
        let condition = if stored { held.to_owned() } else { format!("attribute_not_exists(pk) OR ({held})") };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(delivery_sk(endpoint)))
            .update_expression(
                "SET sending = :n, sending_until_ms = :until, #status = if_not_exists(#status, :pending), \
                 attempts = if_not_exists(attempts, :prev), expires_at = if_not_exists(expires_at, :expires)",
            )
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":prev", n(number.saturating_sub(1)))
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":expires", n(self.expires_at()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(out) = conditional(result, "UpdateItem")? else { return Ok(false) };
        let old = out.attributes.unwrap_or_default();
        let taken_over = opt_n::<u32>(&old, "sending")? == Some(number);
        if taken_over && self.move_on_from_record(tenant, event, endpoint, number).await? {
            return Ok(false);
        }
        Ok(true)
    }

    /// Moves the delivery on as recorded attempt `number` says, if that attempt is recorded.
    async fn move_on_from_record(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        number: u32,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(attempt_sk(endpoint, number)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        let Some(item) = out.item else { return Ok(false) };
        let update = outcome_of(&item)?;
        if self.move_delivery(tenant, event, endpoint, number, get_ts(&item, "at")?, update).await? {
            tracing::warn!(attempt = number, "attempt was recorded but the delivery not moved on; moved it on");
        }
        Ok(true)
    }

    /// Remembers the rate-limiter slot a deferred delivery holds, so it does not queue again
    /// when it comes back.
    pub async fn hold_rate_slot(&self, tenant: &TenantId, read: &Delivery, slot_ms: i64) -> Result<bool, StoreError> {
        let set = "rate_slot_ms = :slot, #status = if_not_exists(#status, :pending)";
        self.set_pending_delivery(tenant, read, set, None, |u| u.expression_attribute_values(":slot", n(slot_ms))).await
    }

    async fn set_pending_delivery(
        &self,
        tenant: &TenantId,
        read: &Delivery,
        set: &str,
        remove: Option<&str>,
        values: impl FnOnce(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, &read.event_id)))
            .key("sk", s(delivery_sk(&read.endpoint_id)))
            // A delivery without an item of its own gets one now, with the attempts it was read
            // with (its first round's), under the same retention as the rest of the event.
            .update_expression(format!(
                "SET {set}, attempts = if_not_exists(attempts, :attempts), expires_at = if_not_exists(expires_at, :expires){}",
                remove.map(|r| format!(" REMOVE {r}")).unwrap_or_default()
            ))
            .condition_expression("attribute_not_exists(pk) OR #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":attempts", n(read.attempts))
            .expression_attribute_values(":expires", n(self.expires_at()));
        Ok(conditional(values(request).send().await, "UpdateItem")?.is_some())
    }

    /// Writes attempt `attempt.number` (unless it is already written: a second copy of the
    /// same SQS message cannot record twice) and then moves the delivery on. Two writes, not a
    /// transaction (which costs twice the units): the attempt item carries what it moves the
    /// delivery to, and [`Store::claim_attempt`] finishes the move if a worker stops between.
    pub async fn record_attempt(
        &self,
        tenant: &TenantId,
        event: &EventId,
        attempt: &Attempt,
        update: DeliveryUpdate,
    ) -> Result<RecordOutcome, StoreError> {
        if !self.put_attempt(tenant, event, attempt, &update).await? {
            // Whoever wrote it may have stopped before moving the delivery on.
            self.move_on_from_record(tenant, event, &attempt.endpoint_id, attempt.number).await?;
            return Ok(RecordOutcome::AlreadyRecorded);
        }
        self.move_delivery(tenant, event, &attempt.endpoint_id, attempt.number, attempt.at, update).await?;
        Ok(RecordOutcome::Recorded)
    }

    /// Moves a pending delivery with `number - 1` attempts to `update` after attempt `number`.
    /// False if it had already moved (the same record applied twice changes nothing).
    async fn move_delivery(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        number: u32,
        at: OffsetDateTime,
        update: DeliveryUpdate,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["attempts = :n", "#status = :status", "last_attempt_at = :at"];
        let mut remove = vec!["rate_slot_ms"];
        let mut builder = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(delivery_sk(endpoint)))
            .condition_expression("attempts = :prev AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":prev", n(number.saturating_sub(1)))
            .expression_attribute_values(":status", s(update.status.as_str()))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":at", ts(at));
        match update.next_attempt_at {
            Some(next) => {
                set.push("next_attempt_at = :next");
                builder = builder.expression_attribute_values(":next", ts(next));
            }
            None => remove.push("next_attempt_at"),
        }
        match update.last_error {
            Some(err) => {
                set.push("last_error = :err");
                builder = builder.expression_attribute_values(":err", s(bounded_error(&err)));
            }
            None => remove.push("last_error"),
        }
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        Ok(conditional(builder.update_expression(expression).send().await, "UpdateItem")?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_is_cut_on_a_character_boundary_so_the_delivery_stays_one_read_unit() {
        assert_eq!(bounded_error("HTTP 500"), "HTTP 500");
        let long = "é".repeat(LAST_ERROR_MAX_BYTES);
        let cut = bounded_error(&long);
        assert_eq!(cut.len(), LAST_ERROR_MAX_BYTES, "{} bytes", cut.len());
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("x{long}");
        assert_eq!(bounded_error(&odd).len(), LAST_ERROR_MAX_BYTES - 1, "never half a character");
    }
}
