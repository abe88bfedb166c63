//! The dashboard (`GET /dashboard`) in a real headless Chromium: signing in, creating an
//! endpoint, watching an event get delivered and resending it, a failing endpoint's failures
//! and chart, hostile data shown as text, portal links (one customer's endpoints only, read-only,
//! expired, tampered, framed), operational events, and the keyboard alone.
//! Screenshots go to `target/screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};

use hookline_shared::portal::{self, PortalClaims};
use hookline_tests::browser::{Browser, keys};
use hookline_tests::{ADMIN_TOKEN, Hookline, Receiver, Tenant};
use serde_json::{Value, json};

async fn open_dashboard(browser: &Browser, hookline: &Hookline) {
    browser.goto(&format!("{}/dashboard", hookline.url)).await;
}

async fn sign_in(browser: &Browser, hookline: &Hookline, tenant: &Tenant) {
    open_dashboard(browser, hookline).await;
    browser.type_into(&browser.find("#api-key").await, &tenant.key).await;
    browser.click(&browser.find("#sign-in").await).await;
    browser.wait_text("main h1", "Endpoints").await;
}

/// Same-document navigation, as following one of the page's own links does.
async fn visit(browser: &Browser, hash: &str, heading: &str) {
    browser.run("location.hash = arguments[0]", json!([hash])).await;
    browser.wait_text("main h1", heading).await;
}

/// Clicks the page's Refresh button until `css` shows `text` (the page reads the API only
/// when asked, as a person would reload it). Each look waits for the reload to finish (the
/// button is drawn again with the content), so a slow API cannot keep the page "Loading…" by
/// being clicked again before it answers.
async fn refresh_until(browser: &Browser, css: &str, text: &str) {
    browser
        .wait(&format!("{css} to show {text:?} after a refresh"), move || async move {
            browser.click(&browser.find("#refresh").await).await;
            browser.find("#refresh").await;
            let element = browser.find_all(css).await.into_iter().next()?;
            browser.text(&element).await.contains(text).then_some(())
        })
        .await;
}

#[tokio::test]
async fn an_operator_signs_in_creates_an_endpoint_sees_its_event_delivered_and_resends_it() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("dashboard").await;
    let receiver = Receiver::start().await;
    let browser = Browser::start().await;
    sign_in(&browser, &hookline, &tenant).await;

    browser.click(&browser.find("#new-endpoint").await).await;
    // A credential in the query: shown `redacted` from now on, and kept through an edit.
    let url = format!("{}?token=s3cret", receiver.url);
    browser.type_into(&browser.find("#f-url").await, &url).await;
    browser.type_into(&browser.find("#f-description").await, "Orders receiver").await;
    browser.type_into(&browser.find("#f-event_types").await, "order.*").await;
    let headers = browser.find("#f-headers").await;
    browser.type_into(&headers, "Host: elsewhere.example").await;
    browser.click(&browser.find("#save-endpoint").await).await;
    // The API refuses the header; its message sits beside the headers field.
    let beside = browser.wait_text("#e-headers", "host").await;
    assert!(!beside.is_empty());
    assert_eq!(browser.property(&headers, "ariaInvalid").await, "true");
    browser.clear(&headers).await;
    browser.type_into(&headers, "X-Team: orders").await;
    browser.click(&browser.find("#save-endpoint").await).await;
    browser.wait_text("main h1", "Orders receiver").await;

    let (_, endpoints) = hookline.get("/v1/endpoints", &tenant.key).await;
    let endpoint = &endpoints["data"][0];
    assert_eq!(endpoint["url"], format!("{}?token=redacted", receiver.url));
    assert_eq!(endpoint["event_types"], json!(["order.*"]));
    // Header values are write-only: names only from now on.
    assert_eq!(endpoint["headers"], json!([{"name": "X-Team"}]));
    browser.wait_text("main", "X-Team: (write-only)").await;

    // The edit form starts from the endpoint's settings; a save changes only what was changed.
    browser.click(&browser.find("#edit-endpoint").await).await;
    let description = browser.find("#f-description").await;
    assert_eq!(browser.property(&description, "value").await, "Orders receiver");
    browser.wait_text("[data-field='headers']", "leave empty to keep X-Team").await;
    browser.clear(&description).await;
    browser.type_into(&description, "Orders (EU)").await;
    browser.click(&browser.find("#save-endpoint").await).await;
    browser.wait_text("main h1", "Orders (EU)").await;
    let edited = hookline.endpoint(&tenant, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(edited["description"], "Orders (EU)");
    assert_eq!(edited["headers"], endpoint["headers"]);
    assert_eq!(edited["event_types"], endpoint["event_types"]);

    let event = hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"order": 42}})).await;
    let event_id = event["id"].as_str().unwrap();
    hookline.deliver_until(|| async { receiver.count() == 1 }).await;
    // The edit kept what the page could not show: the header's value and the URL's credential.
    assert_eq!(receiver.received()[0].header("x-team"), "orders");
    assert_eq!(receiver.received()[0].uri.query(), Some("token=s3cret"));

    browser.click(&browser.find("nav a[href='#/events']").await).await;
    browser.wait_text("main h1", "Events").await;
    browser.click(&browser.find(&format!("tr[data-event='{event_id}'] a")).await).await;
    browser.wait_text(".delivery-status", "delivered").await;
    browser.wait_text("#deliveries", "Orders (EU)").await;
    browser.wait_text("#payload", "\"order\": 42").await;
    let attempt = browser.wait_text(".timeline .attempt", "200").await;
    assert!(attempt.contains("receiver says hi"), "{attempt}");

    browser.click(&browser.find("button.resend").await).await;
    browser.wait_text("#flash", "attempt 2").await;
    hookline.deliver_until(|| async { receiver.count() == 2 }).await;
    refresh_until(&browser, ".delivery-attempts", "2").await;
    assert_eq!(browser.find_all(".timeline .attempt").await.len(), 2);
    browser.screenshot("event-delivered").await;
    assert_eq!(receiver.received()[1].header("webhook-id"), receiver.received()[0].header("webhook-id"));
}

#[tokio::test]
async fn a_failing_endpoint_shows_its_failures_its_chart_and_why_it_was_disabled() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("failing").await;
    let flaky = Receiver::answering(&[400, 400]).await;
    let gone = Receiver::always(410).await;
    let flaky_ep = hookline
        .create_endpoint(
            &tenant,
            json!({"url": flaky.url, "description": "Flaky receiver", "event_types": ["order.*"]}),
        )
        .await;
    let gone_ep = hookline
        .create_endpoint(
            &tenant,
            json!({"url": gone.url, "description": "Gone receiver", "event_types": ["invoice.*"]}),
        )
        .await;
    for n in 0..3 {
        hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"n": n}})).await;
    }
    hookline.publish(&tenant, json!({"event_type": "invoice.paid", "payload": {}})).await;
    hookline.deliver_until(|| async { flaky.count() == 3 && gone.count() == 1 }).await;
    let (flaky_id, gone_id) = (flaky_ep["id"].as_str().unwrap(), gone_ep["id"].as_str().unwrap());
    let reason = hookline.endpoint(&tenant, gone_id).await["disabled_reason"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    sign_in(&browser, &hookline, &tenant).await;
    let shown = browser.wait_text(&format!("tr[data-endpoint='{gone_id}'] .disabled-reason"), "410").await;
    assert_eq!(shown, reason);
    browser.wait_text(&format!("tr[data-endpoint='{gone_id}']"), "disabled").await;
    browser.wait_text(&format!("tr[data-endpoint='{flaky_id}'] .rate"), "33 % (1/3)").await;
    browser.screenshot("endpoints").await;

    browser.click(&browser.find(&format!("tr[data-endpoint='{flaky_id}'] a")).await).await;
    browser.wait_text("main h1", "Flaky receiver").await;
    let counts = browser
        .run(
            "const s = document.querySelector('#chart svg'); \
             const drawn = [...s.querySelectorAll('rect.bad')].filter(r => Number(r.getAttribute('height')) > 0).length; \
             return [s.dataset.succeeded, s.dataset.failed, drawn]",
            json!([]),
        )
        .await;
    assert_eq!(counts[0], "1");
    assert_eq!(counts[1], "2");
    assert!(counts[2].as_u64().unwrap() >= 1, "no failed bar drawn: {counts}");
    let failures = browser.find_all("#endpoint-attempts .s-failed").await;
    assert_eq!(failures.len(), 2);
    assert!(browser.text(&failures[0]).await.contains("400"));
    browser.screenshot("endpoint-failing").await;

    browser.click(&browser.find("#recover").await).await;
    browser.wait_text("#recover-result", "2 deliveries queued again").await;
    hookline.deliver_until(|| async { flaky.count() == 5 }).await;
}

const HOSTILE: &str = "<script>window.__xss = 'script'</script><img src=\"x\" onerror=\"window.__xss = 'img'\">";

/// A receiver that answers 200 with an HTML body and a content type meant to run in a page.
async fn hostile_receiver() -> String {
    let app = axum::Router::new().fallback(|| async {
        ([("content-type", "text/html; x=\"<img src=x onerror=window.__xss='header'>\"")], HOSTILE)
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn hostile_payloads_names_and_answers_are_shown_as_text_and_never_run() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("hostile").await;
    let url = hostile_receiver().await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": url, "description": "<img src=x onerror=\"window.__xss='name'\">Evil name",
                   "metadata": {"team": HOSTILE}, "event_types": ["comment.created"]}),
        )
        .await;
    let event =
        hookline.publish(&tenant, json!({"event_type": "comment.created", "payload": {"comment": HOSTILE}})).await;
    let event_id = event["id"].as_str().unwrap();
    hookline.deliver_until(|| async { hookline.delivery(&tenant, event_id).await["status"] == "delivered" }).await;

    let browser = Browser::start().await;
    sign_in(&browser, &hookline, &tenant).await;
    // Watch for anything the policy had to block: escaping, not the policy, must keep these
    // strings inert, so there must be nothing to block.
    browser
        .run(
            "window.__violations = []; document.addEventListener('securitypolicyviolation', \
             e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));",
            json!([]),
        )
        .await;
    let id = endpoint["id"].as_str().unwrap();
    browser
        .wait_text(&format!("tr[data-endpoint='{id}'] a"), "<img src=x onerror=\"window.__xss='name'\">Evil name")
        .await;
    visit(&browser, &format!("#/endpoints/{id}"), "Evil name").await;
    browser.wait_text("main", &format!("team = {HOSTILE}")).await;
    visit(&browser, &format!("#/events/{event_id}"), event_id).await;
    browser.wait_text("#payload", "<script>window.__xss = 'script'</script>").await;
    browser.wait_text(".response-body", HOSTILE).await;
    browser.wait_text(".timeline dl", "<img src=x onerror=window.__xss='header'>").await;
    browser.screenshot("hostile-data-as-text").await;

    let outcome = browser
        .run(
            "return [window.__xss === undefined, window.__violations, \
             document.querySelectorAll('main img, main script, main iframe').length]",
            json!([]),
        )
        .await;
    assert_eq!(outcome, json!([true, [], 0]), "[nothing ran, nothing blocked, no elements made from data]");
}

#[tokio::test]
async fn the_dashboard_is_served_with_a_strict_policy_and_the_configured_framing_rule() {
    let hookline = Hookline::start().await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/dashboard", hookline.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&page, "content-security-policy"),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert!(header(&page, "set-cookie").is_empty());
    for (path, kind) in [("/dashboard/app.js", "text/javascript"), ("/dashboard/app.css", "text/css")] {
        let asset = http.get(format!("{}{path}", hookline.url)).send().await.unwrap();
        assert_eq!(asset.status(), 200);
        assert!(header(&asset, "content-type").starts_with(kind));
        assert!(header(&asset, "content-security-policy").contains("script-src 'self'"));
    }

    let mut config = hookline_shared::config::Config::from_lookup(|name| match name {
        "HOOKLINE_TABLE" => Some(hookline.resources.table.clone()),
        "HOOKLINE_QUEUE_URL" => Some(hookline.resources.queue_url.clone()),
        "HOOKLINE_DASHBOARD_FRAME_ANCESTORS" => Some("'self' https://portal.example.com".into()),
        _ => None,
    })
    .unwrap();
    config.egress = hookline_shared::guard::Egress::LoopbackOnly;
    let framed = hookline.serve_api_with(config).await;
    let page = http.get(format!("{framed}/dashboard")).send().await.unwrap();
    assert!(header(&page, "content-security-policy").contains("frame-ancestors 'self' https://portal.example.com;"));
    // X-Frame-Options cannot name an origin; the CSP alone decides for modern browsers.
    assert!(header(&page, "x-frame-options").is_empty());
}

#[tokio::test]
async fn a_portal_link_signs_in_keeps_the_token_out_of_the_url_and_a_revoked_token_returns_to_sign_in() {
    let world = portal_world().await;
    let session = world.session(json!({"metadata": {"customer": "acme"}})).await;
    let token = session["token"].as_str().unwrap();
    let browser = Browser::start().await;
    browser.goto(&world.link(&session)).await;
    browser.wait_text("main h1", "Endpoints").await;
    browser.wait_text("#who", "Portal session").await;
    let where_ = browser.run("return [location.href, sessionStorage.getItem('hookline.token')]", json!([])).await;
    assert!(!where_[0].as_str().unwrap().contains(token), "the token stayed in the URL: {where_}");
    assert_eq!(where_[1], token);

    let (status, _) = world.hookline.delete(&format!("/v1/tenants/{}", world.tenant.id), ADMIN_TOKEN).await;
    assert_eq!(status, 204);
    browser.click(&browser.find("#refresh").await).await;
    browser.wait_text("#sign-in-error", "Session expired or invalid").await;
    let stored = browser.run("return sessionStorage.getItem('hookline.token')", json!([])).await;
    assert_eq!(stored, Value::Null);
    assert!(browser.find_all("nav[hidden]").await.len() == 1, "the sections are hidden again");
}

/// Marks every visible, enabled control, presses Tab until each has had the focus (with a
/// visible focus style), and fails naming the ones never reached.
async fn tab_through_every_control(browser: &Browser) {
    let total = browser
        .run(
            "const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')] \
               .filter(e => !e.disabled && e.getAttribute('tabindex') !== '-1' && e.getClientRects().length > 0); \
             all.forEach((e, i) => { e.dataset.kb = i; }); return all.length",
            json!([]),
        )
        .await
        .as_u64()
        .unwrap();
    assert!(total > 0);
    let mut reached = BTreeSet::new();
    for _ in 0..(total * 6 + 20) {
        browser.press(keys::TAB).await;
        let focused = browser
            .run(
                "const a = document.activeElement; \
                 return a && a.dataset.kb !== undefined \
                   ? [Number(a.dataset.kb), getComputedStyle(a).outlineStyle, a.tagName + '#' + a.id] : null",
                json!([]),
            )
            .await;
        if let Some(index) = focused[0].as_u64() {
            assert_ne!(focused[1], "none", "{} has no visible focus style", focused[2]);
            reached.insert(index);
        }
        if reached.len() as u64 == total {
            return;
        }
    }
    let missing = browser
        .run(
            "return [...document.querySelectorAll('[data-kb]')].filter(e => !arguments[0].includes(Number(e.dataset.kb))) \
               .map(e => e.tagName + '#' + e.id + ' ' + e.textContent.trim().slice(0, 30))",
            json!([reached.iter().collect::<Vec<_>>()]),
        )
        .await;
    panic!("the keyboard never reached: {missing}");
}

/// Presses Tab until the focused element matches `css`.
async fn tab_to(browser: &Browser, css: &str) {
    for _ in 0..300 {
        browser.press(keys::TAB).await;
        if browser.run("return document.activeElement.matches(arguments[0])", json!([css])).await == true {
            return;
        }
    }
    panic!("Tab never reached {css}");
}

#[tokio::test]
async fn the_keyboard_alone_reaches_and_activates_every_action() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("keyboard").await;
    let receiver = Receiver::start().await;
    let endpoint = hookline
        .create_endpoint(
            &tenant,
            json!({"url": receiver.url, "description": "Keyboard receiver", "auth": {"type": "bearer", "token": "t0ken"}}),
        )
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let example = json!({"name": "order.created", "description": "An order was placed", "example": {"order": 7}});
    assert_eq!(hookline.post("/v1/event-types", &tenant.key, example).await.0, 201);
    let event = hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {}})).await;
    let event_id = event["id"].as_str().unwrap();
    hookline.deliver_until(|| async { receiver.count() == 1 }).await;

    let browser = Browser::start().await;
    open_dashboard(&browser, &hookline).await;
    browser.find("#api-key").await;
    // The key field has the focus on arrival: type, then Enter.
    browser.press(&tenant.key).await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "Endpoints").await;
    tab_through_every_control(&browser).await;

    tab_to(&browser, "#new-endpoint").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "New endpoint").await;
    tab_through_every_control(&browser).await;

    tab_to(&browser, "nav a[href='#/events']").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "Events").await;
    tab_through_every_control(&browser).await;
    tab_to(&browser, &format!("a[href='#/events/{event_id}']")).await;
    browser.press(keys::ENTER).await;
    browser.wait_text(".delivery-status", "delivered").await;
    tab_through_every_control(&browser).await;
    tab_to(&browser, "button.resend").await;
    // The resend re-renders the page after its flash; a key pressed before that lands on an
    // element the re-render throws away, so wait until a new status cell replaced the old one.
    browser.run("window.beforeResend = document.querySelector('.delivery-status')", json!([])).await;
    browser.press(keys::SPACE).await;
    browser.wait_text("#flash", "attempt 2").await;
    browser
        .wait("the page re-rendered after the resend", || async {
            let script = "const now = document.querySelector('.delivery-status'); \
                          return now !== null && now !== window.beforeResend";
            (browser.run(script, json!([])).await == true).then_some(())
        })
        .await;

    tab_to(&browser, "nav a[href='#/endpoints']").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "Endpoints").await;
    tab_to(&browser, &format!("a[href='#/endpoints/{id}']")).await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "Keyboard receiver").await;
    tab_through_every_control(&browser).await;
    tab_to(&browser, "#reveal-secret").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("#secret", endpoint["secret"].as_str().unwrap()).await;
    tab_to(&browser, "#rotate-secret").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("#secret-box", "previous secret also signs").await;
    let rotated = hookline.get(&format!("/v1/endpoints/{id}/secret"), &tenant.key).await.1;
    assert_ne!(rotated["secret"], endpoint["secret"]);
    browser.wait_text("#secret", rotated["secret"].as_str().unwrap()).await;
    tab_to(&browser, "#test-check-auth").await;
    browser.press(keys::SPACE).await;
    tab_to(&browser, "#test-send").await;
    browser.press(keys::ENTER).await;
    // Both answers: the receiver here takes any credential, which the page calls out.
    browser.wait_text("#test-result", "With a wrong credential").await;
    browser.wait_text("#test-result", "no: the receiver accepted a wrong credential").await;
    tab_to(&browser, "#toggle-enabled").await;
    browser.press(keys::SPACE).await;
    browser.wait_text("#flash", "Endpoint disabled").await;
    assert_eq!(hookline.endpoint(&tenant, id).await["status"], "disabled");
    browser.screenshot("keyboard-endpoint").await;

    tab_to(&browser, "nav a[href='#/event-types']").await;
    browser.press(keys::ENTER).await;
    browser.wait_text("main h1", "Event types").await;
    browser.wait_text("[data-event-type='order.created'] pre", "\"order\": 7").await;
    tab_through_every_control(&browser).await;
}

/// One tenant with two customers' endpoints (`metadata.customer` acme and globex) and an
/// event delivered to both, plus one delivered only to globex, all to real receivers.
struct PortalWorld {
    hookline: Hookline,
    tenant: Tenant,
    acme: Receiver,
    globex: Receiver,
    acme_id: String,
    globex_id: String,
    /// Delivered to both endpoints.
    shared_event: String,
    /// Delivered only to globex's endpoint.
    globex_event: String,
}

async fn portal_world() -> PortalWorld {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("sender").await;
    let (acme, globex) = (Receiver::start().await, Receiver::start().await);
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let acme_id = id(hookline
        .create_endpoint(
            &tenant,
            json!({"url": acme.url, "description": "Acme orders", "event_types": ["order.created"],
                   "metadata": {"customer": "acme"}}),
        )
        .await);
    let globex_id = id(hookline
        .create_endpoint(
            &tenant,
            json!({"url": globex.url, "description": "Globex ledger", "event_types": ["order.created", "invoice.paid"],
                   "metadata": {"customer": "globex"}}),
        )
        .await);
    let shared_event = id(hookline.publish(&tenant, json!({"event_type": "order.created", "payload": {"n": 1}})).await);
    let globex_event = id(hookline.publish(&tenant, json!({"event_type": "invoice.paid", "payload": {"n": 2}})).await);
    hookline.deliver_until(|| async { acme.count() == 1 && globex.count() == 2 }).await;
    PortalWorld { hookline, tenant, acme, globex, acme_id, globex_id, shared_event, globex_event }
}

impl PortalWorld {
    /// `POST /v1/portal-sessions` with the tenant's key.
    async fn session(&self, body: Value) -> Value {
        let (status, session) = self.hookline.post("/v1/portal-sessions", &self.tenant.key, body).await;
        assert_eq!(status, 201, "{session}");
        session
    }

    /// The absolute address of a session's link.
    fn link(&self, session: &Value) -> String {
        format!("{}{}", self.hookline.url, session["url"].as_str().unwrap())
    }

    /// Fails if the page's document names globex's endpoint or its own event anywhere.
    async fn assert_nothing_of_globex(&self, browser: &Browser, page: &str) {
        let html = browser.run("return document.documentElement.outerHTML", json!([])).await;
        let html = html.as_str().unwrap();
        for (what, text) in [
            ("endpoint id", self.globex_id.as_str()),
            ("endpoint name", "Globex ledger"),
            ("endpoint url", self.globex.url.as_str()),
            ("event", self.globex_event.as_str()),
            ("customer", "globex"),
        ] {
            assert!(!html.contains(text), "{page} shows globex's {what} {text:?} to acme's session");
        }
    }

    /// A token signed the way `POST /v1/portal-sessions` signs one (the same installed key and
    /// `portal::mint`), for claims the API would not mint: an expiry under its one-minute minimum.
    fn token_for(&self, claims_for_acme: impl FnOnce(&mut PortalClaims)) -> String {
        let mut claims = PortalClaims {
            tenant_id: hookline_shared::ids::TenantId::parse(&self.tenant.id).unwrap(),
            expires_at: time::OffsetDateTime::now_utc().unix_timestamp() + 3600,
            read_only: false,
            metadata: Some([("customer".to_owned(), "acme".to_owned())].into()),
        };
        claims_for_acme(&mut claims);
        portal::mint(hookline_shared::crypto::installed().unwrap(), &claims)
    }
}

#[tokio::test]
async fn a_portal_link_shows_its_customers_endpoints_and_deliveries_only() {
    let world = portal_world().await;
    let session = world.session(json!({"metadata": {"customer": "acme"}})).await;
    let browser = Browser::start().await;
    browser.goto(&world.link(&session)).await;
    browser.wait_text("main h1", "Endpoints").await;
    browser.wait_text("#who", "Portal session").await;
    let row = browser.wait_text(&format!("tr[data-endpoint='{}']", world.acme_id), "Acme orders").await;
    assert!(row.contains(&world.acme.url), "{row}");
    assert_eq!(browser.find_all("tr[data-endpoint]").await.len(), 1);
    // Not read-only: the customer manages its endpoints.
    browser.find("#new-endpoint").await;
    world.assert_nothing_of_globex(&browser, "the endpoints list").await;
    browser.screenshot("portal-endpoints").await;

    visit(&browser, &format!("#/endpoints/{}", world.acme_id), "Acme orders").await;
    browser.find("#edit-endpoint").await;
    browser.wait_text("#endpoint-attempts", "200").await;
    world.assert_nothing_of_globex(&browser, "acme's endpoint page").await;

    visit(&browser, "#/events", "Events").await;
    browser.find(&format!("tr[data-event='{}']", world.shared_event)).await;
    assert_eq!(browser.find_all("tr[data-event]").await.len(), 1, "only the event acme was sent");
    world.assert_nothing_of_globex(&browser, "the events list").await;

    // The event both customers got: acme's delivery and attempts only.
    visit(&browser, &format!("#/events/{}", world.shared_event), &world.shared_event).await;
    browser.wait_text("#deliveries", "Acme orders").await;
    browser.wait_text(".timeline .attempt", "200").await;
    assert_eq!(browser.find_all("#deliveries tbody tr").await.len(), 1);
    assert_eq!(browser.find_all(".timeline").await.len(), 1);
    world.assert_nothing_of_globex(&browser, "the shared event's page").await;
    browser.screenshot("portal-event").await;

    // Globex's endpoint and event by id: as if they did not exist.
    for hash in [format!("#/endpoints/{}", world.globex_id), format!("#/events/{}", world.globex_event)] {
        visit(&browser, &hash, "Something went wrong").await;
        // The id is the one typed in the address; nothing the API holds about it is shown.
        let shown = browser.run("return document.querySelector('main').innerText", json!([])).await;
        let shown = shown.as_str().unwrap();
        for text in ["Globex ledger", world.globex.url.as_str(), "invoice.paid", "globex"] {
            assert!(!shown.contains(text), "{hash} shows {text:?}: {shown}");
        }
    }
}

#[tokio::test]
async fn a_read_only_portal_session_shows_no_write_actions() {
    let world = portal_world().await;
    let session = world.session(json!({"read_only": true, "metadata": {"customer": "acme"}})).await;
    let browser = Browser::start().await;
    browser.goto(&world.link(&session)).await;
    browser.wait_text("main h1", "Endpoints").await;
    browser.wait_text("#who", "Portal session").await;
    browser.wait_text("#who", "read-only").await;
    browser.find(&format!("tr[data-endpoint='{}']", world.acme_id)).await;
    assert!(browser.find_all("#new-endpoint").await.is_empty());
    visit(&browser, &format!("#/endpoints/{}", world.acme_id), "Acme orders").await;
    browser.find("#chart").await;
    for write in
        ["#edit-endpoint", "#toggle-enabled", "#reveal-secret", "#rotate-secret", "#test-form", "#recover-form"]
    {
        assert!(browser.find_all(write).await.is_empty(), "{write} is offered to a read-only session");
    }
    visit(&browser, &format!("#/events/{}", world.shared_event), &world.shared_event).await;
    browser.wait_text(".delivery-status", "delivered").await;
    assert!(browser.find_all("button.resend").await.is_empty());
    for hash in ["#/endpoints/new".to_owned(), format!("#/endpoints/{}/edit", world.acme_id)] {
        visit(&browser, &hash, "Endpoints").await;
        assert!(browser.find_all("#endpoint-form").await.is_empty(), "{hash} offers a form");
    }
    world.assert_nothing_of_globex(&browser, "the read-only session's pages").await;
}

#[tokio::test]
async fn an_expired_or_tampered_portal_link_returns_to_sign_in() {
    let world = portal_world().await;
    let browser = Browser::start().await;
    let signed_out = || async {
        browser.wait_text("#sign-in-error", "Session expired or invalid").await;
        assert_eq!(browser.run("return sessionStorage.getItem('hookline.token')", json!([])).await, Value::Null);
        assert_eq!(browser.find_all("nav[hidden]").await.len(), 1, "the sections are hidden again");
        assert!(browser.find_all("tr[data-endpoint]").await.is_empty());
    };

    // A session that ends a few seconds from now: shown, then left when it ends.
    let short = world.token_for(|claims| claims.expires_at = time::OffsetDateTime::now_utc().unix_timestamp() + 6);
    let link = format!("{}/dashboard#session={short}", world.hookline.url);
    browser.goto(&link).await;
    browser.find(&format!("tr[data-endpoint='{}']", world.acme_id)).await;
    browser.wait_text("#who", "Portal session").await;
    signed_out().await;
    // Not only the page's clock: the API refuses the token when the link is opened again.
    browser.goto("about:blank").await;
    browser.goto(&link).await;
    signed_out().await;
    assert_eq!(world.hookline.get("/v1/session", &short).await.0, 401);

    // A read-only acme session's signature on claims widened to every endpoint, with writes.
    let read_only = world.session(json!({"read_only": true, "metadata": {"customer": "acme"}})).await;
    let (_, signature) = read_only["token"].as_str().unwrap().split_once('.').unwrap();
    let widened = world.token_for(|claims| claims.metadata = None);
    let tampered = format!("{}.{signature}", widened.split_once('.').unwrap().0);
    browser.goto("about:blank").await;
    browser.goto(&format!("{}/dashboard#session={tampered}", world.hookline.url)).await;
    signed_out().await;
    world.assert_nothing_of_globex(&browser, "the tampered link's page").await;
    browser.screenshot("portal-expired").await;
}

/// The api on its own port with a same-origin page, `/account`, standing for the sender's
/// site that embeds the portal; `frame_ancestors` is `HOOKLINE_DASHBOARD_FRAME_ANCESTORS`.
async fn serve_with_host_page(hookline: &Hookline, frame_ancestors: Option<&str>) -> String {
    use axum::routing::get;
    use hookline_shared::web::{AppState, with_fallbacks};

    let config = hookline_shared::config::Config::from_lookup(|name| match name {
        "HOOKLINE_TABLE" => Some(hookline.resources.table.clone()),
        "HOOKLINE_QUEUE_URL" => Some(hookline.resources.queue_url.clone()),
        "HOOKLINE_EGRESS" => Some("loopback-only".into()),
        "HOOKLINE_DASHBOARD_FRAME_ANCESTORS" => frame_ancestors.map(str::to_owned),
        _ => None,
    })
    .unwrap();
    let api = with_fallbacks(api::routes().with_state(AppState::new(config, &hookline.clients)));
    let host = || async {
        axum::response::Html(
            "<!doctype html><html lang=en><title>Acme at the sender</title>\
             <body style='font-family: sans-serif; margin: 16px; background: #eef'>\
             <h2>Your account · Webhooks</h2></body></html>",
        )
    };
    let app = axum::Router::new().route("/account", get(host)).fallback_service(api);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn the_portal_loads_in_an_iframe_only_where_frame_ancestors_allows_it() {
    let world = portal_world().await;
    let session = world.session(json!({"metadata": {"customer": "acme"}})).await;
    let allowed = serve_with_host_page(&world.hookline, Some("'self'")).await;
    let by_default = serve_with_host_page(&world.hookline, None).await;
    let browser = Browser::start().await;
    // The frame's document, when the frame loaded and this page may read it (same origin).
    let frame_heading = "const f = document.getElementById('portal'); \
         if (!window.__loaded) return null; \
         const d = f.contentDocument; if (!d) return 'no document'; \
         const h = d.querySelector('main h1'); return h ? h.innerText : '';";
    for (origin, framed) in [(&allowed, true), (&by_default, false)] {
        browser.goto(&format!("{origin}/account")).await;
        browser
            .run(
                "const f = document.createElement('iframe'); f.id = 'portal'; f.title = 'Webhooks'; \
                 f.style = 'width: 100%; height: 560px; border: 1px solid #99a; background: white'; \
                 f.onload = () => { window.__loaded = true; }; f.src = arguments[0]; document.body.append(f);",
                json!([session["url"]]),
            )
            .await;
        let shown = browser
            .wait("the framed portal to load or be refused", || async {
                let shown = browser.run(frame_heading, json!([])).await;
                shown.as_str().filter(|h| *h == "Endpoints" || *h == "no document").map(str::to_owned)
            })
            .await;
        if framed {
            assert_eq!(shown, "Endpoints", "refused framing on {origin} with frame-ancestors 'self'");
            browser
                .wait("acme's endpoint in the frame", || async {
                    let row = browser
                        .run(
                            "return document.getElementById('portal').contentDocument.querySelector(arguments[0])?.innerText ?? null",
                            json!([format!("tr[data-endpoint='{}']", world.acme_id)]),
                        )
                        .await;
                    row.as_str().filter(|r| r.contains("Acme orders")).map(|_| ())
                })
                .await;
            browser.screenshot("portal-in-iframe").await;
        } else {
            // Chromium replaces a refused frame with an error page of another origin.
            assert_eq!(shown, "no document", "framed on {origin} with the default frame-ancestors 'none'");
        }
    }
}

/// Hookline's own `hookline.endpoint.disabled` event is an event of the tenant like any other:
/// the dashboard lists it and shows its payload and its delivery.
#[tokio::test]
async fn an_endpoint_disabled_by_a_410_shows_as_an_operational_event_in_the_dashboard() {
    let hookline = Hookline::start().await;
    let tenant = hookline.create_tenant("operations").await;
    let (ops, gone) = (Receiver::start().await, Receiver::always(410).await);
    hookline
        .create_endpoint(
            &tenant,
            json!({"url": ops.url, "description": "Ops pager", "event_types": ["hookline.endpoint.disabled"]}),
        )
        .await;
    let gone_ep = hookline
        .create_endpoint(&tenant, json!({"url": gone.url, "description": "Gone", "event_types": ["a.gone"]}))
        .await;
    let gone_id = gone_ep["id"].as_str().unwrap();
    hookline.publish(&tenant, json!({"event_type": "a.gone", "payload": {}})).await;
    hookline.deliver_until(|| async { ops.count() == 1 }).await;
    let notice = ops.received()[0].header("webhook-id").to_owned();

    let browser = Browser::start().await;
    sign_in(&browser, &hookline, &tenant).await;
    visit(&browser, "#/events", "Events").await;
    let row = browser.wait_text(&format!("tr[data-event='{notice}']"), "hookline.endpoint.disabled").await;
    assert!(!row.is_empty());
    browser.click(&browser.find(&format!("tr[data-event='{notice}'] a")).await).await;
    browser.wait_text("#payload", gone_id).await;
    browser.wait_text("#payload", "410").await;
    browser.wait_text("#deliveries", "Ops pager").await;
    browser.wait_text(".delivery-status", "delivered").await;
}
