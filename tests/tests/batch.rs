//! `POST /v1/events/batch`: per-item results in order, idempotency per item inside and across
//! batches, the batch's own limits, and every accepted item delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashSet;

use hookline_tests::{Hookline, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn event(n: u64) -> Value {
    json!({"event_type": "order.created", "payload": {"n": n}})
}

fn results(body: &Value) -> Vec<Value> {
    body["results"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_batch_answers_each_item_in_order_and_delivers_every_accepted_one() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;
    let batch = json!({"events": [
        event(1),
        {"event_type": "not a type", "payload": {"n": 2}},
        event(3),
        {"event_type": "order.created"},
        {"event_type": "hookline.endpoint.disabled", "payload": {}},
        event(6),
    ]});
    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, batch).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let items = results(&body);
    let statuses: Vec<u64> = items.iter().map(|i| i["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [202, 422, 202, 422, 422, 202], "{body}");
    for refused in [1, 3, 4] {
        let error = &items[refused]["error"];
        assert_eq!(error["code"], "validation_error", "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(items[refused].get("id").is_none(), "{body}");
    }
    let ids: HashSet<String> = [0, 2, 5].iter().map(|&i| items[i]["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3, "{body}");
    assert!([0, 2, 5].iter().all(|&i| items[i]["deliveries"] == 1), "{body}");

    hookline.deliver_until(|| async { receiver.count() >= 3 }).await;
    hookline.drain().await;
    let bodies: HashSet<Value> =
        receiver.received().iter().map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["n"].clone()).collect();
    assert_eq!(bodies, HashSet::from([json!(1), json!(3), json!(6)]));
    for id in ids {
        assert_eq!(hookline.event(&tenant, &id).await["deliveries"][0]["status"], "delivered");
    }
}

#[tokio::test]
async fn a_repeated_idempotency_key_gives_one_event_inside_and_across_batches() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;
    let keyed = |key: &str, n: u64| json!({"event_type": "order.created", "payload": {"n": n}, "idempotency_key": key});
    let (status, body) = hookline
        .post("/v1/events/batch", &tenant.key, json!({"events": [keyed("k1", 1), keyed("k1", 1), keyed("k1", 2)]}))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let items = results(&body);
    let first = items[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(items[1]["status"], 202, "{body}");
    assert_eq!(items[1]["id"], first.as_str(), "the same key in one batch is one event: {body}");
    assert_eq!(items[2]["status"], 409, "{body}");
    assert_eq!(items[2]["error"]["code"], "idempotency_key_reused", "{body}");

    // Across batches, and against the single route.
    let (_, again) = hookline.post("/v1/events/batch", &tenant.key, json!({"events": [keyed("k1", 1)]})).await;
    assert_eq!(results(&again)[0]["id"], first.as_str(), "{again}");
    let single = hookline.publish(&tenant, keyed("k1", 1)).await;
    assert_eq!(single["id"], first.as_str());

    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    hookline.drain().await;
    assert_eq!(receiver.count(), 1, "one key, one event, one delivery");
}

#[tokio::test]
async fn a_batch_over_its_limits_is_refused_with_a_json_error() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let too_many: Vec<Value> = (0..101).map(event).collect();
    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, json!({"events": too_many})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation_error");

    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, json!({"events": []})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation_error");

    // Eleven events of 100 KB: each within the payload limit, the batch over 1 MB.
    let big = "x".repeat(100 * 1024);
    let heavy: Vec<Value> =
        (0..11).map(|n| json!({"event_type": "order.created", "payload": {"n": n, "pad": big}})).collect();
    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, json!({"events": heavy})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    assert!(body["message"].as_str().unwrap().contains("1048576"), "{body}");
    assert_eq!(hookline.queued_messages().await, 0, "nothing of a refused batch is queued");
}
