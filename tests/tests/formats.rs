//! Payload formats and chat targets, byte for byte, through real receivers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use hookline_shared::signing::SigningSecret;
use hookline_tests::{Hookline, Received, Receiver, Reply};
use serde_json::{Value, json};

const AWKWARD: &str =
    r#"{"name": "Zoë & <Co>", "tags": ["a", "b"], "empty": [], "nested": {"q": "\"hi\""}, "n": null}"#;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Publishes `payload` (raw JSON) as `event_type` and waits for the receiver's first request.
async fn deliver_one(
    hookline: &Hookline,
    key: &str,
    receiver: &Receiver,
    event_type: &str,
    payload: &str,
) -> (String, Received) {
    let body = format!(r#"{{"event_type": "{event_type}", "payload": {payload}}}"#);
    let (status, accepted) = hookline.call("POST", "/v1/events", Some(key), Some(&body)).await;
    assert_eq!(status, 202, "{accepted}");
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    (id(&accepted), receiver.received().remove(0))
}

fn verify(secret: &Value, event_id: &str, request: &Received) -> bool {
    let secret = SigningSecret::parse(secret.as_str().unwrap()).unwrap();
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    secret.verify(event_id, timestamp, &request.body, request.header("webhook-signature"))
}

#[tokio::test]
async fn xml_bodies_map_the_payload_deterministically_and_are_signed() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "xml"})).await;
    let (event_id, request) = deliver_one(&hookline, &tenant.key, &receiver, "order.created", AWKWARD).await;
    let expected = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        "<order.created><n/><name>Zoë &amp; &lt;Co&gt;</name><nested><q>&quot;hi&quot;</q></nested>",
        "<tags>a</tags><tags>b</tags></order.created>"
    );
    assert_eq!(std::str::from_utf8(&request.body).unwrap(), expected);
    assert_eq!(request.header("content-type"), "application/xml; charset=utf-8");
    assert!(verify(&endpoint["secret"], &event_id, &request), "the signature covers the XML bytes");
}

#[tokio::test]
async fn form_bodies_flatten_nested_keys_and_are_signed() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "form"})).await;
    let (event_id, request) = deliver_one(&hookline, &tenant.key, &receiver, "order.created", AWKWARD).await;
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap(),
        "n=&name=Zo%C3%AB+%26+%3CCo%3E&nested%5Bq%5D=%22hi%22&tags%5B0%5D=a&tags%5B1%5D=b"
    );
    assert_eq!(request.header("content-type"), "application/x-www-form-urlencoded");
    assert!(verify(&endpoint["secret"], &event_id, &request));
}

#[tokio::test]
async fn json_is_sent_as_posted() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    let (_, request) = deliver_one(&hookline, &tenant.key, &receiver, "order.created", AWKWARD).await;
    assert_eq!(std::str::from_utf8(&request.body).unwrap(), AWKWARD);
}

#[tokio::test]
async fn get_and_delete_put_fields_and_query_templates_in_the_url() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("desk").await;
    for method in ["GET", "DELETE"] {
        let receiver = Receiver::start().await;
        let endpoint = hookline
            .create_endpoint(
                &tenant,
                json!({
                    "url": format!("{}?fixed=1", receiver.url),
                    "method": method,
                    "event_types": [format!("ticket.{}", method.to_lowercase())],
                    "query": {"ticket": "{{payload.id}}", "kind": "{{event.type}}"},
                }),
            )
            .await;
        let event_type = format!("ticket.{}", method.to_lowercase());
        let (event_id, request) =
            deliver_one(&hookline, &tenant.key, &receiver, &event_type, r#"{"id": 7, "who": "a b&c"}"#).await;
        assert_eq!(request.method, method);
        assert_eq!(
            request.uri.query().unwrap(),
            format!("fixed=1&id=7&who=a+b%26c&kind=ticket.{}&ticket=7", method.to_lowercase())
        );
        assert!(request.body.is_empty());
        assert_eq!(request.header("content-type"), "");
        assert!(
            !verify(&endpoint["secret"], &event_id, &request),
            "the signature covers the query, not the empty body"
        );
        let query = Received { body: request.uri.query().unwrap().as_bytes().to_vec().into(), ..request.clone() };
        assert!(verify(&endpoint["secret"], &event_id, &query), "the signature covers the query string");
    }
}

#[tokio::test]
async fn chime_messages_fit_4_kb_pass_mentions_through_and_are_not_signed() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let receiver = Receiver::start().await;
    hookline
        .create_endpoint(&tenant, json!({"url": receiver.url, "format": "chime", "template": "@All {{payload.text}}"}))
        .await;
    let long = "déjà vu 🚀 ".repeat(800); // about 10 KB
    let payload = json!({"text": long}).to_string();
    let (event_id, request) = deliver_one(&hookline, &tenant.key, &receiver, "alert.raised", &payload).await;
    assert!(request.body.len() <= 4096, "{} bytes", request.body.len());
    let body: Value = serde_json::from_slice(&request.body).expect("valid JSON in valid UTF-8");
    let content = body["Content"].as_str().unwrap();
    assert!(content.starts_with("@All déjà vu 🚀"), "{}", &content[..40]);
    assert!(content.ends_with('…'));
    assert_eq!(request.header("webhook-signature"), "", "chat rooms are not signed unless asked");
    let attempts = hookline.attempts(&tenant, &event_id).await;
    assert_eq!(attempts[0]["truncated"], true);
}

#[tokio::test]
async fn a_chime_404_fails_at_once_and_disables_the_endpoint() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let receiver = Receiver::always(404).await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "format": "chime"})).await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "alert.raised", "payload": {"a": 1}})).await;
    let event_id = id(&accepted);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "failed" }).await;
    assert_eq!(hookline.delivery(&tenant, &event_id).await["attempts"], 1);
    let shown = hookline.endpoint(&tenant, &id(&endpoint)).await;
    assert_eq!(shown["status"], "disabled");
    assert!(shown["disabled_reason"].as_str().unwrap().contains("404"));
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn google_chat_is_retried_after_429_and_threads_by_key() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let receiver =
        Receiver::scripted(vec![Reply { status: 429, headers: vec![("retry-after", "1".into())] }], 200).await;
    hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "format": "google_chat", "thread_key": "order-{{payload.id}}",
                   "retry": {"schedule_seconds": [1, 1]}}),
        )
        .await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "order.shipped", "payload": {"id": 9}})).await;
    let event_id = id(&accepted);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "delivered" }).await;
    let requests = receiver.received();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("content-type"), "application/json; charset=UTF-8");
    assert_eq!(requests[1].uri.query(), Some("messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"));
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body, json!({"text": r#"order.shipped: {"id":9}"#, "thread": {"threadKey": "order-9"}}));
    let attempts = hookline.attempts(&tenant, &event_id).await;
    assert_eq!(
        (attempts[0]["response_status"].as_u64(), attempts[1]["response_status"].as_u64()),
        (Some(429), Some(200))
    );
}

#[tokio::test]
async fn two_endpoints_posting_to_one_room_share_its_one_message_per_second() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let room = Receiver::start().await;
    // The same room, two webhook URLs that differ only in their query string.
    for key in ["a", "b"] {
        hookline.create_endpoint(&tenant, json!({"url": format!("{}?key={key}", room.url), "format": "slack"})).await;
    }
    for n in 0..3 {
        hookline.publish(&tenant, json!({"event_type": "msg.posted", "payload": {"n": n}})).await;
    }
    hookline.deliver_until(|| async { room.count() >= 6 }).await;
    let mut arrivals: Vec<_> = room.received().into_iter().map(|r| r.at).collect();
    arrivals.sort();
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(950)), "gaps: {gaps:?}");
}

#[tokio::test]
async fn templates_that_do_not_parse_and_chat_rules_are_422() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let cases = [
        (json!({"url": "http://127.0.0.1:9/x", "format": "chime", "template": "{{payload.a"}), "template"),
        (json!({"url": "http://127.0.0.1:9/x", "format": "chime", "template": "{{secret.key}}"}), "template"),
        (json!({"url": "http://127.0.0.1:9/x", "format": "slack", "method": "GET"}), "method"),
        (json!({"url": "http://127.0.0.1:9/x", "query": {"q": "{{"}}), "query.q"),
        (json!({"url": "http://127.0.0.1:9/x", "format": "slack", "thread_key": "x"}), "thread_key"),
        (json!({"url": "http://127.0.0.1:9/x", "format": "pdf"}), ""),
        (json!({"url": "http://127.0.0.1:9/x", "format": "xml", "envelope": "standard"}), "envelope"),
        (json!({"url": "http://127.0.0.1:9/x", "envelope": "nested"}), ""),
        (json!({"url": "http://127.0.0.1:9/x", "method": "GET", "delete_payload": "body"}), "delete_payload"),
        (json!({"url": "http://127.0.0.1:9/x", "delete_payload": "body"}), "delete_payload"),
    ];
    for (body, field) in cases {
        let (status, answer) = hookline.post("/v1/endpoints", &tenant.key, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        }
    }
}
