//! Quotas that must hold under pressure: parallel endpoint creations, repeated recoveries,
//! replays and test sends, and chat-room rate limits that one tenant must not spend for another.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_shared::store::keys;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver, Tenant};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

async fn set_quotas(hookline: &Hookline, tenant: &Tenant, quotas: Value) {
    let (status, body) =
        hookline.patch(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN, json!({"quotas": quotas})).await;
    assert_eq!(status, 200, "{body}");
}

/// Fires `n` identical POSTs at once; returns each answer's status and JSON code.
async fn concurrently(hookline: &Hookline, n: usize, path: &str, key: &str, body: Value) -> Vec<(u16, String)> {
    let requests = (0..n).map(|_| hookline.post(path, key, body.clone()));
    let answers = futures::future::join_all(requests).await;
    answers.into_iter().map(|(s, b)| (s.as_u16(), b["code"].as_str().unwrap_or_default().to_owned())).collect()
}

fn count(answers: &[(u16, String)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn twenty_parallel_creations_never_pass_the_endpoint_quota() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    set_quotas(&hookline, &tenant, json!({"max_endpoints": 5})).await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url});
    let answers = concurrently(&hookline, 20, "/v1/endpoints", &tenant.key, body.clone()).await;
    assert_eq!(count(&answers, 201), 5, "{answers:?}");
    assert!(answers.iter().all(|(s, code)| *s == 201 || (*s == 429 && code == "quota_exceeded")), "{answers:?}");
    let (_, listed) = hookline.get("/v1/endpoints", &tenant.key).await;
    let endpoints: Vec<String> = listed["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(endpoints.len(), 5);

    // A deletion frees one place, and only one.
    let (status, _) = hookline.delete(&format!("/v1/endpoints/{}", endpoints[0]), &tenant.key).await;
    assert_eq!(status, 204);
    let answers = concurrently(&hookline, 4, "/v1/endpoints", &tenant.key, body.clone()).await;
    assert_eq!(count(&answers, 201), 1, "{answers:?}");

    // A tenant made before the count existed gets it from its endpoints on first use.
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(&hookline.resources.table)
        .key("pk", AttributeValue::S(tenant.pk()))
        .key("sk", AttributeValue::S(keys::TENANT_SK.into()))
        .update_expression("REMOVE endpoint_count")
        .send()
        .await
        .unwrap();
    let (status, body_) = hookline.post("/v1/endpoints", &tenant.key, body.clone()).await;
    assert_eq!(status, 429, "{body_}");
    let (status, _) = hookline.delete(&format!("/v1/endpoints/{}", endpoints[1]), &tenant.key).await;
    assert_eq!(status, 204);
    let answers = concurrently(&hookline, 3, "/v1/endpoints", &tenant.key, body).await;
    assert_eq!(count(&answers, 201), 1, "{answers:?}");
}

fn since_an_hour_ago() -> String {
    (OffsetDateTime::now_utc() - time::Duration::hours(1)).format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn repeating_a_recovery_does_not_send_the_same_deliveries_again() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await);
    let events = [
        id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": 1}})).await),
        id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": 2}})).await),
    ];
    let all_failed = || async {
        let mut failed = true;
        for event in &events {
            failed &= hookline.delivery(&tenant, event).await["status"] == "failed";
        }
        failed
    };
    hookline.deliver_until(all_failed).await;
    assert_eq!(receiver.count(), 4, "two attempts each");

    // Ten recoveries, each followed by delivering whatever it queued.
    let path = format!("/v1/endpoints/{endpoint}/recover");
    let mut requeued = Vec::new();
    for _ in 0..10 {
        let (status, body) = hookline.post(&path, &tenant.key, json!({"since": since_an_hour_ago()})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        requeued.push(body["requeued"].as_u64().unwrap());
        hookline.deliver_until(|| async { hookline.queued_messages().await == 0 }).await;
    }
    assert_eq!(requeued, [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(receiver.count(), 6, "one more attempt per delivery, not ten");
    let (_, body) = hookline.post(&path, &tenant.key, json!({"since": since_an_hour_ago()})).await;
    assert_eq!(body["recently_recovered"], 2, "{body}");

    // A resend of one delivery still goes (it is the way to try again sooner).
    let (status, body) =
        hookline.post(&format!("/v1/events/{}/endpoints/{endpoint}/resend", events[0]), &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn replays_and_test_sends_count_against_their_own_per_minute_quota() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await);
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    set_quotas(&hookline, &tenant, json!({"replays_per_minute": 3})).await;
    // The window is the calendar minute: keep the requests inside one.
    let second = OffsetDateTime::now_utc().second();
    if second >= 45 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }

    let test = format!("/v1/endpoints/{endpoint}/test");
    let resend = format!("/v1/events/{event}/endpoints/{endpoint}/resend");
    let recover = format!("/v1/endpoints/{endpoint}/recover");
    for _ in 0..2 {
        let (status, body) = hookline.post(&test, &tenant.key, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = hookline.post(&resend, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    let sent = receiver.count();

    for (path, body) in [(&test, json!({})), (&resend, json!({})), (&recover, json!({"since": since_an_hour_ago()}))] {
        let (status, headers, answer) =
            hookline.call_full("POST", path, Some(&tenant.key), Some(&body.to_string())).await;
        let answer = answer.unwrap();
        assert_eq!((status.as_u16(), answer["code"].as_str()), (429, Some("rate_limited")), "{path}: {answer}");
        let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    assert_eq!(receiver.count(), sent, "a refused test send sends nothing");
    // Publishing has its own quota, untouched; another tenant has its own replays.
    hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await;
    let other = hookline.create_tenant("other").await;
    let other_endpoint = id(&hookline.create_endpoint(&other, json!({"url": receiver.url})).await);
    let (status, body) = hookline.post(&format!("/v1/endpoints/{other_endpoint}/test"), &other.key, json!({})).await;
    assert_eq!(status, 200, "{body}");
}

/// The limiter item's next free slot (Unix ms). Each test has its own table, holding one
/// limiter here.
async fn limiter_next_slot_ms(hookline: &Hookline) -> i64 {
    let scan = hookline
        .clients
        .dynamodb
        .scan()
        .table_name(&hookline.resources.table)
        .filter_expression("begins_with(pk, :rate)")
        .expression_attribute_values(":rate", AttributeValue::S(keys::RATE_PK_PREFIX.into()))
        .send()
        .await
        .unwrap();
    let items = scan.items.unwrap_or_default();
    assert_eq!(items.len(), 1, "{items:?}");
    items[0]["tat"].as_n().unwrap().parse().unwrap()
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap()
}

#[tokio::test]
async fn a_refused_test_send_reserves_no_rate_limit_slot() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let room = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": room.url, "format": "chime"})).await);
    // Eight at once through a one-per-second room: those that would wait over 2 s are refused.
    let answers = concurrently(&hookline, 8, &format!("/v1/endpoints/{endpoint}/test"), &tenant.key, json!({})).await;
    let accepted = count(&answers, 200);
    assert!(accepted >= 1 && count(&answers, 429) >= 1, "{answers:?}");
    assert!(answers.iter().all(|(s, code)| *s == 200 || code == "rate_limited"), "{answers:?}");
    assert_eq!(room.count(), accepted);
    // The limiter holds only the accepted sends' slots, each within 2 s of its request: at
    // most 2 s plus one interval (1.05 s) ahead. Refused ones used to push it 1.05 s each.
    let ahead_ms = limiter_next_slot_ms(&hookline).await - now_ms();
    assert!(ahead_ms <= 3_050, "the limiter is {ahead_ms} ms ahead after {accepted} accepted sends");
}

#[tokio::test]
async fn a_tenant_cannot_hold_back_another_tenants_chat_room() {
    let hookline = Hookline::start().await;
    let room = Receiver::start().await;
    // Tenant A points an endpoint at B's Google Chat space with a made-up key and fires test
    // sends at it; the space path is the same, only the query differs.
    let a = hookline.create_tenant("a").await;
    let b = hookline.create_tenant("b").await;
    let squatter = json!({"url": format!("{}?key=made-up", room.url), "format": "google_chat"});
    let a_endpoint = id(&hookline.create_endpoint(&a, squatter).await);
    let b_url = format!("{}?key=real&token=secret", room.url);
    hookline.create_endpoint(&b, json!({"url": b_url, "format": "google_chat", "event_types": ["chat.*"]})).await;
    let answers = concurrently(&hookline, 8, &format!("/v1/endpoints/{a_endpoint}/test"), &a.key, json!({})).await;
    assert!(answers.iter().all(|(s, _)| *s == 200 || *s == 429), "{answers:?}");

    // B's delivery is not held back by A's traffic: one delivery pass attempts it.
    let event = id(&hookline.publish(&b, json!({"event_type": "chat.message", "payload": {"text": "hi"}})).await);
    hookline.drain().await;
    let delivery = hookline.delivery(&b, &event).await;
    assert_eq!(
        (delivery["status"].as_str(), delivery["attempts"].as_u64()),
        (Some("delivered"), Some(1)),
        "{delivery}"
    );
    assert!(room.received().iter().any(|r| r.uri.query() == Some("key=real&token=secret")));
}

/// Keeps a test's events inside one calendar minute, the quota's window.
async fn away_from_a_minute_boundary() {
    let second = OffsetDateTime::now_utc().second();
    if second >= 45 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
}

async fn publish_status(url: &str, key: &str) -> u16 {
    let body = json!({"event_type": "a.b", "payload": {}});
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn parallel_events_on_one_instance_never_pass_the_events_per_minute_quota() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    set_quotas(&hookline, &tenant, json!({"events_per_minute": 5})).await;
    away_from_a_minute_boundary().await;
    let body = json!({"event_type": "a.b", "payload": {}});
    let answers = concurrently(&hookline, 12, "/v1/events", &tenant.key, body).await;
    assert_eq!(count(&answers, 202), 5, "{answers:?}");
    assert!(answers.iter().all(|(s, code)| *s == 202 || (*s == 429 && code == "rate_limited")), "{answers:?}");
}

#[tokio::test]
async fn the_events_per_minute_quota_holds_across_ingest_instances() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let limit = 4;
    set_quotas(&hookline, &tenant, json!({"events_per_minute": limit})).await;
    away_from_a_minute_boundary().await;
    // Instance A takes two events: the first is added to DynamoDB at once, the second may wait
    // for A's next flush (at most a second's worth of events per instance).
    for _ in 0..2 {
        assert_eq!(publish_status(&hookline.url, &tenant.key).await, 202);
    }
    // Instance B learns A's flushed count with its own first flush and refuses before it has
    // taken the whole quota itself.
    let other = hookline.serve_ingest_with(hookline.resources.config(ADMIN_TOKEN)).await;
    let mut accepted_by_b = 0;
    while publish_status(&other, &tenant.key).await == 202 {
        accepted_by_b += 1;
        assert!(accepted_by_b < limit, "instance B never saw instance A's events");
    }
    assert!(accepted_by_b >= 2, "B may take what A has not used: {accepted_by_b}");
    // Both are now full: A's own view plus what B added reaches the limit at A's next flush.
    assert_eq!(publish_status(&other, &tenant.key).await, 429);
}
