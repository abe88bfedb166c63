//! The target systems' documented rules, each enforced by a receiver on 127.0.0.1 or by the
//! API the way the system itself enforces it: Chime rooms, Zendesk's header denylist, test
//! panel and "never disable", Stripe's idempotency keys, plain http as a deployment's choice,
//! and the event catalogue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_shared::config::Config;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn fields(error: &Value) -> Vec<String> {
    error["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
}

/// An Amazon Chime chat room with several incoming webhooks (`/incomingwebhooks/<n>?token=…`).
/// Like Chime, it takes one message per second per room, whichever webhook it comes through,
/// and answers 429 otherwise. The window is 0.8 s rather than 1 s so that scheduling jitter on
/// a loaded test machine cannot make a correctly paced sender look too fast.
#[derive(Clone)]
struct ChimeRoom {
    base: String,
    log: Arc<Mutex<RoomLog>>,
}

#[derive(Default)]
struct RoomLog {
    last_accepted: Option<Instant>,
    accepted: Vec<(String, Value)>,
    refused: usize,
}

const ROOM_WINDOW: Duration = Duration::from_millis(800);

impl ChimeRoom {
    async fn open() -> Self {
        use axum::extract::State;
        use axum::http::Uri;
        async fn post(State(log): State<Arc<Mutex<RoomLog>>>, uri: Uri, body: axum::body::Bytes) -> StatusCode {
            let mut log = log.lock().unwrap();
            let now = Instant::now();
            if log.last_accepted.is_some_and(|last| now.duration_since(last) < ROOM_WINDOW) {
                log.refused += 1;
                return StatusCode::TOO_MANY_REQUESTS;
            }
            let Ok(message) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST };
            if !message["Content"].is_string() {
                return StatusCode::BAD_REQUEST;
            }
            log.last_accepted = Some(now);
            log.accepted.push((uri.path().to_owned(), message));
            StatusCode::OK
        }
        let log = Arc::new(Mutex::new(RoomLog::default()));
        let app =
            axum::Router::new().route("/incomingwebhooks/{webhook}", axum::routing::post(post)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, log }
    }

    fn webhook(&self, n: u32) -> String {
        format!("{}/incomingwebhooks/{n}?format=hookline&token=t{n}", self.base)
    }
}

#[tokio::test]
async fn two_webhooks_of_one_chime_room_share_its_one_message_per_second() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("ops").await;
    let room = ChimeRoom::open().await;
    // Chime's URLs do not name the room: the tenant names it with a key, and the room's rate
    // (1/s) applies without being spelt out.
    for n in [1, 2] {
        hookline
            .create_endpoint(
                &tenant,
                json!({"url": room.webhook(n), "format": "chime", "rate_limit_key": "ops-room",
                       "event_types": ["deploy.finished"]}),
            )
            .await;
    }
    let mut events = Vec::new();
    for n in 0..3 {
        let accepted =
            hookline.publish(&tenant, json!({"event_type": "deploy.finished", "payload": {"build": n}})).await;
        assert_eq!(accepted["deliveries"], 2);
        events.push(id(&accepted));
    }
    hookline.deliver_until(|| async { room.log.lock().unwrap().accepted.len() == 6 }).await;
    let log = room.log.lock().unwrap();
    assert_eq!(log.refused, 0, "the room never had to answer 429");
    let webhooks: std::collections::BTreeSet<&str> = log.accepted.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(webhooks.len(), 2, "both webhooks posted: {webhooks:?}");
    drop(log);
    for event in &events {
        for delivery in hookline.event(&tenant, event).await["deliveries"].as_array().unwrap() {
            assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("delivered"), Some(1)));
        }
    }
}

#[tokio::test]
async fn a_rate_limit_key_without_a_rate_is_only_for_chat_rooms() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("ops").await;
    let receiver = Receiver::start().await;
    let (status, body) = hookline
        .post(
            "/v1/endpoints",
            &tenant.key,
            json!({"url": receiver.url, "rate_limit_key": "crm", "event_types": ["a.b"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["rate_limit_key"]);
}

/// Zendesk's documented denylist for custom headers, names and prefixes, every entry.
#[tokio::test]
async fn every_header_zendesk_refuses_is_refused() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("support").await;
    let receiver = Receiver::start().await;
    let names = [
        "accept-charset",
        "Accept-Encoding",
        "content-md5",
        "max-forwards",
        "Origin",
        "proxy-authenticate",
        "Referer",
        "server",
        "via",
        "WWW-Authenticate",
        "zendesk-api-version",
        "zendesk-ep",
    ];
    let prefixed =
        ["Access-Control-Allow-Origin", "x-apigw-id", "X-Datadog-Trace-Id", "x-envoy-upstream", "X-Zendesk-Account"];
    for name in names.iter().chain(&prefixed) {
        let (status, body) = hookline
            .post(
                "/v1/endpoints",
                &tenant.key,
                json!({"url": receiver.url, "event_types": ["ticket.created"], "headers": {*name: "v"}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(fields(&body), ["headers[0].name"], "{name}");
    }
    // What Zendesk allows is still allowed.
    let created = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "event_types": ["ticket.created"], "headers": {"X-Team": "core"}}),
        )
        .await;
    assert_eq!(created["headers"][0]["name"], "X-Team");
}

async fn set_failing_since(hookline: &Hookline, tenant: &hookline_tests::Tenant, endpoint: &str, hours_ago: i64) {
    let since = (OffsetDateTime::now_utc() - time::Duration::hours(hours_ago)).format(&Rfc3339).unwrap();
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(&hookline.resources.table)
        .key("pk", AttributeValue::S(format!("TEN#{}", tenant.id)))
        .key("sk", AttributeValue::S(format!("EP#{endpoint}")))
        .update_expression("SET failing_since = :since")
        .expression_attribute_values(":since", AttributeValue::S(since))
        .send()
        .await
        .unwrap();
}

/// Zendesk: failures never disable a webhook. `disable_after_hours: null` says so; a 410 Gone
/// still disables it.
#[tokio::test]
async fn an_endpoint_that_never_disables_keeps_going_after_any_failure_streak_but_not_after_410() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("support").await;
    let failing = Receiver::always(500).await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": failing.url, "disable_after_hours": null, "retry": {"schedule_seconds": [1]},
                   "event_types": ["ticket.created"]}),
        )
        .await;
    assert_eq!(endpoint["disable_after_hours"], Value::Null);
    // Failing for longer than any limit could be (720 h).
    set_failing_since(&hookline, &tenant, &id(&endpoint), 1000).await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "ticket.created", "payload": {"id": 1}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &event).await["status"] == "failed" }).await;
    let shown = hookline.endpoint(&tenant, &id(&endpoint)).await;
    assert_eq!(shown["status"], "active", "{shown}");
    assert_eq!(hookline.delivery(&tenant, &event).await["attempts"], 2);
    assert_eq!(failing.count(), 2);

    // A patch keeps `never`.
    let path = format!("/v1/endpoints/{}", id(&endpoint));
    let (status, patched) = hookline.patch(&path, &tenant.key, json!({"description": "tickets"})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["disable_after_hours"], Value::Null);

    // The same setting, but the receiver says the webhook is gone.
    let gone = Receiver::always(410).await;
    let doomed = hookline
        .create_endpoint(
            &tenant,
            json!({"url": gone.url, "disable_after_hours": null, "event_types": ["ticket.deleted"]}),
        )
        .await;
    let second = id(&hookline.publish(&tenant, json!({"event_type": "ticket.deleted", "payload": {"id": 2}})).await);
    hookline.deliver_until(|| async { hookline.delivery(&tenant, &second).await["status"] == "failed" }).await;
    assert_eq!(hookline.endpoint(&tenant, &id(&doomed)).await["status"], "disabled");
}

/// Stripe: an idempotency key reused with other parameters is an error; the same request
/// again gets the first answer.
#[tokio::test]
async fn an_idempotency_key_reused_for_another_event_is_a_conflict() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;
    let first = hookline
        .publish(
            &tenant,
            json!({"event_type": "order.created", "payload": {"id": 1, "total": 10}, "idempotency_key": "o-1"}),
        )
        .await;
    // The same event, its keys in another order: the same answer.
    let retry = r#"{"idempotency_key": "o-1", "payload": {"total": 10, "id": 1}, "event_type": "order.created"}"#;
    let (status, again) = hookline.call("POST", "/v1/events", Some(&tenant.key), Some(retry)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["id"], first["id"]);

    for other in [
        json!({"event_type": "order.created", "payload": {"id": 1, "total": 11}, "idempotency_key": "o-1"}),
        json!({"event_type": "order.updated", "payload": {"id": 1, "total": 10}, "idempotency_key": "o-1"}),
    ] {
        let (status, body) = hookline.post("/v1/events", &tenant.key, other.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{other}: {body}");
        assert_eq!(body["code"], "idempotency_key_reused");
    }
    hookline.drain().await;
    hookline.deliver_until(|| async { receiver.count() >= 1 }).await;
    hookline.drain().await;
    assert_eq!(receiver.count(), 1, "one event, one delivery");
    let body: Value = serde_json::from_slice(&receiver.received()[0].body).unwrap();
    assert_eq!(body, json!({"id": 1, "total": 10}));
}

fn deployment_config(hookline: &Hookline, allow_http: bool) -> Config {
    Config {
        table: hookline.resources.table.clone(),
        queue_url: hookline.resources.queue_url.clone(),
        dead_letter_queue_url: Some(hookline.resources.dead_letter_queue_url.clone()),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        retention: Duration::from_secs(86_400),
        dev_allow_loopback: false,
        allow_http,
    }
}

/// FastComments accepts http receivers. A deployment that sets `AllowHttpEndpoints` accepts
/// them too, but never sends credentials or custom headers over plain http.
#[tokio::test]
async fn a_deployment_may_allow_plain_http_but_never_sends_secrets_over_it() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("comments").await;
    let receiver = Receiver::start().await;
    let create = |api: String, body: Value| {
        let http = hookline.http.clone();
        let key = tenant.key.clone();
        async move {
            let request = http.post(format!("{api}/v1/endpoints")).bearer_auth(key);
            let response =
                request.header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
            let status = response.status();
            (status, serde_json::from_slice::<Value>(&response.bytes().await.unwrap()).unwrap())
        }
    };
    let endpoint = json!({"url": receiver.url, "method": "PUT", "event_types": ["comment.created"]});

    let https_only = hookline.serve_api_with(deployment_config(&hookline, false)).await;
    let (status, body) = create(https_only, endpoint.clone()).await;
    assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["url".to_owned()]), "{body}");

    let api = hookline.serve_api_with(deployment_config(&hookline, true)).await;
    let mut with_auth = endpoint.clone();
    with_auth["auth"] = json!({"type": "api_key", "header": "token", "value": "fc-secret"});
    let (status, body) = create(api.clone(), with_auth).await;
    assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["auth".to_owned()]), "{body}");
    let mut with_headers = endpoint.clone();
    with_headers["headers"] = json!({"X-Tenant": "acme"});
    let (status, body) = create(api.clone(), with_headers).await;
    assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["headers".to_owned()]), "{body}");

    let (status, created) = create(api, endpoint).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let event = id(&hookline.publish(&tenant, json!({"event_type": "comment.created", "payload": {"id": "c1"}})).await);
    hookline.deliver_until(|| async { receiver.count() == 1 }).await;
    let got = &receiver.received()[0];
    assert_eq!((got.method.as_str(), got.header("token")), ("PUT", ""));
    assert_eq!(hookline.delivery(&tenant, &event).await["status"], "delivered");
}
