use std::fmt;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::attrs::{Item, get_s, get_ts, s, ts};
use super::{Store, StoreError, tenant_pk};
use crate::ids::TenantId;

#[derive(Clone, Debug, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
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

fn key_pk(presented: &str) -> String {
    format!("KEY#{}", ApiKey::hash(presented))
}

impl Store {
    /// Creates a tenant and its first API key in one transaction.
    pub async fn create_tenant(&self, name: &str) -> Result<(Tenant, ApiKey), StoreError> {
        let tenant = Tenant { id: TenantId::generate(), name: name.to_owned(), created_at: OffsetDateTime::now_utc() };
        let key = ApiKey::generate();
        let tenant_item: Item = [
            ("pk".to_owned(), s(tenant_pk(&tenant.id))),
            ("sk".to_owned(), s("TEN")),
            ("name".to_owned(), s(&tenant.name)),
            ("created_at".to_owned(), ts(tenant.created_at)),
        ]
        .into();
        let key_item: Item = [
            ("pk".to_owned(), s(key_pk(key.expose()))),
            ("sk".to_owned(), s("KEY")),
            ("tenant_id".to_owned(), s(tenant.id.as_str())),
            ("created_at".to_owned(), ts(tenant.created_at)),
        ]
        .into();
        let puts = [tenant_item, key_item].into_iter().map(|item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
        });
        let items = puts.collect::<Result<Vec<_>, _>>().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(StoreError::aws("TransactWriteItems"))?;
        Ok((tenant, key))
    }

    /// The tenant a presented API key belongs to, if any.
    pub async fn tenant_for_key(&self, presented: &str) -> Result<Option<TenantId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key_pk(presented)))
            .key("sk", s("KEY"))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        match out.item {
            None => Ok(None),
            Some(item) => {
                let id = get_s(&item, "tenant_id")?;
                TenantId::parse(id).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
            }
        }
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(id)))
            .key("sk", s("TEN"))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item
            .map(|item| {
                Ok(Tenant {
                    id: id.clone(),
                    name: get_s(&item, "name")?.to_owned(),
                    created_at: get_ts(&item, "created_at")?,
                })
            })
            .transpose()
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
        assert_eq!(pk.len(), "KEY#".len() + 64);
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }
}
