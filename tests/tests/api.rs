//! The HTTP contract: authentication, errors and tenant isolation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use serde_json::json;

#[tokio::test]
async fn health_answers_without_a_key() {
    let hookline = Hookline::start().await;
    let (status, body) = hookline.call("GET", "/health", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn creating_a_tenant_needs_the_admin_token() {
    let hookline = Hookline::start().await;
    for token in [None, Some("wrong-token"), Some("hk_notanadmin")] {
        let (status, body) = hookline.call("POST", "/v1/tenants", token, Some(r#"{"name":"x"}"#)).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body["code"], "unauthorized");
        assert!(body["message"].is_string());
    }
    let (status, body) = hookline.post("/v1/tenants", ADMIN_TOKEN, json!({"name": "Acme"})).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("ten_"));
    assert!(body["api_key"].as_str().unwrap().starts_with("hk_"));
    assert_eq!(body["name"], "Acme");
}

#[tokio::test]
async fn tenant_routes_refuse_missing_and_wrong_keys() {
    let hookline = Hookline::start().await;
    hookline.create_tenant("shop").await;
    let event = r#"{"event_type":"a.b","payload":{}}"#;
    for token in [None, Some("hk_wrong"), Some(ADMIN_TOKEN)] {
        let (status, body) = hookline.call("POST", "/v1/events", token, Some(event)).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert_eq!(body["code"], "unauthorized");
        let (status, _) = hookline.call("GET", "/v1/endpoints", token, None).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn malformed_json_is_400_and_a_missing_field_422() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (status, body) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(r#"{"event_type": "#)).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_json");
    let (status, body) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(r#"{"payload": {}}"#)).await;
    assert_eq!(status, 422);
    assert_eq!(body["code"], "validation_error");
    assert!(body["message"].as_str().unwrap().contains("event_type"), "{body}");
    let (status, body) =
        hookline.post("/v1/endpoints", &tenant.key, json!({"url": "ftp://example.com", "event_types": ["a b"]})).await;
    assert_eq!(status, 422);
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("url"), json!("event_types[0]")]);
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn one_tenant_never_sees_another_tenants_data() {
    let hookline = Hookline::start().await;
    let alice = hookline.create_tenant("alice").await;
    let bob = hookline.create_tenant("bob").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&alice, json!({"url": receiver.url})).await;
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let event = hookline.publish(&alice, json!({"event_type": "a.b", "payload": {}})).await;
    let event_id = event["id"].as_str().unwrap();

    for path in [
        format!("/v1/endpoints/{endpoint_id}"),
        format!("/v1/events/{event_id}"),
        format!("/v1/events/{event_id}/attempts"),
    ] {
        let (status, body) = hookline.get(&path, &bob.key).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["code"], "not_found");
        let (status, _) = hookline.get(&path, &alice.key).await;
        assert_eq!(status, 200, "{path}");
    }
    let (_, listed) = hookline.get("/v1/endpoints", &bob.key).await;
    assert_eq!(listed["data"], json!([]));
    // Bob's events do not reach Alice's endpoint.
    let bobs = hookline.publish(&bob, json!({"event_type": "a.b", "payload": {}})).await;
    assert_eq!(bobs["deliveries"], 0);
}

#[tokio::test]
async fn endpoints_show_their_settings_but_not_their_secret() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "description": "orders", "retry": {"schedule_seconds": [5, 60]}}),
        )
        .await;
    assert!(created["id"].as_str().unwrap().starts_with("ep_"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["event_types"], json!(["*"]));
    let (status, shown) =
        hookline.get(&format!("/v1/endpoints/{}", created["id"].as_str().unwrap()), &tenant.key).await;
    assert_eq!(status, 200);
    assert_eq!(shown["url"], receiver.url);
    assert_eq!(shown["description"], "orders");
    assert_eq!(shown["retry"]["schedule_seconds"], json!([5, 60]));
    assert!(shown.get("secret").is_none());
    let (_, listed) = hookline.get("/v1/endpoints", &tenant.key).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("secret").is_none());
}

#[tokio::test]
async fn unknown_routes_ids_and_methods_answer_json() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (status, body) = hookline.get("/v1/nothing-here", &tenant.key).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = hookline.get("/v1/events/not-an-id", &tenant.key).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = hookline.get("/v1/events/evt_01JZZZZZZZZZZZZZZZZZZZZZZZ", &tenant.key).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = hookline.call("DELETE", "/v1/events", Some(&tenant.key), None).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (405, Some("method_not_allowed")));
}

#[tokio::test]
async fn a_body_over_256_kb_is_413() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let big = format!(r#"{{"event_type":"a.b","payload":{{"x":"{}"}}}}"#, "a".repeat(300 * 1024));
    let (status, body) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(&big)).await;
    assert_eq!(status, 413);
    assert_eq!(body["code"], "payload_too_large");
}
