//! Long recoveries: `POST /v1/endpoints/{id}/recover` works within the deployment's time budget
//! and answers with a `continuation` until its window is done. The api here runs with a zero
//! budget, which the handler reads as "one batch of ten per call", so the number of calls is
//! fixed and nothing depends on timing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookline_shared::config::Config;
use hookline_shared::delivery::PolicySettings;
use hookline_tests::{ADMIN_TOKEN, Hookline, Options, Receiver, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A Hookline whose circuit never opens (the failures here are the point) and an api beside it
/// over the same table and queues with a zero recovery budget; returns the api's URL.
async fn with_tiny_budget() -> (Hookline, String) {
    let policy = PolicySettings { circuit_min_attempts: u32::MAX, ..PolicySettings::default() };
    let hookline = Hookline::start_with(Options { policy, ..Options::default() }).await;
    let config = Config { recover_budget: Duration::ZERO, ..hookline.resources.config(ADMIN_TOKEN) };
    let api = hookline.serve_api_with(config).await;
    (hookline, api)
}

/// Publishes `count` events to an endpoint that refuses each one for good (500, no retries),
/// and waits until every delivery has failed. Returns the endpoint and the events.
async fn failed_window(
    hookline: &Hookline,
    tenant: &Tenant,
    receiver: &Receiver,
    count: usize,
) -> (String, Vec<String>) {
    let endpoint =
        id(&hookline.create_endpoint(tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": []}})).await);
    let mut events = Vec::new();
    for n in 0..count {
        events.push(id(&hookline.publish(tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await));
    }
    hookline
        .deliver_until(|| async {
            for event in &events {
                if hookline.delivery(tenant, event).await["status"] != "failed" {
                    return false;
                }
            }
            true
        })
        .await;
    (endpoint, events)
}

async fn recover(hookline: &Hookline, api: &str, tenant: &Tenant, endpoint: &str, body: Value) -> (StatusCode, Value) {
    let response = hookline
        .http
        .post(format!("{api}/v1/endpoints/{endpoint}/recover"))
        .bearer_auth(&tenant.key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

#[tokio::test]
async fn a_window_larger_than_one_budget_is_finished_by_its_continuations_queuing_each_delivery_once() {
    let (hookline, api) = with_tiny_budget().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500; 23]).await;
    let since = (OffsetDateTime::now_utc() - time::Duration::seconds(1)).format(&Rfc3339).unwrap();
    let (endpoint, events) = failed_window(&hookline, &tenant, &receiver, 23).await;
    assert_eq!(receiver.count(), 23);

    // The first call is the window; each later one sends the same window and the continuation.
    let (status, first) = recover(&hookline, &api, &tenant, &endpoint, json!({"since": since})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let first_continuation = first["continuation"].as_str().expect("the window is not done").to_owned();
    let mut answers = vec![first];
    while let Some(continuation) = answers.last().unwrap()["continuation"].as_str().map(str::to_owned) {
        assert!(answers.len() < 10, "the continuations never end: {answers:?}");
        let (status, next) =
            recover(&hookline, &api, &tenant, &endpoint, json!({"since": since, "continuation": continuation})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{next}");
        answers.push(next);
    }
    let requeued: Vec<u64> = answers.iter().map(|a| a["requeued"].as_u64().unwrap()).collect();
    assert_eq!(requeued, [10, 10, 3], "one batch per call: {answers:?}");
    assert_eq!(answers[0]["reenabled"], false);
    assert!(answers.iter().all(|a| a["recently_recovered"] == 0), "{answers:?}");

    // An old continuation again finds nothing left to queue.
    let (status, again) =
        recover(&hookline, &api, &tenant, &endpoint, json!({"continuation": first_continuation})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["requeued"], 0, "{again}");

    // Every delivery went out exactly once more: the receiver saw one more request per event,
    // and each delivery recorded exactly one more attempt.
    hookline
        .deliver_until(|| async {
            for event in &events {
                if hookline.delivery(&tenant, event).await["status"] != "delivered" {
                    return false;
                }
            }
            true
        })
        .await;
    hookline.drain().await;
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for request in receiver.received() {
        *per_event.entry(request.header("webhook-id").to_owned()).or_default() += 1;
    }
    assert_eq!(per_event.len(), events.len());
    assert!(per_event.values().all(|&n| n == 2), "each event's first failure and one redelivery: {per_event:?}");
    for event in &events {
        let numbers: Vec<u64> =
            hookline.attempts(&tenant, event).await.iter().map(|a| a["number"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [1, 2], "{event}");
    }
    assert_eq!(receiver.count(), 46);
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn a_tampered_or_foreign_continuation_is_refused_with_a_json_error() {
    let (hookline, api) = with_tiny_budget().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let since = (OffsetDateTime::now_utc() - time::Duration::seconds(1)).format(&Rfc3339).unwrap();
    let (endpoint, events) = failed_window(&hookline, &tenant, &receiver, 11).await;
    let other =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["other.type"]})).await);
    let (status, first) = recover(&hookline, &api, &tenant, &endpoint, json!({"since": since})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["requeued"], 10);
    let continuation = first["continuation"].as_str().expect("the window is not done").to_owned();

    // Moving the position back to the first event, keeping the signature.
    let (body, signature) = continuation.split_once('.').unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    let position = claims
        .as_object_mut()
        .unwrap()
        .values_mut()
        .find(|v| v.as_str().is_some_and(|s| s.starts_with("evt_")))
        .unwrap();
    assert_ne!(*position, json!(events[0]));
    *position = json!(events[0]);
    let moved = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut flipped = continuation.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let second_tenant = hookline.create_tenant("other shop").await;
    for (who, path_endpoint, body) in [
        (&tenant, &endpoint, json!({"continuation": moved})),
        (&tenant, &endpoint, json!({"continuation": flipped})),
        (&tenant, &endpoint, json!({"continuation": "not-a-continuation"})),
        (&tenant, &other, json!({"continuation": continuation})),
    ] {
        let (status, answer) = recover(&hookline, &api, who, path_endpoint, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["code"], "validation_error", "{answer}");
        assert_eq!(answer["errors"][0]["field"], "continuation", "{answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    // Nor is it another tenant's.
    let (status, answer) =
        recover(&hookline, &api, &second_tenant, &endpoint, json!({"continuation": continuation})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "continuation", "{answer}");
    // A window other than the one the continuation was issued for.
    let (status, answer) = recover(
        &hookline,
        &api,
        &tenant,
        &endpoint,
        json!({"since": OffsetDateTime::now_utc().format(&Rfc3339).unwrap(), "continuation": continuation}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "since", "{answer}");

    // None of the refused calls queued anything: the genuine continuation finds the last one.
    let (status, last) = recover(&hookline, &api, &tenant, &endpoint, json!({"continuation": continuation})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{last}");
    assert_eq!((last["requeued"].as_u64(), last["continuation"].is_null()), (Some(1), true), "{last}");
}
