//! Endpoint options reach the wire: method, credentials and custom headers; secrets stay
//! write-only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{Hookline, Receiver};
use serde_json::json;

#[tokio::test]
async fn method_auth_and_custom_headers_are_sent_and_secrets_never_shown() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("desk").await;
    let receiver = Receiver::start().await;
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({
                "url": receiver.url,
                "method": "PUT",
                "auth": {"type": "basic", "username": "Aladdin", "password": "open sesame"},
                "headers": [{"name": "X-Shop", "value": "42"}],
                "metadata": {"team": "billing"},
                "timeout_ms": 5000,
            }),
        )
        .await;
    hookline.publish(&tenant, json!({"event_type": "ticket.created", "payload": {"id": 1}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = &receiver.received()[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.header("authorization"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    assert_eq!(request.header("x-shop"), "42");
    assert_eq!(request.body.as_ref(), br#"{"id":1}"#);

    let shown = hookline.endpoint(&tenant, created["id"].as_str().unwrap()).await;
    assert_eq!(shown["method"], "PUT");
    assert_eq!(shown["auth"], json!({"type": "basic", "username": "Aladdin"}));
    assert_eq!(shown["metadata"]["team"], "billing");
    assert_eq!(shown["timeout_ms"], 5000);
    assert!(!shown.to_string().contains("open sesame"));
    let (_, listed) = hookline.get("/v1/endpoints", &tenant.key).await;
    assert!(!listed.to_string().contains("open sesame"));
}

#[tokio::test]
async fn reserved_header_names_are_refused_with_their_field() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("desk").await;
    let (status, body) = hookline
        .post(
            "/v1/endpoints",
            &tenant.key,
            json!({"url": "http://127.0.0.1:9/hook", "headers": [
                {"name": "X-Ok", "value": "1"},
                {"name": "Content-Type", "value": "text/plain"},
                {"name": "X-Amzn-Trace-Id", "value": "x"},
            ]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["headers[1].name", "headers[2].name"]);
}
