//! DynamoDB storage: one table, keys built so every item sits under its tenant.
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
//! | event       | `TEN#<tenant>`        | `EVT#<event>`            |
//! | idempotency | `TEN#<tenant>`        | `IDEM#<key>`             |
//! | delivery    | `TEN#<tenant>#EVT#<event>` | `DLV#<endpoint>`    |
//! | attempt     | `TEN#<tenant>#EVT#<event>` | `ATT#<endpoint>#<nnnnnn>` |
//! | endpoint health window | `TEN#<tenant>`  | `HEALTH#<endpoint>#<5-minute window>` |
//! | rate limiter | `RATE#<tenant>#<key>` | `RATE`                  |
//! | endpoint's in-flight leases, slow-lane mark | `TEN#<tenant>` | `INFLIGHT#<endpoint>` |
//!
//! A tenant's id is part of every key it can reach, so one tenant cannot name another's items.

mod attrs;
mod deliveries;
mod endpoints;
mod event_types;
mod events;
mod in_flight;
mod limits;
mod quotas;
mod replay;
mod tenants;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use time::OffsetDateTime;

pub use deliveries::{DeliveryUpdate, RecordOutcome};
pub use endpoints::{EndpointCreation, HealthChange};
pub use event_types::{EventTypeChanged, EventTypeCreated, EventTypeDefinition, MAX_EVENT_TYPES, MAX_EXAMPLE_BYTES};
pub use events::{
    ClaimState, Cursor, EXPUNGED_PAYLOAD, EventFilter, EventSummary, IdempotencyClaim, InvalidCursor, MAX_PAGE_SIZE,
    Page,
};
pub use in_flight::{Admission, HeldLease, Lease, LeaseRequest};
pub use limits::{RateSlot, now_ms};
pub use quotas::{IngestPolicy, Quotas};
pub use replay::{EventIdPage, after_event};
pub use tenants::{
    ApiKey, ApiKeyInfo, KEY_ROTATION_GRACE, MAX_KEY_ROTATION_GRACE, RotatedKey, Tenant, TenantState, TenantStatus,
    TenantUpdate,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} failed: {message}")]
    Aws { op: &'static str, message: String },
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    fn aws<E: std::error::Error + ProvideErrorMetadata + 'static>(op: &'static str) -> impl FnOnce(E) -> Self {
        move |err| Self::Aws { op, message: DisplayErrorContext(&err).to_string() }
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

fn tenant_pk(tenant: &crate::ids::TenantId) -> String {
    format!("TEN#{tenant}")
}

fn event_pk(tenant: &crate::ids::TenantId, event: &crate::ids::EventId) -> String {
    format!("TEN#{tenant}#EVT#{event}")
}
