//! The functions' own binaries (`functions/*/src/main.rs`), as Lambda runs them: started
//! against a local Lambda Runtime API with the environment `template.yaml` gives them, fed
//! API Gateway (HTTP API v2) and SQS events. The tests in `functions/*/tests/` use it with the
//! binary cargo built for them (`CARGO_BIN_EXE_<name>`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hookline_local::runtime_api::Function;
use hookline_local::template::{self, EnvValue, HttpRoute, TEMPLATE};
use serde_json::{Value, json};

use crate::{ADMIN_TOKEN, Hookline};

/// How long a function may take to start or to answer one event. A bound, not a measurement.
pub const FUNCTION_PATIENCE: Duration = Duration::from_secs(60);

/// The environment `template.yaml` gives `function` (a logical id), each `!Ref` resolved to
/// `hookline`'s resources and this process's encryption key. A `!Ref` the harness cannot
/// resolve fails the test: whoever adds one to the template decides here what it means locally.
pub fn template_environment(hookline: &Hookline, function: &'static str) -> BTreeMap<String, String> {
    let resources = &hookline.resources;
    template::function_environment(TEMPLATE, function)
        .unwrap()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                EnvValue::Text(text) => text,
                EnvValue::Ref(name) => match name.as_str() {
                    template::TABLE => resources.table.clone(),
                    template::DELIVERIES_QUEUE => resources.queue_url.clone(),
                    template::SLOW_DELIVERIES_QUEUE => resources.slow_queue_url.clone(),
                    template::DEAD_LETTER_QUEUE => resources.dead_letter_queue_url.clone(),
                    "EncryptionKey" => crate::encryption_key().to_owned(),
                    "AdminToken" => ADMIN_TOKEN.to_owned(),
                    "RetentionDays" => "1".to_owned(),
                    "AllowHttpEndpoints" => "false".to_owned(),
                    "DashboardFrameAncestors" => "'none'".to_owned(),
                    other => panic!("{function}: the binary tests do not know `!Ref {other}`"),
                },
            };
            (name, value)
        })
        .collect()
}

/// Starts `binary` as `function` with `env` (plus the local AWS server's URL) and waits until
/// it asks for its first event.
pub async fn start(binary: &str, function: &str, env: &BTreeMap<String, String>) -> Function {
    let mut process = spawn(binary, function, env).await;
    process.ready(FUNCTION_PATIENCE).await.unwrap();
    process
}

/// Starts `binary` without waiting for it (for a function expected to refuse to start).
pub async fn spawn(binary: &str, function: &str, env: &BTreeMap<String, String>) -> Function {
    let endpoint = hookline_local::clients::endpoint_from_env().unwrap();
    let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("AWS_ENDPOINT_URL", endpoint));
    Function::spawn(Path::new(binary), function, &env).await.unwrap()
}

/// An HTTP request as API Gateway hands it to a function.
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: Option<&'a [u8]>,
}

impl<'a> ApiRequest<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self { method, path, raw_query: "", headers: Vec::new(), body: None }
    }

    pub fn query(self, raw_query: &'a str) -> Self {
        Self { raw_query, ..self }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.headers.push(("authorization", format!("Bearer {token}")));
        self
    }

    pub fn json(mut self, body: &'a [u8]) -> Self {
        self.headers.push(("content-type", "application/json".to_owned()));
        self.body = Some(body);
        self
    }

    /// The API Gateway HTTP API (payload 2.0) event for this request on the route the
    /// template gives it, in the `$default` stage, with the body in base64 as API Gateway
    /// sends binary bodies.
    pub fn event(&self) -> Value {
        let routes = template::http_routes(TEMPLATE).unwrap();
        let route = template::route_for(&routes, self.method, self.path)
            .unwrap_or_else(|| panic!("template.yaml routes no {} {}", self.method, self.path));
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
        let query: serde_json::Map<String, Value> =
            url_pairs(self.raw_query).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        json!({
            "version": "2.0",
            "routeKey": format!("{} {}", route.method, route.path),
            "rawPath": self.path,
            "rawQueryString": self.raw_query,
            "headers": headers,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "pathParameters": path_parameters(route, self.path),
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "hookline",
                "domainName": "hookline.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "hookline",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "hookline-tests"
                },
                "requestId": "request-1",
                "routeKey": format!("{} {}", route.method, route.path),
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 1_767_225_600_000u64
            },
            "body": self.body.map(|b| STANDARD.encode(b)),
            "isBase64Encoded": self.body.is_some()
        })
    }
}

/// `{name}` and `{name+}` values of `route` for `path`, as API Gateway passes them.
fn path_parameters(route: &HttpRoute, path: &str) -> Value {
    let ours: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
    let theirs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut parameters = serde_json::Map::new();
    for (i, segment) in ours.iter().enumerate() {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            parameters.insert(name.to_owned(), Value::String(theirs[i..].join("/")));
        } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parameters.insert(name.to_owned(), Value::String(theirs[i].to_owned()));
        }
    }
    if parameters.is_empty() { Value::Null } else { Value::Object(parameters) }
}

fn url_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

/// The HTTP response a function gave API Gateway.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Value,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} with non-JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// Hands `function` the API Gateway event for `request` and reads its answer.
pub async fn call(function: &mut Function, request: &ApiRequest<'_>) -> ApiResponse {
    let answer = function.invoke(request.event(), FUNCTION_PATIENCE).await.unwrap();
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        STANDARD.decode(body).unwrap()
    } else {
        body.as_bytes().to_vec()
    };
    ApiResponse {
        status: u16::try_from(answer["statusCode"].as_u64().unwrap()).unwrap(),
        headers: answer["headers"].clone(),
        body,
    }
}
