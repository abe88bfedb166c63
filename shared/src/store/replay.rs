//! What replays need from the table: re-opening a finished or paused delivery (resend and
//! recovery), re-enabling a disabled endpoint, finding the events that went to an endpoint in
//! a time window, and recording a test send's attempt.
//!
//! A re-opened delivery is `pending` again with its attempts kept, so the deliver function's
//! next attempt continues the numbering and the endpoint's retry schedule picks up where it
//! stopped. Re-opening is conditioned on the status and attempt count the caller read, so two
//! replays of one delivery cannot both queue it.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::attrs::{Item, get_s, n, parse, s, ts};
use super::{Store, StoreError, conditional, event_pk, tenant_pk};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::{EndpointId, EventId, TenantId};

/// Event ids from one Query of a window, and the event id to go on after (`None`: the window
/// is done).
#[derive(Debug)]
pub struct EventIdPage {
    pub ids: Vec<EventId>,
    pub next: Option<String>,
}

use super::events::ulid_time_prefix;

/// The sort keys of a tenant's events made from `since` to `until`, inclusive.
fn event_bounds(since: OffsetDateTime, until: OffsetDateTime) -> (String, String) {
    let prefix = format!("EVT#{}_", EventId::PREFIX);
    // `~` sorts after every base32 character.
    (format!("{prefix}{}", ulid_time_prefix(since)), format!("{prefix}{}~", ulid_time_prefix(until)))
}

impl Store {
    /// Makes a finished or paused delivery pending again, keeping its attempts, unless it has
    /// changed since `read` (another replay re-opened it, or the deliver function moved it).
    /// `not_before` holds the next attempt back until then (`next_attempt_at`); without it the
    /// delivery is due at once. Returns false if the delivery was not as read.
    pub async fn reopen_delivery(
        &self,
        tenant: &TenantId,
        read: &Delivery,
        not_before: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError> {
        self.reopen(tenant, read, not_before, None).await
    }

    /// [`Store::reopen_delivery`] for a recovery, which also stamps the delivery
    /// `recovered_at`: a delivery a recovery re-opened less than `repeat_window` ago is left
    /// alone (false), so repeating a recovery does not send the same deliveries again.
    pub async fn reopen_for_recovery(
        &self,
        tenant: &TenantId,
        read: &Delivery,
        not_before: Option<OffsetDateTime>,
        repeat_window: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.reopen(tenant, read, not_before, Some(repeat_window)).await
    }

    async fn reopen(
        &self,
        tenant: &TenantId,
        read: &Delivery,
        not_before: Option<OffsetDateTime>,
        recovery_window: Option<std::time::Duration>,
    ) -> Result<bool, StoreError> {
        // A delivery read without an item of its own (left as its first round recorded it)
        // gets one now.
        let mut condition = if read.stored {
            "#status = :from AND attempts = :attempts".to_owned()
        } else {
            "attribute_not_exists(pk)".to_owned()
        };
        let mut set = vec!["#status = :pending"];
        if !read.stored {
            set.extend(["attempts = :attempts", "expires_at = :expires"]);
        }
        let mut remove = vec!["rate_slot_ms"];
        match not_before {
            Some(_) => set.push("next_attempt_at = :at"),
            None => remove.push("next_attempt_at"),
        }
        if recovery_window.is_some() {
            condition.push_str(" AND (attribute_not_exists(recovered_at) OR recovered_at < :cutoff)");
            set.push("recovered_at = :now");
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, &read.event_id)))
            .key("sk", s(format!("DLV#{}", read.endpoint_id)))
            .update_expression(format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")))
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":attempts", n(read.attempts))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()));
        if let Some(at) = not_before {
            request = request.expression_attribute_values(":at", ts(at));
        }
        request = if read.stored {
            request.expression_attribute_values(":from", s(read.status.as_str()))
        } else {
            request.expression_attribute_values(":expires", n(self.expires_at()))
        };
        if let Some(window) = recovery_window {
            let now = OffsetDateTime::now_utc();
            let cutoff = now - window;
            request = request
                .expression_attribute_values(":now", n(now.unix_timestamp()))
                .expression_attribute_values(":cutoff", n(cutoff.unix_timestamp()));
        }
        Ok(conditional(request.send().await, "UpdateItem")?.is_some())
    }

    /// Undoes [`Store::reopen_delivery`] when the delivery's message could not be queued, so a
    /// later replay finds it as it was. Nothing changes if an attempt was made since.
    pub async fn restore_delivery(&self, tenant: &TenantId, read: &Delivery) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(event_pk(tenant, &read.event_id)))
            .key("sk", s(format!("DLV#{}", read.endpoint_id)))
            // Not queued, so not recovered: a later recovery may take it at once.
            .update_expression("SET #status = :from REMOVE next_attempt_at, recovered_at")
            .condition_expression("#status = :pending AND attempts = :attempts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", s(read.status.as_str()))
            .expression_attribute_values(":attempts", n(read.attempts))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .send()
            .await;
        Ok(conditional(result, "UpdateItem")?.is_some())
    }

    /// Re-enables a disabled endpoint and forgets why it was disabled. Returns false if it was
    /// not disabled (or does not exist). Its health is reset separately
    /// (`HealthChange::Recovered`).
    pub async fn reactivate_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool, StoreError> {
        let _forget = self.forget_endpoint_list(tenant);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("EP#{id}")))
            .update_expression("SET #status = :active REMOVE disabled_reason")
            .condition_expression("#status = :disabled")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":disabled", s("disabled"))
            .send()
            .await;
        Ok(conditional(result, "UpdateItem")?.is_some())
    }

    /// The ids of the tenant's events made from `since` to `until` (inclusive, by the time in
    /// their ids) that have a delivery to `endpoint`, oldest first, one Query at a time:
    /// pass the page's `next` (an event id, never a storage key) as `after` for the next one. Events whose payload was expunged
    /// are left out (there is nothing left to send).
    pub async fn endpoint_event_ids(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        after: Option<&str>,
    ) -> Result<EventIdPage, StoreError> {
        let (lo, hi) = event_bounds(since, until);
        if lo > hi {
            return Ok(EventIdPage { ids: Vec::new(), next: None });
        }
        let pk = tenant_pk(tenant);
        // A page's last key lies inside the window; anything else starts from its beginning.
        let after = after.map(|id| format!("EVT#{id}"));
        let start = after
            .as_deref()
            .filter(|sk| lo.as_str() <= *sk && *sk <= hi.as_str())
            .map(|sk| Item::from([("pk".to_owned(), s(pk.clone())), ("sk".to_owned(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .filter_expression("contains(#endpoints, :endpoint) AND attribute_not_exists(#expunged)")
            .projection_expression("sk")
            .expression_attribute_names("#endpoints", "endpoint_ids")
            .expression_attribute_names("#expunged", "payload_expunged")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .expression_attribute_values(":endpoint", s(endpoint.as_str()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("Query"))?;
        let ids = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let id = get_s(item, "sk")?.trim_start_matches("EVT#");
                parse("sk", EventId::parse(id))
            })
            .collect::<Result<_, _>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|key| key.get("sk").and_then(|v| v.as_s().ok()).map(|sk| super::events::event_position(sk)));
        Ok(EventIdPage { ids, next })
    }

    /// Records a test send's attempt under its own (synthetic) event, which has no delivery:
    /// the attempt stands alone. It has the attributes `record_attempt` writes, so the event's
    /// attempt listing shows it like any other.
    pub async fn record_test_attempt(
        &self,
        tenant: &TenantId,
        event: &EventId,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        let mut item = self.attempt_item(event_pk(tenant, event), attempt);
        item.insert("test".to_owned(), AttributeValue::Bool(true));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(StoreError::aws("PutItem"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bounds_enclose_the_ids_made_between_them() {
        let now = OffsetDateTime::now_utc();
        let sk = format!("EVT#{}", EventId::generate());
        let (lo, hi) = event_bounds(now - Duration::from_millis(1), now + Duration::from_secs(1));
        assert!(lo.as_str() <= sk.as_str() && sk.as_str() <= hi.as_str(), "{lo} {sk} {hi}");
        let (later, _) = event_bounds(now + Duration::from_secs(1), now + Duration::from_secs(2));
        assert!(sk < later);
        let (_, earlier) = event_bounds(now - Duration::from_secs(2), now - Duration::from_secs(1));
        assert!(sk > earlier);
        // Other items of the tenant's partition stay outside.
        let (lo, hi) = event_bounds(OffsetDateTime::UNIX_EPOCH, now + Duration::from_secs(86_400));
        assert!("EP#x" < lo.as_str() && "IDEM#x" > hi.as_str());
    }

    #[test]
    fn ulid_time_prefix_matches_the_spec_example() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_469_918_176_385 * 1_000_000).unwrap();
        assert_eq!(ulid_time_prefix(t), "01ARYZ6S41");
    }
}
