//! The end-to-end test harness: a private copy of Hookline per test (its own table and queues
//! in the local AWS server, its own HTTP server on 127.0.0.1, its own poller) and receivers
//! that are real HTTP servers on 127.0.0.1.
//!
//! Run through `make test`, which starts the local AWS server and exports its URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
mod calls;
pub mod conformance;
pub mod dynamo_calls;
pub mod faults;
pub mod lambda;
mod receiver;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use hookline_local::clients::{endpoint_from_env, local_clients};
use hookline_local::poller::Poller;
use hookline_local::provision::{LocalResources, provision};
use hookline_local::template::Resources;
use hookline_shared::aws::Clients;
use hookline_shared::config::Config;
use hookline_shared::delivery::PolicySettings;
pub use hookline_shared::guard::Egress;
use hookline_shared::web::{AppState, with_fallbacks};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub use calls::DynamoCalls;
pub use receiver::{Received, Receiver, Reply};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// How long a test waits for something that should happen in well under a second or two.
/// A bound, not a measurement: it only stops a broken test from hanging.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Hookline {
    pub url: String,
    pub http: reqwest::Client,
    pub clients: Clients,
    pub resources: LocalResources,
    pub poller: Poller,
    /// The slow lane's event source mapping.
    pub slow_poller: Poller,
    /// The DynamoDB requests the deliver function made.
    pub deliver_calls: DynamoCalls,
    /// `GET /openapi.json`, against which [`Hookline::call`] and [`Hookline::call_full`]
    /// check every answer.
    pub document: std::sync::Arc<conformance::Document>,
}

/// Percent-encodes text for a query string: a cursor (opaque, it may hold any character) or a
/// time (`+` would read as a space).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A tenant's id and API key.
pub struct Tenant {
    pub id: String,
    pub key: String,
}

impl Tenant {
    /// The partition of the tenant's own items, for tests that read or write them raw.
    pub fn pk(&self) -> String {
        hookline_shared::store::keys::tenant_pk(&hookline_shared::ids::TenantId::parse(&self.id).unwrap())
    }

    /// The key of one of the tenant's endpoint items, for tests that read or write it raw.
    pub fn endpoint_key(
        &self,
        endpoint: &str,
    ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let endpoint = hookline_shared::ids::EndpointId::parse(endpoint).unwrap();
        [("pk".to_owned(), S(self.pk())), ("sk".to_owned(), S(hookline_shared::store::keys::endpoint_sk(&endpoint)))]
            .into()
    }
}

/// How a test's Hookline differs from the default.
pub struct Options {
    /// Where deliveries may go: loopback only unless a test says otherwise (plain http and
    /// loopback receivers allowed).
    pub egress: Egress,
    /// The deployment parameter `AllowHttpEndpoints`.
    pub allow_http: bool,
    pub policy: PolicySettings,
    /// How long the HTTP functions keep an API key's tenant and its policy (`warm.rs`). Zero
    /// by default, so a test that suspends, deletes or changes a tenant sees it at once; the
    /// cache's own tests set it.
    pub auth_cache_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            egress: Egress::LoopbackOnly,
            allow_http: false,
            policy: PolicySettings::default(),
            auth_cache_ttl: Duration::ZERO,
        }
    }
}

/// This process's sealing key (base64), generated and installed once, so the in-process
/// handlers and the function binaries a test starts (`lambda.rs`) open each other's secrets.
pub fn encryption_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = hookline_shared::crypto::SecretBox::generate_key_base64();
        hookline_shared::crypto::install(hookline_shared::crypto::SecretBox::from_base64(&key).unwrap());
        key
    })
}

impl Hookline {
    /// Provisions fresh resources from `template.yaml` and serves both HTTP functions' routes.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let endpoint = endpoint_from_env().expect("run the end-to-end tests with `make test`");
        Self::start_with_clients(options, local_clients(&endpoint).await).await
    }

    /// As [`Hookline::start_with`], with these clients for the functions and the harness (made
    /// with `local_clients_with_interceptor`, to alter what the local AWS server answers).
    pub async fn start_with_clients(options: Options, clients: Clients) -> Self {
        encryption_key();
        let prefix = format!("t{:016x}", rand::rng().random::<u64>());
        let resources = provision(&clients, &Resources::from_template().unwrap(), &prefix).await.unwrap();
        let config = Config {
            egress: options.egress,
            allow_http: options.allow_http,
            auth_cache_ttl: options.auth_cache_ttl,
            ..resources.config(ADMIN_TOKEN)
        };
        let deliver_calls = DynamoCalls::default();
        let deliver_clients = Clients { dynamodb: deliver_calls.attach(&clients.dynamodb), sqs: clients.sqs.clone() };
        let handler = deliver::Handler::with_settings(&config, &deliver_clients, options.policy).unwrap();
        let poller =
            Poller::new(clients.sqs.clone(), resources.queue_url.clone(), resources.queue_arn.clone(), handler.clone());
        let slow_poller = Poller::new(
            clients.sqs.clone(),
            resources.slow_queue_url.clone(),
            resources.slow_queue_arn.clone(),
            handler,
        );
        let app = with_fallbacks(ingest::routes().merge(api::routes()).with_state(AppState::new(config, &clients)));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let document = http.get(format!("{url}/openapi.json")).send().await.unwrap().bytes().await.unwrap();
        let document: Value = serde_json::from_slice(&document).unwrap();
        let document = std::sync::Arc::new(conformance::Document::new(document));
        Self { url, http, clients, resources, poller, slow_poller, deliver_calls, document }
    }

    /// Sends a request with an optional bearer token and a raw body; returns status and JSON.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (StatusCode, Value) {
        let (status, _, bytes) = self.send_checked(method, path, token, body).await;
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("{path} answered {status} with non-JSON ({e}): {}", String::from_utf8_lossy(&bytes))
        });
        (status, value)
    }

    /// Sends a request and fails the test if the answer is not what the OpenAPI document
    /// says this operation answers with this status.
    async fn send_checked(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(verb, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if let Err(mismatch) = self.document.check(method, path, status.as_u16(), content_type, &bytes) {
            panic!(
                "the answer differs from the OpenAPI document: {mismatch}\nbody: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        (status, headers, bytes)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(&body.to_string())).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn create_tenant(&self, name: &str) -> Tenant {
        let (status, body) = self.post("/v1/tenants", ADMIN_TOKEN, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Tenant { id: body["id"].as_str().unwrap().to_owned(), key: body["api_key"].as_str().unwrap().to_owned() }
    }

    /// Creates an endpoint; returns the whole creation response (it holds `id` and `secret`).
    pub async fn create_endpoint(&self, tenant: &Tenant, body: Value) -> Value {
        let (status, created) = self.post("/v1/endpoints", &tenant.key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// Publishes an event and returns the 202 answer.
    pub async fn publish(&self, tenant: &Tenant, body: Value) -> Value {
        let (status, accepted) = self.post("/v1/events", &tenant.key, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted
    }

    /// Runs the pollers of both lanes (as Lambda's event source mappings would) until `done`
    /// holds.
    pub async fn deliver_until<F, Fut>(&self, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "gave up waiting for deliveries");
            self.poller.poll_once(Duration::from_secs(1)).await.unwrap();
            self.slow_poller.poll_once(Duration::ZERO).await.unwrap();
        }
    }

    /// The event with its deliveries, as the API shows it.
    pub async fn event(&self, tenant: &Tenant, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/events/{id}"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The delivery of an event to its only endpoint, as the API shows it.
    pub async fn delivery(&self, tenant: &Tenant, event_id: &str) -> Value {
        self.event(tenant, event_id).await["deliveries"][0].clone()
    }

    pub async fn attempts(&self, tenant: &Tenant, event_id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/events/{event_id}/attempts"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    pub async fn endpoint(&self, tenant: &Tenant, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/endpoints/{id}"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Polls until neither lane's queue holds anything visible right now.
    pub async fn drain(&self) {
        while self.poller.poll_once(Duration::ZERO).await.unwrap()
            + self.slow_poller.poll_once(Duration::ZERO).await.unwrap()
            > 0
        {}
    }

    /// Messages on the deliveries queue and the slow lane, visible, in flight or delayed.
    pub async fn queued_messages(&self) -> u64 {
        self.messages_on(&self.resources.queue_url).await + self.slow_lane_messages().await
    }

    /// Messages on the slow lane's queue, visible, in flight or delayed.
    pub async fn slow_lane_messages(&self) -> u64 {
        self.messages_on(&self.resources.slow_queue_url).await
    }

    async fn messages_on(&self, queue_url: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes.unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
    }
}

/// Helpers for the management API's tests (`tests/management.rs`).
impl Hookline {
    /// Sends a request and returns status, headers and the body as JSON (`None` if empty, as
    /// for a 204).
    pub async fn call_full(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Option<Value>) {
        let (status, headers, bytes) = self.send_checked(method, path, token, body).await;
        let value = (!bytes.is_empty()).then(|| {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("{path} answered {status} with non-JSON ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        });
        (status, headers, value)
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", path, Some(token), Some(&body.to_string())).await
    }

    /// Sends a DELETE; returns the status and the JSON body, if any.
    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Option<Value>) {
        let (status, _, body) = self.call_full("DELETE", path, Some(token), None).await;
        (status, body)
    }

    /// The store the handlers use, for checks below the API.
    pub fn store(&self) -> hookline_shared::store::Store {
        hookline_shared::store::Store::new(
            self.clients.dynamodb.clone(),
            &self.resources.table,
            Duration::from_secs(86_400),
        )
    }
}

/// Helpers for the replay tests (`tests/replay.rs`).
impl Hookline {
    /// Messages on the dead-letter queue, visible, in flight or delayed.
    pub async fn dead_letter_messages(&self) -> u64 {
        self.messages_on(&self.resources.dead_letter_queue_url).await
    }

    /// Serves both HTTP functions' routes over this copy's table and queues, with `calls`
    /// watching (and, when asked, rewriting) the handlers' DynamoDB calls; returns its base URL.
    pub async fn serve_watched(&self, calls: &dynamo_calls::DynamoCalls) -> String {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            self.clients.dynamodb.config().to_builder().interceptor(calls.clone()).build(),
        );
        let clients = Clients { dynamodb, sqs: self.clients.sqs.clone() };
        let config = self.resources.config(ADMIN_TOKEN);
        let app = with_fallbacks(ingest::routes().merge(api::routes()).with_state(AppState::new(config, &clients)));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// Serves the api function's routes with `config` (e.g. without a dead-letter queue) on a
    /// new 127.0.0.1 port, over this copy's table and queues; returns its base URL.
    pub async fn serve_api_with(&self, config: Config) -> String {
        serve(api::routes().with_state(AppState::new(config, &self.clients))).await
    }

    /// Another warm ingest instance (its own caches and quota count) with `config`, over this
    /// copy's table and queues; returns its base URL.
    pub async fn serve_ingest_with(&self, config: Config) -> String {
        serve(ingest::routes().with_state(AppState::new(config, &self.clients))).await
    }
}

/// Serves `routes` with the shared fallbacks on a new 127.0.0.1 port; returns its base URL.
async fn serve(routes: axum::Router) -> String {
    let app = with_fallbacks(routes);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
