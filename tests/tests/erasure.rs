//! After `DELETE /v1/events/{id}/payload` returns, no retry or resend carries the payload, even
//! from the deliver instance that cached the event for its first attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{Hookline, Receiver, Tenant};
use serde_json::json;

const PAYLOAD_MARK: &str = "erase-me-4111";

/// Requests `receiver` got after the first `before` that carry the payload.
fn carrying_the_payload(receiver: &Receiver, before: usize) -> usize {
    receiver.received()[before..].iter().filter(|r| String::from_utf8_lossy(&r.body).contains(PAYLOAD_MARK)).count()
}

async fn expunge(hookline: &Hookline, tenant: &Tenant, event: &str) {
    let (status, body) = hookline.delete(&format!("/v1/events/{event}/payload"), &tenant.key).await;
    assert_eq!(status, 204, "{body:?}");
}

async fn delivery_status(hookline: &Hookline, tenant: &Tenant, event: &str) -> String {
    hookline.delivery(tenant, event).await["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn no_retry_carries_an_expunged_payload() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500, 500, 500, 500]).await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1, 1, 1, 1]}})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"card": PAYLOAD_MARK}})).await;
    let event = accepted["id"].as_str().unwrap();
    // The first attempt reads the event (and caches it) and fails.
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let before = receiver.count();
    assert_eq!(carrying_the_payload(&receiver, 0), before);

    expunge(&hookline, &tenant, event).await;
    hookline.deliver_until(|| async { delivery_status(&hookline, &tenant, event).await != "pending" }).await;
    assert_eq!(carrying_the_payload(&receiver, before), 0, "a retry sent the expunged payload");
    let delivery = hookline.delivery(&tenant, event).await;
    assert_eq!(delivery["status"], "failed");
    assert_eq!(delivery["last_error"], "the event's payload was expunged");
}

#[tokio::test]
async fn no_resend_carries_a_payload_expunged_after_it_was_requested() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[400]).await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"card": PAYLOAD_MARK}})).await;
    let event = accepted["id"].as_str().unwrap();
    hookline.deliver_until(|| async { delivery_status(&hookline, &tenant, event).await == "failed" }).await;
    let before = receiver.count();

    // The resend is accepted while the payload is still there, then the payload is erased.
    let resend = format!("/v1/events/{event}/endpoints/{}/resend", endpoint["id"].as_str().unwrap());
    let (status, body) = hookline.post(&resend, &tenant.key, json!({})).await;
    assert_eq!(status, 202, "{body}");
    expunge(&hookline, &tenant, event).await;
    hookline.deliver_until(|| async { delivery_status(&hookline, &tenant, event).await != "pending" }).await;
    assert_eq!(carrying_the_payload(&receiver, before), 0, "the resend sent the expunged payload");
    assert_eq!(hookline.delivery(&tenant, event).await["last_error"], "the event's payload was expunged");
}
