use serde::{Deserialize, Serialize};

use time::OffsetDateTime;

use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, Update};

use super::attrs::{Item, get_s, get_ts, n, opt_n, opt_s, opt_ts, parse, s, ts};
use super::keys::{ENDPOINT_SK_PREFIX, TENANT_SK, endpoint_pk, endpoint_sk, health_sk};
use super::quotas::ENDPOINT_COUNT;
use super::table::{Transaction, conditional, transact_update};
use super::tenants::TenantState;
use super::{Store, StoreError, tenant_pk};
use crate::crypto::{Binding, open_text, seal_text};
use crate::delivery::decide::WindowCounts;
use crate::domain::EndpointAuth;
use crate::domain::{
    DeliveryLimits, DeliveryOptions, Endpoint, EndpointHealth, EndpointStatus, EndpointUrl, EventTypePattern,
    Presentation, PreviousSecret, RetryPolicy,
};
use crate::ids::{EndpointId, TenantId};
use crate::signing::SigningSecret;

/// The endpoint's settings, kept as one JSON attribute so new options do not need new columns.
/// Status and health are separate attributes: the deliver function updates them in place, and
/// a settings change must not undo that.
#[derive(Serialize, Deserialize)]
struct Settings {
    url: EndpointUrl,
    description: String,
    event_types: Vec<EventTypePattern>,
    retry: RetryPolicy,
    #[serde(default)]
    options: DeliveryOptions,
    #[serde(default)]
    presentation: Presentation,
    #[serde(default)]
    limits: DeliveryLimits,
}

/// An endpoint item as read back; a malformed one names its key in the error.
fn read_item(tenant: &TenantId, item: &Item) -> Result<Endpoint, StoreError> {
    from_item(tenant, item).map_err(|e| e.in_item(item))
}

/// What creating an endpoint came to.
#[derive(Debug, PartialEq, Eq)]
pub enum EndpointCreation {
    Created,
    /// The tenant already has as many endpoints as its quota allows.
    OverQuota,
    /// The tenant was deleted meanwhile.
    TenantGone,
}

/// Tries of a transaction that moves `endpoint_count`, when a concurrent change or a missing
/// counter (tenants made before it existed) gets in the way.
const COUNTER_ATTEMPTS: usize = 4;

/// How long ingest reuses a tenant's endpoint list. An endpoint created or changed through
/// another function instance is seen by ingest within this time; changes made through this
/// same store (local development, tests) are seen at once.
pub const ENDPOINT_LIST_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// When a tenant's endpoint list was read, and the list.
type CachedList = (std::time::Instant, Vec<Endpoint>);

/// Per-process cache of each tenant's endpoints, for ingest's fan-out. One per process, keyed
/// by table, so every `Store` in a process (local development and tests run all three
/// functions in one) sees the others' changes at once.
#[derive(Debug, Default)]
pub struct EndpointLists(std::sync::Mutex<Lists>);

#[derive(Debug, Default)]
struct Lists {
    cached: std::collections::HashMap<(String, TenantId), CachedList>,
    /// Bumped by every change, so a list read while a change was under way is not kept.
    generation: u64,
}

static ENDPOINT_LISTS: std::sync::LazyLock<EndpointLists> = std::sync::LazyLock::new(EndpointLists::default);
/// Held while a list is read, so concurrent misses wait for that read instead of repeating it.
static LIST_LOADS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl EndpointLists {
    fn get(&self, table: &str, tenant: &TenantId) -> Option<Vec<Endpoint>> {
        let lists = self.0.lock().ok()?;
        let (at, list) = lists.cached.get(&(table.to_owned(), tenant.clone()))?;
        (at.elapsed() < ENDPOINT_LIST_TTL).then(|| list.clone())
    }

    fn generation(&self) -> u64 {
        self.0.lock().map(|lists| lists.generation).unwrap_or_default()
    }

    /// Keeps a list read when the cache was at `generation`, unless a change came since.
    fn put(&self, table: &str, tenant: &TenantId, list: &[Endpoint], generation: u64) {
        if let Ok(mut lists) = self.0.lock()
            && lists.generation == generation
        {
            lists.cached.retain(|_, (at, _)| at.elapsed() < ENDPOINT_LIST_TTL);
            lists.cached.insert((table.to_owned(), tenant.clone()), (std::time::Instant::now(), list.to_vec()));
        }
    }

    fn forget(&self, table: &str, tenant: &TenantId) {
        if let Ok(mut lists) = self.0.lock() {
            lists.cached.remove(&(table.to_owned(), tenant.clone()));
            lists.generation = lists.generation.wrapping_add(1);
        }
    }
}

/// Forgets a tenant's cached endpoint list when made and again when dropped, after the write it
/// guards: a list read before the write landed is then neither served nor kept.
#[must_use = "the list is forgotten again when this is dropped, after the write"]
pub(super) struct ForgetEndpointList {
    table: String,
    tenant: TenantId,
}

impl Drop for ForgetEndpointList {
    fn drop(&mut self) {
        ENDPOINT_LISTS.forget(&self.table, &self.tenant);
    }
}

/// A change the deliver function makes to an endpoint's health.
#[derive(Debug)]
pub enum HealthChange {
    /// A failure: remember when failing started, unless it already had.
    Failing { at: OffsetDateTime },
    /// A success: the endpoint is healthy again, and its circuit closed.
    Recovered,
    /// Too many failures: hold deliveries back until `until`.
    OpenCircuit { until: OffsetDateTime, opens: u32 },
    /// Stop delivering, for `reason`.
    Disable { reason: String },
}

fn status_str(status: EndpointStatus) -> &'static str {
    match status {
        EndpointStatus::Active => "active",
        EndpointStatus::Disabled => "disabled",
    }
}

/// The attributes holding an endpoint's sealed settings, each present only when it has
/// something to hide: credentials, custom headers (whose values may be keys) and a URL with a
/// credential in its query (chat rooms' `token=` and `key=`).
const SEALED_SETTINGS: [&str; 3] = ["auth", "headers", "url"];

/// Where an endpoint's sealed `field` lives, which its sealing is bound to.
fn binding<'a>(tenant: &'a TenantId, sk: &'a str, field: &'a str) -> Binding<'a> {
    Binding { tenant: tenant.as_str(), item: sk, field }
}

fn to_item(ep: &Endpoint) -> Result<Item, StoreError> {
    let sk = endpoint_sk(&ep.id);
    let seal = |field: &str, plaintext: &str| s(seal_text(plaintext, binding(&ep.tenant_id, &sk, field)));
    let settings = Settings {
        // A URL with a credential is kept here redacted, and whole in its sealed attribute.
        url: ep.url.redacted(),
        description: ep.description.clone(),
        event_types: ep.event_types.clone(),
        retry: ep.retry.clone(),
        // Credentials and header values are sealed into their own attributes, never kept in
        // the settings' JSON.
        options: DeliveryOptions { auth: EndpointAuth::None, headers: Vec::new(), ..ep.options.clone() },
        presentation: ep.presentation.clone(),
        limits: ep.limits.clone(),
    };
    let settings = serde_json::to_string(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut item: Item = [
        ("pk".to_owned(), s(tenant_pk(&ep.tenant_id))),
        ("sk".to_owned(), s(sk.clone())),
        ("settings".to_owned(), s(settings)),
        ("secret".to_owned(), seal("secret", &ep.secret.expose())),
        ("secret_hash".to_owned(), s(secret_hash(&ep.secret))),
        ("status".to_owned(), s(status_str(ep.status))),
        ("circuit_opens".to_owned(), n(ep.health.circuit_opens)),
        ("created_at".to_owned(), ts(ep.created_at)),
    ]
    .into();
    if ep.options.auth != EndpointAuth::None {
        let json = serde_json::to_string(&ep.options.auth).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("auth".to_owned(), seal("auth", &json));
    }
    if !ep.options.headers.is_empty() {
        let json = serde_json::to_string(&ep.options.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("headers".to_owned(), seal("headers", &json));
    }
    if ep.url.has_secret_query() {
        item.insert("url".to_owned(), seal("url", &ep.url.to_string()));
    }
    if let Some(previous) = &ep.previous_secret {
        item.insert("previous_secret".to_owned(), seal("previous_secret", &previous.secret.expose()));
        item.insert("previous_secret_until".to_owned(), ts(previous.until));
    }
    if let Some(reason) = &ep.health.disabled_reason {
        item.insert("disabled_reason".to_owned(), s(reason));
    }
    if let Some(at) = ep.health.failing_since {
        item.insert("failing_since".to_owned(), ts(at));
    }
    if let Some(at) = ep.health.circuit_open_until {
        item.insert("circuit_open_until".to_owned(), ts(at));
    }
    Ok(item)
}

/// Identifies a secret without revealing it, so a rotation can be conditioned on the secret it
/// replaces (sealed values differ on every write).
fn secret_hash(secret: &SigningSecret) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.expose().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The plaintext of the sealed attribute `name`, if the item has it. The item's own tenant and
/// sort key bind it: a value copied from another item does not open.
fn open_attr(tenant: &TenantId, item: &Item, name: &str) -> Result<Option<String>, StoreError> {
    let Some(sealed) = opt_s(item, name) else { return Ok(None) };
    let sk = get_s(item, "sk")?;
    parse(name, open_text(sealed, binding(tenant, sk, name))).map(Some)
}

fn open_secret(tenant: &TenantId, item: &Item, name: &str) -> Result<SigningSecret, StoreError> {
    let text = open_attr(tenant, item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("missing string attribute `{name}`")))?;
    parse(name, SigningSecret::parse(&text))
}

fn from_item(tenant: &TenantId, item: &Item) -> Result<Endpoint, StoreError> {
    let id = get_s(item, "sk")?.trim_start_matches(ENDPOINT_SK_PREFIX);
    let mut settings: Settings = parse("settings", serde_json::from_str(get_s(item, "settings")?))?;
    // Items written before header values and URLs were sealed keep them in `settings`.
    if let Some(json) = open_attr(tenant, item, "auth")? {
        settings.options.auth = parse("auth", serde_json::from_str(&json))?;
    }
    if let Some(json) = open_attr(tenant, item, "headers")? {
        settings.options.headers = parse("headers", serde_json::from_str(&json))?;
    }
    if let Some(url) = open_attr(tenant, item, "url")? {
        settings.url = parse("url", EndpointUrl::try_from(url))?;
    }
    Ok(Endpoint {
        id: parse("sk", EndpointId::parse(id))?,
        tenant_id: tenant.clone(),
        url: settings.url,
        description: settings.description,
        event_types: settings.event_types,
        retry: settings.retry,
        options: settings.options,
        presentation: settings.presentation,
        limits: settings.limits,
        secret: open_secret(tenant, item, "secret")?,
        previous_secret: match opt_ts(item, "previous_secret_until")? {
            Some(until) if item.contains_key("previous_secret") => {
                Some(PreviousSecret { secret: open_secret(tenant, item, "previous_secret")?, until })
            }
            _ => None,
        },
        status: match opt_s(item, "status") {
            Some("disabled") => EndpointStatus::Disabled,
            _ => EndpointStatus::Active,
        },
        health: EndpointHealth {
            disabled_reason: opt_s(item, "disabled_reason").map(str::to_owned),
            failing_since: opt_ts(item, "failing_since")?,
            circuit_open_until: opt_ts(item, "circuit_open_until")?,
            circuit_opens: opt_n(item, "circuit_opens")?.unwrap_or(0),
        },
        created_at: get_ts(item, "created_at")?,
    })
}

impl Store {
    /// Writes a new endpoint and counts it on the tenant item, in one transaction that holds
    /// the count under `max` (no limit if `None`), so parallel creations cannot pass the quota.
    pub async fn create_endpoint(&self, ep: &Endpoint, max: Option<u32>) -> Result<EndpointCreation, StoreError> {
        let _forget = self.forget_endpoint_list(&ep.tenant_id);
        let mut condition = String::from("attribute_exists(#count) AND attribute_not_exists(deleting)");
        if max.is_some() {
            condition.push_str(" AND #count < :max");
        }
        for _ in 0..COUNTER_ATTEMPTS {
            let mut count = self.endpoint_counter_update(&ep.tenant_id, 1, &condition);
            if let Some(max) = max {
                count = count.expression_attribute_values(":max", n(max));
            }
            let count = transact_update(count)?;
            let put = self.put(to_item(ep)?, Some("attribute_not_exists(pk)"))?;
            match self.transact(vec![put, count]).await? {
                Transaction::Committed => return Ok(EndpointCreation::Created),
                Transaction::ConditionFailed(failed) if failed.first() == Some(&true) => {
                    return Err(StoreError::Corrupt("a fresh endpoint id is already taken".to_owned()));
                }
                Transaction::ConditionFailed(_) => match self.endpoint_count(&ep.tenant_id).await? {
                    None if !self.seed_endpoint_count(&ep.tenant_id).await? => return Ok(EndpointCreation::TenantGone),
                    None => {}
                    Some(count) if max.is_some_and(|max| count >= max) => return Ok(EndpointCreation::OverQuota),
                    Some(_) if self.tenant_state(&ep.tenant_id).await? == TenantState::Gone => {
                        return Ok(EndpointCreation::TenantGone);
                    }
                    // A deletion moved the count between our read and write: try again.
                    Some(_) => {}
                },
            }
        }
        Err(StoreError::Conflict { op: "TransactWriteItems" })
    }

    /// An update of the tenant item's `endpoint_count` by `delta`, under `condition`.
    fn endpoint_counter_update(
        &self,
        tenant: &TenantId,
        delta: i64,
        condition: &str,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(self.table())
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(TENANT_SK))
            .update_expression("ADD #count :delta")
            .condition_expression(condition)
            .expression_attribute_names("#count", ENDPOINT_COUNT)
            .expression_attribute_values(":delta", n(delta))
    }

    pub async fn get_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(endpoint_sk(id)))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.map(|item| read_item(tenant, &item)).transpose()
    }

    /// Replaces an existing endpoint's settings, leaving its status, health and secrets to
    /// their own writers. Returns the endpoint as written (`ALL_NEW`, so what the caller is
    /// shown is this write, not an older replica), or `None` if it does not exist.
    pub async fn update_endpoint_settings(&self, ep: &Endpoint) -> Result<Option<Endpoint>, StoreError> {
        let _forget = self.forget_endpoint_list(&ep.tenant_id);
        let item = to_item(ep)?;
        let settings = item.get("settings").cloned().ok_or_else(|| StoreError::Corrupt("no settings".into()))?;
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(&ep.tenant_id)))
            .key("sk", s(endpoint_sk(&ep.id)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew)
            .expression_attribute_values(":settings", settings);
        let (mut set, mut remove) = (vec!["settings = :settings".to_owned()], Vec::new());
        let mut request = request;
        for name in SEALED_SETTINGS {
            request = request.expression_attribute_names(format!("#{name}"), name);
            match item.get(name) {
                Some(value) => {
                    set.push(format!("#{name} = :{name}"));
                    request = request.expression_attribute_values(format!(":{name}"), value.clone());
                }
                None => remove.push(format!("#{name}")),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = request.update_expression(expression).send().await;
        conditional(result, "UpdateItem")?
            .map(|out| read_item(&ep.tenant_id, &out.attributes.unwrap_or_default()))
            .transpose()
    }

    /// Enables (clearing the disabled reason) or disables an endpoint by the tenant's choice.
    /// Returns the endpoint as written (`ALL_NEW`), or `None` if it does not exist.
    pub async fn set_endpoint_enabled(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        enabled: bool,
    ) -> Result<Option<Endpoint>, StoreError> {
        let _forget = self.forget_endpoint_list(tenant);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(endpoint_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew)
            .expression_attribute_names("#status", "status");
        let request = if enabled {
            request
                .update_expression(
                    "SET #status = :active, circuit_opens = :zero REMOVE disabled_reason, failing_since, circuit_open_until",
                )
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":zero", n(0))
        } else {
            request
                .update_expression("SET #status = :disabled, disabled_reason = :reason")
                .expression_attribute_values(":disabled", s("disabled"))
                .expression_attribute_values(":reason", s("disabled by the tenant"))
        };
        conditional(request.send().await, "UpdateItem")?
            .map(|out| read_item(tenant, &out.attributes.unwrap_or_default()))
            .transpose()
    }

    /// Installs a new signing secret; the old one keeps signing until `previous_until`.
    /// Returns the endpoint as written (`ALL_NEW`). Another rotation that got there first is a
    /// `Conflict`; an endpoint deleted meanwhile is `Gone`.
    pub async fn rotate_endpoint_secret(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        new: &SigningSecret,
        previous: &SigningSecret,
        previous_until: OffsetDateTime,
    ) -> Result<Endpoint, StoreError> {
        let _forget = self.forget_endpoint_list(tenant);
        let sk = endpoint_sk(id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(sk.clone()))
            .update_expression(
                "SET secret = :new, secret_hash = :new_hash, previous_secret = :old, previous_secret_until = :until",
            )
            // Only over the secret the caller read, so two rotations cannot lose one.
            .condition_expression("secret_hash = :old_hash")
            .expression_attribute_values(":new", s(seal_text(&new.expose(), binding(tenant, &sk, "secret"))))
            .expression_attribute_values(":new_hash", s(secret_hash(new)))
            .expression_attribute_values(
                ":old",
                s(seal_text(&previous.expose(), binding(tenant, &sk, "previous_secret"))),
            )
            .expression_attribute_values(":old_hash", s(secret_hash(previous)))
            .expression_attribute_values(":until", ts(previous_until))
            .return_values(ReturnValue::AllNew)
            // On a failed condition, the item as it is tells a lost race from a deletion.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => read_item(tenant, &out.attributes.unwrap_or_default()),
            Err(err) => match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(e)) => {
                    if e.item().is_some_and(|item| !item.is_empty()) {
                        Err(StoreError::Conflict { op: "UpdateItem" })
                    } else {
                        Err(StoreError::Gone { op: "UpdateItem" })
                    }
                }
                _ => Err(StoreError::aws("UpdateItem")(err)),
            },
        }
    }

    /// Deletes an endpoint and takes it off the tenant's `endpoint_count`, in one transaction.
    /// Its queued deliveries are dropped when they come up.
    pub async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool, StoreError> {
        let _forget = self.forget_endpoint_list(tenant);
        for _ in 0..COUNTER_ATTEMPTS {
            let delete = self.delete(tenant_pk(tenant), endpoint_sk(id), Some("attribute_exists(pk)"))?;
            let count = transact_update(self.endpoint_counter_update(tenant, -1, "attribute_exists(#count)"))?;
            match self.transact(vec![delete, count]).await? {
                Transaction::Committed => return Ok(true),
                Transaction::ConditionFailed(failed) if failed.first() == Some(&true) => return Ok(false),
                // No counter yet: count the endpoints (this one included) and go again.
                Transaction::ConditionFailed(_) if self.seed_endpoint_count(tenant).await? => {}
                // No tenant any more: nothing to count.
                Transaction::ConditionFailed(_) => return self.delete_endpoint_item(tenant, id).await,
            }
        }
        Err(StoreError::Conflict { op: "TransactWriteItems" })
    }

    async fn delete_endpoint_item(&self, tenant: &TenantId, id: &EndpointId) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(endpoint_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(conditional(result, "DeleteItem")?.is_some())
    }

    /// Applies a health change in place. Changes are idempotent, so a stale view of the
    /// endpoint at worst repeats one.
    pub async fn update_endpoint_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: HealthChange,
    ) -> Result<(), StoreError> {
        self.apply_endpoint_health(tenant, id, change, false).await.map(|_| ())
    }

    /// As [`Store::update_endpoint_health`], but a `Disable` applies only to an endpoint not
    /// yet disabled and a `Recovered` only to one that is failing or has had its circuit open;
    /// true if this call made the change. Of several deliver functions seeing the same change,
    /// exactly one gets true, so the operational event it emits is sent once.
    pub async fn change_endpoint_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: HealthChange,
    ) -> Result<bool, StoreError> {
        self.apply_endpoint_health(tenant, id, change, true).await
    }

    async fn apply_endpoint_health(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: HealthChange,
        only_a_change: bool,
    ) -> Result<bool, StoreError> {
        let _forget = self.forget_endpoint_list(tenant);
        // Never recreate a deleted endpoint.
        let condition = match (&change, only_a_change) {
            (HealthChange::Disable { .. }, true) => "attribute_exists(pk) AND #status <> :disabled",
            (HealthChange::Recovered, true) => {
                "attribute_exists(pk) AND (attribute_exists(failing_since) OR attribute_exists(circuit_open_until) OR circuit_opens > :zero)"
            }
            _ => "attribute_exists(pk)",
        };
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(endpoint_sk(id)))
            .condition_expression(condition);
        let request = match change {
            HealthChange::Failing { at } => request
                .update_expression("SET failing_since = if_not_exists(failing_since, :at)")
                .expression_attribute_values(":at", ts(at)),
            HealthChange::Recovered => request
                .update_expression("SET circuit_opens = :zero REMOVE failing_since, circuit_open_until")
                .expression_attribute_values(":zero", n(0)),
            HealthChange::OpenCircuit { until, opens } => request
                .update_expression("SET circuit_open_until = :until, circuit_opens = :opens")
                .expression_attribute_values(":until", ts(until))
                .expression_attribute_values(":opens", n(opens)),
            HealthChange::Disable { reason } => request
                .update_expression("SET #status = :disabled, disabled_reason = :reason")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":disabled", s("disabled"))
                .expression_attribute_values(":reason", s(reason)),
        };
        Ok(conditional(request.send().await, "UpdateItem")?.is_some())
    }

    /// Adds a warm instance's tally of attempts to the endpoint's health window, attempts and
    /// failures in one ADD (a reader never sees one without the other), and returns the
    /// window's totals so far.
    pub async fn add_attempts(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        window: i64,
        counts: WindowCounts,
    ) -> Result<WindowCounts, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(endpoint_pk(tenant, id)))
            .key("sk", s(health_sk(id, window)))
            .update_expression("ADD attempts :attempts, failures :failures SET expires_at = :expires")
            .expression_attribute_values(":attempts", n(counts.attempts))
            .expression_attribute_values(":failures", n(counts.failures))
            .expression_attribute_values(":expires", n(OffsetDateTime::now_utc().unix_timestamp() + 3600))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::aws("UpdateItem"))?;
        let attrs = out.attributes.unwrap_or_default();
        Ok(WindowCounts {
            attempts: opt_n(&attrs, "attempts")?.unwrap_or(0),
            failures: opt_n(&attrs, "failures")?.unwrap_or(0),
        })
    }

    /// Drops the cached endpoint list of a tenant whose endpoints this process changed.
    pub(super) fn forget_endpoint_list(&self, tenant: &TenantId) -> ForgetEndpointList {
        ENDPOINT_LISTS.forget(&self.table, tenant);
        ForgetEndpointList { table: self.table.clone(), tenant: tenant.clone() }
    }

    /// A tenant's endpoints for fanning an event out: read at most every
    /// [`ENDPOINT_LIST_TTL`] per process. Reading the list per event was ingest's one call
    /// whose cost grows with the tenant (a Query over its partition).
    pub async fn subscribed_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        if let Some(list) = ENDPOINT_LISTS.get(&self.table, tenant) {
            return Ok(list);
        }
        // One read at a time: a batch's events stage concurrently, and each would otherwise
        // read the same list (ten Queries per batched POST when the list had expired).
        let _loading = LIST_LOADS.lock().await;
        if let Some(list) = ENDPOINT_LISTS.get(&self.table, tenant) {
            return Ok(list);
        }
        let generation = ENDPOINT_LISTS.generation();
        let list = self.list_endpoints(tenant).await?;
        ENDPOINT_LISTS.put(&self.table, tenant, &list, generation);
        Ok(list)
    }

    /// Every endpoint of a tenant, oldest first.
    pub async fn list_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.query_prefix(tenant_pk(tenant), ENDPOINT_SK_PREFIX).await?;
        items.iter().map(|item| from_item(tenant, item)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_read_while_a_change_was_under_way_is_not_kept() {
        let lists = EndpointLists::default();
        let tenant = TenantId::generate();
        let before = lists.generation();
        // A change lands while the read is in flight…
        lists.forget("t", &tenant);
        lists.put("t", &tenant, &[], before);
        assert!(lists.get("t", &tenant).is_none(), "a list from before the change was kept");
        // …while a read that started after it is kept.
        lists.put("t", &tenant, &[], lists.generation());
        assert!(lists.get("t", &tenant).is_some_and(|list| list.is_empty()));
    }
}
