//! API key → tenant, and the tenant's policy, kept per warm instance: a warm instance acts on
//! what it read for at most its TTL (`HOOKLINE_AUTH_CACHE_SECONDS`, ≤ 10 s), an instance that
//! has not read it yet sees a suspension or deletion at once, and a short TTL makes every
//! instance see it once the TTL has passed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_tests::{ADMIN_TOKEN, Hookline, Options};
use reqwest::StatusCode;
use serde_json::json;

/// Another warm ingest instance on the same table and queue, with its own caches.
async fn another_ingest(hookline: &Hookline, ttl: Duration) -> String {
    let config = hookline_shared::config::Config { auth_cache_ttl: ttl, ..hookline.resources.config(ADMIN_TOKEN) };
    hookline.serve_ingest_with(config).await
}

async fn publish_to(url: &str, key: &str) -> StatusCode {
    let body = json!({"event_type": "order.created", "payload": {"n": 1}});
    reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_warm_instance_reads_a_key_and_its_tenant_once_per_ttl() {
    let hookline =
        Hookline::start_with(Options { auth_cache_ttl: Duration::from_secs(10), ..Options::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let warm = another_ingest(&hookline, Duration::from_secs(10)).await;
    assert_eq!(publish_to(&warm, &tenant.key).await, StatusCode::ACCEPTED);

    // Suspended: the warm instance still holds the tenant's policy; a cold one refuses.
    let (status, body) = hookline.post(&format!("/v1/tenants/{}/suspend", tenant.id), ADMIN_TOKEN, json!({})).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(publish_to(&warm, &tenant.key).await, StatusCode::ACCEPTED, "served from the warm instance's cache");
    let cold = another_ingest(&hookline, Duration::from_secs(10)).await;
    assert_eq!(publish_to(&cold, &tenant.key).await, StatusCode::FORBIDDEN);

    // Deleted: the key is gone for every instance that has not read it within its TTL.
    let (status, _) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert!(status.is_success());
    let cold = another_ingest(&hookline, Duration::from_secs(10)).await;
    assert_eq!(publish_to(&cold, &tenant.key).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deleted_tenant_is_refused_by_every_warm_instance_once_its_ttl_has_passed() {
    let short = Duration::from_millis(300);
    let hookline = Hookline::start_with(Options { auth_cache_ttl: short, ..Options::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let warm_long = another_ingest(&hookline, Duration::from_secs(10)).await;
    let warm_short = another_ingest(&hookline, short).await;
    assert_eq!(publish_to(&warm_long, &tenant.key).await, StatusCode::ACCEPTED);
    assert_eq!(publish_to(&warm_short, &tenant.key).await, StatusCode::ACCEPTED);
    let (status, _) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert!(status.is_success());
    assert_eq!(publish_to(&warm_long, &tenant.key).await, StatusCode::ACCEPTED, "within its 10 s TTL");
    // Not a timing assertion: waiting past the short TTL is the setup; the refusal is the behaviour.
    tokio::time::sleep(short * 2).await;
    assert_eq!(publish_to(&warm_short, &tenant.key).await, StatusCode::UNAUTHORIZED);
    let (status, _) = hookline.get("/v1/endpoints", &tenant.key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the api's own cache honours the deletion too");
}
