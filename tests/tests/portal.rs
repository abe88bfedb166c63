//! Customer-portal sessions: minted by the tenant's API key, signed by the deployment, limited
//! to the endpoints whose metadata matches their filter. Every route of the OpenAPI document (which
//! `openapi.rs` proves is the router's) is tried with a session scoped to one customer against
//! another customer's endpoint, with a read-only session, and with expired and tampered tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use api::openapi::{Auth, Operation, operations};
use hookline_shared::portal::{self, PortalClaims};
use hookline_tests::{Hookline, Receiver, Tenant};
use serde_json::{Value, json};

/// One tenant with two customers' endpoints, and an event each customer got plus one only the
/// other customer got.
struct World {
    hookline: Hookline,
    tenant: Tenant,
    _receivers: (Receiver, Receiver),
    /// `{"customer": "acme"}`: in the sessions' scope.
    ours: String,
    /// `{"customer": "globex"}`: outside it.
    theirs: String,
    /// Delivered to both endpoints.
    shared_event: String,
    /// Delivered only to `theirs`.
    their_event: String,
}

async fn world() -> World {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("sender").await;
    for name in ["order.created", "invoice.paid"] {
        let (status, body) = hookline.post("/v1/event-types", &tenant.key, json!({"name": name})).await;
        assert_eq!(status, 201, "{body}");
    }
    let (acme, globex) = (Receiver::start().await, Receiver::start().await);
    let ours = hookline
        .create_endpoint(
            &tenant,
            json!({"url": acme.url, "event_types": ["order.created"], "metadata": {"customer": "acme"}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = hookline
        .create_endpoint(
            &tenant,
            json!({"url": globex.url, "event_types": ["order.created", "invoice.paid"], "metadata": {"customer": "globex"}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared_event =
        hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"n": 1}})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let their_event = hookline.publish(&tenant, json!({"event_type": "invoice.paid", "payload": {"n": 2}})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    hookline.deliver_until(|| async { acme.count() >= 1 && globex.count() >= 2 }).await;
    World { hookline, tenant, _receivers: (acme, globex), ours, theirs, shared_event, their_event }
}

impl World {
    async fn session(&self, body: Value) -> Value {
        let (status, session) = self.hookline.post("/v1/portal-sessions", &self.tenant.key, body).await;
        assert_eq!(status, 201, "{session}");
        session
    }

    async fn acme_token(&self, read_only: bool) -> String {
        let session = self.session(json!({"read_only": read_only, "metadata": {"customer": "acme"}})).await;
        session["token"].as_str().unwrap().to_owned()
    }
}

/// What a session scoped to acme must get on a route aimed at globex's data.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scoped {
    /// No credential needed.
    Public,
    /// The admin token's routes: a portal token is no admin token.
    Unauthorized,
    /// Tenant-wide: refused to every portal session.
    Forbidden,
    /// Shared by the tenant's customers (event types): readable.
    Readable,
    /// The id names globex's data: as if it did not exist.
    NotFound,
    /// A list: 200 without globex's data.
    Listed,
    /// Creating an endpoint for another customer: 422.
    Refused,
}

/// Every operation must be classified here: a new route fails the test until someone decides
/// what a portal session may do with it.
fn expectation(op: &Operation) -> Scoped {
    match (op.auth, op.method, op.path) {
        (Auth::None, _, _) => Scoped::Public,
        (Auth::Admin, _, _) => Scoped::Unauthorized,
        // Ingest takes API keys only: customers do not publish the sender's events.
        (_, "post", "/v1/events" | "/v1/events/batch") => Scoped::Unauthorized,
        (_, "post", "/v1/event-types" | "/v1/portal-sessions")
        | (_, "patch" | "delete", "/v1/event-types/{name}")
        | (_, "delete", "/v1/events/{id}/payload") => Scoped::Forbidden,
        (_, "get", "/v1/event-types" | "/v1/event-types/{name}" | "/v1/openapi.json" | "/v1/session") => {
            Scoped::Readable
        }
        (_, "get", "/v1/endpoints" | "/v1/events") => Scoped::Listed,
        (_, "post", "/v1/endpoints") => Scoped::Refused,
        (_, _, path) if path.contains('{') => Scoped::NotFound,
        (_, method, path) => panic!("classify {method} {path} for portal sessions"),
    }
}

fn request_body(op: &Operation) -> Option<String> {
    match (op.method, op.path) {
        (_, p) if p.ends_with("/recover") => {
            let since = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
            Some(json!({"since": since.format(&time::format_description::well_known::Rfc3339).unwrap()}).to_string())
        }
        ("post", "/v1/endpoints") => Some(
            json!({"url": "http://127.0.0.1:9/", "event_types": ["order.created"], "metadata": {"customer": "globex"}})
                .to_string(),
        ),
        ("post", "/v1/event-types") => Some(json!({"name": "order.shipped"}).to_string()),
        ("post", "/v1/tenants") => Some(json!({"name": "x"}).to_string()),
        ("post", "/v1/events") => Some(json!({"event_type": "order.created", "payload": {}}).to_string()),
        ("post", p) if p.ends_with("/resend") => None,
        ("post" | "patch", _) => Some("{}".to_owned()),
        _ => None,
    }
}

/// The route's path with globex's (or, `ours`, acme's) ids.
fn path_for(world: &World, op: &Operation, ours: bool) -> String {
    let (endpoint, event) = if ours { (&world.ours, &world.shared_event) } else { (&world.theirs, &world.their_event) };
    // The delivery routes take globex's delivery of the event both customers got.
    let id = if op.path.starts_with("/v1/events/{id}/") && op.path.contains("{endpoint_id}") {
        &world.shared_event
    } else if op.path.starts_with("/v1/events") {
        event
    } else if op.path.starts_with("/v1/tenants") {
        &world.tenant.id
    } else {
        endpoint
    };
    op.path
        .replace("{id}", id)
        .replace("{endpoint_id}", endpoint)
        .replace("{name}", "order.created")
        .replace("{key_id}", "k")
}

#[tokio::test]
async fn a_session_scoped_to_one_customer_reaches_no_other_endpoints_data_on_any_route() {
    let world = world().await;
    let token = world.acme_token(false).await;
    let mut checked = 0;
    for op in &operations() {
        let expected = expectation(op);
        if expected == Scoped::Public {
            continue;
        }
        let path = path_for(&world, op, false);
        let body = request_body(op);
        let (status, _, answer) =
            world.hookline.call_full(&op.method.to_uppercase(), &path, Some(&token), body.as_deref()).await;
        let answer = answer.unwrap_or(Value::Null);
        let what = format!("{} {path} as acme's session: {status} {answer}", op.method);
        let (want_status, want_code) = match expected {
            Scoped::Unauthorized => (401, Some("unauthorized")),
            Scoped::Forbidden => (403, Some("portal_forbidden")),
            Scoped::NotFound => (404, Some("not_found")),
            Scoped::Refused => (422, Some("validation_error")),
            Scoped::Readable | Scoped::Listed => (200, None),
            Scoped::Public => unreachable!(),
        };
        assert_eq!(status.as_u16(), want_status, "{what}");
        if let Some(code) = want_code {
            assert_eq!(answer["code"], code, "{what}");
        }
        let text = answer.to_string();
        assert!(!text.contains(&world.theirs), "{what}: names globex's endpoint");
        assert!(!text.contains(&world.their_event), "{what}: names globex's event");
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} routes checked");

    // What the lists and the shared event show is acme's, and acme's own routes work.
    let (_, listed) = world.hookline.get("/v1/endpoints", &token).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], world.ours.as_str());
    let (_, events) = world.hookline.get("/v1/events", &token).await;
    let ids: Vec<&str> = events["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [world.shared_event.as_str()]);
    let (status, event) = world.hookline.get(&format!("/v1/events/{}", world.shared_event), &token).await;
    assert_eq!(status, 200);
    assert_eq!(event["deliveries"].as_array().unwrap().len(), 1, "{event}");
    let (_, attempts) = world.hookline.get(&format!("/v1/events/{}/attempts", world.shared_event), &token).await;
    assert!(attempts["data"].as_array().unwrap().iter().all(|a| a["endpoint_id"] == world.ours.as_str()));
    assert!(!attempts["data"].as_array().unwrap().is_empty());
    for op in operations().iter().filter(|op| expectation(op) == Scoped::NotFound && op.method == "get") {
        let path = path_for(&world, op, true);
        let (status, answer) = world.hookline.get(&path, &token).await;
        assert_eq!(status, 200, "GET {path} as acme's session on acme's data: {answer}");
    }
    // The API key still sees both customers.
    let (_, all) = world.hookline.get("/v1/endpoints", &world.tenant.key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_read_only_session_is_refused_every_write_and_bad_tokens_every_route() {
    let world = world().await;
    let read_only = world.acme_token(true).await;
    let key = hookline_shared::crypto::installed().unwrap();
    let claims = |expires_at: i64| PortalClaims {
        tenant_id: hookline_shared::ids::TenantId::parse(&world.tenant.id).unwrap(),
        expires_at,
        read_only: false,
        metadata: None,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = portal::mint(key, &claims(now - 1));
    // The same claims but read_only and filter dropped: the signature no longer matches.
    let (body, signature) = read_only.split_once('.').unwrap();
    let widened = portal::mint(key, &claims(now + 3600));
    let tampered = format!("{}.{signature}", widened.split_once('.').unwrap().0);
    assert_ne!(tampered.split_once('.').unwrap().0, body);
    let bad_signature = format!("{body}.{}", &signature[1..]);

    let mut writes = 0;
    for op in operations().iter().filter(|op| !matches!(op.auth, Auth::None)) {
        let path = path_for(&world, op, true);
        let body = request_body(op);
        let method = op.method.to_uppercase();
        for (name, token) in [("expired", &expired), ("tampered", &tampered), ("mis-signed", &bad_signature)] {
            let (status, _, answer) = world.hookline.call_full(&method, &path, Some(token), body.as_deref()).await;
            assert_eq!(status, 401, "{method} {path} with an {name} token: {answer:?}");
            assert_eq!(answer.unwrap()["code"], "unauthorized");
        }
        if op.method == "get" {
            continue;
        }
        let (status, _, answer) = world.hookline.call_full(&method, &path, Some(&read_only), body.as_deref()).await;
        let answer = answer.unwrap();
        if matches!(expectation(op), Scoped::Unauthorized) {
            assert_eq!(status, 401, "{method} {path} read-only: {answer}");
        } else {
            assert_eq!(status, 403, "{method} {path} read-only: {answer}");
            assert_eq!(answer["code"], "read_only", "{method} {path}");
            writes += 1;
        }
    }
    assert!(writes >= 10, "only {writes} writes checked");
    // Nothing was changed by the read-only session: acme's endpoint is still there, as it was.
    let endpoint = world.hookline.endpoint(&world.tenant, &world.ours).await;
    assert_eq!(endpoint["status"], "active");
    let (status, _) = world.hookline.get(&format!("/v1/endpoints/{}", world.ours), &read_only).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sessions_are_minted_as_asked_and_describe_themselves() {
    let world = world().await;
    let session = world.session(json!({})).await;
    assert_eq!(session["read_only"], false);
    assert_eq!(session["metadata"], Value::Null);
    let token = session["token"].as_str().unwrap();
    assert!(token.starts_with("hps_"));
    assert_eq!(session["url"], format!("/dashboard#session={token}"));
    let expires = time::OffsetDateTime::parse(
        session["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let ttl = expires - time::OffsetDateTime::now_utc();
    assert!(ttl > time::Duration::minutes(55) && ttl <= time::Duration::hours(1), "{ttl}");
    let (status, me) = world.hookline.get("/v1/session", token).await;
    assert_eq!(status, 200);
    assert_eq!(
        me,
        json!({"tenant_id": world.tenant.id, "kind": "portal", "read_only": false, "metadata": null, "expires_at": session["expires_at"]})
    );
    let (_, me) = world.hookline.get("/v1/session", &world.tenant.key).await;
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["expires_at"], Value::Null);
    // An unfiltered session sees every endpoint.
    let (_, listed) = world.hookline.get("/v1/endpoints", token).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    for bad in [
        json!({"ttl_seconds": 59}),
        json!({"ttl_seconds": 86401}),
        json!({"metadata": {"customer": ""}}),
        json!({"scope": 1}),
    ] {
        let (status, answer) = world.hookline.post("/v1/portal-sessions", &world.tenant.key, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {answer}");
        assert_eq!(answer["code"], "validation_error");
    }
    let (status, answer) =
        world.hookline.post("/v1/portal-sessions", &world.tenant.key, json!({"ttl_seconds": 86400})).await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn a_session_creates_endpoints_inside_its_scope_and_cannot_patch_one_out() {
    let world = world().await;
    let token = world.acme_token(false).await;
    let (status, created) = world
        .hookline
        .post(
            "/v1/endpoints",
            &token,
            json!({"url": "http://127.0.0.1:9/", "event_types": ["order.created"], "metadata": {"team": "ops"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["metadata"], json!({"customer": "acme", "team": "ops"}));
    let (status, answer) = world
        .hookline
        .patch(&format!("/v1/endpoints/{}", world.ours), &token, json!({"metadata": {"customer": "globex"}}))
        .await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) =
        world.hookline.patch(&format!("/v1/endpoints/{}", world.ours), &token, json!({"metadata": null})).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(world.hookline.endpoint(&world.tenant, &world.ours).await["metadata"], json!({"customer": "acme"}));
    let (status, answer) = world
        .hookline
        .patch(&format!("/v1/endpoints/{}", world.ours), &token, json!({"metadata": {"customer": "acme", "team": "x"}}))
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_suspended_or_deleted_tenants_sessions_stop_working() {
    let world = world().await;
    let token = world.acme_token(false).await;
    let admin = hookline_tests::ADMIN_TOKEN;
    let (status, _) = world.hookline.post(&format!("/v1/tenants/{}/suspend", world.tenant.id), admin, json!({})).await;
    assert_eq!(status, 200);
    let (status, answer) = world.hookline.get("/v1/endpoints", &token).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["code"], "tenant_suspended");
    let (status, _) = world.hookline.delete(&format!("/v1/tenants/{}", world.tenant.id), admin).await;
    assert_eq!(status, 204);
    let (status, answer) = world.hookline.get("/v1/endpoints", &token).await;
    assert_eq!(status, 401, "{answer}");
}
