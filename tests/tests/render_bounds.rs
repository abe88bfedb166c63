//! Poison messages (issue 11, findings 1 and 12): renderings that would blow up fail at their
//! bound without sending a byte or coming back, and payloads no renderer could represent are
//! refused at ingest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{Hookline, Receiver, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 26 KB that the `xml` format turned into a 120 MB body.
fn blow_up_payload() -> Value {
    json!({"K".repeat(20_000): vec![0; 3000]})
}

/// Publishes `payload` and runs the deliver function until its one delivery has failed.
async fn publish_until_failed(hookline: &Hookline, tenant: &Tenant, event_type: &str, payload: Value) -> String {
    let accepted = hookline.publish(tenant, json!({"event_type": event_type, "payload": payload})).await;
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["deliveries"], 1);
    hookline.deliver_until(|| async { hookline.delivery(tenant, &event_id).await["status"] == "failed" }).await;
    event_id
}

/// The delivery failed on its first attempt as `render_too_large`, nothing reached the
/// receiver, and no message is left to come back.
async fn assert_failed_unsent(hookline: &Hookline, tenant: &Tenant, event_id: &str, receiver: &Receiver) {
    let attempts = hookline.attempts(tenant, event_id).await;
    assert_eq!(attempts.len(), 1, "not retried: {attempts:?}");
    assert_eq!(attempts[0]["error"]["kind"], "render_too_large", "{}", attempts[0]);
    assert!(attempts[0]["error"]["message"].as_str().unwrap().contains("larger than"), "{}", attempts[0]);
    assert_eq!(attempts[0]["response_status"], Value::Null);
    assert_eq!(receiver.count(), 0, "nothing was sent");
    let delivery = hookline.delivery(tenant, event_id).await;
    assert!(delivery["last_error"].as_str().unwrap().starts_with("render_too_large"), "{delivery}");
    hookline.drain().await;
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn an_xml_blow_up_fails_once_as_render_too_large_and_sends_nothing() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("poison").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "xml"})).await;
    let event_id = publish_until_failed(&hookline, &tenant, "deep2.test", blow_up_payload()).await;
    assert_failed_unsent(&hookline, &tenant, &event_id, &receiver).await;
}

#[tokio::test]
async fn a_query_template_blow_up_fails_once_as_render_too_large_and_sends_nothing() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("poison").await;
    let receiver = Receiver::start().await;
    // Four parameters of 744 × `{{payload}}` with a 100 KB payload: 661 MB of URL before.
    let template = "{{payload}}".repeat(744);
    let query: serde_json::Map<String, Value> =
        ["a", "b", "c", "d"].into_iter().map(|name| (name.to_owned(), json!(template))).collect();
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "query": query})).await;
    let payload = json!({"blob": "x".repeat(100_000)});
    let event_id = publish_until_failed(&hookline, &tenant, "big.test", payload).await;
    assert_failed_unsent(&hookline, &tenant, &event_id, &receiver).await;
}

#[tokio::test]
async fn a_test_send_of_a_blow_up_answers_render_too_large_without_sending() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("poison").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "xml"})).await;
    let path = format!("/v1/endpoints/{}/test", endpoint["id"].as_str().unwrap());
    let (status, report) =
        hookline.post(&path, &tenant.key, json!({"event_type": "deep2.test", "payload": blow_up_payload()})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["succeeded"], false);
    assert_eq!(report["response"]["error"]["kind"], "render_too_large", "{report}");
    assert_eq!(report["response"]["status"], Value::Null);
    assert_eq!(receiver.count(), 0);
    let attempts = hookline.attempts(&tenant, report["event_id"].as_str().unwrap()).await;
    assert_eq!(attempts[0]["error"]["kind"], "render_too_large");
}

/// Publishes a raw event body and returns the answer.
async fn publish_raw(hookline: &Hookline, tenant: &Tenant, payload: &str) -> (StatusCode, Value) {
    let body = format!(r#"{{"event_type": "order.created", "payload": {payload}}}"#);
    hookline.call("POST", "/v1/events", Some(&tenant.key), Some(&body)).await
}

#[tokio::test]
async fn ingest_refuses_payloads_no_renderer_can_represent() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("strict").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "xml"})).await;
    let deep = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let just_too_deep = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
    for (payload, says) in [
        (deep.as_str(), "nested deeper than 64 levels"),
        (just_too_deep.as_str(), "nested deeper than 64 levels"),
        (r#"{"name": "\ud800"}"#, "invalid Unicode"),
        (r#"{"n": 1e999}"#, "64-bit float"),
    ] {
        let (status, body) = publish_raw(&hookline, &tenant, payload).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "validation_error");
        assert_eq!(body["errors"][0]["field"], "payload", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(says), "{body}");
    }
    // Nothing was accepted, so nothing is queued or listed.
    assert_eq!(hookline.queued_messages().await, 0);
    let (_, events) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(events["data"], json!([]), "{events}");

    // 64 levels, a proper surrogate pair and a large finite number are fine, and delivered.
    let deepest = format!("{}1{}", r#"{"a":"#.repeat(64), "}".repeat(64));
    for payload in [deepest.as_str(), r#"{"name": "\ud83d\ude00", "n": 1e308}"#] {
        let (status, body) = publish_raw(&hookline, &tenant, payload).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    hookline.deliver_until(|| async { receiver.count() >= 2 }).await;
    let bodies: Vec<String> = receiver.received().iter().map(|r| String::from_utf8(r.body.to_vec()).unwrap()).collect();
    assert!(bodies.iter().any(|b| b.contains("<n>1e+308</n><name>😀</name>")), "{bodies:?}");
}
