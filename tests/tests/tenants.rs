//! Tenant controls end to end: a deleted or suspended tenant's traffic stops, API keys can be
//! listed and revoked one by one, and quotas read back as they are enforced.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_shared::delivery::PolicySettings;
use hookline_shared::domain::DeliveryStatus;
use hookline_shared::ids::{EndpointId, EventId, TenantId};
use hookline_tests::{ADMIN_TOKEN, Hookline, Options, Receiver, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A Hookline whose deliver function reads the tenant on every message, so a test sees the
/// tenant check itself rather than waiting out the cache's TTL.
async fn without_tenant_cache() -> Hookline {
    let policy = PolicySettings { tenant_cache_ttl: Duration::ZERO, ..PolicySettings::default() };
    Hookline::start_with(Options { policy, ..Options::default() }).await
}

/// The status and JSON code a tenant's key gets from an API route.
async fn api_answer(hookline: &Hookline, key: &str) -> (u16, String) {
    let (status, body) = hookline.get("/v1/endpoints", key).await;
    (status.as_u16(), body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_deleted_tenants_retries_are_acknowledged_without_sending() {
    let hookline = without_tenant_cache().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    hookline
        .create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1, 1, 1, 1, 1]}}))
        .await;
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    assert_eq!(hookline.queued_messages().await, 1, "the failed delivery waits for its retry");

    let (status, body) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 204, "{body:?}");
    // The retry comes back, finds the tenant gone and is acknowledged: the queue empties with
    // no further request (the old code sent all five retries).
    hookline.deliver_until(|| async { hookline.queued_messages().await == 0 }).await;
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_and_its_deliveries_wait_paused_until_resumed() {
    let hookline = without_tenant_cache().await;
    let tenant = hookline.create_tenant("shop").await;
    let bystander = hookline.create_tenant("bystander").await;
    let receiver = Receiver::answering(&[500]).await;
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await);
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;

    let (status, suspended) =
        hookline.post(&format!("/v1/tenants/{}/suspend", tenant.id), ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, 200, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    let (_, shown) = hookline.get(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(shown["status"], "suspended");

    // Its key is refused by the api and by ingest, with a clear JSON error; others are not.
    assert_eq!(api_answer(&hookline, &tenant.key).await, (403, "tenant_suspended".to_owned()));
    let (status, body) =
        hookline.call("POST", "/v1/events", Some(&tenant.key), Some(r#"{"event_type":"a.b","payload":{}}"#)).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (403, Some("tenant_suspended")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("suspended"));
    assert_eq!(api_answer(&hookline, &bystander.key).await.0, 200);

    // The queued retry is acknowledged without a request, and kept as paused.
    hookline.deliver_until(|| async { hookline.queued_messages().await == 0 }).await;
    assert_eq!(receiver.count(), 1);
    let (tenant_id, event_id, endpoint_id) =
        (TenantId::parse(&tenant.id).unwrap(), EventId::parse(&event).unwrap(), EndpointId::parse(&endpoint).unwrap());
    let delivery = hookline.store().get_delivery(&tenant_id, &event_id, &endpoint_id).await.unwrap().unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Paused);

    let (status, resumed) = hookline.post(&format!("/v1/tenants/{}/resume", tenant.id), ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(api_answer(&hookline, &tenant.key).await.0, 200);
    let since = (OffsetDateTime::now_utc() - time::Duration::hours(1)).format(&Rfc3339).unwrap();
    let (status, body) =
        hookline.post(&format!("/v1/endpoints/{endpoint}/recover"), &tenant.key, json!({"since": since})).await;
    assert_eq!((status, body["requeued"].as_u64()), (StatusCode::ACCEPTED, Some(1)), "{body}");
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    assert_eq!(receiver.count(), 2);

    let unknown = "/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ";
    for action in ["suspend", "resume"] {
        let (status, body) = hookline.post(&format!("{unknown}/{action}"), ADMIN_TOKEN, json!({})).await;
        assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")), "{body}");
        let (status, _) = hookline.post(&format!("/v1/tenants/{}/{action}", tenant.id), &tenant.key, json!({})).await;
        assert_eq!(status, 401, "admin only");
    }
}

/// Whether the key authenticates (a tenant route answers 200, not 401).
async fn key_works(hookline: &Hookline, key: &str) -> bool {
    match api_answer(hookline, key).await {
        (200, _) => true,
        (401, code) if code == "unauthorized" => false,
        other => panic!("unexpected answer {other:?}"),
    }
}

async fn rotate(hookline: &Hookline, tenant: &Tenant, body: Value) -> Value {
    let (status, rotated) =
        hookline.post(&format!("/v1/tenants/{}/api-key/rotate", tenant.id), ADMIN_TOKEN, body).await;
    assert_eq!(status, 200, "{rotated}");
    rotated
}

fn key_of(rotated: &Value) -> String {
    rotated["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn api_keys_are_listed_without_secrets_and_revoked_at_once() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let first = tenant.key.clone();

    // A rotation without grace revokes the old key at once.
    let rotated = rotate(&hookline, &tenant, json!({"grace_seconds": 0})).await;
    let second = key_of(&rotated);
    assert!(!key_works(&hookline, &first).await, "grace 0 revokes the old key");
    assert!(key_works(&hookline, &second).await);
    // The default grace keeps the old one working: two working keys, listed without secrets.
    let rotated = rotate(&hookline, &tenant, json!({})).await;
    let third = key_of(&rotated);
    assert!(key_works(&hookline, &second).await && key_works(&hookline, &third).await);
    let keys_path = format!("/v1/tenants/{}/api-keys", tenant.id);
    let (status, listed) = hookline.get(&keys_path, ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{listed}");
    let keys = listed["data"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{listed}");
    assert_eq!(keys[0]["expires_at"], Value::Null, "the current key first");
    assert_eq!(keys[1]["expires_at"], rotated["previous_key_expires_at"]);
    for key in &keys {
        assert!(key["id"].as_str().unwrap().starts_with("key_"));
        OffsetDateTime::parse(key["created_at"].as_str().unwrap(), &Rfc3339).unwrap();
    }
    let text = listed.to_string();
    for key in [&first, &second, &third] {
        assert!(!text.contains(key.as_str()) && !text.contains(&key[3..]), "a key in the listing: {text}");
    }
    let (status, _) = hookline.get(&keys_path, &third).await;
    assert_eq!(status, 401, "admin only");

    // Revoking the rotated-out key stops it at once and leaves the current one.
    let revoke = |key_id: &Value| format!("{keys_path}/{}", key_id.as_str().unwrap());
    let (status, body) = hookline.delete(&revoke(&keys[1]["id"]), ADMIN_TOKEN).await;
    assert_eq!(status, 204, "{body:?}");
    assert!(!key_works(&hookline, &second).await);
    assert!(key_works(&hookline, &third).await);
    let (status, body) = hookline.delete(&revoke(&keys[1]["id"]), ADMIN_TOKEN).await;
    assert_eq!((status.as_u16(), body.unwrap()["code"].as_str().map(str::to_owned)), (404, Some("not_found".into())));

    // Revoking the current key leaves none; a rotation then issues a fresh one.
    let (status, _) = hookline.delete(&revoke(&keys[0]["id"]), ADMIN_TOKEN).await;
    assert_eq!(status, 204);
    assert!(!key_works(&hookline, &third).await);
    let rotated = rotate(&hookline, &tenant, json!({"grace_seconds": 3600})).await;
    assert_eq!(rotated["previous_key_expires_at"], Value::Null, "there was no key to keep");
    assert!(key_works(&hookline, &key_of(&rotated)).await);

    let path = format!("/v1/tenants/{}/api-key/rotate", tenant.id);
    let (status, body) = hookline.post(&path, ADMIN_TOKEN, json!({"grace_seconds": 8 * 86_400})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "grace_seconds");
    let (status, _) = hookline.get("/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ/api-keys", ADMIN_TOKEN).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn quotas_read_back_exactly_as_they_are_enforced() {
    let hookline = Hookline::start().await;
    let (status, created) = hookline.post("/v1/tenants", ADMIN_TOKEN, json!({"name": "shop"})).await;
    assert_eq!(status, 201, "{created}");
    let defaults = json!({"max_endpoints": 50, "events_per_minute": 600, "replays_per_minute": 60});
    assert_eq!(created["quotas"], defaults, "a new tenant reports the quotas that apply to it");
    assert_eq!(created["status"], "active");
    let tenant = Tenant { id: id(&created), key: created["api_key"].as_str().unwrap().to_owned() };
    let path = format!("/v1/tenants/{}", tenant.id);
    let (_, shown) = hookline.get(&path, ADMIN_TOKEN).await;
    assert_eq!(shown["quotas"], defaults);

    // `null` is no limit, and reads back as `null`, not as the default.
    let (status, body) = hookline.patch(&path, ADMIN_TOKEN, json!({"quotas": {"events_per_minute": null}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quotas"]["events_per_minute"], Value::Null, "{body}");
    let (_, shown) = hookline.get(&path, ADMIN_TOKEN).await;
    assert_eq!(shown["quotas"], json!({"max_endpoints": 50, "events_per_minute": null, "replays_per_minute": 60}));
    let (_, listed) = hookline.get("/v1/tenants", ADMIN_TOKEN).await;
    assert_eq!(listed["data"][0]["quotas"], shown["quotas"]);
    let tenant_id = TenantId::parse(&tenant.id).unwrap();
    let quotas = hookline.store().get_quotas(&tenant_id).await.unwrap();
    assert_eq!(quotas.events_per_minute, None, "what ingest enforces");

    // A number is enforced as shown, and `null` lifts it again.
    let (_, body) = hookline.patch(&path, ADMIN_TOKEN, json!({"quotas": {"max_endpoints": 1}})).await;
    assert_eq!(body["quotas"]["max_endpoints"], 1);
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let (status, body) = hookline.post("/v1/endpoints", &tenant.key, json!({"url": receiver.url})).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (429, Some("quota_exceeded")), "{body}");
    let (_, body) = hookline.patch(&path, ADMIN_TOKEN, json!({"quotas": {"max_endpoints": null}})).await;
    assert_eq!(body["quotas"]["max_endpoints"], Value::Null);
    hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
}
