//! The routes `template.yaml` gives API Gateway and the functions' routers agree, both ways:
//! every operation the API documents reaches, through API Gateway's route selection, a function
//! whose router serves it; and every route of the template is served by its function.
//! Each function's router is served as its `main.rs` serves it (`with_fallbacks(routes())`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use hookline_local::template::{self, API_FUNCTION, INGEST_FUNCTION, TEMPLATE};
use hookline_shared::ids::{EndpointId, EventId, TenantId};
use hookline_shared::web::{AppState, with_fallbacks};
use hookline_tests::{ADMIN_TOKEN, Hookline};
use serde_json::Value;

async fn serve(hookline: &Hookline, routes: Router<AppState>) -> String {
    let state = AppState::new(hookline.resources.config(ADMIN_TOKEN), &hookline.clients);
    let app = with_fallbacks(routes.with_state(state));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A concrete request path for a documented or template path: each `{name}` becomes a
/// well-formed value, so a route that checks its ids still gets to its authentication.
fn concrete(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let previous = if i > 0 { segments[i - 1] } else { "" };
        out.push(match *segment {
            "{id}" if previous == "tenants" => TenantId::generate().to_string(),
            "{id}" if previous == "events" => EventId::generate().to_string(),
            "{id}" | "{endpoint_id}" => EndpointId::generate().to_string(),
            "{name}" => "order.created".to_owned(),
            "{key_id}" => "key_1".to_owned(),
            other if other.starts_with('{') => panic!("no example value for {other} in {path}"),
            other => other.to_owned(),
        });
    }
    out.join("/")
}

/// What the router answers without credentials: the fallback's 404 or a 405 mean it has no such
/// route; anything else (mostly 401) means a handler was reached.
async fn served(http: &reqwest::Client, base: &str, method: &str, path: &str, no_route: &Value) -> bool {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = http.request(method, format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    !(status == 405 || (status == 404 && &body == no_route))
}

#[tokio::test]
async fn template_routes_and_the_routers_agree_both_ways() {
    let hookline = Hookline::start().await;
    let functions: BTreeMap<&str, String> = [
        (INGEST_FUNCTION, serve(&hookline, ingest::routes()).await),
        (API_FUNCTION, serve(&hookline, api::routes()).await),
    ]
    .into();
    let http = reqwest::Client::new();
    let get_json = async |url: String| -> Value {
        serde_json::from_slice(&http.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap()
    };
    let no_route = get_json(format!("{}/no/such/route", functions[API_FUNCTION])).await;
    let routes = template::http_routes(TEMPLATE).unwrap();
    for route in &routes {
        assert!(
            functions.contains_key(route.function.as_str()),
            "a route to a function this test does not know: {route:?}"
        );
    }

    let document = get_json(format!("{}/openapi.json", functions[API_FUNCTION])).await;
    let mut used = vec![0; routes.len()];
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let method = method.to_ascii_uppercase();
            let request = concrete(path);
            let route = template::route_for(&routes, &method, &request)
                .unwrap_or_else(|| panic!("API Gateway has no route for {method} {path}"));
            let function = &functions[route.function.as_str()];
            assert!(
                served(&http, function, &method, &request, &no_route).await,
                "{method} {path} goes to {} ({} {}), whose router does not serve it",
                route.function,
                route.method,
                route.path
            );
            used[routes.iter().position(|r| r == route).unwrap()] += 1;
        }
    }

    for (route, uses) in routes.iter().zip(used) {
        assert!(uses > 0, "no documented operation goes through {route:?}");
        if route.method != "ANY" && !route.path.contains('{') {
            let served =
                served(&http, &functions[route.function.as_str()], &route.method, &route.path, &no_route).await;
            assert!(served, "{route:?} is not served by its function's router");
        }
    }
}
