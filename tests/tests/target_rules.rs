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
use hookline_tests::{ADMIN_TOKEN, Egress, Hookline, Receiver};
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
/// and answers 429 otherwise. The window is 0.5 s rather than 1 s: Hookline reserves slots
/// 1.05 s apart, but on a loaded 2-core test machine a send can leave a few hundred ms after its
/// slot, which must not make a correctly paced sender look too fast. Unpaced webhooks (each its
/// own "room", as before room keys) post within milliseconds of each other.
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

const ROOM_WINDOW: Duration = Duration::from_millis(500);

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
    // Any other endpoint must still say how fast a shared key may go.
    let (status, body) = hookline
        .post(
            "/v1/endpoints",
            &tenant.key,
            json!({"url": room.webhook(3), "rate_limit_key": "ops-room", "event_types": ["x.y"]}),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["rate_limit_key".to_owned()]),
        "{body}"
    );

    let mut events = Vec::new();
    for n in 0..3 {
        let accepted =
            hookline.publish(&tenant, json!({"event_type": "deploy.finished", "payload": {"build": n}})).await;
        assert_eq!(accepted["deliveries"], 2);
        events.push(id(&accepted));
    }
    hookline.deliver_until(|| async { room.log.lock().unwrap().accepted.len() == 6 }).await;
    let (refused, webhooks) = {
        let log = room.log.lock().unwrap();
        let webhooks: std::collections::BTreeSet<String> = log.accepted.iter().map(|(path, _)| path.clone()).collect();
        (log.refused, webhooks)
    };
    assert_eq!(refused, 0, "the room never had to answer 429");
    assert_eq!(webhooks.len(), 2, "both webhooks posted: {webhooks:?}");
    for event in &events {
        for delivery in hookline.event(&tenant, event).await["deliveries"].as_array().unwrap() {
            assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("delivered"), Some(1)));
        }
    }
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
        .set_key(Some(tenant.endpoint_key(endpoint)))
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
    Config { slow_queue_url: None, egress: Egress::PublicOnly, allow_http, ..hookline.resources.config(ADMIN_TOKEN) }
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

/// Zendesk's test panel: the user picks the event and edits the request's body, query
/// parameters and headers for one test; what the panel refuses, the endpoint refuses too.
#[tokio::test]
async fn a_test_send_takes_an_edited_body_query_and_headers() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("support").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "event_types": ["ticket.created"], "query": {"source": "hookline"},
                   "headers": {"X-Team": "core"}}),
        )
        .await;
    let path = format!("/v1/endpoints/{}/test", id(&endpoint));
    let payload = r#"{"ticket": {"id": 7, "subject": "Printer on fire"}}"#;
    let body = format!(
        r#"{{"event_type": "ticket.created", "payload": {payload}, "query": {{"ticket": "{{{{payload.ticket.id}}}}"}},
            "headers": [{{"name": "X-Trace", "value": "t-1"}}]}}"#
    );
    let (status, report) = hookline.call("POST", &path, Some(&tenant.key), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["succeeded"], true);
    assert_eq!(receiver.count(), 1);
    let got = &receiver.received()[0];
    assert_eq!(std::str::from_utf8(&got.body).unwrap(), payload, "the edited body, byte for byte");
    assert_eq!(got.uri.query(), Some("ticket=7"), "the edited query replaces the endpoint's");
    assert_eq!((got.header("x-trace"), got.header("x-team")), ("t-1", ""));
    // The endpoint itself is unchanged.
    let shown = hookline.endpoint(&tenant, &id(&endpoint)).await;
    assert_eq!(
        (shown["headers"][0]["name"].as_str(), shown["query"]["source"].as_str()),
        (Some("X-Team"), Some("hookline"))
    );

    for (edit, field) in [
        (json!({"headers": {"X-Zendesk-Account": "1"}}), "headers[0].name"),
        (json!({"headers": {"X-A": "line\nbreak"}}), "headers[0].value"),
        (json!({"query": {"bad": "{{payload"}}), "query.bad"),
        (json!({"payload": [1, 2]}), "payload"),
    ] {
        let (status, body) = hookline.post(&path, &tenant.key, edit.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{edit}: {body}");
        assert_eq!(fields(&body), [field], "{edit}");
    }
    assert_eq!(receiver.count(), 1, "a refused test sends nothing");
}

const ORDER_SCHEMA: &str = r##"{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "integer"},
        "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}}
    },
    "$defs": {"item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}}
}"##;

#[tokio::test]
async fn event_types_can_be_changed_and_removed_and_carry_a_schema() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let body = format!(r#"{{"name": "order.created", "description": "An order", "schema": {ORDER_SCHEMA}}}"#);
    let (status, created) = hookline.call("POST", "/v1/event-types", Some(&tenant.key), Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let schema: Value = serde_json::from_str(ORDER_SCHEMA).unwrap();
    let (_, shown) = hookline.get("/v1/event-types/order.created", &tenant.key).await;
    assert_eq!(shown["schema"], schema, "the schema is served with the type");

    // Schemas that are not self-contained 2020-12 schemas, and examples that break the schema.
    for (bad, field) in [
        (json!({"name": "a.b", "schema": {"type": "nonsense"}}), "schema"),
        (json!({"name": "a.b", "schema": {"$ref": "https://example.com/order.json"}}), "schema"),
        (json!({"name": "a.b", "schema": {"$schema": "http://json-schema.org/draft-07/schema#"}}), "schema"),
        (json!({"name": "a.b", "schema": schema.clone(), "example": {"id": 1, "items": [{}]}}), "example/items/0"),
    ] {
        let (status, body) = hookline.post("/v1/event-types", &tenant.key, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(fields(&body), [field], "{bad}");
    }

    let (status, patched) = hookline
        .patch(
            "/v1/event-types/order.created",
            &tenant.key,
            json!({"description": "A new order", "example": {"id": 1, "items": [{"sku": "a"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["description"].as_str(), &patched["schema"]), (Some("A new order"), &schema));
    let (status, patched) = hookline.patch("/v1/event-types/order.created", &tenant.key, json!({"schema": null})).await;
    assert_eq!((status, &patched["schema"]), (StatusCode::OK, &Value::Null), "{patched}");
    let (status, body) =
        hookline.patch("/v1/event-types/order.created", &tenant.key, json!({"name": "order.renamed"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(hookline.patch("/v1/event-types/order.nope", &tenant.key, json!({})).await.0, StatusCode::NOT_FOUND);

    assert_eq!(hookline.delete("/v1/event-types/order.created", &tenant.key).await.0, StatusCode::NO_CONTENT);
    assert_eq!(hookline.get("/v1/event-types/order.created", &tenant.key).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hookline.delete("/v1/event-types/order.created", &tenant.key).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ingest_refuses_a_payload_that_breaks_its_types_schema_and_names_the_paths() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let body = format!(r#"{{"name": "order.created", "schema": {ORDER_SCHEMA}}}"#);
    assert_eq!(hookline.call("POST", "/v1/event-types", Some(&tenant.key), Some(&body)).await.0, StatusCode::CREATED);
    assert_eq!(
        hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.noted"})).await.0,
        StatusCode::CREATED
    );
    let receiver = Receiver::start().await;
    hookline.create_endpoint(&tenant, json!({"url": receiver.url, "event_types": ["order.*"]})).await;

    let bad = json!({"event_type": "order.created", "payload": {"id": "seven", "items": [{"sku": "a"}, {"sku": 3}]}});
    let (status, refused) = hookline.post("/v1/events", &tenant.key, bad.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let mut failing = fields(&refused);
    failing.sort();
    assert_eq!(failing, ["payload/id", "payload/items/1/sku"]);
    let (status, refused) =
        hookline.post("/v1/events", &tenant.key, json!({"event_type": "order.created", "payload": {}})).await;
    // Both required properties are missing, each reported at the payload itself.
    assert_eq!((status, fields(&refused)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["payload".to_owned(); 2]));

    let good = json!({"id": 7, "items": [{"sku": "a"}]});
    hookline.publish(&tenant, json!({"event_type": "order.created", "payload": good})).await;
    // A type without a schema takes any object.
    hookline.publish(&tenant, json!({"event_type": "order.noted", "payload": {"anything": true}})).await;
    hookline.deliver_until(|| async { receiver.count() == 2 }).await;
    let typed: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|body| body.get("items").is_some())
        .collect();
    assert_eq!(typed, [good], "only the payload that matches its schema was delivered");

    // Without the schema, the same payload goes.
    hookline.patch("/v1/event-types/order.created", &tenant.key, json!({"schema": null})).await;
    hookline.publish(&tenant, bad).await;
}

/// Issue 11 finding 14: the catalogue is paginated and examples are capped, so a listing fits
/// a Lambda response (6 MB) however many types a tenant registers.
#[tokio::test]
async fn the_event_type_listing_is_paginated_and_examples_are_capped() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    for name in ["a.one", "b.two", "c.three"] {
        let (status, body) =
            hookline.post("/v1/event-types", &tenant.key, json!({"name": name, "example": {"n": name}})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, first) = hookline.get("/v1/event-types?limit=2", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let names = |page: &Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&first), ["a.one", "b.two"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = hookline.get(&format!("/v1/event-types?limit=2&cursor={cursor}"), &tenant.key).await;
    assert_eq!(names(&second), ["c.three"]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(hookline.get("/v1/event-types?limit=101", &tenant.key).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    let big = json!({"name": "d.four", "example": {"blob": "x".repeat(16 * 1024)}});
    let (status, body) = hookline.post("/v1/event-types", &tenant.key, big).await;
    assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["example".to_owned()]), "{body}");
}

/// Each registered type is a webhook in the tenant's OpenAPI document, with its schema.
#[tokio::test]
async fn the_tenants_openapi_document_lists_its_event_types_as_webhooks() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let body = format!(r#"{{"name": "order.created", "description": "An order", "schema": {ORDER_SCHEMA}}}"#);
    assert_eq!(hookline.call("POST", "/v1/event-types", Some(&tenant.key), Some(&body)).await.0, StatusCode::CREATED);
    assert_eq!(
        hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.noted"})).await.0,
        StatusCode::CREATED
    );
    let (status, document) = hookline.get("/v1/openapi.json", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["openapi"], "3.1.0");
    let webhooks = document["webhooks"].as_object().unwrap();
    assert_eq!(webhooks.keys().collect::<Vec<_>>(), ["order.created", "order.noted"]);
    let schema = &webhooks["order.created"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], json!(["id", "items"]));
    assert_eq!(schema["$id"], "urn:hookline:event-type:order.created", "its own `#/$defs` resolve inside it");
    assert_eq!(webhooks["order.created"]["post"]["description"], "An order");
    assert_eq!(hookline.call("GET", "/v1/openapi.json", None, None).await.0, StatusCode::UNAUTHORIZED);
}
