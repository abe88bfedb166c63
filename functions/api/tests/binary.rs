//! The api binary (`src/main.rs`) as Lambda runs it: the template's environment and API
//! Gateway HTTP API events from the local Runtime API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_local::template::API_FUNCTION;
use hookline_tests::lambda::{ApiRequest, FUNCTION_PATIENCE, call, spawn, start, template_environment};
use hookline_tests::{ADMIN_TOKEN, Hookline};
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_api");

#[tokio::test]
async fn serves_api_gateway_events() {
    let hookline = Hookline::start().await;
    let mut function = start(BINARY, "api", &template_environment(&hookline, API_FUNCTION)).await;

    let health = call(&mut function, &ApiRequest::new("GET", "/health")).await;
    assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})));

    // The admin token comes from the template's `AdminToken` parameter.
    let body = json!({"name": "binary"}).to_string();
    let created =
        call(&mut function, &ApiRequest::new("POST", "/v1/tenants").bearer(ADMIN_TOKEN).json(body.as_bytes())).await;
    assert_eq!(created.status, 201, "{:?}", String::from_utf8_lossy(&created.body));
    let key = created.json()["api_key"].as_str().unwrap().to_owned();

    // Endpoints on a URL these tests never send to: they subscribe to a type never published.
    for n in 0..2 {
        let body = json!({"url": format!("https://hooks.example.com/{n}"), "event_types": ["never.sent"]}).to_string();
        let endpoint =
            call(&mut function, &ApiRequest::new("POST", "/v1/endpoints").bearer(&key).json(body.as_bytes())).await;
        assert_eq!(endpoint.status, 201, "{:?}", String::from_utf8_lossy(&endpoint.body));
    }
    let page = call(&mut function, &ApiRequest::new("GET", "/v1/endpoints").query("limit=1").bearer(&key)).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.json()["data"].as_array().unwrap().len(), 1, "the raw query string reached the handler");
    let all = call(&mut function, &ApiRequest::new("GET", "/v1/endpoints").bearer(&key)).await;
    assert_eq!(all.json()["data"].as_array().unwrap().len(), 2);
    let bad = call(&mut function, &ApiRequest::new("GET", "/v1/endpoints").query("limit=lots").bearer(&key)).await;
    assert!(matches!(bad.status, 400 | 422), "{}", bad.status);
    assert!(bad.json()["code"].is_string());

    let missing = call(&mut function, &ApiRequest::new("GET", "/v1/nothing-here").bearer(&key)).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "not_found");
    function.stop().await;
}

#[tokio::test]
async fn refuses_to_start_without_an_encryption_key() {
    let hookline = Hookline::start().await;
    let mut env = template_environment(&hookline, API_FUNCTION);
    env.remove("HOOKLINE_ENCRYPTION_KEY");
    let (status, log) = spawn(BINARY, "api", &env).await.exit(FUNCTION_PATIENCE).await.unwrap();
    assert!(!status.success(), "started without a key: {log}");
    assert!(log.contains("InvalidKey"), "the refusal says why: {log}");
}
