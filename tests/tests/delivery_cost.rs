//! What the deliver function asks of DynamoDB per delivery, counted by an SDK interceptor on
//! its client (the requests still go to the local AWS server), and the guarantees the cheaper
//! paths keep: the circuit breaker's ratio, the in-flight cap for endpoints that are not fast,
//! and no second send of a finished delivery.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_shared::delivery::PolicySettings;
use hookline_tests::{Hookline, Options, Receiver};
use serde_json::json;

fn id(value: &serde_json::Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Polls the main lane until `messages` have been handed over; returns how many non-empty
/// batches that took.
async fn run_batches(hookline: &Hookline, messages: usize) -> usize {
    let (mut handled, mut batches) = (0, 0);
    let deadline = tokio::time::Instant::now() + hookline_tests::PATIENCE;
    while handled < messages {
        assert!(tokio::time::Instant::now() < deadline, "only {handled} of {messages} messages came");
        let n = hookline.poller.poll_once(Duration::from_secs(1)).await.unwrap();
        if n > 0 {
            (handled, batches) = (handled + n, batches + 1);
        }
    }
    batches
}

#[tokio::test]
async fn health_costs_one_write_per_endpoint_per_interval_and_opens_the_circuit_at_its_ratio() {
    let every = Duration::from_secs(1);
    let policy = PolicySettings {
        circuit_min_attempts: 10,
        circuit_failure_ratio: 0.7,
        health_flush_every: every,
        ..PolicySettings::default()
    };
    let hookline = Hookline::start_with(Options { policy, ..Options::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    // 8 of 11 first attempts fail at one endpoint, 6 of 11 at the other (the failures come
    // first, so every partial total from 10 attempts on is on the same side of 0.7); retries
    // wait an hour.
    let at_ratio = Receiver::answering(&[500; 8]).await;
    let under_ratio = Receiver::answering(&[500; 6]).await;
    let retry = json!({"schedule_seconds": [3600]});
    let opens =
        hookline.create_endpoint(&tenant, json!({"url": at_ratio.url, "event_types": ["a.x"], "retry": retry})).await;
    let stays = hookline
        .create_endpoint(&tenant, json!({"url": under_ratio.url, "event_types": ["b.x"], "retry": retry}))
        .await;
    let started = tokio::time::Instant::now();
    for n in 0..10 {
        hookline.publish(&tenant, json!({"event_type": "a.x", "payload": {"n": n}})).await;
        hookline.publish(&tenant, json!({"event_type": "b.x", "payload": {"n": n}})).await;
    }
    let batches = run_batches(&hookline, 20).await;
    assert!(batches < 20, "the queue handed the messages over in batches ({batches})");
    // A tally younger than the interval waits in memory, even at the end of a batch; the
    // next attempt after the interval adds it.
    tokio::time::sleep(every).await;
    hookline.publish(&tenant, json!({"event_type": "a.x", "payload": {"n": 10}})).await;
    hookline.publish(&tenant, json!({"event_type": "b.x", "payload": {"n": 10}})).await;
    run_batches(&hookline, 2).await;
    let seconds = started.elapsed().as_secs() as usize;

    let health_writes = hookline.deliver_calls.count("UpdateItem", "HEALTH");
    assert!(health_writes <= 2 * (seconds + 1), "{health_writes} health writes in {seconds} s for 2 endpoints");
    assert!(health_writes < 22, "{health_writes} health writes for 22 attempts");
    let opened = hookline.endpoint(&tenant, &id(&opens)).await;
    assert_eq!(opened["health"]["circuit_opens"], 1, "8 failures in 11 attempts open it: {opened}");
    assert!(opened["health"]["circuit_open_until"].is_string());
    let closed = hookline.endpoint(&tenant, &id(&stays)).await;
    assert_eq!(closed["health"]["circuit_opens"], 0, "6 in 11 do not: {closed}");
    assert!(closed["health"]["failing_since"].is_string(), "the first failure still starts the disable clock");
    assert_eq!(under_ratio.count(), 11);
    // Per endpoint: its first failure (once per batch at most, while the instance's cached copy
    // lives) and the circuit's opening.
    let endpoint_writes = hookline.deliver_calls.count("UpdateItem", "EP");
    assert!(endpoint_writes <= 2 * batches + 3, "{endpoint_writes} endpoint writes for {batches} batches");
}

#[tokio::test]
async fn an_endpoint_that_just_answered_fast_is_sent_to_without_a_lease_and_a_slow_one_takes_one() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let fast = Receiver::start().await;
    let slow = Receiver::slow(Duration::from_millis(1500)).await;
    hookline.create_endpoint(&tenant, json!({"url": fast.url, "event_types": ["fast.x"]})).await;
    hookline.create_endpoint(&tenant, json!({"url": slow.url, "event_types": ["slow.x"]})).await;
    let leases = || hookline.deliver_calls.count("UpdateItem", "INFLIGHT");

    hookline.publish(&tenant, json!({"event_type": "fast.x", "payload": {}})).await;
    hookline.deliver_until(|| async { fast.count() == 1 }).await;
    let after_first = leases();
    assert!(after_first >= 2, "the first delivery takes and gives back a lease");
    for n in 0..5 {
        hookline.publish(&tenant, json!({"event_type": "fast.x", "payload": {"n": n}})).await;
    }
    hookline.deliver_until(|| async { fast.count() == 6 }).await;
    assert_eq!(leases(), after_first, "no lease for an endpoint that has just answered fast");

    // An endpoint slower than the fast answer keeps taking leases (the cap still bounds it).
    for n in 0..2 {
        hookline.publish(&tenant, json!({"event_type": "slow.x", "payload": {"n": n}})).await;
        hookline.deliver_until(|| async { slow.count() == n + 1 }).await;
    }
    assert!(leases() >= after_first + 4, "each slow delivery took and gave back a lease");
}

#[tokio::test]
async fn a_fresh_first_round_reads_nothing_writes_once_and_its_second_handover_reads_and_sends_nothing() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    for n in 0..3 {
        hookline.create_endpoint(&tenant, json!({"url": format!("{}?endpoint={n}", receiver.url)})).await;
    }
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    let reads = || hookline.deliver_calls.count("GetItem", "ROUND") + hookline.deliver_calls.count("GetItem", "DLV");

    // One message for the event's three deliveries.
    let batch = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    assert_eq!(batch.records.len(), 1);
    let response = hookline.poller.handler().handle(batch.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(receiver.count(), 3);
    for delivery in hookline.event(&tenant, &event).await["deliveries"].as_array().unwrap() {
        assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("delivered"), Some(1)));
    }
    assert_eq!(reads(), 0, "a fresh first round is sent without reading its deliveries");
    assert_eq!(hookline.deliver_calls.count("GetItem", "EVT"), 0, "nor its event: the message carries it");
    assert_eq!(hookline.deliver_calls.count("PutItem", "ROUND"), 1, "three attempts, one write");
    assert_eq!(hookline.deliver_calls.count("PutItem", "ATT"), 0);
    assert_eq!(hookline.deliver_calls.count("UpdateItem", "DLV"), 0, "no claim, no move");

    // The message is not deleted (a lost acknowledgement) and comes back: its second handover
    // reads the delivery, finds it finished and sends nothing.
    let receipt = batch.records[0].receipt_handle.clone().unwrap();
    let sqs = &hookline.clients.sqs;
    let queue = &hookline.resources.queue_url;
    sqs.change_message_visibility()
        .queue_url(queue)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let again = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    assert_eq!(again.records.len(), 1);
    assert_eq!(again.records[0].attributes.get("ApproximateReceiveCount").map(String::as_str), Some("2"));
    let response = hookline.poller.handler().handle(again.clone()).await;
    hookline.poller.acknowledge(&again, &response).await.unwrap();
    assert_eq!(reads(), 1, "the second handover read the round's record");
    assert_eq!(receiver.count(), 3, "and sent nothing again");
    assert_eq!(hookline.attempts(&tenant, &event).await.len(), 3);
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn a_batch_of_rounds_reads_each_endpoint_and_its_tenant_once() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    for n in 0..3 {
        hookline.create_endpoint(&tenant, json!({"url": format!("{}?endpoint={n}", receiver.url)})).await;
    }
    // One batched POST, so the ten rounds are fresh (under 2 s old) when handled.
    let events: Vec<serde_json::Value> = (0..10).map(|n| json!({"event_type": "a.b", "payload": {"n": n}})).collect();
    let (status, body) = hookline.post("/v1/events/batch", &tenant.key, json!({ "events": events })).await;
    assert_eq!(status, 207, "{body}");
    let mut batch = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    while batch.records.len() < 10 {
        let more = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
        batch.records.extend(more.records);
    }
    // Thirty deliveries start at once against a cold instance.
    let response = hookline.poller.handler().handle(batch.clone()).await;
    hookline.poller.acknowledge(&batch, &response).await.unwrap();
    assert_eq!(receiver.count(), 30);
    assert_eq!(hookline.deliver_calls.count("GetItem", "EP"), 3, "one read per endpoint");
    assert_eq!(hookline.deliver_calls.count("GetItem", "TEN"), 1, "one read of the tenant");
    // The first delivery to each endpoint probes it under a lease (on a new endpoint: a refused
    // take, the lease map made, the take, the release); the other nine wait for its fast answer
    // and go without one. Each taking its own lease made 84 such writes.
    assert_eq!(hookline.deliver_calls.count("UpdateItem", "INFLIGHT"), 3 * 4, "one lease per endpoint");
}

#[tokio::test]
async fn a_batched_post_reads_the_tenants_endpoint_list_once() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    for n in 0..3 {
        hookline.create_endpoint(&tenant, json!({"url": format!("{}?endpoint={n}", receiver.url)})).await;
    }
    let calls = hookline_tests::dynamo_calls::DynamoCalls::default();
    let watched = hookline.serve_watched(&calls).await;
    // Creating the endpoints dropped the cached list: the batch finds none.
    let events: Vec<serde_json::Value> = (0..10).map(|n| json!({"event_type": "a.b", "payload": {"n": n}})).collect();
    let answer = reqwest::Client::new()
        .post(format!("{watched}/v1/events/batch"))
        .bearer_auth(&tenant.key)
        .header("content-type", "application/json")
        .body(json!({ "events": events }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 207);
    let queries = calls.take().into_iter().filter(|call| call.operation == "Query").count();
    assert_eq!(queries, 1, "ten events staged at once read the endpoint list once");
}
