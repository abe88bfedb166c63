//! One tenant's slow endpoints must not delay everyone: messages carry their tenant as the SQS
//! fair-queue group, one endpoint has a fleet-wide cap on deliveries in flight, and endpoints
//! that time out or answer slowly are served from the slow lane.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;
use std::time::Duration;

use hookline_shared::delivery::PolicySettings;
use hookline_shared::ids::{EndpointId, TenantId};
use hookline_shared::queue::QueueMessage;
use hookline_shared::store::{Admission, HeldLease, LeaseRequest, now_ms};
use hookline_tests::{Hookline, Options, Receiver};
use serde_json::json;
use time::OffsetDateTime;

fn id(value: &serde_json::Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// An endpoint that hangs past its 1 s timeout on every request.
async fn hanging_endpoint(hookline: &Hookline, tenant: &hookline_tests::Tenant, event_type: &str) -> Receiver {
    let receiver = Receiver::slow(Duration::from_secs(3)).await;
    let body = json!({"url": receiver.url, "event_types": [event_type], "timeout_ms": 1000});
    hookline.create_endpoint(tenant, body).await;
    receiver
}

#[tokio::test]
async fn every_message_carries_its_tenant_as_the_message_group() {
    let hookline = Hookline::start().await;
    let receiver = Receiver::start().await;
    let mut tenants = HashMap::new();
    for name in ["a", "b"] {
        let tenant = hookline.create_tenant(name).await;
        hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["t.*"]})).await;
        hookline.publish(&tenant, json!({"event_type": "t.x", "payload": {}})).await;
        tenants.insert(tenant.id.clone(), tenant);
    }
    let batch = hookline.poller.receive(Duration::from_secs(1)).await.unwrap();
    assert_eq!(batch.records.len(), 2);
    for record in &batch.records {
        let tenant_id = match QueueMessage::parse(record.body.as_deref().unwrap()).unwrap() {
            QueueMessage::Round(round) => round.tenant_id,
            QueueMessage::Delivery(job) => job.tenant_id,
        };
        assert!(tenants.contains_key(tenant_id.as_str()));
        assert_eq!(record.attributes.get("MessageGroupId").map(String::as_str), Some(tenant_id.as_str()));
    }
}

#[tokio::test]
async fn the_in_flight_cap_holds_across_workers_and_a_killed_workers_lease_runs_out() {
    let hookline = Hookline::start().await;
    let store = hookline.store();
    let (tenant, endpoint) = (TenantId::generate(), EndpointId::generate());
    let ttl = Duration::from_secs(60);
    let request = move |now_ms| LeaseRequest { cap: 3, ttl, now_ms, refuse_if_slow: false };
    let now = now_ms(OffsetDateTime::now_utc());

    // Eight workers ask at once: three get a lease.
    let mut asks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, tenant, endpoint) = (store.clone(), tenant.clone(), endpoint.clone());
        asks.spawn(async move { store.take_lease(&tenant, &endpoint, request(now)).await.unwrap() });
    }
    let answers: Vec<Admission> = asks.join_all().await;
    let leases: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Admission::Granted { lease, .. } => Some(lease.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(leases.len(), 3, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| **a == Admission::Full).count(), 5);

    // A released lease makes room for exactly one more.
    store.release_lease(&leases[0], None).await.unwrap();
    assert!(matches!(store.take_lease(&tenant, &endpoint, request(now)).await.unwrap(), Admission::Granted { .. }));
    assert_eq!(store.take_lease(&tenant, &endpoint, request(now)).await.unwrap(), Admission::Full);

    // Nobody releases the others (their workers were killed mid-send): still full just before
    // the leases run out, and room again once they have.
    let just_before = now + 59_999;
    assert_eq!(store.take_lease(&tenant, &endpoint, request(just_before)).await.unwrap(), Admission::Full);
    let after = now + 60_000;
    for _ in 0..3 {
        let answer = store.take_lease(&tenant, &endpoint, request(after)).await.unwrap();
        assert!(matches!(answer, Admission::Granted { .. }), "{answer:?}");
    }
    assert_eq!(store.take_lease(&tenant, &endpoint, request(after)).await.unwrap(), Admission::Full);
}

/// A delivery that takes a lease and then does not send (rate-limited for later, or any early
/// return) gives the place back by dropping the lease, not a minute later.
#[tokio::test]
async fn a_lease_dropped_unused_gives_its_place_back() {
    let hookline = Hookline::start().await;
    let store = hookline.store();
    let (tenant, endpoint) = (TenantId::generate(), EndpointId::generate());
    // One fixed "now": the lease can never run out during the test.
    let request = LeaseRequest {
        cap: 1,
        ttl: Duration::from_secs(60),
        now_ms: now_ms(OffsetDateTime::now_utc()),
        refuse_if_slow: false,
    };
    let Admission::Granted { lease, .. } = store.take_lease(&tenant, &endpoint, request).await.unwrap() else {
        panic!("the first lease is granted")
    };
    assert_eq!(store.take_lease(&tenant, &endpoint, request).await.unwrap(), Admission::Full);
    drop(HeldLease::new(store.clone(), lease));
    let deadline = tokio::time::Instant::now() + hookline_tests::PATIENCE;
    while store.take_lease(&tenant, &endpoint, request).await.unwrap() == Admission::Full {
        assert!(tokio::time::Instant::now() < deadline, "the dropped lease was never given back");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn no_more_than_the_cap_of_deliveries_reach_one_endpoint_at_once_and_none_spends_an_attempt_waiting() {
    let policy = PolicySettings { max_in_flight_per_endpoint: Some(2), ..PolicySettings::default() };
    let hookline = Hookline::start_with(Options { policy, ..Options::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::slow(Duration::from_millis(1500)).await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["t.*"]})).await;
    let mut events = Vec::new();
    for n in 0..6 {
        events.push(id(&hookline.publish(&tenant, json!({"event_type": "t.x", "payload": {"n": n}})).await));
    }
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
    assert_eq!(receiver.count(), 6);
    assert_eq!(receiver.max_in_flight(), 2, "the cap, and no more, were in flight at once");
    for event in &events {
        assert_eq!(hookline.attempts(&tenant, event).await.len(), 1, "waiting for room is not an attempt");
    }
}

#[tokio::test]
async fn a_timed_out_endpoints_deliveries_move_to_the_slow_lane_without_spending_attempts() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let hanging = hanging_endpoint(&hookline, &tenant, "t.hang").await;
    let first = id(&hookline.publish(&tenant, json!({"event_type": "t.hang", "payload": {}})).await);
    hookline.poller.poll_once(Duration::from_secs(1)).await.unwrap();
    assert_eq!(hookline.attempts(&tenant, &first).await[0]["error"]["kind"], "timeout");

    let mut later = Vec::new();
    for n in 0..3 {
        later.push(id(&hookline.publish(&tenant, json!({"event_type": "t.hang", "payload": {"n": n}})).await));
    }
    assert_eq!(hookline.poller.poll_once(Duration::from_secs(1)).await.unwrap(), 3);
    assert_eq!(hanging.arrivals().len(), 1, "nothing more was sent from the main lane");
    assert_eq!(hookline.slow_lane_messages().await, 3);
    for event in &later {
        assert!(hookline.attempts(&tenant, event).await.is_empty(), "moving spent no attempt");
        assert_eq!(hookline.delivery(&tenant, event).await["status"], "pending");
    }

    // The slow lane sends them.
    assert_eq!(hookline.slow_poller.poll_once(Duration::from_secs(1)).await.unwrap(), 3);
    assert_eq!(hanging.arrivals().len(), 4);
    for event in &later {
        let attempts = hookline.attempts(&tenant, event).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0]["error"]["kind"], "timeout");
    }
}

/// The case: tenant A's endpoint hangs past its timeout and A has many events queued
/// ahead of tenant B's one. With one function instance (one poller), each batch that holds a
/// hanging request takes the whole timeout; B waits for every such batch ahead of it. So what
/// B waits for is counted as the requests A's endpoint received before B's arrived.
#[tokio::test]
async fn a_hanging_endpoint_of_one_tenant_does_not_hold_back_another_tenants_delivery() {
    // In the issue the endpoint answered 31 % of requests quickly, which kept its circuit
    // closed; here the circuit never opens, so the slow lane and the cap alone are tested.
    let policy = PolicySettings { circuit_min_attempts: u32::MAX, ..PolicySettings::default() };
    let hookline = Hookline::start_with(Options { policy, ..Options::default() }).await;
    let a = hookline.create_tenant("a").await;
    let b = hookline.create_tenant("b").await;
    let hanging = hanging_endpoint(&hookline, &a, "a.flood").await;
    let fast = Receiver::start().await;
    hookline.create_endpoint(&b, json!({"url": fast.url, "event_types": ["b.tick"]})).await;

    let a_events = 30;
    for n in 0..a_events {
        hookline.publish(&a, json!({"event_type": "a.flood", "payload": {"n": n}})).await;
    }
    let b_event = id(&hookline.publish(&b, json!({"event_type": "b.tick", "payload": {}})).await);
    let deadline = tokio::time::Instant::now() + hookline_tests::PATIENCE;
    while fast.count() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "B was never delivered");
        hookline.poller.poll_once(Duration::from_secs(1)).await.unwrap();
    }

    let b_arrived = fast.arrivals()[0];
    let a_before_b = hanging.arrivals().iter().filter(|at| **at < b_arrived).count();
    let cap = PolicySettings::default().max_in_flight_per_endpoint.unwrap() as usize;
    assert!(a_before_b <= cap, "{a_before_b} hanging requests went out before B's (at most {cap})");
    assert_eq!(hookline.delivery(&b, &b_event).await["status"], "delivered");
    // A round handled when no longer fresh (a loaded machine publishes A's 30 events slowly)
    // continues its delivery as its own message, which the main lane then moves: let the main
    // lane take what is visible on it now (the failed attempts' retries are held back).
    while hookline.poller.poll_once(Duration::ZERO).await.unwrap() > 0 {}
    assert_eq!(
        hookline.slow_lane_messages().await as usize,
        a_events - a_before_b,
        "the rest of A's deliveries wait in the slow lane"
    );
}
