//! Rate limits shared by every concurrent deliver function: one DynamoDB item per limit key
//! holds the time the next request may go (a GCRA, the "theoretical arrival time", in ms).
//!
//! A caller reserves a slot: when the limiter is idle it gets "now" and pushes the next slot
//! one interval ahead (one conditional write); when busy it takes the next free slot with an
//! atomic ADD (a second write) and learns how long to wait for it. Reserved slots are never
//! handed out twice, so requests through one key are at least one interval apart.
//!
//! A caller that will not wait past a bound (a test send) reserves only if its slots fall within
//! it: the condition is part of the write, so a refused caller takes nothing and cannot push
//! everyone else's slots later.

use std::time::Duration;

use time::OffsetDateTime;

use super::attrs::{n, opt_n, s};
use super::keys::{RATE_SK, rate_pk};
use super::table::conditional;
use super::{Store, StoreError};

/// When the reserved slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSlot {
    /// Unix time of the slot, in milliseconds.
    pub at_ms: i64,
}

impl RateSlot {
    pub fn wait_from(&self, now: OffsetDateTime) -> Duration {
        let now_ms = now_ms(now);
        Duration::from_millis(u64::try_from(self.at_ms - now_ms).unwrap_or(0))
    }
}

pub fn now_ms(now: OffsetDateTime) -> i64 {
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Limiter items live a week past their last use, long after any reserved slot.
const LIMITER_TTL_SECONDS: i64 = 7 * 24 * 3600;

impl Store {
    /// Reserves the next slot for `key`, at most one every `interval`, however far ahead it is.
    pub async fn reserve_rate_slot(&self, key: &str, interval: Duration) -> Result<RateSlot, StoreError> {
        // Without a bound on the wait the condition always holds, so a refusal means a bad item.
        self.reserve_rate_slots_within(key, interval, 1, Duration::MAX)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("rate limiter {key}: an unbounded reservation was refused")))
    }

    /// Reserves `count` consecutive slots for `key` (one every `interval`), but only if the
    /// last of them is at most `max_wait` away; `None` (and nothing reserved) otherwise.
    pub async fn reserve_rate_slots_within(
        &self,
        key: &str,
        interval: Duration,
        count: u32,
        max_wait: Duration,
    ) -> Result<Option<RateSlot>, StoreError> {
        let now = now_ms(OffsetDateTime::now_utc());
        let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        let span = step.saturating_mul(i64::from(count));
        let max_wait = i64::try_from(max_wait.as_millis()).unwrap_or(i64::MAX);
        // The first slot may be this late and the last one still within `max_wait`.
        let deadline = now.saturating_add(max_wait).saturating_sub(span - step);
        if deadline < now {
            return Ok(None);
        }
        let expires = n(OffsetDateTime::now_utc().unix_timestamp() + LIMITER_TTL_SECONDS);
        let idle = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(key)))
            .key("sk", s(RATE_SK))
            .update_expression("SET tat = :next, expires_at = :expires")
            .condition_expression("attribute_not_exists(tat) OR tat <= :now")
            .expression_attribute_values(":next", n(now + span))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", expires.clone())
            .send()
            .await;
        if conditional(idle, "UpdateItem")?.is_some() {
            return Ok(Some(RateSlot { at_ms: now }));
        }
        let busy = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(key)))
            .key("sk", s(RATE_SK))
            .update_expression("ADD tat :span SET expires_at = :expires")
            .condition_expression("tat <= :deadline")
            .expression_attribute_values(":span", n(span))
            .expression_attribute_values(":deadline", n(deadline))
            .expression_attribute_values(":expires", expires)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        let Some(out) = conditional(busy, "UpdateItem")? else { return Ok(None) };
        let tat: i64 = opt_n(&out.attributes.unwrap_or_default(), "tat")?.unwrap_or(now + span);
        Ok(Some(RateSlot { at_ms: tat - span }))
    }

    /// When the next free slot for `key` is (Unix ms), if the limiter has one in the future.
    pub async fn next_rate_slot(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(key)))
            .key("sk", s(RATE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        match out.item {
            Some(item) => opt_n(&item, "tat"),
            None => Ok(None),
        }
    }
}
