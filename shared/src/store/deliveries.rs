use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::attrs::{Item, get_n, get_s, get_ts, n, opt_n, opt_s, opt_ts, parse, s, ts};
use super::{Store, StoreError, event_pk};
use crate::domain::{Attempt, AttemptError, Delivery, DeliveryStatus, ErrorKind};
use crate::ids::{EndpointId, EventId, TenantId};

/// Whether an attempt was written, or another copy of the same SQS message got there first.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    Recorded,
    AlreadyRecorded,
}

fn attempt_sk(endpoint: &EndpointId, number: u32) -> String {
    // Zero-padded so attempts sort by number.
    format!("ATT#{endpoint}#{number:06}")
}

fn delivery_from_item(event: &EventId, item: &Item) -> Result<Delivery, StoreError> {
    let endpoint = get_s(item, "sk")?.trim_start_matches("DLV#");
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
    })
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
#[derive(Debug)]
pub struct DeliveryUpdate {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

impl Store {
    /// The item an attempt is stored as (also for test sends).
    pub(super) fn attempt_item(&self, pk: String, attempt: &Attempt) -> Item {
        use aws_sdk_dynamodb::types::AttributeValue;
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
            .key("sk", s(format!("DLV#{endpoint}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.map(|item| delivery_from_item(event, &item)).transpose()
    }

    pub async fn list_deliveries(&self, tenant: &TenantId, event: &EventId) -> Result<Vec<Delivery>, StoreError> {
        let items = self.query_prefix(event_pk(tenant, event), "DLV#").await?;
        items.iter().map(|item| delivery_from_item(event, item)).collect()
    }

    /// Every attempt for an event, by endpoint then number.
    pub async fn list_attempts(&self, tenant: &TenantId, event: &EventId) -> Result<Vec<Attempt>, StoreError> {
        let items = self.query_prefix(event_pk(tenant, event), "ATT#").await?;
        items.iter().map(attempt_from_item).collect()
    }

    /// Marks a pending delivery paused (its endpoint is disabled). Returns false if it was not
    /// pending any more.
    pub async fn pause_delivery(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
    ) -> Result<bool, StoreError> {
        // The reason also marks the delivery as not fresh from ingest: once recovered, the
        // engine reads its event from the table, never from a cached copy (`delivery::cache`).
        let expression = "SET #status = :paused, last_error = :reason REMOVE next_attempt_at";
        self.set_pending_delivery(tenant, event, endpoint, expression, |u| {
            u.expression_attribute_values(":paused", s(DeliveryStatus::Paused.as_str()))
                .expression_attribute_values(":reason", s("paused: the endpoint is disabled"))
        })
        .await
    }

    /// Fails a pending delivery without an attempt (its event can no longer be sent).
    pub async fn fail_delivery(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let expression = "SET #status = :failed, last_error = :reason REMOVE next_attempt_at";
        self.set_pending_delivery(tenant, event, endpoint, expression, |u| {
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
    /// `ttl`; the next attempt's number differs, so it needs no release.
    pub async fn claim_attempt(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        number: u32,
        now_ms: i64,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let until_ms = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(format!("DLV#{endpoint}")))
            .update_expression("SET sending = :n, sending_until_ms = :until")
            .condition_expression(
                "#status = :pending AND attempts = :prev \
                 AND (attribute_not_exists(sending) OR sending <> :n OR sending_until_ms < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":prev", n(number.saturating_sub(1)))
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem")(err)),
        }
    }

    /// Remembers the rate-limiter slot a deferred delivery holds, so it does not queue again
    /// when it comes back.
    pub async fn hold_rate_slot(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        slot_ms: i64,
    ) -> Result<bool, StoreError> {
        self.set_pending_delivery(tenant, event, endpoint, "SET rate_slot_ms = :slot", |u| {
            u.expression_attribute_values(":slot", n(slot_ms))
        })
        .await
    }

    async fn set_pending_delivery(
        &self,
        tenant: &TenantId,
        event: &EventId,
        endpoint: &EndpointId,
        expression: &str,
        values: impl FnOnce(
            aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, event)))
            .key("sk", s(format!("DLV#{endpoint}")))
            .update_expression(expression)
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()));
        match values(request).send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(StoreError::aws("UpdateItem")(err)),
        }
    }

    /// Writes attempt `attempt.number` and moves the delivery on, in one transaction that only
    /// succeeds if no attempt with that number exists and the delivery has exactly the attempts
    /// before it. A second copy of the same SQS message therefore cannot record twice.
    pub async fn record_attempt(
        &self,
        tenant: &TenantId,
        event: &EventId,
        attempt: &Attempt,
        update: DeliveryUpdate,
    ) -> Result<RecordOutcome, StoreError> {
        let pk = event_pk(tenant, event);
        let item = self.attempt_item(pk.clone(), attempt);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;

        let mut set = vec!["attempts = :n", "#status = :status", "last_attempt_at = :at"];
        let mut remove = Vec::new();
        let mut builder = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(format!("DLV#{}", attempt.endpoint_id)))
            .condition_expression("attempts = :prev AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":n", n(attempt.number))
            .expression_attribute_values(":prev", n(attempt.number.saturating_sub(1)))
            .expression_attribute_values(":status", s(update.status.as_str()))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":at", ts(attempt.at));
        match update.next_attempt_at {
            Some(at) => {
                set.push("next_attempt_at = :next");
                builder = builder.expression_attribute_values(":next", ts(at));
            }
            None => remove.push("next_attempt_at"),
        }
        remove.push("rate_slot_ms");
        match update.last_error {
            Some(err) => {
                set.push("last_error = :err");
                builder = builder.expression_attribute_values(":err", s(bounded_error(&err)));
            }
            None => remove.push("last_error"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = builder.update_expression(expression).build().map_err(|e| StoreError::Corrupt(e.to_string()))?;

        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(RecordOutcome::Recorded),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                Ok(RecordOutcome::AlreadyRecorded)
            }
            Err(err) => Err(StoreError::aws("TransactWriteItems")(err)),
        }
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
