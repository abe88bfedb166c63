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

use super::attrs::{get_s, n, parse, s, ts};
use super::keys::{delivery_sk, endpoint_sk};
use super::table::conditional;
use super::{Store, StoreError, event_pk, tenant_pk};
use crate::domain::{Attempt, Delivery, DeliveryStatus};
use crate::ids::{EndpointId, EventId, TenantId};

/// Event ids from one Query of a window, and the event id to go on after (`None`: the window
/// is done).
#[derive(Debug)]
pub struct EventIdPage {
    pub ids: Vec<EventId>,
    pub next: Option<String>,
}

use super::events::{event_bounds, event_position};
use super::keys::{LISTING_SK_PREFIX, listing_pks};

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
            .key("sk", s(delivery_sk(&read.endpoint_id)))
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
            .key("sk", s(delivery_sk(&read.endpoint_id)))
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
            .key("sk", s(endpoint_sk(id)))
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
        limit: usize,
        after: Option<&str>,
    ) -> Result<EventIdPage, StoreError> {
        let (lo, hi) = event_bounds(Some(since), Some(until));
        let after = after.map(|id| format!("{LISTING_SK_PREFIX}{id}"));
        let page = self
            .query_shards(listing_pks(tenant).collect(), (&lo, &hi), false, limit, after.as_deref(), |query| {
                query
                    .filter_expression("contains(#endpoints, :endpoint) AND attribute_not_exists(#expunged)")
                    .projection_expression("sk")
                    .expression_attribute_names("#endpoints", "endpoint_ids")
                    .expression_attribute_names("#expunged", "payload_expunged")
                    .expression_attribute_values(":endpoint", s(endpoint.as_str()))
            })
            .await?;
        let mut sks = page.items.iter().map(|item| get_s(item, "sk")).collect::<Result<Vec<_>, _>>()?;
        // The shards together may hold more than a page: the rest comes after the last kept.
        let next = if sks.len() > limit {
            sks.truncate(limit);
            sks.last().map(|sk| event_position(sk))
        } else {
            page.last_key.as_deref().map(event_position)
        };
        let ids = sks.iter().map(|sk| parse("sk", EventId::parse(&event_position(sk)))).collect::<Result<_, _>>()?;
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
