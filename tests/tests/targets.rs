//! The target systems' own rules (issue 14): Google Chat threads, FastComments deletes, a
//! Treble-style endpoint that routes on the event type, and signatures that protect the payload
//! of a request without a body. Each receiver enforces its service's rule.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use hookline_tests::{Hookline, Received, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn body_json(request: &Received) -> Option<Value> {
    serde_json::from_slice(&request.body).ok()
}

/// A Google Chat space: it reads a message's thread from the body (`thread.threadKey`) only,
/// as Google documents; whatever the URL's query says about threads is not its business.
fn google_chat_space(request: &Received) -> u16 {
    match body_json(request) {
        Some(body) if request.method == "POST" && (body["text"].is_string() || body["cardsV2"].is_array()) => 200,
        _ => 400,
    }
}

#[tokio::test]
async fn a_google_chat_space_threads_messages_by_the_key_in_the_body() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let space = Receiver::judging(google_chat_space).await;
    hookline
        .create_endpoint(
            &tenant,
            json!({"url": format!("{}?key=k&token=t", space.url), "format": "google_chat",
                   "template": "{{payload.step}}", "thread_key": "order-{{payload.id}}"}),
        )
        .await;
    for (id, step) in [(7, "paid"), (8, "paid"), (7, "shipped")] {
        hookline.publish(&tenant, json!({"event_type": "order.updated", "payload": {"id": id, "step": step}})).await;
    }
    hookline.deliver_until(|| async { space.count() >= 3 }).await;

    let mut threads: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for request in space.received() {
        let body = body_json(&request).unwrap();
        let key = body["thread"]["threadKey"].as_str().unwrap_or("(new thread)").to_owned();
        threads.entry(key).or_default().push(body["text"].as_str().unwrap().to_owned());
        let query = request.uri.query().unwrap();
        assert!(!query.contains("threadKey"), "the key is not in the URL: {query}");
        assert_eq!(query, "key=k&token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    }
    let mut order_7 = threads.remove("order-7").unwrap_or_default();
    order_7.sort();
    assert_eq!(order_7, ["paid", "shipped"], "{threads:?}");
    assert_eq!(threads.remove("order-8").unwrap_or_default(), ["paid"]);
    assert!(threads.is_empty(), "{threads:?}");
}

#[tokio::test]
async fn a_google_chat_space_gets_cards_rendered_from_a_template_in_their_thread() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("chat").await;
    let space = Receiver::judging(google_chat_space).await;
    let cards = r#"[{"cardId": "order-{{payload.id}}", "card": {"header": {"title": "Order {{payload.id}}", "subtitle": "{{payload.note}}"}}}]"#;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": space.url, "format": "google_chat", "cards": cards, "thread_key": "order-{{payload.id}}"}),
        )
        .await;
    assert_eq!(hookline.endpoint(&tenant, endpoint["id"].as_str().unwrap()).await["cards"], cards);
    let note = r#"said "hi" \ left"#;
    let accepted =
        hookline.publish(&tenant, json!({"event_type": "order.updated", "payload": {"id": 7, "note": note}})).await;
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "delivered" }).await;
    let body = body_json(&space.received()[0]).unwrap();
    assert_eq!(
        body,
        json!({"cardsV2": [{"cardId": "order-7", "card": {"header": {"title": "Order 7", "subtitle": note}}}],
               "thread": {"threadKey": "order-7"}})
    );
}

/// FastComments: a DELETE with the API secret in `token` and a JSON body naming the comment.
fn fastcomments(request: &Received) -> u16 {
    if request.header("token") != "fc-secret" {
        return 401;
    }
    let names_a_comment = body_json(request).is_some_and(|body| body["id"].is_string());
    if request.method == "DELETE" && request.header("content-type") == "application/json" && names_a_comment {
        200
    } else {
        400
    }
}

#[tokio::test]
async fn a_fastcomments_delete_carries_the_comment_in_its_body_when_asked() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("comments").await;
    let receiver = Receiver::judging(fastcomments).await;
    let auth = json!({"type": "api_key", "header": "token", "value": "fc-secret"});
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "method": "DELETE", "delete_payload": "body", "auth": auth,
                   "event_types": ["comment.deleted"]}),
        )
        .await;
    assert_eq!(hookline.endpoint(&tenant, endpoint["id"].as_str().unwrap()).await["delete_payload"], "body");
    let payload = r#"{"id": "cmt_1", "urlId": "post-9"}"#;
    let body = format!(r#"{{"event_type": "comment.deleted", "payload": {payload}}}"#);
    let (status, accepted) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "delivered" }).await;
    let request = receiver.received().remove(0);
    assert_eq!(request.method, "DELETE");
    assert_eq!(std::str::from_utf8(&request.body).unwrap(), payload, "the payload as posted");
    assert_eq!(request.uri.query(), None, "not in the query as well");
    assert!(verify_standard(&endpoint["secret"], &request, &request.body), "the signature covers the body");

    // PATCH clears it back to the default, `query`, and keeps it through other changes.
    let path = format!("/v1/endpoints/{}", endpoint["id"].as_str().unwrap());
    let (_, shown) = hookline.patch(&path, &tenant.key, json!({"description": "comments"})).await;
    assert_eq!(shown["delete_payload"], "body", "{shown}");
    let (status, shown) = hookline.patch(&path, &tenant.key, json!({"delete_payload": null})).await;
    assert_eq!((status, &shown["delete_payload"]), (StatusCode::OK, &json!("query")), "{shown}");

    // With the default, the payload goes in the query, and FastComments refuses such a DELETE.
    let by_query = Receiver::judging(fastcomments).await;
    hookline
        .create_endpoint(
            &tenant,
            json!({"url": by_query.url, "method": "DELETE", "auth": auth, "event_types": ["comment.purged"]}),
        )
        .await;
    let accepted = hookline.publish(&tenant, json!({"event_type": "comment.purged", "payload": {"id": "cmt_2"}})).await;
    let event_id = accepted["id"].as_str().unwrap().to_owned();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event_id).await["status"] == "failed" }).await;
    let request = by_query.received().remove(0);
    assert_eq!((request.body.len(), request.uri.query()), (0, Some("id=cmt_2")));
}

/// Treble's global endpoint: one URL gets every event and routes on its type, which it reads
/// from the `webhook-event-type` header (and, in the standard envelope, from `type`).
fn treble(request: &Received) -> u16 {
    const ROUTES: [&str; 3] = ["message.read", "message.delivered", "conversation.closed"];
    let event_type = request.header("webhook-event-type");
    let body = body_json(request).unwrap_or_default();
    let enveloped = body["type"] == event_type && body["timestamp"].is_string() && body["data"].is_object();
    if ROUTES.contains(&event_type) && enveloped { 200 } else { 400 }
}

#[tokio::test]
async fn a_global_endpoint_routes_on_the_event_type_header_and_the_standard_envelope() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("treble").await;
    let receiver = Receiver::judging(treble).await;
    let endpoint = hookline.create_endpoint(&tenant, json!({"url": receiver.url, "envelope": "standard"})).await;
    let mut events = Vec::new();
    for (event_type, payload) in [
        ("message.read", r#"{"message_id": "m1"}"#),
        ("message.delivered", r#"{"message_id": "m2", "at": 1.50}"#),
        ("conversation.closed", r#"{"conversation_id": "c1"}"#),
    ] {
        let body = format!(r#"{{"event_type": "{event_type}", "payload": {payload}}}"#);
        let (status, accepted) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(&body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        events.push((accepted["id"].as_str().unwrap().to_owned(), event_type, payload));
    }
    hookline.deliver_until(|| async { receiver.count() >= 3 }).await;
    for (event_id, event_type, payload) in events {
        assert_eq!(hookline.delivery(&tenant, &event_id).await["status"], "delivered", "{event_type}");
        let request = receiver.received().into_iter().find(|r| r.header("webhook-id") == event_id).unwrap();
        assert_eq!(request.header("webhook-event-type"), event_type);
        let body = std::str::from_utf8(&request.body).unwrap();
        // `data` holds the payload's bytes as posted (`1.50` stays `1.50`).
        assert!(body.starts_with(&format!(r#"{{"type":"{event_type}","timestamp":""#)), "{body}");
        assert!(body.ends_with(&format!(r#","data":{payload}}}"#)), "{body}");
        assert!(verify_standard(&endpoint["secret"], &request, &request.body));
    }
    // The header is on every request, enveloped or not.
    let plain = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": plain.url, "event_types": ["ticket.opened"]})).await;
    hookline.publish(&tenant, json!({"event_type": "ticket.opened", "payload": {"n": 1}})).await;
    hookline.deliver_until(|| async { plain.count() >= 1 }).await;
    assert_eq!(plain.received()[0].header("webhook-event-type"), "ticket.opened");
    assert_eq!(&plain.received()[0].body[..], br#"{"n":1}"#);
}

/// The Standard Webhooks check, written from the specification rather than with Hookline's
/// signing code: base64 HMAC-SHA256 of `id.timestamp.content` under the secret's base64 key.
fn verify_standard(secret: &Value, request: &Received, content: &[u8]) -> bool {
    let key = STANDARD.decode(secret.as_str().unwrap().strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(request.header("webhook-id").as_bytes());
    mac.update(b".");
    mac.update(request.header("webhook-timestamp").as_bytes());
    mac.update(b".");
    mac.update(content);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    request.header("webhook-signature").split(' ').any(|signature| signature == expected)
}

#[tokio::test]
async fn a_get_delivery_is_signed_over_its_query_string() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("desk").await;
    let receiver = Receiver::start().await;
    let endpoint =
        hookline.create_endpoint(&tenant, json!({"url": format!("{}?fixed=1", receiver.url), "method": "GET"})).await;
    hookline.publish(&tenant, json!({"event_type": "ticket.viewed", "payload": {"ticket": 42, "who": "a b"}})).await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    let request = receiver.received().remove(0);
    let query = request.uri.query().unwrap();
    assert_eq!(query, "fixed=1&ticket=42&who=a+b");
    assert!(request.body.is_empty());
    assert!(verify_standard(&endpoint["secret"], &request, query.as_bytes()), "signed over the query string");
    // A changed query (a tampered ticket) no longer verifies.
    assert!(!verify_standard(&endpoint["secret"], &request, b"fixed=1&ticket=43&who=a+b"));
    assert!(!verify_standard(&endpoint["secret"], &request, b""), "not over an empty body");
}
