//! Endpoints over their life: update, enable and disable, list with filters and cursors,
//! delete, the endpoint quota, and signing secrets with rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_shared::signing::SigningSecret;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use serde_json::{Value, json};

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_patch_changes_what_it_names_and_is_validated_as_a_whole() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (old, new) = (Receiver::start().await, Receiver::start().await);
    let created = hookline
        .create_endpoint(&tenant, json!({"url": old.url, "event_types": ["order.*"], "description": "orders"}))
        .await;
    let path = format!("/v1/endpoints/{}", id(&created));
    let (status, patched) = hookline
        .patch(&path, &tenant.key, json!({"url": new.url, "event_types": ["invoice.*"], "timeout_ms": 2000}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["url"], new.url);
    assert_eq!(patched["event_types"], json!(["invoice.*"]));
    assert_eq!(patched["description"], "orders", "fields not named are kept");
    assert_eq!(patched["timeout_ms"], 2000);

    let accepted = hookline.publish(&tenant, json!({"event_type": "invoice.sent", "payload": {}})).await;
    assert_eq!(accepted["deliveries"], 1);
    hookline.deliver_until(|| async { new.count() >= 1 }).await;
    assert_eq!(old.count(), 0);

    let (status, body) = hookline.patch(&path, &tenant.key, json!({"url": "ftp://x", "timeout_ms": 5})).await;
    assert_eq!(status, 422);
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("url"), json!("timeout_ms")]);
    let (status, _) = hookline.patch(&path, &tenant.key, json!({"colour": "red"})).await;
    assert_eq!(status, 422, "unknown fields are refused");
    let other = hookline.create_tenant("other").await;
    let (status, _) = hookline.patch(&path, &other.key, json!({"description": "mine"})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn disabling_stops_new_deliveries_and_enabling_restores_them() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let created = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let path = format!("/v1/endpoints/{}", id(&created));
    let (_, shown) = hookline.patch(&path, &tenant.key, json!({"enabled": false})).await;
    assert_eq!(
        (shown["status"].as_str(), shown["disabled_reason"].as_str()),
        (Some("disabled"), Some("disabled by the tenant"))
    );
    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    assert_eq!(accepted["deliveries"], 0);
    let (_, shown) = hookline.patch(&path, &tenant.key, json!({"enabled": true})).await;
    assert_eq!(shown["status"], "active");
    assert!(shown["disabled_reason"].is_null());
    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    assert_eq!(accepted["deliveries"], 1);
}

#[tokio::test]
async fn lists_page_with_cursors_and_filter_by_status_and_event_type() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let mut ids = Vec::new();
    for types in [json!(["order.*"]), json!(["invoice.sent"]), json!(["*"])] {
        let created =
            hookline.create_endpoint(&tenant, json!({"url": "https://example.com/hook", "event_types": types})).await;
        ids.push(id(&created));
    }
    let (_, page) = hookline.get("/v1/endpoints?limit=2", &tenant.key).await;
    let first: Vec<_> = page["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(first, ids[..2]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = hookline.get(&format!("/v1/endpoints?limit=2&cursor={cursor}"), &tenant.key).await;
    let second: Vec<_> = page["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(second, ids[2..]);
    assert!(page["next_cursor"].is_null());

    let (_, orders) = hookline.get("/v1/endpoints?event_type=order.created", &tenant.key).await;
    let matched: Vec<_> = orders["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(matched, [ids[0].clone(), ids[2].clone()]);
    hookline.patch(&format!("/v1/endpoints/{}", ids[1]), &tenant.key, json!({"enabled": false})).await;
    let (_, disabled) = hookline.get("/v1/endpoints?status=disabled", &tenant.key).await;
    let matched: Vec<_> = disabled["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(matched, [ids[1].clone()]);
    let (status, _) = hookline.get("/v1/endpoints?limit=0", &tenant.key).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_deleted_endpoint_is_gone_and_the_endpoint_quota_is_enforced() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    hookline.patch(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN, json!({"quotas": {"max_endpoints": 2}})).await;
    let a =
        hookline.create_endpoint(&tenant, json!({"url": "https://example.com/a", "event_types": ["never.sent"]})).await;
    hookline.create_endpoint(&tenant, json!({"url": "https://example.com/b", "event_types": ["never.sent"]})).await;
    let (status, headers, body) = hookline
        .call_full(
            "POST",
            "/v1/endpoints",
            Some(&tenant.key),
            Some(&json!({"url": "https://example.com/c"}).to_string()),
        )
        .await;
    let body = body.unwrap();
    assert_eq!((status.as_u16(), body["code"].as_str()), (429, Some("quota_exceeded")), "{body}");
    assert_eq!(headers["retry-after"], "60");

    let path = format!("/v1/endpoints/{}", id(&a));
    let (status, _) = hookline.delete(&path, &tenant.key).await;
    assert_eq!(status, 204);
    let (status, _) = hookline.get(&path, &tenant.key).await;
    assert_eq!(status, 404);
    let (status, _) = hookline.delete(&path, &tenant.key).await;
    assert_eq!(status, 404);
    let (status, _) = hookline.post("/v1/endpoints", &tenant.key, json!({"url": "https://example.com/c"})).await;
    assert_eq!(status, 201, "room again after the delete");
}

#[tokio::test]
async fn a_rotated_secret_keeps_signing_beside_the_new_one_during_its_grace() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let created = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let secret_path = format!("/v1/endpoints/{}/secret", id(&created));
    let (_, shown) = hookline.get(&secret_path, &tenant.key).await;
    assert_eq!(shown["secret"], created["secret"]);
    assert!(shown["previous_secret"].is_null());

    let (status, rotated) =
        hookline.post(&format!("{secret_path}/rotate"), &tenant.key, json!({"grace_seconds": 3600})).await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], created["secret"]);
    assert_eq!(rotated["previous_secret"], created["secret"]);
    let (status, _) =
        hookline.post(&format!("{secret_path}/rotate"), &tenant.key, json!({"grace_seconds": 864_000})).await;
    assert_eq!(status, 422, "grace is at most 7 days");

    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"x": 1}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = &receiver.received()[0];
    let header = request.header("webhook-signature");
    assert_eq!(header.split(' ').count(), 2, "{header}");
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    let event_id = accepted["id"].as_str().unwrap();
    for secret in [&rotated["secret"], &created["secret"]] {
        let secret = SigningSecret::parse(secret.as_str().unwrap()).unwrap();
        assert!(secret.verify(event_id, timestamp, &request.body, header));
    }
    // Secrets are never part of the endpoint's view.
    let (_, view) = hookline.get(&format!("/v1/endpoints/{}", id(&created)), &tenant.key).await;
    assert!(!view.to_string().contains("whsec_"));
}

#[tokio::test]
async fn secrets_and_credentials_are_sealed_at_rest() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({"url": "https://example.com/hook", "event_types": ["never.sent"],
                   "auth": {"type": "bearer", "token": "tok-very-secret"}}),
        )
        .await;
    let item = hookline
        .clients
        .dynamodb
        .get_item()
        .table_name(&hookline.resources.table)
        .set_key(Some(tenant.endpoint_key(&id(&created))))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let raw = format!("{item:?}");
    assert!(!raw.contains("tok-very-secret"), "the bearer token is not stored in clear");
    let secret = created["secret"].as_str().unwrap();
    assert!(!raw.contains(&secret["whsec_".len()..]), "the signing secret is not stored in clear");
    // `v2`: sealed bound to this tenant, item and field (`tests/sealing.rs`).
    assert!(item["secret"].as_s().unwrap().starts_with("v2:"));
    assert!(item["auth"].as_s().unwrap().starts_with("v2:"));
    // And the API still reads them back.
    let (_, shown) = hookline.get(&format!("/v1/endpoints/{}/secret", id(&created)), &tenant.key).await;
    assert_eq!(shown["secret"], created["secret"]);
    let (_, view) = hookline.get(&format!("/v1/endpoints/{}", id(&created)), &tenant.key).await;
    assert_eq!(view["auth"], json!({"type": "bearer"}));
}
