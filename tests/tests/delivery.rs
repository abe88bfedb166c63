//! An event goes in, a signed request comes out, every attempt is recorded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_shared::signing::SigningSecret;
use hookline_tests::{Hookline, Receiver};
use serde_json::json;

#[tokio::test]
async fn an_event_reaches_its_endpoint_signed_and_is_recorded() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;
    let secret = SigningSecret::parse(endpoint["secret"].as_str().unwrap()).unwrap();

    // Whitespace and key order are kept: the receiver gets the bytes that were sent.
    let body = r#"{"event_type":"order.created","payload":{"id": 42, "total":"9.99", "name":"Zoë"}}"#;
    let (status, accepted) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["deliveries"], 1);
    let event_id = accepted["id"].as_str().unwrap();
    assert!(event_id.starts_with("evt_"));

    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = &receiver.received()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.body.as_ref(), r#"{"id": 42, "total":"9.99", "name":"Zoë"}"#.as_bytes());
    assert_eq!(request.header("content-type"), "application/json");
    assert!(request.header("user-agent").starts_with("Hookline/"));
    assert_eq!(request.header("webhook-id"), event_id);
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    assert!(secret.verify(event_id, timestamp, &request.body, request.header("webhook-signature")));
    // A different body does not verify: the signature covers what was sent.
    assert!(!secret.verify(event_id, timestamp, b"{}", request.header("webhook-signature")));

    let event = hookline.event(&tenant, event_id).await;
    assert_eq!(event["event_type"], "order.created");
    assert_eq!(event["deliveries"][0]["endpoint_id"], endpoint["id"]);
    assert_eq!(event["deliveries"][0]["status"], "delivered");
    assert_eq!(event["deliveries"][0]["attempts"], 1);
    let (_, attempts) = hookline.get(&format!("/v1/events/{event_id}/attempts"), &tenant.key).await;
    let attempts = attempts["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["number"], 1);
    assert_eq!(attempts[0]["response_status"], 200);
    assert_eq!(attempts[0]["response_body"], "receiver says hi");
    assert!(attempts[0]["latency_ms"].is_u64());
    assert_eq!(hookline.queued_messages().await, 0, "a delivered message is deleted");
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_it_on_the_third_attempt() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500, 503]).await;
    let endpoint =
        hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1, 1, 1]}})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "ticket.updated", "payload": {"n": 1}})).await;
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    hookline
        .deliver_until(|| async { hookline.event(&tenant, &event_id).await["deliveries"][0]["status"] == "delivered" })
        .await;
    let event = hookline.event(&tenant, &event_id).await;
    assert_eq!(event["deliveries"][0]["attempts"], 3);
    let (_, attempts) = hookline.get(&format!("/v1/events/{event_id}/attempts"), &tenant.key).await;
    let attempts = attempts["data"].as_array().unwrap();
    let summary: Vec<_> = attempts.iter().map(|a| (a["number"].clone(), a["response_status"].clone())).collect();
    assert_eq!(summary, [(json!(1), json!(500)), (json!(2), json!(503)), (json!(3), json!(200))]);
    assert_eq!(attempts[0]["error"]["kind"], "http_status");
    assert!(attempts.iter().all(|a| a["endpoint_id"] == endpoint["id"]));
    // Every retry is the same message to the receiver.
    let ids: Vec<_> = receiver.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();
    assert_eq!(ids, [event_id.clone(), event_id.clone(), event_id]);
}

#[tokio::test]
async fn a_spent_schedule_fails_the_delivery_and_stops() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500, 500, 500, 500]).await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    let event_id = accepted["id"].as_str().unwrap().to_owned();

    hookline
        .deliver_until(|| async { hookline.event(&tenant, &event_id).await["deliveries"][0]["status"] == "failed" })
        .await;
    let event = hookline.event(&tenant, &event_id).await;
    assert_eq!(event["deliveries"][0]["attempts"], 2, "one try plus one retry");
    assert_eq!(event["deliveries"][0]["last_error"], "http_status: 500");
    assert_eq!(receiver.count(), 2);
    assert_eq!(hookline.queued_messages().await, 0, "a failed delivery leaves the queue");
}

#[tokio::test]
async fn a_repeated_idempotency_key_enqueues_nothing_new() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let event = json!({"event_type": "order.paid", "payload": {"id": 7}, "idempotency_key": "order-7-paid"});
    let first = hookline.publish(&tenant, event.clone()).await;
    assert_eq!(hookline.queued_messages().await, 1);
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    // The first round's record says the round was queued: the repeat queues nothing. (A repeat
    // before it is recorded queues a held-back backup: `reliability.rs`.)
    let second = hookline.publish(&tenant, event).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["deliveries"], 1);
    assert_eq!(hookline.queued_messages().await, 0, "the repeat queued nothing");

    // Drain whatever is left, then check the receiver saw the event once.
    while hookline.poller.poll_once(std::time::Duration::ZERO).await.unwrap() > 0 {}
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn an_event_nobody_subscribes_to_is_accepted_with_no_deliveries() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.created"]})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "invoice.sent", "payload": {}})).await;
    assert_eq!(accepted["deliveries"], 0);
    assert_eq!(hookline.queued_messages().await, 0);
    let event = hookline.event(&tenant, accepted["id"].as_str().unwrap()).await;
    assert_eq!(event["deliveries"], json!([]));
}
