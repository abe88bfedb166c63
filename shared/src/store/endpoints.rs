use serde::{Deserialize, Serialize};

use super::attrs::{Item, get_s, get_ts, parse, s, ts};
use super::{Store, StoreError, tenant_pk};
use crate::domain::{Endpoint, EndpointStatus, EndpointUrl, EventTypePattern, RetryPolicy};
use crate::ids::{EndpointId, TenantId};
use crate::signing::SigningSecret;

/// The endpoint's settings, kept as one JSON attribute so new options do not need new columns.
#[derive(Serialize, Deserialize)]
struct Settings {
    url: EndpointUrl,
    description: String,
    event_types: Vec<EventTypePattern>,
    retry: RetryPolicy,
    status: EndpointStatus,
}

fn to_item(ep: &Endpoint) -> Result<Item, StoreError> {
    let settings = Settings {
        url: ep.url.clone(),
        description: ep.description.clone(),
        event_types: ep.event_types.clone(),
        retry: ep.retry.clone(),
        status: ep.status,
    };
    let settings = serde_json::to_string(&settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok([
        ("pk".to_owned(), s(tenant_pk(&ep.tenant_id))),
        ("sk".to_owned(), s(format!("EP#{}", ep.id))),
        ("settings".to_owned(), s(settings)),
        ("secret".to_owned(), s(ep.secret.expose())),
        ("created_at".to_owned(), ts(ep.created_at)),
    ]
    .into())
}

fn from_item(tenant: &TenantId, item: &Item) -> Result<Endpoint, StoreError> {
    let id = get_s(item, "sk")?.trim_start_matches("EP#");
    let settings: Settings = parse("settings", serde_json::from_str(get_s(item, "settings")?))?;
    Ok(Endpoint {
        id: parse("sk", EndpointId::parse(id))?,
        tenant_id: tenant.clone(),
        url: settings.url,
        description: settings.description,
        event_types: settings.event_types,
        retry: settings.retry,
        secret: parse("secret", SigningSecret::parse(get_s(item, "secret")?))?,
        status: settings.status,
        created_at: get_ts(item, "created_at")?,
    })
}

impl Store {
    pub async fn put_endpoint(&self, ep: &Endpoint) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(ep)?))
            .send()
            .await
            .map_err(StoreError::aws("PutItem"))?;
        Ok(())
    }

    pub async fn get_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(tenant_pk(tenant)))
            .key("sk", s(format!("EP#{id}")))
            .send()
            .await
            .map_err(StoreError::aws("GetItem"))?;
        out.item.map(|item| from_item(tenant, &item)).transpose()
    }

    /// Every endpoint of a tenant, oldest first.
    pub async fn list_endpoints(&self, tenant: &TenantId) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.query_prefix(tenant_pk(tenant), "EP#").await?;
        items.iter().map(|item| from_item(tenant, item)).collect()
    }

    /// Every item under `pk` whose sort key starts with `prefix`, following pagination.
    pub(super) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(StoreError::aws("Query"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }
}
