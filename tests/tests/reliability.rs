//! Paths that only run when something goes wrong: an idempotency key whose first request is
//! still running or died, SQS and DynamoDB taking only part of a batch (injected with an SDK
//! interceptor, `hookline_tests::faults`), a circuit that opens again after its cool-down, and
//! an endpoint's attempts over more than one page.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_local::clients::{endpoint_from_env, local_clients_with_interceptor};
use hookline_shared::delivery::PolicySettings;
use hookline_shared::domain::{Event, EventType, event_fingerprint};
use hookline_shared::ids::{EndpointId, EventId, TenantId};
use hookline_shared::store::{Creation, keys};
use hookline_tests::faults::PartialFailures;
use hookline_tests::{ADMIN_TOKEN, Hookline, Options, Receiver, Tenant, percent_encode as encode};
use reqwest::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A Hookline whose AWS clients (the functions' and the harness's) pass through `faults`.
async fn with_faults() -> (Hookline, PartialFailures) {
    let faults = PartialFailures::default();
    let clients = local_clients_with_interceptor(&endpoint_from_env().unwrap(), faults.clone()).await;
    (Hookline::start_with_clients(Options::default(), clients).await, faults)
}

/// `count` endpoints of the tenant, all to `receiver`, each told apart by its query string.
async fn endpoints(hookline: &Hookline, tenant: &Tenant, receiver: &Receiver, count: usize) {
    for n in 0..count {
        hookline.create_endpoint(tenant, json!({"url": format!("{}?endpoint={n}", receiver.url)})).await;
    }
}

/// Delivers until every delivery of the event is delivered; then checks the receiver got
/// exactly one request per endpoint and nothing is left on the queues.
async fn assert_each_endpoint_gets_it_once(
    hookline: &Hookline,
    tenant: &Tenant,
    receiver: &Receiver,
    event: &str,
    count: usize,
) {
    hookline
        .deliver_until(|| async {
            let shown = hookline.event(tenant, event).await;
            let deliveries = shown["deliveries"].as_array().unwrap();
            deliveries.len() == count && deliveries.iter().all(|d| d["status"] == "delivered")
        })
        .await;
    hookline.drain().await;
    let mut per_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for request in receiver.received() {
        assert_eq!(request.header("webhook-id"), event);
        *per_endpoint.entry(request.uri.query().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert_eq!(per_endpoint.len(), count, "{per_endpoint:?}");
    assert!(per_endpoint.values().all(|&n| n == 1), "{per_endpoint:?}");
}

#[tokio::test]
async fn entries_sqs_refuses_are_sent_again_and_none_is_lost() {
    let (hookline, faults) = with_faults().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    endpoints(&hookline, &tenant, &receiver, 1).await;
    // Twelve events in one batch: twelve first rounds, two SendMessageBatch calls (10 + 2).
    faults.refuse_sqs_entries(4, 3);
    let events: Vec<Value> = (0..12).map(|n| json!({"event_type": "a.b", "payload": {"n": n}})).collect();
    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, json!({ "events": events })).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert!(body["results"].as_array().unwrap().iter().all(|item| item["status"] == 202), "{body}");
    assert_eq!(faults.sqs_refused(), 4, "the interceptor refused entries in more than one call");
    assert_eq!(hookline.queued_messages().await, 12, "every refused entry was sent again, once");
    hookline.deliver_until(|| async { receiver.count() >= 12 }).await;
    hookline.drain().await;
    let mut seen: Vec<u64> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["n"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..12).collect::<Vec<u64>>(), "each event delivered once");
}

#[tokio::test]
async fn items_dynamodb_leaves_unprocessed_are_written_again_and_none_is_left() {
    let (hookline, faults) = with_faults().await;
    let tenant = hookline.create_tenant("shop").await;
    // Four live keys (each rotation keeps the old one for an hour): deleting the tenant deletes
    // each key and its reference, one BatchWriteItem of 8 requests.
    for _ in 0..3 {
        let path = format!("/v1/tenants/{}/api-key/rotate", tenant.id);
        let (status, rotated) = hookline.post(&path, ADMIN_TOKEN, json!({"grace_seconds": 3600})).await;
        assert_eq!(status, 200, "{rotated}");
    }
    let references = || async {
        let out = hookline
            .clients
            .dynamodb
            .query()
            .table_name(&hookline.resources.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :refs)")
            .expression_attribute_values(":pk", AttributeValue::S(tenant.pk()))
            .expression_attribute_values(":refs", AttributeValue::S(keys::API_KEY_REF_SK_PREFIX.to_owned()))
            .send()
            .await
            .unwrap();
        out.items.unwrap_or_default().len()
    };
    assert_eq!(references().await, 4);
    faults.leave_dynamodb_items(5);
    let (status, body) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 204, "{body:?}");
    assert_eq!(faults.dynamodb_left(), 5, "the interceptor left items unprocessed");
    assert_eq!(references().await, 0, "every left item was deleted on a later round");
}

#[tokio::test]
async fn an_interrupted_idempotent_request_is_finished_by_its_retry() {
    let (hookline, faults) = with_faults().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    endpoints(&hookline, &tenant, &receiver, 2).await;
    // The event's first round (one message for both endpoints) is refused: ingest gives up.
    faults.refuse_sqs_entries(usize::MAX, 1);
    let event = json!({"event_type": "a.b", "payload": {"order": 7}, "idempotency_key": "order-7"});
    let (status, refused) = hookline.post("/v1/events", &tenant.key, event.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["code"], "unavailable");
    assert!(faults.sqs_refused() >= 1, "the round was refused");
    assert_eq!(hookline.queued_messages().await, 0);

    // SQS is well again; the client retries with the same key and the request is finished.
    faults.refuse_sqs_entries(0, 0);
    let accepted = hookline.publish(&tenant, event.clone()).await;
    assert_eq!(accepted["deliveries"], 2);
    let (status, listed) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "one event for the key: {listed}");
    assert_each_endpoint_gets_it_once(&hookline, &tenant, &receiver, &id(&accepted), 2).await;

    // Once finished, the key answers with the same event and queues nothing. (The first
    // endpoint's message was queued twice, by the refused request and by its retry; the second
    // copy may still wait on the queue to learn from the log that it has nothing to do.)
    let queued = hookline.queued_messages().await;
    let again = hookline.publish(&tenant, event).await;
    assert_eq!(again["id"], accepted["id"]);
    assert_eq!(hookline.queued_messages().await, queued);
    hookline.drain().await;
    assert_eq!(receiver.count(), 2);
}

/// Writes the event for `payload` under an idempotency key as a request that took the key
/// `age` ago would have (subscribed to the tenant's endpoints), and that has not queued it (it
/// is still running, or died); returns the event's id.
async fn claim_key(hookline: &Hookline, tenant: &Tenant, key: &str, payload: &Value, age: Duration) -> EventId {
    let tenant_id = TenantId::parse(&tenant.id).unwrap();
    let (_, listed) = hookline.get("/v1/endpoints", &tenant.key).await;
    let endpoint_ids = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ep| EndpointId::parse(ep["id"].as_str().unwrap()).unwrap())
        .collect();
    let event_type = EventType::parse("a.b").unwrap();
    let raw = RawValue::from_string(payload.to_string()).unwrap();
    let fingerprint = event_fingerprint(&event_type, &raw);
    let event = Event {
        id: EventId::keyed(&tenant_id, key),
        tenant_id,
        event_type,
        payload: raw,
        idempotency_key: Some(key.to_owned()),
        endpoint_ids,
        created_at: OffsetDateTime::now_utc() - age,
    };
    let created = hookline.store().create_event(&event, Some(&fingerprint)).await.unwrap();
    assert!(matches!(created, Creation::Created), "{created:?}");
    event.id
}

#[tokio::test]
async fn a_key_whose_first_request_may_still_be_running_answers_its_event_and_queues_a_held_back_backup() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    endpoints(&hookline, &tenant, &receiver, 1).await;
    let payload = json!({"order": 8});
    // Taken 27 s ago: whatever that request queued is read before sending from 30 s on, so the
    // backup is held back 3 s.
    let claimed_for = claim_key(&hookline, &tenant, "order-8", &payload, Duration::from_secs(27)).await;

    let body = json!({"event_type": "a.b", "payload": payload, "idempotency_key": "order-8"});
    let accepted = hookline.publish(&tenant, body).await;
    assert_eq!(accepted["id"], claimed_for.as_str(), "the first request's event, not a new one");
    assert_eq!(accepted["deliveries"], 1);
    let held = hookline
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&hookline.resources.queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = held
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "the backup waits until the first request is 30 s old");
    let (_, listed) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(listed["data"][0]["id"], claimed_for.as_str(), "listed: {listed}");
    // The first request never queued its round: the backup delivers it, once.
    assert_each_endpoint_gets_it_once(&hookline, &tenant, &receiver, claimed_for.as_str(), 1).await;
}

#[tokio::test]
async fn a_key_whose_first_request_died_is_taken_over_and_finished() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    endpoints(&hookline, &tenant, &receiver, 1).await;
    let payload = json!({"order": 9});
    // The request that took the key started 31 s ago (longer than ingest may run) and never
    // said how it ended.
    let claimed_for = claim_key(&hookline, &tenant, "order-9", &payload, Duration::from_secs(31)).await;

    let body = json!({"event_type": "a.b", "payload": payload, "idempotency_key": "order-9"});
    let accepted = hookline.publish(&tenant, body.clone()).await;
    assert_eq!(accepted["id"], claimed_for.as_str(), "the dead request's event, not a new one");
    assert_eq!(accepted["deliveries"], 1);
    assert_each_endpoint_gets_it_once(&hookline, &tenant, &receiver, claimed_for.as_str(), 1).await;
    let again = hookline.publish(&tenant, body).await;
    assert_eq!(again["id"], claimed_for.as_str());
    assert_eq!(hookline.queued_messages().await, 0, "a finished key queues nothing more");
}

#[tokio::test]
async fn a_key_repeated_long_after_its_round_ran_queues_nothing() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    endpoints(&hookline, &tenant, &receiver, 1).await;
    let payload = json!({"order": 10});
    let claimed_for = claim_key(&hookline, &tenant, "order-10", &payload, Duration::from_secs(31)).await;
    // Its first request succeeded (which leaves the claim `accepted`) and its round ran,
    // which listed the event.
    let tenant_id = TenantId::parse(&tenant.id).unwrap();
    let event = hookline.store().get_event(&tenant_id, &claimed_for).await.unwrap().unwrap();
    hookline.store().list_event(&event).await.unwrap();

    let body = json!({"event_type": "a.b", "payload": payload, "idempotency_key": "order-10"});
    let again = hookline.publish(&tenant, body).await;
    assert_eq!(again["id"], claimed_for.as_str());
    assert_eq!(hookline.queued_messages().await, 0, "a listed event's key queues nothing, however old its claim");
}

/// The endpoint's circuit as the API shows it: (openings, open until), or `None` if closed.
async fn circuit(hookline: &Hookline, tenant: &Tenant, endpoint: &str) -> Option<(u64, OffsetDateTime)> {
    let shown = hookline.endpoint(tenant, endpoint).await;
    let until = shown["health"]["circuit_open_until"].as_str()?;
    Some((shown["health"]["circuit_opens"].as_u64().unwrap(), OffsetDateTime::parse(until, &Rfc3339).unwrap()))
}

/// Delivers until the circuit has opened `opens` times; returns when it is open until.
async fn opened(hookline: &Hookline, tenant: &Tenant, endpoint: &str, opens: u64) -> OffsetDateTime {
    hookline
        .deliver_until(|| async { circuit(hookline, tenant, endpoint).await.is_some_and(|(n, _)| n >= opens) })
        .await;
    let (n, until) = circuit(hookline, tenant, endpoint).await.unwrap();
    assert_eq!(n, opens);
    until
}

/// When the event's only attempt was made.
async fn attempt_time(hookline: &Hookline, tenant: &Tenant, event: &str) -> OffsetDateTime {
    let attempts = hookline.attempts(tenant, event).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    OffsetDateTime::parse(attempts[0]["at"].as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn a_circuit_that_trips_again_after_its_cool_down_opens_for_twice_as_long() {
    let cooldown = Duration::from_secs(30);
    let policy = PolicySettings {
        circuit_min_attempts: 3,
        circuit_cooldown: cooldown,
        health_flush_every: Duration::ZERO,
        ..Default::default()
    };
    let hookline = Hookline::start_with(Options { policy, ..Default::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": []}})).await);
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await));
    }
    let first_until = opened(&hookline, &tenant, &endpoint, 1).await;
    assert_eq!(receiver.count(), 3);
    let mut last_attempt = attempt_time(&hookline, &tenant, &events[0]).await;
    for event in &events[1..] {
        last_attempt = last_attempt.max(attempt_time(&hookline, &tenant, event).await);
    }
    // The cool-down is counted from the attempt that tripped it (plus the few milliseconds
    // the bookkeeping takes): the first opening lasts one cool-down, not two.
    let first = first_until - last_attempt;
    assert!(first >= cooldown && first < cooldown * 2, "first opening: {first}");

    // Its cool-down over (moved into the past instead of waited for), the next delivery is a
    // probe; it fails too, and the window still holds ≥ 70 % failures, so the circuit opens
    // again, for twice as long.
    let over = (OffsetDateTime::now_utc() - time::Duration::seconds(1)).format(&Rfc3339).unwrap();
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(&hookline.resources.table)
        .set_key(Some(tenant.endpoint_key(&endpoint)))
        .update_expression("SET circuit_open_until = :over")
        .expression_attribute_values(":over", AttributeValue::S(over))
        .send()
        .await
        .unwrap();
    let probe = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": 3}})).await);
    let second_until = opened(&hookline, &tenant, &endpoint, 2).await;
    assert_eq!(receiver.count(), 4, "one probe");
    let second = second_until - attempt_time(&hookline, &tenant, &probe).await;
    assert!(second >= cooldown * 2 && second < cooldown * 3, "second opening, doubled: {second}");
}

#[tokio::test]
async fn an_endpoints_attempts_are_paged_by_the_cursors_the_api_hands_out() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await);
    // Pages of two events; the events spread over the listing's shards.
    let mut events = Vec::new();
    for n in 0..6 {
        events.push(id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await));
    }
    hookline.deliver_until(|| async { receiver.count() >= 6 }).await;

    let mut path = format!("/v1/endpoints/{endpoint}/attempts?limit=2");
    let mut pages = 0;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (status, page) = hookline.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        assert!(pages <= 10, "the cursors never end");
        seen.extend(page["data"].as_array().unwrap().iter().map(|a| a["event_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/endpoints/{endpoint}/attempts?limit=2&cursor={}", encode(next)),
            None => break,
        }
    }
    assert!(pages >= 2, "one page held everything: the test does not cover paging");
    assert_eq!(seen, events, "every attempt once, oldest event first");
}
