//! What an endpoint keeps secret is sealed at rest, bound to its item, and shown only once:
//! credentials, custom header values and credentials in the URL's query.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_shared::ids::{EndpointId, TenantId};
use hookline_tests::{Hookline, Receiver, Tenant};
use serde_json::{Value, json};

type Item = HashMap<String, AttributeValue>;

async fn raw_item(hookline: &Hookline, tenant: &Tenant, endpoint: &str) -> Item {
    let out = hookline
        .clients
        .dynamodb
        .get_item()
        .table_name(&hookline.resources.table)
        .set_key(Some(tenant.endpoint_key(endpoint)))
        .send()
        .await
        .unwrap();
    out.item.expect("the endpoint's item")
}

async fn put_raw_item(hookline: &Hookline, item: Item) {
    hookline
        .clients
        .dynamodb
        .put_item()
        .table_name(&hookline.resources.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn attribute_text(item: &Item) -> String {
    item.values().filter_map(|v| v.as_s().ok()).cloned().collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn header_values_and_url_credentials_are_sealed_and_shown_only_at_creation() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let receiver = Receiver::start().await;
    let url = format!("{}?token=url-token-secret&room=kitchen", receiver.url);
    let created = hookline
        .create_endpoint(&tenant, json!({"url": url, "headers": [{"name": "X-Api-Key", "value": "header-secret"}]}))
        .await;
    let id = created["id"].as_str().unwrap();
    // Once, at creation, everything the tenant sent.
    assert_eq!(created["url"], url);
    assert_eq!(created["headers"], json!([{"name": "X-Api-Key", "value": "header-secret"}]));

    // At rest, neither secret is readable.
    let stored = attribute_text(&raw_item(&hookline, &tenant, id).await);
    for secret in ["header-secret", "url-token-secret"] {
        assert!(!stored.contains(secret), "`{secret}` is stored in plain text:\n{stored}");
    }

    // Afterwards, redacted: in the endpoint, the list and a patch's answer.
    let shown = hookline.endpoint(&tenant, id).await;
    assert_eq!(shown["headers"], json!([{"name": "X-Api-Key"}]));
    assert_eq!(shown["url"], format!("{}?token=redacted&room=kitchen", receiver.url));
    let (_, listed) = hookline.get("/v1/endpoints", &tenant.key).await;
    let (_, patched) = hookline.patch(&format!("/v1/endpoints/{id}"), &tenant.key, json!({"description": "d"})).await;
    for body in [listed, patched] {
        let text = body.to_string();
        assert!(!text.contains("header-secret") && !text.contains("url-token-secret"), "{text}");
    }

    // And still sent, whole, after the patch rewrote the item.
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = &receiver.received()[0];
    assert_eq!(request.header("x-api-key"), "header-secret");
    assert_eq!(request.uri.query(), Some("token=url-token-secret&room=kitchen"));
}

#[tokio::test]
async fn a_sealed_value_copied_to_another_endpoint_does_not_open() {
    let hookline = Hookline::start().await;
    let (victim, attacker) = (hookline.create_tenant("victim").await, hookline.create_tenant("attacker").await);
    let auth = json!({"type": "bearer", "token": "victims-token"});
    let theirs = hookline
        .create_endpoint(&victim, json!({"url": "https://example.com/a", "event_types": ["never.sent"], "auth": auth}))
        .await;
    let mine = hookline
        .create_endpoint(&attacker, json!({"url": "https://example.com/b", "event_types": ["never.sent"]}))
        .await;
    let (theirs, mine) = (theirs["id"].as_str().unwrap(), mine["id"].as_str().unwrap());

    // Someone who can write the table (but has no key) moves the victim's sealed credentials
    // and signing secret into their own endpoint.
    let source = raw_item(&hookline, &victim, theirs).await;
    let mut target = raw_item(&hookline, &attacker, mine).await;
    for field in ["auth", "secret"] {
        let mut moved = target.clone();
        moved.insert(field.to_owned(), source[field].clone());
        put_raw_item(&hookline, moved).await;
        let read = hookline
            .store()
            .get_endpoint(&TenantId::parse(&attacker.id).unwrap(), &EndpointId::parse(mine).unwrap())
            .await;
        assert!(read.is_err(), "the victim's `{field}` opened in another tenant's endpoint: {read:?}");
    }
    // Within one item, a value moved to another field does not open either.
    target.insert("previous_secret".to_owned(), target["secret"].clone());
    target.insert("previous_secret_until".to_owned(), AttributeValue::S("2999-01-01T00:00:00Z".to_owned()));
    put_raw_item(&hookline, target).await;
    let read =
        hookline.store().get_endpoint(&TenantId::parse(&attacker.id).unwrap(), &EndpointId::parse(mine).unwrap()).await;
    assert!(read.is_err(), "the secret opened as the previous secret: {read:?}");
}

#[tokio::test]
async fn endpoints_written_before_binding_still_read() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("old").await;
    let receiver = Receiver::start().await;
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "auth": {"type": "bearer", "token": "old-token"},
                   "headers": [{"name": "X-Team", "value": "core"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    // Rewrite the item as the previous version stored it: `v1:` values without a binding, and
    // header values in the settings' JSON.
    let key = hookline_shared::crypto::installed().unwrap();
    let mut item = raw_item(&hookline, &tenant, id).await;
    item.insert("auth".to_owned(), AttributeValue::S(key.seal(br#"{"type":"bearer","token":"old-token"}"#)));
    item.insert("secret".to_owned(), AttributeValue::S(key.seal(created["secret"].as_str().unwrap().as_bytes())));
    item.remove("headers");
    let mut settings: Value = serde_json::from_str(item["settings"].as_s().unwrap()).unwrap();
    settings["options"]["headers"] = json!([{"name": "X-Team", "value": "core"}]);
    item.insert("settings".to_owned(), AttributeValue::S(settings.to_string()));
    put_raw_item(&hookline, item).await;

    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = &receiver.received()[0];
    assert_eq!(request.header("authorization"), "Bearer old-token");
    assert_eq!(request.header("x-team"), "core");
    assert!(request.header("webhook-signature").starts_with("v1,"));
}
