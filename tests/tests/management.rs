//! The management API: tenants (list, get, update, key rotation, deletion), quotas, event
//! types, and the event history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver, Tenant};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|item| item["id"].as_str().unwrap().to_owned()).collect()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Whether the key authenticates (a tenant route answers 200, not 401).
async fn key_works(hookline: &Hookline, key: &str) -> bool {
    let (status, body) = hookline.get("/v1/event-types", key).await;
    match status.as_u16() {
        200 => true,
        401 => {
            assert_eq!(body["code"], "unauthorized");
            false
        }
        other => panic!("unexpected {other}: {body}"),
    }
}

/// Publishes an event and returns its id. Ids sort in publishing order (monotonic within a
/// millisecond, `shared/src/ids.rs`).
async fn publish_id(hookline: &Hookline, tenant: &Tenant, body: Value) -> String {
    id(&hookline.publish(tenant, body).await)
}

#[tokio::test]
async fn tenants_are_listed_a_page_at_a_time_and_shown_by_id() {
    let hookline = Hookline::start().await;
    let mut created = Vec::new();
    for name in ["one", "two", "three"] {
        created.push(hookline.create_tenant(name).await);
    }
    let (status, first) = hookline.get("/v1/tenants?limit=2", ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), [created[0].id.as_str(), created[1].id.as_str()]);
    assert_eq!(first["data"][0]["name"], "one");
    assert_eq!(
        first["data"][0]["quotas"],
        json!({"max_endpoints": 50, "events_per_minute": 600, "replays_per_minute": 60}),
        "defaults"
    );
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let (status, second) = hookline.get(&format!("/v1/tenants?limit=2&cursor={cursor}"), ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), [created[2].id.as_str()]);
    assert_eq!(second["next_cursor"], Value::Null);

    let (status, shown) = hookline.get(&format!("/v1/tenants/{}", created[1].id), ADMIN_TOKEN).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["name"], "two");
    assert!(shown.get("api_key").is_none());

    // Admin routes: a tenant's key is not the admin token; bad input is JSON errors.
    let (status, _) = hookline.get("/v1/tenants", &created[0].key).await;
    assert_eq!(status, 401);
    let (status, body) = hookline.get("/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ", ADMIN_TOKEN).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = hookline.get("/v1/tenants?limit=0&cursor=%21%21", ADMIN_TOKEN).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("cursor"), json!("limit")], "by name");
}

#[tokio::test]
async fn patching_a_tenant_renames_it_and_sets_quotas() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let path = format!("/v1/tenants/{}", tenant.id);
    let (status, body) =
        hookline.patch(&path, ADMIN_TOKEN, json!({"name": "Shop Inc", "quotas": {"max_endpoints": 2}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Shop Inc");
    assert_eq!(body["quotas"], json!({"max_endpoints": 2, "events_per_minute": 600, "replays_per_minute": 60}));
    // The list shows the same, and a later patch leaves what it does not name.
    let (status, body) = hookline.patch(&path, ADMIN_TOKEN, json!({"quotas": {"events_per_minute": 900}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quotas"], json!({"max_endpoints": 2, "events_per_minute": 900, "replays_per_minute": 60}));
    let (_, listed) = hookline.get("/v1/tenants", ADMIN_TOKEN).await;
    assert_eq!(listed["data"][0]["name"], "Shop Inc");
    assert_eq!(listed["data"][0]["quotas"], body["quotas"]);
    // `null` removes a quota.
    let (_, body) = hookline.patch(&path, ADMIN_TOKEN, json!({"quotas": {"max_endpoints": null}})).await;
    assert_eq!(
        body["quotas"],
        json!({"max_endpoints": null, "events_per_minute": 900, "replays_per_minute": 60}),
        "null is no limit"
    );

    let (status, body) =
        hookline.patch(&path, ADMIN_TOKEN, json!({"name": " ", "quotas": {"events_per_minute": 0}})).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("name"), json!("quotas.events_per_minute")]);
    let (status, _) = hookline.patch("/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ", ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, 404);

    // The store functions endpoint creation checks quotas with.
    let store = hookline.store();
    let tenant_id = hookline_shared::ids::TenantId::parse(&tenant.id).unwrap();
    assert_eq!(store.get_quotas(&tenant_id).await.unwrap().events_per_minute, Some(900));
    assert_eq!(store.count_endpoints(&tenant_id).await.unwrap(), 0);
    let receiver = Receiver::start().await;
    for _ in 0..3 {
        hookline.create_endpoint(&tenant, json!({"url": receiver.url})).await;
    }
    assert_eq!(store.count_endpoints(&tenant_id).await.unwrap(), 3);
}

#[tokio::test]
async fn a_rotated_key_works_until_its_grace_period_ends() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let other = hookline.create_tenant("other").await;
    let (status, rotated) =
        hookline.post(&format!("/v1/tenants/{}/api-key/rotate", tenant.id), ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("hk_") && new_key != tenant.key);
    let expires = OffsetDateTime::parse(rotated["previous_key_expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let grace = expires - OffsetDateTime::now_utc();
    assert!(grace > time::Duration::hours(23) && grace <= time::Duration::hours(24), "{grace}");

    // Both keys name the same tenant during the grace period.
    assert!(key_works(&hookline, &new_key).await);
    assert!(key_works(&hookline, &tenant.key).await);
    let with_new = hookline
        .create_endpoint(
            &Tenant { id: tenant.id.clone(), key: new_key.clone() },
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    let (status, _) = hookline.get(&format!("/v1/endpoints/{}", id(&with_new)), &tenant.key).await;
    assert_eq!(status, 200);

    // Past its `expires_at` (DynamoDB's TTL may not have removed it yet), the old key is refused.
    let table = &hookline.resources.table;
    let scan = hookline
        .clients
        .dynamodb
        .scan()
        .table_name(table)
        .filter_expression("tenant_id = :t AND attribute_exists(expires_at)")
        .expression_attribute_values(":t", AttributeValue::S(tenant.id.clone()))
        .send()
        .await
        .unwrap();
    let items = scan.items.unwrap_or_default();
    assert_eq!(items.len(), 1, "exactly the old key item expires");
    let past = (OffsetDateTime::now_utc().unix_timestamp() - 1).to_string();
    hookline
        .clients
        .dynamodb
        .update_item()
        .table_name(table)
        .key("pk", items[0]["pk"].clone())
        .key("sk", items[0]["sk"].clone())
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N(past))
        .send()
        .await
        .unwrap();
    assert!(!key_works(&hookline, &tenant.key).await);
    assert!(key_works(&hookline, &new_key).await);
    assert!(key_works(&hookline, &other.key).await, "another tenant's key is untouched");

    let (status, _) =
        hookline.post("/v1/tenants/ten_01JZZZZZZZZZZZZZZZZZZZZZZZ/api-key/rotate", ADMIN_TOKEN, json!({})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn deleting_a_tenant_revokes_every_key_at_once() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let kept = hookline.create_tenant("kept").await;
    let (_, rotated) =
        hookline.post(&format!("/v1/tenants/{}/api-key/rotate", tenant.id), ADMIN_TOKEN, json!({})).await;
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    assert!(key_works(&hookline, &tenant.key).await && key_works(&hookline, &new_key).await);

    let (status, body) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 204, "{body:?}");
    assert!(body.is_none());
    assert!(!key_works(&hookline, &tenant.key).await, "the rotated-out key");
    assert!(!key_works(&hookline, &new_key).await, "the current key");
    let (status, _) =
        hookline.call("POST", "/v1/events", Some(&new_key), Some(r#"{"event_type":"a.b","payload":{}}"#)).await;
    assert_eq!(status, 401);
    let (status, _) = hookline.get(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 404);
    let (_, listed) = hookline.get("/v1/tenants", ADMIN_TOKEN).await;
    assert_eq!(ids(&listed), [kept.id.as_str()]);
    let (status, body) = hookline.delete(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 404, "{body:?}");
    assert!(key_works(&hookline, &kept.key).await);
}

#[tokio::test]
async fn the_events_per_minute_quota_refuses_the_third_event_with_429() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let (status, body) = hookline
        .patch(&format!("/v1/tenants/{}", tenant.id), ADMIN_TOKEN, json!({"quotas": {"events_per_minute": 2}}))
        .await;
    assert_eq!(status, 200, "{body}");
    // The window is the calendar minute: keep the three events inside one.
    let second = OffsetDateTime::now_utc().second();
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
    let event = r#"{"event_type":"a.b","payload":{}}"#;
    for _ in 0..2 {
        let (status, _, body) = hookline.call_full("POST", "/v1/events", Some(&tenant.key), Some(event)).await;
        assert_eq!(status, 202, "{body:?}");
    }
    let (status, headers, body) = hookline.call_full("POST", "/v1/events", Some(&tenant.key), Some(event)).await;
    let body = body.unwrap();
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");
    assert!(body["message"].is_string());
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // A refused event queues nothing; other tenants have their own quota.
    let (_, listed) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(ids(&listed).len(), 2);
    let other = hookline.create_tenant("other").await;
    hookline.publish(&other, json!({"event_type": "a.b", "payload": {}})).await;
}

#[tokio::test]
async fn registered_event_types_restrict_what_a_tenant_may_publish() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    // None registered: any type goes.
    hookline.publish(&tenant, json!({"event_type": "anything.goes", "payload": {}})).await;

    let (status, created) = hookline
        .post(
            "/v1/event-types",
            &tenant.key,
            json!({"name": "order.created", "description": "An order was placed", "example": {"id": 1}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "order.created");
    assert_eq!(created["example"], json!({"id": 1}));
    let (status, _) = hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.paid"})).await;
    assert_eq!(status, 201);
    let (status, body) = hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.paid"})).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (409, Some("event_type_exists")));
    let (status, body) =
        hookline.post("/v1/event-types", &tenant.key, json!({"name": "order.*", "example": [1]})).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("name"), json!("example")]);

    let (status, listed) = hookline.get("/v1/event-types", &tenant.key).await;
    assert_eq!(status, 200);
    let names: Vec<_> = listed["data"].as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, [json!("order.created"), json!("order.paid")]);
    let (status, shown) = hookline.get("/v1/event-types/order.created", &tenant.key).await;
    assert_eq!(status, 200);
    assert_eq!(shown["description"], "An order was placed");
    let (status, _) = hookline.get("/v1/event-types/order.shipped", &tenant.key).await;
    assert_eq!(status, 404);

    // Now an unknown type is a 422 that lists the registered ones.
    let (status, body) =
        hookline.post("/v1/events", &tenant.key, json!({"event_type": "anything.goes", "payload": {}})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_error");
    assert_eq!(body["errors"][0]["field"], "event_type");
    for text in [body["message"].as_str().unwrap(), body["errors"][0]["message"].as_str().unwrap()] {
        assert!(text.contains("order.created") && text.contains("order.paid"), "{text}");
    }
    hookline.publish(&tenant, json!({"event_type": "order.paid", "payload": {}})).await;
    // Another tenant's registrations do not bind this one, nor the reverse.
    let other = hookline.create_tenant("other").await;
    hookline.publish(&other, json!({"event_type": "anything.goes", "payload": {}})).await;
    let (_, listed) = hookline.get("/v1/event-types", &other.key).await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn events_are_listed_newest_first_a_page_at_a_time() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let mut published = Vec::new();
    for n in 0..3 {
        published.push(
            publish_id(
                &hookline,
                &tenant,
                json!({"event_type": "a.b", "payload": {"n": n}, "idempotency_key": format!("k{n}")}),
            )
            .await,
        );
    }
    let (status, first) = hookline.get("/v1/events?limit=2", &tenant.key).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), [published[2].as_str(), published[1].as_str()]);
    assert_eq!(first["data"][0]["event_type"], "a.b");
    assert_eq!(first["data"][0]["idempotency_key"], "k2");
    assert!(first["data"][0].get("payload").is_none(), "listings leave payloads out");
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let (status, second) = hookline.get(&format!("/v1/events?limit=2&cursor={cursor}"), &tenant.key).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), [published[0].as_str()]);
    assert_eq!(second["next_cursor"], Value::Null);
    // The default page holds all three; another tenant's cursor opens nothing.
    let (_, all) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(ids(&all), [published[2].as_str(), published[1].as_str(), published[0].as_str()]);
    let other = hookline.create_tenant("other").await;
    let (status, refused) = hookline.get(&format!("/v1/events?cursor={cursor}"), &other.key).await;
    assert_eq!((status.as_u16(), refused["code"].as_str()), (422, Some("invalid_cursor")), "{refused}");

    let (status, body) = hookline.get("/v1/events?limit=101&status=lost&since=yesterday&colour=red", &tenant.key).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "colour", "unknown parameters are refused first");
    let (status, body) = hookline.get("/v1/events?limit=101&status=lost&since=yesterday", &tenant.key).await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("limit"), json!("since"), json!("status")]);
}

#[tokio::test]
async fn events_are_filtered_by_type_time_and_delivery_status() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let ok = Receiver::start().await;
    let refusing = Receiver::always(400).await;
    hookline.create_endpoint(&tenant, json!({"url": ok.url, "event_types": ["order.*"]})).await;
    hookline.create_endpoint(&tenant, json!({"url": refusing.url, "event_types": ["invoice.*"]})).await;

    let delivered = publish_id(&hookline, &tenant, json!({"event_type": "order.created", "payload": {}})).await;
    let failed = publish_id(&hookline, &tenant, json!({"event_type": "invoice.created", "payload": {}})).await;
    hookline
        .deliver_until(|| async {
            hookline.delivery(&tenant, &delivered).await["status"] == "delivered"
                && hookline.delivery(&tenant, &failed).await["status"] == "failed"
        })
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let middle = OffsetDateTime::now_utc();
    let unavailable = Receiver::always(503).await;
    let retry_later =
        json!({"url": unavailable.url, "event_types": ["ticket.*"], "retry": {"schedule_seconds": [3600]}});
    hookline.create_endpoint(&tenant, retry_later).await;
    let pending = publish_id(&hookline, &tenant, json!({"event_type": "ticket.created", "payload": {}})).await;
    let later = publish_id(&hookline, &tenant, json!({"event_type": "order.created", "payload": {}})).await;
    let undelivered = publish_id(&hookline, &tenant, json!({"event_type": "user.created", "payload": {}})).await;
    // An event is listed once its first round has run (an event without endpoints at once).
    hookline
        .deliver_until(|| async {
            hookline.delivery(&tenant, &pending).await["attempts"] == 1
                && hookline.delivery(&tenant, &later).await["status"] == "delivered"
        })
        .await;

    let list = |query: String| {
        let hookline = &hookline;
        let key = tenant.key.clone();
        async move {
            let (status, body) = hookline.get(&format!("/v1/events?{query}"), &key).await;
            assert_eq!(status, 200, "{query}: {body}");
            assert_eq!(body["next_cursor"], Value::Null, "{query}");
            ids(&body)
        }
    };
    assert_eq!(list("status=delivered".into()).await, [later.as_str(), delivered.as_str()]);
    assert_eq!(list("status=failed".into()).await, [failed.as_str()]);
    assert_eq!(list("status=pending".into()).await, [pending.as_str()]);
    assert_eq!(list("status=paused".into()).await, Vec::<String>::new());
    assert_eq!(list("event_type=order.created".into()).await, [later.as_str(), delivered.as_str()]);
    assert_eq!(list("event_type=order.created&status=pending".into()).await, Vec::<String>::new());
    assert_eq!(list("event_type=ticket.created&status=pending".into()).await, [pending.as_str()]);
    assert_eq!(list("event_type=user.created".into()).await, [undelivered.as_str()]);
    let middle = middle.format(&Rfc3339).unwrap();
    assert_eq!(list(format!("since={middle}")).await, [undelivered.as_str(), later.as_str(), pending.as_str()]);
    assert_eq!(list(format!("until={middle}")).await, [failed.as_str(), delivered.as_str()]);
    assert_eq!(list(format!("since={middle}&until={middle}")).await, Vec::<String>::new());

    // A filtered page that fills up has a cursor that goes on with the same filter.
    let (_, page) = hookline.get("/v1/events?event_type=order.created&limit=1", &tenant.key).await;
    assert_eq!(ids(&page), [later.as_str()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) =
        hookline.get(&format!("/v1/events?event_type=order.created&limit=1&cursor={cursor}"), &tenant.key).await;
    assert_eq!(ids(&rest), [delivered.as_str()]);
}

#[tokio::test]
async fn attempts_can_be_read_per_delivery() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let ok = Receiver::start().await;
    let refusing = Receiver::always(400).await;
    let ok_id = id(&hookline.create_endpoint(&tenant, json!({"url": ok.url})).await);
    let refusing_id = id(&hookline.create_endpoint(&tenant, json!({"url": refusing.url})).await);
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {}})).await);
    hookline.deliver_until(|| async { hookline.attempts(&tenant, &event).await.len() == 2 }).await;

    for (endpoint, succeeded) in [(&ok_id, true), (&refusing_id, false)] {
        for path in [
            format!("/v1/events/{event}/attempts?endpoint_id={endpoint}"),
            format!("/v1/events/{event}/deliveries/{endpoint}/attempts"),
        ] {
            let (status, body) = hookline.get(&path, &tenant.key).await;
            assert_eq!(status, 200, "{path}: {body}");
            let data = body["data"].as_array().unwrap();
            assert_eq!(data.len(), 1, "{path}");
            assert_eq!(data[0]["endpoint_id"], endpoint.as_str());
            assert_eq!(data[0]["succeeded"], succeeded);
        }
    }
    let unknown = "ep_01JZZZZZZZZZZZZZZZZZZZZZZZ";
    let (status, _) = hookline.get(&format!("/v1/events/{event}/deliveries/{unknown}/attempts"), &tenant.key).await;
    assert_eq!(status, 404);
    let (status, body) = hookline.get(&format!("/v1/events/{event}/attempts?endpoint_id=nope"), &tenant.key).await;
    assert_eq!(status, 422, "{body}");
    let other = hookline.create_tenant("other").await;
    let (status, _) = hookline.get(&format!("/v1/events/{event}/deliveries/{ok_id}/attempts"), &other.key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn expunging_a_payload_keeps_the_event_without_it() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("shop").await;
    let event = id(&hookline.publish(&tenant, json!({"event_type": "a.b", "payload": {"card": "4242"}})).await);
    let shown = hookline.event(&tenant, &event).await;
    assert_eq!((shown["payload"].clone(), shown["payload_expunged"].clone()), (json!({"card": "4242"}), json!(false)));

    let path = format!("/v1/events/{event}/payload");
    let (status, body) = hookline.delete(&path, &tenant.key).await;
    assert_eq!(status, 204, "{body:?}");
    let shown = hookline.event(&tenant, &event).await;
    assert_eq!(shown["payload"], Value::Null);
    assert_eq!(shown["payload_expunged"], true);
    assert_eq!(shown["event_type"], "a.b");
    let (_, listed) = hookline.get("/v1/events", &tenant.key).await;
    assert_eq!(listed["data"][0]["payload_expunged"], true);
    let store_event = hookline
        .store()
        .get_event(
            &hookline_shared::ids::TenantId::parse(&tenant.id).unwrap(),
            &hookline_shared::ids::EventId::parse(&event).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(store_event.payload_expunged());

    // Again is harmless; another tenant and unknown events are 404.
    let (status, _) = hookline.delete(&path, &tenant.key).await;
    assert_eq!(status, 204);
    let other = hookline.create_tenant("other").await;
    let (status, body) = hookline.delete(&path, &other.key).await;
    assert_eq!(status, 404, "{body:?}");
    let (status, _) = hookline.delete("/v1/events/evt_01JZZZZZZZZZZZZZZZZZZZZZZZ/payload", &tenant.key).await;
    assert_eq!(status, 404);
}
