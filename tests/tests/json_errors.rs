//! Every rejection is the JSON error shape, axum's own included, and every body is limited.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use hookline_tests::{ADMIN_TOKEN, Hookline};
use reqwest::StatusCode;
use serde_json::json;

/// Every route with an id in its path, with `%ff%fe` (not UTF-8) as each id.
const ID_ROUTES: [(&str, &str, bool); 18] = [
    ("GET", "/v1/tenants/%ff%fe", true),
    ("PATCH", "/v1/tenants/%ff%fe", true),
    ("DELETE", "/v1/tenants/%ff%fe", true),
    ("POST", "/v1/tenants/%ff%fe/api-key/rotate", true),
    ("GET", "/v1/event-types/%ff%fe", false),
    ("DELETE", "/v1/events/%ff%fe/payload", false),
    ("GET", "/v1/events/%ff%fe/deliveries/%ff%fe/attempts", false),
    ("GET", "/v1/endpoints/%ff%fe", false),
    ("PATCH", "/v1/endpoints/%ff%fe", false),
    ("DELETE", "/v1/endpoints/%ff%fe", false),
    ("GET", "/v1/endpoints/%ff%fe/secret", false),
    ("GET", "/v1/endpoints/%ff%fe/attempts", false),
    ("POST", "/v1/endpoints/%ff%fe/secret/rotate", false),
    ("GET", "/v1/events/%ff%fe", false),
    ("GET", "/v1/events/%ff%fe/attempts", false),
    ("POST", "/v1/events/%ff%fe/endpoints/%ff%fe/resend", false),
    ("POST", "/v1/endpoints/%ff%fe/recover", false),
    ("POST", "/v1/endpoints/%ff%fe/test", false),
];

#[tokio::test]
async fn ids_that_are_not_utf8_are_json_404s_on_every_id_route() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    for (method, path, admin) in ID_ROUTES {
        let token = if admin { ADMIN_TOKEN } else { tenant.key.as_str() };
        let body = matches!(method, "POST" | "PATCH").then_some("{}");
        // `call` fails the test on a body that is not JSON.
        let (status, error) = hookline.call(method, path, Some(token), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {error}");
        assert_eq!(error["code"], "not_found", "{method} {path}: {error}");
        assert!(error["message"].is_string(), "{method} {path}: {error}");
    }
}

#[tokio::test]
async fn a_secret_rotation_body_is_limited_and_parsed_like_every_other() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let created = hookline
        .create_endpoint(&tenant, json!({"url": "https://example.com/hook", "event_types": ["never.sent"]}))
        .await;
    let path = format!("/v1/endpoints/{}/secret/rotate", created["id"].as_str().unwrap());

    for size in [1024 * 1024, 10 * 1024 * 1024] {
        // Valid JSON, only too long.
        let padded = format!(r#"{{"grace_seconds": 60}}{}"#, " ".repeat(size));
        let (status, error) = hookline.call("POST", &path, Some(&tenant.key), Some(&padded)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{size} bytes: {error}");
        assert_eq!(error["code"], "payload_too_large");
    }
    let (status, error) = hookline.call("POST", &path, Some(&tenant.key), Some("{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "invalid_json");
    let (status, error) = hookline.call("POST", &path, Some(&tenant.key), Some(r#"{"grace": 1}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "validation_error");

    // None of those rotated the secret; an empty body still does.
    let (_, shown) =
        hookline.get(&format!("/v1/endpoints/{}/secret", created["id"].as_str().unwrap()), &tenant.key).await;
    assert_eq!(shown["secret"], created["secret"]);
    assert!(shown["previous_secret"].is_null());
    let (status, _, rotated) = hookline.call_full("POST", &path, Some(&tenant.key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rotated.unwrap()["previous_secret"], created["secret"]);
}
