//! Replays and test sends end to end: resending a delivery, recovering a disabled endpoint,
//! redriving the dead-letter queue, and test sends (with the credential check).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hookline_shared::config::Config;
use hookline_shared::signing::SigningSecret;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn numbers(attempts: &[Value]) -> Vec<u64> {
    attempts.iter().map(|a| a["number"].as_u64().unwrap()).collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn a_resent_delivery_goes_again_with_the_same_webhook_id_as_attempt_two() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await);
    let event = id(&hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"n": 1}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;

    let path = format!("/v1/events/{event}/endpoints/{endpoint}/resend");
    let (status, body) = hookline.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["attempt"], 2);
    let delivery = hookline.delivery(&tenant, &event).await;
    assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("pending"), Some(1)));
    // Until it has gone, a second resend is refused.
    let (status, body) = hookline.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "delivery_pending");

    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].header("webhook-id"), event);
    assert_eq!(received[1].header("webhook-id"), event);
    assert_eq!(received[1].body, received[0].body);
    assert_eq!(numbers(&hookline.attempts(&tenant, &event).await), [1, 2]);
    assert_eq!(hookline.delivery(&tenant, &event).await["attempts"], 2);
    assert_eq!(hookline.queued_messages().await, 0);

    // Unknown events and deliveries, and another tenant's, are 404.
    let other = hookline.create_tenant("other").await;
    let (status, body) = hookline.post(&path, &other.key, json!({})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let unknown_event = hookline_shared::ids::EventId::generate();
    let (status, _) =
        hookline.post(&format!("/v1/events/{unknown_event}/endpoints/{endpoint}/resend"), &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let unknown_endpoint = hookline_shared::ids::EndpointId::generate();
    let (status, body) =
        hookline.post(&format!("/v1/events/{event}/endpoints/{unknown_endpoint}/resend"), &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("delivery"), "{body}");
}

#[tokio::test]
async fn a_resend_after_a_spent_schedule_fails_again_after_one_attempt() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(500).await;
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [1]}})).await);
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "failed" }).await;
    assert_eq!(receiver.count(), 2);

    let (status, body) =
        hookline.post(&format!("/v1/events/{event}/endpoints/{endpoint}/resend"), &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["attempt"], 3);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "failed" }).await;
    assert_eq!(receiver.count(), 3, "one more attempt, no new schedule");
    assert_eq!(numbers(&hookline.attempts(&tenant, &event).await), [1, 2, 3]);
    assert_eq!(hookline.queued_messages().await, 0);
}

#[tokio::test]
async fn recovering_a_disabled_endpoint_re_enables_it_and_redelivers_the_window() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    // C is refused for good (400), B fails once (500, retried in 2 s), A gets 410: the endpoint
    // is disabled and B, coming back, is paused. Then the receiver accepts everything.
    let receiver = Receiver::answering(&[400, 500, 410]).await;
    let endpoint =
        id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url, "retry": {"schedule_seconds": [2]}})).await);
    let publish = |n: u32| {
        let (hookline, tenant) = (&hookline, &tenant);
        async move { id(&hookline.publish(tenant, json!({"event_type": "a.b", "payload": {"n": n}})).await) }
    };
    let before_window = publish(0).await;
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &before_window).await["status"] == "failed" }).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let paused = publish(1).await;
    hookline.deliver_until(|| async { receiver.count() >= 2 }).await;
    let gone = publish(2).await;
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &gone).await["status"] == "failed" }).await;
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &paused).await["status"] == "paused" }).await;
    let shown = hookline.endpoint(&tenant, &endpoint).await;
    assert_eq!(shown["status"], "disabled");
    assert!(shown["disabled_reason"].as_str().unwrap().contains("410"), "{shown}");
    assert_eq!(receiver.count(), 3);

    let path = format!("/v1/endpoints/{endpoint}/recover");
    let (status, body) = hookline.post(&path, &tenant.key, json!({"since": rfc3339(since)})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"requeued": 2, "recently_recovered": 0, "reenabled": true, "continuation": null}));
    let shown = hookline.endpoint(&tenant, &endpoint).await;
    assert_eq!(shown["status"], "active");
    assert!(shown["disabled_reason"].is_null(), "{shown}");
    assert!(shown["health"]["failing_since"].is_null(), "{shown}");

    hookline
        .deliver_until(|| async {
            hookline.delivery(&tenant, &gone).await["status"] == "delivered"
                && hookline.delivery(&tenant, &paused).await["status"] == "delivered"
        })
        .await;
    let mut redelivered: Vec<String> =
        receiver.received()[3..].iter().map(|r| r.header("webhook-id").to_owned()).collect();
    redelivered.sort();
    let mut expected = vec![paused.clone(), gone.clone()];
    expected.sort();
    assert_eq!(redelivered, expected, "exactly the window's failed and paused deliveries");
    assert_eq!(numbers(&hookline.attempts(&tenant, &gone).await), [1, 2]);
    assert_eq!(numbers(&hookline.attempts(&tenant, &paused).await), [1, 2]);
    assert_eq!(hookline.delivery(&tenant, &before_window).await["status"], "failed", "outside the window");
    assert_eq!(hookline.queued_messages().await, 0);

    // Nothing left to recover.
    let (status, body) = hookline.post(&path, &tenant.key, json!({"since": rfc3339(since)})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"requeued": 0, "recently_recovered": 0, "reenabled": false, "continuation": null}));
}

#[tokio::test]
async fn recovery_needs_a_window_of_at_most_fourteen_days() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await);
    let path = format!("/v1/endpoints/{endpoint}/recover");
    let now = OffsetDateTime::now_utc();
    for (body, field) in [
        (json!({}), None),
        (json!({"since": "yesterday"}), Some("since")),
        (json!({"since": rfc3339(now - time::Duration::days(15))}), Some("since")),
        (
            json!({"since": rfc3339(now - time::Duration::days(20)), "until": rfc3339(now - time::Duration::days(5))}),
            Some("since"),
        ),
        (json!({"since": rfc3339(now), "until": rfc3339(now - time::Duration::hours(1))}), Some("until")),
    ] {
        let (status, answer) = hookline.post(&path, &tenant.key, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["code"], "validation_error");
        if let Some(field) = field {
            assert_eq!(answer["errors"][0]["field"], field, "{body}: {answer}");
        }
    }
    let unknown = hookline_shared::ids::EndpointId::generate();
    let (status, _) =
        hookline.post(&format!("/v1/endpoints/{unknown}/recover"), &tenant.key, json!({"since": rfc3339(now)})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = hookline
        .post(&path, &tenant.key, json!({"since": rfc3339(now - time::Duration::days(14)), "until": rfc3339(now)}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["requeued"], 0);
}

#[tokio::test]
async fn redriving_the_dead_letter_queue_moves_delivery_messages_back() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);

    // Dead-letter the delivery's message by hand, as SQS would after too many receives, and
    // put something that is not a delivery message next to it.
    let sqs = &hookline.clients.sqs;
    let (queue, dlq) = (&hookline.resources.queue_url, &hookline.resources.dead_letter_queue_url);
    let received = sqs.receive_message().queue_url(queue).wait_time_seconds(1).send().await.unwrap();
    let message = received.messages.unwrap().pop().unwrap();
    sqs.send_message().queue_url(dlq).message_body(message.body.unwrap()).send().await.unwrap();
    sqs.delete_message().queue_url(queue).receipt_handle(message.receipt_handle.unwrap()).send().await.unwrap();
    sqs.send_message().queue_url(dlq).message_body(r#"{"not": "a delivery"}"#).send().await.unwrap();
    assert_eq!(hookline.queued_messages().await, 0);

    let (status, body) = hookline.post("/v1/admin/dlq/redrive", &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a tenant's key is not the admin token: {body}");
    let (status, body) = hookline.post("/v1/admin/dlq/redrive", ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"moved": 1, "skipped": 1, "empty": true}));
    assert_eq!(hookline.queued_messages().await, 1);
    assert_eq!(hookline.dead_letter_messages().await, 1, "only the stranger stays");

    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "delivered" }).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(receiver.received()[0].header("webhook-id"), event);

    // Without a dead-letter queue there is nothing to redrive.
    let config = Config { slow_queue_url: None, dead_letter_queue_url: None, ..hookline.resources.config(ADMIN_TOKEN) };
    let url = hookline.serve_api_with(config).await;
    let response =
        hookline.http.post(format!("{url}/v1/admin/dlq/redrive")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], "unavailable");
}

#[tokio::test]
async fn a_test_send_reports_the_answer_and_records_a_test_attempt() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::always(202).await;
    let created = hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let endpoint = id(&created);
    let (status, body) = hookline
        .post(
            "/v1/event-types",
            &tenant.key,
            json!({"name": "order.created", "example": {"order": 42, "total": "9.99"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let path = format!("/v1/endpoints/{endpoint}/test");
    let (status, report) = hookline.post(&path, &tenant.key, json!({"event_type": "order.created"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let event = report["event_id"].as_str().unwrap().to_owned();
    assert_eq!(report["request"], json!({"method": "POST", "url": receiver.url}));
    assert_eq!(report["response"]["status"], 202);
    assert_eq!(report["response"]["body_excerpt"], "receiver says hi");
    assert!(report["response"]["latency_ms"].is_u64());
    assert!(report["response"].get("error").is_none(), "{report}");
    assert_eq!(report["succeeded"], true);
    assert!(report.get("auth_check").is_none(), "{report}");

    // The registered example, signed like any delivery.
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), json!({"order": 42, "total": "9.99"}));
    assert_eq!(request.header("webhook-id"), event);
    let secret = SigningSecret::parse(created["secret"].as_str().unwrap()).unwrap();
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    assert!(secret.verify(&event, timestamp, &request.body, request.header("webhook-signature")));

    // Recorded as a test attempt of its own event, which has no delivery to retry.
    let attempts = hookline.attempts(&tenant, &event).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["test"], true);
    assert_eq!(attempts[0]["number"], 1);
    assert_eq!(attempts[0]["response_status"], 202);
    assert_eq!(attempts[0]["endpoint_id"], endpoint.as_str());
    let shown = hookline.event(&tenant, &event).await;
    assert_eq!(shown["event_type"], "order.created");
    assert_eq!(shown["deliveries"], json!([]));
    assert_eq!(hookline.queued_messages().await, 0);

    // Without a type: `hookline.test` and a stand-in payload. A failing receiver is reported.
    let failing = Receiver::always(500).await;
    let broken = id(&hookline.create_endpoint(&tenant, json!({"url": failing.url})).await);
    let (status, report) = hookline.post(&format!("/v1/endpoints/{broken}/test"), &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["succeeded"], false);
    assert_eq!(report["response"]["status"], 500);
    assert_eq!(report["response"]["error"]["kind"], "http_status");
    let sent: Value = serde_json::from_slice(&failing.received()[0].body).unwrap();
    assert_eq!(sent, json!({"test": true, "event_type": "hookline.test"}));
    let attempts = hookline.attempts(&tenant, report["event_id"].as_str().unwrap()).await;
    assert_eq!((attempts[0]["test"].as_bool(), attempts[0]["succeeded"].as_bool()), (Some(true), Some(false)));
    // A real delivery's attempt carries no `test` flag.
    let real = id(&hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.attempts(&tenant, &real).await.len() == 2 }).await;
    assert!(hookline.attempts(&tenant, &real).await.iter().all(|a| a.get("test").is_none()));

    // Invalid input and unknown endpoints.
    let (status, body) = hookline.post(&path, &tenant.key, json!({"event_type": "not a type"})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("event_type")));
    let (status, body) = hookline.post(&path, &tenant.key, json!({"check_auth": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no credentials to check: {body}");
    assert_eq!(body["errors"][0]["field"], "check_auth");
    let other = hookline.create_tenant("other").await;
    let (status, _) = hookline.post(&path, &other.key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A receiver that wants `Authorization: Bearer right-token`: 200 with it, 401 without.
async fn strict_receiver() -> String {
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some("Bearer right-token") => (StatusCode::OK, "welcome"),
            _ => (StatusCode::UNAUTHORIZED, "who are you?"),
        }
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_credential_check_tells_a_receiver_that_refuses_from_one_that_accepts_anything() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let auth = json!({"type": "bearer", "token": "right-token"});

    let strict = id(&hookline.create_endpoint(&tenant, json!({"url": strict_receiver().await, "auth": auth})).await);
    let (status, report) =
        hookline.post(&format!("/v1/endpoints/{strict}/test"), &tenant.key, json!({"check_auth": true})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["succeeded"], true, "{report}");
    assert_eq!(report["response"]["status"], 200);
    assert_eq!(report["response"]["body_excerpt"], "welcome");
    assert_eq!(report["auth_check"], json!({"status": 401, "refused": true}));

    let lax = Receiver::start().await;
    let endpoint = id(&hookline.create_endpoint(&tenant, json!({"url": lax.url, "auth": auth})).await);
    let (status, report) =
        hookline.post(&format!("/v1/endpoints/{endpoint}/test"), &tenant.key, json!({"check_auth": true})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["succeeded"], true);
    assert_eq!(report["auth_check"], json!({"status": 200, "refused": false}));
    let mut credentials: Vec<String> = lax.received().iter().map(|r| r.header("authorization").to_owned()).collect();
    credentials.sort();
    assert_eq!(credentials.len(), 2);
    assert!(credentials[0].starts_with("Bearer hookline-wrong-"), "{credentials:?}");
    assert_eq!(credentials[1], "Bearer right-token");
    // Only the real request is recorded.
    let attempts = hookline.attempts(&tenant, report["event_id"].as_str().unwrap()).await;
    assert_eq!(attempts.len(), 1);
}
