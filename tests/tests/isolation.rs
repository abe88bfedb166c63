//! Tenants never see each other's data on any route that takes an id, secrets never reach the
//! logs, and the endpoint-side history and event-type rules hold.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{Hookline, Receiver};
use serde_json::{Value, json};

fn body_for(path: &str, method: &str) -> Option<String> {
    match (method, path) {
        ("post", p) if p.ends_with("/recover") => {
            let since = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
            let since = since.format(&time::format_description::well_known::Rfc3339).unwrap();
            Some(json!({"since": since}).to_string())
        }
        ("post", p) if p.ends_with("/resend") => None,
        ("post" | "patch", _) => Some("{}".to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn another_tenant_gets_404_on_every_route_that_takes_an_id() {
    let hookline = Hookline::start().await;
    let alice = hookline.create_tenant("alice").await;
    let bob = hookline.create_tenant("bob").await;
    let receiver = Receiver::start().await;
    let (status, _) =
        hookline.post("/v1/event-types", &alice.key, json!({"name": "order.created", "description": "x"})).await;
    assert_eq!(status, 201);
    let endpoint = hookline.create_endpoint(&alice, json!({"url": receiver.url})).await;
    let event = hookline.publish(&alice, json!({"event_type": "order.created", "payload": {}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let ids = [
        ("{id}", String::new()),
        ("{endpoint_id}", endpoint["id"].as_str().unwrap().to_owned()),
        ("{name}", "order.created".to_owned()),
    ];
    let mut checked = 0;
    for op in &api::openapi::operations() {
        if !matches!(op.auth, api::openapi::Auth::ApiKey) || !op.path.contains('{') {
            continue;
        }
        let id = if op.path.starts_with("/v1/events") { event["id"].as_str() } else { endpoint["id"].as_str() };
        let mut path = op.path.replace("{id}", id.unwrap());
        for (placeholder, value) in &ids[1..] {
            path = path.replace(placeholder, value);
        }
        let body = body_for(op.path, op.method);
        let (status, answer) = hookline.call(&op.method.to_uppercase(), &path, Some(&bob.key), body.as_deref()).await;
        assert_eq!(status, 404, "{} {path} as another tenant: {answer}", op.method);
        assert_eq!(answer["code"], "not_found");
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} routes checked");
    // Alice still has everything.
    let (status, _) = hookline.get(&format!("/v1/endpoints/{}", endpoint["id"].as_str().unwrap()), &alice.key).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_endpoints_attempts_are_listed_with_an_outcome_filter() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500]).await;
    let endpoint =
        hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await;
    let event = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "delivered" }).await;
    let path = format!("/v1/endpoints/{}/attempts", endpoint["id"].as_str().unwrap());
    let (status, all) = hookline.get(&path, &tenant.key).await;
    assert_eq!(status, 200, "{all}");
    let numbers: Vec<_> = all["data"].as_array().unwrap().iter().map(|a| a["number"].clone()).collect();
    assert_eq!(numbers, [json!(1), json!(2)]);
    assert_eq!(all["data"][0]["event_id"], event_id.as_str());
    let (_, failed) = hookline.get(&format!("{path}?status=failed"), &tenant.key).await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1);
    assert_eq!(failed["data"][0]["response_status"], 500);
    let (_, succeeded) = hookline.get(&format!("{path}?status=succeeded"), &tenant.key).await;
    assert_eq!(succeeded["data"][0]["number"], 2);
    let (status, _) = hookline.get(&format!("{path}?status=maybe"), &tenant.key).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn endpoints_may_only_name_registered_event_types_once_there_are_any() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let url = "https://example.com/hook";
    // None registered: anything goes.
    hookline.create_endpoint(&tenant, json!({"url": url, "event_types": ["never.sent"]})).await;
    hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.created"})).await;
    let (status, body) = hookline
        .post("/v1/endpoints", &tenant.key, json!({"url": url, "event_types": ["order.*", "invoice.sent"]}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "event_types[1]");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("order.created"), "{body}");
    for ok in [json!(["order.*"]), json!(["order.created"]), json!(["*"])] {
        let (status, body) = hookline.post("/v1/endpoints", &tenant.key, json!({"url": url, "event_types": ok})).await;
        assert_eq!(status, 201, "{body}");
    }
    let _: Value = body;
}
