//! Operational webhooks: Hookline's own `hookline.…` events reach the endpoints subscribed to
//! them, signed like any other, once per incident, and never about their own exhaustion.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_shared::delivery::PolicySettings;
use hookline_shared::signing::SigningSecret;
use hookline_tests::{Hookline, Options, Received, Receiver, Reply, Tenant};
use serde_json::{Value, json};

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// The request's event as the API shows it, after checking its signature with `secret`.
async fn signed_event(hookline: &Hookline, tenant: &Tenant, secret: &Value, request: &Received) -> Value {
    let secret = SigningSecret::parse(secret.as_str().unwrap()).unwrap();
    let event_id = request.header("webhook-id");
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    assert!(secret.verify(event_id, timestamp, &request.body, request.header("webhook-signature")));
    hookline.event(tenant, event_id).await
}

async fn events_of_type(hookline: &Hookline, tenant: &Tenant, event_type: &str) -> Vec<Value> {
    let (status, page) = hookline.get(&format!("/v1/events?event_type={event_type}"), &tenant.key).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_endpoint_subscribed_to_disabled_hears_signed_news_when_another_gets_a_410() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (ops, gone, everything) = (Receiver::start().await, Receiver::always(410).await, Receiver::start().await);
    let ops_ep =
        hookline.create_endpoint(&tenant, json!({"url": ops.url, "event_types": ["hookline.endpoint.disabled"]})).await;
    // `*` means the tenant's own types: operational events are sent only to who names them.
    hookline.create_endpoint(&tenant, json!({"url": everything.url})).await;
    let gone_ep = hookline.create_endpoint(&tenant, json!({"url": gone.url, "event_types": ["a.gone"]})).await;
    let published = id(&hookline.publish(&tenant, json!({"event_type": "a.gone", "payload": {}})).await);

    hookline.deliver_until(|| async { ops.count() >= 1 && everything.count() >= 1 }).await;
    hookline.drain().await;
    assert_eq!(ops.count(), 1);
    let request = &ops.received()[0];
    let event = signed_event(&hookline, &tenant, &ops_ep["secret"], request).await;
    assert_eq!(event["event_type"], "hookline.endpoint.disabled");
    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload["endpoint_id"], gone_ep["id"]);
    assert!(payload["reason"].as_str().unwrap().contains("410"), "{payload}");
    let to_everything: Vec<String> = everything.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();
    assert_eq!(to_everything, [published], "a `*` endpoint got an operational event");
    assert_eq!(events_of_type(&hookline, &tenant, "hookline.endpoint.disabled").await.len(), 1);
}

#[tokio::test]
async fn exhaustion_is_reported_once_and_an_operational_events_own_failure_is_not() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (bad, watcher, failing_watcher) =
        (Receiver::always(400).await, Receiver::start().await, Receiver::always(400).await);
    hookline.create_endpoint(&tenant, json!({"url": bad.url, "event_types": ["a.bad"]})).await;
    let watcher_ep =
        hookline.create_endpoint(&tenant, json!({"url": watcher.url, "event_types": ["hookline.delivery.*"]})).await;
    // This one fails on the exhaustion notice too: that failure must not be reported in turn,
    // or each notice would beget another.
    hookline
        .create_endpoint(&tenant, json!({"url": failing_watcher.url, "event_types": ["hookline.delivery.exhausted"]}))
        .await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.bad", "payload": {"n": 1}})).await);

    hookline.deliver_until(|| async { watcher.count() >= 1 && failing_watcher.count() >= 1 }).await;
    // Bounded, unlike `drain`: with a loop of notices the queue would never empty.
    for _ in 0..20 {
        if hookline.poller.poll_once(Duration::ZERO).await.unwrap() == 0 {
            break;
        }
    }
    assert_eq!(watcher.count(), 1);
    assert_eq!(failing_watcher.count(), 1);
    let notices = events_of_type(&hookline, &tenant, "hookline.delivery.exhausted").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let request = &watcher.received()[0];
    signed_event(&hookline, &tenant, &watcher_ep["secret"], request).await;
    let payload: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(payload["event_id"], event.as_str());
    assert_eq!(payload["event_type"], "a.bad");
    assert_eq!(payload["attempts"], 1);
}

#[tokio::test]
async fn a_recovered_endpoint_is_reported() {
    // The second attempt must see the first one's failure at once (not a cached endpoint).
    let policy = PolicySettings {
        recovery_grace: Duration::ZERO,
        endpoint_cache_ttl: Duration::ZERO,
        ..PolicySettings::default()
    };
    let hookline = Hookline::start_with(Options { policy, ..Options::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let ops = Receiver::start().await;
    let flaky = Receiver::scripted(vec![Reply { status: 500, headers: vec![] }], 200).await;
    hookline.create_endpoint(&tenant, json!({"url": ops.url, "event_types": ["hookline.endpoint.recovered"]})).await;
    let flaky_ep = hookline
        .create_endpoint(&tenant, json!({"url": flaky.url, "event_types": ["a.b"], "retry": {"schedule_seconds": [1]}}))
        .await;
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;

    hookline.deliver_until(|| async { ops.count() >= 1 }).await;
    hookline.drain().await;
    assert_eq!(flaky.count(), 2);
    assert_eq!(ops.count(), 1);
    let payload: Value = serde_json::from_slice(&ops.received()[0].body).unwrap();
    assert_eq!(payload["endpoint_id"], flaky_ep["id"]);
}

#[tokio::test]
async fn hookline_types_are_reserved_but_subscribable_without_registering() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (status, answer) = hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.created"})).await;
    assert_eq!(status, 201, "{answer}");
    for name in ["hookline.endpoint.disabled", "hookline.custom", "hookline"] {
        let (status, answer) = hookline.post("/v1/event-types", &tenant.key, json!({"name": name})).await;
        assert_eq!(status, 422, "registering {name}: {answer}");
        let (status, answer) =
            hookline.post("/v1/events", &tenant.key, json!({"event_type": name, "payload": {}})).await;
        assert_eq!(status, 422, "publishing {name}: {answer}");
        assert_eq!(answer["code"], "validation_error");
    }
    // Registered types are enforced, yet operational types need no registration.
    let (status, answer) = hookline
        .post(
            "/v1/endpoints",
            &tenant.key,
            json!({"url": "http://127.0.0.1:9/", "event_types": ["hookline.*", "hookline.delivery.exhausted"]}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let (status, _) = hookline
        .post("/v1/endpoints", &tenant.key, json!({"url": "http://127.0.0.1:9/", "event_types": ["invoice.*"]}))
        .await;
    assert_eq!(status, 422);
}
