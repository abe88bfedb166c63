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
use hookline_shared::web::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes this function serves, for the Lambda and for the local dev server.
pub fn routes() -> Router<AppState> {
    router().split_for_parts().0
}

/// The routes with their part of the OpenAPI document: `routes!` registers each handler at the
/// path and method its `#[utoipa::path]` declares and adds that operation to the document, so
/// the two cannot drift (`openapi::document` adds ingest's part).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi::serve))
        .routes(routes!(dashboard::index))
        .routes(routes!(dashboard::script))
        .routes(routes!(dashboard::stylesheet))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get, tenants::update, tenants::delete))
        .routes(routes!(tenants::rotate_key))
        .routes(routes!(tenants::list_keys))
        .routes(routes!(tenants::revoke_key))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::resume))
        .routes(routes!(event_types::create, event_types::list))
        .routes(routes!(event_types::get, event_types::update, event_types::delete))
        .routes(routes!(openapi::serve_tenant))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .routes(routes!(events::attempts))
        .routes(routes!(events::delivery_attempts))
        .routes(routes!(events::expunge_payload))
        .routes(routes!(replay::resend))
        .routes(routes!(endpoints::create, endpoints::list))
        .routes(routes!(endpoints::get, endpoints::update, endpoints::delete))
        .routes(routes!(endpoints::secret))
        .routes(routes!(endpoints::rotate_secret))
        .routes(routes!(endpoints::attempts))
        .routes(routes!(replay::recover))
        .routes(routes!(test_send::send))
        .routes(routes!(replay::redrive))
        .routes(routes!(portal::create))
        .routes(routes!(portal::session))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "meta", security(()),
    responses((status = 200, description = "Up", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}
