use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::types::Update;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::attrs::{Item, get_s, get_ts, n, opt_n, s, ts};
use super::events::{Page, SkRange};
use super::keys::{
    API_KEY_REF_SK_PREFIX, API_KEY_SK, TENANT_LIST_SK_PREFIX, TENANT_SK, TENANTS_PK, api_key_pk, api_key_ref_sk,
    tenant_list_sk,
};
use super::quotas::{ENDPOINT_COUNT, EVENTS_PER_MINUTE, MAX_ENDPOINTS, Quotas, REPLAYS_PER_MINUTE};
use super::table::{Transaction, conditional, transact_update};
use super::{Store, StoreError, tenant_pk};
use crate::ids::TenantId;

/// How long a rotated-out API key keeps working by default, so senders can switch without
/// downtime.
pub const KEY_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest grace a rotation may give the key it replaces.
pub const MAX_KEY_ROTATION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub status: TenantStatus,
    pub quotas: Quotas,
}

/// Whether a tenant may use Hookline. A suspended tenant's keys are refused (403) and its
/// queued deliveries are paused instead of sent, until the operator resumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

/// What the deliver function needs to know about a message's tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantState {
    Active,
    Suspended,
    /// Deleted, or being deleted.
    Gone,
}

/// One of a tenant's API keys, as the API lists it: never the key itself.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    /// `key_` and the first 24 hex digits of the key's SHA-256: enough to name it, not to use it.
    #[schema(value_type = ApiKeyId)]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a rotated-out key stops working; `null` for the current key.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

const KEY_ID_PREFIX: &str = "key_";
const KEY_ID_HEX_DIGITS: usize = 24;

/// An API key's id as a path names it (`key_` and 24 lowercase hex digits); anything else
/// names no key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ApiKeyId(String);

impl TryFrom<String> for ApiKeyId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let hex = value.strip_prefix(KEY_ID_PREFIX).unwrap_or_default();
        if hex.len() == KEY_ID_HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(value))
        } else {
            Err(format!("`{value}` is not an API key id"))
        }
    }
}

impl ApiKeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for ApiKeyId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::string_schema("An API key's id: `key_` and 24 hex digits.", Some("^key_[0-9a-f]{24}$"), None)
    }
}

impl utoipa::ToSchema for ApiKeyId {}

impl std::fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn key_id(hash: &str) -> String {
    format!("{KEY_ID_PREFIX}{}", &hash[..KEY_ID_HEX_DIGITS.min(hash.len())])
}

/// A tenant's API key (`hk_…`). Shown once at creation; only its SHA-256 is stored, which is
/// enough for a 256-bit random key (no dictionary to guess from, so no slow hash is needed).
pub struct ApiKey(String);

impl ApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("hk_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn hash(key: &str) -> String {
        Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A new key, and until when the key it replaced still works (`None`: there was none).
#[derive(Debug)]
pub struct RotatedKey {
    pub api_key: ApiKey,
    pub previous_key_expires_at: Option<OffsetDateTime>,
}

/// What `PATCH /v1/tenants/{id}` changes. For a quota, `Some(None)` removes the limit (stored
/// as `NULL`, so it does not fall back to the default).
#[derive(Debug, Default)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub max_endpoints: Option<Option<u32>>,
    pub events_per_minute: Option<Option<u32>>,
    pub replays_per_minute: Option<Option<u32>>,
}

impl TenantUpdate {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.max_endpoints.is_none()
            && self.events_per_minute.is_none()
            && self.replays_per_minute.is_none()
    }
}

fn key_pk(presented: &str) -> String {
    api_key_pk(&ApiKey::hash(presented))
}

fn tenant_from_item(id: TenantId, item: &Item) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id,
        name: get_s(item, "name")?.to_owned(),
        created_at: get_ts(item, "created_at")?,
        status: if item.contains_key("suspended") { TenantStatus::Suspended } else { TenantStatus::Active },
        quotas: Quotas::from_item(item)?,
    })
}

impl Store {
    /// Creates a tenant, its entry in the `TENANTS` list and its first API key, in one
    /// transaction.
    pub async fn create_tenant(&self, name: &str) -> Result<(Tenant, ApiKey), StoreError> {
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            created_at: OffsetDateTime::now_utc(),
            status: TenantStatus::Active,
            quotas: Quotas::default(),
        };
        let key = ApiKey::generate();
        let hash = ApiKey::hash(key.expose());
        let tenant_item = |pk: String, sk: String| -> Item {
            [
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
                ("name".to_owned(), s(&tenant.name)),
                ("created_at".to_owned(), ts(tenant.created_at)),
            ]
            .into()
        };
        let key_item: Item = [
            ("pk".to_owned(), s(api_key_pk(&hash))),
            ("sk".to_owned(), s(API_KEY_SK)),
            ("tenant_id".to_owned(), s(tenant.id.as_str())),
            ("created_at".to_owned(), ts(tenant.created_at)),
        ]
        .into();
        let key_ref: Item = [
            ("pk".to_owned(), s(tenant_pk(&tenant.id))),
            ("sk".to_owned(), s(api_key_ref_sk(&hash))),
            ("created_at".to_owned(), ts(tenant.created_at)),
        ]
        .into();
        let mut main_item = tenant_item(tenant_pk(&tenant.id), TENANT_SK.to_owned());
        main_item.insert(ENDPOINT_COUNT.to_owned(), n(0));
        let items =
            [main_item, tenant_item(TENANTS_PK.to_owned(), tenant_list_sk(tenant.id.as_str())), key_item, key_ref]
                .into_iter()
                .map(|item| self.put(item, Some("attribute_not_exists(pk)")))
                .collect::<Result<Vec<_>, _>>()?;
        match self.transact(items).await? {
            Transaction::Committed => Ok((tenant, key)),
            Transaction::ConditionFailed(_) => {
                Err(StoreError::Corrupt("a fresh tenant id or API key is already taken".to_owned()))
            }
        }
    }

    /// The tenant a presented API key belongs to, if any. A rotated-out key counts until its
    /// `expires_at` (DynamoDB's TTL removes it some time after).
    pub async fn tenant_for_key(&self, presented: &str) -> Result<Option<TenantId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key_pk(presented)))
            .key("sk", s(API_KEY_SK))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        match out.item {
            None => Ok(None),
            Some(item) => {
                if let Some(expires_at) = opt_n::<i64>(&item, "expires_at")?
                    && expires_at <= OffsetDateTime::now_utc().unix_timestamp()
                {
                    return Ok(None);
                }
                let id = get_s(&item, "tenant_id")?;
                TenantId::parse(id).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
        }
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.read_tenant(id, false).await
    }

    async fn read_tenant(&self, id: &TenantId, consistent: bool) -> Result<Option<Tenant>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id)))
            .key("sk", s(TENANT_SK))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.map(|item| tenant_from_item(id.clone(), &item).map_err(|e| e.in_item(&item))).transpose()
    }

    /// A page of tenants, oldest first (a Query of the `TENANTS` partition).
    /// `after` is the last tenant id of the previous page.
    pub async fn list_tenants(&self, limit: usize, after: Option<&str>) -> Result<Page<Tenant>, StoreError> {
        // `~` sorts after every character of an id.
        let range =
            SkRange { pk: TENANTS_PK.to_owned(), lo: TENANT_LIST_SK_PREFIX.to_owned(), hi: tenant_list_sk("~") };
        let after = after.map(tenant_list_sk);
        let page = self.query_range(&range, false, limit, after.as_deref(), |q| q).await?;
        let items = page
            .items
            .iter()
            .map(|item| {
                let id = TenantId::parse(get_s(item, "sk")?.trim_start_matches(TENANT_LIST_SK_PREFIX))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tenant_from_item(id, item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = page.last_key.map(|sk| sk.trim_start_matches(TENANT_LIST_SK_PREFIX).to_owned());
        Ok(Page { items, next })
    }

    /// Renames the tenant and sets or removes quotas, on the tenant item and its list entry
    /// together. `None` if there is no such tenant.
    pub async fn update_tenant(&self, id: &TenantId, update: &TenantUpdate) -> Result<Option<Tenant>, StoreError> {
        if update.is_empty() {
            return self.read_tenant(id, true).await;
        }
        let mut set = Vec::new();
        let mut names: Vec<(String, &str)> = Vec::new();
        let mut values = Vec::new();
        if let Some(name) = &update.name {
            set.push("#name = :name".to_owned());
            names.push(("#name".to_owned(), "name"));
            values.push((":name".to_owned(), s(name)));
        }
        let quotas = [
            (MAX_ENDPOINTS, update.max_endpoints),
            (EVENTS_PER_MINUTE, update.events_per_minute),
            (REPLAYS_PER_MINUTE, update.replays_per_minute),
        ];
        for (attr, change) in quotas {
            let value = match change {
                None => continue,
                Some(Some(limit)) => n(limit),
                // An absent attribute means the default: no limit is a stored NULL.
                Some(None) => aws_sdk_dynamodb::types::AttributeValue::Null(true),
            };
            set.push(format!("#{attr} = :{attr}"));
            values.push((format!(":{attr}"), value));
            names.push((format!("#{attr}"), attr));
        }
        let expression = format!("SET {}", set.join(", "));
        let items = [(tenant_pk(id), TENANT_SK.to_owned()), (TENANTS_PK.to_owned(), tenant_list_sk(id.as_str()))]
            .into_iter()
            .map(|(pk, sk)| {
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .update_expression(expression.trim())
                    .condition_expression("attribute_exists(pk)");
                for (placeholder, attr) in &names {
                    update = update.expression_attribute_names(placeholder, *attr);
                }
                for (placeholder, value) in &values {
                    update = update.expression_attribute_values(placeholder, value.clone());
                }
                transact_update(update)
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact(items).await? {
            Transaction::Committed => self.read_tenant(id, true).await,
            Transaction::ConditionFailed(_) => Ok(None),
        }
    }

    /// The hashes of the tenant's keys, with the `expires_at` of those rotated out.
    async fn key_refs(&self, id: &TenantId) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        let items = self.query_prefix(tenant_pk(id), API_KEY_REF_SK_PREFIX).await?;
        items
            .iter()
            .map(|item| {
                Ok((
                    get_s(item, "sk")?.trim_start_matches(API_KEY_REF_SK_PREFIX).to_owned(),
                    opt_n(item, "expires_at")?,
                ))
            })
            .collect()
    }

    /// The tenant's working keys (current first, then by creation), without the keys
    /// themselves. `None` if there is no such tenant.
    pub async fn list_api_keys(&self, id: &TenantId) -> Result<Option<Vec<ApiKeyInfo>>, StoreError> {
        if self.read_tenant(id, true).await?.is_none() {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let items = self.query_prefix(tenant_pk(id), API_KEY_REF_SK_PREFIX).await?;
        let mut keys = Vec::new();
        for item in &items {
            let expires: Option<i64> = opt_n(item, "expires_at")?;
            if expires.is_some_and(|at| at <= now) {
                continue;
            }
            let hash = get_s(item, "sk")?.trim_start_matches(API_KEY_REF_SK_PREFIX);
            keys.push(ApiKeyInfo {
                id: key_id(hash),
                created_at: get_ts(item, "created_at")?,
                expires_at: expires
                    .map(|at| OffsetDateTime::from_unix_timestamp(at).map_err(|e| StoreError::Corrupt(e.to_string())))
                    .transpose()?,
            });
        }
        keys.sort_by_key(|k| (k.expires_at.is_some(), k.created_at));
        Ok(Some(keys))
    }

    /// Revokes one key at once: its key item and the tenant's reference go in one
    /// transaction. `None` if there is no such tenant, `Some(false)` if it has no working key
    /// with this id.
    pub async fn revoke_api_key(&self, id: &TenantId, key: &ApiKeyId) -> Result<Option<bool>, StoreError> {
        if self.read_tenant(id, true).await?.is_none() {
            return Ok(None);
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let Some((hash, _)) = self
            .key_refs(id)
            .await?
            .into_iter()
            .find(|(hash, expires)| key_id(hash) == key.as_str() && expires.is_none_or(|at| at > now))
        else {
            return Ok(Some(false));
        };
        let keys = [(api_key_pk(&hash), API_KEY_SK.to_owned()), (tenant_pk(id), api_key_ref_sk(&hash))];
        match self.delete_together(keys).await? {
            Transaction::Committed | Transaction::ConditionFailed(_) => Ok(Some(true)),
        }
    }

    /// Issues a new API key and lets the current one work for `grace` more (zero: not at all).
    /// Keys rotated out earlier keep their own expiry. A tenant whose keys were all revoked
    /// just gets a new one. `None` if there is no such tenant.
    pub async fn rotate_api_key(&self, id: &TenantId, grace: Duration) -> Result<Option<RotatedKey>, StoreError> {
        let refs = self.key_refs(id).await?;
        let current = refs.iter().find(|(_, expires)| expires.is_none()).map(|(hash, _)| hash.clone());
        let now = OffsetDateTime::now_utc();
        // Stored in whole seconds (the TTL attribute), so report it as stored.
        let expires_at = (now + grace).replace_nanosecond(0).unwrap_or(now + grace);
        let key = ApiKey::generate();
        let hash = ApiKey::hash(key.expose());
        let new_key: Item = [
            ("pk".to_owned(), s(api_key_pk(&hash))),
            ("sk".to_owned(), s(API_KEY_SK)),
            ("tenant_id".to_owned(), s(id.as_str())),
            ("created_at".to_owned(), ts(now)),
        ]
        .into();
        let new_ref: Item = [
            ("pk".to_owned(), s(tenant_pk(id))),
            ("sk".to_owned(), s(api_key_ref_sk(&hash))),
            ("created_at".to_owned(), ts(now)),
        ]
        .into();
        let expire = |pk: String, sk: String| {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("SET expires_at = :expires")
                // A concurrent rotation that got there first cancels this one.
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(expires_at)")
                .expression_attribute_values(":expires", n(expires_at.unix_timestamp()));
            transact_update(update)
        };
        // Touching the tenant item makes the rotation fail if the tenant is gone or going.
        let tenant = Update::builder()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id)))
            .key("sk", s(TENANT_SK))
            .update_expression("SET key_rotated_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .expression_attribute_values(":now", ts(now));
        let tenant = transact_update(tenant)?;
        let mut items = vec![tenant, self.put(new_key, Some("attribute_not_exists(pk)"))?];
        items.push(self.put(new_ref, Some("attribute_not_exists(pk)"))?);
        if let Some(current) = &current {
            items.push(expire(api_key_pk(current), API_KEY_SK.to_owned())?);
            items.push(expire(tenant_pk(id), api_key_ref_sk(current))?);
        }
        match self.transact(items).await? {
            Transaction::Committed => {
                Ok(Some(RotatedKey { api_key: key, previous_key_expires_at: current.map(|_| expires_at) }))
            }
            Transaction::ConditionFailed(failed) if failed.first() == Some(&true) => Ok(None),
            // Another rotation of the same key won.
            Transaction::ConditionFailed(_) => Err(StoreError::Conflict { op: "TransactWriteItems" }),
        }
    }

    /// Suspends or resumes a tenant, on the tenant item and its list entry. `None` if there is
    /// no such tenant (or it is being deleted).
    pub async fn set_tenant_suspended(&self, id: &TenantId, suspended: bool) -> Result<Option<Tenant>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let items = [
            (tenant_pk(id), TENANT_SK.to_owned(), "attribute_exists(pk) AND attribute_not_exists(deleting)"),
            (TENANTS_PK.to_owned(), tenant_list_sk(id.as_str()), "attribute_exists(pk)"),
        ]
        .into_iter()
        .map(|(pk, sk, condition)| {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression(condition);
            let update = if suspended {
                update.update_expression("SET suspended = :now").expression_attribute_values(":now", ts(now))
            } else {
                update.update_expression("REMOVE suspended")
            };
            transact_update(update)
        })
        .collect::<Result<Vec<_>, _>>()?;
        match self.transact(items).await? {
            Transaction::Committed => self.read_tenant(id, true).await,
            Transaction::ConditionFailed(_) => Ok(None),
        }
    }

    /// Whether the tenant is active, suspended or gone (deleted, or being deleted): one small
    /// GetItem, for the deliver function's tenant check and for API keys.
    pub async fn tenant_state(&self, id: &TenantId) -> Result<TenantState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id)))
            .key("sk", s(TENANT_SK))
            .projection_expression("pk, suspended, deleting")
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        Ok(match out.item {
            None => TenantState::Gone,
            Some(item) if item.contains_key("deleting") => TenantState::Gone,
            Some(item) if item.contains_key("suspended") => TenantState::Suspended,
            Some(_) => TenantState::Active,
        })
    }

    /// Deletes the tenant, its `TENANTS` entry and every API key, so its keys stop working at
    /// once. The tenant's other items (endpoints, event types, events and their log) are left:
    /// no key can reach them any more, and message records expire through DynamoDB's TTL.
    /// Returns false if there is no such tenant.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<bool, StoreError> {
        // Mark it first, so a rotation cannot add a key after the keys are listed. A retry after
        // a failure half-way finds the mark and finishes.
        let mark = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id)))
            .key("sk", s(TENANT_SK))
            .update_expression("SET deleting = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .send()
            .await;
        if conditional(mark, "UpdateItem")?.is_none() {
            return Ok(false);
        }
        let mut keys = Vec::new();
        for (hash, _) in self.key_refs(id).await? {
            keys.push((api_key_pk(&hash), API_KEY_SK.to_owned()));
            keys.push((tenant_pk(id), api_key_ref_sk(&hash)));
        }
        // Keys first: a failure after this leaves a tenant nobody can authenticate as.
        self.batch_delete(keys).await?;
        let items = [(tenant_pk(id), TENANT_SK.to_owned()), (TENANTS_PK.to_owned(), tenant_list_sk(id.as_str()))];
        match self.delete_together(items).await? {
            Transaction::Committed | Transaction::ConditionFailed(_) => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_stored_only_as_a_hash() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert!(a.expose().starts_with("hk_"));
        assert_ne!(a.expose(), b.expose());
        let pk = key_pk(a.expose());
        assert!(!pk.contains(&a.expose()[3..]));
        assert_eq!(pk.len(), api_key_pk("").len() + 64);
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }

    #[test]
    fn a_key_id_names_the_key_without_giving_its_hash_away() {
        let hash = ApiKey::hash(ApiKey::generate().expose());
        let id = key_id(&hash);
        assert_eq!(id.len(), KEY_ID_PREFIX.len() + KEY_ID_HEX_DIGITS);
        assert!(hash.starts_with(&id[KEY_ID_PREFIX.len()..]) && hash.len() > KEY_ID_HEX_DIGITS);
    }
}
