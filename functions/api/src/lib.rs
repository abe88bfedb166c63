//! The management function: health, tenants (admin), endpoints, and the delivery log.

pub mod dashboard;
mod endpoints;
mod event_types;
mod events;
pub mod openapi;
mod portal;
mod replay;
mod tenants;
mod test_send;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use hookline_shared::web::AppState;
use serde_json::{Value, json};

/// The routes this function serves, for the Lambda and for the local dev server.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        .route("/dashboard", get(dashboard::index))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::stylesheet))
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/tenants/{id}", get(tenants::get).patch(tenants::update).delete(tenants::delete))
        .route("/v1/tenants/{id}/api-key/rotate", post(tenants::rotate_key))
        .route("/v1/tenants/{id}/api-keys", get(tenants::list_keys))
        .route("/v1/tenants/{id}/api-keys/{key_id}", axum::routing::delete(tenants::revoke_key))
        .route("/v1/tenants/{id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{id}/resume", post(tenants::resume))
        .route("/v1/event-types", post(event_types::create).get(event_types::list))
        .route("/v1/event-types/{name}", get(event_types::get).patch(event_types::update).delete(event_types::delete))
        .route("/v1/openapi.json", get(openapi::serve_tenant))
        .route("/v1/events", get(events::list))
        .route("/v1/events/{id}/payload", axum::routing::delete(events::expunge_payload))
        .route("/v1/events/{id}/deliveries/{endpoint_id}/attempts", get(events::delivery_attempts))
        .route("/v1/endpoints", post(endpoints::create).get(endpoints::list))
        .route("/v1/endpoints/{id}", get(endpoints::get).patch(endpoints::update).delete(endpoints::delete))
        .route("/v1/endpoints/{id}/secret", get(endpoints::secret))
        .route("/v1/endpoints/{id}/attempts", get(endpoints::attempts))
        .route("/v1/endpoints/{id}/secret/rotate", post(endpoints::rotate_secret))
        .route("/v1/events/{id}", get(events::get))
        .route("/v1/events/{id}/attempts", get(events::attempts))
        .route("/v1/events/{id}/endpoints/{endpoint_id}/resend", post(replay::resend))
        .route("/v1/endpoints/{id}/recover", post(replay::recover))
        .route("/v1/endpoints/{id}/test", post(test_send::send))
        .route("/v1/admin/dlq/redrive", post(replay::redrive))
        .route("/v1/portal-sessions", post(portal::create))
        .route("/v1/session", get(portal::session))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// An unpaged list response: `{"data": [...]}` (a paged one is `edge::Page`).
#[derive(serde::Serialize)]
pub struct List<T> {
    pub data: Vec<T>,
}
