//! DynamoDB storage: one table, keys built so every item sits under its tenant (all of them
//! in `keys.rs`); conditional writes, transactions, batch deletes and the paginated Query in
//! `table.rs`.
//!
//! | item        | pk                    | sk                       |
//! |-------------|-----------------------|--------------------------|
//! | API key     | `KEY#<sha256 of key>` | `KEY` (`expires_at` once rotated out) |
//! | tenant      | `TEN#<tenant>`        | `TEN` (quotas, `endpoint_count`, `suspended`, registered type names, names of those with a schema) |
//! | tenant list entry | `TENANTS`       | `TEN#<tenant>`           |
//! | tenant's key reference | `TEN#<tenant>` | `APIKEY#<sha256 of key>` |
//! | event type  | `TEN#<tenant>`        | `ETYPE#<name>`           |
//! | events-per-minute counter | `TEN#<tenant>` | `QUOTA#EVENTS#<unix minute>` |
//! | replays-per-minute counter | `TEN#<tenant>` | `QUOTA#REPLAYS#<unix minute>` |
//! | endpoint    | `TEN#<tenant>`        | `EP#<endpoint>`          |
//! | event, and its idempotency key's claim (`state`, `fingerprint`) | `TEN#<tenant>#EV#<random part of the id>` | `EVT` |
//! | listing entry and first round (the event's summary, every first attempt with what it left its delivery as) | `TEN#<tenant>#EVL#<shard 00–31>` | `ROUND#<event>` |
//! | delivery (once touched after its round: claimed, paused, holding a rate slot, resent) | `TEN#<tenant>#EV#<random part>` | `DLV#<endpoint>` |
//! | attempt after the first round (retry, resend, test send); also a failed first attempt, beside its round entry | `TEN#<tenant>#EV#<random part>` | `ATT#<endpoint>#<nnnnnn>` |
//! | endpoint health window | `TEN#<tenant>#EP#<endpoint>` | `HEALTH#<endpoint>#<5-minute window>` |
//! | rate limiter | `RATE#<tenant>#<key>` | `RATE`                  |
//! | endpoint's in-flight leases, slow-lane mark | `TEN#<tenant>#EP#<endpoint>` | `INFLIGHT#<endpoint>` |
//!
//! One sparse global secondary index, [`FAILED_ATTEMPTS_INDEX`] (projection ALL): only the item
//! of a failed delivery attempt carries its keys (a test send's does not), so a success costs it
//! nothing and a failure one index write.
//!
//! | index entry | `fail_pk`             | `fail_sk`                |
//! |-------------|-----------------------|--------------------------|
//! | failed attempt | `TEN#<tenant>#EP#<endpoint>` | `<attempt time, ms, 13 digits>#<event>#<nnnnnn>` |
//!
//! A tenant's id is part of every key it can reach, so one tenant cannot name another's items.

mod attrs;
mod deliveries;
mod endpoints;
mod event_types;
mod events;
mod in_flight;
pub mod keys;
mod limits;
mod quotas;
mod replay;
mod table;
mod tenants;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use time::OffsetDateTime;

pub use deliveries::{DeliveryUpdate, FailurePage, RecordOutcome};
pub use endpoints::{EndpointCreation, HealthChange};
pub use event_types::{EventTypeChanged, EventTypeCreated, EventTypeDefinition, MAX_EVENT_TYPES, MAX_EXAMPLE_BYTES};
pub use events::{ClaimState, Creation, EXPUNGED_PAYLOAD, EventFilter, EventSummary, MAX_PAGE_SIZE, Page};
pub use in_flight::{Admission, HeldLease, Lease, LeaseRequest};
pub use keys::{LISTING_SHARDS, listing_shard};
use keys::{event_pk, tenant_pk};
pub use limits::{RateSlot, now_ms};
pub use quotas::{IngestPolicy, Quotas};
pub use replay::EventIdPage;
pub use tenants::{
    ApiKey, ApiKeyId, ApiKeyInfo, KEY_ROTATION_GRACE, MAX_KEY_ROTATION_GRACE, RotatedKey, Tenant, TenantState,
    TenantStatus, TenantUpdate,
};

/// The sparse index of failed attempts, by endpoint and time (`template.yaml`).
pub const FAILED_ATTEMPTS_INDEX: &str = "FailedAttempts";

/// What went wrong with the table, by what it means for the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, or DynamoDB did not answer: the same request may work later (503).
    #[error("DynamoDB {op} is throttled or unavailable: {message}")]
    Unavailable { op: &'static str, message: String },
    /// A condition the write relied on no longer held: another request changed the item
    /// first (409).
    #[error("DynamoDB {op}: the item changed under the request")]
    Conflict { op: &'static str },
    /// The item the write was for is gone (404).
    #[error("DynamoDB {op}: the item no longer exists")]
    Gone { op: &'static str },
    /// Any other refusal: a request of ours DynamoDB would not take (500).
    #[error("DynamoDB {op} failed: {message}")]
    Aws { op: &'static str, message: String },
    /// A stored item does not read back (500).
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
    /// As `Corrupt`, with the item's key (never a secret: keys hold ids and hashes).
    #[error("the stored item {key} is malformed: {problem}")]
    CorruptItem { key: String, problem: String },
}

/// Error codes that mean "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

impl StoreError {
    fn aws<E: std::error::Error + ProvideErrorMetadata + 'static>(op: &'static str) -> impl FnOnce(E) -> Self {
        move |err| match err.code() {
            Some(
                "ConditionalCheckFailedException" | "TransactionConflictException" | "TransactionCanceledException",
            ) => Self::Conflict { op },
            Some(code) if !RETRYABLE_CODES.contains(&code) => {
                Self::Aws { op, message: DisplayErrorContext(&err).to_string() }
            }
            // A retryable code, or none at all: the request did not get an answer (timeout,
            // connection refused, dispatch failure).
            _ => Self::Unavailable { op, message: DisplayErrorContext(&err).to_string() },
        }
    }

    /// Names the item a `Corrupt` error came from.
    fn in_item(self, item: &attrs::Item) -> Self {
        match self {
            Self::Corrupt(problem) => {
                let part = |name: &str| attrs::opt_s(item, name).unwrap_or("?").to_owned();
                Self::CorruptItem { key: format!("{}/{}", part("pk"), part("sk")), problem }
            }
            other => other,
        }
    }
}

/// The table and how long message records live (DynamoDB TTL).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    retention: Duration,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self { client, table: table.into(), retention }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The `expires_at` TTL value for a message record written now.
    fn expires_at(&self) -> i64 {
        (OffsetDateTime::now_utc() + self.retention).unix_timestamp()
    }
}
