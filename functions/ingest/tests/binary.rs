//! The ingest binary (`src/main.rs`) as Lambda runs it: the template's environment and API
//! Gateway HTTP API events from the local Runtime API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_local::template::INGEST_FUNCTION;
use hookline_tests::lambda::{ApiRequest, FUNCTION_PATIENCE, call, spawn, start, template_environment};
use hookline_tests::{Hookline, Receiver};
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_ingest");

#[tokio::test]
async fn publishes_through_api_gateway_events() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("binary").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;
    let mut function = start(BINARY, "ingest", &template_environment(&hookline, INGEST_FUNCTION)).await;

    let body = json!({"event_type": "order.created", "payload": {"id": "ord_1", "note": "ünïcode"}}).to_string();
    let accepted =
        call(&mut function, &ApiRequest::new("POST", "/v1/events").bearer(&tenant.key).json(body.as_bytes())).await;
    assert_eq!(accepted.status, 202, "{:?}", String::from_utf8_lossy(&accepted.body));
    let accepted = accepted.json();
    assert_eq!(accepted["deliveries"], 1);
    assert_eq!(hookline.queued_messages().await, 1, "the delivery is on the template's queue");
    let event = hookline.event(&tenant, accepted["id"].as_str().unwrap()).await;
    assert_eq!(event["payload"], json!({"id": "ord_1", "note": "ünïcode"}), "the base64 body arrived intact");

    let anonymous = call(&mut function, &ApiRequest::new("POST", "/v1/events").json(body.as_bytes())).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("content-type"), Some("application/json"));
    assert_eq!(anonymous.json()["code"], "unauthorized");

    let broken =
        call(&mut function, &ApiRequest::new("POST", "/v1/events").bearer(&tenant.key).json(b"{\"event_type\":")).await;
    assert_eq!(broken.status, 400, "{:?}", broken.json());
    function.stop().await;
}

#[tokio::test]
async fn refuses_to_start_without_a_valid_encryption_key() {
    let hookline = Hookline::start().await;
    let bad_key = "c2hvcnQ=".to_owned();
    for value in [None, Some(bad_key.clone())] {
        let mut env = template_environment(&hookline, INGEST_FUNCTION);
        env.remove("HOOKLINE_ENCRYPTION_KEY");
        env.extend(value.map(|v| ("HOOKLINE_ENCRYPTION_KEY".to_owned(), v)));
        let (status, log) = spawn(BINARY, "ingest", &env).await.exit(FUNCTION_PATIENCE).await.unwrap();
        assert!(!status.success(), "started without a good key: {log}");
        assert!(log.contains("InvalidKey"), "the refusal says why: {log}");
        assert!(!log.contains(&bad_key), "the key is not logged");
    }
}
