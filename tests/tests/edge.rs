//! One shape for each thing at the API's edge: query strings, pages and their cursors, store
//! errors by what they mean, and writes echoed from the write (or a strongly consistent read).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookline_shared::ids::EndpointId;
use hookline_shared::store::keys;
use hookline_tests::dynamo_calls::DynamoCalls;
use hookline_tests::{ADMIN_TOKEN, Hookline, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A loopback URL nothing is ever published to in these tests.
const QUIET_URL: &str = "http://127.0.0.1:9/hook";

async fn call_at(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"].as_array().map_or_else(Vec::new, |errors| {
        errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect()
    })
}

async fn endpoint(hookline: &Hookline, tenant: &Tenant) -> String {
    let created = hookline.create_endpoint(tenant, json!({"url": QUIET_URL, "event_types": ["never.sent"]})).await;
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_query_string_that_cannot_be_read_is_a_400_on_every_list() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    for (path, token) in [
        ("/v1/events", tenant.key.as_str()),
        ("/v1/endpoints", tenant.key.as_str()),
        ("/v1/event-types", tenant.key.as_str()),
        ("/v1/tenants", ADMIN_TOKEN),
    ] {
        for query in ["limit=%zz", "limit=1&limit=2", "cursor=%ff%fe"] {
            let (status, body) = hookline.get(&format!("{path}?{query}"), token).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {body}");
            assert_eq!(body["code"], "invalid_query", "{path}?{query}");
        }
    }
}

#[tokio::test]
async fn unknown_parameters_and_bad_values_are_422s_naming_each() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let id = endpoint(&hookline, &tenant).await;
    let cases = [
        ("/v1/endpoints?colour=red&limit=2&size=1".to_owned(), vec!["colour", "size"]),
        ("/v1/endpoints?limit=0&status=sleeping".to_owned(), vec!["limit", "status"]),
        (format!("/v1/endpoints/{id}/attempts?since=yesterday&status=lost"), vec!["since", "status"]),
        (format!("/v1/endpoints/{id}/attempts?page=2"), vec!["page"]),
        ("/v1/events?limit=101&event_type=Not%20A%20Type".to_owned(), vec!["event_type", "limit"]),
    ];
    for (path, expected) in cases {
        let (status, body) = hookline.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["code"], "validation_error", "{path}");
        assert_eq!(fields(&body), expected, "{path}: {body}");
    }
}

/// The position part of a cursor, decoded: what a curious client could read out of it.
fn decoded(cursor: &str) -> String {
    let position = cursor.split('.').next().unwrap();
    String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(position).unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn cursors_are_opaque_and_open_only_for_their_list_and_tenant() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    for _ in 0..3 {
        endpoint(&hookline, &tenant).await;
        hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    }
    let (_, endpoints) = hookline.get("/v1/endpoints?limit=1", &tenant.key).await;
    let (_, events) = hookline.get("/v1/events?limit=1", &tenant.key).await;
    let endpoint_cursor = endpoints["next_cursor"].as_str().unwrap().to_owned();
    let event_cursor = events["next_cursor"].as_str().unwrap().to_owned();
    for cursor in [&endpoint_cursor, &event_cursor] {
        // Neither an id as it is nor a storage key (`EVT#…`), even once decoded.
        assert!(!cursor.contains("ep_") && !cursor.contains("evt_") && !cursor.contains('#'), "{cursor}");
        assert!(!decoded(cursor).contains('#'), "{cursor} decodes to a storage key: {}", decoded(cursor));
    }

    // Edited, forged, of another list or of another tenant: a 422 `invalid_cursor`.
    // The genuine cursor's tag over another position: "start before everything".
    let first_id = endpoints["data"][0]["id"].as_str().unwrap();
    let (_, tag) = endpoint_cursor.split_once('.').unwrap();
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("ep_00000000000000000000000000"));
    let other = hookline.create_tenant("other").await;
    for (path, token) in [
        (format!("/v1/endpoints?cursor={forged}"), &tenant.key),
        (format!("/v1/endpoints?cursor={first_id}"), &tenant.key),
        (format!("/v1/events?cursor={endpoint_cursor}"), &tenant.key),
        (format!("/v1/endpoints?cursor={endpoint_cursor}"), &other.key),
    ] {
        let (status, body) = hookline.get(&path, token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(matches!(body["code"].as_str(), Some("invalid_cursor" | "validation_error")), "{path}: {body}");
        assert_eq!(fields(&body), ["cursor"], "{path}: {body}");
        assert!(!body.to_string().contains("EP#"), "{body}");
    }
    let (status, body) = hookline.get(&format!("/v1/endpoints?cursor={forged}"), &tenant.key).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));

    // The genuine cursor goes on.
    let (status, next) = hookline.get(&format!("/v1/endpoints?limit=1&cursor={endpoint_cursor}"), &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_ne!(next["data"][0]["id"], endpoints["data"][0]["id"]);
}

/// A tenant with one endpoint, and the api served with its DynamoDB calls watched.
async fn watched_endpoint() -> (Hookline, Tenant, DynamoCalls, String, String) {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let calls = DynamoCalls::default();
    let watched = hookline.serve_watched(&calls).await;
    let id = endpoint(&hookline, &tenant).await;
    (hookline, tenant, calls, watched, id)
}

/// Makes the next UpdateItem name an endpoint that does not exist, as if the handler's endpoint
/// had been deleted between its read and its write.
fn delete_before_next_update(calls: &DynamoCalls) {
    calls.tamper_next_update(|update| {
        let missing = EndpointId::parse("ep_01JZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
        update.key.as_mut().unwrap().insert("sk".into(), AttributeValue::S(keys::endpoint_sk(&missing)));
    });
}

#[tokio::test]
async fn a_rotation_that_loses_a_race_is_a_409_and_one_of_a_deleted_endpoint_a_404() {
    let (_hookline, tenant, calls, watched, id) = watched_endpoint().await;
    let rotate = format!("/v1/endpoints/{id}/secret/rotate");

    // Another rotation got there first: the secret the handler read is no longer current.
    calls.tamper_next_update(|update| {
        update.expression_attribute_values.as_mut().unwrap().insert(":old_hash".into(), AttributeValue::S("x".into()));
    });
    let (status, body) = call_at(&watched, "POST", &rotate, &tenant.key, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");

    delete_before_next_update(&calls);
    let (status, body) = call_at(&watched, "POST", &rotate, &tenant.key, None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");

    // Untouched, the same call works.
    let (status, body) = call_at(&watched, "POST", &rotate, &tenant.key, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_patch_of_an_endpoint_deleted_meanwhile_is_a_404() {
    let (_hookline, tenant, calls, watched, id) = watched_endpoint().await;
    for body in [json!({"enabled": false}), json!({"description": "moved"})] {
        delete_before_next_update(&calls);
        let (status, answer) =
            call_at(&watched, "PATCH", &format!("/v1/endpoints/{id}"), &tenant.key, Some(body.clone())).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}: {answer}");
    }
}

/// Every read a handler makes after its first write is strongly consistent (or there is none:
/// the write returned the item, `ALL_NEW`), so what it echoes is what it wrote, not an older
/// replica's copy.
#[tokio::test]
async fn writes_are_echoed_from_the_write_or_a_consistent_read() {
    let (_hookline, tenant, calls, watched, id) = watched_endpoint().await;
    let (status, _) =
        call_at(&watched, "POST", "/v1/event-types", &tenant.key, Some(json!({"name": "never.sent"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let tenant_path = format!("/v1/tenants/{}", tenant.id);
    let writes: [(&str, String, &str, Option<Value>); 7] = [
        ("POST", format!("/v1/endpoints/{id}/secret/rotate"), &tenant.key, None),
        ("PATCH", format!("/v1/endpoints/{id}"), &tenant.key, Some(json!({"description": "new"}))),
        ("PATCH", format!("/v1/endpoints/{id}"), &tenant.key, Some(json!({"enabled": false}))),
        ("PATCH", "/v1/event-types/never.sent".to_owned(), &tenant.key, Some(json!({"description": "d"}))),
        ("PATCH", tenant_path.clone(), ADMIN_TOKEN, Some(json!({"name": "renamed"}))),
        ("POST", format!("{tenant_path}/suspend"), ADMIN_TOKEN, None),
        ("POST", format!("{tenant_path}/resume"), ADMIN_TOKEN, None),
    ];
    for (method, path, token, body) in writes {
        calls.take();
        let (status, answer) = call_at(&watched, method, &path, token, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
        let made = calls.take();
        let first_write =
            made.iter().position(|c| c.is_write()).unwrap_or_else(|| panic!("{path}: no write: {made:?}"));
        for read in made[first_write..].iter().filter(|c| !c.is_write()) {
            assert!(read.consistent, "{method} {path}: {read:?} after the write is eventually consistent ({made:?})");
        }
    }
}

/// PATCH is typed: a field left out keeps its value, `null` clears it (or, for
/// `disable_after_hours`, means never), and the endpoint it would make is validated whole.
#[tokio::test]
async fn a_patch_keeps_what_it_leaves_out_clears_what_it_nulls_and_is_validated_whole() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({
                "url": QUIET_URL, "event_types": ["never.sent"], "description": "kept",
                "headers": [{"name": "X-Team", "value": "core"}], "rate_limit_per_second": 5,
                "rate_limit_key": "shared", "disable_after_hours": 48,
            }),
        )
        .await;
    let path = format!("/v1/endpoints/{}", created["id"].as_str().unwrap());

    let (status, patched) = hookline
        .patch(&path, &tenant.key, json!({"headers": null, "rate_limit_key": null, "disable_after_hours": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["headers"], json!([]), "null clears");
    assert_eq!(patched["rate_limit_key"], Value::Null);
    assert_eq!(patched["disable_after_hours"], Value::Null, "null is never");
    assert_eq!(patched["description"], "kept", "absent keeps");
    assert_eq!(patched["rate_limit_per_second"], 5);
    assert_eq!(patched["event_types"], json!(["never.sent"]));

    // Each of these would make an endpoint a creation refuses, naming the field.
    for (patch, field) in [
        (json!({"url": null}), "url"),
        (json!({"format": "slack", "method": "PUT"}), "method"),
        (json!({"rate_limit_per_second": null, "rate_limit_key": "shared"}), "rate_limit_key"),
        (json!({"envelope": "standard", "format": "xml"}), "envelope"),
    ] {
        let (status, body) = hookline.patch(&path, &tenant.key, patch.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {body}");
        assert_eq!(fields(&body), [field], "{patch}: {body}");
    }
    let (_, unchanged) = hookline.get(&path, &tenant.key).await;
    assert_eq!(unchanged["description"], "kept");
    assert_eq!(unchanged["format"], "json");
}

/// A stored item that does not read back is our fault: a 500 that says nothing of the item
/// (the log names its key), not a 503 inviting the caller to retry for ever.
#[tokio::test]
async fn a_corrupt_item_is_a_500_not_a_retry() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let id = "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ";
    hookline
        .clients
        .dynamodb
        .put_item()
        .table_name(&hookline.resources.table)
        .set_item(Some(tenant.endpoint_key(id)))
        .item("settings", AttributeValue::S("not the settings".into()))
        .send()
        .await
        .unwrap();
    let (status, body) = hookline.get(&format!("/v1/endpoints/{id}"), &tenant.key).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal_error")), "{body}");
    assert!(!body.to_string().contains("TEN#") && !body.to_string().contains("settings"), "{body}");
}
