//! The delivery policy end to end: status classes, Retry-After, shared rate limits, the
//! circuit breaker, disabling, the address guard and exactly-once bookkeeping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_shared::delivery::PolicySettings;
use hookline_shared::ids::{EndpointId, EventId, TenantId};
use hookline_shared::queue::{DeliveryJob, Queue};
use hookline_shared::store::keys;
use hookline_tests::{Egress, Hookline, Options, Receiver, Reply};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &serde_json::Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_4xx_fails_at_once_and_410_also_disables_the_endpoint() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let bad_request = Receiver::always(400).await;
    let gone = Receiver::always(410).await;
    hookline.create_endpoint(&tenant, json!({"url": bad_request.url, "event_types": ["a.bad"]})).await;
    let gone_ep = hookline.create_endpoint(&tenant, json!({"url": gone.url, "event_types": ["a.gone"]})).await;
    let first = id(&hookline.publish(&tenant, json!({"event_type": "a.bad", "payload": {}})).await);
    let second = id(&hookline.publish(&tenant, json!({"event_type": "a.gone", "payload": {}})).await);

    hookline
        .deliver_until(|| async {
            hookline.delivery(&tenant, &first).await["status"] == "failed"
                && hookline.delivery(&tenant, &second).await["status"] == "failed"
        })
        .await;
    assert_eq!(hookline.delivery(&tenant, &first).await["attempts"], 1, "no retry after a 400");
    assert_eq!(hookline.delivery(&tenant, &first).await["last_error"], "http_status: 400");
    assert_eq!(hookline.delivery(&tenant, &second).await["attempts"], 1);
    let endpoint = hookline.endpoint(&tenant, &id(&gone_ep)).await;
    assert_eq!(endpoint["status"], "disabled");
    assert!(endpoint["disabled_reason"].as_str().unwrap().contains("410"), "{endpoint}");
    // A disabled endpoint gets no new deliveries.
    let later = hookline.publish(&tenant, json!({"event_type": "a.gone", "payload": {}})).await;
    assert_eq!(later["deliveries"], 0);
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn retry_after_on_503_stretches_the_scheduled_wait() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver =
        Receiver::scripted(vec![Reply { status: 503, headers: vec![("retry-after", "3".into())] }], 200).await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);

    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let delivery = hookline.delivery(&tenant, &event).await;
    let at = |name: &str| OffsetDateTime::parse(delivery[name].as_str().unwrap(), &Rfc3339).unwrap();
    let wait = at("next_attempt_at") - at("last_attempt_at");
    assert!(wait >= time::Duration::seconds(3), "waited {wait} instead of Retry-After's 3 s");
    assert!(wait < time::Duration::seconds(10), "{wait}");

    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    assert_eq!(hookline.delivery(&tenant, &event).await["attempts"], 2);
}

#[tokio::test]
async fn endpoints_sharing_a_rate_limit_key_never_exceed_it_together() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let (a, b) = (Receiver::start().await, Receiver::start().await);
    for receiver in [&a, &b] {
        hookline
            .create_endpoint(
                &tenant,
                json!({"url": receiver.url, "rate_limit_per_second": 1, "rate_limit_key": "room-1"}),
            )
            .await;
    }
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(id(&hookline.publish(&tenant, json!({"event_type": "msg.posted", "payload": {"n": n}})).await));
    }
    hookline.deliver_until(|| async { a.count() + b.count() >= 6 }).await;

    let mut arrivals: Vec<_> = a.received().into_iter().chain(b.received()).map(|r| r.at).collect();
    arrivals.sort();
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    // One per second between them; a little slack for the network between two loopback sockets.
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(950)), "gaps: {gaps:?}");
    // Waiting for the limiter spends no attempt.
    for event in &events {
        let event = hookline.event(&tenant, event).await;
        for delivery in event["deliveries"].as_array().unwrap() {
            assert_eq!(delivery["attempts"], 1, "{delivery}");
        }
    }
}

#[tokio::test]
async fn a_failing_endpoint_opens_its_circuit_and_deliveries_wait_without_spending_attempts() {
    let policy = PolicySettings {
        circuit_min_attempts: 3,
        circuit_cooldown: Duration::from_secs(30),
        health_flush_every: Duration::ZERO,
        ..Default::default()
    };
    let hookline = Hookline::start_with(Options { policy, ..Default::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let endpoint =
        hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1, 1, 1]}})).await;
    for n in 0..3 {
        hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await;
    }
    hookline.deliver_until(|| async { receiver.count() >= 3 }).await;
    let shown = hookline.endpoint(&tenant, &id(&endpoint)).await;
    assert!(shown["health"]["circuit_open_until"].is_string(), "{shown}");
    assert_eq!(shown["health"]["circuit_opens"], 1);
    assert!(shown["health"]["failing_since"].is_string());

    // While the circuit is open, a new delivery is deferred, not attempted.
    let held = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"n": 4}})).await);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    hookline.drain().await;
    assert_eq!(receiver.count(), 3, "nothing is sent while the circuit is open");
    let delivery = hookline.delivery(&tenant, &held).await;
    assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("pending"), Some(0)));
    assert_eq!(hookline.queued_messages().await, 4, "every deferred delivery stays on the queue");
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled_and_its_deliveries_paused() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "disable_after_hours": 120, "retry": {"schedule_seconds": [1, 1]}}),
        )
        .await;
    // The endpoint has been failing for 121 hours.
    let since = (OffsetDateTime::now_utc() - time::Duration::hours(121)).format(&Rfc3339).unwrap();
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(&hookline.resources.table)
        .set_key(Some(tenant.endpoint_key(&id(&endpoint))))
        .update_expression("SET failing_since = :since")
        .expression_attribute_values(":since", AttributeValue::S(since))
        .send()
        .await
        .unwrap();
    let first = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);

    hookline.deliver_until(|| async { hookline.delivery(&tenant, &first).await["status"] == "paused" }).await;
    let shown = hookline.endpoint(&tenant, &id(&endpoint)).await;
    assert_eq!(shown["status"], "disabled");
    assert!(shown["disabled_reason"].as_str().unwrap().contains("120 hours"), "{shown}");
    let delivery = hookline.delivery(&tenant, &first).await;
    assert_eq!(delivery["attempts"], 1, "the failure that disabled it, then paused: {delivery}");
    assert_eq!(receiver.count(), 1);
    assert_eq!(hookline.queued_messages().await, 0, "a paused delivery lives in DynamoDB, not on the queue");
}

#[tokio::test]
async fn private_addresses_are_blocked_at_connect_time_without_the_dev_flag() {
    let hookline = Hookline::start_with(Options { egress: Egress::PublicOnly, ..Default::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let port = receiver.url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().to_owned();
    let mut events = Vec::new();
    // A literal loopback address, a name that resolves to it, and the decimal form of 127.0.0.1.
    for (n, host) in ["127.0.0.1", "localhost", "2130706433"].into_iter().enumerate() {
        let url = format!("https://{host}:{port}/hook");
        let event_type = format!("probe.n{n}");
        hookline
            .create_endpoint(
                &tenant,
                json!({"url": url, "event_types": [event_type], "retry": {"schedule_seconds": []}}),
            )
            .await;
        events.push(id(&hookline.publish(&tenant, json!({"event_type": event_type, "payload": {}})).await));
    }
    hookline
        .deliver_until(|| async {
            for event in &events {
                if hookline.delivery(&tenant, event).await["status"] != "failed" {
                    return false;
                }
            }
            true
        })
        .await;
    for event in &events {
        let attempts = hookline.attempts(&tenant, event).await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0]["error"]["kind"], "blocked", "{}", attempts[0]);
        assert!(attempts[0]["response_status"].is_null());
    }
    assert_eq!(receiver.count(), 0, "nothing reached the loopback receiver");
}

#[tokio::test]
async fn a_message_handed_over_again_after_delivery_sends_nothing_more() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;

    // SQS delivers at least once: the same message arrives twice more.
    let job = DeliveryJob {
        tenant_id: TenantId::parse(&tenant.id).unwrap(),
        event_id: EventId::parse(&event).unwrap(),
        endpoint_id: EndpointId::parse(&id(&endpoint)).unwrap(),
    };
    let queue = Queue::new(hookline.clients.sqs.clone(), &hookline.resources.queue_url);
    queue.enqueue(&[job.clone(), job]).await.unwrap();
    hookline.drain().await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(hookline.attempts(&tenant, &event).await.len(), 1);
    assert_eq!(hookline.queued_messages().await, 0, "the duplicates are acknowledged");
}

#[tokio::test]
async fn a_worker_stopped_between_recording_an_attempt_and_moving_the_delivery_on_is_finished_without_a_resend() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    // Attempt 1 is the first round's; a resend makes attempt 2, a message of its own.
    let resend = format!("/v1/events/{event}/endpoints/{}/resend", id(&endpoint));
    let (status, body) = hookline.post(&resend, &tenant.key, json!({})).await;
    assert_eq!(status, 202, "{body}");
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["attempts"] == 2 }).await;
    // Put the delivery back as a worker leaves it when it dies after writing attempt 2 and
    // before moving the delivery on: pending, one attempt, its claim on attempt 2 expired.
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(&hookline.resources.table)
        .key(
            "pk",
            AttributeValue::S(keys::event_pk(&TenantId::parse(&tenant.id).unwrap(), &EventId::parse(&event).unwrap())),
        )
        .key("sk", AttributeValue::S(keys::delivery_sk(&EndpointId::parse(&id(&endpoint)).unwrap())))
        .update_expression("SET attempts = :one, #status = :pending, sending_until_ms = :zero")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
        .expression_attribute_values(":zero", AttributeValue::N("0".to_owned()))
        .expression_attribute_values(":pending", AttributeValue::S("pending".to_owned()))
        .send()
        .await
        .unwrap();
    assert_eq!(hookline.delivery(&tenant, &event).await["status"], "pending");

    // The message comes back (it was never deleted): the claim's takeover finds the record.
    let job = DeliveryJob {
        tenant_id: TenantId::parse(&tenant.id).unwrap(),
        event_id: EventId::parse(&event).unwrap(),
        endpoint_id: EndpointId::parse(&id(&endpoint)).unwrap(),
    };
    let queue = Queue::new(hookline.clients.sqs.clone(), &hookline.resources.queue_url);
    queue.enqueue(&[job]).await.unwrap();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    hookline.drain().await;
    assert_eq!(receiver.count(), 2, "attempt 2 was not sent again");
    let delivery = hookline.delivery(&tenant, &event).await;
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    assert_eq!(hookline.attempts(&tenant, &event).await.len(), 2);
}

#[tokio::test]
async fn concurrent_copies_of_one_message_send_and_record_each_attempt_once() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::answering(&[500, 500, 500]).await;
    let endpoint = hookline
        .create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1, 1, 1, 1]}}))
        .await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    let job = DeliveryJob {
        tenant_id: TenantId::parse(&tenant.id).unwrap(),
        event_id: EventId::parse(&event).unwrap(),
        endpoint_id: EndpointId::parse(&id(&endpoint)).unwrap(),
    };
    // The first round fails; its retry continues as the delivery's own message. Three copies
    // of that message in flight at once.
    hookline.deliver_until(|| async { receiver.count() == 1 }).await;
    let queue = Queue::new(hookline.clients.sqs.clone(), &hookline.resources.queue_url);
    queue.enqueue(&[job.clone(), job]).await.unwrap();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;

    hookline.drain().await;

    // An attempt's record is keyed by its number, so a duplicate record cannot exist; a double
    // send can, and would show as a request the log does not account for.
    let numbers: Vec<u64> =
        hookline.attempts(&tenant, &event).await.iter().map(|a| a["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "three failures, then the success");
    assert_eq!(receiver.count(), numbers.len(), "every request the receiver saw is one recorded attempt");
    assert_eq!(hookline.delivery(&tenant, &event).await["attempts"], 4);
}

#[tokio::test]
async fn a_hang_past_the_timeout_a_closed_port_and_a_redirect_are_classed_and_recorded() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let hanging = Receiver::slow(Duration::from_secs(3)).await;
    let redirecting = Receiver::scripted(
        vec![Reply { status: 302, headers: vec![("location", "http://127.0.0.1:1/elsewhere".into())] }],
        200,
    )
    .await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let retry = json!({"schedule_seconds": [1]});
    for (url, event_type, timeout) in [
        (hanging.url.clone(), "t.hang", 1000),
        (format!("http://127.0.0.1:{closed_port}/hook"), "t.closed", 15000),
        (redirecting.url.clone(), "t.redirect", 15000),
    ] {
        hookline
            .create_endpoint(
                &tenant,
                json!({"url": url, "event_types": [event_type], "timeout_ms": timeout, "retry": retry}),
            )
            .await;
    }
    let hang = id(&hookline.publish(&tenant, json!({"event_type": "t.hang", "payload": {}})).await);
    let closed = id(&hookline.publish(&tenant, json!({"event_type": "t.closed", "payload": {}})).await);
    let redirect = id(&hookline.publish(&tenant, json!({"event_type": "t.redirect", "payload": {}})).await);
    hookline
        .deliver_until(|| async {
            let mut all = true;
            for event in [&hang, &closed, &redirect] {
                all &= hookline.delivery(&tenant, event).await["attempts"] == 1;
            }
            all
        })
        .await;

    let first = |attempts: Vec<Value>| attempts[0].clone();
    let timed_out = first(hookline.attempts(&tenant, &hang).await);
    assert_eq!(timed_out["error"]["kind"], "timeout", "{timed_out}");
    let delivery = hookline.delivery(&tenant, &hang).await;
    let at = |name: &str| OffsetDateTime::parse(delivery[name].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(at("next_attempt_at") - at("last_attempt_at") >= time::Duration::seconds(59), "a timeout waits a minute");

    let refused = first(hookline.attempts(&tenant, &closed).await);
    assert_eq!(refused["error"]["kind"], "connect", "{refused}");
    assert_eq!(hookline.delivery(&tenant, &closed).await["status"], "pending", "a closed port is retried");

    let redirected = first(hookline.attempts(&tenant, &redirect).await);
    assert_eq!(redirected["response_status"], 302);
    assert!(redirected["error"]["message"].as_str().unwrap().contains("redirects are not followed"));
    assert_eq!(hookline.delivery(&tenant, &redirect).await["status"], "failed", "a redirect fails at once");
    assert_eq!(redirecting.count(), 1);
}

#[tokio::test]
async fn a_slow_receiver_does_not_hold_back_a_fast_one_and_responses_are_captured() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let slow = Receiver::slow(Duration::from_secs(2)).await;
    let fast = Receiver::scripted(vec![Reply { status: 503, headers: vec![("retry-after", "1".into())] }], 200).await;
    hookline.create_endpoint(&tenant, json!({"url": slow.url, "event_types": ["a.slow"]})).await;
    hookline
        .create_endpoint(
            &tenant,
            json!({"url": fast.url, "event_types": ["a.fast"], "retry": {"schedule_seconds": [1]}}),
        )
        .await;
    hookline.publish(&tenant, json!({"event_type": "a.slow", "payload": {}})).await;
    let fast_event = id(&hookline.publish(&tenant, json!({"event_type": "a.fast", "payload": {}})).await);
    // One batch holds both; the fast answer arrives while the slow one is still pending.
    hookline.poller.poll_once(Duration::from_secs(1)).await.unwrap();
    assert_eq!((slow.count(), fast.count()), (1, 1));
    let gap = fast.received()[0].at.max(slow.received()[0].at) - fast.received()[0].at.min(slow.received()[0].at);
    assert!(gap < Duration::from_millis(1500), "both were sent at once ({gap:?} apart)");

    let attempt = hookline.attempts(&tenant, &fast_event).await[0].clone();
    assert_eq!(attempt["response_status"], 503);
    assert_eq!(attempt["response_headers"]["retry-after"], "1");
    assert!(attempt["response_headers"]["content-type"].as_str().unwrap().starts_with("text/plain"));
    assert_eq!(attempt["response_body"], "receiver says hi");
}

#[tokio::test]
async fn every_loopback_form_is_blocked_without_the_dev_flag_and_nothing_is_sent() {
    let hookline = Hookline::start_with(Options { egress: Egress::PublicOnly, ..Default::default() }).await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let port = receiver.url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().to_owned();
    let hosts = ["127.0.0.2", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "0x7f000001", "017700000001"];
    let mut events = Vec::new();
    for (n, host) in hosts.iter().enumerate() {
        let event_type = format!("probe.h{n}");
        hookline
            .create_endpoint(
                &tenant,
                json!({"url": format!("https://{host}:{port}/hook"), "event_types": [event_type], "retry": {"schedule_seconds": []}}),
            )
            .await;
        events.push(id(&hookline.publish(&tenant, json!({"event_type": event_type, "payload": {}})).await));
    }
    hookline
        .deliver_until(|| async {
            for event in &events {
                if hookline.delivery(&tenant, event).await["status"] != "failed" {
                    return false;
                }
            }
            true
        })
        .await;
    for (event, host) in events.iter().zip(hosts) {
        let attempt = hookline.attempts(&tenant, event).await[0].clone();
        assert_eq!(attempt["error"]["kind"], "blocked", "{host}: {attempt}");
    }
    assert_eq!(receiver.count(), 0);
}
